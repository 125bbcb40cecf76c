"""A subscription's terms on create, through the SDK on a real `kassa serve` (SQLite and
PostgreSQL) driven by test clocks: a billing cycle anchor (a time, or a day of month) with the
time before it prorated, free or after a trial; `cancel_at` ending it, its last period billed
prorated; discounts (forever, once, repeating, promotion codes, on items) and tax rates on every
invoice; refusals that name the parameter and keep nothing; and the ledger whole after each.
The same terms changed on update, and `DELETE /v1/subscriptions/{id}/discount`.

Every partial period is billed `price * its length / the full period it lies in` (before the
anchor: the period that ends at the anchor), rounded half up to whole cents, once per line.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import stripe

from kassa.clock import DAY_SECONDS
from tests.test_subscriptions import (
    DECLINING_CARD,
    HOUR,
    JAN_31_2027,
    Client,
    advance,
    clock_customer,
    events_of,
    invoices_of,
    monthly_price,
    period_of,
    subscribe,
)

JAN_15_2027 = int(dt.datetime(2027, 1, 15, 10, 0, tzinfo=dt.UTC).timestamp())


def utc(year: int, month: int, day: int, hour: int = 10) -> int:
    return int(dt.datetime(year, month, day, hour, 0, tzinfo=dt.UTC).timestamp())


def price_of(client: Client, amount: int, interval: str = "month", count: int = 1) -> stripe.Price:
    """A recurring USD price of `amount` every `count` `interval`s, with a product of its own."""
    return client.v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount": amount,
            "recurring": {"interval": interval, "interval_count": count},
            "product_data": {"name": f"Plan at {amount} every {count} {interval}"},
        }
    )


def amounts_billed(client: Client, subscription_id: str) -> list[tuple[int, int]]:
    """(period end, amount paid) of each invoice, oldest first: an invoice's own period
    looks back, so its end is when the invoice was made."""
    return [(i.period_end, i.amount_paid) for i in invoices_of(client, subscription_id)]


def tax_rate(client: Client, percentage: float) -> stripe.TaxRate:
    return client.v1.tax_rates.create(
        params={"display_name": "VAT", "inclusive": False, "percentage": percentage}
    )


DISCOUNT_EVENT_TYPES: Any = [
    "customer.discount.created",
    "customer.discount.updated",
    "customer.discount.deleted",
]


def discount_events(client: Client) -> list[tuple[str, str, int]]:
    """The account's `customer.discount.*` events, oldest first: (type, discount, created)."""
    listed = client.v1.events.list(params={"types": DISCOUNT_EVENT_TYPES, "limit": 100})
    found = list(listed.auto_paging_iter())[::-1]
    return [(str(e.type), str(e.data.object["id"]), e.created) for e in found]


# -- the billing cycle anchor -----------------------------------------------------------------


def test_an_anchor_prorates_the_time_before_it_then_renews_on_it(
    client: Client, ledger_verified: None
) -> None:
    price = price_of(client, 3100)
    clock_id, customer = clock_customer(client, JAN_15_2027)
    anchor = utc(2027, 2, 1)
    subscription = subscribe(client, customer.id, price.id, billing_cycle_anchor=anchor)
    assert (subscription.status, subscription.billing_cycle_anchor) == ("active", anchor)
    assert period_of(subscription) == (JAN_15_2027, anchor)
    # January 15 to February 1 is 17 days of the 31-day period that ends at the anchor
    # (January 1 to February 1): 3100 * 17 / 31 = 1700.
    first = client.v1.invoices.retrieve(str(subscription.latest_invoice))
    (line,) = first.lines.data
    assert (first.amount_paid, line.amount, line.period.start, line.period.end) == (
        1700,
        1700,
        JAN_15_2027,
        anchor,
    )
    advance(client, clock_id, utc(2027, 3, 1) + 2 * HOUR)
    assert amounts_billed(client, subscription.id) == [
        (JAN_15_2027, 1700),
        (anchor, 3100),
        (utc(2027, 3, 1), 3100),
    ]
    assert period_of(client.v1.subscriptions.retrieve(subscription.id)) == (
        utc(2027, 3, 1),
        utc(2027, 4, 1),
    )


def test_proration_behavior_none_makes_the_time_before_the_anchor_free(
    client: Client, ledger_verified: None
) -> None:
    price = price_of(client, 3100)
    clock_id, customer = clock_customer(client, JAN_15_2027)
    anchor = utc(2027, 2, 1)
    subscription = subscribe(
        client, customer.id, price.id, billing_cycle_anchor=anchor, proration_behavior="none"
    )
    assert subscription.status == "active"
    first = client.v1.invoices.retrieve(str(subscription.latest_invoice))
    assert (first.status, first.amount_due, first.lines.data[0].amount) == ("paid", 0, 0)
    advance(client, clock_id, anchor + 2 * HOUR)
    assert amounts_billed(client, subscription.id) == [(JAN_15_2027, 0), (anchor, 3100)]


