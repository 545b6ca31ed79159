"""Harness for the reliability tests: a real Celery worker process, a Redis server of our
own, a webhook receiver on a real socket, and a stand-in for celery beat.

Everything here is started by a test and stopped by it, whatever happens; every wait is
bounded.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import redis

from backend.celery import app

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"

# Short enough for a test, and the same in the worker (environment) and in this process
# (settings): a row left in `sending` this long is abandoned; a pending row this old is
# swept again.
CLAIM_TIMEOUT_SECONDS = 2
SWEEP_GRACE_SECONDS = 1
# The Redis databases the worker tests may take on the shared server, first free first:
# never 0 or 1 (CI's broker and cache) nor 15 (bench/). Several test runs may share the
# server at once; each takes a database of its own (see `claim_redis_db`).
TEST_REDIS_DBS = range(14, 1, -1)
OWNER_KEY = "crossroad:reliability:owner"
USED_KEY = "crossroad:reliability:used"


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    """Poll until `predicate()` is truthy or `timeout` seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result or time.monotonic() >= deadline:
            return result
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- which services are here --------------------------------------------------------


def shared_redis_address() -> tuple[str, int]:
    """The Redis CI points CELERY_BROKER_URL at (127.0.0.1:6379 when it names none)."""
    url = os.environ.get("CELERY_BROKER_URL", "")
    if url.startswith("redis://"):
        parts = urlsplit(url)
        return parts.hostname or "127.0.0.1", parts.port or 6379
    return "127.0.0.1", 6379


def shared_redis_url(db: int = TEST_REDIS_DBS[0]) -> str:
    host, port = shared_redis_address()
    return f"redis://{host}:{port}/{db}"


@contextlib.contextmanager
def claim_redis_db(lease_seconds: int = 900) -> Iterator[str]:
    """An empty database of the shared Redis for this test alone; emptied afterwards.

    A database is taken by setting OWNER_KEY in it (NX, with a lease, so a crashed run
    frees it). One that holds keys of someone else is left alone; one that holds only what
    a crashed run of these tests left behind (USED_KEY) is emptied and taken.
    """
    token = uuid.uuid4().hex
    for db in TEST_REDIS_DBS:
        client = redis.Redis.from_url(shared_redis_url(db), socket_timeout=5)
        if not client.set(OWNER_KEY, token, nx=True, ex=lease_seconds):
            client.close()
            continue  # another run of these tests has it
        if client.dbsize() > 1 and not client.exists(USED_KEY):
            client.delete(OWNER_KEY)
            client.close()
            continue  # someone else's data
        for key in client.scan_iter(count=1000):
            if key != OWNER_KEY.encode():
                client.delete(key)
        client.set(USED_KEY, token)
        try:
            yield shared_redis_url(db)
        finally:
            client.flushdb()
            client.close()
        return
    raise RuntimeError(f"no free Redis database among {list(TEST_REDIS_DBS)} at {shared_redis_url(0)}")


def redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def postgres_in_use() -> bool:
    from django.conf import settings

    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def missing_services(*, shared_redis: bool = False, redis_server: bool = False) -> list[str]:
    missing = []
    if not postgres_in_use():
        missing.append("DATABASE_URL is not PostgreSQL")
    if shared_redis and not redis_answers(shared_redis_url()):
        missing.append(f"no Redis answers at {shared_redis_url()}")
    if redis_server and shutil.which("redis-server") is None:
        missing.append("redis-server is not installed")
    return missing


def needs(missing: list[str]):
    """Skip where a service is missing, except in CI, where the test runs and fails."""
    import pytest

    if not missing or IN_CI:
        return pytest.mark.skipif(False, reason="")
    return pytest.mark.skip(reason="; ".join(missing) + " (it always runs in CI)")


def database_url(settings_dict: dict) -> str:
    """A DATABASE_URL naming the database this test process uses (pytest's test_... one)."""
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{quote(settings_dict['NAME'], safe='')}"


# --- the Celery app of this process ------------------------------------------------------


def _drop_producer_pools(app) -> None:
    from kombu import pools

    app._pool = None
    amqp = app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None
    pools.reset()  # closes every pooled connection and forgets the pools


@contextlib.contextmanager
def celery_publishing_to(broker_url: str) -> Iterator[None]:
    """Make this process publish real messages to `broker_url` instead of running tasks
    eagerly. Celery copied the Django settings into `app.conf` when it was first used, so
    changing settings is not enough: the app's own configuration and connection pools
    change here, and are put back afterwards."""

    keys = ("task_always_eager", "broker_url", "broker_transport_options")
    saved = {key: app.conf[key] for key in keys}
    # Celery reads these variables before its configuration (celery.app.utils.Settings).
    variables = ("CELERY_BROKER_URL", "CELERY_BROKER_READ_URL", "CELERY_BROKER_WRITE_URL")
    saved_env = {name: os.environ.get(name) for name in variables}
    _drop_producer_pools(app)
    for name in variables:
        os.environ.pop(name, None)
    os.environ["CELERY_BROKER_URL"] = broker_url
    app.conf.update(
        task_always_eager=False, broker_url=broker_url, broker_transport_options={"visibility_timeout": 300}
    )
    try:
        yield
    finally:
        _drop_producer_pools(app)
        app.conf.update(saved)
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# --- a webhook receiver ------------------------------------------------------------------


def signature(secret: str, raw: bytes) -> str:
    """Computed here independently of alerts.channels: HMAC-SHA256 over the exact body."""
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


