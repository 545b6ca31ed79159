"""What a phone sends: one valid body per record type, and where each type lives in the API."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils import timezone

from diary.models import AdverseEffect, CheckIn, DiaryRecord, MedicationDose, PtaBolus, RecordRevision


def an_hour_ago() -> str:
    return (timezone.now() - timedelta(hours=1)).isoformat()


def new_id() -> str:
    return str(uuid.uuid4())


def checkin_body(**fields: Any) -> dict[str, Any]:
    return {"id": new_id(), "recorded_at": an_hour_ago(), "pain_now": 5, **fields}


def adverse_effect_body(**fields: Any) -> dict[str, Any]:
    return {"id": new_id(), "recorded_at": an_hour_ago(), "effect": "nausea", "grade": 2, **fields}


def bolus_body(**fields: Any) -> dict[str, Any]:
    return {"id": new_id(), "occurred_at": an_hour_ago(), "outcome": "delivered", **fields}


def medication_body(**fields: Any) -> dict[str, Any]:
    return {
        "id": new_id(),
        "taken_at": an_hour_ago(),
        "drug": "oxycodone",
        "dose": 10,
        "unit": "mg",
        "route": "oral",
        "kind": "rescue",
        **fields,
    }


@dataclass(frozen=True)
class RecordType:
    kind: str  # `type` in sync results
    section: str  # key of the sync body
    path: str  # collection URL
    model: type[DiaryRecord]
    observed: str  # the field holding the moment observed
    body: Callable[..., dict[str, Any]]
    # A client field and another valid value for it: a correction, or a conflicting retry.
    change: tuple[str, Any]

    def url(self, record_id: Any = None, action: str = "") -> str:
        if record_id is None:
            return self.path
        return f"{self.path}{record_id}/{action + '/' if action else ''}"


CHECKINS = RecordType(
    "checkin", "checkins", "/api/v1/diary/checkins/", CheckIn, "recorded_at", checkin_body, ("pain_now", 8)
)
ADVERSE_EFFECTS = RecordType(
    "adverse_effect",
    "adverse_effects",
    "/api/v1/diary/adverse-effects/",
    AdverseEffect,
    "recorded_at",
    adverse_effect_body,
    ("grade", 3),
)
BOLUSES = RecordType(
    "bolus",
    "boluses",
    "/api/v1/diary/boluses/",
    PtaBolus,
    "occurred_at",
    bolus_body,
    ("outcome", "denied_lockout"),
)
MEDICATIONS = RecordType(
    "medication",
    "medications",
    "/api/v1/diary/medications/",
    MedicationDose,
    "taken_at",
    medication_body,
    ("dose", 20),
)
RECORD_TYPES = (CHECKINS, ADVERSE_EFFECTS, BOLUSES, MEDICATIONS)
BY_KIND = {record_type.kind: record_type for record_type in RECORD_TYPES}


def diary_row_count() -> int:
    return sum(record_type.model.objects.count() for record_type in RECORD_TYPES)


def clear_diary() -> None:
    RecordRevision.objects.all().delete()
    for record_type in RECORD_TYPES:
        record_type.model.objects.all().delete()
