"""Changing a subscription's items inside its period, through the SDK on a real `kassa serve`
(SQLite and PostgreSQL) driven by test clocks: prorations worked out by hand for months of 31,
30 and 28 days and a leap February, left pending for the renewal, invoiced at once or not made;
subscription items created, updated and deleted as their own resource; the billing cycle reset;
cancellations that prorate and invoice now; refusals that change nothing; and the ledger whole
after each.

Every proration below is `amount * unused / period`, both in whole days, rounded half up to
whole cents, once for the credit and once for the charge."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import stripe

from tests.test_subscriptions import (
    Client,
    advance,
    clock_customer,
    events_of,
    invoices_of,
    monthly_price,
    service_period,
    subscribe,
)

HOUR = 3_600
DECLINING_CARD = "pm_card_chargeCustomerFail"


def at(year: int, month: int, day: int, hour: int = 10) -> int:
    return int(dt.datetime(year, month, day, hour, 0, tzinfo=dt.UTC).timestamp())


def pending_of(client: Client, customer_id: str) -> list[stripe.InvoiceItem]:
    """The customer's pending invoice items, oldest first."""
    listed = client.v1.invoice_items.list(params={"customer": customer_id, "pending": True})
    return list(listed.auto_paging_iter())[::-1]


def only_item(subscription: stripe.Subscription) -> stripe.SubscriptionItem:
    (item,) = subscription["items"].data
    assert isinstance(item, stripe.SubscriptionItem)
    return item


def change(client: Client, subscription_id: str, **params: Any) -> stripe.Subscription:
    return client.v1.subscriptions.update(subscription_id, params=params)  # type: ignore[arg-type]


def declining(client: Client, customer_id: str, subscription_id: str) -> None:
    """From now on the subscription's charges are declined (its own default payment method)."""
    card = client.v1.payment_methods.attach(DECLINING_CARD, params={"customer": customer_id})
    change(client, subscription_id, default_payment_method=card.id)


def tripled_on_february_8(
    client: Client, *, declined: bool = False, cut_at: int | None = None, **params: Any
) -> tuple[str, stripe.Customer, stripe.Subscription, stripe.Subscription]:
    """A 28.00 monthly subscription from February 1, 2027 (set on February 5 to cancel at
    `cut_at` if given; its charges declined from then on when `declined`), and on February
    8 an update to three of its item, invoiced at once (with `params`): the clock, the
    customer, the subscription as created, the update's answer."""
    price = monthly_price(client, 2800)
    clock_id, customer = clock_customer(client, at(2027, 2, 1))
    subscription = subscribe(client, customer.id, price.id)
    if cut_at is not None:
        advance(client, clock_id, at(2027, 2, 5))
        change(client, subscription.id, cancel_at=cut_at)
    if declined:
        declining(client, customer.id, subscription.id)
    advance(client, clock_id, at(2027, 2, 8))
    changed = requantified(client, subscription, 3, **params)
    return clock_id, customer, subscription, changed


def requantified(
    client: Client, subscription: stripe.Subscription, quantity: int, **params: Any
) -> stripe.Subscription:
    """An update of its only item to `quantity`, invoiced at once (with `params`)."""
    item = only_item(subscription)
    return change(
        client,
        subscription.id,
        items=[{"id": item.id, "quantity": quantity}],
        proration_behavior="always_invoice",
        **params,
    )


# -- create_prorations: pending until the renewal -------------------------------------------


