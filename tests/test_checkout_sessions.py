"""Checkout Sessions (hosted mode) end to end through the official SDK against a live `kassa
serve` (SQLite and PostgreSQL, one server per module): create and its refusals, each mode's
object, update, expire, line items, list filters, expiry as due work (the job's step run in
process on a clock set past `expires_at`), and the hosted page in headless Chromium paying
with Stripe's test cards in payment and subscription mode (3-D Secure and a decline too)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import stripe
from playwright.sync_api import Browser, Page, expect
from stripe.checkout import Session

from kassa.services.checkout_completion import expire_due_sessions
from tests import loopback
from tests.browser import chromium_session, fresh_page
from tests.conftest import module_server
from tests.direct_store import run_job_once
from tests.harness import KassaServer, assert_ledger_whole, create_account

Client = stripe.StripeClient
VISA = "4242 4242 4242 4242"
THREE_D_SECURE = "4000 0027 6000 3184"
DECLINED = "4000 0000 0000 0002"
SUCCESS = "https://shop.example/thanks?session={CHECKOUT_SESSION_ID}"
CANCEL = "https://shop.example/cart"
DAY = 86_400

checkout_server = module_server("checkout-sessions", KassaServer)


@pytest.fixture
def server(checkout_server: KassaServer) -> Iterator[KassaServer]:
    yield checkout_server
    assert_ledger_whole(checkout_server.database_url)


@pytest.fixture
def client(server: KassaServer) -> Client:
    return server.client(create_account(server.database_url).secret_key)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium_session()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with fresh_page(browser) as opened:
        yield opened


def key() -> stripe.RequestOptions:
    return {"idempotency_key": str(uuid.uuid4())}


def _price(client: Client, amount: int, recurring: bool = False, name: str = "Widget") -> str:
    params: Any = {
        "currency": "usd",
        "unit_amount": amount,
        "product_data": {"name": name},
    }
    if recurring:
        params["recurring"] = {"interval": "month"}
    return client.v1.prices.create(params=params, options=key()).id


def _payment_session(client: Client, **extra: Any) -> Session:
    params: Any = {
        "mode": "payment",
        "line_items": [
            {"price": _price(client, 1_500, name="Tea"), "quantity": 2},
            {
                "price_data": {
                    "currency": "usd",
                    "unit_amount": 500,
                    "product_data": {"name": "Biscuits"},
                },
                "quantity": 1,
            },
        ],
        "success_url": SUCCESS,
        "cancel_url": CANCEL,
        **extra,
    }
    return client.v1.checkout.sessions.create(params=params, options=key())


def _subscription_session(client: Client, **extra: Any) -> Session:
    params: Any = {
        "mode": "subscription",
        "line_items": [
            {"price": _price(client, 2_000, recurring=True, name="Plan"), "quantity": 1}
        ],
        "success_url": SUCCESS,
        **extra,
    }
    return client.v1.checkout.sessions.create(params=params, options=key())


def _refused(client: Client, params: Any) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.checkout.sessions.create(params=params, options=key())
    # A missing object it names is Kassa's 404 `resource_missing`, as everywhere.
    assert refused.value.http_status in (400, 404)
    return refused.value


# --- the API --------------------------------------------------------------------------------------


def test_a_payment_session_is_stripes_object_with_its_amounts(
    client: Client, server: KassaServer
) -> None:
    session = _payment_session(client, client_reference_id="cart-7", metadata={"order": "7"})
    shown = session.to_dict()
    declared = {
        name
        for cls in Session.__mro__
        for name in getattr(cls, "__annotations__", {})
        if not name.startswith("_")
    } - {"OBJECT_NAME"}
    assert set(shown) == declared - {"line_items"}
    assert session.id.startswith("cs_")
    assert (session.status, session.payment_status, session.mode) == ("open", "unpaid", "payment")
    assert (session.amount_subtotal, session.amount_total, session.currency) == (
        3_500,
        3_500,
        "usd",
    )
    assert session.total_details is not None and session.total_details.amount_discount == 0
    assert session.url is not None
    assert session.url.startswith(f"{server.url}/kassa/checkout/{session.id}?secret=")
    assert session.expires_at - session.created == DAY
    assert (
        session.client_reference_id,
        session.metadata.to_dict() if session.metadata else {},
    ) == ("cart-7", {"order": "7"})
    assert session.customer_creation == "if_required"
    assert session.payment_intent is None

    items = client.v1.checkout.sessions.line_items.list(session.id)
    assert [(i.description, i.quantity, i.amount_total) for i in items.data] == [
        ("Tea", 2, 3_000),
        ("Biscuits", 1, 500),
    ]
    assert items.data[0].object == "item"
    assert items.data[0].price is not None and items.data[0].price.unit_amount == 1_500
    expanded = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["line_items"]})
    assert expanded.line_items is not None and len(expanded.line_items.data) == 2
    assert "line_items" not in client.v1.checkout.sessions.retrieve(session.id).to_dict()

    updated = client.v1.checkout.sessions.update(session.id, params={"metadata": {"gift": "yes"}})
    assert updated.metadata.to_dict() if updated.metadata else {} == {"order": "7", "gift": "yes"}


def test_a_coupon_comes_off_the_total(client: Client) -> None:
    coupon = client.v1.coupons.create(params={"percent_off": 10, "duration": "once"})
    session = _payment_session(client, discounts=[{"coupon": coupon.id}])
    assert (session.amount_subtotal, session.amount_total) == (3_500, 3_150)
    assert session.total_details is not None and session.total_details.amount_discount == 350
    assert session.discounts is not None and session.discounts[0].coupon == coupon.id


@pytest.mark.parametrize(
    ("params", "param"),
    [
        (
            {
                "line_items": [
                    {
                        "price_data": {
                            "currency": "usd",
                            "unit_amount": 100,
                            "product_data": {"name": "x"},
                        },
                        "quantity": 1,
                    }
                ]
            },
            "mode",
        ),
        ({"mode": "payment", "success_url": SUCCESS}, "line_items"),
        ({"mode": "payment", "ui_mode": "embedded_page"}, "ui_mode"),
        ({"mode": "setup", "currency": "usd"}, "success_url"),
        (
            {
                "mode": "setup",
                "success_url": SUCCESS,
                "line_items": [{"price": "price_x", "quantity": 1}],
            },
            "line_items",
        ),
        (
            {
                "mode": "setup",
                "success_url": SUCCESS,
                "shipping_options": [{"shipping_rate": "shr_1"}],
            },
            "shipping_options",
        ),
        (
            {"mode": "setup", "success_url": SUCCESS, "expires_at": int(time.time()) + 60},
            "expires_at",
        ),
        (
            {"mode": "setup", "success_url": SUCCESS, "payment_intent_data": {"description": "x"}},
            "payment_intent_data",
        ),
        ({"mode": "setup", "success_url": SUCCESS, "customer": "cus_missing"}, "customer"),
        (
            {
                "mode": "setup",
                "success_url": SUCCESS,
                "customer": "cus_1",
                "customer_email": "a@b.co",
            },
            "customer_email",
        ),
    ],
)
def test_create_refusals_name_the_parameter_and_write_nothing(
    client: Client, params: Any, param: str
) -> None:
    assert _refused(client, params).param == param
    assert client.v1.checkout.sessions.list().data == []


def test_refusals_that_need_stored_prices(client: Client) -> None:
    recurring = _price(client, 1_000, recurring=True)
    once = _price(client, 1_000)
    line = [{"price": recurring, "quantity": 1}]
    assert _refused(
        client, {"mode": "payment", "success_url": SUCCESS, "line_items": line}
    ).param == ("line_items[0][price]")
    coupon = client.v1.coupons.create(params={"percent_off": 5, "duration": "once"})
    both: Any = {
        "mode": "payment",
        "success_url": SUCCESS,
        "line_items": [{"price": once, "quantity": 1}],
        "discounts": [{"coupon": coupon.id}],
        "allow_promotion_codes": True,
    }
    assert _refused(client, both).param == "discounts"
    only_once: Any = {
        "mode": "subscription",
        "success_url": SUCCESS,
        "line_items": [{"price": once, "quantity": 1}],
    }
    assert _refused(client, only_once).param == "line_items"
    assert client.v1.checkout.sessions.list().data == []


def test_subscription_and_setup_sessions(client: Client) -> None:
    subscription = _subscription_session(
        client, subscription_data={"trial_period_days": 7, "metadata": {"plan": "pro"}}
    )
    assert (subscription.mode, subscription.amount_total, subscription.customer_creation) == (
        "subscription",
        2_000,
        None,
    )
    setup = client.v1.checkout.sessions.create(
        params={"mode": "setup", "currency": "usd", "success_url": SUCCESS}, options=key()
    )
    assert (setup.payment_status, setup.amount_total, setup.currency) == (
        "no_payment_required",
        None,
        "usd",
    )
    assert client.v1.checkout.sessions.line_items.list(setup.id).data == []


def test_expire_and_the_expiry_job(client: Client, server: KassaServer) -> None:
    first = _payment_session(client)
    expired = client.v1.checkout.sessions.expire(first.id)
    assert (expired.status, expired.url) == ("expired", None)
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.checkout.sessions.expire(first.id)
    assert "status of expired" in str(again.value.user_message)

    second = _payment_session(client, expires_at=int(time.time()) + 3_600)
    assert run_job_once(server.database_url, expire_due_sessions, second.expires_at - 1) == 0
    assert client.v1.checkout.sessions.retrieve(second.id).status == "open"
    assert run_job_once(server.database_url, expire_due_sessions, second.expires_at) >= 1
    assert client.v1.checkout.sessions.retrieve(second.id).status == "expired"
    events = client.v1.events.list(params={"type": "checkout.session.expired"}).data
    assert sorted(e.data.object["id"] for e in events) == sorted([first.id, second.id])


def test_list_filters(client: Client) -> None:
    one = _payment_session(client)
    two = _payment_session(client)
    client.v1.checkout.sessions.expire(two.id)
    listed = client.v1.checkout.sessions.list()
    assert [s.id for s in listed.data] == [two.id, one.id]
    assert all("_kassa" not in s.to_dict() for s in listed.data)
    assert [s.id for s in client.v1.checkout.sessions.list(params={"status": "open"}).data] == [
        one.id
    ]
    created = client.v1.checkout.sessions.list(params={"created": {"gte": one.created}})
    assert {s.id for s in created.data} == {one.id, two.id}
    assert client.v1.checkout.sessions.list(params={"customer": "cus_none"}).data == []


# --- the hosted page ------------------------------------------------------------------------------


def _pay_form(session: Session, number: str, attempt: str) -> tuple[str, dict[str, str]]:
    """The hosted page's pay address and the form its card fields send, as a browser would
    post it (`attempt`: the page view's idempotency token)."""
    assert session.url is not None
    pay_url = session.url.replace(f"/{session.id}?", f"/{session.id}/pay?")
    form = {
        "email": "ada@example.com",
        "number": number,
        "exp_month": "12",
        "exp_year": "34",
        "cvc": "123",
        "attempt": attempt,
    }
    return pay_url, form


def _fill(page: Page, number: str, email: str | None = "ada@example.com") -> None:
    if email is not None:
        page.get_by_test_id("email").fill(email)
    page.get_by_test_id("card-number").fill(number)
    page.get_by_test_id("card-exp-month").fill("12")
    page.get_by_test_id("card-exp-year").fill("34")
    page.get_by_test_id("card-cvc").fill("123")
    page.get_by_test_id("card-name").fill("Ada Lovelace")
    page.get_by_test_id("pay-button").click()


def _landed(page: Page, session_id: str) -> None:
    expect(page).to_have_url(
        re.compile(re.escape(f"https://shop.example/thanks?session={session_id}"))
    )


@pytest.fixture
def shop(page: Page) -> Page:
    """The success page is another site: answered here so the browser lands without DNS."""
    page.route("https://shop.example/**", lambda route: route.fulfill(body="thanks"))
    return page


def test_pay_a_payment_session_in_the_browser(shop: Page, client: Client) -> None:
    session = _payment_session(client)
    assert session.url is not None
    shop.goto(session.url)
    expect(shop.get_by_test_id("line")).to_have_count(2)
    expect(shop.get_by_test_id("total")).to_have_text("$35.00")
    _fill(shop, DECLINED)
    expect(shop.get_by_test_id("error")).to_have_text("Your card was declined.")
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"

    _fill(shop, VISA)
    _landed(shop, session.id)
    done = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["payment_intent"]})
    assert (done.status, done.payment_status, done.url) == ("complete", "paid", None)
    assert done.customer is None and done.customer_details is not None
    assert done.customer_details.email == "ada@example.com"
    intent = done.payment_intent
    assert isinstance(intent, stripe.PaymentIntent)
    assert (intent.status, intent.amount_received) == ("succeeded", 3_500)
    charges = client.v1.charges.list(params={"payment_intent": intent.id}).data
    assert sorted(c.status for c in charges) == ["failed", "succeeded"]  # one intent, retried
    events = client.v1.events.list(params={"type": "checkout.session.completed"}).data
    assert [e.data.object["id"] for e in events] == [session.id]
    listed = client.v1.checkout.sessions.list(params={"payment_intent": intent.id}).data
    assert [s.id for s in listed] == [session.id]

    # The link, opened again: the session is complete, the browser goes to success_url.
    assert session.url is not None
    again = loopback.get(session.url, timeout=30)
    assert again.status_code == 303
    assert again.headers["location"] == f"https://shop.example/thanks?session={session.id}"


