"""Adverse effects, symptom clusters, red flags and the patient's own wishes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from alerts.rules.base import Finding, PatientContext, Window, finding
from diary import catalog
from diary.days import cluster_values


def limiting_adverse_effects(
    window: Window, context: PatientContext, params: Mapping[str, Any]
) -> Finding | None:
    """Box 2 #2: analgesic adverse effects that limit treatment (PRO-CTCAE severity)."""
    days = window.recent(params["window_days"])
    severe = [d for d in days if any(g >= params["severe_grade"] for g in d.adverse.values())]
    if severe:
        effects = sorted({e for d in severe for e, g in d.adverse.items() if g >= params["severe_grade"]})
        return finding(severe, reason="severe", effects=effects)
    repeated: dict[str, list] = defaultdict(list)
    for day in days:
        for effect, grade in day.adverse.items():
            if grade >= params["repeat_grade"]:
                repeated[effect].append(day)
    for effect, effect_days in sorted(repeated.items()):
        if len(effect_days) >= params["repeat_days"]:
            return finding(effect_days, reason="repeated", effects=[effect])
    limiting = [d for d in days if d.limiting_reports]
    if sum(d.limiting_reports for d in limiting) >= params["limiting_reports"]:
        return finding(limiting, reason="limits_daily_activities")
    return None


def symptom_cluster(window: Window, context: PatientContext, params: Mapping[str, Any]) -> Finding | None:
    """A symptom cluster (Corriero 2025: pain-fatigue-sleep, GI, psychological,
    neurocognitive) active on consecutive days."""
    days = window.last(params["days"])
    for cluster in catalog.CLUSTERS.values():
        if all(d.has_checkin and cluster_values(d.pain, d.symptoms)[cluster.code]["active"] for d in days):
            return finding(days, cluster=cluster.code)
    return None


def red_flag(window: Window, context: PatientContext, params: Mapping[str, Any]) -> Finding | None:
    """Possible spinal cord compression, pump-site infection, opioid toxicity or a
    post-procedure headache: urgent at once, late or not."""
    days = [d for d in window.recent(params["window_days"]) if d.red_flags]
    if days:
        flags = sorted({f for d in days for f in d.red_flags})
        return finding(days, red_flags=flags)
    return None


def patient_preference(window: Window, context: PatientContext, params: Mapping[str, Any]) -> Finding | None:
    """Box 2 #9: the patient asks for fewer medications or to discuss a procedure."""
    days = [
        d
        for d in window.recent(params["window_days"])
        if d.wants_fewer_medications or d.wants_procedure_discussion
    ]
    if days:
        return finding(
            days,
            wants_fewer_medications=any(d.wants_fewer_medications for d in days),
            wants_procedure_discussion=any(d.wants_procedure_discussion for d in days),
        )
    return None
