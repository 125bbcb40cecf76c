"""SQL behind invoices beyond the generic object table: the auto-advance job's scan for
invoices with work due, and the reminder job's scan for invoices whose next payment
reminder has come, across accounts. Mixed into `Transaction`.

An invoice has work due when it is a draft whose `automatically_finalizes_at` has come, or
an open invoice whose `next_payment_attempt` has come. Invoices on a Stripe test clock
(`test_clock` set) are left out: they live at their clock's frozen time and advance when
their clock does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kassa.invariants import ensure

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


class InvoiceQueries:
    _db: Executor

    async def invoices_due_to_advance(self, now: int, limit: int) -> list[DueInvoice]:
        """Up to `limit` invoices with work due at `now`, the longest due first: drafts to
        finalize, then open invoices to charge (each scan reads one index range)."""
        drafts = await self._db.fetchall(
            "SELECT account_id, id, automatically_finalizes_at FROM invoices "
            "WHERE automatically_finalizes_at <= ? AND status = 'draft' AND deleted = 0 "
            "AND test_clock IS NULL ORDER BY automatically_finalizes_at LIMIT ?",
            (now, limit),
        )
        found = [DueInvoice(str(r[0]), str(r[1]), int(r[2])) for r in drafts]
        if len(found) < limit:
            charges = await self._db.fetchall(
                "SELECT account_id, id, next_payment_attempt FROM invoices "
                "WHERE next_payment_attempt <= ? AND status = 'open' AND deleted = 0 "
                "AND test_clock IS NULL ORDER BY next_payment_attempt LIMIT ?",
                (now, limit - len(found)),
            )
            found.extend(DueInvoice(str(r[0]), str(r[1]), int(r[2])) for r in charges)
        ensure(len(found) <= limit, "a scan for due invoices returns at most its limit")
        return found

    async def invoices_due_for_reminder(self, now: int, limit: int) -> list[DueInvoice]:
        """Up to `limit` open invoices whose `next_reminder_at` has come at `now`, the
        longest due first (one range of the `invoices_reminder_due` index)."""
        rows = await self._db.fetchall(
            "SELECT account_id, id, next_reminder_at FROM invoices "
            "WHERE next_reminder_at <= ? AND status = 'open' AND deleted = 0 "
            "AND test_clock IS NULL ORDER BY next_reminder_at LIMIT ?",
            (now, limit),
        )
        found = [DueInvoice(str(r[0]), str(r[1]), int(r[2])) for r in rows]
        ensure(len(found) <= limit, "a scan for due reminders returns at most its limit")
        return found
