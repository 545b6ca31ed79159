"""What every endpoint owes a client: the error shape, size limits, language, health, docs."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import translation

from backend.heartbeat import record_heartbeat
from backend.urls import urlpatterns  # noqa: F401 - this module doubles as a URLconf below
from care.models import Device, Patient
from tests.conftest import needs_service

pytestmark = pytest.mark.django_db

# For test_an_unknown_api_url_answers_json_but_pages_keep_djangos_404: the project's URLs
# with the JSON 404 handler of backend/errors.py.
handler404 = "backend.errors.not_found"


def test_malformed_json_is_a_400_in_the_api_error_shape(api, patient):
    response = api(patient.user).patch("/api/v1/me/", '{"language": ', content_type="application/json")

    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"errors", "detail"}
    assert body["errors"]["body"]
    assert body["detail"]


def test_wrong_types_are_a_400_naming_each_field_by_its_path(api, clinician, team):
    body = {
        "display_name": "Nadia",
        "care_team": str(team.pk),
        "timezone": "Europe/Rome",
        "limited_prognosis": "perhaps",
        "baseline_mme": "a lot",
        "idds": {"lockout_minutes": "soon", "max_daily_boluses": 4},
    }

    response = api(clinician).post("/api/v1/patients/", body, format="json")

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"limited_prognosis", "baseline_mme", "idds.lockout_minutes"}
    assert all(isinstance(m, str) for messages in response.json()["errors"].values() for m in messages)
    assert not Patient.objects.filter(display_name="Nadia").exists()


def test_a_json_body_that_is_not_an_object_is_a_400(api, patient):
    response = api(patient.user).patch("/api/v1/me/", "[1, 2]", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["errors"]


@override_settings(MAX_REQUEST_BODY_BYTES=1000)
def test_a_body_over_the_limit_is_a_413_and_is_not_read(api, patient):
    body = json.dumps({"platform": "fcm", "token": "t" * 1000})

    response = api(patient.user).post("/api/v1/devices/", body, content_type="application/json")

    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"]
    assert not Device.objects.exists()


def test_a_body_at_the_limit_is_accepted(api, patient):
    token = "t" * 400
    body = json.dumps({"platform": "fcm", "token": token})
    with override_settings(MAX_REQUEST_BODY_BYTES=len(body.encode())):
        response = api(patient.user).post("/api/v1/devices/", body, content_type="application/json")

    assert response.status_code == 201


def test_a_form_encoded_body_is_a_415_not_a_500(api, patient):
    response = api(patient.user).patch(
        "/api/v1/me/", "language=it", content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 415
    assert response.json()["detail"]


def test_an_unsupported_method_is_a_405(api, clinician, patient):
    response = api(clinician).delete(f"/api/v1/patients/{patient.pk}/")

    assert response.status_code == 405
    assert response.json()["detail"]


def italian(message: str) -> str:
    with translation.override("it"):
        return translation.gettext(message)


def test_italian_is_spoken_when_asked_for(api, patient, anonymous):
    unauthenticated = anonymous.get("/api/v1/me/", HTTP_ACCEPT_LANGUAGE="it")
    devices = "/api/v1/devices/"
    missing = api(patient.user).post(devices, {"platform": "fcm"}, format="json", HTTP_ACCEPT_LANGUAGE="it")
    english = api(patient.user).post(devices, {"platform": "fcm"}, format="json", HTTP_ACCEPT_LANGUAGE="en")

    # DRF's own messages, in whichever Italian catalog wins (the project's overrides DRF's).
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["detail"] == italian("Authentication credentials were not provided.")
    assert missing.json()["errors"]["token"] == [italian("This field is required.")]
    assert english.json()["errors"]["token"] == ["This field is required."]
    assert italian("This field is required.") != "This field is required."


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/patients/not.a.uuid/"),
        ("POST", "/api/v1/patients/not.a.uuid/invites/"),
        ("GET", "/api/v1/patients/not.a.uuid/caregivers/"),
        ("DELETE", "/api/v1/patients/x/caregivers/y/"),
    ],
)
def test_a_malformed_id_is_a_json_404(api, clinician, method, path):
    response = api(clinician).generic(method, path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"


@pytest.mark.urls(__name__)
def test_an_unknown_api_url_answers_json_but_pages_keep_djangos_404(client):
    api_response = client.get("/api/v1/no-such-thing/")
    page = client.get("/no-such-page/")

    assert (api_response.status_code, api_response["Content-Type"]) == (404, "application/json")
    assert api_response.json()["detail"]
    assert (page.status_code, page["Content-Type"].split(";")[0]) == (404, "text/html")


def test_healthz_answers_200_when_the_database_answers(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["checks"]["database"] is True
    assert response.json()["failing"] == []


@override_settings(CELERY_TASK_ALWAYS_EAGER=False, CELERY_BROKER_URL="redis://127.0.0.1:1/0")
def test_healthz_answers_503_naming_the_broker_when_it_is_down(client):
    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["failing"] == ["broker", "worker"]  # no broker, so no heartbeat either
    assert response.json()["checks"] == {"database": True, "broker": False, "worker": False}


@needs_service("a Redis broker", settings.CELERY_BROKER_URL.startswith("redis://"))
def test_healthz_asks_the_configured_broker_when_tasks_are_not_eager(client):
    record_heartbeat()  # a worker ran beat's heartbeat just now
    with override_settings(CELERY_TASK_ALWAYS_EAGER=False):
        response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["checks"]["broker"] is True


@pytest.mark.parametrize(
    "path", ["/api/v1/schema/", "/api/v1/schema/?format=json", "/api/v1/docs/", "/api/v1/redoc/"]
)
def test_the_schema_and_the_docs_are_served(client, path):
    response = client.get(path)

    assert response.status_code == 200
    assert response.content


def test_the_schema_documents_the_error_answers(client):
    schema = client.get("/api/v1/schema/?format=json").json()

    patient = schema["paths"]["/api/v1/patients/{id}/"]
    login = schema["paths"]["/api/v1/auth/token/"]["post"]["responses"]
    assert set(patient["get"]["responses"]) >= {"200", "401", "403", "404"}
    assert set(patient["patch"]["responses"]) >= {"200", "400", "401", "403", "404", "413"}
    assert set(login) >= {"200", "400", "401", "429"}
    assert patient["patch"]["responses"]["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ValidationErrorBody"
    }
