"""Clinic sign-in: password, then a TOTP code or a recovery code; enrollment of the
authenticator; the API's `otp`; idle sessions; lockout shared with the API."""

from __future__ import annotations

import time

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from alerts.management.commands.seed_demo import DEMO_TOTP_SECRET, DEMO_TOTP_USERS
from care import twofactor
from care.models import User
from clinic.middleware import LAST_SEEN
from tests.clinic_signin import authenticator_for, current_code, sign_in
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

WRONG = "No active account found with the given credentials."


def test_password_then_code_opens_the_triage_page(client, clinician):
    sign_in(client, clinician)
    assert client.get("/clinic/").status_code == 200


def test_the_password_alone_reaches_no_page_and_no_api(client, clinician):
    authenticator_for(clinician)
    response = client.post("/clinic/login/", {"username": clinician.username, "password": PASSWORD})
    assert response["Location"] == "/clinic/login/code/"
    assert client.get("/clinic/").status_code == 302
    assert client.get("/api/v1/patients/").status_code in (401, 403)


def test_a_wrong_code_is_refused_and_counts_towards_the_lockout(client, clinician, settings):
    authenticator_for(clinician)
    client.post("/clinic/login/", {"username": clinician.username, "password": PASSWORD})
    response = client.post("/clinic/login/code/", {"code": "000000"})
    assert response.status_code == 200
    assert "This code is not right" in response.content.decode()
    clinician.refresh_from_db()
    assert clinician.failed_logins == 1
    assert client.get("/clinic/").status_code == 302


def test_repeated_wrong_codes_lock_the_account(client, clinician, settings):
    device = authenticator_for(clinician)
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # django-otp's own back-off is tested by django-otp
    client.post("/clinic/login/", {"username": clinician.username, "password": PASSWORD})
    for _ in range(settings.LOGIN_MAX_FAILURES):
        client.post("/clinic/login/code/", {"code": "000000"})
    clinician.refresh_from_db()
    assert clinician.is_locked()
    # Even the right password and code do not open it now.
    client.post("/clinic/login/", {"username": clinician.username, "password": PASSWORD})
    response = client.post("/clinic/login/code/", {"code": current_code(device)})
    assert client.get("/clinic/").status_code == 302
    assert response.status_code == 302
    assert response["Location"] == "/clinic/login/"


def test_a_recovery_code_works_once(client, clinician):
    authenticator_for(clinician)
    code = twofactor.issue_recovery_codes(user=clinician)[0]
    client.post("/clinic/login/", {"username": clinician.username, "password": PASSWORD})
    assert client.post("/clinic/login/code/", {"code": code})["Location"] == "/clinic/"
    client.post("/clinic/logout/")
    client.post("/clinic/login/", {"username": clinician.username, "password": PASSWORD})
    assert client.post("/clinic/login/code/", {"code": code}).status_code == 200


def test_a_clinician_without_authenticator_sets_one_up_with_a_qr_and_gets_recovery_codes(client, clinician):
    response = client.post("/clinic/login/", {"username": clinician.username, "password": PASSWORD})
    assert response["Location"] == "/clinic/login/authenticator/"
    page = client.get("/clinic/login/authenticator/").content.decode()
    assert "<svg" in page
    device = TOTPDevice.objects.get(user=clinician, confirmed=False)
    assert twofactor.base32_secret(device) in page
    assert client.get("/clinic/").status_code == 302  # not signed in yet

    response = client.post("/clinic/login/authenticator/", {"code": current_code(device)})
    page = response.content.decode()
    assert response.status_code == 200
    assert "shown only once" in page
    assert page.count("<li>") >= 10
    assert client.get("/clinic/").status_code == 200
    device.refresh_from_db()
    assert device.confirmed


def test_without_the_requirement_a_clinician_without_authenticator_signs_in_with_the_password(
    client, clinician, settings
):
    settings.CLINIC_REQUIRE_2FA = False
    response = client.post("/clinic/login/", {"username": clinician.username, "password": PASSWORD})
    assert response["Location"] == "/clinic/"
    assert client.get("/clinic/").status_code == 200


