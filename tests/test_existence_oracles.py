"""No answer tells a caller that a record they may not see exists (issue 8, items 10
and 11): a foreign patient's id is answered exactly as a random one."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def foreign_patient(other_team):
    return PatientFactory(care_team=other_team, display_name="Elsewhere")


@pytest.mark.parametrize("path", ["/api/v1/referrals/", "/api/v1/alerts/"])
def test_a_list_filtered_by_a_foreign_patient_is_a_404_like_a_random_id(
    api, clinician, foreign_patient, path
):
    foreign = api(clinician).get(path, {"patient": str(foreign_patient.pk)})
    random = api(clinician).get(path, {"patient": str(uuid.uuid4())})

    assert foreign.status_code == random.status_code == 404
    assert foreign.json() == random.json()


def test_a_rule_override_for_a_foreign_patient_is_refused_as_for_a_random_id(
    api, team, team_admin, foreign_patient
):
    def override(patient_id: str) -> dict[str, list[str]]:
        body = {"rule": "persistent_pain", "care_team": str(team.pk), "patient": patient_id}
        response = api(team_admin).post("/api/v1/alert-rules/", body, format="json")
        assert response.status_code == 400
        errors = response.json()["errors"]
        return {field: [m.replace(patient_id, "ID") for m in messages] for field, messages in errors.items()}

    assert override(str(foreign_patient.pk)) == override(str(uuid.uuid4()))


def test_a_rule_for_a_foreign_team_is_refused_as_for_a_random_id(api, team_admin, other_team):
    def create(team_id) -> list[str]:
        body = {"rule": "persistent_pain", "care_team": team_id}
        response = api(team_admin).post("/api/v1/alert-rules/", body, format="json")
        assert response.status_code == 400
        return [m.replace(team_id, "ID") for m in response.json()["errors"]["care_team"]]

    assert create(str(other_team.pk)) == create(str(uuid.uuid4()))


def test_an_invite_code_stops_probing_usernames_after_a_few_taken_ones(
    api, clinician, patient, other_patient
):
    invite = api(clinician).post(
        f"/api/v1/patients/{patient.pk}/invites/", {"role": "caregiver"}, format="json"
    )
    assert invite.status_code == 201, invite.content
    code = invite.json()["code"]

    def enroll(username: str):
        body = {"code": code, "username": username, "password": "a-long-unusual-passphrase-42"}
        return APIClient().post("/api/v1/auth/enroll/", body, format="json")

    probes = [enroll(name) for name in ("rosa", "bruno", "rosa")]  # existing accounts
    assert [list(p.json()["errors"]) for p in probes] == [["username"]] * 3

    after = enroll("a-free-name")

    assert after.status_code == 400
    assert list(after.json()["errors"]) == ["code"]  # spent: no more probing with it
