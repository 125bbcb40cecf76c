"""SQLite adapter: WAL, one writer connection serialized by a lock, one reader connection.

SQLite calls run on the event loop thread: each is a few microseconds on local disk, far
cheaper than a hop to a thread pool. No write transaction may await anything slow.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from kassa.store.queries import Row, Transaction

BUSY_TIMEOUT_MS = 10_000
"""How long a statement waits for another process's write lock before failing."""


class SqliteExecutor:
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


def _connect(path: str, synchronous: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    connection.execute("PRAGMA journal_mode = WAL")
    # NORMAL in WAL mode: a committed transaction survives a crash of the process (it is in
    # the WAL, written before COMMIT returns) but may be lost with the operating system.
    connection.execute(f"PRAGMA synchronous = {synchronous}")
    connection.execute("PRAGMA foreign_keys = ON")
    return connection


class SqliteStore:
    engine = "sqlite"

    def __init__(self, path: str, synchronous: str = "NORMAL") -> None:
        if synchronous not in ("NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"unsupported SQLite synchronous mode {synchronous!r}")
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._writer = _connect(path, synchronous)
        self._reader = _connect(path, synchronous)
        self._write_lock = asyncio.Lock()
        self._write_executor = SqliteExecutor(self._writer)
        self._read_executor = SqliteExecutor(self._reader)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Transaction]:
        async with self._write_lock:
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield Transaction(self._write_executor)
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
            self._writer.execute("COMMIT")

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Transaction]:
        # Autocommit reads: each statement sees the latest committed state.
        yield Transaction(self._read_executor)

    async def close(self) -> None:
        self._reader.close()
        self._writer.close()
