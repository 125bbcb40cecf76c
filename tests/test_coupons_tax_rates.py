"""Coupons, promotion codes and tax rates through the official SDK against a live server, on
SQLite and PostgreSQL; and the redemption bookkeeping (`redemptions.redeem`) in process on
a real store of each engine, with a frozen clock."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
import stripe

from kassa.clock import FrozenClock
from kassa.errors import InvalidRequest, ResourceMissing
from kassa.services import accounts, customers
from kassa.services.billing import coupons, promotion_codes, redemptions, tax_rates
from kassa.services.billing.billing_params import percent_decimal
from kassa.services.context import Context
from kassa.store import Store, migrate, open_store
from tests.harness import Account, KassaServer, create_account, run_coroutine

GENERATED = re.compile(r"[A-Z0-9]{8}")
EXPIRY_WAIT_SECONDS = 1.2
"""How long past a `redeem_by` the expiry test waits: whole unix seconds must tick over."""


def coupon(client: stripe.StripeClient, **given: Any) -> stripe.Coupon:
    params: Any = {"percent_off": 25.5, **given}
    return client.v1.coupons.create(params=params)


def promotion_code(client: stripe.StripeClient, coupon_id: str, **given: Any) -> Any:
    params: Any = {"promotion": {"type": "coupon", "coupon": coupon_id}, **given}
    return client.v1.promotion_codes.create(params=params)


def tax_rate(client: stripe.StripeClient, **given: Any) -> stripe.TaxRate:
    params: Any = {"display_name": "VAT", "percentage": 19, "inclusive": False, **given}
    return client.v1.tax_rates.create(params=params)


def refused(call: Callable[[], object]) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        call()
    return raised.value


@pytest.fixture
def http(server: KassaServer, account: Account) -> Iterator[httpx.Client]:
    with server.http(account.secret_key) as client:
        yield client


def event_types(client: stripe.StripeClient, object_id: str) -> list[str]:
    listed = client.v1.events.list(params={"limit": 100})
    found = [e.type for e in listed.data if e.data.object.to_dict().get("id") == object_id]
    return sorted(found)


# -- coupons ----------------------------------------------------------------------------------


def test_coupon_create_retrieve_update_delete(client: stripe.StripeClient) -> None:
    created = coupon(
        client,
        id="SUMMER25",
        duration="repeating",
        duration_in_months=3,
        max_redemptions=10,
        name="Summer",
        metadata={"campaign": "summer"},
    )
    assert created.to_dict() == {
        "id": "SUMMER25",
        "object": "coupon",
        "amount_off": None,
        "created": created.created,
        "currency": None,
        "duration": "repeating",
        "duration_in_months": 3,
        "livemode": False,
        "max_redemptions": 10,
        "metadata": {"campaign": "summer"},
        "name": "Summer",
        "percent_off": 25.5,
        "redeem_by": None,
        "times_redeemed": 0,
        "valid": True,
    }
    assert client.v1.coupons.retrieve("SUMMER25").to_dict() == created.to_dict()

    updated = client.v1.coupons.update(
        "SUMMER25", params={"name": "Summer sale", "metadata": {"campaign": "", "tier": "1"}}
    )
    assert updated.name == "Summer sale"
    assert updated.metadata is not None and updated.metadata.to_dict() == {"tier": "1"}
    assert updated.percent_off == 25.5

    deleted = client.v1.coupons.delete("SUMMER25")
    assert deleted.to_dict() == {"id": "SUMMER25", "object": "coupon", "deleted": True}
    for call in (
        lambda: client.v1.coupons.retrieve("SUMMER25"),
        lambda: client.v1.coupons.update("SUMMER25", params={"name": "x"}),
        lambda: client.v1.coupons.delete("SUMMER25"),
    ):
        error = refused(call)
        assert (error.http_status, error.code) == (404, "resource_missing")
    assert client.v1.coupons.list().data == []
    assert event_types(client, "SUMMER25") == ["coupon.created", "coupon.deleted", "coupon.updated"]


def test_generated_coupon_ids_and_defaults(client: stripe.StripeClient) -> None:
    created = coupon(client)
    assert GENERATED.fullmatch(created.id)
    assert created.duration == "once"
    assert created.duration_in_months is None


def test_amount_off_coupon_and_its_includable_fields(client: stripe.StripeClient) -> None:
    created = coupon(
        client,
        percent_off=None,
        amount_off=500,
        currency="usd",
        currency_options={"eur": {"amount_off": 450}},
    )
    assert (created.amount_off, created.currency, created.percent_off) == (500, "usd", None)
    assert "currency_options" not in created and "applies_to" not in created
    expanded = client.v1.coupons.retrieve(
        created.id, params={"expand": ["currency_options", "applies_to"]}
    )
    assert expanded.to_dict()["currency_options"] == {
        "usd": {"amount_off": 500},
        "eur": {"amount_off": 450},
    }
    assert expanded.applies_to is None

    updated = client.v1.coupons.update(
        created.id,
        params={"currency_options": {"gbp": {"amount_off": 400}}, "expand": ["currency_options"]},
    )
    assert set(updated.to_dict()["currency_options"]) == {"usd", "eur", "gbp"}

    percent = coupon(client)
    error = refused(
        lambda: client.v1.coupons.update(
            percent.id, params={"currency_options": {"eur": {"amount_off": 1}}}
        )
    )
    assert (error.http_status, error.param) == (400, "currency_options")


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        ({"percent_off": "10", "amount_off": "100", "currency": "usd"}, "amount_off", None),
        ({"duration": "once"}, "percent_off", "parameter_missing"),
        ({"amount_off": "100"}, "currency", "parameter_missing"),
        ({"percent_off": "10", "duration": "repeating"}, "duration_in_months", "parameter_missing"),
        ({"percent_off": "10", "duration_in_months": "3"}, "duration_in_months", None),
        ({"percent_off": "0"}, "percent_off", None),
        ({"percent_off": "100.5"}, "percent_off", None),
        ({"percent_off": "ten"}, "percent_off", None),
        ({"percent_off": "10", "redeem_by": "1000"}, "redeem_by", None),
        ({"percent_off": "10", "redeem_by": "9999999999"}, "redeem_by", None),
        ({"percent_off": "10", "max_redemptions": "0"}, "max_redemptions", None),
        ({"percent_off": "10", "id": "a/b"}, "id", None),
        ({"percent_off": "10", "currency_options[eur][amount_off]": "5"}, "currency_options", None),
        ({"percent_off": "10", "duration": "sometimes"}, "duration", None),
    ],
)
def test_coupon_create_refusals(
    http: httpx.Client, params: dict[str, str], param: str, code: str | None
) -> None:
    response = http.post("/v1/coupons", data=params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param
    if code is not None:
        assert error["code"] == code
    assert http.get("/v1/coupons").json()["data"] == []


def test_coupon_id_unique_per_account(server: KassaServer, client: stripe.StripeClient) -> None:
    coupon(client, id="WELCOME")
    error = refused(lambda: coupon(client, id="WELCOME", percent_off=5))
    assert (error.http_status, error.code, error.param) == (400, "resource_already_exists", "id")

    other = server.client(create_account(server.database_url).secret_key)
    refused_elsewhere = refused(lambda: other.v1.coupons.retrieve("WELCOME"))
    assert refused_elsewhere.http_status == 404
    theirs = coupon(other, id="WELCOME", percent_off=50)
    assert theirs.percent_off == 50
    assert client.v1.coupons.retrieve("WELCOME").percent_off == 25.5


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("percent_off", "10"),
        ("amount_off", "100"),
        ("currency", "usd"),
        ("duration", "forever"),
        ("duration_in_months", "2"),
        ("max_redemptions", "5"),
        ("redeem_by", "1999999999"),
        ("applies_to[products][]", "prod_x"),
    ],
)
def test_coupon_fields_are_immutable(
    http: httpx.Client, client: stripe.StripeClient, field: str, value: str
) -> None:
    created = coupon(client)
    response = http.post(f"/v1/coupons/{created.id}", data={field: value})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == field.partition("[")[0]
    assert error["code"] == "parameter_unknown"
    assert "cannot be changed" in error["message"]
    assert client.v1.coupons.retrieve(created.id).to_dict() == created.to_dict()


def test_coupon_is_invalid_once_redeem_by_passes(client: stripe.StripeClient) -> None:
    redeem_by = int(time.time()) + 3
    created = coupon(client, redeem_by=redeem_by)
    assert created.valid is True and created.redeem_by == redeem_by
    time.sleep(max(0.0, redeem_by + EXPIRY_WAIT_SECONDS - time.time()))
    assert client.v1.coupons.retrieve(created.id).valid is False
    assert [c.valid for c in client.v1.coupons.list().data] == [False]
    # An invalid coupon takes no new promotion codes.
    error = refused(lambda: promotion_code(client, created.id))
    assert (error.code, error.param) == ("coupon_expired", "promotion[coupon]")


def test_coupon_list_pages_and_filters_on_created(client: stripe.StripeClient) -> None:
    ids = [coupon(client, id=f"C{i}").id for i in range(4)]
    page = client.v1.coupons.list(params={"limit": 2})
    assert [c.id for c in page.data] == ids[::-1][:2] and page.has_more
    assert page.url == "/v1/coupons"
    rest = client.v1.coupons.list(params={"limit": 2, "starting_after": page.data[-1].id})
    assert [c.id for c in rest.data] == ids[::-1][2:]
    walked = [c.id for c in client.v1.coupons.list(params={"limit": 3}).auto_paging_iter()]
    assert walked == ids[::-1]
    first = client.v1.coupons.retrieve(ids[0]).created
    assert len(client.v1.coupons.list(params={"created": {"gte": first}}).data) == 4
    assert client.v1.coupons.list(params={"created": {"lt": first}}).data == []


def test_applies_to_names_existing_products(client: stripe.StripeClient) -> None:
    product = client.v1.products.create(params={"name": "Gold"})
    created = coupon(client, applies_to={"products": [product.id]})
    expanded = client.v1.coupons.retrieve(created.id, params={"expand": ["applies_to"]})
    assert expanded.to_dict()["applies_to"] == {"products": [product.id]}
    error = refused(lambda: coupon(client, applies_to={"products": [product.id, "prod_missing"]}))
    assert (error.http_status, error.code) == (404, "resource_missing")
    assert error.param == "applies_to[products][1]"


# -- promotion codes --------------------------------------------------------------------------


def test_promotion_code_create_retrieve_update_list(client: stripe.StripeClient) -> None:
    base = coupon(client, id="SPRING", max_redemptions=5)
    customer = client.v1.customers.create(params={"email": "p@example.com"})
    created = promotion_code(
        client,
        "SPRING",
        code="Spring-10",
        customer=customer.id,
        max_redemptions=3,
        metadata={"channel": "mail"},
        restrictions={"first_time_transaction": True},
    )
    assert created.id.startswith("promo_")
    assert created.to_dict() == {
        "id": created.id,
        "object": "promotion_code",
        "active": True,
        "code": "Spring-10",
        "created": created.created,
        "customer": customer.id,
        "customer_account": None,
        "expires_at": None,
        "livemode": False,
        "max_redemptions": 3,
        "metadata": {"channel": "mail"},
        "promotion": {"coupon": "SPRING", "type": "coupon"},
        "restrictions": {
            "first_time_transaction": True,
            "minimum_amount": None,
            "minimum_amount_currency": None,
        },
        "times_redeemed": 0,
    }
    expanded = client.v1.promotion_codes.retrieve(
        created.id, params={"expand": ["promotion.coupon", "customer"]}
    )
    assert expanded.promotion.coupon is not None
    assert expanded.to_dict()["promotion"]["coupon"] == base.to_dict()
    assert expanded.to_dict()["customer"]["id"] == customer.id

    other = promotion_code(client, "SPRING")
    assert GENERATED.fullmatch(other.code)
    updated = client.v1.promotion_codes.update(
        other.id, params={"active": False, "metadata": {"k": "v"}}
    )
    assert updated.active is False and updated.metadata is not None

    def listed(**filters: Any) -> list[str]:
        params: Any = filters
        return [p.id for p in client.v1.promotion_codes.list(params=params).data]

    assert listed() == [other.id, created.id]
    assert listed(code="spring-10") == [created.id]
    assert listed(code="SPRING-10", active=True) == [created.id]
    assert listed(active=False) == [other.id]
    assert listed(coupon="SPRING") == [other.id, created.id]
    assert listed(customer=customer.id) == [created.id]
    assert listed(coupon="OTHER") == []
    assert event_types(client, other.id) == ["promotion_code.created", "promotion_code.updated"]


def test_active_codes_are_unique_regardless_of_case(client: stripe.StripeClient) -> None:
    coupon(client, id="A")
    coupon(client, id="B")
    first = promotion_code(client, "A", code="SAVE")
    error = refused(lambda: promotion_code(client, "B", code="save"))
    assert (error.http_status, error.code, error.param) == (400, "resource_already_exists", "code")

    client.v1.promotion_codes.update(first.id, params={"active": False})
    second = promotion_code(client, "B", code="save")
    assert second.code == "save"
    # An inactive code may share its code; reactivating it may not.
    inactive = promotion_code(client, "A", code="Save", active=False)
    assert inactive.active is False
    error = refused(lambda: client.v1.promotion_codes.update(first.id, params={"active": True}))
    assert (error.code, error.param) == ("resource_already_exists", "active")


@pytest.mark.parametrize(
    ("params", "status", "param"),
    [
        ({}, 400, "promotion"),
        ({"promotion[type]": "coupon"}, 400, "promotion[coupon]"),
        ({"promotion[type]": "gift", "promotion[coupon]": "BASE"}, 400, "promotion[type]"),
        ({"promotion[type]": "coupon", "promotion[coupon]": "NOPE"}, 404, "promotion[coupon]"),
        ({"customer": "cus_missing"}, 404, "customer"),
        ({"code": "has space"}, 400, "code"),
        ({"expires_at": "1000"}, 400, "expires_at"),
        ({"expires_at": "9999999999"}, 400, "expires_at"),
        ({"max_redemptions": "11"}, 400, "max_redemptions"),
        ({"restrictions[minimum_amount]": "100"}, 400, "restrictions[minimum_amount_currency]"),
        ({"restrictions[minimum_amount_currency]": "usd"}, 400, "restrictions[minimum_amount]"),
        (
            {
                "restrictions[minimum_amount]": "100",
                "restrictions[minimum_amount_currency]": "usd",
                "restrictions[currency_options][usd][minimum_amount]": "5",
            },
            400,
            "restrictions[currency_options][usd]",
        ),
    ],
)
def test_promotion_code_create_refusals(
    http: httpx.Client,
    client: stripe.StripeClient,
    params: dict[str, str],
    status: int,
    param: str,
) -> None:
    coupon(client, id="BASE", max_redemptions=10, redeem_by=int(time.time()) + 86_400)
    names_its_promotion = not params or "promotion[type]" in params
    promotion = (
        {} if names_its_promotion else {"promotion[type]": "coupon", "promotion[coupon]": "BASE"}
    )
    form = {**promotion, **params}
    response = http.post("/v1/promotion_codes", data=form)
    assert response.status_code == status, response.text
    assert response.json()["error"]["param"] == param
    assert http.get("/v1/promotion_codes").json()["data"] == []


def test_a_deleted_coupon_takes_no_promotion_code(client: stripe.StripeClient) -> None:
    coupon(client, id="GONE")
    client.v1.coupons.delete("GONE")
    error = refused(lambda: promotion_code(client, "GONE"))
    assert (error.http_status, error.code, error.param) == (
        404,
        "resource_missing",
        "promotion[coupon]",
    )


@pytest.mark.parametrize(
    "field",
    [
        "code",
        "customer",
        "expires_at",
        "max_redemptions",
        "promotion[coupon]",
        "restrictions[first_time_transaction]",
        "restrictions[minimum_amount]",
        "restrictions[minimum_amount_currency]",
    ],
)
def test_promotion_code_fields_are_immutable(
    http: httpx.Client, client: stripe.StripeClient, field: str
) -> None:
    created = promotion_code(client, coupon(client).id)
    response = http.post(f"/v1/promotion_codes/{created.id}", data={field: "1"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "parameter_unknown"
    assert error["param"] == (
        field if field.startswith("restrictions") else field.partition("[")[0]
    )


def test_restrictions_currency_options(client: stripe.StripeClient, http: httpx.Client) -> None:
    created = promotion_code(
        client,
        coupon(client).id,
        restrictions={
            "minimum_amount": 1000,
            "minimum_amount_currency": "usd",
            "currency_options": {"eur": {"minimum_amount": 900}},
        },
    )
    # Includable (Stripe's x-expandableFields): absent unless expanded, everywhere it is shown.
    assert "currency_options" not in created.to_dict()["restrictions"]
    assert str(created)  # the SDK renders it (a bare map there broke its __str__)
    restrictions = http.get(f"/v1/promotion_codes/{created.id}").json()["restrictions"]
    assert restrictions == {
        "first_time_transaction": False,
        "minimum_amount": 1000,
        "minimum_amount_currency": "usd",
    }
    listed = http.get("/v1/promotion_codes").json()["data"]
    assert [("currency_options" in p["restrictions"]) for p in listed] == [False]
    expand = "restrictions.currency_options"
    expanded = http.get(f"/v1/promotion_codes/{created.id}", params={"expand[]": expand})
    assert expanded.json()["restrictions"]["currency_options"] == {"eur": {"minimum_amount": 900}}
    page = http.get("/v1/promotion_codes", params={"expand[]": f"data.{expand}"}).json()
    assert page["data"][0]["restrictions"]["currency_options"] == {"eur": {"minimum_amount": 900}}
    made = promotion_code(client, coupon(client).id, expand=[expand])
    assert made.to_dict()["restrictions"]["currency_options"] == {}
    updated = client.v1.promotion_codes.update(
        created.id,
        params={
            "restrictions": {"currency_options": {"gbp": {"minimum_amount": 800}}},
            "expand": [expand],
        },
    )
    assert set(updated.to_dict()["restrictions"]["currency_options"]) == {"eur", "gbp"}
    response = http.post(
        f"/v1/promotion_codes/{created.id}",
        data={"restrictions[currency_options][usd][minimum_amount]": "1"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "restrictions[currency_options][usd]"
    events = client.v1.events.list(params={"type": "promotion_code.updated"}).data
    assert "currency_options" not in events[0].data.object.to_dict()["restrictions"]


def test_currency_options_minimum_is_enforced_on_invoices(client: stripe.StripeClient) -> None:
    code = promotion_code(
        client,
        coupon(client, percent_off=25).id,
        restrictions={
            "minimum_amount": 1000,
            "minimum_amount_currency": "usd",
            "currency_options": {"eur": {"minimum_amount": 900}},
        },
    )
    customer = client.v1.customers.create(params={"name": "eu"})

    def draft(amount: int) -> stripe.Invoice:
        invoice = client.v1.invoices.create(params={"customer": customer.id, "currency": "eur"})
        assert invoice.id is not None
        client.v1.invoice_items.create(
            params={
                "customer": customer.id,
                "invoice": invoice.id,
                "amount": amount,
                "currency": "eur",
            }
        )
        return invoice

    # The minimum is checked when the discount is redeemed: as the invoice is finalized.
    small = draft(899)
    client.v1.invoices.update(str(small.id), params={"discounts": [{"promotion_code": code.id}]})
    error = refused(lambda: client.v1.invoices.finalize_invoice(str(small.id)))
    assert error.param == "discounts[0][promotion_code]", error.user_message
    enough = draft(900)
    client.v1.invoices.update(str(enough.id), params={"discounts": [{"promotion_code": code.id}]})
    finalized = client.v1.invoices.finalize_invoice(str(enough.id))
    assert (finalized.status, finalized.total) == ("open", 900 - 225)


def test_code_is_up_to_500_characters(client: stripe.StripeClient) -> None:
    base = coupon(client).id
    longest = "A" * promotion_codes.CODE_CHARS_MAX
    assert promotion_codes.CODE_CHARS_MAX == 500  # Stripe's maxLength for `code`
    assert promotion_code(client, base, code=longest).code == longest
    listed = client.v1.promotion_codes.list(params={"code": longest.lower()}).data
    assert [p.code for p in listed] == [longest]
    error = refused(lambda: promotion_code(client, base, code=longest + "A"))
    assert (error.http_status, error.param) == (400, "code")


def test_codes_are_unique_per_customer(client: stripe.StripeClient) -> None:
    base = coupon(client).id
    alice, bob = (client.v1.customers.create(params={"name": n}) for n in ("Alice", "Bob"))
    for_alice = promotion_code(client, base, code="VIP", customer=alice.id)
    for_bob = promotion_code(client, base, code="vip", customer=bob.id)
    # Alice could use both of two codes of hers, or hers and one for everyone: refused.
    error = refused(lambda: promotion_code(client, base, code="Vip", customer=alice.id))
    assert (error.code, error.param) == ("resource_already_exists", "code")
    error = refused(lambda: promotion_code(client, base, code="VIP"))
    assert (error.code, error.param) == ("resource_already_exists", "code")
    listed = client.v1.promotion_codes.list(params={"code": "VIP"}).data
    assert [p.id for p in listed] == [for_bob.id, for_alice.id]

    client.v1.promotion_codes.update(for_alice.id, params={"active": False})
    client.v1.promotion_codes.update(for_bob.id, params={"active": False})
    for_everyone = promotion_code(client, base, code="VIP")
    error = refused(lambda: promotion_code(client, base, code="VIP", customer=bob.id))
    assert (error.code, error.param) == ("resource_already_exists", "code")
    error = refused(lambda: client.v1.promotion_codes.update(for_bob.id, params={"active": True}))
    assert (error.code, error.param) == ("resource_already_exists", "active")
    client.v1.promotion_codes.update(for_everyone.id, params={"active": False})
    client.v1.promotion_codes.update(for_bob.id, params={"active": True})
    assert client.v1.promotion_codes.update(for_alice.id, params={"active": True}).active


# -- tax rates --------------------------------------------------------------------------------


def test_tax_rate_create_retrieve_update_list(client: stripe.StripeClient) -> None:
    created = tax_rate(
        client,
        percentage=8.875,
        country="us",
        state="NY",
        jurisdiction="NYC",
        description="New York City",
        tax_type="sales_tax",
        metadata={"k": "v"},
    )
    assert created.id.startswith("txr_")
    assert created.to_dict() == {
        "id": created.id,
        "object": "tax_rate",
        "active": True,
        "country": "US",
        "created": created.created,
        "description": "New York City",
        "display_name": "VAT",
        "effective_percentage": 8.875,
        "flat_amount": None,
        "inclusive": False,
        "jurisdiction": "NYC",
        "jurisdiction_level": None,
        "livemode": False,
        "metadata": {"k": "v"},
        "percentage": 8.875,
        "rate_type": "percentage",
        "state": "NY",
        "tax_type": "sales_tax",
    }
    assert client.v1.tax_rates.retrieve(created.id).to_dict() == created.to_dict()
    updated = client.v1.tax_rates.update(
        created.id,
        params={"display_name": "Sales tax", "active": False, "country": "", "state": ""},
    )
    assert (updated.display_name, updated.active, updated.country, updated.state) == (
        "Sales tax",
        False,
        None,
        None,
    )
    assert updated.percentage == 8.875

    inclusive = tax_rate(client, inclusive=True, percentage=20)
    assert inclusive.percentage == 20 and inclusive.inclusive is True

    def listed(**filters: Any) -> list[str]:
        params: Any = filters
        return [t.id for t in client.v1.tax_rates.list(params=params).data]

    assert listed() == [inclusive.id, created.id]
    assert listed(active=True) == [inclusive.id]
    assert listed(active=False) == [created.id]
    assert listed(inclusive=True) == [inclusive.id]
    assert listed(inclusive=False) == [created.id]
    assert event_types(client, created.id) == ["tax_rate.created", "tax_rate.updated"]


@pytest.mark.parametrize(("field", "value"), [("percentage", "5"), ("inclusive", "true")])
def test_tax_rate_percentage_and_inclusive_are_immutable(
    http: httpx.Client, client: stripe.StripeClient, field: str, value: str
) -> None:
    created = tax_rate(client)
    response = http.post(f"/v1/tax_rates/{created.id}", data={field: value})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == field
    assert client.v1.tax_rates.retrieve(created.id).to_dict() == created.to_dict()


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"display_name": "VAT", "percentage": "19"}, "inclusive"),
        ({"display_name": "VAT", "inclusive": "false"}, "percentage"),
        ({"percentage": "19", "inclusive": "false"}, "display_name"),
        ({"display_name": "VAT", "percentage": "100.01", "inclusive": "false"}, "percentage"),
        ({"display_name": "VAT", "percentage": "-1", "inclusive": "false"}, "percentage"),
        (
            {"display_name": "VAT", "percentage": "1", "inclusive": "false", "tax_type": "x"},
            "tax_type",
        ),
        (
            {"display_name": "VAT", "percentage": "1", "inclusive": "false", "country": "USA"},
            "country",
        ),
    ],
)
def test_tax_rate_create_refusals(http: httpx.Client, params: dict[str, str], param: str) -> None:
    response = http.post("/v1/tax_rates", data=params)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


# -- redemption bookkeeping, in process on a real store ---------------------------------------

START = 1_800_000_000


class Bench:
    """A migrated store with one account, and a way to run a unit of work at a given time."""

    def __init__(self, store: Store, account_id: str, clock: FrozenClock) -> None:
        self.store = store
        self.account_id = account_id
        self.clock = clock

    async def write(self, work: Callable[[Context], Awaitable[Any]]) -> Any:
        async with self.store.write() as tx:
            return await work(Context(account_id=self.account_id, tx=tx, clock=self.clock))

    async def refusal(self, redemption: redemptions.Redemption) -> InvalidRequest:
        with pytest.raises(InvalidRequest) as raised:
            await self.write(lambda ctx: redemptions.redeem(ctx, redemption))
        return raised.value

    async def coupon(self, coupon_id: str) -> dict[str, Any]:
        async with self.store.read() as tx:
            ctx = Context(account_id=self.account_id, tx=tx, clock=self.clock)
            return await coupons.retrieve_coupon(ctx, coupon_id)


def on_bench(database_url: str, scenario: Callable[[Bench], Awaitable[None]]) -> None:
    async def run() -> None:
        store = await open_store(database_url)
        try:
            clock = FrozenClock(START)
            await migrate(store, START)
            async with store.write() as tx:
                account = await accounts.create_account(tx, clock)
            await scenario(Bench(store, str(account.account["id"]), clock))
        finally:
            await store.close()

    run_coroutine(run)


def test_redeeming_counts_and_stops_at_the_coupon_s_limits(private_database_url: str) -> None:
    async def scenario(bench: Bench) -> None:
        await bench.write(
            lambda ctx: coupons.create_coupon(
                ctx,
                coupons.CreateCoupon(
                    id="TWICE",
                    percent_off=percent_decimal(10),
                    max_redemptions=2,
                    redeem_by=START + 1_000,
                ),
            )
        )
        once = redemptions.Redemption(coupon="TWICE", customer="cus_1")
        first = await bench.write(lambda ctx: redemptions.redeem(ctx, once))
        assert (first.coupon["times_redeemed"], first.coupon["valid"]) == (1, True)
        second = await bench.write(lambda ctx: redemptions.redeem(ctx, once))
        assert (second.coupon["times_redeemed"], second.coupon["valid"]) == (2, False)
        used_up = await bench.refusal(once)
        assert (used_up.code, used_up.param) == ("coupon_expired", "coupon")
        assert (await bench.coupon("TWICE"))["times_redeemed"] == 2

    on_bench(private_database_url, scenario)


def _amount_off_coupon(
    coupon_id: str, *, redeem_by: int
) -> Callable[[Context], Awaitable[dict[str, Any]]]:
    request = coupons.CreateCoupon(
        id=coupon_id, amount_off=500, currency="usd", redeem_by=redeem_by
    )
    return lambda ctx: coupons.create_coupon(ctx, request)


def test_a_coupon_past_redeem_by_or_deleted_is_refused(private_database_url: str) -> None:
    async def scenario(bench: Bench) -> None:
        for coupon_id in ("LATE", "DELETED"):
            await bench.write(_amount_off_coupon(coupon_id, redeem_by=START + 60))
        await bench.write(lambda ctx: coupons.delete_coupon(ctx, "DELETED"))
        gone = redemptions.Redemption(coupon="DELETED", coupon_param="discounts[0][coupon]")
        with pytest.raises(ResourceMissing) as missing:
            await bench.write(lambda ctx: redemptions.redeem(ctx, gone))
        assert missing.value.param == "discounts[0][coupon]"

        wrong_currency = await bench.refusal(
            redemptions.Redemption(coupon="LATE", currency="eur", amount=1000)
        )
        assert wrong_currency.param == "coupon"
        assert (await bench.coupon("LATE"))["valid"] is True
        bench.clock.advance(61)
        assert (await bench.coupon("LATE"))["valid"] is False
        expired = await bench.refusal(redemptions.Redemption(coupon="LATE"))
        assert expired.code == "coupon_expired"
        assert (await bench.coupon("LATE"))["times_redeemed"] == 0

    on_bench(private_database_url, scenario)


def test_promotion_code_restrictions_are_enforced(private_database_url: str) -> None:
    async def scenario(bench: Bench) -> None:
        await bench.write(
            lambda ctx: coupons.create_coupon(
                ctx, coupons.CreateCoupon(id="BASE", percent_off=percent_decimal(15))
            )
        )
        customer = await bench.write(
            lambda ctx: customers.create_customer(ctx, customers.CreateCustomer())
        )
        code = await bench.write(
            lambda ctx: promotion_codes.create_promotion_code(
                ctx,
                promotion_codes.CreatePromotionCode(
                    promotion={"type": "coupon", "coupon": "BASE"},
                    code="VIP",
                    customer=customer["id"],
                    max_redemptions=1,
                    expires_at=START + 100,
                    restrictions={
                        "first_time_transaction": True,
                        "minimum_amount": 1000,
                        "minimum_amount_currency": "usd",
                        "currency_options": {"eur": {"minimum_amount": 900}},
                    },
                ),
            )
        )

        def via_code(**given: Any) -> redemptions.Redemption:
            base: dict[str, Any] = {
                "promotion_code": code["id"],
                "customer": customer["id"],
                "amount": 1000,
                "currency": "usd",
                "first_time_transaction": True,
                "promotion_code_param": "discounts[0][promotion_code]",
            }
            return redemptions.Redemption(**{**base, **given})

        refusals = [
            via_code(customer="cus_someone_else"),
            via_code(first_time_transaction=False),
            via_code(amount=999),
            via_code(currency="eur", amount=899),
            via_code(currency="gbp"),
        ]
        for redemption in refusals:
            error = await bench.refusal(redemption)
            assert error.param == "discounts[0][promotion_code]", error.message
        mismatch = await bench.refusal(via_code(coupon="OTHER"))
        assert mismatch.param == "coupon"

        redeemed = await bench.write(
            lambda ctx: redemptions.redeem(ctx, via_code(currency="eur", amount=900))
        )
        assert redeemed.promotion_code["times_redeemed"] == 1
        assert redeemed.coupon["times_redeemed"] == 1
        used_up = await bench.refusal(via_code())
        assert "maximum" in used_up.message
        assert (await bench.coupon("BASE"))["times_redeemed"] == 1

    on_bench(private_database_url, scenario)


def test_inactive_and_expired_codes_are_refused(private_database_url: str) -> None:
    async def scenario(bench: Bench) -> None:
        await bench.write(
            lambda ctx: coupons.create_coupon(
                ctx, coupons.CreateCoupon(id="BASE", percent_off=percent_decimal(15))
            )
        )

        async def new_code(**given: Any) -> dict[str, Any]:
            request = promotion_codes.CreatePromotionCode(
                promotion={"type": "coupon", "coupon": "BASE"}, **given
            )
            return dict(
                await bench.write(lambda ctx: promotion_codes.create_promotion_code(ctx, request))
            )

        inactive = await new_code(active=False)
        expiring = await new_code(expires_at=START + 10)
        error = await bench.refusal(redemptions.Redemption(promotion_code=inactive["id"]))
        assert "inactive" in error.message
        bench.clock.advance(10)
        expired = await bench.refusal(redemptions.Redemption(promotion_code=expiring["id"]))
        assert expired.code == "coupon_expired"
        assert (await bench.coupon("BASE"))["times_redeemed"] == 0

    on_bench(private_database_url, scenario)


def test_a_redemption_rolls_back_with_its_unit_of_work(private_database_url: str) -> None:
    """The counts are written in the caller's transaction: a unit that fails after redeeming
    leaves them as they were."""

    class CallerFailed(Exception):
        pass

    async def scenario(bench: Bench) -> None:
        await bench.write(
            lambda ctx: coupons.create_coupon(
                ctx, coupons.CreateCoupon(id="ONCE", percent_off=percent_decimal(5))
            )
        )

        async def redeem_then_fail(ctx: Context) -> None:
            await redemptions.redeem(ctx, redemptions.Redemption(coupon="ONCE"))
            raise CallerFailed

        with pytest.raises(CallerFailed):
            await bench.write(redeem_then_fail)
        assert (await bench.coupon("ONCE"))["times_redeemed"] == 0

    on_bench(private_database_url, scenario)


def test_tax_rate_percentage_reads_back_exactly(client: stripe.StripeClient) -> None:
    created = tax_rate(client, percentage=7.25)
    assert str(tax_rates.percentage_of(created.to_dict())) == "7.25"
