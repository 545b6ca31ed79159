"""Diary rows for raw inserts and COPY, described by the product itself.

Tables, columns and values come from the diary's models and its write path: a row is what
`diary.services.build_record` makes of a validated item, so the raw baselines and the
bulk loads store exactly what the API stores (fingerprint, local day, lateness, derived
values), and a new column or code reaches them without an edit here. Imported after
benchlib.setup().
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import benchlib
from django.db import connection

from care.models import Patient, User
from diary.models import RECORD_MODELS, DiaryRecord
from diary.serializers import SERIALIZERS
from diary.services import build_record

KINDS = tuple(RECORD_MODELS)


def table(kind: str) -> str:
    return RECORD_MODELS[kind]._meta.db_table


def columns(kind: str) -> tuple[str, ...]:
    return tuple(f.column for f in RECORD_MODELS[kind]._meta.concrete_fields)


def as_row(record: DiaryRecord) -> tuple:
    """The record's values in columns() order, adapted for psycopg as Django adapts them."""
    return tuple(
        f.get_db_prep_save(getattr(record, f.attname), connection) for f in record._meta.concrete_fields
    )


def insert_sql(kind: str) -> str:
    names = columns(kind)
    return f"INSERT INTO {table(kind)} ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))})"  # noqa: S608 - names from the model


class Builder:
    """Stored records for one patient, made by the diary's own write path (not timed)."""

    def __init__(self, patient: Patient, reporter: User):
        self.patient = patient
        self.reporter = reporter
        # One validator per type, reused for every item, as diary.ingest does.
        self.validators = {kind: SERIALIZERS[kind](context={"patient": patient}) for kind in KINDS}

    def validated(self, kind: str, item: dict[str, Any], *, now: datetime) -> DiaryRecord:
        """An item as a phone sends it, through the API's validation: a code the catalog
        no longer knows fails here, loudly. Datetimes are sent as ISO 8601."""
        item = {"id": str(uuid.uuid4())} | {
            k: v.isoformat() if isinstance(v, datetime) else v for k, v in item.items()
        }
        data = self.validators[kind].run_validation(item)
        return self.build(kind, data, now=now)

    def build(self, kind: str, data: dict[str, Any], *, now: datetime) -> DiaryRecord:
        """Already typed values (datetimes, Decimals), the id made up when not given."""
        data = {"id": data.get("id") or uuid.uuid4(), **data}
        return build_record(
            kind=kind, patient=self.patient, reporter=self.reporter, data=data, now=now, ingest_key=None
        )


def by_kind(records: Iterable[tuple[str, DiaryRecord]]) -> dict[str, list[tuple]]:
    """(kind, record) pairs as COPY-ready rows per kind."""
    out: dict[str, list[tuple]] = {kind: [] for kind in KINDS}
    for kind, record in records:
        out[kind].append(as_row(record))
    return out


def copy_records(conn, rows_by_kind: dict[str, list[tuple]]) -> int:
    """COPY rows per kind into the diary's tables (the caller commits)."""
    return sum(
        benchlib.copy_rows(conn, table(kind), columns(kind), rows) for kind, rows in rows_by_kind.items()
    )
