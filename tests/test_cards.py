"""Card validation, fingerprints and Stripe's test cards (`kassa.cards`): pure functions, no
server."""

from __future__ import annotations

import datetime
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kassa import cards
from kassa.errors import CardError

TODAY = datetime.date(2026, 5, 15)
KEY = b"account-fingerprint-key"
OTHER_KEY = b"another-account-key"
FUTURE_MONTH = "12"
FUTURE_YEAR = "2030"
CVC = "123"
AMEX_CVC = "1234"


def card(
    number: str,
    *,
    exp_month: str | int = FUTURE_MONTH,
    exp_year: str | int = FUTURE_YEAR,
    cvc: str | None = CVC,
    param_prefix: str = "card",
) -> cards.Card:
    return cards.card_from_number(
        number,
        exp_month,
        exp_year,
        cvc,
        today=TODAY,
        fingerprint_key=KEY,
        param_prefix=param_prefix,
    )


def token(test_id: str, key: bytes = KEY) -> cards.Card:
    found = cards.card_from_test_token(test_id, today=TODAY, fingerprint_key=key)
    assert found is not None, test_id
    return found


def rejected(
    number: str,
    *,
    exp_month: str | int = FUTURE_MONTH,
    exp_year: str | int = FUTURE_YEAR,
    cvc: str | None = CVC,
    param_prefix: str = "card",
) -> CardError:
    with pytest.raises(CardError) as raised:
        card(number, exp_month=exp_month, exp_year=exp_year, cvc=cvc, param_prefix=param_prefix)
    return raised.value


def with_check_digit(payload: str) -> str:
    """`payload` followed by the digit that makes its Luhn checksum 0 (computed here, not by
    the code under test)."""
    total = 0
    for position, char in enumerate(reversed(payload)):
        digit = int(char) * (2 if position % 2 == 0 else 1)
        total += digit - 9 if digit > 9 else digit
    return payload + str(-total % 10)


# --- brands ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "brand", "display_brand", "funding"),
    [
        ("4242424242424242", "visa", "visa", "credit"),
        ("4000056655665556", "visa", "visa", "debit"),
        ("5555555555554444", "mastercard", "mastercard", "credit"),
        ("2223003122003222", "mastercard", "mastercard", "credit"),
        ("5200828282828210", "mastercard", "mastercard", "debit"),
        ("5105105105105100", "mastercard", "mastercard", "prepaid"),
        ("378282246310005", "amex", "american_express", "credit"),
        ("371449635398431", "amex", "american_express", "credit"),
        ("6011111111111117", "discover", "discover", "credit"),
        ("6011000990139424", "discover", "discover", "credit"),
        ("6011981111111113", "discover", "discover", "debit"),
        ("3056930009020004", "diners", "diners_club", "credit"),
        ("36227206271667", "diners", "diners_club", "credit"),
        ("3566002020360505", "jcb", "jcb", "credit"),
        ("6200000000000005", "unionpay", "union_pay", "credit"),
        ("6200000000000047", "unionpay", "union_pay", "debit"),
        ("6205500000000000004", "unionpay", "union_pay", "credit"),
    ],
)
def test_each_brands_test_card_validates(
    number: str, brand: str, display_brand: str, funding: str
) -> None:
    cvc = AMEX_CVC if brand == "amex" else CVC
    result = card(number, cvc=cvc)
    assert (result.brand, result.display_brand, result.funding) == (brand, display_brand, funding)
    assert result.last4 == number[-4:]
    assert result.country == "US"
    assert (result.exp_month, result.exp_year) == (12, 2030)
    assert result.cvc_check == "pass"
    assert result.behavior == cards.TestBehavior()
    assert result.brand in cards.BRANDS


def test_mastercard_2_series_range_edges() -> None:
    assert cards.brand_for(with_check_digit("222100000000000")) == "mastercard"
    assert cards.brand_for(with_check_digit("272099999999999")) == "mastercard"
    assert cards.brand_for(with_check_digit("222099999999999")) is None
    assert cards.brand_for(with_check_digit("272100000000000")) is None


