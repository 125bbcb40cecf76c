"""The dashboard's billing pages in real headless Chromium (Debian's `chromium`, driven by
Playwright): invoices (the list and its filters, one invoice with its lines, payments,
credit notes, events and emails, the PDF links, and the finalize, send, void,
mark-uncollectible and void-credit-note actions), products and prices. Data is made through
the official SDK and every action's result is checked through it too. Screenshots land in
test-output/dashboard-billing/<engine>/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import stripe
from playwright.sync_api import Browser, Page, expect

from tests.browser import chromium_session, screenshot, screenshot_folder, signed_in_dashboard
from tests.dashboard_session import session_csrf, signed_in_client
from tests.harness import Account, KassaServer, create_account

Client = stripe.StripeClient
LINES_PAGE_SIZE = 25
"""The invoice page shows this many lines at once (`kassa.dashboard.views.invoices`)."""
NOT_OPEN = "You can only pass in open invoices. This invoice isn't open."


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium_session()


@pytest.fixture
def page(browser: Browser, server: KassaServer, account: Account) -> Iterator[Page]:
    yield from signed_in_dashboard(browser, server, account)


@pytest.fixture
def shots(test_output_dir: Path, database_url: str) -> Path:
    return screenshot_folder(test_output_dir, database_url, "dashboard-billing")


def _testid(page: Page, name: str) -> Any:
    return page.get_by_test_id(name)


def _customer(client: Client, email: str = "billing@example.com") -> stripe.Customer:
    return client.v1.customers.create(params={"email": email, "name": "Grace Billing"})


def _widget(client: Client, name: str = "Widget", unit_amount: int = 1500) -> stripe.Product:
    return client.v1.products.create(
        params={
            "name": name,
            "default_price_data": {"currency": "usd", "unit_amount": unit_amount},
        }
    )


def _draft(client: Client, customer_id: str, price_id: str, **params: Any) -> stripe.Invoice:
    """A draft with two lines: two units of the price, and a $9.99 setup fee."""
    client.v1.invoice_items.create(
        params={"customer": customer_id, "pricing": {"price": price_id}, "quantity": 2}
    )
    client.v1.invoice_items.create(
        params={
            "customer": customer_id,
            "amount": 999,
            "currency": "usd",
            "description": "Setup fee",
        }
    )
    given: Any = {"customer": customer_id, "pending_invoice_items_behavior": "include", **params}
    return client.v1.invoices.create(params=given)


@dataclass(frozen=True)
class Catalog:
    """One account with invoices in several states, products and prices, made once per
    engine."""

    account: Account
    customer: stripe.Customer
    other_customer: stripe.Customer
    widget: stripe.Product
    seats: stripe.Product
    tiered: stripe.Price
    retired: stripe.Product
    draft: stripe.Invoice
    paid: stripe.Invoice
    long: stripe.Invoice


@pytest.fixture(scope="module")
def catalog(server: KassaServer) -> Catalog:
    account = create_account(server.database_url)
    client = server.client(account.secret_key)
    customer = _customer(client)
    other_customer = _customer(client, "other@example.com")
    widget = _widget(client)
    seats = client.v1.products.create(params={"name": "Seats"})
    tiered = client.v1.prices.create(
        params={
            "product": seats.id,
            "currency": "usd",
            "billing_scheme": "tiered",
            "tiers_mode": "graduated",
            "tiers": [
                {"up_to": 10, "unit_amount": 500, "flat_amount": 100},
                {"up_to": "inf", "unit_amount": 300},
            ],
            "recurring": {"interval": "month", "interval_count": 3},
            "nickname": "Quarterly seats",
        }
    )
    retired = client.v1.products.create(params={"name": "Retired gadget", "active": False})
    draft = _draft(client, customer.id, str(widget.default_price), description="Draft one")
    paid = _draft(client, other_customer.id, str(widget.default_price))
    paid = client.v1.invoices.finalize_invoice(paid.id)
    paid = client.v1.invoices.pay(paid.id, params={"paid_out_of_band": True})
    for n in range(LINES_PAGE_SIZE + 2):
        client.v1.invoice_items.create(
            params={
                "customer": customer.id,
                "amount": 100 + n,
                "currency": "usd",
                "description": f"Hour {n + 1}",
            }
        )
    long = client.v1.invoices.create(
        params={"customer": customer.id, "pending_invoice_items_behavior": "include"}
    )
    return Catalog(
        account, customer, other_customer, widget, seats, tiered, retired, draft, paid, long
    )


@pytest.fixture
def shopper(browser: Browser, server: KassaServer, catalog: Catalog) -> Iterator[Page]:
    yield from signed_in_dashboard(browser, server, catalog.account)


def _filter(page: Page, **choices: str) -> None:
    """Fill the list's filter form (selects and inputs by their test ids) and submit it."""
    for name, value in choices.items():
        field = _testid(page, f"filter-{name}")
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    _testid(page, "filter-submit").click()


