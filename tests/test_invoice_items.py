"""Invoice items through the official SDK against a live server, on SQLite and PostgreSQL:
the four ways of pricing one (amount, a stored price with tiers, price_data,
unit_amount_decimal), pending until invoiced, changes while pending or on a draft, the
refusals once their invoice is finalized, lists and events."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import stripe

from tests.test_subscriptions import clock_customer, monthly_price, subscribe

Client = stripe.StripeClient


def refused(call: Callable[[], object]) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        call()
    return raised.value


def customer(client: Client) -> stripe.Customer:
    return client.v1.customers.create(params={"email": "items@example.com"})


def product(client: Client) -> stripe.Product:
    return client.v1.products.create(params={"name": "Widget"})


def event_types(client: Client, object_id: str) -> list[str]:
    listed = client.v1.events.list(params={"limit": 100})
    return sorted(e.type for e in listed.data if e.data.object.to_dict().get("id") == object_id)


def item(client: Client, customer_id: str, **params: Any) -> stripe.InvoiceItem:
    given: Any = {"customer": customer_id, **params}
    return client.v1.invoice_items.create(params=given)


def test_an_item_priced_by_amount_is_pending_until_invoiced(client: Client) -> None:
    who = customer(client)
    created = item(
        client,
        who.id,
        amount=1500,
        currency="usd",
        description="Setup fee",
        metadata={"order": "42"},
        period={"start": 1_800_000_000, "end": 1_800_086_400},
    )
    assert created.object == "invoiceitem"
    assert created.id.startswith("ii_")
    assert (created.amount, created.currency, created.quantity) == (1500, "usd", 1)
    assert created.invoice is None
    assert created.discountable is True
    assert created.net_amount is None
    assert created.pricing is not None
    assert created.pricing.to_dict() == {
        "price_details": None,
        "type": "price_details",
        "unit_amount_decimal": Decimal("1500"),
    }
    assert created.period.start == 1_800_000_000
    assert created.to_dict()["metadata"] == {"order": "42"}
    assert "created" not in created.to_dict()
    assert client.v1.invoice_items.retrieve(created.id).to_dict() == created.to_dict()
    assert event_types(client, created.id) == ["invoiceitem.created"]


def test_a_negative_amount_is_a_credit_and_not_discountable_by_default(client: Client) -> None:
    credit = item(client, customer(client).id, amount=-300, currency="usd")
    assert (credit.amount, credit.discountable, credit.net_amount) == (-300, False, -300)


@pytest.mark.parametrize(
    ("discountable", "credit_taken", "total"),
    [
        (True, [-200], 300),  # half of the net 600: the credit takes its share, negative
        (False, [], 100),  # half of the 1000 charge only, the credit left whole
    ],
)
def test_a_credit_made_discountable_takes_its_share_of_an_invoice_discount(
    client: Client, discountable: bool, credit_taken: list[int], total: int
) -> None:
    """Stripe: `discountable` "Defaults to false for prorations or negative invoice items";
    set true, a credit item takes discounts too (only prorations cannot be)."""
    who = customer(client)
    half = client.v1.coupons.create(params={"percent_off": 50})
    invoice = client.v1.invoices.create(
        params={"customer": who.id, "discounts": [{"coupon": half.id}]}
    )
    item(client, who.id, amount=1000, currency="usd", invoice=invoice.id)
    credit = item(
        client, who.id, amount=-400, currency="usd", invoice=invoice.id, discountable=discountable
    )
    assert credit.discountable is discountable
    drafted = client.v1.invoices.retrieve(invoice.id)
    taken = {
        line.amount: [int(d.amount) for d in line.discount_amounts or []]
        for line in drafted.lines.data
    }
    assert taken == {1000: [500], -400: credit_taken}
    assert (drafted.subtotal, drafted.total) == (600, total)


def test_a_price_with_a_custom_unit_amount_is_refused_naming_the_price_param(
    client: Client,
) -> None:
    custom = client.v1.prices.create(
        params={
            "product": product(client).id,
            "currency": "usd",
            "custom_unit_amount": {"enabled": True},
        }
    )
    who = customer(client)
    refusal = refused(lambda: item(client, who.id, pricing={"price": custom.id}))
    assert refusal.param == "pricing[price]"
    fixed = item(client, who.id, amount=100, currency="usd")
    changed = refused(
        lambda: client.v1.invoice_items.update(fixed.id, params={"pricing": {"price": custom.id}})
    )
    assert changed.param == "pricing[price]"
    preview = refused(
        lambda: client.v1.invoices.create_preview(
            params={"customer": who.id, "invoice_items": [{"price": custom.id}]}
        )
    )
    assert preview.param == "invoice_items[0][price]"


def test_an_item_of_a_stored_price_bills_its_quantity(client: Client) -> None:
    who = customer(client)
    price = client.v1.prices.create(
        params={"product": product(client).id, "currency": "usd", "unit_amount": 250}
    )
    created = item(client, who.id, pricing={"price": price.id}, quantity=3)
    assert (created.amount, created.quantity, created.currency) == (750, 3, "usd")
    assert created.pricing is not None and created.pricing.price_details is not None
    assert created.pricing.price_details.price == price.id
    assert created.pricing.unit_amount_decimal is not None


@pytest.mark.parametrize(
    ("mode", "quantity", "amount"),
    [
        # 1-5 at 7.00, 6+ at 6.50, plus a 2.00 flat fee in each tier entered (graduated) or
        # in the tier the whole quantity falls in (volume).
        ("graduated", 5, 5 * 700 + 200),
        ("graduated", 8, 5 * 700 + 200 + 3 * 650 + 200),
        ("volume", 5, 5 * 700 + 200),
        ("volume", 8, 8 * 650 + 200),
    ],
)
def test_tiered_prices_on_items(client: Client, mode: str, quantity: int, amount: int) -> None:
    price = client.v1.prices.create(
        params={
            "product": product(client).id,
            "currency": "usd",
            "billing_scheme": "tiered",
            "tiers_mode": mode,
            "tiers": [
                {"up_to": 5, "unit_amount": 700, "flat_amount": 200},
                {"up_to": "inf", "unit_amount": 650, "flat_amount": 200},
            ],
        }
    )
    created = item(client, customer(client).id, pricing={"price": price.id}, quantity=quantity)
    assert created.amount == amount


def test_price_data_makes_an_inactive_one_time_price(client: Client) -> None:
    made = item(
        client,
        customer(client).id,
        price_data={"currency": "eur", "product": product(client).id, "unit_amount": 499},
        quantity=2,
    )
    assert (made.amount, made.currency) == (998, "eur")
    assert made.pricing is not None and made.pricing.price_details is not None
    price = client.v1.prices.retrieve(str(made.pricing.price_details.price))
    assert (price.active, price.unit_amount, price.type) == (False, 499, "one_time")


def test_price_data_refusals_name_the_price_data_parameter(client: Client) -> None:
    who = customer(client)
    data: dict[str, Any] = {"currency": "usd", "product": "prod_nope", "unit_amount": 5}
    no_product = refused(lambda: item(client, who.id, price_data=data))
    assert (no_product.http_status, no_product.code) == (404, "resource_missing")
    assert no_product.param == "price_data[product]"
    data = {"currency": "usd", "product": product(client).id}
    no_amount = refused(lambda: item(client, who.id, price_data=data))
    assert (no_amount.code, no_amount.param) == ("parameter_missing", "price_data[unit_amount]")
    both = refused(
        lambda: item(
            client, who.id, price_data={**data, "unit_amount": 5, "unit_amount_decimal": "5"}
        )
    )
    assert both.param == "price_data[unit_amount_decimal]"


def test_a_preview_item_priced_by_price_data_stores_no_price(client: Client) -> None:
    """`create_preview`'s `invoice_items[][price_data]` prices the item as an invoice item's
    `price_data` does (4.99 a unit, two of them), and, the preview storing nothing, leaves no
    price behind; its refusals name the preview's parameter."""
    who, made_for = customer(client), product(client)
    data: Any = {"currency": "usd", "product": made_for.id, "unit_amount": 499}

    def preview(**spec: Any) -> stripe.Invoice:
        params: Any = {"customer": who.id, "invoice_items": [spec]}
        return client.v1.invoices.create_preview(params=params)

    (line,) = preview(price_data=data, quantity=2).lines.data
    assert (line.amount, line.currency, line.quantity) == (998, "usd", 2)
    assert line.pricing is not None and line.pricing.price_details is not None
    assert line.pricing.price_details.product == made_for.id
    assert client.v1.prices.list(params={"product": made_for.id}).data == []
    missing = refused(lambda: preview(price_data={**data, "product": "prod_nope"}))
    assert (missing.http_status, missing.param) == (404, "invoice_items[0][price_data][product]")
    no_amount = refused(lambda: preview(price_data={"currency": "usd", "product": made_for.id}))
    assert (no_amount.code, no_amount.param) == (
        "parameter_missing",
        "invoice_items[0][price_data][unit_amount]",
    )
    both = refused(lambda: preview(price_data=data, amount=5, currency="usd"))
    assert both.param == "invoice_items[0][price_data]"


