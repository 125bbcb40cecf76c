"""When a subscription's `once` coupon is used up, whichever invoice bills it first: through
the SDK on a real `kassa serve` (SQLite and PostgreSQL) driven by test clocks, the ledger
whole after each. Not only the create and renewal invoices: a billing cycle reset's, an
`always_invoice` update's and a final invoice take the subscription's discounts too, so a
`once` coupon the create invoice used is not taken again by them, and one first billed by
them is not taken again by the next renewal. The preview shows what is then billed.

28.00 a month from January 31, 2027 (periods end on the 28th in February): the time from
February 5 to February 28 is 23 of February's 28 days.
"""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from kassa.clock import DAY_SECONDS
from tests.test_subscription_changes import HOUR, change, declining
from tests.test_subscription_pending_updates import good_card
from tests.test_subscription_terms import price_of, utc
from tests.test_subscriptions import (
    Client,
    advance,
    clock_customer,
    invoices_of,
    subscribe,
)

FEB_5 = utc(2027, 2, 5)
FEB_14 = utc(2027, 2, 14)
MAR_5 = utc(2027, 3, 5)


def billed(invoice: stripe.Invoice) -> tuple[str | None, int, int, list[int]]:
    """(billing reason, subtotal (net of the items' own discounts, as Stripe's), total, amounts
    each discount took off)."""
    taken = [int(d.amount) for d in invoice.total_discount_amounts or []]
    return invoice.billing_reason, invoice.subtotal, invoice.total, taken


def half_off_once(client: Client) -> stripe.Coupon:
    return client.v1.coupons.create(params={"percent_off": 50, "duration": "once"})


def preview(client: Client, subscription_id: str, **details: Any) -> stripe.Invoice:
    params: Any = {"subscription": subscription_id}
    if details:
        params["subscription_details"] = details
    return client.v1.invoices.create_preview(params=params)


def test_a_reset_does_not_take_a_once_coupon_the_first_invoice_used(
    client: Client, ledger_verified: None
) -> None:
    """Half off once, used by the create invoice (1400). The reset on February 5 credits the
    paid 1400's 23/28 (-1150) and bills the new period whole (2800): 1650, nothing off; the
    previewed reset says the same. The renewal on March 5 bills 2800."""
    coupon = half_off_once(client)
    price = price_of(client, 2800)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id, discounts=[{"coupon": coupon.id}])
    advance(client, clock_id, FEB_5)
    previewed = preview(
        client, subscription.id, billing_cycle_anchor={"type": "now"}, proration_date=FEB_5
    )
    assert (previewed.subtotal, previewed.total) == (1650, 1650)
    assert [int(d.amount) for d in previewed.total_discount_amounts or []] == []
    change(client, subscription.id, billing_cycle_anchor={"type": "now"}, proration_date=FEB_5)
    advance(client, clock_id, MAR_5 + DAY_SECONDS)
    assert [billed(i) for i in invoices_of(client, subscription.id)] == [
        ("subscription_create", 2800, 1400, [1400]),
        ("subscription_update", 1650, 1650, []),
        ("subscription_cycle", 2800, 2800, []),
    ]


def test_a_once_coupon_added_with_a_reset_is_used_by_the_reset_invoice(
    client: Client, ledger_verified: None
) -> None:
    """No coupon on create (2800). Half off once added by the reset on February 5: its
    invoice credits -2300, bills 2800 and takes 1400 off (-900). The coupon is then used:
    the previewed renewal and the renewal of March 5 bill 2800 with nothing off."""
    coupon = half_off_once(client)
    price = price_of(client, 2800)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    advance(client, clock_id, FEB_5)
    change(
        client,
        subscription.id,
        discounts=[{"coupon": coupon.id}],
        billing_cycle_anchor={"type": "now"},
        proration_date=FEB_5,
    )
    renewal = preview(client, subscription.id)
    assert (renewal.period_end, renewal.total) == (MAR_5, 2800)
    assert [int(d.amount) for d in renewal.total_discount_amounts or []] == []
    advance(client, clock_id, MAR_5 + DAY_SECONDS)
    assert [billed(i) for i in invoices_of(client, subscription.id)] == [
        ("subscription_create", 2800, 2800, []),
        ("subscription_update", 500, -900, [1400]),
        ("subscription_cycle", 2800, 2800, []),
    ]


