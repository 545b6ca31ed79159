"""Evaluating a patient: run the rules on their window and record what they found."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from alerts import engine
from alerts.actions.lifecycle import open_alert, update_alert
from alerts.actions.referrals import update_referral
from alerts.models import Alert
from alerts.rules import SEVERITY_RANK, WINDOW_DAYS, Finding
from alerts.status import TriageFacts, refresh_patient_status
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
    snapshot = engine.load(patient)
    findings = engine.verdict_map(engine.run(engine.rule_settings(patient), snapshot, only=only))
    alerts = recent_alerts(patient, now)
    raised = apply_findings(patient=patient, findings=findings, now=now, alerts=alerts)
    referral = update_referral(patient=patient, findings=findings, raised=raised, now=now)
    unresolved = {a.pk: a for a in [*alerts, *raised] if a.status in Alert.UNRESOLVED}
    facts = TriageFacts.of_evaluation(
        patient=patient, snapshot=snapshot, unresolved=list(unresolved.values()), referral=referral
    )
    refresh_patient_status(patient, facts)
    return raised


def recent_alerts(patient: Patient, now: datetime) -> list[Alert]:
    """One locked read: the patient's unresolved alerts, and those resolved recently enough
    to keep their rule quiet. Locked, so that a clinician acknowledging or resolving
    meanwhile is not written over."""
    horizon = now - max(cooldown(), timedelta(days=WINDOW_DAYS))
    return list(
        Alert.objects.filter(patient=patient)
        .filter(Q(status__in=Alert.UNRESOLVED) | Q(status=Alert.Status.RESOLVED, resolved_at__gte=horizon))
        .order_by("-resolved_at")
        .select_for_update()
    )


def apply_findings(
    *, patient: Patient, findings: dict[str, Finding], now: datetime, alerts: list[Alert] | None = None
) -> list[Alert]:
    """Open, update or raise one alert per rule; returns the alerts created or raised.
    `alerts` are the patient's recent_alerts, when the caller already holds them."""
    if not findings:
        return []
    alerts = recent_alerts(patient, now) if alerts is None else alerts
    unresolved = {a.rule: a for a in alerts if a.status in Alert.UNRESOLVED}
    last_resolved: dict[str, Alert] = {}
    for alert in alerts:  # newest resolution first
        if alert.status == Alert.Status.RESOLVED:
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
