"""Asynchronous capture (a PaymentIntent's `capture_method=automatic_async`, Stripe's
default): the payment succeeds in the request with the charge captured, but the charge's
`balance_transaction` is null in the response and in `charge.succeeded`; the balance
transaction comes a moment later with `charge.updated` (docs.stripe.com/payments/
payment-intents/asynchronous-capture). `capture_method=automatic` still posts in the request.

Through the official SDK against a live server on SQLite and PostgreSQL (the real-time job
posts, a test clock's postings too, at the clock's time; a refund right after the payment
posts first), and in process against the API app without its background jobs, where nothing
but a read of the balance can post: what `kassa ledger verify` says while a posting is to
come, and that a captured charge with neither a posting nor one to come is a finding."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import stripe

from kassa.clock import SystemClock
from kassa.config import Settings
from kassa.ledger.verify import FindingKind, ledger_problems
from kassa.services import accounts
from kassa.services.capture_postings import post_due_captures, post_resting_clock_captures
from kassa.services.setup import load_payment_config
from kassa.store import Store
from kassa.store.capture_posting_queries import ScheduledCapturePosting
from tests import loopback
from tests.conftest import module_server
from tests.harness import KassaServer, assert_ledger_whole, create_account
from tests.test_statement_budget import StatementTrace, build_api, open_traced_store
from tests.test_test_clocks import advance, customer_on, new_clock

POSTED_WAIT_SECONDS = 15.0
"""How long a test waits for the real-time job to post a capture (it looks four times a
second)."""
POLL_SECONDS = 0.05
AMOUNT = 2_000
FEE = 88
"""Kassa's US card fee on 20.00: 2.9% and 30 cents."""

capture_server = module_server("async-capture", KassaServer)


@pytest.fixture
def server(capture_server: KassaServer) -> Iterator[KassaServer]:
    yield capture_server
    assert_ledger_whole(capture_server.database_url)


@pytest.fixture
def client(server: KassaServer) -> stripe.StripeClient:
    return server.client(create_account(server.database_url).secret_key)


def key() -> stripe.RequestOptions:
    return {"idempotency_key": str(uuid.uuid4())}


def pay(client: stripe.StripeClient, **extra: Any) -> stripe.PaymentIntent:
    params: Any = {
        "amount": AMOUNT,
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "confirm": True,
        "allowed_payment_method_types": ["card"],
        "expand": ["latest_charge"],
        **extra,
    }
    intent = client.v1.payment_intents.create(params=params, options=key())
    assert intent.status == "succeeded"
    return intent


def latest_charge(intent: stripe.PaymentIntent) -> stripe.Charge:
    charge = intent.latest_charge
    assert isinstance(charge, stripe.Charge)
    return charge


def posted(client: stripe.StripeClient, charge_id: str) -> stripe.Charge:
    """The charge once its balance transaction is attached."""
    deadline = time.monotonic() + POSTED_WAIT_SECONDS
    while True:
        charge = client.v1.charges.retrieve(charge_id)
        if charge.balance_transaction is not None:
            return charge
        assert time.monotonic() < deadline, f"{charge_id} was not posted in time"
        time.sleep(POLL_SECONDS)


def customer_charges_posted(client: stripe.StripeClient, customer_id: str) -> None:
    """Wait until each captured charge of the customer has its balance transaction (a clock
    customer's too: the job posts it at the clock's time), so that a test asserting exactly
    what comes next does not see a `charge.updated` land in the middle."""
    deadline = time.monotonic() + POSTED_WAIT_SECONDS
    params: Any = {"customer": customer_id, "limit": 100}
    while True:
        charges = client.v1.charges.list(params=params).data
        if all(c.balance_transaction is not None for c in charges if c.captured):
            return
        assert time.monotonic() < deadline, f"{customer_id}'s charges were not posted in time"
        time.sleep(POLL_SECONDS)


def events_of(client: stripe.StripeClient, object_id: str) -> list[stripe.Event]:
    found = client.v1.events.list(params={"limit": 100}).data
    return [e for e in reversed(found) if e.data.object.to_dict().get("id") == object_id]


