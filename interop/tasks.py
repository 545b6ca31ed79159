"""Thin Celery adapters of the interop app."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from interop import bulk


# A team's export outlives the default 30 s limits; its heartbeat lets another worker
# take over one whose worker died (acks_late redelivers it).
@shared_task(
    acks_late=True,
    soft_time_limit=settings.BULK_EXPORT_TIME_LIMIT_SECONDS,
    time_limit=settings.BULK_EXPORT_TIME_LIMIT_SECONDS + 60,
)
def run_bulk_export(export_id: str) -> str:
    return bulk.run_export(export_id)


@shared_task
def purge_expired_exports() -> int:
    return bulk.purge_expired_exports()