def test_an_anchor_day_a_month_lacks_renews_on_each_month_end(
    client: Client, ledger_verified: None
) -> None:
    price = price_of(client, 2800)
    feb_10 = utc(2027, 2, 10)
    clock_id, customer = clock_customer(client, feb_10)
    subscription = subscribe(
        client, customer.id, price.id, billing_cycle_anchor_config={"day_of_month": 31}
    )
    # The next 31st after February 10 is February's last day, at the time of day the
    # subscription starts (10:00, no hour given).
    assert subscription.billing_cycle_anchor == utc(2027, 2, 28)
    config = subscription.billing_cycle_anchor_config
    assert config is not None
    assert config.to_dict() == {
        "day_of_month": 31,
        "hour": None,
        "minute": None,
        "month": None,
        "second": None,
    }
    # 18 days of the 28 from January 31 to February 28: 2800 * 18 / 28 = 1800.
    advance(client, clock_id, utc(2027, 5, 1))
    assert amounts_billed(client, subscription.id) == [
        (feb_10, 1800),
        (utc(2027, 2, 28), 2800),
        (utc(2027, 3, 31), 2800),
        (utc(2027, 4, 30), 2800),
    ]


def test_a_yearly_anchor_on_a_day_february_lacks_renews_on_each_february_end(
    client: Client, ledger_verified: None
) -> None:
    # Stripe ("Billing cycle"): an anchor on the 31st "bills the last day of the month
    # closest to the anchor date"; the config's docstring: the next occurrence of the day.
    price = price_of(client, 36500, interval="year")
    feb_10 = utc(2029, 2, 10)
    clock_id, customer = clock_customer(client, feb_10)
    subscription = subscribe(
        client, customer.id, price.id, billing_cycle_anchor_config={"day_of_month": 30}
    )
    # The next 30th after February 10, 2029 is February's last day, the 28th; the period
    # ending there starts on the 30th clamped a year earlier: February 29, 2028, 365 days.
    # February 10 to 28 is 18 of them: 36500 * 18 / 365 = 1800.
    assert subscription.billing_cycle_anchor == utc(2029, 2, 28)
    assert period_of(subscription) == (feb_10, utc(2029, 2, 28))
    # Renewals on each February's last day: 28th in 2030 and 2031, 29th in leap 2032.
    advance(client, clock_id, utc(2032, 3, 1))
    assert amounts_billed(client, subscription.id) == [
        (feb_10, 1800),
        (utc(2029, 2, 28), 36500),
        (utc(2030, 2, 28), 36500),
        (utc(2031, 2, 28), 36500),
        (utc(2032, 2, 29), 36500),
    ]
    renewed = client.v1.subscriptions.retrieve(subscription.id)
    assert period_of(renewed) == (utc(2032, 2, 29), utc(2033, 2, 28))


@pytest.mark.parametrize(
    ("start", "amount", "recurring", "config", "first", "renewal"),
    [
        # Anchor February 29, 2028 (a leap year); the period before it from February 28,
        # 2027, 366 days; February 10 to 29 is 19: 36600 * 19 / 366 = 1900. Renews on
        # February 28, 2029.
        pytest.param(
            utc(2028, 2, 10),
            36600,
            ("year", 1),
            {"day_of_month": 31},
            (utc(2028, 2, 29), 1900),
            utc(2029, 2, 28),
            id="yearly-31-from-a-leap-february",
        ),
        # Anchor February 28, 2029; the period before it from February 29, 2028, 365 days;
        # January 10 to February 28 is 21 + 28 = 49 days: 36500 * 49 / 365 = 4900.
        pytest.param(
            utc(2029, 1, 10),
            36500,
            ("year", 1),
            {"day_of_month": 31, "month": 2},
            (utc(2029, 2, 28), 4900),
            utc(2030, 2, 28),
            id="yearly-february-31",
        ),
        # As the yearly price on day 30 above: 36500 * 18 / 365 = 1800.
        pytest.param(
            utc(2029, 2, 10),
            36500,
            ("month", 12),
            {"day_of_month": 30},
            (utc(2029, 2, 28), 1800),
            utc(2030, 2, 28),
            id="twelve-months-30",
        ),
        # From January 31, 2028, 12:00 the next 31st is February 29, 2028, 12:00; the
        # period before it from February 28, 2027, 12:00, 366 days; 29 of them to the
        # anchor: 36600 * 29 / 366 = 2900.
        pytest.param(
            utc(2028, 1, 31, hour=12),
            36600,
            ("month", 12),
            {"day_of_month": 31},
            (utc(2028, 2, 29, hour=12), 2900),
            utc(2029, 2, 28, hour=12),
            id="twelve-months-31",
        ),
        # Three years: the period before February 29, 2028, 12:00 from February 28, 2025,
        # 12:00, 3 * 365 + 1 = 1096 days; 29 of them: 109600 * 29 / 1096 = 2900. Renews
        # on February 28, 2031 (a common year).
        pytest.param(
            utc(2028, 1, 31, hour=12),
            109600,
            ("year", 3),
            {"day_of_month": 31},
            (utc(2028, 2, 29, hour=12), 2900),
            utc(2031, 2, 28, hour=12),
            id="three-years-31",
        ),
    ],
)
def test_whole_year_intervals_anchored_on_a_day_february_lacks(
    client: Client,
    start: int,
    amount: int,
    recurring: tuple[str, int],
    config: dict[str, int],
    first: tuple[int, int],
    renewal: int,
) -> None:
    price = price_of(client, amount, *recurring)
    clock_id, customer = clock_customer(client, start)
    subscription = subscribe(client, customer.id, price.id, billing_cycle_anchor_config=config)
    anchor, billed = first
    assert (subscription.billing_cycle_anchor, period_of(subscription)) == (
        anchor,
        (start, anchor),
    )
    advance(client, clock_id, renewal + 2 * HOUR)
    assert amounts_billed(client, subscription.id) == [
        (start, billed),
        (anchor, amount),
        (renewal, amount),
    ]


