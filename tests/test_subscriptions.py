"""Subscriptions through the SDK on a real `kassa serve` (SQLite and PostgreSQL), driven by
test clocks: the first invoice paid at creation, trials, renewals at calendar month ends
clamped as Stripe clamps them, declines (incomplete, expired, past due and back), cancelation
now and at period end, the list's status filter, subscription items, and the ledger whole
after each."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import stripe

from kassa import observers
from kassa.clock import DAY_SECONDS, FrozenClock
from kassa.config import Settings
from kassa.services import hooks
from kassa.services.billing.invoice_advance import advance_due_invoices
from kassa.services.billing.invoice_collection import RETRY_AFTER_DAYS
from kassa.services.billing.subscription_cycle import renew_due_subscriptions
from kassa.services.setup import load_payment_config
from kassa.store import Store
from tests import loopback
from tests.direct_store import run_backfill, with_store
from tests.harness import Account, KassaServer, assert_ledger_whole, create_account

Client = stripe.StripeClient

HOUR = 3_600
JAN_31_2027 = int(dt.datetime(2027, 1, 31, 10, 0, tzinfo=dt.UTC).timestamp())
READY_WAIT_SECONDS = 60.0
READY_POLL_SECONDS = 0.05
DECLINING_CARD = "pm_card_chargeCustomerFail"
"""Attaches, then every charge is declined."""


def utc(year: int, month: int, day: int, hour: int = 10) -> int:
    return int(dt.datetime(year, month, day, hour, 0, tzinfo=dt.UTC).timestamp())


def monthly_price(client: Client, amount: int = 2000, currency: str = "usd") -> stripe.Price:
    return client.v1.prices.create(
        params={
            "currency": currency,
            "unit_amount": amount,
            "recurring": {"interval": "month"},
            "product_data": {"name": "Pro plan"},
        }
    )


def clock_customer(
    client: Client, frozen_time: int = JAN_31_2027, card: str = "pm_card_visa"
) -> tuple[str, stripe.Customer]:
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": frozen_time})
    customer = client.v1.customers.create(
        params={
            "test_clock": clock.id,
            "payment_method": card,
            "invoice_settings": {"default_payment_method": card},
        }
    )
    return clock.id, customer


def subscribe(
    client: Client, customer_id: str, price_id: str, **params: Any
) -> stripe.Subscription:
    create: Any = {"customer": customer_id, "items": [{"price": price_id}], **params}
    return client.v1.subscriptions.create(params=create)


def advance(client: Client, clock_id: str, to: int) -> None:
    client.v1.test_helpers.test_clocks.advance(clock_id, params={"frozen_time": to})
    deadline = time.monotonic() + READY_WAIT_SECONDS
    while time.monotonic() < deadline:
        clock = client.v1.test_helpers.test_clocks.retrieve(clock_id)
        if clock.status == "ready":
            return
        assert clock.status == "advancing", clock
        time.sleep(READY_POLL_SECONDS)
    raise AssertionError(f"test clock {clock_id} still advancing")


def invoices_of(client: Client, subscription_id: str) -> list[stripe.Invoice]:
    """The subscription's invoices, oldest first."""
    listed = client.v1.invoices.list(params={"subscription": subscription_id, "limit": 100})
    return list(listed.auto_paging_iter())[::-1]


def period_of(subscription: stripe.Subscription) -> tuple[int, int]:
    (item,) = subscription["items"].data
    return item.current_period_start, item.current_period_end


def service_period(invoice: stripe.Invoice) -> tuple[int, int]:
    """The service time the invoice bills: from the earliest start to the latest end of its
    lines for the subscription's items (not prorations). Not the invoice's own
    `period_start`/`period_end`, which look back on the usage period before it (Stripe's
    Invoice reference: "This looks back one period for a subscription invoice. Use the line
    item period to get the service period for each price.")."""
    periods = [
        (line.period.start, line.period.end)
        for line in invoice.lines.data
        if line.parent is not None
        and line.parent.subscription_item_details is not None
        and not line.parent.subscription_item_details.proration
    ]
    assert periods, f"{invoice.id} bills no subscription item"
    return min(p[0] for p in periods), max(p[1] for p in periods)


def events_of(client: Client, object_id: str) -> list[str]:
    found = [
        str(e.type)
        for e in client.v1.events.list(params={"limit": 100}).auto_paging_iter()
        if e.data.object.to_dict().get("id") == object_id
    ]
    return found[::-1]


# -- creating -----------------------------------------------------------------------------


def test_a_subscription_starts_active_with_its_first_invoice_paid(
    client: Client, ledger_verified: None
) -> None:
    price = monthly_price(client)
    _, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id, metadata={"plan": "pro"})
    assert subscription.id.startswith("sub_")
    assert (subscription.status, subscription.customer) == ("active", customer.id)
    assert subscription.billing_cycle_anchor == JAN_31_2027
    assert subscription.billing_mode.type == "flexible"
    assert period_of(subscription) == (JAN_31_2027, utc(2027, 2, 28))
    (item,) = subscription["items"].data
    assert (item.price.id, item.quantity, item.plan.id) == (price.id, 1, price.id)
    invoice = client.v1.invoices.retrieve(str(subscription.latest_invoice))
    assert (invoice.status, invoice.amount_paid, invoice.billing_reason) == (
        "paid",
        2000,
        "subscription_create",
    )
    assert invoice.parent is not None
    assert invoice.parent.subscription_details is not None
    assert invoice.parent.subscription_details.subscription == subscription.id
    (line,) = invoice.lines.data
    assert line.parent is not None
    assert line.parent.type == "subscription_item_details"
    assert line.parent.subscription_item_details is not None
    assert line.parent.subscription_item_details.subscription_item == item.id
    assert (line.period.start, line.period.end) == (JAN_31_2027, utc(2027, 2, 28))
    assert "customer.subscription.created" in events_of(client, subscription.id)
    assert client.v1.subscriptions.retrieve(subscription.id).to_dict() == subscription.to_dict()


def customer_updates(client: Client, customer_id: str) -> list[dict[str, Any]]:
    """The `previous_attributes` of the customer's `customer.updated` events, oldest first."""
    listed = client.v1.events.list(params={"type": "customer.updated", "limit": 100})
    return [
        dict(e.data.to_dict().get("previous_attributes") or {})
        for e in list(listed.auto_paging_iter())[::-1]
        if e.data.object.to_dict().get("id") == customer_id
    ]


