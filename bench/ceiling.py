"""The ceiling in a benchmark run: start bench/ceiling_app.py, and set Kassa's figures beside it.

bench/customers.py and bench/payment_intents.py run every scenario twice at each
concurrency, on Kassa and then on the ceiling (the least an ASGI app on SQLite must do to
answer the same requests; see ceiling_app.py), with the same wrk script and CPU pinning.
This module starts the ceiling server, seeds its table, and turns the two sets of results
into ratios, a side-by-side table and checks against the issue's targets.
"""

from __future__ import annotations

import contextlib
import math
import secrets
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from bench_harness import (
    BENCH_DIR,
    Account,
    CpuPlan,
    ScenarioResult,
    Server,
    running_http_server,
)
from ceiling_app import seed_customers

CEILING_APP = BENCH_DIR / "ceiling_app.py"
CEILING_DATABASE_FILE_NAME = "ceiling.db"
CEILING_ACCOUNT_ID = "acct_ceiling"
SECRET_KEY_RANDOM_BYTES = 16

# What the ceiling does for each scenario; written into every results file.
CEILING_WORK = {
    "create": "parse the form, build the customer, orjson, INSERT one row (unique id), "
    "group commit, answer the JSON",
    "retrieve": "SELECT one row by its unique id, answer its stored JSON",
    "list": "SELECT limit+1 rows by the (account_id, seq) index, answer limit of them "
    "in the list envelope",
    "confirm": "parse the form, build the intent and its charge, INSERT both in one unit "
    "(savepoint), group commit, answer the intent",
}


def ceiling_account() -> Account:
    """A key of the ceiling's own: wrk sends it in the Authorization header, as to Kassa."""
    return Account(
        id=CEILING_ACCOUNT_ID,
        secret_key=f"sk_test_ceiling_{secrets.token_hex(SECRET_KEY_RANDOM_BYTES)}",
    )


@contextlib.contextmanager
def running_ceiling(
    run_dir: Path, cpus: CpuPlan, ready_timeout: float, account: Account
) -> Iterator[Server]:
    """The ceiling app on a free 127.0.0.1 port, pinned where `kassa serve` is."""
    database = run_dir / CEILING_DATABASE_FILE_NAME

    def command(port: int) -> list[str]:
        return [
            sys.executable,
            str(CEILING_APP),
            "--port",
            str(port),
            "--database",
            str(database),
            "--account",
            account.id,
            "--secret-key",
            account.secret_key,
        ]

    log_path = run_dir / "ceiling.log"
    print(f"starting the ceiling ({cpus.describe()}); log: {log_path}", file=sys.stderr)
    with running_http_server(
        "the ceiling", command, log_path, cpus, ready_timeout, account.secret_key
    ) as server:
        yield server


def seed_ceiling(run_dir: Path, account: Account, count: int, ids_file: Path) -> None:
    """As many customers in the ceiling's table as Kassa's seed holds, straight through SQL."""
    if count == 0:
        return
    print(f"seeding the ceiling's table with {count:,} customers", file=sys.stderr)
    started = time.monotonic()
    seed_customers(str(run_dir / CEILING_DATABASE_FILE_NAME), account.id, count, ids_file)
    print(f"  ceiling seeded in {time.monotonic() - started:.1f}s", file=sys.stderr)


# --- Kassa beside the ceiling -----------------------------------------------------------


def ratio(numerator: float, denominator: float) -> float:
    if not denominator or math.isnan(numerator) or math.isnan(denominator):
        return math.nan
    return numerator / denominator


def versus_rows(
    kassa: Sequence[ScenarioResult], ceiling: Sequence[ScenarioResult]
) -> list[dict[str, Any]]:
    """Per scenario and concurrency: both figures and Kassa's as a ratio of the ceiling's."""
    by_key = {(result.scenario, result.concurrency): result for result in ceiling}
    rows: list[dict[str, Any]] = []
    for result in kassa:
        other = by_key.get((result.scenario, result.concurrency))
        if other is None:
            continue
        rows.append(
            {
                "scenario": result.scenario,
                "concurrency": result.concurrency,
                "kassa_rps": round(result.rps, 1),
                "ceiling_rps": round(other.rps, 1),
                "rps_ratio": round(ratio(result.rps, other.rps), 3),
                "kassa_p99_ms": round(result.latency_ms("p99"), 3),
                "ceiling_p99_ms": round(other.latency_ms("p99"), 3),
                "p99_ratio": round(ratio(result.latency_ms("p99"), other.latency_ms("p99")), 3),
                "kassa_cpu_us": round(result.cpu_us_per_request, 1),
                "ceiling_cpu_us": round(other.cpu_us_per_request, 1),
                # Inverted, so that it reads like rps_ratio: the ceiling's cost per request
                # as a share of Kassa's (0.5: Kassa spends twice the CPU on a request).
                "cpu_ratio": round(ratio(other.cpu_us_per_request, result.cpu_us_per_request), 3),
            }
        )
    return rows


def versus_table(rows: Sequence[Mapping[str, Any]]) -> str:
    header = (
        f"{'scenario':<10} {'conc':>4} {'kassa r/s':>10} {'ceil r/s':>10} {'ratio':>6}   "
        f"{'kassa p99':>9} {'ceil p99':>9} {'ratio':>6}   "
        f"{'kassa cpu':>9} {'ceil cpu':>9} {'ratio':>6}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row['scenario']:<10} {row['concurrency']:>4} {row['kassa_rps']:>10,.0f} "
            f"{row['ceiling_rps']:>10,.0f} {row['rps_ratio']:>6.2f}   "
            f"{row['kassa_p99_ms']:>9.2f} {row['ceiling_p99_ms']:>9.2f} {row['p99_ratio']:>6.2f}   "
            f"{row['kassa_cpu_us']:>9.1f} {row['ceiling_cpu_us']:>9.1f} {row['cpu_ratio']:>6.2f}"
        )
    return "\n".join(lines)


def ceiling_checks(
    rows: Sequence[Mapping[str, Any]],
    *,
    concurrency: int,
    min_rps_ratio: Mapping[str, float],
    max_p99_ratio: float,
) -> list[dict[str, Any]]:
    """The issue's targets against the ceiling, as checks (reported, never asserted)."""
    checks: list[dict[str, Any]] = []
    for row in rows:
        if row["concurrency"] != concurrency:
            continue
        name = f"{row['scenario']} c{concurrency}"
        required = min_rps_ratio.get(row["scenario"])
        if required is not None:
            checks.append(
                {
                    "target": f"{name} req/s >= {required:.0%} of the ceiling's",
                    "value": row["rps_ratio"],
                    "met": row["rps_ratio"] >= required,
                }
            )
        checks.append(
            {
                "target": f"{name} p99 <= {max_p99_ratio:g}x the ceiling's",
                "value": row["p99_ratio"],
                "met": row["p99_ratio"] <= max_p99_ratio,
            }
        )
    return checks


def ceiling_report(
    results: Sequence[ScenarioResult], rows: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The results file's "ceiling" section: what it does, its own figures, the ratios."""
    scenarios = sorted({result.scenario for result in results})
    return {
        "app": "bench/ceiling_app.py (bare ASGI on uvicorn, uvloop + httptools, sqlite3 WAL, "
        "synchronous=NORMAL, group commit)",
        "work": {name: CEILING_WORK[name] for name in scenarios if name in CEILING_WORK},
        "scenarios": [result.as_json() for result in results],
        "versus": list(rows),
    }
