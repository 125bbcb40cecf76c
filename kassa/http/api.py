"""The `/v1` API: one request = route, authenticate, decode, (claim key), run, respond, log.

Plain ASGI rather than a framework's request objects: this is the hot path, and it needs
only a dict lookup for routing (routes come from the resource catalog).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from kassa import API_VERSION
from kassa.api_versions import dated_on_or_after, is_known_api_version
from kassa.asgi import Receive, Scope, Send
from kassa.clock import Clock, utc_date
from kassa.errors import (
    InvalidRequest,
    KassaError,
    PublishableKeyNotAllowed,
    RateLimited,
)
from kassa.http import idempotency, uploads
from kassa.http.auth import Authenticator
from kassa.http.errors import (
    RequestTooLarge,
    error_body,
    internal_error_body,
    stripe_json,
    unavailable_response_parts,
)
from kassa.http.expand import expand_object, parse_expand
from kassa.http.forms import Form, FormValue, decode_form
from kassa.http.idempotency import Claimed, KeyClaim, Replay
from kassa.http.metrics import RequestMetrics
from kassa.http.rate_limits import RateLimiter
from kassa.http.request_log import RequestLogWriter
from kassa.ids import new_id
from kassa.invariants import ensure
from kassa.params import UploadedFile
from kassa.services.accounts import ApiKeyOwner
from kassa.services.billing.rendering.render_bound import RenderBound
from kassa.services.context import Context, PaymentConfig
from kassa.services.files import Download
from kassa.services.resource import Operation, RemovedParam
from kassa.services.routes import Route, resolve
from kassa.store import DatabaseUnavailable, Store, Transaction, WriteConflict
from kassa.store.request_queries import RequestLogEntry

MAX_BODY_BYTES = 1 << 20
"""1 MiB: far above any legitimate Stripe v1 request but an upload, whose body has its own
limit (`uploads.UPLOAD_BODY_BYTES_MAX`)."""
WRITE_CONFLICT_ATTEMPTS_MAX = 3
"""Runs of one request whose unit of work lost a unique-key race (`WriteConflict`): the second
run sees the winner's row and answers as if the two had run one after the other."""
LOGGED_BODY_BYTES_MAX = 8_192
"""How much of each request's parameters and response the request log keeps: a whole
PaymentIntent fits, and the log's buffer stays bounded in bytes as well as entries."""
REDACTED_PARAMS = frozenset({"number", "cvc"})
KEY_PARAM = "key"
"""Stripe.js sends its publishable key as this form parameter, not as a header; it is taken
out of the form before the operation's parser (and the request log) sees it."""
_DIGIT_RUN = re.compile(r"\d[\d \-]{4,}\d")
"""Card data the request log must never hold (the card-number secrecy test searches it)."""
_FORM_TYPE = "application/x-www-form-urlencoded"

ACTING_AS_HEADERS = ("stripe-account", "stripe-context")
"""Connect's headers naming the account a platform acts for."""

log = logging.getLogger("kassa.api")


class ClientDisconnected(Exception):
    pass


@dataclass
class RequestFacts:
    """What the request log and metrics need, filled in as the request is understood."""

    route: str = "unmatched"
    account_id: str | None = None
    idempotency_key: str | None = None
    params: str | None = None
    """The decoded parameters as JSON for the request log, secrets redacted."""
    held_card_data: bool = False
    client_ip: str | None = None
    """The ASGI scope's `client` host; None when the server does not know it."""
    secret_fields: tuple[str, ...] = ()
    """Fields of the answer the log must not keep (`Operation.secret_fields`)."""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    headers: tuple[tuple[bytes, bytes], ...] = ()
    content_type: bytes = b"application/json"
    """Every answer is JSON but a file's download (`GET /v1/files/{id}/contents`)."""
    to_render: Download | None = None
    """A download whose bytes are rendered once the unit of work has ended (`_rendered`)."""


RENDERS_BUSY_MESSAGE: Final = "Too many documents are being rendered; try again shortly."