def test_an_empty_decimal_is_called_empty(client: Client) -> None:
    made = item(client, customer(client).id, amount=100, currency="usd")
    sent: Any = {"unit_amount_decimal": ""}
    empty = refused(lambda: client.v1.invoice_items.update(made.id, params=sent))
    assert empty.param == "unit_amount_decimal"
    assert "object or a list" not in str(empty.user_message)


def test_a_decimal_unit_amount_is_rounded_once_per_line_half_up(client: Client) -> None:
    # Stripe's decimal-amounts guide: 0.05 cents times 30 is 1.5 cents, billed as 2.
    made = item(
        client, customer(client).id, currency="usd", unit_amount_decimal="0.05", quantity=30
    )
    assert made.amount == 2
    assert made.pricing is not None and made.pricing.unit_amount_decimal is not None


def test_item_refusals_name_the_parameter(client: Client) -> None:
    who = customer(client)
    missing = refused(lambda: item(client, who.id, currency="usd"))
    assert (missing.code, missing.param) == ("parameter_missing", "amount")
    no_currency = refused(lambda: item(client, who.id, amount=100))
    assert no_currency.param == "currency"
    price = client.v1.prices.create(
        params={"product": product(client).id, "currency": "usd", "unit_amount": 100}
    )
    both = refused(
        lambda: item(client, who.id, amount=100, currency="usd", pricing={"price": price.id})
    )
    assert both.param == "pricing"
    with_quantity = refused(lambda: item(client, who.id, amount=100, currency="usd", quantity=2))
    assert with_quantity.param == "quantity"
    other_currency = refused(
        lambda: item(client, who.id, pricing={"price": price.id}, currency="eur")
    )
    assert other_currency.param == "currency"
    client.v1.prices.update(price.id, params={"active": False})
    inactive = refused(lambda: item(client, who.id, pricing={"price": price.id}))
    assert inactive.param == "pricing[price]"
    nobody = refused(lambda: item(client, "cus_nobody", amount=100, currency="usd"))
    assert (nobody.code, nobody.param) == ("resource_missing", "customer")
    unknown_rate = refused(
        lambda: item(client, who.id, amount=100, currency="usd", tax_rates=["txr_nope"])
    )
    assert unknown_rate.param == "tax_rates[0]"


