"""The hosted invoice page (`hosted_invoice_url`) and the invoice PDF (`invoice_pdf`):

    GET  /kassa/invoices/{invoice}?secret=...        the invoice, and a card form while it is owed
    GET  /kassa/invoices/{invoice}/pdf?secret=...    the PDF, inline, named after the number
    POST /kassa/invoices/{invoice}/pay?secret=...    pay it with the card in the form

The secret in the link is the capability, as with Stripe's hosted invoice links: no API key
and no cookie. That also makes the pay form safe from cross-site forgery (a forger would need
the secret), and a POST whose browser says it comes from another origin is refused besides.
No response caches, frames, scripts or sends a Referer (the link's secret must not leak:
`page_responses`, shared with the credit note PDF).

The page reaches invoices only through an `InvoicePageBackend`, which the composition root
builds over the invoice operations: this edge renders and routes, the backend decides.
A card that needs 3-D Secure is sent to the authentication page its PaymentIntent's
`next_action.redirect_to_url.url` names, which returns the browser here (`return_url`) with
`redirect_status`; the backend's `load` then shows whatever the payment came to.
"""

from __future__ import annotations

import functools
import logging
import re
import secrets
from dataclasses import dataclass
from typing import Final, Protocol
from urllib.parse import parse_qs, quote, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from kassa.errors import CardError, KassaError, ResourceMissing
from kassa.pages import pay_attempts
from kassa.pages.page_responses import (
    SECRET_PARAM,
    PageApp,
    PdfRenders,
    page_locale,
    page_route,
    pdf_filename,
)
from kassa.services.billing.rendering.invoice_document import render_pdf
from kassa.services.billing.rendering.invoice_view import InvoiceDocument, InvoiceView, build_view

log = logging.getLogger("kassa.pages")

PATH_PREFIX: Final = "/kassa/invoices"
"""`hosted_invoice_url` is `{public_url}/kassa/invoices/{id}?secret={secret}`, and
`invoice_pdf` the same with `/pdf` after the id."""

FORM_BYTES_MAX: Final = 4_096
FORM_FIELDS_MAX: Final = 10
FORM_FIELD_CHARS_MAX: Final = 100
CARD_FIELDS: Final = ("number", "exp_month", "exp_year", "cvc")


@dataclass(frozen=True, repr=False)
class CardForm:
    """What the customer typed. The number and CVC go to the backend and nowhere else: they
    are never logged, shown again, or part of this object's repr."""

    number: str
    exp_month: str
    exp_year: str
    cvc: str
    name: str
    attempt: str
    """A random token the page put in the form: one per page view, so the backend can use it
    as an idempotency key and a form sent twice pays once."""

    def __repr__(self) -> str:
        return f"CardForm(last4={self.number[-4:]!r}, attempt={self.attempt!r})"


@dataclass(frozen=True)
class PaymentStep:
    """What a payment attempt came to, when it did not fail."""

    redirect_url: str | None = None
    """Where the customer authenticates the payment (the PaymentIntent's
    `next_action.redirect_to_url.url`); None when the attempt is over and the invoice shows
    its outcome."""


class InvoicePageBackend(Protocol):
    """The invoice operations the page needs; the composition root supplies them.

    Both find the invoice by id and check `secret` (in constant time) against the one its
    links carry; a wrong secret is the same as no invoice. Domain errors (`CardError` for a
    decline or a bad number, `InvalidRequest` for an invoice that cannot be paid) are shown
    to the customer as their message.
    """

    async def load(self, invoice_id: str, secret: str) -> InvoiceDocument | None:
        """The invoice with what its page shows; None when there is no such invoice for
        this secret, or it is a draft (drafts have no hosted page or PDF)."""
        ...

    async def pay(
        self, invoice_id: str, secret: str, card: CardForm, return_url: str
    ) -> PaymentStep:
        """Pay what the invoice still owes with this card, charged through a PaymentIntent
        whose `return_url` is `return_url` (the page itself)."""
        ...


@dataclass(frozen=True)
class _Route:
    invoice_id: str
    action: str
    """'' (the page), 'pdf' or 'pay'."""


ACTIONS: Final = {"": "GET", "pdf": "GET", "pay": "POST"}


def route_for(path: str) -> _Route | None:
    found = page_route(path, PATH_PREFIX, ACTIONS)
    return None if found is None else _Route(*found)


def hosted_invoice_path(invoice_id: str, secret: str, action: str = "") -> str:
    suffix = f"/{action}" if action else ""
    return f"{PATH_PREFIX}/{invoice_id}{suffix}?{SECRET_PARAM}={quote(secret, safe='')}"


