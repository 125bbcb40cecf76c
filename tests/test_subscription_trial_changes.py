"""Changing a subscription's items during its trial, through the SDK on a real `kassa serve`
(SQLite and PostgreSQL) driven by test clocks: quantities, added and removed items, new
prices, `always_invoice`, and an item of another interval (flexible billing mode) are all
taken during a trial; nothing is prorated, invoiced or charged, since the trial is free; the
items added take the trial's period; and the first invoice after the trial bills the items as
they were changed, each at full price for a full period of its own interval.

Every subscription below starts on 1 January 2027 at 10:00 UTC with a 30-day trial, which
ends on 31 January; a monthly period from there ends on 28 February (the anchor's day 31
clamped), a yearly one on 31 January 2028."""

from __future__ import annotations

from typing import Any

import stripe

from tests.test_subscription_changes import at, change, only_item, pending_of
from tests.test_subscription_mixed_intervals import billed_prices, periods_by_price
from tests.test_subscription_terms import price_of
from tests.test_subscriptions import (
    Client,
    advance,
    clock_customer,
    invoices_of,
    monthly_price,
    service_period,
)

HOUR = 3_600
TRIAL_DAYS = 30
TRIAL = (at(2027, 1, 1), at(2027, 1, 31))
FIRST_MONTH = (at(2027, 1, 31), at(2027, 2, 28))
FIRST_YEAR = (at(2027, 1, 31), at(2028, 1, 31))


def on_trial(
    client: Client, prices: list[stripe.Price], quantities: list[int] | None = None
) -> tuple[str, stripe.Customer, stripe.Subscription]:
    """The prices (each with its quantity, 1 if not given) on a 30-day trial from 1 January
    2027, the clock then on 11 January: the clock, the customer, the subscription."""
    clock_id, customer = clock_customer(client, TRIAL[0])
    items = [
        {"price": price.id, "quantity": quantity}
        for price, quantity in zip(prices, quantities or [1] * len(prices), strict=True)
    ]
    create: Any = {"customer": customer.id, "items": items, "trial_period_days": TRIAL_DAYS}
    subscription = client.v1.subscriptions.create(params=create)
    assert (subscription.status, subscription.trial_end) == ("trialing", TRIAL[1])
    advance(client, clock_id, at(2027, 1, 11))
    return clock_id, customer, subscription


def nothing_billed_yet(client: Client, customer: stripe.Customer, subscription_id: str) -> None:
    """No proration waits for the first invoice, and the only invoice is the trial's own
    (zero, paid at creation), so nothing was charged."""
    assert pending_of(client, customer.id) == []
    (trial_invoice,) = invoices_of(client, subscription_id)
    assert (trial_invoice.amount_due, trial_invoice.status) == (0, "paid")
    assert client.v1.charges.list(params={"customer": customer.id}).data == []


def first_invoice_after_the_trial(
    client: Client, clock_id: str, subscription_id: str
) -> stripe.Invoice:
    """Past the trial's end (and the hour a renewal draft waits to be finalized): the
    subscription is active, and its first paid invoice, which holds no proration."""
    advance(client, clock_id, TRIAL[1] + 2 * HOUR)
    assert client.v1.subscriptions.retrieve(subscription_id).status == "active"
    first = invoices_of(client, subscription_id)[-1]
    assert (first.billing_reason, first.status) == ("subscription_cycle", "paid")
    for line in first.lines.data:
        assert line.parent is not None and line.parent.subscription_item_details is not None
        assert line.parent.subscription_item_details.proration is False
    return first


def quantity_changed_on_trial(
    client: Client, quantity: int, **params: Any
) -> tuple[str, stripe.Customer, stripe.Subscription, stripe.Subscription]:
    """A 20.00 monthly price on trial (`on_trial`), its quantity then changed (with
    `params`): the clock, the customer, the subscription as created, the update's answer."""
    price = monthly_price(client, 2000)
    clock_id, customer, subscription = on_trial(client, [price])
    item: Any = {"id": only_item(subscription).id, "quantity": quantity}
    return clock_id, customer, subscription, change(client, subscription.id, items=[item], **params)