@pytest.mark.parametrize(
    ("payload", "brand"),
    [
        ("424242424242", "visa"),  # 13 digits
        ("424242424242424242", "visa"),  # 19 digits
        ("644000000000000", "discover"),
        ("65000000000000000", "discover"),  # 18 digits
        ("622126000000000", "discover"),  # inside UnionPay's 62, routed as Discover
        ("622925000000000", "discover"),
        ("622127000000000000", "discover"),
        ("622000000000000", "unionpay"),
        ("810000000000000", "unionpay"),
        ("3000000000000", "diners"),  # 14 digits
        ("3800000000000", "diners"),
        ("352800000000000", "jcb"),
        ("358900000000000000", "jcb"),  # 19 digits
    ],
)
def test_brand_for_prefixes_and_lengths(payload: str, brand: str) -> None:
    assert cards.brand_for(with_check_digit(payload)) == brand


def test_every_test_card_in_the_table_is_valid_for_its_brand() -> None:
    for number, test_card in cards._TEST_CARDS.items():
        assert cards.luhn_valid(number), number
        assert cards.brand_for(number) == test_card.brand, number


def test_international_test_cards_carry_their_country() -> None:
    assert card("4000008260000000").country == "GB"
    assert card("4000002760000016").country == "DE"
    assert card("3530111333300000").country == "JP"
    assert card("3530111333300000").brand == "jcb"
    assert token("pm_card_br").country == "BR"
    assert token("tok_jp").last4 == "0003"


def test_valid_numbers_that_are_not_test_cards_succeed_like_4242() -> None:
    for number, brand in [
        ("4111111111111111", "visa"),
        ("5454545454545454", "mastercard"),
        (with_check_digit("34000000000000"), "amex"),
    ]:
        result = card(number, cvc=AMEX_CVC if brand == "amex" else CVC)
        assert (result.brand, result.funding, result.country) == (brand, "credit", "US")
        assert result.behavior == card("4242424242424242").behavior


# --- invalid numbers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "4242424242424241",  # Luhn failure, Stripe's own example
        "4242424242424",  # 13 digits but not Luhn-valid
        with_check_digit("42424242424242"),  # Visa prefix, 15 digits
        with_check_digit("55555555555544444"),  # Mastercard prefix, 18 digits
        with_check_digit("999999999999999"),  # unknown prefix, Luhn-valid
        with_check_digit("100000000000000"),
        "4242 4242 4242 4242",
        "4242-4242-4242-4242",
        " 4242424242424242",
        "424242424242424a",
        "٤٢٤٢٤٢٤٢٤٢٤٢٤٢٤٢",  # Arabic-Indic digits
        "",
        "4" * 20,
        with_check_digit("4" * 22),
    ],
)
def test_bad_numbers_are_incorrect_number(number: str) -> None:
    error = rejected(number)
    assert error.code == "incorrect_number"
    assert error.message == "Your card number is incorrect."
    assert error.param == "card[number]"
    assert error.decline_code is None


def test_amex_with_wrong_length_is_rejected() -> None:
    assert rejected(with_check_digit("3782822463100051"), cvc=AMEX_CVC).code == "incorrect_number"


def test_param_prefix_names_the_nested_parameter() -> None:
    error = rejected("4242424242424241", param_prefix="payment_method_data[card]")
    assert error.param == "payment_method_data[card][number]"
    error = rejected("4242424242424242", exp_month="13", param_prefix="source")
    assert error.param == "source[exp_month]"


def test_number_is_checked_before_anything_else() -> None:
    error = rejected("4242424242424241", exp_month="13", exp_year="1999", cvc="1")
    assert error.code == "incorrect_number"


# --- expiry -----------------------------------------------------------------------------------


@pytest.mark.parametrize("exp_month", [0, 13, -1, "0", "00", "13", "ab", "", "1.0", "001", True])
def test_invalid_expiry_month(exp_month: str | int) -> None:
    error = rejected("4242424242424242", exp_month=exp_month)
    assert error.code == "invalid_expiry_month"
    assert error.message == "Your card's expiration month is invalid."
    assert error.param == "card[exp_month]"


@pytest.mark.parametrize("exp_month", [1, 12, "1", "01", "09", "12"])
def test_valid_expiry_months(exp_month: str | int) -> None:
    assert 1 <= card("4242424242424242", exp_month=exp_month).exp_month <= 12


