"""The balance and balance transactions through the official SDK against a live server: the
arithmetic after a mixed scenario (on SQLite and PostgreSQL), list filters, and settlement of
pending funds on business days.

Settlement depends on the date, so its deterministic tests run extra servers whose injected
clock the test sets (Kassa's `Clock` seam: the real `KassaApp` under uvicorn, with the wall
clock shifted by an offset the test writes to a file). Expected dates come from this file's
own US banking calendar, built on the `holidays` package with the Federal Reserve's rules.
"""

from __future__ import annotations

import datetime
import os
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import holidays
import pytest
import stripe

from tests.harness import Account, KassaServer, assert_ledger_whole, create_account
from tests.settlement import settle_in

PERCENT = Decimal("0.029")
FIXED_FEES = {"usd": 30, "jpy": 0}
"""Kassa's default pricing (README): 2.9% rounded half up, plus Stripe's local fixed fee."""
DISPUTE_FEE_USD = 1500
SECONDS_PER_DAY = 86_400
DEFAULT_DELAY_BUSINESS_DAYS = 2


def card_fee(amount: int, currency: str) -> int:
    variable = (amount * PERCENT).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(variable) + FIXED_FEES[currency]


def idempotency() -> stripe.RequestOptions:
    return {"idempotency_key": str(uuid.uuid4())}


def pay(
    client: stripe.StripeClient,
    amount: int,
    currency: str = "usd",
    payment_method: str = "pm_card_visa",
    **extra: Any,
) -> stripe.PaymentIntent:
    params: Any = {
        "amount": amount,
        "currency": currency,
        "payment_method": payment_method,
        # Posted in the request: these tests read the charge's balance transaction at once
        # (the default, asynchronous capture: tests/test_async_capture.py).
        "capture_method": "automatic",
        "confirm": True,
        "allowed_payment_method_types": ["card"],
        **extra,
    }
    return client.v1.payment_intents.create(params=params, options=idempotency())


def charge_transaction(
    client: stripe.StripeClient, intent: stripe.PaymentIntent
) -> stripe.BalanceTransaction:
    assert isinstance(intent.latest_charge, str)
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert isinstance(charge.balance_transaction, str)
    return client.v1.balance_transactions.retrieve(charge.balance_transaction)


def funds_by_currency(client: stripe.StripeClient) -> tuple[dict[str, int], dict[str, int]]:
    """(available, pending), each currency -> amount."""
    balance = client.v1.balance.retrieve()
    available = {funds.currency: funds.amount for funds in balance.available}
    pending = {funds.currency: funds.amount for funds in balance.pending}
    return available, pending


def all_transactions(client: stripe.StripeClient) -> list[stripe.BalanceTransaction]:
    pages = client.v1.balance_transactions.list(params={"limit": 3}).auto_paging_iter()
    return list(pages)


# --- A US banking calendar, independent of Kassa's ----------------------------------------


def us_bank_holidays(year: int) -> set[datetime.date]:
    """Days the Federal Reserve Banks are closed: the federal holidays on their own dates,
    and the Monday after one that falls on a Sunday. A holiday on a Saturday is not moved
    to the Friday: the Reserve Banks are open that Friday (federalreserve.gov holiday
    schedule, "For holidays falling on Saturday, Federal Reserve Banks and Branches will be
    open the preceding Friday")."""
    actual = holidays.country_holidays("US", years=year, observed=False)
    return set(actual) | {day + datetime.timedelta(days=1) for day in actual if day.weekday() == 6}


def is_bank_day(day: datetime.date) -> bool:
    return day.weekday() < 5 and day not in us_bank_holidays(day.year)


def add_bank_days(day: datetime.date, count: int) -> datetime.date:
    """The `count`-th bank day after `day`; with 0, `day` or the next bank day."""
    if count == 0:
        while not is_bank_day(day):
            day += datetime.timedelta(days=1)
        return day
    for _ in range(count):
        day += datetime.timedelta(days=1)
        while not is_bank_day(day):
            day += datetime.timedelta(days=1)
    return day


