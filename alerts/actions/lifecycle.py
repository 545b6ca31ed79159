"""An alert's life: opened or updated by an evaluation, acknowledged, resolved. Every
step is an AlertEvent with its actor and time."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from alerts.actions.escalation import notify_tier
from alerts.models import Alert, AlertEvent, Notification
from alerts.rules import CONTEXT_CRITERIA, PAIN_CRITERIA, RULES, SEVERITY_RANK, Finding
from alerts.status import lock_patient, refresh_patient_status
from care.models import Patient, User


def box2_criteria(patient: Patient, rule: str) -> list[int]:
    """The Box 2 criteria an alert of this rule evidences, with #7/#8 when a pain
    criterion is met and the patient's context applies."""
    number = RULES[rule].box2
    if number is None:
        return []
    criteria = [number]
    if number in PAIN_CRITERIA:
        criteria += [n for n, flag in CONTEXT_CRITERIA.items() if getattr(patient, flag)]
    return criteria


def open_alert(*, patient: Patient, finding: Finding, now: datetime) -> Alert:
    alert = Alert.objects.create(
        patient=patient,
        rule=finding.rule,
        severity=finding.severity,
        box2_criteria=box2_criteria(patient, finding.rule),
        evidence=finding.evidence,
        record_ids=list(finding.record_ids),
        late=finding.late,
        created_at=now,
        last_triggered_at=now,
    )
    AlertEvent.objects.create(
        alert=alert, kind=AlertEvent.Kind.CREATED, at=now, detail={"late": finding.late}
    )
    if finding.severity != "info":
        # A late record's escalation clock starts now, at arrival (SPEC).
        notify_tier(alert=alert, tier=1, kind=Notification.Kind.ALERT, now=now)
    return alert


def update_alert(*, alert: Alert, finding: Finding, now: datetime) -> bool:
    """New evidence updates the alert; a higher severity notifies again. True if raised."""
    new_records = set(finding.record_ids) - set(alert.record_ids)
    raised = SEVERITY_RANK[finding.severity] > SEVERITY_RANK[alert.severity]
    if not new_records and not raised:
        return False
    alert.evidence = finding.evidence
    alert.record_ids = sorted(set(alert.record_ids) | set(finding.record_ids))
    alert.last_triggered_at = now
    alert.late = alert.late or finding.late
    if new_records:
        AlertEvent.objects.create(
            alert=alert, kind=AlertEvent.Kind.UPDATED, at=now, detail={"records": len(new_records)}
        )
    if raised:
        previous = alert.severity
        alert.severity = finding.severity
        AlertEvent.objects.create(
            alert=alert,
            kind=AlertEvent.Kind.SEVERITY_RAISED,
            at=now,
            detail={"from": previous, "to": finding.severity},
        )
    alert.save(update_fields=["evidence", "record_ids", "last_triggered_at", "late", "severity"])
    if raised:
        # An acknowledged alert is not escalated again, but whoever holds it hears of it.
        notify_tier(
            alert=alert, tier=max(alert.escalation_tier, 1), kind=Notification.Kind.SEVERITY_RAISED, now=now
        )
    return raised


@transaction.atomic(durable=True)
def acknowledge_alert(*, alert: Alert, by: User, note: str = "") -> Alert:
    lock_patient(alert.patient_id)
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    now = timezone.now()
    alert.acknowledge(at=now)
    alert.save()
    AlertEvent.objects.create(
        alert=alert, kind=AlertEvent.Kind.ACKNOWLEDGED, actor=by, at=now, detail={"note": note}
    )
    refresh_patient_status(alert.patient)
    return alert


@transaction.atomic(durable=True)
def resolve_alert(*, alert: Alert, by: User, resolution: str) -> Alert:
    lock_patient(alert.patient_id)
    alert = close_alert(
        alert=Alert.objects.select_for_update().get(pk=alert.pk), by=by, resolution=resolution
    )
    refresh_patient_status(alert.patient)
    return alert


def close_alert(*, alert: Alert, by: User, resolution: str) -> Alert:
    """Resolve a locked alert in the caller's transaction (a clinician's resolve, a
    withdrawal of consent)."""
    now = timezone.now()
    alert.resolve(at=now, resolution=resolution)
    alert.save()
    AlertEvent.objects.create(
        alert=alert, kind=AlertEvent.Kind.RESOLVED, actor=by, at=now, detail={"resolution": resolution}
    )
    return alert
