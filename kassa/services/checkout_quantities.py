"""What a Checkout Session's lines cost, and the quantities the customer may change on the
page (`line_items[][adjustable_quantity]`).

A line is priced as an invoice item on the same price is (tiers, decimal amounts and the
per-item ceiling), so the page charges what the first invoice or PaymentIntent will. A line
with `adjustable_quantity[enabled]=true` shows a quantity field on the page: changed there
(`change_quantities`), the line, the session's amounts and its discount are worked out again
before the card is charged. Kassa's page offers no quantity below 1 (Stripe's `minimum` of 0
removes the item from the cart; the page cannot, so its floor is 1 whatever the minimum), and
quantities stop changing once a payment was attempted: its PaymentIntent (or subscription)
is made for the amounts the attempt saw.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from kassa import money
from kassa.errors import InvalidParameter, InvalidRequest
from kassa.services.billing import prices
from kassa.services.billing.invoice_amounts import DiscountTerms
from kassa.services.billing.invoice_item_pricing import check_item_amount, from_price
from kassa.services.checkout_documents import amounts, private, save
from kassa.services.checkout_session_params import (
    ADJUSTABLE_MAXIMUM_DEFAULT,
    ADJUSTABLE_MINIMUM_DEFAULT,
)
from kassa.services.context import Context
from kassa.services.resource import ApiObject

PAGE_QUANTITY_FLOOR: Final = 1
"""The least quantity the page takes for an adjustable line (see the module's docstring)."""


def line_amount(price: ApiObject, quantity: int | None, param: str) -> int:
    """The line's amount before discounts (`param` named if it is over the per-item
    ceiling). A metered line (no quantity) charges nothing now: its usage is billed in
    arrears, at the period's end."""
    if quantity is None:
        return 0
    priced = from_price(price, quantity)
    check_item_amount(priced, param)
    return priced.amount


def adjustable_terms(entry: Mapping[str, Any], quantity: int | None, path: str) -> ApiObject | None:
    """The line's `adjustable_quantity` as the session shows it (None unless enabled), its
    bounds checked against each other and against the line's `quantity`."""
    given = entry.get("adjustable_quantity")
    if not given or not given.get("enabled"):
        return None
    if quantity is None:
        raise InvalidParameter(
            "A metered price's quantity is its usage: its line's quantity cannot be adjustable.",
            param=f"{path}[adjustable_quantity][enabled]",
        )
    minimum = given.get("minimum")
    maximum = given.get("maximum")
    minimum = ADJUSTABLE_MINIMUM_DEFAULT if minimum is None else int(minimum)
    maximum = ADJUSTABLE_MAXIMUM_DEFAULT if maximum is None else int(maximum)
    if minimum > maximum:
        raise InvalidParameter(
            f"adjustable_quantity[minimum] ({minimum}) must not exceed "
            f"adjustable_quantity[maximum] ({maximum}).",
            param=f"{path}[adjustable_quantity][minimum]",
        )
    if not minimum <= quantity <= maximum:
        raise InvalidParameter(
            f"The line's quantity ({quantity}) must be between its adjustable_quantity's "
            f"minimum ({minimum}) and maximum ({maximum}).",
            param=f"{path}[quantity]",
        )
    return {"enabled": True, "maximum": maximum, "minimum": minimum}


def stored_discount(terms: DiscountTerms | None) -> ApiObject | None:
    """The session's discount as its amounts were worked out, kept to work them out again."""
    if terms is None:
        return None
    return {
        "discount": terms.discount,
        "percent_off": None if terms.percent_off is None else str(terms.percent_off),
        "amount_off": terms.amount_off,
        "products": None if terms.products is None else sorted(terms.products),
    }


def _discount_of(stored: Mapping[str, Any] | None) -> DiscountTerms | None:
    if stored is None:
        return None
    percent_off = stored["percent_off"]
    products = stored["products"]
    return DiscountTerms(
        discount=str(stored["discount"]),
        percent_off=None if percent_off is None else Decimal(percent_off),
        amount_off=stored["amount_off"],
        products=None if products is None else frozenset(products),
    )


def check_minimum_charge(mode: str, total: int, currency: str | None) -> None:
    """A payment-mode session must charge at least the currency's minimum."""
    minimum = money.minimum_charge_amount(currency or "usd")
    if mode == "payment" and total < minimum:
        raise InvalidParameter(
            "The Checkout Session's total amount due must add up to at least "
            f"{money.format_amount(minimum, str(currency))}.",
            param="line_items",
        )


def set_amounts(session: ApiObject, lines: list[ApiObject], discount: DiscountTerms | None) -> None:
    """The session's amounts and its lines' (with the discount spread over them)."""
    subtotal, discounted, total, items = amounts(lines, discount)
    check_minimum_charge(str(session["mode"]), total, session["currency"])
    if session["mode"] != "setup":
        session["amount_subtotal"], session["amount_total"] = subtotal, total
        session["total_details"] = {
            "amount_discount": discounted,
            "amount_shipping": 0,
            "amount_tax": 0,
        }
    private(session)["line_items"] = items


async def change_quantities(ctx: Context, session: ApiObject, wanted: Mapping[int, int]) -> bool:
    """The quantities the page sent (line index -> quantity) for its adjustable lines, each
    within its bounds, and the amounts worked out again; whether anything changed. Nothing
    is written unless every quantity is good."""
    lines = private(session)["line_items"]
    changed = [
        (index, quantity)
        for index, quantity in sorted(wanted.items())
        if 0 <= index < len(lines)
        and lines[index]["adjustable_quantity"] is not None
        and lines[index]["quantity"] != quantity
    ]
    if not changed:
        return False
    if session["status"] != "open" or private(session)["attempt"]:
        raise InvalidRequest(
            "The quantities can no longer change: a payment was attempted with these.",
            param="quantity",
        )
    for index, quantity in changed:
        line = lines[index]
        await _requantify(ctx, line, quantity, f"quantity-{index}")
    set_amounts(session, lines, _discount_of(private(session).get("discount_terms")))
    await save(ctx, session)
    return True


async def _requantify(ctx: Context, line: ApiObject, quantity: int, param: str) -> None:
    bounds = line["adjustable_quantity"]
    floor = max(int(bounds["minimum"]), PAGE_QUANTITY_FLOOR)
    if not floor <= quantity <= int(bounds["maximum"]):
        raise InvalidParameter(
            f"Choose a quantity of {line['description'] or 'the item'} from {floor} to "
            f"{bounds['maximum']}.",
            param=param,
        )
    price = await prices.load_price(ctx, str(line["price"]["id"]), param=param)
    line["quantity"] = quantity
    line["amount_subtotal"] = line_amount(price, quantity, param)
