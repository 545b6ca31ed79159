"""Ingest: diary records per second through POST /api/v1/sync/ against raw psycopg inserts.

Issue 3 "Performance". In one run, on a fresh PostgreSQL database:

1. API: gunicorn (sync workers) serves the project; C client threads, each logged in as a
   different patient with a JWT from /api/v1/auth/token/, post batches of mixed records
   (check-ins with realistic fields, adverse effects, boluses, medications) over keep-alive
   connections. Tasks are not eager: the commit announcement writes the EvaluationRequest
   row and enqueues one evaluation task per sync to Redis database 15, where no worker
   consumes it, so the request pays exactly what it pays in production (the enqueue, not
   the evaluation, which a worker does elsewhere; bench/evaluate.py measures that).
2. Baseline: the same number of rows, in the same batches and at the same concurrency,
   inserted directly with psycopg `executemany` into the same four tables (one
   transaction per batch, every NOT NULL column filled, values precomputed).
3. Ceiling: the same number of rows again with one COPY per table in one transaction.

Then it checks every record was stored exactly once (row counts per table, every answer
`created`, a retried batch answers `duplicate` and adds nothing, one evaluation request
per patient and one queued task per sync), counts the queries of a sync at 1, 100 and
500 records, and breaks the time of one sync down in-process (validation, building,
storing, announcing, the rest of the HTTP stack).

    .venv/bin/python bench/ingest.py                  # defaults: 4 clients, 2 workers
    .venv/bin/python bench/ingest.py --workers 3 --rounds 3
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import benchlib

SECTIONS = {
    "checkins": "checkin",
    "adverse_effects": "adverse_effect",
    "boluses": "bolus",
    "medications": "medication",
}
TABLES = benchlib.DIARY_TABLES
COLUMNS = benchlib.DIARY_COLUMNS
# Share of each record type in a batch: a few days of a diary synced after being offline.
MIX = {"checkins": 0.40, "adverse_effects": 0.20, "boluses": 0.15, "medications": 0.25}
ZONE = "Europe/Rome"
SYMPTOMS = (
    "tiredness",
    "drowsiness",
    "nausea",
    "vomiting",
    "appetite_loss",
    "shortness_of_breath",
    "depression",
    "anxiety",
    "wellbeing",
    "constipation",
    "sleep_disturbance",
    "confusion",
)
INTERFERENCE = ("general_activity", "mood", "walking", "work", "relations", "sleep", "enjoyment")
NEUROPATHIC = (
    "burning",
    "painful_cold",
    "electric_shocks",
    "tingling",
    "pins_and_needles",
    "numbness",
    "itching",
)
SITES = ("lower_back", "pelvis", "left_hip", "right_leg", "abdomen", "chest", "upper_back", "neck")
EFFECTS = ("constipation", "nausea", "sedation", "dry_mouth", "dizziness", "pruritus", "vomiting")
DRUGS = (
    ("oxycodone", "oral", "mg", (5, 10, 20)),
    ("morphine", "oral", "mg", (10, 15, 30)),
    ("hydromorphone", "subcutaneous", "mg", (1, 2)),
    ("fentanyl", "transdermal", "mcg/h", (12, 25, 50)),
    ("gabapentin", "oral", "mg", (300, 600)),
    ("pregabalin", "oral", "mg", (75, 150)),
)
NOTES = ("", "", "", "slept badly", "pain worse after walking to the shop", "better after the rescue dose")
USER_SECRET = "bench-ingest-patient"  # noqa: S105 - throwaway accounts in a throwaway database


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients, one patient each (4)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (2)")
    parser.add_argument("--threads", type=int, default=1, help="threads per worker; >1 uses gthread (1)")
    parser.add_argument("--batches", type=int, default=50, help="measured batches per client per round (50)")
    parser.add_argument("--batch-size", type=int, default=100, help="records per batch (100)")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured batches per client first (3)")
    parser.add_argument("--rounds", type=int, default=1, help="API/raw repetitions, interleaved (1)")
    parser.add_argument("--database", default="crossroad_bench_ingest", help="dropped and recreated")
    parser.add_argument("--keep-db", action="store_true", help="leave the database for inspection")
    parser.add_argument("--no-breakdown", action="store_true", help="skip the in-process breakdown")
    parser.add_argument("--seed", type=int, default=3)
    return parser.parse_args()


# --- what a phone sends ----------------------------------------------------------------------


class Diary:
    """Realistic record bodies for one patient, observed over the last two weeks."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.zone = ZoneInfo(ZONE)

    def moment(self) -> str:
        back = timedelta(minutes=self.rng.randint(15, 14 * 24 * 60))
        return (datetime.now(self.zone) - back).isoformat(timespec="seconds")

    def checkin(self) -> dict[str, Any]:
        r = self.rng
        pain = r.randint(0, 10)
        item: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "recorded_at": self.moment(),
            "pain_now": pain,
            "pain_worst": min(10, pain + r.randint(0, 3)),
            "pain_least": max(0, pain - r.randint(0, 3)),
            "pain_average": pain,
            "interference": {k: r.randint(0, 10) for k in r.sample(INTERFERENCE, r.randint(4, 7))},
            "symptoms": {k: r.randint(0, 10) for k in r.sample(SYMPTOMS, r.randint(6, 12))},
            "pain_sites": sorted(r.sample(SITES, r.randint(1, 3))),
            "breakthrough_episodes": r.randint(0, 4),
            "wants_fewer_medications": r.random() < 0.03,
            "wants_procedure_discussion": r.random() < 0.02,
        }
        if r.random() < 0.3:
            item["neuropathic"] = sorted(r.sample(NEUROPATHIC, r.randint(1, 4)))
        if r.random() < 0.01:
            item["red_flags"] = ["new_limb_weakness"]
        note = r.choice(NOTES)
        if note:
            item["note"] = note
        return item

    def adverse_effect(self) -> dict[str, Any]:
        r = self.rng
        return {
            "id": str(uuid.uuid4()),
            "recorded_at": self.moment(),
            "effect": r.choice(EFFECTS),
            "grade": r.randint(0, 4),
            "suspected_drug": r.choice(("", "oxycodone", "morphine")),
            "limits_daily_activities": r.random() < 0.2,
        }

    def bolus(self) -> dict[str, Any]:
        r = self.rng
        outcome = r.choices(("delivered", "denied_lockout", "denied_daily_max"), (8, 2, 1))[0]
        before = r.randint(3, 9)
        item = {
            "id": str(uuid.uuid4()),
            "occurred_at": self.moment(),
            "outcome": outcome,
            "pain_before": before,
            "source": r.choice(("patient", "pump_log")),
        }
        if outcome == "delivered":
            item |= {"dose": 0.05, "unit": "ml", "pain_after": max(0, before - r.randint(0, 4))}
        return item

    def medication(self) -> dict[str, Any]:
        r = self.rng
        drug, route, unit, doses = r.choice(DRUGS)
        return {
            "id": str(uuid.uuid4()),
            "taken_at": self.moment(),
            "drug": drug,
            "dose": r.choice(doses),
            "unit": unit,
            "route": route,
            "kind": r.choice(("scheduled", "scheduled", "rescue")),
        }

    def batch(self, size: int) -> dict[str, list[dict]]:
        counts = {section: int(size * share) for section, share in MIX.items()}
        counts["checkins"] += size - sum(counts.values())
        make = {
            "checkins": self.checkin,
            "adverse_effects": self.adverse_effect,
            "boluses": self.bolus,
            "medications": self.medication,
        }
        return {section: [make[section]() for _ in range(n)] for section, n in counts.items()}


