"""`cancel_at` moved on update, through the SDK on a real `kassa serve` (SQLite and
PostgreSQL) driven by test clocks, the ledger whole after each:
- set inside the current period, it cuts the item periods short there and credits the time
  after it (`proration_behavior`: pending by default, at once, or not at all);
- cleared or moved later, the item periods it had cut short get their regular end back,
  the one the billing cycle anchor implies (or the trial's end), so the next renewal comes
  on the regular cycle, and the time given back is billed as a proration when it is not
  paid for (the cut period billed for its part only, or its time credited by the update
  that cut it), pending for the renewal by default, at once, or not at all.

Stripe: a `cancel_at` "set to a date before the current period ends ... will cause a
proration if prorations have been enabled using proration_behavior" (the update parameter's
docstring, stripe-python 16; its cancel guide, docs.stripe.com/billing/subscriptions/cancel:
a custom cancellation date generates a credit proration unless `proration_behavior=none`).
Removed, the regular period comes back, and a proration reverses the one made for the
shorter period (`subscription_period_ends.fit_periods_to_end`).

Amounts are in whole days: 28.00 a month over February's 28 days, 31.00 over March's 31.
"""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from kassa.clock import DAY_SECONDS
from tests.test_subscription_changes import DECLINING_CARD, at, change, declining, pending_of
from tests.test_subscription_mixed_intervals import periods_by_price, subscribe_all
from tests.test_subscription_terms import amounts_billed, price_of, utc
from tests.test_subscriptions import (
    HOUR,
    JAN_31_2027,
    Client,
    advance,
    clock_customer,
    invoices_of,
    monthly_price,
    period_of,
    service_period,
    subscribe,
)

FEB_14 = utc(2027, 2, 14)
FEB_28 = utc(2027, 2, 28)
MAR_31 = utc(2027, 3, 31)


def lines_of(invoice: stripe.Invoice) -> list[tuple[int, int, int, bool]]:
    """(period start, period end, amount, proration) of each line, in period order."""
    found = []
    for line in invoice.lines.data:
        assert line.parent is not None and line.parent.subscription_item_details is not None
        proration = bool(line.parent.subscription_item_details.proration)
        found.append((line.period.start, line.period.end, line.amount, proration))
    return sorted(found)


def cut_on_february_14(
    client: Client, card: str = "pm_card_visa", **params: Any
) -> tuple[str, stripe.Customer, stripe.Subscription]:
    """A 28.00 monthly subscription from January 31, 2027, created (with `params`, the
    customer paying with `card`) to cancel on February 14, which cuts its first period short
    there: the clock, the customer, the subscription."""
    price = price_of(client, 2800)
    clock_id, customer = clock_customer(client, card=card)
    subscription = subscribe(client, customer.id, price.id, cancel_at=FEB_14, **params)
    assert period_of(subscription) == (JAN_31_2027, FEB_14)
    return clock_id, customer, subscription


@pytest.mark.parametrize("behavior", ["create_prorations", "always_invoice", "none"])
def test_a_cleared_cancel_at_gives_the_first_period_its_regular_end(
    client: Client, ledger_verified: None, behavior: str
) -> None:
    clock_id, customer, subscription = cut_on_february_14(client)
    advance(client, clock_id, utc(2027, 2, 5))
    cleared = change(client, subscription.id, cancel_at="", proration_behavior=behavior)
    assert (cleared.status, cleared.cancel_at, cleared.canceled_at) == ("active", None, None)
    assert period_of(cleared) == (JAN_31_2027, FEB_28)
    advance(client, clock_id, utc(2027, 3, 5))
    renewed = client.v1.subscriptions.retrieve(subscription.id)
    assert (renewed.status, renewed.ended_at) == ("active", None)
    assert period_of(renewed) == (FEB_28, MAR_31)
    # The first invoice billed January 31 to February 14, 14 of 28 days: 1400. The 14 days
    # given back are 1400 more: on the renewal, on an invoice of their own, or free.
    renewal = invoices_of(client, subscription.id)[-1]
    assert (renewal.billing_reason, *service_period(renewal)) == (
        "subscription_cycle",
        FEB_28,
        MAR_31,
    )
    given_back = (FEB_14, FEB_28, 1400, True)
    if behavior == "create_prorations":
        assert lines_of(renewal) == [given_back, (FEB_28, MAR_31, 2800, False)]
        assert amounts_billed(client, subscription.id) == [(JAN_31_2027, 1400), (FEB_28, 4200)]
    elif behavior == "always_invoice":
        _, at_once, _ = invoices_of(client, subscription.id)
        assert (at_once.billing_reason, at_once.status) == ("subscription_update", "paid")
        assert lines_of(at_once) == [given_back]
        assert lines_of(renewal) == [(FEB_28, MAR_31, 2800, False)]
    else:
        assert amounts_billed(client, subscription.id) == [(JAN_31_2027, 1400), (FEB_28, 2800)]
    assert pending_of(client, customer.id) == []


