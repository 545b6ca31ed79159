"""Enrolling a patient from the clinic: every field of `POST patients/` with the API's
messages, the invite code once with its QR, a new code, caregiver invites and revoke."""

from __future__ import annotations

import pytest

from care.models import AccessEvent, CaregiverLink, Invite, Patient
from tests.clinic_signin import sign_in

pytestmark = pytest.mark.django_db


def form(team, **fields):
    return {
        "display_name": "Elena",
        "care_team": str(team.pk),
        "timezone": "Europe/Rome",
        "language": "it",
        "enrolled_on": "",
        "diagnosis": "Pancreatic cancer",
        "baseline_mme": "60",
        "limited_prognosis": "on",
        "idds": "on",
        "idds_lockout_minutes": "30",
        "idds_max_daily_boluses": "6",
        "idds_reservoir_ml": "20",
        "idds_next_refill_date": "",
        **fields,
    }


def test_enrolling_creates_the_patient_and_shows_the_code_once_with_its_qr(client, clinician, team, settings):
    sign_in(client, clinician)
    assert "Enroll a patient" in client.get("/clinic/enroll/").content.decode()
    response = client.post("/clinic/enroll/", form(team))
    page = response.content.decode()
    assert response.status_code == 200
    elena = Patient.objects.get(display_name="Elena")
    assert elena.limited_prognosis
    assert elena.idds
    assert elena.idds_lockout_minutes == 30
    assert elena.baseline_mme == 60
    assert elena.language == "it"
    assert elena.status is not None  # the triage row, as the API's write path makes it
    code = page.split('id="invite-code">')[1].split("<")[0]
    assert Invite.objects.get(patient=elena).code_hash  # the plain code is not stored
    assert f"{settings.PUBLIC_URL}/app/#enroll={code}" in page
    assert "<svg" in page.split('id="invite-qr"')[1]
    assert response["Cache-Control"] == "no-store"
    assert AccessEvent.objects.filter(actor=clinician, patient_ids=[str(elena.pk)]).exists()


def test_the_invite_code_works_in_the_patient_app(client, clinician, team, anonymous):
    sign_in(client, clinician)
    page = client.post("/clinic/enroll/", form(team)).content.decode()
    code = page.split('id="invite-code">')[1].split("<")[0]
    body = {"code": code, "username": "elena", "password": "a-long-patient-password"}
    assert anonymous.post("/api/v1/auth/enroll/", body, format="json").status_code == 201


@pytest.mark.parametrize(
    ("fields", "field_id", "message"),
    [
        ({"display_name": ""}, "id_display_name", "This field is required."),
        ({"baseline_mme": "-5"}, "id_baseline_mme", "Ensure this value is greater than or equal to 0."),
        ({"baseline_mme": "lots"}, "id_baseline_mme", "A valid number is required."),
        ({"idds_lockout_minutes": ""}, "id_idds_lockout_minutes", "This field is required."),
        ({"idds_max_daily_boluses": "500"}, "id_idds_max_daily_boluses", "less than or equal to 100"),
        ({"enrolled_on": "2999-01-01"}, "id_enrolled_on", "This date is in the future."),
    ],
)
def test_each_field_says_what_is_wrong_with_the_apis_message(
    client, clinician, team, fields, field_id, message
):
    sign_in(client, clinician)
    response = client.post("/clinic/enroll/", form(team, **fields))
    page = response.content.decode()
    assert response.status_code == 200
    assert message in page
    assert f'href="#{field_id}"' in page  # the error summary links to the field
    assert not Patient.objects.filter(display_name="Elena").exists()


def test_a_clinician_cannot_enroll_into_a_team_of_which_they_are_not_a_member(client, clinician, other_team):
    sign_in(client, clinician)
    page = client.post("/clinic/enroll/", form(other_team)).content.decode()
    assert "Select a valid choice" in page
    assert not Patient.objects.filter(display_name="Elena").exists()


def test_the_enrollment_errors_are_in_italian_for_an_italian_clinician(client, clinician, team):
    clinician.language = "it"
    clinician.save()
    sign_in(client, clinician)
    page = client.post("/clinic/enroll/", form(team, baseline_mme="-5")).content.decode()
    assert "C'è un problema" in page
    assert "Assicurati che il valore sia maggiore o uguale a 0." in page


def test_a_new_app_code_replaces_the_unused_one(client, clinician, team, anonymous):
    sign_in(client, clinician)
    first = client.post("/clinic/enroll/", form(team)).content.decode().split('id="invite-code">')[1][:19]
    elena = Patient.objects.get(display_name="Elena")
    page = client.post(f"/clinic/patients/{elena.pk}/invite/").content.decode()
    second = page.split('id="invite-code">')[1][:19]
    assert first != second
    body = {"code": first, "username": "elena", "password": "a-long-patient-password"}
    assert anonymous.post("/api/v1/auth/enroll/", body, format="json").status_code == 400
    body["code"] = second
    assert anonymous.post("/api/v1/auth/enroll/", body, format="json").status_code == 201


def test_a_caregiver_invite_and_its_revoke(client, clinician, patient, caregiver):
    sign_in(client, clinician)
    page = client.get(f"/clinic/patients/{patient.pk}/").content.decode()
    assert "marco" in page
    response = client.post(
        f"/clinic/patients/{patient.pk}/caregiver-invite/", {"relationship": "daughter", "can_view": "on"}
    )
    assert 'id="invite-code"' in response.content.decode()
    invite = Invite.objects.get(patient=patient, role="caregiver")
    assert invite.relationship == "daughter"
    assert invite.can_view
    assert not invite.can_report
    link = CaregiverLink.objects.get(patient=patient, caregiver=caregiver)
    client.post(f"/clinic/patients/{patient.pk}/caregivers/{link.pk}/revoke/")
    link.refresh_from_db()
    assert link.revoked_at is not None


def test_another_teams_clinician_cannot_invite_or_revoke(client, other_team_clinician, patient, caregiver):
    sign_in(client, other_team_clinician)
    link = CaregiverLink.objects.get(patient=patient)
    assert client.post(f"/clinic/patients/{patient.pk}/invite/").status_code == 404
    assert client.post(f"/clinic/patients/{patient.pk}/caregiver-invite/", {}).status_code == 404
    assert client.post(f"/clinic/patients/{patient.pk}/caregivers/{link.pk}/revoke/").status_code == 404
    link.refresh_from_db()
    assert link.revoked_at is None
