"""From a phone's sync to an alert, a referral and `box2_criteria_met`, end to end.

Personas (tests/conftest.py): `patient` is Rosa (Europe/Rome), whom each test puts on the
regimen it needs; `other_patient` is Bruno, same team; `clinician` is the team's pain
physician (tier 2 of the default escalation policy); `team_admin` edits rules;
`other_team_clinician` sees none of this team. `nurse` (below) is tier 1, with an email.
Records are posted inside `django_capture_on_commit_callbacks(execute=True)`, so the
evaluation the diary's commit announces runs before the assertions.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from unittest import mock

import pytest
from celery.app.task import Task
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts import dispatch, outbox, queue, tasks
from alerts.actions import evaluation
from alerts.models import Alert, AlertEvent, EvaluationRequest, Notification, ReferralRecommendation
from alerts.rules import Finding
from care.models import Patient, PatientStatus
from diary import signals
from diary.services import build_record, store_records
from tests.alerts_helpers import checkin_item, frozen_clock, nurse_of, post_days, sync
from tests.diary_helpers import checkin_body
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def nurse(team):
    """Tier 1 of the default escalation policy: notified first, by email."""
    return nurse_of(team)


def set_patient(patient: Patient, **fields) -> Patient:
    Patient.objects.filter(pk=patient.pk).update(**fields)
    patient.refresh_from_db()
    return patient


@pytest.fixture
def rosa(patient):
    """The review's Clinical Box 1 patient: 300 mg/day oral morphine equivalent."""
    return set_patient(patient, baseline_mme=300)


@pytest.fixture
def diary(api, django_capture_on_commit_callbacks):
    """`diary(patient, {days_ago: pain}, **fields)` posts one check-in a day through sync/,
    committed: the evaluation it announces has run when it returns."""

    def post(patient, day_pains, **fields):
        with django_capture_on_commit_callbacks(execute=True):
            return post_days(api(patient.user), patient, day_pains, **fields)

    return post


def alerts_of(patient) -> dict[str, Alert]:
    return {a.rule: a for a in Alert.objects.filter(patient=patient)}


def test_the_receiver_is_connected_to_the_diary_announcement():
    # In the diary's transaction: the request is noted with the records, its task sent
    # once they commit.
    uids = [key[0] for key, *_ in signals.patients_changing.receivers]
    assert "alerts.note_changed_patients" in uids


# --- Vignettes ------------------------------------------------------------------------------


def test_clinical_box_1_rosa_pain_of_6_to_7_for_3_days_on_300_mme_raises_criterion_1(
    api, rosa, clinician, nurse, diary
):
    diary(rosa, {2: 6, 1: 7, 0: 6})

    alerts = alerts_of(rosa)
    assert list(alerts) == ["persistent_pain"]
    alert = alerts["persistent_pain"]
    assert (alert.severity, alert.status, alert.box2_criteria) == ("warning", "open", [1])
    today = rosa.local_today()
    assert [d["date"] for d in alert.evidence["days"]] == [
        (today - timedelta(days=n)).isoformat() for n in (2, 1, 0)
    ]
    assert [d["pain"] for d in alert.evidence["days"]] == [6, 7, 6]
    assert len(alert.record_ids) == 3

    referral = ReferralRecommendation.objects.get(patient=rosa)
    assert (referral.status, referral.priority, referral.criteria_numbers) == ("suggested", "routine", [1])
    assert referral.criteria[0]["rule"] == "persistent_pain"
    assert referral.criteria[0]["evidence"] == alert.evidence

    summary = api(clinician).get(f"/api/v1/patients/{rosa.pk}/summary/?days=7").json()
    assert summary["box2_criteria_met"] == [1]
    own = api(rosa.user).get(f"/api/v1/patients/{rosa.pk}/summary/?days=7").json()
    assert own["box2_criteria_met"] == [1]

    # The nurse (tier 1) is told at once; a warning escalates after 4 hours.
    assert [(n.recipient, n.channel, n.kind) for n in alert.notifications.all()] == [
        (nurse, "email", "alert")
    ]
    assert alert.escalation_tier == 1
    assert alert.escalation_due_at == alert.created_at + timedelta(hours=4)
    assert [e.kind for e in alert.events.all()] == ["created", "notified"]


def test_a_controlled_patient_with_pain_2_to_3_raises_nothing(api, rosa, clinician, diary):
    diary(
        rosa,
        {6: 3, 5: 2, 4: 3, 3: 3, 2: 2, 1: 3, 0: 2},
        interference={"mood": 2, "sleep": 3, "work": 2, "walking": 1},
    )

    assert Alert.objects.filter(patient=rosa).count() == 0
    assert ReferralRecommendation.objects.filter(patient=rosa).count() == 0
    summary = api(clinician).get(f"/api/v1/patients/{rosa.pk}/summary/?days=7").json()
    assert summary["box2_criteria_met"] == []


def test_a_week_of_controlled_diary_replayed_one_post_at_a_time_oldest_first_raises_nothing(
    api, rosa, django_capture_on_commit_callbacks
):
    # An external client entering a vignette day by day: the first post is a week old, but
    # the patient has been using the app all along (activated today, diary backfilled).
    client = api(rosa.user)
    for days_ago, pain in zip(range(6, -1, -1), [3, 2, 3, 3, 2, 3, 2], strict=True):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                "/api/v1/diary/checkins/", checkin_item(rosa, days_ago, pain), format="json"
            )
        assert response.status_code == 201

    assert list(alerts_of(rosa)) == []


