"""What bench/webhooks.py does inside Kassa's own store, in its own process.

Events are written the way a request writes them: `kassa.services.events.announce` inside
`Store.write()` units, which stores the event and one outbox row per matching endpoint. Writing
tens of thousands of events through the HTTP API would take minutes (about 1,000 per second)
and measure the API rather than the delivery worker; this does the same writes through the same
code, many events per unit of work. No SQL is written here.

Also here: the "anything left to deliver?" probe (Kassa's own claim query asked about the far
future, so that every pending delivery counts, claimed or not), and fresh PostgreSQL
databases for a run.
"""

from __future__ import annotations

import dataclasses
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from kassa.clock import SystemClock
from kassa.services.context import Context
from kassa.services.events import announce
from kassa.store import Store, Transaction, open_store

# Events announced in one unit of work (one SAVEPOINT of a group commit on SQLite, one
# transaction on PostgreSQL): large enough that commits cost nothing, small enough that one
# unit holds the writer only for a fraction of a second.
EVENTS_PER_UNIT = 1_000
PROGRESS_INTERVAL_S = 2.0
# A time after every delivery's next attempt and every claim's lease: asked "which endpoints
# have work due then?", Kassa's claim query names every endpoint with anything pending.
FAR_FUTURE_MS = 2**62
# Endpoints one probe reports; an account has at most 16.
PROBE_ENDPOINTS_MAX = 64
# Bound on the admin statements that create and drop a PostgreSQL database.
POSTGRES_ADMIN_TIMEOUT_S = 30.0


@dataclasses.dataclass(frozen=True)
class TimedEvent:
    """An event written on its own, with the wall-clock time around its unit of work."""

    event_id: str
    write_started: float
    committed: float


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def open_bench_store(url: str) -> Store:
    """The run's database, already migrated by `kassa accounts create`."""
    return await open_store(url)


def event_context(account_id: str, tx: Transaction) -> Context:
    # A worker-like context: no request id or idempotency key, as for a background change.
    return Context(account_id=account_id, tx=tx, clock=SystemClock())


async def announce_many(
    store: Store,
    account_id: str,
    event_types: Sequence[str],
    obj: Mapping[str, Any],
    count: int,
    label: str,
) -> list[str]:
    """`count` events of `event_types` in turn, each about `obj`; their ids, in order.

    Progress (count, rate) is printed every PROGRESS_INTERVAL_S.
    """
    event_ids: list[str] = []
    started = last_report = time.monotonic()
    units = -(-count // EVENTS_PER_UNIT)
    for unit in range(units):
        in_unit = min(EVENTS_PER_UNIT, count - unit * EVENTS_PER_UNIT)
        async with store.write() as tx:
            ctx = event_context(account_id, tx)
            for _ in range(in_unit):
                event_type = event_types[len(event_ids) % len(event_types)]
                event_ids.append(await announce(ctx, event_type, dict(obj)))
        now = time.monotonic()
        if now - last_report >= PROGRESS_INTERVAL_S:
            last_report = now
            say(
                f"    {label}: {len(event_ids):,}/{count:,} events written "
                f"({len(event_ids) / (now - started):,.0f}/s)"
            )
    return event_ids


async def announce_timed(
    store: Store, account_id: str, event_type: str, obj: Mapping[str, Any]
) -> TimedEvent:
    """One event in a unit of work of its own, timed from before the write to after COMMIT
    (on SQLite, `write()` returns once its group commit is durable)."""
    write_started = time.time()
    async with store.write() as tx:
        event_id = await announce(event_context(account_id, tx), event_type, dict(obj))
    return TimedEvent(event_id, write_started, time.time())


async def endpoints_with_pending_deliveries(store: Store) -> list[str]:
    """Endpoints that still have a delivery pending (due or not, claimed or not)."""
    async with store.read() as tx:
        endpoints = await tx.webhook_endpoints_with_work("", FAR_FUTURE_MS, PROBE_ENDPOINTS_MAX)
    return [endpoint.endpoint_id for endpoint in endpoints]


# --- PostgreSQL databases for a run ---------------------------------------------------------


def postgres_database_url(admin_url: str, name: str) -> str:
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}"


def new_postgres_database_name(phase: str) -> str:
    return f"kassa_bench_webhooks_{phase}_{uuid.uuid4().hex[:8]}"


async def postgres_admin(admin_url: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(admin_url, timeout=POSTGRES_ADMIN_TIMEOUT_S)
    try:
        await connection.execute(statement, timeout=POSTGRES_ADMIN_TIMEOUT_S)
    finally:
        await connection.close()


async def create_postgres_database(admin_url: str, name: str) -> None:
    await postgres_admin(admin_url, f'CREATE DATABASE "{name}"')


async def drop_postgres_database(admin_url: str, name: str) -> None:
    await postgres_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
