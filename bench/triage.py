"""Triage: the clinician's first page of GET /api/v1/patients/ against hand-written SQL.

Issue 4 "Performance". On a fresh PostgreSQL database it loads a care team of N patients
(default 10,000) with D days of daily check-ins each (default 365: 3.65 million rows,
generated inside PostgreSQL with INSERT ... SELECT over generate_series, indexes and
constraints dropped during the load and rebuilt after, as pg_restore does; its columns
checked against the CheckIn model and its codes taken from diary.catalog), open and
acknowledged alerts for about a third of them (severity and Box 2 criteria from the rule
registry and alerts.actions.lifecycle.box2_criteria), open referrals, and a second team
the clinician may not see. Every patient's care_patientstatus row is then written the
product's way, by alerts.status.refresh_patient_status (through care's
save_patient_status and its triage key).

Then, in this process:

- API: the first page as the clinician, through Django's test client with a JWT (the
  whole middleware, DRF, auth, serializer and audit stack; no gunicorn),
- baseline: one hand-written SQL query for the same page (same join and team filter,
  the API's order, which is the status row's triage_key; TriageSerializer's fields),
  rows turned into the same JSON with json.dumps,

interleaved, printing queries per page, time per page and the ratio (issue 4 aims for
<= 2x); the two pages must be identical. It then runs EXPLAIN ANALYZE on the API's own
page query (as Django sent it) and on the baseline, and says whether PostgreSQL reads
the triage_key index; unless --no-plans it also times, by hand, variants of the page
query that the index could serve (the data is not changed). Finally it follows the
`next` links through the whole list: every patient must be reached once, in the order of
the triage key.

    .venv/bin/python bench/triage.py                          # 10,000 x 365
    .venv/bin/python bench/triage.py --patients 2000 --days 90  # quicker
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import benchlib
from cohort_sql import FIRST, LAST, ZONES  # the names and zones of both cohorts

DATABASE = benchlib.setup("crossroad_bench_triage")

# The product, once Django is set up.
import rows
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.test import Client
from psycopg import sql
from rest_framework_simplejwt.tokens import AccessToken

from alerts.actions.lifecycle import box2_criteria
from alerts.models import Alert, ReferralRecommendation
from alerts.rules import RULES
from alerts.status import refresh_patient_status
from care.models import CareTeam, Patient, PatientStatus, Role, TeamMembership, TeamRole, User
from care.serializers import TriageSerializer
from diary import catalog
from diary.models import RecordStatus, ReporterRole

# The hand-written page: what TriagePagination's ordering and TriageSerializer's fields
# amount to, as one query. Same join and team filter as the API's query; the order is the
# status row's triage key (every patient has a status row, written by the product's
# refresh_patient_status, so the API's Coalesce fallback never applies here; the load
# checks that every row has its key).
PAGE_SQL = """
SELECT p.id, p.display_name, p.care_team_id, p.timezone, p.language, p.enrolled_on, p.activated_at,
       p.diagnosis, p.baseline_mme, p.limited_prognosis, p.cancer_survivor, p.substance_use_history,
       p.organ_failure, p.idds, p.idds_lockout_minutes, p.idds_max_daily_boluses, p.idds_reservoir_ml,
       p.idds_next_refill_date, p.created_at,
       s.last_checkin_at, s.pain_today, s.pain_today_date, s.pain_7d_trend, s.open_urgent, s.open_warning,
       s.open_info, s.referral_status, s.box2_criteria_met, s.patient_id IS NOT NULL AS has_status,
       s.triage_key
