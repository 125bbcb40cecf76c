"""Purges idempotency keys older than 24 hours and request log entries past retention."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from kassa.clock import Clock
from kassa.store import Store
from kassa.store.queries import IDEMPOTENCY_KEY_RETENTION_SECONDS

PURGE_INTERVAL_SECONDS = 60.0
PURGE_BATCH_ROWS = 1_000
"""Rows deleted per transaction, so a purge never holds the SQLite writer for long."""
PURGE_BATCHES_PER_RUN_MAX = 100

log = logging.getLogger("kassa.retention")


@dataclass(frozen=True)
class PurgeCounts:
    idempotency_keys: int
    request_log_entries: int


async def purge_once(store: Store, clock: Clock, request_log_retention_days: int) -> PurgeCounts:
    now = clock.now()
    keys_before = int(now) - IDEMPOTENCY_KEY_RETENTION_SECONDS
    log_before_ms = int((now - request_log_retention_days * 86_400) * 1000)
    keys = entries = 0
    for _ in range(PURGE_BATCHES_PER_RUN_MAX):
        async with store.write() as tx:
            purged_keys = await tx.purge_idempotency_keys(
                keys_before, int(now * 1000), PURGE_BATCH_ROWS
            )
            purged_entries = await tx.purge_request_log(log_before_ms, PURGE_BATCH_ROWS)
        keys += purged_keys
        entries += purged_entries
        if purged_keys < PURGE_BATCH_ROWS and purged_entries < PURGE_BATCH_ROWS:
            break
        await asyncio.sleep(0)  # let requests in between batches
    return PurgeCounts(keys, entries)


async def run_retention(
    store: Store, clock: Clock, request_log_retention_days: int, stopping: asyncio.Event
) -> None:
    while not stopping.is_set():
        try:
            counts = await purge_once(store, clock, request_log_retention_days)
            if counts.idempotency_keys or counts.request_log_entries:
                log.info(
                    "purged %d idempotency keys and %d request log entries",
                    counts.idempotency_keys,
                    counts.request_log_entries,
                )
        except Exception:
            log.exception("retention purge failed; will retry")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), PURGE_INTERVAL_SECONDS)
