"""A database that cannot be reached or written: the API answers 503 in Stripe's `api_error`
shape with `Retry-After` instead of hanging or answering 500, writes nothing half, and serves
again once the database is back; an idempotent request retried with its key then runs once.

PostgreSQL: a real server's database stops accepting connections and its sessions are
terminated (`ALLOW_CONNECTIONS false` and `pg_terminate_backend`), then is opened again.
SQLite: a real database file that cannot grow (`max_page_count` on the writer's connection:
SQLite's own "database or disk is full", as a full disk gives)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kassa.store import DatabaseUnavailable, migrate, open_store
from kassa.store.sqlite import SqliteStore
from kassa.store.tables import CUSTOMERS
from tests.conftest import require_postgres
from tests.harness import (
    KassaServer,
    _admin_execute,
    create_account,
    fresh_postgres_database,
)

ANSWER_SECONDS_MAX = 8.0
"""A 503 comes within the pool's acquire timeout (5 s) and then some: never a hang."""


@pytest.fixture
def postgres_server(tmp_path: Path) -> Iterator[tuple[KassaServer, str]]:
    require_postgres()
    with fresh_postgres_database() as database_url:
        server = KassaServer(
            database_url, tmp_path / "serve.log", {"KASSA_WEBHOOK_WORKERS": "0"}
        ).start()
        try:
            yield server, database_url.rpartition("/")[2]
        finally:
            _admin_execute(
                f'ALTER DATABASE "{database_url.rpartition("/")[2]}" ALLOW_CONNECTIONS true'
            )
            server.stop()


def close_database(name: str) -> None:
    _admin_execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    _admin_execute(
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    )


def open_database(name: str) -> None:
    _admin_execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def test_postgres_down_is_a_503_with_retry_after_and_nothing_half_written(
    postgres_server: tuple[KassaServer, str],
) -> None:
    server, name = postgres_server
    account = create_account(server.database_url)
    with server.http(account.secret_key) as http:
        assert http.post("/v1/customers", data={"name": "before"}).status_code == 200
        close_database(name)
        started = time.monotonic()
        refused = http.post(
            "/v1/customers", data={"name": "during"}, headers={"Idempotency-Key": "outage-1"}
        )
        assert time.monotonic() - started < ANSWER_SECONDS_MAX
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["type"] == "api_error"
        assert "cannot reach its database" in refused.json()["error"]["message"]
        assert http.get("/v1/customers").status_code == 503
        page = http.get("/kassa/invoices/in_1OutageProbe", params={"secret": "probe"})
        assert page.status_code == 503, page.text  # a hosted page too, not a 500
        assert page.headers["retry-after"] == "1"
        open_database(name)
        retried = _eventually_ok(
            lambda: http.post(
                "/v1/customers", data={"name": "during"}, headers={"Idempotency-Key": "outage-1"}
            )
        )
        again = http.post(
            "/v1/customers", data={"name": "during"}, headers={"Idempotency-Key": "outage-1"}
        )
        assert again.json()["id"] == retried.json()["id"]
        names = [c["name"] for c in http.get("/v1/customers").json()["data"]]
        assert sorted(names) == ["before", "during"]


def _eventually_ok(send: object) -> httpx.Response:
    """The pool reconnects on the first request after the database opens again."""
    assert callable(send)
    deadline = time.monotonic() + ANSWER_SECONDS_MAX
    while True:
        response: httpx.Response = send()
        if response.status_code != 503 or time.monotonic() > deadline:
            assert response.status_code == 200, response.text
            return response
        time.sleep(0.1)


