"""A draft invoice's copy of its customer's details (`customer_email`, `customer_name`,
`customer_phone`, `customer_address`, `customer_shipping`, `customer_tax_exempt`,
`customer_tax_ids`), kept equal to the customer's while the invoice is a draft. Stripe's
invoice object: "Until the invoice is finalized, this field will equal customer.email. Once
the invoice is finalized, this field will no longer be updated" (the same for the others).

A draft copies them again whenever it is updated or finalized; a change of the customer (an
update of those details, a tax id added or deleted: `hooks.customer_details_changed`)
copies them onto its drafts here, in the same unit of work, up to
`customer_balance.DRAFTS_REFRESHED_MAX` of them, newest first (as a balance change shows
itself on them). The unit holds the customer locked: it takes the drafts after it, leaving
out those another unit holds (`Transaction.unheld_drafts`, as a balance change an invoice
makes does), since waiting for one could deadlock with that draft's finalization, which
holds the draft and then waits for the customer, and copies its details as this change
leaves them. A draft skipped because it is being updated meanwhile may keep the details from
before this change until its next change.

Each draft whose details change is stored and announced with `invoice.updated` (with
`previous_attributes`), as an invoice update that refreshes them announces it. A customer
without drafts costs one read.
"""

from __future__ import annotations

from kassa.services.billing import customer_balance, invoice_documents
from kassa.services.context import Context
from kassa.services.resource import ApiObject


async def refresh_drafts(ctx: Context, customer: ApiObject, before: ApiObject | None) -> None:
    """Copy the (locked) customer's details, its tax ids as stored in this unit, onto its
    drafts (the `customer_details_changed` observer), unless it changed from `before` in
    nothing a draft copies: then no draft is read (a balance changed with them was shown
    on the drafts already, with these details: `customer_balance.set_balance`). No
    `before`: its tax ids changed. Each draft shows the whole customer at once
    (`customer_balance.refresh_drafts`)."""
    shown = invoice_documents.customer_details(customer)
    if before is not None and shown == invoice_documents.customer_details(before):
        return
    drafts = await ctx.tx.unheld_drafts(
        ctx.account_id, str(customer["id"]), None, customer_balance.DRAFTS_REFRESHED_MAX
    )
    if drafts:
        details = await invoice_documents.copied_customer_details(ctx, customer)
        await customer_balance.refresh_drafts(ctx, drafts, customer, details)