def test_a_cleared_cancel_at_gives_a_renewed_period_its_regular_end(
    client: Client, ledger_verified: None
) -> None:
    """A `cancel_at` set on update in a later period cuts that one short when it begins;
    cleared then, the period runs to the end of the month again."""
    price = price_of(client, 3100)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    cut = utc(2027, 3, 14)
    change(client, subscription.id, cancel_at=cut)
    advance(client, clock_id, utc(2027, 3, 2))
    assert period_of(client.v1.subscriptions.retrieve(subscription.id)) == (FEB_28, cut)
    cleared = change(client, subscription.id, cancel_at="")
    assert (cleared.cancel_at, period_of(cleared)) == (None, (FEB_28, MAR_31))
    advance(client, clock_id, utc(2027, 4, 5))
    renewed = client.v1.subscriptions.retrieve(subscription.id)
    assert (renewed.status, period_of(renewed)) == ("active", (MAR_31, utc(2027, 4, 30)))
    # February 28 to March 14 was billed as 14 of 31 days (1400); the 17 given back, 1700,
    # come with the March 31 renewal.
    renewal = invoices_of(client, subscription.id)[-1]
    assert service_period(renewal) == (MAR_31, utc(2027, 4, 30))
    assert lines_of(renewal) == [(cut, MAR_31, 1700, True), (MAR_31, utc(2027, 4, 30), 3100, False)]
    assert amounts_billed(client, subscription.id) == [
        (JAN_31_2027, 3100),
        (FEB_28, 1400),
        (MAR_31, 4800),
    ]


def test_a_cleared_cancel_at_gives_a_trial_its_end(client: Client, ledger_verified: None) -> None:
    price = price_of(client, 2800)
    clock_id, customer = clock_customer(client)
    trial_end, cut = JAN_31_2027 + 14 * DAY_SECONDS, JAN_31_2027 + 10 * DAY_SECONDS
    subscription = subscribe(client, customer.id, price.id, trial_period_days=14, cancel_at=cut)
    assert (subscription.status, period_of(subscription)) == ("trialing", (JAN_31_2027, cut))
    advance(client, clock_id, utc(2027, 2, 5))
    cleared = change(client, subscription.id, cancel_at="")
    assert (cleared.status, cleared.trial_end, cleared.cancel_at) == ("trialing", trial_end, None)
    assert period_of(cleared) == (JAN_31_2027, trial_end)
    advance(client, clock_id, utc(2027, 3, 20))
    renewed = client.v1.subscriptions.retrieve(subscription.id)
    assert (renewed.status, period_of(renewed)) == ("active", (utc(2027, 3, 14), utc(2027, 4, 14)))
    # Nothing for the trial, nothing for the trial's days given back: whole months from its end.
    assert amounts_billed(client, subscription.id) == [
        (JAN_31_2027, 0),
        (trial_end, 2800),
        (utc(2027, 3, 14), 2800),
    ]
    first_paid = invoices_of(client, subscription.id)[1]
    assert lines_of(first_paid) == [(trial_end, utc(2027, 3, 14), 2800, False)]


def test_a_first_period_billed_whole_gets_its_end_back_for_nothing(
    client: Client, ledger_verified: None
) -> None:
    """Created with `proration_behavior=none`, a first period cut short is billed whole: the
    time given back was paid for already."""
    clock_id, customer, subscription = cut_on_february_14(client, proration_behavior="none")
    cleared = change(client, subscription.id, cancel_at="")
    assert period_of(cleared) == (JAN_31_2027, FEB_28)
    assert pending_of(client, customer.id) == []
    advance(client, clock_id, FEB_28 + 2 * HOUR)
    assert amounts_billed(client, subscription.id) == [(JAN_31_2027, 2800), (FEB_28, 2800)]


def test_a_cancel_at_moved_later_gives_the_period_the_time_up_to_it(
    client: Client, ledger_verified: None
) -> None:
    clock_id, _, subscription = cut_on_february_14(client)
    later = utc(2027, 2, 21)
    advance(client, clock_id, utc(2027, 2, 5))
    moved = change(client, subscription.id, cancel_at=later, proration_behavior="always_invoice")
    assert (moved.cancel_at, period_of(moved)) == (later, (JAN_31_2027, later))
    # The seven days from February 14 to 21: 700, invoiced at once.
    at_once = invoices_of(client, subscription.id)[-1]
    assert (at_once.billing_reason, at_once.amount_paid) == ("subscription_update", 700)
    assert lines_of(at_once) == [(FEB_14, later, 700, True)]
    advance(client, clock_id, utc(2027, 3, 5))
    ended = client.v1.subscriptions.retrieve(subscription.id)
    assert (ended.status, ended.ended_at) == ("canceled", later)
    assert len(invoices_of(client, subscription.id)) == 2


def test_a_change_after_the_period_got_its_end_back_credits_the_time_given_back(
    client: Client, ledger_verified: None
) -> None:
    clock_id, customer, subscription = cut_on_february_14(client)
    change(client, subscription.id, cancel_at="")
    advance(client, clock_id, utc(2027, 2, 20))
    (item,) = subscription["items"].data
    change(client, subscription.id, items=[{"id": item.id, "quantity": 2}])
    # Eight of February's 28 days left: the 1400 charged for February 14 to 28 credits
    # 800 of it, and two seats cost 1600 for them.
    amounts = sorted(pending.amount for pending in pending_of(client, customer.id))
    assert amounts == [-800, 1400, 1600]


