"""What the patient page and the referral summary read about one patient over 28 days:
the day summary (diary.summary), the chart, clusters, adverse effects, medications with
their MME or why it is null, pump use, #9 wishes and the timeline of records with their
caregiver, late, corrected and retracted marks. Bounded reads, about ten queries."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

from django.utils.translation import gettext as _

from alerts.models import Alert, ReferralRecommendation
from alerts.rules import RULES
from care.models import Patient
from clinic.charts import day_chart
from diary import catalog
from diary.models import AdverseEffect, CheckIn, MedicationDose, PtaBolus, RecordStatus, ReporterRole
from diary.summary import daily_summary, window

DAYS = 28
TIMELINE_LIMIT = 300


def label(table: dict, code: str) -> str:
    entry = table.get(code)
    return str(entry.label) if entry is not None else code


def grade_label(grade: int) -> str:
    return str(catalog.GRADES.get(grade, grade))


def mme_reason(dose: MedicationDose) -> str:
    """Why this dose has no MME, in the reader's language (the stored note is in the
    language of whoever sent it)."""
    code = catalog.mme_reason_code(dose.drug, dose.route, dose.unit)
    return str(catalog.MME_NULL_REASONS[code]) if code else dose.mme_note


def checkin_text(c: CheckIn) -> str:
    parts = [_("pain now %(now)s") % {"now": c.pain_now}]
    if c.pain_worst is not None:
        parts.append(_("worst %(worst)s") % {"worst": c.pain_worst})
    if c.pain_average is not None:
        parts.append(_("average %(average)s") % {"average": c.pain_average})
    if c.red_flags:
        parts.append(
            _("red flags: %(flags)s") % {"flags": ", ".join(label(catalog.RED_FLAGS, f) for f in c.red_flags)}
        )
    if c.wants_fewer_medications:
        parts.append(_("wants fewer medications"))
    if c.wants_procedure_discussion:
        parts.append(_("wants to discuss a procedure"))
    return "; ".join(parts)


def adverse_text(a: AdverseEffect) -> str:
    text = _("%(effect)s, grade %(grade)s (%(word)s)") % {
        "effect": label(catalog.ADVERSE_EFFECTS, a.effect),
        "grade": a.grade,
        "word": grade_label(a.grade),
    }
    if a.suspected_drug:
        text += "; " + _("suspected: %(drug)s") % {"drug": label(catalog.DRUGS, a.suspected_drug)}
    if a.limits_daily_activities:
        text += "; " + _("limits daily activities")
    return text


def dose_text(m: MedicationDose) -> str:
    text = f"{label(catalog.DRUGS, m.drug)} {m.dose.normalize():f} {m.unit} {label(catalog.ROUTES, m.route)}"
    text += f" ({m.get_kind_display().lower()})"
    no_mme = _("no MME")
    return text + (f" — {m.mme.normalize():f} MME" if m.mme is not None else f" — {no_mme}")


def timeline_entry(kind: str, record, text: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "at": record.observed_at,
        "text": text,
        "caregiver": record.reporter_role == ReporterRole.CAREGIVER,
        "clinician": record.reporter_role == ReporterRole.CLINICIAN,
        "late": record.late,
        "corrected": record.version > 1 and record.status == RecordStatus.ACTIVE,
        "retracted": record.status == RecordStatus.ENTERED_IN_ERROR,
        "reason": record.retracted_reason,
    }


def patient_record(patient: Patient, days: int = DAYS) -> dict[str, Any]:
    first, last = window(patient, days)
    summary = daily_summary(patient, days)
    alerts = list(Alert.objects.filter(patient=patient).order_by("-created_at")[:100])
    alert_days: dict[date, list[str]] = {}
    for alert in alerts:
        day = alert.created_at.astimezone(patient.zone).date()
        if first <= day <= last:
            alert_days.setdefault(day, []).append(str(RULES[alert.rule].label))

    checkins = list(CheckIn.objects.for_patient(patient).between(first, last).order_by("-recorded_at"))
    effects = list(AdverseEffect.objects.for_patient(patient).between(first, last).order_by("-recorded_at"))
    doses = list(MedicationDose.objects.for_patient(patient).between(first, last).order_by("-taken_at"))
    boluses = list(PtaBolus.objects.for_patient(patient).between(first, last).order_by("-occurred_at"))

    timeline = (
        [timeline_entry(_("Check-in"), c, checkin_text(c)) for c in checkins]
        + [timeline_entry(_("Side effect"), a, adverse_text(a)) for a in effects]
        + [timeline_entry(_("Medication"), m, dose_text(m)) for m in doses]
        + [timeline_entry(_("Pump bolus"), b, b.get_outcome_display()) for b in boluses]
    )
    timeline.sort(key=lambda entry: entry["at"], reverse=True)

    clusters = []
    for cluster in catalog.CLUSTERS.values():
        values = [d["clusters"][cluster.code] for d in summary["days"]]
        scored = [v["score"] for v in values if v["score"] is not None]
        clusters.append(
            {
                "label": str(cluster.label),
                "members": ", ".join(
                    str(catalog.PAIN.label) if m == "pain" else label(catalog.SYMPTOMS, m)
                    for m in cluster.members
                ),
                "active_days": sum(v["active"] for v in values),
                "latest": scored[-1] if scored else None,
            }
        )
    outcomes = Counter(b.outcome for b in boluses if b.status == RecordStatus.ACTIVE)
    mme_days = [d["mme"] for d in summary["days"] if d["mme"] is not None]
    wishes = [
        c
        for c in checkins
        if c.status == RecordStatus.ACTIVE and (c.wants_fewer_medications or c.wants_procedure_discussion)
    ]
    return {
        "first": first,
        "last": last,
        "summary": summary,
        "chart": day_chart(summary["days"], alert_days),
        "alerts": [(alert, RULES[alert.rule].label) for alert in alerts],
        "referral": ReferralRecommendation.objects.filter(patient=patient).order_by("-created_at").first(),
        "clusters": clusters,
        "effects": [
            {"record": a, "effect": label(catalog.ADVERSE_EFFECTS, a.effect), "grade": grade_label(a.grade)}
            for a in effects
            if a.status == RecordStatus.ACTIVE
        ],
        "doses": [
            {
                "record": m,
                "drug": label(catalog.DRUGS, m.drug),
                "route": label(catalog.ROUTES, m.route),
                "reason": mme_reason(m) if m.mme is None else "",
            }
            for m in doses
            if m.status == RecordStatus.ACTIVE
        ],
        "mme": {
            "latest": mme_days[-1] if mme_days else None,
            "mean": round(sum(mme_days) / len(mme_days), 1) if mme_days else None,
            "max": max(mme_days) if mme_days else None,
            "days": len(mme_days),
        },
        "pta": {
            "delivered": outcomes[PtaBolus.Outcome.DELIVERED],
            "denied_lockout": outcomes[PtaBolus.Outcome.DENIED_LOCKOUT],
            "denied_daily_max": outcomes[PtaBolus.Outcome.DENIED_DAILY_MAX],
        },
        "wishes": wishes,
        "timeline": timeline[:TIMELINE_LIMIT],
    }