def batch_counts(size: int) -> Counter:
    counts = {section: int(size * share) for section, share in MIX.items()}
    counts["checkins"] += size - sum(counts.values())
    return Counter({SECTIONS[s]: n for s, n in counts.items()})


# --- seeding ---------------------------------------------------------------------------------


def seed_patients(n: int, prefix: str, *, with_login: bool) -> list[tuple[Any, Any, str]]:
    """(patient id, user id, username) of n patients, each with their own user."""
    from care.models import CareTeam, Patient, Role, User

    team, _ = CareTeam.objects.get_or_create(name="Bench ingest team")
    out = []
    for i in range(n):
        username = f"{prefix}{i}"
        user = User(username=username, role=Role.PATIENT, timezone=ZONE)
        if with_login:
            user.set_password(USER_SECRET)
        else:
            user.set_unusable_password()
        user.save()
        patient = Patient.objects.create(
            user=user,
            care_team=team,
            display_name=f"Bench {prefix} {i}",
            timezone=ZONE,
            enrolled_on=datetime.now(ZoneInfo(ZONE)).date() - timedelta(days=400),
            activated_at=datetime.now(ZoneInfo(ZONE)) - timedelta(days=400),
            baseline_mme=Decimal(60),
        )
        out.append((patient.pk, user.pk, username))
    return out


