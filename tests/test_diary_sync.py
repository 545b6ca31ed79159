"""POST sync/: a phone back from days offline sends its queue, perhaps twice, perhaps shuffled.

Personas (tests/conftest.py): `patient` (Rosa) syncs her own diary; `other_patient` (Bruno)
must never receive Rosa's records; `caregiver` syncs for Rosa only; `mute_caregiver`
(below) is linked to Rosa without the right to report.
"""

from __future__ import annotations

import random
import threading
import uuid
from datetime import datetime, timedelta

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from care.models import Role
from diary.signals import patients_changed
from tests.conftest import IN_CI, client_for
from tests.diary_helpers import (
    ADVERSE_EFFECTS,
    BY_KIND,
    CHECKINS,
    MEDICATIONS,
    RECORD_TYPES,
    adverse_effect_body,
    bolus_body,
    checkin_body,
    clear_diary,
    diary_row_count,
    medication_body,
)
from tests.factories import CaregiverLinkFactory, PatientFactory

pytestmark = pytest.mark.django_db

SYNC = "/api/v1/sync/"


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Personas get hashed passwords; these tests never log in with one.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def mute_caregiver(patient):
    """Linked to `patient` to read only (can_report false)."""
    return CaregiverLinkFactory(patient=patient, caregiver__username="gianni", can_report=False).caregiver


def sync(client, **sections):
    return client.post(SYNC, sections, format="json")


def statuses(response) -> list[tuple[str, str, str]]:
    assert response.status_code == 200, response.content
    return [(r["type"], r["id"], r["status"]) for r in response.json()["results"]]


def mixed_batch(count_each: int = 2, **fields) -> dict[str, list[dict]]:
    return {
        record_type.section: [record_type.body(**fields) for _ in range(count_each)]
        for record_type in RECORD_TYPES
    }


def expected_order(batch: dict[str, list[dict]]) -> list[tuple[str, str]]:
    return [(t.kind, item["id"]) for t in RECORD_TYPES for item in batch.get(t.section, [])]


# --- Outcomes ------------------------------------------------------------------------------


def test_a_mixed_batch_is_answered_item_by_item_in_the_documented_order(api, patient):
    batch = mixed_batch(3)
    # The phone may put the sections in any order; the answer keeps API.md's.
    body = {section: batch[section] for section in reversed(list(batch))}

    response = api(patient.user).post(SYNC, body, format="json")

    assert [(kind, rid) for kind, rid, _ in statuses(response)] == expected_order(batch)
    assert {status for *_, status in statuses(response)} == {"created"}
    for record_type in RECORD_TYPES:
        assert record_type.model.objects.filter(patient=patient).count() == 3


def test_each_item_gets_its_own_outcome_and_a_bad_one_blocks_nothing(api, patient):
    stored = checkin_body(pain_now=3)
    api(patient.user).post(CHECKINS.url(), stored, format="json")
    batch = {
        "checkins": [
            {**stored},  # the same record again
            {**stored, "pain_now": 9},  # the same id with other content
            checkin_body(pain_now=11),  # out of range
            checkin_body(interference={"walking": "a lot"}),
            checkin_body(),
        ],
        "medications": [medication_body(route="transdermal"), medication_body()],
    }

    results = sync(api(patient.user), **batch).json()["results"]

    assert [r["status"] for r in results] == [
        "duplicate",
        "conflict",
        "invalid",
        "invalid",
        "created",
        "invalid",
        "created",
    ]
    assert "errors" not in results[0]
    assert results[2]["errors"].keys() == {"pain_now"}
    assert results[3]["errors"].keys() == {"interference.walking"}
    assert results[5]["errors"].keys() == {"route"}
    assert CHECKINS.model.objects.get(pk=stored["id"]).pain_now == 3
    assert CHECKINS.model.objects.count() == 2
    assert MEDICATIONS.model.objects.count() == 1


def test_items_that_are_not_objects_or_lack_an_id_are_invalid_and_the_rest_is_stored(api, patient):
    good = checkin_body()
    no_id = checkin_body()
    del no_id["id"]

    results = sync(api(patient.user), checkins=["oops", 7, None, no_id, good]).json()["results"]

    assert [r["status"] for r in results] == ["invalid"] * 4 + ["created"]
    assert [r["id"] for r in results] == [None, None, None, None, good["id"]]
    assert "id" in results[3]["errors"]
    assert CHECKINS.model.objects.get().pk == uuid.UUID(good["id"])


