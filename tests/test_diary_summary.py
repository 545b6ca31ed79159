"""patients/{id}/summary/: the day values clinicians read (SPEC "Alert rules", day values).

Personas (tests/conftest.py): `patient` (Rosa, Europe/Rome) reads her own summary;
`caregiver` and `clinician` read it; `blind_caregiver` may report but not read;
`other_patient`, `revoked_caregiver` and `other_team_clinician` may not know it exists.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alerts.models import ReferralRecommendation
from tests.diary_helpers import adverse_effect_body, bolus_body, checkin_body, medication_body

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Personas get hashed passwords; these tests never log in with one.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def summary_url(patient) -> str:
    return f"/api/v1/patients/{patient.pk}/summary/"


def day(patient, days_ago: int):
    return patient.local_today() - timedelta(days=days_ago)


def at(patient, days_ago: int, hour: int = 12, minute: int = 0) -> str:
    """A moment on the patient's local day `days_ago` days before today."""
    local = day(patient, days_ago)
    return datetime(local.year, local.month, local.day, hour, minute, tzinfo=patient.zone).isoformat()


def record(api, patient, **sections) -> dict[str, list[dict]]:
    response = api(patient.user).post("/api/v1/sync/", sections, format="json")
    assert {r["status"] for r in response.json()["results"]} == {"created"}, response.json()
    return sections


def summary(api, user, patient, days: int = 7) -> dict:
    response = api(user).get(summary_url(patient), {"days": days})
    assert response.status_code == 200, response.content
    return response.json()


def days_by_date(body: dict) -> dict[str, dict]:
    return {row["date"]: row for row in body["days"]}


def row(api, patient, days_ago: int, days: int = 7) -> dict:
    return days_by_date(summary(api, patient.user, patient, days))[day(patient, days_ago).isoformat()]


# --- Shape and window ----------------------------------------------------------------------


def test_the_summary_has_one_row_per_local_day_ending_today(api, patient):
    body = summary(api, patient.user, patient, days=5)

    assert [r["date"] for r in body["days"]] == [day(patient, n).isoformat() for n in (4, 3, 2, 1, 0)]
    assert body["box2_criteria_met"] == []  # no referral recommendation is open
    assert body["adherence"] == {"days_with_checkin": 0, "days": 5}
    empty = body["days"][0]
    assert empty["pain_worst"] is None
    assert empty["pain_average"] is None
    assert empty["interference_mean"] is None
    assert empty["symptoms"] == {}
    assert empty["boluses"] == {"delivered": 0, "denied": 0}
    assert empty["mme"] is None
    assert set(empty["clusters"]) == {
        "pain_fatigue_sleep",
        "gastrointestinal",
        "psychological",
        "neurocognitive",
    }
    assert all(c == {"score": None, "active": False} for c in empty["clusters"].values())


def test_the_summary_lists_the_box2_criteria_of_the_open_referral(api, patient):
    ReferralRecommendation.objects.create(
        patient=patient,
        criteria=[
            {"number": 5, "rule": "rapid_deterioration", "evidence": {}},
            {"number": 1, "rule": "persistent_pain", "evidence": {}},
        ],
    )
    ReferralRecommendation.objects.create(
        patient=patient,
        status="declined",
        criteria=[{"number": 3, "rule": "pain_interference", "evidence": {}}],
    )

    assert summary(api, patient.user, patient)["box2_criteria_met"] == [1, 5]


def test_the_summary_covers_28_days_by_default(api, patient):
    body = api(patient.user).get(summary_url(patient)).json()

    assert len(body["days"]) == 28
    assert body["adherence"]["days"] == 28


@pytest.mark.parametrize("days", ["0", "-1", "366", "seven", "2.5"])
def test_a_number_of_days_out_of_range_is_a_400(api, patient, days):
    response = api(patient.user).get(summary_url(patient), {"days": days})

    assert response.status_code == 400
    assert "days" in response.json()["errors"]


def test_records_outside_the_window_are_left_out(api, patient):
    record(api, patient, checkins=[checkin_body(recorded_at=at(patient, 10), pain_now=9)])

    body = summary(api, patient.user, patient, days=7)

    assert all(r["pain_worst"] is None for r in body["days"])
    assert body["adherence"]["days_with_checkin"] == 0


