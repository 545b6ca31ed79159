"""SPEC day values, defined once: the engine, the summary, the triage row, the exports and
the benchmarks all compute a patient's day through these functions (SPEC "Alert rules").

Pure functions of plain values (no ORM), so a rule test and a benchmark can use them too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from statistics import fmean
from typing import Any

from diary import catalog

# BPI interference mean needs at least 4 of the 7 items answered.
INTERFERENCE_MIN_ITEMS = 4


def checkin_pain(pain_now: int, pain_worst: int | None) -> int:
    """One check-in's contribution to the day pain: the higher of pain now and worst."""
    return pain_now if pain_worst is None else max(pain_now, pain_worst)


def day_pain(pairs: Iterable[tuple[int, int | None]]) -> int | None:
    """Day pain: the highest `pain_now` or `pain_worst` of the day's check-ins."""
    return max((checkin_pain(now, worst) for now, worst in pairs), default=None)


def day_average(pairs: Iterable[tuple[int, int | None]]) -> float | None:
    """Day average from (pain_now, pain_average) pairs: the mean of the `pain_average`
    answers, else of `pain_now`."""
    pairs = list(pairs)
    if not pairs:
        return None
    averages = [average for _, average in pairs if average is not None]
    return fmean(averages or [now for now, _ in pairs])


def interference_mean(items: Mapping[str, int]) -> float | None:
    """BPI interference mean of one check-in, valid only with at least 4 of 7 items."""
    answered = list(items.values())
    return round(fmean(answered), 2) if len(answered) >= INTERFERENCE_MIN_ITEMS else None


def highest_symptoms(scores: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """A symptom's day value: its highest score of the day."""
    highest: dict[str, int] = {}
    for symptoms in scores:
        for code, score in symptoms.items():
            highest[code] = max(score, highest.get(code, score))
    return dict(sorted(highest.items()))


def cluster_values(pain: int | None, symptoms: Mapping[str, int]) -> dict[str, dict[str, Any]]:
    """Each cluster's daily score (mean of the members answered) and whether it is active:
    at least two members scoring 4 or more, the day pain standing for `pain`."""
    values = {**symptoms, "pain": pain}
    clusters = {}
    for cluster in catalog.CLUSTERS.values():
        scores = [values[m] for m in cluster.members if values.get(m) is not None]
        high = sum(score >= catalog.CLUSTER_ACTIVE_MIN_SCORE for score in scores)
        clusters[cluster.code] = {
            "score": round(fmean(scores), 1) if scores else None,
            "active": high >= catalog.CLUSTER_ACTIVE_MIN_MEMBERS,
        }
    return clusters


def missed_days(today: date, last_checkin: date | None, activated: date | None) -> int | None:
    """Local days since the last check-in, or since the activation when there is none.

    A diary backfilled with days before the activation has missed nothing: days count from
    the later of the two. None when neither is known."""
    known = [d for d in (last_checkin, activated) if d is not None]
    return (today - max(known)).days if known else None