def test_an_upgrade_in_a_31_day_month_prorates_into_the_next_renewal(
    client: Client, ledger_verified: None
) -> None:
    basic, pro = monthly_price(client, 3100), monthly_price(client, 6200)
    clock_id, customer = clock_customer(client, at(2027, 1, 1))
    subscription = subscribe(client, customer.id, basic.id)
    advance(client, clock_id, at(2027, 1, 16))
    item = only_item(subscription)
    upgraded = change(client, subscription.id, items=[{"id": item.id, "price": pro.id}])
    assert only_item(upgraded).price.id == pro.id
    assert only_item(upgraded).id == item.id
    # 16 of January's 31 days unused: -3100 * 16/31 = -1600, +6200 * 16/31 = +3200.
    credit, charge = pending_of(client, customer.id)
    assert (credit.amount, charge.amount) == (-1600, 3200)
    assert (credit.proration, charge.proration, credit.discountable) == (True, True, False)
    assert credit.description == "Unused time on 1 \u00d7 Pro plan after 16 Jan 2027"
    assert charge.description == "Remaining time on 1 \u00d7 Pro plan after 16 Jan 2027"
    assert (credit.period.start, credit.period.end) == (at(2027, 1, 16), at(2027, 2, 1))
    assert credit.parent is not None and credit.parent.subscription_details is not None
    assert credit.parent.subscription_details.subscription_item == item.id
    assert credit.proration_details is not None
    assert credit.proration_details.credited_items is not None
    credited = credit.proration_details.credited_items.invoice_line_item_details
    assert credited is not None and credited.invoice == subscription.latest_invoice
    first_line = client.v1.invoices.retrieve(str(subscription.latest_invoice)).lines.data[0]
    assert credited.invoice_line_items == [first_line.id]
    # Nothing is invoiced now; the February renewal bills the new price and both prorations.
    assert len(invoices_of(client, subscription.id)) == 1
    advance(client, clock_id, at(2027, 2, 1) + 2 * HOUR)
    renewal = invoices_of(client, subscription.id)[-1]
    assert (renewal.billing_reason, renewal.status) == ("subscription_cycle", "paid")
    assert renewal.amount_paid == 6200 - 1600 + 3200
    prorated = [line for line in renewal.lines.data if line.amount in (-1600, 3200)]
    assert len(prorated) == 2
    for line in prorated:
        assert line.parent is not None and line.parent.subscription_item_details is not None
        assert line.parent.subscription_item_details.proration is True
    credit_line = next(line for line in prorated if line.amount < 0)
    assert credit_line.parent is not None and credit_line.parent.subscription_item_details
    debit = credit_line.parent.subscription_item_details.proration_details
    assert debit is not None and debit.credited_items is not None
    assert debit.credited_items.invoice == subscription.latest_invoice
    assert pending_of(client, customer.id) == []
    assert "customer.subscription.updated" in events_of(client, subscription.id)


def test_a_downgrade_in_a_30_day_month_credits_the_renewal(
    client: Client, ledger_verified: None
) -> None:
    big, small = monthly_price(client, 3000), monthly_price(client, 1500)
    clock_id, customer = clock_customer(client, at(2027, 4, 1))
    subscription = subscribe(client, customer.id, big.id)
    advance(client, clock_id, at(2027, 4, 11))
    change(
        client,
        subscription.id,
        items=[{"id": only_item(subscription).id, "price": small.id}],
    )
    # 20 of April's 30 days unused: -3000 * 20/30 = -2000, +1500 * 20/30 = +1000.
    assert [i.amount for i in pending_of(client, customer.id)] == [-2000, 1000]
    advance(client, clock_id, at(2027, 5, 1) + 2 * HOUR)
    renewal = invoices_of(client, subscription.id)[-1]
    assert (renewal.total, renewal.amount_paid) == (1500 - 2000 + 1000, 500)


def test_proration_rounds_each_amount_half_up_to_the_cent(client: Client) -> None:
    small, double = monthly_price(client, 1000), monthly_price(client, 2000)
    clock_id, customer = clock_customer(client, at(2027, 1, 1))
    subscription = subscribe(client, customer.id, small.id)
    advance(client, clock_id, at(2027, 1, 22))
    change(
        client,
        subscription.id,
        items=[{"id": only_item(subscription).id, "price": double.id}],
    )
    # 10 of 31 days: 1000 * 10/31 = 322.58 -> 323 credited; 2000 * 10/31 = 645.16 -> 645.
    assert [i.amount for i in pending_of(client, customer.id)] == [-323, 645]


def test_proration_date_fixes_the_time_a_change_counts_from(client: Client) -> None:
    price = monthly_price(client, 3100)
    clock_id, customer = clock_customer(client, at(2027, 1, 1))
    subscription = subscribe(client, customer.id, price.id)
    advance(client, clock_id, at(2027, 1, 20))
    change(
        client,
        subscription.id,
        items=[{"id": only_item(subscription).id, "quantity": 2}],
        proration_date=at(2027, 1, 16),
    )
    # As of January 16 (16 days of 31 left): -3100 * 16/31, +6200 * 16/31.
    assert [i.amount for i in pending_of(client, customer.id)] == [-1600, 3200]
    with pytest.raises(stripe.InvalidRequestError) as outside:
        change(
            client,
            subscription.id,
            items=[{"id": only_item(subscription).id, "quantity": 3}],
            proration_date=at(2027, 2, 2),
        )
    assert outside.value.param == "proration_date"


