"""What a price charges for a quantity: pure arithmetic on `Decimal`, no I/O, no floats.

Invoices and subscriptions turn a stored price into `PriceTerms` (`prices.pricing_terms`)
and ask `line_amount(terms, quantity)` for a line's amount in integer minor units.

Per unit: `quantity` times the unit amount. With `transform_quantity`, the quantity is first
divided by `divide_by` and rounded `up` or `down` to a whole number (Stripe's quantity
transformation: `divide_by=5, round=up` bills 6 units as 2 packs).

Tiered (a tier covers the quantities above the previous tier's `up_to` up to and including
its own; the last tier's `up_to` is infinite):
- graduated: each tier's units times its unit amount, plus the flat amount of every tier
  the quantity enters;
- volume: the whole quantity at the unit amount of the one tier it falls in, plus that
  tier's flat amount.

Zero quantity. A quantity of 0 falls in the first tier (its range starts at 0), so both
modes charge the first tier's flat amount and nothing else; a tier above the first is
entered only by a quantity above the previous tier's `up_to`. This is how a "base fee plus
overage" price is built on Stripe (a first tier with a flat amount and unit amount 0, billed
whatever the usage); Stripe's API reference describes `flat_amount` only as "the flat
billing amount for an entire tier, regardless of the number of units in the tier", and the
stored documentation available here states no zero-quantity rule more precisely.

Rounding (the one rule, `LINE_AMOUNT_ROUNDING`): amounts with decimal unit amounts
(`unit_amount_decimal`, `flat_amount_decimal`, up to 12 decimal places) are summed exactly,
and the line's total is rounded once to whole minor units, half up. Source: Stripe,
"Decimal amounts for pricing" (docs.stripe.com/billing/subscriptions/decimal-amounts):
"Rounding occurs on the line item level of your invoices ... 0.05 * 30 = 1.5, which is then
rounded up to 2 cents. If you have multiple line items, each will be rounded before summing
up the total amount for the invoice."
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Literal

from kassa.invariants import InvariantViolated, ensure
from kassa.money import to_minor_units
from kassa.services.billing.rounding import LINE_AMOUNT_ROUNDING

TIERS_MAX: Final = 250
"""The most tiers a price may have (the bound of every loop over tiers)."""
QUANTITY_MAX: Final = 10**15
"""Far above any quantity Stripe bills (its quantities are 64-bit integers in practice well
below this); keeps every product of quantity and amount an exact Decimal."""
_EXACT_PRECISION: Final = 80
"""Digits for intermediate sums: QUANTITY_MAX times a 12-place amount of 20 digits fits with
room to spare, so nothing rounds before `line_amount` does."""

Rounding = Literal["up", "down"]
TiersMode = Literal["graduated", "volume"]


@dataclass(frozen=True)
class PerUnit:
    unit_amount: Decimal
    """Minor units per unit, possibly fractional (`unit_amount_decimal`)."""
    divide_by: int = 1
    """`transform_quantity[divide_by]`; 1 when the price has no transformation."""
    round: Rounding = "down"


@dataclass(frozen=True)
class Tier:
    up_to: int | None
    """The last quantity this tier covers; None for the last tier (`inf`)."""
    unit_amount: Decimal = Decimal(0)
    flat_amount: Decimal = Decimal(0)


@dataclass(frozen=True)
class Tiered:
    mode: TiersMode
    tiers: tuple[Tier, ...]


PriceTerms = PerUnit | Tiered


def check_tiers(tiers: tuple[Tier, ...]) -> None:
    """The shape every tiered price has (validated at the API before it is stored)."""
    ensure(0 < len(tiers) <= TIERS_MAX, f"a tiered price has 1 to {TIERS_MAX} tiers")
    ensure(tiers[-1].up_to is None, "the last tier reaches infinity")
    bounds = [t.up_to for t in tiers[:-1] if t.up_to is not None]
    ensure(len(bounds) == len(tiers) - 1, "only the last tier is infinite")
    ensure(bounds == sorted(set(bounds)) and all(b >= 1 for b in bounds), "tiers ascend")


def transformed_quantity(quantity: int, divide_by: int, rounding: Rounding) -> int:
    """`quantity / divide_by`, rounded up or down to a whole number (integer arithmetic)."""
    ensure(divide_by >= 1, "divide_by is a positive integer")
    whole, remainder = divmod(quantity, divide_by)
    return whole + 1 if remainder and rounding == "up" else whole


def tier_index(tiers: tuple[Tier, ...], quantity: int) -> int:
    """The tier `quantity` falls in: the first whose `up_to` is at least the quantity."""
    for index, tier in enumerate(tiers[:TIERS_MAX]):
        if tier.up_to is None or quantity <= tier.up_to:
            return index
    raise InvariantViolated("the last tier is infinite, so every quantity falls in a tier")


def graduated_parts(tiers: tuple[Tier, ...], quantity: int) -> list[Decimal]:
    """Each tier's exact share of a graduated amount: its units times its unit amount, plus
    its flat amount when the quantity enters it (the first tier always; see the module
    docstring). Tiers the quantity does not reach contribute 0."""
    parts: list[Decimal] = []
    below = 0  # the previous tier's up_to: this tier covers (below, up_to]
    with decimal.localcontext() as context:
        context.prec = _EXACT_PRECISION
        for index, tier in enumerate(tiers[:TIERS_MAX]):
            entered = index == 0 or quantity > below
            top = quantity if tier.up_to is None else min(quantity, tier.up_to)
            units = max(0, top - below)
            parts.append(units * tier.unit_amount + (tier.flat_amount if entered else 0))
            below = tier.up_to if tier.up_to is not None else below
    return parts


def exact_amount(terms: PriceTerms, quantity: int) -> Decimal:
    """The amount before rounding, exact."""
    ensure(0 <= quantity <= QUANTITY_MAX, f"a quantity is between 0 and {QUANTITY_MAX}")
    with decimal.localcontext() as context:
        context.prec = _EXACT_PRECISION
        if isinstance(terms, PerUnit):
            units = transformed_quantity(quantity, terms.divide_by, terms.round)
            return units * terms.unit_amount
        check_tiers(terms.tiers)
        if terms.mode == "graduated":
            return sum(graduated_parts(terms.tiers, quantity), Decimal(0))
        tier = terms.tiers[tier_index(terms.tiers, quantity)]
        return quantity * tier.unit_amount + tier.flat_amount


def line_amount(terms: PriceTerms, quantity: int) -> int:
    """What `quantity` of a price costs, in whole minor units (`LINE_AMOUNT_ROUNDING`)."""
    amount = to_minor_units(exact_amount(terms, quantity), LINE_AMOUNT_ROUNDING)
    ensure(amount >= 0, "a price never charges a negative amount")
    return amount


UNIT_AMOUNT_PLACES: Final = Decimal("1e-12")
"""Stripe's precision for `unit_amount_decimal`: 12 decimal places."""


def unit_amount_of(amount: int, quantity: int) -> Decimal:
    """The unit amount a line of `amount` for `quantity` units shows (a proration line's
    `unit_amount_decimal`), to UNIT_AMOUNT_PLACES, without trailing zeros."""
    ensure(quantity > 0, "a line's quantity is positive")
    with decimal.localcontext() as exact:
        exact.prec = _EXACT_PRECISION
        return (Decimal(amount) / quantity).quantize(UNIT_AMOUNT_PLACES).normalize()
