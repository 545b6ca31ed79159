"""The clinician's triage list: most urgent first, a page in a fixed number of queries."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from care import services
from care.models import Patient, PatientStatus, triage_key
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def post_checkins(api, patient, pains, **extra):
    now = timezone.now()
    items = [
        {
            "id": str(uuid.uuid4()),
            "recorded_at": (now - timedelta(days=i)).isoformat(),
            "pain_now": pain,
            **extra,
        }
        for i, pain in enumerate(pains)
    ]
    response = api(patient.user).post("/api/v1/sync/", {"checkins": items}, format="json")
    assert response.status_code == 200


def test_triage_puts_urgent_then_warnings_then_referrals_first(
    api, clinician, team, django_capture_on_commit_callbacks
):
    calm = PatientFactory(care_team=team, display_name="Anna calm")
    warning = PatientFactory(care_team=team, display_name="Bea warning", baseline_mme=60)
    urgent = PatientFactory(care_team=team, display_name="Carla urgent")
    with django_capture_on_commit_callbacks(execute=True):
        post_checkins(api, calm, [2, 2, 3])
        post_checkins(api, warning, [6, 6, 6])
        post_checkins(api, urgent, [3], red_flags=["saddle_numbness"])

    rows = api(clinician).get("/api/v1/patients/").json()["results"]

    assert [r["display_name"] for r in rows] == ["Carla urgent", "Bea warning", "Anna calm"]
    assert rows[0]["open_alerts"] == {"urgent": 1, "warning": 0, "info": 0}
    assert rows[1]["referral_status"] == "suggested"
    assert rows[1]["box2_criteria_met"] == [1]
    assert rows[1]["pain_today"] == 6
    assert rows[2]["open_alerts"] == {"urgent": 0, "warning": 0, "info": 0}
    assert rows[2]["last_checkin_at"] is not None


# A triage page: the user, the clinician's team ids (so that the page is one range of the
# (care_team, triage_key) index), the page of patients with their status rows, the audit.
TRIAGE_PAGE_QUERIES = 4


def test_a_triage_page_costs_the_same_queries_for_5_or_40_patients(
    api, clinician, team, django_capture_on_commit_callbacks
):
    def page_queries() -> int:
        client = api(clinician)
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/api/v1/patients/").status_code == 200
        return len(queries)

    for _ in range(5):
        PatientFactory(care_team=team)
    few = page_queries()
    for _ in range(35):
        with django_capture_on_commit_callbacks(execute=True):
            post_checkins(api, PatientFactory(care_team=team), [4])
    assert page_queries() == few == TRIAGE_PAGE_QUERIES


def test_following_next_walks_every_patient_once_even_with_more_than_a_thousand_ties(api, clinician, team):
    from datetime import date

    patients = Patient.objects.bulk_create(
        Patient(care_team=team, display_name=f"Patient {n:04d}", timezone="UTC", enrolled_on=date(2026, 1, 1))
        for n in range(1100)
    )
    PatientStatus.objects.bulk_create(
        PatientStatus(patient=p, care_team=team, triage_key=triage_key(0, 0, None, p.display_name, p.pk))
        for p in patients
    )
    client = api(clinician)
    seen, url = [], "/api/v1/patients/?page_size=100"
    while url:
        page = client.get(url).json()
        seen += [row["display_name"] for row in page["results"]]
        url = page["next"]

    assert seen == sorted(p.display_name for p in patients)


def test_the_next_link_carries_no_patient_name(api, clinician, team):
    import base64
    from urllib.parse import parse_qs, urlparse

    for name in ["Maria Rossi", "Anna Bianchi", "Zeno Verdi"]:
        PatientFactory(care_team=team, display_name=name)

    page = api(clinician).get("/api/v1/patients/?page_size=1").json()
    cursor = parse_qs(urlparse(page["next"]).query)["cursor"][0]
    decoded = base64.urlsafe_b64decode(cursor).decode()

    assert page["results"][0]["display_name"] == "Anna Bianchi"
    assert "anna" not in decoded.lower()
    assert "616e6e61" not in decoded  # nor the name's hex
    assert api(clinician).get(page["next"]).json()["results"][0]["display_name"] == "Maria Rossi"


def test_a_patient_moved_to_another_team_leaves_one_triage_list_for_the_other(
    api, clinician, team, other_team, other_team_clinician
):

    patient = PatientFactory(care_team=team, display_name="Moving Patient")
    services.update_patient(patient=patient, data={"care_team": other_team})

    def names(user) -> list[str]:
        return [row["display_name"] for row in api(user).get("/api/v1/patients/").json()["results"]]

    assert "Moving Patient" not in names(clinician)
    assert "Moving Patient" in names(other_team_clinician)
