"""Card numbers: Stripe's validation rules, keyed fingerprints, and what Stripe's test cards do.

A leaf module (standard library and `kassa.errors` only). The full card number is an input and
nothing more: it is validated, hashed into a fingerprint and looked up among the test cards, and
no object returned from here carries it (a `Card` keeps brand, last4, expiry, funding, country and
fingerprint). Nothing here logs.

The test cards, `pm_card_*` PaymentMethods and `tok_*` tokens are the ones docs.stripe.com/testing
lists; `TestBehavior` says what Kassa's simulated card network does with each of them.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Final, NamedTuple, TypeVar

from kassa.errors import CardError

BRANDS = ("visa", "mastercard", "amex", "discover", "diners", "jcb", "unionpay")

NUMBER_DIGITS_MAX: Final = 19
"""No brand issues longer numbers; longer input is rejected before any other work."""
EXPIRY_YEARS_AHEAD_MAX: Final = 50
TWO_DIGIT_YEAR_PIVOT: Final = 69
"""Two-digit years below this are 20xx, the rest 19xx (the POSIX `%y` rule). Stripe's testing
page gives "70" as an expiry year in the past, so a plain 20xx reading would contradict it."""
EXP_MONTH_DIGITS_MAX: Final = 2
EXP_YEAR_DIGITS_MAX: Final = 4
CVC_DIGITS: Final = 3
CVC_DIGITS_AMEX: Final = 4
FINGERPRINT_CHARS: Final = 16
TEST_TOKEN_EXPIRY_YEARS_AHEAD: Final = 1
"""Stripe's `pm_card_*` cards expire in this month, one year on."""
FINGERPRINT_KEYS_CACHED_MAX: Final = 64
"""Fingerprint keys whose test-card fingerprints are kept computed (one table per key)."""

RISK_SCORE_ELEVATED: Final = 70
RISK_SCORE_HIGHEST: Final = 90
RISK_SCORE_ALWAYS_BLOCKED: Final = 95
"""Radar scores 0-100; levels are roughly normal below 65, elevated 65-74, highest from 75."""

PAYMENT_METHOD_TOKEN_PREFIX: Final = "pm_card_"
CARD_TOKEN_PREFIX: Final = "tok_"

_BASE62_ALPHABET: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

DISPLAY_BRANDS: Final = {
    "visa": "visa",
    "mastercard": "mastercard",
    "amex": "american_express",
    "discover": "discover",
    "diners": "diners_club",
    "jcb": "jcb",
    "unionpay": "union_pay",
}

_BRAND_LENGTHS: Final[dict[str, tuple[int, ...]]] = {
    "visa": (13, 16, 19),
    "mastercard": (16,),
    "amex": (15,),
    "discover": (16, 17, 18, 19),
    "diners": (14, 15, 16, 17, 18, 19),
    "jcb": (16, 17, 18, 19),
    "unionpay": (16, 17, 18, 19),
}


class _PrefixRange(NamedTuple):
    """Numbers whose first `len(low)` digits lie in [low, high] (same-length digit strings
    compare like the integers they spell)."""

    brand: str
    low: str
    high: str

    def matches(self, number: str) -> bool:
        return self.low <= number[: len(self.low)] <= self.high


# Checked in order, first match wins: Discover's 622126-622925 sits inside UnionPay's 62, and
# cards in that range are routed as Discover.
_PREFIX_RANGES: Final = (
    _PrefixRange("visa", "4", "4"),
    _PrefixRange("mastercard", "51", "55"),
    _PrefixRange("mastercard", "2221", "2720"),
    _PrefixRange("amex", "34", "34"),
    _PrefixRange("amex", "37", "37"),
    _PrefixRange("discover", "6011", "6011"),
    _PrefixRange("discover", "644", "649"),
    _PrefixRange("discover", "65", "65"),
    _PrefixRange("discover", "622126", "622925"),
    _PrefixRange("diners", "300", "305"),
    _PrefixRange("diners", "36", "36"),
    _PrefixRange("diners", "38", "39"),
    _PrefixRange("jcb", "3528", "3589"),
    _PrefixRange("unionpay", "62", "62"),
    _PrefixRange("unionpay", "81", "81"),
)

