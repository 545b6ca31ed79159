"""Pain rules (Box 2 #1, #3, #4, #5, #6 and analgesia review) at, just below and just above
every default threshold of SPEC "Alert rules". Windows are built by hand: no database.

TODAY is the patient's local today; `pains(5, 5, 5)` is today, yesterday, the day before.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from alerts.rules import Day, PatientContext
from tests.alerts_helpers import (
    ON_OPIOIDS,
    TODAY,
    ago,
    checkin,
    context,
    events,
    evidence_dates,
    pains,
    run,
    window,
)

# --- persistent_pain (Box 2 #1) and uncontrolled_pain_no_opioid --------------------------


def test_persistent_pain_fires_on_day_pain_5_on_each_of_3_days_on_a_baseline_regimen():
    found = run("persistent_pain", window(pains(5, 5, 5)), context(**ON_OPIOIDS))

    assert found is not None
    assert found.severity == "warning"
    assert evidence_dates(found) == [ago(2).isoformat(), ago(1).isoformat(), TODAY.isoformat()]


def test_persistent_pain_fires_above_the_threshold_too():
    assert run("persistent_pain", window(pains(9, 6, 10)), context(**ON_OPIOIDS)) is not None


@pytest.mark.parametrize("day_pains", [(4, 5, 5), (5, 4, 5), (5, 5, 4)])
def test_persistent_pain_needs_every_day_at_5_a_4_anywhere_is_nothing(day_pains):
    assert run("persistent_pain", window(pains(*day_pains)), context(**ON_OPIOIDS)) is None


def test_two_days_of_pain_are_not_a_persistent_pain():
    assert run("persistent_pain", window(pains(5, 5)), context(**ON_OPIOIDS)) is None


def test_a_day_without_a_checkin_breaks_the_run():
    assert run("persistent_pain", window(pains(5, None, 5, 5)), context(**ON_OPIOIDS)) is None


def test_today_without_a_checkin_anchors_the_window_on_yesterday():
    found = run("persistent_pain", window(pains(None, 5, 5, 5)), context(**ON_OPIOIDS))

    assert found is not None
    assert evidence_dates(found) == [ago(3).isoformat(), ago(2).isoformat(), ago(1).isoformat()]


def test_only_a_checkin_makes_today_count_an_adverse_effect_today_does_not():
    today_effect = events(0, adverse={"nausea": 1})
    assert run("persistent_pain", window(pains(None, 5, 5, 5), today_effect), context(**ON_OPIOIDS))


def test_today_with_a_low_checkin_is_part_of_the_window():
    assert run("persistent_pain", window(pains(2, 5, 5, 5)), context(**ON_OPIOIDS)) is None


@pytest.mark.parametrize(
    ("dose_days_ago", "on_opioids"),
    [(0, True), (6, True), (7, False)],
    ids=["dose-today", "dose-6-days-ago", "dose-7-days-ago"],
)
def test_an_opioid_dose_in_the_last_7_days_means_on_opioids(dose_days_ago, on_opioids):
    ctx = context(last_opioid_dose_on=ago(dose_days_ago))
    win = window(pains(6, 6, 6))

    assert (run("persistent_pain", win, ctx) is not None) is on_opioids
    assert (run("uncontrolled_pain_no_opioid", win, ctx) is not None) is not on_opioids


@pytest.mark.parametrize("baseline_mme", [None, Decimal(0)])
def test_without_opioids_the_same_pain_asks_to_review_analgesia_instead(baseline_mme):
    ctx = context(baseline_mme=baseline_mme)

    found = run("uncontrolled_pain_no_opioid", window(pains(5, 5, 5)), ctx)

    assert found is not None
    assert found.severity == "warning"
    assert found.evidence["on_opioids"] is False
    assert run("persistent_pain", window(pains(5, 5, 5)), ctx) is None


def test_uncontrolled_pain_without_opioids_has_the_same_thresholds():
    ctx = context()
    assert run("uncontrolled_pain_no_opioid", window(pains(5, 5, 4)), ctx) is None
    assert run("uncontrolled_pain_no_opioid", window(pains(5, None, 5, 5)), ctx) is None
    assert run("uncontrolled_pain_no_opioid", window(pains(None, 5, 5, 5)), ctx) is not None


def test_a_team_threshold_of_7_silences_pain_of_6():
    ctx = context(**ON_OPIOIDS)
    assert run("persistent_pain", window(pains(6, 6, 6)), ctx, min_pain=7) is None
    assert run("persistent_pain", window(pains(7, 7, 7)), ctx, min_pain=7) is not None


def test_late_days_make_a_late_finding():
    days = [checkin(i, 6, late=i > 0, record_ids=(f"r{i}",)) for i in range(3)]

    found = run("persistent_pain", window(days), context(**ON_OPIOIDS))

    assert found.late is True
    assert found.record_ids == ("r0", "r1", "r2")


# --- pain_interference (Box 2 #3) -------------------------------------------------------


def interference(*means: float | None):
    """Check-ins with these interference means, today first; None is a day without one."""
    return [checkin(i, 3, interference=m) for i, m in enumerate(means) if m is not None]


def test_interference_mean_5_on_3_of_7_days_fires():
    found = run("pain_interference", window(interference(5, None, 6, None, None, None, 5)))

    assert found is not None
    assert found.severity == "warning"
    assert evidence_dates(found) == [ago(6).isoformat(), ago(2).isoformat(), TODAY.isoformat()]


def test_interference_mean_4_9_does_not_count():
    assert run("pain_interference", window(interference(5, 4.9, 6))) is None


def test_interference_on_2_of_7_days_is_nothing():
    assert run("pain_interference", window(interference(8, 8))) is None


def test_days_without_checkin_count_as_not_meeting_interference():
    # 3 qualifying days, but the third is 7 days ago: outside the window of 7.
    assert run("pain_interference", window(interference(5, 5, *[None] * 5, 5))) is None


def test_interference_window_starts_yesterday_when_today_has_no_checkin():
    # Yesterday back to 7 days ago is the window: the day 7 days ago now counts.
    assert run("pain_interference", window(interference(None, 5, 5, *[None] * 4, 5))) is not None


def test_a_checkin_with_fewer_than_4_interference_items_has_no_mean_and_does_not_count():
    days = [checkin(0, 6, interference=None), *interference(None, 5, 5)]
    assert run("pain_interference", window(days)) is None


# --- refractory_neuropathic (Box 2 #4) --------------------------------------------------


def neuropathic(spec: dict[int, tuple[int, int]]):
    """{days_ago: (DN4 descriptors, day pain)}"""
    return [checkin(i, pain, neuropathic=n) for i, (n, pain) in spec.items()]


THREE_OF_14 = {0: (3, 4), 6: (4, 6), 13: (3, 4)}


def test_three_dn4_descriptors_with_pain_4_on_3_of_14_days_on_opioids_fires():
    found = run("refractory_neuropathic", window(neuropathic(THREE_OF_14)), context(**ON_OPIOIDS))

    assert found is not None
    assert found.severity == "warning"
    assert evidence_dates(found) == [ago(13).isoformat(), ago(6).isoformat(), TODAY.isoformat()]


def test_two_descriptors_are_not_neuropathic_enough():
    spec = {**THREE_OF_14, 6: (2, 6)}
    assert run("refractory_neuropathic", window(neuropathic(spec)), context(**ON_OPIOIDS)) is None


def test_pain_3_with_descriptors_does_not_count():
    spec = {**THREE_OF_14, 13: (5, 3)}
    assert run("refractory_neuropathic", window(neuropathic(spec)), context(**ON_OPIOIDS)) is None


def test_a_day_14_days_ago_is_outside_the_window():
    spec = {0: (3, 4), 6: (3, 4), 14: (3, 4)}
    assert run("refractory_neuropathic", window(neuropathic(spec)), context(**ON_OPIOIDS)) is None


def test_neuropathic_pain_without_any_treatment_is_not_refractory():
    assert run("refractory_neuropathic", window(neuropathic(THREE_OF_14)), context()) is None


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"last_adjuvant_dose_on": ago(13)}, True),
        ({"last_adjuvant_dose_on": ago(14)}, False),
        ({"last_opioid_dose_on": ago(13)}, True),
        ({"last_opioid_dose_on": ago(14)}, False),
    ],
    ids=["adjuvant-13d", "adjuvant-14d", "opioid-13d", "opioid-14d"],
)
def test_an_adjuvant_or_opioid_dose_in_the_last_14_days_is_treatment(fields, expected):
    found = run("refractory_neuropathic", window(neuropathic(THREE_OF_14)), context(**fields))
    assert (found is not None) is expected


# --- rapid_deterioration (Box 2 #5) -----------------------------------------------------


def baseline_then_today(today_pain: int | None, *before: int | None):
    """Today's pain, then the days before it (yesterday first)."""
    return window(pains(today_pain, *before))


