"""The one door to the network for data leaving Crossroad (paging webhooks, push
providers, anything a team or a setting names by URL).

`post` refuses what an attacker who controls a URL (or its DNS) could aim at inside our
network (issue 8, items 5 and 6):

- https only, with the certificate checked against the URL's host name;
- the host is resolved here and every address checked against loopback, private,
  link-local, multicast, reserved, unspecified and IPv4-mapped (and 6to4/Teredo) ranges;
  the connection goes to the checked address, with the name as SNI and Host header, so
  a DNS answer that changes between check and connect (rebinding) cannot swap it;
- no redirects: a 3xx is a failed delivery (the caller retries, then dead-letters), so
  an urgent page is never "sent" to a Location nobody checked;
- connect and read timeouts.

OUTBOUND_ALLOW_LOOPBACK (tests only) lets the tests' receivers on 127.0.0.1 through, over
plain http too; every other private range stays closed even then.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from urllib.parse import urlsplit

from django.conf import settings

# A connection that takes longer than this to open is not a paging system we can rely on.
CONNECT_TIMEOUT_SECONDS = 5.0
# Bytes of the answer we read before closing: the status is what counts.
MAX_RESPONSE_BYTES = 64 * 1024

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class OutboundError(Exception):
    """A request that did not get a 2xx. `permanent` when retrying cannot help (a refused
    destination, a malformed URL): the caller dead-letters at once."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


def forbidden_reason(address: Address) -> str | None:
    """Why this address is not a destination on the public internet, or None."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return "an IPv4-mapped address"
        if address.sixtofour is not None or address.teredo is not None:
            return "a tunnelled IPv4 address"
    for reason, flag in (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
    ):
        if flag:
            return f"a {reason} address"
    if not address.is_global:  # shared address space (100.64/10) and the like
        return "not a public address"
    return None


def _allowed(address: Address) -> str | None:
    if settings.OUTBOUND_ALLOW_LOOPBACK and address.is_loopback:
        return None
    return forbidden_reason(address)


def check_url(url: str) -> None:
    """What can be said of a URL without resolving it (at save time and at send time):
    https, a host, and no IP literal of a forbidden range. Raises OutboundError."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise OutboundError("a malformed URL", permanent=True) from exc
    host = parts.hostname
    if not host:
        raise OutboundError("a URL without a host", permanent=True)
    if parts.username or parts.password:
        raise OutboundError("a URL with credentials in it", permanent=True)
    literal = _ip_literal(host)
    if literal is not None and (reason := _allowed(literal)):
        raise OutboundError(f"the destination is {reason}", permanent=True)
    # RFC 6761: these names are loopback wherever they are resolved.
    if (host == "localhost" or host.endswith(".localhost")) and not settings.OUTBOUND_ALLOW_LOOPBACK:
        raise OutboundError("the destination is a loopback name", permanent=True)
    # Plain http only for the tests' receivers: a loopback literal, or a name that `post`
    # finds resolving to loopback.
    maybe_loopback = settings.OUTBOUND_ALLOW_LOOPBACK and (literal is None or literal.is_loopback)
    if parts.scheme != "https" and not (parts.scheme == "http" and maybe_loopback):
        raise OutboundError("only https URLs are allowed", permanent=True)
    if port == 0:
        raise OutboundError("port 0", permanent=True)


def _ip_literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def resolve(host: str, port: int) -> Address:
    """The first address of `host`, after checking that every address it has is allowed
    (one private answer among public ones refuses the lot)."""
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise OutboundError("the host name does not resolve") from exc
    addresses = [ipaddress.ip_address(answer[4][0].split("%", 1)[0]) for answer in answers]
    if not addresses:
        raise OutboundError("the host name does not resolve")
    for address in addresses:
        if reason := _allowed(address):
            raise OutboundError(f"the destination resolves to {reason}", permanent=True)
    return addresses[0]


class _PinnedConnection(http.client.HTTPSConnection):
    """HTTPS to an address checked beforehand; the certificate and SNI are the name's."""

    def __init__(self, host: str, port: int, *, address: Address, timeout: float, tls: bool):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address
        self._tls = tls
        self._read_timeout = timeout

    def connect(self) -> None:
        sock = socket.create_connection(
            (str(self._address), self.port), timeout=min(CONNECT_TIMEOUT_SECONDS, self._read_timeout)
        )
        sock.settimeout(self._read_timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host) if self._tls else sock


def post(url: str, *, body: bytes, headers: dict[str, str], timeout: float = 10.0) -> int:
    """POST `body` to `url`; returns the 2xx status. Raises OutboundError otherwise."""
    check_url(url)
    parts = urlsplit(url)
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    address = resolve(parts.hostname, port)
    if not tls and not address.is_loopback:
        raise OutboundError("only https URLs are allowed", permanent=True)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    connection = _PinnedConnection(parts.hostname, port, address=address, timeout=timeout, tls=tls)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(MAX_RESPONSE_BYTES)
        status = response.status
    except ssl.SSLCertVerificationError as exc:
        raise OutboundError("the certificate does not match the host") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise OutboundError(type(exc).__name__) from exc
    finally:
        connection.close()
    if 300 <= status < 400:
        raise OutboundError(f"HTTP {status}: redirects are not followed")
    if not 200 <= status < 300:
        raise OutboundError(f"HTTP {status}")
    return status
