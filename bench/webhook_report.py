"""The results of bench/webhooks.py: summaries, targets, checks, the report and its text.

Only reads what the measurements produced (receiver counts, timings, profiles); nothing here
starts a process or touches the database.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench_harness import CpuPlan, display_path
from bench_results import git_commit, profile_summary_text, summarise_profile, targets_table
from webhook_fixture import TimedEvent
from webhook_processes import WorkerCpu, merged_per_second
from webhook_receiver_fast import VERIFY_EVERY

from kassa.workers.webhooks import PER_ENDPOINT_CONCURRENCY

# What the worker's profile samples are spent on, by the first marker found in the stack:
# (activity, frame-name prefixes). Order matters: a COMMIT run by `record` counts as record.
WORKER_ACTIVITIES = (
    ("record outcomes (attempt, delivery, event rows)", ("DeliveryWorker.record ",)),
    ("sweep (find endpoints with work, claim)", ("DeliveryWorker.sweep ",)),
    ("send (sign, aiohttp POST until the response)", ("DeliveryWorker._send ",)),
    ("group COMMIT on SQLite", ("SqliteStore._commit_when_idle ",)),
    ("idle (waiting in select)", ("EpollSelector.select ", "KqueueSelector.select ")),
    ("aiohttp outside a send (reading responses)", ("aiohttp/",)),
)
OTHER_ACTIVITY = "other (asyncio event loop, tasks)"


# --- Targets (issue 4) ---------------------------------------------------------------------

TARGET_DELIVERIES_PER_S = 2_000.0
TARGET_QUIET_P99_MS = 1_000.0

PERCENTILES = (50, 90, 99)
MS_PER_S = 1000.0
REJECTION_SAMPLES_KEPT = 5


# --- Summaries of one measurement ----------------------------------------------------------


def throughput_result(
    endpoint_count: int,
    event_ids: list[str],
    generation_s: float,
    cpu: WorkerCpu,
    drained_at: float | None,
    stats: Mapping[str, Any],
    profile: tuple[Path | None, float],
) -> dict[str, Any]:
    paths = stats["paths"]
    events = len(event_ids)
    started = cpu.started
    drain_s = None if drained_at is None else drained_at - started
    # From the worker's banner (store open, about to deliver) to the drain.
    delivering_s = None if drained_at is None else drained_at - cpu.ready
    firsts = [p["first_arrival"] for p in paths.values() if p["first_arrival"]]
    lasts = [p["last_arrival"] for p in paths.values() if p["last_arrival"]]
    arrival_window_s = max(lasts) - min(firsts) if firsts and lasts else 0.0
    per_second = merged_per_second(paths)
    # Whole seconds only: the first and last are cut by the start and the end.
    inner = per_second[1:-1]
    profile_path, profiled_s = profile
    return {
        "endpoints": endpoint_count,
        "events": events,
        "event_ids": event_ids,
        "generation": {
            "seconds": round(generation_s, 2),
            "events_per_s": round(events / generation_s, 1) if generation_s else None,
        },
        "drained": drained_at is not None,
        "worker_start_to_drained_s": None if drain_s is None else round(drain_s, 3),
        "deliveries_per_s": None if not drain_s else round(events / drain_s, 1),
        "worker_ready_after_start_s": round(cpu.ready - started, 3),
        "first_arrival_after_start_s": round(min(firsts) - started, 3) if firsts else None,
        "worker_cpu": worker_cpu_summary(cpu, events, delivering_s),
        "first_to_last_arrival_s": round(arrival_window_s, 3),
        "first_to_last_arrival_per_s": (
            round(events / arrival_window_s, 1) if arrival_window_s else None
        ),
        "steady_per_s_median": statistics.median(inner) if inner else None,
        "steady_per_s_max": max(inner) if inner else None,
        "per_second": per_second,
        "receiver": receiver_summary(stats),
        "profile": display_path(profile_path) if profile_path else None,
        "profile_summary": (
            summarise_profile(profile_path, max(1, round(profiled_s))) if profile_path else None
        ),
        "profile_activities": worker_activities(profile_path) if profile_path else None,
    }


def worker_activities(path: Path) -> list[dict[str, Any]]:
    """Percent of the worker's profile samples per activity (WORKER_ACTIVITIES)."""
    counts = dict.fromkeys([name for name, _ in WORKER_ACTIVITIES] + [OTHER_ACTIVITY], 0)
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        total += int(count_text)
        counts[activity_of(stack)] += int(count_text)
    return [
        {"activity": name, "samples": count, "percent": round(100 * count / total, 1)}
        for name, count in sorted(counts.items(), key=lambda item: -item[1])
        if total
    ]


