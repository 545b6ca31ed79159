"""The Django admin: the most powerful login, and reads of health data by an admin."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from care.models import AccessEvent, Patient, PatientStatus, Role
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user():
    """A superuser: sees everything in the admin, and every look is audited."""
    return UserFactory(username="root", role=Role.ADMIN, is_staff=True, is_superuser=True)


def test_the_admin_login_locks_after_repeated_failures_like_the_api(client, admin_user, settings):
    for _ in range(settings.LOGIN_MAX_FAILURES):
        client.post("/admin/login/", {"username": "root", "password": "wrong"})
    client.post("/admin/login/", {"username": "root", "password": PASSWORD})
    assert client.get("/admin/").status_code == 302  # still not logged in


def test_the_admin_login_answers_429_to_a_flood_from_one_address(admin_user, settings):
    from rest_framework.throttling import SimpleRateThrottle

    allowed, _ = SimpleRateThrottle.parse_rate(
        None, settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["auth"]
    )
    client = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(allowed):
        client.post("/admin/login/", {"username": "nobody", "password": "x"})
    flooded = client.post("/admin/login/", {"username": "root", "password": PASSWORD})
    assert flooded.status_code == 429
    assert int(flooded["Retry-After"]) > 0


def test_an_admin_reading_patients_is_audited(client, admin_user, patient):
    client.force_login(admin_user)
    assert client.get("/admin/care/patient/").status_code == 200
    assert client.get(f"/admin/care/patient/{patient.pk}/change/").status_code == 200
    paths = list(AccessEvent.objects.filter(actor=admin_user).values_list("path", "patient_ids"))
    assert ("/admin/care/patient/", [str(patient.pk)]) in paths
    assert (f"/admin/care/patient/{patient.pk}/change/", [str(patient.pk)]) in paths


def test_disabling_an_account_in_the_admin_revokes_its_refresh_tokens(client, admin_user, patient):
    phone = APIClient()
    refresh = phone.post(
        "/api/v1/auth/token/", {"username": patient.user.username, "password": PASSWORD}, format="json"
    ).json()["refresh"]
    client.force_login(admin_user)
    form = client.get(f"/admin/care/user/{patient.user.pk}/change/").context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and not isinstance(v, list | tuple)}
    data.update(is_active="", role=Role.PATIENT, language="en", timezone="UTC", failed_logins=0)
    data["date_joined_0"], data["date_joined_1"] = "2026-01-01", "00:00:00"
    response = client.post(f"/admin/care/user/{patient.user.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors

    patient.user.refresh_from_db()
    assert not patient.user.is_active
    patient.user.is_active = True  # even re-enabled, the old session stays dead
    patient.user.save()
    assert phone.post("/api/v1/auth/token/refresh/", {"refresh": refresh}, format="json").status_code == 401


def test_a_patient_added_in_the_admin_gets_a_triage_row(client, admin_user, team):

    client.force_login(admin_user)
    response = client.post(
        "/admin/care/patient/add/",
        {
            "care_team": team.pk,
            "display_name": "Added by admin",
            "timezone": "Europe/Rome",
            "language": "it",
            "enrolled_on": "2026-01-01",
            "idds_lockout_minutes": "",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    patient = Patient.objects.get(display_name="Added by admin")
    assert PatientStatus.objects.get(patient=patient).triage_key.endswith(patient.pk.hex)
