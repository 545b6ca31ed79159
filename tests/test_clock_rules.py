"""The hourly run of the rules that close with time, on its light path.

The light snapshot (engine.load_light) must give every clock rule the verdict the full
evaluation gives; a chunk costs a fixed number of queries however many patients it holds;
only a patient with something new goes through the full write path.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from celery import current_app
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alerts import engine, schedule
from alerts.actions.escalation import escalate_due_alerts
from alerts.models import Alert, AlertRuleConfig, ClockChunk, ClockRun, Notification
from alerts.rules import SCHEDULED_RULES
from care.models import Device, Patient, PatientStatus, TeamRole, User
from diary.services import build_record, store_records
from tests.conftest import needs_service
from tests.factories import ClinicianFactory, PatientFactory

pytestmark = pytest.mark.django_db


def at_local(patient: Patient, days_ago: int, hour: int = 9) -> datetime:
    moment = datetime.combine(
        patient.local_today() - timedelta(days=days_ago), time(hour), tzinfo=patient.zone
    )
    return min(moment, datetime.now(UTC) - timedelta(minutes=5))


def store(patient: Patient, kind: str, **data) -> None:
    """A record stored by the diary's write path, without running the evaluation."""
    now = datetime.now(UTC)
    ingest = uuid.uuid4()
    record = build_record(
        kind=kind,
        patient=patient,
        reporter=patient.user,
        data={"id": uuid.uuid4(), **data},
        now=now,
        ingest_key=ingest,
    )
    store_records(records=[(kind, record)])


def activated(patient: Patient, days_ago: int) -> Patient:
    Patient.objects.filter(pk=patient.pk).update(activated_at=at_local(patient, days_ago))
    patient.refresh_from_db()
    return patient


def pump(patient: Patient, *, refill_in: int, reservoir_ml: str, daily_ml: str | None) -> Patient:
    Patient.objects.filter(pk=patient.pk).update(
        idds=True,
        idds_max_daily_boluses=6,
        idds_next_refill_date=patient.local_today() + timedelta(days=refill_in),
        idds_reservoir_ml=Decimal(reservoir_ml),
    )
    patient.refresh_from_db()
    for days_ago in range(7) if daily_ml else ():
        store(
            patient,
            "bolus",
            occurred_at=at_local(patient, days_ago),
            outcome="delivered",
            dose=Decimal(daily_ml),
            unit="ml",
        )
    return patient


@pytest.fixture
def cohort(team, other_team):
    """Patients in every situation the clock's rules tell apart, in two teams and zones."""
    people = {
        "silent_5_days": activated(PatientFactory(care_team=team), 30),
        "wrote_today": activated(PatientFactory(care_team=team), 30),
        "new_no_diary": activated(PatientFactory(care_team=team, timezone="America/New_York"), 2),
        "never_wrote": activated(PatientFactory(care_team=other_team, timezone="Asia/Tokyo"), 10),
        "refill_soon": pump(
            activated(PatientFactory(care_team=team), 30), refill_in=2, reservoir_ml="40", daily_ml=None
        ),
        "running_dry": pump(
            activated(PatientFactory(care_team=team), 30), refill_in=20, reservoir_ml="10", daily_ml="2"
        ),
        "pump_fine": pump(
            activated(PatientFactory(care_team=other_team), 30),
            refill_in=20,
            reservoir_ml="100",
            daily_ml="1",
        ),
        "override": activated(PatientFactory(care_team=other_team), 30),
    }
    store(people["silent_5_days"], "checkin", recorded_at=at_local(people["silent_5_days"], 5), pain_now=3)
    for name in ("wrote_today", "refill_soon", "running_dry", "pump_fine"):
        store(people[name], "checkin", recorded_at=at_local(people[name], 0), pain_now=2)
    store(people["override"], "checkin", recorded_at=at_local(people["override"], 6), pain_now=2)
    AlertRuleConfig.objects.create(
        rule="missed_diary", care_team=other_team, patient=people["override"], params={"alert_days": 10}
    )
    AlertRuleConfig.objects.create(rule="pump_refill_due", care_team=other_team, params={"days_before": 5})
    return people


