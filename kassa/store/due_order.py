"""The order the real-time scans for due work read in (due time, then id), and where the
next batch of one resumes: after the last row the scan has read, so that a run walks past
the rows it has tried, including those that failed and are still due where they were.
Row values compare in that order on both engines, and the scans' indexes hold
(due time, id): a batch is one index range, however many rows share a due time (migration
0037 left every live subscription due at 0)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DueCursor:
    """The last row a scan read: the next batch starts after it."""

    due_at: int
    object_id: str


def after(column: str, cursor: DueCursor | None) -> tuple[str, tuple[int | str, ...]]:
    """The WHERE term (with its leading AND) and arguments of rows after `cursor` in
    (`column`, id) order; none for the first batch."""
    if cursor is None:
        return "", ()
    return f" AND ({column}, id) > (?, ?)", (cursor.due_at, cursor.object_id)


def postpone_sql(table: str, column: str, scope: str = "") -> str:
    """The UPDATE that moves one object's due `column` to a later time, only if it is still
    at the value a scan read (a unit that did the work or rescheduled it since then wins),
    and returns a row if it moved. Arguments: the new time, account id, id, the time read;
    `scope` (with its leading AND) keeps it to the rows the scan reads."""
    return (
        f"UPDATE {table} SET {column} = ? WHERE account_id = ? AND id = ? AND {column} = ?"
        f"{scope} RETURNING 1"
    )
