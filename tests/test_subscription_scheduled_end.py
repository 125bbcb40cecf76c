"""A subscription that ends as scheduled (`cancel_at_period_end`, or `cancel_at` reached) with
items still pending for it, through the SDK on a real `kassa serve` (SQLite and PostgreSQL)
driven by test clocks, and by the `invoices` job in real time: the prorations of its changes
(and items given to it) are collected on a final invoice when it ends, paid or sent as its
other invoices are; nothing is invoiced when nothing is pending; the customer's items that
name no subscription stay pending; a unit of the job rolled back and run again makes one
final invoice. The ledger whole after each.

Stripe's cancel docstring (stripe-python 16, `Subscription.cancel`): "If you've set the
subscription to cancel at the end of the period, any pending prorations will also be left in
place and collected at the end of the period."

Amounts are in whole days: 28.00 a month over the 28 days from January 31, 2027.
"""

from __future__ import annotations

import contextlib
from typing import Any

import stripe

from kassa import observers
from kassa.clock import DAY_SECONDS, FrozenClock
from kassa.config import Settings
from kassa.services import hooks
from kassa.services.billing.subscription_cycle import renew
from kassa.services.billing.subscription_documents import find
from kassa.services.context import Context
from kassa.services.setup import load_payment_config
from kassa.store import Store
from tests.direct_store import with_store
from tests.harness import Account, KassaServer
from tests.test_subscription_cancel_at import FEB_14, FEB_28, cut_on_february_14
from tests.test_subscription_changes import change, declining, only_item, pending_of
from tests.test_subscription_terms import price_of, utc
from tests.test_subscriptions import (
    JAN_31_2027,
    Client,
    advance,
    clock_customer,
    events_of,
    invoices_of,
    period_of,
    run_invoices_job_at,
    subscribe,
)

PAST_THE_END = utc(2027, 3, 2)
"""A day past February 28 and any hour an invoice could wait."""


def upgraded(client: Client, subscription: stripe.Subscription, **params: Any) -> None:
    """Two of the subscription's item from now on, the prorations left pending."""
    item = only_item(subscription)
    change(client, subscription.id, items=[{"id": item.id, "quantity": 2}], **params)


def upgraded_before_its_end(
    client: Client, **params: Any
) -> tuple[str, stripe.Customer, stripe.Subscription]:
    """A 28.00 monthly subscription from January 31, 2027 (created with `params`), set to
    cancel at the end of its period (February 28), and upgraded to two on February 14: 14
    of 28 days unused, -2800 * 14/28 = -1400 and +5600 * 14/28 = +2800 left pending. The
    clock, the customer, the subscription."""
    price = price_of(client, 2800)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id, **params)
    scheduled = change(client, subscription.id, cancel_at_period_end=True)
    assert scheduled.cancel_at == FEB_28
    advance(client, clock_id, FEB_14)
    upgraded(client, subscription)
    assert [i.amount for i in pending_of(client, customer.id)] == [-1400, 2800]
    return clock_id, customer, subscription


def proration_amounts(invoice: stripe.Invoice) -> list[int]:
    """The amounts of the invoice's lines, each a proration of a subscription item."""
    for line in invoice.lines.data:
        assert line.parent is not None and line.parent.subscription_item_details is not None
        assert line.parent.subscription_item_details.proration is True
    return sorted(line.amount for line in invoice.lines.data)


def ended_with_final_invoice(client: Client, subscription_id: str) -> stripe.Invoice:
    """The subscription, canceled at its scheduled end, and its final invoice: the second
    of its invoices and its latest, `billing_reason=subscription_cycle`."""
    ended = client.v1.subscriptions.retrieve(subscription_id)
    assert ended.status == "canceled"
    assert ended.cancellation_details is not None
    assert ended.cancellation_details.reason == "cancellation_requested"
    _, final = invoices_of(client, subscription_id)
    assert final.id == ended.latest_invoice
    assert final.billing_reason == "subscription_cycle"
    assert final.parent is not None and final.parent.subscription_details is not None
    assert final.parent.subscription_details.subscription == subscription_id
    assert events_of(client, subscription_id)[-1] == "customer.subscription.deleted"
    return final


