"""Card authorizations held for capture expire when their capture window closes, through the
official SDK against a live server on SQLite and PostgreSQL: the charge says when in
`payment_method_details.card.capture_before` (7 days on), and past it the PaymentIntent is
`canceled` with `cancellation_reason=expired`, `charge.expired` and `payment_intent.canceled`
are sent, no refund is made and no money moves, and a capture is refused. On a test clock at
the clock's time during its advance; in real time by the `authorization_expiries` job (run
here in process on a clock set a week ahead). `kassa ledger verify` after every test."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import stripe

from kassa.clock import DAY_SECONDS
from kassa.services.authorization_expiry import expire_due_authorizations
from tests.direct_store import run_job_once
from tests.harness import KassaServer
from tests.test_test_clocks import advance, new_clock

pytestmark = pytest.mark.usefixtures("ledger_verified")

Client = stripe.StripeClient

FROZEN = 1_798_761_600
"""2027-01-01 00:00 UTC."""
WEEK = 7 * DAY_SECONDS
"""Stripe's capture window for an online card payment the customer makes: 604,800 s."""


def key() -> stripe.RequestOptions:
    return {"idempotency_key": str(uuid.uuid4())}


def authorize(client: Client, amount: int, **extra: Any) -> stripe.PaymentIntent:
    params: Any = {
        "amount": amount,
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "capture_method": "manual",
        "confirm": True,
        "allowed_payment_method_types": ["card"],
        **extra,
    }
    intent = client.v1.payment_intents.create(params=params, options=key())
    assert intent.status == "requires_capture"
    return intent


def capture_before(client: Client, charge_id: str) -> int | None:
    card = client.v1.charges.retrieve(charge_id).payment_method_details
    assert card is not None and card.card is not None
    return card.card.capture_before


def events_about(client: Client, object_id: str) -> list[tuple[str, int]]:
    """(type, created) of the events about `object_id`, oldest first."""
    listed = client.v1.events.list(params={"limit": 100}).data
    return [
        (e.type, e.created)
        for e in reversed(listed)
        if e.data.object.to_dict().get("id") == object_id
    ]


def refused_capture(client: Client, intent_id: str) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.capture(intent_id, options=key())
    assert raised.value.http_status == 400
    return raised.value


def assert_no_money_moved(client: Client) -> None:
    # An authorization posts nothing (only a capture does), and neither does its release.
    assert client.v1.balance_transactions.list().data == []
    balance = client.v1.balance.retrieve()
    assert [f.amount for f in balance.available + balance.pending if f.amount] == []


def expire_at(server: KassaServer, now: int) -> int:
    """What the `authorization_expiries` job does, run once in this process at `now`."""
    return run_job_once(server.database_url, expire_due_authorizations, now)


def test_an_authorization_on_a_test_clock_expires_at_its_capture_before(
    client: Client,
) -> None:
    clock = new_clock(client, FROZEN)
    customer = client.v1.customers.create(params={"test_clock": clock.id}, options=key())
    intent = authorize(client, 5_000, customer=customer.id)
    charge_id = str(intent.latest_charge)
    # Authorized at the clock's time: capturable for 7 days, until 1,798,761,600 + 604,800.
    assert capture_before(client, charge_id) == FROZEN + WEEK == 1_799_366_400
    advance(client, clock.id, FROZEN + 8 * DAY_SECONDS)

    expired = client.v1.payment_intents.retrieve(intent.id)
    assert (expired.status, expired.cancellation_reason) == ("canceled", "expired")
    assert expired.canceled_at == FROZEN + WEEK  # when it fell due on the clock
    assert expired.amount_capturable == 0
    charge = client.v1.charges.retrieve(charge_id)
    # API 2025-03-31 and later: no refund for a released authorization.
    assert (charge.captured, charge.refunded, charge.amount_refunded) == (False, False, 0)
    assert charge.amount_captured == 0
    assert client.v1.refunds.list(params={"charge": charge_id}).data == []
    assert events_about(client, charge_id)[-1] == ("charge.expired", FROZEN + WEEK)
    assert events_about(client, intent.id)[-1] == ("payment_intent.canceled", FROZEN + WEEK)

    error = refused_capture(client, intent.id)
    assert error.code == "payment_intent_unexpected_state"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.charges.capture(charge_id, options=key())
    assert client.v1.payment_intents.retrieve(intent.id).status == "canceled"
    assert_no_money_moved(client)


def test_a_capture_in_the_window_stands_and_nothing_expires_later(client: Client) -> None:
    clock = new_clock(client, FROZEN)
    customer = client.v1.customers.create(params={"test_clock": clock.id}, options=key())
    captured = authorize(client, 4_000, customer=customer.id)
    canceled = authorize(client, 2_000, customer=customer.id)
    advance(client, clock.id, FROZEN + 6 * DAY_SECONDS)
    done = client.v1.payment_intents.capture(captured.id, options=key())
    assert (done.status, done.amount_received) == ("succeeded", 4_000)
    client.v1.payment_intents.cancel(
        canceled.id, params={"cancellation_reason": "requested_by_customer"}
    )
    advance(client, clock.id, FROZEN + 10 * DAY_SECONDS)

    assert client.v1.payment_intents.retrieve(captured.id).status == "succeeded"
    assert client.v1.payment_intents.retrieve(canceled.id).cancellation_reason == (
        "requested_by_customer"
    )
    for intent in (captured, canceled):
        types = [t for t, _ in events_about(client, str(intent.latest_charge))]
        assert "charge.succeeded" in types  # its events were found: what is absent is absent
        assert "charge.expired" not in types
    # Only the capture moved money: $40.00 less 2.9% + 30 cents (116 + 30 = 146).
    (charge_transaction,) = client.v1.balance_transactions.list().data
    assert (charge_transaction.amount, charge_transaction.fee) == (4_000, 146)


