"""The triage row's alert-side values: computed here from alerts, referrals and the diary,
written by care (`save_patient_status`, the row's one writer)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from alerts.engine import Snapshot
from alerts.models import Alert, ReferralRecommendation
from alerts.rules import SEVERITY_RANK
from care.models import Patient, PatientStatus
from care.services import save_patient_status
from diary.days import checkin_pain
from diary.models import CheckIn

REFERRAL_RANKS = {"suggested": 2, "accepted": 1}
TREND_DAYS = 7


def slope(points: list[tuple[int, int]]) -> float | None:
    """Least-squares slope of (day index, pain) points; None with fewer than 2 days."""
    if len(points) < 2:
        return None
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return round(sum((x - mean_x) * (y - mean_y) for x, y in points) / spread, 2)


def lock_patient(patient_id) -> None:
    """Every write that refreshes a patient's triage row takes the patient lock first, as
    evaluate_patient does, so that the last writer of the row saw the last state."""
    Patient.objects.select_for_update().filter(pk=patient_id).values_list("pk", flat=True).first()


@dataclass(frozen=True)
class TriageFacts:
    """What the triage row is computed from. An evaluation hands in what it already holds;
    every other writer reads it (four bounded queries)."""

    unresolved: list[tuple[str, datetime]]  # (severity, created_at) of open and acknowledged alerts
    referral: ReferralRecommendation | None  # the open one
    day_pains: dict[date, int]  # the last TREND_DAYS local days with a check-in
    last_checkin_at: datetime | None

    @classmethod
    def read(cls, patient: Patient) -> TriageFacts:
        today = patient.local_today()
        day_pains: dict[date, int] = {}
        last_checkin_at = None
        for when, now, worst, recorded_at in (
            CheckIn.objects.for_patient(patient)
            .active()
            .between(today - timedelta(days=TREND_DAYS - 1), today)
            .values_list("local_date", "pain_now", "pain_worst", "recorded_at")
        ):
            day_pains[when] = max(day_pains.get(when, 0), checkin_pain(now, worst))
            last_checkin_at = max(filter(None, (last_checkin_at, recorded_at)))
        if last_checkin_at is None:
            last_checkin_at = (
                CheckIn.objects.for_patient(patient)
                .active()
                .order_by("-local_date", "-recorded_at")
                .values_list("recorded_at", flat=True)
                .first()
            )
        return cls(
            unresolved=list(
                Alert.objects.filter(patient=patient).unresolved().values_list("severity", "created_at")
            ),
            referral=ReferralRecommendation.objects.filter(
                patient=patient, status__in=ReferralRecommendation.OPEN
            )
            .only("status", "criteria")
            .first(),
            day_pains=day_pains,
            last_checkin_at=last_checkin_at,
        )

    @classmethod
    def of_evaluation(
        cls, *, patient: Patient, snapshot: Snapshot, unresolved: list[Alert], referral
    ) -> TriageFacts:
        today = patient.local_today()
        recent = (snapshot.window.day(today - timedelta(days=n)) for n in range(TREND_DAYS))
        return cls(
            unresolved=[(alert.severity, alert.created_at) for alert in unresolved],
            referral=referral,
            day_pains={d.date: d.pain for d in recent if d.has_checkin and d.pain is not None},
            last_checkin_at=snapshot.last_checkin_at,
        )


def refresh_patient_status(patient: Patient, facts: TriageFacts | None = None) -> PatientStatus:
    """Recompute the triage row from its facts (read here unless handed in)."""
    facts = facts or TriageFacts.read(patient)
    today = patient.local_today()
    severities = {severity for severity, _ in facts.unresolved}
    referral = facts.referral
    return save_patient_status(
        patient=patient,
        values={
            "severity_rank": max((SEVERITY_RANK[s] for s in severities), default=0),
            "open_urgent": sum(s == "urgent" for s, _ in facts.unresolved),
            "open_warning": sum(s == "warning" for s, _ in facts.unresolved),
            "open_info": sum(s == "info" for s, _ in facts.unresolved),
            "oldest_unresolved_at": min((at for _, at in facts.unresolved), default=None),
            "referral_status": referral.status if referral else "",
            "referral_rank": REFERRAL_RANKS.get(referral.status, 0) if referral else 0,
            "box2_criteria_met": referral.criteria_numbers if referral else [],
            "last_checkin_at": facts.last_checkin_at,
            "pain_today": facts.day_pains.get(today),
            "pain_today_date": today if today in facts.day_pains else None,
            "pain_7d_trend": slope(
                [((when - today).days, pain) for when, pain in sorted(facts.day_pains.items())]
            ),
        },
    )
