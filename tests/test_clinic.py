"""The clinician web pages: log in, see the triage list, open a patient, act on an alert."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import Alert
from care.models import AccessEvent
from tests.factories import PASSWORD, PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def urgent_patient(api, team, django_capture_on_commit_callbacks):
    """A patient of `team` who just reported a red flag."""
    patient = PatientFactory(care_team=team, display_name="Carla")
    body = {
        "id": str(uuid.uuid4()),
        "recorded_at": (timezone.now() - timedelta(minutes=5)).isoformat(),
        "pain_now": 6,
        "red_flags": ["saddle_numbness"],
    }
    with django_capture_on_commit_callbacks(execute=True):
        assert api(patient.user).post("/api/v1/diary/checkins/", body, format="json").status_code == 201
    return patient


def login(client, user):
    response = client.post("/clinic/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302, response.content
    return client


def test_a_clinician_logs_in_and_sees_the_urgent_patient_first(client, clinician, patient, urgent_patient):
    login(client, clinician)
    page = client.get("/clinic/").content.decode()
    assert page.index("Carla") < page.index("Rosa")
    assert 'class="sev sev-urgent"' in page
    assert AccessEvent.objects.filter(actor=clinician, path="/clinic/").exists()


def test_a_patient_cannot_log_in_to_the_clinic_pages(client, patient):
    response = client.post("/clinic/login/", {"username": patient.user.username, "password": PASSWORD})
    assert response.status_code == 200
    assert "Only clinicians" in response.content.decode()
    assert client.get("/clinic/").status_code == 302


def test_the_patient_page_draws_the_pain_trend(client, clinician, urgent_patient):
    login(client, clinician)
    page = client.get(f"/clinic/patients/{urgent_patient.pk}/").content.decode()
    assert "<svg" in page
    assert "polyline" in page
    assert "Red flag reported" in page


def test_another_teams_patient_is_not_found(client, other_team_clinician, urgent_patient):
    login(client, other_team_clinician)
    assert client.get(f"/clinic/patients/{urgent_patient.pk}/").status_code == 404
    alert = Alert.objects.get(patient=urgent_patient)
    assert client.get(f"/clinic/alerts/{alert.pk}/").status_code == 404
    assert client.post(f"/clinic/alerts/{alert.pk}/acknowledge/").status_code == 404


def test_acknowledging_then_resolving_from_the_alert_page(client, clinician, urgent_patient):
    login(client, clinician)
    alert = Alert.objects.get(patient=urgent_patient)
    assert alert.escalation_due_at is not None

    client.post(f"/clinic/alerts/{alert.pk}/acknowledge/", {"note": "called the patient"})
    alert.refresh_from_db()
    assert alert.status == "acknowledged"
    assert alert.escalation_due_at is None

    response = client.post(f"/clinic/alerts/{alert.pk}/resolve/", {"resolution": ""}, follow=True)
    assert "Say how the alert was resolved" in response.content.decode()
    client.post(f"/clinic/alerts/{alert.pk}/resolve/", {"resolution": "MRI booked, no compression"})
    alert.refresh_from_db()
    assert alert.status == "resolved"
    kinds = list(alert.events.values_list("kind", flat=True))
    assert kinds[-2:] == ["acknowledged", "resolved"]


def test_the_web_login_shares_the_api_lockout(client, clinician, settings):
    for _ in range(settings.LOGIN_MAX_FAILURES):
        client.post("/clinic/login/", {"username": clinician.username, "password": "wrong"})
    response = client.post("/clinic/login/", {"username": clinician.username, "password": PASSWORD})
    assert response.status_code == 200  # the form again, not a redirect
    assert client.get("/clinic/").status_code == 302


def test_acknowledging_twice_from_two_tabs_says_so_instead_of_failing(client, clinician, urgent_patient):
    login(client, clinician)
    alert = Alert.objects.get(patient=urgent_patient)
    client.post(f"/clinic/alerts/{alert.pk}/acknowledge/", {"note": "first tab"})
    response = client.post(f"/clinic/alerts/{alert.pk}/acknowledge/", {"note": "second tab"}, follow=True)
    assert response.status_code == 200
    assert "Only an open alert can be acknowledged" in response.content.decode()
    assert alert.events.filter(kind="acknowledged").count() == 1


def test_the_triage_page_pages_through_a_large_team_with_next_and_previous(client, clinician, team):
    import re

    for n in range(55):
        PatientFactory(care_team=team, display_name=f"Paziente {n:02d}")
    login(client, clinician)

    def names(html: str) -> list[str]:
        return re.findall(r">(Paziente \d\d)</a>", html)

    first = client.get("/clinic/").content.decode()
    assert names(first) == [f"Paziente {n:02d}" for n in range(50)]
    assert "Previous" not in first
    next_url = re.search(r'href="([^"]*cursor=[^"]*)">Next<', first).group(1).replace("&amp;", "&")

    second = client.get(next_url).content.decode()
    assert names(second) == [f"Paziente {n:02d}" for n in range(50, 55)]
    assert ">Next<" not in second
    previous_url = re.search(r'href="([^"]*)">Previous<', second).group(1).replace("&amp;", "&")
    assert names(client.get(previous_url).content.decode()) == names(first)


def test_a_forged_triage_cursor_is_a_404(client, clinician, patient):
    login(client, clinician)
    assert client.get("/clinic/?cursor=bm90LWEtY3Vyc29y").status_code == 404
