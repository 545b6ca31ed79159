"""Patients, caregivers, profiles and devices (API.md "Patients and teams", SPEC "Access and sessions")."""

from __future__ import annotations

from datetime import UTC, date, datetime
from unittest import mock

import pytest

from care.models import AccessEvent, CaregiverLink, Device, Patient, TeamMembership
from tests.factories import CaregiverLinkFactory, CareTeamFactory, ClinicianFactory, PatientFactory

pytestmark = pytest.mark.django_db

PATIENTS = "/api/v1/patients/"
ME = "/api/v1/me/"
# 20:00 UTC on 10 March is already 11 March in Auckland, still 10 March in Rome.
EVENING_IN_EUROPE = datetime(2025, 3, 10, 20, 0, tzinfo=UTC)


def new_patient_body(team, **fields) -> dict:
    return {
        "display_name": "Nadia",
        "care_team": str(team.pk),
        "timezone": "Europe/Rome",
        "language": "it",
        **fields,
    }


def test_a_clinician_creates_a_patient_with_every_field_and_gets_them_back(api, clinician, team):
    body = new_patient_body(
        team,
        enrolled_on="2025-01-15",
        diagnosis="Advanced pancreatic cancer",
        baseline_mme="120.50",
        limited_prognosis=True,
        cancer_survivor=False,
        substance_use_history=True,
        organ_failure=True,
        idds={
            "lockout_minutes": 60,
            "max_daily_boluses": 4,
            "reservoir_ml": "20.00",
            "next_refill_date": "2025-04-01",
        },
    )

    response = api(clinician).post(PATIENTS, body, format="json")

    assert response.status_code == 201, response.content
    created = response.json()
    assert {key: created[key] for key in body} == body
    assert api(clinician).get(f"{PATIENTS}{created['id']}/").json() == created


def test_a_patient_without_a_pump_has_no_idds(api, clinician, team):
    response = api(clinician).post(PATIENTS, new_patient_body(team), format="json")

    assert response.status_code == 201
    assert response.json()["idds"] is None


def test_enrolled_on_defaults_to_today_in_the_patients_zone(api, clinician, team):
    with mock.patch("django.utils.timezone.now", return_value=EVENING_IN_EUROPE):
        response = api(clinician).post(
            PATIENTS, new_patient_body(team, timezone="Pacific/Auckland"), format="json"
        )

    assert response.json()["enrolled_on"] == "2025-03-11"


def test_enrolled_on_may_be_today_in_the_patients_zone_but_never_in_the_future(api, clinician, team):
    client = api(clinician)
    with mock.patch("django.utils.timezone.now", return_value=EVENING_IN_EUROPE):
        in_auckland = client.post(
            PATIENTS,
            new_patient_body(team, timezone="Pacific/Auckland", enrolled_on="2025-03-11"),
            format="json",
        )
        in_rome = client.post(
            PATIENTS, new_patient_body(team, display_name="Ugo", enrolled_on="2025-03-11"), format="json"
        )

    assert in_auckland.status_code == 201
    assert in_rome.status_code == 400
    assert list(in_rome.json()["errors"]) == ["enrolled_on"]
    assert not Patient.objects.filter(display_name="Ugo").exists()


def test_an_unknown_time_zone_is_refused_naming_the_field(api, clinician, team):
    response = api(clinician).post(PATIENTS, new_patient_body(team, timezone="Mars/Olympus"), format="json")

    assert response.status_code == 400
    assert "timezone" in response.json()["errors"]
    assert not Patient.objects.exists()


def test_a_clinician_cannot_put_a_patient_in_a_team_they_do_not_belong_to(api, clinician, other_team):
    response = api(clinician).post(PATIENTS, new_patient_body(other_team), format="json")

    assert response.status_code == 400
    assert "care_team" in response.json()["errors"]
    assert not Patient.objects.exists()


def test_a_patient_cannot_create_patients(api, patient, team):
    response = api(patient.user).post(PATIENTS, new_patient_body(team), format="json")

    assert response.status_code == 403


CLINICAL_CHANGES = {
    "limited_prognosis": True,
    "substance_use_history": True,
    "baseline_mme": "999.00",
    "enrolled_on": "2020-01-01",
    "idds": {"lockout_minutes": 5, "max_daily_boluses": 50},
}


