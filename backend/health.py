from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import JsonResponse

from backend.celery import app
from backend.heartbeat import heartbeat_fresh


def check_database() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        return False


# A probe answers within a load balancer's patience: one attempt, no retry back-off.
BROKER_CONNECT_TIMEOUT_SECONDS = 2


def check_broker() -> bool | None:
    """None when tasks run eagerly (no broker to ask)."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return None

    try:
        with app.connection_for_write(
            url=settings.CELERY_BROKER_URL, connect_timeout=BROKER_CONNECT_TIMEOUT_SECONDS
        ) as conn:
            conn.ensure_connection(max_retries=0, timeout=BROKER_CONNECT_TIMEOUT_SECONDS)
        return True
    except Exception:
        return False


def check_worker() -> bool | None:
    """A worker ran beat's heartbeat recently: beat, broker and a worker all turn. None
    when tasks run eagerly (no worker to wait for)."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return None
    try:
        return heartbeat_fresh()
    except Exception:
        return False


def healthz(request):
    checks = {"database": check_database(), "broker": check_broker(), "worker": check_worker()}
    failing = [name for name, ok in checks.items() if ok is False]
    body = {"status": "ok" if not failing else "unavailable", "checks": checks, "failing": failing}
    return JsonResponse(body, status=503 if failing else 200)