def test_a_change_before_the_old_end_credits_the_cut_period_and_the_time_given_back(
    client: Client, ledger_verified: None
) -> None:
    """Flexible: the first invoice's line (January 31 to February 14, 1400) and the charge
    for the time given back (February 14 to 28, 1400) are both debits of the item; a change
    on February 5 credits the unused part of each."""
    clock_id, customer, subscription = cut_on_february_14(client)
    change(client, subscription.id, cancel_at="")
    advance(client, clock_id, utc(2027, 2, 5))
    (item,) = subscription["items"].data
    change(client, subscription.id, items=[{"id": item.id, "quantity": 2}])
    # Nine of the first invoice's 14 days left, 900, and all of the 1400 given back; two
    # seats cost 4600 for the 23 days left.
    pending = pending_of(client, customer.id)
    assert sorted(p.amount for p in pending) == [-1400, -900, 1400, 4600]
    first_line = invoices_of(client, subscription.id)[0].lines.data[0]
    credited = {
        p.amount: p.proration_details.credited_items.to_dict()
        for p in pending
        if p.amount < 0
        and p.proration_details is not None
        and p.proration_details.credited_items is not None
    }
    given_back = next(p for p in pending if p.amount == 1400)
    assert credited[-900]["type"] == "invoice_line_items"
    assert credited[-900]["invoice_line_item_details"]["invoice_line_items"] == [first_line.id]
    assert (credited[-1400]["type"], credited[-1400]["invoice_item"]) == (
        "invoice_item",
        given_back.id,
    )
    advance(client, clock_id, FEB_28 + 2 * HOUR)
    # The renewal: the prorations, 3700, and two seats for March, 5600.
    assert amounts_billed(client, subscription.id) == [(JAN_31_2027, 1400), (FEB_28, 9300)]


def test_a_cleared_cancel_at_gives_each_item_its_own_regular_end(
    client: Client, ledger_verified: None
) -> None:
    """Mixed intervals: a `cancel_at` on February 15 cuts the yearly item's first period
    short (the monthly one ends on February 1 anyway); cleared, the yearly item runs to the
    new year again."""
    monthly, yearly = monthly_price(client, 3100), price_of(client, 36_500, "year")
    clock_id, customer = clock_customer(client, at(2027, 1, 1))
    items = [monthly, yearly]
    subscription = subscribe_all(client, customer.id, items, cancel_at=at(2027, 2, 15))
    assert periods_by_price(subscription) == {
        monthly.id: (at(2027, 1, 1), at(2027, 2, 1)),
        yearly.id: (at(2027, 1, 1), at(2027, 2, 15)),
    }
    # January, and 45 days of the year at 100 a day.
    assert invoices_of(client, subscription.id)[0].amount_paid == 3100 + 4500
    advance(client, clock_id, at(2027, 1, 16))
    cleared = change(client, subscription.id, cancel_at="")
    assert periods_by_price(cleared)[yearly.id] == (at(2027, 1, 1), at(2028, 1, 1))
    advance(client, clock_id, at(2027, 3, 5))
    assert periods_by_price(client.v1.subscriptions.retrieve(subscription.id)) == {
        monthly.id: (at(2027, 3, 1), at(2027, 4, 1)),
        yearly.id: (at(2027, 1, 1), at(2028, 1, 1)),
    }
    # The yearly item's 320 days given back, 32000, come with the monthly renewal.
    february = invoices_of(client, subscription.id)[1]
    assert lines_of(february) == [
        (at(2027, 2, 1), at(2027, 3, 1), 3100, False),
        (at(2027, 2, 15), at(2028, 1, 1), 32_000, True),
    ]


INCOMPLETE_END_CHANGES: dict[str, dict[str, Any]] = {
    "cleared": {"cancel_at": ""},
    "moved": {"cancel_at": JAN_31_2027 + 5 * DAY_SECONDS},
    "at the period end": {"cancel_at_period_end": True},
    "not at the period end": {"cancel_at_period_end": False},
}


@pytest.mark.parametrize("sent", list(INCOMPLETE_END_CHANGES))
def test_an_incomplete_subscription_refuses_a_new_end_and_still_expires(
    client: Client, ledger_verified: None, sent: str
) -> None:
    """Stripe's `status` docstring: an incomplete subscription "can only have metadata and
    default_source updated". Its first invoice unpaid, its end cannot change (a cut would
    leave the customer paying that invoice for time after the end, with nothing to credit):
    a 400 naming the parameter, nothing changed, and it expires 23 hours on as any
    incomplete one does."""
    clock_id, customer, subscription = cut_on_february_14(client, card=DECLINING_CARD)
    assert subscription.status == "incomplete"
    params = INCOMPLETE_END_CHANGES[sent]
    with pytest.raises(stripe.InvalidRequestError) as refused:
        change(client, subscription.id, **params)
    assert refused.value.param == next(iter(params))
    assert "incomplete" in str(refused.value.user_message)
    kept = client.v1.subscriptions.retrieve(subscription.id)
    assert (kept.status, kept.cancel_at, period_of(kept)) == (
        "incomplete",
        FEB_14,
        (JAN_31_2027, FEB_14),
    )
    assert len(invoices_of(client, subscription.id)) == 1
    assert pending_of(client, customer.id) == []
    advance(client, clock_id, JAN_31_2027 + 25 * HOUR)
    expired = client.v1.subscriptions.retrieve(subscription.id)
    assert (expired.status, expired.ended_at) == ("incomplete_expired", JAN_31_2027 + 23 * HOUR)
    assert [invoice.status for invoice in invoices_of(client, subscription.id)] == ["void"]
    assert pending_of(client, customer.id) == []


