"""Billing modes through the SDK on a real `kassa serve` (SQLite and PostgreSQL), driven by
test clocks: flexible credit prorations (the default) worked out from what was debited, next
to classic's from the price, where the two differ (a discounted debit, a debit that was a
proration, a change made without prorations); `billing_mode` on create as Stripe shows it;
`POST /v1/subscriptions/{id}/migrate` from classic to flexible; the refusals; the ledger whole
after each.

Amounts by hand: a proration is `amount * unused / period` in whole days, rounded half up to
whole cents. Flexible's credit is the debit's net amount times the unused part of the
debit's own period; classic's is the price times quantity, less the discounts that apply
now or that the period's invoices took (a `once` one used, a `repeating` one ended since),
times the unused part of the billing period."""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest
import stripe

from tests.test_subscription_changes import at, change, only_item, pending_of
from tests.test_subscription_terms import price_of
from tests.test_subscriptions import (
    Client,
    advance,
    clock_customer,
    events_of,
    invoices_of,
    monthly_price,
    subscribe,
)

HOUR = 3_600


def percent_coupon(client: Client, percent: int) -> stripe.Coupon:
    return client.v1.coupons.create(params={"percent_off": percent, "duration": "forever"})


def mode(kind: str) -> dict[str, Any]:
    return {"billing_mode": {"type": kind}}


def discounted_from_april(
    client: Client, price_id: str, coupon_id: str, **params: Any
) -> tuple[str, stripe.Customer, stripe.Subscription]:
    """A monthly subscription from 1 April 2027 (a 30-day month) with one discount: its
    clock, customer and subscription."""
    clock_id, customer = clock_customer(client, at(2027, 4, 1))
    discounts = [{"coupon": coupon_id}]
    subscription = subscribe(client, customer.id, price_id, discounts=discounts, **params)
    return clock_id, customer, subscription


def reprice(client: Client, subscription: stripe.Subscription, price_id: str) -> None:
    """The subscription's one item moved to `price_id`, prorated by default."""
    change(client, subscription.id, items=[{"id": only_item(subscription).id, "price": price_id}])


def credited_lines(item: stripe.InvoiceItem) -> tuple[str, list[str]]:
    """The invoice and lines a credit's `credited_items` names."""
    details = item.proration_details
    assert details is not None and details.credited_items is not None
    lines = details.credited_items.invoice_line_item_details
    assert details.credited_items.type == "invoice_line_items" and lines is not None
    return lines.invoice, list(lines.invoice_line_items)


# -- a discounted debit, then a downgrade ----------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "credit", "charged", "renewal_total"),
    [("flexible", -1600, 800, 400), ("classic", -1600, 800, 400)],
)
def test_a_downgrade_after_a_discounted_debit_credits_it_net_of_the_discount(
    client: Client, ledger_verified: None, kind: str, credit: int, charged: int, renewal_total: int
) -> None:
    big, small = monthly_price(client, 3000), monthly_price(client, 1500)
    coupon = percent_coupon(client, 20)
    clock_id, customer, subscription = discounted_from_april(
        client, big.id, coupon.id, **mode(kind)
    )
    first = client.v1.invoices.retrieve(str(subscription.latest_invoice))
    assert first.amount_paid == 3000 - 600
    advance(client, clock_id, at(2027, 4, 11))
    reprice(client, subscription, small.id)
    # 20 of April's 30 days unused. Flexible: the 2400 paid (3000 less 20%) * 20/30 = 1600,
    # and the charge its price less 20% too, 1200 * 20/30 = 800 (proration discounts
    # `included`); classic the same from the prices less the 20% that applies now,
    # 2400 * 20/30 = 1600 and 1200 * 20/30 = 800.
    got_credit, charge = pending_of(client, customer.id)
    assert (got_credit.amount, charge.amount) == (credit, charged)
    assert credited_lines(got_credit) == (first.id, [first.lines.data[0].id])
    # May's renewal: 1500 less 20% (prorations are not discountable), and both prorations.
    advance(client, clock_id, at(2027, 5, 1) + 2 * HOUR)
    renewal = invoices_of(client, subscription.id)[-1]
    assert (renewal.billing_reason, renewal.status) == ("subscription_cycle", "paid")
    assert renewal.total == 1500 - 300 + credit + charged == renewal_total