# -- the final invoice -------------------------------------------------------------------------


def test_cancel_at_period_end_collects_the_pending_prorations_on_a_final_invoice(
    client: Client, ledger_verified: None
) -> None:
    clock_id, customer, subscription = upgraded_before_its_end(client)
    advance(client, clock_id, PAST_THE_END)
    final = ended_with_final_invoice(client, subscription.id)
    assert client.v1.subscriptions.retrieve(subscription.id).ended_at == FEB_28
    assert (final.period_start, final.period_end) == (JAN_31_2027, FEB_28)
    assert proration_amounts(final) == [-1400, 2800]
    assert (final.status, final.total, final.amount_paid) == ("paid", 1400, 1400)
    assert final.status_transitions.paid_at == FEB_28
    assert pending_of(client, customer.id) == []


def test_a_send_invoice_subscription_sends_its_final_invoice_due_as_its_others(
    client: Client, ledger_verified: None
) -> None:
    clock_id, _, subscription = upgraded_before_its_end(
        client, collection_method="send_invoice", days_until_due=30
    )
    advance(client, clock_id, PAST_THE_END)
    final = ended_with_final_invoice(client, subscription.id)
    assert proration_amounts(final) == [-1400, 2800]
    assert (final.status, final.collection_method, final.amount_remaining) == (
        "open",
        "send_invoice",
        1400,
    )
    assert final.status_transitions.finalized_at == FEB_28
    assert final.due_date == FEB_28 + 30 * DAY_SECONDS
    assert "invoice.sent" in events_of(client, final.id)


def test_a_cancel_at_reached_collects_the_pending_prorations_on_a_final_invoice(
    client: Client, ledger_verified: None
) -> None:
    """`cancel_at` at February 14 cuts the first period short there (billed 1400, 14 of 28
    days); an upgrade on February 7 leaves 7 of its 14 days to prorate."""
    clock_id, customer, subscription = cut_on_february_14(client)
    advance(client, clock_id, utc(2027, 2, 7))
    upgraded(client, subscription)
    # -1400 * 7/14 = -700, +2800 * 7/14 = +1400.
    assert [i.amount for i in pending_of(client, customer.id)] == [-700, 1400]
    advance(client, clock_id, PAST_THE_END)
    final = ended_with_final_invoice(client, subscription.id)
    assert client.v1.subscriptions.retrieve(subscription.id).ended_at == FEB_14
    assert (final.period_start, final.period_end) == (JAN_31_2027, FEB_14)
    assert proration_amounts(final) == [-700, 1400]
    assert (final.status, final.amount_paid) == ("paid", 700)
    assert pending_of(client, customer.id) == []


def test_a_declined_final_charge_leaves_the_invoice_open_and_the_subscription_canceled(
    client: Client, ledger_verified: None
) -> None:
    """The decline is recorded on the final invoice; the cancellation then stops its
    automatic collection, as it does for every open invoice of the subscription."""
    clock_id, customer, subscription = upgraded_before_its_end(client)
    declining(client, customer.id, subscription.id)
    advance(client, clock_id, PAST_THE_END)
    final = ended_with_final_invoice(client, subscription.id)
    assert (final.status, final.amount_remaining, final.attempt_count) == ("open", 1400, 1)
    assert (final.auto_advance, final.next_payment_attempt) == (False, None)
    assert "invoice.payment_failed" in events_of(client, final.id)


# -- only what the subscription left -----------------------------------------------------------


