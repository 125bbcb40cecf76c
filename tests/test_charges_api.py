"""The Charges API as Stripe still serves it (`POST /v1/charges` with a `source`), through the
official SDK against a live server, on SQLite and PostgreSQL. Such a charge takes the same
money path as a PaymentIntent's: every test leaves a ledger `kassa ledger verify` accepts,
and money figures are computed here from the amounts charged."""

from __future__ import annotations

import uuid
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
import stripe

pytestmark = pytest.mark.usefixtures("ledger_verified")


def card_fee_usd(amount: int) -> int:
    """Stripe's US card pricing: 2.9% rounded half up, plus 30 cents."""
    percent = (amount * Decimal("0.029")).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(percent) + 30


def charge(client: stripe.StripeClient, amount: int = 1000, **params: Any) -> stripe.Charge:
    given: Any = {"amount": amount, "currency": "usd", **params}
    return client.v1.charges.create(given, options={"idempotency_key": str(uuid.uuid4())})


def declined(client: stripe.StripeClient, **params: Any) -> stripe.CardError:
    with pytest.raises(stripe.CardError) as raised:
        charge(client, **params)
    return raised.value


def saved_card(client: stripe.StripeClient, customer: str, source: str = "tok_visa") -> str:
    card = client.v1.customers.payment_sources.create(customer, {"source": source})
    return card.id


def test_a_token_charge_is_captured_and_posted(client: stripe.StripeClient) -> None:
    made = charge(client, 2500, source="tok_visa", description="Order 7", metadata={"o": "7"})
    assert made.status == "succeeded"
    assert made.paid is True and made.captured is True
    assert made.payment_intent is None
    assert made.amount_captured == 2500 and made.amount_refunded == 0
    assert made.source is not None and made.source.object == "card"
    assert made.payment_method == made.source.id
    assert made.payment_method_details is not None
    assert made.payment_method_details.card is not None
    assert made.payment_method_details.card.brand == "visa"
    assert made.description == "Order 7"
    assert isinstance(made.balance_transaction, str)
    transaction = client.v1.balance_transactions.retrieve(made.balance_transaction)
    assert transaction.source == made.id
    assert (transaction.amount, transaction.fee) == (2500, card_fee_usd(2500))
    assert client.v1.charges.retrieve(made.id).status == "succeeded"
    events = client.v1.events.list({"type": "charge.*"}).data
    assert [e.type for e in events] == ["charge.succeeded"]