def test_invoice_list_and_its_filters(shopper: Page, catalog: Catalog, shots: Path) -> None:
    shopper.get_by_role("link", name="Invoices", exact=True).click()
    table = _testid(shopper, "invoices-table")
    draft_row = table.get_by_test_id(f"row-{catalog.draft.id}")
    paid_row = table.get_by_test_id(f"row-{catalog.paid.id}")
    expect(draft_row).to_contain_text(catalog.draft.id)  # a draft has no number yet
    expect(draft_row).to_contain_text("Grace Billing")
    expect(draft_row).to_contain_text("$39.99")
    expect(paid_row).to_contain_text(str(catalog.paid.number))
    expect(paid_row).to_contain_text("paid")
    screenshot(shopper, shots, "invoices")

    _filter(shopper, status="paid")
    expect(table.get_by_test_id(f"row-{catalog.paid.id}")).to_be_visible()
    expect(table.get_by_test_id(f"row-{catalog.draft.id}")).to_have_count(0)

    _filter(shopper, status="draft", customer=catalog.customer.id)
    expect(table.get_by_test_id(f"row-{catalog.draft.id}")).to_be_visible()
    expect(table.get_by_test_id(f"row-{catalog.long.id}")).to_be_visible()
    expect(table.get_by_test_id(f"row-{catalog.paid.id}")).to_have_count(0)

    _filter(shopper, status="", customer=catalog.other_customer.id)
    expect(table.get_by_test_id(f"row-{catalog.paid.id}")).to_be_visible()
    expect(table.locator("tbody tr")).to_have_count(1)

    _filter(shopper, customer="cus_not_in_this_account")
    expect(shopper.locator(".flash.warning")).to_contain_text("No customer with that id")


def test_invoice_lines_are_paged(
    shopper: Page, server: KassaServer, catalog: Catalog, shots: Path
) -> None:
    shopper.goto(f"{server.url}/dashboard/invoices/{catalog.long.id}")
    lines = _testid(shopper, "lines-table")
    expect(lines.locator("tbody tr")).to_have_count(LINES_PAGE_SIZE)
    first_hour = lines.get_by_role("cell", name="Hour 1", exact=True)
    expect(first_hour).to_have_count(0)  # the invoice's order: its newest item first
    screenshot(shopper, shots, "invoice-draft-many-lines")
    _testid(shopper, "next-lines").click()
    expect(lines.locator("tbody tr")).to_have_count(2)
    expect(first_hour).to_have_count(1)
    _testid(shopper, "first-lines").click()
    expect(lines.locator("tbody tr")).to_have_count(LINES_PAGE_SIZE)