@pytest.mark.parametrize("kind", ["flexible", "classic"])
def test_prorations_name_the_discounts_inside_them_at_zero_in_flexible(
    client: Client, ledger_verified: None, kind: str
) -> None:
    """`proration_details.discount_amounts`: "Discount amounts applied when the proration
    was created", only for flexible billing mode (the SDK); with `proration_discounts=
    included` "the proration discount properties include discount IDs, but discount
    amounts are 0" (changelog 2025-09-30.clover, itemize-proration-discount-amounts)."""
    cheap, dear = monthly_price(client, 3000), monthly_price(client, 6000)
    coupon = percent_coupon(client, 50)
    clock_id, customer, subscription = discounted_from_april(
        client, cheap.id, coupon.id, **mode(kind)
    )
    (discount,) = subscription.discounts
    advance(client, clock_id, at(2027, 4, 11))
    reprice(client, subscription, dear.id)
    advance(client, clock_id, at(2027, 4, 16))
    reprice(client, subscription, cheap.id)
    # April 11, 20 of 30 days left: the 1500 paid * 20/30 = 1000 back, the new price less
    # 50%, 3000 * 20/30 = 2000. April 16: that charge's 15 of its 20 days back, 1500, and
    # 1500 * 15/30 = 750 (classic: 3000 * 15/30 = 1500 back, the same amounts).
    pending = pending_of(client, customer.id)
    assert [i.amount for i in pending] == [-1000, 2000, -1500, 750]
    named = [{"amount": 0, "discount": discount}] if kind == "flexible" else []
    for proration in pending:
        assert proration.proration_details is not None
        assert proration.proration_details.to_dict()["discount_amounts"] == named
        assert proration.discounts == []
    manual = client.v1.invoice_items.create(
        params={"customer": customer.id, "amount": 100, "currency": "usd"}
    )
    assert manual.proration_details is not None
    assert manual.proration_details.to_dict()["discount_amounts"] == []


def test_an_amount_off_is_in_the_credit_but_leaves_the_charge_gross_in_flexible(
    client: Client, ledger_verified: None
) -> None:
    big, small = monthly_price(client, 3000), monthly_price(client, 1500)
    coupon = client.v1.coupons.create(
        params={"amount_off": 500, "currency": "usd", "duration": "forever"}
    )
    clock_id, customer, subscription = discounted_from_april(client, big.id, coupon.id)
    advance(client, clock_id, at(2027, 4, 11))
    reprice(client, subscription, small.id)
    # The 2500 debited (3000 less 500) * 20/30 = 1666.67 -> 1667 back; an amount off has no
    # share outside an invoice, so the charge is the price's: 1500 * 20/30 = 1000.
    assert [i.amount for i in pending_of(client, customer.id)] == [-1667, 1000]


def test_a_once_coupon_already_used_takes_nothing_off_a_later_charge_in_flexible(
    client: Client, ledger_verified: None
) -> None:
    cheap, dear = monthly_price(client, 3000), monthly_price(client, 6000)
    once = client.v1.coupons.create(params={"percent_off": 50, "duration": "once"})
    clock_id, customer, subscription = discounted_from_april(client, cheap.id, once.id)
    assert client.v1.invoices.retrieve(str(subscription.latest_invoice)).amount_paid == 1500
    advance(client, clock_id, at(2027, 4, 16))
    reprice(client, subscription, dear.id)
    # 15 of April's 30 days left: the 1500 debited * 15/30 = 750 back; the coupon was used
    # on the first invoice, so the charge is the price's, 6000 * 15/30 = 3000.
    assert [i.amount for i in pending_of(client, customer.id)] == [-750, 3000]


@pytest.mark.parametrize("behavior", ["create_prorations", "always_invoice"])
def test_classic_prorations_take_the_discount_the_customer_pays_under(
    client: Client, ledger_verified: None, behavior: str
) -> None:
    """Classic credits "the subscription item's current price, tax, quantity, and the last
    discounts used" (Stripe's billing mode comparison), and a proration's amount reflects
    the discounts affecting it (its prorations guide): the credit and the charge both net
    of the 25% the customer pays under, never the gross price back."""
    seat = monthly_price(client, 3000)
    coupon = percent_coupon(client, 25)
    clock_id, customer, subscription = discounted_from_april(
        client, seat.id, coupon.id, **mode("classic")
    )
    assert client.v1.invoices.retrieve(str(subscription.latest_invoice)).amount_paid == 2250
    advance(client, clock_id, at(2027, 4, 11))
    item_id = only_item(subscription).id
    change(
        client,
        subscription.id,
        items=[{"id": item_id, "quantity": 3}],
        proration_behavior=behavior,
    )
    # 20 of April's 30 days left. The credit: 1 seat, 3000 less 25% = 2250, * 20/30 = 1500;
    # the charge: 3 seats, 9000 less 25% = 6750, * 20/30 = 4500 (gross, as Kassa had it,
    # the customer would get 2000 back and pay 6000: 1000 more than the discount allows).
    if behavior == "create_prorations":
        assert [i.amount for i in pending_of(client, customer.id)] == [-1500, 4500]
        advance(client, clock_id, at(2027, 5, 1) + 2 * HOUR)
        renewal = invoices_of(client, subscription.id)[-1]
        # May: 3 seats less 25%, 6750, and both prorations (not discountable).
        assert renewal.amount_paid == 6750 - 1500 + 4500 == 9750
    else:
        update = invoices_of(client, subscription.id)[-1]
        assert update.billing_reason == "subscription_update"
        assert sorted(line.amount for line in update.lines.data) == [-1500, 4500]
        assert (update.total, update.amount_paid) == (3000, 3000)


