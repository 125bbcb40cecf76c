"""A subscription that ends as scheduled (`cancel_at_period_end`, or `cancel_at` reached) with
items still pending for it, through the SDK on a real `kassa serve` (SQLite and PostgreSQL)
driven by test clocks, and by the `invoices` job in real time: the prorations of its changes
(and items given to it) are collected on a final invoice when it ends, paid or sent as its
other invoices are; nothing is invoiced when nothing is pending; the customer's items that
name no subscription stay pending; a unit of the job rolled back and run again makes one
final invoice. The ledger whole after each. Its preview (`create_preview`) is that final
invoice, to the cent, or `invoice_upcoming_none` with nothing pending, whether the end is
scheduled or only previewed (`subscription_details[cancel_at_period_end]`, `[cancel_at]`).

Stripe's cancel docstring (stripe-python 16, `Subscription.cancel`): "If you've set the
subscription to cancel at the end of the period, any pending prorations will also be left in
place and collected at the end of the period."

Amounts are in whole days: 28.00 a month over the 28 days from January 31, 2027.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
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
    service_period,
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


# -- while collection is paused ----------------------------------------------------------------

PAUSED_STATUS = {"keep_as_draft": "draft", "mark_uncollectible": "uncollectible"}
"""What `pause_collection[behavior]` makes of an invoice made while collection is paused.
`void` would void it: the final invoice then takes nothing, and is not made (the pending
items stay pending for the customer's next invoice:
`test_subscription_pause.test_a_scheduled_end_under_a_void_pause_leaves_what_is_pending_to_the_customer`)."""


def charged_amounts(client: Client, customer_id: str) -> list[int]:
    charges = client.v1.charges.list(params={"customer": customer_id})
    return sorted(charge.amount for charge in charges.data)


@pytest.mark.parametrize("behavior", sorted(PAUSED_STATUS))
def test_a_final_invoice_made_while_collection_is_paused_is_not_collected(
    client: Client, ledger_verified: None, behavior: str
) -> None:
    """Collection paused (`pause_collection`), the final invoice is made when the period
    ends (the pending -1400 and +2800) and treated as a renewal's would be: kept a draft,
    or marked uncollectible; nothing charged but the first period's 2800."""
    clock_id, customer, subscription = upgraded_before_its_end(client)
    change(client, subscription.id, pause_collection={"behavior": behavior})
    advance(client, clock_id, PAST_THE_END)
    final = ended_with_final_invoice(client, subscription.id)
    assert (final.period_start, final.period_end) == (JAN_31_2027, FEB_28)
    assert proration_amounts(final) == [-1400, 2800]
    assert (final.status, final.total, final.amount_paid) == (PAUSED_STATUS[behavior], 1400, 0)
    assert (final.auto_advance, final.attempt_count) == (False, 0)
    assert charged_amounts(client, customer.id) == [2800]
    assert pending_of(client, customer.id) == []


def test_a_cancellation_invoicing_now_while_collection_is_paused_treats_its_invoice_alike(
    client: Client, ledger_verified: None
) -> None:
    """`invoice_now` on cancel makes the final invoice at once; collection paused with
    `mark_uncollectible`, it is marked uncollectible as the scheduled end's would be."""
    price = price_of(client, 2800)
    _, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    clock_id = str(subscription.test_clock)
    advance(client, clock_id, FEB_14)
    upgraded(client, subscription)  # 14 of 28 days left: -1400 and +2800 pending
    change(client, subscription.id, pause_collection={"behavior": "mark_uncollectible"})
    canceled = client.v1.subscriptions.cancel(subscription.id, params={"invoice_now": True})
    assert (canceled.status, canceled.ended_at) == ("canceled", FEB_14)
    final = client.v1.invoices.retrieve(str(canceled.latest_invoice))
    assert (final.billing_reason, final.period_end) == ("subscription_update", FEB_14)
    assert proration_amounts(final) == [-1400, 2800]
    assert (final.status, final.total, final.amount_paid) == ("uncollectible", 1400, 0)
    assert charged_amounts(client, customer.id) == [2800]


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


def real_time_customer(client: Client) -> stripe.Customer:
    """A customer on no test clock (its subscriptions run in real time), paying by card."""
    card = "pm_card_visa"
    params: Any = {"payment_method": card, "invoice_settings": {"default_payment_method": card}}
    return client.v1.customers.create(params=params)


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
    customer = real_time_customer(client)
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