class ApiApp:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        metrics: RequestMetrics,
        request_log: RequestLogWriter,
        payments: PaymentConfig,
        rate_limiter: RateLimiter | None = None,
        renders: RenderBound | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.metrics = metrics
        self.request_log = request_log
        self.auth = Authenticator(store)
        self.payments = payments
        self.rate_limiter = rate_limiter
        """None unless KASSA_RATE_LIMIT is set (`rate_limits`)."""
        self.renders = renders or RenderBound()
        """The server's one bound on documents rendered at once, shared with its pages."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request_id = new_id("req")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        client = scope.get("client")
        facts = RequestFacts(client_ip=client[0] if client else None)
        try:
            response = await self._serve(scope, receive, headers, request_id, facts)
        except ClientDisconnected:
            return
        except KassaError as error:
            status, body = error_body(error)
            response = Response(status, body)
        except DatabaseUnavailable as error:
            log.warning("request %s: %s", request_id, error)
            response = Response(*unavailable_response_parts())
        except Exception:
            log.exception("request %s failed", request_id)
            response = Response(500, internal_error_body(request_id))
        await _send(send, response, request_id, headers.get("idempotency-key"))
        elapsed = time.perf_counter() - started
        self.metrics.observe(scope["method"], facts.route, response.status, elapsed)
        await self.request_log.record(
            RequestLogEntry(
                request_id=request_id,
                account_id=facts.account_id,
                created_ms=int(self.clock.now() * 1000),
                method=scope["method"],
                path=scope["path"][:1000],
                route=facts.route,
                status=response.status,
                duration_us=int(elapsed * 1_000_000),
                idempotency_key=facts.idempotency_key,
                source_ip=facts.client_ip,
                request_body=facts.params,
                response_body=logged_response(response, facts),
            )
        )

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        headers: dict[str, str],
        request_id: str,
        facts: RequestFacts,
    ) -> Response:
        method: str = scope["method"]
        route = resolve(method, scope["path"])
        facts.route = route.template
        facts.secret_fields = route.operation.secret_fields
        _check_version(headers.get("stripe-version"), self.clock)
        query = scope.get("query_string", b"")
        if route.operation.multipart:
            form = await _upload_form(query, receive, headers)
        else:
            form = await _request_form(method, query, receive, headers)
        form_key = form.pop(KEY_PARAM, None)
        owner = await self.auth.owner_of(
            headers.get("authorization"), form_key if isinstance(form_key, str) else None
        )
        facts.account_id = owner.account_id
        _check_acting_as(headers, owner.account_id)
        if self.rate_limiter is not None:
            await self.rate_limiter.check(owner.account_id)
        if route.operation.api_version_required:
            _check_version_named(headers.get("stripe-version"))
        if route.operation.removed_params:
            _check_removed(route.operation.removed_params, form, headers.get("stripe-version"))
        if owner.kind != "secret":
            _check_publishable(route.operation, form)
        facts.params, facts.held_card_data = logged_params(form)
        key = headers.get("idempotency-key")
        if key is not None and method == "POST":
            facts.idempotency_key = idempotency.validate_key(key)
        attempts_left = WRITE_CONFLICT_ATTEMPTS_MAX
        while True:
            try:
                return await self._serve_once(route, scope["path"], owner, form, request_id, facts)
            except WriteConflict:
                # Rolled back whole: run again, the unit reads the row it collided with.
                attempts_left -= 1
                if attempts_left == 0:
                    raise
                log.info("request %s lost a race on a unique key; running it again", request_id)

    async def _serve_once(
        self,
        route: Route,
        path: str,
        owner: ApiKeyOwner,
        form: Form,
        request_id: str,
        facts: RequestFacts,
    ) -> Response:
        if facts.idempotency_key is not None:
            return await self._serve_idempotent(
                route, path, owner, form, facts.idempotency_key, request_id, facts.client_ip
            )
        return await self._run(route, owner, form, request_id, facts.client_ip)

    async def _serve_idempotent(
        self,
        route: Route,
        path: str,
        owner: ApiKeyOwner,
        form: Form,
        key: str,
        request_id: str,
        client_ip: str | None,
    ) -> Response:
        claim = KeyClaim(
            account_id=owner.account_id,
            key=key,
            fingerprint=idempotency.fingerprint("POST", path, form),
            request_id=request_id,
            now_ms=int(self.clock.now() * 1000),
        )
        # One transaction holds the key, runs the work and stores the response: they commit
        # together with one commit, or a failure rolls all of them back (see idempotency).
        async with self.store.write() as tx:
            outcome = await idempotency.claim_or_replay(tx, claim)
            if not isinstance(outcome, Claimed):
                return _replayed(outcome)
            parsed = _parsed(route, form)
            response = await self._run_in(tx, route, owner, parsed, request_id, key, client_ip)
            ensure(response.to_render is None, "no POST answers with a document to render")
            stored = without_secrets(response.body, route.operation.secret_fields)
            await idempotency.save_response(tx, claim, response.status, stored)
            return response

    async def _run(
        self, route: Route, owner: ApiKeyOwner, form: Form, request_id: str, client_ip: str | None
    ) -> Response:
        # Parsed before the unit of work opens: a malformed request costs no transaction.
        parsed = _parsed(route, form)
        writes = route.operation.writes
        async with self.store.write() if writes else self.store.read() as tx:
            response = await self._run_in(tx, route, owner, parsed, request_id, None, client_ip)
        if response.to_render is not None:
            return await self._rendered(response.to_render)
        return response

    async def _rendered(self, download: Download) -> Response:
        """A download drawn after its unit of work ended, under the server's render bound;
        turned away as a rate limit when too many renders wait (the SDKs retry those)."""
        render = download.render
        if render is None:  # drawn already
            return _download(download, download.body)
        body = await self.renders.render(render)
        if body is None:
            raise RateLimited(RENDERS_BUSY_MESSAGE)
        return _download(download, body)

    async def _run_in(
        self,
        tx: Transaction,
        route: Route,
        owner: ApiKeyOwner,
        parsed: ParsedRequest,
        request_id: str,
        idempotency_key: str | None,
        client_ip: str | None,
    ) -> Response:
        """Run the operation in `tx`; `idempotency_key` is recorded with what it writes."""
        account_id = owner.account_id
        ctx = Context(
            account_id=account_id,
            tx=tx,
            clock=self.clock,
            publishable_key=owner.kind != "secret",
            payments=self.payments,
            request_id=request_id,
            idempotency_key=idempotency_key,
            client_ip=client_ip,
        )
        status = 200
        try:
            result = await route.operation.run(ctx, parsed.request)
            if isinstance(result, Download):
                if result.render is not None:
                    return Response(200, b"", to_render=result)
                return _download(result, result.body)
            await expand_object(ctx, result, parsed.expand)
            if ctx.publishable_key:
                result = publishable_view(route.operation, result)
            body = stripe_json(result)
        except KassaError as error:
            if not error.commits_writes:
                raise
            if ctx.publishable_key:
                _hide_from_publishable_key(route, error)
            status, body = error_body(error)
        return Response(status, body)


@dataclass(frozen=True)
class ParsedRequest:
    request: Any
    """The operation's typed request."""
    expand: list[str]


