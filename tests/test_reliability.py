"""Reliability of alerts (issue 4): a real Celery worker on Redis and PostgreSQL.

Each worker test starts `celery -A backend worker --pool=prefork --concurrency=1` as a
process of its own, connected to this test's PostgreSQL database and to a Redis database
of its own, and receives the team's webhook on a small HTTP server in this process that
checks the HMAC signature and records each Idempotency-Key. The test plays celery beat:
it runs the sweepers itself, every second instead of every 30 or 60 s.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from alerts import dispatch, engine, queue, tasks
from alerts.actions import evaluation
from alerts.models import Alert, EscalationPolicy, EvaluationRequest, Notification
from care.models import TeamRole
from tests.factories import CareTeamFactory, ClinicianFactory, PatientFactory
from tests.reliability_helpers import (
    CLAIM_TIMEOUT_SECONDS,
    IN_CI,
    SWEEP_GRACE_SECONDS,
    Beat,
    PrivateRedis,
    WebhookReceiver,
    Worker,
    celery_publishing_to,
    claim_redis_db,
    database_url,
    missing_services,
    needs,
    redis_answers,
    shared_redis_url,
    wait_until,
)

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "webhook-secret-for-tests"
SENT = Notification.Status.SENT


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture
def receiver():
    server = WebhookReceiver(SECRET)
    yield server
    server.close()


@pytest.fixture
def short_timeouts(settings):
    """This process sweeps with the same timeouts the worker gets through its environment."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.NOTIFICATION_CLAIM_TIMEOUT_SECONDS = CLAIM_TIMEOUT_SECONDS
    settings.NOTIFICATION_SWEEP_GRACE_SECONDS = SWEEP_GRACE_SECONDS
    settings.OUTBOUND_ALLOW_LOOPBACK = True  # the receiver listens on 127.0.0.1


@pytest.fixture
def shared_broker(short_timeouts):
    """An empty database of its own on the Redis CI uses, emptied afterwards."""
    if IN_CI and not redis_answers(shared_redis_url()):
        pytest.fail(f"CI needs Redis at {shared_redis_url()}")
    with claim_redis_db() as url, celery_publishing_to(url):
        yield url


@pytest.fixture
def private_broker(short_timeouts, tmp_path):
    """A redis-server of our own, which the test may crash without disturbing anyone."""
    # The broker circuit breaker may trip while Redis is down: conftest resets it after.
    server = PrivateRedis(tmp_path / "redis.log")
    try:
        server.start()
        with celery_publishing_to(server.url()):
            yield server
    finally:
        server.stop()


@pytest.fixture
def start_worker(transactional_db, tmp_path):
    """`start_worker(broker_url, **env)` starts a real worker on this test's database. It is
    killed at the end (before the database is emptied), whatever happened."""
    workers: list[Worker] = []

    def start(broker_url: str, **extra_env: str) -> Worker:
        env = {
            **os.environ,
            "DATABASE_URL": database_url(connection.settings_dict),
            "CELERY_BROKER_URL": broker_url,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "DJANGO_SECRET_KEY": django_settings.SECRET_KEY,
            "NOTIFICATION_CLAIM_TIMEOUT_SECONDS": str(CLAIM_TIMEOUT_SECONDS),
            "NOTIFICATION_SWEEP_GRACE_SECONDS": str(SWEEP_GRACE_SECONDS),
            "EMAIL_URL": "consolemail://",
            "OUTBOUND_ALLOW_LOOPBACK": "true",
            "PYTHONUNBUFFERED": "1",
            **extra_env,
        }
        worker = Worker(env, tmp_path / f"worker-{len(workers)}.log")
        workers.append(worker)
        return worker.start()

    yield start
    for worker in workers:
        worker.stop()
        print(f"--- worker log (tail) ---\n{worker.log_tail()}")


# --- helpers -----------------------------------------------------------------------------


def webhook_policy(team, url: str) -> EscalationPolicy:
    return EscalationPolicy.objects.create(team=team, webhook_url=url, webhook_secret=SECRET)


def post_red_flag(api, patient) -> float:
    """The patient reports saddle numbness (a red flag: urgent) through the API; returns
    how long the request took."""
    body = {
        "id": str(uuid.uuid4()),
        "recorded_at": (timezone.now() - timedelta(minutes=5)).isoformat(),
        "pain_now": 6,
        "red_flags": ["saddle_numbness"],
    }
    started = time.monotonic()
    response = api(patient.user).post("/api/v1/diary/checkins/", body, format="json")
    assert response.status_code == 201, response.content
    return time.monotonic() - started


