"""Refunds that fail after they were made, as Stripe's test card 4000000000005126
(`pm_card_refundFail`) makes them: the refund starts `succeeded` like any card refund, and
REFUND_FAILURE_DELAY_SECONDS later, on the clock that governs it (a test clock's, or the
installation's), it becomes `failed` with the card's `failure_reason`. Its money comes back
to the available balance (a `refund_failure` balance transaction, the refund's
`failure_balance_transaction`, `kassa.ledger.refund_postings`), the charge's
`amount_refunded` drops by the refund's amount (so it may be refunded again), and
`refund.updated`, `charge.refund.updated` and `refund.failed` are announced.

The failure to come is a row of `refund_failures`, written with the refund. The
`refund_failures` job (`kassa.workers.refund_failures`) does those due in real time; a test
clock's advance does its own (`kassa.services.clock_advance`). Taking the row is the claim:
a second worker, or a run again after a crash, finds it gone and does nothing.
"""

from __future__ import annotations

import copy
import logging
from decimal import Decimal
from typing import Final

from kassa.clock import Clock
from kassa.invariants import InvariantViolated, ensure
from kassa.ledger import refund_postings
from kassa.ledger.postings import Movement, Presentment
from kassa.services import card_objects, charge_processing, events
from kassa.services.context import Context, PaymentConfig
from kassa.services.due_work import do_due_operations
from kassa.services.resource import ApiObject
from kassa.store import Store, Transaction
from kassa.store.refund_failure_queries import ScheduledRefundFailure
from kassa.store.tables import REFUNDS

REFUND_FAILURE_DELAY_SECONDS: Final = 2
"""How long after it was made a refund to the refund-failure test card fails ("some time
later", Stripe says): short, so a test sees it with a brief wait or any test clock advance."""

log = logging.getLogger("kassa.refund_failures")


def failure_reason_for(ctx: Context, charge: ApiObject) -> str | None:
    """Why a refund of `charge` will fail later (its card's test behaviour); None: it won't."""
    card = (charge.get("payment_method_details") or {}).get("card")
    if not isinstance(card, dict) or not card.get("fingerprint"):
        return None
    return card_objects.behavior_of_payment_method_card(ctx, card).refund_failure_reason


async def schedule_if_card_says(ctx: Context, charge: ApiObject, refund: ApiObject) -> None:
    """`refund` (of `charge`, just made) fails later if the charge's card says so: at its
    governing clock's time plus the delay (`ctx` is governed by the charge)."""
    reason = failure_reason_for(ctx, charge)
    if reason is None:
        return
    failure = ScheduledRefundFailure(ctx.now() + REFUND_FAILURE_DELAY_SECONDS, reason)
    await ctx.tx.schedule_refund_failure(
        ctx.account_id, str(refund["id"]), failure, ctx.governing_clock
    )


async def fail_refund(ctx: Context, refund_id: str) -> bool:
    """Fail the refund, if its failure is still to come; whether it failed now."""
    scheduled = await ctx.tx.take_refund_failure(ctx.account_id, refund_id)
    if scheduled is None:
        return False
    found = await ctx.tx.get_object(REFUNDS, ctx.account_id, refund_id)
    if found is None or found[1] or found[0]["status"] != "succeeded":
        return False  # nothing left to fail: the row was all there was
    refund = found[0]
    charge = await charge_processing.load(ctx, str(refund["charge"]))
    ctx = await ctx.governed_by(charge)
    before = copy.deepcopy(refund)
    row_id = await _give_back(ctx, refund)
    refund["status"] = "failed"
    refund["failure_reason"] = scheduled.failure_reason
    refund["failure_balance_transaction"] = row_id
    await ctx.tx.update_object(REFUNDS, ctx.account_id, refund)
    charge["amount_refunded"] -= refund["amount"]
    ensure(charge["amount_refunded"] >= 0, "a failed refund gives back no more than was refunded")
    charge["refunded"] = charge_processing.refundable_amount(charge) == 0
    await charge_processing.store(ctx, charge)
    await events.announce(ctx, "refund.updated", refund, previous=before)
    await events.announce(ctx, "charge.refund.updated", refund, previous=before)
    await events.announce(ctx, "refund.failed", refund)
    return True


async def _give_back(ctx: Context, refund: ApiObject) -> str:
    """Post the reversal of the refund's balance transaction; the new transaction's id."""
    original = await ctx.tx.get_ledger_transaction(
        ctx.account_id, str(refund["balance_transaction"])
    )
    if original is None:
        raise InvariantViolated(f"refund {refund['id']}'s balance transaction is missing")
    ensure(original.amount < 0, "a refund took money from the balance")
    converted = original.currency != refund["currency"]
    row = await refund_postings.record_refund_failure(
        ctx.tx,
        Movement(
            account_id=ctx.account_id,
            created=ctx.now(),
            type=refund_postings.REFUND_FAILURE_TYPE,
            reporting_category=refund_postings.REFUND_FAILURE_REPORTING_CATEGORY,
            source=str(refund["id"]),
            currency=original.currency,
            description="REFUND FAILURE",
            exchange_rate=None
            if original.exchange_rate is None
            else Decimal(original.exchange_rate),
        ),
        amount=-original.amount,
        presented=Presentment(int(refund["amount"]), str(refund["currency"]))
        if converted
        else None,
    )
    return row.id


async def fail_due_refunds(store: Store, clock: Clock, payments: PaymentConfig) -> int:
    """Every account's refund failures due in real time, each in a unit of work of its own,
    bounded per run (`due_work.work_through_due`); how many refunds failed. One that cannot
    be done (its charge gone) is rolled back, its row kept, and its `fails_at` moved an hour
    on (`due_work.FAILED_WORK_RETRY_SECONDS`) rather than dropped: dropping it would leave
    the refund `succeeded` for good, its money never given back."""
    jobs = (Transaction.refund_failures_due, Transaction.postpone_refund_failure)
    failed = (log, "refund %s could not fail: %s")
    return await do_due_operations(store, clock, payments, jobs, fail_refund, failed)