def test_classic_takes_an_amount_off_inside_the_credit_and_the_charge(
    client: Client, ledger_verified: None
) -> None:
    """Stripe's classic credit for an item under a 5 off coupon is `-0.5 x (10 price - 5
    coupon)` (its prorations guide): the whole amount off comes off the item's amount, and
    so off the charge for its new price."""
    big, small = monthly_price(client, 3000), monthly_price(client, 1500)
    coupon = client.v1.coupons.create(
        params={"amount_off": 500, "currency": "usd", "duration": "forever"}
    )
    clock_id, customer, subscription = discounted_from_april(
        client, big.id, coupon.id, **mode("classic")
    )
    advance(client, clock_id, at(2027, 4, 11))
    reprice(client, subscription, small.id)
    # 20 of 30 days left: (3000 - 500) * 20/30 = 1666.67 -> 1667 back, and
    # (1500 - 500) * 20/30 = 666.67 -> 667 charged.
    assert [i.amount for i in pending_of(client, customer.id)] == [-1667, 667]


def billed_at_once_as_previewed(
    client: Client, customer_id: str, subscription: stripe.Subscription, **details: Any
) -> list[int]:
    """The line amounts of the invoice an `always_invoice` update bills, checked equal to
    its preview's (the same `proration_date`), to the cent."""
    details = {**details, "proration_behavior": "always_invoice"}
    params: Any = {
        "customer": customer_id,
        "subscription": subscription.id,
        "subscription_details": details,
    }
    preview = client.v1.invoices.create_preview(params=params)
    updated = change(client, subscription.id, **details)
    billed = client.v1.invoices.retrieve(str(updated.latest_invoice))
    assert billed.billing_reason == "subscription_update"
    amounts = sorted(line.amount for line in billed.lines.data)
    assert sorted(line.amount for line in preview.lines.data) == amounts
    assert preview.total == billed.total
    return amounts


def test_classic_credits_net_of_a_once_discount_its_period_used(
    client: Client, ledger_verified: None
) -> None:
    """Classic credits from "the last discounts used" (Stripe's billing mode comparison): a
    `once` coupon the period's invoice used no longer applies to a new invoice, but the
    time it paid for was paid at half price, and is credited so."""
    seat = monthly_price(client, 3000)
    once = client.v1.coupons.create(params={"percent_off": 50, "duration": "once"})
    clock_id, customer, subscription = discounted_from_april(
        client, seat.id, once.id, **mode("classic")
    )
    assert client.v1.invoices.retrieve(str(subscription.latest_invoice)).amount_paid == 1500
    advance(client, clock_id, at(2027, 4, 16))
    items = [{"id": only_item(subscription).id, "quantity": 0}]
    # 15 of April's 30 days left: 3000 less the 50% used, 1500, * 15/30 = 750 back (the
    # gross price would give 1500 back, all the customer paid); no charge for no seats.
    amounts = billed_at_once_as_previewed(
        client, customer.id, subscription, items=items, proration_date=at(2027, 4, 16)
    )
    assert amounts == [-750]


def test_classic_credits_net_of_a_repeating_discount_ended_after_the_renewal_used_it(
    client: Client, ledger_verified: None
) -> None:
    """A `repeating` coupon for one month, added on 16 April, ends on 16 May, after May's
    renewal took it: May's unused time was paid net of it, and classic credits it so; the
    charge for the seats after the change is at the price, the discount ended."""
    seat = monthly_price(client, 3000)
    month = client.v1.coupons.create(
        params={"percent_off": 50, "duration": "repeating", "duration_in_months": 1}
    )
    clock_id, customer = clock_customer(client, at(2027, 4, 1))
    subscription = subscribe(client, customer.id, seat.id, **mode("classic"))
    advance(client, clock_id, at(2027, 4, 16))
    change(client, subscription.id, discounts=[{"coupon": month.id}])
    advance(client, clock_id, at(2027, 5, 1) + 2 * HOUR)
    renewal = invoices_of(client, subscription.id)[-1]
    assert (renewal.billing_reason, renewal.amount_paid) == ("subscription_cycle", 1500)
    advance(client, clock_id, at(2027, 5, 21))
    items = [{"id": only_item(subscription).id, "quantity": 2}]
    # 11 of May's 31 days left. Credit: 3000 less the 50% May used, 1500 * 11/31 =
    # 532.26 -> 532 (the price alone would give 1064.52 -> 1065). Charge: 2 seats, the
    # discount ended on 16 May, 6000 * 11/31 = 2129.03 -> 2129.
    amounts = billed_at_once_as_previewed(
        client, customer.id, subscription, items=items, proration_date=at(2027, 5, 21)
    )
    assert amounts == [-532, 2129]


