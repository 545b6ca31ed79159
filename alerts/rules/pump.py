"""Intrathecal pump (IDDS) rules: bolus overuse and the refill."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from alerts.rules.base import Finding, PatientContext, Window, finding


def pta_overuse(window: Window, context: PatientContext, params: Mapping[str, Any]) -> Finding | None:
    """PTA boluses at the pump's daily maximum, or as many denied as delivered on
    consecutive days: the intrathecal regimen needs titration review."""
    if not context.idds:
        return None
    days = window.recent(params["consecutive_days"] + 1)
    limit = context.idds_max_daily_boluses
    at_max = [d for d in days if limit and d.boluses_delivered >= limit]
    if at_max:
        return finding(at_max, reason="daily_max", max_daily_boluses=limit)

    def denied_heavy(d) -> bool:
        return d.boluses_denied > 0 and d.boluses_denied >= d.boluses_delivered

    n = params["consecutive_days"]
    for start in range(len(days) - n + 1):
        run = days[start : start + n]
        if all(denied_heavy(d) for d in run):
            return finding(run, reason="denied")
    return None


def pump_refill_due(window: Window, context: PatientContext, params: Mapping[str, Any]) -> Finding | None:
    """The refill is days away, or the reservoir will run dry before it."""
    refill = context.idds_next_refill_date
    if not context.idds or refill is None:
        return None
    days_left = (refill - context.today).days
    if days_left <= params["days_before"]:
        return finding([], next_refill_date=refill.isoformat(), days_left=days_left)
    recent = window.recent(params["usage_days"])
    used = sum((d.bolus_ml for d in recent), Decimal(0))
    if context.idds_reservoir_ml is not None and used > 0:
        per_day = used / len(recent)
        empty_in = int(context.idds_reservoir_ml / per_day)
        if empty_in < days_left:
            return finding(
                [],
                next_refill_date=refill.isoformat(),
                predicted_empty_in_days=empty_in,
            )
    return None