# --- raw rows ----------------------------------------------------------------------------------


def raw_row(kind: str, item: dict, patient_id, user_id, now: datetime) -> tuple:
    """The row the API would store for this item, computed up front (not timed)."""
    from psycopg.types.json import Jsonb

    from diary import catalog

    observed_name = {"checkin": "recorded_at", "adverse_effect": "recorded_at", "bolus": "occurred_at"}.get(
        kind, "taken_at"
    )
    observed = datetime.fromisoformat(item[observed_name])
    common = {
        "id": uuid.UUID(item["id"]),
        "patient_id": patient_id,
        "reported_by_id": user_id,
        "reporter_role": "patient",
        "timezone": ZONE,
        "local_date": observed.astimezone(ZoneInfo(ZONE)).date(),
        "created_at": now,
        "updated_at": now,
        "late": now - observed > timedelta(hours=24),
        "status": "active",
        "retracted_reason": "",
        "version": 1,
        "fingerprint": hashlib.sha256(json.dumps(item, sort_keys=True).encode()).hexdigest(),
        "ingest_key": None,
    }
    values = {**common, **item, observed_name: observed}
    if kind == "checkin":
        answered = list(item["interference"].values())
        values |= {
            "interference": Jsonb(item["interference"]),
            "interference_mean": round(statistics.fmean(answered), 2) if len(answered) >= 4 else None,
            "neuropathic": Jsonb(item.get("neuropathic", [])),
            "pain_sites": Jsonb(item["pain_sites"]),
            "symptoms": Jsonb(item["symptoms"]),
            "red_flags": Jsonb(item.get("red_flags", [])),
            "note": item.get("note", ""),
        }
    elif kind == "adverse_effect":
        values["note"] = ""
    elif kind == "bolus":
        values |= {k: item.get(k) for k in ("dose", "pain_after")} | {"unit": item.get("unit", "")}
    else:
        mme, note = catalog.mme_for(item["drug"], item["route"], item["unit"], Decimal(item["dose"]))
        values |= {"mme": None if mme is None else mme.quantize(Decimal("0.01")), "mme_note": str(note)[:200]}
    return tuple(values[c] for c in COLUMNS[kind])


def insert_sql(kind: str) -> str:
    columns = COLUMNS[kind]
    return f"INSERT INTO {TABLES[kind]} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"  # noqa: S608 - fixed names


def raw_batches(diary: Diary, patient_id, user_id, n: int, size: int) -> list[dict[str, list[tuple]]]:
    now = datetime.now(ZoneInfo("UTC"))
    out = []
    for _ in range(n):
        body = diary.batch(size)
        out.append(
            {
                SECTIONS[s]: [raw_row(SECTIONS[s], item, patient_id, user_id, now) for item in items]
                for s, items in body.items()
            }
        )
    return out


# --- runs ----------------------------------------------------------------------------------------


class Clients:
    """C threads posting their batches; one shared progress counter; per-request latency."""

    def __init__(self, label: str, total_records: int):
        self.lock = threading.Lock()
        self.records = 0
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.statuses: Counter = Counter()
        self.progress = benchlib.Progress(label, total_records)

    def add(self, records: int, latency: float, statuses: Counter | None = None) -> None:
        with self.lock:
            self.records += records
            self.latencies.append(latency)
            if statuses:
                self.statuses.update(statuses)

    def run(self, workers: list[threading.Thread]) -> float:
        started = time.perf_counter()
        for w in workers:
            w.start()
        while any(w.is_alive() for w in workers):
            self.progress.update(self.records)
            time.sleep(0.2)
        for w in workers:
            w.join()
        elapsed = time.perf_counter() - started
        self.progress.update(self.records, force=True)
        self.progress.finish()
        return elapsed


