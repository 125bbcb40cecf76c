"""Background jobs woken by the units of work that give them work (`kassa.services.wakeups`):
a write unit's commit callbacks (`Transaction.after_commit`), on real SQLite and PostgreSQL,
and a polling job with a wake-up (`kassa.workers.polling`), which runs its next round when
notified instead of at its next poll. The `capture_postings` job is woken this way by each
payment; what that does for a caller is in `test_async_capture.py`."""

from __future__ import annotations

import asyncio
import logging

import pytest

from kassa.clock import Clock, SystemClock
from kassa.config import Settings
from kassa.services import accounts
from kassa.services.context import PaymentConfig
from kassa.services.wakeups import Wakeup
from kassa.store import Store, migrate, open_store
from kassa.store.tables import CUSTOMERS
from kassa.workers.polling import (
    IDLE_POLL_SECONDS_MAX,
    IDLE_ROUNDS_AT_FULL_RATE,
    PollingJob,
    Step,
    idle_poll_seconds,
    run_polling,
)

ROUND_WAIT_SECONDS = 10.0
"""How long a test waits for a woken job's round: far less than its poll, far more than a
round takes."""
POLL_SECONDS = 3_600.0
"""A poll the tests never reach: only a notification can start a round."""


async def _store(database_url: str) -> tuple[Store, str]:
    clock = SystemClock()
    store = await open_store(database_url)
    await migrate(store, int(clock.now()))
    async with store.write() as tx:
        account = await accounts.create_account(tx, clock, "Wake-ups")
    return store, str(account.account["id"])


def test_a_commit_callback_runs_once_after_the_commit_and_never_after_a_rollback(
    private_database_url: str,
) -> None:
    async def scenario() -> None:
        store, account_id = await _store(private_database_url)
        calls: list[bool] = []

        def seen() -> None:
            calls.append(True)

        try:
            async with store.write() as tx:
                await tx.insert_object(CUSTOMERS, account_id, _customer("cus_kept"))
                tx.after_commit(seen)
                tx.after_commit(seen)  # asked for twice: called once
                assert calls == []
            assert calls == [True]

            with pytest.raises(ValueError, match="rolled back"):
                async with store.write() as tx:
                    await tx.insert_object(CUSTOMERS, account_id, _customer("cus_lost"))
                    tx.after_commit(seen)
                    raise ValueError("rolled back")
            assert calls == [True]
            async with store.read() as tx:
                assert await tx.get_object(CUSTOMERS, account_id, "cus_lost") is None
        finally:
            await store.close()

    asyncio.run(scenario())


def _customer(customer_id: str) -> dict[str, object]:
    return {"id": customer_id, "object": "customer", "created": 1, "email": None}


def test_a_job_with_a_wakeup_runs_a_round_when_notified_not_at_its_poll(
    private_database_url: str,
) -> None:
    async def scenario() -> None:
        store, _ = await _store(private_database_url)
        wakeup = Wakeup()
        rounds: list[int] = []
        went = asyncio.Event()

        async def step(_store: Store, _clock: Clock, _payments: PaymentConfig) -> int:
            rounds.append(len(rounds) + 1)
            went.set()
            return 0

        job = PollingJob(
            steps=(Step(step, "ran %d"),),
            poll_seconds=POLL_SECONDS,
            log=logging.getLogger("kassa.tests.wakeups"),
            failed="the test step failed",
            wakeup=wakeup,
        )
        stopping = asyncio.Event()
        settings = Settings(database_url=private_database_url)
        running = asyncio.create_task(run_polling(job, store, SystemClock(), settings, stopping))
        try:
            for expected in (1, 2, 3):
                await asyncio.wait_for(went.wait(), ROUND_WAIT_SECONDS)
                went.clear()
                assert rounds == list(range(1, expected + 1))
                wakeup.notify()
        finally:
            stopping.set()
            await asyncio.wait_for(running, ROUND_WAIT_SECONDS)
            await store.close()

    asyncio.run(scenario())


def test_a_quiet_job_with_a_short_poll_slows_to_the_idle_interval() -> None:
    """A job polls at its own interval while work came lately; after
    `IDLE_ROUNDS_AT_FULL_RATE` empty rounds in a row, at `IDLE_POLL_SECONDS_MAX` (never
    faster than its own interval): its wake-up, not the poll, brings this process's work."""
    short = IDLE_POLL_SECONDS_MAX / 10
    assert [idle_poll_seconds(short, n) for n in range(IDLE_ROUNDS_AT_FULL_RATE)] == [
        short
    ] * IDLE_ROUNDS_AT_FULL_RATE
    assert idle_poll_seconds(short, IDLE_ROUNDS_AT_FULL_RATE) == IDLE_POLL_SECONDS_MAX
    assert idle_poll_seconds(short, 10 * IDLE_ROUNDS_AT_FULL_RATE) == IDLE_POLL_SECONDS_MAX
    long = IDLE_POLL_SECONDS_MAX * 30
    assert idle_poll_seconds(long, 10 * IDLE_ROUNDS_AT_FULL_RATE) == long