@pytest.mark.parametrize(("kind", "credit"), [("classic", -250), ("flexible", -417)])
def test_an_amount_off_shared_by_two_items_is_credited_as_stripe_s_example(
    client: Client, ledger_verified: None, kind: str, credit: int
) -> None:
    """Stripe's prorations guide ("Calculation logic for coupons applied to multiple
    subscription items"): a 5 off coupon over a 10 and a 20 item, the 10 one canceled at
    half its period. Classic takes the whole coupon off the item, `-0.5 x (10 price - 5
    coupon) = -2.50`; flexible the share its line got, `-0.5 x (10 price - 1.66) = -4.17`."""
    ten, twenty = monthly_price(client, 1000), monthly_price(client, 2000)
    five_off = client.v1.coupons.create(
        params={"amount_off": 500, "currency": "usd", "duration": "forever"}
    )
    clock_id, customer = clock_customer(client, at(2027, 4, 1))
    subscription = client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": ten.id}, {"price": twenty.id}],
            "discounts": [{"coupon": five_off.id}],
            "billing_mode": {"type": kind},
        }
    )
    first = client.v1.invoices.retrieve(str(subscription.latest_invoice))
    shares = sorted(d.amount for line in first.lines.data for d in line.discount_amounts or [])
    # Kassa spreads the 500 by amount, rounded half up: 166.67 -> 167 and 333 (Stripe's
    # example shows 166 and 334; either way the credit below comes to 417).
    assert (first.total, shares) == (2500, [167, 333])
    advance(client, clock_id, at(2027, 4, 16))
    cheap = next(i for i in subscription["items"].data if i.price.id == ten.id)
    client.v1.subscription_items.delete(
        cheap.id, params={"proration_behavior": "create_prorations"}
    )
    # 15 of 30 days left: classic (1000 - 500) / 2 = 250, flexible (1000 - 167) / 2 =
    # 416.5 -> 417.
    assert [i.amount for i in pending_of(client, customer.id)] == [credit]


def test_a_discount_removed_before_a_change_is_credited_as_debited_only_in_flexible(
    client: Client, ledger_verified: None
) -> None:
    """Flexible credits the debit "regardless of subsequent changes"; classic the
    subscription's current values (Stripe's billing mode comparison), which no longer
    include the discount removed."""
    big, small = monthly_price(client, 3000), monthly_price(client, 1500)
    coupon = percent_coupon(client, 20)
    for kind, credit in (("flexible", -1600), ("classic", -2000)):
        clock_id, customer, subscription = discounted_from_april(
            client, big.id, coupon.id, **mode(kind)
        )
        advance(client, clock_id, at(2027, 4, 11))
        client.v1.subscriptions.delete_discount(subscription.id)
        reprice(client, subscription, small.id)
        # 20 of 30 days left: the 2400 paid * 20/30 = 1600 (flexible), the 3000 price
        # * 20/30 = 2000 (classic); the charge, no discount left: 1500 * 20/30 = 1000.
        assert [i.amount for i in pending_of(client, customer.id)] == [credit, 1000]


def test_a_resumption_paid_later_credits_what_it_debited(
    client: Client, ledger_verified: None
) -> None:
    """`resume_on_payment_success` with a declined card keeps the subscription paused; the
    resumption invoice paid later resumes it, and its line is the debit a later credit
    gives back."""
    price = monthly_price(client, 3000)
    clock_id, customer = clock_customer(client, at(2027, 4, 1))
    subscription = subscribe(client, customer.id, price.id)
    advance(client, clock_id, at(2027, 4, 11))
    client.v1.subscriptions.pause(subscription.id)
    advance(client, clock_id, at(2027, 4, 21))
    declining = client.v1.payment_methods.attach(
        "pm_card_chargeCustomerFail", params={"customer": customer.id}
    )
    client.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": declining.id}}
    )
    waiting = client.v1.subscriptions.resume(
        subscription.id, params={"payment_behavior": "resume_on_payment_success"}
    )
    assert waiting.status == "paused"
    client.v1.invoices.pay(str(waiting.latest_invoice), params={"payment_method": "pm_card_visa"})
    resumed = client.v1.subscriptions.retrieve(subscription.id)
    assert resumed.status == "active"
    advance(client, clock_id, at(2027, 5, 6))
    client.v1.subscriptions.cancel(subscription.id, params={"prorate": True})
    # The resumption billed 3000 for [21 Apr, 21 May); 15 of its 30 days unused on 6 May.
    assert [i.amount for i in pending_of(client, customer.id)] == [-1500]


