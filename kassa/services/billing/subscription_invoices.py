"""The invoice a subscription makes for one period: a draft for the subscription's customer
(`billing_reason` `subscription_create` for the first, `subscription_cycle` for renewals),
one line per item (its price times its quantity for the item's own current period; nothing
during a trial), and `parent.subscription_details` naming the subscription. Items of mixed
intervals renew apart: a renewal names the items whose periods begin (`items`).

The invoice's own `period_start`/`period_end` look back (`usage_period`), as Stripe's
Invoice reference says of them: "Start of the usage period during which invoice items were
added to this invoice. This looks back one period for a subscription invoice. Use the line
item period to get the service period for each price." A renewal made at the start of
period N covers period N-1 (a trial's, after one), the subscription's first invoice only
its creation (period_start = period_end = created); the lines keep their service periods.

Each line is an invoice item on the draft (`period_item`), built here and stored with it,
whose `parent` names the subscription and its item; the line it makes says
`subscription_item_details` (see `invoice_lines.line_object`). As Stripe's line, backed by
the subscription item, it names no invoice item, and the API never shows the item behind it
(`invoice_lines.is_period_item`: `GET /v1/invoiceitems` leaves it out, a read of its id
finds nothing); the invoice paths read it as any item on the invoice.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from kassa.services.billing import (
    invoice_documents,
    invoice_lines,
    invoices,
    subscription_credits,
    subscription_pending,
    subscription_settings,
)
from kassa.services.billing.invoice_item_pricing import (
    apply_priced,
    blank_item,
    from_amount,
    from_price,
)
from kassa.services.billing.invoice_params import CreateInvoice
from kassa.services.billing.meter_usage import is_metered, usage_quantity
from kassa.services.billing.subscription_discounts import note_invoiced, prune_discounts
from kassa.services.billing.subscription_documents import (
    customer_of,
    item_period,
    items_of,
    product_name,
)
from kassa.services.billing.subscription_pending import Scope
from kassa.services.billing.subscription_periods import Span
from kassa.services.billing.subscription_terms import bill_part
from kassa.services.context import Context
from kassa.services.resource import ApiObject
from kassa.store.tables import INVOICE_ITEMS


async def invoice_period(
    ctx: Context,
    subscription: ApiObject,
    *,
    billing_reason: str,
    trial: bool,
    pending: Scope = "none",
    voidable_at: int | None = None,
    with_items: bool = True,
    items: Sequence[Mapping[str, Any]] | None = None,
    only: Collection[str] | None = None,
    spans: Mapping[str, Span] | None = None,
    discounts_at: int | None = None,
    until: int | None = None,
    usage: Mapping[str, tuple[int, int]] | None = None,
) -> ApiObject:
    """The draft invoice (as stored) of the usage period up to `until` (now unless given:
    a renewal's period start, a final invoice's end; `usage_period`), its lines made: the
    pending items `pending` says (`subscription_pending`; none when the pause of collection
    voids the invoice made at `voidable_at`; of them, those `only` names when given), then
    one per item, each for its own current period (`items` when given, else all of them;
    none when `with_items` is False: an update's invoice bills only its prorations). Built
    whole and stored once, announced once (`invoice.created`, its lines in it): Stripe
    makes no invoice items of a subscription's lines, so no `invoiceitem.created` either.
    Each item's line bills its span's part of the price when `spans` (by subscription
    item) cuts it (`subscription_terms.bill_part`).

    Every invoice of the subscription, whichever path makes it (create, renewal, reset,
    `always_invoice`, final, resume), takes only the discounts that still apply now (a
    `once` one an earlier invoice used, a `repeating` one past its end, are removed first)
    and uses up a `once` one that took something off it (`subscription_discounts`): the
    subscription is changed, its caller saves it. "Now" is `discounts_at` when given: a
    renewal's period start, however late it is made.

    A metered item's line bills its meter's usage over the period `usage` gives for it
    (`meter_usage`: the period a renewal ends, a final invoice's span); without one (the
    first invoice) it bills nothing over its item's period. A final invoice (no
    `with_items`) still bills each metered item `usage` names."""
    prune_discounts(subscription, ctx.now() if discounts_at is None else discounts_at)
    ctx, invoice, _ = await invoices.draft_invoice(
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
    wanted = await subscription_pending.pending_for(
        ctx, subscription, pending, voidable_at=voidable_at
    )
    if only is not None:
        wanted = [item for item in wanted if str(item["id"]) in only]
    taken = await subscription_pending.take(ctx, wanted, invoice["id"])
    customer = await customer_of(ctx, subscription)
    lines = []
    billed = items_of(subscription) if items is None else items
    chosen = billed if with_items else [i for i in billed if str(i["id"]) in (usage or {})]
    for item in chosen:
        line = await period_item(
            ctx,
            customer,
            subscription,
            item,
            item_period(item),
            trial=trial,
            usage=(usage or {}).get(str(item["id"])),
        )
        line["invoice"] = invoice["id"]
        await ctx.tx.insert_object(INVOICE_ITEMS, ctx.account_id, line)
        lines.append(line)
    # Each invoice carries the subscription's discounts and default tax rates (Stripe: its
    # invoices "will have their default_tax_rates populated from the subscription"), and
    # each line its item's: see `subscription_discounts`.
    invoice["discounts"] = list(subscription["discounts"])
    invoice["default_tax_rates"] = list(subscription["default_tax_rates"])
    invoice["billing_reason"] = billing_reason
    invoice["parent"] = invoice_documents.subscription_parent(subscription)
    subscription_settings.carry_to_invoice(subscription, invoice)
    invoice["period_start"], invoice["period_end"] = await usage_period(
        ctx, subscription, ctx.now() if until is None else until
    )
    if with_items:
        # What credits undo: a metered line bills usage already had, never unused time.
        licensed = [
            line for line, item in zip(lines, chosen, strict=True) if not is_metered(item["price"])
        ]
        subscription_credits.note_period(subscription, licensed, billed)
    await invoices.store_new_draft(ctx, invoice, [*taken, *lines])
    if spans is not None:
        await bill_part(ctx, invoice, spans)
    # On its final amounts, parts billed; the pending charges it took may hold a discount.
    await note_invoiced(ctx, subscription, invoice, {str(item["id"]) for item in taken})
    return invoice


async def usage_period(
    ctx: Context, subscription: Mapping[str, Any], until: int
) -> tuple[int, int]:
    """The period a subscription's invoice looks back on, up to `until`: from where its
    previous invoice's ended (Stripe: "the usage period during which invoice items were
    added", one period back for a renewal; an `always_invoice` update's or a final invoice
    since the last invoice). The first invoice, with none before it, is its instant
    (`until`, `until`), as Stripe's first invoice has period_start = period_end = created.
    An older invoice that stored the coming period instead (an end after `until`), or a
    latest invoice no longer found (a deleted draft), gives the same instant."""
    latest = subscription.get("latest_invoice")
    found = (
        None
        if latest is None
        else await invoice_documents.find_invoice(ctx, str(latest), lock=False)
    )
    if found is None:
        return until, until
    return min(int(found[0]["period_end"]), until), until


async def period_item(
    ctx: Context,
    customer: Mapping[str, Any],
    subscription: Mapping[str, Any],
    item: Mapping[str, Any],
    period: tuple[int, int],
    *,
    trial: bool = False,
    usage: tuple[int, int] | None = None,
) -> ApiObject:
    """The invoice item (not stored) that bills one subscription item for `period`: its
    price times its quantity (nothing during a trial), `parent` naming the subscription and
    the item, and the item's tax rates and discounts. Priced from the price the item holds,
    so an archived price still renews. A metered item's quantity is its usage over `usage`,
    the line's period then (`meter_usage`); 0 over `period` without one."""
    name = await product_name(ctx, str(item["price"]["product"]))
    quantity = int(item["quantity"])
    if is_metered(item["price"]):
        period = period if usage is None else usage
        quantity = 0
        if usage is not None and not trial:
            customer_id = str(subscription["customer"])
            quantity = await usage_quantity(ctx, customer_id, item["price"], usage)
    priced = (
        from_amount(0, None, str(subscription["currency"]))
        if trial
        else from_price(item["price"], quantity)
    )
    line = blank_item(ctx, customer, priced)
    apply_priced(line, priced, param=None)
    # As Stripe: "Trial period for Product", "1 (times sign) Product".
    line["description"] = f"Trial period for {name}" if trial else f"{quantity} \u00d7 {name}"
    line["period"] = {"start": period[0], "end": period[1]}
    line["parent"] = {
        "subscription_details": {
            "subscription": subscription["id"],
            "subscription_item": item["id"],
        },
        "type": "subscription_details",
    }
    line["tax_rates"] = list(item["tax_rates"])
    line["discounts"] = list(item["discounts"])
    invoice_lines.mark_period_item(line)
    return line