def test_a_pending_item_changes_and_is_deleted(client: Client) -> None:
    who = customer(client)
    price = client.v1.prices.create(
        params={"product": product(client).id, "currency": "usd", "unit_amount": 300}
    )
    rate = client.v1.tax_rates.create(
        params={"display_name": "VAT", "percentage": 20, "inclusive": False}
    )
    made = item(client, who.id, pricing={"price": price.id})
    more = client.v1.invoice_items.update(
        made.id,
        params={
            "quantity": 4,
            "description": "Four",
            "tax_rates": [rate.id],
            "metadata": {"a": "b"},
        },
    )
    assert (more.amount, more.quantity, more.description) == (1200, 4, "Four")
    assert [r.id for r in more.tax_rates or []] == [rate.id]
    cleared = client.v1.invoice_items.update(made.id, params={"tax_rates": ""})
    assert cleared.tax_rates == []
    deleted = client.v1.invoice_items.delete(made.id)
    assert deleted.to_dict() == {"id": made.id, "object": "invoiceitem", "deleted": True}
    gone = refused(lambda: client.v1.invoice_items.retrieve(made.id))
    assert gone.code == "resource_missing"
    assert event_types(client, made.id) == ["invoiceitem.created", "invoiceitem.deleted"]


def test_lists_filter_by_customer_invoice_and_pending(client: Client) -> None:
    first, second = customer(client), customer(client)
    pending = item(client, first.id, amount=100, currency="usd")
    invoice = client.v1.invoices.create(params={"customer": first.id})
    on_invoice = item(client, first.id, amount=200, currency="usd", invoice=invoice.id)
    other = item(client, second.id, amount=300, currency="usd")

    def ids(**params: Any) -> list[str]:
        given: Any = params
        return [i.id for i in client.v1.invoice_items.list(params=given).data]

    assert ids(customer=first.id) == [on_invoice.id, pending.id]
    assert ids(customer=first.id, pending=True) == [pending.id]
    assert ids(customer=first.id, pending=False) == [on_invoice.id]
    assert ids(invoice=invoice.id) == [on_invoice.id]
    assert ids() == [other.id, on_invoice.id, pending.id]
    assert ids(limit=1, starting_after=on_invoice.id) == [pending.id]


