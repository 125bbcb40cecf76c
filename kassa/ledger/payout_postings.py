"""The postings of a payout: the only code that moves paid-out money.

A payout takes its amount out of the merchant's available balance into `in_transit` when it
is created (a `payout` balance transaction, net minus the amount), then either hands it to
the bank (`external:bank`, an internal transaction: the balance does not change again) or
gives it back (`payout_cancel` or `payout_failure`, net plus the amount). Every transaction
has the payout as its source, so `kassa ledger verify` can check the payout against them.
"""

from __future__ import annotations

from kassa.invariants import ensure
from kassa.ledger import accounts
from kassa.ledger.accounts import AVAILABLE, IN_TRANSIT
from kassa.ledger.postings import Leg, Movement, _post
from kassa.store import Transaction
from kassa.store.ledger_queries import LedgerTransactionRow

PAYOUT_TYPE = "payout"
PAYOUT_CANCEL_TYPE = "payout_cancel"
PAYOUT_FAILURE_TYPE = "payout_failure"
RETURN_TYPES = (PAYOUT_CANCEL_TYPE, PAYOUT_FAILURE_TYPE)
PAYOUT_PAID_TYPE = "payout_paid"
"""Internal: the bank took the money in transit. Not a balance transaction."""
PAYOUT_REPORTING_CATEGORY = "payout"
PAYOUT_REVERSAL_REPORTING_CATEGORY = "payout_reversal"


def _movement(
    account_id: str, payout_id: str, currency: str, created: int, kind: str, description: str | None
) -> Movement:
    category = (
        PAYOUT_REPORTING_CATEGORY if kind == PAYOUT_TYPE else PAYOUT_REVERSAL_REPORTING_CATEGORY
    )
    return Movement(
        account_id=account_id,
        created=created,
        type=kind,
        reporting_category=category,
        source=payout_id,
        currency=currency,
        description=description,
    )


async def record_payout(
    tx: Transaction,
    account_id: str,
    payout_id: str,
    *,
    amount: int,
    currency: str,
    created: int,
    description: str | None,
) -> LedgerTransactionRow:
    """The payout leaves the available balance for `in_transit`."""
    ensure(amount > 0, "a payout moves a positive amount")
    movement = _movement(account_id, payout_id, currency, created, PAYOUT_TYPE, description)
    return await _post(
        tx,
        movement,
        [
            Leg(accounts.merchant(account_id, AVAILABLE, currency), -amount),
            Leg(accounts.merchant(account_id, IN_TRANSIT, currency), amount),
        ],
        visible=True,
    )


async def record_payout_paid(
    tx: Transaction, account_id: str, payout_id: str, *, amount: int, currency: str, at: int
) -> LedgerTransactionRow:
    """The bank received it: out of `in_transit` to the world outside."""
    ensure(amount > 0, "a payout moves a positive amount")
    movement = _movement(account_id, payout_id, currency, at, PAYOUT_PAID_TYPE, None)
    return await _post(
        tx,
        movement,
        [
            Leg(accounts.merchant(account_id, IN_TRANSIT, currency), -amount),
            Leg(accounts.bank(currency), amount),
        ],
        visible=False,
    )


async def record_payout_return(
    tx: Transaction,
    account_id: str,
    payout_id: str,
    *,
    amount: int,
    currency: str,
    at: int,
    kind: str,
    description: str | None,
) -> LedgerTransactionRow:
    """A canceled or failed payout: its money comes back from `in_transit` to available."""
    ensure(amount > 0, "a payout moves a positive amount")
    ensure(kind in RETURN_TYPES, f"a payout's money comes back as one of {RETURN_TYPES}")
    movement = _movement(account_id, payout_id, currency, at, kind, description)
    return await _post(
        tx,
        movement,
        [
            Leg(accounts.merchant(account_id, IN_TRANSIT, currency), -amount),
            Leg(accounts.merchant(account_id, AVAILABLE, currency), amount),
        ],
        visible=True,
    )
