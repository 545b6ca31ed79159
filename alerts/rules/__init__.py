"""Every alert rule of SPEC "Alert rules", with its default parameters.

A rule is a pure function `(Window, PatientContext, params) -> Finding | None` in one of the
family modules, and one `Rule` entry below carrying everything else the product needs: its
label, severity, Box 2 number, referral flag, parameters and whether it runs on the clock
(docs/rules.md). Parameters are overridable per care team and per patient (alert-rules/)
and validated here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from alerts.rules import adherence, pain, pump, symptoms
from alerts.rules.base import (
    SEVERITY_RANK,
    Day,
    Finding,
    Param,
    PatientContext,
    Rule,
    Severity,
    Window,
)

# The engine loads WINDOW_DAYS of doses: a longer lookback could not be honoured.
_OPIOID_LOOKBACK = Param(7, 1, 14)

RULES: dict[str, Rule] = {
    rule.code: rule
    for rule in (
        Rule(
            "persistent_pain",
            pain.persistent_pain,
            label=gettext_lazy("Persistent moderate-severe pain on opioids (Box 2 #1)"),
            severity="warning",
            box2=1,
            referral=True,
            params={
                "min_pain": Param(5, 1, 10),
                "days": Param(3, 1, 14),
                "opioid_lookback_days": _OPIOID_LOOKBACK,
            },
            lookback_days=15,
        ),
        Rule(
            "uncontrolled_pain_no_opioid",
            pain.uncontrolled_pain_no_opioid,
            label=gettext_lazy("Uncontrolled pain without opioids: review analgesia"),
            severity="warning",
            box2=None,
            referral=False,
            params={
                "min_pain": Param(5, 1, 10),
                "days": Param(3, 1, 14),
                "opioid_lookback_days": _OPIOID_LOOKBACK,
            },
            lookback_days=15,
        ),
        Rule(
            "limiting_adverse_effects",
            symptoms.limiting_adverse_effects,
            label=gettext_lazy("Analgesic side effects limiting treatment (Box 2 #2)"),
            severity="warning",
            box2=2,
            referral=True,
            params={
                "severe_grade": Param(3, 1, 4),
                "repeat_grade": Param(2, 1, 4),
                "repeat_days": Param(3, 1, 14),
                "limiting_reports": Param(2, 1, 14),
                "window_days": Param(7, 1, 14),
            },
            lookback_days=14,
        ),
        Rule(
            "pain_interference",
            pain.pain_interference,
            label=gettext_lazy("Pain interfering with daily life (Box 2 #3)"),
            severity="warning",
            box2=3,
            referral=True,
            params={
                "min_mean": Param(5, 1, 10, integer=False),
                "days": Param(3, 1, 14),
                "window_days": Param(7, 1, 14),
            },
            lookback_days=15,
        ),
        Rule(
            "refractory_neuropathic",
            pain.refractory_neuropathic,
            label=gettext_lazy("Refractory neuropathic pain (Box 2 #4)"),
            severity="warning",
            box2=4,
            referral=True,
            params={
                "min_descriptors": Param(3, 1, 7),
                "min_pain": Param(4, 1, 10),
                "days": Param(3, 1, 14),
                "window_days": Param(14, 1, 14),
            },
            lookback_days=15,
        ),
        Rule(
            "rapid_deterioration",
            pain.rapid_deterioration,
            label=gettext_lazy("Rapidly worsening pain (Box 2 #5)"),
            severity="urgent",
            box2=5,
            referral=True,
            params={
                "rise": Param(2, 1, 10),
                "min_pain": Param(7, 1, 10),
                "consecutive_pain": Param(8, 1, 10),
                "consecutive_days": Param(2, 1, 7),
                "prognosis_pain": Param(5, 1, 10),
            },
            lookback_days=9,
        ),
        Rule(
            "survivor_pain",
            pain.survivor_pain,
            label=gettext_lazy("Persistent pain in a cancer survivor (Box 2 #6)"),
            severity="info",
            box2=6,
            referral=True,
            params={"min_pain": Param(4, 1, 10), "days": Param(7, 1, 14), "window_days": Param(14, 1, 14)},
            lookback_days=15,
        ),
        Rule(
            "patient_preference",
            symptoms.patient_preference,
            label=gettext_lazy("Patient asks to reduce medication or discuss procedures (Box 2 #9)"),
            severity="info",
            box2=9,
            referral=True,
            # A week, like red flags: a wish synced late (or just after midnight) still counts.
            params={"window_days": Param(7, 1, 14)},
            lookback_days=14,
        ),
        Rule(
            "red_flag",
            symptoms.red_flag,
            label=gettext_lazy("Red flag reported"),
            severity="urgent",
            box2=None,
            referral=False,
            # A late red flag is still urgent (SPEC): look back as far as the window goes;
            # an already-resolved report never re-raises (new evidence only).
            params={"window_days": Param(14, 1, 14)},
            lookback_days=14,
        ),
        Rule(
            "pta_overuse",
            pump.pta_overuse,
            label=gettext_lazy("Intrathecal pump bolus overuse: titration review"),
            severity="warning",
            box2=None,
            referral=False,
            params={"consecutive_days": Param(2, 1, 7)},
            lookback_days=8,
        ),
        Rule(
            "symptom_cluster",
            symptoms.symptom_cluster,
            label=gettext_lazy("Symptom cluster active for several days"),
            severity="warning",
            box2=None,
            referral=False,
            params={"days": Param(3, 1, 14)},
            lookback_days=15,
        ),
        Rule(
            "missed_diary",
            adherence.missed_diary,
            label=gettext_lazy("Diary not filled in for several days"),
            severity="info",
            box2=None,
            referral=False,
            params={"reminder_days": Param(2, 1, 30), "alert_days": Param(4, 1, 60)},
            lookback_days=0,
            scheduled=True,
        ),
        Rule(
            "pump_refill_due",
            pump.pump_refill_due,
            label=gettext_lazy("Intrathecal pump refill due"),
            severity="info",
            box2=None,
            referral=False,
            params={"days_before": Param(3, 0, 30), "usage_days": Param(7, 1, 14)},
            lookback_days=14,
            scheduled=True,
        ),
    )
}

# Box 2 #7 and #8 are context, not rules: listed as met when a pain criterion is met.
CONTEXT_CRITERIA = {7: "substance_use_history", 8: "organ_failure"}
PAIN_CRITERIA = frozenset({1, 2, 3, 4, 5, 6})
# Rules that close with time, also evaluated on a schedule.
SCHEDULED_RULES = tuple(code for code, rule in RULES.items() if rule.scheduled)
WINDOW_DAYS = max(rule.lookback_days for rule in RULES.values()) + 1


def default_params(code: str) -> dict[str, Any]:
    return {name: param.default for name, param in RULES[code].params.items()}


def validate_params(code: str, params: Any) -> dict[str, list[str]]:
    """Errors by parameter name (empty when valid): unknown names, wrong types, ranges."""
    if not isinstance(params, Mapping):
        return {"params": [_("Expected an object of parameters.")]}
    spec = RULES[code].params
    errors: dict[str, list[str]] = {}
    for name, value in params.items():
        param = spec.get(name)
        if param is None:
            errors[name] = [_("Unknown parameter for this rule.")]
        elif isinstance(value, bool) or not isinstance(value, int | float):
            errors[name] = [_("A number is required.")]
        elif param.integer and not isinstance(value, int):
            # 3.0 would pass a range check and then break range(days) in the rule.
            errors[name] = [_("A whole number is required.")]
        elif not param.minimum <= value <= param.maximum:
            errors[name] = [
                _("Must be between %(min)s and %(max)s.") % {"min": param.minimum, "max": param.maximum}
            ]
    return errors


__all__ = [
    "CONTEXT_CRITERIA",
    "PAIN_CRITERIA",
    "RULES",
    "SCHEDULED_RULES",
    "SEVERITY_RANK",
    "WINDOW_DAYS",
    "Day",
    "Finding",
    "PatientContext",
    "Rule",
    "Severity",
    "Window",
    "default_params",
    "validate_params",
]
