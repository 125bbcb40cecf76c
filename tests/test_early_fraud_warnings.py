"""Radar's early fraud warnings through the SDK (SQLite and PostgreSQL): the test card
4000000000005423 makes a charge that succeeds and then draws a warning; retrieve and list
by charge and PaymentIntent; a full refund makes it no longer `actionable`; other cards
draw none. The ledger verifies after each."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import stripe

pytestmark = pytest.mark.usefixtures("ledger_verified")

EARLY_FRAUD_WARNING_CARD = "4000000000005423"


def pay_with_number(client: stripe.StripeClient, number: str, amount: int = 2000) -> Any:
    params: Any = {
        "amount": amount,
        "currency": "usd",
        "payment_method_data": {
            "type": "card",
            "card": {"number": number, "exp_month": "12", "exp_year": "2034", "cvc": "123"},
        },
        "allowed_payment_method_types": ["card"],
        "confirm": True,
    }
    return client.v1.payment_intents.create(
        params=params, options={"idempotency_key": str(uuid.uuid4())}
    )


def warnings_about(client: stripe.StripeClient, **filters: str) -> list[Any]:
    return list(client.v1.radar.early_fraud_warnings.list(params=filters).data)  # type: ignore[arg-type]


def event_types(client: stripe.StripeClient, object_id: str) -> list[str]:
    listed = client.v1.events.list(params={"limit": 100}).data
    return [e.type for e in reversed(listed) if e.data.object.to_dict().get("id") == object_id]


def test_the_test_card_s_charge_succeeds_and_draws_a_warning(client: stripe.StripeClient) -> None:
    intent = pay_with_number(client, EARLY_FRAUD_WARNING_CARD)
    assert intent.status == "succeeded"
    (warning,) = warnings_about(client, charge=intent.latest_charge)
    assert warning.object == "radar.early_fraud_warning"
    assert warning.id.startswith("issfr_")
    assert (warning.charge, warning.payment_intent) == (intent.latest_charge, intent.id)
    assert (warning.actionable, warning.fraud_type, warning.livemode) == (
        True,
        "unauthorized_use_of_card",
        False,
    )
    assert client.v1.radar.early_fraud_warnings.retrieve(warning.id).to_dict() == (
        warning.to_dict()
    )
    assert [w.id for w in warnings_about(client, payment_intent=intent.id)] == [warning.id]
    assert event_types(client, warning.id) == ["radar.early_fraud_warning.created"]
    expanded = client.v1.radar.early_fraud_warnings.retrieve(
        warning.id, params={"expand": ["charge"]}
    )
    assert expanded.charge.id == intent.latest_charge  # type: ignore[union-attr]


def test_a_full_refund_makes_the_warning_no_longer_actionable(
    client: stripe.StripeClient,
) -> None:
    intent = pay_with_number(client, EARLY_FRAUD_WARNING_CARD, 3000)
    client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 1000})
    (warning,) = warnings_about(client, payment_intent=intent.id)
    assert warning.actionable is True  # partly refunded: still worth acting on
    client.v1.refunds.create(params={"payment_intent": intent.id})
    (warning,) = warnings_about(client, payment_intent=intent.id)
    assert warning.actionable is False
    assert event_types(client, warning.id) == [
        "radar.early_fraud_warning.created",
        "radar.early_fraud_warning.updated",
    ]


def test_other_cards_draw_no_warning(client: stripe.StripeClient) -> None:
    intent = pay_with_number(client, "4242424242424242")
    assert warnings_about(client, payment_intent=intent.id) == []


def test_an_unknown_warning_is_a_404(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.radar.early_fraud_warnings.retrieve("issfr_missing")
    assert missing.value.http_status == 404
