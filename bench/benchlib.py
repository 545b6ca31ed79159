"""Plumbing shared by the benchmarks in bench/ (not a benchmark itself).

Each benchmark calls setup() once at its top, before importing the product, then
in main() fresh_database() (its own PostgreSQL database, dropped and recreated, migrated),
prints a progress line while it runs and a summary with both measurements and their
ratio, a `RESULT {json}` line, and finish(). Nothing here asserts a time: the machine is
shared and noisy, so every figure is read against a baseline measured in the same run.

This module imports no project code: it runs before Django is set up. What describes the
product's own tables lives in bench/rows.py, imported after.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import django
import psycopg
import redis
from django.core.management import call_command
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
# The product imported from this checkout (the script's own directory is bench/).
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PG_SERVER = "postgres://postgres@127.0.0.1:5432"
# A database number no other part of the project uses (CI uses 0 and 1).
BENCH_BROKER = "redis://127.0.0.1:6379/15"
BENCH_SECRET_KEY = "bench-only-secret-key-not-for-any-deployment-0123456789abcdef"  # noqa: S105 - bench DB only
# gunicorn from the environment running the bench (the project's venv).
VENV_BIN = Path(sys.executable).parent


# --- environment and database ------------------------------------------------------------


def database_url(name: str) -> str:
    return name if "://" in name else f"{PG_SERVER}/{name}"


def is_sqlite(database: str) -> bool:
    return database.startswith("sqlite://")


def configure_env(*, database: str, eager: bool = False, broker: str = BENCH_BROKER, **extra: str) -> dict:
    """Bench settings for this process and for the servers it starts. Returns the env."""
    os.environ.update(bench_env(database=database, broker=broker))
    # Eager only for a script that wants the tasks run in-process instead of queued.
    os.environ.update({"CELERY_TASK_ALWAYS_EAGER": "true" if eager else "false", **extra})
    return dict(os.environ)


def bench_env(*, database: str, broker: str = BENCH_BROKER) -> dict[str, str]:
    """A bench process's environment: settings are read from it as in production."""
    return {
        "DJANGO_SETTINGS_MODULE": "backend.settings",
        "DJANGO_SECRET_KEY": BENCH_SECRET_KEY,
        "DJANGO_DEBUG": "false",
        "DATABASE_URL": database_url(database),
        # Tasks are published to the bench's Redis database, where no worker consumes
        # them: a request pays the enqueue, as in production, and never the task.
        "CELERY_BROKER_URL": broker,
        "LOG_LEVEL": "WARNING",
        # Tokens outlive the run; the bench logs in once per client.
        "JWT_ACCESS_MINUTES": "240",
        "EMAIL_URL": "dummymail://",
        "CACHE_URL": "locmemcache://",
    }


