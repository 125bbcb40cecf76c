"""Money as Stripe has it: integer amounts in each currency's minor unit, Stripe's currency
list and exponents, its charge limits, and the fees Kassa posts to the ledger.

`float` never touches money here. Rates are `Decimal`, and `to_minor_units` is the one place
a `Decimal` becomes integer minor units, with the rounding mode chosen by its caller.

Sources (facts only): Stripe's "Supported currencies" page (presentment currencies, zero- and
three-decimal currencies, special cases, minimum and maximum charge amounts), its pricing
pages (card fees, dispute fees) and its API reference (`amount` holds up to eight digits).
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final

from kassa.errors import AmountTooLarge, EmptyParameter, InvalidParameter
from kassa.params import Param

# --- Currencies -------------------------------------------------------------------------


def _codes(text: str) -> frozenset[str]:
    """Currency codes written as Stripe lists them: space-separated, lowercase."""
    return frozenset(text.split())


SUPPORTED_CURRENCIES: Final = _codes(
    """
    usd aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bhd bif bmd bnd bob brl bsd
    bwp byn bzd cad cdf chf clp cny cop crc cve czk djf dkk dop dzd egp etb eur fjd fkp gbp
    gel gip gmd gnf gtq gyd hkd hnl htg huf idr ils inr isk jmd jod jpy kes kgs khr kmf krw
    kwd kyd kzt lak lbp lkr lrd lsl mad mdl mga mkd mmk mnt mop mur mvr mwk mxn myr mzn nad
    ngn nio nok npr nzd omr pab pen pgk php pkr pln pyg qar ron rsd rub rwf sar sbd scr sek
    sgd shp sle sos srd std szl thb tjs tnd top try ttd twd tzs uah ugx uyu uzs vnd vuv wst
    xaf xcd xcg xof xpf yer zar zmw
    """
)
"""Stripe's presentment currencies ("more than 135"), lowercase as the API takes them.
Stripe offers some only to accounts in certain countries (the three-decimal ones to Middle
East accounts, for example); Kassa accepts every one for every account. Currencies Stripe
has retired (hrk, sll, mro) are left out."""

ZERO_DECIMAL_CURRENCIES: Final = _codes(
    "bif clp djf gnf jpy kmf krw mga pyg rwf vnd vuv xaf xof xpf"
)
"""`amount` counts whole units: 500 charges ¥500.

UGX is deliberately absent although older versions of Stripe's list include it: Stripe's
current "special cases" table says UGX keeps a two-decimal representation for backward
compatibility (5 UGX is `amount=500`), which contradicts treating it as zero-decimal. Kassa
follows the special-cases table, the more specific and more recent statement; see
`WHOLE_UNIT_CURRENCIES`."""

THREE_DECIMAL_CURRENCIES: Final = _codes("bhd jod kwd omr tnd")
"""`amount` counts thousandths (5124 is 5.124 KWD), but Stripe's payment partners take only
amounts whose last digit is 0, so a charge must be a multiple of `THREE_DECIMAL_STEP`."""

THREE_DECIMAL_STEP: Final = 10

WHOLE_UNIT_CURRENCIES: Final = frozenset({"isk", "ugx"})
"""Two-decimal in the API for backward compatibility, but the currency has no fractions any
more: a charge must be a multiple of `WHOLE_UNIT_STEP` (5 ISK is `amount=500`)."""

WHOLE_UNIT_STEP: Final = 100

WHOLE_UNIT_PAYOUT_CURRENCIES: Final = WHOLE_UNIT_CURRENCIES | {"huf", "twd"}
"""Stripe charges HUF and TWD with two decimals but pays them out in whole units only: a
manual payout amount must be a multiple of `WHOLE_UNIT_STEP` (for the payouts module)."""

ZERO_DECIMAL_EXPONENT: Final = 0
DEFAULT_EXPONENT: Final = 2
THREE_DECIMAL_EXPONENT: Final = 3


def exponent(currency: str) -> int:
    """Digits after the decimal point in Stripe's `amount` for this currency."""
    code = currency.lower()
    if code not in SUPPORTED_CURRENCIES:
        raise ValueError(f"unsupported currency: {currency[:20]!r}")
    if code in ZERO_DECIMAL_CURRENCIES:
        return ZERO_DECIMAL_EXPONENT
    if code in THREE_DECIMAL_CURRENCIES:
        return THREE_DECIMAL_EXPONENT
    return DEFAULT_EXPONENT


