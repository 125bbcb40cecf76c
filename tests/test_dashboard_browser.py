"""The dashboard in real headless Chromium (Debian's `chromium`, driven by Playwright): sign
in, walk every page at laptop and phone widths with screenshots, and use the actions a Stripe
user expects (refund, capture, cancel, create an endpoint, resend a webhook), checking each
result through the API."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
import stripe
from playwright.sync_api import Browser, Page, expect
from stripe.params import PaymentIntentCreateParams

from kassa.clock import SystemClock
from kassa.dashboard.app import PAGE_SIZE
from kassa.ids import new_id
from kassa.services.billing import invoice_emails
from kassa.services.context import Context
from kassa.store import Store
from tests.browser import chromium_session, screenshot, screenshot_folder, signed_in_dashboard
from tests.direct_store import with_store
from tests.harness import Account, KassaServer, create_account
from tests.webhook_receiver import WebhookReceiver

MAIL_POLLS_MAX = 200
PAYMENTS_FOR_TWO_PAGES = PAGE_SIZE + 3
"""Intents and Charges API charges, made alternately: a full page and part of the next."""
ATTEMPT_RELOADS_MAX = 50
ATTEMPT_RELOAD_PAUSE_SECONDS = 0.1
PAST_CLOCK_TIME = 1_615_377_600
"""2021-03-10 12:00 UTC: a test clock years behind the payments made now."""
FUTURE_CLOCK_TIME = 1_942_315_200
"""2031-07-20 12:00 UTC: a test clock years ahead."""

VERIFIED = re.compile("ok|balanced|no problems", re.IGNORECASE)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium_session()


@pytest.fixture
def shots(test_output_dir: Path, database_url: str) -> Path:
    """Screenshots land in test-output/dashboard/<engine>/ for people to look at."""
    return screenshot_folder(test_output_dir, database_url, "dashboard")


@pytest.fixture
def page(browser: Browser, server: KassaServer, account: Account) -> Iterator[Page]:
    yield from signed_in_dashboard(browser, server, account)


def _pay(client: stripe.StripeClient, **params: Any) -> stripe.PaymentIntent:
    defaults: dict[str, Any] = {
        "amount": 2000,
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "allowed_payment_method_types": ["card"],
        "confirm": True,
    }
    try:
        return client.v1.payment_intents.create(
            params=cast(PaymentIntentCreateParams, {**defaults, **params})
        )
    except stripe.CardError as declined:
        assert declined.error is not None and declined.error.payment_intent is not None
        return client.v1.payment_intents.retrieve(declined.error.payment_intent.id)


def _testid(page: Page, name: str) -> Any:
    return page.get_by_test_id(name)


@dataclass(frozen=True)
class Walk:
    """One account with an object of every kind the pages show, made once per engine."""

    account: Account
    customer: stripe.Customer
    paid: stripe.PaymentIntent
    declined: stripe.PaymentIntent
    held: stripe.PaymentIntent
    endpoint: stripe.WebhookEndpoint


@pytest.fixture(scope="module")
def walk(server: KassaServer) -> Walk:
    account = create_account(server.database_url)
    client = server.client(account.secret_key)
    customer = client.v1.customers.create(
        params={"email": "walk@example.com", "name": "Ada Walker"}
    )
    paid = _pay(client, customer=customer.id, amount=4200, description="Walk order")
    declined = _pay(client, payment_method="pm_card_chargeDeclined", amount=1300)
    held = _pay(client, capture_method="manual", amount=900, currency="eur")
    client.v1.refunds.create(params={"payment_intent": paid.id, "amount": 200})
    endpoint = client.v1.webhook_endpoints.create(
        params={"url": "http://127.0.0.1:9/closed", "enabled_events": ["charge.succeeded"]}
    )
    _pay(client)  # after the endpoint, so it has a delivery (failing: nothing listens)
    return Walk(account, customer, paid, declined, held, endpoint)


@pytest.fixture
def walker(browser: Browser, server: KassaServer, walk: Walk) -> Iterator[Page]:
    yield from signed_in_dashboard(browser, server, walk.account)


def test_home(walker: Page, shots: Path) -> None:
    expect(walker.get_by_role("heading", name="Home")).to_be_visible()
    expect(_testid(walker, "pending-usd")).to_be_visible()
    expect(walker.locator(".chart svg rect").first).to_be_attached()
    expect(walker.get_by_text("$42.00").first).to_be_visible()
    screenshot(walker, shots, "home")


def test_payments_pages(walker: Page, server: KassaServer, walk: Walk, shots: Path) -> None:
    walker.get_by_role("link", name="Payments", exact=True).click()
    table = _testid(walker, "payments-table")
    for intent in (walk.paid, walk.declined, walk.held):
        expect(table.get_by_test_id(f"row-{intent.id}")).to_be_visible()
    screenshot(walker, shots, "payments")

    walker.select_option('[data-testid="filter-status"]', "requires_capture")
    walker.locator("form.filters button").first.click()
    expect(table.get_by_test_id(f"row-{walk.held.id}")).to_be_visible()
    expect(table.get_by_test_id(f"row-{walk.paid.id}")).to_have_count(0)

    walker.goto(f"{server.url}/dashboard/payments/{walk.paid.id}")
    expect(_testid(walker, "charge-section")).to_contain_text("$42.00")
    expect(_testid(walker, "refunds-table")).to_contain_text("$2.00")
    expect(_testid(walker, "balance-transactions-table")).to_be_visible()
    expect(_testid(walker, "ledger-entries-table")).to_be_visible()
    expect(_testid(walker, "events-table")).to_contain_text("payment_intent.succeeded")
    screenshot(walker, shots, "payment-detail")


def _rows_shown(page: Page) -> list[str]:
    """The ids of the payments table's rows, top to bottom."""
    ids = (
        _testid(page, "payments-table")
        .locator("tbody tr[data-testid]")
        .evaluate_all("rows => rows.map(row => row.dataset.testid)")
    )
    return [str(row_id).removeprefix("row-") for row_id in ids]