@pytest.mark.parametrize(
    "exp_year",
    [
        2025,  # last year
        "2025",
        "25",  # two digits: 2025
        "70",  # Stripe's documented example of a past year (1970)
        "99",
        2077,  # more than 50 years ahead
        "2077",
        "abcd",
        "",
        "20300",
        "203",
        " 2030",
    ],
)
def test_invalid_expiry_year(exp_year: str | int) -> None:
    error = rejected("4242424242424242", exp_year=exp_year)
    assert error.code == "invalid_expiry_year"
    assert error.message == "Your card's expiration year is invalid."
    assert error.param == "card[exp_year]"


@pytest.mark.parametrize(
    ("exp_year", "year"), [("26", 2026), ("30", 2030), (30, 2030), ("2076", 2076), (2026, 2026)]
)
def test_valid_expiry_years(exp_year: str | int, year: int) -> None:
    assert card("4242424242424242", exp_year=exp_year).exp_year == year


def test_past_month_of_this_year_is_an_invalid_month() -> None:
    error = rejected("4242424242424242", exp_month=TODAY.month - 1, exp_year=TODAY.year)
    assert error.code == "invalid_expiry_month"
    assert error.param == "card[exp_month]"


def test_card_is_good_through_its_expiry_month() -> None:
    result = card("4242424242424242", exp_month=TODAY.month, exp_year=TODAY.year)
    assert (result.exp_month, result.exp_year) == (TODAY.month, TODAY.year)


# --- CVC ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "cvc"),
    [
        ("4242424242424242", "99"),  # Stripe's documented example
        ("4242424242424242", "1234"),
        ("4242424242424242", "12a"),
        ("4242424242424242", ""),
        ("4242424242424242", " 123"),
        ("4242424242424242", "١٢٣"),
        ("378282246310005", "123"),
        ("378282246310005", "12345"),
    ],
)
def test_invalid_cvc(number: str, cvc: str) -> None:
    error = rejected(number, cvc=cvc)
    assert error.code == "invalid_cvc"
    assert error.message == "Your card's security code is invalid."
    assert error.param == "card[cvc]"


def test_no_cvc_means_no_cvc_check() -> None:
    assert card("4242424242424242", cvc=None).cvc_check is None
    assert card("378282246310005", cvc=AMEX_CVC).cvc_check == "pass"


def test_cvc_check_fail_card_fails_only_when_a_cvc_is_given() -> None:
    checked = card("4000000000000101")
    assert checked.cvc_check == "fail"
    assert checked.behavior.decline is not None
    assert checked.behavior.decline.code == "incorrect_cvc"
    unchecked = card("4000000000000101", cvc=None)
    assert unchecked.cvc_check is None
    assert unchecked.behavior.decline is None


@pytest.mark.parametrize(
    ("number", "line1", "postal_code"),
    [
        ("4000000000000010", "fail", "fail"),
        ("4000000000000028", "fail", "pass"),
        ("4000000000000036", "pass", "fail"),
        ("4000000000000044", "unavailable", "unavailable"),
        ("4242424242424242", "pass", "pass"),
    ],
)
def test_address_check_cards_carry_their_results(number: str, line1: str, postal_code: str) -> None:
    """Stripe's testing page, "CVC and address check failures": the charges succeed."""
    result = card(number)
    assert (result.address_line1_result, result.address_zip_result) == (line1, postal_code)
    assert result.behavior.decline is None


def test_incorrect_cvc_card_declines_only_when_a_cvc_is_given() -> None:
    # Stripe's testing page: without a CVC there is no CVC check, so it cannot fail.
    declined = card("4000000000000127").behavior
    assert declined.decline is not None
    assert declined.decline.code == "incorrect_cvc"
    assert declined.declines_on_attach
    assert card("4000000000000127", cvc=None).behavior == cards.TestBehavior()


# --- test tokens and behaviours -------------------------------------------------------------

DECLINED = "Your card was declined."
INSUFFICIENT = "Your card has insufficient funds."
EXPIRED = "Your card has expired."
INCORRECT_CVC = "Your card's security code is incorrect."
PROCESSING = "An error occurred while processing your card. Try again in a little bit."
VELOCITY = (
    "Your card was declined for making repeated attempts too frequently or exceeding its "
    "amount limit."
)

