"""The hosted customer portal page (a billing portal session's `url`):

    GET  /kassa/portal/{session}?secret=...          the customer's subscriptions, invoices, card
    POST /kassa/portal/{session}/cancel?secret=...   cancel one subscription (`subscription`)
    POST /kassa/portal/{session}/card?secret=...     a new default card
    POST /kassa/portal/{session}/update?secret=...   switch a plan (`subscription`, `price`,
                                                     `quantity`)
    POST /kassa/portal/{session}/details?secret=...  the customer's email, name, phone,
                                                     address, shipping
    POST /kassa/portal/{session}/retention?secret=...  accept a cancel flow's retention coupon
    POST /kassa/portal/{session}/confirm?secret=...  confirm a `subscription_update_confirm`
                                                     flow's change

As on the hosted invoice and Checkout pages, the link's secret is the capability (for
`billing_portal.LINK_LIFETIME_SECONDS` from the session's creation; then the page says the
link expired), a POST another origin sent is refused, and nothing is cached, framed,
scripted or referred. Each section shows only when the session's configuration enables its
feature, and a POST to a disabled one is refused. A session with a deep-link flow opens on
that flow's action alone; once done, the page goes where its `after_completion` says (the
portal's home, a redirect, or a confirmation message).
"""

from __future__ import annotations

import re
import secrets
from typing import Final
from urllib.parse import parse_qs, quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from kassa.errors import CardError, InvalidParameter, InvalidRequest, KassaError, ResourceMissing
from kassa.pages import pay_attempts
from kassa.pages.invoice_page import FORM_BYTES_MAX, FORM_FIELD_CHARS_MAX, read_card_form
from kassa.pages.page_responses import (
    SECRET_PARAM,
    PageApp,
    PdfRenders,
)
from kassa.pages.page_responses import page_locale as browser_locale
from kassa.pages.portal_backend import PortalBackend, build_view, view_locale
from kassa.services.billing_portal import PAGE_PATH
from kassa.services.billing_portal_actions import PlanSwitch
from kassa.services.payment_methods import TypedCard

PATH_PREFIX: Final = PAGE_PATH
ACTIONS: Final = {
    "": "GET",
    "cancel": "POST",
    "card": "POST",
    "update": "POST",
    "details": "POST",
    "retention": "POST",
    "confirm": "POST",
}
CANCEL_FIELDS_MAX: Final = 4
SWITCH_FIELDS_MAX: Final = 6
DETAILS_FIELDS_MAX: Final = 24
"""email, name, phone, six address fields, and shipping's name and six: 16, with room."""
EXPIRED_MESSAGE: Final = "This portal link has expired. Go back and open the portal again."
CROSS_SITE_MESSAGE: Final = "This form was sent from another site; nothing was changed."
MISSING_CARD: Final = "Enter the card's number, expiry and CVC."
_SUBSCRIPTION_ID: Final = re.compile(r"sub_[A-Za-z0-9]{1,250}")
_QUANTITY: Final = re.compile(r"[0-9]{1,9}")


