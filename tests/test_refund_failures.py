"""Refunds that fail after they were made (Stripe's test card 4000000000005126,
`pm_card_refundFail`, `tok_refundFail`), through the official SDK against a live server on
SQLite and PostgreSQL: the refund starts `succeeded`, then fails on the clock that governs
it (a short real delay, or a test clock's advance), with `failure_reason`, a `refund_failure`
balance transaction giving the money back, the charge's `amount_refunded` lowered, the
events Stripe sends, across a restart, and for a converted charge at the refund's own rate.
Every check of `kassa ledger verify` after every test (in process)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import stripe

from kassa.clock import DAY_SECONDS
from kassa.services.refund_failures import REFUND_FAILURE_DELAY_SECONDS
from kassa.store import Store
from tests.conftest import module_server
from tests.direct_store import with_store
from tests.harness import KassaServer, assert_ledger_whole, create_account
from tests.test_currency_conversion import change_rate, settling_account
from tests.test_test_clocks import advance, new_clock

FAILING_CARD = "pm_card_refundFail"
FAILURE_REASON = "expired_or_canceled_card"
FAILURE_WAIT_SECONDS = 30.0
"""How long a test waits for the real-time job to fail a refund (it fails after
REFUND_FAILURE_DELAY_SECONDS; the job looks twice a second)."""
POLL_SECONDS = 0.1
REAL_TIME_SCAN_MAX = 1_000
"""Failures one read of the real-time job's scan returns at most, in a test."""


# A server of this module's own: one test stops and starts it.
failing_server = module_server("refund-failures", KassaServer)


@pytest.fixture
def server(failing_server: KassaServer) -> Iterator[KassaServer]:
    yield failing_server
    assert_ledger_whole(failing_server.database_url)


@pytest.fixture
def client(server: KassaServer) -> stripe.StripeClient:
    return server.client(create_account(server.database_url).secret_key)


def key() -> stripe.RequestOptions:
    return {"idempotency_key": str(uuid.uuid4())}


def charge_with(
    client: stripe.StripeClient,
    payment_method: str = FAILING_CARD,
    amount: int = 5_000,
    currency: str = "usd",
    **extra: Any,
) -> stripe.Charge:
    params: Any = {
        "amount": amount,
        "currency": currency,
        "payment_method": payment_method,
        "confirm": True,
        "allowed_payment_method_types": ["card"],
        **extra,
    }
    intent = client.v1.payment_intents.create(params=params, options=key())
    assert intent.status == "succeeded"  # the card charges like any other
    return client.v1.charges.retrieve(str(intent.latest_charge))


def refund(client: stripe.StripeClient, charge_id: str, amount: int | None = None) -> stripe.Refund:
    params: Any = {"charge": charge_id}
    if amount is not None:
        params["amount"] = amount
    return client.v1.refunds.create(params=params, options=key())


def wait_until_failed(client: stripe.StripeClient, refund_id: str) -> stripe.Refund:
    deadline = time.monotonic() + FAILURE_WAIT_SECONDS
    while True:
        found = client.v1.refunds.retrieve(refund_id)
        if found.status == "failed":
            return found
        assert time.monotonic() < deadline, f"{refund_id} is still {found.status}"
        time.sleep(POLL_SECONDS)


def available(client: stripe.StripeClient, currency: str = "usd") -> int:
    funds = {f.currency: f.amount for f in client.v1.balance.retrieve().available}
    return funds.get(currency, 0)


