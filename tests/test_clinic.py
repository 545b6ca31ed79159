"""The clinician web pages: log in, see the triage list, open a patient, act on an alert."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import Alert, ReferralRecommendation
from care.models import AccessEvent
from tests.clinic_signin import sign_in
from tests.factories import PASSWORD, CaregiverLinkFactory, PatientFactory

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
    return sign_in(client, user)


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
    assert response.status_code == 200  # the form again, not a redirect to the second step
    assert client.get("/clinic/").status_code == 302


def test_acknowledging_twice_from_two_tabs_says_so_instead_of_failing(client, clinician, urgent_patient):
    login(client, clinician)
    alert = Alert.objects.get(patient=urgent_patient)
    client.post(f"/clinic/alerts/{alert.pk}/acknowledge/", {"note": "first tab"})
    response = client.post(f"/clinic/alerts/{alert.pk}/acknowledge/", {"note": "second tab"}, follow=True)
    assert response.status_code == 200
    assert "Only an open alert can be acknowledged" in response.content.decode()
    assert alert.events.filter(kind="acknowledged").count() == 1


def test_a_clinician_of_another_team_gets_404_on_every_page_of_a_foreign_patient(
    client, other_team_clinician, urgent_patient, caregiver_link_of
):

    alert = Alert.objects.get(patient=urgent_patient)
    referral = ReferralRecommendation.objects.create(patient=urgent_patient, criteria=[])
    link = caregiver_link_of(urgent_patient)
    p = urgent_patient.pk
    gets = [
        f"/clinic/patients/{p}/",
        f"/clinic/patients/{p}/referral/",
        f"/clinic/patients/{p}/referral.pdf",
        f"/clinic/alerts/{alert.pk}/",
    ]
    posts = [
        f"/clinic/patients/{p}/context/",
        f"/clinic/patients/{p}/invite/",
        f"/clinic/patients/{p}/caregiver-invite/",
        f"/clinic/patients/{p}/caregivers/{link.pk}/revoke/",
        f"/clinic/alerts/{alert.pk}/acknowledge/",
        f"/clinic/alerts/{alert.pk}/resolve/",
        f"/clinic/referrals/{referral.pk}/accept/",
        f"/clinic/referrals/{referral.pk}/decline/",
        f"/clinic/referrals/{referral.pk}/complete/",
    ]
    login(client, other_team_clinician)
    for url in gets:
        assert client.get(url).status_code == 404, url
    for url in posts:
        assert client.post(url, {"reason": "x", "resolution": "x", "note": "x"}).status_code == 404, url
    assert "No patient matches these filters." in client.get("/clinic/?q=Carla").content.decode()
    assert not AccessEvent.objects.filter(patient_ids__icontains=str(p)).exists()


@pytest.fixture
def caregiver_link_of():

    return lambda patient: CaregiverLinkFactory(patient=patient)
