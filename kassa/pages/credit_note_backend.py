"""The credit note PDF's `CreditNotePageBackend` over the credit note operations, which the
composition root (`kassa.runtime`) gives to `CreditNotePages`.

`load` finds the note by its link's secret (`credit_notes.note_for_page`, compared in
constant time) and gathers what its PDF shows (`rendering.credit_note_document`): the
invoice it credits, its customer and the account. It only reads.
"""

from __future__ import annotations

from kassa.clock import Clock
from kassa.services.billing import credit_notes
from kassa.services.billing.rendering.credit_note_document import build_credit_note_document
from kassa.services.billing.rendering.credit_note_view import CreditNoteDocument
from kassa.services.context import Context, PaymentConfig
from kassa.store import Store


class CreditNoteBackend:
    """The credit notes the PDF link opens, from the store, through the services."""

    def __init__(self, store: Store, clock: Clock, payments: PaymentConfig) -> None:
        self.store = store
        self.clock = clock
        self.payments = payments

    async def load(self, note_id: str, secret: str) -> CreditNoteDocument | None:
        async with self.store.read() as tx:
            note = await credit_notes.note_for_page(tx, note_id, secret)
            if note is None:
                return None
            account_id = str(note.pop("account"))
            ctx = Context(account_id=account_id, tx=tx, clock=self.clock, payments=self.payments)
            return await build_credit_note_document(ctx, note)