class InvoicePages(PageApp):
    """The ASGI app for every path under `PATH_PREFIX`."""

    def __init__(
        self,
        backend: InvoicePageBackend,
        public_url: str | None = None,
        renders: PdfRenders | None = None,
    ) -> None:
        super().__init__(renders, public_url)
        self.backend = backend
        """The origin customers reach Kassa at (`KASSA_PUBLIC_URL`); None uses the request's."""

    async def respond(self, request: Request) -> Response:
        route = route_for(request.url.path)
        if route is None:
            return self.pages.not_found()
        method = ACTIONS[route.action]
        if request.method != method:
            return self.wrong_method(method)
        secret = request.query_params.get(SECRET_PARAM, "")
        if route.action == "pdf":
            return await self._pdf(request, route.invoice_id, secret)
        if route.action == "pay":
            return await self._pay(request, route.invoice_id, secret)
        return await self._page(request, route.invoice_id, secret)

    # --- the page ------------------------------------------------------------------------

    async def _load(self, invoice_id: str, secret: str) -> InvoiceDocument | None:
        if not secret:
            return None
        document = await self.backend.load(invoice_id, secret)
        if document is None or document.invoice.get("status") == "draft":
            return None
        return document

    async def _page(self, request: Request, invoice_id: str, secret: str) -> Response:
        document = await self._load(invoice_id, secret)
        if document is None:
            return self.pages.not_found()
        view = build_view(document, page_locale(request, document.customer))
        error = ""
        if request.query_params.get("redirect_status") == "failed" and view.payable:
            error = view.text.authentication_failed
        return self._invoice(view, secret, error)

    def _invoice(self, view: InvoiceView, secret: str, error: str, status: int = 200) -> Response:
        return self.pages.render(
            "invoice.html",
            status,
            view=view,
            text=view.text,
            error=error,
            pdf_url=hosted_invoice_path(view.invoice_id, secret, "pdf"),
            pay_url=hosted_invoice_path(view.invoice_id, secret, "pay"),
            attempt=secrets.token_urlsafe(pay_attempts.ATTEMPT_TOKEN_BYTES),
        )

    # --- the PDF -------------------------------------------------------------------------

    async def _pdf(self, request: Request, invoice_id: str, secret: str) -> Response:
        document = await self._load(invoice_id, secret)
        if document is None:
            return self.pages.not_found()
        locale = page_locale(request, document.customer)
        render = functools.partial(render_pdf, document, locale)
        number = document.invoice.get("number") or document.invoice["id"]
        return await self.renders.respond(render, pdf_filename("Invoice", str(number)))

    # --- paying ----------------------------------------------------------------------------

    async def _pay(self, request: Request, invoice_id: str, secret: str) -> Response:
        if not self.sent_from_here(request):
            return self.pages.message(
                403, "This form was sent from another site; nothing was paid."
            )
        document = await self._load(invoice_id, secret)
        if document is None:
            return self.pages.not_found()
        page = hosted_invoice_path(invoice_id, secret)
        view = build_view(document, page_locale(request, document.customer))
        if not view.payable:
            return RedirectResponse(page, status_code=303)
        card = await read_card_form(request)
        if card is None:
            return self._invoice(view, secret, view.text.missing_card, 400)
        try:
            step = await self.backend.pay(invoice_id, secret, card, self.absolute(request, page))
        except KassaError as error:
            return await self._refused(request, invoice_id, secret, error)
        if step.redirect_url is None:
            return RedirectResponse(page, status_code=303)
        if urlsplit(step.redirect_url).scheme not in ("http", "https"):
            # A bug in the backend, not the customer's doing: say so without a 500.
            log.error("invoice %s: no web address to authenticate at", invoice_id)
            return self.pages.message(502, "The payment could not be started; nothing was charged.")
        return RedirectResponse(step.redirect_url, status_code=303)

    async def _refused(
        self, request: Request, invoice_id: str, secret: str, error: KassaError
    ) -> Response:
        """The invoice again, as it is after the failed attempt, with why it failed."""
        document = await self._load(invoice_id, secret)
        if document is None or isinstance(error, ResourceMissing):
            return self.pages.not_found()
        view = build_view(document, page_locale(request, document.customer))
        status = 402 if isinstance(error, CardError) else 400
        return self._invoice(view, secret, error.message, status)


async def read_card_form(request: Request) -> CardForm | None:
    """The card fields, or None when one is missing, empty or too long."""
    body = await request.body()
    if len(body) > FORM_BYTES_MAX:
        return None
    # The page's own small urlencoded form: parse_qs needs no multipart parser.
    parsed = parse_qs(body.decode("utf-8", "replace"), max_num_fields=FORM_FIELDS_MAX)
    fields = {name: values[0].strip() for name, values in parsed.items()}
    if any(len(value) > FORM_FIELD_CHARS_MAX for value in fields.values()):
        return None
    number = re.sub(r"[\s-]", "", fields.get("number", ""))
    if not number or not all(fields.get(name) for name in CARD_FIELDS[1:]):
        return None
    return CardForm(
        number=number,
        exp_month=fields["exp_month"],
        exp_year=fields["exp_year"],
        cvc=fields["cvc"],
        name=fields.get("name", ""),
        attempt=fields.get("attempt", ""),
    )
