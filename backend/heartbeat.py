"""Liveness of the Celery worker and beat, visible to `/healthz`.

Beat schedules `beat` every HEARTBEAT_INTERVAL_SECONDS; a worker runs it and stamps the
time. A stamp older than HEARTBEAT_STALE_SECONDS means that beat, the broker or every
worker has stopped: alerts would be delayed without limit, so the health check fails and
a load balancer or a pager sees it within minutes (issue 8, item 1).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from backend.models import Heartbeat

WORKER = "worker"


def record_heartbeat(*, name: str = WORKER) -> Heartbeat:
    heartbeat, _ = Heartbeat.objects.update_or_create(name=name, defaults={"beat_at": timezone.now()})
    return heartbeat


def last_heartbeat(*, name: str = WORKER) -> datetime | None:
    return Heartbeat.objects.filter(name=name).values_list("beat_at", flat=True).first()


def heartbeat_fresh(*, name: str = WORKER) -> bool:
    """False when no heartbeat was ever recorded, or the last one is stale."""
    beat_at = last_heartbeat(name=name)
    stale_after = timedelta(seconds=settings.HEARTBEAT_STALE_SECONDS)
    return beat_at is not None and timezone.now() - beat_at <= stale_after


# Expires like the beat interval: a heartbeat queued behind a backlog for longer says
# nothing about now, and a stale one must not refresh the stamp.
@shared_task(ignore_result=True, acks_late=False, expires=60)
def beat() -> None:
    record_heartbeat()