def test_a_checkin_just_after_local_midnight_counts_on_that_local_day(api, patient):
    # 00:15 in Rome is the evening before in UTC.
    record(api, patient, checkins=[checkin_body(recorded_at=at(patient, 2, 0, 15), pain_now=6)])

    rows = days_by_date(summary(api, patient.user, patient))

    assert rows[day(patient, 2).isoformat()]["pain_worst"] == 6
    assert rows[day(patient, 3).isoformat()]["pain_worst"] is None


# --- Day values ----------------------------------------------------------------------------


def test_day_pain_is_the_highest_pain_now_or_pain_worst_of_the_day(api, patient):
    record(
        api,
        patient,
        checkins=[
            checkin_body(recorded_at=at(patient, 1, 8), pain_now=3, pain_worst=6),
            checkin_body(recorded_at=at(patient, 1, 20), pain_now=7),
            checkin_body(recorded_at=at(patient, 2, 9), pain_now=2, pain_worst=8),
        ],
    )

    assert row(api, patient, 1)["pain_worst"] == 7
    assert row(api, patient, 2)["pain_worst"] == 8


def test_day_average_is_the_mean_of_pain_average_answers_else_of_pain_now(api, patient):
    record(
        api,
        patient,
        checkins=[
            checkin_body(recorded_at=at(patient, 1, 8), pain_now=9, pain_average=4),
            checkin_body(recorded_at=at(patient, 1, 14), pain_now=9, pain_average=7),
            checkin_body(recorded_at=at(patient, 1, 20), pain_now=1),
            checkin_body(recorded_at=at(patient, 2, 8), pain_now=3),
            checkin_body(recorded_at=at(patient, 2, 20), pain_now=6),
        ],
    )

    assert row(api, patient, 1)["pain_average"] == 5.5
    assert row(api, patient, 2)["pain_average"] == 4.5


def test_interference_mean_is_the_highest_of_the_day_among_checkins_answering_at_least_4_items(api, patient):
    four = {"walking": 4, "mood": 6, "sleep": 5, "work": 5}  # mean 5
    seven = dict.fromkeys(
        ("general_activity", "mood", "walking", "work", "relations", "sleep", "enjoyment"), 3
    )
    three = {"walking": 10, "mood": 10, "sleep": 10}  # too few items to count
    record(
        api,
        patient,
        checkins=[
            checkin_body(recorded_at=at(patient, 1, 8), interference=four),
            checkin_body(recorded_at=at(patient, 1, 12), interference=seven),
            checkin_body(recorded_at=at(patient, 1, 18), interference=three),
            checkin_body(recorded_at=at(patient, 2, 18), interference=three),
        ],
    )

    assert row(api, patient, 1)["interference_mean"] == 5.0
    assert row(api, patient, 2)["interference_mean"] is None


def test_a_symptoms_day_value_is_its_highest_score_that_day(api, patient):
    record(
        api,
        patient,
        checkins=[
            checkin_body(recorded_at=at(patient, 1, 8), symptoms={"nausea": 2, "tiredness": 3}),
            checkin_body(recorded_at=at(patient, 1, 20), symptoms={"nausea": 6, "anxiety": 0}),
        ],
    )

    assert row(api, patient, 1)["symptoms"] == {"anxiety": 0, "nausea": 6, "tiredness": 3}


def test_a_cluster_with_two_members_at_exactly_4_is_active_and_scores_their_mean(api, patient):
    record(
        api,
        patient,
        checkins=[
            checkin_body(recorded_at=at(patient, 1), pain_now=0, symptoms={"anxiety": 4, "depression": 4})
        ],
    )

    assert row(api, patient, 1)["clusters"]["psychological"] == {"score": 4.0, "active": True}


def test_a_cluster_with_one_member_at_4_and_one_at_3_is_not_active(api, patient):
    record(
        api,
        patient,
        checkins=[
            checkin_body(recorded_at=at(patient, 1), pain_now=0, symptoms={"anxiety": 4, "depression": 3})
        ],
    )

    assert row(api, patient, 1)["clusters"]["psychological"] == {"score": 3.5, "active": False}