def test_a_held_update_paid_after_the_end_came_back_keeps_the_regular_period(
    client: Client, ledger_verified: None
) -> None:
    """A change held for its payment (`pending_if_incomplete`) while the period is cut short
    at February 14; the `cancel_at` cleared then gives the period its end back, and paying
    the held invoice later applies the change to that period, not the cut one: no renewal
    on February 14, the time given back billed once."""
    clock_id, customer, subscription = cut_on_february_14(client)
    declining(client, customer.id, subscription.id)
    advance(client, clock_id, utc(2027, 2, 5))
    (item,) = subscription["items"].data
    held = change(
        client,
        subscription.id,
        items=[{"id": item.id, "quantity": 2}],
        proration_behavior="always_invoice",
        payment_behavior="pending_if_incomplete",
    )
    assert held.pending_update is not None
    held_invoice = client.v1.invoices.retrieve(str(held.latest_invoice))
    # Nine of 14 days: -900 for the one seat billed, +1800 for two.
    assert (held_invoice.status, held_invoice.amount_due) == ("open", 900)
    cleared = change(client, subscription.id, cancel_at="")
    assert (cleared.cancel_at, period_of(cleared)) == (None, (JAN_31_2027, FEB_28))
    assert cleared.pending_update is not None
    (shown,) = cleared.pending_update.subscription_items or []
    assert (shown.current_period_start, shown.current_period_end) == (JAN_31_2027, FEB_28)
    assert sorted(p.amount for p in pending_of(client, customer.id)) == [1400]
    card = client.v1.payment_methods.attach("pm_card_mastercard", params={"customer": customer.id})
    client.v1.invoices.pay(held_invoice.id, params={"payment_method": card.id})
    applied = client.v1.subscriptions.retrieve(subscription.id)
    assert (applied.pending_update, only_quantity(applied)) == (None, 2)
    assert period_of(applied) == (JAN_31_2027, FEB_28)
    change(client, subscription.id, default_payment_method=card.id)
    # On February 10 a third seat credits both debits: four of the held charge's nine days
    # (1800 for two seats), 800, and the 1400 given back; three seats cost 5400 for 18 days.
    advance(client, clock_id, utc(2027, 2, 10))
    change(client, subscription.id, items=[{"id": item.id, "quantity": 3}])
    assert sorted(p.amount for p in pending_of(client, customer.id)) == [-1400, -800, 1400, 5400]
    advance(client, clock_id, FEB_28 + 2 * HOUR)
    renewed = client.v1.subscriptions.retrieve(subscription.id)
    assert (renewed.status, period_of(renewed)) == ("active", (FEB_28, MAR_31))
    # No renewal on February 14: the prorations, 4600, come with the February 28 renewal of
    # three seats, 8400.
    assert amounts_billed(client, subscription.id) == [
        (JAN_31_2027, 1400),
        (utc(2027, 2, 5), 900),
        (FEB_28, 13_000),
    ]


def only_quantity(subscription: stripe.Subscription) -> int:
    (item,) = subscription["items"].data
    return int(item.quantity or 0)


# -- a cancel_at set by update inside the current period -----------------------------------

FEB_5 = utc(2027, 2, 5)


def cut_on_february_5(
    client: Client, behavior: str | None = None, **create: Any
) -> tuple[str, stripe.Customer, stripe.Subscription, stripe.Subscription]:
    """A 28.00 monthly subscription from January 31, 2027 (its first invoice billing the
    whole month to February 28), set on February 5 to cancel on February 14 (with
    `proration_behavior=behavior` if given): the clock, the customer, the subscription as
    created, the update's answer."""
    price = price_of(client, 2800)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id, **create)
    assert period_of(subscription) == (JAN_31_2027, FEB_28)
    advance(client, clock_id, FEB_5)
    params: dict[str, Any] = {"cancel_at": FEB_14}
    if behavior is not None:
        params["proration_behavior"] = behavior
    return clock_id, customer, subscription, change(client, subscription.id, **params)


def credits_of(client: Client, customer_id: str) -> list[tuple[int, int, int]]:
    """(period start, period end, amount) of the customer's pending credit prorations."""
    return sorted(
        (p.period.start, p.period.end, p.amount)
        for p in pending_of(client, customer_id)
        if p.amount < 0 and p.proration
    )


def test_a_cancel_at_set_inside_the_period_credits_the_time_after_it(
    client: Client, ledger_verified: None
) -> None:
    clock_id, customer, subscription, updated = cut_on_february_5(client)
    assert (updated.status, updated.cancel_at) == ("active", FEB_14)
    assert period_of(updated) == (JAN_31_2027, FEB_14)
    # The first invoice billed 2800 for the 28 days to February 28; the 14 days after
    # February 14 come back: 1400, pending, undoing that invoice's line.
    (credit,) = pending_of(client, customer.id)
    assert (credit.amount, credit.period.start, credit.period.end) == (-1400, FEB_14, FEB_28)
    assert credit.proration and credit.proration_details is not None
    credited = credit.proration_details.credited_items
    assert credited is not None and credited.type == "invoice_line_items"
    first_line = invoices_of(client, subscription.id)[0].lines.data[0]
    assert credited.to_dict()["invoice_line_item_details"]["invoice_line_items"] == [first_line.id]
    advance(client, clock_id, utc(2027, 3, 5))
    ended = client.v1.subscriptions.retrieve(subscription.id)
    assert (ended.status, ended.ended_at) == ("canceled", FEB_14)
    # The end collects what was left pending (`subscription_cycle.end_as_scheduled`): the
    # credit on a final invoice, which goes to the customer's balance.
    first, final = invoices_of(client, subscription.id)
    assert (final.billing_reason, final.total, final.amount_due) == ("subscription_cycle", -1400, 0)
    assert final.lines.data[0].id != first.lines.data[0].id
    assert client.v1.customers.retrieve(customer.id).balance == -1400


