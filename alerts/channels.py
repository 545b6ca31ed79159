"""Delivery channels behind one small interface: `Channel.send(notification)` raising
`DeliveryError`. Every outbound message carries the notification's idempotency key."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import urllib.request
from typing import Protocol

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import translation
from django.utils.module_loading import import_string

from alerts import texts
from alerts.models import Notification

logger = logging.getLogger(__name__)


class DeliveryError(Exception):
    pass


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
        self.token_source = token_source or _google_access_token
        self.post = post or http_post

    def send(self, *, platform: str, token: str, payload: dict) -> None:
        if platform != "fcm":
            raise DeliveryError(f"FCM cannot deliver to {platform} devices")
        message = {
            "message": {
                "token": token,
                "notification": {"title": payload["title"], "body": payload["body"]},
                "data": {"key": payload["key"], "kind": payload["kind"]},
            }
        }
        headers = {"Authorization": f"Bearer {self.token_source()}"}
        self.post(self.endpoint.format(project=self.project), json.dumps(message).encode(), headers)


def _google_access_token() -> str:  # pragma: no cover - needs Google credentials
    from google.auth.transport.requests import Request
    from google.oauth2 import service_account

    credentials = service_account.Credentials.from_service_account_file(
        settings.FCM_SERVICE_ACCOUNT_FILE, scopes=["https://www.googleapis.com/auth/firebase.messaging"]
    )
    credentials.refresh(Request())
    return credentials.token


def http_post(url: str, raw: bytes, headers: dict[str, str]) -> None:
    """The one place a channel touches the network."""
    request = urllib.request.Request(  # noqa: S310 - URLs come from settings and team policy
        url, data=raw, method="POST", headers={"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.CHANNEL_TIMEOUT_SECONDS) as response:  # noqa: S310
            if response.status >= 300:
                raise DeliveryError(f"HTTP {response.status}")
    except DeliveryError:
        raise
    except Exception as exc:
        raise DeliveryError(type(exc).__name__) from exc


def push_transport() -> PushTransport:
    return import_string(settings.PUSH_TRANSPORT)()


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
            raise DeliveryError("no registered device")
        for device in devices:
            self.transport.send(platform=device.platform, token=device.token, payload=payload)


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookChannel:
    """The team's paging system: JSON signed with HMAC-SHA256 over the exact body."""

    def __init__(self, post=None):
        self.post = post or http_post

    def send(self, notification: Notification) -> None:
        policy = notification.team.escalation_policy
        body = texts.webhook_body(notification)
        raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
        headers = {
            "Idempotency-Key": notification.key,
            "X-Crossroad-Signature": sign(policy.webhook_secret, raw),
        }
        self.post(policy.webhook_url, raw, headers)


def channel_for(notification: Notification) -> Channel:
    return {"email": EmailChannel, "push": PushChannel, "webhook": WebhookChannel}[notification.channel]()
