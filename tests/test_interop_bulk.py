"""FHIR Bulk Data export (v3.0.0) of a care team: kick-off, polling, manifest, NDJSON
files behind the token, `_type`, `_since`, cancel and expiry. The task runs in this
process here; tests/test_interop_bulk_worker.py runs it on a real worker."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from alerts.models import Alert
from care.models import AccessEvent
from interop import bulk
from interop.mapping import everything
from interop.models import BulkExport
from interop.validation import validate
from tests.interop_helpers import make_full_record
from tests.interop_smart_helpers import Engine, post_form, token

pytestmark = pytest.mark.django_db
BASE = "http://127.0.0.1:8000"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def full(patient, caregiver, clinician):
    return make_full_record(patient, caregiver, clinician)


def kick_off(client, team, query: str = ""):
    return client.get(
        f"/fhir/Group/{team.pk}/$export{query}",
        HTTP_PREFER="respond-async",
        HTTP_ACCEPT="application/fhir+json",
    )


def export_now(client, team, capture, query: str = "") -> str:
    """Kick off and let the task run (it starts on commit); returns the status URL."""
    with capture(execute=True):
        response = kick_off(client, team, query)
    assert response.status_code == 202, response.content
    return response["Content-Location"].removeprefix(BASE)


def download(client, manifest: dict) -> dict[str, list[dict]]:
    files = {}
    for item in manifest["output"]:
        response = client.get(item["url"].removeprefix(BASE))
        assert response.status_code == 200
        assert response["Content-Type"] == "application/fhir+ndjson"
        lines = b"".join(response.streaming_content).decode().splitlines()
        files[item["type"]] = [validate(json.loads(line)) for line in lines]
        assert item["count"] == len(lines)
    return files


def test_a_clinician_exports_the_team_and_downloads_every_resource(
    api, clinician, team, full, other_patient, django_capture_on_commit_callbacks
):
    client = api(clinician)
    status_url = export_now(client, team, django_capture_on_commit_callbacks)
    response = client.get(status_url)
    assert response.status_code == 200
    manifest = response.json()
    assert manifest["requiresAccessToken"] is True
    assert manifest["request"].endswith(f"/fhir/Group/{team.pk}/$export")
    assert manifest["error"] == []
    files = download(client, manifest)
    assert {p["id"] for p in files["Patient"]} == {str(full.patient.pk), str(other_patient.pk)}
    assert {"Observation", "QuestionnaireResponse", "Flag", "ServiceRequest", "Provenance"} <= files.keys()
    audit = AccessEvent.objects.get(actor=clinician, path__endswith="$export")
    assert set(audit.patient_ids) == {str(full.patient.pk), str(other_patient.pk)}


def test_the_files_need_the_requesters_token(api, clinician, team, full, django_capture_on_commit_callbacks):
    status_url = export_now(api(clinician), team, django_capture_on_commit_callbacks)
    manifest = api(clinician).get(status_url).json()
    file_url = manifest["output"][0]["url"].removeprefix(BASE)
    assert APIClient().get(file_url).status_code == 401
    colleague = api(full.patient.user)  # anyone else, even the team's own patient
    assert colleague.get(file_url).status_code == 404
    assert colleague.get(status_url).status_code == 404


def test_polling_says_in_progress_with_x_progress(api, clinician, team, full):
    response = kick_off(api(clinician), team)  # the task waits for a commit that never comes
    status = api(clinician).get(response["Content-Location"].removeprefix(BASE))
    assert status.status_code == 202
    assert status["X-Progress"]
    assert status["Retry-After"]


def test_type_limits_the_files(api, clinician, team, full, django_capture_on_commit_callbacks):
    client = api(clinician)
    status_url = export_now(client, team, django_capture_on_commit_callbacks, "?_type=Patient,Flag")
    assert {o["type"] for o in client.get(status_url).json()["output"]} == {"Patient", "Flag"}
    assert kick_off(client, team, "?_type=Banana").status_code == 400


def test_since_exports_only_what_changed(api, clinician, team, full, django_capture_on_commit_callbacks):
    client = api(clinician)
    since = timezone.now()
    response = api(full.patient.user).patch(
        f"/api/v1/diary/checkins/{full.ids['full']}/", {"pain_now": 9}, format="json"
    )
    assert response.status_code == 200
    query = "?_since=" + since.isoformat().replace("+", "%2B")
    files = download(
        client, client.get(export_now(client, team, django_capture_on_commit_callbacks, query)).json()
    )
    assert [qr["id"] for qr in files["QuestionnaireResponse"]] == [full.ids["full"]]
    assert "Patient" not in files
    assert "AdverseEvent" not in files


def test_delete_cancels_and_the_status_is_gone(
    api, clinician, team, full, django_capture_on_commit_callbacks
):
    client = api(clinician)
    status_url = export_now(client, team, django_capture_on_commit_callbacks)
    file_url = client.get(status_url).json()["output"][0]["url"].removeprefix(BASE)
    assert client.delete(status_url).status_code == 202
    assert client.get(status_url).status_code == 404
    assert client.get(file_url).status_code == 404
    assert BulkExport.objects.get().status == "cancelled"


def test_files_expire_after_the_retention_setting(
    api, clinician, team, full, media, django_capture_on_commit_callbacks
):
    client = api(clinician)
    status_url = export_now(client, team, django_capture_on_commit_callbacks)
    export = BulkExport.objects.get()
    assert export.expires_at - export.finished_at == timedelta(hours=24)
    assert list((media / "bulk").rglob("*.ndjson"))
    assert bulk.purge_expired_exports(now=export.expires_at + timedelta(seconds=1)) == 1
    assert not list((media / "bulk").rglob("*.ndjson"))
    BulkExport.objects.filter(pk=export.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get(status_url).status_code == 404


def test_kick_off_needs_prefer_respond_async_and_a_member_of_the_team(
    api, clinician, other_team_clinician, team, caregiver
):
    response = api(clinician).get(f"/fhir/Group/{team.pk}/$export")
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"
    assert kick_off(api(other_team_clinician), team).status_code == 404
    assert kick_off(api(caregiver), team).status_code == 404
    assert kick_off(APIClient(), team).status_code == 401


def test_a_system_client_exports_its_team(team, tmp_path, full, django_capture_on_commit_callbacks):
    engine = Engine()
    engine.register(tmp_path, team.name)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token(APIClient(), engine)}")
    status_url = export_now(client, team, django_capture_on_commit_callbacks, "?_type=Patient")
    files = download(client, client.get(status_url).json())
    assert [p["id"] for p in files["Patient"]] == [str(full.patient.pk)]
    audit = AccessEvent.objects.get(path__endswith="$export?_type=Patient")
    assert str(audit.actor.system_client.pk) == engine.client_id
    assert audit.actor_role == "system"


def test_a_patient_that_fails_validation_is_told_in_the_error_file_and_the_others_go_out(
    api, clinician, team, full, other_patient, monkeypatch, django_capture_on_commit_callbacks
):

    real = everything.patient_resource

    def broken_for_bruno(patient):
        resource = real(patient)
        return {**resource, "active": "maybe"} if patient.pk == other_patient.pk else resource

    monkeypatch.setattr(everything, "patient_resource", broken_for_bruno)
    client = api(clinician)
    manifest = client.get(export_now(client, team, django_capture_on_commit_callbacks)).json()
    assert [e["type"] for e in manifest["error"]] == ["OperationOutcome"]
    files = download(client, {"output": manifest["output"] + manifest["error"]})
    (outcome,) = files["OperationOutcome"]
    assert f"Patient/{other_patient.pk}" in outcome["issue"][0]["diagnostics"]
    assert [p["id"] for p in files["Patient"]] == [str(full.patient.pk)]


def test_the_audit_is_written_in_bounded_rows_covering_every_patient(
    api, clinician, team, full, other_patient, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(bulk, "PATIENTS_PER_AUDIT_ROW", 1)
    export_now(api(clinician), team, django_capture_on_commit_callbacks)
    rows = AccessEvent.objects.filter(actor=clinician, path__endswith="$export")
    assert sorted(len(r.patient_ids) for r in rows) == [1, 1]
    assert {pid for r in rows for pid in r.patient_ids} == {str(full.patient.pk), str(other_patient.pk)}


def test_a_system_token_scoped_to_patients_exports_patients_only(
    team, tmp_path, full, django_capture_on_commit_callbacks
):
    engine = Engine()
    engine.register(tmp_path, team.name)
    client = APIClient()

    response = post_form(APIClient(), engine.form(engine.assertion(), scope="system/Patient.read"))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access_token']}")
    assert kick_off(client, team, "?_type=Observation").status_code == 403
    manifest = client.get(export_now(client, team, django_capture_on_commit_callbacks)).json()
    assert [o["type"] for o in manifest["output"]] == ["Patient"]


def test_since_still_points_a_changed_alert_at_its_older_evidence(
    api, clinician, team, full, django_capture_on_commit_callbacks
):

    client = api(clinician)
    since = timezone.now()
    Alert.objects.filter(pk=full.alert.pk).update(last_triggered_at=timezone.now())  # new evidence now
    query = "?_since=" + since.isoformat().replace("+", "%2B")
    files = download(
        client, client.get(export_now(client, team, django_capture_on_commit_callbacks, query)).json()
    )
    assert "QuestionnaireResponse" not in files  # no check-in changed
    (issue,) = files["DetectedIssue"]
    assert {"reference": f"QuestionnaireResponse/{full.ids['full']}"} in issue["implicated"]


def test_the_group_lists_the_teams_patients_for_the_same_callers_as_the_export(
    api, clinician, other_team_clinician, team, full, other_patient
):
    response = api(clinician).get(f"/fhir/Group/{team.pk}")
    assert response.status_code == 200
    group = validate(response.json())
    assert {m["entity"]["reference"] for m in group["member"]} == {
        f"Patient/{full.patient.pk}",
        f"Patient/{other_patient.pk}",
    }
    assert group["quantity"] == 2
    audit = AccessEvent.objects.get(actor=clinician, path=f"/fhir/Group/{team.pk}")
    assert len(audit.patient_ids) == 2
    assert api(other_team_clinician).get(f"/fhir/Group/{team.pk}").status_code == 404