def chosen_database(default: str, argv: Sequence[str] | None = None) -> str:
    """The database named by `--database` (a PostgreSQL name or a URL) or `--sqlite` on
    the command line, else the script's default. Read before the script's own parser
    runs, because Django's settings need it before the product can be imported."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--database", default=default)
    parser.add_argument("--sqlite", action="store_true")
    known, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    if known.sqlite:
        return f"sqlite:///{Path(tempfile.gettempdir()) / known.database}.sqlite3"
    return known.database


def setup(default_database: str) -> str:
    """Point Django at the bench's own database and set it up; returns the database.

    Each script calls this once, at the top, before it imports the product: settings are
    read from the environment as in production. No connection is opened here; main()
    creates the database (fresh_database) before the first query."""
    database = chosen_database(default_database)
    configure_env(database=database)
    setup_django(migrate=False)
    return database


def setup_django(*, migrate: bool = True) -> None:
    """django.setup() for the environment configure_env() set; with `migrate`, migrate the
    database (which must exist)."""
    # whitenoise warns when collectstatic never ran; the benchmarks serve no static files.
    warnings.filterwarnings("ignore", message="No directory at")
    django.setup()
    if migrate:
        call_command("migrate", verbosity=0, interactive=False)


def add_database_options(parser: argparse.ArgumentParser, default: str) -> None:
    """The options chosen_database() reads, so that --help lists them."""
    parser.add_argument("--database", default=default, help=f"dropped and recreated ({default})")
    parser.add_argument("--keep-db", action="store_true", help="leave the database for inspection")


# A migrated database to copy instead of migrating from nothing (bench/smoke.py sets it).
TEMPLATE_ENV = "BENCH_TEMPLATE_DATABASE"
SHARED_BROKER_ENV = "BENCH_SHARED_BROKER"


def fresh_database(database: str) -> None:
    """Drop and recreate the bench database, migrate it, and empty the bench broker. With
    BENCH_TEMPLATE_DATABASE in the environment, the database starts as a copy of that one
    (already migrated: the migrate here then finds nothing to do)."""
    step(f"recreating database {database} and migrating")
    if is_sqlite(database):
        Path(database.removeprefix("sqlite:///")).unlink(missing_ok=True)
    else:
        recreate_database(database, template=os.environ.get(TEMPLATE_ENV) or None)
    if empty_broker_at_start_and_end():
        flush_bench_broker()
    call_command("migrate", verbosity=0, interactive=False)


def recreate_database(name: str, *, template: str | None = None) -> None:
    """Drop the database (closing its sessions) and create it empty, or as a copy of
    `template`."""
    drop_database(name)
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with pg_connect("postgres", autocommit=True) as conn:
        conn.execute(create)


def migrated_template(name: str) -> None:
    """Create `name` and migrate it in a child process (this one keeps no connection to
    it, so it can serve as a template)."""
    recreate_database(name)
    env = {**os.environ, **bench_env(database=name)}
    subprocess.run(  # noqa: S603 - our own manage.py with the venv's Python
        [sys.executable, str(ROOT / "manage.py"), "migrate", "--verbosity", "0", "--no-input"],
        env=env,
        check=True,
    )


def finish(database: str, *, keep: bool) -> None:
    """Close Django's connections, empty the bench broker and drop the database (unless
    kept for inspection)."""
    connections.close_all()
    if empty_broker_at_start_and_end():
        flush_bench_broker()
    if keep:
        return
    if is_sqlite(database):
        Path(database.removeprefix("sqlite:///")).unlink(missing_ok=True)
    else:
        drop_database(database)


def drop_database(name: str) -> None:
    with pg_connect("postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def close_django_connections() -> None:
    connections.close_all()


def pg_connect(name: str, **kwargs):
    return psycopg.connect(database_url(name), **kwargs)


def flush_bench_broker() -> None:
    """Empty the bench's own Redis database (15), which only benchmarks use."""
    redis.Redis.from_url(BENCH_BROKER).flushdb()


def queued_task_args(task_name: str) -> list[list]:
    """The arguments of every `task_name` message waiting in the bench broker, on any of
    the app's queues (kombu's Redis messages: JSON, the body base64 JSON of [args, kwargs,
    embed]); a red flag's evaluation waits on the urgent one."""
    from django.conf import settings

    client = redis.Redis.from_url(BENCH_BROKER)
    out = []
    for raw in (m for q in settings.CELERY_TASK_QUEUES for m in client.lrange(q.name, 0, -1)):
        message = json.loads(raw)
        if message["headers"].get("task") == task_name:
            args, _, _ = json.loads(base64.b64decode(message["body"]))
            out.append(args)
    return out


def empty_broker_at_start_and_end() -> bool:
    """False when benchmarks run side by side on the bench broker (bench/smoke.py sets
    BENCH_SHARED_BROKER): one emptying it would lose another's messages."""
    return not os.environ.get(SHARED_BROKER_ENV)


