"""Subscriptions whose items bill on different intervals (Stripe's mixed-interval
subscriptions, flexible billing mode), through the SDK on a real `kassa serve` (SQLite and
PostgreSQL) driven by test clocks: each item keeps its own period from the shared anchor,
renewals bill exactly the items whose periods end (one invoice when they align), prorations
run over the changed item's own period, `cancel_at_period_end` and `cancel_at`'s named ends
resolve to the earliest or latest item period end, the preview shows the next renewal, and
the ledger is whole after each.

Every amount below is worked out by hand: prorations are `amount * unused / period`, both in
whole days (2027 has 365), rounded half up to whole cents."""

from __future__ import annotations

from typing import Any

import stripe

from kassa.store import Store
from kassa.store.tables import SUBSCRIPTIONS
from tests.direct_store import with_store
from tests.harness import Account, KassaServer
from tests.test_subscription_changes import at, change, pending_of
from tests.test_subscription_pause import pause, resume
from tests.test_subscription_terms import price_of
from tests.test_subscriptions import (
    Client,
    advance,
    clock_customer,
    invoices_of,
    monthly_price,
    run_invoices_job_at,
    service_period,
)

HOUR = 3_600
MONTHLY, QUARTERLY, YEARLY = 1500, 10_000, 12_000


def subscribe_all(
    client: Client, customer_id: str, prices: list[stripe.Price], **params: Any
) -> stripe.Subscription:
    create: Any = {"customer": customer_id, "items": [{"price": p.id} for p in prices], **params}
    return client.v1.subscriptions.create(params=create)


def monthly_and_yearly_on_january_16(
    client: Client,
) -> tuple[stripe.Price, stripe.Price, str, stripe.Customer, stripe.Subscription]:
    """31.00 a month and 365.00 a year (a whole number of cents a day in 2027) from 1 January,
    the clock then on 16 January: the prices, the clock, the customer, the subscription."""
    monthly, yearly = monthly_price(client, 3100), price_of(client, 36_500, "year")
    clock_id, customer = clock_customer(client, at(2027, 1, 1))
    subscription = subscribe_all(client, customer.id, [monthly, yearly])
    advance(client, clock_id, at(2027, 1, 16))
    return monthly, yearly, clock_id, customer, subscription


def periods_by_price(subscription: stripe.Subscription) -> dict[str, tuple[int, int]]:
    return {
        item.price.id: (item.current_period_start, item.current_period_end)
        for item in subscription["items"].data
    }


def billed_prices(invoice: stripe.Invoice) -> list[str]:
    """The prices of the invoice's lines (renewals and prorations alike), sorted."""
    found = []
    for line in invoice.lines.data:
        assert line.pricing is not None and line.pricing.price_details is not None
        found.append(str(line.pricing.price_details.price))
    return sorted(found)