@pytest.mark.parametrize(
    "body",
    [[], "sync", {"checkins": "all of them"}, {"boluses": {"id": "x"}}],
    ids=["list", "string", "section-string", "section-object"],
)
def test_a_body_of_the_wrong_shape_is_a_400(api, patient, body):
    response = api(patient.user).post(SYNC, body, format="json")

    assert response.status_code == 400
    assert response.json()["errors"]


def test_an_empty_sync_answers_no_results(api, patient):
    response = api(patient.user).post(SYNC, {}, format="json")

    assert response.status_code == 200
    assert response.json() == {"results": []}


def test_replaying_the_same_batch_20_times_creates_nothing_more(api, patient):
    batch = mixed_batch(3)
    client = api(patient.user)
    first = statuses(sync(client, **batch))
    rows = diary_row_count()

    replies = [statuses(sync(client, **batch)) for _ in range(20)]

    assert {status for *_, status in first} == {"created"}
    for reply in replies:
        assert [(kind, rid) for kind, rid, _ in reply] == [(kind, rid) for kind, rid, _ in first]
        assert {status for *_, status in reply} == {"duplicate"}
    assert diary_row_count() == rows == 12


def test_the_same_id_twice_in_one_batch_is_created_once(api, patient):
    record = checkin_body(pain_now=4)
    changed = {**record, "pain_now": 6}

    results = statuses(sync(api(patient.user), checkins=[record, record, changed]))

    assert [status for *_, status in results] == ["created", "duplicate", "conflict"]
    assert CHECKINS.model.objects.get().pain_now == 4


def test_an_id_shared_by_two_record_types_makes_two_records(api, patient):
    shared = str(uuid.uuid4())

    results = statuses(
        sync(api(patient.user), checkins=[checkin_body(id=shared)], boluses=[bolus_body(id=shared)])
    )

    assert [status for *_, status in results] == ["created", "created"]


def test_a_batch_of_501_records_is_refused_with_413_and_nothing_is_stored(api, patient):
    batch = {"checkins": [checkin_body() for _ in range(300)], "boluses": [bolus_body() for _ in range(201)]}

    response = sync(api(patient.user), **batch)

    assert response.status_code == 413
    assert diary_row_count() == 0


def test_a_batch_of_exactly_500_records_is_accepted(api, patient):
    batch = {
        "checkins": [checkin_body() for _ in range(250)],
        "medications": [medication_body() for _ in range(250)],
    }

    results = statuses(sync(api(patient.user), **batch))

    assert len(results) == 500
    assert diary_row_count() == 500


def test_a_10000_item_batch_is_refused_with_413(api, patient):
    response = sync(api(patient.user), checkins=[{"id": str(uuid.uuid4())} for _ in range(10_000)])

    assert response.status_code == 413
    assert diary_row_count() == 0


def test_a_body_beyond_the_size_limit_is_refused_with_413(api, patient, settings):
    settings.MAX_REQUEST_BODY_BYTES = 10_000
    response = sync(api(patient.user), checkins=[checkin_body(note="x" * 2000) for _ in range(10)])

    assert response.status_code == 413
    assert diary_row_count() == 0


def test_a_caregivers_item_for_a_patient_they_are_not_linked_to_is_invalid_and_the_others_are_stored(
    api, caregiver, patient, other_patient
):
    mine = checkin_body(patient=str(patient.pk))
    unlinked = checkin_body(patient=str(other_patient.pk))
    unnamed = bolus_body()

    results = sync(api(caregiver), checkins=[unlinked, mine], boluses=[unnamed]).json()["results"]

    assert [r["status"] for r in results] == ["invalid", "created", "invalid"]
    assert "patient" in results[0]["errors"]
    assert "patient" in results[2]["errors"]
    assert CHECKINS.model.objects.get().patient == patient
    assert CHECKINS.model.objects.get().reporter_role == "caregiver"
    assert not CHECKINS.model.objects.filter(patient=other_patient).exists()


def test_a_revoked_or_non_reporting_caregivers_items_are_invalid(
    api, revoked_caregiver, mute_caregiver, patient
):
    for user in (revoked_caregiver, mute_caregiver):
        results = sync(api(user), checkins=[checkin_body(patient=str(patient.pk))]).json()["results"]
        assert results[0]["status"] == "invalid"
        assert "patient" in results[0]["errors"]
    assert diary_row_count() == 0


