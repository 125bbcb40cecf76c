"""PaymentIntents through the official SDK against a live server, on SQLite and PostgreSQL:
confirmation, declines, manual capture, cancellation, zero-decimal currencies, limits,
updates, lists, and the shape of what comes back. 3-D Secure and publishable keys are in
`test_payment_intent_authentication.py`.

Every expected fee is computed here from Stripe's published US pricing (2.9% rounded half up,
plus 30 cents), never read back from Kassa. Every test ends with `kassa ledger verify`."""

from __future__ import annotations

import typing
import uuid
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
import stripe
from stripe import StripeObject

from kassa import observers
from kassa.clock import SystemClock
from kassa.config import Settings
from kassa.errors import CardDeclined
from kassa.services import hooks, payment_intents
from kassa.services.context import Context
from kassa.services.payment_intents import ConfirmPaymentIntent
from kassa.services.setup import load_payment_config
from kassa.store import Store
from tests.direct_store import with_store
from tests.harness import Account, KassaServer
from tests.settlement import settle_in
from tests.test_async_capture import posted

pytestmark = pytest.mark.usefixtures("ledger_verified")

USD_PERCENT = Decimal("0.029")
USD_FIXED_CENTS = 30


def usd_card_fee(amount: int) -> int:
    """Stripe's US card pricing: 2.9% (half a cent rounds up) plus 30 cents."""
    variable = (Decimal(amount) * USD_PERCENT).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(variable) + USD_FIXED_CENTS


def test_fee_rule_rounds_half_up() -> None:
    # 2500 * 2.9% = 72.5: half up gives 73 (banker's rounding would give 72).
    assert usd_card_fee(2500) == 103
    assert usd_card_fee(1000) == 59


def balances(client: stripe.StripeClient, currency: str = "usd") -> tuple[int, int]:
    """(available, pending) for one currency."""
    balance = client.v1.balance.retrieve()
    available = sum(f.amount for f in balance.available if f.currency == currency)
    pending = sum(f.amount for f in balance.pending if f.currency == currency)
    return available, pending


def charges_of(client: stripe.StripeClient, intent_id: str) -> list[stripe.Charge]:
    return list(client.v1.charges.list(params={"payment_intent": intent_id}).data)


def pay(
    client: stripe.StripeClient, amount: int = 2500, currency: str = "usd", **extra: Any
) -> stripe.PaymentIntent:
    params: Any = {
        "amount": amount,
        "currency": currency,
        "payment_method": "pm_card_visa",
        # Posted in the request: these tests read the charge's balance transaction at once
        # (the default, asynchronous capture: tests/test_async_capture.py).
        "capture_method": "automatic",
        "confirm": True,
        "allowed_payment_method_types": ["card"],
        **extra,
    }
    return client.v1.payment_intents.create(params=params)


def authorize(client: stripe.StripeClient, amount: int = 2000) -> stripe.PaymentIntent:
    return pay(client, amount, capture_method="manual")


# --- Success --------------------------------------------------------------------------------


def test_confirmed_create_charges_the_card_and_posts_the_fee(client: stripe.StripeClient) -> None:
    amount = 2500
    intent = client.v1.payment_intents.create(
        params={
            "amount": amount,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "allowed_payment_method_types": ["card"],
            "description": "order 17",
        },
        options={"idempotency_key": f"pay-{uuid.uuid4()}"},
    )
    assert intent.id.startswith("pi_")
    assert intent.object == "payment_intent"
    assert intent.status == "succeeded"
    assert intent.amount == amount
    assert intent.amount_received == amount
    assert intent.amount_capturable == 0
    assert intent.currency == "usd"
    assert intent.last_payment_error is None
    assert intent.next_action is None
    assert intent.client_secret is not None
    assert intent.client_secret.startswith(f"{intent.id}_secret_")
    assert isinstance(intent.payment_method, str) and intent.payment_method.startswith("pm_")
    assert isinstance(intent.latest_charge, str)

    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert charge.payment_intent == intent.id
    assert charge.status == "succeeded"
    assert charge.captured is True
    assert charge.paid is True
    assert charge.amount == amount
    assert charge.amount_captured == amount
    assert charge.amount_refunded == 0
    assert charge.refunded is False
    assert charge.description == "order 17"
    assert charge.outcome is not None and charge.outcome.type == "authorized"
    assert charge.failure_code is None
    details = charge.payment_method_details
    assert details is not None and details.card is not None
    assert details.card.brand == "visa"
    assert details.card.last4 == "4242"
    assert details.card.three_d_secure is None
    # Captured asynchronously (the default): the posting, and its fee, come a moment later.
    charge = posted(client, charge.id)
    assert isinstance(charge.balance_transaction, str)

    fee = usd_card_fee(amount)
    transaction = client.v1.balance_transactions.retrieve(charge.balance_transaction)
    assert transaction.type == "charge"
    assert transaction.source == charge.id
    assert transaction.currency == "usd"
    assert (transaction.amount, transaction.fee, transaction.net) == (amount, fee, amount - fee)
    assert [(d.type, d.amount) for d in transaction.fee_details] == [("stripe_fee", fee)]
    assert balances(client) == (0, amount - fee)

    expanded = client.v1.payment_intents.retrieve(
        intent.id, params={"expand": ["latest_charge.balance_transaction"]}
    )
    assert isinstance(expanded.latest_charge, stripe.Charge)
    assert expanded.latest_charge.id == charge.id
    assert isinstance(expanded.latest_charge.balance_transaction, stripe.BalanceTransaction)
    assert expanded.latest_charge.balance_transaction.net == amount - fee


