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
   transaction per batch; every column, precomputed by the API's own validation and
   diary.services.build_record, so the rows are the ones the API stores).
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
import http.client
import json
import os
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

DATABASE = benchlib.setup("crossroad_bench_ingest")

# The product, once Django is set up.
import rows
from django.test import Client
from rest_framework.serializers import Serializer
from rest_framework_simplejwt.tokens import AccessToken

import diary.ingest
import diary.views
from alerts import dispatch
from alerts.models import EvaluationRequest
from care.models import CareTeam, Patient, Role, User
from diary import catalog
from diary.models import MedicationDose, PtaBolus
from diary.serializers import SERIALIZERS
from diary.sync import SECTIONS

KIND_OF = dict(SECTIONS)  # request section -> record type
# Share of each record type in a batch: a few days of a diary synced after being offline.
MIX = {"checkins": 0.40, "adverse_effects": 0.20, "boluses": 0.15, "medications": 0.25}
ZONE = "Europe/Rome"
# Codes the phone offers, from the catalog.
SYMPTOMS = tuple(sorted(catalog.CHECKIN_SYMPTOM_CODES))
INTERFERENCE = tuple(catalog.INTERFERENCE_ITEMS)
NEUROPATHIC = tuple(catalog.NEUROPATHIC_DESCRIPTORS)
SITES = tuple(catalog.PAIN_SITES)[:8]
EFFECTS = tuple(catalog.ADVERSE_EFFECTS)[:8]
RED_FLAG = next(iter(catalog.RED_FLAGS))
# What these patients take (the catalog's drug codes; each route and unit one the catalog
# allows for the drug, or the API answers `invalid` and the run fails its checks).
DOSES = (
    ("oxycodone", "oral", "mg", (5, 10, 20)),
    ("morphine", "oral", "mg", (10, 15, 30)),
    ("hydromorphone", "subcutaneous", "mg", (1, 2)),
    ("fentanyl", "transdermal", "mcg/h", (12, 25, 50)),
    ("gabapentin", "oral", "mg", (300, 600)),
    ("pregabalin", "oral", "mg", (75, 150)),
)
NOTES = ("", "", "", "slept badly", "pain worse after walking to the shop", "better after the rescue dose")
USER_SECRET = "bench-ingest-patient"  # noqa: S105 - throwaway accounts in a throwaway database


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
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
    parser.add_argument("--breakdown-batches", type=int, default=20, help="syncs timed in-process (20)")
    parser.add_argument("--no-breakdown", action="store_true", help="skip the in-process breakdown")
    benchlib.add_database_options(parser, "crossroad_bench_ingest")
    parser.add_argument("--seed", type=int, default=3)
    return parser.parse_args(argv)


# --- what a phone sends ----------------------------------------------------------------------


