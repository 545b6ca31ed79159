"""Plumbing shared by the benchmarks in bench/ (not a benchmark itself).

Each benchmark owns a PostgreSQL database it drops and recreates at start, sets Django up
against it with bench settings, prints a progress line while it runs and a summary with
both measurements and their ratio at the end. Nothing here asserts a time: the machine is
shared and noisy, so every figure is read against a baseline measured in the same run.
"""

from __future__ import annotations

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
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PG_SERVER = "postgres://postgres@127.0.0.1:5432"
# A database number no other part of the project uses (CI uses 0 and 1).
BENCH_BROKER = "redis://127.0.0.1:6379/15"
BENCH_SECRET_KEY = "bench-only-secret-key-not-for-any-deployment-0123456789abcdef"  # noqa: S105 - bench DB only
VENV_BIN = ROOT / ".venv" / "bin"


# --- the diary's tables, for raw inserts and COPY (every NOT NULL column; see diary/migrations)

DIARY_TABLES = {
    "checkin": "diary_checkin",
    "adverse_effect": "diary_adverseeffect",
    "bolus": "diary_ptabolus",
    "medication": "diary_medicationdose",
}
DIARY_COMMON_COLUMNS = (
    "id",
    "patient_id",
    "reported_by_id",
    "reporter_role",
    "timezone",
    "local_date",
    "created_at",
    "updated_at",
    "late",
    "status",
    "retracted_reason",
    "version",
    "fingerprint",
    "ingest_key",
)
DIARY_COLUMNS = {
    "checkin": (
        *DIARY_COMMON_COLUMNS,
        "recorded_at",
        "pain_now",
        "pain_worst",
        "pain_least",
        "pain_average",
        "interference",
        "interference_mean",
        "neuropathic",
        "pain_sites",
        "breakthrough_episodes",
        "symptoms",
        "red_flags",
        "wants_fewer_medications",
        "wants_procedure_discussion",
        "note",
    ),
    "adverse_effect": (
        *DIARY_COMMON_COLUMNS,
        "recorded_at",
        "effect",
        "grade",
        "suspected_drug",
        "limits_daily_activities",
        "note",
    ),
    "bolus": (
        *DIARY_COMMON_COLUMNS,
        "occurred_at",
        "outcome",
        "dose",
        "unit",
        "pain_before",
        "pain_after",
        "source",
    ),
    "medication": (
        *DIARY_COMMON_COLUMNS,
        "taken_at",
        "drug",
        "dose",
        "unit",
        "route",
        "kind",
        "mme",
        "mme_note",
    ),
}

OBSERVED = {
    "checkin": "recorded_at",
    "adverse_effect": "recorded_at",
    "bolus": "occurred_at",
    "medication": "taken_at",
}
JSON_COLUMNS = frozenset({"interference", "neuropathic", "pain_sites", "symptoms", "red_flags"})
_ROW_DEFAULTS = {
    "checkin": {
        "pain_worst": None,
        "pain_least": None,
        "pain_average": None,
        "interference": {},
        "interference_mean": None,
        "neuropathic": [],
        "pain_sites": [],
        "breakthrough_episodes": None,
        "symptoms": {},
        "red_flags": [],
        "wants_fewer_medications": False,
        "wants_procedure_discussion": False,
        "note": "",
    },
    "adverse_effect": {"suspected_drug": "", "limits_daily_activities": False, "note": ""},
    "bolus": {"dose": None, "unit": "", "pain_before": None, "pain_after": None, "source": "patient"},
    "medication": {"kind": "scheduled", "mme": None, "mme_note": ""},
}


def diary_row(kind: str, *, rng, patient_id, user_id, zone: str, observed: datetime, **fields: Any) -> tuple:
    """A stored diary row for COPY, in DIARY_COLUMNS order: server fields filled as the
    ingest path fills them, JSON columns as text."""
    from zoneinfo import ZoneInfo

    values = {
        "id": uuid.UUID(int=rng.getrandbits(128), version=4),
        "patient_id": patient_id,
        "reported_by_id": user_id,
        "reporter_role": "patient",
        "timezone": zone,
        "local_date": observed.astimezone(ZoneInfo(zone)).date(),
        "created_at": observed,
        "updated_at": observed,
        "late": False,
        "status": "active",
        "retracted_reason": "",
        "version": 1,
        "fingerprint": f"{rng.getrandbits(256):064x}",
        "ingest_key": None,
        OBSERVED[kind]: observed,
        **_ROW_DEFAULTS[kind],
        **fields,
    }
    for name in JSON_COLUMNS & values.keys():
        values[name] = json.dumps(values[name])
    return tuple(values[c] for c in DIARY_COLUMNS[kind])


def copy_rows(conn, table: str, columns: Sequence[str], rows: Iterable[tuple]) -> int:
    """COPY rows into a table in the connection's current transaction; returns the count."""
    from psycopg import sql

    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    n = 0
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


# --- environment and database ------------------------------------------------------------


def database_url(name: str) -> str:
    return f"{PG_SERVER}/{name}"


def configure_env(*, database: str | None, eager: bool, broker: str = BENCH_BROKER, **extra: str) -> dict:
    """Bench settings for this process and for the servers it starts. Returns the env."""
    values = {
        "DJANGO_SETTINGS_MODULE": "backend.settings",
        "DJANGO_SECRET_KEY": BENCH_SECRET_KEY,
        "DJANGO_DEBUG": "false",
        "CELERY_BROKER_URL": broker,
        "CELERY_TASK_ALWAYS_EAGER": "true" if eager else "false",
        "LOG_LEVEL": "WARNING",
        # Tokens outlive the run; the bench logs in once per client.
        "JWT_ACCESS_MINUTES": "240",
        "EMAIL_URL": "dummymail://",
        "CACHE_URL": "locmemcache://",
        **extra,
    }
    if database is not None:
        values["DATABASE_URL"] = database if "://" in database else database_url(database)
    os.environ.update(values)
    return dict(os.environ)


def recreate_database(name: str) -> None:
    """Drop the bench database (closing its sessions) and create it empty."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def setup_django(*, migrate: bool = True) -> None:
    import warnings

    import django

    # whitenoise warns when collectstatic never ran; the benchmarks serve no static files.
    warnings.filterwarnings("ignore", message="No directory at")

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)


def close_django_connections() -> None:
    from django.db import connections

    connections.close_all()


def pg_connect(name: str, **kwargs):
    import psycopg

    return psycopg.connect(database_url(name), **kwargs)


def flush_bench_broker() -> None:
    """Empty the bench's own Redis database (15), which only benchmarks use."""
    import redis

    redis.Redis.from_url(BENCH_BROKER).flushdb()


def broker_queue_length(queue: str = "celery") -> int:
    import redis

    return int(redis.Redis.from_url(BENCH_BROKER).llen(queue))


def not_null_columns(conn, table: str) -> set[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = %s AND is_nullable = 'NO' AND column_default IS NULL",
        (table,),
    ).fetchall()
    return {r[0] for r in rows}


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
    from psycopg import sql

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
        from concurrent.futures import ThreadPoolExecutor

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


def step(message: str) -> None:
    sys.stderr.write(f"- {message}\n")
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
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

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
                status, _ = request("GET", self.port, "/healthz")
                if status == 200:
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