def webhook_keys() -> set[str]:
    return set(Notification.objects.filter(channel="webhook").values_list("key", flat=True))


def everything_sent(expected: int):
    def check() -> bool:
        rows = Notification.objects.filter(channel="webhook")
        return rows.count() == expected and not rows.exclude(status=SENT).exists()

    return check


# --- 1. end to end -----------------------------------------------------------------------


@needs(missing_services(shared_redis=True))
def test_a_red_flag_reaches_the_team_webhook_through_a_real_worker_in_seconds(
    api, team, receiver, shared_broker, start_worker, record_property
):
    nurse = ClinicianFactory(team=team, team__team_role=TeamRole.NURSE, email="nurse@example.org")
    webhook_policy(team, receiver.url())
    patient = PatientFactory(care_team=team)
    start_worker(shared_broker)

    started = time.monotonic()
    post_red_flag(api, patient)
    assert wait_until(lambda: receiver.received(), 30), "no webhook within 30 s"
    elapsed = receiver.received()[0]["at"] - started
    assert wait_until(everything_sent(1), 10)

    alert = Alert.objects.get(patient=patient)
    assert (alert.rule, alert.severity, alert.status) == ("red_flag", "urgent", "open")
    webhook = Notification.objects.get(alert=alert, channel="webhook")
    (request,) = receiver.received()
    assert request["key"] == webhook.key
    assert request["signature_ok"]
    assert request["body"]["alert"] == str(alert.pk)
    assert request["body"]["severity"] == "urgent"
    # The nurse of tier 1 is mailed too (console email backend in the worker).
    assert wait_until(
        lambda: Notification.objects.filter(
            alert=alert, recipient=nurse, channel="email", status=SENT
        ).exists(),
        10,
    )
    assert not EvaluationRequest.objects.exists()
    record_property("end_to_end_seconds", round(elapsed, 3))
    print(f"red flag check-in to webhook through the worker: {elapsed:.2f} s")


# --- 2. SIGKILL mid-delivery, ten times --------------------------------------------------


@needs(missing_services(shared_redis=True))
def test_killing_the_worker_ten_times_mid_delivery_loses_nothing_and_repeats_only_what_it_cut(
    api, team, receiver, shared_broker, start_worker, record_property
):
    webhook_policy(team, receiver.url())
    patients = [PatientFactory(care_team=team) for _ in range(60)]
    receiver.delay = 0.2  # a slow paging system, so that kills land mid-delivery
    worker = start_worker(shared_broker)
    beat = Beat(shared_broker, [tasks.sweep_outbox])
    rng = random.Random(4)  # noqa: S311 - timing jitter, not security

    for patient in patients:
        post_red_flag(api, patient)

    # What each kill cut short: the claims (row, claimed_at) in `sending` right after it
    # that no earlier kill had seen. The dead child can change nothing more and no other
    # process claims rows meanwhile.
    seen_claims: set[tuple] = set()
    cut_by_kills: Counter[str] = Counter()
    for _ in range(10):

        def delivering() -> bool:
            beat.tick()
            return receiver.in_flight > 0

        assert wait_until(delivering, 60, 0.01), f"no delivery in flight:\n{worker.log_tail()}"
        time.sleep(rng.uniform(0, 0.3))  # inside the provider's 0.2 s, or just after it answered
        killed = worker.kill_child()
        claims = set(
            Notification.objects.filter(status=Notification.Status.SENDING).values_list("key", "claimed_at")
        )
        cut_by_kills.update(key for key, _ in claims - seen_claims)
        seen_claims |= claims
        worker.wait_for_new_child(killed)
        time.sleep(rng.uniform(0.2, 0.8))

    def all_delivered() -> bool:
        beat.tick()
        return everything_sent(len(patients))()

    assert wait_until(all_delivered, 120, 0.2), (
        Counter(Notification.objects.values_list("status", flat=True)),
        worker.log_tail(),
    )
    assert worker.alive(), "the worker's main process survived its children"
    assert worker.log().count("exited with 'signal 9 (SIGKILL)'") == worker.kills, worker.log_tail()

    keys = webhook_keys()
    assert len(keys) == len(patients) == Alert.objects.count()
    assert not Notification.objects.exclude(status=SENT).exists()  # none lost, none dead
    counts = receiver.key_counts()
    assert set(counts) == keys  # every notification reached the provider
    repeated = {key: n - 1 for key, n in counts.items() if n > 1}
    # A repeat only where a kill cut a delivery short, at most one per such kill.
    assert all(extra <= cut_by_kills[key] for key, extra in repeated.items()), (repeated, cut_by_kills)
    assert sum(repeated.values()) <= worker.kills == 10
    assert all(r["signature_ok"] for r in receiver.received())
    bodies: dict[str, set] = {}
    for request in receiver.received():
        bodies.setdefault(request["key"], set()).add(repr(sorted(request["body"].items())))
    assert all(len(b) == 1 for b in bodies.values())  # a repeat is the same message
    record_property("repeats", sum(repeated.values()))
    record_property("cut_by_kills", sum(cut_by_kills.values()))
    print(
        f"{worker.kills} kills, {sum(cut_by_kills.values())} deliveries cut, "
        f"{sum(repeated.values())} repeats, {beat.runs} sweeps, "
        f"max attempts {max(Notification.objects.values_list('attempts', flat=True))}"
    )


