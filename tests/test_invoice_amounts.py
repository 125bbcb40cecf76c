"""An invoice's amounts from its lines (`kassa.services.billing.invoice_amounts`), in process:
worked examples of discounts, billing credits and taxes, and properties over random lines
priced by `pricing` (per unit and tiered), random discounts, billing credit grants, tax rates
and customer balances."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kassa.services.billing import pricing
from kassa.services.billing.invoice_amounts import (
    CreditAmount,
    CreditTerms,
    DiscountAmount,
    DiscountTerms,
    LineTerms,
    TaxTerms,
    apply_customer_balance,
    invoice_amounts,
)

VAT_19 = TaxTerms("txr_vat", Decimal(19), inclusive=False)
VAT_20_INCLUSIVE = TaxTerms("txr_incl", Decimal(20), inclusive=True)
TEN_PERCENT = DiscountTerms("di_ten", percent_off=Decimal(10))


def test_no_discounts_no_taxes_the_total_is_the_sum_of_the_lines() -> None:
    amounts = invoice_amounts([LineTerms(1000), LineTerms(250)])
    assert (amounts.subtotal, amounts.total, amounts.total_excluding_tax) == (1250, 1250, 1250)
    assert amounts.total_discount_amounts == () and amounts.total_taxes == ()


def test_a_percentage_discount_rounds_half_up_per_line() -> None:
    # 25% of 999 is 249.75 -> 250; of 2 is 0.5 -> 1.
    quarter = DiscountTerms("di_q", percent_off=Decimal(25))
    amounts = invoice_amounts(
        [LineTerms(999, discounts=(quarter,)), LineTerms(2, discounts=(quarter,))]
    )
    assert [line.discounted for line in amounts.lines] == [749, 1]
    assert amounts.total == 750


def test_an_invoice_discount_is_spread_over_the_discountable_lines_in_proportion() -> None:
    off = DiscountTerms("di_off", amount_off=100)
    amounts = invoice_amounts(
        [LineTerms(300), LineTerms(600), LineTerms(500, discountable=False)], [off]
    )
    shares = [sum(d.amount for d in line.discount_amounts) for line in amounts.lines]
    assert shares == [33, 67, 0]  # 33.3 and 66.7: the larger remainder takes the odd cent
    assert amounts.total == 1300


def test_an_amount_off_larger_than_the_invoice_takes_it_to_zero_never_below() -> None:
    amounts = invoice_amounts([LineTerms(100)], [DiscountTerms("di_big", amount_off=200)])
    assert (amounts.total, amounts.discount_total) == (0, 100)


def test_a_discount_restricted_to_products_takes_only_from_their_lines() -> None:
    half_of_b = DiscountTerms("di_half", percent_off=Decimal(50), products=frozenset({"prod_b"}))
    lines = [
        LineTerms(2000, product="prod_a", discounts=(half_of_b,)),
        LineTerms(1000, product="prod_b"),
        LineTerms(400),  # an amount-only line has no product: never restricted ones
    ]
    amounts = invoice_amounts(lines, [half_of_b])
    assert [[d.amount for d in line.discount_amounts] for line in amounts.lines] == [[], [500], []]
    assert amounts.total == 2900
    capped = DiscountTerms("di_off", amount_off=1500, products=frozenset({"prod_b"}))
    amounts = invoice_amounts(lines, [capped])
    assert [[d.amount for d in line.discount_amounts] for line in amounts.lines] == [[], [1000], []]
    assert (amounts.discount_total, amounts.total) == (1000, 2400)


def test_line_discounts_apply_before_the_invoice_s() -> None:
    invoice_ten = DiscountTerms("di_invoice_ten", percent_off=Decimal(10))
    amounts = invoice_amounts([LineTerms(1000, discounts=(TEN_PERCENT,))], [invoice_ten])
    assert [d.amount for d in amounts.lines[0].discount_amounts] == [100, 90]
    assert amounts.total == 810


def test_a_line_naming_an_invoice_discount_takes_it_once_as_its_own() -> None:
    """A line reusing the invoice's discount takes it in its own step and the invoice's
    step skips that line: 10% of each line, never 19% of one; an amount off is taken once
    in all, the line naming it first, the others sharing what is left."""
    lines = [LineTerms(1000, discounts=(TEN_PERCENT,)), LineTerms(1000)]
    amounts = invoice_amounts(lines, [TEN_PERCENT])
    assert [line.discount_amounts for line in amounts.lines] == [
        (DiscountAmount("di_ten", 100),),
        (DiscountAmount("di_ten", 100),),
    ]
    assert amounts.total == 1800
    three_off = DiscountTerms("di_three", amount_off=300)
    lines = [LineTerms(200, discounts=(three_off,)), LineTerms(300), LineTerms(500)]
    amounts = invoice_amounts(lines, [three_off])
    assert [[d.amount for d in line.discount_amounts] for line in amounts.lines] == [
        [200],
        [38],  # the 100 left, spread 300:500
        [62],
    ]
    assert amounts.total_discount_amounts == (DiscountAmount("di_three", 300),)


def test_exclusive_tax_is_added_on_the_discounted_amount_half_up() -> None:
    # Stripe's worked example: 0.43 at 15% is 0.0645 -> 0.06; 4.84 at 15% -> 0.73.
    fifteen = TaxTerms("txr_15", Decimal(15), inclusive=False)
    amounts = invoice_amounts(
        [LineTerms(43, tax_rates=(fifteen,)), LineTerms(484, tax_rates=(fifteen,))]
    )
    assert [tax.amount for line in amounts.lines for tax in line.taxes] == [6, 73]
    assert amounts.total_taxes[0].amount == 79
    assert amounts.total == 43 + 484 + 79
    discounted = invoice_amounts([LineTerms(1000, tax_rates=(VAT_19,))], [TEN_PERCENT])
    assert discounted.lines[0].taxes[0].taxable_amount == 900
    assert discounted.total == 900 + 171


def test_inclusive_tax_is_inside_the_amount() -> None:
    amounts = invoice_amounts([LineTerms(1000, tax_rates=(VAT_20_INCLUSIVE,))])
    tax = amounts.lines[0].taxes[0]
    assert (tax.amount, tax.taxable_amount) == (167, 833)
    assert amounts.total == 1000
    assert amounts.total_excluding_tax == 833
    assert amounts.subtotal_excluding_tax == 833


def test_two_inclusive_rates_share_one_tax_taken_at_their_sum() -> None:
    five = TaxTerms("txr_5", Decimal(5), inclusive=True)
    fifteen = TaxTerms("txr_15i", Decimal(15), inclusive=True)
    amounts = invoice_amounts([LineTerms(1200, tax_rates=(five, fifteen))])
    taxes = amounts.lines[0].taxes
    assert sum(t.amount for t in taxes) == 200  # 1200 * 20 / 120
    assert [t.amount for t in taxes] == [50, 150]
    assert amounts.total == 1200


def test_a_credit_line_not_discountable_takes_no_discount_and_mirrors_its_tax() -> None:
    amounts = invoice_amounts(
        [
            LineTerms(1000, tax_rates=(VAT_19,)),
            LineTerms(-500, discountable=False, tax_rates=(VAT_19,)),
        ],
        [TEN_PERCENT],
    )
    credit = amounts.lines[1]
    assert credit.discount_amounts == ()
    assert credit.taxes[0].amount == -95
    assert amounts.total == 1000 - 100 + 171 - 500 - 95


def test_a_discountable_credit_takes_its_negative_share_of_the_net() -> None:
    half = DiscountTerms("di_half", percent_off=Decimal(50))
    shared = invoice_amounts([LineTerms(1000), LineTerms(-400)], [half])
    assert [line.discount_amounts for line in shared.lines] == [
        (DiscountAmount("di_half", 500),),
        (DiscountAmount("di_half", -200),),
    ]
    assert shared.total == 300
    five_off = DiscountTerms("di_five", amount_off=500)
    own = invoice_amounts([LineTerms(-400, discounts=(half, five_off))])
    assert [d.amount for d in own.lines[0].discount_amounts] == [-200, 0]
    assert own.total == -200
    mostly_credit = invoice_amounts([LineTerms(100), LineTerms(-400)], [half])
    assert mostly_credit.total == -300  # nothing above zero to take a discount from


def test_billing_credits_come_after_discounts_and_before_taxes_in_the_grants_order() -> None:
    metered = LineTerms(
        2000, discounts=(TEN_PERCENT,), tax_rates=(VAT_19,), price="p_m", metered=True
    )
    scoped = LineTerms(500, tax_rates=(VAT_19,), price="p_s", metered=True)
    licensed = LineTerms(1000, tax_rates=(VAT_19,), price="p_l")
    credits = (
        CreditTerms("credgr_s", 300, prices=frozenset({"p_s"})),
        CreditTerms("credgr_a", 1000),
        CreditTerms("credgr_b", 5000),
    )
    amounts = invoice_amounts([metered, scoped, licensed], credits=credits)
    # The metered line: 2000 - 10% = 1800; grant a takes 1000, b the other 800. The scoped
    # line: s takes 300, b the remaining 200. The licensed line: none.
    assert [line.credit_amounts for line in amounts.lines] == [
        (CreditAmount("credgr_a", 1000), CreditAmount("credgr_b", 800)),
        (CreditAmount("credgr_s", 300), CreditAmount("credgr_b", 200)),
        (),
    ]
    # Taxes on what is left: 0, 0 and 190; the subtotal keeps the credits in.
    assert [sum(t.amount for t in line.taxes) for line in amounts.lines] == [0, 0, 190]
    assert (amounts.subtotal, amounts.credit_total, amounts.total) == (3300, 2300, 1190)
    assert amounts.total_excluding_tax == 1000


def test_the_customer_s_balance_is_applied_and_nothing_negative_is_due() -> None:
    credit = apply_customer_balance(1000, -300)
    assert (credit.amount_due, credit.ending_balance) == (700, 0)
    larger = apply_customer_balance(1000, -1500)
    assert (larger.amount_due, larger.ending_balance) == (0, -500)
    owed = apply_customer_balance(1000, 250)
    assert (owed.amount_due, owed.ending_balance) == (1250, 0)
    negative_total = apply_customer_balance(-400, 0)
    assert (negative_total.amount_due, negative_total.ending_balance) == (0, -400)


# --- properties ---------------------------------------------------------------------------------

_AMOUNTS = st.decimals(min_value=0, max_value=100_000, places=2, allow_nan=False)
_PERCENTS = st.decimals(min_value=0, max_value=100, places=3, allow_nan=False)


@st.composite
def _tiers(draw: st.DrawFn) -> tuple[pricing.Tier, ...]:
    bounds = sorted(draw(st.sets(st.integers(1, 500), min_size=0, max_size=4)))
    ups: list[int | None] = [*bounds, None]
    return tuple(
        pricing.Tier(up_to=up, unit_amount=draw(_AMOUNTS), flat_amount=draw(_AMOUNTS)) for up in ups
    )


_TERMS = st.one_of(
    st.builds(pricing.PerUnit, unit_amount=_AMOUNTS),
    st.builds(pricing.Tiered, mode=st.sampled_from(["graduated", "volume"]), tiers=_tiers()),
)
_PRODUCTS = st.sampled_from(["prod_a", "prod_b", "prod_c"])
_RESTRICTED_TO = st.none() | st.frozensets(_PRODUCTS, min_size=1)
_DISCOUNT_TERMS = st.one_of(
    st.builds(
        DiscountTerms,
        discount=st.sampled_from(["di_a", "di_b"]),
        percent_off=_PERCENTS,
        products=_RESTRICTED_TO,
    ),
    st.builds(
        DiscountTerms,
        discount=st.sampled_from(["di_c", "di_d"]),
        amount_off=st.integers(1, 10**6),
        products=_RESTRICTED_TO,
    ),
)
_DISCOUNT_POOLS = st.lists(_DISCOUNT_TERMS, max_size=4, unique_by=lambda d: d.discount)
"""The discounts of one invoice: one set of terms per id, which its lines and the invoice
both draw from (a line may name one of the invoice's)."""


def _some_of(draw: st.DrawFn, pool: list[DiscountTerms]) -> tuple[DiscountTerms, ...]:
    if not pool:
        return ()
    return tuple(draw(st.lists(st.sampled_from(pool), max_size=2, unique_by=lambda d: d.discount)))


_RATES = st.builds(
    TaxTerms,
    tax_rate=st.sampled_from(["txr_a", "txr_b", "txr_c"]),
    percentage=st.decimals(min_value=0, max_value=30, places=4, allow_nan=False),
    inclusive=st.booleans(),
)


@st.composite
def _line(draw: st.DrawFn, pool: list[DiscountTerms]) -> LineTerms:
    if draw(st.booleans()):
        amount = pricing.line_amount(draw(_TERMS), draw(st.integers(0, 1_000)))
    else:
        amount = draw(st.integers(-(10**6), 10**6))  # an item's own amount, credits too
    rates = draw(st.lists(_RATES, max_size=3, unique_by=lambda rate: rate.tax_rate))
    return LineTerms(
        amount=amount,
        discountable=draw(st.booleans()),
        discounts=_some_of(draw, pool),
        tax_rates=tuple(rates),
        product=draw(st.none() | _PRODUCTS),
        price=draw(st.none() | _PRICES),
        metered=draw(st.booleans()),
    )


_PRICES = st.sampled_from(["price_a", "price_b", "price_c"])
_CREDITS = st.lists(
    st.builds(
        CreditTerms,
        credit_grant=st.sampled_from(["credgr_a", "credgr_b", "credgr_c"]),
        available=st.integers(0, 10**6),
        prices=st.none() | st.frozensets(_PRICES, min_size=1),
    ),
    max_size=3,
    unique_by=lambda c: c.credit_grant,
)


@st.composite
def _invoice(draw: st.DrawFn) -> tuple[list[LineTerms], tuple[DiscountTerms, ...]]:
    pool = draw(_DISCOUNT_POOLS)
    return draw(st.lists(_line(pool), max_size=8)), _some_of(draw, pool)


@settings(max_examples=300, deadline=None)
@given(invoice=_invoice(), balance=st.integers(-(10**7), 10**7), credits=_CREDITS)
def test_totals_always_add_up(
    invoice: tuple[list[LineTerms], tuple[DiscountTerms, ...]],
    balance: int,
    credits: list[CreditTerms],
) -> None:
    lines, invoice_discounts = invoice
    amounts = invoice_amounts(lines, invoice_discounts, credits)
    # Stripe's subtotal: "before any invoice level discount or exclusive tax is applied.
    # Item discounts are already incorporated". `invoice_discount_total`: the invoice-level
    # ones; `discount_total`: every discount, the lines' own too.
    own = [
        sum(d.amount for d in c.discount_amounts if d.discount in {t.discount for t in x.discounts})
        for x, c in zip(lines, amounts.lines, strict=True)
    ]
    invoice_level = amounts.discount_total - sum(own)
    assert amounts.invoice_discount_total == invoice_level
    assert amounts.subtotal == sum(line.amount for line in lines) - sum(own)
    # Billing credits come off as invoice-level discounts do: after the subtotal.
    credited = amounts.credit_total
    assert amounts.total == (
        amounts.subtotal - invoice_level - credited + amounts.exclusive_tax_total
    )
    assert amounts.total == (
        sum(line.amount for line in lines)
        - amounts.discount_total
        - credited
        + amounts.exclusive_tax_total
    )
    assert amounts.total_excluding_tax == (
        amounts.subtotal - invoice_level - credited - amounts.inclusive_tax_total
    )
    _check_credits(lines, amounts.lines, credits)
    for line, computed in zip(lines, amounts.lines, strict=True):
        # A discount never takes a line past zero; a credit's share is negative.
        sign = -1 if line.amount < 0 else 1
        assert 0 <= sign * computed.discounted <= sign * line.amount
        assert all(sign * d.amount >= 0 for d in computed.discount_amounts)
        # A restricted discount reaches only lines of one of its products.
        restricted = {
            d.discount: d.products
            for d in (*line.discounts, *invoice_discounts)
            if d.products is not None
        }
        for taken in computed.discount_amounts:
            if taken.discount in restricted:
                assert line.product in restricted[taken.discount]
        # One discount, once a line, named by the line or the invoice or both.
        taken_ids = [d.discount for d in computed.discount_amounts]
        assert len(taken_ids) == len(set(taken_ids))
    every = {d.discount: d for d in (*invoice_discounts, *(t for x in lines for t in x.discounts))}
    for terms in every.values():
        # An amount off is never more than its amount over the whole invoice.
        if terms.amount_off is not None:
            spent = sum(
                d.amount
                for c in amounts.lines
                for d in c.discount_amounts
                if d.discount == terms.discount
            )
            assert spent <= terms.amount_off
    settled = apply_customer_balance(amounts.total, balance)
    assert settled.amount_due >= 0
    assert settled.amount_due == max(0, amounts.total + balance)
    assert settled.amount_due + settled.ending_balance == amounts.total + balance


def _check_credits(
    lines: list[LineTerms], computed: tuple[Any, ...], credits: list[CreditTerms]
) -> None:
    """A grant gives at most what it has, only to lines in its scope, never taking a line
    below zero (nor a credit line at all); the grants apply in the order given."""
    for terms in credits:
        given_out = sum(
            c.amount
            for line in computed
            for c in line.credit_amounts
            if c.credit_grant == terms.credit_grant
        )
        assert 0 <= given_out <= terms.available
    order = [c.credit_grant for c in credits]
    for line, amounts in zip(lines, computed, strict=True):
        assert all(c.amount > 0 for c in amounts.credit_amounts)
        assert amounts.credit_total <= max(amounts.discounted, 0)
        taken_order = [c.credit_grant for c in amounts.credit_amounts]
        assert taken_order == sorted(taken_order, key=order.index)
        for credit in amounts.credit_amounts:
            terms = next(t for t in credits if t.credit_grant == credit.credit_grant)
            reaches = line.metered if terms.prices is None else line.price in terms.prices
            assert line.price is not None and reaches