def test_a_customers_default_source_is_charged(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    card = saved_card(client, customer.id)
    saved_card(client, customer.id, "tok_mastercard")
    made = charge(client, customer=customer.id)
    assert made.customer == customer.id
    assert made.payment_method == card
    by_card = charge(client, customer=customer.id, source=card)
    assert by_card.payment_method == card
    listed = client.v1.charges.list({"customer": customer.id})
    assert [c.id for c in listed.data] == [by_card.id, made.id]
    since = client.v1.charges.list({"customer": customer.id, "created": {"gte": made.created}})
    assert len(since.data) == 2
    none_later = client.v1.charges.list({"created": {"gt": made.created + 3600}})
    assert none_later.data == []


def test_capture_later_less_than_authorized(client: stripe.StripeClient) -> None:
    held = charge(client, 1000, source="tok_visa", capture=False)
    assert (held.status, held.captured, held.balance_transaction) == ("succeeded", False, None)
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.charges.capture(held.id, {"amount": 2000})
    assert too_much.value.param == "amount"
    assert too_much.value.http_status == 400
    captured = client.v1.charges.capture(held.id, {"amount": 800})
    assert captured.captured is True
    assert captured.amount_captured == 800
    # Since API version 2025-03-31, the released remainder is not a refund.
    assert (captured.amount_refunded, captured.refunded) == (0, False)
    assert isinstance(captured.balance_transaction, str)
    transaction = client.v1.balance_transactions.retrieve(captured.balance_transaction)
    assert (transaction.amount, transaction.fee) == (800, card_fee_usd(800))
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.charges.capture(held.id)
    assert again.value.code == "charge_already_captured"
    types = [e.type for e in client.v1.events.list({"type": "charge.*"}).data]
    assert types == ["charge.captured", "charge.succeeded"]


def test_refunds_by_charge(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    saved_card(client, customer.id)
    made = charge(client, 3000, customer=customer.id, capture=False)
    client.v1.charges.capture(made.id)
    partial = client.v1.refunds.create({"charge": made.id, "amount": 1000})
    assert partial.status == "succeeded"
    client.v1.refunds.create({"charge": made.id})
    refunded = client.v1.charges.retrieve(made.id)
    assert (refunded.amount_refunded, refunded.refunded) == (3000, True)


def test_a_decline_is_a_402_and_the_failed_charge_is_kept(client: stripe.StripeClient) -> None:
    error = declined(client, source="tok_chargeDeclinedInsufficientFunds")
    assert error.http_status == 402
    assert (error.code, error.error.decline_code) == (  # type: ignore[union-attr]
        "card_declined",
        "insufficient_funds",
    )
    charge_id = error.error.charge  # type: ignore[union-attr]
    assert isinstance(charge_id, str)
    failed = client.v1.charges.retrieve(charge_id)
    assert (failed.status, failed.paid, failed.captured) == ("failed", False, False)
    assert failed.failure_code == "card_declined"
    assert failed.outcome is not None and failed.outcome.type == "issuer_declined"
    assert error.error.doc_url == "https://stripe.com/docs/error-codes/card-declined"  # type: ignore[union-attr]
    with pytest.raises(stripe.InvalidRequestError) as refund:
        client.v1.refunds.create({"charge": charge_id})
    assert refund.value.http_status == 400
    types = [e.type for e in client.v1.events.list({"type": "charge.*"}).data]
    assert types == ["charge.failed"]


def test_a_saved_card_that_declines_when_charged(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    saved_card(client, customer.id, "tok_chargeCustomerFail")
    for capture in (True, False):
        error = declined(client, customer=customer.id, capture=capture)
        assert error.error is not None and isinstance(error.error.charge, str)
        failed = client.v1.charges.retrieve(error.error.charge)
        assert failed.status == "failed"
        assert failed.customer == customer.id


def test_cards_that_need_authentication_decline(client: stripe.StripeClient) -> None:
    error = declined(client, source="tok_threeDSecure2Required")
    assert error.code == "authentication_required"
    assert error.error is not None
    assert error.error.doc_url == "https://stripe.com/docs/error-codes/authentication-required"


def test_a_disputed_test_card_opens_its_dispute(client: stripe.StripeClient) -> None:
    made = charge(client, 5000, source="tok_createDispute")
    assert client.v1.charges.retrieve(made.id).disputed is True
    disputes = client.v1.disputes.list({"charge": made.id}).data
    assert len(disputes) == 1 and disputes[0].amount == 5000


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"currency": "usd", "source": "tok_visa"}, "amount"),
        ({"amount": 1000, "source": "tok_visa"}, "currency"),
        ({"amount": 10, "currency": "usd", "source": "tok_visa"}, "amount"),
        ({"amount": "ten", "currency": "usd", "source": "tok_visa"}, "amount"),
        ({"amount": 1000, "currency": "usd"}, "source"),
        ({"amount": 1000, "currency": "usd", "source": "card_missing"}, "source"),
        ({"amount": 1000, "currency": "usd", "source": "tok_missing"}, "source"),
        ({"amount": 1000, "currency": "usd", "customer": "cus_missing"}, "customer"),
        ({"amount": 1000, "currency": "usd", "source": "tok_visa", "capture": "maybe"}, "capture"),
    ],
)
def test_bad_input_names_the_parameter(
    client: stripe.StripeClient, params: dict[str, Any], param: str
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.charges.create(params)  # type: ignore[arg-type]
    assert raised.value.http_status in (400, 404)
    assert raised.value.param == param


def test_a_customer_without_a_source_or_with_a_token(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    with pytest.raises(stripe.InvalidRequestError) as no_card:
        charge(client, customer=customer.id)
    assert (no_card.value.http_status, no_card.value.code) == (400, "missing")
    with pytest.raises(stripe.InvalidRequestError) as token_given:
        charge(client, customer=customer.id, source="tok_visa")
    assert token_given.value.param == "source"
    other = client.v1.customers.create()
    card = saved_card(client, other.id)
    with pytest.raises(stripe.InvalidRequestError) as not_theirs:
        charge(client, customer=customer.id, source=card)
    assert not_theirs.value.param == "source"
    assert client.v1.charges.list().data == []


def test_a_saved_card_is_charged_only_with_its_customer(client: stripe.StripeClient) -> None:
    """Stripe's `source`: for a saved card "you must also pass the ID of the associated
    customer"; the card's id alone is no token."""
    customer = client.v1.customers.create()
    card = saved_card(client, customer.id)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        charge(client, source=card)
    assert raised.value.param == "source"
    assert raised.value.code == "resource_missing"
    assert client.v1.charges.list().data == []
    assert charge(client, customer=customer.id, source=card).payment_method == card


def test_capture_takes_a_transfer_group_and_no_metadata(client: stripe.StripeClient) -> None:
    """`POST /v1/charges/{id}/capture` takes `transfer_group` (only while the charge has
    none) and not `metadata`, as Stripe's API reference has it."""
    held = charge(client, 1000, source="tok_visa", capture=False)
    not_a_capture_param: Any = {"metadata": {"a": "b"}}
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.charges.capture(held.id, not_a_capture_param)
    assert raised.value.param == "metadata"
    captured = client.v1.charges.capture(held.id, {"transfer_group": "order_7"})
    assert captured.transfer_group == "order_7"
    assert client.v1.charges.retrieve(held.id).transfer_group == "order_7"

    grouped = charge(client, 1000, source="tok_visa", capture=False, transfer_group="order_8")
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.charges.capture(grouped.id, {"transfer_group": "order_9"})
    assert raised.value.param == "transfer_group"
    assert client.v1.charges.retrieve(grouped.id).captured is False

    intent = client.v1.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "capture_method": "manual",
            "confirm": True,
            "allowed_payment_method_types": ["card"],
        }
    )
    assert isinstance(intent.latest_charge, str)
    by_intent = client.v1.charges.capture(intent.latest_charge, {"transfer_group": "order_10"})
    assert (by_intent.captured, by_intent.transfer_group) == (True, "order_10")


