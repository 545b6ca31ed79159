"""Evaluating a patient: run the rules on their window and record what they found."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from alerts import engine
from alerts.actions.lifecycle import open_alert, update_alert
from alerts.actions.referrals import update_referral
from alerts.models import Alert
from alerts.rules import SEVERITY_RANK, WINDOW_DAYS, Finding
from alerts.status import refresh_patient_status
from care.models import Patient


def cooldown() -> timedelta:
    return timedelta(hours=settings.ALERT_COOLDOWN_HOURS)


@transaction.atomic(durable=True)
def evaluate_patient(*, patient_id: uuid.UUID | str, only: tuple[str, ...] | None = None) -> list[Alert]:
    """Run the rules for one patient and record what they found. Idempotent.

    The patient row is locked first, so two evaluations of one patient (a sync and the
    beat schedule, two workers) run one after the other and create one alert, not two.
    """
    patient = Patient.objects.select_for_update().filter(pk=patient_id).first()
    if patient is None or patient.withdrawn_at is not None:
        return []
    now = timezone.now()
    findings = engine.verdict_map(engine.evaluate(patient, only=only))
    raised = apply_findings(patient=patient, findings=findings, now=now)
    update_referral(patient=patient, findings=findings, raised=raised, now=now)
    refresh_patient_status(patient)
    return raised


def apply_findings(*, patient: Patient, findings: dict[str, Finding], now: datetime) -> list[Alert]:
    """Open, update or raise one alert per rule; returns the alerts created or raised."""
    if not findings:
        return []
    # Locked: a clinician acknowledging or resolving meanwhile must not be written over.
    unresolved = {a.rule: a for a in Alert.objects.filter(patient=patient).unresolved().select_for_update()}
    horizon = now - max(cooldown(), timedelta(days=WINDOW_DAYS))
    last_resolved: dict[str, Alert] = {}
    for alert in Alert.objects.filter(
        patient=patient, status=Alert.Status.RESOLVED, rule__in=list(findings), resolved_at__gte=horizon
    ).order_by("-resolved_at"):
        last_resolved.setdefault(alert.rule, alert)

    raised = []
    for code, finding in findings.items():
        alert = unresolved.get(code)
        if alert is not None:
            if update_alert(alert=alert, finding=finding, now=now):
                raised.append(alert)
        elif not quiet_after_resolution(last_resolved.get(code), finding, now):
            raised.append(open_alert(patient=patient, finding=finding, now=now))
    return raised


def quiet_after_resolution(resolved: Alert | None, finding: Finding, now: datetime) -> bool:
    """After resolution a rule stays quiet for the cooldown, and afterwards until it has
    evidence the resolved alert did not, unless the severity is higher.

    A red flag is never quiet on a new report: saddle numbness reported again the day
    after the last report was resolved is a new emergency, whatever the cooldown.
    """
    if resolved is None or SEVERITY_RANK[finding.severity] > SEVERITY_RANK[resolved.severity]:
        return False
    new_evidence = not set(finding.record_ids) <= set(resolved.record_ids)
    if finding.rule == "red_flag" and new_evidence:
        return False
    if now - resolved.resolved_at < cooldown():
        return True
    return bool(finding.record_ids) and not new_evidence