def test_finalize_send_and_void_an_invoice(
    page: Page, server: KassaServer, client: Client, shots: Path, ledger_verified: None
) -> None:
    customer = _customer(client)
    widget = _widget(client)
    draft = _draft(
        client,
        customer.id,
        str(widget.default_price),
        collection_method="send_invoice",
        days_until_due=30,
    )

    page.goto(f"{server.url}/dashboard/invoices/{draft.id}")
    expect(_testid(page, "invoice-status")).to_contain_text("draft")
    lines = _testid(page, "lines-table")
    expect(lines).to_contain_text("Setup fee")
    expect(lines).to_contain_text("Widget")
    expect(_testid(page, "invoice-total")).to_have_text("$39.99")
    expect(_testid(page, "pdf-link")).to_have_count(0)
    expect(_testid(page, "void-button")).to_have_count(0)
    screenshot(page, shots, "invoice-draft")

    _testid(page, "finalize-button").click()
    expect(page.locator(".flash.notice")).to_contain_text("finalized")
    expect(_testid(page, "invoice-status")).to_contain_text("open")
    finalized = client.v1.invoices.retrieve(draft.id)
    assert finalized.status == "open"
    assert finalized.number is not None
    expect(_testid(page, "invoice-number")).to_have_text(finalized.number)
    expect(_testid(page, "invoice-amount-remaining")).to_have_text("$39.99")
    payment = client.v1.invoice_payments.list(params={"invoice": draft.id}).data[0]
    payments = _testid(page, "invoice-payments-table")
    expect(payments.get_by_test_id(f"row-{payment.id}")).to_contain_text("open")
    expect(_testid(page, "events-table")).to_contain_text("invoice.finalized")

    pdf_href = _testid(page, "pdf-link").get_attribute("href")
    assert pdf_href == finalized.invoice_pdf
    pdf = page.request.get(pdf_href)
    assert pdf.status == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF")
    assert _testid(page, "hosted-link").get_attribute("href") == finalized.hosted_invoice_url

    _testid(page, "send-button").click()
    expect(page.locator(".flash.notice")).to_contain_text("sent to billing@example.com")
    emails = _testid(page, "invoice-emails-table")
    expect(emails.locator("tbody tr a")).to_have_count(1)
    expect(_testid(page, "events-table")).to_contain_text("invoice.sent")
    screenshot(page, shots, "invoice-open")

    emails.locator("tbody tr a").first.click()
    expect(_testid(page, "email-subject")).to_contain_text(finalized.number)
    expect(_testid(page, "email-to")).to_have_text("billing@example.com")
    page.go_back()

    _testid(page, "void-button").click()
    expect(page.locator(".flash.notice")).to_contain_text("voided")
    expect(_testid(page, "invoice-status")).to_contain_text("void")
    assert client.v1.invoices.retrieve(draft.id).status == "void"
    expect(_testid(page, "events-table")).to_contain_text("invoice.voided")
    expect(payments.get_by_test_id(f"row-{payment.id}")).to_contain_text("canceled")
    expect(_testid(page, "void-button")).to_have_count(0)
    screenshot(page, shots, "invoice-void")


def test_mark_an_invoice_uncollectible(
    page: Page, server: KassaServer, client: Client, ledger_verified: None
) -> None:
    customer = _customer(client)
    widget = _widget(client)
    invoice = _draft(client, customer.id, str(widget.default_price))
    client.v1.invoices.finalize_invoice(invoice.id)

    page.goto(f"{server.url}/dashboard/invoices/{invoice.id}")
    expect(_testid(page, "send-button")).to_have_count(0)  # charge_automatically: not sent
    _testid(page, "uncollectible-button").click()
    expect(page.locator(".flash.notice")).to_contain_text("marked uncollectible")
    expect(_testid(page, "invoice-status")).to_contain_text("uncollectible")
    assert client.v1.invoices.retrieve(invoice.id).status == "uncollectible"
    expect(_testid(page, "events-table")).to_contain_text("invoice.marked_uncollectible")


def test_a_refused_action_shows_stripes_message(
    page: Page, server: KassaServer, client: Client
) -> None:
    customer = _customer(client)
    widget = _widget(client)
    invoice = _draft(client, customer.id, str(widget.default_price))
    client.v1.invoices.finalize_invoice(invoice.id)
    page.goto(f"{server.url}/dashboard/invoices/{invoice.id}")
    client.v1.invoices.void_invoice(invoice.id)  # behind the page's back

    _testid(page, "uncollectible-button").click()
    expect(page.locator(".flash.error")).to_have_text(NOT_OPEN)
    expect(page).to_have_url(re.compile(rf"/dashboard/invoices/{invoice.id}$"))
    expect(_testid(page, "invoice-status")).to_contain_text("void")
    assert client.v1.invoices.retrieve(invoice.id).status == "void"

    # The message is shown once, and only the server can put one there: a link that names
    # its own words shows none of them.
    page.reload()
    expect(_testid(page, "invoice-status")).to_contain_text("void")
    expect(page.locator(".flash")).to_have_count(0)
    page.goto(f"{server.url}/dashboard/invoices/{invoice.id}?error=Call+0800+now&notice=Hi")
    expect(_testid(page, "invoice-status")).to_contain_text("void")
    expect(page.locator(".flash")).to_have_count(0)


def _pdf(page: Page, href: str) -> bytes:
    fetched = page.request.get(href)
    assert fetched.status == 200
    assert fetched.headers["content-type"] == "application/pdf"
    return fetched.body()


