"""Benchmark `kassa reconcile` on two generated CSV files, against a plain DuckDB full outer
join of the same files as the reference.

    python bench/reconcile.py [--rows 1000000] [--seed 15] [--repeat 1] [--keep]

1. Generates a ledger and a bank file of about --rows rows each (about 37 bytes a row) with
   DuckDB's COPY: ids `txn_` + 14 digits, a known share of every outcome (SHARES, per
   thousand ids, by id number), rows in an order shuffled by --seed.
2. Runs `python -m kassa reconcile LEDGER BANK --out DIR --json` as a subprocess, end to
   end (start, validation, comparison, every outcome's CSV file written), and checks its
   counts against the known ones.
3. Runs the reference in a subprocess too: DuckDB's `read_csv` of both files (all columns
   as text) in a FULL OUTER JOIN on id, counting both sides' unmatched rows and the equal
   ones (no validation, no duplicates, no files written).
4. Runs the floor, also as a subprocess: the least any reconciliation of these files must
   do, which is to read every row's id, amount and currency from both files and write the
   matched rows to a CSV file (DuckDB's inner join on all three, `COPY ... TO`). It shows
   how far the goal of GOAL_TIME_RATIO of the reference can be met at all: on this
   machine the floor alone takes about twice the reference (bench/README.md).
Each is timed from start to exit; peak RSS is the child's own (`os.wait4`; the files are
generated in a separate process, so that this one stays small: a child's peak starts from
its parent's at the fork). With --repeat
the runs alternate (kassa, reference, kassa, ...) and the best time of each is compared.
Results go to bench/results/reconcile-<stamp>.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

import duckdb

RESULTS_DIR: Final = Path(__file__).resolve().parent / "results"
ROWS_MAX: Final = 100_000_000
REPEAT_MAX: Final = 10
RUN_TIMEOUT_SECONDS: Final = 3_600
GOAL_TIME_RATIO: Final = 0.75
GOAL_PEAK_RSS_BYTES: Final = int(1.5 * 2**30)

SHARES: Final = {
    # outcome: (first, last) id number mod 1000, inclusive
    "missing_in_bank": (0, 9),  # 1.0 %: in the ledger only
    "missing_in_ledger": (10, 19),  # 1.0 %: in the bank only
    "discrepant_amount": (20, 29),  # 1.0 %
    "discrepant_currency": (30, 34),  # 0.5 %
    "duplicate_in_ledger": (35, 39),  # 0.5 %: the ledger has the row twice
    "duplicate_in_bank": (40, 44),  # 0.5 %
    "rejected_ledger": (45, 49),  # 0.5 %: the ledger's amount is not an integer
    "rejected_bank": (50, 54),  # 0.5 %: the bank's currency is unknown
}


def _between(name: str) -> str:
    first, last = SHARES[name]
    return f"(i % 1000 BETWEEN {first} AND {last})"


def generate(folder: Path, rows: int, seed: int) -> tuple[Path, Path]:
    con = duckdb.connect()
    con.execute(
        "CREATE VIEW base AS SELECT i, printf('txn_%014d', i) AS id, "
        "(hash(i) % 1000000)::BIGINT + 100 AS amount, "
        "strftime(DATE '2026-11-01' + (i % 28)::INTEGER, '%Y-%m-%d') AS date "
        f"FROM range({rows}) t(i)"
    )
    ledger = f"""
        SELECT id, CASE WHEN {_between("rejected_ledger")} THEN amount || '.5'
                        ELSE amount::VARCHAR END AS amount, 'usd' AS currency, date
        FROM base WHERE NOT {_between("missing_in_ledger")}
        UNION ALL SELECT id, amount::VARCHAR, 'usd', date FROM base
        WHERE {_between("duplicate_in_ledger")}"""
    bank = f"""
        SELECT id, CASE WHEN {_between("discrepant_amount")} THEN (amount + 1)::VARCHAR
                        ELSE amount::VARCHAR END AS amount,
               CASE WHEN {_between("discrepant_currency")} THEN 'eur'
                    WHEN {_between("rejected_bank")} THEN 'usx' ELSE 'usd' END AS currency,
               date
        FROM base WHERE NOT {_between("missing_in_bank")}
        UNION ALL SELECT id, amount::VARCHAR, 'usd', date FROM base
        WHERE {_between("duplicate_in_bank")}"""
    paths = folder / "ledger.csv", folder / "bank.csv"
    for query, path, salt in ((ledger, paths[0], seed), (bank, paths[1], seed + 1)):
        con.execute(
            f"COPY (SELECT * FROM ({query}) ORDER BY hash(id, {salt})) TO '{path}' (HEADER)"
        )
    con.close()
    return paths


def expected(rows: int) -> dict[str, int]:
    con = duckdb.connect()

    def count(names: list[str]) -> int:
        where = " OR ".join(_between(name) for name in names)
        found = con.execute(f"SELECT count(*) FROM range({rows}) t(i) WHERE {where}").fetchone()
        return int(found[0]) if found else 0

    counts = {
        "missing_in_bank": count(["missing_in_bank"]),
        "missing_in_ledger": count(["missing_in_ledger"]),
        "discrepant": count(["discrepant_amount", "discrepant_currency"]),
        "duplicate_ids_in_ledger": count(["duplicate_in_ledger"]),
        "duplicate_ids_in_bank": count(["duplicate_in_bank"]),
        "rejected_ledger": count(["rejected_ledger"]),
        "rejected_bank": count(["rejected_bank"]),
    }
    # A rejected row's id is rejected only: its row in the other file is not missing.
    counts["matched"] = rows - sum(count([name]) for name in SHARES)
    con.close()
    return counts


REFERENCE = """
import sys, duckdb
ledger, bank = sys.argv[1], sys.argv[2]
row = duckdb.connect().execute(
    "SELECT count(*) FILTER (WHERE l.id IS NULL), count(*) FILTER (WHERE b.id IS NULL), "
    "count(*) FILTER (WHERE l.amount = b.amount AND l.currency = b.currency), count(*) "
    "FROM read_csv(?, all_varchar = true) l FULL OUTER JOIN read_csv(?, all_varchar = true) b "
    "ON l.id = b.id", [ledger, bank]).fetchone()
