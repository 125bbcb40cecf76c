"""SQL behind test clocks advancing: the clocks with an advance under way (across accounts)
and the next piece of work due on one clock's objects. Mixed into `Transaction`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kassa.invariants import ensure

if TYPE_CHECKING:
    from kassa.store.queries import Executor


@dataclass(frozen=True)
class AdvancingClock:
    account_id: str
    clock_id: str


@dataclass(frozen=True, order=True)
class ClockWork:
    """One piece of work due on a clock's object. Ordered as a clock does its work: by due
    time, then by kind (WORK_KINDS order), then by object id."""

    due_at: int
    kind_rank: int
    object_id: str

    @property
    def kind(self) -> str:
        return WORK_KINDS[self.kind_rank]


WORK_KINDS = ("invoice_finalize", "invoice_attempt", "invoice_reminder")
"""The kinds of work a clock does, in the order it does those due at the same second: a
draft is finalized before an invoice is charged, and a charge is tried before a reminder
(which a successful charge makes moot)."""

_WORK_SCANS = (
    ("automatically_finalizes_at", "draft"),
    ("next_payment_attempt", "open"),
    ("next_reminder_at", "open"),
)
"""Per kind (WORK_KINDS order): the invoice column holding when it is due, and the status
the invoice must have."""


class ClockQueries:
    _db: Executor

    async def advancing_test_clocks(self, limit: int) -> list[AdvancingClock]:
        """Up to `limit` clocks with an advance under way, oldest first, across accounts."""
        rows = await self._db.fetchall(
            "SELECT account_id, id FROM test_clocks WHERE status = 'advancing' "
            "ORDER BY seq LIMIT ?",
            (limit,),
        )
        ensure(len(rows) <= limit, "a scan for advancing clocks returns at most its limit")
        return [AdvancingClock(str(r[0]), str(r[1])) for r in rows]

    async def next_clock_work(
        self, account_id: str, clock_id: str, through: int
    ) -> ClockWork | None:
        """The first work due on the clock's invoices at or before `through`, in clock
        order (`ClockWork`): one index probe per kind."""
        found: list[ClockWork] = []
        for rank, (column, status) in enumerate(_WORK_SCANS):
            row = await self._db.fetchone(
                f"SELECT {column}, id FROM invoices WHERE test_clock = ? AND {column} <= ? "
                f"AND status = '{status}' AND deleted = 0 AND test_clock IS NOT NULL "
                f"AND account_id = ? ORDER BY {column}, id LIMIT 1",
                (clock_id, through, account_id),
            )
            if row is not None:
                found.append(ClockWork(int(row[0]), rank, str(row[1])))
        return min(found, default=None)