def test_the_same_pain_without_opioids_asks_to_review_analgesia_and_refers_no_one(patient, diary):
    diary(patient, {2: 6, 1: 6, 0: 6})

    assert list(alerts_of(patient)) == ["uncontrolled_pain_no_opioid"]
    assert alerts_of(patient)["uncontrolled_pain_no_opioid"].box2_criteria == []
    assert not ReferralRecommendation.objects.filter(patient=patient).exists()


def test_an_opioid_dose_logged_in_the_sync_puts_the_patient_on_opioids(
    api, patient, diary, django_capture_on_commit_callbacks
):
    dose = {
        "id": "6d1c1c9e-0000-4000-8000-000000000001",
        "taken_at": checkin_item(patient, 1, 0)["recorded_at"],
        "drug": "morphine",
        "dose": 10,
        "unit": "mg",
        "route": "oral",
    }
    with django_capture_on_commit_callbacks(execute=True):
        sync(
            api(patient.user),
            checkins=[checkin_item(patient, n, 6) for n in (2, 1, 0)],
            medications=[dose],
        )

    assert list(alerts_of(patient)) == ["persistent_pain"]


def test_a_red_flag_is_urgent_and_notifies_at_once(patient, nurse, diary):
    diary(patient, {0: 3}, red_flags=["saddle_numbness"])

    alert = alerts_of(patient)["red_flag"]
    assert alert.severity == "urgent"
    assert alert.box2_criteria == []
    assert alert.evidence["red_flags"] == ["saddle_numbness"]
    assert alert.escalation_due_at == alert.created_at + timedelta(minutes=15)
    assert alert.notifications.get().recipient == nurse


@pytest.mark.parametrize(
    ("flags", "criteria", "priority"),
    [
        ({}, [1], "routine"),
        ({"substance_use_history": True}, [1, 7], "high"),
        ({"organ_failure": True}, [1, 8], "high"),
        ({"substance_use_history": True, "organ_failure": True}, [1, 7, 8], "high"),
    ],
    ids=["no-context", "sud", "organ-failure", "both"],
)
def test_context_flags_are_listed_with_a_pain_criterion_and_raise_the_priority(
    rosa, diary, flags, criteria, priority
):
    set_patient(rosa, **flags)
    diary(rosa, {2: 5, 1: 5, 0: 5})

    assert alerts_of(rosa)["persistent_pain"].box2_criteria == criteria
    referral = ReferralRecommendation.objects.get(patient=rosa)
    assert (referral.criteria_numbers, referral.priority) == (criteria, priority)


def test_rapid_deterioration_makes_the_referral_urgent(rosa, diary):
    set_patient(rosa, substance_use_history=True)
    diary(rosa, {2: 5, 1: 8, 0: 8})

    assert set(alerts_of(rosa)) == {"persistent_pain", "rapid_deterioration"}
    assert alerts_of(rosa)["rapid_deterioration"].severity == "urgent"
    referral = ReferralRecommendation.objects.get(patient=rosa)
    assert referral.criteria_numbers == [1, 5, 7]
    assert referral.priority == "urgent"


def test_a_wish_for_a_procedure_with_a_substance_use_history_is_a_high_priority_referral(patient, diary):
    # SPEC: #7 and #8 "raise the priority of any referral"; listed as criteria only with a
    # pain criterion.
    set_patient(patient, substance_use_history=True)
    diary(patient, {0: 2}, wants_procedure_discussion=True)

    alert = alerts_of(patient)["patient_preference"]
    assert alert.box2_criteria == [9]
    referral = ReferralRecommendation.objects.get(patient=patient)
    assert (referral.criteria_numbers, referral.priority) == ([9], "high")


def item(patient, days_ago: int, minute: int = 0, **fields) -> dict:
    """A non-check-in record at a local moment on that day."""
    import uuid

    moment = datetime.fromisoformat(checkin_item(patient, days_ago, 0)["recorded_at"]) - timedelta(
        minutes=minute
    )
    key = "occurred_at" if "outcome" in fields else "taken_at" if "drug" in fields else "recorded_at"
    return {"id": str(uuid.uuid4()), key: moment.isoformat(), **fields}


INTERFERENCE_5 = {
    "general_activity": 5,
    "mood": 5,
    "walking": 6,
    "work": 4,
    "relations": 5,
    "sleep": 5,
    "enjoyment": 5,
}


