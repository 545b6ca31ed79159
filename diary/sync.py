"""POST sync/: up to 500 records of all four types, answered per item in request order."""

from __future__ import annotations

import uuid
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import APIException, NotFound, PermissionDenied, ValidationError
from rest_framework.serializers import as_serializer_error

from backend.errors import flatten_errors
from care.models import User
from diary.access import ReportingRights
from diary.serializers import SERIALIZERS
from diary.services import build_record, store_records

MAX_RECORDS = 500
# Request sections and the record type of their items, in the order results are given.
SECTIONS = (
    ("checkins", "checkin"),
    ("adverse_effects", "adverse_effect"),
    ("boluses", "bolus"),
    ("medications", "medication"),
)


class BatchTooLarge(APIException):
    status_code = 413
    default_detail = _("A sync may carry at most 500 records.")
    default_code = "batch_too_large"


def sync_batch(*, user: User, body: Any) -> list[dict[str, Any]]:
    """Validate each item on its own, store the valid ones in one transaction, and say
    what became of every item. One bad item never blocks the others."""
    if not isinstance(body, dict):
        raise ValidationError({"body": [_("Expected an object with record lists.")]})
    items: list[tuple[str, Any]] = []
    for section, kind in SECTIONS:
        section_items = body.get(section, [])
        if not isinstance(section_items, list):
            raise ValidationError({section: [_("Expected a list.")]})
        items.extend((kind, item) for item in section_items)
    if len(items) > MAX_RECORDS:
        raise BatchTooLarge

    rights = ReportingRights(user, [item.get("patient") for _, item in items if isinstance(item, dict)])
    # One validator per record type and patient, reused for every item: building a DRF
    # serializer (it deep-copies its fields) costs more than validating a record.
    validators: dict[tuple[str, Any], Any] = {}
    now = timezone.now()
    ingest_key = uuid.uuid4()
    results: list[dict[str, Any]] = []
    to_store = []
    for kind, item in items:
        result: dict[str, Any] = {"type": kind, "id": item_id(item), "status": "invalid"}
        results.append(result)
        if not isinstance(item, dict):
            result["errors"] = {"non_field_errors": [str(_("Expected an object."))]}
            continue
        try:
            patient = rights.resolve(item.get("patient"))
        except (NotFound, PermissionDenied) as exc:
            result["errors"] = {"patient": [str(exc.detail)]}
            continue
        except ValidationError as exc:
            result["errors"] = flatten_errors(exc.detail)
            continue
        key = (kind, patient.pk)
        if key not in validators:
            validators[key] = SERIALIZERS[kind](context={"patient": patient})
        try:
            data = validators[key].run_validation(item)
        except ValidationError as exc:
            result["errors"] = flatten_errors(as_serializer_error(exc))
            continue
        record = build_record(
            kind=kind,
            patient=patient,
            reporter=user,
            data=data,
            now=now,
            ingest_key=ingest_key,
        )
        to_store.append((result, kind, record))
    if to_store:
        statuses = store_records(records=[(k, r) for _, k, r in to_store], ingest_key=ingest_key)
        for (result, _kind, _record), status in zip(to_store, statuses, strict=True):
            result["status"] = status
    return results


def item_id(item: Any) -> str | None:
    raw = item.get("id") if isinstance(item, dict) else None
    return raw if isinstance(raw, str) else None