# --- 3. Redis down while patients post ---------------------------------------------------


@needs(missing_services(redis_server=True))
def test_with_redis_down_every_post_succeeds_and_every_alert_is_delivered_once_it_is_back(
    api, team, receiver, private_broker, start_worker, monkeypatch, record_property
):
    webhook_policy(team, receiver.url())
    first, *during_outage = [PatientFactory(care_team=team) for _ in range(5)]
    worker = start_worker(private_broker.url())
    # The evaluation sweeper waits 30 s for a request's own task; the test waits 1 s.
    monkeypatch.setattr(queue, "EVALUATION_GRACE", timedelta(seconds=1))

    post_red_flag(api, first)
    assert wait_until(lambda: len(receiver.received()) == 1, 30), worker.log_tail()

    private_broker.crash()
    durations = [post_red_flag(api, patient) for patient in during_outage]  # each one a 201
    assert set(EvaluationRequest.objects.values_list("patient_id", flat=True)) == {
        p.pk for p in during_outage
    }  # the durable queue holds what the broker could not take
    assert not Alert.objects.filter(patient__in=during_outage).exists()

    private_broker.start()  # same port, empty: whatever was queued in it is gone
    beat = Beat(private_broker.url(), [tasks.sweep_evaluations, tasks.sweep_outbox])

    def all_delivered() -> bool:
        beat.tick()
        return everything_sent(5)() and len(receiver.received()) >= 5

    assert wait_until(all_delivered, 90, 0.2), (
        Counter(Notification.objects.values_list("status", flat=True)),
        worker.log_tail(),
    )
    # A few more sweeps find nothing left to send.
    settle = time.monotonic() + 2.5
    wait_until(lambda: beat.tick() or time.monotonic() > settle, 5, 0.2)

    for patient in [first, *during_outage]:
        assert Alert.objects.filter(patient=patient, rule="red_flag").count() == 1
    counts = receiver.key_counts()
    assert set(counts) == webhook_keys()
    assert set(counts.values()) == {1}  # none twice
    assert all(r["signature_ok"] for r in receiver.received())
    assert not EvaluationRequest.objects.exists()
    record_property("post_seconds_while_redis_down", [round(d, 2) for d in durations])
    print(f"posts while Redis was down took {', '.join(f'{d:.2f}' for d in durations)} s")


# --- 4. two evaluations of one patient at once -------------------------------------------


@needs(missing_services())
def test_two_evaluations_of_one_patient_at_once_raise_one_alert(api, team, monkeypatch):
    nurse = ClinicianFactory(team=team, team__team_role=TeamRole.NURSE, email="nurse@example.org")
    webhook_policy(team, "http://127.0.0.1:9/unused")
    patient = PatientFactory(care_team=team)
    queued: list[tuple[str, tuple]] = []
    monkeypatch.setattr(
        dispatch, "enqueue", lambda name, *args, **options: queued.append((name, args)) or True
    )
    post_red_flag(api, patient)  # announced and noted, but no worker picks it up
    assert not Alert.objects.exists()
    queued.clear()

    # Hold each evaluation for a moment once it has the patient, so that the two overlap
    # unless something makes the second one wait.
    spans: list[tuple[float, float]] = []
    real_load = engine.load

    def slow_evaluate(*args, **kwargs):
        began = time.monotonic()
        result = real_load(*args, **kwargs)
        time.sleep(0.5)
        spans.append((began, time.monotonic()))
        return result

    monkeypatch.setattr(engine, "load", slow_evaluate)
    start = threading.Barrier(2)
    raised: list[list[Alert]] = []
    errors: list[BaseException] = []

    def evaluate() -> None:
        try:
            start.wait(timeout=10)
            raised.append(evaluation.evaluate_patient(patient_id=patient.pk))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=evaluate) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    assert sorted(len(r) for r in raised) == [0, 1]  # one raised the alert, one found it
    (first, second) = sorted(spans)
    assert second[0] >= first[1]  # the second waited for the first (the patient row lock)
    alert = Alert.objects.get(patient=patient)
    assert alert.rule == "red_flag"
    assert sorted(Notification.objects.values_list("channel", "recipient_id")) == [
        ("email", nurse.pk),
        ("webhook", None),
    ]
    assert sorted(name for name, _ in queued) == ["alerts.tasks.deliver_notification"] * 2


