"""SMART Backend Services: a registered system client gets a short-lived token scoped to
its teams with a signed JWT assertion (RS384 or ES384) verified against its JWKS."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from rest_framework.test import APIClient

from interop.jwks import JwksError, fetch_jwks
from interop.models import SystemClient
from tests.interop_smart_helpers import Engine, post_form, token

pytestmark = pytest.mark.django_db


@pytest.fixture
def engine(team, tmp_path):
    """The hospital's integration engine, registered for `team` only."""
    hospital = Engine()
    hospital.register(tmp_path, team.name)
    return hospital


def post(engine: Engine, assertion: str, **form):
    return post_form(APIClient(), {**engine.form(assertion), **form})


def test_the_command_registers_a_client_and_prints_its_id_last(team, tmp_path):
    hospital = Engine()
    out = hospital.register(tmp_path, team.name)
    client = SystemClient.objects.get(pk=hospital.client_id)
    assert [t.name for t in client.teams.all()] == [team.name]
    assert out.strip().splitlines()[-1] == f"client_id: {client.pk}"
    hospital.register(tmp_path, team.name)  # idempotent: same name, same client
    assert SystemClient.objects.count() == 1


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_a_signed_assertion_gets_a_short_lived_bearer_token(engine, alg):
    response = post(engine, engine.assertion(alg=alg))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 300
    assert body["scope"] == "system/*.read"
    assert response["Cache-Control"] == "no-store"


def test_a_replayed_assertion_is_refused(engine):
    assertion = engine.assertion()
    assert post(engine, assertion).status_code == 200
    replay = post(engine, assertion)
    assert replay.status_code == 401
    assert replay.json()["error"] == "invalid_client"


def test_an_expired_assertion_is_refused(engine):
    response = post(engine, engine.assertion(exp_in=-10))
    assert response.status_code == 401
    assert "expired" in response.json()["error_description"]


def test_an_assertion_living_more_than_five_minutes_is_refused(engine):
    assert post(engine, engine.assertion(exp_in=3600)).status_code == 401


def test_an_assertion_signed_with_another_key_is_refused(engine):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    response = post(engine, engine.assertion(key=stranger))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_an_hs256_or_unsigned_assertion_is_refused(engine):
    import jwt

    forged = jwt.encode(
        {"iss": engine.client_id, "sub": engine.client_id},
        "a-guessed-shared-secret-of-32-bytes-or-more",
        algorithm="HS256",
    )
    assert post(engine, forged).status_code == 401
    unsigned = jwt.encode({"iss": engine.client_id, "sub": engine.client_id}, None, algorithm="none")
    assert post(engine, unsigned).status_code == 401


def test_an_unknown_client_or_a_wrong_audience_is_refused(engine):
    assert post(engine, engine.assertion(iss="not-a-client", sub="not-a-client")).status_code == 401
    assert post(engine, engine.assertion(aud="https://elsewhere.example/token")).status_code == 401


def test_wrong_grant_or_scope_are_oauth_errors(engine):
    assert post(engine, engine.assertion(), grant_type="password").json()["error"] == "unsupported_grant_type"
    response = post(engine, engine.assertion(), scope="user/*.write")
    assert (response.status_code, response.json()["error"]) == (400, "invalid_scope")


def test_the_token_opens_only_its_teams_group_and_no_patient_api(engine, team, other_team, patient):
    access = token(APIClient(), engine)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    own = client.get(f"/fhir/Group/{team.pk}/$export", HTTP_PREFER="respond-async")
    assert own.status_code == 202
    other = client.get(f"/fhir/Group/{other_team.pk}/$export", HTTP_PREFER="respond-async")
    assert other.status_code == 404
    assert other.json()["resourceType"] == "OperationOutcome"
    # A system token is not a patient reader: the patient API does not know the patient.
    assert client.get(f"/fhir/Patient/{patient.pk}").status_code == 404
    assert client.get("/api/v1/patients/").status_code == 401


def test_a_tampered_or_expired_access_token_is_a_401(engine, team):
    import jwt
    from django.conf import settings

    access = token(APIClient(), engine)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access[:-2]}xx")
    assert client.get(f"/fhir/Group/{team.pk}/$export", HTTP_PREFER="respond-async").status_code == 401
    claims = jwt.decode(access, options={"verify_signature": False})
    claims["exp"] = claims["iat"] - 1
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {jwt.encode(claims, settings.SECRET_KEY, algorithm='HS256')}"
    )
    response = client.get(f"/fhir/Group/{team.pk}/$export", HTTP_PREFER="respond-async")
    assert response.status_code == 401
    assert response.json()["issue"][0]["code"] == "login"


def test_the_smart_configuration_names_the_token_endpoint(anonymous):
    body = anonymous.get("/fhir/.well-known/smart-configuration").json()
    assert body["token_endpoint"].endswith("/fhir/auth/token")
    assert "private_key_jwt" in body["token_endpoint_auth_methods_supported"]


@pytest.mark.parametrize(
    "url",
    [
        "http://keys.hospital.example/jwks.json",
        "https://10.1.2.3/jwks.json",
        "https://localhost/jwks.json",
        "https://[::ffff:10.0.0.1]/jwks",
    ],
)
def test_a_jwks_url_must_be_https_and_public_and_nothing_else_is_contacted(url, monkeypatch):
    import socket

    def no_connection(*args, **kwargs):
        raise AssertionError("a connection was attempted")

    monkeypatch.setattr(socket, "create_connection", no_connection)
    with pytest.raises(JwksError):
        fetch_jwks(url)


def test_a_jwks_with_a_private_key_is_refused_at_registration(team, tmp_path):
    import json

    from django.core.management import CommandError, call_command

    path = tmp_path / "private.json"
    path.write_text(json.dumps({"keys": [{"kty": "RSA", "n": "x", "e": "AQAB", "d": "secret"}]}))
    with pytest.raises(CommandError):
        call_command("create_system_client", "--name", "Leaky", "--team", team.name, "--jwks-file", str(path))
