"""What an automatic payout swept, through the official SDK against a live server (SQLite and
PostgreSQL): `GET /v1/balance_transactions?payout=` lists exactly the transactions the payout
paid out, and what it lists never changes afterwards, whatever becomes available later or
carries an `available_on` in the past (Stripe: the filter "only returns transactions that
were paid out on the specified payout ID"); each automatic payout's swept nets sum to it, and
`kassa ledger verify` holds after every test.

Payouts move with the date, so each server runs with an injected clock the test sets
(`tests/test_balance.py`'s `ShiftedClockServer`): one with the default settlement delay, one
settling the same day (`KASSA_SETTLEMENT_DELAY_DAYS=0`).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import pytest
import stripe

from tests.conftest import module_server
from tests.harness import assert_ledger_whole
from tests.test_balance import ShiftedClockServer, at, card_fee, idempotency, pay
from tests.test_payouts import automatic_payouts, client_with_account, fund, set_schedule, swept

sweep_server = module_server("payout-sweeps", ShiftedClockServer)
same_day_sweep_server = module_server(
    "payout-sweeps-same-day", ShiftedClockServer, {"KASSA_SETTLEMENT_DELAY_DAYS": "0"}
)


@pytest.fixture
def server(sweep_server: ShiftedClockServer) -> Iterator[ShiftedClockServer]:
    sweep_server.set_now(at("2027-01-11T10:00:00"))  # a Monday
    yield sweep_server
    assert_ledger_whole(sweep_server.database_url)


@pytest.fixture
def same_day_server(same_day_sweep_server: ShiftedClockServer) -> Iterator[ShiftedClockServer]:
    same_day_sweep_server.set_now(at("2027-01-11T10:00:00"))  # a Monday
    yield same_day_sweep_server
    assert_ledger_whole(same_day_sweep_server.database_url)


def listed(client: stripe.StripeClient, payout_id: str) -> list[tuple[str, str, int]]:
    return [(t.id, t.type, t.net) for t in swept(client, payout_id)]


def pay_on_a_clock(client: stripe.StripeClient, frozen_time: datetime.datetime) -> str:
    """A charge of a customer on a test clock frozen at `frozen_time`; its transaction."""
    clock = client.v1.test_helpers.test_clocks.create(
        params={"frozen_time": int(frozen_time.timestamp())}, options=idempotency()
    )
    customer = client.v1.customers.create(params={"test_clock": clock.id}, options=idempotency())
    intent = pay(client, 2_000, customer=customer.id)
    assert isinstance(intent.latest_charge, str)
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert isinstance(charge.balance_transaction, str)
    return charge.balance_transaction


def test_a_charge_available_in_the_past_is_not_added_to_an_earlier_payout(
    server: ShiftedClockServer,
) -> None:
    client, _ = client_with_account(server)
    set_schedule(client, interval="daily")
    net = fund(client, 1_000)
    server.set_now(at("2027-01-12T00:00:05"))
    [tuesday] = automatic_payouts(client)
    before = listed(client, tuesday.id)
    assert tuesday.amount == net and sum(n for _, _, n in before) == net

    server.set_now(at("2027-01-12T10:00:00"))
    in_the_past = pay_on_a_clock(client, at("2026-12-23T10:00:00"))
    past = client.v1.balance_transactions.retrieve(in_the_past)
    assert past.status == "pending" and past.available_on < at("2027-01-12").timestamp()
    assert listed(client, tuesday.id) == before
    later_net = fund(client, 5_000)

    server.set_now(at("2027-01-13T00:00:05"))
    wednesday = automatic_payouts(client)[0]
    assert wednesday.id != tuesday.id and wednesday.amount == later_net
    assert [(t, n) for _, t, n in listed(client, wednesday.id)] == [("charge", later_net)]
    assert listed(client, tuesday.id) == before


def test_a_same_day_charge_after_the_payout_goes_with_the_next(
    same_day_server: ShiftedClockServer,
) -> None:
    client, _ = client_with_account(same_day_server)
    set_schedule(client, interval="daily")
    monday_net = 1_000 - card_fee(1_000, "usd")
    pay(client, 1_000)
    same_day_server.set_now(at("2027-01-12T00:00:30"))
    [tuesday] = automatic_payouts(client)
    assert tuesday.amount == monday_net
    before = listed(client, tuesday.id)
    assert [n for _, _, n in before] == [monday_net]

    same_day_server.set_now(at("2027-01-12T10:00:00"))
    pay(client, 3_000)
    charge_net = 3_000 - card_fee(3_000, "usd")
    assert listed(client, tuesday.id) == before
    same_day_server.set_now(at("2027-01-13T00:00:30"))
    wednesday = automatic_payouts(client)[0]
    assert wednesday.id != tuesday.id and wednesday.amount == charge_net
    assert [n for _, _, n in listed(client, wednesday.id)] == [charge_net]
    assert listed(client, tuesday.id) == before


def test_a_failed_payout_comes_back_with_the_next(server: ShiftedClockServer) -> None:
    """A payout's funds returned (canceled here) are paid out, and listed, by the next."""
    client, _ = client_with_account(server)
    net = fund(client, 4_000)
    params: Any = {"amount": 1_000, "currency": "usd"}
    manual = client.v1.payouts.create(params=params, options=idempotency())
    client.v1.payouts.cancel(manual.id, options=idempotency())
    set_schedule(client, interval="daily")
    server.set_now(at("2027-01-12T00:00:05"))
    [tuesday] = automatic_payouts(client)
    assert tuesday.amount == net
    kinds = sorted(t for _, t, _ in listed(client, tuesday.id))
    assert kinds == ["charge", "payout", "payout_cancel"]
    assert sum(n for _, _, n in listed(client, tuesday.id)) == net