def test_proration_date_before_the_items_last_prorated_change_is_refused(
    client: Client, ledger_verified: None
) -> None:
    price = monthly_price(client, 3000)
    clock_id, customer = clock_customer(client, at(2027, 4, 1))
    subscription = subscribe(client, customer.id, price.id)
    item = only_item(subscription)
    advance(client, clock_id, at(2027, 4, 16))
    change(client, subscription.id, items=[{"id": item.id, "quantity": 2}])
    # 15 of April's 30 days left: -3000 * 15/30 = -1500, +6000 * 15/30 = +3000.
    assert [i.amount for i in pending_of(client, customer.id)] == [-1500, 3000]
    before = client.v1.subscriptions.retrieve(subscription.id)
    # Dated April 11, a change to 3 seats would credit the 2 seats from April 11 although
    # they were charged from April 16 only, and charge 3 seats again for April 11 to 16
    # (April netted at 7500, not 1 seat to April 11 and 3 after: 1000 + 6000 = 7000).
    with pytest.raises(stripe.InvalidRequestError) as backdated:
        change(
            client,
            subscription.id,
            items=[{"id": item.id, "quantity": 3}],
            proration_date=at(2027, 4, 11),
        )
    assert (backdated.value.http_status, backdated.value.param) == (400, "proration_date")
    assert client.v1.subscriptions.retrieve(subscription.id).to_dict() == before.to_dict()
    assert [i.amount for i in pending_of(client, customer.id)] == [-1500, 3000]
    # Dated at the last change it is made: the +3000 charge credited whole, +9000 * 15/30.
    change(
        client,
        subscription.id,
        items=[{"id": item.id, "quantity": 3}],
        proration_date=at(2027, 4, 16),
    )
    assert [i.amount for i in pending_of(client, customer.id)] == [-1500, 3000, -3000, 4500]


# -- always_invoice and none ----------------------------------------------------------------


def test_always_invoice_in_a_28_day_february_bills_the_change_at_once(
    client: Client, ledger_verified: None
) -> None:
    _, customer, _, changed = tripled_on_february_8(client)
    # 21 of February 2027's 28 days unused: -2800 * 21/28 = -2100, +8400 * 21/28 = +6300.
    invoice = client.v1.invoices.retrieve(str(changed.latest_invoice))
    assert (invoice.billing_reason, invoice.status) == ("subscription_update", "paid")
    assert sorted(line.amount for line in invoice.lines.data) == [-2100, 6300]
    assert invoice.amount_paid == 4200
    assert pending_of(client, customer.id) == []
    assert changed.status == "active"


def test_a_leap_february_prorates_over_29_days(client: Client, ledger_verified: None) -> None:
    base, extra = monthly_price(client, 2000), monthly_price(client, 2900)
    clock_id, customer = clock_customer(client, at(2028, 2, 1))
    subscription = subscribe(client, customer.id, base.id)
    advance(client, clock_id, at(2028, 2, 15))
    added = client.v1.subscription_items.create(
        params={
            "subscription": subscription.id,
            "price": extra.id,
            "proration_behavior": "always_invoice",
        }
    )
    assert (added.price.id, added.quantity, added.subscription) == (extra.id, 1, subscription.id)
    assert (added.current_period_start, added.current_period_end) == (
        at(2028, 2, 1),
        at(2028, 3, 1),
    )
    # An added item is only charged: 15 of February 2028's 29 days, 2900 * 15/29 = 1500.
    invoice = invoices_of(client, subscription.id)[-1]
    assert [line.amount for line in invoice.lines.data] == [1500]
    assert invoice.amount_paid == 1500
    listed = client.v1.subscription_items.list(params={"subscription": subscription.id})
    assert {i.id for i in listed.data} == {only_item(subscription).id, added.id}


def test_proration_behavior_none_changes_the_price_without_prorating(client: Client) -> None:
    basic, pro = monthly_price(client, 1000), monthly_price(client, 5000)
    clock_id, customer = clock_customer(client, at(2027, 1, 1))
    subscription = subscribe(client, customer.id, basic.id)
    advance(client, clock_id, at(2027, 1, 10))
    change(
        client,
        subscription.id,
        items=[{"id": only_item(subscription).id, "price": pro.id}],
        proration_behavior="none",
    )
    assert pending_of(client, customer.id) == []
    advance(client, clock_id, at(2027, 2, 1) + 2 * HOUR)
    assert invoices_of(client, subscription.id)[-1].amount_paid == 5000


