"""The real-time `payouts` and `refund_failures` jobs against objects whose work keeps
failing: they must neither end the job's round nor hide the objects due after them. A
failure once raised out of the job's loop, so each round ended at the first failing object,
at every poll, and nothing due after it was ever done. More than a scan's batch of failing
objects (stored broken, directly in the store: a payout marked paid with a move still due, a
refund whose charge is gone), due ahead of a healthy one, on a `kassa serve` of their own
whose jobs do the work at its start."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import stripe

from kassa.ids import new_id
from kassa.services.due_work import DUE_BATCH_MAX, FAILED_WORK_RETRY_SECONDS
from kassa.store import Store
from kassa.store.refund_failure_queries import ScheduledRefundFailure
from kassa.store.tables import PAYOUTS, REFUNDS, ObjectTable
from tests.conftest import module_server
from tests.direct_store import raw_row, with_store
from tests.harness import KassaServer, create_account
from tests.test_balance import idempotency, pay

FAILING_COUNT = DUE_BATCH_MAX + 1
"""More failing objects than one scan reads."""
DONE_WAIT_SECONDS = 20.0
"""How long the jobs' rounds at the server's start may take to reach the healthy objects."""
DONE_POLL_SECONDS = 0.1
POSTPONE_SLACK_SECONDS = 60
"""How long after the server's start the jobs may postpone the failing objects."""


@dataclass(frozen=True)
class Starved:
    server: KassaServer
    client: stripe.StripeClient
    started_at: int
    """When the server was started with everything due."""
    payout: str
    """A pending payout due to leave for the bank, due after the failing ones."""
    failing_payouts: list[str]
    """Marked paid with a move still due (due since 0): `_arrive` finds them not in transit."""
    refund: str
    """A refund whose failure is due, after the failing ones."""
    failing_refunds: list[str]
    """Refunds whose failure is due since 0 and whose charge is gone."""


starvation_server = module_server("due-jobs-starvation", KassaServer)


def stored_copies(
    server: KassaServer,
    account_id: str,
    table: ObjectTable,
    prefix: str,
    original_id: str,
    change: Callable[[dict[str, Any]], dict[str, Any]],
) -> list[str]:
    """Store `FAILING_COUNT` copies of the object `original_id` as `change` makes them; their
    ids."""

    async def store_them(store: Store) -> list[str]:
        async with store.write() as tx:
            found = await tx.get_object(table, account_id, original_id)
            assert found is not None
            made = [change({**found[0], "id": new_id(prefix)}) for _ in range(FAILING_COUNT)]
            for document in made:
                await tx.insert_object(table, account_id, document)
        return [str(document["id"]) for document in made]

    return with_store(server.database_url, store_them)


def make_due(server: KassaServer, account_id: str, payout_id: str, due_at: int) -> None:
    async def change(store: Store) -> None:
        async with store.write() as tx:
            found = await tx.get_object(PAYOUTS, account_id, payout_id)
            assert found is not None
            found[0]["_kassa"]["due_at"] = due_at
            await tx.update_object(PAYOUTS, account_id, found[0])

    with_store(server.database_url, change)


def schedule_failures(
    server: KassaServer, account_id: str, refund_ids: list[str], fails_at: int
) -> None:
    async def schedule(store: Store) -> None:
        async with store.write() as tx:
            for refund_id in refund_ids:
                failure = ScheduledRefundFailure(fails_at, "expired_or_canceled_card")
                await tx.schedule_refund_failure(account_id, refund_id, failure, None)

    with_store(server.database_url, schedule)


def failing_payout(document: dict[str, Any]) -> dict[str, Any]:
    return {**document, "status": "paid", "_kassa": {**document["_kassa"], "due_at": 0}}


def gone_charge(document: dict[str, Any]) -> dict[str, Any]:
    return {**document, "charge": "ch_gone"}


@pytest.fixture(scope="module")
def starved(starvation_server: KassaServer) -> Starved:
    """The jobs' first rounds at the server's start, with `FAILING_COUNT` payouts and refund
    failures whose work fails due ahead of a healthy one of each."""
    server = starvation_server
    account = create_account(server.database_url)
    client = server.client(account.secret_key)
    pay(client, 50_000, payment_method="pm_card_bypassPending")
    payout = client.v1.payouts.create(
        params={"amount": 1_000, "currency": "usd"}, options=idempotency()
    )
    intent = pay(client, 2_000)
    refund = client.v1.refunds.create(params={"payment_intent": intent.id}, options=idempotency())
    server.stop()
    failing_payouts = stored_copies(server, account.id, PAYOUTS, "po", payout.id, failing_payout)
    make_due(server, account.id, payout.id, 1)
    failing_refunds = stored_copies(server, account.id, REFUNDS, "re", refund.id, gone_charge)
    schedule_failures(server, account.id, failing_refunds, 0)
    schedule_failures(server, account.id, [refund.id], 1)
    started_at = int(time.time())
    # The `payouts` and `refund_failures` jobs run their first rounds at once. The port may
    # have been taken while the server was down: the client is made anew after the start.
    server.start_on_any_port()
    client = server.client(account.secret_key)
    return Starved(
        server, client, started_at, payout.id, failing_payouts, refund.id, failing_refunds
    )


def stored(server: KassaServer, sql: str, object_id: str) -> Any:
    row = raw_row(server.database_url, sql, object_id)
    assert row is not None
    return row[0]


def wait_for(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DONE_WAIT_SECONDS
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(DONE_POLL_SECONDS)
    raise AssertionError(f"{what} not done after {DONE_WAIT_SECONDS} s")


def assert_postponed(starved: Starved, due_times: list[Any]) -> None:
    """Tried and failed, each is looked at again an hour later rather than at every poll."""
    retry_at = starved.started_at + FAILED_WORK_RETRY_SECONDS
    assert all(
        at is not None and retry_at <= int(at) <= retry_at + POSTPONE_SLACK_SECONDS
        for at in due_times
    ), due_times


def test_failing_payout_moves_do_not_starve_the_payouts_due_after_them(
    starved: Starved,
) -> None:
    # Read in the store: reading the payout through the API would move it itself.
    server = starved.server
    status_sql = "SELECT status FROM payouts WHERE id = ?"
    wait_for(lambda: stored(server, status_sql, starved.payout) == "in_transit", "the payout")
    due_sql = "SELECT due_at FROM payouts WHERE id = ?"
    assert_postponed(starved, [stored(server, due_sql, p) for p in starved.failing_payouts])


def test_failing_refund_failures_do_not_starve_the_ones_due_after_them(
    starved: Starved,
) -> None:
    refunds = starved.client.v1.refunds
    wait_for(lambda: refunds.retrieve(starved.refund).status == "failed", "the refund failure")
    fails_sql = "SELECT fails_at FROM refund_failures WHERE id = ?"
    server = starved.server
    assert_postponed(starved, [stored(server, fails_sql, r) for r in starved.failing_refunds])