@pytest.mark.parametrize("trial", [False, True])
def test_the_first_subscription_sets_the_customers_currency_once(
    client: Client, trial: bool
) -> None:
    # Stripe: `currency` is "the currency the customer can be charged in for recurring
    # billing purposes", set by its first subscription or invoice, its balance untouched.
    price = monthly_price(client, currency="eur")
    clock_id, customer = clock_customer(client)
    assert customer.currency is None
    params: Any = {"trial_period_days": 3} if trial else {}
    subscribe(client, customer.id, price.id, **params)
    after = client.v1.customers.retrieve(customer.id)
    assert (after.currency, after.balance) == ("eur", 0)
    assert [u for u in customer_updates(client, customer.id) if "currency" in u] == [
        {"currency": None}
    ]
    advance(client, clock_id, utc(2027, 3, 1))
    assert client.v1.customers.retrieve(customer.id).currency == "eur"
    assert [u for u in customer_updates(client, customer.id) if "currency" in u] == [
        {"currency": None}
    ]


def test_renewals_fall_on_month_ends_clamped_from_the_anchor(
    client: Client, ledger_verified: None
) -> None:
    price = monthly_price(client, 1500)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(
        client, customer.id, price.id, items=[{"price": price.id, "quantity": 2}]
    )
    advance(client, clock_id, utc(2027, 6, 1))
    renewed = client.v1.subscriptions.retrieve(subscription.id)
    assert renewed.status == "active"
    assert period_of(renewed) == (utc(2027, 5, 31), utc(2027, 6, 30))
    invoices = invoices_of(client, subscription.id)
    # Each invoice's own period ends when it is made (it looks back on the usage period
    # before, Stripe: "This looks back one period for a subscription invoice"): the first
    # one at creation, each renewal at its period's start.
    starts = [i.period_end for i in invoices]
    assert starts == [
        JAN_31_2027,
        utc(2027, 2, 28),
        utc(2027, 3, 31),
        utc(2027, 4, 30),
        utc(2027, 5, 31),
    ]
    assert [i.billing_reason for i in invoices[1:]] == ["subscription_cycle"] * 4
    assert all((i.status, i.amount_paid) == ("paid", 3000) for i in invoices)
    # A renewal's invoice is finalized and charged an hour after its period begins.
    assert [i.status_transitions.paid_at for i in invoices[1:]] == [s + HOUR for s in starts[1:]]


def test_a_renewal_draft_says_before_it_is_finalized_what_made_its_line(client: Client) -> None:
    price = monthly_price(client)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    advance(client, clock_id, utc(2027, 2, 28) + 60)
    renewed = client.v1.subscriptions.retrieve(subscription.id)
    draft = client.v1.invoices.retrieve(str(renewed.latest_invoice))
    assert (draft.status, draft.billing_reason) == ("draft", "subscription_cycle")
    (line,) = draft.lines.data
    assert line.parent is not None
    assert line.parent.type == "subscription_item_details"
    assert line.subscription == subscription.id


def test_a_trial_is_free_then_the_first_period_is_billed_at_its_end(
    client: Client, ledger_verified: None
) -> None:
    price = monthly_price(client)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id, trial_period_days=14)
    trial_end = JAN_31_2027 + 14 * DAY_SECONDS
    assert (subscription.status, subscription.trial_start, subscription.trial_end) == (
        "trialing",
        JAN_31_2027,
        trial_end,
    )
    first = client.v1.invoices.retrieve(str(subscription.latest_invoice))
    assert (first.status, first.amount_due) == ("paid", 0)
    advance(client, clock_id, trial_end + 2 * HOUR)
    (notice,) = client.v1.events.list(params={"type": "customer.subscription.trial_will_end"}).data
    assert notice.created == trial_end - 3 * DAY_SECONDS
    assert notice.data.object.to_dict()["id"] == subscription.id
    after = client.v1.subscriptions.retrieve(subscription.id)
    assert after.status == "active"
    assert after.billing_cycle_anchor == trial_end
    assert period_of(after)[0] == trial_end
    billed = client.v1.invoices.retrieve(str(after.latest_invoice))
    assert (billed.status, billed.amount_paid, billed.billing_reason) == (
        "paid",
        2000,
        "subscription_cycle",
    )


# -- when payments fail -------------------------------------------------------------------


def test_a_trial_shorter_than_three_days_announces_its_end_at_once(client: Client) -> None:
    price = monthly_price(client)
    _, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id, trial_period_days=2)
    kinds = events_of(client, subscription.id)
    assert kinds[-2:] == ["customer.subscription.created", "customer.subscription.trial_will_end"]


def test_a_declined_first_payment_leaves_it_incomplete_until_paid(
    client: Client, ledger_verified: None
) -> None:
    price = monthly_price(client)
    _, customer = clock_customer(client, card=DECLINING_CARD)
    subscription = subscribe(client, customer.id, price.id)
    assert subscription.status == "incomplete"
    invoice = client.v1.invoices.retrieve(str(subscription.latest_invoice))
    assert (invoice.status, invoice.attempt_count) == ("open", 1)
    client.v1.invoices.pay(invoice.id, params={"payment_method": "pm_card_visa"})
    assert client.v1.subscriptions.retrieve(subscription.id).status == "active"


def test_an_incomplete_subscription_expires_after_23_hours(client: Client) -> None:
    price = monthly_price(client)
    clock_id, customer = clock_customer(client, card=DECLINING_CARD)
    subscription = subscribe(client, customer.id, price.id)
    advance(client, clock_id, JAN_31_2027 + 24 * HOUR)
    expired = client.v1.subscriptions.retrieve(subscription.id)
    assert (expired.status, expired.ended_at) == ("incomplete_expired", JAN_31_2027 + 23 * HOUR)
    # Expiring cancels it: Stripe's `incomplete_expired` subscriptions carry `canceled_at`.
    assert expired.canceled_at == JAN_31_2027 + 23 * HOUR
    assert client.v1.invoices.retrieve(str(expired.latest_invoice)).status == "void"


def test_the_declined_first_invoice_of_an_incomplete_subscription_is_not_retried(
    client: Client, ledger_verified: None
) -> None:
    """Its customer has 23 hours to pay it before it is voided: no dunning retry is
    scheduled (`next_payment_attempt` null), nor set by a failed `pay`, and none is made."""
    price = monthly_price(client)
    clock_id, customer = clock_customer(client, card=DECLINING_CARD)
    subscription = subscribe(client, customer.id, price.id)
    invoice = client.v1.invoices.retrieve(str(subscription.latest_invoice))
    assert (subscription.status, invoice.status, invoice.attempt_count) == ("incomplete", "open", 1)
    assert invoice.next_payment_attempt is None
    with pytest.raises(stripe.CardError):
        client.v1.invoices.pay(invoice.id)
    assert client.v1.invoices.retrieve(invoice.id).next_payment_attempt is None
    advance(client, clock_id, JAN_31_2027 + 22 * HOUR)
    waiting = client.v1.invoices.retrieve(invoice.id)
    assert (waiting.status, waiting.attempt_count, waiting.next_payment_attempt) == (
        "open",
        1,
        None,
    )
    advance(client, clock_id, JAN_31_2027 + 10 * DAY_SECONDS)
    voided = client.v1.invoices.retrieve(invoice.id)
    assert (voided.status, voided.attempt_count) == ("void", 1)
    failed = client.v1.events.list(params={"type": "invoice.payment_failed"}).data
    told = [e.data.object.to_dict() for e in failed]
    mine = [shown["next_payment_attempt"] for shown in told if shown["id"] == invoice.id]
    assert mine == [None, None]


