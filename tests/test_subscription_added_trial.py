"""`trial_end` (a timestamp) on `POST /v1/subscriptions/{id}` for an `active` subscription,
and its preview (`create_preview`'s `subscription_details[trial_end]`), through the SDK on a
real `kassa serve` driven by a test clock: Stripe's update docstring ("The
`billing_cycle_anchor` will be updated to the `trial_end` value") and its guide to changing
subscriptions ("Adding a trial period to an active subscription" prorates by default).

Every subscription below bills 31.00 a month from January 31, 2027, 10:00 UTC (its first
period to February 28: 28 days). On February 14, 10:00 a trial to March 10 is added: the
14 unused days of the period are credited, 14/28 x 3100 = 1550. With `create_prorations`
that credit waits, and the first paid period, March 10 to April 10, is billed 3100 - 1550 =
1550; with `always_invoice` it is invoiced at once (-1550, left on the customer's balance,
which the March 10 invoice of 3100 then takes: 1550 charged); with `none` nothing is
credited and March 10 bills 3100. What Kassa refuses is a 400 naming `trial_end`, nothing
changed."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.test_subscription_changes import DECLINING_CARD, at, change, only_item, pending_of
from tests.test_subscription_preview_details import same_invoice
from tests.test_subscription_scheduled_end import preview
from tests.test_subscription_terms import tax_rate
from tests.test_subscription_trial_end import last_update
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

HOUR = 3600
JAN_31, FEB_14, FEB_28 = at(2027, 1, 31), at(2027, 2, 14), at(2027, 2, 28)
MAR_10, APR_10 = at(2027, 3, 10), at(2027, 4, 10)


def active_on_february_14(client: Client, **params: Any) -> tuple[str, Any, Any]:
    """31.00 a month from January 31 (created with `params`), the clock on February 14:
    the clock, the customer and the subscription."""
    price = monthly_price(client, 3100)
    clock_id, customer = clock_customer(client, JAN_31)
    create: Any = {"customer": customer.id, "items": [{"price": price.id}], **params}
    subscription = client.v1.subscriptions.create(params=create)
    assert subscription.status == "active"
    advance(client, clock_id, FEB_14)
    return clock_id, customer, subscription


def proration_amounts(invoice: stripe.Invoice) -> list[int]:
    """The amounts of the invoice's proration lines (its other lines left out)."""
    amounts = []
    for line in invoice.lines.data:
        details = line.parent.subscription_item_details if line.parent else None
        if details is not None and details.proration:
            amounts.append(line.amount)
    return amounts


def test_a_trial_added_as_of_before_the_items_last_prorated_change_is_refused(
    client: Client, ledger_verified: None
) -> None:
    """Two seats from February 14 (14 of February's 28 days left: -1550, +3100). A trial
    dated February 7 would credit the second seat's charge whole, though it billed from
    February 14 only, leaving February 7 to 14 neither free nor credited: refused, as a
    change is (`proration_date`). Dated February 14, the charge is credited whole: -3100."""
    _, customer, subscription = active_on_february_14(client)
    change(client, subscription.id, items=[{"id": only_item(subscription).id, "quantity": 2}])
    assert [i.amount for i in pending_of(client, customer.id)] == [-1550, 3100]
    before = client.v1.subscriptions.retrieve(subscription.id)
    with pytest.raises(stripe.InvalidRequestError) as backdated:
        change(client, subscription.id, trial_end=MAR_10, proration_date=at(2027, 2, 7))
    assert backdated.value.param == "proration_date"
    assert client.v1.subscriptions.retrieve(subscription.id).to_dict() == before.to_dict()
    trialing = change(client, subscription.id, trial_end=MAR_10, proration_date=FEB_14)
    assert trialing.status == "trialing"
    assert [i.amount for i in pending_of(client, customer.id)] == [-1550, 3100, -3100]


