"""The soak's summary (markdown) and figures (PNG, matplotlib) from its CSV and summary.json.

.venv/bin/python bench/soak_report.py var/soak/<run>     # redraw a run's figures and summary
"""

from __future__ import annotations

import csv
import json
import statistics
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

RECOVERY_SLACK = 2  # rows: "back to its level before the fault" allows this much noise
CHAOS_WINDOW_AFTER = 60  # seconds after a fault still counted as inside its window
SHOWN_ENDPOINTS = ("sync/", "patients/", "/clinic/")


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def fmt(value: Any, digits: int = 1) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def in_chaos(t: float, events: list[dict]) -> bool:
    return any(e["step"] != "hourly_run" and e["start"] <= t <= e["end"] + CHAOS_WINDOW_AFTER for e in events)


def recovery(samples: list[dict], events: list[dict], field: str) -> list[tuple[str, float, float | None]]:
    """For each fault: seconds from its start until `field` is back to its level before it
    (median of the minute before, plus a little slack), or None if it never was."""
    found = []
    for event in events:
        if event["step"] == "hourly_run":
            continue
        before = [
            s[field]
            for s in samples
            if event["start"] - 60 <= s["t"] < event["start"] and s.get(field) is not None
        ]
        level = (statistics.median(before) if before else 0) + RECOVERY_SLACK
        after = [s for s in samples if s["t"] >= event["end"] and s.get(field) is not None]
        back = next((s["t"] for s in after if s[field] <= level), None)
        peak = max(
            (
                s[field]
                for s in samples
                if event["start"] <= s["t"] <= (back or 1e12) and s.get(field) is not None
            ),
            default=None,
        )
        found.append((event["step"], peak, None if back is None else back - event["start"]))
    return found


def hourly_duration(samples: list[dict], events: list[dict]) -> tuple[float | None, float | None, str]:
    """Seconds from sending the hourly run until none of its chunks is left not done (the
    `ClockChunk` rows, which a broker restart does not lose), the most chunks seen, and
    whether it ended ("done" or "unfinished")."""
    sent = next((e["start"] for e in events if e["step"] == "hourly_run"), None)
    if sent is None:
        return None, None, "not sent"
    later = [s for s in samples if s["t"] >= sent and s.get("scheduled_chunks") is not None]
    peak = max((s["scheduled_chunks"] for s in later), default=0)
    seen = False
    for s in later:
        seen = seen or s["scheduled_chunks"] > 0
        if seen and s["scheduled_chunks"] == 0:
            return s["t"] - sent, peak, "done"
    if later and peak == 0:  # done before the first sample after it was sent
        return later[0]["t"] - sent, peak, "done"
    return None, peak, "unfinished"


def sync_latencies(out: Path, summary: dict) -> list[str]:
    """POST sync/ as the phones saw it (the ledger: the answered attempt, from sending to
    the answer) and inside gunicorn (its access log), whole run and outside the chaos
    windows: the difference is the time spent waiting for a free worker."""
    started, events = summary["started_wall"], summary["events"]
    phones: list[tuple[float, float]] = []
    ledger = out / "ledger.jsonl"
    if ledger.exists():
        for line in ledger.read_text().splitlines():
            row = json.loads(line)
            if row.get("e") == "answered":
                phones.append((row["t_sent"] - started, (row["t_ok"] - row["t_sent"]) * 1000))
    server: list[tuple[float, float]] = []
    access = out / "access.log"
    if access.exists():
        for line in access.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 6 and parts[3] == "POST" and parts[4] == "/api/v1/sync/":
                at = datetime.strptime(f"{parts[0]} {parts[1]}", "[%d/%b/%Y:%H:%M:%S %z]").timestamp()
                server.append((at - started, int(parts[-1]) / 1000))
    lines = []
    for label, rows in (("seen by the phones", phones), ("inside gunicorn (access.log)", server)):
        if not rows:
            continue
        every = [ms for _, ms in rows]
        calm = [ms for t, ms in rows if not in_chaos(t, events)]
        lines.append(
            f"`sync/` {label}, ms: all ({len(every)}) p50 {fmt(percentile(every, 50), 0)}, "
            f"p95 {fmt(percentile(every, 95), 0)}, p99 {fmt(percentile(every, 99), 0)}; outside the chaos "
            f"windows ({len(calm)}) p50 {fmt(percentile(calm, 50), 0)}, p95 {fmt(percentile(calm, 95), 0)}, "
            f"p99 {fmt(percentile(calm, 99), 0)}."
        )
    return lines


