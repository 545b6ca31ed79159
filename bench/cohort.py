"""A cohort for the soak (bench/soak.py): N patients over several teams and time zones with
90 days of history each, generated inside PostgreSQL (INSERT ... SELECT over
generate_series, indexes dropped during the big loads and rebuilt after, as
bench/triage.py does).

The mix follows bench/alert_rate.py: daily check-ins (bench/triage.py's generator), opioid
doses morning and evening for the patients on opioids (two in three), intrathecal pump
boluses for one in twenty, constipation reported on one opioid day in ten, a caregiver
linked to one patient in five (can report), unresolved alerts for about a third of the
patients and open referrals for most of those whose alerts evidence a Box 2 criterion
(bench/triage.py's generators, per team). Each team has a nurse and a pain physician (the
escalation tiers), and a webhook to the soak's receiver in its escalation policy.

care_patientstatus is computed as alerts.status.refresh_patient_status computes it, for
every patient at once; then the product's own refresh_patient_status runs for a random
sample and must leave the rows unchanged (`check_with_app`).

    .venv/bin/python bench/cohort.py --patients 2000        # load, check, print, drop
    .venv/bin/python bench/cohort.py --patients 2000 --keep-db
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import sys
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import benchlib
import cohort_sql as triage  # the generators (CHECKINS_SQL, ALERTS_SQL, REFERRALS_SQL) and names

# Each team in one zone, as a clinic is; most teams in Europe/Rome, so the morning peak
# of the cohort is Rome's 09:00-10:00 (see peak_hour_rate).
TEAM_ZONES = ("Europe/Rome", "Europe/Rome", "Europe/London", "Europe/Rome", "America/New_York")
TEAM_SIZE = 5000
NURSE_PASSWORD = "soak-nurse-password-9c1e"  # noqa: S105 - a bench database only
WEBHOOK_SECRET = "soak-webhook-secret"  # noqa: S105 - the soak's own receiver on loopback
STATUS_FIELDS = (*triage.STATUS_FIELDS, "care_team_id")

MEDICATIONS_SQL = """
INSERT INTO diary_medicationdose (id, patient_id, reported_by_id, reporter_role, timezone, local_date,
    created_at, updated_at, late, status, retracted_reason, version, fingerprint, ingest_key, taken_at,
    drug, dose, unit, route, kind, mme, mme_note, change_seq)
SELECT gen_random_uuid(), x.id, x.user_id, 'patient', x.timezone, (x.at AT TIME ZONE x.timezone)::date,
       x.at + interval '3 minutes', x.at + interval '3 minutes', false, 'active', '', 1,
       md5(random()::text) || md5(random()::text), NULL, x.at, 'oxycodone', x.dose, 'mg', 'oral',
       'scheduled', x.dose * 1.5, '', 0
FROM (
    SELECT p.id, p.user_id, p.timezone, ((current_date - d) + h) AT TIME ZONE p.timezone AS at,
           CASE WHEN p.baseline_mme >= 90 THEN 20 ELSE 10 END AS dose
    FROM care_patient p CROSS JOIN generate_series(0, %(days)s - 1) d
    CROSS JOIN (VALUES (time '08:00'), (time '20:00')) AS t(h)
    WHERE p.id = ANY(%(ids)s) AND p.baseline_mme IS NOT NULL
) x
WHERE x.at < now() - interval '10 minutes'
"""

BOLUSES_SQL = """
INSERT INTO diary_ptabolus (id, patient_id, reported_by_id, reporter_role, timezone, local_date, created_at,
    updated_at, late, status, retracted_reason, version, fingerprint, ingest_key, occurred_at, outcome, dose,
    unit, pain_before, pain_after, source, change_seq)
SELECT gen_random_uuid(), x.id, x.user_id, 'patient', x.timezone, (x.at AT TIME ZONE x.timezone)::date,
       x.at + interval '1 hour', x.at + interval '1 hour', false, 'active', '', 1,
       md5(random()::text) || md5(random()::text), NULL, x.at, 'delivered', 0.05, 'ml', NULL, NULL, 'pump_log', 0
