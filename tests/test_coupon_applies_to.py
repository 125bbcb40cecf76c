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
from tests.test_subscriptions import Client, advance, clock_customer, invoices_of

FEB_28_2027 = 1_803_772_800
"""The first renewal of a subscription started on the clock's January 31, 2027."""


def product_price(client: Client, name: str, amount: int, **price: Any) -> stripe.Price:
    product = client.v1.products.create(params={"name": name})
    params: Any = {"currency": "usd", "unit_amount": amount, "product": product.id, **price}
    return client.v1.prices.create(params=params)


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
    assert (draft.subtotal, draft.total) == (3400, 2900)
    client.v1.invoices.pay(invoice.id)


def test_a_subscription_s_renewal_discounts_only_b(client: Client, ledger_verified: None) -> None:
    monthly: Any = {"recurring": {"interval": "month"}}
    a = product_price(client, "A", 2000, **monthly)
    b = product_price(client, "B", 1000, **monthly)
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
