"""Who is who: users, care teams, patients, caregiver links, invites and devices."""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
import uuid
import zoneinfo
from datetime import date, datetime
from importlib import resources

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def validate_timezone(value: str) -> None:
    if value not in available_timezones():
        raise ValidationError(_("“%(value)s” is not an IANA time zone name."), params={"value": value})


def available_timezones() -> frozenset[str]:
    return _TIMEZONES


# The IANA names shipped with tzdata, not whatever the host's zoneinfo folder holds:
# that one also offers "localtime" (the server's own clock, different on every host).
_TIMEZONES = frozenset(resources.files("tzdata").joinpath("zones").read_text().split())


class Role(models.TextChoices):
    PATIENT = "patient", _("Patient")
    CAREGIVER = "caregiver", _("Caregiver")
    CLINICIAN = "clinician", _("Clinician")
    ADMIN = "admin", _("Administrator")


class TeamRole(models.TextChoices):
    NURSE = "nurse", _("Nurse")
    PAIN_PHYSICIAN = "pain_physician", _("Pain physician")
    ONCOLOGIST = "oncologist", _("Oncologist")
    PALLIATIVE = "palliative", _("Palliative care")
    TEAM_ADMIN = "team_admin", _("Team administrator")


class Language(models.TextChoices):
    EN = "en", _("English")
    IT = "it", _("Italian")


class User(AbstractUser):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    role = models.CharField(max_length=16, choices=Role.choices)
    language = models.CharField(max_length=8, choices=Language.choices, default=Language.EN)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    reminder_time = models.TimeField(null=True, blank=True)
    quiet_hours_start = models.TimeField(null=True, blank=True)
    quiet_hours_end = models.TimeField(null=True, blank=True)
    # Consecutive failed logins and the lockout they caused (SPEC "Access and sessions").
    failed_logins = models.PositiveSmallIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    def __str__(self) -> str:
        return self.username

    @property
    def is_clinician(self) -> bool:
        return self.role == Role.CLINICIAN

    def is_locked(self) -> bool:
        return self.locked_until is not None and self.locked_until > timezone.now()

    def is_team_admin_of(self, team_id: uuid.UUID) -> bool:
        return self.memberships.filter(team_id=team_id, team_role=TeamRole.TEAM_ADMIN).exists()


