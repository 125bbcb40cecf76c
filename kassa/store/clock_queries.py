"""SQL behind time-driven work: the clocks with an advance under way (across accounts), the
next piece of work due on one clock's objects, and the subscriptions whose next period has
begun in real time. Mixed into `Transaction`."""

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


@dataclass(frozen=True)
class DueSubscription:
    account_id: str
    subscription_id: str
    due_at: int

    @property
    def object_id(self) -> str:
        return self.subscription_id


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


WORK_KINDS = (
    "subscription_renewal",
    "invoice_finalize",
    "invoice_attempt",
    "invoice_reminder",
)
"""The kinds of work a clock does, in the order it does those due at the same second: a
subscription's new period (which may make an invoice) first, then a draft is finalized
before an invoice is charged, and a charge is tried before a reminder (which a successful
charge makes moot)."""

_WORK_SCANS = (
    ("subscriptions", "renews_at", None),
    ("invoices", "automatically_finalizes_at", "draft"),
    ("invoices", "next_payment_attempt", "open"),
    ("invoices", "next_reminder_at", "open"),
)
"""Per kind (WORK_KINDS order): the table, its column holding when the work is due, and the
status an invoice must have."""


class ClockQueries:
    _db: Executor

    async def subscriptions_due(self, now: int, limit: int) -> list[DueSubscription]:
        """Up to `limit` subscriptions with work due at `now` (`renews_at`), the longest due
        first, across accounts; not those on a test clock (their clock does their work)."""
        rows = await self._db.fetchall(
            "SELECT account_id, id, renews_at FROM subscriptions WHERE renews_at <= ? "
            "AND test_clock IS NULL AND deleted = 0 ORDER BY renews_at LIMIT ?",
            (now, limit),
        )
        ensure(len(rows) <= limit, "a scan for due subscriptions returns at most its limit")
        return [DueSubscription(str(r[0]), str(r[1]), int(r[2])) for r in rows]

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
        for rank, (table, column, status) in enumerate(_WORK_SCANS):
            having = "" if status is None else f"AND status = '{status}' "
            row = await self._db.fetchone(
                f"SELECT {column}, id FROM {table} WHERE test_clock = ? AND {column} <= ? "
                f"{having}AND deleted = 0 AND test_clock IS NOT NULL "
                f"AND account_id = ? ORDER BY {column}, id LIMIT 1",
                (clock_id, through, account_id),
            )
            if row is not None:
                found.append(ClockWork(int(row[0]), rank, str(row[1])))
        return min(found, default=None)