@pytest.mark.parametrize("who", ["patient", "caregiver"])
def test_patients_and_caregivers_change_zone_and_language_but_not_clinical_flags(
    api, patient, caregiver, other_team, who
):
    user = patient.user if who == "patient" else caregiver
    body = {
        **CLINICAL_CHANGES,
        "care_team": str(other_team.pk),
        "timezone": "America/New_York",
        "language": "it",
    }

    response = api(user).patch(f"{PATIENTS}{patient.pk}/", body, format="json")

    assert response.status_code == 200
    patient.refresh_from_db()
    assert (patient.timezone, patient.language) == ("America/New_York", "it")
    assert (patient.limited_prognosis, patient.substance_use_history, patient.idds) == (False, False, False)
    assert (patient.baseline_mme, patient.care_team_id) == (None, patient.care_team.pk)
    assert patient.enrolled_on != date(2020, 1, 1)


def test_a_clinician_changes_clinical_flags(api, clinician, patient):
    response = api(clinician).patch(f"{PATIENTS}{patient.pk}/", CLINICAL_CHANGES, format="json")

    assert response.status_code == 200
    patient.refresh_from_db()
    assert (patient.limited_prognosis, patient.idds, patient.idds_lockout_minutes) == (True, True, 5)


def test_a_caregiver_who_may_not_report_may_not_change_the_patient(api, patient):
    reader = CaregiverLinkFactory(patient=patient, caregiver__username="reader", can_report=False).caregiver

    response = api(reader).patch(f"{PATIENTS}{patient.pk}/", {"language": "it"}, format="json")

    assert response.status_code == 403
    patient.refresh_from_db()
    assert patient.language == "en"


def test_revoking_a_caregiver_link_takes_effect_on_the_caregivers_next_request(api, patient, caregiver):
    phone = api(caregiver)  # an access token issued before the revocation, still unexpired
    assert phone.get(f"{PATIENTS}{patient.pk}/").status_code == 200
    link = CaregiverLink.objects.get(caregiver=caregiver)

    revoked = api(patient.user).delete(f"{PATIENTS}{patient.pk}/caregivers/{link.pk}/")

    assert revoked.status_code == 204
    assert phone.get(f"{PATIENTS}{patient.pk}/").status_code == 404
    assert phone.get(PATIENTS).json()["results"] == []
    link.refresh_from_db()
    assert link.revoked_at is not None


def test_removing_a_clinician_from_the_team_takes_effect_on_their_next_request(api, clinician, patient):
    browser = api(clinician)
    assert browser.get(f"{PATIENTS}{patient.pk}/").status_code == 200

    TeamMembership.objects.filter(user=clinician).delete()

    assert browser.get(f"{PATIENTS}{patient.pk}/").status_code == 404


def test_a_patient_or_clinician_changes_what_a_caregiver_may_do(api, patient, caregiver, clinician):
    link = CaregiverLink.objects.get(caregiver=caregiver)
    url = f"{PATIENTS}{patient.pk}/caregivers/{link.pk}/"

    response = api(patient.user).patch(url, {"can_view": False}, format="json")

    assert response.status_code == 200
    assert (response.json()["can_view"], response.json()["can_report"]) == (False, True)
    api(clinician).patch(url, {"can_report": False}, format="json")
    link.refresh_from_db()
    assert (link.can_view, link.can_report) == (False, False)


def test_the_caregiver_list_shows_revoked_links_with_their_date(api, patient, caregiver, revoked_caregiver):
    response = api(patient.user).get(f"{PATIENTS}{patient.pk}/caregivers/")

    assert response.status_code == 200
    by_user = {link["caregiver"]: link for link in response.json()}
    assert by_user[str(caregiver.pk)]["revoked_at"] is None
    assert by_user[str(revoked_caregiver.pk)]["revoked_at"] is not None
    expected = {"id", "caregiver", "relationship", "can_view", "can_report", "created_at", "revoked_at"}
    assert expected <= set(by_user[str(caregiver.pk)])