FROM care_patient p
LEFT JOIN care_patientstatus s ON s.patient_id = p.id
WHERE p.care_team_id IN (SELECT team_id FROM care_teammembership WHERE user_id = %(user)s)
ORDER BY s.triage_key
LIMIT %(limit)s
"""
# The whole list in the same order, to check the walk through `next` against.
ORDER_SQL = """
SELECT p.id FROM care_patient p LEFT JOIN care_patientstatus s ON s.patient_id = p.id
WHERE p.care_team_id IN (SELECT team_id FROM care_teammembership WHERE user_id = %(user)s)
ORDER BY s.triage_key
"""

PATH = "/api/v1/patients/"

# Unresolved alerts: the share of the team's patients with an alert of each rule, raised in
# the last ten days (about a third of the team has at least one).
ALERT_SHARES = {
    "red_flag": 0.02,
    "rapid_deterioration": 0.01,
    "persistent_pain": 0.10,
    "pain_interference": 0.06,
    "symptom_cluster": 0.05,
    "missed_diary": 0.06,
    "patient_preference": 0.03,
}
assert set(RULES) >= set(ALERT_SHARES), f"not rules of the registry: {set(ALERT_SHARES) - set(RULES)}"
DIAGNOSES = ("lung cancer", "breast cancer", "pancreatic cancer", "myeloma", "")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=10_000, help="patients the clinician sees (10000)")
    parser.add_argument("--days", type=int, default=365, help="days of daily check-ins per patient (365)")
    parser.add_argument("--others", type=int, default=1000, help="patients of another team (1000)")
    parser.add_argument("--repeat", type=int, default=40, help="timed pages per side (40)")
    parser.add_argument("--no-walk", action="store_true", help="do not follow next links through the list")
    parser.add_argument(
        "--no-plans",
        dest="plans",
        action="store_false",
        help="skip timing variants of the page query by hand",
    )
    benchlib.add_database_options(parser, "crossroad_bench_triage")
    parser.add_argument("--seed", type=int, default=5)
    return parser.parse_args(argv)


# --- loading -------------------------------------------------------------------------------

# A check-in score near the patient's pain of the day (x.pain), drawn per item.
NEAR_PAIN = "GREATEST(0, LEAST(10, x.pain + floor(random() * 3)::int - 1))"


def checkins_sql() -> sql.Composed:
    """INSERT ... SELECT of one check-in a day for the patients %(ids)s over %(days)s days.

    One expression per column of the CheckIn model: a column the model gains and this
    lacks stops the load with its name. Codes come from the catalog; the triage row reads
    only the pain, the day and the time."""
    interference = list(catalog.INTERFERENCE_ITEMS)
    symptoms = sorted(catalog.CHECKIN_SYMPTOM_CODES)[:6]

    def scores(pairs: list[tuple[str, sql.Composable]]) -> sql.Composed:
        return sql.SQL("jsonb_build_object({})").format(
            sql.SQL(", ").join(sql.SQL("{}, {}").format(sql.Literal(code), value) for code, value in pairs)
        )

    def item(code: str) -> sql.Identifier:
        return sql.Identifier(f"i_{code}")

    values: dict[str, sql.Composable] = {
        "id": sql.SQL("gen_random_uuid()"),
        "patient_id": sql.SQL("c.patient_id"),
        "reported_by_id": sql.SQL("c.user_id"),
        "reporter_role": sql.Literal(str(ReporterRole.PATIENT)),
        "timezone": sql.SQL("c.tz"),
        "local_date": sql.SQL("(c.at AT TIME ZONE c.tz)::date"),
        "created_at": sql.SQL("c.at + interval '2 minutes'"),
        "updated_at": sql.SQL("c.at + interval '2 minutes'"),
        "late": sql.SQL("false"),
        "status": sql.Literal(str(RecordStatus.ACTIVE)),
        "retracted_reason": sql.Literal(""),
        "version": sql.SQL("1"),
        "fingerprint": sql.SQL("md5(random()::text) || md5(random()::text)"),
        "ingest_key": sql.SQL("NULL"),
        "recorded_at": sql.SQL("c.at"),
        "pain_now": sql.SQL("c.pain"),
        "pain_worst": sql.SQL("LEAST(10, c.pain + 1)"),
        "pain_least": sql.SQL("GREATEST(0, c.pain - 2)"),
        "pain_average": sql.SQL("c.pain"),
        "interference": scores([(code, sql.SQL("c.{}").format(item(code))) for code in interference]),
        # Every item answered: the mean of all (diary.days.interference_mean's rule).
        "interference_mean": sql.SQL("round(({}) / {}.0, 2)").format(
            sql.SQL(" + ").join(sql.SQL("c.{}").format(item(code)) for code in interference),
            sql.Literal(len(interference)),
        ),
        "neuropathic": sql.SQL("'[]'"),
        "pain_sites": sql.SQL("{}::jsonb").format(
            sql.Literal(json.dumps([catalog.PAIN_SITES["lower_back"].code]))
        ),
        "breakthrough_episodes": sql.SQL("floor(random() * 4)::int"),
        "symptoms": scores([(code, sql.SQL("floor(random() * 11)::int")) for code in symptoms]),
        "red_flags": sql.SQL("'[]'"),
        "wants_fewer_medications": sql.SQL("false"),
        "wants_procedure_discussion": sql.SQL("false"),
        "note": sql.Literal(""),
        # The change feed's stamp (diary.changes); rows loaded outside the write paths are 0.
        "change_seq": sql.SQL("0"),
    }
    columns = rows.columns("checkin")
    unknown = set(columns) ^ set(values)
    assert not unknown, f"checkins_sql and the CheckIn model differ on columns {sorted(unknown)}"
    return sql.SQL(
        """
        INSERT INTO {table} ({columns})
        SELECT {values}
        FROM (
            SELECT x.patient_id, x.user_id, x.tz, x.at, x.pain, {items}
            FROM (
                SELECT p.id AS patient_id, p.user_id, p.timezone AS tz,
                       LEAST(now() - interval '5 minutes',
                             ((current_date - d) + time '09:00') AT TIME ZONE p.timezone
                             + floor(random() * 180) * interval '1 minute') AS at,
                       GREATEST(0, LEAST(10, abs(hashtext(p.id::text)) %% 7 + floor(random() * 5)::int - 2)) AS pain
                FROM {patients} p CROSS JOIN generate_series(0, %(days)s - 1) d
                WHERE p.id = ANY(%(ids)s)
            ) x
        ) c
        """
    ).format(
        table=sql.Identifier(rows.table("checkin")),
        columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
        values=sql.SQL(", ").join(values[c] for c in columns),
        items=sql.SQL(", ").join(sql.SQL(NEAR_PAIN + " AS {}").format(item(code)) for code in interference),
        patients=sql.Identifier(Patient._meta.db_table),
    )


def seed_teams() -> tuple[CareTeam, CareTeam, User]:
    """The clinician's team, another team, and the clinician (a pain physician)."""
    team = CareTeam.objects.create(name="Bench triage team")
    other = CareTeam.objects.create(name="Bench other team")
    clinician = User.objects.create(username="bench-clinician", role=Role.CLINICIAN, email="c@bench.invalid")
    TeamMembership.objects.create(team=team, user=clinician, team_role=TeamRole.PAIN_PHYSICIAN)
    return team, other, clinician


