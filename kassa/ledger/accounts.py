"""Ledger account names: `owner:purpose:currency`.

A merchant (a Kassa account) has `acct_X:pending:usd` and `acct_X:available:usd`; money
arriving from or leaving to the card networks passes through `external:card_network:usd`;
fees Kassa charges land in `platform:fees:usd`.
"""

from __future__ import annotations

PLATFORM = "platform"
EXTERNAL = "external"
PENDING = "pending"
AVAILABLE = "available"


def merchant_account(account_id: str, bucket: str, currency: str) -> str:
    return f"{account_id}:{bucket}:{currency}"


def platform_fees(currency: str) -> str:
    return f"{PLATFORM}:fees:{currency}"


def card_network(currency: str) -> str:
    return f"{EXTERNAL}:card_network:{currency}"


def bucket_of(ledger_account: str) -> str:
    """`pending` or `available` for a merchant account name."""
    return ledger_account.split(":")[1]