def _parsed(route: Route, form: Form) -> ParsedRequest:
    """The route's typed request and the paths to expand: every parameter error is raised
    here, before anything is read or written."""
    if "expand" not in form:
        return ParsedRequest(route.operation.parse(route.ids, form), [])
    # The form itself stays whole: a request run again after a WriteConflict parses it again.
    rest = {name: value for name, value in form.items() if name != "expand"}
    return ParsedRequest(route.operation.parse(route.ids, rest), parse_expand(form["expand"]))


def _check_publishable(operation: Operation[Any], form: Form) -> None:
    """A publishable key may call only the operations Stripe.js calls, and expand only
    fields it may see (`Operation.publishable_fields`)."""
    if not operation.publishable_key_allowed:
        raise PublishableKeyNotAllowed(
            "This API call cannot be made with a publishable API key. Please use a secret API key."
        )
    visible = operation.publishable_fields
    if visible is None or "expand" not in form:
        return
    for path in parse_expand(form["expand"]):
        if path not in visible:
            raise InvalidRequest(
                f"This property cannot be expanded with a publishable API key "
                f"({path[:80]}): use a secret API key.",
                param="expand",
            )


def publishable_view(operation: Operation[Any], answer: dict[str, Any]) -> dict[str, Any]:
    """What a publishable key sees of `answer`: only the operation's publishable fields."""
    visible = operation.publishable_fields
    if visible is None:
        return answer
    return {name: value for name, value in answer.items() if name in visible}


def _hide_from_publishable_key(route: Route, error: KassaError) -> None:
    """A decline carries the intent it failed (`error.payment_intent`): to a publishable
    key, as much of it as the operation's answer would show."""
    carried = error.details.get(route.resource.object_name)
    if isinstance(carried, dict):
        error.details[route.resource.object_name] = publishable_view(route.operation, carried)


