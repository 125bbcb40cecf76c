"""The hosted customer portal page (a billing portal session's `url`):

    GET  /kassa/portal/{session}?secret=...          the customer's subscriptions, invoices, card
    POST /kassa/portal/{session}/cancel?secret=...   cancel one subscription (`subscription`)
    POST /kassa/portal/{session}/card?secret=...     a new default card

As on the hosted invoice and Checkout pages, the link's secret is the capability (for
`billing_portal.LINK_LIFETIME_SECONDS` from the session's creation; then the page says the
link expired), a POST another origin sent is refused, and nothing is cached, framed,
scripted or referred. Each section shows only when the session's configuration enables its
feature, and a POST to a disabled one is refused.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import parse_qs, quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from kassa.errors import CardError, KassaError, ResourceMissing
from kassa.pages.invoice_page import FORM_BYTES_MAX, FORM_FIELD_CHARS_MAX, read_card_form
from kassa.pages.page_responses import (
    SECRET_PARAM,
    PageApp,
    PdfRenders,
    same_origin,
)
from kassa.pages.page_responses import page_locale as browser_locale
from kassa.pages.portal_backend import PortalBackend, build_view, view_locale
from kassa.services.billing_portal import PAGE_PATH
from kassa.services.payment_methods import TypedCard

PATH_PREFIX: Final = PAGE_PATH
ACTIONS: Final = {"": "GET", "cancel": "POST", "card": "POST"}
CANCEL_FIELDS_MAX: Final = 4
EXPIRED_MESSAGE: Final = "This portal link has expired. Go back and open the portal again."
CROSS_SITE_MESSAGE: Final = "This form was sent from another site; nothing was changed."
MISSING_CARD: Final = "Enter the card's number, expiry and CVC."
_SUBSCRIPTION_ID: Final = re.compile(r"sub_[A-Za-z0-9]{1,250}")


class PortalPages(PageApp):
    """The ASGI app for every path under `PATH_PREFIX`."""

    def __init__(
        self, backend: PortalBackend, public_url: str | None = None,
        renders: PdfRenders | None = None,
    ) -> None:  # fmt: skip
        super().__init__(renders)
        self.backend = backend
        self.public_url = public_url.rstrip("/") if public_url else None

    async def respond(self, request: Request) -> Response:
        opened = self.open_link(request, PATH_PREFIX, ACTIONS)
        if isinstance(opened, Response):
            return opened
        session_id, action, secret = opened
        if action == "":
            return await self._page(request, session_id, secret)
        if not same_origin(request, self.public_url):
            return self.pages.message(403, CROSS_SITE_MESSAGE)
        try:
            if action == "cancel":
                subscription, feedback = await _read_cancel(request)
                await self.backend.cancel(session_id, secret, subscription, feedback)
            else:
                card = await _read_card(request)
                if card is None:
                    return await self._page(request, session_id, secret, MISSING_CARD, 400)
                await self.backend.update_card(session_id, secret, card)
        except ResourceMissing as missing:
            if missing.object_name == "billing_portal.session":  # the link, not the form's
                return self.pages.not_found()
            return await self._page(request, session_id, secret, missing.message, 400)
        except KassaError as error:
            status = 402 if isinstance(error, CardError) else 400
            return await self._page(request, session_id, secret, error.message, status)
        return RedirectResponse(_path(session_id, secret), status_code=303)

    async def _page(
        self, request: Request, session_id: str, secret: str, error: str = "", status: int = 200
    ) -> Response:
        try:
            opened = await self.backend.load(session_id, secret)
        except KassaError:  # the customer or configuration is gone: the link opens nothing
            opened = None
        if opened is None:
            return self.pages.not_found()
        if opened.contents is None:
            return self.pages.message(410, EXPIRED_MESSAGE)
        locale = view_locale(opened.contents, browser_locale(request, opened.contents.customer))
        return self.pages.render(
            "portal.html",
            status,
            view=build_view(opened.contents, locale),
            error=error,
            cancel_url=_path(session_id, secret, "cancel"),
            card_url=_path(session_id, secret, "card"),
        )


def _path(session_id: str, secret: str, action: str = "") -> str:
    suffix = f"/{action}" if action else ""
    return f"{PATH_PREFIX}/{session_id}{suffix}?{SECRET_PARAM}={quote(secret, safe='')}"


async def _read_cancel(request: Request) -> tuple[str, str | None]:
    """(the subscription to cancel, the reason chosen); a malformed form names no
    subscription of the customer's, and is refused as one."""
    body = await request.body()
    text = body.decode("utf-8", "replace") if len(body) <= FORM_BYTES_MAX else ""
    parsed = parse_qs(text, max_num_fields=CANCEL_FIELDS_MAX)
    fields = {name: values[0].strip()[:FORM_FIELD_CHARS_MAX] for name, values in parsed.items()}
    subscription = fields.get("subscription", "")
    if not _SUBSCRIPTION_ID.fullmatch(subscription):
        raise ResourceMissing("subscription", subscription[:40], param="subscription")
    return subscription, fields.get("feedback") or None


async def _read_card(request: Request) -> TypedCard | None:
    form = await read_card_form(request)
    if form is None:
        return None
    return TypedCard(
        number=form.number,
        exp_month=form.exp_month,
        exp_year=form.exp_year,
        cvc=form.cvc,
        name=form.name,
    )