def test_pain_2_above_the_baseline_median_and_at_least_7_is_urgent():
    found = run("rapid_deterioration", baseline_then_today(7, 5, 5, 5))

    assert found is not None
    assert found.severity == "urgent"
    assert found.evidence["reason"] == "rise"
    assert found.evidence["baseline"] == 5


def test_a_rise_of_1_is_not_deterioration():
    assert run("rapid_deterioration", baseline_then_today(7, 6, 6, 6)) is None


def test_a_rise_to_6_is_not_deterioration():
    assert run("rapid_deterioration", baseline_then_today(6, 4, 4, 4)) is None


def test_the_baseline_is_the_median_not_the_mean():
    # Median 4 (mean 6.4): 7 is 3 points above the median.
    assert run("rapid_deterioration", baseline_then_today(7, 4, 4, 10, 4, 10)) is not None
    # Median 6 (mean 4.4): 7 is only 1 above the median.
    assert run("rapid_deterioration", baseline_then_today(7, 6, 6, 2, 6, 2)) is None


def test_the_baseline_needs_3_days_with_a_checkin():
    assert run("rapid_deterioration", baseline_then_today(7, 4, None, 4)) is None
    assert run("rapid_deterioration", baseline_then_today(7, 4, None, 4, 4)) is not None


def test_the_baseline_covers_the_7_days_before_the_current_day_only():
    # Two baseline days in the last 7, the third is 8 days ago: no baseline.
    assert run("rapid_deterioration", baseline_then_today(7, 4, 4, *[None] * 5, 4)) is None