def midnight_utc(day: datetime.date) -> int:
    return int(datetime.datetime.combine(day, datetime.time(), tzinfo=datetime.UTC).timestamp())


def utc_date(unix_seconds: int) -> datetime.date:
    return datetime.datetime.fromtimestamp(unix_seconds, datetime.UTC).date()


def test_calendar_helper() -> None:
    """The helper itself, against dates read off the Federal Reserve's published schedule."""
    assert datetime.date(2026, 11, 26) in us_bank_holidays(2026)  # Thanksgiving
    assert datetime.date(2026, 11, 11) in us_bank_holidays(2026)  # Veterans Day
    assert datetime.date(2027, 7, 5) in us_bank_holidays(2027)  # July 4 is a Sunday
    assert datetime.date(2026, 7, 3) not in us_bank_holidays(2026)  # July 4 is a Saturday
    assert datetime.date(2027, 12, 24) not in us_bank_holidays(2027)  # Dec 25 is a Saturday
    assert add_bank_days(datetime.date(2026, 11, 6), 2) == datetime.date(2026, 11, 10)
    assert add_bank_days(datetime.date(2026, 11, 21), 0) == datetime.date(2026, 11, 23)
    assert add_bank_days(datetime.date(2026, 11, 18), 0) == datetime.date(2026, 11, 18)


# --- Balance arithmetic on the session server (SQLite and PostgreSQL) ----------------------


def test_new_account_balance_is_zero_usd(server: KassaServer, account: Account) -> None:
    with server.http(account.secret_key) as http:
        body = http.get("/v1/balance").json()
    assert body["object"] == "balance"
    assert body["livemode"] is False
    for bucket in ("available", "pending"):
        assert [(f["amount"], f["currency"]) for f in body[bucket]] == [(0, "usd")], body
    assert set(body) <= set(stripe.Balance.__annotations__)
    client = server.client(account.secret_key)
    assert client.v1.balance_transactions.list().data == []


@pytest.fixture
def yen_settling(client: stripe.StripeClient, account: Account) -> None:
    """The test's account settles in JPY as well as USD."""
    settle_in(client, account.id, "jpy")


@dataclass
class Expected:
    """Per currency, what the scenario moves, computed from the amounts it charges."""

    pending: defaultdict[str, int]
    available: defaultdict[str, int]
    count: int = 0

    def charge(self, amount: int, currency: str = "usd", *, immediately: bool = False) -> None:
        bucket = self.available if immediately else self.pending
        bucket[currency] += amount - card_fee(amount, currency)
        self.count += 1

    def out_of_available(self, amount: int, currency: str = "usd") -> None:
        self.available[currency] -= amount
        self.count += 1