def test_a_patient_syncs_for_themself_whatever_patient_the_items_name(api, patient, other_patient):
    results = statuses(sync(api(patient.user), checkins=[checkin_body(patient=str(other_patient.pk))]))

    assert results[0][2] == "created"
    assert CHECKINS.model.objects.get().patient == patient


def test_a_caregiver_syncs_for_two_linked_patients_in_one_batch(api, caregiver, patient, team):
    second = PatientFactory(care_team=team, display_name="Second")
    CaregiverLinkFactory(patient=second, caregiver=caregiver)

    results = statuses(
        sync(
            api(caregiver),
            checkins=[checkin_body(patient=str(patient.pk)), checkin_body(patient=str(second.pk))],
        )
    )

    assert [status for *_, status in results] == ["created", "created"]
    assert {c.patient_id for c in CHECKINS.model.objects.all()} == {patient.pk, second.pk}


def test_a_late_item_in_a_sync_is_marked_late(api, patient):
    old = checkin_body(recorded_at=(timezone.now() - timedelta(days=3)).isoformat())
    sync(api(patient.user), checkins=[old, checkin_body()])

    assert CHECKINS.model.objects.get(pk=old["id"]).late is True
    assert CHECKINS.model.objects.filter(late=True).count() == 1


def test_sync_errors_are_translated(api, patient):
    response = api(patient.user).post(
        SYNC, {"checkins": [checkin_body(pain_now=7.5)]}, format="json", HTTP_ACCEPT_LANGUAGE="it"
    )

    assert response.json()["results"][0]["errors"]["pain_now"] == ["È richiesto un numero intero."]


# --- Cost ----------------------------------------------------------------------------------


def counted(queries: CaptureQueriesContext) -> int:
    if connection.vendor == "sqlite":
        # SQLite takes at most 999 parameters a statement, so Django splits a bulk insert
        # there; on PostgreSQL (CI, production) every statement counts.
        return len([q for q in queries.captured_queries if not q["sql"].startswith("INSERT")])
    return len(queries)


def sync_queries(client, batch, expected: str = "created") -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.post(SYNC, batch, format="json")
    assert {r["status"] for r in response.json()["results"]} == {expected}
    return counted(queries)


@pytest.mark.parametrize("reporter", ["patient", "caregiver"])
def test_the_sync_query_count_does_not_grow_with_the_batch(api, patient, caregiver, reporter):
    user, fields = (patient.user, {}) if reporter == "patient" else (caregiver, {"patient": str(patient.pk)})
    client = api(user)
    small = sync_queries(
        client, {"checkins": [checkin_body(**fields) for _ in range(10)]} | mixed_batch(1, **fields)
    )
    large = sync_queries(client, mixed_batch(50, **fields))

    assert large == small


# Queries of a full sync of 500 new records across the four types: the user, with a
# patient's own record (1), the patient a caregiver names (1) and their links (1), the savepoint pair of the write (2), the patient's
# change counter (1, an upsert), per type the insert-or-ignore that returns the ids it
# inserted (4, each one pipeline of a statement a row on PostgreSQL; a read back only for a
# type with ids already stored), and the evaluation
# request (1). Written down, so that a constant but bloated count fails too. On SQLite the
# inserts are not counted (sync_queries): its bulk inserts are split by its parameter limit.
SYNC_QUERY_BUDGET = {
    "postgresql": {"patient": 9, "caregiver": 11},
    "sqlite": {"patient": 3, "caregiver": 5},
}


@pytest.mark.parametrize("reporter", ["patient", "caregiver"])
def test_a_sync_of_500_records_across_four_types_stays_within_its_query_budget(
    api, patient, caregiver, reporter
):
    user, fields = (patient.user, {}) if reporter == "patient" else (caregiver, {"patient": str(patient.pk)})

    assert (
        sync_queries(api(user), mixed_batch(125, **fields)) == SYNC_QUERY_BUDGET[connection.vendor][reporter]
    )


def test_a_replayed_batch_costs_one_read_per_record_type_more_than_the_first_sync(api, patient):
    client = api(patient.user)
    batch = mixed_batch(25)
    first = sync_queries(client, batch)

    # The stored fingerprints of each type are read back (4); nothing is announced, so no
    # evaluation request is written (1 fewer on PostgreSQL, where inserts are counted).
    replay = sync_queries(client, batch, expected="duplicate")
    assert replay == first + 4 - (connection.vendor == "postgresql")


# --- The announcement to the alerts app ----------------------------------------------------


