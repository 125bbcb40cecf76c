"""The dashboard refuses access without a session, refuses state changes without the
session's CSRF token, and never shows one account's objects to another.

The checks walk every page the dashboard registers (`kassa.dashboard.site.PAGES`), so a page
added later is covered without being listed here.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest
import stripe
from stripe.params import PaymentIntentCreateParams

from kassa.clock import SystemClock
from kassa.dashboard.app import LOGIN_CSRF_COOKIE, PREFIX, SESSION_COOKIE
from kassa.dashboard.site import PAGES
from kassa.services.context import Context
from kassa.services.mail import EmailKind, OutgoingEmail, queue_email
from kassa.store import Store
from tests import loopback
from tests.dashboard_session import csrf_token, session_csrf, signed_in_client
from tests.direct_store import wait_for_request_log, with_store
from tests.harness import Account, KassaServer, create_account
from tests.test_reconcile import reconcile_json, write_csv

PATH_PARAM = re.compile(r"\{(\w+)(:\w+)?\}")
GET_PAGES = [page.path for page in PAGES if "GET" in page.methods]
POST_PAGES = [page.path for page in PAGES if "POST" in page.methods]
CLOCK_FROZEN_TIME = 1_798_761_600
"""2027-01-01 00:00 UTC: the test clock each account's objects include."""


@dataclass(frozen=True)
class Objects:
    """One account's objects of each kind a dashboard page can show, by page area."""

    by_area: dict[str, str]
    secret_key: str = ""

    def ids(self) -> set[str]:
        return set(self.by_area.values())

    def fill(self, path: str) -> str:
        """`path` with its parameters naming this account's object of the page's area."""
        area = path.strip("/").split("/")[0]
        object_id = self.by_area.get(area, "nothing_here")
        return PATH_PARAM.sub(object_id, path)


def _make_objects(server: KassaServer, account: Account) -> Objects:
    client = server.client(account.secret_key)
    customer = client.v1.customers.create(params={"email": f"{account.id}@example.com"})
    endpoint = client.v1.webhook_endpoints.create(
        params={"url": "http://127.0.0.1:9/hook", "enabled_events": ["*"]}
    )
    intent = client.v1.payment_intents.create(
        params=cast(
            PaymentIntentCreateParams,
            {
                "amount": 4242,
                "currency": "usd",
                "customer": customer.id,
                "payment_method": "pm_card_visa",
                "allowed_payment_method_types": ["card"],
                "capture_method": "manual",
                "confirm": True,
            },
        )
    )
    event = client.v1.events.list(params={"limit": 1}).data[0]
    product = client.v1.products.create(
        params={"name": "Walk", "default_price_data": {"currency": "usd", "unit_amount": 500}}
    )
    client.v1.invoice_items.create(
        params={"customer": customer.id, "pricing": {"price": str(product.default_price)}}
    )
    invoice = client.v1.invoices.create(
        params={"customer": customer.id, "pending_invoice_items_behavior": "include"}
    )
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": CLOCK_FROZEN_TIME})
    subscription = _subscription(client, customer.id)
    payout = _payout(client)
    with server.http(account.secret_key) as http:
        request_id = http.get(f"/v1/customers/{customer.id}").headers["request-id"]
    # The request log is written in batches: wait until this entry is there to be shown.
    assert wait_for_request_log(server.database_url, account.id, {request_id})
    email_id = _queue_email(server.database_url, account.id, customer.id)
    run_id = _recorded_reconciliation(server, account)
    return Objects(
        {
            "payments": intent.id,
            "customers": customer.id,
            "events": event.id,
            "webhooks": endpoint.id,
            "logs": request_id,
            "mailbox": email_id,
            "invoices": invoice.id,
            "products": product.id,
            "prices": str(product.default_price),
            "test_clocks": clock.id,
            "subscriptions": subscription.id,
            "payouts": payout.id,
            "reconciliation": run_id,
        },
        account.secret_key,
    )


def _recorded_reconciliation(server: KassaServer, account: Account) -> str:
    """A `kassa reconcile --record` run of the account, with one break."""
    with tempfile.TemporaryDirectory() as folder:
        ledger = write_csv(Path(folder) / "ledger.csv", [["txn_a", 100, "usd", "2026-11-02"]])
        bank = write_csv(Path(folder) / "bank.csv", [["txn_b", 100, "usd", "2026-11-02"]])
        _, answer = reconcile_json(
            ledger,
            bank,
            "--record",
            "--database",
            server.database_url,
            "--account",
            account.id,
            "--out",
            Path(folder) / "out",
        )
    return str(answer["run"])


def _subscription(client: stripe.StripeClient, customer_id: str) -> stripe.Subscription:
    """A monthly subscription, active at once: it sends its invoices rather than charging a
    card (the customer has none saved)."""
    price = client.v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount": 900,
            "recurring": {"interval": "month"},
            "product_data": {"name": "Walks monthly"},
        }
    )
    subscription = client.v1.subscriptions.create(
        params={
            "customer": customer_id,
            "items": [{"price": price.id}],
            "collection_method": "send_invoice",
            "days_until_due": 30,
        }
    )
    assert subscription.status == "active"
    return subscription