def test_a_final_invoice_does_not_take_a_used_once_coupon(
    client: Client, ledger_verified: None
) -> None:
    """500 off once, used by the create invoice (2300). Cut on February 5 to end on February
    14: the 14 days after it credit 14/28 of the paid 2300 (-1150), left pending; a 900 item
    is given to the subscription. The final invoice of February 14 bills both: -250, nothing
    off, as its preview said."""
    coupon = client.v1.coupons.create(
        params={"amount_off": 500, "currency": "usd", "duration": "once"}
    )
    price = price_of(client, 2800)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id, discounts=[{"coupon": coupon.id}])
    advance(client, clock_id, FEB_5)
    change(client, subscription.id, cancel_at=FEB_14, proration_date=FEB_5)
    client.v1.invoice_items.create(
        params={
            "customer": customer.id,
            "subscription": subscription.id,
            "amount": 900,
            "currency": "usd",
        }
    )
    final = preview(client, subscription.id)
    assert (final.subtotal, final.total) == (-250, -250)
    assert [int(d.amount) for d in final.total_discount_amounts or []] == []
    advance(client, clock_id, FEB_14 + DAY_SECONDS)
    assert client.v1.subscriptions.retrieve(subscription.id).status == "canceled"
    assert [billed(i) for i in invoices_of(client, subscription.id)] == [
        ("subscription_create", 2800, 2300, [500]),
        ("subscription_cycle", -250, -250, []),
    ]


def test_an_always_invoice_update_does_not_take_a_used_once_coupon(
    client: Client, ledger_verified: None
) -> None:
    """Half off once, used by the create invoice (1400). Two of the item from February 5,
    invoiced at once: the paid 1400's 23/28 credited (-1150) and two for 23/28 of a period
    billed (4600): 3450, nothing off, as previewed."""
    coupon = half_off_once(client)
    price = price_of(client, 2800)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id, discounts=[{"coupon": coupon.id}])
    advance(client, clock_id, FEB_5)
    (item,) = subscription["items"].data
    details: Any = {
        "items": [{"id": item.id, "quantity": 2}],
        "proration_behavior": "always_invoice",
        "proration_date": FEB_5,
    }
    previewed = preview(client, subscription.id, **details)
    assert (previewed.subtotal, previewed.total) == (3450, 3450)
    change(client, subscription.id, **details)
    assert [billed(i) for i in invoices_of(client, subscription.id)] == [
        ("subscription_create", 2800, 1400, [1400]),
        ("subscription_update", 3450, 3450, []),
    ]


def test_a_credit_only_always_invoice_update_leaves_a_once_coupon_unused(
    client: Client, ledger_verified: None
) -> None:
    """Items A (28.00) and B (10.00). Half off once added on February 5, not prorated: no
    invoice has used it. B removed on February 14, invoiced at once: 14/28 of B's paid 1000
    credited (-500), the only line; a credit takes no discount, so the coupon took nothing
    off and is not used (Stripe: a `once` coupon applies to one invoice's charges; this one
    charged nothing), as the preview of the renewal says: February 28 bills A (2800) with
    its half off (1400)."""
    coupon = half_off_once(client)
    a, b = price_of(client, 2800), price_of(client, 1000)
    clock_id, customer = clock_customer(client)
    subscription = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": a.id}, {"price": b.id}]}
    )
    item_b = subscription["items"].data[1]
    advance(client, clock_id, FEB_5)
    with_coupon = change(
        client, subscription.id, discounts=[{"coupon": coupon.id}], proration_behavior="none"
    )
    advance(client, clock_id, FEB_14)
    credited = change(
        client,
        subscription.id,
        items=[{"id": item_b.id, "deleted": True}],
        proration_behavior="always_invoice",
        proration_date=FEB_14,
    )
    assert credited.discounts == with_coupon.discounts
    renewal = preview(client, subscription.id)
    assert (renewal.subtotal, renewal.total) == (2800, 1400)
    advance(client, clock_id, utc(2027, 3, 1))
    invoices = invoices_of(client, subscription.id)
    assert [billed(i) for i in invoices] == [
        ("subscription_create", 3800, 3800, []),
        ("subscription_update", -500, -500, []),
        ("subscription_cycle", 2800, 1400, [1400]),
    ]
    assert [line.amount for line in invoices[1].lines.data] == [-500]


