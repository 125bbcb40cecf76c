"""Every movement of money is one balanced ledger transaction written here.

A visible transaction is a Stripe balance transaction. Its `net` is what its entries move
into the merchant's balances and its `fee` what they move into the platform's fee account;
both are derived from the entries rather than passed in, so the two cannot disagree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kassa.ids import new_id
from kassa.invariants import ensure
from kassa.ledger import accounts
from kassa.ledger.accounts import (
    AVAILABLE,
    CREDIT_APPLIED,
    CREDIT_GRANTED,
    PENDING,
    LedgerAccount,
)
from kassa.store import Transaction
from kassa.store.ledger_queries import LedgerEntry, LedgerTransactionRow

BALANCE_TRANSACTION_PREFIX = "txn"
SETTLEMENT_TYPE = "settlement"
"""Internal transactions moving funds from pending to available: not balance transactions."""


@dataclass(frozen=True)
class Movement:
    """What a posting describes, apart from its entries."""

    account_id: str
    created: int
    type: str
    reporting_category: str
    source: str | None
    currency: str
    """The balance transaction's currency: the one its `net` and `fee` are counted in."""
    description: str | None = None
    available_on: int | None = None
    """None: available at `created`."""
    fee_description: str = "Kassa processing fees"
    test_clock: str | None = None
    """The test clock governing what was posted: its pending funds settle at the clock's
    time (None: in real time)."""
    exchange_rate: Decimal | None = None
    """A conversion's rate from the presented currency to `currency` (Stripe's
    `exchange_rate`); None when nothing was converted."""


@dataclass(frozen=True)
class Leg:
    """One entry of a posting, before it is stored: a signed amount into a ledger account."""

    account: LedgerAccount
    amount: int


@dataclass(frozen=True)
class Presentment:
    """What a card was charged in, when it differs from the currency the merchant is paid
    in: the network moves this, and the posting converts it through the FX accounts."""

    amount: int
    currency: str


def _balanced_per_currency(legs: Sequence[Leg]) -> bool:
    """Each currency's entries sum to zero: a conversion moves two currencies in one
    transaction, each balanced on its own."""
    totals: dict[str, int] = defaultdict(int)
    for leg in legs:
        totals[leg.account.currency] += leg.amount
    return all(total == 0 for total in totals.values())


def _moves_into_balance(leg: Leg, movement: Movement) -> bool:
    account = leg.account
    return account.holder == movement.account_id and account.bucket in accounts.BALANCE_BUCKETS


async def _post(
    tx: Transaction, movement: Movement, legs: Sequence[Leg], *, visible: bool
) -> LedgerTransactionRow:
    kept = [leg for leg in legs if leg.amount != 0]
    ensure(len(kept) >= 2, "a ledger transaction has at least two entries")
    ensure(_balanced_per_currency(kept), "a ledger transaction's entries sum to zero per currency")
    into_balance = [leg for leg in kept if _moves_into_balance(leg, movement)]
    # `net` counts one currency: a posting that changed the merchant's balance in another
    # would leave that change out of every balance transaction.
    ensure(
        all(leg.account.currency == movement.currency for leg in into_balance),
        "a ledger transaction changes the merchant's balance only in its own currency",
    )
    fees = accounts.platform_fees(movement.currency)
    net = sum(leg.amount for leg in into_balance)
    fee = sum(leg.amount for leg in kept if leg.account == fees)
    pending = accounts.merchant(movement.account_id, PENDING, movement.currency)
    to_pending = any(leg.account == pending and leg.amount > 0 for leg in kept)
    row = LedgerTransactionRow(
        id=new_id(BALANCE_TRANSACTION_PREFIX),
        account_id=movement.account_id,
        created=movement.created,
        type=movement.type,
        visible=visible,
        source=movement.source,
        currency=movement.currency,
        amount=net + fee,
        fee=fee,
        net=net,
        fee_details=_fee_details(fee, movement),
        available_on=movement.created if movement.available_on is None else movement.available_on,
        status=PENDING if to_pending and visible else AVAILABLE,
        reporting_category=movement.reporting_category,
        description=movement.description,
        test_clock=movement.test_clock,
        exchange_rate=None if movement.exchange_rate is None else str(movement.exchange_rate),
    )
    await tx.insert_ledger_transaction(row, [_entry(leg, movement) for leg in kept])
    return row


