"""Alerts, referral recommendations, escalation policies and the notification outbox.

Decisions are rows: an alert and its events are the audit trail of who knew what, when.
"""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import datetime

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from care.models import CareTeam, Patient, TeamRole, validate_timezone


class Severity(models.TextChoices):
    INFO = "info", _("Info")
    WARNING = "warning", _("Warning")
    URGENT = "urgent", _("Urgent")


class AlertRuleConfig(models.Model):
    """A care team's default for a rule, or one patient's override."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # A code of alerts.rules.RULES, validated in code: adding a rule needs no migration.
    rule = models.CharField(max_length=40)
    care_team = models.ForeignKey(CareTeam, on_delete=models.CASCADE, related_name="rule_configs")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    enabled = models.BooleanField(default=True)
    params = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["rule", "created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "care_team"],
                condition=Q(patient__isnull=True),
                name="one_team_default_per_rule",
            ),
            models.UniqueConstraint(
                fields=["rule", "patient"],
                condition=Q(patient__isnull=False),
                name="one_override_per_patient_rule",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule} for {self.patient or self.care_team}"


class AlertQuerySet(models.QuerySet):
    def unresolved(self) -> AlertQuerySet:
        return self.filter(status__in=Alert.UNRESOLVED)

    def escalation_due(self, now: datetime) -> AlertQuerySet:
        return self.filter(status=Alert.Status.OPEN, escalation_due_at__lte=now)

    def awaiting_digest(self) -> AlertQuerySet:
        return self.filter(status=Alert.Status.OPEN, severity="info", digested_at__isnull=True)

    def mark_digested(self, at: datetime) -> int:
        return self.update(digested_at=at)


class Alert(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        ACKNOWLEDGED = "acknowledged", _("Acknowledged")
        RESOLVED = "resolved", _("Resolved")

    UNRESOLVED = (Status.OPEN, Status.ACKNOWLEDGED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="alerts")
    rule = models.CharField(max_length=40)  # a code of alerts.rules.RULES
    severity = models.CharField(max_length=10, choices=Severity.choices)
    status = models.CharField(max_length=14, choices=Status.choices, default=Status.OPEN)
    box2_criteria = models.JSONField(default=list)
    evidence = models.JSONField(default=dict)
    # The diary records behind the evidence: after resolution only new ones re-raise.
    record_ids = models.JSONField(default=list)
    late = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_triggered_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(blank=True)
    escalation_tier = models.PositiveSmallIntegerField(default=0)
    escalation_due_at = models.DateTimeField(null=True, blank=True)
    digested_at = models.DateTimeField(null=True, blank=True)

    objects = AlertQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "rule"],
                condition=Q(status__in=["open", "acknowledged"]),
                name="one_unresolved_alert_per_patient_rule",
            )
        ]
        indexes = [
            # Consumed by the escalation sweep (alerts.actions.escalation.escalate_due_alerts).
            models.Index(
                fields=["escalation_due_at"],
                condition=Q(status="open", escalation_due_at__isnull=False),
                name="alert_escalation_due",
            ),
            models.Index(fields=["patient", "status"], name="alert_patient_status"),
        ]

    def __str__(self) -> str:
        return f"{self.rule} ({self.severity}) for {self.patient_id}"

    def acknowledge(self, *, at: datetime) -> None:
        if self.status != self.Status.OPEN:
            raise ValueError("only an open alert can be acknowledged")
        self.status = self.Status.ACKNOWLEDGED
        self.acknowledged_at = at
        self.escalation_due_at = None

    def is_escalation_due(self, now: datetime) -> bool:
        return (
            self.status == self.Status.OPEN and bool(self.escalation_due_at) and self.escalation_due_at <= now
        )

    def resolve(self, *, at: datetime, resolution: str) -> None:
        if self.status == self.Status.RESOLVED:
            raise ValueError("already resolved")
        self.status = self.Status.RESOLVED
        self.resolved_at = at
        self.resolution = resolution
        self.escalation_due_at = None


class AlertEvent(models.Model):
    class Kind(models.TextChoices):
        CREATED = "created", _("Created")
        UPDATED = "updated", _("New evidence")
        SEVERITY_RAISED = "severity_raised", _("Severity raised")
        NOTIFIED = "notified", _("Notified")
        ESCALATED = "escalated", _("Escalated")
        ACKNOWLEDGED = "acknowledged", _("Acknowledged")
        RESOLVED = "resolved", _("Resolved")

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} at {self.at}"


class ReferralRecommendation(models.Model):
    class Status(models.TextChoices):
        SUGGESTED = "suggested", _("Suggested")
        ACCEPTED = "accepted", _("Accepted")
        DECLINED = "declined", _("Declined")
        COMPLETED = "completed", _("Completed")

    class Priority(models.TextChoices):
        ROUTINE = "routine", _("Routine")
        HIGH = "high", _("High")
        URGENT = "urgent", _("Urgent")

    OPEN = (Status.SUGGESTED, Status.ACCEPTED)
    # SPEC: suggested -> accepted | declined; accepted -> completed; nothing else.
    TRANSITIONS = {
        Status.SUGGESTED: (Status.ACCEPTED, Status.DECLINED),
        Status.ACCEPTED: (Status.COMPLETED,),
    }

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="referrals")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SUGGESTED)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.ROUTINE)
    criteria = models.JSONField(default=list)
    decline_reason = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(status__in=["suggested", "accepted"]),
                name="one_open_referral_per_patient",
            )
        ]

    def __str__(self) -> str:
        return f"referral {self.status} for {self.patient_id}"

    def can_move_to(self, status: str) -> bool:
        return status in self.TRANSITIONS.get(self.status, ())

    def withdraw(self, *, reason: str, at: datetime) -> None:
        """The patient withdrew consent: an open referral ends declined, accepted or not
        (the one transition outside TRANSITIONS, taken by no clinician)."""
        if self.status not in self.OPEN:
            raise ValueError("only an open referral ends with a withdrawal")
        self.status = self.Status.DECLINED
        self.decline_reason = reason
        self.updated_at = at

    @classmethod
    def criteria_met_by(cls, patient: Patient) -> list[int]:
        """The Box 2 criteria of the patient's open referral recommendation."""
        referral = cls.objects.filter(patient=patient, status__in=cls.OPEN).only("criteria").first()
        return referral.criteria_numbers if referral else []

    @property
    def criteria_numbers(self) -> list[int]:
        return sorted({c["number"] for c in self.criteria})


