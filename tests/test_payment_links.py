"""Payment Links end to end through the official SDK against a live `kassa serve` (SQLite and
PostgreSQL, one server per module): create, retrieve, update, list (`active`), the line items
(by `price`, or `price_data`: the link's own inline prices), the events, and the refusals (each
naming its parameter, nothing written); then the link's `url` over plain HTTP (each visit a
Checkout Session naming the link, with its settings; paying it; the hosted confirmation and the
redirect; the completed-sessions limit; an inactive link, or one whose price or shipping rate
was archived; any other error not passed off as either) and in Chromium (pay with a test card,
land on the confirmation or the redirect)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import stripe
from playwright.sync_api import Browser, Page, expect

from kassa.store import Store
from kassa.store.tables import PAYMENT_LINKS, PRIVATE
from tests import loopback
from tests.browser import chromium_session, fresh_page
from tests.conftest import module_server
from tests.direct_store import with_store
from tests.harness import KassaServer, assert_ledger_whole, create_account

Client = stripe.StripeClient
VISA = "4242 4242 4242 4242"
REDIRECT = "https://shop.example/thanks?session={CHECKOUT_SESSION_ID}"
SCONES: dict[str, Any] = {"currency": "usd", "unit_amount": 700, "product_data": {"name": "Scones"}}

links_server = module_server("payment-links", KassaServer)


@pytest.fixture
def server(links_server: KassaServer) -> Iterator[KassaServer]:
    yield links_server
    assert_ledger_whole(links_server.database_url)


@pytest.fixture
def client(server: KassaServer) -> Client:
    return server.client(create_account(server.database_url).secret_key)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium_session()


@pytest.fixture
def shop(browser: Browser) -> Iterator[Page]:
    """A page whose redirect target (another site) is answered here, without DNS."""
    with fresh_page(browser) as page:
        page.route("https://shop.example/**", lambda route: route.fulfill(body="thanks"))
        yield page


def key() -> stripe.RequestOptions:
    return {"idempotency_key": str(uuid.uuid4())}


def _price(client: Client, amount: int, *, recurring: bool = False, name: str = "Tea") -> str:
    params: Any = {"currency": "usd", "unit_amount": amount, "product_data": {"name": name}}
    if recurring:
        params["recurring"] = {"interval": "month"}
    return client.v1.prices.create(params=params, options=key()).id


def _link(client: Client, **extra: Any) -> stripe.PaymentLink:
    params: Any = {
        "line_items": [{"price": _price(client, 1_500), "quantity": 2}],
        **extra,
    }
    return client.v1.payment_links.create(params=params, options=key())


def _visit(link: stripe.PaymentLink) -> str:
    """The link's `url` visited once: the id of the Checkout Session it made."""
    answer = loopback.get(link.url, timeout=30)
    assert answer.status_code == 303
    match = re.search(r"/kassa/checkout/(cs_\w+)\?secret=", answer.headers["location"])
    assert match is not None
    return match[1]


def _pay(server: KassaServer, session: stripe.checkout.Session) -> None:
    """The session paid through its page's form with a Visa card, as a browser posts it."""
    assert session.url is not None
    pay_url = session.url.replace(f"/{session.id}?", f"/{session.id}/pay?")
    form = {
        "email": "ada@example.com",
        "number": VISA,
        "exp_month": "12",
        "exp_year": "34",
        "cvc": "123",
        "attempt": str(uuid.uuid4()),
    }
    with loopback.Client(timeout=30, headers={"origin": server.url}) as http:
        assert http.post(pay_url, data=form).status_code == 303


def _refused(client: Client, params: Any, update: str | None = None) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        if update is None:
            client.v1.payment_links.create(params=params, options=key())
        else:
            client.v1.payment_links.update(update, params=params, options=key())
    assert refused.value.http_status in (400, 404)
    return refused.value


# --- the API --------------------------------------------------------------------------------------