# Stripe's messages, word for word.
MESSAGE_DECLINED: Final = "Your card was declined."
MESSAGE_INSUFFICIENT_FUNDS: Final = "Your card has insufficient funds."
MESSAGE_EXPIRED: Final = "Your card has expired."
MESSAGE_INCORRECT_CVC: Final = "Your card's security code is incorrect."
MESSAGE_PROCESSING_ERROR: Final = (
    "An error occurred while processing your card. Try again in a little bit."
)
MESSAGE_VELOCITY_EXCEEDED: Final = (
    "Your card was declined for making repeated attempts too frequently or exceeding its "
    "amount limit."
)
MESSAGE_INCORRECT_NUMBER: Final = "Your card number is incorrect."
MESSAGE_INVALID_EXPIRY_MONTH: Final = "Your card's expiration month is invalid."
MESSAGE_INVALID_EXPIRY_YEAR: Final = "Your card's expiration year is invalid."
MESSAGE_INVALID_CVC: Final = "Your card's security code is invalid."


@dataclass(frozen=True)
class Decline:
    """How a charge attempt fails: the card_error Stripe answers with and the charge's outcome."""

    code: str
    decline_code: str | None
    """The issuer's reason (`card_declined` errors); None for Stripe's own error codes
    (`expired_card`, `incorrect_cvc`, `processing_error`), which Stripe answers without one."""
    message: str
    outcome_type: str
    network_status: str
    reason: str | None
    risk_level: str = "normal"
    param: str | None = None
    """The card field the error blames, as Stripe names it (`exp_month`, `cvc`)."""


_CardErrorT = TypeVar("_CardErrorT", bound=CardError)


def decline_error(
    decline: Decline, kind: type[_CardErrorT], *, param: str | None = None
) -> _CardErrorT:
    """The 402 `card_error` a decline answers with, as `kind` (`CardDeclined` where a failed
    charge was recorded, plain `CardError` where nothing was). Its param is the card field the
    decline blames when it names one (Stripe's recorded responses say `exp_month` or `cvc`
    wherever the card came from), else the caller's `param`."""
    return kind(
        decline.message,
        code=decline.code,
        decline_code=decline.decline_code,
        param=decline.param or param,
    )


# When a card that requires authentication needs it on an off-session payment too:
OFF_SESSION_ALWAYS: Final = "always"
"""However the card was set up (Stripe's "always authenticate", and the 3DS-required cards)."""
OFF_SESSION_UNLESS_SET_UP: Final = "unless_set_up"
"""Until the card is set up for off-session payments (a SetupIntent, or a payment that saved
it with `setup_future_usage`)."""
OFF_SESSION_NEVER: Final = "never"
"""Never: as if the card had been set up already."""


CHECK_PASS: Final = "pass"
CHECK_FAIL: Final = "fail"
CHECK_UNAVAILABLE: Final = "unavailable"


@dataclass(frozen=True)
class TestBehavior:
    """What Kassa's simulated card network does with a card."""

    __test__ = False  # a domain class, not a pytest test class, despite its name

    decline: Decline | None = None
    declines_on_attach: bool = False
    requires_authentication: bool = False
    """Payments authenticate with 3-D Secure first (on-session ones always; off-session ones
    as `off_session_authentication` says)."""
    off_session_authentication: str = OFF_SESSION_ALWAYS
    """For a card that requires authentication, when an off-session payment (nobody there to
    answer a challenge) needs it, and so declines with `authentication_required`: one of
    OFF_SESSION_ALWAYS, OFF_SESSION_UNLESS_SET_UP, OFF_SESSION_NEVER."""
    dispute_reason: str | None = None
    dispute_is_inquiry: bool = False
    available_immediately: bool = False
    risk_level: str = "normal"
    risk_score: int = 20
    early_fraud_warning: bool = False
    """The issuer reports the charge as likely fraud right after it succeeds."""
    refund_failure_reason: str | None = None
    """A refund of the charge succeeds, then fails some time later with this
    `failure_reason` (Stripe's 4000000000005126)."""