def test_replayed_create_returns_the_same_intent_and_charges_once(
    client: stripe.StripeClient,
) -> None:
    key = f"pay-{uuid.uuid4()}"
    params: Any = {
        "amount": 1000,
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "confirm": True,
        "allowed_payment_method_types": ["card"],
    }
    first = client.v1.payment_intents.create(params=params, options={"idempotency_key": key})
    again = client.v1.payment_intents.create(params=params, options={"idempotency_key": key})
    assert again.to_dict() == first.to_dict()
    assert again.last_response is not None
    assert again.last_response.headers["idempotent-replayed"] == "true"
    assert [c.id for c in charges_of(client, first.id)] == [first.latest_charge]
    assert len(client.v1.payment_intents.list().data) == 1
    assert balances(client) == (0, 1000 - usd_card_fee(1000))


# --- Two-step confirmation ------------------------------------------------------------------


def test_create_update_confirm(client: stripe.StripeClient) -> None:
    created = client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd", "allowed_payment_method_types": ["card"]}
    )
    assert created.status == "requires_payment_method"
    assert created.payment_method is None
    assert created.latest_charge is None
    assert created.amount_received == 0

    updated = client.v1.payment_intents.update(
        created.id, params={"payment_method": "pm_card_mastercard"}
    )
    assert updated.status == "requires_confirmation"
    assert isinstance(updated.payment_method, str) and updated.payment_method.startswith("pm_")
    assert charges_of(client, created.id) == []
    assert balances(client) == (0, 0)

    confirmed = client.v1.payment_intents.confirm(created.id)
    assert confirmed.status == "succeeded"
    assert confirmed.amount_received == 1000
    assert confirmed.payment_method == updated.payment_method
    charge = client.v1.charges.retrieve(str(confirmed.latest_charge))
    assert charge.payment_method_details is not None
    assert charge.payment_method_details.card is not None
    assert charge.payment_method_details.card.brand == "mastercard"
    assert charge.payment_method_details.card.last4 == "4444"
    assert balances(client) == (0, 1000 - usd_card_fee(1000))


def test_confirming_a_succeeded_intent_is_an_unexpected_state(
    client: stripe.StripeClient,
) -> None:
    intent = pay(client, 1000)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})
    assert raised.value.http_status == 400
    assert raised.value.code == "payment_intent_unexpected_state"
    assert str(raised.value.user_message) == (
        "You cannot confirm this PaymentIntent because it has a status of succeeded. Only a "
        "PaymentIntent with one of the following statuses may be confirmed: "
        "requires_payment_method, requires_confirmation."
    )
    # As Stripe's, the error carries the intent: an integration reads its status from it.
    assert raised.value.error is not None and raised.value.error.payment_intent is not None
    assert raised.value.error.payment_intent.id == intent.id
    assert raised.value.error.payment_intent.status == "succeeded"
    assert len(charges_of(client, intent.id)) == 1
    assert balances(client) == (0, 1000 - usd_card_fee(1000))


def test_confirming_without_a_payment_method_is_refused(client: stripe.StripeClient) -> None:
    intent = client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd", "allowed_payment_method_types": ["card"]}
    )
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.confirm(intent.id)
    assert raised.value.http_status == 400
    assert raised.value.code == "payment_intent_unexpected_state"
    assert "payment method" in str(raised.value.user_message)
    after = client.v1.payment_intents.retrieve(intent.id)
    assert after.status == "requires_payment_method"
    assert after.latest_charge is None
    assert charges_of(client, intent.id) == []


# --- Declines -------------------------------------------------------------------------------

RAW_CARD = {"exp_month": "12", "exp_year": "2034", "cvc": "123"}


def _card_data(number: str) -> dict[str, Any]:
    return {"type": "card", "card": {"number": number, **RAW_CARD}}


