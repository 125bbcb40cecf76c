"""`expand[]` inside API objects embedded in full, each by the declarations of its own kind
(Stripe expands `items.data.price.product` on a subscription, `price.product` on a
subscription item, `lines.data.discounts` on an invoice, `data.pricing.price_details.price`
on its lines): on retrieve, create, update, list and preview, against a live server on both
engines. Paths no embedded object declares stay refused, naming the whole path, even where
the embedded list is empty; the depth limit still holds."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from kassa.http.expand import MAX_EXPAND_DEPTH
from tests.test_subscriptions import Client, clock_customer, monthly_price

PRODUCT_OF_ITEMS = "items.data.price.product"


def refused(call: Any, path: str) -> str:
    """`call()` answers 400 on `expand`, naming `path` in full; the message."""
    with pytest.raises(stripe.InvalidRequestError) as raised:
        call()
    error = raised.value
    assert (error.http_status, error.param) == (400, "expand"), error
    assert f"({path})" in str(error.user_message), error.user_message
    return str(error.user_message)


def ten_percent(client: Client) -> stripe.Coupon:
    return client.v1.coupons.create(params={"percent_off": 10, "duration": "forever"})


def one_time_price(client: Client, amount: int) -> stripe.Price:
    return client.v1.prices.create(
        params={"currency": "usd", "unit_amount": amount, "product_data": {"name": "Widget"}}
    )


def subscription_with_item_discount(client: Client, **params: Any) -> stripe.Subscription:
    """A monthly 20.00 subscription whose one item carries a 10% discount of its own."""
    price = monthly_price(client)
    _, customer = clock_customer(client)
    item = {"price": price.id, "discounts": [{"coupon": ten_percent(client).id}]}
    create: Any = {"customer": customer.id, "items": [item], **params}
    return client.v1.subscriptions.create(params=create)


def assert_items_show_product(subscription: stripe.Subscription, product_id: str) -> None:
    (item,) = subscription["items"].data
    assert isinstance(item.price.product, stripe.Product)
    assert (item.price.product.id, item.price.product.name) == (product_id, "Pro plan")


def test_a_subscription_expands_its_items_price_product(client: Client) -> None:
    """On create, retrieve and update; `items.data.plan.product` too. Only the answer
    changes: the stored subscription keeps the product's id."""
    created = subscription_with_item_discount(client, expand=[PRODUCT_OF_ITEMS])
    product_id = client.v1.prices.retrieve(created["items"].data[0].price.id).product
    assert isinstance(product_id, str)
    assert_items_show_product(created, product_id)
    retrieved = client.v1.subscriptions.retrieve(
        created.id, params={"expand": [PRODUCT_OF_ITEMS, "items.data.plan.product"]}
    )
    assert_items_show_product(retrieved, product_id)
    assert isinstance(retrieved["items"].data[0].plan.product, stripe.Product)
    updated = client.v1.subscriptions.update(
        created.id, params={"metadata": {"seen": "yes"}, "expand": [PRODUCT_OF_ITEMS]}
    )
    assert_items_show_product(updated, product_id)
    assert client.v1.subscriptions.retrieve(created.id)["items"].data[0].price.product == (
        product_id
    )


def test_a_subscription_list_expands_its_items_discounts(client: Client) -> None:
    """`data.items.data.discounts` is four levels: each item's own discount (10% off)."""
    subscription = subscription_with_item_discount(client)
    (discount_id,) = subscription["items"].data[0].discounts
    listed = client.v1.subscriptions.list(
        params={"customer": str(subscription.customer), "expand": ["data.items.data.discounts"]}
    )
    (shown,) = listed.data
    (discount,) = shown["items"].data[0].discounts
    assert isinstance(discount, stripe.Discount)
    assert discount.id == discount_id
    assert discount.subscription_item == shown["items"].data[0].id


def test_five_levels_stay_refused(client: Client) -> None:
    """`data.items.data.price.product` is five levels, past Stripe's four (whose docs name
    `data.invoice.subscription.default_source`, four, the deepest allowed on a list)."""
    subscription_with_item_discount(client)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.subscriptions.list(params={"expand": ["data.items.data.price.product"]})
    assert raised.value.param == "expand"
    assert f"at most {MAX_EXPAND_DEPTH} levels deep" in str(raised.value.user_message)


