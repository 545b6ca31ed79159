"""Alerting survives a Redis restart under load (issue 8, item 1).

A real `celery worker --beat` on a redis-server of this test's own is busy delivering
pages when Redis is killed; Redis comes back empty on the same port. On celery/kombu 5.7.0
the outside probe saw the worker exit there ("Unrecoverable error: AttributeError ...
'hostname'" from `restore_unacked_once`, 3 of 3 times) and take beat with it: red flags
posted afterwards waited for a person to restart it. (This harness did not reproduce the
crash on 5.7.0 either; pyproject.toml keeps celery and kombu below 5.7 for it.) Here they
reach the team's webhook with nobody touching anything, and the heartbeat that /healthz
reads keeps beating.
"""

from __future__ import annotations

import os
import time

import pytest
from django.conf import settings as django_settings
from django.db import connection

from backend.heartbeat import last_heartbeat
from tests.factories import PatientFactory
from tests.reliability_helpers import (
    CLAIM_TIMEOUT_SECONDS,
    SWEEP_GRACE_SECONDS,
    PrivateRedis,
    WebhookReceiver,
    Worker,
    celery_publishing_to,
    database_url,
    missing_services,
    needs,
    wait_until,
)
from tests.test_reliability import SECRET, post_red_flag, webhook_policy

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def receiver():
    server = WebhookReceiver(SECRET)
    yield server
    server.close()


@pytest.fixture
def private_redis(settings, tmp_path):
    # The broker circuit breaker may trip while Redis is down: conftest resets it after.
    server = PrivateRedis(tmp_path / "redis.log")
    try:
        server.start()
        # Publishing first: it saves the Celery app's configuration as the suite has it
        # (eager), before these settings change, and puts that back afterwards.
        with celery_publishing_to(server.url()):
            settings.CELERY_TASK_ALWAYS_EAGER = False
            settings.NOTIFICATION_CLAIM_TIMEOUT_SECONDS = CLAIM_TIMEOUT_SECONDS
            settings.NOTIFICATION_SWEEP_GRACE_SECONDS = SWEEP_GRACE_SECONDS
            settings.OUTBOUND_ALLOW_LOOPBACK = True  # the receiver listens on 127.0.0.1
            yield server
    finally:
        server.stop()


@pytest.fixture
def worker_with_beat(transactional_db, private_redis, tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "CELERY_BROKER_URL": private_redis.url(),
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DJANGO_SECRET_KEY": django_settings.SECRET_KEY,
        "NOTIFICATION_CLAIM_TIMEOUT_SECONDS": str(CLAIM_TIMEOUT_SECONDS),
        "NOTIFICATION_SWEEP_GRACE_SECONDS": str(SWEEP_GRACE_SECONDS),
        "HEARTBEAT_INTERVAL_SECONDS": "1",
        "OUTBOUND_ALLOW_LOOPBACK": "true",
        "EMAIL_URL": "consolemail://",
        "PYTHONUNBUFFERED": "1",
    }
    # Two pool children, as on a two-core host: two deliveries unacknowledged at the cut.
    beat_args = ("--concurrency=2", "--beat", f"--schedule={tmp_path / 'beat-schedule'}")
    worker = Worker(env, tmp_path / "worker.log", extra_args=beat_args)
    try:
        yield worker.start()
    finally:
        worker.stop()
        print(f"--- worker log (tail) ---\n{worker.log_tail(120)}")


@needs(missing_services(redis_server=True))
def test_red_flags_posted_after_redis_restarts_under_load_get_their_alert_without_a_restart(
    api, team, receiver, private_redis, worker_with_beat
):
    worker = worker_with_beat
    webhook_policy(team, receiver.url())
    receiver.delay = 0.3  # a slow paging system: deliveries are in flight, unacknowledged
    assert wait_until(last_heartbeat, 30), f"no heartbeat before the outage:\n{worker.log_tail()}"

    for patient in [PatientFactory(care_team=team) for _ in range(20)]:
        post_red_flag(api, patient)
    assert wait_until(lambda: receiver.in_flight > 0, 30), worker.log_tail()

    private_redis.crash()
    assert wait_until(lambda: "Connection to broker lost" in worker.log(), 30), worker.log_tail()
    time.sleep(2)  # the worker is inside its reconnect loop
    private_redis.start()  # same port, empty
    restarted_at = time.time()

    after = [PatientFactory(care_team=team) for _ in range(3)]
    for patient in after:
        post_red_flag(api, patient)

    def alerted(patient) -> bool:
        return any(r["body"] and r["body"].get("patient") == str(patient.pk) for r in receiver.received())

    # Normally seconds; the bound leaves room for the sweep (60 s) if a publish was lost.
    assert wait_until(lambda: all(alerted(p) for p in after), 150, 0.2), worker.log_tail(120)
    assert worker.alive(), worker.log_tail(120)
    assert "Unrecoverable error" not in worker.log()
    # Beat turned on too: a heartbeat stamped after the restart, which /healthz reads.
    assert wait_until(lambda: (b := last_heartbeat()) and b.timestamp() > restarted_at, 30), worker.log_tail()
