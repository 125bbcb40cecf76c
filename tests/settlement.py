"""Letting a test account keep a currency unconverted.

Every Kassa account converts charges in other currencies into its own (USD), as a Stripe
account does. A test about balances in several currencies first gives the account a bank
account in each, which makes it a settlement currency (`currency_conversion`)."""

from __future__ import annotations

import uuid
from typing import Any

import stripe


def settle_in(client: stripe.StripeClient, account_id: str, currency: str) -> None:
    params: Any = {
        "external_account": {
            "object": "bank_account",
            "account_number": "000123456789",
            "routing_number": "110000000",
            "country": "US",
            "currency": currency,
        }
    }
    client.v1.accounts.external_accounts.create(
        account_id, params=params, options={"idempotency_key": str(uuid.uuid4())}
    )
