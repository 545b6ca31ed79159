"""Evaluate: the cost of evaluate_patient after a week vs after five years.

Issue 4 "Performance". Two patients with the same profile and the same last week of
diary (pain 6-7 on opioids, constipation, pump boluses: several rules met, alerts open);
one enrolled a week ago, the other five years ago with daily check-ins, two doses and two
boluses a day, an adverse effect every ten days, a resolved alert a month and a completed
referral every six months. Filler patients with five years each make the tables large
(the default loads about half a million diary rows with COPY, each row built by the
diary's own write path; the last week's items also pass the API's validation). Then, in
this process, against the bench database:

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
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import benchlib

DATABASE = benchlib.setup("crossroad_bench_evaluate")

# The product, once Django is set up.
import rows
from django.db import connection

from alerts import engine
from alerts.actions.evaluation import evaluate_patient
from alerts.actions.lifecycle import box2_criteria
from alerts.models import Alert, AlertEvent, ReferralRecommendation
from alerts.rules import RULES, SCHEDULED_RULES
from care.models import CareTeam, Patient, Role, TeamMembership, TeamRole, User
from diary import catalog

ZONE = "Europe/Rome"
YEARS = 5
# The interference items a check-in answers here: the first five of the catalog's seven
# (the BPI mean needs four).
INTERFERENCE = tuple(catalog.INTERFERENCE_ITEMS)[:5]
OPIOID = "oxycodone"
RECORD_OBSERVED = {kind: model.observed_field for kind, model in rows.RECORD_MODELS.items()}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=300, help="timed evaluations per patient (300)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed evaluations per patient first (5)")
    parser.add_argument("--fillers", type=int, default=40, help="other patients with 5 years each (40)")
    parser.add_argument("--years", type=int, default=YEARS, help="years of the long history (5)")
    benchlib.add_database_options(parser, "crossroad_bench_evaluate")
    parser.add_argument("--seed", type=int, default=4)
    return parser.parse_args(argv)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, dtime(hour, minute), tzinfo=ZoneInfo(ZONE))


# --- seeding ---------------------------------------------------------------------------------


def day_items(rng: random.Random, day: date, *, recent: bool, now: datetime) -> Iterator[tuple[str, dict]]:
    """One day of diary as a phone sends it: a check-in, two oxycodone doses, two boluses,
    sometimes an adverse effect."""
    # The last week has the same values for every patient (its own seed per day), so the
    # week and five-year patients meet the same rules; only the record ids differ.
    values = random.Random(day.toordinal()) if recent else rng
    if recent:
        pain = 6 + (day.toordinal() % 2)  # 6, 7, 6, ...: persistent pain on opioids
        tired = 6
    else:
        pain = values.randint(1, 6)
        tired = values.randint(0, 7)

    def moment(hour: int) -> datetime:
        return min(at(day, hour), now - timedelta(minutes=5))

    yield (
        "checkin",
        {
            "recorded_at": moment(9),
            "pain_now": pain,
            "pain_worst": min(10, pain + 1),
            "pain_least": max(0, pain - 2),
            "pain_average": pain,
            "interference": {k: max(0, min(10, pain + values.randint(-2, 1))) for k in INTERFERENCE},
            "symptoms": {
                "tiredness": tired,
                "sleep_disturbance": values.randint(0, 6),
                "nausea": values.randint(0, 3),
            },
            "pain_sites": ["lower_back"],
            "breakthrough_episodes": values.randint(0, 3),
        },
    )
    for hour in (8, 20):
        yield (
            "medication",
            {"taken_at": moment(hour), "drug": OPIOID, "dose": 20, "unit": "mg", "route": "oral"},
        )
    for hour in (11, 17):
        yield (
            "bolus",
            {
                "occurred_at": moment(hour),
                "outcome": "delivered",
                "dose": "0.05",
                "unit": "ml",
                "pain_before": pain,
                "pain_after": max(0, pain - 2),
            },
        )
    if (recent and day.toordinal() % 2 == 0) or (not recent and day.toordinal() % 10 == 0):
        yield (
            "adverse_effect",
            {"recorded_at": moment(10), "effect": "constipation", "grade": 2, "suspected_drug": OPIOID},
        )


def history(builder: rows.Builder, rng: random.Random, first: date, week_first: date, now: datetime):
    """(kind, stored record) for every day from `first` to today; the last week validated
    by the API's serializers, the years before built directly (the same write path)."""
    day = first
    while day <= now.date():
        recent = day >= week_first
        for kind, item in day_items(rng, day, recent=recent, now=now):
            observed = item[RECORD_OBSERVED[kind]]
            stored_at = min(observed + timedelta(minutes=2), now)
            if recent:
                yield kind, builder.validated(kind, item, now=stored_at)
            else:
                yield kind, builder.build(kind, typed(item), now=stored_at)
        day += timedelta(days=1)