def test_pay_with_3d_secure_in_the_browser(shop: Page, client: Client, server: KassaServer) -> None:
    session = _payment_session(client, customer_creation="always")
    assert session.url is not None
    shop.goto(session.url)
    _fill(shop, THREE_D_SECURE)
    expect(shop).to_have_url(re.compile(re.escape(server.url) + r"/kassa/authenticate/pi_"))
    shop.locator("#complete").click()
    _landed(shop, session.id)
    done = client.v1.checkout.sessions.retrieve(session.id)
    assert (done.status, done.payment_status) == ("complete", "paid")
    assert done.customer is not None
    assert client.v1.customers.retrieve(str(done.customer)).email == "ada@example.com"


def test_subscribe_in_the_browser(shop: Page, client: Client) -> None:
    session = _subscription_session(client, subscription_data={"metadata": {"plan": "pro"}})
    assert session.url is not None
    shop.goto(session.url)
    expect(shop.get_by_test_id("recurring")).to_contain_text("Billed every month")
    _fill(shop, VISA)
    _landed(shop, session.id)
    done = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["subscription"]})
    assert (done.status, done.payment_status) == ("complete", "paid")
    subscription = done.subscription
    assert isinstance(subscription, stripe.Subscription)
    assert subscription.status == "active"
    assert subscription.metadata.to_dict() if subscription.metadata else {} == {"plan": "pro"}
    assert subscription.customer == done.customer
    assert subscription.default_payment_method is not None
    invoice = client.v1.invoices.retrieve(str(done.invoice))
    assert (invoice.status, invoice.amount_paid) == ("paid", 2_000)
    method = client.v1.payment_methods.retrieve(str(subscription.default_payment_method))
    assert method.card is not None and method.card.last4 == "4242"
    assert method.customer == done.customer
    listed = client.v1.checkout.sessions.list(params={"subscription": subscription.id}).data
    assert [s.id for s in listed] == [session.id]
    by_customer = client.v1.checkout.sessions.list(params={"customer": str(done.customer)}).data
    assert [s.id for s in by_customer] == [session.id]


