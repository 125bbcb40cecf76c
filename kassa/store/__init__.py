"""Storage: one interface (`Store`, `Transaction`), with SQLite and PostgreSQL adapters.

All SQL lives in this package.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol
from urllib.parse import unquote

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

    async def close(self) -> None: ...


class UnsupportedDatabaseUrl(ValueError):
    pass


def sqlite_path_from_url(url: str) -> str:
    """SQLAlchemy's form: `sqlite:///relative.db`, `sqlite:////absolute.db`; or a bare path."""
    if not url.startswith("sqlite:"):
        return url
    if not url.startswith("sqlite:///"):
        raise UnsupportedDatabaseUrl(
            f"SQLite URLs look like sqlite:///relative.db or "
            f"sqlite:////absolute/path.db, not {url!r}"
        )
    return unquote(url[len("sqlite:///") :])


async def open_store(url: str, *, sqlite_synchronous: str = "NORMAL") -> Store:
    if url.startswith(("postgresql://", "postgres://")):
        from kassa.store.postgres import PostgresStore

        return await PostgresStore.connect(url)
    if url.startswith("sqlite:") or "://" not in url:
        from kassa.store.sqlite import SqliteStore

        return SqliteStore(sqlite_path_from_url(url), synchronous=sqlite_synchronous)
    raise UnsupportedDatabaseUrl(
        f"unsupported database URL {url!r}: use sqlite:///path/to/kassa.db or postgresql://..."
    )


async def migrate(store: Store, now: int) -> list[str]:
    from kassa.store.migrate import apply_pending

    async with store.write() as tx:
        return await apply_pending(tx, store.engine, now)


__all__ = ["Store", "Transaction", "UnsupportedDatabaseUrl", "migrate", "open_store"]
