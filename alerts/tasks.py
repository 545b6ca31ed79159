"""Thin Celery adapters: re-fetch by id, call one service, own the retry policy."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from alerts import outbox, schedule, services

logger = logging.getLogger(__name__)


def enqueue(task, *args) -> bool:
    """Send a task now; when the broker is down, say so and let a sweeper catch up."""
    try:
        task.apply_async(args=args, retry=False)
    except Exception:  # kombu raises several kinds; the database keeps the work
        logger.warning("broker unavailable: %s left for the sweeper", task.name)
        return False
    return True


@shared_task(acks_late=True)
def evaluate_patient(patient_id: str) -> None:
    started = timezone.now()
    services.evaluate_patient(patient_id=patient_id)
    schedule.evaluation_done(patient_id=patient_id, started=started)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def deliver_notification(notification_id: str) -> str:
    return outbox.deliver(notification_id)


@shared_task
def sweep_outbox() -> int:
    due = outbox.due_notifications(timezone.now())
    for pk in due:
        enqueue(deliver_notification, str(pk))
    return len(due)


@shared_task
def sweep_evaluations() -> int:
    return schedule.evaluate_pending()


@shared_task
def escalate_due() -> int:
    return schedule.escalate_due_alerts()


@shared_task
def evaluate_scheduled_rules() -> int:
    return schedule.evaluate_time_rules()


@shared_task
def send_daily_digests() -> int:
    return schedule.send_daily_digests()


@shared_task
def send_reminders() -> int:
    return schedule.send_reminders()