DECLINES = [
    # (how the card is given, error code, decline code, charge outcome type), as
    # docs.stripe.com/testing lists them.
    ("pm_card_chargeDeclined", "card_declined", "generic_decline", "issuer_declined"),
    (
        "pm_card_visa_chargeDeclinedInsufficientFunds",
        "card_declined",
        "insufficient_funds",
        "issuer_declined",
    ),
    # Stripe's own error codes, not an issuer's decline code: no decline_code (recorded
    # Stripe responses), and the first two name the card field at fault.
    ("pm_card_chargeDeclinedExpiredCard", "expired_card", None, "issuer_declined"),
    ("pm_card_chargeDeclinedIncorrectCvc", "incorrect_cvc", None, "issuer_declined"),
    ("pm_card_chargeDeclinedFraudulent", "card_declined", "fraudulent", "blocked"),
    ("pm_card_chargeDeclinedProcessingError", "processing_error", None, "issuer_declined"),
    ("pm_card_visa_chargeDeclinedLostCard", "card_declined", "lost_card", "issuer_declined"),
    ("pm_card_visa_chargeDeclinedStolenCard", "card_declined", "stolen_card", "issuer_declined"),
    (
        "pm_card_visa_chargeDeclinedVelocityLimitExceeded",
        "card_declined",
        "card_velocity_exceeded",
        "issuer_declined",
    ),
    ("pm_card_chargeCustomerFail", "card_declined", "generic_decline", "issuer_declined"),
    ("4000000000000002", "card_declined", "generic_decline", "issuer_declined"),
    ("4000000000009995", "card_declined", "insufficient_funds", "issuer_declined"),
    ("4000000000000069", "expired_card", None, "issuer_declined"),
]
FIELD_AT_FAULT = {"expired_card": "exp_month", "incorrect_cvc": "cvc"}
"""The `param` of a decline Stripe blames on one field of the card (recorded responses)."""


def _payment_params(card: str) -> dict[str, Any]:
    if card.startswith("pm_"):
        return {"payment_method": card}
    return {"payment_method_data": _card_data(card)}


@pytest.mark.parametrize(("card", "code", "decline_code", "outcome_type"), DECLINES)
def test_declined_card(
    client: stripe.StripeClient, card: str, code: str, decline_code: str | None, outcome_type: str
) -> None:
    params: Any = {
        "amount": 1500,
        "currency": "usd",
        "confirm": True,
        "allowed_payment_method_types": ["card"],
        **_payment_params(card),
    }
    with pytest.raises(stripe.CardError) as raised:
        client.v1.payment_intents.create(params=params)
    error = raised.value
    assert error.http_status == 402
    assert error.code == code
    assert error.error is not None
    assert error.error.type == "card_error"
    assert error.error.decline_code == decline_code
    assert error.error.param == FIELD_AT_FAULT.get(code)
    assert error.error.message
    failed_intent = error.error.payment_intent
    assert failed_intent is not None
    assert failed_intent.status == "requires_payment_method"
    assert failed_intent.payment_method is None
    assert failed_intent.amount_received == 0
    last_error = failed_intent.last_payment_error
    assert last_error is not None
    recorded = last_error.to_dict()
    # Stripe's error object has `decline_code` and `param` only when it has a value.
    assert (recorded["type"], recorded["code"], recorded.get("decline_code")) == (
        "card_error",
        code,
        decline_code,
    )
    assert ("decline_code" in recorded) is (decline_code is not None)
    assert recorded.get("param") == FIELD_AT_FAULT.get(code)
    assert last_error.charge == failed_intent.latest_charge == error.error.charge
    assert last_error.payment_method is not None
    assert last_error.payment_method.id.startswith("pm_")

    stored = client.v1.payment_intents.retrieve(failed_intent.id)
    assert stored.status == "requires_payment_method"
    assert stored.last_payment_error is not None
    assert stored.last_payment_error.code == code
    [charge] = charges_of(client, failed_intent.id)
    assert charge.id == failed_intent.latest_charge
    assert charge.status == "failed"
    assert charge.paid is False
    assert charge.captured is False
    assert charge.amount_captured == 0
    assert charge.failure_code == code
    assert charge.failure_message
    assert charge.outcome is not None and charge.outcome.type == outcome_type
    assert charge.balance_transaction is None
    assert client.v1.balance_transactions.list().data == []
    assert balances(client) == (0, 0)

    retried = client.v1.payment_intents.confirm(
        failed_intent.id, params={"payment_method": "pm_card_visa"}
    )
    assert retried.status == "succeeded"
    assert retried.last_payment_error is None
    assert retried.amount_received == 1500
    assert retried.latest_charge != charge.id
    assert {c.status for c in charges_of(client, failed_intent.id)} == {"failed", "succeeded"}
    assert balances(client) == (0, 1500 - usd_card_fee(1500))


@pytest.mark.parametrize(
    ("params", "doc_url"),
    [
        (
            {"payment_method": "pm_card_chargeDeclined"},
            "https://stripe.com/docs/error-codes/card-declined",
        ),
        (
            {"payment_method": "pm_card_chargeDeclinedExpiredCard"},
            "https://stripe.com/docs/error-codes/expired-card",
        ),
        (
            {"payment_method": "pm_card_authenticationRequired", "off_session": True},
            "https://stripe.com/docs/error-codes/authentication-required",
        ),
    ],
)
def test_a_declines_doc_url_names_stripes_page_for_its_code(
    client: stripe.StripeClient, params: dict[str, Any], doc_url: str
) -> None:
    """Stripe's error pages hyphenate the code: the error and `last_payment_error` agree."""
    given: Any = {
        "amount": 1500,
        "currency": "usd",
        "confirm": True,
        "allowed_payment_method_types": ["card"],
        **params,
    }
    with pytest.raises(stripe.CardError) as raised:
        client.v1.payment_intents.create(params=given)
    error = raised.value.error
    assert error is not None and error.doc_url == doc_url
    assert error.payment_intent is not None
    stored = client.v1.payment_intents.retrieve(error.payment_intent.id)
    assert stored.last_payment_error is not None
    assert stored.last_payment_error.doc_url == doc_url