def test_me_describes_a_patient(api, patient):
    me = api(patient.user).get(ME).json()

    assert {key: me[key] for key in ("username", "role", "patient", "teams")} == {
        "username": "rosa",
        "role": "patient",
        "patient": str(patient.pk),
        "teams": [],
    }
    assert [p["id"] for p in me["patients"]] == [str(patient.pk)]
    assert {"id", "language", "timezone"} <= set(me)


def test_me_describes_a_clinician_with_their_teams(api, team, other_team):
    doctor = ClinicianFactory(username="dr-both", team=team)
    TeamMembership.objects.create(user=doctor, team=other_team, team_role="team_admin")

    me = api(doctor).get(ME).json()

    assert (me["role"], me["patient"], me["patients"]) == ("clinician", None, [])
    assert me["teams"] == [
        {"id": str(team.pk), "name": "Pain Unit A", "team_role": "pain_physician"},
        {"id": str(other_team.pk), "name": "Pain Unit B", "team_role": "team_admin"},
    ]


def test_me_lists_a_caregivers_current_patients_with_their_permissions(api, patient, blind_caregiver):
    CaregiverLinkFactory(caregiver=blind_caregiver, patient=PatientFactory(display_name="Old")).revoke()

    me = api(blind_caregiver).get(ME).json()

    assert me["role"] == "caregiver"
    assert me["patients"] == [
        {"id": str(patient.pk), "display_name": "Rosa", "can_view": False, "can_report": True}
    ]


def test_a_patient_updating_me_moves_their_record_to_the_new_zone_and_language(api, patient):
    response = api(patient.user).patch(ME, {"timezone": "America/New_York", "language": "it"}, format="json")

    assert response.status_code == 200
    assert (response.json()["timezone"], response.json()["language"]) == ("America/New_York", "it")
    patient.refresh_from_db()
    assert (patient.timezone, patient.language) == ("America/New_York", "it")


def test_me_refuses_an_unknown_time_zone_and_ignores_server_set_fields(api, patient):
    client = api(patient.user)

    bad_zone = client.patch(ME, {"timezone": "Nowhere/Land"}, format="json")
    server_set = client.patch(ME, {"role": "clinician", "username": "boss"}, format="json")

    assert bad_zone.status_code == 400
    assert "timezone" in bad_zone.json()["errors"]
    assert (server_set.status_code, server_set.json()["role"], server_set.json()["username"]) == (
        200,
        "patient",
        "rosa",
    )


def test_registering_a_device_twice_keeps_one_row(api, patient):
    client = api(patient.user)
    body = {"platform": "fcm", "token": "phone-token-1"}

    first = client.post("/api/v1/devices/", body, format="json")
    second = client.post("/api/v1/devices/", body, format="json")

    assert (first.status_code, second.status_code) == (201, 201)
    assert Device.objects.filter(token="phone-token-1").count() == 1


def test_a_device_token_moves_to_whoever_registers_it_last(api, patient, caregiver):
    body = {"platform": "apns", "token": "shared-tablet"}
    api(patient.user).post("/api/v1/devices/", body, format="json")

    api(caregiver).post("/api/v1/devices/", body, format="json")

    assert list(Device.objects.values_list("user", flat=True)) == [caregiver.pk]


def test_a_clinicians_reads_are_audited_with_the_patients_read(api, clinician, patient, other_patient):
    client = api(clinician)

    client.get(PATIENTS)
    client.get(f"{PATIENTS}{patient.pk}/")

    events = list(AccessEvent.objects.order_by("at", "id"))
    assert [(e.actor, e.method, sorted(e.patient_ids)) for e in events] == [
        (clinician, "GET", sorted([str(patient.pk), str(other_patient.pk)])),
        (clinician, "GET", [str(patient.pk)]),
    ]
    assert events[1].path == f"{PATIENTS}{patient.pk}/"


def test_a_caregivers_reads_are_audited(api, patient, caregiver):
    api(caregiver).get(f"{PATIENTS}{patient.pk}/caregivers/")  # refused: not audited as a read
    api(caregiver).get(f"{PATIENTS}{patient.pk}/")

    assert list(AccessEvent.objects.values_list("actor", "patient_ids")) == [
        (caregiver.pk, [str(patient.pk)])
    ]


def test_a_patient_reading_their_own_record_is_not_audited(api, patient):
    client = api(patient.user)

    client.get(PATIENTS)
    client.get(f"{PATIENTS}{patient.pk}/")
    client.get(f"{PATIENTS}{patient.pk}/caregivers/")

    assert not AccessEvent.objects.exists()