class Diary:
    """Realistic record bodies for one patient, observed over the last two weeks."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.zone = ZoneInfo(ZONE)
        self.make = {
            "checkins": self.checkin,
            "adverse_effects": self.adverse_effect,
            "boluses": self.bolus,
            "medications": self.medication,
        }

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
            item["red_flags"] = [RED_FLAG]
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
        outcome = r.choices(list(PtaBolus.Outcome), (8, 2, 1))[0]
        before = r.randint(3, 9)
        item = {
            "id": str(uuid.uuid4()),
            "occurred_at": self.moment(),
            "outcome": str(outcome),
            "pain_before": before,
            "source": str(r.choice(list(PtaBolus.Source))),
        }
        if outcome == PtaBolus.Outcome.DELIVERED:
            item |= {"dose": 0.05, "unit": "ml", "pain_after": max(0, before - r.randint(0, 4))}
        return item

    def medication(self) -> dict[str, Any]:
        r = self.rng
        drug, route, unit, doses = r.choice(DOSES)
        kind = MedicationDose.Kind
        return {
            "id": str(uuid.uuid4()),
            "taken_at": self.moment(),
            "drug": drug,
            "dose": r.choice(doses),
            "unit": unit,
            "route": route,
            "kind": str(r.choice((kind.SCHEDULED, kind.SCHEDULED, kind.RESCUE))),
        }

    def batch(self, size: int) -> dict[str, list[dict]]:
        return {
            section: [self.make[section]() for _ in range(n)] for section, n in section_counts(size).items()
        }


def section_counts(size: int) -> dict[str, int]:
    counts = {section: int(size * share) for section, share in MIX.items()}
    counts["checkins"] += size - sum(counts.values())
    return counts


def batch_counts(size: int) -> Counter:
    """Records per type in one batch."""
    return Counter({KIND_OF[s]: n for s, n in section_counts(size).items()})


# --- seeding ---------------------------------------------------------------------------------


def seed_patients(n: int, prefix: str, *, with_login: bool) -> list[Patient]:
    """n patients, each with their own user (patient.user)."""
    team, _ = CareTeam.objects.get_or_create(name="Bench ingest team")
    now = datetime.now(ZoneInfo(ZONE))
    out = []
    for i in range(n):
        user = User(username=f"{prefix}{i}", role=Role.PATIENT, timezone=ZONE)
        if with_login:
            user.set_password(USER_SECRET)
        else:
            user.set_unusable_password()
        user.save()
        out.append(
            Patient.objects.create(
                user=user,
                care_team=team,
                display_name=f"Bench {prefix} {i}",
                timezone=ZONE,
                enrolled_on=now.date() - timedelta(days=400),
                activated_at=now - timedelta(days=400),
                baseline_mme=Decimal(60),
            )
        )
    return out


# --- raw rows ----------------------------------------------------------------------------------


def raw_batches(diary: Diary, builder: rows.Builder, n: int, size: int) -> list[dict[str, list[tuple]]]:
    """n batches as the rows the API would store for them, computed up front (not timed):
    each item through the API's validation and the diary's build_record."""
    now = datetime.now(ZoneInfo("UTC"))
    return [
        {
            KIND_OF[section]: [
                rows.as_row(builder.validated(KIND_OF[section], item, now=now)) for item in items
            ]
            for section, items in diary.batch(size).items()
        }
        for _ in range(n)
    ]


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


def api_round(
    port: int, tokens: list[str], bodies: list[list[bytes]], size: int, label: str = "API sync/"
) -> dict[str, Any]:
    """Each client posts its bodies to sync/ over one keep-alive connection; `records`
    counts the items answered (for empty bodies, the requests)."""
    clients = Clients(label, sum(len(b) for b in bodies) * max(size, 1))
    barrier = threading.Barrier(len(tokens))

    def client(token: str, batches: list[bytes]) -> None:
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
            clients.add(sum(statuses.values()) if size else 1, latency, statuses)
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


def raw_round(batches_per_client: list[list[dict[str, list[tuple]]]]) -> dict[str, Any]:
    """The baseline: each client inserts its batches with executemany, one transaction each."""
    total = sum(sum(len(r) for r in b.values()) for bs in batches_per_client for b in bs)
    clients = Clients("raw executemany", total)
    barrier = threading.Barrier(len(batches_per_client))
    statements = {kind: rows.insert_sql(kind) for kind in rows.KINDS}

    def client(batches: list[dict[str, list[tuple]]]) -> None:
        with benchlib.pg_connect(DATABASE) as conn:
            barrier.wait()
            for batch in batches:
                started = time.perf_counter()
                with conn.transaction(), conn.cursor() as cur:
                    for kind, kind_rows in batch.items():
                        if kind_rows:
                            cur.executemany(statements[kind], kind_rows)
                clients.add(sum(len(r) for r in batch.values()), time.perf_counter() - started)

    threads = [threading.Thread(target=client, args=(b,)) for b in batches_per_client]
    elapsed = clients.run(threads)
    return {"elapsed": elapsed, "records": clients.records, "latencies": clients.latencies}


def copy_round(batches: list[dict[str, list[tuple]]]) -> dict[str, Any]:
    """The ceiling: every row in one COPY per table, one transaction."""
    by_kind: dict[str, list[tuple]] = defaultdict(list)
    for batch in batches:
        for kind, kind_rows in batch.items():
            by_kind[kind].extend(kind_rows)
    total = sum(len(r) for r in by_kind.values())
    progress = benchlib.Progress("raw COPY", total)
    started = time.perf_counter()
    with benchlib.pg_connect(DATABASE) as conn, conn.transaction():
        rows.copy_records(conn, by_kind)
    elapsed = time.perf_counter() - started
    progress.finish()
    return {"elapsed": elapsed, "records": total}


def run_round(
    port: int, tokens: list[str], diaries: list[Diary], raw_builders: list[rows.Builder], args
) -> dict:
    """One API round and its raw baselines, on the same number of records."""
    per_client = args.warmup + args.batches
    bodies, kept = [], []
    for d in diaries:
        batches = [d.batch(args.batch_size) for _ in range(per_client)]
        kept.append(batches[-1])
        bodies.append([json.dumps(b).encode() for b in batches])
    raw = [raw_batches(d, b, per_client, args.batch_size) for d, b in zip(diaries, raw_builders, strict=True)]
    copy_batches = [
        batch
        for d, b in zip(diaries, raw_builders, strict=True)
        for batch in raw_batches(d, b, args.batches, args.batch_size)
    ]
    if args.warmup:
        api_round(port, tokens, [b[: args.warmup] for b in bodies], args.batch_size)
        raw_round([r[: args.warmup] for r in raw])
    api = api_round(port, tokens, [b[args.warmup :] for b in bodies], args.batch_size)
    assert not api["errors"], f"API errors: {api['errors'][:3]}"
    # The floor: as many syncs with nothing in them, the request's own cost (HTTP, JWT and
    # the user, the view, the answer) that no storing can go below.
    empty = api_round(port, tokens, [[b"{}"] * args.batches for _ in tokens], 0, "empty sync/ (requests)")
    assert not empty["errors"], f"API errors: {empty['errors'][:3]}"
    return {
        "api": api,
        "empty": empty,
        "raw": raw_round([r[args.warmup :] for r in raw]),
        "copy": copy_round(copy_batches),
        "kept": kept,
    }


# --- checks and breakdown ---------------------------------------------------------------------


def table_counts(patient_ids: list) -> dict[str, int]:
    return {
        kind: model.objects.filter(patient_id__in=patient_ids).count()
        for kind, model in rows.RECORD_MODELS.items()
    }


def check_exactly_once(port: int, tokens: list[str], results: list[dict], api_ids: list, args) -> dict:
    """Rows stored exactly once, a retried batch answered `duplicate`, one evaluation
    request per patient, one queued task per sync."""
    syncs = args.clients * (args.warmup + args.batches) * args.rounds
    expected = {kind: n * syncs for kind, n in batch_counts(args.batch_size).items()}
    counts = table_counts(api_ids)
    statuses: Counter = Counter()
    for r in results:
        statuses.update(r["api"]["statuses"])
    retry = api_round(port, tokens, [[json.dumps(b).encode()] for b in results[-1]["kept"]], args.batch_size)
    counts_after_retry = table_counts(api_ids)
    requests = EvaluationRequest.objects.filter(patient_id__in=api_ids).count()
    # This run's own tasks: other benchmarks may publish to the bench broker meanwhile.
    own = {str(pk) for pk in api_ids}
    queued = sum(args[0] in own for args in benchlib.queued_task_args(dispatch.EVALUATE_PATIENT))
    ok = (
        counts == expected
        and counts_after_retry == expected
        and set(statuses) == {"created"}
        and set(retry["statuses"]) == {"duplicate"}
        and requests == args.clients
        and queued == syncs
    )
    return {
        "counts": counts,
        "expected": expected,
        "statuses": statuses,
        "retry": retry["statuses"],
        "counts_after_retry": counts_after_retry,
        "evaluation_requests": requests,
        "queued": queued,
        "syncs": syncs,
        "ok": ok,
    }


class PartTimer:
    """Wraps functions of the product (wraps, never changes) to add up their time; only
    the outermost call counts, as nested serializers validate inside their parent."""

    def __init__(self):
        self.totals: dict[str, float] = defaultdict(float)
        self.depth: dict[str, int] = defaultdict(int)
        self.restore: list[tuple[Any, str, Any]] = []

    def wrap(self, owner: Any, attr: str, label: str) -> None:
        original = getattr(owner, attr)

        def timed(*args, **kwargs):
            self.depth[label] += 1
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.depth[label] -= 1
                if not self.depth[label]:
                    self.totals[label] += time.perf_counter() - started

        setattr(owner, attr, timed)
        self.restore.append((owner, attr, original))

    def unwrap(self) -> None:
        for owner, attr, original in reversed(self.restore):
            setattr(owner, attr, original)


PARTS = (
    (diary.views, "sync_batch", "  sync_batch (all of the app's own work)"),
    (Serializer, "run_validation", "    validation: run_validation() of the record serializers"),
    (diary.ingest, "build_record", "    build_record (local date, derived values, fingerprint)"),
    (
        diary.ingest,
        "store_records",
        "    store_records (1 round trip per record type when all are new, commit)",
    ),
    (dispatch, "enqueue", "      after commit: the evaluation task sent to Redis"),
)


def breakdown_client() -> tuple[Patient, Any]:
    """A patient of its own and a Django test client logged in as them (JWT)."""
    (patient,) = seed_patients(1, "breakdown", with_login=False)
    token = str(AccessToken.for_user(patient.user))
    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}")

    def post(body: dict) -> dict:
        response = client.post("/api/v1/sync/", json.dumps(body), content_type="application/json")
        assert response.status_code == 200, response.content[:300]
        return response.json()

    return patient, post


def queries_per_sync(phone: Diary, post) -> dict[int, int]:
    """Queries per sync at three batch sizes: they must not grow with the batch."""
    queries = {}
    for n in (1, 100, 500):
        with benchlib.count_queries() as captured:
            result = post(phone.batch(n))
        assert all(r["status"] == "created" for r in result["results"]), "breakdown batch not created"
        queries[n] = len(captured)
    return queries


def time_parts(phone: Diary, post, batches: int, size: int) -> dict[str, float]:
    """Seconds per sync in each part of the write path, and the whole request."""
    timer = PartTimer()
    for owner, attr, label in PARTS:
        timer.wrap(owner, attr, label)
    bodies = [phone.batch(size) for _ in range(batches + 2)]
    try:
        post(bodies[0])
        post(bodies[1])  # warm
        timer.totals.clear()
        started = time.perf_counter()
        for body in bodies[2:]:
            post(body)
        request_total = time.perf_counter() - started
    finally:
        timer.unwrap()
    per_batch = {"request total (test client: DRF, JWT, JSON in and out)": request_total / batches}
    return per_batch | {label: timer.totals[label] / batches for _, _, label in PARTS}


def validation_costs(phone: Diary, patient: Patient, size: int) -> dict[str, tuple[float, float, float]]:
    """Validation per item, µs: a fresh serializer per item against one serializer reused
    through run_validation (diary.ingest), and building the fields alone."""
    make = {KIND_OF[section]: maker for section, maker in phone.make.items()}
    out = {}
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
        out[kind] = (fresh * 1e6, reused * 1e6, fields_only * 1e6)
    return out


def in_process_breakdown(phone: Diary, batches: int, size: int) -> dict[str, Any]:
    """Time one sync's parts in this process (no gunicorn): Django test client with a JWT."""
    patient, post = breakdown_client()
    return {
        "queries": queries_per_sync(phone, post),
        "per_batch": time_parts(phone, post, batches, size),
        "validation_us": validation_costs(phone, patient, size),
    }