@dataclass(frozen=True)
class Card:
    """A validated card as Kassa keeps it: never the number."""

    brand: str
    display_brand: str
    last4: str
    exp_month: int
    exp_year: int
    funding: str
    country: str
    fingerprint: str
    cvc_check: str | None
    behavior: TestBehavior
    address_line1_result: str
    """What the issuer's check of an `address_line1` says, if one is given (`pass`, `fail`
    or `unavailable`): a card object's `address_line1_check`, null without an address."""
    address_zip_result: str
    """The same for `address_zip` (a PaymentMethod's `address_postal_code_check`)."""


def _issuer_decline(decline_code: str, message: str) -> Decline:
    # Issuer declines reach the network; Stripe reports the decline code as the outcome reason.
    return Decline(
        code="card_declined",
        decline_code=decline_code,
        message=message,
        outcome_type="issuer_declined",
        network_status="declined_by_network",
        reason=decline_code,
    )


def _card_error(code: str, message: str, *, param: str | None = None) -> Decline:
    # Stripe answers these with its own error code and no decline_code (recorded responses;
    # its error-code list has them apart from the issuers' decline codes); the outcome's
    # reason is the code.
    return Decline(
        code=code,
        decline_code=None,
        message=message,
        outcome_type="issuer_declined",
        network_status="declined_by_network",
        reason=code,
        param=param,
    )


_GENERIC_DECLINE: Final = _issuer_decline("generic_decline", MESSAGE_DECLINED)
_INSUFFICIENT_FUNDS: Final = _issuer_decline("insufficient_funds", MESSAGE_INSUFFICIENT_FUNDS)
_LOST_CARD: Final = _issuer_decline("lost_card", MESSAGE_DECLINED)
_STOLEN_CARD: Final = _issuer_decline("stolen_card", MESSAGE_DECLINED)
_EXPIRED_CARD: Final = _card_error("expired_card", MESSAGE_EXPIRED, param="exp_month")
_INCORRECT_CVC: Final = _card_error("incorrect_cvc", MESSAGE_INCORRECT_CVC, param="cvc")
_PROCESSING_ERROR: Final = _card_error("processing_error", MESSAGE_PROCESSING_ERROR)
_VELOCITY_EXCEEDED: Final = _issuer_decline("card_velocity_exceeded", MESSAGE_VELOCITY_EXCEEDED)
# Radar's default rule blocks the highest risk level before the card network sees the charge.
_RADAR_BLOCK: Final = Decline(
    code="card_declined",
    decline_code="fraudulent",
    message=MESSAGE_DECLINED,
    outcome_type="blocked",
    network_status="not_sent_to_network",
    reason="highest_risk_level",
    risk_level="highest",
)


def _issuer_declines(decline: Decline) -> TestBehavior:
    # Stripe verifies a card with its issuer when it is attached to a customer, so the cards in
    # its declined-payments table cannot be attached either.
    return TestBehavior(decline=decline, declines_on_attach=True)


def _needs_authentication(
    decline: Decline | None = None, *, off_session: str = OFF_SESSION_ALWAYS
) -> TestBehavior:
    return TestBehavior(
        decline=decline, requires_authentication=True, off_session_authentication=off_session
    )


_SUCCEEDS: Final = TestBehavior()


class _TestCard(NamedTuple):
    brand: str
    funding: str
    country: str
    behavior: TestBehavior


def _test_card(
    brand: str, *, funding: str = "credit", country: str = "US", behavior: TestBehavior = _SUCCEEDS
) -> _TestCard:
    return _TestCard(brand, funding, country, behavior)


