"""Payouts through the official SDK against a live server (SQLite and PostgreSQL): manual
payouts moving the balance available -> in transit -> paid with exact amounts, the refusal
of one the balance does not cover, cancellation, each of Stripe's failing test bank accounts,
arrival dates over weekends and bank holidays, lists and filters, and the external accounts
payouts go to; every check of `kassa ledger verify` after each (in process).

Payouts move with the date, so the server runs with an injected clock the test sets (the
`ShiftedClockServer` of `tests/test_balance.py`): nothing sleeps for days. Expected dates come
from that file's own US banking calendar.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import stripe
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import module_server
from tests.harness import assert_ledger_whole, create_account
from tests.test_balance import (
    ShiftedClockServer,
    add_bank_days,
    at,
    card_fee,
    idempotency,
    midnight_utc,
    pay,
)

PAYOUT_BUSINESS_DAYS = 2
"""Standard payouts arrive two business days after the day they are made (README)."""
SUCCEEDING = "000123456789"
FAILING_ACCOUNTS = {
    "000111111116": "no_account",
    "000111111113": "account_closed",
    "000222222227": "insufficient_funds",
    "000333333335": "debit_not_authorized",
    "000444444440": "invalid_currency",
}


payout_server = module_server("payouts", ShiftedClockServer)


@pytest.fixture
def server(payout_server: ShiftedClockServer) -> Iterator[ShiftedClockServer]:
    """The payout server at a Wednesday morning, its ledger verified after the test."""
    payout_server.set_now(at("2026-11-18T10:00:00"))
    yield payout_server
    assert_ledger_whole(payout_server.database_url)


def new_client(server: ShiftedClockServer) -> stripe.StripeClient:
    return server.client(create_account(server.database_url).secret_key)


def fund(client: stripe.StripeClient, amount: int) -> int:
    """A charge whose funds are available at once; the net it adds to the balance."""
    pay(client, amount, payment_method="pm_card_bypassPending")
    return amount - card_fee(amount, "usd")


def available(client: stripe.StripeClient, currency: str = "usd") -> int:
    funds = {f.currency: f.amount for f in client.v1.balance.retrieve().available}
    return funds.get(currency, 0)


def payout(client: stripe.StripeClient, **extra: Any) -> stripe.Payout:
    params: Any = {"amount": 1000, "currency": "usd", **extra}
    return client.v1.payouts.create(params=params, options=idempotency())


def bank_account(
    client: stripe.StripeClient, account_id: str, number: str, **extra: Any
) -> stripe.BankAccount:
    params: Any = {
        "external_account": {
            "object": "bank_account",
            "account_number": number,
            "routing_number": "110000000",
            "country": "US",
            "currency": "usd",
        },
        **extra,
    }
    created = client.v1.accounts.external_accounts.create(
        account_id, params=params, options=idempotency()
    )
    assert isinstance(created, stripe.BankAccount)
    return created


def plain(obj: Any) -> dict[str, Any]:
    """A StripeObject (metadata, a schedule) as a plain dict."""
    assert obj is not None
    found: dict[str, Any] = obj.to_dict()
    return found


def client_with_account(server: ShiftedClockServer) -> tuple[stripe.StripeClient, str]:
    account = create_account(server.database_url)
    return server.client(account.secret_key), account.id


def events_of(client: stripe.StripeClient, payout_id: str) -> list[str]:
    listed = client.v1.events.list(params={"type": "payout.*", "limit": 100})
    return [e.type for e in reversed(listed.data) if e.data.object["id"] == payout_id]


def test_manual_payout_moves_the_balance_to_the_bank(server: ShiftedClockServer) -> None:
    client, account_id = client_with_account(server)
    net = fund(client, 10_000)
    assert available(client) == net

    created = payout(client, amount=5_000, description="Weekly sweep", metadata={"k": "v"})
    assert created.object == "payout"
    assert (created.amount, created.currency, created.status) == (5_000, "usd", "pending")
    assert created.automatic is False and created.method == "standard"
    assert created.type == "bank_account" and created.source_type == "card"
    assert created.reconciliation_status == "not_applicable"
    assert created.trace_id is not None and created.trace_id.status == "pending"
    assert created.trace_id.value is None
    assert created.failure_code is None and created.failure_balance_transaction is None
    assert plain(created.metadata) == {"k": "v"} and created.description == "Weekly sweep"
    assert created.arrival_date == midnight_utc(datetime.date(2026, 11, 20))
    assert available(client) == net - 5_000

    assert isinstance(created.balance_transaction, str)
    txn = client.v1.balance_transactions.retrieve(created.balance_transaction)
    assert (txn.type, txn.amount, txn.fee, txn.net) == ("payout", -5_000, 0, -5_000)
    assert (txn.source, txn.status, txn.reporting_category) == (created.id, "available", "payout")

    destination = created.destination
    assert isinstance(destination, str) and destination.startswith("ba_")
    listed = client.v1.accounts.external_accounts.list(account_id)
    assert [b.id for b in listed.data] == [destination]
    assert listed.data[0].default_for_currency is True and listed.data[0].last4 == "6789"

    server.set_now(at("2026-11-19T00:00:05"))  # the bank's cut-off has passed
    moving = client.v1.payouts.retrieve(created.id)
    assert moving.status == "in_transit"
    assert available(client) == net - 5_000

    server.set_now(at("2026-11-20T00:00:05"))  # its arrival date
    paid = client.v1.payouts.retrieve(created.id)
    assert paid.status == "paid"
    assert paid.trace_id is not None and paid.trace_id.status == "supported"
    assert paid.trace_id.value
    assert available(client) == net - 5_000
    assert events_of(client, created.id) == [
        "payout.created",
        "payout.updated",
        "payout.paid",
        "payout.updated",
    ]
    expanded = client.v1.payouts.retrieve(
        created.id, params={"expand": ["balance_transaction", "destination"]}
    )
    assert expanded.balance_transaction.id == txn.id  # type: ignore[union-attr]
    assert expanded.destination.id == destination  # type: ignore[union-attr]


def test_a_payout_the_balance_does_not_cover_is_refused(server: ShiftedClockServer) -> None:
    client, _ = client_with_account(server)
    net = fund(client, 2_000)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        payout(client, amount=net + 1)
    assert refused.value.http_status == 400
    assert refused.value.code == "balance_insufficient"
    assert "insufficient funds" in str(refused.value.user_message)
    pending_only = new_client(server)
    pay(pending_only, 5_000)  # pending, not available: nothing to pay out yet
    with pytest.raises(stripe.InvalidRequestError) as nothing:
        payout(pending_only, amount=100)
    assert nothing.value.code == "balance_insufficient"
    assert client.v1.payouts.list().data == []
    exact = payout(client, amount=net)  # all of it is fine
    assert exact.status == "pending" and available(client) == 0


def test_a_pending_payout_can_be_canceled_once(server: ShiftedClockServer) -> None:
    client, _ = client_with_account(server)
    net = fund(client, 3_000)
    created = payout(client, amount=1_500)
    canceled = client.v1.payouts.cancel(created.id, options=idempotency())
    assert canceled.status == "canceled"
    assert canceled.trace_id is not None and canceled.trace_id.status == "unsupported"
    assert isinstance(canceled.failure_balance_transaction, str)
    back = client.v1.balance_transactions.retrieve(canceled.failure_balance_transaction)
    assert (back.type, back.amount, back.net, back.source) == (
        "payout_cancel",
        1_500,
        1_500,
        created.id,
    )
    assert back.reporting_category == "payout_reversal"
    assert available(client) == net
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.payouts.cancel(created.id, options=idempotency())
    assert "status of canceled" in str(again.value.user_message)
    assert events_of(client, created.id) == ["payout.created", "payout.canceled", "payout.updated"]
    listed = client.v1.balance_transactions.list(params={"type": "payout_cancel"})
    assert [t.id for t in listed.data] == [back.id]

    moving = payout(client, amount=1_000)
    server.set_now(at("2026-11-19T03:00:00"))
    with pytest.raises(stripe.InvalidRequestError) as late:
        client.v1.payouts.cancel(moving.id, options=idempotency())
    assert late.value.http_status == 400
    assert "status of in_transit" in str(late.value.user_message)
    assert available(client) == net - 1_000


@pytest.mark.parametrize(("number", "code"), sorted(FAILING_ACCOUNTS.items()))
def test_a_payout_to_a_failing_test_account_fails_and_comes_back(
    server: ShiftedClockServer, number: str, code: str
) -> None:
    client, account_id = client_with_account(server)
    net = fund(client, 4_000)
    failing = bank_account(client, account_id, number)
    assert failing.object == "bank_account" and failing.last4 == number[-4:]
    assert failing.default_for_currency is False  # the default test account came first
    created = payout(client, amount=2_500, destination=failing.id)
    assert created.destination == failing.id and created.status == "pending"
    assert available(client) == net - 2_500

    server.set_now(at("2026-11-20T00:00:01"))
    failed = client.v1.payouts.retrieve(created.id)
    assert failed.status == "failed"
    assert failed.failure_code == code
    assert failed.failure_message
    assert isinstance(failed.failure_balance_transaction, str)
    back = client.v1.balance_transactions.retrieve(failed.failure_balance_transaction)
    assert (back.type, back.amount, back.net, back.source) == (
        "payout_failure",
        2_500,
        2_500,
        created.id,
    )
    assert available(client) == net
    assert events_of(client, created.id)[-2:] == ["payout.failed", "payout.updated"]


ARRIVAL_CASES = [
    pytest.param("2026-11-18T10:00:00", "2026-11-20", id="wednesday-to-friday"),
    pytest.param("2026-11-20T16:00:00", "2026-11-24", id="friday-over-the-weekend"),
    pytest.param("2026-11-21T12:00:00", "2026-11-24", id="made-on-a-saturday"),
    pytest.param("2026-11-10T10:00:00", "2026-11-13", id="over-veterans-day"),
    pytest.param("2026-11-25T10:00:00", "2026-11-30", id="over-thanksgiving"),
]


@pytest.mark.parametrize(("made_at", "arrives"), ARRIVAL_CASES)
def test_arrival_date_is_a_business_day(
    server: ShiftedClockServer, made_at: str, arrives: str
) -> None:
    day = datetime.date.fromisoformat(arrives)
    assert add_bank_days(at(made_at).date(), PAYOUT_BUSINESS_DAYS) == day
    server.set_now(at(made_at))
    client, _ = client_with_account(server)
    fund(client, 2_000)
    created = payout(client, amount=500)
    assert created.arrival_date == midnight_utc(day)

    server.set_now(datetime.datetime.fromtimestamp(created.arrival_date - 60, datetime.UTC))
    assert client.v1.payouts.retrieve(created.id).status == "in_transit"
    server.set_now(datetime.datetime.fromtimestamp(created.arrival_date + 1, datetime.UTC))
    assert client.v1.payouts.retrieve(created.id).status == "paid"


def test_instant_payout_arrives_within_half_an_hour(server: ShiftedClockServer) -> None:
    client, _ = client_with_account(server)
    fund(client, 2_000)
    created = payout(client, amount=700, method="instant")
    assert created.method == "instant" and created.status == "in_transit"
    assert created.arrival_date - created.created == 30 * 60
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payouts.cancel(created.id, options=idempotency())
    server.set_now(at("2026-11-18T10:31:00"))
    assert client.v1.payouts.retrieve(created.id).status == "paid"


def test_update_list_and_filters(server: ShiftedClockServer) -> None:
    client, account_id = client_with_account(server)
    fund(client, 20_000)
    other = bank_account(client, account_id, SUCCEEDING)
    first = payout(client, amount=100)
    second = payout(client, amount=200, destination=other.id)
    server.set_now(at("2026-11-19T12:00:00"))
    third = payout(client, amount=300)
    client.v1.payouts.cancel(third.id, options=idempotency())

    updated = client.v1.payouts.update(
        first.id, params={"metadata": {"order": "7"}}, options=idempotency()
    )
    assert plain(updated.metadata) == {"order": "7"}
    assert "payout.updated" in events_of(client, first.id)

    def ids(**filters: Any) -> list[str]:
        params: Any = filters
        return [p.id for p in client.v1.payouts.list(params=params).data]

    assert ids() == [third.id, second.id, first.id]
    assert ids(status="in_transit") == [second.id, first.id]
    assert ids(status="canceled") == [third.id]
    assert ids(destination=other.id) == [second.id]
    assert ids(arrival_date={"lte": midnight_utc(datetime.date(2026, 11, 20))}) == [
        second.id,
        first.id,
    ]
    assert ids(arrival_date=third.arrival_date) == [third.id]
    assert ids(limit=1, starting_after=second.id) == [first.id]
    assert ids(ending_before=first.id) == [third.id, second.id]
    with pytest.raises(stripe.InvalidRequestError):
        ids(status="lost")
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.payouts.retrieve("po_missing")
    assert missing.value.http_status == 404


def test_external_accounts(server: ShiftedClockServer) -> None:
    client, account_id = client_with_account(server)
    listed = client.v1.accounts.external_accounts.list(account_id)
    assert len(listed.data) == 1
    default = listed.data[0]
    assert default.object == "bank_account" and default.default_for_currency is True
    assert default.bank_name == "STRIPE TEST BANK" and default.routing_number == "110000000"
    second = bank_account(client, account_id, SUCCEEDING, metadata={"use": "backup"})
    assert plain(second.metadata) == {"use": "backup"} and second.default_for_currency is False
    assert second.fingerprint == default.fingerprint  # same number, same fingerprint
    made_default = client.v1.accounts.external_accounts.update(
        account_id, second.id, params={"default_for_currency": True}, options=idempotency()
    )
    assert made_default.default_for_currency is True
    before = client.v1.accounts.external_accounts.retrieve(account_id, default.id)
    assert before.default_for_currency is False
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.accounts.external_accounts.delete(account_id, second.id)
    deleted = client.v1.accounts.external_accounts.delete(account_id, default.id)
    assert deleted.deleted is True
    assert [b.id for b in client.v1.accounts.external_accounts.list(account_id).data] == [second.id]
    # Stripe announces the caller's changes (not the default test account Kassa added),
    # each with the bank account; the default that stopped being one is updated too.
    newest_first = client.v1.events.list(params={"type": "account.external_account.*"}).data
    announced = list(reversed(newest_first))
    assert [(e.type, e.data.object["id"]) for e in announced] == [
        ("account.external_account.created", second.id),
        ("account.external_account.updated", default.id),
        ("account.external_account.updated", second.id),
        ("account.external_account.deleted", default.id),
    ]
    assert announced[0].data.object["object"] == "bank_account"
    assert plain(announced[1].data.previous_attributes) == {"default_for_currency": True}
    assert plain(announced[2].data.previous_attributes) == {"default_for_currency": False}
    with pytest.raises(stripe.InvalidRequestError) as not_a_test_number:
        bank_account(client, account_id, "000999999991")
    assert not_a_test_number.value.param == "external_account[account_number]"
    with pytest.raises(stripe.InvalidRequestError) as elsewhere:
        client.v1.accounts.external_accounts.list("acct_someoneelse")
    assert elsewhere.value.http_status == 404
    fund(client, 1_000)
    assert payout(client, amount=100).destination == second.id  # the new default


def test_payouts_are_their_accounts_own(server: ShiftedClockServer) -> None:
    client, _ = client_with_account(server)
    fund(client, 1_000)
    created = payout(client, amount=100)
    stranger = new_client(server)
    with pytest.raises(stripe.InvalidRequestError) as hidden:
        stranger.v1.payouts.retrieve(created.id)
    assert hidden.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError):
        stranger.v1.payouts.cancel(created.id, options=idempotency())


# --- Automatic payouts on the account's schedule (balance settings) ------------------------


def set_schedule(client: stripe.StripeClient, **schedule: Any) -> stripe.BalanceSettings:
    params: Any = {"payments": {"payouts": {"schedule": schedule}}}
    return client.v1.balance_settings.update(params=params, options=idempotency())


def automatic_payouts(client: stripe.StripeClient) -> list[stripe.Payout]:
    return [p for p in client.v1.payouts.list(params={"limit": 100}).data if p.automatic]


def swept(client: stripe.StripeClient, payout_id: str) -> list[stripe.BalanceTransaction]:
    params: Any = {"payout": payout_id, "limit": 2}
    return list(client.v1.balance_transactions.list(params=params).auto_paging_iter())


def test_the_default_schedule_is_manual(server: ShiftedClockServer) -> None:
    client, _ = client_with_account(server)
    settings = client.v1.balance_settings.retrieve()
    assert settings.object == "balance_settings"
    assert settings.payments.payouts is not None
    assert settings.payments.payouts.schedule is not None
    assert settings.payments.payouts.schedule.interval == "manual"
    assert settings.payments.payouts.status == "enabled"
    fund(client, 2_000)
    server.set_now(at("2026-11-20T00:00:05"))
    assert automatic_payouts(client) == []
    with pytest.raises(stripe.InvalidRequestError) as no_days:
        set_schedule(client, interval="weekly")
    assert no_days.value.param == "payments[payouts][schedule][weekly_payout_days]"
    with pytest.raises(stripe.InvalidRequestError):
        set_schedule(client, interval="weekly", weekly_payout_days=["sunday"])


def test_daily_automatic_payouts_sweep_the_available_balance(server: ShiftedClockServer) -> None:
    client, _ = client_with_account(server)
    first_net = fund(client, 10_000)  # Wednesday
    settings = set_schedule(client, interval="daily")
    assert settings.payments.payouts is not None
    schedule = settings.payments.payouts.schedule
    assert schedule is not None and schedule.interval == "daily"
    assert automatic_payouts(client) == []

    server.set_now(at("2026-11-19T00:00:05"))  # Thursday's payout
    [thursday] = automatic_payouts(client)
    assert (thursday.amount, thursday.automatic, thursday.status) == (first_net, True, "pending")
    assert thursday.description == "STRIPE PAYOUT"
    assert thursday.reconciliation_status == "in_progress"
    assert thursday.arrival_date == midnight_utc(datetime.date(2026, 11, 23))
    assert available(client) == 0
    assert sum(t.net for t in swept(client, thursday.id)) == thursday.amount
    assert [t.type for t in swept(client, thursday.id)] == ["charge"]
    with pytest.raises(stripe.InvalidRequestError) as automatic:
        client.v1.payouts.cancel(thursday.id, options=idempotency())
    assert "automatically" in str(automatic.value.user_message)

    server.set_now(at("2026-11-19T15:00:00"))
    second_net = fund(client, 3_000) + fund(client, 1_000)
    refund_of = pay(client, 500, payment_method="pm_card_bypassPending")
    client.v1.refunds.create(params={"payment_intent": refund_of.id}, options=idempotency())
    expected = second_net + 500 - card_fee(500, "usd") - 500
    server.set_now(at("2026-11-20T00:00:05"))  # Friday's
    friday = automatic_payouts(client)[0]
    assert friday.id != thursday.id and friday.amount == expected
    friday_swept = swept(client, friday.id)
    assert sum(t.net for t in friday_swept) == expected
    assert sorted(t.type for t in friday_swept) == ["charge", "charge", "charge", "refund"]

    server.set_now(at("2026-11-20T12:00:00"))
    weekend_net = fund(client, 2_000)
    server.set_now(at("2026-11-22T12:00:00"))  # no payout on a weekend
    assert len(automatic_payouts(client)) == 2
    server.set_now(at("2026-11-23T00:00:05"))  # Monday's
    monday = automatic_payouts(client)[0]
    assert monday.amount == weekend_net
    paid = client.v1.payouts.retrieve(thursday.id)  # Thursday's arrived on Monday
    assert (paid.status, paid.reconciliation_status) == ("paid", "completed")


@pytest.mark.parametrize(
    ("schedule", "set_at", "quiet_at", "payout_day"),
    [
        pytest.param(
            {"interval": "weekly", "weekly_payout_days": ["monday"]},
            "2026-11-18T10:00:00",
            "2026-11-22T23:59:00",
            "2026-11-23",
            id="weekly-on-monday",
        ),
        pytest.param(
            {"interval": "weekly", "weekly_payout_days": ["thursday"]},
            "2026-11-23T10:00:00",
            "2026-11-26T12:00:00",
            "2026-11-27",
            id="weekly-thursday-moves-past-thanksgiving",
        ),
        pytest.param(
            {"interval": "monthly", "monthly_payout_days": [31]},
            "2026-11-18T10:00:00",
            "2026-11-29T12:00:00",
            "2026-11-30",
            id="monthly-31st-on-a-30-day-month",
        ),
        pytest.param(
            {"interval": "monthly", "monthly_payout_days": [28]},
            "2026-11-18T10:00:00",
            "2026-11-29T12:00:00",
            "2026-11-30",
            id="monthly-on-a-saturday-moves-to-monday",
        ),
    ],
)
def test_weekly_and_monthly_schedules(
    server: ShiftedClockServer,
    schedule: dict[str, Any],
    set_at: str,
    quiet_at: str,
    payout_day: str,
) -> None:
    server.set_now(at(set_at))
    client, _ = client_with_account(server)
    net = fund(client, 6_000)
    shown = set_schedule(client, **schedule)
    assert shown.payments.payouts is not None and shown.payments.payouts.schedule is not None
    assert plain(shown.payments.payouts.schedule)["interval"] == schedule["interval"]
    server.set_now(at(quiet_at))
    assert automatic_payouts(client) == []
    server.set_now(at(f"{payout_day}T00:00:05"))
    [made] = automatic_payouts(client)
    assert made.amount == net and made.created >= midnight_utc(
        datetime.date.fromisoformat(payout_day)
    )
    assert sum(t.net for t in swept(client, made.id)) == net


def test_concurrent_payouts_cannot_overdraw(server: ShiftedClockServer) -> None:
    """Two payouts at once, each for most of the balance: one is refused (on PostgreSQL the
    available balance's row is locked by the first)."""
    client, _ = client_with_account(server)
    net = fund(client, 10_000)
    share = net * 3 // 5

    def attempt(_: int) -> str:
        try:
            return payout(client, amount=share).status
        except stripe.InvalidRequestError as refused:
            return str(refused.code)

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = sorted(pool.map(attempt, range(4)))
    assert outcomes == ["balance_insufficient"] * 3 + ["pending"]
    assert available(client) == net - share


# --- Random sequences --------------------------------------------------------------------

STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("charge"), st.integers(min_value=100, max_value=20_000)),
        st.tuples(st.just("refund"), st.integers(min_value=1, max_value=100)),
        st.tuples(st.just("payout"), st.integers(min_value=1, max_value=120)),
        st.tuples(st.just("cancel"), st.integers(min_value=0, max_value=5)),
        st.tuples(st.just("next_day"), st.just(0)),
        st.tuples(st.just("daily"), st.just(0)),
    ),
    min_size=3,
    max_size=12,
)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=STEPS)
def test_random_payout_sequences_keep_the_books(
    server: ShiftedClockServer, steps: list[tuple[str, int]]
) -> None:
    """Charges, refunds, payouts (some too large), cancellations, days passing and a daily
    schedule in random order: the available balance is what the steps say, every payout
    that was refused was larger than it, and each automatic payout equals what it swept.
    (The ledger verifies after the test, every example included.)"""
    server.set_now(at("2026-11-16T10:00:00"))  # a Monday
    client, _ = client_with_account(server)
    expected = 0
    intents: list[stripe.PaymentIntent] = []
    made: list[stripe.Payout] = []
    day = 0
    for action, number in steps:
        if action == "charge":
            intents.append(pay(client, number, payment_method="pm_card_bypassPending"))
            expected += number - card_fee(number, "usd")
        elif action == "refund" and intents:
            intent = intents.pop()
            part = max(1, intent.amount * number // 100)
            client.v1.refunds.create(
                params={"payment_intent": intent.id, "amount": part}, options=idempotency()
            )
            expected -= part
        elif action == "payout":
            amount = max(1, expected * number // 100)
            if amount > expected:
                with pytest.raises(stripe.InvalidRequestError) as refused:
                    payout(client, amount=amount)
                assert refused.value.code == "balance_insufficient"
            else:
                made.append(payout(client, amount=amount))
                expected -= amount
        elif action == "cancel" and made:
            chosen = client.v1.payouts.retrieve(made[number % len(made)].id)
            if chosen.status == "pending" and not chosen.automatic:
                client.v1.payouts.cancel(chosen.id, options=idempotency())
                expected += chosen.amount
        elif action == "next_day":
            day += 1
            server.set_now(at("2026-11-16T10:00:00") + datetime.timedelta(days=day))
            for automatic in automatic_payouts(client):
                if automatic.id not in {p.id for p in made}:
                    made.append(automatic)
                    expected -= automatic.amount
        elif action == "daily":
            set_schedule(client, interval="daily")
        assert available(client) == expected
    for each in made:
        if each.automatic:
            assert sum(t.net for t in swept(client, each.id)) == each.amount


def test_the_arrive_test_helper_pays_or_fails_a_payout_now(server: ShiftedClockServer) -> None:
    account = create_account(server.database_url)
    client = server.client(account.secret_key)
    net = fund(client, 6_000)
    paid_one = payout(client, amount=1_000)
    failing = bank_account(client, account.id, "000111111116")
    failed_one = payout(client, amount=2_000, destination=failing.id)
    with server.http(account.secret_key) as http:
        paid = http.post(f"/v1/test_helpers/payouts/{paid_one.id}/arrive").json()
        failed = http.post(f"/v1/test_helpers/payouts/{failed_one.id}/arrive").json()
        again = http.post(f"/v1/test_helpers/payouts/{paid_one.id}/arrive")
    assert (paid["status"], paid["trace_id"]["status"]) == ("paid", "supported")
    assert (failed["status"], failed["failure_code"]) == ("failed", "no_account")
    assert again.status_code == 400 and again.json()["error"]["param"] == "id"
    assert available(client) == net - 1_000
    # As the scheduled moves announce them: in transit (updated), then paid (paid, updated).
    assert events_of(client, paid_one.id) == [
        "payout.created",
        "payout.updated",
        "payout.paid",
        "payout.updated",
    ]


def test_a_failed_payout_errors_its_bank_account_and_stops_scheduled_payouts(
    server: ShiftedClockServer,
) -> None:
    """Stripe: "If a payout sent to this bank account fails, we'll set the status to errored
    and will not continue to send scheduled payouts until the bank details are updated." """
    account = create_account(server.database_url)
    client = server.client(account.secret_key)
    failing = bank_account(client, account.id, "000111111116", default_for_currency=True)
    assert failing.status == "new"
    net = fund(client, 4_000)
    set_schedule(client, interval="daily")
    server.set_now(at("2026-11-19T00:00:05"))
    [first] = automatic_payouts(client)
    assert first.destination == failing.id
    with server.http(account.secret_key) as http:
        failed = http.post(f"/v1/test_helpers/payouts/{first.id}/arrive").json()
    assert failed["status"] == "failed"
    errored = client.v1.accounts.external_accounts.retrieve(account.id, failing.id)
    assert errored.status == "errored"

    server.set_now(at("2026-11-20T00:00:05"))  # Friday: nothing goes to the errored account
    assert [p.id for p in automatic_payouts(client)] == [first.id]
    assert available(client) == net
    manual = payout(client, amount=500, destination=failing.id)  # asked for: it goes
    client.v1.payouts.cancel(manual.id, options=idempotency())

    params: Any = {"account_holder_name": "Jenny Rosen"}
    updated = client.v1.accounts.external_accounts.update(
        account.id, failing.id, params=params, options=idempotency()
    )
    assert updated.status == "new"
    server.set_now(at("2026-11-23T00:00:05"))  # Monday: the updated account is paid again
    latest = automatic_payouts(client)[0]
    assert latest.id != first.id and (latest.amount, latest.destination) == (net, failing.id)


def test_a_failed_payout_announces_its_bank_account_errored(
    server: ShiftedClockServer,
) -> None:
    """Stripe's `account.external_account.updated` ("whenever an external account is
    updated") for the status a failed payout sets: once, at the failure's time, with the old
    status in `previous_attributes`; a second failure to the errored account changes nothing."""
    client, account_id = client_with_account(server)
    fund(client, 6_000)
    failing = bank_account(client, account_id, "000111111116")
    assert failing.status == "new"
    first = payout(client, amount=1_000, destination=failing.id)
    second = payout(client, amount=2_000, destination=failing.id)

    server.set_now(at("2026-11-20T00:00:01"))  # both arrive: both fail
    assert client.v1.payouts.retrieve(first.id).status == "failed"
    assert client.v1.payouts.retrieve(second.id).status == "failed"
    updated = client.v1.events.list(params={"type": "account.external_account.updated"}).data
    assert [e.data.object["id"] for e in updated] == [failing.id]
    [errored] = updated
    assert errored.data.object["object"] == "bank_account"
    assert errored.data.object["status"] == "errored"
    assert plain(errored.data.previous_attributes) == {"status": "new"}
    failures = client.v1.events.list(params={"type": "payout.failed"}).data
    assert {e.created for e in failures} == {errored.created}


def test_an_automatic_payout_announces_its_reconciliation_completed(
    server: ShiftedClockServer,
) -> None:
    """Stripe's `payout.reconciliation_completed`: an automatic payout's balance transactions
    can be listed (its `reconciliation_status` is `completed`)."""
    account = create_account(server.database_url)
    client = server.client(account.secret_key)
    params: Any = {
        "url": "https://example.com/hook",
        "enabled_events": ["payout.reconciliation_completed"],
    }
    endpoint = client.v1.webhook_endpoints.create(params=params, options=idempotency())
    assert endpoint.enabled_events == ["payout.reconciliation_completed"]
    fund(client, 4_000)
    manual = payout(client, amount=1_000)
    set_schedule(client, interval="daily")
    server.set_now(at("2026-11-19T00:00:05"))
    [automatic] = automatic_payouts(client)
    with server.http(account.secret_key) as http:
        for made in (manual, automatic):
            arrived = http.post(f"/v1/test_helpers/payouts/{made.id}/arrive").json()
            assert arrived["status"] == "paid"
    assert events_of(client, automatic.id)[-3:] == [
        "payout.paid",
        "payout.updated",
        "payout.reconciliation_completed",
    ]
    assert "payout.reconciliation_completed" not in events_of(client, manual.id)
    listed = client.v1.events.list(params={"type": "payout.reconciliation_completed"}).data
    assert [e.data.object["reconciliation_status"] for e in listed] == ["completed"]


def test_a_payout_missed_until_a_weekend_waits_for_the_next_business_day(
    server: ShiftedClockServer,
) -> None:
    """Automatic payouts are made on business days only: one due on Thursday that nothing
    made before the clock reached Saturday is made on Monday, not on the weekend."""
    client, _ = client_with_account(server)
    net = fund(client, 3_000)  # Wednesday
    set_schedule(client, interval="daily")
    server.set_now(at("2026-11-21T12:00:00"))  # Saturday
    assert automatic_payouts(client) == []
    server.set_now(at("2026-11-22T23:00:00"))  # Sunday
    assert automatic_payouts(client) == []
    server.set_now(at("2026-11-23T00:00:05"))  # Monday
    [monday] = automatic_payouts(client)
    assert monday.amount == net and monday.created >= midnight_utc(datetime.date(2026, 11, 23))
