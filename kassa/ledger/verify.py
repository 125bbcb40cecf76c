"""Recompute the ledger from its journal and report every disagreement (behind
`kassa ledger verify`; the tests run the same check after each scenario)."""

from __future__ import annotations

from dataclasses import dataclass

from kassa.store import Transaction


async def ledger_problems(tx: Transaction) -> list[str]:
    """Human-readable problems; empty when the ledger is consistent."""
    problems: list[str] = []
    for txn, currency, total in await tx.unbalanced_ledger_transactions():
        problems.append(f"{txn}: {currency} entries sum to {total}, not 0")
    for txn, count in await tx.ledger_transactions_with_too_few_entries():
        problems.append(f"{txn}: has {count} entries; a transaction needs at least 2")
    for account, materialized, recomputed in await tx.ledger_balance_drift():
        problems.append(
            f"{account}: materialized balance {materialized} but its entries sum to {recomputed}"
        )
    for txn, net, moved, fee, fees in await tx.ledger_transactions_disagreeing_with_entries():
        problems.append(
            f"{txn}: net {net} and fee {fee}, but its entries move {moved} to the merchant "
            f"and {fees} to fees"
        )
    for account, balance, total in await tx.merchant_buckets_disagreeing_with_statuses():
        problems.append(
            f"{account}: balance {balance} but its balance transactions' nets sum to {total}"
        )
    return problems


@dataclass(frozen=True)
class LedgerReport:
    transactions: int
    entries: int
    accounts: int
    problems: list[str]


async def verify_ledger(tx: Transaction) -> LedgerReport:
    transactions, entries, accounts = await tx.ledger_counts()
    return LedgerReport(transactions, entries, accounts, await ledger_problems(tx))