@pytest.fixture
def announcements():
    """Every `patients_changed` sent, as the sets of patient ids it carried."""
    received: list[frozenset] = []

    def receiver(sender, patient_ids, **kwargs):
        received.append(frozenset(patient_ids))

    patients_changed.connect(receiver, weak=False)
    yield received
    patients_changed.disconnect(receiver)


def test_a_sync_announces_each_changed_patient_once_after_commit(
    api, caregiver, patient, team, announcements, django_capture_on_commit_callbacks
):
    second = PatientFactory(care_team=team, display_name="Second")
    CaregiverLinkFactory(patient=second, caregiver=caregiver)
    batch = mixed_batch(5, patient=str(patient.pk))
    batch["checkins"] += [checkin_body(patient=str(second.pk)) for _ in range(3)]

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        sync(api(caregiver), **batch)
        assert announcements == []  # nothing before the commit
    for callback in callbacks:
        callback()

    announced = [pid for ids in announcements for pid in ids]
    assert sorted(announced) == sorted([patient.pk, second.pk])


def test_a_replayed_sync_announces_nothing(api, patient, announcements, django_capture_on_commit_callbacks):
    batch = mixed_batch(2)
    sync(api(patient.user), **batch)

    with django_capture_on_commit_callbacks(execute=True):
        sync(api(patient.user), **batch)

    assert announcements == []


def test_single_writes_announce_the_patient_once_each(
    api, patient, announcements, django_capture_on_commit_callbacks
):
    client = api(patient.user)
    with django_capture_on_commit_callbacks(execute=True):
        record = client.post(CHECKINS.url(), checkin_body(), format="json").json()
    with django_capture_on_commit_callbacks(execute=True):
        client.patch(CHECKINS.url(record["id"]), {"pain_now": 2}, format="json")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(CHECKINS.url(record["id"], "retract"), {"reason": "x"}, format="json")

    assert announcements == [frozenset({patient.pk})] * 3


def test_an_all_invalid_sync_announces_nothing(
    api, patient, announcements, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        sync(api(patient.user), checkins=[checkin_body(pain_now=99)])

    assert announcements == []


# --- Properties ----------------------------------------------------------------------------


@st.composite
def valid_records(draw) -> tuple[str, dict]:
    """One valid record of any type, observed in the last 50 days."""
    record_type = draw(st.sampled_from(RECORD_TYPES))
    score = draw(st.integers(0, 10))
    fields = {
        "checkin": {"pain_now": score},
        "adverse_effect": {"grade": min(score, 4)},
        "bolus": {"pain_before": score},
        "medication": {"dose": score + 1},
    }[record_type.kind]
    observed = timezone.now() - timedelta(minutes=draw(st.integers(1, 60 * 24 * 50)))
    body = record_type.body(
        id=str(draw(st.uuids())), **{record_type.observed: observed.isoformat()}, **fields
    )
    return record_type.kind, body


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    records=st.lists(valid_records(), min_size=1, max_size=12, unique_by=lambda r: (r[0], r[1]["id"])),
    data=st.data(),
)
def test_any_order_split_and_retries_of_valid_records_leave_exactly_one_row_per_id(
    api, patient, records, data
):
    clear_diary()
    client = api(patient.user)
    # Each record sent at least once, some several times, in any order, in any batches.
    sends = [item for item in records for _ in range(data.draw(st.integers(1, 3)))]
    sends = data.draw(st.permutations(sends))
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(sends) - 1)), max_size=4)))
    batches = [sends[a:b] for a, b in zip([0, *cuts], [*cuts, len(sends)], strict=True)]

    seen: set[tuple[str, str]] = set()
    for batch in batches:
        body: dict[str, list] = {}
        for kind, item in batch:
            body.setdefault(BY_KIND[kind].section, []).append(item)
        for kind, rid, status in statuses(client.post(SYNC, body, format="json")):
            assert status == ("duplicate" if (kind, rid) in seen else "created")
            seen.add((kind, rid))

    for record_type in RECORD_TYPES:
        sent = {item["id"]: item for kind, item in records if kind == record_type.kind}
        stored = {str(r.pk): r for r in record_type.model.objects.all()}
        assert stored.keys() == sent.keys()
        for rid, item in sent.items():
            observed = getattr(stored[rid], record_type.observed)
            assert observed.isoformat() == datetime.fromisoformat(item[record_type.observed]).isoformat()
            assert stored[rid].local_date == observed.astimezone(patient.zone).date()
        if record_type is CHECKINS:
            assert {rid: r.pain_now for rid, r in stored.items()} == {
                rid: item["pain_now"] for rid, item in sent.items()
            }


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)

