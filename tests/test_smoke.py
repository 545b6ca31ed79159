import pytest

from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def test_healthz_reports_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"]["database"] is True


def test_clinician_lists_the_patients_of_their_team_only(api, clinician, patient, other_patient, other_team):

    PatientFactory(care_team=other_team, display_name="Elsewhere")
    response = api(clinician).get("/api/v1/patients/")
    assert response.status_code == 200
    assert [p["display_name"] for p in response.json()["results"]] == ["Bruno", "Rosa"]
