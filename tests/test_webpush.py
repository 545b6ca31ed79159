"""Web Push: a browser's subscription, the server's VAPID key, and a reminder that a push
service on loopback receives encrypted and decrypts (RFC 8291 aes128gcm, RFC 8292 VAPID).

Only the push service is played by the test, as a real HTTP server on 127.0.0.1; the
subscription's keys are the test's own, as a browser's would be its own.
"""

from __future__ import annotations

import base64
import json
import threading
from datetime import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.utils import timezone, translation

from alerts import schedule, texts
from alerts.models import Notification
from care import vapid
from care.models import Device, User

pytestmark = pytest.mark.django_db

DEVICES = "/api/v1/devices/"
KEY = "/api/v1/devices/webpush-key/"


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Browser:
    """What PushManager.subscribe makes: a P-256 key pair and a 16-byte auth secret."""

    def __init__(self, endpoint: str):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = b"0123456789abcdef"
        point = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.subscription = {
            "endpoint": endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64(point), "auth": b64(self.auth)},
        }

    def decrypt(self, body: bytes) -> dict:
        return json.loads(
            http_ece.decrypt(body, private_key=self.key, auth_secret=self.auth, version="aes128gcm")
        )


class PushService:
    """A push service on loopback: records each request, answers `status`."""

    def __init__(self, status: int = 201):
        self.received: list[tuple[str, dict, bytes]] = []
        self.status = status
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                service.received.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(service.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def endpoint(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/push/{name}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def push_service(settings):
    settings.WEBPUSH_ALLOW_LOOPBACK = True
    settings.PUSH_TRANSPORT = "alerts.channels.PlatformPushTransport"
    service = PushService()
    yield service
    service.close()


def test_the_public_key_is_the_servers_vapid_key_as_subscribe_takes_it(client):
    answer = client.get(KEY).json()

    point = unb64(answer["public_key"])
    assert len(point) == 65
    assert point[0] == 4  # an uncompressed P-256 point
    assert answer["public_key"] == vapid.public_key()


def test_without_a_vapid_key_the_server_says_web_push_is_off(client, settings):
    settings.WEBPUSH_VAPID_PRIVATE_KEY = ""
    settings.WEBPUSH_VAPID_PRIVATE_KEY_FILE = ""

    assert client.get(KEY).status_code == 404


def test_a_subscription_registered_twice_in_two_spellings_is_one_device(api, patient, push_service):
    browser = Browser(push_service.endpoint("rosa"))
    phone = api(patient.user)
    spaced = json.dumps(browser.subscription, indent=2)
    reordered = json.dumps(dict(reversed(list(browser.subscription.items()))))

    assert phone.post(DEVICES, {"platform": "webpush", "token": spaced}, format="json").status_code == 201
    assert phone.post(DEVICES, {"platform": "webpush", "token": reordered}, format="json").status_code == 201

    assert Device.objects.filter(user=patient.user, platform="webpush").count() == 1


@pytest.mark.parametrize(
    "token",
    [
        "not json",
        json.dumps({"endpoint": "https://push.example/x"}),
        json.dumps({"endpoint": "http://push.example/x", "keys": {"p256dh": "a", "auth": "b"}}),
        json.dumps({"endpoint": "https://10.0.0.1/x", "keys": {"p256dh": "a", "auth": "b"}}),
        json.dumps({"endpoint": "https://localhost/x", "keys": {"p256dh": "a", "auth": "b"}}),
    ],
)
def test_a_webpush_token_must_be_a_subscription_to_a_public_push_service(api, patient, token):
    response = api(patient.user).post(DEVICES, {"platform": "webpush", "token": token}, format="json")

    assert response.status_code == 400
    assert "token" in response.json()["errors"]


def test_delete_stops_pushes_to_that_phone_and_only_for_its_owner(api, patient, other_patient):
    Device.objects.create(user=patient.user, platform="fcm", token="rosa-phone")

    assert api(other_patient.user).delete(DEVICES, {"token": "rosa-phone"}, format="json").status_code == 204
    assert Device.objects.filter(token="rosa-phone").exists()
    assert api(patient.user).delete(DEVICES, {"token": "rosa-phone"}, format="json").status_code == 204
    assert not Device.objects.filter(token="rosa-phone").exists()


def test_delete_finds_a_subscription_in_any_spelling(api, patient, push_service):
    browser = Browser(push_service.endpoint("rosa"))
    phone = api(patient.user)
    phone.post(DEVICES, {"platform": "webpush", "token": json.dumps(browser.subscription)}, format="json")

    phone.delete(DEVICES, {"token": json.dumps(browser.subscription, indent=1)}, format="json")

    assert not Device.objects.filter(user=patient.user).exists()


def wants_reminders(patient, quiet: tuple[time, time] | None = None) -> None:
    # Reminder time at midnight: whenever the test runs, the reminder is due.
    start, end = quiet or (None, None)
    User.objects.filter(pk=patient.user_id).update(
        reminder_time=time(0, 0), quiet_hours_start=start, quiet_hours_end=end, language="it"
    )


def test_a_reminder_reaches_the_browser_encrypted_signed_and_in_the_patients_language(
    api, patient, push_service, django_capture_on_commit_callbacks
):
    browser = Browser(push_service.endpoint("rosa"))
    api(patient.user).post(
        DEVICES, {"platform": "webpush", "token": json.dumps(browser.subscription)}, format="json"
    )
    wants_reminders(patient)

    with django_capture_on_commit_callbacks(execute=True):
        schedule.send_reminders(now=timezone.now())

    [(path, headers, body)] = push_service.received
    assert path == "/push/rosa"
    assert headers["content-encoding"] == "aes128gcm"
    assert int(headers["ttl"]) > 0
    message = browser.decrypt(body)
    with translation.override("it"):
        title, text = (str(part) for part in texts.render_push(Notification(kind="reminder")))
    assert (message["title"], message["body"]) == (title, text)
    assert text == "Come va il dolore oggi?"
    assert message["kind"] == "reminder"
    # VAPID: a JWT for the push service's origin, signed by the key the browser subscribed with.
    token = headers["authorization"].split("t=")[1].split(",")[0]
    k = headers["authorization"].split("k=")[1]
    assert k == vapid.public_key()
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(k))
    claims = jwt.decode(token, public, algorithms=["ES256"], audience=push_service.endpoint("")[:-6])
    assert claims["sub"].startswith("mailto:")
    assert Notification.objects.get(kind="reminder").status == "sent"


def test_no_push_leaves_in_quiet_hours(api, patient, push_service, django_capture_on_commit_callbacks):
    browser = Browser(push_service.endpoint("rosa"))
    api(patient.user).post(
        DEVICES, {"platform": "webpush", "token": json.dumps(browser.subscription)}, format="json"
    )
    wants_reminders(patient, quiet=(time(0, 0), time(23, 59, 59)))

    with django_capture_on_commit_callbacks(execute=True):
        schedule.send_reminders(now=timezone.now())

    assert push_service.received == []


@pytest.mark.parametrize("status", [404, 410])
def test_a_subscription_the_push_service_calls_gone_is_removed(
    api, patient, push_service, status, django_capture_on_commit_callbacks
):
    push_service.status = status
    browser = Browser(push_service.endpoint("old-phone"))
    api(patient.user).post(
        DEVICES, {"platform": "webpush", "token": json.dumps(browser.subscription)}, format="json"
    )
    wants_reminders(patient)

    with django_capture_on_commit_callbacks(execute=True):
        schedule.send_reminders(now=timezone.now())

    assert len(push_service.received) == 1
    assert not Device.objects.filter(user=patient.user).exists()
    assert Notification.objects.get(kind="reminder").status != "sent"
