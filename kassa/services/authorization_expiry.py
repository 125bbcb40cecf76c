"""Card authorizations held for capture expire when their capture window closes, as Stripe's
do: an authorized, uncaptured charge (a `capture_method=manual` PaymentIntent confirmed, a
charge made with `capture=false`) says when in `payment_method_details.card.capture_before`,
and "if the authorization expires before you capture the funds, the funds are released and
the payment status changes to `canceled`" (docs.stripe.com/payments/place-a-hold-on-a-
payment-method). Since API version 2025-03-31 (changelog "Partially capturing or canceling
payments no longer creates a Refund") the expiry makes no refund and leaves the charge's
`refunded` and `amount_refunded` as they were; the PaymentIntent is canceled with
`cancellation_reason=expired`, and `charge.expired` and `payment_intent.canceled` are sent.
No money moves: an authorization posts nothing to the ledger (only a capture does,
`charge_processing.capture_funds`), so releasing one posts nothing either.

The expiry to come is a row of `authorization_expiries`, written with the charge, taken
(deleted) by the capture or cancel that ends the hold, or by the expiry itself. The
`authorization_expiries` job (`kassa.workers.authorization_expiries`) does those due in real
time; a test clock's advance does its own at the clock's time (`kassa.services.
clock_advance`). A capture at or after `capture_before` is refused even before the job has
run (`charge_expired_for_capture`, Stripe's code for it)."""

from __future__ import annotations

import logging
from typing import Final

from kassa.clock import DAY_SECONDS, Clock
from kassa.errors import InvalidRequest
from kassa.services import events, intent_helpers
from kassa.services.context import Context, PaymentConfig
from kassa.services.due_work import do_due_operations
from kassa.services.resource import ApiObject
from kassa.store import Store, Transaction
from kassa.store.tables import CHARGES, PAYMENT_INTENTS, ObjectTable

CAPTURE_WINDOW_SECONDS: Final = 7 * DAY_SECONDS
"""How long an online card authorization can be captured: 7 days for a customer-initiated
card-not-present payment on every brand in Stripe's table of authorization validity windows
(Visa, Mastercard, American Express, Discover). Kassa does not tell merchant-initiated
payments apart, for which Visa allows 4 days and 18 hours."""
EXPIRED_CANCELLATION_REASON: Final = "expired"
"""A PaymentIntent canceled because its authorization expired (API 2025-03-31 and later;
`automatic` before)."""

log = logging.getLogger("kassa.authorization_expiries")


def hold(ctx: Context, charge: ApiObject) -> None:
    """`charge` (authorized, not captured, not yet stored; `ctx` governed by it) is held for
    capture until its window closes, on the clock that governs it: `capture_before`."""
    charge["payment_method_details"]["card"]["capture_before"] = ctx.now() + CAPTURE_WINDOW_SECONDS


async def schedule_expiry(ctx: Context, charge: ApiObject) -> None:
    """The held charge (`hold`, now stored) expires at its `capture_before`, on the clock
    that governs it."""
    capture_before = int(charge["payment_method_details"]["card"]["capture_before"])
    await ctx.tx.schedule_authorization_expiry(
        ctx.account_id, str(charge["id"]), capture_before, ctx.governing_clock
    )


async def end_hold_for_capture(ctx: Context, charge: ApiObject) -> None:
    """The hold on `charge` ended by its capture (`ctx` governed by it): its expiry will not
    come. Refused once the authorization has expired: its window closed on the governing
    clock (the job may not have run yet), or its expiry was already taken (a charge made
    without a PaymentIntent stays uncaptured when it expires; one held before Kassa
    tracked capture windows has no `capture_before` and no expiry)."""
    await _end_hold_unexpired(ctx, charge, "captured", "charge_expired_for_capture")


async def end_hold_for_release(ctx: Context, charge: ApiObject) -> None:
    """The hold on `charge` (made without a PaymentIntent) released by a refund, as
    `end_hold_for_capture` ends it: an expired authorization has nothing left to release."""
    await _end_hold_unexpired(ctx, charge, "refunded", "charge_not_refundable")


async def _end_hold_unexpired(ctx: Context, charge: ApiObject, done: str, code: str) -> None:
    capture_before = (charge["payment_method_details"].get("card") or {}).get("capture_before")
    scheduled = await ctx.tx.take_authorization_expiry(ctx.account_id, str(charge["id"]))
    if isinstance(capture_before, int) and (scheduled is None or ctx.now() >= capture_before):
        # The unit of work rolls back whole: the expiry taken above stays scheduled.
        raise InvalidRequest(
            f"Charge {charge['id']} cannot be {done}: its authorization expired at "
            f"{capture_before} (`capture_before`).",
            code=code,
        )


async def end_hold_for_cancel(ctx: Context, charge_id: str) -> None:
    """The hold on the charge ended by its PaymentIntent's cancel: its expiry will not
    come."""
    await ctx.tx.take_authorization_expiry(ctx.account_id, charge_id)


async def expire(ctx: Context, charge_id: str) -> bool:
    """Expire the charge's authorization, if its expiry is still to come and it is still
    held; whether it expired now. Locks as a capture does, the intent before its charge
    (the other order deadlocks with a capture on PostgreSQL), and the expiry's row last."""
    intent_id = await ctx.tx.unlocked_column(CHARGES, ctx.account_id, charge_id, "payment_intent")
    intent = None if intent_id is None else await _live(ctx, PAYMENT_INTENTS, str(intent_id))
    charge = await _live(ctx, CHARGES, charge_id)
    if await ctx.tx.take_authorization_expiry(ctx.account_id, charge_id) is None:
        return False
    if charge is None or charge["captured"] or not charge["paid"]:
        return False  # gone, captured or failed: nothing is held
    if intent is not None and (
        intent["status"] != "requires_capture" or intent["latest_charge"] != charge_id
    ):
        return False  # its intent was captured or canceled meanwhile
    ctx = await ctx.governed_by(charge)
    await events.announce(ctx, "charge.expired", charge)
    if intent is not None:
        await intent_helpers.mark_payment_intent_canceled(ctx, intent, EXPIRED_CANCELLATION_REASON)
    return True


async def _live(ctx: Context, table: ObjectTable, object_id: str) -> ApiObject | None:
    """The object, locked in this write unit; None if missing or deleted."""
    found = await ctx.tx.get_object(table, ctx.account_id, object_id)
    return None if found is None or found[1] else found[0]


async def expire_due_authorizations(store: Store, clock: Clock, payments: PaymentConfig) -> int:
    """Every account's authorizations due to expire in real time, each in a unit of work of
    its own, bounded per run; how many expired. One that cannot be done is rolled back, its
    row kept and moved an hour on (`due_work.FAILED_WORK_RETRY_SECONDS`)."""
    jobs = (Transaction.authorization_expiries_due, Transaction.postpone_authorization_expiry)
    failed = (log, "authorization of charge %s could not expire: %s")
    return await do_due_operations(store, clock, payments, jobs, expire, failed)
