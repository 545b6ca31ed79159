"""Triage: the clinician's first page of GET /api/v1/patients/ against hand-written SQL.

Issue 4 "Performance". On a fresh PostgreSQL database it loads a care team of N patients
(default 10,000) with D days of daily check-ins each (default 365: 3.65 million rows,
generated inside PostgreSQL with INSERT ... SELECT over generate_series, indexes and
constraints dropped during the load and rebuilt after, as pg_restore does), open and
acknowledged alerts for about a third of them, open referrals, and a second team the
clinician may not see. care_patientstatus is filled the way alerts.status computes it
(same counts, ranks, referral, last check-in, today's pain and 7-day slope, and the
triage key from care.models.triage_key itself), and for a random sample the real
alerts.status.refresh_patient_status is run and must leave the rows unchanged.

Then, in this process:

- API: the first page as the clinician, through Django's test client with a JWT (the
  whole middleware, DRF, auth, serializer and audit stack; no gunicorn),
- baseline: one hand-written SQL query for the same page (same join and team filter,
  the API's order, which is now the status row's triage_key; the same fields), rows
  turned into the same JSON with json.dumps,

interleaved, printing queries per page, time per page and the ratio (issue 4 aims for
<= 2x); the two pages must be identical. It then runs EXPLAIN ANALYZE on the API's own
page query (as Django sent it) and on the baseline, and says whether PostgreSQL reads
the triage_key index; with --plans it also times, by hand, variants of the page query
that the index could serve (inside a transaction rolled back: the data is not changed).
Finally it follows the `next` links through the whole list: every patient must be
reached once, in the order of the triage key.

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
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import benchlib

ZONES = ("Europe/Rome",) * 7 + ("Europe/London", "America/New_York", "Asia/Tokyo")
FIRST = [
    "Anna",
    "Marco",
    "Giulia",
    "Luca",
    "Sara",
    "Paolo",
    "Elena",
    "Franco",
    "Chiara",
    "Giorgio",
    "Maria",
    "Pietro",
    "Laura",
    "Andrea",
    "Rosa",
    "Carlo",
    "Marta",
    "Alan",
    "Grace",
    "Ruth",
    "Omar",
    "Ines",
    "Hugo",
    "Lea",
    "Nina",
    "Ivo",
    "Ada",
    "Ugo",
    "Eva",
    "Teo",
    "Alba",
    "Dino",
    "Gemma",
    "Enzo",
    "Lia",
    "Remo",
    "Vera",
    "Bruno",
    "Irene",
    "Aldo",
]
LAST = [
    "Rossi",
    "Russo",
    "Ferrari",
    "Esposito",
    "Bianchi",
    "Romano",
    "Colombo",
    "Ricci",
    "Marino",
    "Greco",
    "Bruno",
    "Gallo",
    "Conti",
    "DeLuca",
    "Mancini",
    "Costa",
    "Giordano",
    "Rizzo",
    "Lombardi",
    "Moretti",
    "Barbieri",
    "Fontana",
    "Santoro",
    "Mariani",
    "Rinaldi",
    "Caruso",
    "Ferrara",
    "Galli",
    "Martini",
    "Leone",
    "Longo",
    "Gentile",
    "Martinelli",
    "Vitale",
    "Lombardo",
    "Serra",
    "Coppola",
    "DeSantis",
    "DAngelo",
    "Marchetti",
    "Parisi",
    "Villa",
    "Conte",
    "Ferraro",
    "Ferri",
    "Fabbri",
    "Bianco",
    "Marini",
    "Grasso",
    "Valentini",
]
PAGE_FIELDS = (
    "id",
    "display_name",
    "care_team",
    "timezone",
    "language",
    "enrolled_on",
    "activated_at",
    "diagnosis",
    "baseline_mme",
    "limited_prognosis",
    "cancer_survivor",
    "substance_use_history",
    "organ_failure",
    "idds",
    "created_at",
    "last_checkin_at",
    "pain_today",
    "pain_7d_trend",
    "open_alerts",
    "referral_status",
    "box2_criteria_met",
)
# The hand-written page: what TriagePagination's ordering and TriageSerializer's fields
# amount to, as one query. Same join and team filter as the API's query; the order is the
# status row's triage key (create_patient gives every patient a status row, so the API's
# Coalesce fallback never applies here; the load checks that every row has its key).
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
STATUS_FIELDS = (
    "severity_rank",
    "open_urgent",
    "open_warning",
    "open_info",
    "oldest_unresolved_at",
    "referral_status",
    "referral_rank",
    "box2_criteria_met",
    "last_checkin_at",
    "pain_today",
    "pain_today_date",
    "pain_7d_trend",
    "triage_key",
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=10_000, help="patients the clinician sees (10000)")
    parser.add_argument("--days", type=int, default=365, help="days of daily check-ins per patient (365)")
    parser.add_argument("--others", type=int, default=1000, help="patients of another team (1000)")
    parser.add_argument("--repeat", type=int, default=40, help="timed pages per side (40)")
    parser.add_argument(
        "--sample", type=int, default=200, help="patients refreshed by the app to check (200)"
    )
    parser.add_argument("--no-walk", action="store_true", help="do not follow next links through the list")
    parser.add_argument(
        "--no-plans",
        dest="plans",
        action="store_false",
        help="skip timing variants of the page query by hand",
    )
    parser.add_argument("--database", default="crossroad_bench_triage", help="dropped and recreated")
    parser.add_argument("--keep-db", action="store_true", help="leave the database for inspection")
    parser.add_argument("--seed", type=int, default=5)
    return parser.parse_args()


# --- loading -------------------------------------------------------------------------------


def load(args: argparse.Namespace) -> dict[str, Any]:
    from psycopg import sql

    from care.models import CareTeam, Role, TeamMembership, TeamRole, User

    team = CareTeam.objects.create(name="Bench triage team")
    other = CareTeam.objects.create(name="Bench other team")
    clinician = User.objects.create(username="bench-clinician", role=Role.CLINICIAN, email="c@bench.invalid")
    TeamMembership.objects.create(team=team, user=clinician, team_role=TeamRole.PAIN_PHYSICIAN)
    total = args.patients + args.others
    timings = {}
    with benchlib.pg_connect(args.database) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("SET synchronous_commit = off")
        conn.execute("SELECT setseed(%s)", (args.seed / 100,))
        started = time.perf_counter()
        conn.execute(
            """
            INSERT INTO care_user (id, password, is_superuser, username, first_name, last_name, email,
                                   is_staff, is_active, date_joined, role, language, timezone, failed_logins)
            SELECT gen_random_uuid(), '!', false, 'patient-' || i, '', '', '', false, true, now(),
                   'patient', 'en', (%(zones)s::text[])[1 + i %% 10], 0
            FROM generate_series(1, %(total)s) i
            """,
            {"zones": list(ZONES), "total": total},
        )
        conn.execute(
            """
            INSERT INTO care_patient (id, user_id, care_team_id, display_name, timezone, language, enrolled_on,
                activated_at, diagnosis, baseline_mme, limited_prognosis, cancer_survivor,
                substance_use_history, organ_failure, idds, idds_lockout_minutes, idds_max_daily_boluses,
                idds_reservoir_ml, idds_next_refill_date, created_at, updated_at)
            SELECT gen_random_uuid(), u.id, CASE WHEN u.i <= %(n)s THEN %(team)s ELSE %(other)s END,
                   (%(first)s::text[])[1 + (u.i * 7) %% 40] || ' ' || (%(last)s::text[])[1 + (u.i * 13) %% 50],
                   u.timezone, CASE WHEN u.i %% 5 = 0 THEN 'it' ELSE 'en' END,
                   current_date - (%(days)s + 30), now() - (%(days)s + 30) * interval '1 day',
                   (ARRAY['lung cancer', 'breast cancer', 'pancreatic cancer', 'myeloma', ''])[1 + u.i %% 5],
                   CASE WHEN u.i %% 3 = 0 THEN NULL ELSE (ARRAY[30, 60, 90, 120])[1 + u.i %% 4] END,
                   u.i %% 17 = 0, u.i %% 11 = 0, u.i %% 13 = 0, u.i %% 19 = 0, u.i %% 20 = 0,
                   CASE WHEN u.i %% 20 = 0 THEN 10 END, CASE WHEN u.i %% 20 = 0 THEN 6 END,
                   CASE WHEN u.i %% 20 = 0 THEN 18.5 END,
                   CASE WHEN u.i %% 20 = 0 THEN current_date + u.i %% 28 END, now(), now()
            FROM (SELECT id, timezone, substring(username FROM 9)::int AS i
                  FROM care_user WHERE username LIKE 'patient-%%') u
            """,
            {
                "n": args.patients,
                "team": team.pk,
                "other": other.pk,
                "first": FIRST,
                "last": LAST,
                "days": args.days,
            },
        )
        conn.commit()
        timings["patients"] = time.perf_counter() - started

        rows = args.patients * args.days
        benchlib.step(f"generating {rows:,} check-ins in PostgreSQL (indexes dropped, rebuilt after)")
        started = time.perf_counter()
        with benchlib.without_constraints_and_indexes(conn, "diary_checkin", database=args.database):
            # In slices of 500 patients on two connections (two cores), so the progress line moves.
            progress = benchlib.Progress("check-ins", rows)
            patient_ids = [
                r[0]
                for r in conn.execute(
                    "SELECT id FROM care_patient WHERE care_team_id = %s ORDER BY id", (team.pk,)
                ).fetchall()
            ]
            chunks = [patient_ids[i : i + 500] for i in range(0, len(patient_ids), 500)]
            lock = threading.Lock()
            done = [0]

            def insert(worker: int) -> None:
                with benchlib.pg_connect(args.database) as own:
                    own.execute("SET synchronous_commit = off")
                    own.execute("SELECT setseed(%s)", ((args.seed + worker) / 100,))
                    for chunk in chunks[worker::2]:
                        own.execute(CHECKINS_SQL, {"ids": chunk, "days": args.days})
                        own.commit()
                        with lock:
                            done[0] += len(chunk) * args.days
                            progress.update(done[0])

            with ThreadPoolExecutor(max_workers=2) as pool:
                list(pool.map(insert, range(2)))
            progress.finish()
            timings["checkins_insert"] = time.perf_counter() - started
            benchlib.step("rebuilding the check-in indexes and constraints")
        timings["checkins_total"] = time.perf_counter() - started

        started = time.perf_counter()
        conn.execute(ALERTS_SQL, {"team": team.pk})
        conn.execute(REFERRALS_SQL)
        conn.commit()
        timings["alerts"] = time.perf_counter() - started
        started = time.perf_counter()
        statuses = compute_statuses(conn)
        benchlib.copy_rows(conn, "care_patientstatus", ("patient_id", *STATUS_FIELDS, "updated_at"), statuses)
        conn.commit()
        timings["status"] = time.perf_counter() - started
        conn.autocommit = True
        started = time.perf_counter()
        for table in ("care_user", "care_patient", "diary_checkin", "alerts_alert", "care_patientstatus"):
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(table)))
        timings["analyze"] = time.perf_counter() - started
        counts = {
            table: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[
                0
            ]
            for table in (
                "care_patient",
                "diary_checkin",
                "alerts_alert",
                "alerts_referralrecommendation",
                "care_patientstatus",
            )
        }
        size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
        # Every patient has a status row with its own key: the order is total, the baseline's
        # ORDER BY s.triage_key is the API's Coalesce(status key, fallback).
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
    return {
        "clinician": clinician,
        "team": team,
        "timings": timings,
        "counts": counts,
        "db_size": size,
        "keys": keys,
    }


CHECKINS_SQL = """
INSERT INTO diary_checkin (id, patient_id, reported_by_id, reporter_role, timezone, local_date, created_at,
    updated_at, late, status, retracted_reason, version, fingerprint, ingest_key, recorded_at, pain_now,
    pain_worst, pain_least, pain_average, interference, interference_mean, neuropathic, pain_sites,
    breakthrough_episodes, symptoms, red_flags, wants_fewer_medications, wants_procedure_discussion, note)
