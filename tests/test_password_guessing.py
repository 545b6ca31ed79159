"""Guessing a password (issue 8, items 4, 7 and 8): every endpoint that checks one is
throttled per address and counted by the account lockout, atomically, and a cache outage
degrades the throttle instead of answering 500."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from django.conf import settings
from django.contrib.auth.hashers import MD5PasswordHasher
from django.db import connection
from django.test import override_settings
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from care.models import User
from tests.factories import PASSWORD
from tests.reliability_helpers import PrivateRedis, missing_services, needs

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token/"
PASSWORD_CHANGE = "/api/v1/auth/password/"
ERASE = "/api/v1/me/erase/"
ENROLL = "/api/v1/auth/enroll/"
NEW_PASSWORD = "a-long-unusual-passphrase-42"


def login(username: str, password: str, client: APIClient | None = None):
    return (client or APIClient()).post(TOKEN, {"username": username, "password": password}, format="json")


def change_password(client, old: str):
    return client.post(PASSWORD_CHANGE, {"old_password": old, "new_password": NEW_PASSWORD}, format="json")


def erase(client, password: str):
    return client.post(ERASE, {"password": password, "confirm": True}, format="json")


@pytest.fixture
def stolen_token(api, patient):
    """A client holding the patient's access token, as a thief would."""
    return api(patient.user)


@pytest.mark.parametrize("attempt", [change_password, erase])
def test_guessing_the_password_behind_a_stolen_token_locks_the_account(stolen_token, patient, attempt):
    wrong = [attempt(stolen_token, f"guess-{n}") for n in range(settings.LOGIN_MAX_FAILURES)]
    assert {response.status_code for response in wrong} == {400}

    right = attempt(stolen_token, PASSWORD)

    assert right.status_code == 400  # locked: the right password is refused like a wrong one
    assert right.json() == wrong[0].json()
    patient.refresh_from_db()
    assert patient.withdrawn_at is None
    assert patient.user.check_password(PASSWORD)  # unchanged
    assert login("rosa", PASSWORD).status_code == 401  # the login is locked too


@pytest.mark.parametrize("attempt", [change_password, erase])
def test_password_checks_behind_a_token_share_the_address_budget(api, patient, attempt):
    allowed, _ = SimpleRateThrottle.parse_rate(
        None, settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["auth"]
    )
    client = api(patient.user)
    client.defaults["REMOTE_ADDR"] = "203.0.113.9"
    for n in range(allowed):
        login("nobody", f"guess-{n}", client=APIClient(REMOTE_ADDR="203.0.113.9"))

    throttled = attempt(client, PASSWORD)

    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) > 0


def test_a_right_password_behind_a_token_resets_the_count(stolen_token, patient):
    for n in range(settings.LOGIN_MAX_FAILURES - 1):
        change_password(stolen_token, f"guess-{n}")

    assert change_password(stolen_token, PASSWORD).status_code == 204
    assert login("rosa", NEW_PASSWORD).status_code == 200


# --- the lockout under concurrency (PostgreSQL) ----------------------------------------------


class CountingHasher(MD5PasswordHasher):
    """A test hasher that remembers every comparison against a stored hash and takes a
    while, as a real hash does, so that concurrent logins overlap."""

    algorithm = "counting_md5"
    compared: list[str] = []
    lock = threading.Lock()

    def verify(self, password: str, encoded: str) -> bool:
        with self.lock:
            self.compared.append(password)
        time.sleep(0.05)
        return super().verify(password, encoded)


@needs(missing_services())
@pytest.mark.django_db(transaction=True)
def test_concurrent_wrong_logins_compare_at_most_the_lockout_limit_of_passwords(patient, settings):
    settings.PASSWORD_HASHERS = ["tests.test_password_guessing.CountingHasher"]
    user = patient.user
    user.set_password(PASSWORD)
    user.save(update_fields=["password"])
    CountingHasher.compared.clear()
    start = threading.Barrier(24)
    statuses: list[int] = []

    def guess(n: int) -> None:
        try:
            start.wait(timeout=30)
            statuses.append(
                login("rosa", f"guess-{n}", client=APIClient(REMOTE_ADDR=f"198.51.100.{n}")).status_code
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert statuses == [401] * 24
    assert len(CountingHasher.compared) <= settings.LOGIN_MAX_FAILURES
    assert User.objects.get(pk=user.pk).is_locked()


# --- the cache down ---------------------------------------------------------------------------


@pytest.fixture
def cache_on_private_redis(tmp_path):
    server = PrivateRedis(tmp_path / "redis.log")
    server.start()
    caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": server.url(),
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    # Not the `settings` fixture: the suite's own cache must be back before conftest
    # empties it after the test.
    try:
        with override_settings(CACHES=caches):
            yield server
    finally:
        server.stop()


@needs(missing_services(redis_server=True))
def test_login_enrollment_and_password_checks_work_while_the_cache_is_down(
    cache_on_private_redis, api, patient, caplog
):
    assert login("rosa", PASSWORD).status_code == 200  # the throttle counts in Redis
    cache_on_private_redis.crash()

    with caplog.at_level(logging.WARNING, logger="care.lockout"):
        logged_in = login("rosa", PASSWORD)
        wrong = login("rosa", "not-it")
        enrolled = APIClient().post(
            ENROLL, {"code": "NOPE", "username": "x", "password": NEW_PASSWORD}, format="json"
        )
        changed = change_password(api(patient.user), "not-it")

    assert (logged_in.status_code, wrong.status_code, enrolled.status_code, changed.status_code) == (
        200,
        401,
        400,
        400,
    )
    assert "throttle cache unavailable" in caplog.text
    # The lockout, in the database, still counts meanwhile.
    assert User.objects.get(pk=patient.user.pk).failed_logins == 2
