"""Hardening gaps of issue 8 item 14 and the schema contradictions of item 9."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks

from alerts.models import Alert
from care.models import Patient
from tests.diary_helpers import checkin_body
from tests.factories import CaregiverLinkFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def non_viewing_caregiver(patient):
    """Linked to `patient` to report only: may not read the diary."""
    return CaregiverLinkFactory(patient=patient, caregiver__username="gina", can_view=False).caregiver


# --- time zones ------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["localtime", "posixrules", "posix/Europe/Rome", "Mars/Olympus"])
def test_names_that_are_not_iana_zones_are_refused(api, patient, zone):
    response = api(patient.user).patch("/api/v1/me/", {"timezone": zone}, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["timezone"]


def test_an_iana_zone_is_accepted(api, patient):
    response = api(patient.user).patch("/api/v1/me/", {"timezone": "America/Argentina/Salta"}, format="json")

    assert response.status_code == 200, response.content


# --- who names the patient ---------------------------------------------------------------------


@pytest.mark.parametrize("who", ["patient", "caregiver"])
def test_a_patient_or_caregiver_cannot_rename_the_patient_the_team_sees(api, patient, caregiver, who):
    user = patient.user if who == "patient" else caregiver

    response = api(user).patch(
        f"/api/v1/patients/{patient.pk}/", {"display_name": "Dr. House"}, format="json"
    )

    assert response.status_code == 200
    assert Patient.objects.get(pk=patient.pk).display_name == "Rosa"


def test_the_clinician_renames_the_patient(api, clinician, patient):
    response = api(clinician).patch(
        f"/api/v1/patients/{patient.pk}/", {"display_name": "Rosa B."}, format="json"
    )

    assert response.status_code == 200
    assert Patient.objects.get(pk=patient.pk).display_name == "Rosa B."


# --- what a caregiver without can_view reads ---------------------------------------------------


def test_a_caregiver_without_can_view_does_not_read_the_diagnosis_or_the_box2_history(
    api, patient, non_viewing_caregiver
):
    Patient.objects.filter(pk=patient.pk).update(
        diagnosis="pancreatic adenocarcinoma", substance_use_history=True, organ_failure=True
    )

    record = api(non_viewing_caregiver).get(f"/api/v1/patients/{patient.pk}/").json()
    listed = api(non_viewing_caregiver).get("/api/v1/patients/").json()["results"]

    for body in (record, *listed):
        assert {"diagnosis", "substance_use_history", "organ_failure", "baseline_mme", "idds"}.isdisjoint(
            body
        )
        assert body["display_name"] == "Rosa"
    assert "pancreatic" not in str(record) + str(listed)


def test_a_caregiver_with_can_view_still_reads_the_record(api, patient, caregiver):
    Patient.objects.filter(pk=patient.pk).update(diagnosis="pancreatic adenocarcinoma")

    record = api(caregiver).get(f"/api/v1/patients/{patient.pk}/").json()

    assert record["diagnosis"] == "pancreatic adenocarcinoma"


# --- transport security ------------------------------------------------------------------------


def test_https_answers_carry_hsts_for_a_year(client):
    response = client.get("/clinic/login/", secure=True)

    max_age = int(response["Strict-Transport-Security"].split("max-age=")[1].split(";")[0])
    assert max_age >= 365 * 24 * 3600


def test_session_and_csrf_cookies_are_secure_outside_debug(client, patient):
    response = client.get("/clinic/login/", secure=True)
    csrf = response.cookies["csrftoken"]

    assert csrf["secure"]


def test_the_deploy_check_finds_hsts_and_secure_cookies_set(settings):
    """W004: no HSTS; W012, W016: session and CSRF cookies without Secure. (Subdomains,
    preloading and the https redirect are the operator's, see docs/security.md.)"""
    settings.DEBUG = False
    found = {message.id for message in run_checks(include_deployment_checks=True, tags=["security"])}

    assert {"security.W004", "security.W012", "security.W016"}.isdisjoint(found)


# --- the schema says what the answers are (item 9) ------------------------------------------------


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from drf_spectacular.generators import SchemaGenerator

    with django_db_blocker.unblock():
        return SchemaGenerator().get_schema(request=None, public=True)


def test_a_checkin_documents_interference_mean_as_nullable(schema, api, patient):

    stored = api(patient.user).post("/api/v1/diary/checkins/", checkin_body(), format="json").json()

    assert stored["interference_mean"] is None
    assert schema["components"]["schemas"]["CheckIn"]["properties"]["interference_mean"]["nullable"]


def test_a_referral_documents_all_four_statuses(schema):
    enums = schema["components"]["schemas"]
    assert enums["ReferralStatusEnum"]["enum"] == ["suggested", "accepted", "declined", "completed"]
    assert enums["TriageReferralStatusEnum"]["enum"] == ["suggested", "accepted"]


def test_a_patients_alert_list_row_matches_the_documented_row(schema, api, patient):

    Alert.objects.create(patient=patient, rule="red_flag", severity="urgent", evidence={})
    [row] = api(patient.user).get("/api/v1/alerts/").json()["results"]

    listed = schema["paths"]["/api/v1/alerts/"]["get"]["responses"]["200"]["content"]["application/json"]
    page = schema["components"]["schemas"][listed["schema"]["$ref"].rsplit("/", 1)[1]]
    item = page["properties"]["results"]["items"]["$ref"].rsplit("/", 1)[1]
    assert set(schema["components"]["schemas"][item]["required"]) == set(row)
