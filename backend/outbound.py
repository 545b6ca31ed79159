"""Outbound HTTP to addresses a team configured (webhooks, FHIR endpoints).

MINIMAL STAND-IN written on the `fhir` branch with the API another engineer is hardening
(`post`, `OutboundError.permanent`); the lead keeps that engineer's version when merging.
https only; the resolved address is checked at send time (no loopback, private,
link-local, multicast, reserved or IPv4-mapped address) and the connection goes to that
checked address; no redirects (a 3xx raises). OUTBOUND_ALLOW_LOOPBACK (tests only) lets
the tests' receivers on 127.0.0.1 be reached, over plain http too.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from urllib.parse import urlsplit

from django.conf import settings


class OutboundError(Exception):
    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


def _forbidden(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return True
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def _resolve(host: str, port: int) -> str:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise OutboundError(f"cannot resolve the host: {type(exc).__name__}") from exc
    allow_loopback = getattr(settings, "OUTBOUND_ALLOW_LOOPBACK", False)
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if allow_loopback and address.is_loopback:
            continue
        if _forbidden(address):
            raise OutboundError("the destination is not a public address", permanent=True)
    return infos[0][4][0]


class _PinnedHTTPS(http.client.HTTPSConnection):
    """Connects to the checked address, verifying the certificate for the host name."""

    def __init__(self, host: str, address: str, **kwargs):
        super().__init__(host, context=ssl.create_default_context(), **kwargs)
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, address: str, **kwargs):
        super().__init__(host, **kwargs)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


def post(url: str, *, body: bytes, headers: dict[str, str], timeout: float = 10.0) -> int:
    parts = urlsplit(url)
    host = parts.hostname or ""
    loopback_test = getattr(settings, "OUTBOUND_ALLOW_LOOPBACK", False) and host in (
        "127.0.0.1",
        "localhost",
        "::1",
    )
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback_test):
        raise OutboundError("only https destinations are allowed", permanent=True)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = _resolve(host, port)
    connection_class = _PinnedHTTPS if parts.scheme == "https" else _PinnedHTTP
    connection = connection_class(host, address, port=port, timeout=timeout)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(65536)
        status = response.status
    except OSError as exc:
        raise OutboundError(f"{type(exc).__name__}") from exc
    finally:
        connection.close()
    if 300 <= status < 400:
        raise OutboundError(f"HTTP {status}: redirects are not followed", permanent=True)
    if status >= 400:
        # 4xx other than timeouts and throttling will not heal by retrying.
        raise OutboundError(f"HTTP {status}", permanent=400 <= status < 500 and status not in (408, 429))
    return status