# -- subscription items as their own resource -------------------------------------------------


def test_items_are_updated_and_deleted_with_prorations(client: Client) -> None:
    base, seat = monthly_price(client, 3100), monthly_price(client, 620)
    clock_id, customer = clock_customer(client, at(2027, 1, 1))
    subscription = subscribe(
        client,
        customer.id,
        base.id,
        items=[{"price": base.id}, {"price": seat.id, "quantity": 5}],
    )
    seats = next(i for i in subscription["items"].data if i.price.id == seat.id)
    advance(client, clock_id, at(2027, 1, 16))
    updated = client.v1.subscription_items.update(
        seats.id, params={"quantity": 10, "metadata": {"team": "b"}}
    )
    assert (updated.quantity, updated.metadata.to_dict()) == (10, {"team": "b"})
    # 16 of 31 days: -3100 * 16/31 = -1600 for 5 seats, +6200 * 16/31 = +3200 for 10.
    assert [i.amount for i in pending_of(client, customer.id)] == [-1600, 3200]
    deleted = client.v1.subscription_items.delete(seats.id)
    assert (deleted.id, deleted.deleted) == (seats.id, True)
    # Removed, its 10 seats are credited for the same 16 days.
    assert [i.amount for i in pending_of(client, customer.id)] == [-1600, 3200, -3200]
    kept = client.v1.subscriptions.retrieve(subscription.id)
    assert [i.price.id for i in kept["items"].data] == [base.id]
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscription_items.retrieve(seats.id)


def test_item_changes_that_cannot_be_made_change_nothing(client: Client) -> None:
    price, other = monthly_price(client), monthly_price(client, 900)
    euro = monthly_price(client, 900, currency="eur")
    _, customer = clock_customer(client, at(2027, 1, 1))
    subscription = subscribe(client, customer.id, price.id)
    item = only_item(subscription)
    refusals: list[tuple[dict[str, Any], str]] = [
        ({"items": [{"id": "si_missing", "quantity": 2}]}, "items[0][id]"),
        ({"items": [{"id": item.id, "deleted": True}]}, "items"),
        ({"items": [{"price": price.id}]}, "items"),
        ({"items": [{"price": euro.id}]}, "items"),
        ({"items": [{"quantity": 2}]}, "items[0][price]"),
        ({"items": [{"id": item.id, "price": other.id}], "proration_behavior": "later"}, ""),
    ]
    for params, param in refusals:
        with pytest.raises(stripe.InvalidRequestError) as refused:
            change(client, subscription.id, **params)
        if param:
            assert refused.value.param == param, params
    with pytest.raises(stripe.InvalidRequestError) as last:
        client.v1.subscription_items.delete(item.id)
    # The item is the path's: no parameter of the caller's is at fault.
    assert last.value.param is None
    assert client.v1.subscriptions.retrieve(subscription.id).to_dict() == subscription.to_dict()
    assert pending_of(client, customer.id) == []


def test_subscription_item_refusals_name_the_parameter_sent(client: Client) -> None:
    """`/v1/subscription_items` takes `price`, not `items[]`: a refusal names `price`, as
    Stripe names the parameter its caller sent, and changes nothing."""
    price, other = monthly_price(client), monthly_price(client, 900)
    euro = monthly_price(client, 900, currency="eur")
    one_time = client.v1.prices.create(
        params={"currency": "usd", "unit_amount": 500, "product_data": {"name": "Setup"}}
    )
    _, customer = clock_customer(client, at(2027, 1, 1))
    subscription = subscribe(client, customer.id, price.id)
    item = only_item(subscription)
    for sent in (price.id, euro.id, one_time.id, "price_nope"):
        with pytest.raises(stripe.InvalidRequestError) as created:
            client.v1.subscription_items.create(
                params={"subscription": subscription.id, "price": sent}
            )
        assert created.value.param == "price", sent
    for sent in (euro.id, one_time.id, "price_nope"):
        with pytest.raises(stripe.InvalidRequestError) as updated:
            client.v1.subscription_items.update(item.id, params={"price": sent})
        assert updated.value.param == "price", sent
    client.v1.subscription_items.create(params={"subscription": subscription.id, "price": other.id})
    with pytest.raises(stripe.InvalidRequestError) as twice:
        client.v1.subscription_items.update(item.id, params={"price": other.id})
    assert twice.value.param == "price"
    assert len(client.v1.subscriptions.retrieve(subscription.id)["items"].data) == 2