SELECT gen_random_uuid(), c.patient_id, c.user_id, 'patient', c.tz, (c.at AT TIME ZONE c.tz)::date,
       c.at + interval '2 minutes', c.at + interval '2 minutes', false, 'active', '', 1,
       md5(random()::text) || md5(random()::text), NULL, c.at, c.pain, LEAST(10, c.pain + 1),
       GREATEST(0, c.pain - 2), c.pain,
       jsonb_build_object('general_activity', c.i1, 'mood', c.i2, 'walking', c.i3, 'work', c.i4,
                          'relations', c.i5, 'sleep', c.i6, 'enjoyment', c.i7),
       round((c.i1 + c.i2 + c.i3 + c.i4 + c.i5 + c.i6 + c.i7) / 7.0, 2), '[]', '["lower_back"]',
       floor(random() * 4)::int,
       jsonb_build_object('tiredness', LEAST(10, c.pain + 1), 'sleep_disturbance', floor(random() * 8)::int,
                          'nausea', floor(random() * 5)::int, 'appetite_loss', floor(random() * 6)::int,
                          'anxiety', floor(random() * 7)::int, 'wellbeing', floor(random() * 11)::int),
       '[]', false, false, ''
FROM (
    SELECT x.patient_id, x.user_id, x.tz, x.at, x.pain,
           GREATEST(0, LEAST(10, x.pain + floor(random() * 3)::int - 1)) AS i1,
           GREATEST(0, LEAST(10, x.pain + floor(random() * 3)::int - 1)) AS i2,
           GREATEST(0, LEAST(10, x.pain + floor(random() * 3)::int - 1)) AS i3,
           GREATEST(0, LEAST(10, x.pain + floor(random() * 3)::int - 1)) AS i4,
           GREATEST(0, LEAST(10, x.pain + floor(random() * 3)::int - 1)) AS i5,
           GREATEST(0, LEAST(10, x.pain + floor(random() * 3)::int - 1)) AS i6,
           GREATEST(0, LEAST(10, x.pain + floor(random() * 3)::int - 1)) AS i7
    FROM (
        SELECT p.id AS patient_id, p.user_id, p.timezone AS tz,
               LEAST(now() - interval '5 minutes',
                     ((current_date - d) + time '09:00') AT TIME ZONE p.timezone
                     + floor(random() * 180) * interval '1 minute') AS at,
               GREATEST(0, LEAST(10, abs(hashtext(p.id::text)) %% 7 + floor(random() * 5)::int - 2)) AS pain
        FROM care_patient p CROSS JOIN generate_series(0, %(days)s - 1) d
        WHERE p.id = ANY(%(ids)s)
    ) x
) c
"""

# Unresolved alerts for about a third of the team, a few rules each, raised in the last ten days.
ALERTS_SQL = """
INSERT INTO alerts_alert (id, patient_id, rule, severity, status, box2_criteria, evidence, record_ids, late,
    created_at, last_triggered_at, acknowledged_at, resolved_at, resolution, escalation_tier,
    escalation_due_at, digested_at)
