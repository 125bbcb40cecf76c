"""Products and prices through the official SDK against a live server, on SQLite and
PostgreSQL (issue 12: the catalog)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

import pytest
import stripe

from tests.harness import KassaServer, create_account


def _product(client: stripe.StripeClient, **params: Any) -> stripe.Product:
    return client.v1.products.create(params=cast(Any, {"name": "Gold", **params}))


def _price(client: stripe.StripeClient, product: str, **params: Any) -> stripe.Price:
    sent = {"product": product, "currency": "usd", "unit_amount": 1000, **params}
    return client.v1.prices.create(
        params=cast(Any, {k: v for k, v in sent.items() if v is not None})
    )


def _refused(call: Any, *, status: int = 400) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        call()
    assert raised.value.http_status == status, raised.value.user_message
    return raised.value


def _events(client: stripe.StripeClient, event_type: str) -> list[stripe.Event]:
    return list(client.v1.events.list(params={"type": event_type}).data)


# --- Products -----------------------------------------------------------------------------


def test_product_create_retrieve_update_delete(client: stripe.StripeClient) -> None:
    created = _product(
        client,
        description="A plan",
        images=["https://example.com/gold.png"],
        marketing_features=[{"name": "Fast"}, {"name": "Friendly"}],
        metadata={"tier": "gold"},
        package_dimensions={"height": 1.5, "length": 2, "weight": 3.25, "width": 4},
        shippable=True,
        statement_descriptor="GOLD PLAN",
        unit_label="seat",
        url="https://example.com/gold",
        tax_code="txcd_10000000",
    )
    assert created.id.startswith("prod_")
    assert created.object == "product"
    assert created.active is True
    assert created.type == "service"
    assert created.default_price is None
    assert created.updated == created.created
    assert created.images == ["https://example.com/gold.png"]
    assert [f.name for f in created.marketing_features] == ["Fast", "Friendly"]
    dimensions = created.package_dimensions
    assert dimensions is not None
    assert (dimensions.height, dimensions.length, dimensions.weight) == (1.5, 2, 3.25)
    assert created.tax_details is None
    assert client.v1.products.retrieve(created.id).to_dict() == created.to_dict()

    updated = client.v1.products.update(
        created.id,
        params={
            "name": "Gold plan",
            "description": "",
            "images": "",
            "metadata": {"tier": "", "level": "3"},
            "package_dimensions": "",
            "active": False,
        },
    )
    assert updated.name == "Gold plan"
    assert updated.description is None
    assert updated.images == []
    assert updated.package_dimensions is None
    assert updated.metadata is not None and updated.metadata.to_dict() == {"level": "3"}
    assert updated.active is False
    assert updated.updated >= created.updated

    name_cleared = _refused(lambda: client.v1.products.update(created.id, params={"name": ""}))
    assert name_cleared.param == "name"

    deleted = client.v1.products.delete(created.id)
    assert deleted.to_dict() == {"id": created.id, "object": "product", "deleted": True}
    for call in (
        lambda: client.v1.products.retrieve(created.id),
        lambda: client.v1.products.update(created.id, params={"name": "x"}),
        lambda: client.v1.products.delete(created.id),
    ):
        assert _refused(call, status=404).code == "resource_missing"


def test_product_ids_may_be_chosen_and_are_unique_per_account(
    server: KassaServer, client: stripe.StripeClient
) -> None:
    gold = _product(client, id="gold")
    assert gold.id == "gold"
    again = _refused(lambda: _product(client, id="gold"))
    assert (again.code, again.param) == ("resource_already_exists", "id")
    other = server.client(create_account(server.database_url).secret_key)
    assert _product(other, id="gold").id == "gold"
    # One account's product stays invisible to the other.
    client.v1.products.update("gold", params={"metadata": {"mine": "yes"}})
    assert other.v1.products.retrieve("gold").metadata.to_dict() == {}
    mine = _price(client, "gold")
    assert _refused(lambda: other.v1.prices.retrieve(mine.id), status=404).code == (
        "resource_missing"
    )
    bad = _refused(lambda: _product(client, id="has/slash"))
    assert bad.param == "id"


def test_goods_take_no_statement_descriptor(client: stripe.StripeClient) -> None:
    error = _refused(lambda: _product(client, type="good", statement_descriptor="GOLD"))
    assert error.param == "statement_descriptor"
    assert _product(client, type="good", shippable=True).type == "good"
    assert _refused(lambda: _product(client, statement_descriptor="<GOLD>")).param == (
        "statement_descriptor"
    )


def test_default_price_data_creates_the_default_price(client: stripe.StripeClient) -> None:
    product = _product(
        client,
        default_price_data={
            "currency": "eur",
            "unit_amount_decimal": "999.5",
            "recurring": {"interval": "month", "interval_count": 3},
            "tax_behavior": "exclusive",
            "metadata": {"plan": "gold"},
        },
    )
    assert isinstance(product.default_price, str)
    price = client.v1.prices.retrieve(product.default_price)
    assert price.product == product.id
    assert price.currency == "eur"
    assert price.unit_amount is None
    assert price.unit_amount_decimal == Decimal("999.5")
    assert price.type == "recurring"
    assert price.recurring is not None
    assert (price.recurring.interval, price.recurring.interval_count) == ("month", 3)
    assert price.recurring.usage_type == "licensed"
    assert price.tax_behavior == "exclusive"
    assert price.metadata is not None and price.metadata.to_dict() == {"plan": "gold"}

    expanded = client.v1.products.retrieve(product.id, params={"expand": ["default_price"]})
    assert isinstance(expanded.default_price, stripe.Price)
    assert expanded.default_price.id == price.id
    assert "tiers" not in expanded.default_price

    missing = _refused(lambda: _product(client, default_price_data={"currency": "usd"}), status=400)
    assert missing.param == "default_price_data[unit_amount]"
    assert [p.id for p in client.v1.products.list().data] == [product.id]


def test_default_price_must_be_an_active_price_of_the_product(
    client: stripe.StripeClient,
) -> None:
    gold = _product(client, default_price_data={"currency": "usd", "unit_amount": 500})
    silver = _product(client, name="Silver")
    second = _price(client, gold.id)
    switched = client.v1.products.update(gold.id, params={"default_price": second.id})
    assert switched.default_price == second.id

    foreign = _price(client, silver.id)
    error = _refused(
        lambda: client.v1.products.update(gold.id, params={"default_price": foreign.id})
    )
    assert error.param == "default_price"
    unknown = _refused(
        lambda: client.v1.products.update(gold.id, params={"default_price": "price_nope"}),
        status=404,
    )
    assert unknown.param == "default_price"

    # The default price cannot be archived; another one can, and cannot then be the default.
    archive = _refused(lambda: client.v1.prices.update(second.id, params={"active": False}))
    assert archive.param == "active"
    assert isinstance(gold.default_price, str)
    first = client.v1.prices.update(gold.default_price, params={"active": False})
    assert first.active is False
    stale = _refused(lambda: client.v1.products.update(gold.id, params={"default_price": first.id}))
    assert stale.param == "default_price"


def test_a_product_with_prices_cannot_be_deleted(client: stripe.StripeClient) -> None:
    product = _product(client)
    price = _price(client, product.id)
    client.v1.prices.update(price.id, params={"active": False})
    error = _refused(lambda: client.v1.products.delete(product.id))
    assert "has one or more user-created prices" in error.user_message
    assert client.v1.products.retrieve(product.id).id == product.id


def test_product_list_filters_and_pages(client: stripe.StripeClient) -> None:
    ids = [_product(client, name=f"P{i}", shippable=i % 2 == 0).id for i in range(5)]
    client.v1.products.update(ids[1], params={"active": False, "url": "https://example.com/p1"})
    page = client.v1.products.list(params={"limit": 2})
    assert [p.id for p in page.data] == ids[::-1][:2]
    assert page.has_more is True
    walked = [p.id for p in client.v1.products.list(params={"limit": 2}).auto_paging_iter()]
    assert walked == ids[::-1]
    back = client.v1.products.list(params={"limit": 2, "ending_before": ids[2]})
    assert [p.id for p in back.data] == [ids[4], ids[3]]
    inactive = client.v1.products.list(params={"active": False})
    assert [p.id for p in inactive.data] == [ids[1]]
    shippable = client.v1.products.list(params={"shippable": True})
    assert [p.id for p in shippable.data] == [ids[4], ids[2], ids[0]]
    by_url = client.v1.products.list(params={"url": "https://example.com/p1"})
    assert [p.id for p in by_url.data] == [ids[1]]
    by_ids = client.v1.products.list(params={"ids": [ids[0], ids[3], "prod_nope"], "limit": 1})
    assert [p.id for p in by_ids.data] == [ids[3]]
    assert by_ids.has_more is True
    both = client.v1.products.list(params={"ids": [ids[0], ids[3]], "active": True})
    assert [p.id for p in both.data] == [ids[3], ids[0]]
    created = client.v1.products.retrieve(ids[0]).created
    assert client.v1.products.list(params={"ids": [ids[0]], "created": {"lt": created}}).data == []
    error = _refused(
        lambda: client.v1.products.list(params={"ids": [ids[0]], "starting_after": ids[1]})
    )
    assert error.param == "ids"


# --- Prices -------------------------------------------------------------------------------


def test_price_create_and_retrieve(client: stripe.StripeClient) -> None:
    product = _product(client)
    price = _price(client, product.id, nickname="Monthly", recurring={"interval": "month"})
    assert price.id.startswith("price_")
    assert price.object == "price"
    assert (price.active, price.billing_scheme, price.type) == (True, "per_unit", "recurring")
    assert (price.unit_amount, price.unit_amount_decimal) == (1000, Decimal("1000"))
    assert price.custom_unit_amount is None
    assert price.tax_behavior == "unspecified"
    assert price.tiers_mode is None and price.transform_quantity is None
    assert price.lookup_key is None and price.nickname == "Monthly"
    assert "tiers" not in price
    assert client.v1.prices.retrieve(price.id).to_dict() == price.to_dict()

    one_time = _price(
        client,
        product.id,
        unit_amount=None,
        unit_amount_decimal="0.05",
        transform_quantity={"divide_by": 100, "round": "up"},
    )
    assert one_time.type == "one_time"
    assert (one_time.unit_amount, one_time.unit_amount_decimal) == (None, Decimal("0.05"))
    assert one_time.transform_quantity is not None
    assert (one_time.transform_quantity.divide_by, one_time.transform_quantity.round) == (100, "up")
    whole = _price(client, product.id, unit_amount=None, unit_amount_decimal="5.000")
    assert (whole.unit_amount, whole.unit_amount_decimal) == (5, Decimal("5"))

    custom = _price(
        client,
        product.id,
        unit_amount=None,
        custom_unit_amount={"enabled": True, "minimum": 500, "maximum": 5000, "preset": 1000},
    )
    assert custom.unit_amount is None and custom.unit_amount_decimal is None
    assert custom.custom_unit_amount is not None
    assert custom.custom_unit_amount.to_dict() == {"maximum": 5000, "minimum": 500, "preset": 1000}

    expanded = client.v1.prices.retrieve(price.id, params={"expand": ["product"]})
    assert isinstance(expanded.product, stripe.Product)
    assert expanded.product.id == product.id
    missing = _refused(lambda: client.v1.prices.retrieve("price_nope"), status=404)
    assert (missing.code, missing.param) == ("resource_missing", "id")


def test_product_data_creates_the_product_with_the_price(client: stripe.StripeClient) -> None:
    price = client.v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount": 300,
            "product_data": {"name": "Sticker", "id": "sticker", "metadata": {"k": "v"}},
        }
    )
    assert price.product == "sticker"
    product = client.v1.products.retrieve("sticker")
    assert product.name == "Sticker"
    assert product.default_price is None
    assert [e.data.object["id"] for e in _events(client, "product.created")] == ["sticker"]

    both = _refused(
        lambda: client.v1.prices.create(
            params={
                "currency": "usd",
                "unit_amount": 1,
                "product": "sticker",
                "product_data": {"name": "x"},
            }
        )
    )
    assert both.param == "product_data"
    neither = _refused(
        lambda: client.v1.prices.create(params={"currency": "usd", "unit_amount": 1})
    )
    assert (neither.code, neither.param) == ("parameter_missing", "product")
    unknown = _refused(lambda: _price(client, "prod_nope"), status=404)
    assert (unknown.code, unknown.param) == ("resource_missing", "product")


def test_tiered_prices_return_tiers_only_when_expanded(client: stripe.StripeClient) -> None:
    product = _product(client)
    price = client.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "billing_scheme": "tiered",
            "tiers_mode": "graduated",
            "recurring": {"interval": "month"},
            "tiers": [
                {"up_to": 10, "flat_amount": 1000, "unit_amount": 0},
                {"up_to": 100, "unit_amount_decimal": Decimal("12.5")},
                {"up_to": "inf", "unit_amount": 10, "flat_amount_decimal": Decimal("200")},
            ],
        }
    )
    assert (price.billing_scheme, price.tiers_mode) == ("tiered", "graduated")
    assert price.unit_amount is None and price.unit_amount_decimal is None
    assert "tiers" not in price
    assert "tiers" not in client.v1.prices.retrieve(price.id)
    expanded = client.v1.prices.retrieve(price.id, params={"expand": ["tiers"]})
    assert expanded.tiers is not None
    assert [t.to_dict() for t in expanded.tiers] == [
        {
            "flat_amount": 1000,
            "flat_amount_decimal": Decimal("1000"),
            "unit_amount": 0,
            "unit_amount_decimal": Decimal("0"),
            "up_to": 10,
        },
        {
            "flat_amount": None,
            "flat_amount_decimal": None,
            "unit_amount": None,
            "unit_amount_decimal": Decimal("12.5"),
            "up_to": 100,
        },
        {
            "flat_amount": 200,
            "flat_amount_decimal": Decimal("200"),
            "unit_amount": 10,
            "unit_amount_decimal": Decimal("10"),
            "up_to": None,
        },
    ]
    listed = client.v1.prices.list(params={"expand": ["data.tiers"]})
    assert listed.data[0].tiers is not None and len(listed.data[0].tiers) == 3
    options = client.v1.prices.retrieve(price.id, params={"expand": ["currency_options"]})
    assert options.currency_options is not None
    assert sorted(options.currency_options.to_dict()) == ["usd"]
    created = _events(client, "price.created")[0].data.object
    assert "tiers" not in created


TIERED = {"currency": "usd", "billing_scheme": "tiered", "tiers_mode": "volume"}


@pytest.mark.parametrize(
    ("params", "param"),
    [
        (
            {**TIERED, "tiers": [{"up_to": 10, "unit_amount": 5}, {"up_to": 5, "unit_amount": 4}]},
            "tiers[1][up_to]",
        ),
        (
            {**TIERED, "tiers": [{"up_to": 10, "unit_amount": 5}, {"up_to": 20, "unit_amount": 4}]},
            "tiers[1][up_to]",
        ),
        (
            {
                **TIERED,
                "tiers": [{"up_to": "inf", "unit_amount": 5}, {"up_to": "inf", "unit_amount": 4}],
            },
            "tiers[0][up_to]",
        ),
        ({**TIERED, "tiers": [{"up_to": "inf"}]}, "tiers[0]"),
        ({**TIERED, "tiers": [{"unit_amount": 5}]}, "tiers[0][up_to]"),
        ({**TIERED, "tiers": [{"up_to": "inf", "unit_amount": -5}]}, "tiers[0][unit_amount]"),
        (
            {**TIERED, "tiers": [{"up_to": "inf", "unit_amount": 5, "unit_amount_decimal": "5"}]},
            "tiers[0][unit_amount_decimal]",
        ),
        ({**TIERED}, "tiers"),
        (
            {**TIERED, "tiers_mode": None, "tiers": [{"up_to": "inf", "unit_amount": 1}]},
            "tiers_mode",
        ),
        (
            {**TIERED, "unit_amount": 5, "tiers": [{"up_to": "inf", "unit_amount": 1}]},
            "unit_amount",
        ),
        (
            {
                **TIERED,
                "tiers": [{"up_to": "inf", "unit_amount": 1}],
                "transform_quantity": {"divide_by": 2, "round": "up"},
            },
            "transform_quantity",
        ),
        ({"currency": "usd", "tiers": [{"up_to": "inf", "unit_amount": 1}]}, "tiers"),
        ({"currency": "usd"}, "unit_amount"),
        ({"currency": "usd", "unit_amount": 1, "unit_amount_decimal": "1"}, "unit_amount_decimal"),
        ({"currency": "usd", "unit_amount": -1}, "unit_amount"),
        ({"currency": "usd", "unit_amount_decimal": "-1"}, "unit_amount_decimal"),
        ({"currency": "usd", "unit_amount_decimal": "0.0000000000001"}, "unit_amount_decimal"),
        ({"currency": "xyz", "unit_amount": 1}, "currency"),
        (
            {
                "currency": "usd",
                "unit_amount": 1,
                "recurring": {"interval": "month", "interval_count": 37},
            },
            "recurring[interval_count]",
        ),
        (
            {
                "currency": "usd",
                "unit_amount": 1,
                "recurring": {"interval": "week", "interval_count": 157},
            },
            "recurring[interval_count]",
        ),
        (
            {
                "currency": "usd",
                "unit_amount": 1,
                "recurring": {"interval": "month", "usage_type": "metered"},
            },
            "recurring[meter]",
        ),
        (
            {"currency": "usd", "unit_amount": 1, "recurring": {"interval": "fortnight"}},
            "recurring[interval]",
        ),
        (
            {
                "currency": "usd",
                "custom_unit_amount": {"enabled": True},
                "recurring": {"interval": "month"},
            },
            "custom_unit_amount",
        ),
        (
            {
                "currency": "usd",
                "custom_unit_amount": {"enabled": True, "minimum": 9, "maximum": 1},
            },
            "custom_unit_amount[minimum]",
        ),
        (
            {"currency": "usd", "unit_amount": 1, "currency_options": {"eur": {"unit_amount": 1}}},
            "currency_options",
        ),
        ({"currency": "usd", "unit_amount": 1, "lookup_key": "k" * 201}, "lookup_key"),
    ],
)
def test_invalid_prices_are_refused_naming_the_parameter(
    client: stripe.StripeClient, params: dict[str, Any], param: str
) -> None:
    product = _product(client)
    sent = {k: v for k, v in {"product": product.id, **params}.items() if v is not None}
    error = _refused(lambda: client.v1.prices.create(params=sent))  # type: ignore[arg-type]
    assert error.param == param, error.user_message
    assert client.v1.prices.list(params={"active": True}).data == []
    assert client.v1.prices.list(params={"active": False}).data == []


def test_metered_prices_name_their_meter(client: stripe.StripeClient) -> None:
    product = _product(client)
    meter = client.v1.billing.meters.create(
        params={
            "display_name": "API calls",
            "event_name": "api_calls",
            "default_aggregation": {"formula": "sum"},
        }
    )
    price = _price(
        client,
        product.id,
        recurring={"interval": "month", "usage_type": "metered", "meter": meter.id},
    )
    assert price.recurring is not None
    assert (price.recurring.usage_type, price.recurring.meter) == ("metered", meter.id)
    listed = client.v1.prices.list(params={"recurring": {"meter": meter.id}})
    assert [p.id for p in listed.data] == [price.id]
    # A meter the account does not have is refused (tests/test_billing_meters.py has more).
    missing = _refused(
        lambda: _price(
            client,
            product.id,
            recurring={"interval": "month", "usage_type": "metered", "meter": "mtr_1"},
        )
    )
    assert missing.param == "recurring[meter]"


def test_a_failed_price_writes_nothing(client: stripe.StripeClient) -> None:
    product = _product(client)
    _price(client, product.id, lookup_key="taken")
    error = _refused(
        lambda: client.v1.prices.create(
            params={
                "currency": "usd",
                "unit_amount": 1,
                "lookup_key": "taken",
                "product_data": {"name": "Never"},
            }
        )
    )
    assert error.param == "lookup_key"
    assert [p.id for p in client.v1.products.list().data] == [product.id]
    assert len(_events(client, "product.created")) == 1


def test_amounts_are_immutable(client: stripe.StripeClient) -> None:
    price = _price(client, _product(client).id)
    for params, param in [
        ({"unit_amount": 2000}, "unit_amount"),
        ({"unit_amount_decimal": "1"}, "unit_amount_decimal"),
        ({"currency": "eur"}, "currency"),
        ({"recurring": {"interval": "year"}}, "recurring"),
        ({"billing_scheme": "tiered"}, "billing_scheme"),
        ({"product": "prod_other"}, "product"),
        ({"currency_options": {"eur": {"unit_amount": 1}}}, "currency_options"),
    ]:
        error = _refused(lambda p=params: client.v1.prices.update(price.id, params=cast(Any, p)))
        assert error.param == param, error.user_message
    assert client.v1.prices.retrieve(price.id).unit_amount == 1000

    exclusive = client.v1.prices.update(price.id, params={"tax_behavior": "exclusive"})
    assert exclusive.tax_behavior == "exclusive"
    assert client.v1.prices.update(price.id, params={"tax_behavior": "exclusive"}).id == price.id
    fixed = _refused(
        lambda: client.v1.prices.update(price.id, params={"tax_behavior": "inclusive"})
    )
    assert fixed.param == "tax_behavior"

    renamed = client.v1.prices.update(
        price.id, params={"nickname": "n", "metadata": {"a": "1"}, "active": False}
    )
    assert (renamed.nickname, renamed.active) == ("n", False)
    assert client.v1.prices.update(price.id, params={"nickname": ""}).nickname is None


def test_lookup_keys_are_unique_and_transfer(client: stripe.StripeClient) -> None:
    product = _product(client)
    first = _price(client, product.id, lookup_key="standard")
    clash = _refused(lambda: _price(client, product.id, lookup_key="standard"))
    assert clash.param == "lookup_key"
    assert first.id in clash.user_message

    second = _price(client, product.id, lookup_key="standard", transfer_lookup_key=True)
    assert second.lookup_key == "standard"
    assert client.v1.prices.retrieve(first.id).lookup_key is None
    found = client.v1.prices.list(params={"lookup_keys": ["standard", "other"]})
    assert [p.id for p in found.data] == [second.id]
    moved = _events(client, "price.updated")[0]
    assert moved.data.object["id"] == first.id
    assert moved.data.previous_attributes is not None
    assert moved.data.previous_attributes.to_dict() == {"lookup_key": "standard"}

    refused = _refused(lambda: client.v1.prices.update(first.id, params={"lookup_key": "standard"}))
    assert refused.param == "lookup_key"
    back = client.v1.prices.update(
        first.id, params={"lookup_key": "standard", "transfer_lookup_key": True}
    )
    assert back.lookup_key == "standard"
    assert client.v1.prices.retrieve(second.id).lookup_key is None
    cleared = client.v1.prices.update(first.id, params={"lookup_key": ""})
    assert cleared.lookup_key is None
    assert client.v1.prices.list(params={"lookup_keys": ["standard"]}).data == []
    # A key freed is free for anyone.
    assert _price(client, product.id, lookup_key="standard").lookup_key == "standard"


def test_price_list_filters_and_pages(client: stripe.StripeClient) -> None:
    gold, silver = _product(client).id, _product(client, name="Silver").id
    one_time = _price(client, gold).id
    monthly = _price(client, gold, recurring={"interval": "month"}).id
    yearly = _price(client, silver, currency="eur", recurring={"interval": "year"}).id
    archived = _price(client, silver, lookup_key="old").id
    client.v1.prices.update(archived, params={"active": False})

    def ids(**params: Any) -> list[str]:
        return [p.id for p in client.v1.prices.list(params=cast(Any, params)).data]

    assert ids() == [yearly, monthly, one_time]
    assert ids(active=False) == [archived]
    assert ids(product=silver) == [yearly]
    assert ids(currency="eur") == [yearly]
    assert ids(type="one_time") == [one_time]
    assert ids(type="recurring") == [yearly, monthly]
    assert ids(recurring={"interval": "month"}) == [monthly]
    assert ids(recurring={"usage_type": "licensed"}) == [yearly, monthly]
    assert ids(lookup_keys=["old"]) == []
    assert ids(lookup_keys=["old"], active=False) == [archived]
    created = client.v1.prices.retrieve(one_time).created
    assert ids(created={"lt": created}) == []

    page = client.v1.prices.list(params={"limit": 2})
    assert [p.id for p in page.data] == [yearly, monthly]
    assert page.has_more is True and page.url == "/v1/prices"
    walked = [p.id for p in client.v1.prices.list(params={"limit": 1}).auto_paging_iter()]
    assert walked == [yearly, monthly, one_time]
    expanded = client.v1.prices.list(params={"expand": ["data.product"], "product": gold})
    assert all(isinstance(p.product, stripe.Product) for p in expanded.data)
    bad_cursor = _refused(
        lambda: client.v1.prices.list(params={"starting_after": "price_nope"}), status=404
    )
    assert bad_cursor.param == "starting_after"


def test_events_announce_products_and_prices(client: stripe.StripeClient) -> None:
    product = _product(client, default_price_data={"currency": "usd", "unit_amount": 100})
    client.v1.products.update(product.id, params={"name": "Platinum"})
    client.v1.products.update(product.id, params={"name": "Platinum"})  # no change, no event
    extra = _price(client, product.id)
    client.v1.prices.update(extra.id, params={"active": False})
    client.v1.prices.update(extra.id, params={"active": False})  # no change, no event
    client.v1.products.update(product.id, params={"default_price": ""})
    doomed = _product(client, name="Doomed")
    client.v1.products.delete(doomed.id)

    created = _events(client, "product.created")
    assert [e.data.object["id"] for e in created] == [doomed.id, product.id]
    assert created[1].data.object["default_price"] == product.default_price
    updates = _events(client, "product.updated")
    assert len(updates) == 2
    renamed = updates[1].data.previous_attributes
    assert renamed is not None and renamed["name"] == "Gold"
    assert [e.data.object["id"] for e in _events(client, "product.deleted")] == [doomed.id]
    prices_created = _events(client, "price.created")
    assert [e.data.object["id"] for e in prices_created] == [extra.id, product.default_price]
    archived = _events(client, "price.updated")
    assert len(archived) == 1
    assert archived[0].data.previous_attributes is not None
    assert archived[0].data.previous_attributes.to_dict() == {"active": True}


# --- Inline prices ------------------------------------------------------------------------


def _inline_prices(client: stripe.StripeClient, product: str) -> tuple[str, str, str]:
    """A one-time inline price (an invoice item's `price_data`, 3.33, the item left pending)
    and a recurring one (a subscription item's), both of `product`, and their customer."""
    customer = client.v1.customers.create(
        params={
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    item = client.v1.invoice_items.create(
        params={
            "customer": customer.id,
            "price_data": {"currency": "usd", "product": product, "unit_amount": 333},
        }
    )
    assert item.pricing is not None and item.pricing.price_details is not None
    subscription = client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [
                {
                    "price_data": {
                        "currency": "usd",
                        "product": product,
                        "unit_amount": 900,
                        "recurring": {"interval": "month"},
                    }
                }
            ],
        }
    )
    one_time = str(item.pricing.price_details.price)
    return one_time, subscription["items"].data[0].price.id, customer.id


def test_inline_prices_are_not_listed_or_searched(client: stripe.StripeClient) -> None:
    """Stripe's price list "returns a list of your active prices, excluding inline prices"
    (and the inactive ones with active=false): an inline price prices its item only."""
    product = _product(client)
    one_time, recurring, _ = _inline_prices(client, product.id)
    archived = _price(client, product.id)
    client.v1.prices.update(archived.id, params={"active": False})

    def listed(**params: Any) -> list[str]:
        return [p.id for p in client.v1.prices.list(params=cast(Any, params)).data]

    assert listed(product=product.id) == []
    assert listed(active=False) == [archived.id]
    assert listed(active=False, product=product.id, type="one_time") == [archived.id]
    assert listed(active=False, type="recurring") == []
    plans = client.v1.plans.list(params={"product": product.id, "active": False})
    assert [p.id for p in plans.data] == []
    found = client.v1.prices.search(params={"query": f'product:"{product.id}"'})
    assert [p.id for p in found.data] == [archived.id]
    assert client.v1.prices.search(params={"query": "active:'false'"}).data[0].id == archived.id
    for inline in (one_time, recurring):
        shown = client.v1.prices.retrieve(inline)
        assert shown.active is False and shown.product == product.id
        assert not any(key.startswith("_") for key in shown.to_dict())


def test_inline_prices_cannot_be_activated(client: stripe.StripeClient) -> None:
    one_time, recurring, _ = _inline_prices(client, _product(client).id)
    for inline in (one_time, recurring):
        refused = _refused(
            lambda price=inline: client.v1.prices.update(price, params={"active": True})
        )
        assert refused.param == "active"
        assert "inline" in str(refused.user_message)
        assert client.v1.prices.retrieve(inline).active is False
        kept = client.v1.prices.update(inline, params={"metadata": {"note": "kept"}})
        assert (kept.active, kept.metadata.to_dict()) == (False, {"note": "kept"})
    as_plan = _refused(lambda: client.v1.plans.update(recurring, params={"active": True}))
    assert as_plan.param == "active"


def test_a_product_with_only_inline_prices_can_be_deleted(client: stripe.StripeClient) -> None:
    """Stripe refuses to delete a product with "user-created prices": inline prices are not
    those. The inline prices stay retrievable, naming the deleted product, and the items
    they price stay billable."""
    product = _product(client)
    one_time, recurring, customer = _inline_prices(client, product.id)
    deleted = client.v1.products.delete(product.id)
    assert deleted.deleted is True
    _refused(lambda: client.v1.products.retrieve(product.id), status=404)
    for inline in (one_time, recurring):
        assert client.v1.prices.retrieve(inline).product == product.id
    # The pending item its inline price prices is billed, finalized and paid.
    draft = client.v1.invoices.create(
        params={"customer": customer, "pending_invoice_items_behavior": "include"}
    )
    invoice = client.v1.invoices.pay(client.v1.invoices.finalize_invoice(draft.id).id)
    (line,) = invoice.lines.data
    assert line.pricing is not None and line.pricing.price_details is not None
    assert (line.pricing.price_details.price, line.amount) == (one_time, 333)
    assert (invoice.status, invoice.amount_paid) == ("paid", 333)