def logged_params(form: Form) -> tuple[str | None, bool]:
    """The parameters as the request log keeps them, and whether card data was removed."""
    if not form:
        return None, False
    found: list[str] = []
    text = orjson.dumps(_redacted(form, found), default=_logged_file).decode()
    return text[:LOGGED_BODY_BYTES_MAX], bool(found)


def _logged_file(value: object) -> object:
    """An upload's file as the log keeps it: its name and size, never its bytes (orjson
    calls this only for what it cannot write itself, so other requests never reach it)."""
    if isinstance(value, UploadedFile):
        return value.summary()
    raise TypeError(f"{type(value).__name__} is not a form value")


def _redacted(value: FormValue, found: list[str]) -> FormValue:
    if isinstance(value, dict):
        redacted: dict[str, FormValue] = {}
        for key, inner in value.items():
            if key in REDACTED_PARAMS:
                found.append(key)
                redacted[key] = "[redacted]"
            else:
                redacted[key] = _redacted(inner, found)
        return redacted
    if isinstance(value, list):
        return [_redacted(item, found) for item in value]
    return value


def logged_response(response: Response, facts: RequestFacts) -> str:
    """The response as the log keeps it. An error about card data may quote the value sent
    (as Stripe's errors do), so digit runs are removed from errors to such requests; secret
    fields are left out."""
    body = without_secrets(response.body, facts.secret_fields)
    text = body[:LOGGED_BODY_BYTES_MAX].decode("utf-8", "replace")
    if facts.held_card_data and response.status >= 400:
        return _DIGIT_RUN.sub("[redacted]", text)
    return text


def without_secrets(body: bytes, secret_fields: tuple[str, ...]) -> bytes:
    """`body` with the named top-level fields set to null, for storing."""
    if not secret_fields:
        return body
    answer = orjson.loads(body)
    if not isinstance(answer, dict) or not any(name in answer for name in secret_fields):
        return body
    return stripe_json({**answer, **dict.fromkeys(secret_fields & answer.keys())})


_UNQUOTABLE = re.compile(r'[\x00-\x1f\x7f"\\]')
"""What may not stand in a quoted header parameter: an uploaded file's name (the client's
choice) is written with these replaced, so it can neither end the quotes nor the header."""


def _download(download: Download, body: bytes) -> Response:
    """A file's bytes as they are, named for saving (`GET /v1/files/{id}/contents`)."""
    filename = _UNQUOTABLE.sub("_", download.filename)
    disposition = f'attachment; filename="{filename}"'.encode("latin-1", "replace")
    return Response(
        200,
        body,
        ((b"content-disposition", disposition),),
        content_type=download.content_type.encode("latin-1"),
    )


def _replayed(replay: Replay) -> Response:
    return Response(
        replay.status,
        replay.body,
        (
            (b"idempotent-replayed", b"true"),
            (b"original-request", replay.original_request_id.encode()),
        ),
    )


def _check_acting_as(headers: dict[str, str], account_id: str) -> None:
    """Refuse a request made on behalf of another account (Connect's `Stripe-Account` and
    `Stripe-Context` headers): Kassa has no connected accounts, and acting on the key's own
    account instead would mix a platform's connected data into it unseen. Naming the key's
    own account changes nothing."""
    for header in ACTING_AS_HEADERS:
        named = headers.get(header)
        if named is not None and named != account_id:
            raise InvalidRequest(
                f"Kassa has no Stripe Connect accounts: this key cannot act for "
                f"'{named[:80]}' ({header.title()} header). Remove the header to act on the "
                "key's own account.",
                param=header.title(),
            )


def _check_version(version: str | None, clock: Clock) -> None:
    # The SDKs send the current version with every request: one comparison on the hot path.
    if version is None or version == API_VERSION:
        return
    if not is_known_api_version(version, utc_date(clock)):
        raise InvalidRequest(f"Invalid Stripe API version: {version[:80]}", param="Stripe-Version")


def _check_version_named(version: str | None) -> None:
    """An operation that serves another client's version (`Operation.api_version_required`)
    is refused without one, after authentication, as Stripe orders its checks."""
    if version is None:
        raise InvalidRequest(
            "Stripe-Version header is required: pass the API version of the client SDK the "
            "ephemeral key is for (the SDKs' `stripe_version`/`apiVersion` request option).",
            param="Stripe-Version",
        )


