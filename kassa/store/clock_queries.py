"""SQL behind time-driven work: the clocks with an advance under way (across accounts), the
next piece of work due on one clock's objects, the subscriptions whose next period has
begun in real time (and a failed renewal's postponement), the credit grants whose expiry has
come in real time (and a failed expiry's postponement), and the clocks old enough to be
deleted. Mixed into `Transaction`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from kassa.invariants import ensure
from kassa.store import due_order
from kassa.store.due_order import REAL_TIME, DueColumn, DueCursor, DueRow, after, postpone_sql
from kassa.store.statements import SKIP_LOCKED

if TYPE_CHECKING:
    from kassa.store.queries import Executor


SCHEDULE_TRANSITIONS: Final = DueColumn(
    "subscription_schedules", "transitions_at", f"{REAL_TIME} AND deleted = 0"
)
"""The real-time scan of subscription schedules with work due: one range of the
`subscription_schedules_transition_due` index (migration 0060)."""

CREDIT_GRANT_EXPIRIES: Final = DueColumn(
    "billing_credit_grants",
    "expires_due",
    f" AND expires_due IS NOT NULL AND deleted = 0{REAL_TIME}",
)
"""The real-time scan of credit grants whose expiry is to be written: one range of the
`billing_credit_grants_due` index (migration 0073); a grant of a test clock's customer is
its clock's work."""


@dataclass(frozen=True)
class AdvancingClock:
    account_id: str
    clock_id: str


@dataclass(frozen=True)
class ExpiredClock:
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
    "schedule_transition",
    "subscription_renewal",
    "invoice_finalize",
    "invoice_attempt",
    "capture_posting",
    "invoice_reminder",
    "refund_failure",
    "authorization_expiry",
    "funds_settlement",
    "quote_expiry",
    "credit_grant_expiry",
)
"""The kinds of work a clock does, in the order it does those due at the same second: a
subscription schedule's transition first (its start makes a subscription, a new phase sets
the items the subscription's new period then bills: a phase usually ends where a period
does, and the renewal at that second must bill the new phase's prices), then a
subscription's new period (which may make an invoice), then a draft is finalized
before an invoice is charged, a charge's asynchronous capture is posted right after the
charge, and a charge is tried before a reminder (which a successful charge makes moot); a
refund's later failure comes next (it depends on nothing but its refund), then an
uncaptured authorization's expiry (nothing else waits on it); pending funds settle next
(nothing else depends on them), then a quote expires (an expiry at the second a
subscription renews or an invoice is charged changes neither), and a credit grant's expiry
is written last (a grant counts for nothing from its `expires_at` on whether its debit is
written yet or not, so an invoice finalized at that second draws on it either way)."""

_WORK_SCANS = (
    ("subscription_schedules", "transitions_at", "deleted = 0"),
    ("subscriptions", "renews_at", "deleted = 0"),
    ("invoices", "automatically_finalizes_at", "status = 'draft' AND deleted = 0"),
    ("invoices", "next_payment_attempt", "status = 'open' AND deleted = 0"),
    ("capture_postings", "posts_at", "posts_at IS NOT NULL"),
    ("invoices", "next_reminder_at", "status = 'open' AND deleted = 0"),
    ("refund_failures", "fails_at", "fails_at IS NOT NULL"),
    ("authorization_expiries", "expires_at", "expires_at IS NOT NULL"),
    ("ledger_transactions", "available_on", "status = 'pending'"),
    ("quotes", "expires_due", "expires_due IS NOT NULL AND deleted = 0"),
    ("billing_credit_grants", "expires_due", "expires_due IS NOT NULL AND deleted = 0"),
)
"""Per kind (WORK_KINDS order): the table, its column holding when the work is due, and
what else a row with work due must be (the condition of the kind's partial index; the
tables of capture postings, refund failures and authorization expiries hold a row only while
its work is to come, so theirs holds for every row)."""