def test_setup_session_in_the_browser(shop: Page, client: Client) -> None:
    customer = client.v1.customers.create(params={"email": "grace@example.com"})
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "setup",
            "currency": "usd",
            "customer": customer.id,
            "success_url": SUCCESS,
        },
        options=key(),
    )
    assert session.url is not None
    shop.goto(session.url)
    _fill(shop, VISA, email=None)
    _landed(shop, session.id)
    done = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["setup_intent"]})
    assert (done.status, done.payment_status) == ("complete", "no_payment_required")
    intent = done.setup_intent
    assert isinstance(intent, stripe.SetupIntent) and intent.status == "succeeded"
    assert intent.customer == customer.id


def test_a_form_sent_twice_charges_once(client: Client, server: KassaServer) -> None:
    session = _payment_session(client)
    pay_url, form = _pay_form(session, VISA, "view-1")
    with loopback.Client(timeout=30, headers={"origin": server.url}) as http:
        answers = [http.post(pay_url, data=form) for _ in range(2)]
    assert [a.status_code for a in answers] == [303, 303]
    done = client.v1.checkout.sessions.retrieve(session.id)
    assert done.status == "complete"
    assert len(client.v1.charges.list().data) == 1


def test_3d_secure_completes_the_session_without_the_browser_coming_back(
    client: Client, server: KassaServer
) -> None:
    """The intent succeeds on the challenge page and the customer never returns to
    Checkout: the session is complete at once, as Stripe completes it on payment."""
    session = _payment_session(client)
    pay_url, form = _pay_form(session, THREE_D_SECURE, "view-3ds")
    with loopback.Client(timeout=30, headers={"origin": server.url}) as http:
        asked = http.post(pay_url, data=form)
        assert asked.status_code == 303
        challenge = asked.headers["location"]
        assert "/kassa/authenticate/pi_" in challenge
        waiting = client.v1.checkout.sessions.retrieve(session.id)
        assert waiting.status == "open" and waiting.payment_intent is not None
        secret = challenge.split("client_secret=", 1)[1].split("&", 1)[0]
        answered = http.post(challenge, data={"client_secret": secret, "outcome": "complete"})
        assert answered.status_code in (302, 303)  # back toward the page: not followed
    done = client.v1.checkout.sessions.retrieve(session.id)
    assert (done.status, done.payment_status, done.url) == ("complete", "paid", None)
    assert done.payment_intent == waiting.payment_intent
    assert done.customer_details is not None
    assert done.customer_details.email == "ada@example.com"
    completed = client.v1.events.list(params={"type": "checkout.session.completed"}).data
    assert [e.data.object["id"] for e in completed] == [session.id]

    # The customer comes back after all: sent on to success_url, nothing completed twice.
    assert session.url is not None
    again = loopback.get(session.url, timeout=30)
    assert again.status_code == 303
    assert again.headers["location"] == f"https://shop.example/thanks?session={session.id}"
    completed = client.v1.events.list(params={"type": "checkout.session.completed"}).data
    assert [e.data.object["id"] for e in completed] == [session.id]
    assert len(client.v1.charges.list().data) == 1