def _check_removed(removed: Mapping[str, RemovedParam], form: Form, version: str | None) -> None:
    """A parameter Stripe removed is refused for a request naming its version or a later one,
    as Stripe answers it. A request naming none is answered as for an account pinned to an
    earlier version: Stripe answers it in the account's version, and Kassa keeps none per
    account; integrations that send no version are older ones (the SDKs always send theirs,
    and stripe v16's is 2026-10-28.endive)."""
    if version is None:
        return
    for name, param in removed.items():
        if name in form and dated_on_or_after(version, param.since):
            raise InvalidRequest(param.message, param=name, code=param.code)


async def _request_form(
    method: str, query: bytes, receive: Receive, headers: dict[str, str]
) -> Form:
    """The parameters of the query string and of the body, as one bucket (as Stripe takes
    them, whatever the method). Each side is decoded only when it holds something: a POST's
    query string and a GET's body are almost always empty."""
    if method == "POST":
        form = decode_form(await _read_body(receive, headers))
        return _merged(decode_form(query), form) if query else form
    form = decode_form(query)
    if not _may_have_body(headers):
        return form
    body = await _read_body(receive, headers)
    return _merged(form, decode_form(body)) if body else form


async def _upload_form(query: bytes, receive: Receive, headers: dict[str, str]) -> Form:
    """An upload's parameters (`Operation.multipart`): its multipart body, read as it
    arrives up to `uploads.UPLOAD_BODY_BYTES_MAX`, and its query string."""
    body = uploads.UploadBody(headers.get("content-type", ""), headers.get("content-length"))
    while True:  # bounded: UploadBody.feed refuses more than UPLOAD_BODY_BYTES_MAX
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected()
        body.feed(message.get("body", b""))
        if not message.get("more_body", False):
            break
    form = body.form()
    return _merged(decode_form(query), form) if query else form


def _may_have_body(headers: dict[str, str]) -> bool:
    return headers.get("content-length", "0") != "0" or "transfer-encoding" in headers


def _merged(from_query: Form, from_body: Form) -> Form:
    """Both sides' parameters. A name sent on both sides is refused rather than one side
    silently winning (Stripe's docs do not say which would)."""
    for name in from_query:
        if name in from_body:
            raise InvalidRequest(
                f"Received {name[:80]} both in the query string and in the body: send each "
                "parameter once.",
                param=name[:80],
            )
    return {**from_body, **from_query}


async def _read_body(receive: Receive, headers: dict[str, str]) -> bytes:
    content_type = headers.get("content-type", _FORM_TYPE).split(";")[0].strip().lower()
    declared = headers.get("content-length", "0")
    if not declared.isdigit():
        raise InvalidRequest("Invalid Content-Length header.")
    if int(declared) > MAX_BODY_BYTES:
        raise RequestTooLarge(f"Request bodies may be at most {MAX_BODY_BYTES} bytes.")
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise RequestTooLarge(f"Request bodies may be at most {MAX_BODY_BYTES} bytes.")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    if body and content_type != _FORM_TYPE:
        raise InvalidRequest(
            f"Invalid Content-Type {content_type!r}: Stripe's v1 API, and so Kassa, takes "
            f"form-encoded bodies ({_FORM_TYPE})."
        )
    return body


_COMMON_HEADERS = (
    (b"stripe-version", API_VERSION.encode()),
    (b"cache-control", b"no-cache, no-store"),
    (b"access-control-allow-origin", b"*"),
)


async def _send(
    send: Send, response: Response, request_id: str, idempotency_key: str | None
) -> None:
    """The answer, with the headers every answer carries; a request's `Idempotency-Key` is
    reflected back, as Stripe's API does (the SDKs show it: stripe-python's
    `last_response.idempotency_key`, stripe-node's `lastResponse.idempotencyKey`)."""
    headers = [
        (b"content-type", response.content_type),
        *_COMMON_HEADERS,
        (b"request-id", request_id.encode()),
        (b"content-length", str(len(response.body)).encode()),
        *response.headers,
    ]
    if idempotency_key:
        headers.append((b"idempotency-key", idempotency_key.encode("latin-1")))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})
