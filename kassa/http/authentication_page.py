"""The test 3-D Secure page a `requires_action` PaymentIntent's or SetupIntent's
`next_action` points to: `GET /kassa/authenticate/{intent}?client_secret=...` shows the
challenge, and its two buttons complete or fail it, then return the browser to the intent's
`return_url`. The id's prefix (`pi_`, `seti_`) says which kind of intent it is.

The client secret is the capability, as with Stripe's hosted pages: no API key is needed.
"""

from __future__ import annotations

import html
from urllib.parse import parse_qs, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from kassa.asgi import Receive, Scope, Send
from kassa.clock import Clock
from kassa.errors import KassaError
from kassa.services import intent_helpers, payment_intents, setup_intents
from kassa.services.context import Context, PaymentConfig
from kassa.services.resource import ApiObject
from kassa.store import Store
from kassa.store.tables import PAYMENT_INTENTS, SETUP_INTENTS, ObjectTable

PATH_PREFIX = intent_helpers.AUTHENTICATE_PATH + "/"
OUTCOMES = ("complete", "fail")
FORM_BYTES_MAX = 4_096
FORM_FIELDS_MAX = 10
_SETUP_PREFIX = setup_intents.RESOURCE.id_prefix + "_"

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Kassa test authentication</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 32rem; margin: 3rem auto; padding: 0 1rem; }}
button {{ font-size: 1rem; padding: .6rem 1.2rem; margin-right: .8rem; }}
.note {{ color: #555; }}
</style></head>
<body>
<h1>Test 3-D Secure authentication</h1>
<p>{summary}</p>
<p class="note">This page stands in for the card issuer's challenge. Nothing is real.</p>
{body}
</body></html>
"""


class AuthenticationPage:
    def __init__(self, store: Store, clock: Clock, payments: PaymentConfig) -> None:
        self.store = store
        self.clock = clock
        self.payments = payments

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response = await self._respond(request)
        await response(scope, receive, send)

    async def _respond(self, request: Request) -> Response:
        intent_id = request.url.path[len(PATH_PREFIX) :]
        if request.method == "POST":
            body = await request.body()
            if len(body) > FORM_BYTES_MAX:
                return _message(413, "The form is too large.")
            # The page's own two-field form: parse_qs needs no multipart parser.
            form = parse_qs(body.decode("utf-8", "replace"), max_num_fields=FORM_FIELDS_MAX)
            secret = form.get("client_secret", [""])[0]
            outcome = form.get("outcome", [""])[0]
            if outcome not in OUTCOMES:
                return _message(400, "Choose to complete or fail the authentication.")
        elif request.method == "GET":
            secret, outcome = request.query_params.get("client_secret", ""), ""
        else:
            return _message(405, "Use GET to see the challenge and POST to answer it.")
        try:
            found = await self._run(intent_id, secret, outcome or None)
        except KassaError as error:
            if error.param == "client_secret":
                found = None  # a wrong secret says no more than a missing intent does
            else:
                return _message(400, error.message)
        if found is None:
            return _message(404, "No such intent, or the client secret does not match.")
        intent, return_url = found
        if outcome:
            return _after(intent, return_url)
        return _challenge(intent, secret)

    async def _run(
        self, intent_id: str, secret: str, outcome: str | None
    ) -> tuple[ApiObject, str | None] | None:
        writes = outcome is not None
        setup = intent_id.startswith(_SETUP_PREFIX)
        table: ObjectTable = SETUP_INTENTS if setup else PAYMENT_INTENTS
        async with self.store.write() if writes else self.store.read() as tx:
            account_id = await tx.find_object_owner(table, intent_id)
            if account_id is None or not secret:
                return None
            ctx = Context(account_id=account_id, tx=tx, clock=self.clock, payments=self.payments)
            finish = (
                setup_intents.authenticate_with_client_secret
                if setup
                else payment_intents.authenticate_with_client_secret
            )
            return await finish(ctx, intent_id, secret, outcome)


_HEADERS = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}
"""The page's address holds the intent's client secret: no cache keeps it, and no link
followed from the page sends it on. Framing stays allowed: a merchant may show a 3-D Secure
redirect in an iframe."""


def _message(status: int, text: str) -> HTMLResponse:
    return _html(_PAGE.format(summary=html.escape(text), body=""), status)


def _html(page: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(page, status_code=status, headers=_HEADERS)


def _kind(intent: ApiObject) -> str:
    return "SetupIntent" if intent["object"] == "setup_intent" else "PaymentIntent"


def _challenge(intent: ApiObject, secret: str) -> HTMLResponse:
    if intent["status"] != "requires_action":
        return _message(
            409, f"This {_kind(intent)} is {intent['status']}; nothing to authenticate."
        )
    buttons = "".join(
        f'<form method="post" style="display:inline">'
        f'<input type="hidden" name="client_secret" value="{html.escape(secret)}">'
        f'<button name="outcome" value="{outcome}" id="{outcome}">'
        f"{'Complete' if outcome == 'complete' else 'Fail'} authentication</button></form>"
        for outcome in OUTCOMES
    )
    if intent["object"] == "setup_intent":
        summary = f"Saving a card for later payments ({html.escape(intent['id'])})."
    else:
        amount = f"{intent['amount']} {intent['currency'].upper()} (minor units)"
        summary = f"Payment {html.escape(intent['id'])} of {html.escape(amount)}."
    return _html(_PAGE.format(summary=summary, body=buttons))


def _after(intent: ApiObject, redirect: str | None) -> Response:
    succeeded = intent["status"] in ("succeeded", "requires_capture", "processing")
    if redirect:
        # Stripe names the intent by its kind: `payment_intent=...` or `setup_intent=...`.
        kind = str(intent["object"])
        query = urlencode(
            {
                kind: intent["id"],
                f"{kind}_client_secret": intent["client_secret"],
                "redirect_status": "succeeded" if succeeded else "failed",
            }
        )
        separator = "&" if "?" in redirect else "?"
        return RedirectResponse(f"{redirect}{separator}{query}", 303, headers=_HEADERS)
    return _message(200, f"Authentication finished: the {_kind(intent)} is now {intent['status']}.")