def test_a_charges_api_charge_is_listed_and_shown(
    page: Page,
    server: KassaServer,
    client: stripe.StripeClient,
    shots: Path,
    ledger_verified: None,
) -> None:
    """A charge made through the Charges API (no PaymentIntent) is a payment like any other:
    listed among the intents (once; an intent's own charge is not listed beside it), found by
    the status filter, and shown on a page of its own."""
    customer = client.v1.customers.create(params={"email": "legacy@example.com"})
    paid = _pay(client, amount=2000, customer=customer.id)
    legacy = client.v1.charges.create(
        params={
            "amount": 1500,
            "currency": "usd",
            "source": "tok_visa",
            "description": "Legacy order",
            "metadata": {"order": "L-1"},
        }
    )
    held = client.v1.charges.create(
        params={"amount": 800, "currency": "eur", "source": "tok_mastercard", "capture": False}
    )
    assert legacy.payment_intent is None and held.payment_intent is None
    client.v1.refunds.create(params={"charge": legacy.id, "amount": 500})

    page.goto(f"{server.url}/dashboard/payments")
    assert sorted(_rows_shown(page)) == sorted([held.id, legacy.id, paid.id])
    row = _testid(page, f"row-{legacy.id}")
    for text in ("$15.00", "Legacy order", "Succeeded", "Partially refunded", "visa ••••4242"):
        expect(row).to_contain_text(text)
    expect(_testid(page, f"row-{held.id}")).to_contain_text("Uncaptured")
    screenshot(page, shots, "payments-with-charges")

    page.select_option('[data-testid="filter-status"]', "requires_capture")
    _testid(page, "filter-submit").click()
    expect(_testid(page, f"row-{legacy.id}")).to_have_count(0)
    assert _rows_shown(page) == [held.id]
    page.select_option('[data-testid="filter-status"]', "succeeded")
    _testid(page, "filter-submit").click()
    expect(_testid(page, f"row-{held.id}")).to_have_count(0)
    assert sorted(_rows_shown(page)) == sorted([legacy.id, paid.id])
    page.fill('[data-testid="filter-customer"]', customer.id)
    _testid(page, "filter-submit").click()
    expect(_testid(page, f"row-{legacy.id}")).to_have_count(0)
    assert _rows_shown(page) == [paid.id]

    page.goto(f"{server.url}/dashboard/payments")
    _testid(page, f"row-{legacy.id}").get_by_role("link").first.click()
    expect(page).to_have_url(re.compile(f"/dashboard/payments/{legacy.id}$"))
    expect(_testid(page, "payment-id")).to_have_text(legacy.id)
    expect(_testid(page, "payment-status")).to_have_text("Succeeded")
    expect(_testid(page, "charge-section")).to_contain_text("$15.00")
    expect(_testid(page, "charge-card")).to_contain_text("visa ••••4242")
    expect(_testid(page, "amount-refunded")).to_have_text("$5.00")
    expect(_testid(page, "refunds-table")).to_contain_text("$5.00")
    transactions = _testid(page, "balance-transactions-table")
    expect(transactions).to_contain_text(legacy.id)
    expect(transactions).to_contain_text("refund")
    expect(_testid(page, "ledger-entries-table")).to_contain_text("pending")
    expect(_testid(page, "events-table")).to_contain_text("charge.succeeded")
    expect(page.get_by_text("L-1", exact=True)).to_be_visible()
    screenshot(page, shots, "charge-detail")

    page.goto(f"{server.url}/dashboard/payments/{held.id}")
    expect(_testid(page, "payment-status")).to_have_text("Uncaptured")
    expect(_testid(page, "charge-captured")).to_have_text("no")
    # An intent's charge still leads to its intent's page.
    page.goto(f"{server.url}/dashboard/payments/{paid.latest_charge}")
    expect(page).to_have_url(re.compile(f"/dashboard/payments/{paid.id}$"))