print(list(row))
"""

FLOOR = """
import sys, duckdb
ledger, bank, out = sys.argv[1], sys.argv[2], sys.argv[3]
duckdb.connect().execute(
    "COPY (SELECT l.id, l.amount, l.currency FROM read_csv(?, all_varchar = true) l "
    "JOIN read_csv(?, all_varchar = true) b "
    "ON l.id = b.id AND l.amount = b.amount AND l.currency = b.currency) TO '" + out
    + "' (HEADER)", [ledger, bank])
"""


def timed(command: list[str]) -> dict[str, Any]:
    """Run `command`; its wall time, its own peak RSS, its exit status and output."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        stdout = out.read().decode()
    stderr = child.stderr.read().decode() if child.stderr else ""
    return {
        "seconds": round(seconds, 3),
        "peak_rss_bytes": usage.ru_maxrss * 1024,
        "exit": child.returncode,
        "stdout": stdout,
        "stderr": stderr[-2000:],
    }


def run_kassa(ledger: Path, bank: Path, out: Path) -> dict[str, Any]:
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "kassa", "reconcile", str(ledger), str(bank)]
    return timed([*command, "--out", str(out), "--json"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--folder", type=Path, help="where to generate (default: a temp dir)")
    args = parser.parse_args()
    if not 1_000 <= args.rows <= ROWS_MAX or not 1 <= args.repeat <= REPEAT_MAX:
        parser.error(f"--rows is 1,000 to {ROWS_MAX:,}; --repeat 1 to {REPEAT_MAX}")
    folder = args.folder or Path(tempfile.mkdtemp(prefix="kassa-bench-reconcile-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return bench(args, folder)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


def bench(args: argparse.Namespace, folder: Path) -> int:
    started = time.perf_counter()
    # In a process of its own: Linux counts a child's peak RSS from its parent's at the
    # fork, and generating 10 million rows takes this process past a GiB.
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        ledger, bank = pool.apply(generate, (folder, args.rows, args.seed))
    generated_seconds = time.perf_counter() - started
    want = expected(args.rows)
    kassa_runs, reference_runs, floor_runs = [], [], []
    floor_out = folder / "floor-matched.csv"
    for _ in range(args.repeat):
        kassa_runs.append(run_kassa(ledger, bank, folder / "out"))
        reference_runs.append(timed([sys.executable, "-c", REFERENCE, str(ledger), str(bank)]))
        floor_runs.append(
            timed([sys.executable, "-c", FLOOR, str(ledger), str(bank), str(floor_out)])
        )
        floor_out.unlink(missing_ok=True)
    failures = [r for r in kassa_runs if r["exit"] not in (0, 1)]
    failures += [r for r in reference_runs + floor_runs if r["exit"] != 0]
    if failures:
        print(json.dumps(failures, indent=2), file=sys.stderr)
        return 2
    got = json.loads(kassa_runs[0]["stdout"])
    counts = {key: got[key] for key in want}
    best = min(kassa_runs, key=lambda r: r["seconds"])
    reference = min(reference_runs, key=lambda r: r["seconds"])
    floor = min(floor_runs, key=lambda r: r["seconds"])
    total_rows = _data_rows(ledger) + _data_rows(bank)
    result = {
        "rows_per_file": args.rows,
        "rows_total": total_rows,
        "bytes": {"ledger": ledger.stat().st_size, "bank": bank.stat().st_size},
        "seed": args.seed,
        "generated_seconds": round(generated_seconds, 2),
        "counts": counts,
        "counts_expected": want,
        "counts_ok": counts == want,
        "kassa": _figures(best, total_rows),
        "reference": _figures(reference, total_rows),
        "time_ratio": round(best["seconds"] / reference["seconds"], 3),
        "floor": _figures(floor, total_rows),
        "floor_time_ratio": round(floor["seconds"] / reference["seconds"], 3),
        "time_ratio_to_floor": round(best["seconds"] / floor["seconds"], 3),
        "goal_time_ratio": GOAL_TIME_RATIO,
        "goal_peak_rss_bytes": GOAL_PEAK_RSS_BYTES,
        "all_kassa_seconds": [r["seconds"] for r in kassa_runs],
        "all_reference_seconds": [r["seconds"] for r in reference_runs],
        "all_floor_seconds": [r["seconds"] for r in floor_runs],
        "cpus": os.cpu_count(),
        "duckdb": duckdb.__version__,
    }
    result["meets_time_goal"] = result["time_ratio"] <= GOAL_TIME_RATIO
    result["meets_memory_goal"] = best["peak_rss_bytes"] <= GOAL_PEAK_RSS_BYTES
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"reconcile-{stamp}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"written to {path}")
    return 0 if result["counts_ok"] else 1


def _data_rows(path: Path) -> int:
    found = duckdb.execute(
        "SELECT count(*) FROM read_csv(?, all_varchar = true)", [str(path)]
    ).fetchone()
    return int(found[0]) if found else 0


def _figures(run: dict[str, Any], total_rows: int) -> dict[str, Any]:
    return {
        "seconds": run["seconds"],
        "rows_per_second": round(total_rows / run["seconds"]),
        "peak_rss_bytes": run["peak_rss_bytes"],
        "peak_rss_mib": round(run["peak_rss_bytes"] / 2**20, 1),
    }


if __name__ == "__main__":
    sys.exit(main())
