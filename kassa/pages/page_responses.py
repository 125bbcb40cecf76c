"""What every customer-facing page answers with (the hosted invoice page, the invoice PDF and
the credit note PDF): HTML from this package's templates with headers that leak nothing, the
one not-found page every bad link gets, and PDFs rendered on a thread, a few at a time.

No response caches, frames, scripts or sends a Referer: a link's secret must not leak.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from typing import Final
from urllib.parse import urlsplit

import jinja2
from babel import Locale
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from kassa.asgi import Receive, Scope, Send
from kassa.services.billing.rendering.invoice_view import DEFAULT_LOCALE, parse_locale
from kassa.services.billing.rendering.render_bound import RenderBound

SECRET_PARAM: Final = "secret"
SAFE_FETCH_SITES: Final = frozenset({"same-origin", "none"})
"""`Sec-Fetch-Site` values of a form sent from the page itself (or typed by hand)."""
OBJECT_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9_]{1,255}")
ACCEPT_LANGUAGE_TAGS_MAX: Final = 8

NOT_FOUND_MESSAGE: Final = "This document does not exist, or the link to it is incomplete."
"""The one answer to a wrong or missing secret and to an unknown id alike: a link that does
not open tells nothing of what exists."""

FILENAME_UNSAFE: Final = re.compile(r"[^A-Za-z0-9_-]+")

SECURITY_HEADERS: Final = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}
# No `form-action`: the pay form's answer may redirect to the 3-D Secure page, which need not
# share this page's origin, and browsers apply form-action to that redirect too.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; style-src 'nonce-{nonce}'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'"
)


class HtmlPages:
    """The package's templates, rendered with the security headers and a fresh style nonce."""

    def __init__(self) -> None:
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("kassa.pages", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            auto_reload=False,  # package files: no stat of each template per render
        )

    def render(self, template: str, status: int, **data: object) -> HTMLResponse:
        nonce = secrets.token_urlsafe(16)
        body = self.templates.get_template(template).render(nonce=nonce, **data)
        headers = {
            **SECURITY_HEADERS,
            "content-security-policy": CONTENT_SECURITY_POLICY.format(nonce=nonce),
        }
        return HTMLResponse(body, status_code=status, headers=headers)

    def message(self, status: int, message: str) -> HTMLResponse:
        return self.render("message.html", status, message=message, lang=DEFAULT_LOCALE)

    def not_found(self) -> HTMLResponse:
        return self.message(404, NOT_FOUND_MESSAGE)


class PdfRenders:
    """The pages' PDFs, rendered under the server's one `RenderBound` (shared with the API's
    downloads), and answered inline."""

    def __init__(self, pages: HtmlPages, bound: RenderBound | None = None) -> None:
        self.pages = pages
        self.bound = bound or RenderBound()

    async def respond(self, render: Callable[[], bytes], filename: str) -> Response:
        """`render()`'s PDF, inline as `filename`; a 503 when too many are waiting."""
        pdf = await self.bound.render(render)
        if pdf is None:
            response = self.pages.message(503, "Too many documents are being rendered; try again.")
            response.headers["retry-after"] = "1"
            return response
        headers = {**SECURITY_HEADERS, "content-disposition": f'inline; filename="{filename}"'}
        return Response(pdf, media_type="application/pdf", headers=headers)


class PageApp:
    """An ASGI app answering each request with `respond`, with the PDF render bound (and its
    templates) it shares with the other pages: the composition root passes one; a page made
    alone gets its own."""

    def __init__(self, renders: PdfRenders | None = None, public_url: str | None = None) -> None:
        self.renders = renders or PdfRenders(HtmlPages())
        self.pages = self.renders.pages
        self.public_url = public_url.rstrip("/") if public_url else None
        """`KASSA_PUBLIC_URL`: where the pages' links point, and a host their forms may come
        from."""

    def absolute(self, request: Request, path: str) -> str:
        """`path` on the pages' public address (else the address this request came to)."""
        base = self.public_url or str(request.base_url).rstrip("/")
        return base + path

    def sent_from_here(self, request: Request) -> bool:
        """Whether a form came from the pages' own site (`same_origin`)."""
        return same_origin(request, self.public_url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response = await self.respond(request)
        await response(scope, receive, send)

    async def respond(self, request: Request) -> Response:
        raise NotImplementedError

    def wrong_method(self, method: str) -> Response:
        """The 405 for a path answered only to `method`."""
        response = self.pages.message(405, f"Use {method} here.")
        response.headers["allow"] = method
        return response

    def open_link(
        self, request: Request, prefix: str, actions: Mapping[str, str]
    ) -> tuple[str, str, str] | Response:
        """(the object's id, the action, the link's secret) of a request to a page whose link
        carries a secret, or the answer to a request that cannot be one: 404 for an unknown
        path or a missing secret, 405 for the wrong method."""
        found = page_route(request.url.path, prefix, actions)
        if found is None:
            return self.pages.not_found()
        object_id, action = found
        if request.method != actions[action]:
            return self.wrong_method(actions[action])
        secret = request.query_params.get(SECRET_PARAM, "")
        if not secret:
            return self.pages.not_found()
        return object_id, action, secret


def page_route(path: str, prefix: str, actions: Mapping[str, str]) -> tuple[str, str] | None:
    """(the object's id, the action) of a page's path under `prefix`: `/prefix/{id}` is the
    action '', `/prefix/{id}/pay` is 'pay'; None for a path no page answers."""
    if not path.startswith(prefix + "/"):
        return None
    object_id, _, action = path[len(prefix) + 1 :].partition("/")
    if not OBJECT_ID_PATTERN.fullmatch(object_id) or action not in actions:
        return None
    return object_id, action


def same_origin(request: Request, public_url: str | None) -> bool:
    """False when the browser says a form came from another origin than the page's (its
    request's host, or `public_url`'s). A client that sends neither header (not a browser)
    is let through: a link's secret still guards the page."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site in SAFE_FETCH_SITES
    origin = request.headers.get("origin")
    # The pages' `no-referrer` policy makes browsers send `Origin: null` with their forms;
    # those browsers also send Sec-Fetch-Site, which decided above.
    if origin is None or origin == "null":
        return True
    hosts = {request.headers.get("host", "")}
    if public_url:
        hosts.add(urlsplit(public_url).netloc)
    return urlsplit(origin).netloc in hosts


def page_locale(request: Request, customer: Mapping[str, object]) -> str:
    """The customer's first known `preferred_locales` entry (what Stripe renders invoices
    in), else the browser's first known language, else English."""
    preferred = customer.get("preferred_locales")
    tags = list(preferred) if isinstance(preferred, list) else []
    accept = request.headers.get("accept-language", "")
    tags += [part.split(";")[0].strip() for part in accept.split(",")[:ACCEPT_LANGUAGE_TAGS_MAX]]
    for tag in tags:
        parsed = parse_locale(tag)
        if parsed is not None:
            return str(parsed)
    return str(Locale.parse(DEFAULT_LOCALE))


def pdf_filename(kind: str, number: str) -> str:
    """`Invoice-ABCD-0001.pdf`: the kind and number, reduced to characters every browser
    keeps."""
    return f"{kind}-{FILENAME_UNSAFE.sub('-', number).strip('-')}.pdf"