def test_a_one_time_price_in_subscription_mode_is_charged_on_the_first_invoice_only(
    client: Client, server: KassaServer
) -> None:
    plan = _price(client, 2_000, recurring=True, name="Plan")
    setup_fee = _price(client, 500, name="Set-up fee")
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "line_items": [{"price": plan, "quantity": 1}, {"price": setup_fee, "quantity": 1}],
            "success_url": SUCCESS,
        },
        options=key(),
    )
    assert (session.amount_subtotal, session.amount_total) == (2_500, 2_500)
    pay_url, form = _pay_form(session, VISA, "view-fee")
    with loopback.Client(timeout=30, headers={"origin": server.url}) as http:
        assert http.post(pay_url, data=form).status_code == 303
    done = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["subscription"]})
    assert (done.status, done.payment_status) == ("complete", "paid")
    subscription = done.subscription
    assert isinstance(subscription, stripe.Subscription) and subscription.status == "active"
    assert [item.price.id for item in subscription["items"].data] == [plan]
    invoice = client.v1.invoices.retrieve(str(done.invoice))
    assert (invoice.status, invoice.amount_paid) == ("paid", 2_500)
    lines = client.v1.invoices.line_items.list(str(done.invoice)).data
    assert sorted(line.amount for line in lines) == [500, 2_000]


def test_lines_are_priced_as_invoice_items_are(client: Client, server: KassaServer) -> None:
    """Graduated tiers with a flat amount and a decimal unit amount: the session, its line
    items and the first invoice charge the same, worked out by hand."""
    graduated = client.v1.prices.create(
        params={
            "currency": "usd",
            "product_data": {"name": "Seats"},
            "recurring": {"interval": "month"},
            "billing_scheme": "tiered",
            "tiers_mode": "graduated",
            "tiers": [
                {"up_to": 2, "unit_amount": 1_000, "flat_amount": 100},
                {"up_to": "inf", "unit_amount": 500},
            ],
        },
        options=key(),
    )
    ink: Any = {"currency": "usd", "product_data": {"name": "Ink"}, "unit_amount_decimal": "12.5"}
    decimal = client.v1.prices.create(params=ink, options=key())
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "line_items": [
                {"price": graduated.id, "quantity": 3},  # 2 x 1,000 + 100 + 1 x 500
                {"price": decimal.id, "quantity": 3},  # 37.5, rounded half up
            ],
            "success_url": SUCCESS,
        },
        options=key(),
    )
    assert (session.amount_subtotal, session.amount_total) == (2_638, 2_638)
    lines = client.v1.checkout.sessions.line_items.list(session.id).data
    assert [line.amount_total for line in lines] == [2_600, 38]
    pay_url, form = _pay_form(session, VISA, "view-tiers")
    with loopback.Client(timeout=30, headers={"origin": server.url}) as http:
        assert http.post(pay_url, data=form).status_code == 303
    done = client.v1.checkout.sessions.retrieve(session.id)
    assert done.status == "complete"
    assert client.v1.invoices.retrieve(str(done.invoice)).amount_paid == 2_638


def _metered_price(client: Client, unit_amount: int = 3) -> str:
    """A monthly price billing a new meter's usage (the sum of its events' values)."""
    meter = client.v1.billing.meters.create(
        params={
            "display_name": "Calls",
            "event_name": f"calls_{uuid.uuid4().hex[:8]}",
            "default_aggregation": {"formula": "sum"},
        }
    )
    params: Any = {
        "currency": "usd",
        "unit_amount": unit_amount,
        "product_data": {"name": "Calls"},
        "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id},
    }
    return client.v1.prices.create(params=params, options=key()).id


def test_lines_checkout_cannot_take_are_refused_by_line(client: Client) -> None:
    metered = _metered_price(client)
    plan = _price(client, 1_000, recurring=True)
    with_quantity = _refused(
        client,
        {
            "mode": "subscription",
            "success_url": SUCCESS,
            "line_items": [{"price": metered, "quantity": 1}, {"price": plan, "quantity": 1}],
        },
    )
    assert with_quantity.param == "line_items[0][quantity]"
    assert with_quantity.error is not None
    assert with_quantity.error.type == "invalid_request_error"
    assert str(with_quantity.user_message) == (
        "Quantity should not be specified where usage_type is `metered`. Remove quantity "
        "from `line_items[0]`."
    )
    in_payment_mode = _refused(
        client,
        {"mode": "payment", "success_url": SUCCESS, "line_items": [{"price": metered}]},
    )
    assert in_payment_mode.param == "line_items[0][price]"
    assert "recurring price" in str(in_payment_mode.user_message)
    no_quantity = _refused(
        client,
        {
            "mode": "subscription",
            "success_url": SUCCESS,
            "line_items": [{"price": metered}, {"price": plan}],
        },
    )
    assert no_quantity.param == "line_items[1][quantity]"
    costly = _price(client, 99_999_999)
    too_much = _refused(
        client,
        {
            "mode": "payment",
            "success_url": SUCCESS,
            "line_items": [{"price": costly, "quantity": 1_000}],
        },
    )
    assert too_much.param == "line_items[0][quantity]"
    assert client.v1.checkout.sessions.list().data == []


def _subscribe_on_the_page(server: KassaServer, session: Session, attempt: str) -> None:
    pay_url, form = _pay_form(session, VISA, attempt)
    with loopback.Client(timeout=30, headers={"origin": server.url}) as http:
        assert http.post(pay_url, data=form).status_code == 303


def test_a_metered_only_subscription_charges_nothing_now(
    client: Client, server: KassaServer
) -> None:
    """Usage is billed in arrears: the session totals 0, its line has no quantity, and the
    subscription starts on a first invoice of 0 with the card saved for the renewals."""
    metered = _metered_price(client)
    session = client.v1.checkout.sessions.create(
        params={"mode": "subscription", "line_items": [{"price": metered}], "success_url": SUCCESS},
        options=key(),
    )
    assert (session.amount_subtotal, session.amount_total) == (0, 0)
    (line,) = client.v1.checkout.sessions.line_items.list(session.id).data
    assert (line.quantity, line.amount_subtotal, line.amount_total) == (None, 0, 0)
    assert line.price is not None and line.price.id == metered
    assert session.url is not None
    shown = loopback.get(session.url, timeout=30)
    assert shown.status_code == 200 and "Billed by usage" in shown.text

    _subscribe_on_the_page(server, session, "view-metered")
    done = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["subscription"]})
    assert (done.status, done.payment_status) == ("complete", "no_payment_required")
    subscription = done.subscription
    assert isinstance(subscription, stripe.Subscription) and subscription.status == "active"
    assert [item.price.id for item in subscription["items"].data] == [metered]
    method = client.v1.payment_methods.retrieve(str(subscription.default_payment_method))
    assert method.card is not None and method.card.last4 == "4242"
    assert method.customer == done.customer
    invoice = client.v1.invoices.retrieve(str(done.invoice))
    assert (invoice.status, invoice.amount_due, invoice.amount_paid) == ("paid", 0, 0)
    assert client.v1.charges.list().data == []


