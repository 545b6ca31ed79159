"""What every FHIR mapping module shares: stable ids, references, codes and statuses.

Ids (unique per resource type in FHIR): a resource that stands for an API object carries
that object's id (Patient, the check-in's QuestionnaireResponse, ...), and so does the
one resource of its kind made from it (the alert's DetectedIssue, the referral's Task,
a record's Provenance, the patient's Device), which keeps them readable by id; the
several Observations of one record each get a uuid5 of the record's id and a suffix
naming what they are. A second export updates the same resources, never duplicates.
"""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import datetime
from typing import Any

from django.conf import settings

from diary.models import DiaryRecord, RecordStatus, ReporterRole

Resource = dict[str, Any]

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
# Namespace of every derived id (uuid5 of "record id:suffix").
ID_NAMESPACE = uuid.UUID("5d0c3f0e-7c1b-4c36-9a53-6f6b0d2a9c11")
# One Crossroad CodeSystem per catalog family (symptom, adverse-effect, ...): the same
# code may stand for two concepts in two families ("nausea" the ESAS-r score and
# "nausea" the adverse effect). Served at /fhir/CodeSystem/crossroad-<family>.
CODE_SYSTEM_PREFIX = "crossroad-"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


def fhir_base() -> str:
    return f"{settings.PUBLIC_URL}/fhir"


def code_system_url(family: str) -> str:
    return f"{fhir_base()}/CodeSystem/{CODE_SYSTEM_PREFIX}{family}"


def derived_id(source_id: Any, suffix: str) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, f"{source_id}:{suffix}"))


def ref(resource_type: str, resource_id: Any) -> dict[str, str]:
    return {"reference": f"{resource_type}/{resource_id}"}


def reference_of(resource: Resource) -> dict[str, str]:
    return ref(resource["resourceType"], resource["id"])


def coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def crossroad_coding(family: str, code: str, display: Any) -> dict[str, str]:
    return coding(code_system_url(family), code, str(display))


def crossroad_concept(family: str, code: str, display: Any) -> dict[str, Any]:
    return {"coding": [crossroad_coding(family, code, display)], "text": str(display)}


def instant(moment: datetime) -> str:
    """FHIR dateTime/instant with its offset (the server stores UTC)."""
    return moment.isoformat()


def observed(record: DiaryRecord) -> str:
    """The moment a record was observed, with the UTC offset of the zone it was recorded
    in (SPEC: times with their offset): what the patient's clock said."""
    return record.observed_at.astimezone(zoneinfo.ZoneInfo(record.timezone)).isoformat()


def score_quantity(value: float | int) -> dict[str, Any]:
    return {"value": value, "system": UCUM, "code": "{score}", "unit": "score"}


def observation_status(record: DiaryRecord) -> str:
    """final, amended once corrected, entered-in-error once retracted."""
    if record.status == RecordStatus.ENTERED_IN_ERROR:
        return "entered-in-error"
    return "amended" if record.version > 1 else "final"


def is_retracted(record: DiaryRecord) -> bool:
    return record.status == RecordStatus.ENTERED_IN_ERROR


def reporter_reference(record: DiaryRecord, people: People) -> dict[str, str]:
    """Who reported: the patient, their caregiver (RelatedPerson) or a clinician."""
    if record.reporter_role == ReporterRole.CAREGIVER:
        link_id = people.caregiver_links.get(record.reported_by_id)
        if link_id is not None:
            return ref("RelatedPerson", link_id)
    if record.reporter_role == ReporterRole.CLINICIAN:
        return ref("Practitioner", record.reported_by_id)
    return ref("Patient", record.patient_id)


class People:
    """The people a patient's resources point at, loaded once: caregiver user id →
    CaregiverLink id (the RelatedPerson), and the clinicians who reported or decided."""

    def __init__(self, caregiver_links: dict[Any, Any], practitioners: dict[Any, str]):
        self.caregiver_links = caregiver_links
        self.practitioners = practitioners


def meta_updated(moment: datetime) -> dict[str, str]:
    return {"lastUpdated": instant(moment)}