@pytest.mark.usefixtures("ledger_verified", "yen_settling")
def test_balance_arithmetic_after_a_mixed_scenario(client: stripe.StripeClient) -> None:
    expected = Expected(pending=defaultdict(int), available=defaultdict(int))

    first = pay(client, 2000)
    expected.charge(2000)
    second = pay(client, 2500)  # 72.5 cents of fee: rounded half up
    expected.charge(2500)
    held = pay(client, 5000, capture_method="manual")
    assert client.v1.balance.retrieve().pending[0].amount == expected.pending["usd"]
    client.v1.payment_intents.capture(
        held.id, params={"amount_to_capture": 3000}, options=idempotency()
    )
    expected.charge(3000)
    client.v1.refunds.create(
        params={"payment_intent": second.id, "amount": 500}, options=idempotency()
    )
    expected.out_of_available(500)
    client.v1.refunds.create(params={"payment_intent": first.id}, options=idempotency())
    expected.out_of_available(2000)
    pay(client, 1500, payment_method="pm_card_createDispute")
    expected.charge(1500)
    expected.out_of_available(1500 + DISPUTE_FEE_USD)
    pay(client, 1500, "jpy")  # 43.5 yen of fee: rounded half up
    expected.charge(1500, "jpy")
    pay(client, 1000, payment_method="pm_card_bypassPending")
    expected.charge(1000, immediately=True)
    with pytest.raises(stripe.CardError):
        pay(client, 700, payment_method="pm_card_chargeDeclined")  # moves nothing

    available, pending = funds_by_currency(client)
    assert available == {"usd": expected.available["usd"], "jpy": expected.available["jpy"]}
    assert pending == {"usd": expected.pending["usd"], "jpy": expected.pending["jpy"]}
    assert (pending["usd"], available["usd"]) == (
        2000 - 88 + 2500 - 103 + 3000 - 117 + 1500 - 74,
        -500 - 2000 - 3000 + 1000 - 59,
    )
    assert (pending["jpy"], available["jpy"]) == (1500 - 44, 0)

    transactions = all_transactions(client)
    assert len(transactions) == expected.count == 9
    assert len({txn.id for txn in transactions}) == len(transactions)
    nets: defaultdict[str, int] = defaultdict(int)
    pending_nets: defaultdict[str, int] = defaultdict(int)
    for txn in transactions:
        assert txn.net == txn.amount - txn.fee, txn
        assert txn.fee == sum(detail.amount for detail in txn.fee_details), txn
        assert set(txn.to_dict()) <= set(stripe.BalanceTransaction.__annotations__)
        nets[txn.currency] += txn.net
        if txn.status == "pending":
            pending_nets[txn.currency] += txn.net
        else:
            assert txn.status == "available", txn
    for currency in ("usd", "jpy"):
        assert available[currency] + pending[currency] == nets[currency]
        assert pending[currency] == pending_nets[currency]


@pytest.mark.usefixtures("ledger_verified", "yen_settling")
def test_balance_transaction_filters_and_retrieval(client: stripe.StripeClient) -> None:
    first = pay(client, 1000)
    second = pay(client, 3000)
    yen = pay(client, 800, "jpy")
    refund = client.v1.refunds.create(
        params={"payment_intent": second.id, "amount": 1200}, options=idempotency()
    )
    charges = [charge_transaction(client, intent) for intent in (first, second, yen)]
    assert [txn.type for txn in charges] == ["charge"] * 3
    assert [(txn.amount, txn.fee, txn.net) for txn in charges] == [
        (1000, 59, 941),
        (3000, 117, 2883),
        (800, 23, 777),
    ]

    by_type = client.v1.balance_transactions.list(params={"type": "charge"})
    assert [txn.id for txn in by_type.data] == [txn.id for txn in reversed(charges)]
    refunds = client.v1.balance_transactions.list(params={"type": "refund"}).data
    assert [(txn.id, txn.source, txn.amount) for txn in refunds] == [
        (refund.balance_transaction, refund.id, -1200)
    ]
    assert client.v1.balance_transactions.list(params={"type": "adjustment"}).data == []
    by_refund = client.v1.balance_transactions.list(params={"source": refund.id})
    assert [txn.id for txn in by_refund.data] == [refund.balance_transaction]
    assert isinstance(charges[1].source, str) and charges[1].source.startswith("ch_")
    by_source = client.v1.balance_transactions.list(params={"source": charges[1].source})
    assert [txn.id for txn in by_source.data] == [charges[1].id]
    by_currency = client.v1.balance_transactions.list(params={"currency": "jpy"})
    assert [txn.id for txn in by_currency.data] == [charges[2].id]
    usd = client.v1.balance_transactions.list(params={"currency": "usd", "type": "charge"})
    assert [txn.id for txn in usd.data] == [charges[1].id, charges[0].id]

    page = client.v1.balance_transactions.list(params={"limit": 2})
    newest_first = [refund.balance_transaction, charges[2].id, charges[1].id, charges[0].id]
    assert [txn.id for txn in page.data] == newest_first[:2]
    assert page.has_more is True
    rest = client.v1.balance_transactions.list(
        params={"limit": 2, "starting_after": page.data[-1].id}
    )
    assert [txn.id for txn in rest.data] == newest_first[2:]
    assert rest.has_more is False
    back = client.v1.balance_transactions.list(
        params={"limit": 2, "ending_before": rest.data[0].id}
    )
    assert [txn.id for txn in back.data] == newest_first[:2]

    fetched = client.v1.balance_transactions.retrieve(charges[0].id)
    assert fetched.to_dict() == charges[0].to_dict()
    expanded = client.v1.balance_transactions.retrieve(charges[0].id, params={"expand": ["source"]})
    source = expanded.source
    assert isinstance(source, stripe.Charge)
    assert source.id == first.latest_charge
    assert source.balance_transaction == charges[0].id
    listed = client.v1.balance_transactions.list(
        params={"type": "refund", "expand": ["data.source"]}
    )
    assert isinstance(listed.data[0].source, stripe.Refund)

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.balance_transactions.retrieve("txn_doesnotexist")
    assert raised.value.http_status == 404
    assert raised.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.balance_transactions.list(params={"starting_after": "txn_doesnotexist"})
    assert raised.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.balance_transactions.list(params={"type": "no_such_type"})
    assert raised.value.http_status == 400
    assert raised.value.param == "type"