# --- summary ---------------------------------------------------------------------------------


def print_rounds(results: list[dict], args) -> dict[str, float]:
    """The table per round and the medians; returns the figures of the RESULT line."""
    rates, table_rows, bounds = [], [], []
    for i, r in enumerate(results, 1):
        api_rate = r["api"]["records"] / r["api"]["elapsed"]
        raw_rate = r["raw"]["records"] / r["raw"]["elapsed"]
        copy_rate = r["copy"]["records"] / r["copy"]["elapsed"]
        empty_rate = r["empty"]["records"] / r["empty"]["elapsed"]
        rates.append((api_rate, raw_rate, copy_rate))
        # Were storing free, syncs of this size would still cost the empty sync's time each.
        bounds.append((empty_rate, empty_rate * args.batch_size / raw_rate))
        lat = benchlib.summary_ms(r["api"]["latencies"])
        raw_lat = benchlib.summary_ms(r["raw"]["latencies"])
        table_rows.append(
            [
                i,
                f"{api_rate:,.0f}",
                f"{raw_rate:,.0f}",
                f"{copy_rate:,.0f}",
                f"{api_rate / raw_rate:.3f}",
                f"{api_rate / copy_rate:.3f}",
                f"{lat['median_ms']:.0f}/{lat['p95_ms']:.0f}",
                f"{raw_lat['median_ms']:.1f}/{raw_lat['p95_ms']:.1f}",
                f"{empty_rate:,.0f}",
                f"{bounds[-1][1]:.3f}",
            ]
        )
    print()
    header = ["round", "API rec/s", "raw executemany rec/s", "raw COPY rec/s", "API/raw", "API/COPY"]
    latency = ["API batch p50/p95 ms", "raw batch p50/p95 ms"]
    print(benchlib.table(table_rows, [*header, *latency, "empty sync/ req/s", "API/raw bound"]))
    figures = {
        "ratio": statistics.median(a / b for a, b, _ in rates),
        "ratio_copy": statistics.median(a / c for a, _, c in rates),
        "api": statistics.median(a for a, _, _ in rates),
        "raw": statistics.median(b for _, b, _ in rates),
        "copy": statistics.median(c for _, _, c in rates),
        "empty": statistics.median(e for e, _ in bounds),
        "bound": statistics.median(b for _, b in bounds),
    }
    size = args.batch_size
    print()
    print(
        f"API  sync/ : {figures['api']:>10,.0f} records/s  ({figures['api'] / size:,.1f} syncs/s of {size})"
    )
    print(
        f"raw insert : {figures['raw']:>10,.0f} records/s  "
        f"(executemany, one transaction per batch, {args.clients} connections)"
    )
    print(f"raw COPY   : {figures['copy']:>10,.0f} records/s  (one COPY per table, one transaction)")
    print(
        f"empty sync/: {figures['empty']:>10,.0f} requests/s (nothing stored: the HTTP request, JWT, the view)"
    )
    print(
        f"ratio API/raw = {figures['ratio']:.3f}   (issue 3 aims for >= 0.5, issue 12 for >= 0.35 at 100 "
        f"records and >= 0.25 at 1)   API/COPY = {figures['ratio_copy']:.3f}"
    )
    print(
        f"bound on API/raw at {size} record(s) a sync, were storing free: {figures['bound']:.3f} "
        "(empty syncs/s x batch size / raw records/s)"
    )
    return figures