def seed_patients(team: CareTeam, other: CareTeam, n: int, others: int, days: int) -> list[Patient]:
    """n patients of the team and `others` of the other team, each with their account,
    enrolled a month before their first check-in; names, zones and context flags vary."""
    password = make_password(None)  # unusable, computed once
    users = [
        User(
            username=f"patient-{i}",
            password=password,
            role=Role.PATIENT,
            timezone=ZONES[i % len(ZONES)],
            language="it" if i % 5 == 0 else "en",
        )
        for i in range(1, n + others + 1)
    ]
    User.objects.bulk_create(users, batch_size=2000)
    enrolled = datetime.now(UTC) - timedelta(days=days + 30)
    patients = [
        Patient(
            user=user,
            care_team=team if i <= n else other,
            display_name=f"{FIRST[(i * 7) % len(FIRST)]} {LAST[(i * 13) % len(LAST)]}",
            timezone=user.timezone,
            language=user.language,
            enrolled_on=enrolled.date(),
            activated_at=enrolled,
            diagnosis=DIAGNOSES[i % len(DIAGNOSES)],
            baseline_mme=None if i % 3 == 0 else (30, 60, 90, 120)[i % 4],
            limited_prognosis=i % 17 == 0,
            cancer_survivor=i % 11 == 0,
            substance_use_history=i % 13 == 0,
            organ_failure=i % 19 == 0,
            idds=i % 20 == 0,
            idds_lockout_minutes=10 if i % 20 == 0 else None,
            idds_max_daily_boluses=6 if i % 20 == 0 else None,
            idds_reservoir_ml=Decimal("18.5") if i % 20 == 0 else None,
            idds_next_refill_date=enrolled.date() + timedelta(days=days + 30 + i % 28)
            if i % 20 == 0
            else None,
        )
        for i, user in enumerate(users, 1)
    ]
    Patient.objects.bulk_create(patients, batch_size=2000)
    return patients


def load_checkins(patients: list[Patient], days: int, seed: int) -> dict[str, float]:
    """The check-ins, generated in PostgreSQL in slices of 500 patients on two
    connections (two cores), indexes and constraints dropped during the load."""
    timings = {}
    statement = checkins_sql()
    total = len(patients) * days
    benchlib.step(f"generating {total:,} check-ins in PostgreSQL (indexes dropped, rebuilt after)")
    started = time.perf_counter()
    ids = sorted(p.pk for p in patients)
    chunks = [ids[i : i + 500] for i in range(0, len(ids), 500)]
    progress = benchlib.Progress("check-ins", total)
    lock = threading.Lock()
    done = [0]

    def insert(worker: int) -> None:
        with benchlib.pg_connect(DATABASE) as own:
            own.execute("SET synchronous_commit = off")
            own.execute("SELECT setseed(%s)", ((seed + worker) / 100,))
            for chunk in chunks[worker::2]:
                own.execute(statement, {"ids": chunk, "days": days})
                own.commit()
                with lock:
                    done[0] += len(chunk) * days
                    progress.update(done[0])

    with benchlib.pg_connect(DATABASE) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        with benchlib.without_constraints_and_indexes(conn, rows.table("checkin"), database=DATABASE):
            with ThreadPoolExecutor(max_workers=2) as pool:
                list(pool.map(insert, range(2)))
            progress.finish()
            timings["checkins_insert"] = time.perf_counter() - started
            benchlib.step("rebuilding the check-in indexes and constraints")
    timings["checkins_total"] = time.perf_counter() - started
    return timings


def seed_alerts(patients: list[Patient], rng: random.Random) -> list[Alert]:
    """Open and acknowledged alerts (three in ten acknowledged) raised in the last ten
    days, by ALERT_SHARES; severity from the registry, criteria as the product sets them."""
    now = datetime.now(UTC)
    alerts = []
    for patient in patients:
        for rule, share in ALERT_SHARES.items():
            if rng.random() >= share:
                continue
            raised = now - timedelta(seconds=rng.uniform(0, 10 * 86400))
            acknowledged = rng.random() < 0.3
            alerts.append(
                Alert(
                    patient=patient,
                    rule=rule,
                    severity=RULES[rule].severity,
                    status=Alert.Status.ACKNOWLEDGED if acknowledged else Alert.Status.OPEN,
                    box2_criteria=box2_criteria(patient, rule),
                    evidence={},
                    record_ids=[],
                    created_at=raised,
                    last_triggered_at=raised,
                    acknowledged_at=raised + timedelta(hours=1) if acknowledged else None,
                )
            )
    Alert.objects.bulk_create(alerts, batch_size=2000)
    return alerts


