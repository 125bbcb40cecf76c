"""The credit note PDF end to end, through the real `kassa serve` (SQLite and PostgreSQL): notes
made through the SDK, their `pdf` link fetched with httpx and read with pypdf: the number,
the invoice credited, the lines, the total and how it was applied, in the customer's
language; a void note says VOID; a wrong secret or an unknown note is the invoice pages'
404. (The view alone is `credit_note_view`; its layout is the invoice PDF's,
`tests/test_invoice_pdf.py`.)
"""

from __future__ import annotations

import io
import re
from typing import Any

import httpx
import pytest
import stripe
from pypdf import PdfReader

from tests import loopback
from tests.harness import KassaServer
from tests.test_credit_notes import note

pytestmark = pytest.mark.usefixtures("ledger_verified")

Client = stripe.StripeClient


def _invoice(client: Client, locale: str = "en", *, pay: bool = True) -> stripe.Invoice:
    """An invoice of $20.00 for "Consulting", finalized, and paid unless `pay` is False."""
    who = client.v1.customers.create(
        params={
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "preferred_locales": [locale],
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    draft = client.v1.invoices.create(params={"customer": who.id})
    client.v1.invoice_items.create(
        params={
            "customer": who.id,
            "invoice": draft.id,
            "amount": 2_000,
            "currency": "usd",
            "description": "Consulting",
        }
    )
    invoice = client.v1.invoices.finalize_invoice(draft.id)
    return client.v1.invoices.pay(invoice.id) if pay else invoice


def _text(pdf: bytes) -> str:
    """The PDF's text, babel's no-break spaces read as plain ones."""
    reader = PdfReader(io.BytesIO(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return re.sub(r"[\u00a0\u202f]", " ", text)


def _squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _page(answer: httpx.Response) -> str:
    """An HTML answer without its per-response style nonce."""
    return re.sub(r'nonce="[^"]*"', 'nonce=""', answer.text)


def _pdf(url: str | None) -> httpx.Response:
    assert url is not None
    response = loopback.get(url, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    return response


def test_the_pdf_shows_the_note_its_invoice_lines_total_and_how_it_was_applied(
    client: Client,
) -> None:
    invoice = _invoice(client)
    made = note(
        client,
        invoice,
        lines=[
            {
                "type": "invoice_line_item",
                "invoice_line_item": invoice.lines.data[0].id,
                "amount": 500,
            },
            {
                "type": "custom_line_item",
                "description": "Goodwill",
                "unit_amount": 250,
                "quantity": 2,
            },
        ],
        refund_amount=600,
        credit_amount=300,
        out_of_band_amount=100,
        reason="product_unsatisfactory",
        memo="Sorry for the delay.",
    )
    response = _pdf(made.pdf)
    assert response.headers["content-disposition"] == (
        f'inline; filename="CreditNote-{made.number}.pdf"'
    )
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    text = _text(response.content)
    assert made.number == f"{invoice.number}-CN-01"
    assert f"Credit note number {made.number}" in text
    assert f"Invoice number {invoice.number}" in text
    assert "Reason Product unsatisfactory" in text
    assert "Sorry for the delay." in text
    assert "Consulting 1 $5.00" in text
    assert "Goodwill 2 $2.50 $5.00" in text
    assert "$10.00 credited" in text and "Total $10.00" in text
    squeezed = _squeezed(text)
    assert _squeezed("Refunded to the original payment method $6.00") in squeezed
    assert _squeezed("Credited to the customer balance $3.00") in squeezed
    assert _squeezed("Credited by other means $1.00") in squeezed
    assert "Reduction of the amount due" not in text
    assert "Ada Lovelace" in text and "VOID" not in text


def test_a_pre_payment_note_reads_in_the_customer_s_language(client: Client) -> None:
    invoice = _invoice(client, locale="de", pay=False)
    made = note(client, invoice, amount=300)
    text = _text(_pdf(made.pdf).content)
    assert f"Gutschriftnummer {made.number}" in text
    assert f"Rechnungsnummer {invoice.number}" in text
    assert "3,00 $ gutgeschrieben" in text and "Gesamt 3,00 $" in text
    assert "Minderung des fälligen Betrags 3,00 $" in text


def test_a_void_note_says_void(client: Client) -> None:
    made = note(client, _invoice(client, pay=False), amount=400)
    voided = client.v1.credit_notes.void_credit_note(made.id)
    assert voided.pdf == made.pdf
    text = _text(_pdf(voided.pdf).content)
    assert "VOID" in text and "This credit note was voided on" in text
    assert made.number is not None and made.number in text


def test_a_wrong_secret_or_an_unknown_note_is_the_invoice_pages_404(
    client: Client, server: KassaServer
) -> None:
    invoice = _invoice(client, pay=False)
    made = note(client, invoice, amount=100)
    url = made.pdf
    assert url.startswith(f"{server.url}/kassa/credit_notes/{made.id}/pdf?secret=")
    secret = url.partition("secret=")[2]
    invoice_secret = str(invoice.invoice_pdf).partition("secret=")[2]
    other = note(client, invoice, amount=100)
    with loopback.Client(timeout=30) as http:
        invoice_404 = http.get(f"{server.url}/kassa/invoices/in_doesnotexist?secret=x")
        assert invoice_404.status_code == 404
        refused: list[tuple[str, str]] = [
            ("wrong secret", url.replace("secret=", "secret=x")),
            ("non-ASCII secret", url.replace(f"secret={secret}", "secret=%C3%A9")),
            ("no secret", url.split("?")[0]),
            ("another note's secret", url.replace(made.id, other.id)),
            ("the invoice's secret", url.replace(secret, invoice_secret)),
            ("unknown note", url.replace(made.id, "cn_doesnotexist")),
            ("no such page", url.replace("/pdf?", "?")),
        ]
        for why, address in refused:
            answer = http.get(address)
            assert answer.status_code == 404, why
            assert _page(answer) == _page(invoice_404), why
            assert made.number is not None and made.number not in answer.text
        posted: Any = http.post(url)
        assert (posted.status_code, posted.headers["allow"]) == (405, "GET")
