"""What every hosted page's backend holds: the store, the injected clock and the payment
settings, and the service context for one account's unit of work."""

from __future__ import annotations

from kassa.clock import Clock
from kassa.services.context import Context, PaymentConfig
from kassa.store import Store, Transaction


class PageBackend:
    def __init__(self, store: Store, clock: Clock, payments: PaymentConfig) -> None:
        self.store = store
        self.clock = clock
        self.payments = payments

    def context(self, tx: Transaction, account_id: str) -> Context:
        return Context(account_id=account_id, tx=tx, clock=self.clock, payments=self.payments)
