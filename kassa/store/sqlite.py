"""SQLite adapter: WAL, one writer connection serialized by a lock, one reader connection.

SQLite calls run on the event loop thread: each is a few microseconds on local disk, far
cheaper than a hop to a thread pool. No write transaction may await anything slow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from kassa.invariants import InvariantViolated
from kassa.store.conflicts import DatabaseUnavailable
from kassa.store.queries import Row, Transaction
from kassa.store.statements import LIKE, LOWER, like_text, lower_text

BATCH_UNITS_MAX = 256
"""Units of work one group commit may carry before it commits at once."""
BUSY_TIMEOUT_MS = 10_000
"""How long a statement waits for another process's write lock before failing."""
CHECKPOINT_INTERVAL_SECONDS = 0.1
"""How often the background checkpointer copies the WAL back into the database file: often,
so each checkpoint is small (at 0.5 s, confirmed payments at concurrency 1 had a p99 of
35-48 ms; at 0.1 s, 10-11 ms)."""
WAL_AUTOCHECKPOINT_PAGES = 20_000
"""The writer checkpoints inline only past this many WAL pages (about 80 MB): a safety net
should the background checkpointer fall behind. SQLite's default, 1,000 pages, made the
writer checkpoint (and fsync the database file) on the event loop every few hundred
requests; off the loop, customer creates ran about a quarter faster and their p99 halved."""

UNAVAILABLE_MESSAGES = (
    "database is locked",
    "database or disk is full",
    "disk I/O error",
    "unable to open database file",
    "attempt to write a readonly database",
    "locking protocol",
)
"""SQLite errors that say the database cannot be used now (another process held a lock past
BUSY_TIMEOUT_MS; the disk is full or failing; SQLITE_PROTOCOL, "locking protocol": no stable
view of the WAL index, as when the writing process was stopped part way through updating it),
not that a statement is wrong: the unit is rolled back and reported as DatabaseUnavailable
(503), and the next one may succeed. Reads map them too (`_ReadUnit`)."""

READ_ONLY_REFUSAL = "attempt to write a readonly database"
"""A write on a read unit's connection (`PRAGMA query_only`) fails so: a bug, not an outage."""

log = logging.getLogger("kassa.store.sqlite")


def unavailable(error: sqlite3.Error, doing: str = "written") -> DatabaseUnavailable | None:
    """`error` as DatabaseUnavailable, if it is one of UNAVAILABLE_MESSAGES."""
    text = str(error)
    if isinstance(error, sqlite3.OperationalError) and text.startswith(UNAVAILABLE_MESSAGES):
        return DatabaseUnavailable(f"the SQLite database cannot be {doing}: {text}")
    return None


def unavailable_to_read(error: sqlite3.Error) -> DatabaseUnavailable | None:
    """`error` of a read unit as DatabaseUnavailable, as `unavailable` says, but for a write
    the read-only connection refused: that is a bug in the unit, not a passing outage."""
    if str(error).startswith(READ_ONLY_REFUSAL):
        return None
    return unavailable(error, "read")