def _payout(client: stripe.StripeClient) -> stripe.Payout:
    """A manual payout, from funds a card that skips the pending balance made available."""
    client.v1.payment_intents.create(
        params=cast(
            PaymentIntentCreateParams,
            {
                "amount": 5000,
                "currency": "usd",
                "payment_method": "pm_card_bypassPending",
                "allowed_payment_method_types": ["card"],
                "confirm": True,
            },
        )
    )
    return client.v1.payouts.create(params={"amount": 1000, "currency": "usd"})


def _queue_email(database_url: str, account_id: str, customer_id: str) -> str:
    """An email in the account's mailbox (queued as an invoice would queue one)."""

    async def queue(store: Store) -> str:
        async with store.write() as tx:
            email = await queue_email(
                Context(account_id, tx, SystemClock()),
                OutgoingEmail(
                    EmailKind.RECEIPT,
                    "mailbox@example.com",
                    "Receipt",
                    "Paid.",
                    "<p>Paid.</p>",
                    customer=customer_id,
                ),
            )
        return str(email["id"])

    return with_store(database_url, queue)


# Both sets are made once per module (and engine): about 3 s each, with a `kassa reconcile`
# run, and the tests only read them or check that a refused request changed nothing.


@pytest.fixture(scope="module")
def theirs(server: KassaServer) -> Objects:
    """Another account's objects, which the signed-in account must never see."""
    return _make_objects(server, create_account(server.database_url))


@pytest.fixture(scope="module")
def mine(server: KassaServer) -> Objects:
    """The signed-in account's own objects (sign in with `mine.secret_key`)."""
    return _make_objects(server, create_account(server.database_url))


def test_pages_are_registered() -> None:
    """The walks below mean something only if the areas the dashboard promises are there:
    every area's list, and a detail page for each kind of object the tests make."""
    areas = {"payments", "customers", "events", "webhooks", "logs", "ledger"}
    areas |= {"invoices", "products", "prices", "subscriptions"}
    assert "/" in GET_PAGES
    assert {f"/{area}" for area in areas} <= set(GET_PAGES)
    with_ids = {path.strip("/").split("/")[0] for path in GET_PAGES if PATH_PARAM.search(path)}
    assert with_ids >= areas - {"ledger"}
    assert any("refund" in path for path in POST_PAGES)
    assert any(path.endswith("/void") for path in POST_PAGES)


@pytest.mark.parametrize("path", GET_PAGES)
def test_no_page_is_readable_without_a_session(
    server: KassaServer, mine: Objects, path: str
) -> None:
    url = PREFIX + mine.fill(path)
    for cookies in ({}, {SESSION_COOKIE: "forged-or-expired"}):
        response = loopback.get(server.url + url, cookies=cookies, follow_redirects=False)
        assert response.status_code == 303, f"{url} answered {response.status_code}"
        assert response.headers["location"] == f"{PREFIX}/login"
        assert not mine.ids() & set(re.findall(r"\w+", response.text))


@pytest.mark.parametrize("path", POST_PAGES)
def test_no_state_change_without_a_session(server: KassaServer, mine: Objects, path: str) -> None:
    response = loopback.post(server.url + PREFIX + mine.fill(path), data={"csrf_token": "x"})
    assert response.status_code == 401


def test_sign_in_refuses_wrong_keys_and_missing_token(
    server: KassaServer, account: Account
) -> None:
    with loopback.Client(base_url=server.url, timeout=30) as client:
        page = client.get("/dashboard/login")
        for key in ("sk_test_wrong", account.publishable_key, ""):
            # Each answer is a fresh sign-in form with a fresh token.
            page = client.post(
                "/dashboard/login", data={"csrf_token": csrf_token(page.text), "secret_key": key}
            )
            assert page.status_code == 401
            assert SESSION_COOKIE not in page.cookies
    with loopback.Client(base_url=server.url, timeout=30) as fresh:
        # A right key without the sign-in page's token: a cross-site sign-in attempt.
        forged = fresh.post(
            "/dashboard/login", data={"csrf_token": "guess", "secret_key": account.secret_key}
        )
        assert forged.status_code == 403
        assert SESSION_COOKIE not in forged.cookies


def test_session_cookie_is_http_only_and_same_site(server: KassaServer, account: Account) -> None:
    with loopback.Client(base_url=server.url, timeout=30) as client:
        page = client.get("/dashboard/login")
        assert "httponly" in page.headers["set-cookie"].lower()
        response = client.post(
            "/dashboard/login",
            data={"csrf_token": csrf_token(page.text), "secret_key": account.secret_key},
        )
        cookies = [c for c in response.headers.get_list("set-cookie") if SESSION_COOKIE in c]
        assert len(cookies) == 1
        flags = {part.strip().lower() for part in cookies[0].split(";")}
        assert "httponly" in flags
        assert "samesite=lax" in flags
        assert f"path={PREFIX}" in flags
        assert any(
            c.startswith(f"{LOGIN_CSRF_COOKIE}=") for c in response.headers.get_list("set-cookie")
        )


