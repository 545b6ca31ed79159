"""An alert's evidence in the words a nurse reads at a glance ("on opioids: yes —
oxycodone logged 28 Nov"), the records behind it, and where its escalation stands.

The rules store evidence as data (alerts.rules: `days` plus a few keys per rule); this
module is the one place that turns it into sentences, in the reader's language.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from alerts.models import Alert, EscalationPolicy, default_tiers
from alerts.rules import RULES
from care.models import TeamRole
from clinic.record import adverse_text, checkin_text, dose_text, label, timeline_entry
from diary import catalog
from diary.models import AdverseEffect, CheckIn, MedicationDose, PtaBolus


def day_label(value: str | date) -> str:
    return date_format(date.fromisoformat(value) if isinstance(value, str) else value, "j M")


def days_line(days: list[dict]) -> str | None:
    pains = [
        _("%(pain)s on %(day)s") % {"pain": d["pain"], "day": day_label(d["date"])}
        + (" " + _("(synced late)") if d.get("late") else "")
        for d in days
        if d.get("pain") is not None
    ]
    return _("Day pain: %(values)s") % {"values": ", ".join(pains)} if pains else None


def interference_line(days: list[dict]) -> str | None:
    values = [
        _("%(value)s on %(day)s") % {"value": round(d["interference"], 1), "day": day_label(d["date"])}
        for d in days
        if d.get("interference") is not None
    ]
    return (
        _("Interference with daily life (BPI, 0-10): %(values)s") % {"values": ", ".join(values)}
        if values
        else None
    )


def opioid_line(alert: Alert, on_opioids: bool) -> str:
    last = (
        MedicationDose.objects.active()
        .filter(
            patient_id=alert.patient_id, drug__in=catalog.OPIOID_CODES, taken_at__lte=alert.last_triggered_at
        )
        .order_by("-taken_at")
        .first()
    )
    if on_opioids:
        if last is not None:
            return _("On opioids: yes — %(drug)s logged %(day)s") % {
                "drug": label(catalog.DRUGS, last.drug).lower(),
                "day": day_label(timezone.localtime(last.taken_at, alert.patient.zone).date()),
            }
        return _("On opioids: yes — regular dose of %(mme)s mg/day MME in the clinical context") % {
            "mme": f"{alert.patient.baseline_mme.normalize():f}"
        }
    if last is not None:
        return _("On opioids: no — the last opioid logged was %(drug)s on %(day)s") % {
            "drug": label(catalog.DRUGS, last.drug).lower(),
            "day": day_label(timezone.localtime(last.taken_at, alert.patient.zone).date()),
        }
    return _("On opioids: no — no opioid logged and no regular opioid dose in the clinical context")


def reason_lines(rule: str, evidence: dict[str, Any]) -> list[str]:
    reason = evidence.get("reason")
    lines = []
    if rule == "rapid_deterioration":
        lines.append(
            {
                "rise": _("Day pain rose above the median of the week before (%(baseline)s).")
                % {"baseline": evidence.get("baseline")},
                "sustained_severe": _("Day pain 8 or more on two days in a row."),
                "limited_prognosis": _("Moderate pain or worse with a limited prognosis."),
            }.get(reason, "")
        )
    elif rule == "pta_overuse":
        lines.append(
            _("Boluses reached the pump's daily maximum of %(max)s.")
            % {"max": evidence.get("max_daily_boluses")}
            if reason == "daily_max"
            else _("Most boluses were denied by the pump on consecutive days.")
        )
    elif rule == "limiting_adverse_effects":
        effects = ", ".join(label(catalog.ADVERSE_EFFECTS, e) for e in evidence.get("effects", []))
        lines.append(
            {
                "severe": _("Severe side effect: %(effects)s.") % {"effects": effects},
                "repeated": _("The same side effect on several days: %(effects)s.") % {"effects": effects},
                "limits_daily_activities": _("Side effects reported as limiting daily activities."),
            }.get(reason, "")
        )
    elif rule == "red_flag":
        for code in evidence.get("red_flags", []):
            flag = catalog.RED_FLAGS.get(code)
            lines.append(
                _("Red flag: %(flag)s — %(concern)s.") % {"flag": flag.label, "concern": flag.concern}
                if flag
                else code
            )
    elif rule == "symptom_cluster":
        lines.append(
            _("Symptom cluster active: %(cluster)s.")
            % {"cluster": label(catalog.CLUSTERS, evidence.get("cluster", ""))}
        )
    elif rule == "patient_preference":
        if evidence.get("wants_fewer_medications"):
            lines.append(_("The patient asks to take fewer medications."))
        if evidence.get("wants_procedure_discussion"):
            lines.append(_("The patient asks to discuss a procedure (for example a nerve block or a pump)."))
    elif rule == "missed_diary":
        lines.append(
            _("No diary for %(days)s days, since %(since)s.")
            % {"days": evidence.get("days_without_checkin"), "since": day_label(evidence["since"])}
        )
    elif rule == "pump_refill_due":
        refill = day_label(evidence["next_refill_date"])
        if "predicted_empty_in_days" in evidence:
            lines.append(
                _(
                    "At the current bolus use the reservoir empties in %(days)s days, before the refill on %(date)s."
                )
                % {"days": evidence["predicted_empty_in_days"], "date": refill}
            )
        else:
            lines.append(
                _("Pump refill due on %(date)s (in %(days)s days).")
                % {"date": refill, "days": evidence.get("days_left")}
            )
    return [line for line in lines if line]


def evidence_lines(alert: Alert) -> list[str]:
    evidence = alert.evidence or {}
    days = evidence.get("days", [])
    lines = [line for line in (days_line(days), interference_line(days)) if line]
    if "on_opioids" in evidence:
        lines.append(opioid_line(alert, bool(evidence["on_opioids"])))
    lines += reason_lines(alert.rule, evidence)
    return lines


def evidence_records(alert: Alert) -> list[dict[str, Any]]:
    """The diary records the alert was raised from, oldest first (four bounded reads)."""
    ids = alert.record_ids or []
    if not ids:
        return []
    entries = (
        [timeline_entry(_("Check-in"), r, checkin_text(r)) for r in CheckIn.objects.filter(pk__in=ids)]
        + [
            timeline_entry(_("Side effect"), r, adverse_text(r))
            for r in AdverseEffect.objects.filter(pk__in=ids)
        ]
        + [
            timeline_entry(_("Medication"), r, dose_text(r))
            for r in MedicationDose.objects.filter(pk__in=ids)
        ]
        + [
            timeline_entry(_("Pump bolus"), r, r.get_outcome_display())
            for r in PtaBolus.objects.filter(pk__in=ids)
        ]
    )
    return sorted(entries, key=lambda e: e["at"])


def tier_names(tier: dict) -> str:
    roles = tier.get("recipients", {}).get("team_roles", [])
    names = [str(TeamRole(role).label).lower() for role in roles if role in TeamRole.values]
    if tier.get("recipients", {}).get("clinicians"):
        names.append(_("named clinicians"))
    return ", ".join(names) or "—"


def escalation(alert: Alert) -> dict[str, Any]:
    policy = EscalationPolicy.objects.filter(team_id=alert.patient.care_team_id).first()
    tiers = policy.tiers if policy else default_tiers()
    current = alert.escalation_tier
    due: datetime | None = alert.escalation_due_at if alert.status == Alert.Status.OPEN else None
    return {
        "tier": current,
        "tiers": len(tiers),
        "current_names": tier_names(tiers[current - 1]) if 0 < current <= len(tiers) else "—",
        "next_names": tier_names(tiers[current]) if due and current < len(tiers) else None,
        "due_at": due,
    }


def box2_label(number: int, rule: str | None) -> str:
    if rule:
        return str(RULES[rule].label)
    return {
        5: _("Limited prognosis (Box 2 #5)"),
        6: _("Cancer survivor (Box 2 #6)"),
        7: _("History of substance use disorder (Box 2 #7)"),
        8: _("Organ failure affecting analgesic choice (Box 2 #8)"),
    }.get(number, _("Box 2 #%(number)s") % {"number": number})


def criterion_lines(criterion: dict[str, Any], alert: Alert | None) -> list[str]:
    """A referral criterion's evidence in words: the same sentences as its alert's page."""
    rule, evidence = criterion.get("rule"), criterion.get("evidence") or {}
    if not rule:
        return [_("In the clinical context, as a modifier of the pain criteria.")]
    days = evidence.get("days", [])
    lines = [line for line in (days_line(days), interference_line(days)) if line]
    if "on_opioids" in evidence and alert is not None:
        lines.append(opioid_line(alert, bool(evidence["on_opioids"])))
    return lines + reason_lines(rule, evidence)


def referral_criteria(referral) -> list[dict[str, Any]]:
    alerts = {
        a.rule: a
        for a in Alert.objects.filter(patient_id=referral.patient_id)
        .select_related("patient")
        .order_by("created_at")
    }
    return [
        {
            "number": c["number"],
            "label": box2_label(c["number"], c.get("rule")),
            "lines": criterion_lines(c, alerts.get(c.get("rule"))),
        }
        for c in sorted(referral.criteria, key=lambda c: c["number"])
    ]