def seed_referrals(alerts: list[Alert], rng: random.Random) -> int:
    """An open referral (suggested, three in ten accepted) for eight in ten patients whose
    alerts evidence a Box 2 criterion."""
    by_patient: dict[Any, list[Alert]] = defaultdict(list)
    for alert in alerts:
        if alert.box2_criteria:
            by_patient[alert.patient_id].append(alert)
    status = ReferralRecommendation.Status
    referrals = []
    for patient_id, evidence in by_patient.items():
        if rng.random() >= 0.8:
            continue
        criteria: dict[int, dict] = {}
        for alert in evidence:
            for number in alert.box2_criteria:
                criteria.setdefault(number, {"number": number, "rule": alert.rule, "evidence": {}})
        referrals.append(
            ReferralRecommendation(
                patient_id=patient_id,
                status=status.ACCEPTED if rng.random() < 0.3 else status.SUGGESTED,
                priority=ReferralRecommendation.Priority.ROUTINE,
                criteria=[criteria[n] for n in sorted(criteria)],
                created_at=min(a.created_at for a in evidence),
                updated_at=max(a.created_at for a in evidence),
            )
        )
    ReferralRecommendation.objects.bulk_create(referrals, batch_size=2000)
    return len(referrals)


def refresh_statuses(patients: list[Patient]) -> None:
    """Every patient's triage row, written as the product writes it after an evaluation:
    on two threads (two cores), 500 patients per transaction (one commit, not one each)."""
    progress = benchlib.Progress("status rows (refresh_patient_status)", len(patients))
    chunks = [patients[i : i + 500] for i in range(0, len(patients), 500)]
    lock = threading.Lock()
    done = [0]

    def refresh(worker: int) -> None:
        try:
            for chunk in chunks[worker::2]:
                with transaction.atomic():
                    for patient in chunk:
                        refresh_patient_status(patient)
                with lock:
                    done[0] += len(chunk)
                    progress.update(done[0])
        finally:
            connection.close()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(refresh, range(2)))
    progress.finish()


def database_facts() -> dict[str, Any]:
    """Row counts, database size and the status keys: every patient must have a status
    row with its own key, so the order is total and the baseline's ORDER BY s.triage_key
    is the API's Coalesce(status key, fallback)."""
    counted = (Patient, rows.RECORD_MODELS["checkin"], Alert, ReferralRecommendation, PatientStatus)
    with benchlib.pg_connect(DATABASE, autocommit=True) as conn:
        for model in (*counted, User):
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(model._meta.db_table)))
        counts = {
            model._meta.db_table: conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(model._meta.db_table))
            ).fetchone()[0]
            for model in counted
        }
        size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
        keys = dict(
            zip(
                ("patients", "status_rows", "distinct_keys", "empty_keys"),
                conn.execute(
                    "SELECT count(*), count(s.patient_id), count(DISTINCT s.triage_key), "
                    "count(*) FILTER (WHERE s.triage_key = '') "
                    "FROM care_patient p LEFT JOIN care_patientstatus s ON s.patient_id = p.id"
                ).fetchone(),
                strict=True,
            )
        )
    return {"counts": counts, "db_size": size, "keys": keys}


def load(args: argparse.Namespace, rng: random.Random) -> dict[str, Any]:
    timings = {}
    started = time.perf_counter()
    team, other, clinician = seed_teams()
    patients = seed_patients(team, other, args.patients, args.others, args.days)
    timings["patients"] = time.perf_counter() - started
    timings |= load_checkins(patients[: args.patients], args.days, args.seed)
    started = time.perf_counter()
    alerts = seed_alerts(patients[: args.patients], rng)
    seed_referrals(alerts, rng)
    timings["alerts"] = time.perf_counter() - started
    started = time.perf_counter()
    refresh_statuses(patients)
    timings["status"] = time.perf_counter() - started
    started = time.perf_counter()
    facts = database_facts()
    timings["analyze"] = time.perf_counter() - started
    return {"clinician": clinician, "team": team, "other": other, "timings": timings, **facts}


# --- the two pages -----------------------------------------------------------------------------


def drf_datetime(value: datetime | None) -> str | None:
    if value is None:
        return None
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def money(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(Decimal("0.01")))