@pytest.mark.parametrize("kind", ["flexible", "classic"])
def test_a_change_before_an_explicit_anchor_prorates_over_the_whole_month(
    client: Client, ledger_verified: None, kind: str
) -> None:
    """The first part of a period, up to an explicit anchor, is part of a month: the first
    invoice bills that part of the price, and a change inside it prorates over the whole
    month too, not over the part."""
    price = monthly_price(client, 6000)
    clock_id, customer = clock_customer(client, at(2027, 1, 1))
    subscription = subscribe(
        client, customer.id, price.id, billing_cycle_anchor=at(2027, 1, 16), **mode(kind)
    )
    # 15 of the 31 days from 16 December to 16 January: 6000 * 15/31 = 2903.2 -> 2903.
    first = client.v1.invoices.retrieve(str(subscription.latest_invoice))
    assert first.amount_paid == 2903
    advance(client, clock_id, at(2027, 1, 8))
    item = only_item(subscription)
    change(client, subscription.id, items=[{"id": item.id, "quantity": 2}])
    # 8 days left of the 31: the credit is 6000 * 8/31 = 1548.4 (classic), or the 2903
    # debited * 8/15 = 1548.3 (flexible), both -1548; the charge 12000 * 8/31 = 3096.8.
    assert [i.amount for i in pending_of(client, customer.id)] == [-1548, 3097]


def test_a_full_discount_leaves_nothing_to_credit_in_flexible(
    client: Client, ledger_verified: None
) -> None:
    price = monthly_price(client, 3000)
    coupon = percent_coupon(client, 100)
    clock_id, customer, subscription = discounted_from_april(client, price.id, coupon.id)
    advance(client, clock_id, at(2027, 4, 11))
    client.v1.subscriptions.cancel(subscription.id, params={"prorate": True})
    # Nothing was debited, so nothing is credited (classic neither: its 3000 less 100%).
    assert pending_of(client, customer.id) == []


# -- a debit that was a proration ------------------------------------------------------------


class OnJanuary22(NamedTuple):
    """A 5.00 monthly subscription from 1 January 2027 on a clock, now at 22 January, and a
    30.00 monthly price to change it to."""

    cheap: str
    dear: str
    clock_id: str
    customer_id: str
    subscription_id: str
    item_id: str


def on_january_22(client: Client) -> OnJanuary22:
    cheap, dear = monthly_price(client, 500), monthly_price(client, 3000)
    clock_id, customer = clock_customer(client, at(2027, 1, 1))
    subscription = subscribe(client, customer.id, cheap.id)
    advance(client, clock_id, at(2027, 1, 22))
    item_id = only_item(subscription).id
    return OnJanuary22(cheap.id, dear.id, clock_id, customer.id, subscription.id, item_id)


@pytest.mark.parametrize("behavior", ["create_prorations", "always_invoice"])
def test_an_upgrade_then_a_downgrade_credits_the_upgrades_charge_in_flexible(
    client: Client, ledger_verified: None, behavior: str
) -> None:
    on = on_january_22(client)
    change(
        client,
        on.subscription_id,
        items=[{"id": on.item_id, "price": on.dear}],
        proration_behavior=behavior,
    )
    advance(client, on.clock_id, at(2027, 1, 25))
    change(
        client,
        on.subscription_id,
        items=[{"id": on.item_id, "price": on.cheap}],
        proration_behavior=behavior,
    )
    made = client.v1.invoice_items.list(params={"customer": on.customer_id, "limit": 100}).data
    prorations = {(i.period.start, i.amount): i for i in made if i.proration}
    # 10 of January's 31 days: -500 * 10/31 = -161.29 -> -161; +3000 * 10/31 = 967.74 -> 968.
    # 7 days left: the 968 debited for [22 Jan, 1 Feb) * 7/10 = 677.6 -> 678 (classic's
    # 3000 * 7/31 = 677.42 -> 677); the charge 500 * 7/31 = 112.90 -> 113.
    jan_22, jan_25 = at(2027, 1, 22), at(2027, 1, 25)
    assert set(prorations) == {(jan_22, -161), (jan_22, 968), (jan_25, -678), (jan_25, 113)}
    upgrade_charge, credit = prorations[(jan_22, 968)], prorations[(jan_25, -678)]
    details = credit.proration_details
    assert details is not None and details.credited_items is not None
    if behavior == "create_prorations":
        # The upgrade's charge was still pending: the credit names the invoice item.
        assert details.credited_items.type == "invoice_item"
        assert details.credited_items.invoice_item == upgrade_charge.id
    else:
        # Invoiced at once: the credit names its line on the upgrade's invoice.
        assert credited_lines(credit)[0] == upgrade_charge.invoice
        assert credited_lines(credit)[1] == [line_of(upgrade_charge.id)]


