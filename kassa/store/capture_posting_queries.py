"""SQL behind card payments captured asynchronously: the ledger posting each such charge has
still to come (table `capture_postings`), the job's scan for those due in real time across
accounts, those of test clocks at rest, one account's (posted before its balance is read),
taking one (the claim that makes a posting happen once), and a deleted test clock's
postings handed to real time. The real-time scan, postponement, claim and release are
`due_order`'s, shared with `refund_failures`. Mixed into `Transaction`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from kassa.invariants import ensure
from kassa.store import due_order
from kassa.store.due_order import REAL_TIME, DueColumn, DueCursor, DueRow

if TYPE_CHECKING:
    from kassa.store.queries import Executor

CAPTURE_POSTINGS: Final = DueColumn("capture_postings", "posts_at", REAL_TIME)
"""The real-time scan: one range of the `capture_postings_due` index."""


@dataclass(frozen=True)
class RestingClockPosting:
    """A posting still to come on a test clock that is not advancing (its customer paid
    between advances)."""

    account_id: str
    clock_id: str
    charge_id: str


@dataclass(frozen=True)
class ScheduledCapturePosting:
    """A captured charge's posting to come: when (on the clock that governs the charge), and
    the amount captured, in the charge's currency."""

    posts_at: int
    amount: int


class CapturePostingQueries:
    _db: Executor

    async def schedule_capture_posting(
        self,
        account_id: str,
        charge_id: str,
        posting: ScheduledCapturePosting,
        test_clock: str | None,
    ) -> None:
        await self._db.execute(
            "INSERT INTO capture_postings (account_id, id, posts_at, test_clock, amount) "
            "VALUES (?, ?, ?, ?, ?)",
            (account_id, charge_id, posting.posts_at, test_clock, posting.amount),
        )

    async def capture_postings_due(
        self, now: int, cursor: DueCursor | None, limit: int
    ) -> list[DueRow]:
        """Up to `limit` postings (`object_id`: the charge) due at `now` in real time, after
        `cursor`, across accounts."""
        return await due_order.scan_due(self._db, CAPTURE_POSTINGS, now, cursor, limit)

    async def account_capture_postings(self, account_id: str, now: int, limit: int) -> list[str]:
        """Up to `limit` charges of the account whose posting is due in real time at `now`,
        earliest first (the account's balance is about to be read). A posting is due from
        its capture on, so this is every posting still to come but those the job postponed
        after a failure: a read of the balance must not fail on them."""
        rows = await self._db.fetchall(
            "SELECT id FROM capture_postings WHERE account_id = ? AND test_clock IS NULL "
            "AND posts_at <= ? ORDER BY posts_at, id LIMIT ?",
            (account_id, now, limit),
        )
        ensure(len(rows) <= limit, "a scan of an account's capture postings keeps its limit")
        return [str(row[0]) for row in rows]

    async def resting_clock_capture_postings(self, limit: int) -> list[RestingClockPosting]:
        """Up to `limit` postings to come on test clocks whose status is `ready`, across
        accounts, grouped by clock, each clock's earliest first (the clock index's order);
        those of an advancing clock are its advance's work."""
        rows = await self._db.fetchall(
            "SELECT cp.account_id, cp.test_clock, cp.id FROM capture_postings cp "
            "JOIN test_clocks tc ON tc.id = cp.test_clock AND tc.account_id = cp.account_id "
            "WHERE cp.test_clock IS NOT NULL AND tc.status = 'ready' AND tc.deleted = 0 "
            "ORDER BY cp.test_clock, cp.posts_at, cp.id LIMIT ?",
            (limit,),
        )
        ensure(len(rows) <= limit, "a scan of resting clocks' postings keeps its limit")
        return [RestingClockPosting(str(r[0]), str(r[1]), str(r[2])) for r in rows]

    async def postpone_capture_posting(self, entry: DueRow, until: int) -> bool:
        """Move a real-time posting still due at `entry.due_at` (not taken since the scan)
        to `until`; whether it moved."""
        return await due_order.postpone_due(self._db, CAPTURE_POSTINGS, entry, until)

    async def take_capture_posting(
        self, account_id: str, charge_id: str
    ) -> ScheduledCapturePosting | None:
        """The charge's posting to come, removed in this unit of work; None if none is left
        (posted already)."""
        row = await due_order.take_scheduled(
            self._db, CAPTURE_POSTINGS.table, account_id, charge_id, "posts_at, amount"
        )
        return None if row is None else ScheduledCapturePosting(int(row[0]), int(row[1]))

    async def release_clock_capture_postings(self, account_id: str, clock_id: str) -> None:
        """A deleted clock's charges: their postings come in real time from now on."""
        await due_order.release_clock_rows(self._db, CAPTURE_POSTINGS.table, account_id, clock_id)