def test_replayed_decline_returns_the_same_402_and_records_one_failed_charge(
    client: stripe.StripeClient,
) -> None:
    key = f"decline-{uuid.uuid4()}"
    params: Any = {
        "amount": 1500,
        "currency": "usd",
        "confirm": True,
        "allowed_payment_method_types": ["card"],
        "payment_method": "pm_card_visa_chargeDeclinedInsufficientFunds",
    }
    with pytest.raises(stripe.CardError) as first:
        client.v1.payment_intents.create(params=params, options={"idempotency_key": key})
    with pytest.raises(stripe.CardError) as second:
        client.v1.payment_intents.create(params=params, options={"idempotency_key": key})
    assert second.value.http_status == 402
    assert second.value.http_body == first.value.http_body
    assert second.value.headers is not None
    assert second.value.headers["idempotent-replayed"] == "true"
    [intent] = client.v1.payment_intents.list().data
    assert first.value.error is not None and first.value.error.payment_intent is not None
    assert intent.id == first.value.error.payment_intent.id
    [charge] = charges_of(client, intent.id)
    assert charge.status == "failed"
    assert balances(client) == (0, 0)


# --- Manual capture -------------------------------------------------------------------------


def test_manual_capture_holds_then_captures_in_full(client: stripe.StripeClient) -> None:
    intent = authorize(client, 2000)
    assert intent.status == "requires_capture"
    assert intent.capture_method == "manual"
    assert intent.amount_capturable == 2000
    assert intent.amount_received == 0
    held = client.v1.charges.retrieve(str(intent.latest_charge))
    assert held.captured is False
    assert held.paid is True
    assert held.status == "succeeded"
    assert held.amount_captured == 0
    assert held.balance_transaction is None
    assert balances(client) == (0, 0)

    captured = client.v1.payment_intents.capture(intent.id)
    assert captured.status == "succeeded"
    assert captured.amount_capturable == 0
    assert captured.amount_received == 2000
    assert captured.latest_charge == held.id
    charge = client.v1.charges.retrieve(held.id)
    assert charge.captured is True
    assert charge.amount_captured == 2000
    transaction = client.v1.balance_transactions.retrieve(str(charge.balance_transaction))
    fee = usd_card_fee(2000)
    assert (transaction.amount, transaction.fee, transaction.net) == (2000, fee, 2000 - fee)
    assert balances(client) == (0, 2000 - fee)


def test_partial_capture_fees_only_the_captured_amount(client: stripe.StripeClient) -> None:
    intent = authorize(client, 2000)
    captured = client.v1.payment_intents.capture(intent.id, params={"amount_to_capture": 1500})
    assert captured.status == "succeeded"
    assert captured.amount == 2000
    assert captured.amount_received == 1500
    assert captured.amount_capturable == 0
    charge = client.v1.charges.retrieve(str(captured.latest_charge))
    assert charge.captured is True
    assert charge.amount == 2000
    assert charge.amount_captured == 1500
    # Since API version 2025-03-31.basil the released remainder is no refund.
    assert (charge.refunded, charge.amount_refunded) == (False, 0)
    fee = usd_card_fee(1500)  # 43.5 rounds up to 44, plus 30
    assert fee == 74
    transaction = client.v1.balance_transactions.retrieve(str(charge.balance_transaction))
    assert (transaction.amount, transaction.fee, transaction.net) == (1500, fee, 1500 - fee)
    assert len(client.v1.balance_transactions.list().data) == 1
    assert balances(client) == (0, 1500 - fee)


def test_capturing_more_than_capturable_names_amount_to_capture(
    client: stripe.StripeClient,
) -> None:
    intent = authorize(client, 2000)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.capture(intent.id, params={"amount_to_capture": 2001})
    assert raised.value.http_status == 400
    assert raised.value.param == "amount_to_capture"
    after = client.v1.payment_intents.retrieve(intent.id)
    assert after.status == "requires_capture"
    assert after.amount_capturable == 2000
    assert balances(client) == (0, 0)


def test_capturing_twice_is_refused(client: stripe.StripeClient) -> None:
    intent = authorize(client, 2000)
    client.v1.payment_intents.capture(intent.id)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.capture(intent.id)
    assert raised.value.http_status == 400
    assert raised.value.code == "payment_intent_unexpected_state"
    assert len(client.v1.balance_transactions.list().data) == 1
    assert balances(client) == (0, 2000 - usd_card_fee(2000))


def test_capturing_the_charge_captures_the_intent(client: stripe.StripeClient) -> None:
    intent = authorize(client, 2000)
    charge = client.v1.charges.capture(str(intent.latest_charge))
    assert charge.captured is True
    assert charge.amount_captured == 2000
    assert isinstance(charge.balance_transaction, str)
    after = client.v1.payment_intents.retrieve(intent.id)
    assert after.status == "succeeded"
    assert after.amount_received == 2000
    assert after.amount_capturable == 0
    assert balances(client) == (0, 2000 - usd_card_fee(2000))
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.charges.capture(charge.id)


