"""The ledger under random sequences of payments, captures, cancellations, refunds and
rejected operations, against the live server on SQLite and PostgreSQL.

Hypothesis drives the official SDK; the test keeps its own model of every payment and of each
balance bucket, with fees computed here from Stripe's published pricing (never read back from
Kassa). After every step: Kassa's own ledger verification (`kassa.ledger.verify`, in this
process, on the same database) finds nothing, the API balance equals the model and the sum of
the balance transactions' nets, every balance transaction is the one the model expects, and
every charge and PaymentIntent shows the amounts the model says. At the end the real
`kassa ledger verify` command runs once.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import ClassVar

import pytest
import stripe
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from stripe.params import PaymentIntentCaptureParams, PaymentIntentCreateParams, RefundCreateParams

from kassa.ledger.verify import Finding, ledger_problems
from kassa.store import Store, open_store
from tests.harness import KassaServer, create_account, verify_ledger
from tests.settlement import settle_in

pytestmark = pytest.mark.usefixtures("ledger_verified")

MAX_EXAMPLES = 20
STEPS_PER_EXAMPLE = 20
AMOUNT_MIN = 50
"""Stripe's minimum charge in both currencies used here ($0.50, ¥50)."""
AMOUNT_MAX = 200_000
OVER_REFUND_MAX = 10_000
LIST_PAGE = 100

CARD_PERCENT = Decimal("0.029")
FIXED_FEE = {"usd": 30, "jpy": 0}
"""Stripe's US card pricing (2.9% + 30¢) and Japan's (2.9%, no fixed fee)."""
DISPUTE_FEE = {"usd": 1500, "jpy": 1500}
"""$15.00 and ¥1,500 per chargeback."""

VISA = "pm_card_visa"
MASTERCARD = "pm_card_mastercard"
DECLINED = "pm_card_chargeDeclined"
DISPUTED = "pm_card_createDispute"
BYPASS_PENDING = "pm_card_bypassPending"
CARDS = (VISA, MASTERCARD, DECLINED, DISPUTED, BYPASS_PENDING)
CURRENCIES = ("usd", "usd", "jpy")
"""Mostly dollars, sometimes yen."""

PENDING = "pending"
AVAILABLE = "available"

INVALID_OPERATIONS = (
    "capture_not_capturable",
    "capture_more_than_capturable",
    "cancel_finished",
    "refund_in_other_currency",
)


def card_fee(amount: int, currency: str) -> int:
    variable = (Decimal(amount) * CARD_PERCENT).quantize(Decimal(1), ROUND_HALF_UP)
    return int(variable) + FIXED_FEE[currency]


@dataclass
class Payment:
    """What one PaymentIntent and its charge should show."""

    intent_id: str
    charge_id: str
    card: str
    amount: int
    currency: str
    status: str
    captured: int = 0
    refunded: int = 0
    authorization_released: bool = False
    disputed: bool = False

    @property
    def refundable(self) -> int:
        return self.captured - self.refunded

    @property
    def accepts_refunds(self) -> bool:
        return self.status == "succeeded" and not self.disputed and self.refundable > 0


@dataclass(frozen=True)
class ExpectedTransaction:
    """A balance transaction as the API should show it."""

    type: str
    source: str
    currency: str
    amount: int
    fee: int
    net: int
    status: str


def _expect_invalid_request(call: Callable[[], object]) -> stripe.InvalidRequestError:
    try:
        call()
    except stripe.InvalidRequestError as error:
        assert error.http_status == 400, error
        return error
    raise AssertionError("expected a 400 invalid_request_error")


