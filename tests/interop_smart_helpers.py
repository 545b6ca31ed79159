"""A hospital integration engine's side of SMART Backend Services: its keys, its JWKS
file and the signed assertions it sends to POST /fhir/auth/token."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.management import call_command

TOKEN_URL = "http://127.0.0.1:8000/fhir/auth/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class Engine:
    """A system client with an RS384 and an ES384 key in its JWKS."""

    def __init__(self):
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP384R1())
        self.client_id = ""

    def jwks(self) -> dict:
        rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.rsa.public_key()))
        ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.ec.public_key()))
        return {
            "keys": [{**rsa_jwk, "kid": "rsa-1", "alg": "RS384"}, {**ec_jwk, "kid": "ec-1", "alg": "ES384"}]
        }

    def register(self, tmp_path: Path, *teams: str, name: str = "Hospital engine") -> str:
        path = tmp_path / "jwks.json"
        path.write_text(json.dumps(self.jwks()))
        args = ["--name", name, "--jwks-file", str(path)]
        for team in teams:
            args += ["--team", team]
        out = _capture(args)
        last = out.strip().splitlines()[-1]
        assert last.startswith("client_id: ")
        self.client_id = last.removeprefix("client_id: ")
        return out

    def assertion(
        self, *, alg: str = "RS384", key=None, kid: str | None = None, exp_in: int = 240, **claims
    ) -> str:
        now = int(time.time())
        body = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": TOKEN_URL,
            "exp": now + exp_in,
            "iat": now,
            "jti": uuid.uuid4().hex,
            **claims,
        }
        signing = key or (self.rsa if alg == "RS384" else self.ec)
        return jwt.encode(
            body, signing, algorithm=alg, headers={"kid": kid or ("rsa-1" if alg == "RS384" else "ec-1")}
        )

    def form(self, assertion: str, scope: str = "system/*.read") -> dict[str, str]:
        return {
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
            "scope": scope,
        }


def _capture(args: list[str]) -> str:
    import io

    out = io.StringIO()
    call_command("create_system_client", *args, stdout=out)
    return out.getvalue()


def post_form(client, form: dict[str, str]):
    """As OAuth 2.0 sends it: application/x-www-form-urlencoded."""
    return client.post("/fhir/auth/token", urlencode(form), content_type="application/x-www-form-urlencoded")


def token(client, engine: Engine, **kwargs) -> str:
    response = post_form(client, engine.form(engine.assertion(**kwargs)))
    assert response.status_code == 200, response.content
    return response.json()["access_token"]