def test_a_scheduled_end_the_job_reaches_late_ends_at_its_cancel_at(
    server: KassaServer, client: Client, ledger_verified: None
) -> None:
    """In real time the job polls, and a server down when the period ended runs it late
    (here a day): the subscription still ended at its `cancel_at` (the period's end), the
    final invoice's period ends there, as its preview said, and `canceled_at` stays when the
    cancellation was asked. Upgraded to two as of its period's start (`proration_date`), the
    whole period is prorated: -2800 and +5600 pending, 2800 owed."""
    price = price_of(client, 2800)
    customer = real_time_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    period_start, period_end = period_of(subscription)
    scheduled = change(client, subscription.id, cancel_at_period_end=True)
    assert scheduled.cancel_at == period_end and scheduled.canceled_at is not None
    upgraded(client, subscription, proration_date=period_start)
    assert [i.amount for i in pending_of(client, customer.id)] == [-2800, 5600]
    upcoming = preview(client, subscription.id)
    assert (upcoming.period_end, upcoming.total) == (period_end, 2800)
    late = period_end + DAY_SECONDS
    assert run_invoices_job_at(server, late) >= 1
    final = ended_with_final_invoice(client, subscription.id)
    assert (final.period_start, final.period_end) == (period_start, period_end)
    assert (final.status, final.total, final.amount_paid) == ("paid", 2800, 2800)
    ended = client.v1.subscriptions.retrieve(subscription.id)
    assert (ended.ended_at, ended.canceled_at) == (period_end, scheduled.canceled_at)
    assert pending_of(client, customer.id) == []


# -- its preview -------------------------------------------------------------------------------


def preview(client: Client, subscription_id: str, **details: Any) -> stripe.Invoice:
    """`create_preview` of the subscription, with `details` as `subscription_details`."""
    params: Any = {"subscription": subscription_id}
    if details:
        params["subscription_details"] = details
    return client.v1.invoices.create_preview(params=params)


def nothing_upcoming(client: Client, subscription_id: str, **details: Any) -> None:
    with pytest.raises(stripe.InvalidRequestError) as none:
        preview(client, subscription_id, **details)
    # Stripe's 404, which names no parameter.
    assert (none.value.http_status, none.value.code) == (404, "invoice_upcoming_none")
    assert none.value.param is None


def test_the_preview_of_a_subscription_canceling_at_period_end_is_its_final_invoice(
    client: Client, ledger_verified: None
) -> None:
    """Upgraded on February 14 with its end set for February 28: the upcoming invoice is
    the final one, the pending prorations (-1400 + 2800 = 1400) over the period it ends,
    nothing renewed; the one made at February 28 is the same to the cent."""
    clock_id, customer, subscription = upgraded_before_its_end(client)
    upcoming = preview(client, subscription.id)
    assert upcoming.billing_reason == "upcoming"
    assert (upcoming.period_start, upcoming.period_end) == (JAN_31_2027, FEB_28)
    assert proration_amounts(upcoming) == [-1400, 2800]
    assert (upcoming.total, upcoming.amount_due) == (1400, 1400)
    assert upcoming.parent is not None and upcoming.parent.subscription_details is not None
    assert upcoming.parent.subscription_details.subscription == subscription.id
    assert len(pending_of(client, customer.id)) == 2  # nothing taken by the preview
    advance(client, clock_id, PAST_THE_END)
    final = ended_with_final_invoice(client, subscription.id)
    assert (final.period_start, final.period_end) == (upcoming.period_start, upcoming.period_end)
    assert proration_amounts(final) == proration_amounts(upcoming)
    assert (final.total, final.amount_paid) == (upcoming.total, 1400)


def test_the_preview_of_a_subscription_reaching_its_cancel_at_is_its_final_invoice(
    client: Client, ledger_verified: None
) -> None:
    """`cancel_at` February 14 cuts its period short there; upgraded on February 7: the
    upcoming invoice is the final one, -700 + 1400 = 700 for January 31 to February 14."""
    clock_id, _, subscription = cut_on_february_14(client)
    advance(client, clock_id, utc(2027, 2, 7))
    upgraded(client, subscription)
    upcoming = preview(client, subscription.id)
    assert (upcoming.period_start, upcoming.period_end) == (JAN_31_2027, FEB_14)
    assert proration_amounts(upcoming) == [-700, 1400]
    assert upcoming.total == 700
    advance(client, clock_id, PAST_THE_END)
    final = ended_with_final_invoice(client, subscription.id)
    assert (final.period_start, final.period_end) == (JAN_31_2027, FEB_14)
    assert (final.total, final.amount_paid) == (upcoming.total, 700)