def test_a_subscription_item_expands_its_price_product(client: Client) -> None:
    subscription = subscription_with_item_discount(client)
    (item,) = subscription["items"].data
    shown = client.v1.subscription_items.retrieve(
        item.id, params={"expand": ["price.product", "plan.product", "discounts"]}
    )
    assert isinstance(shown.price.product, stripe.Product)
    assert shown.price.product.name == "Pro plan"
    assert isinstance(shown.plan.product, stripe.Product)
    (discount,) = shown.discounts
    assert isinstance(discount, stripe.Discount)
    listed = client.v1.subscription_items.list(
        params={"subscription": subscription.id, "expand": ["data.price.product"]}
    )
    assert [i.price.product.name for i in listed.data] == ["Pro plan"]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "path",
    [
        "items.data.price.nonsense",
        "items.data.nonsense",
        "items.data.price",
        "items.data",
        "items.has_more",
    ],
)
def test_paths_no_embedded_object_declares_are_refused(client: Client, path: str) -> None:
    subscription = subscription_with_item_discount(client)
    refused(
        lambda: client.v1.subscriptions.retrieve(subscription.id, params={"expand": [path]}), path
    )


def line_discounted_invoice(client: Client) -> tuple[stripe.Invoice, stripe.Price, str]:
    """A draft with one line of a 20.00 price carrying a 25% coupon of its own: the line's
    discount is 25% of 2000 = 500, the invoice's total 2000 - 500 = 1500."""
    customer = client.v1.customers.create()
    price = one_time_price(client, 2000)
    coupon = client.v1.coupons.create(params={"percent_off": 25, "duration": "once"})
    invoice = client.v1.invoices.create(params={"customer": customer.id})
    client.v1.invoice_items.create(
        params={
            "customer": customer.id,
            "invoice": invoice.id,
            "pricing": {"price": price.id},
            "discounts": [{"coupon": coupon.id}],
        }
    )
    return client.v1.invoices.retrieve(invoice.id), price, coupon.id


def test_an_invoice_expands_its_lines_discounts(client: Client) -> None:
    invoice, _, coupon_id = line_discounted_invoice(client)
    assert invoice.total == 1500
    (line,) = invoice.lines.data
    assert [d.amount for d in line.discount_amounts or []] == [500]
    (discount_id,) = line.discounts
    shown = client.v1.invoices.retrieve(invoice.id, params={"expand": ["lines.data.discounts"]})
    (discount,) = shown.lines.data[0].discounts
    assert isinstance(discount, stripe.Discount)
    assert (discount.id, discount.source.coupon) == (discount_id, coupon_id)
    listed = client.v1.invoices.list(
        params={"customer": str(invoice.customer), "expand": ["data.lines.data.discounts"]}
    )
    assert [d.id for d in listed.data[0].lines.data[0].discounts] == [discount_id]  # type: ignore[union-attr]


def test_an_invoices_lines_expand_discounts_and_price(client: Client) -> None:
    invoice, price, _ = line_discounted_invoice(client)
    lines = client.v1.invoices.line_items.list(
        invoice.id,
        params={"expand": ["data.discounts", "data.pricing.price_details.price"]},
    )
    (line,) = lines.data
    (discount,) = line.discounts
    assert isinstance(discount, stripe.Discount)
    assert line.pricing is not None
    details = line.pricing.price_details
    assert details is not None
    assert isinstance(details.price, stripe.Price)
    assert (details.price.id, details.price.unit_amount) == (price.id, 2000)


