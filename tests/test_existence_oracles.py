"""No answer tells a caller that a record they may not see exists (issue 8, items 10
and 11): a foreign patient's id is answered exactly as a random one."""

from __future__ import annotations

import uuid

import pytest

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
