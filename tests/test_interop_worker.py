"""Through a real Celery worker on PostgreSQL and Redis: a Bulk Data export as a hospital
integration engine runs it (a system client's token, kick-off, polling, manifest,
downloads, `_since`, cancel), and the referral rest-hook delivered at least once when the
worker is killed between sending and marking it sent."""

from __future__ import annotations

import json
import os
import time
import uuid

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from alerts import tasks
from alerts.models import Notification
from interop import services
from interop.models import BulkExport
from interop.validation import validate
from tests.factories import CaregiverLinkFactory, ClinicianFactory, PatientFactory
from tests.interop_helpers import make_full_record
from tests.interop_smart_helpers import Engine, token
from tests.reliability_helpers import (
    CLAIM_TIMEOUT_SECONDS,
    IN_CI,
    SWEEP_GRACE_SECONDS,
    Beat,
    WebhookReceiver,
    Worker,
    celery_publishing_to,
    claim_redis_db,
    database_url,
    missing_services,
    needs,
    redis_answers,
    shared_redis_url,
    wait_until,
)

pytestmark = [pytest.mark.django_db(transaction=True), needs(missing_services(shared_redis=True))]
BASE = "http://127.0.0.1:8000"


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def broker(settings):
    """A Redis database of this test's own, which this process publishes to."""
    if IN_CI and not redis_answers(shared_redis_url()):
        pytest.fail(f"CI needs Redis at {shared_redis_url()}")
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.OUTBOUND_ALLOW_LOOPBACK = True
    settings.NOTIFICATION_CLAIM_TIMEOUT_SECONDS = CLAIM_TIMEOUT_SECONDS
    settings.NOTIFICATION_SWEEP_GRACE_SECONDS = SWEEP_GRACE_SECONDS
    with claim_redis_db() as url, celery_publishing_to(url):
        yield url


