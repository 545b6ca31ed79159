"""The one way records enter the diary, for the single-record POSTs and `POST sync/`
alike: resolve the patient, validate, build, store; each item answered on its own."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.serializers import Serializer, as_serializer_error

from backend.errors import flatten_errors
from care.models import Patient, User
from diary.access import DiaryRights
from diary.models import DiaryRecord
from diary.serializers import SERIALIZERS
from diary.services import Status, build_record, store_records


@dataclass
class Outcome:
    """What became of one item: its status, and for an invalid one the error a single
    POST raises as it is (404, 403 or 400) and a batch reports as `errors`."""

    kind: str
    id: str | None
    status: Status = "invalid"
    error: APIException | None = None
    record: DiaryRecord | None = None
    patient: Patient | None = field(default=None, repr=False)

    def as_result(self) -> dict[str, Any]:
        result: dict[str, Any] = {"type": self.kind, "id": self.id, "status": self.status}
        if self.error is not None:
            detail = self.error.detail
            if isinstance(self.error, ValidationError):
                result["errors"] = flatten_errors(detail)
            else:
                result["errors"] = {"patient": [str(detail)]}
        return result


def ingest(*, user: User, items: list[tuple[str, Any]]) -> list[Outcome]:
    """Validate each item on its own, store the valid ones in one transaction, and say what
    became of every item, in order. One bad item never blocks the others."""
    rights = DiaryRights(user)
    rights.know([item.get("patient") for _, item in items if isinstance(item, dict)])
    now = timezone.now()
    ingest_key = uuid.uuid4()
    outcomes: list[Outcome] = []
    for kind, item in items:
        outcome = Outcome(kind=kind, id=item_id(item))
        outcomes.append(outcome)
        try:
            if not isinstance(item, dict):
                raise ValidationError({"non_field_errors": [_("Expected an object.")]})
            patient = rights.reporting_patient(item.get("patient"))
            try:
                data = validator(kind, patient).run_validation(item)
            except ValidationError as exc:
                raise ValidationError(as_serializer_error(exc)) from None
        except APIException as exc:
            outcome.error = exc
            continue
        outcome.patient = patient
        outcome.record = build_record(
            kind=kind, patient=patient, reporter=user, data=data, now=now, ingest_key=ingest_key
        )
    valid = [o for o in outcomes if o.record is not None]
    if valid:
        statuses = store_records(records=[(o.kind, o.record) for o in valid])
        for outcome, status in zip(valid, statuses, strict=True):
            outcome.status = status
    return outcomes


_validators = threading.local()


def validator(kind: str, patient: Patient) -> Serializer:
    """The serializer that validates an item of `kind` for `patient`: one per record type
    and thread, reused by every request (building a DRF serializer deep-copies its fields,
    which costs more than validating a record). Validation keeps no state on it; only its
    context, the patient, changes."""
    serializers = _validators.__dict__.setdefault("by_kind", {})
    if kind not in serializers:
        serializers[kind] = SERIALIZERS[kind](context={})
    serializer = serializers[kind]
    serializer.context["patient"] = patient
    return serializer


def item_id(item: Any) -> str | None:
    raw = item.get("id") if isinstance(item, dict) else None
    return raw if isinstance(raw, str) else None