def test_a_line_without_a_price_leaves_its_null_price_details_on_the_way(client: Client) -> None:
    """An amount-only line (500, no price) beside the priced one: its
    `pricing.price_details` is null, which the path passes through and leaves null."""
    invoice, price, _ = line_discounted_invoice(client)
    client.v1.invoice_items.create(
        params={
            "customer": str(invoice.customer),
            "invoice": invoice.id,
            "amount": 500,
            "currency": "usd",
        }
    )
    lines = client.v1.invoices.line_items.list(
        invoice.id, params={"expand": ["data.pricing.price_details.price"]}
    )
    shown = {line.amount: line.pricing for line in lines.data}
    assert set(shown) == {2000, 500}
    priced = shown[2000]
    assert priced is not None and priced.price_details is not None
    assert isinstance(priced.price_details.price, stripe.Price)
    assert priced.price_details.price.id == price.id
    # An amount-only line has a `pricing` whose `price_details` is null: the path passes it.
    assert shown[500] is not None and shown[500].price_details is None
    path = "data.pricing.price_details.nonsense"
    refused(lambda: client.v1.invoices.line_items.list(invoice.id, params={"expand": [path]}), path)


def test_a_subscription_invoices_lines_expand_their_subscription(client: Client) -> None:
    """The first invoice of a 20.00 monthly subscription with 10% off its item: one line of
    2000 - 200 = 1800."""
    subscription = subscription_with_item_discount(client)
    invoice_id = str(subscription.latest_invoice)
    lines = client.v1.invoices.line_items.list(
        invoice_id, params={"expand": ["data.subscription", "data.discounts"]}
    )
    (line,) = lines.data
    assert line.amount - sum(d.amount for d in line.discount_amounts or []) == 1800
    assert isinstance(line.subscription, stripe.Subscription)
    assert line.subscription.id == subscription.id
    (discount,) = line.discounts
    assert isinstance(discount, stripe.Discount)
    assert discount.id == subscription["items"].data[0].discounts[0]


def test_a_preview_expands_its_lines_discounts(client: Client) -> None:
    """The preview of the subscription's next month: its item's 10% discount on 2000, 200
    off the line."""
    subscription = subscription_with_item_discount(client)
    preview = client.v1.invoices.create_preview(
        params={"subscription": subscription.id, "expand": ["lines.data.discounts"]}
    )
    (line,) = preview.lines.data
    assert [d.amount for d in line.discount_amounts or []] == [200]
    (discount,) = line.discounts
    assert isinstance(discount, stripe.Discount)
    assert discount.id == subscription["items"].data[0].discounts[0]


def test_an_empty_invoice_still_refuses_what_no_line_declares(client: Client) -> None:
    """No line to look at: the line item's declarations decide, in the invoice's embedded
    list as on the lines' own (empty) page."""
    customer = client.v1.customers.create()
    invoice = client.v1.invoices.create(params={"customer": customer.id})
    assert invoice.lines.data == []
    refused(
        lambda: client.v1.invoices.retrieve(invoice.id, params={"expand": ["lines.data.nonsense"]}),
        "lines.data.nonsense",
    )
    refused(
        lambda: client.v1.invoices.line_items.list(
            invoice.id, params={"expand": ["data.nonsense"]}
        ),
        "data.nonsense",
    )
    refused(
        lambda: client.v1.invoices.line_items.list(
            invoice.id, params={"expand": ["data.pricing.price_details.nonsense"]}
        ),
        "data.pricing.price_details.nonsense",
    )
    empty = client.v1.invoices.line_items.list(invoice.id, params={"expand": ["data.discounts"]})
    assert empty.data == []


# --- arrays of plain hashes: walked element by element, no `data.` ---------------------------

DISCOUNT_AMOUNT_PATHS = [
    "total_discount_amounts.discount",
    "total_pretax_credit_amounts.discount",
    "total_pretax_credit_amounts.credit_balance_transaction",
    "lines.data.discount_amounts.discount",
    "lines.data.pretax_credit_amounts.discount",
]


