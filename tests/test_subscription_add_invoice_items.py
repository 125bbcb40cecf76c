"""`add_invoice_items` on `POST /v1/subscriptions` and `POST /v1/subscriptions/{id}`, through
the SDK on a real `kassa serve` (SQLite and PostgreSQL) driven by test clocks: one-off
charges (one-time prices, or `price_data` inline) billed on the subscription's first invoice
(also when it starts with a trial), on the invoice an update makes at once
(`always_invoice`), or left pending for the next renewal; each an invoice item announced
with `invoiceitem.created` and naming the subscription; refusals naming the parameter as
Stripe does, with nothing written; the ledger whole after each.

A 20.00 monthly subscription from January 31, 2027; a 5.00 one-time setup fee."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.test_coupons_tax_rates import coupon, tax_rate
from tests.test_subscription_changes import DECLINING_CARD, change, pending_of
from tests.test_subscription_scheduled_end import preview
from tests.test_subscriptions import (
    JAN_31_2027,
    Client,
    advance,
    clock_customer,
    events_of,
    invoices_of,
    monthly_price,
    subscribe,
    utc,
)

HOUR = 3_600


def setup_fee(client: Client, amount: int = 500, currency: str = "usd") -> stripe.Price:
    return client.v1.prices.create(
        params={"currency": currency, "unit_amount": amount, "product_data": {"name": "Setup"}}
    )


def one_off_lines(invoice: stripe.Invoice) -> list[stripe.InvoiceLineItem]:
    """The invoice's lines made by invoice items (not by the subscription's items)."""
    return [
        line
        for line in invoice.lines.data
        if line.parent is not None and line.parent.type == "invoice_item_details"
    ]


def item_of(client: Client, line: stripe.InvoiceLineItem) -> stripe.InvoiceItem:
    assert line.parent is not None and line.parent.invoice_item_details is not None
    return client.v1.invoice_items.retrieve(line.parent.invoice_item_details.invoice_item)


def names_subscription(item: stripe.InvoiceItem, subscription_id: str) -> bool:
    details = item.parent.subscription_details if item.parent is not None else None
    return details is not None and details.subscription == subscription_id


def subscribed_until(
    client: Client, day: int
) -> tuple[str, stripe.Customer, stripe.Subscription, stripe.Price]:
    """A 20.00 monthly subscription from January 31, 2027, its clock advanced to February
    `day`: the clock, the customer, the subscription, and a 5.00 setup fee to add."""
    price, fee = monthly_price(client), setup_fee(client)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    advance(client, clock_id, utc(2027, 2, day))
    return clock_id, customer, subscription, fee


# -- on create: the first invoice ------------------------------------------------------------


def test_the_first_invoice_bills_the_items_added_with_the_recurring_ones(
    client: Client, ledger_verified: None
) -> None:
    price, fee = monthly_price(client), setup_fee(client)
    _, customer = clock_customer(client)
    subscription = subscribe(
        client,
        customer.id,
        price.id,
        add_invoice_items=[{"price": fee.id, "quantity": 2, "metadata": {"kind": "setup"}}],
    )
    assert subscription.status == "active"
    (first,) = invoices_of(client, subscription.id)
    assert (first.billing_reason, first.status) == ("subscription_create", "paid")
    assert first.total == first.amount_paid == 2000 + 2 * 500
    (line,) = one_off_lines(first)
    assert (line.amount, line.quantity, line.metadata.to_dict()) == (1000, 2, {"kind": "setup"})
    assert line.pricing is not None and line.pricing.price_details is not None
    assert line.pricing.price_details.price == fee.id
    assert line.parent is not None and line.parent.invoice_item_details is not None
    assert line.parent.invoice_item_details.subscription == subscription.id
    item = item_of(client, line)
    assert item.invoice == first.id and names_subscription(item, subscription.id)
    assert item.proration is False
    # The item's period defaults to the subscription items' period.
    (sub_item,) = subscription["items"].data
    assert (item.period.start, item.period.end) == (
        sub_item.current_period_start,
        sub_item.current_period_end,
    )
    assert "invoiceitem.created" in events_of(client, item.id)
    assert pending_of(client, customer.id) == []


def test_a_trial_s_first_invoice_bills_only_the_items_added(
    client: Client, ledger_verified: None
) -> None:
    price, fee = monthly_price(client), setup_fee(client)
    _, customer = clock_customer(client)
    subscription = subscribe(
        client, customer.id, price.id, trial_period_days=14, add_invoice_items=[{"price": fee.id}]
    )
    assert subscription.status == "trialing"
    (first,) = invoices_of(client, subscription.id)
    assert (first.status, first.total, first.amount_paid) == ("paid", 500, 500)
    assert sorted(line.amount for line in first.lines.data) == [0, 500]
    (line,) = one_off_lines(first)
    assert line.amount == 500


def test_price_data_makes_a_one_off_inline_price(client: Client, ledger_verified: None) -> None:
    price = monthly_price(client)
    product = client.v1.products.create(params={"name": "Onboarding"})
    _, customer = clock_customer(client)
    subscription = subscribe(
        client,
        customer.id,
        price.id,
        add_invoice_items=[
            {
                "price_data": {"currency": "usd", "product": product.id, "unit_amount": 750},
                "quantity": 3,
            }
        ],
    )
    (first,) = invoices_of(client, subscription.id)
    assert first.total == 2000 + 3 * 750
    (line,) = one_off_lines(first)
    assert line.amount == 2250
    assert line.pricing is not None and line.pricing.price_details is not None
    inline = client.v1.prices.retrieve(str(line.pricing.price_details.price))
    assert (inline.type, inline.active, inline.product) == ("one_time", False, product.id)
    assert inline.unit_amount == 750


# -- on update --------------------------------------------------------------------------------


def test_always_invoice_bills_the_items_added_on_the_invoice_it_makes_now(
    client: Client, ledger_verified: None
) -> None:
    clock_id, customer, subscription, fee = subscribed_until(client, 10)
    updated = change(
        client,
        subscription.id,
        add_invoice_items=[{"price": fee.id}],
        proration_behavior="always_invoice",
    )
    _, now = invoices_of(client, subscription.id)
    assert updated.latest_invoice == now.id
    assert (now.billing_reason, now.status, now.total) == ("subscription_update", "paid", 500)
    (line,) = one_off_lines(now)
    assert names_subscription(item_of(client, line), subscription.id)
    assert pending_of(client, customer.id) == []
    # The renewal bills the subscription's price only.
    advance(client, clock_id, utc(2027, 2, 28) + 2 * HOUR)
    renewal = invoices_of(client, subscription.id)[-1]
    assert (renewal.billing_reason, renewal.total) == ("subscription_cycle", 2000)


def test_always_invoice_with_an_item_change_bills_both_at_once(
    client: Client, ledger_verified: None
) -> None:
    price, fee = monthly_price(client, 2800), setup_fee(client)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    advance(client, clock_id, utc(2027, 2, 14))
    (item,) = subscription["items"].data
    change(
        client,
        subscription.id,
        items=[{"id": item.id, "quantity": 2}],
        add_invoice_items=[{"price": fee.id}],
        proration_behavior="always_invoice",
    )
    now = invoices_of(client, subscription.id)[-1]
    # 14 of 28 days left: the second seat's half month, and the fee.
    assert now.total == 1400 + 500
    assert [line.amount for line in one_off_lines(now)] == [500]


def test_create_prorations_leaves_them_pending_for_the_next_renewal(
    client: Client, ledger_verified: None
) -> None:
    clock_id, customer, subscription, fee = subscribed_until(client, 10)
    change(client, subscription.id, add_invoice_items=[{"price": fee.id, "quantity": 3}])
    assert len(invoices_of(client, subscription.id)) == 1
    (pending,) = pending_of(client, customer.id)
    assert (pending.amount, pending.invoice) == (1500, None)
    assert names_subscription(pending, subscription.id)
    assert "invoiceitem.created" in events_of(client, pending.id)
    # The upcoming invoice shows it, with a change previewed too.
    upcoming = preview(client, subscription.id, proration_behavior="none")
    assert upcoming.total == 2000 + 1500
    advance(client, clock_id, utc(2027, 2, 28) + 2 * HOUR)
    renewal = invoices_of(client, subscription.id)[-1]
    assert (renewal.billing_reason, renewal.status) == ("subscription_cycle", "paid")
    assert renewal.total == renewal.amount_paid == 2000 + 1500
    (line,) = one_off_lines(renewal)
    assert line.parent is not None and line.parent.invoice_item_details is not None
    assert line.parent.invoice_item_details.invoice_item == pending.id
    assert pending_of(client, customer.id) == []


def test_a_billing_cycle_reset_bills_them_with_the_new_period(
    client: Client, ledger_verified: None
) -> None:
    _, customer, subscription, fee = subscribed_until(client, 14)
    change(
        client,
        subscription.id,
        add_invoice_items=[{"price": fee.id}],
        billing_cycle_anchor={"type": "now"},
        proration_behavior="none",
    )
    reset = invoices_of(client, subscription.id)[-1]
    assert (reset.billing_reason, reset.status) == ("subscription_update", "paid")
    assert reset.total == 2000 + 500
    assert [line.amount for line in one_off_lines(reset)] == [500]
    assert pending_of(client, customer.id) == []


def test_trial_end_now_bills_them_with_the_first_paid_period(
    client: Client, ledger_verified: None
) -> None:
    price, fee = monthly_price(client), setup_fee(client)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id, trial_period_days=14)
    advance(client, clock_id, utc(2027, 2, 3))
    # On a trial `always_invoice` invoices nothing: the fee waits for the trial's end.
    change(
        client,
        subscription.id,
        add_invoice_items=[{"price": fee.id}],
        proration_behavior="always_invoice",
    )
    assert len(invoices_of(client, subscription.id)) == 1
    assert [item.amount for item in pending_of(client, customer.id)] == [500]
    ended = change(client, subscription.id, trial_end="now")
    assert ended.status == "active"
    first_paid = invoices_of(client, subscription.id)[-1]
    assert (first_paid.billing_reason, first_paid.status) == ("subscription_update", "paid")
    assert first_paid.total == 2000 + 500
    assert pending_of(client, customer.id) == []


def test_an_added_item_takes_its_discounts_and_tax_rates(
    client: Client, ledger_verified: None
) -> None:
    price, fee = monthly_price(client), setup_fee(client, 1000)
    half_off = coupon(client, percent_off=50)
    vat = tax_rate(client, percentage=10)
    _, customer = clock_customer(client)
    subscription = subscribe(
        client,
        customer.id,
        price.id,
        add_invoice_items=[
            {"price": fee.id, "discounts": [{"coupon": half_off.id}], "tax_rates": [vat.id]}
        ],
    )
    (first,) = invoices_of(client, subscription.id)
    # The fee: 1000 less 500 off, plus 10% of 500; the plan untouched.
    assert first.total == first.amount_paid == 2000 + 500 + 50
    (line,) = one_off_lines(first)
    assert [d.amount for d in line.discount_amounts or []] == [500]


def test_an_explicit_period_is_the_item_s(client: Client) -> None:
    price, fee = monthly_price(client), setup_fee(client)
    _, customer = clock_customer(client)
    period = {
        "start": {"type": "now"},
        "end": {"type": "timestamp", "timestamp": JAN_31_2027 + 7 * 24 * HOUR},
    }
    subscription = subscribe(
        client, customer.id, price.id, add_invoice_items=[{"price": fee.id, "period": period}]
    )
    (line,) = one_off_lines(invoices_of(client, subscription.id)[0])
    assert (line.period.start, line.period.end) == (JAN_31_2027, JAN_31_2027 + 7 * 24 * HOUR)


# -- refusals ---------------------------------------------------------------------------------


def test_refusals_name_the_parameter_and_write_nothing(client: Client) -> None:
    price, fee = monthly_price(client), setup_fee(client)
    euro_fee = setup_fee(client, currency="eur")
    product = client.v1.products.create(params={"name": "Onboarding"})
    _, customer = clock_customer(client)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"price": price.id}, "add_invoice_items[0][price]"),  # recurring
        ({"price": euro_fee.id}, "add_invoice_items[0][price]"),
        ({"price": "price_nope"}, "add_invoice_items[0][price]"),
        ({"quantity": 2}, "add_invoice_items[0][price]"),
        (
            {"price": fee.id, "price_data": {"currency": "usd", "product": product.id}},
            "add_invoice_items[0][price_data]",
        ),
        (
            {"price_data": {"currency": "eur", "product": product.id, "unit_amount": 100}},
            "add_invoice_items[0][price_data][currency]",
        ),
        (
            {"price_data": {"currency": "usd", "product": "prod_nope", "unit_amount": 100}},
            "add_invoice_items[0][price_data][product]",
        ),
        ({"price": fee.id, "tax_rates": ["txr_nope"]}, "add_invoice_items[0][tax_rates][0]"),
        (
            {
                "price": fee.id,
                "period": {
                    "start": {"type": "timestamp", "timestamp": JAN_31_2027},
                    "end": {"type": "timestamp", "timestamp": JAN_31_2027 - 1},
                },
            },
            "add_invoice_items[0][period][end]",
        ),
        (
            {
                "price": fee.id,
                "period": {"start": {"type": "timestamp"}, "end": {"type": "min_item_period_end"}},
            },
            "add_invoice_items[0][period][start][timestamp]",
        ),
    ]
    for entry, param in cases:
        with pytest.raises(stripe.InvalidRequestError) as raised:
            subscribe(client, customer.id, price.id, add_invoice_items=[entry])
        assert raised.value.param == param, (entry, raised.value)
    with pytest.raises(stripe.InvalidRequestError) as too_many:
        subscribe(client, customer.id, price.id, add_invoice_items=[{"price": fee.id}] * 21)
    assert too_many.value.param == "add_invoice_items"
    every: Any = {"customer": customer.id, "status": "all"}
    assert client.v1.subscriptions.list(params=every).data == []
    assert client.v1.invoice_items.list(params={"customer": customer.id}).data == []
    # On update as on create, and nothing pending after.
    subscription = subscribe(client, customer.id, price.id)
    for entry, param in cases[:4]:
        with pytest.raises(stripe.InvalidRequestError) as raised:
            change(client, subscription.id, add_invoice_items=[entry])
        assert raised.value.param == param, (entry, raised.value)
    assert pending_of(client, customer.id) == []
    assert len(invoices_of(client, subscription.id)) == 1
    with pytest.raises(stripe.InvalidRequestError) as held:
        change(
            client,
            subscription.id,
            add_invoice_items=[{"price": fee.id}],
            payment_behavior="pending_if_incomplete",
            proration_behavior="always_invoice",
        )
    assert held.value.param == "add_invoice_items"
    _, declined = clock_customer(client, card=DECLINING_CARD)
    incomplete = subscribe(client, declined.id, price.id)
    assert incomplete.status == "incomplete"
    with pytest.raises(stripe.InvalidRequestError) as waiting:
        change(client, incomplete.id, add_invoice_items=[{"price": fee.id}])
    assert waiting.value.param == "add_invoice_items"
    assert pending_of(client, customer.id) == pending_of(client, declined.id) == []