def test_a_subscription_ending_with_nothing_pending_has_no_upcoming_invoice(
    client: Client,
) -> None:
    """Set to cancel at its period's end, or cut short by `cancel_at`, upgraded without
    prorations: no final invoice will be made, so none is previewed."""
    price = price_of(client, 2800)
    clock_id, customer = clock_customer(client)
    at_period_end = subscribe(client, customer.id, price.id, cancel_at_period_end=True)
    at_cancel_at = subscribe(client, customer.id, price.id, cancel_at=FEB_14)
    advance(client, clock_id, utc(2027, 2, 7))
    for subscription in (at_period_end, at_cancel_at):
        upgraded(client, subscription, proration_behavior="none")
        nothing_upcoming(client, subscription.id)
    assert pending_of(client, customer.id) == []


def test_previewing_a_cancellation_at_period_end_shows_the_final_invoice_it_would_make(
    client: Client, ledger_verified: None
) -> None:
    """`subscription_details[cancel_at_period_end]=true` on a subscription upgraded on
    February 14 (-1400 and +2800 pending): the final invoice, not the renewal (-1400 + 2800
    + 5600); `cancel_at` inside the period, the same items up to it and the time after it
    credited. Then canceled at period end for real: its final invoice is the one previewed."""
    price = price_of(client, 2800)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    advance(client, clock_id, FEB_14)
    upgraded(client, subscription)
    renewal = preview(client, subscription.id)
    assert (renewal.total, service_period(renewal)[1]) == (7000, utc(2027, 3, 31))
    ending = preview(client, subscription.id, cancel_at_period_end=True)
    assert (ending.period_start, ending.period_end) == (JAN_31_2027, FEB_28)
    assert proration_amounts(ending) == [-1400, 2800]
    assert ending.total == 1400
    # `cancel_at` on February 21 cuts the upgraded period there too: its last 7 days at
    # 56.00 a month credited (-1400), as the update would (`fit_periods_to_end`).
    feb_21 = utc(2027, 2, 21)
    cut = preview(client, subscription.id, cancel_at=feb_21)
    assert (cut.period_start, cut.period_end, cut.total) == (JAN_31_2027, feb_21, 0)
    assert sorted(proration_amounts(cut)) == [-1400, -1400, 2800]
    assert client.v1.subscriptions.retrieve(subscription.id).cancel_at_period_end is False
    change(client, subscription.id, cancel_at_period_end=True)
    advance(client, clock_id, PAST_THE_END)
    final = ended_with_final_invoice(client, subscription.id)
    assert proration_amounts(final) == proration_amounts(ending)
    assert (final.total, final.amount_paid) == (ending.total, 1400)


def test_previewed_ends_with_nothing_pending_follow_the_same_rule(client: Client) -> None:
    """Nothing pending: a cancellation at period end previewed has no upcoming invoice, and
    one undone in the preview (`cancel_at_period_end=false`) shows the renewal again."""
    price = price_of(client, 2800)
    _, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    nothing_upcoming(client, subscription.id, cancel_at_period_end=True)
    change(client, subscription.id, cancel_at_period_end=True)
    nothing_upcoming(client, subscription.id)
    renewal = preview(client, subscription.id, cancel_at_period_end=False)
    assert service_period(renewal) == (FEB_28, utc(2027, 3, 31))
    assert [line.amount for line in renewal.lines.data] == [2800]
    assert client.v1.subscriptions.retrieve(subscription.id).cancel_at == FEB_28


def test_previewing_a_cleared_cancel_at_shows_the_renewal_the_update_then_makes(
    client: Client, ledger_verified: None
) -> None:
    """`cancel_at` February 14 cut the first period short (billed 1400); cleared in the
    preview on February 5, the period gets its end back, February 14 to 28 charged (+1400,
    pending), and the renewal on February 28 bills March (2800) with it: the invoice the
    same update, made for real, then gets."""
    clock_id, _, subscription = cut_on_february_14(client)
    advance(client, clock_id, utc(2027, 2, 5))
    upcoming = preview(client, subscription.id, cancel_at="")
    assert service_period(upcoming) == (FEB_28, utc(2027, 3, 31))
    assert sorted(line.amount for line in upcoming.lines.data) == [1400, 2800]
    change(client, subscription.id, cancel_at="")
    advance(client, clock_id, PAST_THE_END)
    renewal = invoices_of(client, subscription.id)[-1]
    assert renewal.billing_reason == "subscription_cycle"
    assert (renewal.total, renewal.amount_paid) == (upcoming.total, 4200)
