"""Password guessing limits: the account lockout and the per-address throttle, for every
endpoint that checks a password (login, the clinic and admin logins, password change,
erasure).

The lockout counts an attempt BEFORE the password is checked, under a row lock: 24
concurrent wrong logins used to pass the "is it locked?" read together and let 7
guesses through (issue 8, item 8). Claimed first, at most LOGIN_MAX_FAILURES passwords
are ever compared per lockout, however many requests arrive at once. A success resets
the count.

The throttle lives in the cache (Redis). When the cache is down it lets requests through
with a logged warning rather than answering 500 (item 7): the lockout, in the database,
still bounds guesses per account meanwhile.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework.throttling import SimpleRateThrottle

from care.models import User

logger = logging.getLogger(__name__)


@transaction.atomic
def claim_password_attempt(*, user: User, now: datetime | None = None) -> bool:
    """Count one attempt at this user's password; False (and nothing to check) while the
    account is locked. The attempt that reaches the limit locks the account as it is
    counted, so concurrent ones behind it are refused."""
    now = now or timezone.now()
    row = User.objects.select_for_update().only("failed_logins", "locked_until").get(pk=user.pk)
    if row.locked_until is not None and row.locked_until > now:
        return False
    failed = (0 if row.locked_until is not None else row.failed_logins) + 1  # a lapsed lock starts afresh
    locked_until = now + settings.LOGIN_LOCKOUT if failed >= settings.LOGIN_MAX_FAILURES else None
    User.objects.filter(pk=user.pk).update(failed_logins=failed, locked_until=locked_until)
    user.failed_logins, user.locked_until = failed, locked_until
    return True


def record_password_success(*, user: User) -> None:
    User.objects.filter(pk=user.pk).update(failed_logins=0, locked_until=None)
    user.failed_logins, user.locked_until = 0, None


def waste_a_hash(password: str) -> None:
    """As slow as a real check, and never against the real hash: a locked account must
    not tell whether the password was right."""
    make_password(password or "")


def verify_password(*, user: User, password: str) -> bool:
    """The check of a logged-in user's password (password change, erasure): counted and
    locked like a login, so a stolen token cannot guess it either."""
    if not claim_password_attempt(user=user):
        waste_a_hash(password)
        return False
    if not user.check_password(password):
        return False
    record_password_success(user=user)
    return True


class AddressRateThrottle(SimpleRateThrottle):
    """Password attempts per client address, whoever is (or isn't) logged in."""

    scope = "auth"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except Exception as exc:  # the cache backend's own errors (redis, memcached, ...)
            logger.warning("throttle cache unavailable (%s): request let through", type(exc).__name__)
            return True


def address_limited(view):
    """The API's per-address budget for a Django (non-DRF) login view: 429 with Retry-After."""

    @functools.wraps(view)
    def limited(request, *args, **kwargs):
        throttle = AddressRateThrottle()
        if request.method == "POST" and not throttle.allow_request(request, None):
            response = HttpResponse(_("Too many attempts. Try again later."), status=429)
            response["Retry-After"] = str(int(throttle.wait() or 60))
            return response
        return view(request, *args, **kwargs)

    return limited
