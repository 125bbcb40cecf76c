"""The hosted invoice page and the invoice PDF end to end, through the real `kassa serve`
(SQLite and PostgreSQL): an invoice made and finalized through the SDK, its
`hosted_invoice_url` opened in headless Chromium (Debian's `chromium`, driven by Playwright),
its `invoice_pdf` read with pypdf, and payments with Stripe's test cards (3-D Secure on
Kassa's challenge page, and a decline) seen afterwards through the SDK as the invoice's
`amount_paid`, its `invoice_payment` and its PaymentIntent.

Also the page's own promises against the same real invoices: the customer's language,
void and uncollectible invoices, refused foreign forms, and headers that leak nothing. (The
renderer alone, over fixture documents, is `tests/test_invoice_pdf.py`.)
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import stripe
from playwright.sync_api import Browser, Page, expect
from pypdf import PdfReader

from tests import loopback
from tests.browser import chromium_session, fresh_page
from tests.harness import KassaServer

pytestmark = pytest.mark.usefixtures("ledger_verified")

Client = stripe.StripeClient


VISA = "4242 4242 4242 4242"
THREE_D_SECURE = "4000 0027 6000 3184"
DECLINED = "4000 0000 0000 0002"
EXPIRY_YEAR = "34"
DAYS_UNTIL_DUE = 30
WIDGETS = 12
"""More lines than the API embeds in an invoice (10): the page must show every one."""


# --- invoices through the SDK -------------------------------------------------------------------


def _customer(client: Client, locale: str = "en") -> stripe.Customer:
    return client.v1.customers.create(
        params={
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "preferred_locales": [locale],
        }
    )


def _draft(client: Client, customer_id: str, **params: Any) -> stripe.Invoice:
    given: Any = {
        "customer": customer_id,
        "collection_method": "send_invoice",
        "days_until_due": DAYS_UNTIL_DUE,
        **params,
    }
    return client.v1.invoices.create(params=given)


def _item(client: Client, invoice: stripe.Invoice, amount: int, description: str) -> None:
    client.v1.invoice_items.create(
        params={
            "customer": str(invoice.customer),
            "invoice": invoice.id,
            "amount": amount,
            "currency": "usd",
            "description": description,
        }
    )


def _open_invoice(client: Client, locale: str = "en") -> stripe.Invoice:
    """A finalized `send_invoice` invoice of $175.00 in two lines."""
    draft = _draft(client, _customer(client, locale).id)
    _item(client, draft, 15_000, "Analytical engine tune-up")
    _item(client, draft, 2_500, "Punch cards")
    return client.v1.invoices.finalize_invoice(draft.id)


def _hosted_url(invoice: stripe.Invoice) -> str:
    assert invoice.hosted_invoice_url is not None
    return invoice.hosted_invoice_url


def _pay_url(invoice: stripe.Invoice) -> str:
    return _hosted_url(invoice).replace(f"/{invoice.id}?", f"/{invoice.id}/pay?")


def _event_types(client: Client, object_id: str) -> list[str]:
    listed = client.v1.events.list(params={"limit": 100})
    found = [e.type for e in listed.data if e.data.object.to_dict().get("id") == object_id]
    return list(reversed(found))


def _charges(client: Client) -> list[stripe.Charge]:
    return client.v1.charges.list(params={"limit": 100}).data


# --- the browser ----------------------------------------------------------------------------------


def _fill_card(page: Page, number: str) -> None:
    page.get_by_test_id("card-number").fill(number)
    page.get_by_test_id("card-exp-month").fill("12")
    page.get_by_test_id("card-exp-year").fill(EXPIRY_YEAR)
    page.get_by_test_id("card-cvc").fill("123")
    page.get_by_test_id("card-name").fill("Ada Lovelace")
    page.get_by_test_id("pay-button").click()


def _pdf_text(page: Page, invoice: stripe.Invoice) -> str:
    assert invoice.invoice_pdf is not None
    response = page.request.get(invoice.invoice_pdf)
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.body()))
    return "\n".join(page.extract_text() for page in reader.pages)


# --- the tests ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium_session()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with fresh_page(browser) as opened:
        yield opened


def test_see_download_and_pay_an_invoice_with_a_card(
    page: Page, client: Client, server: KassaServer
) -> None:
    invoice = _open_invoice(client)
    url = _hosted_url(invoice)
    assert url.startswith(f"{server.url}/kassa/invoices/{invoice.id}?secret=")
    assert invoice.invoice_pdf == url.replace("?", "/pdf?")

    page.goto(url)
    expect(page.get_by_test_id("invoice-number")).to_have_text(str(invoice.number))
    expect(page.get_by_test_id("headline")).to_contain_text("$175.00 due")
    lines = page.get_by_test_id("line")
    expect(lines).to_have_count(2)
    expect(lines.nth(0)).to_contain_text("Analytical engine tune-up")
    expect(lines.nth(0)).to_contain_text("$150.00")
    expect(lines.nth(1)).to_contain_text("Punch cards")
    expect(page.get_by_test_id("bill-to")).to_contain_text("Ada Lovelace")
    expect(page.get_by_test_id("pay-button")).to_have_text("Pay $175.00")

    text = _pdf_text(page, invoice)
    assert f"Invoice number {invoice.number}" in text
    assert "Amount due $175.00" in text

    _fill_card(page, VISA)
    expect(page.get_by_test_id("status")).to_have_text("Paid")
    expect(page.get_by_test_id("pay-form")).to_have_count(0)
    expect(page.get_by_test_id("summary")).to_contain_text("Amount paid$175.00")

    paid = client.v1.invoices.retrieve(invoice.id)
    assert (paid.status, paid.amount_paid, paid.amount_remaining) == ("paid", 17_500, 0)
    assert paid.status_transitions.paid_at is not None
    assert (paid.attempted, paid.attempt_count) == (True, 1)
    (payment,) = client.v1.invoice_payments.list(params={"invoice": invoice.id}).data
    assert (payment.status, payment.amount_paid, payment.is_default) == ("paid", 17_500, True)
    assert payment.payment.payment_intent is not None
    intent = client.v1.payment_intents.retrieve(str(payment.payment.payment_intent))
    assert (intent.status, intent.amount_received, intent.customer) == (
        "succeeded",
        17_500,
        invoice.customer,
    )
    payment_method = client.v1.payment_methods.retrieve(str(intent.payment_method))
    assert payment_method.card is not None and payment_method.card.last4 == "4242"
    assert payment_method.billing_details.name == "Ada Lovelace"
    assert payment_method.customer is None  # paid with, not saved
    events = _event_types(client, invoice.id)
    assert events[-2:] == ["invoice.paid", "invoice.payment_succeeded"]

    # The PDF follows the invoice: paid now.
    assert "Amount paid $175.00" in _pdf_text(page, paid)


def test_the_page_shows_every_line_its_tax_rates_and_its_discounts(
    page: Page, client: Client
) -> None:
    coupon = client.v1.coupons.create(
        params={"percent_off": 10, "duration": "once", "name": "Loyalty"}
    )
    vat = client.v1.tax_rates.create(
        params={"display_name": "VAT", "percentage": 19, "inclusive": False}
    )
    draft = _draft(
        client,
        _customer(client).id,
        discounts=[{"coupon": coupon.id}],
        default_tax_rates=[vat.id],
    )
    for number in range(1, WIDGETS + 1):
        _item(client, draft, 1_000, f"Widget {number}")
    invoice = client.v1.invoices.finalize_invoice(draft.id)
    # $120.00, 10% off ($12.00), VAT 19% on $108.00 ($20.52): $128.52.
    assert (invoice.subtotal, invoice.total, invoice.lines.has_more) == (12_000, 12_852, True)

    page.goto(_hosted_url(invoice))
    lines = page.get_by_test_id("line")
    expect(lines).to_have_count(WIDGETS)
    expect(lines).to_contain_text([f"Widget {n}" for n in range(1, WIDGETS + 1)])
    summary = page.get_by_test_id("summary")
    expect(summary).to_contain_text("Loyalty (10%)")
    expect(summary).to_contain_text("-$12.00")
    expect(summary).to_contain_text("VAT (19% on $108.00)")
    expect(summary).to_contain_text("$20.52")
    expect(page.get_by_test_id("headline")).to_contain_text("$128.52 due")

    text = _pdf_text(page, invoice)
    assert "Widget 12" in text
    assert "Loyalty (10%)" in text
    assert "VAT (19% on $108.00)" in text
    assert "Amount due $128.52" in text


def test_a_card_needing_3d_secure_is_paid_on_the_challenge_page(
    page: Page, client: Client, server: KassaServer
) -> None:
    invoice = _open_invoice(client)
    url = _hosted_url(invoice)
    page.goto(url)
    _fill_card(page, THREE_D_SECURE)
    challenge = re.compile(re.escape(server.url) + r"/kassa/authenticate/pi_")
    expect(page).to_have_url(challenge)

    # Left unanswered, then paid again with the same card: failed at the challenge.
    page.goto(url)
    expect(page.get_by_test_id("status")).to_have_count(0)
    _fill_card(page, THREE_D_SECURE)
    expect(page).to_have_url(challenge)
    page.locator("#fail").click()
    expect(page).to_have_url(re.compile(rf"/kassa/invoices/{invoice.id}\?.*redirect_status=failed"))
    expect(page.get_by_test_id("error")).to_contain_text("The card was not authenticated")
    assert client.v1.invoices.retrieve(invoice.id).status == "open"

    _fill_card(page, THREE_D_SECURE)
    expect(page).to_have_url(challenge)
    page.locator("#complete").click()
    expect(page).to_have_url(re.compile(r"redirect_status=succeeded"))
    expect(page.get_by_test_id("status")).to_have_text("Paid")

    paid = client.v1.invoices.retrieve(invoice.id)
    assert (paid.status, paid.amount_paid, paid.amount_remaining) == ("paid", 17_500, 0)
    (payment,) = client.v1.invoice_payments.list(params={"invoice": invoice.id}).data
    assert (payment.status, payment.amount_paid) == ("paid", 17_500)
    events = _event_types(client, invoice.id)
    assert events.count("invoice.payment_action_required") == 3
    assert events[-2:] == ["invoice.paid", "invoice.payment_succeeded"]
    (charge,) = [c for c in _charges(client) if c.status == "succeeded"]
    assert charge.amount == 17_500 and charge.payment_method_details is not None


def test_a_declined_card_shows_why_and_the_invoice_stays_open(page: Page, client: Client) -> None:
    invoice = _open_invoice(client)
    page.goto(_hosted_url(invoice))
    _fill_card(page, DECLINED)
    expect(page.get_by_test_id("error")).to_have_text("Your card was declined.")
    expect(page.get_by_test_id("pay-form")).to_be_visible()
    expect(page.get_by_test_id("card-number")).to_have_value("")

    still_open = client.v1.invoices.retrieve(invoice.id)
    assert (still_open.status, still_open.amount_paid, still_open.amount_remaining) == (
        "open",
        0,
        17_500,
    )
    assert (still_open.attempted, still_open.attempt_count) == (True, 1)
    (payment,) = client.v1.invoice_payments.list(params={"invoice": invoice.id}).data
    assert payment.status == "open"
    (charge,) = _charges(client)
    assert (charge.status, charge.failure_code) == ("failed", "card_declined")
    assert "invoice.payment_failed" in _event_types(client, invoice.id)


def test_a_form_sent_twice_pays_or_declines_once(client: Client, server: KassaServer) -> None:
    """The form's attempt token keys the payment: sent again (a double click, a retry after
    a lost answer) it is answered as the first time, and nothing is charged again."""
    form = {"number": DECLINED, "exp_month": "12", "exp_year": EXPIRY_YEAR, "cvc": "123"}
    declined = _open_invoice(client)
    with loopback.Client(timeout=30, headers={"origin": server.url}) as http:
        answers = [
            http.post(_pay_url(declined), data={**form, "attempt": "view-1"}) for _ in range(2)
        ]
        assert [answer.status_code for answer in answers] == [402, 402]
        assert all("Your card was declined." in answer.text for answer in answers)
        assert len(_charges(client)) == 1
        # Another page view is another attempt.
        again = http.post(_pay_url(declined), data={**form, "attempt": "view-2"})
        assert again.status_code == 402 and len(_charges(client)) == 2

        paid = _open_invoice(client)
        visa = {**form, "number": VISA, "attempt": "view-3"}
        answers = [http.post(_pay_url(paid), data=visa) for _ in range(2)]
        assert [answer.status_code for answer in answers] == [303, 303]
        assert {answer.headers["location"] for answer in answers} == {
            urlsplit(_hosted_url(paid))._replace(scheme="", netloc="").geturl()
        }
    succeeded = [c for c in _charges(client) if c.status == "succeeded"]
    assert len(succeeded) == 1 and succeeded[0].amount == 17_500
    assert client.v1.invoices.retrieve(paid.id).amount_paid == 17_500
    assert client.v1.invoices.retrieve(declined.id).attempt_count == 1


def test_a_wrong_secret_is_not_found_and_a_draft_has_no_links(
    client: Client, server: KassaServer
) -> None:
    invoice = _open_invoice(client)
    url = _hosted_url(invoice)
    assert invoice.invoice_pdf is not None
    draft = _draft(client, _customer(client).id)
    _item(client, draft, 1_000, "Not yet")
    draft = client.v1.invoices.retrieve(draft.id)
    assert (draft.status, draft.hosted_invoice_url, draft.invoice_pdf) == ("draft", None, None)
    secret = url.partition("secret=")[2]
    with loopback.Client(timeout=30) as http:
        assert http.get(url).status_code == 200
        for refused in (
            url.replace("secret=", "secret=x"),
            url.replace(f"secret={secret}", "secret=%C3%A9"),  # once a 500 (compare_digest)
            invoice.invoice_pdf.replace(f"secret={secret}", "secret=%C3%A9"),
            url.split("?")[0],
            invoice.invoice_pdf.replace("secret=", "secret=x"),
            url.replace(invoice.id, draft.id),
            f"{server.url}/kassa/invoices/{draft.id}/pdf?secret={secret}",
            f"{server.url}/kassa/invoices/in_doesnotexist?secret={secret}",
        ):
            answer = http.get(refused)
            assert answer.status_code == 404, refused
            assert invoice.number is not None and invoice.number not in answer.text


def test_the_page_speaks_the_customers_language(page: Page, client: Client) -> None:
    invoice = _open_invoice(client, locale="de")
    page.goto(_hosted_url(invoice))
    expect(page).to_have_title(re.compile(f"Rechnung {invoice.number}"))
    expect(page.get_by_test_id("line").nth(0)).to_contain_text("150,00\u00a0$")
    expect(page.get_by_test_id("summary")).to_contain_text("Zwischensumme")
    expect(page.get_by_test_id("pay-button")).to_have_text("175,00\u00a0$ bezahlen")


def test_void_and_uncollectible_invoices_say_so(page: Page, client: Client) -> None:
    voided = client.v1.invoices.void_invoice(_open_invoice(client).id)
    page.goto(_hosted_url(voided))
    expect(page.get_by_test_id("status")).to_have_text("Void")
    expect(page.get_by_test_id("notice")).to_contain_text("This invoice was voided on")
    expect(page.get_by_test_id("pay-form")).to_have_count(0)

    marked = client.v1.invoices.mark_uncollectible(_open_invoice(client).id)
    page.goto(_hosted_url(marked))
    expect(page.get_by_test_id("notice")).to_contain_text("marked uncollectible on")
    _fill_card(page, VISA)  # Stripe still takes payment for an uncollectible invoice
    expect(page.get_by_test_id("status")).to_have_text("Paid")
    assert client.v1.invoices.retrieve(marked.id).status == "paid"


def test_foreign_forms_and_bad_methods_are_refused(client: Client, server: KassaServer) -> None:
    invoice = _open_invoice(client)
    pay_url = _pay_url(invoice)
    form = {"number": VISA, "exp_month": "12", "exp_year": EXPIRY_YEAR, "cvc": "123"}
    with loopback.Client(timeout=30) as http:
        assert http.get(pay_url).status_code == 405
        foreign = http.post(pay_url, data=form, headers={"origin": "https://evil.example"})
        assert foreign.status_code == 403
        cross_site = http.post(pay_url, data=form, headers={"sec-fetch-site": "cross-site"})
        assert cross_site.status_code == 403
        missing = http.post(pay_url, data={"number": VISA}, headers={"origin": server.url})
        assert missing.status_code == 400
        assert "Enter the card number" in missing.text
    assert client.v1.invoices.retrieve(invoice.id).status == "open"
    assert _charges(client) == [], "no refused form charged anything"


def test_the_page_sends_no_referrer_and_allows_no_frames_or_scripts(client: Client) -> None:
    response = loopback.get(_hosted_url(_open_invoice(client)), timeout=30)
    assert response.status_code == 200
    headers = response.headers
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"
    assert headers["x-frame-options"] == "DENY"
    policy = headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "script" not in policy and "<script" not in response.text