def amount_step(currency: str) -> int:
    """A charge amount in this currency must be a multiple of this many minor units."""
    code = currency.lower()
    if code in THREE_DECIMAL_CURRENCIES:
        return THREE_DECIMAL_STEP
    if code in WHOLE_UNIT_CURRENCIES:
        return WHOLE_UNIT_STEP
    return 1


# --- Formatting -------------------------------------------------------------------------

_SYMBOLS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "usd": "$",
        "eur": "€",
        "gbp": "£",
        "jpy": "¥",
        "cad": "CA$",
        "aud": "A$",
        "nzd": "NZ$",
        "hkd": "HK$",
        "mxn": "MX$",
        "brl": "R$",
        "cny": "CN¥",
        "inr": "₹",
        "krw": "₩",
        "ils": "₪",
        "php": "₱",
        "vnd": "₫",
        "twd": "NT$",
    }
)
"""English (CLDR) symbols for the currencies people meet most; others get their code."""


def major_units(amount: int, currency: str, *, grouped: bool = False) -> str:
    """Minor units as a decimal number of major units, by integer arithmetic only: `1050`
    usd is `10.50`, `-59` is `-0.59`, `1000` jpy is `1000` (as Stripe's reports write
    amounts); `grouped`, thousands separated: `1234567` usd is `12,345.67`."""
    digits = exponent(currency)
    whole, fraction = divmod(abs(amount), 10**digits)
    sign = "-" if amount < 0 else ""
    text = f"{sign}{whole:,}" if grouped else f"{sign}{whole}"
    return f"{text}.{fraction:0{digits}d}" if digits else text


def parse_major_units(text: str, currency: str) -> int | None:
    """The inverse of `major_units` for what a person types: `25`, `25.5` or `25.50` usd
    is 2550 minor units, by integer arithmetic only; None for anything else (a sign, a
    separator, more decimals than the currency has)."""
    digits = exponent(currency)
    whole, _, fraction = text.strip().partition(".")
    if not whole.isdigit() or (fraction and not fraction.isdigit()) or len(fraction) > digits:
        return None
    scale: int = 10**digits
    return int(whole) * scale + int(fraction.ljust(digits, "0") or "0")


def format_amount(amount: int, currency: str) -> str:
    """An amount for people and error messages: `$0.50`, `¥50`, `-€1,000.00`, `0.50 CHF`."""
    number = major_units(amount, currency, grouped=True)
    symbol = _SYMBOLS.get(currency.lower())
    if symbol is None:
        return f"{number} {currency.upper()}"
    if number.startswith("-"):
        return f"-{symbol}{number[1:]}"
    return f"{symbol}{number}"


# --- Charge limits ----------------------------------------------------------------------

MAX_AMOUNT: Final = 99_999_999
"""Eight digits, the limit in Stripe's API reference for `amount` ($999,999.99 in USD).
Stripe's currency page now allows more for card payments (up to twelve digits) and for IDR,
COP and INR; Kassa keeps the eight-digit limit every payment method accepts."""

