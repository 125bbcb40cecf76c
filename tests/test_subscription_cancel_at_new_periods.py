"""Periods that begin after an update set `cancel_at`, through the SDK on a real `kassa serve`
(SQLite and PostgreSQL) driven by test clocks, the ledger whole after each: an item added,
an item moved to another interval, a billing cycle reset (`billing_cycle_anchor=now`, a new
interval) and a resume each start a period that ends at `cancel_at` when that falls inside
it, as a first period on create and a renewed one do, and bill only its part.

Stripe's update docstring for `cancel_at`: "If set during a future period, this will always
cause a proration for that period" (`subscription_periods.cut_at_cancel`, `reset_span`).

Each scenario is `cut_on_february_5` (`test_subscription_cancel_at`): 28.00 a month from
January 31, 2027, paid for the 28 days to February 28, set on February 5 to cancel on
February 14, which credits the 14 days after it (1400, pending). Amounts in whole days:
28.00 a month over 28 days, and 365.00 a year (1.00 a day).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.test_subscription_cancel_at import FEB_5, FEB_14, FEB_28, cut_on_february_5, lines_of
from tests.test_subscription_changes import change, only_item, pending_of
from tests.test_subscription_mixed_intervals import periods_by_price
from tests.test_subscription_pause import pause, resume
from tests.test_subscription_terms import price_of, utc
from tests.test_subscriptions import (
    JAN_31_2027,
    Client,
    advance,
    invoices_of,
    period_of,
    service_period,
)

FEB_8 = utc(2027, 2, 8)
FEB_10 = utc(2027, 2, 10)
CUT_CREDIT = (FEB_14, FEB_28, -1400, True)
"""The pending credit `cut_on_february_5` makes: the 14 days after the cut."""


def balance_of(client: Client, customer_id: str) -> int:
    return int(client.v1.customers.retrieve(customer_id).balance or 0)


def ends_on_february_14(client: Client, clock_id: str, subscription_id: str) -> None:
    advance(client, clock_id, utc(2027, 3, 5))
    ended = client.v1.subscriptions.retrieve(subscription_id)
    assert (ended.status, ended.ended_at) == ("canceled", FEB_14)


@pytest.mark.parametrize(
    ("amount", "interval", "charged"), [(5600, "month", 1200), (36_500, "year", 600)]
)
def test_an_item_added_after_a_cut_is_cut_there_too(
    client: Client, ledger_verified: None, amount: int, interval: str, charged: int
) -> None:
    """Added on February 8, an item's period ends at the cut like the others' (a yearly item
    no longer gets a year to January 31, 2028), charged for its 6 days up to it: 56.00 a
    month, 6/28 of it; 365.00 a year, 6.00. The end collects that charge with the cut's
    credit, and no more."""
    clock_id, customer, subscription, _ = cut_on_february_5(client)
    added = price_of(client, amount, interval)
    advance(client, clock_id, FEB_8)
    updated = change(client, subscription.id, items=[{"price": added.id}])
    assert set(periods_by_price(updated).values()) == {(JAN_31_2027, FEB_14)}
    charges = [(p.period.start, p.period.end, p.amount) for p in pending_of(client, customer.id)]
    assert (FEB_8, FEB_14, charged) in charges
    ends_on_february_14(client, clock_id, subscription.id)
    final = invoices_of(client, subscription.id)[-1]
    assert final.total == charged - 1400
    assert balance_of(client, customer.id) == charged - 1400


RESETS: dict[str, Any] = {
    "billing_cycle_anchor=now": {"billing_cycle_anchor": {"type": "now"}},
    "a yearly price": {},
}


@pytest.mark.parametrize("mode", ["flexible", "classic"])
@pytest.mark.parametrize("reset", list(RESETS))
def test_a_reset_after_a_cut_bills_its_new_period_up_to_it(
    client: Client, ledger_verified: None, reset: str, mode: str
) -> None:
    """A billing cycle reset on February 8 starts a period that ends at the cut, February 14:
    its 6 days billed (6/28 of 28.00 a month to March 8, or 6/365 of 365.00 a year), 600,
    with the credit for the 6 days of the old period up to the cut and the cut's own credit:
    the customer paid 2800 for 14 days of service, 1400 comes back. The preview shows the
    same invoice."""
    clock_id, customer, subscription, _ = cut_on_february_5(client, billing_mode={"type": mode})
    advance(client, clock_id, FEB_8)
    params = dict(RESETS[reset])
    if not params:
        yearly = price_of(client, 36_500, "year")
        params["items"] = [{"id": only_item(subscription).id, "price": yearly.id}]
    details: Any = {"subscription": subscription.id, "subscription_details": params}
    preview = client.v1.invoices.create_preview(params=details)
    updated = change(client, subscription.id, **params)
    assert (updated.cancel_at, period_of(updated)) == (FEB_14, (FEB_8, FEB_14))
    invoice = invoices_of(client, subscription.id)[-1]
    assert invoice.id == updated.latest_invoice
    # The invoice's own period looks back to the first invoice's time, January 31, up to
    # now (Stripe: "the usage period during which invoice items were added"); its line bills
    # the new period.
    assert (invoice.billing_reason, invoice.period_start, invoice.period_end) == (
        "subscription_update",
        JAN_31_2027,
        FEB_8,
    )
    assert service_period(invoice) == (FEB_8, FEB_14)
    assert lines_of(invoice) == [
        (FEB_8, FEB_14, -600, True),
        (FEB_8, FEB_14, 600, False),
        CUT_CREDIT,
    ]
    assert (invoice.total, preview.total) == (-1400, -1400)
    assert balance_of(client, customer.id) == -1400
    ends_on_february_14(client, clock_id, subscription.id)
    assert invoices_of(client, subscription.id)[-1].id == invoice.id  # nothing left to collect


def test_a_resume_after_a_cut_bills_its_new_period_up_to_it(
    client: Client, ledger_verified: None
) -> None:
    """Paused on February 5 (the 9 days to the cut credited), resumed on February 10 with a
    new period from then (the default): it ends at the cut, its 4 days billed (4/28 of 28.00
    to March 10), 400. The customer paid 2800 for 9 days: 1900 comes back."""
    clock_id, customer, subscription, _ = cut_on_february_5(client)
    pause(client, subscription.id, type="subscription")
    advance(client, clock_id, FEB_10)
    resumed = resume(client, subscription.id)
    assert (resumed.status, resumed.cancel_at, period_of(resumed)) == (
        "active",
        FEB_14,
        (FEB_10, FEB_14),
    )
    invoice = invoices_of(client, subscription.id)[-1]
    assert invoice.id == resumed.latest_invoice
    assert lines_of(invoice) == [
        (FEB_5, FEB_14, -900, True),
        (FEB_10, FEB_14, 400, False),
        CUT_CREDIT,
    ]
    assert (invoice.total, balance_of(client, customer.id)) == (-1900, -1900)
    ends_on_february_14(client, clock_id, subscription.id)


def test_a_resume_on_the_old_anchor_after_a_cut_charges_up_to_it(
    client: Client, ledger_verified: None
) -> None:
    """Resumed on February 10 on the old anchor, the period around then is cut at February
    14 as it was: the 4 days from the resume charged (400, pending), not the 18 to February
    28; the end collects it with the pause's and the cut's credits."""
    clock_id, customer, subscription, _ = cut_on_february_5(client)
    pause(client, subscription.id, type="subscription")
    advance(client, clock_id, FEB_10)
    resumed = resume(client, subscription.id, billing_cycle_anchor={"type": "unchanged"})
    assert period_of(resumed) == (JAN_31_2027, FEB_14)
    pending = sorted(
        (p.period.start, p.period.end, p.amount) for p in pending_of(client, customer.id)
    )
    assert pending == [(FEB_5, FEB_14, -900), (FEB_10, FEB_14, 400), (FEB_14, FEB_28, -1400)]
    ends_on_february_14(client, clock_id, subscription.id)
    assert balance_of(client, customer.id) == -1900
