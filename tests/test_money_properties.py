"""Money that goes in, comes back and goes out, under random scenarios against a live server
on SQLite and PostgreSQL: charges in random currencies (the account converts all but USD and
GBP into USD), refunds of them (some to the refund-failure test card, whose refunds fail
later), settlement, manual payouts to Stripe's succeeding and failing test bank accounts,
and an automatic payout at the end. Whatever the scenario:

- the ledger verifies (`kassa.ledger.verify`, in process, after every example; the real
  `kassa ledger verify` after the test): balanced in every currency, objects agreeing;
- per currency, the balance (available plus pending) equals the sum of the account's
  balance transactions' nets;
- each automatic payout's swept balance transactions (`?payout=po_...`) add up to its amount;
- a refund to the refund-failure card ends `failed` and gives its money back; each charge's
  `amount_refunded` is what its refunds that did not fail took.

Each example has an account of its own (`POST /v1/test_helpers/accounts`) and a week of its
own on the server's clock (moved by the test, never backwards: nothing sleeps for days).
"""

from __future__ import annotations

import datetime
import itertools
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pytest
import stripe
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kassa.ledger.verify import ledger_problems
from kassa.services import currency_conversion
from kassa.store import open_store
from tests.conftest import module_server
from tests.harness import create_account, run_coroutine, verify_ledger
from tests.test_balance import ShiftedClockServer, at
from tests.test_currency_conversion import helper, set_rates

MAX_EXAMPLES = 25
CHARGES_MAX = 5
PAYOUTS_MAX = 2
CURRENCIES = ("usd", "gbp", "eur", "jpy")
EXTRA_SETTLEMENT = ("gbp",)
"""The account settles in USD and GBP; EUR and JPY charges convert into USD."""
RATES = [("eur", "usd", "1.10"), ("jpy", "eur", "0.0062"), ("gbp", "usd", "1.25")]
CARDS = ("pm_card_visa", "pm_card_bypassPending", "pm_card_refundFail")
FAILING_CARD = "pm_card_refundFail"
BANKS = {"paid": "000123456789", "failed": "000111111116"}
FIRST_WEEK = at("2026-11-04T10:00:00")  # a Wednesday
WEEK = datetime.timedelta(days=7)
SETTLED_AFTER = datetime.timedelta(days=6)
"""From a Wednesday's charges to the next Tuesday: past two business days even with a bank
holiday in between, and past every refund failure's time."""
DAY_START = datetime.timedelta(hours=10)
"""`FIRST_WEEK` is 10:00 on its day."""
PAYOUT_TIME_AFTER_MIDNIGHT = datetime.timedelta(seconds=5)
"""Automatic payouts go out at 00:00 UTC of their day."""
PAYOUT_DAYS_MAX = 5
"""Days looked at for the first automatic payout: the next business day is within them."""
WAIT_SECONDS_MAX = 30.0
POLL_SECONDS = 0.1
PAGE = 100


@dataclass(frozen=True)
class PlannedCharge:
    amount: int
    currency: str
    card: str
    refund_percent: int | None
    """None: not refunded; else this share of the amount, at least one minor unit."""


@dataclass(frozen=True)
class PlannedPayout:
    percent: int
    """Of the available USD balance at the time."""
    bank: str


charges_strategy = st.lists(
    st.builds(
        PlannedCharge,
        amount=st.integers(min_value=100, max_value=50_000),
        currency=st.sampled_from(CURRENCIES),
        card=st.sampled_from(CARDS),
        refund_percent=st.none() | st.integers(min_value=1, max_value=100),
    ),
    min_size=1,
    max_size=CHARGES_MAX,
)
payouts_strategy = st.lists(
    st.builds(
        PlannedPayout,
        percent=st.integers(min_value=1, max_value=100),
        bank=st.sampled_from(sorted(BANKS)),
    ),
    max_size=PAYOUTS_MAX,
)


money_server = module_server("money", ShiftedClockServer)