@pytest.mark.parametrize("mode", ["flexible", "classic"])
def test_a_trial_added_credits_the_unused_time_into_the_first_paid_month_as_previewed(
    client: Client, ledger_verified: None, mode: str
) -> None:
    """The preview is the month from March 10 (3100) with the credit (-1550): 1550, in
    either billing mode (flexible credits the January 31 line, classic the price: both
    3100 here). The update makes the subscription trialing from now to March 10, anchored
    there, the credit pending, announced with what it was; nothing is billed on February
    28; on March 10 the invoice made is the previewed one, 1550 charged."""
    clock_id, customer, subscription = active_on_february_14(client, billing_mode={"type": mode})
    upcoming = preview(client, subscription.id, trial_end=MAR_10)
    assert service_period(upcoming) == (MAR_10, APR_10)
    assert proration_amounts(upcoming) == [-1550]
    assert (upcoming.subtotal, upcoming.total) == (1550, 1550)
    assert client.v1.subscriptions.retrieve(subscription.id).status == "active"

    updated = change(client, subscription.id, trial_end=MAR_10)
    assert (updated.status, updated.trial_start, updated.trial_end) == (
        "trialing",
        FEB_14,
        MAR_10,
    )
    assert updated.billing_cycle_anchor == MAR_10
    assert period_of(updated) == (FEB_14, MAR_10)
    (credit,) = pending_of(client, customer.id)
    assert (credit.amount, credit.proration) == (-1550, True)
    assert (credit.period.start, credit.period.end) == (FEB_14, FEB_28)
    previous = last_update(client, subscription.id)
    assert previous["status"] == "active"
    assert (previous["trial_start"], previous["trial_end"]) == (None, None)
    assert previous["billing_cycle_anchor"] == JAN_31
    assert previous["items"]["data"][0]["current_period_end"] == FEB_28

    advance(client, clock_id, FEB_28 + 2 * HOUR)
    assert client.v1.subscriptions.retrieve(subscription.id).status == "trialing"
    assert len(invoices_of(client, subscription.id)) == 1
    advance(client, clock_id, MAR_10 + 2 * HOUR)
    assert events_of(client, subscription.id).count("customer.subscription.trial_will_end") == 1
    after = client.v1.subscriptions.retrieve(subscription.id)
    assert (after.status, period_of(after)) == ("active", (MAR_10, APR_10))
    first, renewal = invoices_of(client, subscription.id)
    assert first.amount_paid == 3100
    assert (renewal.billing_reason, renewal.status) == ("subscription_cycle", "paid")
    same_invoice(renewal, upcoming)
    assert renewal.amount_paid == 1550
    assert pending_of(client, customer.id) == []


def test_a_trial_added_with_always_invoice_credits_the_customer_at_once_as_previewed(
    client: Client, ledger_verified: None
) -> None:
    """The credit is invoiced in the request (-1550, the rest of February), as previewed;
    it goes to the customer's balance, which the March 10 invoice (3100) takes: 1550
    charged."""
    clock_id, customer, subscription = active_on_february_14(client)
    upcoming = preview(
        client, subscription.id, trial_end=MAR_10, proration_behavior="always_invoice"
    )
    # The invoice's own period looks back to the last invoice (January 31, the first one)
    # up to now (Stripe: "the usage period during which invoice items were added").
    assert (upcoming.period_start, upcoming.period_end) == (JAN_31, FEB_14)
    assert (proration_amounts(upcoming), upcoming.total) == ([-1550], -1550)
    updated = change(client, subscription.id, trial_end=MAR_10, proration_behavior="always_invoice")
    assert (updated.status, updated.billing_cycle_anchor) == ("trialing", MAR_10)
    _, credited = invoices_of(client, subscription.id)
    assert updated.latest_invoice == credited.id
    assert (credited.billing_reason, credited.status) == ("subscription_update", "paid")
    same_invoice(credited, upcoming)
    assert pending_of(client, customer.id) == []
    assert client.v1.customers.retrieve(customer.id).balance == -1550
    advance(client, clock_id, MAR_10 + 2 * HOUR)
    *_, renewal = invoices_of(client, subscription.id)
    assert service_period(renewal) == (MAR_10, APR_10)
    assert (renewal.total, renewal.amount_paid) == (3100, 1550)
    assert client.v1.customers.retrieve(customer.id).balance == 0


def test_a_trial_added_without_prorations_credits_nothing(
    client: Client, ledger_verified: None
) -> None:
    """`proration_behavior=none`: the trial only; March 10 bills the whole month, 3100."""
    clock_id, customer, subscription = active_on_february_14(client)
    upcoming = preview(client, subscription.id, trial_end=MAR_10, proration_behavior="none")
    assert (upcoming.period_end, upcoming.total) == (MAR_10, 3100)
    change(client, subscription.id, trial_end=MAR_10, proration_behavior="none")
    assert pending_of(client, customer.id) == []
    advance(client, clock_id, MAR_10 + 2 * HOUR)
    *_, renewal = invoices_of(client, subscription.id)
    same_invoice(renewal, upcoming)
    assert renewal.amount_paid == 3100


def test_a_trial_added_ending_within_three_days_is_announced_at_once(client: Client) -> None:
    """A trial to February 16 (two days on): `customer.subscription.trial_will_end` in the
    request, as on create."""
    _, _, subscription = active_on_february_14(client)
    change(client, subscription.id, trial_end=at(2027, 2, 16))
    assert events_of(client, subscription.id).count("customer.subscription.trial_will_end") == 1


