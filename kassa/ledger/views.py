"""Stripe's `balance` and `balance_transaction` objects, derived from the ledger."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from kassa.ledger import accounts
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
        "exchange_rate": wire_rate(row.exchange_rate),
        "fee": row.fee,
        "fee_details": row.fee_details,
        "net": row.net,
        "reporting_category": row.reporting_category,
        "source": row.source,
        "status": row.status,
        "type": row.type,
    }


def wire_rate(rate: str | None) -> float | None:
    """A stored rate (decimal text) as the JSON number Stripe sends. Only for showing: every
    computation uses the stored `Decimal`, and a float never meets an amount."""
    return None if rate is None else float(Decimal(rate))


async def balance_object(tx: Transaction, account_id: str, livemode: bool) -> dict[str, Any]:
    """Stripe's `balance`: one list of funds per bucket the registry shows in the balance
    (`available`, `pending`), each listing every currency the merchant has used."""
    funds: dict[str, dict[str, int]] = {
        bucket.name: defaultdict(int) for bucket in accounts.BALANCE_BUCKETS
    }
    for ledger_account, currency, amount in await tx.owner_balances(account_id):
        account = accounts.LedgerAccount.parse(ledger_account)
        # The owner's books also hold its customers' balances, which are not its funds.
        if account.holder == account_id and account.bucket.name in funds:
            funds[account.bucket.name][currency] += amount
    currencies = {DEFAULT_BALANCE_CURRENCY}.union(*funds.values())
    fields: dict[str, Any] = {
        bucket.balance_field: _funds_list(funds[bucket.name], currencies)
        for bucket in accounts.BALANCE_BUCKETS
        if bucket.balance_field is not None
    }
    fields["livemode"] = livemode
    # Stripe lists a balance's fields in alphabetical order after `object`.
    return {"object": "balance", **dict(sorted(fields.items()))}


async def available_by_currency(tx: Transaction, account_id: str) -> dict[str, int]:
    """The merchant's available balance per currency: what payouts may take."""
    found: dict[str, int] = {}
    for ledger_account, currency, amount in await tx.owner_balances(account_id):
        account = accounts.LedgerAccount.parse(ledger_account)
        if account.holder == account_id and account.bucket.name == accounts.AVAILABLE:
            found[currency] = amount
    return found


def _funds_list(amounts: dict[str, int], currencies: set[str]) -> list[dict[str, Any]]:
    """Every currency seen in any bucket shows in each (zero where it has none), and the
    account's default currency always shows, as Stripe's do."""
    listed = []
    for currency in sorted(currencies):
        amount = amounts.get(currency, 0)
        listed.append({"amount": amount, "currency": currency, "source_types": {"card": amount}})
    return listed
