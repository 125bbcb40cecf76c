"""What a PaymentIntent accepts once it has moved on, through the official SDK against a live
server, on SQLite and PostgreSQL: `last_payment_error` cleared by any update and by a
cancel, the fields an update may no longer change after confirmation (each refused naming
itself), and what a capture takes (`final_capture`, the statement descriptors). Every test
ends with `kassa ledger verify`."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

pytestmark = pytest.mark.usefixtures("ledger_verified")


def _pay(client: stripe.StripeClient, **extra: Any) -> stripe.PaymentIntent:
    params: Any = {
        "amount": 2000,
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "confirm": True,
        "allowed_payment_method_types": ["card"],
        **extra,
    }
    return client.v1.payment_intents.create(params=params)


def _declined(client: stripe.StripeClient) -> str:
    """A declined intent's id: back to `requires_payment_method` with a `last_payment_error`."""
    with pytest.raises(stripe.CardError) as raised:
        _pay(client, payment_method="pm_card_chargeDeclined")
    assert raised.value.error is not None and raised.value.error.payment_intent is not None
    intent_id = raised.value.error.payment_intent.id
    assert client.v1.payment_intents.retrieve(intent_id).last_payment_error is not None
    return intent_id


# --- last_payment_error ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"metadata": {"order": "1"}},
        {"description": "a mug"},
        {"payment_method": "pm_card_visa"},
        {"amount": 2500},
    ],
)
def test_any_update_clears_the_last_payment_error(
    client: stripe.StripeClient, change: dict[str, Any]
) -> None:
    """Stripe: "It will be cleared if the PaymentIntent is later updated for any reason"."""
    intent_id = _declined(client)
    updated = client.v1.payment_intents.update(intent_id, params=change)  # type: ignore[arg-type]
    assert updated.last_payment_error is None
    assert client.v1.payment_intents.retrieve(intent_id).last_payment_error is None


def test_a_cancel_clears_the_last_payment_error(client: stripe.StripeClient) -> None:
    intent_id = _declined(client)
    canceled = client.v1.payment_intents.cancel(intent_id)
    assert canceled.status == "canceled"
    assert canceled.last_payment_error is None
    [event] = client.v1.events.list(params={"type": "payment_intent.canceled"}).data
    announced = event.data.object
    assert announced["id"] == intent_id and announced["last_payment_error"] is None


# --- Fields locked after confirmation -------------------------------------------------------

CAPTURE_METHOD_STATUSES = "requires_payment_method, requires_confirmation"
AMOUNT_STATUSES = "requires_payment_method, requires_confirmation, requires_action"


@pytest.mark.parametrize(
    ("change", "param", "statuses"),
    [
        ({"capture_method": "manual"}, "capture_method", CAPTURE_METHOD_STATUSES),
        ({"amount": 500}, "amount", AMOUNT_STATUSES),
        ({"currency": "eur"}, "currency", AMOUNT_STATUSES),
        ({"setup_future_usage": "off_session"}, "setup_future_usage", AMOUNT_STATUSES),
        (
            {"payment_method_options": {"card": {"request_three_d_secure": "any"}}},
            "payment_method_options",
            AMOUNT_STATUSES,
        ),
    ],
)
def test_a_succeeded_intent_refuses_each_locked_field_naming_it(
    client: stripe.StripeClient, change: dict[str, Any], param: str, statuses: str
) -> None:
    intent = _pay(client)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.update(intent.id, params=change)  # type: ignore[arg-type]
    error = raised.value
    assert error.http_status == 400
    assert error.code == "payment_intent_unexpected_state"
    assert error.param == param
    assert error.user_message == (
        f"This PaymentIntent's {param} could not be updated because it has a status of "
        f"succeeded. You may only update the {param} of a PaymentIntent with one of the "
        f"following statuses: {statuses}."
    )
    after = client.v1.payment_intents.retrieve(intent.id)
    assert after.to_dict() == intent.to_dict()


