"""GET sync/changes/: a second phone (or a new one) pulls the diary and never misses a record.

Personas (tests/conftest.py): `patient` (Rosa) pulls her own diary, including what her
`caregiver` (Marco) logged; `blind_caregiver` reports without seeing the diary (403);
`other_patient` and `other_team_clinician` may not know Rosa exists (404); `clinician`
of Rosa's team reads it, and the read is audited.
"""

from __future__ import annotations

import random
import threading
import time

import pytest
from django.db import connection, connections

from care.models import AccessEvent, Role
from tests.conftest import client_for, needs_service
from tests.diary_helpers import ADVERSE_EFFECTS, CHECKINS, RECORD_TYPES, checkin_body
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

CHANGES = "/api/v1/sync/changes/"
SYNC = "/api/v1/sync/"


def pull(client, **query):
    response = client.get(CHANGES, query)
    assert response.status_code == 200, response.content
    return response.json()


def ids_in(answer) -> set[str]:
    return {record["id"] for records in answer["changes"].values() for record in records}


def mixed(count_each: int, **fields) -> dict[str, list[dict]]:
    return {t.section: [t.body(**fields) for _ in range(count_each)] for t in RECORD_TYPES}


def test_a_new_phone_gets_the_whole_diary_then_only_what_changed(api, patient):
    phone = api(patient.user)
    batch = mixed(2)
    phone.post(SYNC, batch, format="json")

    first = pull(phone)
    assert {section: len(records) for section, records in first["changes"].items()} == {
        "checkins": 2,
        "adverse_effects": 2,
        "boluses": 2,
        "medications": 2,
    }
    assert first["has_more"] is False
    assert pull(phone, since=first["checkpoint"])["changes"]["checkins"] == []

    later = checkin_body(pain_now=9)
    phone.post(CHECKINS.path, later, format="json")
    second = pull(phone, since=first["checkpoint"])

    assert ids_in(second) == {later["id"]}
    assert second["changes"]["checkins"][0]["pain_now"] == 9


def test_corrections_and_retractions_come_once_in_their_latest_state(api, patient):
    phone = api(patient.user)
    checkin, effect = checkin_body(pain_now=3), ADVERSE_EFFECTS.body()
    phone.post(SYNC, {"checkins": [checkin], "adverse_effects": [effect]}, format="json")
    checkpoint = pull(phone)["checkpoint"]

    phone.patch(CHECKINS.url(checkin["id"]), {"pain_now": 4}, format="json")
    phone.patch(CHECKINS.url(checkin["id"]), {"pain_now": 6}, format="json")
    phone.post(ADVERSE_EFFECTS.url(effect["id"], "retract"), {"reason": "wrong day"}, format="json")
    answer = pull(phone, since=checkpoint)

    [corrected] = answer["changes"]["checkins"]
    [retracted] = answer["changes"]["adverse_effects"]
    assert (corrected["id"], corrected["pain_now"], corrected["status"]) == (checkin["id"], 6, "active")
    assert (retracted["id"], retracted["status"]) == (effect["id"], "entered_in_error")


def test_a_caregivers_entry_reaches_the_patients_phone(api, patient, caregiver):
    checkpoint = pull(api(patient.user))["checkpoint"]
    entry = checkin_body(patient=str(patient.pk), pain_now=7)
    api(caregiver).post(SYNC, {"checkins": [entry]}, format="json")

    [record] = pull(api(patient.user), since=checkpoint)["changes"]["checkins"]

    assert (record["id"], record["reporter_role"]) == (entry["id"], "caregiver")


def test_pages_hold_at_most_500_records_across_types_and_walk_everything(api, patient):
    phone = api(patient.user)
    sent = set()
    for _ in range(3):
        batch = mixed(100)  # 400 records a sync, 1,200 in all
        phone.post(SYNC, batch, format="json")
        sent |= {item["id"] for items in batch.values() for item in items}

    pages, seen, checkpoint = [], [], None
    while True:
        answer = pull(phone, **({"since": checkpoint} if checkpoint else {}))
        pages.append(len(ids_in(answer)))
        seen += [r["id"] for records in answer["changes"].values() for r in records]
        checkpoint = answer["checkpoint"]
        if not answer["has_more"]:
            break

    assert pages == [500, 500, 200]
    assert len(seen) == len(set(seen)) == 1200
    assert set(seen) == sent


def test_a_pull_costs_a_fixed_number_of_queries(api, patient, caregiver, django_assert_num_queries):
    api(patient.user).post(SYNC, mixed(30), format="json")
    client = api(caregiver)

    # user, patient, caregiver link, counter, four record types, the audit row.
    with django_assert_num_queries(9):
        answer = client.get(CHANGES, {"patient": patient.pk})

    assert len(ids_in(answer.json())) == 120