def events_of(client: stripe.StripeClient, object_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(type, previous_attributes) of the events about the object, oldest first."""
    listed = client.v1.events.list(params={"limit": 100}).data
    return [
        (e.type, (e.data.to_dict().get("previous_attributes") or {}))
        for e in reversed(listed)
        if e.data.object["id"] == object_id
    ]


def test_a_refund_to_the_refund_fail_card_succeeds_then_fails(
    client: stripe.StripeClient,
) -> None:
    charge = charge_with(client)
    plain = charge_with(client, "pm_card_visa")
    made = refund(client, charge.id, 2_000)
    kept = refund(client, plain.id, 2_000)
    assert (made.status, made.amount) == ("succeeded", 2_000)  # as any card refund starts
    assert client.v1.charges.retrieve(charge.id).amount_refunded == 2_000
    assert available(client) == -4_000  # both refunds drew on the available balance

    failed = wait_until_failed(client, made.id)
    assert failed.failure_reason == FAILURE_REASON
    assert failed.balance_transaction == made.balance_transaction
    assert isinstance(failed.failure_balance_transaction, str)
    back = client.v1.balance_transactions.retrieve(failed.failure_balance_transaction)
    assert (back.type, back.amount, back.fee, back.net) == ("refund_failure", 2_000, 0, 2_000)
    assert (back.source, back.status, back.currency) == (made.id, "available", "usd")
    assert back.reporting_category == "refund_failure"
    assert back.created >= made.created + REFUND_FAILURE_DELAY_SECONDS
    assert available(client) == -2_000  # the failed refund's money is back

    after = client.v1.charges.retrieve(charge.id, params={"expand": ["refunds"]})
    assert (after.amount_refunded, after.refunded) == (0, False)
    assert after.refunds is not None
    assert [(r.id, r.status) for r in after.refunds.data] == [(made.id, "failed")]
    assert client.v1.refunds.retrieve(kept.id).status == "succeeded"  # a plain card's stays

    changed = {"status": "succeeded", "failure_reason": None}
    assert [
        (kind, {k: prev.get(k) for k in changed}) for kind, prev in events_of(client, made.id)
    ] == [
        ("refund.created", {"status": None, "failure_reason": None}),
        ("refund.updated", changed),
        ("charge.refund.updated", changed),
        ("refund.failed", {"status": None, "failure_reason": None}),
    ]
    failed_events = client.v1.events.list(params={"type": "refund.failed"}).data
    assert [e.data.object["id"] for e in failed_events] == [made.id]  # once, not per poll
    expanded = client.v1.refunds.retrieve(
        made.id, params={"expand": ["failure_balance_transaction"]}
    )
    assert expanded.failure_balance_transaction.id == back.id  # type: ignore[union-attr]


def test_a_failed_full_refund_leaves_the_charge_refundable_again(
    client: stripe.StripeClient,
) -> None:
    charge = charge_with(client, amount=3_000)
    first = refund(client, charge.id)
    assert client.v1.charges.retrieve(charge.id).refunded is True
    with pytest.raises(stripe.InvalidRequestError) as twice:
        refund(client, charge.id)
    assert twice.value.code == "charge_already_refunded"
    wait_until_failed(client, first.id)
    assert client.v1.charges.retrieve(charge.id).refunded is False
    again = refund(client, charge.id, 1_000)
    assert again.status == "succeeded"
    assert client.v1.charges.retrieve(charge.id).amount_refunded == 1_000
    wait_until_failed(client, again.id)
    assert client.v1.charges.retrieve(charge.id).amount_refunded == 0
    listed = client.v1.balance_transactions.list(params={"type": "refund_failure"}).data
    assert sorted(t.amount for t in listed) == [1_000, 3_000]


@pytest.mark.parametrize("source", ["tok_refundFail", "card_number"])
def test_the_token_and_the_card_number_fail_refunds_too(
    client: stripe.StripeClient, source: str
) -> None:
    card: Any = (
        {"token": source}
        if source.startswith("tok_")
        else {"number": "4000000000005126", "exp_month": 12, "exp_year": 2034, "cvc": "123"}
    )
    method = client.v1.payment_methods.create(params={"type": "card", "card": card})
    assert method.card is not None and method.card.last4 == "5126"
    charge = charge_with(client, method.id, amount=1_500)
    failed = wait_until_failed(client, refund(client, charge.id).id)
    assert failed.failure_reason == FAILURE_REASON


def due_in_real_time(database_url: str, now: int) -> list[str]:
    """The refunds whose failures the real-time job would take at wall-clock time `now`
    (its scan, read through Kassa's store)."""

    async def read(store: Store) -> list[str]:
        async with store.read() as tx:
            due = await tx.refund_failures_due(now, None, REAL_TIME_SCAN_MAX)
        assert len(due) < REAL_TIME_SCAN_MAX, "the scan saw every failure due"
        return [entry.object_id for entry in due]

    return with_store(database_url, read)


def test_a_test_clock_governs_the_failure(server: KassaServer, client: stripe.StripeClient) -> None:
    frozen = 1_800_000_000
    clock = new_clock(client, frozen)
    customer = client.v1.customers.create(params={"test_clock": clock.id}, options=key())
    charge = charge_with(client, amount=4_000, customer=customer.id)
    made = refund(client, charge.id, 1_000)
    assert made.created == frozen  # the clock's time, not the wall clock's
    # However late the wall clock, the real-time job never finds this failure due: it waits
    # for the clock, whose time has not moved.
    a_year_past_due = frozen + REFUND_FAILURE_DELAY_SECONDS + 365 * DAY_SECONDS
    assert made.id not in due_in_real_time(server.database_url, a_year_past_due)
    assert client.v1.refunds.retrieve(made.id).status == "succeeded"
    advance(client, clock.id, frozen + 3_600)
    failed = client.v1.refunds.retrieve(made.id)
    assert (failed.status, failed.failure_reason) == ("failed", FAILURE_REASON)
    back = client.v1.balance_transactions.retrieve(str(failed.failure_balance_transaction))
    assert back.created == frozen + REFUND_FAILURE_DELAY_SECONDS  # when it fell due on the clock
    assert back.amount == 1_000
    [event] = client.v1.events.list(params={"type": "refund.failed"}).data
    assert event.created == frozen + REFUND_FAILURE_DELAY_SECONDS


def test_a_converted_refund_fails_back_at_its_own_rate(server: KassaServer) -> None:
    client = server.client(settling_account(server).secret_key)  # settles in USD only
    charge = charge_with(client, amount=10_000, currency="eur")  # 1.10: $110.00
    made = refund(client, charge.id, 4_000)  # €40.00 at 1.10: $44.00
    taken = client.v1.balance_transactions.retrieve(str(made.balance_transaction))
    assert (taken.amount, taken.currency, taken.exchange_rate) == (-4_400, "usd", 1.1)
    change_rate(client, "eur", "usd", "1.20")  # the rate moves before the failure
    failed = wait_until_failed(client, made.id)
    back = client.v1.balance_transactions.retrieve(str(failed.failure_balance_transaction))
    assert (back.amount, back.net, back.currency) == (4_400, 4_400, "usd")
    assert back.exchange_rate == 1.1
    assert (failed.amount, failed.currency) == (4_000, "eur")
    assert client.v1.charges.retrieve(charge.id).amount_refunded == 0
    change_rate(client, "eur", "usd", "1.10")


def test_a_failure_to_come_survives_a_crash(server: KassaServer) -> None:
    client = server.client(create_account(server.database_url).secret_key)
    charge = charge_with(client, amount=2_500)
    made = refund(client, charge.id)
    server.kill()  # before the failure is due
    server.start()
    failed = wait_until_failed(client, made.id)
    assert failed.failure_reason == FAILURE_REASON
    listed = client.v1.balance_transactions.list(params={"type": "refund_failure"}).data
    assert [t.source for t in listed] == [made.id]
