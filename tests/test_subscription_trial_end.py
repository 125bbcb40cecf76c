"""`trial_end` on `POST /v1/subscriptions/{id}` and in its preview
(`create_preview`'s `subscription_details[trial_end]`), through the SDK on a real `kassa
serve` (SQLite and PostgreSQL) driven by test clocks: a trial's end moved later or earlier
moves the first paid period with it, and the first invoice after the trial is the one the
preview showed, to the cent and line for line; `now` ends the trial at once, the first paid
period invoiced and charged in the request as the preview showed it; what Kassa refuses (`now`
on a subscription not on trial, a time past or beyond two years,
`now` where the trial's end would cancel or pause it for want of a payment method) is a 400
naming the parameter as it was sent, nothing changed.

Every subscription below but the cardless customer's starts on 1 January 2027 at 10:00 UTC
with a 30-day trial of a 20.00 monthly price (`test_subscription_trial_changes.on_trial`),
the clock then on 11 January."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.test_subscription_changes import DECLINING_CARD, at, change, only_item
from tests.test_subscription_lifecycle_rules import cardless_customer, on_trial_end
from tests.test_subscription_preview_details import same_invoice
from tests.test_subscription_scheduled_end import preview
from tests.test_subscription_trial_changes import HOUR, TRIAL, on_trial
from tests.test_subscriptions import (
    Client,
    advance,
    clock_customer,
    events_of,
    invoices_of,
    monthly_price,
    period_of,
    service_period,
)


def first_paid_invoice(client: Client, clock_id: str, subscription_id: str, end: int) -> Any:
    """Past the trial's `end` (and the hour a renewal draft waits): the subscription is
    active and its first invoice after the trial's (zero) one, paid."""
    advance(client, clock_id, end + 2 * HOUR)
    assert client.v1.subscriptions.retrieve(subscription_id).status == "active"
    trial_invoice, first = invoices_of(client, subscription_id)
    assert trial_invoice.total == 0
    assert (first.billing_reason, first.status) == ("subscription_cycle", "paid")
    return first


def test_a_trial_moved_later_is_billed_from_its_new_end_as_previewed(
    client: Client, ledger_verified: None
) -> None:
    """Moved from January 31 to February 15: the preview is the first paid month from
    February 15 (2000); the update keeps it on trial past January 31, anchored on February
    15, and the invoice made then is the previewed one."""
    price = monthly_price(client, 2000)
    clock_id, _, subscription = on_trial(client, [price])
    feb_15 = at(2027, 2, 15)
    upcoming = preview(client, subscription.id, trial_end=feb_15)
    assert service_period(upcoming) == (feb_15, at(2027, 3, 15))
    assert [line.amount for line in upcoming.lines.data] == [2000]
    assert client.v1.subscriptions.retrieve(subscription.id).trial_end == TRIAL[1]
    moved = change(client, subscription.id, trial_end=feb_15)
    assert (moved.status, moved.trial_end, moved.billing_cycle_anchor) == (
        "trialing",
        feb_15,
        feb_15,
    )
    assert period_of(moved) == (TRIAL[0], feb_15)
    advance(client, clock_id, TRIAL[1] + 2 * HOUR)
    assert client.v1.subscriptions.retrieve(subscription.id).status == "trialing"
    assert len(invoices_of(client, subscription.id)) == 1
    first = first_paid_invoice(client, clock_id, subscription.id, feb_15)
    same_invoice(first, upcoming)
    assert first.amount_paid == 2000
    assert period_of(client.v1.subscriptions.retrieve(subscription.id)) == (
        feb_15,
        at(2027, 3, 15),
    )


