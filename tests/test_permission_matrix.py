"""Who may do what: one row per API operation, one expected status per persona.

Adding an endpoint? `test_every_api_operation_has_a_row_in_the_matrix` fails, naming it,
until MATRIX has its row, e.g.

    ("POST", "patients/{id}/invites/"): row(401, 201, 404, 403, 403, 404, 201, 404, 201,
                                             params=PATIENT, body=lambda w: {"role": "caregiver"}),

- the key is the method and the schema's path without `/api/v1/`;
- the nine statuses follow ACTORS (personas of tests/conftest.py; `blind_caregiver` is
  linked without can_view). The target is always `patient`'s object or `team`: another
  patient's or team's object is a 404, never a 403;
- `params`, `query` and `body` are callables taking the World (`w.patient`, `w.team`,
  `w.link`, ..., and `w.actor`, the user making the request) that return the path
  parameters, the query and a valid JSON body; `given` prepares data first. Helpers such
  as `record(w, "checkins")` or `alert(w)` make an object of `patient` once per case;
- `listed` makes the row a list: per actor, the names (in `w.objects`) of exactly what
  the answer holds; an actor not named must get an empty list.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework_simplejwt.tokens import RefreshToken

from alerts.models import Alert, AlertRuleConfig, ReferralRecommendation, default_tiers
from care import services
from care.models import CaregiverLink, User
from tests.conftest import client_for
from tests.factories import PASSWORD

PREFIX = "/api/v1/"
ACTORS = ("anonymous", "patient", "other_patient", "caregiver", "blind_caregiver", "revoked_caregiver",
          "clinician", "other_team_clinician", "team_admin")  # fmt: skip
STRONG = "a-long-unusual-passphrase-42"


@dataclass
class World:
    users: dict[str, User | None]  # actor name → user
    objects: dict[str, Any]  # name → object, for params and `listed`
    actor: User | None = None

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["objects"][name]
        except KeyError:
            raise AttributeError(name) from None

    def once(self, name: str, make: Callable[[], Any]) -> Any:
        if name not in self.objects:
            self.objects[name] = make()
        return self.objects[name]


@dataclass(frozen=True)
class Row:
    statuses: tuple[int, ...]
    params: Callable[[World], dict] = lambda w: {}
    query: Callable[[World], dict] = lambda w: {}
    body: Callable[[World], Any] | None = None
    given: Callable[[World], Any] = lambda w: None
    listed: dict[str, str] | None = None


def row(*statuses: int, **options: Any) -> Row:
    assert len(statuses) == len(ACTORS), statuses
    return Row(statuses, **options)


def an_hour_ago() -> str:
    return (timezone.now() - timedelta(hours=1)).isoformat()


# Diary collections: a valid new record (without id and patient), and a valid correction.
DIARY: dict[str, tuple[Callable[[], dict], dict]] = {
    "checkins": (lambda: {"recorded_at": an_hour_ago(), "pain_now": 5}, {"pain_now": 8}),
    "adverse-effects": (lambda: {"recorded_at": an_hour_ago(), "effect": "nausea", "grade": 2}, {"grade": 3}),
    "boluses": (
        lambda: {"occurred_at": an_hour_ago(), "outcome": "delivered"},
        {"outcome": "denied_lockout"},
    ),
    "medications": (
        lambda: {"taken_at": an_hour_ago(), "drug": "oxycodone", "dose": 10, "unit": "mg", "route": "oral"},
        {"dose": 20},
    ),
}


def new_record(collection: str) -> Callable[[World], dict]:
    return lambda w: {"id": str(uuid.uuid4()), "patient": str(w.patient.pk), **DIARY[collection][0]()}


def record(w: World, collection: str) -> uuid.UUID:
    """One of `patient`'s diary records, made through the API as the patient's phone would."""

    def make():
        body = new_record(collection)(w)
        response = client_for(w.patient.user).post(f"{PREFIX}diary/{collection}/", body, format="json")
        assert response.status_code == 201, response.content
        return uuid.UUID(body["id"])

    return w.once(collection, make)


def alert(w: World) -> Alert:
    return w.once(
        "alert", lambda: Alert.objects.create(patient=w.patient, rule="persistent_pain", severity="warning")
    )


def referral(w: World, status: str = ReferralRecommendation.Status.SUGGESTED) -> ReferralRecommendation:
    return w.once("referral", lambda: ReferralRecommendation.objects.create(patient=w.patient, status=status))


def rule_config(w: World) -> AlertRuleConfig:
    return w.once(
        "rule_config", lambda: AlertRuleConfig.objects.create(rule="persistent_pain", care_team=w.team)
    )


def own_refresh_token(w: World) -> dict:
    return {"refresh": str(RefreshToken.for_user(w.actor)) if w.actor else "not-a-token"}


def caregiver_invite(w: World) -> dict:
    _, code = services.issue_invite(patient=w.patient, by=w.users["clinician"], role="caregiver")
    return {"code": code, "username": "newcomer", "password": STRONG}


PATIENT = lambda w: {"id": w.patient.pk}  # noqa: E731 - one-liners keep the table a table
PATIENT_ID = lambda w: {"patient_id": w.patient.pk}  # noqa: E731
LINK = lambda w: {"patient_pk": w.patient.pk, "id": w.link.pk}  # noqa: E731
ALERT = lambda w: {"id": alert(w).pk}  # noqa: E731
REFERRAL = lambda w: {"id": referral(w).pk}  # noqa: E731
RULE = lambda w: {"id": rule_config(w).pk}  # noqa: E731
TEAM = lambda w: {"team_id": w.team.pk}  # noqa: E731
BOTH, LINKS = "patient other_patient", "link blind_link revoked_link"

# fmt: off
MATRIX: dict[tuple[str, str], Row] = {
    #                                  anon  pat  oth care blind rev clin  otc adm
    ("POST", "auth/token/"):        row(200, 200, 200, 200, 200, 200, 200, 200, 200,
                                        body=lambda w: {"username": "rosa", "password": PASSWORD}),
    ("POST", "auth/token/refresh/"): row(200, 200, 200, 200, 200, 200, 200, 200, 200,
                                         body=lambda w: {"refresh": str(RefreshToken.for_user(w.patient.user))}),
    ("POST", "auth/logout/"):       row(401, 205, 205, 205, 205, 205, 205, 205, 205, body=own_refresh_token),
    ("POST", "auth/enroll/"):       row(201, 201, 201, 201, 201, 201, 201, 201, 201, body=caregiver_invite),
    ("POST", "auth/password/"):     row(401, 204, 204, 204, 204, 204, 204, 204, 204,
                                        body=lambda w: {"old_password": PASSWORD, "new_password": STRONG}),
    ("GET", "me/"):                 row(401, 200, 200, 200, 200, 200, 200, 200, 200),
    ("PATCH", "me/"):               row(401, 200, 200, 200, 200, 200, 200, 200, 200, body=lambda w: {"language": "it"}),
    # A patient's own data: export it, or withdraw consent (erasure); nobody else's.
    ("GET", "me/export/"):          row(401, 200, 200, 403, 403, 403, 403, 403, 403),
    ("POST", "me/erase/"):          row(401, 200, 200, 403, 403, 403, 403, 403, 403,
                                        body=lambda w: {"password": PASSWORD, "confirm": True}),
    ("POST", "devices/"):           row(401, 201, 201, 201, 201, 201, 201, 201, 201,
                                        body=lambda w: {"platform": "fcm", "token": "device-1"}),
    ("DELETE", "devices/"):         row(401, 204, 204, 204, 204, 204, 204, 204, 204,
                                        body=lambda w: {"token": "device-1"}),
    ("GET", "devices/webpush-key/"): row(200, 200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "catalog/"):            row(200, 200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "teams/"):              row(401, 403, 403, 403, 403, 403, 200, 200, 200, listed={
                                        "clinician": "team", "other_team_clinician": "other_team", "team_admin": "team"}),
    ("GET", "patients/"):           row(401, 200, 200, 200, 200, 200, 200, 200, 200, listed={
                                        "patient": "patient", "other_patient": "other_patient", "caregiver": "patient",
                                        "blind_caregiver": "patient", "clinician": BOTH, "team_admin": BOTH}),
    ("POST", "patients/"):          row(401, 403, 403, 403, 403, 403, 201, 400, 201, body=lambda w: {
                                        "display_name": "Nadia", "care_team": str(w.team.pk),
                                        "timezone": "Europe/Rome", "language": "it"}),
    ("GET", "patients/{id}/"):      row(401, 200, 404, 200, 200, 404, 200, 404, 200, params=PATIENT),
    ("PATCH", "patients/{id}/"):    row(401, 200, 404, 200, 200, 404, 200, 404, 200, params=PATIENT,
                                        body=lambda w: {"language": "it"}),
    ("POST", "patients/{id}/invites/"): row(401, 201, 404, 403, 403, 404, 201, 404, 201, params=PATIENT,
                                            body=lambda w: {"role": "caregiver"}),
    ("GET", "patients/{patient_pk}/caregivers/"): row(401, 200, 404, 403, 403, 404, 200, 404, 200,
        params=lambda w: {"patient_pk": w.patient.pk}, listed={"patient": LINKS, "clinician": LINKS, "team_admin": LINKS}),
    ("PATCH", "patients/{patient_pk}/caregivers/{id}/"): row(401, 200, 404, 403, 403, 404, 200, 404, 200,
                                                             params=LINK, body=lambda w: {"can_report": False}),
    ("DELETE", "patients/{patient_pk}/caregivers/{id}/"): row(401, 204, 404, 403, 403, 404, 204, 404, 204, params=LINK),
    ("GET", "patients/{patient_id}/summary/"): row(401, 200, 404, 200, 403, 404, 200, 404, 200, params=PATIENT_ID),
    ("GET", "patients/{patient_id}/fhir/"): row(401, 200, 404, 403, 403, 404, 200, 404, 200, params=PATIENT_ID),
    ("GET", "patients/{patient_id}/export.csv"): row(401, 403, 404, 403, 403, 404, 200, 404, 200, params=PATIENT_ID),
    ("POST", "sync/"):              row(401, 200, 200, 200, 200, 200, 200, 200, 200,
                                        body=lambda w: {"checkins": [new_record("checkins")(w)]}),
    # The change feed is a diary read: a caregiver needs can_view, a stranger gets 404.
    ("GET", "sync/changes/"):       row(401, 200, 404, 200, 403, 404, 200, 404, 200,
                                        given=lambda w: record(w, "checkins"),
                                        query=lambda w: {"patient": w.patient.pk}),
    # Patients and caregivers see their alerts' status only, clinicians the alerts themselves;
    # a caregiver whose link does not let them read the diary sees no alert of it.
    ("GET", "alerts/"):             row(401, 200, 200, 200, 200, 200, 200, 200, 200, given=alert, listed={
                                        "patient": "alert", "caregiver": "alert",
                                        "clinician": "alert", "team_admin": "alert"}),
    ("GET", "alerts/{id}/"):        row(401, 403, 404, 403, 404, 404, 200, 404, 200, params=ALERT),
    ("POST", "alerts/{id}/acknowledge/"): row(401, 403, 404, 403, 404, 404, 200, 404, 200, params=ALERT,
                                              body=lambda w: {"note": "Called her"}),
    ("POST", "alerts/{id}/resolve/"): row(401, 403, 404, 403, 404, 404, 200, 404, 200, params=ALERT,
                                          body=lambda w: {"resolution": "Dose changed"}),
    ("GET", "referrals/"):          row(401, 403, 403, 403, 403, 403, 200, 200, 200, given=referral,
                                        listed={"clinician": "referral", "team_admin": "referral"}),
    ("GET", "referrals/{id}/"):     row(401, 403, 403, 403, 403, 403, 200, 404, 200, params=REFERRAL),
    ("POST", "referrals/{id}/accept/"): row(401, 403, 403, 403, 403, 403, 200, 404, 200, params=REFERRAL),
    ("POST", "referrals/{id}/decline/"): row(401, 403, 403, 403, 403, 403, 200, 404, 200, params=REFERRAL,
                                             body=lambda w: {"reason": "Not now"}),
    ("POST", "referrals/{id}/complete/"): row(401, 403, 403, 403, 403, 403, 200, 404, 200,
                                              params=lambda w: {"id": referral(w, status="accepted").pk}),
    # Clinicians read rules and policies of their teams; only a team admin changes them.
    ("GET", "alert-rules/"):        row(401, 403, 403, 403, 403, 403, 200, 200, 200, given=rule_config,
                                        listed={"clinician": "rule_config", "team_admin": "rule_config"}),
    ("POST", "alert-rules/"):       row(401, 403, 403, 403, 403, 403, 403, 400, 201, body=lambda w: {
                                        "rule": "pain_interference", "care_team": str(w.team.pk), "params": {}}),
    ("GET", "alert-rules/{id}/"):   row(401, 403, 403, 403, 403, 403, 200, 404, 200, params=RULE),
    ("PATCH", "alert-rules/{id}/"): row(401, 403, 403, 403, 403, 403, 403, 404, 200, params=RULE,
                                        body=lambda w: {"enabled": False}),
    ("GET", "teams/{team_id}/escalation-policy/"): row(401, 403, 403, 403, 403, 403, 200, 404, 200, params=TEAM),
    ("PUT", "teams/{team_id}/escalation-policy/"): row(401, 403, 403, 403, 403, 403, 403, 404, 200, params=TEAM,
                                                       body=lambda w: {"tiers": default_tiers()}),
    # Where referrals are pushed, and the secret that signs them: team admins only.
    ("GET", "teams/{team_id}/fhir-endpoint/"): row(401, 403, 403, 403, 403, 403, 403, 404, 200, params=TEAM),
    ("PUT", "teams/{team_id}/fhir-endpoint/"): row(401, 403, 403, 403, 403, 403, 403, 404, 200, params=TEAM,
        body=lambda w: {"url": "https://ehr.hospital.example/fhir/hook", "secret": "s" * 32, "enabled": True}),
}
for _c in DIARY:
    _record = lambda w, c=_c: {"id": record(w, c)}  # noqa: E731
    MATRIX |= {
        ("GET", f"diary/{_c}/"):        row(401, 200, 404, 200, 403, 404, 200, 404, 200, given=_record,
                                            query=lambda w: {"patient": w.patient.pk},
                                            listed={"patient": _c, "caregiver": _c, "clinician": _c, "team_admin": _c}),
        # A patient's records are always their own: `patient` in their body is ignored.
        ("POST", f"diary/{_c}/"):       row(401, 201, 201, 201, 201, 404, 201, 404, 201, body=new_record(_c)),
        ("GET", f"diary/{_c}/{{id}}/"): row(401, 200, 404, 200, 403, 404, 200, 404, 200, params=_record),
        # Correcting or retracting answers with the record: it takes can_view too.
        ("PATCH", f"diary/{_c}/{{id}}/"): row(401, 200, 404, 200, 403, 404, 200, 404, 200, params=_record,
                                              body=lambda w, c=_c: DIARY[c][1]),
        ("POST", f"diary/{_c}/{{id}}/retract/"): row(401, 200, 404, 200, 403, 404, 200, 404, 200, params=_record,
                                                     body=lambda w: {"reason": "typo"}),
    }
# fmt: on


def test_every_api_operation_has_a_row_in_the_matrix():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = {
        (method.upper(), path.removeprefix(PREFIX))
        for path, path_item in schema["paths"].items()
        for method in path_item
        if path.startswith(PREFIX)
    }

    missing = sorted(operations - MATRIX.keys())
    stale = sorted(MATRIX.keys() - operations)

    assert not missing, f"add MATRIX rows (see the top of {__file__}) for: {missing}"
    assert not stale, f"MATRIX rows for operations that no longer exist: {stale}"


@pytest.fixture
def world(team, other_team, patient, other_patient, caregiver, blind_caregiver, revoked_caregiver,
          clinician, other_team_clinician, team_admin) -> World:  # fmt: skip
    links = {link.caregiver_id: link for link in CaregiverLink.objects.filter(patient=patient)}
    people = [patient.user, other_patient.user, caregiver, blind_caregiver, revoked_caregiver,
              clinician, other_team_clinician, team_admin]  # fmt: skip
    return World(
        users=dict(zip(ACTORS, [None, *people], strict=True)),
        objects={
            "team": team,
            "other_team": other_team,
            "patient": patient,
            "other_patient": other_patient,
            "link": links[caregiver.pk],
            "blind_link": links[blind_caregiver.pk],
            "revoked_link": links[revoked_caregiver.pk],
        },
    )


CASES = [
    (key, actor, status)
    for key, r in MATRIX.items()
    for actor, status in zip(ACTORS, r.statuses, strict=True)
]


@pytest.mark.django_db
@pytest.mark.parametrize(("key", "actor", "status"), CASES, ids=[f"{m} {p} as {a}" for (m, p), a, _ in CASES])
def test_each_persona_gets_the_answer_the_matrix_expects(world, key, actor, status):
    method, template = key
    r = MATRIX[key]
    world.actor = world.users[actor]
    r.given(world)
    url = PREFIX + template.format(**r.params(world))
    if query := r.query(world):
        url += "?" + urlencode(query)
    body = json.dumps(r.body(world)) if r.body else ""

    response = client_for(world.actor).generic(method, url, body, content_type="application/json")

    assert response.status_code == status, getattr(response, "content", b"")[:500]
    if r.listed is not None and status == 200:
        answer = response.json()
        items = answer["results"] if isinstance(answer, dict) else answer
        named = [getattr(world, name) for name in r.listed.get(actor, "").split()]
        assert {item["id"] for item in items} == {str(getattr(obj, "pk", obj)) for obj in named}