def test_capturing_part_of_the_charge_captures_part_of_the_intent(
    client: stripe.StripeClient,
) -> None:
    intent = authorize(client, 2000)
    charge = client.v1.charges.capture(str(intent.latest_charge), params={"amount": 1200})
    assert charge.amount_captured == 1200
    after = client.v1.payment_intents.retrieve(intent.id)
    assert (after.status, after.amount_received) == ("succeeded", 1200)
    fee = usd_card_fee(1200)  # 34.8 rounds to 35, plus 30
    transaction = client.v1.balance_transactions.retrieve(str(charge.balance_transaction))
    assert (transaction.amount, transaction.fee, transaction.net) == (1200, fee, 1200 - fee)
    assert balances(client) == (0, 1200 - fee)


# --- Cancel ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("with_payment_method", "reason", "status_before"),
    [
        (False, "abandoned", "requires_payment_method"),
        (True, "requested_by_customer", "requires_confirmation"),
    ],
)
def test_cancel_an_unconfirmed_intent(
    client: stripe.StripeClient, with_payment_method: bool, reason: str, status_before: str
) -> None:
    params: Any = {"amount": 1000, "currency": "usd"}
    if with_payment_method:
        params["payment_method"] = "pm_card_visa"
    intent = client.v1.payment_intents.create(params=params)
    assert intent.status == status_before
    cancel_params: Any = {"cancellation_reason": reason}
    canceled = client.v1.payment_intents.cancel(intent.id, params=cancel_params)
    assert canceled.status == "canceled"
    assert canceled.cancellation_reason == reason
    assert canceled.canceled_at is not None and canceled.canceled_at >= intent.created
    assert charges_of(client, intent.id) == []
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})
    assert raised.value.code == "payment_intent_unexpected_state"
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.payment_intents.cancel(intent.id)
    assert again.value.code == "payment_intent_unexpected_state"
    assert balances(client) == (0, 0)


def test_cancel_an_authorization_moves_no_money(client: stripe.StripeClient) -> None:
    intent = authorize(client, 2000)
    canceled = client.v1.payment_intents.cancel(
        intent.id, params={"cancellation_reason": "duplicate"}
    )
    assert canceled.status == "canceled"
    assert canceled.cancellation_reason == "duplicate"
    assert canceled.amount_capturable == 0
    assert canceled.amount_received == 0
    charge = client.v1.charges.retrieve(str(intent.latest_charge))
    assert charge.captured is False
    assert charge.amount_captured == 0
    assert charge.balance_transaction is None
    assert client.v1.balance_transactions.list().data == []
    assert balances(client) == (0, 0)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.capture(intent.id)
    assert raised.value.code == "payment_intent_unexpected_state"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.charges.capture(charge.id)
    assert balances(client) == (0, 0)


def test_cancel_an_authorization_does_not_mark_the_charge_refunded(
    client: stripe.StripeClient,
) -> None:
    intent = authorize(client, 2000)
    client.v1.payment_intents.cancel(intent.id)
    charge = client.v1.charges.retrieve(str(intent.latest_charge))
    assert (charge.refunded, charge.amount_refunded, charge.amount_captured) == (False, 0, 0)


def test_cancel_a_succeeded_intent_is_an_unexpected_state(client: stripe.StripeClient) -> None:
    intent = pay(client, 1000)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.cancel(intent.id)
    assert raised.value.http_status == 400
    assert raised.value.code == "payment_intent_unexpected_state"
    assert client.v1.payment_intents.retrieve(intent.id).status == "succeeded"
    assert balances(client) == (0, 1000 - usd_card_fee(1000))


# --- Zero-decimal currencies ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "amount", "fee"),
    [
        # Stripe's Japanese pricing has no fixed fee; 2.9% of ¥500 is ¥14.5, rounded up.
        ("jpy", 500, 15),
        # Kassa's default for currencies without a local fixed fee: 2.9% of ₩1,500 is ₩43.5.
        ("krw", 1500, 44),
    ],
)
def test_zero_decimal_currency_amounts_are_whole_units(
    client: stripe.StripeClient, account: Account, currency: str, amount: int, fee: int
) -> None:
    settle_in(client, account.id, currency)  # kept in its currency: its own fee applies
    intent = pay(client, amount, currency)
    assert intent.status == "succeeded"
    assert intent.currency == currency
    assert intent.amount_received == amount
    charge = client.v1.charges.retrieve(str(intent.latest_charge))
    assert (charge.amount, charge.amount_captured, charge.currency) == (amount, amount, currency)
    transaction = client.v1.balance_transactions.retrieve(str(charge.balance_transaction))
    assert transaction.currency == currency
    assert (transaction.amount, transaction.fee, transaction.net) == (amount, fee, amount - fee)
    assert balances(client, currency) == (0, amount - fee)
    assert balances(client, "usd") == (0, 0)