def test_a_trial_ended_earlier_bills_the_pending_items_with_the_first_month_as_previewed(
    client: Client, ledger_verified: None
) -> None:
    """Moved from January 31 to January 20, with a 2.50 item pending: the first invoice,
    on January 20, takes it with the month to February 20, as its preview did."""
    price = monthly_price(client, 2000)
    clock_id, customer, subscription = on_trial(client, [price])
    client.v1.invoice_items.create(
        params={"customer": customer.id, "amount": 250, "currency": "usd"}
    )
    jan_20 = at(2027, 1, 20)
    upcoming = preview(client, subscription.id, trial_end=jan_20)
    assert service_period(upcoming) == (jan_20, at(2027, 2, 20))
    assert sorted(line.amount for line in upcoming.lines.data) == [250, 2000]
    change(client, subscription.id, trial_end=jan_20)
    first = first_paid_invoice(client, clock_id, subscription.id, jan_20)
    same_invoice(first, upcoming)
    assert first.amount_paid == 2250


def test_a_trial_moved_resets_an_anchor_of_its_own_to_its_new_end(
    client: Client, ledger_verified: None
) -> None:
    """Anchored on February 5 after a trial to January 31: moved to February 3, the cycle
    is anchored at the new end (Stripe's update docstring: "The `billing_cycle_anchor` will
    be updated to the `trial_end` value") and the first invoice bills a whole month from it
    (2000), as previewed; past the old anchor (February 6) is taken alike."""
    price = monthly_price(client, 2000)
    clock_id, customer = clock_customer(client, TRIAL[0])
    feb_3, feb_5, feb_6 = at(2027, 2, 3), at(2027, 2, 5), at(2027, 2, 6)
    create: Any = {
        "customer": customer.id,
        "items": [{"price": price.id}],
        "trial_end": TRIAL[1],
        "billing_cycle_anchor": feb_5,
    }
    subscription = client.v1.subscriptions.create(params=create)
    later = preview(client, subscription.id, trial_end=feb_6)
    assert service_period(later) == (feb_6, at(2027, 3, 6))
    upcoming = preview(client, subscription.id, trial_end=feb_3)
    assert service_period(upcoming) == (feb_3, at(2027, 3, 3))
    assert [line.amount for line in upcoming.lines.data] == [2000]
    moved = change(client, subscription.id, trial_end=feb_3)
    assert (moved.trial_end, moved.billing_cycle_anchor) == (feb_3, feb_3)
    first = first_paid_invoice(client, clock_id, subscription.id, feb_3)
    same_invoice(first, upcoming)


def test_a_trial_moved_after_its_notice_announces_its_new_end_again(client: Client) -> None:
    """`customer.subscription.trial_will_end` three days before the trial ends: sent on
    January 28 for January 31, and again on February 12 once the trial runs to February
    15."""
    price = monthly_price(client, 2000)
    clock_id, _, subscription = on_trial(client, [price])
    notices = "customer.subscription.trial_will_end"
    advance(client, clock_id, at(2027, 1, 29))
    assert events_of(client, subscription.id).count(notices) == 1
    change(client, subscription.id, trial_end=at(2027, 2, 15))
    advance(client, clock_id, at(2027, 2, 11))
    assert events_of(client, subscription.id).count(notices) == 1
    advance(client, clock_id, at(2027, 2, 13))
    assert events_of(client, subscription.id).count(notices) == 2


@pytest.mark.parametrize(
    "trial_end",
    ["soon", str(at(2027, 1, 5)), str(at(2029, 2, 1))],
    ids=["not-a-time", "past", "beyond-two-years"],
)
def test_a_refused_trial_end_is_a_400_naming_it_as_sent(client: Client, trial_end: str) -> None:
    price = monthly_price(client, 2000)
    _, _, subscription = on_trial(client, [price])
    with pytest.raises(stripe.InvalidRequestError) as previewed:
        preview(client, subscription.id, trial_end=trial_end)
    assert (previewed.value.http_status, previewed.value.param) == (
        400,
        "subscription_details[trial_end]",
    )
    with pytest.raises(stripe.InvalidRequestError) as updated:
        change(client, subscription.id, trial_end=trial_end)
    assert (updated.value.http_status, updated.value.param) == (400, "trial_end")
    # Taken, and refused for its value: not an unknown parameter (Stripe has no code for it).
    assert {previewed.value.code, updated.value.code} == {None}
    assert client.v1.subscriptions.retrieve(subscription.id).trial_end == TRIAL[1]