def _entry(leg: Leg, movement: Movement) -> LedgerEntry:
    account = leg.account
    return LedgerEntry(
        ledger_account=account.name,
        owner=account.books(movement.account_id),
        bucket=account.bucket.name,
        currency=account.currency,
        amount=leg.amount,
    )


def _fee_details(fee: int, movement: Movement) -> list[dict[str, Any]]:
    if fee == 0:
        return []
    return [
        {
            "amount": fee,
            "application": None,
            "currency": movement.currency,
            "description": movement.fee_description,
            "type": "stripe_fee",
        }
    ]


async def record_charge(
    tx: Transaction,
    movement: Movement,
    *,
    amount: int,
    fee: int,
    immediately_available: bool,
    presented: Presentment | None = None,
) -> LedgerTransactionRow:
    """Captured card funds: in from the network, the fee to the platform, the rest to the
    merchant's pending balance (or available, for cards that skip settlement).

    With `presented`, the card was charged in another currency: the network's funds arrive
    in that currency and are converted through the FX accounts into `amount` in the
    movement's, each currency balanced on its own."""
    ensure(0 <= fee <= amount, "a charge's fee is between zero and its amount")
    currency = movement.currency
    bucket = AVAILABLE if immediately_available else PENDING
    into_merchant = [
        Leg(accounts.platform_fees(currency), fee),
        Leg(accounts.merchant(movement.account_id, bucket, currency), amount - fee),
    ]
    if presented is None or presented.currency == currency:
        arriving = [Leg(accounts.card_network(currency), -amount)]
    else:
        ensure(presented.amount > 0, "a presented charge moves a positive amount")
        arriving = _conversion(presented, Presentment(amount, currency))
    return await _post(tx, movement, [*arriving, *into_merchant], visible=True)


def _conversion(presented: Presentment, settled: Presentment) -> list[Leg]:
    """Funds in from the card network in the presented currency, exchanged through the FX
    accounts: the platform takes the presented currency and gives the settled one."""
    return [
        Leg(accounts.card_network(presented.currency), -presented.amount),
        Leg(accounts.currency_conversion(presented.currency), presented.amount),
        Leg(accounts.currency_conversion(settled.currency), -settled.amount),
    ]


def _to_network(amount: int, currency: str, presented: Presentment | None) -> list[Leg]:
    """Funds out to the card network: `amount` as they stand, or, converted back, the
    presented amount (what the cardholder paid, exactly) bought through the FX accounts
    with `amount` of the merchant's currency."""
    if presented is None or presented.currency == currency:
        return [Leg(accounts.card_network(currency), amount)]
    ensure(presented.amount > 0, "a conversion back moves a positive amount")
    return [
        Leg(accounts.currency_conversion(currency), amount),
        Leg(accounts.currency_conversion(presented.currency), -presented.amount),
        Leg(accounts.card_network(presented.currency), presented.amount),
    ]


async def record_refund(
    tx: Transaction, movement: Movement, *, amount: int, presented: Presentment | None = None
) -> LedgerTransactionRow:
    """Money back to the card, from the merchant's available balance (which may go
    negative, as Stripe's does). Processing fees are not returned.

    With `presented`, the charge was converted: the card gets the presented amount back in
    its currency, and `amount` (the merchant's side, converted at the refund's rate) leaves
    the merchant's balance."""
    ensure(amount > 0, "a refund moves a positive amount")
    currency = movement.currency
    return await _post(
        tx,
        movement,
        [
            Leg(accounts.merchant(movement.account_id, AVAILABLE, currency), -amount),
            *_to_network(amount, currency, presented),
        ],
        visible=True,
    )


