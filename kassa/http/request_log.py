"""The request log: every API request, written in batches off the request path.

Writing one row inside each request would cost a commit per GET; instead entries wait in a
bounded buffer and a background task writes them every FLUSH_INTERVAL_SECONDS. A process
crash can lose at most that interval's entries (never an API write: those commit with the
request). When the buffer is full the request that fills it waits for a flush, so nothing is
dropped and memory stays bounded; only if the database refuses writes while the buffer is full
are the oldest entries dropped (and counted), never an error for the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from kassa.store import Store
from kassa.store.request_queries import RequestLogEntry

FLUSH_INTERVAL_SECONDS = 0.25
BUFFER_ENTRIES_MAX = 20_000
FLUSH_BATCH_MAX = 100
"""Entries written per unit of work. A flush writes the last interval's entries (hundreds at
load) in units this small, each a few milliseconds, so requests run between them: one unit
of 5,000 held the event loop long enough to set a retrieve's p99 (22 ms at concurrency 1;
3.9 ms with units of 100)."""

log = logging.getLogger("kassa.request_log")


class RequestLogWriter:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: list[RequestLogEntry] = []
        self._flush_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.dropped_entries = 0
        """Entries lost because the buffer was full while the database refused writes."""

    @property
    def pending_entries(self) -> int:
        return len(self._pending)

    async def record(self, entry: RequestLogEntry) -> None:
        """Buffer `entry`; never raises into the request that is being logged."""
        self._pending.append(entry)
        if len(self._pending) < BUFFER_ENTRIES_MAX:
            return
        try:
            await self.flush()
        except Exception:
            # The database refuses writes (it is down, or full): keep the newest entries
            # and drop the oldest rather than grow without bound.
            log.exception("could not write the request log")
            async with self._flush_lock:
                excess = len(self._pending) - BUFFER_ENTRIES_MAX
                if excess > 0:
                    del self._pending[:excess]
                    self.dropped_entries += excess
                    log.error("dropped %d request log entries", excess)

    async def flush(self) -> None:
        async with self._flush_lock:
            while self._pending:
                batch = self._pending[:FLUSH_BATCH_MAX]
                async with self._store.write() as tx:
                    await tx.insert_request_log(batch)
                # Removed only once written: a failed flush keeps them for the next one.
                del self._pending[: len(batch)]

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="kassa-request-log")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task
        await self.flush()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), FLUSH_INTERVAL_SECONDS)
            try:
                await self.flush()
            except Exception:
                # Keep the entries' loss visible but never let the writer die: the next
                # interval retries whatever is still pending.
                log.exception("could not write the request log; will retry")