# Cards by country on Stripe's testing page: every charge succeeds; only the issuer's country
# differs. The digits after "4000" spell the country's ISO 3166 numeric code.
_VISA_BY_COUNTRY: Final = {
    "BR": "4000000760000002",
    "CA": "4000001240000000",
    "MX": "4000004840008001",
    "AE": "4000007840000001",
    "AT": "4000000400000008",
    "BE": "4000000560000004",
    "BG": "4000001000000000",
    "BY": "4000001120000005",
    "HR": "4000001910000009",
    "CY": "4000001960000008",
    "CZ": "4000002030000002",
    "DK": "4000002080000001",
    "EE": "4000002330000009",
    "FI": "4000002460000001",
    "FR": "4000002500000003",
    "DE": "4000002760000016",
    "GI": "4000002920000005",
    "GR": "4000003000000030",
    "HU": "4000003480000005",
    "IE": "4000003720000005",
    "IT": "4000003800000008",
    "LV": "4000004280000005",
    "LI": "4000004380000004",
    "LT": "4000004400000000",
    "LU": "4000004420000006",
    "MT": "4000004700000007",
    "NL": "4000005280000002",
    "NO": "4000005780000007",
    "PL": "4000006160000005",
    "PT": "4000006200000007",
    "RO": "4000006420000001",
    "SA": "4000006820000007",
    "SI": "4000007050000006",
    "SK": "4000007030000001",
    "ES": "4000007240000007",
    "SE": "4000007520000008",
    "CH": "4000007560000009",
    "GB": "4000008260000000",
    "AU": "4000000360000006",
    "CN": "4000001560000002",
    "HK": "4000003440000004",
    "IN": "4000003560000008",
    "JP": "4000003920000003",
    "MY": "4000004580000002",
    "NZ": "4000005540000008",
    "SG": "4000007020000003",
    "TH": "4000007640000003",
}

