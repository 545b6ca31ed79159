"""Smoke run: every benchmark once at a tiny size, on PostgreSQL, as CI runs it.

Not a measurement (at these sizes the figures mean little); the proof that each script
still runs against the product as it is today: it must exit 0 and print its ratio and
one `RESULT {json}` line with a numeric `ratio`. Each runs on its own database
`crossroad_bench_smoke_<name>` (a copy of one migrated once, `crossroad_bench_smoke`),
dropped at the end; two at a time (the machine has two cores), sharing the bench broker
(Redis database 15), which this script empties before and after instead of each
benchmark. Exits non-zero when any benchmark fails, printing its whole output.

    .venv/bin/python bench/smoke.py            # all four, about half a minute
    .venv/bin/python bench/smoke.py triage     # one
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import benchlib

HERE = Path(__file__).resolve().parent

# Each benchmark at a size that exercises every step it has (rounds, checks, breakdown,
# walk, plans, forked workers) in a few seconds.
TINY = {
    "ingest": [
        *("--clients", "2", "--workers", "1", "--batches", "2", "--batch-size", "20"),
        *("--warmup", "1", "--breakdown-batches", "2"),
    ],
    "evaluate": ["--repeat", "5", "--warmup", "2", "--fillers", "1", "--years", "1"],
    "triage": ["--patients", "120", "--days", "7", "--others", "20", "--repeat", "3"],
    "alert_rate": ["--patients", "16", "--weeks", "1", "--workers", "2"],
}
TEMPLATE = "crossroad_bench_smoke"
TIMEOUT_SECONDS = 180


@dataclass
class Outcome:
    name: str
    seconds: float
    returncode: int
    stdout: str
    stderr: str
    result: dict | None

    @property
    def ok(self) -> bool:
        return (
            self.returncode == 0
            and self.result is not None
            and isinstance(self.result.get("ratio"), int | float)
        )


def run(name: str) -> Outcome:
    command = [
        sys.executable,
        str(HERE / f"{name}.py"),
        *TINY[name],
        "--database",
        f"crossroad_bench_smoke_{name}",
    ]
    started = time.perf_counter()
    try:
        done = subprocess.run(  # noqa: S603 - our own scripts
            command,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
            env={**os.environ, benchlib.TEMPLATE_ENV: TEMPLATE, benchlib.SHARED_BROKER_ENV: "1"},
        )
        returncode, stdout, stderr = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as exc:
        returncode, stdout, stderr = (
            -1,
            str(exc.stdout or ""),
            f"timed out after {TIMEOUT_SECONDS} s\n{exc.stderr or ''}",
        )
    return Outcome(name, time.perf_counter() - started, returncode, stdout, stderr, result_of(stdout))


def result_of(stdout: str) -> dict | None:
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    if len(lines) != 1:
        return None
    try:
        return json.loads(lines[0].removeprefix("RESULT "))
    except ValueError:
        return None


def report(outcome: Outcome) -> None:
    status = "ok" if outcome.ok else f"FAILED (exit {outcome.returncode})"
    ratio = outcome.result.get("ratio") if outcome.result else None
    print(
        f"== bench/{outcome.name}.py {' '.join(TINY[outcome.name])}: {status} in {outcome.seconds:.1f} s, ratio {ratio}"
    )
    if not outcome.ok:
        print(outcome.stdout)
        print(outcome.stderr, file=sys.stderr)
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="*", metavar="name", help=f"some of {', '.join(TINY)} (all)")
    parser.add_argument("--jobs", type=int, default=2, help="benchmarks at a time (2)")
    args = parser.parse_args(argv)
    names = args.names or list(TINY)
    unknown = set(names) - set(TINY)
    if unknown:
        parser.error(f"no benchmark {', '.join(sorted(unknown))}")
    started = time.perf_counter()
    benchlib.step(f"migrating {TEMPLATE}, the template of every benchmark's database")
    benchlib.migrated_template(TEMPLATE)
    benchlib.flush_bench_broker()
    try:
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            outcomes = list(pool.map(run, names))
    finally:
        benchlib.drop_database(TEMPLATE)
        benchlib.flush_bench_broker()
    for outcome in outcomes:
        report(outcome)
    failed = [o.name for o in outcomes if not o.ok]
    print(
        f"bench smoke: {len(outcomes) - len(failed)}/{len(outcomes)} ok in {time.perf_counter() - started:.1f} s"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
