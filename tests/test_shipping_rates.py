"""Shipping rates and shipping on Checkout end to end through the official SDK against a live
`kassa serve` (SQLite and PostgreSQL, one server per module): rates (create, retrieve,
update, list, and the refusals, each naming its parameter, nothing written); a Checkout
Session with two shipping options and a shipping address, paid over plain HTTP choosing the
second (totals worked out by hand, the PaymentIntent's `shipping`, `collected_information`);
the address refused outside the allowed countries; the modes that refuse shipping options;
a Payment Link carrying shipping to its sessions; and one payment in Chromium."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import stripe
from playwright.sync_api import Browser, Page, expect

from tests import loopback
from tests.browser import chromium_session, fresh_page
from tests.conftest import module_server
from tests.harness import KassaServer, assert_ledger_whole, create_account

Client = stripe.StripeClient
VISA = "4242 4242 4242 4242"
SUCCESS = "https://shop.example/thanks?session={CHECKOUT_SESSION_ID}"
ADDRESS = {
    "shipping_name": "Ada Lovelace",
    "shipping_line1": "1 Main St",
    "shipping_line2": "Apt 2",
    "shipping_city": "Springfield",
    "shipping_postal_code": "12345",
    "shipping_state": "IL",
    "shipping_country": "US",
}

shipping_server = module_server("shipping-rates", KassaServer)


@pytest.fixture
def server(shipping_server: KassaServer) -> Iterator[KassaServer]:
    yield shipping_server
    assert_ledger_whole(shipping_server.database_url)


@pytest.fixture
def client(server: KassaServer) -> Client:
    return server.client(create_account(server.database_url).secret_key)


def key() -> stripe.RequestOptions:
    return {"idempotency_key": str(uuid.uuid4())}


def _rate(client: Client, amount: int, name: str = "Ground", **extra: Any) -> stripe.ShippingRate:
    params: Any = {
        "display_name": name,
        "type": "fixed_amount",
        "fixed_amount": {"amount": amount, "currency": "usd"},
        **extra,
    }
    return client.v1.shipping_rates.create(params=params, options=key())


def _price(client: Client, amount: int, *, recurring: bool = False) -> str:
    params: Any = {"currency": "usd", "unit_amount": amount, "product_data": {"name": "Tea"}}
    if recurring:
        params["recurring"] = {"interval": "month"}
    return client.v1.prices.create(params=params, options=key()).id


def _shipped_session(client: Client, **extra: Any) -> stripe.checkout.Session:
    """Two teas at $12.50 with two shipping options: a $5.00 rate by id and a $15.00 one
    made inline; shipping to the US or Canada."""
    ground = _rate(client, 500)
    params: Any = {
        "mode": "payment",
        "success_url": SUCCESS,
        "line_items": [{"price": _price(client, 1_250), "quantity": 2}],
        "shipping_address_collection": {"allowed_countries": ["US", "CA"]},
        "shipping_options": [
            {"shipping_rate": ground.id},
            {
                "shipping_rate_data": {
                    "display_name": "Express",
                    "type": "fixed_amount",
                    "fixed_amount": {"amount": 1_500, "currency": "usd"},
                    "delivery_estimate": {"maximum": {"unit": "business_day", "value": 1}},
                }
            },
        ],
        **extra,
    }
    return client.v1.checkout.sessions.create(params=params, options=key())


def _pay(server: KassaServer, session: stripe.checkout.Session, **fields: str) -> httpx.Response:
    """The session's page form posted as a browser posts it, with a Visa card."""
    assert session.url is not None
    pay_url = session.url.replace(f"/{session.id}?", f"/{session.id}/pay?")
    form = {
        "email": "ada@example.com",
        "number": VISA,
        "exp_month": "12",
        "exp_year": "34",
        "cvc": "123",
        "attempt": str(uuid.uuid4()),
        **fields,
    }
    with loopback.Client(timeout=30, headers={"origin": server.url}) as http:
        return http.post(pay_url, data=form)


def _refused(call: Any, param: str) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        call()
    assert refused.value.http_status in (400, 404)  # 404: a named object is missing
    assert refused.value.param == param, refused.value.user_message


def _count_rates(client: Client) -> int:
    return len(client.v1.shipping_rates.list(params={"limit": 100}).data)


# --- the rates ------------------------------------------------------------------------------------


