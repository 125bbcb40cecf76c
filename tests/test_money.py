"""Currencies, charge limits, formatting and fees (`kassa.money`)."""

from __future__ import annotations

import decimal
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kassa.errors import InvalidParameter
from kassa.money import (
    DEFAULT_PRICING_TABLE,
    DISPUTE_FEES,
    FEE_ROUNDING,
    MAX_AMOUNT,
    MINIMUM_CHARGE_AMOUNTS,
    SUPPORTED_CURRENCIES,
    THREE_DECIMAL_CURRENCIES,
    ZERO_DECIMAL_CURRENCIES,
    Currency,
    Pricing,
    amount_step,
    card_fee,
    check_charge_amount,
    dispute_fee,
    exponent,
    format_amount,
    major_units,
    minimum_charge_amount,
    parse_major_units,
    parse_pricing_table,
    to_minor_units,
)

# --- Currencies -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "digits"),
    [("usd", 2), ("jpy", 0), ("krw", 0), ("bhd", 3), ("kwd", 3), ("isk", 2), ("ugx", 2)],
)
def test_exponent(currency: str, digits: int) -> None:
    assert exponent(currency) == digits


def test_exponent_ignores_case_and_refuses_unknown_currencies() -> None:
    assert exponent("JPY") == 0
    with pytest.raises(ValueError, match="unsupported currency"):
        exponent("xyz")


def test_the_currency_tables_name_only_supported_currencies() -> None:
    assert len(SUPPORTED_CURRENCIES) >= 135
    assert all(code == code.lower() and len(code) == 3 for code in SUPPORTED_CURRENCIES)
    for table in (ZERO_DECIMAL_CURRENCIES, THREE_DECIMAL_CURRENCIES, MINIMUM_CHARGE_AMOUNTS):
        assert set(table) <= SUPPORTED_CURRENCIES
    assert set(DEFAULT_PRICING_TABLE.by_currency) <= SUPPORTED_CURRENCIES
    assert set(DISPUTE_FEES) <= SUPPORTED_CURRENCIES
    assert not ZERO_DECIMAL_CURRENCIES & THREE_DECIMAL_CURRENCIES


def test_every_minimum_is_itself_a_chargeable_amount() -> None:
    for currency in SUPPORTED_CURRENCIES:
        minimum = minimum_charge_amount(currency)
        assert minimum >= 1
        assert minimum % amount_step(currency) == 0
        check_charge_amount(minimum, currency)


# --- Charge limits ----------------------------------------------------------------------


def _refusal(amount: int, currency: str, **kwargs: Any) -> InvalidParameter:
    with pytest.raises(InvalidParameter) as caught:
        check_charge_amount(amount, currency, **kwargs)
    return caught.value


@pytest.mark.parametrize(
    ("currency", "minimum", "message"),
    [
        ("usd", 50, "Amount must be at least $0.50 usd"),
        ("gbp", 30, "Amount must be at least £0.30 gbp"),
        ("jpy", 50, "Amount must be at least ¥50 jpy"),
        ("huf", 17500, "Amount must be at least 175.00 HUF huf"),
        ("mxn", 1000, "Amount must be at least MX$10.00 mxn"),
    ],
)
def test_minimum_charge_amount(currency: str, minimum: int, message: str) -> None:
    check_charge_amount(minimum, currency)
    error = _refusal(minimum - 1, currency)
    assert error.code == "amount_too_small"
    assert error.message == message
    assert error.param == "amount"


def test_maximum_charge_amount() -> None:
    check_charge_amount(MAX_AMOUNT, "usd")
    assert MAX_AMOUNT == 99_999_999
    error = _refusal(100_000_000, "usd")
    assert error.code == "amount_too_large"
    assert error.message == "Amount must be no more than $999,999.99 usd"
    assert _refusal(100_000_000, "jpy").message == "Amount must be no more than ¥99,999,999 jpy"


def test_the_refusal_names_the_parameter_it_is_given() -> None:
    assert _refusal(0, "usd", param="amount_to_capture").param == "amount_to_capture"


def test_zero_and_negative_amounts_are_too_small() -> None:
    assert _refusal(0, "eur").code == "amount_too_small"
    assert _refusal(-100, "eur").code == "amount_too_small"


def test_three_decimal_amounts_must_end_in_zero() -> None:
    check_charge_amount(5120, "kwd")
    error = _refusal(5124, "kwd")
    assert error.code == "invalid_charge_amount"
    assert "must end in 0" in error.message
    assert _refusal(5, "bhd").code == "amount_too_small"  # the smallest is 0.010


def test_isk_and_ugx_amounts_are_whole_units() -> None:
    check_charge_amount(500, "isk")
    check_charge_amount(500, "ugx")
    error = _refusal(550, "isk")
    assert error.code == "invalid_charge_amount_no_decimal_compatible"
    assert "evenly divisible by 100" in error.message


def test_charge_amount_check_takes_codes_in_any_case() -> None:
    check_charge_amount(50, "USD")
    assert _refusal(49, "USD").message == "Amount must be at least $0.50 usd"


