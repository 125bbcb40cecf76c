"""What a price charges for a quantity (`kassa.services.billing.pricing`): Stripe's worked
examples, the one rounding rule, and properties of tiered pricing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kassa.services.billing.pricing import (
    PerUnit,
    Tier,
    Tiered,
    exact_amount,
    graduated_parts,
    line_amount,
    tier_index,
    transformed_quantity,
)

# Stripe's tiered-pricing guide (docs.stripe.com/subscriptions/pricing-models/tiered-pricing):
# 1-5 fonts at 7 USD, 6-10 at 6.5 USD, 11+ at 6 USD.
FONT_TIERS = (
    Tier(up_to=5, unit_amount=Decimal(700)),
    Tier(up_to=10, unit_amount=Decimal(650)),
    Tier(up_to=None, unit_amount=Decimal(600)),
)


@pytest.mark.parametrize(
    ("quantity", "amount"), [(1, 700), (5, 3500), (6, 3900), (20, 12000), (25, 15000)]
)
def test_volume_pricing_matches_stripes_guide(quantity: int, amount: int) -> None:
    assert line_amount(Tiered("volume", FONT_TIERS), quantity) == amount


@pytest.mark.parametrize(
    ("quantity", "amount"),
    [(1, 700), (5, 3500), (6, 3500 + 650), (10, 3500 + 3250), (20, 3500 + 3250 + 6000)],
)
def test_graduated_pricing_charges_each_tier_its_own_rate(quantity: int, amount: int) -> None:
    assert line_amount(Tiered("graduated", FONT_TIERS), quantity) == amount


def test_graduated_flat_amounts_are_charged_once_per_tier_entered() -> None:
    # A base fee covering 10 units, then 0.50 a unit and a 5.00 step fee past them.
    tiers = (
        Tier(up_to=10, flat_amount=Decimal(1000)),
        Tier(up_to=None, unit_amount=Decimal(50), flat_amount=Decimal(500)),
    )
    graduated = Tiered("graduated", tiers)
    assert line_amount(graduated, 10) == 1000
    assert line_amount(graduated, 11) == 1000 + 50 + 500
    assert line_amount(graduated, 14) == 1000 + 4 * 50 + 500


def test_zero_quantity_costs_the_first_tiers_flat_amount_only() -> None:
    tiers = (
        Tier(up_to=10, unit_amount=Decimal(100), flat_amount=Decimal(200)),
        Tier(up_to=None, unit_amount=Decimal(50), flat_amount=Decimal(900)),
    )
    assert line_amount(Tiered("graduated", tiers), 0) == 200
    assert line_amount(Tiered("volume", tiers), 0) == 200
    assert line_amount(PerUnit(Decimal(500)), 0) == 0


@pytest.mark.parametrize(
    ("unit_amount", "quantity", "amount"),
    [
        ("0.05", 30, 2),  # Stripe's example: 1.5 cents rounds up to 2
        ("0.05", 10, 1),  # 0.5 rounds up
        ("0.05", 29, 1),  # 1.45 rounds down
        ("105.5", 1, 106),
        ("0.000000000001", 1, 0),
        ("2000", 3, 6000),
    ],
)
def test_decimal_unit_amounts_round_half_up_once_per_line(
    unit_amount: str, quantity: int, amount: int
) -> None:
    assert line_amount(PerUnit(Decimal(unit_amount)), quantity) == amount


def test_graduated_decimal_amounts_round_once_for_the_whole_line() -> None:
    # Two tiers of 0.3 cents each would round to 0 + 0 separately; the line has 0.6 -> 1.
    tiers = (
        Tier(up_to=1, unit_amount=Decimal("0.3")),
        Tier(up_to=None, unit_amount=Decimal("0.3")),
    )
    assert line_amount(Tiered("graduated", tiers), 2) == 1


@pytest.mark.parametrize(
    ("quantity", "rounding", "units"),
    [(6, "up", 2), (6, "down", 1), (5, "up", 1), (5, "down", 1), (0, "up", 0), (1, "down", 0)],
)
def test_transform_quantity_divides_then_rounds(quantity: int, rounding: str, units: int) -> None:
    assert transformed_quantity(quantity, 5, rounding) == units  # type: ignore[arg-type]
    terms = PerUnit(Decimal(1000), divide_by=5, round=rounding)  # type: ignore[arg-type]
    assert line_amount(terms, quantity) == units * 1000


# --- Properties ---------------------------------------------------------------------------

amounts = st.one_of(
    st.integers(min_value=0, max_value=100_000).map(Decimal),
    st.decimals(min_value=0, max_value=10_000, places=12, allow_nan=False, allow_infinity=False),
)


@st.composite
def tier_lists(draw: st.DrawFn) -> tuple[Tier, ...]:
    steps = draw(st.lists(st.integers(min_value=1, max_value=30), min_size=0, max_size=5))
    bounds: list[int | None] = []
    total = 0
    for step in steps:
        total += step
        bounds.append(total)
    bounds.append(None)
    return tuple(
        Tier(up_to=bound, unit_amount=draw(amounts), flat_amount=draw(amounts)) for bound in bounds
    )


quantities = st.integers(min_value=0, max_value=200)


def _unit_by_unit(tiers: tuple[Tier, ...], quantity: int) -> Decimal:
    """Graduated pricing computed the slow way: each unit at the rate of the tier it falls
    in, plus the flat amount of every tier some unit (or, for 0, the first tier) reaches."""
    entered = {0} | {tier_index(tiers, unit) for unit in range(1, quantity + 1)}
    units = sum(
        (tiers[tier_index(tiers, unit)].unit_amount for unit in range(1, quantity + 1)), Decimal(0)
    )
    return units + sum((tiers[i].flat_amount for i in entered), Decimal(0))


@settings(max_examples=300)
@given(tiers=tier_lists(), quantity=quantities)
def test_graduated_equals_the_sum_of_its_per_tier_parts(
    tiers: tuple[Tier, ...], quantity: int
) -> None:
    parts = graduated_parts(tiers, quantity)
    assert len(parts) == len(tiers)
    exact = exact_amount(Tiered("graduated", tiers), quantity)
    assert exact == sum(parts, Decimal(0))
    assert exact == _unit_by_unit(tiers, quantity)


@settings(max_examples=300)
@given(tiers=tier_lists(), quantity=quantities)
def test_volume_picks_exactly_one_tier(tiers: tuple[Tier, ...], quantity: int) -> None:
    lower_bounds = [0, *(t.up_to for t in tiers[:-1])]
    containing = [
        i
        for i, tier in enumerate(tiers)
        if (tier.up_to is None or quantity <= tier.up_to)
        and (quantity > (lower_bounds[i] or 0) or i == 0)
    ]
    assert len(containing) == 1
    tier = tiers[containing[0]]
    exact = exact_amount(Tiered("volume", tiers), quantity)
    assert exact == quantity * tier.unit_amount + tier.flat_amount


@settings(max_examples=300)
@given(
    tiers=tier_lists(),
    quantity=quantities,
    mode=st.sampled_from(["graduated", "volume"]),
)
def test_amounts_are_non_negative_integers_within_half_a_unit(
    tiers: tuple[Tier, ...], quantity: int, mode: str
) -> None:
    terms = Tiered(mode, tiers)  # type: ignore[arg-type]
    amount = line_amount(terms, quantity)
    assert isinstance(amount, int)
    assert amount >= 0
    exact = exact_amount(terms, quantity)
    assert -Decimal("0.5") < amount - exact <= Decimal("0.5")


@settings(max_examples=200)
@given(tiers=tier_lists(), quantity=st.integers(min_value=0, max_value=199))
def test_graduated_never_charges_less_for_more(tiers: tuple[Tier, ...], quantity: int) -> None:
    terms = Tiered("graduated", tiers)
    assert line_amount(terms, quantity + 1) >= line_amount(terms, quantity)


@settings(max_examples=200)
@given(
    unit_amount=amounts,
    quantity=st.integers(min_value=0, max_value=10**9),
    divide_by=st.integers(min_value=1, max_value=1000),
    rounding=st.sampled_from(["up", "down"]),
)
def test_per_unit_is_the_transformed_quantity_times_the_unit_amount(
    unit_amount: Decimal, quantity: int, divide_by: int, rounding: str
) -> None:
    terms = PerUnit(unit_amount, divide_by=divide_by, round=rounding)  # type: ignore[arg-type]
    units = transformed_quantity(quantity, divide_by, rounding)  # type: ignore[arg-type]
    if rounding == "down":
        assert units * divide_by <= quantity < (units + 1) * divide_by
    else:
        assert (units - 1) * divide_by < quantity <= units * divide_by
    assert exact_amount(terms, quantity) == units * unit_amount
    assert line_amount(terms, quantity) >= 0
