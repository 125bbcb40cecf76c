"""A quote's lines and discounts as sent (`line_items`, `discounts`, `default_tax_rates`):
each price loaded or made inline, each discount made (a Discount object, `di_...`, as Stripe
makes one for a quote), each tax rate checked; and the lines read back from the stored quote
when another of its parameters changes its amounts.

The discounts a quote makes hang off no object but its customer (`discounts.Lineage`), so
that accepting the quote hands them to the invoice or subscription it makes
(`discounts[][discount]`) rather than applying their coupons a second time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from kassa.errors import ExclusiveParameters, InvalidParameter, MissingParameter
from kassa.invariants import ensure
from kassa.services.billing import discounts, prices
from kassa.services.billing.invoice_item_pricing import (
    active_price,
    inline_price,
    price_data_names,
    usable_tax_rates,
)
from kassa.services.billing.quote_documents import QuoteLine, stored_lines
from kassa.services.billing.quote_params import LINE_ITEMS_MAX
from kassa.services.context import Context
from kassa.services.resource import ApiObject

QUANTITY_DEFAULT: Final = 1
"""Stripe: a line item's `quantity` defaults to 1."""


async def lines_sent(
    ctx: Context, entries: Sequence[Mapping[str, Any]], customer: str | None, quote: str
) -> list[QuoteLine]:
    """`line_items` as sent: each one's price, quantity, own discounts (made by `quote`) and
    tax rates."""
    lines = []
    for index, entry in enumerate(entries[:LINE_ITEMS_MAX]):
        path = f"line_items[{index}]"
        price, source = await _price(ctx, entry, path)
        line_discounts: tuple[str, ...] = ()
        if entry.get("discounts"):
            line_discounts = tuple(
                await made_discounts(
                    ctx,
                    entry["discounts"],
                    customer,
                    str(price["currency"]),
                    f"{path}[discounts]",
                    quote,
                )
            )
        rates = await usable_tax_rates(
            ctx, list(entry.get("tax_rates") or []), param=f"{path}[tax_rates]"
        )
        quantity = entry.get("quantity")
        lines.append(
            QuoteLine(
                price=price,
                quantity=QUANTITY_DEFAULT if quantity is None else int(quantity),
                discounts=line_discounts,
                tax_rates=tuple(rates),
                source=source,
            )
        )
    check_alike(lines)
    return lines


async def _price(
    ctx: Context, entry: Mapping[str, Any], path: str
) -> tuple[ApiObject, dict[str, Any]]:
    """The line's price, and how an invoice or subscription item names it again."""
    if entry.get("price") is not None and entry.get("price_data") is not None:
        raise ExclusiveParameters((f"{path}[price]", f"{path}[price_data]"), param=f"{path}[price]")
    if entry.get("price") is not None:
        price = await active_price(ctx, str(entry["price"]), f"{path}[price]")
        _check_not_metered(price, f"{path}[price]")
        return price, {"price": price["id"]}
    data = entry.get("price_data")
    if data is None:
        raise MissingParameter(f"{path}[price]")
    price = await inline_price(ctx, data, price_data_names(f"{path}[price_data]"))
    return price, {"price_data": dict(data)}


def _check_not_metered(price: Mapping[str, Any], param: str) -> None:
    recurring = price.get("recurring") or {}
    if recurring.get("usage_type") == "metered":
        raise InvalidParameter(
            f"The price {price['id']} is metered: a quote cannot show what usage will cost. "
            "Create the subscription through the API.",
            param=param,
        )


def check_alike(lines: Sequence[QuoteLine]) -> None:
    """One currency for every line, and one billing interval for the recurring ones (one
    subscription bills them)."""
    currencies = {str(line.price["currency"]) for line in lines}
    if len(currencies) > 1:
        raise InvalidParameter(
            "All of a quote's line items must share one currency.", param="line_items"
        )
    intervals = {
        (line.price["recurring"]["interval"], line.price["recurring"]["interval_count"])
        for line in lines
        if line.recurring
    }
    if len(intervals) > 1:
        raise InvalidParameter(
            "All of a quote's recurring line items must bill at the same interval.",
            param="line_items",
        )


async def made_discounts(
    ctx: Context,
    requested: Sequence[Mapping[str, Any]],
    customer: str | None,
    currency: str | None,
    param: str,
    quote: str,
) -> list[str]:
    """The discounts `requested` makes for the customer, made by `quote` (a discount's
    coupon is checked against the quote's currency)."""
    if customer is None:
        raise InvalidParameter(
            f"A quote's {param} need its customer: give customer first.", param=param
        )
    if currency is None:
        raise InvalidParameter(
            f"A quote's {param} need its line items (their currency): give line_items.",
            param=param,
        )
    return await discounts.apply(
        ctx,
        requested,
        lineage=discounts.Lineage.of(customer),
        currency=currency,
        quote=quote,
        param=param,
    )


async def discard_replaced(
    ctx: Context, quote: str, current: Sequence[str], requested: Sequence[Mapping[str, Any]]
) -> None:
    """The quote's discounts in `current` that `requested` (what replaces them) does not
    reuse, forgotten and their redemptions given back: before the new ones are made, so a
    coupon limited to one redemption can be sent again."""
    reused = [str(entry["discount"]) for entry in requested if entry.get("discount")]
    await discounts.discard(ctx, current, owner=quote, kept=reused)


def stored_line(line: QuoteLine) -> ApiObject:
    """What the quote keeps of a line to price it again."""
    return {
        "price": line.price["id"],
        "quantity": line.quantity,
        "discounts": list(line.discounts),
        "tax_rates": list(line.tax_rates),
        "source": dict(line.source),
    }


async def lines_stored(ctx: Context, quote: Mapping[str, Any]) -> list[QuoteLine]:
    """The quote's lines as stored, their prices read again (with tiers)."""
    lines = []
    for entry in stored_lines(quote)[:LINE_ITEMS_MAX]:
        price = await prices.load_price(ctx, str(entry["price"]), param="line_items")
        lines.append(
            QuoteLine(
                price=price,
                quantity=int(entry["quantity"]),
                discounts=tuple(entry["discounts"]),
                tax_rates=tuple(entry["tax_rates"]),
                source=entry["source"],
            )
        )
    ensure(len(lines) == len(stored_lines(quote)), "a quote keeps every line it was given")
    return lines