MINIMUM_CHARGE_AMOUNTS: Final[Mapping[str, int]] = MappingProxyType(
    {
        "usd": 50,
        "aed": 200,
        "ars": 50,
        "aud": 50,
        "brl": 50,
        "cad": 50,
        "chf": 50,
        "cop": 50,
        "czk": 1500,
        "dkk": 250,
        "eur": 50,
        "gbp": 30,
        "hkd": 400,
        "huf": 17500,
        "idr": 50,
        "ils": 50,
        "inr": 50,
        "jpy": 50,
        "krw": 50,
        "mxn": 1000,
        "myr": 200,
        "nok": 300,
        "nzd": 50,
        "php": 50,
        "pln": 200,
        "ron": 200,
        "rub": 50,
        "sek": 300,
        "sgd": 50,
        "thb": 1000,
        "zar": 50,
    }
)
"""Stripe's table of minimum charge amounts, in minor units (its figures are settlement
currency minimums, so the Stripe fee never exceeds the charge).

For any other currency Kassa requires here only the smallest amount the currency can be
charged in (see `minimum_charge_amount`); a charge that will be converted must also bring in
its settlement currency's minimum, "the equivalent of $0.50", which needs the rate table
(`services.currency_conversion.check_settled_minimum`)."""


def minimum_charge_amount(currency: str) -> int:
    """The smallest `amount` a charge in this currency may have."""
    code = currency.lower()
    return MINIMUM_CHARGE_AMOUNTS.get(code, amount_step(code))


def check_charge_amount(amount: int, currency: str, *, param: str = "amount") -> None:
    """Raise `InvalidParameter` unless Stripe would accept `amount` for a charge in
    `currency`. Call it before any write."""
    code = currency.lower()
    exponent(code)  # an unsupported currency is a bug upstream: fail loudly, not as 400
    minimum = minimum_charge_amount(code)
    if amount < minimum:
        raise InvalidParameter(
            f"Amount must be at least {format_amount(minimum, code)} {code}",
            param=param,
            code="amount_too_small",
        )
    if amount > MAX_AMOUNT:
        raise AmountTooLarge(
            f"Amount must be no more than {format_amount(MAX_AMOUNT, code)} {code}", param=param
        )
    _check_amount_step(amount, code, param)


def _check_amount_step(amount: int, currency: str, param: str) -> None:
    if currency in THREE_DECIMAL_CURRENCIES and amount % THREE_DECIMAL_STEP:
        raise InvalidParameter(
            f"Invalid amount: {amount}. Amounts in {currency.upper()} must end in 0: Stripe's "
            f"payment partners take only two of its three decimals, so round to the nearest "
            f"ten (e.g. 5120 or 5130 for 5.124 {currency.upper()}).",
            param=param,
            code="invalid_charge_amount",
        )
    if currency in WHOLE_UNIT_CURRENCIES and amount % WHOLE_UNIT_STEP:
        raise InvalidParameter(
            f"Invalid amount. Currency {currency.upper()} has become effectively zero-decimal "
            f"and charged amounts must be evenly divisible by {WHOLE_UNIT_STEP}.",
            param=param,
            code="invalid_charge_amount_no_decimal_compatible",
        )


# --- The currency parameter -------------------------------------------------------------

_CURRENCY_LIST_TEXT: Final = ", ".join(["usd", *sorted(SUPPORTED_CURRENCIES - {"usd"})])
_ECHO_MAX_CHARS: Final = 80


@dataclass(frozen=True)
class Currency(Param):
    """A three-letter currency code, in any case; parsed to Stripe's lowercase form."""

    nullable: bool = False

    def parse(self, value: Any, path: str) -> str:
        text = value if isinstance(value, str) else ""
        code = text.lower()
        if code not in SUPPORTED_CURRENCIES:
            raise InvalidParameter(
                f"Invalid currency: {_refused_currency(value)}. Kassa currently supports these "
                "currencies: "
                f"{_CURRENCY_LIST_TEXT}",
                param=path,
                code=EmptyParameter.code if value == "" else None,
            )
        return code


def _refused_currency(value: Any) -> str:
    """What was wrong with a currency parameter, for its error message."""
    if value == "":
        return "the value is empty; give a three-letter currency code"
    if not isinstance(value, str):
        return "give a three-letter currency code as a string, not an object or a list"
    return value[:_ECHO_MAX_CHARS]


# --- Rounding ---------------------------------------------------------------------------