def test_error_if_incomplete_answers_402_and_keeps_nothing(client: Client) -> None:
    price = monthly_price(client)
    _, customer = clock_customer(client, card=DECLINING_CARD)
    with pytest.raises(stripe.CardError) as raised:
        subscribe(client, customer.id, price.id, payment_behavior="error_if_incomplete")
    assert raised.value.http_status == 402
    listed = client.v1.subscriptions.list(params={"customer": customer.id, "status": "all"})
    assert listed.data == []


def test_a_declined_renewal_makes_it_past_due_and_paying_makes_it_active(
    client: Client, ledger_verified: None
) -> None:
    price = monthly_price(client)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    declining = client.v1.payment_methods.attach(DECLINING_CARD, params={"customer": customer.id})
    client.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": declining.id}}
    )
    advance(client, clock_id, utc(2027, 2, 28) + 2 * HOUR)
    past_due = client.v1.subscriptions.retrieve(subscription.id)
    assert past_due.status == "past_due"
    renewal = client.v1.invoices.retrieve(str(past_due.latest_invoice))
    assert (renewal.status, renewal.attempt_count) == ("open", 1)
    # Finalized by automatic collection and charged in the same step: its first attempt
    # was then, not an hour on.
    finalized = [
        event.data.object
        for event in client.v1.events.list(params={"type": "invoice.finalized"}).data
        if event.data.object["id"] == renewal.id
    ]
    assert [o["next_payment_attempt"] for o in finalized] == [
        renewal.status_transitions.finalized_at
    ]
    client.v1.invoices.pay(renewal.id, params={"payment_method": "pm_card_visa"})
    assert client.v1.subscriptions.retrieve(subscription.id).status == "active"


# -- ending ----------------------------------------------------------------------------------


def test_canceling_now_ends_it_and_the_default_list_leaves_it_out(client: Client) -> None:
    price = monthly_price(client)
    _, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    canceled = client.v1.subscriptions.cancel(
        subscription.id, params={"cancellation_details": {"feedback": "too_expensive"}}
    )
    assert (canceled.status, canceled.canceled_at, canceled.ended_at) == (
        "canceled",
        JAN_31_2027,
        JAN_31_2027,
    )
    assert canceled.cancellation_details is not None
    assert canceled.cancellation_details.reason == "cancellation_requested"
    assert canceled.cancellation_details.feedback == "too_expensive"
    assert events_of(client, subscription.id)[-1] == "customer.subscription.deleted"
    assert client.v1.subscriptions.list(params={"customer": customer.id}).data == []
    every = client.v1.subscriptions.list(params={"customer": customer.id, "status": "all"})
    assert [s.id for s in every.data] == [subscription.id]
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.cancel(subscription.id)
    # Ended, it keeps only its metadata changeable.
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.update(subscription.id, params={"cancel_at_period_end": True})
    noted = client.v1.subscriptions.update(subscription.id, params={"metadata": {"why": "price"}})
    assert (noted.status, noted.metadata.to_dict()) == ("canceled", {"why": "price"})


def test_cancel_at_period_end_ends_it_when_the_period_does(client: Client) -> None:
    price = monthly_price(client)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    updated = client.v1.subscriptions.update(subscription.id, params={"cancel_at_period_end": True})
    assert (updated.cancel_at_period_end, updated.cancel_at) == (True, utc(2027, 2, 28))
    advance(client, clock_id, utc(2027, 3, 15))
    ended = client.v1.subscriptions.retrieve(subscription.id)
    assert (ended.status, ended.ended_at) == ("canceled", utc(2027, 2, 28))
    assert len(invoices_of(client, subscription.id)) == 1


def test_cancel_at_period_end_records_the_feedback_sent_with_it(client: Client) -> None:
    """Stripe's update takes `cancellation_details` (`comment`, `feedback`), the way to record
    why when scheduling the end: the reason is `cancellation_requested` from that request on
    (with `canceled_at`), and the end keeps all three. A canceled subscription may still
    change them (sent empty: cleared), as it may its metadata; its reason stays."""
    price = monthly_price(client)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    details: Any = {"comment": "bye", "feedback": "too_expensive"}
    scheduled = client.v1.subscriptions.update(
        subscription.id, params={"cancel_at_period_end": True, "cancellation_details": details}
    )
    asked = {**details, "reason": "cancellation_requested"}
    assert scheduled.cancellation_details is not None
    assert scheduled.cancellation_details.to_dict() == asked
    assert (scheduled.canceled_at, scheduled.cancel_at) == (JAN_31_2027, utc(2027, 2, 28))
    advance(client, clock_id, utc(2027, 3, 15))
    ended = client.v1.subscriptions.retrieve(subscription.id)
    assert ended.status == "canceled"
    assert ended.cancellation_details is not None
    assert ended.cancellation_details.to_dict() == asked
    later: Any = {"comment": "", "feedback": "switched_service"}
    noted = client.v1.subscriptions.update(subscription.id, params={"cancellation_details": later})
    assert noted.cancellation_details is not None
    assert noted.cancellation_details.to_dict() == {
        "comment": None,
        "feedback": "switched_service",
        "reason": "cancellation_requested",
    }


def test_an_end_unscheduled_has_no_reason_and_keeps_the_feedback(client: Client) -> None:
    """`cancel_at_period_end=false` (or `cancel_at` sent empty) takes the end back: no reason,
    no `canceled_at`; the comment and feedback stay (Stripe's docs say nothing of them), and a
    later cancellation without details keeps them."""
    price = monthly_price(client)
    _, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    client.v1.subscriptions.update(
        subscription.id,
        params={"cancel_at": utc(2027, 2, 10), "cancellation_details": {"comment": "maybe"}},
    )
    kept = client.v1.subscriptions.update(subscription.id, params={"cancel_at": ""})
    assert (kept.cancel_at, kept.canceled_at) == (None, None)
    assert kept.cancellation_details is not None
    assert kept.cancellation_details.to_dict() == {
        "comment": "maybe",
        "feedback": None,
        "reason": None,
    }
    canceled = client.v1.subscriptions.cancel(subscription.id)
    assert canceled.cancellation_details is not None
    assert (canceled.cancellation_details.comment, canceled.cancellation_details.reason) == (
        "maybe",
        "cancellation_requested",
    )