def test_an_item_put_on_a_draft_changes_its_totals(client: Client) -> None:
    who = customer(client)
    invoice = client.v1.invoices.create(params={"customer": who.id})
    added = item(client, who.id, amount=700, currency="usd", invoice=invoice.id)
    assert added.invoice == invoice.id
    draft = client.v1.invoices.retrieve(invoice.id)
    assert (draft.subtotal, draft.total, draft.amount_due) == (700, 700, 700)
    assert [line.parent.invoice_item_details.invoice_item for line in draft.lines.data] == [  # type: ignore[union-attr]
        added.id
    ]
    client.v1.invoice_items.update(added.id, params={"amount": 900})
    assert client.v1.invoices.retrieve(invoice.id).total == 900
    client.v1.invoice_items.delete(added.id)
    emptied = client.v1.invoices.retrieve(invoice.id)
    assert (emptied.total, emptied.lines.data) == (0, [])
    assert "invoice.updated" in event_types(client, invoice.id)


def test_items_on_a_finalized_invoice_cannot_change(client: Client) -> None:
    who = customer(client)
    invoice = client.v1.invoices.create(params={"customer": who.id})
    on_it = item(client, who.id, amount=700, currency="usd", invoice=invoice.id)
    client.v1.invoices.finalize_invoice(invoice.id)
    late = refused(lambda: item(client, who.id, amount=100, currency="usd", invoice=invoice.id))
    assert (late.code, late.param) == ("invoice_not_editable", "invoice")
    changed = refused(lambda: client.v1.invoice_items.update(on_it.id, params={"amount": 1}))
    assert changed.code == "invoice_not_editable"
    removed = refused(lambda: client.v1.invoice_items.delete(on_it.id))
    assert removed.code == "invoice_not_editable"
    other = customer(client)
    draft = client.v1.invoices.create(params={"customer": who.id})
    wrong_customer = refused(
        lambda: item(client, other.id, amount=100, currency="usd", invoice=draft.id)
    )
    assert wrong_customer.param == "invoice"
    wrong_currency = refused(
        lambda: item(client, who.id, amount=100, currency="eur", invoice=draft.id)
    )
    assert wrong_currency.param == "currency"