def test_a_subscription_not_on_trial_has_no_trial_to_end_now(client: Client) -> None:
    """`now` ends a trial; an active subscription has none (a timestamp adds one:
    `test_subscription_added_trial`)."""
    price = monthly_price(client, 2000)
    _, customer = clock_customer(client, TRIAL[0])
    subscription = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}]}
    )
    with pytest.raises(stripe.InvalidRequestError) as previewed:
        preview(client, subscription.id, trial_end="now")
    assert previewed.value.param == "subscription_details[trial_end]"
    with pytest.raises(stripe.InvalidRequestError) as updated:
        change(client, subscription.id, trial_end="now")
    assert (updated.value.http_status, updated.value.param) == (400, "trial_end")
    assert "no trial to end" in str(updated.value.user_message)
    assert (
        only_item(client.v1.subscriptions.retrieve(subscription.id)).current_period_start
        == (TRIAL[0])
    )


# -- trial_end=now ---------------------------------------------------------------------------

JAN_11 = at(2027, 1, 11)
"""When `on_trial` leaves the clock: the trial's end `now` ends it."""


def last_update(client: Client, subscription_id: str) -> dict[str, Any]:
    """The `previous_attributes` of the subscription's latest `customer.subscription.updated`."""
    events = client.v1.events.list(params={"type": "customer.subscription.updated", "limit": 100})
    for event in events.auto_paging_iter():
        if event.data.object.to_dict().get("id") == subscription_id:
            previous = event.data.previous_attributes
            assert previous is not None
            return previous.to_dict()
    raise AssertionError(f"no customer.subscription.updated for {subscription_id}")


def test_a_trial_ended_now_bills_the_first_month_at_once_as_previewed(
    client: Client, ledger_verified: None
) -> None:
    """On January 11, with a 2.50 item pending: the preview is the month from now to
    February 11 with that item (2250); the update ends the trial, anchors the cycle now and
    charges that invoice in the request, announced as a trial's natural end is (the
    subscription updated from trialing, and its invoice created, finalized and paid);
    nothing more on January 31, and the next renewal on February 11."""
    price = monthly_price(client, 2000)
    clock_id, customer, subscription = on_trial(client, [price])
    client.v1.invoice_items.create(
        params={"customer": customer.id, "amount": 250, "currency": "usd"}
    )
    upcoming = preview(client, subscription.id, trial_end="now")
    assert service_period(upcoming) == (JAN_11, at(2027, 2, 11))
    assert sorted(line.amount for line in upcoming.lines.data) == [250, 2000]
    ended = change(client, subscription.id, trial_end="now")
    assert (ended.status, ended.trial_end, ended.billing_cycle_anchor) == (
        "active",
        JAN_11,
        JAN_11,
    )
    assert period_of(ended) == (JAN_11, at(2027, 2, 11))
    previous = last_update(client, subscription.id)
    assert (previous["status"], previous["trial_end"]) == ("trialing", TRIAL[1])
    trial_invoice, first = invoices_of(client, subscription.id)
    assert trial_invoice.total == 0
    assert (first.billing_reason, first.status, first.amount_paid) == (
        "subscription_update",
        "paid",
        2250,
    )
    assert ended.latest_invoice == first.id
    same_invoice(first, upcoming)
    assert events_of(client, first.id)[:3] == [
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
    ]
    assert "customer.subscription.trial_will_end" in events_of(client, subscription.id)
    advance(client, clock_id, TRIAL[1] + 2 * HOUR)
    assert len(invoices_of(client, subscription.id)) == 2
    advance(client, clock_id, at(2027, 2, 11) + 2 * HOUR)
    billed = [
        (i.billing_reason, i.period_end, i.amount_paid) for i in invoices_of(client, ended.id)
    ]
    assert billed == [
        ("subscription_create", TRIAL[0], 0),
        ("subscription_update", JAN_11, 2250),
        ("subscription_cycle", at(2027, 2, 11), 2000),
    ]