def test_customer_and_home_pages_list_charges_api_charges_with_intents(
    page: Page, server: KassaServer, client: stripe.StripeClient
) -> None:
    customer = client.v1.customers.create(params={"source": "tok_visa"})
    paid = _pay(client, customer=customer.id)
    charged = client.v1.charges.create(
        params={"amount": 1200, "currency": "usd", "customer": customer.id}
    )
    elsewhere = client.v1.charges.create(
        params={"amount": 900, "currency": "usd", "source": "tok_visa"}
    )
    assert charged.payment_intent is None and charged.customer == customer.id
    page.goto(f"{server.url}/dashboard/customers/{customer.id}")
    table = _testid(page, "customer-payments-table")
    expect(table.locator(f'[data-testid="row-{charged.id}"]')).to_contain_text("$12.00")
    expect(table.locator(f'[data-testid="row-{paid.id}"]')).to_be_visible()
    expect(table.locator(f'[data-testid="row-{elsewhere.id}"]')).to_have_count(0)
    # The home page's recent payments hold both kinds too.
    page.goto(f"{server.url}/dashboard")
    expect(_testid(page, f"recent-{elsewhere.id}")).to_contain_text("Succeeded")
    expect(_testid(page, f"recent-{paid.id}")).to_be_visible()


def test_pages_of_payments_mix_intents_and_charges_each_once(
    page: Page, server: KassaServer, client: stripe.StripeClient
) -> None:
    """Paging through a list of both kinds, made alternately, shows each payment once, in
    the order they were made: the cursor bounds the intents and the charges alike."""
    made = _intents_and_charges(client, PAYMENTS_FOR_TWO_PAGES)
    page.goto(f"{server.url}/dashboard/payments")
    first = _rows_shown(page)
    page.get_by_role("link", name="Older →").click()
    expect(_testid(page, "first-page")).to_be_visible()
    second = _rows_shown(page)
    assert (len(first), len(second)) == (PAGE_SIZE, PAYMENTS_FOR_TWO_PAGES - PAGE_SIZE)
    # Payments made in the same second list intents first; otherwise newest first.
    assert sorted(first + second) == sorted(made)
    assert first + second == _newest_first(client, made)