@pytest.mark.usefixtures("ledger_verified")
def test_other_accounts_transactions_are_404(
    server: KassaServer, client: stripe.StripeClient
) -> None:
    txn = charge_transaction(client, pay(client, 1000))
    other = server.client(create_account(server.database_url).secret_key)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        other.v1.balance_transactions.retrieve(txn.id)
    assert raised.value.http_status == 404
    assert other.v1.balance_transactions.list().data == []
    available, pending = funds_by_currency(other)
    assert (available, pending) == ({"usd": 0}, {"usd": 0})


# --- Settlement on the session server (the real clock, the default delay) ------------------


@pytest.mark.usefixtures("ledger_verified")
def test_default_delay_is_two_bank_days(client: stripe.StripeClient) -> None:
    amount = 4200
    txn = charge_transaction(client, pay(client, amount))
    assert txn.available_on % SECONDS_PER_DAY == 0, "00:00 UTC"
    day = utc_date(txn.available_on)
    assert day.weekday() < 5, day
    assert day not in us_bank_holidays(day.year), day
    assert txn.available_on >= txn.created + DEFAULT_DELAY_BUSINESS_DAYS * SECONDS_PER_DAY - (
        txn.created % SECONDS_PER_DAY
    )
    assert day == add_bank_days(utc_date(txn.created), DEFAULT_DELAY_BUSINESS_DAYS)
    assert txn.status == "pending"
    available, pending = funds_by_currency(client)
    assert (available["usd"], pending["usd"]) == (0, amount - card_fee(amount, "usd"))
    assert client.v1.balance_transactions.retrieve(txn.id).status == "pending"


@pytest.mark.usefixtures("ledger_verified")
def test_bypass_pending_is_available_at_once(client: stripe.StripeClient) -> None:
    amount = 3100
    txn = charge_transaction(client, pay(client, amount, payment_method="pm_card_bypassPending"))
    assert txn.status == "available"
    assert txn.available_on <= int(time.time())
    assert txn.net == amount - card_fee(amount, "usd")
    available, pending = funds_by_currency(client)
    assert (available["usd"], pending["usd"]) == (amount - card_fee(amount, "usd"), 0)


# --- Settlement with a clock the test sets -------------------------------------------------

CLOCK_LAUNCHER = """
import sys
import time
from pathlib import Path

import uvicorn

from kassa.config import Settings
from kassa.runtime import KassaApp


class ShiftedClock:
    def __init__(self, offset_file):
        self.offset_file = Path(offset_file)

    def now(self):
        return time.time() + float(self.offset_file.read_text())


settings = Settings(port=int(sys.argv[1]))
uvicorn.run(
    KassaApp(settings, clock=ShiftedClock(sys.argv[2])),
    host=settings.host,
    port=settings.port,
    lifespan="on",
    access_log=False,
    log_level="info",  # its bind line: the harness waits for it
)
"""


