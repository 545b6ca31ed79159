"""Write paths of the diary: ingest (single POST and batch sync), correct, retract.

Idempotency lives in the database: rows are inserted with insert-or-ignore on the
client's UUID, then the stored fingerprint of the client's fields tells a duplicate from a
conflict. Two phones retrying the same batch at once cannot create a second row.
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation

from care.models import Patient, User
from diary import catalog, days
from diary.changes import stamp_changes
from diary.inserts import insert_or_ignore
from diary.models import RECORD_MODELS, CheckIn, DiaryRecord, MedicationDose, RecordRevision, RecordStatus
from diary.signals import announce_changes

# SPEC "Access and sessions": recorded more than 24 h before it arrived.
LATE_AFTER = timedelta(hours=24)

Status = Literal["created", "duplicate", "conflict", "invalid"]


def local_date_of(moment: datetime, zone: str):
    return moment.astimezone(ZoneInfo(zone)).date()


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(ZoneInfo("UTC")).isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def fingerprint(kind: str, patient_id: Any, client_values: dict[str, Any]) -> str:
    """A digest of what the client sent, defaults filled in, so a retry matches exactly."""
    body = {"type": kind, "patient": str(patient_id)}
    body.update({name: _canonical(value) for name, value in client_values.items()})
    raw = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


def derive(record: DiaryRecord) -> None:
    """Server-computed values: the interference mean of a check-in, the MME of a dose."""
    if isinstance(record, CheckIn):
        record.interference_mean = days.interference_mean(record.interference)
    elif isinstance(record, MedicationDose):
        # The stored note is in the default language whoever wrote the dose; responses
        # word it again in the reader's language.
        with translation.override(settings.LANGUAGE_CODE):
            mme, note = catalog.mme_for(record.drug, record.route, record.unit, Decimal(record.dose))
        record.mme = None if mme is None else mme.quantize(Decimal("0.01"))
        record.mme_note = str(note)[:200]


def build_record(
    *,
    kind: str,
    patient: Patient,
    reporter: User,
    data: dict[str, Any],
    now: datetime,
    ingest_key: uuid.UUID,
) -> DiaryRecord:
    """An unsaved record from validated data; nothing the client sent decides server fields."""
    model = RECORD_MODELS[kind]
    zone = data.get("timezone") or patient.timezone
    observed = data[model.observed_field]
    values = {name: data[name] for name in model.client_fields if name in data}
    values.update(
        id=data["id"],
        patient_id=patient.pk,
        reported_by_id=reporter.pk,
        reporter_role=reporter.role,
        timezone=zone,
        local_date=local_date_of(observed, zone),
        created_at=now,
        updated_at=now,
        late=now - observed > LATE_AFTER,
        ingest_key=ingest_key,
    )
    # Positional, in column order: a sync builds hundreds, and the model's keyword path
    # costs more than the rest of building one.
    record = model(
        *[values[name] if name in values else field.get_default() for name, field in _columns(model)]
    )
    derive(record)
    filled = {name: getattr(record, name) for name in model.client_fields}
    if "timezone" in data:
        filled["timezone"] = data["timezone"]
    record.fingerprint = fingerprint(kind, patient.pk, filled)
    return record


@functools.cache
def _columns(model: type[DiaryRecord]) -> list[tuple[str, Any]]:
    return [(field.attname, field) for field in model._meta.concrete_fields]


@transaction.atomic(durable=True)
def store_records(*, records: list[tuple[str, DiaryRecord]]) -> list[Status]:
    """Insert-or-ignore every record, then classify each by what the database holds.

    Returns one status per record, in order. One round trip per record type when every
    record is new (diary.inserts: an insert-or-ignore that returns the ids it inserted, one
    statement a row in psycopg's pipeline on PostgreSQL), one more for the types that
    had ids already stored (their fingerprints). Concurrent callers sending the same ids
    never both create: the loser's insert waits for the winner's row and skips it, then
    compares fingerprints.
    """
    statuses: list[Status] = ["invalid"] * len(records)
    changed_patients, red_flagged = set(), set()
    stamp_changes(record for _, record in records)
    for kind, model in RECORD_MODELS.items():
        positions = [i for i, (k, _) in enumerate(records) if k == kind]
        if not positions:
            continue
        first: dict[Any, DiaryRecord] = {}
        for i in positions:
            first.setdefault(records[i][1].id, records[i][1])
        # Sorted by id: concurrent batches holding the same ids in other orders then take
        # their row locks in one order and wait for each other instead of deadlocking.
        created = insert_or_ignore(model, sorted(first.values(), key=lambda r: r.pk))
        stored: dict[Any, str] = {}
        if len(created) < len(first):
            stored = dict(
                model.objects.filter(id__in=[pk for pk in first if pk not in created]).values_list(
                    "id", "fingerprint"
                )
            )
        for i in positions:
            record = records[i][1]
            if record.id in created and first[record.id] is record:
                statuses[i] = "created"
                changed_patients.add(record.patient_id)
                if getattr(record, "red_flags", None):
                    red_flagged.add(record.patient_id)
            elif record.id in created:
                # The same id twice in one batch: the first was stored.
                statuses[i] = (
                    "duplicate" if first[record.id].fingerprint == record.fingerprint else "conflict"
                )
            elif record.id not in stored:
                continue  # the database refused the row: left "invalid"
            elif stored[record.id] == record.fingerprint:
                statuses[i] = "duplicate"
            else:
                statuses[i] = "conflict"
    announce_changes(changed_patients, urgent=red_flagged)
    return statuses


def snapshot(record: DiaryRecord) -> dict[str, Any]:
    values = {name: _canonical(getattr(record, name)) for name in record.client_fields}
    return {
        **values,
        "timezone": record.timezone,
        "status": record.status,
        "reported_by": str(record.reported_by_id),
        "reporter_role": record.reporter_role,
    }


@transaction.atomic(durable=True)
def correct_record(*, record: DiaryRecord, by: User, data: dict[str, Any]) -> DiaryRecord:
    """Apply a correction; the previous state is kept as a revision (who, when). A
    correction that changes nothing (a phone resending its edit) records nothing."""
    model = type(record)
    record = model.objects.select_for_update().get(pk=record.pk)
    changes = {
        name: value
        for name, value in data.items()
        if (name in record.client_fields or name == "timezone") and getattr(record, name) != value
    }
    if not changes:
        return record
    keep_revision(record, RecordRevision.Change.CORRECTED, by=by)
    for name, value in changes.items():
        setattr(record, name, value)
    # The values are now the corrector's report: a caregiver's correction of a patient's
    # score is a proxy rating (the revision keeps who reported the previous one).
    record.reported_by = by
    record.reporter_role = by.role
    record.local_date = local_date_of(record.observed_at, record.timezone)
    record.late = record.created_at - record.observed_at > LATE_AFTER
    derive(record)
    stamp_changes([record])
    record.save()
    announce_changes(
        [record.patient_id], urgent=[record.patient_id] if getattr(record, "red_flags", None) else []
    )
    return record


@transaction.atomic(durable=True)
def retract_record(*, record: DiaryRecord, by: User, reason: str) -> DiaryRecord:
    """Mark a record entered in error; retracting twice changes nothing more."""
    model = type(record)
    record = model.objects.select_for_update().get(pk=record.pk)
    if record.status == RecordStatus.ENTERED_IN_ERROR:
        return record
    keep_revision(record, RecordRevision.Change.RETRACTED, by=by, reason=reason)
    record.status = RecordStatus.ENTERED_IN_ERROR
    record.retracted_reason = reason
    stamp_changes([record])
    record.save(update_fields=["status", "retracted_reason", "version", "updated_at", "change_seq"])
    announce_changes([record.patient_id])
    return record


def keep_revision(record: DiaryRecord, change: str, *, by: User, reason: str = "") -> None:
    """Store the record's current state as a revision and move it to the next version
    (the caller saves the record)."""
    now = timezone.now()
    RecordRevision.objects.create(
        record_type=kind_of(record),
        record_id=record.pk,
        version=record.version,
        change=change,
        previous=snapshot(record),
        changed_by=by,
        changed_at=now,
        reason=reason,
    )
    record.version += 1
    record.updated_at = now


def kind_of(record: DiaryRecord) -> str:
    return next(kind for kind, model in RECORD_MODELS.items() if isinstance(record, model))


# Free-text fields of the diary that may name people or places.
FREE_TEXT = {"checkin": ("note",), "adverse_effect": ("note", "suspected_drug")}


def withdraw_patient(*, patient: Patient, delete: bool) -> None:
    """In the caller's transaction: the diary of a patient who withdrew consent loses its
    free text (the clinical values stay, pseudonymized), or goes entirely."""
    record_ids = [
        pk
        for model in RECORD_MODELS.values()
        for pk in model.objects.for_patient(patient).values_list("id", flat=True)
    ]
    revisions = RecordRevision.objects.filter(record_id__in=record_ids)
    if delete:
        for model in RECORD_MODELS.values():
            model.objects.for_patient(patient).delete()
        revisions.delete()
        return
    for kind, fields in FREE_TEXT.items():
        RECORD_MODELS[kind].objects.for_patient(patient).update(**dict.fromkeys(fields, ""))
    blanked = {name for fields in FREE_TEXT.values() for name in fields}
    for revision in revisions:
        revision.previous = {k: ("" if k in blanked else v) for k, v in revision.previous.items()}
        revision.save(update_fields=["previous"])
