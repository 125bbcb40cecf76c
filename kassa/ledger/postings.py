"""Every movement of money is one balanced ledger transaction written here.

A visible transaction is a Stripe balance transaction. Its `net` is what its entries move
into the merchant's balances and its `fee` what they move into the platform's fee account;
both are derived from the entries rather than passed in, so the two cannot disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kassa.ids import new_id
from kassa.invariants import ensure
from kassa.ledger.accounts import (
    AVAILABLE,
    EXTERNAL,
    PENDING,
    PLATFORM,
    card_network,
    merchant_account,
    platform_fees,
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
    description: str | None = None
    available_on: int | None = None
    """None: available at `created`."""
    fee_description: str = "Kassa processing fees"


def _entry(ledger_account: str, owner: str, currency: str, amount: int) -> LedgerEntry:
    return LedgerEntry(ledger_account=ledger_account, owner=owner, currency=currency, amount=amount)


async def _post(
    tx: Transaction, movement: Movement, entries: Sequence[LedgerEntry], *, visible: bool
) -> LedgerTransactionRow:
    kept = [entry for entry in entries if entry.amount != 0]
    ensure(len(kept) >= 2, "a ledger transaction has at least two entries")
    ensure(sum(e.amount for e in kept) == 0, "a ledger transaction's entries sum to zero")
    ensure(
        all(e.currency == movement.currency for e in kept),
        "a ledger transaction moves one currency",
    )
    mine = {
        merchant_account(movement.account_id, bucket, movement.currency)
        for bucket in (PENDING, AVAILABLE)
    }
    net = sum(e.amount for e in kept if e.ledger_account in mine)
    fee = sum(e.amount for e in kept if e.ledger_account == platform_fees(movement.currency))
    to_pending = any(
        e.ledger_account == merchant_account(movement.account_id, PENDING, movement.currency)
        and e.amount > 0
        for e in kept
    )
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
    )
    await tx.insert_ledger_transaction(row, kept)
    return row


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
    tx: Transaction, movement: Movement, *, amount: int, fee: int, immediately_available: bool
) -> LedgerTransactionRow:
    """Captured card funds: in from the network, the fee to the platform, the rest to the
    merchant's pending balance (or available, for cards that skip settlement)."""
    ensure(0 <= fee <= amount, "a charge's fee is between zero and its amount")
    bucket = AVAILABLE if immediately_available else PENDING
    currency = movement.currency
    return await _post(
        tx,
        movement,
        [
            _entry(card_network(currency), EXTERNAL, currency, -amount),
            _entry(platform_fees(currency), PLATFORM, currency, fee),
            _entry(
                merchant_account(movement.account_id, bucket, currency),
                movement.account_id,
                currency,
                amount - fee,
            ),
        ],
        visible=True,
    )


async def record_refund(
    tx: Transaction, movement: Movement, *, amount: int
) -> LedgerTransactionRow:
    """Money back to the card, from the merchant's available balance (which may go
    negative, as Stripe's does). Processing fees are not returned."""
    ensure(amount > 0, "a refund moves a positive amount")
    currency = movement.currency
    return await _post(
        tx,
        movement,
        [
            _entry(
                merchant_account(movement.account_id, AVAILABLE, currency),
                movement.account_id,
                currency,
                -amount,
            ),
            _entry(card_network(currency), EXTERNAL, currency, amount),
        ],
        visible=True,
    )


async def record_dispute_withdrawal(
    tx: Transaction, movement: Movement, *, amount: int, fee: int
) -> LedgerTransactionRow:
    """A dispute opened: the disputed amount goes back to the network and the dispute fee
    to the platform, both out of the merchant's available balance."""
    ensure(amount > 0 and fee >= 0, "a dispute withdraws a positive amount and a fee")
    currency = movement.currency
    return await _post(
        tx,
        movement,
        [
            _entry(
                merchant_account(movement.account_id, AVAILABLE, currency),
                movement.account_id,
                currency,
                -(amount + fee),
            ),
            _entry(card_network(currency), EXTERNAL, currency, amount),
            _entry(platform_fees(currency), PLATFORM, currency, fee),
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
            _entry(merchant_account(account_id, PENDING, currency), account_id, currency, -amount),
            _entry(merchant_account(account_id, AVAILABLE, currency), account_id, currency, amount),
        ],
        visible=False,
    )