@pytest.mark.parametrize("path", [*POST_PAGES, "/logout"])
def test_state_changes_need_the_sessions_csrf_token(
    server: KassaServer, mine: Objects, path: str
) -> None:
    with signed_in_client(server, mine.secret_key) as client:
        url = PREFIX + mine.fill(path)
        for form in ({}, {"csrf_token": "not-the-token"}, {"csrf_token": ""}):
            response = client.post(url, data={**form, "amount": "1", "url": "http://x.test/"})
            assert response.status_code == 403, f"{url} with {form} answered {response.status_code}"
        # The session survived: the refused sign-out did not sign out.
        assert client.get("/dashboard/").status_code == 200


def test_a_refund_without_the_token_moves_no_money(
    server: KassaServer, account: Account, client: stripe.StripeClient
) -> None:
    refund_pages = [p for p in POST_PAGES if "refund" in p]
    if not refund_pages:
        pytest.fail("the dashboard registers no refund action")
    intent = client.v1.payment_intents.create(
        params=cast(
            PaymentIntentCreateParams,
            {
                "amount": 1000,
                "currency": "usd",
                "payment_method": "pm_card_visa",
                "allowed_payment_method_types": ["card"],
                "confirm": True,
            },
        )
    )
    url = PREFIX + Objects({"payments": intent.id}).fill(refund_pages[0])
    with signed_in_client(server, account.secret_key) as browser:
        refused = browser.post(url, data={"amount": "10.00"})
        assert refused.status_code == 403
    assert client.v1.refunds.list(params={"payment_intent": intent.id}).data == []


def test_signing_out_ends_the_session(server: KassaServer, account: Account) -> None:
    with signed_in_client(server, account.secret_key) as client:
        token = session_csrf(client)
        cookie = client.cookies[SESSION_COOKIE]
        assert client.post("/dashboard/logout", data={"csrf_token": token}).status_code == 303
        replayed = loopback.get(
            f"{server.url}/dashboard/", cookies={SESSION_COOKIE: cookie}, follow_redirects=False
        )
        assert replayed.status_code == 303


@pytest.mark.parametrize("path", GET_PAGES)
def test_another_accounts_objects_are_never_shown(
    server: KassaServer, mine: Objects, theirs: Objects, path: str
) -> None:
    with signed_in_client(server, mine.secret_key) as client:
        own = client.get(PREFIX + mine.fill(path))
        assert own.status_code == 200, f"{path} with my own object answered {own.status_code}"
        foreign = client.get(PREFIX + theirs.fill(path))
        words = set(re.findall(r"\w+", foreign.text))
        if PATH_PARAM.search(path):
            assert foreign.status_code == 404, f"{path} showed another account's object"
        assert not theirs.ids() & words, f"{path} shows another account's ids"
        # Filters naming their objects find nothing either.
        filtered = client.get(
            PREFIX + mine.fill(path),
            params={"customer": theirs.by_area["customers"], "email": "x@example.com"},
        )
        assert not theirs.ids() & set(re.findall(r"\w+", filtered.text))


def test_actions_on_another_accounts_objects_change_nothing(
    server: KassaServer, mine: Objects, theirs: Objects
) -> None:
    other_intent = theirs.by_area["payments"]
    acted = 0
    with signed_in_client(server, mine.secret_key) as client:
        token = session_csrf(client)
        for path in POST_PAGES:
            if not path.startswith(
                ("/payments/", "/invoices/", "/test_clocks/", "/subscriptions/")
            ):
                continue
            url = PREFIX + theirs.fill(path)
            form = {"csrf_token": token, "amount": "1.00", "by": "day"}
            response = client.post(url, data=form)
            assert response.status_code in (303, 404), f"{url}: {response.status_code}"
            acted += 1
    assert acted, "the dashboard registers no payment actions"
    their_client = server.client(theirs.secret_key)
    intent = their_client.v1.payment_intents.retrieve(other_intent)
    assert intent.status == "requires_capture", "another account's payment was changed"
    invoice = their_client.v1.invoices.retrieve(theirs.by_area["invoices"])
    assert invoice.status == "draft", "another account's invoice was changed"
    clock = their_client.v1.test_helpers.test_clocks.retrieve(theirs.by_area["test_clocks"])
    assert (clock.status, clock.frozen_time) == ("ready", CLOCK_FROZEN_TIME), (
        "another account's test clock was advanced"
    )
    subscription = their_client.v1.subscriptions.retrieve(theirs.by_area["subscriptions"])
    assert subscription.status == "active", "another account's subscription was canceled"
    assert their_client.v1.refunds.list(params={"payment_intent": other_intent}).data == []
