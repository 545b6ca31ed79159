"""Outbound requests (issue 8, items 5, 6 and 13): a paging webhook cannot be aimed at
our own network, a redirect is a failed delivery, and a webhook removed while pages are
queued dead-letters them. Receivers are real sockets on 127.0.0.1; only DNS answers are
faked (a boundary), to play a name that resolves where an attacker wants."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from alerts import outbox
from alerts.channels import channel_for
from alerts.models import Alert, EscalationPolicy, Notification
from backend import outbound
from backend.outbound import OutboundError
from care.checks import crossroad_deploy

pytestmark = pytest.mark.django_db


class Receiver:
    """An HTTP server on 127.0.0.1 answering every POST with `status` (and `location`)."""

    def __init__(self, status: int = 200, location: str = ""):
        self.status = status
        self.location = location
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append({"path": self.path, "host": self.headers["Host"], "raw": raw})
                self.send_response(receiver.status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def loopback_allowed(settings):
    settings.OUTBOUND_ALLOW_LOOPBACK = True


def fake_dns(monkeypatch, answers: dict[str, list[str]]) -> list[str]:
    """Names resolve to the given addresses; returns the names looked up, in order."""
    looked_up: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return real(host, port, *args, **kwargs)
        looked_up.append(host)
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in answers[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return looked_up


# --- which destinations are refused -------------------------------------------------------

REFUSED_URLS = [
    "https://127.0.0.1:8443/hook",
    "https://127.1/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://[::1]/hook",
    "https://localhost/hook",
    "https://0.0.0.0/hook",
    "https://[::ffff:127.0.0.1]/",
    "https://[::ffff:7f00:1]/",
    "https://10.0.0.1/",
    "https://192.168.1.10/",
    "https://172.16.0.1/",
    "https://100.64.0.1/",
    "https://[fd00::1]/",
    "https://[fe80::1]/",
    "https://224.0.0.1/",
    "https://240.0.0.1/",
    "http://pager.example/hook",
    "ftp://pager.example/hook",
    "https://user:pass@pager.example/hook",
]


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_a_private_or_plain_http_destination_is_refused_without_a_connection(url, monkeypatch):
    connections = []
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: connections.append(a))
    with pytest.raises(OutboundError) as refused:
        outbound.post(url, body=b"{}", headers={})
    assert refused.value.permanent
    assert connections == []


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "::1", "::ffff:10.0.0.1", "169.254.169.254"])
def test_a_name_that_resolves_to_a_private_address_is_refused(address, monkeypatch):
    fake_dns(monkeypatch, {"pager.internal.example": [address]})
    with pytest.raises(OutboundError, match="resolves to") as refused:
        outbound.post("https://pager.internal.example/hook", body=b"{}", headers={})
    assert refused.value.permanent


def test_one_private_address_among_public_ones_refuses_the_name(monkeypatch):
    fake_dns(monkeypatch, {"pager.example": ["93.184.215.14", "127.0.0.1"]})
    with pytest.raises(OutboundError, match="loopback"):
        outbound.post("https://pager.example/hook", body=b"{}", headers={})


def test_even_with_loopback_allowed_other_private_ranges_stay_closed(loopback_allowed, monkeypatch):
    fake_dns(monkeypatch, {"pager.example": ["10.0.0.7"], "public.example": ["93.184.215.14"]})
    with pytest.raises(OutboundError, match="private"):
        outbound.post("https://pager.example/hook", body=b"{}", headers={})
    with pytest.raises(OutboundError, match="https"):  # plain http only to loopback
        outbound.post("http://public.example/hook", body=b"{}", headers={})


# --- what is sent where --------------------------------------------------------------------


def test_the_connection_goes_to_the_checked_address_with_the_name_as_host(
    loopback_allowed, receiver, monkeypatch
):
    """DNS rebinding: the name is resolved once, checked, and that address is used; a
    second lookup (which an attacker would answer with a private address) never happens."""
    looked_up = fake_dns(monkeypatch, {"pager.test": ["127.0.0.1"]})

    status = outbound.post(f"http://pager.test:{receiver.port}/hook", body=b"{}", headers={})

    assert status == 200
    assert looked_up == ["pager.test"]
    [request] = receiver.requests
    assert request["host"] == f"pager.test:{receiver.port}"
    assert request["raw"] == b"{}"


def test_a_redirect_is_a_failed_delivery_and_is_not_followed(loopback_allowed, receiver):
    target = Receiver()
    try:
        receiver.status, receiver.location = 302, target.url("/elsewhere")
        with pytest.raises(OutboundError, match="302") as failed:
            outbound.post(receiver.url(), body=b"{}", headers={"X-Crossroad-Signature": "sha256=x"})
        assert not failed.value.permanent  # retried, then dead-lettered
        assert target.requests == []  # nothing, and no signature, went to the Location
    finally:
        target.close()


def test_a_server_that_never_answers_times_out(loopback_allowed):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        with pytest.raises(OutboundError, match=r"[Tt]imeout"):
            outbound.post(f"http://127.0.0.1:{port}/hook", body=b"{}", headers={}, timeout=0.3)


def test_a_5xx_is_a_failure_to_retry(loopback_allowed, receiver):
    receiver.status = 503
    with pytest.raises(OutboundError, match="503") as failed:
        outbound.post(receiver.url(), body=b"{}", headers={})
    assert not failed.value.permanent


# --- the webhook channel through the outbox --------------------------------------------------


def queued_webhook(patient, url: str) -> Notification:
    EscalationPolicy.objects.update_or_create(
        team=patient.care_team, defaults={"webhook_url": url, "webhook_secret": "s3cret"}
    )
    now = datetime.now(UTC)
    alert = Alert.objects.create(
        patient=patient,
        rule="red_flag",
        severity="urgent",
        created_at=now,
        last_triggered_at=now,
        evidence={"days": []},
    )
    return Notification.objects.create(
        key=f"alert:{alert.pk}:1:urgent:webhook",
        kind="alert",
        channel="webhook",
        alert=alert,
        team=patient.care_team,
        next_attempt_at=now,
        created_at=now,
    )


def test_a_webhook_answering_a_redirect_is_retried_not_marked_sent(patient, loopback_allowed, receiver):
    receiver.status, receiver.location = 302, "http://127.0.0.1:9/plain"
    row = queued_webhook(patient, receiver.url())

    assert outbox.deliver(row.pk) == "retry"

    row.refresh_from_db()
    assert (row.status, row.attempts) == ("pending", 1)
    assert "302" in row.last_error
    assert len(receiver.requests) == 1


def test_a_webhook_aimed_at_the_metadata_service_is_dead_lettered_at_once(patient):
    row = queued_webhook(patient, "https://169.254.169.254/latest/meta-data/")

    assert outbox.deliver(row.pk) == "dead"

    row.refresh_from_db()
    assert row.status == "dead"
    assert "link-local" in row.last_error


def test_a_webhook_cleared_while_its_pages_wait_dead_letters_them_with_a_reason(patient, receiver):
    row = queued_webhook(patient, "https://pager.example/hook")
    EscalationPolicy.objects.filter(team=patient.care_team).update(webhook_url="")

    assert outbox.deliver(row.pk) == "dead"

    row.refresh_from_db()
    assert row.status == "dead"
    assert "no paging webhook" in row.last_error


def test_the_webhook_channel_posts_signed_json_to_the_receiver(patient, loopback_allowed, receiver):
    row = queued_webhook(patient, receiver.url())

    assert outbox.deliver(row.pk) == "sent"

    [request] = receiver.requests
    assert json.loads(request["raw"])["key"] == row.key
    assert channel_for(row).__class__.__name__ == "WebhookChannel"


# --- at save time ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:8443/hook",
        "https://169.254.169.254/",
        "https://[::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://10.0.0.1/",
        "https://0.0.0.0/",
        "https://localhost/hook",
        "https://pager.localhost/hook",
        "http://pager.example/hook",
    ],
)
def test_a_team_cannot_save_a_webhook_aimed_at_a_private_address(api, team, team_admin, url):
    body = {
        "tiers": [
            {"recipients": {"team_roles": ["nurse"]}, "timeout_minutes": {"urgent": 15, "warning": 240}}
        ],
        "webhook_url": url,
        "webhook_secret": "s3cret",
    }
    response = api(team_admin).put(f"/api/v1/teams/{team.pk}/escalation-policy/", body, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["webhook_url"]
    assert not EscalationPolicy.objects.filter(team=team, webhook_url=url).exists()


def test_a_team_saves_a_public_https_webhook(api, team, team_admin):
    body = {
        "tiers": [
            {"recipients": {"team_roles": ["nurse"]}, "timeout_minutes": {"urgent": 15, "warning": 240}}
        ],
        "webhook_url": "https://pager.example.org/hook",
        "webhook_secret": "s3cret",
    }
    response = api(team_admin).put(f"/api/v1/teams/{team.pk}/escalation-policy/", body, format="json")

    assert response.status_code == 200, response.content
    assert EscalationPolicy.objects.get(team=team).webhook_url == "https://pager.example.org/hook"


def test_the_deploy_check_names_a_loopback_allowance_left_on(settings):

    settings.OUTBOUND_ALLOW_LOOPBACK = True

    assert any("OUTBOUND_ALLOW_LOOPBACK" in warning.msg for warning in crossroad_deploy(None))
