"""The email a credit note sends its customer (`email_type` `credit_note`, Stripe's default),
on SQLite and PostgreSQL: queued with the note, captured by the session server's mail worker
(no SMTP server: `GET /v1/test_helpers/emails`) with the note's PDF, which the worker
renders from the note's reference; in the customer's locale; nothing for `email_type=none`
or a customer without an address; and one through a real SMTP server (aiosmtpd,
tests/test_mail.py's)."""

from __future__ import annotations

import re
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

import stripe

from kassa.services.billing import credit_notes
from kassa.services.billing.credit_note_params import DescribeNote
from kassa.store.mail_queries import AttachmentRefRow
from tests.harness import Account, KassaServer, create_account
from tests.test_credit_notes import note, open_invoice, paid_invoice
from tests.test_invoice_emails import attachments, captured, emails_of, pdf_text, queued_with
from tests.test_invoices import Client, invoice_of
from tests.test_mail import delivered_through_smtp

Issued = tuple[stripe.Invoice, stripe.CreditNote]
"""An invoice and the credit note issued on it."""


def _note_emails(server: KassaServer, account: Account, invoice_id: str) -> list[dict[str, Any]]:
    return [e for e in emails_of(server, account, invoice_id) if e["kind"] == "credit_note"]


def _plain(text: str) -> str:
    """Babel's no-break spaces read as plain ones."""
    return re.sub(r"[\u00a0\u202f]", " ", text)


def test_a_credit_note_is_emailed_with_its_pdf(server: KassaServer, ledger_verified: None) -> None:
    shop = create_account(server.database_url, name="Walk Shop")
    client = server.client(shop.secret_key)
    invoice = paid_invoice(client, 2000)
    made = note(client, invoice, amount=500, refund_amount=300, credit_amount=200,
                reason="order_change", memo="Two items were missing.")  # fmt: skip
    [email] = _note_emails(server, shop, invoice.id)
    assert (email["to"], email["customer"], email["invoice"], email["locale"]) == (
        "billing@example.com",
        invoice.customer,
        invoice.id,
        "en",
    )
    assert email["subject"] == (
        f"Credit note {made.number} from Walk Shop: $5.00 (invoice {invoice.number})"
    )
    text = email["text"]
    assert f"Walk Shop issued credit note {made.number} on " in text
    assert f"for $5.00 on invoice {invoice.number}." in text
    assert "Reason: Order change" in text and "Two items were missing." in text
    assert "Total: $5.00" in text
    assert "Refunded to the original payment method: $3.00" in text
    assert "Credited to the customer balance: $2.00" in text
    assert "Reduction of the amount due" not in text  # the invoice was paid: nothing to reduce
    assert "The credit note is attached as a PDF." in text
    assert f"Credit note {made.number}" in email["html"]
    email = captured(server, shop, email["id"])
    filename = f"CreditNote-{made.number}.pdf"
    [attachment] = attachments(server, email["id"])
    assert (attachment.filename, attachment.content_type) == (filename, "application/pdf")
    assert attachment.content.startswith(b"%PDF-")
    assert str(made.number) in pdf_text(attachment.content)
    assert email["attachments"] == [
        {"content_type": "application/pdf", "filename": filename, "size": len(attachment.content)}
    ]


def test_a_pre_payment_note_says_it_lowered_what_the_invoice_asks(
    server: KassaServer, account: Account, client: Client
) -> None:
    invoice = open_invoice(client, 1000)
    made = note(client, invoice, amount=250)
    [email] = _note_emails(server, account, invoice.id)
    assert made.number in email["subject"] and "$2.50" in email["subject"]
    assert "Reduction of the amount due: $2.50" in email["text"]


