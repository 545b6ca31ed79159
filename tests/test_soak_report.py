"""The soak's report (bench/soak_report.py) reads its samples as docs/capacity.md says: a
fault's recovery is measured to the backlog's level before it, and an hourly run is done
when none of its chunks is left not done (durable rows: a Redis stop cannot empty them)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import soak_report  # bench/ is not a package


def samples(values: dict[float, dict]) -> list[dict]:
    return [{"t": t, **fields} for t, fields in sorted(values.items())]


def test_recovery_is_the_time_until_the_backlog_is_back_to_its_level_before_the_fault():
    rows = samples(
        {t: {"evaluation_requests": 5} for t in range(0, 60, 5)}
        | {60: {"evaluation_requests": 40}, 65: {"evaluation_requests": 90}, 70: {"evaluation_requests": 30}}
        | {75: {"evaluation_requests": 6}, 80: {"evaluation_requests": 5}}
    )
    events = [{"step": "worker_kill", "start": 58, "end": 62}]

    [(step, peak, back)] = soak_report.recovery(rows, events, "evaluation_requests")

    assert (step, peak, back) == ("worker_kill", 90, 75 - 58)


def test_a_fault_the_backlog_never_recovers_from_has_no_recovery_time():
    rows = samples({0: {"outbox_pending": 0}, 10: {"outbox_pending": 50}, 20: {"outbox_pending": 80}})
    events = [{"step": "redis_stop", "start": 5, "end": 15}]

    assert soak_report.recovery(rows, events, "outbox_pending") == [("redis_stop", 80, None)]


def test_an_hourly_run_is_done_when_its_last_chunk_is_done_through_a_redis_stop_too():
    drained = samples(
        {30: {"scheduled_chunks": 250}, 60: {"scheduled_chunks": 100}, 90: {"scheduled_chunks": 0}}
    )
    hourly = {"step": "hourly_run", "start": 25, "end": 25}

    assert soak_report.hourly_duration(drained, [hourly]) == (65, 250, "done")
    # The chunks are rows: a Redis stop delays them, it does not lose them.
    stop = {"step": "redis_stop", "start": 70, "end": 130}
    assert soak_report.hourly_duration(drained, [hourly, stop]) == (65, 250, "done")
    unfinished = samples({30: {"scheduled_chunks": 250}, 60: {"scheduled_chunks": 100}})
    assert soak_report.hourly_duration(unfinished, [hourly]) == (None, 250, "unfinished")


def test_an_hourly_run_done_between_two_samples_is_done_by_the_first_sample_after_it():
    quick = samples({30: {"scheduled_chunks": 0}, 60: {"scheduled_chunks": 0}})
    hourly = {"step": "hourly_run", "start": 25, "end": 25}
    assert soak_report.hourly_duration(quick, [hourly]) == (5, 0, "done")
