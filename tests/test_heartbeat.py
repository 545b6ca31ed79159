"""The worker heartbeat behind /healthz (issue 8, item 1): a worker that stopped, or a
beat that stopped queueing, turns the health check red within the threshold."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from backend import heartbeat
from backend.models import Heartbeat

pytestmark = pytest.mark.django_db

# The broker is not what these tests are about: it answers.
not_eager = override_settings(CELERY_TASK_ALWAYS_EAGER=False, HEARTBEAT_STALE_SECONDS=180)


@pytest.fixture(autouse=True)
def broker_answers(monkeypatch):
    monkeypatch.setattr("backend.health.check_broker", lambda: True)


@not_eager
def test_healthz_is_200_with_a_fresh_heartbeat(client):
    heartbeat.beat()  # what a worker runs when beat queues it

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["checks"] == {"database": True, "broker": True, "worker": True}


@not_eager
def test_healthz_is_503_naming_the_worker_when_the_heartbeat_is_stale(client):
    Heartbeat.objects.create(name="worker", beat_at=timezone.now() - timedelta(seconds=181))

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["failing"] == ["worker"]


@not_eager
def test_healthz_is_503_naming_the_worker_before_any_heartbeat(client):
    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["failing"] == ["worker"]


@not_eager
def test_a_new_heartbeat_replaces_the_stale_one(client):
    Heartbeat.objects.create(name="worker", beat_at=timezone.now() - timedelta(hours=1))

    heartbeat.beat()

    assert Heartbeat.objects.count() == 1
    assert client.get("/healthz").status_code == 200


def test_eager_tasks_need_no_worker(client):
    response = client.get("/healthz")

    assert response.json()["checks"]["worker"] is None
    assert response.status_code == 200


def test_beat_queues_the_heartbeat_every_interval():
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["heartbeat"]
    assert entry["task"] == heartbeat.beat.name == "backend.heartbeat.beat"
    assert entry["schedule"] < settings.HEARTBEAT_STALE_SECONDS