def api_round(port: int, tokens: list[str], bodies: list[list[bytes]], size: int) -> dict[str, Any]:
    total = sum(len(b) for b in bodies) * size
    clients = Clients("API sync/", total)
    barrier = threading.Barrier(len(tokens))

    def client(token: str, batches: list[bytes]) -> None:
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        barrier.wait()
        for body in batches:
            started = time.perf_counter()
            status, raw = benchlib.request("POST", port, "/api/v1/sync/", body, headers, conn)
            latency = time.perf_counter() - started
            if status != 200:
                clients.errors.append(f"{status} {raw[:300]!r}")
                continue
            statuses = Counter(r["status"] for r in json.loads(raw)["results"])
            clients.add(sum(statuses.values()), latency, statuses)
        conn.close()

    threads = [threading.Thread(target=client, args=(t, b)) for t, b in zip(tokens, bodies, strict=True)]
    elapsed = clients.run(threads)
    return {
        "elapsed": elapsed,
        "records": clients.records,
        "latencies": clients.latencies,
        "statuses": clients.statuses,
        "errors": clients.errors,
    }


def raw_round(database: str, batches_per_client: list[list[dict[str, list[tuple]]]]) -> dict[str, Any]:
    total = sum(sum(len(rows) for rows in b.values()) for bs in batches_per_client for b in bs)
    clients = Clients("raw executemany", total)
    barrier = threading.Barrier(len(batches_per_client))
    statements = {kind: insert_sql(kind) for kind in TABLES}

    def client(batches: list[dict[str, list[tuple]]]) -> None:
        with benchlib.pg_connect(database) as conn:
            barrier.wait()
            for batch in batches:
                started = time.perf_counter()
                with conn.transaction(), conn.cursor() as cur:
                    for kind, rows in batch.items():
                        if rows:
                            cur.executemany(statements[kind], rows)
                clients.add(sum(len(r) for r in batch.values()), time.perf_counter() - started)

    threads = [threading.Thread(target=client, args=(b,)) for b in batches_per_client]
    elapsed = clients.run(threads)
    return {"elapsed": elapsed, "records": clients.records, "latencies": clients.latencies}