def test_the_pain_fatigue_sleep_cluster_counts_the_day_pain_as_its_pain_member(api, patient):
    record(
        api,
        patient,
        checkins=[
            # Day pain 5 (pain_worst of the first check-in) and tiredness 4: two members >= 4.
            checkin_body(recorded_at=at(patient, 1, 8), pain_now=2, pain_worst=5, symptoms={"tiredness": 4}),
            checkin_body(recorded_at=at(patient, 1, 20), pain_now=3, symptoms={"sleep_disturbance": 3}),
            checkin_body(
                recorded_at=at(patient, 2, 8), pain_now=3, symptoms={"tiredness": 4, "sleep_disturbance": 2}
            ),
        ],
    )

    assert row(api, patient, 1)["clusters"]["pain_fatigue_sleep"] == {"score": 4.0, "active": True}
    assert row(api, patient, 2)["clusters"]["pain_fatigue_sleep"] == {"score": 3.0, "active": False}


def test_symptoms_of_different_checkins_of_a_day_combine_into_one_cluster(api, patient):
    record(
        api,
        patient,
        checkins=[
            checkin_body(recorded_at=at(patient, 1, 8), pain_now=0, symptoms={"nausea": 5}),
            checkin_body(recorded_at=at(patient, 1, 20), pain_now=0, symptoms={"vomiting": 7, "nausea": 1}),
        ],
    )

    assert row(api, patient, 1)["clusters"]["gastrointestinal"] == {"score": 6.0, "active": True}


def test_boluses_are_counted_per_day_as_delivered_and_denied(api, patient):
    record(
        api,
        patient,
        boluses=[
            *(bolus_body(occurred_at=at(patient, 1, h), outcome="delivered") for h in (8, 12, 16)),
            bolus_body(occurred_at=at(patient, 1, 17), outcome="denied_lockout"),
            bolus_body(occurred_at=at(patient, 1, 23), outcome="denied_daily_max"),
            bolus_body(occurred_at=at(patient, 2, 9), outcome="denied_lockout"),
        ],
    )

    assert row(api, patient, 1)["boluses"] == {"delivered": 3, "denied": 2}
    assert row(api, patient, 2)["boluses"] == {"delivered": 0, "denied": 1}


def test_the_days_mme_adds_up_the_doses_that_have_one(api, patient):
    record(
        api,
        patient,
        medications=[
            medication_body(taken_at=at(patient, 1, 8), drug="oxycodone", dose=10, unit="mg", route="oral"),
            medication_body(taken_at=at(patient, 1, 20), drug="morphine", dose=30, unit="mg", route="oral"),
            medication_body(taken_at=at(patient, 1, 21), drug="methadone", dose=10, unit="mg", route="oral"),
            medication_body(
                taken_at=at(patient, 2, 8), drug="fentanyl", dose=25, unit="mcg/h", route="transdermal"
            ),
        ],
    )

    assert row(api, patient, 1)["mme"] == 45.0
    assert row(api, patient, 2)["mme"] is None


def test_adherence_counts_the_days_with_a_checkin(api, patient):
    record(
        api,
        patient,
        checkins=[
            checkin_body(recorded_at=at(patient, 1, 8)),
            checkin_body(recorded_at=at(patient, 1, 20)),
            checkin_body(recorded_at=at(patient, 3)),
            checkin_body(recorded_at=at(patient, 12)),  # outside a 7-day window
        ],
        boluses=[bolus_body(occurred_at=at(patient, 4))],  # not a check-in
        adverse_effects=[adverse_effect_body(recorded_at=at(patient, 5))],
    )

    assert summary(api, patient.user, patient, days=7)["adherence"] == {"days_with_checkin": 2, "days": 7}
    assert summary(api, patient.user, patient, days=14)["adherence"] == {"days_with_checkin": 3, "days": 14}


def test_retracted_records_are_left_out_of_every_day_value(api, patient):
    wrong_checkin = checkin_body(
        recorded_at=at(patient, 1, 9), pain_now=10, symptoms={"nausea": 9, "vomiting": 9}
    )
    wrong_bolus = bolus_body(occurred_at=at(patient, 1, 10))
    wrong_dose = medication_body(
        taken_at=at(patient, 1, 11), drug="morphine", dose=100, route="oral", unit="mg"
    )
    alone = checkin_body(recorded_at=at(patient, 2), pain_now=8)
    record(
        api,
        patient,
        checkins=[wrong_checkin, checkin_body(recorded_at=at(patient, 1, 8), pain_now=3), alone],
        boluses=[wrong_bolus],
        medications=[wrong_dose],
    )
    client = api(patient.user)
    for path, body in (
        ("checkins", wrong_checkin),
        ("boluses", wrong_bolus),
        ("medications", wrong_dose),
        ("checkins", alone),
    ):
        response = client.post(
            f"/api/v1/diary/{path}/{body['id']}/retract/", {"reason": "wrong"}, format="json"
        )
        assert response.status_code == 200

    yesterday = row(api, patient, 1)
    assert yesterday["pain_worst"] == 3
    assert yesterday["symptoms"] == {}
    assert yesterday["clusters"]["gastrointestinal"]["active"] is False
    assert yesterday["boluses"] == {"delivered": 0, "denied": 0}
    assert yesterday["mme"] is None
    assert row(api, patient, 2)["pain_worst"] is None
    assert summary(api, patient.user, patient)["adherence"]["days_with_checkin"] == 1


