"""A referral recommendation as a ServiceRequest (intent proposal, then order once
accepted; `reasonReference` the Observations behind the evidence) and a Task that tracks
its status."""

from __future__ import annotations

from alerts.models import Alert, ReferralRecommendation
from interop.mapping.codesystems import CONCEPTS
from interop.mapping.common import Resource, crossroad_concept, instant, ref
from interop.mapping.flags import detected_issue_id

Status = ReferralRecommendation.Status
# (ServiceRequest.status, ServiceRequest.intent, Task.status) per referral status.
STATES = {
    Status.SUGGESTED: ("active", "proposal", "requested"),
    Status.ACCEPTED: ("active", "order", "accepted"),
    Status.DECLINED: ("revoked", "proposal", "rejected"),
    Status.COMPLETED: ("completed", "order", "completed"),
}
# Priority: routine, high (context criteria) and urgent (an urgent rule) on FHIR's scale.
PRIORITY = {"routine": "routine", "high": "urgent", "urgent": "asap"}


def task_id(referral_id) -> str:
    return str(referral_id)


def referral_resources(
    referral: ReferralRecommendation,
    alerts: list[Alert],
    observation_refs: dict[str, list[dict]],
) -> list[Resource]:
    """`alerts`: the patient's alerts of the referral's rules (its evidence);
    `observation_refs`: per diary record id, the Observations made from it."""
    status, intent, task_status = STATES[referral.status]
    rules = {c["rule"] for c in referral.criteria if c.get("rule")}
    evidence = [a for a in alerts if a.rule in rules]
    reasons: list[dict] = []
    for alert in evidence:
        for rid in alert.record_ids:
            for reference in observation_refs.get(str(rid), []):
                if reference not in reasons:
                    reasons.append(reference)
    request: Resource = {
        "resourceType": "ServiceRequest",
        "id": str(referral.pk),
        "meta": {"lastUpdated": instant(referral.updated_at)},
        "status": status,
        "intent": intent,
        "priority": PRIORITY[referral.priority],
        "code": crossroad_concept("concept", "pain_referral", CONCEPTS["pain_referral"]),
        "subject": ref("Patient", referral.patient_id),
        "authoredOn": instant(referral.created_at),
        "reasonCode": [
            crossroad_concept("box2", str(c["number"]), f"Box 2 criterion {c['number']}")
            for c in referral.criteria
        ],
    }
    if reasons:
        request["reasonReference"] = reasons
    if evidence:
        request["supportingInfo"] = [ref("DetectedIssue", detected_issue_id(a.pk)) for a in evidence]
    if referral.decided_by_id:
        request["requester"] = ref("Practitioner", referral.decided_by_id)
    task: Resource = {
        "resourceType": "Task",
        "id": task_id(referral.pk),
        "status": task_status,
        "intent": "order" if intent == "order" else "proposal",
        "priority": PRIORITY[referral.priority],
        "focus": ref("ServiceRequest", referral.pk),
        "for": ref("Patient", referral.patient_id),
        "authoredOn": instant(referral.created_at),
        "lastModified": instant(referral.updated_at),
    }
    if referral.decline_reason:
        task["statusReason"] = {"text": referral.decline_reason}
    if referral.decided_by_id:
        task["owner"] = ref("Practitioner", referral.decided_by_id)
    return [request, task]