class WebhookReceiver:
    """A paging system on 127.0.0.1: records each request's Idempotency-Key, body and
    whether its signature is right, then answers 200 (after `delay` seconds). Requests to
    /hang are recorded and never answered while the test runs."""

    def __init__(self, secret: str):
        self.secret = secret
        self.delay = 0.0
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self._lock = threading.Lock()
        self._release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        raw = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        record = {
            "path": handler.path,
            "key": handler.headers.get("Idempotency-Key"),
            "signature_ok": hmac.compare_digest(
                handler.headers.get("X-Crossroad-Signature", ""), signature(self.secret, raw)
            ),
            "body": body,
            "at": time.monotonic(),
            "wall": time.time(),
        }
        with self._lock:
            self.requests.append(record)
            self.in_flight += 1
        try:
            if handler.path == "/hang":
                self._release.wait(60)
            elif self.delay:
                time.sleep(self.delay)
            handler.send_response(200)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
        except OSError:
            pass  # the worker died while we held its request
        finally:
            with self._lock:
                self.in_flight -= 1

    def received(self, path: str = "/hook") -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if r["path"] == path]

    def key_counts(self, path: str = "/hook") -> Counter:
        return Counter(r["key"] for r in self.received(path))

    def close(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


# --- processes ---------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    """Live (not zombie) children of `pid`, from /proc."""
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        state, parent = fields[0], int(fields[1])
        if parent == pid and state != "Z":
            live.append(int(stat.parent.name))
    return live


class Worker:
    """`celery -A backend worker --pool=prefork --concurrency=1`: a main process that
    receives messages and one child that runs tasks. SIGKILL of the child is what
    reject_on_worker_lost is for; the main process forks a new child."""

    def __init__(self, env: dict[str, str], log_path: Path, extra_args: tuple[str, ...] = ()):
        self.env = env
        self.log_path = log_path
        self.extra_args = extra_args
        self.process: subprocess.Popen | None = None
        self.kills = 0

    def start(self, timeout: float = 60) -> Worker:
        name = f"reliability-{uuid.uuid4().hex[:8]}@%h"
        command = [sys.executable, "-m", "celery", "-A", "backend", "worker", "--pool=prefork"]
        command += ["--concurrency=1", "--loglevel=info", "-n", name]
        command += ["--without-gossip", "--without-mingle", "--without-heartbeat", *self.extra_args]
        with open(self.log_path, "ab") as log:
            # A session of its own: stop() ends the worker and its child by process group.
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        started = wait_until(lambda: self.ready() or self.process.poll() is not None, timeout, 0.1)
        if not started or not self.ready():
            raise RuntimeError(f"the Celery worker did not start:\n{self.log_tail()}")
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ready(self) -> bool:
        return self.alive() and " ready." in self.log() and bool(self.children())

    def children(self) -> list[int]:
        return _children(self.pid) if self.alive() else []

    def kill_child(self) -> int:
        """SIGKILL the child running tasks, now; returns its pid."""
        children = self.children()
        assert len(children) == 1, f"expected one pool child, found {children}"
        (child,) = children
        os.kill(child, signal.SIGKILL)
        self.kills += 1
        return child

    def wait_for_new_child(self, killed: int, timeout: float = 30) -> None:
        """The main process notices a lost child at once or on its 5-second maintenance
        timer, requeues its message (reject_on_worker_lost) and forks a new one."""
        respawned = wait_until(lambda: (c := self.children()) and killed not in c, timeout, 0.02)
        assert respawned, f"no new pool child after killing {killed}:\n{self.log_tail()}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


class PrivateRedis:
    """A redis-server of our own on a free port, without persistence, which the test may
    crash (SIGKILL) and start again on the same port without touching the shared one."""

    def __init__(self, log_path: Path):
        self.port = free_port()
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self, timeout: float = 20) -> None:
        command = [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ]
        command += ["--appendonly", "no", "--daemonize", "no"]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - a fixed command line
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        if not wait_until(lambda: redis_answers(self.url()), timeout, 0.05):
            raise RuntimeError(
                f"redis-server did not start on port {self.port}:\n{self.log_path.read_text()}"
            )

    def crash(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    stop = crash


# --- celery beat, played by the test -------------------------------------------------------


class Beat:
    """Runs the sweepers the beat schedule runs, here and every `every` seconds (the real
    schedule says 30 and 60 s; the test cannot wait that long). It sweeps only when the
    broker queue is drained, as a beat would see it with room to spare, so that re-sent
    deliveries do not pile up behind the originals."""

    def __init__(self, broker_url: str, sweeps: list[Callable[[], Any]], every: float = 1.0):
        self.client = redis.Redis.from_url(broker_url, socket_timeout=1, socket_connect_timeout=1)
        self.sweeps = sweeps
        self.every = every
        self.last = 0.0
        self.runs = 0

    def queued(self) -> int | None:
        try:
            return int(self.client.llen("celery"))
        except redis.RedisError:
            return None

    def tick(self) -> None:
        if time.monotonic() - self.last < self.every or self.queued() != 0:
            return
        self.last = time.monotonic()
        for sweep in self.sweeps:
            sweep()
        self.runs += 1


class Gunicorn:
    """`gunicorn backend.wsgi` on a free port of 127.0.0.1, as production serves the API."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.env = env
        self.log_path = log_path
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> Gunicorn:
        command = [sys.executable, "-m", "gunicorn", "backend.wsgi", "--workers", "1"]
        command += ["--bind", f"127.0.0.1:{self.port}", "--timeout", "30"]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

        def answers() -> bool:
            if self.process.poll() is not None:
                return True
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
            return False

        wait_until(answers, timeout, 0.1)
        if self.process.poll() is not None:
            raise RuntimeError(f"gunicorn did not start:\n{self.log_path.read_text(errors='replace')}")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
