"""The crash harness (bench/crash_harness.py) in a short form: a few SIGKILLs of `kassa serve`
under mixed load, on SQLite and PostgreSQL; nothing acknowledged lost, nothing run twice,
every event delivered, the ledger whole. The long form (100 kills) is in bench/README.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import fresh_database

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 5
HARNESS_TIMEOUT_SECONDS = 600


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_kills_lose_nothing_and_run_nothing_twice(engine: str, tmp_path: Path) -> None:
    output = tmp_path / "crash.json"
    with fresh_database(engine, tmp_path) as database_url:
        database = [] if engine == "sqlite" else ["--database", database_url]
        finished = subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "crash_harness.py"),
                *("--rounds", str(ROUNDS), "--work-dir", str(tmp_path), "--output", str(output)),
                *("--kassa", str(Path(sys.executable).parent / "kassa"), *database),
            ],
            capture_output=True,
            text=True,
            timeout=HARNESS_TIMEOUT_SECONDS,
            check=False,
            cwd=ROOT,
        )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    results = json.loads(output.read_text())
    assert results["rounds"] == ROUNDS
    assert results["requests_acknowledged"] > 0
    assert results["attempts_unanswered"] > 0  # the kills did cut requests off
    assert (results["lost_count"], results["events_undelivered"]) == (0, 0)
    assert results["executed_twice"] == dict.fromkeys(
        ("customers", "payment_intents", "charges", "refunds", "invoices"), 0
    )
    assert results["ledger"]["ok"]
