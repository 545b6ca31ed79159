"""POST sync/: up to 500 records of all four types, answered per item in request order."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import APIException, ValidationError

from care.models import User
from diary.ingest import ingest

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
    """The batch's items in API order, each answered on its own (diary.ingest)."""
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

    return [outcome.as_result() for outcome in ingest(user=user, items=items)]