def test_a_correction_changes_the_summary(api, patient):
    body = checkin_body(recorded_at=at(patient, 1), pain_now=3)
    record(api, patient, checkins=[body])

    api(patient.user).patch(f"/api/v1/diary/checkins/{body['id']}/", {"pain_now": 9}, format="json")

    assert row(api, patient, 1)["pain_worst"] == 9


def test_another_patients_diary_never_enters_the_summary(api, patient, other_patient):
    record(api, other_patient, checkins=[checkin_body(recorded_at=at(other_patient, 1), pain_now=9)])

    assert row(api, patient, 1)["pain_worst"] is None


# --- Cost ----------------------------------------------------------------------------------


def summary_queries(client, patient, days: int) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(summary_url(patient), {"days": days})
    assert response.status_code == 200
    return len(queries)


# The user, the patient, three diary reads (check-ins, boluses, doses) and the open
# referral; then a clinician's audit row, a caregiver's links and audit row. A patient's
# own record, which tells their own read (not audited) from another's, comes with the
# user (backend.authentication).
SUMMARY_QUERIES = {"patient": 6, "clinician": 7, "caregiver": 8}


@pytest.mark.parametrize("reader", ["patient", "clinician", "caregiver"])
def test_the_summary_costs_the_same_queries_whatever_the_days_and_the_history(
    api, patient, clinician, caregiver, reader
):
    client = api({"patient": patient.user, "clinician": clinician, "caregiver": caregiver}[reader])
    record(
        api,
        patient,
        checkins=[checkin_body(recorded_at=at(patient, 1))],
        boluses=[bolus_body(occurred_at=at(patient, 1))],
        medications=[medication_body(taken_at=at(patient, 1))],
    )
    short = summary_queries(client, patient, 7)

    record(
        api,
        patient,
        checkins=[checkin_body(recorded_at=at(patient, n, 9)) for n in range(1, 59)],
        boluses=[bolus_body(occurred_at=at(patient, n, 10)) for n in range(1, 59)],
        medications=[medication_body(taken_at=at(patient, n, 11)) for n in range(1, 59)],
    )

    assert summary_queries(client, patient, 90) == short == SUMMARY_QUERIES[reader]
    assert summary_queries(client, patient, 7) == short


# --- Who may read it -----------------------------------------------------------------------


def test_the_patient_caregiver_and_clinician_read_the_summary(api, patient, caregiver, clinician):
    record(api, patient, checkins=[checkin_body(recorded_at=at(patient, 1), pain_now=6)])

    for user in (patient.user, caregiver, clinician):
        assert row_for(api, user, patient)["pain_worst"] == 6


def row_for(api, user, patient) -> dict:
    return days_by_date(summary(api, user, patient))[day(patient, 1).isoformat()]


def test_a_caregiver_without_viewing_rights_gets_403(api, blind_caregiver, patient):
    assert api(blind_caregiver).get(summary_url(patient)).status_code == 403


@pytest.mark.parametrize("who", ["other_team_clinician", "revoked_caregiver", "other_patient"])
def test_someone_who_may_not_know_the_patient_gets_404(api, patient, request, who):
    persona = request.getfixturevalue(who)
    user = persona.user if who == "other_patient" else persona

    assert api(user).get(summary_url(patient)).status_code == 404


@pytest.mark.parametrize("patient_id", ["not-a-uuid", "a.b", "12345"])
def test_a_malformed_patient_id_is_a_404(api, clinician, patient_id):
    response = api(clinician).get(f"/api/v1/patients/{patient_id}/summary/")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_an_anonymous_caller_gets_401(anonymous, patient):
    assert anonymous.get(summary_url(patient)).status_code == 401