# --- Limits and required parameters ---------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        ({"amount": 49, "currency": "usd"}, "amount", "amount_too_small"),
        ({"amount": 100_000_000, "currency": "usd"}, "amount", "amount_too_large"),
        ({"amount": 49, "currency": "jpy"}, "amount", "amount_too_small"),
        ({"amount": -100, "currency": "usd"}, "amount", None),
        ({"amount": 1000, "currency": "xyz"}, "currency", None),
        ({"currency": "usd"}, "amount", "parameter_missing"),
        ({"amount": 1000}, "currency", "parameter_missing"),
    ],
)
def test_invalid_amount_or_currency_is_400_naming_it(
    client: stripe.StripeClient, params: dict[str, Any], param: str, code: str | None
) -> None:
    full: Any = {
        **params,
        "payment_method": "pm_card_visa",
        "confirm": True,
        "allowed_payment_method_types": ["card"],
    }
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.create(params=full)
    assert raised.value.http_status == 400
    assert raised.value.param == param
    if code is not None:
        assert raised.value.code == code
    assert client.v1.payment_intents.list().data == []
    assert client.v1.charges.list().data == []


@pytest.mark.parametrize(
    ("automatic", "extra", "param"),
    [
        ({"allow_redirects": "never"}, {}, "automatic_payment_methods[enabled]"),
        (
            {"enabled": True},
            {"allowed_payment_method_types": ["card"]},
            "allowed_payment_method_types",
        ),
    ],
)
def test_automatic_payment_methods_need_enabled_and_no_types(
    client: stripe.StripeClient, automatic: Any, extra: Any, param: str
) -> None:
    """Stripe: `automatic_payment_methods[enabled]` is required in the hash, and
    the types named (`allowed_payment_method_types`) cannot go with automatic payment
    methods."""
    params: Any = {"amount": 1000, "currency": "usd", "automatic_payment_methods": automatic}
    params.update(extra)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.create(params=params)
    assert (raised.value.http_status, raised.value.param) == (400, param)
    assert client.v1.payment_intents.list().data == []


@pytest.mark.parametrize(
    ("choice", "value"), [("off_session", True), ("return_url", "https://example.com/back")]
)
def test_confirmation_choices_need_confirm_true(
    client: stripe.StripeClient, choice: str, value: Any
) -> None:
    params: Any = {"amount": 1000, "currency": "usd", choice: value}
    confirms: list[Any] = [{}, {"confirm": False}]
    for confirm in confirms:
        sent: Any = {**params, **confirm}
        with pytest.raises(stripe.InvalidRequestError) as raised:
            client.v1.payment_intents.create(params=sent)
        assert (raised.value.http_status, raised.value.param) == (400, choice)
    assert client.v1.payment_intents.list().data == []


def test_minimum_amount_is_accepted(client: stripe.StripeClient) -> None:
    intent = pay(client, 50)
    assert intent.status == "succeeded"
    transaction = client.v1.balance_transactions.retrieve(
        str(client.v1.charges.retrieve(str(intent.latest_charge)).balance_transaction)
    )
    fee = usd_card_fee(50)  # 1.45 rounds to 1, plus 30
    assert (transaction.amount, transaction.fee, transaction.net) == (50, fee, 50 - fee)
    assert (
        client.v1.payment_intents.create(params={"amount": 99_999_999, "currency": "usd"}).amount
        == 99_999_999
    )


def test_update_cannot_set_an_amount_below_the_minimum(client: stripe.StripeClient) -> None:
    intent = client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.update(intent.id, params={"amount": 10})
    assert raised.value.param == "amount"
    assert raised.value.code == "amount_too_small"
    assert client.v1.payment_intents.retrieve(intent.id).amount == 1000


# --- Update, list, saving the card ----------------------------------------------------------


def test_update_amount_metadata_description(client: stripe.StripeClient) -> None:
    intent = client.v1.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "usd",
            "metadata": {"order": "1", "gift": "yes"},
            "allowed_payment_method_types": ["card"],
        }
    )
    updated = client.v1.payment_intents.update(
        intent.id,
        params={
            "amount": 1250,
            "description": "two mugs",
            "metadata": {"gift": "", "order": "2"},
        },
    )
    assert updated.status == "requires_payment_method"
    assert updated.amount == 1250
    assert updated.description == "two mugs"
    assert updated.metadata.to_dict() == {"order": "2"}
    assert client.v1.payment_intents.retrieve(intent.id).to_dict() == updated.to_dict()

    confirmed = client.v1.payment_intents.confirm(
        intent.id, params={"payment_method": "pm_card_visa"}
    )
    assert confirmed.amount_received == 1250
    charge = client.v1.charges.retrieve(str(confirmed.latest_charge))
    assert charge.amount == 1250
    assert charge.description == "two mugs"
    assert charge.metadata.to_dict() == {"order": "2"}
    assert balances(client) == (0, 1250 - usd_card_fee(1250))

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.update(intent.id, params={"amount": 2000})
    assert raised.value.code == "payment_intent_unexpected_state"
    assert client.v1.payment_intents.retrieve(intent.id).amount == 1250