def test_without_a_checkin_today_the_current_day_is_yesterday():
    found = run("rapid_deterioration", baseline_then_today(None, 8, 5, 5, 5))

    assert found is not None
    assert evidence_dates(found) == [ago(1).isoformat()]


def test_pain_8_on_two_consecutive_days_is_urgent_without_a_baseline():
    found = run("rapid_deterioration", baseline_then_today(8, 8))

    assert found is not None
    assert found.evidence["reason"] == "sustained_severe"


@pytest.mark.parametrize("day_pains", [(8, 7), (7, 8), (8, None, 8)])
def test_pain_8_on_one_day_or_days_apart_is_not_sustained(day_pains):
    assert run("rapid_deterioration", baseline_then_today(*day_pains)) is None


def test_limited_prognosis_with_pain_5_is_urgent():
    found = run("rapid_deterioration", window(pains(5)), context(limited_prognosis=True))

    assert found is not None
    assert found.evidence["reason"] == "limited_prognosis"


def test_limited_prognosis_with_pain_4_or_without_the_flag_is_nothing():
    assert run("rapid_deterioration", window(pains(4)), context(limited_prognosis=True)) is None
    assert run("rapid_deterioration", window(pains(5)), context()) is None


# --- survivor_pain (Box 2 #6) ------------------------------------------------------------

SURVIVOR = {"cancer_survivor": True}


def days_at(pain: int, days_ago: list[int]):
    return [checkin(i, pain) for i in days_ago]


def test_a_survivor_with_pain_4_on_7_of_14_days_gets_an_info_referral_alert():
    found = run("survivor_pain", window(days_at(4, [0, 2, 4, 6, 8, 10, 13])), context(**SURVIVOR))

    assert found is not None
    assert found.severity == "info"
    assert len(found.evidence["days"]) == 7


def test_pain_4_on_6_of_14_days_is_nothing():
    assert run("survivor_pain", window(days_at(4, [0, 2, 4, 6, 8, 10])), context(**SURVIVOR)) is None


def test_pain_3_does_not_count_for_a_survivor():
    days = [*days_at(4, [0, 2, 4, 6, 8, 10]), checkin(13, 3)]
    assert run("survivor_pain", window(days), context(**SURVIVOR)) is None


def test_a_day_15_days_ago_is_outside_the_survivor_window():
    days = days_at(5, [0, 2, 4, 6, 8, 10, 14])
    assert run("survivor_pain", window(days), context(**SURVIVOR)) is None


def test_the_same_pain_in_a_patient_not_marked_survivor_is_not_criterion_6():
    assert run("survivor_pain", window(days_at(6, list(range(14)))), context()) is None


@pytest.mark.parametrize(
    "today",
    [date(2025, 3, 30), date(2025, 3, 31), date(2025, 10, 26), date(2025, 10, 27)],
    ids=["spring-day", "after-spring", "autumn-day", "after-autumn"],
)
def test_windows_across_dst_days_count_calendar_days(today):
    # A 23- or 25-hour day is one local day: 3 days are 3 dates, 14 days are 14 dates.
    three = [Day(date=today - timedelta(days=i), has_checkin=True, pain=5) for i in range(3)]
    fourteen = [Day(date=today - timedelta(days=i), has_checkin=True, pain=4) for i in range(0, 14, 2)]
    ctx = PatientContext(today=today, cancer_survivor=True, **ON_OPIOIDS)

    assert run("persistent_pain", window(three, today=today), ctx) is not None
    assert run("persistent_pain", window(three[:2], today=today), ctx) is None
    assert run("survivor_pain", window(fourteen, today=today), ctx) is not None
    assert run("survivor_pain", window(fourteen[:-1], today=today), ctx) is None
