"""The credit note PDF's `CreditNotePageBackend` over the credit note operations, which the
composition root (`kassa.runtime`) gives to `CreditNotePages`.

`load` finds the note by its link's secret (`credit_notes.note_for_page`, compared in
constant time) and gathers what its PDF shows (`rendering.credit_note_document`): the
invoice it credits, its customer and the account. It only reads.
"""

from __future__ import annotations

from kassa.pages.page_backend import PageBackend
from kassa.services.billing import credit_notes
from kassa.services.billing.rendering.credit_note_document import build_credit_note_document
from kassa.services.billing.rendering.credit_note_view import CreditNoteDocument


class CreditNoteBackend(PageBackend):
    """The credit notes the PDF link opens, from the store, through the services."""

    async def load(self, note_id: str, secret: str) -> CreditNoteDocument | None:
        async with self.store.read() as tx:
            note = await credit_notes.note_for_page(tx, note_id, secret)
            if note is None:
                return None
            account_id = str(note.pop("account"))
            ctx = self.context(tx, account_id)
            return await build_credit_note_document(ctx, note)