_ROUNDING_MODES: Final = frozenset(
    {
        decimal.ROUND_CEILING,
        decimal.ROUND_DOWN,
        decimal.ROUND_FLOOR,
        decimal.ROUND_HALF_DOWN,
        decimal.ROUND_HALF_EVEN,
        decimal.ROUND_HALF_UP,
        decimal.ROUND_UP,
        decimal.ROUND_05UP,
    }
)
_WHOLE: Final = Decimal(1)
_EXACT_PRECISION: Final = 60
"""Digits for intermediate products: far more than any amount times any rate needs, so
only `to_minor_units` ever rounds."""


def to_minor_units(value: Decimal, rounding: str) -> int:
    """The one place a `Decimal` becomes integer minor units, rounded as the caller says
    (`decimal.ROUND_HALF_UP`, ...): each call site decides who gets the half unit."""
    if not isinstance(value, Decimal):
        raise TypeError(f"money is Decimal or int, never {type(value).__name__}")
    if rounding not in _ROUNDING_MODES:
        raise ValueError(f"unknown rounding mode: {rounding!r}")
    if not value.is_finite():
        raise ValueError(f"not an amount: {value}")
    with decimal.localcontext() as context:
        context.prec = _EXACT_PRECISION
        return int(value.quantize(_WHOLE, rounding=rounding))


def _exact_product(amount: int, rate: Decimal) -> Decimal:
    """`amount * rate` with no rounding at all (Inexact is trapped)."""
    with decimal.localcontext() as context:
        context.prec = _EXACT_PRECISION
        context.traps[decimal.Inexact] = True
        return Decimal(amount) * rate


# --- Card processing fees ---------------------------------------------------------------

FEE_ROUNDING: Final = decimal.ROUND_HALF_UP
"""Half a minor unit of fee goes to the platform, as on a paper invoice."""

MAX_PERCENT: Final = Decimal(100)


@dataclass(frozen=True)
class Pricing:
    """A card fee: `percent` of the amount (2.9 means 2.9%) plus `fixed` minor units."""

    percent: Decimal
    fixed: int

    def __post_init__(self) -> None:
        if not isinstance(self.percent, Decimal) or not self.percent.is_finite():
            raise ValueError(f"percent must be a finite Decimal, not {self.percent!r}")
        if not Decimal(0) <= self.percent <= MAX_PERCENT:
            raise ValueError(f"percent must be between 0 and 100, not {self.percent}")
        if self.fixed < 0:
            raise ValueError(f"fixed fee must not be negative, not {self.fixed}")


@dataclass(frozen=True)
class PricingTable:
    """Card pricing per currency, with a default for the currencies not listed."""

    by_currency: Mapping[str, Pricing]
    default: Pricing

    def for_currency(self, currency: str) -> Pricing:
        return self.by_currency.get(currency.lower(), self.default)


STANDARD_PERCENT: Final = Decimal("2.9")

LOCAL_FIXED_FEES: Final[Mapping[str, int]] = MappingProxyType(
    {
        "usd": 30,
        "eur": 25,
        "gbp": 20,
        "cad": 30,
        "aud": 30,
        "nzd": 30,
        "sgd": 50,
        "jpy": 0,
    }
)
"""Stripe's fixed fee per successful card charge in the countries whose standard pricing
Kassa knows (US 30¢, EEA €0.25, UK 20p, Canada and Australia and New Zealand 30 local cents,
Singapore S$0.50, Japan none), in minor units."""

DEFAULT_PRICING_TABLE: Final = PricingTable(
    by_currency=MappingProxyType(
        {code: Pricing(STANDARD_PERCENT, fixed) for code, fixed in LOCAL_FIXED_FEES.items()}
    ),
    default=Pricing(STANDARD_PERCENT, 0),
)
"""Stripe's US percentage (2.9%) everywhere, plus Stripe's local fixed fee where it is known
and nothing elsewhere: Kassa has no exchange rates, and 30 minor units mean very different
sums in different currencies. Operators set their own with `parse_pricing_table`."""


