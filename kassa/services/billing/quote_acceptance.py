"""What accepting a quote makes, through the code that makes the same objects for the API:
for one-time lines only, a draft invoice (`invoices.draft_invoice`, `store_new_draft`, its
lines made as invoice items on it: `invoice_items.create_invoice_item`), whose `parent` is
the quote (`quote_details`) and `billing_reason` `quote_accept`; with recurring lines, a
subscription (`subscription_create.create_subscription`) of the recurring lines, the
one-time lines on its first invoice (`add_invoice_items`, as Checkout does), its trial from
`subscription_data[trial_period_days]`; that first invoice is then the quote's `invoice`.

The quote's discounts are handed on as they are (`discounts[][discount]`: the Discount
objects the quote made for its customer), not applied again, so a coupon is redeemed once;
its `default_tax_rates` become the invoice's or subscription's, a line's own tax rates its
item's. The amounts are so the quote's, worked out by the same arithmetic."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from kassa.invariants import ensure
from kassa.services.billing import invoices
from kassa.services.billing.invoice_item_params import CreateInvoiceItem
from kassa.services.billing.invoice_items import create_invoice_item
from kassa.services.billing.invoice_params import CreateInvoice
from kassa.services.billing.quote_documents import QuoteLine
from kassa.services.billing.quote_params import LINE_ITEMS_MAX
from kassa.services.billing.subscription_create import CreateSubscription, create_subscription
from kassa.services.context import Context
from kassa.services.resource import ApiObject

QUOTE_BILLING_REASON: Final = "quote_accept"


@dataclass(frozen=True)
class Accepted:
    invoice: str
    subscription: str | None


async def accept(ctx: Context, quote: Mapping[str, Any], lines: Sequence[QuoteLine]) -> Accepted:
    """The invoice, or subscription and its first invoice, that accepting `quote` makes."""
    if any(line.recurring for line in lines):
        subscription = await create_subscription(ctx, _subscription_request(quote, lines))
        return Accepted(str(subscription["latest_invoice"]), str(subscription["id"]))
    return Accepted(await _one_time_invoice(ctx, quote, lines), None)


def _reused(discount_ids: Sequence[str]) -> list[Any] | None:
    """`discounts` reusing the quote's own (`[{"discount": "di_..."}]`), as invoices,
    invoice items and subscriptions take them."""
    return [{"discount": discount_id} for discount_id in discount_ids] or None


def _tax_rate_ids(line: QuoteLine) -> list[str] | None:
    return [str(rate["id"]) for rate in line.tax_rates] or None


def _item_entry(line: QuoteLine) -> dict[str, Any]:
    """A subscription's `items[]` or `add_invoice_items[]` entry for the line."""
    entry: dict[str, Any] = {**line.source, "quantity": line.quantity}
    if line.discounts:
        entry["discounts"] = _reused(line.discounts)
    if line.tax_rates:
        entry["tax_rates"] = _tax_rate_ids(line)
    return entry


def _subscription_request(
    quote: Mapping[str, Any], lines: Sequence[QuoteLine]
) -> CreateSubscription:
    data = quote["subscription_data"]
    send_invoice = quote["collection_method"] == "send_invoice"
    return CreateSubscription(
        customer=str(quote["customer"]),
        items=[_item_entry(line) for line in lines if line.recurring],
        # One-time lines are billed once, on the first invoice (as Checkout bills them).
        add_invoice_items=[_item_entry(line) for line in lines if not line.recurring] or None,
        collection_method=quote["collection_method"],
        days_until_due=quote["invoice_settings"]["days_until_due"] if send_invoice else None,
        trial_period_days=data["trial_period_days"],
        billing_mode={"type": data["billing_mode"]["type"]},
        description=data["description"],
        metadata=data["metadata"],
        discounts=_reused(quote["discounts"]),
        default_tax_rates=list(quote["default_tax_rates"]) or None,
    )


async def _one_time_invoice(
    ctx: Context, quote: Mapping[str, Any], lines: Sequence[QuoteLine]
) -> str:
    send_invoice = quote["collection_method"] == "send_invoice"
    request = CreateInvoice(
        customer=str(quote["customer"]),
        currency=str(quote["currency"]),
        collection_method=quote["collection_method"],
        days_until_due=quote["invoice_settings"]["days_until_due"] if send_invoice else None,
        description=quote["description"],
        footer=quote["footer"],
        discounts=_reused(quote["discounts"]),
        default_tax_rates=list(quote["default_tax_rates"]) or None,
        pending_invoice_items_behavior="exclude",
    )
    invoice_ctx, invoice, taken = await invoices.draft_invoice(ctx, request)
    ensure(not taken, "a quote's invoice takes none of the customer's pending items")
    invoice["parent"] = _quote_parent(str(quote["id"]))
    invoice["billing_reason"] = QUOTE_BILLING_REASON
    await invoices.store_new_draft(invoice_ctx, invoice, [])
    ensure(len(lines) <= LINE_ITEMS_MAX, f"a quote has at most {LINE_ITEMS_MAX} lines")
    for line in lines:
        await create_invoice_item(invoice_ctx, _invoice_item_request(quote, invoice, line))
    return str(invoice["id"])


def _quote_parent(quote_id: str) -> ApiObject:
    return {
        "quote_details": {"quote": quote_id},
        "subscription_details": None,
        "type": "quote_details",
    }


def _invoice_item_request(
    quote: Mapping[str, Any], invoice: Mapping[str, Any], line: QuoteLine
) -> CreateInvoiceItem:
    source = line.source
    return CreateInvoiceItem(
        customer=str(quote["customer"]),
        invoice=str(invoice["id"]),
        pricing={"price": source["price"]} if "price" in source else None,
        price_data=source.get("price_data"),
        quantity=line.quantity,
        discounts=_reused(line.discounts),
        tax_rates=_tax_rate_ids(line),
    )