def test_a_payment_on_a_test_clock_does_not_hide_later_payments_from_the_pages(
    page: Page, server: KassaServer, client: stripe.StripeClient
) -> None:
    """A payment on a test clock is created at the clock's time, a month ahead, though it
    comes first in its table: creation time then no longer follows each table's order.
    Paging through the list still shows every payment exactly once (the cursor keeps a
    position in each table; a bound worked out from creation time would hide the charges
    made after the clock's payment)."""
    frozen = int(time.time()) + 30 * 86_400
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": frozen})
    on_clock = client.v1.customers.create(params={"test_clock": clock.id})
    made = [_pay(client, customer=on_clock.id).id]
    made += _intents_and_charges(client, PAYMENTS_FOR_TWO_PAGES - 1)
    assert client.v1.payment_intents.retrieve(made[0]).created >= frozen
    page.goto(f"{server.url}/dashboard/payments")
    first = _rows_shown(page)
    page.get_by_role("link", name="Older →").click()
    expect(_testid(page, "first-page")).to_be_visible()
    second = _rows_shown(page)
    assert len(first) == PAGE_SIZE
    assert sorted(first + second) == sorted(made)


def test_a_cursor_naming_no_payment_here_starts_over_and_then_moves_on(
    page: Page, server: KassaServer, client: stripe.StripeClient
) -> None:
    """A cursor naming a payment this account does not have (another account's, or one an
    account reset deleted) shows the newest page, saying so, and that page's "Older" link
    goes on from it: the unknown id is not carried over (it was, for a kind the page did
    not show, and every "Older" led back to the first page)."""
    made = [
        client.v1.charges.create(
            params={"amount": 1000 + number, "currency": "usd", "source": "tok_visa"}
        ).id
        for number in range(PAYMENTS_FOR_TWO_PAGES)
    ]
    nowhere = new_id("pi")
    page.goto(f"{server.url}/dashboard/payments?starting_after={nowhere}")
    expect(page.get_by_text("That page is no longer available")).to_be_visible()
    first = _rows_shown(page)
    older = page.get_by_role("link", name="Older →")
    assert nowhere not in str(older.get_attribute("href"))
    older.click()
    expect(_testid(page, "first-page")).to_be_visible()
    second = _rows_shown(page)
    assert (len(first), len(second)) == (PAGE_SIZE, PAYMENTS_FOR_TWO_PAGES - PAGE_SIZE)
    assert sorted(first + second) == sorted(made)


def test_date_filters_find_payments_made_on_test_clocks_in_other_years(
    page: Page, server: KassaServer, client: stripe.StripeClient
) -> None:
    """Payments on test clocks are created at their clocks' times, years away from the
    payments made around them: each date range shows exactly the payments created in it,
    newest first, whatever order they were made in."""
    now = _intents_and_charges(client, 2)
    future = _clock_payments(client, FUTURE_CLOCK_TIME)
    past = _clock_payments(client, PAST_CLOCK_TIME)
    now += _intents_and_charges(client, 2)
    yesterday, tomorrow = _day(time.time() - 86_400), _day(time.time() + 86_400)
    for created_from, created_to, expected in (
        (_day(PAST_CLOCK_TIME), _day(PAST_CLOCK_TIME), past),
        (_day(FUTURE_CLOCK_TIME), _day(FUTURE_CLOCK_TIME), future),
        (yesterday, tomorrow, now),
        (_day(PAST_CLOCK_TIME), "", past + now + future),
        ("", tomorrow, past + now),
    ):
        page.goto(f"{server.url}/dashboard/payments?from={created_from}&to={created_to}")
        assert _rows_shown(page) == _newest_first(client, expected), (created_from, created_to)
    page.goto(f"{server.url}/dashboard/payments?status=succeeded&to={_day(PAST_CLOCK_TIME)}")
    assert _rows_shown(page) == _newest_first(client, past)


def test_pages_of_a_date_range_show_each_payment_once_newest_first(
    page: Page, server: KassaServer, client: stripe.StripeClient
) -> None:
    """A date range that spans a test clock's payments and more than a page of others: the
    pages show each payment in the range once, in creation order across the pages."""
    made = _intents_and_charges(client, 10)
    made += _clock_payments(client, PAST_CLOCK_TIME)
    _clock_payments(client, FUTURE_CLOCK_TIME)  # after the range
    made += _intents_and_charges(client, PAYMENTS_FOR_TWO_PAGES - len(made))
    tomorrow = _day(time.time() + 86_400)
    page.goto(f"{server.url}/dashboard/payments?from={_day(PAST_CLOCK_TIME)}&to={tomorrow}")
    first = _rows_shown(page)
    assert len(first) == PAGE_SIZE
    page.get_by_role("link", name="Older →").click()
    expect(_testid(page, "first-page")).to_be_visible()
    second = _rows_shown(page)
    assert first + second == _newest_first(client, made)