class LedgerMachine(RuleBasedStateMachine):
    """One example: a fresh account, a model starting from zero, random operations."""

    server: ClassVar[KassaServer]
    """Set by `machine_on`: Hypothesis makes one machine per example from the class."""

    def __init__(self) -> None:
        super().__init__()
        server = self.server
        account = create_account(server.database_url)
        self.account_id = account.id
        self.client = server.client(account.secret_key)
        settle_in(self.client, account.id, "jpy")  # the model keeps each currency apart
        self.payments: list[Payment] = []
        self.balance: dict[tuple[str, str], int] = defaultdict(int)
        self.transactions: list[ExpectedTransaction] = []
        self.loop = asyncio.new_event_loop()
        self.store: Store = self.loop.run_until_complete(open_store(server.database_url))

    def teardown(self) -> None:
        self.loop.run_until_complete(self.store.close())
        self.loop.close()

    # --- the model's money movements ----------------------------------------------------

    def _capture(self, payment: Payment, amount: int) -> None:
        """Capture posts one balance transaction for what was captured; a partial capture
        releases the rest without a refund (Stripe API 2025-03-31 and later)."""
        fee = card_fee(amount, payment.currency)
        bucket = AVAILABLE if payment.card == BYPASS_PENDING else PENDING
        self.balance[bucket, payment.currency] += amount - fee
        self.transactions.append(
            ExpectedTransaction(
                "charge", payment.charge_id, payment.currency, amount, fee, amount - fee, bucket
            )
        )
        payment.captured = amount
        payment.status = "succeeded"
        if payment.card == DISPUTED:
            self._charge_back(payment)

    def _charge_back(self, payment: Payment) -> None:
        """The dispute test card is disputed right after capture: amount and fee withdrawn."""
        disputes = self.client.v1.disputes.list(params={"charge": payment.charge_id}).data
        assert len(disputes) == 1
        fee = DISPUTE_FEE[payment.currency]
        withdrawn = payment.captured + fee
        self.balance[AVAILABLE, payment.currency] -= withdrawn
        self.transactions.append(
            ExpectedTransaction(
                "adjustment",
                disputes[0].id,
                payment.currency,
                -payment.captured,
                fee,
                -withdrawn,
                AVAILABLE,
            )
        )
        payment.disputed = True

    # --- rules ----------------------------------------------------------------------------

    def _pay(self, amount: int, currency: str, card: str, *, manual: bool) -> None:
        params: PaymentIntentCreateParams = {
            "amount": amount,
            "currency": currency,
            "payment_method": card,
            "confirm": True,
            "allowed_payment_method_types": ["card"],
            "capture_method": "manual" if manual else "automatic",
        }
        try:
            intent = self.client.v1.payment_intents.create(params=params)
        except stripe.CardError as error:
            assert card == DECLINED, error
            assert error.http_status == 402 and error.code == "card_declined"
            assert isinstance(error.json_body, dict)
            declined = error.json_body["error"]
            self.payments.append(
                Payment(
                    declined["payment_intent"]["id"],
                    declined["charge"],
                    card,
                    amount,
                    currency,
                    "requires_payment_method",
                )
            )
            return
        assert card != DECLINED, "a declined card's payment was accepted"
        assert isinstance(intent.latest_charge, str)
        payment = Payment(intent.id, intent.latest_charge, card, amount, currency, intent.status)
        self.payments.append(payment)
        if manual:
            assert intent.status == "requires_capture"
        else:
            self._capture(payment, amount)

    @rule(
        amount=st.integers(AMOUNT_MIN, AMOUNT_MAX),
        currency=st.sampled_from(CURRENCIES),
        card=st.sampled_from(CARDS),
    )
    def pay(self, amount: int, currency: str, card: str) -> None:
        self._pay(amount, currency, card, manual=False)

    @rule(
        amount=st.integers(AMOUNT_MIN, AMOUNT_MAX),
        currency=st.sampled_from(CURRENCIES),
        card=st.sampled_from(CARDS),
    )
    def authorize(self, amount: int, currency: str, card: str) -> None:
        self._pay(amount, currency, card, manual=True)

    def _with_status(self, *statuses: str) -> list[Payment]:
        return [p for p in self.payments if p.status in statuses]

    @precondition(lambda self: self._with_status("requires_capture"))
    @rule(data=st.data())
    def capture(self, data: st.DataObject) -> None:
        payment = data.draw(st.sampled_from(self._with_status("requires_capture")))
        amount = data.draw(st.one_of(st.none(), st.integers(AMOUNT_MIN, payment.amount)))
        params: PaymentIntentCaptureParams = {}
        if amount is not None:
            params["amount_to_capture"] = amount
        intent = self.client.v1.payment_intents.capture(payment.intent_id, params=params)
        assert intent.status == "succeeded"
        self._capture(payment, payment.amount if amount is None else amount)

    @precondition(lambda self: self._with_status("requires_capture", "requires_payment_method"))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        candidates = self._with_status("requires_capture", "requires_payment_method")
        payment = data.draw(st.sampled_from(candidates))
        intent = self.client.v1.payment_intents.cancel(payment.intent_id)
        assert intent.status == "canceled"
        payment.authorization_released = payment.status == "requires_capture"
        payment.status = "canceled"

    def _refund(self, payment: Payment, data: st.DataObject) -> None:
        """Refund `payment` by charge or by PaymentIntent: everything left, part of it, or
        more than is left (refused, nothing moves). Payments that take no refund are refused
        whatever the amount."""
        left = max(payment.refundable, 0)
        amount = data.draw(
            st.one_of(
                st.none(),
                st.integers(1, max(left, 1)),
                st.integers(left + 1, left + OVER_REFUND_MAX),
            )
        )
        by_intent = data.draw(st.booleans())
        params: RefundCreateParams = (
            {"payment_intent": payment.intent_id} if by_intent else {"charge": payment.charge_id}
        )
        if amount is not None:
            params["amount"] = amount
        refunded = left if amount is None else amount
        if not payment.accepts_refunds or refunded > left:
            _expect_invalid_request(lambda: self.client.v1.refunds.create(params=params))
            return
        refund = self.client.v1.refunds.create(params=params)
        assert (refund.amount, refund.charge, refund.status) == (
            refunded,
            payment.charge_id,
            "succeeded",
        )
        payment.refunded += refunded
        self.balance[AVAILABLE, payment.currency] -= refunded
        self.transactions.append(
            ExpectedTransaction(
                "refund", refund.id, payment.currency, -refunded, 0, -refunded, AVAILABLE
            )
        )

    @precondition(lambda self: any(p.accepts_refunds for p in self.payments))
    @rule(data=st.data())
    def refund(self, data: st.DataObject) -> None:
        candidates = [p for p in self.payments if p.accepts_refunds]
        self._refund(data.draw(st.sampled_from(candidates)), data)

    @precondition(lambda self: self.payments)
    @rule(data=st.data())
    def refund_any_payment(self, data: st.DataObject) -> None:
        """Declined, uncaptured, canceled, disputed and fully refunded payments included."""
        self._refund(data.draw(st.sampled_from(self.payments)), data)

    @precondition(lambda self: self.payments)
    @rule(data=st.data(), kind=st.sampled_from(INVALID_OPERATIONS))
    def attempt_invalid_operation(self, data: st.DataObject, kind: str) -> None:
        """Each is refused with a 400; the invariants then show that nothing moved."""
        intents = self.client.v1.payment_intents
        if kind == "capture_not_capturable":
            candidates = [p for p in self.payments if p.status != "requires_capture"]
        elif kind == "capture_more_than_capturable":
            candidates = self._with_status("requires_capture")
        elif kind == "cancel_finished":
            candidates = self._with_status("succeeded", "canceled")
        else:
            candidates = [p for p in self.payments if p.accepts_refunds]
        if not candidates:
            return
        payment = data.draw(st.sampled_from(candidates))
        if kind == "capture_not_capturable":
            error = _expect_invalid_request(lambda: intents.capture(payment.intent_id))
            assert error.code == "payment_intent_unexpected_state"
        elif kind == "capture_more_than_capturable":
            over = data.draw(st.integers(payment.amount + 1, payment.amount + OVER_REFUND_MAX))
            error = _expect_invalid_request(
                lambda: intents.capture(payment.intent_id, params={"amount_to_capture": over})
            )
            assert error.param == "amount_to_capture"
        elif kind == "cancel_finished":
            error = _expect_invalid_request(lambda: intents.cancel(payment.intent_id))
            assert error.code == "payment_intent_unexpected_state"
        else:
            other = "jpy" if payment.currency == "usd" else "usd"
            error = _expect_invalid_request(
                lambda: self.client.v1.refunds.create(
                    params={"charge": payment.charge_id, "amount": 1, "currency": other}
                )
            )
            assert error.param == "currency"

    # --- invariants, after every step ----------------------------------------------------

    @invariant()
    def ledger_verifies(self) -> None:
        async def read() -> tuple[list[Finding], list[tuple[str, str, int]]]:
            async with self.store.read() as tx:
                return await ledger_problems(tx), await tx.owner_balances(self.account_id)

        problems, balances = self.loop.run_until_complete(read())
        assert problems == []
        # The store opened here is the server's: it holds this account's money as modelled.
        stored = {name: amount for name, _, amount in balances if amount != 0}
        modelled = {
            f"{self.account_id}:{bucket}:{currency}": amount
            for (bucket, currency), amount in self.balance.items()
            if amount != 0
        }
        assert stored == modelled

    @invariant()
    def balance_matches_model_and_transactions(self) -> None:
        balance = self.client.v1.balance.retrieve()
        shown: dict[tuple[str, str], int] = defaultdict(int)
        for bucket, funds in ((AVAILABLE, balance.available), (PENDING, balance.pending)):
            for fund in funds:
                shown[bucket, fund.currency] += fund.amount
        currencies = {currency for _, currency in shown} | {c for _, c in self.balance}
        for currency in currencies:
            for bucket in (AVAILABLE, PENDING):
                assert shown[bucket, currency] == self.balance[bucket, currency], (
                    bucket,
                    currency,
                )

        transactions = list(
            self.client.v1.balance_transactions.list(params={"limit": LIST_PAGE}).auto_paging_iter()
        )
        nets: dict[str, int] = defaultdict(int)
        for transaction in transactions:
            nets[transaction.currency] += transaction.net
        for currency in currencies | set(nets):
            total = shown[AVAILABLE, currency] + shown[PENDING, currency]
            assert total == nets[currency], currency
        actual = Counter(
            ExpectedTransaction(t.type, t.source, t.currency, t.amount, t.fee, t.net, t.status)
            for t in transactions
            if isinstance(t.source, str)
        )
        assert len(transactions) == sum(actual.values()), "a balance transaction has no source"
        assert actual == Counter(self.transactions)

    @invariant()
    def charges_and_intents_match_model(self) -> None:
        charges = {
            c.id: c
            for c in self.client.v1.charges.list(params={"limit": LIST_PAGE}).auto_paging_iter()
        }
        intents = {
            i.id: i
            for i in self.client.v1.payment_intents.list(
                params={"limit": LIST_PAGE}
            ).auto_paging_iter()
        }
        assert set(charges) == {p.charge_id for p in self.payments}
        assert set(intents) == {p.intent_id for p in self.payments}
        for payment in self.payments:
            self._check_charge(payment, charges[payment.charge_id])
            intent = intents[payment.intent_id]
            assert intent.status == payment.status, payment
            assert intent.amount_received == payment.captured, payment
            capturable = payment.amount if payment.status == "requires_capture" else 0
            assert intent.amount_capturable == capturable, payment

    @staticmethod
    def _check_charge(payment: Payment, charge: stripe.Charge) -> None:
        assert (charge.amount, charge.currency) == (payment.amount, payment.currency)
        assert charge.amount_refunded <= charge.amount_captured <= charge.amount
        if payment.card == DECLINED:
            assert (charge.status, charge.paid, charge.captured) == ("failed", False, False)
            assert (charge.amount_captured, charge.amount_refunded) == (0, 0)
            return
        assert charge.status == "succeeded"
        if payment.authorization_released:
            # Since API version 2025-03-31 a released authorization is not a refund.
            assert (charge.captured, charge.amount_captured) == (False, 0)
            assert (charge.refunded, charge.amount_refunded) == (False, 0)
            return
        assert charge.captured == (payment.captured > 0)
        assert charge.amount_captured == payment.captured
        assert charge.amount_refunded == payment.refunded
        assert charge.refunded == (payment.captured > 0 and payment.refundable == 0)
        assert charge.disputed == payment.disputed


SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    stateful_step_count=STEPS_PER_EXAMPLE,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)


def machine_on(kassa: KassaServer) -> type[LedgerMachine]:
    class LedgerMachineOnServer(LedgerMachine):
        server = kassa

    return LedgerMachineOnServer


def test_ledger_holds_under_random_operations(server: KassaServer) -> None:
    run_state_machine_as_test(machine_on(server), settings=SETTINGS)
    verify_ledger(server.database_url)
