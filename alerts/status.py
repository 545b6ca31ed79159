"""Keeps care.PatientStatus (the triage row) in step with alerts, referrals and the diary."""

from __future__ import annotations

from datetime import date, timedelta

from django.db.models import Count, Min, Q

from alerts.models import Alert, ReferralRecommendation
from alerts.rules import SEVERITY_RANK
from care.models import Patient, PatientStatus, triage_key
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
    day_pain: dict[date, int] = {}
    last_checkin_at = None
    for when, now, worst, recorded_at in (
        CheckIn.objects.for_patient(patient)
        .active()
        .between(today - timedelta(days=TREND_DAYS - 1), today)
        .values_list("local_date", "pain_now", "pain_worst", "recorded_at")
    ):
        day_pain[when] = max(day_pain.get(when, 0), now, worst or 0)
        last_checkin_at = max(filter(None, (last_checkin_at, recorded_at)))
    if last_checkin_at is None:
        last_checkin_at = (
            CheckIn.objects.for_patient(patient)
            .active()
            .order_by("-local_date", "-recorded_at")
            .values_list("recorded_at", flat=True)
            .first()
        )
    severity_rank = max(
        (rank for name, rank in SEVERITY_RANK.items() if counts[name]),
        default=0,
    )
    values = {
        "care_team_id": patient.care_team_id,
        "severity_rank": severity_rank,
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
    }
    values["triage_key"] = triage_key(
        values["severity_rank"],
        values["referral_rank"],
        values["oldest_unresolved_at"],
        patient.display_name,
        patient.pk,
    )
    status, _ = PatientStatus.objects.update_or_create(patient=patient, defaults=values)
    return status
