"""Alerts and referrals as API.md describes them, escalation on a frozen clock, and the
notification outbox with its channels faked at the network boundary.

Personas (tests/conftest.py): `patient` (Rosa) and `caregiver` (linked to her) see only the
status of her alerts; `other_patient` (Bruno, same team) never sees hers; `clinician` is
the team's pain physician (tier 2 of the default policy) and sees every alert of the team;
`team_admin` edits the escalation policy; `other_team_clinician` sees nothing of this team.
`nurse` (below) is tier 1.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, time, timedelta

import pytest
from django.core import mail

from alerts import outbox, schedule
from alerts.actions.escalation import escalate_due_alerts
from alerts.channels import DeliveryError, EmailChannel, PushChannel, WebhookChannel
from alerts.models import Alert, EscalationPolicy, Notification, ReferralRecommendation
from care.models import Device, Patient, User
from diary.services import build_record, store_records
from tests.alerts_helpers import RecordingPushTransport, frozen_clock, nurse_of, post_days
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

FULL_FIELDS = {
    "id",
    "patient",
    "rule",
    "severity",
    "status",
    "box2_criteria",
    "evidence",
    "created_at",
    "last_triggered_at",
    "escalation_tier",
    "events",
}
STATUS_FIELDS = {"id", "rule", "severity", "status", "created_at"}


@pytest.fixture
def nurse(team):
    """Tier 1 of the default escalation policy, reachable by email."""
    return nurse_of(team)


@pytest.fixture
def physician(clinician):
    """`clinician` with an email address, so that tier 2 gets an outbox row too."""
    User.objects.filter(pk=clinician.pk).update(email="bianchi@hospital.example")
    clinician.refresh_from_db()
    return clinician


@pytest.fixture
def diary(api, django_capture_on_commit_callbacks):
    def post(patient, day_pains, **fields):
        with django_capture_on_commit_callbacks(execute=True):
            return post_days(api(patient.user), patient, day_pains, **fields)

    return post


def make_alert(patient, rule="red_flag", severity="urgent", status="open", hours_ago=1, **fields) -> Alert:
    created = datetime.now(UTC) - timedelta(hours=hours_ago)
    return Alert.objects.create(
        patient=patient,
        rule=rule,
        severity=severity,
        status=status,
        created_at=created,
        last_triggered_at=created,
        resolved_at=created if status == "resolved" else None,
        evidence={"days": []},
        **fields,
    )


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


# --- Lists and detail --------------------------------------------------------------------


def test_a_clinician_lists_the_team_alerts_urgent_first_then_oldest(api, patient, other_patient, clinician):
    warning = make_alert(patient, "persistent_pain", "warning", hours_ago=3)
    urgent_new = make_alert(patient, "red_flag", "urgent", hours_ago=1)
    urgent_old = make_alert(other_patient, "red_flag", "urgent", hours_ago=2)
    info = make_alert(patient, "missed_diary", "info", hours_ago=4)
    acknowledged = make_alert(other_patient, "pta_overuse", "warning", status="acknowledged", hours_ago=5)
    make_alert(patient, "symptom_cluster", "warning", status="resolved", hours_ago=6)

    response = api(clinician).get("/api/v1/alerts/")

    assert ids(response) == [str(a.pk) for a in (urgent_old, urgent_new, acknowledged, warning, info)]
    assert set(response.json()["results"][0]) >= FULL_FIELDS - {"events"}


def test_alert_lists_are_paged_without_losing_the_order(api, patient, other_patient, clinician):
    rules = ["red_flag", "persistent_pain", "symptom_cluster", "missed_diary"]
    made = [
        make_alert(p, rule, "warning", hours_ago=h)
        for h, (p, rule) in enumerate([(p, r) for p in (patient, other_patient) for r in rules], start=1)
    ]

    first = api(clinician).get("/api/v1/alerts/?page_size=3").json()
    second = api(clinician).get(first["next"]).json()

    oldest_first = [str(a.pk) for a in sorted(made, key=lambda a: a.created_at)]
    assert [r["id"] for r in first["results"] + second["results"]] == oldest_first[:6]


def test_patients_and_caregivers_see_only_the_status_of_their_own_alerts(
    api, patient, other_patient, caregiver
):
    own = make_alert(patient)
    make_alert(other_patient)

    for user in (patient.user, caregiver):
        rows = api(user).get("/api/v1/alerts/").json()["results"]
        assert [r["id"] for r in rows] == [str(own.pk)]
        assert set(rows[0]) == STATUS_FIELDS


def test_another_team_sees_no_alert(api, patient, other_team_clinician):
    alert = make_alert(patient)

    assert ids(api(other_team_clinician).get("/api/v1/alerts/")) == []
    assert api(other_team_clinician).get(f"/api/v1/alerts/{alert.pk}/").status_code == 404


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=open,resolved", ["open_urgent", "resolved", "open_warning"]),
        ("status=resolved", ["resolved"]),
        ("severity=urgent,info", ["open_urgent", "info"]),
        ("rule=red_flag,missed_diary", ["open_urgent", "info"]),
        ("severity=warning&status=open,acknowledged,resolved", ["resolved", "open_warning"]),
    ],
)
def test_alert_filters_take_comma_separated_lists(api, patient, clinician, query, expected):
    alerts = {
        "open_urgent": make_alert(patient, "red_flag", "urgent", hours_ago=1),
        "open_warning": make_alert(patient, "persistent_pain", "warning", hours_ago=2),
        "info": make_alert(patient, "missed_diary", "info", status="acknowledged", hours_ago=3),
        "resolved": make_alert(patient, "symptom_cluster", "warning", status="resolved", hours_ago=4),
    }

    got = ids(api(clinician).get(f"/api/v1/alerts/?{query}"))

    assert got == [str(alerts[name].pk) for name in expected]


def test_alerts_filter_by_a_list_of_patients(api, team, patient, other_patient, clinician):

    third = PatientFactory(care_team=team)
    a, b = make_alert(patient, hours_ago=2), make_alert(other_patient, hours_ago=1)
    make_alert(third)

    assert ids(api(clinician).get(f"/api/v1/alerts/?patient={patient.pk},{other_patient.pk}")) == [
        str(a.pk),
        str(b.pk),
    ]


@pytest.mark.parametrize("path", ["/api/v1/alerts/", "/api/v1/referrals/"])
def test_a_malformed_patient_filter_is_a_400_not_a_500(api, clinician, path):
    response = api(clinician).get(f"{path}?patient=not-a-uuid")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["patient"]


def test_the_alert_detail_has_the_api_shape_with_events(api, patient, clinician, nurse, diary):
    diary(patient, {0: 2}, red_flags=["new_limb_weakness"])
    alert = Alert.objects.get(patient=patient)

    body = api(clinician).get(f"/api/v1/alerts/{alert.pk}/").json()

    assert set(body) >= FULL_FIELDS
    assert (body["rule"], body["severity"], body["status"]) == ("red_flag", "urgent", "open")
    assert body["patient"] == str(patient.pk)
    assert body["escalation_tier"] == 1
    assert body["evidence"]["red_flags"] == ["new_limb_weakness"]
    assert [e["kind"] for e in body["events"]] == ["created", "notified"]
    assert all(set(e) == {"kind", "actor", "at", "detail"} for e in body["events"])
    assert body["events"][0]["actor"] is None  # raised by the system


def test_patients_and_caregivers_cannot_open_an_alert_detail(api, patient, caregiver):
    alert = make_alert(patient)

    assert api(patient.user).get(f"/api/v1/alerts/{alert.pk}/").status_code == 403
    assert api(caregiver).get(f"/api/v1/alerts/{alert.pk}/").status_code == 403


# --- Acknowledge and resolve ----------------------------------------------------------------


def test_acknowledging_stops_escalation_and_records_who(api, patient, clinician, nurse, diary):
    diary(patient, {0: 2}, red_flags=["saddle_numbness"])
    alert = Alert.objects.get(patient=patient)
    assert alert.escalation_due_at is not None

    response = api(clinician).post(
        f"/api/v1/alerts/{alert.pk}/acknowledge/", {"note": "calling her"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["status"] == "acknowledged"
    alert.refresh_from_db()
    assert alert.escalation_due_at is None
    event = alert.events.get(kind="acknowledged")
    assert (event.actor, event.detail) == (clinician, {"note": "calling her"})


def test_resolving_needs_a_resolution(api, patient, clinician):
    alert = make_alert(patient)

    response = api(clinician).post(f"/api/v1/alerts/{alert.pk}/resolve/", {}, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["resolution"]
    alert.refresh_from_db()
    assert alert.status == "open"


def test_resolving_records_the_resolution_and_who(api, patient, clinician):
    alert = make_alert(patient)

    response = api(clinician).post(
        f"/api/v1/alerts/{alert.pk}/resolve/", {"resolution": "MRI negative"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["status"] == "resolved"
    event = alert.events.get(kind="resolved")
    assert (event.actor, event.detail) == (clinician, {"resolution": "MRI negative"})
    # A resolved alert can be neither acknowledged nor resolved again.
    assert (
        api(clinician).post(f"/api/v1/alerts/{alert.pk}/acknowledge/", {}, format="json").status_code == 400
    )
    again = api(clinician).post(f"/api/v1/alerts/{alert.pk}/resolve/", {"resolution": "x"}, format="json")
    assert again.status_code == 400


def test_an_acknowledged_alert_cannot_be_acknowledged_twice_but_can_be_resolved(api, patient, clinician):
    alert = make_alert(patient)
    client = api(clinician)

    assert client.post(f"/api/v1/alerts/{alert.pk}/acknowledge/", {}, format="json").status_code == 200
    assert client.post(f"/api/v1/alerts/{alert.pk}/acknowledge/", {}, format="json").status_code == 400
    assert (
        client.post(f"/api/v1/alerts/{alert.pk}/resolve/", {"resolution": "ok"}, format="json").status_code
        == 200
    )
    assert [e.kind for e in alert.events.all()] == ["acknowledged", "resolved"]


def test_a_patient_cannot_acknowledge_their_own_alert_nor_learn_of_another(
    api, patient, other_patient, caregiver
):
    own, other = make_alert(patient), make_alert(other_patient)

    assert (
        api(patient.user).post(f"/api/v1/alerts/{own.pk}/acknowledge/", {}, format="json").status_code == 403
    )
    assert (
        api(patient.user).post(f"/api/v1/alerts/{other.pk}/acknowledge/", {}, format="json").status_code
        == 404
    )
    assert (
        api(caregiver)
        .post(f"/api/v1/alerts/{own.pk}/resolve/", {"resolution": "x"}, format="json")
        .status_code
        == 403
    )
    own.refresh_from_db()
    assert own.status == "open"


def test_another_team_cannot_acknowledge(api, patient, other_team_clinician):
    alert = make_alert(patient)
    assert (
        api(other_team_clinician)
        .post(f"/api/v1/alerts/{alert.pk}/acknowledge/", {}, format="json")
        .status_code
        == 404
    )


# --- Referrals ----------------------------------------------------------------------------------


@pytest.fixture
def rosa(patient):
    Patient.objects.filter(pk=patient.pk).update(baseline_mme=300)
    patient.refresh_from_db()
    return patient


@pytest.fixture
def referral(rosa, diary) -> ReferralRecommendation:
    diary(rosa, {2: 6, 1: 6, 0: 6})
    return ReferralRecommendation.objects.get(patient=rosa)


def move(api, user, referral, verb, body=None):
    return api(user).post(f"/api/v1/referrals/{referral.pk}/{verb}/", body or {}, format="json")


def test_referrals_list_and_detail_have_the_api_shape(api, clinician, referral):
    listed = api(clinician).get("/api/v1/referrals/").json()["results"]
    detail = api(clinician).get(f"/api/v1/referrals/{referral.pk}/").json()

    assert [r["id"] for r in listed] == [str(referral.pk)]
    assert set(detail) >= {"id", "patient", "criteria", "priority", "status", "created_at", "updated_at"}
    assert detail["status"] == "suggested"
    assert [(c["number"], c["rule"]) for c in detail["criteria"]] == [(1, "persistent_pain")]
    assert detail["criteria"][0]["evidence"]["days"]


def test_referrals_are_for_the_team_clinicians_only(api, referral, other_team_clinician):
    assert api(referral.patient.user).get("/api/v1/referrals/").status_code == 403
    assert api(other_team_clinician).get(f"/api/v1/referrals/{referral.pk}/").status_code == 404
    assert move(api, other_team_clinician, referral, "accept").status_code == 404


def test_accept_then_complete(api, clinician, referral):
    response = move(api, clinician, referral, "accept")
    assert (response.status_code, response.json()["status"]) == (200, "accepted")

    response = move(api, clinician, referral, "complete")
    assert (response.status_code, response.json()["status"]) == (200, "completed")


def test_decline_needs_a_reason(api, clinician, referral):
    response = move(api, clinician, referral, "decline")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["reason"]

    response = move(api, clinician, referral, "decline", {"reason": "not fit for a procedure"})
    assert response.status_code == 200
    assert response.json()["status"] == "declined"
    assert response.json()["decline_reason"] == "not fit for a procedure"


@pytest.mark.parametrize(
    ("path", "verb"),
    [
        ([], "complete"),  # suggested -> completed
        (["accept"], "accept"),
        (["accept"], "decline"),
        (["decline"], "accept"),
        (["decline"], "complete"),
        (["accept", "complete"], "accept"),
        (["accept", "complete"], "decline"),
    ],
)
def test_illegal_referral_transitions_are_a_400(api, clinician, referral, path, verb):
    for step in path:
        assert move(api, clinician, referral, step, {"reason": "r"}).status_code == 200
    before = ReferralRecommendation.objects.get(pk=referral.pk).status

    response = move(api, clinician, referral, verb, {"reason": "r"})

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["status"]
    assert ReferralRecommendation.objects.get(pk=referral.pk).status == before


def test_an_open_referral_grows_instead_of_a_second_one(api, clinician, rosa, referral, diary):
    move(api, clinician, referral, "accept")

    diary(rosa, {0: 3}, wants_procedure_discussion=True)

    referrals = ReferralRecommendation.objects.filter(patient=rosa)
    assert referrals.count() == 1
    assert referrals.get().criteria_numbers == [1, 9]
    assert referrals.get().status == "accepted"


def test_after_a_decline_a_newly_met_criterion_starts_a_new_referral(api, clinician, rosa, referral, diary):
    move(api, clinician, referral, "decline", {"reason": "not now"})

    diary(rosa, {1: 6}, interference={"mood": 2})  # new evidence for the open #1 alert only
    assert ReferralRecommendation.objects.filter(patient=rosa).count() == 1

    diary(rosa, {0: 3}, wants_fewer_medications=True)

    newest = ReferralRecommendation.objects.filter(patient=rosa).order_by("-created_at").first()
    assert ReferralRecommendation.objects.filter(patient=rosa).count() == 2
    assert newest.status == "suggested"
    assert 9 in newest.criteria_numbers


# --- Escalation policy -------------------------------------------------------------------------


def policy_url(team) -> str:
    return f"/api/v1/teams/{team.pk}/escalation-policy/"


def test_a_team_without_a_policy_reads_the_default_tiers(api, team, clinician):
    body = api(clinician).get(policy_url(team)).json()

    assert [t["recipients"]["team_roles"] for t in body["tiers"]] == [
        ["nurse"],
        ["pain_physician"],
        ["team_admin", "palliative"],
    ]
    assert {t["timeout_minutes"]["urgent"] for t in body["tiers"]} == {15}
    assert {t["timeout_minutes"]["warning"] for t in body["tiers"]} == {240}


def a_policy(*clinicians) -> dict:
    return {
        "tiers": [
            {
                "recipients": {"team_roles": ["nurse"], "clinicians": []},
                "timeout_minutes": {"urgent": 5, "warning": 60},
            },
            {
                "recipients": {"team_roles": [], "clinicians": [str(c.pk) for c in clinicians]},
                "timeout_minutes": {"urgent": 10, "warning": 120},
            },
        ]
    }


def test_a_team_admin_replaces_the_policy(api, team, team_admin, clinician):
    response = api(team_admin).put(policy_url(team), a_policy(clinician), format="json")

    assert response.status_code == 200, response.content
    body = api(clinician).get(policy_url(team)).json()
    assert body["tiers"][1]["recipients"]["clinicians"] == [str(clinician.pk)]
    assert body["tiers"][0]["timeout_minutes"] == {"urgent": 5, "warning": 60}


def test_a_policy_naming_a_clinician_of_another_team_is_a_400(api, team, team_admin, other_team_clinician):
    response = api(team_admin).put(policy_url(team), a_policy(other_team_clinician), format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["tiers.1.recipients.clinicians"]
    assert not EscalationPolicy.objects.filter(team=team).exists()


@pytest.mark.parametrize(
    "tiers",
    [
        [],
        [
            {
                "recipients": {"team_roles": [], "clinicians": []},
                "timeout_minutes": {"urgent": 5, "warning": 60},
            }
        ],
        [{"recipients": {"team_roles": ["janitor"]}, "timeout_minutes": {"urgent": 5, "warning": 60}}],
        [{"recipients": {"team_roles": ["nurse"]}, "timeout_minutes": {"urgent": 0, "warning": 60}}],
    ],
    ids=["no-tier", "no-recipient", "unknown-role", "zero-timeout"],
)
def test_an_invalid_policy_is_a_400(api, team, team_admin, tiers):
    response = api(team_admin).put(policy_url(team), {"tiers": tiers}, format="json")

    assert response.status_code == 400
    assert all(key.startswith("tiers") for key in response.json()["errors"])


def test_only_a_team_admin_writes_the_policy(api, team, clinician, other_team_clinician):
    assert api(clinician).put(policy_url(team), a_policy(clinician), format="json").status_code == 403
    assert api(other_team_clinician).get(policy_url(team)).status_code == 404
    assert api(other_team_clinician).put(policy_url(team), a_policy(), format="json").status_code == 404


# --- Escalation on the clock -------------------------------------------------------------------


def test_an_unacknowledged_urgent_alert_escalates_to_tier_2_after_15_minutes(
    api, patient, nurse, physician, diary
):
    start = datetime.now(UTC).replace(microsecond=0)
    with frozen_clock(start) as clock:
        diary(patient, {0: 2}, red_flags=["saddle_numbness"])
        alert = Alert.objects.get(patient=patient)
        assert [n.recipient for n in alert.notifications.all()] == [nurse]

        clock[0] = start + timedelta(minutes=14)
        assert escalate_due_alerts() == 0

        clock[0] = start + timedelta(minutes=15)
        assert escalate_due_alerts() == 1

    alert.refresh_from_db()
    assert alert.escalation_tier == 2
    assert alert.escalation_due_at == start + timedelta(minutes=30)
    escalation = alert.notifications.get(kind="escalation")
    assert (escalation.recipient, escalation.channel) == (physician, "email")
    assert alert.events.filter(kind="escalated").get().detail["tier"] == 2


def test_acknowledging_stops_further_escalation(api, patient, nurse, physician, diary):
    start = datetime.now(UTC).replace(microsecond=0)
    with frozen_clock(start) as clock:
        diary(patient, {0: 2}, red_flags=["saddle_numbness"])
        alert = Alert.objects.get(patient=patient)
        clock[0] = start + timedelta(minutes=5)
        api(nurse).post(f"/api/v1/alerts/{alert.pk}/acknowledge/", {}, format="json")

        clock[0] = start + timedelta(hours=2)
        assert escalate_due_alerts() == 0

    assert not alert.notifications.filter(kind="escalation").exists()
    assert not alert.events.filter(kind="escalated").exists()


def test_escalation_stops_after_the_last_tier(patient, nurse, physician, team_admin, diary):
    start = datetime.now(UTC).replace(microsecond=0)
    with frozen_clock(start) as clock:
        diary(patient, {0: 2}, red_flags=["saddle_numbness"])
        for minutes in (15, 30, 45, 60):
            clock[0] = start + timedelta(minutes=minutes)
            escalate_due_alerts()

    alert = Alert.objects.get(patient=patient)
    assert alert.escalation_tier == 3
    assert alert.escalation_due_at is None
    assert alert.events.filter(kind="escalated").count() == 2


def test_a_late_alert_escalates_from_its_arrival(patient, nurse, diary):
    arrival = datetime.now(UTC).replace(microsecond=0)
    with frozen_clock(arrival):
        diary(patient, {2: 2}, red_flags=["new_incontinence"])

    alert = Alert.objects.get(patient=patient)
    assert alert.late is True
    assert alert.escalation_due_at == arrival + timedelta(minutes=15)


# The default digest hour, 08:00 UTC, of the day the test runs.
AT_DIGEST_HOUR = datetime.now(UTC).replace(hour=8, minute=5, second=0, microsecond=0)


def test_info_alerts_wait_for_the_daily_digest(patient, nurse, diary):
    diary(patient, {0: 3}, wants_fewer_medications=True)
    alert = Alert.objects.get(patient=patient)
    assert alert.severity == "info"
    assert not alert.notifications.exists()
    assert alert.escalation_due_at is None

    assert schedule.send_daily_digests(now=AT_DIGEST_HOUR) == 1
    schedule.send_daily_digests(now=AT_DIGEST_HOUR)

    digest = Notification.objects.get(kind="digest")
    assert (digest.recipient, digest.channel) == (nurse, "email")
    assert digest.payload == {"alerts": [str(alert.pk)]}
    alert.refresh_from_db()
    assert alert.digested_at is not None


def test_a_second_digest_the_same_day_carries_the_alerts_raised_since(patient, other_patient, nurse, diary):
    # A restarted beat may run the digest twice a day: nothing raised in between is lost.
    diary(patient, {0: 3}, wants_fewer_medications=True)
    schedule.send_daily_digests(now=AT_DIGEST_HOUR)
    diary(other_patient, {0: 3}, wants_fewer_medications=True)
    schedule.send_daily_digests(now=AT_DIGEST_HOUR)

    first, second = Alert.objects.get(patient=patient), Alert.objects.get(patient=other_patient)
    payloads = sorted(n.payload["alerts"] for n in Notification.objects.filter(kind="digest"))
    assert payloads == sorted([[str(first.pk)], [str(second.pk)]])


def test_the_digest_goes_out_at_the_teams_own_hour(team, patient, nurse, diary):
    EscalationPolicy.objects.create(team=team, digest_hour=7, digest_timezone="Asia/Tokyo")
    diary(patient, {0: 3}, wants_fewer_medications=True)
    tokyo_seven = datetime.now(UTC).replace(hour=22, minute=10, second=0, microsecond=0)  # 07:10 in Tokyo
    assert schedule.send_daily_digests(now=tokyo_seven - timedelta(hours=1)) == 0
    assert schedule.send_daily_digests(now=AT_DIGEST_HOUR) == 0
    assert schedule.send_daily_digests(now=tokyo_seven) == 1


# --- Outbox ------------------------------------------------------------------------------------


@pytest.fixture
def webhook_team(team):
    EscalationPolicy.objects.create(
        team=team, webhook_url="https://pager.example/hook", webhook_secret="s3cret"
    )
    return team


def outbox_row(alert, channel="webhook", **fields) -> Notification:
    now = datetime.now(UTC)
    return Notification.objects.create(
        key=f"alert:{alert.pk}:1:{alert.severity}:{channel}",
        kind="alert",
        channel=channel,
        alert=alert,
        team=alert.patient.care_team,
        next_attempt_at=now,
        created_at=now,
        **fields,
    )


class Calls:
    """A fake network: records posts, optionally failing."""

    def __init__(self, fail: bool = False):
        self.fail = fail
        self.posts: list[tuple[str, bytes, dict]] = []

    def __call__(self, url: str, raw: bytes, headers: dict) -> None:
        self.posts.append((url, raw, headers))
        if self.fail:
            raise DeliveryError("HTTP 503")


def test_a_failing_delivery_retries_with_backoff_then_is_dead_lettered(
    patient, webhook_team, settings, monkeypatch
):
    network = Calls(fail=True)
    monkeypatch.setattr("alerts.channels.http_post", network)
    row = outbox_row(make_alert(patient))
    now = datetime.now(UTC)

    assert outbox.deliver(row.pk, now=now) == "retry"
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "HTTP 503")
    assert row.next_attempt_at == now + timedelta(seconds=30)
    assert outbox.deliver(row.pk, now=now) == "skipped"  # not due yet

    waits = []
    for _ in range(settings.NOTIFICATION_MAX_ATTEMPTS - 1):
        row.refresh_from_db()
        waits.append(row.next_attempt_at - now)
        now = row.next_attempt_at
        outcome = outbox.deliver(row.pk, now=now)

    assert outcome == "dead"
    assert waits == [timedelta(seconds=30 * 2**n) for n in range(len(waits))]  # exponential
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("dead", settings.NOTIFICATION_MAX_ATTEMPTS)
    assert len(network.posts) == settings.NOTIFICATION_MAX_ATTEMPTS
    assert outbox.deliver(row.pk, now=now + timedelta(days=1)) == "skipped"


def test_a_sent_notification_is_never_sent_twice(patient, webhook_team, monkeypatch):
    network = Calls()
    monkeypatch.setattr("alerts.channels.http_post", network)
    row = outbox_row(make_alert(patient))

    assert outbox.deliver(row.pk) == "sent"
    assert outbox.deliver(row.pk) == "skipped"
    assert outbox.due_notifications(datetime.now(UTC) + timedelta(days=1)) == []

    row.refresh_from_db()
    assert row.status == "sent"
    assert row.sent_at is not None
    assert len(network.posts) == 1


def test_a_delivery_that_keeps_crashing_its_worker_is_dead_lettered(
    patient, webhook_team, settings, monkeypatch
):
    network = Calls()
    monkeypatch.setattr("alerts.channels.http_post", network)
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    row = outbox_row(
        make_alert(patient),
        status="sending",
        claimed_at=long_ago,
        attempts=settings.NOTIFICATION_MAX_ATTEMPTS,
    )

    assert row.pk in outbox.due_notifications(datetime.now(UTC))
    assert outbox.deliver(row.pk) == "skipped"

    row.refresh_from_db()
    assert row.status == "dead"
    assert network.posts == []


def test_the_webhook_signs_the_exact_body_and_sends_the_idempotency_key(patient, webhook_team):
    network = Calls()
    row = outbox_row(make_alert(patient))

    WebhookChannel(post=network).send(
        Notification.objects.select_related("team__escalation_policy", "alert").get(pk=row.pk)
    )

    [(url, raw, headers)] = network.posts
    assert url == "https://pager.example/hook"
    assert headers["Idempotency-Key"] == row.key
    expected = "sha256=" + hmac.new(b"s3cret", raw, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Crossroad-Signature"], expected)
    body = json.loads(raw)
    assert (body["key"], body["rule"], body["severity"]) == (row.key, "red_flag", "urgent")
    assert patient.display_name not in raw.decode()


def test_a_push_carries_the_key_and_no_patient_name(patient, nurse):
    Device.objects.create(user=nurse, platform="fcm", token="device-token-1")
    transport = RecordingPushTransport()
    transport.sent = []
    row = outbox_row(make_alert(patient), channel="push", recipient=nurse)

    PushChannel(transport=transport).send(row)

    [push] = transport.sent
    assert (push["platform"], push["token"], push["key"]) == ("fcm", "device-token-1", row.key)
    assert patient.display_name not in push["title"] + push["body"]
    assert "saddle" not in push["title"] + push["body"]


def test_a_push_to_a_user_without_devices_fails_permanently(patient, nurse):
    row = outbox_row(make_alert(patient), channel="push", recipient=nurse)
    with pytest.raises(DeliveryError) as failure:
        PushChannel(transport=RecordingPushTransport()).send(row)
    assert failure.value.permanent  # a retry in an hour finds no phone either


@pytest.mark.parametrize(
    ("language", "subject"),
    [
        ("en", "[Urgent] Red flag reported"),
        ("it", "[Urgente] Segnalato un segno d'allarme"),
    ],
)
def test_emails_are_in_the_recipients_language(patient, nurse, language, subject):
    User.objects.filter(pk=nurse.pk).update(language=language)
    row = outbox_row(make_alert(patient, late=True), channel="email", recipient=User.objects.get(pk=nurse.pk))

    EmailChannel().send(row)

    [message] = mail.outbox
    assert message.subject == subject
    assert message.to == [nurse.email]
    assert message.extra_headers["Idempotency-Key"] == row.key
    assert patient.display_name not in message.body
    if language == "it":
        assert "sincronizzate in ritardo" in message.body


def test_a_red_flag_email_reaches_the_nurse_through_the_outbox(patient, nurse, diary):
    diary(patient, {0: 2}, red_flags=["sleepy_slow_breathing"])

    [message] = mail.outbox
    assert message.subject == "[Urgent] Red flag reported"
    assert Notification.objects.get().status == "sent"


# --- Reminders ---------------------------------------------------------------------------------


@pytest.fixture
def reminded(patient):
    """Rosa wants a reminder at 20:00 her time, is quiet from 22:00 to 07:00, has a phone."""
    User.objects.filter(pk=patient.user_id).update(
        reminder_time=time(20, 0), quiet_hours_start=time(22, 0), quiet_hours_end=time(7, 0)
    )
    Device.objects.create(user=patient.user, platform="fcm", token="rosa-phone")
    return patient


def at_local(patient, hour: int, minute: int = 0, days: int = 0) -> datetime:
    today = datetime.now(patient.zone).date() + timedelta(days=days)
    return datetime.combine(today, time(hour, minute), tzinfo=patient.zone)


def reminders() -> list[Notification]:
    return list(Notification.objects.filter(kind="reminder"))


def run_reminders(moment: datetime) -> None:
    with frozen_clock(moment):
        schedule.send_reminders(now=moment)


def test_a_reminder_goes_at_the_local_reminder_time_when_today_has_no_checkin(reminded):
    run_reminders(at_local(reminded, 19, 55))
    assert reminders() == []

    run_reminders(at_local(reminded, 20, 5))

    [reminder] = reminders()
    assert (reminder.channel, reminder.recipient_id) == ("push", reminded.user_id)


def test_at_most_one_reminder_a_day(reminded):
    run_reminders(at_local(reminded, 20, 5))
    run_reminders(at_local(reminded, 21, 0))

    assert len(reminders()) == 1


def test_no_reminder_in_quiet_hours(reminded):
    run_reminders(at_local(reminded, 22, 30))
    run_reminders(at_local(reminded, 6, 30, days=1))

    assert reminders() == []


def test_no_reminder_once_today_has_a_checkin(api, reminded, django_capture_on_commit_callbacks):
    moment = at_local(reminded, 20, 5)
    with frozen_clock(moment), django_capture_on_commit_callbacks(execute=True):
        post_days(api(reminded.user), reminded, {0: 2})

    run_reminders(moment)

    assert reminders() == []


def test_a_reminder_push_is_delivered_through_the_transport(
    reminded, settings, django_capture_on_commit_callbacks
):
    settings.PUSH_TRANSPORT = "tests.alerts_helpers.RecordingPushTransport"
    RecordingPushTransport.sent = []
    moment = at_local(reminded, 20, 5)

    with django_capture_on_commit_callbacks(execute=True):
        run_reminders(moment)

    [push] = RecordingPushTransport.sent
    assert push["token"] == "rosa-phone"
    assert push["kind"] == "reminder"
    assert push["title"] == "Pain diary"


def test_without_a_reminder_time_a_patient_is_nudged_after_2_days_without_a_checkin(patient):
    Device.objects.create(user=patient.user, platform="fcm", token="rosa-phone")
    Patient.objects.filter(pk=patient.pk).update(activated_at=at_local(patient, 9, days=-5))
    store_checkin(patient, days_ago=2)

    run_reminders(at_local(patient, 17, 55))
    assert reminders() == []
    run_reminders(at_local(patient, 18, 5))

    [reminder] = reminders()
    assert reminder.payload == {"missed_days": 2}


def test_a_patient_who_never_checked_in_is_nudged_counting_from_activation(patient):
    # SPEC: missed days count from the activation when there is no check-in.
    Device.objects.create(user=patient.user, platform="fcm", token="rosa-phone")
    Patient.objects.filter(pk=patient.pk).update(activated_at=at_local(patient, 9, days=-2))

    run_reminders(at_local(patient, 18, 5))

    [reminder] = reminders()
    assert reminder.payload == {"missed_days": 2}


def test_days_before_the_activation_do_not_count_for_a_nudge(patient):
    Device.objects.create(user=patient.user, platform="fcm", token="rosa-phone")
    store_checkin(patient, days_ago=5)  # backfilled; the app was activated yesterday
    Patient.objects.filter(pk=patient.pk).update(activated_at=at_local(patient, 9, days=-1))

    run_reminders(at_local(patient, 18, 5))

    assert reminders() == []


def test_a_patient_checking_in_daily_without_a_reminder_time_gets_no_nudge(patient):
    Device.objects.create(user=patient.user, platform="fcm", token="rosa-phone")
    store_checkin(patient, days_ago=1)

    run_reminders(at_local(patient, 18, 5))

    assert reminders() == []


# --- Rules that close with time, on the beat ---------------------------------------------------


def store_checkin(patient, days_ago: int) -> None:
    """A check-in stored by the diary's write path without running the evaluation (its
    announcement waits for a commit that a test transaction never makes)."""
    import uuid

    now = datetime.now(UTC)
    at = min(at_local(patient, 9, days=-days_ago), now - timedelta(minutes=5))
    ingest = uuid.uuid4()
    data = {"id": uuid.uuid4(), "recorded_at": at, "pain_now": 2}
    record = build_record(
        kind="checkin", patient=patient, reporter=patient.user, data=data, now=now, ingest_key=ingest
    )
    store_records(records=[("checkin", record)])


@pytest.mark.parametrize(("days", "alerts"), [(3, []), (4, ["missed_diary"])])
def test_the_beat_raises_missed_diary_after_4_local_days_without_a_checkin(patient, nurse, days, alerts):
    Patient.objects.filter(pk=patient.pk).update(activated_at=at_local(patient, 9, days=-30))
    store_checkin(patient, days_ago=days)

    schedule.evaluate_time_rules()

    assert [a.rule for a in Alert.objects.filter(patient=patient)] == alerts
    assert not Notification.objects.exists()  # info: for the digest, not paged


@pytest.mark.parametrize(("days", "alerts"), [(3, []), (4, ["missed_diary"])])
def test_missed_diary_counts_from_activation_when_there_is_no_checkin(patient, days, alerts):
    Patient.objects.filter(pk=patient.pk).update(activated_at=at_local(patient, 9, days=-days))

    schedule.evaluate_time_rules()

    assert [a.rule for a in Alert.objects.filter(patient=patient)] == alerts


def test_a_patient_who_never_activated_the_app_is_not_evaluated_on_the_beat(patient):
    Patient.objects.filter(pk=patient.pk).update(activated_at=None)

    assert schedule.evaluate_time_rules() == 0
    assert not Alert.objects.exists()


def test_the_beat_raises_a_pump_refill_due(patient):
    Patient.objects.filter(pk=patient.pk).update(
        idds=True, idds_next_refill_date=patient.local_today() + timedelta(days=3)
    )

    schedule.evaluate_time_rules()

    alert = Alert.objects.get(patient=patient)
    assert (alert.rule, alert.severity, alert.evidence["days_left"]) == ("pump_refill_due", "info", 3)


# --- Query budgets -----------------------------------------------------------------------------


def list_queries(client, path: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries)


@pytest.mark.parametrize("path", ["/api/v1/alerts/", "/api/v1/referrals/"])
def test_alert_and_referral_lists_cost_the_same_queries_for_2_or_20_patients(api, team, clinician, path):

    def add_patients(n: int) -> None:
        for _ in range(n):
            p = PatientFactory(care_team=team)
            alert = make_alert(p)
            alert.events.create(kind="created", at=alert.created_at)
            ReferralRecommendation.objects.create(
                patient=p, criteria=[{"number": 1, "rule": "persistent_pain"}]
            )

    client = api(clinician)
    add_patients(2)
    few = list_queries(client, path)
    add_patients(18)

    assert list_queries(client, path) == few


def test_a_patients_alert_list_costs_the_same_queries_for_1_or_10_alerts(api, patient):
    client = api(patient.user)
    make_alert(patient, "red_flag")
    few = list_queries(client, "/api/v1/alerts/")
    for rule in ["persistent_pain", "symptom_cluster", "missed_diary", "pta_overuse", "pain_interference"]:
        make_alert(patient, rule, "warning")

    assert list_queries(client, "/api/v1/alerts/") == few


def test_walking_the_alert_list_reaches_every_alert_even_with_more_than_a_thousand_of_one_severity(
    api, clinician, team
):
    from datetime import timedelta

    from django.utils import timezone

    patients = PatientFactory.create_batch(3, care_team=team)
    start = timezone.now()
    alerts = Alert.objects.bulk_create(
        Alert(
            patient=patients[n % 3],
            rule=f"rule{n}",
            severity="warning",
            created_at=start - timedelta(seconds=n % 7),
        )
        for n in range(1050)
    )
    Alert.objects.bulk_create([Alert(patient=patients[0], rule="red", severity="urgent", created_at=start)])
    client = api(clinician)
    seen, url = [], "/api/v1/alerts/?page_size=100"
    while url:
        page = client.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]

    assert len(seen) == len(set(seen)) == 1051
    assert seen[0] == str(Alert.objects.get(rule="red").pk)
    assert {str(a.pk) for a in alerts} <= set(seen)
    first = client.get("/api/v1/alerts/?page_size=100").json()
    second = client.get(first["next"]).json()
    assert client.get(second["previous"]).json()["results"] == first["results"]


def test_a_caregiver_naming_a_patient_they_are_not_linked_to_gets_404_on_the_alert_list(
    api, caregiver, other_patient
):
    assert api(caregiver).get(f"/api/v1/alerts/?patient={other_patient.pk}").status_code == 404


def test_a_push_reaches_the_users_other_phones_when_one_token_is_stale(clinician):

    Device.objects.create(user=clinician, platform="fcm", token="stale")
    Device.objects.create(user=clinician, platform="apns", token="fresh")
    delivered = []

    class OneStaleToken:
        def send(self, *, platform, token, payload):
            if token == "stale":
                raise DeliveryError("HTTP 404")
            delivered.append(token)

    notification = Notification.objects.create(key="k1", kind="reminder", channel="push", recipient=clinician)
    PushChannel(transport=OneStaleToken()).send(notification)
    assert delivered == ["fresh"]

    Device.objects.filter(token="fresh").delete()
    with pytest.raises(DeliveryError, match="404"):
        PushChannel(transport=OneStaleToken()).send(notification)


def test_a_paging_webhook_must_use_https(api, team, team_admin):
    body = {
        "tiers": [
            {"recipients": {"team_roles": ["nurse"]}, "timeout_minutes": {"urgent": 15, "warning": 240}}
        ],
        "webhook_url": "http://pager.example/hook",
        "webhook_secret": "s3cret",
    }
    response = api(team_admin).put(f"/api/v1/teams/{team.pk}/escalation-policy/", body, format="json")
    assert response.status_code == 400
    assert "webhook_url" in response.json()["errors"]
