"""The FHIR R4 mapping of a whole patient record (SPEC "Hospital interoperability")."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from fhir.resources.R4B.bundle import Bundle

from care.models import AccessEvent
from diary import catalog
from interop.mapping.common import derived_id
from interop.validation import validate
from tests.interop_helpers import make_full_record

pytestmark = pytest.mark.django_db

SPEC_TABLE = {
    "Patient",
    "Observation",
    "QuestionnaireResponse",
    "AdverseEvent",
    "MedicationAdministration",
    "Device",
    "DeviceUseStatement",
    "Provenance",
    "RelatedPerson",
    "Flag",
    "DetectedIssue",
    "ServiceRequest",
    "Task",
}


@pytest.fixture
def full(patient, caregiver, clinician):
    return make_full_record(patient, caregiver, clinician)


def export(api, user, patient):
    response = api(user).get(f"/api/v1/patients/{patient.pk}/fhir/")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/fhir+json")
    return response.json()


def by_type(bundle: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for entry in bundle["entry"]:
        out.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    return out


def references(value, found: list[str]) -> list[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                found.append(item)
            else:
                references(item, found)
    elif isinstance(value, list):
        for item in value:
            references(item, found)
    return found


def test_the_bundle_holds_every_resource_of_the_spec_table_and_each_validates(api, clinician, full):
    bundle = export(api, clinician, full.patient)
    Bundle.model_validate(bundle)
    kinds = by_type(bundle)
    assert kinds.keys() >= SPEC_TABLE
    for entry in bundle["entry"]:
        validate(entry["resource"])  # R4B model, required codes and reference targets
        resource = entry["resource"]
        assert entry["fullUrl"].endswith(f"/fhir/{resource['resourceType']}/{resource['id']}")
    # Every check-in is a QuestionnaireResponse of the diary's Questionnaire.
    assert {qr["id"] for qr in kinds["QuestionnaireResponse"]} == {
        full.ids[k] for k in ("full", "corrected", "retracted", "by_caregiver")
    }
    assert AccessEvent.objects.filter(actor=clinician, patient_ids=[str(full.patient.pk)]).exists()


def test_every_reference_resolves_inside_the_bundle(api, clinician, full):
    bundle = export(api, clinician, full.patient)
    present = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        contained = {f"#{c['id']}" for c in resource.get("contained", [])}
        for reference in references(resource, []):
            assert reference in present or reference in contained, (resource["resourceType"], reference)


def test_the_four_pain_scores_carry_loinc_72514_3_and_say_which_score(api, clinician, full):
    observations = by_type(export(api, clinician, full.patient))["Observation"]
    full_checkin = [
        o
        for o in observations
        if o.get("derivedFrom") == [{"reference": f"QuestionnaireResponse/{full.ids['full']}"}]
    ]
    scores = {}
    for o in full_checkin:
        codes = {(c["system"].rsplit("/", 1)[-1], c["code"]) for c in o["code"]["coding"]}
        if ("loinc.org", "72514-3") in codes:
            which = next(code for system, code in codes if system == "crossroad-score")
            scores[which] = o["valueQuantity"]["value"]
            assert o["category"][0]["coding"][0]["code"] == "survey"
            moment = datetime.fromisoformat(o["effectiveDateTime"])  # with the patient's offset
            assert moment.utcoffset() == ZoneInfo("Europe/Rome").utcoffset(moment.replace(tzinfo=None))
    assert scores == {"pain_now": 6, "pain_worst": 8, "pain_least": 3, "pain_average": 5}
    interference = [o for o in full_checkin if o["code"]["coding"][0]["code"] == "77565-0"]
    assert [o["valueQuantity"]["value"] for o in interference] == [5.6]
    dn4 = next(o for o in full_checkin if o["code"]["coding"][0]["code"] == "dn4_descriptors")
    assert dn4["valueInteger"] == 2
    assert {c["code"]["coding"][0]["code"] for c in dn4["component"] if c["valueBoolean"]} == {
        "burning",
        "tingling",
    }
    symptoms = {
        o["code"]["coding"][0]["code"]: o["valueQuantity"]["value"]
        for o in full_checkin
        if "crossroad-symptom" in o["code"]["coding"][0]["system"]
    }
    assert symptoms == {"nausea": 4, "tiredness": 6}


def test_corrected_and_retracted_records_say_amended_and_entered_in_error(api, clinician, full):
    kinds = by_type(export(api, clinician, full.patient))
    statuses = {qr["id"]: qr["status"] for qr in kinds["QuestionnaireResponse"]}
    assert statuses[full.ids["corrected"]] == "amended"
    assert statuses[full.ids["retracted"]] == "entered-in-error"
    assert statuses[full.ids["full"]] == "completed"
    pain = {
        o["derivedFrom"][0]["reference"].split("/")[1]: (o["status"], o["valueQuantity"]["value"])
        for o in kinds["Observation"]
        if o["code"]["coding"][-1]["code"] == "pain_now"
    }
    assert pain[full.ids["corrected"]] == ("amended", 7)
    assert pain[full.ids["retracted"]] == ("entered-in-error", 9)


def test_a_caregiver_report_has_a_provenance_and_the_caregiver_as_author(api, clinician, caregiver, full):
    kinds = by_type(export(api, clinician, full.patient))
    person = kinds["RelatedPerson"][0]
    assert person["patient"] == {"reference": f"Patient/{full.patient.pk}"}
    response = next(qr for qr in kinds["QuestionnaireResponse"] if qr["id"] == full.ids["by_caregiver"])
    assert response["author"] == {"reference": f"RelatedPerson/{person['id']}"}
    assert response["source"] == {"reference": f"Patient/{full.patient.pk}"}
    (provenance,) = kinds["Provenance"]
    assert {"reference": f"QuestionnaireResponse/{full.ids['by_caregiver']}"} in provenance["target"]
    assert provenance["agent"][0]["who"] == {"reference": f"RelatedPerson/{person['id']}"}
    own = next(qr for qr in kinds["QuestionnaireResponse"] if qr["id"] == full.ids["full"])
    assert own["author"] == {"reference": f"Patient/{full.patient.pk}"}


def test_adverse_effect_dose_and_pump(api, clinician, full):
    kinds = by_type(export(api, clinician, full.patient))
    (event,) = kinds["AdverseEvent"]
    assert event["actuality"] == "actual"
    assert event["event"]["coding"][0]["code"] == "constipation"
    assert event["severity"]["coding"][0]["code"] == "severe"
    assert event["contained"][0]["code"]["coding"][0]["code"] == "oxycodone"
    assert event["suspectEntity"] == [{"instance": {"reference": "#suspect"}}]
    administrations = {m["id"]: m for m in kinds["MedicationAdministration"]}
    dose = administrations[full.ids["dose"]]
    assert dose["dosage"]["dose"] == {
        "value": 10.0,
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg",
    }
    (mme,) = [
        o
        for o in kinds["Observation"]
        if o.get("partOf") == [{"reference": f"MedicationAdministration/{dose['id']}"}]
    ]
    assert mme["valueQuantity"]["value"] == 15.0  # oral MME of 10 mg oxycodone
    assert mme["code"]["coding"][0]["code"] == "oral_mme"
    (device,) = kinds["Device"]
    bolus = administrations[full.ids["delivered"]]
    assert bolus["device"] == [{"reference": f"Device/{device['id']}"}]
    assert full.ids["denied"] not in administrations
    denied = [o for o in kinds["Observation"] if o["code"]["coding"][0]["code"] == "pta_denied_activations"]
    assert [o["valueInteger"] for o in denied] == [1]
    assert kinds["DeviceUseStatement"][0]["device"] == {"reference": f"Device/{device['id']}"}


def test_the_open_alert_is_an_active_flag_and_the_referral_a_proposal_with_its_evidence(api, clinician, full):
    kinds = by_type(export(api, clinician, full.patient))
    (flag,) = kinds["Flag"]
    (issue,) = kinds["DetectedIssue"]
    assert flag["id"] == str(full.alert.pk)
    assert flag["status"] == "active"
    assert flag["extension"][0]["valueReference"] == {"reference": f"DetectedIssue/{issue['id']}"}
    assert {"reference": f"QuestionnaireResponse/{full.ids['full']}"} in issue["implicated"]
    (request,) = kinds["ServiceRequest"]
    assert (request["status"], request["intent"]) == ("active", "proposal")
    reasons = {r["reference"] for r in request["reasonReference"]}
    assert f"Observation/{derived_id(full.ids['full'], 'pain_now')}" in reasons
    assert request["supportingInfo"] == [{"reference": f"DetectedIssue/{issue['id']}"}]
    (task,) = kinds["Task"]
    assert task["focus"] == {"reference": f"ServiceRequest/{request['id']}"}
    assert task["status"] == "requested"


def test_an_accepted_referral_becomes_an_order(api, clinician, full):
    # (The Practitioner is the clinician who decided; it reads at /fhir/Practitioner/{id}.)
    response = api(clinician).post(f"/api/v1/referrals/{full.referral.pk}/accept/")
    assert response.status_code == 200
    kinds = by_type(export(api, clinician, full.patient))
    assert (kinds["ServiceRequest"][0]["intent"], kinds["Task"][0]["status"]) == ("order", "accepted")
    assert kinds["Practitioner"][0]["id"] == str(clinician.pk)


def test_a_second_export_gives_the_same_ids(api, clinician, full):
    first = Counter(
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in export(api, clinician, full.patient)["entry"]
    )
    second = Counter(
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in export(api, clinician, full.patient)["entry"]
    )
    assert first == second
    assert max(first.values()) == 1


def test_the_patient_may_export_their_own_bundle_but_a_caregiver_may_not(api, patient, caregiver, full):
    assert api(patient.user).get(f"/api/v1/patients/{patient.pk}/fhir/").status_code == 200
    assert api(caregiver).get(f"/api/v1/patients/{patient.pk}/fhir/").status_code == 403


def test_another_teams_clinician_gets_404(api, other_team_clinician, full):
    assert api(other_team_clinician).get(f"/api/v1/patients/{full.patient.pk}/fhir/").status_code == 404


def test_a_symptom_with_a_loinc_code_in_the_catalog_carries_it_first(api, clinician, full, monkeypatch):
    from dataclasses import replace

    monkeypatch.setitem(catalog.SYMPTOMS, "nausea", replace(catalog.SYMPTOMS["nausea"], loinc="00000-0"))
    observations = by_type(export(api, clinician, full.patient))["Observation"]
    nausea = next(o for o in observations if any(c["code"] == "nausea" for c in o["code"]["coding"]))
    assert [c["code"] for c in nausea["code"]["coding"]] == ["00000-0", "nausea"]
    assert nausea["code"]["coding"][0]["system"] == "http://loinc.org"