def test_a_link_is_stripes_object(client: Client, server: KassaServer) -> None:
    link = _link(
        client,
        metadata={"campaign": "spring"},
        after_completion={
            "type": "hosted_confirmation",
            "hosted_confirmation": {"custom_message": "Thanks, Ada!"},
        },
        allow_promotion_codes=True,
        restrictions={"completed_sessions": {"limit": 5}},
        currency="usd",
    )
    shown = link.to_dict()
    declared = {
        name
        for cls in stripe.PaymentLink.__mro__
        for name in getattr(cls, "__annotations__", {})
        if not name.startswith("_")
    } - {"OBJECT_NAME"}
    assert set(shown) == declared - {"line_items"}
    assert link.id.startswith("plink_") and link.object == "payment_link"
    assert (link.active, link.currency, link.allow_promotion_codes) == (True, "usd", True)
    assert link.url == f"{server.url}/kassa/checkout/link/{link.id}"
    assert link.after_completion.type == "hosted_confirmation"
    assert link.after_completion.hosted_confirmation is not None
    assert link.after_completion.hosted_confirmation.custom_message == "Thanks, Ada!"
    assert link.restrictions is not None
    assert (
        link.restrictions.completed_sessions.count,
        link.restrictions.completed_sessions.limit,
    ) == (0, 5)
    # Payment mode (one-time prices): the invoice and intent settings, no subscription's.
    assert link.invoice_creation is not None and link.invoice_creation.enabled is False
    assert link.payment_intent_data is not None and link.subscription_data is None
    assert (link.billing_address_collection, link.submit_type) == ("auto", "auto")
    assert "_kassa" not in shown
    assert client.v1.payment_links.retrieve(link.id).to_dict() == shown

    items = client.v1.payment_links.line_items.list(link.id)
    assert [(i.quantity, i.amount_subtotal, i.amount_total, i.description) for i in items.data] == [
        (2, 3_000, 3_000, "Tea")
    ]
    assert items.data[0].object == "item" and items.data[0].price is not None
    expanded = client.v1.payment_links.retrieve(link.id, params={"expand": ["line_items"]})
    assert expanded.line_items is not None
    assert [i.id for i in expanded.line_items.data] == [i.id for i in items.data]

    created = client.v1.events.list(params={"type": "payment_link.created"}).data
    assert [e.data.object["id"] for e in created] == [link.id]
    assert "_kassa" not in created[0].data.object


def test_update_and_list(client: Client) -> None:
    link = _link(client)
    other = _link(client)
    line = client.v1.payment_links.line_items.list(link.id).data[0]
    updated = client.v1.payment_links.update(
        link.id,
        params={
            "active": False,
            "metadata": {"batch": "2"},
            "inactive_message": "Sold out.",
            "after_completion": {"type": "redirect", "redirect": {"url": REDIRECT}},
            "restrictions": {"completed_sessions": {"limit": 3}},
            "line_items": [
                {"id": line.id, "quantity": 3, "adjustable_quantity": {"enabled": True}}
            ],
        },
        options=key(),
    )
    assert (updated.active, updated.metadata.to_dict(), updated.inactive_message) == (
        False,
        {"batch": "2"},
        "Sold out.",
    )
    assert updated.after_completion.type == "redirect"
    assert updated.after_completion.redirect is not None
    assert updated.after_completion.redirect.url == REDIRECT
    items = client.v1.payment_links.line_items.list(link.id).data
    assert [(i.id, i.quantity, i.amount_subtotal) for i in items] == [(line.id, 3, 4_500)]
    assert items[0].adjustable_quantity is not None
    assert (items[0].adjustable_quantity.minimum, items[0].adjustable_quantity.maximum) == (0, 99)

    events = client.v1.events.list(params={"type": "payment_link.updated"}).data
    assert len(events) == 1
    previous = events[0].data.previous_attributes
    assert previous is not None and previous["active"] is True

    # An update that changes nothing announces nothing.
    client.v1.payment_links.update(link.id, params={"active": False}, options=key())
    assert len(client.v1.events.list(params={"type": "payment_link.updated"}).data) == 1

    cleared = client.v1.payment_links.update(
        link.id, params={"restrictions": "", "inactive_message": ""}, options=key()
    )
    assert (cleared.restrictions, cleared.inactive_message) == (None, None)

    assert [x.id for x in client.v1.payment_links.list().data] == [other.id, link.id]
    active = client.v1.payment_links.list(params={"active": True}).data
    assert [x.id for x in active] == [other.id]
    inactive = client.v1.payment_links.list(params={"active": False}).data
    assert [x.id for x in inactive] == [link.id]