def test_a_rate_is_stripes_object_and_changes_as_stripe_allows(client: Client) -> None:
    rate = _rate(
        client,
        500,
        fixed_amount={
            "amount": 500,
            "currency": "usd",
            "currency_options": {"eur": {"amount": 450}},
        },
        delivery_estimate={
            "minimum": {"unit": "business_day", "value": 5},
            "maximum": {"unit": "business_day", "value": 7},
        },
        tax_code="txcd_92010001",
        metadata={"carrier": "ups"},
    )
    declared = {
        name
        for cls in stripe.ShippingRate.__mro__
        for name in getattr(cls, "__annotations__", {})
        if not name.startswith("_")
    } - {"OBJECT_NAME"}
    assert set(rate.to_dict()) == declared
    assert rate.id.startswith("shr_") and rate.object == "shipping_rate"
    assert (rate.active, rate.type, rate.tax_behavior) == (True, "fixed_amount", "unspecified")
    assert rate.fixed_amount is not None and rate.fixed_amount.amount == 500
    assert rate.fixed_amount.currency_options is not None
    assert rate.fixed_amount.currency_options["eur"].amount == 450
    assert rate.delivery_estimate is not None and rate.delivery_estimate.maximum is not None
    assert rate.delivery_estimate.maximum.value == 7
    assert (rate.tax_code, rate.metadata.to_dict()) == ("txcd_92010001", {"carrier": "ups"})
    assert client.v1.shipping_rates.retrieve(rate.id).display_name == "Ground"

    changed = client.v1.shipping_rates.update(
        rate.id,
        params={
            "active": False,
            "tax_behavior": "exclusive",
            "metadata": {"carrier": ""},
            "fixed_amount": {"currency_options": {"eur": {"amount": 400}, "gbp": {"amount": 420}}},
        },
        options=key(),
    )
    assert (changed.active, changed.tax_behavior, changed.metadata.to_dict()) == (
        False,
        "exclusive",
        {},
    )
    assert changed.fixed_amount is not None and changed.fixed_amount.amount == 500
    options = changed.fixed_amount.currency_options
    assert options is not None
    assert (options["eur"].amount, options["gbp"].amount) == (400, 420)

    other = _rate(client, 0, name="Free", fixed_amount={"amount": 0, "currency": "eur"})
    listed = client.v1.shipping_rates.list(params={"active": False}).data
    assert [each.id for each in listed] == [rate.id]
    by_currency = client.v1.shipping_rates.list(params={"currency": "eur"}).data
    assert [each.id for each in by_currency] == [other.id]
    since = client.v1.shipping_rates.list(params={"created": {"gte": other.created}}).data
    assert other.id in [each.id for each in since]


def test_rates_are_refused_naming_the_parameter(client: Client) -> None:
    rate = _rate(client, 500, tax_behavior="inclusive")
    before = _count_rates(client)
    usd = {"amount": 500, "currency": "usd"}
    creates: list[tuple[dict[str, Any], str]] = [
        ({"type": "fixed_amount", "fixed_amount": usd}, "display_name"),
        ({"display_name": "Ground"}, "fixed_amount"),
        ({"display_name": "G", "fixed_amount": {**usd, "amount": -1}}, "fixed_amount[amount]"),
        (
            {"display_name": "G", "fixed_amount": {**usd, "currency": "xyz"}},
            "fixed_amount[currency]",
        ),
        ({"display_name": "G", "type": "per_item", "fixed_amount": usd}, "type"),
        (
            {
                "display_name": "G",
                "fixed_amount": usd,
                "delivery_estimate": {
                    "minimum": {"unit": "day", "value": 9},
                    "maximum": {"unit": "day", "value": 2},
                },
            },
            "delivery_estimate[minimum][value]",
        ),
        (
            {
                "display_name": "G",
                "fixed_amount": {**usd, "currency_options": {"usd": {"amount": 1}}},
            },
            "fixed_amount[currency_options][usd]",
        ),
        ({"display_name": "G", "fixed_amount": usd, "tax_code": "x"}, "tax_code"),
    ]
    updates: list[tuple[dict[str, Any], str]] = [
        ({"fixed_amount": {"amount": 1}}, "fixed_amount[amount]"),
        ({"display_name": "New"}, "display_name"),
        ({"tax_behavior": "exclusive"}, "tax_behavior"),
        (
            {"fixed_amount": {"currency_options": {"eur": {"tax_behavior": "exclusive"}}}},
            "fixed_amount[currency_options][eur][amount]",
        ),
    ]
    cases: list[tuple[Any, str]] = [
        (lambda sent=sent: client.v1.shipping_rates.create(params=sent, options=key()), param)
        for sent, param in creates
    ] + [
        (lambda sent=sent: client.v1.shipping_rates.update(rate.id, params=sent), param)
        for sent, param in updates
    ]
    for call, param in cases:
        _refused(call, param)
    assert _count_rates(client) == before
    shown = client.v1.shipping_rates.retrieve(rate.id)
    assert shown.tax_behavior == "inclusive" and shown.fixed_amount is not None
    assert "currency_options" not in shown.fixed_amount


# --- Checkout Sessions ----------------------------------------------------------------------------


