"""Settlement: balance transactions whose `available_on` has come move from the pending
to the available balance: in real time (`settle_due`), or, for those a test clock governs,
at the clock's time as its advance reaches them (`settle_on_clock`)."""

from __future__ import annotations

from collections import defaultdict

from kassa.ledger.postings import record_settlement
from kassa.store import Transaction

SETTLEMENT_BATCH_MAX = 500
"""Transactions settled per call, so one call never holds the writer for long."""


async def settle_due(
    tx: Transaction, now: int, *, account_id: str | None = None, batch: int = SETTLEMENT_BATCH_MAX
) -> dict[str, int]:
    """Settle up to `batch` due transactions (of one account, or all): how many settled, by
    account."""
    due = await tx.due_pending_transactions(now, batch, account_id)
    totals: dict[tuple[str, str], int] = defaultdict(int)
    settled: dict[str, int] = defaultdict(int)
    for txn in due:
        # On PostgreSQL another settler may have taken some already: only what this call
        # changed may be moved.
        if await tx.mark_transaction_available(txn.id):
            totals[(txn.account_id, txn.currency)] += txn.net
            settled[txn.account_id] += 1
    for (owner, currency), amount in sorted(totals.items()):
        if amount != 0:
            await record_settlement(tx, owner, currency, amount, now)
    return dict(settled)


async def settle_on_clock(
    tx: Transaction, account_id: str, clock_id: str, transaction_id: str, at: int
) -> bool:
    """Settle one of a test clock's pending transactions at the clock's time `at` (its
    `available_on`, reached by the clock's advance); False if it was no longer pending."""
    due = await tx.pending_on_clock(account_id, clock_id, transaction_id)
    if due is None or not await tx.mark_transaction_available(due.id):
        return False
    if due.net != 0:
        await record_settlement(tx, due.account_id, due.currency, due.net, at)
    return True