# --- 5. a poison message -----------------------------------------------------------------


@needs(missing_services(shared_redis=True))
def test_a_delivery_that_kills_its_worker_every_time_is_dead_lettered_and_the_rest_flow(
    api, team, receiver, shared_broker, start_worker, settings
):
    max_attempts = 3
    settings.NOTIFICATION_MAX_ATTEMPTS = max_attempts
    webhook_policy(team, receiver.url())
    poisoned_team = CareTeamFactory(name="Pain Unit P")
    # Every delivery to this team's paging system hangs, and the test kills the worker's
    # child each time: a message that crashes its worker, as far as the worker can tell.
    webhook_policy(poisoned_team, receiver.url("/hang"))
    poisoned = PatientFactory(care_team=poisoned_team)
    others = [PatientFactory(care_team=team) for _ in range(max_attempts + 2)]
    worker = start_worker(shared_broker, NOTIFICATION_MAX_ATTEMPTS=str(max_attempts))
    beat = Beat(shared_broker, [tasks.sweep_outbox])

    post_red_flag(api, poisoned)
    post_red_flag(api, others[0])
    to_post = others[1:]

    def poison_dead() -> bool:
        if len(receiver.received("/hang")) > worker.kills:
            worker.wait_for_new_child(worker.kill_child())
            if to_post:  # other patients keep reporting between the crashes
                post_red_flag(api, to_post.pop(0))
        beat.tick()
        return Notification.objects.filter(team=poisoned_team, status=Notification.Status.DEAD).exists()

    assert wait_until(poison_dead, 90, 0.02), worker.log_tail()
    for patient in to_post:
        post_red_flag(api, patient)

    def others_sent() -> bool:
        beat.tick()
        rows = Notification.objects.filter(team=team)
        return rows.count() == len(others) and not rows.exclude(status=SENT).exists()

    assert wait_until(others_sent, 60, 0.2), worker.log_tail()
    poison = Notification.objects.get(team=poisoned_team)
    assert poison.status == Notification.Status.DEAD
    assert poison.attempts == max_attempts + 1  # the claim after the last crash gave up
    assert "gave up" in poison.last_error
    assert len(receiver.received("/hang")) == max_attempts == worker.kills
    assert worker.alive()
    counts = receiver.key_counts()
    assert set(counts) == set(Notification.objects.filter(team=team).values_list("key", flat=True))
    assert set(counts.values()) == {1}


# --- 6. a red flag goes ahead of the routine work -----------------------------------------


@needs(missing_services(shared_redis=True))
def test_a_red_flag_reaches_the_webhook_before_a_backlog_of_routine_evaluations(
    api, team, receiver, shared_broker, start_worker
):
    """The queues of settings.CELERY_TASK_QUEUES are taken in order: a red flag reported
    behind a hundred routine evaluations already in the broker is evaluated and delivered
    first, not after them."""
    webhook_policy(team, receiver.url())
    backlog = [PatientFactory(care_team=team) for _ in range(100)]
    queue.note_evaluation([p.pk for p in backlog])
    for patient in backlog:
        assert dispatch.enqueue(dispatch.EVALUATE_PATIENT, str(patient.pk))
    patient = PatientFactory(care_team=team)
    post_red_flag(api, patient)
    start_worker(shared_broker)

    assert wait_until(lambda: receiver.received(), 60), "no webhook within 60 s"
    still_waiting = EvaluationRequest.objects.filter(patient__in=backlog).count()
    assert still_waiting >= 50, f"the red flag waited for {100 - still_waiting} routine evaluations"
    assert receiver.received()[0]["body"]["severity"] == "urgent"
    assert wait_until(lambda: not EvaluationRequest.objects.exists(), 60), "the backlog was not evaluated"
