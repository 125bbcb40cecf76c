"""The hosted Checkout page (a Checkout Session's `url`):

    GET  /kassa/checkout/{session}?secret=...       the line items, total, and a card form
    POST /kassa/checkout/{session}/pay?secret=...   pay (or subscribe, or save the card) at
                                                    the quantities and amounts sent;
                                                    `action=update` changes them only,
                                                    `action=remove_promotion_code` takes
                                                    off the code typed on the page
    GET  /kassa/checkout/link/{payment_link}        a Payment Link's `url`: a new session
                                                    from the link, and on to its page

As on the hosted invoice page (`invoice_page`), the link's secret is the capability, a POST
another origin sent is refused, and nothing is cached, framed, scripted or referred. A card
that asks for 3-D Secure is sent to Kassa's challenge page, which returns the browser here;
a complete session sends the browser on to its `success_url` (`{CHECKOUT_SESSION_ID}`
replaced), or, made from a Payment Link that confirms on the page, shows the link's message;
an expired one says so. A link that no longer opens (inactive, its completed sessions at
their limit, or a price or shipping rate of it archived) says so too (410). A declined card
is shown, and the session stays open.
"""

from __future__ import annotations

import re
import secrets
from typing import Final
from urllib.parse import parse_qs, quote, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from kassa.errors import CardError, KassaError, ResourceMissing
from kassa.pages import pay_attempts
from kassa.pages.checkout_backend import CheckoutBackend, CheckoutView, success_redirect
from kassa.pages.invoice_page import CARD_FIELDS, FORM_BYTES_MAX, FORM_FIELD_CHARS_MAX
from kassa.pages.page_responses import (
    SECRET_PARAM,
    PageApp,
    PdfRenders,
)
from kassa.services import checkout_shipping
from kassa.services.checkout_choices import PageChoices
from kassa.services.checkout_documents import PAGE_PATH
from kassa.services.checkout_session_params import PAYMENT_LINE_ITEMS_MAX
from kassa.services.checkout_shipping import ShippingAddress
from kassa.services.payment_link_documents import PAGE_PATH as LINK_PAGE_PATH
from kassa.services.payment_methods import TypedCard

PATH_PREFIX: Final = PAGE_PATH
QUANTITY_FIELD_PREFIX: Final = "quantity-"
"""An adjustable line's quantity field: `quantity-<the line's index>`."""
AMOUNT_FIELD_PREFIX: Final = "amount-"
"""A custom-amount line's amount field: `amount-<the line's index>`."""
SHIPPING_FIELD_PREFIX: Final = "shipping_"
"""A shipping address field: `shipping_<name|line1|line2|city|postal_code|state|country>`."""
FORM_FIELDS_MAX: Final = 20 + PAYMENT_LINE_ITEMS_MAX
"""The card, email, attempt, action, shipping option and shipping address fields, and a
quantity field per line at most."""
ACTIONS: Final = {"": "GET", "pay": "POST"}
UPDATE_ACTION: Final = "update"
"""The pay form's `action` that changes the choices and pays nothing."""
REMOVE_CODE_ACTION: Final = "remove_promotion_code"
"""The Remove button's `action`: the promotion code typed on the page taken off, the amounts
worked out again without it."""
EXPIRED_MESSAGE: Final = "This checkout session has expired."
LINK_PATH_PREFIX: Final = LINK_PAGE_PATH
THANKS_PAID: Final = "Thanks for your payment."
"""What a complete session from a Payment Link with no custom message shows (payment and
setup)."""
THANKS_SUBSCRIBED: Final = "Thanks for subscribing."


