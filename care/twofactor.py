"""The second factor of a clinician's sign-in: a TOTP authenticator (RFC 6238) and one-time
recovery codes, both from django-otp; nothing here computes a code by hand.

Used by the clinic's web login and by the API's `POST auth/token/` (API.md: a clinician
with a confirmed device must send `otp`). A wrong or missing code counts as a failed
login towards the lockout, and is answered exactly as a wrong password.
"""

from __future__ import annotations

import segno
from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.exceptions import AuthenticationFailed

from care import lockout
from care.models import Role, User

RECOVERY_CODE_COUNT = 10
AUTHENTICATOR_NAME = "authenticator"
RECOVERY_NAME = "recovery"
# The API's own wording for a wrong password (care.auth.WRONG_CREDENTIALS): same msgid,
# so a wrong code reads exactly like a wrong password in every language.
WRONG_CREDENTIALS = _("No active account found with the given credentials.")


def confirmed_authenticator(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def needs_second_factor(user: User) -> bool:
    """Clinicians with a confirmed authenticator always give a code; without one, the
    clinic pages make them enroll first when CLINIC_REQUIRE_2FA is on."""
    return user.role == Role.CLINICIAN and confirmed_authenticator(user) is not None


def must_enroll(user: User) -> bool:
    return (
        user.role == Role.CLINICIAN and settings.CLINIC_REQUIRE_2FA and confirmed_authenticator(user) is None
    )


def verify_code(*, user: User, code: str) -> Device | None:
    """The device that accepts this code: the authenticator's current code (each used once:
    django-otp remembers the last time step) or an unused recovery code, which is deleted."""
    code = "".join((code or "").split()).lower()
    if not code:
        return None
    # Six digits go to the authenticator, anything else to the recovery codes: a code
    # tried on the wrong device would count against that device's own throttle.
    model = TOTPDevice if code.isdigit() and len(code) == 6 else StaticDevice
    with transaction.atomic():
        for device in model.objects.select_for_update().filter(user=user, confirmed=True):
            if device.verify_token(code):
                return device
    return None


def check_login_code(*, user: User, code: str | None, counted: bool = False) -> Device | None:
    """For a password already checked: None when no second factor is needed, the device
    when the code is right; a wrong or missing code is a failed login. The attempt is
    counted before the code is checked, as a password is (care/lockout.py), unless the
    caller counted it already (the API checks password and code as one attempt)."""
    if not needs_second_factor(user):
        return None
    if not counted and not lockout.claim_password_attempt(user=user):
        return None
    device = verify_code(user=user, code=code or "")
    if device is not None and not counted:
        lockout.record_password_success(user=user)
    return device


def require_api_code(*, user: User, code: str | None) -> None:
    """`POST auth/token/`: 401 worded as a wrong password when the code is missing or wrong."""
    if needs_second_factor(user) and check_login_code(user=user, code=code, counted=True) is None:
        raise AuthenticationFailed(WRONG_CREDENTIALS, "no_active_account")


@transaction.atomic
def start_authenticator(*, user: User) -> TOTPDevice:
    """A new, unconfirmed authenticator; an earlier unfinished enrollment is discarded."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name=AUTHENTICATOR_NAME, confirmed=False)


@transaction.atomic
def confirm_authenticator(*, device: TOTPDevice, code: str) -> list[str] | None:
    """Confirm the authenticator with its first code and issue fresh recovery codes, which
    are returned once (only their use is stored, by django-otp, in plain: they are
    single-use and deleted when used). None when the code is wrong."""
    device = TOTPDevice.objects.select_for_update().get(pk=device.pk)
    if not device.verify_token("".join((code or "").split())):
        return None
    TOTPDevice.objects.filter(user=device.user, confirmed=True).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    return issue_recovery_codes(user=device.user)


@transaction.atomic
def issue_recovery_codes(*, user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    static = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=static, token=code) for code in codes])
    return codes


@transaction.atomic
def set_authenticator_key(*, user: User, key_hex: str) -> TOTPDevice:
    """A confirmed authenticator with a known key: the demo's documented secret only."""
    TOTPDevice.objects.filter(user=user).delete()
    return TOTPDevice.objects.create(user=user, name=AUTHENTICATOR_NAME, key=key_hex, confirmed=True)


def provisioning_qr_svg(device: TOTPDevice) -> str:
    """The otpauth:// URI as an inline SVG QR code (no image file, no request elsewhere)."""
    return segno.make(device.config_url, error="m").svg_inline(scale=4, border=2, dark="#000", light="#fff")


def base32_secret(device: TOTPDevice) -> str:
    """The secret as authenticator apps type it in when the QR cannot be scanned."""
    import base64

    return base64.b32encode(device.bin_key).decode().rstrip("=")
