"""The arithmetic of discounts and taxes on invoice amounts: pure functions, integer minor
units in and out, `Decimal` in between, never `float`.

Each operation has one rounding rule (all of billing's rules are in `rounding`, with their
sources) and reaches integers only through `money.to_minor_units`:

- `percent_discount`: `PERCENT_DISCOUNT_ROUNDING`, half up.
- `amount_off_discount`: no rounding (integers), capped at the amount: a coupon worth more
  than the amount takes it to zero, never below (Stripe's coupon docs: a 200 amount_off on a
  100 subtotal leaves 0).
- `spread` (and `spread_signed`, whose weights may be negative): the largest remainder
  method. Every part is first rounded down, then the units still missing go one each to the
  parts with the largest remainders (the earlier part on a tie), so the parts sum exactly to
  the total.
- `exclusive_tax`: `EXCLUSIVE_TAX_ROUNDING`, half up, per amount (one line item).
- `inclusive_tax`: `INCLUSIVE_TAX_ROUNDING`, half up, per amount; the net is what remains,
  so tax + net is exactly the gross.
- `credited_share`: `CREDIT_SHARE_ROUNDING`, half up, on the share credited so far, less
  what was taken before; the share that completes the whole takes exactly what is left.

Source for half up, per line item: Stripe's "Rounding rules for Stripe fees"
(https://support.stripe.com/questions/rounding-rules-for-stripe-fees): amounts round to the
nearest minor unit, 0.025 up to 0.03 and 0.024 down to 0.02; the article's localized
editions (for example `?locale=nl-NL`) add a worked invoice where each line item's tax is
rounded on its own (0.43 at 15% = 0.0645 -> 0.06; 4.84 at 15% -> 0.73) and the invoice's tax
is the sum of the rounded line taxes (0.79). Stripe documents no separate rule for
percentage discounts; Kassa rounds them the same way.
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from contextlib import AbstractContextManager
from decimal import Decimal
from typing import Final

from kassa import money
from kassa.invariants import ensure
from kassa.services.billing.rounding import (
    CREDIT_SHARE_ROUNDING,
    EXCLUSIVE_TAX_ROUNDING,
    INCLUSIVE_TAX_ROUNDING,
    PERCENT_DISCOUNT_ROUNDING,
)

HUNDRED: Final = Decimal(100)
_PRECISION: Final = 60
"""Digits for the intermediate values. Products and the division by 100 are exact; the one
inexact division (the tax inside an inclusive amount) is carried to 60 digits, while a
quotient of the amounts and rates Kassa accepts (percentages of at most 12 decimal places)
that is not exactly half a unit lies more than 1e-15 away from one, so rounding half up
decides as exact arithmetic would."""


def percent_discount(amount: int, percent_off: Decimal) -> int:
    """`percent_off` percent of `amount`, rounded half up: 25% of 999 is 250 (249.75)."""
    _check_amount(amount)
    _check_percent(percent_off, maximum=HUNDRED)
    with _exact():
        discount = money.to_minor_units(
            Decimal(amount) * percent_off / HUNDRED, PERCENT_DISCOUNT_ROUNDING
        )
    ensure(0 <= discount <= amount, "a percentage discount lies between 0 and the amount")
    return discount


def amount_off_discount(amount: int, amount_off: int) -> int:
    """`amount_off` minor units off `amount`, never more than the amount."""
    _check_amount(amount)
    _check_amount(amount_off)
    return min(amount, amount_off)


def spread(total: int, weights: Sequence[int | Decimal]) -> list[int]:
    """`total` split over parts in proportion to `weights` (an invoice-level discount over
    its lines, by line amount), summing exactly to `total`. When `total` is at most the sum
    of integer weights, no part exceeds its weight."""
    _check_amount(total)
    scaled = _as_integers(weights)
    if total == 0:
        return [0] * len(scaled)
    if sum(scaled) == 0:
        raise ValueError(f"cannot spread {total} over parts that all weigh nothing")
    return _largest_remainders(total, scaled)


def spread_signed(total: int, weights: Sequence[int]) -> list[int]:
    """`total` split over parts in proportion to integer weights of either sign that sum to
    more than zero (an invoice discount over charges and discountable credits: a credit's
    part is negative), summing exactly to `total`. When `total` is at most the sum of the
    weights, each part lies between zero and its weight."""
    _check_amount(total)
    if total == 0:
        return [0] * len(weights)
    if sum(weights) <= 0:
        raise ValueError(f"cannot spread {total} over weights that sum to {sum(weights)}")
    return _largest_remainders(total, list(weights))


def _largest_remainders(total: int, weights: Sequence[int]) -> list[int]:
    """Every part rounded down (toward minus infinity), then the units still missing one
    each to the parts with the largest remainders (the earlier on a tie)."""
    whole = sum(weights)
    ensure(whole > 0, "the weights of a spread sum to more than zero")
    # Exact integer shares: total * w / whole = floor + remainder / whole.
    shares = [divmod(total * weight, whole) for weight in weights]
    parts = [floor for floor, _ in shares]
    missing = total - sum(parts)
    by_remainder = sorted(range(len(shares)), key=lambda i: (-shares[i][1], i))
    for index in by_remainder[:missing]:
        parts[index] += 1
    ensure(sum(parts) == total, "the parts of a spread sum to its total")
    return parts


def exclusive_tax(amount: int, percentage: Decimal) -> int:
    """The tax added on top of `amount` at `percentage` percent, rounded half up."""
    _check_amount(amount)
    _check_percent(percentage, maximum=HUNDRED)
    with _exact():
        return money.to_minor_units(Decimal(amount) * percentage / HUNDRED, EXCLUSIVE_TAX_ROUNDING)


def inclusive_tax(gross: int, percentage: Decimal) -> int:
    """The tax contained in `gross`, an amount that includes tax at `percentage` percent:
    gross * p / (100 + p), rounded half up. The net is `gross - inclusive_tax(...)`."""
    _check_amount(gross)
    _check_percent(percentage, maximum=HUNDRED)
    with _exact():
        tax = money.to_minor_units(
            Decimal(gross) * percentage / (HUNDRED + percentage), INCLUSIVE_TAX_ROUNDING
        )
    ensure(0 <= tax <= gross, "the tax inside an amount lies between 0 and the amount")
    return tax


def credited_share(whole: int, taken: int, credited: int, of: int) -> int:
    """What a credit takes of `whole` (one discount or tax amount of an invoice line) when
    the line's credits reach `credited` of its `of` (units, or minor units of its amount)
    and earlier credits took `taken` of `whole`: `whole * credited / of`, rounded half up,
    less `taken`, between 0 and what is left; exactly what is left once `credited` is all
    of it, so the shares of every credit sum to `whole`."""
    _check_amount(whole)
    _check_amount(taken)
    ensure(of > 0 and 0 <= credited <= of, "a credit reaches at most all of the line")
    ensure(taken <= whole, "earlier credits took at most the whole")
    left = whole - taken
    if credited == of:
        return left
    with _exact():
        reached = money.to_minor_units(
            Decimal(whole) * Decimal(credited) / Decimal(of), CREDIT_SHARE_ROUNDING
        )
    return min(max(reached - taken, 0), left)


def _exact() -> AbstractContextManager[decimal.Context]:
    context = decimal.Context(prec=_PRECISION, rounding=decimal.ROUND_HALF_EVEN)
    return decimal.localcontext(context)


def _as_integers(weights: Sequence[int | Decimal]) -> list[int]:
    """The weights scaled by one power of ten so that all are integers (ratios unchanged)."""
    decimals = [_weight(w) for w in weights]
    places = max((-_exponent(d) for d in decimals), default=0)
    scale = 10 ** max(places, 0)
    return [int(d * scale) for d in decimals]


def _weight(weight: int | Decimal) -> Decimal:
    if isinstance(weight, bool) or not isinstance(weight, int | Decimal):
        raise TypeError(f"a weight is an int or a Decimal, not {type(weight).__name__}")
    value = Decimal(weight)
    if not value.is_finite() or value < 0:
        raise ValueError(f"a weight is finite and not negative, not {weight}")
    return value


def _exponent(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return exponent if isinstance(exponent, int) else 0


def _check_amount(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"an amount is an int of minor units, not {type(amount).__name__}")
    if amount < 0:
        raise ValueError(f"an amount is never negative here, not {amount}")


def _check_percent(percent: Decimal, *, maximum: Decimal) -> None:
    if not isinstance(percent, Decimal) or not percent.is_finite():
        raise TypeError(f"a percentage is a finite Decimal, not {percent!r}")
    if not Decimal(0) <= percent <= maximum:
        raise ValueError(f"a percentage lies between 0 and {maximum}, not {percent}")
