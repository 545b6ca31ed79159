"""The durable queue of evaluations: a diary change asks for one, a worker (or the beat's
sweeper, when the broker lost the task) evaluates the patient and clears the request.

The request is a row written in the diary's own transaction (alerts.receivers), so a
process killed between the commit and the publish loses no evaluation. Each request has a
new token, and its task carries it: an evaluation clears only the request it was sent
for, so a change that commits while an evaluation runs (unseen by it) keeps its request.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from alerts import dispatch
from alerts.actions.evaluation import evaluate_patient
from alerts.models import Alert, EvaluationRequest

# A request older than this was not picked up by its task (broker down, task lost).
EVALUATION_GRACE = timedelta(seconds=30)


def note_evaluation(patient_ids: Iterable) -> dict[uuid.UUID, uuid.UUID]:
    """Record that these patients need evaluating (an upsert: the latest request wins);
    each request's token by patient."""
    now = timezone.now()
    requests = [EvaluationRequest(patient_id=pk, requested_at=now, token=uuid.uuid4()) for pk in patient_ids]
    EvaluationRequest.objects.bulk_create(
        requests, update_conflicts=True, unique_fields=["patient"], update_fields=["requested_at", "token"]
    )
    return {request.patient_id: request.token for request in requests}


def request_evaluation(patient_ids: Iterable, urgent: Collection = ()) -> None:
    """In the diary's transaction: note the requests with the records; once they commit, ask
    a worker for each, the patients in `urgent` (a red flag just reported) on the queue a
    worker empties first."""
    tokens = note_evaluation(patient_ids)

    def send() -> None:
        for pk, token in tokens.items():
            dispatch.enqueue(dispatch.EVALUATE_PATIENT, str(pk), str(token), urgent=pk in urgent)

    transaction.on_commit(send)


def evaluate_and_clear(*, patient_id, token=None) -> list[Alert]:
    """Evaluate, then clear the request this evaluation was sent for (`token`; without one,
    the request as it stands now). A change committed meanwhile has a new token: its
    request stays, for its own task."""
    if token is None:
        token = (
            EvaluationRequest.objects.filter(patient_id=patient_id).values_list("token", flat=True).first()
        )
    raised = evaluate_patient(patient_id=patient_id)
    if token is not None:
        EvaluationRequest.objects.filter(patient_id=patient_id, token=token).delete()
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
        .values_list("patient_id", "token")[:1000]
    )
    for patient_id, token in pending:
        if not dispatch.enqueue(dispatch.EVALUATE_PATIENT, str(patient_id), str(token)):
            evaluate_and_clear(patient_id=patient_id, token=token)
    return len(pending)
