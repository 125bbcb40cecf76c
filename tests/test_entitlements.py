"""Stripe's Entitlements end to end through the official SDK against a live `kassa serve`
(SQLite and PostgreSQL, one server per module): features (create, retrieve, update, archive,
list by `lookup_key` and `archived`, pages) and their refusals; a product's features (attach,
list, retrieve, detach) and theirs, each naming its parameter with nothing written; then a
customer's active entitlements following its subscriptions on a test clock: granted when the
subscription starts (not while its first payment fails), widened by a second product,
changed when a product gains or loses a feature, ids kept while they last, and all removed
when a cancellation at the period's end comes with the clock's advance, each change of the
set announced as `entitlements.active_entitlement_summary.updated` (read back through
`/v1/events`) with its `previous_attributes`."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import stripe

from kassa.clock import FrozenClock
from kassa.services import accounts
from kassa.store import Store, Transaction
from kassa.store.tables import CUSTOMERS, PRICES, PRODUCTS, SUBSCRIPTION_ITEMS, SUBSCRIPTIONS
from tests.conftest import module_server
from tests.direct_store import apply_migrations_before, with_store
from tests.harness import KassaServer, assert_ledger_whole, create_account
from tests.test_subscriptions import (
    DECLINING_CARD,
    JAN_31_2027,
    advance,
    clock_customer,
    utc,
)

Client = stripe.StripeClient
SUMMARY_UPDATED = "entitlements.active_entitlement_summary.updated"

entitlements_server = module_server("entitlements", KassaServer)


@pytest.fixture
def server(entitlements_server: KassaServer) -> Iterator[KassaServer]:
    yield entitlements_server
    assert_ledger_whole(entitlements_server.database_url)


@pytest.fixture
def client(server: KassaServer) -> Client:
    return server.client(create_account(server.database_url).secret_key)


def key() -> stripe.RequestOptions:
    return {"idempotency_key": str(uuid.uuid4())}


def refused(call: Callable[[], Any], status: int = 400) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        call()
    assert raised.value.http_status == status, raised.value.user_message
    return raised.value


def feature(client: Client, lookup_key: str, name: str = "") -> stripe.entitlements.Feature:
    params: Any = {"name": name or lookup_key.title(), "lookup_key": lookup_key}
    return client.v1.entitlements.features.create(params=params, options=key())


def all_features(client: Client, **params: Any) -> list[stripe.entitlements.Feature]:
    listing: Any = {"limit": 100, **params}
    listed = client.v1.entitlements.features.list(params=listing)
    return list(listed.auto_paging_iter())


def product_with(client: Client, name: str, *features: str) -> tuple[str, str]:
    """A product with `features` attached and a 20.00 monthly price: (product, price)."""
    product = client.v1.products.create(params={"name": name}, options=key())
    for feature_id in features:
        client.v1.products.features.create(
            product.id, params={"entitlement_feature": feature_id}, options=key()
        )
    price = client.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": 2_000,
            "recurring": {"interval": "month"},
        },
        options=key(),
    )
    return product.id, price.id


def entitlements_of(client: Client, customer: str) -> dict[str, str]:
    """The customer's active entitlements: lookup key -> entitlement id."""
    listed = client.v1.entitlements.active_entitlements.list(
        params={"customer": customer, "limit": 100}
    )
    return {e.lookup_key: e.id for e in listed.auto_paging_iter()}


def summaries_of(client: Client, customer: str) -> list[dict[str, Any]]:
    """The customer's summary updates, oldest first: each event's `data` as sent."""
    listed = client.v1.events.list(params={"type": SUMMARY_UPDATED, "limit": 100})
    found = [e.to_dict()["data"] for e in listed.auto_paging_iter()]
    return [data for data in found if data["object"]["customer"] == customer][::-1]


def keys_in(entitlements: dict[str, Any]) -> set[str]:
    return {e["lookup_key"] for e in entitlements["data"]}


# -- features ---------------------------------------------------------------------------------