def test_an_invoices_credit_notes_and_voiding_one(
    page: Page, server: KassaServer, client: Client, shots: Path, ledger_verified: None
) -> None:
    customer = _customer(client)
    widget = _widget(client)
    draft = _draft(client, customer.id, str(widget.default_price))
    page.goto(f"{server.url}/dashboard/invoices/{draft.id}")
    notes = _testid(page, "credit-notes-table")
    expect(notes).to_contain_text("Credit notes are issued once the invoice is finalized.")

    invoice = client.v1.invoices.finalize_invoice(draft.id)
    kept = client.v1.credit_notes.create(params={"invoice": invoice.id, "amount": 500})
    voided = client.v1.credit_notes.create(params={"invoice": invoice.id, "amount": 300})
    voided = client.v1.credit_notes.void_credit_note(voided.id)
    page.reload()
    expect(notes.locator("tbody tr")).to_have_count(2)
    kept_row = notes.get_by_test_id(f"row-{kept.id}")
    voided_row = notes.get_by_test_id(f"row-{voided.id}")
    for row, note, state in ((kept_row, kept, "issued"), (voided_row, voided, "void")):
        expect(row).to_contain_text(str(note.number))
        expect(row).to_contain_text("pre payment")
        expect(row.locator(".status")).to_have_text(state)
        assert row.get_by_test_id("credit-note-pdf").get_attribute("href") == note.pdf
    expect(kept_row).to_contain_text("$5.00")
    expect(voided_row).to_contain_text("$3.00")
    expect(voided_row.get_by_test_id("void-credit-note-button")).to_have_count(0)
    # What is left to pay: $39.99 less the $5.00 still credited (a credit note's, not the
    # customer's balance).
    expect(_testid(page, "invoice-credit-notes-amount")).to_have_text("\u2212$5.00")
    expect(_testid(page, "invoice-amounts")).not_to_contain_text("Customer balance")
    expect(_testid(page, "invoice-amount-remaining")).to_have_text("$34.99")
    expect(_testid(page, "events-table")).to_contain_text("credit_note.voided")
    assert _pdf(page, str(kept.pdf)).startswith(b"%PDF")
    screenshot(page, shots, "invoice-credit-notes")

    kept_row.get_by_test_id("void-credit-note-button").click()
    expect(page.locator(".flash.notice")).to_have_text(f"Credit note {kept.number} voided.")
    expect(page).to_have_url(re.compile(rf"/dashboard/invoices/{invoice.id}$"))
    expect(kept_row.locator(".status")).to_have_text("void")
    expect(_testid(page, "void-credit-note-button")).to_have_count(0)
    expect(_testid(page, "invoice-amount-remaining")).to_have_text("$39.99")
    expect(_testid(page, "invoice-credit-notes-amount")).to_have_count(0)
    assert client.v1.credit_notes.retrieve(kept.id).status == "void"


def test_a_credit_note_after_payment(page: Page, server: KassaServer, client: Client) -> None:
    customer = _customer(client)
    invoice = _draft(client, customer.id, str(_widget(client).default_price))
    client.v1.invoices.finalize_invoice(invoice.id)
    client.v1.invoices.pay(invoice.id, params={"paid_out_of_band": True})
    note = client.v1.credit_notes.create(
        params={"invoice": invoice.id, "amount": 500, "out_of_band_amount": 500}
    )
    page.goto(f"{server.url}/dashboard/invoices/{invoice.id}")
    row = _testid(page, "credit-notes-table").get_by_test_id(f"row-{note.id}")
    expect(row).to_contain_text("post payment")
    expect(row).to_contain_text("$5.00")
    expect(_testid(page, "invoice-credited-after-payment")).to_have_text("$5.00")
    expect(_testid(page, "invoice-amount-paid")).to_have_text("$39.99")
    expect(_testid(page, "invoice-amounts")).not_to_contain_text("Customer balance")


def test_voiding_a_credit_note_already_void_shows_stripes_message(
    page: Page, server: KassaServer, client: Client
) -> None:
    customer = _customer(client)
    invoice = _draft(client, customer.id, str(_widget(client).default_price))
    invoice = client.v1.invoices.finalize_invoice(invoice.id)
    note = client.v1.credit_notes.create(params={"invoice": invoice.id, "amount": 100})
    page.goto(f"{server.url}/dashboard/invoices/{invoice.id}")
    client.v1.credit_notes.void_credit_note(note.id)  # behind the page's back

    _testid(page, "void-credit-note-button").click()
    expect(page.locator(".flash.error")).to_contain_text("has already been voided")
    expect(page).to_have_url(re.compile(rf"/dashboard/invoices/{invoice.id}$"))


