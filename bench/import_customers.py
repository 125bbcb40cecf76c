"""Benchmark `kassa import customers`: a deterministic CSV of --rows customers (email, name,
phone, an address, a metadata key; default 1,000,000), imported into a fresh account by the
real command as a subprocess, then imported again (every row `existing`).

    python bench/import_customers.py [--rows 1000000] [--database URL]

Reported for each run: wall time (the whole command: interpreter start, imports, migration
check, both passes), rows per second, and the command's peak resident memory (its own
rusage, from wait4). Results go to bench/results/import-<stamp>.json. Bounded: --rows is
checked against ROWS_MAX and every command has a timeout.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from bench_cli import EXIT_OK, add_storage_arguments, find_kassa, run_main
from bench_harness import (
    DEFAULT_RESULTS_DIR,
    BenchError,
    choose_database,
    create_account,
    display_path,
    make_run_dir,
    remove_database_files,
)

from kassa.imports.pipeline import ROWS_PER_UNIT

ROWS_DEFAULT: Final = 1_000_000
ROWS_MAX: Final = 10_000_000
IMPORT_TIMEOUT_S: Final = 3 * 3600.0
"""A bound on one import: far beyond the minutes a million rows should take."""
WAIT_POLL_S: Final = 0.05
CITIES: Final = ("Berlin", "Lisbon", "Oslo", "Austin", "Osaka", "Lyon", "Porto")
PLANS: Final = ("free", "pro", "team")
HEADER: Final = (
    "external_id",
    "email",
    "name",
    "phone",
    "description",
    "address[line1]",
    "address[city]",
    "address[postal_code]",
    "address[country]",
    "metadata[plan]",
)


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=ROWS_DEFAULT)
    parser.add_argument(
        "--no-rerun", action="store_true", help="skip the second import of the same file"
    )
    parser.add_argument("--kassa", type=Path, help="the kassa executable (default: the venv's)")
    add_storage_arguments(parser, "import")
    args = parser.parse_args(argv)
    if not 1 <= args.rows <= ROWS_MAX:
        parser.error(f"--rows must be 1..{ROWS_MAX}")
    return args


def write_csv(path: Path, rows: int) -> None:
    """The same file for the same --rows: every value follows from the row's number."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for number in range(rows):  # bounded: ROWS_MAX
            writer.writerow(
                (
                    f"crm-{number:08d}",
                    f"customer{number}@example.com",
                    f"Customer {number}",
                    f"+1555{number % 10_000_000:07d}",
                    f"Imported customer number {number}",
                    f"{number % 997 + 1} Main Street",
                    CITIES[number % len(CITIES)],
                    f"{10_000 + number % 89_999}",
                    "US",
                    PLANS[number % len(PLANS)],
                )
            )


def run_import(kassa: Path, url: str, account_id: str, csv_path: Path) -> dict[str, Any]:
    """One `kassa import customers` run: its summary, wall seconds and peak RSS (the
    command's own, from wait4: a maximum over all children would mix the runs)."""
    command = [
        str(kassa), "import", "customers", str(csv_path),
        "--account", account_id, "--json", "--database", url,
    ]  # fmt: skip
    out_path, err_path = csv_path.with_suffix(".out"), csv_path.with_suffix(".err")
    with out_path.open("w") as out, err_path.open("w") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, status, usage = _wait_bounded(process)
        seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise BenchError(f"kassa import exited {code}:\n{err_path.read_text()[-2000:]}")
    summary = json.loads(out_path.read_text().strip().splitlines()[-1])
    return {
        "summary": summary,
        "seconds": round(seconds, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),  # Linux reports KiB
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
    }


def _wait_bounded(process: subprocess.Popen[bytes]) -> tuple[int, int, Any]:
    """wait4 on the child, killing it past IMPORT_TIMEOUT_S."""
    deadline = time.monotonic() + IMPORT_TIMEOUT_S
    while time.monotonic() < deadline:  # bounded: the deadline
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid == process.pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return pid, status, usage
        time.sleep(WAIT_POLL_S)
    process.kill()
    os.wait4(process.pid, 0)
    raise BenchError(f"the import took over {IMPORT_TIMEOUT_S} s")


def run(args: argparse.Namespace) -> int:
    kassa = find_kassa(args.kassa)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = make_run_dir(args.work_dir, stamp, "import")
    url, database = choose_database(args.database, run_dir)
    csv_path = run_dir / "customers.csv"
    try:
        started = time.perf_counter()
        write_csv(csv_path, args.rows)
        generate_seconds = time.perf_counter() - started
        account = create_account(kassa, url)
        runs = {"first": run_import(kassa, url, account.id, csv_path)}
        check(runs["first"]["summary"], created=args.rows, existing=0)
        if not args.no_rerun:
            runs["rerun"] = run_import(kassa, url, account.id, csv_path)
            check(runs["rerun"]["summary"], created=0, existing=args.rows)
        result = results(args, url, csv_path, generate_seconds, runs, stamp)
    finally:
        for leftover in (csv_path, csv_path.with_suffix(".out"), csv_path.with_suffix(".err")):
            leftover.unlink(missing_ok=True)
        if database is not None:
            remove_database_files(database)
        with contextlib.suppress(OSError):  # left when --work-dir holds other files
            run_dir.rmdir()
    output = args.output or DEFAULT_RESULTS_DIR / f"import-{stamp}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"results: {display_path(output)}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(parse_arguments, run, argv)


def check(summary: dict[str, Any], *, created: int, existing: int) -> None:
    found = (summary["created"], summary["existing"], summary["invalid"])
    if found != (created, existing, 0):
        raise BenchError(f"expected {created} created, {existing} existing, got {summary}")


def results(
    args: argparse.Namespace,
    url: str,
    csv_path: Path,
    generate_seconds: float,
    runs: dict[str, dict[str, Any]],
    stamp: str,
) -> dict[str, Any]:
    for run in runs.values():
        run["rows_per_second"] = round(args.rows / run["seconds"])
    return {
        "benchmark": "kassa import customers",
        "stamp": stamp,
        "rows": args.rows,
        "engine": "postgresql" if url.startswith("postgres") else "sqlite",
        "rows_per_unit": ROWS_PER_UNIT,
        "csv_bytes_per_row": round(csv_path.stat().st_size / args.rows),
        "generate_seconds": round(generate_seconds, 2),
        "runs": runs,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "argv": sys.argv[1:],
    }


if __name__ == "__main__":
    sys.exit(main())
