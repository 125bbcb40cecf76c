"""Subscriptions renewing on a test clock when things go wrong: `kill -9` of `kassa serve` in
the middle of an advance (started again, the advance completes with every period billed
once, none skipped), and on PostgreSQL `kassa serve` and a `kassa worker` advancing one clock
together (no period billed twice). Each on a database of its own; the ledger verified."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest
import stripe

from kassa.store import Store
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import INVOICES, TEST_CLOCKS
from tests.conftest import fresh_database
from tests.direct_store import look_while_paused, with_store
from tests.harness import KassaServer, assert_ledger_whole, create_account
from tests.test_subscriptions import JAN_31_2027, monthly_price, utc
from tests.test_webhook_durability import start_worker

Client = stripe.StripeClient

SUBSCRIPTIONS = 30
RENEWALS = (utc(2027, 2, 28), utc(2027, 3, 31), utc(2027, 4, 30))
"""When the subscriptions started on Jan 31 renew (a shorter month ends on its last day)."""
MONTHS = len(RENEWALS)
RENEWED_BY = RENEWALS[-1] + 2 * 3_600
"""Past the third renewal and its charge an hour later."""
INVOICES_IN_ALL = SUBSCRIPTIONS * (1 + MONTHS)
WAIT_SECONDS = 90.0
POLL_SECONDS = 0.01
RUN_SLICE_SECONDS = 0.002
"""How long the server runs between two looks at the clock (paused for each look): far
shorter than a unit of the clock's work (`clock_advance.PIECES_PER_UNIT_MAX` pieces, tens
of milliseconds), and the advance is several units (about six)."""
LOOKS_MAX = int(WAIT_SECONDS / RUN_SLICE_SECONDS)


def subscriptions_on_a_clock(client: Client) -> tuple[str, list[str]]:
    """One clock, SUBSCRIPTIONS customers on it with a card, each with a monthly plan."""
    price = monthly_price(client)
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": JAN_31_2027})
    ids = []
    for _ in range(SUBSCRIPTIONS):
        customer = client.v1.customers.create(
            params={
                "test_clock": clock.id,
                "payment_method": "pm_card_visa",
                "invoice_settings": {"default_payment_method": "pm_card_visa"},
            }
        )
        subscription = client.v1.subscriptions.create(
            params={"customer": customer.id, "items": [{"price": price.id}]}
        )
        ids.append(subscription.id)
    return clock.id, ids


def wait_until_ready(client: Client, clock_id: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        status = client.v1.test_helpers.test_clocks.retrieve(clock_id).status
        if status == "ready":
            return
        assert status == "advancing", status
        time.sleep(POLL_SECONDS * 5)
    raise AssertionError(f"test clock {clock_id} still advancing after {WAIT_SECONDS} s")


def assert_each_period_billed_once(client: Client, subscription_ids: list[str]) -> None:
    for subscription_id in subscription_ids:
        invoices = client.v1.invoices.list(
            params={"subscription": subscription_id, "limit": 100}
        ).data
        starts = Counter(i.period_end for i in invoices)
        assert sorted(starts) == [JAN_31_2027, *RENEWALS], subscription_id
        assert set(starts.values()) == {1}, f"a period of {subscription_id} billed twice"
        assert {(i.status, i.amount_paid) for i in invoices} == {("paid", 2000)}


def invoices_stored(database_url: str, account_id: str) -> int:
    async def count(store: Store) -> int:
        async with store.read() as tx:
            page = await tx.list_objects(
                INVOICES, account_id, ObjectListQuery(limit=INVOICES_IN_ALL + 1)
            )
        return len(page.objects)

    return with_store(database_url, count)


def test_a_kill_mid_advance_bills_every_period_once(
    private_database_url: str, tmp_path: Path
) -> None:
    server = KassaServer(private_database_url, tmp_path / "kassa-serve.log").start()
    try:
        account = create_account(private_database_url)
        client = server.client(account.secret_key)
        clock_id, subscription_ids = subscriptions_on_a_clock(client)
        client.v1.test_helpers.test_clocks.advance(clock_id, params={"frozen_time": RENEWED_BY})
        kill_mid_advance(server, private_database_url, account.id, clock_id)
        made = invoices_stored(private_database_url, account.id)
        assert SUBSCRIPTIONS < made < INVOICES_IN_ALL, f"the kill came with {made} invoices"
        server.start()
        wait_until_ready(client, clock_id)
        assert_each_period_billed_once(client, subscription_ids)
        assert_ledger_whole(private_database_url)
    finally:
        server.stop()


def kill_mid_advance(
    server: KassaServer, database_url: str, account_id: str, clock_id: str
) -> None:
    """`kill -9` the server once its clock has committed the first renewals and not yet the
    last. The server runs in short slices; each look at the clock is made with it paused,
    and the kill comes before it runs again, so it lands on the state seen. (Killing after a
    poll that saw the first renewal left the server running meanwhile: on a busy machine it
    could finish the advance before the kill.)"""

    async def watch(store: Store) -> None:
        for _ in range(LOOKS_MAX):
            with server.paused():
                looked = clock_time_committed(store, account_id, clock_id)
                committed_time = await look_while_paused(looked)
                if committed_time is not None:
                    assert committed_time < RENEWALS[-1], "the last renewals came between looks"
                    if committed_time >= RENEWALS[0]:
                        server.kill()
                        return
            await asyncio.sleep(RUN_SLICE_SECONDS)
        raise AssertionError("the clock renewed nothing")

    with_store(database_url, watch)


async def clock_time_committed(store: Store, account_id: str, clock_id: str) -> int:
    """The clock's time as its last committed unit of work left it (one row: a list read on
    PostgreSQL would wait for the paused server's open unit, `kassa.store.seq_order`)."""
    async with store.read() as tx:
        found = await tx.get_object(TEST_CLOCKS, account_id, clock_id, lock=False)
    assert found is not None
    clock, _ = found
    assert clock["status"] == "advancing", clock
    return int(clock["frozen_time"])


@pytest.mark.postgres
def test_two_processes_advancing_one_clock_bill_each_period_once(tmp_path: Path) -> None:
    with fresh_database("postgres", tmp_path) as url:
        server = KassaServer(url, tmp_path / "kassa-serve.log").start()
        worker = start_worker(url, tmp_path / "kassa-worker.log")
        try:
            client = server.client(create_account(url).secret_key)
            clock_id, subscription_ids = subscriptions_on_a_clock(client)
            client.v1.test_helpers.test_clocks.advance(clock_id, params={"frozen_time": RENEWED_BY})
            wait_until_ready(client, clock_id)
            assert_each_period_billed_once(client, subscription_ids)
            assert_ledger_whole(url)
        finally:
            worker.terminate()
            server.stop()