def test_a_full_sqlite_database_fails_the_unit_whole_and_recovers(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = await open_store(str(tmp_path / "kassa.db"))
        assert isinstance(store, SqliteStore)
        await migrate(store, 0)
        async with store.write() as tx:
            await tx.insert_account({"id": "acct_1", "created": 0})
        writer = store._writer  # the store's own connection: the limit is per connection
        pages = writer.execute("PRAGMA page_count").fetchone()[0]
        writer.execute(f"PRAGMA max_page_count = {pages}")
        big = {"id": "cus_big", "object": "customer", "created": 1, "note": "x" * 200_000}
        with pytest.raises(DatabaseUnavailable, match="database or disk is full"):
            async with store.write() as tx:
                await tx.insert_object(CUSTOMERS, "acct_1", {**big, "id": "cus_small", "note": ""})
                await tx.insert_object(CUSTOMERS, "acct_1", big)
        async with store.read() as tx:
            assert await tx.get_object(CUSTOMERS, "acct_1", "cus_small") is None
        writer.execute(f"PRAGMA max_page_count = {pages * 1000}")
        async with store.write() as tx:
            await tx.insert_object(CUSTOMERS, "acct_1", big)
        async with store.read() as tx:
            assert await tx.get_object(CUSTOMERS, "acct_1", "cus_big") is not None
        await store.close()

    asyncio.run(scenario())


def test_a_full_disk_fails_every_unit_of_its_group_commit(tmp_path: Path) -> None:
    """SQLite drops the whole transaction on SQLITE_FULL: a unit that had finished in the
    same batch is lost with it, and is told so rather than left waiting."""

    async def scenario() -> list[object]:
        store = await open_store(str(tmp_path / "kassa.db"))
        assert isinstance(store, SqliteStore)
        await migrate(store, 0)
        async with store.write() as tx:
            await tx.insert_account({"id": "acct_1", "created": 0})
        pages = store._writer.execute("PRAGMA page_count").fetchone()[0]
        store._writer.execute(f"PRAGMA max_page_count = {pages + 1}")

        async def insert(customer_id: str, note: str) -> None:
            async with store.write() as tx:
                await tx.insert_object(
                    CUSTOMERS,
                    "acct_1",
                    {"id": customer_id, "object": "customer", "created": 1, "note": note},
                )

        outcomes = await asyncio.gather(
            insert("cus_first", ""), insert("cus_second", "x" * 200_000), return_exceptions=True
        )
        async with store.read() as tx:
            found = [
                await tx.get_object(CUSTOMERS, "acct_1", i) for i in ("cus_first", "cus_second")
            ]
        await store.close()
        return [*outcomes, *found]

    first, second, *found = asyncio.run(scenario())
    assert isinstance(first, DatabaseUnavailable) and isinstance(second, DatabaseUnavailable)
    assert found == [None, None]


def test_a_read_sqlite_cannot_serve_now_is_unavailable_not_an_error(tmp_path: Path) -> None:
    """SQLITE_PROTOCOL ("locking protocol") comes to a reader when another process was
    stopped part way through updating the WAL index (tests/direct_store.py meets it by
    SIGSTOP); no test can stop a process at that instant, so the reader's own error is raised
    inside the store's real read and scan units: each is DatabaseUnavailable (the API's 503),
    where a statement's own mistake stays what it is (a 500)."""

    async def scenario() -> None:
        store = await open_store(str(tmp_path / "kassa.db"))
        assert isinstance(store, SqliteStore)
        await migrate(store, 0)
        with pytest.raises(DatabaseUnavailable, match="cannot be read: locking protocol"):
            async with store.read():
                raise sqlite3.OperationalError("locking protocol")
        with pytest.raises(DatabaseUnavailable, match="cannot be read: locking protocol"):
            async with store.scan():
                raise sqlite3.OperationalError("locking protocol")
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            async with store.read() as tx:
                await tx.run_script_statement("SELECT 1 FROM no_such_table")
        async with store.read() as tx:
            assert await tx.get_object(CUSTOMERS, "acct_1", "cus_none") is None
        await store.close()

    asyncio.run(scenario())


LOAD_THREADS = 4
OUTAGE_SECONDS = 2.0


def test_postgres_going_away_under_load_answers_200_or_503_and_loses_nothing(
    postgres_server: tuple[KassaServer, str],
) -> None:
    """Writers keep sending while the database's sessions are terminated and new ones
    refused, then allowed again (what a PostgreSQL restart does to its clients): every
    answer is 200 or 503 (never a 500 or a hang), and each request retried with its key
    afterwards exists exactly once."""
    server, name = postgres_server
    account = create_account(server.database_url)
    stop = threading.Event()
    answered: dict[str, int] = {}
    lock = threading.Lock()

    def write(thread: int) -> None:
        with server.http(account.secret_key) as http:
            number = 0
            while not stop.is_set():
                number += 1
                key = f"load-{thread}-{number}"
                status = http.post(
                    "/v1/customers", data={"name": key}, headers={"Idempotency-Key": key}
                ).status_code
                with lock:
                    answered[key] = status

    writers = [threading.Thread(target=write, args=(n,)) for n in range(LOAD_THREADS)]
    for writer in writers:
        writer.start()
    try:
        time.sleep(0.5)
        close_database(name)
        time.sleep(OUTAGE_SECONDS)
        open_database(name)
        time.sleep(1.0)
    finally:
        stop.set()
        for writer in writers:
            writer.join(30)
    statuses = set(answered.values())
    assert statuses <= {200, 503}, statuses
    assert 503 in statuses and 200 in statuses
    with server.http(account.secret_key) as http:
        for key, status in answered.items():
            if status == 503:
                retried = _eventually_ok(
                    lambda key=key: http.post(
                        "/v1/customers", data={"name": key}, headers={"Idempotency-Key": key}
                    )
                )
                assert retried.json()["name"] == key
        names: list[str] = []
        params: dict[str, str | int] = {"limit": 100}
        while True:
            page = http.get("/v1/customers", params=params).json()
            names += [customer["name"] for customer in page["data"]]
            if not page["has_more"]:
                break
            params["starting_after"] = page["data"][-1]["id"]
    assert sorted(names) == sorted(answered)
