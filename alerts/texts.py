"""What notifications say, in the recipient's language. No health data leaves in a push
title; emails and webhooks name the rule and link to the alert, not the patient's name."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from alerts.models import Notification
from alerts.rules import RULES

SEVERITY_LABELS = {
    "urgent": gettext_lazy("Urgent"),
    "warning": gettext_lazy("Warning"),
    "info": gettext_lazy("Info"),
}


def alert_url(notification: Notification) -> str:
    return f"{settings.PUBLIC_URL}/clinic/alerts/{notification.alert_id}/"


def render(notification: Notification) -> tuple[str, str]:
    """Email subject and body in the active language."""
    if notification.kind == Notification.Kind.REMINDER:
        return _("Crossroad: your pain diary"), _(
            "How is your pain today? Open the Crossroad app to fill in your diary."
        )
    if notification.kind == Notification.Kind.DIGEST:
        count = len(notification.payload.get("alerts", []))
        return _("Crossroad: daily digest"), _(
            "%(count)s informational alerts are waiting in Crossroad: %(url)s/clinic/"
        ) % {"count": count, "url": settings.PUBLIC_URL}
    alert = notification.alert
    severity = SEVERITY_LABELS[alert.severity]
    rule = RULES[alert.rule].label
    subject = _("[%(severity)s] %(rule)s") % {"severity": severity, "rule": rule}
    if notification.kind == Notification.Kind.ESCALATION:
        intro = _("This alert was not acknowledged in time and is escalated to you.")
    elif notification.kind == Notification.Kind.SEVERITY_RAISED:
        intro = _("The severity of this alert has risen.")
    else:
        intro = _("A patient of your team needs attention.")
    late = _("It was raised by diary entries synced late.") if alert.late else ""
    body = "\n\n".join(
        part
        for part in (
            intro,
            f"{severity}: {rule}",
            late,
            _("Open the alert to see the evidence and acknowledge it: %(url)s")
            % {"url": alert_url(notification)},
        )
        if part
    )
    return subject, body


def render_push(notification: Notification) -> tuple[str, str]:
    if notification.kind == Notification.Kind.REMINDER:
        return _("Pain diary"), _("How is your pain today?")
    if notification.kind == Notification.Kind.DIGEST:
        return _("Daily digest"), _("Informational alerts are waiting in Crossroad.")
    severity = SEVERITY_LABELS[notification.alert.severity]
    return _("%(severity)s alert") % {"severity": severity}, _("Open Crossroad to review it.")


def webhook_body(notification: Notification) -> dict:
    alert = notification.alert
    return {
        "key": notification.key,
        "kind": notification.kind,
        "alert": str(alert.pk) if alert else None,
        "rule": alert.rule if alert else None,
        "severity": alert.severity if alert else None,
        "tier": alert.escalation_tier if alert else None,
        "patient": str(alert.patient_id) if alert else None,
        "late": alert.late if alert else False,
        "url": alert_url(notification) if alert else None,
    }
