"""A coupon restricted to products (`applies_to[products]`) takes something off only the
lines whose price's product it names: through the SDK on a real `kassa serve` (SQLite and
PostgreSQL), the ledger whole after each. Product A's line is 20.00 and product B's 10.00;
the coupon names B only."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from kassa.clock import DAY_SECONDS
from tests.test_invoices import customer
from tests.test_subscription_changes import change, pending_of
from tests.test_subscription_terms import utc
from tests.test_subscriptions import Client, advance, clock_customer, invoices_of

FEB_28_2027 = 1_803_772_800
"""The first renewal of a subscription started on the clock's January 31, 2027."""


def product_price(client: Client, name: str, amount: int, **price: Any) -> stripe.Price:
    product = client.v1.products.create(params={"name": name})
    params: Any = {"currency": "usd", "unit_amount": amount, "product": product.id, **price}
    return client.v1.prices.create(params=params)


def subscribed_with_half_off_b(
    client: Client, a: stripe.Price, b: stripe.Price
) -> tuple[str, stripe.Customer, stripe.Subscription]:
    """A clock customer subscribed to A and B with 50% off B's product forever."""
    restricted = client.v1.coupons.create(
        params={
            "percent_off": 50,
            "duration": "forever",
            "applies_to": {"products": [str(b.product)]},
        }
    )
    clock_id, who = clock_customer(client)
    subscription = client.v1.subscriptions.create(
        params={
            "customer": who.id,
            "items": [{"price": a.id}, {"price": b.id}],
            "discounts": [{"coupon": restricted.id}],
        }
    )
    return clock_id, who, subscription


def taken_per_line(invoice: stripe.Invoice) -> list[list[int]]:
    return [[int(d.amount) for d in line.discount_amounts or []] for line in invoice.lines.data]


def invoice_of_a_and_b(client: Client, **coupon: Any) -> stripe.Invoice:
    """A draft with A's line then B's, the coupon (restricted to B) on the invoice."""
    a = product_price(client, "A", 2000)
    b = product_price(client, "B", 1000)
    who = customer(client)
    params: Any = {**coupon, "applies_to": {"products": [str(b.product)]}}
    restricted = client.v1.coupons.create(params=params)
    invoice = client.v1.invoices.create(
        params={"customer": who.id, "discounts": [{"coupon": restricted.id}]}
    )
    for price in (a, b):
        client.v1.invoice_items.create(
            params={"customer": who.id, "invoice": invoice.id, "pricing": {"price": price.id}}
        )
    return client.v1.invoices.retrieve(invoice.id)


@pytest.mark.parametrize(
    ("coupon", "taken"),
    [
        ({"percent_off": 50}, 500),  # half of B's 1000
        ({"amount_off": 1500, "currency": "usd"}, 1000),  # capped at B's 1000, A untouched
    ],
)
def test_an_invoice_discount_restricted_to_b_takes_from_b_s_line_only(
    client: Client, ledger_verified: None, coupon: dict[str, Any], taken: int
) -> None:
    draft = invoice_of_a_and_b(client, **coupon)
    assert taken_per_line(draft) == [[], [taken]]
    assert [int(d.amount) for d in draft.total_discount_amounts or []] == [taken]
    assert (draft.subtotal, draft.total) == (3000, 3000 - taken)
    paid = client.v1.invoices.pay(draft.id)
    assert (paid.status, paid.amount_paid) == ("paid", 3000 - taken)


def test_a_line_s_own_restricted_discount_skips_other_products(
    client: Client, ledger_verified: None
) -> None:
    """The coupon on A's item itself (and on an amount-only item, which has no product)."""
    a = product_price(client, "A", 2000)
    b = product_price(client, "B", 1000)
    who = customer(client)
    restricted = client.v1.coupons.create(
        params={"percent_off": 50, "applies_to": {"products": [str(b.product)]}}
    )
    invoice = client.v1.invoices.create(params={"customer": who.id})
    priced: list[Any] = [
        {"pricing": {"price": a.id}},
        {"pricing": {"price": b.id}},
        {"amount": 400, "currency": "usd"},
    ]
    for given in priced:
        params: Any = {"customer": who.id, "invoice": invoice.id, **given}
        params["discounts"] = [{"coupon": restricted.id}]
        client.v1.invoice_items.create(params=params)
    draft = client.v1.invoices.retrieve(invoice.id)
    assert taken_per_line(draft) == [[], [500], []]
    assert (draft.subtotal, draft.total) == (2900, 2900)  # the lines' own discounts inside
    client.v1.invoices.pay(invoice.id)


def test_a_subscription_s_renewal_discounts_only_b(client: Client, ledger_verified: None) -> None:
    monthly: Any = {"recurring": {"interval": "month"}}
    a = product_price(client, "A", 2000, **monthly)
    b = product_price(client, "B", 1000, **monthly)
    clock_id, _, subscription = subscribed_with_half_off_b(client, a, b)
    advance(client, clock_id, FEB_28_2027 + DAY_SECONDS)
    first, renewal = invoices_of(client, subscription.id)
    for invoice in (first, renewal):
        by_price = {
            line.pricing.price_details.price: [int(d.amount) for d in line.discount_amounts or []]  # type: ignore[union-attr]
            for line in invoice.lines.data
        }
        assert by_price == {a.id: [], b.id: [500]}
        assert (invoice.subtotal, invoice.total, invoice.status) == (3000, 2500, "paid")
    assert renewal.billing_reason == "subscription_cycle"


def test_a_proration_charge_is_discounted_only_for_the_coupon_s_products(
    client: Client, ledger_verified: None
) -> None:
    """Flexible mode prices a proration's charge with the discounts in force
    (`subscription_credits.debit_base`), a restricted coupon only for its products. A and B
    at 28.00 a month from January 31, 50% off B forever; on February 14 (14 of February's 28
    days left) each goes to two seats: A's credit undoes its 2800 debit by half, -1400, and
    its charge is two seats' half month undiscounted, 2800; B's credit undoes half of the
    1400 it was billed, -700, and its charge is 2800 at half, 1400."""
    monthly: Any = {"recurring": {"interval": "month"}}
    a = product_price(client, "A", 2800, **monthly)
    b = product_price(client, "B", 2800, **monthly)
    clock_id, who, subscription = subscribed_with_half_off_b(client, a, b)
    advance(client, clock_id, utc(2027, 2, 14))
    items = [{"id": item.id, "quantity": 2} for item in subscription["items"].data]
    change(client, subscription.id, items=items)
    by_price: dict[str, list[int]] = {a.id: [], b.id: []}
    for pending in pending_of(client, who.id):
        assert pending.pricing is not None and pending.pricing.price_details is not None
        by_price[str(pending.pricing.price_details.price)].append(pending.amount)
    assert {price: sorted(amounts) for price, amounts in by_price.items()} == {
        a.id: [-1400, 2800],
        b.id: [-700, 1400],
    }