def test_subscription_item_refusals_for_the_subscriptions_status_name_no_price(
    client: Client,
) -> None:
    """A subscription whose status rules out any change of items (canceled here): the
    refusal names the subscription on create, and nothing on update, whose item is the
    path's; not the `price` sent, which is not at fault."""
    price, other = monthly_price(client), monthly_price(client, 900)
    _, customer = clock_customer(client, at(2027, 1, 1))
    subscription = subscribe(client, customer.id, price.id)
    item = only_item(subscription)
    client.v1.subscriptions.cancel(subscription.id)
    with pytest.raises(stripe.InvalidRequestError) as created:
        client.v1.subscription_items.create(
            params={"subscription": subscription.id, "price": other.id}
        )
    assert created.value.param == "subscription"
    with pytest.raises(stripe.InvalidRequestError) as updated:
        client.v1.subscription_items.update(item.id, params={"price": other.id})
    assert updated.value.param is None


def test_a_missing_subscription_or_item_is_a_404_naming_the_parameter(client: Client) -> None:
    price = monthly_price(client)
    _, customer = clock_customer(client, at(2027, 1, 1))
    subscription = subscribe(client, customer.id, price.id)
    with pytest.raises(stripe.InvalidRequestError) as no_subscription:
        client.v1.subscription_items.create(params={"subscription": "sub_nope", "price": price.id})
    with pytest.raises(stripe.InvalidRequestError) as no_item:
        change(client, subscription.id, items=[{"id": "si_nope", "quantity": 2}])
    client.v1.subscriptions.cancel(subscription.id)
    with pytest.raises(stripe.InvalidRequestError) as canceled:
        client.v1.subscriptions.cancel(subscription.id)
    for refused, param in (
        (no_subscription, "subscription"),
        (no_item, "items[0][id]"),
        (canceled, "id"),
    ):
        error = refused.value
        assert (error.http_status, error.code, error.param) == (404, "resource_missing", param)


# -- the billing cycle reset ---------------------------------------------------------------------


def test_billing_cycle_anchor_now_starts_a_new_period_billed_at_once(
    client: Client, ledger_verified: None
) -> None:
    price = monthly_price(client, 3100)
    clock_id, customer = clock_customer(client, at(2027, 1, 1))
    subscription = subscribe(client, customer.id, price.id)
    advance(client, clock_id, at(2027, 1, 16))
    reset = change(client, subscription.id, billing_cycle_anchor={"type": "now"})
    assert reset.billing_cycle_anchor == at(2027, 1, 16)
    item = only_item(reset)
    assert (item.current_period_start, item.current_period_end) == (
        at(2027, 1, 16),
        at(2027, 2, 16),
    )
    # The new period in full, less 16 of 31 days unused of the old one: 3100 - 1600.
    invoice = client.v1.invoices.retrieve(str(reset.latest_invoice))
    assert (invoice.billing_reason, invoice.amount_paid) == ("subscription_update", 1500)
    advance(client, clock_id, at(2027, 2, 16) + 2 * HOUR)
    renewal = invoices_of(client, subscription.id)[-1]
    assert (renewal.period_end, renewal.amount_paid) == (at(2027, 2, 16), 3100)


def test_a_new_billing_interval_resets_the_cycle(client: Client, ledger_verified: None) -> None:
    monthly = monthly_price(client, 3100)
    yearly = client.v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount": 36_500,
            "recurring": {"interval": "year"},
            "product_data": {"name": "Pro yearly"},
        }
    )
    clock_id, customer = clock_customer(client, at(2027, 1, 1))
    subscription = subscribe(client, customer.id, monthly.id)
    advance(client, clock_id, at(2027, 1, 16))
    yearly_sub = change(
        client, subscription.id, items=[{"id": only_item(subscription).id, "price": yearly.id}]
    )
    item = only_item(yearly_sub)
    assert (item.current_period_start, item.current_period_end) == (
        at(2027, 1, 16),
        at(2028, 1, 16),
    )
    invoice = client.v1.invoices.retrieve(str(yearly_sub.latest_invoice))
    assert invoice.amount_paid == 36_500 - 1600


