"""The credit a cancellation with `prorate` (and no `invoice_now`) leaves pending, through the
SDK on a real `kassa serve` driven by test clocks: Stripe's cancel docstring, `prorate` "will
generate a proration invoice item that credits remaining unused time until the subscription
period end", and a pending item is collected on the customer's next invoice. The item names
the canceled subscription, which makes no more invoices: it is the customer's, taken by a
manual invoice with `pending_invoice_items_behavior=include` or by another subscription's
renewal, as an item naming no subscription is.

Both start with 31.00 a month from January 31, 2027 (the period to February 28, 28 days),
canceled on February 14: 14 of 28 days unused, 3100 * 14/28 = 1550 back."""

from __future__ import annotations

import stripe

from tests.test_subscription_changes import at, pending_of
from tests.test_subscriptions import (
    Client,
    advance,
    clock_customer,
    invoices_of,
    monthly_price,
    subscribe,
)


def canceled_on_february_14(client: Client, clock_id: str, customer: stripe.Customer) -> str:
    """A 31.00 monthly subscription of `customer` from January 31, canceled on February 14
    with `prorate` only; the canceled subscription's id."""
    subscription = subscribe(client, customer.id, monthly_price(client, 3100).id)
    advance(client, clock_id, at(2027, 2, 14))
    canceled = client.v1.subscriptions.cancel(subscription.id, params={"prorate": True})
    assert canceled.status == "canceled"
    (credit,) = pending_of(client, customer.id)
    assert (credit.amount, credit.proration) == (-1550, True)
    assert credit.parent is not None and credit.parent.subscription_details is not None
    assert credit.parent.subscription_details.subscription == subscription.id
    return subscription.id


def manual_invoice_of_1000(client: Client, customer_id: str) -> stripe.Invoice:
    """A 10.00 item given to the customer, then a manual invoice of its pending items."""
    client.v1.invoice_items.create(
        params={"customer": customer_id, "amount": 1000, "currency": "usd"}
    )
    return client.v1.invoices.create(
        params={"customer": customer_id, "pending_invoice_items_behavior": "include"}
    )


def test_a_manual_invoice_takes_the_credit_of_a_canceled_subscription(
    client: Client, ledger_verified: None
) -> None:
    clock_id, customer = clock_customer(client)
    canceled_on_february_14(client, clock_id, customer)
    invoice = manual_invoice_of_1000(client, customer.id)
    assert sorted(line.amount for line in invoice.lines.data) == [-1550, 1000]
    assert invoice.total == -550
    assert pending_of(client, customer.id) == []


def test_another_subscriptions_renewal_takes_the_credit_of_a_canceled_one(
    client: Client, ledger_verified: None
) -> None:
    clock_id, customer = clock_customer(client)
    other = subscribe(client, customer.id, monthly_price(client, 1000).id)
    canceled_on_february_14(client, clock_id, customer)
    upcoming = client.v1.invoices.create_preview(params={"subscription": other.id})
    assert sorted(line.amount for line in upcoming.lines.data) == [-1550, 1000]
    advance(client, clock_id, at(2027, 2, 28, hour=12))
    renewal = invoices_of(client, other.id)[-1]
    assert renewal.billing_reason == "subscription_cycle"
    assert sorted(line.amount for line in renewal.lines.data) == [-1550, 1000]
    assert (renewal.total, renewal.amount_due, renewal.status) == (-550, 0, "paid")
    assert client.v1.customers.retrieve(customer.id).balance == -550
    assert pending_of(client, customer.id) == []