class ShiftedClockServer(KassaServer):
    """The real `KassaApp` in its own process, whose clock runs at the wall clock's pace
    from wherever `set_now` puts it."""

    def __init__(self, database_url: str, log_path: Path, extra_env: dict[str, str]) -> None:
        super().__init__(database_url, log_path, extra_env)
        self.offset_file = log_path.with_suffix(".clock")
        self.offset_file.write_text("0")

    def command(self) -> list[str]:
        return [sys.executable, "-c", CLOCK_LAUNCHER, str(self.port), str(self.offset_file)]

    def set_now(self, when: datetime.datetime) -> None:
        # Replaced atomically: the server reads the file on every clock reading, and a
        # half-written file would make its clock fail mid-request.
        staged = self.offset_file.with_suffix(".staged")
        staged.write_text(repr(when.timestamp() - time.time()))
        os.replace(staged, self.offset_file)


def shifted_server(
    tmp_path_factory: pytest.TempPathFactory, delay_days: int
) -> Iterator[ShiftedClockServer]:
    directory = tmp_path_factory.mktemp(f"settlement-delay-{delay_days}")
    kassa = ShiftedClockServer(
        f"sqlite:///{directory / 'kassa.db'}",
        directory / "kassa.log",
        {"KASSA_SETTLEMENT_DELAY_DAYS": str(delay_days)},
    ).start()
    try:
        yield kassa
    finally:
        kassa.stop()


@pytest.fixture(scope="module")
def same_day_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShiftedClockServer]:
    yield from shifted_server(tmp_path_factory, 0)


@pytest.fixture(scope="module")
def two_day_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShiftedClockServer]:
    yield from shifted_server(tmp_path_factory, DEFAULT_DELAY_BUSINESS_DAYS)


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.UTC)


def test_same_day_settlement(same_day_server: ShiftedClockServer) -> None:
    same_day_server.set_now(at("2026-11-18T15:30:00"))  # a Wednesday
    client = same_day_server.client(create_account(same_day_server.database_url).secret_key)
    amount = 2500
    intent = pay(client, amount)
    txn = charge_transaction(client, intent)
    assert txn.available_on == midnight_utc(datetime.date(2026, 11, 18))
    assert abs(txn.created - int(at("2026-11-18T15:30:00").timestamp())) < 60

    available, pending = funds_by_currency(client)  # reading the balance settles what is due
    assert (available["usd"], pending["usd"]) == (amount - card_fee(amount, "usd"), 0)
    settled = client.v1.balance_transactions.retrieve(txn.id)
    assert settled.status == "available"
    assert (settled.amount, settled.fee, settled.net) == (txn.amount, txn.fee, txn.net)
    assert_ledger_whole(same_day_server.database_url)


def test_same_day_setting_waits_for_a_bank_day(same_day_server: ShiftedClockServer) -> None:
    same_day_server.set_now(at("2026-11-21T10:00:00"))  # a Saturday
    client = same_day_server.client(create_account(same_day_server.database_url).secret_key)
    txn = charge_transaction(client, pay(client, 1000))
    assert txn.available_on == midnight_utc(datetime.date(2026, 11, 23))
    assert funds_by_currency(client)[1]["usd"] == 1000 - card_fee(1000, "usd")
    assert client.v1.balance_transactions.retrieve(txn.id).status == "pending"
    same_day_server.set_now(at("2026-11-23T00:00:05"))
    available, pending = funds_by_currency(client)
    assert (available["usd"], pending["usd"]) == (1000 - card_fee(1000, "usd"), 0)
    assert_ledger_whole(same_day_server.database_url)


