"""One bound on the documents a server renders at once: the hosted pages' invoice and credit
note PDFs and the API's quote PDFs share it (the composition root makes one per server:
they share the same cores). A render runs off the event loop, after the unit of work that
read what it draws has ended, so no transaction is held while it runs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

PDF_RENDERS_MAX: Final = 2
"""PDFs rendered at once (each is a few hundred milliseconds of CPU), one per core here."""
PDF_WAITING_MAX: Final = 32
"""Requests that may wait for a render; more are turned away rather than queued."""


class RenderBound:
    def __init__(self) -> None:
        self._running = asyncio.Semaphore(PDF_RENDERS_MAX)
        self.waiting = 0

    async def render(self, render: Callable[[], bytes]) -> bytes | None:
        """`render()`'s bytes, rendered on a thread when a place is free; None when
        `PDF_WAITING_MAX` requests wait already (the caller answers "try again")."""
        if self.waiting >= PDF_WAITING_MAX:
            return None
        self.waiting += 1
        try:
            async with self._running:
                return await asyncio.to_thread(render)
        finally:
            self.waiting -= 1
