"""The referral recommendation: the Box 2 aggregate the review asks for (SPEC)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from alerts.models import Alert, ReferralRecommendation
from alerts.referral_outbox import referral_changed
from alerts.rules import CONTEXT_CRITERIA, PAIN_CRITERIA, RULES, Finding
from alerts.status import lock_patient, refresh_patient_status
from care.models import Patient, User

Priority = ReferralRecommendation.Priority


class IllegalTransition(Exception):
    pass


def referral_priority(patient: Patient, rules: set[str]) -> str:
    """Urgent when an urgent rule is among the criteria, else high when #7 or #8 applies
    (SPEC: they raise the priority of any referral, listed or not; #9 alone too)."""
    if any(RULES[r].severity == "urgent" for r in rules):
        return Priority.URGENT
    if any(getattr(patient, flag) for flag in CONTEXT_CRITERIA.values()):
        return Priority.HIGH
    return Priority.ROUTINE


def update_referral(
    *, patient: Patient, findings: dict[str, Finding], raised: list[Alert], now: datetime
) -> ReferralRecommendation | None:
    """Created when a "+ referral" rule raises an alert, updated while open, never two open
    at once; after a decline or completion a newly raised criterion starts a new one."""
    met = {code: f for code, f in findings.items() if RULES[code].referral}
    referral = ReferralRecommendation.objects.filter(
        patient=patient, status__in=ReferralRecommendation.OPEN
    ).first()
    if referral is None and not (met and any(RULES[a.rule].referral for a in raised)):
        return None
    if referral is None:
        referral = ReferralRecommendation(patient=patient, created_at=now)
    criteria: dict[int, dict[str, Any]] = {c["number"]: c for c in referral.criteria}
    for code, f in met.items():
        criteria[RULES[code].box2] = {"number": RULES[code].box2, "rule": code, "evidence": f.evidence}
    if any(n in PAIN_CRITERIA for n in criteria):
        for number, flag in CONTEXT_CRITERIA.items():
            if getattr(patient, flag):
                criteria[number] = {"number": number, "rule": None, "evidence": {flag: True}}
    priority = referral_priority(patient, {c["rule"] for c in criteria.values() if c["rule"]})
    new_criteria = [criteria[n] for n in sorted(criteria)]
    if referral.pk and referral.criteria == new_criteria and referral.priority == priority:
        return referral
    referral.criteria = new_criteria
    referral.priority = priority
    referral.updated_at = now
    referral.save()
    referral_changed(referral=referral, now=now)
    return referral


@transaction.atomic(durable=True)
def move_referral(
    *, referral: ReferralRecommendation, to: str, by: User, reason: str = ""
) -> ReferralRecommendation:
    lock_patient(referral.patient_id)
    referral = ReferralRecommendation.objects.select_for_update().get(pk=referral.pk)
    if not referral.can_move_to(to):
        raise IllegalTransition(referral.status)
    referral.status = to
    referral.decided_by = by
    referral.decline_reason = reason
    referral.updated_at = timezone.now()
    referral.save()
    referral_changed(referral=referral, now=referral.updated_at)
    refresh_patient_status(referral.patient)
    return referral