def test_going_from_free_to_paid_resets_the_cycle_and_invoices_at_once(
    client: Client, ledger_verified: None
) -> None:
    # Stripe's update reference: a subscription that "moves from free to paid" is credited
    # for the unused time on the old price, charged at once for the new one, and its
    # billing date reset, as when the interval changes. Free is a recurring total of 0.
    free, paid = monthly_price(client, 0), monthly_price(client, 3000)
    clock_id, customer = clock_customer(client, at(2027, 4, 1))
    repriced = subscribe(client, customer.id, free.id)
    unseated = subscribe(client, customer.id, paid.id, items=[{"price": paid.id, "quantity": 0}])
    advance(client, clock_id, at(2027, 4, 11))
    details: Any = {"items": [{"id": only_item(repriced).id, "price": paid.id}]}
    preview = client.v1.invoices.create_preview(
        params={"subscription": repriced.id, "subscription_details": details}
    )
    assert [line.amount for line in preview.lines.data] == [3000]
    for subscription, items in (
        (repriced, details["items"]),
        (unseated, [{"id": only_item(unseated).id, "quantity": 1}]),
    ):
        changed = change(client, subscription.id, items=items)
        assert changed.billing_cycle_anchor == at(2027, 4, 11)
        item = only_item(changed)
        assert (item.current_period_start, item.current_period_end) == (
            at(2027, 4, 11),
            at(2027, 5, 11),
        )
        # The new period, April 11 to May 11, in full: 3000; the free time credits 0, so
        # no credit line. Nothing is left pending for a renewal.
        invoice = client.v1.invoices.retrieve(str(changed.latest_invoice))
        assert (invoice.billing_reason, invoice.amount_paid) == ("subscription_update", 3000)
        (line,) = invoice.lines.data
        assert (line.amount, line.period.start, line.period.end) == (
            3000,
            at(2027, 4, 11),
            at(2027, 5, 11),
        )
    assert pending_of(client, customer.id) == []
    # May 11 renews each at 3000, nothing else.
    advance(client, clock_id, at(2027, 5, 11) + 2 * HOUR)
    for subscription in (repriced, unseated):
        renewal = invoices_of(client, subscription.id)[-1]
        assert (renewal.billing_reason, renewal.amount_paid) == ("subscription_cycle", 3000)
        assert renewal.period_start == at(2027, 4, 11)


# -- payment of an update's invoice ----------------------------------------------------------------


def test_a_declined_update_invoice_leaves_it_past_due_or_with_error_if_incomplete_undone(
    client: Client, ledger_verified: None
) -> None:
    price = monthly_price(client, 2800)
    clock_id, customer = clock_customer(client, at(2027, 2, 1))
    subscription = subscribe(client, customer.id, price.id)
    client.v1.payment_methods.attach(DECLINING_CARD, params={"customer": customer.id})
    declining = client.v1.payment_methods.list(params={"customer": customer.id}).data[0]
    change(client, subscription.id, default_payment_method=declining.id)
    advance(client, clock_id, at(2027, 2, 8))
    before = client.v1.subscriptions.retrieve(subscription.id)
    item = only_item(before)
    with pytest.raises(stripe.CardError):
        change(
            client,
            subscription.id,
            items=[{"id": item.id, "quantity": 3}],
            proration_behavior="always_invoice",
            payment_behavior="error_if_incomplete",
        )
    assert client.v1.subscriptions.retrieve(subscription.id).to_dict() == before.to_dict()
    assert pending_of(client, customer.id) == []
    kept = change(
        client,
        subscription.id,
        items=[{"id": item.id, "quantity": 3}],
        proration_behavior="always_invoice",
    )
    assert (kept.status, only_item(kept).quantity) == ("past_due", 3)
    invoice = client.v1.invoices.retrieve(str(kept.latest_invoice))
    assert (invoice.status, invoice.amount_remaining, invoice.attempt_count) == ("open", 4200, 1)


# -- cancellation ------------------------------------------------------------------------------


def test_canceling_with_prorate_and_invoice_now_credits_the_unused_time(
    client: Client, ledger_verified: None
) -> None:
    price = monthly_price(client, 3100)
    clock_id, customer = clock_customer(client, at(2027, 1, 1))
    subscription = subscribe(client, customer.id, price.id)
    advance(client, clock_id, at(2027, 1, 16))
    canceled = client.v1.subscriptions.cancel(
        subscription.id, params={"prorate": True, "invoice_now": True}
    )
    assert canceled.status == "canceled"
    final = client.v1.invoices.retrieve(str(canceled.latest_invoice))
    # 16 of 31 days unused: 3100 * 16/31 = 1600 back, to the customer's balance.
    assert (final.total, final.amount_due, final.status) == (-1600, 0, "paid")
    assert client.v1.customers.retrieve(customer.id).balance == -1600