def test_an_invoice_expands_the_discounts_of_its_discount_amounts(client: Client) -> None:
    """The line's 25% discount takes 500 off 2000: the invoice's one total discount amount,
    pretax credit (a discount: no credit balance transaction, null) and the line's
    discount amount each name it, expanded in place with the amount beside it."""
    invoice, _, coupon_id = line_discounted_invoice(client)
    discount_id = invoice.lines.data[0].discounts[0]
    shown = client.v1.invoices.retrieve(invoice.id, params={"expand": DISCOUNT_AMOUNT_PATHS})
    (total,) = shown.total_discount_amounts or []
    (credit,) = shown.total_pretax_credit_amounts or []
    (line,) = shown.lines.data
    (line_amount,) = line.discount_amounts or []
    (line_credit,) = line.pretax_credit_amounts or []
    for entry in (total, credit, line_amount, line_credit):
        assert entry.amount == 500
        assert isinstance(entry.discount, stripe.Discount), entry
        assert (entry.discount.id, entry.discount.source.coupon) == (discount_id, coupon_id)
    assert credit.credit_balance_transaction is None
    assert client.v1.invoices.retrieve(invoice.id).total_discount_amounts[0].discount == (  # type: ignore[index]
        discount_id
    )
    listed = client.v1.invoices.list(
        params={
            "customer": str(invoice.customer),
            "expand": ["data.total_discount_amounts.discount"],
        }
    )
    assert [d.discount.id for d in listed.data[0].total_discount_amounts or []] == [discount_id]  # type: ignore[union-attr]


def test_an_invoices_lines_expand_the_discounts_of_their_discount_amounts(client: Client) -> None:
    invoice, _, _ = line_discounted_invoice(client)
    discount_id = invoice.lines.data[0].discounts[0]
    lines = client.v1.invoices.line_items.list(
        invoice.id,
        params={
            "expand": ["data.discount_amounts.discount", "data.pretax_credit_amounts.discount"]
        },
    )
    (line,) = lines.data
    entries: list[Any] = [*(line.discount_amounts or []), *(line.pretax_credit_amounts or [])]
    assert len(entries) == 2
    for entry in entries:
        assert entry.amount == 500
        assert isinstance(entry.discount, stripe.Discount)
        assert entry.discount.id == discount_id


def test_a_preview_expands_its_total_discount_amounts(client: Client) -> None:
    """The subscription's next month: its item's 10% discount takes 200 off 2000."""
    subscription = subscription_with_item_discount(client)
    preview = client.v1.invoices.create_preview(
        params={
            "subscription": subscription.id,
            "expand": ["total_discount_amounts.discount", "lines.data.discount_amounts.discount"],
        }
    )
    (total,) = preview.total_discount_amounts or []
    (line_amount,) = preview.lines.data[0].discount_amounts or []
    for entry in (total, line_amount):
        assert entry.amount == 200
        assert isinstance(entry.discount, stripe.Discount)
        assert entry.discount.id == subscription["items"].data[0].discounts[0]


@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("total_discount_amounts.nonsense", "total_discount_amounts.nonsense"),
        ("total_pretax_credit_amounts.amount", "total_pretax_credit_amounts.amount"),
        ("lines.data.discount_amounts.nonsense", "lines.data.discount_amounts.nonsense"),
        # Nothing declared inside the array at all: named where the path went wrong.
        ("total_taxes.tax_rate_details", "total_taxes"),
        ("lines.data.taxes.nonsense", "lines.data.taxes"),
    ],
)
def test_paths_no_array_element_declares_are_refused_even_empty(
    client: Client, path: str, named: str
) -> None:
    """Refused naming the path from the start, on an invoice with a discounted line as on an
    empty one (no element to look at: the declarations decide)."""
    discounted, _, _ = line_discounted_invoice(client)
    empty = client.v1.invoices.create(params={"customer": client.v1.customers.create().id})
    assert empty.total_discount_amounts == [] and empty.lines.data == []
    for invoice_id in (discounted.id, empty.id):
        refused(
            lambda: client.v1.invoices.retrieve(invoice_id, params={"expand": [path]}),  # noqa: B023
            named,
        )


def test_an_empty_invoice_expands_its_empty_discount_amounts(client: Client) -> None:
    empty = client.v1.invoices.create(params={"customer": client.v1.customers.create().id})
    shown = client.v1.invoices.retrieve(empty.id, params={"expand": DISCOUNT_AMOUNT_PATHS})
    assert (shown.total_discount_amounts, shown.total_pretax_credit_amounts) == ([], [])