def test_a_metered_price_beside_a_licensed_one_charges_the_licensed_one(
    client: Client, server: KassaServer
) -> None:
    plan = _price(client, 2_000, recurring=True, name="Plan")
    metered = _metered_price(client)
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "line_items": [{"price": plan, "quantity": 1}, {"price": metered}],
            "success_url": SUCCESS,
        },
        options=key(),
    )
    assert (session.amount_subtotal, session.amount_total) == (2_000, 2_000)
    lines = client.v1.checkout.sessions.line_items.list(session.id).data
    assert [(line.quantity, line.amount_total) for line in lines] == [(1, 2_000), (None, 0)]

    _subscribe_on_the_page(server, session, "view-mixed")
    done = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["subscription"]})
    assert (done.status, done.payment_status) == ("complete", "paid")
    subscription = done.subscription
    assert isinstance(subscription, stripe.Subscription) and subscription.status == "active"
    assert sorted(item.price.id for item in subscription["items"].data) == sorted([plan, metered])
    invoice = client.v1.invoices.retrieve(str(done.invoice))
    assert (invoice.status, invoice.amount_paid) == ("paid", 2_000)
    assert [c.amount for c in client.v1.charges.list().data] == [2_000]


def test_a_subscription_free_the_first_period_starts_with_nothing_charged(
    client: Client, server: KassaServer
) -> None:
    coupon = client.v1.coupons.create(params={"percent_off": 100, "duration": "once"})
    session = _subscription_session(client, discounts=[{"coupon": coupon.id}])
    assert (session.amount_subtotal, session.amount_total) == (2_000, 0)
    _subscribe_on_the_page(server, session, "view-free")
    done = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["subscription"]})
    assert (done.status, done.payment_status) == ("complete", "no_payment_required")
    subscription = done.subscription
    assert isinstance(subscription, stripe.Subscription) and subscription.status == "active"
    assert subscription.default_payment_method is not None
    assert client.v1.invoices.retrieve(str(done.invoice)).amount_paid == 0
    assert client.v1.charges.list().data == []


# --- adjustable quantities ---------------------------------------------------------------------


def _adjustable_session(client: Client, **adjustable: Any) -> Session:
    """Tea at 1,500 x 2 (adjustable), biscuits at 500 x 1 (not), 10% off."""
    coupon = client.v1.coupons.create(params={"percent_off": 10, "duration": "once"})
    params: Any = {
        "mode": "payment",
        "line_items": [
            {
                "price": _price(client, 1_500, name="Tea"),
                "quantity": 2,
                "adjustable_quantity": {"enabled": True, **adjustable},
            },
            {"price": _price(client, 500, name="Biscuits"), "quantity": 1},
        ],
        "discounts": [{"coupon": coupon.id}],
        "success_url": SUCCESS,
    }
    return client.v1.checkout.sessions.create(params=params, options=key())


def _line_quantities(client: Client, session: Session) -> list[tuple[int | None, int]]:
    lines = client.v1.checkout.sessions.line_items.list(session.id).data
    return [(line.quantity, line.amount_total) for line in lines]


def test_adjustable_quantities_are_shown_and_their_bounds_checked(client: Client) -> None:
    session = _adjustable_session(client, maximum=5)
    lines = client.v1.checkout.sessions.line_items.list(session.id).data
    adjustable = lines[0].adjustable_quantity
    assert adjustable is not None
    assert (adjustable.enabled, adjustable.minimum, adjustable.maximum) == (True, 0, 5)
    assert lines[1].adjustable_quantity is None
    disabled = _adjustable_session(client, enabled=False)
    (plain, _) = client.v1.checkout.sessions.line_items.list(disabled.id).data
    assert plain.adjustable_quantity is None
    price = _price(client, 1_000)
    for adjustable_params, quantity, param in (
        ({"minimum": 4, "maximum": 3}, 4, "line_items[0][adjustable_quantity][minimum]"),
        ({"maximum": 5}, 7, "line_items[0][quantity]"),
        ({"minimum": 3}, 2, "line_items[0][quantity]"),
    ):
        with pytest.raises(stripe.InvalidRequestError) as refused:
            line: Any = {
                "price": price,
                "quantity": quantity,
                "adjustable_quantity": {"enabled": True, **adjustable_params},
            }
            client.v1.checkout.sessions.create(
                params={"mode": "payment", "line_items": [line], "success_url": SUCCESS},
                options=key(),
            )
        assert refused.value.param == param
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.checkout.sessions.create(
            params={
                "mode": "subscription",
                "line_items": [
                    {"price": _metered_price(client), "adjustable_quantity": {"enabled": True}}
                ],
                "success_url": SUCCESS,
            },
            options=key(),
        )
    assert refused.value.param == "line_items[0][adjustable_quantity][enabled]"


def test_the_page_changes_an_adjustable_quantity_and_charges_it(
    client: Client, server: KassaServer
) -> None:
    session = _adjustable_session(client, maximum=5)
    assert session.amount_total == 3_150  # (3,000 + 500) less 10%
    assert session.url is not None
    shown = loopback.get(session.url, timeout=30).text
    assert 'name="quantity-0"' in shown and 'name="quantity-1"' not in shown
    pay_url, form = _pay_form(session, VISA, "adjust")
    with loopback.Client(timeout=30, headers={"origin": server.url}) as http:
        update = {"action": "update", "quantity-0": "4"}
        assert http.post(pay_url, data=update).status_code == 303
        updated = client.v1.checkout.sessions.retrieve(session.id)
        assert (updated.amount_subtotal, updated.amount_total) == (6_500, 5_850)
        assert _line_quantities(client, session) == [(4, 5_400), (1, 450)]
        for bad in ("6", "0", "two"):
            refused = http.post(pay_url, data={"action": "update", "quantity-0": bad})
            assert refused.status_code == 400
        assert client.v1.checkout.sessions.retrieve(session.id).amount_total == 5_850
        assert http.post(pay_url, data={**form, "quantity-0": "3"}).status_code == 303
    done = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["payment_intent"]})
    assert (done.status, done.payment_status, done.amount_total) == ("complete", "paid", 4_500)
    intent = done.payment_intent
    assert isinstance(intent, stripe.PaymentIntent)
    assert (intent.amount, intent.status) == (4_500, "succeeded")
    assert _line_quantities(client, session) == [(3, 4_050), (1, 450)]