def test_canceling_without_either_drops_pending_prorations_but_not_other_items(
    client: Client,
) -> None:
    price, pro = monthly_price(client, 3100), monthly_price(client, 6200)
    clock_id, customer = clock_customer(client, at(2027, 1, 1))
    subscription = subscribe(client, customer.id, price.id)
    advance(client, clock_id, at(2027, 1, 16))
    change(client, subscription.id, items=[{"id": only_item(subscription).id, "price": pro.id}])
    client.v1.invoice_items.create(
        params={"customer": customer.id, "amount": 500, "currency": "usd"}
    )
    assert len(pending_of(client, customer.id)) == 3
    client.v1.subscriptions.cancel(subscription.id)
    assert [i.amount for i in pending_of(client, customer.id)] == [500]


# -- the upcoming invoice ----------------------------------------------------------------------


def test_the_upcoming_invoice_is_the_next_renewal(client: Client) -> None:
    price = monthly_price(client, 3100)
    _, customer = clock_customer(client, at(2027, 1, 1))
    subscription = subscribe(client, customer.id, price.id)
    client.v1.invoice_items.create(
        params={"customer": customer.id, "amount": 250, "currency": "usd"}
    )
    upcoming = client.v1.invoices.create_preview(params={"subscription": subscription.id})
    assert upcoming.id is not None and upcoming.id.startswith("upcoming_in")
    assert (upcoming.billing_reason, upcoming.customer) == ("upcoming", customer.id)
    assert service_period(upcoming) == (at(2027, 2, 1), at(2027, 3, 1))
    assert upcoming.parent is not None and upcoming.parent.subscription_details is not None
    assert upcoming.parent.subscription_details.subscription == subscription.id
    assert sorted(line.amount for line in upcoming.lines.data) == [250, 3100]
    assert upcoming.total == 3350
    # Nothing was stored: the pending item is still pending, no invoice was made.
    assert len(pending_of(client, customer.id)) == 1
    assert len(invoices_of(client, subscription.id)) == 1


def test_a_previewed_change_is_billed_to_the_cent_by_the_update_that_follows(
    client: Client, ledger_verified: None
) -> None:
    basic, pro = monthly_price(client, 3100), monthly_price(client, 6200)
    clock_id, customer = clock_customer(client, at(2027, 1, 1))
    subscription = subscribe(client, customer.id, basic.id)
    advance(client, clock_id, at(2027, 1, 16))
    details: Any = {
        "items": [{"id": only_item(subscription).id, "price": pro.id}],
        "proration_date": at(2027, 1, 16),
    }
    preview = client.v1.invoices.create_preview(
        params={"subscription": subscription.id, "subscription_details": details}
    )
    # The February renewal at the new price, with -1600 and +3200 for January's last 16 days.
    assert sorted(line.amount for line in preview.lines.data) == [-1600, 3200, 6200]
    assert preview.total == 7800
    assert pending_of(client, customer.id) == []
    change(client, subscription.id, **details)
    advance(client, clock_id, at(2027, 2, 1) + 2 * HOUR)
    renewal = invoices_of(client, subscription.id)[-1]
    assert (renewal.total, renewal.amount_paid) == (preview.total, 7800)


def test_previewing_an_immediate_change_and_an_ended_subscription(client: Client) -> None:
    price = monthly_price(client, 2800)
    clock_id, customer = clock_customer(client, at(2027, 2, 1))
    subscription = subscribe(client, customer.id, price.id)
    advance(client, clock_id, at(2027, 2, 8))
    details: Any = {
        "items": [{"id": only_item(subscription).id, "quantity": 3}],
        "proration_behavior": "always_invoice",
    }
    now = client.v1.invoices.create_preview(
        params={"subscription": subscription.id, "subscription_details": details}
    )
    assert sorted(line.amount for line in now.lines.data) == [-2100, 6300]
    assert now.total == 4200
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.invoices.create_preview(
            params={
                "subscription": subscription.id,
                "subscription_details": {"items": [{"id": "si_nope", "quantity": 2}]},
            }
        )
    assert unknown.value.param == "subscription_details[items][0][id]"
    client.v1.subscriptions.cancel(subscription.id)
    with pytest.raises(stripe.InvalidRequestError) as ended:
        client.v1.invoices.create_preview(params={"subscription": subscription.id})
    assert ended.value.code == "invoice_upcoming_none"