def pending_ids(client: Client, customer_id: str) -> list[str]:
    listed = client.v1.invoice_items.list(params={"customer": customer_id, "pending": True})
    return [i.id for i in listed.data]


def test_deleting_a_draft_puts_its_items_back_to_pending(client: Client) -> None:
    """Kassa's choice (Stripe documents neither): an item outlives its deleted draft,
    pending again, so nothing billable is lost; the integration may delete it."""
    who = customer(client)
    taken = item(client, who.id, amount=111, currency="usd")
    draft = client.v1.invoices.create(
        params={"customer": who.id, "pending_invoice_items_behavior": "include"}
    )
    added = item(client, who.id, amount=222, currency="usd", invoice=draft.id)
    assert pending_ids(client, who.id) == []
    client.v1.invoices.delete(draft.id)
    for released in (taken, added):
        assert client.v1.invoice_items.retrieve(released.id).invoice is None
        assert event_types(client, released.id) == ["invoiceitem.created"]
    assert pending_ids(client, who.id) == [added.id, taken.id]
    changed = client.v1.invoice_items.update(taken.id, params={"amount": 150})
    assert (changed.amount, changed.invoice) == (150, None)
    client.v1.invoice_items.delete(added.id)
    billed = client.v1.invoices.create(
        params={"customer": who.id, "pending_invoice_items_behavior": "include"}
    )
    assert billed.total == 150
    assert client.v1.invoice_items.retrieve(taken.id).invoice == billed.id


def test_an_item_released_from_a_deleted_draft_drops_the_drafts_discount(
    client: Client,
) -> None:
    who = customer(client)
    half = client.v1.coupons.create(params={"percent_off": 50})
    draft = client.v1.invoices.create(
        params={"customer": who.id, "discounts": [{"coupon": half.id}]}
    )
    drafts_discount = str(draft.discounts[0])
    reusing = item(
        client,
        who.id,
        amount=400,
        currency="usd",
        invoice=draft.id,
        discounts=[{"discount": drafts_discount}],
    )
    assert reusing.discounts == [drafts_discount]
    client.v1.invoices.delete(draft.id)
    released = client.v1.invoice_items.retrieve(reusing.id)
    assert (released.invoice, released.discounts) == (None, [])
    billed = client.v1.invoices.create(
        params={"customer": who.id, "pending_invoice_items_behavior": "include"}
    )
    assert billed.total == 400


def test_a_subscriptions_item_released_from_a_deleted_draft_waits_for_it(
    client: Client,
) -> None:
    _, who = clock_customer(client)
    subscription = subscribe(client, who.id, monthly_price(client).id)
    draft = client.v1.invoices.create(params={"customer": who.id})
    for_subscription = item(
        client,
        who.id,
        amount=300,
        currency="usd",
        invoice=draft.id,
        subscription=subscription.id,
    )
    client.v1.invoices.delete(draft.id)
    released = client.v1.invoice_items.retrieve(for_subscription.id)
    assert released.invoice is None
    assert released.parent is not None and released.parent.subscription_details is not None
    assert released.parent.subscription_details.subscription == subscription.id
    one_off = client.v1.invoices.create(
        params={"customer": who.id, "pending_invoice_items_behavior": "include"}
    )
    assert one_off.lines.data == []
    its_own = client.v1.invoices.create(
        params={
            "customer": who.id,
            "subscription": subscription.id,
            "pending_invoice_items_behavior": "include",
        }
    )
    assert its_own.total == 300