def activity_of(stack: str) -> str:
    for name, markers in WORKER_ACTIVITIES:
        if any(marker in stack for marker in markers):
            return name
    return OTHER_ACTIVITY


def worker_cpu_summary(cpu: WorkerCpu, events: int, delivering_s: float | None) -> dict[str, Any]:
    """CPU time the worker used: to start, and from ready to drained.

    `busy_fraction` under 1 while pinned to a CPU of its own means the worker waited (for the
    receiver, for its own timers) or other processes took its CPU; `deliveries_per_cpu_s` is
    the rate it would reach with a whole core and no waiting.
    """
    delivering_cpu_s = cpu.delivering_cpu_s
    return {
        "startup_cpu_s": round(cpu.ready_cpu_s, 3),
        "delivering_cpu_s": round(delivering_cpu_s, 3),
        "busy_fraction": (round(delivering_cpu_s / delivering_s, 3) if delivering_s else None),
        "cpu_ms_per_delivery": (round(delivering_cpu_s * MS_PER_S / events, 4) if events else None),
        "deliveries_per_cpu_s": (
            round(events / delivering_cpu_s, 1) if delivering_cpu_s > 0 else None
        ),
    }


def quiet_summary(timed: Sequence[TimedEvent], arrivals: Mapping[str, float]) -> dict[str, Any]:
    arrived = [t for t in timed if t.event_id in arrivals]
    return {
        "sent": len(timed),
        "arrived": len(arrived),
        "missing": len(timed) - len(arrived),
        "delay_from_commit": latency_summary([arrivals[t.event_id] - t.committed for t in arrived]),
        "delay_from_write_start": latency_summary(
            [arrivals[t.event_id] - t.write_started for t in arrived]
        ),
        "write_to_commit": latency_summary([t.committed - t.write_started for t in timed]),
    }


def backlogged_summary(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    window_s: float,
    still_pending: bool,
    slow_delay_ms: int,
) -> dict[str, Any]:
    delivered = after["paths"]["a"]["requests"] - before["paths"]["a"]["requests"]
    return {
        "delivered_in_window": delivered,
        "per_s_in_window": round(delivered / window_s, 1) if window_s else None,
        "delivered_by_window_end": after["paths"]["a"]["distinct_events"],
        "backlog_left_at_window_end": still_pending,
        # The worker's cap of requests in flight per endpoint, each answered after the delay.
        "ceiling_per_s": (
            round(PER_ENDPOINT_CONCURRENCY * MS_PER_S / slow_delay_ms, 1) if slow_delay_ms else None
        ),
    }


def worker_log_problems(label: str, log: Mapping[str, Any]) -> list[str]:
    if not log["tracebacks"]:
        return []
    return [f"{label}: {log['tracebacks']} tracebacks in the worker's log ({log['path']})"]


