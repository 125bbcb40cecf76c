"""The `test_clocks` background job: advances the test clocks that have an advance under way
(`kassa.services.clock_advance`). A test waits on the clock, so it looks often."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from kassa.clock import Clock
from kassa.config import Settings
from kassa.services.clock_advance import advance_clocks
from kassa.services.setup import load_payment_config
from kassa.store import Store

CLOCK_POLL_SECONDS = 0.2
"""How often the job looks for clocks to advance (one indexed read when there are none)."""

log = logging.getLogger("kassa.test_clocks")


async def run_test_clocks(
    store: Store, clock: Clock, settings: Settings, stopping: asyncio.Event
) -> None:
    payments = await load_payment_config(store, settings)
    while not stopping.is_set():
        steps = 0
        try:
            steps = await advance_clocks(store, clock, payments)
            if steps:
                log.info("test clocks: %d pieces of work done", steps)
        except Exception:
            log.exception("advancing test clocks failed; will retry")
        if steps:
            continue  # more may be due: a clock finishes over several runs
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), CLOCK_POLL_SECONDS)
