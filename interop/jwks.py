"""A system client's JWKS: registered as a file (stored), or read from its https URL with
the same address rules as every outbound call (public addresses only, checked on the
resolved address, no redirects), at most JWKS_MAX_BYTES, cached for a few minutes."""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import ssl
from typing import Any
from urllib.parse import urlsplit

from django.core.cache import cache

JWKS_MAX_BYTES = 64 * 1024
JWKS_CACHE_SECONDS = 300
TIMEOUT_SECONDS = 5.0


class JwksError(Exception):
    pass


def client_jwks(client) -> dict[str, Any]:
    if client.jwks:
        return client.jwks
    if not client.jwks_url:
        raise JwksError("no JWKS registered")
    key = f"interop:jwks:{client.pk}"
    cached = cache.get(key)
    if cached is None:
        cached = fetch_jwks(client.jwks_url)
        cache.set(key, cached, JWKS_CACHE_SECONDS)
    return cached


def public_address(host: str, port: int) -> str:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise JwksError("cannot resolve the JWKS host") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        mapped = isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None
        if mapped or not address.is_global or address.is_multicast or address.is_reserved:
            raise JwksError("the JWKS URL does not resolve to a public address")
    return infos[0][4][0]


def fetch_jwks(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise JwksError("the JWKS URL must be https")
    port = parts.port or 443
    address = public_address(parts.hostname, port)
    connection = http.client.HTTPSConnection(
        parts.hostname, port=port, timeout=TIMEOUT_SECONDS, context=ssl.create_default_context()
    )
    # Connect to the address just checked, not to whatever a second lookup returns.
    sock = socket.create_connection((address, port), TIMEOUT_SECONDS)
    connection.sock = connection._context.wrap_socket(sock, server_hostname=parts.hostname)
    try:
        connection.request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
        response = connection.getresponse()
        if response.status != 200:
            raise JwksError(f"the JWKS URL answered HTTP {response.status}")
        raw = response.read(JWKS_MAX_BYTES + 1)
    except OSError as exc:
        raise JwksError(type(exc).__name__) from exc
    finally:
        connection.close()
    if len(raw) > JWKS_MAX_BYTES:
        raise JwksError("the JWKS is too large")
    return parse_jwks(raw)


def parse_jwks(raw: bytes | str) -> dict[str, Any]:
    try:
        jwks = json.loads(raw)
    except ValueError as exc:
        raise JwksError("the JWKS is not JSON") from exc
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise JwksError("a JWKS is an object with a `keys` list")
    for key in jwks["keys"]:
        if not isinstance(key, dict) or key.get("kty") not in ("RSA", "EC"):
            raise JwksError("only RSA and EC keys are accepted")
        if any(private in key for private in ("d", "p", "q")):
            raise JwksError("the JWKS holds a private key: register the public keys only")
    return jwks
