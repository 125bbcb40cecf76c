"""How the `invoices` job works through objects with something due (subscription renewals,
invoice auto-advance, reminders): scan a bounded batch of due objects, handle each in a unit
of work of its own, scan again while batches come back full, and stop after a bounded number
of scans (a larger backlog waits for the next run)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final, Protocol, TypeVar

from kassa.clock import Clock, unix_seconds
from kassa.services.billing import invoice_documents
from kassa.services.context import Context
from kassa.services.resource import ApiObject
from kassa.store import Store, Transaction
from kassa.store.invoice_queries import DueInvoice

DUE_BATCH_MAX: Final = 50
"""Objects read per scan for work due."""
DUE_BATCHES_PER_RUN_MAX: Final = 20
"""Scans per run: a backlog beyond 1,000 objects waits for the next run."""


class DueWork(Protocol):
    """An object with work due (an invoice, a subscription)."""

    @property
    def object_id(self) -> str: ...


Due = TypeVar("Due", bound=DueWork)


async def work_through_due(
    store: Store,
    clock: Clock,
    find: Callable[[Transaction, int, int], Awaitable[list[Due]]],
    handle: Callable[[Due], Awaitable[int]],
) -> int:
    """Every object `find` (read unit, now, limit) says is due now, each handled by `handle`
    in a unit of its own once per run; the sum of what `handle` counted (0 or 1 each). An
    object still due after its handling (it failed, and stays due) is not handled twice in
    one run."""
    counted = 0
    tried: set[str] = set()
    for _ in range(DUE_BATCHES_PER_RUN_MAX):
        async with store.read() as tx:
            due = await find(tx, unix_seconds(clock), DUE_BATCH_MAX)
        fresh = [entry for entry in due if entry.object_id not in tried]
        for entry in fresh:
            tried.add(entry.object_id)
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
