"""Web Push (RFC 8030) to browsers: the payload encrypted for the subscription (RFC 8291,
aes128gcm) and the request signed with the server's VAPID key (RFC 8292), by pywebpush.

The `webpush` platform of the push channel (settings.PUSH_TRANSPORTS). A push service
answering 404 or 410 says the subscription is gone for good: the device is removed so
that no later notification tries it again.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging

from django.conf import settings
from django.utils import timezone

from alerts.channels import DeliveryError
from care import services as care_services
from care import vapid

logger = logging.getLogger(__name__)

# Push services keep an undelivered message this long (seconds) for a phone that is off.
TTL_SECONDS = 12 * 60 * 60
GONE = (404, 410)


class WebPushTransport:
    def __init__(self, session=None):
        self.session = session  # a requests.Session; tests may pass one

    def send(self, *, platform: str, token: str, payload: dict) -> None:
        from pywebpush import WebPushException, webpush

        if platform != "webpush":
            raise DeliveryError(f"Web Push cannot deliver to {platform} devices")
        try:
            subscription = json.loads(token)
            key = vapid.vapid()
        except (ValueError, vapid.PushNotConfigured) as exc:
            raise DeliveryError(f"webpush: {type(exc).__name__}") from exc
        if not vapid.endpoint_allowed(subscription.get("endpoint", "")):
            raise DeliveryError("webpush: endpoint refused")
        body = {**payload, "sent_at": timezone.now().isoformat()}
        try:
            webpush(
                subscription_info=subscription,
                data=json.dumps(body),
                vapid_private_key=key,
                vapid_claims={
                    "sub": settings.WEBPUSH_VAPID_SUBJECT or f"mailto:{settings.DEFAULT_FROM_EMAIL}"
                },
                content_encoding="aes128gcm",
                ttl=TTL_SECONDS,
                timeout=settings.CHANNEL_TIMEOUT_SECONDS,
                # A repeat of one notification replaces the first while still undelivered.
                headers={"Topic": topic(payload["key"])},
                requests_session=self.session,
            )
        except WebPushException as exc:
            status = getattr(exc.response, "status_code", None)
            if status in GONE:
                care_services.remove_device(token=token)
                logger.info("webpush subscription gone (%s): device removed", status)
            raise DeliveryError(f"webpush: HTTP {status}") from exc
        except Exception as exc:  # connection errors and the like
            raise DeliveryError(f"webpush: {type(exc).__name__}") from exc


def topic(key: str) -> str:
    """RFC 8030 Topic: at most 32 characters of the URL-safe base64 alphabet."""
    return base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()).decode()[:32]
