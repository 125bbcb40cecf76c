"""A due invoice as the `invoices` job's handlers take it up: locked, with a context its
clock governs. The loop that finds due objects and the policy for failed work are the
real-time jobs' common ones (`kassa.services.due_work`)."""

from __future__ import annotations

from kassa.services.billing import invoice_documents
from kassa.services.context import Context
from kassa.services.resource import ApiObject
from kassa.store.invoice_queries import DueInvoice


async def load_due(ctx: Context, entry: DueInvoice) -> tuple[Context, ApiObject] | None:
    """The due invoice, locked, with a context governed by its clock; None if it has gone
    since the scan."""
    found = await invoice_documents.find_invoice(ctx, entry.invoice_id)
    if found is None or found[1]:
        return None
    invoice = found[0]
    return await ctx.governed_by(invoice), invoice
