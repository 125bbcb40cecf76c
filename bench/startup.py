"""Time `kassa serve`'s start: from the process's launch to its first `/healthz` answer, and
the server's CPU time (all threads) by then.

Two cases, `--rounds` starts each, one after another (never two servers at once):

- fresh: a new SQLite database each time, so every migration runs;
- migrated: the same database again, as a developer's second `kassa serve` finds it.

The CPU time is the figure to compare across runs (a shared machine moves the wall clock
more). A test suite starts hundreds of servers and `kassa` commands, so this is most of
what Kassa's own suite spends outside the requests it makes. The report also says whether
the interpreter writes bytecode (`PYTHONDONTWRITEBYTECODE`) and whether Kassa's modules have
it cached: without it every start compiles Kassa's sources again.

    python bench/startup.py [--rounds 5] [--kassa PATH]

Writes bench/results/startup-<UTC timestamp>.json and .txt (`--output` elsewhere).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from bench_cli import add_report_arguments, find_kassa
from bench_harness import (
    DEFAULT_RESULTS_DIR,
    LOOPBACK_HOST,
    BenchError,
    plan_cpus,
    process_cpu_seconds,
    running_http_server,
    sqlite_url,
)
from bench_results import (
    kassa_installation,
    machine_environment,
    publish_results,
    utc_stamp,
)

ROUNDS_DEFAULT: Final = 5
ROUNDS_MAX: Final = 100
READY_TIMEOUT_S: Final = 60.0
READY_POLL_S: Final = 0.01
"""Finer than the load benchmarks' poll: a start takes about a second."""
CASES: Final = ("fresh", "migrated")


def start_once(kassa: Path, database: Path, log_path: Path) -> tuple[float, float]:
    """One start: seconds from launch to the first 200 from `/healthz` (as the process
    started here), and the server's CPU seconds by then. The server is stopped after."""

    def command(port: int) -> list[str]:
        host = ["--host", LOOPBACK_HOST, "--port", str(port)]
        return [str(kassa), "serve", *host, "--database", sqlite_url(database)]

    launched = time.perf_counter()
    with running_http_server(
        # One server at a time and no load tool: nothing to keep apart on the CPUs.
        "kassa serve",
        command,
        log_path,
        plan_cpus(pin=False),
        READY_TIMEOUT_S,
        "",
        READY_POLL_S,
    ) as server:
        ready = time.perf_counter() - launched
        cpu = process_cpu_seconds(server.process.pid)
    if cpu is None:
        raise BenchError("this machine's /proc does not give the server's CPU time")
    return ready, cpu


def measure(kassa: Path, rounds: int, folder: Path) -> dict[str, list[tuple[float, float]]]:
    log_path = folder / "kassa-serve.log"
    migrated = folder / "migrated.db"
    found: dict[str, list[tuple[float, float]]] = {case: [] for case in CASES}
    for round_number in range(1, rounds + 1):
        print(f"round {round_number} of {rounds}", file=sys.stderr)
        found["fresh"].append(start_once(kassa, folder / f"fresh-{round_number}.db", log_path))
        found["migrated"].append(start_once(kassa, migrated, log_path))
    return found


def bytecode_state(source: str | None) -> dict[str, Any]:
    """Whether this interpreter's environment writes bytecode, and whether the measured
    Kassa's modules have it cached (checked on a few that every start imports)."""
    cached = None
    if source is not None:
        modules = [Path(source) / name for name in ("runtime.py", "cli.py", "observers.py")]
        cached = all(Path(importlib.util.cache_from_source(str(m))).exists() for m in modules)
    return {
        "writes_bytecode": not os.environ.get("PYTHONDONTWRITEBYTECODE"),
        "kassa_bytecode_cached": cached,
    }


def summary(samples: list[tuple[float, float]]) -> dict[str, Any]:
    ready = [sample[0] for sample in samples]
    cpu = [sample[1] for sample in samples]
    return {
        "starts": len(samples),
        "ready_median_s": round(statistics.median(ready), 3),
        "ready_max_s": round(max(ready), 3),
        "cpu_median_s": round(statistics.median(cpu), 3),
        "cpu_max_s": round(max(cpu), 3),
    }


def report_text(report: dict[str, Any]) -> str:
    env = report["environment"]
    header = (
        f"{'case':<10} {'starts':>6} {'ready median s':>15} {'max':>6} "
        f"{'CPU median s':>13} {'max':>6}"
    )
    lines = [
        f"kassa serve start-up, {report['started_at']}",
        f"Machine: {env['cpu_model']}, {env['cpus']} CPUs, Python {env['python']}, load average "
        f"{env['load_average']}; commit {env['git_commit']}; bytecode written: "
        f"{env['writes_bytecode']}, Kassa's cached: {env['kassa_bytecode_cached']}",
        *([report["note"]] if report["note"] else []),
        "",
        header,
        "-" * len(header),
    ]
    for case, row in report["cases"].items():
        lines.append(
            f"{case:<10} {row['starts']:>6} {row['ready_median_s']:>15.3f} "
            f"{row['ready_max_s']:>6.3f} {row['cpu_median_s']:>13.3f} {row['cpu_max_s']:>6.3f}"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rounds", type=int, default=ROUNDS_DEFAULT, help="starts per case (%(default)s)"
    )
    parser.add_argument("--kassa", type=Path, help="the kassa executable (default: this venv's)")
    add_report_arguments(parser)
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= ROUNDS_MAX:
        parser.error(f"--rounds must be in [1, {ROUNDS_MAX}]")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    kassa = find_kassa(args.kassa)
    installation = kassa_installation(kassa)
    started_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    with tempfile.TemporaryDirectory(prefix="kassa-startup-") as folder:
        try:
            found = measure(kassa, args.rounds, Path(folder))
        except BenchError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    commit = installation["commit"] + ("+changes" if installation["uncommitted_changes"] else "")
    report = {
        "started_at": started_at,
        "note": args.note,
        "environment": {
            "git_commit": commit,
            "kassa": installation,
            **machine_environment(),
            **bytecode_state(installation["source"]),
        },
        "cases": {case: summary(samples) for case, samples in found.items()},
        "samples": {case: [list(sample) for sample in samples] for case, samples in found.items()},
    }
    text = report_text(report)
    output = args.output or DEFAULT_RESULTS_DIR / f"startup-{utc_stamp()}.json"
    publish_results(output, report, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