def test_a_subscription_ending_with_nothing_pending_gets_no_final_invoice(
    client: Client, ledger_verified: None
) -> None:
    """Two subscriptions of one customer end together, both upgraded: the one whose upgrade
    left prorations pending gets a final invoice, the one upgraded without any none."""
    price = price_of(client, 2800)
    clock_id, customer = clock_customer(client)
    prorated = subscribe(client, customer.id, price.id, cancel_at_period_end=True)
    unprorated = subscribe(client, customer.id, price.id, cancel_at_period_end=True)
    advance(client, clock_id, FEB_14)
    upgraded(client, prorated)
    upgraded(client, unprorated, proration_behavior="none")
    advance(client, clock_id, PAST_THE_END)
    assert proration_amounts(ended_with_final_invoice(client, prorated.id)) == [-1400, 2800]
    ended = client.v1.subscriptions.retrieve(unprorated.id)
    assert (ended.status, ended.ended_at) == ("canceled", FEB_28)
    assert len(invoices_of(client, unprorated.id)) == 1
    assert ended.latest_invoice == unprorated.latest_invoice


def test_the_customers_other_pending_items_stay_pending(
    client: Client, ledger_verified: None
) -> None:
    """An item given to the subscription is its own, collected with its prorations; one
    that names no subscription waits for the customer's next invoice."""
    clock_id, customer, subscription = upgraded_before_its_end(client)
    unrelated = client.v1.invoice_items.create(
        params={"customer": customer.id, "amount": 500, "currency": "usd"}
    )
    given = client.v1.invoice_items.create(
        params={
            "customer": customer.id,
            "amount": 900,
            "currency": "usd",
            "subscription": subscription.id,
        }
    )
    advance(client, clock_id, PAST_THE_END)
    final = ended_with_final_invoice(client, subscription.id)
    assert sorted(line.amount for line in final.lines.data) == [-1400, 900, 2800]
    assert client.v1.invoice_items.retrieve(given.id).invoice == final.id
    assert (final.status, final.amount_paid) == ("paid", 2300)
    assert [i.id for i in pending_of(client, customer.id)] == [unrelated.id]


# -- in real time ------------------------------------------------------------------------------


class _Crash(Exception):
    """Raised inside a unit of the renewal work, after its work: the unit rolls back whole,
    as a process killed before its commit would leave it."""


def crash_mid_renewal(
    server: KassaServer, account: Account, subscription_id: str, now: int
) -> None:
    """The subscription's renewal work at `now`, done in a unit that never commits."""
    hooks.install(observers.OBSERVERS)

    async def run(store: Store) -> None:
        payments = await load_payment_config(store, Settings(database_url=server.database_url))
        with contextlib.suppress(_Crash):
            async with store.write() as tx:
                ctx = Context(
                    account_id=account.id, tx=tx, clock=FrozenClock(now), payments=payments
                )
                subscription = await find(ctx, subscription_id)
                assert subscription is not None
                await renew(await ctx.governed_by(subscription), subscription)
                raise _Crash

    with_store(server.database_url, run)


def test_the_invoices_job_ends_it_with_one_final_invoice_even_run_again(
    server: KassaServer, account: Account, client: Client, ledger_verified: None
) -> None:
    price = price_of(client, 2800)
    customer = client.v1.customers.create(
        params={
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    subscription = subscribe(client, customer.id, price.id, cancel_at_period_end=True)
    upgraded(client, subscription)
    pending = pending_of(client, customer.id)
    owed = sum(i.amount for i in pending)
    assert len(pending) == 2 and owed > 0
    _, period_end = period_of(subscription)
    crash_mid_renewal(server, account, subscription.id, period_end + 1)
    assert len(invoices_of(client, subscription.id)) == 1
    assert client.v1.subscriptions.retrieve(subscription.id).status == "active"
    assert run_invoices_job_at(server, period_end + 1) >= 1
    run_invoices_job_at(server, period_end + 1)
    final = ended_with_final_invoice(client, subscription.id)
    assert sorted(line.amount for line in final.lines.data) == sorted(i.amount for i in pending)
    assert (final.status, final.amount_paid) == ("paid", owed)
    assert pending_of(client, customer.id) == []
