"""Opening the configured database, migrated, without importing the server.

`kassa serve` (through `kassa.runtime`) and every command that only needs the store open it
here. Importing `kassa.runtime` pulls in the whole HTTP app, the dashboard and the workers:
about a second of CPU that `kassa ledger verify`, `kassa accounts create`, `kassa fx` and
`kassa reconcile` would otherwise pay at each start, and test suites start them often.
"""

from __future__ import annotations

from kassa.clock import Clock, unix_seconds
from kassa.config import Settings
from kassa.store import Store, migrate, open_store


async def open_unmigrated_store(settings: Settings) -> Store:
    return await open_store(
        settings.database_url,
        sqlite_synchronous=settings.sqlite_synchronous,
        pool_size=settings.db_pool_size,
    )


async def open_migrated_store(settings: Settings, clock: Clock) -> Store:
    store = await open_unmigrated_store(settings)
    try:
        await migrate(store, unix_seconds(clock))
    except BaseException:
        await store.close()
        raise
    return store
