"""Delivery channels behind one small interface: `Channel.send(notification)` raising
`DeliveryError`. Every outbound message carries the notification's idempotency key."""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import time
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import translation
from django.utils.module_loading import import_string

from alerts import texts
from alerts.models import EscalationPolicy, Notification
from backend import outbound

logger = logging.getLogger(__name__)


class DeliveryError(Exception):
    """A failed delivery. `permanent` when a retry cannot succeed (no device, no provider,
    no webhook any more, a refused destination): the outbox dead-letters it at once
    instead of retrying it for hours."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


class Channel(Protocol):
    def send(self, notification: Notification) -> None: ...


class EmailChannel:
    def send(self, notification: Notification) -> None:
        user = notification.recipient
        with translation.override(user.language):
            subject, body = texts.render(notification)
        message = EmailMessage(
            subject=subject,
            body=body,
            to=[user.email],
            headers={"Idempotency-Key": notification.key, "X-Crossroad-Notification": str(notification.pk)},
        )
        try:
            message.send(fail_silently=False)
        except Exception as exc:  # SMTP and provider errors alike
            raise DeliveryError(f"email: {type(exc).__name__}") from exc


class PushTransport(Protocol):
    """One push provider. `send` raises DeliveryError; the payload carries no health data."""

    def send(self, *, platform: str, token: str, payload: dict) -> None: ...


class ConsolePushTransport:
    """Development: log that a push would leave, without the token or the text."""

    def send(self, *, platform: str, token: str, payload: dict) -> None:
        logger.info("push via %s, key %s", platform, payload.get("key"))


class FcmPushTransport:
    """Firebase Cloud Messaging HTTP v1. The network call is `post`, isolated so that tests
    replace it; the OAuth access token comes from the service account file in
    FCM_SERVICE_ACCOUNT_FILE, read by google-auth (installed with the `fcm` extra)."""

    endpoint = "https://fcm.googleapis.com/v1/projects/{project}/messages:send"

    def __init__(self, project: str | None = None, token_source=None, post=None):
        self.project = project or settings.FCM_PROJECT_ID
        self.token_source = token_source or GoogleAccessToken()
        self.post = post or http_post

    def send(self, *, platform: str, token: str, payload: dict) -> None:
        if platform != "fcm":
            raise DeliveryError(f"FCM cannot deliver to {platform} devices", permanent=True)
        message = {
            "message": {
                "token": token,
                "notification": {"title": payload["title"], "body": payload["body"]},
                "data": {"key": payload["key"], "kind": payload["kind"]},
                # A repeat of the same notification replaces the first on the phone.
                "android": {"collapse_key": payload["key"][:64]},
            }
        }
        headers = {"Authorization": f"Bearer {self.token_source()}"}
        self.post(self.endpoint.format(project=self.project), json.dumps(message).encode(), headers)


class GoogleAccessToken:
    """FCM's OAuth access token, fetched once and kept until google-auth says it expired
    (about an hour), not once per delivery. One per transport, hence one per process."""

    def __init__(self):
        self._credentials = None

    def __call__(self) -> str:  # pragma: no cover - needs Google credentials
        from google.auth.transport.requests import Request
        from google.oauth2 import service_account

        if self._credentials is None:
            self._credentials = service_account.Credentials.from_service_account_file(
                settings.FCM_SERVICE_ACCOUNT_FILE,
                scopes=["https://www.googleapis.com/auth/firebase.messaging"],
            )
        if not self._credentials.valid:
            self._credentials.refresh(Request())
        return self._credentials.token


def http_post(url: str, raw: bytes, headers: dict[str, str]) -> None:
    """The one place a channel touches the network over HTTP/1.1: backend.outbound, which
    refuses private destinations and redirects."""
    try:
        outbound.post(
            url,
            body=raw,
            headers={"Content-Type": "application/json", **headers},
            timeout=settings.CHANNEL_TIMEOUT_SECONDS,
        )
    except outbound.OutboundError as exc:
        raise DeliveryError(str(exc), permanent=exc.permanent) from exc


class ApnsPushTransport:
    """Apple Push Notification service, token-based (a provider JWT signed ES256 with the
    team's .p8 key). APNs speaks HTTP/2 only: the default `post` uses httpx with h2
    (installed with the `push` extra); tests replace `post`."""

    hosts = {False: "https://api.push.apple.com", True: "https://api.sandbox.push.apple.com"}
    # APNs refuses a provider token older than an hour and throttles new ones under 20 min.
    token_lifetime = 50 * 60

    def __init__(self, *, team_id=None, key_id=None, private_key=None, topic=None, sandbox=None, post=None):
        self.team_id = team_id or settings.APNS_TEAM_ID
        self.key_id = key_id or settings.APNS_KEY_ID
        self.private_key = private_key or _read(settings.APNS_PRIVATE_KEY_FILE)
        self.topic = topic or settings.APNS_TOPIC
        self.sandbox = settings.APNS_USE_SANDBOX if sandbox is None else sandbox
        self.post = post or http2_post
        self._token: tuple[float, str] | None = None

    def provider_token(self) -> str:
        import jwt

        now = time.time()
        if self._token is None or now - self._token[0] > self.token_lifetime:
            signed = jwt.encode(
                {"iss": self.team_id, "iat": int(now)},
                self.private_key,
                algorithm="ES256",
                headers={"kid": self.key_id},
            )
            self._token = (now, signed)
        return self._token[1]

    def send(self, *, platform: str, token: str, payload: dict) -> None:
        if platform != "apns":
            raise DeliveryError(f"APNs cannot deliver to {platform} devices", permanent=True)
        body = {
            "aps": {"alert": {"title": payload["title"], "body": payload["body"]}, "sound": "default"},
            "key": payload["key"],
            "kind": payload["kind"],
        }
        headers = {
            "authorization": f"bearer {self.provider_token()}",
            "apns-topic": self.topic,
            "apns-push-type": "alert",
            # A repeat of the same notification replaces the first on the phone.
            "apns-collapse-id": payload["key"][:64],
        }
        self.post(f"{self.hosts[self.sandbox]}/3/device/{token}", json.dumps(body).encode(), headers)


def _read(path: str) -> str:
    return Path(path).read_text() if path else ""


def http2_post(url: str, raw: bytes, headers: dict[str, str]) -> None:  # pragma: no cover - network
    try:
        import httpx

        with httpx.Client(http2=True, timeout=settings.CHANNEL_TIMEOUT_SECONDS) as client:
            response = client.post(url, content=raw, headers={"content-type": "application/json", **headers})
    except ImportError as exc:
        raise DeliveryError(
            "APNs needs httpx with HTTP/2 (pip install 'crossroad[push]')", permanent=True
        ) from exc
    except Exception as exc:
        raise DeliveryError(type(exc).__name__) from exc
    if response.status_code >= 300:
        raise DeliveryError(f"HTTP {response.status_code}")


class PlatformPushTransport:
    """Routes each device to the provider of its platform (PUSH_TRANSPORTS)."""

    def __init__(self, transports: dict[str, PushTransport] | None = None):
        self.transports = transports or {
            platform: import_string(path)() for platform, path in settings.PUSH_TRANSPORTS.items()
        }

    def send(self, *, platform: str, token: str, payload: dict) -> None:
        transport = self.transports.get(platform)
        if transport is None:
            raise DeliveryError(f"no push provider configured for {platform}", permanent=True)
        transport.send(platform=platform, token=token, payload=payload)


def push_transport() -> PushTransport:
    """The configured transport, built once per process and reused by every delivery, so
    that the provider tokens it caches (APNs' JWT, FCM's OAuth token) are reused: Apple
    throttles a provider that makes a new token more often than every 20 minutes."""
    return _transport(settings.PUSH_TRANSPORT)


@functools.cache
def _transport(path: str) -> PushTransport:
    return import_string(path)()


class PushChannel:
    def __init__(self, transport: PushTransport | None = None):
        self.transport = transport or push_transport()

    def send(self, notification: Notification) -> None:
        user = notification.recipient
        with translation.override(user.language):
            title, body = texts.render_push(notification)
        payload = {"title": title, "body": body, "key": notification.key, "kind": notification.kind}
        devices = list(user.devices.all())
        if not devices:
            raise DeliveryError("no registered device", permanent=True)
        failures = []
        errors: list[DeliveryError] = []
        for device in devices:
            try:
                self.transport.send(platform=device.platform, token=device.token, payload=payload)
            except DeliveryError as exc:
                failures.append(f"{device.platform}: {exc}")
                errors.append(exc)
        # Delivered when one of the user's phones got it: a stale token on an old phone
        # must not make the others receive the same alert again at every retry.
        if len(failures) == len(devices):
            permanent = all(error.permanent for error in errors)
            raise DeliveryError("; ".join(failures), permanent=permanent)
        if failures:
            logger.warning(
                "push %s reached %s of %s devices",
                notification.pk,
                len(devices) - len(failures),
                len(devices),
            )


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookChannel:
    """The team's paging system: JSON signed with HMAC-SHA256 over the exact body."""

    def __init__(self, post=None):
        self.post = post or http_post

    def send(self, notification: Notification) -> None:
        try:
            policy = notification.team.escalation_policy
        except EscalationPolicy.DoesNotExist:
            policy = None
        if policy is None or not policy.webhook_url:
            # The team removed its paging webhook after this page was queued.
            raise DeliveryError("the team has no paging webhook any more", permanent=True)
        body = texts.webhook_body(notification)
        raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
        headers = {
            "Idempotency-Key": notification.key,
            "X-Crossroad-Signature": sign(policy.webhook_secret, raw),
        }
        self.post(policy.webhook_url, raw, headers)


# Channel name → class. Apps that alerts may not import add theirs in AppConfig.ready
# (interop: the FHIR rest-hook of referral recommendations).
CHANNELS: dict[str, type] = {"email": EmailChannel, "push": PushChannel, "webhook": WebhookChannel}


def channel_for(notification: Notification) -> Channel:
    return CHANNELS[notification.channel]()
