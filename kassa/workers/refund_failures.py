"""The `refund_failures` background job: fails the refunds whose failure has come in real
time (`kassa.services.refund_failures`; a test clock's advance does its own). A test waits
for a failure a few seconds after the refund, so the job looks often: one indexed read when
nothing is due."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from kassa.clock import Clock
from kassa.config import Settings
from kassa.services.refund_failures import fail_due_refunds
from kassa.services.setup import load_payment_config
from kassa.store import Store

REFUND_FAILURES_POLL_SECONDS = 0.5
"""How often the job looks for refund failures that have come."""

log = logging.getLogger("kassa.refund_failures")


async def run_refund_failures(
    store: Store, clock: Clock, settings: Settings, stopping: asyncio.Event
) -> None:
    payments = await load_payment_config(store, settings)
    while not stopping.is_set():
        try:
            failed = await fail_due_refunds(store, clock, payments)
            if failed:
                log.info("failed %d refunds", failed)
        except Exception:
            log.exception("failing refunds failed; will retry")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), REFUND_FAILURES_POLL_SECONDS)