def baseline_page(conn, user_id, page_size: int = 50) -> bytes:
    """The page by hand: one query, rows to dicts, json.dumps."""
    now = datetime.now(UTC)
    rows = conn.execute(PAGE_SQL, {"user": user_id, "limit": page_size + 1}).fetchall()
    results = []
    for r in rows[:page_size]:
        (
            pid,
            name,
            team,
            zone,
            language,
            enrolled,
            activated,
            diagnosis,
            mme,
            limited,
            survivor,
            substance,
            organ,
            idds,
            lockout,
            max_boluses,
            reservoir,
            refill,
            created,
            last_checkin,
            pain_today,
            pain_date,
            trend,
            urgent,
            warning,
            info,
            referral,
            box2,
            has_status,
            _key,
        ) = r
        today = now.astimezone(ZoneInfo(zone)).date()
        results.append(
            {
                "id": str(pid),
                "display_name": name,
                "care_team": str(team),
                "timezone": zone,
                "language": language,
                "enrolled_on": enrolled.isoformat(),
                "activated_at": drf_datetime(activated),
                "diagnosis": diagnosis,
                "baseline_mme": money(mme),
                "limited_prognosis": limited,
                "cancer_survivor": survivor,
                "substance_use_history": substance,
                "organ_failure": organ,
                "idds": {
                    "lockout_minutes": lockout,
                    "max_daily_boluses": max_boluses,
                    "reservoir_ml": money(reservoir),
                    "next_refill_date": refill.isoformat() if refill else None,
                }
                if idds
                else None,
                "created_at": drf_datetime(created),
                "last_checkin_at": drf_datetime(last_checkin),
                "pain_today": pain_today if has_status and pain_date == today else None,
                "pain_7d_trend": trend,
                "open_alerts": {"urgent": urgent or 0, "warning": warning or 0, "info": info or 0},
                "referral_status": referral or None,
                "box2_criteria_met": list(box2) if has_status else [],
            }
        )
    next_link = f"keyset:{rows[page_size - 1][-1]}" if len(rows) > page_size else None
    body = {"next": next_link, "previous": None, "results": results}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def walk(client, first_path: str, limit_pages: int) -> dict[str, Any]:
    """Follow `next` from the first page; stop at the end, at a page seen before, or at
    the page limit. Returns what was reached, in order, and the time of each page."""
    seen: set[str] = set()
    order: list[str] = []
    paths: list[str] = []
    pages, repeats, path = 0, 0, first_path
    times: list[float] = []
    previous_ids: list[str] | None = None
    progress = benchlib.Progress("walking the triage list", limit_pages)
    while path and pages < limit_pages:
        paths.append(path)
        started = time.perf_counter()
        response = client.get(path)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.content[:300]
        body = response.json()
        ids = [r["id"] for r in body["results"]]
        pages += 1
        progress.update(pages, f"{len(seen):,} patients")
        if ids == previous_ids:
            repeats += 1
            if repeats >= 3:
                break
        previous_ids = ids
        seen.update(ids)
        order.extend(ids)
        path = None
        if body["next"]:
            link = urlsplit(body["next"])
            path = f"{link.path}?{link.query}"
    progress.finish(f"{len(seen):,} patients")
    return {
        "pages": pages,
        "reached": len(seen),
        "rows": len(order),
        "repeats": repeats,
        "ended": path is None,
        "times": times,
        "order": order,
        "paths": paths,
    }


# --- query plans -------------------------------------------------------------------------------


def api_page_query(captured: list) -> str:
    """The SQL of the page itself among a request's queries (Django's text, values inlined)."""
    pages = [q["sql"] for q in captured if 'FROM "care_patient"' in q["sql"] and "ORDER BY" in q["sql"]]
    assert len(pages) == 1, [q["sql"][:120] for q in captured]
    return pages[0]


