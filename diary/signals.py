"""The diary's announcement: after a write commits, which patients changed.

Sent explicitly from the write paths with `transaction.on_commit`, once per patient per
request (never from `post_save`, which misses bulk inserts and fires on admin edits).
The diary never imports its subscribers.

`patients_changing` is the same news inside the write's transaction, for a receiver
that must record it durably with the records themselves (a process killed between the
commit and the on-commit callback would otherwise lose it): the alerts app notes its
evaluation requests there and sends their tasks once the write commits.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.dispatch import Signal

# Receivers get `patient_ids: frozenset[uuid.UUID]`, and `urgent_ids`, those of them who
# just reported a red flag (SPEC: "urgent at once").
patients_changing = Signal()
patients_changed = Signal()


def announce_changes(patient_ids: Iterable, urgent: Iterable = ()) -> None:
    ids, urgent_ids = frozenset(patient_ids), frozenset(urgent)
    if ids:
        patients_changing.send(sender="diary", patient_ids=ids, urgent_ids=urgent_ids)
        transaction.on_commit(
            lambda: patients_changed.send(sender="diary", patient_ids=ids, urgent_ids=urgent_ids)
        )
