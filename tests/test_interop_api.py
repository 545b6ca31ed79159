"""The read-only FHIR REST API under /fhir/ (API.md "FHIR")."""

from __future__ import annotations

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from care.models import AccessEvent
from interop import fhir_views
from interop.checks import interop_deploy
from interop.validation import validate
from tests.interop_helpers import make_full_record

pytestmark = pytest.mark.django_db

FHIR = "/fhir/"


@pytest.fixture
def full(patient, caregiver, clinician):
    return make_full_record(patient, caregiver, clinician)


def collection(api, clinician, patient) -> dict[str, set[str]]:
    body = api(clinician).get(f"/api/v1/patients/{patient.pk}/fhir/").json()
    out: dict[str, set[str]] = {}
    for entry in body["entry"]:
        out.setdefault(entry["resource"]["resourceType"], set()).add(entry["resource"]["id"])
    return out


def follow(client, url: str) -> tuple[list[dict], int]:
    """Every resource of a search, page after page; and how many pages it took."""
    resources, pages = [], 0
    while url:
        response = client.get(url.removeprefix("http://127.0.0.1:8000"))
        assert response.status_code == 200, response.content
        assert response["Content-Type"].startswith("application/fhir+json")
        bundle = response.json()
        Bundle.model_validate(bundle)
        assert bundle["type"] == "searchset"
        for entry in bundle.get("entry", []):
            validate(entry["resource"])
            resources.append(entry["resource"])
        pages += 1
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
    return resources, pages


def test_the_capability_statement_lists_what_is_served(anonymous):
    response = anonymous.get(f"{FHIR}metadata")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/fhir+json")
    statement = CapabilityStatement.model_validate(response.json())
    assert statement.fhirVersion == "4.0.1"
    resources = {r.type: r for r in statement.rest[0].resource}
    assert [op.name for op in resources["Patient"].operation] == ["everything"]
    assert [op.name for op in resources["Group"].operation] == ["export"]
    for kind in (
        "Observation",
        "QuestionnaireResponse",
        "AdverseEvent",
        "MedicationAdministration",
        "ServiceRequest",
        "Flag",
    ):
        assert "search-type" in {i.code for i in resources[kind].interaction}, kind
    # Everything it claims answers (reads of Questionnaire and CodeSystem need no token).
    assert anonymous.get(f"{FHIR}Questionnaire/crossroad-checkin").status_code == 200


def test_read_a_patient_and_an_audit_row_is_written(api, clinician, full):
    response = api(clinician).get(f"{FHIR}Patient/{full.patient.pk}")
    assert response.status_code == 200
    assert response.json()["id"] == str(full.patient.pk)
    assert AccessEvent.objects.filter(actor=clinician, path=f"{FHIR}Patient/{full.patient.pk}").count() == 1


def test_a_foreign_patient_is_a_404_operation_outcome_and_leaves_no_audit_row(
    api, other_team_clinician, full
):
    for path in (
        f"Patient/{full.patient.pk}",
        f"Patient/{full.patient.pk}/$everything",
        f"Observation?patient={full.patient.pk}",
    ):
        response = api(other_team_clinician).get(f"{FHIR}{path}")
        assert response.status_code == 404, path
        assert response["Content-Type"].startswith("application/fhir+json")
        outcome = validate(response.json())
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["code"] == "not-found"
    assert not AccessEvent.objects.filter(actor=other_team_clinician).exists()


def test_without_a_token_the_answer_is_a_401_operation_outcome(anonymous, full):
    response = anonymous.get(f"{FHIR}Patient/{full.patient.pk}")
    assert response.status_code == 401
    assert response.json()["issue"][0]["code"] == "login"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_caregiver_is_refused_like_the_collection_export(api, caregiver, full):
    response = api(caregiver).get(f"{FHIR}Patient/{full.patient.pk}")
    assert response.status_code == 403
    assert response.json()["issue"][0]["code"] == "forbidden"


def test_the_patient_reads_their_own_record_without_an_audit_row(api, full):
    response = api(full.patient.user).get(f"{FHIR}QuestionnaireResponse")
    assert response.status_code == 200
    assert len(response.json()["entry"]) == 4
    assert not AccessEvent.objects.exists()


