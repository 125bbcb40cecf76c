"""Every dashboard page, gathered from the page modules (one per area)."""

from __future__ import annotations

from kassa.clock import Clock
from kassa.dashboard.app import Dashboard, Page
from kassa.dashboard.pages import customers, events, home, ledger, logs, payments, webhooks
from kassa.services.context import PaymentConfig
from kassa.store import Store

PAGES: tuple[Page, ...] = (
    *home.PAGES,
    *payments.PAGES,
    *customers.PAGES,
    *events.PAGES,
    *webhooks.PAGES,
    *logs.PAGES,
    *ledger.PAGES,
)


def dashboard(store: Store, clock: Clock, payment_config: PaymentConfig) -> Dashboard:
    return Dashboard(store, clock, payment_config, PAGES)
