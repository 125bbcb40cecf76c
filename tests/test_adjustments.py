"""The discount and tax arithmetic (`kassa.services.billing.adjustments`): worked examples,
each rounding rule at its half unit, and properties over random amounts and rates."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kassa import money
from kassa.services.billing.adjustments import (
    amount_off_discount,
    exclusive_tax,
    inclusive_tax,
    percent_discount,
    spread,
    spread_signed,
)

AMOUNTS = st.integers(min_value=0, max_value=money.MAX_AMOUNT * 100)
PERCENTS = st.decimals(min_value=0, max_value=100, places=4, allow_nan=False)
POSITIVE_PERCENTS = st.decimals(min_value=Decimal("0.0001"), max_value=100, places=4)
WEIGHTS = st.lists(st.integers(min_value=0, max_value=money.MAX_AMOUNT), min_size=1, max_size=50)


# -- worked examples --------------------------------------------------------------------------


def test_stripe_s_worked_tax_example_rounds_each_line_half_up() -> None:
    """Stripe's support article: 0.43 and 4.84 at 15% are taxed 0.06 and 0.73 (0.79 in all),
    each line rounded on its own."""
    lines = [exclusive_tax(amount, Decimal(15)) for amount in (43, 484)]
    assert lines == [6, 73]
    assert sum(lines) == 79


@pytest.mark.parametrize(
    ("amount", "percent", "discount"),
    [
        (999, "25", 250),  # 249.75
        (10, "25", 3),  # 2.5: half up, not to even
        (30, "25", 8),  # 7.5
        (1000, "33.3333", 333),
        (1, "100", 1),
        (0, "50", 0),
        (12345, "0.01", 1),  # 1.2345
    ],
)
def test_percent_discount(amount: int, percent: str, discount: int) -> None:
    assert percent_discount(amount, Decimal(percent)) == discount


def test_amount_off_is_capped_at_the_amount() -> None:
    assert amount_off_discount(100, 200) == 100
    assert amount_off_discount(300, 200) == 200
    assert amount_off_discount(0, 200) == 0


@pytest.mark.parametrize(
    ("amount", "percent", "tax"),
    [(1000, "19", 190), (50, "5", 3), (10, "25", 3), (999, "8.875", 89), (0, "20", 0)],
)
def test_exclusive_tax(amount: int, percent: str, tax: int) -> None:
    assert exclusive_tax(amount, Decimal(percent)) == tax


@pytest.mark.parametrize(
    ("gross", "percent", "tax"),
    [
        (1200, "20", 200),
        (1190, "19", 190),
        (299, "4", 12),  # 11.5 exactly: half up
        (100, "0", 0),
        (1, "100", 1),  # 0.5: half up
    ],
)
def test_inclusive_tax(gross: int, percent: str, tax: int) -> None:
    assert inclusive_tax(gross, Decimal(percent)) == tax


def test_spread_by_largest_remainder() -> None:
    assert spread(100, [1, 1, 1]) == [34, 33, 33]  # ties go to the earlier line
    assert spread(10, [500, 300, 200]) == [5, 3, 2]
    assert spread(7, [0, 5, 5]) == [0, 4, 3]
    assert spread(5, [1, 2, 6]) == [1, 1, 3]  # shares 0.56, 1.11, 3.33
    assert spread(0, [0, 0]) == [0, 0]
    assert spread(3, [Decimal("0.5"), Decimal("1.5")]) == [1, 2]  # 0.75, 2.25


def test_a_signed_spread_gives_credits_negative_parts() -> None:
    assert spread_signed(300, [1000, -400]) == [500, -200]
    assert spread_signed(500, [1000, -400]) == [833, -333]  # 833.33, -333.33
    assert spread_signed(600, [1000, 0, -400]) == [1000, 0, -400]


@pytest.mark.parametrize(
    "call",
    [
        lambda: percent_discount(-1, Decimal(5)),
        lambda: percent_discount(100, Decimal("100.1")),
        lambda: exclusive_tax(100, Decimal(-1)),
        lambda: spread(5, [0, 0]),
        lambda: spread(5, [-1, 3]),
        lambda: spread_signed(5, [-3, 3]),
    ],
)
def test_refuses_what_no_invoice_has(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        call()


def test_refuses_floats() -> None:
    with pytest.raises(TypeError):
        percent_discount(100, 2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        exclusive_tax(100.0, Decimal(5))  # type: ignore[arg-type]


# -- properties -------------------------------------------------------------------------------


@given(amount=AMOUNTS, percent=PERCENTS)
def test_a_percentage_discount_never_exceeds_the_amount(amount: int, percent: Decimal) -> None:
    discount = percent_discount(amount, percent)
    assert isinstance(discount, int)
    assert 0 <= discount <= amount
    # Half up: within half a unit of the exact value, and never below it by half a unit.
    exact = Decimal(amount) * percent / 100
    assert -Decimal("0.5") < discount - exact <= Decimal("0.5")


@given(amount=AMOUNTS, amount_off=AMOUNTS)
def test_an_amount_off_never_exceeds_the_amount(amount: int, amount_off: int) -> None:
    discount = amount_off_discount(amount, amount_off)
    assert 0 <= discount <= amount
    assert discount in (amount, amount_off)


@given(total=AMOUNTS, weights=WEIGHTS)
def test_spread_parts_sum_to_the_total(total: int, weights: list[int]) -> None:
    if sum(weights) == 0:
        weights = [*weights[:-1], 1]
    parts = spread(total, weights)
    assert sum(parts) == total
    assert len(parts) == len(weights)
    assert all(isinstance(part, int) and part >= 0 for part in parts)
    whole = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        exact = Decimal(total) * weight / whole
        assert abs(part - exact) < 1, "each part is its exact share rounded one way or the other"


@given(weights=WEIGHTS, data=st.data())
def test_a_spread_discount_never_exceeds_a_line(weights: list[int], data: st.DataObject) -> None:
    if sum(weights) == 0:
        weights = [*weights[:-1], 1]
    discount = data.draw(st.integers(min_value=0, max_value=sum(weights)))
    parts = spread(discount, weights)
    assert all(part <= weight for part, weight in zip(parts, weights, strict=True))


@given(amount=AMOUNTS, percent=PERCENTS)
def test_exclusive_tax_is_a_non_negative_integer(amount: int, percent: Decimal) -> None:
    tax = exclusive_tax(amount, percent)
    assert isinstance(tax, int) and 0 <= tax <= amount
    exact = Decimal(amount) * percent / 100
    assert -Decimal("0.5") < tax - exact <= Decimal("0.5")


@given(gross=AMOUNTS, percent=PERCENTS)
def test_inclusive_tax_and_net_make_the_gross(gross: int, percent: Decimal) -> None:
    tax = inclusive_tax(gross, percent)
    net = gross - tax
    assert isinstance(tax, int) and tax >= 0 and net >= 0
    assert tax + net == gross
    # The tax is what the rate would add to the net, to within a unit.
    assert abs(exclusive_tax(net, percent) - tax) <= 1


@given(amount=AMOUNTS, percent=POSITIVE_PERCENTS)
def test_a_full_discount_then_tax_is_zero(amount: int, percent: Decimal) -> None:
    discounted = amount - percent_discount(amount, Decimal(100))
    assert discounted == 0
    assert exclusive_tax(discounted, percent) == 0
