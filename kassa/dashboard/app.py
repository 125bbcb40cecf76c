"""The dashboard at `/dashboard`: server-rendered pages over the same services the API uses.

Every page but sign-in needs a session (an `HttpOnly`, `SameSite=Lax` cookie naming a
server-side session); every POST needs the session's CSRF token; every read and write runs as
the session's account, through a `Context` like an API request's, so another account's objects
cannot be reached. Pages are declared in `kassa/dashboard/pages/*` and only render: what they
show, and the actions they offer, come from their views in `kassa/dashboard/views/*` (one per
page module), which read through the services and the store and act through the services'
typed operations.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route, Router

from kassa import money
from kassa.asgi import Receive, Scope, Send
from kassa.clock import Clock
from kassa.dashboard import sessions as dashboard_sessions
from kassa.errors import KassaError, NotAuthenticated, ResourceMissing, RouteNotFound
from kassa.services.context import Context, PaymentConfig
from kassa.store import Store
from kassa.store.dashboard_queries import DashboardSession

PREFIX = "/dashboard"
SESSION_COOKIE = "kassa_session"
LOGIN_CSRF_COOKIE = "kassa_login_csrf"
FLASH_COOKIE = "kassa_flash"
FLASH_KINDS = ("notice", "error")
FLASH_SECONDS = 60
"""A redirect's message lives this long unread (a redirect is followed at once)."""
FLASH_CHARS_MAX = 1_000
"""A cookie holds about 4 KB; a message longer than this is cut."""
FORM_BYTES_MAX = 16_384
FORM_FIELDS_MAX = 50
PAGE_SIZE = 25
"""Rows per list page: every list is one indexed page of this many, never a count."""

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}

log = logging.getLogger("kassa.dashboard")

Handler = Callable[["View"], Awaitable[Response]]


@dataclass(frozen=True)
class Page:
    """One dashboard route: `path` below `/dashboard`, and its handler."""

    path: str
    handler: Handler
    methods: tuple[str, ...] = ("GET",)


@dataclass
class View:
    """What a page handler gets: the request, the signed-in session, and ways to read, write,
    render and redirect as that session's account."""

    request: Request
    dashboard: Dashboard
    session: DashboardSession
    form: Mapping[str, str] = field(default_factory=dict)

    @property
    def account_id(self) -> str:
        return self.session.account_id

    def param(self, name: str) -> str:
        """A query parameter (GET) or form field (POST), stripped; '' when absent."""
        value = self.form.get(name)
        if value is None:
            value = self.request.query_params.get(name, "")
        return value.strip()

    def path_param(self, name: str) -> str:
        return str(self.request.path_params[name])

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Context]:
        async with self.dashboard.store.read() as tx:
            yield self._context(tx)

    @asynccontextmanager
    async def scanning(self) -> AsyncIterator[Context]:
        """For reads of whole tables (a ledger verify), which must not stall other requests."""
        async with self.dashboard.store.scan() as tx:
            yield self._context(tx)

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[Context]:
        async with self.dashboard.store.write() as tx:
            yield self._context(tx)

    def _context(self, tx: Any) -> Context:
        return Context(
            account_id=self.account_id,
            tx=tx,
            clock=self.dashboard.clock,
            payments=self.dashboard.payments,
        )

    def render(self, template: str, status: int = 200, **data: Any) -> HTMLResponse:
        flash = _read_flash(self.request.cookies.get(FLASH_COOKIE, ""))
        response = self.dashboard.render(
            template,
            status,
            session=self.session,
            path=self.request.url.path,
            notice=flash.get("notice", ""),
            error=flash.get("error", ""),
            **data,
        )
        if FLASH_COOKIE in self.request.cookies:
            response.delete_cookie(FLASH_COOKIE, path=PREFIX)  # shown once
        return response

    def redirect(self, path: str, *, notice: str = "", error: str = "") -> RedirectResponse:
        """After a POST, back to a page (Post/Redirect/Get) with a message to show once.

        The message travels in a cookie only this server sets, not in the address: a link
        with `?error=...` would let anyone show their own words in the dashboard's banner."""
        response = RedirectResponse(f"{PREFIX}{path}", status_code=303)
        flash = {k: v[:FLASH_CHARS_MAX] for k, v in (("notice", notice), ("error", error)) if v}
        if flash:
            response.set_cookie(
                FLASH_COOKIE,
                _encode_flash(flash),
                max_age=FLASH_SECONDS,
                path=PREFIX,
                httponly=True,
                samesite="strict",
            )
        return response


