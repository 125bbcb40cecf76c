"""Pending updates (`payment_behavior=pending_if_incomplete`) through the SDK on a real `kassa
serve` (SQLite and PostgreSQL) driven by test clocks: a change whose invoice is paid applies at
once; a declined one leaves the subscription as it was, with `pending_update` and its invoice
open; paying that invoice later applies the change, and leaving it unpaid discards it at
`expires_at` on the clock, the invoice voided; a later change replaces it; parameters a pending
update cannot hold are refused with nothing written; and the ledger whole after each.

Amounts are worked by hand: a proration is `amount * unused / period`, rounded half up to
whole cents, once for the credit and once for the charge."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.test_subscription_changes import (
    HOUR,
    at,
    change,
    declining,
    only_item,
    pending_of,
    tripled_on_february_8,
)
from tests.test_subscriptions import (
    Client,
    advance,
    clock_customer,
    events_of,
    invoices_of,
    monthly_price,
    subscribe,
)

PENDING = "pending_if_incomplete"
APPLIED = "customer.subscription.pending_update_applied"
EXPIRED = "customer.subscription.pending_update_expired"


def good_card(client: Client, customer_id: str) -> stripe.PaymentMethod:
    return client.v1.payment_methods.attach("pm_card_mastercard", params={"customer": customer_id})


def held_invoice(client: Client, subscription: stripe.Subscription) -> stripe.Invoice:
    return client.v1.invoices.retrieve(str(subscription.latest_invoice))


def pending_dict(subscription: stripe.Subscription) -> dict[str, Any]:
    assert subscription.pending_update is not None
    shown: dict[str, Any] = subscription.pending_update.to_dict()
    return shown


# -- paid at once ------------------------------------------------------------------------------


def test_a_pending_update_whose_invoice_is_paid_applies_at_once(
    client: Client, ledger_verified: None
) -> None:
    _, _, subscription, changed = tripled_on_february_8(
        client, payment_behavior=PENDING, expand=["latest_invoice"]
    )
    # 21 of February 2027's 28 days unused: -2800 * 21/28 = -2100, +8400 * 21/28 = +6300.
    assert (changed.pending_update, changed.status, only_item(changed).quantity) == (
        None,
        "active",
        3,
    )
    assert isinstance(changed.latest_invoice, stripe.Invoice)
    invoice = changed.latest_invoice
    assert (invoice.billing_reason, invoice.status, invoice.amount_paid) == (
        "subscription_update",
        "paid",
        4200,
    )
    assert sorted(line.amount for line in invoice.lines.data) == [-2100, 6300]
    assert client.v1.subscription_items.retrieve(only_item(changed).id).quantity == 3
    assert APPLIED not in events_of(client, subscription.id)


def test_a_change_that_invoices_nothing_now_applies_at_once(client: Client) -> None:
    price, pro = monthly_price(client, 3100), monthly_price(client, 6200)
    clock_id, customer = clock_customer(client, at(2027, 1, 1))
    subscription = subscribe(client, customer.id, price.id)
    declining(client, customer.id, subscription.id)
    advance(client, clock_id, at(2027, 1, 16))
    changed = change(
        client,
        subscription.id,
        items=[{"id": only_item(subscription).id, "price": pro.id}],
        payment_behavior=PENDING,
        metadata={"tier": "pro"},
    )
    # Prorations left pending for the renewal: nothing to pay now, so nothing waits.
    assert changed.pending_update is None
    assert (only_item(changed).price.id, changed.metadata.to_dict()) == (pro.id, {"tier": "pro"})
    assert [i.amount for i in pending_of(client, customer.id)] == [-1600, 3200]
    assert len(invoices_of(client, subscription.id)) == 1


# -- declined: held, then paid ---------------------------------------------------------------


def test_a_declined_update_is_held_until_its_invoice_is_paid(
    client: Client, ledger_verified: None
) -> None:
    price, extra = monthly_price(client, 2800), monthly_price(client, 1400)
    clock_id, customer = clock_customer(client, at(2027, 2, 1))
    subscription = subscribe(client, customer.id, price.id, metadata={"tier": "basic"})
    declining(client, customer.id, subscription.id)
    advance(client, clock_id, at(2027, 2, 8))
    before = client.v1.subscriptions.retrieve(subscription.id)
    item = only_item(before)
    held = change(
        client,
        subscription.id,
        items=[{"id": item.id, "quantity": 3}, {"price": extra.id}],
        proration_behavior="always_invoice",
        payment_behavior=PENDING,
        metadata={"tier": "plus"},
    )
    # Nothing of the change applies: the old item, the old metadata, still active.
    assert (held.status, only_item(held).quantity, held.metadata["tier"]) == (
        "active",
        1,
        "basic",
    )
    assert client.v1.subscription_items.retrieve(item.id).quantity == 1
    pending = pending_dict(held)
    # 23 hours after the update, well before the period ends on March 1.
    assert pending["expires_at"] == at(2027, 2, 8) + 23 * HOUR
    assert (pending["billing_cycle_anchor"], pending["trial_end"]) == (None, None)
    assert (pending["trial_from_plan"], pending["cancel_at_period_end"]) == (None, None)
    assert pending["metadata"] == {"tier": "plus"}
    kept, added = pending["subscription_items"]
    assert (kept["id"], kept["quantity"], kept["price"]["id"]) == (item.id, 3, price.id)
    assert (added["quantity"], added["price"]["id"]) == (1, extra.id)
    # 21 of 28 days: -2800 * 21/28 = -2100, +8400 * 21/28 = +6300, +1400 * 21/28 = +1050.
    invoice = held_invoice(client, held)
    assert invoice.id != before.latest_invoice
    assert (invoice.status, invoice.billing_reason) == ("open", "subscription_update")
    assert (invoice.amount_due, invoice.amount_remaining) == (5250, 5250)
    assert sorted(line.amount for line in invoice.lines.data) == [-2100, 1050, 6300]
    # Paid with another card, the change applies, exactly as held.
    card = good_card(client, customer.id)
    paid = client.v1.invoices.pay(invoice.id, params={"payment_method": card.id})
    assert (paid.status, paid.amount_paid) == ("paid", 5250)
    applied = client.v1.subscriptions.retrieve(subscription.id)
    assert applied.pending_update is None
    assert applied.metadata["tier"] == "plus"
    quantities = {i.price.id: i.quantity for i in applied["items"].data}
    assert quantities == {price.id: 3, extra.id: 1}
    assert client.v1.subscription_items.retrieve(added["id"]).price.id == extra.id
    assert client.v1.subscription_items.retrieve(item.id).quantity == 3
    types = events_of(client, subscription.id)
    assert types.count(APPLIED) == 1 and EXPIRED not in types
    assert types[types.index(APPLIED) - 1] == "customer.subscription.updated"
    # The March renewal bills what now stands: 3 * 2800 + 1400.
    change(client, subscription.id, default_payment_method=card.id)
    advance(client, clock_id, at(2027, 3, 1) + 2 * HOUR)
    renewal = invoices_of(client, subscription.id)[-1]
    assert (renewal.billing_reason, renewal.amount_paid) == ("subscription_cycle", 9800)


def test_a_payment_that_fails_again_keeps_the_update_pending(client: Client) -> None:
    _, customer, subscription, held = tripled_on_february_8(
        client, declined=True, payment_behavior=PENDING, cancel_at_period_end=True
    )
    # The cancellation at the period's end waits with the rest (2026-09-30.endive).
    assert pending_dict(held)["cancel_at_period_end"] is True
    assert (held.cancel_at_period_end, held.cancel_at) == (False, None)
    with pytest.raises(stripe.CardError):
        client.v1.invoices.pay(str(held.latest_invoice))
    again = client.v1.subscriptions.retrieve(subscription.id)
    assert pending_dict(again) == pending_dict(held)
    assert (only_item(again).quantity, held_invoice(client, again).status) == (1, "open")
    card = good_card(client, customer.id)
    client.v1.invoices.pay(str(held.latest_invoice), params={"payment_method": card.id})
    applied = client.v1.subscriptions.retrieve(subscription.id)
    assert (applied.cancel_at_period_end, applied.cancel_at) == (True, at(2027, 3, 1))
    assert (applied.canceled_at, only_item(applied).quantity) == (at(2027, 2, 8), 3)


def test_a_billing_cycle_reset_held_then_paid_starts_the_period_it_was_asked_at(
    client: Client, ledger_verified: None
) -> None:
    price = monthly_price(client, 3100)
    clock_id, customer = clock_customer(client, at(2027, 1, 1))
    subscription = subscribe(client, customer.id, price.id)
    declining(client, customer.id, subscription.id)
    advance(client, clock_id, at(2027, 1, 16))
    held = change(
        client, subscription.id, billing_cycle_anchor={"type": "now"}, payment_behavior=PENDING
    )
    item = only_item(held)
    assert (held.billing_cycle_anchor, item.current_period_end) == (at(2027, 1, 1), at(2027, 2, 1))
    pending = pending_dict(held)
    assert pending["billing_cycle_anchor"] == at(2027, 1, 16)
    (shown,) = pending["subscription_items"]
    assert (shown["current_period_start"], shown["current_period_end"]) == (
        at(2027, 1, 16),
        at(2027, 2, 16),
    )
    # The new period in full, less 16 of 31 days unused of the old one: 3100 - 1600.
    invoice = held_invoice(client, held)
    assert (invoice.status, invoice.amount_remaining) == ("open", 1500)
    advance(client, clock_id, at(2027, 1, 16) + 5 * HOUR)
    card = good_card(client, customer.id)
    client.v1.invoices.pay(invoice.id, params={"payment_method": card.id})
    reset = client.v1.subscriptions.retrieve(subscription.id)
    assert (reset.billing_cycle_anchor, reset.pending_update) == (at(2027, 1, 16), None)
    assert (only_item(reset).current_period_start, only_item(reset).current_period_end) == (
        at(2027, 1, 16),
        at(2027, 2, 16),
    )
    # No renewal on February 1 any more: the next is the new period's end.
    change(client, subscription.id, default_payment_method=card.id)
    advance(client, clock_id, at(2027, 2, 16) + 2 * HOUR)
    invoices = invoices_of(client, subscription.id)
    assert [i.billing_reason for i in invoices] == [
        "subscription_create",
        "subscription_update",
        "subscription_cycle",
    ]
    assert (invoices[-1].period_end, invoices[-1].amount_paid) == (at(2027, 2, 16), 3100)


def test_a_subscription_item_created_pending_appears_once_paid(
    client: Client, ledger_verified: None
) -> None:
    price, extra = monthly_price(client, 2800), monthly_price(client, 1400)
    clock_id, customer = clock_customer(client, at(2027, 2, 1))
    subscription = subscribe(client, customer.id, price.id)
    declining(client, customer.id, subscription.id)
    advance(client, clock_id, at(2027, 2, 15))
    created = client.v1.subscription_items.create(
        params={
            "subscription": subscription.id,
            "price": extra.id,
            "proration_behavior": "always_invoice",
            "payment_behavior": PENDING,
        }
    )
    # The item the pending update would add, not yet the subscription's.
    assert (created.price.id, created.subscription) == (extra.id, subscription.id)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscription_items.retrieve(created.id)
    held = client.v1.subscriptions.retrieve(subscription.id)
    assert len(held["items"].data) == 1
    assert [i["id"] for i in pending_dict(held)["subscription_items"]][-1] == created.id
    # 14 of 28 days: 1400 * 14/28 = 700.
    invoice = held_invoice(client, held)
    assert (invoice.status, invoice.amount_remaining) == ("open", 700)
    card = good_card(client, customer.id)
    client.v1.invoices.pay(invoice.id, params={"payment_method": card.id})
    assert client.v1.subscription_items.retrieve(created.id).price.id == extra.id
    assert len(client.v1.subscriptions.retrieve(subscription.id)["items"].data) == 2


# -- expiry ------------------------------------------------------------------------------------


def test_an_unpaid_pending_update_expires_23_hours_later_on_the_clock(
    client: Client, ledger_verified: None
) -> None:
    clock_id, customer, subscription, held = tripled_on_february_8(
        client, declined=True, payment_behavior=PENDING
    )
    expires_at = at(2027, 2, 8) + 23 * HOUR
    advance(client, clock_id, expires_at - 1)
    assert client.v1.subscriptions.retrieve(subscription.id).pending_update is not None
    assert held_invoice(client, held).status == "open"
    advance(client, clock_id, expires_at)
    expired = client.v1.subscriptions.retrieve(subscription.id)
    assert (expired.pending_update, expired.status, only_item(expired).quantity) == (
        None,
        "active",
        1,
    )
    voided = held_invoice(client, held)
    assert (voided.status, voided.status_transitions.voided_at) == ("void", expires_at)
    types = events_of(client, subscription.id)
    assert types.count(EXPIRED) == 1 and APPLIED not in types
    assert "invoice.voided" in events_of(client, voided.id)
    # The renewal bills the quantity that stood, and nothing of the voided prorations.
    card = good_card(client, customer.id)
    change(client, subscription.id, default_payment_method=card.id)
    advance(client, clock_id, at(2027, 3, 1) + 2 * HOUR)
    renewal = invoices_of(client, subscription.id)[-1]
    assert (renewal.billing_reason, renewal.amount_paid) == ("subscription_cycle", 2800)
    assert pending_of(client, customer.id) == []


def test_an_update_near_the_period_end_expires_when_the_period_does(
    client: Client, ledger_verified: None
) -> None:
    price = monthly_price(client, 2800)
    clock_id, customer = clock_customer(client, at(2027, 2, 1))
    subscription = subscribe(client, customer.id, price.id)
    declining(client, customer.id, subscription.id)
    advance(client, clock_id, at(2027, 2, 28, hour=20))
    held = change(
        client,
        subscription.id,
        items=[{"id": only_item(subscription).id, "quantity": 3}],
        proration_behavior="always_invoice",
        payment_behavior=PENDING,
    )
    # 14 of the period's 672 hours: -2800 * 14/672 = -58.33 -> -58, +8400 * 14/672 = +175.
    assert pending_dict(held)["expires_at"] == at(2027, 3, 1)
    assert sorted(line.amount for line in held_invoice(client, held).lines.data) == [-58, 175]
    change(client, subscription.id, default_payment_method=good_card(client, customer.id).id)
    advance(client, clock_id, at(2027, 3, 1) + 2 * HOUR)
    renewed = client.v1.subscriptions.retrieve(subscription.id)
    assert (renewed.pending_update, held_invoice(client, held).status) == (None, "void")
    # Discarded first, then renewed at the quantity that stood.
    renewal = invoices_of(client, subscription.id)[-1]
    assert (renewal.billing_reason, renewal.amount_paid) == ("subscription_cycle", 2800)
    assert renewed.latest_invoice == renewal.id
    assert EXPIRED in events_of(client, subscription.id)


def test_a_cancel_at_cutting_the_period_expires_the_pending_update(
    client: Client, ledger_verified: None
) -> None:
    """Held on February 8: three of the item, invoiced -2100 (one, 21 of 28 days unused) and
    +6300 (three), 4200 left open. A `cancel_at` after the period's end (March 1) cuts
    nothing and keeps it pending; one inside it (February 20) conflicts with it, held over
    the whole period: the update expires (as Stripe expires one a later update's
    `cancel_at_period_end` conflicts with), its invoice voided, and the cut credits the one
    item's 9 days after February 20 (-900). Paid later, the held change would have charged
    three items until March 1 and credited the one item's last 9 days a second time (the
    customer paying 2800 + 4200 - 900 = 6100 for 700 + 3600 = 4300 of service). The
    subscription ends on time at February 20, its final invoice crediting the 900 to the
    customer's balance: one item from February 1 to 20, 1900 in all."""
    clock_id, customer, subscription, held = tripled_on_february_8(
        client, declined=True, payment_behavior=PENDING
    )
    invoice = held_invoice(client, held)
    assert sorted(line.amount for line in invoice.lines.data) == [-2100, 6300]
    assert (invoice.status, invoice.amount_remaining) == ("open", 4200)
    later = change(client, subscription.id, cancel_at=at(2027, 3, 15))
    assert later.pending_update is not None  # nothing cut: it stays pending
    cancel_at = at(2027, 2, 20)
    cut = change(client, subscription.id, cancel_at=cancel_at)
    assert (cut.pending_update, cut.cancel_at, only_item(cut).quantity) == (None, cancel_at, 1)
    assert only_item(cut).current_period_end == cancel_at
    assert held_invoice(client, held).status == "void"
    assert EXPIRED in events_of(client, subscription.id)
    assert APPLIED not in events_of(client, subscription.id)
    assert [i.amount for i in pending_of(client, customer.id)] == [-900]
    card = good_card(client, customer.id)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.pay(invoice.id, params={"payment_method": card.id})
    advance(client, clock_id, cancel_at + HOUR)
    ended = client.v1.subscriptions.retrieve(subscription.id)
    assert (ended.status, ended.ended_at, ended.pending_update) == ("canceled", cancel_at, None)
    assert only_item(ended).quantity == 1
    first, voided, final = invoices_of(client, subscription.id)
    assert (first.amount_paid, voided.id, voided.status) == (2800, invoice.id, "void")
    assert [line.amount for line in final.lines.data] == [-900]
    assert (final.status, final.total, final.amount_paid) == ("paid", -900, 0)
    assert client.v1.customers.retrieve(customer.id).balance == -900