def refused(client: Client, subscription_id: str, trial_end: Any = MAR_10) -> str:
    """The update and its preview both refused, naming `trial_end` as sent; the message."""
    with pytest.raises(stripe.InvalidRequestError) as previewed:
        preview(client, subscription_id, trial_end=trial_end)
    assert previewed.value.param == "subscription_details[trial_end]"
    with pytest.raises(stripe.InvalidRequestError) as updated:
        change(client, subscription_id, trial_end=trial_end)
    assert (updated.value.http_status, updated.value.param) == (400, "trial_end")
    return str(updated.value.user_message)


def test_what_kassa_does_not_add_a_trial_to_is_refused_unchanged(client: Client) -> None:
    """`now` with no trial to end; a `cancel_at`; paused collection; mixed intervals; a
    subscription incomplete, or past_due: each refused, the subscription as it was."""
    _, customer, subscription = active_on_february_14(client)
    assert "no trial to end" in refused(client, subscription.id, "now")
    change(client, subscription.id, cancel_at=at(2027, 4, 1))
    assert "cancel_at" in refused(client, subscription.id)
    change(client, subscription.id, cancel_at="", pause_collection={"behavior": "void"})
    assert "pause_collection" in refused(client, subscription.id)
    change(client, subscription.id, pause_collection="")
    yearly = client.v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount": 12000,
            "recurring": {"interval": "year"},
            "product_data": {"name": "Support"},
        }
    )
    change(client, subscription.id, items=[{"price": yearly.id}], proration_behavior="none")
    assert "more than one interval" in refused(client, subscription.id)
    after = client.v1.subscriptions.retrieve(subscription.id)
    assert (after.status, after.trial_end, after.billing_cycle_anchor) == ("active", None, JAN_31)
    assert pending_of(client, customer.id) == []

    incomplete = client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": only_item(subscription).price.id}],
            "payment_behavior": "default_incomplete",
        }
    )
    assert "incomplete" in refused(client, incomplete.id)


def test_a_past_due_subscription_gets_no_trial(client: Client) -> None:
    """Its February 28 renewal declined: past_due, refused."""
    clock_id, customer, subscription = active_on_february_14(client)
    card = client.v1.payment_methods.attach(DECLINING_CARD, params={"customer": customer.id})
    change(client, subscription.id, default_payment_method=card.id)
    advance(client, clock_id, FEB_28 + 2 * HOUR)
    assert client.v1.subscriptions.retrieve(subscription.id).status == "past_due"
    assert "past_due" in refused(client, subscription.id)


def test_a_trial_added_with_always_invoice_is_paid_or_refused_whole(
    client: Client, ledger_verified: None
) -> None:
    """Five seats from February 7 (pending: 21/28 of 5 x 3100 charged, 21/28 of the one
    seat's 3100 credited: 11625 and -2325), then on February 14 a trial added with
    `always_invoice` and a declining card: the invoice (those two, and -7750 for the five
    seats' 14 unused days: 1550 to pay) is declined, and the update fails whole (a 402 card
    error) whatever `payment_behavior` says. Left unpaid it made the subscription on trial
    `past_due`, and once paid `active` inside its trial, where later changes answered 500.
    The subscription, its pending items and invoices stay as they were."""
    price = monthly_price(client, 3100)
    clock_id, customer = clock_customer(client, JAN_31)
    create: Any = {"customer": customer.id, "items": [{"price": price.id}]}
    subscription = client.v1.subscriptions.create(params=create)
    advance(client, clock_id, at(2027, 2, 7))
    change(client, subscription.id, items=[{"id": only_item(subscription).id, "quantity": 5}])
    advance(client, clock_id, FEB_14)
    card = client.v1.payment_methods.attach(DECLINING_CARD, params={"customer": customer.id})
    change(client, subscription.id, default_payment_method=card.id)
    before = client.v1.subscriptions.retrieve(subscription.id).to_dict()
    pending = sorted(item.amount for item in pending_of(client, customer.id))
    assert pending == [-2325, 11625]
    upcoming = preview(
        client, subscription.id, trial_end=MAR_10, proration_behavior="always_invoice"
    )
    assert upcoming.total == 1550
    for behavior in ("allow_incomplete", "default_incomplete"):
        with pytest.raises(stripe.CardError):
            change(
                client,
                subscription.id,
                trial_end=MAR_10,
                proration_behavior="always_invoice",
                payment_behavior=behavior,
            )
        assert client.v1.subscriptions.retrieve(subscription.id).to_dict() == before
        assert sorted(item.amount for item in pending_of(client, customer.id)) == pending
        assert len(invoices_of(client, subscription.id)) == 1


