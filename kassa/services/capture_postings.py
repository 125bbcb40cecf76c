"""Card payments captured asynchronously, as Stripe captures a PaymentIntent whose
`capture_method` is `automatic_async` (the default since API version 2024-04-10;
docs.stripe.com/payments/payment-intents/asynchronous-capture): the payment succeeds in the
request, the charge is `captured`, but its `balance_transaction` is null in the response and
in `charge.succeeded` and `payment_intent.succeeded`; the balance transaction comes a
moment later, announced by `charge.updated`. An integration that reads the fee from
`latest_charge.balance_transaction` right after confirming works against Stripe only if it
waits for that event, and so must it here.

The posting to come is a row of `capture_postings`, written with the charge and taken
(deleted) by the unit of work that posts it: the `capture_postings` job
(`kassa.workers.capture_postings`) for those due in real time (due at once: the job looks
often) and for those of a test clock at rest, at the clock's time; an advancing clock's
advance for its own, at the clock's time, right after the payment.
Money that must already be on the ledger posts it first, in the same unit of work: a refund
of the charge, and every read of the account's balance or balance transactions and every
payout (`post_account_pending`), so that what the balance says never lags a confirmed
payment a caller has seen.

Captured at once, as before, are charges whose capture moves more than the charge itself
would on Stripe's side at once: a test card that disputes the payment as it is captured (the
dispute's withdrawal follows the capture's posting) and a charge converted into another
settlement currency (its rate is the capture's)."""

from __future__ import annotations

import logging
from itertools import groupby
from typing import Any, Final

from kassa import business_days, money
from kassa.cards import TestBehavior
from kassa.clock import Clock, unix_seconds
from kassa.invariants import InvariantViolated, ensure
from kassa.ledger import postings
from kassa.services import balance_settings, card_objects, currency_conversion, events
from kassa.services.balance_announcements import announce_available
from kassa.services.context import Context, PaymentConfig
from kassa.services.due_work import STORE_FAILURES, do_due_operations
from kassa.services.resource import ApiObject
from kassa.services.wakeups import CAPTURES_TO_POST
from kassa.store import Store, Transaction
from kassa.store.capture_posting_queries import RestingClockPosting, ScheduledCapturePosting
from kassa.store.due_order import DueRow
from kassa.store.tables import CHARGES, TEST_CLOCKS

ASYNC_CAPTURE_METHOD: Final = "automatic_async"
CAPTURES_PER_UNIT_MAX: Final = 20
"""Postings the job does in one unit of work (one commit, the single writer held on SQLite
meanwhile: a few milliseconds)."""
UNITS_PER_RUN_MAX: Final = 50
"""Units one run of the job does before it waits for the next poll: 1,000 postings, four
times a second (`CAPTURE_POSTINGS_POLL_SECONDS`) far more than one process confirms."""
ACCOUNT_POSTINGS_MAX: Final = 1_000
"""Postings one read of an account's balance does first; more (a backlog the job has not
reached) wait for the job, and the balance lags by those alone."""

log = logging.getLogger("kassa.capture_postings")


async def post_capture(ctx: Context, charge: ApiObject, amount: int, behavior: TestBehavior) -> str:
    """Post `amount` of `charge`, captured, and its fee to the ledger; the balance
    transaction's id. A charge in a currency the account does not settle in is converted
    first, and its fee is the settlement currency's, on the converted amount."""
    conversion = await currency_conversion.for_charge(ctx, charge["currency"])
    settled, currency, presented, rate = currency_conversion.settled_amounts(
        conversion, amount, charge["currency"]
    )
    fee = money.card_fee(settled, currency, ctx.payments.pricing)
    row = await postings.record_charge(
        ctx.tx,
        postings.Movement(
            account_id=ctx.account_id,
            created=ctx.now(),
            type="charge",
            reporting_category="charge",
            source=charge["id"],
            currency=currency,
            description=charge["description"],
            available_on=ctx.now() if behavior.available_immediately else await _available_on(ctx),
            test_clock=ctx.governing_clock,
            exchange_rate=rate,
        ),
        amount=settled,
        fee=fee,
        immediately_available=behavior.available_immediately,
        presented=presented,
    )
    if behavior.available_immediately:
        # Funds that skip the pending balance are available now, and Stripe says so.
        await announce_available(ctx)
    return row.id