ISSUER_DECLINES = [
    ("4000000000000002", "card_declined", "generic_decline", DECLINED),
    ("4000000000009995", "card_declined", "insufficient_funds", INSUFFICIENT),
    ("4000000000009987", "card_declined", "lost_card", DECLINED),
    ("4000000000009979", "card_declined", "stolen_card", DECLINED),
    ("4000000000006975", "card_declined", "card_velocity_exceeded", VELOCITY),
]
CARD_ERRORS = [
    # Stripe's own error codes rather than an issuer's decline code: no decline_code, and the
    # card field at fault as `param` where Stripe names one (recorded Stripe responses).
    ("4000000000000069", "expired_card", "exp_month", EXPIRED),
    ("4000000000000127", "incorrect_cvc", "cvc", INCORRECT_CVC),
    ("4000000000000119", "processing_error", None, PROCESSING),
]

DECLINE_TEST_IDS = {
    "4000000000000002": [
        "pm_card_visa_chargeDeclined",
        "tok_visa_chargeDeclined",
        "pm_card_chargeDeclined",
        "tok_chargeDeclined",
    ],
    "4000000000009995": [
        "pm_card_visa_chargeDeclinedInsufficientFunds",
        "tok_visa_chargeDeclinedInsufficientFunds",
        "pm_card_chargeDeclinedInsufficientFunds",
        "tok_chargeDeclinedInsufficientFunds",
    ],
    "4000000000009987": [
        "pm_card_visa_chargeDeclinedLostCard",
        "tok_visa_chargeDeclinedLostCard",
        "pm_card_chargeDeclinedLostCard",
        "tok_chargeDeclinedLostCard",
    ],
    "4000000000009979": [
        "pm_card_visa_chargeDeclinedStolenCard",
        "tok_visa_chargeDeclinedStolenCard",
        "pm_card_chargeDeclinedStolenCard",
        "tok_chargeDeclinedStolenCard",
    ],
    "4000000000000069": ["pm_card_chargeDeclinedExpiredCard", "tok_chargeDeclinedExpiredCard"],
    "4000000000000127": ["pm_card_chargeDeclinedIncorrectCvc", "tok_chargeDeclinedIncorrectCvc"],
    "4000000000000119": [
        "pm_card_chargeDeclinedProcessingError",
        "tok_chargeDeclinedProcessingError",
    ],
    "4000000000006975": [
        "pm_card_visa_chargeDeclinedVelocityLimitExceeded",
        "tok_visa_chargeDeclinedVelocityLimitExceeded",
    ],
}


DECLINES_AS_STRIPE = [
    *(
        (number, code, decline_code, None, message)
        for number, code, decline_code, message in ISSUER_DECLINES
    ),
    *((number, code, None, param, message) for number, code, param, message in CARD_ERRORS),
]


@pytest.mark.parametrize(("number", "code", "decline_code", "param", "message"), DECLINES_AS_STRIPE)
def test_declining_cards(
    number: str, code: str, decline_code: str | None, param: str | None, message: str
) -> None:
    """An issuer's decline reports its decline code as the outcome's reason; Stripe's own
    error codes have none, and report the code."""
    expected = cards.Decline(
        code=code,
        decline_code=decline_code,
        message=message,
        outcome_type="issuer_declined",
        network_status="declined_by_network",
        reason=decline_code or code,
        param=param,
    )
    _check_declines(number, expected)


def _check_declines(number: str, decline: cards.Decline) -> None:
    """The card and every test id for it decline so, and cannot be attached either."""
    behavior = card(number).behavior
    assert behavior.decline == decline
    # Stripe verifies a card on attach, so these cannot be attached to a customer either.
    assert behavior.declines_on_attach
    assert not behavior.requires_authentication
    for test_id in DECLINE_TEST_IDS[number]:
        by_token = token(test_id)
        assert by_token.behavior == behavior, test_id
        assert by_token.last4 == number[-4:], test_id


