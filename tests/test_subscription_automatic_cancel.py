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
to test it with: its test plants one through Kassa's store, `as_proration`.) Ended at once,
by that final action, by `DELETE` or by its customer's deletion (`DELETE
/v1/customers/{id}`), an end it had scheduled is no longer pending; its item
periods are left as they were (Stripe's own example of a canceled subscription, in the API
reference's "Cancel a subscription", shows its period running on past `canceled_at`).

Amounts by hand: 3100 a month, 100 a day over the 31 days from February 28 to March 31.
"""

from __future__ import annotations

import stripe

from kassa.clock import DAY_SECONDS
from kassa.services.billing.invoice_collection import RETRY_AFTER_DAYS
from kassa.store import Store
from kassa.store.tables import INVOICE_ITEMS
from tests.direct_store import with_store
from tests.harness import Account, KassaServer
from tests.test_subscription_changes import change, pending_of
from tests.test_subscription_lifecycle_rules import (
    TRIAL_DAYS,
    TRIAL_END,
    cardless_customer,
    on_trial_end,
)
from tests.test_subscription_terms import price_of
from tests.test_subscriptions import (
    HOUR,
    Client,
    advance,
    clock_customer,
    decline_renewals,
    monthly_price,
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


def ended_now(subscription: stripe.Subscription) -> tuple[object, ...]:
    """What an immediate cancellation shows: no end scheduled any more, canceled and ended
    at once."""
    return (
        subscription.status,
        subscription.cancel_at,
        subscription.cancel_at_period_end,
        subscription.canceled_at,
    )


def test_a_subscription_dunning_cancels_no_longer_waits_for_its_cancel_at(
    client: Client, ledger_verified: None
) -> None:
    """Past due after its February 28 renewal, set on March 2 to cancel on March 25; the
    last retry fails on March 15, 11:00 and cancels it then, as a `DELETE` would: its
    `cancel_at` is no longer pending, `canceled_at` is that failure (Stripe's 2015-01-26
    changelog: "the timestamp from the API call or invoice payment failure that canceled
    the subscription")."""
    price = price_of(client, 3100)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    decline_renewals(client, customer.id)
    advance(client, clock_id, utc(2027, 3, 2))
    change(client, subscription.id, cancel_at=utc(2027, 3, 25))
    advance(client, clock_id, utc(2027, 3, 16))
    ended = client.v1.subscriptions.retrieve(subscription.id)
    last_retry = utc(2027, 2, 28) + HOUR + sum(RETRY_AFTER_DAYS) * DAY_SECONDS
    assert ended.ended_at == last_retry
    assert ended_now(ended) == ("canceled", None, False, last_retry)


def set_to_cancel_later(client: Client) -> tuple[str, str]:
    """A subscription paid, set on March 2 to cancel at its period's end, the clock then on
    March 16: its customer's id and its id."""
    price = price_of(client, 3100)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    advance(client, clock_id, utc(2027, 3, 2))
    change(client, subscription.id, cancel_at_period_end=True)
    advance(client, clock_id, utc(2027, 3, 16))
    return customer.id, subscription.id


def test_a_delete_ends_a_subscription_set_to_cancel_later_alike(
    client: Client, ledger_verified: None
) -> None:
    """The same subscription paid, set to cancel at its period's end and canceled on March
    16 by `DELETE`: the end it had scheduled is no longer pending either."""
    _, subscription_id = set_to_cancel_later(client)
    canceled = client.v1.subscriptions.cancel(subscription_id)
    assert canceled.ended_at == utc(2027, 3, 16)
    assert ended_now(canceled) == ("canceled", None, False, utc(2027, 3, 16))


def test_deleting_its_customer_ends_a_subscription_set_to_cancel_later_alike(
    client: Client, ledger_verified: None
) -> None:
    """The same subscription paid, set on March 2 to cancel at its period's end, its
    customer deleted on March 16 (Stripe: deleting a customer "immediately cancels any
    active subscriptions on the customer"): canceled as the `DELETE` above cancels it, the
    end it had scheduled no longer pending and `canceled_at` the deletion, not March 2."""
    customer_id, subscription_id = set_to_cancel_later(client)
    client.v1.customers.delete(customer_id)
    canceled = client.v1.subscriptions.retrieve(subscription_id)
    assert canceled.ended_at == utc(2027, 3, 16)
    assert ended_now(canceled) == ("canceled", None, False, utc(2027, 3, 16))


def as_proration(server: KassaServer, account: Account, invoice_item_id: str) -> None:
    """The pending invoice item made a proration, through Kassa's store: the state a change
    leaves, which no change during a trial can (a trial prorates nothing)."""

    async def work(store: Store) -> None:
        async with store.write() as tx:
            found = await tx.get_object(INVOICE_ITEMS, account.id, invoice_item_id)
            assert found is not None
            item = found[0]
            item["proration"] = True
            await tx.update_object(INVOICE_ITEMS, account.id, item)

    with_store(server.database_url, work)


def test_a_trial_ending_unpaid_into_cancel_drops_its_pending_prorations(
    server: KassaServer, client: Client, account: Account, ledger_verified: None
) -> None:
    """A trial with no payment method and `missing_payment_method=cancel`, a proration of
    its own pending: its end cancels the subscription as a `DELETE` sent nothing would, and
    the proration goes with it; the customer's other pending item stays."""
    clock_id, customer = cardless_customer(client)
    subscription = subscribe(
        client,
        customer.id,
        monthly_price(client).id,
        trial_period_days=TRIAL_DAYS,
        trial_settings=on_trial_end("cancel"),
    )
    proration = client.v1.invoice_items.create(
        params={
            "customer": customer.id,
            "amount": -700,
            "currency": "usd",
            "subscription": subscription.id,
        }
    )
    as_proration(server, account, proration.id)
    kept = other_pending_item(client, customer.id)
    assert [i.id for i in pending_of(client, customer.id)] == [proration.id, kept]
    advance(client, clock_id, TRIAL_END + DAY_SECONDS)
    ended = client.v1.subscriptions.retrieve(subscription.id)
    assert (ended.status, ended.ended_at) == ("canceled", TRIAL_END)
    assert [i.id for i in pending_of(client, customer.id)] == [kept]


def test_an_update_invoice_whose_retries_all_fail_cancels_the_subscription(
    client: Client, ledger_verified: None
) -> None:
    """An upgrade invoiced at once (`always_invoice`) on February 8, declined: `past_due`.
    Once its last retry has failed (3, 5 and 7 days on), dunning's final action runs as for
    a renewal (Stripe: "Once Stripe has exhausted all payment retry attempts, the
    subscription will become canceled or unpaid"): canceled, and the invoice no longer
    advances by itself (`auto_advance=false`)."""
    price = price_of(client, 3100)
    clock_id, customer = clock_customer(client, utc(2027, 2, 1))
    subscription = subscribe(client, customer.id, price.id)
    decline_renewals(client, customer.id)
    advance(client, clock_id, utc(2027, 2, 8))
    (item,) = subscription["items"].data
    updated = change(
        client,
        subscription.id,
        items=[{"id": item.id, "quantity": 3}],
        proration_behavior="always_invoice",
    )
    assert updated.status == "past_due"
    update_invoice = client.v1.invoices.retrieve(str(updated.latest_invoice))
    assert (update_invoice.billing_reason, update_invoice.status) == ("subscription_update", "open")
    last_retry = utc(2027, 2, 8) + sum(RETRY_AFTER_DAYS) * DAY_SECONDS
    advance(client, clock_id, last_retry + HOUR)
    ended = client.v1.subscriptions.retrieve(subscription.id)
    assert ended.status == "canceled"
    assert ended.cancellation_details is not None
    assert ended.cancellation_details.reason == "payment_failed"
    assert ended.canceled_at == last_retry
    stopped = client.v1.invoices.retrieve(update_invoice.id)
    assert (stopped.status, stopped.attempt_count, stopped.auto_advance) == (
        "open",
        1 + len(RETRY_AFTER_DAYS),
        False,
    )
