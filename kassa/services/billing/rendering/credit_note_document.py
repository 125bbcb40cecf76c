"""The `CreditNoteDocument` a credit note's PDF is built from, gathered from the store: the
invoice it credits, the customer and the account. The credit note PDF page
(`kassa.pages.credit_note_backend`) builds it here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kassa.services import customers
from kassa.services.billing import invoice_documents
from kassa.services.billing.rendering.credit_note_view import CreditNoteDocument
from kassa.services.context import Context


async def build_credit_note_document(ctx: Context, note: Mapping[str, Any]) -> CreditNoteDocument:
    """`note` as the API shows it, with every line; its invoice and customer are read."""
    invoice = await invoice_documents.load_invoice(ctx, str(note["invoice"]), lock=False)
    customer = await customers.retrieve_customer(ctx, str(note["customer"]))
    account = await ctx.tx.get_account(ctx.account_id) or {"id": ctx.account_id}
    return CreditNoteDocument(
        note=note, invoice=invoice_documents.shown(invoice), customer=customer, account=account
    )


def render_credit_note(document: CreditNoteDocument, locale: str) -> bytes:
    """The PDF of `document` in `locale` (`invoice_pdf.render_credit_note_pdf`), CPU-bound."""
    # Imported here, as `invoice_document.render_pdf` imports the invoice's: fpdf2 costs a
    # process's start-up time that only the first render should pay.
    from kassa.services.billing.rendering.invoice_pdf import render_credit_note_pdf

    return render_credit_note_pdf(document, locale)
