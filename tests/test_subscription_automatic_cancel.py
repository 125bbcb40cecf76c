"""The cancellations a subscription's own work makes at once, with nobody's `DELETE`:
dunning's final action (`cancel`, the default, once a renewal's last retry has failed) and
the end of a trial without a payment method under `missing_payment_method=cancel`. Each
cancels as a `DELETE` sent nothing does: the subscription's pending prorations are removed
(Stripe's cancel docstring: "if the subscription is set to cancel immediately, pending
prorations will be removed (if invoice_now and prorate are both set to false)"), where
they were left pending before, naming a canceled subscription, for no invoice ever to take.
The customer's other pending items stay. Through the SDK on a real `kassa serve` (SQLite
and PostgreSQL) on test clocks, the ledger whole after each. (A trial's end takes the same
path, `subscriptions.cancel_now`, but a change during a trial leaves no prorations pending
to test it with.)

Amounts by hand: 3100 a month, 100 a day over the 31 days from February 28 to March 31.
"""

from __future__ import annotations

from tests.test_subscription_changes import change, pending_of
from tests.test_subscription_terms import price_of
from tests.test_subscriptions import (
    Client,
    advance,
    clock_customer,
    decline_renewals,
    subscribe,
    utc,
)


def other_pending_item(client: Client, customer_id: str) -> str:
    """An item the customer has pending that names no subscription: it stays pending."""
    params = {"customer": customer_id, "amount": 500, "currency": "usd"}
    return client.v1.invoice_items.create(params=params).id  # type: ignore[arg-type]


def test_a_subscription_dunning_cancels_drops_its_pending_prorations(
    client: Client, ledger_verified: None
) -> None:
    """Past due after its February 28 renewal, set on March 2 to cancel on March 25: the 6
    days from then to March 31 credited (-600), pending. The last retry fails on March 15
    and cancels it: the credit is removed with it."""
    price = price_of(client, 3100)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    decline_renewals(client, customer.id)
    advance(client, clock_id, utc(2027, 3, 2))
    assert client.v1.subscriptions.retrieve(subscription.id).status == "past_due"
    change(client, subscription.id, cancel_at=utc(2027, 3, 25))
    assert [i.amount for i in pending_of(client, customer.id)] == [-600]
    kept = other_pending_item(client, customer.id)
    advance(client, clock_id, utc(2027, 3, 16))
    ended = client.v1.subscriptions.retrieve(subscription.id)
    assert ended.status == "canceled"
    assert ended.cancellation_details is not None
    assert ended.cancellation_details.reason == "payment_failed"
    assert [i.id for i in pending_of(client, customer.id)] == [kept]