def test_a_reset_after_a_repeating_coupon_ended_takes_nothing_off(
    client: Client, ledger_verified: None
) -> None:
    """Half off for one month, added on February 1 (it ends on March 1): the renewal of
    February 28 takes it (1400, for February 28 to March 31). The reset on March 5, after
    its end, credits the paid 1400's 26/31 (-1174.19, -1174) and bills the new period whole
    (2800): 1626, nothing off."""
    coupon = client.v1.coupons.create(
        params={"percent_off": 50, "duration": "repeating", "duration_in_months": 1}
    )
    price = price_of(client, 2800)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    advance(client, clock_id, utc(2027, 2, 1))
    change(client, subscription.id, discounts=[{"coupon": coupon.id}])
    advance(client, clock_id, MAR_5)
    change(client, subscription.id, billing_cycle_anchor={"type": "now"}, proration_date=MAR_5)
    assert [billed(i) for i in invoices_of(client, subscription.id)] == [
        ("subscription_create", 2800, 2800, []),
        ("subscription_cycle", 2800, 1400, [1400]),
        ("subscription_update", 1626, 1626, []),
    ]


def test_an_items_once_coupon_is_not_used_by_an_invoice_without_its_line(
    client: Client, ledger_verified: None
) -> None:
    """Items A (28.00) and B (10.00). Half off once given to B on February 5, not prorated.
    Two of A from February 14, invoiced at once: that invoice has only A's lines, so B's
    coupon takes nothing off it and is not used. The renewal of February 28 bills two of A
    (5600) and B (1000) with B's half off (-500): 6100."""
    coupon = half_off_once(client)
    a, b = price_of(client, 2800), price_of(client, 1000)
    clock_id, customer = clock_customer(client)
    subscription = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": a.id}, {"price": b.id}]}
    )
    item_a, item_b = subscription["items"].data
    advance(client, clock_id, FEB_5)
    change(
        client,
        subscription.id,
        items=[{"id": item_b.id, "discounts": [{"coupon": coupon.id}]}],
        proration_behavior="none",
    )
    advance(client, clock_id, FEB_14)
    change(
        client,
        subscription.id,
        items=[{"id": item_a.id, "quantity": 2}],
        proration_behavior="always_invoice",
        proration_date=FEB_14,
    )
    advance(client, clock_id, utc(2027, 3, 1))
    invoices = invoices_of(client, subscription.id)
    assert [billed(i) for i in invoices] == [
        ("subscription_create", 3800, 3800, []),
        ("subscription_update", 1400, 1400, []),
        ("subscription_cycle", 6100, 6100, [500]),
    ]


def test_an_items_once_coupon_waits_for_its_own_renewal_in_a_mixed_interval_subscription(
    client: Client, ledger_verified: None
) -> None:
    """15.00 a month (A) and 100.00 a quarter (B) from January 1. Half off once given to B
    on January 16, not prorated. The monthly renewals of February 1 and March 1 bill only
    A (1500, nothing off) and leave it; the renewal of April 1 bills both and takes half of
    B's 10000 off: 6500."""
    coupon = half_off_once(client)
    monthly, quarterly = price_of(client, 1500), price_of(client, 10_000, "month", 3)
    clock_id, customer = clock_customer(client, utc(2027, 1, 1))
    subscription = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": monthly.id}, {"price": quarterly.id}]}
    )
    item_b = subscription["items"].data[1]
    advance(client, clock_id, utc(2027, 1, 16))
    change(
        client,
        subscription.id,
        items=[{"id": item_b.id, "discounts": [{"coupon": coupon.id}]}],
        proration_behavior="none",
    )
    advance(client, clock_id, utc(2027, 4, 1) + DAY_SECONDS)
    assert [billed(i) for i in invoices_of(client, subscription.id)] == [
        ("subscription_create", 11_500, 11_500, []),
        ("subscription_cycle", 1500, 1500, []),
        ("subscription_cycle", 1500, 1500, []),
        ("subscription_cycle", 6500, 6500, [5000]),
    ]