REFUSALS: list[tuple[dict[str, Any], str, str]] = [
    ({"line_items": []}, "line_items", ""),
    ({"line_items": [{"price": "price_none", "quantity": 1}]}, "line_items[0][price]", ""),
    ({"line_items": [{"quantity": 1}]}, "line_items[0][price]", ""),
    (
        {"line_items": [{"price": "price_x", "price_data": SCONES, "quantity": 1}]},
        "line_items[0][price]",
        "",
    ),
    (
        {"line_items": [{"price_data": {**SCONES, "currency": "xyz"}, "quantity": 1}]},
        "line_items[0][price_data][currency]",
        "",
    ),
    (
        {"line_items": [{"price_data": {"currency": "usd", "product": "prod_x"}, "quantity": 1}]},
        "line_items[0][price_data][unit_amount]",
        "",
    ),
    (
        {"line_items": [{"price_data": {"currency": "usd", "unit_amount": 1}, "quantity": 1}]},
        "line_items[0][price_data][product]",
        "",
    ),
    (
        {
            "line_items": [
                {
                    "price_data": {"currency": "usd", "unit_amount": 1, "product": "prod_none"},
                    "quantity": 1,
                }
            ]
        },
        "line_items[0][price_data][product]",
        "",
    ),
    (
        {"line_items": [{"price_data": {**SCONES, "tax_behavior": "inclusive"}, "quantity": 1}]},
        "line_items[0][price_data][tax_behavior]",
        "Kassa",
    ),
    (
        {
            "line_items": [
                {"price_data": {**SCONES, "recurring": {"interval": "fortnight"}}, "quantity": 1}
            ]
        },
        "line_items[0][price_data][recurring][interval]",
        "",
    ),
    ({"phone_number_collection": {"enabled": True}}, "phone_number_collection[enabled]", "Kassa"),
    ({"billing_address_collection": "required"}, "billing_address_collection", "Kassa"),
    ({"invoice_creation": {"enabled": True}}, "invoice_creation[enabled]", "Kassa"),
    ({"automatic_tax": {"enabled": True}}, "automatic_tax[enabled]", "Kassa"),
    ({"payment_method_collection": "if_required"}, "payment_method_collection", "Kassa"),
    ({"submit_type": "donate"}, "submit_type", "Kassa"),
    ({"custom_text": {"submit": {"message": "hi"}}}, "custom_text", "Kassa"),
    (
        {"shipping_address_collection": {"allowed_countries": ["XX"]}},
        "shipping_address_collection[allowed_countries][0]",
        "",
    ),
    (
        {"shipping_options": [{"shipping_rate": "shr_none"}]},
        "shipping_options[0][shipping_rate]",
        "",
    ),
    ({"on_behalf_of": "acct_x"}, "on_behalf_of", "Kassa"),
    ({"optional_items": [{"price": "price_x", "quantity": 1}]}, "optional_items", "Kassa"),
    ({"payment_method_types": ["klarna"]}, "payment_method_types[0]", ""),
    ({"subscription_data": {"trial_period_days": 7}}, "subscription_data", ""),
    ({"currency": "eur"}, "currency", ""),
    ({"after_completion": {"type": "redirect"}}, "after_completion[redirect][url]", ""),
    (
        {"after_completion": {"type": "redirect", "redirect": {"url": "javascript:alert(1)"}}},
        "after_completion[redirect][url]",
        "",
    ),
    (
        {"restrictions": {"completed_sessions": {"limit": 0}}},
        "restrictions[completed_sessions][limit]",
        "",
    ),
]


@pytest.mark.parametrize(("extra", "param", "says"), REFUSALS)
def test_refusals_name_their_parameter(
    client: Client, extra: dict[str, Any], param: str, says: str
) -> None:
    params: Any = {"line_items": [{"price": _price(client, 1_000), "quantity": 1}], **extra}
    refused = _refused(client, params)
    assert refused.param == param
    assert says in str(refused.user_message)
    assert client.v1.payment_links.list().data == []
    assert client.v1.events.list(params={"type": "payment_link.created"}).data == []


def test_a_refused_price_data_link_writes_nothing(client: Client) -> None:
    """The prices and products `price_data` makes are gone with the refused link."""
    for params, param in (
        (
            {
                "line_items": [
                    {"price_data": SCONES, "quantity": 1},
                    {"price_data": {**SCONES, "currency": "eur"}, "quantity": 1},
                ]
            },
            "line_items",
        ),
        (
            {"line_items": [{"price_data": SCONES, "quantity": 1}], "submit_type": "book"},
            "submit_type",
        ),
    ):
        assert _refused(client, params).param == param
    assert client.v1.products.list().data == []
    assert client.v1.events.list().data == []