@pytest.fixture
def worker(broker, media, tmp_path):
    """A real worker on this test's database and broker, stopped at the end whatever
    happened."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "CELERY_BROKER_URL": broker,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DJANGO_SECRET_KEY": django_settings.SECRET_KEY,
        "MEDIA_ROOT": str(media),
        "OUTBOUND_ALLOW_LOOPBACK": "true",
        "NOTIFICATION_CLAIM_TIMEOUT_SECONDS": str(CLAIM_TIMEOUT_SECONDS),
        "NOTIFICATION_SWEEP_GRACE_SECONDS": str(SWEEP_GRACE_SECONDS),
        "PYTHONUNBUFFERED": "1",
    }
    process = Worker(env, tmp_path / "worker.log").start()
    try:
        yield process
    finally:
        process.stop()
        print(f"--- worker log (tail) ---\n{process.log_tail()}")


@pytest.fixture
def engine_client(team, tmp_path):
    engine = Engine()
    engine.register(tmp_path, team.name)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token(APIClient(), engine)}")
    return client


def finished(client, status_url: str):
    response = client.get(status_url)
    return response if response.status_code != 202 else None


def test_a_system_client_exports_its_team_through_a_real_worker(worker, team, engine_client, tmp_path):
    caregiver_patient = PatientFactory(care_team=team, user__username="rosa", display_name="Rosa")

    caregiver = CaregiverLinkFactory(patient=caregiver_patient, caregiver__username="marco").caregiver
    full = make_full_record(caregiver_patient, caregiver, ClinicianFactory(username="dr-b", team=team))
    others = [PatientFactory(care_team=team) for _ in range(3)]

    kick = engine_client.get(f"/fhir/Group/{team.pk}/$export", HTTP_PREFER="respond-async")
    assert kick.status_code == 202, kick.content
    status_url = kick["Content-Location"].removeprefix(BASE)
    response = wait_until(lambda: finished(engine_client, status_url), 60, 0.2)
    assert response is not None, worker.log_tail()
    assert response.status_code == 200, response.content
    manifest = response.json()
    assert manifest["requiresAccessToken"] is True
    files = {}
    for item in manifest["output"]:
        assert APIClient().get(item["url"].removeprefix(BASE)).status_code == 401
        body = engine_client.get(item["url"].removeprefix(BASE))
        lines = b"".join(body.streaming_content).decode().splitlines()
        files[item["type"]] = [validate(json.loads(line)) for line in lines]
    assert {p["id"] for p in files["Patient"]} == {str(full.patient.pk), *(str(p.pk) for p in others)}
    assert len(files["QuestionnaireResponse"]) == 4

    # _since: only what changed after the first export.
    since = timezone.now()
    time.sleep(0.01)
    client = APIClient()
    client.force_authenticate(full.patient.user)
    assert (
        client.patch(
            f"/api/v1/diary/checkins/{full.ids['full']}/", {"pain_now": 9}, format="json"
        ).status_code
        == 200
    )
    query = "?_since=" + since.isoformat().replace("+", "%2B") + "&_type=QuestionnaireResponse"
    kick = engine_client.get(f"/fhir/Group/{team.pk}/$export{query}", HTTP_PREFER="respond-async")
    status_url = kick["Content-Location"].removeprefix(BASE)
    response = wait_until(lambda: finished(engine_client, status_url), 60, 0.2)
    assert response is not None, worker.log_tail()
    assert response.status_code == 200, response.content
    (item,) = response.json()["output"]
    body = engine_client.get(item["url"].removeprefix(BASE))
    assert [json.loads(line)["id"] for line in b"".join(body.streaming_content).decode().splitlines()] == [
        full.ids["full"]
    ]

    # Cancel: the status URL and its files are gone.
    kick = engine_client.get(f"/fhir/Group/{team.pk}/$export", HTTP_PREFER="respond-async")
    status_url = kick["Content-Location"].removeprefix(BASE)
    assert engine_client.delete(status_url).status_code == 202
    assert engine_client.get(status_url).status_code == 404
    export = BulkExport.objects.get(pk=status_url.rsplit("/", 1)[1])
    # Whether the worker was done or not, nothing of a cancelled export stays on disk.
    assert wait_until(
        lambda: (
            BulkExport.objects.get(pk=export.pk).status == "cancelled"
            and not list((django_settings.MEDIA_ROOT / "bulk" / str(export.pk)).glob("*.ndjson"))
        ),
        30,
        0.2,
    ), worker.log_tail()


SECRET = "fhir-endpoint-secret-for-tests-0123"


def test_a_worker_killed_between_send_and_mark_repeats_the_referral_once_with_the_same_key(
    worker, broker, team
):

    receiver = WebhookReceiver(SECRET)
    try:
        services.save_fhir_endpoint(
            team=team, data={"url": receiver.url(), "secret": SECRET, "enabled": True}
        )
        patient = PatientFactory(care_team=team, user__username="rosa")
        receiver.delay = 3.0  # the hospital answers slowly: the POST has arrived, the mark waits
        client = APIClient()
        client.force_authenticate(patient.user)
        body = {
            "id": str(uuid.uuid4()),
            "recorded_at": timezone.now().isoformat(),
            "pain_now": 4,
            "wants_procedure_discussion": True,
        }
        assert client.post("/api/v1/diary/checkins/", body, format="json").status_code == 201
        assert wait_until(lambda: receiver.in_flight > 0, 60, 0.01), worker.log_tail()
        killed = worker.kill_child()
        receiver.delay = 0.0
        worker.wait_for_new_child(killed)
        beat = Beat(broker, [tasks.sweep_outbox])

        def sent() -> bool:
            beat.tick()
            return Notification.objects.filter(channel="fhir", status="sent").exists()

        assert wait_until(sent, 60, 0.2), worker.log_tail()
        row = Notification.objects.get(channel="fhir")
        assert receiver.key_counts() == {row.key: 2}
        first, second = receiver.received()
        assert first["signature_ok"]
        assert second["signature_ok"]
        assert first["body"] == second["body"]  # a repeat is the same notification
        assert first["body"]["entry"][1]["resource"]["resourceType"] == "ServiceRequest"
    finally:
        receiver.close()
