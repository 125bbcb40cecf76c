"""The terms `/v1/subscription_items` takes for one item, through the SDK on a real `kassa
serve` (SQLite and PostgreSQL) driven by test clocks: its `tax_rates` and `discounts` (set,
replaced, cleared with ""), an inline price (`price_data`), `off_session`; each billed exactly
as the same change made through `items[]` of `POST /v1/subscriptions/{id}` bills it; and the
parameters Kassa does not take (`billing_thresholds`, `current_trial`) refused by name,
changing nothing.

Amounts by hand: a proration is `amount * unused / period` in whole days, rounded half up to
whole cents; an exclusive rate's tax is `amount * rate`, rounded half up per line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import stripe

from tests.test_subscription_changes import at, change, only_item, pending_of
from tests.test_subscriptions import (
    Client,
    advance,
    clock_customer,
    invoices_of,
    monthly_price,
    subscribe,
)

Added = Callable[[Client, stripe.Subscription, dict[str, Any]], None]
"""Adds an item with the given parameters to the subscription, by one route or the other."""


def through_subscription_items(
    client: Client, subscription: stripe.Subscription, item: dict[str, Any]
) -> None:
    params: Any = {"subscription": subscription.id, **item}
    client.v1.subscription_items.create(params=params)


def through_subscription_update(
    client: Client, subscription: stripe.Subscription, item: dict[str, Any]
) -> None:
    how = {k: item.pop(k) for k in ("proration_behavior",) if k in item}
    change(client, subscription.id, items=[item], **how)


ROUTES = pytest.mark.parametrize(
    "add", [through_subscription_items, through_subscription_update], ids=["item", "update"]
)


def tax_rate(client: Client, percentage: int) -> stripe.TaxRate:
    params: Any = {"display_name": "VAT", "percentage": percentage, "inclusive": False}
    return client.v1.tax_rates.create(params=params)


def billed_lines(invoice: stripe.Invoice) -> list[tuple[int, list[int], list[int]]]:
    """Each line's amount, its discounts' amounts and its taxes' amounts, by amount."""
    return sorted(
        (
            line.amount,
            [d.amount for d in line.discount_amounts or []],
            [t.amount for t in line.taxes or []],
        )
        for line in invoice.lines.data
    )


def item_priced(subscription: stripe.Subscription, price_id: str) -> stripe.SubscriptionItem:
    items: list[stripe.SubscriptionItem] = subscription["items"].data
    return next(i for i in items if i.price.id == price_id)


def seats_subscription(client: Client) -> tuple[str, stripe.Customer, stripe.Subscription]:
    """A 2000 monthly base subscription from 1 February 2027 (a 28-day month)."""
    clock_id, customer = clock_customer(client, at(2027, 2, 1))
    return clock_id, customer, subscribe(client, customer.id, monthly_price(client, 2000).id)


# -- tax rates and discounts --------------------------------------------------------------------


@ROUTES
def test_an_added_items_tax_rates_and_discounts_apply_to_its_renewal_line(
    client: Client, add: Added, ledger_verified: None
) -> None:
    seats = monthly_price(client, 1000)
    rate = tax_rate(client, 20)
    coupon = client.v1.coupons.create(
        params={"amount_off": 300, "currency": "usd", "duration": "forever"}
    )
    clock_id, _, subscription = seats_subscription(client)
    item = {
        "price": seats.id,
        "tax_rates": [rate.id],
        "discounts": [{"coupon": coupon.id}],
        "proration_behavior": "none",
    }
    add(client, subscription, item)
    added = item_priced(client.v1.subscriptions.retrieve(subscription.id), seats.id)
    # Shown as Stripe shows them: the tax rates' objects, the discounts' ids.
    assert [r.id for r in added.tax_rates or []] == [rate.id]
    (discount_id,) = added.discounts
    assert isinstance(discount_id, str) and discount_id.startswith("di_")
    assert client.v1.subscription_items.retrieve(added.id).to_dict() == added.to_dict()
    advance(client, clock_id, at(2027, 3, 2))
    renewal = invoices_of(client, subscription.id)[-1]
    # Seats: 1000 less 300 is 700, taxed 20%: 140. Base: 2000, untaxed.
    assert billed_lines(renewal) == [(1000, [300], [140]), (2000, [], [])]
    assert (renewal.total, renewal.amount_paid) == (2840, 2840)