def test_a_trial_ended_now_with_an_item_added_bills_the_items_as_they_are_then(
    client: Client, ledger_verified: None
) -> None:
    """An item of 5.00 a month added in the same update: it is not prorated (the trial
    bills nothing) and the first invoice bills both items for the month from now, as
    previewed with the same `subscription_details`."""
    price, added = monthly_price(client, 2000), monthly_price(client, 500)
    _, _, subscription = on_trial(client, [price])
    details: Any = {"trial_end": "now", "items": [{"price": added.id}]}
    upcoming = preview(client, subscription.id, **details)
    assert sorted(line.amount for line in upcoming.lines.data) == [500, 2000]
    ended = change(client, subscription.id, **details)
    assert (ended.status, len(ended["items"].data)) == ("active", 2)
    first = invoices_of(client, subscription.id)[-1]
    assert first.amount_paid == 2500
    same_invoice(first, upcoming)


def test_a_trial_ended_now_resets_an_anchor_of_its_own(
    client: Client, ledger_verified: None
) -> None:
    """Anchored on February 5 after a trial to January 31: ended on January 11, the anchor
    is now (Stripe's update docstring: "The `billing_cycle_anchor` will be updated to the
    `trial_end` value") and the first invoice a whole month to February 11, as previewed."""
    price = monthly_price(client, 2000)
    clock_id, customer = clock_customer(client, TRIAL[0])
    create: Any = {
        "customer": customer.id,
        "items": [{"price": price.id}],
        "trial_end": TRIAL[1],
        "billing_cycle_anchor": at(2027, 2, 5),
    }
    subscription = client.v1.subscriptions.create(params=create)
    advance(client, clock_id, JAN_11)
    upcoming = preview(client, subscription.id, trial_end="now")
    ended = change(client, subscription.id, trial_end="now")
    assert (ended.status, ended.billing_cycle_anchor) == ("active", JAN_11)
    assert period_of(ended) == (JAN_11, at(2027, 2, 11))
    first = invoices_of(client, subscription.id)[-1]
    assert (first.amount_paid, [line.amount for line in first.lines.data]) == (2000, [2000])
    same_invoice(first, upcoming)


def test_a_trial_ended_now_with_a_declined_card_is_past_due(
    client: Client, ledger_verified: None
) -> None:
    """The charge made at once declined (`allow_incomplete`, the default): the subscription
    is `past_due` and its first invoice open, as an update's declined invoice leaves it."""
    price = monthly_price(client, 2000)
    clock_id, customer = clock_customer(client, TRIAL[0], card=DECLINING_CARD)
    subscription = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}], "trial_end": TRIAL[1]}
    )
    advance(client, clock_id, JAN_11)
    ended = change(client, subscription.id, trial_end="now")
    assert ended.status == "past_due"
    first = invoices_of(client, subscription.id)[-1]
    assert (first.status, first.amount_remaining) == ("open", 2000)


@pytest.mark.parametrize("behavior", ["cancel", "pause"])
def test_a_trial_without_a_payment_method_is_not_ended_now_into_its_end_behavior(
    client: Client, behavior: str
) -> None:
    """No payment method and `missing_payment_method` `cancel` or `pause`: the trial's end
    would cancel or pause it; Kassa refuses `now` (400 naming it as sent), nothing changed."""
    price = monthly_price(client, 2000)
    _, customer = cardless_customer(client)
    create: Any = {
        "customer": customer.id,
        "items": [{"price": price.id}],
        "trial_period_days": 30,
        "trial_settings": on_trial_end(behavior),
    }
    subscription = client.v1.subscriptions.create(params=create)
    with pytest.raises(stripe.InvalidRequestError) as previewed:
        preview(client, subscription.id, trial_end="now")
    assert (previewed.value.http_status, previewed.value.param) == (
        400,
        "subscription_details[trial_end]",
    )
    with pytest.raises(stripe.InvalidRequestError) as updated:
        change(client, subscription.id, trial_end="now")
    assert (updated.value.http_status, updated.value.param) == (400, "trial_end")
    after = client.v1.subscriptions.retrieve(subscription.id)
    assert (after.status, after.trial_end) == ("trialing", subscription.trial_end)
    assert len(invoices_of(client, subscription.id)) == 1
