"""Referral: accept, decline with a reason, complete from the patient page; the summary
as one printable page and as a PDF, both audited, both 404 for another team."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from alerts.models import ReferralRecommendation
from care.models import AccessEvent
from tests.alerts_helpers import post_days
from tests.clinic_signin import sign_in
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def referred(api, team, django_capture_on_commit_callbacks):
    """Lia: pain 8 two days running (Box 2 #5), a substance use history (#7) and a wish (#9)."""
    lia = PatientFactory(care_team=team, display_name="Lia Ferri", substance_use_history=True)
    with django_capture_on_commit_callbacks(execute=True):
        post_days(api(lia.user), lia, {1: 8, 0: 9}, wants_fewer_medications=True)
    assert ReferralRecommendation.objects.filter(patient=lia, status="suggested").exists()
    return lia


def test_accept_then_complete_from_the_patient_page(client, clinician, referred):
    sign_in(client, clinician)
    referral = ReferralRecommendation.objects.get(patient=referred)
    page = client.get(f"/clinic/patients/{referred.pk}/").content.decode()
    assert 'id="referral-accept"' in page
    client.post(f"/clinic/referrals/{referral.pk}/accept/")
    referral.refresh_from_db()
    assert referral.status == "accepted"
    assert referral.decided_by == clinician
    response = client.post(f"/clinic/referrals/{referral.pk}/accept/", follow=True)
    assert "already moved on" in response.content.decode()
    client.post(f"/clinic/referrals/{referral.pk}/complete/")
    referral.refresh_from_db()
    assert referral.status == "completed"


def test_declining_needs_a_reason(client, clinician, referred):
    sign_in(client, clinician)
    referral = ReferralRecommendation.objects.get(patient=referred)
    response = client.post(f"/clinic/referrals/{referral.pk}/decline/", {"reason": ""}, follow=True)
    assert "Say why the referral is declined." in response.content.decode()
    referral.refresh_from_db()
    assert referral.status == "suggested"
    client.post(
        f"/clinic/referrals/{referral.pk}/decline/", {"reason": "Already followed by palliative care"}
    )
    referral.refresh_from_db()
    assert referral.status == "declined"
    assert referral.decline_reason == "Already followed by palliative care"


def test_the_summary_page_has_every_section_and_is_audited(client, clinician, referred):
    sign_in(client, clinician)
    response = client.get(f"/clinic/patients/{referred.pk}/referral/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "Lia Ferri" in page
    assert "Rapidly worsening pain (Box 2 #5)" in page
    assert "History of substance use disorder (Box 2 #7)" in page
    assert "Day pain 8 or more on two days in a row." in page
    assert 'id="day-chart"' in page
    for heading in (
        "Medications and morphine equivalents",
        "Side effects",
        "Pump boluses (PTA)",
        "Symptom clusters",
        "The patient's wishes (Box 2 #9)",
    ):
        assert heading in page
    assert "wants fewer medications" in page
    assert AccessEvent.objects.filter(
        actor=clinician, path=f"/clinic/patients/{referred.pk}/referral/"
    ).exists()


def test_the_pdf_holds_the_criteria_and_the_name(client, clinician, referred):
    sign_in(client, clinician)
    response = client.get(f"/clinic/patients/{referred.pk}/referral.pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    assert len(reader.pages) == 1  # one A4 page
    text = " ".join(page.extract_text() for page in reader.pages)
    assert "Lia Ferri" in text
    assert "Box 2 #5" in text
    assert "Box 2 #7" in text
    assert AccessEvent.objects.filter(
        actor=clinician, path=f"/clinic/patients/{referred.pk}/referral.pdf"
    ).exists()


def test_the_summary_is_italian_for_an_italian_clinician(client, clinician, referred):
    clinician.language = "it"
    clinician.save()
    sign_in(client, clinician)
    page = client.get(f"/clinic/patients/{referred.pk}/referral/").content.decode()
    assert "Invio al servizio di terapia del dolore" in page


def test_no_summary_without_a_referral_and_none_for_another_team(
    client, clinician, other_team_clinician, patient, referred
):
    sign_in(client, clinician)
    assert client.get(f"/clinic/patients/{patient.pk}/referral/").status_code == 404
    client.post("/clinic/logout/")
    sign_in(client, other_team_clinician)
    referral = ReferralRecommendation.objects.get(patient=referred)
    assert client.get(f"/clinic/patients/{referred.pk}/referral/").status_code == 404
    assert client.get(f"/clinic/patients/{referred.pk}/referral.pdf").status_code == 404
    assert client.post(f"/clinic/referrals/{referral.pk}/accept/").status_code == 404