def test_an_unknown_feedback_on_update_is_a_400_naming_it(client: Client) -> None:
    price = monthly_price(client)
    _, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.subscriptions.update(
            subscription.id, params={"cancellation_details": {"feedback": "meh"}}
        )
    assert raised.value.param == "cancellation_details[feedback]"


def trial_price(client: Client, days: int = 5, amount: int = 2000) -> stripe.Price:
    """A monthly price whose plan has a trial of `days` (`recurring[trial_period_days]`)."""
    return client.v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount": amount,
            "recurring": {"interval": "month", "trial_period_days": days},
            "product_data": {"name": "Trial plan"},
        }
    )


def test_trial_from_plan_starts_the_trial_its_price_has(client: Client) -> None:
    """`trial_from_plan=true`: the trial of the prices' `trial_period_days` (the longest of
    several), as `trial_period_days` would start it; none if no price has one, and
    `trial_from_plan=false` (the default) applies none."""
    five, seven = trial_price(client, 5), trial_price(client, 7, amount=500)
    _, customer = clock_customer(client)
    trialing = subscribe(client, customer.id, five.id, trial_from_plan=True)
    assert (trialing.status, trialing.trial_start, trialing.trial_end) == (
        "trialing",
        JAN_31_2027,
        JAN_31_2027 + 5 * DAY_SECONDS,
    )
    assert trialing.billing_cycle_anchor == JAN_31_2027 + 5 * DAY_SECONDS
    both: Any = {
        "customer": customer.id,
        "items": [{"price": five.id}, {"price": seven.id}],
        "trial_from_plan": True,
    }
    longest = client.v1.subscriptions.create(params=both)
    assert longest.trial_end == JAN_31_2027 + 7 * DAY_SECONDS
    plain = subscribe(client, customer.id, monthly_price(client).id, trial_from_plan=True)
    assert (plain.status, plain.trial_end) == ("active", None)
    declined = subscribe(client, customer.id, five.id, trial_from_plan=False)
    assert (declined.status, declined.trial_end) == ("active", None)


@pytest.mark.parametrize(
    "other", [{"trial_end": str(JAN_31_2027 + DAY_SECONDS)}, {"trial_period_days": 3}]
)
def test_trial_from_plan_with_another_trial_is_a_400_naming_it(
    client: Client, other: dict[str, Any]
) -> None:
    price = trial_price(client)
    _, customer = clock_customer(client)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        subscribe(client, customer.id, price.id, trial_from_plan=True, **other)
    assert raised.value.param == "trial_from_plan"
    subscription = subscribe(client, customer.id, price.id)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.subscriptions.update(
            subscription.id,
            params={"trial_from_plan": True, "trial_end": JAN_31_2027 + DAY_SECONDS},
        )
    assert raised.value.param == "trial_from_plan"


def test_trial_from_plan_on_update_adds_the_trial_of_the_items_as_changed(
    client: Client,
) -> None:
    """On update, the trial of the prices the subscription has after it (a price swapped in
    here), added to the active subscription as `trial_end` adds one; a canceled
    subscription refuses it."""
    price = monthly_price(client)
    _, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    (item,) = subscription["items"].data
    five = trial_price(client, 5)
    changed = client.v1.subscriptions.update(
        subscription.id,
        params={"items": [{"id": item.id, "price": five.id}], "trial_from_plan": True},
    )
    assert (changed.status, changed.trial_start, changed.trial_end) == (
        "trialing",
        JAN_31_2027,
        JAN_31_2027 + 5 * DAY_SECONDS,
    )
    client.v1.subscriptions.cancel(subscription.id)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.update(subscription.id, params={"trial_from_plan": True})


# -- the rest -----------------------------------------------------------------------------


def test_search_by_status_and_metadata(client: Client) -> None:
    price = monthly_price(client)
    _, customer = clock_customer(client)
    kept = subscribe(client, customer.id, price.id, metadata={"tier": "gold"})
    ended = subscribe(client, customer.id, price.id, metadata={"tier": "gold"})
    client.v1.subscriptions.cancel(ended.id)
    found = client.v1.subscriptions.search(
        params={"query": "status:'active' AND metadata['tier']:'gold'"}
    )
    assert [s.id for s in found.data] == [kept.id]
    assert "_kassa" not in found.data[0].to_dict()
    canceled_at = client.v1.subscriptions.retrieve(ended.id).canceled_at
    assert canceled_at is not None
    for query in (f"canceled_at:{canceled_at}", f"canceled_at>={canceled_at - 1}"):
        found = client.v1.subscriptions.search(params={"query": query})
        assert [s.id for s in found.data] == [ended.id], query
    found = client.v1.subscriptions.search(params={"query": "canceled_at:null"})
    assert [s.id for s in found.data] == [kept.id]


def test_invoices_are_searched_by_their_subscription(client: Client) -> None:
    """Stripe's `subscription` query field: the invoice's `parent.subscription_details`
    (API 2026-10-28 has no top-level `subscription` on an invoice)."""
    price = monthly_price(client)
    _, customer = clock_customer(client)
    first = subscribe(client, customer.id, price.id)
    second = subscribe(client, customer.id, price.id)
    invoice_id = first.latest_invoice
    assert isinstance(invoice_id, str)
    found = client.v1.invoices.search(params={"query": f'subscription:"{first.id}"'})
    assert [i.id for i in found.data] == [invoice_id]
    found = client.v1.invoices.search(params={"query": f'-subscription:"{first.id}"'})
    assert [i.id for i in found.data] == [second.latest_invoice]


def test_a_customer_expands_its_current_subscriptions(client: Client) -> None:
    price = monthly_price(client)
    _, customer = clock_customer(client)
    current = subscribe(client, customer.id, price.id)
    ended = subscribe(client, customer.id, price.id)
    client.v1.subscriptions.cancel(ended.id)
    expanded = client.v1.customers.retrieve(customer.id, params={"expand": ["subscriptions"]})
    nested = expanded.to_dict()["subscriptions"]
    assert [s["id"] for s in nested["data"]] == [current.id]
    assert nested["url"] == f"/v1/customers/{customer.id}/subscriptions"
    assert "_kassa" not in nested["data"][0]


