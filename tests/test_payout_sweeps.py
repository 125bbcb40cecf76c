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

from kassa.store import Store
from kassa.store.tables import PAYOUTS
from tests.conftest import module_server
from tests.direct_store import run_backfill, with_store
from tests.harness import assert_ledger_whole, ledger_problems_of
from tests.test_account_reset import _rewrite_chunks, helper, snapshots_path
from tests.test_balance import ShiftedClockServer, at, card_fee, idempotency, pay
from tests.test_payouts import automatic_payouts, client_with_account, fund, set_schedule, swept
from tests.test_test_clocks import advance

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


SWEEPS_MIGRATION = 41
"""`0041_payout_sweeps`: added `swept_by`, and backfilled it for the payouts made before."""


def charge_on_a_clock_made_available(client: stripe.StripeClient, now: datetime.datetime) -> str:
    """A charge of a customer on a test clock 40 days ahead of `now`, made available by the
    clock's advance 45 days on: its `available_on` is in the clock's time, the future of
    the server's. Its transaction."""
    clock = client.v1.test_helpers.test_clocks.create(
        params={"frozen_time": int((now + datetime.timedelta(days=40)).timestamp())},
        options=idempotency(),
    )
    customer = client.v1.customers.create(params={"test_clock": clock.id}, options=idempotency())
    intent = pay(client, 3_000, customer=customer.id)
    later = int((now + datetime.timedelta(days=45)).timestamp())
    advance(client, clock.id, later)
    assert isinstance(intent.latest_charge, str)
    transaction = client.v1.charges.retrieve(intent.latest_charge).balance_transaction
    assert isinstance(transaction, str)
    made = client.v1.balance_transactions.retrieve(transaction)
    assert made.status == "available" and made.available_on > now.timestamp() + 40 * 86_400
    return transaction


def paid_from_a_clock(server: ShiftedClockServer) -> tuple[stripe.StripeClient, str, str]:
    """An account whose Tuesday automatic payout paid out a test clock's charge (available
    with an `available_on` still to come in the server's time) and a charge of its own."""
    client, account_id = client_with_account(server)
    set_schedule(client, interval="daily")
    clock_transaction = charge_on_a_clock_made_available(client, at("2027-01-11T10:00:00"))
    fund(client, 1_000)
    server.set_now(at("2027-01-12T00:00:05"))
    [tuesday] = automatic_payouts(client)
    assert tuesday.amount == 3_000 - card_fee(3_000, "usd") + 1_000 - card_fee(1_000, "usd")
    assert clock_transaction in [t for t, _, _ in listed(client, tuesday.id)]
    return client, account_id, tuesday.id


def forget_sweeps(database_url: str, account_id: str, transaction_ids: list[str]) -> None:
    """The account's transactions (or those named) as a Kassa before 0041 left them."""
    scope = " AND id IN (" + ", ".join(f"'{t}'" for t in transaction_ids) + ")"

    async def run(store: Store) -> None:
        async with store.write() as tx:
            await tx.run_script_statement(
                f"UPDATE ledger_transactions SET swept_by = NULL WHERE account_id = '{account_id}'"
                + (scope if transaction_ids else "")
            )

    with_store(database_url, run)


def as_made_before_sweeps(database_url: str, account_id: str, payout_id: str) -> None:
    """The automatic payout's own facts as a Kassa before 0041 kept them: the window of
    (`available_on`, `seq`) it swept, upto its own transaction, instead of named rows."""

    async def run(store: Store) -> None:
        async with store.write() as tx:
            found = await tx.get_object(PAYOUTS, account_id, payout_id)
            assert found is not None
            payout = found[0]
            upto_seq = await tx.ledger_transaction_seq(account_id, payout["balance_transaction"])
            payout["_kassa"]["swept"] = {
                "account_id": account_id,
                "after": 0,
                "after_seq": 0,
                "upto": payout["created"],
                "upto_seq": upto_seq,
            }
            await tx.update_object(PAYOUTS, account_id, payout)

    with_store(database_url, run)


def test_the_upgrade_gives_a_test_clock_s_charge_to_the_payout_that_paid_it(
    server: ShiftedClockServer,
) -> None:
    """A payout made before 0041 paid out a clock's charge available (in the clock's time)
    after the payout's date: the backfill names that payout, so it lists what it paid, the
    ledger verifies, and the next payout sweeps only what came since."""
    client, account_id, tuesday = paid_from_a_clock(server)
    before = listed(client, tuesday)
    forget_sweeps(server.database_url, account_id, [])
    as_made_before_sweeps(server.database_url, account_id, tuesday)
    run_backfill(server.database_url, SWEEPS_MIGRATION)
    assert listed(client, tuesday) == before
    assert_ledger_whole(server.database_url)

    later_net = fund(client, 2_000)
    server.set_now(at("2027-01-13T00:00:05"))
    wednesday = automatic_payouts(client)[0]
    assert wednesday.id != tuesday and wednesday.amount == later_net
    assert [(t, n) for _, t, n in listed(client, wednesday.id)] == [("charge", later_net)]


def test_sweeps_the_ledger_cannot_explain_never_stop_payouts(server: ShiftedClockServer) -> None:
    """Old data whose sweeps do not add up (a charge paid out but named by no payout): the
    next payout pays the available balance as always and sweeps what is unswept; reads
    succeed, and `kassa ledger verify` reports the payout that disagrees."""
    client, account_id, tuesday = paid_from_a_clock(server)
    [orphan] = [t for t, kind, n in listed(client, tuesday) if kind == "charge" and n < 2_000]
    forget_sweeps(server.database_url, account_id, [orphan])
    try:
        later_net = fund(client, 2_000)
        server.set_now(at("2027-01-13T00:00:05"))
        wednesday = automatic_payouts(client)[0]
        assert wednesday.id != tuesday and wednesday.amount == later_net
        assert client.v1.balance.retrieve().available[0].amount == 0
        problems = ledger_problems_of(server.database_url)
        assert len(problems) == 2, problems
        assert any(tuesday in p for p in problems) and any(wednesday.id in p for p in problems)
    finally:
        # Put the sweep back where it was, so the module's ledger is whole again.
        repair = f"UPDATE ledger_transactions SET swept_by = '{tuesday}' WHERE id = '{orphan}'"

        async def run(store: Store) -> None:
            async with store.write() as tx:
                await tx.run_script_statement(repair)

        with_store(server.database_url, run)


def test_a_snapshot_saved_before_sweeps_were_recorded_restores_them(
    server: ShiftedClockServer,
) -> None:
    """A snapshot saved before 0041 has no `swept_by`: the restore works it out again as the
    migration did, so the payout lists what it paid and the next sweeps only what is new."""
    client, account_id, tuesday = paid_from_a_clock(server)
    before = listed(client, tuesday)
    helper(client, "post", snapshots_path(account_id), name="before-sweeps")

    def without_swept_by(chunk: Any) -> Any:
        at_column = chunk["columns"].index("swept_by")
        return {
            "columns": [c for c in chunk["columns"] if c != "swept_by"],
            "rows": [row[:at_column] + row[at_column + 1 :] for row in chunk["rows"]],
        }

    _rewrite_chunks(server.database_url, "ledger_transactions", without_swept_by)
    helper(client, "post", f"{snapshots_path(account_id)}/before-sweeps/restore")
    assert listed(client, tuesday) == before
    assert_ledger_whole(server.database_url)
    later_net = fund(client, 2_000)
    server.set_now(at("2027-01-13T00:00:05"))
    wednesday = automatic_payouts(client)[0]
    assert [(t, n) for _, t, n in listed(client, wednesday.id)] == [("charge", later_net)]