def test_a_card_charges_statement_descriptor_serves_as_its_suffix(
    client: stripe.StripeClient,
) -> None:
    """Stripe: for a card charge `statement_descriptor` "is ignored unless you don't specify
    a statement_descriptor_suffix, in which case this value is used as the suffix"; the
    account's descriptor stays the prefix."""
    alone = charge(client, source="tok_visa", statement_descriptor="MY SHOP")
    assert alone.calculated_statement_descriptor == "KASSA* MY SHOP"
    assert alone.statement_descriptor == "MY SHOP"
    both = charge(
        client,
        source="tok_visa",
        statement_descriptor="MY SHOP",
        statement_descriptor_suffix="ORD1",
    )
    assert both.calculated_statement_descriptor == "KASSA* ORD1"
    assert both.statement_descriptor_suffix == "ORD1"
    held = charge(client, source="tok_visa", statement_descriptor="MY SHOP", capture=False)
    assert held.calculated_statement_descriptor == "KASSA* MY SHOP"
    captured = client.v1.charges.capture(held.id, {"statement_descriptor_suffix": "ORD2"})
    assert captured.calculated_statement_descriptor == "KASSA* ORD2"
    assert client.v1.charges.retrieve(held.id).calculated_statement_descriptor == "KASSA* ORD2"
    plain = charge(client, source="tok_visa")
    assert plain.calculated_statement_descriptor == "KASSA"


ADDRESS_CHECK_CARDS = (
    ("4000000000000010", "fail", "fail"),
    ("4000000000000028", "fail", "pass"),
    ("4000000000000036", "pass", "fail"),
    ("4000000000000044", "unavailable", "unavailable"),
    ("4242424242424242", "pass", "pass"),
)


@pytest.mark.parametrize(("number", "line1", "postal_code"), ADDRESS_CHECK_CARDS)
def test_address_check_cards_report_their_checks_and_charge(
    client: stripe.StripeClient, number: str, line1: str, postal_code: str
) -> None:
    """Stripe's "CVC and address check failures" cards: the token's card, the saved card
    and the charge report the card's address checks; the charges still succeed."""
    card: Any = {
        "number": number,
        "exp_month": 12,
        "exp_year": 2034,
        "cvc": "123",
        "address_line1": "1 Main St",
        "address_zip": "94107",
    }
    token = client.v1.tokens.create({"card": card})
    assert token.card is not None
    assert (token.card.address_line1_check, token.card.address_zip_check) == (line1, postal_code)
    paid = charge(client, source=token.id)
    assert paid.status == "succeeded"
    details = paid.payment_method_details
    assert details is not None and details.card is not None and details.card.checks is not None
    checks = details.card.checks
    assert (checks.address_line1_check, checks.address_postal_code_check) == (line1, postal_code)
    assert checks.cvc_check == "pass"

    customer = client.v1.customers.create()
    source: Any = {"source": {**card, "object": "card"}}
    saved = client.v1.customers.payment_sources.create(customer.id, source)
    assert isinstance(saved, stripe.Card)
    assert (saved.address_line1_check, saved.address_zip_check) == (line1, postal_code)
    again = charge(client, source=saved.id, customer=customer.id)
    assert again.status == "succeeded"
    bare: Any = {"card": {k: v for k, v in card.items() if not k.startswith("address")}}
    without_address = client.v1.tokens.create(bare)
    assert without_address.card is not None
    assert without_address.card.address_line1_check is None
    assert without_address.card.address_zip_check is None