class CareTeam(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class TeamMembership(models.Model):
    team = models.ForeignKey(CareTeam, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    team_role = models.CharField(max_length=20, choices=TeamRole.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="one_membership_per_team")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} as {self.team_role}"


class PatientQuerySet(models.QuerySet):
    def visible_to(self, user, *, team_ids: list | None = None) -> PatientQuerySet:
        """The one place that decides which patients a user may see, read on every request.

        Patients see themselves, caregivers their patients through links not revoked,
        clinicians the patients of their teams. Everyone else sees nobody. `team_ids`: the
        clinician's team ids, when the caller has just read them (in_triage_order): the
        literal list lets PostgreSQL plan the triage page along its index, where the
        memberships subquery made it read and sort the whole team.
        """
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.role == Role.PATIENT:
            return self.filter(user=user)
        # Subqueries rather than joins: no duplicate rows, so no DISTINCT to sort around.
        if user.role == Role.CAREGIVER:
            links = CaregiverLink.objects.filter(caregiver=user, revoked_at__isnull=True)
            return self.filter(pk__in=links.values("patient_id"))
        if user.role == Role.CLINICIAN:
            if team_ids is not None:
                return self.filter(care_team_id__in=team_ids)
            return self.filter(care_team__in=TeamMembership.objects.filter(user=user).values("team_id"))
        if user.role == Role.ADMIN and user.is_superuser:
            return self.all()
        return self.none()

    def in_triage_order(self, user) -> PatientQuerySet:
        """A clinician's patients in API.md triage order, as `triage` (the status row's key),
        for the API's list and the clinic page alike.

        The team filter is on the status row and the team ids are resolved first, so that
        for a clinician of one team PostgreSQL reads a page as one range of the
        (care_team, triage_key) index, whatever the team's size (docs/performance.md,
        "Problems found" 1; tests/test_triage_plan.py checks the plan). visible_to stays
        the permission boundary. A patient without a status row is not listed: every
        write path that creates a patient creates its row.
        """
        teams = list(TeamMembership.objects.filter(user=user).values_list("team_id", flat=True))
        return (
            self.visible_to(user, team_ids=teams)
            .filter(status__care_team_id__in=teams)
            .select_related("status")
            .annotate(triage=models.F("status__triage_key"))
        )


class Patient(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="patient",
    )
    care_team = models.ForeignKey(CareTeam, on_delete=models.PROTECT, related_name="patients")
    display_name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, validators=[validate_timezone])
    language = models.CharField(max_length=8, choices=Language.choices, default=Language.EN)
    enrolled_on = models.DateField()
    activated_at = models.DateTimeField(null=True, blank=True)
    # Consent withdrawn: nothing more is collected; identifying data was erased.
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    diagnosis = models.CharField(max_length=200, blank=True)
    baseline_mme = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    # Box 2 context flags (#5 … #8).
    limited_prognosis = models.BooleanField(default=False)
    cancer_survivor = models.BooleanField(default=False)
    substance_use_history = models.BooleanField(default=False)
    organ_failure = models.BooleanField(default=False)
    # Intrathecal drug delivery system (IDDS) or port, with its PTA limits.
    idds = models.BooleanField(default=False)
    idds_lockout_minutes = models.PositiveIntegerField(null=True, blank=True)
    idds_max_daily_boluses = models.PositiveIntegerField(null=True, blank=True)
    idds_reservoir_ml = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    idds_next_refill_date = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PatientQuerySet.as_manager()

    class Meta:
        ordering = ["display_name", "id"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @property
    def activated_on(self) -> date | None:
        """The local day the patient activated the app (missed days count from it)."""
        return self.activated_at.astimezone(self.zone).date() if self.activated_at else None

    def local_today(self) -> date:
        return timezone.now().astimezone(self.zone).date()


class CaregiverLinkQuerySet(models.QuerySet):
    def active(self) -> CaregiverLinkQuerySet:
        return self.filter(revoked_at__isnull=True)


class CaregiverLink(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="caregiver_links")
    caregiver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="caregiver_links"
    )
    relationship = models.CharField(max_length=100, blank=True)
    can_view = models.BooleanField(default=True)
    can_report = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = CaregiverLinkQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "caregiver"],
                condition=Q(revoked_at__isnull=True),
                name="one_active_link_per_caregiver",
            )
        ]

    def __str__(self) -> str:
        return f"{self.caregiver} → {self.patient}"

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])


def hash_invite_code(code: str) -> str:
    # Codes carry 80+ bits of randomness, so a plain SHA-256 is not guessable offline.
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


def new_invite_code() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I for codes read aloud
    raw = "".join(secrets.choice(alphabet) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


class Invite(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="invites")
    role = models.CharField(
        max_length=16, choices=[(Role.PATIENT, Role.PATIENT.label), (Role.CAREGIVER, Role.CAREGIVER.label)]
    )
    code_hash = models.CharField(max_length=64, unique=True)
    relationship = models.CharField(max_length=100, blank=True)
    can_view = models.BooleanField(default=True)
    can_report = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Enrollments refused because the username was taken: each tells the holder of the
    # code that an account exists, so a code allows only a few (services.enroll).
    taken_usernames = models.PositiveSmallIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.role} invite for {self.patient}"


class Device(models.Model):
    class Platform(models.TextChoices):
        FCM = "fcm", "FCM"
        APNS = "apns", "APNs"
        WEBPUSH = "webpush", "Web Push"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="devices")
    platform = models.CharField(max_length=10, choices=Platform.choices)
    token = models.CharField(max_length=512, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.platform} device of {self.user}"