def copy_rows(conn, table: str, columns: Sequence[str], rows: Iterable[tuple]) -> int:
    """COPY rows into a table in the connection's current transaction; returns the count."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    n = 0
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


@contextlib.contextmanager
def without_constraints_and_indexes(conn, table: str, *, database: str | None = None) -> Iterator[None]:
    """Bulk-load the way pg_restore does: drop the table's indexes and constraints, load,
    then recreate them (validating foreign keys in one pass instead of per row). With
    `database`, the plain indexes are rebuilt two at a time on their own connections."""
    constraints = conn.execute(
        "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('p', 'f', 'u', 'c') ORDER BY contype = 'f'",
        (table,),
    ).fetchall()
    owned = {name for name, _, _ in constraints}
    indexes = [
        definition
        for name, definition in conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", (table,)
        ).fetchall()
        if name not in owned
    ]

    def add(name: str, definition: str) -> None:
        conn.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(sql.Identifier(table), sql.Identifier(name))
            + sql.SQL(definition)
        )

    for name, _, _ in reversed(constraints):
        conn.execute(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(sql.Identifier(table), sql.Identifier(name))
        )
    for name in {
        n for n, _ in conn.execute("SELECT indexname, 1 FROM pg_indexes WHERE tablename = %s", (table,))
    }:
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    conn.commit()
    yield
    conn.commit()
    for name, kind, definition in constraints:
        if kind != "f":  # the primary key first: it locks the table against the index builds
            add(name, definition)
    conn.commit()
    if database is None:
        for definition in indexes:
            conn.execute(sql.SQL(definition))
    else:

        def build(definition: str) -> None:
            with pg_connect(database) as other:
                other.execute("SET maintenance_work_mem = '256MB'")
                other.execute(sql.SQL(definition))

        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(build, indexes))
    for name, kind, definition in constraints:
        if kind == "f":
            add(name, definition)
    conn.commit()


# --- measuring -----------------------------------------------------------------------------


class Progress:
    """One status line on stderr, rewritten at most a few times a second."""

    def __init__(self, label: str, total: int | None = None):
        self.label = label
        self.total = total
        self.done = 0
        self.started = time.perf_counter()
        self._shown = 0.0

    def update(self, done: int | None = None, extra: str = "", *, force: bool = False) -> None:
        self.done = self.done + 1 if done is None else done
        now = time.perf_counter()
        if not force and now - self._shown < 0.25:
            return
        self._shown = now
        elapsed = now - self.started
        part = f"{self.done}/{self.total}" if self.total else str(self.done)
        rate = f"{self.done / elapsed:,.0f}/s" if elapsed > 0 else ""
        sys.stderr.write(f"\r  {self.label}: {part} {rate} {elapsed:5.1f}s {extra}\033[K")
        sys.stderr.flush()

    def finish(self, extra: str = "") -> float:
        self.update(self.done, extra, force=True)
        sys.stderr.write("\n")
        return time.perf_counter() - self.started


_STARTED = time.perf_counter()


def step(message: str) -> None:
    """A progress message on stderr, with the seconds since the script started."""
    sys.stderr.write(f"- [{time.perf_counter() - _STARTED:5.1f} s] {message}\n")
    sys.stderr.flush()


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def summary_ms(values: Sequence[float]) -> dict[str, float]:
    """Mean, median, p95 and spread of durations given in seconds, in milliseconds."""
    return {
        "mean_ms": statistics.fmean(values) * 1000,
        "median_ms": statistics.median(values) * 1000,
        "p95_ms": percentile(values, 95) * 1000,
        "min_ms": min(values) * 1000,
        "stdev_ms": (statistics.stdev(values) * 1000) if len(values) > 1 else 0.0,
    }


def interleaved(n: int, runs: dict[str, Callable[[], Any]]) -> dict[str, list[float]]:
    """Run each candidate n times, alternating A, B, A, B so that load spikes on the shared
    machine hit both alike; returns the durations in seconds."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    progress = Progress("interleaved runs", n * len(runs))
    for i in range(n):
        order = list(runs.items()) if i % 2 == 0 else list(reversed(runs.items()))
        for name, run in order:
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
            progress.update()
    progress.finish()
    return times