def test_the_expanded_subscriptions_count_past_the_first_page(client: Client) -> None:
    """Stripe embeds the newest 10, and `total_count` counts every current subscription."""
    price = monthly_price(client)
    _, customer = clock_customer(client)
    made = [subscribe(client, customer.id, price.id).id for _ in range(12)]
    client.v1.subscriptions.cancel(made[0])  # ended: neither embedded nor counted
    expanded = client.v1.customers.retrieve(customer.id, params={"expand": ["subscriptions"]})
    nested = expanded.to_dict()["subscriptions"]
    assert [s["id"] for s in nested["data"]] == made[:1:-1]
    assert (nested["has_more"], nested["total_count"]) == (True, 11)


def test_subscription_items_are_their_own_resource(client: Client) -> None:
    price = monthly_price(client)
    _, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    (item,) = subscription["items"].data
    listed = client.v1.subscription_items.list(params={"subscription": subscription.id})
    assert [i.id for i in listed.data] == [item.id]
    assert client.v1.subscription_items.retrieve(item.id).to_dict() == item.to_dict()


def test_send_invoice_subscriptions_are_active_with_their_invoice_sent(client: Client) -> None:
    price = monthly_price(client)
    _, customer = clock_customer(client)
    subscription = subscribe(
        client, customer.id, price.id, collection_method="send_invoice", days_until_due=30
    )
    assert subscription.status == "active"
    invoice = client.v1.invoices.retrieve(str(subscription.latest_invoice))
    assert (invoice.status, invoice.collection_method) == ("open", "send_invoice")
    assert invoice.due_date == JAN_31_2027 + 30 * DAY_SECONDS


def test_refusals_name_the_parameter(client: Client) -> None:
    price = monthly_price(client)
    _, customer = clock_customer(client)
    one_time = client.v1.prices.create(
        params={"currency": "usd", "unit_amount": 500, "product_data": {"name": "Setup"}}
    )
    euro = monthly_price(client, currency="eur")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"customer": customer.id}, "items"),
        ({"customer": customer.id, "items": [{"price": one_time.id}]}, "items[0][price]"),
        (
            {"customer": customer.id, "items": [{"price": price.id}, {"price": euro.id}]},
            "items[1][price]",
        ),
        ({"customer": customer.id, "items": [{"price": "price_nope"}]}, "items[0][price]"),
        (
            {"customer": customer.id, "items": [{"price": price.id}], "trial_end": "soon"},
            "trial_end",
        ),
        (
            {
                "customer": customer.id,
                "items": [{"price": price.id}],
                "default_payment_method": "pm_nope",
            },
            "default_payment_method",
        ),
    ]
    for params, param in cases:
        with pytest.raises(stripe.InvalidRequestError) as raised:
            client.v1.subscriptions.create(params=params)  # type: ignore[arg-type]
        assert raised.value.param == param, (params, raised.value)
    every: Any = {"customer": customer.id, "status": "all"}
    assert client.v1.subscriptions.list(params=every).data == []


# -- in real time, the `invoices` job -------------------------------------------------------


def run_invoices_job_at(server: KassaServer, now: float) -> int:
    """What the `invoices` job does first, run once in this process at `now`: the
    subscriptions whose period has ended renew (then their drafts advance as invoices do)."""
    hooks.install(observers.OBSERVERS)

    async def run(store: Store) -> int:
        payments = await load_payment_config(store, Settings(database_url=server.database_url))
        renewed = await renew_due_subscriptions(store, FrozenClock(now), payments)
        await advance_due_invoices(store, FrozenClock(now + 2 * HOUR), payments)
        return renewed

    return with_store(server.database_url, run)