def test_a_held_intent_cannot_switch_to_automatic_capture(client: stripe.StripeClient) -> None:
    held = _pay(client, capture_method="manual")
    assert held.status == "requires_capture"
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.update(held.id, params={"capture_method": "automatic"})
    assert raised.value.param == "capture_method"
    assert raised.value.code == "payment_intent_unexpected_state"
    assert client.v1.payment_intents.retrieve(held.id).capture_method == "manual"


def test_a_finished_intent_still_takes_its_descriptions(client: stripe.StripeClient) -> None:
    intent = _pay(client)
    updated = client.v1.payment_intents.update(
        intent.id,
        params={
            "metadata": {"order": "7"},
            "description": "two mugs",
            "receipt_email": "ada@example.com",
            "statement_descriptor_suffix": "MUGS",
            "shipping": {"name": "Ada", "address": {"line1": "1 Main St"}},
        },
    )
    assert updated.status == "succeeded"
    assert updated.metadata.to_dict() == {"order": "7"}
    assert updated.description == "two mugs"
    assert updated.receipt_email == "ada@example.com"
    assert updated.statement_descriptor_suffix == "MUGS"
    assert updated.shipping is not None and updated.shipping.name == "Ada"


def test_an_intent_awaiting_authentication_still_takes_a_new_amount(
    client: stripe.StripeClient,
) -> None:
    intent = _pay(
        client, payment_method="pm_card_threeDSecure2Required", return_url="https://x.test/r"
    )
    assert intent.status == "requires_action"
    updated = client.v1.payment_intents.update(
        intent.id, params={"amount": 2500, "setup_future_usage": "on_session"}
    )
    assert (updated.amount, updated.setup_future_usage) == (2500, "on_session")


# --- Capture --------------------------------------------------------------------------------


def test_final_capture_false_is_refused_without_multicapture(client: stripe.StripeClient) -> None:
    """Stripe: final_capture=false only "when multicapture is available", and Kassa's
    charges show `multicapture.status` unavailable."""
    held = _pay(client, capture_method="manual")
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.capture(
            held.id, params={"amount_to_capture": 300, "final_capture": False}
        )
    assert raised.value.http_status == 400
    assert raised.value.param == "final_capture"
    after = client.v1.payment_intents.retrieve(held.id)
    assert (after.status, after.amount_capturable) == ("requires_capture", 2000)

    captured = client.v1.payment_intents.capture(held.id, params={"final_capture": True})
    assert (captured.status, captured.amount_received) == ("succeeded", 2000)


def test_capture_puts_the_statement_descriptor_suffix_on_the_charge(
    client: stripe.StripeClient,
) -> None:
    held = _pay(client, capture_method="manual")
    captured = client.v1.payment_intents.capture(
        held.id, params={"statement_descriptor_suffix": "ORDER42"}
    )
    charge = client.v1.charges.retrieve(str(captured.latest_charge))
    assert charge.statement_descriptor_suffix == "ORDER42"
    assert charge.calculated_statement_descriptor == "KASSA* ORDER42"


def test_a_charge_capture_takes_the_statement_descriptor_as_the_card_suffix(
    client: stripe.StripeClient,
) -> None:
    """Stripe's charge capture: for a card charge `statement_descriptor` "is used as the
    suffix" when no `statement_descriptor_suffix` is given."""
    held = _pay(client, capture_method="manual")
    charge = client.v1.charges.capture(
        str(held.latest_charge), params={"statement_descriptor": "MUGS"}
    )
    assert charge.captured is True
    assert (charge.statement_descriptor, charge.statement_descriptor_suffix) == (None, "MUGS")
    assert charge.calculated_statement_descriptor == "KASSA* MUGS"


def test_capture_refuses_a_statement_descriptor_for_a_card(client: stripe.StripeClient) -> None:
    """Stripe (the parameter's description): "Setting this value for a card charge returns
    an error. For card charges, set the statement_descriptor_suffix instead"."""
    held = _pay(client, capture_method="manual")
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.capture(held.id, params={"statement_descriptor": "MUGS"})
    assert raised.value.http_status == 400
    assert raised.value.param == "statement_descriptor"
    assert client.v1.payment_intents.retrieve(held.id).status == "requires_capture"
