"""Thin Celery adapters: re-fetch by id, call one service, own the retry policy."""

from __future__ import annotations

import logging
import time

from celery import shared_task
from django.utils import timezone

from alerts import outbox, schedule, services

logger = logging.getLogger(__name__)


# After a failed publish, requests stop trying the broker for a few seconds: each attempt
# costs a connection timeout, and a patient's post must not wait for Redis to come back.
BROKER_RETRY_AFTER_SECONDS = 5.0
_broker_down_until = 0.0


def enqueue(task, *args, skip_when_broker_down: bool = True) -> bool:
    """Send a task now; when the broker is down, say so and let a sweeper catch up (the
    work is a row in the database either way)."""
    global _broker_down_until  # per process, on purpose: a cheap circuit breaker
    if skip_when_broker_down and time.monotonic() < _broker_down_until:
        return False
    try:
        task.apply_async(args=args, retry=False)
    except Exception:  # kombu raises several kinds; the database keeps the work
        _broker_down_until = time.monotonic() + BROKER_RETRY_AFTER_SECONDS
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
        enqueue(deliver_notification, str(pk), skip_when_broker_down=False)
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


@shared_task(acks_late=True)
def evaluate_scheduled_chunk(patient_ids: list[str]) -> None:
    schedule.evaluate_scheduled(patient_ids)


@shared_task
def send_daily_digests() -> int:
    return schedule.send_daily_digests()


@shared_task
def send_reminders() -> int:
    return schedule.send_reminders()