def test_email_type_none_and_a_customer_without_an_address_send_nothing(
    server: KassaServer, account: Account, client: Client
) -> None:
    invoice = open_invoice(client, 1000)
    note(client, invoice, amount=100, email_type="none")
    assert _note_emails(server, account, invoice.id) == []
    note(client, invoice, amount=100, email_type="credit_note")
    assert len(_note_emails(server, account, invoice.id)) == 1

    nobody = client.v1.customers.create(params={"name": "No Address"})
    unaddressed = client.v1.invoices.finalize_invoice(invoice_of(client, nobody.id, 800).id)
    made = note(client, unaddressed, amount=100)
    assert made.status == "issued"
    assert emails_of(server, account, unaddressed.id) == []


def test_the_email_reads_in_the_customer_s_locale(
    server: KassaServer, account: Account, client: Client
) -> None:
    who = client.v1.customers.create(
        params={"name": "Ada", "email": "ada@example.com", "preferred_locales": ["de-DE"]}
    )
    draft = invoice_of(client, who.id, 123456)
    invoice = client.v1.invoices.finalize_invoice(draft.id)
    made = note(client, invoice, amount=23456)
    [email] = _note_emails(server, account, invoice.id)
    assert email["locale"] == "de-DE"
    assert _plain(email["subject"]) == (
        f"Credit note {made.number} from {invoice.account_name or 'Kassa'}: 234,56 $ "
        f"(invoice {invoice.number})"
    )
    assert "Reduction of the amount due: 234,56 $" in _plain(email["text"])
    email = captured(server, account, email["id"])
    [attachment] = attachments(server, email["id"])
    words = _plain(pdf_text(attachment.content))
    assert "Gutschrift" in words and "234,56 $" in words  # the PDF in German too


def test_the_email_and_its_pdf_reference_are_written_with_the_note(
    server: KassaServer, account: Account, client: Client
) -> None:
    """The note is made in this process as the API makes it, and the outbox read in the
    same transaction: the email is there with a reference to the note's PDF, nothing
    rendered; the server's mail worker renders it once the transaction has committed."""
    invoice = open_invoice(client, 1000)
    describe = DescribeNote(invoice=invoice.id, amount=400)
    made, queued, refs, made_bytes = queued_with(
        server, account, invoice.id, lambda ctx: credit_notes.create_credit_note(ctx, describe)
    )
    filename = f"CreditNote-{made['number']}.pdf"
    assert refs == [AttachmentRefRow(0, filename, "application/pdf", "credit_note_pdf", made["id"])]
    assert made_bytes == []
    assert (queued["kind"], queued["status"]) == ("credit_note", "pending")
    email = captured(server, account, queued["id"])
    [attachment] = attachments(server, email["id"])
    assert str(made["number"]) in pdf_text(attachment.content)


def test_a_credit_note_email_reaches_the_smtp_server_with_its_pdf(
    private_database_url: str, tmp_path: Path, smtp_port: int
) -> None:
    def queue(kassa: KassaServer, account: Account) -> tuple[dict[str, Any], Issued]:
        client = kassa.client(account.secret_key)
        invoice = open_invoice(client, 4200)
        made = note(client, invoice, amount=1200)
        with kassa.http(account.secret_key) as http:
            params = {"invoice": invoice.id, "kind": "credit_note"}
            [queued] = http.get("/v1/test_helpers/emails", params=params).json()["data"]
        return queued, (invoice, made)

    delivered, (invoice, made) = delivered_through_smtp(
        private_database_url, tmp_path, smtp_port, queue
    )
    message = delivered.message
    assert message["To"] == "billing@example.com"
    assert message["From"] == "Kassa Test Shop <billing@kassa.localhost>"
    assert message["Subject"] == (
        f"Credit note {made.number} from Kassa Test Shop: $12.00 (invoice {invoice.number})"
    )
    body = message.get_body(("plain",))
    assert body is not None
    assert "Reduction of the amount due: $12.00" in cast(EmailMessage, body).get_content()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == f"CreditNote-{made.number}.pdf"
    pdf = attachment.get_content()
    assert str(made.number) in pdf_text(pdf)
    assert [a.content for a in delivered.stored] == [pdf], "the bytes sent are kept"
    assert delivered.email["attachments"][0]["size"] == len(pdf)