def default_tiers() -> list[dict]:
    return [
        {
            "recipients": {"team_roles": [TeamRole.NURSE], "clinicians": []},
            "timeout_minutes": {"urgent": 15, "warning": 240},
        },
        {
            "recipients": {"team_roles": [TeamRole.PAIN_PHYSICIAN], "clinicians": []},
            "timeout_minutes": {"urgent": 15, "warning": 240},
        },
        {
            "recipients": {"team_roles": [TeamRole.TEAM_ADMIN, TeamRole.PALLIATIVE], "clinicians": []},
            "timeout_minutes": {"urgent": 15, "warning": 240},
        },
    ]


DIGEST_DEFAULT_HOUR = 8


class EscalationPolicy(models.Model):
    """Ordered tiers of recipients with acknowledgement timeouts per severity."""

    team = models.OneToOneField(CareTeam, on_delete=models.CASCADE, related_name="escalation_policy")
    tiers = models.JSONField(default=default_tiers)
    webhook_url = models.URLField(blank=True)
    webhook_secret = models.CharField(max_length=200, blank=True)
    # The daily digest of info alerts goes out at this hour of the team's own clock.
    digest_hour = models.PositiveSmallIntegerField(
        default=DIGEST_DEFAULT_HOUR, validators=[MinValueValidator(0), MaxValueValidator(23)]
    )
    digest_timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"escalation policy of {self.team}"

    @classmethod
    def of_team(cls, team_id) -> EscalationPolicy:
        """The team's policy, or the SPEC default (unsaved) for a team that set none."""
        return cls.objects.filter(team_id=team_id).first() or cls(team_id=team_id)

    def is_digest_hour(self, now: datetime) -> bool:
        """The beat runs the digest hourly; a team gets it in the hour its clock shows."""
        return now.astimezone(zoneinfo.ZoneInfo(self.digest_timezone)).hour == self.digest_hour


class Notification(models.Model):
    """The outbox: written in the alert's transaction, delivered at least once by a worker."""

    class Kind(models.TextChoices):
        ALERT = "alert", _("New alert")
        SEVERITY_RAISED = "severity_raised", _("Alert severity raised")
        ESCALATION = "escalation", _("Escalated alert")
        DIGEST = "digest", _("Daily digest")
        REMINDER = "reminder", _("Diary reminder")
        REFERRAL = "referral", _("Referral recommendation")

    class Channel(models.TextChoices):
        EMAIL = "email", _("Email")
        PUSH = "push", _("Push")
        WEBHOOK = "webhook", _("Webhook")
        FHIR = "fhir", _("FHIR rest-hook")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        DEAD = "dead", _("Dead-lettered")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Sent with every delivery; a provider or webhook receiver drops repeats by it.
    key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    alert = models.ForeignKey(
        Alert, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications"
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    team = models.ForeignKey(CareTeam, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            # Consumed by the outbox sweep: alerts.outbox.due_notifications (beat runs it
            # through alerts.tasks.sweep_outbox).
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["pending", "sending"]),
                name="notification_outbox",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} via {self.channel} ({self.status})"


class EvaluationRequest(models.Model):
    """A patient whose diary changed and who still awaits evaluation.

    Written in the diary's own transaction, before the task is sent, so that a broker
    outage or a process killed after the commit loses no evaluation: the sweeper evaluates
    whatever is left here.
    """

    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, primary_key=True, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    # New at every request: an evaluation clears the row only if it is still the request it
    # was sent for, so a change committed while it ran keeps its own.
    token = models.UUIDField(default=uuid.uuid4)

    def __str__(self) -> str:
        return f"evaluate {self.patient_id}"


class ClockRun(models.Model):
    """A periodic job's run for one period, claimed once. Beat ticks more often than the
    period, so a tick lost to a broker outage is caught up by the next one; a second beat
    (a common deployment mistake) or a retried tick finds the period taken."""

    job = models.CharField(max_length=40)
    period = models.DateTimeField()
    claimed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "period"], name="one_run_per_job_period")]

    def __str__(self) -> str:
        return f"{self.job} for {self.period}"


class ClockChunk(models.Model):
    """One task's share of a ClockRun: its patients, and whether it was sent and done. A
    chunk the broker lost (a Redis restart drops its queue) or that failed (a PostgreSQL
    restart) is sent again by the next tick; chunks are idempotent."""

    run = models.ForeignKey(ClockRun, on_delete=models.CASCADE, related_name="chunks")
    patient_ids = models.JSONField()
    sent_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # Consumed by the tick's re-send (alerts.schedule.evaluate_time_rules).
            models.Index(fields=["run"], condition=Q(done_at__isnull=True), name="clock_chunk_not_done")
        ]

    def __str__(self) -> str:
        return f"chunk of {self.run} ({len(self.patient_ids)} patients)"