def line_of(item_id: str) -> str:
    return "il_" + item_id.removeprefix("ii_")


def line_details(line: stripe.InvoiceLineItem) -> Any:
    """A subscription line's `parent.subscription_item_details`."""
    assert line.parent is not None and line.parent.subscription_item_details is not None
    return line.parent.subscription_item_details


def line_credits(details: Any) -> tuple[str, list[str]] | None:
    """The invoice and lines a credit line's `credited_items` names (None: none)."""
    credited = details.proration_details.credited_items
    return None if credited is None else (credited.invoice, list(credited.invoice_line_items))


def test_a_credit_of_a_pending_debit_names_the_debits_line_on_the_invoice(
    client: Client, ledger_verified: None
) -> None:
    # Stripe's line `credited_items`: "the original debit line_items to which the credit
    # proration applies". The item still names the invoice item that was pending when the
    # credit was made; the credit's line names the line that item became.
    on = on_january_22(client)
    change(client, on.subscription_id, items=[{"id": on.item_id, "quantity": 2}])
    advance(client, on.clock_id, at(2027, 1, 25))
    updated = change(
        client,
        on.subscription_id,
        items=[{"id": on.item_id, "price": on.dear}],
        proration_behavior="always_invoice",
    )
    made = client.v1.invoice_items.list(params={"customer": on.customer_id, "limit": 100}).data
    jan_22 = at(2027, 1, 22)
    debit = next(i for i in made if i.proration and i.period.start == jan_22 and i.amount > 0)
    invoice_id = str(updated.latest_invoice)
    assert debit.invoice == invoice_id
    lines = client.v1.invoices.retrieve(invoice_id).lines.data
    credits = [line for line in lines if line.amount < 0 and line.period.start == at(2027, 1, 25)]
    details = [line_details(line) for line in credits]
    of_debit = [d for d in details if line_credits(d) == (invoice_id, [line_of(debit.id)])]
    assert len(of_debit) == 1
    credit_item = client.v1.invoice_items.retrieve(str(of_debit[0].invoice_item))
    assert credit_item.proration_details is not None
    assert credit_item.proration_details.credited_items is not None
    assert credit_item.proration_details.credited_items.type == "invoice_item"
    assert credit_item.proration_details.credited_items.invoice_item == debit.id


def test_an_upgrade_then_a_downgrade_in_classic_credits_the_price(
    client: Client, ledger_verified: None
) -> None:
    cheap, dear = monthly_price(client, 500), monthly_price(client, 3000)
    clock_id, customer = clock_customer(client, at(2027, 1, 1))
    subscription = subscribe(client, customer.id, cheap.id, **mode("classic"))
    item_id = only_item(subscription).id
    advance(client, clock_id, at(2027, 1, 22))
    change(client, subscription.id, items=[{"id": item_id, "price": dear.id}])
    advance(client, clock_id, at(2027, 1, 25))
    change(client, subscription.id, items=[{"id": item_id, "price": cheap.id}])
    # Classic, as Kassa always had it: 3000 * 7/31 = 677.42 -> 677.
    amounts = [i.amount for i in pending_of(client, customer.id)]
    assert amounts == [-161, 968, -677, 113]


# -- quantity changes ------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "credit"), [("flexible", -1000), ("classic", -1667)])
def test_a_quantity_raised_without_prorations_then_lowered_credits_the_seats_paid_for(
    client: Client, ledger_verified: None, kind: str, credit: int
) -> None:
    seat = monthly_price(client, 1000)
    clock_id, customer = clock_customer(client, at(2027, 4, 1))
    create: Any = {"customer": customer.id, "items": [{"price": seat.id, "quantity": 3}]}
    create.update(mode(kind))
    subscription = client.v1.subscriptions.create(params=create)
    item_id = only_item(subscription).id
    advance(client, clock_id, at(2027, 4, 11))
    client.v1.subscription_items.update(
        item_id, params={"quantity": 5, "proration_behavior": "none"}
    )
    advance(client, clock_id, at(2027, 4, 21))
    client.v1.subscription_items.update(item_id, params={"quantity": 1})
    # 10 of 30 days unused. Flexible credits the 3 seats paid for, 3000 * 10/30 = 1000;
    # classic the 5 seats held, 5000 * 10/30 = 1666.67 -> 1667; the charge 1000 * 10/30 -> 333.
    got, charge = pending_of(client, customer.id)
    assert (got.amount, charge.amount) == (credit, 333)


