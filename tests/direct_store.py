"""Kassa's own store, opened in the test process against the database a server uses.

For the states a test cannot produce through HTTP (a crash's leftover claim) and for reading
what the server wrote (the request log), always through Kassa's store code, never raw SQL
against the API's tables.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from kassa import observers
from kassa.clock import Clock, FrozenClock
from kassa.config import Settings
from kassa.services import hooks
from kassa.services.context import PaymentConfig
from kassa.services.setup import load_payment_config
from kassa.store import DatabaseUnavailable, Store, Transaction, open_store, sqlite_path_from_url
from kassa.store.dashboard_queries import LoggedRequest
from kassa.store.postgres import to_numbered_placeholders
from kassa.store.request_queries import IdempotencyRecord, RequestLogEntry
from kassa.store.schema import MIGRATIONS_TABLE, load_migrations
from kassa.workers.retention import PurgeCounts, purge_once
from tests.harness import run_coroutine

T = TypeVar("T")

POLL_INTERVAL_SECONDS = 0.05


PAUSED_WRITER_MESSAGE = "locking protocol"
"""SQLite's SQLITE_PROTOCOL: a reader could not get a stable view of the WAL index within
SQLite's own retries, as when the writing process was stopped (SIGSTOP) part way through
updating it."""


async def look_while_paused(look: Awaitable[T]) -> T | None:
    """`look`'s answer, read while the server is paused; None when the pause caught the
    server's writer part way through updating SQLite's WAL index: let it run and look again."""
    try:
        return await look
    except (sqlite3.OperationalError, DatabaseUnavailable) as error:
        if PAUSED_WRITER_MESSAGE not in str(error):
            raise
        return None


def with_store(database_url: str, work: Callable[[Store], Awaitable[T]]) -> T:
    async def run() -> T:
        store = await open_store(database_url)
        try:
            return await work(store)
        finally:
            await store.close()

    return run_coroutine(run)


async def apply_migrations_before(tx: Transaction, engine: str, version: int, now: int) -> None:
    """Every migration older than `version` applied in `tx`, and none after: the schema of a
    database written before that migration, for a test to put rows in for it to upgrade."""
    await tx.run_script_statement(MIGRATIONS_TABLE)
    for migration in load_migrations(engine):
        if migration.version >= version:
            return
        for statement in migration.statements:
            await tx.run_script_statement(statement.rstrip(";"))
        await tx.record_migration(migration.version, migration.name, now)


def run_backfill(database_url: str, version: int) -> None:
    """The UPDATE statements of migration `version` run again, as its upgrade ran them over
    the rows written before it (a test first puts rows back as they were then)."""
    engine = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    [migration] = [m for m in load_migrations(engine) if m.version == version]

    async def run(store: Store) -> None:
        async with store.write() as tx:
            for statement in migration.statements:
                if statement.lstrip().startswith("UPDATE"):
                    await tx.run_script_statement(statement.rstrip(";"))

    with_store(database_url, run)


def run_job_once(
    database_url: str,
    step: Callable[[Store, Clock, PaymentConfig], Awaitable[int]],
    now: float,
) -> int:
    """One run of a background job's step (`advance_due_invoices`,
    `expire_due_authorizations`, ...) in this process, on a clock frozen at `now`: what the
    job would do at that time. Its count."""
    hooks.install(observers.OBSERVERS)

    async def run(store: Store) -> int:
        payments = await load_payment_config(store, Settings(database_url=database_url))
        return await step(store, FrozenClock(now), payments)

    return with_store(database_url, run)


def logged_request(database_url: str, account_id: str, request_id: str) -> LoggedRequest | None:
    """One request as the log keeps it, bodies included (as the dashboard shows it)."""

    async def read(store: Store) -> LoggedRequest | None:
        async with store.read() as tx:
            return await tx.get_logged_request(account_id, request_id)

    return with_store(database_url, read)


def raw_row(database_url: str, sql: str, *args: object) -> tuple[Any, ...] | None:
    """One row of `sql` (with `?` placeholders) read past the store: the one exception to
    this module's rule, for a test that checks how something is stored rather than what the
    store gives back (a column's encoding)."""
    if database_url.startswith("sqlite"):
        with sqlite3.connect(sqlite_path_from_url(database_url)) as db:
            row = db.execute(sql, args).fetchone()
        return None if row is None else tuple(row)

    async def fetch() -> tuple[Any, ...] | None:
        connection = await asyncpg.connect(database_url)
        try:
            found = await connection.fetchrow(to_numbered_placeholders(sql), *args)
        finally:
            await connection.close()
        return None if found is None else tuple(found)

    return run_coroutine(fetch)


def idempotency_record(database_url: str, account_id: str, key: str) -> IdempotencyRecord | None:
    async def read(store: Store) -> IdempotencyRecord | None:
        async with store.read() as tx:
            return await tx.get_idempotency_record(account_id, key)

    return with_store(database_url, read)


def request_log(database_url: str, account_id: str, limit: int = 100) -> list[RequestLogEntry]:
    async def read(store: Store) -> list[RequestLogEntry]:
        async with store.read() as tx:
            return await tx.list_request_log(account_id, limit)

    return with_store(database_url, read)


def wait_for_request_log(
    database_url: str, account_id: str, request_ids: set[str], timeout_seconds: float = 10.0
) -> dict[str, RequestLogEntry]:
    """The log entries for `request_ids`, once all are written (the writer batches them)."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        found = {
            entry.request_id: entry
            for entry in request_log(database_url, account_id)
            if entry.request_id in request_ids
        }
        if set(found) == request_ids or time.monotonic() > deadline:
            return found
        time.sleep(POLL_INTERVAL_SECONDS)


def purge(database_url: str, clock: Clock, request_log_retention_days: int) -> PurgeCounts:
    async def run(store: Store) -> PurgeCounts:
        return await purge_once(store, clock, request_log_retention_days)

    return with_store(database_url, run)