_TEST_CARDS: Final[dict[str, _TestCard]] = {
    # Cards by brand: every charge succeeds.
    "4242424242424242": _test_card("visa"),
    "4000056655665556": _test_card("visa", funding="debit"),
    "5555555555554444": _test_card("mastercard"),
    "2223003122003222": _test_card("mastercard"),
    "5200828282828210": _test_card("mastercard", funding="debit"),
    "5105105105105100": _test_card("mastercard", funding="prepaid"),
    "378282246310005": _test_card("amex"),
    "371449635398431": _test_card("amex"),
    "6011111111111117": _test_card("discover"),
    "6011000990139424": _test_card("discover"),
    "6011981111111113": _test_card("discover", funding="debit"),
    "3056930009020004": _test_card("diners"),
    "36227206271667": _test_card("diners"),
    "3566002020360505": _test_card("jcb"),
    "6200000000000005": _test_card("unionpay"),
    "6200000000000047": _test_card("unionpay", funding="debit"),
    "6205500000000000004": _test_card("unionpay"),
    # Cards by country that are not plain Visa credit cards.
    "5200007840000022": _test_card("mastercard", country="AE"),
    "4000058260000005": _test_card("visa", funding="debit", country="GB"),
    "5555558265554449": _test_card("mastercard", country="GB"),
    "3530111333300000": _test_card("jcb", country="JP"),
    "4000057640000008": _test_card("visa", funding="debit", country="TH"),
    # Declined payments.
    "4000000000000002": _test_card("visa", behavior=_issuer_declines(_GENERIC_DECLINE)),
    "4000000000009995": _test_card("visa", behavior=_issuer_declines(_INSUFFICIENT_FUNDS)),
    "4000000000009987": _test_card("visa", behavior=_issuer_declines(_LOST_CARD)),
    "4000000000009979": _test_card("visa", behavior=_issuer_declines(_STOLEN_CARD)),
    "4000000000000069": _test_card("visa", behavior=_issuer_declines(_EXPIRED_CARD)),
    "4000000000000127": _test_card("visa", behavior=_issuer_declines(_INCORRECT_CVC)),
    "4000000000000119": _test_card("visa", behavior=_issuer_declines(_PROCESSING_ERROR)),
    "4000000000006975": _test_card("visa", behavior=_issuer_declines(_VELOCITY_EXCEEDED)),
    # Attaching succeeds; every charge declines.
    "4000000000000341": _test_card("visa", behavior=TestBehavior(decline=_GENERIC_DECLINE)),
    # Fraud prevention (Radar).
    "4100000000000019": _test_card(
        "visa",
        behavior=TestBehavior(
            decline=_RADAR_BLOCK,
            declines_on_attach=True,
            risk_level="highest",
            risk_score=RISK_SCORE_ALWAYS_BLOCKED,
        ),
    ),
    # Stripe blocks it only while the default "block highest risk" rule is on; Kassa has no
    # rule settings, so it behaves as a default account does.
    "4000000000004954": _test_card(
        "visa",
        behavior=TestBehavior(
            decline=_RADAR_BLOCK, risk_level="highest", risk_score=RISK_SCORE_HIGHEST
        ),
    ),
    "4000000000009235": _test_card(
        "visa", behavior=TestBehavior(risk_level="elevated", risk_score=RISK_SCORE_ELEVATED)
    ),
    "4000000000000101": _test_card("visa", behavior=TestBehavior(decline=_INCORRECT_CVC)),
    # Address checks fail or are unavailable (`_ADDRESS_CHECKS`); with default settings
    # these charges succeed.
    "4000000000000036": _test_card("visa"),
    "4000000000000028": _test_card("visa"),
    "4000000000000010": _test_card("visa"),
    "4000000000000044": _test_card("visa"),
    # Disputes open right after a successful charge.
    "4000000000000259": _test_card("visa", behavior=TestBehavior(dispute_reason="fraudulent")),
    "4000000000002685": _test_card(
        "visa", behavior=TestBehavior(dispute_reason="product_not_received")
    ),
    "4000000000001976": _test_card(
        "visa", behavior=TestBehavior(dispute_reason="fraudulent", dispute_is_inquiry=True)
    ),
    # Radar: an early fraud warning right after a successful charge.
    "4000000000005423": _test_card("visa", behavior=TestBehavior(early_fraud_warning=True)),
    # Refunds: the charge succeeds, its refunds succeed and then fail some time later.
    "4000000000005126": _test_card(
        "visa", behavior=TestBehavior(refund_failure_reason="expired_or_canceled_card")
    ),
    # Available balance: the charge skips the pending balance.
    "4000000000000077": _test_card("visa", behavior=TestBehavior(available_immediately=True)),
    "4000003720000278": _test_card(
        "visa", country="IE", behavior=TestBehavior(available_immediately=True)
    ),
    # 3D Secure: every on-session charge authenticates first. Off-session, Stripe's
    # "authenticate unless set up" card needs none once set up, "always authenticate" always
    # declines, and "already set up" never needs any; the insufficient-funds one declines
    # for its funds once set up.
    "4000002500003155": _test_card(
        "visa",
        country="FR",
        behavior=_needs_authentication(off_session=OFF_SESSION_UNLESS_SET_UP),
    ),
    "4000002760003184": _test_card("visa", country="DE", behavior=_needs_authentication()),
    "4000003800000446": _test_card(
        "visa", country="IT", behavior=_needs_authentication(off_session=OFF_SESSION_NEVER)
    ),
    "4000008260003178": _test_card(
        "visa",
        country="GB",
        behavior=_needs_authentication(_INSUFFICIENT_FUNDS, off_session=OFF_SESSION_UNLESS_SET_UP),
    ),
    "4000000000003220": _test_card("visa", behavior=_needs_authentication()),
    "4000000000003063": _test_card("visa", behavior=_needs_authentication()),
    "4000008400001629": _test_card("visa", behavior=_needs_authentication(_GENERIC_DECLINE)),
    "4000000000003055": _test_card("visa"),
} | {number: _test_card("visa", country=country) for country, number in _VISA_BY_COUNTRY.items()}

_CVC_CHECK_FAILS: Final = frozenset({"4000000000000101", "4000000000000127"})
"""Cards whose CVC check fails. Stripe only checks a CVC that was given: without one, the check
cannot fail and these cards charge like any other."""