def test_update_refusals_write_nothing(client: Client) -> None:
    link = _link(client)
    for params, param in (
        ({"line_items": [{"id": "li_none", "quantity": 2}]}, "line_items[0][id]"),
        (
            {"active": False, "phone_number_collection": {"enabled": True}},
            "phone_number_collection[enabled]",
        ),
        ({"active": False, "subscription_data": {"description": "x"}}, "subscription_data"),
        ({"active": False, "custom_text": {"submit": {"message": "x"}}}, "custom_text"),
    ):
        assert _refused(client, params, update=link.id).param == param
    assert client.v1.payment_links.retrieve(link.id).active is True
    assert client.v1.events.list(params={"type": "payment_link.updated"}).data == []


def test_price_data_makes_the_links_own_prices(client: Client, server: KassaServer) -> None:
    jam = client.v1.products.create(params={"name": "Jam"}, options=key())
    params: Any = {
        "line_items": [
            {"price_data": SCONES, "quantity": 2},
            {
                "price_data": {"currency": "usd", "unit_amount": 300, "product": jam.id},
                "quantity": 1,
                "adjustable_quantity": {"enabled": True, "maximum": 5},
            },
        ]
    }
    link = client.v1.payment_links.create(params=params, options=key())
    assert (link.currency, link.payment_intent_data is not None) == ("usd", True)
    items = client.v1.payment_links.line_items.list(link.id).data
    assert [(i.description, i.quantity, i.amount_total) for i in items] == [
        ("Scones", 2, 1_400),
        ("Jam", 1, 300),
    ]
    # Inline prices, as Stripe's `price_data` makes them: inactive, and in no price list.
    own = [i.price for i in items]
    assert [(p.active, p.unit_amount) for p in own if p is not None] == [(False, 700), (False, 300)]
    assert client.v1.prices.list(params={"active": False}).data == []

    # Made once, with the link: each visit's session names the same prices.
    sessions = [_visit(link), _visit(link)]
    for session_id in sessions:
        lines = client.v1.checkout.sessions.line_items.list(session_id).data
        assert [line.price.id for line in lines if line.price] == [p.id for p in own if p]
    session = client.v1.checkout.sessions.retrieve(sessions[0])
    assert session.amount_total == 1_700
    _pay(server, session)
    assert client.v1.checkout.sessions.retrieve(session.id).status == "complete"

    # An update works the amounts out again on the link's own prices.
    client.v1.payment_links.update(
        link.id, params={"line_items": [{"id": items[0].id, "quantity": 3}]}, options=key()
    )
    after = client.v1.payment_links.line_items.list(link.id).data
    assert [(i.price.id if i.price else None, i.amount_total) for i in after] == [
        (own[0].id if own[0] else None, 2_100),
        (own[1].id if own[1] else None, 300),
    ]


def test_a_recurring_price_data_makes_a_subscription_link(
    client: Client, server: KassaServer
) -> None:
    club = {**SCONES, "unit_amount": 900, "recurring": {"interval": "month"}}
    params: Any = {
        "line_items": [{"price_data": club, "quantity": 1}, {"price_data": SCONES, "quantity": 1}]
    }
    link = client.v1.payment_links.create(params=params, options=key())
    assert link.subscription_data is not None and link.payment_intent_data is None
    session = client.v1.checkout.sessions.retrieve(_visit(link))
    assert (session.mode, session.amount_total) == ("subscription", 1_600)
    _pay(server, session)
    done = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["subscription"]})
    subscription = done.subscription
    assert isinstance(subscription, stripe.Subscription)
    assert subscription.status == "active"
    assert [item.price.unit_amount for item in subscription["items"].data] == [900]
    # The one-time line is on the first invoice beside it, as Checkout bills it.
    invoice = client.v1.invoices.retrieve(str(subscription.latest_invoice))
    assert (invoice.status, invoice.amount_paid) == ("paid", 1_600)


# --- the link's page --------------------------------------------------------------------------