class CheckoutPages(PageApp):
    """The ASGI app for every path under `PATH_PREFIX`."""

    def __init__(
        self,
        backend: CheckoutBackend,
        public_url: str | None = None,
        renders: PdfRenders | None = None,
    ) -> None:
        super().__init__(renders, public_url)
        self.backend = backend

    async def respond(self, request: Request) -> Response:
        if request.url.path.startswith(LINK_PATH_PREFIX + "/"):
            return await self._visit_link(request)
        opened = self.open_link(request, PATH_PREFIX, ACTIONS)
        if isinstance(opened, Response):
            return opened
        session_id, action, secret = opened
        if action == "pay":
            return await self._pay(request, session_id, secret)
        return await self._page(request, session_id, secret)

    async def _page(self, request: Request, session_id: str, secret: str) -> Response:
        view = await self.backend.load(session_id, secret)
        if view is None:
            return self.pages.not_found()
        if view.status == "complete":
            target = success_redirect(view)
            if target is None:
                return self._confirmation(view)
            return RedirectResponse(target, status_code=303)
        if view.status == "expired":
            return self.pages.message(410, EXPIRED_MESSAGE)
        error = ""
        if request.query_params.get("redirect_status") == "failed":
            error = "The card was not authenticated. Try again, or use another card."
        return self._checkout(view, secret, error)

    async def _visit_link(self, request: Request) -> Response:
        """A Payment Link's `url`: each visit a new session, the browser sent to its page."""
        if request.method != "GET":
            return self.wrong_method("GET")
        link_id = request.url.path[len(LINK_PATH_PREFIX) + 1 :]
        visit = await self.backend.visit_link(link_id)
        if visit is None:
            return self.pages.not_found()
        if visit.session_url is None:
            return self.pages.message(410, visit.unavailable or "")
        return RedirectResponse(visit.session_url, status_code=303)

    def _confirmation(self, view: CheckoutView) -> Response:
        default = THANKS_SUBSCRIBED if view.mode == "subscription" else THANKS_PAID
        return self.pages.render(
            "checkout_complete.html", 200, view=view, message=view.confirmation or default
        )

    def _checkout(self, view: CheckoutView, secret: str, error: str, status: int = 200) -> Response:
        return self.pages.render(
            "checkout.html",
            status,
            view=view,
            error=error,
            pay_url=_path(view.session_id, secret, "pay"),
            attempt=secrets.token_urlsafe(pay_attempts.ATTEMPT_TOKEN_BYTES),
        )

    async def _pay(self, request: Request, session_id: str, secret: str) -> Response:
        if not self.sent_from_here(request):
            return self.pages.message(
                403, "This form was sent from another site; nothing was paid."
            )
        view = await self.backend.load(session_id, secret)
        if view is None:
            return self.pages.not_found()
        page = _path(session_id, secret)
        if view.status != "open":
            return RedirectResponse(page, status_code=303)
        fields = await _read_fields(request)
        quantities = None if fields is None else _quantities(fields)
        if fields is None or quantities is None:
            return self._checkout(view, secret, "Enter each quantity as a whole number.", 400)
        action = fields.get("action")
        wanted = PageChoices(
            quantities,
            _amounts(fields),
            fields.get("promotion_code", ""),
            fields.get("shipping_rate", ""),
            remove_promotion_code=action == REMOVE_CODE_ACTION,
        )
        if action in (UPDATE_ACTION, REMOVE_CODE_ACTION):
            try:
                await self.backend.update_choices(session_id, secret, wanted)
            except KassaError as error:
                return await self._refused(session_id, secret, error)
            return RedirectResponse(page, status_code=303)
        card = _card(fields)
        if card is None:
            return self._checkout(view, secret, "Enter the card's number, expiry and CVC.", 400)
        email, attempt = fields.get("email") or None, fields.get("attempt", "")
        try:
            step = await self.backend.pay(
                session_id, secret, card, email, attempt, self.absolute(request, page), wanted,
                _address(fields),
            )  # fmt: skip
        except KassaError as error:
            return await self._refused(session_id, secret, error)
        if step.challenge_url is not None:
            if urlsplit(step.challenge_url).scheme not in ("http", "https"):
                return self.pages.message(502, "The payment could not be started.")
            return RedirectResponse(step.challenge_url, status_code=303)
        return RedirectResponse(page, status_code=303)

    async def _refused(self, session_id: str, secret: str, error: KassaError) -> Response:
        view = await self.backend.load(session_id, secret)
        if view is None or isinstance(error, ResourceMissing):
            return self.pages.not_found()
        status = 402 if isinstance(error, CardError) else 400
        return self._checkout(view, secret, error.message, status)


def _path(session_id: str, secret: str, action: str = "") -> str:
    suffix = f"/{action}" if action else ""
    return f"{PATH_PREFIX}/{session_id}{suffix}?{SECRET_PARAM}={quote(secret, safe='')}"


async def _read_fields(request: Request) -> dict[str, str] | None:
    """The form's fields, or None when it is too large or a field too long."""
    body = await request.body()
    if len(body) > FORM_BYTES_MAX:
        return None
    try:
        parsed = parse_qs(body.decode("utf-8", "replace"), max_num_fields=FORM_FIELDS_MAX)
    except ValueError:  # more fields than any page of ours sends
        return None
    fields = {name: values[0].strip() for name, values in parsed.items()}
    if any(len(value) > FORM_FIELD_CHARS_MAX for value in fields.values()):
        return None
    return fields


def _quantities(fields: dict[str, str]) -> dict[int, int] | None:
    """The adjustable lines' quantity fields (`quantity-<line index>`) as numbers, or None
    when one is not a whole number."""
    wanted = {}
    for name, value in fields.items():
        index = name.removeprefix(QUANTITY_FIELD_PREFIX)
        if index == name or not index.isdigit():
            continue
        if not value.isdigit():
            return None
        wanted[int(index)] = int(value)
    return wanted


def _amounts(fields: dict[str, str]) -> dict[int, str]:
    """The custom-amount lines' fields (`amount-<line index>`) as typed: the service reads
    them in the line's currency."""
    return {
        int(index): value
        for name, value in fields.items()
        if (index := name.removeprefix(AMOUNT_FIELD_PREFIX)) != name and index.isdigit()
    }


def _address(fields: dict[str, str]) -> ShippingAddress:
    """The shipping address fields the form sent (the service checks them)."""
    return ShippingAddress(
        {
            name: fields.get(SHIPPING_FIELD_PREFIX + name, "")
            for name in checkout_shipping.ADDRESS_FIELDS
        }
    )


def _card(fields: dict[str, str]) -> TypedCard | None:
    """The card the form sent, or None when a card field is missing."""
    number = re.sub(r"[\s-]", "", fields.get("number", ""))
    if not number or not all(fields.get(name) for name in CARD_FIELDS[1:]):
        return None
    return TypedCard(
        number=number,
        exp_month=fields["exp_month"],
        exp_year=fields["exp_year"],
        cvc=fields["cvc"],
        name=fields.get("name", ""),
    )