_ADDRESS_CHECKS: Final[dict[str, tuple[str, str]]] = {
    "4000000000000010": (CHECK_FAIL, CHECK_FAIL),
    "4000000000000028": (CHECK_FAIL, CHECK_PASS),
    "4000000000000036": (CHECK_PASS, CHECK_FAIL),
    "4000000000000044": (CHECK_UNAVAILABLE, CHECK_UNAVAILABLE),
}
"""Stripe's address check test cards: (address line 1, postal code) check results when
the card comes with them. Every other card passes both."""

# Test ids Stripe offers both as `pm_card_<suffix>` and `tok_<suffix>`.
_TOKEN_SUFFIXES: Final = {
    "visa": "4242424242424242",
    "visa_debit": "4000056655665556",
    "mastercard": "5555555555554444",
    "mastercard_debit": "5200828282828210",
    "mastercard_prepaid": "5105105105105100",
    "amex": "378282246310005",
    "discover": "6011111111111117",
    "diners": "3056930009020004",
    "jcb": "3566002020360505",
    "unionpay": "6200000000000005",
    "us": "4242424242424242",
    "visa_chargeDeclined": "4000000000000002",
    "visa_chargeDeclinedInsufficientFunds": "4000000000009995",
    "visa_chargeDeclinedLostCard": "4000000000009987",
    "visa_chargeDeclinedStolenCard": "4000000000009979",
    "chargeDeclinedExpiredCard": "4000000000000069",
    "chargeDeclinedIncorrectCvc": "4000000000000127",
    "chargeDeclinedProcessingError": "4000000000000119",
    "visa_chargeDeclinedVelocityLimitExceeded": "4000000000006975",
    # Older names Stripe still accepts for the same cards.
    "chargeDeclined": "4000000000000002",
    "chargeDeclinedInsufficientFunds": "4000000000009995",
    "chargeDeclinedLostCard": "4000000000009987",
    "chargeDeclinedStolenCard": "4000000000009979",
    "chargeCustomerFail": "4000000000000341",
    "radarBlock": "4100000000000019",
    "chargeDeclinedFraudulent": "4100000000000019",
    "riskLevelHighest": "4000000000004954",
    "riskLevelElevated": "4000000000009235",
    "cvcCheckFail": "4000000000000101",
    "avsZipFail": "4000000000000036",
    "avsLine1Fail": "4000000000000028",
    "avsFail": "4000000000000010",
    "avsUnchecked": "4000000000000044",
    "createDispute": "4000000000000259",
    "createDisputeProductNotReceived": "4000000000002685",
    "createDisputeInquiry": "4000000000001976",
    "bypassPending": "4000000000000077",
    "bypassPendingInternational": "4000003720000278",
    "refundFail": "4000000000005126",
    "threeDSecure2Required": "4000000000003220",
    "threeDSecureRequired": "4000000000003063",
    "threeDSecureRequiredChargeDeclined": "4000008400001629",
    "threeDSecureOptional": "4000000000003055",
    "amex_threeDSecureNotSupported": "378282246310005",
} | {country.lower(): number for country, number in _VISA_BY_COUNTRY.items()}

# Stripe documents these as PaymentMethods only (no tokens).
_PAYMENT_METHOD_ONLY_SUFFIXES: Final = {
    "authenticationRequiredOnSetup": "4000002500003155",
    "authenticationRequired": "4000002760003184",
    "authenticationRequiredSetupForOffSession": "4000003800000446",
    "authenticationRequiredChargeDeclinedInsufficientFunds": "4000008260003178",
}

_TEST_TOKENS: Final[dict[str, str]] = (
    {PAYMENT_METHOD_TOKEN_PREFIX + suffix: number for suffix, number in _TOKEN_SUFFIXES.items()}
    | {CARD_TOKEN_PREFIX + suffix: number for suffix, number in _TOKEN_SUFFIXES.items()}
    | {
        PAYMENT_METHOD_TOKEN_PREFIX + suffix: number
        for suffix, number in _PAYMENT_METHOD_ONLY_SUFFIXES.items()
    }
)


def _is_ascii_digits(value: str) -> bool:
    # str.isdigit alone accepts other scripts' digits ("٤") and superscripts.
    return value.isascii() and value.isdigit()