def copy_round(database: str, batches: list[dict[str, list[tuple]]]) -> dict[str, Any]:
    rows_by_kind: dict[str, list[tuple]] = defaultdict(list)
    for batch in batches:
        for kind, rows in batch.items():
            rows_by_kind[kind].extend(rows)
    total = sum(len(r) for r in rows_by_kind.values())
    progress = benchlib.Progress("raw COPY", total)
    started = time.perf_counter()
    with benchlib.pg_connect(database) as conn, conn.transaction(), conn.cursor() as cur:
        done = 0
        for kind, rows in rows_by_kind.items():
            with cur.copy(f"COPY {TABLES[kind]} ({', '.join(COLUMNS[kind])}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            done += len(rows)
            progress.update(done)
    elapsed = time.perf_counter() - started
    progress.finish()
    return {"elapsed": elapsed, "records": total}


# --- checks and breakdown ---------------------------------------------------------------------


def table_counts(database: str, patient_ids: list) -> dict[str, int]:
    with benchlib.pg_connect(database) as conn:
        return {
            kind: conn.execute(
                f"SELECT count(*) FROM {table} WHERE patient_id = ANY(%s)",  # noqa: S608 - fixed names
                (patient_ids,),
            ).fetchone()[0]
            for kind, table in TABLES.items()
        }


def in_process_breakdown(phone: Diary, batches: int, size: int) -> dict[str, Any]:
    """Time one sync's parts in this process (no gunicorn): Django test client with a JWT."""
    from django.test import Client
    from rest_framework.serializers import Serializer
    from rest_framework_simplejwt.tokens import AccessToken

    import alerts.receivers
    import diary.sync
    import diary.views
    from care.models import User
    from diary.serializers import SERIALIZERS

    (patient_id, user_id, _), *_ = seed_patients(1, "breakdown", with_login=False)
    user = User.objects.get(pk=user_id)
    token = str(AccessToken.for_user(user))
    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}")

    def post(body: dict) -> dict:
        response = client.post("/api/v1/sync/", json.dumps(body), content_type="application/json")
        assert response.status_code == 200, response.content[:300]
        return response.json()

    # Queries per sync at three batch sizes: must not grow with the batch.
    queries = {}
    for n in (1, 100, 500):
        with benchlib.count_queries() as captured:
            result = post(phone.batch(n))
        assert all(r["status"] == "created" for r in result["results"]), "breakdown batch not created"
        queries[n] = len(captured)

    totals: dict[str, float] = defaultdict(float)
    restore = []

    depth = defaultdict(int)

    def wrap(owner, attr: str, label: str) -> None:
        original = getattr(owner, attr)

        def timed(*args, **kwargs):
            # Only the outermost call counts: nested serializers validate inside their parent.
            depth[label] += 1
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                depth[label] -= 1
                if not depth[label]:
                    totals[label] += time.perf_counter() - started

        setattr(owner, attr, timed)
        restore.append((owner, attr, original))

    labels = (
        "  sync_batch (all of the app's own work)",
        "    validation: run_validation() of the record serializers",
        "    build_record (local date, derived values, fingerprint)",
        "    store_records (3 queries per record type, commit)",
        "    after commit: EvaluationRequest upsert + enqueue to Redis",
    )
    wrap(diary.views, "sync_batch", labels[0])
    wrap(Serializer, "run_validation", labels[1])
    wrap(diary.sync, "build_record", labels[2])
    wrap(diary.sync, "store_records", labels[3])
    wrap(alerts.receivers, "request_evaluation", labels[4])
    bodies = [phone.batch(size) for _ in range(batches + 2)]
    post(bodies[0])
    post(bodies[1])  # warm
    totals.clear()
    started = time.perf_counter()
    try:
        for body in bodies[2:]:
            post(body)
    finally:
        for owner, attr, original in reversed(restore):
            setattr(owner, attr, original)
    request_total = time.perf_counter() - started

    # Validation per item: a fresh serializer per item (sync_batch before a2083e7) against one
    # serializer reused through run_validation (sync_batch now), and building the fields alone.
    from care.models import Patient

    patient = Patient.objects.get(pk=patient_id)
    make = {
        "checkin": phone.checkin,
        "adverse_effect": phone.adverse_effect,
        "bolus": phone.bolus,
        "medication": phone.medication,
    }
    validation = {}
    for kind, maker in make.items():
        items = [maker() for _ in range(size)]
        cls = SERIALIZERS[kind]
        t0 = time.perf_counter()
        for item in items:
            assert cls(data=item, context={"patient": patient}).is_valid()
        fresh = (time.perf_counter() - t0) / len(items)
        reused_serializer = cls(context={"patient": patient})
        t0 = time.perf_counter()
        for item in items:
            reused_serializer.run_validation(item)
        reused = (time.perf_counter() - t0) / len(items)
        t0 = time.perf_counter()
        for _ in items:
            assert cls(data={}, context={"patient": patient}).fields
        fields_only = (time.perf_counter() - t0) / len(items)
        validation[kind] = (fresh * 1e6, reused * 1e6, fields_only * 1e6)

    per_batch = {"request total (test client: DRF, JWT, JSON in and out)": request_total / batches}
    per_batch |= {label: totals[label] / batches for label in labels}
    return {"queries": queries, "per_batch": per_batch, "validation_us": validation}


# --- main --------------------------------------------------------------------------------------------


