"""The server's one bound on documents rendered at once (`RenderBound`), shared by the hosted
pages' PDFs and the API's quote PDFs: two render at a time, a few dozen wait, and the rest
are turned away at once rather than queued."""

from __future__ import annotations

import asyncio
import threading
import time

from kassa.services.billing.rendering.render_bound import (
    PDF_RENDERS_MAX,
    PDF_WAITING_MAX,
    RenderBound,
)

STARTED_WAIT_SECONDS = 10.0


def test_renders_take_turns_and_the_excess_is_turned_away() -> None:
    async def scenario() -> None:
        bound = RenderBound()
        release = threading.Event()
        running: list[int] = []

        def slow() -> bytes:
            running.append(1)
            release.wait(STARTED_WAIT_SECONDS)
            return b"%PDF"

        waiting = [asyncio.create_task(bound.render(slow)) for _ in range(PDF_WAITING_MAX)]
        deadline = time.monotonic() + STARTED_WAIT_SECONDS
        while len(running) < PDF_RENDERS_MAX and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # a third render, were one let in, would have started
        assert len(running) == PDF_RENDERS_MAX
        assert bound.waiting == PDF_WAITING_MAX
        assert await bound.render(slow) is None  # one more than may wait: turned away
        release.set()
        assert await asyncio.gather(*waiting) == [b"%PDF"] * PDF_WAITING_MAX
        assert bound.waiting == 0

    asyncio.run(scenario())
