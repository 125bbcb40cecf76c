"""The hosted invoice page in real headless Chromium (Debian's `chromium`, driven by
Playwright): see the invoice, download its PDF, pay it with test cards (declined, and through
Kassa's 3-D Secure page), and see paid, void and uncollectible invoices as such.

The page is served by uvicorn on a free port over `FixtureInvoices`, an `InvoicePageBackend`
whose invoices are fixture documents shaped as the API returns them and whose payments are
real PaymentIntents on a live `kassa serve` (SQLite and PostgreSQL), made through the SDK.
The backend is the seam the composition root fills with the invoice operations; the page and
the renderer are what is under test here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import io
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
import uvicorn
from playwright.sync_api import Browser, Page, expect
from pypdf import PdfReader

from kassa.errors import CardDeclined, CardError, InvalidRequest, ResourceMissing
from kassa.pages.invoice_page import CardForm, InvoicePages, PaymentStep, hosted_invoice_path
from kassa.services.billing.rendering.invoice_view import PAYABLE_STATUSES, InvoiceDocument
from tests import invoice_fixtures as fixtures
from tests.browser import chromium_session, fresh_page, screenshot, screenshot_folder
from tests.harness import KassaServer, free_port

pytestmark = pytest.mark.usefixtures("ledger_verified")

PAGE_SERVER_START_SECONDS = 10.0
PAGE_SERVER_STOP_SECONDS = 10.0

VISA = "4242 4242 4242 4242"
DECLINED = "4000000000000002"
THREE_D_SECURE = "4000000000003220"
EXPIRY_YEAR = "34"

ADA = fixtures.customer("cus_Ada1", "Ada Lovelace", "ada@example.com", ["en"])


def simple_invoice(invoice_id: str, number: str) -> dict[str, Any]:
    billing = fixtures.Billing(
        currency="usd",
        items=[
            fixtures.Item("Analytical engine tune-up", 2, 1_250),
            fixtures.Item("Punch cards", 1, 499),
        ],
    )
    return fixtures.invoice(invoice_id, number, ADA, billing)


# --- the backend: fixture invoices, real payments ---------------------------------------------


@dataclass
class HostedInvoice:
    document: InvoiceDocument
    secret: str
    intent_ids: list[str] = field(default_factory=list)


class FixtureInvoices:
    """An `InvoicePageBackend` over fixture invoices that pays them with PaymentIntents on
    the live server, and marks an invoice paid once its PaymentIntent has succeeded."""

    def __init__(self, client: stripe.StripeClient) -> None:
        self.client = client
        self.invoices: dict[str, HostedInvoice] = {}

    def add(self, document: InvoiceDocument) -> str:
        secret = secrets.token_urlsafe(24)
        self.invoices[str(document.invoice["id"])] = HostedInvoice(document, secret)
        return secret

    def invoice(self, invoice_id: str) -> dict[str, Any]:
        return dict(self.invoices[invoice_id].document.invoice)

    def _find(self, invoice_id: str, secret: str) -> HostedInvoice | None:
        hosted = self.invoices.get(invoice_id)
        if hosted is None or not hmac.compare_digest(hosted.secret, secret):
            return None
        return hosted

    async def load(self, invoice_id: str, secret: str) -> InvoiceDocument | None:
        hosted = self._find(invoice_id, secret)
        if hosted is None:
            return None
        if hosted.intent_ids and hosted.document.invoice["status"] in PAYABLE_STATUSES:
            intent = await asyncio.to_thread(
                self.client.v1.payment_intents.retrieve, hosted.intent_ids[-1]
            )
            self._settle(hosted, intent)
        return hosted.document

    async def pay(
        self, invoice_id: str, secret: str, card: CardForm, return_url: str
    ) -> PaymentStep:
        hosted = self._find(invoice_id, secret)
        if hosted is None:
            raise ResourceMissing("invoice", invoice_id)
        invoice = hosted.document.invoice
        if invoice["status"] not in PAYABLE_STATUSES:
            raise InvalidRequest(f"Invoice is {invoice['status']}; it cannot be paid.")
        intent = await asyncio.to_thread(self._create_intent, invoice, card, return_url)
        hosted.intent_ids.append(intent.id)
        if intent.status == "requires_action":
            assert intent.next_action is not None and intent.next_action.redirect_to_url
            return PaymentStep(redirect_url=intent.next_action.redirect_to_url.url)
        self._settle(hosted, intent)
        return PaymentStep()

    def _create_intent(self, invoice: Any, card: CardForm, return_url: str) -> stripe.PaymentIntent:
        params: Any = {
            "amount": invoice["amount_remaining"],
            "currency": invoice["currency"],
            "confirm": True,
            "payment_method_types": ["card"],
            "payment_method_data": {
                "type": "card",
                "card": {
                    "number": card.number,
                    "exp_month": card.exp_month,
                    "exp_year": card.exp_year,
                    "cvc": card.cvc,
                },
            },
            "return_url": return_url,
            "metadata": {"invoice": invoice["id"]},
        }
        options: Any = {"idempotency_key": f"{invoice['id']}:{card.attempt}"}
        try:
            return self.client.v1.payment_intents.create(params=params, options=options)
        except stripe.CardError as error:
            raise _card_error(error) from None

    def _settle(self, hosted: HostedInvoice, intent: stripe.PaymentIntent) -> None:
        if intent.status != "succeeded":
            return
        paid = fixtures.with_status(dict(hosted.document.invoice), "paid", intent.created)
        hosted.document = dataclasses.replace(hosted.document, invoice=paid)


def _card_error(error: stripe.CardError) -> CardError:
    details = error.error
    message = (details.message if details else None) or "Your card was declined."
    code = (details.code if details else None) or "card_declined"
    if code == "card_declined":
        return CardDeclined(
            message, code=code, decline_code=details.decline_code if details else None
        )
    return CardError(message, code=code)


# --- the page server and the browser ----------------------------------------------------------


@dataclass
class HostedPages:
    url: str
    backend: FixtureInvoices

    def add(self, invoice: dict[str, Any], customer: dict[str, Any], **extra: Any) -> str:
        """The invoice's hosted page address."""
        document = InvoiceDocument(
            invoice=invoice, customer=customer, account=fixtures.ACCOUNT, **extra
        )
        secret = self.backend.add(document)
        return self.url + hosted_invoice_path(invoice["id"], secret)


