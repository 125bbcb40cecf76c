"""Stripe's `balance` and `balance_transaction` objects, derived from the ledger."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from kassa.ledger.accounts import AVAILABLE, PENDING, bucket_of
from kassa.store import Transaction
from kassa.store.ledger_queries import LedgerTransactionRow

DEFAULT_BALANCE_CURRENCY = "usd"
"""Stripe shows a zero balance in the account's default currency before any activity."""


def balance_transaction_object(row: LedgerTransactionRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "balance_transaction",
        "amount": row.amount,
        "available_on": row.available_on,
        "balance_type": "payments",
        "created": row.created,
        "currency": row.currency,
        "description": row.description,
        "exchange_rate": None,
        "fee": row.fee,
        "fee_details": row.fee_details,
        "net": row.net,
        "reporting_category": row.reporting_category,
        "source": row.source,
        "status": row.status,
        "type": row.type,
    }


async def balance_object(tx: Transaction, account_id: str, livemode: bool) -> dict[str, Any]:
    buckets: dict[str, dict[str, int]] = {
        AVAILABLE: defaultdict(int),
        PENDING: defaultdict(int),
    }
    for bucket in buckets.values():
        bucket[DEFAULT_BALANCE_CURRENCY] = 0
    for ledger_account, currency, amount in await tx.owner_balances(account_id):
        buckets[bucket_of(ledger_account)][currency] += amount
    for bucket in buckets.values():
        for currency in list(bucket):
            # Every currency seen in either bucket shows in both, as Stripe's does.
            for other in buckets.values():
                other.setdefault(currency, 0)

    def funds(bucket: dict[str, int]) -> list[dict[str, Any]]:
        return [
            {"amount": amount, "currency": currency, "source_types": {"card": amount}}
            for currency, amount in sorted(bucket.items())
        ]

    return {
        "object": "balance",
        "available": funds(buckets[AVAILABLE]),
        "livemode": livemode,
        "pending": funds(buckets[PENDING]),
    }
