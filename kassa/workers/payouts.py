"""The `payouts` background job: moves payouts on when their time comes (pending ->
in_transit at the bank's cut-off, then paid or failed on their arrival date) and makes the
automatic payouts the accounts' schedules call for, on the clock it is given
(`kassa.services.payouts`, `kassa.services.balance_settings`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from kassa.clock import Clock
from kassa.config import Settings
from kassa.services.payouts import advance_due_payouts, make_due_automatic_payouts
from kassa.services.setup import load_payment_config
from kassa.store import Store

PAYOUTS_INTERVAL_SECONDS = 30.0
"""How often the job looks for payouts to move: payouts move at midnight UTC, and reading a
payout or the list brings the account's up to date on the spot."""

log = logging.getLogger("kassa.payouts")


async def run_payouts(
    store: Store, clock: Clock, settings: Settings, stopping: asyncio.Event
) -> None:
    payments = await load_payment_config(store, settings)
    while not stopping.is_set():
        try:
            made = await make_due_automatic_payouts(store, clock, payments)
            if made:
                log.info("made %d automatic payouts", made)
            moved = await advance_due_payouts(store, clock, payments)
            if moved:
                log.info("moved %d payouts", moved)
        except Exception:
            log.exception("moving payouts failed; will retry")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), PAYOUTS_INTERVAL_SECONDS)