def test_a_session_ships_the_second_option_paid_over_http(
    client: Client, server: KassaServer
) -> None:
    session = _shipped_session(client)
    ground, express = (option.shipping_rate for option in session.shipping_options)
    # 2 x $12.50 = $25.00, and the first option ($5.00) chosen to begin with.
    assert (session.amount_subtotal, session.amount_total) == (2_500, 3_000)
    assert session.total_details is not None and session.total_details.amount_shipping == 500
    assert session.shipping_cost is not None
    assert session.shipping_cost.to_dict() == {
        "amount_subtotal": 500,
        "amount_tax": 0,
        "amount_total": 500,
        "shipping_rate": ground,
    }
    assert [option.shipping_amount for option in session.shipping_options] == [500, 1_500]
    assert session.shipping_address_collection is not None
    assert session.shipping_address_collection.allowed_countries == ["US", "CA"]
    made = client.v1.shipping_rates.retrieve(str(express))
    assert (made.display_name, made.active) == ("Express", True)

    # A country the session does not ship to, and a missing street: refused, nothing paid.
    outside = _pay(
        server, session, shipping_rate=str(express), **{**ADDRESS, "shipping_country": "FR"}
    )
    assert outside.status_code == 400 and "We do not ship to FR" in outside.text
    no_street = _pay(server, session, **{**ADDRESS, "shipping_line1": ""})
    assert no_street.status_code == 400 and "street" in no_street.text
    unchanged = client.v1.checkout.sessions.retrieve(session.id)
    assert (unchanged.status, unchanged.payment_intent, unchanged.amount_total) == (
        "open",
        None,
        3_000,
    )

    paid = _pay(server, session, shipping_rate=str(express), **ADDRESS)
    assert paid.status_code == 303
    done = client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["payment_intent", "shipping_cost.shipping_rate"]}
    )
    # $25.00 of tea and $15.00 of express shipping.
    assert (done.status, done.payment_status, done.amount_total) == ("complete", "paid", 4_000)
    assert done.total_details is not None and done.total_details.amount_shipping == 1_500
    assert done.shipping_cost is not None and done.shipping_cost.amount_total == 1_500
    assert isinstance(done.shipping_cost.shipping_rate, stripe.ShippingRate)
    assert done.shipping_cost.shipping_rate.id == express
    assert done.collected_information is not None
    details = done.collected_information.shipping_details
    assert details is not None and details.name == "Ada Lovelace"
    assert details.address.to_dict() == {
        "city": "Springfield",
        "country": "US",
        "line1": "1 Main St",
        "line2": "Apt 2",
        "postal_code": "12345",
        "state": "IL",
    }
    intent = done.payment_intent
    assert isinstance(intent, stripe.PaymentIntent)
    assert (intent.amount, intent.status) == (4_000, "succeeded")
    assert intent.shipping is not None and intent.shipping.name == "Ada Lovelace"
    assert intent.shipping.address is not None and intent.shipping.address.country == "US"


def test_shipping_is_refused_where_checkout_cannot_ship(client: Client) -> None:
    before = _count_rates(client)
    sessions_before = len(client.v1.checkout.sessions.list(params={"limit": 100}).data)
    rate = _rate(client, 500)
    euro = _rate(client, 500, fixed_amount={"amount": 500, "currency": "eur"})
    archived = _rate(client, 500)
    client.v1.shipping_rates.update(archived.id, params={"active": False}, options=key())
    one_time = [{"price": _price(client, 1_000), "quantity": 1}]
    create = client.v1.checkout.sessions.create
    base: Any = {"mode": "payment", "success_url": SUCCESS, "line_items": one_time}
    inline = {"display_name": "Made", "fixed_amount": {"amount": 100, "currency": "usd"}}
    cases: list[tuple[Any, str]] = [
        (
            {
                "mode": "subscription",
                "success_url": SUCCESS,
                "line_items": [{"price": _price(client, 900, recurring=True), "quantity": 1}],
                "shipping_options": [{"shipping_rate": rate.id}],
            },
            "shipping_options",
        ),
        (
            {
                "mode": "setup",
                "currency": "usd",
                "success_url": SUCCESS,
                "shipping_address_collection": {"allowed_countries": ["US"]},
            },
            "shipping_address_collection",
        ),
        ({**base, "shipping_options": [{"shipping_rate": euro.id}]}, "shipping_options[0]"),
        (
            {**base, "shipping_options": [{"shipping_rate": archived.id}]},
            "shipping_options[0][shipping_rate]",
        ),
        (
            {**base, "shipping_options": [{"shipping_rate": rate.id}] * 6},
            "shipping_options",
        ),
        (
            {**base, "shipping_address_collection": {"allowed_countries": ["XX"]}},
            "shipping_address_collection[allowed_countries][0]",
        ),
        # An inline rate made first, then the second option refused: nothing stays.
        (
            {
                **base,
                "shipping_options": [
                    {"shipping_rate_data": inline},
                    {"shipping_rate": "shr_missing"},
                ],
            },
            "shipping_options[1][shipping_rate]",
        ),
    ]
    for params, param in cases:
        _refused(lambda params=params: create(params=params, options=key()), param)
    assert _count_rates(client) == before + 3
    after = len(client.v1.checkout.sessions.list(params={"limit": 100}).data)
    assert after == sessions_before


