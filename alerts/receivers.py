"""The one subscription to the diary: evaluate the patients a commit changed."""

from __future__ import annotations

from alerts.schedule import request_evaluation


def on_patients_changed(sender, patient_ids, **kwargs) -> None:
    request_evaluation(patient_ids)
