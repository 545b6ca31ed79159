"""Clinic pages keep health data in their own tab: a strict CSP, no framing, no cache,
CSRF on every form, secure cookies outside the demo."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from care.checks import crossroad_deploy
from tests.clinic_signin import sign_in
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_clinic_pages_send_a_strict_content_security_policy(client, clinician):
    sign_in(client, clinician)
    policy = client.get("/clinic/")["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert directives["frame-ancestors"] == "'none'"


def test_no_clinic_page_carries_an_inline_script(client, clinician, patient):
    sign_in(client, clinician)
    for url in ("/clinic/", f"/clinic/patients/{patient.pk}/", "/clinic/account/"):
        page = client.get(url).content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), url
        assert " on" + "click=" not in page


def test_clinic_pages_are_never_stored_by_the_browser(client, clinician):
    assert client.get("/clinic/login/")["Cache-Control"] == "no-store"
    sign_in(client, clinician)
    assert client.get("/clinic/")["Cache-Control"] == "no-store"
    assert client.get("/clinic/")["X-Frame-Options"] == "DENY"


def test_the_api_keeps_its_own_headers(client):
    assert "Content-Security-Policy" not in client.get("/healthz")


def test_every_clinic_form_needs_its_csrf_token(clinician):
    strict = Client(enforce_csrf_checks=True)
    response = strict.post("/clinic/login/", {"username": clinician.username, "password": PASSWORD})
    assert response.status_code == 403


def test_session_and_csrf_cookies_are_secure_outside_the_demo(settings):
    assert settings.DEBUG is False
    assert settings.SESSION_COOKIE_SECURE is True
    assert settings.CSRF_COOKIE_SECURE is True


def test_check_deploy_names_a_clinic_without_two_factor(settings):

    assert "crossroad.W006" not in [w.id for w in crossroad_deploy(None)]
    settings.CLINIC_REQUIRE_2FA = False
    assert "crossroad.W006" in [w.id for w in crossroad_deploy(None)]