@pytest.fixture
def hosted(client: stripe.StripeClient) -> Iterator[HostedPages]:
    backend = FixtureInvoices(client)
    port = free_port()
    config = uvicorn.Config(
        InvoicePages(backend), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="invoice-pages", daemon=True)
    thread.start()
    deadline = time.monotonic() + PAGE_SERVER_START_SECONDS
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the page server did not start"
        time.sleep(0.02)
    yield HostedPages(f"http://127.0.0.1:{port}", backend)
    server.should_exit = True
    thread.join(PAGE_SERVER_STOP_SECONDS)


def _fill_card(page: Page, number: str) -> None:
    page.get_by_test_id("card-number").fill(number)
    page.get_by_test_id("card-exp-month").fill("12")
    page.get_by_test_id("card-exp-year").fill(EXPIRY_YEAR)
    page.get_by_test_id("card-cvc").fill("123")
    page.get_by_test_id("card-name").fill("Ada Lovelace")
    page.get_by_test_id("pay-button").click()


def _intents(client: stripe.StripeClient, hosted: HostedPages, invoice_id: str) -> list[Any]:
    ids = hosted.backend.invoices[invoice_id].intent_ids
    return [client.v1.payment_intents.retrieve(intent_id) for intent_id in ids]


# --- the tests ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium_session()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with fresh_page(browser) as opened:
        yield opened


@pytest.fixture
def shots(test_output_dir: Path, database_url: str) -> Path:
    """Screenshots land in test-output/invoice-page/<engine>/ for people to look at."""
    return screenshot_folder(test_output_dir, database_url, "invoice-page")


def test_the_page_shows_the_invoice_in_the_customers_locale(
    page: Page, hosted: HostedPages, shots: Path
) -> None:
    url = hosted.add(
        fixtures.consulting_invoice(),
        fixtures.ZOE,
        tax_rates={fixtures.VAT["id"]: fixtures.VAT},
        discounts={"di_1KassaLoyalty": fixtures.loyalty_discount(fixtures.ZOE)},
    )
    page.goto(url)
    expect(page).to_have_title(re.compile("Rechnung ZOE1-0001"))
    expect(page.get_by_test_id("invoice-number")).to_have_text("ZOE1-0001")
    expect(page.get_by_test_id("headline")).to_have_text(
        "1.322,21\u00a0€ fällig am 27. November 2026"
    )
    lines = page.get_by_test_id("line")
    expect(lines).to_have_count(2)
    expect(lines.nth(0)).to_contain_text("Beratung, Oktober")
    expect(lines.nth(0)).to_contain_text("1.000,00\u00a0€")
    expect(lines.nth(1)).to_contain_text("Lizenz „Kassa Pro“")
    summary = page.get_by_test_id("summary")
    expect(summary).to_contain_text("Zwischensumme")
    expect(summary).to_contain_text("1.234,56\u00a0€")
    expect(summary).to_contain_text("VAT (19\u00a0% auf 1.111,10\u00a0€)")
    expect(page.get_by_test_id("bill-to")).to_contain_text("Zoë Łukasiewicz")
    expect(page.get_by_test_id("bill-to")).to_contain_text("東京")
    expect(page.get_by_test_id("pay-button")).to_have_text("1.322,21\u00a0€ bezahlen")
    screenshot(page, shots, "open-invoice")


