"""The SQLite adapter's group commit, on a real database file."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from kassa.store import migrate, open_store
from kassa.store.sqlite import SqliteStore
from kassa.store.tables import CUSTOMERS


def _customer(customer_id: str) -> dict[str, object]:
    return {"id": customer_id, "object": "customer", "created": 1, "email": None}


def _committed_ids(path: Path) -> set[str]:
    """What another connection (another process, a crash survivor) can see."""
    with sqlite3.connect(path) as connection:
        return {row[0] for row in connection.execute("SELECT id FROM customers")}


async def _prepared(path: Path) -> SqliteStore:
    store = await open_store(str(path))
    assert isinstance(store, SqliteStore)
    await migrate(store, 0)
    async with store.write() as tx:
        await tx.insert_account({"id": "acct_1", "created": 0})
    return store


def test_units_in_one_batch_commit_together_and_failures_stay_isolated(tmp_path: Path) -> None:
    path = tmp_path / "kassa.db"

    async def scenario() -> list[str | BaseException]:
        store = await _prepared(path)

        async def unit(number: int) -> str:
            async with store.write() as tx:
                await tx.insert_object(CUSTOMERS, "acct_1", _customer(f"cus_{number}"))
                if number % 3 == 0:
                    raise ValueError(f"unit {number} fails after writing")
            # Returned only after the batch committed: visible to another connection now.
            assert f"cus_{number}" in _committed_ids(path)
            return f"cus_{number}"

        commits_before = store.commits
        results = await asyncio.gather(*(unit(n) for n in range(12)), return_exceptions=True)
        # All twelve units were ready in one loop iteration: one commit carried them.
        assert store.commits - commits_before == 1
        await store.close()
        return results

    results = asyncio.run(scenario())
    failed = [r for r in results if isinstance(r, ValueError)]
    assert len(failed) == 4
    assert _committed_ids(path) == {f"cus_{n}" for n in range(12) if n % 3 != 0}


def test_write_is_durable_when_the_block_returns(tmp_path: Path) -> None:
    path = tmp_path / "kassa.db"

    async def scenario() -> None:
        store = await _prepared(path)
        async with store.write() as tx:
            await tx.insert_object(CUSTOMERS, "acct_1", _customer("cus_a"))
        assert _committed_ids(path) == {"cus_a"}
        await store.close()

    asyncio.run(scenario())


def test_a_read_unit_cannot_write(tmp_path: Path) -> None:
    """The reader's and the scanner's connections are autocommit: a write there would commit
    at once, outside any unit and its group commit (a preview once stored a discount so).
    They are query-only: the write fails and nothing is kept."""
    path = tmp_path / "kassa.db"

    async def scenario() -> None:
        store = await _prepared(path)
        for unit in (store.read, store.scan):
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                async with unit() as tx:
                    await tx.insert_object(CUSTOMERS, "acct_1", _customer("cus_read"))
        async with store.read() as tx:
            assert await tx.get_object(CUSTOMERS, "acct_1", "cus_read") is None
        await store.close()

    asyncio.run(scenario())
    assert _committed_ids(path) == set()


def test_unsupported_synchronous_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous"):
        SqliteStore(str(tmp_path / "x.db"), synchronous="OFF")


def test_the_wal_is_checkpointed_off_the_event_loop(tmp_path: Path) -> None:
    """Writes leave checkpointing to a background thread: the WAL's frames reach the
    database file while the writer goes on, and closing the store waits for a checkpoint
    in flight."""
    from kassa.store import sqlite as sqlite_store

    path = tmp_path / "kassa.db"

    async def scenario() -> tuple[int, int, int]:
        store = await _prepared(path)
        # The migrations are still in the WAL: the writer no longer checkpoints inline.
        size_before = path.stat().st_size
        for number in range(200):
            async with store.write() as tx:
                await tx.insert_object(CUSTOMERS, "acct_1", _customer(f"cus_{number}"))
        await asyncio.sleep(sqlite_store.CHECKPOINT_INTERVAL_SECONDS * 3)
        checkpoints = store.checkpoints
        size_after = path.stat().st_size  # pages copied back into the database file
        await store.close()
        return checkpoints, size_before, size_after

    checkpoints, size_before, size_after = asyncio.run(scenario())
    assert checkpoints >= 1
    assert size_after > size_before
    assert _committed_ids(path) >= {"cus_0", "cus_199"}


def test_an_idle_store_checkpoints_only_after_a_new_commit(tmp_path: Path) -> None:
    """Once a checkpoint has copied the whole WAL, the checkpointer skips its rounds until
    this store commits again: an idle server does no checkpoint work."""
    from kassa.store import sqlite as sqlite_store

    rounds = sqlite_store.CHECKPOINT_INTERVAL_SECONDS * 5

    async def scenario() -> tuple[int, int, int]:
        store = await _prepared(tmp_path / "kassa.db")
        await asyncio.sleep(rounds)  # the migrations' and the account's frames copied
        after_writes = store.checkpoints
        await asyncio.sleep(rounds)
        while_idle = store.checkpoints
        async with store.write() as tx:
            await tx.insert_object(CUSTOMERS, "acct_1", _customer("cus_after"))
        await asyncio.sleep(rounds)
        after_new_commit = store.checkpoints
        await store.close()
        return after_writes, while_idle, after_new_commit

    after_writes, while_idle, after_new_commit = asyncio.run(scenario())
    assert after_writes >= 1
    assert while_idle == after_writes
    assert after_new_commit > while_idle


def test_the_writer_checkpoints_inline_only_far_behind(tmp_path: Path) -> None:
    from kassa.store import sqlite as sqlite_store

    async def autocheckpoint_pages() -> int:
        store = await _prepared(tmp_path / "kassa.db")
        row = store._writer.execute("PRAGMA wal_autocheckpoint").fetchone()
        await store.close()
        return int(row[0])

    assert asyncio.run(autocheckpoint_pages()) == sqlite_store.WAL_AUTOCHECKPOINT_PAGES