class SqliteExecutor:
    commit_ordered = True
    """One writer: rows take rowids in the order they commit."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        self._connection.execute(sql, args)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._connection.executemany(sql, rows)

    async def fetchone(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        row: Row | None = self._connection.execute(sql, args).fetchone()
        return row

    async def fetchall(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        return self._connection.execute(sql, args).fetchall()


class ThreadedSqliteExecutor(SqliteExecutor):
    """Runs each statement on a worker thread: for scans too long for the event loop. The
    connection is this executor's alone, and `scan_lock` lets one scan use it at a time."""

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        await asyncio.to_thread(self._connection.execute, sql, args)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        raise InvariantViolated("a scan unit only reads")

    async def fetchone(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        row: Row | None = await asyncio.to_thread(
            lambda: self._connection.execute(sql, args).fetchone()
        )
        return row

    async def fetchall(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        return await asyncio.to_thread(lambda: self._connection.execute(sql, args).fetchall())


StatementObserver = Callable[[str], object]
"""Told the text of every statement a store runs (tests/test_statement_budget.py counts them)."""


def connect(
    path: str, synchronous: str, on_statement: StatementObserver | None = None
) -> sqlite3.Connection:
    """A connection set as the store sets each of its own (also for a tool that must run
    statements exactly as the store would: `bench/renewal_floor.py` replays Kassa's)."""
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    connection.execute("PRAGMA journal_mode = WAL")
    # NORMAL in WAL mode: a committed transaction survives a crash of the process (it is in
    # the WAL, written before COMMIT returns) but may be lost with the operating system.
    connection.execute(f"PRAGMA synchronous = {synchronous}")
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
    connection.create_function(LOWER, 1, lower_text, deterministic=True)
    connection.create_function(LIKE, 2, like_text, deterministic=True)
    if on_statement is not None:
        # sqlite3's own tracing; without a callback SQLite calls nothing, so it costs nothing.
        connection.set_trace_callback(on_statement)
    return connection


def _read_only(connection: sqlite3.Connection) -> sqlite3.Connection:
    """A connection for read units: a statement that writes fails on it. Autocommit, it would
    otherwise commit at once, outside any unit and its group commit (a preview that stored
    a discount and counted a redemption did, until found)."""
    connection.execute("PRAGMA query_only = ON")
    return connection


class _ReadUnit:
    """A read unit on the reader connection: nothing to begin or end. A plain async context
    manager, as every GET opens one: `asynccontextmanager`'s generator cost a retrieve
    3.5% of its instructions (bench/app_instructions.py: 331,027 against 319,535)."""

    __slots__ = ("_executor",)

    def __init__(self, executor: SqliteExecutor) -> None:
        self._executor = executor

    async def __aenter__(self) -> Transaction:
        return Transaction(self._executor)

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: object
    ) -> None:
        # A read the database cannot serve now is a 503 to retry, as a write's is, not a 500.
        if isinstance(error, sqlite3.Error):
            lost = unavailable_to_read(error)
            if lost is not None:
                raise lost from error


class SqliteStore:
    """Group commit: each `write()` unit is a SAVEPOINT inside a shared transaction that
    commits once the event loop has run every unit that was ready in the same iteration.

    A commit costs ~70 us whatever it holds, so at load one commit carries many requests'
    writes. A unit that fails rolls back to its savepoint and leaves the others intact. A
    unit's `write()` block returns only after its batch has committed, so nothing is
    acknowledged before it is durable, and a failed commit fails every unit in the batch.

    One writer also keeps lists exact as they are: rows take rowids (their `seq`) in the order
    they commit, so a reader never meets a row that a lower seq commits after (PostgreSQL
    needs more: `kassa.store.seq_order`).
    """

    engine = "sqlite"
    serializes_writes = True

    def __init__(
        self,
        path: str,
        synchronous: str = "NORMAL",
        on_statement: StatementObserver | None = None,
    ) -> None:
        """`on_statement`, for tests: told every statement any of the connections runs
        (transaction control included), as it starts."""
        if synchronous not in ("NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"unsupported SQLite synchronous mode {synchronous!r}")
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._writer = connect(path, synchronous, on_statement)
        self._reader = _read_only(connect(path, synchronous, on_statement))
        self._scanner = _read_only(connect(path, synchronous, on_statement))
        self._checkpointer = connect(path, synchronous)
        self._checkpoint_task: asyncio.Task[None] | None = None
        self._checkpoint_thread_lock = threading.Lock()
        self.checkpoints = 0
        """Background checkpoints so far (observable by tests)."""
        self._scan_lock = asyncio.Lock()
        self._write_lock = asyncio.Lock()
        self._write_executor = SqliteExecutor(self._writer)
        self._read_executor = SqliteExecutor(self._reader)
        self._batch: asyncio.Future[None] | None = None
        self._batch_units = 0
        self.commits = 0
        """Group commits so far (observable by tests and metrics)."""

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Transaction]:
        self._start_checkpointer()
        async with self._write_lock:
            try:
                batch = self._join_batch()
            except sqlite3.Error as error:
                raise unavailable(error) or error from error
            self._writer.execute("SAVEPOINT unit")
            tx = Transaction(self._write_executor, writes=True, single_writer=True)
            try:
                yield tx
                await tx.finish()
            except BaseException as error:
                lost = unavailable(error) if isinstance(error, sqlite3.Error) else None
                if self._writer.in_transaction:
                    self._writer.execute("ROLLBACK TO unit")
                    self._writer.execute("RELEASE unit")
                else:
                    # SQLite rolled the whole transaction back itself (a full disk, an I/O
                    # error): the units of the batch that had already finished are lost too,
                    # and are told so instead of waiting for a commit that cannot come.
                    self._fail_batch(
                        lost or DatabaseUnavailable(f"the transaction was lost: {error}")
                    )
                if lost is not None:
                    raise lost from error
                raise
            self._writer.execute("RELEASE unit")
            if self._batch_units >= BATCH_UNITS_MAX:
                self._commit_batch()
        # Shielded: the future is shared by every unit of the batch, and one unit's
        # cancellation must neither cancel it for the others nor hide their commit.
        await asyncio.shield(batch)
        tx.committed()

    def _join_batch(self) -> asyncio.Future[None]:
        if self._batch is None:
            self._writer.execute("BEGIN IMMEDIATE")
            self._batch = asyncio.get_running_loop().create_future()
            self._batch_units = 0
            asyncio.get_running_loop().call_soon(self._commit_when_idle)
        self._batch_units += 1
        return self._batch

    def _commit_when_idle(self) -> None:
        if self._write_lock.locked():
            # A unit is mid-flight (it awaited something); commit after it.
            asyncio.get_running_loop().call_soon(self._commit_when_idle)
            return
        self._commit_batch()

    def _fail_batch(self, error: Exception) -> None:
        batch, self._batch = self._batch, None
        if batch is not None and not batch.done():
            batch.set_exception(error)
            # Retrieved here: when no other unit waits on it, nothing else would.
            batch.add_done_callback(lambda done: done.exception())

    def _commit_batch(self) -> None:
        if not self._writer.in_transaction:
            # `write()` fails the batch whose transaction SQLite dropped; none is left open.
            self._fail_batch(InvariantViolated("a pending group commit lost its transaction"))
            return
        batch, self._batch = self._batch, None
        if batch is None:
            return
        try:
            self._writer.execute("COMMIT")
        except sqlite3.Error as error:
            with contextlib.suppress(sqlite3.Error):
                self._writer.execute("ROLLBACK")
            if not batch.done():
                batch.set_exception(unavailable(error) or error)
            return
        self.commits += 1
        if not batch.done():
            batch.set_result(None)

    def read(self) -> AbstractAsyncContextManager[Transaction]:
        # Autocommit reads: each statement sees the latest committed state.
        return _ReadUnit(self._read_executor)

    @asynccontextmanager
    async def scan(self) -> AsyncIterator[Transaction]:
        async with self._scan_lock:
            try:
                yield Transaction(ThreadedSqliteExecutor(self._scanner))
            except sqlite3.Error as error:
                raise unavailable_to_read(error) or error from error

    def _start_checkpointer(self) -> None:
        """Checkpoints run on a thread with a connection of their own (sqlite3 releases the
        GIL while it copies pages and syncs the file), from the first write on."""
        if self._checkpoint_task is None:
            self._checkpoint_task = asyncio.get_running_loop().create_task(
                self._checkpoint_regularly(), name="kassa-sqlite-checkpoint"
            )

    async def _checkpoint_regularly(self) -> None:
        # `commits` when a checkpoint last copied the whole WAL: until this process commits
        # again there is nothing of its own to copy, so an idle server skips the thread hop
        # and the statement (ten a second, each idle `kassa serve`'s largest steady cost).
        copied_up_to_commit = -1
        while True:
            await asyncio.sleep(CHECKPOINT_INTERVAL_SECONDS)
            if self.commits == copied_up_to_commit:
                continue
            commits = self.commits
            try:
                # PASSIVE: copies what it can without waiting for readers or the writer.
                whole = await asyncio.to_thread(self._checkpoint_once)
                self.checkpoints += 1
            except sqlite3.Error:
                # The writer's own checkpoint (WAL_AUTOCHECKPOINT_PAGES) still bounds the
                # WAL; the next interval tries again.
                log.exception("background WAL checkpoint failed; will retry")
                continue
            if whole:
                copied_up_to_commit = commits

    def _checkpoint_once(self) -> bool:
        """Whether the checkpoint copied every frame of the WAL (a reader holding an older
        snapshot can keep a passive checkpoint from copying the newest)."""
        with self._checkpoint_thread_lock:
            row = self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        blocked, wal_frames, copied_frames = row
        return not blocked and wal_frames == copied_frames

    async def close(self) -> None:
        if self._checkpoint_task is not None:
            self._checkpoint_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpoint_task
        # A cancelled task's thread may still be checkpointing: wait for it to let go.
        await asyncio.to_thread(self._checkpoint_thread_lock.acquire)
        async with self._write_lock:
            self._commit_batch()
        async with self._scan_lock:
            self._scanner.close()
        self._reader.close()
        self._checkpointer.close()
        self._writer.close()
        self._checkpoint_thread_lock.release()
