"""Pain rules: Box 2 criteria #1, #3, #4, #5 and #6, and analgesia review without opioids."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alerts.rules.base import Day, Finding, PatientContext, Window, finding


def _run(days: list[Day], at_least: int) -> bool:
    """Each day of the run has a check-in with day pain at least `at_least`."""
    return all(d.has_checkin and d.pain is not None and d.pain >= at_least for d in days)


def persistent_pain(window: Window, context: PatientContext, params: Mapping[str, Any]) -> Finding | None:
    """Box 2 #1: moderate-severe pain (NRS >= 5) persisting on opioid therapy."""
    days = window.last(params["days"])
    if _run(days, params["min_pain"]) and context.on_opioids(params["opioid_lookback_days"]):
        return finding(days, on_opioids=True)
    return None


def uncontrolled_pain_no_opioid(
    window: Window, context: PatientContext, params: Mapping[str, Any]
) -> Finding | None:
    """Same pain without opioids: a prompt to review analgesia (WHO ladder), not a referral."""
    days = window.last(params["days"])
    if _run(days, params["min_pain"]) and not context.on_opioids(params["opioid_lookback_days"]):
        return finding(days, on_opioids=False)
    return None


def pain_interference(window: Window, context: PatientContext, params: Mapping[str, Any]) -> Finding | None:
    """Box 2 #3: pain interfering with daily life (BPI interference mean >= 5, 3 of 7 days)."""
    days = [
        d
        for d in window.last(params["window_days"])
        if d.interference is not None and d.interference >= params["min_mean"]
    ]
    if len(days) >= params["days"]:
        return finding(days)
    return None


def refractory_neuropathic(
    window: Window, context: PatientContext, params: Mapping[str, Any]
) -> Finding | None:
    """Box 2 #4: neuropathic pain (DN4 interview >= 3 descriptors) refractory to opioids or
    adjuvants."""
    if not context.on_neuropathic_treatment(params["window_days"]):
        return None
    days = [
        d
        for d in window.last(params["window_days"])
        if d.neuropathic >= params["min_descriptors"] and d.pain is not None and d.pain >= params["min_pain"]
    ]
    if len(days) >= params["days"]:
        return finding(days)
    return None


def rapid_deterioration(window: Window, context: PatientContext, params: Mapping[str, Any]) -> Finding | None:
    """Box 2 #5: rapidly worsening pain, or pain in a patient with limited prognosis."""
    current = window.day(window.current)
    if not current.has_checkin or current.pain is None:
        return None
    baseline = window.baseline(window.current)
    if (
        baseline is not None
        and current.pain >= baseline + params["rise"]
        and current.pain >= params["min_pain"]
    ):
        return finding([current], reason="rise", baseline=baseline)
    two = window.last(params["consecutive_days"])
    if _run(two, params["consecutive_pain"]):
        return finding(two, reason="sustained_severe")
    if context.limited_prognosis and current.pain >= params["prognosis_pain"]:
        return finding([current], reason="limited_prognosis")
    return None


def survivor_pain(window: Window, context: PatientContext, params: Mapping[str, Any]) -> Finding | None:
    """Box 2 #6: persistent pain in a cancer survivor (NRS >= 4 on 7 of 14 days)."""
    if not context.cancer_survivor:
        return None
    days = [
        d
        for d in window.last(params["window_days"])
        if d.has_checkin and d.pain is not None and d.pain >= params["min_pain"]
    ]
    if len(days) >= params["days"]:
        return finding(days)
    return None
