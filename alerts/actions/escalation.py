"""Who hears of an alert, through which channels, and when it moves up a tier."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from alerts import dispatch
from alerts.models import Alert, AlertEvent, EscalationPolicy, Notification, Severity
from care.models import TeamMembership, User


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
    policy = EscalationPolicy.of_team(alert.patient.care_team_id)
    tiers = policy.tiers
    tier = min(tier, len(tiers))
    recipients = tier_recipients(alert.patient.care_team_id, tiers[tier - 1]) if tiers else []
    base = f"{kind}:{alert.pk}:{tier}:{alert.severity}"
    rows = []
    for user in recipients:
        if user.email:
            rows.append(Notification(key=f"{base}:{user.pk}:email", channel="email", recipient=user))
        if user.devices.all():
            rows.append(Notification(key=f"{base}:{user.pk}:push", channel="push", recipient=user))
    if policy.webhook_url:
        rows.append(
            Notification(key=f"{base}:webhook", channel="webhook", team_id=alert.patient.care_team_id)
        )
    for row in rows:
        row.kind, row.alert, row.created_at, row.next_attempt_at = kind, alert, now, now
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    alert.escalation_tier = tier
    timeout = tier_timeout(tiers, tier, alert.severity)
    alert.escalation_due_at = now + timeout if timeout and alert.status == Alert.Status.OPEN else None
    alert.save(update_fields=["escalation_tier", "escalation_due_at"])
    AlertEvent.objects.create(
        alert=alert,
        kind=AlertEvent.Kind.NOTIFIED if kind != Notification.Kind.ESCALATION else AlertEvent.Kind.ESCALATED,
        at=now,
        detail={"tier": tier, "recipients": [str(u.pk) for u in recipients], "channels": len(rows)},
    )
    dispatch.enqueue_deliveries([row.pk for row in rows], urgent=alert.severity == Severity.URGENT)
    return rows


@transaction.atomic(durable=True)
def escalate_alert(*, alert_id, now: datetime | None = None) -> Alert | None:
    """Move an unacknowledged alert whose tier timed out up one tier. Idempotent: a second
    sweep finds it no longer due."""
    now = now or timezone.now()
    alert = Alert.objects.select_for_update().select_related("patient").filter(pk=alert_id).first()
    if alert is None or not alert.is_escalation_due(now):
        return None
    if alert.escalation_tier >= len(EscalationPolicy.of_team(alert.patient.care_team_id).tiers):
        alert.escalation_due_at = None
        alert.save(update_fields=["escalation_due_at"])
        return alert
    notify_tier(alert=alert, tier=alert.escalation_tier + 1, kind=Notification.Kind.ESCALATION, now=now)
    return alert


def escalate_due_alerts(now: datetime | None = None) -> int:
    """The beat's sweep: every open alert whose tier timed out moves up, 500 at a time."""
    now = now or timezone.now()
    due = list(Alert.objects.escalation_due(now).values_list("pk", flat=True)[:500])
    for pk in due:
        escalate_alert(alert_id=pk, now=now)
    return len(due)