def typed(item: dict[str, Any]) -> dict[str, Any]:
    """What validation would make of an item's numbers (doses as Decimal)."""
    return {k: Decimal(str(v)) if k == "dose" else v for k, v in item.items()}


def seed_team() -> CareTeam:
    team = CareTeam.objects.create(name="Bench evaluate team")
    for role in (TeamRole.NURSE, TeamRole.PAIN_PHYSICIAN):
        user = User.objects.create(
            username=f"bench-{role}", role=Role.CLINICIAN, email=f"{role}@bench.invalid"
        )
        TeamMembership.objects.create(team=team, user=user, team_role=role)
    return team


def seed_patient(team: CareTeam, name: str, first_day: date, today: date) -> Patient:
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


def load_diaries(patients: list[tuple[Patient, date]], week_first: date, now: datetime, seed: int) -> int:
    """Every patient's diary, COPYed in one transaction, then VACUUM ANALYZE."""
    rng = random.Random(seed)
    records = (
        pair
        for patient, first in patients
        for pair in history(rows.Builder(patient, patient.user), rng, first, week_first, now)
    )
    by_kind = rows.by_kind(records)
    total = sum(len(r) for r in by_kind.values())
    benchlib.step(f"loading {total:,} diary rows with COPY ({len(patients)} patients)")
    started = time.perf_counter()
    with benchlib.pg_connect(DATABASE) as conn:
        rows.copy_records(conn, by_kind)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    benchlib.step(f"loaded in {time.perf_counter() - started:.1f} s")
    return total


def seed_handled_alerts(patient: Patient, first: date, years: int) -> None:
    """A resolved alert a month and a completed referral every six months."""
    rule = "persistent_pain"
    alerts, events = [], []
    for month in range(years * 12):
        created = at(first + timedelta(days=30 * month + 5), 10)
        alert = Alert(
            patient=patient,
            rule=rule,
            severity=RULES[rule].severity,
            status=Alert.Status.RESOLVED,
            box2_criteria=box2_criteria(patient, rule),
            evidence={"days": []},
            record_ids=[str(uuid.uuid4()) for _ in range(3)],
            created_at=created,
            last_triggered_at=created,
            acknowledged_at=created + timedelta(hours=2),
            resolved_at=created + timedelta(days=2),
            resolution="analgesia adjusted",
        )
        alerts.append(alert)
        for kind, delay in (
            (AlertEvent.Kind.CREATED, 0),
            (AlertEvent.Kind.NOTIFIED, 0),
            (AlertEvent.Kind.ACKNOWLEDGED, 2),
            (AlertEvent.Kind.RESOLVED, 48),
        ):
            events.append(AlertEvent(alert=alert, kind=kind, at=created + timedelta(hours=delay)))
    Alert.objects.bulk_create(alerts)
    AlertEvent.objects.bulk_create(events)
    ReferralRecommendation.objects.bulk_create(
        ReferralRecommendation(
            patient=patient,
            status=ReferralRecommendation.Status.COMPLETED,
            criteria=[{"number": RULES[rule].box2, "rule": rule, "evidence": {}}],
            created_at=at(first + timedelta(days=182 * k + 3), 10),
            updated_at=at(first + timedelta(days=182 * k + 30), 10),
        )
        for k in range(years * 2)
    )