def card_fee(amount: int, currency: str, table: PricingTable) -> int:
    """The processing fee on a card charge: percent of amount, rounded half up to minor units,
    plus the fixed fee, and never more than `amount`. Capping keeps a charge's net amount
    non-negative where Kassa has no minimum charge that would guarantee it (Stripe's minimums
    exist so the fee never exceeds the charge). `Pricing` admits no negative rate or fixed
    fee, so the fee is never negative."""
    if amount < 0:
        raise ValueError(f"a charge amount is never negative, not {amount}")
    pricing = table.for_currency(currency)
    variable = to_minor_units(_exact_product(amount, pricing.percent.scaleb(-2)), FEE_ROUNDING)
    return min(amount, variable + pricing.fixed)


PRICING_FORMAT_HINT: Final = (
    "expected comma-separated entries CURRENCY:PERCENT%+FIXED, e.g. "
    "'usd:2.9%+30,eur:1.5%+25,*:2.9%+0' (FIXED in the currency's minor units; "
    "'*' sets the default for currencies not listed)"
)
_DEFAULT_KEY: Final = "*"
_PRICING_ENTRY: Final = re.compile(
    r"(?P<currency>[A-Za-z]{3}|\*)"
    r":(?P<percent>[0-9]{1,3}(?:\.[0-9]{1,4})?)%"
    r"\+(?P<fixed>[0-9]{1,9})"
)


def _parse_pricing_entry(entry: str) -> tuple[str, Pricing]:
    match = _PRICING_ENTRY.fullmatch(entry)
    if match is None:
        raise ValueError(f"invalid pricing entry {entry[:40]!r}: {PRICING_FORMAT_HINT}")
    currency = match["currency"].lower()
    if currency != _DEFAULT_KEY and currency not in SUPPORTED_CURRENCIES:
        raise ValueError(f"invalid pricing entry {entry!r}: unknown currency {currency!r}")
    percent = Decimal(match["percent"])
    if percent > MAX_PERCENT:
        raise ValueError(f"invalid pricing entry {entry!r}: percent above 100")
    return currency, Pricing(percent, int(match["fixed"]))


def parse_pricing_table(text: str) -> PricingTable:
    """Read a pricing setting such as `usd:2.9%+30,eur:1.5%+25,*:2.9%+0`. Its entries
    override `DEFAULT_PRICING_TABLE`'s: a currency not named keeps its default pricing, and
    `*` replaces only the pricing of currencies that have none of their own. An empty
    setting means the defaults. Raises ValueError naming the fault and the format."""
    by_currency = dict(DEFAULT_PRICING_TABLE.by_currency)
    default = DEFAULT_PRICING_TABLE.default
    seen: set[str] = set()
    entries = [entry.strip() for entry in text.split(",")] if text.strip() else []
    for entry in entries:
        currency, pricing = _parse_pricing_entry(entry)
        if currency in seen:
            raise ValueError(f"pricing for {currency!r} is given twice: {PRICING_FORMAT_HINT}")
        seen.add(currency)
        if currency == _DEFAULT_KEY:
            default = pricing
        else:
            by_currency[currency] = pricing
    return PricingTable(by_currency=MappingProxyType(by_currency), default=default)


# --- Dispute fees -----------------------------------------------------------------------

DISPUTE_FEES: Final[Mapping[str, int]] = MappingProxyType(
    {
        "usd": 1500,
        "eur": 2000,
        "gbp": 2000,
        "cad": 1500,
        "jpy": 1500,
    }
)
"""Stripe's fee per dispute where its local pricing is known, in minor units: $15.00 (US),
€20.00 (EEA), £20.00 (UK), CA$15.00 (Canada), ¥1,500 (Japan)."""

DEFAULT_DISPUTE_FEE: Final = 1500
"""Stripe charges "$15.00 or the local currency equivalent". Without exchange rates Kassa
takes the US figure's minor units as they stand: 15.00 in two-decimal currencies, 1,500 in
zero-decimal ones (as in Japan), 1.500 in three-decimal ones (a multiple of 10, as those
currencies need)."""


def dispute_fee(currency: str) -> int:
    """The fee, in the currency's minor units, debited when a charge is disputed."""
    return DISPUTE_FEES.get(currency.lower(), DEFAULT_DISPUTE_FEE)