def test_a_quantity_raised_in_free_time_before_the_anchor_is_credited_on_cancel_in_classic(
    client: Client, ledger_verified: None
) -> None:
    """Created with an anchor and `proration_behavior=none`, the time before the anchor is
    free, and a cancellation inside it credits nothing. A quantity raised there with
    prorations is charged for the rest of that time: classic credits the old seat as if
    paid and charges the three (credits come from "current price, tax, quantity", even for
    time "the customer never paid": Stripe's billing mode comparison and prorations guide),
    so a later cancellation credits the three seats' unused time, as Stripe's classic
    credits any, rather than nothing."""
    seat = monthly_price(client, 3100)
    clock_id, customer = clock_customer(client, at(2027, 1, 1))
    subscription = subscribe(
        client,
        customer.id,
        seat.id,
        billing_cycle_anchor=at(2027, 1, 16),
        proration_behavior="none",
        **mode("classic"),
    )
    assert client.v1.invoices.retrieve(str(subscription.latest_invoice)).total == 0
    advance(client, clock_id, at(2027, 1, 8))
    change(client, subscription.id, items=[{"id": only_item(subscription).id, "quantity": 3}])
    # 8 of the 31 days from 16 December to 16 January left: the seat held, 3100 * 8/31 =
    # 800 back as if paid, and the three seats charged, 9300 * 8/31 = 2400.
    assert [i.amount for i in pending_of(client, customer.id)] == [-800, 2400]
    advance(client, clock_id, at(2027, 1, 10))
    client.v1.subscriptions.cancel(subscription.id, params={"prorate": True, "invoice_now": True})
    # 6 days left of the three seats charged for: 9300 * 6/31 = 1800 back.
    final = invoices_of(client, subscription.id)[-1]
    assert sorted(line.amount for line in final.lines.data) == [-1800, -800, 2400]
    assert final.total == -800 + 2400 - 1800 == -200


def test_a_quantity_raised_then_lowered_credits_the_raise_in_flexible(
    client: Client, ledger_verified: None
) -> None:
    seat = monthly_price(client, 1000)
    clock_id, customer = clock_customer(client, at(2027, 1, 1))
    subscription = subscribe(client, customer.id, seat.id)
    item_id = only_item(subscription).id
    advance(client, clock_id, at(2027, 1, 22))
    client.v1.subscription_items.update(item_id, params={"quantity": 3})
    advance(client, clock_id, at(2027, 1, 25))
    client.v1.subscription_items.update(item_id, params={"quantity": 1})
    # 1 -> 3 seats with 10 of 31 days left: -1000 * 10/31 -> -323, +3000 * 10/31 -> 968;
    # 3 -> 1 with 7 left: -968 * 7/10 = -677.6 -> -678 (classic: -677), +1000 * 7/31 -> 226.
    amounts = [i.amount for i in pending_of(client, customer.id)]
    assert amounts == [-323, 968, -678, 226]
    advance(client, clock_id, at(2027, 2, 1) + 2 * HOUR)
    renewal = invoices_of(client, subscription.id)[-1]
    assert renewal.amount_paid == 1000 - 323 + 968 - 678 + 226


# -- billing_mode on create, and migrate -----------------------------------------------------


def test_billing_mode_is_shown_as_stripe_shows_it(client: Client) -> None:
    price = monthly_price(client, 1000)
    _, customer = clock_customer(client, at(2027, 4, 1))
    flexible = subscribe(client, customer.id, price.id)
    assert flexible.billing_mode.type == "flexible"
    assert flexible.billing_mode.flexible is not None
    assert flexible.billing_mode.flexible.proration_discounts == "included"
    assert flexible.billing_mode.updated_at == at(2027, 4, 1)
    classic = subscribe(client, customer.id, price.id, **mode("classic"))
    assert classic.billing_mode.type == "classic"
    assert classic.billing_mode.flexible is None
    assert classic.billing_mode.updated_at == at(2027, 4, 1)
    assert client.v1.subscriptions.retrieve(classic.id).billing_mode.type == "classic"


def test_migrating_a_classic_subscription_makes_its_credits_flexible(
    client: Client, ledger_verified: None
) -> None:
    big, small = monthly_price(client, 3000), monthly_price(client, 1500)
    coupon = percent_coupon(client, 20)
    clock_id, customer, subscription = discounted_from_april(
        client, big.id, coupon.id, **mode("classic")
    )
    advance(client, clock_id, at(2027, 4, 5))
    migrated = client.v1.subscriptions.migrate(
        subscription.id, params={"billing_mode": {"type": "flexible"}}
    )
    assert migrated.billing_mode.type == "flexible"
    assert migrated.billing_mode.updated_at == at(2027, 4, 5)
    assert migrated.billing_mode.flexible is not None
    assert "customer.subscription.updated" in events_of(client, subscription.id)
    advance(client, clock_id, at(2027, 4, 11))
    reprice(client, subscription, small.id)
    # The 2400 debited at creation, in classic, is what the flexible credit undoes; the
    # charge is flexible's too: 1500 less 20%, * 20/30 = 800.
    assert [i.amount for i in pending_of(client, customer.id)] == [-1600, 800]
    # Once flexible, always: migrating again is refused, naming the mode.
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.subscriptions.migrate(
            subscription.id, params={"billing_mode": {"type": "flexible"}}
        )
    assert again.value.param == "billing_mode[type]"
    assert again.value.http_status == 400