def test_a_once_coupon_in_an_always_invoice_proration_is_used_by_its_invoice(
    client: Client, ledger_verified: None
) -> None:
    """No coupon on create (2800). On February 5 half off once is added and the item doubled,
    invoiced at once: the paid 2800's 23/28 credited (-2300) and two for 23/28 of a period
    charged with the coupon's half inside the charge (2300): the invoice nets to 0. The
    coupon took its half off there, so it is used: the previewed renewal and the renewal of
    February 28 bill two of the item (5600) with nothing off."""
    coupon = half_off_once(client)
    price = price_of(client, 2800)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    advance(client, clock_id, FEB_5)
    (item,) = subscription["items"].data
    change(
        client,
        subscription.id,
        discounts=[{"coupon": coupon.id}],
        items=[{"id": item.id, "quantity": 2}],
        proration_behavior="always_invoice",
        proration_date=FEB_5,
    )
    renewal = preview(client, subscription.id)
    assert (renewal.subtotal, renewal.total) == (5600, 5600)
    advance(client, clock_id, MAR_5)
    invoices = invoices_of(client, subscription.id)
    assert [billed(i) for i in invoices] == [
        ("subscription_create", 2800, 2800, []),
        ("subscription_update", 0, 0, []),
        ("subscription_cycle", 5600, 5600, []),
    ]
    assert sorted(line.amount for line in invoices[1].lines.data) == [-2300, 2300]


def test_a_used_once_discount_reattached_stays_used(client: Client, ledger_verified: None) -> None:
    """Half off once, used by the create invoice (1400). Removed on February 5 and put back
    the same day by its id (`discounts[][discount]`): it is the same discount, used, so the
    previewed renewal and the renewal of February 28 bill 2800 with nothing off."""
    coupon = half_off_once(client)
    price = price_of(client, 2800)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id, discounts=[{"coupon": coupon.id}])
    (discount_id,) = subscription.discounts
    advance(client, clock_id, FEB_5)
    change(client, subscription.id, discounts="")
    reattached = change(client, subscription.id, discounts=[{"discount": discount_id}])
    assert reattached.discounts == [discount_id]
    renewal = preview(client, subscription.id)
    assert (renewal.subtotal, renewal.total) == (2800, 2800)
    advance(client, clock_id, MAR_5)
    assert [billed(i) for i in invoices_of(client, subscription.id)] == [
        ("subscription_create", 2800, 1400, [1400]),
        ("subscription_cycle", 2800, 2800, []),
    ]


def test_a_once_coupon_on_a_reset_invoice_below_zero_is_used(
    client: Client, ledger_verified: None
) -> None:
    """Two of the item (5600) from January 31. On February 5 the cycle is reset to one of it
    with half off once added: the paid 5600's 23/28 credited (-4600) and the new period
    billed (2800) with 1400 off: a subtotal of -1800. The coupon took 1400 off that invoice,
    so it is used: the renewal of March 5 bills 2800 with nothing off."""
    coupon = half_off_once(client)
    price = price_of(client, 2800)
    clock_id, customer = clock_customer(client)
    subscription = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id, "quantity": 2}]}
    )
    (item,) = subscription["items"].data
    advance(client, clock_id, FEB_5)
    change(
        client,
        subscription.id,
        discounts=[{"coupon": coupon.id}],
        items=[{"id": item.id, "quantity": 1}],
        billing_cycle_anchor={"type": "now"},
        proration_date=FEB_5,
    )
    advance(client, clock_id, MAR_5 + DAY_SECONDS)
    assert [billed(i) for i in invoices_of(client, subscription.id)] == [
        ("subscription_create", 5600, 5600, []),
        ("subscription_update", -1800, -3200, [1400]),
        ("subscription_cycle", 2800, 2800, []),
    ]


