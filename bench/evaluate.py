"""Evaluate: the cost of alerts.services.evaluate_patient after a week vs after five years.

Issue 4 "Performance". Two patients with the same profile and the same last week of
diary (pain 6-7 on opioids, constipation, pump boluses: several rules met, alerts open);
one enrolled a week ago, the other five years ago with daily check-ins, two doses and two
boluses a day, an adverse effect every ten days, a resolved alert a month and a completed
referral every six months. Filler patients with five years each make the tables large
(the default loads about half a million diary rows with COPY). Then, in this process,
against the bench database:

- queries per evaluation for each patient (they must be equal),
- N evaluations of each, interleaved week/years/week/years, mean and median times and
  their ratio (issue 4 asks for <= 1.2),
- the time of each query of an evaluation for both patients, to show which read, if
  any, grows with the history,
- the rules alone on the preloaded window (pure Python), as the floor.

Tasks are not eager: the notifications of the first evaluation go to Redis database 15,
where no worker consumes them; later evaluations find nothing new to notify.

    .venv/bin/python bench/evaluate.py
    .venv/bin/python bench/evaluate.py --repeat 500 --fillers 100
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import uuid
from collections import defaultdict
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import benchlib

ZONE = "Europe/Rome"
YEARS = 5


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=300, help="timed evaluations per patient (300)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed evaluations per patient first (5)")
    parser.add_argument("--fillers", type=int, default=40, help="other patients with 5 years each (40)")
    parser.add_argument("--database", default="crossroad_bench_evaluate", help="dropped and recreated")
    parser.add_argument("--keep-db", action="store_true", help="leave the database for inspection")
    parser.add_argument("--seed", type=int, default=4)
    return parser.parse_args()


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, dtime(hour, minute), tzinfo=ZoneInfo(ZONE))


def day_rows(rng: random.Random, patient_id, user_id, day: date, *, recent: bool, now: datetime):
    """One day of diary: a check-in, two oxycodone doses, boluses, sometimes an effect."""
    row = benchlib.diary_row
    common = {"rng": rng, "patient_id": patient_id, "user_id": user_id, "zone": ZONE}
    # The last week has the same values for every patient (its own seed per day), so the
    # week and five-year patients meet the same rules; only the record ids differ.
    values = random.Random(day.toordinal()) if recent else rng
    if recent:
        pain = 6 + (day.toordinal() % 2)  # 6, 7, 6, ...: persistent pain on opioids
        tired = 6
    else:
        pain = values.randint(1, 6)
        tired = values.randint(0, 7)
    moment = min(at(day, 9), now - timedelta(minutes=5))
    interference = {
        k: max(0, min(10, pain + values.randint(-2, 1)))
        for k in ("general_activity", "mood", "walking", "work", "sleep")
    }
    yield (
        "checkin",
        row(
            "checkin",
            observed=moment,
            pain_now=pain,
            pain_worst=min(10, pain + 1),
            pain_least=max(0, pain - 2),
            pain_average=pain,
            interference=interference,
            interference_mean=round(statistics.fmean(interference.values()), 2),
            symptoms={
                "tiredness": tired,
                "sleep_disturbance": values.randint(0, 6),
                "nausea": values.randint(0, 3),
            },
            pain_sites=["lower_back"],
            breakthrough_episodes=values.randint(0, 3),
            **common,
        ),
    )
    for hour in (8, 20):
        taken = min(at(day, hour), now - timedelta(minutes=5))
        yield (
            "medication",
            row(
                "medication",
                observed=taken,
                drug="oxycodone",
                dose=Decimal(20),
                unit="mg",
                route="oral",
                mme=Decimal("30.00"),
                mme_note="",
                **common,
            ),
        )
    for hour in (11, 17):
        yield (
            "bolus",
            row(
                "bolus",
                observed=min(at(day, hour), now - timedelta(minutes=5)),
                outcome="delivered",
                dose=Decimal("0.05"),
                unit="ml",
                pain_before=pain,
                pain_after=max(0, pain - 2),
                **common,
            ),
        )
    if (recent and day.toordinal() % 2 == 0) or (not recent and day.toordinal() % 10 == 0):
        yield (
            "adverse_effect",
            row(
                "adverse_effect",
                observed=min(at(day, 10), now - timedelta(minutes=5)),
                effect="constipation",
                grade=2,
                suspected_drug="oxycodone",
                **common,
            ),
        )


def seed(args: argparse.Namespace) -> dict[str, Any]:
    from alerts.models import Alert, AlertEvent, ReferralRecommendation
    from care.models import CareTeam, Patient, Role, TeamMembership, TeamRole, User

    rng = random.Random(args.seed)
    team = CareTeam.objects.create(name="Bench evaluate team")
    for role in (TeamRole.NURSE, TeamRole.PAIN_PHYSICIAN):
        user = User.objects.create(
            username=f"bench-{role}", role=Role.CLINICIAN, email=f"{role}@bench.invalid"
        )
        TeamMembership.objects.create(team=team, user=user, team_role=role)
    now = datetime.now(ZoneInfo(ZONE))
    today = now.date()

    def patient(name: str, first_day: date) -> Patient:
        user = User.objects.create(username=name, role=Role.PATIENT, timezone=ZONE)
        return Patient.objects.create(
            user=user,
            care_team=team,
            display_name=name,
            timezone=ZONE,
            enrolled_on=first_day,
            activated_at=at(first_day, 8),
            baseline_mme=Decimal(60),
            substance_use_history=True,
            idds=True,
            idds_max_daily_boluses=8,
            idds_reservoir_ml=Decimal(20),
            idds_next_refill_date=today + timedelta(days=20),
        )

    week_first = today - timedelta(days=6)
    years_first = today - timedelta(days=365 * YEARS)
    week = patient("week", week_first)
    years = patient("five-years", years_first)
    fillers = [patient(f"filler-{i}", years_first) for i in range(args.fillers)]

    def history(p: Patient, first: date):
        day = first
        while day <= today:
            yield from day_rows(rng, p.pk, p.user_id, day, recent=day >= week_first, now=now)
            day += timedelta(days=1)

    rows: dict[str, list[tuple]] = defaultdict(list)
    for p, first in [(week, week_first), (years, years_first), *((f, years_first) for f in fillers)]:
        for kind, row in history(p, first):
            rows[kind].append(row)
    total = sum(len(r) for r in rows.values())
    benchlib.step(f"loading {total:,} diary rows with COPY ({len(fillers) + 2} patients)")
    started = time.perf_counter()
    with benchlib.pg_connect(args.database) as conn:
        for kind, table in benchlib.DIARY_TABLES.items():
            benchlib.copy_rows(conn, table, benchlib.DIARY_COLUMNS[kind], rows[kind])
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    benchlib.step(f"loaded in {time.perf_counter() - started:.1f} s")

    # Five years of handled alerts and referrals for the long-history patient.
    alerts, events = [], []
    for month in range(YEARS * 12):
        created = at(years_first + timedelta(days=30 * month + 5), 10)
        alert = Alert(
            patient=years,
            rule="persistent_pain",
            severity="warning",
            status=Alert.Status.RESOLVED,
            box2_criteria=[1, 7],
            evidence={"days": []},
            record_ids=[str(uuid.uuid4()) for _ in range(3)],
            created_at=created,
            last_triggered_at=created,
            acknowledged_at=created + timedelta(hours=2),
            resolved_at=created + timedelta(days=2),
            resolution="analgesia adjusted",
        )
        alerts.append(alert)
        for kind, delay in (("created", 0), ("notified", 0), ("acknowledged", 2), ("resolved", 48)):
            events.append(AlertEvent(alert=alert, kind=kind, at=created + timedelta(hours=delay)))
    Alert.objects.bulk_create(alerts)
    AlertEvent.objects.bulk_create(events)
    ReferralRecommendation.objects.bulk_create(
        ReferralRecommendation(
            patient=years,
            status=ReferralRecommendation.Status.COMPLETED,
            criteria=[{"number": 1, "rule": "persistent_pain", "evidence": {}}],
            created_at=at(years_first + timedelta(days=182 * k + 3), 10),
            updated_at=at(years_first + timedelta(days=182 * k + 30), 10),
        )
        for k in range(YEARS * 2)
    )
    return {"week": week, "years": years, "rows": total}


def timed_queries(run) -> tuple[list[tuple[str, float]], float]:
    """(sql, seconds) of every query a call runs, timed around the database call, and the
    time of the whole call."""
    from django.db import connection

    out: list[tuple[str, float]] = []

    def wrapper(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            out.append((sql, time.perf_counter() - started))

    started = time.perf_counter()
    with connection.execute_wrapper(wrapper):
        run()
    return out, time.perf_counter() - started


def short_sql(sql: str) -> str:
    sql = " ".join(sql.split())
    table = ""
    for word in ("FROM", "INTO", "UPDATE"):
        if f"{word} " in sql:
            table = sql.split(f"{word} ", 1)[1].split(" ", 1)[0].strip('"')
            break
    verb = sql.split(" ", 1)[0]
    extra = " FOR UPDATE" if "FOR UPDATE" in sql else ""
    if verb == "SELECT" and "MAX(" in sql.upper():
        extra += " max()"
    if verb == "SELECT" and "COUNT(" in sql.upper():
        extra += " counts"
    return f"{verb} {table}{extra}"


def main() -> int:
    args = parse_args()
    benchlib.configure_env(database=args.database, eager=False)
    benchlib.print_header(
        "bench/evaluate: evaluate_patient after one week vs after five years",
        {"repeat": args.repeat, "warmup": args.warmup, "filler patients": args.fillers, "in-process": "yes"},
    )
    benchlib.step(f"recreating database {args.database} and migrating")
    benchlib.recreate_database(args.database)
    benchlib.flush_bench_broker()
    benchlib.setup_django()
    seeded = seed(args)

    from alerts import engine
    from alerts.models import Alert
    from alerts.rules import RULES
    from alerts.services import evaluate_patient

    patients = {"week": seeded["week"], "years": seeded["years"]}
    with benchlib.pg_connect(args.database) as conn:
        history = {
            name: {
                kind: conn.execute(
                    f"SELECT count(*) FROM {table} WHERE patient_id = %s",  # noqa: S608 - fixed names
                    (p.pk,),
                ).fetchone()[0]
                for kind, table in benchlib.DIARY_TABLES.items()
            }
            for name, p in patients.items()
        }

    def run(name: str):
        return lambda: evaluate_patient(patient_id=patients[name].pk)

    benchlib.step("warm-up evaluations (the first one opens the alerts)")
    for _ in range(args.warmup):
        for name in patients:
            run(name)()
    open_alerts = {
        name: sorted(Alert.objects.filter(patient=p).unresolved().values_list("rule", flat=True))
        for name, p in patients.items()
    }

    # Every timed evaluation also records the time of each of its queries (a wrapper
    # around the database call, a few microseconds), so the split between waiting on
    # PostgreSQL and the rest comes from the same runs as the totals.
    per_query: dict[str, list[list[tuple[str, float]]]] = {name: [] for name in patients}

    def recorded(name: str):
        def call():
            queries, _ = timed_queries(run(name))
            per_query[name].append(queries)

        return call

    benchlib.step(f"{args.repeat} timed evaluations each, interleaved")
    times = benchlib.interleaved(args.repeat, {name: recorded(name) for name in patients})
    counts = {name: len(runs[0]) for name, runs in per_query.items()}
    shapes_equal = all(
        [short_sql(s) for s, _ in runs[0]] == [short_sql(s) for s, _ in per_query["week"][0]]
        and len({len(r) for r in runs}) == 1
        for runs in per_query.values()
    )

    # What the hourly beat runs for every activated patient: only the scheduled rules.
    from alerts.rules import SCHEDULED_RULES

    def scheduled():
        evaluate_patient(patient_id=patients["years"].pk, only=SCHEDULED_RULES)

    for _ in range(args.warmup):
        scheduled()
    with benchlib.count_queries() as captured:
        scheduled()
    scheduled_queries = len(captured)
    scheduled_times = []
    for _ in range(max(50, args.repeat // 3)):
        started = time.perf_counter()
        scheduled()
        scheduled_times.append(time.perf_counter() - started)
    scheduled_ms = statistics.median(scheduled_times) * 1000

    # The floor: the rules alone over an already loaded window, no database.
    p = patients["years"]
    today = p.local_today()
    window = engine.load_window(p, today)
    context = engine.load_context(p, today)
    settings = engine.rule_settings(p)
    n = 2000
    started = time.perf_counter()
    for _ in range(n):
        for code, (enabled, params) in settings.items():
            if enabled:
                RULES[code].check(window, context, params)
    rules_only = (time.perf_counter() - started) / n

    # --- summary ---
    week, years = benchlib.summary_ms(times["week"]), benchlib.summary_ms(times["years"])
    ratio_mean = years["mean_ms"] / week["mean_ms"]
    ratio_median = years["median_ms"] / week["median_ms"]
    print()
    print("history (rows):")
    for name, h in history.items():
        print(f"  {name:<6} {h}")
    print(f"open alerts after warm-up: week {open_alerts['week']}")
    print(f"                           years {open_alerts['years']}")
    print()
    print(
        benchlib.table(
            [
                [
                    label,
                    counts[name],
                    f"{s['mean_ms']:.2f}",
                    f"{s['median_ms']:.2f}",
                    f"{s['p95_ms']:.2f}",
                    f"{s['min_ms']:.2f}",
                ]
                for label, name, s in (("one week", "week", week), ("five years", "years", years))
            ],
            ["patient", "queries", "mean ms", "median ms", "p95 ms", "min ms"],
        )
    )
    print()
    print(
        f"ratio five years / one week: mean {ratio_mean:.3f}, median {ratio_median:.3f}   (issue 4 asks <= 1.2)"
    )
    print(f"queries per evaluation equal: {counts['week'] == counts['years'] and shapes_equal}")
    print(f"rules alone on the loaded window (no database): {rules_only * 1000:.3f} ms")
    print(
        f"scheduled rules only (the hourly beat, every activated patient): {scheduled_ms:.2f} ms median, "
        f"{scheduled_queries} queries; for 10,000 patients {scheduled_ms * 10:.0f} s of worker time an hour"
    )
    print()
    print(f"median time per query over the {args.repeat} evaluations each (ms):")
    rows = []
    for i, (sql, _) in enumerate(per_query["years"][0]):
        w = statistics.median(r[i][1] for r in per_query["week"]) * 1000
        y = statistics.median(r[i][1] for r in per_query["years"]) * 1000
        rows.append([i + 1, short_sql(sql), f"{w:.3f}", f"{y:.3f}", f"{y / w:.2f}" if w else "-"])
    print(benchlib.table(rows, ["#", "query", "week", "years", "years/week"]))
    for name in patients:
        in_db = statistics.median(sum(t for _, t in r) for r in per_query[name]) * 1000
        whole = statistics.median(times[name]) * 1000
        print(
            f"{name}: median {whole:.2f} ms per evaluation, of which {in_db:.2f} ms waiting on queries "
            f"and {whole - in_db:.2f} ms elsewhere (Python: ORM, rules, services; the commit)"
        )

    benchlib.print_result_line(
        "evaluate",
        mode="pg",
        size={"week": history["week"], "years": history["years"]},
        queries_per_eval=counts,
        week_mean_ms=round(week["mean_ms"], 3),
        years_mean_ms=round(years["mean_ms"], 3),
        week_median_ms=round(week["median_ms"], 3),
        years_median_ms=round(years["median_ms"], 3),
        ratio=round(ratio_mean, 4),
        ratio_median=round(ratio_median, 4),
        rules_only_ms=round(rules_only * 1000, 4),
        scheduled_only_ms=round(scheduled_ms, 3),
        scheduled_only_queries=scheduled_queries,
    )
    benchlib.close_django_connections()
    benchlib.flush_bench_broker()
    if not args.keep_db:
        benchlib.drop_database(args.database)
    return 0


if __name__ == "__main__":
    sys.exit(main())