def test_items_renew_on_their_own_intervals_and_together_when_they_align(
    client: Client, ledger_verified: None
) -> None:
    monthly = monthly_price(client, MONTHLY)
    quarterly = price_of(client, QUARTERLY, "month", 3)
    yearly = price_of(client, YEARLY, "year")
    clock_id, customer = clock_customer(client, at(2027, 1, 1))
    subscription = subscribe_all(client, customer.id, [monthly, quarterly, yearly])
    assert subscription.status == "active"
    assert periods_by_price(subscription) == {
        monthly.id: (at(2027, 1, 1), at(2027, 2, 1)),
        quarterly.id: (at(2027, 1, 1), at(2027, 4, 1)),
        yearly.id: (at(2027, 1, 1), at(2028, 1, 1)),
    }
    first = client.v1.invoices.retrieve(str(subscription.latest_invoice))
    assert (first.billing_reason, first.amount_paid) == ("subscription_create", 23_500)
    assert billed_prices(first) == sorted([monthly.id, quarterly.id, yearly.id])
    # Two months at a time (Stripe's limit for a clock whose shortest interval is a month).
    for month in (3, 5, 7, 9, 11):
        advance(client, clock_id, at(2027, month, 1) + 2 * HOUR)
    advance(client, clock_id, at(2028, 1, 1) + 2 * HOUR)
    renewals = invoices_of(client, subscription.id)[1:]
    assert [i.period_end for i in renewals] == [at(2027, m, 1) for m in range(2, 13)] + [
        at(2028, 1, 1)
    ]
    for invoice in renewals:
        assert (invoice.billing_reason, invoice.status) == ("subscription_cycle", "paid")
    quarter_starts = {at(2027, 4, 1), at(2027, 7, 1), at(2027, 10, 1)}
    for invoice in renewals[:-1]:
        if invoice.period_end in quarter_starts:  # the quarterly item renews with it
            assert billed_prices(invoice) == sorted([monthly.id, quarterly.id])
            assert invoice.amount_paid == MONTHLY + QUARTERLY
        else:
            assert (billed_prices(invoice), invoice.amount_paid) == ([monthly.id], MONTHLY)
    # A year on, all three periods end together: one invoice with every item.
    last = renewals[-1]
    assert billed_prices(last) == sorted([monthly.id, quarterly.id, yearly.id])
    assert last.amount_paid == MONTHLY + QUARTERLY + YEARLY
    lines = {str(line.pricing.price_details.price): line for line in last.lines.data}  # type: ignore[union-attr]
    assert (lines[yearly.id].period.start, lines[yearly.id].period.end) == (
        at(2028, 1, 1),
        at(2029, 1, 1),
    )
    assert (lines[monthly.id].period.start, lines[monthly.id].period.end) == (
        at(2028, 1, 1),
        at(2028, 2, 1),
    )
    now = client.v1.subscriptions.retrieve(subscription.id)
    assert periods_by_price(now) == {
        monthly.id: (at(2028, 1, 1), at(2028, 2, 1)),
        quarterly.id: (at(2028, 1, 1), at(2028, 4, 1)),
        yearly.id: (at(2028, 1, 1), at(2029, 1, 1)),
    }


def test_an_item_of_another_interval_is_added_and_changed_over_its_own_period(
    client: Client, ledger_verified: None
) -> None:
    monthly = monthly_price(client, 3100)
    yearly = price_of(client, 36_500, "year")
    clock_id, customer = clock_customer(client, at(2027, 1, 1))
    subscription = subscribe_all(client, customer.id, [monthly])
    advance(client, clock_id, at(2027, 1, 16))
    added = change(client, subscription.id, items=[{"price": yearly.id}])
    # No reset: the yearly item takes the year from the shared anchor, January 1.
    assert periods_by_price(added) == {
        monthly.id: (at(2027, 1, 1), at(2027, 2, 1)),
        yearly.id: (at(2027, 1, 1), at(2028, 1, 1)),
    }
    assert added.billing_cycle_anchor == at(2027, 1, 1)
    assert len(invoices_of(client, subscription.id)) == 1
    # 350 of the year's 365 days left: 36500 * 350/365 = 35000, pending for the renewal.
    (charge,) = pending_of(client, customer.id)
    assert (charge.amount, charge.proration) == (35_000, True)
    assert (charge.period.start, charge.period.end) == (at(2027, 1, 16), at(2028, 1, 1))
    advance(client, clock_id, at(2027, 2, 1) + 2 * HOUR)
    february = invoices_of(client, subscription.id)[-1]
    assert february.amount_paid == 3100 + 35_000
    assert sorted(line.amount for line in february.lines.data) == [3100, 35_000]
    advance(client, clock_id, at(2027, 3, 2))
    yearly_item = next(i for i in added["items"].data if i.price.id == yearly.id)
    doubled = change(
        client,
        subscription.id,
        items=[{"id": yearly_item.id, "quantity": 2}],
        proration_behavior="always_invoice",
    )
    # Over the yearly item's period, not the month's: 305 of 365 days left,
    # -36500 * 305/365 = -30500 and +73000 * 305/365 = +61000, invoiced at once.
    invoice = client.v1.invoices.retrieve(str(doubled.latest_invoice))
    assert (invoice.billing_reason, invoice.status) == ("subscription_update", "paid")
    assert sorted(line.amount for line in invoice.lines.data) == [-30_500, 61_000]
    assert invoice.amount_paid == 30_500
    assert periods_by_price(doubled)[yearly.id] == (at(2027, 1, 1), at(2028, 1, 1))


