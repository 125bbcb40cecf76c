"""Writes on what hangs off a test clock customer, through the SDK on a real `kassa serve`:
with the clock advanced years ahead of real time, each object's `created` and the events
its changes announce carry the clock's frozen time, never the wall clock's."""

from __future__ import annotations

from typing import Any

import stripe

from kassa.clock import DAY_SECONDS
from tests.test_async_capture import posted
from tests.test_test_clocks import FROZEN, HOUR, advance, customer_on, new_clock

Client = stripe.StripeClient

LATER = FROZEN + 3 * 365 * DAY_SECONDS + HOUR
"""Where each test's clock is advanced to: years ahead of the wall clock."""


def clock_customer_years_ahead(client: Client) -> stripe.Customer:
    """A customer with a card on a test clock advanced to `LATER`."""
    clock = new_clock(client)
    customer = customer_on(client, clock.id)
    assert advance(client, clock.id, LATER).frozen_time == LATER
    return customer


def announced(client: Client, event_type: str, object_id: str) -> stripe.Event:
    """The one `event_type` event about `object_id`."""
    listed: Any = {"type": event_type, "limit": 20}
    (event,) = [
        e
        for e in client.v1.events.list(params=listed).data
        if e.data.object.to_dict().get("id") == object_id
    ]
    return event


def paid_charge(client: Client, payment_method: str = "pm_card_visa") -> stripe.Charge:
    """A charge of a customer on a clock years ahead, made at the clock's time."""
    intent: Any = {
        "customer": clock_customer_years_ahead(client).id,
        "amount": 2000,
        "currency": "usd",
        "payment_method": payment_method,
        "allowed_payment_method_types": ["card"],
        "confirm": True,
    }
    charge_id = client.v1.payment_intents.create(params=intent).latest_charge
    assert isinstance(charge_id, str)
    charge = posted(client, charge_id)  # its posting's `charge.updated` comes first
    assert charge.created == LATER
    return charge


def disputed_charge(client: Client) -> stripe.Dispute:
    """The dispute a clock customer's test card opens on its charge, at the clock's time."""
    charge = paid_charge(client, "pm_card_createDispute")
    (dispute,) = client.v1.disputes.list(params={"charge": charge.id}).data
    assert dispute.created == LATER
    return dispute


def attached_card(client: Client) -> stripe.PaymentMethod:
    """A card PaymentMethod made in real time (its own `created` stays the wall clock's, as
    on Stripe), then attached to a customer on a clock years ahead."""
    customer = clock_customer_years_ahead(client)
    card: Any = {"type": "card", "card": {"token": "tok_visa"}}
    made = client.v1.payment_methods.create(params=card)
    return client.v1.payment_methods.attach(made.id, params={"customer": customer.id})


def test_attaching_a_payment_method_to_a_clock_customer_announces_it_at_the_clocks_time(
    client: Client,
) -> None:
    card = attached_card(client)
    assert announced(client, "payment_method.attached", card.id).created == LATER


def test_updating_a_clock_customer_s_payment_method_announces_it_at_the_clocks_time(
    client: Client,
) -> None:
    card = attached_card(client)
    client.v1.payment_methods.update(card.id, params={"metadata": {"plan": "gold"}})
    assert announced(client, "payment_method.updated", card.id).created == LATER


def test_detaching_a_clock_customer_s_payment_method_announces_it_at_the_clocks_time(
    client: Client,
) -> None:
    card = attached_card(client)
    client.v1.payment_methods.detach(card.id)
    assert announced(client, "payment_method.detached", card.id).created == LATER


def test_updating_a_clock_customer_s_charge_announces_it_at_the_clocks_time(
    client: Client,
) -> None:
    charge = paid_charge(client)
    client.v1.charges.update(charge.id, params={"description": "Order 42"})
    listed: Any = {"type": "charge.updated", "limit": 20}
    updates = [
        e
        for e in client.v1.events.list(params=listed).data
        if e.data.object.to_dict().get("id") == charge.id
    ]
    # Newest first: the update's, then the capture's posting (its balance transaction).
    changed = [list(e.data.to_dict()["previous_attributes"]) for e in updates]
    assert changed == [["description"], ["balance_transaction"]]
    assert [e.created for e in updates] == [LATER, LATER]


def test_updating_a_refund_of_a_clock_customer_s_charge_announces_it_at_the_clocks_time(
    client: Client,
) -> None:
    charge = paid_charge(client)
    refund = client.v1.refunds.create(params={"charge": charge.id, "amount": 500})
    assert refund.created == LATER
    client.v1.refunds.update(refund.id, params={"metadata": {"reason": "late"}})
    assert announced(client, "refund.updated", refund.id).created == LATER
    assert announced(client, "charge.refund.updated", refund.id).created == LATER


def test_deleting_a_clock_customer_s_tax_id_announces_it_at_the_clocks_time(
    client: Client,
) -> None:
    customer = clock_customer_years_ahead(client)
    tax_id: Any = {"type": "eu_vat", "value": "DE123456789"}
    created = client.v1.customers.tax_ids.create(customer.id, params=tax_id)
    assert created.created == LATER
    client.v1.customers.tax_ids.delete(customer.id, created.id)
    assert announced(client, "customer.tax_id.deleted", created.id).created == LATER


def test_a_clock_customer_s_dispute_won_on_evidence_is_decided_at_the_clocks_time(
    client: Client,
) -> None:
    """Its update, decision and the reinstated funds' balance transaction all carry the
    clock's time."""
    dispute = disputed_charge(client)
    evidence: Any = {"evidence": {"uncategorized_text": "winning_evidence"}}
    won = client.v1.disputes.update(dispute.id, params=evidence)
    assert won.status == "won"
    for event_type in ("updated", "closed", "funds_reinstated"):
        assert announced(client, f"charge.dispute.{event_type}", dispute.id).created == LATER
    reinstated = won.balance_transactions[-1]
    assert (reinstated.reporting_category, reinstated.created) == ("dispute_reversal", LATER)


def test_closing_a_clock_customer_s_dispute_announces_it_at_the_clocks_time(
    client: Client,
) -> None:
    dispute = disputed_charge(client)
    assert client.v1.disputes.close(dispute.id).status == "lost"
    assert announced(client, "charge.dispute.closed", dispute.id).created == LATER
