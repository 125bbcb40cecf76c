"""Storage: one interface (`Store`, `Transaction`), with SQLite and PostgreSQL adapters.

All SQL lives in this package.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol
from urllib.parse import unquote, urlsplit, urlunsplit

from kassa.config import DB_POOL_SIZE_DEFAULT
from kassa.store.conflicts import DatabaseUnavailable, WriteConflict
from kassa.store.queries import Transaction


class Store(Protocol):
    engine: str
    serializes_writes: bool
    """True when only one write transaction can run at a time (SQLite, even across
    processes): callers may then fold steps that would race elsewhere into one transaction."""

    def write(self) -> AbstractAsyncContextManager[Transaction]:
        """One write transaction; commits when the block ends, rolls back on any exception."""
        ...

    def read(self) -> AbstractAsyncContextManager[Transaction]: ...

    def scan(self) -> AbstractAsyncContextManager[Transaction]:
        """A read unit for statements that read whole tables (a ledger verify): on SQLite
        they run on a worker thread with a connection of their own, so the event loop keeps
        serving meanwhile."""
        ...

    async def close(self) -> None: ...


class UnsupportedDatabaseUrl(ValueError):
    pass


def redacted_url(url: str) -> str:
    """The URL with any password replaced, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def sqlite_path_from_url(url: str) -> str:
    """SQLAlchemy's form: `sqlite:///relative.db`, `sqlite:////absolute.db`; or a bare path."""
    if not url.startswith("sqlite:"):
        path = url
    elif url.startswith("sqlite:///"):
        path = unquote(url[len("sqlite:///") :])
    else:
        raise UnsupportedDatabaseUrl(
            f"SQLite URLs look like sqlite:///relative.db or "
            f"sqlite:////absolute/path.db, not {url!r}"
        )
    if path in ("", ":memory:"):
        # Kassa reads and writes on separate connections (and `kassa serve` opens more),
        # and each connection to an in-memory or temporary database gets a database of its own.
        raise UnsupportedDatabaseUrl(
            f"Kassa needs a SQLite database file, such as sqlite:///kassa.db, not {url!r}"
        )
    return path


async def open_store(
    url: str, *, sqlite_synchronous: str = "NORMAL", pool_size: int = DB_POOL_SIZE_DEFAULT
) -> Store:
    """The store at `url`; `pool_size`: PostgreSQL connections this process may hold."""
    if url.startswith(("postgresql://", "postgres://")):
        import asyncpg

        from kassa.store.postgres import PostgresStore

        try:
            return await PostgresStore.connect(url, pool_size=pool_size)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            raise DatabaseUnavailable(
                f"cannot connect to PostgreSQL at {redacted_url(url)}: {error}"
            ) from error
    if url.startswith("sqlite:") or "://" not in url:
        import sqlite3

        from kassa.store.sqlite import SqliteStore

        path = sqlite_path_from_url(url)
        try:
            return SqliteStore(path, synchronous=sqlite_synchronous)
        except (OSError, sqlite3.Error) as error:
            raise DatabaseUnavailable(f"cannot open the SQLite database {path}: {error}") from error
    raise UnsupportedDatabaseUrl(
        f"unsupported database URL {redacted_url(url)!r}: "
        "use sqlite:///path/to/kassa.db or postgresql://..."
    )


async def migrate(store: Store, now: int) -> list[str]:
    # The module is `schema`, not `migrate`: a submodule named like this function would
    # replace it as an attribute of the package the first time it is imported.
    from kassa.store.schema import apply_pending

    async with store.write() as tx:
        return await apply_pending(tx, store.engine, now)


__all__ = [
    "DatabaseUnavailable",
    "Store",
    "Transaction",
    "UnsupportedDatabaseUrl",
    "WriteConflict",
    "migrate",
    "open_store",
    "redacted_url",
]