def test_an_invoice_item_given_a_subscription_waits_for_that_subscriptions_renewal(
    client: Client,
) -> None:
    price = monthly_price(client, 3100)
    clock_id, customer = clock_customer(client, at(2027, 1, 1))
    subscription = subscribe(client, customer.id, price.id)
    setup_fee = client.v1.invoice_items.create(
        params={
            "customer": customer.id,
            "amount": 900,
            "currency": "usd",
            "subscription": subscription.id,
        }
    )
    assert setup_fee.parent is not None and setup_fee.parent.subscription_details is not None
    assert setup_fee.parent.subscription_details.subscription == subscription.id
    # A one-off invoice of the customer's leaves it for the subscription.
    one_off = client.v1.invoices.create(
        params={"customer": customer.id, "pending_invoice_items_behavior": "include"}
    )
    assert one_off.lines.data == []
    advance(client, clock_id, at(2027, 2, 1) + 2 * HOUR)
    renewal = invoices_of(client, subscription.id)[-1]
    fee_line = next(line for line in renewal.lines.data if line.amount == 900)
    assert fee_line.parent is not None and fee_line.parent.invoice_item_details is not None
    assert fee_line.parent.invoice_item_details.subscription == subscription.id
    assert renewal.amount_paid == 3100 + 900
    _, stranger = clock_customer(client, at(2027, 1, 1))
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.invoice_items.create(
            params={
                "customer": stranger.id,
                "amount": 900,
                "currency": "usd",
                "subscription": subscription.id,
            }
        )
    assert refused.value.param == "subscription"


def test_an_invoice_of_a_subscription_takes_only_that_subscriptions_pending_items(
    client: Client,
) -> None:
    _, customer = clock_customer(client, at(2027, 1, 1))
    subscription = subscribe(client, customer.id, monthly_price(client).id)
    fee: Any = {"customer": customer.id, "amount": 900, "currency": "usd"}
    client.v1.invoice_items.create(params=fee | {"subscription": subscription.id})
    other = client.v1.invoice_items.create(params=fee | {"amount": 500})
    sent: Any = {
        "customer": customer.id,
        "subscription": subscription.id,
        "pending_invoice_items_behavior": "include",
    }
    invoice = client.v1.invoices.create(params=sent)
    assert [line.amount for line in invoice.lines.data] == [900]
    assert invoice.parent is not None and invoice.parent.subscription_details is not None
    assert invoice.parent.subscription_details.subscription == subscription.id
    assert [item.id for item in pending_of(client, customer.id)] == [other.id]
    _, stranger = clock_customer(client, at(2027, 1, 1))
    with pytest.raises(stripe.InvalidRequestError) as not_theirs:
        client.v1.invoices.create(params=sent | {"customer": stranger.id})
    assert (not_theirs.value.http_status, not_theirs.value.param) == (400, "subscription")
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.invoices.create(params=sent | {"subscription": "sub_nope"})
    assert (missing.value.http_status, missing.value.param) == (404, "subscription")


def test_a_subscription_payment_method_updated_after_a_decline_pays_the_next_retry(
    client: Client, ledger_verified: None
) -> None:
    price = monthly_price(client, 2000)
    clock_id, customer = clock_customer(client, at(2027, 1, 1))
    subscription = subscribe(client, customer.id, price.id)
    declining = client.v1.payment_methods.attach(DECLINING_CARD, params={"customer": customer.id})
    change(client, subscription.id, default_payment_method=declining.id)
    advance(client, clock_id, at(2027, 2, 1) + 2 * HOUR)
    assert client.v1.subscriptions.retrieve(subscription.id).status == "past_due"
    good = client.v1.payment_methods.attach("pm_card_mastercard", params={"customer": customer.id})
    change(client, subscription.id, default_payment_method=good.id)
    # The first retry, three days after the failed attempt (an hour after the renewal).
    advance(client, clock_id, at(2027, 2, 4) + 2 * HOUR)
    recovered = client.v1.subscriptions.retrieve(subscription.id)
    assert recovered.status == "active"
    renewal = client.v1.invoices.retrieve(str(recovered.latest_invoice))
    assert (renewal.status, renewal.attempt_count, renewal.amount_paid) == ("paid", 2, 2000)