SETTLEMENT_CASES = [
    pytest.param("2026-11-18T10:00:00", "2026-11-20", id="wednesday-to-friday"),
    pytest.param("2026-11-06T23:59:00", "2026-11-10", id="friday-late-to-tuesday"),
    pytest.param("2026-11-21T12:00:00", "2026-11-24", id="saturday-to-tuesday"),
    pytest.param("2026-11-10T10:00:00", "2026-11-13", id="over-veterans-day"),
    pytest.param("2026-11-25T10:00:00", "2026-11-30", id="over-thanksgiving"),
    pytest.param("2027-07-01T10:00:00", "2027-07-06", id="sunday-holiday-closes-monday"),
    pytest.param("2027-12-22T10:00:00", "2027-12-24", id="saturday-holiday-friday-open"),
]


@pytest.mark.parametrize(("charged_at", "available_day"), SETTLEMENT_CASES)
def test_funds_settle_two_bank_days_later(
    two_day_server: ShiftedClockServer, charged_at: str, available_day: str
) -> None:
    day = datetime.date.fromisoformat(available_day)
    assert add_bank_days(at(charged_at).date(), DEFAULT_DELAY_BUSINESS_DAYS) == day
    two_day_server.set_now(at(charged_at))
    client = two_day_server.client(create_account(two_day_server.database_url).secret_key)
    amount = 5000
    net = amount - card_fee(amount, "usd")
    txn = charge_transaction(client, pay(client, amount))
    assert utc_date(txn.available_on) == day
    assert txn.available_on == midnight_utc(day)

    two_day_server.set_now(datetime.datetime.fromtimestamp(txn.available_on - 30, datetime.UTC))
    available, pending = funds_by_currency(client)
    assert (available["usd"], pending["usd"]) == (0, net)
    assert client.v1.balance_transactions.retrieve(txn.id).status == "pending"

    two_day_server.set_now(datetime.datetime.fromtimestamp(txn.available_on + 1, datetime.UTC))
    available, pending = funds_by_currency(client)
    assert (available["usd"], pending["usd"]) == (net, 0)
    assert client.v1.balance_transactions.retrieve(txn.id).status == "available"
    assert_ledger_whole(two_day_server.database_url)


def test_listing_settles_due_funds_first(two_day_server: ShiftedClockServer) -> None:
    """Listing balance transactions settles due funds first, as retrieving one and reading
    the balance do: every read shows the same status, whichever comes first."""
    two_day_server.set_now(at("2026-11-02T10:00:00"))
    client = two_day_server.client(create_account(two_day_server.database_url).secret_key)
    txn = charge_transaction(client, pay(client, 5000))
    two_day_server.set_now(datetime.datetime.fromtimestamp(txn.available_on + 1, datetime.UTC))
    listed = client.v1.balance_transactions.list(params={"type": "charge"}).data
    assert [(t.id, t.status) for t in listed] == [(txn.id, "available")]
    assert_ledger_whole(two_day_server.database_url)


def test_refund_and_dispute_after_settlement(two_day_server: ShiftedClockServer) -> None:
    two_day_server.set_now(at("2026-11-02T09:00:00"))  # a Monday
    client = two_day_server.client(create_account(two_day_server.database_url).secret_key)
    kept = pay(client, 6000)
    disputed = pay(client, 2000, payment_method="pm_card_createDispute")
    two_day_server.set_now(at("2026-11-04T00:00:10"))
    client.v1.refunds.create(
        params={"payment_intent": kept.id, "amount": 1000}, options=idempotency()
    )
    available, pending = funds_by_currency(client)
    assert pending["usd"] == 0
    assert available["usd"] == (
        6000 - card_fee(6000, "usd") + 2000 - card_fee(2000, "usd") - 1000 - 2000 - 1500
    )
    assert [txn.status for txn in all_transactions(client)] == ["available"] * 4
    assert charge_transaction(client, disputed).status == "available"
    assert_ledger_whole(two_day_server.database_url)