def test_quantities_stay_once_a_payment_was_attempted(client: Client, server: KassaServer) -> None:
    session = _adjustable_session(client)
    pay_url, form = _pay_form(session, DECLINED, "declined")
    with loopback.Client(timeout=30, headers={"origin": server.url}) as http:
        assert http.post(pay_url, data={**form, "quantity-0": "2"}).status_code == 402
        refused = http.post(pay_url, data={"action": "update", "quantity-0": "3"})
        assert refused.status_code == 400 and "can no longer change" in refused.text
        _, retry = _pay_form(session, VISA, "retry")
        assert http.post(pay_url, data={**retry, "quantity-0": "2"}).status_code == 303
    done = client.v1.checkout.sessions.retrieve(session.id)
    assert (done.status, done.amount_total) == ("complete", 3_150)


def test_change_a_quantity_in_the_browser(shop: Page, client: Client) -> None:
    session = _adjustable_session(client, maximum=5)
    assert session.url is not None
    shop.goto(session.url)
    expect(shop.get_by_test_id("total")).to_have_text("$31.50")
    shop.get_by_test_id("quantity-0").fill("4")
    shop.get_by_test_id("update-total").click()
    expect(shop.get_by_test_id("total")).to_have_text("$58.50")
    expect(shop.get_by_test_id("quantity-0")).to_have_value("4")
    shop.get_by_test_id("quantity-0").fill("1")  # paid as sent, without updating first
    _fill(shop, VISA)
    _landed(shop, session.id)
    done = client.v1.checkout.sessions.retrieve(session.id)
    assert (done.status, done.amount_total) == ("complete", 1_800)  # (1,500 + 500) less 10%


# --- amounts the customer chooses ----------------------------------------------------------------


def _gift_price(client: Client) -> str:
    """Pay what you want, from $5 to $100, $25 suggested."""
    params: Any = {
        "currency": "usd",
        "custom_unit_amount": {"enabled": True, "minimum": 500, "maximum": 10_000, "preset": 2_500},
        "product_data": {"name": "Gift"},
    }
    return client.v1.prices.create(params=params, options=key()).id


def test_a_custom_amount_price_takes_one_line_in_payment_mode(client: Client) -> None:
    gift, tea = _gift_price(client), _price(client, 1_500, name="Tea")
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "line_items": [{"price": gift, "quantity": 1}],
            "success_url": SUCCESS,
        },
        options=key(),
    )
    assert (session.amount_subtotal, session.amount_total) == (2_500, 2_500)
    adjustable: Any = {"price": gift, "quantity": 1, "adjustable_quantity": {"enabled": True}}
    refusals: list[tuple[str, Any, str]] = [
        (
            "subscription",
            [{"price": gift, "quantity": 1}, {"price": _price(client, 900, True), "quantity": 1}],
            "line_items[0][price]",
        ),
        ("payment", [{"price": gift, "quantity": 1}, {"price": tea, "quantity": 1}], "line_items"),
        ("payment", [{"price": gift, "quantity": 2}], "line_items[0][quantity]"),
        ("payment", [adjustable], "line_items[0][adjustable_quantity][enabled]"),
    ]
    for mode, lines, param in refusals:
        with pytest.raises(stripe.InvalidRequestError) as refused:
            client.v1.checkout.sessions.create(
                params={"mode": mode, "line_items": lines, "success_url": SUCCESS}, options=key()
            )
        assert refused.value.param == param


def test_the_customer_chooses_the_amount_on_the_page(client: Client, server: KassaServer) -> None:
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "line_items": [{"price": _gift_price(client), "quantity": 1}],
            "success_url": SUCCESS,
        },
        options=key(),
    )
    assert session.url is not None
    shown = loopback.get(session.url, timeout=30).text
    assert 'name="amount-0"' in shown and 'value="25.00"' in shown
    pay_url, form = _pay_form(session, VISA, "gift")
    with loopback.Client(timeout=30, headers={"origin": server.url}) as http:
        assert http.post(pay_url, data={"action": "update", "amount-0": "40"}).status_code == 303
        assert client.v1.checkout.sessions.retrieve(session.id).amount_total == 4_000
        for bad in ("4.99", "100.01", "12.345", "ten", "-5"):
            refused = http.post(pay_url, data={"action": "update", "amount-0": bad})
            assert refused.status_code == 400, bad
        assert client.v1.checkout.sessions.retrieve(session.id).amount_total == 4_000
        assert http.post(pay_url, data={**form, "amount-0": "12.34"}).status_code == 303
    done = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["payment_intent"]})
    assert (done.status, done.amount_subtotal, done.amount_total) == ("complete", 1_234, 1_234)
    intent = done.payment_intent
    assert isinstance(intent, stripe.PaymentIntent)
    assert (intent.amount, intent.status) == (1_234, "succeeded")
    (line,) = client.v1.checkout.sessions.line_items.list(session.id).data
    assert (line.quantity, line.amount_total) == (1, 1_234)


def test_choose_an_amount_in_the_browser(shop: Page, client: Client) -> None:
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "line_items": [{"price": _gift_price(client), "quantity": 1}],
            "success_url": SUCCESS,
        },
        options=key(),
    )
    assert session.url is not None
    shop.goto(session.url)
    expect(shop.get_by_test_id("amount-0")).to_have_value("25.00")
    shop.get_by_test_id("amount-0").fill("60")
    shop.get_by_test_id("update-total").click()
    expect(shop.get_by_test_id("total")).to_have_text("$60.00")
    _fill(shop, VISA)
    _landed(shop, session.id)
    assert client.v1.checkout.sessions.retrieve(session.id).amount_total == 6_000


# --- promotion codes typed on the page ------------------------------------------------------------


def _promotion_code(
    client: Client, code: str, percent_off: int, **extra: Any
) -> stripe.PromotionCode:
    coupon = client.v1.coupons.create(params={"percent_off": percent_off, "duration": "once"})
    params: Any = {"promotion": {"type": "coupon", "coupon": coupon.id}, "code": code, **extra}
    return client.v1.promotion_codes.create(params=params)


