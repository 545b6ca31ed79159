"""FHIR Bulk Data export (v3.0.0) of a care team: kick-off, the NDJSON files written by a
worker, cancellation and expiry.

The worker streams: patients are read in chunks with iterator(), each patient's resources
are generated one by one and written as lines to one temporary file per resource type,
and each file goes to Django storage in chunks. Memory stays flat however large the team.
"""

from __future__ import annotations

import json
import logging
import tempfile
from datetime import datetime, timedelta
from typing import IO

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from alerts import dispatch
from care.models import AccessEvent, CareTeam, Patient, User
from interop.mapping.everything import RESOURCE_TYPES, patient_resources
from interop.models import BulkExport
from interop.validation import InvalidResource, validate

logger = logging.getLogger(__name__)
Status = BulkExport.Status
# Progress and cancellation are looked at every this many patients.
PATIENTS_PER_STEP = 50
# One audit row per this many patients read: the list of ids never grows with the team.
PATIENTS_PER_AUDIT_ROW = 500


class ExportCancelled(Exception):
    pass


# Published by name (alerts.dispatch): the task module imports this one.
RUN_BULK_EXPORT = "interop.tasks.run_bulk_export"


@transaction.atomic(durable=True)
def start_export(
    *, team: CareTeam, by: User, types: list[str], since: datetime | None, request_url: str
) -> BulkExport:
    export = BulkExport.objects.create(
        team=team,
        requested_by=by,
        types=types,
        since=since,
        request_url=request_url[:2000],
        transaction_time=timezone.now(),
    )
    transaction.on_commit(lambda: dispatch.enqueue(RUN_BULK_EXPORT, str(export.pk)))
    return export


def claim(export_id) -> BulkExport | None:
    """Accepted, or in progress but abandoned by a dead worker (no heartbeat lately)."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.BULK_EXPORT_HEARTBEAT_TIMEOUT_SECONDS)
    claimed = (
        BulkExport.objects.filter(pk=export_id)
        .filter(Q(status=Status.ACCEPTED) | Q(status=Status.IN_PROGRESS, heartbeat_at__lt=stale))
        .update(status=Status.IN_PROGRESS, heartbeat_at=now, progress="0%")
    )
    return (
        BulkExport.objects.select_related("team", "requested_by").get(pk=export_id) if claimed == 1 else None
    )


def file_name(export: BulkExport, resource_type: str) -> str:
    return f"bulk/{export.pk}/{resource_type}.ndjson"


def run_export(export_id) -> str:
    export = claim(export_id)
    if export is None:
        return "skipped"
    files: dict[str, tuple[IO[bytes], list[int]]] = {}
    patient_ids: list[str] = []

    def write(resource: dict) -> None:
        kind = resource["resourceType"]
        if kind not in files:
            # Closed in `finally`: one file per resource type stays open all along.
            files[kind] = (tempfile.TemporaryFile(), [0])  # noqa: SIM115
        handle, count = files[kind]
        handle.write(json.dumps(resource, separators=(",", ":")).encode() + b"\n")
        count[0] += 1

    try:
        patients = Patient.objects.filter(care_team=export.team).select_related("care_team").order_by("pk")
        total = patients.count()
        for done, patient in enumerate(patients.iterator(chunk_size=PATIENTS_PER_STEP), start=1):
            patient_ids.append(str(patient.pk))
            if len(patient_ids) == PATIENTS_PER_AUDIT_ROW:
                audit(export, patient_ids)
                patient_ids = []
            try:
                for resource in patient_resources(patient, types=export.types or None, since=export.since):
                    write(resource)
            except InvalidResource as exc:
                # Bulk Data: what could not be exported is told in the error file, and
                # the other patients still go out.
                logger.error("bulk export %s: a resource of a patient failed validation", export.pk)
                write(error_outcome(patient, exc))
            if done % PATIENTS_PER_STEP == 0 or done == total:
                step(export, done, total)
        output = []
        for kind in sorted(files):
            handle, count = files[kind]
            handle.seek(0)
            name = default_storage.save(file_name(export, kind), File(handle))
            output.append(
                {"type": kind, "name": name, "count": count[0], "error": kind == "OperationOutcome"}
            )
    except ExportCancelled:
        return "cancelled"
    except Exception:
        # A fault of ours: the client is told (manifest-less 500 with an OperationOutcome),
        # the logs get the traceback, never the data.
        BulkExport.objects.filter(pk=export.pk, status=Status.IN_PROGRESS).update(
            status=Status.FAILED, finished_at=timezone.now(), errors=["the export failed on the server"]
        )
        logger.exception("bulk export %s failed", export.pk)
        raise
    finally:
        for handle, _ in files.values():
            handle.close()
    audit(export, patient_ids)
    finish(export=export, output=output)
    return "completed"


def step(export: BulkExport, done: int, total: int) -> None:
    updated = BulkExport.objects.filter(pk=export.pk, status=Status.IN_PROGRESS).update(
        progress=f"{done * 100 // max(total, 1)}%", heartbeat_at=timezone.now()
    )
    if updated != 1:
        raise ExportCancelled


def audit(export: BulkExport, patient_ids: list[str]) -> None:
    """The read happened here, for whoever asked (read into the export's files)."""
    if patient_ids:
        AccessEvent.objects.create(
            actor=export.requested_by,
            actor_role=export.requested_by.role,
            method="GET",
            path=export.request_url[:300],
            status_code=200,
            patient_ids=patient_ids,
        )


@transaction.atomic(durable=True)
def finish(*, export: BulkExport, output: list[dict]) -> None:
    now = timezone.now()
    updated = BulkExport.objects.filter(pk=export.pk, status=Status.IN_PROGRESS).update(
        status=Status.COMPLETED,
        output=output,
        progress="100%",
        finished_at=now,
        expires_at=now + timedelta(hours=settings.BULK_EXPORT_RETENTION_HOURS),
    )
    if updated != 1:  # cancelled while the files were saved
        transaction.on_commit(lambda: delete_files(output))


def error_outcome(patient: Patient, exc: Exception) -> dict:
    return validate(
        {
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": "error",
                    "code": "processing",
                    "diagnostics": f"Patient/{patient.pk} was exported incomplete: {exc}"[:2000],
                }
            ],
        }
    )


def delete_files(output: list[dict]) -> None:
    for item in output:
        default_storage.delete(item["name"])


@transaction.atomic(durable=True)
def cancel_export(*, export: BulkExport) -> BulkExport:
    export = BulkExport.objects.select_for_update().get(pk=export.pk)
    output = export.output
    export.status = Status.CANCELLED
    export.output = []
    export.save(update_fields=["status", "output"])
    transaction.on_commit(lambda: delete_files(output))
    return export


def purge_expired_exports(now: datetime | None = None) -> int:
    """Files are kept BULK_EXPORT_RETENTION_HOURS, then deleted; the row stays as a record."""
    now = now or timezone.now()
    expired = BulkExport.objects.filter(status=Status.COMPLETED, expires_at__lte=now)
    count = 0
    for export in expired.iterator():
        delete_files(export.output)
        BulkExport.objects.filter(pk=export.pk).update(output=[])
        count += 1
    return count


def is_expired(export: BulkExport, now: datetime | None = None) -> bool:
    return export.expires_at is not None and export.expires_at <= (now or timezone.now())


def parse_types(raw: str | None) -> list[str]:
    types = [t.strip() for t in (raw or "").split(",") if t.strip()]
    unknown = sorted(set(types) - set(RESOURCE_TYPES))
    if unknown:
        raise ValueError(f"this server does not export {', '.join(unknown)}")
    return types