class PortalPages(PageApp):
    """The ASGI app for every path under `PATH_PREFIX`."""

    def __init__(
        self, backend: PortalBackend, public_url: str | None = None,
        renders: PdfRenders | None = None,
    ) -> None:  # fmt: skip
        super().__init__(renders, public_url)
        self.backend = backend

    async def respond(self, request: Request) -> Response:
        opened = self.open_link(request, PATH_PREFIX, ACTIONS)
        if isinstance(opened, Response):
            return opened
        session_id, action, secret = opened
        if action == "":
            return await self._page(request, session_id, secret)
        if not self.sent_from_here(request):
            return self.pages.message(403, CROSS_SITE_MESSAGE)
        try:
            if action == "cancel":
                fields = await _read_fields(request, CANCEL_FIELDS_MAX)
                subscription = _subscription_field(fields)
                feedback = fields.get("feedback") or None
                target = await self.backend.cancel(session_id, secret, subscription, feedback)
            elif action == "update":
                switch = _plan_switch(await _read_fields(request, SWITCH_FIELDS_MAX))
                target = await self.backend.switch_plan(session_id, secret, switch)
            elif action == "details":
                fields = await _read_fields(request, DETAILS_FIELDS_MAX)
                target = await self.backend.update_details(session_id, secret, fields)
            elif action == "retention":
                target = await self.backend.accept_retention(session_id, secret)
            elif action == "confirm":
                target = await self.backend.confirm_update(session_id, secret)
            else:
                read = await _read_card(request)
                if read is None:
                    return await self._page(request, session_id, secret, MISSING_CARD, 400)
                card, attempt = read
                target = await self.backend.update_card(session_id, secret, card, attempt)
        except ResourceMissing as missing:
            if missing.object_name == "billing_portal.session":  # the link, not the form's
                return self.pages.not_found()
            return await self._page(request, session_id, secret, missing.message, 400)
        except KassaError as error:
            status = 402 if isinstance(error, CardError) else 400
            return await self._page(request, session_id, secret, error.message, status)
        # A completed flow's `after_completion[redirect]`, else the page again (which shows
        # the portal's home, or the flow's confirmation message).
        return RedirectResponse(target or _path(session_id, secret), status_code=303)

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
            view=build_view(opened.contents, locale, opened.extras),
            error=error,
            cancel_url=_path(session_id, secret, "cancel"),
            card_url=_path(session_id, secret, "card"),
            update_url=_path(session_id, secret, "update"),
            details_url=_path(session_id, secret, "details"),
            retention_url=_path(session_id, secret, "retention"),
            confirm_url=_path(session_id, secret, "confirm"),
            attempt=secrets.token_urlsafe(pay_attempts.ATTEMPT_TOKEN_BYTES),
        )


def _path(session_id: str, secret: str, action: str = "") -> str:
    suffix = f"/{action}" if action else ""
    return f"{PATH_PREFIX}/{session_id}{suffix}?{SECRET_PARAM}={quote(secret, safe='')}"


async def _read_fields(request: Request, fields_max: int) -> dict[str, str]:
    """The form's fields (the first value of each, trimmed); a body too large reads as empty
    and is refused by what it then lacks, a form of more than `fields_max` fields is a 400."""
    body = await request.body()
    text = body.decode("utf-8", "replace") if len(body) <= FORM_BYTES_MAX else ""
    try:
        parsed = parse_qs(text, max_num_fields=fields_max)
    except ValueError as too_many:  # parse_qs's answer to more than max_num_fields
        raise InvalidRequest("This form has too many fields.") from too_many
    return {name: values[0].strip()[:FORM_FIELD_CHARS_MAX] for name, values in parsed.items()}


def _subscription_field(fields: dict[str, str]) -> str:
    """The form's subscription; a malformed one names no subscription of the customer's,
    and is refused as one."""
    subscription = fields.get("subscription", "")
    if not _SUBSCRIPTION_ID.fullmatch(subscription):
        raise ResourceMissing("subscription", subscription[:40], param="subscription")
    return subscription


def _plan_switch(fields: dict[str, str]) -> PlanSwitch:
    quantity = fields.get("quantity", "")
    if quantity and not _QUANTITY.fullmatch(quantity):
        raise InvalidParameter("Enter the quantity as a whole number.", param="quantity")
    return PlanSwitch(
        subscription_id=_subscription_field(fields),
        price=fields.get("price") or None,
        quantity=int(quantity) if quantity else None,
    )


async def _read_card(request: Request) -> tuple[TypedCard, str] | None:
    """The card form's card and its page view's `attempt` token."""
    form = await read_card_form(request)
    if form is None:
        return None
    card = TypedCard(
        number=form.number,
        exp_month=form.exp_month,
        exp_year=form.exp_year,
        cvc=form.cvc,
        name=form.name,
    )
    return card, form.attempt
