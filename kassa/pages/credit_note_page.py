"""The credit note PDF (a credit note's `pdf`):

    GET  /kassa/credit_notes/{credit_note}/pdf?secret=...    the PDF, inline, named after the number

As with the invoice PDF (`invoice_page`), the secret in the link is the capability: no API
key and no cookie. A wrong or missing secret, an unknown note and any other path under the
prefix answer the same not-found page the invoice pages do (`page_responses`), whose
headers, and the PDF's, leak nothing; renders share the invoice PDF's bound (one
`PdfRenders` per server). Stripe has no hosted page for a credit note, so neither has Kassa.

The page reaches credit notes only through a `CreditNotePageBackend`, which the composition
root builds over the credit note operations.
"""

from __future__ import annotations

import functools
from typing import Final, Protocol

from starlette.requests import Request
from starlette.responses import Response

from kassa.pages.page_responses import (
    OBJECT_ID_PATTERN,
    SECRET_PARAM,
    PageApp,
    PdfRenders,
    page_locale,
    pdf_filename,
)
from kassa.services.billing import credit_notes
from kassa.services.billing.rendering.credit_note_document import render_credit_note
from kassa.services.billing.rendering.credit_note_view import CreditNoteDocument

PATH_PREFIX: Final = credit_notes.PAGE_PATH
"""A credit note's `pdf` is `{public_url}/kassa/credit_notes/{id}/pdf?secret={secret}`."""
PDF_ACTION: Final = "pdf"


class CreditNotePageBackend(Protocol):
    async def load(self, note_id: str, secret: str) -> CreditNoteDocument | None:
        """The note (every line), its invoice, customer and account; None when there is no
        such note for this secret (checked in constant time)."""
        ...


def note_id_for(path: str) -> str | None:
    """The note id of `{PATH_PREFIX}/{id}/pdf`; None for any other path."""
    if not path.startswith(PATH_PREFIX + "/"):
        return None
    note_id, _, action = path[len(PATH_PREFIX) + 1 :].partition("/")
    if not OBJECT_ID_PATTERN.fullmatch(note_id) or action != PDF_ACTION:
        return None
    return note_id


class CreditNotePages(PageApp):
    """The ASGI app for every path under `PATH_PREFIX`."""

    def __init__(self, backend: CreditNotePageBackend, renders: PdfRenders | None = None) -> None:
        super().__init__(renders)
        self.backend = backend

    async def respond(self, request: Request) -> Response:
        note_id = note_id_for(request.url.path)
        if note_id is None:
            return self.pages.not_found()
        if request.method != "GET":
            return self.wrong_method("GET")
        secret = request.query_params.get(SECRET_PARAM, "")
        document = await self.backend.load(note_id, secret) if secret else None
        if document is None:
            return self.pages.not_found()
        locale = page_locale(request, document.customer)
        render = functools.partial(render_credit_note, document, locale)
        number = str(document.note.get("number") or document.note["id"])
        return await self.renders.respond(render, pdf_filename("CreditNote", number))