def test_list_filters_by_customer_and_pages(client: stripe.StripeClient) -> None:
    ada = client.v1.customers.create(params={"email": "ada@example.com"})
    bob = client.v1.customers.create(params={"email": "bob@example.com"})
    ada_ids = [
        client.v1.payment_intents.create(
            params={"amount": 1000 + i, "currency": "usd", "customer": ada.id}
        ).id
        for i in range(5)
    ]
    bob_id = client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd", "customer": bob.id}
    ).id
    newest_first = ada_ids[::-1]
    page = client.v1.payment_intents.list(params={"customer": ada.id, "limit": 2})
    assert [p.id for p in page.data] == newest_first[:2]
    assert page.has_more is True
    assert page.url == "/v1/payment_intents"
    second = client.v1.payment_intents.list(
        params={"customer": ada.id, "limit": 2, "starting_after": page.data[-1].id}
    )
    assert [p.id for p in second.data] == newest_first[2:4]
    walked = client.v1.payment_intents.list(params={"customer": ada.id, "limit": 2})
    assert [p.id for p in walked.auto_paging_iter()] == newest_first
    assert [p.id for p in client.v1.payment_intents.list(params={"customer": bob.id}).data] == [
        bob_id
    ]
    assert len(client.v1.payment_intents.list(params={"limit": 100}).data) == 6