def test_a_feature_is_created_retrieved_updated_and_listed(client: Client) -> None:
    sso = client.v1.entitlements.features.create(
        params={"name": "Single sign-on", "lookup_key": "sso", "metadata": {"tier": "pro"}},
        options=key(),
    )
    assert sso.id.startswith("feat_")
    assert sso.to_dict() == {
        "id": sso.id,
        "object": "entitlements.feature",
        "active": True,
        "livemode": False,
        "lookup_key": "sso",
        "metadata": {"tier": "pro"},
        "name": "Single sign-on",
    }
    assert client.v1.entitlements.features.retrieve(sso.id).to_dict() == sso.to_dict()
    renamed = client.v1.entitlements.features.update(
        sso.id, params={"name": "SSO", "metadata": {"tier": "", "seats": "5"}}, options=key()
    )
    assert (renamed.name, renamed.metadata.to_dict()) == ("SSO", {"seats": "5"})
    assert renamed.lookup_key == "sso" and renamed.active

    others = [feature(client, f"feature-{n}") for n in range(3)]
    listed = all_features(client)
    assert [f.id for f in listed] == [f.id for f in reversed(others)] + [sso.id]
    first = client.v1.entitlements.features.list(params={"limit": 2})
    assert first.has_more and [f.id for f in first.data] == [others[2].id, others[1].id]
    rest = client.v1.entitlements.features.list(params={"starting_after": others[1].id})
    assert [f.id for f in rest.data] == [others[0].id, sso.id] and not rest.has_more
    assert [f.id for f in all_features(client, lookup_key="sso")] == [sso.id]

    archived = client.v1.entitlements.features.update(
        others[0].id, params={"active": False}, options=key()
    )
    assert archived.active is False
    assert others[0].id not in [f.id for f in all_features(client)]
    assert [f.id for f in all_features(client, archived=True)] == [others[0].id]
    assert all_features(client, archived=True, lookup_key="sso") == []
    # An archived feature's lookup key may be taken again.
    again = feature(client, "feature-0")
    assert [f.id for f in all_features(client, lookup_key="feature-0")] == [again.id]
    assert client.v1.entitlements.features.retrieve(others[0].id).active is False


def test_feature_refusals_name_their_parameter_and_write_nothing(client: Client) -> None:
    sso = feature(client, "sso")
    create = client.v1.entitlements.features.create
    cases: list[tuple[Any, str]] = [
        ({"lookup_key": "x"}, "name"),
        ({"name": "X"}, "lookup_key"),
        ({"name": "X", "lookup_key": "sso"}, "lookup_key"),
        ({"name": "X" * 81, "lookup_key": "long"}, "name"),
        ({"name": "X", "lookup_key": "k" * 81}, "lookup_key"),
        ({"name": "X", "lookup_key": "y", "colour": "red"}, "colour"),
        ({"name": "", "lookup_key": "empty"}, "name"),
    ]
    for params, param in cases:
        error = refused(lambda: create(params=params, options=key()))  # noqa: B023
        assert error.param == param, (params, error.user_message)
    assert [f.id for f in all_features(client)] == [sso.id]

    missing = refused(lambda: client.v1.entitlements.features.retrieve("feat_nope"), status=404)
    assert missing.code == "resource_missing"
    update = client.v1.entitlements.features.update
    not_a_boolean: Any = {"active": "maybe"}
    assert refused(lambda: update(sso.id, params=not_a_boolean)).param == "active"
    client.v1.entitlements.features.update(sso.id, params={"active": False}, options=key())
    changes: list[tuple[Any, str]] = [
        ({"active": True}, "active"),
        ({"name": "Back"}, "name"),
        ({"metadata": {"a": "b"}}, "metadata"),
    ]
    for change, param in changes:
        error = refused(lambda: update(sso.id, params=change, options=key()))  # noqa: B023
        assert error.param == param
    kept = client.v1.entitlements.features.retrieve(sso.id)
    assert (kept.active, kept.name, kept.metadata.to_dict()) == (False, "Sso", {})


# -- product features -------------------------------------------------------------------------


def test_a_product_gains_lists_and_loses_features(client: Client) -> None:
    sso, audit = feature(client, "sso"), feature(client, "audit-log")
    product = client.v1.products.create(params={"name": "Pro"}, options=key()).id
    attached = client.v1.products.features.create(
        product, params={"entitlement_feature": sso.id}, options=key()
    )
    assert attached.id.startswith("prodft_")
    assert attached.to_dict() == {
        "id": attached.id,
        "object": "product_feature",
        "entitlement_feature": sso.to_dict(),
        "livemode": False,
    }
    second = client.v1.products.features.create(
        product, params={"entitlement_feature": audit.id}, options=key()
    )
    listed = client.v1.products.features.list(product)
    assert [pf.id for pf in listed.data] == [second.id, attached.id]
    assert listed.url == f"/v1/products/{product}/features"
    page = client.v1.products.features.list(product, params={"limit": 1})
    assert page.has_more and [pf.id for pf in page.data] == [second.id]
    # The embedded feature is the feature as it is now.
    client.v1.entitlements.features.update(sso.id, params={"name": "SSO"}, options=key())
    shown = client.v1.products.features.retrieve(product, attached.id)
    assert shown.entitlement_feature.name == "SSO"

    deleted = client.v1.products.features.delete(product, attached.id, options=key())
    assert deleted.to_dict() == {"id": attached.id, "object": "product_feature", "deleted": True}
    assert [pf.id for pf in client.v1.products.features.list(product).data] == [second.id]
    gone = refused(lambda: client.v1.products.features.retrieve(product, attached.id), 404)
    assert gone.code == "resource_missing"
    # Detached, it may be attached again (a new object).
    back = client.v1.products.features.create(
        product, params={"entitlement_feature": sso.id}, options=key()
    )
    assert back.id != attached.id