# --- Formatting -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (50, "usd", "$0.50"),
        (50, "jpy", "¥50"),
        (50, "eur", "€0.50"),
        (50, "chf", "0.50 CHF"),
        (123456789, "usd", "$1,234,567.89"),
        (-1050, "gbp", "-£10.50"),
        (-1050, "sek", "-10.50 SEK"),
        (5120, "kwd", "5.120 KWD"),
        (0, "usd", "$0.00"),
        (7, "usd", "$0.07"),
    ],
)
def test_format_amount(amount: int, currency: str, text: str) -> None:
    assert format_amount(amount, currency) == text


@pytest.mark.parametrize(
    ("amount", "currency", "plain", "grouped"),
    [
        (1050, "usd", "10.50", "10.50"),
        (-59, "usd", "-0.59", "-0.59"),
        (1000, "jpy", "1000", "1,000"),
        (123456789, "usd", "1234567.89", "1,234,567.89"),
        (-5120, "kwd", "-5.120", "-5.120"),
        (0, "eur", "0.00", "0.00"),
    ],
)
def test_major_units(amount: int, currency: str, plain: str, grouped: str) -> None:
    """As reports and the dashboard's amount fields write them, and grouped for people."""
    assert major_units(amount, currency) == plain
    assert major_units(amount, currency, grouped=True) == grouped


@pytest.mark.parametrize(
    ("text", "currency", "amount"),
    [
        ("25", "usd", 2500),
        ("25.5", "usd", 2550),
        (" 25.50 ", "usd", 2550),
        ("0.07", "usd", 7),
        ("1000", "jpy", 1000),
        ("5.125", "kwd", 5125),
        ("12.345", "usd", None),  # more decimals than the currency has
        ("10.5", "jpy", None),
        ("-5", "usd", None),
        ("1,000", "usd", None),
        ("ten", "usd", None),
        ("", "usd", None),
        (".5", "usd", None),
    ],
)
def test_parse_major_units(text: str, currency: str, amount: int | None) -> None:
    """What a person types for an amount, read back as `major_units` writes it."""
    assert parse_major_units(text, currency) == amount
    if amount is not None:
        assert parse_major_units(major_units(amount, currency), currency) == amount


# --- The currency parameter -------------------------------------------------------------


def test_currency_param_lowercases() -> None:
    assert Currency().parse("USD", "currency") == "usd"
    assert Currency().parse("eur", "currency") == "eur"


@pytest.mark.parametrize("value", ["xyz", "", "usdd", {"a": "b"}, ["usd"]])
def test_currency_param_refuses_unknown_codes_naming_the_parameter(value: Any) -> None:
    with pytest.raises(InvalidParameter) as caught:
        Currency().parse(value, "price_data[currency]")
    assert caught.value.param == "price_data[currency]"
    assert caught.value.message.startswith("Invalid currency: ")
    assert "Kassa currently supports these currencies: usd, aed, afn, " in caught.value.message


@pytest.mark.parametrize(
    ("value", "said"),
    [("", "the value is empty"), ({"a": "b"}, "not an object or a list"), (["usd"], "as a string")],
)
def test_currency_param_says_what_is_wrong_with_a_value_that_is_no_code(
    value: Any, said: str
) -> None:
    with pytest.raises(InvalidParameter) as caught:
        Currency().parse(value, "currency")
    assert said in caught.value.message


def test_currency_param_echoes_the_code_it_refused() -> None:
    with pytest.raises(InvalidParameter, match=r"^Invalid currency: xyz\. "):
        Currency().parse("xyz", "currency")


# --- Rounding ---------------------------------------------------------------------------


def test_to_minor_units_rounds_as_the_caller_says() -> None:
    assert to_minor_units(Decimal("14.5"), decimal.ROUND_HALF_UP) == 15
    assert to_minor_units(Decimal("14.5"), decimal.ROUND_HALF_EVEN) == 14
    assert to_minor_units(Decimal("14.99"), decimal.ROUND_DOWN) == 14
    assert to_minor_units(Decimal("-2.5"), decimal.ROUND_HALF_UP) == -3
    assert to_minor_units(Decimal("123456789012345678901234567890.5"), decimal.ROUND_UP) == (
        123456789012345678901234567891
    )


def test_to_minor_units_refuses_floats_and_nonsense() -> None:
    with pytest.raises(TypeError, match="never float"):
        to_minor_units(0.5, decimal.ROUND_HALF_UP)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rounding mode"):
        to_minor_units(Decimal(1), "ROUND_NEAREST")
    with pytest.raises(ValueError, match="not an amount"):
        to_minor_units(Decimal("NaN"), decimal.ROUND_HALF_UP)


# --- Card fees --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "fee"),
    [
        (1000, 59),  # 29 + 30
        (2000, 88),  # 58 + 30
        (500, 45),  # 14.5 rounds half up to 15, + 30
        (1500, 74),  # 43.5 -> 44, + 30
        (1010, 59),  # 29.29 -> 29, + 30
        (100, 33),  # 2.9 -> 3, + 30
        (20, 20),  # 0.58 -> 1, + 30 = 31, capped at the amount
        (0, 0),
    ],
)
def test_card_fee_usd(amount: int, fee: int) -> None:
    assert card_fee(amount, "usd", DEFAULT_PRICING_TABLE) == fee


