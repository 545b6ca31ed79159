"""Bulk export: peak memory of a FHIR Bulk Data export of a large team vs a small one.

Issue 11 "memory flat however large the team". Two care teams with the same profile per
patient (a check-in a day with the four pain scores, interference items, symptoms and
DN4, and a dose a day) differ only in size: the baseline team has --baseline-patients,
the candidate --patients. Each is exported by `interop.bulk.run_export` in this process
(as the Celery task runs it), under tracemalloc; the script prints the peak of Python
allocations of each export, the resources written, and the ratio of the two peaks
(flat memory: close to 1, whatever the ratio of the team sizes).

    .venv/bin/python bench/bulk_export.py
    .venv/bin/python bench/bulk_export.py --patients 5000 --days 14
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import tracemalloc
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import benchlib

ZONE = "Europe/Rome"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=3000, help="patients of the large team (3000)")
    parser.add_argument("--baseline-patients", type=int, default=300, help="patients of the small team (300)")
    parser.add_argument("--days", type=int, default=3, help="days of diary per patient (3)")
    parser.add_argument("--database", default="crossroad_bench_bulk", help="dropped and recreated")
    parser.add_argument("--keep-db", action="store_true", help="leave the database for inspection")
    parser.add_argument("--seed", type=int, default=11)
    return parser.parse_args()


def load_team(name: str, size: int, days: int, rng: random.Random, database: str):
    from care.models import CareTeam, Patient, Role, User

    team = CareTeam.objects.create(name=name)
    first = datetime.now(ZoneInfo(ZONE)).date() - timedelta(days=days)
    users = User.objects.bulk_create(
        User(username=f"{name}-{i}", role=Role.PATIENT, timezone=ZONE) for i in range(size)
    )
    patients = Patient.objects.bulk_create(
        Patient(user=u, care_team=team, display_name=u.username, timezone=ZONE, enrolled_on=first)
        for u in users
    )
    rows: dict[str, list[tuple]] = defaultdict(list)
    for patient in patients:
        for day in range(days):
            moment = datetime.combine(first + timedelta(days=day), datetime.min.time(), ZoneInfo(ZONE))
            moment += timedelta(hours=9, minutes=rng.randrange(60))
            pain = rng.randint(2, 8)
            rows["checkin"].append(
                benchlib.diary_row(
                    "checkin",
                    rng=rng,
                    patient_id=patient.pk,
                    user_id=patient.user_id,
                    zone=ZONE,
                    observed=moment,
                    pain_now=pain,
                    pain_worst=min(pain + 2, 10),
                    pain_least=max(pain - 2, 0),
                    pain_average=pain,
                    interference={"walking": pain, "sleep": pain - 1, "mood": pain, "work": pain},
                    interference_mean=pain - 0.25,
                    neuropathic=["burning"],
                    symptoms={"tiredness": pain, "nausea": 2},
                )
            )
            rows["medication"].append(
                benchlib.diary_row(
                    "medication",
                    rng=rng,
                    patient_id=patient.pk,
                    user_id=patient.user_id,
                    zone=ZONE,
                    observed=moment + timedelta(hours=1),
                    drug="oxycodone",
                    dose=10,
                    unit="mg",
                    route="oral",
                    mme=15,
                )
            )
    with benchlib.pg_connect(database) as conn:
        for kind, table in benchlib.DIARY_TABLES.items():
            if rows[kind]:
                benchlib.copy_rows(conn, table, benchlib.DIARY_COLUMNS[kind], rows[kind])
        conn.commit()
    return team, sum(len(r) for r in rows.values())


def export(team) -> dict:
    from django.utils import timezone

    from care.models import Role, User
    from interop import bulk
    from interop.models import BulkExport

    requester = User.objects.create(username=f"bench-clinician-{uuid.uuid4().hex[:6]}", role=Role.CLINICIAN)
    row = BulkExport.objects.create(
        team=team, requested_by=requester, request_url="bench", transaction_time=timezone.now()
    )
    tracemalloc.start()
    tracemalloc.reset_peak()
    started = time.perf_counter()
    assert bulk.run_export(row.pk) == "completed"
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    row.refresh_from_db()
    return {
        "peak_mb": peak / 2**20,
        "seconds": seconds,
        "resources": sum(item["count"] for item in row.output),
        "files": len(row.output),
    }


def main() -> None:
    args = parse_args()
    rng = random.Random(args.seed)
    media = tempfile.mkdtemp(prefix="crossroad-bench-bulk-")
    benchlib.configure_env(database=args.database, eager=True, MEDIA_ROOT=media)
    benchlib.recreate_database(args.database)
    benchlib.setup_django()
    benchlib.print_header(
        "Bulk export: peak memory, large team vs small team",
        {"patients": args.patients, "baseline_patients": args.baseline_patients, "days": args.days},
    )
    try:
        benchlib.step("loading the two teams")
        small, small_rows = load_team("bench-small", args.baseline_patients, args.days, rng, args.database)
        large, large_rows = load_team("bench-large", args.patients, args.days, rng, args.database)
        benchlib.step(f"loaded {small_rows + large_rows:,} diary rows; warming up (models, caches)")
        export(small)  # the first export imports and caches what every later one reuses
        benchlib.step("exporting the small team")
        baseline = export(small)
        benchlib.step("exporting the large team")
        candidate = export(large)
        ratio = candidate["peak_mb"] / baseline["peak_mb"]
        print(
            benchlib.table(
                [
                    (
                        "baseline",
                        args.baseline_patients,
                        baseline["resources"],
                        f"{baseline['peak_mb']:.1f}",
                        f"{baseline['seconds']:.1f}",
                    ),
                    (
                        "candidate",
                        args.patients,
                        candidate["resources"],
                        f"{candidate['peak_mb']:.1f}",
                        f"{candidate['seconds']:.1f}",
                    ),
                ],
                ("export", "patients", "resources", "peak MiB (tracemalloc)", "seconds"),
            )
        )
        print(
            f"team {args.patients / args.baseline_patients:.0f}x larger, "
            f"{candidate['resources'] / max(baseline['resources'], 1):.0f}x the resources: "
            f"peak memory ratio {ratio:.2f}"
        )
        benchlib.print_result_line(
            "bulk_export",
            mode="pg",
            size=args.patients,
            baseline_size=args.baseline_patients,
            peak_mb=round(candidate["peak_mb"], 2),
            baseline_peak_mb=round(baseline["peak_mb"], 2),
            resources=candidate["resources"],
            baseline_resources=baseline["resources"],
            ratio=round(ratio, 3),
        )
    finally:
        benchlib.close_django_connections()
        if not args.keep_db:
            benchlib.drop_database(args.database)


if __name__ == "__main__":
    main()