def test_an_item_repriced_to_another_interval_next_to_others_keeps_the_cycle(
    client: Client, ledger_verified: None
) -> None:
    monthly, yearly = monthly_price(client, 3100), price_of(client, 36_500, "year")
    quarterly = price_of(client, 9000, "month", 3)
    clock_id, customer = clock_customer(client, at(2027, 1, 1))
    subscription = subscribe_all(client, customer.id, [monthly, yearly])
    advance(client, clock_id, at(2027, 1, 16))
    monthly_item = next(i for i in subscription["items"].data if i.price.id == monthly.id)
    changed = change(
        client, subscription.id, items=[{"id": monthly_item.id, "price": quarterly.id}]
    )
    assert changed.billing_cycle_anchor == at(2027, 1, 1)
    assert periods_by_price(changed) == {
        quarterly.id: (at(2027, 1, 1), at(2027, 4, 1)),
        yearly.id: (at(2027, 1, 1), at(2028, 1, 1)),
    }
    # The credit over the month it had, -3100 * 16/31 = -1600; the charge over the quarter
    # it has, 75 of 90 days: 9000 * 75/90 = 7500. Pending: nothing is invoiced now.
    assert [i.amount for i in pending_of(client, customer.id)] == [-1600, 7500]
    assert len(invoices_of(client, subscription.id)) == 1
    advance(client, clock_id, at(2027, 3, 1) + 2 * HOUR)
    assert len(invoices_of(client, subscription.id)) == 1  # nothing renews before April
    advance(client, clock_id, at(2027, 4, 1) + 2 * HOUR)
    april = invoices_of(client, subscription.id)[-1]
    assert april.amount_paid == 9000 - 1600 + 7500


def test_a_shorter_interval_added_brings_the_next_renewal_forward(
    client: Client, ledger_verified: None
) -> None:
    monthly, yearly = monthly_price(client, 3100), price_of(client, 36_500, "year")
    clock_id, customer = clock_customer(client, at(2027, 1, 1))
    subscription = subscribe_all(client, customer.id, [yearly])
    advance(client, clock_id, at(2027, 1, 16))
    change(client, subscription.id, items=[{"price": monthly.id}])
    # 16 of January's 31 days left: 3100 * 16/31 = 1600, pending for February 1.
    assert [i.amount for i in pending_of(client, customer.id)] == [1600]
    advance(client, clock_id, at(2027, 3, 1) + 2 * HOUR)
    renewals = invoices_of(client, subscription.id)[1:]
    assert [i.period_end for i in renewals] == [at(2027, 2, 1), at(2027, 3, 1)]
    assert [i.amount_paid for i in renewals] == [3100 + 1600, 3100]
    assert [billed_prices(i) for i in renewals] == [[monthly.id] * 2, [monthly.id]]


def test_a_preview_shows_only_the_items_renewing_next(client: Client) -> None:
    monthly, yearly = monthly_price(client, MONTHLY), price_of(client, YEARLY, "year")
    _, customer = clock_customer(client, at(2027, 1, 1))
    subscription = subscribe_all(client, customer.id, [monthly, yearly])
    upcoming = client.v1.invoices.create_preview(params={"subscription": subscription.id})
    assert service_period(upcoming) == (at(2027, 2, 1), at(2027, 3, 1))
    assert (billed_prices(upcoming), upcoming.total) == ([monthly.id], MONTHLY)


