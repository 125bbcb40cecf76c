"""The clock that governs an object: a customer attached to a test clock, and everything that
hangs off it, reads the clock's frozen time; everything else reads the installation's clock.

On a real store (SQLite and PostgreSQL), in process and through a live server: the test
clocks API arrives with billing, so the clock and the customer's link to it are written
through the store here.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import stripe

from kassa.clock import FrozenClock
from kassa.services import accounts
from kassa.services.context import Context
from kassa.store import Store, migrate, open_store
from kassa.store.tables import CUSTOMERS, TEST_CLOCKS
from tests.direct_store import with_store
from tests.harness import Account, KassaServer, run_coroutine

INSTALLATION_NOW = 1_800_000_000
FROZEN_TIME = 1_700_000_000


def _doc(object_id: str, object_name: str, **fields: Any) -> dict[str, Any]:
    return {"id": object_id, "object": object_name, "created": INSTALLATION_NOW, **fields}


async def _seeded(store: Store) -> str:
    clock = FrozenClock(INSTALLATION_NOW)
    await migrate(store, INSTALLATION_NOW)
    async with store.write() as tx:
        account = await accounts.create_account(tx, clock)
        account_id = str(account.account["id"])
        clock_doc = _doc("clock_1", "test_helpers.test_clock", frozen_time=FROZEN_TIME)
        await tx.insert_object(TEST_CLOCKS, account_id, {**clock_doc, "status": "ready"})
        await tx.insert_object(
            CUSTOMERS, account_id, _doc("cus_clocked", "customer", test_clock="clock_1")
        )
        await tx.insert_object(
            CUSTOMERS, account_id, _doc("cus_plain", "customer", test_clock=None)
        )
        await tx.insert_object(
            CUSTOMERS, account_id, _doc("cus_lost", "customer", test_clock="clock_gone")
        )
    return account_id


async def _times(store: Store, account_id: str) -> dict[str, int]:
    async with store.read() as tx:
        ctx = Context(account_id=account_id, tx=tx, clock=FrozenClock(INSTALLATION_NOW))
        intent = {"id": "pi_1", "object": "payment_intent", "customer": "cus_clocked"}
        expanded = {**intent, "customer": {"id": "cus_clocked", "object": "customer"}}
        return {
            "no customer": await ctx.now_for_customer(None),
            "clocked customer": await ctx.now_for_customer("cus_clocked"),
            "plain customer": await ctx.now_for_customer("cus_plain"),
            "unknown customer": await ctx.now_for_customer("cus_nobody"),
            "deleted clock": await ctx.now_for_customer("cus_lost"),
            "intent of clocked customer": await ctx.now_for(intent),
            "intent, customer expanded": await ctx.now_for(expanded),
            "invoice on the clock": await ctx.now_for({"test_clock": "clock_1"}),
            "object without customer": await ctx.now_for({"id": "we_1"}),
        }


def test_objects_read_the_clock_that_governs_them(private_database_url: str) -> None:
    async def run() -> dict[str, int]:
        store = await open_store(private_database_url)
        try:
            return await _times(store, await _seeded(store))
        finally:
            await store.close()

    times = run_coroutine(run)
    assert times == {
        "no customer": INSTALLATION_NOW,
        "clocked customer": FROZEN_TIME,
        "plain customer": INSTALLATION_NOW,
        "unknown customer": INSTALLATION_NOW,
        "deleted clock": INSTALLATION_NOW,
        "intent of clocked customer": FROZEN_TIME,
        "intent, customer expanded": FROZEN_TIME,
        "invoice on the clock": FROZEN_TIME,
        "object without customer": INSTALLATION_NOW,
    }


def test_one_context_happens_at_one_second(private_database_url: str) -> None:
    """A unit of work reads the installation's time once: a request that crosses a second
    boundary stamps everything it writes with the same second (a subscription's period
    start and its first invoice's period had differed by one under load), and a new context
    sees the time move on."""

    async def scenario(store: Store) -> tuple[int, int, int, int]:
        await migrate(store, INSTALLATION_NOW)
        clock = FrozenClock(INSTALLATION_NOW)
        async with store.read() as tx:
            ctx = Context(account_id="acct_none", tx=tx, clock=clock)
            first = ctx.now()
            clock.advance(1.5)
            again, for_nothing = ctx.now(), await ctx.now_for({"customer": None})
            later = Context(account_id="acct_none", tx=tx, clock=clock).now()
        return first, again, for_nothing, later

    first, again, for_nothing, later = with_store(private_database_url, scenario)
    assert (first, again, for_nothing) == (INSTALLATION_NOW,) * 3
    assert later == INSTALLATION_NOW + 1


@pytest.mark.parametrize("remembered_clock", [None, "clock_1"])
def test_a_remembered_customer_is_not_read_again(
    private_database_url: str, remembered_clock: str | None
) -> None:
    """`remember_customer` answers from what the operation already loaded: a customer the
    store does not hold still gets its remembered clock's time."""

    async def run() -> int:
        store = await open_store(private_database_url)
        try:
            account_id = await _seeded(store)
            async with store.read() as tx:
                ctx = Context(account_id=account_id, tx=tx, clock=FrozenClock(INSTALLATION_NOW))
                ctx.remember_customer({"id": "cus_unsaved", "test_clock": remembered_clock})
                return await ctx.now_for_customer("cus_unsaved")
        finally:
            await store.close()

    expected = INSTALLATION_NOW if remembered_clock is None else FROZEN_TIME
    assert run_coroutine(run) == expected


def _attach_to_test_clock(database_url: str, account_id: str, customer_id: str) -> None:
    """What `POST /v1/customers` with `test_clock` will do once test clocks land: the state
    a test cannot yet produce through HTTP, written through Kassa's store."""

    async def attach(store: Store) -> None:
        async with store.write() as tx:
            clock_doc = _doc("clock_e2e", "test_helpers.test_clock", frozen_time=FROZEN_TIME)
            await tx.insert_object(TEST_CLOCKS, account_id, {**clock_doc, "status": "ready"})
            found = await tx.get_object(CUSTOMERS, account_id, customer_id)
            assert found is not None
            await tx.update_object(CUSTOMERS, account_id, {**found[0], "test_clock": "clock_e2e"})

    with_store(database_url, attach)


def test_a_test_clock_customer_pays_at_the_clock_s_time(
    server: KassaServer, account: Account, client: stripe.StripeClient
) -> None:
    """A payment of a customer on a test clock is stamped with the clock's frozen time all
    the way down: the intent, its charge, its balance transaction, its events, its refund."""
    customer = client.v1.customers.create(params={"email": "clocked@example.com"})
    _attach_to_test_clock(server.database_url, account.id, customer.id)
    started = time.time()
    intent = client.v1.payment_intents.create(
        params={
            "amount": 2000,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": "pm_card_visa",
            "confirm": True,
            "allowed_payment_method_types": ["card"],
        }
    )
    refund = client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 500})
    charge = client.v1.charges.retrieve(
        str(intent.latest_charge), params={"expand": ["balance_transaction"]}
    )
    assert intent.created == FROZEN_TIME
    assert charge.created == FROZEN_TIME
    assert isinstance(charge.balance_transaction, stripe.BalanceTransaction)
    assert charge.balance_transaction.created == FROZEN_TIME
    assert refund.created == FROZEN_TIME
    events = client.v1.events.list(params={"limit": 20}).data
    about_the_payment = [e for e in events if not e.type.startswith("customer.")]
    assert {e.type for e in about_the_payment} >= {
        "payment_intent.created",
        "payment_intent.succeeded",
        "charge.succeeded",
        "refund.created",
    }
    assert {e.created for e in about_the_payment} == {FROZEN_TIME}
    # A customer no clock governs still lives in the installation's time.
    plain = client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd", "payment_method": "pm_card_visa"}
    )
    assert plain.created >= int(started)