def test_monthly_and_yearly_items_anchored_on_a_day_february_lacks(
    client: Client, ledger_verified: None
) -> None:
    monthly, yearly = price_of(client, 2900), price_of(client, 36500, interval="year")
    feb_10 = utc(2029, 2, 10)
    clock_id, customer = clock_customer(client, feb_10)
    subscription = client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": monthly.id}, {"price": yearly.id}],
            "billing_cycle_anchor_config": {"day_of_month": 30},
        }
    )
    # Anchor February 28, 2029. Monthly: the period before it from January 30, 29 days, 18
    # of them: 2900 * 18 / 29 = 1800. Yearly: from February 29, 2028, 365 days:
    # 36500 * 18 / 365 = 1800. Then the monthly item renews on March 30, both on
    # February 28, 2030.
    assert subscription.billing_cycle_anchor == utc(2029, 2, 28)
    first = client.v1.invoices.retrieve(str(subscription.latest_invoice))
    assert sorted(line.amount for line in first.lines.data) == [1800, 1800]
    advance(client, clock_id, utc(2029, 3, 30) + 2 * HOUR)
    assert amounts_billed(client, subscription.id) == [
        (feb_10, 3600),
        (utc(2029, 2, 28), 2900 + 36500),
        (utc(2029, 3, 30), 2900),
    ]


@pytest.mark.parametrize(
    ("start", "prices"),
    [
        # A 3-month price for February's last day meant for the 31st, from November 29,
        # 12:00: counted on the 31st, the period ending at February 28 begins November 30,
        # after the start (was a 500; before the day was counted, a first period of one day).
        (utc(2028, 11, 29, 12), (("month", 3),)),
        # A monthly item beside a yearly one, from January 29: the monthly period ending at
        # February 28 begins January 31 on the 31st (was a 500; before, a 400 of its own).
        (utc(2029, 1, 29, 12), (("month", 1), ("year", 1))),
    ],
)
def test_an_anchor_more_than_one_period_away_on_its_intended_day_is_refused(
    client: Client, start: int, prices: tuple[tuple[str, int], ...]
) -> None:
    _, customer = clock_customer(client, start)
    items = [{"price": price_of(client, 9000, interval, count).id} for interval, count in prices]
    params: Any = {
        "customer": customer.id,
        "items": items,
        "billing_cycle_anchor_config": {"day_of_month": 31, "month": 2},
    }
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.subscriptions.create(params=params)
    assert refused.value.http_status == 400
    assert refused.value.param == "billing_cycle_anchor_config"
    assert "within one billing period" in str(refused.value.user_message)
    assert not client.v1.subscriptions.list(params={"customer": customer.id}).data


