"""The subscriptions to the diary: note, in the diary's own transaction, which patients
need evaluating; once it commits, evaluate them."""

from __future__ import annotations

from alerts.queue import note_evaluation, request_evaluation


def on_patients_changing(sender, patient_ids, **kwargs) -> None:
    note_evaluation(patient_ids)


def on_patients_changed(sender, patient_ids, urgent_ids=frozenset(), **kwargs) -> None:
    request_evaluation(patient_ids, urgent=urgent_ids)
