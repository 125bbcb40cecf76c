"""The order the real-time scans for due work read in (due time, then id), and where the
next batch of one resumes: after the last row the scan has read, so that a run walks past
the rows it has tried, including those that failed and are still due where they were.
Row values compare in that order on both engines, and the scans' indexes hold
(due time, id): a batch is one index range, however many rows share a due time (migration
0037 left every live subscription due at 0).

The scans that read no more than (account, id, due time) share one implementation here
(`scan_due`, `postpone_due`), each declared by its `DueColumn`; so do the tables of work
scheduled once per object on the clock that governs it (`authorization_expiries`,
`refund_failures`: `take_scheduled`, `release_clock_rows`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from kassa.invariants import ensure

if TYPE_CHECKING:
    from kassa.store.queries import Executor, Row

REAL_TIME: Final = " AND test_clock IS NULL"
"""A scan's scope to rows no test clock governs (a clock's advance does its own)."""


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


@dataclass(frozen=True)
class DueRow:
    """An object with work due, as a scan read it: a payout whose next status change has
    come, an account (`object_id` = its balance settings id) whose automatic payout is due,
    a charge whose authorization expires, a refund that fails."""

    account_id: str
    object_id: str
    due_at: int


@dataclass(frozen=True)
class DueColumn:
    """Where one scan for due work reads its due time."""

    table: str
    column: str
    scope: str
    """The rest of the scan's index condition (with its leading AND)."""


async def scan_due(
    db: Executor,
    scan: DueColumn,
    now: int,
    cursor: DueCursor | None,
    limit: int,
    account_id: str | None = None,
) -> list[DueRow]:
    """Up to `limit` rows of `scan` due at `now` (of one account, or all), after `cursor` in
    (due time, id) order, the longest due first: one range of the scan's index."""
    resume, resume_args = after(scan.column, cursor)
    scope = "" if account_id is None else " AND account_id = ?"
    rows = await db.fetchall(
        f"SELECT account_id, id, {scan.column} FROM {scan.table} "
        f"WHERE {scan.column} <= ?{resume}{scan.scope}{scope} "
        f"ORDER BY {scan.column}, id LIMIT ?",
        (now, *resume_args, *(() if account_id is None else (account_id,)), limit),
    )
    ensure(len(rows) <= limit, f"a scan of due {scan.table} returns at most its limit")
    return [DueRow(str(r[0]), str(r[1]), int(r[2])) for r in rows]


async def postpone_due(db: Executor, scan: DueColumn, entry: DueRow, until: int) -> bool:
    """Move the due column of `entry`'s row, still at `entry.due_at` (no unit has done or
    rescheduled its work since the scan), to `until`; whether it moved."""
    ensure(until > entry.due_at, "work is postponed to a later time")
    row = await db.fetchone(
        postpone_sql(scan.table, scan.column, scan.scope),
        (until, entry.account_id, entry.object_id, entry.due_at),
    )
    return row is not None


async def take_scheduled(
    db: Executor, table: str, account_id: str, object_id: str, returning: str
) -> Row | None:
    """The object's scheduled work, its row removed in this unit of work (the claim that
    makes the work happen once), `returning` its columns; None if none is left (another
    unit took it first: on PostgreSQL the delete waits for that unit, then finds nothing)."""
    return await db.fetchone(
        f"DELETE FROM {table} WHERE account_id = ? AND id = ? RETURNING {returning}",
        (account_id, object_id),
    )


async def release_clock_rows(db: Executor, table: str, account_id: str, clock_id: str) -> None:
    """A deleted test clock's scheduled work: it comes in real time from now on."""
    await db.execute(
        f"UPDATE {table} SET test_clock = NULL WHERE test_clock = ? AND account_id = ?",
        (clock_id, account_id),
    )
