"""What every service call gets: whose request it is, the unit of work, the clock, and the
installation's payment settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kassa.clock import Clock, unix_seconds
from kassa.money import DEFAULT_PRICING_TABLE, PricingTable
from kassa.store import Transaction

DEFAULT_SETTLEMENT_DELAY_DAYS = 2
"""Stripe's standard delay for US accounts: card funds are available two business days on."""


@dataclass(frozen=True)
class PaymentConfig:
    card_fingerprint_key: bytes = b""
    """Keys card fingerprints; loaded from the database at startup (one per installation)."""
    pricing: PricingTable = DEFAULT_PRICING_TABLE
    settlement_delay_days: int = DEFAULT_SETTLEMENT_DELAY_DAYS
    account_country: str = "US"
    """Whose bank holidays delay settlement."""
    public_url: str = "http://127.0.0.1:4242"
    """Where Kassa's own pages (the test 3-D Secure page) are reached from a browser."""


@dataclass(frozen=True)
class Context:
    account_id: str
    tx: Transaction
    clock: Clock
    livemode: bool = False
    publishable_key: bool = False
    """The request came with a publishable key: only what Stripe.js may do is allowed."""
    payments: PaymentConfig = field(default_factory=PaymentConfig)
    request_id: str | None = None
    """The API request this work serves (events record it); None for workers."""
    idempotency_key: str | None = None
    memo: dict[str, Any] = field(default_factory=dict)
    """Facts kept for the rest of this unit of work (objects already loaded or not yet
    stored, the account's webhook endpoints), so one request reads and writes each row once."""

    def now(self) -> int:
        return unix_seconds(self.clock)
