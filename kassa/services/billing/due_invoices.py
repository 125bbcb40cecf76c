"""How the `invoices` job works through invoices with something due (auto-advance, reminders):
scan a bounded batch of due invoices, handle each in a unit of work of its own, scan again
while batches come back full, and stop after a bounded number of scans (a larger backlog
waits for the next run)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from kassa.clock import Clock, unix_seconds
from kassa.services.billing import invoice_documents
from kassa.services.context import Context
from kassa.services.resource import ApiObject
from kassa.store import Store, Transaction
from kassa.store.invoice_queries import DueInvoice

DUE_BATCH_MAX: Final = 50
"""Invoices read per scan for work due."""
DUE_BATCHES_PER_RUN_MAX: Final = 20
"""Scans per run: a backlog beyond 1,000 invoices waits for the next run."""

FindDue = Callable[[Transaction, int, int], Awaitable[list[DueInvoice]]]
"""(read unit, now, limit) -> the invoices with work due at `now`, at most `limit`."""
HandleDue = Callable[[DueInvoice], Awaitable[int]]
"""Handle one due invoice in a unit of its own; how many it counts for (0 or 1)."""


async def work_through_due(store: Store, clock: Clock, find: FindDue, handle: HandleDue) -> int:
    """Every invoice `find` says is due now, each handled once per run; the sum of what
    `handle` counted. An invoice still due after its handling (it failed, and stays due) is
    not handled twice in one run."""
    counted = 0
    tried: set[str] = set()
    for _ in range(DUE_BATCHES_PER_RUN_MAX):
        async with store.read() as tx:
            due = await find(tx, unix_seconds(clock), DUE_BATCH_MAX)
        fresh = [entry for entry in due if entry.invoice_id not in tried]
        for entry in fresh:
            tried.add(entry.invoice_id)
            counted += await handle(entry)
        if len(due) < DUE_BATCH_MAX or not fresh:
            break
    return counted


async def load_due(ctx: Context, entry: DueInvoice) -> tuple[Context, ApiObject] | None:
    """The due invoice, locked, with a context governed by its clock; None if it has gone
    since the scan."""
    found = await invoice_documents.find_invoice(ctx, entry.invoice_id)
    if found is None or found[1]:
        return None
    invoice = found[0]
    return await ctx.governed_by(invoice), invoice
