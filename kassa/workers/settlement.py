"""The `settlement` background job: moves pending funds to the available balance once their
`available_on` has come, for every account (reading a balance settles that account's funds
on the spot as well)."""

from __future__ import annotations

import asyncio
import logging

from kassa.clock import Clock
from kassa.ledger.settlement import SETTLEMENT_BATCH_MAX
from kassa.services.balance import settle_all
from kassa.services.context import PaymentConfig
from kassa.store import Store
from kassa.workers.polling import PollingJob, Step

SETTLEMENT_INTERVAL_SECONDS = 30.0
SETTLEMENT_BATCHES_PER_RUN_MAX = 100


async def settle_due_funds(store: Store, clock: Clock, _: PaymentConfig) -> int:
    """Settle in batches of SETTLEMENT_BATCH_MAX, each its own unit, until one comes short."""
    settled = 0
    for _batch in range(SETTLEMENT_BATCHES_PER_RUN_MAX):
        async with store.write() as tx:
            count = await settle_all(tx, clock)
        settled += count
        if count < SETTLEMENT_BATCH_MAX:
            break
        await asyncio.sleep(0)  # let requests in between batches
    return settled


SETTLEMENT = PollingJob(
    steps=(Step(settle_due_funds, "settled %d balance transactions"),),
    poll_seconds=SETTLEMENT_INTERVAL_SECONDS,
    log=logging.getLogger("kassa.settlement"),
    failed="settlement failed; will retry",
)