def test_a_credit_note_of_another_invoice_is_not_voided_through_this_one(
    server: KassaServer, account: Account, client: Client
) -> None:
    """The form names the invoice and the note: a note of another invoice is missing."""
    customer = _customer(client)
    price = str(_widget(client).default_price)
    one = client.v1.invoices.finalize_invoice(_draft(client, customer.id, price).id)
    other = client.v1.invoices.finalize_invoice(_draft(client, customer.id, price).id)
    note = client.v1.credit_notes.create(params={"invoice": other.id, "amount": 100})
    with signed_in_client(server, account.secret_key) as http:
        url = f"/dashboard/invoices/{one.id}/credit_notes/{note.id}/void"
        answer = http.post(url, data={"csrf_token": session_csrf(http)})
        assert answer.status_code == 303
        assert "/dashboard/invoices" in answer.headers["location"]
    assert client.v1.credit_notes.retrieve(note.id).status == "issued"


def test_products_pages(shopper: Page, server: KassaServer, catalog: Catalog, shots: Path) -> None:
    shopper.get_by_role("link", name="Products", exact=True).click()
    table = _testid(shopper, "products-table")
    expect(table.get_by_test_id(f"row-{catalog.widget.id}")).to_contain_text("$15.00")
    expect(table.get_by_test_id(f"row-{catalog.seats.id}")).to_be_visible()
    expect(table.get_by_test_id(f"row-{catalog.retired.id}")).to_contain_text("archived")
    screenshot(shopper, shots, "products")

    _filter(shopper, active="false")
    expect(table.get_by_test_id(f"row-{catalog.retired.id}")).to_be_visible()
    expect(table.locator("tbody tr")).to_have_count(1)
    _filter(shopper, active="true")
    expect(table.get_by_test_id(f"row-{catalog.retired.id}")).to_have_count(0)

    table.get_by_test_id(f"row-{catalog.seats.id}").get_by_role("link").click()
    expect(_testid(shopper, "product-name")).to_have_text("Seats")
    prices = _testid(shopper, "product-prices-table")
    expect(prices.get_by_test_id(f"row-{catalog.tiered.id}")).to_contain_text(
        "Tiered (graduated) per 3 months"
    )
    screenshot(shopper, shots, "product-detail")


def test_prices_pages(shopper: Page, server: KassaServer, catalog: Catalog, shots: Path) -> None:
    shopper.get_by_role("link", name="Prices", exact=True).click()
    table = _testid(shopper, "prices-table")
    default_price = str(catalog.widget.default_price)
    expect(table.get_by_test_id(f"row-{default_price}")).to_contain_text("$15.00")
    expect(table.get_by_test_id(f"row-{catalog.tiered.id}")).to_contain_text("Seats")
    screenshot(shopper, shots, "prices")

    _filter(shopper, product=catalog.widget.id)
    expect(table.get_by_test_id(f"row-{default_price}")).to_be_visible()
    expect(table.locator("tbody tr")).to_have_count(1)
    _filter(shopper, product="", active="false")
    expect(table.locator("tbody tr")).to_contain_text("No prices match")

    shopper.goto(f"{server.url}/dashboard/prices/{catalog.tiered.id}")
    expect(_testid(shopper, "price-interval")).to_have_text("3 months")
    tiers = _testid(shopper, "tiers-table")
    expect(tiers.locator("tbody tr").nth(0)).to_contain_text("1 \N{EN DASH} 10")
    expect(tiers.locator("tbody tr").nth(0)).to_contain_text("$5.00")
    expect(tiers.locator("tbody tr").nth(0)).to_contain_text("$1.00")
    expect(tiers.locator("tbody tr").nth(1)).to_contain_text("11 and up")
    expect(tiers.locator("tbody tr").nth(1)).to_contain_text("$3.00")
    screenshot(shopper, shots, "price-detail")
    _testid(shopper, "product-link").click()
    expect(_testid(shopper, "product-name")).to_have_text("Seats")
