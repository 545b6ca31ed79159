"""The diary: four record types the phone apps send, each correctable and retractable.

Every record has a client-generated UUID (phones create records offline and retry), the
moment it was observed with its UTC offset, the patient's local calendar day at that
moment (`local_date`, DST-correct, from the zone stored with the record) and who reported
it in what role. A fingerprint of the client's fields makes retries idempotent: same id and
same fingerprint is a duplicate, same id and another fingerprint a conflict.
"""

from __future__ import annotations

import uuid
from datetime import date

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from care.models import Patient
from diary import days


class ReporterRole(models.TextChoices):
    PATIENT = "patient", _("Patient")
    CAREGIVER = "caregiver", _("Caregiver")
    CLINICIAN = "clinician", _("Clinician")


class RecordStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    ENTERED_IN_ERROR = "entered_in_error", _("Entered in error")


class DiaryQuerySet(models.QuerySet):
    def for_patient(self, patient: Patient | uuid.UUID) -> DiaryQuerySet:
        return self.filter(patient=patient)

    def active(self) -> DiaryQuerySet:
        return self.filter(status=RecordStatus.ACTIVE)

    def between(self, first: date, last: date) -> DiaryQuerySet:
        """Records whose patient-local day is within [first, last]."""
        return self.filter(local_date__gte=first, local_date__lte=last)


class DiaryRecord(models.Model):
    # Name of the field holding the moment observed on the phone (recorded_at, ...).
    observed_field = "recorded_at"
    # The fields a client sends; they make the fingerprint and may be corrected.
    client_fields: tuple[str, ...] = ()

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    reported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reporter_role = models.CharField(max_length=16, choices=ReporterRole.choices)
    timezone = models.CharField(max_length=64)
    local_date = models.DateField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    late = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=RecordStatus.choices, default=RecordStatus.ACTIVE)
    retracted_reason = models.CharField(max_length=500, blank=True)
    version = models.PositiveIntegerField(default=1)
    fingerprint = models.CharField(max_length=64)
    # The request that inserted the row: tells "created by me" from "inserted by a
    # concurrent retry" after an insert-or-ignore.
    ingest_key = models.UUIDField(null=True, editable=False)
    # Position in the patient's change feed (GET sync/changes/), taken from ChangeCounter
    # on every write: see diary/changes.py for why it never lets a reader skip a record.
    change_seq = models.BigIntegerField(default=0, editable=False)

    objects = DiaryQuerySet.as_manager()

    class Meta:
        abstract = True

    @property
    def observed_at(self):
        return getattr(self, self.observed_field)


class CheckIn(DiaryRecord):
    client_fields = (
        "recorded_at",
        "pain_now",
        "pain_worst",
        "pain_least",
        "pain_average",
        "interference",
        "neuropathic",
        "pain_sites",
        "breakthrough_episodes",
        "symptoms",
        "red_flags",
        "wants_fewer_medications",
        "wants_procedure_discussion",
        "note",
    )

    recorded_at = models.DateTimeField()
    pain_now = models.PositiveSmallIntegerField()
    pain_worst = models.PositiveSmallIntegerField(null=True, blank=True)
    pain_least = models.PositiveSmallIntegerField(null=True, blank=True)
    pain_average = models.PositiveSmallIntegerField(null=True, blank=True)
    interference = models.JSONField(default=dict, blank=True)
    # Mean of the answered BPI interference items when at least 4 of 7 are answered.
    interference_mean = models.FloatField(null=True, blank=True)
    neuropathic = models.JSONField(default=list, blank=True)
    pain_sites = models.JSONField(default=list, blank=True)
    breakthrough_episodes = models.PositiveIntegerField(null=True, blank=True)
    symptoms = models.JSONField(default=dict, blank=True)
    red_flags = models.JSONField(default=list, blank=True)
    wants_fewer_medications = models.BooleanField(default=False)
    wants_procedure_discussion = models.BooleanField(default=False)
    note = models.TextField(blank=True)

    class Meta:
        indexes = [
            # Rules and summaries read a bounded window of local days per patient.
            models.Index(fields=["patient", "local_date"], name="checkin_patient_day"),
            # Diary lists page newest first per patient.
            models.Index(fields=["patient", "-created_at", "id"], name="checkin_patient_created"),
            # GET sync/changes/ walks a patient's records by change_seq.
            models.Index(fields=["patient", "change_seq"], name="checkin_patient_change"),
        ]

    def __str__(self) -> str:
        return f"check-in {self.id}"

    @property
    def day_pain(self) -> int:
        return days.checkin_pain(self.pain_now, self.pain_worst)


