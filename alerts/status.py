"""The triage row's alert-side values: computed here from alerts, referrals and the diary,
written by care (`save_patient_status`, the row's one writer)."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Min, Q

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


def refresh_patient_status(patient: Patient) -> PatientStatus:
    """Recompute the triage row from bounded reads: unresolved alerts, the open referral and
    the last week of check-ins (four queries, whatever the history)."""
    counts = (
        Alert.objects.filter(patient=patient)
        .unresolved()
        .aggregate(
            urgent=Count("pk", filter=Q(severity="urgent")),
            warning=Count("pk", filter=Q(severity="warning")),
            info=Count("pk", filter=Q(severity="info")),
            oldest=Min("created_at"),
        )
    )
    referral = (
        ReferralRecommendation.objects.filter(patient=patient, status__in=ReferralRecommendation.OPEN)
        .only("status", "criteria")
        .first()
    )
    today = patient.local_today()
    day_pain: dict = {}
    last_checkin_at = None
    for when, now, worst, recorded_at in (
        CheckIn.objects.for_patient(patient)
        .active()
        .between(today - timedelta(days=TREND_DAYS - 1), today)
        .values_list("local_date", "pain_now", "pain_worst", "recorded_at")
    ):
        day_pain[when] = max(day_pain.get(when, 0), checkin_pain(now, worst))
        last_checkin_at = max(filter(None, (last_checkin_at, recorded_at)))
    if last_checkin_at is None:
        last_checkin_at = (
            CheckIn.objects.for_patient(patient)
            .active()
            .order_by("-local_date", "-recorded_at")
            .values_list("recorded_at", flat=True)
            .first()
        )
    return save_patient_status(
        patient=patient,
        values={
            "severity_rank": max((rank for name, rank in SEVERITY_RANK.items() if counts[name]), default=0),
            "open_urgent": counts["urgent"],
            "open_warning": counts["warning"],
            "open_info": counts["info"],
            "oldest_unresolved_at": counts["oldest"],
            "referral_status": referral.status if referral else "",
            "referral_rank": REFERRAL_RANKS.get(referral.status, 0) if referral else 0,
            "box2_criteria_met": referral.criteria_numbers if referral else [],
            "last_checkin_at": last_checkin_at,
            "pain_today": day_pain.get(today),
            "pain_today_date": today if today in day_pain else None,
            "pain_7d_trend": slope([((when - today).days, pain) for when, pain in sorted(day_pain.items())]),
        },
    )