def seed(args: argparse.Namespace) -> dict[str, Any]:
    team = seed_team()
    now = datetime.now(ZoneInfo(ZONE))
    today = now.date()
    week_first = today - timedelta(days=6)
    years_first = today - timedelta(days=365 * args.years)
    week = seed_patient(team, "week", week_first, today)
    years = seed_patient(team, "five-years", years_first, today)
    fillers = [seed_patient(team, f"filler-{i}", years_first, today) for i in range(args.fillers)]
    total = load_diaries(
        [(week, week_first), (years, years_first), *((f, years_first) for f in fillers)],
        week_first,
        now,
        args.seed,
    )
    seed_handled_alerts(years, years_first, args.years)
    return {"week": week, "years": years, "rows": total}


def history_counts(patients: dict[str, Patient]) -> dict[str, dict[str, int]]:
    return {
        name: {kind: model.objects.filter(patient=p).count() for kind, model in rows.RECORD_MODELS.items()}
        for name, p in patients.items()
    }


# --- measuring -------------------------------------------------------------------------------


def timed_queries(run: Callable[[], Any]) -> tuple[list[tuple[str, float]], float]:
    """(sql, seconds) of every query a call runs, timed around the database call, and the
    time of the whole call."""
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


def warm_up(patients: dict[str, Patient], n: int) -> dict[str, list[str]]:
    """Untimed evaluations (the first one opens the alerts); the rules left open."""
    for _ in range(n):
        for p in patients.values():
            evaluate_patient(patient_id=p.pk)
    return {
        name: sorted(Alert.objects.filter(patient=p).unresolved().values_list("rule", flat=True))
        for name, p in patients.items()
    }


def measure_evaluations(patients: dict[str, Patient], repeat: int) -> dict[str, Any]:
    """Interleaved timed evaluations of each patient. Every one also records the time of
    each of its queries (a wrapper around the database call, a few microseconds), so the
    split between waiting on PostgreSQL and the rest comes from the same runs."""
    per_query: dict[str, list[list[tuple[str, float]]]] = {name: [] for name in patients}

    def recorded(name: str) -> Callable[[], None]:
        def call() -> None:
            queries, _ = timed_queries(lambda: evaluate_patient(patient_id=patients[name].pk))
            per_query[name].append(queries)

        return call

    benchlib.step(f"{repeat} timed evaluations each, interleaved")
    times = benchlib.interleaved(repeat, {name: recorded(name) for name in patients})
    shape = [short_sql(s) for s, _ in per_query["week"][0]]
    return {
        "times": times,
        "per_query": per_query,
        "counts": {name: len(runs[0]) for name, runs in per_query.items()},
        "shapes_equal": all(
            [short_sql(s) for s, _ in runs[0]] == shape and len({len(r) for r in runs}) == 1
            for runs in per_query.values()
        ),
    }