@ROUTES
def test_an_item_added_and_invoiced_at_once_taxes_its_proration(
    client: Client, add: Added, ledger_verified: None
) -> None:
    seats, rate = monthly_price(client, 1000), tax_rate(client, 20)
    clock_id, _, subscription = seats_subscription(client)
    advance(client, clock_id, at(2027, 2, 15))
    item = {"price": seats.id, "tax_rates": [rate.id], "proration_behavior": "always_invoice"}
    add(client, subscription, item)
    invoice = invoices_of(client, subscription.id)[-1]
    # 14 of 28 days left: 1000 * 14 / 28 = 500, taxed 20%: 100.
    assert (invoice.billing_reason, billed_lines(invoice)) == (
        "subscription_update",
        [(500, [], [100])],
    )
    assert invoice.amount_paid == 600


def test_an_items_tax_rates_and_discounts_are_replaced_and_cleared(
    client: Client, ledger_verified: None
) -> None:
    rate = tax_rate(client, 20)
    coupon = client.v1.coupons.create(params={"percent_off": 50, "duration": "forever"})
    clock_id, _, subscription = seats_subscription(client)
    item_id = only_item(subscription).id
    terms: Any = {"tax_rates": [rate.id], "discounts": [{"coupon": coupon.id}]}
    taxed = client.v1.subscription_items.update(item_id, params=terms)
    assert [r.id for r in taxed.tax_rates or []] == [rate.id]
    assert len(taxed.discounts) == 1
    advance(client, clock_id, at(2027, 3, 2))
    # 2000 half off is 1000, taxed 20%: 200.
    assert billed_lines(invoices_of(client, subscription.id)[-1]) == [(2000, [1000], [200])]
    cleared = client.v1.subscription_items.update(
        item_id, params={"tax_rates": "", "discounts": ""}
    )
    assert (cleared.tax_rates, cleared.discounts) == ([], [])
    assert client.v1.subscription_items.retrieve(item_id).tax_rates == []
    advance(client, clock_id, at(2027, 4, 2))
    assert billed_lines(invoices_of(client, subscription.id)[-1]) == [(2000, [], [])]


def test_an_unknown_tax_rate_or_coupon_names_the_items_own_parameter(client: Client) -> None:
    _, _, subscription = seats_subscription(client)
    item_id = only_item(subscription).id
    sent: list[tuple[dict[str, Any], str]] = [
        ({"tax_rates": ["txr_nope"]}, "tax_rates[0]"),
        ({"discounts": [{"coupon": "nope"}]}, "discounts[0][coupon]"),
    ]
    for params, param in sent:
        with pytest.raises(stripe.InvalidRequestError) as refused:
            client.v1.subscription_items.update(item_id, params=params)  # type: ignore[arg-type]
        assert refused.value.param == param, params
    assert client.v1.subscriptions.retrieve(subscription.id).to_dict() == subscription.to_dict()


# -- price_data ---------------------------------------------------------------------------------


def price_data(client: Client, amount: int, **more: Any) -> dict[str, Any]:
    product = client.v1.products.create(params={"name": f"Seat at {amount}"})
    return {
        "currency": "usd",
        "product": product.id,
        "recurring": {"interval": "month"},
        "unit_amount": amount,
        **more,
    }


@ROUTES
def test_price_data_adds_an_item_at_an_inline_price(
    client: Client, add: Added, ledger_verified: None
) -> None:
    clock_id, customer, subscription = seats_subscription(client)
    advance(client, clock_id, at(2027, 2, 15))
    data = price_data(client, 1000)
    add(client, subscription, {"price_data": data, "quantity": 2})
    items = client.v1.subscriptions.retrieve(subscription.id)["items"].data
    inline = items[-1].price
    assert (inline.unit_amount, inline.product, inline.active) == (1000, data["product"], False)
    assert (inline.recurring and inline.recurring.interval, items[-1].quantity) == ("month", 2)
    # 14 of 28 days of 2000: 1000, pending for the renewal.
    assert [i.amount for i in pending_of(client, customer.id)] == [1000]