def test_everything_paged_gives_what_the_collection_bundle_holds(api, clinician, full):
    expected = collection(api, clinician, full.patient)
    resources, pages = follow(api(clinician), f"{FHIR}Patient/{full.patient.pk}/$everything?_count=7")
    got: dict[str, set[str]] = {}
    for r in resources:
        got.setdefault(r["resourceType"], set()).add(r["id"])
    assert got == expected
    assert len(resources) == sum(len(ids) for ids in expected.values())  # no repeats across pages
    assert pages > 3


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        ("Observation?patient={p}", "Observation"),
        ("QuestionnaireResponse?patient={p}", "QuestionnaireResponse"),
        ("AdverseEvent?subject={p}", "AdverseEvent"),
        ("MedicationAdministration?patient={p}", "MedicationAdministration"),
        ("ServiceRequest?patient={p}", "ServiceRequest"),
        ("Flag?patient={p}", "Flag"),
    ],
)
def test_each_search_pages_through_all_of_its_resources(api, clinician, full, query, kind):
    expected = collection(api, clinician, full.patient)[kind]
    resources, _ = follow(api(clinician), f"{FHIR}{query.format(p=full.patient.pk)}&_count=2")
    assert [r["resourceType"] for r in resources] == [kind] * len(expected)
    assert {r["id"] for r in resources} == expected


def test_observations_by_code_and_date(api, clinician, full):
    client = api(clinician)
    p = full.patient.pk
    pain, _ = follow(client, f"{FHIR}Observation?patient={p}&code=http://loinc.org|72514-3&_count=3")
    # 4 scores of the full check-in, pain_now of the 3 others (the retracted one included).
    assert len(pain) == 7
    interference, _ = follow(client, f"{FHIR}Observation?patient=Patient/{p}&code=77565-0")
    assert [o["valueQuantity"]["value"] for o in interference] == [5.6]
    nausea, _ = follow(client, f"{FHIR}Observation?patient={p}&code=nausea")
    assert [o["valueQuantity"]["value"] for o in nausea] == [4]
    recorded = full.patient  # the full check-in is 30 h old, the others younger
    from django.utils import timezone

    cut = (timezone.now() - timezone.timedelta(hours=25)).isoformat()
    recent, _ = follow(
        client, f"{FHIR}Observation?patient={recorded.pk}&code=72514-3&date=ge{cut.replace('+', '%2B')}"
    )
    assert len(recent) == 3


def test_service_requests_and_flags_by_status(api, clinician, full):
    client = api(clinician)
    p = full.patient.pk
    assert len(follow(client, f"{FHIR}ServiceRequest?patient={p}&status=active")[0]) == 1
    assert follow(client, f"{FHIR}ServiceRequest?patient={p}&status=completed")[0] == []
    assert len(follow(client, f"{FHIR}Flag?patient={p}&status=active")[0]) == 1
    assert follow(client, f"{FHIR}Flag?patient={p}&status=inactive")[0] == []


def test_every_resource_of_a_type_the_capability_statement_says_is_readable_reads_by_id(
    api, anonymous, clinician, full
):
    statement = anonymous.get(f"{FHIR}metadata").json()
    readable = {
        r["type"] for r in statement["rest"][0]["resource"] if {"code": "read"} in r.get("interaction", [])
    }
    bundle = api(clinician).get(f"/api/v1/patients/{full.patient.pk}/fhir/").json()
    client = api(clinician)
    read = 0
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] not in readable:
            continue
        response = client.get(f"{FHIR}{resource['resourceType']}/{resource['id']}")
        assert response.status_code == 200, (resource["resourceType"], response.content)
        assert response.json() == resource
        read += 1
    assert read > 15
    assert readable >= {"RelatedPerson", "Device", "Task", "DetectedIssue", "Provenance", "Practitioner"}
    assert client.get(f"{FHIR}MedicationAdministration/{full.ids['denied']}").status_code == 404


def test_reads_of_another_teams_resources_are_404(api, other_team_clinician, full):
    client = api(other_team_clinician)
    for path in (f"Task/{full.referral.pk}", f"DetectedIssue/{full.alert.pk}", f"Device/{full.patient.pk}"):
        response = client.get(f"{FHIR}{path}")
        assert response.status_code == 404, path
        assert response.json()["resourceType"] == "OperationOutcome"