def test_interference_5_on_3_of_7_days_refers_for_criterion_3(
    api, patient, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        sync(
            api(patient.user),
            checkins=[checkin_item(patient, n, 3, interference=INTERFERENCE_5) for n in (6, 3, 0)],
        )

    alert = alerts_of(patient)["pain_interference"]
    assert alert.box2_criteria == [3]
    assert [d["interference"] for d in alert.evidence["days"]] == [5.0, 5.0, 5.0]
    assert ReferralRecommendation.objects.get(patient=patient).criteria_numbers == [3]


def test_three_dn4_descriptors_with_pain_on_gabapentin_refer_for_criterion_4(
    api, patient, django_capture_on_commit_callbacks
):
    burning = ["burning", "electric_shocks", "tingling"]
    dose = item(patient, 10, drug="gabapentin", dose=300, unit="mg", route="oral")
    with django_capture_on_commit_callbacks(execute=True):
        sync(
            api(patient.user),
            checkins=[checkin_item(patient, n, 4, neuropathic=burning) for n in (12, 5, 0)],
            medications=[dose],
        )

    assert list(alerts_of(patient)) == ["refractory_neuropathic"]
    assert alerts_of(patient)["refractory_neuropathic"].box2_criteria == [4]


def test_the_same_adverse_effect_on_3_of_7_days_refers_for_criterion_2(
    api, patient, django_capture_on_commit_callbacks
):
    effects = [item(patient, n, effect="constipation", grade=2) for n in (5, 2, 0)]
    with django_capture_on_commit_callbacks(execute=True):
        sync(api(patient.user), adverse_effects=effects[:2])
        assert "limiting_adverse_effects" not in alerts_of(patient)
        sync(api(patient.user), adverse_effects=effects[2:])

    alert = alerts_of(patient)["limiting_adverse_effects"]
    assert (alert.evidence["reason"], alert.evidence["effects"], alert.box2_criteria) == (
        "repeated",
        ["constipation"],
        [2],
    )


def test_a_survivor_with_pain_on_7_of_14_days_gets_an_info_referral(api, patient, diary):
    set_patient(patient, cancer_survivor=True)
    diary(patient, dict.fromkeys((13, 11, 9, 7, 5, 3, 1), 4))

    assert list(alerts_of(patient)) == ["survivor_pain"]
    assert alerts_of(patient)["survivor_pain"].severity == "info"
    assert ReferralRecommendation.objects.get(patient=patient).criteria_numbers == [6]


def test_boluses_at_the_pump_daily_max_ask_for_a_titration_review(
    api, patient, django_capture_on_commit_callbacks
):
    refill = patient.local_today() + timedelta(days=30)
    set_patient(patient, idds=True, idds_max_daily_boluses=3, idds_next_refill_date=refill)
    boluses = [item(patient, 0, minute=10 * n, outcome="delivered", dose=0.5, unit="ml") for n in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        sync(api(patient.user), boluses=boluses[:2])
        assert "pta_overuse" not in alerts_of(patient)
        sync(api(patient.user), boluses=boluses[2:])

    alert = alerts_of(patient)["pta_overuse"]
    assert (alert.severity, alert.evidence["reason"]) == ("warning", "daily_max")
    assert not ReferralRecommendation.objects.filter(patient=patient).exists()


def test_denied_activations_on_2_days_ask_for_a_titration_review(
    api, patient, django_capture_on_commit_callbacks
):
    set_patient(patient, idds=True, idds_max_daily_boluses=6)
    boluses = [
        item(patient, 1, minute=0, outcome="delivered"),
        item(patient, 1, minute=5, outcome="denied_lockout"),
        item(patient, 0, minute=0, outcome="denied_lockout"),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        sync(api(patient.user), boluses=boluses)

    assert alerts_of(patient)["pta_overuse"].evidence["reason"] == "denied"


def test_a_gastrointestinal_cluster_on_3_days_is_a_warning(patient, diary):
    diary(patient, {2: 2, 1: 2, 0: 2}, symptoms={"nausea": 5, "appetite_loss": 4, "vomiting": 1})

    alert = alerts_of(patient)["symptom_cluster"]
    assert (alert.severity, alert.evidence["cluster"]) == ("warning", "gastrointestinal")


# --- Local days: DST and late syncs ----------------------------------------------------------


ROME_SPRING = [
    # 2025-03-30 02:00 → 03:00 in Europe/Rome: 02:30 does not exist that night.
    ("2025-03-29T02:30:00+01:00", 6),
    ("2025-03-29T23:30:00+01:00", 5),
    ("2025-03-30T02:30:00+01:00", 6),  # a phone still on winter time: 03:30 CEST
    ("2025-03-30T03:30:00+02:00", 7),
    ("2025-03-31T02:30:00+02:00", 6),
]
ROME_AUTUMN = [
    # 2025-10-26 03:00 → 02:00: 02:30 happens twice.
    ("2025-10-25T23:30:00+02:00", 6),
    ("2025-10-26T02:30:00+02:00", 5),
    ("2025-10-26T02:30:00+01:00", 7),
    ("2025-10-27T00:30:00+01:00", 6),
    ("2025-10-27T02:30:00+01:00", 5),
]


@pytest.mark.parametrize(
    ("entries", "now", "days"),
    [
        (ROME_SPRING, "2025-03-31T12:00:00+02:00", [("2025-03-29", 6), ("2025-03-30", 7), ("2025-03-31", 6)]),
        (ROME_AUTUMN, "2025-10-27T12:00:00+01:00", [("2025-10-25", 6), ("2025-10-26", 7), ("2025-10-27", 6)]),
    ],
    ids=["spring-forward", "fall-back"],
)
def test_dst_days_count_as_one_local_day_each(
    api, rosa, clinician, django_capture_on_commit_callbacks, entries, now, days
):
    arrival = datetime.fromisoformat(now)
    set_patient(rosa, enrolled_on=date(2025, 1, 1), activated_at=datetime(2025, 1, 2, tzinfo=UTC))
    items = [checkin_item(rosa, 0, pain, recorded_at=datetime.fromisoformat(at)) for at, pain in entries]

    with frozen_clock(arrival), django_capture_on_commit_callbacks(execute=True):
        sync(api(rosa.user), checkins=items)
        summary = api(clinician).get(f"/api/v1/patients/{rosa.pk}/summary/?days=3").json()

    alert = alerts_of(rosa)["persistent_pain"]
    assert [(d["date"], d["pain"]) for d in alert.evidence["days"]] == days
    assert len(alert.record_ids) == len(entries)
    assert [(d["date"], d["pain_worst"]) for d in summary["days"]] == days
    assert summary["adherence"] == {"days_with_checkin": 3, "days": 3}


def test_a_late_sync_raises_the_alert_says_late_and_starts_escalation_at_arrival(
    api, rosa, clinician, nurse, diary
):
    arrival = datetime.now(UTC).replace(microsecond=0)
    with frozen_clock(arrival):
        # Recorded offline 3, 2 and 1 days ago; nothing today yet.
        results = diary(rosa, {3: 6, 2: 6, 1: 6})

    assert all(r["status"] == "created" for r in results)
    alert = alerts_of(rosa)["persistent_pain"]
    assert alert.late is True
    assert alert.created_at == arrival
    assert alert.escalation_due_at == arrival + timedelta(hours=4)
    assert alert.events.get(kind="created").detail == {"late": True}
    detail = api(clinician).get(f"/api/v1/alerts/{alert.pk}/").json()
    assert detail["late"] is True
    assert any(d.get("late") for d in detail["evidence"]["days"])


def test_a_late_red_flag_is_still_urgent(rosa, nurse, diary):
    diary(rosa, {3: 2}, red_flags=["sleepy_slow_breathing"])

    alert = alerts_of(rosa)["red_flag"]
    assert (alert.severity, alert.late) == ("urgent", True)


# --- One evaluation per sync, bounded cost, idempotence ----------------------------------------


def published_evaluations():
    """Records the evaluation tasks published to the broker (the boundary), running them."""
    real = Task.apply_async
    published: list[tuple] = []

    def publish(task, args=None, kwargs=None, **options):
        if task.name == "alerts.tasks.evaluate_patient":
            published.append(tuple(args or ()))
        return real(task, args, kwargs, **options)

    return published, mock.patch.object(Task, "apply_async", publish)


def test_a_sync_of_300_records_evaluates_the_patient_once(api, rosa, django_capture_on_commit_callbacks):
    items = [checkin_item(rosa, n // 10, 5, recorded_at=None) for n in range(300)]
    for n, item in enumerate(items):
        item["recorded_at"] = (
            datetime.fromisoformat(item["recorded_at"]) - timedelta(minutes=n % 10)
        ).isoformat()

    published, publishing = published_evaluations()
    with publishing, django_capture_on_commit_callbacks(execute=True):
        results = sync(api(rosa.user), checkins=items)

    assert len(results) == 300
    assert [patient for patient, _token in published] == [str(rosa.pk)]
    assert not EvaluationRequest.objects.exists()  # evaluated, and the request cleared
    alert = Alert.objects.get(patient=rosa)
    assert alert.rule == "persistent_pain"
    assert list(alert.events.filter(kind="created").values_list("kind", flat=True)) == ["created"]


def published_tasks():
    """Every task published to the broker (the boundary), as (task name, first argument,
    queue asked for), each run as well."""
    real = Task.apply_async
    published: list[tuple] = []

    def publish(task, args=None, kwargs=None, **options):
        published.append((task.name, (args or (None,))[0], options.get("queue")))
        return real(task, args, kwargs, **options)

    return published, mock.patch.object(Task, "apply_async", publish)


def test_a_red_flag_goes_to_the_urgent_queue_and_routine_findings_do_not(
    api, team, rosa, nurse, django_capture_on_commit_callbacks
):
    routine = PatientFactory(care_team=team)
    published, publishing = published_tasks()
    with publishing, django_capture_on_commit_callbacks(execute=True):
        sync(api(rosa.user), checkins=[checkin_item(rosa, 0, 3, red_flags=["saddle_numbness"])])
        sync(api(routine.user), checkins=[checkin_item(routine, d, 6) for d in range(7)])

    queue_of = {(name, arg): asked for name, arg, asked in published}
    assert queue_of[(dispatch.EVALUATE_PATIENT, str(rosa.pk))] == dispatch.URGENT_QUEUE
    assert queue_of[(dispatch.EVALUATE_PATIENT, str(routine.pk))] is None  # the default queue
    red, warning = Alert.objects.get(patient=rosa), Alert.objects.get(patient=routine)
    assert (red.rule, red.severity, warning.severity) == ("red_flag", "urgent", "warning")
    for alert, expected in ((red, dispatch.URGENT_QUEUE), (warning, None)):
        notifications = list(Notification.objects.filter(alert=alert).values_list("pk", flat=True))
        assert notifications, f"{alert.rule} notified nobody"
        assert {queue_of[(dispatch.DELIVER_NOTIFICATION, str(pk))] for pk in notifications} == {expected}


def test_a_retried_sync_announces_nothing_and_evaluates_nothing(
    api, rosa, django_capture_on_commit_callbacks
):
    items = [checkin_item(rosa, n, 6) for n in (2, 1, 0)]
    with django_capture_on_commit_callbacks(execute=True):
        sync(api(rosa.user), checkins=items)
    events = AlertEvent.objects.count()
    status_at = PatientStatus.objects.get(patient=rosa).updated_at

    published, publishing = published_evaluations()
    with publishing, django_capture_on_commit_callbacks(execute=True) as callbacks:
        results = sync(api(rosa.user), checkins=items)

    assert [r["status"] for r in results] == ["duplicate"] * 3
    assert published == []
    assert callbacks == []
    assert not EvaluationRequest.objects.exists()
    assert AlertEvent.objects.count() == events
    assert PatientStatus.objects.get(patient=rosa).updated_at == status_at


def store_history(patient: Patient, days: int) -> None:
    """A check-in and a morphine dose on each of `days` local days, stored by the diary's
    write path without announcing (the test evaluates explicitly); the last 3 days at pain 6."""
    import uuid

    now = datetime.now(UTC)
    ingest = uuid.uuid4()
    records = []
    for n in range(days):
        at = datetime.combine(patient.local_today() - timedelta(days=n), time(9), tzinfo=patient.zone)
        at = min(at, now - timedelta(minutes=5))
        records.append(("checkin", {"id": uuid.uuid4(), "recorded_at": at, "pain_now": 6 if n < 3 else 2}))
        records.append(
            (
                "medication",
                {
                    "id": uuid.uuid4(),
                    "taken_at": at,
                    "drug": "morphine",
                    "dose": 10,
                    "unit": "mg",
                    "route": "oral",
                },
            )
        )
    built = [
        (
            kind,
            build_record(
                kind=kind, patient=patient, reporter=patient.user, data=data, now=now, ingest_key=ingest
            ),
        )
        for kind, data in records
    ]
    store_records(records=built)


def evaluation_queries(patient: Patient) -> int:
    with CaptureQueriesContext(connection) as queries:
        evaluation.evaluate_patient(patient_id=patient.pk)
    return len(queries)


def test_evaluation_costs_the_same_queries_after_a_week_or_a_year(team, nurse):

    week = PatientFactory(care_team=team, enrolled_on=date.today() - timedelta(days=400))  # noqa: DTZ011
    year = PatientFactory(care_team=team, enrolled_on=date.today() - timedelta(days=400))  # noqa: DTZ011
    store_history(week, 7)
    store_history(year, 365)

    week_queries = evaluation_queries(week)
    year_queries = evaluation_queries(year)

    assert week_queries == year_queries
    assert list(alerts_of(week)) == list(alerts_of(year)) == ["persistent_pain"]


# An evaluation that finds nothing new: the patient lock, the window (check-ins, adverse
# effects, boluses), the doses, the rule settings, the recent alerts, the open referral and
# the triage row's one UPDATE. The window and the alerts are read once and handed on.
EVALUATION_QUERIES = 9


def test_an_evaluation_that_finds_nothing_new_stays_within_its_query_budget(team, nurse):
    patient = PatientFactory(care_team=team, enrolled_on=date.today() - timedelta(days=400))  # noqa: DTZ011
    store_history(patient, 30)
    evaluation.evaluate_patient(patient_id=patient.pk)  # raises persistent_pain

    with CaptureQueriesContext(connection) as queries:
        evaluation.evaluate_patient(patient_id=patient.pk)

    statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == EVALUATION_QUERIES, statements
    assert PatientStatus.objects.get(patient=patient).open_warning == 1


def counts() -> tuple[int, ...]:
    return (
        Alert.objects.count(),
        AlertEvent.objects.count(),
        Notification.objects.count(),
        ReferralRecommendation.objects.count(),
    )


def test_two_evaluations_in_a_row_change_nothing_the_second_time(rosa, nurse, diary):
    diary(rosa, {2: 8, 1: 8, 0: 8}, red_flags=["new_limb_weakness"])
    referral = ReferralRecommendation.objects.get(patient=rosa)
    before = counts()

    assert evaluation.evaluate_patient(patient_id=rosa.pk) == []

    assert counts() == before
    referral.refresh_from_db()
    assert ReferralRecommendation.objects.get(patient=rosa).updated_at == referral.updated_at


# --- One open alert per rule: updates, severity, cooldown ---------------------------------------


def test_more_qualifying_data_updates_the_open_alert_instead_of_opening_another(rosa, nurse, diary):
    diary(rosa, {2: 6, 1: 6, 0: 6})
    alert = alerts_of(rosa)["persistent_pain"]
    notified = alert.notifications.count()

    diary(rosa, {0: 7})

    assert Alert.objects.filter(patient=rosa, rule="persistent_pain").count() == 1
    alert.refresh_from_db()
    assert [e.kind for e in alert.events.all()] == ["created", "notified", "updated"]
    assert len(alert.record_ids) == 4
    assert alert.evidence["days"][-1]["pain"] == 7
    assert alert.notifications.count() == notified  # new evidence alone notifies no one
    assert ReferralRecommendation.objects.filter(patient=rosa).count() == 1


def test_severity_only_rises_and_a_rise_notifies_again(rosa, nurse, diary):
    diary(rosa, {2: 6, 1: 6, 0: 6})
    alert = alerts_of(rosa)["persistent_pain"]
    ids = tuple(alert.record_ids)

    def apply(severity: str):
        finding = Finding("persistent_pain", severity, alert.evidence, record_ids=ids)
        with transaction.atomic():
            evaluation.apply_findings(
                patient=rosa, findings={"persistent_pain": finding}, now=alert.created_at
            )

    apply("urgent")
    alert.refresh_from_db()
    assert alert.severity == "urgent"
    assert alert.events.filter(kind="severity_raised").get().detail == {"from": "warning", "to": "urgent"}
    assert list(alert.notifications.values_list("kind", flat=True)) == ["alert", "severity_raised"]
    assert alert.escalation_due_at == alert.created_at + timedelta(minutes=15)

    apply("warning")
    alert.refresh_from_db()
    assert alert.severity == "urgent"
    assert alert.notifications.count() == 2


def resolve(api, clinician, alert) -> None:
    response = api(clinician).post(
        f"/api/v1/alerts/{alert.pk}/resolve/", {"resolution": "seen"}, format="json"
    )
    assert response.status_code == 200


def test_after_resolution_the_same_evidence_within_the_cooldown_does_not_reopen(api, rosa, clinician, diary):
    diary(rosa, {2: 6, 1: 6, 0: 6})
    resolve(api, clinician, alerts_of(rosa)["persistent_pain"])

    evaluation.evaluate_patient(patient_id=rosa.pk)
    diary(rosa, {0: 8})  # new evidence, still within 72 h

    assert Alert.objects.filter(patient=rosa, rule="persistent_pain").count() == 1
    assert not Alert.objects.filter(patient=rosa).unresolved().exists()


def test_after_the_cooldown_only_new_evidence_reopens(api, rosa, clinician, nurse, diary):
    start = datetime.now(UTC).replace(microsecond=0)
    with frozen_clock(start) as clock:
        diary(rosa, {0: 2}, red_flags=["pump_site_infection"])
        first = alerts_of(rosa)["red_flag"]
        resolve(api, clinician, first)

        clock[0] = start + timedelta(hours=73)
        evaluation.evaluate_patient(patient_id=rosa.pk)  # the old red flag is still in the window
        assert not Alert.objects.filter(patient=rosa).unresolved().exists()

        diary(rosa, {0: 2}, red_flags=["pump_site_infection"])

    reopened = Alert.objects.filter(patient=rosa).unresolved().get()
    assert reopened.pk != first.pk
    assert reopened.rule == "red_flag"


def test_a_higher_severity_breaks_the_cooldown(api, rosa, clinician, nurse, diary):
    diary(rosa, {2: 6, 1: 6, 0: 6})
    alert = alerts_of(rosa)["persistent_pain"]
    resolve(api, clinician, alert)
    finding = Finding("persistent_pain", "urgent", alert.evidence, record_ids=tuple(alert.record_ids))

    with transaction.atomic():
        raised = evaluation.apply_findings(
            patient=rosa, findings={"persistent_pain": finding}, now=alert.created_at
        )

    assert [a.severity for a in raised] == ["urgent"]


def test_a_new_red_flag_the_day_after_one_was_resolved_is_urgent_again(api, rosa, clinician, nurse, diary):
    diary(rosa, {1: 3}, red_flags=["saddle_numbness"])
    first = alerts_of(rosa)["red_flag"]
    resolve(api, clinician, first)

    evaluation.evaluate_patient(patient_id=rosa.pk)  # the same report does not reopen it
    assert not Alert.objects.filter(patient=rosa).unresolved().exists()

    diary(rosa, {0: 3}, red_flags=["saddle_numbness"])  # a new report, within the cooldown

    again = Alert.objects.filter(patient=rosa).unresolved().get()
    assert again.pk != first.pk
    assert again.severity == "urgent"
    assert again.notifications.filter(recipient=nurse).exists()


def test_a_severity_rise_on_an_acknowledged_alert_notifies_without_escalating(
    api, rosa, clinician, nurse, diary
):
    diary(rosa, {2: 6, 1: 6, 0: 6})
    alert = alerts_of(rosa)["persistent_pain"]
    assert (
        api(clinician).post(f"/api/v1/alerts/{alert.pk}/acknowledge/", {}, format="json").status_code == 200
    )
    finding = Finding("persistent_pain", "urgent", alert.evidence, record_ids=tuple(alert.record_ids))

    with transaction.atomic():
        evaluation.apply_findings(patient=rosa, findings={"persistent_pain": finding}, now=alert.created_at)

    alert.refresh_from_db()
    assert alert.status == "acknowledged"
    assert alert.notifications.filter(kind="severity_raised", recipient=nurse).exists()
    assert alert.escalation_due_at is None


def test_rapid_deterioration_with_steady_pain_is_quiet_for_the_cooldown_after_resolution(
    api, patient, clinician, nurse, diary
):
    set_patient(patient, limited_prognosis=True)
    diary(patient, {1: 6})
    resolve(api, clinician, alerts_of(patient)["rapid_deterioration"])

    diary(patient, {0: 6})  # a new check-in, the same steady pain, within 72 h

    assert not Alert.objects.filter(patient=patient).unresolved().exists()


# --- Thresholds per team and per patient ---------------------------------------------------------


def post_rule(api, user, **body):
    return api(user).post("/api/v1/alert-rules/", body, format="json")


def test_a_team_threshold_changes_what_fires(api, team, team_admin, rosa, diary):
    response = post_rule(
        api, team_admin, rule="persistent_pain", care_team=str(team.pk), params={"min_pain": 7}
    )
    assert response.status_code == 201, response.content
    assert response.json()["params"] == {"min_pain": 7}

    diary(rosa, {2: 6, 1: 6, 0: 6})
    assert "persistent_pain" not in alerts_of(rosa)

    diary(rosa, {2: 7, 1: 7, 0: 7})
    assert "persistent_pain" in alerts_of(rosa)


def test_a_patient_override_wins_over_the_team_default(api, team, team_admin, rosa, other_patient, diary):
    bruno = set_patient(other_patient, baseline_mme=60)
    assert (
        post_rule(
            api, team_admin, rule="persistent_pain", care_team=str(team.pk), params={"min_pain": 7}
        ).status_code
        == 201
    )
    response = post_rule(
        api,
        team_admin,
        rule="persistent_pain",
        care_team=str(team.pk),
        patient=str(rosa.pk),
        params={"min_pain": 5},
    )
    assert response.status_code == 201, response.content

    diary(rosa, {2: 6, 1: 6, 0: 6})
    diary(bruno, {2: 6, 1: 6, 0: 6})

    assert "persistent_pain" in alerts_of(rosa)
    assert "persistent_pain" not in alerts_of(bruno)


def test_a_rule_disabled_for_the_team_does_not_fire(api, team, team_admin, patient, diary):
    response = post_rule(api, team_admin, rule="red_flag", care_team=str(team.pk), enabled=False)
    assert response.status_code == 201

    diary(patient, {0: 2}, red_flags=["saddle_numbness"])

    assert "red_flag" not in alerts_of(patient)


def test_a_wrong_parameter_is_a_400_naming_it(api, team, team_admin):
    response = post_rule(
        api, team_admin, rule="persistent_pain", care_team=str(team.pk), params={"min_pain": 11}
    )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["params.min_pain"]

    response = post_rule(
        api, team_admin, rule="persistent_pain", care_team=str(team.pk), params={"min_pian": 7}
    )
    assert list(response.json()["errors"]) == ["params.min_pian"]


def test_a_patch_with_a_wrong_parameter_is_a_400_naming_it(api, team, team_admin):
    config = post_rule(api, team_admin, rule="pain_interference", care_team=str(team.pk)).json()

    response = api(team_admin).patch(
        f"/api/v1/alert-rules/{config['id']}/", {"params": {"min_mean": "5"}}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["params.min_mean"]


def test_a_plain_clinician_reads_rules_but_cannot_write_them(api, team, team_admin, clinician):
    config = post_rule(
        api, team_admin, rule="persistent_pain", care_team=str(team.pk), params={"min_pain": 6}
    ).json()

    assert post_rule(api, clinician, rule="red_flag", care_team=str(team.pk)).status_code == 403
    assert (
        api(clinician)
        .patch(f"/api/v1/alert-rules/{config['id']}/", {"enabled": False}, format="json")
        .status_code
        == 403
    )
    listed = api(clinician).get("/api/v1/alert-rules/").json()
    assert [c["id"] for c in listed] == [config["id"]]


def test_another_team_does_not_see_the_rules(api, team, team_admin, other_team_clinician):
    config = post_rule(api, team_admin, rule="persistent_pain", care_team=str(team.pk)).json()

    assert api(other_team_clinician).get(f"/api/v1/alert-rules/{config['id']}/").status_code == 404
    assert api(other_team_clinician).get("/api/v1/alert-rules/").json() == []
    response = post_rule(api, other_team_clinician, rule="persistent_pain", care_team=str(team.pk))
    assert response.status_code in {400, 403}


def test_a_second_config_for_the_same_rule_is_a_400_by_post_or_patch(api, team, team_admin):
    post_rule(api, team_admin, rule="persistent_pain", care_team=str(team.pk))
    other = post_rule(api, team_admin, rule="red_flag", care_team=str(team.pk)).json()

    again = post_rule(api, team_admin, rule="persistent_pain", care_team=str(team.pk))
    moved = api(team_admin).patch(
        f"/api/v1/alert-rules/{other['id']}/", {"rule": "persistent_pain"}, format="json"
    )

    assert (again.status_code, list(again.json()["errors"])) == (400, ["rule"])
    assert (moved.status_code, list(moved.json()["errors"])) == (400, ["rule"])


def test_patching_the_rule_checks_the_stored_params_against_the_new_rule(api, team, team_admin):
    config = post_rule(
        api, team_admin, rule="persistent_pain", care_team=str(team.pk), params={"min_pain": 7}
    ).json()

    response = api(team_admin).patch(
        f"/api/v1/alert-rules/{config['id']}/", {"rule": "red_flag"}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["params.min_pain"]


# --- Broker outages: the database keeps the work ------------------------------------------------


@pytest.fixture
def outage():
    """`with outage():` the Celery broker refuses every message (the boundary a Redis outage
    breaks). The request-side circuit breaker it trips is reset after the test (conftest)."""
    return lambda: mock.patch("celery.app.task.Task.apply_async", side_effect=ConnectionError("broker down"))


def test_with_the_broker_down_the_post_succeeds_and_the_sweeper_evaluates_later(rosa, nurse, diary, outage):
    with outage():
        results = diary(rosa, {2: 6, 1: 6, 0: 6})

    assert all(r["status"] == "created" for r in results)
    assert not Alert.objects.exists()
    request = EvaluationRequest.objects.get(patient=rosa)

    assert queue.evaluate_pending(now=request.requested_at) == 0  # its task may still come
    assert queue.evaluate_pending(now=request.requested_at + timedelta(minutes=1)) == 1

    assert list(alerts_of(rosa)) == ["persistent_pain"]
    assert not EvaluationRequest.objects.exists()


def test_the_sweeper_hands_a_backlog_to_the_workers_as_tasks_once_the_broker_is_back(
    team, nurse, rosa, diary, outage
):
    others = [PatientFactory(care_team=team) for _ in range(3)]
    with outage():
        diary(rosa, {2: 6, 1: 6, 0: 6})
        for patient in others:
            diary(patient, {0: 2})
    dispatch.breaker.reset()  # the broker answers again
    # The sweeper runs in a worker process, not in the one that could not send (which would
    # send its own again with its next publish).
    dispatch._unsent.clear()
    backlog = {str(p.pk) for p in [rosa, *others]}

    later = timezone.now() + timedelta(minutes=1)
    published, publishing = published_tasks()
    # While the workers are behind, the backlog's tasks may still be queued: nothing is
    # sent twice.
    with publishing, mock.patch.object(dispatch, "queue_length", return_value=dispatch.BEHIND_AT):
        assert queue.evaluate_pending(now=later) == 0
    assert published == []
    with publishing, mock.patch.object(dispatch, "queue_length", return_value=0):
        assert queue.evaluate_pending(now=later) == 4

    # One task each, which any worker process takes (eager here: each ran at once).
    assert sorted(arg for name, arg, _ in published if name == dispatch.EVALUATE_PATIENT) == sorted(backlog)
    assert list(alerts_of(rosa)) == ["persistent_pain"]
    assert not EvaluationRequest.objects.exists()


def test_what_the_broker_refused_goes_with_the_first_publish_once_it_is_back(
    team, nurse, rosa, diary, outage
):
    """No waiting for the sweeper's grace: the process that could not send a red flag's
    evaluation sends it, on the urgent queue, as soon as a publish succeeds again."""
    routine = PatientFactory(care_team=team)
    with outage():
        diary(rosa, {0: 3}, red_flags=["saddle_numbness"])
    assert not Alert.objects.exists()
    dispatch.breaker.reset()  # its retry delay over, the broker answers again

    published, publishing = published_tasks()
    with publishing:
        diary(routine, {0: 2})

    evaluations = {(arg, asked) for name, arg, asked in published if name == dispatch.EVALUATE_PATIENT}
    assert evaluations == {(str(routine.pk), None), (str(rosa.pk), dispatch.URGENT_QUEUE)}
    assert list(alerts_of(rosa)) == ["red_flag"]
    assert not EvaluationRequest.objects.exists()


def test_notifications_left_by_a_broker_outage_are_swept_and_delivered_once(rosa, nurse, diary, monkeypatch):
    from django.core import mail

    with mock.patch.object(tasks.deliver_notification, "apply_async", side_effect=ConnectionError("down")):
        diary(rosa, {0: 2}, red_flags=["saddle_numbness"])
    row = Notification.objects.get()
    assert row.status == "pending"
    assert mail.outbox == []

    later = row.next_attempt_at + timedelta(minutes=1)
    assert outbox.due_notifications(later) == [row.pk]
    with mock.patch("django.utils.timezone.now", return_value=later):
        tasks.sweep_outbox()
        tasks.sweep_outbox()

    row.refresh_from_db()
    assert row.status == "sent"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].extra_headers["Idempotency-Key"] == row.key


def test_a_change_committed_while_an_evaluation_runs_keeps_its_request(rosa, diary):
    """The evaluation sent for the first sync did not see the second (it committed while the
    evaluation ran): it clears its own request only, and the second's task evaluates again."""
    first = queue.note_evaluation([rosa.pk])[rosa.pk]
    second = queue.note_evaluation([rosa.pk])[rosa.pk]  # another sync, mid-evaluation

    queue.evaluate_and_clear(patient_id=rosa.pk, token=str(first))
    assert EvaluationRequest.objects.get(patient=rosa).token == second

    queue.evaluate_and_clear(patient_id=rosa.pk, token=str(second))
    assert not EvaluationRequest.objects.exists()


def test_a_task_sent_before_requests_had_tokens_clears_the_request_it_finds(rosa):
    queue.note_evaluation([rosa.pk])

    tasks.evaluate_patient(str(rosa.pk))  # a message queued by the previous release

    assert not EvaluationRequest.objects.exists()


def test_the_evaluation_request_is_stored_with_the_records_in_one_transaction(api, patient):
    """A process killed between the commit and the on-commit callbacks loses nothing: the
    request to evaluate is already a row, committed with the diary."""

    # No on-commit callback runs here (the test transaction never commits).
    response = api(patient.user).post("/api/v1/diary/checkins/", checkin_body(pain_now=5), format="json")

    assert response.status_code == 201
    assert EvaluationRequest.objects.filter(patient=patient).exists()