def _clock_payments(client: stripe.StripeClient, frozen_time: int) -> list[str]:
    """A PaymentIntent and a Charges API charge of a customer on a new test clock frozen at
    `frozen_time` (so created then): their ids, oldest first."""
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": frozen_time})
    customer = client.v1.customers.create(params={"test_clock": clock.id, "source": "tok_visa"})
    intent = _pay(client, customer=customer.id)
    charge = client.v1.charges.create(
        params={"amount": 700, "currency": "usd", "customer": customer.id}
    )
    assert intent.created == charge.created == frozen_time
    return [intent.id, charge.id]


def _day(unix: float) -> str:
    """The UTC date of `unix`, as the list's date filters take it."""
    return time.strftime("%Y-%m-%d", time.gmtime(unix))


def _intents_and_charges(client: stripe.StripeClient, count: int) -> list[str]:
    """`count` payments made one after another, a Charges API charge then a PaymentIntent
    and so on: their ids, oldest first."""
    made: list[str] = []
    for number in range(count):
        if number % 2:
            made.append(_pay(client, amount=1000 + number).id)
        else:
            charge = client.v1.charges.create(
                params={"amount": 1000 + number, "currency": "usd", "source": "tok_visa"}
            )
            made.append(charge.id)
    return made


def _newest_first(client: stripe.StripeClient, made: list[str]) -> list[str]:
    """`made` (listed oldest first) in the payments list's order: by creation second, newest
    first, intents before charges within one second, and newest first within a kind."""
    created = {}
    for object_id in made:
        if object_id.startswith("ch_"):
            created[object_id] = client.v1.charges.retrieve(object_id).created
        else:
            created[object_id] = client.v1.payment_intents.retrieve(object_id).created
    position = {object_id: index for index, object_id in enumerate(made)}
    return sorted(
        made,
        key=lambda i: (created[i], i.startswith("pi_"), position[i]),
        reverse=True,
    )


def test_customers_pages(walker: Page, server: KassaServer, walk: Walk, shots: Path) -> None:
    walker.get_by_role("link", name="Customers", exact=True).click()
    expect(_testid(walker, "customers-table")).to_contain_text("walk@example.com")
    screenshot(walker, shots, "customers")
    walker.goto(f"{server.url}/dashboard/customers/{walk.customer.id}")
    expect(walker.get_by_text("Ada Walker").first).to_be_visible()
    expect(walker.get_by_test_id(f"row-{walk.paid.id}")).to_be_visible()
    screenshot(walker, shots, "customer-detail")


def test_events_pages(walker: Page, server: KassaServer, walk: Walk, shots: Path) -> None:
    walker.get_by_role("link", name="Events", exact=True).click()
    expect(_testid(walker, "events-table")).to_contain_text("charge.refunded")
    screenshot(walker, shots, "events")
    client = server.client(walk.account.secret_key)
    event = client.v1.events.list(params={"type": "charge.succeeded", "limit": 1}).data[0]
    walker.goto(f"{server.url}/dashboard/events/{event.id}")
    expect(_testid(walker, "event-json")).to_contain_text(event.id)
    screenshot(walker, shots, "event-detail")


def test_webhooks_pages(walker: Page, server: KassaServer, walk: Walk, shots: Path) -> None:
    walker.get_by_role("link", name="Webhooks", exact=True).click()
    expect(_testid(walker, "endpoints-table")).to_contain_text("http://127.0.0.1:9/closed")
    screenshot(walker, shots, "webhooks")
    walker.goto(f"{server.url}/dashboard/webhooks/{walk.endpoint.id}")
    expect(_testid(walker, "success-rate")).to_be_visible()
    screenshot(walker, shots, "webhook-detail")