async def record_dispute_withdrawal(
    tx: Transaction,
    movement: Movement,
    *,
    amount: int,
    fee: int,
    presented: Presentment | None = None,
) -> LedgerTransactionRow:
    """A dispute opened: the disputed amount goes back to the network and the dispute fee
    to the platform, both out of the merchant's available balance. With `presented`, the
    charge was converted: the network takes back the presented amount, bought with
    `amount` of the merchant's currency."""
    ensure(amount > 0 and fee >= 0, "a dispute withdraws a positive amount and a fee")
    currency = movement.currency
    return await _post(
        tx,
        movement,
        [
            Leg(accounts.merchant(movement.account_id, AVAILABLE, currency), -(amount + fee)),
            *_to_network(amount, currency, presented),
            Leg(accounts.platform_fees(currency), fee),
        ],
        visible=True,
    )


async def record_dispute_reinstatement(
    tx: Transaction,
    movement: Movement,
    *,
    amount: int,
    fee: int,
    presented: Presentment | None = None,
) -> LedgerTransactionRow:
    """A dispute won: the withdrawal undone, the disputed amount back from the network and
    the dispute fee back from the platform, into the merchant's available balance (with
    `presented`, the same conversion as the withdrawal's, the other way)."""
    ensure(amount > 0 and fee >= 0, "a dispute reinstates a positive amount and a fee")
    currency = movement.currency
    from_network = [
        Leg(leg.account, -leg.amount) for leg in _to_network(amount, currency, presented)
    ]
    return await _post(
        tx,
        movement,
        [
            Leg(accounts.merchant(movement.account_id, AVAILABLE, currency), amount + fee),
            *from_network,
            Leg(accounts.platform_fees(currency), -fee),
        ],
        visible=True,
    )


async def record_settlement(
    tx: Transaction, account_id: str, currency: str, amount: int, created: int
) -> LedgerTransactionRow:
    """Pending funds whose day has come move to the available balance."""
    movement = Movement(
        account_id=account_id,
        created=created,
        type=SETTLEMENT_TYPE,
        reporting_category=SETTLEMENT_TYPE,
        source=None,
        currency=currency,
    )
    return await _post(
        tx,
        movement,
        [
            Leg(accounts.merchant(account_id, PENDING, currency), -amount),
            Leg(accounts.merchant(account_id, AVAILABLE, currency), amount),
        ],
        visible=False,
    )


CUSTOMER_CREDIT_COUNTERPARTS = (CREDIT_GRANTED, CREDIT_APPLIED)
"""The merchant buckets a customer's credit balance moves against: `credit_granted` for
credit granted or debits added by hand, `credit_applied` for balance carried onto invoices
and back. Neither is part of the merchant's Stripe balance: no cash moves."""


async def record_customer_credit(
    tx: Transaction, movement: Movement, *, customer_id: str, credit: int, counterpart: str
) -> LedgerTransactionRow:
    """A customer's credit balance grows by `credit` (negative: shrinks, or the customer
    comes to owe) against the merchant's `counterpart` bucket. Not a balance transaction:
    nothing moves into or out of the merchant's balance.

    `credit` is the opposite of the Stripe customer balance transaction's `amount` (Stripe
    counts credit negative): the ledger counts what a holder holds, and a customer with
    credit holds a claim on the merchant."""
    ensure(credit != 0, "a customer credit posting moves a nonzero amount")
    ensure(
        counterpart in CUSTOMER_CREDIT_COUNTERPARTS,
        f"customer credit moves against {CUSTOMER_CREDIT_COUNTERPARTS}, not {counterpart}",
    )
    currency = movement.currency
    return await _post(
        tx,
        movement,
        [
            Leg(accounts.customer_balance(customer_id, currency), credit),
            Leg(accounts.merchant(movement.account_id, counterpart, currency), -credit),
        ],
        visible=False,
    )
