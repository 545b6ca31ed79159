"""Login, lockout, throttling, token rotation and revocation, enrollment (API.md "Auth and enrollment")."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import jwt
import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from care.models import CaregiverLink, Invite, Role, User
from tests.factories import PASSWORD, CaregiverLinkFactory, PatientFactory

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token/"
REFRESH = "/api/v1/auth/token/refresh/"
LOGOUT = "/api/v1/auth/logout/"
ENROLL = "/api/v1/auth/enroll/"
PASSWORD_CHANGE = "/api/v1/auth/password/"
ME = "/api/v1/me/"
STRONG = "a-long-unusual-passphrase-42"


def login(username: str, password: str, client: APIClient | None = None):
    return (client or APIClient()).post(TOKEN, {"username": username, "password": password}, format="json")


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def refresh(token: str):
    return APIClient().post(REFRESH, {"refresh": token}, format="json")


def enroll(code: str, username: str = "newcomer", password: str = STRONG):
    body = {"code": code, "username": username, "password": password}
    return APIClient().post(ENROLL, body, format="json")


def invite(api, user, patient, **body):
    response = api(user).post(f"/api/v1/patients/{patient.pk}/invites/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()["code"]


def test_a_patient_logs_in_and_the_access_token_opens_their_profile(patient):
    response = login("rosa", PASSWORD)

    assert response.status_code == 200
    assert set(response.json()) == {"access", "refresh"}
    me = bearer(response.json()["access"]).get(ME)
    assert me.json()["patient"] == str(patient.pk)


def test_a_wrong_password_is_refused_with_401(patient):
    response = login("rosa", "not-the-password")

    assert response.status_code == 401
    assert "access" not in response.json()


def test_five_failed_logins_lock_the_account_for_fifteen_minutes_even_against_the_right_password(patient):
    before = timezone.now()
    wrong = [login("rosa", f"guess-{n}") for n in range(settings.LOGIN_MAX_FAILURES)]
    after = timezone.now()
    assert {response.status_code for response in wrong} == {401}

    right_password = login("rosa", PASSWORD)
    assert right_password.status_code == 401
    assert right_password.content == wrong[0].content

    with mock.patch("django.utils.timezone.now", return_value=before + timedelta(minutes=14, seconds=59)):
        still_locked = login("rosa", PASSWORD)
    assert still_locked.status_code == 401
    assert still_locked.content == wrong[0].content

    with mock.patch("django.utils.timezone.now", return_value=after + timedelta(minutes=15, seconds=1)):
        unlocked = login("rosa", PASSWORD)
    assert unlocked.status_code == 200


def test_a_successful_login_resets_the_count_of_failures(patient):
    for n in range(settings.LOGIN_MAX_FAILURES - 1):
        login("rosa", f"guess-{n}")
    assert login("rosa", PASSWORD).status_code == 200

    for n in range(settings.LOGIN_MAX_FAILURES - 1):
        login("rosa", f"guess-{n}")

    assert login("rosa", PASSWORD).status_code == 200


def test_a_locked_account_answers_like_an_unknown_one(patient):
    for n in range(settings.LOGIN_MAX_FAILURES):
        login("rosa", f"guess-{n}")

    assert login("rosa", PASSWORD).content == login("nobody-by-this-name", PASSWORD).content


def test_more_than_the_address_budget_of_login_and_enrollment_attempts_a_minute_answer_429(patient):
    allowed, _ = SimpleRateThrottle.parse_rate(
        None, settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["auth"]
    )
    phone = APIClient(REMOTE_ADDR="203.0.113.7")
    # Login and enrollment share one budget per address.
    for n in range(allowed):
        if n % 2:
            response = phone.post(
                ENROLL, {"code": "NOPE", "username": "x", "password": STRONG}, format="json"
            )
        else:
            response = login("somebody", "wrong", client=phone)
        assert response.status_code in (400, 401), n

    throttled = login("rosa", PASSWORD, client=phone)
    throttled_enroll = phone.post(
        ENROLL, {"code": "NOPE", "username": "x", "password": STRONG}, format="json"
    )

    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) > 0
    assert throttled_enroll.status_code == 429
    assert login("rosa", PASSWORD, client=APIClient(REMOTE_ADDR="198.51.100.1")).status_code == 200


def test_refreshing_rotates_the_refresh_token_and_the_old_one_stops_working(patient):
    first = login("rosa", PASSWORD).json()["refresh"]

    rotated = refresh(first)

    assert rotated.status_code == 200
    assert set(rotated.json()) == {"access", "refresh"}
    assert rotated.json()["refresh"] != first
    assert bearer(rotated.json()["access"]).get(ME).status_code == 200
    assert refresh(first).status_code == 401


def test_replaying_a_rotated_refresh_token_revokes_the_newest_one_too(patient):
    stolen = login("rosa", PASSWORD).json()["refresh"]
    newest = refresh(stolen).json()["refresh"]

    replay = refresh(stolen)

    assert replay.status_code == 401
    assert refresh(newest).status_code == 401


def test_replay_revokes_only_that_users_tokens(patient, other_patient):
    stolen = login("rosa", PASSWORD).json()["refresh"]
    refresh(stolen)
    bruno = login("bruno", PASSWORD).json()["refresh"]

    refresh(stolen)

    assert refresh(bruno).status_code == 200


def test_logout_revokes_the_refresh_token(patient):
    tokens = login("rosa", PASSWORD).json()

    response = bearer(tokens["access"]).post(LOGOUT, {"refresh": tokens["refresh"]}, format="json")

    assert response.status_code == 205
    assert refresh(tokens["refresh"]).status_code == 401


def test_logout_refuses_another_users_refresh_token(patient, other_patient):
    rosa = login("rosa", PASSWORD).json()
    bruno = login("bruno", PASSWORD).json()

    response = bearer(rosa["access"]).post(LOGOUT, {"refresh": bruno["refresh"]}, format="json")

    assert response.status_code == 400
    assert "refresh" in response.json()["errors"]
    assert refresh(bruno["refresh"]).status_code == 200


def test_a_password_change_ends_every_session_of_that_user(patient):
    phone = login("rosa", PASSWORD).json()
    tablet = login("rosa", PASSWORD).json()

    response = bearer(phone["access"]).post(
        PASSWORD_CHANGE, {"old_password": PASSWORD, "new_password": STRONG}, format="json"
    )

    assert response.status_code == 204
    for session in (phone, tablet):
        assert bearer(session["access"]).get(ME).status_code == 401
        assert refresh(session["refresh"]).status_code == 401
    assert login("rosa", PASSWORD).status_code == 401
    assert login("rosa", STRONG).status_code == 200


def test_a_password_change_needs_the_current_password_and_a_strong_new_one(api, patient):
    client = api(patient.user)

    wrong_old = client.post(PASSWORD_CHANGE, {"old_password": "nope", "new_password": STRONG}, format="json")
    weak_new = client.post(
        PASSWORD_CHANGE, {"old_password": PASSWORD, "new_password": "12345"}, format="json"
    )

    assert wrong_old.status_code == 400
    assert "old_password" in wrong_old.json()["errors"]
    assert weak_new.status_code == 400
    assert "new_password" in weak_new.json()["errors"]
    assert login("rosa", PASSWORD).status_code == 200


def _alg_none(user: User) -> str:
    payload = AccessToken.for_user(user).payload
    return jwt.encode(payload, key=None, algorithm="none")


def _wrong_key(user: User) -> str:
    return jwt.encode(
        AccessToken.for_user(user).payload, "not-our-signing-key-0123456789abcdef", algorithm="HS256"
    )


def _expired(user: User) -> str:
    token = AccessToken.for_user(user)
    token.set_exp(from_time=timezone.now() - timedelta(hours=1))
    return str(token)


def _refresh_as_access(user: User) -> str:
    return str(RefreshToken.for_user(user))


def _deactivated(user: User) -> str:
    token = str(AccessToken.for_user(user))
    User.objects.filter(pk=user.pk).update(is_active=False)
    return token


@pytest.mark.parametrize(
    "forge",
    [_alg_none, _wrong_key, _expired, _refresh_as_access, _deactivated],
    ids=["alg-none", "wrong-signature", "expired", "refresh-used-as-access", "deactivated-user"],
)
def test_a_forged_or_dead_access_token_is_refused_with_401(patient, forge):
    response = bearer(forge(patient.user)).get(ME)

    assert response.status_code == 401


def test_a_deactivated_user_cannot_refresh(patient):
    tokens = login("rosa", PASSWORD).json()
    User.objects.filter(pk=patient.user.pk).update(is_active=False)

    assert refresh(tokens["refresh"]).status_code == 401


def test_a_deleted_user_cannot_refresh(patient):
    tokens = login("rosa", PASSWORD).json()
    patient.user.delete()

    assert refresh(tokens["refresh"]).status_code == 401


@pytest.fixture
def new_patient(team):
    """Created by the clinic, not yet on the app: no account until the code is redeemed."""
    return PatientFactory(care_team=team, user=None, activated_at=None, display_name="Nadia")


def test_a_clinician_invites_a_patient_who_enrolls_with_the_code(api, clinician, new_patient):
    response = api(clinician).post(
        f"/api/v1/patients/{new_patient.pk}/invites/", {"role": "patient"}, format="json"
    )
    assert response.status_code == 201
    assert set(response.json()) >= {"code", "expires_at"}

    enrolled = enroll(response.json()["code"], username="nadia")

    assert enrolled.status_code == 201
    body = enrolled.json()
    assert (body["role"], body["patient"]) == ("patient", str(new_patient.pk))
    me = bearer(body["access"]).get(ME).json()
    assert (me["username"], me["patient"]) == ("nadia", str(new_patient.pk))
    assert refresh(body["refresh"]).status_code == 200


def test_used_expired_and_unknown_codes_fail_alike(api, clinician, new_patient, patient):
    used = invite(api, clinician, new_patient, role="patient")
    assert enroll(used, username="nadia").status_code == 201
    expired = invite(api, clinician, patient, role="caregiver")

    again = enroll(used, username="nadia2")
    with mock.patch("django.utils.timezone.now", return_value=timezone.now() + settings.INVITE_LIFETIME):
        too_late = enroll(expired, username="late")
    unknown = enroll("ABCD-EFGH-JKLM-NPQR", username="stranger")

    assert {again.status_code, too_late.status_code, unknown.status_code} == {400}
    assert again.content == too_late.content == unknown.content
    assert not User.objects.filter(username__in=["nadia2", "late", "stranger"]).exists()


def test_a_weak_password_is_refused_and_leaves_the_code_usable(api, clinician, new_patient):
    code = invite(api, clinician, new_patient, role="patient")

    weak = enroll(code, username="nadia", password="password")

    assert weak.status_code == 400
    assert "password" in weak.json()["errors"]
    assert not User.objects.filter(username="nadia").exists()
    assert enroll(code, username="nadia").status_code == 201


def test_a_caregiver_invite_links_the_caregiver_with_the_invites_permissions(api, patient):
    code = invite(api, patient.user, patient, role="caregiver", relationship="son", can_view=False)

    response = enroll(code, username="luca")

    assert response.status_code == 201
    assert (response.json()["role"], response.json()["patient"]) == ("caregiver", str(patient.pk))
    link = CaregiverLink.objects.get(caregiver__username="luca")
    assert (link.patient, link.relationship, link.can_view, link.can_report) == (patient, "son", False, True)
    assert link.caregiver.role == Role.CAREGIVER


def test_a_patient_may_invite_only_caregivers(api, patient):
    response = api(patient.user).post(
        f"/api/v1/patients/{patient.pk}/invites/", {"role": "patient"}, format="json"
    )

    assert response.status_code == 400
    assert "role" in response.json()["errors"]
    assert not Invite.objects.exists()


def test_a_caregiver_may_not_invite(api, patient, caregiver):
    body = {"role": "caregiver"}
    response = api(caregiver).post(f"/api/v1/patients/{patient.pk}/invites/", body, format="json")

    assert response.status_code == 403
    assert not Invite.objects.exists()


def test_a_clinician_of_another_team_cannot_tell_the_patient_exists(api, other_team_clinician, patient):
    body = {"role": "caregiver"}
    response = api(other_team_clinician).post(f"/api/v1/patients/{patient.pk}/invites/", body, format="json")

    assert response.status_code == 404


def test_an_enrolled_caregiver_reaches_the_patient_on_their_profile(api, patient):
    code = invite(api, patient.user, patient, role="caregiver")

    access = enroll(code, username="luca").json()["access"]

    assert [p["id"] for p in bearer(access).get(ME).json()["patients"]] == [str(patient.pk)]


def test_a_taken_username_is_refused_and_the_code_stays_usable(api, patient):
    code = invite(api, patient.user, patient, role="caregiver")
    CaregiverLinkFactory(patient=patient, caregiver__username="luca")

    taken = enroll(code, username="luca")

    assert taken.status_code == 400
    assert "username" in taken.json()["errors"]
    assert enroll(code, username="luca2").status_code == 201
