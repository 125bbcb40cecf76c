"""Purges idempotency keys older than 24 hours, request log entries past their retention,
events (with their webhook deliveries and attempts) after 30 days, as Stripe keeps them, and
expired dashboard sessions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from kassa.clock import DAY_SECONDS, Clock
from kassa.store import Store
from kassa.store.request_queries import IDEMPOTENCY_KEY_RETENTION_SECONDS

PURGE_INTERVAL_SECONDS = 60.0
PURGE_BATCH_ROWS = 1_000
"""Rows deleted per transaction, so a purge never holds the SQLite writer for long."""
PURGE_BATCHES_PER_RUN_MAX = 100
EVENT_RETENTION_DAYS = 30

log = logging.getLogger("kassa.retention")


@dataclass(frozen=True)
class PurgeCounts:
    idempotency_keys: int
    request_log_entries: int
    events: int = 0

    @property
    def total(self) -> int:
        return self.idempotency_keys + self.request_log_entries + self.events


async def purge_once(store: Store, clock: Clock, request_log_retention_days: int) -> PurgeCounts:
    now = clock.now()
    keys_before = int(now) - IDEMPOTENCY_KEY_RETENTION_SECONDS
    log_before_ms = int((now - request_log_retention_days * DAY_SECONDS) * 1000)
    events_before = int(now) - EVENT_RETENTION_DAYS * DAY_SECONDS
    keys = entries = events = 0
    for _ in range(PURGE_BATCHES_PER_RUN_MAX):
        async with store.write() as tx:
            purged_keys = await tx.purge_idempotency_keys(
                keys_before, int(now * 1000), PURGE_BATCH_ROWS
            )
            purged_entries = await tx.purge_request_log(log_before_ms, PURGE_BATCH_ROWS)
            purged_events = await tx.purge_events(events_before, PURGE_BATCH_ROWS)
            # Expired dashboard sessions are refused anyway; this only keeps the table small.
            await tx.purge_dashboard_sessions(int(now * 1000), PURGE_BATCH_ROWS)
        keys += purged_keys
        entries += purged_entries
        events += purged_events
        if max(purged_keys, purged_entries, purged_events) < PURGE_BATCH_ROWS:
            break
        await asyncio.sleep(0)  # let requests in between batches
    return PurgeCounts(keys, entries, events)


async def run_retention(
    store: Store, clock: Clock, request_log_retention_days: int, stopping: asyncio.Event
) -> None:
    while not stopping.is_set():
        try:
            counts = await purge_once(store, clock, request_log_retention_days)
            if counts.total:
                log.info(
                    "purged %d idempotency keys, %d request log entries and %d events",
                    counts.idempotency_keys,
                    counts.request_log_entries,
                    counts.events,
                )
        except Exception:
            log.exception("retention purge failed; will retry")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), PURGE_INTERVAL_SECONDS)