# -- replaced ----------------------------------------------------------------------------------


def test_a_later_change_replaces_the_pending_update_and_voids_its_invoice(
    client: Client, ledger_verified: None
) -> None:
    price = monthly_price(client, 2800)
    clock_id, customer = clock_customer(client, at(2027, 2, 1))
    subscription = subscribe(client, customer.id, price.id)
    declining(client, customer.id, subscription.id)
    advance(client, clock_id, at(2027, 2, 8))
    item = only_item(subscription)
    first = change(
        client,
        subscription.id,
        items=[{"id": item.id, "quantity": 3}],
        proration_behavior="always_invoice",
        payment_behavior=PENDING,
    )
    advance(client, clock_id, at(2027, 2, 8, hour=12))
    second = change(
        client,
        subscription.id,
        items=[{"id": item.id, "quantity": 2}],
        proration_behavior="always_invoice",
        payment_behavior=PENDING,
    )
    assert held_invoice(client, first).status == "void"
    (shown,) = pending_dict(second)["subscription_items"]
    assert shown["quantity"] == 2
    assert pending_dict(second)["expires_at"] == at(2027, 2, 8, hour=12) + 23 * HOUR
    # From February 8 12:00, 20 days 22 hours of 28 days are left: 502 of 672 hours.
    # -2800 * 502/672 = -2091.67 -> -2092, +5600 * 502/672 = +4183.33 -> +4183.
    replaced = held_invoice(client, second)
    assert sorted(line.amount for line in replaced.lines.data) == [-2092, 4183]
    assert (replaced.status, replaced.amount_remaining) == ("open", 2091)
    # A change that is not pending replaces it too: applied at once, nothing left pending.
    third = change(client, subscription.id, items=[{"id": item.id, "quantity": 4}])
    assert (third.pending_update, only_item(third).quantity) == (None, 4)
    assert held_invoice(client, second).status == "void"
    assert EXPIRED not in events_of(client, subscription.id)


