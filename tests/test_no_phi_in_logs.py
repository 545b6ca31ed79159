"""Health data and secrets never reach the logs, whatever happens (ASVS 16.2.5)."""

from __future__ import annotations

import logging

import pytest
from rest_framework.test import APIClient

from tests.diary_helpers import checkin_body
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

CANARY = "CANARY-Maria-Rossi-via-Roma-7"


def test_a_day_of_diary_alerts_and_failures_logs_no_note_password_or_token(
    api, patient, clinician, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)
    anonymous = APIClient()
    tokens = anonymous.post(
        "/api/v1/auth/token/", {"username": patient.user.username, "password": PASSWORD}, format="json"
    ).json()
    anonymous.post(
        "/api/v1/auth/token/", {"username": patient.user.username, "password": CANARY}, format="json"
    )
    client = api(patient.user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/api/v1/diary/checkins/",
            checkin_body(pain_now=9, note=CANARY, red_flags=["sleepy_slow_breathing"]),
            format="json",
        )
        client.post("/api/v1/diary/checkins/", checkin_body(pain_now=11, note=CANARY), format="json")
        client.post("/api/v1/sync/", {"checkins": [checkin_body(pain_now="x", note=CANARY)]}, format="json")
    api(clinician).get(f"/api/v1/patients/{patient.pk}/export.csv")

    logged = caplog.text
    assert caplog.records  # the flow did log (requests, tasks)
    for secret in (CANARY, PASSWORD, tokens["access"], tokens["refresh"], patient.display_name):
        assert secret not in logged