# --- Payment Links --------------------------------------------------------------------------------


def test_a_payment_link_carries_shipping_to_its_sessions(
    client: Client, server: KassaServer
) -> None:
    ground, express = _rate(client, 500), _rate(client, 1_500, name="Express")
    link = client.v1.payment_links.create(
        params={
            "line_items": [{"price": _price(client, 1_250), "quantity": 2}],
            "shipping_address_collection": {"allowed_countries": ["CA"]},
            "shipping_options": [{"shipping_rate": ground.id}, {"shipping_rate": express.id}],
        },
        options=key(),
    )
    assert link.shipping_address_collection is not None
    assert link.shipping_address_collection.allowed_countries == ["CA"]
    assert [(o.shipping_rate, o.shipping_amount) for o in link.shipping_options] == [
        (ground.id, 500),
        (express.id, 1_500),
    ]
    answer = loopback.get(link.url, timeout=30)
    assert answer.status_code == 303
    match = re.search(r"/kassa/checkout/(cs_\w+)\?secret=", answer.headers["location"])
    assert match is not None
    session = client.v1.checkout.sessions.retrieve(match[1])
    assert session.payment_link == link.id
    assert [o.shipping_rate for o in session.shipping_options] == [ground.id, express.id]
    assert session.amount_total == 3_000 and session.shipping_cost is not None
    paid = _pay(server, session, **{**ADDRESS, "shipping_country": "CA"})
    assert paid.status_code == 303
    done = client.v1.checkout.sessions.retrieve(session.id)
    assert (done.status, done.amount_total) == ("complete", 3_000)
    assert done.collected_information is not None
    assert done.collected_information.shipping_details is not None
    assert done.collected_information.shipping_details.address.country == "CA"

    cleared = client.v1.payment_links.update(
        link.id, params={"shipping_options": "", "shipping_address_collection": ""}, options=key()
    )
    assert (cleared.shipping_options, cleared.shipping_address_collection) == ([], None)
    subscription_price = _price(client, 900, recurring=True)
    _refused(
        lambda: client.v1.payment_links.create(
            params={
                "line_items": [{"price": subscription_price, "quantity": 1}],
                "shipping_options": [{"shipping_rate": ground.id}],
            },
            options=key(),
        ),
        "shipping_options",
    )


# --- the page in Chromium -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium_session()


@pytest.fixture
def shop(browser: Browser) -> Iterator[Page]:
    with fresh_page(browser) as page:
        page.route("https://shop.example/**", lambda route: route.fulfill(body="thanks"))
        yield page


def test_the_page_asks_the_address_and_the_shipping_option(client: Client, shop: Page) -> None:
    session = _shipped_session(client)
    assert session.url is not None
    shop.goto(session.url)
    expect(shop.get_by_test_id("shipping")).to_have_text("$5.00")
    expect(shop.get_by_test_id("total")).to_have_text("$30.00")
    expect(shop.get_by_test_id("shipping-option-1")).to_be_visible()
    shop.get_by_test_id("shipping-option-1").check()
    shop.get_by_test_id("update-total").click()
    expect(shop.get_by_test_id("total")).to_have_text("$40.00")
    expect(shop.get_by_test_id("shipping")).to_have_text("$15.00")
    expect(shop.get_by_test_id("shipping-country").locator("option")).to_have_count(2)
    for name, value in ADDRESS.items():
        field = name.removeprefix("shipping_").replace("_", "-")
        if name == "shipping_country":
            shop.get_by_test_id("shipping-country").select_option(value)
        else:
            shop.get_by_test_id(f"shipping-{field}").fill(value)
    shop.get_by_test_id("email").fill("ada@example.com")
    shop.get_by_test_id("card-number").fill(VISA)
    shop.get_by_test_id("card-exp-month").fill("12")
    shop.get_by_test_id("card-exp-year").fill("34")
    shop.get_by_test_id("card-cvc").fill("123")
    shop.get_by_test_id("card-name").fill("Ada Lovelace")
    shop.get_by_test_id("pay-button").click()
    shop.wait_for_url(re.compile(r"https://shop\.example/thanks"))
    done = client.v1.checkout.sessions.retrieve(session.id)
    assert (done.status, done.amount_total) == ("complete", 4_000)
    assert done.collected_information is not None
    details = done.collected_information.shipping_details
    assert details is not None and details.address.city == "Springfield"
