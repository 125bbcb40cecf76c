"""Subscriptions renewing on a test clock when things go wrong: `kill -9` of `kassa serve` in
the middle of an advance (started again, the advance completes with every period billed
once, none skipped), and on PostgreSQL `kassa serve` and a `kassa worker` advancing one clock
together (no period billed twice). Each on a database of its own; the ledger verified."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
import stripe

from kassa.store import Store
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import INVOICES
from tests.conftest import fresh_database
from tests.direct_store import with_store
from tests.harness import KassaServer, assert_ledger_whole, create_account
from tests.test_subscriptions import JAN_31_2027, monthly_price, utc
from tests.test_webhook_durability import start_worker

Client = stripe.StripeClient

SUBSCRIPTIONS = 30
MONTHS = 3
RENEWED_BY = utc(2027, 4, 30) + 2 * 3_600
"""Past the third renewal (Feb 28, Mar 31, Apr 30) and its charge an hour later."""
INVOICES_IN_ALL = SUBSCRIPTIONS * (1 + MONTHS)
WAIT_SECONDS = 90.0
POLL_SECONDS = 0.01


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
        starts = Counter(i.period_start for i in invoices)
        assert sorted(starts) == [
            JAN_31_2027,
            utc(2027, 2, 28),
            utc(2027, 3, 31),
            utc(2027, 4, 30),
        ], subscription_id
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
        _wait_for_a_first_renewal(client)
        server.kill()
        made = invoices_stored(private_database_url, account.id)
        assert SUBSCRIPTIONS < made < INVOICES_IN_ALL, f"the kill came with {made} invoices"
        server.start()
        wait_until_ready(client, clock_id)
        assert_each_period_billed_once(client, subscription_ids)
        assert_ledger_whole(private_database_url)
    finally:
        server.stop()


def _wait_for_a_first_renewal(client: Client) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        newest = client.v1.invoices.list(params={"limit": 1}).data
        if newest and newest[0].billing_reason == "subscription_cycle":
            return
        time.sleep(POLL_SECONDS)
    raise AssertionError("the clock renewed nothing")


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
