"""The email a credit note sends its customer when it is issued (`email_type` `credit_note`,
Stripe's default: "Type of email to send to the customer, one of `credit_note` or `none`"),
rendered in the customer's locale and queued in the caller's transaction, as an invoice's
emails are (`billing_emails`):

    queue_credit_note_email(ctx, note, invoice, customer)

It goes to the invoice's address (`customer_email`, else the customer's `email`; none: no
email) and says what the note's PDF says: the business, the note's number and date, the
invoice it credits, its reason and memo, its lines, its total and how the total was applied
(the PDF's words for each part, `credit_note_view.applied_parts`). The PDF is attached by
reference (`AttachmentKind.CREDIT_NOTE_PDF`, the note's id): the mail worker renders it when
it sends the email (`credit_note_pdf_renderer`), from the note as stored then.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale

from kassa.services.billing.billing_emails import (
    PDF_CONTENT_TYPE,
    day,
    lines_of,
    listed_lines,
    one_line,
    pdf_filename,
    queue_rendered,
    reader_for,
)
from kassa.services.billing.rendering.credit_note_view import (
    applied_parts,
    issued_at,
    reason_text,
)
from kassa.services.billing.rendering.invoice_text import ENGLISH
from kassa.services.context import Context
from kassa.services.mail import Attachment, AttachmentKind, AttachmentRef, EmailKind
from kassa.services.mail_rendering import format_money
from kassa.services.resource import ApiObject


async def queue_credit_note_email(
    ctx: Context,
    note: Mapping[str, Any],
    invoice: Mapping[str, Any],
    customer: Mapping[str, Any] | None = None,
) -> ApiObject | None:
    """Queue the email of `note` (as stored, every line) on `invoice`; None when the
    customer has no address. `customer`: as the caller holds it (None: it is read)."""
    reader = await reader_for(ctx, invoice, customer)
    if reader is None:
        return None
    values = credit_note_values(note, invoice, reader.locale, reader.zone)
    pdf = AttachmentRef(AttachmentKind.CREDIT_NOTE_PDF, str(note["id"]))
    filename = pdf_filename("CreditNote", note.get("number") or note["id"])
    attachments = (Attachment(filename, PDF_CONTENT_TYPE, pdf),)
    return await queue_rendered(ctx, reader, EmailKind.CREDIT_NOTE, values, invoice, attachments)


def credit_note_values(
    note: Mapping[str, Any], invoice: Mapping[str, Any], locale: Locale, zone: ZoneInfo
) -> dict[str, Any]:
    """What the templates show of a credit note, formatted for `locale` and `zone` (the
    sentences are English, as the invoice emails' are)."""
    currency = str(note["currency"])

    def money(amount: int) -> str:
        return format_money(amount, currency, locale)

    return {
        "business": one_line(invoice.get("account_name")) or "Kassa",
        "customer_name": one_line(invoice.get("customer_name")),
        "number": str(note.get("number") or note["id"]),
        "invoice_number": str(invoice.get("number") or invoice["id"]),
        "date": day(issued_at(note), locale, zone),
        "reason": reason_text(note.get("reason"), ENGLISH),
        "memo": str(note.get("memo") or ""),
        "total": money(int(note["total"])),
        "applied": [
            {"label": label, "amount": money(amount)}
            for label, amount in applied_parts(note, ENGLISH)
        ],
        **listed_lines(lines_of(note), currency, locale),
    }