@pytest.mark.parametrize(
    ("number", "test_ids"),
    [
        ("4000000000000002", ["pm_card_visa_chargeDeclined", "tok_chargeDeclined"]),
        ("4000000000009995", ["pm_card_chargeDeclinedInsufficientFunds"]),
        ("4000000000000069", ["pm_card_chargeDeclinedExpiredCard"]),
        ("4000000000006975", ["pm_card_visa_chargeDeclinedVelocityLimitExceeded"]),
        ("4000000000000341", ["pm_card_chargeCustomerFail", "tok_chargeCustomerFail"]),
        ("4100000000000019", ["pm_card_radarBlock", "pm_card_chargeDeclinedFraudulent"]),
        ("4000000000000259", ["pm_card_createDispute", "tok_createDispute"]),
        ("4000000000000077", ["pm_card_bypassPending", "tok_bypassPending"]),
        ("4000002500003155", ["pm_card_authenticationRequiredOnSetup"]),
        ("4000000000003220", ["pm_card_threeDSecure2Required", "tok_threeDSecure2Required"]),
    ],
)
def test_test_ids_behave_like_their_numbers(number: str, test_ids: list[str]) -> None:
    by_number = card(number)
    for test_id in test_ids:
        by_token = token(test_id)
        assert by_token.behavior == by_number.behavior, test_id
        assert by_token.fingerprint == by_number.fingerprint, test_id
        assert by_token.last4 == number[-4:]


def test_decline_after_attaching_succeeds_on_attach_but_declines_charges() -> None:
    attach_ok = token("pm_card_chargeCustomerFail").behavior
    assert not attach_ok.declines_on_attach
    assert attach_ok.decline is not None
    assert (attach_ok.decline.code, attach_ok.decline.decline_code) == (
        "card_declined",
        "generic_decline",
    )
    always = token("pm_card_chargeDeclined").behavior
    assert always.declines_on_attach
    assert always.decline == attach_ok.decline


@pytest.mark.parametrize(
    "test_id",
    [
        "pm_card_radarBlock",
        "tok_radarBlock",
        "pm_card_chargeDeclinedFraudulent",
        "tok_chargeDeclinedFraudulent",
        "pm_card_riskLevelHighest",
        "tok_riskLevelHighest",
    ],
)
def test_highest_risk_cards_are_blocked_before_the_network(test_id: str) -> None:
    behavior = token(test_id).behavior
    assert behavior.decline == cards.Decline(
        code="card_declined",
        decline_code="fraudulent",
        message="Your card was declined.",
        outcome_type="blocked",
        network_status="not_sent_to_network",
        reason="highest_risk_level",
        risk_level="highest",
    )
    assert behavior.risk_level == "highest"
    assert behavior.risk_score >= 75


def test_elevated_risk_card_succeeds_with_elevated_risk() -> None:
    behavior = token("pm_card_riskLevelElevated").behavior
    assert behavior.decline is None
    assert behavior.risk_level == "elevated"
    assert 65 <= behavior.risk_score < 75
    assert card("4000000000009235").behavior == behavior
    assert cards.TestBehavior().risk_level == "normal"
    assert cards.TestBehavior().risk_score < 65


@pytest.mark.parametrize(
    ("test_id", "requires_authentication", "decline_code"),
    [
        ("pm_card_authenticationRequired", True, None),
        ("pm_card_authenticationRequiredOnSetup", True, None),
        ("pm_card_authenticationRequiredSetupForOffSession", True, None),
        (
            "pm_card_authenticationRequiredChargeDeclinedInsufficientFunds",
            True,
            "insufficient_funds",
        ),
        ("pm_card_threeDSecure2Required", True, None),
        ("tok_threeDSecure2Required", True, None),
        ("pm_card_threeDSecureRequired", True, None),
        ("pm_card_threeDSecureRequiredChargeDeclined", True, "generic_decline"),
        ("pm_card_threeDSecureOptional", False, None),
        ("pm_card_amex_threeDSecureNotSupported", False, None),
        ("pm_card_visa", False, None),
    ],
)
def test_authentication_cards(
    test_id: str, requires_authentication: bool, decline_code: str | None
) -> None:
    behavior = token(test_id).behavior
    assert behavior.requires_authentication is requires_authentication
    assert (behavior.decline.decline_code if behavior.decline else None) == decline_code
    assert not behavior.declines_on_attach