def explain(conn, query: str, params: dict | None = None, runs: int = 5) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) a query `runs` times: the median execution time, the
    indexes read, whether it sorts, and the plan of the last run as indented lines."""
    executions, plan = [], None
    for _ in range(runs):
        plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + query, params).fetchone()[0][0]
        executions.append(plan["Execution Time"])
    indexes: list[str] = []
    sorts: list[str] = []
    lines: list[str] = []

    def visit(node: dict, depth: int) -> None:
        name = node["Node Type"]
        if "Index Name" in node:
            indexes.append(node["Index Name"])
            name += f" using {node['Index Name']}"
        elif "Relation Name" in node:
            name += f" on {node['Relation Name']}"
        if node["Node Type"] == "Sort":
            sorts.append(f"{node.get('Sort Method', '?')} of {node['Actual Rows']:,} rows")
            name += f" ({node.get('Sort Method', '')})"
        lines.append(
            f"{'  ' * depth}{name}  rows={node['Actual Rows']:,} loops={node['Actual Loops']:,} "
            f"time={node['Actual Total Time']:.2f} ms"
        )
        for child in node.get("Plans", ()):
            visit(child, depth + 1)

    visit(plan["Plan"], 0)
    return {
        "execution_ms": statistics.median(executions),
        "indexes": indexes,
        "sorts": sorts,
        "uses_triage_key_index": any("triage_key" in name for name in indexes),
        "lines": lines,
    }


# Variants of the page query, timed by hand to see what would let PostgreSQL serve the page
# from an index (the API's own query, with its Coalesce fallback, is explained as Django
# sends it: see plans). {select} is the baseline's field list. "subquery" variants find the teams
# as visible_to does (the clinician's memberships); the others take the team ids resolved
# first, so they also run for a team the clinician is not in (the 1,000-patient team, whose
# patients all sort after the big team's patients with alerts).
VARIANTS = {
    "LEFT JOIN, team subquery, ORDER BY s.triage_key (the baseline)": PAGE_SQL,
    "inner JOIN, team subquery, ORDER BY s.triage_key": """
        SELECT {select} FROM care_patient p JOIN care_patientstatus s ON s.patient_id = p.id
        WHERE p.care_team_id IN (SELECT team_id FROM care_teammembership WHERE user_id = %(user)s)
        ORDER BY s.triage_key LIMIT %(limit)s""",
    "LEFT JOIN, team ids first, ORDER BY s.triage_key": """
        SELECT {select} FROM care_patient p LEFT JOIN care_patientstatus s ON s.patient_id = p.id
        WHERE p.care_team_id = ANY(%(teams)s) ORDER BY s.triage_key LIMIT %(limit)s""",
    "inner JOIN, team ids first, ORDER BY s.triage_key": """
        SELECT {select} FROM care_patient p JOIN care_patientstatus s ON s.patient_id = p.id
        WHERE p.care_team_id = ANY(%(teams)s) ORDER BY s.triage_key LIMIT %(limit)s""",
    "the same, a page 9/10 down (s.triage_key > position)": """
        SELECT {select} FROM care_patient p JOIN care_patientstatus s ON s.patient_id = p.id
        WHERE p.care_team_id = ANY(%(teams)s) AND s.triage_key > %(after)s
        ORDER BY s.triage_key LIMIT %(limit)s""",
    # With `= ANY(array)` PostgreSQL 15 cannot read a composite index in the order of its
    # second column, so one team is written `=` (several teams: one scan each, merged).
    "care_team_id on the status row, one index (care_team_id, triage_key)": """
        SELECT {select} FROM bench_status s JOIN care_patient p ON p.id = s.patient_id
        WHERE s.care_team_id = %(team)s ORDER BY s.triage_key LIMIT %(limit)s""",
}
# The status rows (which carry their patient's team) as a separate table with only its
# primary key and the composite index, so the variant is timed alone; dropped after.
TEAM_ON_STATUS = (
    "CREATE TABLE bench_status AS SELECT s.* FROM care_patientstatus s",
    "ALTER TABLE bench_status ADD PRIMARY KEY (patient_id)",
    "CREATE INDEX bench_status_team_triage_key ON bench_status (care_team_id, triage_key)",
    "VACUUM ANALYZE bench_status",
)
ANALYZED = "inner JOIN, team subquery, after ANALYZE care_teammembership"


def page_select() -> str:
    return PAGE_SQL.split("SELECT", 1)[1].split("FROM care_patient p", 1)[0].strip()


def plan_variants(conn, user_id, teams: dict[str, Any], runs: int = 5) -> dict[str, dict[str, dict]]:
    """Median EXPLAIN ANALYZE time of each variant of the page query, per team; each must
    return the same 51 rows as the whole list in key order (the deep page: from its
    position). `teams`: label -> team id; the first is the clinician's."""
    select = page_select()
    for statement in TEAM_ON_STATUS:
        conn.execute(statement)
    results: dict[str, dict[str, dict]] = defaultdict(dict)
    try:
        for number, (team_label, team) in enumerate(teams.items()):
            params = {"user": user_id, "teams": [team], "team": team, "limit": 51}
            order = [
                r[0]
                for r in conn.execute(
                    "SELECT p.id FROM care_patient p JOIN care_patientstatus s ON s.patient_id = p.id "
                    "WHERE p.care_team_id = %s ORDER BY s.triage_key",
                    (team,),
                ).fetchall()
            ]
            deep = len(order) * 9 // 10
            params["after"] = conn.execute(
                "SELECT triage_key FROM care_patientstatus WHERE patient_id = %s", (order[deep - 1],)
            ).fetchone()[0]
            for label, query in VARIANTS.items():
                if "subquery" in label and number:
                    continue  # the clinician is a member of the first team only
                query = query.replace("{select}", select)
                expected = order[deep : deep + 51] if "position" in label else order[:51]
                assert [r[0] for r in conn.execute(query, params).fetchall()] == expected, label
                results[label][team_label] = explain(conn, query, params, runs)
        # Last, as it changes the planner's statistics for good: the membership table, which
        # a small clinic's autovacuum never analyzes (fewer than 50 rows changed).
        conn.execute("ANALYZE care_teammembership")
        first, team = next(iter(teams.items()))
        params = {"user": user_id, "limit": 51}
        results[ANALYZED][first] = explain(
            conn, VARIANTS[list(VARIANTS)[1]].replace("{select}", select), params
        )
    finally:
        conn.execute("DROP TABLE bench_status")
    return results


# --- measuring -------------------------------------------------------------------------------


def api_client(clinician: User) -> Client:
    return Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(clinician)}")


