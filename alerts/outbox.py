"""Delivering the notification outbox: at least once, deduplicated by key.

A delivery is claimed with a conditional update (pending, or sending but abandoned by a
dead worker) that also counts the attempt, so a message that keeps killing its worker is
dead-lettered after NOTIFICATION_MAX_ATTEMPTS instead of looping forever. Retries wait in
the database (`next_attempt_at`), never as broker countdowns.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from alerts.channels import DeliveryError, channel_for
from alerts.models import Notification

logger = logging.getLogger(__name__)
Status = Notification.Status


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, ... capped at an hour."""
    return min(timedelta(seconds=30 * 2 ** max(attempts - 1, 0)), timedelta(hours=1))


def claim(notification_id, now: datetime) -> Notification | None:
    abandoned = now - timedelta(seconds=settings.NOTIFICATION_CLAIM_TIMEOUT_SECONDS)
    claimed = (
        Notification.objects.filter(pk=notification_id)
        .filter(
            Q(status=Status.PENDING, next_attempt_at__lte=now)
            | Q(status=Status.SENDING, claimed_at__lt=abandoned)
        )
        .update(status=Status.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    )
    if claimed != 1:
        return None
    notification = Notification.objects.select_related("recipient", "alert", "team__escalation_policy").get(
        pk=notification_id
    )
    if notification.attempts > settings.NOTIFICATION_MAX_ATTEMPTS:
        dead_letter(notification, "gave up: the delivery kept failing or crashing its worker")
        return None
    return notification


def dead_letter(notification: Notification, error: str) -> None:
    Notification.objects.filter(pk=notification.pk).update(status=Status.DEAD, last_error=error[:500])
    logger.error("notification %s dead-lettered after %s attempts", notification.pk, notification.attempts)


def deliver(notification_id, now: datetime | None = None) -> str:
    """Send one notification if it is still due; returns what happened."""
    now = now or timezone.now()
    notification = claim(notification_id, now)
    if notification is None:
        return "skipped"
    try:
        channel_for(notification).send(notification)
    except DeliveryError as exc:
        # A permanent failure (no device, no webhook, a refused destination) would fail
        # the same way at every retry: dead-letter it now, where people look.
        if exc.permanent or notification.attempts >= settings.NOTIFICATION_MAX_ATTEMPTS:
            dead_letter(notification, str(exc))
            return "dead"
        Notification.objects.filter(pk=notification.pk, status=Status.SENDING).update(
            status=Status.PENDING,
            next_attempt_at=now + backoff(notification.attempts),
            last_error=str(exc)[:500],
        )
        return "retry"
    Notification.objects.filter(pk=notification.pk, status=Status.SENDING).update(
        status=Status.SENT, sent_at=timezone.now(), last_error=""
    )
    return "sent"


def due_notifications(now: datetime, limit: int = 500) -> list:
    """Pending rows past their time (their task was lost, or a retry is due) and rows a dead
    worker left in `sending`."""
    grace = now - timedelta(seconds=settings.NOTIFICATION_SWEEP_GRACE_SECONDS)
    abandoned = now - timedelta(seconds=settings.NOTIFICATION_CLAIM_TIMEOUT_SECONDS)
    return list(
        Notification.objects.filter(
            Q(status=Status.PENDING, next_attempt_at__lte=grace)
            | Q(status=Status.SENDING, claimed_at__lt=abandoned)
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
