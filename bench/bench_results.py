"""Results of the Kassa benchmark scripts: tables, files, comparisons, profiles.

Used by bench/customers.py and bench/payment_intents.py together with
bench_harness.py, which runs the server, wrk and py-spy; this module only reads
what they produced and turns it into tables and files.
"""

from __future__ import annotations

import collections
import datetime
import json
import math
import os
import platform
import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench_harness import (
    CLI_TIMEOUT_S,
    PROFILE_RATE_HZ,
    REPO_DIR,
    CpuPlan,
    ScenarioResult,
    Tools,
)

# A `#!` line longer than this is not a console script's.
SHEBANG_MAX_BYTES = 4096
CPUINFO_PATH = "/proc/cpuinfo"

# --compare flags a scenario whose req/s or p99 is more than this much worse.
COMPARE_TOLERANCE = 0.10

# Rows per table in a profile summary: own time, own time per file, total time.
PROFILE_TOP_OWN = 15
PROFILE_TOP_FILES = 15
PROFILE_TOP_TOTAL = 25

# `process 1234:"python .../kassa serve ...";` starts every stack that py-spy
# records with --subprocesses; the rest are `name (file.py:line)` frames.
_PROCESS_FRAME = re.compile(r'^process \d+:"[^"]*";')
_FRAME_FILE = re.compile(r"\((?P<file>[^()]*?)(?::\d+)?\)$")


# --- Results files and tables ------------------------------------------------------------


def wrk_version(wrk: Path) -> str:
    # `wrk -v` prints its banner and exits non-zero; only the first line matters.
    completed = subprocess.run(
        [str(wrk), "-v"], capture_output=True, text=True, timeout=CLI_TIMEOUT_S, check=False
    )
    lines = (completed.stdout or completed.stderr).splitlines()
    # "wrk debian/4.1.0-3+b2 [epoll] Copyright ..." -> "wrk debian/4.1.0-3+b2"
    return lines[0].split("[")[0].strip() if lines else "unknown"


def git_commit(directory: Path = REPO_DIR) -> str:
    """The short commit checked out in `directory`'s git tree, or "unknown"."""
    completed = run_quietly(["git", "-C", str(directory), "rev-parse", "--short", "HEAD"])
    if completed is None or completed.returncode != 0:
        return "unknown"
    return completed.stdout.strip()


def git_tree_has_changes(directory: Path) -> bool | None:
    """Whether tracked files differ from the commit (None: not known)."""
    completed = run_quietly(
        ["git", "-C", str(directory), "status", "--porcelain", "--untracked-files=no"]
    )
    if completed is None or completed.returncode != 0:
        return None
    return bool(completed.stdout.strip())


def run_quietly(command: list[str]) -> subprocess.CompletedProcess[str] | None:
    """A short helper command's output, or None if it could not run in CLI_TIMEOUT_S."""
    try:
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None


def kassa_installation(kassa: Path) -> dict[str, Any]:
    """Which Kassa is measured: its executable, the source it imports, that tree's commit.

    `--kassa` may point at another installation (an older checkout's venv, say), so the
    commit is read from where that installation's `kassa` package lives, not from here.
    """
    source = kassa_source_dir(kassa)
    commit = git_commit(source) if source is not None else "unknown"
    return {
        "executable": str(kassa),
        "source": str(source) if source is not None else None,
        "commit": commit,
        "uncommitted_changes": git_tree_has_changes(source)
        if source is not None and commit != "unknown"
        else None,
    }


def kassa_source_dir(kassa: Path) -> Path | None:
    """The directory of the `kassa` package that the executable's interpreter imports."""
    interpreter = script_interpreter(kassa)
    if interpreter is None:
        return None
    # -I: isolated, so the current directory (perhaps another checkout) is not on the path.
    completed = run_quietly(
        [
            interpreter,
            "-I",
            "-c",
            "import kassa, pathlib; print(pathlib.Path(kassa.__file__).resolve().parent)",
        ]
    )
    if completed is None or completed.returncode != 0 or not completed.stdout.strip():
        return None
    return Path(completed.stdout.strip().splitlines()[-1])