def test_product_feature_refusals_name_their_parameter_and_write_nothing(client: Client) -> None:
    sso, archived = feature(client, "sso"), feature(client, "old")
    client.v1.entitlements.features.update(archived.id, params={"active": False}, options=key())
    product = client.v1.products.create(params={"name": "Pro"}, options=key()).id
    other = client.v1.products.create(params={"name": "Basic"}, options=key()).id
    kept = client.v1.products.features.create(
        product, params={"entitlement_feature": sso.id}, options=key()
    )
    attach = client.v1.products.features.create
    cases: list[tuple[str, Any, str, int]] = [
        (product, {}, "entitlement_feature", 400),
        (product, {"entitlement_feature": "feat_nope"}, "entitlement_feature", 404),
        (product, {"entitlement_feature": archived.id}, "entitlement_feature", 400),
        (product, {"entitlement_feature": sso.id}, "entitlement_feature", 400),
        (product, {"entitlement_feature": sso.id, "extra": "1"}, "extra", 400),
        ("prod_nope", {"entitlement_feature": sso.id}, "product", 404),
    ]
    for product_id, params, param, status in cases:
        error = refused(
            lambda: attach(product_id, params=params, options=key()),  # noqa: B023
            status=status,
        )
        assert error.param == param, (params, error.user_message)
    assert [pf.id for pf in client.v1.products.features.list(product).data] == [kept.id]
    assert client.v1.products.features.list(other).data == []
    # Another product's feature is missing under this one, and stays attached.
    refused(lambda: client.v1.products.features.retrieve(other, kept.id), status=404)
    refused(lambda: client.v1.products.features.delete(other, kept.id, options=key()), 404)
    assert client.v1.products.features.retrieve(product, kept.id).id == kept.id


# -- active entitlements ------------------------------------------------------------------------


def test_entitlements_follow_a_subscription_to_its_end_on_a_test_clock(client: Client) -> None:
    sso, audit, seats = (
        feature(client, "sso"),
        feature(client, "audit-log"),
        feature(client, "seats"),
    )
    pro, pro_price = product_with(client, "Pro", sso.id, audit.id)
    _, addon_price = product_with(client, "Add-on", audit.id, seats.id)
    clock, customer = clock_customer(client)
    assert entitlements_of(client, customer.id) == {}

    subscription = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": pro_price}]}, options=key()
    )
    assert subscription.status == "active"
    granted = entitlements_of(client, customer.id)
    assert set(granted) == {"sso", "audit-log"}
    entitlement = client.v1.entitlements.active_entitlements.retrieve(
        granted["sso"], params={"expand": ["feature"]}
    )
    assert entitlement.to_dict() == {
        "id": granted["sso"],
        "object": "entitlements.active_entitlement",
        "feature": sso.to_dict(),
        "livemode": False,
        "lookup_key": "sso",
    }

    # A second product: its features join, the ones already held keep their ids.
    client.v1.subscriptions.update(
        subscription.id,
        params={"items": [{"price": addon_price}], "proration_behavior": "none"},
        options=key(),
    )
    widened = entitlements_of(client, customer.id)
    assert set(widened) == {"sso", "audit-log", "seats"}
    assert {k: widened[k] for k in granted} == granted

    # The product gains a feature, and loses one.
    reports = feature(client, "reports")
    client.v1.products.features.create(
        pro, params={"entitlement_feature": reports.id}, options=key()
    )
    assert set(entitlements_of(client, customer.id)) == {"sso", "audit-log", "seats", "reports"}
    sso_attachment = next(
        pf
        for pf in client.v1.products.features.list(pro).data
        if pf.entitlement_feature.id == sso.id
    )
    client.v1.products.features.delete(pro, sso_attachment.id, options=key())
    narrowed = entitlements_of(client, customer.id)
    assert set(narrowed) == {"audit-log", "seats", "reports"}
    assert narrowed["audit-log"] == granted["audit-log"]
    refused(lambda: client.v1.entitlements.active_entitlements.retrieve(granted["sso"]), 404)

    # Canceled at the period's end: kept until the clock passes it, then all removed.
    client.v1.subscriptions.update(
        subscription.id, params={"cancel_at_period_end": True}, options=key()
    )
    advance(client, clock, utc(2027, 2, 27))
    assert entitlements_of(client, customer.id) == narrowed
    advance(client, clock, utc(2027, 3, 1))
    assert client.v1.subscriptions.retrieve(subscription.id).status == "canceled"
    assert entitlements_of(client, customer.id) == {}
    refused(lambda: client.v1.entitlements.active_entitlements.retrieve(narrowed["seats"]), 404)

    held = [keys_in(s["object"]["entitlements"]) for s in summaries_of(client, customer.id)]
    assert held == [
        {"sso", "audit-log"},
        {"sso", "audit-log", "seats"},
        {"sso", "audit-log", "seats", "reports"},
        {"audit-log", "seats", "reports"},
        set(),
    ]