def test_cancel_at_period_end_is_the_earliest_item_period_end(
    client: Client, ledger_verified: None
) -> None:
    monthly, yearly = monthly_price(client, MONTHLY), price_of(client, YEARLY, "year")
    clock_id, customer = clock_customer(client, at(2027, 1, 1))
    subscription = subscribe_all(client, customer.id, [monthly, yearly])
    later = subscribe_all(client, customer.id, [monthly, yearly], cancel_at="max_period_end")
    assert later.cancel_at == at(2028, 1, 1)
    earliest = change(client, later.id, cancel_at="min_period_end")
    assert earliest.cancel_at == at(2027, 2, 1)
    updated = change(client, subscription.id, cancel_at_period_end=True)
    assert (updated.cancel_at_period_end, updated.cancel_at) == (True, at(2027, 2, 1))
    advance(client, clock_id, at(2027, 2, 15))
    # Each yearly item, paid to January 1, 2028, is cut at February 1: its 334 days after
    # it credited, and collected at the end on a final invoice (to the customer's balance).
    credit = -round(YEARLY * 334 / 365)
    for ended in (subscription.id, later.id):
        done = client.v1.subscriptions.retrieve(ended)
        assert (done.status, done.ended_at) == ("canceled", at(2027, 2, 1))
        _, final = invoices_of(client, ended)
        assert (final.billing_reason, final.total) == ("subscription_cycle", credit)
        assert billed_prices(final) == [yearly.id]
    assert client.v1.customers.retrieve(customer.id).balance == 2 * credit


def test_an_anchor_and_a_trial_cover_every_item(client: Client, ledger_verified: None) -> None:
    monthly, yearly = monthly_price(client, 3100), price_of(client, 36_500, "year")
    clock_id, customer = clock_customer(client, at(2027, 1, 15))
    anchored = subscribe_all(
        client, customer.id, [monthly, yearly], billing_cycle_anchor=at(2027, 2, 1)
    )
    # Up to the anchor, each item prorated over its own full period that ends there:
    # 3100 * 17/31 = 1700 and 36500 * 17/365 = 1700.
    first = client.v1.invoices.retrieve(str(anchored.latest_invoice))
    assert sorted(line.amount for line in first.lines.data) == [1700, 1700]
    assert set(periods_by_price(anchored).values()) == {(at(2027, 1, 15), at(2027, 2, 1))}
    trial = subscribe_all(client, customer.id, [monthly, yearly], trial_period_days=14)
    assert set(periods_by_price(trial).values()) == {(at(2027, 1, 15), at(2027, 1, 29))}
    advance(client, clock_id, at(2027, 2, 1) + 2 * HOUR)
    renewed = client.v1.subscriptions.retrieve(anchored.id)
    assert periods_by_price(renewed) == {
        monthly.id: (at(2027, 2, 1), at(2027, 3, 1)),
        yearly.id: (at(2027, 2, 1), at(2028, 2, 1)),
    }
    assert invoices_of(client, anchored.id)[-1].amount_paid == 3100 + 36_500
    after_trial = client.v1.subscriptions.retrieve(trial.id)
    assert after_trial.status == "active"
    assert periods_by_price(after_trial) == {
        monthly.id: (at(2027, 1, 29), at(2027, 2, 28)),
        yearly.id: (at(2027, 1, 29), at(2028, 1, 29)),
    }
    assert invoices_of(client, trial.id)[-1].amount_paid == 3100 + 36_500


def test_a_billing_cycle_reset_starts_every_item_now_on_its_own_interval(
    client: Client, ledger_verified: None
) -> None:
    monthly, yearly, _, _, subscription = monthly_and_yearly_on_january_16(client)
    reset = change(client, subscription.id, billing_cycle_anchor={"type": "now"})
    assert reset.billing_cycle_anchor == at(2027, 1, 16)
    assert periods_by_price(reset) == {
        monthly.id: (at(2027, 1, 16), at(2027, 2, 16)),
        yearly.id: (at(2027, 1, 16), at(2028, 1, 16)),
    }
    # Both new periods in full, less each item's unused time over its own period:
    # -3100 * 16/31 = -1600 and -36500 * 350/365 = -35000.
    invoice = client.v1.invoices.retrieve(str(reset.latest_invoice))
    assert sorted(line.amount for line in invoice.lines.data) == [-35_000, -1600, 3100, 36_500]
    assert (invoice.billing_reason, invoice.amount_paid) == ("subscription_update", 3000)


