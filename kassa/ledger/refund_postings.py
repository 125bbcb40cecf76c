"""The posting of a refund that failed after it was made: the only code that moves its money
back. A section of `kassa.ledger.postings` kept apart, as `payout_postings` is.

The card network returns what the refund sent it, and the merchant's available balance gets
back exactly what the refund took (a `refund_failure` balance transaction, net plus the
refund's amount): the failure reverses the refund's balance transaction, as Stripe's
`failure_balance_transaction` does. A converted refund is reversed at its own rate, so the
presented amount and the settlement amount both come back unchanged.
"""

from __future__ import annotations

from kassa.invariants import ensure
from kassa.ledger import accounts
from kassa.ledger.accounts import AVAILABLE
from kassa.ledger.postings import Leg, Movement, Presentment, _post, _to_network
from kassa.store import Transaction
from kassa.store.ledger_queries import LedgerTransactionRow

REFUND_FAILURE_TYPE = "refund_failure"
REFUND_FAILURE_REPORTING_CATEGORY = "refund_failure"


async def record_refund_failure(
    tx: Transaction, movement: Movement, *, amount: int, presented: Presentment | None = None
) -> LedgerTransactionRow:
    """`amount` (what the refund took from the merchant, in the movement's currency) back
    into the available balance, from the card network (with `presented`: the card's
    currency and amount, exchanged back through the FX accounts)."""
    ensure(amount > 0, "a refund failure moves a positive amount")
    ensure(movement.type == REFUND_FAILURE_TYPE, "a refund failure is a refund_failure")
    currency = movement.currency
    from_network = [
        Leg(leg.account, -leg.amount) for leg in _to_network(amount, currency, presented)
    ]
    return await _post(
        tx,
        movement,
        [Leg(accounts.merchant(movement.account_id, AVAILABLE, currency), amount), *from_network],
        visible=True,
    )
