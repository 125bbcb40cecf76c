"""Every dashboard page, gathered from the page modules (one per area)."""

from __future__ import annotations

from kassa.clock import Clock
from kassa.dashboard.app import Dashboard, Page
from kassa.dashboard.pages import home
from kassa.services.context import PaymentConfig
from kassa.store import Store

PAGES: tuple[Page, ...] = (*home.PAGES,)


def dashboard(store: Store, clock: Clock, payments: PaymentConfig) -> Dashboard:
    return Dashboard(store, clock, payments, PAGES)