def _encode_flash(flash: Mapping[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(flash).encode()).decode("ascii")


def _read_flash(cookie: str) -> dict[str, str]:
    """The messages a redirect left; nothing for a cookie this server did not write."""
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cookie.encode("ascii")))
    except (ValueError, UnicodeError):
        return {}
    if not isinstance(decoded, dict):
        return {}
    return {k: v for k, v in decoded.items() if k in FLASH_KINDS and isinstance(v, str)}


class Dashboard:
    def __init__(
        self, store: Store, clock: Clock, payments: PaymentConfig, pages: tuple[Page, ...]
    ) -> None:
        self.store = store
        self.clock = clock
        self.payments = payments
        self.templates = _environment()
        routes = [
            Route(PREFIX + "/login", self._login, methods=["GET", "POST"]),
            Route(PREFIX + "/logout", self._logout, methods=["POST"]),
            Route(PREFIX + "/static/{name}", _static, methods=["GET"]),
        ]
        routes += [
            Route(PREFIX + page.path, self._guarded(page.handler), methods=list(page.methods))
            for page in pages
        ]
        self.router = Router(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.router(scope, receive, send)

    def render(self, template: str, status: int = 200, **data: Any) -> HTMLResponse:
        body = self.templates.get_template(template).render(prefix=PREFIX, **data)
        return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)

    def _guarded(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            token = request.cookies.get(SESSION_COOKIE, "")
            async with self.store.read() as tx:
                session = await dashboard_sessions.session_for(tx, self.clock, token)
            if session is None:
                if request.method == "GET":
                    return RedirectResponse(f"{PREFIX}/login", status_code=303)
                return _refused(401, "Sign in first: this session has ended.")
            form: dict[str, str] = {}
            if request.method == "POST":
                form = await _read_form(request)
                if not dashboard_sessions.csrf_matches(session, form.get("csrf_token", "")):
                    return _refused(403, "This form is stale or forged (CSRF token mismatch).")
            view = View(request, self, session, form)
            try:
                return await handler(view)
            except KassaError as error:
                if request.method == "POST":
                    back = request.headers.get("referer", "")
                    return view.redirect(_dashboard_path(back), error=error.message)
                return view.render("error.html", page_status(error), message=_page_message(error))

        return endpoint

    async def _login(self, request: Request) -> Response:
        if request.method == "GET":
            return self._login_page(request, "")
        form = await _read_form(request)
        expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        sent = form.get("csrf_token", "")
        if not expected or not secrets.compare_digest(expected.encode(), sent.encode()):
            return self._login_page(request, "The sign-in form expired; try again.", 403)
        try:
            async with self.store.write() as tx:
                signed_in = await dashboard_sessions.sign_in(
                    tx, self.clock, form.get("secret_key", "")
                )
        except KassaError as error:
            return self._login_page(request, error.message, 401)
        response = RedirectResponse(f"{PREFIX}/", status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            signed_in.token,
            max_age=dashboard_sessions.SESSION_SECONDS,
            path=PREFIX,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
        response.delete_cookie(LOGIN_CSRF_COOKIE, path=PREFIX)
        return response

    def _login_page(self, request: Request, error: str, status: int = 200) -> Response:
        login_csrf = secrets.token_urlsafe(dashboard_sessions.TOKEN_BYTES)
        response = self.render("login.html", status, csrf=login_csrf, error=error)
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            login_csrf,
            max_age=3600,
            path=PREFIX,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
        return response

    async def _logout(self, request: Request) -> Response:
        token = request.cookies.get(SESSION_COOKIE, "")
        async with self.store.read() as tx:
            session = await dashboard_sessions.session_for(tx, self.clock, token)
        form = await _read_form(request)
        if session is None or not dashboard_sessions.csrf_matches(
            session, form.get("csrf_token", "")
        ):
            return _refused(403, "This form is stale or forged (CSRF token mismatch).")
        async with self.store.write() as tx:
            await dashboard_sessions.sign_out(tx, token)
        response = RedirectResponse(f"{PREFIX}/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=PREFIX)
        return response


async def _read_form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > FORM_BYTES_MAX:
        return {}
    # Dashboard forms are small and urlencoded: parse_qs needs no multipart parser.
    parsed = parse_qs(body.decode("utf-8", "replace"), max_num_fields=FORM_FIELDS_MAX)
    return {name: values[0] for name, values in parsed.items()}


def page_status(error: KassaError) -> int:
    """The status of the error page a GET answers: a page, not an API response, so only
    missing (404), not signed in (401) and bad input (400) can happen here."""
    if isinstance(error, ResourceMissing | RouteNotFound):
        return 404
    if isinstance(error, NotAuthenticated):
        return 401
    return 400


def _page_message(error: KassaError) -> str:
    """What an error page or message says."""
    if isinstance(error, ResourceMissing):
        return missing_message(error)
    return error.message


def missing_message(missing: ResourceMissing) -> str:
    """What a page says for an id this account does not have. Unlike the API's message it
    does not repeat the id: a page never shows another account's ids, even one typed in.
    One of its own that counts as missing says why (`The subscription is already canceled.`)."""
    name = missing.object_name.replace("_", " ")
    if missing.reason:
        return f"The {name} {missing.reason}"
    return f"No such {name} in this account."


def _refused(status: int, message: str) -> Response:
    return PlainTextResponse(message, status_code=status, headers=SECURITY_HEADERS)


def _dashboard_path(url: str) -> str:
    """The dashboard path of a Referer, so an error returns to the page it came from;
    anything else (absent, foreign) goes home. Never an open redirect."""
    _, found, rest = url.partition(PREFIX + "/")
    if not found:
        return "/"
    return "/" + rest.split("?", 1)[0]


_STATIC_TYPES = {".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


async def _static(request: Request) -> Response:
    name = str(request.path_params["name"])
    suffix = name[name.rfind(".") :] if "." in name else ""
    if "/" in name or name.startswith(".") or suffix not in _STATIC_TYPES:
        return PlainTextResponse("not found", status_code=404)
    entry = resources.files("kassa.dashboard").joinpath("static", name)
    if not entry.is_file():
        return PlainTextResponse("not found", status_code=404)
    return Response(
        entry.read_bytes(),
        media_type=_STATIC_TYPES[suffix],
        headers={"cache-control": "max-age=3600", "x-content-type-options": "nosniff"},
    )


# -- templates ------------------------------------------------------------------------------


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("kassa.dashboard", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        auto_reload=False,  # package files: no stat of each template per render
    )
    environment.filters["money"] = _money
    environment.filters["when"] = _when
    environment.filters["day"] = _day
    environment.filters["pretty_json"] = _pretty_json
    return environment


def _money(amount: int | None, currency: str | None) -> str:
    if amount is None or not currency:
        return ""
    return money.format_amount(amount, currency)


def _when(seconds: int | float | None) -> str:
    if seconds is None:
        return ""
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _day(seconds: int | None) -> str:
    if seconds is None:
        return ""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%b %d")


def _pretty_json(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return str(value)
    return json.dumps(value, indent=2, sort_keys=False, ensure_ascii=False)