def test_a_pause_credits_and_a_resume_bills_each_item_over_its_own_period(
    client: Client, ledger_verified: None
) -> None:
    monthly, yearly, clock_id, customer, subscription = monthly_and_yearly_on_january_16(client)
    pause(client, subscription.id)
    # From now: -3100 * 16/31 = -1600 and -36500 * 350/365 = -35000.
    assert sorted(i.amount for i in pending_of(client, customer.id)) == [-35_000, -1600]
    advance(client, clock_id, at(2027, 3, 10))
    assert len(invoices_of(client, subscription.id)) == 1  # paused: no renewals
    resumed = resume(client, subscription.id, billing_cycle_anchor={"type": "unchanged"})
    assert resumed.status == "active"
    assert periods_by_price(resumed) == {
        monthly.id: (at(2027, 3, 1), at(2027, 4, 1)),
        yearly.id: (at(2027, 1, 1), at(2028, 1, 1)),
    }
    # The rest of each item's period: 3100 * 22/31 = 2200 and 36500 * 297/365 = 29700.
    amounts = sorted(i.amount for i in pending_of(client, customer.id))
    assert amounts == [-35_000, -1600, 2200, 29_700]
    advance(client, clock_id, at(2027, 4, 1) + 2 * HOUR)
    april = invoices_of(client, subscription.id)[-1]
    # The monthly item's renewal, and the prorations of both; the yearly item not renewed.
    assert billed_prices(april) == sorted([monthly.id] * 3 + [yearly.id] * 2)
    assert april.total == 3100 - 35_000 - 1600 + 2200 + 29_700


