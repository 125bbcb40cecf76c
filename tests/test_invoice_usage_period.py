"""A subscription invoice's own `period_start`/`period_end` look back, through the SDK on a
real `kassa serve` (SQLite and PostgreSQL) driven by a test clock. Stripe's Invoice reference:
"Start of the usage period during which invoice items were added to this invoice. This looks
back one period for a subscription invoice. Use the line item period to get the service
period for each price." (a Stripe engineer on stripe-dotnet#1611: a monthly subscription's
November 1 invoice is "for the 1st of October until the 1st of November while the line item
for the subscription will be for 1st of November to the 1st of December"), and the first
invoice's period is its creation instant (period_start = period_end = created, as
mozilla/fxa#5137 logged from Stripe). Kassa extends the rule to every invoice of the
subscription: from where its previous invoice's period ended up to the invoice's own time
(an `always_invoice` update's, a final one's).

Every subscription bills 20.00 a month from January 31, 2028, 10:00 UTC (a leap year): its
periods end February 29, March 31, April 30 (clamped from the 31st).
"""

from __future__ import annotations

import stripe

from tests.test_subscription_changes import change, only_item
from tests.test_subscription_scheduled_end import preview
from tests.test_subscriptions import (
    HOUR,
    Client,
    advance,
    clock_customer,
    invoices_of,
    monthly_price,
    subscribe,
    utc,
)

JAN_31, FEB_14, FEB_29 = utc(2028, 1, 31), utc(2028, 2, 14), utc(2028, 2, 29)
MAR_10, MAR_31, APR_30 = utc(2028, 3, 10), utc(2028, 3, 31), utc(2028, 4, 30)
MAY_31 = utc(2028, 5, 31)


def periods(invoice: stripe.Invoice) -> tuple[tuple[int, int], list[tuple[int, int]]]:
    """The invoice's own period, and its lines' (service) periods."""
    lines = [(line.period.start, line.period.end) for line in invoice.lines.data]
    return (invoice.period_start, invoice.period_end), lines


def test_each_renewal_looks_back_on_the_period_just_ended_as_previewed(
    client: Client, ledger_verified: None
) -> None:
    """The first invoice (created January 31) is the instant January 31; the renewal made
    February 29 covers January 31 -> February 29 while its line bills February 29 -> March
    31, and so on: each invoice's period is the previous one's line period. The preview of
    the next renewal says the same before it is made."""
    price = monthly_price(client, 2000)
    clock_id, customer = clock_customer(client, JAN_31)
    subscription = subscribe(client, customer.id, price.id)
    (first,) = invoices_of(client, subscription.id)
    assert first.created == JAN_31
    assert periods(first) == ((JAN_31, JAN_31), [(JAN_31, FEB_29)])
    upcoming = preview(client, subscription.id)
    assert periods(upcoming) == ((JAN_31, FEB_29), [(FEB_29, MAR_31)])
    advance(client, clock_id, APR_30 + 2 * HOUR)
    first, *renewals = invoices_of(client, subscription.id)
    assert [periods(renewal) for renewal in renewals] == [
        ((JAN_31, FEB_29), [(FEB_29, MAR_31)]),
        ((FEB_29, MAR_31), [(MAR_31, APR_30)]),
        ((MAR_31, APR_30), [(APR_30, MAY_31)]),
    ]
    assert [renewal.amount_paid for renewal in renewals] == [2000, 2000, 2000]
    assert periods(preview(client, subscription.id)) == (
        (APR_30, MAY_31),
        [(MAY_31, utc(2028, 6, 30))],
    )


def test_the_renewal_after_a_trial_looks_back_on_the_trial(
    client: Client, ledger_verified: None
) -> None:
    """A trial to February 14: the first invoice ($0) is the instant January 31, its line
    the trial; the first paid invoice, made February 14, covers the trial (January 31 ->
    February 14) and bills February 14 -> March 14."""
    price = monthly_price(client, 2000)
    clock_id, customer = clock_customer(client, JAN_31)
    subscription = subscribe(client, customer.id, price.id, trial_end=FEB_14)
    (first,) = invoices_of(client, subscription.id)
    assert first.total == 0
    assert periods(first) == ((JAN_31, JAN_31), [(JAN_31, FEB_14)])
    advance(client, clock_id, FEB_14 + 2 * HOUR)
    _, paid = invoices_of(client, subscription.id)
    assert (paid.billing_reason, paid.amount_paid) == ("subscription_cycle", 2000)
    assert periods(paid) == ((JAN_31, FEB_14), [(FEB_14, utc(2028, 3, 14))])


def test_an_update_invoice_and_a_final_one_look_back_to_the_last_invoice(
    client: Client, ledger_verified: None
) -> None:
    """Quantity 2 from February 14 with `always_invoice`: its invoice covers January 31 ->
    February 14 (the first invoice's time to now); the renewal February 29 then covers only
    February 14 -> February 29. Canceled March 10 with `invoice_now`: the final invoice
    covers February 29 -> March 10."""
    price = monthly_price(client, 2000)
    clock_id, customer = clock_customer(client, JAN_31)
    subscription = subscribe(client, customer.id, price.id)
    advance(client, clock_id, FEB_14)
    item = only_item(subscription)
    change(
        client,
        subscription.id,
        items=[{"id": item.id, "quantity": 2}],
        proration_behavior="always_invoice",
    )
    _, updated = invoices_of(client, subscription.id)
    assert updated.billing_reason == "subscription_update"
    assert (updated.period_start, updated.period_end) == (JAN_31, FEB_14)
    advance(client, clock_id, MAR_10)
    _, _, renewal = invoices_of(client, subscription.id)
    assert periods(renewal) == ((FEB_14, FEB_29), [(FEB_29, MAR_31)])
    client.v1.subscriptions.cancel(subscription.id, params={"invoice_now": True, "prorate": True})
    *_, final = invoices_of(client, subscription.id)
    assert final.id != renewal.id
    assert (final.period_start, final.period_end) == (FEB_29, MAR_10)
