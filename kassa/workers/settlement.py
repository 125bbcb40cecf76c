"""Moves pending funds to the available balance once their `available_on` has come, for
every account (reading a balance settles that account's funds on the spot as well)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from kassa.clock import Clock
from kassa.ledger.settlement import SETTLEMENT_BATCH_MAX
from kassa.services.balance import settle_all
from kassa.store import Store

SETTLEMENT_INTERVAL_SECONDS = 30.0
SETTLEMENT_BATCHES_PER_RUN_MAX = 100

log = logging.getLogger("kassa.settlement")


async def settle_once(store: Store, clock: Clock) -> int:
    settled = 0
    for _ in range(SETTLEMENT_BATCHES_PER_RUN_MAX):
        async with store.write() as tx:
            count = await settle_all(tx, clock)
        settled += count
        if count < SETTLEMENT_BATCH_MAX:
            break
        await asyncio.sleep(0)  # let requests in between batches
    return settled


async def run_settlement(store: Store, clock: Clock, stopping: asyncio.Event) -> None:
    while not stopping.is_set():
        try:
            settled = await settle_once(store, clock)
            if settled:
                log.info("settled %d balance transactions", settled)
        except Exception:
            log.exception("settlement failed; will retry")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), SETTLEMENT_INTERVAL_SECONDS)