def test_a_cancel_at_set_inside_the_period_with_always_invoice_credits_at_once(
    client: Client, ledger_verified: None
) -> None:
    clock_id, customer, subscription, updated = cut_on_february_5(client, "always_invoice")
    assert period_of(updated) == (JAN_31_2027, FEB_14)
    at_once = invoices_of(client, subscription.id)[-1]
    assert at_once.id == updated.latest_invoice
    assert (at_once.billing_reason, at_once.status) == ("subscription_update", "paid")
    assert lines_of(at_once) == [(FEB_14, FEB_28, -1400, True)]
    # A credit: nothing to charge, the 1400 to the customer's balance.
    assert (at_once.total, at_once.amount_due) == (-1400, 0)
    assert client.v1.customers.retrieve(customer.id).balance == -1400
    assert pending_of(client, customer.id) == []
    advance(client, clock_id, utc(2027, 3, 5))
    ended = client.v1.subscriptions.retrieve(subscription.id)
    assert (ended.status, ended.ended_at) == ("canceled", FEB_14)


def test_a_cancel_at_set_inside_the_period_without_prorations_credits_nothing(
    client: Client, ledger_verified: None
) -> None:
    clock_id, customer, subscription, updated = cut_on_february_5(client, "none")
    assert (updated.cancel_at, period_of(updated)) == (FEB_14, (JAN_31_2027, FEB_14))
    assert pending_of(client, customer.id) == []
    advance(client, clock_id, utc(2027, 3, 5))
    ended = client.v1.subscriptions.retrieve(subscription.id)
    assert (ended.status, ended.ended_at) == ("canceled", FEB_14)
    assert amounts_billed(client, subscription.id) == [(JAN_31_2027, 2800)]


def test_a_cancel_at_set_inside_the_period_then_cleared_charges_back_what_it_credited(
    client: Client, ledger_verified: None
) -> None:
    clock_id, customer, subscription, _ = cut_on_february_5(client)
    # Moved earlier on February 6, to February 10: four more days credited, 400.
    change(client, subscription.id, cancel_at=utc(2027, 2, 10))
    assert credits_of(client, customer.id) == [
        (utc(2027, 2, 10), FEB_14, -400),
        (FEB_14, FEB_28, -1400),
    ]
    cleared = change(client, subscription.id, cancel_at="")
    assert (cleared.cancel_at, period_of(cleared)) == (None, (JAN_31_2027, FEB_28))
    # The 18 days from February 10 given back: 1800, the credits undone.
    assert sum(p.amount for p in pending_of(client, customer.id)) == 0
    advance(client, clock_id, FEB_28 + 2 * HOUR)
    renewal = invoices_of(client, subscription.id)[-1]
    assert lines_of(renewal) == [
        (utc(2027, 2, 10), FEB_14, -400, True),
        (utc(2027, 2, 10), FEB_28, 1800, True),
        (FEB_14, FEB_28, -1400, True),
        (FEB_28, MAR_31, 2800, False),
    ]
    assert amounts_billed(client, subscription.id) == [(JAN_31_2027, 2800), (FEB_28, 2800)]


def test_a_cancel_at_set_without_prorations_then_cleared_charges_nothing(
    client: Client, ledger_verified: None
) -> None:
    """Nothing credited for the time after February 14, it is still paid for: given back,
    it is not charged again."""
    clock_id, customer, subscription, updated = cut_on_february_5(client, "none")
    assert period_of(updated) == (JAN_31_2027, FEB_14)
    cleared = change(client, subscription.id, cancel_at="")
    assert period_of(cleared) == (JAN_31_2027, FEB_28)
    assert pending_of(client, customer.id) == []
    advance(client, clock_id, FEB_28 + 2 * HOUR)
    assert amounts_billed(client, subscription.id) == [(JAN_31_2027, 2800), (FEB_28, 2800)]


def test_a_change_after_the_cut_moved_later_credits_each_day_once(
    client: Client, ledger_verified: None
) -> None:
    """Cut at February 14 (1400 credited), moved on to February 21 (its seven days charged
    again, 700), then on February 7 a second seat: the first invoice's line is credited up
    to February 14 only, seven days, 700, and the 700 charged for February 14 to 21 in
    full; two seats cost 2800 for the 14 days to February 21."""
    clock_id, customer, subscription, _ = cut_on_february_5(client)
    feb_21 = utc(2027, 2, 21)
    moved = change(client, subscription.id, cancel_at=feb_21)
    assert period_of(moved) == (JAN_31_2027, feb_21)
    advance(client, clock_id, utc(2027, 2, 7))
    (item,) = subscription["items"].data
    change(client, subscription.id, items=[{"id": item.id, "quantity": 2}])
    amounts = sorted(p.amount for p in pending_of(client, customer.id))
    assert amounts == [-1400, -700, -700, 700, 2800]
    advance(client, clock_id, utc(2027, 3, 5))
    ended = client.v1.subscriptions.retrieve(subscription.id)
    assert (ended.status, ended.ended_at) == ("canceled", feb_21)


def test_a_discounted_period_cut_by_update_credits_what_was_paid(
    client: Client, ledger_verified: None
) -> None:
    """Flexible billing mode credits the debit net of its discount: the first invoice took
    25% off, 2100 for the 28 days, so the 14 after February 14 give back 1050."""
    coupon = client.v1.coupons.create(params={"percent_off": 25, "duration": "forever"})
    _, customer, subscription, _ = cut_on_february_5(client, discounts=[{"coupon": coupon.id}])
    assert amounts_billed(client, subscription.id) == [(JAN_31_2027, 2100)]
    assert credits_of(client, customer.id) == [(FEB_14, FEB_28, -1050)]
    cleared = change(client, subscription.id, cancel_at="")
    assert period_of(cleared) == (JAN_31_2027, FEB_28)
    assert sorted(p.amount for p in pending_of(client, customer.id)) == [-1050, 1050]