def test_authentication_cards_have_no_tokens() -> None:
    # Stripe offers the "authentication and setup" cards as PaymentMethods only.
    for test_id in ["tok_authenticationRequired", "tok_authenticationRequiredOnSetup"]:
        assert cards.card_from_test_token(test_id, today=TODAY, fingerprint_key=KEY) is None


@pytest.mark.parametrize(
    ("test_id", "reason", "inquiry"),
    [
        ("pm_card_createDispute", "fraudulent", False),
        ("tok_createDispute", "fraudulent", False),
        ("pm_card_createDisputeProductNotReceived", "product_not_received", False),
        ("tok_createDisputeProductNotReceived", "product_not_received", False),
        ("pm_card_createDisputeInquiry", "fraudulent", True),
        ("tok_createDisputeInquiry", "fraudulent", True),
    ],
)
def test_dispute_cards_succeed_then_dispute(test_id: str, reason: str, inquiry: bool) -> None:
    behavior = token(test_id).behavior
    assert behavior.decline is None
    assert behavior.dispute_reason == reason
    assert behavior.dispute_is_inquiry is inquiry


@pytest.mark.parametrize("test_id", ["pm_card_bypassPending", "tok_bypassPending"])
def test_bypass_pending_cards_fund_the_available_balance(test_id: str) -> None:
    result = token(test_id)
    assert result.behavior == cards.TestBehavior(available_immediately=True)
    assert result.country == "US"
    international = token(test_id + "International")
    assert international.behavior.available_immediately
    assert international.country == "IE"


@pytest.mark.parametrize(
    ("test_id", "brand", "last4", "funding"),
    [
        ("pm_card_visa", "visa", "4242", "credit"),
        ("tok_visa", "visa", "4242", "credit"),
        ("pm_card_visa_debit", "visa", "5556", "debit"),
        ("tok_visa_debit", "visa", "5556", "debit"),
        ("pm_card_mastercard", "mastercard", "4444", "credit"),
        ("tok_mastercard", "mastercard", "4444", "credit"),
        ("pm_card_mastercard_debit", "mastercard", "8210", "debit"),
        ("pm_card_mastercard_prepaid", "mastercard", "5100", "prepaid"),
        ("pm_card_amex", "amex", "0005", "credit"),
        ("tok_amex", "amex", "0005", "credit"),
        ("pm_card_discover", "discover", "1117", "credit"),
        ("tok_discover", "discover", "1117", "credit"),
        ("pm_card_diners", "diners", "0004", "credit"),
        ("pm_card_jcb", "jcb", "0505", "credit"),
        ("pm_card_unionpay", "unionpay", "0005", "credit"),
        ("pm_card_us", "visa", "4242", "credit"),
    ],
)
def test_brand_test_ids(test_id: str, brand: str, last4: str, funding: str) -> None:
    result = token(test_id)
    assert (result.brand, result.last4, result.funding, result.country) == (
        brand,
        last4,
        funding,
        "US",
    )
    assert result.behavior == cards.TestBehavior()
    assert result.cvc_check == "pass"


def test_test_ids_expire_a_year_from_today() -> None:
    result = token("pm_card_visa")
    assert (result.exp_month, result.exp_year) == (TODAY.month, TODAY.year + 1)


@pytest.mark.parametrize(
    "test_id", ["pm_card_", "tok_", "pm_card_Visa", "pm_card_nope", "pm_123", "card_visa", ""]
)
def test_unknown_ids_are_not_test_cards(test_id: str) -> None:
    assert cards.card_from_test_token(test_id, today=TODAY, fingerprint_key=KEY) is None


def test_every_test_id_resolves_to_a_valid_test_card() -> None:
    for test_id, number in cards._TEST_TOKENS.items():
        assert test_id.startswith(("pm_card_", "tok_")), test_id
        assert number in cards._TEST_CARDS, test_id
        assert token(test_id).brand == cards.brand_for(number), test_id


# --- fingerprints and secrecy ---------------------------------------------------------------