class ClockQueries:
    _db: Executor

    async def claim_test_clock(self, account_id: str, clock_id: str) -> bool:
        """Lock the clock for this unit of work, unless another unit holds it: False then
        (or when there is no such clock). A clock's work is done in order by one unit at a
        time, so a second process advancing it turns to other work rather than queueing
        behind the first (on SQLite, the single writer, no other unit can hold it)."""
        row = await self._db.fetchone(
            f"SELECT id FROM test_clocks WHERE id = ? AND account_id = ? {SKIP_LOCKED}",
            (clock_id, account_id),
        )
        return row is not None

    async def subscriptions_due(
        self, now: int, cursor: DueCursor | None, limit: int
    ) -> list[DueSubscription]:
        """Up to `limit` subscriptions with work due at `now` (`renews_at`), after `cursor`
        in (`renews_at`, id) order (the longest due first), across accounts; not those on a
        test clock (their clock does their work)."""
        resume, resume_args = after("renews_at", cursor)
        rows = await self._db.fetchall(
            f"SELECT account_id, id, renews_at FROM subscriptions WHERE renews_at <= ?{resume} "
            "AND test_clock IS NULL AND deleted = 0 ORDER BY renews_at, id LIMIT ?",
            (now, *resume_args, limit),
        )
        ensure(len(rows) <= limit, "a scan for due subscriptions returns at most its limit")
        return [DueSubscription(str(r[0]), str(r[1]), int(r[2])) for r in rows]

    async def postpone_subscription_work(self, entry: DueSubscription, until: int) -> bool:
        """Move the subscription's `renews_at` column, still at `entry.due_at` (no unit has
        rescheduled it since the scan), to `until`; whether it moved. The column alone: the
        document keeps its derived value, which the next save of the subscription stores
        again (`subscription_documents.save`)."""
        ensure(until > entry.due_at, "work is postponed to a later time")
        row = await self._db.fetchone(
            postpone_sql("subscriptions", "renews_at", " AND test_clock IS NULL"),
            (until, entry.account_id, entry.subscription_id, entry.due_at),
        )
        return row is not None

    async def subscription_schedules_due(
        self, now: int, cursor: DueCursor | None, limit: int
    ) -> list[DueRow]:
        """Up to `limit` subscription schedules with work due at `now` (`transitions_at`),
        after `cursor`, across accounts; not those on a test clock (their clock does their
        work)."""
        return await due_order.scan_due(self._db, SCHEDULE_TRANSITIONS, now, cursor, limit)

    async def postpone_subscription_schedule(self, entry: DueRow, until: int) -> bool:
        """Move a schedule's `transitions_at` column, still at `entry.due_at`, to `until`;
        whether it moved. The document keeps its derived value, which the schedule's next
        save stores again."""
        return await due_order.postpone_due(self._db, SCHEDULE_TRANSITIONS, entry, until)

    async def credit_grants_due(
        self, now: int, cursor: DueCursor | None, limit: int
    ) -> list[DueRow]:
        """Up to `limit` credit grants whose expiry is to be written at `now`
        (`expires_due`), after `cursor`, across accounts; not those on a test clock (their
        clock does their work)."""
        return await due_order.scan_due(self._db, CREDIT_GRANT_EXPIRIES, now, cursor, limit)

    async def postpone_credit_grant_expiry(self, entry: DueRow, until: int) -> bool:
        """Move a grant's `expires_due` column, still at `entry.due_at`, to `until`; whether
        it moved. The document keeps its `expires_at`, from which the grant's next save
        derives the column again."""
        return await due_order.postpone_due(self._db, CREDIT_GRANT_EXPIRIES, entry, until)

    async def advancing_test_clocks(self, limit: int) -> list[AdvancingClock]:
        """Up to `limit` clocks with an advance under way, oldest first, across accounts."""
        rows = await self._db.fetchall(
            "SELECT account_id, id FROM test_clocks WHERE status = 'advancing' "
            "ORDER BY seq LIMIT ?",
            (limit,),
        )
        ensure(len(rows) <= limit, "a scan for advancing clocks returns at most its limit")
        return [AdvancingClock(str(r[0]), str(r[1])) for r in rows]

    async def expired_test_clocks(self, created_before: int, limit: int) -> list[ExpiredClock]:
        """Up to `limit` clocks not deleted yet, created at or before `created_before`, the
        oldest first, across accounts (Stripe deletes a clock a fixed time after its
        creation, its `deletes_after`)."""
        rows = await self._db.fetchall(
            "SELECT account_id, id FROM test_clocks WHERE created <= ? AND deleted = 0 "
            "ORDER BY created, id LIMIT ?",
            (created_before, limit),
        )
        ensure(len(rows) <= limit, "a scan for expired clocks returns at most its limit")
        return [ExpiredClock(str(r[0]), str(r[1])) for r in rows]

    async def next_clock_work(
        self, account_id: str, clock_id: str, through: int
    ) -> ClockWork | None:
        """The first work due on the clock's objects at or before `through`, in clock
        order (`ClockWork`): one statement, one index probe per kind."""
        rows = await self._db.fetchall(
            _NEXT_WORK_SQL, (clock_id, through, account_id) * len(_WORK_SCANS)
        )
        ensure(len(rows) <= len(_WORK_SCANS), "a work probe answers at most one row per kind")
        found = [ClockWork(int(row[1]), int(row[0]), str(row[2])) for row in rows]
        return min(found, default=None)


def _next_work_sql() -> str:
    """Per kind, its first due object (the kind's rank, when due, the object's id), each
    kind's probe a subquery read from its own partial index."""
    probes = []
    for rank, (table, column, condition) in enumerate(_WORK_SCANS):
        probes.append(
            f"SELECT {rank} AS kind_rank, due_at, id FROM ("
            f"SELECT {column} AS due_at, id FROM {table} WHERE test_clock = ? "
            f"AND {column} <= ? AND {condition} AND test_clock IS NOT NULL "
            f"AND account_id = ? ORDER BY {column}, id LIMIT 1) AS kind_{rank}"
        )
    return " UNION ALL ".join(probes)


_NEXT_WORK_SQL = _next_work_sql()