async def _available_on(ctx: Context) -> int:
    # The account's delay: its balance settings' override, else the installation's.
    delay_days = await balance_settings.settlement_delay_days(ctx)
    return business_days.available_on(ctx.now(), delay_days, ctx.payments.account_country)


async def posts_later(ctx: Context, charge: ApiObject, behavior: TestBehavior) -> bool:
    """Whether `charge`, captured in full now, posts later (see the module's docstring)."""
    if behavior.dispute_reason is not None:
        return False
    return await currency_conversion.for_charge(ctx, charge["currency"]) is None


def capture_now_post_later(charge: ApiObject, amount: int) -> None:
    """`charge` (authorized, not stored yet) is captured: its posting is to come."""
    ensure(not charge["captured"] and charge["paid"], "only an authorized charge is captured")
    charge["captured"] = True
    charge["amount_captured"] = amount
    charge["balance_transaction"] = None


async def schedule(ctx: Context, charge: ApiObject) -> None:
    """The captured charge (`capture_now_post_later`, now stored) posts at once on the clock
    that governs it: the next run of the job, or the clock's next piece of work."""
    await ctx.tx.schedule_capture_posting(
        ctx.account_id,
        str(charge["id"]),
        ScheduledCapturePosting(ctx.now(), int(charge["amount_captured"])),
        ctx.governing_clock,
    )
    # Stripe posts within moments: the job is woken once the payment has committed, so that
    # the caller's next request (a read of the charge) usually finds it posted.
    ctx.tx.after_commit(CAPTURES_TO_POST.notify)


async def post_scheduled(ctx: Context, charge_id: str) -> bool:
    """Post the charge's capture, if still to come; whether it posted now."""
    scheduled = await ctx.tx.take_capture_posting(ctx.account_id, charge_id)
    if scheduled is None:
        return False
    found = await ctx.tx.get_object(CHARGES, ctx.account_id, charge_id)
    if found is None:
        raise InvariantViolated(f"charge {charge_id}, whose capture is to be posted, is missing")
    await _post(await ctx.governed_by(found[0]), found[0], scheduled)
    return True


async def post_for_charge(ctx: Context, charge: ApiObject) -> None:
    """Post `charge`'s capture now if it is still to come (before money moves back out of
    it); `charge` is updated in place."""
    if not charge["captured"] or charge["balance_transaction"] is not None:
        return
    scheduled = await ctx.tx.take_capture_posting(ctx.account_id, str(charge["id"]))
    if scheduled is not None:
        await _post(ctx, charge, scheduled)


async def _post(ctx: Context, charge: ApiObject, scheduled: ScheduledCapturePosting) -> None:
    """Post the capture (`ctx` governed by the charge), attach its balance transaction to
    the charge and announce `charge.updated`."""
    ensure(charge["balance_transaction"] is None, "a capture is posted once")
    card = charge["payment_method_details"]["card"]
    behavior = card_objects.behavior_of_payment_method_card(ctx, card)
    # Only a top-level field changes: a shallow copy is enough for `charge.updated`'s
    # previous attributes (a deep one of the whole charge was about 5% of a payment's CPU).
    before = dict(charge)
    charge["balance_transaction"] = await post_capture(ctx, charge, scheduled.amount, behavior)
    await ctx.tx.update_object(CHARGES, ctx.account_id, charge)
    await events.announce(ctx, "charge.updated", charge, previous=before)


async def post_account_pending(ctx: Context) -> int:
    """Post the account's captures due in real time (every one still to come but those
    postponed after a failure; bounded by ACCOUNT_POSTINGS_MAX); how many posted."""
    charge_ids = await ctx.tx.account_capture_postings(
        ctx.account_id, unix_seconds(ctx.clock), ACCOUNT_POSTINGS_MAX
    )
    posted = 0
    for charge_id in charge_ids:
        posted += await post_scheduled(ctx, charge_id)
    return posted