def test_the_questionnaire_and_code_systems_are_served_in_each_language(anonymous):
    english = anonymous.get(f"{FHIR}Questionnaire/crossroad-checkin", HTTP_ACCEPT_LANGUAGE="en").json()
    italian = anonymous.get(f"{FHIR}Questionnaire/crossroad-checkin", HTTP_ACCEPT_LANGUAGE="it").json()
    validate(english)
    validate(italian)
    assert (english["language"], italian["language"]) == ("en", "it")
    assert english["item"][0]["text"] == "Pain right now"
    assert italian["item"][0]["text"] == "Dolore in questo momento"
    symptoms = anonymous.get(f"{FHIR}CodeSystem/crossroad-symptom").json()
    validate(symptoms)
    assert symptoms["url"].endswith("/fhir/CodeSystem/crossroad-symptom")
    assert "nausea" in {c["code"] for c in symptoms["concept"]}
    assert anonymous.get(f"{FHIR}CodeSystem/unknown").status_code == 404


def test_every_code_system_a_resource_names_is_served(api, anonymous, clinician, full):
    body = api(clinician).get(f"/api/v1/patients/{full.patient.pk}/fhir/").json()
    systems: set[str] = set()

    def walk(value):
        if isinstance(value, dict):
            if "system" in value and "/fhir/CodeSystem/" in str(value["system"]):
                systems.add(value["system"])
                served = anonymous.get(value["system"].removeprefix("http://127.0.0.1:8000")).json()
                assert value["code"] in {c["code"] for c in served["concept"]}, value
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(body)
    assert len(systems) >= 8


def test_a_bad_search_parameter_is_a_400_operation_outcome(api, clinician, full):
    response = api(clinician).get(f"{FHIR}Observation?patient={full.patient.pk}&date=yesterday")
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"
    assert api(clinician).get(f"{FHIR}Observation").status_code == 400  # whose?


@pytest.mark.parametrize("count", [2, 20])
def test_a_page_costs_the_same_queries_whatever_its_size(
    api, clinician, full, count, django_assert_max_num_queries
):
    client = api(clinician)
    with django_assert_max_num_queries(7):
        assert client.get(f"{FHIR}Observation?patient={full.patient.pk}&_count={count}").status_code == 200
    with django_assert_max_num_queries(18):
        assert client.get(f"{FHIR}Patient/{full.patient.pk}/$everything?_count={count}").status_code == 200


def test_an_unknown_fhir_url_is_a_404_operation_outcome(anonymous):
    response = anonymous.get(f"{FHIR}Basic/whatever")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/fhir+json")
    assert response.json()["resourceType"] == "OperationOutcome"


def test_check_deploy_refuses_the_test_only_loopback_setting(settings):

    settings.OUTBOUND_ALLOW_LOOPBACK = True
    assert [e.id for e in interop_deploy(None)] == ["interop.E001"]
    settings.OUTBOUND_ALLOW_LOOPBACK = False
    assert interop_deploy(None) == []


def test_the_clinician_who_decided_reads_as_practitioner_for_colleagues_and_the_patient(
    api, clinician, team_admin, other_patient, other_team_clinician, full
):
    assert api(clinician).post(f"/api/v1/referrals/{full.referral.pk}/accept/").status_code == 200
    path = f"{FHIR}Practitioner/{clinician.pk}"
    assert api(team_admin).get(path).status_code == 200  # a colleague of the same team
    assert api(full.patient.user).get(path).json()["id"] == str(clinician.pk)  # named in her referral
    assert api(other_patient.user).get(path).status_code == 404
    assert api(other_team_clinician).get(path).status_code == 404


def test_a_resource_that_fails_validation_never_leaves_and_the_client_gets_an_outcome(
    api, clinician, full, monkeypatch
):

    real = fhir_views.patient_resource
    monkeypatch.setattr(fhir_views, "patient_resource", lambda p: {**real(p), "active": "sometimes"})
    response = api(clinician).get(f"{FHIR}Patient/{full.patient.pk}")
    assert response.status_code == 500
    assert response.json()["resourceType"] == "OperationOutcome"
    assert "sometimes" not in response.content.decode()
