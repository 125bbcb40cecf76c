"""The `reporting` background job: computes the report runs still pending, oldest first
(`kassa.services.reporting`). A test waits for its run a moment after creating it, so the
job looks often: one indexed read when nothing is pending."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from kassa.clock import Clock
from kassa.config import Settings
from kassa.services.reporting import run_pending_reports
from kassa.services.setup import load_payment_config
from kassa.store import Store

REPORTING_POLL_SECONDS = 0.5
"""How often the job looks for pending report runs."""

log = logging.getLogger("kassa.reporting")


async def run_reporting(
    store: Store, clock: Clock, settings: Settings, stopping: asyncio.Event
) -> None:
    payments = await load_payment_config(store, settings)
    while not stopping.is_set():
        try:
            finished = await run_pending_reports(store, clock, payments)
            if finished:
                log.info("finished %d report runs", finished)
        except Exception:
            log.exception("running reports failed; will retry")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), REPORTING_POLL_SECONDS)