def test_the_default_capture_posts_a_moment_later(client: stripe.StripeClient) -> None:
    intent = pay(client)
    assert intent.capture_method == "automatic_async"
    charge = latest_charge(intent)
    assert charge.captured and charge.amount_captured == AMOUNT and charge.paid
    assert charge.balance_transaction is None

    settled = posted(client, charge.id)
    assert isinstance(settled.balance_transaction, str)
    txn = client.v1.balance_transactions.retrieve(settled.balance_transaction)
    assert (txn.type, txn.source, txn.amount, txn.fee, txn.net) == (
        "charge",
        charge.id,
        AMOUNT,
        FEE,
        AMOUNT - FEE,
    )

    charge_events = events_of(client, charge.id)
    assert [e.type for e in charge_events] == ["charge.succeeded", "charge.updated"]
    succeeded, updated = charge_events
    assert succeeded.data.object["balance_transaction"] is None
    assert updated.data.object["balance_transaction"] == txn.id
    assert updated.data.to_dict()["previous_attributes"] == {"balance_transaction": None}
    intent_events = events_of(client, intent.id)
    assert [e.type for e in intent_events][-1] == "payment_intent.succeeded"


def test_automatic_capture_posts_in_the_request(client: stripe.StripeClient) -> None:
    intent = pay(client, capture_method="automatic")
    charge = latest_charge(intent)
    assert isinstance(charge.balance_transaction, str)
    txn = client.v1.balance_transactions.retrieve(charge.balance_transaction)
    assert (txn.amount, txn.fee) == (AMOUNT, FEE)
    assert [e.type for e in events_of(client, charge.id)] == ["charge.succeeded"]


def test_a_refund_right_after_the_payment_posts_the_capture_first(
    client: stripe.StripeClient,
) -> None:
    charge = latest_charge(pay(client))
    refund = client.v1.refunds.create(params={"charge": charge.id}, options=key())
    assert refund.status == "succeeded"
    after = client.v1.charges.retrieve(charge.id)
    assert after.refunded and isinstance(after.balance_transaction, str)
    listed = client.v1.balance_transactions.list(params={"limit": 10}).data
    assert [(t.type, t.source) for t in listed] == [("refund", refund.id), ("charge", charge.id)]


def test_a_payment_on_a_resting_test_clock_posts_a_moment_later_at_the_clocks_time(
    client: stripe.StripeClient,
) -> None:
    clock = new_clock(client)
    customer = customer_on(client, clock.id)
    assert customer.invoice_settings is not None
    default = customer.invoice_settings.default_payment_method
    intent = pay(client, customer=customer.id, payment_method=default)
    charge = latest_charge(intent)
    assert charge.balance_transaction is None

    # The clock is not moved: the job posts it, at the clock's frozen time.
    after = posted(client, charge.id)
    assert isinstance(after.balance_transaction, str)
    txn = client.v1.balance_transactions.retrieve(after.balance_transaction)
    assert txn.created == clock.frozen_time
    updated = [e for e in events_of(client, charge.id) if e.type == "charge.updated"]
    assert [e.created for e in updated] == [clock.frozen_time]

    # The clock's next advance has nothing left of it to post.
    advance(client, clock.id, clock.frozen_time + 60)
    assert client.v1.charges.retrieve(charge.id).balance_transaction == txn.id
    assert [e.type for e in events_of(client, charge.id)].count("charge.updated") == 1


# --- in process, no background jobs (the job's step run by hand) -----------------------------


async def _in_process(database_url: str) -> None:
    clock = SystemClock()
    store = await open_traced_store(database_url, StatementTrace(), clock)
    try:
        async with store.write() as tx:
            account = await accounts.create_account(tx, clock, "Async capture")
        app = await build_api(store, clock)
        transport = httpx.ASGITransport(app=app)
        async with loopback.AsyncClient(
            transport=transport, base_url="http://kassa", auth=(account.secret_key, "")
        ) as api:
            await _pending_until_the_balance_is_read(api, store)
            await _a_lost_posting_is_a_finding(api, store, str(account.account["id"]))
            await _the_job_posts_in_batches_and_sets_aside_what_fails(
                api, store, str(account.account["id"])
            )
            await _an_advancing_clocks_postings_are_its_advances(api, store)
    finally:
        await store.close()


def _confirmed_intent_form(**extra: str) -> dict[str, str]:
    return {
        "amount": str(AMOUNT),
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "confirm": "true",
        "allowed_payment_method_types[]": "card",
        **extra,
    }


async def _confirm(api: httpx.AsyncClient) -> dict[str, Any]:
    response = await api.post("/v1/payment_intents", data=_confirmed_intent_form())
    assert response.status_code == 200, response.text
    charge = (await api.get(f"/v1/charges/{response.json()['latest_charge']}")).json()
    assert charge["captured"] and charge["balance_transaction"] is None
    return dict(charge)


async def _problems(store: Store) -> list[tuple[FindingKind, str]]:
    async with store.read() as tx:
        return [(found.kind, found.subject) for found in await ledger_problems(tx)]