def test_the_pdf_link_serves_the_invoice_pdf(page: Page, hosted: HostedPages) -> None:
    page.goto(hosted.add(simple_invoice("in_1KassaPdfLink", "ADA1-0001"), ADA))
    href = page.get_by_test_id("download-pdf").get_attribute("href")
    assert href is not None and href.startswith("/kassa/invoices/in_1KassaPdfLink/pdf?secret=")
    response = page.request.get(hosted.url + href)
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == 'inline; filename="Invoice-ADA1-0001.pdf"'
    assert response.headers["referrer-policy"] == "no-referrer"
    text = PdfReader(io.BytesIO(response.body())).pages[0].extract_text()
    assert "Invoice number ADA1-0001" in text
    assert "Amount due $29.99" in text


def test_paying_with_a_card_shows_the_paid_invoice(
    page: Page, hosted: HostedPages, client: stripe.StripeClient, shots: Path
) -> None:
    page.goto(hosted.add(simple_invoice("in_1KassaPayVisa", "ADA1-0002"), ADA))
    expect(page.get_by_test_id("headline")).to_have_text("$29.99 due November 27, 2026")
    _fill_card(page, VISA)
    expect(page.get_by_test_id("status")).to_have_text("Paid")
    expect(page.get_by_test_id("headline")).to_contain_text("Paid on")
    expect(page.get_by_test_id("pay-form")).to_have_count(0)
    expect(page.get_by_test_id("summary")).to_contain_text("Amount paid$29.99")
    (intent,) = _intents(client, hosted, "in_1KassaPayVisa")
    assert (intent.status, intent.amount, intent.currency) == ("succeeded", 2999, "usd")
    assert intent.metadata["invoice"] == "in_1KassaPayVisa"
    paid_at = hosted.backend.invoice("in_1KassaPayVisa")["status_transitions"]["paid_at"]
    assert paid_at == intent.created
    screenshot(page, shots, "paid-invoice")


def test_a_declined_card_shows_why_and_the_invoice_stays_open(
    page: Page, hosted: HostedPages, client: stripe.StripeClient, shots: Path
) -> None:
    page.goto(hosted.add(simple_invoice("in_1KassaDeclined", "ADA1-0003"), ADA))
    _fill_card(page, DECLINED)
    expect(page.get_by_test_id("error")).to_have_text("Your card was declined.")
    expect(page.get_by_test_id("pay-form")).to_be_visible()
    expect(page.get_by_test_id("card-number")).to_have_value("")  # never echoed back
    assert DECLINED not in page.content()
    assert hosted.backend.invoice("in_1KassaDeclined")["status"] == "open"
    screenshot(page, shots, "declined")
    _fill_card(page, VISA)  # then a good card pays it
    expect(page.get_by_test_id("status")).to_have_text("Paid")
    assert [i.status for i in _intents(client, hosted, "in_1KassaDeclined")] == ["succeeded"]


def test_a_card_needing_3d_secure_goes_through_the_authentication_page(
    page: Page, hosted: HostedPages, server: KassaServer, client: stripe.StripeClient
) -> None:
    page.goto(hosted.add(simple_invoice("in_1Kassa3ds", "ADA1-0004"), ADA))
    _fill_card(page, THREE_D_SECURE)
    expect(page).to_have_url(re.compile(re.escape(server.url) + r"/kassa/authenticate/pi_"))
    page.locator("#fail").click()
    expect(page).to_have_url(re.compile(r"/kassa/invoices/in_1Kassa3ds\?.*redirect_status=failed"))
    expect(page.get_by_test_id("error")).to_contain_text("The card was not authenticated")
    expect(page.get_by_test_id("pay-form")).to_be_visible()

    _fill_card(page, THREE_D_SECURE)
    page.locator("#complete").click()
    expect(page).to_have_url(re.compile(r"redirect_status=succeeded"))
    expect(page.get_by_test_id("status")).to_have_text("Paid")
    statuses = [i.status for i in _intents(client, hosted, "in_1Kassa3ds")]
    assert statuses == ["requires_payment_method", "succeeded"]