def _held_tripling(
    client: Client, coupon: stripe.Coupon
) -> tuple[str, stripe.Customer, stripe.Subscription, str]:
    """28.00 a month from February 1; `coupon` added on February 5, nothing prorated; its
    charges declined from then. On February 8 three of the item, invoiced at once with
    `pending_if_incomplete`: 21/28 of the paid 2800 credited (-2100) and three for 21/28 of
    a period charged with the coupon's half inside (3150): 1050, declined, the change
    held. (clock, customer, the held subscription, the coupon's discount.)"""
    price = price_of(client, 2800)
    clock_id, customer = clock_customer(client, utc(2027, 2, 1))
    subscription = subscribe(client, customer.id, price.id)
    (item,) = subscription["items"].data
    advance(client, clock_id, FEB_5)
    with_coupon = change(
        client, subscription.id, discounts=[{"coupon": coupon.id}], proration_behavior="none"
    )
    discount_id = str(with_coupon.discounts[0])
    held = _tripled_on_february_8(client, clock_id, customer.id, subscription.id, item.id)
    return clock_id, customer, held, discount_id


def _tripled_on_february_8(
    client: Client, clock_id: str, customer_id: str, subscription_id: str, item_id: str
) -> stripe.Subscription:
    """Its charges declined from now, three of the item on February 8, invoiced at once
    with `pending_if_incomplete`: the change held (the subscription returned)."""
    declining(client, customer_id, subscription_id)
    advance(client, clock_id, utc(2027, 2, 8))
    held = change(
        client,
        subscription_id,
        items=[{"id": item_id, "quantity": 3}],
        proration_behavior="always_invoice",
        payment_behavior="pending_if_incomplete",
    )
    assert held.pending_update is not None
    return held


@pytest.mark.parametrize("while_held", [False, True], ids=["after", "while_held"])
def test_a_once_coupon_used_only_by_a_discarded_change_is_unused_when_put_back(
    client: Client, ledger_verified: None, while_held: bool
) -> None:
    """Half off once inside a held change's charge (`_held_tripling`), removed and put back
    by its id, once the change is discarded or while it is held. The change expires 23
    hours after it was made, its invoice voided: the change never happened, nor did the
    coupon's use by that invoice, and the renewal of March 1 takes its half."""
    clock_id, customer, held, discount_id = _held_tripling(client, half_off_once(client))
    if not while_held:
        advance(client, clock_id, utc(2027, 2, 8) + 23 * HOUR)
    change(client, held.id, discounts="")
    change(client, held.id, discounts=[{"discount": discount_id}])
    advance(client, clock_id, utc(2027, 2, 10))
    assert client.v1.subscriptions.retrieve(held.id).pending_update is None
    card = good_card(client, customer.id)
    change(client, held.id, default_payment_method=card.id)
    renewal = preview(client, held.id)
    assert (renewal.subtotal, renewal.total) == (2800, 1400)
    advance(client, clock_id, utc(2027, 3, 1) + DAY_SECONDS)
    invoices = invoices_of(client, held.id)
    assert [(billed(i), i.status) for i in invoices] == [
        (("subscription_create", 2800, 2800, []), "paid"),
        (("subscription_update", 1050, 1050, []), "void"),
        (("subscription_cycle", 2800, 1400, [1400]), "paid"),
    ]