def test_fingerprint_is_stable_per_key_and_differs_across_keys_and_numbers() -> None:
    first = cards.card_fingerprint("4242424242424242", KEY)
    assert first == cards.card_fingerprint("4242424242424242", KEY)
    assert len(first) == cards.FINGERPRINT_CHARS == 16
    assert first.isascii() and first.isalnum()
    assert first != cards.card_fingerprint("4242424242424242", OTHER_KEY)
    assert first != cards.card_fingerprint("4000056655665556", KEY)


def test_fingerprint_ignores_expiry_and_cvc() -> None:
    one = card("4242424242424242", exp_month="1", exp_year="2031", cvc=None)
    other = card("4242424242424242", exp_month="12", exp_year="2040", cvc="999")
    assert one.fingerprint == other.fingerprint == token("pm_card_visa").fingerprint
    assert token("pm_card_visa", OTHER_KEY).fingerprint != one.fingerprint


@pytest.mark.parametrize(
    "number",
    ["4000000000000002", "4000000000000341", "4000000000000259", "4000002760003184"],
)
def test_stored_cards_get_their_behavior_back_from_the_fingerprint(number: str) -> None:
    stored = card(number)
    assert cards.behavior_for_fingerprint(stored.fingerprint, KEY) == stored.behavior
    # Under another account's key the fingerprint matches no test card: plain success.
    assert cards.behavior_for_fingerprint(stored.fingerprint, OTHER_KEY) == cards.TestBehavior()


def test_behavior_for_fingerprint_of_ordinary_and_cvc_dependent_cards() -> None:
    ordinary = card("4111111111111111")
    assert cards.behavior_for_fingerprint(ordinary.fingerprint, KEY) == cards.TestBehavior()
    cvc_card = card("4000000000000127", cvc=None)
    assert cards.behavior_for_fingerprint(cvc_card.fingerprint, KEY, cvc_given=False) == (
        cvc_card.behavior
    )
    declined = cards.behavior_for_fingerprint(cvc_card.fingerprint, KEY)
    assert declined.decline is not None
    assert declined.decline.code == "incorrect_cvc"


def test_fingerprint_needs_a_key() -> None:
    with pytest.raises(ValueError, match="key"):
        cards.card_fingerprint("4242424242424242", b"")


def test_no_card_carries_its_number() -> None:
    for number in cards._TEST_CARDS:
        result = card(number, cvc=None)
        assert number not in repr(result), number
        assert number not in str(vars(result)), number
        assert not hasattr(result, "number")


# --- Luhn property --------------------------------------------------------------------------


@settings(database=None)
@given(st.text(alphabet=string.digits, min_size=14, max_size=14))
def test_luhn_valid_visa_numbers_pass(middle: str) -> None:
    number = with_check_digit("4" + middle)
    assert len(number) == 16
    assert cards.luhn_valid(number)
    assert card(number).brand == "visa"


@settings(database=None)
@given(
    st.text(alphabet=string.digits, min_size=14, max_size=14),
    st.integers(min_value=0, max_value=15),
    st.integers(min_value=1, max_value=9),
)
def test_changing_one_digit_fails_validation(middle: str, position: int, shift: int) -> None:
    number = with_check_digit("4" + middle)
    changed_digit = str((int(number[position]) + shift) % 10)
    changed = number[:position] + changed_digit + number[position + 1 :]
    assert not cards.luhn_valid(changed)
    with pytest.raises(CardError) as raised:
        card(changed)
    assert raised.value.code == "incorrect_number"


@pytest.mark.parametrize(
    ("test_id", "off_session"),
    [
        ("pm_card_authenticationRequiredOnSetup", cards.OFF_SESSION_UNLESS_SET_UP),
        ("pm_card_authenticationRequired", cards.OFF_SESSION_ALWAYS),
        ("pm_card_authenticationRequiredSetupForOffSession", cards.OFF_SESSION_NEVER),
        (
            "pm_card_authenticationRequiredChargeDeclinedInsufficientFunds",
            cards.OFF_SESSION_UNLESS_SET_UP,
        ),
        ("pm_card_threeDSecure2Required", cards.OFF_SESSION_ALWAYS),
    ],
)
def test_authentication_cards_off_session(test_id: str, off_session: str) -> None:
    """Stripe's testing page: when an off-session payment still needs 3-D Secure."""
    assert token(test_id).behavior.off_session_authentication == off_session