def test_a_yearly_anchor_in_a_given_month_prorates_by_the_second(
    client: Client, ledger_verified: None
) -> None:
    price = price_of(client, 36500, interval="year")
    clock_id, customer = clock_customer(client, JAN_15_2027)
    config = {"month": 3, "day_of_month": 1, "hour": 0}
    subscription = subscribe(client, customer.id, price.id, billing_cycle_anchor_config=config)
    march_1 = utc(2027, 3, 1, hour=0)
    assert period_of(subscription) == (JAN_15_2027, march_1)
    # 44 days 14 hours of the 365-day year up to March 1, 2027: 100 a day, so
    # 36500 * 3,852,000 s / 31,536,000 s = 4458.33, rounded to 4458.
    first = client.v1.invoices.retrieve(str(subscription.latest_invoice))
    assert first.amount_paid == 4458
    advance(client, clock_id, march_1 + 2 * HOUR)
    assert amounts_billed(client, subscription.id) == [(JAN_15_2027, 4458), (march_1, 36500)]
    renewed = client.v1.subscriptions.retrieve(subscription.id)
    assert period_of(renewed) == (march_1, utc(2028, 3, 1, hour=0))


def test_a_trial_then_the_time_to_the_anchor_prorated_then_full_periods(
    client: Client, ledger_verified: None
) -> None:
    price = price_of(client, 3100)
    clock_id, customer = clock_customer(client, JAN_15_2027)
    anchor, trial_end = utc(2027, 2, 1), utc(2027, 1, 22)
    subscription = subscribe(
        client, customer.id, price.id, trial_period_days=7, billing_cycle_anchor=anchor
    )
    assert (subscription.status, subscription.trial_end) == ("trialing", trial_end)
    assert period_of(subscription) == (JAN_15_2027, trial_end)
    advance(client, clock_id, trial_end + 2 * HOUR)
    after_trial = client.v1.subscriptions.retrieve(subscription.id)
    assert (after_trial.status, period_of(after_trial)) == ("active", (trial_end, anchor))
    advance(client, clock_id, anchor + 2 * HOUR)
    # Free trial, then January 22 to February 1: 10 of 31 days, 3100 * 10 / 31 = 1000.
    assert amounts_billed(client, subscription.id) == [
        (JAN_15_2027, 0),
        (trial_end, 1000),
        (anchor, 3100),
    ]


# -- cancel_at ---------------------------------------------------------------------------------


def test_cancel_at_in_the_first_period_bills_it_prorated_and_ends_there(
    client: Client, ledger_verified: None
) -> None:
    price = price_of(client, 2800)
    clock_id, customer = clock_customer(client)
    ends = utc(2027, 2, 14)
    subscription = subscribe(client, customer.id, price.id, cancel_at=ends)
    assert (subscription.cancel_at, subscription.cancel_at_period_end) == (ends, False)
    assert period_of(subscription) == (JAN_31_2027, ends)
    # 14 of the 28 days from January 31 to February 28: 2800 * 14 / 28 = 1400.
    assert client.v1.invoices.retrieve(str(subscription.latest_invoice)).amount_paid == 1400
    advance(client, clock_id, utc(2027, 3, 1))
    ended = client.v1.subscriptions.retrieve(subscription.id)
    assert (ended.status, ended.ended_at) == ("canceled", ends)
    assert ended.cancellation_details is not None
    assert ended.cancellation_details.reason == "cancellation_requested"
    assert events_of(client, subscription.id)[-1] == "customer.subscription.deleted"
    assert amounts_billed(client, subscription.id) == [(JAN_31_2027, 1400)]


def test_cancel_at_in_a_later_period_cuts_that_one_short_prorated(
    client: Client, ledger_verified: None
) -> None:
    price = price_of(client, 2800)
    clock_id, customer = clock_customer(client)
    ends = utc(2027, 3, 14)
    subscription = subscribe(client, customer.id, price.id, cancel_at=ends)
    assert period_of(subscription) == (JAN_31_2027, utc(2027, 2, 28))
    advance(client, clock_id, utc(2027, 3, 1))
    renewed = client.v1.subscriptions.retrieve(subscription.id)
    assert (renewed.status, period_of(renewed)) == ("active", (utc(2027, 2, 28), ends))
    advance(client, clock_id, utc(2027, 4, 1))
    # February 28 to March 14 is 14 of the 31 days to March 31: 2800 * 14 / 31 = 1264.52,
    # rounded half up to 1265.
    assert amounts_billed(client, subscription.id) == [
        (JAN_31_2027, 2800),
        (utc(2027, 2, 28), 1265),
    ]
    assert client.v1.subscriptions.retrieve(subscription.id).ended_at == ends


def test_a_cycle_reset_to_now_still_ends_at_a_cancel_at_inside_the_new_period(
    client: Client, ledger_verified: None
) -> None:
    """`billing_cycle_anchor=now` starts a whole month; a `cancel_at` set before, inside that
    month, still ends the subscription on time rather than at the new period's end."""
    price = price_of(client, 2800)
    clock_id, customer = clock_customer(client)
    ends = utc(2027, 3, 5)
    subscription = subscribe(client, customer.id, price.id, cancel_at=ends)
    advance(client, clock_id, utc(2027, 2, 10))
    client.v1.subscriptions.update(
        subscription.id,
        params={"billing_cycle_anchor": {"type": "now"}, "proration_behavior": "none"},
    )
    advance(client, clock_id, ends + 3_600)
    ended = client.v1.subscriptions.retrieve(subscription.id)
    assert (ended.status, ended.ended_at) == ("canceled", ends)