def test_a_session_from_the_admin_login_needs_the_clinics_second_step(client, clinician):
    client.force_login(clinician)
    response = client.get("/clinic/")
    assert response.status_code == 302
    assert response["Location"].startswith("/clinic/login/")


def test_an_idle_session_ends_and_polls_do_not_keep_it_alive(client, clinician, settings):
    sign_in(client, clinician)
    assert client.get("/clinic/").status_code == 200
    session = client.session
    session[LAST_SEEN] = time.time() - settings.CLINIC_IDLE_MINUTES * 60 + 30
    session.save()
    assert client.get("/clinic/?poll=1").status_code == 200
    assert client.session[LAST_SEEN] < time.time() - 60  # the poll did not count as use
    session = client.session
    session[LAST_SEEN] = time.time() - settings.CLINIC_IDLE_MINUTES * 60 - 1
    session.save()
    response = client.get("/clinic/")
    assert response.status_code == 302
    assert response["Location"] == "/clinic/login/"
    assert client.get("/clinic/").status_code == 302


def test_the_api_asks_a_clinician_with_an_authenticator_for_the_code(clinician, anonymous, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # django-otp's back-off after a wrong code is its own
    device = authenticator_for(clinician)
    body = {"username": clinician.username, "password": PASSWORD}
    missing = anonymous.post("/api/v1/auth/token/", body, format="json")
    assert missing.status_code == 401
    assert missing.json()["detail"] == WRONG
    wrong = anonymous.post("/api/v1/auth/token/", {**body, "otp": "000000"}, format="json")
    assert wrong.status_code == 401
    assert wrong.json()["detail"] == WRONG
    right = anonymous.post("/api/v1/auth/token/", {**body, "otp": current_code(device)}, format="json")
    assert right.status_code == 200
    assert "access" in right.json()


def test_the_api_takes_a_recovery_code_once(clinician, anonymous, settings):
    settings.OTP_STATIC_THROTTLE_FACTOR = 0
    authenticator_for(clinician)
    code = twofactor.issue_recovery_codes(user=clinician)[0]
    body = {"username": clinician.username, "password": PASSWORD, "otp": code}
    assert anonymous.post("/api/v1/auth/token/", body, format="json").status_code == 200
    assert anonymous.post("/api/v1/auth/token/", body, format="json").status_code == 401


def test_the_api_asks_no_code_from_a_patient_or_a_clinician_without_authenticator(
    patient, clinician, anonymous
):
    for user in (patient.user, clinician):
        body = {"username": user.username, "password": PASSWORD}
        assert anonymous.post("/api/v1/auth/token/", body, format="json").status_code == 200


def test_an_idle_session_cannot_read_the_api_either(client, clinician, patient, settings):
    sign_in(client, clinician)
    assert client.get("/api/v1/patients/").status_code == 200
    session = client.session
    session[LAST_SEEN] = time.time() - settings.CLINIC_IDLE_MINUTES * 60 - 1
    session.save()
    assert client.get("/api/v1/patients/").status_code in (401, 403)
    assert client.get("/clinic/").status_code == 302


def test_the_demo_clinicians_have_the_published_key_and_the_command_prints_its_code(settings):
    import io

    from django.core.management import call_command

    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())
    for username in DEMO_TOTP_USERS:
        device = twofactor.confirmed_authenticator(User.objects.get(username=username))
        assert twofactor.base32_secret(device) == DEMO_TOTP_SECRET
    assert twofactor.confirmed_authenticator(User.objects.get(username="admin-demo")) is None
    out = io.StringIO()
    call_command("demo_totp_code", stdout=out)
    code = out.getvalue().split()[0]
    device = twofactor.confirmed_authenticator(User.objects.get(username="nurse-demo"))
    assert device.verify_token(code)  # django-otp accepts it (one step of drift allowed)


def test_outside_the_demo_nobody_gets_the_published_key(settings):
    import io

    from django.core.management import call_command

    call_command("seed_demo", stdout=io.StringIO())
    assert twofactor.confirmed_authenticator(User.objects.get(username="nurse-demo")) is None