def line_periods(invoice: stripe.Invoice) -> set[tuple[int, int]]:
    return {(line.period.start, line.period.end) for line in invoice.lines.data}


def test_a_quantity_changed_on_trial_prorates_nothing_and_is_billed_after_it(
    client: Client, ledger_verified: None
) -> None:
    clock_id, customer, subscription, changed = quantity_changed_on_trial(client, 3)
    assert (changed.status, changed.trial_end) == ("trialing", TRIAL[1])
    item = only_item(changed)
    assert (item.quantity, item.current_period_start, item.current_period_end) == (3, *TRIAL)
    nothing_billed_yet(client, customer, subscription.id)
    first = first_invoice_after_the_trial(client, clock_id, subscription.id)
    (line,) = first.lines.data
    assert (line.quantity, line.amount) == (3, 6000)
    assert (line.period.start, line.period.end) == FIRST_MONTH
    assert first.amount_paid == 6000


def test_a_price_added_on_trial_takes_its_period_and_is_billed_in_full_after_it(
    client: Client, ledger_verified: None
) -> None:
    base, seat = monthly_price(client, 2000), monthly_price(client, 500)
    clock_id, customer, subscription = on_trial(client, [base])
    added: Any = {"items": [{"price": seat.id, "quantity": 2}]}
    # The preview of the change is the first invoice after the trial, with no proration.
    preview = client.v1.invoices.create_preview(
        params={"subscription": subscription.id, "subscription_details": added}
    )
    assert sorted(line.amount for line in preview.lines.data) == [1000, 2000]
    assert service_period(preview) == FIRST_MONTH
    changed = change(client, subscription.id, **added)
    assert changed.status == "trialing"
    assert periods_by_price(changed) == {base.id: TRIAL, seat.id: TRIAL}
    nothing_billed_yet(client, customer, subscription.id)
    first = first_invoice_after_the_trial(client, clock_id, subscription.id)
    assert sorted(line.amount for line in first.lines.data) == [1000, 2000]
    assert line_periods(first) == {FIRST_MONTH}
    assert first.amount_paid == preview.total == 3000


def billed_after_the_trial_as_previewed(
    client: Client,
    trial: tuple[str, stripe.Customer, stripe.Subscription],
    details: Any,
    billed: tuple[str, int, tuple[int, int]],
) -> None:
    """The update `details` on the `trial` (clock, customer, subscription): previewed, then
    made; the one item left, at price `billed[0]`, keeps the trial's period with nothing
    billed, and the first invoice after the trial bills it `billed[1]` over `billed[2]`, as
    the preview showed."""
    clock_id, customer, subscription = trial
    price_id, amount, period = billed
    preview = client.v1.invoices.create_preview(
        params={"subscription": subscription.id, "subscription_details": details}
    )
    assert [line.amount for line in preview.lines.data] == [amount]
    changed = change(client, subscription.id, **details)
    assert (changed.status, changed.trial_end) == ("trialing", TRIAL[1])
    assert periods_by_price(changed) == {price_id: TRIAL}
    nothing_billed_yet(client, customer, subscription.id)
    first = first_invoice_after_the_trial(client, clock_id, subscription.id)
    assert [line.amount for line in first.lines.data] == [amount]
    assert line_periods(first) == {period}
    assert first.amount_paid == preview.total == amount


def test_the_only_item_replaced_on_trial_removed_first_gives_its_period_to_the_new_one(
    client: Client, ledger_verified: None
) -> None:
    """The one item deleted and a new price added in the same update, the deletion sent
    first (a 500 before: the new item looked for the trial's period among the items left,
    none): the new item takes the trial's period, the preview shows the first invoice after
    the trial at the new price, and that invoice bills it."""
    base, other = monthly_price(client, 2000), monthly_price(client, 3500)
    clock_id, customer, subscription = on_trial(client, [base])
    replaced: Any = {
        "items": [{"id": only_item(subscription).id, "deleted": True}, {"price": other.id}]
    }
    trial = (clock_id, customer, subscription)
    billed_after_the_trial_as_previewed(client, trial, replaced, (other.id, 3500, FIRST_MONTH))