def test_a_once_coupon_added_while_a_change_is_held_is_used_once(
    client: Client, ledger_verified: None
) -> None:
    """Half off once inside a held change's charge (`_held_tripling`); while it is held, 10%
    off once is added next to it. The held invoice paid with a good card applies the change
    (the half used by it): the renewal of March 1 bills three (8400) with 10% off (840), and
    the 10% is then used: April's bills 8400. (Applying the change put back the terms of
    the subscription's discounts as they were when it was held: the 10% had none, and took
    its 840 off every renewal.)"""
    tenth = client.v1.coupons.create(params={"percent_off": 10, "duration": "once"})
    clock_id, customer, held, discount_id = _held_tripling(client, half_off_once(client))
    change(
        client,
        held.id,
        discounts=[{"discount": discount_id}, {"coupon": tenth.id}],
        proration_behavior="none",
    )
    card = good_card(client, customer.id)
    client.v1.invoices.pay(str(held.latest_invoice), params={"payment_method": card.id})
    change(client, held.id, default_payment_method=card.id)
    assert client.v1.subscriptions.retrieve(held.id)["items"].data[0].quantity == 3
    advance(client, clock_id, utc(2027, 4, 1) + DAY_SECONDS)
    invoices = invoices_of(client, held.id)
    assert [(billed(i), i.status) for i in invoices] == [
        (("subscription_create", 2800, 2800, []), "paid"),
        (("subscription_update", 1050, 1050, []), "paid"),
        (("subscription_cycle", 8400, 7560, [840]), "paid"),
        (("subscription_cycle", 8400, 8400, []), "paid"),
    ]


def test_a_once_coupon_is_not_used_by_a_charge_given_back_at_its_credit(
    client: Client, ledger_verified: None
) -> None:
    """Cut on February 5 to end on February 14: the 14 days after it credited (-1400),
    pending. Half off once added on February 6, nothing prorated. On February 7 the end is
    cleared, invoiced at once: the time given back is charged at what was credited for it
    (1400), the coupon nothing inside it: the invoice nets to 0 and leaves the coupon
    unused, so the renewal of February 28 takes its half (1400)."""
    coupon = half_off_once(client)
    price = price_of(client, 2800)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    advance(client, clock_id, FEB_5)
    change(client, subscription.id, cancel_at=FEB_14)
    advance(client, clock_id, utc(2027, 2, 6))
    change(client, subscription.id, discounts=[{"coupon": coupon.id}], proration_behavior="none")
    advance(client, clock_id, utc(2027, 2, 7))
    change(client, subscription.id, cancel_at="", proration_behavior="always_invoice")
    renewal = preview(client, subscription.id)
    assert (renewal.subtotal, renewal.total) == (2800, 1400)
    advance(client, clock_id, utc(2027, 3, 1))
    invoices = invoices_of(client, subscription.id)
    assert [billed(i) for i in invoices] == [
        ("subscription_create", 2800, 2800, []),
        ("subscription_update", 0, 0, []),
        ("subscription_cycle", 2800, 1400, [1400]),
    ]
    assert sorted(line.amount for line in invoices[1].lines.data) == [-1400, 1400]


def test_a_once_coupon_inside_a_pending_charge_is_used_though_removed_before_its_invoice(
    client: Client, ledger_verified: None
) -> None:
    """Half off once added on February 5, nothing prorated, then the item doubled with
    prorations left pending: -2300 for the paid one and 2300 for two, the half inside. The
    coupon is removed; the renewal of February 28 bills 5600 and the pending pair, so the
    coupon's half was taken by it. Put back by its id, the coupon is used: the renewal of
    March 31 bills 5600 with nothing off."""
    coupon = half_off_once(client)
    price = price_of(client, 2800)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    (item,) = subscription["items"].data
    advance(client, clock_id, FEB_5)
    with_coupon = change(
        client, subscription.id, discounts=[{"coupon": coupon.id}], proration_behavior="none"
    )
    (discount_id,) = with_coupon.discounts
    change(client, subscription.id, items=[{"id": item.id, "quantity": 2}])
    change(client, subscription.id, discounts="")
    advance(client, clock_id, utc(2027, 3, 1))
    change(client, subscription.id, discounts=[{"discount": discount_id}])
    renewal = preview(client, subscription.id)
    assert (renewal.subtotal, renewal.total) == (5600, 5600)
    advance(client, clock_id, utc(2027, 4, 1))
    invoices = invoices_of(client, subscription.id)
    assert [billed(i) for i in invoices] == [
        ("subscription_create", 2800, 2800, []),
        ("subscription_cycle", 5600, 5600, []),
        ("subscription_cycle", 5600, 5600, []),
    ]
    assert sorted(line.amount for line in invoices[1].lines.data) == [-2300, 2300, 5600]