@pytest.mark.parametrize(
    "cancel", [{"cancel_at_period_end": True}, {"cancel_at": "max_period_end"}]
)
def test_a_cancel_at_the_period_end_credits_nothing(
    client: Client, ledger_verified: None, cancel: dict[str, Any]
) -> None:
    price = price_of(client, 2800)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    advance(client, clock_id, FEB_5)
    updated = change(client, subscription.id, **cancel)
    assert (updated.cancel_at, period_of(updated)) == (FEB_28, (JAN_31_2027, FEB_28))
    assert pending_of(client, customer.id) == []


def test_min_period_end_cuts_a_longer_item_short_and_credits_it(
    client: Client, ledger_verified: None
) -> None:
    """Mixed intervals: `min_period_end` is the monthly item's end, inside the yearly item's
    period, which is cut short there as a `cancel_at` on create would cut it: its 334 days
    from February 1, at 100 a day, are credited."""
    monthly, yearly = monthly_price(client, 3100), price_of(client, 36_500, "year")
    clock_id, customer = clock_customer(client, at(2027, 1, 1))
    subscription = subscribe_all(client, customer.id, [monthly, yearly])
    advance(client, clock_id, at(2027, 1, 16))
    updated = change(client, subscription.id, cancel_at="min_period_end")
    assert updated.cancel_at == at(2027, 2, 1)
    assert periods_by_price(updated) == {
        monthly.id: (at(2027, 1, 1), at(2027, 2, 1)),
        yearly.id: (at(2027, 1, 1), at(2027, 2, 1)),
    }
    assert credits_of(client, customer.id) == [(at(2027, 2, 1), at(2028, 1, 1), -33_400)]


def test_a_cancel_at_set_inside_a_trial_cuts_it_for_nothing(
    client: Client, ledger_verified: None
) -> None:
    price = price_of(client, 2800)
    clock_id, customer = clock_customer(client)
    trial_end, cut = JAN_31_2027 + 14 * DAY_SECONDS, JAN_31_2027 + 10 * DAY_SECONDS
    subscription = subscribe(client, customer.id, price.id, trial_period_days=14)
    advance(client, clock_id, FEB_5)
    updated = change(client, subscription.id, cancel_at=cut)
    assert (updated.status, period_of(updated)) == ("trialing", (JAN_31_2027, cut))
    assert pending_of(client, customer.id) == []
    cleared = change(client, subscription.id, cancel_at="")
    assert period_of(cleared) == (JAN_31_2027, trial_end)
    assert pending_of(client, customer.id) == []


@pytest.mark.parametrize("percent_off", [None, 25])
def test_a_cancel_at_set_with_an_item_change_credits_the_new_charge_after_it(
    client: Client, ledger_verified: None, percent_off: int | None
) -> None:
    """From February 1 (28 days to March 1), on February 5 one update sets `cancel_at` to
    February 20 and three seats. The change credits the one seat's 24 days left, 2400, and
    charges three for them, 7200; the cut then credits that charge's 9 days after February
    20 of its 24: 2700 (flexible: the update's own charge is the debit, not yet stored).
    With 25% off: 2100 paid, 1800 credited; 6300 for three seats' month, 5400 for 24 days,
    2025 for the 9. Cleared, the 9 days are charged back at what was credited."""
    price = price_of(client, 2800)
    clock_id, customer = clock_customer(client, at(2027, 2, 1))
    create: dict[str, Any] = {}
    if percent_off is not None:
        coupon = client.v1.coupons.create(
            params={"percent_off": percent_off, "duration": "forever"}
        )
        create["discounts"] = [{"coupon": coupon.id}]
    subscription = subscribe(client, customer.id, price.id, **create)
    advance(client, clock_id, FEB_5)
    (item,) = subscription["items"].data
    tripled = [{"id": item.id, "quantity": 3}]
    details: Any = {"cancel_at": at(2027, 2, 20), "items": tripled, "proration_date": FEB_5}
    preview = client.v1.invoices.create_preview(
        params={"subscription": subscription.id, "subscription_details": details}
    )
    updated = change(
        client,
        subscription.id,
        cancel_at=at(2027, 2, 20),
        items=tripled,
        proration_date=FEB_5,
    )
    assert period_of(updated) == (at(2027, 2, 1), at(2027, 2, 20))
    expected = [-2700, -2400, 7200] if percent_off is None else [-2025, -1800, 5400]
    pending = pending_of(client, customer.id)
    assert sorted(p.amount for p in pending) == expected
    assert sorted(line.amount for line in preview.lines.data) == expected
    (cut,) = [p for p in pending if p.period.start == at(2027, 2, 20)]
    (charge,) = [p for p in pending if p.amount > 0]
    assert cut.proration_details is not None and cut.proration_details.credited_items is not None
    assert cut.proration_details.credited_items.invoice_item == charge.id
    change(client, subscription.id, cancel_at="")
    back = 2700 if percent_off is None else 2025
    assert sorted(p.amount for p in pending_of(client, customer.id)) == sorted([*expected, back])
    advance(client, clock_id, at(2027, 3, 2))
    renewal = invoices_of(client, subscription.id)[-1]
    # The month from February 5 paid for three seats in all: the prorations sum to the
    # change's, 4800 (3600 with 25% off), with the three seats' next month.
    assert (renewal.period_end, renewal.total) == (
        (at(2027, 3, 1), 4800 + 8400) if percent_off is None else (at(2027, 3, 1), 3600 + 6300)
    )


