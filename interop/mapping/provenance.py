"""A record a caregiver reported for the patient gets a Provenance: the caregiver
(RelatedPerson) is the author, on behalf of the patient; the resources made from the
record are its targets."""

from __future__ import annotations

from diary.models import DiaryRecord, ReporterRole
from interop.mapping.common import (
    People,
    Resource,
    coding,
    instant,
    observed,
    reference_of,
    reporter_reference,
)

PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"


def provenance_resource(record: DiaryRecord, targets: list[Resource], people: People) -> Resource | None:
    if record.reporter_role != ReporterRole.CAREGIVER or not targets:
        return None
    author = reporter_reference(record, people)
    if not author["reference"].startswith("RelatedPerson/"):
        return None
    return {
        "resourceType": "Provenance",
        "id": str(record.pk),
        "target": [reference_of(t) for t in targets],
        "occurredDateTime": observed(record),
        "recorded": instant(record.created_at),
        "agent": [
            {
                "type": {"coding": [coding(PARTICIPANT_TYPE, "author", "Author")]},
                "who": author,
                "onBehalfOf": {"reference": f"Patient/{record.patient_id}"},
            }
        ],
    }
