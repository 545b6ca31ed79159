"""Soak: the production stack on this machine under a cohort's morning peak, with chaos,
then a reconciliation of every record and red flag (issue 12; docs/capacity.md).

What runs, all on loopback and all started and stopped by this process:

- a fresh PostgreSQL database (`crossroad_soak`, dropped at the end unless --keep-db) with
  the cohort of bench/cohort.py (N patients, several teams and zones, 90 days of history);
- a private redis-server on a free port (the broker and the cache; the shared one at 6379
  is never touched);
- `gunicorn backend.wsgi --workers 4 --timeout 30`, `celery -A backend worker`, and
  `celery -A backend beat` (docs/deploy.md), restarted by this process when the chaos
  kills them, as a supervisor would;
- a webhook receiver (the teams' paging system) that checks each delivery's signature;
- Locust, headless (bench/soak_locustfile.py): phones syncing a day's entries at the
  cohort's peak-hour rate (5 % with a backlog of 2-6 days, 1 % with a red flag, some sent
  by caregivers), nurses keeping the triage list open (API and clinic page, every 30 s)
  and acknowledging;
- the hourly scheduled rules for all N patients, sent once at --hourly-at as beat sends
  them on the hour;
- chaos at scripted seconds (--chaos): PostgreSQL restarted (full runs only: it is the
  machine's shared server), the private Redis stopped 60 s, the Celery worker SIGKILLed and
  restarted, a gunicorn worker SIGKILLed, beat SIGKILLed and restarted.

Every 5 s it samples the evaluation backlog (EvaluationRequest rows), the outbox backlog
(pending or sending Notification rows), the broker queue, the machine's load and the CPU
seconds of each process from /proc. After the load it waits for the system to settle,
then reconciles: every record a phone saw `created` or `duplicate` is stored exactly once,
none is stored that no phone sent, every red flag has an urgent alert and a sent webhook,
no evaluation request, due escalation or notification is left. It writes CSV files, PNG
figures (matplotlib) and summary.md into --out, and exits 1 when the reconciliation fails.

    .venv/bin/python bench/soak.py --smoke                    # CI: 300 patients, 1 minute, worker kill
    .venv/bin/python bench/soak.py --patients 50000           # 10 minutes, every chaos step
    .venv/bin/python bench/soak.py --patients 20000 --minutes 5 --chaos "60:worker_kill,150:redis_stop"
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import hmac
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import benchlib
import cohort
import diary_model

ROOT = benchlib.ROOT
BIN = Path(sys.executable).parent
DEFAULT_CHAOS = "90:worker_kill,180:redis_stop,300:gunicorn_worker_kill,390:pg_restart,480:beat_kill"
SMOKE_CHAOS = "25:worker_kill"
CHAOS_STEPS = ("pg_restart", "redis_stop", "worker_kill", "gunicorn_worker_kill", "beat_kill")
SAMPLE_SECONDS = 5
TICKS = os.sysconf("SC_CLK_TCK")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=50_000, help="cohort size (50000)")
    parser.add_argument("--days", type=int, default=90, help="days of history per patient (90)")
    parser.add_argument("--minutes", type=float, default=10, help="length of the load (10)")
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="syncs per second (default: the cohort's peak-hour rate, every patient once 09:00-10:00 local)",
    )
    parser.add_argument(
        "--chaos",
        default=None,
        help=f"second:step,... from {', '.join(CHAOS_STEPS)}; 'none' for none (default {DEFAULT_CHAOS})",
    )
    parser.add_argument(
        "--hourly-at", type=float, default=45, help="second at which the hourly run is sent (45)"
    )
    parser.add_argument("--gunicorn-workers", type=int, default=4)
    parser.add_argument(
        "--settle", type=float, default=300, help="seconds to wait for the backlogs to drain (300)"
    )
    parser.add_argument("--smoke", action="store_true", help="300 patients, 1 minute, one chaos step (CI)")
    parser.add_argument("--database", default="crossroad_soak", help="dropped and recreated")
    parser.add_argument(
        "--reuse-db", action="store_true", help="keep a database loaded by an earlier --keep-db run"
    )
    parser.add_argument(
        "--keep-db", action="store_true", help="leave the database for inspection or --reuse-db"
    )
    parser.add_argument("--out", default=None, help="output folder (var/soak/<time>)")
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    if args.smoke:
        args.patients = min(args.patients, 300) if args.patients != 50_000 else 300
        args.days = min(args.days, 30)
        args.minutes = 1
        args.rate = args.rate or 4.0
        args.chaos = args.chaos or SMOKE_CHAOS
        args.hourly_at = min(args.hourly_at, 10)
        args.settle = min(args.settle, 240)
        args.gunicorn_workers = min(args.gunicorn_workers, 2)
    args.chaos = DEFAULT_CHAOS if args.chaos is None else args.chaos
    steps = []
    if args.chaos != "none":
        for part in args.chaos.split(","):
            second, name = part.split(":")
            if name not in CHAOS_STEPS:
                parser.error(f"unknown chaos step {name}")
            steps.append((float(second), name))
    args.steps = sorted(steps)
    if args.smoke and any(name == "pg_restart" for _, name in args.steps):
        parser.error("pg_restart restarts the machine's shared PostgreSQL: full runs only, not --smoke")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    args.out = Path(args.out or ROOT / "var" / "soak" / f"{stamp}{'-smoke' if args.smoke else ''}")
    return args


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(message: str) -> None:
    benchlib.step(f"[{datetime.now(UTC).strftime('%H:%M:%S')}] {message}")


# --- processes ---------------------------------------------------------------------------


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def cpu_ticks(pid: int) -> int | None:
    """utime + stime of one process (not its reaped children: each is counted itself)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[11]) + int(fields[12])


