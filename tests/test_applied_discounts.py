"""A discount's redemption is counted when it is applied, and an applied discount is not
checked again when the invoice is finalized: through the SDK on a real `kassa serve` (SQLite
and PostgreSQL). Stripe checks a coupon's validity (`redeem_by`, `max_redemptions`, a
promotion code's `active`) when the discount is applied, `times_redeemed` is the "number of
times this coupon has been applied to a customer", and deleting a coupon "does not affect any
customers who have already applied the coupon". So a limited coupon is taken when a draft or
an item takes it (a second application past the limit is refused at once), and given back when
a draft's discount is removed or the draft deleted before it is finalized."""

from __future__ import annotations

from typing import Any

import stripe

from kassa.clock import DAY_SECONDS
from tests.harness import KassaServer
from tests.test_invoices import (
    HOUR,
    advance_at,
    customer,
    event_types,
    invoice_of,
    item,
    refused,
)
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


def test_a_single_use_coupon_is_taken_by_the_first_draft_and_refused_to_the_next(
    client: Client,
) -> None:
    who = customer(client)
    once = ten_percent(client, max_redemptions=1)
    first = invoice_of(client, who.id, 1000, discounts=[{"coupon": once.id}])
    taken = client.v1.coupons.retrieve(once.id)
    assert (taken.times_redeemed, taken.valid) == (1, False)
    refusal = refused(
        lambda: client.v1.invoices.create(
            params={"customer": who.id, "discounts": [{"coupon": once.id}]}
        )
    )
    assert (refusal.code, refusal.param) == ("coupon_expired", "discounts[0][coupon]")
    assert client.v1.invoices.finalize_invoice(first.id).total == 900
    assert client.v1.coupons.retrieve(once.id).times_redeemed == 1


def test_a_single_use_coupon_is_refused_to_a_second_item_of_one_draft(client: Client) -> None:
    who = customer(client)
    once = ten_percent(client, max_redemptions=1)
    draft = client.v1.invoices.create(params={"customer": who.id})
    item(client, who.id, 1000, invoice=draft.id, discounts=[{"coupon": once.id}])
    refusal = refused(
        lambda: item(client, who.id, 2000, invoice=draft.id, discounts=[{"coupon": once.id}])
    )
    assert (refusal.code, refusal.param) == ("coupon_expired", "discounts[0][coupon]")
    pending = refused(lambda: item(client, who.id, 500, discounts=[{"coupon": once.id}]))
    assert pending.param == "discounts[0][coupon]"
    opened = client.v1.invoices.finalize_invoice(draft.id)
    assert (opened.status, opened.total) == ("open", 900)
    counted = client.v1.coupons.retrieve(once.id)
    assert (counted.times_redeemed, counted.valid) == (1, False)


def test_a_single_use_promotion_code_is_refused_to_a_second_draft(client: Client) -> None:
    who = customer(client)
    coupon = ten_percent(client)
    code = client.v1.promotion_codes.create(
        params={"promotion": {"type": "coupon", "coupon": coupon.id}, "max_redemptions": 1}
    )
    first = invoice_of(client, who.id, 1000, discounts=[{"promotion_code": code.id}])
    assert client.v1.promotion_codes.retrieve(code.id).times_redeemed == 1
    refusal = refused(
        lambda: client.v1.invoices.create(
            params={"customer": who.id, "discounts": [{"promotion_code": code.id}]}
        )
    )
    assert refusal.param == "discounts[0][promotion_code]"
    client.v1.promotion_codes.update(code.id, params={"active": False})
    assert client.v1.invoices.finalize_invoice(first.id).total == 900
    assert client.v1.promotion_codes.retrieve(code.id).times_redeemed == 1
    assert client.v1.coupons.retrieve(coupon.id).times_redeemed == 1


def test_a_draft_s_discount_removed_or_deleted_gives_its_redemption_back(client: Client) -> None:
    """Kassa's choice where Stripe's documentation says nothing: what a draft held and
    never issued used nothing up. Putting the same coupon back on the draft in one update
    works, and a finalized invoice keeps its redemption."""
    who = customer(client)
    once = ten_percent(client, max_redemptions=1)
    draft = invoice_of(client, who.id, 1000, discounts=[{"coupon": once.id}])
    again = client.v1.invoices.update(draft.id, params={"discounts": [{"coupon": once.id}]})
    assert again.total == 900
    assert client.v1.coupons.retrieve(once.id).times_redeemed == 1
    client.v1.invoices.update(draft.id, params={"discounts": ""})
    assert client.v1.coupons.retrieve(once.id).times_redeemed == 0
    deleted = invoice_of(client, who.id, 1000, discounts=[{"coupon": once.id}])
    client.v1.invoices.delete(deleted.id)
    pending = item(client, who.id, 1000, discounts=[{"coupon": once.id}])
    client.v1.invoice_items.delete(pending.id)
    assert client.v1.coupons.retrieve(once.id).times_redeemed == 0
    kept = invoice_of(client, who.id, 1000, discounts=[{"coupon": once.id}])
    client.v1.invoices.finalize_invoice(kept.id)
    client.v1.invoices.void_invoice(kept.id)
    assert client.v1.coupons.retrieve(once.id).times_redeemed == 1


def test_a_preview_neither_counts_nor_takes_a_single_use_coupon(client: Client) -> None:
    who = customer(client)
    once = ten_percent(client, max_redemptions=1)
    item(client, who.id, 1000)
    preview = client.v1.invoices.create_preview(
        params={"customer": who.id, "discounts": [{"coupon": once.id}]}
    )
    assert preview.total == 900
    assert client.v1.coupons.retrieve(once.id).times_redeemed == 0
    draft = client.v1.invoices.create(
        params={
            "customer": who.id,
            "discounts": [{"coupon": once.id}],
            "pending_invoice_items_behavior": "include",
        }
    )
    assert draft.total == 900
    used_up = refused(
        lambda: client.v1.invoices.create_preview(
            params={"customer": who.id, "discounts": [{"coupon": once.id}]}
        )
    )
    assert used_up.param == "discounts[0][coupon]"


def test_a_single_use_coupon_on_a_subscription_counts_once_and_is_refused_to_a_draft(
    client: Client,
) -> None:
    clock_id, who = clock_customer(client)
    once = ten_percent(client, max_redemptions=1, duration="forever")
    subscription = subscribe(
        client, who.id, monthly_price(client, 2000).id, discounts=[{"coupon": once.id}]
    )
    advance(client, clock_id, subscription["items"].data[0].current_period_end + 2 * HOUR)
    assert [i.total for i in invoices_of(client, subscription.id)] == [1800, 1800]
    assert client.v1.coupons.retrieve(once.id).times_redeemed == 1
    refusal = refused(
        lambda: client.v1.invoices.create(
            params={"customer": who.id, "discounts": [{"coupon": once.id}]}
        )
    )
    assert refusal.param == "discounts[0][coupon]"


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
    # The pending item's own 10% is inside the subtotal (Stripe: "Item discounts are already
    # incorporated").
    assert (renewal.status, renewal.subtotal, renewal.total) == ("paid", 2900, 2900)
    assert renewal.amount_paid == 2900
