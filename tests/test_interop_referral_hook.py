"""Automated referral pathway: a referral recommendation created or changed reaches the
team's FHIR endpoint as a Subscriptions R4 Backport rest-hook notification, signed, once
per change, through the outbox; a private destination is refused at send time."""

from __future__ import annotations

import socket
import uuid

import pytest
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle

from alerts import outbox
from alerts.models import Notification, ReferralRecommendation
from interop import services
from interop.models import FhirEndpoint
from interop.validation import validate
from tests.reliability_helpers import WebhookReceiver

pytestmark = pytest.mark.django_db
SECRET = "fhir-endpoint-secret-for-tests-0123"
BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition"


@pytest.fixture
def receiver(settings):
    """The hospital's FHIR endpoint, here on 127.0.0.1 (allowed by the test-only setting)."""
    settings.OUTBOUND_ALLOW_LOOPBACK = True
    server = WebhookReceiver(SECRET)
    yield server
    server.close()


def register(team, url: str) -> FhirEndpoint:
    # Saved directly: the API refuses a loopback or private URL when it is saved.
    return services.save_fhir_endpoint(team=team, data={"url": url, "secret": SECRET, "enabled": True})


def wish_for_a_procedure(api, patient, capture):
    """The patient asks to discuss a procedure (Box 2 #9): a referral is recommended."""
    body = {
        "id": str(uuid.uuid4()),
        "recorded_at": timezone.now().isoformat(),
        "pain_now": 4,
        "wants_procedure_discussion": True,
    }
    with capture(execute=True):
        assert api(patient.user).post("/api/v1/diary/checkins/", body, format="json").status_code == 201
    return ReferralRecommendation.objects.get(patient=patient)


def params_of(request: dict) -> dict:
    return {p["name"]: p for p in request["body"]["entry"][0]["resource"]["parameter"]}


def check_notification(request: dict, referral: ReferralRecommendation) -> dict:
    assert request["signature_ok"]
    bundle = request["body"]
    Bundle.model_validate(bundle)
    assert bundle["type"] == "history"
    assert bundle["meta"]["profile"] == [f"{BACKPORT}/backport-subscription-notification-r4"]
    status, service_request = (entry["resource"] for entry in bundle["entry"])
    validate(status)
    validate(service_request)
    assert status["resourceType"] == "Parameters"
    assert status["meta"]["profile"] == [f"{BACKPORT}/backport-subscription-status-r4"]
    params = {p["name"]: p for p in status["parameter"]}
    assert params["type"]["valueCode"] == "event-notification"
    assert params["topic"]["valueCanonical"].endswith("/fhir/SubscriptionTopic/referral-recommendation")
    event = {p["name"]: p for p in params["notification-event"]["part"]}
    assert event["focus"]["valueReference"]["reference"] == bundle["entry"][1]["fullUrl"]
    assert service_request["resourceType"] == "ServiceRequest"
    assert service_request["id"] == str(referral.pk)
    return service_request


def test_a_new_referral_and_its_acceptance_reach_the_hospital_signed_once_each(
    api, patient, clinician, other_team_clinician, team, receiver, django_capture_on_commit_callbacks
):
    register(team, receiver.url())
    referral = wish_for_a_procedure(api, patient, django_capture_on_commit_callbacks)
    (first,) = receiver.received()
    request = check_notification(first, referral)
    assert (request["status"], request["intent"]) == ("active", "proposal")

    with django_capture_on_commit_callbacks(execute=True):
        assert api(clinician).post(f"/api/v1/referrals/{referral.pk}/accept/").status_code == 200
    first, second = receiver.received()
    request = check_notification(second, referral)
    assert (request["status"], request["intent"]) == ("active", "order")
    rows = Notification.objects.filter(channel="fhir").order_by("created_at")
    assert [r.status for r in rows] == ["sent", "sent"]
    assert [first["key"], second["key"]] == [r.key for r in rows]
    # The Subscription the notifications name reads for the team's clinicians.
    subscription = params_of(first)["subscription"]["valueReference"]["reference"]
    response = api(clinician).get(subscription.removeprefix("http://127.0.0.1:8000"))
    assert response.status_code == 200
    assert validate(response.json())["channel"]["endpoint"] == receiver.url()
    assert response.json()["criteria"].endswith("/fhir/SubscriptionTopic/referral-recommendation")
    assert (
        api(other_team_clinician).get(subscription.removeprefix("http://127.0.0.1:8000")).status_code == 404
    )
    numbers = [
        next(
            p["valueString"]
            for p in r["body"]["entry"][0]["resource"]["parameter"]
            if p["name"] == "events-since-subscription-start"
        )
        for r in (first, second)
    ]
    assert numbers == ["1", "2"]


def test_a_delivery_repeated_after_a_lost_mark_carries_the_same_key(
    api, patient, team, receiver, django_capture_on_commit_callbacks, settings
):
    """At least once: a row left in `sending` (its worker died after the POST) is sent
    again with the same Idempotency-Key, for the receiver to drop."""
    register(team, receiver.url())
    wish_for_a_procedure(api, patient, django_capture_on_commit_callbacks)
    row = Notification.objects.get(channel="fhir")
    abandoned = timezone.now() - timezone.timedelta(seconds=settings.NOTIFICATION_CLAIM_TIMEOUT_SECONDS + 1)
    Notification.objects.filter(pk=row.pk).update(status="sending", claimed_at=abandoned)
    assert outbox.deliver(row.pk) == "sent"
    assert receiver.key_counts() == {row.key: 2}


def test_no_endpoint_no_notification(api, patient, django_capture_on_commit_callbacks):
    wish_for_a_procedure(api, patient, django_capture_on_commit_callbacks)
    assert not Notification.objects.filter(channel="fhir").exists()


@pytest.mark.parametrize(
    "url", ["https://10.0.0.7/fhir", "https://localhost/fhir", "http://ehr.example/fhir"]
)
def test_a_private_or_plain_http_endpoint_is_refused_at_send_time(
    api, patient, team, url, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.NOTIFICATION_MAX_ATTEMPTS = 1

    def no_connection(*args, **kwargs):
        raise AssertionError("a connection was attempted")

    monkeypatch.setattr(socket, "create_connection", no_connection)
    register(team, url)
    wish_for_a_procedure(api, patient, django_capture_on_commit_callbacks)
    row = Notification.objects.get(channel="fhir")
    assert row.status == "dead"
    assert any(reason in row.last_error for reason in ("private address", "loopback", "https"))


def test_a_team_admin_registers_the_endpoint_https_and_public_only(api, team_admin, team):
    client = api(team_admin)
    url = f"/api/v1/teams/{team.pk}/fhir-endpoint/"
    assert client.get(url).json()["has_secret"] is False
    for bad in (
        "http://ehr.example/fhir",
        "https://192.168.1.10/fhir",
        "https://[::1]/fhir",
        "https://localhost/x",
    ):
        response = client.put(url, {"url": bad, "secret": SECRET, "enabled": True}, format="json")
        assert response.status_code == 400, bad
        assert "url" in response.json()["errors"]
    response = client.put(
        url, {"url": "https://ehr.hospital.example/fhir", "secret": SECRET, "enabled": True}, format="json"
    )
    assert response.status_code == 200
    body = client.get(url).json()
    assert body["has_secret"] is True
    assert "secret" not in body
    assert FhirEndpoint.objects.get(team=team).secret == SECRET