FROM (
    SELECT p.id, p.user_id, p.timezone,
           ((current_date - d) + time '06:00') AT TIME ZONE p.timezone + k * interval '5 hours' AS at
    FROM care_patient p CROSS JOIN generate_series(0, %(days)s - 1) d CROSS JOIN generate_series(0, 2) k
    WHERE p.id = ANY(%(ids)s) AND p.idds
) x
WHERE x.at < now() - interval '2 hours'
"""

ADVERSE_EFFECTS_SQL = """
INSERT INTO diary_adverseeffect (id, patient_id, reported_by_id, reporter_role, timezone, local_date,
    created_at, updated_at, late, status, retracted_reason, version, fingerprint, ingest_key, recorded_at,
    effect, grade, suspected_drug, limits_daily_activities, note, change_seq)
SELECT gen_random_uuid(), x.id, x.user_id, 'patient', x.timezone, (x.at AT TIME ZONE x.timezone)::date,
       x.at + interval '2 minutes', x.at + interval '2 minutes', false, 'active', '', 1,
       md5(random()::text) || md5(random()::text), NULL, x.at, 'constipation', 1 + floor(random() * 2)::int,
       'oxycodone', false, '', 0
FROM (
    SELECT p.id, p.user_id, p.timezone, random() AS draw,
           ((current_date - d) + time '09:10') AT TIME ZONE p.timezone AS at
    FROM care_patient p CROSS JOIN generate_series(0, %(days)s - 1) d
    WHERE p.id = ANY(%(ids)s) AND p.baseline_mme IS NOT NULL
) x
WHERE x.draw < 0.1 AND x.at < now() - interval '10 minutes'
"""


def team_count(patients: int) -> int:
    return max(3, math.ceil(patients / TEAM_SIZE))


def load_cohort(
    database: str, *, patients: int, days: int = 90, seed: int = 12, webhook_url: str = ""
) -> dict:
    """Load the cohort into `database` (migrated, empty); returns counts and timings.
    Django must be set up on the same database."""
    from django.contrib.auth.hashers import make_password
    from django_otp.plugins.otp_totp.models import TOTPDevice
    from psycopg import sql

    from alerts.models import EscalationPolicy
    from care.models import CareTeam, Role, TeamMembership, TeamRole, User

    n_teams = team_count(patients)
    teams, nurses = [], []
    nurse_hash = make_password(NURSE_PASSWORD)
    for t in range(n_teams):
        zone = TEAM_ZONES[t % len(TEAM_ZONES)]
        team = CareTeam.objects.create(name=f"Soak team {t + 1:02d} ({zone})")
        teams.append((team.pk, zone))
        for role in (TeamRole.NURSE, TeamRole.PAIN_PHYSICIAN):
            user = User.objects.create(
                username=f"soak-{role}-{t + 1:02d}",
                role=Role.CLINICIAN,
                email=f"{role}-{t + 1:02d}@soak.invalid",
                password=nurse_hash,
                timezone=zone,
            )
            TeamMembership.objects.create(team=team, user=user, team_role=role)
            if role == TeamRole.NURSE:
                # The clinic asks for the authenticator's code after the password: the
                # nurses' Locust users compute it from this key (RFC 6238, as the app does).
                key = hashlib.sha1(user.username.encode()).hexdigest()  # noqa: S324 - a bench key, not a digest of secrets
                TOTPDevice.objects.create(user=user, name="soak", key=key, confirmed=True)
                nurses.append(
                    {"username": user.username, "id": str(user.pk), "team": str(team.pk), "totp_key": key}
                )
        EscalationPolicy.objects.create(team=team, webhook_url=webhook_url, webhook_secret=WEBHOOK_SECRET)
    timings: dict[str, float] = {}
    with benchlib.pg_connect(database) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("SET synchronous_commit = off")
        conn.execute("SELECT setseed(%s)", (seed / 100,))
        started = time.perf_counter()
        # Patient i belongs to team (i - 1) / TEAM_SIZE-ish: teams of equal size, each in its zone.
        conn.execute(
            """
            INSERT INTO care_user (id, password, is_superuser, username, first_name, last_name, email,
                                   is_staff, is_active, date_joined, role, language, timezone, failed_logins)
            SELECT gen_random_uuid(), '!', false, 'patient-' || i, '', '', '', false, true, now(),
                   'patient', 'en', (%(zones)s::text[])[1 + (i - 1) %% %(teams)s], 0
            FROM generate_series(1, %(n)s) i
            """,
            {"zones": [z for _, z in teams], "teams": n_teams, "n": patients},
        )
        conn.execute(
            """
            INSERT INTO care_patient (id, user_id, care_team_id, display_name, timezone, language, enrolled_on,
                activated_at, diagnosis, baseline_mme, limited_prognosis, cancer_survivor,
                substance_use_history, organ_failure, idds, idds_lockout_minutes, idds_max_daily_boluses,
                idds_reservoir_ml, idds_next_refill_date, created_at, updated_at)
            SELECT gen_random_uuid(), u.id, (%(team_ids)s::uuid[])[1 + (u.i - 1) %% %(teams)s],
                   (%(first)s::text[])[1 + (u.i * 7) %% 40] || ' ' || (%(last)s::text[])[1 + (u.i * 13) %% 50],
                   u.timezone, CASE WHEN u.i %% 5 = 0 THEN 'it' ELSE 'en' END,
                   current_date - (%(days)s + 30), now() - (%(days)s + 30) * interval '1 day',
                   (ARRAY['lung cancer', 'breast cancer', 'pancreatic cancer', 'myeloma', ''])[1 + u.i %% 5],
                   CASE WHEN u.i %% 3 = 0 THEN NULL ELSE (ARRAY[30, 60, 90, 120])[1 + u.i %% 4] END,
                   u.i %% 17 = 0, u.i %% 11 = 0, u.i %% 13 = 0, u.i %% 19 = 0, u.i %% 20 = 0,
                   CASE WHEN u.i %% 20 = 0 THEN 10 END, CASE WHEN u.i %% 20 = 0 THEN 6 END,
                   CASE WHEN u.i %% 20 = 0 THEN 18.5 END,
                   CASE WHEN u.i %% 20 = 0 THEN current_date + 3 + u.i %% 28 END, now(), now()
            FROM (SELECT id, timezone, substring(username FROM 9)::int AS i
                  FROM care_user WHERE username LIKE 'patient-%%') u
            """,
            {
                "team_ids": [str(pk) for pk, _ in teams],
                "teams": n_teams,
                "first": triage.FIRST,
                "last": triage.LAST,
                "days": days,
            },
        )
        # A caregiver for one patient in five, who may report for them.
        conn.execute(
            """
            INSERT INTO care_user (id, password, is_superuser, username, first_name, last_name, email,
                                   is_staff, is_active, date_joined, role, language, timezone, failed_logins)
            SELECT gen_random_uuid(), '!', false, 'caregiver-' || substring(u.username FROM 9), '', '', '',
                   false, true, now(), 'caregiver', 'en', u.timezone, 0
            FROM care_user u WHERE u.username LIKE 'patient-%' AND substring(u.username FROM 9)::int % 5 = 1
            """
        )
        conn.execute(
            """
            INSERT INTO care_caregiverlink (id, patient_id, caregiver_id, relationship, can_view, can_report,
                                            created_at, revoked_at)
            SELECT gen_random_uuid(), p.id, c.id, 'family', true, true, now(), NULL
            FROM care_user c
            JOIN care_user u ON u.username = 'patient-' || substring(c.username FROM 11)
            JOIN care_patient p ON p.user_id = u.id
            WHERE c.username LIKE 'caregiver-%'
            """
        )
        conn.commit()
        timings["patients"] = time.perf_counter() - started

        ids = [r[0] for r in conn.execute("SELECT id FROM care_patient ORDER BY id").fetchall()]
        chunks = [ids[i : i + 500] for i in range(0, len(ids), 500)]
        for table, statement in (
            ("diary_checkin", triage.CHECKINS_SQL),
            ("diary_medicationdose", MEDICATIONS_SQL),
            ("diary_ptabolus", BOLUSES_SQL),
            ("diary_adverseeffect", ADVERSE_EFFECTS_SQL),
        ):
            started = time.perf_counter()
            benchlib.step(f"generating {table} for {days} days ({len(ids):,} patients)")
            with benchlib.without_constraints_and_indexes(conn, table, database=database):
                progress = benchlib.Progress(table, len(ids))
                lock, done = threading.Lock(), [0]

                def insert(worker: int, statement=statement, progress=progress, lock=lock, done=done) -> None:
                    with benchlib.pg_connect(database) as own:
                        own.execute("SET synchronous_commit = off")
                        own.execute("SELECT setseed(%s)", ((seed + worker) / 100,))
                        for chunk in chunks[worker::2]:
                            own.execute(statement, {"ids": chunk, "days": days})
                            own.commit()
                            with lock:
                                done[0] += len(chunk)
                                progress.update(done[0])

                with ThreadPoolExecutor(max_workers=2) as pool:
                    list(pool.map(insert, range(2)))
                progress.finish()
            timings[table] = time.perf_counter() - started

        started = time.perf_counter()
        for team_id, _ in teams:
            conn.execute(triage.ALERTS_SQL, {"team": team_id})
        conn.execute(triage.REFERRALS_SQL)
        conn.commit()
        timings["alerts"] = time.perf_counter() - started
        started = time.perf_counter()
        benchlib.copy_rows(
            conn, "care_patientstatus", ("patient_id", *STATUS_FIELDS, "updated_at"), statuses(conn)
        )
        conn.commit()
        timings["status"] = time.perf_counter() - started
        conn.autocommit = True
        started = time.perf_counter()
        tables = (
            "care_user",
            "care_patient",
            "care_caregiverlink",
            "diary_checkin",
            "diary_medicationdose",
            "diary_ptabolus",
            "diary_adverseeffect",
            "alerts_alert",
            "alerts_referralrecommendation",
            "care_patientstatus",
            "care_teammembership",
        )
        for table in tables:
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(table)))
        timings["analyze"] = time.perf_counter() - started
        counts = {
            table: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[
                0
            ]
            for table in tables
        }
        counts["db_size"] = conn.execute(
            "SELECT pg_size_pretty(pg_database_size(current_database()))"
        ).fetchone()[0]
    return {"teams": [str(pk) for pk, _ in teams], "nurses": nurses, "timings": timings, "counts": counts}


def statuses(conn) -> list[tuple]:
    """care_patientstatus rows for every patient, as alerts.status.refresh_patient_status
    computes them (counts and ranks of unresolved alerts, the open referral, the last
    week's day pain and its slope, the last check-in), with care.models.triage_key."""
    from alerts.rules import SEVERITY_RANK
    from alerts.status import REFERRAL_RANKS, TREND_DAYS, slope
    from care.models import triage_key

    now = datetime.now(UTC)
    patients = conn.execute("SELECT id, timezone, display_name, care_team_id FROM care_patient").fetchall()
    alerts = {
        row[0]: row[1:]
        for row in conn.execute(
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
    for pid, zone, name, team in patients:
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
        severity_rank = max((rank for kind, rank in SEVERITY_RANK.items() if counts[kind]), default=0)
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
                team,
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


def check_with_app(sample: int, seed: int = 3) -> dict[str, Any]:
    """Run the product's refresh_patient_status on a random sample of patients; every
    status row must come out unchanged."""
    from alerts.status import refresh_patient_status
    from care.models import Patient, PatientStatus

    fields = ("care_team_id", *triage.STATUS_FIELDS)
    ids = list(Patient.objects.values_list("pk", flat=True))
    chosen = random.Random(seed).sample(ids, min(sample, len(ids)))
    before = {s.pk: s for s in PatientStatus.objects.filter(pk__in=chosen)}
    differences = []
    for patient in Patient.objects.filter(pk__in=chosen):
        after = refresh_patient_status(patient)
        old = before[patient.pk]
        differences += [
            (str(patient.pk), name, getattr(old, name), getattr(after, name))
            for name in fields
            if getattr(old, name) != getattr(after, name)
        ]
    return {"checked": len(chosen), "changed": len({d[0] for d in differences}), "examples": differences[:5]}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--sample", type=int, default=200, help="status rows checked against the app (200)")
    parser.add_argument("--database", default="crossroad_soak_cohort", help="dropped and recreated")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    benchlib.configure_env(database=args.database, eager=True)
    benchlib.step(f"recreating database {args.database} and migrating")
    benchlib.recreate_database(args.database)
    benchlib.setup_django()
    started = time.perf_counter()
    loaded = load_cohort(args.database, patients=args.patients, days=args.days)
    print(f"loaded in {time.perf_counter() - started:.0f} s: {loaded['counts']}")
    print("timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in loaded["timings"].items()))
    check = check_with_app(args.sample)
    print(f"status rows against refresh_patient_status: {check}")
    benchlib.close_django_connections()
    if not args.keep_db:
        benchlib.drop_database(args.database)
    return 0 if check["changed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