SELECT gen_random_uuid(), x.patient_id, x.rule, x.severity, x.status, x.box2::jsonb, '{}', '[]', false,
       x.t, x.t, CASE WHEN x.status = 'acknowledged' THEN x.t + interval '1 hour' END, NULL, '', 1, NULL, NULL
FROM (
    SELECT p.id AS patient_id, r.rule, r.severity, r.box2, r.share, random() AS draw,
           CASE WHEN random() < 0.3 THEN 'acknowledged' ELSE 'open' END AS status,
           now() - random() * interval '10 days' AS t
    FROM care_patient p
    CROSS JOIN (VALUES ('red_flag', 'urgent', '[]', 0.02), ('rapid_deterioration', 'urgent', '[5]', 0.01),
                       ('persistent_pain', 'warning', '[1]', 0.10), ('pain_interference', 'warning', '[3]', 0.06),
                       ('symptom_cluster', 'warning', '[]', 0.05), ('missed_diary', 'info', '[]', 0.06),
                       ('patient_preference', 'info', '[9]', 0.03)) AS r(rule, severity, box2, share)
    WHERE p.care_team_id = %(team)s
) x
-- one draw per (patient, rule): random() in the subquery's select list, not in a WHERE the
-- planner could push down to the VALUES list and evaluate once per rule
WHERE x.draw < x.share
"""

# An open referral for most patients whose alerts evidence a Box 2 criterion.
REFERRALS_SQL = """
INSERT INTO alerts_referralrecommendation (id, patient_id, status, priority, criteria, decline_reason,
    decided_by_id, created_at, updated_at)