def main() -> int:
    args = parse_args()
    rng = random.Random(args.seed)
    env = benchlib.configure_env(database=args.database, eager=False)
    benchlib.print_header(
        "bench/ingest: POST /api/v1/sync/ vs raw psycopg inserts",
        {
            "clients": args.clients,
            "gunicorn workers": f"{args.workers}{f'x{args.threads} threads' if args.threads > 1 else ''}",
            "batch": args.batch_size,
            "batches/client/round": args.batches,
            "rounds": args.rounds,
            "tasks": "enqueued to Redis db 15, no worker",
        },
    )
    benchlib.step(f"recreating database {args.database} and migrating")
    benchlib.recreate_database(args.database)
    benchlib.flush_bench_broker()
    benchlib.setup_django()

    with benchlib.pg_connect(args.database) as conn:
        for kind, table in TABLES.items():
            missing = benchlib.not_null_columns(conn, table) - set(COLUMNS[kind])
            assert not missing, f"raw insert of {table} misses NOT NULL columns {missing}"

    benchlib.step(f"seeding {args.clients} API patients (with logins) and {args.clients} raw patients")
    api_patients = seed_patients(args.clients, "api", with_login=True)
    raw_patients = seed_patients(args.clients, "raw", with_login=False)
    benchlib.close_django_connections()
    diaries = [Diary(random.Random(rng.random())) for _ in range(args.clients)]

    per_round = args.clients * args.batches * args.batch_size
    results: list[dict[str, Any]] = []
    sent_api: Counter = Counter()
    syncs = 0
    with benchlib.Gunicorn(workers=args.workers, threads=args.threads, env=env) as server:
        benchlib.step(f"gunicorn up on 127.0.0.1:{server.port}; logging in {args.clients} patients")
        tokens = [benchlib.login(server.port, username, USER_SECRET) for _, _, username in api_patients]
        for round_no in range(1, args.rounds + 1):
            benchlib.step(f"round {round_no}/{args.rounds}: preparing {per_round:,} records per side")
            bodies, kept = [], []
            for d in diaries:
                batches = [d.batch(args.batch_size) for _ in range(args.warmup + args.batches)]
                kept.append(batches[-1])
                bodies.append([json.dumps(b).encode() for b in batches])
            warm = [b[: args.warmup] for b in bodies]
            measured = [b[args.warmup :] for b in bodies]
            raw = [
                raw_batches(d, pid, uid, args.warmup + args.batches, args.batch_size)
                for d, (pid, uid, _) in zip(diaries, raw_patients, strict=True)
            ]
            copy_batches = [
                b
                for d, (pid, uid, _) in zip(diaries, raw_patients, strict=True)
                for b in raw_batches(d, pid, uid, args.batches, args.batch_size)
            ]
            if args.warmup:
                api_round(server.port, tokens, warm, args.batch_size)
                raw_round(args.database, [r[: args.warmup] for r in raw])
            api = api_round(server.port, tokens, measured, args.batch_size)
            assert not api["errors"], f"API errors: {api['errors'][:3]}"
            raw_result = raw_round(args.database, [r[args.warmup :] for r in raw])
            copy_result = copy_round(args.database, copy_batches)
            syncs += args.clients * (args.warmup + args.batches)
            sent_api.update(
                {
                    k: v * args.clients * (args.warmup + args.batches)
                    for k, v in batch_counts(args.batch_size).items()
                }
            )
            results.append({"api": api, "raw": raw_result, "copy": copy_result, "kept": kept})

        benchlib.step("checking: rows stored exactly once, retries are duplicates, one task per sync")
        api_ids = [p for p, _, _ in api_patients]
        counts = table_counts(args.database, api_ids)
        statuses = Counter()
        for r in results:
            statuses.update(r["api"]["statuses"])
        last_batches = [[json.dumps(batch).encode()] for batch in results[-1]["kept"]]
        retry = api_round(server.port, tokens, last_batches, args.batch_size)
        counts_after_retry = table_counts(args.database, api_ids)
        with benchlib.pg_connect(args.database) as conn:
            evaluation_requests = conn.execute(
                "SELECT count(*) FROM alerts_evaluationrequest WHERE patient_id = ANY(%s)", (api_ids,)
            ).fetchone()[0]
        queued = benchlib.broker_queue_length()

    breakdown = None
    if not args.no_breakdown:
        benchlib.step("in-process breakdown of one sync (Django test client, same settings)")
        breakdown = in_process_breakdown(Diary(random.Random(args.seed + 1)), 20, args.batch_size)

    # --- summary ---
    rates = []
    print()
    rows = []
    for i, r in enumerate(results, 1):
        api_rate = r["api"]["records"] / r["api"]["elapsed"]
        raw_rate = r["raw"]["records"] / r["raw"]["elapsed"]
        copy_rate = r["copy"]["records"] / r["copy"]["elapsed"]
        rates.append((api_rate, raw_rate, copy_rate))
        lat = benchlib.summary_ms(r["api"]["latencies"])
        raw_lat = benchlib.summary_ms(r["raw"]["latencies"])
        rows.append(
            [
                i,
                f"{api_rate:,.0f}",
                f"{raw_rate:,.0f}",
                f"{copy_rate:,.0f}",
                f"{api_rate / raw_rate:.3f}",
                f"{api_rate / copy_rate:.3f}",
                f"{lat['median_ms']:.0f}/{lat['p95_ms']:.0f}",
                f"{raw_lat['median_ms']:.1f}/{raw_lat['p95_ms']:.1f}",
            ]
        )
    print(
        benchlib.table(
            rows,
            [
                "round",
                "API rec/s",
                "raw executemany rec/s",
                "raw COPY rec/s",
                "API/raw",
                "API/COPY",
                "API batch p50/p95 ms",
                "raw batch p50/p95 ms",
            ],
        )
    )
    ratio = statistics.median(a / b for a, b, _ in rates)
    ratio_copy = statistics.median(a / c for a, _, c in rates)
    api_rate = statistics.median(a for a, _, _ in rates)
    raw_rate = statistics.median(b for _, b, _ in rates)
    copy_rate = statistics.median(c for _, _, c in rates)
    print()
    print(
        f"API  sync/ : {api_rate:>10,.0f} records/s  ({api_rate / args.batch_size:,.1f} syncs/s of {args.batch_size})"
    )
    print(
        f"raw insert : {raw_rate:>10,.0f} records/s  (executemany, one transaction per batch, {args.clients} connections)"
    )
    print(f"raw COPY   : {copy_rate:>10,.0f} records/s  (one COPY per table, one transaction)")
    print(f"ratio API/raw = {ratio:.3f}   (issue 3 aims for >= 0.5)   API/COPY = {ratio_copy:.3f}")

    expected = dict(sent_api)
    print()
    print("checks:")
    print(f"  rows per table after the API runs   {counts}  expected {expected}")
    print(f"  answers                             {dict(statuses)}")
    print(
        f"  a retried batch per client answers  {dict(retry['statuses'])}; rows after: {counts_after_retry}"
    )
    print(f"  evaluation requests                 {evaluation_requests} (one per patient)")
    print(f"  tasks queued in Redis db 15         {queued} (one per sync that created records: {syncs})")
    ok = (
        counts == expected
        and counts_after_retry == expected
        and set(statuses) == {"created"}
        and set(retry["statuses"]) == {"duplicate"}
        and evaluation_requests == args.clients
        and queued == syncs
    )
    print(f"  every record stored exactly once:   {'yes' if ok else 'NO'}")

    if breakdown:
        print()
        print(
            f"queries per sync request by batch size: {breakdown['queries']} "
            "(1 record is one type; 100 and 500 hold all four)"
        )
        print("in-process time per sync of", args.batch_size, "records (test client, no gunicorn):")
        for label, seconds in breakdown["per_batch"].items():
            print(f"  {label:<58} {seconds * 1000:8.1f} ms")
        print(
            "validation per item, µs: a fresh serializer per item (sync_batch before a2083e7) vs one reused"
        )
        print("serializer's run_validation (sync_batch now), and the part that is only building the fields:")
        rows = [
            [kind, f"{fresh:.0f}", f"{reused:.0f}", f"{fields:.0f}", f"{fresh / reused:.1f}x"]
            for kind, (fresh, reused, fields) in breakdown["validation_us"].items()
        ]
        print(benchlib.table(rows, ["type", "fresh", "reused", "fields build", "fresh/reused"]))

    benchlib.print_result_line(
        "ingest",
        mode="pg",
        size=args.batch_size,
        concurrency=args.clients,
        workers=args.workers,
        threads=args.threads,
        records_s=round(api_rate),
        baseline_records_s=round(raw_rate),
        copy_records_s=round(copy_rate),
        ratio=round(ratio, 4),
        ratio_copy=round(ratio_copy, 4),
        queries_per_req=breakdown["queries"] if breakdown else None,
        rounds=args.rounds,
        exactly_once=ok,
    )
    benchlib.close_django_connections()
    benchlib.flush_bench_broker()
    if not args.keep_db:
        benchlib.drop_database(args.database)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