def test_logs_pages(walker: Page, shots: Path) -> None:
    walker.get_by_role("link", name="Logs", exact=True).click()
    expect(_testid(walker, "logs-table")).to_contain_text("/v1/payment_intents")
    screenshot(walker, shots, "logs")
    walker.locator('[data-testid="logs-table"] a').first.click()
    expect(_testid(walker, "response-body")).to_be_visible()
    screenshot(walker, shots, "log-detail")


def test_ledger_page(walker: Page, shots: Path) -> None:
    walker.get_by_role("link", name="Ledger", exact=True).click()
    expect(_testid(walker, "ledger-accounts-table")).to_contain_text("pending")
    _testid(walker, "verify-button").click()
    expect(_testid(walker, "verify-result")).to_contain_text(VERIFIED)
    screenshot(walker, shots, "ledger")


def _queue_invoice_email(server: KassaServer, walk: Walk) -> dict[str, Any]:
    """An invoice email for the walk's customer, queued as the invoice API queues one, and
    captured by the server's mail worker (no SMTP server is configured)."""
    invoice = {
        "id": "in_walk",
        "account_name": "Walk Shop",
        "amount_due": 4200,
        "amount_remaining": 4200,
        "currency": "usd",
        "customer": walk.customer.id,
        "customer_name": "Ada Walker",
        "due_date": int(time.time()) + 30 * 86_400,
        "hosted_invoice_url": f"{server.url}/kassa/invoices/in_walk",
        "lines": {"data": [{"description": "Walking shoes", "amount": 4200}]},
        "number": "WALK-0001",
        "total": 4200,
    }

    async def queue(store: Store) -> dict[str, Any]:
        async with store.write() as tx:
            ctx = Context(walk.account.id, tx, SystemClock())
            email = await invoice_emails.queue_invoice_email(ctx, invoice, pdf=b"%PDF-1.4 walk")
        assert email is not None
        return email

    email = with_store(server.database_url, queue)
    with server.http(walk.account.secret_key) as http:
        for _ in range(MAIL_POLLS_MAX):
            found = http.get(f"/v1/test_helpers/emails/{email['id']}").json()
            if found["status"] == "captured":
                return dict(found)
            time.sleep(0.05)
    raise AssertionError("the mail worker did not capture the email")


def test_mailbox_pages(walker: Page, server: KassaServer, walk: Walk, shots: Path) -> None:
    email = _queue_invoice_email(server, walk)
    walker.get_by_role("link", name="Mailbox", exact=True).click()
    table = _testid(walker, "mailbox-table")
    row = table.get_by_test_id(f"row-{email['id']}")
    expect(row).to_contain_text("Invoice WALK-0001 from Walk Shop: $42.00")
    expect(row).to_contain_text("captured")
    screenshot(walker, shots, "mailbox")

    walker.select_option('[data-testid="filter-kind"]', "receipt")
    _testid(walker, "filter-submit").click()
    expect(table.get_by_test_id(f"row-{email['id']}")).to_have_count(0)
    walker.select_option('[data-testid="filter-kind"]', "invoice")
    _testid(walker, "filter-submit").click()
    table.get_by_test_id(f"row-{email['id']}").get_by_role("link").click()

    expect(_testid(walker, "email-to")).to_have_text("walk@example.com")
    expect(_testid(walker, "email-text")).to_contain_text("Amount due: $42.00")
    expect(_testid(walker, "email-attachments")).to_contain_text("Invoice-WALK-0001.pdf")
    screenshot(walker, shots, "mailbox-detail")
    _testid(walker, "email-html-link").click()
    expect(walker.get_by_role("link", name="View and pay invoice")).to_be_visible()


def test_refund_through_the_dashboard(
    page: Page, server: KassaServer, client: stripe.StripeClient, ledger_verified: None
) -> None:
    paid = _pay(client, amount=5000)
    page.goto(f"{server.url}/dashboard/payments/{paid.id}")
    _testid(page, "refund-amount").fill("12.34")
    _testid(page, "refund-submit").click()
    expect(page.locator(".flash.notice")).to_contain_text("$12.34")

    refunds = client.v1.refunds.list(params={"payment_intent": paid.id}).data
    assert [r.amount for r in refunds] == [1234]
    assert refunds[0].status == "succeeded"

    _testid(page, "refund-submit").click()  # the rest: an empty amount refunds all that is left
    expect(page.locator(".flash.notice")).to_be_visible()
    charge = client.v1.charges.retrieve(str(paid.latest_charge))
    assert charge.refunded is True
    assert charge.amount_refunded == 5000