def measure_scheduled(patient: Patient, warmup: int, repeat: int) -> tuple[float, int]:
    """What the hourly beat runs for every activated patient: only the scheduled rules.
    Returns the median milliseconds and the queries of one run."""

    def scheduled() -> None:
        evaluate_patient(patient_id=patient.pk, only=SCHEDULED_RULES)

    for _ in range(warmup):
        scheduled()
    with benchlib.count_queries() as captured:
        scheduled()
    times = []
    for _ in range(max(10, repeat // 3)):
        started = time.perf_counter()
        scheduled()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, len(captured)


def measure_rules_only(patient: Patient, n: int) -> float:
    """The floor: the rules alone over an already loaded window, no database (seconds)."""
    today = patient.local_today()
    snapshot = engine.load(patient, today)
    settings = engine.rule_settings(patient)
    started = time.perf_counter()
    for _ in range(n):
        engine.run(settings, snapshot)
    return (time.perf_counter() - started) / n


# --- summary ---------------------------------------------------------------------------------


def print_evaluations(args, history, open_alerts, measured, rules_only, scheduled) -> dict[str, Any]:
    """The two patients' evaluations side by side and their ratio; returns RESULT figures."""
    times, counts = measured["times"], measured["counts"]
    week, years = benchlib.summary_ms(times["week"]), benchlib.summary_ms(times["years"])
    ratio_mean = years["mean_ms"] / week["mean_ms"]
    ratio_median = years["median_ms"] / week["median_ms"]
    scheduled_ms, scheduled_queries = scheduled
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
                for label, name, s in (("one week", "week", week), (f"{args.years} years", "years", years))
            ],
            ["patient", "queries", "mean ms", "median ms", "p95 ms", "min ms"],
        )
    )
    print()
    print(
        f"ratio {args.years} years / one week: mean {ratio_mean:.3f}, median {ratio_median:.3f}   "
        "(issue 4 asks <= 1.2)"
    )
    print(f"queries per evaluation equal: {counts['week'] == counts['years'] and measured['shapes_equal']}")
    print(f"rules alone on the loaded window (no database): {rules_only * 1000:.3f} ms")
    print(
        f"scheduled rules only (the hourly beat, every activated patient): {scheduled_ms:.2f} ms median, "
        f"{scheduled_queries} queries; for 10,000 patients {scheduled_ms * 10:.0f} s of worker time an hour"
    )
    return {
        "week_mean_ms": round(week["mean_ms"], 3),
        "years_mean_ms": round(years["mean_ms"], 3),
        "week_median_ms": round(week["median_ms"], 3),
        "years_median_ms": round(years["median_ms"], 3),
        "ratio": round(ratio_mean, 4),
        "ratio_median": round(ratio_median, 4),
    }


def print_query_times(repeat: int, measured: dict[str, Any]) -> None:
    """Each query's median time for both patients, and the time spent outside queries."""
    times, per_query = measured["times"], measured["per_query"]
    print()
    print(f"median time per query over the {repeat} evaluations each (ms):")
    table_rows = []
    for i, (sql, _) in enumerate(per_query["years"][0]):
        w = statistics.median(r[i][1] for r in per_query["week"]) * 1000
        y = statistics.median(r[i][1] for r in per_query["years"]) * 1000
        table_rows.append([i + 1, short_sql(sql), f"{w:.3f}", f"{y:.3f}", f"{y / w:.2f}" if w else "-"])
    print(benchlib.table(table_rows, ["#", "query", "week", "years", "years/week"]))
    for name in per_query:
        in_db = statistics.median(sum(t for _, t in r) for r in per_query[name]) * 1000
        whole = statistics.median(times[name]) * 1000
        print(
            f"{name}: median {whole:.2f} ms per evaluation, of which {in_db:.2f} ms waiting on queries "
            f"and {whole - in_db:.2f} ms elsewhere (Python: ORM, rules, services; the commit)"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    benchlib.print_header(
        f"bench/evaluate: evaluate_patient after one week vs after {args.years} years",
        {"repeat": args.repeat, "warmup": args.warmup, "filler patients": args.fillers, "in-process": "yes"},
    )
    benchlib.fresh_database(DATABASE)
    seeded = seed(args)
    patients = {"week": seeded["week"], "years": seeded["years"]}
    history = history_counts(patients)
    benchlib.step("warm-up evaluations (the first one opens the alerts)")
    open_alerts = warm_up(patients, args.warmup)
    measured = measure_evaluations(patients, args.repeat)
    scheduled = measure_scheduled(patients["years"], args.warmup, args.repeat)
    rules_only = measure_rules_only(patients["years"], n=max(100, args.repeat * 7))
    figures = print_evaluations(args, history, open_alerts, measured, rules_only, scheduled)
    print_query_times(args.repeat, measured)
    benchlib.print_result_line(
        "evaluate",
        mode="pg",
        size={"week": history["week"], "years": history["years"]},
        queries_per_eval=measured["counts"],
        **figures,
        rules_only_ms=round(rules_only * 1000, 4),
        scheduled_only_ms=round(scheduled[0], 3),
        scheduled_only_queries=scheduled[1],
    )
    benchlib.finish(DATABASE, keep=args.keep_db)
    # The point of the comparison: the same queries whatever the history.
    ok = measured["counts"]["week"] == measured["counts"]["years"] and measured["shapes_equal"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