# -- refusals ------------------------------------------------------------------------------------


def test_what_a_pending_update_cannot_hold_is_refused_with_nothing_written(
    client: Client,
) -> None:
    price, other = monthly_price(client, 2800), monthly_price(client, 900)
    clock_id, customer = clock_customer(client, at(2027, 2, 1))
    subscription = subscribe(client, customer.id, price.id)
    advance(client, clock_id, at(2027, 2, 8))
    item = only_item(subscription)
    rate = client.v1.tax_rates.create(
        params={"display_name": "VAT", "percentage": 20, "inclusive": False}
    )
    coupon = client.v1.coupons.create(params={"percent_off": 10, "duration": "once"})
    invoice_now: Any = {"proration_behavior": "always_invoice", "payment_behavior": PENDING}
    refusals: list[tuple[dict[str, Any], str]] = [
        ({"description": "Gold"}, "description"),
        ({"default_tax_rates": [rate.id]}, "default_tax_rates"),
        ({"discounts": [{"coupon": coupon.id}]}, "discounts"),
        ({"cancel_at": at(2027, 2, 20)}, "cancel_at"),
        ({"pause_collection": {"behavior": "void"}}, "pause_collection"),
        ({"items": [{"id": item.id, "quantity": 2, "metadata": {"a": "b"}}]}, "items[0][metadata]"),
        ({"items": [{"price": other.id, "tax_rates": [rate.id]}]}, "items[0][tax_rates]"),
        (
            {"items": [{"price": other.id, "discounts": [{"coupon": coupon.id}]}]},
            "items[0][discounts]",
        ),
    ]
    for params, param in refusals:
        with pytest.raises(stripe.InvalidRequestError) as refused:
            change(client, subscription.id, **invoice_now, **params)
        assert (refused.value.http_status, refused.value.param) == (400, param), params
        assert param in str(refused.value.user_message)
    created: Any = {
        "subscription": subscription.id,
        "price": other.id,
        "metadata": {"a": "b"},
        **invoice_now,
    }
    item_refusals: list[tuple[Any, str]] = [
        (lambda: client.v1.subscription_items.create(params=created), "metadata"),
        (
            lambda: client.v1.subscription_items.delete(
                item.id, params={"clear_usage": True, "payment_behavior": PENDING}
            ),
            "clear_usage",
        ),
    ]
    for call, param in item_refusals:
        with pytest.raises(stripe.InvalidRequestError) as refused:
            call()
        assert refused.value.param == param
    after = client.v1.subscriptions.retrieve(subscription.id)
    assert after.to_dict() == subscription.to_dict()
    assert len(invoices_of(client, subscription.id)) == 1
    assert pending_of(client, customer.id) == []