def free_to_february_15(client: Client, mode: str) -> tuple[str, Any, Any]:
    """31.00 a month created on January 31 in billing `mode`, anchored on February 15 with
    `proration_behavior=none` (the days to the anchor free: the first invoice is 0), the
    clock then on February 5: the clock, the customer and the subscription."""
    price = monthly_price(client, 3100)
    clock_id, customer = clock_customer(client, JAN_31)
    create: Any = {
        "customer": customer.id,
        "items": [{"price": price.id}],
        "billing_mode": {"type": mode},
        "billing_cycle_anchor": at(2027, 2, 15),
        "proration_behavior": "none",
    }
    subscription = client.v1.subscriptions.create(params=create)
    (first,) = invoices_of(client, subscription.id)
    assert first.total == 0
    advance(client, clock_id, at(2027, 2, 5))
    return clock_id, customer, subscription


@pytest.mark.parametrize("mode", ["flexible", "classic"])
def test_time_left_free_before_an_anchor_is_credited_by_neither_a_trial_nor_a_cancel(
    client: Client, ledger_verified: None, mode: str
) -> None:
    """Created on January 31 anchored on February 15 with `proration_behavior=none`: the
    days to the anchor are free (the first invoice is 0). On February 5 a trial added, and
    a twin canceled with `prorate`, credit nothing: that time was never billed (classic
    mode credited the 10 days to the anchor at 3100 a month, 1000, off the first paid
    invoice)."""
    _, trial_customer, trial_subscription = free_to_february_15(client, mode)
    _, cancel_customer, canceled = free_to_february_15(client, mode)
    upcoming = preview(client, trial_subscription.id, trial_end=MAR_10)
    assert (proration_amounts(upcoming), upcoming.total) == ([], 3100)
    change(client, trial_subscription.id, trial_end=MAR_10)
    assert pending_of(client, trial_customer.id) == []
    client.v1.subscriptions.cancel(canceled.id, params={"prorate": True})
    assert pending_of(client, cancel_customer.id) == []


@pytest.mark.parametrize("mode", ["flexible", "classic"])
def test_time_charged_inside_the_free_time_before_an_anchor_is_credited(
    client: Client, ledger_verified: None, mode: str
) -> None:
    """Created on January 31 anchored on February 15 with `proration_behavior=none` (free
    to the anchor); on February 5 a 28.00 item added, charged for its 10 days to the
    anchor, 10/31 of 2800: 903. Canceled on February 10 with `prorate` and `invoice_now`:
    the added item's unused 5 days are credited, 5/31 of 2800: 452, so the final invoice is
    903 - 452 = 451, as previewed; the first item, free, is credited nothing."""
    added = monthly_price(client, 2800)
    clock_id, customer, subscription = free_to_february_15(client, mode)
    change(client, subscription.id, items=[{"price": added.id}])
    assert sorted(item.amount for item in pending_of(client, customer.id)) == [903]
    advance(client, clock_id, at(2027, 2, 10))
    canceling: Any = {"cancel_now": True}
    upcoming = client.v1.invoices.create_preview(
        params={"subscription": subscription.id, "subscription_details": canceling}
    )
    client.v1.subscriptions.cancel(subscription.id, params={"prorate": True, "invoice_now": True})
    *_, final = invoices_of(client, subscription.id)
    assert sorted(line.amount for line in final.lines.data) == [-452, 903]
    same_invoice(final, upcoming)


def test_a_trial_added_with_new_tax_rates_credits_at_those_rates_as_previewed(
    client: Client, ledger_verified: None
) -> None:
    """Taxed 10% from January 31; on February 14 a trial added with `always_invoice` and
    `default_tax_rates` set to 20% in the same update: the credit invoice is taxed at the
    rates the update sets, as an item change's is: -1550 and 20% of it, -310: -1860, as
    previewed (the update taxed it at 10%, -1705, while the preview showed -1860)."""
    ten, twenty = tax_rate(client, 10), tax_rate(client, 20)
    _, _, subscription = active_on_february_14(client, default_tax_rates=[ten.id])
    changed: Any = {
        "trial_end": MAR_10,
        "proration_behavior": "always_invoice",
        "default_tax_rates": [twenty.id],
    }
    upcoming = preview(client, subscription.id, **changed)
    assert upcoming.total == -1860
    change(client, subscription.id, **changed)
    _, credited = invoices_of(client, subscription.id)
    same_invoice(credited, upcoming)