def test_summary_events_carry_the_summary_and_the_earlier_entitlements(client: Client) -> None:
    sso = feature(client, "sso")
    _, price = product_with(client, "Pro", sso.id)
    _, customer = clock_customer(client)
    subscription = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price}]}, options=key()
    )
    entitlement = entitlements_of(client, customer.id)["sso"]
    client.v1.subscriptions.cancel(subscription.id, options=key())
    granted, removed = summaries_of(client, customer.id)
    shown = {
        "id": entitlement,
        "object": "entitlements.active_entitlement",
        "feature": sso.id,
        "livemode": False,
        "lookup_key": "sso",
    }
    url = f"/v1/entitlements/active_entitlements?customer={customer.id}"
    assert granted == {
        "object": {
            "object": "entitlements.active_entitlement_summary",
            "customer": customer.id,
            "entitlements": {"object": "list", "data": [shown], "has_more": False, "url": url},
            "livemode": False,
        },
        "previous_attributes": {"entitlements": {"data": []}},
    }
    assert removed["object"]["entitlements"]["data"] == []
    assert removed["previous_attributes"] == {"entitlements": {"data": [shown]}}


def test_no_entitlements_while_the_first_payment_fails_nor_without_features(
    client: Client,
) -> None:
    sso = feature(client, "sso")
    _, price = product_with(client, "Pro", sso.id)
    _, plain_price = product_with(client, "Plain")
    _, declined = clock_customer(client, card=DECLINING_CARD)
    incomplete = client.v1.subscriptions.create(
        params={"customer": declined.id, "items": [{"price": price}]}, options=key()
    )
    assert incomplete.status == "incomplete"
    assert entitlements_of(client, declined.id) == {}
    assert summaries_of(client, declined.id) == []

    _, trialing = clock_customer(client)
    on_trial = client.v1.subscriptions.create(
        params={"customer": trialing.id, "items": [{"price": price}], "trial_period_days": 7},
        options=key(),
    )
    assert on_trial.status == "trialing"
    assert set(entitlements_of(client, trialing.id)) == {"sso"}

    _, featureless = clock_customer(client)
    client.v1.subscriptions.create(
        params={"customer": featureless.id, "items": [{"price": plain_price}]}, options=key()
    )
    assert entitlements_of(client, featureless.id) == {}
    assert summaries_of(client, featureless.id) == []


def test_active_entitlement_refusals(client: Client) -> None:
    listing = client.v1.entitlements.active_entitlements.list
    assert refused(lambda: listing(params={})).param == "customer"  # type: ignore[typeddict-item]
    missing = refused(lambda: listing(params={"customer": "cus_nope"}), status=404)
    assert missing.param == "customer"
    gone = refused(lambda: client.v1.entitlements.active_entitlements.retrieve("ent_nope"), 404)
    assert gone.code == "resource_missing"