@pytest.mark.parametrize("mode", ["classic", "flexible"])
def test_a_reset_with_a_cancel_at_bills_the_new_period_up_to_it(
    client: Client, ledger_verified: None, mode: str
) -> None:
    """From January 31, on February 5 one update resets the cycle and sets `cancel_at` to
    February 19: the 23 days left of the first month are credited, 2300, and the new
    period, February 5 to March 5 (28 days), is billed for its 14 days to February 19,
    1400: -900 on the update's invoice, 1900 in all for the 19 days."""
    price = price_of(client, 2800)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id, billing_mode={"type": mode})
    advance(client, clock_id, FEB_5)
    change(
        client, subscription.id, cancel_at=utc(2027, 2, 19), billing_cycle_anchor={"type": "now"}
    )
    first, update = invoices_of(client, subscription.id)
    assert (first.total, update.billing_reason, update.total) == (2800, "subscription_update", -900)
    assert client.v1.customers.retrieve(customer.id).balance == -900
    assert pending_of(client, customer.id) == []


@pytest.mark.parametrize(
    "coupon",
    [
        {"percent_off": 50, "duration": "once"},
        {"amount_off": 1400, "currency": "usd", "duration": "forever"},
    ],
)
def test_a_cut_then_given_back_charges_back_what_it_credited(
    client: Client, ledger_verified: None, coupon: dict[str, Any]
) -> None:
    """The first invoice took 1400 off the 2800: the cut on February 14 credits 14 of the
    28 days of 1400 paid, 700. Moved to February 21 on February 6, half of that time is
    given back: 350 (not 700, the price's share, a `once` coupon being used up and an
    amount off having no share outside an invoice); cleared, the other 350."""
    made = client.v1.coupons.create(params=coupon)  # type: ignore[arg-type]
    clock_id, customer, subscription, _ = cut_on_february_5(client, discounts=[{"coupon": made.id}])
    assert amounts_billed(client, subscription.id) == [(JAN_31_2027, 1400)]
    assert credits_of(client, customer.id) == [(FEB_14, FEB_28, -700)]
    advance(client, clock_id, utc(2027, 2, 6))
    change(client, subscription.id, cancel_at=utc(2027, 2, 21))
    assert sorted(p.amount for p in pending_of(client, customer.id)) == [-700, 350]
    cleared = change(client, subscription.id, cancel_at="")
    assert period_of(cleared) == (JAN_31_2027, FEB_28)
    assert sorted(p.amount for p in pending_of(client, customer.id)) == [-700, 350, 350]


@pytest.mark.parametrize("mode", ["classic", "flexible"])
def test_a_free_part_before_the_anchor_cut_and_given_back_costs_nothing(
    client: Client, ledger_verified: None, mode: str
) -> None:
    """Created on February 1 anchored on February 20 with `proration_behavior=none`: the 19
    days to the anchor are free (a first invoice of 0). Cut on February 5 at February 10,
    nothing is credited (nothing was paid), and cleared, nothing charged (the time is free);
    the anchor bills the first whole month."""
    price = price_of(client, 2800)
    clock_id, customer = clock_customer(client, at(2027, 2, 1))
    subscription = subscribe(
        client,
        customer.id,
        price.id,
        billing_cycle_anchor=at(2027, 2, 20),
        proration_behavior="none",
        billing_mode={"type": mode},
    )
    advance(client, clock_id, at(2027, 2, 5))
    cut = change(client, subscription.id, cancel_at=at(2027, 2, 10))
    assert period_of(cut) == (at(2027, 2, 1), at(2027, 2, 10))
    assert pending_of(client, customer.id) == []
    cleared = change(client, subscription.id, cancel_at="")
    assert period_of(cleared) == (at(2027, 2, 1), at(2027, 2, 20))
    assert pending_of(client, customer.id) == []
    advance(client, clock_id, at(2027, 2, 20) + 2 * HOUR)
    assert amounts_billed(client, subscription.id) == [(at(2027, 2, 1), 0), (at(2027, 2, 20), 2800)]


def test_a_cut_given_back_charges_back_the_credit_to_the_cent(
    client: Client, ledger_verified: None
) -> None:
    """10.00 a month from February 28 anchored on March 1: the day to the anchor is 1/28 of
    February, 35.71, billed 36. Cut an hour before the anchor, flexible credits 1/24 of the
    36 debited, 1.5, rounded half up to 2; cleared, those 2 come back, not the price's
    share of the hour, 1000 / 672 = 1.49, 1."""
    price = price_of(client, 1000)
    _, customer = clock_customer(client, at(2027, 2, 28))
    subscription = subscribe(client, customer.id, price.id, billing_cycle_anchor=at(2027, 3, 1))
    # (Below the smallest charge, the 36 go to the customer's balance: its total is 36.)
    assert [invoice.total for invoice in invoices_of(client, subscription.id)] == [36]
    change(client, subscription.id, cancel_at=at(2027, 3, 1) - HOUR)
    assert sorted(p.amount for p in pending_of(client, customer.id)) == [-2]
    change(client, subscription.id, cancel_at="")
    assert sorted(p.amount for p in pending_of(client, customer.id)) == [-2, 2]