def markdown(summary: dict, out: Path | None = None) -> str:
    r = summary["reconciliation"]
    samples, events = summary["samples"], summary["events"]
    m = summary["machine"]
    loads = [s["load_1m"] for s in samples if s.get("load_1m") is not None]
    lines = [
        f"## Soak {m['date']} (git {m.get('git_sha', '?')}), {summary['args']['patients']} patients, "
        f"{summary['args']['minutes']} min",
        "",
        f"Machine: {m['cpus']} CPUs, load average (1 min) during the run: mean {fmt(statistics.fmean(loads) if loads else None, 2)}, "
        f"max {fmt(max(loads) if loads else None, 2)}. PostgreSQL {m.get('postgres', '?')}.",
        f"Cohort: {summary['cohort']['counts']}; loaded in {summary['cohort']['load_seconds']:.0f} s; "
        f"status rows against refresh_patient_status: {summary['status_check']['checked']} checked, "
        f"{summary['status_check']['changed']} changed.",
        f"Load: {summary['load']}.",
        "",
        "| endpoint | requests | failures | req/s | p50 ms | p95 ms | p99 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in summary["endpoints"]:
        lines.append(
            f"| {row['Type']} {row['Name']} | {row['Request Count']} | {row['Failure Count']} | "
            f"{float(row['Requests/s']):.2f} | {row['50%']} | {row['95%']} | {row['99%']} |"
        )
    if out is not None:
        lines += ["", *sync_latencies(out, summary)]
    lines += ["", "| chaos (s from start) | start | back | detail |", "|---|---|---|---|"]
    for e in events:
        lines.append(f"| {e['step']} | {e['start']:.0f} | {e['end']:.0f} | {e['detail']} |")
    lines += [
        "",
        "| fault | evaluation backlog peak | back to its level after (s) | outbox peak | back after (s) |",
    ]
    lines.append("|---|---|---|---|---|")
    ev = recovery(samples, events, "evaluation_requests")
    ob = recovery(samples, events, "outbox_pending")
    for (step, peak, back), (_, opeak, oback) in zip(ev, ob, strict=True):
        lines.append(f"| {step} | {fmt(peak)} | {fmt(back, 0)} | {fmt(opeak)} | {fmt(oback, 0)} |")
    duration, peak, outcome = hourly_duration(samples, events)
    ended = {
        "done": f"all consumed {fmt(duration, 0)} s after the run was sent",
        "unfinished": "not finished within the run and settling",
        "not sent": "not sent",
    }[outcome]
    lines += ["", f"Hourly scheduled rules: {fmt(peak)} chunks not done at most; {ended}."]
    flags = r["red_flags"]
    latencies = [f["sync_to_webhook_s"] for f in flags if f.get("sync_to_webhook_s") is not None]
    calm = [
        f["sync_to_webhook_s"]
        for f in flags
        if f.get("sync_to_webhook_s") is not None and not in_chaos(f["t_first"], events)
    ]
    lines += [
        f"Red flags: {len(flags)}; sync → webhook received: all p50 {fmt(percentile(latencies, 50))} s, "
        f"p95 {fmt(percentile(latencies, 95))} s, max {fmt(max(latencies) if latencies else None)} s; "
        f"outside the chaos windows ({len(calm)}): p50 {fmt(percentile(calm, 50))} s, p95 {fmt(percentile(calm, 95))} s.",
    ]
    cpu = samples[-1] if samples else {}
    syncs = r["syncs_answered"] or 1
    requests = (
        sum(int(row["Request Count"]) for row in summary["endpoints"] if row["Name"] == "Aggregated") or 1
    )
    lines += ["", "| process | CPU s | per sync answered (ms) | per request (ms) |", "|---|---|---|---|"]
    for role in ("gunicorn", "worker", "beat", "postgres", "redis", "locust"):
        seconds = cpu.get(f"cpu_{role}")
        if seconds is None:
            continue
        lines.append(
            f"| {role} | {seconds:.1f} | {seconds / syncs * 1000:.1f} | {seconds / requests * 1000:.1f} |"
        )
    lines += [
        "",
        f"Settled {fmt(summary['settled_seconds'], 0)} s after the load ended. Processes started: {summary['restarts']}.",
        "",
        f"Reconciliation: {r['syncs_sent']} syncs sent, {r['syncs_answered']} answered, other {r['syncs_other']}; "
        f"{r['records_sent']} records sent, {r['records_acked']} seen created or duplicate ({r['statuses']}); "
        f"{r['records_unanswered']} never answered, of which {r['unanswered_but_stored']} stored; "
        f"lost {r['lost_count']}, doubled {r['doubled_count']}, stored without a phone {r['strays']}; "
        f"left over {r['leftovers']}.",
        "",
    ]
    for name, ok in r["checks"].items():
        lines.append(f"- {'PASS' if ok else 'FAIL'}: {name}")
    return "\n".join(lines) + "\n"


def history(out: Path, started: float) -> dict[str, list[tuple[float, float | None, float | None]]]:
    path = out / "locust_stats_history.csv"
    series: dict[str, list] = {}
    if not path.exists():
        return series
    with open(path) as handle:
        for row in csv.DictReader(handle):
            if row["Name"] not in SHOWN_ENDPOINTS:
                continue

            def number(text: str) -> float | None:
                try:
                    value = float(text)
                except ValueError:
                    return None
                return value or None  # 0: no request of that name in Locust's window

            series.setdefault(row["Name"], []).append(
                (float(row["Timestamp"]) - started, number(row["50%"]), number(row["95%"]))
            )
    return series


def mark_chaos(ax, events: list[dict], label: bool) -> None:
    for e in events:
        if e["step"] == "hourly_run":
            ax.axvline(e["start"], color="tab:purple", linestyle=":", linewidth=1)
            if label:
                ax.annotate(
                    "hourly run",
                    (e["start"], 1),
                    xycoords=("data", "axes fraction"),
                    fontsize=7,
                    rotation=90,
                    va="top",
                    ha="right",
                    color="tab:purple",
                )
            continue
        ax.axvspan(e["start"], max(e["end"], e["start"] + 2), color="tab:red", alpha=0.15)
        if label:
            ax.annotate(
                e["step"],
                (e["start"], 1),
                xycoords=("data", "axes fraction"),
                fontsize=7,
                rotation=90,
                va="top",
                ha="right",
                color="tab:red",
            )


def finish(fig, ax, events: list[dict], path: Path) -> Path:
    """The legend beside the plot, the chaos bands, and the PNG written."""
    import matplotlib.pyplot as plt

    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    mark_chaos(ax, events, True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def figures(out: Path, summary: dict) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples, events = summary["samples"], summary["events"]
    started = summary["started_wall"]
    title = f"{summary['args']['patients']} patients, {summary['machine']['date']}"
    t = [s["t"] for s in samples]
    made = []

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 6.5), sharex=True, height_ratios=(3, 1))
    for name, points in history(out, started).items():
        xs = [p[0] for p in points if p[2] is not None]
        top.plot(xs, [p[2] for p in points if p[2] is not None], label=f"{name} p95")
        top.plot(
            [p[0] for p in points if p[1] is not None],
            [p[1] for p in points if p[1] is not None],
            linestyle="--",
            linewidth=0.8,
            label=f"{name} p50",
        )
    top.set_yscale("log")
    top.set_ylabel("response time, ms (Locust, last 10 s)")
    top.set_title(f"Latency over time: {title}")
    top.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    mark_chaos(top, events, True)
    bottom.plot(t, [s.get("load_1m") for s in samples], color="black")
    bottom.set_ylabel("load (1 min)")
    bottom.set_xlabel("seconds from the start of the load")
    mark_chaos(bottom, events, False)
    fig.tight_layout()
    made.append(out / "latency.png")
    fig.savefig(made[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(12, 4.5))
    for field, label in (
        ("evaluation_requests", "evaluation backlog (EvaluationRequest rows)"),
        ("outbox_pending", "outbox backlog (pending/sending notifications)"),
        ("queue", "broker queue (messages)"),
        ("scheduled_chunks", "hourly-run chunks not done"),
    ):
        ax.plot(t, [s.get(field) if s.get(field) is not None else float("nan") for s in samples], label=label)
    ax.set_ylabel("rows / messages")
    ax.set_xlabel("seconds from the start of the load")
    ax.set_title(f"Backlogs over time: {title}")
    made.append(finish(fig, ax, events, out / "backlogs.png"))

    flags = [f for f in summary["reconciliation"]["red_flags"] if f.get("sync_to_webhook_s") is not None]
    fig, ax = plt.subplots(figsize=(12, 3.8))
    ax.scatter(
        [f["t_first"] for f in flags], [f["sync_to_webhook_s"] for f in flags], s=14, label="sync → webhook"
    )
    ax.scatter(
        [f["t_first"] for f in flags],
        [f["sync_to_alert_s"] for f in flags],
        s=8,
        marker="x",
        label="sync → alert row",
    )
    ax.axhline(10, color="grey", linestyle="--", linewidth=0.8)
    ax.set_ylabel("seconds")
    ax.set_xlabel("seconds from the start of the load (first attempt of the sync)")
    ax.set_title(f"Red flag → notification: {title}")
    made.append(finish(fig, ax, events, out / "redflags.png"))
    return made


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    data = json.loads((folder / "summary.json").read_text())
    text = markdown(data, folder)
    (folder / "summary.md").write_text(text)
    print(text)
    print(figures(folder, data))