def test_a_promotion_code_typed_on_the_page_discounts_the_payment(
    client: Client, server: KassaServer
) -> None:
    suffix = uuid.uuid4().hex[:8].upper()
    code = _promotion_code(client, f"SAVE{suffix}", 20)
    someone = client.v1.customers.create()
    _promotion_code(client, f"MINE{suffix}", 50, customer=someone.id)
    session = _payment_session(client, allow_promotion_codes=True)
    assert (session.amount_total, session.discounts) == (3_500, [])
    assert session.url is not None
    assert 'name="promotion_code"' in loopback.get(session.url, timeout=30).text
    pay_url, form = _pay_form(session, VISA, "coded")
    with loopback.Client(timeout=30, headers={"origin": server.url}) as http:
        for wrong in ("NOPE", f"MINE{suffix}"):  # unknown; another customer's
            refused = http.post(pay_url, data={"action": "update", "promotion_code": wrong})
            assert refused.status_code == 400 and "This code is invalid." in refused.text
        applied = http.post(pay_url, data={"action": "update", "promotion_code": f"save{suffix}"})
        assert applied.status_code == 303
        coded = client.v1.checkout.sessions.retrieve(session.id)
        assert coded.amount_total == 2_800 and coded.total_details is not None
        assert coded.total_details.amount_discount == 700
        assert [(d.coupon, d.promotion_code) for d in coded.discounts or []] == [(None, code.id)]
        assert 'name="promotion_code"' not in loopback.get(session.url, timeout=30).text
        assert http.post(pay_url, data=form).status_code == 303
    done = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["payment_intent"]})
    intent = done.payment_intent
    assert isinstance(intent, stripe.PaymentIntent)
    assert (done.status, intent.amount, intent.status) == ("complete", 2_800, "succeeded")


def test_a_promotion_code_typed_on_the_page_discounts_the_subscription(
    client: Client, server: KassaServer
) -> None:
    code = _promotion_code(client, f"HALF{uuid.uuid4().hex[:8].upper()}", 50)
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "line_items": [{"price": _price(client, 2_000, recurring=True), "quantity": 1}],
            "allow_promotion_codes": True,
            "success_url": SUCCESS,
        },
        options=key(),
    )
    pay_url, form = _pay_form(session, VISA, "half")
    with loopback.Client(timeout=30, headers={"origin": server.url}) as http:
        assert http.post(pay_url, data={**form, "promotion_code": code.code}).status_code == 303
    done = client.v1.checkout.sessions.retrieve(session.id)
    assert (done.status, done.amount_total) == ("complete", 1_000)
    invoice = client.v1.invoices.retrieve(str(done.invoice))
    assert (invoice.amount_paid, invoice.total) == (1_000, 1_000)
    assert client.v1.promotion_codes.retrieve(code.id).times_redeemed == 1


def test_type_a_promotion_code_in_the_browser(shop: Page, client: Client) -> None:
    code = _promotion_code(client, f"TEN{uuid.uuid4().hex[:8].upper()}", 10)
    session = _payment_session(client, allow_promotion_codes=True)
    assert session.url is not None
    shop.goto(session.url)
    shop.get_by_test_id("promotion-code").fill(code.code)
    shop.get_by_test_id("update-total").click()
    expect(shop.get_by_test_id("total")).to_have_text("$31.50")
    expect(shop.get_by_test_id("promotion-code")).to_have_count(0)
    _fill(shop, VISA)
    _landed(shop, session.id)
    assert client.v1.checkout.sessions.retrieve(session.id).amount_total == 3_150


REMOVE_CODE = {"action": "remove_promotion_code"}


def test_the_customer_removes_a_code_typed_on_the_page_and_pays_with_another(
    client: Client, server: KassaServer
) -> None:
    suffix = uuid.uuid4().hex[:8].upper()
    removed = _promotion_code(client, f"OFF{suffix}", 20)
    kept = _promotion_code(client, f"TEN{suffix}", 10)
    session = _payment_session(client, allow_promotion_codes=True)
    assert session.url is not None
    pay_url, form = _pay_form(session, VISA, "after-removal")
    with loopback.Client(timeout=30, headers={"origin": server.url}) as http:
        never = http.post(pay_url, data=REMOVE_CODE)  # nothing applied yet
        assert never.status_code == 400 and "There is no promotion code to remove." in never.text
        applied = http.post(pay_url, data={"action": "update", "promotion_code": removed.code})
        assert applied.status_code == 303
        shown = loopback.get(session.url, timeout=30).text
        assert 'value="remove_promotion_code"' in shown and f"OFF{suffix}" in shown
        assert 'name="promotion_code"' not in shown
        assert http.post(pay_url, data=REMOVE_CODE).status_code == 303
        # 2 x $15.00 + $5.00, nothing off again.
        plain = client.v1.checkout.sessions.retrieve(session.id)
        assert (plain.discounts, plain.amount_subtotal, plain.amount_total) == ([], 3_500, 3_500)
        assert plain.total_details is not None and plain.total_details.amount_discount == 0
        shown = loopback.get(session.url, timeout=30).text
        assert 'name="promotion_code"' in shown and "remove_promotion_code" not in shown
        assert http.post(pay_url, data={**form, "promotion_code": kept.code}).status_code == 303
    done = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["payment_intent"]})
    intent = done.payment_intent
    assert isinstance(intent, stripe.PaymentIntent)
    assert (done.status, intent.amount) == ("complete", 3_150)  # $35.00 less 10%
    assert [d.promotion_code for d in done.discounts or []] == [kept.id]
    assert client.v1.promotion_codes.retrieve(kept.id).times_redeemed == 1
    assert client.v1.promotion_codes.retrieve(removed.id).times_redeemed == 0
    assert client.v1.coupons.retrieve(str(removed.promotion.coupon)).times_redeemed == 0


def test_a_code_stays_once_a_payment_was_attempted(client: Client, server: KassaServer) -> None:
    code = _promotion_code(client, f"STAY{uuid.uuid4().hex[:8].upper()}", 20)
    session = _payment_session(client, allow_promotion_codes=True)
    pay_url, form = _pay_form(session, DECLINED, "declined-coded")
    with loopback.Client(timeout=30, headers={"origin": server.url}) as http:
        assert http.post(pay_url, data={**form, "promotion_code": code.code}).status_code == 402
        refused = http.post(pay_url, data=REMOVE_CODE)
        assert refused.status_code == 400 and "can no longer change" in refused.text
    kept = client.v1.checkout.sessions.retrieve(session.id)
    assert (kept.status, kept.amount_total) == ("open", 2_800)
    assert [d.promotion_code for d in kept.discounts or []] == [code.id]