def environment(args: argparse.Namespace, cpus: CpuPlan) -> dict[str, Any]:
    return {
        "git_commit": git_commit(),
        "cpus": os.cpu_count(),
        "pinning": describe_pinning(cpus),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "engine": args.engine,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def build_report(
    args: argparse.Namespace,
    started_at: str,
    throughput: list[dict[str, Any]],
    fairness: dict[str, Any] | None,
    env: dict[str, Any],
) -> dict[str, Any]:
    env["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report: dict[str, Any] = {
        "benchmark": "webhooks",
        "started_at": started_at,
        "environment": env,
        "settings": {
            "quick": args.quick,
            "phases": args.phases,
            "events": args.events,
            "endpoints": args.endpoints,
            "backlog": args.backlog,
            "fairness_seconds": args.fairness_seconds,
            "slow_delay_ms": args.slow_delay_ms,
            "seed": args.seed,
            "worker": "python -m kassa worker --database URL (one process)"
            + (", on uvloop (experiment)" if args.worker_uvloop else ""),
            "receiver": "bench/webhook_receiver_fast.py (uvloop + httptools, answers 200)",
            "signature_check": f"stripe.Webhook.construct_event on every {VERIFY_EVERY}th",
        },
        "throughput": throughput,
        "fairness": fairness,
    }
    report["targets"] = evaluate_targets(report)
    report["problems"] = correctness_problems(report)
    report["ok"] = not report["problems"]
    return report


# --- Targets, checks and text ------------------------------------------------------------


def percentile(sorted_values: Sequence[float], percent: float) -> float:
    """Nearest rank: the smallest value with at least `percent`% of values at or below it."""
    rank = max(1, math.ceil(percent / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_summary(values_s: Sequence[float]) -> dict[str, Any]:
    if not values_s:
        return {"count": 0}
    ordered = sorted(values_s)
    summary: dict[str, Any] = {"count": len(ordered)}
    for percent in PERCENTILES:
        summary[f"p{percent}_ms"] = round(percentile(ordered, percent) * MS_PER_S, 2)
    summary["max_ms"] = round(ordered[-1] * MS_PER_S, 2)
    summary["min_ms"] = round(ordered[0] * MS_PER_S, 2)
    summary["mean_ms"] = round(statistics.fmean(ordered) * MS_PER_S, 2)
    return summary


def receiver_summary(stats: Mapping[str, Any]) -> dict[str, Any]:
    paths = stats["paths"].values()
    samples = [sample for p in paths for sample in p["rejection_samples"]]
    return {
        "requests": sum(p["requests"] for p in paths),
        "distinct_events": sum(p["distinct_events"] for p in paths),
        "duplicates": sum(p["duplicates"] for p in paths),
        "verified": sum(p["verified"] for p in paths),
        "rejected": sum(p["rejected"] for p in paths),
        "rejection_samples": samples[:REJECTION_SAMPLES_KEPT],
        "body_bytes": sum(p["body_bytes"] for p in paths),
        "unknown_requests": stats["unknown_requests"],
        "bad_requests": stats["bad_requests"],
    }


def evaluate_targets(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []
    for run in report["throughput"]:
        rate = run["deliveries_per_s"] or 0.0
        checks.append(
            {
                "target": f"throughput, {run['endpoints']} endpoint(s): "
                f">= {TARGET_DELIVERIES_PER_S:,.0f} deliveries/s from one worker",
                "value": rate,
                "met": rate >= TARGET_DELIVERIES_PER_S,
            }
        )
    fairness = report["fairness"]
    if fairness is not None:
        quiet = fairness["quiet"]
        p99 = quiet["delay_from_commit"].get("p99_ms", math.inf)
        checks.append(
            {
                "target": f"fairness: quiet endpoint p99 < {TARGET_QUIET_P99_MS:,.0f} ms "
                "(commit to arrival), none missing",
                "value": p99,
                "met": p99 < TARGET_QUIET_P99_MS and quiet["missing"] == 0,
            }
        )
    return checks


def correctness_problems(report: Mapping[str, Any]) -> list[str]:
    """What makes the run's figures wrong or incomplete (exit code 1), not slow."""
    problems: list[str] = []
    for run in report["throughput"]:
        label = f"throughput {run['endpoints']}ep"
        receiver = run["receiver"]
        problems += worker_log_problems(label, run["worker_log"])
        if not run["drained"]:
            problems.append(f"{label}: deliveries still pending at the end")
        if receiver["distinct_events"] != run["events"]:
            problems.append(
                f"{label}: {receiver['distinct_events']:,} of {run['events']:,} events received"
            )
        if receiver["rejected"] or receiver["verified"] == 0:
            problems.append(
                f"{label}: {receiver['rejected']} rejected, {receiver['verified']} verified"
            )
        problems += [f"{label}: {problem}" for problem in run["api_check"]["problems"]]
    fairness = report["fairness"]
    if fairness is not None:
        problems += worker_log_problems("fairness", fairness["worker_log"])
        for path, receiver in fairness["receiver"].items():
            if receiver["rejected"] or receiver["verified"] == 0:
                problems.append(
                    f"fairness {path}: {receiver['rejected']} rejected, "
                    f"{receiver['verified']} verified"
                )
        if not fairness["backlogged"]["backlog_left_at_window_end"]:
            problems.append("fairness: A's backlog ran out before the end (use a larger --backlog)")
        for path, recorded in fairness["attempts_recorded"].items():
            answered = fairness["receiver"][path]["requests"]
            if recorded != answered:
                problems.append(
                    f"fairness {path}: the receiver answered {answered:,} requests but "
                    f"{recorded:,} attempts were recorded (outcomes lost when the worker stopped)"
                )
        if fairness["quiet"]["missing"]:
            problems.append(f"fairness: {fairness['quiet']['missing']} of B's events never arrived")
    return problems


def describe_pinning(cpus: CpuPlan) -> str:
    if cpus.server is None or cpus.load is None:
        return "not pinned"
    return (
        f"worker on CPU {sorted(cpus.server)}; receiver, set-up server and bench "
        f"on CPU {sorted(cpus.load)}"
    )


def throughput_table(runs: Sequence[Mapping[str, Any]]) -> str:
    header = (
        f"{'endpoints':>9} {'events':>8} {'start->drained s':>16} {'deliveries/s':>12} "
        f"{'steady /s':>9} {'per CPU-s':>9} {'CPU busy':>8} {'verified':>8} {'rejected':>8} "
        f"{'dupes':>5}"
    )
    lines = [header, "-" * len(header)]
    for run in runs:
        receiver = run["receiver"]
        lines.append(
            f"{run['endpoints']:>9} {run['events']:>8,} "
            f"{fmt(run['worker_start_to_drained_s'], '.2f'):>16} "
            f"{fmt(run['deliveries_per_s'], ',.0f'):>12} "
            f"{fmt(run['steady_per_s_median'], ',.0f'):>9} "
            f"{fmt(run['worker_cpu']['deliveries_per_cpu_s'], ',.0f'):>9} "
            f"{fmt(run['worker_cpu']['busy_fraction'], '.0%'):>8} {receiver['verified']:>8,} "
            f"{receiver['rejected']:>8,} {receiver['duplicates']:>5,}"
        )
    return "\n".join(lines)


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def fairness_text(fairness: Mapping[str, Any]) -> list[str]:
    quiet, backlogged = fairness["quiet"], fairness["backlogged"]
    gap_min_s, gap_max_s = fairness["quiet_gap_s"]
    lines = [
        f"Fairness: endpoint A with a backlog of {fairness['backlog_events']:,} events, answering "
        f"after {fairness['slow_delay_ms']} ms; endpoint B one event every "
        f"{gap_min_s * MS_PER_S:.0f}-{gap_max_s * MS_PER_S:.0f} ms for "
        f"{fairness['seconds']:.0f} s",
        f"  B: {quiet['sent']} sent, {quiet['arrived']} arrived, {quiet['missing']} missing",
    ]
    for name, key in (
        ("commit -> arrival", "delay_from_commit"),
        ("write start -> arrival", "delay_from_write_start"),
        ("write start -> commit", "write_to_commit"),
    ):
        summary = quiet[key]
        if summary["count"]:
            lines.append(
                f"  B {name:<24} p50 {summary['p50_ms']:>8.1f} ms  p90 {summary['p90_ms']:>8.1f} ms"
                f"  p99 {summary['p99_ms']:>8.1f} ms  max {summary['max_ms']:>8.1f} ms"
            )
    lines.append(
        f"  A: {backlogged['delivered_in_window']:,} delivered during the window "
        f"({fmt(backlogged['per_s_in_window'], ',.0f')}/s; ceiling "
        f"{fmt(backlogged['ceiling_per_s'], ',.0f')}/s), backlog left at the end: "
        f"{'yes' if backlogged['backlog_left_at_window_end'] else 'NO'}; the worker used "
        f"{fmt(fairness['worker_busy_fraction'], '.0%')} of a CPU"
    )
    recorded = fairness["attempts_recorded"]
    lines.append(
        "  after the worker stopped (SIGTERM): attempts recorded / requests answered: "
        + ", ".join(
            f"{path} {recorded[path]:,}/{fairness['receiver'][path]['requests']:,}"
            for path in sorted(recorded)
        )
    )
    return lines


def report_text(report: Mapping[str, Any]) -> str:
    env, settings = report["environment"], report["settings"]
    parts = [
        f"Kassa webhook delivery benchmark {report['started_at']} (commit {env['git_commit']}, "
        f"{env['engine']}, {env['pinning']})",
        f"load average at start {env['load_average_at_start']}, "
        f"at end {env['load_average_at_end']}",
        f"signatures checked with {settings['signature_check']} delivery per endpoint",
    ]
    if report["throughput"]:
        parts += [
            "",
            "Throughput: one `kassa worker`, all events waiting at its start, a receiver that "
            "answers 200 at once",
            throughput_table(report["throughput"]),
        ]
    if report["fairness"] is not None:
        parts += ["", *fairness_text(report["fairness"])]
    parts += ["", "Targets:", targets_table(report["targets"]), ""]
    parts.append("Checks: ok" if report["ok"] else "Checks: FAILED")
    parts += [f"  problem: {problem}" for problem in report["problems"]]
    for run in report["throughput"]:
        if run["profile_summary"]:
            parts += [
                "",
                f"Profile of the worker, {run['endpoints']} endpoint(s) "
                f"(py-spy, {run['profile']}):",
                "  by activity:",
                *(
                    f"  {row['percent']:>6.1f}%  {row['samples']:>7,}  {row['activity']}"
                    for row in run["profile_activities"]
                ),
                "",
                profile_summary_text(run["profile_summary"]),
            ]
    return "\n".join(parts)