def test_cancel_at_inside_a_trial_ends_it_after_the_notice(client: Client) -> None:
    price = monthly_price(client)
    clock_id, customer = clock_customer(client)
    ends = JAN_31_2027 + 12 * DAY_SECONDS  # the trial would end on day 14, its notice day 11
    subscription = subscribe(client, customer.id, price.id, trial_period_days=14, cancel_at=ends)
    assert period_of(subscription) == (JAN_31_2027, ends)
    advance(client, clock_id, JAN_31_2027 + 20 * DAY_SECONDS)
    ended = client.v1.subscriptions.retrieve(subscription.id)
    assert (ended.status, ended.ended_at) == ("canceled", ends)
    kinds = events_of(client, subscription.id)
    assert kinds[-2:] == ["customer.subscription.trial_will_end", "customer.subscription.deleted"]
    assert amounts_billed(client, subscription.id) == [(JAN_31_2027, 0)]


def test_cancel_at_without_prorations_bills_the_first_period_whole(client: Client) -> None:
    price = price_of(client, 2800)
    _, customer = clock_customer(client)
    ends = utc(2027, 2, 14)
    subscription = subscribe(
        client, customer.id, price.id, cancel_at=ends, proration_behavior="none"
    )
    assert period_of(subscription) == (JAN_31_2027, ends)
    assert client.v1.invoices.retrieve(str(subscription.latest_invoice)).amount_paid == 2800


def test_cancel_at_a_named_period_end_or_at_period_end(client: Client) -> None:
    price = monthly_price(client)
    _, customer = clock_customer(client)
    named = subscribe(client, customer.id, price.id, cancel_at="max_period_end")
    assert (named.cancel_at, named.cancel_at_period_end) == (utc(2027, 2, 28), False)
    flagged = subscribe(client, customer.id, price.id, cancel_at_period_end=True)
    assert (flagged.cancel_at, flagged.cancel_at_period_end) == (utc(2027, 2, 28), True)
    assert period_of(named) == period_of(flagged) == (JAN_31_2027, utc(2027, 2, 28))


# -- discounts and tax rates ---------------------------------------------------------------


def test_a_forever_coupon_and_default_tax_rates_apply_to_every_invoice(
    client: Client, ledger_verified: None
) -> None:
    price = monthly_price(client, 2000)
    coupon = client.v1.coupons.create(params={"percent_off": 25, "duration": "forever"})
    rate = tax_rate(client, 10)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(
        client,
        customer.id,
        price.id,
        discounts=[{"coupon": coupon.id}],
        default_tax_rates=[rate.id],
    )
    (discount_id,) = subscription.discounts
    assert [r.id for r in subscription.default_tax_rates or []] == [rate.id]
    advance(client, clock_id, utc(2027, 2, 28) + 2 * HOUR)
    # 2000 less 25% (500) is 1500; 10% tax on it, 150: 1650, each period.
    for invoice in invoices_of(client, subscription.id):
        assert invoice.discounts == [discount_id]
        assert [(d.amount, d.discount) for d in invoice.total_discount_amounts or []] == [
            (500, discount_id)
        ]
        assert [t.amount for t in invoice.total_taxes or []] == [150]
        assert (invoice.status, invoice.amount_paid) == ("paid", 1650)
    # Redeemed once, when applied to the subscription, however many invoices carry it.
    assert client.v1.coupons.retrieve(coupon.id).times_redeemed == 1

    expanded = client.v1.subscriptions.retrieve(
        subscription.id, params={"expand": ["discounts"]}
    ).to_dict()
    (discount,) = expanded["discounts"]
    assert discount["id"] == discount_id
    assert (discount["subscription"], discount["source"]["coupon"]) == (subscription.id, coupon.id)
    assert (discount["invoice"], discount["end"]) == (None, None)
    on_invoice = client.v1.invoices.retrieve(
        invoices_of(client, subscription.id)[0].id, params={"expand": ["discounts"]}
    ).to_dict()
    assert [d["id"] for d in on_invoice["discounts"]] == [discount_id]


