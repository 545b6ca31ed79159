"""The durable queue of evaluations: a diary change asks for one, a worker (or the beat's
sweeper, when the broker lost the task) evaluates the patient and clears the request.

The request is a row written in the diary's own transaction (alerts.receivers), so a
process killed between the commit and the publish loses no evaluation.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime, timedelta

from django.utils import timezone

from alerts import dispatch
from alerts.actions.evaluation import evaluate_patient
from alerts.models import Alert, EvaluationRequest

# A request older than this was not picked up by its task (broker down, task lost).
EVALUATION_GRACE = timedelta(seconds=30)


def note_evaluation(patient_ids: Iterable) -> None:
    """Record that these patients need evaluating (an upsert: the latest time wins)."""
    now = timezone.now()
    EvaluationRequest.objects.bulk_create(
        [EvaluationRequest(patient_id=pk, requested_at=now) for pk in patient_ids],
        update_conflicts=True,
        unique_fields=["patient"],
        update_fields=["requested_at"],
    )


def request_evaluation(patient_ids: Iterable, urgent: Collection = ()) -> None:
    """After the diary's commit: note the request again, with a time after the commit (an
    evaluation that started before it must not clear it), then ask a worker; the patients
    in `urgent` (a red flag just reported) on the queue a worker empties first."""
    patient_ids = list(patient_ids)
    note_evaluation(patient_ids)
    for pk in patient_ids:
        dispatch.enqueue(dispatch.EVALUATE_PATIENT, str(pk), urgent=pk in urgent)


def evaluate_and_clear(*, patient_id) -> list[Alert]:
    started = timezone.now()
    raised = evaluate_patient(patient_id=patient_id)
    # A change that arrived while we evaluated keeps its request for the next run.
    EvaluationRequest.objects.filter(patient_id=patient_id, requested_at__lte=started).delete()
    return raised


def evaluate_pending(now: datetime | None = None) -> int:
    """The sweeper: requests no task picked up in time (the broker lost or never got it),
    1,000 at a time, handed to the workers as tasks so that every worker process shares a
    backlog (after a broker outage, the whole outage's syncs); evaluated here when the
    broker refuses them. Nothing while the workers are behind: old requests then still
    have their tasks in the queue, and a second copy of each would feed the backlog."""
    if dispatch.workers_behind():
        return 0
    now = now or timezone.now()
    pending = list(
        EvaluationRequest.objects.filter(requested_at__lte=now - EVALUATION_GRACE)
        .order_by("requested_at")
        .values_list("patient_id", flat=True)[:1000]
    )
    for patient_id in pending:
        if not dispatch.enqueue(dispatch.EVALUATE_PATIENT, str(patient_id)):
            evaluate_and_clear(patient_id=patient_id)
    return len(pending)
