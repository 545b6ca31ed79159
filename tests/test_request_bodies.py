"""Request bodies an attacker or an unusual client sends (issue 8, items 2 and 12):
nesting deep enough to crash the JSON parser, and chunked bodies without a length."""

from __future__ import annotations

import http.client
import io
import json
import os

import pytest
from django.conf import settings as django_settings
from django.db import connection
from rest_framework_simplejwt.tokens import RefreshToken

from backend.chunked import ChunkedBodies
from diary.models import CheckIn
from tests.diary_helpers import checkin_body
from tests.reliability_helpers import Gunicorn, database_url, missing_services, needs

pytestmark = pytest.mark.django_db

DEEP = b"[" * 1000 + b"]" * 1000


def post_raw(client, path: str, raw: bytes):
    return client.generic("POST", path, raw, content_type="application/json")


@pytest.mark.parametrize(
    "path", ["/api/v1/auth/token/", "/api/v1/auth/enroll/", "/api/v1/auth/token/refresh/"]
)
def test_deeply_nested_json_is_a_400_without_a_login(client, path):
    response = post_raw(client, path, DEEP)

    assert response.status_code == 400
    assert response.json()["errors"]["body"] == ["The JSON body is nested too deeply."]


@pytest.mark.parametrize("path", ["/api/v1/sync/", "/api/v1/diary/checkins/"])
def test_deeply_nested_json_is_a_400_for_a_patient(api, patient, path):
    client = api(patient.user)
    response = client.generic("POST", path, DEEP, content_type="application/json")

    assert response.status_code == 400
    assert list(response.json()) == ["errors", "detail"]


def test_nesting_below_the_recursion_limit_but_above_ours_is_refused_too(api, patient):
    body = {"checkins": [checkin_body(note="x")]}
    deep: object = "leaf"
    for _ in range(django_settings.MAX_JSON_DEPTH):
        deep = {"x": deep}
    body["checkins"][0]["extra"] = deep

    response = api(patient.user).post("/api/v1/sync/", body, format="json")

    assert response.status_code == 400
    assert not CheckIn.objects.exists()


def test_a_real_sync_body_is_well_within_the_depth_limit(api, patient):
    response = api(patient.user).post("/api/v1/sync/", {"checkins": [checkin_body()]}, format="json")

    assert response.status_code == 200
    assert CheckIn.objects.count() == 1


# --- chunked bodies ---------------------------------------------------------------------------


def wsgi_call(app, environ: dict) -> tuple[str, bytes]:
    answer = {}

    def start_response(status, headers):
        answer["status"] = status

    body = b"".join(app(environ, start_response))
    return answer["status"], body


def test_a_chunked_body_the_server_did_not_terminate_is_refused_with_411():
    reached = []
    app = ChunkedBodies(lambda environ, start_response: reached.append(environ) or [])
    environ = {
        "REQUEST_METHOD": "POST",
        "HTTP_TRANSFER_ENCODING": "chunked",
        "wsgi.input": io.BytesIO(b"{}"),
    }

    status, body = wsgi_call(app, environ)

    assert status.startswith("411")
    assert json.loads(body)["detail"]
    assert reached == []


@pytest.fixture
def gunicorn(transactional_db, tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "DJANGO_SECRET_KEY": django_settings.SECRET_KEY,
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "MAX_REQUEST_BODY_BYTES": "20000",
        "PYTHONUNBUFFERED": "1",
    }
    server = Gunicorn(env, tmp_path / "gunicorn.log")
    try:
        yield server.start()
    finally:
        server.stop()


def chunked_post(port: int, path: str, chunks: list[bytes], token: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        conn.request("POST", path, body=iter(chunks), headers=headers, encode_chunked=True)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@needs(missing_services())
def test_a_chunked_sync_under_gunicorn_stores_its_records(gunicorn, patient):
    token = str(RefreshToken.for_user(patient.user).access_token)
    record = checkin_body(pain_now=4)
    raw = json.dumps({"checkins": [record]}).encode()

    status, body = chunked_post(gunicorn.port, "/api/v1/sync/", [raw[:20], raw[20:]], token)

    assert status == 200, body
    assert [r["id"] for r in json.loads(body)["results"]] == [record["id"]]
    assert CheckIn.objects.get(pk=record["id"]).pain_now == 4


@needs(missing_services())
def test_a_chunked_body_over_the_size_limit_under_gunicorn_is_a_413(gunicorn, patient):
    token = str(RefreshToken.for_user(patient.user).access_token)
    raw = json.dumps({"checkins": [checkin_body(note="n" * 500) for _ in range(60)]}).encode()
    assert len(raw) > 20000

    status, _ = chunked_post(
        gunicorn.port, "/api/v1/sync/", [raw[i : i + 4096] for i in range(0, len(raw), 4096)], token
    )

    assert status == 413
    assert not CheckIn.objects.exists()
