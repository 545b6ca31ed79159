"""Adverse effects (Box 2 #2), symptom clusters, red flags and the patient's wishes (#9), at
and around each SPEC default threshold. No database.
"""

from __future__ import annotations

import pytest

from tests.alerts_helpers import TODAY, ago, checkin, events, evidence_dates, pains, run, window

# --- limiting_adverse_effects (Box 2 #2) ------------------------------------------------


@pytest.mark.parametrize("grade", [3, 4])
def test_an_adverse_effect_graded_3_or_more_fires_at_once(grade):
    found = run("limiting_adverse_effects", window(events(0, adverse={"sedation": grade})))

    assert found is not None
    assert found.severity == "warning"
    assert found.evidence["reason"] == "severe"
    assert found.evidence["effects"] == ["sedation"]


def test_a_single_grade_2_effect_is_nothing():
    assert run("limiting_adverse_effects", window(events(0, adverse={"sedation": 2}))) is None


def test_a_severe_effect_7_days_ago_is_outside_the_week():
    assert run("limiting_adverse_effects", window(events(7, adverse={"sedation": 4}))) is None


def effect_days(effect: str, grade: int, days_ago: list[int]):
    return [events(i, adverse={effect: grade}) for i in days_ago]


def test_the_same_effect_at_grade_2_on_3_of_7_days_fires():
    found = run("limiting_adverse_effects", window(effect_days("constipation", 2, [0, 3, 6])))

    assert found is not None
    assert found.evidence["reason"] == "repeated"
    assert found.evidence["effects"] == ["constipation"]
    assert evidence_dates(found) == [ago(6).isoformat(), ago(3).isoformat(), TODAY.isoformat()]


def test_the_same_effect_at_grade_2_on_2_days_is_nothing():
    assert run("limiting_adverse_effects", window(effect_days("constipation", 2, [0, 3]))) is None


def test_a_grade_1_effect_on_3_days_is_nothing():
    assert run("limiting_adverse_effects", window(effect_days("nausea", 1, [0, 1, 2]))) is None


def test_three_different_effects_at_grade_2_are_not_the_same_effect_repeated():
    days = [
        events(0, adverse={"nausea": 2}),
        events(1, adverse={"vomiting": 2}),
        events(2, adverse={"dizziness": 2}),
    ]
    assert run("limiting_adverse_effects", window(days)) is None


def test_a_repeat_8_days_ago_falls_outside_the_7_days():
    assert run("limiting_adverse_effects", window(effect_days("nausea", 2, [0, 3, 7]))) is None


def test_limits_daily_activities_twice_in_7_days_fires():
    days = [
        events(0, adverse={"nausea": 1}, limiting_reports=1),
        events(5, adverse={"dizziness": 1}, limiting_reports=1),
    ]

    found = run("limiting_adverse_effects", window(days))

    assert found is not None
    assert found.evidence["reason"] == "limits_daily_activities"


def test_limits_daily_activities_once_is_nothing():
    assert (
        run("limiting_adverse_effects", window(events(0, adverse={"nausea": 1}, limiting_reports=1))) is None
    )


def test_limits_daily_activities_a_week_apart_is_not_twice_in_7_days():
    days = [
        events(0, adverse={"nausea": 1}, limiting_reports=1),
        events(7, adverse={"nausea": 1}, limiting_reports=1),
    ]
    assert run("limiting_adverse_effects", window(days)) is None


# --- symptom_cluster ---------------------------------------------------------------------


def cluster_days(days_ago: list[int], pain: int = 2, **symptoms: int):
    return [checkin(i, pain, symptoms=symptoms) for i in days_ago]


def test_a_cluster_with_two_members_at_4_on_3_consecutive_days_fires():
    found = run("symptom_cluster", window(cluster_days([0, 1, 2], nausea=4, vomiting=5)))

    assert found is not None
    assert found.severity == "warning"
    assert found.evidence["cluster"] == "gastrointestinal"


def test_a_cluster_active_on_2_days_is_nothing():
    assert run("symptom_cluster", window(cluster_days([0, 1], nausea=4, vomiting=4))) is None


def test_one_member_at_3_leaves_the_cluster_inactive_that_day():
    days = [*cluster_days([0, 1], nausea=4, vomiting=4), *cluster_days([2], nausea=4, vomiting=3)]
    assert run("symptom_cluster", window(days)) is None


def test_a_single_member_high_does_not_activate_a_cluster():
    assert run("symptom_cluster", window(cluster_days([0, 1, 2], nausea=10))) is None


def test_the_day_pain_is_the_pain_member_of_pain_fatigue_sleep():
    found = run("symptom_cluster", window(cluster_days([0, 1, 2], pain=4, tiredness=4)))

    assert found is not None
    assert found.evidence["cluster"] == "pain_fatigue_sleep"
    assert run("symptom_cluster", window(cluster_days([0, 1, 2], pain=3, tiredness=4))) is None


def test_a_missing_day_breaks_a_cluster_run():
    assert run("symptom_cluster", window(cluster_days([0, 1, 3], anxiety=5, depression=5))) is None


def test_a_cluster_run_ending_yesterday_counts_while_today_has_no_checkin():
    found = run("symptom_cluster", window(cluster_days([1, 2, 3], drowsiness=6, confusion=4)))

    assert found is not None
    assert found.evidence["cluster"] == "neurocognitive"


# --- red_flag ----------------------------------------------------------------------------


def test_any_red_flag_is_urgent_at_once():
    found = run("red_flag", window(checkin(0, 2, red_flags=("saddle_numbness",))))

    assert found is not None
    assert found.severity == "urgent"
    assert found.evidence["red_flags"] == ["saddle_numbness"]


def test_a_red_flag_synced_late_from_6_days_ago_still_fires():
    found = run("red_flag", window(checkin(6, 2, red_flags=("pump_site_infection",), late=True)))

    assert found is not None
    assert found.late is True


def test_no_red_flag_no_alert_a_13_day_late_one_still_counts_and_a_two_week_old_one_is_past():
    assert run("red_flag", window(pains(9, 9, 9))) is None
    assert run("red_flag", window(checkin(13, 2, red_flags=("new_incontinence",)))) is not None
    assert run("red_flag", window(checkin(14, 2, red_flags=("new_incontinence",)))) is None


# --- patient_preference (Box 2 #9) ------------------------------------------------------


@pytest.mark.parametrize("wish", ["wants_fewer_medications", "wants_procedure_discussion"])
def test_a_patient_asking_for_fewer_drugs_or_a_procedure_is_an_info_referral(wish):
    found = run("patient_preference", window(checkin(0, 3, **{wish: True})))

    assert found is not None
    assert found.severity == "info"
    assert found.evidence[wish] is True


def test_a_checkin_without_a_wish_is_nothing():
    assert run("patient_preference", window(pains(3, 3))) is None


def test_a_wish_recorded_yesterday_and_synced_today_still_counts():
    # SPEC: late records are evaluated on the day they were recorded.
    assert run("patient_preference", window(checkin(1, 3, wants_procedure_discussion=True))) is not None
    assert run("patient_preference", window(checkin(7, 3, wants_procedure_discussion=True))) is None
