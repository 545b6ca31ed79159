"""Who may read FHIR in bulk (system clients), the exports they ask for, and where a team
wants its referrals pushed."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from care.models import CareTeam


class SystemClient(models.Model):
    """A hospital system authorized by SMART Backend Services: it signs its token requests
    with a key of its JWKS. Reads are audited under its service `user` (role "system",
    no password, seeing no patient through the app's API)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)  # the client_id
    name = models.CharField(max_length=200, unique=True)
    teams = models.ManyToManyField(CareTeam, related_name="system_clients")
    jwks = models.JSONField(default=dict, blank=True, help_text="the client's JWKS, when registered by file")
    jwks_url = models.URLField(blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="system_client"
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class UsedAssertion(models.Model):
    """Each client assertion's `jti` is accepted once (until its `exp`): a replay fails on
    the unique constraint."""

    client = models.ForeignKey(SystemClient, on_delete=models.CASCADE, related_name="+")
    jti = models.CharField(max_length=255)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "jti"], name="one_use_per_assertion")]

    def __str__(self) -> str:
        return f"{self.client_id} {self.jti}"


class BulkExport(models.Model):
    class Status(models.TextChoices):
        ACCEPTED = "accepted", _("Accepted")
        IN_PROGRESS = "in_progress", _("In progress")
        COMPLETED = "completed", _("Completed")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey(CareTeam, on_delete=models.CASCADE, related_name="+")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    request_url = models.CharField(max_length=2000)
    types = models.JSONField(default=list)
    since = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACCEPTED)
    transaction_time = models.DateTimeField()
    progress = models.CharField(max_length=100, blank=True)
    # [{"type", "name", "count"}] for the output files; errors as OperationOutcome files.
    output = models.JSONField(default=list)
    errors = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # Consumed by the purge of expired files (interop.bulk.purge_expired_exports).
            models.Index(fields=["expires_at"], condition=Q(status="completed"), name="bulk_export_expiry")
        ]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.status})"


class FhirEndpoint(models.Model):
    """Where a team's referral recommendations are pushed (Subscriptions R4 Backport
    rest-hook), with the secret that signs each notification."""

    team = models.OneToOneField(CareTeam, on_delete=models.CASCADE, related_name="fhir_endpoint")
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=200)
    enabled = models.BooleanField(default=True)
    # Subscriptions Backport `events-since-subscription-start`: the receiver sees a gap.
    events_sent = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"FHIR endpoint of {self.team}"
