"""SQL behind refunds that fail after they were made: the failure each such refund has still
to come (table `refund_failures`), the job's scan for those due in real time across
accounts, taking one (the claim that makes failing a refund happen once), and a deleted test
clock's failures handed to real time. The scan, postponement, claim and release are
`due_order`'s, shared with `authorization_expiries`. Mixed into `Transaction`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from kassa.store import due_order
from kassa.store.due_order import REAL_TIME, DueColumn, DueCursor, DueRow

if TYPE_CHECKING:
    from kassa.store.queries import Executor

REFUND_FAILURES: Final = DueColumn("refund_failures", "fails_at", REAL_TIME)
"""The real-time scan: one range of the `refund_failures_due` index."""


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
    ) -> list[DueRow]:
        """Up to `limit` failures (`object_id`: the refund) due at `now` in real time, after
        `cursor`, across accounts."""
        return await due_order.scan_due(self._db, REFUND_FAILURES, now, cursor, limit)

    async def postpone_refund_failure(self, entry: DueRow, until: int) -> bool:
        """Move a real-time failure still due at `entry.due_at` (not taken since the scan)
        to `until`; whether it moved. The row is the failure's only record of its time."""
        return await due_order.postpone_due(self._db, REFUND_FAILURES, entry, until)

    async def take_refund_failure(
        self, account_id: str, refund_id: str
    ) -> ScheduledRefundFailure | None:
        """The refund's failure, removed in this unit of work; None if none is left."""
        row = await due_order.take_scheduled(
            self._db, REFUND_FAILURES.table, account_id, refund_id, "fails_at, failure_reason"
        )
        return None if row is None else ScheduledRefundFailure(int(row[0]), str(row[1]))

    async def release_clock_refund_failures(self, account_id: str, clock_id: str) -> None:
        """A deleted clock's refunds: their failures come in real time from now on."""
        await due_order.release_clock_rows(self._db, REFUND_FAILURES.table, account_id, clock_id)