def print_checks(checks: dict) -> None:
    print()
    print("checks:")
    print(f"  rows per table after the API runs   {checks['counts']}  expected {checks['expected']}")
    print(f"  answers                             {dict(checks['statuses'])}")
    print(
        f"  a retried batch per client answers  {dict(checks['retry'])}; rows after: {checks['counts_after_retry']}"
    )
    print(f"  evaluation requests                 {checks['evaluation_requests']} (one per patient)")
    print(
        f"  tasks queued in Redis db 15         {checks['queued']} (one per sync that created records: {checks['syncs']})"
    )
    print(f"  every record stored exactly once:   {'yes' if checks['ok'] else 'NO'}")


def print_breakdown(breakdown: dict, size: int) -> None:
    print()
    print(
        f"queries per sync request by batch size: {breakdown['queries']} "
        "(1 record is one type; 100 and 500 hold all four)"
    )
    print("in-process time per sync of", size, "records (test client, no gunicorn):")
    for label, seconds in breakdown["per_batch"].items():
        print(f"  {label:<58} {seconds * 1000:8.1f} ms")
    print("validation per item, µs: a fresh serializer per item vs one reused serializer's")
    print("run_validation (diary.ingest), and the part that is only building the fields:")
    table_rows = [
        [kind, f"{fresh:.0f}", f"{reused:.0f}", f"{fields:.0f}", f"{fresh / reused:.1f}x"]
        for kind, (fresh, reused, fields) in breakdown["validation_us"].items()
    ]
    print(benchlib.table(table_rows, ["type", "fresh", "reused", "fields build", "fresh/reused"]))