def test_a_visit_makes_a_session_and_paying_it_confirms(
    client: Client, server: KassaServer
) -> None:
    link = _link(
        client,
        metadata={"campaign": "spring"},
        allow_promotion_codes=True,
        after_completion={
            "type": "hosted_confirmation",
            "hosted_confirmation": {"custom_message": "Thanks, Ada!"},
        },
    )
    # Following the redirect lands on the session's page.
    page = loopback.get(link.url, timeout=30, follow_redirects=True)
    assert page.status_code == 200 and 'data-testid="checkout"' in page.text
    first = _visit(link)
    second = _visit(link)
    assert first != second
    listed = client.v1.checkout.sessions.list(params={"payment_link": link.id}).data
    assert len(listed) == 3 and {first, second} <= {s.id for s in listed}
    assert client.v1.checkout.sessions.list(params={"payment_link": "plink_none"}).data == []

    session = client.v1.checkout.sessions.retrieve(first)
    assert (session.payment_link, session.mode, session.status) == (link.id, "payment", "open")
    expanded = client.v1.checkout.sessions.retrieve(first, params={"expand": ["payment_link"]})
    assert isinstance(expanded.payment_link, stripe.PaymentLink)
    assert expanded.payment_link.to_dict() == client.v1.payment_links.retrieve(link.id).to_dict()
    assert session.metadata is not None
    assert (session.metadata.to_dict(), session.allow_promotion_codes) == (
        {"campaign": "spring"},
        True,
    )
    assert session.success_url is None and session.amount_total == 3_000

    _pay(server, session)
    done = client.v1.checkout.sessions.retrieve(first)
    assert (done.status, done.payment_status) == ("complete", "paid")
    completed = client.v1.events.list(params={"type": "checkout.session.completed"}).data
    assert [e.data.object["payment_link"] for e in completed] == [link.id]

    # The session's page now shows the link's message.
    assert session.url is not None
    confirmed = loopback.get(session.url, timeout=30)
    assert confirmed.status_code == 200
    assert 'data-testid="confirmation">Thanks, Ada!<' in confirmed.text
    assert client.v1.payment_links.retrieve(link.id).restrictions is None


def test_a_redirect_link_sends_the_customer_on(client: Client, server: KassaServer) -> None:
    link = _link(client, after_completion={"type": "redirect", "redirect": {"url": REDIRECT}})
    session = client.v1.checkout.sessions.retrieve(_visit(link))
    assert session.success_url == REDIRECT
    _pay(server, session)
    assert session.url is not None
    answer = loopback.get(session.url, timeout=30)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"https://shop.example/thanks?session={session.id}"


def test_the_completed_sessions_limit(client: Client, server: KassaServer) -> None:
    link = _link(client, restrictions={"completed_sessions": {"limit": 1}})
    one = client.v1.checkout.sessions.retrieve(_visit(link))
    two = client.v1.checkout.sessions.retrieve(_visit(link))
    _pay(server, one)
    counted = client.v1.payment_links.retrieve(link.id).restrictions
    assert counted is not None and counted.completed_sessions.count == 1
    closed = loopback.get(link.url, timeout=30)
    assert closed.status_code == 410
    assert "This link is no longer available." in closed.text
    # A session already open completes, as on Stripe, and counts.
    _pay(server, two)
    counted = client.v1.payment_links.retrieve(link.id).restrictions
    assert counted is not None and counted.completed_sessions.count == 2
    # A higher limit opens the link again.
    client.v1.payment_links.update(
        link.id, params={"restrictions": {"completed_sessions": {"limit": 3}}}, options=key()
    )
    assert loopback.get(link.url, timeout=30).status_code == 303


def test_an_inactive_or_unknown_link(client: Client, server: KassaServer) -> None:
    link = _link(client, inactive_message="Back next week.")
    client.v1.payment_links.update(link.id, params={"active": False}, options=key())
    closed = loopback.get(link.url, timeout=30)
    assert closed.status_code == 410 and "Back next week." in closed.text
    assert client.v1.checkout.sessions.list(params={"payment_link": link.id}).data == []
    unknown = loopback.get(f"{server.url}/kassa/checkout/link/plink_none", timeout=30)
    assert unknown.status_code == 404
    odd = loopback.get(f"{server.url}/kassa/checkout/link/a/b", timeout=30)
    assert odd.status_code == 404
    with loopback.Client(timeout=30) as http:
        assert http.post(link.url).status_code == 405
    # A price archived since: the visit writes nothing and says the link is unavailable.
    live = _link(client)
    price = client.v1.payment_links.line_items.list(live.id).data[0].price
    assert price is not None
    client.v1.prices.update(price.id, params={"active": False}, options=key())
    assert loopback.get(live.url, timeout=30).status_code == 410
    assert client.v1.checkout.sessions.list(params={"payment_link": live.id}).data == []
    # So is a shipping rate.
    rate = client.v1.shipping_rates.create(
        params={
            "display_name": "Post",
            "type": "fixed_amount",
            "fixed_amount": {"amount": 500, "currency": "usd"},
        },
        options=key(),
    )
    shipped = _link(client, shipping_options=[{"shipping_rate": rate.id}])
    client.v1.shipping_rates.update(rate.id, params={"active": False}, options=key())
    assert loopback.get(shipped.url, timeout=30).status_code == 410
    assert client.v1.checkout.sessions.list(params={"payment_link": shipped.id}).data == []


