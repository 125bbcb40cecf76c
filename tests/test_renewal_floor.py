"""`bench/renewal_floor.py` end to end on a tiny run: it reaches into the store's executor to
record statements, so a change there must not leave the benchmark silently broken."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SUBSCRIPTIONS = 3
MONTHS = 2
RUN_TIMEOUT_SECONDS = 300


def test_a_tiny_run_records_replays_and_reports(tmp_path: Path) -> None:
    output = tmp_path / "floor.json"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "renewal_floor.py"),
            f"--subscriptions={SUBSCRIPTIONS}",
            f"--months={MONTHS}",
            f"--work-dir={tmp_path / 'work'}",
            f"--output={output}",
            f"--kassa={Path(sys.executable).parent / 'kassa'}",
        ],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = json.loads(output.read_text())
    assert report["renewals"] == SUBSCRIPTIONS * MONTHS
    assert report["problems"] == []
    # Every renewal writes an invoice; the replay ran the recorded statements, commits too.
    counts = report["statement_counts"]
    assert counts["INSERT (executemany)"] > 0
    assert counts["COMMIT"] == counts["BEGIN"] > 0
    assert any(
        kind.startswith("INSERT invoices") for kind in report["replay_us_per_renewal_by_kind"]
    )
    for timing in report["timings"].values():
        assert timing["cpu_s"] > 0
    assert output.with_suffix(".txt").read_text().startswith("Renewal floor")
    # The run's databases are removed unless --keep-data.
    assert not any((tmp_path / "work").iterdir())