def test_once_and_repeating_coupons_stop_applying(client: Client, ledger_verified: None) -> None:
    price = monthly_price(client, 2000)
    once = client.v1.coupons.create(
        params={"amount_off": 500, "currency": "usd", "duration": "once"}
    )
    repeating = client.v1.coupons.create(
        params={"percent_off": 50, "duration": "repeating", "duration_in_months": 2}
    )
    clock_id, customer = clock_customer(client)
    first_only = subscribe(client, customer.id, price.id, discounts=[{"coupon": once.id}])
    two_months = subscribe(client, customer.id, price.id, discounts=[{"coupon": repeating.id}])
    advance(client, clock_id, utc(2027, 4, 1))
    # Once: 500 off the first invoice only. Repeating for two months from January 31: the
    # invoices of January 31 and February 28 at half price; on March 31 it has ended.
    assert amounts_billed(client, first_only.id) == [
        (JAN_31_2027, 1500),
        (utc(2027, 2, 28), 2000),
        (utc(2027, 3, 31), 2000),
    ]
    assert amounts_billed(client, two_months.id) == [
        (JAN_31_2027, 1000),
        (utc(2027, 2, 28), 1000),
        (utc(2027, 3, 31), 2000),
    ]
    for ended in (first_only, two_months):
        assert client.v1.subscriptions.retrieve(ended.id).discounts == []
    # Each discount was attached when the subscription was made and is removed by the
    # renewal it no longer applies to (the once one used by the first invoice).
    (once_used,), (two_monthly,) = first_only.discounts, two_months.discounts
    assert sorted(discount_events(client)) == [
        ("customer.discount.created", str(once_used), JAN_31_2027),
        ("customer.discount.created", str(two_monthly), JAN_31_2027),
        ("customer.discount.deleted", str(once_used), utc(2027, 2, 28)),
        ("customer.discount.deleted", str(two_monthly), utc(2027, 3, 31)),
    ]


def test_a_trial_does_not_use_up_a_once_coupon(client: Client) -> None:
    price = monthly_price(client, 2000)
    once = client.v1.coupons.create(
        params={"amount_off": 500, "currency": "usd", "duration": "once"}
    )
    clock_id, customer = clock_customer(client)
    subscription = subscribe(
        client, customer.id, price.id, trial_period_days=7, discounts=[{"coupon": once.id}]
    )
    advance(client, clock_id, JAN_31_2027 + 7 * DAY_SECONDS + 2 * HOUR)
    assert [i.amount_paid for i in invoices_of(client, subscription.id)] == [0, 1500]


def test_a_promotion_code_is_redeemed_into_the_subscription(client: Client) -> None:
    price = monthly_price(client, 2000)
    coupon = client.v1.coupons.create(params={"percent_off": 10, "duration": "forever"})
    code = client.v1.promotion_codes.create(
        params={"promotion": {"type": "coupon", "coupon": coupon.id}, "code": "TENOFF"}
    )
    _, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id, discounts=[{"promotion_code": code.id}])
    assert client.v1.invoices.retrieve(str(subscription.latest_invoice)).amount_paid == 1800
    assert client.v1.promotion_codes.retrieve(code.id).times_redeemed == 1
    assert client.v1.coupons.retrieve(coupon.id).times_redeemed == 1


def test_item_tax_rates_and_discounts_apply_to_their_lines(
    client: Client, ledger_verified: None
) -> None:
    seats, support = monthly_price(client, 2000), monthly_price(client, 1000)
    three_off = client.v1.coupons.create(
        params={"amount_off": 300, "currency": "usd", "duration": "forever"}
    )
    reduced, standard = tax_rate(client, 10), tax_rate(client, 20)
    _, customer = clock_customer(client)
    items: Any = [
        {"price": seats.id, "tax_rates": [standard.id], "discounts": [{"coupon": three_off.id}]},
        {"price": support.id},
    ]
    subscription = subscribe(
        client, customer.id, seats.id, items=items, default_tax_rates=[reduced.id]
    )
    first_item = subscription["items"].data[0]
    assert [r.id for r in first_item.tax_rates or []] == [standard.id]
    (item_discount,) = first_item.discounts
    invoice = client.v1.invoices.retrieve(str(subscription.latest_invoice))
    seats_line, support_line = invoice.lines.data
    # Seats: 2000 less 300 is 1700, taxed at its own 20%: 340. Support: 1000 at the
    # subscription's default 10%: 100. 3000 - 300 + 440 = 3140; the subtotal is net of the
    # item's own discount (Stripe: "Item discounts are already incorporated").
    assert [(d.amount, d.discount) for d in seats_line.discount_amounts or []] == [
        (300, item_discount)
    ]
    assert [t.amount for t in seats_line.taxes or []] == [340]
    assert [t.amount for t in support_line.taxes or []] == [100]
    assert (invoice.subtotal, invoice.total, invoice.amount_paid) == (2700, 3140, 3140)


# -- refusals ----------------------------------------------------------------------------------


