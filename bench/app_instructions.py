"""Instructions per request of Kassa's app and the ceiling's, counted by valgrind's callgrind.

bench/app_cost.py times the apps in-process; on a shared machine its figures move by 10-20%
from one run to the next, more than most single changes to the request path are worth.
Instructions do not move with the machine's load: the same code, inputs and interpreter
count the same (to a few hundred instructions a request, from the random ids and the
group commit's batching), so a change of 1% shows. They are not time (a cache miss or a
system call counts as little), so a change is confirmed in time by the other scripts.

Each scenario (bench/app_cost.py's create, retrieve and list, 32 at a time on one event loop)
runs twice per app under callgrind, each run a child process: once with the setup alone (the
app started, `SETUP_CUSTOMERS` customers created, the scenario's warm-up) and once with
`--requests` requests of the scenario after it. The difference, over the requests, is the
figure: start-up and imports cancel out. Two children run at a time.

    python bench/app_instructions.py [--scenarios create,retrieve,list] [--requests 1600]

Results: bench/results/app-instructions-<stamp>.json and .txt (commit, machine, figures).
Needs valgrind (`apt-get install -y valgrind`). A run of the three scenarios takes about
ten minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

import app_cost
from bench_harness import REPO_DIR
from bench_results import cpu_model, git_commit, utc_stamp, write_results

SUBJECTS: Final = ("ceiling", "kassa")
SETUP_CUSTOMERS: Final = 320
"""Customers every run creates first, for the retrieves (after the create warm-up)."""
REQUESTS_MAX: Final = 20_000
"""A bound on `--requests`: under callgrind a Kassa request costs about 2 ms."""
CHILDREN_AT_ONCE: Final = 2
CHILD_TIMEOUT_SECONDS: Final = 1_800
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


async def child(subject_name: str, scenario: str, requests: int) -> None:
    """One measured process: the setup, then `requests` requests of `scenario`."""
    with tempfile.TemporaryDirectory(prefix="kassa-app-instructions-") as work:
        make = app_cost.kassa_subject if subject_name == "kassa" else app_cost.ceiling_subject
        subject, stop = await make(Path(work))
        try:
            await app_cost.run_scenario(subject, "create", SETUP_CUSTOMERS, app_cost.CONCURRENCY)
            if requests:
                await app_cost.run_scenario(subject, scenario, requests, app_cost.CONCURRENCY)
            else:
                await warm_up(subject, scenario)
        finally:
            await stop()


async def warm_up(subject: app_cost.Subject, scenario: str) -> None:
    """The warm-up `app_cost.run_scenario` does before it measures, alone."""
    make = app_cost.request_maker(subject, scenario)
    for n in range(app_cost.WARMUP_REQUESTS):
        await make(n)
    if subject.drain is not None:
        await subject.drain()


def instructions(subject: str, scenario: str, requests: int) -> int:
    """What callgrind counts for one child process (every thread)."""
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        subject,
        scenario,
        str(requests),
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=CHILD_TIMEOUT_SECONDS, check=False
    )
    found = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(
            f"{subject} {scenario} under callgrind exited {done.returncode}:\n{done.stderr[-2000:]}"
        )
    return int(found.group(1))


def measure(scenarios: Sequence[str], requests: int) -> dict[str, dict[str, float]]:
    """scenario -> subject -> instructions per request."""
    runs = [
        (subject, scenario, count)
        for scenario in scenarios
        for subject in SUBJECTS
        for count in (0, requests)
    ]
    started = time.monotonic()

    def run(run_spec: tuple[str, str, int]) -> int:
        subject, scenario, count = run_spec
        total = instructions(subject, scenario, count)
        print(
            f"  {subject} {scenario} x {count}: {total:,} instructions "
            f"({time.monotonic() - started:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
        return total

    with ThreadPoolExecutor(CHILDREN_AT_ONCE) as pool:
        totals = dict(zip(runs, pool.map(run, runs), strict=True))
    return {
        scenario: {
            subject: (totals[(subject, scenario, requests)] - totals[(subject, scenario, 0)])
            / requests
            for subject in SUBJECTS
        }
        for scenario in scenarios
    }


def report_text(figures: dict[str, dict[str, float]], env: dict[str, object]) -> str:
    lines = [
        f"Instructions per request {env['stamp']} (commit {env['commit']}); {env['cpu']}, "
        f"Python {env['python']}",
        f"In-process under callgrind: {env['requests']:,} requests per scenario, "
        f"{app_cost.CONCURRENCY} at a time, after {SETUP_CUSTOMERS} customers and "
        f"{app_cost.WARMUP_REQUESTS} warm-up requests",
        "",
        "scenario   kassa instr/req  ceiling instr/req  ratio (ceiling / kassa)",
    ]
    for scenario, by_subject in figures.items():
        kassa, ceiling = by_subject["kassa"], by_subject["ceiling"]
        lines.append(f"{scenario:<10} {kassa:>15,.0f}  {ceiling:>17,.0f}  {ceiling / kassa:>23.3f}")
    return "\n".join(lines) + "\n"


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench/app_instructions.py",
        description="Instructions per request of Kassa's app and the ceiling's (callgrind).",
    )
    parser.add_argument("--scenarios", default=",".join(app_cost.SCENARIOS))
    parser.add_argument("--requests", type=int, default=1_600, help="per scenario")
    parser.add_argument("--output", type=Path, help="results JSON (default bench/results/)")
    parser.add_argument("--child", nargs=3, metavar=("SUBJECT", "SCENARIO", "REQUESTS"))
    args = parser.parse_args(argv)
    scenarios = args.scenarios.split(",")
    unknown = sorted(set(scenarios) - set(app_cost.SCENARIOS))
    if unknown:
        parser.error(f"unknown scenarios {unknown}: choose from {','.join(app_cost.SCENARIOS)}")
    args.scenarios = scenarios
    if not app_cost.CONCURRENCY <= args.requests <= REQUESTS_MAX:
        parser.error(f"--requests must be between {app_cost.CONCURRENCY} and {REQUESTS_MAX:,}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(sys.argv[1:] if argv is None else argv)
    if args.child is not None:
        subject, scenario, count = args.child
        asyncio.run(child(subject, scenario, int(count)))
        return 0
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: apt-get install -y valgrind, then run again")
    stamp = utc_stamp()
    env: dict[str, object] = {
        "stamp": stamp,
        "commit": git_commit(),
        "cpu": f"{cpu_model()}, {os.cpu_count()} CPUs",
        "python": platform.python_version(),
        "requests": args.requests,
    }
    print(
        f"{len(args.scenarios) * len(SUBJECTS) * 2} runs under callgrind, "
        f"{CHILDREN_AT_ONCE} at a time ...",
        file=sys.stderr,
        flush=True,
    )
    figures = measure(args.scenarios, args.requests)
    text = report_text(figures, env)
    output = args.output or REPO_DIR / "bench" / "results" / f"app-instructions-{stamp}.json"
    written = write_results(output, {"environment": env, "figures": figures}, text)
    print(text, end="")
    print(f"results: {output} and {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
