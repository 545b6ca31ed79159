"""FHIR R4 export of a patient's diary: a `collection` Bundle of the Patient, one pain
Observation per check-in (LOINC 72514-3), symptom Observations, and a QuestionnaireResponse
per check-in with the BPI interference items. Built as plain JSON; the tests validate it
with the R4B models of fhir.resources (wire-compatible with R4 for these resources)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from care.models import Patient
from diary import catalog
from diary.models import CheckIn, RecordStatus

LOINC = "http://loinc.org"
CODES = f"{settings.PUBLIC_URL}/fhir/CodeSystem/crossroad"
SCORE_UNIT = {"system": "http://unitsofmeasure.org", "code": "{score}", "unit": "score"}


def _score(code: dict, value: int, when: str, subject: str, record_id: str, part: str) -> dict:
    return {
        "fullUrl": f"urn:uuid:{record_id}-{part}" if part else f"urn:uuid:{record_id}",
        "resource": {
            "resourceType": "Observation",
            "status": "final",
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "survey",
                        }
                    ]
                }
            ],
            "code": code,
            "subject": {"reference": subject},
            "effectiveDateTime": when,
            "valueQuantity": {"value": value, **SCORE_UNIT},
        },
    }


def _concept(system: str, code: str, display: str) -> dict:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def checkin_entries(checkin: CheckIn, subject: str) -> list[dict[str, Any]]:
    when = checkin.recorded_at.isoformat()
    rid = str(checkin.pk)
    pain = _concept(
        LOINC, catalog.PAIN_NRS_LOINC, "Pain severity - 0-10 verbal numeric rating [Score] - Reported"
    )
    entries = [_score(pain, checkin.pain_now, when, subject, rid, "")]
    for code, value in checkin.symptoms.items():
        label = str(catalog.SYMPTOMS[code].label)
        entries.append(_score(_concept(CODES, code, label), value, when, subject, rid, code))
    if checkin.interference:
        entries.append(
            {
                "fullUrl": f"urn:uuid:{rid}-bpi",
                "resource": {
                    "resourceType": "QuestionnaireResponse",
                    "status": "completed",
                    "questionnaire": f"{settings.PUBLIC_URL}/fhir/Questionnaire/bpi-interference",
                    "subject": {"reference": subject},
                    "authored": when,
                    "item": [
                        {
                            "linkId": code,
                            "text": str(catalog.INTERFERENCE_ITEMS[code].label),
                            "answer": [{"valueInteger": value}],
                        }
                        for code, value in checkin.interference.items()
                    ],
                },
            }
        )
    return entries


def patient_bundle(patient: Patient) -> dict[str, Any]:
    subject = f"urn:uuid:{patient.pk}"
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": subject,
            "resource": {
                "resourceType": "Patient",
                "identifier": [{"system": f"{settings.PUBLIC_URL}/patients", "value": str(patient.pk)}],
                "name": [{"text": patient.display_name}],
                "communication": [
                    {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": patient.language}]}}
                ],
            },
        }
    ]
    checkins = CheckIn.objects.for_patient(patient).filter(status=RecordStatus.ACTIVE).order_by("recorded_at")
    for checkin in checkins.iterator(chunk_size=1000):
        entries.extend(checkin_entries(checkin, subject))
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}