SELECT gen_random_uuid(), a.patient_id, CASE WHEN random() < 0.3 THEN 'accepted' ELSE 'suggested' END,
       'routine', jsonb_agg(jsonb_build_object('number', n.value::int, 'rule', a.rule, 'evidence', '{}'::jsonb)
                            ORDER BY n.value::int),
       '', NULL, min(a.created_at), max(a.created_at)
FROM alerts_alert a CROSS JOIN LATERAL jsonb_array_elements_text(a.box2_criteria) n
GROUP BY a.patient_id
HAVING random() < 0.8
"""


def compute_statuses(conn) -> list[tuple]:
    """care_patientstatus rows for every patient, computed as alerts.status computes them
    (the same ranks, counts, referral fields and 7-day pain slope), with the triage key
    made by the app's own care.models.triage_key from those values."""
    from alerts.status import REFERRAL_RANKS, SEVERITY_RANKS, TREND_DAYS, slope
    from care.models import triage_key

    now = datetime.now(UTC)
    patients = conn.execute("SELECT id, timezone, display_name FROM care_patient").fetchall()
    alerts = {
        pid: (urgent, warning, info, oldest)
        for pid, urgent, warning, info, oldest in conn.execute(
            """
            SELECT patient_id, count(*) FILTER (WHERE severity = 'urgent'),
                   count(*) FILTER (WHERE severity = 'warning'), count(*) FILTER (WHERE severity = 'info'),
                   min(created_at)
            FROM alerts_alert WHERE status IN ('open', 'acknowledged') GROUP BY patient_id
            """
        ).fetchall()
    }
    referrals = {
        pid: (status, sorted({c["number"] for c in criteria}))
        for pid, status, criteria in conn.execute(
            "SELECT patient_id, status, criteria FROM alerts_referralrecommendation "
            "WHERE status IN ('suggested', 'accepted')"
        ).fetchall()
    }
    days: dict[Any, list] = defaultdict(list)
    for pid, when, pain_now, worst, recorded in conn.execute(
        "SELECT patient_id, local_date, pain_now, pain_worst, recorded_at FROM diary_checkin "
        "WHERE status = 'active' AND local_date >= current_date - %s",
        (TREND_DAYS + 2,),
    ):
        days[pid].append((when, pain_now, worst, recorded))
    rows, missing = [], []
    for pid, zone, name in patients:
        today = now.astimezone(ZoneInfo(zone)).date()
        first = today - timedelta(days=TREND_DAYS - 1)
        day_pain: dict[date, int] = {}
        last = None
        for when, pain_now, worst, recorded in days.get(pid, ()):
            if first <= when <= today:
                day_pain[when] = max(day_pain.get(when, 0), pain_now, worst or 0)
                last = recorded if last is None else max(last, recorded)
        if last is None:
            missing.append(pid)
        urgent, warning, info, oldest = alerts.get(pid, (0, 0, 0, None))
        counts = {"urgent": urgent, "warning": warning, "info": info}
        referral_status, criteria = referrals.get(pid, ("", []))
        severity_rank = max((rank for kind, rank in SEVERITY_RANKS.items() if counts[kind]), default=0)
        referral_rank = REFERRAL_RANKS.get(referral_status, 0)
        rows.append(
            [
                pid,
                severity_rank,
                urgent,
                warning,
                info,
                oldest,
                referral_status,
                referral_rank,
                json.dumps(criteria),
                last,
                day_pain.get(today),
                today if today in day_pain else None,
                slope([((when - today).days, pain) for when, pain in sorted(day_pain.items())]),
                triage_key(severity_rank, referral_rank, oldest, name, pid),
                now,
            ]
        )
    if missing:  # no check-in in the last week: the latest one ever, as the app falls back to
        latest = dict(
            conn.execute(
                "SELECT DISTINCT ON (patient_id) patient_id, recorded_at FROM diary_checkin "
                "WHERE status = 'active' AND patient_id = ANY(%s) "
                "ORDER BY patient_id, local_date DESC, recorded_at DESC",
                (missing,),
            ).fetchall()
        )
        for row in rows:
            if row[9] is None:
                row[9] = latest.get(row[0])
    return [tuple(r) for r in rows]


