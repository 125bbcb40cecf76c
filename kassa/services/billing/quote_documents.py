"""A quote's stored document: the object exactly as stripe-python 16 declares `stripe.Quote`
(every field but the includable `line_items`), Kassa's private facts beside it (`PRIVATE`:
the line items, what each line was priced from, the upfront lines, `expires_due`), and its
amounts worked out with the invoices' arithmetic (`invoice_amounts`), so that accepting a
quote bills what it showed.

The private facts are never shown: every answer and event goes through `public`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from kassa.ids import new_id
from kassa.invariants import ensure
from kassa.services.billing import discounts, invoice_lines, prices, subscription_billing_mode
from kassa.services.billing.invoice_amounts import (
    InvoiceAmounts,
    LineAmounts,
    LineTerms,
    invoice_amounts,
)
from kassa.services.billing.invoice_item_pricing import check_item_amount, from_price
from kassa.services.billing.quote_params import LINE_ITEMS_MAX
from kassa.services.context import Context
from kassa.services.resource import ApiObject, document_copy
from kassa.store.tables import PRIVATE, PRODUCTS, QUOTES

EXPIRES_AFTER_DEFAULT_SECONDS: Final = 30 * 86_400
"""Stripe's default `expires_at` (its quote template's default): 30 days after creation (the
API reference's example: `expires_at` - `created` = 2,592,000)."""
LIVE_STATUSES: Final = ("draft", "open")
"""What expires at `expires_at` (Stripe: "canceled if in `open` or `draft` status")."""


@dataclass(frozen=True)
class QuoteLine:
    """One line as priced: its price (the stored document, with tiers), its quantity, its
    own discounts (ids) and tax rates (objects; none: the quote's `default_tax_rates`), and
    how an invoice or subscription item names its price (`{"price": id}` or the
    `price_data` an inline price was made from)."""

    price: ApiObject
    quantity: int
    discounts: tuple[str, ...]
    tax_rates: tuple[ApiObject, ...]
    source: Mapping[str, Any]

    @property
    def recurring(self) -> bool:
        return self.price.get("recurring") is not None


def private(quote: Mapping[str, Any]) -> dict[str, Any]:
    facts: dict[str, Any] = quote[PRIVATE]
    return facts


def public(quote: Mapping[str, Any]) -> ApiObject:
    """The quote as the API shows it: a copy without Kassa's own facts."""
    return document_copy({k: v for k, v in quote.items() if k != PRIVATE})


async def insert(ctx: Context, quote: ApiObject) -> None:
    await ctx.tx.insert_object(QUOTES, ctx.account_id, quote)


async def save(ctx: Context, quote: ApiObject) -> None:
    await ctx.tx.update_object(QUOTES, ctx.account_id, quote)


def stored_lines(quote: Mapping[str, Any]) -> list[ApiObject]:
    lines: list[ApiObject] = private(quote)["lines"]
    return lines


def line_items(quote: Mapping[str, Any]) -> list[ApiObject]:
    items: list[ApiObject] = private(quote)["line_items"]
    return items


def upfront_items(quote: Mapping[str, Any]) -> list[ApiObject]:
    items: list[ApiObject] = private(quote)["upfront_line_items"]
    return items


def invoiced_upfront(lines: Sequence[QuoteLine], trial_days: int | None) -> list[QuoteLine]:
    """The lines the first invoice bills on acceptance: every line, or only the one-time
    lines while a trial keeps the recurring ones from being billed (Stripe's
    `computed.upfront`: "the line items that will appear on the next invoice")."""
    return [line for line in lines if not (trial_days and line.recurring)]


async def write_amounts(
    ctx: Context, quote: ApiObject, lines: Sequence[QuoteLine], trial_days: int | None
) -> None:
    """The quote's amounts, its line items and `computed` from `lines` and its own
    `discounts` and `default_tax_rates`: the whole quote (one period of each recurring
    line), what is invoiced upfront, and what recurs."""
    ensure(len(lines) <= LINE_ITEMS_MAX, f"a quote has at most {LINE_ITEMS_MAX} lines")
    currency = str(quote["currency"] or "usd")
    shown = await _line_items(ctx, quote, lines, currency)
    whole = shown.amounts
    quote["amount_subtotal"] = _before_discounts(whole)
    quote["amount_total"] = whole.total
    quote["total_details"] = _total_details(whole)
    upfront = await _line_items(ctx, quote, invoiced_upfront(lines, trial_days), currency)
    recurring_lines = [line for line in lines if line.recurring]
    quote["computed"] = {
        "recurring": await _recurring(ctx, quote, recurring_lines, currency),
        "upfront": {
            "amount_subtotal": _before_discounts(upfront.amounts),
            "amount_total": upfront.amounts.total,
            "line_items": None,
            "total_details": _total_details(upfront.amounts),
        },
    }
    private(quote)["line_items"] = shown.items
    private(quote)["upfront_line_items"] = upfront.items


@dataclass(frozen=True)
class _Shown:
    amounts: InvoiceAmounts
    items: list[ApiObject]


async def _line_items(
    ctx: Context, quote: Mapping[str, Any], lines: Sequence[QuoteLine], currency: str
) -> _Shown:
    default_rates = tuple(private(quote)["default_tax_rates"])
    terms = []
    for line in lines:
        priced = from_price(line.price, line.quantity)
        check_item_amount(priced, "line_items")
        terms.append(
            LineTerms(
                amount=priced.amount,
                discounts=await discounts.discount_terms(ctx, line.discounts, currency),
                product=str(line.price["product"]),
                tax_rates=invoice_lines.tax_terms(line.tax_rates or default_rates),
            )
        )
    quote_discounts = await discounts.discount_terms(ctx, list(quote["discounts"]), currency)
    amounts = invoice_amounts(terms, quote_discounts)
    items = [
        await _item(ctx, line, line_amounts, line.tax_rates or default_rates)
        for line, line_amounts in zip(lines, amounts.lines, strict=True)
    ]
    return _Shown(amounts, items)


def _before_discounts(amounts: InvoiceAmounts) -> int:
    """Stripe's `amount_subtotal`: "Total before any discounts or taxes are applied"."""
    return sum(line.amount for line in amounts.lines)


def _total_details(amounts: InvoiceAmounts) -> ApiObject:
    return {
        "amount_discount": amounts.discount_total,
        "amount_shipping": 0,
        "amount_tax": amounts.exclusive_tax_total + amounts.inclusive_tax_total,
        "breakdown": None,
    }


async def _item(
    ctx: Context, line: QuoteLine, amounts: LineAmounts, rates: Sequence[ApiObject]
) -> ApiObject:
    """A line as Stripe's `item` object shows it, its discounts and taxes in full."""
    by_rate = {str(rate["id"]): rate for rate in rates}
    exclusive = sum(tax.amount for tax in amounts.taxes if not tax.inclusive)
    product = await ctx.tx.get_object(
        PRODUCTS, ctx.account_id, str(line.price["product"]), lock=False
    )
    return {
        "id": new_id("li"),
        "object": "item",
        "adjustable_quantity": None,
        "amount_discount": amounts.amount - amounts.discounted,
        "amount_subtotal": amounts.amount,
        "amount_tax": sum(tax.amount for tax in amounts.taxes),
        "amount_total": amounts.discounted + exclusive,
        "currency": line.price["currency"],
        "description": None if product is None else product[0].get("name"),
        "discounts": [
            {"amount": d.amount, "discount": await discounts.load_discount(ctx, d.discount)}
            for d in amounts.discount_amounts
        ],
        "metadata": {},
        "price": prices.price_view(dict(line.price)),
        "quantity": line.quantity,
        "taxes": [
            {
                "amount": tax.amount,
                "rate": by_rate[tax.tax_rate],
                "taxability_reason": None,
                "taxable_amount": tax.taxable_amount,
            }
            for tax in amounts.taxes
        ],
    }


async def _recurring(
    ctx: Context, quote: Mapping[str, Any], lines: Sequence[QuoteLine], currency: str
) -> ApiObject | None:
    """What each period bills after the first (Stripe's `computed.recurring`); None for a
    quote of one-time lines only."""
    if not lines:
        return None
    recurring = lines[0].price["recurring"]
    shown = await _line_items(ctx, quote, lines, currency)
    return {
        "amount_subtotal": _before_discounts(shown.amounts),
        "amount_total": shown.amounts.total,
        "interval": recurring["interval"],
        "interval_count": recurring["interval_count"],
        "total_details": _total_details(shown.amounts),
    }


def billing_mode_shown(requested: Mapping[str, Any] | None, now: int) -> ApiObject:
    """`subscription_data[billing_mode]` as the quote shows it: the mode the subscription
    accepting it will take (`subscription_billing_mode.chosen`: flexible unless asked), its
    time of change left to the subscription."""
    mode = subscription_billing_mode.chosen(requested, now)
    return {"flexible": mode["flexible"], "type": mode["type"]}


def blank_quote(ctx: Context, now: int) -> ApiObject:
    """Every field Stripe's object declares, at what a new draft holds."""
    return {
        "id": new_id("qt"),
        "object": "quote",
        "amount_subtotal": 0,
        "amount_total": 0,
        "application": None,
        "application_fee_amount": None,
        "application_fee_percent": None,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "collection_method": "charge_automatically",
        "computed": {"recurring": None, "upfront": None},
        "created": now,
        "currency": None,
        "customer": None,
        "customer_account": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "expires_at": now + EXPIRES_AFTER_DEFAULT_SECONDS,
        "footer": None,
        "from_quote": None,
        "header": None,
        "invoice": None,
        "invoice_settings": {
            "custom_fields": None,
            "days_until_due": None,
            "description": None,
            "footer": None,
            "issuer": {"type": "self"},
        },
        "livemode": ctx.livemode,
        "metadata": {},
        "number": None,
        "on_behalf_of": None,
        "status": "draft",
        "status_transitions": {"accepted_at": None, "canceled_at": None, "finalized_at": None},
        "subscription": None,
        "subscription_data": {
            "billing_mode": billing_mode_shown(None, now),
            "description": None,
            "effective_date": None,
            "metadata": None,
            "trial_period_days": None,
        },
        "subscription_schedule": None,
        "test_clock": None,
        "total_details": {
            "amount_discount": 0,
            "amount_shipping": 0,
            "amount_tax": 0,
            "breakdown": None,
        },
        "transfer_data": None,
        PRIVATE: {
            "lines": [],
            "line_items": [],
            "upfront_line_items": [],
            "default_tax_rates": [],
            "expires_due": None,
        },
    }
