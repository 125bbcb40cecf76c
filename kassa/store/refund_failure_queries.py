"""SQL behind refunds that fail after they were made: the failure each such refund has still
to come (table `refund_failures`), the job's scan for those due in real time across
accounts, taking one (the claim that makes failing a refund happen once), and a deleted test
clock's failures handed to real time. Mixed into `Transaction`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kassa.invariants import ensure
from kassa.store.due_order import DueCursor, after, postpone_sql

if TYPE_CHECKING:
    from kassa.store.queries import Executor


@dataclass(frozen=True)
class DueRefundFailure:
    account_id: str
    refund_id: str
    fails_at: int

    @property
    def object_id(self) -> str:
        return self.refund_id

    @property
    def due_at(self) -> int:
        return self.fails_at


@dataclass(frozen=True)
class ScheduledRefundFailure:
    """A refund's failure to come: when (on the clock that governs the refund), and why."""

    fails_at: int
    failure_reason: str


class RefundFailureQueries:
    _db: Executor

    async def schedule_refund_failure(
        self,
        account_id: str,
        refund_id: str,
        failure: ScheduledRefundFailure,
        test_clock: str | None,
    ) -> None:
        await self._db.execute(
            "INSERT INTO refund_failures (account_id, id, fails_at, test_clock, failure_reason) "
            "VALUES (?, ?, ?, ?, ?)",
            (account_id, refund_id, failure.fails_at, test_clock, failure.failure_reason),
        )

    async def refund_failures_due(
        self, now: int, cursor: DueCursor | None, limit: int
    ) -> list[DueRefundFailure]:
        """Up to `limit` failures due at `now` in real time, after `cursor` in (`fails_at`,
        id) order (the longest due first), across accounts (not those a test clock governs:
        its advance does them); one range of the `refund_failures_due` index."""
        resume, resume_args = after("fails_at", cursor)
        rows = await self._db.fetchall(
            f"SELECT account_id, id, fails_at FROM refund_failures WHERE fails_at <= ?{resume} "
            "AND test_clock IS NULL ORDER BY fails_at, id LIMIT ?",
            (now, *resume_args, limit),
        )
        ensure(len(rows) <= limit, "a scan for due refund failures returns at most its limit")
        return [DueRefundFailure(str(r[0]), str(r[1]), int(r[2])) for r in rows]

    async def postpone_refund_failure(self, entry: DueRefundFailure, until: int) -> bool:
        """Move a real-time failure still due at `entry.fails_at` (not taken since the scan)
        to `until`; whether it moved. The row is the failure's only record of its time."""
        ensure(until > entry.fails_at, "a refund's failure is postponed to a later time")
        row = await self._db.fetchone(
            postpone_sql("refund_failures", "fails_at", " AND test_clock IS NULL"),
            (until, entry.account_id, entry.refund_id, entry.fails_at),
        )
        return row is not None

    async def take_refund_failure(
        self, account_id: str, refund_id: str
    ) -> ScheduledRefundFailure | None:
        """The refund's failure, removed in this unit of work; None if none is left (another
        unit took it first: on PostgreSQL the delete waits for that unit, then finds nothing)."""
        row = await self._db.fetchone(
            "DELETE FROM refund_failures WHERE account_id = ? AND id = ? "
            "RETURNING fails_at, failure_reason",
            (account_id, refund_id),
        )
        return None if row is None else ScheduledRefundFailure(int(row[0]), str(row[1]))

    async def release_clock_refund_failures(self, account_id: str, clock_id: str) -> None:
        """A deleted clock's refunds: their failures come in real time from now on."""
        await self._db.execute(
            "UPDATE refund_failures SET test_clock = NULL WHERE test_clock = ? AND account_id = ?",
            (clock_id, account_id),
        )
