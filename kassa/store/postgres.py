"""PostgreSQL adapter (asyncpg): a connection pool; each unit of work holds one connection."""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import asyncpg
from asyncpg.connection import LoggedQuery
from asyncpg.pool import PoolConnectionProxy

from kassa.invariants import ensure
from kassa.store.conflicts import DatabaseUnavailable, WriteConflict
from kassa.store.queries import Row, Transaction
from kassa.store.search_queries import postgres_json_expressions
from kassa.store.statements import FOR_UPDATE, LIKE, LOWER, SKIP_LOCKED

POOL_MIN_SIZE = 2
CONNECT_TIMEOUT_SECONDS = 5.0
"""How long opening one connection may take (asyncpg's default is a minute)."""
ACQUIRE_TIMEOUT_SECONDS = 5.0
"""How long a unit of work waits for a pooled connection before the request is answered
503: all busy (the pool too small for the load) or none can be opened (the database down)."""
STATEMENT_CACHE_ENTRIES = 512
LOST_CONNECTION_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CannotConnectNowError,
    asyncpg.CrashShutdownError,
    asyncpg.InternalClientError,
)
"""Raised inside a unit of work when its connection dies (the server restarted, the backend
was terminated): the unit is lost whole, and the request answered 503. asyncpg raises
InternalClientError ("cannot switch to state ...") for a pooled connection whose backend was
terminated between two units; Kassa never shares a connection between units, the other
way it arises."""

LOST_RACE_ERRORS = (
    asyncpg.UniqueViolationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
)
"""The statement lost a race with a concurrent transaction, and PostgreSQL rolled this one
back whole: a unique key another committed first, or two transactions that locked rows in
opposite orders (PostgreSQL breaks the deadlock by failing one). Run again, the unit reads
what the other committed (`WriteConflict`): a retry, not a 500."""

_PLACEHOLDER = re.compile(r"\?")


@functools.lru_cache(maxsize=STATEMENT_CACHE_ENTRIES)
def to_numbered_placeholders(sql: str) -> str:
    """`?` to `$1, $2, ...`: our statements have no `?` inside string literals."""
    counter = iter(range(1, 10_000))
    numbered = _PLACEHOLDER.sub(lambda _: f"${next(counter)}", postgres_json_expressions(sql))
    return (
        numbered.replace(SKIP_LOCKED, "FOR UPDATE SKIP LOCKED")
        .replace(FOR_UPDATE, " FOR UPDATE")
        .replace(f"{LOWER}(", "lower(")
        .replace(f"{LIKE}(", "textlike(")
    )


_WRITE_WORDS = re.compile(r"\b(INSERT|UPDATE|DELETE|MERGE|CREATE|ALTER|DROP|TRUNCATE)\b")


@functools.lru_cache(maxsize=STATEMENT_CACHE_ENTRIES)
def only_reads(sql: str) -> bool:
    """Whether `sql` is a query that writes nothing: a SELECT, or a WITH whose parts write
    nothing (an INSERT ... RETURNING is fetched as a query too)."""
    first = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
    return first == "SELECT" or (first == "WITH" and not _WRITE_WORDS.search(sql.upper()))