def test_card_fee_uses_the_currency_pricing() -> None:
    assert card_fee(1000, "eur", DEFAULT_PRICING_TABLE) == 29 + 25
    assert card_fee(1000, "gbp", DEFAULT_PRICING_TABLE) == 29 + 20
    assert card_fee(1000, "jpy", DEFAULT_PRICING_TABLE) == 29
    assert card_fee(1000, "chf", DEFAULT_PRICING_TABLE) == 29  # the default: 2.9% + 0


def test_card_fee_refuses_negative_amounts() -> None:
    with pytest.raises(ValueError, match="never negative"):
        card_fee(-1, "usd", DEFAULT_PRICING_TABLE)


@given(st.integers(min_value=0, max_value=MAX_AMOUNT))
def test_card_fee_is_rounded_percent_plus_fixed_capped_at_the_amount(amount: int) -> None:
    expected = to_minor_units(Decimal(amount) * Decimal("0.029"), decimal.ROUND_HALF_UP) + 30
    fee = card_fee(amount, "usd", DEFAULT_PRICING_TABLE)
    assert fee == min(amount, expected)
    assert 0 <= fee <= amount


@given(
    amount=st.integers(min_value=0, max_value=10**15),
    percent=st.decimals(min_value=0, max_value=100, places=4),
    fixed=st.integers(min_value=0, max_value=10**6),
)
def test_card_fee_is_never_negative_nor_above_the_amount(
    amount: int, percent: Decimal, fixed: int
) -> None:
    table = parse_pricing_table(f"*:{percent}%+{fixed}")
    assert 0 <= card_fee(amount, "chf", table) <= amount


def test_fee_rounding_is_half_up() -> None:
    assert FEE_ROUNDING == decimal.ROUND_HALF_UP


def test_pricing_refuses_negative_or_excessive_rates() -> None:
    with pytest.raises(ValueError):
        Pricing(Decimal("-0.1"), 0)
    with pytest.raises(ValueError):
        Pricing(Decimal("100.1"), 0)
    with pytest.raises(ValueError):
        Pricing(Decimal("2.9"), -1)


# --- Pricing settings -------------------------------------------------------------------


def test_parse_pricing_table() -> None:
    table = parse_pricing_table("usd:2.9%+30,eur:1.5%+25,*:2.9%+0")
    assert table.for_currency("usd") == Pricing(Decimal("2.9"), 30)
    assert table.for_currency("eur") == Pricing(Decimal("1.5"), 25)
    assert table.for_currency("gbp") == Pricing(Decimal("2.9"), 20)  # kept from the defaults
    assert table.for_currency("chf") == Pricing(Decimal("2.9"), 0)
    assert card_fee(1000, "eur", table) == 15 + 25


def test_parse_pricing_table_is_lenient_about_case_and_spaces() -> None:
    table = parse_pricing_table(" USD:1%+5 , *:3.25%+10 ")
    assert table.for_currency("usd") == Pricing(Decimal(1), 5)
    assert table.default == Pricing(Decimal("3.25"), 10)


def test_an_empty_pricing_setting_means_the_defaults() -> None:
    assert parse_pricing_table("") == DEFAULT_PRICING_TABLE
    assert parse_pricing_table("   ") == DEFAULT_PRICING_TABLE


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("usd:2.9+30", "CURRENCY:PERCENT%+FIXED"),
        ("usd 2.9%+30", "CURRENCY:PERCENT%+FIXED"),
        ("usd:2.9%", "CURRENCY:PERCENT%+FIXED"),
        ("usd:-1%+0", "CURRENCY:PERCENT%+FIXED"),
        ("usd:1%+-5", "CURRENCY:PERCENT%+FIXED"),
        ("usd:1.23456%+0", "CURRENCY:PERCENT%+FIXED"),
        ("usd:1%+0,", "CURRENCY:PERCENT%+FIXED"),
        ("usd:1%+0,,eur:1%+0", "CURRENCY:PERCENT%+FIXED"),
        ("xyz:1%+0", "unknown currency 'xyz'"),
        ("usd:101%+0", "percent above 100"),
        ("usd:1%+0,USD:2%+0", "given twice"),
        ("*:1%+0,*:2%+0", "given twice"),
    ],
)
def test_parse_pricing_table_refuses_bad_settings(text: str, fault: str) -> None:
    with pytest.raises(ValueError, match=r"invalid|twice") as caught:
        parse_pricing_table(text)
    assert fault in str(caught.value)


# --- Dispute fees -----------------------------------------------------------------------


def test_dispute_fee() -> None:
    assert dispute_fee("usd") == 1500
    assert dispute_fee("USD") == 1500
    assert dispute_fee("eur") == 2000
    assert dispute_fee("gbp") == 2000
    assert dispute_fee("jpy") == 1500
    assert dispute_fee("chf") == 1500  # no known local fee: the US figure's minor units
    assert dispute_fee("kwd") % 10 == 0  # three-decimal amounts end in 0
