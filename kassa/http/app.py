"""The ASGI application `kassa serve` runs: `/v1` API, `/metrics`, `/healthz`, and the
background workers that live inside the server process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from kassa.clock import Clock, SystemClock
from kassa.config import Settings
from kassa.dashboard.app import PREFIX as DASHBOARD_PREFIX
from kassa.dashboard.app import Dashboard
from kassa.dashboard.site import dashboard
from kassa.http.api import ApiApp, Receive, Scope, Send
from kassa.http.authentication_page import PATH_PREFIX as AUTHENTICATION_PATH_PREFIX
from kassa.http.authentication_page import AuthenticationPage
from kassa.http.metrics import CONTENT_TYPE, RequestMetrics
from kassa.http.request_log import RequestLogWriter
from kassa.services.setup import load_payment_config
from kassa.store import Store, migrate, open_store
from kassa.workers.retention import run_retention
from kassa.workers.settlement import run_settlement
from kassa.workers.webhooks import delivery_settings, run_delivery

log = logging.getLogger("kassa.app")


class KassaApp:
    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.metrics = RequestMetrics()
        self.api: ApiApp | None = None
        self.authentication_page: AuthenticationPage | None = None
        self.dashboard: Dashboard | None = None
        self._store: Store | None = None
        self._request_log: RequestLogWriter | None = None
        self._stopping = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/metrics":
            await _plain(send, 200, self.metrics.exposition(), CONTENT_TYPE)
        elif path == "/healthz":
            await _plain(send, 200, b"ok\n", "text/plain")
        elif self.api is None or self.authentication_page is None or self.dashboard is None:
            await _plain(send, 503, b"starting\n", "text/plain")
        elif path.startswith(AUTHENTICATION_PATH_PREFIX):
            await self.authentication_page(scope, receive, send)
        elif path == DASHBOARD_PREFIX or path.startswith(DASHBOARD_PREFIX + "/"):
            await self.dashboard(scope, receive, send)
        else:
            await self.api(scope, receive, send)

    async def startup(self) -> None:
        store = await open_store(
            self.settings.database_url, sqlite_synchronous=self.settings.sqlite_synchronous
        )
        await migrate(store, int(self.clock.now()))
        payments = await load_payment_config(store, self.settings)
        self._store = store
        self._request_log = RequestLogWriter(store)
        self._request_log.start()
        self.api = ApiApp(
            store,
            self.clock,
            self.metrics,
            self._request_log,
            self.settings.idempotency_lock_seconds,
            payments,
        )
        self.authentication_page = AuthenticationPage(store, self.clock, payments)
        self.dashboard = dashboard(store, self.clock, payments)
        self._workers.append(
            asyncio.create_task(
                run_settlement(store, self.clock, self._stopping), name="kassa-settlement"
            )
        )
        if self.settings.webhook_workers:
            self._workers.append(
                asyncio.create_task(
                    run_delivery(
                        store, self.clock, delivery_settings(self.settings), self._stopping
                    ),
                    name="kassa-webhooks",
                )
            )
        self._workers.append(
            asyncio.create_task(
                run_retention(
                    store,
                    self.clock,
                    self.settings.request_log_retention_days,
                    self._stopping,
                ),
                name="kassa-retention",
            )
        )

    async def shutdown(self) -> None:
        self._stopping.set()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._request_log is not None:
            await self._request_log.stop()
        if self._store is not None:
            await self._store.close()

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


async def _plain(send: Send, status: int, body: bytes, content_type: str) -> None:
    headers: list[tuple[bytes, Any]] = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
