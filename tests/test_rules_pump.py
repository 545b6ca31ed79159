"""Intrathecal pump rules and diary adherence: windows that close with time. No database."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from tests.alerts_helpers import TODAY, ago, context, events, run, window

PUMP = {"idds": True, "idds_max_daily_boluses": 4, "idds_next_refill_date": TODAY + timedelta(days=30)}

# --- pta_overuse -------------------------------------------------------------------------


def test_delivered_boluses_reaching_the_daily_max_fire():
    found = run("pta_overuse", window(events(0, boluses_delivered=4)), context(**PUMP))

    assert found is not None
    assert found.severity == "warning"
    assert found.evidence["reason"] == "daily_max"
    assert found.evidence["max_daily_boluses"] == 4


def test_one_bolus_below_the_daily_max_is_nothing():
    assert run("pta_overuse", window(events(0, boluses_delivered=3)), context(**PUMP)) is None


def test_the_daily_max_yesterday_still_counts_today():
    assert run("pta_overuse", window(events(1, boluses_delivered=5)), context(**PUMP)) is not None


def test_as_many_denied_as_delivered_on_2_consecutive_days_fires():
    days = [
        events(0, boluses_delivered=2, boluses_denied=2),
        events(1, boluses_delivered=1, boluses_denied=3),
    ]

    found = run("pta_overuse", window(days), context(**PUMP))

    assert found is not None
    assert found.evidence["reason"] == "denied"


def test_denied_heavy_on_1_day_is_nothing():
    days = [
        events(0, boluses_delivered=2, boluses_denied=2),
        events(1, boluses_delivered=2, boluses_denied=1),
    ]
    assert run("pta_overuse", window(days), context(**PUMP)) is None


def test_denied_heavy_days_that_are_not_consecutive_are_nothing():
    days = [
        events(0, boluses_delivered=1, boluses_denied=1),
        events(2, boluses_delivered=1, boluses_denied=1),
    ]
    assert run("pta_overuse", window(days), context(**PUMP)) is None


def test_days_without_any_activation_are_not_denied_heavy():
    days = [
        events(0, boluses_delivered=0, boluses_denied=0),
        events(1, boluses_delivered=0, boluses_denied=0),
    ]
    assert run("pta_overuse", window(days), context(**PUMP)) is None


def test_denied_activations_with_nothing_delivered_are_denied_heavy():
    days = [events(0, boluses_denied=1), events(1, boluses_denied=2)]
    assert run("pta_overuse", window(days), context(**PUMP)) is not None


def test_pta_rules_need_a_pump():
    days = [events(0, boluses_delivered=9, boluses_denied=9), events(1, boluses_denied=9)]
    assert run("pta_overuse", window(days), context()) is None


# --- pump_refill_due ---------------------------------------------------------------------


@pytest.mark.parametrize(("days_left", "fires"), [(0, True), (3, True), (4, False)])
def test_a_refill_3_days_away_or_less_is_due(days_left, fires):
    ctx = context(idds=True, idds_next_refill_date=TODAY + timedelta(days=days_left))

    found = run("pump_refill_due", window(), ctx)

    assert (found is not None) is fires
    if fires:
        assert found.severity == "info"
        assert found.evidence["days_left"] == days_left


def test_a_reservoir_predicted_empty_before_the_refill_is_due():
    ctx = context(idds=True, idds_next_refill_date=TODAY + timedelta(days=20), idds_reservoir_ml=Decimal(10))
    # 1 ml a day of boluses over the last week: empty in 10 days, refill in 20.
    usage = [events(i, boluses_delivered=1, bolus_ml=Decimal(1)) for i in range(7)]

    found = run("pump_refill_due", window(usage), ctx)

    assert found is not None
    assert found.evidence["predicted_empty_in_days"] == 10


def test_a_reservoir_lasting_past_the_refill_is_nothing():
    ctx = context(idds=True, idds_next_refill_date=TODAY + timedelta(days=20), idds_reservoir_ml=Decimal(30))
    usage = [events(i, boluses_delivered=1, bolus_ml=Decimal(1)) for i in range(7)]
    assert run("pump_refill_due", window(usage), ctx) is None


def test_no_pump_or_no_refill_date_is_nothing():
    assert run("pump_refill_due", window(), context(idds_next_refill_date=TODAY)) is None
    assert run("pump_refill_due", window(), context(idds=True)) is None


# --- missed_diary ------------------------------------------------------------------------


@pytest.mark.parametrize(("days", "fires"), [(3, False), (4, True), (10, True)])
def test_no_checkin_for_4_local_days_is_an_info_alert(days, fires):
    found = run("missed_diary", window(), context(last_checkin_on=ago(days), activated_on=ago(30)))

    assert (found is not None) is fires
    if fires:
        assert found.severity == "info"
        assert found.evidence["days_without_checkin"] == days


@pytest.mark.parametrize(("days", "fires"), [(3, False), (4, True)])
def test_without_any_checkin_days_count_from_activation(days, fires):
    found = run("missed_diary", window(), context(activated_on=ago(days)))
    assert (found is not None) is fires


def test_a_patient_who_never_activated_the_app_is_not_missing_the_diary():
    assert run("missed_diary", window(), context()) is None


def test_days_before_the_activation_are_not_missed():
    # Activated yesterday, diary backfilled up to 10 days ago: one day without a check-in.
    ctx = context(last_checkin_on=ago(10), activated_on=ago(1))
    assert run("missed_diary", window(), ctx) is None
    assert run("missed_diary", window(), context(last_checkin_on=ago(10), activated_on=ago(4))) is not None