def test_a_refused_read_is_not_audited_as_a_read(api, other_team_clinician, patient):
    api(other_team_clinician).get(f"{PATIENTS}{patient.pk}/")

    assert not AccessEvent.objects.exists()


def test_the_clinicians_patient_list_pages_by_name(api, team, clinician):
    for name in ["Zeno", "Anna", "Marta"]:
        PatientFactory(care_team=team, display_name=name)

    first = api(clinician).get(PATIENTS, {"page_size": 2}).json()
    second = api(clinician).get(first["next"]).json()

    assert [p["display_name"] for p in first["results"] + second["results"]] == ["Anna", "Marta", "Zeno"]
    assert second["next"] is None


# Query budgets: the user, the page, and one audit row; never one query per row. The
# clinician's list also reads their team ids first, so that the page is one range of the
# status row's (care_team, triage_key) index (tests/test_triage_plan.py).
PATIENT_LIST_QUERIES = 4
CAREGIVER_LIST_QUERIES = 4  # the user, the patient, the links with their users, the audit row
TEAM_LIST_QUERIES = 2


@pytest.mark.parametrize("count", [3, 30])
def test_the_patient_list_costs_the_same_queries_for_few_or_many_patients(
    api, team, clinician, count, django_assert_num_queries
):
    PatientFactory.create_batch(count, care_team=team)
    client = api(clinician)

    with django_assert_num_queries(PATIENT_LIST_QUERIES):
        response = client.get(PATIENTS)

    assert len(response.json()["results"]) == count


@pytest.mark.parametrize("count", [1, 10])
def test_the_caregiver_list_costs_the_same_queries_for_few_or_many_caregivers(
    api, patient, clinician, count, django_assert_num_queries
):
    CaregiverLinkFactory.create_batch(count, patient=patient)
    client = api(clinician)

    with django_assert_num_queries(CAREGIVER_LIST_QUERIES):
        response = client.get(f"{PATIENTS}{patient.pk}/caregivers/")

    assert len(response.json()) == count


@pytest.mark.parametrize("count", [1, 5])
def test_the_team_list_costs_the_same_queries_for_few_or_many_teams(
    api, clinician, count, django_assert_num_queries
):
    for team in CareTeamFactory.create_batch(count - 1):
        TeamMembership.objects.create(team=team, user=clinician, team_role="nurse")
    client = api(clinician)

    with django_assert_num_queries(TEAM_LIST_QUERIES):
        response = client.get("/api/v1/teams/")

    assert len(response.json()) == count


def test_the_caregivers_patient_list_shows_linked_patients_only(api, patient, other_patient, caregiver):
    later = PatientFactory(care_team=patient.care_team, display_name="Later")
    CaregiverLinkFactory(patient=later, caregiver=caregiver).revoke()

    response = api(caregiver).get(PATIENTS)

    assert [p["id"] for p in response.json()["results"]] == [str(patient.pk)]


def test_a_patient_id_that_is_not_a_uuid_is_a_404(api, clinician):
    client = api(clinician)

    assert client.get(f"{PATIENTS}not-a-uuid/").status_code == 404
    assert (
        client.post(f"{PATIENTS}not-a-uuid/invites/", {"role": "caregiver"}, format="json").status_code == 404
    )
    assert client.get(f"{PATIENTS}{'0' * 8}/caregivers/").status_code == 404


def test_a_patient_invite_for_a_patient_already_using_the_app_is_refused(api, clinician, patient):
    response = api(clinician).post(
        f"/api/v1/patients/{patient.pk}/invites/", {"role": "patient"}, format="json"
    )
    assert response.status_code == 400
    assert "role" in response.json()["errors"]


def test_a_clinician_changing_the_patients_zone_and_language_shows_in_the_patients_me(
    api, clinician, patient
):
    response = api(clinician).patch(
        f"/api/v1/patients/{patient.pk}/", {"timezone": "America/New_York", "language": "it"}, format="json"
    )
    assert response.status_code == 200
    me = api(patient.user).get("/api/v1/me/").json()
    assert (me["timezone"], me["language"]) == ("America/New_York", "it")
