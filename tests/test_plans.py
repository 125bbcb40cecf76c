"""Plans through the official SDK against a live server, on SQLite and PostgreSQL: a plan is
a recurring price under the same id, seen by either API; subscriptions take `plan`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

import pytest
import stripe

from tests.harness import KassaServer, create_account


def _plan(client: stripe.StripeClient, **params: Any) -> stripe.Plan:
    sent = {"amount": 2500, "currency": "eur", "interval": "month", **params}
    sent.setdefault("product", {"name": "Basic"})
    return client.v1.plans.create(params=cast(Any, sent))


def _refused(call: Any, *, status: int = 400) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        call()
    assert raised.value.http_status == status, raised.value.user_message
    return raised.value


def _event_objects(client: stripe.StripeClient, event_type: str) -> list[dict[str, Any]]:
    events = client.v1.events.list(params={"type": event_type}).data
    return [cast(dict[str, Any], e.data.object) for e in events]


def test_a_plan_with_a_chosen_id_is_a_recurring_price(client: stripe.StripeClient) -> None:
    plan = _plan(
        client,
        id="basic-monthly",
        nickname="Basic",
        interval_count=3,
        trial_period_days=14,
        metadata={"tier": "basic"},
    )
    assert plan.id == "basic-monthly"
    assert plan.object == "plan"
    assert (plan.amount, plan.amount_decimal, plan.currency) == (2500, Decimal(2500), "eur")
    assert (plan.interval, plan.interval_count, plan.usage_type) == ("month", 3, "licensed")
    assert (plan.trial_period_days, plan.nickname, plan.active) == (14, "Basic", True)
    assert plan.metadata is not None and plan.metadata.to_dict() == {"tier": "basic"}
    assert plan.billing_scheme == "per_unit" and plan.transform_usage is None
    product = client.v1.products.retrieve(cast(str, plan.product))
    assert product.name == "Basic"

    price = client.v1.prices.retrieve("basic-monthly")
    assert price.object == "price" and price.type == "recurring"
    assert (price.unit_amount, price.product, price.nickname) == (2500, product.id, "Basic")
    assert price.recurring is not None
    assert (price.recurring.interval, price.recurring.interval_count) == ("month", 3)
    assert price.recurring.trial_period_days == 14
    assert client.v1.plans.retrieve("basic-monthly").to_dict() == plan.to_dict()
    assert [p["id"] for p in _event_objects(client, "plan.created")] == ["basic-monthly"]
    assert [p["id"] for p in _event_objects(client, "price.created")] == ["basic-monthly"]


def test_a_recurring_price_is_a_plan_and_a_one_time_price_is_not(
    client: stripe.StripeClient,
) -> None:
    product = client.v1.products.create(params={"name": "Gold"})
    recurring = client.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": 1000,
            "recurring": {"interval": "year"},
            "transform_quantity": {"divide_by": 10, "round": "up"},
        }
    )
    one_time = client.v1.prices.create(
        params={"product": product.id, "currency": "usd", "unit_amount": 500}
    )
    plan = client.v1.plans.retrieve(recurring.id)
    assert (plan.id, plan.amount, plan.interval, plan.product) == (
        recurring.id,
        1000,
        "year",
        product.id,
    )
    assert plan.transform_usage is not None and plan.transform_usage.divide_by == 10
    assert _refused(lambda: client.v1.plans.retrieve(one_time.id), status=404).param == "id"
    listed = client.v1.plans.list(params={"product": product.id})
    assert [p.id for p in listed.data] == [recurring.id]
    assert [p["id"] for p in _event_objects(client, "plan.created")] == [recurring.id]


def test_a_tiered_plan_shows_its_tiers_when_expanded(client: stripe.StripeClient) -> None:
    plan = _plan(
        client,
        id="seats",
        amount=None,
        interval="year",
        billing_scheme="tiered",
        tiers_mode="volume",
        tiers=[
            {"up_to": 1, "unit_amount": 500, "flat_amount": 1000},
            {"up_to": "inf", "unit_amount": 1000, "flat_amount": 1200},
        ],
    )
    assert plan.amount is None and plan.tiers_mode == "volume"
    assert "tiers" not in plan
    expanded = client.v1.plans.retrieve("seats", params={"expand": ["tiers"]})
    assert [(t.up_to, t.unit_amount, t.flat_amount) for t in expanded.tiers or []] == [
        (1, 500, 1000),
        (None, 1000, 1200),
    ]


def test_bad_plans_are_refused_naming_the_plan_parameter(client: stripe.StripeClient) -> None:
    _plan(client, id="taken")
    taken = _refused(lambda: _plan(client, id="taken"))
    assert (taken.code, taken.param) == ("resource_already_exists", "id")
    missing = _refused(lambda: _plan(client, amount=None))
    assert (missing.code, missing.param) == ("parameter_missing", "amount")
    assert "unit_amount" not in str(missing.user_message), "the message names the plan's too"
    assert "needs one of amount or amount_decimal." in str(missing.user_message)
    too_long = _refused(lambda: _plan(client, interval_count=37))
    assert too_long.param == "interval_count"
    assert str(too_long.user_message).startswith("Invalid interval_count: 37 months")
    metered = _refused(lambda: _plan(client, usage_type="metered"))
    assert metered.param == "meter"
    both = _refused(lambda: _plan(client, amount=100, amount_decimal="100.5"))
    assert both.param == "amount_decimal"
    assert "parameters: amount, amount_decimal." in str(both.user_message)
    tiered = _refused(lambda: _plan(client, billing_scheme="tiered", tiers_mode="volume"))
    assert tiered.param == "amount"
    assert str(tiered.user_message).startswith("amount cannot be used with billing_scheme")
    _plan(client, product={"name": "Gold", "id": "gold"})
    taken_product = _refused(lambda: _plan(client, product={"name": "Gold", "id": "gold"}))
    assert (taken_product.code, taken_product.param) == ("resource_already_exists", "product[id]")
    assert _refused(lambda: _plan(client, interval="fortnight")).param == "interval"
    assert _refused(lambda: _plan(client, id="no spaces")).param == "id"
    assert _refused(lambda: _plan(client, product="prod_nope"), status=404).param == "product"
    assert _refused(lambda: _plan(client, doesnotexist=1)).param == "doesnotexist"
    unknown = _refused(lambda: client.v1.plans.list(params=cast(Any, {"doesnotexist": 1})))
    assert unknown.param == "doesnotexist"


def test_plan_ids_are_per_account(server: KassaServer, client: stripe.StripeClient) -> None:
    _plan(client, id="shared-id", amount=100)
    other = server.client(create_account(server.database_url).secret_key)
    theirs = _plan(other, id="shared-id", amount=200)
    assert theirs.amount == 200
    assert client.v1.plans.retrieve("shared-id").amount == 100


def test_update_list_and_delete_a_plan(client: stripe.StripeClient) -> None:
    plan = _plan(client, id="pro")
    other = client.v1.products.create(params={"name": "Pro"})
    updated = client.v1.plans.update(
        "pro",
        params={
            "nickname": "Pro",
            "metadata": {"k": "v"},
            "trial_period_days": 7,
            "product": other.id,
            "active": False,
        },
    )
    assert (updated.nickname, updated.trial_period_days, updated.product) == ("Pro", 7, other.id)
    assert updated.metadata is not None and updated.metadata.to_dict() == {"k": "v"}
    assert updated.active is False
    assert client.v1.prices.retrieve("pro").product == other.id
    assert [p.id for p in client.v1.plans.list(params={"active": False}).data] == ["pro"]
    assert client.v1.plans.list(params={"active": True}).data == []
    previous = _event_objects(client, "plan.updated")
    assert [p["nickname"] for p in previous] == ["Pro"]
    assert _refused(lambda: client.v1.plans.update("pro", params=cast(Any, {"amount": 1})))

    deleted = client.v1.plans.delete(plan.id)
    assert (deleted.id, deleted.deleted) == ("pro", True)
    assert _refused(lambda: client.v1.plans.retrieve("pro"), status=404).code == "resource_missing"
    assert _refused(lambda: client.v1.prices.retrieve("pro"), status=404)
    assert client.v1.plans.list().data == []
    assert [p["id"] for p in _event_objects(client, "plan.deleted")] == ["pro"]
    assert [p["id"] for p in _event_objects(client, "price.deleted")] == ["pro"]
    assert _refused(lambda: _plan(client, id="pro")).code == "resource_already_exists"


@pytest.mark.usefixtures("ledger_verified")
def test_subscriptions_and_their_items_take_plan(client: stripe.StripeClient) -> None:
    _plan(client, id="monthly", amount=1500, currency="usd")
    _plan(client, id="seat", amount=300, currency="usd", product={"name": "Seat"})
    customer = client.v1.customers.create(
        params={
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    subscription = client.v1.subscriptions.create(
        params=cast(Any, {"customer": customer.id, "items": [{"plan": "monthly"}]})
    )
    assert subscription.status == "active"
    item = subscription["items"].data[0]
    assert item.plan.id == "monthly" and item.plan.object == "plan"
    assert item.price.id == "monthly"
    invoice = client.v1.invoices.retrieve(cast(str, subscription.latest_invoice))
    assert (invoice.status, invoice.amount_paid) == ("paid", 1500)

    added = client.v1.subscription_items.create(
        params=cast(Any, {"subscription": subscription.id, "plan": "seat", "quantity": 2})
    )
    assert (added.plan.id, added.price.id, added.quantity) == ("seat", "seat", 2)
    both = _refused(
        lambda: client.v1.subscriptions.create(
            params=cast(
                Any, {"customer": customer.id, "items": [{"plan": "monthly", "price": "monthly"}]}
            )
        )
    )
    assert both.param == "items[0][plan]"
    client.v1.plans.delete("seat")
    still = client.v1.subscriptions.retrieve(subscription.id)
    assert sorted(i.plan.id for i in still["items"].data) == ["monthly", "seat"]
    gone = _refused(
        lambda: client.v1.subscriptions.create(
            params=cast(Any, {"customer": customer.id, "items": [{"plan": "seat"}]})
        )
    )
    assert gone.param == "items[0][plan]"


def test_an_archived_plan_is_refused_naming_plan(client: stripe.StripeClient) -> None:
    _plan(client, id="current", currency="usd")
    _plan(client, id="old", currency="usd", product={"name": "Old"})
    client.v1.plans.update("old", params={"active": False})
    customer = client.v1.customers.create(
        params={
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    sent: Any = {"customer": customer.id, "items": [{"plan": "old"}]}
    assert _refused(lambda: client.v1.subscriptions.create(params=sent)).param == "items[0][plan]"
    sent = {"customer": customer.id, "items": [{"plan": "current"}]}
    subscription = client.v1.subscriptions.create(params=sent)
    sent = {"items": [{"plan": "old"}]}
    updated = _refused(lambda: client.v1.subscriptions.update(subscription.id, params=sent))
    assert updated.param == "items[0][plan]"
    sent = {"subscription": subscription.id, "plan": "old"}
    assert _refused(lambda: client.v1.subscription_items.create(params=sent)).param == "plan"