def test_the_light_snapshot_gives_every_clock_rule_the_full_verdict(cohort):
    patients = list(cohort.values())
    light = engine.load_light(patients)
    settings = engine.settings_of(patients)

    for name, patient in cohort.items():
        full = engine.evaluate(patient, only=SCHEDULED_RULES)
        assert engine.run(settings[patient.pk], light[patient.pk], only=SCHEDULED_RULES) == full, name

    found = {
        name: sorted(c for c, f in engine.evaluate(p, only=SCHEDULED_RULES).items() if f)
        for name, p in cohort.items()
    }
    assert found == {
        "silent_5_days": ["missed_diary"],
        "wrote_today": [],
        "new_no_diary": [],
        "never_wrote": ["missed_diary"],
        "refill_soon": ["pump_refill_due"],
        "running_dry": ["pump_refill_due"],
        "pump_fine": [],
        "override": [],
    }


def test_the_hourly_run_raises_what_is_new_and_leaves_the_rest_untouched(cohort):
    before = dict(PatientStatus.objects.values_list("patient_id", "updated_at"))

    assert schedule.evaluate_scheduled([str(p.pk) for p in cohort.values()]) == 4

    raised = sorted((a.patient.display_name, a.rule) for a in Alert.objects.select_related("patient"))
    names = {p.display_name: name for name, p in cohort.items()}
    assert sorted((names[n], r) for n, r in raised) == [
        ("never_wrote", "missed_diary"),
        ("refill_soon", "pump_refill_due"),
        ("running_dry", "pump_refill_due"),
        ("silent_5_days", "missed_diary"),
    ]
    after = dict(PatientStatus.objects.values_list("patient_id", "updated_at"))
    untouched = {name for name, p in cohort.items() if after[p.pk] == before[p.pk]}
    assert untouched == {"wrote_today", "new_no_diary", "pump_fine", "override"}

    # The next hour: every finding is held by its alert, nobody is written again.
    assert schedule.evaluate_scheduled([str(p.pk) for p in cohort.values()]) == 0
    assert Alert.objects.count() == 4


# A chunk of the hourly run with nothing new: its patients, their last check-ins, the
# pumps' boluses, the rule settings and the unresolved clock alerts.
LIGHT_CHUNK_QUERIES = 5


@pytest.mark.parametrize("size", [3, 30])
def test_a_chunk_with_nothing_new_costs_the_same_few_queries_whatever_its_size(team, size):
    patients = [activated(PatientFactory(care_team=team), 1) for _ in range(size)]
    pump(patients[0], refill_in=20, reservoir_ml="100", daily_ml="1")

    with CaptureQueriesContext(connection) as queries:
        assert schedule.evaluate_scheduled([str(p.pk) for p in patients]) == 0

    assert len(queries) == LIGHT_CHUNK_QUERIES


# --- The hour is claimed once: caught up after a broker outage, run once by two beats -----


def test_an_hour_whose_tick_the_broker_refused_is_caught_up_by_the_next_tick(cohort):
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with mock.patch("celery.app.task.Task.apply_async", side_effect=ConnectionError("broker down")):
        assert schedule.evaluate_time_rules(now=hour) == 0
    assert ClockChunk.objects.filter(sent_at__isnull=True).count() == 1  # claimed, written, unsent
    assert not Alert.objects.exists()

    assert schedule.evaluate_time_rules(now=hour + timedelta(minutes=5)) == len(cohort)
    assert Alert.objects.count() == 4
    assert schedule.evaluate_time_rules(now=hour + timedelta(minutes=10)) == 0  # the hour is done
    assert ClockRun.objects.get().period == hour
    assert not ClockChunk.objects.filter(done_at__isnull=True).exists()


def test_claiming_an_hour_deletes_the_runs_and_chunks_of_more_than_a_week_before(cohort):
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    for days in (8, 6):
        old = ClockRun.objects.create(job="scheduled-rules", period=hour - timedelta(days=days))
        ClockChunk.objects.create(run=old, patient_ids=[], done_at=old.period)

    schedule.evaluate_time_rules(now=hour)

    kept = sorted((hour - run.period).days for run in ClockRun.objects.all())
    assert kept == [0, 6]
    assert ClockChunk.objects.filter(run__period__lt=hour - timedelta(days=7)).count() == 0
    assert ClockChunk.objects.count() == 2  # last week's one, and this hour's