def test_price_data_reprices_an_item_with_prorations(client: Client, ledger_verified: None) -> None:
    clock_id, customer, subscription = seats_subscription(client)
    item_id = only_item(subscription).id
    advance(client, clock_id, at(2027, 2, 15))
    repriced: Any = {"price_data": price_data(client, 3000)}
    updated = client.v1.subscription_items.update(item_id, params=repriced)
    assert (updated.id, updated.price.unit_amount, updated.price.active) == (item_id, 3000, False)
    # 14 of 28 days: -2000 / 2 = -1000 credited, +3000 / 2 = +1500 charged.
    assert [i.amount for i in pending_of(client, customer.id)] == [-1000, 1500]
    advance(client, clock_id, at(2027, 3, 2))
    assert billed_lines(invoices_of(client, subscription.id)[-1]) == [
        (-1000, [], []),
        (1500, [], []),
        (3000, [], []),
    ]


def test_price_data_starts_a_subscription_at_an_inline_price(
    client: Client, ledger_verified: None
) -> None:
    _, customer = clock_customer(client, at(2027, 2, 1))
    items: Any = [{"price_data": price_data(client, 1200), "quantity": 3}]
    subscription = client.v1.subscriptions.create(params={"customer": customer.id, "items": items})
    item = only_item(subscription)
    assert (item.price.unit_amount, item.price.active, item.quantity) == (1200, False, 3)
    first = client.v1.invoices.retrieve(str(subscription.latest_invoice))
    assert (first.status, first.amount_paid) == ("paid", 3600)


def test_a_preview_refuses_price_data_by_name(client: Client) -> None:
    _, customer, subscription = seats_subscription(client)
    details: Any = {"items": [{"price_data": price_data(client, 900)}]}
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.invoices.create_preview(
            params={"subscription": subscription.id, "subscription_details": details}
        )
    assert refused.value.param == "subscription_details[items][0][price_data]"
    assert "Kassa does not support" in str(refused.value.user_message)
    assert client.v1.prices.list(params={"active": False}).data == []
    assert pending_of(client, customer.id) == []


def test_price_data_refusals_name_it_and_change_nothing(client: Client) -> None:
    price = monthly_price(client, 900)
    _, customer, subscription = seats_subscription(client)
    item_id = only_item(subscription).id
    without_recurring = {k: v for k, v in price_data(client, 900).items() if k != "recurring"}
    refused_creates: list[tuple[dict[str, Any], str]] = [
        ({"price": price.id, "price_data": price_data(client, 900)}, "price_data"),
        ({"price_data": price_data(client, 900, currency="eur")}, "price_data"),
        ({"price_data": without_recurring}, "price_data[recurring]"),
    ]
    for params, param in refused_creates:
        with pytest.raises(stripe.InvalidRequestError) as refused:
            create: Any = {"subscription": subscription.id, **params}
            client.v1.subscription_items.create(params=create)
        assert refused.value.param == param, params
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.subscription_items.create(params={"subscription": subscription.id})
    assert missing.value.param == "price"
    too_large: Any = {"price_data": price_data(client, 900, unit_amount=100_000_000)}
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.subscription_items.update(item_id, params=too_large)
    assert too_much.value.param == "price_data[unit_amount]"
    assert client.v1.subscriptions.retrieve(subscription.id).to_dict() == subscription.to_dict()
    assert pending_of(client, customer.id) == []


# -- off_session, and what Kassa does not take ----------------------------------------------------


def test_off_session_is_taken_on_update(client: Client) -> None:
    _, _, subscription = seats_subscription(client)
    params: Any = {"quantity": 2, "off_session": True, "proration_behavior": "always_invoice"}
    updated = client.v1.subscription_items.update(only_item(subscription).id, params=params)
    assert updated.quantity == 2
    assert invoices_of(client, subscription.id)[-1].status == "paid"


@pytest.mark.parametrize(
    ("name", "value"),
    [("billing_thresholds", {"usage_gte": 10}), ("current_trial", {"trial_offer": "to_x"})],
)
def test_parameters_kassa_does_not_take_are_refused_by_name(
    client: Client, name: str, value: dict[str, Any]
) -> None:
    price = monthly_price(client, 900)
    _, _, subscription = seats_subscription(client)
    create: Any = {"subscription": subscription.id, "price": price.id, name: value}
    update: Any = {"quantity": 2, name: value}
    attempts: list[Callable[[], object]] = [
        lambda: client.v1.subscription_items.create(params=create),
        lambda: client.v1.subscription_items.update(only_item(subscription).id, params=update),
    ]
    for attempt in attempts:
        with pytest.raises(stripe.InvalidRequestError) as refused:
            attempt()
        assert refused.value.param == name
        assert "Kassa does not support" in str(refused.value.user_message)
    assert client.v1.subscriptions.retrieve(subscription.id).to_dict() == subscription.to_dict()
