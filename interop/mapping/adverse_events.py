"""An analgesic adverse effect as an AdverseEvent: actual, the effect coded, the PRO-CTCAE
grade as severity, the suspected drug as `suspectEntity` (a contained Medication)."""

from __future__ import annotations

from diary import catalog
from diary.models import AdverseEffect
from interop.mapping.common import (
    People,
    Resource,
    coding,
    crossroad_coding,
    crossroad_concept,
    instant,
    observed,
    ref,
    reporter_reference,
)

SEVERITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/adverse-event-severity"
# PRO-CTCAE grades 0-4 on the three levels of R4's AdverseEvent.severity.
SEVERITY_OF_GRADE = {0: "mild", 1: "mild", 2: "moderate", 3: "severe", 4: "severe"}


def adverse_event_resource(effect: AdverseEffect, people: People) -> Resource:
    """R4 AdverseEvent has no status: a retracted adverse effect is not exported (the
    caller leaves it out), a corrected one carries its new values and version."""
    item = catalog.ADVERSE_EFFECTS.get(effect.effect)
    label = item.label if item else effect.effect
    grade = effect.grade
    resource: Resource = {
        "resourceType": "AdverseEvent",
        "id": str(effect.pk),
        "meta": {"versionId": str(effect.version), "lastUpdated": instant(effect.updated_at)},
        "actuality": "actual",
        "event": crossroad_concept("adverse-effect", effect.effect, label),
        "subject": ref("Patient", effect.patient_id),
        "date": observed(effect),
        "recordedDate": instant(effect.created_at),
        "recorder": reporter_reference(effect, people),
        "severity": {
            "coding": [
                coding(SEVERITY_SYSTEM, SEVERITY_OF_GRADE.get(grade, "severe")),
                crossroad_coding("grade", str(grade), catalog.GRADES.get(grade, str(grade))),
            ],
            "text": str(catalog.GRADES.get(grade, grade)),
        },
    }
    if effect.limits_daily_activities:
        resource["seriousness"] = {"text": "Limits daily activities"}
    if effect.suspected_drug:
        drug = catalog.DRUGS.get(effect.suspected_drug)
        code = crossroad_concept("drug", drug.code, drug.label) if drug else {"text": effect.suspected_drug}
        resource["contained"] = [{"resourceType": "Medication", "id": "suspect", "code": code}]
        resource["suspectEntity"] = [{"instance": {"reference": "#suspect"}}]
    return resource