def test_refusals_name_the_parameter_and_keep_nothing(client: Client) -> None:
    price, weekly = monthly_price(client), price_of(client, 700, interval="week")
    coupon = client.v1.coupons.create(params={"percent_off": 10, "duration": "forever"})
    _, customer = clock_customer(client)
    base: dict[str, Any] = {"customer": customer.id, "items": [{"price": price.id}]}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"billing_cycle_anchor": JAN_31_2027}, "billing_cycle_anchor"),
        ({"billing_cycle_anchor": utc(2027, 3, 1)}, "billing_cycle_anchor"),  # past Feb 28
        ({"billing_cycle_anchor": 10**15}, "billing_cycle_anchor"),  # past the year 9999
        (
            {"billing_cycle_anchor_config": {"day_of_month": 1, "month": 6}},
            "billing_cycle_anchor_config",  # June 1 is more than a month away
        ),
        (
            {"trial_period_days": 14, "billing_cycle_anchor": JAN_31_2027 + 7 * DAY_SECONDS},
            "billing_cycle_anchor",
        ),
        (
            {
                "billing_cycle_anchor": utc(2027, 2, 10),
                "billing_cycle_anchor_config": {"day_of_month": 10},
            },
            "billing_cycle_anchor_config",
        ),
        (
            {"items": [{"price": weekly.id}], "billing_cycle_anchor_config": {"day_of_month": 1}},
            "billing_cycle_anchor_config",
        ),
        (
            {"billing_cycle_anchor_config": {"day_of_month": 32}},
            "billing_cycle_anchor_config[day_of_month]",
        ),
        (
            {"billing_cycle_anchor_config": {"hour": 3}},
            "billing_cycle_anchor_config[day_of_month]",
        ),
        ({"proration_behavior": "sometimes"}, "proration_behavior"),
        ({"cancel_at": JAN_31_2027 - 1}, "cancel_at"),
        ({"cancel_at": "soon"}, "cancel_at"),
        ({"cancel_at": "9" * 19}, "cancel_at"),  # past the largest integer Stripe takes
        ({"cancel_at": utc(2027, 2, 10), "cancel_at_period_end": True}, "cancel_at"),
        ({"discounts": [{"coupon": "nope"}]}, "discounts[0][coupon]"),
        ({"discounts": [{"coupon": coupon.id}, {"coupon": "nope"}]}, "discounts[1][coupon]"),
        ({"default_tax_rates": ["txr_nope"]}, "default_tax_rates[0]"),
        (
            {"items": [{"price": price.id, "tax_rates": ["txr_nope"]}]},
            "items[0][tax_rates][0]",
        ),
        (
            {"items": [{"price": price.id, "discounts": [{"coupon": "nope"}]}]},
            "items[0][discounts][0][coupon]",
        ),
    ]
    for extra, param in cases:
        with pytest.raises(stripe.InvalidRequestError) as raised:
            client.v1.subscriptions.create(params={**base, **extra})  # type: ignore[arg-type]
        # 404 for an object named that does not exist (Kassa's `resource_missing`).
        assert raised.value.http_status in (400, 404), (extra, raised.value)
        assert raised.value.param == param, (extra, raised.value)
    every: Any = {"customer": base["customer"], "status": "all"}
    assert client.v1.subscriptions.list(params=every).data == []
    assert client.v1.coupons.retrieve(coupon.id).times_redeemed == 0


def test_a_first_payment_refused_rolls_back_the_redemption(client: Client) -> None:
    price = monthly_price(client)
    coupon = client.v1.coupons.create(params={"percent_off": 10, "duration": "forever"})
    _, customer = clock_customer(client, card=DECLINING_CARD)
    with pytest.raises(stripe.CardError):
        subscribe(
            client,
            customer.id,
            price.id,
            discounts=[{"coupon": coupon.id}],
            payment_behavior="error_if_incomplete",
        )
    assert client.v1.coupons.retrieve(coupon.id).times_redeemed == 0


# -- the discount removed, and the terms changed on update -------------------------------------


