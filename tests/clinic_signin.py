"""Signing in to the clinic as a clinician does it: password, then the authenticator's
current code, computed here from the device's key with django-otp's own TOTP."""

from __future__ import annotations

import secrets
import time

from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from care import twofactor
from tests.factories import PASSWORD


def authenticator_for(user) -> TOTPDevice:
    return twofactor.confirmed_authenticator(user) or twofactor.set_authenticator_key(
        user=user, key_hex=secrets.token_hex(20)
    )


def current_code(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return f"{totp.token():0{device.digits}d}"


def fresh_code(user) -> str:
    """The authenticator's code, or a recovery code when this 30-second code was already
    used (django-otp accepts each code once)."""
    device = authenticator_for(user)
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    if totp.t() > device.last_t:
        return current_code(device)
    token = StaticToken.objects.filter(device__user=user).first()
    return token.token if token else twofactor.issue_recovery_codes(user=user)[0]


def sign_in(client, user, password: str = PASSWORD):
    authenticator_for(user)
    response = client.post("/clinic/login/", {"username": user.username, "password": password})
    assert response.status_code == 302, response.content
    assert response["Location"] == "/clinic/login/code/"
    response = client.post("/clinic/login/code/", {"code": fresh_code(user)})
    assert response.status_code == 302, response.content
    return client
