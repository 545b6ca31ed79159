"""Diary adherence: a window that closes with time, evaluated on the clock too."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from alerts.rules.base import Finding, PatientContext, Window, finding
from diary.days import missed_days


def missed_diary(window: Window, context: PatientContext, params: Mapping[str, Any]) -> Finding | None:
    """No check-in for several local days (counted from the activation when there is none)."""
    days = missed_days(context.today, context.last_checkin_on, context.activated_on)
    if days is not None and days >= params["alert_days"]:
        since = context.today - timedelta(days=days)
        return finding([], days_without_checkin=days, since=since.isoformat())
    return None