class AccessEvent(models.Model):
    """One row per read of patient data by someone other than the patient (audit trail)."""

    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    actor_role = models.CharField(max_length=16)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=300)
    status_code = models.PositiveSmallIntegerField()
    patient_ids = models.JSONField(default=list)
    client_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.actor_id} {self.method} {self.path}"


class PatientStatus(models.Model):
    """One row per patient with what the triage list sorts on, kept current by the alerts
    app after every evaluation and alert change, so that a page of 50 patients is one
    query however many records and alerts there are."""

    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, primary_key=True, related_name="status")
    # The patient's team, copied here so that a team's triage page is one range of the
    # (care_team, triage_key) index: 50 rows read in order instead of the whole team sorted.
    # Kept equal to patient.care_team by every write path of either (care.services,
    # alerts.status.refresh_patient_status).
    care_team = models.ForeignKey(CareTeam, on_delete=models.CASCADE, related_name="+")
    # Highest severity among alerts not yet resolved: 3 urgent, 2 warning, 1 info, 0 none.
    severity_rank = models.PositiveSmallIntegerField(default=0)
    open_urgent = models.PositiveIntegerField(default=0)
    open_warning = models.PositiveIntegerField(default=0)
    open_info = models.PositiveIntegerField(default=0)
    oldest_unresolved_at = models.DateTimeField(null=True, blank=True)
    referral_status = models.CharField(max_length=10, blank=True)
    # 2 suggested, 1 accepted, 0 none (API.md triage order).
    referral_rank = models.PositiveSmallIntegerField(default=0)
    box2_criteria_met = models.JSONField(default=list)
    last_checkin_at = models.DateTimeField(null=True, blank=True)
    pain_today = models.PositiveSmallIntegerField(null=True, blank=True)
    pain_today_date = models.DateField(null=True, blank=True)
    # Least-squares slope of day pain over the last 7 local days, points per day.
    pain_7d_trend = models.FloatField(null=True, blank=True)
    # The whole triage order in one unique string (see triage_key), indexed after the team:
    # a page is an index range scan, and the cursor never needs an offset through ties.
    triage_key = models.CharField(max_length=300, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "patient statuses"
        indexes = [models.Index(fields=["care_team", "triage_key"], name="patientstatus_team_triage_key")]

    def __str__(self) -> str:
        return f"status of {self.patient_id}"

    # What the triage key is made of, besides the patient's name and id.
    KEY_FIELDS = ("severity_rank", "referral_rank", "oldest_unresolved_at")

    def refresh_triage_key(self, patient: Patient) -> None:
        self.triage_key = triage_key(
            self.severity_rank,
            self.referral_rank,
            self.oldest_unresolved_at,
            patient.display_name,
            patient.pk,
        )


# Sorts after any real alert time: a patient with nothing unresolved.
NO_UNRESOLVED_ALERT = 10**12 - 1
SORT_NAME_BYTES = 100


def sort_name(name: str) -> str:
    """The name as fixed-width hex of its accent-free lower case: hex digits sort the same
    under every database collation, and the zero padding puts "ab" before "ab c"."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", name.lower()) if not unicodedata.combining(c))
    return plain.encode()[:SORT_NAME_BYTES].hex().ljust(2 * SORT_NAME_BYTES, "0")


def triage_key(severity_rank: int, referral_rank: int, oldest: datetime | None, name: str, pk) -> str:
    """API.md triage order as one string: highest severity first (3 - rank), then referral
    (suggested, accepted, none), then the oldest unresolved alert, then name, then id."""
    since = int(oldest.timestamp()) if oldest else NO_UNRESOLVED_ALERT
    return f"{3 - severity_rank}{2 - referral_rank}{since:012d}{sort_name(name)}{uuid.UUID(str(pk)).hex}"