def check_with_app(sample: int, team, rng: random.Random) -> tuple[int, int, list]:
    """Run the app's refresh_patient_status on a sample; count rows it changed."""
    from alerts.status import refresh_patient_status
    from care.models import Patient, PatientStatus

    ids = list(Patient.objects.filter(care_team=team).values_list("pk", flat=True))
    chosen = rng.sample(ids, min(sample, len(ids)))
    before = {s.pk: s for s in PatientStatus.objects.filter(pk__in=chosen)}
    differences = []
    for patient in Patient.objects.filter(pk__in=chosen):
        after = refresh_patient_status(patient)
        old = before[patient.pk]
        for name in STATUS_FIELDS:
            if getattr(old, name) != getattr(after, name):
                differences.append((patient.pk, name, getattr(old, name), getattr(after, name)))
    return len(chosen), len({d[0] for d in differences}), differences[:5]


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
# from an index. {select} is the baseline's field list. "subquery" variants find the teams
# as visible_to does (the clinician's memberships); the others take the team ids resolved
# first, so they also run for a team the clinician is not in (the 1,000-patient team, whose
# patients all sort after the big team's patients with alerts).
VARIANTS = {
    "LEFT JOIN, team subquery, ORDER BY s.triage_key (the baseline)": PAGE_SQL,
    "inner JOIN, team subquery, ORDER BY s.triage_key": """
        SELECT {select} FROM care_patient p JOIN care_patientstatus s ON s.patient_id = p.id
        WHERE p.care_team_id IN (SELECT team_id FROM care_teammembership WHERE user_id = %(user)s)
        ORDER BY s.triage_key LIMIT %(limit)s""",
    # The API's fallback for a patient without a status row, as care/views.py builds it.
    "LEFT JOIN, team ids first, ORDER BY COALESCE(s.triage_key, fallback) (as the API)": """
        SELECT {select} FROM care_patient p LEFT JOIN care_patientstatus s ON s.patient_id = p.id
        WHERE p.care_team_id = ANY(%(teams)s)
        ORDER BY COALESCE(s.triage_key, '32999999999999' || repeat('f', 200) || p.id::text)
        LIMIT %(limit)s""",
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
# The status rows with their patient's team, as a separate table (the app's tables are left
# as they are) with only its primary key and the composite index; dropped after.
TEAM_ON_STATUS = (
    "CREATE TABLE bench_status AS SELECT s.*, p.care_team_id FROM care_patientstatus s "
    "JOIN care_patient p ON p.id = s.patient_id",
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


def main() -> int:
    args = parse_args()
    rng = random.Random(args.seed)
    benchlib.configure_env(database=args.database, eager=False)
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
    benchlib.step(f"recreating database {args.database} and migrating")
    benchlib.recreate_database(args.database)
    benchlib.flush_bench_broker()
    benchlib.setup_django()
    started = time.perf_counter()
    loaded = load(args)
    load_seconds = time.perf_counter() - started
    benchlib.step(f"loaded in {load_seconds:.0f} s: {loaded['counts']}, database {loaded['db_size']}")

    benchlib.step(
        f"checking the status rows against the app's refresh_patient_status ({args.sample} patients)"
    )
    checked, differing, examples = check_with_app(args.sample, loaded["team"], rng)

    from django.test import Client
    from rest_framework_simplejwt.tokens import AccessToken

    clinician = loaded["clinician"]
    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(clinician)}")
    path = "/api/v1/patients/"

    def api_page() -> bytes:
        response = client.get(path)
        assert response.status_code == 200, response.content[:300]
        return response.content

    raw = benchlib.pg_connect(args.database, autocommit=True)

    def sql_page() -> bytes:
        return baseline_page(raw, clinician.pk)

    for _ in range(3):
        api_page()
        sql_page()
    with benchlib.count_queries() as captured:
        api_body = api_page()
    queries = [" ".join(q["sql"].split())[:110] for q in captured]
    page_query = api_page_query(captured)
    same = json.loads(api_body)["results"] == json.loads(sql_page())["results"]
    first_names = [r["display_name"] for r in json.loads(api_body)["results"][:3]]

    benchlib.step(f"{args.repeat} pages each, interleaved API / SQL")
    times = benchlib.interleaved(args.repeat, {"api": api_page, "sql": sql_page})

    benchlib.step("EXPLAIN ANALYZE of the API's page query (as Django sent it) and of the baseline")
    plans = {
        "API first page": explain(raw, page_query),
        "baseline SQL": explain(raw, PAGE_SQL, {"user": clinician.pk, "limit": 51}),
    }

    walked, walk_in_order = None, None
    if not args.no_walk:
        benchlib.step("following next links through the whole list")
        walked = walk(client, path, limit_pages=(args.patients // 50) + 20)
        expected = [str(r[0]) for r in raw.execute(ORDER_SQL, {"user": clinician.pk}).fetchall()]
        walk_in_order = walked["order"] == expected
        if len(walked["paths"]) > 2:
            with benchlib.count_queries() as captured:
                response = client.get(walked["paths"][-2])
            assert response.status_code == 200
            plans[f"API page {len(walked['paths']) - 1} (cursor)"] = explain(raw, api_page_query(captured))

    variants: dict[str, dict[str, dict]] = {}
    team_labels: dict[str, Any] = {}
    if args.plans:
        benchlib.step("timing variants of the page query by hand (EXPLAIN ANALYZE, median of 5)")
        team_labels = {f"clinician's team ({args.patients:,})": loaded["team"].pk}
        if args.others:
            other = raw.execute("SELECT id FROM care_careteam WHERE name = 'Bench other team'").fetchone()[0]
            team_labels[f"another team ({args.others:,})"] = other
        variants = plan_variants(raw, clinician.pk, team_labels)
    raw.close()

    # --- summary ---
    api, base = benchlib.summary_ms(times["api"]), benchlib.summary_ms(times["sql"])
    ratio = api["median_ms"] / base["median_ms"]
    ratio_mean = api["mean_ms"] / base["mean_ms"]
    t = loaded["timings"]
    print()
    print(
        f"data: {loaded['counts']['care_patient']:,} patients ({args.patients:,} visible), "
        f"{loaded['counts']['diary_checkin']:,} check-ins, {loaded['counts']['alerts_alert']:,} unresolved "
        f"alerts, {loaded['counts']['alerts_referralrecommendation']:,} open referrals; "
        f"database {loaded['db_size']}"
    )
    print(
        f"load: {load_seconds:.0f} s (check-ins {t['checkins_insert']:.0f} s insert + "
        f"{t['checkins_total'] - t['checkins_insert']:.0f} s indexes and constraints, "
        f"status {t['status']:.1f} s, vacuum analyze {t['analyze']:.0f} s)"
    )
    print(
        f"status rows vs the app's refresh_patient_status: {checked} checked, {differing} changed {examples or ''}"
    )
    print()
    print(f"API queries per page: {len(queries)}")
    for q in queries:
        print(f"  {q}")
    print("baseline queries per page: 1")
    print(f"pages identical (results): {'yes' if same else 'NO'}; first rows: {first_names}")
    print(
        f"status keys: {loaded['keys']['status_rows']:,} status rows for {loaded['keys']['patients']:,} patients, "
        f"{loaded['keys']['distinct_keys']:,} distinct triage keys, {loaded['keys']['empty_keys']} empty"
    )
    print()
    for label, plan in plans.items():
        print(
            f"{label}: EXPLAIN ANALYZE {plan['execution_ms']:.2f} ms (median of 5); triage_key index "
            f"{'used' if plan['uses_triage_key_index'] else 'NOT used'}; indexes {sorted(set(plan['indexes']))}; "
            f"sorts {plan['sorts'] or 'none'}"
        )
        for line in plan["lines"]:
            print(f"    {line}")
    if variants:
        print()
        print(
            "variants of the page query by hand, each checked to return the same rows as the list in key order"
        )
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
    if walked:
        deep = benchlib.summary_ms(walked["times"][-10:]) if len(walked["times"]) >= 10 else None
        print()
        print(
            f"walking next links: {walked['pages']} pages, reached {walked['reached']:,} of {args.patients:,} "
            f"patients ({walked['rows']:,} rows); {'reached the end' if walked['ended'] else 'did NOT reach the end'}"
            + (f", the same page came back {walked['repeats']} times" if walked["repeats"] else "")
            + f"; in the order of the triage key, each once: {'yes' if walk_in_order else 'NO'}"
        )
        if deep:
            print(
                f"  last 10 pages walked: median {deep['median_ms']:.1f} ms (first page {api['median_ms']:.1f} ms)"
            )

    benchlib.print_result_line(
        "triage",
        mode="pg",
        size={"patients": args.patients, "days": args.days, "checkins": loaded["counts"]["diary_checkin"]},
        queries_per_req=len(queries),
        api_median_ms=round(api["median_ms"], 3),
        api_p95_ms=round(api["p95_ms"], 3),
        sql_median_ms=round(base["median_ms"], 3),
        sql_p95_ms=round(base["p95_ms"], 3),
        ratio=round(ratio, 4),
        pages_identical=same,
        walk=None
        if not walked
        else {k: v for k, v in walked.items() if k not in ("times", "order", "paths")}
        | {"in_order": walk_in_order},
        plans={label: round(plan["execution_ms"], 3) for label, plan in plans.items()},
        triage_key_index_used={label: plan["uses_triage_key_index"] for label, plan in plans.items()},
        variants_ms={
            label: {team: round(plan["execution_ms"], 3) for team, plan in by_team.items()}
            for label, by_team in variants.items()
        },
        load_seconds=round(load_seconds),
    )
    benchlib.close_django_connections()
    benchlib.flush_bench_broker()
    if not args.keep_db:
        benchlib.drop_database(args.database)
    keys_ok = (
        loaded["keys"]["distinct_keys"] == loaded["keys"]["patients"] and not loaded["keys"]["empty_keys"]
    )
    return 0 if same and differing == 0 and keys_ok and walk_in_order is not False else 1


if __name__ == "__main__":
    sys.exit(main())