def test_void_and_uncollectible_invoices(page: Page, hosted: HostedPages, shots: Path) -> None:
    void = fixtures.with_status(simple_invoice("in_1KassaVoid", "ADA1-0005"), "void", fixtures.PAID)
    page.goto(hosted.add(void, ADA))
    expect(page.get_by_test_id("status")).to_have_text("Void")
    expect(page.get_by_test_id("notice")).to_have_text(
        "This invoice was voided on October 30, 2026."
    )
    expect(page.get_by_test_id("pay-form")).to_have_count(0)
    screenshot(page, shots, "void")

    marked = fixtures.with_status(
        simple_invoice("in_1KassaUncollectible", "ADA1-0006"), "uncollectible", fixtures.PAID
    )
    page.goto(hosted.add(marked, ADA))
    expect(page.get_by_test_id("notice")).to_contain_text("marked uncollectible on October 30")
    _fill_card(page, VISA)  # Stripe still takes payment for an uncollectible invoice
    expect(page.get_by_test_id("status")).to_have_text("Paid")


def test_a_wrong_secret_a_draft_and_a_foreign_form_are_refused(hosted: HostedPages) -> None:
    url = hosted.add(simple_invoice("in_1KassaGuarded", "ADA1-0007"), ADA)
    draft = {**simple_invoice("in_1KassaDraft", "ADA1-0008"), "status": "draft"}
    draft_url = hosted.add(draft, ADA)
    pay_url = url.replace("/in_1KassaGuarded?", "/in_1KassaGuarded/pay?")
    form = {"number": VISA, "exp_month": "12", "exp_year": EXPIRY_YEAR, "cvc": "123"}
    with httpx.Client(timeout=30) as http:
        assert http.get(url).status_code == 200
        for refused in (
            url.replace("secret=", "secret=x"),
            url.split("?")[0],
            draft_url,
            draft_url.replace("?", "/pdf?"),
            url.replace("/in_1KassaGuarded?", "/in_1KassaGuarded/pdf?secret=x"),
        ):
            assert http.get(refused).status_code == 404, refused
        assert http.get(pay_url).status_code == 405
        foreign = http.post(pay_url, data=form, headers={"origin": "https://evil.example"})
        assert foreign.status_code == 403
        cross_site = http.post(pay_url, data=form, headers={"sec-fetch-site": "cross-site"})
        assert cross_site.status_code == 403
        missing = http.post(pay_url, data={"number": VISA}, headers={"origin": hosted.url})
        assert missing.status_code == 400
        assert "Enter the card number" in missing.text
    assert hosted.backend.invoices["in_1KassaGuarded"].intent_ids == []


def test_the_page_sends_no_referrer_and_allows_no_frames_or_scripts(hosted: HostedPages) -> None:
    url = hosted.add(simple_invoice("in_1KassaHeaders", "ADA1-0009"), ADA)
    response = httpx.get(url, timeout=30)
    headers = response.headers
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"
    assert headers["x-frame-options"] == "DENY"
    policy = headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "script" not in policy and "<script" not in response.text


def test_one_form_sent_twice_pays_once(hosted: HostedPages, client: stripe.StripeClient) -> None:
    """A form sent again (a double click, a retry after a lost answer) makes no second
    PaymentIntent: the backend uses the form's attempt token as the idempotency key."""
    url = hosted.add(simple_invoice("in_1KassaTwice", "ADA1-0010"), ADA)
    pay_url = url.replace("/in_1KassaTwice?", "/in_1KassaTwice/pay?")
    form = {"number": VISA, "exp_month": "12", "exp_year": EXPIRY_YEAR, "cvc": "123"}
    form["attempt"] = "attempt-1"
    stored = hosted.backend.invoices["in_1KassaTwice"]
    still_open = stored.document
    with httpx.Client(timeout=30) as http:
        assert http.post(pay_url, data=form, headers={"origin": hosted.url}).status_code == 303
        first_intents = list(stored.intent_ids)
        # As if the first answer had been lost before anything was recorded.
        stored.document, stored.intent_ids = still_open, []
        assert http.post(pay_url, data=form, headers={"origin": hosted.url}).status_code == 303
    assert stored.intent_ids == first_intents  # the same PaymentIntent, replayed
    assert len(client.v1.payment_intents.list(params={"limit": 10}).data) == 1
