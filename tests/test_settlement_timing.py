"""`payments.settlement_timing.delay_days_override` in balance settings, through the official
SDK against a live server (SQLite and PostgreSQL): it sets how many business days after a
charge its funds become available, for charges made after the change (earlier ones keep
their `available_on`), `delay_days` shows the delay in force, an empty string goes back to
the installation's, each account has its own, and bad values are 400s naming the parameter.
Expected dates come from `tests/test_balance.py`'s own US banking calendar; the server's
clock is set by the test (nothing waits for days). Every check of `kassa ledger verify`
after every test (in process)."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import pytest
import stripe

from tests.conftest import module_server
from tests.harness import assert_ledger_whole, create_account
from tests.test_balance import (
    DEFAULT_DELAY_BUSINESS_DAYS,
    ShiftedClockServer,
    add_bank_days,
    at,
    card_fee,
    charge_transaction,
    funds_by_currency,
    idempotency,
    midnight_utc,
    pay,
)
from tests.test_test_clocks import new_clock

PARAM = "payments[settlement_timing][delay_days_override]"
WEDNESDAY = "2026-11-18T10:00:00"
"""A Wednesday a week before Thanksgiving (Thursday 26 November 2026, a bank holiday)."""


timing_server = module_server("settlement-timing", ShiftedClockServer)


@pytest.fixture
def server(timing_server: ShiftedClockServer) -> Iterator[ShiftedClockServer]:
    timing_server.set_now(at(WEDNESDAY))
    yield timing_server
    assert_ledger_whole(timing_server.database_url)


@pytest.fixture
def client(server: ShiftedClockServer) -> stripe.StripeClient:
    return server.client(create_account(server.database_url).secret_key)


def set_override(client: stripe.StripeClient, value: Any) -> stripe.BalanceSettings:
    params: Any = {"payments": {"settlement_timing": {"delay_days_override": value}}}
    return client.v1.balance_settings.update(params=params, options=idempotency())


def timing(settings: stripe.BalanceSettings) -> tuple[int, int | None]:
    shown = settings.payments.settlement_timing
    assert shown is not None
    return shown.delay_days, shown.delay_days_override


def available_day(delay_days: int, charged_at: str = WEDNESDAY) -> int:
    return midnight_utc(add_bank_days(at(charged_at).date(), delay_days))


def test_the_override_sets_when_new_charges_settle(client: stripe.StripeClient) -> None:
    assert timing(client.v1.balance_settings.retrieve()) == (DEFAULT_DELAY_BUSINESS_DAYS, None)
    before = charge_transaction(client, pay(client, 2_000))
    assert before.available_on == available_day(DEFAULT_DELAY_BUSINESS_DAYS)

    assert timing(set_override(client, 6)) == (6, 6)
    assert timing(client.v1.balance_settings.retrieve()) == (6, 6)
    after = charge_transaction(client, pay(client, 3_000))
    # Six business days from Wednesday 18 November skip the weekend and Thanksgiving.
    assert after.available_on == available_day(6) == midnight_utc(datetime.date(2026, 11, 27))
    assert client.v1.balance_transactions.retrieve(before.id).available_on == (
        available_day(DEFAULT_DELAY_BUSINESS_DAYS)
    )

    assert timing(set_override(client, "")) == (DEFAULT_DELAY_BUSINESS_DAYS, None)
    reset = charge_transaction(client, pay(client, 4_000))
    assert reset.available_on == available_day(DEFAULT_DELAY_BUSINESS_DAYS)
    updates = client.v1.events.list(params={"type": "balance_settings.updated"}).data
    previous = [e.data.to_dict()["previous_attributes"]["payments"] for e in reversed(updates)]
    assert [p["settlement_timing"]["delay_days_override"] for p in previous] == [None, 6]


def test_funds_under_an_override_settle_on_its_day(
    server: ShiftedClockServer, client: stripe.StripeClient
) -> None:
    set_override(client, 1)
    txn = charge_transaction(client, pay(client, 5_000))
    assert txn.available_on == available_day(1) == midnight_utc(datetime.date(2026, 11, 19))
    net = 5_000 - card_fee(5_000, "usd")
    server.set_now(datetime.datetime.fromtimestamp(txn.available_on - 30, datetime.UTC))
    assert funds_by_currency(client) == ({"usd": 0}, {"usd": net})
    server.set_now(datetime.datetime.fromtimestamp(txn.available_on + 1, datetime.UTC))
    assert funds_by_currency(client) == ({"usd": net}, {"usd": 0})


def test_each_account_has_its_own_delay(
    server: ShiftedClockServer, client: stripe.StripeClient
) -> None:
    set_override(client, 10)
    other = server.client(create_account(server.database_url).secret_key)
    assert timing(other.v1.balance_settings.retrieve()) == (DEFAULT_DELAY_BUSINESS_DAYS, None)
    assert charge_transaction(other, pay(other, 2_000)).available_on == available_day(
        DEFAULT_DELAY_BUSINESS_DAYS
    )
    assert charge_transaction(client, pay(client, 2_000)).available_on == available_day(10)


def test_a_test_clock_customers_charge_follows_the_override(client: stripe.StripeClient) -> None:
    monday = "2024-01-08T10:00:00"
    clock = new_clock(client, int(at(monday).timestamp()))
    customer = client.v1.customers.create(params={"test_clock": clock.id})
    set_override(client, 3)
    txn = charge_transaction(client, pay(client, 2_500, customer=customer.id))
    assert txn.available_on == available_day(3, charged_at=monday)


def test_other_settings_leave_the_override_alone(client: stripe.StripeClient) -> None:
    set_override(client, 4)
    params: Any = {"payments": {"payouts": {"statement_descriptor": "KASSA SHOP"}}}
    changed = client.v1.balance_settings.update(params=params, options=idempotency())
    assert timing(changed) == (4, 4)
    assert charge_transaction(client, pay(client, 2_000)).available_on == available_day(4)


@pytest.mark.parametrize("value", [0, 32, -1, "soon", "1.5"])
def test_bad_overrides_are_400s_naming_the_parameter(
    client: stripe.StripeClient, value: Any
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        set_override(client, value)
    assert refused.value.http_status == 400
    assert refused.value.param == PARAM
    assert timing(client.v1.balance_settings.retrieve()) == (DEFAULT_DELAY_BUSINESS_DAYS, None)


@pytest.mark.parametrize("value", [1, 31])
def test_the_bounds_are_accepted(client: stripe.StripeClient, value: int) -> None:
    assert timing(set_override(client, value)) == (value, value)
    assert charge_transaction(client, pay(client, 2_000)).available_on == available_day(value)
