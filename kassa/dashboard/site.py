"""Every dashboard page, gathered from the page modules (one per area), and what the
dashboard keeps up to date as the services write (installed by `kassa.runtime`)."""

from __future__ import annotations

from kassa.clock import Clock
from kassa.dashboard.app import Dashboard, Page
from kassa.dashboard.pages import (
    customers,
    events,
    home,
    invoices,
    ledger,
    logs,
    mailbox,
    payments,
    payouts,
    prices,
    products,
    reconciliation,
    subscriptions,
    test_clocks,
    webhooks,
)
from kassa.services.context import PaymentConfig
from kassa.store import Store

PAGES: tuple[Page, ...] = (
    *home.PAGES,
    *payments.PAGES,
    *payouts.PAGES,
    *reconciliation.PAGES,
    *customers.PAGES,
    *events.PAGES,
    *webhooks.PAGES,
    *logs.PAGES,
    *ledger.PAGES,
    *mailbox.PAGES,
    *invoices.PAGES,
    *subscriptions.PAGES,
    *products.PAGES,
    *prices.PAGES,
    *test_clocks.PAGES,
)


def dashboard(store: Store, clock: Clock, payment_config: PaymentConfig) -> Dashboard:
    return Dashboard(store, clock, payment_config, PAGES)
