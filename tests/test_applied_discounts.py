"""A discount already applied to a draft invoice or to a pending invoice item is not checked
again when the invoice is finalized: through the SDK on a real `kassa serve` (SQLite and
PostgreSQL). Stripe checks a coupon's validity (`redeem_by`, `max_redemptions`, a promotion
code's `active`) when the discount is applied, and deleting a coupon "does not affect any
customers who have already applied the coupon". Kassa counts the redemption when the invoice
is finalized (a draft deleted before then used nothing up), without refusing it then."""

from __future__ import annotations

from typing import Any

import stripe

from kassa.clock import DAY_SECONDS
from tests.harness import KassaServer
from tests.test_invoices import HOUR, advance_at, customer, event_types, invoice_of, item
from tests.test_subscriptions import (
    JAN_31_2027,
    advance,
    clock_customer,
    invoices_of,
    monthly_price,
    subscribe,
)

Client = stripe.StripeClient


def ten_percent(client: Client, **params: Any) -> stripe.Coupon:
    given: Any = {"percent_off": 10, **params}
    return client.v1.coupons.create(params=given)


def test_a_deleted_coupon_s_discount_still_finalizes_and_pays(
    client: Client, ledger_verified: None
) -> None:
    who = customer(client)
    coupon = ten_percent(client)
    finalized = invoice_of(client, who.id, 1000, discounts=[{"coupon": coupon.id}])
    paid = invoice_of(client, who.id, 1000, discounts=[{"coupon": coupon.id}])
    assert (finalized.total, paid.total) == (900, 900)
    client.v1.coupons.delete(coupon.id)
    opened = client.v1.invoices.finalize_invoice(finalized.id)
    assert (opened.status, opened.total) == ("open", 900)
    charged = client.v1.invoices.pay(paid.id)
    assert (charged.status, charged.amount_paid) == ("paid", 900)
    expanded = client.v1.invoices.retrieve(paid.id, params={"expand": ["discounts"]})
    (discount,) = expanded.to_dict()["discounts"]
    assert discount["source"]["coupon"] == coupon.id


def test_a_pending_item_s_deleted_coupon_does_not_block_an_auto_advanced_draft(
    server: KassaServer, client: Client
) -> None:
    who = customer(client)
    coupon = ten_percent(client)
    item(client, who.id, 1000, discounts=[{"coupon": coupon.id}])
    draft = client.v1.invoices.create(
        params={
            "customer": who.id,
            "auto_advance": True,
            "pending_invoice_items_behavior": "include",
        }
    )
    assert draft.total == 900
    client.v1.coupons.delete(coupon.id)
    advance_at(server, draft.created + HOUR + 1)
    paid = client.v1.invoices.retrieve(draft.id)
    assert (paid.status, paid.amount_paid, paid.last_finalization_error) == ("paid", 900, None)
    assert "invoice.finalization_failed" not in event_types(client, draft.id)


def test_validity_lost_after_the_discount_was_applied_does_not_refuse_finalization(
    client: Client,
) -> None:
    clock_id, who = clock_customer(client)
    expiring = ten_percent(client, redeem_by=JAN_31_2027 + DAY_SECONDS)
    coded = ten_percent(client)
    code = client.v1.promotion_codes.create(
        params={"promotion": {"type": "coupon", "coupon": coded.id}}
    )
    late = invoice_of(client, who.id, 1000, discounts=[{"coupon": expiring.id}])
    deactivated = invoice_of(client, who.id, 1000, discounts=[{"promotion_code": code.id}])
    client.v1.promotion_codes.update(code.id, params={"active": False})
    advance(client, clock_id, JAN_31_2027 + 2 * DAY_SECONDS)
    for draft in (late, deactivated):
        assert client.v1.invoices.finalize_invoice(draft.id).total == 900
    assert client.v1.promotion_codes.retrieve(code.id).times_redeemed == 1
    assert client.v1.coupons.retrieve(expiring.id).times_redeemed == 1


def test_a_single_use_coupon_on_two_items_of_one_draft_finalizes_and_counts_both(
    client: Client,
) -> None:
    who = customer(client)
    once = ten_percent(client, max_redemptions=1)
    draft = client.v1.invoices.create(params={"customer": who.id})
    for amount in (1000, 2000):
        item(client, who.id, amount, invoice=draft.id, discounts=[{"coupon": once.id}])
    opened = client.v1.invoices.finalize_invoice(draft.id)
    assert (opened.status, opened.total) == ("open", 2700)
    counted = client.v1.coupons.retrieve(once.id)
    assert (counted.times_redeemed, counted.valid) == (2, False)


def test_a_renewal_takes_a_pending_item_whose_coupon_was_deleted(
    client: Client, ledger_verified: None
) -> None:
    clock_id, who = clock_customer(client)
    subscription = subscribe(client, who.id, monthly_price(client, 2000).id)
    coupon = ten_percent(client)
    item(client, who.id, 1000, discounts=[{"coupon": coupon.id}])
    client.v1.coupons.delete(coupon.id)
    renewal_at = subscription["items"].data[0].current_period_end
    advance(client, clock_id, renewal_at + 2 * HOUR)
    renewal = invoices_of(client, subscription.id)[-1]
    assert renewal.billing_reason == "subscription_cycle"
    assert (renewal.status, renewal.subtotal, renewal.total) == ("paid", 3000, 2900)
    assert renewal.amount_paid == 2900