def test_without_a_test_clock_the_invoices_job_renews_in_real_time(
    server: KassaServer, client: Client, ledger_verified: None
) -> None:
    price = monthly_price(client)
    customer = client.v1.customers.create(
        params={
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    subscription = subscribe(client, customer.id, price.id)
    _, period_end = period_of(subscription)
    # The job works on the whole database, which other tests' subscriptions share: what it
    # did to this one is what counts.
    run_invoices_job_at(server, period_end - 1)
    assert len(invoices_of(client, subscription.id)) == 1
    assert run_invoices_job_at(server, period_end + 1) >= 1
    renewed = client.v1.subscriptions.retrieve(subscription.id)
    assert period_of(renewed)[0] == period_end
    invoice = client.v1.invoices.retrieve(str(renewed.latest_invoice))
    assert (invoice.billing_reason, invoice.status, invoice.amount_paid) == (
        "subscription_cycle",
        "paid",
        2000,
    )
    # Done once: the same instant again renews nothing.
    run_invoices_job_at(server, period_end + 1)
    assert len(invoices_of(client, subscription.id)) == 2


# -- after the last retry -------------------------------------------------------------------


def decline_renewals(client: Client, customer_id: str) -> None:
    """From now on the customer's default card declines."""
    declining = client.v1.payment_methods.attach(DECLINING_CARD, params={"customer": customer_id})
    client.v1.customers.update(
        customer_id, params={"invoice_settings": {"default_payment_method": declining.id}}
    )


def test_by_default_a_renewal_whose_retries_all_fail_cancels_the_subscription(
    client: Client, ledger_verified: None
) -> None:
    price = monthly_price(client)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    decline_renewals(client, customer.id)
    advance(client, clock_id, utc(2027, 2, 28) + 20 * DAY_SECONDS)
    ended = client.v1.subscriptions.retrieve(subscription.id)
    assert ended.status == "canceled"
    assert ended.cancellation_details is not None
    assert ended.cancellation_details.reason == "payment_failed"
    renewal = client.v1.invoices.retrieve(str(ended.latest_invoice))
    assert (renewal.status, renewal.attempt_count, renewal.next_payment_attempt) == (
        "open",
        1 + len(RETRY_AFTER_DAYS),
        None,
    )
    # The last retry's failure ends it: 1 h after the period began, then 3, 5 and 7 days on.
    assert ended.canceled_at == utc(2027, 2, 28) + HOUR + sum(RETRY_AFTER_DAYS) * DAY_SECONDS


def dunned_out(client: Client) -> tuple[str, stripe.Customer, stripe.Subscription]:
    """A subscription from January 31 whose February 28 renewal is declined, the clock past
    its last retry (March 20): the clock, the customer, the subscription as created."""
    price = monthly_price(client)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    decline_renewals(client, customer.id)
    advance(client, clock_id, utc(2027, 2, 28) + 20 * DAY_SECONDS)
    return clock_id, customer, subscription


def test_the_final_action_can_mark_it_unpaid_and_the_invoice_uncollectible(
    private_database_url: str, tmp_path: Path
) -> None:
    settings = {
        "KASSA_SUBSCRIPTION_FINAL_ACTION": "unpaid",
        "KASSA_SUBSCRIPTION_FINAL_INVOICE": "uncollectible",
    }
    server = KassaServer(private_database_url, tmp_path / "kassa.log", settings).start()
    try:
        client = server.client(create_account(private_database_url).secret_key)
        _, customer, subscription = dunned_out(client)
        unpaid = client.v1.subscriptions.retrieve(subscription.id)
        assert unpaid.status == "unpaid"
        renewal = client.v1.invoices.retrieve(str(unpaid.latest_invoice))
        assert renewal.status == "uncollectible"
        # Stripe's reason for dunning's mark (`Invoice.StatusDetails.Uncollectible`).
        assert renewal.status_details is not None
        assert renewal.status_details.uncollectible is not None
        assert renewal.status_details.uncollectible.reason == "max_payment_attempts"
        # Delinquent since the first automatic attempt failed; dunning's mark leaves it so
        # (`Customer.delinquent`), and paying the invoice clears it with its status details.
        assert client.v1.customers.retrieve(customer.id).delinquent is True
        paid = client.v1.invoices.pay(renewal.id, params={"payment_method": "pm_card_visa"})
        assert (paid.status, paid.amount_paid, paid.status_details) == ("paid", 2000, None)
        assert client.v1.customers.retrieve(customer.id).delinquent is False
        assert_ledger_whole(private_database_url)
    finally:
        server.stop()


def test_each_failed_renewal_attempt_emails_the_customer(
    server: KassaServer, client: Client, account: Account
) -> None:
    price = monthly_price(client)
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": JAN_31_2027})
    customer = client.v1.customers.create(
        params={
            "email": "dunning@example.com",
            "test_clock": clock.id,
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    subscription = subscribe(client, customer.id, price.id)
    decline_renewals(client, customer.id)
    first_retry = utc(2027, 2, 28) + HOUR + RETRY_AFTER_DAYS[0] * DAY_SECONDS
    advance(client, clock.id, first_retry + HOUR)
    renewal = client.v1.subscriptions.retrieve(subscription.id).latest_invoice
    with server.http(account.secret_key) as http:
        listed = http.get("/v1/test_helpers/emails", params={"invoice": str(renewal)})
    assert listed.status_code == 200, listed.text
    # The dunning emails: one per failed attempt (the renewal's charge, then its first retry),
    # through the mail outbox, to the customer.
    emails = listed.json()["data"]
    assert [e["kind"] for e in emails] == ["payment_failed", "payment_failed"]
    assert {e["to"] for e in emails} == {"dunning@example.com"}


def test_a_card_updated_before_the_next_retry_pays_it(
    client: Client, ledger_verified: None
) -> None:
    price = monthly_price(client)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    decline_renewals(client, customer.id)
    advance(client, clock_id, utc(2027, 2, 28) + 2 * HOUR)
    assert client.v1.subscriptions.retrieve(subscription.id).status == "past_due"
    good = client.v1.payment_methods.attach("pm_card_mastercard", params={"customer": customer.id})
    client.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": good.id}}
    )
    first_retry = utc(2027, 2, 28) + HOUR + RETRY_AFTER_DAYS[0] * DAY_SECONDS
    advance(client, clock_id, first_retry + HOUR)
    recovered = client.v1.subscriptions.retrieve(subscription.id)
    assert recovered.status == "active"
    renewal = client.v1.invoices.retrieve(str(recovered.latest_invoice))
    assert (renewal.status, renewal.attempt_count) == ("paid", 2)
    assert renewal.status_transitions.paid_at == first_retry


def test_failed_manual_payments_after_the_first_attempt_leave_the_retry_schedule(
    client: Client, ledger_verified: None
) -> None:
    """The renewal declined on February 28 (11:00), its first retry due 3 days later. Paid
    by hand every 2 days with the declining card, it keeps that schedule (Stripe's
    `Invoice.attempt_count`: "manual payment attempts after the first attempt do not affect
    the retry schedule"): the retries still run on March 3, 8 and 15, and the last one's
    failure cancels it, where each `pay` used to put the next retry 3 days off."""
    price = monthly_price(client)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    decline_renewals(client, customer.id)
    failed_at = utc(2027, 2, 28) + HOUR
    advance(client, clock_id, failed_at + HOUR)
    renewal_id = str(client.v1.subscriptions.retrieve(subscription.id).latest_invoice)
    first_retry = failed_at + RETRY_AFTER_DAYS[0] * DAY_SECONDS
    assert client.v1.invoices.retrieve(renewal_id).next_payment_attempt == first_retry
    advance(client, clock_id, failed_at + 2 * DAY_SECONDS)
    with pytest.raises(stripe.CardError):
        client.v1.invoices.pay(renewal_id)
    renewal = client.v1.invoices.retrieve(renewal_id)
    assert (renewal.attempt_count, renewal.next_payment_attempt) == (1, first_retry)
    advance(client, clock_id, first_retry + HOUR)
    renewal = client.v1.invoices.retrieve(renewal_id)
    second_retry = first_retry + RETRY_AFTER_DAYS[1] * DAY_SECONDS
    assert (renewal.attempt_count, renewal.next_payment_attempt) == (2, second_retry)
    for day in (2, 4):
        advance(client, clock_id, first_retry + day * DAY_SECONDS)
        with pytest.raises(stripe.CardError):
            client.v1.invoices.pay(renewal_id)
    renewal = client.v1.invoices.retrieve(renewal_id)
    assert (renewal.attempt_count, renewal.next_payment_attempt) == (2, second_retry)
    advance(client, clock_id, failed_at + 20 * DAY_SECONDS)
    ended = client.v1.subscriptions.retrieve(subscription.id)
    assert ended.status == "canceled"
    assert ended.canceled_at == failed_at + sum(RETRY_AFTER_DAYS) * DAY_SECONDS


def test_a_failed_first_attempt_made_by_hand_schedules_the_first_retry(client: Client) -> None:
    """An auto-advancing invoice paid by hand before its automatic attempt, declined: the
    first attempt, whoever made it, sets the retry schedule (3 days on), as before."""
    _, customer = clock_customer(client, card=DECLINING_CARD)
    client.v1.invoice_items.create(
        params={"customer": customer.id, "amount": 1500, "currency": "usd"}
    )
    invoice = client.v1.invoices.create(
        params={
            "customer": customer.id,
            "pending_invoice_items_behavior": "include",
            "auto_advance": True,
        }
    )
    client.v1.invoices.finalize_invoice(invoice.id)
    with pytest.raises(stripe.CardError):
        client.v1.invoices.pay(invoice.id)
    failed = client.v1.invoices.retrieve(invoice.id)
    retry_at = JAN_31_2027 + RETRY_AFTER_DAYS[0] * DAY_SECONDS
    assert (failed.attempt_count, failed.next_payment_attempt) == (1, retry_at)


def test_paying_an_older_invoice_leaves_it_past_due_while_its_latest_is_unpaid(
    client: Client, ledger_verified: None
) -> None:
    """The February 28 renewal declined and marked uncollectible (then `active`), the March
    31 renewal declined (`past_due`): paying the February one leaves it `past_due`, its
    latest invoice still unpaid (Stripe's `past_due`: "Payment on the latest invoice either
    failed or wasn't attempted"); paying March's then makes it `active`."""
    price = monthly_price(client)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    decline_renewals(client, customer.id)
    advance(client, clock_id, utc(2027, 2, 28) + 2 * HOUR)
    february = str(client.v1.subscriptions.retrieve(subscription.id).latest_invoice)
    client.v1.invoices.mark_uncollectible(february)
    assert client.v1.subscriptions.retrieve(subscription.id).status == "active"
    advance(client, clock_id, utc(2027, 3, 31) + 2 * HOUR)
    march = client.v1.subscriptions.retrieve(subscription.id)
    assert (march.status, client.v1.invoices.retrieve(str(march.latest_invoice)).status) == (
        "past_due",
        "open",
    )
    paid = client.v1.invoices.pay(february, params={"payment_method": "pm_card_visa"})
    assert paid.status == "paid"
    assert client.v1.subscriptions.retrieve(subscription.id).status == "past_due"
    client.v1.invoices.pay(str(march.latest_invoice), params={"payment_method": "pm_card_visa"})
    assert client.v1.subscriptions.retrieve(subscription.id).status == "active"


def test_an_unpaid_subscription_stops_dunning_and_keeps_its_renewals_as_drafts(
    private_database_url: str, tmp_path: Path
) -> None:
    """Final action `unpaid`, the invoice left open: once the February 28 renewal's last
    retry has failed, that invoice no longer advances by itself (`auto_advance=false`, as
    Stripe stops trying), and the March 31 renewal is made but kept a draft, neither
    finalized nor charged (Stripe's subscriptions overview: "For unpaid subscriptions, the
    latest invoice remains open but payments aren't attempted. Invoices continue to be
    generated each billing cycle and remain in draft state")."""
    unpaid_only = {"KASSA_SUBSCRIPTION_FINAL_ACTION": "unpaid"}
    server = KassaServer(private_database_url, tmp_path / "kassa.log", unpaid_only).start()
    try:
        client = server.client(create_account(private_database_url).secret_key)
        clock_id, _, subscription = dunned_out(client)
        february_id = client.v1.subscriptions.retrieve(subscription.id).latest_invoice
        february = client.v1.invoices.retrieve(str(february_id))
        assert (february.status, february.auto_advance, february.next_payment_attempt) == (
            "open",
            False,
            None,
        )
        advance(client, clock_id, utc(2027, 4, 5))
        still = client.v1.subscriptions.retrieve(subscription.id)
        assert still.status == "unpaid"  # since March 15
        march = client.v1.invoices.retrieve(str(still.latest_invoice))
        assert march.id != february.id
        assert (march.status, march.auto_advance, march.attempt_count) == ("draft", False, 0)
        assert march.automatically_finalizes_at is None
        assert_ledger_whole(private_database_url)
    finally:
        server.stop()


def test_a_subscriptions_draft_invoice_is_voided_not_deleted(client: Client) -> None:
    """Stripe's delete: "Permanently deletes a one-off invoice draft ... if an invoice is for
    a subscription, it must be voided." A renewal held as a draft (`pause_collection`
    `keep_as_draft`) and an invoice made through the API for the subscription are refused,
    and stay; a one-off draft of the same customer is deleted."""
    price = monthly_price(client)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    client.v1.subscriptions.update(
        subscription.id, params={"pause_collection": {"behavior": "keep_as_draft"}}
    )
    advance(client, clock_id, period_of(subscription)[1] + 2 * HOUR)
    renewal = invoices_of(client, subscription.id)[-1]
    assert (renewal.status, renewal.billing_reason) == ("draft", "subscription_cycle")
    client.v1.invoice_items.create(
        params={
            "customer": customer.id,
            "amount": 500,
            "currency": "usd",
            "subscription": subscription.id,
        }
    )
    manual = client.v1.invoices.create(
        params={"customer": customer.id, "subscription": subscription.id}
    )
    for draft in (renewal, manual):
        with pytest.raises(stripe.InvalidRequestError) as refused:
            client.v1.invoices.delete(str(draft.id))
        assert "subscription" in str(refused.value.user_message)
        assert client.v1.invoices.retrieve(str(draft.id)).status == "draft"
    one_off = client.v1.invoices.create(params={"customer": customer.id})
    assert client.v1.invoices.delete(str(one_off.id)).deleted


# -- the lines that bill a period are not invoice items --------------------------------------


def period_lines(invoice: stripe.Invoice) -> list[stripe.InvoiceLineItem]:
    """The invoice's lines that bill a subscription item's period (not prorations)."""
    return [
        line
        for line in invoice.lines.data
        if line.parent is not None
        and line.parent.subscription_item_details is not None
        and not line.parent.subscription_item_details.proration
    ]


def not_an_invoice_item(client: Client, item_id: str) -> None:
    """Retrieving, updating and deleting `item_id` each answer 404, no such invoice item."""
    update: Any = {"description": "changed"}
    calls: list[Callable[[], object]] = [
        lambda: client.v1.invoice_items.retrieve(item_id),
        lambda: client.v1.invoice_items.update(item_id, params=update),
        lambda: client.v1.invoice_items.delete(item_id),
    ]
    for call in calls:
        with pytest.raises(stripe.InvalidRequestError) as refused:
            call()
        assert refused.value.http_status == 404
        assert "No such invoiceitem" in str(refused.value.user_message)


def with_a_fee_and_prorations(client: Client) -> tuple[str, stripe.Customer, stripe.Subscription]:
    """A 20.00 monthly subscription from January 31, 2027 with a 5.00 one-off fee on its first
    invoice, and two seats from February 14 (half the period left: a 10.00 credit and a 20.00
    charge, pending): the clock, the customer, the subscription."""
    price = monthly_price(client)
    fee = client.v1.prices.create(
        params={"currency": "usd", "unit_amount": 500, "product_data": {"name": "Setup"}}
    )
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id, add_invoice_items=[{"price": fee.id}])
    (item,) = subscription["items"].data
    advance(client, clock_id, utc(2027, 2, 14))
    client.v1.subscriptions.update(
        subscription.id,
        params={
            "items": [{"id": item.id, "quantity": 2}],
            "proration_behavior": "create_prorations",
        },
    )
    return clock_id, customer, subscription


def test_a_subscriptions_period_lines_are_backed_by_its_items_not_invoice_items(
    client: Client, ledger_verified: None
) -> None:
    """Stripe (docs.stripe.com/api/invoice-line-item): "Each line item is backed by either
    an invoice item or a subscription item". A period's line is its subscription item's:
    its `subscription_item_details.invoice_item` is null, and `/v1/invoiceitems` neither
    lists nor finds it; prorations and one-off items are invoice items, listed as ever."""
    clock_id, customer, subscription = with_a_fee_and_prorations(client)
    (item,) = subscription["items"].data
    advance(client, clock_id, utc(2027, 2, 28, hour=12))
    first, renewal = invoices_of(client, subscription.id)
    assert renewal.billing_reason == "subscription_cycle"
    for invoice in (first, renewal):
        (line,) = period_lines(invoice)
        details = line.parent.subscription_item_details  # type: ignore[union-attr]
        assert details is not None
        assert (details.invoice_item, details.subscription_item) == (None, item.id)
        assert details.subscription == subscription.id
        not_an_invoice_item(client, "ii_" + line.id.removeprefix("il_"))
    listed = client.v1.invoice_items.list(params={"customer": customer.id, "limit": 100}).data
    assert sorted((i.proration, i.amount) for i in listed) == [
        (False, 500),
        (True, -1000),
        (True, 2000),
    ]
    everywhere = client.v1.invoice_items.list(params={"limit": 100}).data
    assert {i.id for i in everywhere} == {i.id for i in listed}
    on_renewal = client.v1.invoice_items.list(params={"invoice": renewal.id}).data
    assert sorted(i.amount for i in on_renewal) == [-1000, 2000]
    assert (renewal.total, renewal.status) == (4000 + 1000, "paid")


def test_a_period_line_is_still_credited_voided_and_rendered(
    client: Client, ledger_verified: None
) -> None:
    """What the period's line backs goes on working without an invoice item to show: a
    cancellation with `prorate` credits its unused time naming the line, and an open
    invoice with such a line is voided and read as a PDF."""
    price = monthly_price(client, 2800)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    first = invoices_of(client, subscription.id)[0]
    (line,) = period_lines(first)
    advance(client, clock_id, utc(2027, 2, 14))
    client.v1.subscriptions.cancel(subscription.id, params={"prorate": True})
    (credit,) = client.v1.invoice_items.list(params={"customer": customer.id}).data
    assert (credit.amount, credit.proration) == (-1400, True)
    credited = credit.proration_details.credited_items  # type: ignore[union-attr]
    assert credited is not None and credited.invoice_line_item_details is not None
    assert credited.invoice_line_item_details.invoice == first.id
    assert credited.invoice_line_item_details.invoice_line_items == [line.id]

    sent = subscribe(
        client,
        customer.id,
        price.id,
        collection_method="send_invoice",
        days_until_due=30,
    )
    opened = client.v1.invoices.retrieve(str(sent.latest_invoice))
    assert opened.status == "open" and opened.invoice_pdf is not None
    with loopback.Client(timeout=30) as http:
        rendered = http.get(opened.invoice_pdf)
    assert rendered.status_code == 200 and rendered.content.startswith(b"%PDF")
    voided = client.v1.invoices.void_invoice(str(opened.id))
    assert voided.status == "void"
    assert [li.id for li in period_lines(voided)] == [li.id for li in period_lines(opened)]


PERIOD_ITEM_MIGRATION = 53
"""`0053_invoiceitems_period_item`: added the invoice items' `period_item` column, filled in
from each document."""
PERIOD_ITEM_FLAG_MIGRATION = 54
"""`0054_invoiceitems_period_item_flag`: marked the period items 0053 had found in their own
documents (`_kassa.period_item`), where the code now marks them."""


def _run_script(database_url: str, statement: str) -> None:
    async def run(store: Store) -> None:
        async with store.write() as tx:
            await tx.run_script_statement(statement)

    with_store(database_url, run)


def as_stored_before_period_item_flags(database_url: str, account_id: str) -> None:
    """The account's invoice items as 0053 left them: the column, no flag in the document."""
    unflagged = (
        "json_remove(doc, '$._kassa')"
        if database_url.startswith("sqlite")
        else "(doc::jsonb - '_kassa')::text"
    )
    _run_script(
        database_url,
        f"UPDATE invoiceitems SET doc = {unflagged} WHERE account_id = '{account_id}'",
    )


def as_stored_before_period_items(database_url: str, account_id: str) -> None:
    as_stored_before_period_item_flags(database_url, account_id)
    _run_script(
        database_url,
        f"UPDATE invoiceitems SET period_item = NULL WHERE account_id = '{account_id}'",
    )


def _period_item_id(client: Client, subscription: stripe.Subscription) -> str:
    (line,) = period_lines(invoices_of(client, subscription.id)[0])
    return "ii_" + line.id.removeprefix("il_")


def test_the_upgrade_marks_the_period_items_stored_before_it(
    server: KassaServer, account: Account, client: Client
) -> None:
    _, customer, subscription = with_a_fee_and_prorations(client)
    shown = {i.id for i in client.v1.invoice_items.list(params={"customer": customer.id}).data}
    assert len(shown) == 3  # the fee and the change's two prorations
    as_stored_before_period_items(server.database_url, account.id)
    before = client.v1.invoice_items.list(params={"customer": customer.id}).data
    assert len(before) == 4  # the period's charge too, as the rows stored before showed it
    run_backfill(server.database_url, PERIOD_ITEM_MIGRATION)
    run_backfill(server.database_url, PERIOD_ITEM_FLAG_MIGRATION)
    after = client.v1.invoice_items.list(params={"customer": customer.id}).data
    assert {i.id for i in after} == shown
    not_an_invoice_item(client, _period_item_id(client, subscription))


def test_the_upgrade_flags_the_period_items_0053_marked(
    server: KassaServer, account: Account, client: Client
) -> None:
    """Rows 0053 marked have the column but no flag: billing, which reads the flag, would
    show them by id until 0054 flags them."""
    _, customer, subscription = with_a_fee_and_prorations(client)
    period_item = _period_item_id(client, subscription)
    as_stored_before_period_item_flags(server.database_url, account.id)
    assert client.v1.invoice_items.retrieve(period_item).id == period_item
    run_backfill(server.database_url, PERIOD_ITEM_FLAG_MIGRATION)
    not_an_invoice_item(client, period_item)
    listed = client.v1.invoice_items.list(params={"customer": customer.id}).data
    assert len(listed) == 3  # the fee and the change's two prorations, as ever
