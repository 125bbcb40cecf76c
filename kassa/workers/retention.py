"""Purges idempotency keys older than 24 hours, request log entries past their retention,
events (with their webhook deliveries and attempts) after 30 days, as Stripe keeps them, and
expired dashboard sessions; and deletes test clocks past their `deletes_after` (30 days
after creation, as Stripe does), with their customers, each as its `DELETE` would.

All on the clock it is given, the installation's (a test passes a later one): retention is
real time, whatever a test clock's frozen time says."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from kassa.clock import DAY_SECONDS, Clock
from kassa.errors import KassaError
from kassa.services.context import Context
from kassa.services.test_clocks import DELETES_AFTER_SECONDS, delete_expired_test_clock
from kassa.store import Store
from kassa.store.clock_queries import ExpiredClock
from kassa.store.request_queries import IDEMPOTENCY_KEY_RETENTION_SECONDS

PURGE_INTERVAL_SECONDS = 60.0
PURGE_BATCH_ROWS = 1_000
"""Rows deleted per transaction, so a purge never holds the SQLite writer for long."""
PURGE_BATCHES_PER_RUN_MAX = 100
EVENT_RETENTION_DAYS = 30
EXPIRED_CLOCKS_PER_BATCH = 100
"""Expired test clocks read per scan; each is then deleted in a unit of work of its own (a
clock takes its customers with it)."""

log = logging.getLogger("kassa.retention")


@dataclass(frozen=True)
class PurgeCounts:
    idempotency_keys: int
    request_log_entries: int
    events: int = 0
    test_clocks: int = 0

    @property
    def total(self) -> int:
        return self.idempotency_keys + self.request_log_entries + self.events + self.test_clocks


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
    clocks = await delete_expired_test_clocks(store, clock)
    return PurgeCounts(keys, entries, events, clocks)


async def delete_expired_test_clocks(store: Store, clock: Clock) -> int:
    """Delete every test clock whose `deletes_after` has come at `clock.now()`, in bounded
    batches; how many were deleted."""
    created_before = int(clock.now()) - DELETES_AFTER_SECONDS
    deleted = 0
    for _ in range(PURGE_BATCHES_PER_RUN_MAX):
        async with store.read() as tx:
            expired = await tx.expired_test_clocks(created_before, EXPIRED_CLOCKS_PER_BATCH)
        for found in expired:
            deleted += await _delete_clock(store, clock, found)
        if len(expired) < EXPIRED_CLOCKS_PER_BATCH:
            break
        await asyncio.sleep(0)  # let requests in between batches
    return deleted


async def _delete_clock(store: Store, clock: Clock, found: ExpiredClock) -> int:
    try:
        async with store.write() as tx:
            ctx = Context(account_id=found.account_id, tx=tx, clock=clock)
            return int(await delete_expired_test_clock(ctx, found.clock_id))
    except KassaError as error:
        # Rolled back: the clock stays, and the next run tries it again.
        log.warning("test clock %s could not be deleted: %s", found.clock_id, error.message)
        return 0


async def run_retention(
    store: Store, clock: Clock, request_log_retention_days: int, stopping: asyncio.Event
) -> None:
    while not stopping.is_set():
        try:
            counts = await purge_once(store, clock, request_log_retention_days)
            if counts.total:
                log.info(
                    "purged %d idempotency keys, %d request log entries and %d events; "
                    "deleted %d test clocks",
                    counts.idempotency_keys,
                    counts.request_log_entries,
                    counts.events,
                    counts.test_clocks,
                )
        except Exception:
            log.exception("retention purge failed; will retry")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), PURGE_INTERVAL_SECONDS)