def test_a_visit_does_not_pass_a_bug_off_as_an_unavailable_link(server: KassaServer) -> None:
    """Only what makes a link unusable (inactive, used up, an archived price or rate) is a
    410; anything else Checkout refuses is raised as it is (here a stored link naming a price
    that never existed, which no request can make)."""
    account = create_account(server.database_url)
    link = _link(server.client(account.secret_key))

    async def lose_the_price(store: Store) -> None:
        async with store.write() as tx:
            found = await tx.get_object(PAYMENT_LINKS, account.id, link.id)
            assert found is not None
            found[0][PRIVATE]["line_items"][0]["price"]["id"] = "price_never_made"
            await tx.update_object(PAYMENT_LINKS, account.id, found[0])

    with_store(server.database_url, lose_the_price)
    # Not a 410 "unavailable" page: the fault is raised (and logged) for someone to fix,
    # and the page answers as any unhandled fault does.
    assert loopback.get(link.url, timeout=30).status_code == 500


def test_a_subscription_link(client: Client, server: KassaServer) -> None:
    link = client.v1.payment_links.create(
        params={
            "line_items": [{"price": _price(client, 2_000, recurring=True), "quantity": 1}],
            "subscription_data": {"description": "Tea club", "metadata": {"tier": "gold"}},
        },
        options=key(),
    )
    assert link.subscription_data is not None and link.payment_intent_data is None
    assert link.invoice_creation is None
    session = client.v1.checkout.sessions.retrieve(_visit(link))
    assert (session.mode, session.payment_link) == ("subscription", link.id)
    _pay(server, session)
    done = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["subscription"]})
    subscription = done.subscription
    assert isinstance(subscription, stripe.Subscription)
    assert (subscription.status, subscription.description) == ("active", "Tea club")
    assert subscription.metadata.to_dict() == {"tier": "gold"}
    # Payment mode's settings are refused on a subscription link.
    refused = _refused(client, {"payment_intent_data": {"description": "x"}}, update=link.id)
    assert refused.param == "payment_intent_data"


# --- in the browser -------------------------------------------------------------------------------


def _fill(page: Page) -> None:
    page.get_by_test_id("email").fill("ada@example.com")
    page.get_by_test_id("card-number").fill(VISA)
    page.get_by_test_id("card-exp-month").fill("12")
    page.get_by_test_id("card-exp-year").fill("34")
    page.get_by_test_id("card-cvc").fill("123")
    page.get_by_test_id("card-name").fill("Ada Lovelace")
    page.get_by_test_id("pay-button").click()


def test_pay_a_link_in_the_browser(shop: Page, client: Client) -> None:
    link = _link(
        client,
        after_completion={
            "type": "hosted_confirmation",
            "hosted_confirmation": {"custom_message": "Your tea is on its way."},
        },
    )
    shop.goto(link.url)
    expect(shop.get_by_test_id("total")).to_have_text("$30.00")
    _fill(shop)
    expect(shop.get_by_test_id("confirmation")).to_have_text("Your tea is on its way.")

    redirecting = _link(
        client, after_completion={"type": "redirect", "redirect": {"url": REDIRECT}}
    )
    shop.goto(redirecting.url)
    _fill(shop)
    expect(shop).to_have_url(re.compile(r"https://shop\.example/thanks\?session=cs_\w+"))
    sessions = client.v1.checkout.sessions.list(params={"payment_link": redirecting.id}).data
    assert [s.status for s in sessions] == ["complete"]
    assert shop.url.endswith(f"session={sessions[0].id}")