def luhn_valid(number: str) -> bool:
    """True when `number` is 1-19 ASCII digits whose Luhn checksum is 0."""
    if not 0 < len(number) <= NUMBER_DIGITS_MAX or not _is_ascii_digits(number):
        return False
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2 == 1:
            digit = digit * 2 - 9 if digit >= 5 else digit * 2
        total += digit
    return total % 10 == 0


def brand_for(number: str) -> str | None:
    """The brand the number's prefix and length belong to; None when they fit no brand."""
    if not _is_ascii_digits(number):
        return None
    for prefix_range in _PREFIX_RANGES:
        if prefix_range.matches(number):
            return prefix_range.brand if len(number) in _BRAND_LENGTHS[prefix_range.brand] else None
    return None


def card_fingerprint(number: str, key: bytes) -> str:
    """HMAC-SHA256 of the number under the account's key, as 16 base62 characters: the same
    number always gives the same fingerprint for one key, and an unrelated one for another."""
    if not key:
        # Card numbers have little entropy: an unkeyed hash could be reversed by enumeration.
        raise ValueError("a card fingerprint needs a non-empty key")
    value = int.from_bytes(hmac.new(key, number.encode(), hashlib.sha256).digest(), "big")
    chars = []
    for _ in range(FINGERPRINT_CHARS):
        value, index = divmod(value, len(_BASE62_ALPHABET))
        chars.append(_BASE62_ALPHABET[index])
    return "".join(chars)


def _validated_brand(number: str, param: str) -> str:
    # Stripe rejects separators rather than stripping them, so "4242 4242 ..." fails too.
    brand = brand_for(number) if len(number) <= NUMBER_DIGITS_MAX else None
    if brand is None or not luhn_valid(number):
        raise CardError(MESSAGE_INCORRECT_NUMBER, code="incorrect_number", param=param)
    return brand


def _as_integer(value: str | int, digits_max: int) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if 0 < len(value) <= digits_max and _is_ascii_digits(value):
        return int(value)
    return None


def _exp_month(value: str | int, param: str) -> int:
    month = _as_integer(value, EXP_MONTH_DIGITS_MAX)
    if month is None or not 1 <= month <= 12:
        raise CardError(MESSAGE_INVALID_EXPIRY_MONTH, code="invalid_expiry_month", param=param)
    return month


def _exp_year(value: str | int, today: datetime.date, param: str) -> int:
    year = _as_integer(value, EXP_YEAR_DIGITS_MAX)
    if year is not None and 0 <= year < 100:
        year += 2000 if year < TWO_DIGIT_YEAR_PIVOT else 1900
    if year is None or not today.year <= year <= today.year + EXPIRY_YEARS_AHEAD_MAX:
        raise CardError(MESSAGE_INVALID_EXPIRY_YEAR, code="invalid_expiry_year", param=param)
    return year


def validated_expiry(
    exp_month: str | int,
    exp_year: str | int,
    *,
    today: datetime.date,
    month_param: str,
    year_param: str,
) -> tuple[int, int]:
    """(month, year) of an expiry Stripe accepts, checked month first: a new card's, or a
    saved card's after an update. A date in the past raises `CardError` naming
    `year_param` (`invalid_expiry_year`) or `month_param` (`invalid_expiry_month`)."""
    month = _exp_month(exp_month, month_param)
    year = _exp_year(exp_year, today, year_param)
    _check_not_expired(month, year, today, month_param)
    return month, year


def _check_not_expired(month: int, year: int, today: datetime.date, param: str) -> None:
    # A card is good through the last day of its expiry month. A past year already failed as
    # invalid_expiry_year; an earlier month of this year is, for Stripe, an invalid month.
    if year == today.year and month < today.month:
        raise CardError(MESSAGE_INVALID_EXPIRY_MONTH, code="invalid_expiry_month", param=param)


def _check_cvc(cvc: str | None, brand: str, param: str) -> None:
    if cvc is None:
        return
    digits = CVC_DIGITS_AMEX if brand == "amex" else CVC_DIGITS
    if len(cvc) != digits or not _is_ascii_digits(cvc):
        raise CardError(MESSAGE_INVALID_CVC, code="invalid_cvc", param=param)