def test_a_discount_named_on_create_cannot_be_removed_on_the_page(
    client: Client, server: KassaServer
) -> None:
    code = _promotion_code(client, f"API{uuid.uuid4().hex[:8].upper()}", 20)
    session = _payment_session(client, discounts=[{"promotion_code": code.id}])
    assert session.url is not None
    assert "remove_promotion_code" not in loopback.get(session.url, timeout=30).text
    pay_url, _ = _pay_form(session, VISA, "unused")
    with loopback.Client(timeout=30, headers={"origin": server.url}) as http:
        refused = http.post(pay_url, data=REMOVE_CODE)
        assert (
            refused.status_code == 400 and "There is no promotion code to remove." in refused.text
        )
    assert client.v1.checkout.sessions.retrieve(session.id).amount_total == 2_800


def test_a_payment_sessions_discount_is_redeemed_when_it_is_paid(
    client: Client, server: KassaServer
) -> None:
    once = _promotion_code(client, f"ONCE{uuid.uuid4().hex[:8].upper()}", 10, max_redemptions=1)
    coupon_id = str(once.promotion.coupon)
    session = _payment_session(client, discounts=[{"promotion_code": once.id}])
    assert client.v1.promotion_codes.retrieve(once.id).times_redeemed == 0  # not until paid
    pay_url, form = _pay_form(session, VISA, "once")
    with loopback.Client(timeout=30, headers={"origin": server.url}) as http:
        assert http.post(pay_url, data=form).status_code == 303
    assert client.v1.promotion_codes.retrieve(once.id).times_redeemed == 1
    assert client.v1.coupons.retrieve(coupon_id).times_redeemed == 1
    with pytest.raises(stripe.InvalidRequestError) as refused:
        _payment_session(client, discounts=[{"promotion_code": once.id}])
    assert refused.value.param == "discounts[0][promotion_code]"
    plain = _payment_session(client)
    coupon_session = _payment_session(client, discounts=[{"coupon": coupon_id}])
    with loopback.Client(timeout=30, headers={"origin": server.url}) as http:
        for paid in (coupon_session, plain):  # the coupon named alone counts; no discount, none
            paid_url, paid_form = _pay_form(paid, VISA, f"paid-{paid.id}")
            assert http.post(paid_url, data=paid_form).status_code == 303
    assert client.v1.coupons.retrieve(coupon_id).times_redeemed == 2


def test_an_adjustable_quantity_becomes_the_subscriptions(
    client: Client, server: KassaServer
) -> None:
    seats = _price(client, 1_000, recurring=True, name="Seat")
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "line_items": [
                {"price": seats, "quantity": 1, "adjustable_quantity": {"enabled": True}}
            ],
            "success_url": SUCCESS,
        },
        options=key(),
    )
    pay_url, form = _pay_form(session, VISA, "seats")
    with loopback.Client(timeout=30, headers={"origin": server.url}) as http:
        assert http.post(pay_url, data={**form, "quantity-0": "3"}).status_code == 303
    done = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["subscription"]})
    assert (done.status, done.amount_total) == ("complete", 3_000)
    subscription = done.subscription
    assert isinstance(subscription, stripe.Subscription)
    assert [(i.price.id, i.quantity) for i in subscription["items"].data] == [(seats, 3)]
    assert client.v1.invoices.retrieve(str(done.invoice)).amount_paid == 3_000


# --- tax rates on lines ---------------------------------------------------------------------------


def _tax_rate(client: Client, percentage: int, inclusive: bool) -> str:
    params: Any = {"display_name": "VAT", "percentage": percentage, "inclusive": inclusive}
    return client.v1.tax_rates.create(params=params).id


def test_line_tax_rates_worked_out_by_hand_and_charged(client: Client, server: KassaServer) -> None:
    """Tea 2 x 1,500 with 10% added, biscuits 500 with 20% included, 10% off: the discount
    first (300 and 50), then the taxes on what is left (270 added; 75 inside 450)."""
    added, included = _tax_rate(client, 10, False), _tax_rate(client, 20, True)
    coupon = client.v1.coupons.create(params={"percent_off": 10, "duration": "once"})
    params: Any = {
        "mode": "payment",
        "line_items": [
            {"price": _price(client, 1_500, name="Tea"), "quantity": 2, "tax_rates": [added]},
            {"price": _price(client, 500, name="Biscuits"), "quantity": 1, "tax_rates": [included]},
        ],
        "discounts": [{"coupon": coupon.id}],
        "success_url": SUCCESS,
    }
    session = client.v1.checkout.sessions.create(params=params, options=key())
    assert (session.amount_subtotal, session.amount_total) == (3_500, 3_420)
    details = session.total_details
    assert details is not None and (details.amount_discount, details.amount_tax) == (350, 345)
    lines = client.v1.checkout.sessions.line_items.list(session.id).data
    assert [(i.amount_discount, i.amount_tax, i.amount_total) for i in lines] == [
        (300, 270, 2_970),
        (50, 75, 450),
    ]
    assert session.url is not None
    shown = loopback.get(session.url, timeout=30).text
    assert "$2.70" in shown and "$0.75" in shown and "$34.20" in shown
    pay_url, form = _pay_form(session, VISA, "taxed")
    with loopback.Client(timeout=30, headers={"origin": server.url}) as http:
        assert http.post(pay_url, data=form).status_code == 303
    done = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["payment_intent"]})
    intent = done.payment_intent
    assert isinstance(intent, stripe.PaymentIntent) and intent.amount == 3_420
    unknown: Any = {**params, "line_items": [{**params["line_items"][0], "tax_rates": ["txr_no"]}]}
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.checkout.sessions.create(params=unknown, options=key())
    assert refused.value.param == "line_items[0][tax_rates][0]"


def test_a_subscription_takes_its_lines_tax_rates(client: Client, server: KassaServer) -> None:
    rate = _tax_rate(client, 10, False)
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "line_items": [
                {
                    "price": _price(client, 2_000, recurring=True),
                    "quantity": 1,
                    "tax_rates": [rate],
                },
                {"price": _price(client, 500, name="Setup"), "quantity": 1, "tax_rates": [rate]},
            ],
            "success_url": SUCCESS,
        },
        options=key(),
    )
    assert session.amount_total == 2_750
    pay_url, form = _pay_form(session, VISA, "taxed-subscription")
    with loopback.Client(timeout=30, headers={"origin": server.url}) as http:
        assert http.post(pay_url, data=form).status_code == 303
    done = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["subscription"]})
    subscription = done.subscription
    assert isinstance(subscription, stripe.Subscription)
    (item,) = subscription["items"].data
    assert [r.id for r in item.tax_rates or []] == [rate]
    invoice = client.v1.invoices.retrieve(str(done.invoice))
    assert (invoice.total, invoice.amount_paid) == (2_750, 2_750)
