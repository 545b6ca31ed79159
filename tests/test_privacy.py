"""A patient's own data: export all of it, or withdraw consent and be erased."""

from __future__ import annotations

import pytest

from alerts.models import Alert, ReferralRecommendation
from care.models import AccessEvent, CaregiverLink, Patient, PatientStatus, User
from diary.models import CheckIn
from tests.diary_helpers import checkin_body
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

CANARY = "Rossi from via Garibaldi 12 came to help"


@pytest.fixture
def diary(api, patient, other_patient, django_capture_on_commit_callbacks):
    """`patient` wrote a note naming someone and reported a red flag; `other_patient` wrote too."""
    with django_capture_on_commit_callbacks(execute=True):
        mine = checkin_body(pain_now=6, note=CANARY, red_flags=["saddle_numbness"])
        assert api(patient.user).post("/api/v1/diary/checkins/", mine, format="json").status_code == 201
        theirs = checkin_body(pain_now=2)
        assert (
            api(other_patient.user).post("/api/v1/diary/checkins/", theirs, format="json").status_code == 201
        )
    return mine, theirs


def test_the_export_holds_all_of_my_records_and_none_of_anyone_elses(api, patient, caregiver, diary):
    mine, theirs = diary
    body = api(patient.user).get("/api/v1/me/export/").json()

    assert [r["id"] for r in body["records"]["checkin"]] == [mine["id"]]
    assert body["records"]["checkin"][0]["note"] == CANARY
    assert body["patient"]["id"] == str(patient.pk)
    assert [link["caregiver_username"] for link in body["caregivers"]] == ["marco"]
    assert [a["rule"] for a in body["alerts"]] == ["red_flag"]
    assert theirs["id"] not in str(body)
    # The FHIR Bundle of the clinicians' export, from the same mapping.
    fhir = {(e["resource"]["resourceType"], e["resource"]["id"]) for e in body["fhir"]["entry"]}
    assert ("QuestionnaireResponse", mine["id"]) in fhir
    assert ("Patient", str(patient.pk)) in fhir


def test_erasure_needs_the_password_and_a_confirmation(api, patient, diary):
    client = api(patient.user)
    wrong = client.post("/api/v1/me/erase/", {"password": "nope", "confirm": True}, format="json")
    unconfirmed = client.post("/api/v1/me/erase/", {"password": PASSWORD, "confirm": False}, format="json")

    assert wrong.status_code == 400
    assert "password" in wrong.json()["errors"]
    assert unconfirmed.status_code == 400
    assert Patient.objects.get(pk=patient.pk).withdrawn_at is None


def test_withdrawing_consent_erases_what_identifies_me_and_stops_collection(
    api, patient, caregiver, clinician, diary
):
    client = api(patient.user)
    response = client.post("/api/v1/me/erase/", {"password": PASSWORD, "confirm": True}, format="json")
    assert response.status_code == 200

    patient.refresh_from_db()
    user = User.objects.get(pk=patient.user_id)
    assert patient.withdrawn_at is not None
    assert patient.display_name.startswith("withdrawn-")
    assert not user.is_active
    assert user.username == patient.display_name
    assert not CheckIn.objects.filter(note__contains="Rossi").exists()
    assert CheckIn.objects.filter(patient=patient, pain_now=6).exists()  # the clinical value stays
    assert not CaregiverLink.objects.filter(patient=patient, revoked_at__isnull=True).exists()
    assert not Alert.objects.filter(patient=patient).unresolved().exists()
    status = PatientStatus.objects.get(patient=patient)
    assert status.open_urgent == 0
    assert "rosa" not in status.triage_key.lower()
    assert AccessEvent.objects.filter(path="/api/v1/me/erase/", patient_ids=[str(patient.pk)]).exists()

    # The old token is dead, the caregiver lost access, and a clinician can add nothing.
    assert client.get("/api/v1/me/").status_code == 401
    assert api(caregiver).get(f"/api/v1/patients/{patient.pk}/").status_code == 404
    late = checkin_body(pain_now=5) | {"patient": str(patient.pk)}
    assert api(clinician).post("/api/v1/diary/checkins/", late, format="json").status_code == 403


def test_a_withdrawn_patients_records_can_no_longer_be_corrected_or_retracted(api, patient, clinician, diary):
    record = CheckIn.objects.filter(patient=patient).first()
    api(patient.user).post("/api/v1/me/erase/", {"password": PASSWORD, "confirm": True}, format="json")
    nurse = api(clinician)
    url = f"/api/v1/diary/checkins/{record.pk}/"

    corrected = nurse.patch(url, {"pain_now": 2}, format="json", HTTP_ACCEPT_LANGUAGE="it")
    retracted = nurse.post(url + "retract/", {"reason": "typo"}, format="json")

    assert (corrected.status_code, retracted.status_code) == (403, 403)
    assert "consenso" in corrected.json()["detail"]  # said in Italian, not a bare 403
    record.refresh_from_db()
    assert (record.pain_now, record.status, record.version) == (6, "active", 1)
    assert nurse.get(url).status_code == 200  # the team still reads what was kept


def test_an_accepted_referral_ends_declined_when_the_patient_withdraws(api, patient, clinician):
    referral = ReferralRecommendation.objects.create(patient=patient, status="accepted")

    api(patient.user).post("/api/v1/me/erase/", {"password": PASSWORD, "confirm": True}, format="json")

    referral.refresh_from_db()
    assert (referral.status, referral.decline_reason) == ("declined", "Consent withdrawn by the patient.")
    assert PatientStatus.objects.get(patient=patient).referral_status == ""


def test_in_delete_mode_the_diary_goes_too(api, patient, other_patient, diary, settings):
    settings.ERASURE_MODE = "delete"
    client = api(patient.user)
    assert (
        client.post("/api/v1/me/erase/", {"password": PASSWORD, "confirm": True}, format="json").status_code
        == 200
    )

    assert not CheckIn.objects.filter(patient=patient).exists()
    assert not Alert.objects.filter(patient=patient).exists()
    assert CheckIn.objects.filter(patient=other_patient).exists()


def test_only_a_patient_exports_or_erases(api, clinician, caregiver):
    assert api(clinician).get("/api/v1/me/export/").status_code == 403
    assert (
        api(caregiver)
        .post("/api/v1/me/erase/", {"password": PASSWORD, "confirm": True}, format="json")
        .status_code
        == 403
    )