class PostgresExecutor:
    commit_ordered = False
    """Writers run at once and commit in any order: rows take seqs from tickets."""

    def __init__(
        self, connection: asyncpg.Connection | PoolConnectionProxy, *, read_only: bool = False
    ) -> None:
        self._connection = connection
        self._read_only = read_only
        """A read unit's: its connection is in autocommit, so a write would commit at once,
        outside any unit (a preview once stored a discount so). It is refused here, as
        SQLite's query-only reader refuses it, rather than by a read-only transaction,
        which would cost a BEGIN and a COMMIT on every read."""

    def _refuse_write(self, sql: str) -> None:
        ensure(not self._read_only, f"a read unit may not write: {sql[:120]}")

    def _refuse_unless_query(self, sql: str) -> None:
        if self._read_only and not only_reads(sql):
            self._refuse_write(sql)

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        self._refuse_write(sql)
        try:
            await self._connection.execute(to_numbered_placeholders(sql), *args)
        except LOST_RACE_ERRORS as error:
            raise WriteConflict(str(error)) from error

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._refuse_write(sql)
        try:
            await self._connection.executemany(to_numbered_placeholders(sql), list(rows))
        except LOST_RACE_ERRORS as error:
            raise WriteConflict(str(error)) from error

    async def fetchone(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        # An INSERT ... RETURNING is a fetch too.
        self._refuse_unless_query(sql)
        try:
            row = await self._connection.fetchrow(to_numbered_placeholders(sql), *args)
        except LOST_RACE_ERRORS as error:
            raise WriteConflict(str(error)) from error
        return None if row is None else tuple(row)

    async def fetchall(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        self._refuse_unless_query(sql)
        try:
            rows = await self._connection.fetch(to_numbered_placeholders(sql), *args)
        except LOST_RACE_ERRORS as error:
            raise WriteConflict(str(error)) from error
        return [tuple(row) for row in rows]


class _StatementLogging:
    """A pool `init` that installs a query logger on each new connection: unused, nothing
    is installed and asyncpg skips logging altogether."""

    def __init__(self, on_statement: Callable[[str], object]) -> None:
        self._on_statement = on_statement

    async def __call__(self, connection: asyncpg.Connection) -> None:
        connection.add_query_logger(self._logged)

    def _logged(self, record: LoggedQuery) -> None:
        self._on_statement(record.query)


async def _keep_session(connection: asyncpg.Connection) -> None:
    """What a connection needs when it returns to the pool, beyond the rollback of any open
    transaction that asyncpg always does: nothing. Kassa sets no session state (no SET,
    LISTEN, cursors held past a transaction, or session advisory locks: its advisory locks
    are transaction-scoped), so asyncpg's default reset query (`pg_advisory_unlock_all();
    CLOSE ALL; UNLISTEN *; RESET ALL`) would be one more round trip per request for nothing."""


def _raise_if_lost(connection: PoolConnectionProxy, error: Exception) -> None:
    """DatabaseUnavailable when `error` came of the connection dying: one of
    LOST_CONNECTION_ERRORS, or anything at all once the connection is closed (asyncpg then
    also fails to end the transaction, with an InterfaceError that hides the first)."""
    if isinstance(error, LOST_CONNECTION_ERRORS) or _is_gone(connection):
        raise DatabaseUnavailable(f"the database connection was lost: {error}") from error


def _is_gone(connection: PoolConnectionProxy) -> bool:
    """The connection is closed, or the pool has already taken it back (asyncpg detaches a
    proxy whose connection died, and then refuses even `is_closed()` on it)."""
    try:
        return connection.is_closed()
    except asyncpg.InterfaceError:
        return True


class PostgresStore:
    engine = "postgresql"
    serializes_writes = False

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def connect(
        cls,
        url: str,
        on_statement: Callable[[str], object] | None = None,
        *,
        pool_size: int,
    ) -> PostgresStore:
        """`on_statement`, for tests: told every statement any pooled connection runs
        (transaction control and the pool's reset on release included), one event-loop
        iteration after it ends (asyncpg's query loggers are called soon, not at once)."""
        init = None if on_statement is None else _StatementLogging(on_statement)
        pool = await asyncpg.create_pool(
            url,
            min_size=min(POOL_MIN_SIZE, pool_size),
            max_size=pool_size,
            init=init,
            reset=_keep_session,
            timeout=CONNECT_TIMEOUT_SECONDS,
        )
        return cls(pool)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Transaction]:
        async with self._connection() as connection:
            try:
                async with connection.transaction():
                    tx = Transaction(PostgresExecutor(connection), writes=True)
                    yield tx
                    await tx.finish()
            except Exception as error:
                _raise_if_lost(connection, error)
                raise
            tx.committed()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Transaction]:
        async with self._connection() as connection:
            try:
                yield Transaction(PostgresExecutor(connection, read_only=True))
            except Exception as error:
                _raise_if_lost(connection, error)
                raise

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[PoolConnectionProxy]:
        """A pooled connection; DatabaseUnavailable when none comes in time. Whatever stops
        the pool from handing one out (refused, timed out, the database not accepting
        connections) means the same to the caller."""
        try:
            connection = await self._pool.acquire(timeout=ACQUIRE_TIMEOUT_SECONDS)
        except Exception as error:
            raise DatabaseUnavailable(f"no database connection: {error}") from error
        try:
            yield connection
        finally:
            with contextlib.suppress(asyncpg.InterfaceError):  # already taken back (_is_gone)
                await self._pool.release(connection)

    def scan(self) -> AbstractAsyncContextManager[Transaction]:
        return self.read()  # asyncpg never blocks the event loop

    async def close(self) -> None:
        await self._pool.close()