def test_items_removed_and_repriced_on_trial_are_credited_nothing(
    client: Client, ledger_verified: None
) -> None:
    base, seat, pro = (monthly_price(client, amount) for amount in (2000, 500, 4000))
    clock_id, customer, subscription = on_trial(client, [base, seat], [1, 5])
    seats = next(i for i in subscription["items"].data if i.price.id == seat.id)
    kept = next(i for i in subscription["items"].data if i.price.id == base.id)
    # The items' own resource and the subscription's update both take a trial's changes.
    deleted = client.v1.subscription_items.delete(seats.id)
    assert (deleted.id, deleted.deleted) == (seats.id, True)
    repriced = change(client, subscription.id, items=[{"id": kept.id, "price": pro.id}])
    assert periods_by_price(repriced) == {pro.id: TRIAL}
    nothing_billed_yet(client, customer, subscription.id)
    first = first_invoice_after_the_trial(client, clock_id, subscription.id)
    assert billed_prices(first) == [pro.id]
    assert line_periods(first) == {FIRST_MONTH}
    assert first.amount_paid == 4000


def test_always_invoice_on_trial_invoices_and_charges_nothing(
    client: Client, ledger_verified: None
) -> None:
    clock_id, customer, subscription, changed = quantity_changed_on_trial(
        client, 2, proration_behavior="always_invoice"
    )
    assert changed.latest_invoice == subscription.latest_invoice
    assert (changed.status, only_item(changed).quantity) == ("trialing", 2)
    nothing_billed_yet(client, customer, subscription.id)
    first = first_invoice_after_the_trial(client, clock_id, subscription.id)
    assert first.amount_paid == 4000


def test_a_yearly_price_added_on_trial_bills_a_full_year_after_it(
    client: Client, ledger_verified: None
) -> None:
    monthly, yearly = monthly_price(client, 3100), price_of(client, 36_500, "year")
    clock_id, customer, subscription = on_trial(client, [monthly])
    changed = change(client, subscription.id, items=[{"price": yearly.id}])
    assert changed.billing_mode.type == "flexible"
    assert periods_by_price(changed) == {monthly.id: TRIAL, yearly.id: TRIAL}
    nothing_billed_yet(client, customer, subscription.id)
    first = first_invoice_after_the_trial(client, clock_id, subscription.id)
    after = client.v1.subscriptions.retrieve(subscription.id)
    assert periods_by_price(after) == {monthly.id: FIRST_MONTH, yearly.id: FIRST_YEAR}
    assert sorted(line.amount for line in first.lines.data) == [3100, 36_500]
    assert line_periods(first) == {FIRST_MONTH, FIRST_YEAR}
    assert first.amount_paid == 3100 + 36_500


def test_an_interval_switch_on_trial_starts_the_new_interval_at_its_end_as_previewed(
    client: Client, ledger_verified: None
) -> None:
    """The one monthly item repriced to a yearly price (120.00) on trial: nothing is reset
    or billed (the trial is free, and goes on to January 31); the item keeps the trial's
    period, and the first invoice after the trial bills the whole first year, January 31
    2027 to 2028, as the preview of the change showed (a 400 before: Kassa reset the cycle
    on an interval switch, which it refused on a trial)."""
    clock_id, customer, subscription = on_trial(client, [monthly_price(client, 2000)])
    (item,) = subscription["items"].data
    yearly = price_of(client, 12_000, "year")
    switch: Any = {"items": [{"id": item.id, "price": yearly.id}]}
    trial = (clock_id, customer, subscription)
    billed_after_the_trial_as_previewed(client, trial, switch, (yearly.id, 12_000, FIRST_YEAR))