def measure_against_raw(
    args, api_patients: list[Patient], raw_builders: list[rows.Builder], diaries
) -> tuple:
    """Under gunicorn: the rounds (API, executemany, COPY), then the exactly-once checks."""
    with benchlib.Gunicorn(workers=args.workers, threads=args.threads, env=dict(os.environ)) as server:
        benchlib.step(f"gunicorn up on 127.0.0.1:{server.port}; logging in {args.clients} patients")
        tokens = [benchlib.login(server.port, p.user.username, USER_SECRET) for p in api_patients]
        results = []
        for round_no in range(1, args.rounds + 1):
            records = args.clients * args.batches * args.batch_size
            benchlib.step(f"round {round_no}/{args.rounds}: {records:,} records per side")
            results.append(run_round(server.port, tokens, diaries, raw_builders, args))
        benchlib.step("checking: rows stored exactly once, retries are duplicates, one task per sync")
        checks = check_exactly_once(server.port, tokens, results, [p.pk for p in api_patients], args)
    return results, checks


# --- main --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rng = random.Random(args.seed)
    threads = f"x{args.threads} threads" if args.threads > 1 else ""
    benchlib.print_header(
        "bench/ingest: POST /api/v1/sync/ vs raw psycopg inserts",
        {
            "clients": args.clients,
            "gunicorn workers": f"{args.workers}{threads}",
            "batch": args.batch_size,
            "batches/client/round": args.batches,
            "rounds": args.rounds,
            "tasks": "enqueued to Redis db 15, no worker",
        },
    )
    benchlib.fresh_database(DATABASE)
    benchlib.step(f"seeding {args.clients} API patients (with logins) and {args.clients} raw patients")
    api_patients = seed_patients(args.clients, "api", with_login=True)
    raw_builders = [rows.Builder(p, p.user) for p in seed_patients(args.clients, "raw", with_login=False)]
    diaries = [Diary(random.Random(rng.random())) for _ in range(args.clients)]
    benchlib.close_django_connections()

    results, checks = measure_against_raw(args, api_patients, raw_builders, diaries)
    breakdown = None
    if not args.no_breakdown:
        benchlib.step("in-process breakdown of one sync (Django test client, same settings)")
        breakdown = in_process_breakdown(
            Diary(random.Random(args.seed + 1)), args.breakdown_batches, args.batch_size
        )

    figures = print_rounds(results, args)
    print_checks(checks)
    if breakdown:
        print_breakdown(breakdown, args.batch_size)
    benchlib.print_result_line(
        "ingest",
        mode="pg",
        size=args.batch_size,
        concurrency=args.clients,
        workers=args.workers,
        threads=args.threads,
        records_s=round(figures["api"]),
        baseline_records_s=round(figures["raw"]),
        copy_records_s=round(figures["copy"]),
        ratio=round(figures["ratio"], 4),
        ratio_copy=round(figures["ratio_copy"], 4),
        empty_syncs_s=round(figures["empty"]),
        ratio_bound=round(figures["bound"], 4),
        queries_per_req=breakdown["queries"] if breakdown else None,
        rounds=args.rounds,
        exactly_once=checks["ok"],
    )
    benchlib.finish(DATABASE, keep=args.keep_db)
    return 0 if checks["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
