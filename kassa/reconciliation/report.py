"""What a reconciliation shows: the `--json` object, the readable summary, the samples of
breaks a recorded run keeps, and the progress bar on a terminal."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, TextIO

import duckdb

from kassa import progress
from kassa.reconciliation.engine import Reconciliation
from kassa.reconciliation.inputs import sql_text

PROGRESS_POLL_SECONDS: Final = 0.2

LABELS: Final = {
    "matched": "matched",
    "missing_in_bank": "missing in the bank file",
    "missing_in_ledger": "missing in the ledger",
    "discrepant": "discrepant (amount or currency differs)",
    "duplicate_ids_in_ledger": "ids more than once in the ledger",
    "duplicate_ids_in_bank": "ids more than once in the bank file",
    "rejected_ledger": "rejected ledger rows",
    "rejected_bank": "rejected bank rows",
    "ambiguous_in_ledger": "payouts with several candidate bank lines",
    "ambiguous_in_bank": "bank lines with several candidate payouts",
}


def json_report(
    result: Reconciliation, extra_files: Mapping[str, Path], run_id: str | None = None
) -> str:
    """One JSON object: each outcome's count, then `files` (outcome -> path), and the
    recorded run's id under `run` when the run was recorded."""
    document: dict[str, Any] = dict(result.counts)
    document["files"] = {name: str(path) for name, path in {**result.files, **extra_files}.items()}
    if run_id is not None:
        document["run"] = run_id
    return json.dumps(document)


def summary(result: Reconciliation, out_dir: Path, stream: TextIO) -> None:
    width = max(len(LABELS[name]) for name in result.counts)
    for name, count in result.counts.items():
        stream.write(f"  {LABELS[name]:<{width}}  {count:>12,}\n")
    verdict = "everything matched" if result.breaks == 0 else f"{result.breaks:,} breaks"
    stream.write(f"{verdict}; one CSV file per outcome in {out_dir}\n")


def samples(
    con: duckdb.DuckDBPyConnection, result: Reconciliation, per_outcome: int
) -> dict[str, list[dict[str, Any]]]:
    """The first `per_outcome` rows of each break's file (what a recorded run keeps)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for outcome, path in result.files.items():
        if outcome == "matched" or result.counts.get(outcome, 0) == 0:
            continue
        relation = con.execute(
            f"SELECT * FROM read_csv({sql_text(str(path))}, header = true, "
            f"all_varchar = true) LIMIT {int(per_outcome)}"
        )
        names = [column[0] for column in relation.description or ()]
        found[outcome] = [dict(zip(names, row, strict=True)) for row in relation.fetchall()]
    return found


@contextmanager
def progress_bar(con: duckdb.DuckDBPyConnection, stream: TextIO | None) -> Iterator[None]:
    """A bar on `stream` (a terminal; None: none) while queries run on `con`.

    Drawn by hand from `query_progress()` rather than with DuckDB's own bar, which writes to
    standard output, where `--json` puts its object."""
    if stream is None:
        yield
        return
    done = threading.Event()

    def draw() -> None:
        while not done.wait(PROGRESS_POLL_SECONDS):
            share = con.query_progress()
            if share < 0:
                continue
            progress.draw(stream, share / 100)
        progress.clear(stream)

    drawer = threading.Thread(target=draw, name="kassa-reconcile-progress", daemon=True)
    drawer.start()
    try:
        yield
    finally:
        done.set()
        drawer.join()
