"""The subscription to the diary: in the diary's own transaction, note which patients need
evaluating; once it commits, a worker evaluates them (alerts.queue)."""

from __future__ import annotations

from alerts.queue import request_evaluation


def on_patients_changing(sender, patient_ids, urgent_ids=frozenset(), **kwargs) -> None:
    request_evaluation(patient_ids, urgent=urgent_ids)
