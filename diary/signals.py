"""The diary's one announcement: after a write commits, which patients changed.

Sent explicitly from the write paths with `transaction.on_commit`, once per patient per
request (never from `post_save`, which misses bulk inserts and fires on admin edits).
The alerts app subscribes; the diary never imports it.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.dispatch import Signal

# Receivers get `patient_ids: frozenset[uuid.UUID]`.
patients_changed = Signal()


def announce_changes(patient_ids: Iterable) -> None:
    ids = frozenset(patient_ids)
    if ids:
        transaction.on_commit(lambda: patients_changed.send(sender="diary", patient_ids=ids))