class Service:
    """One long-running process of the stack, in a session of its own (so that a kill
    takes its children too); restartable."""

    def __init__(self, name: str, command: list[str], env: dict, out: Path):
        self.name, self.command, self.env = name, command, env
        self.log_path = out / f"{name}.log"
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        with open(self.log_path, "ab") as handle:
            self.process = subprocess.Popen(  # noqa: S603 - our own venv's programs, fixed arguments
                self.command,
                cwd=ROOT,
                env=self.env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def pids(self) -> list[int]:
        if not self.alive():
            return []
        return [self.pid, *children_of(self.pid)]

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if predicate():
                return
        time.sleep(interval)
    raise RuntimeError(f"timed out waiting for {what}")


def http_status(port: int, path: str) -> int:
    status, _ = benchlib.request("GET", port, path)
    return status


def web_ready(port: int) -> bool:
    """gunicorn answers and only the worker heartbeat fails: the worker starts after it."""
    status, body = benchlib.request("GET", port, "/healthz")
    return status == 200 or (status == 503 and json.loads(body)["failing"] == ["worker"])


class Stack:
    """Redis, gunicorn, the Celery worker and beat for the soak's database."""

    def __init__(self, args: argparse.Namespace, env: dict):
        self.args, self.out = args, args.out
        self.redis_port = free_port()
        self.web_port = free_port()
        self.env = {
            **env,
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "CACHE_URL": f"rediscache://127.0.0.1:{self.redis_port}/1",
        }
        redis_command = [shutil.which("redis-server") or "redis-server", "--port", str(self.redis_port)]
        redis_command += ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"]
        self.redis = Service("redis", redis_command, self.env, self.out)
        self.web = Service(
            "gunicorn",
            [
                str(BIN / "gunicorn"),
                "backend.wsgi",
                "--workers",
                str(args.gunicorn_workers),
                "--bind",
                f"127.0.0.1:{self.web_port}",
                "--timeout",
                "30",
                "--log-level",
                "warning",
                # Each request's time inside gunicorn (µs), beside the phones' own clock.
                "--access-logfile",
                str(args.out / "access.log"),
                "--access-logformat",
                "%(t)s %(p)s %(m)s %(U)s %(s)s %(D)s",
            ],
            self.env,
            self.out,
        )
        self.worker = Service(
            "worker",
            [
                str(BIN / "celery"),
                "-A",
                "backend",
                "worker",
                "--loglevel=info",
                "-n",
                f"soak-{self.redis_port}@%h",
            ],
            self.env,
            self.out,
        )
        self.beat = Service(
            "beat",
            [
                str(BIN / "celery"),
                "-A",
                "backend",
                "beat",
                "--loglevel=info",
                "--schedule",
                str(self.out / "celerybeat-schedule"),
            ],
            self.env,
            self.out,
        )

    def broker_url(self) -> str:
        return self.env["CELERY_BROKER_URL"]

    def start_redis(self) -> None:
        self.redis.start()
        wait_for(lambda: self.redis_client().ping(), 20, "redis-server")

    def redis_client(self):
        import redis

        return redis.Redis(port=self.redis_port, socket_timeout=2, socket_connect_timeout=1)

    def start_worker(self) -> None:
        before = self.worker.log_text().count(" ready.")
        self.worker.start()
        wait_for(lambda: self.worker.log_text().count(" ready.") > before, 90, "the Celery worker")

    def start(self) -> None:
        self.start_redis()
        self.web.start()
        wait_for(lambda: web_ready(self.web_port), 90, "gunicorn /healthz")
        self.start_worker()
        self.beat.start()

    def services(self) -> list[Service]:
        return [self.web, self.worker, self.beat, self.redis]

    def stop(self) -> None:
        for service in (self.beat, self.worker, self.web, self.redis):
            service.stop()


# --- the paging system -------------------------------------------------------------------


class Receiver:
    """The teams' webhook on loopback: records each delivery with its arrival time."""

    def __init__(self):
        self.lock = threading.Lock()
        self.deliveries: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                expected = (
                    "sha256=" + hmac.new(cohort.WEBHOOK_SECRET.encode(), raw, hashlib.sha256).hexdigest()
                )
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {}
                with receiver.lock:
                    receiver.deliveries.append(
                        {
                            "t": time.time(),
                            "key": self.headers.get("Idempotency-Key"),
                            "signature_ok": hmac.compare_digest(
                                self.headers.get("X-Crossroad-Signature", ""), expected
                            ),
                            "alert": body.get("alert"),
                            "patient": body.get("patient"),
                            "rule": body.get("rule"),
                        }
                    )
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self.thread.start()

    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- sampling ----------------------------------------------------------------------------


class Sampler(threading.Thread):
    """Every 5 s: backlogs, broker queue, load and CPU seconds per process, to timeseries.csv."""

    FIELDS = (
        "t",
        "load_1m",
        "evaluation_requests",
        "outbox_pending",
        "notifications_sent",
        "queue",
        "scheduled_chunks",
        *(f"cpu_{n}" for n in ("gunicorn", "worker", "beat", "redis", "postgres", "locust")),
    )

    def __init__(self, args, stack: Stack, started: float):
        super().__init__(daemon=True)
        self.args, self.stack, self.started = args, stack, started
        self.stopping = threading.Event()
        self.rows: list[dict] = []
        self.last: dict[tuple[str, int], int] = {}  # (role, pid) -> ticks last seen
        self.locust_pid: int | None = None
        self.conn = None

    def query(self, statement: str) -> list | None:
        try:
            if self.conn is None or self.conn.closed:
                self.conn = benchlib.pg_connect(self.args.database, autocommit=True, connect_timeout=2)
            return self.conn.execute(statement).fetchall()
        except Exception:
            with contextlib.suppress(Exception):
                self.conn.close()
            self.conn = None
            return None

    def cpu(self) -> dict[str, float]:
        roles: dict[str, list[int]] = {s.name: s.pids() for s in self.stack.services()}
        backends = self.query(
            f"SELECT pid FROM pg_stat_activity WHERE datname = '{self.args.database}'"  # noqa: S608 - our own name
        )
        roles["postgres"] = [r[0] for r in backends or []]
        roles["locust"] = [self.locust_pid, *children_of(self.locust_pid)] if self.locust_pid else []
        for role, pids in roles.items():
            for pid in pids:
                ticks = cpu_ticks(pid)
                if ticks is not None:
                    self.last[(role, pid)] = max(ticks, self.last.get((role, pid), 0))
        totals: dict[str, float] = defaultdict(float)
        for (role, _), ticks in self.last.items():
            totals[role] += ticks / TICKS
        return totals

    def scheduled_chunks(self) -> int | None:
        """Chunks of the hourly run not done yet (alerts.models.ClockChunk): the run's state
        is in the database, so a chunk the broker lost still counts until it is sent again."""
        rows = self.query("SELECT count(*) FROM alerts_clockchunk WHERE done_at IS NULL")
        return rows[0][0] if rows else None

    def sample(self) -> dict:
        row: dict[str, Any] = {"t": round(time.time() - self.started, 1), "load_1m": os.getloadavg()[0]}
        counts = self.query(
            "SELECT (SELECT count(*) FROM alerts_evaluationrequest), "
            "(SELECT count(*) FROM alerts_notification WHERE status IN ('pending', 'sending')), "
            "(SELECT count(*) FROM alerts_notification WHERE status = 'sent')"
        )
        if counts:
            row["evaluation_requests"], row["outbox_pending"], row["notifications_sent"] = counts[0]
        try:
            row["queue"] = self.stack.redis_client().llen("celery")
        except Exception:
            row["queue"] = None
        row["scheduled_chunks"] = self.scheduled_chunks()
        for role, seconds in self.cpu().items():
            row[f"cpu_{role}"] = round(seconds, 2)
        return row

    def run(self) -> None:
        with open(self.args.out / "timeseries.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, self.FIELDS, extrasaction="ignore")
            writer.writeheader()
            while not self.stopping.is_set():
                row = self.sample()
                self.rows.append(row)
                writer.writerow(row)
                handle.flush()
                self.stopping.wait(SAMPLE_SECONDS)


# --- chaos -------------------------------------------------------------------------------


class Chaos(threading.Thread):
    """Runs the scripted steps at their second; each event goes to events.csv with its
    start and end (when the broken part answers again)."""

    def __init__(self, args, stack: Stack, started: float):
        super().__init__(daemon=True)
        self.args, self.stack, self.started = args, stack, started
        self.events: list[dict] = []
        self.stopping = threading.Event()

    def now(self) -> float:
        return round(time.time() - self.started, 1)

    def run(self) -> None:
        steps = list(self.args.steps)
        hourly = [(self.args.hourly_at, "hourly_run")]
        for second, name in sorted(steps + hourly):
            if self.stopping.wait(max(0.0, self.started + second - time.time())):
                return
            begin = self.now()
            detail = ""
            try:
                detail = getattr(self, name)() or ""
            except Exception as exc:
                detail = f"FAILED: {type(exc).__name__}: {exc}"
            self.events.append({"step": name, "start": begin, "end": self.now(), "detail": detail})
            log(f"chaos {name} at {begin:.0f} s, back at {self.now():.0f} s {detail}")

    def hourly_run(self) -> str:
        from celery import Celery

        app = Celery(broker=self.stack.broker_url())
        app.send_task("alerts.tasks.evaluate_scheduled_rules")
        return "sent alerts.tasks.evaluate_scheduled_rules, as beat on the hour"

    def worker_kill(self) -> str:
        pids = self.stack.worker.pids()
        self.stack.worker.kill(signal.SIGKILL)
        time.sleep(3)  # a supervisor's restart delay
        self.stack.start_worker()
        return f"SIGKILL {pids}, restarted"

    def gunicorn_worker_kill(self) -> str:
        children = children_of(self.stack.web.pid)
        if not children:
            return "no gunicorn worker found"
        os.kill(children[0], signal.SIGKILL)
        wait_for(
            lambda: len(children_of(self.stack.web.pid)) >= self.args.gunicorn_workers, 60, "gunicorn respawn"
        )
        return f"SIGKILL worker {children[0]}; the master forked a new one"

    def beat_kill(self) -> str:
        pid = self.stack.beat.pid
        self.stack.beat.kill(signal.SIGKILL)
        time.sleep(5)
        self.stack.beat.start()
        return f"SIGKILL beat {pid}, restarted"

    def redis_stop(self) -> str:
        self.stack.redis.stop()
        time.sleep(60)
        self.stack.start_redis()
        return "stopped 60 s (its queue is lost: no persistence), started again on the same port"

    def pg_restart(self) -> str:
        version = sorted(os.listdir("/etc/postgresql"))[-1]
        subprocess.run(  # noqa: S603 - the machine's own cluster tool, fixed arguments
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],  # noqa: S607
            check=True,
            capture_output=True,
            timeout=120,
        )
        wait_for(
            lambda: benchlib.pg_connect("postgres", connect_timeout=2).close() is None, 120, "PostgreSQL"
        )
        return f"pg_ctlcluster {version} main restart"


# --- the run -------------------------------------------------------------------------------


def peak_hour_rate(zones: Counter) -> float:
    """Syncs per second in the busiest UTC hour when every patient syncs once between
    09:00 and 10:00 local time (today's offsets)."""
    today = datetime.now(UTC).date()
    by_hour: Counter = Counter()
    for zone, count in zones.items():
        local_nine = datetime(today.year, today.month, today.day, 9, tzinfo=ZoneInfo(zone))
        by_hour[local_nine.astimezone(UTC).hour] += count
    return max(by_hour.values()) / 3600


def patient_pain_levels() -> dict:
    """Each patient's own pain level, as the cohort's history has it (bench/diary_model.py)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT p.id, {diary_model.PAIN_LEVEL_SQL} FROM care_patient p")  # noqa: S608 - constants
        return dict(cursor.fetchall())


def build_manifest(args, loaded: dict, deadline: float, retry_deadline: float) -> tuple[dict, dict]:
    """The slots the phones take in order, tokens minted here (as after a login)."""
    from rest_framework_simplejwt.tokens import AccessToken

    from alerts.models import Alert
    from care.models import CaregiverLink, Patient, User

    rng = random.Random(args.seed)
    patients = list(
        Patient.objects.values_list("pk", "user_id", "timezone", "baseline_mme", "idds").order_by("pk")
    )
    zones = Counter(p[2] for p in patients)
    rate = args.rate or peak_hour_rate(zones)
    wanted = min(len(patients), math.ceil(rate * args.minutes * 60 * 1.15) + 5)
    chosen = rng.sample(patients, wanted)
    flagged = set(
        Alert.objects.filter(rule="red_flag").unresolved().values_list("patient_id", flat=True).distinct()
    )
    eligible = [i for i, p in enumerate(chosen) if p[0] not in flagged]
    red = set(rng.sample(eligible, min(len(eligible), max(3 if args.smoke else 1, round(wanted * 0.01)))))
    caregivers = dict(
        CaregiverLink.objects.filter(patient__in=[p[0] for p in chosen]).values_list(
            "patient_id", "caregiver_id"
        )
    )
    users = {u.pk: u for u in User.objects.filter(pk__in=[p[1] for p in chosen] + list(caregivers.values()))}
    pain_levels = patient_pain_levels()
    slots = []
    for i, (pk, user_id, _zone, mme, idds) in enumerate(chosen):
        caregiver = caregivers.get(pk) if rng.random() < 0.3 else None
        slots.append(
            {
                "patient": str(pk),
                "token": str(AccessToken.for_user(users[user_id])),
                "caregiver_token": str(AccessToken.for_user(users[caregiver])) if caregiver else None,
                "opioid": mme is not None,
                "pain_level": pain_levels[pk],
                "idds": idds,
                "backlog": rng.randint(2, 6) if rng.random() < 0.05 else 0,
                "red_flag": i in red,
            }
        )
    nurses = []
    for nurse in loaded["nurses"]:
        user = User.objects.get(pk=nurse["id"])
        nurses.append({**nurse, "token": str(AccessToken.for_user(user))})
    # Enough phones that a slow answer does not slow the offered rate; each paces itself.
    phones = max(4, math.ceil(rate * 8))
    manifest = {
        "slots": slots,
        "nurses": nurses,
        "nurse_password": cohort.NURSE_PASSWORD,
        "phones": phones,
        "phone_pacing": phones / rate,
        "deadline": deadline,
        "retry_deadline": retry_deadline,
    }
    info = {
        "rate": rate,
        "slots": len(slots),
        "red_flags": len(red),
        "phones": phones,
        "zones": dict(zones),
        "backlog_slots": sum(1 for s in slots if s["backlog"]),
        "caregiver_slots": sum(1 for s in slots if s["caregiver_token"]),
    }
    return manifest, info


def read_ledger(path: Path) -> dict[str, Any]:
    sent: dict[int, dict] = {}
    answered: dict[int, dict] = {}
    other: Counter = Counter()
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record["e"] == "sent":
            sent[record["slot"]] = record
        elif record["e"] == "answered":
            answered[record["slot"]] = record
        else:
            other[record["e"]] += 1
    return {"sent": sent, "answered": answered, "other": other}


DIARY_TABLES = {
    "checkin": "diary_checkin",
    "medication": "diary_medicationdose",
    "bolus": "diary_ptabolus",
    "adverse_effect": "diary_adverseeffect",
}


def settle(args, stack: Stack) -> float | None:
    """Wait until nothing is left to do: no evaluation request, no pending or sending
    notification, no due escalation, an empty broker queue (the hourly run taken). Returns
    the seconds it took, None if not within --settle."""
    began = time.time()

    def queued() -> int:
        # Messages waiting in the queue. Those a killed worker held unacknowledged come
        # back only after the 300 s visibility timeout: not waited for (their work is in
        # the database rows checked above, or is the hourly run's, reported apart).
        try:
            return stack.redis_client().llen("celery")
        except Exception:
            return -1

    with benchlib.pg_connect(args.database, autocommit=True) as conn:
        while time.time() - began < args.settle:
            left = conn.execute(
                "SELECT (SELECT count(*) FROM alerts_evaluationrequest), "
                "(SELECT count(*) FROM alerts_notification WHERE status IN ('pending', 'sending')), "
                "(SELECT count(*) FROM alerts_alert WHERE status = 'open' AND escalation_due_at <= now())"
            ).fetchone()
            if not any(left) and queued() == 0:
                return time.time() - began
            time.sleep(2)
    return None


def reconcile(args, ledger: dict, receiver: Receiver, started_wall: float) -> dict[str, Any]:
    """Every check of the issue, from the database, the ledger and the receiver."""
    acked: dict[str, tuple[str, str]] = {}  # id -> (type, status seen)
    statuses: Counter = Counter()
    for record in ledger["answered"].values():
        for kind, pk, status in record["results"]:
            statuses[status] += 1
            if status in ("created", "duplicate"):
                acked[pk] = (kind, status)
    sent_ids = {pk: kind for record in ledger["sent"].values() for kind, pk in record["ids"]}
    unanswered = set(sent_ids) - {pk for r in ledger["answered"].values() for _, pk, _ in r["results"]}
    stored: dict[str, int] = Counter()
    strays: dict[str, int] = {}
    with benchlib.pg_connect(args.database, autocommit=True) as conn:
        since = datetime.fromtimestamp(started_wall - 5, UTC)
        for kind, table in DIARY_TABLES.items():
            rows = conn.execute(
                f"SELECT id::text FROM {table} WHERE created_at >= %s",  # noqa: S608 - our table names
                (since,),
            ).fetchall()
            for (pk,) in rows:
                stored[pk] += 1
            strays[kind] = sum(1 for (pk,) in rows if pk not in sent_ids)
        lost = [pk for pk in acked if stored.get(pk, 0) == 0]
        # An id is a primary key: "doubled" is the same record stored under another id,
        # i.e. more rows since the start than distinct ids the phones sent.
        doubled = [pk for pk, n in stored.items() if n > 1]
        in_doubt_stored = sum(1 for pk in unanswered if stored.get(pk))
        red_flags = []
        deliveries = defaultdict(list)
        for d in receiver.deliveries:
            deliveries[d["key"]].append(d)
        for record in ledger["answered"].values():
            if not record.get("red_flag"):
                continue
            row = conn.execute(
                "SELECT a.id::text, a.severity, a.created_at, n.key, n.status, n.sent_at "
                "FROM alerts_alert a LEFT JOIN alerts_notification n ON n.alert_id = a.id AND n.channel = 'webhook' "
                "WHERE a.rule = 'red_flag' AND a.record_ids @> %s::jsonb ORDER BY n.created_at LIMIT 1",
                (json.dumps([record["red_flag"]]),),
            ).fetchone()
            entry = {
                "slot": record["slot"],
                "t_first": record["t_first"] - started_wall,
                "t_ok": record["t_ok"] - started_wall,
                "attempts": record["attempts"],
                "alert": None,
            }
            if row:
                alert, severity, created, key, status, _sent_at = row
                arrived = min((d["t"] for d in deliveries.get(key, [])), default=None)
                entry |= {
                    "alert": alert,
                    "severity": severity,
                    "notification": status,
                    "signature_ok": all(d["signature_ok"] for d in deliveries.get(key, [])),
                    "deliveries": len(deliveries.get(key, [])),
                    "sync_to_alert_s": created.timestamp() - record["t_first"],
                    "sync_to_webhook_s": (arrived - record["t_first"]) if arrived else None,
                    "answer_to_webhook_s": (arrived - record["t_ok"]) if arrived else None,
                }
            red_flags.append(entry)
        leftovers = dict(
            zip(
                ("evaluation_requests", "notifications_pending", "notifications_dead", "escalations_due"),
                conn.execute(
                    "SELECT (SELECT count(*) FROM alerts_evaluationrequest), "
                    "(SELECT count(*) FROM alerts_notification WHERE status IN ('pending', 'sending')), "
                    "(SELECT count(*) FROM alerts_notification WHERE status = 'dead'), "
                    "(SELECT count(*) FROM alerts_alert WHERE status = 'open' AND escalation_due_at <= now())"
                ).fetchone(),
                strict=True,
            )
        )
    ok_red = [
        r
        for r in red_flags
        if r["alert"] and r.get("severity") == "urgent" and r.get("notification") == "sent"
    ]
    received_ok = [r for r in ok_red if r.get("deliveries") and r.get("signature_ok")]
    checks = {
        "no record lost (seen created/duplicate, not stored)": len(lost) == 0,
        "no record doubled": len(doubled) == 0,
        "nothing stored that no phone sent": sum(strays.values()) == 0,
        "every red flag: urgent alert, webhook sent and received": len(received_ok) == len(red_flags),
        "no evaluation request left": leftovers["evaluation_requests"] == 0,
        "no notification pending or dead": leftovers["notifications_pending"] == 0
        and leftovers["notifications_dead"] == 0,
        "no escalation overdue": leftovers["escalations_due"] == 0,
    }
    return {
        "syncs_sent": len(ledger["sent"]),
        "syncs_answered": len(ledger["answered"]),
        "syncs_other": dict(ledger["other"]),
        "records_sent": len(sent_ids),
        "records_acked": len(acked),
        "statuses": dict(statuses),
        "records_unanswered": len(unanswered),
        "unanswered_but_stored": in_doubt_stored,
        "lost": lost[:20],
        "lost_count": len(lost),
        "doubled_count": len(doubled),
        "strays": strays,
        "red_flags": red_flags,
        "leftovers": leftovers,
        "checks": checks,
        "ok": all(checks.values()),
    }


def run_locust(
    args, stack: Stack, manifest_path: Path, ledger_path: Path, run_seconds: int, sampler: Sampler
):
    users = json.loads(manifest_path.read_text())
    total = users["phones"] + len(users["nurses"])
    command = [
        str(BIN / "locust"),
        "-f",
        str(ROOT / "bench" / "soak_locustfile.py"),
        "--headless",
        "--host",
        f"http://127.0.0.1:{stack.web_port}",
        "-u",
        str(total),
        "-r",
        str(max(10, total)),
        "--run-time",
        f"{run_seconds}s",
        "--stop-timeout",
        "40",
        "--csv",
        str(args.out / "locust"),
        "--csv-full-history",
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--exit-code-on-error",
        "0",
    ]
    env = {**os.environ, "SOAK_MANIFEST": str(manifest_path), "SOAK_LEDGER": str(ledger_path)}
    with open(args.out / "locust.log", "ab") as handle:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)  # noqa: S603
        sampler.locust_pid = process.pid
        try:
            process.wait(timeout=run_seconds + 180)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def endpoint_stats(out: Path) -> list[dict]:
    path = out / "locust_stats.csv"
    if not path.exists():
        return []
    with open(path) as handle:
        return list(csv.DictReader(handle))


def main() -> int:
    args = parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    receiver = Receiver()
    env = benchlib.configure_env(
        database=args.database,
        eager=False,
        broker="redis://127.0.0.1:1/0",  # replaced by the private Redis for the servers
        OUTBOUND_ALLOW_LOOPBACK="true",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
        PUBLIC_URL="http://127.0.0.1",
        # Plain HTTP on loopback (no TLS in front): the session and CSRF cookies must
        # travel without the Secure flag for the nurses' clinic pages.
        DJANGO_SECURE_COOKIES="false",
    )
    env["PATH"] = f"{BIN}:{env.get('PATH', '')}"
    benchlib.print_header(
        "bench/soak: the production stack under a morning peak, with chaos",
        {
            "patients": args.patients,
            "days": args.days,
            "minutes": args.minutes,
            "chaos": args.chaos,
            "gunicorn workers": args.gunicorn_workers,
            "out": args.out,
        },
    )
    started_load = time.perf_counter()
    if args.reuse_db:
        benchlib.setup_django(migrate=False)
        from care.models import CareTeam, TeamMembership

        teams = [str(pk) for pk in CareTeam.objects.values_list("pk", flat=True)]
        from django_otp.plugins.otp_totp.models import TOTPDevice

        keys = dict(TOTPDevice.objects.filter(confirmed=True).values_list("user_id", "key"))
        nurses = [
            {
                "username": m.user.username,
                "id": str(m.user_id),
                "team": str(m.team_id),
                "totp_key": keys.get(m.user_id),
            }
            for m in TeamMembership.objects.filter(team_role="nurse").select_related("user")
        ]
        loaded = {"teams": teams, "nurses": nurses, "timings": {}, "counts": {}}
        from alerts.models import EscalationPolicy

        EscalationPolicy.objects.update(webhook_url=receiver.url())
        log(f"reusing {args.database}")
    else:
        log(f"recreating database {args.database}, migrating, loading {args.patients:,} patients")
        benchlib.recreate_database(args.database)
        benchlib.setup_django()
        loaded = cohort.load_cohort(
            args.database, patients=args.patients, days=args.days, seed=args.seed, webhook_url=receiver.url()
        )
    load_seconds = time.perf_counter() - started_load
    check = cohort.check_with_app(min(200, args.patients))
    log(f"cohort ready in {load_seconds:.0f} s: {loaded['counts']}; status check {check}")

    stack = Stack(args, env)
    duration = args.minutes * 60
    exit_code = 1
    sampler = chaos = None
    summary: dict[str, Any] = {}
    try:
        stack.start()
        # Celery reads CELERY_BROKER_URL before its configuration: the hourly run this
        # process sends goes to the private Redis.
        os.environ["CELERY_BROKER_URL"] = stack.broker_url()
        log(f"stack up: gunicorn :{stack.web_port}, redis :{stack.redis_port}, worker, beat")
        started = time.time()
        deadline = started + duration
        retry_deadline = deadline + 80
        manifest, info = build_manifest(args, loaded, deadline, retry_deadline)
        manifest_path = args.out / "manifest.json"
        manifest_path.write_text(json.dumps(manifest))
        ledger_path = args.out / "ledger.jsonl"
        ledger_path.write_text("")
        benchlib.close_django_connections()
        log(f"load: {info}")
        sampler = Sampler(args, stack, started)
        sampler.start()
        chaos = Chaos(args, stack, started)
        chaos.start()
        run_locust(args, stack, manifest_path, ledger_path, int(duration + 90), sampler)
        log("load finished; waiting for the system to settle")
        chaos.join(timeout=max(0, started + max([s for s, _ in args.steps] + [0]) + 200 - time.time()))
        chaos.stopping.set()
        settled = settle(args, stack)
        settled_at = time.time() - started
        log(f"settled in {settled:.0f} s" if settled is not None else "did NOT settle")
        time.sleep(SAMPLE_SECONDS)
        sampler.stopping.set()
        sampler.join(timeout=30)
        ledger = read_ledger(ledger_path)
        result = reconcile(args, ledger, receiver, started)
        summary = {
            "args": {k: str(v) for k, v in vars(args).items() if k != "steps"},
            "machine": benchlib.machine(),
            "started_wall": started,
            "cohort": {
                "counts": loaded["counts"],
                "timings": loaded["timings"],
                "load_seconds": load_seconds,
            },
            "status_check": check,
            "load": info,
            "events": chaos.events,
            "settled_seconds": settled,
            "settled_at": settled_at,
            "endpoints": endpoint_stats(args.out),
            "samples": sampler.rows,
            "reconciliation": result,
            "restarts": {s.name: s.starts for s in stack.services()},
        }
        write_outputs(args, summary)
        exit_code = 0 if result["ok"] and settled is not None else 1
    finally:
        if chaos:
            chaos.stopping.set()
        if sampler:
            sampler.stopping.set()
        stack.stop()
        receiver.close()
        benchlib.close_django_connections()
        if not args.keep_db:
            with contextlib.suppress(Exception):
                benchlib.drop_database(args.database)
    print(f"\nsoak {'PASSED' if exit_code == 0 else 'FAILED'}; figures and CSV in {args.out}")
    return exit_code


# --- outputs -------------------------------------------------------------------------------


def write_outputs(args, summary: dict) -> None:
    import soak_report

    out = args.out
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    with open(out / "events.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, ("step", "start", "end", "detail"))
        writer.writeheader()
        writer.writerows(summary["events"])
    with open(out / "redflags.csv", "w", newline="") as handle:
        fields = (
            "slot",
            "t_first",
            "t_ok",
            "attempts",
            "alert",
            "severity",
            "notification",
            "deliveries",
            "signature_ok",
            "sync_to_alert_s",
            "sync_to_webhook_s",
            "answer_to_webhook_s",
        )
        writer = csv.DictWriter(handle, fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(summary["reconciliation"]["red_flags"])
    text = soak_report.markdown(summary, out)
    (out / "summary.md").write_text(text)
    print(text)
    with contextlib.suppress(Exception):
        soak_report.figures(out, summary)


if __name__ == "__main__":
    sys.exit(main())
