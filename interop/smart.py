"""SMART Backend Services (HL7 SMART App Launch 2, "Backend Services"): a registered
system client asks `POST /fhir/auth/token` for an access token with a JWT assertion
signed (RS384 or ES384) by a key of its JWKS; the token is short-lived and scoped to the
client's care teams. Signatures are checked by PyJWT with cryptography."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from interop.jwks import JwksError, client_jwks
from interop.models import SystemClient, UsedAssertion

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ("RS384", "ES384")
TOKEN_TYPE = "crossroad-system"  # noqa: S105 - the `typ` claim telling system tokens from user JWTs
# SMART: an assertion's exp is at most five minutes in the future.
MAX_ASSERTION_LIFETIME = timedelta(minutes=5)
SCOPES = ("system/*.read", "system/*.rs")


class TokenError(Exception):
    """An OAuth 2.0 error (RFC 6749 section 5.2)."""

    def __init__(self, error: str, description: str):
        super().__init__(description)
        self.error = error
        self.description = description

    @property
    def status_code(self) -> int:
        return 401 if self.error == "invalid_client" else 400


def token_url() -> str:
    return f"{settings.PUBLIC_URL}/fhir/auth/token"


def granted_scope(requested: str) -> str:
    """The asked scopes this server grants: system-level reads of what it serves."""
    asked = requested.split()
    if not asked:
        raise TokenError("invalid_scope", "scope is required")
    for scope in asked:
        context, _, rest = scope.partition("/")
        resource, _, access = rest.partition(".")
        if context != "system" or not resource or access not in ("read", "rs", "r", "s"):
            raise TokenError("invalid_scope", f"only system-level reads are granted, not {scope!r}")
    return " ".join(asked)


def issue_token(*, form: dict[str, str], now: datetime | None = None) -> dict[str, Any]:
    """Verify a client_credentials request and return the token response body."""
    now = now or timezone.now()
    if form.get("grant_type") != "client_credentials":
        raise TokenError("unsupported_grant_type", "grant_type must be client_credentials")
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise TokenError("invalid_request", f"client_assertion_type must be {ASSERTION_TYPE}")
    assertion = form.get("client_assertion") or ""
    scope = granted_scope(form.get("scope", ""))
    client, claims = verify_assertion(assertion, now=now)
    remember_assertion(client=client, claims=claims)
    lifetime = settings.SYSTEM_TOKEN_LIFETIME_SECONDS
    teams = sorted(str(pk) for pk in client.teams.values_list("pk", flat=True))
    token = jwt.encode(
        {
            "iss": f"{settings.PUBLIC_URL}/fhir",
            "aud": f"{settings.PUBLIC_URL}/fhir",
            "sub": str(client.pk),
            "typ": TOKEN_TYPE,
            "teams": teams,
            "scope": scope,
            "iat": int(now.timestamp()),
            "exp": int(now.timestamp()) + lifetime,
            "jti": uuid.uuid4().hex,
        },
        settings.SECRET_KEY,
        algorithm="HS256",
    )
    return {"access_token": token, "token_type": "bearer", "expires_in": lifetime, "scope": scope}


def verify_assertion(assertion: str, *, now: datetime) -> tuple[SystemClient, dict[str, Any]]:
    try:
        header = jwt.get_unverified_header(assertion)
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise TokenError("invalid_request", "client_assertion is not a JWT") from exc
    if header.get("alg") not in ALGORITHMS:
        raise TokenError("invalid_client", "the assertion must be signed with RS384 or ES384")
    client = _client(unverified.get("iss"))
    if unverified.get("sub") != unverified.get("iss"):
        raise TokenError("invalid_client", "iss and sub must both be the client_id")
    try:
        keys = client_jwks(client)
    except JwksError as exc:
        raise TokenError("invalid_client", f"the client's JWKS cannot be read: {exc}") from exc
    candidates = [
        k for k in keys.get("keys", []) if not header.get("kid") or k.get("kid") == header.get("kid")
    ]
    for jwk in candidates:
        try:
            key = jwt.PyJWK(jwk, algorithm=header["alg"])
            claims = jwt.decode(
                assertion,
                key.key,
                algorithms=[header["alg"]],
                audience=token_url(),
                issuer=str(client.pk),
                options={"require": ["exp", "iss", "sub", "aud", "jti"]},
            )
        except jwt.InvalidSignatureError:
            continue
        except (jwt.InvalidKeyError, jwt.exceptions.PyJWKError):
            continue
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("invalid_client", "the assertion has expired") from exc
        except jwt.PyJWTError as exc:
            raise TokenError("invalid_client", f"the assertion is not valid: {exc}") from exc
        if datetime.fromtimestamp(claims["exp"], UTC) > now + MAX_ASSERTION_LIFETIME:
            raise TokenError("invalid_client", "the assertion's exp is more than five minutes away")
        return client, claims
    raise TokenError("invalid_client", "no key of the client's JWKS verifies the assertion")


def _client(client_id: Any) -> SystemClient:
    try:
        client = SystemClient.objects.filter(pk=uuid.UUID(str(client_id)), is_active=True).first()
    except ValueError:
        client = None
    if client is None:
        raise TokenError("invalid_client", "unknown client")
    return client


def remember_assertion(*, client: SystemClient, claims: dict[str, Any]) -> None:
    """Refuses a `jti` already used by this client (a replayed assertion)."""
    expires = datetime.fromtimestamp(claims["exp"], UTC)
    UsedAssertion.objects.filter(expires_at__lt=timezone.now() - MAX_ASSERTION_LIFETIME).delete()
    try:
        with transaction.atomic():
            UsedAssertion.objects.create(client=client, jti=str(claims["jti"])[:255], expires_at=expires)
    except IntegrityError:
        raise TokenError("invalid_client", "this assertion was already used (jti replay)") from None


@dataclass(frozen=True)
class SystemGrant:
    """`request.auth` of a system client: whose token, for which teams and scope."""

    client: SystemClient
    team_ids: frozenset[str]
    scope: str


def scoped_types(scope: str) -> set[str] | None:
    """The resource types a scope lets a system client read; None for all of them."""
    types = set()
    for item in scope.split():
        resource = item.partition("/")[2].partition(".")[0]
        if resource == "*":
            return None
        types.add(resource)
    return types


class SystemTokenAuthentication(BaseAuthentication):
    """Accepts the access tokens `issue_token` signs; leaves user JWTs to simplejwt."""

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].lower() != b"bearer":
            return None
        raw = parts[1].decode(errors="replace")
        try:
            if jwt.decode(raw, options={"verify_signature": False}).get("typ") != TOKEN_TYPE:
                return None
        except jwt.PyJWTError:
            return None
        try:
            claims = jwt.decode(
                raw, settings.SECRET_KEY, algorithms=["HS256"], audience=f"{settings.PUBLIC_URL}/fhir"
            )
        except jwt.PyJWTError as exc:
            raise exceptions.AuthenticationFailed("the access token is not valid or has expired") from exc
        client = SystemClient.objects.select_related("user").filter(pk=claims["sub"], is_active=True).first()
        if client is None:
            raise exceptions.AuthenticationFailed("the system client is no longer registered")
        allowed = {str(pk) for pk in client.teams.values_list("pk", flat=True)}
        grant = SystemGrant(
            client, frozenset(set(claims.get("teams", [])) & allowed), claims.get("scope", "")
        )
        return client.user, grant

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="fhir"'