def _behavior(number: str, test_card: _TestCard, *, cvc_given: bool) -> TestBehavior:
    if number in _CVC_CHECK_FAILS and not cvc_given:
        return replace(test_card.behavior, decline=None, declines_on_attach=False)
    return test_card.behavior


def _build_card(
    number: str,
    brand: str,
    exp_month: int,
    exp_year: int,
    *,
    cvc_given: bool,
    fingerprint_key: bytes,
) -> Card:
    test_card = _TEST_CARDS.get(number) or _test_card(brand)
    cvc_check: str | None = None
    if cvc_given:
        cvc_check = CHECK_FAIL if number in _CVC_CHECK_FAILS else CHECK_PASS
    line1_result, zip_result = _ADDRESS_CHECKS.get(number, (CHECK_PASS, CHECK_PASS))
    return Card(
        brand=test_card.brand,
        display_brand=DISPLAY_BRANDS[test_card.brand],
        last4=number[-4:],
        exp_month=exp_month,
        exp_year=exp_year,
        funding=test_card.funding,
        country=test_card.country,
        fingerprint=card_fingerprint(number, fingerprint_key),
        cvc_check=cvc_check,
        behavior=_behavior(number, test_card, cvc_given=cvc_given),
        address_line1_result=line1_result,
        address_zip_result=zip_result,
    )


def card_from_number(
    number: str,
    exp_month: str | int,
    exp_year: str | int,
    cvc: str | None,
    *,
    today: datetime.date,
    fingerprint_key: bytes,
    param_prefix: str = "card",
) -> Card:
    """Validate raw card details as Stripe does and return the card without its number.

    Checks run in Stripe's order (number, expiry month, expiry year, CVC) and the first failure
    raises `CardError` naming `<param_prefix>[number|exp_month|exp_year|cvc]`. `cvc=None` means
    no CVC was given (`cvc_check` stays None); any other value must be 3 digits, 4 for Amex.
    A valid number that is not one of Stripe's test cards charges like 4242424242424242.
    """
    brand = _validated_brand(number, f"{param_prefix}[number]")
    month, year = validated_expiry(
        exp_month,
        exp_year,
        today=today,
        month_param=f"{param_prefix}[exp_month]",
        year_param=f"{param_prefix}[exp_year]",
    )
    _check_cvc(cvc, brand, f"{param_prefix}[cvc]")
    return _build_card(
        number, brand, month, year, cvc_given=cvc is not None, fingerprint_key=fingerprint_key
    )


def card_from_test_token(
    token: str, *, today: datetime.date, fingerprint_key: bytes
) -> Card | None:
    """The card a Stripe test id (`pm_card_visa`, `tok_visa`, ...) stands for, expiring a year
    from now with a CVC that was checked; None for any other id."""
    number = _TEST_TOKENS.get(token)
    if number is None:
        return None
    brand = _TEST_CARDS[number].brand
    return _build_card(
        number,
        brand,
        today.month,
        today.year + TEST_TOKEN_EXPIRY_YEARS_AHEAD,
        cvc_given=True,
        fingerprint_key=fingerprint_key,
    )


@functools.lru_cache(maxsize=FINGERPRINT_KEYS_CACHED_MAX)
def _test_numbers_by_fingerprint(fingerprint_key: bytes) -> Mapping[str, str]:
    return {card_fingerprint(number, fingerprint_key): number for number in _TEST_CARDS}


def behavior_for_fingerprint(
    fingerprint: str, fingerprint_key: bytes, *, cvc_given: bool = True
) -> TestBehavior:
    """What the simulated network does with a stored card, known only by its fingerprint (the
    number is never stored): a test card's behaviour, or plain success for any other card.
    `cvc_given` is whether the card was created with a CVC (its `cvc_check` is not None)."""
    number = _test_numbers_by_fingerprint(fingerprint_key).get(fingerprint)
    if number is None:
        return _SUCCEEDS
    return _behavior(number, _TEST_CARDS[number], cvc_given=cvc_given)