@pytest.mark.parametrize("since", ["", "not-a-checkpoint", "WzEsMl0:1abc:forged"])
def test_a_malformed_checkpoint_is_a_400(api, patient, since):
    response = api(patient.user).get(CHANGES, {"since": since or "x"})

    assert response.status_code == 400
    assert "since" in response.json()["errors"]


def test_another_patients_checkpoint_is_a_400(api, patient, other_patient, clinician):
    theirs = pull(api(other_patient.user))["checkpoint"]

    response = api(clinician).get(CHANGES, {"patient": patient.pk, "since": theirs})

    assert response.status_code == 400


def test_who_may_pull(api, patient, blind_caregiver, other_patient, other_team_clinician):
    assert api(blind_caregiver).get(CHANGES, {"patient": patient.pk}).status_code == 403
    assert api(other_patient.user).get(CHANGES, {"patient": patient.pk}).status_code == 404
    assert api(other_team_clinician).get(CHANGES, {"patient": patient.pk}).status_code == 404
    assert api(other_team_clinician).get(CHANGES, {"patient": "not-a-uuid"}).status_code == 404
    # A caregiver or a clinician must say whose diary.
    assert api(blind_caregiver).get(CHANGES).status_code == 400


def test_a_clinicians_pull_is_audited_the_patients_own_is_not(api, patient, clinician):
    api(patient.user).post(SYNC, mixed(1), format="json")

    pull(api(patient.user))
    pull(api(clinician), patient=patient.pk)

    [event] = AccessEvent.objects.filter(path=CHANGES)
    assert (event.actor, event.patient_ids) == (clinician, [str(patient.pk)])


# --- Concurrency ---------------------------------------------------------------------------


@needs_service("PostgreSQL", connection.vendor == "postgresql")
@pytest.mark.django_db(transaction=True)
def test_a_reader_walking_checkpoints_misses_nothing_while_phones_write_at_once():
    """Four writers (syncs, single posts, corrections, retractions) race one reader that
    keeps pulling. Whatever order their transactions commit in, the reader's copy ends
    equal to the server's: every record, each in its latest version."""
    owner = PatientFactory(user__username="busy-rosa", user__role=Role.PATIENT)
    writers, rounds = 4, 15
    done = threading.Event()
    failures: list[BaseException] = []
    local: dict[str, tuple[int, str]] = {}
    checkpoint: list[str | None] = [None]

    def walk(client) -> None:
        while True:
            query = {"since": checkpoint[0]} if checkpoint[0] else {}
            answer = client.get(CHANGES, query).json()
            for records in answer["changes"].values():
                for record in records:
                    local[record["id"]] = (record["version"], record["status"])
            checkpoint[0] = answer["checkpoint"]
            if not answer["has_more"]:
                return

    def writer(seed: int) -> None:
        rng = random.Random(seed)  # noqa: S311 - a schedule of writes, not a secret
        client = client_for(owner.user)
        try:
            mine: list[str] = []
            for _ in range(rounds):
                batch = mixed(rng.randint(1, 3))
                client.post(SYNC, batch, format="json")
                mine += [item["id"] for item in batch["checkins"]]
                single = checkin_body()
                client.post(CHECKINS.path, single, format="json")
                mine.append(single["id"])
                target = rng.choice(mine)
                if rng.random() < 0.3:
                    client.post(CHECKINS.url(target, "retract"), {"reason": "race"}, format="json")
                else:
                    client.patch(CHECKINS.url(target), {"pain_now": rng.randint(0, 10)}, format="json")
        except BaseException as exc:
            failures.append(exc)
        finally:
            connections.close_all()

    def reader() -> None:
        client = client_for(owner.user)
        try:
            while not done.is_set():
                walk(client)
                time.sleep(0.005)
        except BaseException as exc:
            failures.append(exc)
        finally:
            connections.close_all()

    read = threading.Thread(target=reader)
    read.start()
    threads = [threading.Thread(target=writer, args=(seed,)) for seed in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    done.set()
    read.join(timeout=60)
    # One last walk from the reader's checkpoint: it must bring everything still missing,
    # so a skipped record (one never to come again) fails here.
    walk(client_for(owner.user))

    assert not failures, failures
    server = {
        str(pk): (version, status)
        for t in RECORD_TYPES
        for pk, version, status in t.model.objects.filter(patient=owner).values_list(
            "id", "version", "status"
        )
    }
    assert len(server) > writers * rounds * 4
    assert local == server
