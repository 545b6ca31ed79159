"""Write paths of the alerts app: evaluate, raise, acknowledge, resolve, refer, notify."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from alerts import engine
from alerts.models import (
    Alert,
    AlertEvent,
    AlertRuleConfig,
    EscalationPolicy,
    Notification,
    ReferralRecommendation,
    default_tiers,
)
from alerts.referral_outbox import referral_changed
from alerts.rules import CONTEXT_CRITERIA, PAIN_CRITERIA, RULES, SEVERITY_RANK, Finding
from alerts.status import refresh_patient_status
from care.models import Patient, TeamMembership, User

Status = Alert.Status


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


def box2_criteria(patient: Patient, rule: str) -> list[int]:
    number = RULES[rule].box2
    if number is None:
        return []
    criteria = [number]
    if number in PAIN_CRITERIA:
        criteria += [n for n, flag in CONTEXT_CRITERIA.items() if getattr(patient, flag)]
    return criteria


def apply_findings(*, patient: Patient, findings: dict[str, Finding], now: datetime) -> list[Alert]:
    """Open, update or raise one alert per rule; returns the alerts created or raised."""
    if not findings:
        return []
    # Locked: a clinician acknowledging or resolving meanwhile must not be written over.
    unresolved = {a.rule: a for a in Alert.objects.filter(patient=patient).unresolved().select_for_update()}
    horizon = now - max(cooldown(), timedelta(days=engine.WINDOW_DAYS))
    last_resolved: dict[str, Alert] = {}
    for alert in Alert.objects.filter(
        patient=patient, status=Status.RESOLVED, rule__in=list(findings), resolved_at__gte=horizon
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


def policy_tiers(team_id) -> tuple[list[dict], EscalationPolicy | None]:
    policy = EscalationPolicy.objects.filter(team_id=team_id).first()
    return (policy.tiers if policy else default_tiers()), policy


def tier_timeout(tiers: list[dict], tier: int, severity: str) -> timedelta | None:
    if tier >= len(tiers) or severity == "info":
        return None  # the last tier has no one left to escalate to
    minutes = tiers[tier - 1].get("timeout_minutes", {}).get(severity)
    default = settings.ESCALATION_DEFAULT_MINUTES[severity]
    return timedelta(minutes=minutes or default)


def tier_recipients(team_id, tier: dict) -> list[User]:
    recipients = tier.get("recipients", {})
    memberships = TeamMembership.objects.filter(team_id=team_id).select_related("user")
    chosen = memberships.filter(team_role__in=recipients.get("team_roles", [])) | memberships.filter(
        user_id__in=recipients.get("clinicians", [])
    )
    return [m.user for m in chosen.filter(user__is_active=True).prefetch_related("user__devices").distinct()]


def notify_tier(*, alert: Alert, tier: int, kind: str, now: datetime) -> list[Notification]:
    """Write the outbox rows for one tier (in the caller's transaction) and set the
    escalation due time; workers deliver after commit."""
    tiers, policy = policy_tiers(alert.patient.care_team_id)
    tier = min(tier, len(tiers))
    recipients = tier_recipients(alert.patient.care_team_id, tiers[tier - 1]) if tiers else []
    base = f"{kind}:{alert.pk}:{tier}:{alert.severity}"
    rows = []
    for user in recipients:
        if user.email:
            rows.append(Notification(key=f"{base}:{user.pk}:email", channel="email", recipient=user))
        if user.devices.all():
            rows.append(Notification(key=f"{base}:{user.pk}:push", channel="push", recipient=user))
    if policy is not None and policy.webhook_url:
        rows.append(
            Notification(key=f"{base}:webhook", channel="webhook", team_id=alert.patient.care_team_id)
        )
    for row in rows:
        row.kind, row.alert, row.created_at, row.next_attempt_at = kind, alert, now, now
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    alert.escalation_tier = tier
    timeout = tier_timeout(tiers, tier, alert.severity)
    alert.escalation_due_at = now + timeout if timeout and alert.status == Status.OPEN else None
    alert.save(update_fields=["escalation_tier", "escalation_due_at"])
    AlertEvent.objects.create(
        alert=alert,
        kind=AlertEvent.Kind.NOTIFIED if kind != Notification.Kind.ESCALATION else AlertEvent.Kind.ESCALATED,
        at=now,
        detail={"tier": tier, "recipients": [str(u.pk) for u in recipients], "channels": len(rows)},
    )
    enqueue_deliveries([row.pk for row in rows])
    return rows


def enqueue_deliveries(ids: list[uuid.UUID]) -> None:
    """After commit, one delivery task per row. A row that lost to an existing key was
    never inserted, and its task finds nothing to do. If the broker is down, the outbox
    sweeper sends them later."""
    from alerts.tasks import deliver_notification, enqueue

    for pk in ids:
        transaction.on_commit(lambda pk=pk: enqueue(deliver_notification, str(pk)))


@transaction.atomic(durable=True)
def escalate_alert(*, alert_id, now: datetime | None = None) -> Alert | None:
    """Move an unacknowledged alert whose tier timed out up one tier. Idempotent: a second
    sweep finds it no longer due."""
    now = now or timezone.now()
    alert = Alert.objects.select_for_update().select_related("patient").filter(pk=alert_id).first()
    if (
        alert is None
        or alert.status != Status.OPEN
        or not alert.escalation_due_at
        or alert.escalation_due_at > now
    ):
        return None
    tiers, _ = policy_tiers(alert.patient.care_team_id)
    if alert.escalation_tier >= len(tiers):
        alert.escalation_due_at = None
        alert.save(update_fields=["escalation_due_at"])
        return alert
    notify_tier(alert=alert, tier=alert.escalation_tier + 1, kind=Notification.Kind.ESCALATION, now=now)
    return alert


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


def lock_patient(patient_id) -> None:
    """Every write that refreshes a patient's triage row takes the patient lock first, as
    evaluate_patient does, so that the last writer of the row saw the last state."""
    Patient.objects.select_for_update().filter(pk=patient_id).values_list("pk", flat=True).first()


def update_referral(
    *, patient: Patient, findings: dict[str, Finding], raised: list[Alert], now: datetime
) -> ReferralRecommendation | None:
    """The Box 2 aggregate: created when a "+ referral" rule raises an alert, updated while
    open, never two open at once; after a decline or completion a newly raised criterion
    starts a new one."""
    met = {code: f for code, f in findings.items() if RULES[code].referral}
    referral = ReferralRecommendation.objects.filter(
        patient=patient, status__in=ReferralRecommendation.OPEN
    ).first()
    if referral is None and not any(RULES[a.rule].referral for a in raised):
        return None
    if not met and referral is None:
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
    rules = {c["rule"] for c in criteria.values() if c["rule"]}
    if any(RULES[r].severity == "urgent" for r in rules):
        priority = ReferralRecommendation.Priority.URGENT
    elif any(getattr(patient, flag) for flag in CONTEXT_CRITERIA.values()):
        # SPEC: #7/#8 raise the priority of any referral, listed or not (#9 alone too).
        priority = ReferralRecommendation.Priority.HIGH
    else:
        priority = ReferralRecommendation.Priority.ROUTINE
    new_criteria = [criteria[n] for n in sorted(criteria)]
    if referral.pk and referral.criteria == new_criteria and referral.priority == priority:
        return referral
    referral.criteria = new_criteria
    referral.priority = priority
    referral.updated_at = now
    referral.save()
    referral_changed(referral=referral, now=now)
    return referral


class IllegalTransition(Exception):
    pass


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


def save_rule_config(*, config: AlertRuleConfig | None, data: dict[str, Any]) -> AlertRuleConfig:
    config = config or AlertRuleConfig()
    for name, value in data.items():
        setattr(config, name, value)
    config.save()
    return config


def save_escalation_policy(*, team_id, data: dict[str, Any]) -> EscalationPolicy:
    policy, _ = EscalationPolicy.objects.get_or_create(team_id=team_id)
    for name, value in data.items():
        setattr(policy, name, value)
    policy.save()
    return policy
