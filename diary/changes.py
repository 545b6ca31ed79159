"""The change feed of a patient's diary (API.md "Pulling changes").

Why a counter and not a timestamp or the records' own sequence: a number taken before
commit by two concurrent transactions can commit in the other order, so a reader that
saw the later number first would move its checkpoint past the earlier one and never see
it. Here every write of one patient's diary takes its numbers from that patient's
ChangeCounter row with an upsert, which holds the row lock until the transaction ends.
Writers of one patient are therefore serialized: numbers commit in the order they were
handed out. A reader first reads the counter's committed value H; every number up to H
belongs to a committed transaction, so reading `checkpoint < change_seq <= H` sees a
complete prefix and `H` (or the last number returned) is a safe next checkpoint.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core import signing
from django.db import connection

from care.models import Patient
from diary.models import RECORD_MODELS, ChangeCounter, DiaryRecord

PAGE_SIZE = 500
SALT = "diary.changes"
# Response sections of each record type, as in POST sync/.
SECTIONS = {
    "checkin": "checkins",
    "adverse_effect": "adverse_effects",
    "bolus": "boluses",
    "medication": "medications",
}


class BadCheckpoint(ValueError):
    """Malformed, forged, or another patient's checkpoint."""


def stamp_changes(records: Iterable[DiaryRecord]) -> None:
    """Give each record the next change numbers of its patient (set on the instance; the
    caller saves it). Call inside the write's transaction: the counter row stays locked
    until commit, which is what keeps the feed in commit order."""
    by_patient: dict[Any, list[DiaryRecord]] = defaultdict(list)
    for record in records:
        by_patient[record.patient_id].append(record)
    table = connection.ops.quote_name(ChangeCounter._meta.db_table)
    key = ChangeCounter._meta.get_field("patient")
    # Sorted by patient: two batches naming the same patients lock them in one order.
    for patient_id in sorted(by_patient, key=str):
        batch = by_patient[patient_id]
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (patient_id, seq) VALUES (%s, %s) "  # noqa: S608 - a model's table name
                f"ON CONFLICT (patient_id) DO UPDATE SET seq = {table}.seq + excluded.seq RETURNING seq",
                [key.get_db_prep_value(patient_id, connection), len(batch)],
            )
            last = cursor.fetchone()[0]
        for offset, record in enumerate(batch):
            record.change_seq = last - len(batch) + 1 + offset


def make_checkpoint(patient: Patient, seq: int) -> str:
    return signing.dumps([patient.pk.hex, seq], salt=SALT, compress=False)


def read_checkpoint(patient: Patient, raw: str | None) -> int:
    """The last change number a checkpoint covers; -1 (before everything) without one."""
    if raw is None:
        return -1
    try:
        patient_hex, seq = signing.loads(raw, salt=SALT)
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise BadCheckpoint from exc
    if patient_hex != patient.pk.hex or not isinstance(seq, int):
        raise BadCheckpoint
    return seq


@dataclass
class ChangePage:
    records: dict[str, list[DiaryRecord]]
    checkpoint: str
    has_more: bool


def changes_since(patient: Patient, since: int, *, limit: int = PAGE_SIZE) -> ChangePage:
    """Records of the patient changed after `since`, at most `limit`, in change order
    across the four types, each in its latest state (a record has one change_seq)."""
    high = ChangeCounter.objects.filter(patient=patient).values_list("seq", flat=True).first() or 0
    streams = []
    for kind, model in RECORD_MODELS.items():
        rows = list(
            model.objects.filter(patient=patient, change_seq__gt=since, change_seq__lte=high).order_by(
                "change_seq"
            )[: limit + 1]
        )
        streams.append([(record.change_seq, kind, record) for record in rows])
    merged = list(heapq.merge(*streams, key=lambda item: item[0]))
    has_more = len(merged) > limit
    page = merged[:limit]
    # Without more, everything up to `high` has been seen (numbers of duplicates that were
    # never stored, and records corrected since, leave gaps that are safe to step over).
    last = page[-1][0] if has_more else max(high, since)
    records: dict[str, list[DiaryRecord]] = {kind: [] for kind in RECORD_MODELS}
    for _seq, kind, record in page:
        records[kind].append(record)
    return ChangePage(records=records, checkpoint=make_checkpoint(patient, last), has_more=has_more)