# Where a 0-10 score sits in each record type, and whether it may be left empty (null).
SCORE_SLOTS = [
    ("checkin", lambda v: checkin_body(pain_now=v), False),
    ("checkin", lambda v: checkin_body(pain_worst=v), True),
    ("checkin", lambda v: checkin_body(pain_average=v), True),
    ("checkin", lambda v: checkin_body(interference={"walking": v}), True),
    ("checkin", lambda v: checkin_body(symptoms={"nausea": v}), True),
    ("bolus", lambda v: bolus_body(pain_after=v), True),
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(slot=st.sampled_from(SCORE_SLOTS), value=JSON_VALUES | st.integers(-3, 13))
def test_any_json_value_for_a_score_is_either_an_integer_0_to_10_or_a_clear_400(api, patient, slot, value):
    kind, make, nullable = slot
    clear_diary()

    response = api(patient.user).post(BY_KIND[kind].url(), make(value), format="json")

    is_score = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10
    if is_score or (nullable and value is None):
        assert response.status_code == 201, response.content
    else:
        assert response.status_code == 400, response.content
        assert response.json()["errors"]
        assert diary_row_count() == 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=JSON_VALUES)
def test_any_json_value_for_an_adverse_effect_grade_is_either_0_to_4_or_a_400(api, patient, value):
    clear_diary()

    response = api(patient.user).post(ADVERSE_EFFECTS.url(), adverse_effect_body(grade=value), format="json")

    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 4
    assert response.status_code == (201 if ok else 400), response.content


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    item=JSON_VALUES
    | st.dictionaries(
        st.sampled_from(["id", "recorded_at", "pain_now", "patient", "symptoms", "timezone"]), JSON_VALUES
    )
)
def test_any_json_item_in_a_sync_gets_an_answer_and_never_a_500(api, patient, item):
    response = api(patient.user).post(SYNC, {"checkins": [item], "boluses": [item]}, format="json")

    assert response.status_code == 200
    assert [r["status"] for r in response.json()["results"]] == ["invalid", "invalid"]


# --- Concurrency ---------------------------------------------------------------------------

SQLITE_LOCAL = connection.vendor == "sqlite" and not IN_CI


@pytest.mark.skipif(
    SQLITE_LOCAL,
    reason="concurrent writers on SQLite hit 'database is locked'; runs on PostgreSQL in CI",
)
@pytest.mark.django_db(transaction=True)
def test_four_phones_sending_the_same_batch_at_once_create_each_record_exactly_once():
    owner = PatientFactory(user__username="concurrent-rosa", user__role=Role.PATIENT)
    batch = mixed_batch(25)
    threads_count = 4
    barrier = threading.Barrier(threads_count)
    outcomes: list[list[tuple[str, str, str]]] = []
    failures: list[BaseException] = []

    def phone(seed: int) -> None:
        try:
            # Each phone has its own order: same records, shuffled sections' items.
            shuffled = {
                section: random.Random(seed).sample(  # noqa: S311 - a shuffle, not a secret
                    items, len(items)
                )
                for section, items in batch.items()
            }
            client = client_for(owner.user)
            barrier.wait(timeout=30)
            response = client.post(SYNC, shuffled, format="json")
            outcomes.append(statuses(response))
        except BaseException as exc:  # reported in the main thread
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=phone, args=(seed,)) for seed in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not failures, failures
    assert len(outcomes) == threads_count
    created = [(kind, rid) for outcome in outcomes for kind, rid, status in outcome if status == "created"]
    assert sorted(created) == sorted(expected_order(batch))
    assert {status for outcome in outcomes for *_, status in outcome} <= {"created", "duplicate"}
    for record_type in RECORD_TYPES:
        assert record_type.model.objects.filter(patient=owner).count() == 25


def test_a_batch_naming_a_stranger_many_times_looks_them_up_once(api, caregiver, other_patient):
    stranger = {"patient": str(other_patient.pk)}
    with CaptureQueriesContext(connection) as queries:
        response = api(caregiver).post(SYNC, mixed_batch(25, **stranger), format="json")

    assert {r["status"] for r in response.json()["results"]} == {"invalid"}
    assert len(queries) <= 4  # the user, the patients named, the links; nothing per item
