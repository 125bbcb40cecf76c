"""The progress bar long commands draw on a terminal (`kassa reconcile`, `kassa import`):
one line, redrawn in place with a carriage return, on standard error so that `--json`
output on standard output stays clean. Hand-written: a dozen lines, where a library would
bring its own terminal handling for one line of text."""

from __future__ import annotations

from typing import Final, TextIO

BAR_CHARS: Final = 30


def draw(stream: TextIO, share: float, label: str = "", detail: str = "") -> None:
    """`label [#####.....]  45% detail`, over whatever the line held; `share` is 0 to 1."""
    share = min(max(share, 0.0), 1.0)
    filled = int(share * BAR_CHARS)
    bar = "#" * filled + "." * (BAR_CHARS - filled)
    head = f"{label} " if label else ""
    tail = f" {detail}" if detail else ""
    stream.write(f"\r{head}[{bar}] {share:4.0%}{tail}")
    stream.flush()


def clear(stream: TextIO, width: int = BAR_CHARS + 40) -> None:
    """Blank the bar's line, leaving the cursor at its start."""
    stream.write("\r" + " " * width + "\r")
    stream.flush()
