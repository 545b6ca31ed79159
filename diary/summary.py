"""Per-day summary of a patient's diary (API.md `patients/{id}/summary/`).

Day values are those of `diary.days` (SPEC "Alert rules"). Three queries, whatever the
number of days or the length of the history.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from care.models import Patient
from diary.days import cluster_values, day_average, day_pain, highest_symptoms
from diary.models import CheckIn, MedicationDose, PtaBolus

# Filled by the alerts app at start-up (the diary never imports it): returns the Box 2
# criteria numbers currently met by a patient.
_box2_source: Callable[[Patient], list[int]] | None = None


def register_box2_source(source: Callable[[Patient], list[int]]) -> None:
    global _box2_source  # one registration, at app start-up
    _box2_source = source


def window(patient: Patient, days: int) -> tuple[date, date]:
    last = patient.local_today()
    return last - timedelta(days=days - 1), last


def day_values(checkins: list[CheckIn]) -> dict[str, Any]:
    """The summary's day values of one local day's active check-ins."""
    interference = [c.interference_mean for c in checkins if c.interference_mean is not None]
    return {
        "pain_worst": day_pain((c.pain_now, c.pain_worst) for c in checkins),
        "pain_average": round(day_average((c.pain_now, c.pain_average) for c in checkins), 1),
        "interference_mean": max(interference) if interference else None,
        "symptoms": highest_symptoms(c.symptoms for c in checkins),
    }


def daily_summary(patient: Patient, days: int) -> dict[str, Any]:
    first, last = window(patient, days)
    checkins: dict[date, list[CheckIn]] = defaultdict(list)
    for checkin in (
        CheckIn.objects.for_patient(patient)
        .active()
        .between(first, last)
        .only("local_date", "pain_now", "pain_worst", "pain_average", "interference_mean", "symptoms")
    ):
        checkins[checkin.local_date].append(checkin)

    boluses: dict[date, dict[str, int]] = defaultdict(lambda: {"delivered": 0, "denied": 0})
    for day, outcome in (
        PtaBolus.objects.for_patient(patient)
        .active()
        .between(first, last)
        .values_list("local_date", "outcome")
    ):
        boluses[day]["delivered" if outcome == PtaBolus.Outcome.DELIVERED else "denied"] += 1

    mme: dict[date, Decimal] = defaultdict(Decimal)
    for day, value in (
        MedicationDose.objects.for_patient(patient)
        .active()
        .between(first, last)
        .filter(mme__isnull=False)
        .values_list("local_date", "mme")
    ):
        mme[day] += value

    rows = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        values = (
            day_values(checkins[day])
            if day in checkins
            else {"pain_worst": None, "pain_average": None, "interference_mean": None, "symptoms": {}}
        )
        rows.append(
            {
                "date": day,
                **values,
                "clusters": cluster_values(values["pain_worst"], values["symptoms"]),
                "boluses": dict(boluses[day]) if day in boluses else {"delivered": 0, "denied": 0},
                "mme": float(mme[day]) if day in mme else None,
            }
        )
    return {
        "days": rows,
        "box2_criteria_met": _box2_source(patient) if _box2_source else [],
        "adherence": {"days_with_checkin": len(checkins), "days": days},
    }