def test_deleting_the_discount_stops_it_applying(client: Client, ledger_verified: None) -> None:
    price = monthly_price(client, 2000)
    coupon = client.v1.coupons.create(params={"percent_off": 25, "duration": "forever"})
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id, discounts=[{"coupon": coupon.id}])
    (discount_id,) = subscription.discounts
    deleted = client.v1.subscriptions.delete_discount(subscription.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (discount_id, "discount", True)
    assert deleted.subscription == subscription.id
    assert "end" not in deleted.to_dict()  # Stripe's deleted discount has no `end`
    assert client.v1.subscriptions.retrieve(subscription.id).discounts == []
    assert events_of(client, subscription.id)[-1] == "customer.subscription.updated"
    [deleted_event] = client.v1.events.list(params={"type": "customer.discount.deleted"}).data
    removed = deleted_event.data.object.to_dict()
    assert (removed["id"], removed["subscription"]) == (discount_id, subscription.id)
    assert removed["source"] == {"coupon": coupon.id, "type": "coupon"}
    advance(client, clock_id, utc(2027, 2, 28) + 2 * HOUR)
    assert amounts_billed(client, subscription.id) == [
        (JAN_31_2027, 1500),
        (utc(2027, 2, 28), 2000),
    ]
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.subscriptions.delete_discount(subscription.id)
    assert again.value.http_status == 404
    assert [kind for kind, _, _ in discount_events(client)] == [
        "customer.discount.created",
        "customer.discount.deleted",
    ]


def test_discount_events_follow_the_subscription_s_own_discounts(client: Client) -> None:
    """Attached, replaced and removed by updates, each in the change's unit of work; an
    update that leaves them as they were sends none, nor do an item's or an invoice's."""
    price = monthly_price(client, 2000)
    first, second, third = (
        client.v1.coupons.create(params={"percent_off": off, "duration": "forever"})
        for off in (10, 20, 30)
    )
    code = client.v1.promotion_codes.create(
        params={"promotion": {"type": "coupon", "coupon": third.id}}
    )
    _, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id, discounts=[{"coupon": first.id}])
    (first_id,) = subscription.discounts
    [attached] = client.v1.events.list(params={"type": "customer.discount.created"}).data
    discount = attached.data.object.to_dict()
    assert (discount["id"], discount["object"]) == (first_id, "discount")
    assert discount["source"] == {"coupon": first.id, "type": "coupon"}
    assert (discount["subscription"], discount["customer"]) == (subscription.id, customer.id)

    def update(**params: Any) -> stripe.Subscription:
        given: Any = params
        return client.v1.subscriptions.update(subscription.id, params=given)

    update(discounts=[{"discount": first_id}], metadata={"tier": "gold"})
    item = subscription["items"].data[0]
    update(items=[{"id": item.id, "discounts": [{"coupon": second.id}]}])
    invoice = client.v1.invoices.create(
        params={"customer": customer.id, "discounts": [{"coupon": second.id}]}
    )
    client.v1.invoices.delete(invoice.id)
    assert len(discount_events(client)) == 1

    (second_id,) = update(discounts=[{"coupon": second.id}]).discounts
    [replaced] = client.v1.events.list(params={"type": "customer.discount.updated"}).data
    assert replaced.data.object.to_dict()["id"] == second_id
    assert replaced.data.object.to_dict()["source"] == {"coupon": second.id, "type": "coupon"}
    assert replaced.data.to_dict()["previous_attributes"] == {
        "id": first_id,
        "source": {"coupon": first.id},
    }
    second_kept, code_id = update(
        discounts=[{"discount": second_id}, {"promotion_code": code.id}]
    ).discounts
    assert second_kept == second_id
    update(discounts="")
    assert [(kind, discount) for kind, discount, _ in discount_events(client)][1:3] == [
        ("customer.discount.updated", second_id),
        ("customer.discount.created", code_id),
    ]
    removed = {(kind, discount) for kind, discount, _ in discount_events(client)[3:]}
    assert removed == {
        ("customer.discount.deleted", code_id),
        ("customer.discount.deleted", second_id),
    }
    assert len(discount_events(client)) == 5


def test_the_update_side_terms_apply_from_the_next_invoice(
    client: Client, ledger_verified: None
) -> None:
    price = monthly_price(client, 2000)
    coupon = client.v1.coupons.create(params={"percent_off": 25, "duration": "forever"})
    rate = tax_rate(client, 10)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    ends = utc(2027, 3, 14)
    updated = client.v1.subscriptions.update(
        subscription.id,
        params={
            "default_tax_rates": [rate.id],
            "discounts": [{"coupon": coupon.id}],
            "cancel_at": ends,
        },
    )
    assert (updated.cancel_at, len(updated.discounts)) == (ends, 1)
    assert updated.canceled_at == JAN_31_2027  # when the cancellation was asked for
    advance(client, clock_id, utc(2027, 4, 1))
    # February 28 to March 14: 2000 * 14 / 31 = 903.23, so 903; 25% off, 225.75, so 226;
    # 10% tax on the 677 left, 67.7, so 68: 745.
    assert amounts_billed(client, subscription.id) == [
        (JAN_31_2027, 2000),
        (utc(2027, 2, 28), 745),
    ]
    ended = client.v1.subscriptions.retrieve(subscription.id)
    assert (ended.status, ended.ended_at, ended.canceled_at) == ("canceled", ends, JAN_31_2027)
