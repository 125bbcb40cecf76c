"""What a Checkout Session's lines cost, and what the customer may choose on the page: the
quantity of a line with `line_items[][adjustable_quantity]`, and the amount of a line whose
price has a `custom_unit_amount` ("pay what you want"), and a promotion code when the session
has `allow_promotion_codes` (`checkout_discounts.page_promotion_code`), and that code removed
again (`checkout_discounts.drop_page_code`).

A line is priced as an invoice item on the same price is (tiers, decimal amounts and the
per-item ceiling), so the page charges what the first invoice or PaymentIntent will; a
custom-amount line starts at the price's `preset` (else its `minimum`, else the currency's
least charge). Changed on the page (`apply_choices`), the line, the session's amounts and its
discount are worked out again before the card is charged. Kassa's page offers no quantity
below 1 (Stripe's `minimum` of 0 removes the item from the cart; the page cannot, so its
floor is 1 whatever the minimum), and nothing changes once a payment was attempted: its
PaymentIntent (or subscription) is made for the amounts the attempt saw.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from kassa import money
from kassa.errors import InvalidParameter, InvalidRequest
from kassa.services import checkout_discounts, checkout_shipping
from kassa.services.billing import prices
from kassa.services.billing.invoice_amounts import DiscountTerms
from kassa.services.billing.invoice_item_pricing import check_item_amount, from_price
from kassa.services.billing.invoice_lines import tax_terms
from kassa.services.checkout_documents import amounts, private, save
from kassa.services.checkout_session_params import (
    ADJUSTABLE_MAXIMUM_DEFAULT,
    ADJUSTABLE_MINIMUM_DEFAULT,
)
from kassa.services.context import Context
from kassa.services.resource import ApiObject

PAGE_QUANTITY_FLOOR: Final = 1
"""The least quantity the page takes for an adjustable line (see the module's docstring)."""


@dataclass(frozen=True)
class PageChoices:
    """What the page's form sent, by line index: adjustable lines' quantities, and
    custom-amount lines' amounts as typed (major units: `25.50`)."""

    quantities: Mapping[int, int] = field(default_factory=dict)
    amounts: Mapping[int, str] = field(default_factory=dict)
    promotion_code: str = ""
    """A promotion code typed on a session with `allow_promotion_codes` and no discount."""
    shipping_rate: str = ""
    """The shipping option chosen (its rate's id), on a session with `shipping_options`."""
    remove_promotion_code: bool = False
    """The customer removes the promotion code typed earlier on the page."""


def line_amount(price: ApiObject, quantity: int | None, param: str) -> int:
    """The line's amount before discounts (`param` named if it is over the per-item
    ceiling). A metered line (no quantity) charges nothing now: its usage is billed in
    arrears, at the period's end; a custom-amount line starts at its starting amount."""
    if quantity is None:
        return 0
    if prices.has_custom_unit_amount(price):
        return starting_custom_amount(price)
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
    """The session's amounts and its lines' (the discount spread over them, then each line's
    tax rates, kept beside the lines: `line_tax_rates`)."""
    rates = [tax_terms(line_rates) for line_rates in private(session).get("line_tax_rates", [])]
    worked = amounts(lines, discount, rates)
    # The chosen shipping rate's amount comes on top (no discount or tax applies to it).
    shipping = checkout_shipping.shipping_amount(session)
    total = worked.total + shipping
    check_minimum_charge(str(session["mode"]), total, session["currency"])
    if session["mode"] != "setup":
        session["amount_subtotal"], session["amount_total"] = worked.subtotal, total
        session["total_details"] = {
            "amount_discount": worked.discount,
            "amount_shipping": shipping,
            "amount_tax": worked.exclusive_tax + worked.inclusive_tax,
        }
        private(session)["inclusive_tax"] = worked.inclusive_tax
    private(session)["line_items"] = worked.items


def custom_amount_bounds(price: Mapping[str, Any]) -> tuple[int, int]:
    """The least and most a customer may pay for a custom-amount price: its `minimum` and
    `maximum`, else the currency's least charge and Kassa's largest amount."""
    terms = price.get("custom_unit_amount") or {}
    currency = str(price["currency"])
    least = terms.get("minimum")
    most = terms.get("maximum")
    return (
        money.minimum_charge_amount(currency) if least is None else int(least),
        money.MAX_AMOUNT if most is None else int(most),
    )


def starting_custom_amount(price: Mapping[str, Any]) -> int:
    """What a custom-amount line shows before the customer types: the price's `preset`,
    else the least it takes."""
    preset = (price.get("custom_unit_amount") or {}).get("preset")
    return custom_amount_bounds(price)[0] if preset is None else int(preset)


def is_custom_amount_line(line: Mapping[str, Any]) -> bool:
    return line["quantity"] is not None and prices.has_custom_unit_amount(line["price"])


async def apply_choices(ctx: Context, session: ApiObject, choices: PageChoices) -> bool:
    """The quantities and amounts the page sent, each within its line's bounds, and the
    amounts worked out again; whether anything changed. Nothing is written unless every
    choice is good."""
    lines = private(session)["line_items"]
    quantities = _changed_quantities(lines, choices.quantities)
    amounts = _changed_amounts(lines, choices.amounts)
    code = choices.promotion_code.strip()
    takes_code = bool(code) and bool(session["allow_promotion_codes"]) and not session["discounts"]
    rate = choices.shipping_rate.strip()
    shown_rate = (session["shipping_cost"] or {}).get("shipping_rate")
    reships = bool(rate) and bool(session["shipping_options"]) and rate != shown_rate
    drops_code = choices.remove_promotion_code
    if drops_code:  # refused before anything else: a code never applied has nothing to remove
        checkout_discounts.check_page_code(session)
    if not quantities and not amounts and not takes_code and not reships and not drops_code:
        return False
    if session["status"] != "open" or private(session)["attempt"]:
        raise InvalidRequest(
            "The quantities and amounts can no longer change: a payment was attempted with these.",
            param="quantity",
        )
    for index, quantity in quantities:
        await _requantify(ctx, lines[index], quantity, f"line_items[{index}][quantity]")
    for index, amount in amounts:
        lines[index]["amount_subtotal"] = amount
    if reships:
        checkout_shipping.choose(session, rate)
    if drops_code:
        checkout_discounts.drop_page_code(session)
    if takes_code:
        (terms, shown), applied = await checkout_discounts.page_promotion_code(ctx, session, code)
        private(session)["discount_terms"] = stored_discount(terms)
        private(session)[checkout_discounts.PAGE_CODE] = applied
        session["discounts"] = shown
    set_amounts(session, lines, _discount_of(private(session).get("discount_terms")))
    await save(ctx, session)
    return True


def _changed_quantities(lines: list[ApiObject], wanted: Mapping[int, int]) -> list[tuple[int, int]]:
    return [
        (index, quantity)
        for index, quantity in sorted(wanted.items())
        if 0 <= index < len(lines)
        and lines[index]["adjustable_quantity"] is not None
        and lines[index]["quantity"] != quantity
    ]


def _changed_amounts(lines: list[ApiObject], typed: Mapping[int, str]) -> list[tuple[int, int]]:
    """The custom-amount lines' new amounts, each checked against its price's bounds."""
    changed = []
    for index, text in sorted(typed.items()):
        if not 0 <= index < len(lines) or not is_custom_amount_line(lines[index]):
            continue
        price = lines[index]["price"]
        param = f"line_items[{index}][amount]"
        amount = money.parse_major_units(text, str(price["currency"]))
        if amount is None:
            raise InvalidParameter(
                "Enter the amount as a number, with no more decimals than its currency has.",
                param=param,
            )
        least, most = custom_amount_bounds(price)
        if not least <= amount <= most:
            currency = str(price["currency"])
            raise InvalidParameter(
                f"Choose an amount from {money.format_amount(least, currency)} to "
                f"{money.format_amount(most, currency)}.",
                param=param,
            )
        if amount != lines[index]["amount_subtotal"]:
            changed.append((index, amount))
    return changed


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