def compare_pages(client: Client, raw, clinician: User, repeat: int) -> dict[str, Any]:
    """The API's first page against the baseline: queries, sameness, then interleaved times."""

    def api_page() -> bytes:
        response = client.get(PATH)
        assert response.status_code == 200, response.content[:300]
        return response.content

    def sql_page() -> bytes:
        return baseline_page(raw, clinician.pk)

    for _ in range(3):
        api_page()
        sql_page()
    with benchlib.count_queries() as captured:
        api_body = api_page()
    api_results = json.loads(api_body)["results"]
    sql_results = json.loads(sql_page())["results"]
    # The baseline is written by hand: say which fields it lacks before "not identical".
    if sql_results:
        fields = list(TriageSerializer.Meta.fields)
        assert list(sql_results[0]) == fields, f"baseline fields differ from TriageSerializer's: {fields}"
    benchlib.step(f"{repeat} pages each, interleaved API / SQL")
    return {
        "queries": [" ".join(q["sql"].split())[:110] for q in captured],
        "page_query": api_page_query(captured),
        "same": api_results == sql_results,
        "first_names": [r["display_name"] for r in api_results[:3]],
        "times": benchlib.interleaved(repeat, {"api": api_page, "sql": sql_page}),
    }


def walk_list(client: Client, raw, clinician: User, patients: int, plans: dict) -> dict[str, Any]:
    """Follow next links through the whole list; the order must be the triage key's. The
    plan of a deep page (by cursor) joins `plans`."""
    benchlib.step("following next links through the whole list")
    walked = walk(client, PATH, limit_pages=(patients // 50) + 20)
    expected = [str(r[0]) for r in raw.execute(ORDER_SQL, {"user": clinician.pk}).fetchall()]
    walked["in_order"] = walked["order"] == expected
    if len(walked["paths"]) > 2:
        with benchlib.count_queries() as captured:
            response = client.get(walked["paths"][-2])
        assert response.status_code == 200
        plans[f"API page {len(walked['paths']) - 1} (cursor)"] = explain(raw, api_page_query(captured))
    return walked


def time_variants(raw, clinician: User, loaded: dict, args) -> tuple[dict, dict]:
    benchlib.step("timing variants of the page query by hand (EXPLAIN ANALYZE, median of 5)")
    team_labels = {f"clinician's team ({args.patients:,})": loaded["team"].pk}
    if args.others:
        team_labels[f"another team ({args.others:,})"] = loaded["other"].pk
    return plan_variants(raw, clinician.pk, team_labels), team_labels


# --- summary ---------------------------------------------------------------------------------


def print_data(args, loaded: dict, load_seconds: float) -> None:
    counts, t = loaded["counts"], loaded["timings"]
    print()
    print(
        f"data: {counts['care_patient']:,} patients ({args.patients:,} visible), "
        f"{counts['diary_checkin']:,} check-ins, {counts['alerts_alert']:,} unresolved "
        f"alerts, {counts['alerts_referralrecommendation']:,} open referrals; database {loaded['db_size']}"
    )
    print(
        f"load: {load_seconds:.0f} s (patients {t['patients']:.0f} s, check-ins {t['checkins_insert']:.0f} s "
        f"insert + {t['checkins_total'] - t['checkins_insert']:.0f} s indexes and constraints, "
        f"status rows by refresh_patient_status {t['status']:.1f} s, vacuum analyze {t['analyze']:.0f} s)"
    )
    keys = loaded["keys"]
    print(
        f"status keys: {keys['status_rows']:,} status rows for {keys['patients']:,} patients, "
        f"{keys['distinct_keys']:,} distinct triage keys, {keys['empty_keys']} empty"
    )


def print_pages(pages: dict) -> None:
    print()
    print(f"API queries per page: {len(pages['queries'])}")
    for q in pages["queries"]:
        print(f"  {q}")
    print("baseline queries per page: 1")
    print(
        f"pages identical (results): {'yes' if pages['same'] else 'NO'}; first rows: {pages['first_names']}"
    )


def print_plans(plans: dict) -> None:
    print()
    for label, plan in plans.items():
        print(
            f"{label}: EXPLAIN ANALYZE {plan['execution_ms']:.2f} ms (median of 5); triage_key index "
            f"{'used' if plan['uses_triage_key_index'] else 'NOT used'}; indexes {sorted(set(plan['indexes']))}; "
            f"sorts {plan['sorts'] or 'none'}"
        )
        for line in plan["lines"]:
            print(f"    {line}")


def print_variants(variants: dict, team_labels: dict) -> None:
    print()
    print("variants of the page query by hand, each checked to return the same rows as the list in key order")
    print("(EXPLAIN ANALYZE execution, median of 5; 'index' is a scan in key order, no sort):")

    def cell(plan: dict | None) -> list[str]:
        if plan is None:
            return ["", ""]
        how = ", ".join(plan["sorts"]) if plan["sorts"] else "index " + ", ".join(plan["indexes"][:1])
        return [f"{plan['execution_ms']:.2f}", how]

    print(
        benchlib.table(
            [
                [label, *[c for team in team_labels for c in cell(plans_by_team.get(team))]]
                for label, plans_by_team in variants.items()
            ],
            ["page query", *[h for team in team_labels for h in (f"{team} ms", "how")]],
        )
    )


def print_times(api: dict, base: dict) -> tuple[float, float]:
    ratio = api["median_ms"] / base["median_ms"]
    ratio_mean = api["mean_ms"] / base["mean_ms"]
    print()
    print(
        benchlib.table(
            [
                [
                    label,
                    f"{s['mean_ms']:.2f}",
                    f"{s['median_ms']:.2f}",
                    f"{s['p95_ms']:.2f}",
                    f"{s['min_ms']:.2f}",
                ]
                for label, s in (("API (test client)", api), ("hand-written SQL + json", base))
            ],
            ["first page", "mean ms", "median ms", "p95 ms", "min ms"],
        )
    )
    print()
    print(f"ratio API / SQL: median {ratio:.2f}x, mean {ratio_mean:.2f}x   (issue 4 aims for <= 2x)")
    return ratio, ratio_mean


def print_walk(walked: dict, patients: int, first_page_ms: float) -> None:
    deep = benchlib.summary_ms(walked["times"][-10:]) if len(walked["times"]) >= 10 else None
    print()
    print(
        f"walking next links: {walked['pages']} pages, reached {walked['reached']:,} of {patients:,} "
        f"patients ({walked['rows']:,} rows); {'reached the end' if walked['ended'] else 'did NOT reach the end'}"
        + (f", the same page came back {walked['repeats']} times" if walked["repeats"] else "")
        + f"; in the order of the triage key, each once: {'yes' if walked['in_order'] else 'NO'}"
    )
    if deep:
        print(
            f"  last 10 pages walked: median {deep['median_ms']:.1f} ms (first page {first_page_ms:.1f} ms)"
        )


def measure(args, loaded: dict) -> tuple[dict, dict, dict | None, dict, dict]:
    """The pages compared, their plans, the walk through `next` and the variants."""
    clinician = loaded["clinician"]
    client = api_client(clinician)
    with benchlib.pg_connect(DATABASE, autocommit=True) as raw:
        pages = compare_pages(client, raw, clinician, args.repeat)
        benchlib.step("EXPLAIN ANALYZE of the API's page query (as Django sent it) and of the baseline")
        plans = {
            "API first page": explain(raw, pages["page_query"]),
            "baseline SQL": explain(raw, PAGE_SQL, {"user": clinician.pk, "limit": 51}),
        }
        walked = None if args.no_walk else walk_list(client, raw, clinician, args.patients, plans)
        variants, team_labels = time_variants(raw, clinician, loaded, args) if args.plans else ({}, {})
    return pages, plans, walked, variants, team_labels


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    benchlib.print_header(
        "bench/triage: first page of GET /api/v1/patients/ vs hand-written SQL",
        {
            "patients": args.patients,
            "days of check-ins": args.days,
            "other team": args.others,
            "repeat": args.repeat,
            "in-process": "test client",
        },
    )
    benchlib.fresh_database(DATABASE)
    started = time.perf_counter()
    loaded = load(args, random.Random(args.seed))
    load_seconds = time.perf_counter() - started
    benchlib.step(f"loaded in {load_seconds:.0f} s: {loaded['counts']}, database {loaded['db_size']}")

    pages, plans, walked, variants, team_labels = measure(args, loaded)
    api, base = benchlib.summary_ms(pages["times"]["api"]), benchlib.summary_ms(pages["times"]["sql"])
    print_data(args, loaded, load_seconds)
    print_pages(pages)
    print_plans(plans)
    if variants:
        print_variants(variants, team_labels)
    ratio, _ = print_times(api, base)
    if walked:
        print_walk(walked, args.patients, api["median_ms"])

    benchlib.print_result_line(
        "triage",
        mode="pg",
        size={"patients": args.patients, "days": args.days, "checkins": loaded["counts"]["diary_checkin"]},
        queries_per_req=len(pages["queries"]),
        api_median_ms=round(api["median_ms"], 3),
        api_p95_ms=round(api["p95_ms"], 3),
        sql_median_ms=round(base["median_ms"], 3),
        sql_p95_ms=round(base["p95_ms"], 3),
        ratio=round(ratio, 4),
        pages_identical=pages["same"],
        walk=None
        if not walked
        else {k: v for k, v in walked.items() if k not in ("times", "order", "paths")},
        plans={label: round(plan["execution_ms"], 3) for label, plan in plans.items()},
        triage_key_index_used={label: plan["uses_triage_key_index"] for label, plan in plans.items()},
        variants_ms={
            label: {team: round(plan["execution_ms"], 3) for team, plan in by_team.items()}
            for label, by_team in variants.items()
        },
        load_seconds=round(load_seconds),
    )
    benchlib.finish(DATABASE, keep=args.keep_db)
    keys = loaded["keys"]
    keys_ok = keys["distinct_keys"] == keys["patients"] and not keys["empty_keys"]
    walk_ok = walked is None or (walked["in_order"] and walked["ended"])
    return 0 if pages["same"] and keys_ok and walk_ok else 1


if __name__ == "__main__":
    sys.exit(main())