def test_the_real_time_job_expires_an_authorization_a_week_on(
    server: KassaServer, client: Client
) -> None:
    intent = authorize(client, 3_000)
    charge_id = str(intent.latest_charge)
    expires = capture_before(client, charge_id)
    assert expires == intent.created + WEEK

    # A second before the window closes it is not due; at its close the job expires it
    # (the counts are the whole server's: other tests' accounts share it).
    expire_at(server, intent.created + WEEK - 1)
    assert client.v1.payment_intents.retrieve(intent.id).status == "requires_capture"
    assert expire_at(server, intent.created + WEEK) >= 1
    expired = client.v1.payment_intents.retrieve(intent.id)
    assert (expired.status, expired.cancellation_reason) == ("canceled", "expired")
    assert [t for t, _ in events_about(client, charge_id)][-1] == "charge.expired"
    assert refused_capture(client, intent.id).code == "payment_intent_unexpected_state"
    assert_no_money_moved(client)


def test_a_charge_held_without_an_intent_expires_and_cannot_be_captured(
    server: KassaServer, client: Client
) -> None:
    charge = client.v1.charges.create(
        params={"amount": 2_500, "currency": "usd", "source": "tok_visa", "capture": False},
        options=key(),
    )
    assert (charge.captured, charge.payment_intent) == (False, None)
    assert charge.payment_method_details is not None
    assert charge.payment_method_details.card is not None
    assert charge.payment_method_details.card.capture_before == charge.created + WEEK
    assert expire_at(server, charge.created + WEEK) >= 1
    assert [t for t, _ in events_about(client, charge.id)][-1] == "charge.expired"
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.charges.capture(charge.id, options=key())
    assert (raised.value.http_status, raised.value.code) == (400, "charge_expired_for_capture")
    assert client.v1.charges.retrieve(charge.id).captured is False
    assert_no_money_moved(client)


def test_refunding_a_charge_held_without_an_intent_releases_it(
    server: KassaServer, client: Client
) -> None:
    """Stripe: refunding an uncaptured charge releases its authorization (in full only):
    the charge is refunded, no money moves, and the hold's expiry will not come."""
    charge = client.v1.charges.create(
        params={"amount": 900, "currency": "usd", "source": "tok_visa", "capture": False},
        options=key(),
    )
    with pytest.raises(stripe.InvalidRequestError) as partial:
        client.v1.refunds.create(params={"charge": charge.id, "amount": 400}, options=key())
    assert (partial.value.http_status, partial.value.param) == (400, "amount")

    refund = client.v1.refunds.create(params={"charge": charge.id}, options=key())
    assert (refund.status, refund.amount, refund.charge) == ("succeeded", 900, charge.id)
    assert refund.balance_transaction is None
    released = client.v1.charges.retrieve(charge.id)
    assert (released.refunded, released.amount_refunded) == (True, 900)
    assert (released.captured, released.amount_captured) == (False, 0)
    assert [t for t, _ in events_about(client, charge.id)][-1] == "charge.refunded"
    assert_no_money_moved(client)

    expire_at(server, charge.created + WEEK)
    assert "charge.expired" not in [t for t, _ in events_about(client, charge.id)]
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.refunds.create(params={"charge": charge.id}, options=key())
    assert again.value.code == "charge_already_refunded"
    with pytest.raises(stripe.InvalidRequestError) as capture:
        client.v1.charges.capture(charge.id, options=key())
    assert capture.value.http_status == 400
    assert client.v1.charges.retrieve(charge.id).captured is False


def test_an_expired_hold_has_nothing_left_to_release(server: KassaServer, client: Client) -> None:
    charge = client.v1.charges.create(
        params={"amount": 900, "currency": "usd", "source": "tok_visa", "capture": False},
        options=key(),
    )
    assert expire_at(server, charge.created + WEEK) >= 1
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.refunds.create(params={"charge": charge.id}, options=key())
    assert (refused.value.http_status, refused.value.code) == (400, "charge_not_refundable")
    assert client.v1.charges.retrieve(charge.id).refunded is False
    assert_no_money_moved(client)


def test_a_deleted_clocks_authorizations_expire_in_real_time(
    server: KassaServer, client: Client
) -> None:
    clock = new_clock(client, FROZEN)
    customer = client.v1.customers.create(params={"test_clock": clock.id}, options=key())
    intent = authorize(client, 1_500, customer=customer.id)
    client.v1.test_helpers.test_clocks.delete(clock.id)
    # Its customers are deleted, their held authorization is not: it now expires in real
    # time, when the wall clock reaches the capture_before the test clock gave it.
    expire_at(server, FROZEN + WEEK - 1)
    assert client.v1.payment_intents.retrieve(intent.id).status == "requires_capture"
    assert expire_at(server, FROZEN + WEEK) >= 1
    expired = client.v1.payment_intents.retrieve(intent.id)
    assert (expired.status, expired.cancellation_reason) == ("canceled", "expired")
    assert_no_money_moved(client)