async def _pending_until_the_balance_is_read(api: httpx.AsyncClient, store: Store) -> None:
    charge = await _confirm(api)
    assert await _problems(store) == []  # its posting is to come: no money moved yet
    balance = (await api.get("/v1/balance")).json()
    assert balance["pending"] == [
        {"amount": AMOUNT - FEE, "currency": "usd", "source_types": {"card": AMOUNT - FEE}}
    ]
    after = (await api.get(f"/v1/charges/{charge['id']}")).json()
    assert isinstance(after["balance_transaction"], str)
    listed = (await api.get("/v1/events", params={"type": "charge.updated"})).json()["data"]
    assert [e["data"]["object"]["id"] for e in listed] == [charge["id"]]
    assert await _problems(store) == []


async def _a_lost_posting_is_a_finding(
    api: httpx.AsyncClient, store: Store, account_id: str
) -> None:
    """The check that lets a posting to come pass does not let a lost one pass: a captured
    charge with no balance transaction and none to come disagrees with the ledger."""
    charge = await _confirm(api)
    async with store.write() as tx:
        assert await tx.take_capture_posting(account_id, charge["id"]) is not None
    assert await _problems(store) == [(FindingKind.OBJECT_DISAGREES_WITH_LEDGER, charge["id"])]


async def _the_job_posts_in_batches_and_sets_aside_what_fails(
    api: httpx.AsyncClient, store: Store, account_id: str
) -> None:
    """A batch whose posting fails (here a row for a charge posted already: the posting is
    refused) is done again one by one: the good ones post, the bad one waits an hour."""
    clock = SystemClock()
    charges = [(await _confirm(api))["id"] for _ in range(3)]
    form = _confirmed_intent_form(capture_method="automatic")
    automatic = await api.post("/v1/payment_intents", data=form)
    posted_already = automatic.json()["latest_charge"]
    async with store.write() as tx:
        bogus = ScheduledCapturePosting(int(clock.now()) - 1, AMOUNT)
        await tx.schedule_capture_posting(account_id, posted_already, bogus, None)
    payments = await load_payment_config(store, Settings(database_url="unused"))

    assert await post_due_captures(store, clock, payments) == len(charges)

    for charge_id in charges:
        charge = (await api.get(f"/v1/charges/{charge_id}")).json()
        assert isinstance(charge["balance_transaction"], str)
    async with store.read() as tx:
        due_now = await tx.capture_postings_due(int(clock.now()), None, 10)
        waiting = await tx.account_capture_postings(account_id, int(clock.now()) + 3_600, 10)
    assert due_now == [] and waiting == [posted_already]
    # The postponed row is not the balance's to post: reading the balance does not fail on it.
    assert (await api.get("/v1/balance")).status_code == 200


async def _an_advancing_clocks_postings_are_its_advances(
    api: httpx.AsyncClient, store: Store
) -> None:
    """The job posts a resting clock's captures, but leaves those of a clock whose advance
    is under way to the advance (which posts them in order, at their time)."""
    clock = SystemClock()
    payments = await load_payment_config(store, Settings(database_url="unused"))
    frozen = int(clock.now()) - 86_400
    charges = {}
    for name in ("resting", "advancing"):
        created = await api.post("/v1/test_helpers/test_clocks", data={"frozen_time": frozen})
        clock_id = created.json()["id"]
        customer = await api.post("/v1/customers", data={"test_clock": clock_id})
        form = _confirmed_intent_form(customer=customer.json()["id"])
        paid = await api.post("/v1/payment_intents", data=form)
        charges[name] = (clock_id, paid.json()["latest_charge"])
    advancing_clock, _ = charges["advancing"]
    target = {"frozen_time": frozen + 60}
    advancing = await api.post(
        f"/v1/test_helpers/test_clocks/{advancing_clock}/advance", data=target
    )
    assert advancing.json()["status"] == "advancing"

    assert await post_resting_clock_captures(store, clock, payments) == 1

    resting = (await api.get(f"/v1/charges/{charges['resting'][1]}")).json()
    txn = (await api.get(f"/v1/balance_transactions/{resting['balance_transaction']}")).json()
    assert txn["created"] == frozen
    waiting = (await api.get(f"/v1/charges/{charges['advancing'][1]}")).json()
    assert waiting["balance_transaction"] is None


def test_in_process_a_posting_waits_for_a_read_of_the_balance(
    private_database_url: str,
) -> None:
    asyncio.run(_in_process(private_database_url))