@pytest.mark.parametrize(
    ("behavior", "status", "kept"),
    [
        ("pause", "paused", False),
        ("create_invoice", "past_due", True),
        ("cancel", "canceled", False),
    ],
)
def test_a_trial_ending_without_a_payment_method(
    client: Client, behavior: str, status: str, kept: bool
) -> None:
    """Past due, the subscription still grants its features (Stripe keeps them while its
    retries run); paused (Stripe: the customer "loses access" for the pause) or canceled, it
    grants none."""
    sso = feature(client, "sso")
    _, price = product_with(client, "Pro", sso.id)
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": JAN_31_2027})
    customer = client.v1.customers.create(params={"test_clock": clock.id}, options=key())
    trial_settings: Any = {"end_behavior": {"missing_payment_method": behavior}}
    subscription = client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": price}],
            "trial_period_days": 7,
            "trial_settings": trial_settings,
        },
        options=key(),
    )
    assert subscription.status == "trialing"
    on_trial = entitlements_of(client, customer.id)
    assert set(on_trial) == {"sso"}
    advance(client, clock.id, utc(2027, 2, 8))
    assert client.v1.subscriptions.retrieve(subscription.id).status == status
    assert entitlements_of(client, customer.id) == (on_trial if kept else {})
    assert len(summaries_of(client, customer.id)) == (1 if kept else 2)


# -- an upgrade from before entitlements ------------------------------------------------------

ENTITLEMENTS_MIGRATION = 68
"""`0068_entitlements`; `0074_entitlements_backfill` gives the subscriptions stored before it
their grants."""
STORED_AT = 1_800_000_000


def _stored_before_entitlements(database_url: str) -> tuple[str, str, str]:
    """A database at the schema before 0068, with an account, a product and its price, and
    two customers each with a subscription to it as Kassa then stored them: one active (it
    grants), one canceled (it does not). (secret key, active's customer, canceled's)."""
    engine = "sqlite" if database_url.startswith("sqlite") else "postgresql"

    async def run(store: Store) -> tuple[str, str, str]:
        async with store.write() as tx:
            await apply_migrations_before(tx, engine, ENTITLEMENTS_MIGRATION, STORED_AT)
            new = await accounts.create_account(tx, FrozenClock(STORED_AT), "Before 0068")
            account_id = new.account["id"]
            product = {"id": "prod_Old", "object": "product", "created": STORED_AT, "name": "Pro"}
            await tx.insert_object(PRODUCTS, account_id, product)
            price = {
                "id": "price_Old",
                "object": "price",
                "created": STORED_AT,
                "product": "prod_Old",
                "currency": "usd",
                "unit_amount": 2_000,
                "type": "recurring",
                "recurring": {"interval": "month", "interval_count": 1},
            }
            await tx.insert_object(PRICES, account_id, price)
            for name, status in (("Active", "active"), ("Canceled", "canceled")):
                await _store_subscription(tx, account_id, name, status, price)
        return new.secret_key, "cus_Active", "cus_Canceled"

    return with_store(database_url, run)


async def _store_subscription(
    tx: Transaction, account_id: str, name: str, status: str, price: dict[str, Any]
) -> None:
    customer = {"id": f"cus_{name}", "object": "customer", "created": STORED_AT}
    await tx.insert_object(CUSTOMERS, account_id, {**customer, "test_clock": None})
    item = {
        "id": f"si_{name}",
        "object": "subscription_item",
        "created": STORED_AT,
        "price": price,
        "quantity": 1,
        "subscription": f"sub_{name}",
    }
    subscription = {
        "id": f"sub_{name}",
        "object": "subscription",
        "created": STORED_AT,
        "customer": customer["id"],
        "status": status,
        "items": {"object": "list", "data": [item], "has_more": False},
    }
    await tx.insert_object(SUBSCRIPTIONS, account_id, subscription)
    await tx.insert_object(SUBSCRIPTION_ITEMS, account_id, item)


def test_an_upgraded_database_entitles_the_subscriptions_stored_before_entitlements(
    private_database_url: str, tmp_path: Path
) -> None:
    """Upgraded (by `kassa serve`'s start), the active subscription stored before 0068 grants
    its product: a feature attached to it then is its customer's active entitlement; the
    canceled one grants nothing."""
    secret_key, active, canceled = _stored_before_entitlements(private_database_url)
    upgraded = KassaServer(private_database_url, tmp_path / "kassa.log").start()
    try:
        client = upgraded.client(secret_key)
        sso = feature(client, "sso")
        client.v1.products.features.create(
            "prod_Old", params={"entitlement_feature": sso.id}, options=key()
        )
        assert set(entitlements_of(client, active)) == {"sso"}
        assert [s["object"]["customer"] for s in summaries_of(client, active)] == [active]
        assert entitlements_of(client, canceled) == {}
    finally:
        upgraded.stop()