def test_a_preview_shows_the_credit_of_the_billing_mode_it_is_given(
    client: Client, ledger_verified: None
) -> None:
    big, small = monthly_price(client, 3000), monthly_price(client, 1500)
    coupon = percent_coupon(client, 20)
    clock_id, customer, subscription = discounted_from_april(
        client, big.id, coupon.id, **mode("classic")
    )
    advance(client, clock_id, at(2027, 4, 11))
    # Without the discount the subscription's values no longer say what was paid.
    client.v1.subscriptions.delete_discount(subscription.id)
    details: Any = {
        "items": [{"id": only_item(subscription).id, "price": small.id}],
        "proration_date": at(2027, 4, 11),
    }

    def preview_credit(**extra: Any) -> int:
        params: Any = {"subscription": subscription.id, "subscription_details": details | extra}
        preview = client.v1.invoices.create_preview(params=params)
        return min(line.amount for line in preview.lines.data)

    # Classic credits the price, no discount left (-2000); previewed as flexible, the 2400
    # debited (-1600).
    assert preview_credit() == -2000
    assert preview_credit(billing_mode={"type": "flexible"}) == -1600
    assert preview_credit(billing_mode={"type": "classic"}) == -2000
    # Nothing stored: the subscription is still classic, with nothing pending.
    assert client.v1.subscriptions.retrieve(subscription.id).billing_mode.type == "classic"
    assert pending_of(client, customer.id) == []
    migrated = client.v1.subscriptions.migrate(
        subscription.id, params={"billing_mode": {"type": "flexible"}}
    )
    assert migrated.billing_mode.type == "flexible"
    with pytest.raises(stripe.InvalidRequestError) as back:
        preview_credit(billing_mode={"type": "classic"})
    assert back.value.param == "subscription_details[billing_mode][type]"


def test_classic_billing_mode_refuses_items_of_different_intervals(client: Client) -> None:
    monthly = monthly_price(client, 1000)
    yearly = price_of(client, 12_000, "year")
    _, customer = clock_customer(client, at(2027, 4, 1))
    both: Any = {
        "customer": customer.id,
        "items": [{"price": monthly.id}, {"price": yearly.id}],
        **mode("classic"),
    }
    with pytest.raises(stripe.InvalidRequestError) as on_create:
        client.v1.subscriptions.create(params=both)
    assert on_create.value.param == "items[1][price]"
    classic = subscribe(client, customer.id, monthly.id, **mode("classic"))
    with pytest.raises(stripe.InvalidRequestError) as on_update:
        change(client, classic.id, items=[{"price": yearly.id}])
    assert on_update.value.param == "items"
    # Flexible (the default) takes them.
    flexible = subscribe(client, customer.id, monthly.id)
    assert len(change(client, flexible.id, items=[{"price": yearly.id}])["items"].data) == 2


def test_billing_mode_refusals_name_the_parameter(client: Client) -> None:
    price = monthly_price(client, 1000)
    _, customer = clock_customer(client, at(2027, 4, 1))
    refused: list[tuple[dict[str, Any], str]] = [
        ({"billing_mode": {"type": "hybrid"}}, "billing_mode[type]"),
        (
            {"billing_mode": {"type": "classic", "flexible": {"proration_discounts": "included"}}},
            "billing_mode[flexible]",
        ),
        (
            {"billing_mode": {"type": "flexible", "flexible": {"proration_discounts": "itemized"}}},
            "billing_mode[flexible][proration_discounts]",
        ),
    ]
    for params, param in refused:
        with pytest.raises(stripe.InvalidRequestError) as error:
            subscribe(client, customer.id, price.id, **params)
        assert error.value.param == param
    classic = subscribe(client, customer.id, price.id, **mode("classic"))
    for params, param in [
        ({"billing_mode": {"type": "classic"}}, "billing_mode[type]"),
        ({}, "billing_mode"),
    ]:
        with pytest.raises(stripe.InvalidRequestError) as error:
            client.v1.subscriptions.migrate(classic.id, params=params)  # type: ignore[arg-type]
        assert error.value.param == param
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.subscriptions.migrate(
            "sub_missing", params={"billing_mode": {"type": "flexible"}}
        )
    assert missing.value.http_status == 404
    # Pausing is for flexible subscriptions only.
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.pause(classic.id)
    assert client.v1.subscriptions.retrieve(classic.id).billing_mode.type == "classic"
    assert len(invoices_of(client, classic.id)) == 1