def test_a_proration_date_after_the_cancel_at_it_sets_is_refused(
    client: Client, ledger_verified: None
) -> None:
    """A change dated February 18 in an update ending the subscription on February 10 would
    charge time after the end and leave February 10 to 18 of the old items uncredited:
    refused, naming `proration_date`, before anything changes."""
    price = price_of(client, 2800)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    advance(client, clock_id, FEB_5)
    (item,) = subscription["items"].data
    with pytest.raises(stripe.InvalidRequestError) as refused:
        change(
            client,
            subscription.id,
            cancel_at=utc(2027, 2, 10),
            items=[{"id": item.id, "quantity": 2}],
            proration_date=utc(2027, 2, 18),
        )
    assert refused.value.param == "proration_date"
    unchanged = client.v1.subscriptions.retrieve(subscription.id)
    assert (unchanged.cancel_at, period_of(unchanged)) == (None, (JAN_31_2027, FEB_28))
    assert pending_of(client, customer.id) == []


# -- time given back charged as the item is billed now -------------------------------------


def billed_in_all(client: Client, subscription_id: str, customer_id: str) -> int:
    """All the subscription's invoices' totals plus the customer's pending invoice items."""
    invoiced = sum(invoice.total for invoice in invoices_of(client, subscription_id))
    return invoiced + sum(p.amount for p in pending_of(client, customer_id))


def cut_with_seats(
    client: Client, mode: str, seats: int
) -> tuple[str, stripe.Customer, stripe.Subscription]:
    """`cut_on_february_5` with `seats` of the 28.00 price, in billing mode `mode`."""
    price = price_of(client, 2800)
    clock_id, customer = clock_customer(client)
    items, billing_mode = [{"price": price.id, "quantity": seats}], {"type": mode}
    subscription = subscribe(client, customer.id, price.id, items=items, billing_mode=billing_mode)
    advance(client, clock_id, FEB_5)
    change(client, subscription.id, cancel_at=FEB_14)
    return clock_id, customer, subscription


@pytest.mark.parametrize("mode", ["classic", "flexible"])
@pytest.mark.parametrize("variant", ["more seats", "dearer price", "fewer seats"])
def test_time_given_back_after_a_change_is_charged_as_billed_now(
    client: Client, ledger_verified: None, mode: str, variant: str
) -> None:
    """Cut on February 5 at February 14 (the 14 days after it credited: 1400 a seat), on
    February 7 the item changes, and on February 8 the cut is cleared: the 14 days given
    back are charged as the item is billed now, not as it was when cut.
    - two seats (or a 56.00 price) from one: 2800 a month to January 31, -1400 the cut,
      -700 + 1400 the change for February 7 to 14, then 2800 given back (the 1400 credited
      and 1400 for the second seat), and 5600 on the renewal: 10500, 700 + 4200 + 5600 for
      one seat to February 7 and two from then (not 9100: the second seat's 14 days free);
    - one seat from two: 5600, -2800 the cut, -1400 + 700 the change, then 1400 given back
      (the 2800 credited less 1400 for the seat gone) and 2800 on the renewal: 6300, 1400 +
      2100 + 2800 (not 7700: two seats charged for February 14 to 28)."""
    seats = 2 if variant == "fewer seats" else 1
    clock_id, customer, subscription = cut_with_seats(client, mode, seats)
    advance(client, clock_id, utc(2027, 2, 7))
    (item,) = subscription["items"].data
    changed: dict[str, Any] = {"id": item.id, "quantity": 2}
    if variant == "dearer price":
        changed = {"id": item.id, "price": price_of(client, 5600).id}
    elif variant == "fewer seats":
        changed = {"id": item.id, "quantity": 1}
    change(client, subscription.id, items=[changed])
    advance(client, clock_id, utc(2027, 2, 8))
    preview = client.v1.invoices.create_preview(
        params={"subscription": subscription.id, "subscription_details": {"cancel_at": ""}}
    )
    change(client, subscription.id, cancel_at="")
    given_back = 1400 if variant == "fewer seats" else 2800
    pending = pending_of(client, customer.id)
    (charge,) = [p for p in pending if p.period.start == FEB_14 and p.amount > 0]
    assert charge.amount == given_back
    assert given_back in [line.amount for line in preview.lines.data]
    advance(client, clock_id, FEB_28 + 2 * HOUR)
    expected = 1400 + 2100 + 2800 if variant == "fewer seats" else 700 + 4200 + 5600
    assert billed_in_all(client, subscription.id, customer.id) == expected


@pytest.mark.parametrize("mode", ["classic", "flexible"])
def test_more_seats_and_a_later_cancel_at_in_one_update_charge_the_seats_given_back(
    client: Client, ledger_verified: None, mode: str
) -> None:
    """Cut on February 5 at February 14 (-1400), on February 7 one update makes two seats
    (-700 + 1400 for February 7 to 14) and moves `cancel_at` to February 21: the seven days
    given back are charged for two seats, 1400 (the 700 credited and 700 for the second
    seat): 3500 in all, 700 for one seat to February 7 and 2800 for two to February 21 (not
    2800: the second seat's seven days free)."""
    clock_id, customer, subscription = cut_with_seats(client, mode, 1)
    advance(client, clock_id, utc(2027, 2, 7))
    (item,) = subscription["items"].data
    change(
        client,
        subscription.id,
        items=[{"id": item.id, "quantity": 2}],
        cancel_at=utc(2027, 2, 21),
    )
    advance(client, clock_id, utc(2027, 3, 5))
    ended = client.v1.subscriptions.retrieve(subscription.id)
    assert (ended.status, ended.ended_at) == ("canceled", utc(2027, 2, 21))
    assert billed_in_all(client, subscription.id, customer.id) == 700 + 2 * 1400
