"""What `kassa import` prints: the errors (line, field, message, in line order, all at once
after the pass that found them), a summary, and on a terminal a progress bar on stderr.

`--json`: one JSON object per line on stdout, `{"type": "error", "line", "field",
"message"}` for each error, then `{"type": "summary", ...}`.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import TextIO

from kassa import progress
from kassa.imports.pipeline import Tally
from kassa.imports.rows import RowError

PROGRESS_REDRAW_ROWS = 5_000
"""Rows between redraws: a batch takes milliseconds, a terminal needs no more."""


@dataclass(frozen=True)
class Summary:
    kind: str
    object_name: str
    path: str
    account_id: str
    tally: Tally
    written: bool
    """Whether the writing pass ran (all or nothing: not when validation found any invalid
    row)."""
    seconds: float


def print_errors(errors: list[RowError], omitted: int, *, as_json: bool, out: TextIO) -> None:
    for error in errors:
        if as_json:
            out.write(json.dumps({"type": "error", **_error_fields(error)}) + "\n")
        else:
            field = f" {error.field}:" if error.field else ""
            out.write(f"line {error.line}:{field} {error.message}\n")
    if omitted and not as_json:
        out.write(f"... and {omitted:,} more invalid rows\n")


def _error_fields(error: RowError) -> dict[str, object]:
    return {"line": error.line, "field": error.field, "message": error.message}


def print_summary(summary: Summary, *, as_json: bool, out: TextIO) -> None:
    tally = summary.tally
    if as_json:
        out.write(
            json.dumps(
                {
                    "type": "summary",
                    "kind": summary.kind,
                    "file": summary.path,
                    "account": summary.account_id,
                    "rows": tally.rows,
                    "created": tally.created,
                    "existing": tally.existing,
                    "invalid": tally.invalid,
                    "errors_omitted": tally.errors_omitted,
                    "written": summary.written,
                    "stopped_at": None
                    if tally.stopped_at is None
                    else _error_fields(tally.stopped_at),
                    "seconds": round(summary.seconds, 3),
                }
            )
            + "\n"
        )
        return
    out.write(_summary_line(summary) + "\n")


def _summary_line(summary: Summary) -> str:
    tally = summary.tally
    created = "created" if summary.written else "to create"
    counts = (
        f"{tally.rows:,} rows: {tally.created:,} {created}, {tally.existing:,} existing, "
        f"{tally.invalid:,} invalid"
    )
    head = f"kassa import {summary.kind} {summary.path} into {summary.account_id}: {counts}"
    timing = f"in {summary.seconds:.1f} s"
    if tally.stopped_at is not None:
        return (
            f"{head}; stopped at line {tally.stopped_at.line} {timing}: the rows before it "
            "are written, and importing the fixed file again skips them as existing"
        )
    if not summary.written and tally.invalid:
        return (
            f"{head}; nothing written {timing} (all or nothing: fix the rows above, or pass "
            "--skip-invalid to write the valid ones)"
        )
    created = f"; one {summary.object_name}.created event each" if tally.created else ""
    left_out = "; the invalid rows above are left out" if tally.invalid else ""
    return f"{head}{created}{left_out} {timing}"


class ProgressBar:
    """`phase [####      ] 45% 123,456 rows` on stderr, redrawn in place; silent unless
    stderr is a terminal."""

    def __init__(self, phase: str, size_bytes: int, stream: TextIO = sys.stderr) -> None:
        self._phase = phase
        self._size_bytes = max(size_bytes, 1)
        self._stream = stream
        self._enabled = stream.isatty()
        self._drawn_at_rows = 0
        self._drawn = False

    def __call__(self, rows: int, position_bytes: int) -> None:
        if not self._enabled or rows - self._drawn_at_rows < PROGRESS_REDRAW_ROWS:
            return
        self._drawn_at_rows = rows
        self._drawn = True
        progress.draw(
            self._stream, position_bytes / self._size_bytes, self._phase, f"{rows:,} rows"
        )

    def finish(self) -> None:
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
