"""The server's VAPID key pair (RFC 8292), which Web Push subscriptions are bound to.

Phones subscribe with the public key (GET devices/webpush-key/); the push channel signs
with the private one. The key comes from the environment (WEBPUSH_VAPID_PRIVATE_KEY, the
base64url raw key or a PEM, or WEBPUSH_VAPID_PRIVATE_KEY_FILE); the demo generates one
into var/ (`manage.py webpush_keys`), never committed.
"""

from __future__ import annotations

import base64
import ipaddress
import json
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext_lazy as _


class PushNotConfigured(Exception):
    pass


@cache
def _vapid(private: str):
    from py_vapid import Vapid02

    text = private.strip()
    if text.startswith("-----BEGIN"):
        return Vapid02.from_pem(text.encode())
    return Vapid02.from_raw(text.encode())


def vapid():
    """The key pair as py_vapid holds it, or PushNotConfigured."""
    private = settings.WEBPUSH_VAPID_PRIVATE_KEY
    path = settings.WEBPUSH_VAPID_PRIVATE_KEY_FILE
    if not private and path and Path(path).is_file():
        private = Path(path).read_text()
    if not private:
        raise PushNotConfigured
    return _vapid(private)


def public_key() -> str:
    """The application server key for PushManager.subscribe: the uncompressed P-256 point."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    point = vapid().public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(point).rstrip(b"=").decode()


def generate_private_key() -> str:
    """A new private key, base64url raw (what WEBPUSH_VAPID_PRIVATE_KEY takes)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    number = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value
    return base64.urlsafe_b64encode(number.to_bytes(32, "big")).rstrip(b"=").decode()


NOT_A_SUBSCRIPTION = _("A Web Push token is the browser's PushSubscription as JSON.")
NOT_A_PUSH_SERVICE = _("The subscription's endpoint is not a push service this server may call.")


def canonical_subscription(token: str) -> str:
    """The PushSubscription JSON reduced to what a push needs, in one spelling, so that the
    same subscription sent twice is one device. Raises ValueError with the reason."""
    try:
        data = json.loads(token)
        endpoint, keys = data["endpoint"], data["keys"]
        subscription = {"endpoint": endpoint, "keys": {"p256dh": keys["p256dh"], "auth": keys["auth"]}}
    except (ValueError, TypeError, KeyError):
        raise ValueError(NOT_A_SUBSCRIPTION) from None
    if not all(isinstance(v, str) and v for v in (endpoint, keys["p256dh"], keys["auth"])):
        raise ValueError(NOT_A_SUBSCRIPTION)
    if not endpoint_allowed(endpoint):
        raise ValueError(NOT_A_PUSH_SERVICE)
    return json.dumps(subscription, separators=(",", ":"), sort_keys=True)


def endpoint_allowed(url: str) -> bool:
    """https to a public host: the server must not be made to post into its own network.
    Tests serve a push service on loopback (WEBPUSH_ALLOW_LOOPBACK)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if settings.WEBPUSH_ALLOW_LOOPBACK and parts.scheme == "http" and host in ("127.0.0.1", "localhost"):
        return True
    if parts.scheme != "https" or not host or host == "localhost":
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return True  # a name: push services are named hosts
    return address.is_global