async def post_due_captures(store: Store, clock: Clock, payments: PaymentConfig) -> int:
    """Every account's capture postings due in real time, CAPTURES_PER_UNIT_MAX to a unit of
    work (under load a unit each would leave the job ever further behind the payments: a
    unit's commit, the account's webhook endpoints and its settlement delay are shared),
    bounded per run; how many posted. A batch that fails is done again a unit per posting
    (`due_work`), where one that cannot be posted (its charge gone) is rolled back alone,
    its row kept and postponed an hour. Then those of test clocks at rest
    (`post_resting_clock_captures`)."""
    posted = 0
    for _ in range(UNITS_PER_RUN_MAX):
        async with store.read() as tx:
            due = await tx.capture_postings_due(unix_seconds(clock), None, CAPTURES_PER_UNIT_MAX)
        if not due:
            break
        try:
            posted += await _post_batch(store, clock, payments, due)
        except STORE_FAILURES:
            raise
        except Exception:
            log.warning("a batch of capture postings failed; posting them one by one")
            return posted + await _post_one_by_one(store, clock, payments)
        if len(due) < CAPTURES_PER_UNIT_MAX:
            break
    return posted + await post_resting_clock_captures(store, clock, payments)


async def post_resting_clock_captures(store: Store, clock: Clock, payments: PaymentConfig) -> int:
    """Postings to come on test clocks at rest (a clock customer paid between advances):
    Stripe posts them a moment later whatever the clock, at the clock's time, which has not
    moved since the payment (an advance posts all it passes). Up to CAPTURES_PER_UNIT_MAX a
    run, a unit per clock, the clock claimed as its advance claims it and found still at
    rest in the same unit (an advance requested meanwhile does them itself). A clock whose
    posting fails is left to its next advance, which records the failure as clock work."""
    async with store.read() as tx:
        waiting = await tx.resting_clock_capture_postings(CAPTURES_PER_UNIT_MAX)
    posted = 0
    for clock_id, rows in groupby(waiting, lambda w: w.clock_id):
        try:
            posted += await _post_on_resting_clock(store, clock, payments, list(rows))
        except STORE_FAILURES:
            raise
        except Exception:
            log.exception("the captures of test clock %s could not be posted", clock_id)
    return posted


async def _post_on_resting_clock(
    store: Store, clock: Clock, payments: PaymentConfig, waiting: list[RestingClockPosting]
) -> int:
    """`waiting`: one clock's postings (a clock is one account's)."""
    account_id, clock_id = waiting[0].account_id, waiting[0].clock_id
    posted = 0
    async with store.write() as tx:
        if not await tx.claim_test_clock(account_id, clock_id):
            return 0  # its advance holds it, and posts them
        found = await tx.get_object(TEST_CLOCKS, account_id, clock_id)
        if found is None or found[1] or found[0]["status"] != "ready":
            return 0
        ctx = Context(account_id=account_id, tx=tx, clock=clock, payments=payments)
        for row in waiting:
            posted += await post_scheduled(ctx, row.charge_id)
    return posted


async def _post_batch(
    store: Store, clock: Clock, payments: PaymentConfig, due: list[DueRow]
) -> int:
    posted = 0
    async with store.write() as tx:
        # One memo per account for the whole unit: its webhook endpoints and settlement delay
        # are read once (a posting changes neither, nor any clock's time).
        memos: dict[str, dict[str, Any]] = {}
        for row in due:
            memo = memos.setdefault(row.account_id, {})
            ctx = Context(
                account_id=row.account_id, tx=tx, clock=clock, payments=payments, memo=memo
            )
            posted += await post_scheduled(ctx, row.object_id)
    return posted


async def _post_one_by_one(store: Store, clock: Clock, payments: PaymentConfig) -> int:
    jobs = (Transaction.capture_postings_due, Transaction.postpone_capture_posting)
    failed = (log, "the capture of charge %s could not be posted: %s")
    return await do_due_operations(store, clock, payments, jobs, post_scheduled, failed)
