"""CSV export of a patient's diary (the FHIR export: tests/test_interop_mapping.py)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

pytestmark = pytest.mark.django_db


@pytest.fixture
def diary(api, patient):
    """Two check-ins of `patient`, one with interference items and symptoms, one retracted."""
    now = timezone.now()
    client = api(patient.user)
    kept = {
        "id": str(uuid.uuid4()),
        "recorded_at": (now - timedelta(hours=3)).isoformat(),
        "pain_now": 6,
        "interference": {"walking": 7, "sleep": 5},
        "symptoms": {"nausea": 4},
        "note": '=HYPERLINK("http://evil")',
    }
    retracted = {
        "id": str(uuid.uuid4()),
        "recorded_at": (now - timedelta(hours=2)).isoformat(),
        "pain_now": 9,
    }
    dose = {
        "id": str(uuid.uuid4()),
        "taken_at": now.isoformat(),
        "drug": "oxycodone",
        "dose": 10,
        "unit": "mg",
        "route": "oral",
    }
    assert client.post("/api/v1/diary/checkins/", kept, format="json").status_code == 201
    assert client.post("/api/v1/diary/checkins/", retracted, format="json").status_code == 201
    assert (
        client.post(
            f"/api/v1/diary/checkins/{retracted['id']}/retract/", {"reason": "typo"}, format="json"
        ).status_code
        == 200
    )
    assert client.post("/api/v1/diary/medications/", dose, format="json").status_code == 201
    return kept, retracted, dose


def test_another_teams_clinician_gets_404_for_both_exports(api, other_team_clinician, patient, diary):
    client = api(other_team_clinician)
    assert client.get(f"/api/v1/patients/{patient.pk}/fhir/").status_code == 404
    assert client.get(f"/api/v1/patients/{patient.pk}/export.csv").status_code == 404


def test_the_csv_has_one_row_per_record_and_defuses_formulas(api, clinician, patient, diary):
    kept, retracted, dose = diary
    response = api(clinician).get(f"/api/v1/patients/{patient.pk}/export.csv")
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert {(r["type"], r["id"], r["status"]) for r in rows} == {
        ("checkin", kept["id"], "active"),
        ("checkin", retracted["id"], "entered_in_error"),
        ("medication", dose["id"], "active"),
    }
    row = next(r for r in rows if r["id"] == kept["id"])
    assert row["note"].startswith("'=")
    assert row["interference"] == "sleep=5;walking=7"
    assert next(r for r in rows if r["type"] == "medication")["mme"] == "15.00"


def test_only_clinicians_export_csv(api, patient, diary):
    assert api(patient.user).get(f"/api/v1/patients/{patient.pk}/export.csv").status_code == 403