@contextlib.contextmanager
def count_queries() -> Iterator[list]:
    """The SQL run by Django inside the block (works with DEBUG off)."""
    with CaptureQueriesContext(connection) as captured:
        queries: list = []
        yield queries
    queries.extend(captured.captured_queries)


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_1m": round(os.getloadavg()[0], 2),
    }
    # "-dirty" when the working tree has uncommitted changes. A copy made with `git archive`
    # has no .git: give its commit in BENCH_GIT_SHA.
    info["git_sha"] = os.environ.get("BENCH_GIT_SHA", "")
    with contextlib.suppress(Exception):
        info["git_sha"] = (
            info["git_sha"]
            or subprocess.run(
                ["git", "describe", "--always", "--dirty", "--abbrev=7"],  # noqa: S607 - git from PATH, fixed arguments
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
        )
    with contextlib.suppress(Exception), pg_connect("postgres") as conn:
        info["postgres"] = conn.execute("SHOW server_version").fetchone()[0]
    return info


def print_header(title: str, settings: dict[str, Any]) -> None:
    print(f"== {title}")
    m = machine()
    print(
        f"   {m['date']}, {m['cpus']} CPUs, load {m['load_1m']}, Python {m['python']}, "
        f"PostgreSQL {m.get('postgres', '?')}, git {m.get('git_sha', '?')}"
    )
    print("   " + ", ".join(f"{k}={v}" for k, v in settings.items()))


def print_result_line(scenario: str, **fields: Any) -> None:
    """One machine-readable line per result (bench/README.md describes the fields)."""
    m = machine()
    record = {"scenario": scenario, **fields, "git_sha": m.get("git_sha"), "date": m["date"]}
    print("RESULT " + json.dumps(record, default=str, sort_keys=True))


def table(rows: Iterable[Sequence[Any]], header: Sequence[str]) -> str:
    rows = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append(
            "  ".join(
                c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return "\n".join(lines)


# --- servers -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """`gunicorn backend.wsgi` on a free loopback port; always stopped on exit (SIGTERM to
    the master this object started, SIGKILL if it lingers)."""

    def __init__(self, *, workers: int, env: dict, threads: int = 1, timeout: int = 120):
        self.workers = workers
        self.threads = threads
        self.env = env
        self.timeout = timeout
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="bench-gunicorn-", suffix=".log", delete=False)  # noqa: SIM115

    def __enter__(self) -> Gunicorn:
        command = [
            str(VENV_BIN / "gunicorn"),
            "backend.wsgi",
            "--workers",
            str(self.workers),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--timeout",
            str(self.timeout),
            "--log-level",
            "warning",
            "--error-logfile",
            "-",
        ]
        if self.threads > 1:
            command += ["--worker-class", "gthread", "--threads", str(self.threads)]
        self.process = subprocess.Popen(  # noqa: S603 - our own venv's gunicorn, fixed arguments
            command, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: see {self.log.name}")
            try:
                status, body = request("GET", self.port, "/healthz")
                # No Celery worker runs beside a benchmark's gunicorn: its heartbeat is stale.
                if status == 200 or (status == 503 and json.loads(body)["failing"] == ["worker"]):
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer /healthz in 60 s: see {self.log.name}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def __exit__(self, exc_type, *exc) -> None:
        self.stop()
        self.log.close()
        if exc_type is None:  # keep the server's log only when something went wrong
            Path(self.log.name).unlink(missing_ok=True)


def request(
    method: str,
    port: int,
    path: str,
    body: bytes | None = None,
    headers: dict | None = None,
    conn: http.client.HTTPConnection | None = None,
) -> tuple[int, bytes]:
    """One HTTP request on loopback; reuses `conn` (keep-alive) when given."""
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        if own:
            conn.close()


def login(port: int, username: str, secret: str) -> str:
    body = json.dumps({"username": username, "password": secret}).encode()
    status, raw = request("POST", port, "/api/v1/auth/token/", body, {"Content-Type": "application/json"})
    if status != 200:
        raise RuntimeError(f"login of {username} failed: {status} {raw[:200]!r}")
    return json.loads(raw)["access"]
