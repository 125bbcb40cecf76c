"""The `CreditNoteDocument` a credit note's PDF is built from, gathered from the store: the
invoice it credits, the customer and the account. The credit note PDF page
(`kassa.pages.credit_note_backend`) and the credit note email's PDF attachment
(`credit_note_pdf_renderer`, which the mail worker calls when it sends the email) both build
it here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from kassa.services import customers
from kassa.services.billing import credit_notes, invoice_documents
from kassa.services.billing.rendering.credit_note_view import CreditNoteDocument
from kassa.services.billing.rendering.invoice_view import resolve_locale
from kassa.services.context import Context


async def build_credit_note_document(ctx: Context, note: Mapping[str, Any]) -> CreditNoteDocument:
    """`note` as the API shows it, with every line; its invoice and customer are read."""
    invoice = await invoice_documents.load_invoice(ctx, str(note["invoice"]), lock=False)
    customer = await customers.retrieve_customer(ctx, str(note["customer"]))
    account = await ctx.tx.get_account(ctx.account_id) or {"id": ctx.account_id}
    return CreditNoteDocument(
        note=note, invoice=invoice_documents.shown(invoice), customer=customer, account=account
    )


async def credit_note_pdf_renderer(ctx: Context, note_id: str) -> Callable[[], bytes]:
    """What renders the credit note's PDF as it is stored now (every line), in its
    customer's locale: the email attachment `AttachmentKind.CREDIT_NOTE_PDF` of
    `kassa.services.mail`, as `invoice_pdf_renderer` is the invoice's. Reads only; the
    function returned renders, CPU-bound, for the caller to run on a thread once its
    transaction has ended. Raises `ResourceMissing` if the note is gone."""
    note = await credit_notes.note_for_pdf(ctx, note_id)
    document = await build_credit_note_document(ctx, note)
    locale = resolve_locale(None, document.customer)
    return functools.partial(render_credit_note, document, locale)


def render_credit_note(document: CreditNoteDocument, locale: str) -> bytes:
    """The PDF of `document` in `locale` (`invoice_pdf.render_credit_note_pdf`), CPU-bound."""
    # Imported here, as `invoice_document.render_pdf` imports the invoice's: fpdf2 costs a
    # process's start-up time that only the first render should pay.
    from kassa.services.billing.rendering.invoice_pdf import render_credit_note_pdf

    return render_credit_note_pdf(document, locale)