class AdverseEffect(DiaryRecord):
    client_fields = ("recorded_at", "effect", "grade", "suspected_drug", "limits_daily_activities", "note")

    recorded_at = models.DateTimeField()
    effect = models.CharField(max_length=40)
    grade = models.PositiveSmallIntegerField()
    suspected_drug = models.CharField(max_length=100, blank=True)
    limits_daily_activities = models.BooleanField(default=False)
    note = models.TextField(blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["patient", "local_date"], name="adverse_patient_day"),
            models.Index(fields=["patient", "-created_at", "id"], name="adverse_patient_created"),
            # GET sync/changes/ walks a patient's records by change_seq.
            models.Index(fields=["patient", "change_seq"], name="adverse_patient_change"),
        ]

    def __str__(self) -> str:
        return f"adverse effect {self.id}"


class PtaBolus(DiaryRecord):
    class Outcome(models.TextChoices):
        DELIVERED = "delivered", _("Delivered")
        DENIED_LOCKOUT = "denied_lockout", _("Denied: lockout interval")
        DENIED_DAILY_MAX = "denied_daily_max", _("Denied: daily maximum reached")

    class Source(models.TextChoices):
        PATIENT = "patient", _("Patient")
        PUMP_LOG = "pump_log", _("Pump log")

    observed_field = "occurred_at"
    client_fields = ("occurred_at", "outcome", "dose", "unit", "pain_before", "pain_after", "source")

    occurred_at = models.DateTimeField()
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    dose = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    unit = models.CharField(max_length=10, blank=True)
    pain_before = models.PositiveSmallIntegerField(null=True, blank=True)
    pain_after = models.PositiveSmallIntegerField(null=True, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.PATIENT)

    class Meta:
        verbose_name_plural = "PTA boluses"
        indexes = [
            models.Index(fields=["patient", "local_date"], name="bolus_patient_day"),
            models.Index(fields=["patient", "-created_at", "id"], name="bolus_patient_created"),
            # GET sync/changes/ walks a patient's records by change_seq.
            models.Index(fields=["patient", "change_seq"], name="bolus_patient_change"),
        ]

    def __str__(self) -> str:
        return f"bolus {self.id}"


class MedicationDose(DiaryRecord):
    class Kind(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        RESCUE = "rescue", _("Rescue")

    observed_field = "taken_at"
    client_fields = ("taken_at", "drug", "dose", "unit", "route", "kind")

    taken_at = models.DateTimeField()
    drug = models.CharField(max_length=40)
    dose = models.DecimalField(max_digits=10, decimal_places=4)
    unit = models.CharField(max_length=10)
    route = models.CharField(max_length=20)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.SCHEDULED)
    # Oral morphine milligram equivalents, computed by the server (null when unsafe).
    mme = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    mme_note = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["patient", "local_date"], name="medication_patient_day"),
            models.Index(fields=["patient", "-created_at", "id"], name="medication_patient_created"),
            # GET sync/changes/ walks a patient's records by change_seq.
            models.Index(fields=["patient", "change_seq"], name="medication_patient_change"),
        ]

    def __str__(self) -> str:
        return f"medication {self.id}"


RECORD_MODELS: dict[str, type[DiaryRecord]] = {
    "checkin": CheckIn,
    "adverse_effect": AdverseEffect,
    "bolus": PtaBolus,
    "medication": MedicationDose,
}


class ChangeCounter(models.Model):
    """The last change_seq handed out for a patient's diary.

    Writers bump it with an upsert in their own transaction, which holds the row lock
    until commit: writers of one patient are serialized, so numbers commit in order.
    """

    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, primary_key=True, related_name="+")
    seq = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"changes of {self.patient_id}: {self.seq}"


class RecordRevision(models.Model):
    """The previous state of a record each time it is corrected or retracted."""

    class Change(models.TextChoices):
        CORRECTED = "corrected", _("Corrected")
        RETRACTED = "retracted", _("Retracted")

    record_type = models.CharField(max_length=20, choices=[(k, k) for k in RECORD_MODELS])
    record_id = models.UUIDField()
    version = models.PositiveIntegerField(help_text="the version this row preserves")
    change = models.CharField(max_length=10, choices=Change.choices)
    previous = models.JSONField()
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField()
    reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["record_type", "record_id", "version"]
        constraints = [
            models.UniqueConstraint(
                fields=["record_type", "record_id", "version"], name="one_revision_per_version"
            )
        ]

    def __str__(self) -> str:
        return f"{self.record_type} {self.record_id} v{self.version}"