def test_setup_future_usage_saves_the_card_to_the_customer(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(params={"email": "ada@example.com"})
    intent = pay(client, 1000, customer=customer.id, setup_future_usage="off_session")
    assert intent.status == "succeeded"
    assert intent.customer == customer.id
    assert intent.setup_future_usage == "off_session"
    saved = client.v1.payment_methods.retrieve(str(intent.payment_method))
    assert saved.customer == customer.id
    charge = client.v1.charges.retrieve(str(intent.latest_charge))
    assert charge.customer == customer.id

    again = client.v1.payment_intents.create(
        params={
            "amount": 700,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": saved.id,
            "confirm": True,
            "off_session": True,
        }
    )
    assert again.status == "succeeded"
    assert again.payment_method == saved.id
    expected = 1000 - usd_card_fee(1000) + 700 - usd_card_fee(700)
    assert balances(client) == (0, expected)


def two_customers(client: stripe.StripeClient) -> tuple[str, str]:
    made = [client.v1.customers.create(params={"email": f"{n}@example.com"}) for n in "ab"]
    return made[0].id, made[1].id


def unconfirmed(
    client: stripe.StripeClient, customer_id: str, payment_method: str
) -> stripe.PaymentIntent:
    params: Any = {"amount": 1500, "currency": "usd", "allowed_payment_method_types": ["card"]}
    params.update(customer=customer_id, payment_method=payment_method)
    return client.v1.payment_intents.create(params=params)


def test_a_card_of_another_customer_cannot_follow_a_change_of_customer(
    client: stripe.StripeClient,
) -> None:
    """Stripe: payment methods attached to other customers cannot be used with the
    PaymentIntent, whichever parameter made them another's: nobody pays with another's card."""
    first, second = two_customers(client)
    card = client.v1.payment_methods.attach("pm_card_visa", params={"customer": first})
    intent = unconfirmed(client, first, card.id)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.payment_intents.update(intent.id, params={"customer": second})
    assert (refused.value.http_status, refused.value.param) == (400, "customer")
    kept = client.v1.payment_intents.retrieve(intent.id)
    assert (kept.customer, kept.payment_method) == (first, card.id)
    assert client.v1.charges.list().data == []


def test_a_card_attached_elsewhere_after_it_was_given_is_refused_at_confirm(
    client: stripe.StripeClient,
) -> None:
    first, second = two_customers(client)
    intent = unconfirmed(client, second, "pm_card_visa")
    client.v1.payment_methods.attach(str(intent.payment_method), params={"customer": first})
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.payment_intents.confirm(intent.id)
    assert refused.value.param == "payment_method"
    assert client.v1.payment_intents.retrieve(intent.id).status == "requires_confirmation"
    assert client.v1.charges.list().data == []


def test_without_a_customer_the_card_is_not_saved(client: stripe.StripeClient) -> None:
    intent = pay(client, 1000, setup_future_usage="off_session")
    assert client.v1.payment_methods.retrieve(str(intent.payment_method)).customer is None


# --- Called by another service --------------------------------------------------------------


def confirm_in_process(
    server: KassaServer, account: Account, request: ConfirmPaymentIntent
) -> dict[str, Any]:
    """What a subscription renewal does: confirm with a plain function call, no HTTP."""

    # As in `kassa serve`: a stored charge is counted for the dashboard.
    hooks.install(observers.OBSERVERS)

    async def confirm(store: Store) -> dict[str, Any]:
        # The installation's settings, as a worker loads them (test cards are known by the
        # fingerprint its key gives them).
        payments = await load_payment_config(store, Settings(database_url=server.database_url))
        async with store.write() as tx:
            ctx = Context(account_id=account.id, tx=tx, clock=SystemClock(), payments=payments)
            return await payment_intents.confirm_payment_intent(ctx, request)

    return with_store(server.database_url, confirm)


def test_a_service_confirms_off_session_with_a_plain_call(
    client: stripe.StripeClient, server: KassaServer, account: Account
) -> None:
    customer = client.v1.customers.create(params={"email": "ada@example.com"})
    first = pay(client, 1000, customer=customer.id, setup_future_usage="off_session")
    renewal = client.v1.payment_intents.create(
        params={"amount": 700, "currency": "usd", "customer": customer.id}
    )
    confirmed = confirm_in_process(
        server,
        account,
        ConfirmPaymentIntent(
            intent=renewal.id, payment_method=str(first.payment_method), off_session="true"
        ),
    )
    assert confirmed["status"] == "succeeded"
    stored = client.v1.payment_intents.retrieve(renewal.id)
    assert stored.status == "succeeded"
    assert stored.latest_charge == confirmed["latest_charge"]
    assert balances(client) == (0, 1000 - usd_card_fee(1000) + 700 - usd_card_fee(700))

    needs_authentication = client.v1.payment_intents.create(
        params={"amount": 700, "currency": "usd", "payment_method": "pm_card_threeDSecure2Required"}
    )
    with pytest.raises(CardDeclined) as declined:
        confirm_in_process(
            server,
            account,
            ConfirmPaymentIntent(intent=needs_authentication.id, off_session="true"),
        )
    assert declined.value.code == "authentication_required"


# --- Object shape ---------------------------------------------------------------------------


def declared_fields(cls: type) -> dict[str, Any]:
    """The fields a stripe-python resource class declares, across its MRO."""
    fields: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        for name, annotation in vars(klass).get("__annotations__", {}).items():
            if not name.startswith("_") and name != "OBJECT_NAME":
                fields[name] = annotation
    return fields


def _object_classes(annotation: Any) -> list[type[StripeObject]]:
    """The StripeObject classes an annotation names (inside Optional, List, Union, ...)."""
    if isinstance(annotation, (str, typing.ForwardRef)):
        name = annotation if isinstance(annotation, str) else annotation.__forward_arg__
        annotation = getattr(stripe, name, None)
    if isinstance(annotation, type):
        return [annotation] if issubclass(annotation, StripeObject) else []
    return [cls for arg in typing.get_args(annotation) for cls in _object_classes(arg)]


def undeclared_keys(value: Any, cls: type, path: str) -> list[str]:
    """Paths of keys in `value` (raw JSON) that `cls` and its nested classes do not declare."""
    if isinstance(value, list):
        return [
            p for i, item in enumerate(value) for p in undeclared_keys(item, cls, f"{path}[{i}]")
        ]
    if not isinstance(value, dict):
        return []
    fields = declared_fields(cls)
    problems: list[str] = []
    for key, item in value.items():
        if key not in fields:
            problems.append(f"{path}.{key}")
            continue
        candidates: list[list[str]] = [
            undeclared_keys(item, nested, f"{path}.{key}")
            for nested in _object_classes(fields[key])
        ]
        if candidates:
            # A union (e.g. `source`) passes if any of its classes fits.
            fewest: list[str] = min(candidates, key=len)
            problems.extend(fewest)
    return problems


def test_shape_checker_catches_an_unknown_key() -> None:
    assert undeclared_keys({"id": "pi_1", "amount": 1}, stripe.PaymentIntent, "pi") == []
    assert undeclared_keys({"id": "pi_1", "amout": 1}, stripe.PaymentIntent, "pi") == ["pi.amout"]
    nested = {"outcome": {"type": "authorized", "kind": "x"}}
    assert undeclared_keys(nested, stripe.Charge, "ch") == ["ch.outcome.kind"]


def test_every_returned_key_is_a_field_stripe_declares(
    server: KassaServer, account: Account, client: stripe.StripeClient
) -> None:
    succeeded = pay(client, 1000, description="shape", metadata={"k": "v"})
    held = authorize(client, 1000)
    canceled = client.v1.payment_intents.cancel(
        client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"}).id
    )
    with pytest.raises(stripe.CardError) as raised:
        pay(client, 1000, payment_method="pm_card_chargeDeclined")
    assert raised.value.error is not None and raised.value.error.payment_intent is not None
    declined_id = raised.value.error.payment_intent.id
    with server.http(account.secret_key) as http:
        objects: list[tuple[type, str]] = []
        for intent_id in (succeeded.id, held.id, canceled.id, declined_id):
            objects.append((stripe.PaymentIntent, f"/v1/payment_intents/{intent_id}"))
        for intent_id in (succeeded.id, held.id, declined_id):
            charge_id = http.get(f"/v1/payment_intents/{intent_id}").json()["latest_charge"]
            objects.append((stripe.Charge, f"/v1/charges/{charge_id}"))
        txn = http.get(f"/v1/charges/{succeeded.latest_charge}").json()["balance_transaction"]
        objects.append((stripe.BalanceTransaction, f"/v1/balance_transactions/{txn}"))
        problems: list[str] = []
        for cls, path in objects:
            body = http.get(path).json()
            problems += undeclared_keys(body, cls, path)
        error_body = raised.value.json_body
        assert isinstance(error_body, dict)
        problems += undeclared_keys(error_body["error"], stripe.ErrorObject, "decline error")
    assert problems == []