def test_a_discount_added_while_a_change_is_held_stays_when_its_invoice_is_paid(
    client: Client, ledger_verified: None
) -> None:
    """28.00 a month from February 1 with half off once, used by the create invoice (1400).
    On February 8, declined, three of the item invoiced at once with `pending_if_incomplete`:
    21/28 of the paid 1400 credited (-1050) and three for 21/28 of a period charged (6300):
    5250, the change held. Its invoice dropped the used half from the discounts it saw. While
    it is held, 10% off forever replaces the half (a `discounts` update, which a pending
    update cannot carry, so it applies at once and leaves the change held). The held invoice
    paid, the change applies its items only: the 10% stays (before the fix the discounts
    the held invoice saw, none, were set again, the 10% lost), and the renewal of March 1
    bills three (8400) with 840 off: 7560."""
    tenth = client.v1.coupons.create(params={"percent_off": 10, "duration": "forever"})
    price = price_of(client, 2800)
    clock_id, customer = clock_customer(client, utc(2027, 2, 1))
    subscription = subscribe(
        client, customer.id, price.id, discounts=[{"coupon": half_off_once(client).id}]
    )
    (item,) = subscription["items"].data
    held = _tripled_on_february_8(client, clock_id, customer.id, subscription.id, item.id)
    with_tenth = change(client, held.id, discounts=[{"coupon": tenth.id}])
    assert with_tenth.pending_update is not None
    card = good_card(client, customer.id)
    client.v1.invoices.pay(str(held.latest_invoice), params={"payment_method": card.id})
    applied = change(client, held.id, default_payment_method=card.id)
    assert (applied.pending_update, applied["items"].data[0].quantity) == (None, 3)
    assert applied.discounts == with_tenth.discounts
    advance(client, clock_id, utc(2027, 3, 1) + DAY_SECONDS)
    assert [(billed(i), i.status) for i in invoices_of(client, held.id)] == [
        (("subscription_create", 2800, 1400, [1400]), "paid"),
        (("subscription_update", 5250, 5250, []), "paid"),
        (("subscription_cycle", 8400, 7560, [840]), "paid"),
    ]


def test_a_once_coupon_is_not_used_by_a_renewal_a_void_pause_voids(
    client: Client, ledger_verified: None
) -> None:
    """28.00 a month from January 31 (2800 paid). On February 5 half off once is added and
    collection paused with `void`: the renewal of February 28 takes 1400 off and is voided,
    which benefits nobody, so the coupon stays unused (Kassa's choice: Stripe's docs say
    nothing of it). The preview of the next renewal shows it, and once collection is
    resumed the renewal of March 31 uses it: 2800 - 1400 = 1400 paid. The one of April 30
    bills 2800 (before the fix, 2800 on March 31 too: the voided invoice had used it up)."""
    coupon = half_off_once(client)
    price = price_of(client, 2800)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    advance(client, clock_id, FEB_5)
    paused: Any = {"discounts": [{"coupon": coupon.id}], "pause_collection": {"behavior": "void"}}
    change(client, subscription.id, **paused)
    advance(client, clock_id, utc(2027, 3, 1))
    still = client.v1.subscriptions.retrieve(subscription.id)
    assert len(still.discounts) == 1
    change(client, subscription.id, pause_collection="")
    renewal = preview(client, subscription.id)
    assert (renewal.period_end, renewal.total) == (utc(2027, 3, 31), 1400)
    advance(client, clock_id, utc(2027, 4, 30) + DAY_SECONDS)
    assert [(billed(i), i.status) for i in invoices_of(client, subscription.id)] == [
        (("subscription_create", 2800, 2800, []), "paid"),
        (("subscription_cycle", 2800, 1400, [1400]), "void"),
        (("subscription_cycle", 2800, 1400, [1400]), "paid"),
        (("subscription_cycle", 2800, 2800, []), "paid"),
    ]
