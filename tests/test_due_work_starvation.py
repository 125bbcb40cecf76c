"""The real-time `invoices` job against objects whose work keeps failing: they must not hide
the objects due after them. A failed renewal leaves its subscription due where it was (at
`renews_at` 0, as migration 0037 leaves live rows), ahead of every other; more than a scan's
batch of them once made every run read the same batch, find nothing new and stop, so that
nothing due after them was ever renewed. On a `kassa serve` of its own, whose job does the
work at its start; then the scan's walk itself, in this process, on the same database."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest
import stripe

from kassa.clock import DAY_SECONDS, FrozenClock
from kassa.services.billing.subscription_documents import INCOMPLETE_EXPIRES_SECONDS
from kassa.services.due_work import (
    DUE_BATCH_MAX,
    FAILED_WORK_RETRY_SECONDS,
    work_through_due,
)
from kassa.store import Store, Transaction
from kassa.store.clock_queries import DueSubscription
from kassa.store.tables import SUBSCRIPTIONS
from tests.conftest import module_server
from tests.direct_store import with_store
from tests.harness import KassaServer, create_account
from tests.test_subscription_stale_due import stored_renews_at
from tests.test_subscriptions import monthly_price

FAILING_COUNT = DUE_BATCH_MAX + 1
"""More failing subscriptions than one scan reads."""
RENEWED_WAIT_SECONDS = 20.0
"""How long the job at the server's start may take to reach the healthy subscription."""
RENEWED_POLL_SECONDS = 0.1


def backdate(
    server: KassaServer, account_id: str, subscription_id: str, changes: dict[str, Any]
) -> None:
    """The stored subscription created two days ago (so its 23 hours to pay have passed),
    with `changes` to its document (`_kassa` keys go into its private part)."""
    created = int(time.time()) - 2 * DAY_SECONDS

    async def change(store: Store) -> None:
        async with store.write() as tx:
            found = await tx.get_object(SUBSCRIPTIONS, account_id, subscription_id)
            assert found is not None
            document: dict[str, Any] = found[0]
            document["created"] = created
            document["_kassa"]["renews_at"] = created + INCOMPLETE_EXPIRES_SECONDS
            document["_kassa"].update(changes.get("_kassa", {}))
            document.update({key: value for key, value in changes.items() if key != "_kassa"})
            await tx.update_object(SUBSCRIPTIONS, account_id, document)

    with_store(server.database_url, change)


def wait_for_status(client: stripe.StripeClient, subscription_id: str, status: str) -> None:
    deadline = time.monotonic() + RENEWED_WAIT_SECONDS
    while time.monotonic() < deadline:
        if client.v1.subscriptions.retrieve(subscription_id).status == status:
            return
        time.sleep(RENEWED_POLL_SECONDS)
    raise AssertionError(f"{subscription_id} not {status} after {RENEWED_WAIT_SECONDS} s")


@dataclass(frozen=True)
class Starved:
    server: KassaServer
    client: stripe.StripeClient
    failing: list[str]
    """Subscriptions whose renewal fails, due since 0 (ahead of every other)."""
    healthy: str
    """Due after them, its renewal (its expiry) bound to work."""
    started_at: int
    """When the server was started with all of them due."""


starvation_server = module_server("starvation", KassaServer)


@pytest.fixture(scope="module")
def starved(starvation_server: KassaServer) -> Starved:
    """The job's first round at the server's start, with `FAILING_COUNT` subscriptions whose
    renewal fails due ahead of a healthy one."""
    server = starvation_server
    account = create_account(server.database_url)
    client = server.client(account.secret_key)
    price = monthly_price(client)
    customer = client.v1.customers.create(params={"email": "starved@example.com"})
    made = [
        client.v1.subscriptions.create(
            params={
                "customer": customer.id,
                "items": [{"price": price.id}],
                "payment_behavior": "default_incomplete",
            }
        ).id
        for _ in range(FAILING_COUNT + 1)
    ]
    healthy, failing = made[-1], made[:-1]
    server.stop()
    # Each failing one expires into voiding a first invoice that is not there
    # (ResourceMissing, rolled back), due since 0 as migration 0037 leaves a live row.
    for subscription_id in failing:
        backdate(
            server,
            account.id,
            subscription_id,
            {"latest_invoice": "in_gone", "_kassa": {"renews_at": 0}},
        )
    backdate(server, account.id, healthy, {})
    started_at = int(time.time())
    # The `invoices` job runs its first round at once. The port may have been taken while
    # the server was down: the client is made anew after the start.
    server.start_on_any_port()
    client = server.client(account.secret_key)
    return Starved(server, client, failing, healthy, started_at)


def test_failing_renewals_do_not_starve_the_subscriptions_due_after_them(
    starved: Starved,
) -> None:
    wait_for_status(starved.client, starved.healthy, "incomplete_expired")
    failed = starved.client.v1.subscriptions.retrieve(starved.failing[0])
    assert failed.status == "incomplete"
    # Tried and failed, each is looked at again an hour later rather than at every poll.
    postponed = [stored_renews_at(starved.server, s) for s in starved.failing]
    retry_at = starved.started_at + FAILED_WORK_RETRY_SECONDS
    assert all(at is not None and retry_at <= at <= retry_at + 60 for at in postponed), postponed


def test_a_run_reads_each_due_object_once_however_many_share_a_due_time(
    starved: Starved,
) -> None:
    """In this process, once the failing ones are due again (all at the same second): a
    handler that leaves every one due still meets each exactly once in a run, past the
    first batch."""
    wait_for_status(starved.client, starved.healthy, "incomplete_expired")
    met: list[str] = []

    async def handle(entry: DueSubscription) -> int:
        met.append(entry.subscription_id)
        return 1

    async def run(store: Store) -> int:
        clock = FrozenClock(time.time() + FAILED_WORK_RETRY_SECONDS + 120)
        return await work_through_due(store, clock, Transaction.subscriptions_due, handle)

    assert with_store(starved.server.database_url, run) == FAILING_COUNT
    assert sorted(met) == sorted(starved.failing)
