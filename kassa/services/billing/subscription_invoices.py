"""The invoice a subscription makes for one period: a draft for the subscription's customer
(`billing_reason` `subscription_create` for the first, `subscription_cycle` for renewals),
one line per item (its price times its quantity for the period; nothing during a trial), and
`parent.subscription_details` naming the subscription.

Each line is an invoice item on the draft, made through the invoice items service, whose
`parent` names the subscription and its item; the line it makes says `subscription_item_details`
(see `invoice_lines.line_object`). Unlike Stripe's, these items are listed by
`GET /v1/invoiceitems` too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kassa.services.billing import (
    invoice_documents,
    invoice_items,
    invoice_lines,
    invoices,
    subscription_pending,
)
from kassa.services.billing.invoice_item_params import CreateInvoiceItem
from kassa.services.billing.invoice_params import CreateInvoice
from kassa.services.billing.subscription_documents import items_of
from kassa.services.billing.subscription_pending import Scope
from kassa.services.context import Context
from kassa.services.resource import ApiObject
from kassa.store.tables import INVOICE_ITEMS, PRODUCTS


async def invoice_period(
    ctx: Context,
    subscription: Mapping[str, Any],
    period: tuple[int, int],
    *,
    billing_reason: str,
    trial: bool,
    pending: Scope = "none",
    with_items: bool = True,
) -> ApiObject:
    """The draft invoice for `period` (locked, as stored), its lines made: one per item
    (unless `with_items` is False: an update's invoice bills only its prorations), and the
    pending items `pending` says (`subscription_pending`)."""
    shown = await invoices.create_invoice(
        ctx,
        CreateInvoice(
            customer=subscription["customer"],
            currency=subscription["currency"],
            collection_method=subscription["collection_method"],
            days_until_due=subscription["days_until_due"],
            auto_advance=True,
            pending_invoice_items_behavior="exclude",
        ),
    )
    for item in items_of(subscription) if with_items else []:
        await _line(ctx, subscription, item, shown["id"], period, trial=trial)
    await subscription_pending.take(
        ctx, await subscription_pending.pending_for(ctx, subscription, pending), shown["id"]
    )
    invoice = await invoice_documents.load_invoice(ctx, shown["id"])
    # Each invoice carries the subscription's discounts and default tax rates (Stripe: its
    # invoices "will have their default_tax_rates populated from the subscription"), and
    # each line its item's (`_line`): see `subscription_terms`.
    invoice["discounts"] = list(subscription["discounts"])
    invoice["default_tax_rates"] = list(subscription["default_tax_rates"])
    # The lines again, now that their items name the subscription (`line_object`).
    await invoice_lines.refresh(ctx, invoice)
    invoice["billing_reason"] = billing_reason
    invoice["parent"] = invoice_documents.subscription_parent(subscription)
    invoice["period_start"], invoice["period_end"] = period
    await invoice_documents.save(ctx, invoice)
    return invoice


async def _line(
    ctx: Context,
    subscription: Mapping[str, Any],
    item: Mapping[str, Any],
    invoice_id: str,
    period: tuple[int, int],
    *,
    trial: bool,
) -> None:
    name = await _product_name(ctx, str(item["price"]["product"]))
    quantity = int(item["quantity"])
    request = (
        CreateInvoiceItem(
            customer=subscription["customer"],
            invoice=invoice_id,
            amount=0,
            currency=subscription["currency"],
            description=f"Trial period for {name}",
            period={"start": period[0], "end": period[1]},
        )
        if trial
        else CreateInvoiceItem(
            customer=subscription["customer"],
            invoice=invoice_id,
            pricing={"price": item["price"]["id"]},
            quantity=quantity,
            description=f"{quantity} \u00d7 {name}",  # as Stripe: "1 (times sign) Product"
            period={"start": period[0], "end": period[1]},
        )
    )
    created = await invoice_items.create_invoice_item(ctx, request)
    stored = await invoice_items.load_item(ctx, created["id"])
    stored["parent"] = {
        "subscription_details": {
            "subscription": subscription["id"],
            "subscription_item": item["id"],
        },
        "type": "subscription_details",
    }
    stored["tax_rates"] = list(item["tax_rates"])
    stored["discounts"] = list(item["discounts"])
    await ctx.tx.update_object(INVOICE_ITEMS, ctx.account_id, stored)


async def _product_name(ctx: Context, product_id: str) -> str:
    found = await ctx.tx.get_object(PRODUCTS, ctx.account_id, product_id, lock=False)
    return product_id if found is None else str(found[0].get("name") or product_id)