def script_interpreter(script: Path) -> str | None:
    """The interpreter on a console script's `#!` line (`#!/usr/bin/env python3` too)."""
    try:
        with script.open("rb") as file:
            first_line = file.readline(SHEBANG_MAX_BYTES).decode(errors="replace")
    except OSError:
        return None
    if not first_line.startswith("#!"):
        return None
    words = first_line[2:].split()
    if len(words) >= 2 and Path(words[0]).name == "env":
        return words[1]
    return words[0] if words else None


def cpu_model() -> str:
    """The CPU's model name, from /proc/cpuinfo (Linux), else what platform knows."""
    try:
        with open(CPUINFO_PATH) as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def compare_with(baseline_path: Path, results: Sequence[ScenarioResult]) -> list[dict[str, Any]]:
    """Per scenario: throughput and p99 relative to an earlier results file."""
    baseline = json.loads(baseline_path.read_text())
    earlier = {
        (str(item["scenario"]), int(item["concurrency"])): item
        for item in baseline.get("scenarios", [])
    }
    rows: list[dict[str, Any]] = []
    for result in results:
        before = earlier.get((result.scenario, result.concurrency))
        if before is None or not before.get("rps"):
            continue
        rps_ratio = result.rps / float(before["rps"])
        p99_ratio = result.latency_ms("p99") / float(before["p99_ms"]) if before["p99_ms"] else 1.0
        rows.append(
            {
                "scenario": result.scenario,
                "concurrency": result.concurrency,
                "rps_ratio": round(rps_ratio, 3),
                "p99_ratio": round(p99_ratio, 3),
                "within_tolerance": rps_ratio >= 1 - COMPARE_TOLERANCE
                and p99_ratio <= 1 + COMPARE_TOLERANCE,
            }
        )
    return rows


def results_table(results: Sequence[ScenarioResult]) -> str:
    header = (
        f"{'scenario':<10} {'conc':>4} {'requests':>9} {'req/s':>9} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'max ms':>8} {'non-2xx':>8} {'sock err':>8} {'cpu us/req':>10}"
    )
    lines = [header, "-" * len(header)]
    for result in results:
        marker = " (profiled)" if result.profiled else ""
        lines.append(
            f"{result.scenario:<10} {result.concurrency:>4} {result.wrk.requests:>9,} "
            f"{result.rps:>9,.0f} {result.latency_ms('p50'):>8.2f} "
            f"{result.latency_ms('p99'):>8.2f} {result.latency_ms('max'):>8.2f} "
            f"{result.wrk.responses_other:>8,} {result.wrk.socket_error_count:>8,} "
            f"{result.cpu_us_per_request:>10.1f}{marker}"
        )
    return "\n".join(lines)


def targets_table(checks: Sequence[Mapping[str, Any]]) -> str:
    return "\n".join(
        f"  [{'met' if check['met'] else 'MISSED'}] {check['target']}: {check['value']:,}"
        for check in checks
    )


def comparison_table(rows: Sequence[Mapping[str, Any]], baseline: Path) -> str:
    lines = [f"Compared with {baseline} (tolerance {COMPARE_TOLERANCE:.0%}):"]
    for row in rows:
        verdict = "ok" if row["within_tolerance"] else "OUTSIDE"
        lines.append(
            f"  [{verdict}] {row['scenario']} c{row['concurrency']}: "
            f"req/s x{row['rps_ratio']}, p99 x{row['p99_ratio']}"
        )
    return "\n".join(lines)


def machine_line(env: Mapping[str, Any]) -> str:
    """One line for a report's header: where it ran, and which Kassa it measured."""
    kassa = env["kassa"]
    return (
        f"Machine: {env['cpu_model']}, {env['cpus']} CPUs ({env['cpus_usable']} usable), "
        f"Python {env['python']}; kassa {kassa['executable']} (source {kassa['source']}, "
        f"commit {env['git_commit']})"
    )


def utc_stamp() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")


