"""The `invoices` background job: finalizes, charges and sends auto-advancing invoices when
their time comes (`kassa.services.billing.invoice_advance`), then queues the payment
reminders due (`kassa.services.billing.invoice_reminders`), on the clock it is given."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from kassa.clock import Clock
from kassa.config import Settings
from kassa.services.billing.invoice_advance import advance_due_invoices
from kassa.services.billing.invoice_reminders import send_due_reminders
from kassa.services.billing.subscription_cycle import renew_due_subscriptions
from kassa.services.setup import load_payment_config
from kassa.store import Store

ADVANCE_INTERVAL_SECONDS = 30.0
"""How often the job looks for invoices with work due: Stripe advances invoices "about an
hour" after creation, so half a minute late is within what it promises."""

log = logging.getLogger("kassa.invoices")


async def run_invoice_advance(
    store: Store, clock: Clock, settings: Settings, stopping: asyncio.Event
) -> None:
    payments = await load_payment_config(store, settings)
    while not stopping.is_set():
        try:
            renewed = await renew_due_subscriptions(store, clock, payments)
            if renewed:
                log.info("renewed %d subscriptions", renewed)
            advanced = await advance_due_invoices(store, clock, payments)
            if advanced:
                log.info("advanced %d invoices", advanced)
            reminded = await send_due_reminders(store, clock, payments)
            if reminded:
                log.info("queued reminders for %d invoices", reminded)
        except Exception:
            log.exception("advancing invoices failed; will retry")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), ADVANCE_INTERVAL_SECONDS)
