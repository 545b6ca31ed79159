"""An alert as a Flag (active while open or acknowledged) pointing at its evidence, a
DetectedIssue that names the rule, the severity and the records behind it."""

from __future__ import annotations

import json

from alerts.models import Alert
from alerts.rules import RULES
from interop.mapping.common import Resource, crossroad_concept, instant, ref

FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
FLAG_DETAIL = "http://hl7.org/fhir/StructureDefinition/flag-detail"
ISSUE_SEVERITY = {"urgent": "high", "warning": "moderate", "info": "low"}


def detected_issue_id(alert_id) -> str:
    return str(alert_id)


def alert_resources(alert: Alert, record_refs: dict[str, dict]) -> list[Resource]:
    """`record_refs` maps a diary record id to the reference of its resource."""
    code = crossroad_concept(
        "alert-rule", alert.rule, RULES[alert.rule].label if alert.rule in RULES else alert.rule
    )
    issue: Resource = {
        "resourceType": "DetectedIssue",
        "id": detected_issue_id(alert.pk),
        "status": "final",
        "code": code,
        "severity": ISSUE_SEVERITY[alert.severity],
        "patient": ref("Patient", alert.patient_id),
        "identifiedDateTime": instant(alert.created_at),
        # The rule's evidence as computed (days, values), for a reader who wants numbers.
        "detail": json.dumps(alert.evidence, sort_keys=True, default=str),
    }
    implicated = [record_refs[str(rid)] for rid in alert.record_ids if str(rid) in record_refs]
    if implicated:
        issue["implicated"] = implicated
    period = {"start": instant(alert.created_at)}
    if alert.resolved_at:
        period["end"] = instant(alert.resolved_at)
    flag: Resource = {
        "resourceType": "Flag",
        "id": str(alert.pk),
        "extension": [{"url": FLAG_DETAIL, "valueReference": ref("DetectedIssue", issue["id"])}],
        "status": "inactive" if alert.status == Alert.Status.RESOLVED else "active",
        "category": [{"coding": [{"system": FLAG_CATEGORY, "code": "clinical", "display": "Clinical"}]}],
        "code": code,
        "subject": ref("Patient", alert.patient_id),
        "period": period,
    }
    return [flag, issue]