def test_the_real_time_job_renews_only_the_items_due_and_only_once(
    server: KassaServer, client: Client, ledger_verified: None
) -> None:
    monthly, yearly = monthly_price(client, MONTHLY), price_of(client, YEARLY, "year")
    customer = client.v1.customers.create(
        params={
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    subscription = subscribe_all(client, customer.id, [monthly, yearly])
    month_end = periods_by_price(subscription)[monthly.id][1]
    assert run_invoices_job_at(server, month_end + 1) >= 1
    run_invoices_job_at(server, month_end + 1)  # the same instant again renews nothing
    renewals = invoices_of(client, subscription.id)[1:]
    assert [(billed_prices(i), i.amount_paid) for i in renewals] == [([monthly.id], MONTHLY)]
    renewed = client.v1.subscriptions.retrieve(subscription.id)
    assert periods_by_price(renewed)[monthly.id][0] == month_end
    assert periods_by_price(renewed)[yearly.id] == periods_by_price(subscription)[yearly.id]


def test_a_yearly_item_removed_after_monthly_renewals_credits_its_own_discounted_debit(
    client: Client, ledger_verified: None
) -> None:
    """Flexible mode credits what was debited for the item's period: the yearly line of the
    first invoice, 20% off, still the yearly item's debit after two monthly renewals
    billed only the monthly item."""
    monthly, yearly = monthly_price(client, 1000), price_of(client, 36_500, "year")
    coupon = client.v1.coupons.create(params={"percent_off": 20, "duration": "forever"})
    clock_id, customer = clock_customer(client, at(2027, 1, 1))
    subscription = subscribe_all(
        client, customer.id, [monthly, yearly], discounts=[{"coupon": coupon.id}]
    )
    first = client.v1.invoices.retrieve(str(subscription.latest_invoice))
    (yearly_line,) = [
        line
        for line in first.lines.data
        if line.pricing.price_details.price == yearly.id  # type: ignore[union-attr]
    ]
    advance(client, clock_id, at(2027, 3, 1) + 2 * HOUR)
    assert len(invoices_of(client, subscription.id)) == 3  # two monthly renewals since
    yearly_item = next(i for i in subscription["items"].data if i.price.id == yearly.id)
    change(
        client,
        subscription.id,
        items=[{"id": yearly_item.id, "deleted": True}],
        proration_date=at(2027, 3, 2),
    )
    (credit,) = pending_of(client, customer.id)
    # Debited 36500 - 20% = 29200 for the year; 305 of its 365 days unused on March 2:
    # 29200 * 305 / 365 = 24400 (classic would credit the undiscounted 36500 * 305/365).
    assert credit.amount == -24_400
    assert credit.proration_details is not None
    credited = credit.proration_details.credited_items
    assert credited is not None and credited.type == "invoice_line_items"
    details = credited.invoice_line_item_details
    assert details is not None and details.invoice == first.id
    assert details.invoice_line_items == [yearly_line.id]


def forget_debit_record(server: KassaServer, account: Account, subscription_id: str) -> None:
    """The subscription's document as a Kassa from before flexible credits stored it: no
    record of what each item's credit would undo (`_kassa.debits`)."""

    async def forget(store: Store) -> None:
        async with store.write() as tx:
            found = await tx.get_object(SUBSCRIPTIONS, account.id, subscription_id)
            assert found is not None
            found[0]["_kassa"].pop("debits")
            await tx.update_object(SUBSCRIPTIONS, account.id, found[0])

    with_store(server.database_url, forget)


def test_an_older_subscription_credits_an_item_of_a_new_interval_as_classic(
    client: Client, server: KassaServer, account: Account, ledger_verified: None
) -> None:
    """A subscription stored before debits were recorded is credited as classic until an
    invoice billing every item starts the record: a renewal of its monthly item alone
    must not start one that leaves the yearly item's debit out (a credit of nothing)."""
    monthly, yearly = monthly_price(client, 1000), price_of(client, 12_000, "year")
    clock_id, customer = clock_customer(client, at(2027, 1, 1))
    subscription = subscribe_all(client, customer.id, [monthly])
    forget_debit_record(server, account, subscription.id)
    advance(client, clock_id, at(2027, 1, 11))
    added = change(
        client, subscription.id, items=[{"price": yearly.id}], proration_behavior="always_invoice"
    )
    yearly_item = next(i for i in added["items"].data if i.price.id == yearly.id)
    advance(client, clock_id, at(2027, 2, 1) + 2 * HOUR)  # the monthly item renews alone
    assert billed_prices(invoices_of(client, subscription.id)[-1]) == [monthly.id]
    change(
        client,
        subscription.id,
        items=[{"id": yearly_item.id, "deleted": True}],
        proration_date=at(2027, 2, 10),
    )
    # Classic: 325 of the year's 365 days unused, 12000 * 325/365 = 10684.93 -> 10685.
    assert [i.amount for i in pending_of(client, customer.id)] == [-10_685]


def test_the_yearly_item_keeps_its_boundaries_once_the_first_item_is_removed(
    client: Client, ledger_verified: None
) -> None:
    """An anchor set on the 31st counts each interval's boundaries from a point of its own
    (the monthly item's from 31 December, the yearly's from 31 January a year before). With
    the monthly item, the first, removed, the yearly item still renews a whole year on."""
    monthly, yearly = monthly_price(client, 3100), price_of(client, 36_500, "year")
    clock_id, customer = clock_customer(client, at(2027, 1, 15))
    subscription = subscribe_all(
        client,
        customer.id,
        [monthly, yearly],
        billing_cycle_anchor=at(2027, 1, 31),
        proration_behavior="none",
    )
    advance(client, clock_id, at(2027, 1, 31) + 2 * HOUR)
    first_item = next(i for i in subscription["items"].data if i.price.id == monthly.id)
    client.v1.subscriptions.update(
        subscription.id,
        params={"items": [{"id": first_item.id, "deleted": True}], "proration_behavior": "none"},
    )
    advance(client, clock_id, at(2028, 1, 31) + 2 * HOUR)
    renewal = invoices_of(client, subscription.id)[-1]
    assert service_period(renewal) == (at(2028, 1, 31), at(2029, 1, 31))
    assert (billed_prices(renewal), renewal.amount_paid) == ([yearly.id], 36_500)
    now = client.v1.subscriptions.retrieve(subscription.id)
    assert periods_by_price(now) == {yearly.id: (at(2028, 1, 31), at(2029, 1, 31))}
