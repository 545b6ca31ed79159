"""The four diary record types through the API, as the phone apps and the clinic use them.

Personas (tests/conftest.py): `patient` (Rosa) writes and reads her own diary only;
`other_patient` (Bruno) is in the same team and must never see Rosa's records;
`caregiver` reports and reads for Rosa; `blind_caregiver` reports for her but may not read;
`mute_caregiver` (below) reads but may not report; `revoked_caregiver` sees nothing;
`clinician` reads every patient of the team; `other_team_clinician` sees none of them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from diary.models import RecordRevision
from tests.diary_helpers import (
    ADVERSE_EFFECTS,
    BOLUSES,
    CHECKINS,
    MEDICATIONS,
    RECORD_TYPES,
    checkin_body,
    diary_row_count,
)
from tests.factories import CaregiverLinkFactory

pytestmark = pytest.mark.django_db

ROME = ZoneInfo("Europe/Rome")
ALL_TYPES = pytest.mark.parametrize("record_type", RECORD_TYPES, ids=lambda t: t.kind)


@pytest.fixture
def mute_caregiver(patient):
    """Linked to `patient` to read only (can_report false)."""
    return CaregiverLinkFactory(patient=patient, caregiver__username="gianni", can_report=False).caregiver


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Personas get hashed passwords; these tests never log in with one.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def same(a, b) -> bool:
    """Equal values, numbers compared as decimals (doses come back as JSON numbers)."""
    if isinstance(a, int | float | str) and isinstance(b, int | float) and not isinstance(b, bool):
        return Decimal(str(a)) == Decimal(str(b))
    return a == b


def post(client, record_type, body, **headers):
    return client.post(record_type.url(), body, format="json", **headers)


def create(api, user, record_type, **fields):
    body = record_type.body(**fields)
    response = post(api(user), record_type, body)
    assert response.status_code == 201, response.json()
    return response.json()


def at_local(day, hour: int = 12, minute: int = 0, zone=ROME) -> str:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone).isoformat()


# --- Create --------------------------------------------------------------------------------


@ALL_TYPES
def test_a_patient_records_each_type_and_gets_every_server_field_back(api, patient, record_type):
    body = record_type.body()
    response = post(api(patient.user), record_type, body)

    assert response.status_code == 201
    data = response.json()
    assert data["id"] == body["id"]
    assert data["patient"] == str(patient.pk)
    assert data["reported_by"] == str(patient.user.pk)
    assert data["reporter_role"] == "patient"
    observed = datetime.fromisoformat(body[record_type.observed])
    assert data["local_date"] == observed.astimezone(ROME).date().isoformat()
    assert datetime.fromisoformat(data["created_at"]) >= observed
    assert data["status"] == "active"
    assert datetime.fromisoformat(data[record_type.observed]) == observed
    assert record_type.model.objects.filter(pk=body["id"], patient=patient).count() == 1


@ALL_TYPES
def test_the_moment_observed_reads_back_as_the_phone_showed_it(api, patient, record_type):
    local = (timezone.now() - timedelta(hours=3)).astimezone(ROME).replace(microsecond=0)
    data = create(api, patient.user, record_type, **{record_type.observed: local.isoformat()})

    assert data[record_type.observed] == local.isoformat()
    assert (
        api(patient.user).get(record_type.url(data["id"])).json()[record_type.observed] == local.isoformat()
    )


def test_a_checkin_stores_every_answer_the_patient_gave(api, patient):
    body = checkin_body(
        pain_now=4,
        pain_worst=7,
        pain_least=2,
        pain_average=5,
        interference={"walking": 6, "sleep": 4, "mood": 5, "work": 7},
        neuropathic=["tingling", "burning"],
        pain_sites=["lower_back"],
        breakthrough_episodes=3,
        symptoms={"nausea": 2, "tiredness": 6},
        wants_fewer_medications=True,
        note="Bad night.",
    )
    data = post(api(patient.user), CHECKINS, body).json()

    for name in ("pain_worst", "pain_least", "pain_average", "pain_sites", "breakthrough_episodes", "note"):
        assert data[name] == body[name]
    assert data["interference"] == body["interference"]
    assert data["interference_mean"] == 5.5
    assert sorted(data["neuropathic"]) == ["burning", "tingling"]
    assert data["symptoms"] == {"nausea": 2, "tiredness": 6}
    assert data["wants_fewer_medications"] is True
    assert data["safety_message"] is None


def test_a_medication_dose_comes_back_with_its_oral_morphine_equivalent(api, patient):
    data = create(api, patient.user, MEDICATIONS, drug="oxycodone", dose=10, unit="mg", route="oral")

    assert Decimal(str(data["mme"])) == Decimal("15")
    assert data["mme_note"] == ""


def test_a_methadone_dose_is_stored_without_a_morphine_equivalent_and_says_why(api, patient):
    data = create(api, patient.user, MEDICATIONS, drug="methadone", dose=10, unit="mg", route="oral")

    assert data["mme"] is None
    assert "Methadone" in data["mme_note"]


def test_the_reason_a_dose_has_no_morphine_equivalent_speaks_the_readers_language(api, patient, clinician):
    data = post(
        api(patient.user),
        MEDICATIONS,
        MEDICATIONS.body(drug="methadone", dose=10, unit="mg", route="oral"),
        HTTP_ACCEPT_LANGUAGE="it",
    ).json()
    assert "metadone" in data["mme_note"]

    english = api(clinician).get(MEDICATIONS.url(data["id"])).json()
    italian = api(clinician).get(MEDICATIONS.url(data["id"]), HTTP_ACCEPT_LANGUAGE="it").json()

    assert english["mme_note"].startswith("Methadone")
    assert "metadone" in italian["mme_note"]


def test_a_clinician_reports_for_a_patient_of_their_team_as_a_clinician(api, clinician, patient):
    data = create(api, clinician, CHECKINS, patient=str(patient.pk))

    assert data["patient"] == str(patient.pk)
    assert data["reporter_role"] == "clinician"


def test_a_record_without_a_patient_from_a_caregiver_is_refused_and_names_the_field(api, caregiver):
    response = post(api(caregiver), CHECKINS, checkin_body())

    assert response.status_code == 400
    assert "patient" in response.json()["errors"]
    assert diary_row_count() == 0


# --- List and read -------------------------------------------------------------------------


@ALL_TYPES
def test_lists_include_retracted_records_with_their_status_unless_asked_for_active_ones(
    api, patient, record_type
):
    client = api(patient.user)
    kept = create(api, patient.user, record_type)
    wrong = create(api, patient.user, record_type)
    client.post(record_type.url(wrong["id"], "retract"), {"reason": "typo"}, format="json")

    listed = client.get(record_type.url()).json()
    active = client.get(record_type.url(), {"status": "active"}).json()

    assert {r["id"]: r["status"] for r in listed["results"]} == {
        kept["id"]: "active",
        wrong["id"]: "entered_in_error",
    }
    assert [r["id"] for r in active["results"]] == [kept["id"]]
    assert set(listed) >= {"next", "previous", "results"}


@ALL_TYPES
def test_lists_filter_on_the_patients_local_dates(api, patient, record_type):
    today = timezone.now().astimezone(ROME).date()
    days = [today - timedelta(days=n) for n in (5, 3, 1)]
    # 00:30 in Rome is the previous day in UTC: the filter must use the local date.
    ids = [
        create(api, patient.user, record_type, **{record_type.observed: at_local(d, 0, 30)})["id"]
        for d in days
    ]

    response = api(patient.user).get(
        record_type.url(), {"from": days[1].isoformat(), "to": days[1].isoformat()}
    )
    assert [r["id"] for r in response.json()["results"]] == [ids[1]]
    response = api(patient.user).get(record_type.url(), {"from": days[1].isoformat()})
    assert {r["id"] for r in response.json()["results"]} == {ids[1], ids[2]}
    response = api(patient.user).get(record_type.url(), {"to": days[1].isoformat()})
    assert {r["id"] for r in response.json()["results"]} == {ids[0], ids[1]}


@ALL_TYPES
def test_a_clinician_lists_one_patients_records_with_the_patient_filter(
    api, clinician, patient, other_patient, record_type
):
    rosa = create(api, patient.user, record_type)
    bruno = create(api, other_patient.user, record_type)

    everyone = api(clinician).get(record_type.url()).json()["results"]
    rosa_only = api(clinician).get(record_type.url(), {"patient": str(patient.pk)}).json()["results"]

    assert {r["id"] for r in everyone} == {rosa["id"], bruno["id"]}
    assert [r["id"] for r in rosa_only] == [rosa["id"]]


@ALL_TYPES
def test_a_patient_lists_and_reads_only_their_own_records(api, patient, other_patient, record_type):
    mine = create(api, patient.user, record_type)
    theirs = create(api, other_patient.user, record_type)
    client = api(patient.user)

    assert [r["id"] for r in client.get(record_type.url()).json()["results"]] == [mine["id"]]
    assert client.get(record_type.url(), {"patient": str(other_patient.pk)}).status_code == 404
    assert client.get(record_type.url(mine["id"])).json()["id"] == mine["id"]
    assert client.get(record_type.url(theirs["id"])).status_code == 404


@pytest.mark.parametrize(
    "record_id", ["not-a-uuid", "12345", "00000000-0000-0000-0000-00000000000g", "a.b", ".env"]
)
def test_a_malformed_record_id_in_the_address_is_not_found(api, patient, record_id):
    client = api(patient.user)

    assert client.get(CHECKINS.url(record_id)).status_code == 404
    assert client.get(CHECKINS.url(record_id)).json() == {"detail": "Not found."}
    assert client.patch(CHECKINS.url(record_id), {"pain_now": 1}, format="json").status_code == 404
    assert client.post(CHECKINS.url(record_id, "retract"), {"reason": "x"}, format="json").status_code == 404


def test_a_list_with_a_malformed_filter_answers_400(api, patient):
    client = api(patient.user)
    assert client.get(CHECKINS.url(), {"patient": "not-a-uuid"}).status_code == 400
    assert client.get(CHECKINS.url(), {"from": "yesterday"}).status_code == 400
    assert client.get(CHECKINS.url(), {"status": "deleted"}).status_code == 400


# --- Correct and retract -------------------------------------------------------------------


@ALL_TYPES
def test_a_correction_keeps_the_previous_values_with_who_and_when(api, patient, caregiver, record_type):
    original = create(api, patient.user, record_type)
    field, value = record_type.change

    response = api(caregiver).patch(record_type.url(original["id"]), {field: value}, format="json")

    assert response.status_code == 200
    data = response.json()
    assert same(data[field], value)
    assert data["version"] == 2
    # The values are the caregiver's now: a proxy rating, flagged as one (SPEC).
    assert (data["reported_by"], data["reporter_role"]) == (str(caregiver.pk), "caregiver")
    [revision] = RecordRevision.objects.filter(record_id=original["id"])
    assert (revision.previous["reported_by"], revision.previous["reporter_role"]) == (
        str(patient.user.pk),
        "patient",
    )
    assert revision.change == "corrected"
    assert revision.version == 1
    assert revision.changed_by == caregiver
    assert abs(revision.changed_at - timezone.now()) < timedelta(minutes=1)
    assert same(revision.previous[field], original[field])
    stored = api(patient.user).get(record_type.url(original["id"])).json()
    assert stored["version"] == 2


def test_each_correction_adds_a_revision_and_the_version_counts_them(api, patient):
    record = create(api, patient.user, CHECKINS, pain_now=3)
    client = api(patient.user)
    client.patch(CHECKINS.url(record["id"]), {"pain_now": 4}, format="json")
    data = client.patch(CHECKINS.url(record["id"]), {"pain_now": 6}, format="json").json()

    assert data["version"] == 3
    revisions = RecordRevision.objects.filter(record_id=record["id"]).order_by("version")
    assert [(r.version, r.previous["pain_now"]) for r in revisions] == [(1, 3), (2, 4)]


@ALL_TYPES
def test_correcting_the_time_moves_the_record_to_the_new_local_date(api, patient, record_type):
    today = timezone.now().astimezone(ROME).date()
    record = create(
        api, patient.user, record_type, **{record_type.observed: at_local(today - timedelta(days=2))}
    )

    moved = at_local(today - timedelta(days=4), 0, 15)
    response = api(patient.user).patch(
        record_type.url(record["id"]), {record_type.observed: moved}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["local_date"] == (today - timedelta(days=4)).isoformat()


def test_a_correction_is_validated_like_a_new_record(api, patient):
    record = create(api, patient.user, CHECKINS, pain_now=3)
    response = api(patient.user).patch(CHECKINS.url(record["id"]), {"pain_now": 12}, format="json")

    assert response.status_code == 400
    assert "pain_now" in response.json()["errors"]
    assert api(patient.user).get(CHECKINS.url(record["id"])).json()["pain_now"] == 3
    assert not RecordRevision.objects.exists()


def test_a_correction_cannot_change_server_set_fields(api, patient, other_patient):
    record = create(api, patient.user, CHECKINS)
    response = api(patient.user).patch(
        CHECKINS.url(record["id"]),
        {"patient": str(other_patient.pk), "reporter_role": "clinician", "status": "entered_in_error"},
        format="json",
    )

    assert response.status_code == 200
    data = response.json()
    assert (data["patient"], data["reporter_role"], data["status"]) == (str(patient.pk), "patient", "active")


@ALL_TYPES
def test_retracting_marks_the_record_entered_in_error_with_its_reason(api, patient, record_type):
    record = create(api, patient.user, record_type)

    response = api(patient.user).post(
        record_type.url(record["id"], "retract"), {"reason": "Logged twice"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["status"] == "entered_in_error"
    assert response.json()["retracted_reason"] == "Logged twice"
    [revision] = RecordRevision.objects.filter(record_id=record["id"])
    assert (revision.change, revision.reason, revision.changed_by) == (
        "retracted",
        "Logged twice",
        patient.user,
    )
    assert revision.previous["status"] == "active"


def test_retracting_twice_keeps_the_first_reason_and_adds_no_history(api, patient):
    record = create(api, patient.user, CHECKINS)
    client = api(patient.user)
    client.post(CHECKINS.url(record["id"], "retract"), {"reason": "first"}, format="json")

    again = client.post(CHECKINS.url(record["id"], "retract"), {"reason": "second"}, format="json")

    assert again.status_code == 200
    assert (again.json()["retracted_reason"], again.json()["version"]) == ("first", 2)
    assert RecordRevision.objects.filter(record_id=record["id"]).count() == 1


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": None}], ids=["missing", "blank", "null"])
def test_retracting_needs_a_reason(api, patient, body):
    record = create(api, patient.user, CHECKINS)

    response = api(patient.user).post(CHECKINS.url(record["id"], "retract"), body, format="json")

    assert response.status_code == 400
    assert "reason" in response.json()["errors"]
    assert api(patient.user).get(CHECKINS.url(record["id"])).json()["status"] == "active"


def test_a_retracted_record_can_no_longer_be_corrected(api, patient):
    record = create(api, patient.user, CHECKINS, pain_now=3)
    client = api(patient.user)
    client.post(CHECKINS.url(record["id"], "retract"), {"reason": "wrong day"}, format="json")

    response = client.patch(CHECKINS.url(record["id"]), {"pain_now": 4}, format="json")

    assert response.status_code == 400
    assert client.get(CHECKINS.url(record["id"])).json()["pain_now"] == 3


# --- Idempotency ---------------------------------------------------------------------------


@ALL_TYPES
def test_sending_the_same_record_again_answers_200_with_the_stored_record_and_adds_nothing(
    api, patient, record_type
):
    body = record_type.body()
    first = post(api(patient.user), record_type, body)

    again = post(api(patient.user), record_type, body)

    assert again.status_code == 200
    assert again.json() == first.json()
    assert record_type.model.objects.count() == 1


def test_a_retry_in_another_utc_offset_of_the_same_moment_is_the_same_record(api, patient):
    moment = timezone.now() - timedelta(hours=2)
    body = checkin_body(recorded_at=moment.astimezone(ROME).isoformat())
    post(api(patient.user), CHECKINS, body)

    again = post(
        api(patient.user), CHECKINS, {**body, "recorded_at": moment.astimezone(ZoneInfo("UTC")).isoformat()}
    )

    assert again.status_code == 200


@ALL_TYPES
def test_the_same_id_with_other_content_answers_409_and_changes_nothing(api, patient, record_type):
    body = record_type.body()
    first = post(api(patient.user), record_type, body).json()
    field, value = record_type.change

    response = post(api(patient.user), record_type, {**body, field: value})

    assert response.status_code == 409
    assert "detail" in response.json()
    assert api(patient.user).get(record_type.url(body["id"])).json() == first
    assert record_type.model.objects.count() == 1


def test_an_id_used_by_another_patient_is_a_conflict_and_reveals_nothing(api, patient, other_patient):
    body = checkin_body(note="Bruno's private note")
    post(api(other_patient.user), CHECKINS, body)

    response = post(api(patient.user), CHECKINS, body)

    assert response.status_code == 409
    assert "Bruno" not in response.content.decode()


@ALL_TYPES
def test_server_set_fields_in_the_body_are_ignored(api, patient, other_patient, clinician, record_type):
    body = record_type.body(
        patient=str(other_patient.pk),
        reported_by=str(clinician.pk),
        reporter_role="clinician",
        created_at="2001-01-01T00:00:00+00:00",
        local_date="2001-01-01",
        status="entered_in_error",
        late=True,
        version=7,
        mme=999,
        mme_note="made up",
    )

    response = post(api(patient.user), record_type, body)

    assert response.status_code == 201
    data = response.json()
    assert data["patient"] == str(patient.pk)
    assert data["reported_by"] == str(patient.user.pk)
    assert data["reporter_role"] == "patient"
    assert data["created_at"] > "2001-01-02"
    assert data["local_date"] != "2001-01-01"
    assert (data["status"], data["late"], data["version"]) == ("active", False, 1)
    if record_type is MEDICATIONS:
        assert Decimal(str(data["mme"])) == Decimal("15")
        assert data["mme_note"] == ""
    assert not record_type.model.objects.filter(patient=other_patient).exists()


def test_unknown_fields_are_ignored(api, patient):
    response = post(api(patient.user), CHECKINS, checkin_body(mood_emoji="sad", extra={"a": 1}))

    assert response.status_code == 201
    assert "mood_emoji" not in response.json()


# --- Caregivers and other people's records -------------------------------------------------


@ALL_TYPES
def test_a_caregiver_reports_for_their_linked_patient_as_a_caregiver(api, caregiver, patient, record_type):
    data = create(api, caregiver, record_type, patient=str(patient.pk))

    assert data["patient"] == str(patient.pk)
    assert data["reported_by"] == str(caregiver.pk)
    assert data["reporter_role"] == "caregiver"


def test_a_caregiver_naming_a_patient_they_are_not_linked_to_gets_404(api, caregiver, other_patient):
    response = post(api(caregiver), CHECKINS, checkin_body(patient=str(other_patient.pk)))

    assert response.status_code == 404
    assert diary_row_count() == 0


def test_a_revoked_caregiver_gets_404_on_every_diary_endpoint_of_the_patient(api, revoked_caregiver, patient):
    record = create(api, patient.user, CHECKINS)
    client = api(revoked_caregiver)

    assert post(client, CHECKINS, checkin_body(patient=str(patient.pk))).status_code == 404
    assert client.get(CHECKINS.url(), {"patient": str(patient.pk)}).status_code == 404
    assert client.get(CHECKINS.url()).json()["results"] == []
    assert client.get(CHECKINS.url(record["id"])).status_code == 404
    assert client.patch(CHECKINS.url(record["id"]), {"pain_now": 1}, format="json").status_code == 404
    assert (
        client.post(CHECKINS.url(record["id"], "retract"), {"reason": "x"}, format="json").status_code == 404
    )
    assert diary_row_count() == 1


@ALL_TYPES
def test_a_caregiver_without_reporting_rights_gets_403_on_writes(api, mute_caregiver, patient, record_type):
    record = create(api, patient.user, record_type)
    client = api(mute_caregiver)
    field, value = record_type.change

    assert post(client, record_type, record_type.body(patient=str(patient.pk))).status_code == 403
    assert client.patch(record_type.url(record["id"]), {field: value}, format="json").status_code == 403
    retract = client.post(record_type.url(record["id"], "retract"), {"reason": "x"}, format="json")
    assert retract.status_code == 403
    assert record_type.model.objects.get().version == 1
    # Reading is still allowed.
    assert client.get(record_type.url(record["id"])).status_code == 200


@ALL_TYPES
def test_a_caregiver_without_viewing_rights_gets_403_on_diary_reads(
    api, blind_caregiver, patient, record_type
):
    record = create(api, patient.user, record_type)
    client = api(blind_caregiver)

    assert client.get(record_type.url(), {"patient": str(patient.pk)}).status_code == 403
    assert client.get(record_type.url(record["id"])).status_code == 403
    assert client.get(record_type.url()).json()["results"] == []


def test_a_caregiver_without_viewing_rights_can_still_report(api, blind_caregiver, patient):
    data = create(api, blind_caregiver, CHECKINS, patient=str(patient.pk))

    assert data["reporter_role"] == "caregiver"


@ALL_TYPES
def test_another_patients_record_is_not_found_for_read_correct_or_retract(
    api, patient, other_patient, record_type
):
    theirs = create(api, other_patient.user, record_type)
    client = api(patient.user)
    field, value = record_type.change

    assert client.get(record_type.url(theirs["id"])).status_code == 404
    assert client.patch(record_type.url(theirs["id"]), {field: value}, format="json").status_code == 404
    assert (
        client.post(record_type.url(theirs["id"], "retract"), {"reason": "x"}, format="json").status_code
        == 404
    )
    stored = api(other_patient.user).get(record_type.url(theirs["id"])).json()
    assert (stored["status"], stored["version"]) == ("active", 1)


def test_a_clinician_of_another_team_cannot_find_the_patients_records(api, other_team_clinician, patient):
    record = create(api, patient.user, CHECKINS)
    client = api(other_team_clinician)

    assert client.get(CHECKINS.url()).json()["results"] == []
    assert client.get(CHECKINS.url(), {"patient": str(patient.pk)}).status_code == 404
    assert client.get(CHECKINS.url(record["id"])).status_code == 404
    assert post(client, CHECKINS, checkin_body(patient=str(patient.pk))).status_code == 404


def test_an_anonymous_caller_is_asked_to_authenticate(anonymous):
    assert anonymous.get(CHECKINS.url()).status_code == 401
    assert anonymous.post(CHECKINS.url(), checkin_body(), format="json").status_code == 401


# --- Red flags -----------------------------------------------------------------------------


def test_a_red_flag_checkin_answers_with_a_safety_message_in_english_by_default(api, patient):
    response = post(api(patient.user), CHECKINS, checkin_body(red_flags=["new_limb_weakness"]))

    assert response.status_code == 201
    assert "emergency" in response.json()["safety_message"]


def test_the_safety_message_speaks_the_requests_language(api, patient):
    response = post(
        api(patient.user), CHECKINS, checkin_body(red_flags=["saddle_numbness"]), HTTP_ACCEPT_LANGUAGE="it"
    )

    assert response.status_code == 201
    assert "emergenza" in response.json()["safety_message"]


def test_the_safety_message_speaks_the_patients_language_without_a_request_language(api, patient):
    patient.language = "it"
    patient.save()

    response = post(api(patient.user), CHECKINS, checkin_body(red_flags=["sleepy_slow_breathing"]))

    assert "emergenza" in response.json()["safety_message"]


@pytest.mark.parametrize("header", ["de", "*", "xx-YY"])
def test_the_safety_message_falls_back_to_the_patients_language_for_a_request_language_we_lack(
    api, patient, header
):
    patient.language = "it"
    patient.save()

    response = post(
        api(patient.user),
        CHECKINS,
        checkin_body(red_flags=["new_limb_numbness"]),
        HTTP_ACCEPT_LANGUAGE=header,
    )

    assert "emergenza" in response.json()["safety_message"]


def test_a_supported_language_further_down_the_request_header_wins_over_the_patients(api, patient):
    response = post(
        api(patient.user),
        CHECKINS,
        checkin_body(red_flags=["new_limb_numbness"]),
        HTTP_ACCEPT_LANGUAGE="de, it;q=0.5",
    )

    assert "emergenza" in response.json()["safety_message"]


def test_a_caregivers_red_flag_report_also_gets_the_safety_message(api, caregiver, patient):
    response = post(
        api(caregiver), CHECKINS, checkin_body(patient=str(patient.pk), red_flags=["new_incontinence"])
    )

    assert response.status_code == 201
    assert response.json()["safety_message"]


# --- Validation ----------------------------------------------------------------------------

INVALID_CHECKINS = [
    ({"pain_now": 11}, "pain_now"),
    ({"pain_now": -1}, "pain_now"),
    ({"pain_now": "7"}, "pain_now"),
    ({"pain_now": 7.5}, "pain_now"),
    ({"pain_now": 7.0}, "pain_now"),
    ({"pain_now": True}, "pain_now"),
    ({"pain_now": None}, "pain_now"),
    ({"pain_now": [5]}, "pain_now"),
    ({"pain_worst": 11}, "pain_worst"),
    ({"pain_least": "0"}, "pain_least"),
    ({"pain_average": 10.5}, "pain_average"),
    ({"interference": {"walking": 11}}, "interference.walking"),
    ({"interference": {"mood": "3"}}, "interference.mood"),
    ({"interference": {"flying": 3}}, "interference.flying"),
    ({"interference": [3, 4]}, "interference"),
    ({"symptoms": {"nausea": 11}}, "symptoms.nausea"),
    ({"symptoms": {"nausea": False}}, "symptoms.nausea"),
    ({"symptoms": {"hunger": 3}}, "symptoms.hunger"),
    ({"symptoms": {"pain": 3}}, "symptoms.pain"),
    ({"symptoms": "nausea"}, "symptoms"),
    ({"neuropathic": ["tickling"]}, "neuropathic"),
    ({"neuropathic": "burning"}, "neuropathic"),
    ({"pain_sites": ["moon"]}, "pain_sites"),
    ({"red_flags": ["sneezing"]}, "red_flags"),
    ({"breakthrough_episodes": -1}, "breakthrough_episodes"),
    ({"breakthrough_episodes": 2.5}, "breakthrough_episodes"),
    ({"note": "x" * 2001}, "note"),
    ({"id": "not-a-uuid"}, "id"),
    ({"id": None}, "id"),
    ({"id": 5}, "id"),
    ({"id": "5"}, "id"),
    ({"recorded_at": "2026-03-29T08:30:00"}, "recorded_at"),
    ({"recorded_at": "yesterday"}, "recorded_at"),
    ({"recorded_at": 1774765800}, "recorded_at"),
    ({"recorded_at": "0001-01-01T00:00:00+05:00"}, "recorded_at"),
    ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
]


@pytest.mark.parametrize(("change", "path"), INVALID_CHECKINS, ids=[p for _, p in INVALID_CHECKINS])
def test_an_invalid_checkin_is_refused_naming_the_field_and_nothing_is_stored(api, patient, change, path):
    response = post(api(patient.user), CHECKINS, {**checkin_body(), **change})

    assert response.status_code == 400
    assert path in response.json()["errors"], response.json()
    assert diary_row_count() == 0


@pytest.mark.parametrize("missing", ["id", "recorded_at", "pain_now"])
def test_a_checkin_without_a_required_field_is_refused(api, patient, missing):
    body = checkin_body()
    del body[missing]

    response = post(api(patient.user), CHECKINS, body)

    assert response.status_code == 400
    assert missing in response.json()["errors"]


INVALID_OTHERS = [
    (ADVERSE_EFFECTS, {"effect": "hiccups"}, "effect"),
    (ADVERSE_EFFECTS, {"grade": 5}, "grade"),
    (ADVERSE_EFFECTS, {"grade": "2"}, "grade"),
    (ADVERSE_EFFECTS, {"suspected_drug": "x" * 101}, "suspected_drug"),
    (ADVERSE_EFFECTS, {"note": "x" * 2001}, "note"),
    (BOLUSES, {"outcome": "maybe"}, "outcome"),
    (BOLUSES, {"pain_before": 11}, "pain_before"),
    (BOLUSES, {"pain_after": 2.5}, "pain_after"),
    (BOLUSES, {"source": "neighbour"}, "source"),
    (BOLUSES, {"occurred_at": "2026-01-01T10:00"}, "occurred_at"),
    (MEDICATIONS, {"drug": "aspirin"}, "drug"),
    (MEDICATIONS, {"route": "transdermal"}, "route"),  # oxycodone has no patch
    (MEDICATIONS, {"drug": "fentanyl", "unit": "mg", "route": "transdermal"}, "unit"),
    (MEDICATIONS, {"route": "rectal"}, "route"),
    (MEDICATIONS, {"dose": 0}, "dose"),
    (MEDICATIONS, {"dose": -5}, "dose"),
    (MEDICATIONS, {"dose": "NaN"}, "dose"),
    (MEDICATIONS, {"kind": "sometimes"}, "kind"),
    (MEDICATIONS, {"taken_at": None}, "taken_at"),
]


@pytest.mark.parametrize(
    ("record_type", "change", "path"),
    INVALID_OTHERS,
    ids=[f"{t.kind}-{p}-{i}" for i, (t, _, p) in enumerate(INVALID_OTHERS)],
)
def test_an_invalid_record_of_another_type_is_refused_naming_the_field(
    api, patient, record_type, change, path
):
    response = post(api(patient.user), record_type, record_type.body(**change))

    assert response.status_code == 400
    assert path in response.json()["errors"], response.json()
    assert diary_row_count() == 0


def test_validation_errors_are_translated(api, patient):
    response = post(api(patient.user), CHECKINS, checkin_body(pain_now="7"), HTTP_ACCEPT_LANGUAGE="it")

    assert response.json()["errors"]["pain_now"] == ["È richiesto un numero intero."]


def test_a_note_of_2000_characters_is_accepted(api, patient):
    data = create(api, patient.user, CHECKINS, note="x" * 2000)

    assert len(data["note"]) == 2000


@ALL_TYPES
def test_a_time_nine_minutes_ahead_is_accepted_but_eleven_minutes_is_refused(api, patient, record_type):
    now = timezone.now()
    soon = record_type.body(**{record_type.observed: (now + timedelta(minutes=9)).isoformat()})
    too_soon = record_type.body(**{record_type.observed: (now + timedelta(minutes=11)).isoformat()})

    assert post(api(patient.user), record_type, soon).status_code == 201
    response = post(api(patient.user), record_type, too_soon)
    assert response.status_code == 400
    assert record_type.observed in response.json()["errors"]
    assert record_type.model.objects.count() == 1


@ALL_TYPES
def test_a_time_without_a_utc_offset_is_refused(api, patient, record_type):
    naive = (timezone.now() - timedelta(hours=1)).replace(tzinfo=None).isoformat()

    response = post(api(patient.user), record_type, record_type.body(**{record_type.observed: naive}))

    assert response.status_code == 400
    assert record_type.observed in response.json()["errors"]


@ALL_TYPES
def test_a_record_before_the_enrollment_date_in_the_patients_zone_is_refused(api, patient, record_type):
    enrolled = patient.enrolled_on
    # 00:30 in Rome on the enrollment day is the evening before in UTC: still allowed.
    first_minutes = record_type.body(**{record_type.observed: at_local(enrolled, 0, 30)})
    day_before = record_type.body(**{record_type.observed: at_local(enrolled - timedelta(days=1), 23, 30)})

    assert post(api(patient.user), record_type, first_minutes).status_code == 201
    response = post(api(patient.user), record_type, day_before)
    assert response.status_code == 400
    assert record_type.observed in response.json()["errors"]
    assert record_type.model.objects.count() == 1


def test_a_correction_cannot_move_a_record_before_enrollment(api, patient):
    record = create(api, patient.user, CHECKINS)
    before = at_local(patient.enrolled_on - timedelta(days=1))

    response = api(patient.user).patch(CHECKINS.url(record["id"]), {"recorded_at": before}, format="json")

    assert response.status_code == 400
    assert api(patient.user).get(CHECKINS.url(record["id"])).json()["recorded_at"] == record["recorded_at"]


def test_a_correction_of_the_zone_alone_cannot_move_a_record_before_enrollment(api, patient):
    # 00:30 in Rome on the enrollment day is the evening before in New York.
    record = create(api, patient.user, CHECKINS, recorded_at=at_local(patient.enrolled_on, 0, 30))

    response = api(patient.user).patch(
        CHECKINS.url(record["id"]), {"timezone": "America/New_York"}, format="json"
    )

    assert response.status_code == 400
    assert "recorded_at" in response.json()["errors"]


@pytest.mark.parametrize("body", [[], "checkin", 5, None], ids=["list", "string", "number", "null"])
def test_a_body_that_is_not_an_object_is_a_400(api, patient, body):
    response = api(patient.user).post(CHECKINS.url(), body, format="json")

    assert response.status_code == 400


def test_a_body_that_is_not_json_is_a_400(api, patient):
    response = api(patient.user).post(CHECKINS.url(), "{not json", content_type="application/json")

    assert response.status_code == 400


# --- Late records --------------------------------------------------------------------------


@ALL_TYPES
def test_a_record_observed_more_than_24_hours_before_it_arrives_is_marked_late(api, patient, record_type):
    now = timezone.now()
    late = create(
        api, patient.user, record_type, **{record_type.observed: (now - timedelta(hours=25)).isoformat()}
    )
    fresh = create(
        api, patient.user, record_type, **{record_type.observed: (now - timedelta(hours=23)).isoformat()}
    )

    assert late["late"] is True
    assert fresh["late"] is False


# --- Query budgets -------------------------------------------------------------------------


def queries_for(client, url, params=None) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params or {})
    assert response.status_code == 200
    return len(queries)


def fill(client, record_type, count: int) -> None:
    for _ in range(count):
        assert post(client, record_type, record_type.body()).status_code == 201


@ALL_TYPES
@pytest.mark.parametrize("reader", ["patient", "clinician", "caregiver"])
def test_a_diary_list_costs_the_same_queries_for_2_and_20_records(
    api, patient, clinician, caregiver, record_type, reader
):
    user = {"patient": patient.user, "clinician": clinician, "caregiver": caregiver}[reader]
    client = api(user)
    writer = api(patient.user)
    fill(writer, record_type, 2)
    few = queries_for(client, record_type.url(), {"patient": str(patient.pk)})
    few_unfiltered = queries_for(client, record_type.url())

    fill(writer, record_type, 18)
    many = queries_for(client, record_type.url(), {"patient": str(patient.pk)})
    many_unfiltered = queries_for(client, record_type.url())

    assert len(client.get(record_type.url()).json()["results"]) == 20
    assert many == few
    assert many_unfiltered == few_unfiltered


def test_a_correction_that_changes_nothing_keeps_no_revision(api, patient):
    client = api(patient.user)
    body = checkin_body(pain_now=4)
    assert client.post("/api/v1/diary/checkins/", body, format="json").status_code == 201
    response = client.patch(f"/api/v1/diary/checkins/{body['id']}/", {"pain_now": 4}, format="json")
    assert response.status_code == 200
    assert response.json()["version"] == 1
    assert not RecordRevision.objects.filter(record_id=body["id"]).exists()


def test_correcting_the_time_of_a_record_recomputes_whether_it_was_late(api, patient):
    client = api(patient.user)
    body = checkin_body(pain_now=4, recorded_at=(timezone.now() - timedelta(hours=30)).isoformat())
    assert client.post("/api/v1/diary/checkins/", body, format="json").json()["late"] is True
    fixed = client.patch(
        f"/api/v1/diary/checkins/{body['id']}/", {"recorded_at": timezone.now().isoformat()}, format="json"
    )
    assert fixed.json()["late"] is False