def write_results(path: Path, report: Mapping[str, Any], text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    text_path = path.with_suffix(".txt")
    text_path.write_text(text + "\n")
    return text_path


def publish_results(path: Path, report: Mapping[str, Any], text: str) -> None:
    """Write the results (`write_results`), then show the text and where both files are."""
    text_path = write_results(path, report, text)
    print(text)
    print(f"\nresults: {path} and {text_path}")


def machine_environment() -> dict[str, Any]:
    """The machine and interpreter of a run that starts no load tools, with the load average
    at its start (such a run is not pinned, so other work on the machine shows in it)."""
    return {
        "cpu_model": cpu_model(),
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "load_average": [round(load, 2) for load in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def environment_report(tools: Tools, cpus: CpuPlan) -> dict[str, Any]:
    """The machine, and the commits: of the Kassa measured, and of this benchmark's code."""
    kassa = kassa_installation(tools.kassa)
    return {
        # The measured Kassa's commit, "+changes" when its tree has uncommitted edits.
        "git_commit": kassa["commit"] + ("+changes" if kassa["uncommitted_changes"] else ""),
        "kassa": kassa,
        "bench_commit": git_commit(),
        "cpu_model": cpu_model(),
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "pinning": cpus.describe(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "wrk": wrk_version(tools.wrk),
    }


# --- Profile summary -------------------------------------------------------------------


def summarise_profile(path: Path, seconds: int) -> dict[str, Any]:
    """Top functions by own and by total time, from a py-spy "raw" profile.

    Own time: samples where the function was the innermost Python frame (time
    spent in C code it called, such as sqlite3 or json, counts as its own).
    Total time: samples where it was anywhere on the stack, counted once per
    sample; the entry chain that is on every stack (the CLI, uvicorn's
    Server.run, asyncio's loop) is left out, as it says nothing. py-spy leaves
    out idle samples (the event loop waiting in epoll), so `busy_fraction` is
    the share of the run during which the server ran.
    """
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    own_by_file: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = _PROCESS_FRAME.sub("", stack).split(";")
        samples += count
        own[frames[-1]] += count
        own_by_file[frame_file(frames[-1])] += count
        for frame in set(frames):
            total[frame] += count
    entry_chain = max(total.values(), default=0)
    inner_total = collections.Counter(
        {frame: count for frame, count in total.items() if count < entry_chain}
    )
    expected = seconds * PROFILE_RATE_HZ

    def ranked(counter: collections.Counter[str], key: str, top: int) -> list[dict[str, Any]]:
        return [
            {key: name, "samples": count, "percent": round(100 * count / samples, 1)}
            for name, count in counter.most_common(top)
        ]

    return {
        "samples": samples,
        "rate_hz": PROFILE_RATE_HZ,
        "busy_fraction": round(samples / expected, 3) if expected else math.nan,
        "entry_chain_percent": round(100 * entry_chain / samples, 1) if samples else 0.0,
        "top_own": ranked(own, "function", PROFILE_TOP_OWN),
        "own_by_file": ranked(own_by_file, "file", PROFILE_TOP_FILES),
        "top_total": ranked(inner_total, "function", PROFILE_TOP_TOTAL),
    }


def frame_file(frame: str) -> str:
    match = _FRAME_FILE.search(frame)
    return match.group("file") if match else frame


def profile_summary_text(summary: Mapping[str, Any]) -> str:
    """The summary as three tables: own time, own time per file, total time."""
    lines = [
        f"{summary['samples']:,} samples at {summary['rate_hz']} Hz; server busy "
        f"{summary['busy_fraction']:.0%} of the run; percentages are of busy samples"
    ]
    for title, key, name in (
        ("own time (innermost Python frame, with the C calls it makes)", "top_own", "function"),
        ("own time per file", "own_by_file", "file"),
        (
            "total time (anywhere on the stack; without the entry chain on "
            f"{summary['entry_chain_percent']}% of samples)",
            "top_total",
            "function",
        ),
    ):
        lines += ["", f"  {title}:"]
        lines += [
            f"  {row['percent']:>6.1f}%  {row['samples']:>7,}  {row[name]}" for row in summary[key]
        ]
    return "\n".join(lines)


def log_and_comparison_text(report: Mapping[str, Any]) -> list[str]:
    """The report's closing lines: server-log trouble, and the comparison with a baseline."""
    parts: list[str] = []
    log = report["server_log"]
    if log["tracebacks"] or log["lines_with_500"]:
        parts += [
            "",
            f"Server log: {log['tracebacks']} tracebacks, {log['lines_with_500']} "
            f"lines with 500 ({log['path']})",
        ]
    if "comparison" in report:
        parts += [
            "",
            comparison_table(report["comparison"]["rows"], Path(report["comparison"]["baseline"])),
        ]
    return parts
