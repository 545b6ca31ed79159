"""The rule registry: every rule of SPEC's table with its default thresholds, and parameter
validation naming the parameter at fault. No database."""

from __future__ import annotations

import pytest

from alerts.rules import RULES, default_params, validate_params

# SPEC "Alert rules": rule -> (Box 2 criterion, severity, "+ referral").
SPEC_TABLE = {
    "persistent_pain": (1, "warning", True),
    "uncontrolled_pain_no_opioid": (None, "warning", False),
    "limiting_adverse_effects": (2, "warning", True),
    "pain_interference": (3, "warning", True),
    "refractory_neuropathic": (4, "warning", True),
    "rapid_deterioration": (5, "urgent", True),
    "survivor_pain": (6, "info", True),
    "patient_preference": (9, "info", True),
    "red_flag": (None, "urgent", False),
    "pta_overuse": (None, "warning", False),
    "symptom_cluster": (None, "warning", False),
    "missed_diary": (None, "info", False),
    "pump_refill_due": (None, "info", False),
}


def test_the_registry_holds_exactly_the_rules_of_the_spec_table():
    assert set(RULES) == set(SPEC_TABLE)


@pytest.mark.parametrize("code", sorted(SPEC_TABLE))
def test_each_rule_has_its_box2_item_severity_and_referral_flag(code):
    rule = RULES[code]
    assert (rule.box2, rule.severity, rule.referral) == SPEC_TABLE[code]


def test_default_thresholds_are_the_spec_defaults():
    assert default_params("persistent_pain") == {"min_pain": 5, "days": 3, "opioid_lookback_days": 7}
    assert default_params("limiting_adverse_effects") == {
        "severe_grade": 3,
        "repeat_grade": 2,
        "repeat_days": 3,
        "limiting_reports": 2,
        "window_days": 7,
    }
    assert default_params("pain_interference") == {"min_mean": 5, "days": 3, "window_days": 7}
    assert default_params("refractory_neuropathic") == {
        "min_descriptors": 3,
        "min_pain": 4,
        "days": 3,
        "window_days": 14,
    }
    assert default_params("rapid_deterioration") == {
        "rise": 2,
        "min_pain": 7,
        "consecutive_pain": 8,
        "consecutive_days": 2,
        "prognosis_pain": 5,
    }
    assert default_params("survivor_pain") == {"min_pain": 4, "days": 7, "window_days": 14}
    assert default_params("pta_overuse")["consecutive_days"] == 2
    assert default_params("symptom_cluster") == {"days": 3}
    assert default_params("missed_diary") == {"reminder_days": 2, "alert_days": 4}
    assert default_params("pump_refill_due")["days_before"] == 3


@pytest.mark.parametrize("code", sorted(SPEC_TABLE))
def test_the_defaults_of_every_rule_are_valid(code):
    assert validate_params(code, default_params(code)) == {}


def test_a_valid_override_has_no_errors():
    assert validate_params("persistent_pain", {"min_pain": 7}) == {}
    assert validate_params("pain_interference", {"min_mean": 5.5}) == {}


def test_an_unknown_parameter_is_named():
    errors = validate_params("persistent_pain", {"min_pian": 7})
    assert list(errors) == ["min_pian"]


@pytest.mark.parametrize("value", ["7", None, [7], {"v": 7}])
def test_a_parameter_that_is_not_a_number_is_named(value):
    assert list(validate_params("persistent_pain", {"min_pain": value})) == ["min_pain"]


@pytest.mark.parametrize("value", [True, False])
def test_a_boolean_is_not_a_number(value):
    assert list(validate_params("persistent_pain", {"min_pain": value})) == ["min_pain"]


@pytest.mark.parametrize("value", [0, 11, -1])
def test_a_parameter_out_of_range_is_named(value):
    errors = validate_params("persistent_pain", {"min_pain": value})
    assert list(errors) == ["min_pain"]
    assert "between 1 and 10" in errors["min_pain"][0]


@pytest.mark.parametrize("value", [3.5, 3.0])
def test_a_count_of_days_must_be_a_whole_number(value):
    # 3.0 would pass a range check and then break `range(days)` inside the rule.
    assert list(validate_params("persistent_pain", {"days": value})) == ["days"]


def test_only_the_wrong_parameters_are_named():
    errors = validate_params("rapid_deterioration", {"rise": 3, "min_pain": 12, "nope": 1})
    assert sorted(errors) == ["min_pain", "nope"]


def test_params_must_be_an_object():
    assert list(validate_params("persistent_pain", [5])) == ["params"]
