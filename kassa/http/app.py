"""The ASGI application `kassa serve` runs. It only routes: `/metrics`, `/healthz`,
`/openapi.json` (the API's description, `kassa.http.openapi`), the test
3-D Secure page, the apps mounted beside the API (the dashboard), then the `/v1` API.

What it routes to, and the background jobs that run beside it, the composition root
(`kassa.runtime`) builds at startup and takes apart at shutdown: this layer imports neither
the dashboard nor the workers.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from kassa.asgi import AsgiApp, Receive, Scope, Send
from kassa.http import openapi
from kassa.http.authentication_page import PATH_PREFIX as AUTHENTICATION_PATH_PREFIX
from kassa.http.errors import UNAVAILABLE_RETRY_AFTER_SECONDS
from kassa.http.metrics import CONTENT_TYPE, RequestMetrics
from kassa.store import DatabaseUnavailable

log = logging.getLogger("kassa.app")


@dataclass(frozen=True)
class Mount:
    """An app that serves `prefix` itself and every path under `prefix/`."""

    prefix: str
    app: AsgiApp

    def serves(self, path: str) -> bool:
        return path == self.prefix or path.startswith(self.prefix + "/")


@dataclass(frozen=True)
class Routes:
    api: AsgiApp
    authentication_page: AsgiApp
    mounts: tuple[Mount, ...] = ()


class Lifespan(Protocol):
    """What the server process runs between startup and shutdown (see `kassa.runtime`)."""

    async def start(self) -> Routes: ...

    async def stop(self) -> None: ...


INSTANCE_ID_HEADER = "Kassa-Instance-Id"
"""On every `/healthz` answer of a process given an instance id (`KASSA_INSTANCE_ID`): the
caller that started the process knows it answers, not another server on the same address."""


class EdgeApp:
    def __init__(self, metrics: RequestMetrics, lifespan: Lifespan, instance_id: str = "") -> None:
        self.metrics = metrics
        self.lifespan = lifespan
        self.instance_id = instance_id
        self.routes: Routes | None = None
        """None until startup completes: requests before then are answered 503."""
        self.draining = False
        """Set when the process is told to stop (SIGTERM): `/healthz` answers 503 from then
        on, so a load balancer sends no new work while requests in flight finish."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/metrics":
            await _plain(send, 200, self.metrics.exposition(), CONTENT_TYPE)
        elif path == "/openapi.json":
            await _plain(send, 200, openapi.document_bytes(), "application/json")
        elif path == "/healthz":
            await _health(send, self.routes is not None, self.draining, self.instance_id)
        elif self.routes is None:
            await _plain(send, 503, b"starting\n", "text/plain")
        elif path.startswith("/v1/"):
            await self.routes.api(scope, receive, send)  # answers its own 503s, as Stripe would
        else:
            await _page_or_unavailable(_app_for(self.routes, path), scope, receive, send)

    async def startup(self) -> None:
        self.routes = await self.lifespan.start()

    async def shutdown(self) -> None:
        await self.lifespan.stop()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as error:
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(error)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _app_for(routes: Routes, path: str) -> AsgiApp:
    if path.startswith(AUTHENTICATION_PATH_PREFIX):
        return routes.authentication_page
    for mount in routes.mounts:
        if mount.serves(path):
            return mount.app
    return routes.api


PAGE_UNAVAILABLE_BODY = b"Kassa cannot reach its database right now; try again shortly.\n"


async def _page_or_unavailable(app: AsgiApp, scope: Scope, receive: Receive, send: Send) -> None:
    """`app`'s answer, or a 503 with `Retry-After` when the database cannot serve it now: a
    page (the dashboard, a hosted page) must not answer a moment's outage with a 500."""
    started = False

    async def send_noting_start(message: Any) -> None:
        nonlocal started
        started = started or message["type"] == "http.response.start"
        await send(message)

    try:
        await app(scope, receive, send_noting_start)
    except DatabaseUnavailable as error:
        if started:
            raise
        log.warning("%s %s: %s", scope["method"], scope["path"], error)
        retry_after = (b"retry-after", str(UNAVAILABLE_RETRY_AFTER_SECONDS).encode())
        await _plain(send, 503, PAGE_UNAVAILABLE_BODY, "text/plain", [retry_after])


async def _health(send: Send, started: bool, draining: bool, instance_id: str) -> None:
    extra = [(INSTANCE_ID_HEADER.lower().encode(), instance_id.encode())] if instance_id else []
    if draining:
        await _plain(send, 503, b"draining\n", "text/plain", extra)
    elif not started:
        await _plain(send, 503, b"starting\n", "text/plain", extra)
    else:
        await _plain(send, 200, b"ok\n", "text/plain", extra)


async def _plain(
    send: Send,
    status: int,
    body: bytes,
    content_type: str,
    extra_headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    headers: list[tuple[bytes, Any]] = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        *extra_headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
