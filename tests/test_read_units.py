"""A read unit cannot write, on either engine: its connection is in autocommit, so a write
there would commit at once, outside any unit of work and its rollback (a preview once stored
a discount and counted a redemption so). Both engines refuse it and keep nothing."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from kassa.invariants import InvariantViolated
from kassa.store import Store, migrate, open_store
from kassa.store.postgres import only_reads
from kassa.store.tables import CUSTOMERS
from tests.conftest import ENGINES, fresh_database

ACCOUNT = "acct_read_units"
REFUSAL: dict[str, type[Exception]] = {
    "sqlite": sqlite3.OperationalError,  # the reader's PRAGMA query_only
    "postgres": InvariantViolated,  # the executor's own guard
}


def _customer(customer_id: str) -> dict[str, object]:
    return {"id": customer_id, "object": "customer", "created": 0, "email": None}


async def _prepared(url: str) -> Store:
    store = await open_store(url)
    await migrate(store, 0)
    async with store.write() as tx:
        await tx.insert_account({"id": ACCOUNT, "created": 0})
    return store


@pytest.mark.parametrize("engine", ENGINES)
def test_a_read_unit_refuses_a_write_and_keeps_nothing(engine: str, tmp_path: Path) -> None:
    with fresh_database(engine, tmp_path) as url:

        async def scenario() -> None:
            store = await _prepared(url)
            try:
                for unit in (store.read, store.scan):
                    with pytest.raises(REFUSAL[engine]):
                        async with unit() as tx:
                            await tx.insert_object(CUSTOMERS, ACCOUNT, _customer("cus_read"))
                async with store.read() as tx:
                    assert await tx.get_object(CUSTOMERS, ACCOUNT, "cus_read") is None
                async with store.write() as tx:
                    await tx.insert_object(CUSTOMERS, ACCOUNT, _customer("cus_written"))
                async with store.read() as tx:
                    assert await tx.get_object(CUSTOMERS, ACCOUNT, "cus_written") is not None
            finally:
                await store.close()

        asyncio.run(scenario())


@pytest.mark.parametrize(
    ("sql", "reads"),
    [
        ("SELECT doc FROM customers WHERE id = ?", True),
        ("  select 1", True),
        ("WITH page AS (SELECT seq FROM events) SELECT * FROM page", True),
        ("WITH gone AS (DELETE FROM events RETURNING seq) SELECT * FROM gone", False),
        ("INSERT INTO customers (id) VALUES (?) RETURNING seq", False),
        ("UPDATE customers SET doc = ? RETURNING seq", False),
        ("DELETE FROM customers RETURNING seq", False),
        ("", False),
    ],
)
def test_what_counts_as_a_read_on_postgresql(sql: str, reads: bool) -> None:
    assert only_reads(sql) is reads