def test_capture_and_cancel_through_the_dashboard(
    page: Page, server: KassaServer, client: stripe.StripeClient, ledger_verified: None
) -> None:
    to_capture = _pay(client, capture_method="manual", amount=3000)
    to_cancel = _pay(client, capture_method="manual", amount=700)

    page.goto(f"{server.url}/dashboard/payments/{to_capture.id}")
    _testid(page, "capture-button").click()
    expect(page.locator(".flash.notice")).to_be_visible()
    assert client.v1.payment_intents.retrieve(to_capture.id).status == "succeeded"

    page.goto(f"{server.url}/dashboard/payments/{to_cancel.id}")
    _testid(page, "cancel-button").click()
    expect(page.locator(".flash.notice")).to_be_visible()
    assert client.v1.payment_intents.retrieve(to_cancel.id).status == "canceled"


def test_an_invoices_payment_offers_no_cancel_but_points_to_its_invoice(
    page: Page, server: KassaServer, client: stripe.StripeClient
) -> None:
    """The API refuses to cancel an invoice's PaymentIntent (voiding the invoice cancels
    it): the page offers no Cancel that would always fail, and says what to do instead."""
    who = client.v1.customers.create(params={"email": "invoiced@example.com"})
    draft = client.v1.invoices.create(params={"customer": who.id})
    client.v1.invoice_items.create(
        params={"customer": who.id, "invoice": draft.id, "amount": 1200, "currency": "usd"}
    )
    invoice = client.v1.invoices.finalize_invoice(draft.id, params={"auto_advance": False})
    (payment,) = client.v1.invoice_payments.list(params={"invoice": invoice.id}).data
    intent_id = str(payment.payment.payment_intent)
    assert client.v1.payment_intents.retrieve(intent_id).status == "requires_payment_method"

    page.goto(f"{server.url}/dashboard/payments/{intent_id}")
    expect(_testid(page, "invoice-intent-note")).to_contain_text(invoice.id)
    expect(_testid(page, "cancel-button")).to_have_count(0)


def test_create_an_endpoint_and_resend_a_webhook_through_the_dashboard(
    page: Page, server: KassaServer, client: stripe.StripeClient
) -> None:
    with WebhookReceiver() as receiver:
        page.goto(f"{server.url}/dashboard/webhooks")
        form = _testid(page, "endpoint-create-form")
        _testid(page, "endpoint-url").fill(receiver.url("dash"))
        _testid(page, "endpoint-events").fill("customer.created")
        form.get_by_role("button").click()
        secret = _testid(page, "endpoint-secret").inner_text().strip()
        assert secret.startswith("whsec_")
        receiver.set_secret("dash", secret)

        endpoints = client.v1.webhook_endpoints.list().data
        assert [e.url for e in endpoints] == [receiver.url("dash")]
        assert endpoints[0].enabled_events == ["customer.created"]

        client.v1.customers.create(params={"email": "resend@example.com"})
        event = client.v1.events.list(params={"type": "customer.created"}).data[0]
        receiver.wait_for_event_ids("dash", {event.id})

        page.goto(f"{server.url}/dashboard/events/{event.id}")
        _testid(page, f"resend-{endpoints[0].id}").click()
        expect(page.locator(".flash.notice")).to_be_visible()
        receiver.wait_for(lambda r: r.event_ids("dash").count(event.id) == 2, what="the resend")
        assert receiver.rejected() == []

        # The receiver has the resend before the worker records its attempt: reload until
        # the page shows it.
        succeeded = _testid(page, "attempts-table").locator("tr", has_text="200")
        for _ in range(ATTEMPT_RELOADS_MAX):
            page.reload()
            if succeeded.count() == 2:
                break
            time.sleep(ATTEMPT_RELOAD_PAUSE_SECONDS)
        expect(succeeded).to_have_count(2)
