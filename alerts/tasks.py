"""Thin Celery adapters: re-fetch by id, call one service, own the retry policy.

Tasks sit on top: they import the services below them and nothing imports them (work is
published by name through alerts.dispatch).
"""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from alerts import dispatch, outbox, queue, schedule
from alerts.actions.escalation import escalate_due_alerts


@shared_task(acks_late=True)
def evaluate_patient(patient_id: str, token: str | None = None) -> None:
    queue.evaluate_and_clear(patient_id=patient_id, token=token)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def deliver_notification(notification_id: str) -> str:
    return outbox.deliver(notification_id)


@shared_task
def sweep_outbox() -> int:
    if dispatch.workers_behind():  # the due rows' tasks are mostly still queued
        return 0
    due = outbox.due_notifications(timezone.now())
    for pk in due:
        dispatch.enqueue(dispatch.DELIVER_NOTIFICATION, str(pk), skip_when_broker_down=False)
    return len(due)


@shared_task
def sweep_evaluations() -> int:
    return queue.evaluate_pending()


@shared_task
def escalate_due() -> int:
    return escalate_due_alerts()


@shared_task
def evaluate_scheduled_rules() -> int:
    return schedule.evaluate_time_rules()


@shared_task(acks_late=True)
def evaluate_scheduled_chunk(chunk_id: int) -> int:
    return schedule.evaluate_chunk(chunk_id)


@shared_task
def send_daily_digests() -> int:
    return schedule.send_daily_digests()


@shared_task
def send_reminders() -> int:
    return schedule.send_reminders()
