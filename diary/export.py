"""CSV export for research: one row per record of all four types, streamed."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from care.models import Patient
from diary.models import RECORD_MODELS

COMMON = [
    "type",
    "id",
    "observed_at",
    "local_date",
    "timezone",
    "reporter_role",
    "status",
    "late",
    "created_at",
]
FIELDS = sorted(
    {name for model in RECORD_MODELS.values() for name in model.client_fields}
    - {
        "recorded_at",
        "occurred_at",
        "taken_at",
    }
)
COLUMNS = [*COMMON, *FIELDS, "mme"]


class _Echo:
    def write(self, value: str) -> str:
        return value


# Spreadsheets run a cell that starts with these as a formula (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    if isinstance(value, dict):
        return ";".join(f"{k}={v}" for k, v in sorted(value.items()))
    if isinstance(value, list):
        return ";".join(map(str, value))
    return "" if value is None else value


def rows(patient: Patient) -> Iterator[list[Any]]:
    yield COLUMNS
    for kind, model in RECORD_MODELS.items():
        for record in (
            model.objects.for_patient(patient).order_by("local_date", "created_at").iterator(chunk_size=1000)
        ):
            values = {name: getattr(record, name) for name in model.client_fields}
            yield [
                kind,
                record.pk,
                record.observed_at.isoformat(),
                record.local_date.isoformat(),
                record.timezone,
                record.reporter_role,
                record.status,
                record.late,
                record.created_at.isoformat(),
                *(_cell(values.get(name)) for name in FIELDS),
                _cell(getattr(record, "mme", None)),
            ]


def csv_lines(patient: Patient) -> Iterator[str]:
    writer = csv.writer(_Echo())
    for row in rows(patient):
        yield writer.writerow(row)