class Scenario:
    """One example's account on the module's server, and the requests it makes."""

    def __init__(self, server: ShiftedClockServer, bootstrap: stripe.StripeClient) -> None:
        made = helper(bootstrap, "post", "/v1/test_helpers/accounts", name="Property")
        self.server = server
        self.account_id = str(made.id)
        self.client = server.client(str(made.secret_key))
        self.banks: dict[str, str] = {}
        run_coroutine(self._settle_in_usd_and_gbp)

    async def _settle_in_usd_and_gbp(self) -> None:
        store = await open_store(self.server.database_url)
        try:
            async with store.write() as tx:
                await currency_conversion.set_settlement_currencies(
                    tx, self.account_id, EXTRA_SETTLEMENT
                )
        finally:
            await store.close()

    def key(self) -> stripe.RequestOptions:
        return {"idempotency_key": str(uuid.uuid4())}

    def charge(self, planned: PlannedCharge) -> stripe.Charge:
        params: Any = {
            "amount": planned.amount,
            "currency": planned.currency,
            "payment_method": planned.card,
            "confirm": True,
            "allowed_payment_method_types": ["card"],
        }
        intent = self.client.v1.payment_intents.create(params=params, options=self.key())
        return self.client.v1.charges.retrieve(str(intent.latest_charge))

    def refund(self, charge: stripe.Charge, percent: int) -> stripe.Refund:
        amount = max(1, charge.amount * percent // 100)
        params: Any = {"charge": charge.id, "amount": amount}
        return self.client.v1.refunds.create(params=params, options=self.key())

    def available(self, currency: str = "usd") -> int:
        funds = {f.currency: f.amount for f in self.client.v1.balance.retrieve().available}
        return funds.get(currency, 0)

    def bank_account(self, number: str) -> str:
        if number in self.banks:
            return self.banks[number]
        params: Any = {
            "external_account": {
                "object": "bank_account",
                "account_number": number,
                "routing_number": "110000000",
                "country": "US",
                "currency": "usd",
            }
        }
        made = self.client.v1.accounts.external_accounts.create(
            self.account_id, params=params, options=self.key()
        )
        self.banks[number] = str(made.id)
        return self.banks[number]

    def manual_payout(self, planned: PlannedPayout) -> None:
        funds = self.available()
        amount = funds * planned.percent // 100
        if amount <= 0:
            return
        destination = self.bank_account(BANKS[planned.bank])
        params: Any = {"amount": amount, "currency": "usd", "destination": destination}
        made = self.client.v1.payouts.create(params=params, options=self.key())
        arrived = helper(self.client, "post", f"/v1/test_helpers/payouts/{made.id}/arrive")
        assert arrived.status == planned.bank

    def transactions(self) -> list[stripe.BalanceTransaction]:
        listed = self.client.v1.balance_transactions.list(params={"limit": PAGE})
        return list(listed.auto_paging_iter())

    def swept(self, payout_id: str) -> list[stripe.BalanceTransaction]:
        params: Any = {"payout": payout_id, "limit": PAGE}
        return list(self.client.v1.balance_transactions.list(params=params).auto_paging_iter())


def wait_until_failed(scenario: Scenario, refund_ids: list[str]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS_MAX
    for refund_id in refund_ids:
        while scenario.client.v1.refunds.retrieve(refund_id).status != "failed":
            assert time.monotonic() < deadline, f"{refund_id} did not fail"
            time.sleep(POLL_SECONDS)


def ledger_findings(database_url: str) -> list[Any]:
    async def run() -> list[Any]:
        store = await open_store(database_url)
        try:
            async with store.read() as tx:
                return list(await ledger_problems(tx))
        finally:
            await store.close()

    return run_coroutine(run)


def check_balance_equals_transactions(scenario: Scenario) -> None:
    balance = scenario.client.v1.balance.retrieve()
    shown: dict[str, int] = defaultdict(int)
    for available in balance.available:
        shown[available.currency] += available.amount
    for pending in balance.pending:
        shown[pending.currency] += pending.amount
    summed: dict[str, int] = defaultdict(int)
    for txn in scenario.transactions():
        summed[txn.currency] += txn.net
    for currency in set(shown) | set(summed):
        assert shown[currency] == summed[currency], currency


def check_refunds(scenario: Scenario, charges: list[stripe.Charge]) -> None:
    for charge in charges:
        found = scenario.client.v1.charges.retrieve(charge.id, params={"expand": ["refunds"]})
        assert found.refunds is not None
        kept = sum(r.amount for r in found.refunds.data if r.status != "failed")
        assert found.amount_refunded == kept
        fails = charge.payment_method_details is not None and (
            charge.payment_method_details.card is not None
            and charge.payment_method_details.card.last4 == "5126"
        )
        for refund in found.refunds.data:
            assert refund.status == ("failed" if fails else "succeeded")


def automatic_payouts(
    server: ShiftedClockServer,
    scenario: Scenario,
    midnight: datetime.datetime,
    expected: dict[str, int],
) -> list[stripe.Payout]:
    """The automatic payouts of the first payout day from `midnight` on (a daily schedule
    skips bank holidays), read just after its 00:00 UTC."""
    automatic: list[stripe.Payout] = []
    for day in range(PAYOUT_DAYS_MAX):
        server.set_now(midnight + datetime.timedelta(days=day) + PAYOUT_TIME_AFTER_MIDNIGHT)
        automatic = [p for p in scenario.client.v1.payouts.list().data if p.automatic]
        if automatic or not expected:
            break
    return automatic


week_numbers = itertools.count()


@pytest.fixture(scope="module")
def bootstrap(money_server: ShiftedClockServer) -> stripe.StripeClient:
    """A client whose key makes the examples' accounts; the installation's rates set."""
    client = money_server.client(create_account(money_server.database_url).secret_key)
    set_rates(client, RATES)
    return client


@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(planned_charges=charges_strategy, planned_payouts=payouts_strategy)
def test_money_stays_accounted_for(
    money_server: ShiftedClockServer,
    bootstrap: stripe.StripeClient,
    planned_charges: list[PlannedCharge],
    planned_payouts: list[PlannedPayout],
) -> None:
    start = FIRST_WEEK + next(week_numbers) * WEEK
    money_server.set_now(start)
    scenario = Scenario(money_server, bootstrap)

    charges = [scenario.charge(planned) for planned in planned_charges]
    failing = [
        scenario.refund(charge, planned.refund_percent).id
        for charge, planned in zip(charges, planned_charges, strict=True)
        if planned.refund_percent is not None and planned.card == FAILING_CARD
    ]
    for charge, planned in zip(charges, planned_charges, strict=True):
        if planned.refund_percent is not None and planned.card != FAILING_CARD:
            scenario.refund(charge, planned.refund_percent)
    check_balance_equals_transactions(scenario)

    money_server.set_now(start + SETTLED_AFTER)
    wait_until_failed(scenario, failing)
    check_refunds(scenario, charges)
    for planned_payout in planned_payouts:
        scenario.manual_payout(planned_payout)
    check_balance_equals_transactions(scenario)

    # Nothing moves the balance between now and the automatic payout but the payout.
    funds = {f.currency: f.amount for f in scenario.client.v1.balance.retrieve().available}
    params: Any = {"payments": {"payouts": {"schedule": {"interval": "daily"}}}}
    scenario.client.v1.balance_settings.update(params=params, options=scenario.key())
    expected = {currency: amount for currency, amount in funds.items() if amount > 0}
    automatic = automatic_payouts(money_server, scenario, start + WEEK - DAY_START, expected)
    assert {p.currency: p.amount for p in automatic} == expected
    for payout in automatic:
        assert sum(t.net for t in scenario.swept(payout.id)) == payout.amount
    check_balance_equals_transactions(scenario)
    assert ledger_findings(money_server.database_url) == []


def test_the_ledger_verifies_after_every_scenario(money_server: ShiftedClockServer) -> None:
    """The real `kassa ledger verify` over everything the scenarios left (it runs after the
    property test in this module's order)."""
    verify_ledger(money_server.database_url)