def test_a_send_invoice_subscription_takes_no_pending_update(client: Client) -> None:
    price = monthly_price(client, 2800)
    _, customer = clock_customer(client, at(2027, 2, 1))
    subscription = subscribe(
        client, customer.id, price.id, collection_method="send_invoice", days_until_due=30
    )
    with pytest.raises(stripe.InvalidRequestError) as refused:
        change(
            client,
            subscription.id,
            items=[{"id": only_item(subscription).id, "quantity": 2}],
            proration_behavior="always_invoice",
            payment_behavior=PENDING,
        )
    assert refused.value.param == "payment_behavior"
    assert client.v1.subscriptions.retrieve(subscription.id).to_dict() == subscription.to_dict()


# -- after a cut -------------------------------------------------------------------------------


@pytest.mark.parametrize("cleared", [False, True])
def test_a_held_update_after_a_cut_leaves_the_cut_credit_pending(
    client: Client, ledger_verified: None, cleared: bool
) -> None:
    """From February 1, on February 5 a `cancel_at` of February 20 credits the 9 days after
    it (-900, pending). On February 8 three of the item, declined and held: its invoice
    carries only its own prorations, -1200 (one, the 12 days to February 20) and +3600
    (three), 2400 left open, not the cut's credit too (1500), which its voiding on expiry
    would have taken with it. The credit stays pending: the subscription ends on February
    20 with it on its final invoice, 2800 - 900 = 1900 paid for the 19 days; or, the
    `cancel_at` cleared on February 9 after the expiry, its 9 days charged back (+900) and
    netted on the March 1 renewal: 2800 + 2800 = 5600 for one seat, February and March
    (not 1900 + 900 more, 6500, had the credit gone with the voided invoice)."""
    clock_id, customer, subscription, held = tripled_on_february_8(
        client, declined=True, cut_at=at(2027, 2, 20), payment_behavior=PENDING
    )
    invoice = held_invoice(client, held)
    assert sorted(line.amount for line in invoice.lines.data) == [-1200, 3600]
    assert (invoice.status, invoice.amount_remaining) == ("open", 2400)
    assert [p.amount for p in pending_of(client, customer.id)] == [-900]
    if cleared:
        advance(client, clock_id, at(2027, 2, 9, 12))
        assert held_invoice(client, held).status == "void"
        card = good_card(client, customer.id)
        change(client, subscription.id, cancel_at="", default_payment_method=card.id)
        assert sorted(p.amount for p in pending_of(client, customer.id)) == [-900, 900]
        advance(client, clock_id, at(2027, 3, 1, 12))
    else:
        advance(client, clock_id, at(2027, 2, 21))
        ended = client.v1.subscriptions.retrieve(subscription.id)
        assert (ended.status, ended.ended_at) == ("canceled", at(2027, 2, 20))
    invoices = invoices_of(client, subscription.id)
    assert [i.status for i in invoices] == ["paid", "void", "paid"]
    paid = sum(i.total for i in invoices if i.status == "paid")
    assert paid == (2800 + 2800 if cleared else 2800 - 900)
    assert pending_of(client, customer.id) == []