def test_a_chunk_the_broker_lost_is_sent_again_by_a_later_tick(cohort):
    """A Redis restart drops the queued chunks; a chunk whose task failed (the database
    restarted under it) is as good as lost. Neither needs a person."""
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with mock.patch("celery.app.task.Task.apply_async"):  # published, then lost with the broker
        assert schedule.evaluate_time_rules(now=hour) == len(cohort)
    assert not Alert.objects.exists()

    assert schedule.evaluate_time_rules(now=hour + timedelta(minutes=2)) == 0  # may still be queued
    assert schedule.evaluate_time_rules(now=hour + timedelta(minutes=6)) == len(cohort)
    assert Alert.objects.count() == 4
    [chunk] = ClockChunk.objects.all()
    assert schedule.evaluate_chunk(chunk.pk) == 0  # a late copy of the lost task finds it done


def test_the_hourly_chunks_go_to_a_queue_of_their_own_that_a_worker_consumes_by_default():
    routed = current_app.amqp.router.route({}, "alerts.tasks.evaluate_scheduled_chunk")
    assert routed["queue"].name == "clock"
    # A routing key of its own each: on a direct exchange a shared key would copy every
    # message into several queues.
    assert {q.name: q.routing_key for q in current_app.amqp.queues.values()} == {
        "alerts-urgent": "alerts-urgent",
        "celery": "celery",
        "clock": "clock",
    }
    assert current_app.amqp.router.route({}, "alerts.tasks.evaluate_patient")["queue"].name == "celery"
    # The Redis transport takes from a worker's queues in sorted order: urgent work first,
    # the hourly run last.
    if current_app.conf.broker_url.startswith("redis://"):  # CI and production
        assert current_app.conf.broker_transport_options["queue_order_strategy"] == "sorted"
    assert sorted(q.name for q in current_app.amqp.queues.values()) == ["alerts-urgent", "celery", "clock"]


def at_once(*jobs: Callable[[], Any]) -> list[Any]:
    """Run the jobs in threads released together, as two beats firing the same tick."""
    start = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            start.wait(timeout=10)
            results[n] = jobs[n]()
        except BaseException as exc:  # reported in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    return results


@needs_service("PostgreSQL", connection.vendor == "postgresql")
@pytest.mark.django_db(transaction=True)
def test_two_beats_send_no_reminder_digest_escalation_or_hourly_run_twice(team):
    nurse = ClinicianFactory(team=team, team__team_role=TeamRole.NURSE, email="nurse@example.org")
    ClinicianFactory(team=team, team__team_role=TeamRole.PAIN_PHYSICIAN, email="doc@example.org")
    patients = [activated(PatientFactory(care_team=team), 30) for _ in range(3)]
    for patient in patients:
        User.objects.filter(pk=patient.user_id).update(reminder_time=time(0, 0))
        Device.objects.create(user=patient.user, platform="fcm", token=f"phone-{patient.pk}")
    Alert.objects.create(patient=patients[0], rule="patient_preference", severity="info")
    due = Alert.objects.create(
        patient=patients[1],
        rule="red_flag",
        severity="urgent",
        escalation_tier=1,
        escalation_due_at=datetime.now(UTC) - timedelta(minutes=1),
    )
    now = datetime.now(UTC)

    hourly = at_once(
        lambda: schedule.evaluate_time_rules(now=now), lambda: schedule.evaluate_time_rules(now=now)
    )
    at_once(lambda: schedule.send_reminders(now=now), lambda: schedule.send_reminders(now=now))
    digest_hour = now.replace(hour=8, minute=30)  # the team's digest hour (08:00 UTC by default)
    at_once(
        lambda: schedule.send_daily_digests(now=digest_hour),
        lambda: schedule.send_daily_digests(now=digest_hour),
    )
    at_once(lambda: escalate_due_alerts(now), lambda: escalate_due_alerts(now))

    assert sorted(hourly) == [0, len(patients)]
    assert Notification.objects.filter(kind="reminder").count() == len(patients)
    assert list(Notification.objects.filter(kind="digest").values_list("recipient", flat=True)) == [nurse.pk]
    assert due.events.filter(kind="escalated").count() == 1
    assert Notification.objects.filter(kind="escalation").values("recipient").distinct().count() == 1
