"""SQL behind invoices beyond the generic object table: the auto-advance job's scans for
invoices with work due, the reminder job's scan for invoices whose next payment reminder has
come, across accounts, and a failed reminder's postponement. Mixed into `Transaction`.

An invoice has work due when it is a draft whose `automatically_finalizes_at` has come, or
an open invoice whose `next_payment_attempt` has come: two scans, each one range of its
(due time, id) index, resumed after the last row read (`due_order`). Invoices on a Stripe
test clock (`test_clock` set) are left out: they live at their clock's frozen time and
advance when their clock does.

A customer's drafts another invoice's balance change refreshes are locked skipping the ones
other units hold (`unheld_drafts`).

A customer's invoice prefixes (table `invoice_prefixes`): each has one owner for good, the
customer that first had it, and the highest numbers an owner's invoices used with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kassa.invariants import InvariantViolated, ensure
from kassa.store.due_order import DueCursor, after, postpone_sql
from kassa.store.statements import LIKE, SKIP_LOCKED, like_escaped, loads_doc

if TYPE_CHECKING:
    from kassa.store.queries import Executor


@dataclass(frozen=True)
class DueInvoice:
    account_id: str
    invoice_id: str
    due_at: int

    @property
    def object_id(self) -> str:
        return self.invoice_id


@dataclass(frozen=True)
class InvoiceKey:
    account_id: str
    invoice_id: str


class InvoiceQueries:
    _db: Executor

    async def invoices_due_to_finalize(
        self, now: int, cursor: DueCursor | None, limit: int
    ) -> list[DueInvoice]:
        """Up to `limit` drafts whose `automatically_finalizes_at` has come at `now`, after
        `cursor` in (that time, id) order (the longest due first)."""
        return await self._due_invoices("automatically_finalizes_at", "draft", now, cursor, limit)

    async def invoices_due_a_payment_attempt(
        self, now: int, cursor: DueCursor | None, limit: int
    ) -> list[DueInvoice]:
        """Up to `limit` open invoices whose `next_payment_attempt` has come at `now`, after
        `cursor` in (that time, id) order (the longest due first)."""
        return await self._due_invoices("next_payment_attempt", "open", now, cursor, limit)

    async def invoices_due_for_reminder(
        self, now: int, cursor: DueCursor | None, limit: int
    ) -> list[DueInvoice]:
        """Up to `limit` open invoices whose `next_reminder_at` has come at `now`, after
        `cursor` in (that time, id) order (the longest due first)."""
        return await self._due_invoices("next_reminder_at", "open", now, cursor, limit)

    async def open_invoices_after(self, cursor: InvoiceKey | None, limit: int) -> list[InvoiceKey]:
        """Up to `limit` open invoices across accounts (test clocks' too), after `cursor` in
        (account, id) order: the reminder job's recomputation after the schedule changed."""
        resume = "" if cursor is None else " AND (account_id > ? OR (account_id = ? AND id > ?))"
        resume_args = () if cursor is None else (cursor.account_id,) * 2 + (cursor.invoice_id,)
        rows = await self._db.fetchall(
            f"SELECT account_id, id FROM invoices WHERE status = 'open' AND deleted = 0{resume} "
            "ORDER BY account_id, id LIMIT ?",
            (*resume_args, limit),
        )
        ensure(len(rows) <= limit, "a page of open invoices holds at most its limit")
        return [InvoiceKey(str(r[0]), str(r[1])) for r in rows]

    async def reminder_scan_schedule(self) -> str | None:
        """The schedule under which the startup scan of open invoices last completed."""
        row = await self._db.fetchone("SELECT schedule FROM reminder_scans WHERE id = 1")
        return None if row is None else str(row[0])

    async def record_reminder_scan(self, schedule: str) -> None:
        """The startup scan of open invoices completed under `schedule`."""
        await self._db.execute(
            "INSERT INTO reminder_scans (id, schedule) VALUES (1, ?) "
            "ON CONFLICT (id) DO UPDATE SET schedule = excluded.schedule",
            (schedule,),
        )

    async def _due_invoices(
        self, column: str, status: str, now: int, cursor: DueCursor | None, limit: int
    ) -> list[DueInvoice]:
        """One range of the `column` scan's (`column`, id) index."""
        resume, resume_args = after(column, cursor)
        rows = await self._db.fetchall(
            f"SELECT account_id, id, {column} FROM invoices WHERE {column} <= ?{resume} "
            "AND status = ? AND deleted = 0 AND test_clock IS NULL "
            f"ORDER BY {column}, id LIMIT ?",
            (now, *resume_args, status, limit),
        )
        ensure(len(rows) <= limit, f"a scan of due {column} returns at most its limit")
        return [DueInvoice(str(r[0]), str(r[1]), int(r[2])) for r in rows]

    async def postpone_reminder(self, entry: DueInvoice, until: int) -> bool:
        """Move the invoice's `next_reminder_at` column, still at `entry.due_at` (no unit has
        rescheduled it since the scan), to `until`; whether it moved. The column alone: the
        document keeps its instant, which the next save of the invoice stores again."""
        return await self._postpone_invoice("next_reminder_at", entry, until)

    async def postpone_finalization(self, entry: DueInvoice, until: int) -> bool:
        """As `postpone_reminder`, for a draft's `automatically_finalizes_at`."""
        return await self._postpone_invoice("automatically_finalizes_at", entry, until)

    async def postpone_payment_attempt(self, entry: DueInvoice, until: int) -> bool:
        """As `postpone_reminder`, for an open invoice's `next_payment_attempt`."""
        return await self._postpone_invoice("next_payment_attempt", entry, until)

    async def _postpone_invoice(self, column: str, entry: DueInvoice, until: int) -> bool:
        ensure(until > entry.due_at, f"an invoice's {column} is postponed to a later time")
        row = await self._db.fetchone(
            postpone_sql("invoices", column, " AND test_clock IS NULL"),
            (until, entry.account_id, entry.invoice_id, entry.due_at),
        )
        return row is not None

    async def unheld_drafts(
        self, account_id: str, customer: str, besides: str | None, limit: int
    ) -> list[dict[str, Any]]:
        """Up to `limit` of the customer's drafts (newest first) other than `besides` (if
        given), locked,
        leaving out those another unit holds locked (PostgreSQL's SKIP LOCKED; SQLite's one
        writer holds them all): a unit that already holds the customer may take them out of
        the order every invoice path locks in (the invoice, then its customer) without
        waiting, so without deadlocking with a draft's own finalization. Read through the
        customer's invoices (invoices_account_customer)."""
        other = "" if besides is None else "AND id <> ? "
        rows = await self._db.fetchall(
            "SELECT doc FROM invoices WHERE account_id = ? AND customer = ? "
            f"AND status = 'draft' AND deleted = 0 {other}"
            f"ORDER BY seq DESC LIMIT ? {SKIP_LOCKED}",
            (account_id, customer, *(() if besides is None else (besides,)), limit),
        )
        ensure(len(rows) <= limit, "a page of drafts holds at most its limit")
        return [loads_doc(r[0]) for r in rows]

    async def claim_invoice_prefix(self, account_id: str, prefix: str, customer: str) -> str:
        """Record `prefix` as `customer`'s, for good; the customer that owns it: `customer`,
        unless another one had it first. On PostgreSQL a concurrent claim of the same prefix
        waits for this unit, then finds the owner (or loses the race: a WriteConflict, run
        again)."""
        claimed = await self._db.fetchone(
            "INSERT INTO invoice_prefixes (account_id, prefix, customer) VALUES (?, ?, ?) "
            "ON CONFLICT (account_id, prefix) DO NOTHING RETURNING customer",
            (account_id, prefix, customer),
        )
        if claimed is not None:
            return customer
        owner = await self.invoice_prefix_owner(account_id, prefix)
        if owner is None:
            raise InvariantViolated("a prefix that could not be claimed has an owner")
        return owner

    async def invoice_prefix_owner(self, account_id: str, prefix: str) -> str | None:
        """The customer `prefix` is recorded as its own; None if no customer's yet."""
        row = await self._db.fetchone(
            "SELECT customer FROM invoice_prefixes WHERE account_id = ? AND prefix = ?",
            (account_id, prefix),
        )
        return None if row is None else str(row[0])

    async def highest_numbers_with_prefix(
        self, account_id: str, customer: str, prefix: str, limit: int
    ) -> list[str]:
        """Up to `limit` numbers of the customer's invoices starting `{prefix}-`, the longest
        first and, among as long, the greatest: a zero-padded sequence's highest comes
        first. Read through the customer's invoices (invoices_account_customer)."""
        rows = await self._db.fetchall(
            f"SELECT number FROM invoices WHERE account_id = ? AND customer = ? "
            f"AND {LIKE}(number, ?) ORDER BY length(number) DESC, number DESC LIMIT ?",
            (account_id, customer, like_escaped(prefix) + "-%", limit),
        )
        ensure(len(rows) <= limit, "a page of invoice numbers holds at most its limit")
        return [str(r[0]) for r in rows]
