"""How a test clock advances: after `POST .../advance` has made it `advancing` toward a target
time, the `test_clocks` job does the work that falls due on the clock's objects, one piece at
a time in clock order, and then makes the clock `ready` at the target.

Each piece of work: find the first work due at or before the target
(`ClockQueries.next_clock_work`: by due time, then kind, then object id), move the clock's
frozen time to when it falls due, and do it with a context governed by the clock, so
everything it writes is stamped with that time. A unit of work (the clock locked throughout;
a process finding it locked by another leaves the clock to that one until its next run)
does up to PIECES_PER_UNIT_MAX pieces. A crash loses at most the unit under way, which the
next run does again from the same state: nothing is done twice or skipped. When
nothing is due any more the clock takes the target time, `status=ready` and the `.ready`
event.

The work a clock does today: its subscription schedules' transitions (a start, a phase's
end, the end of the last: `subscription_schedule_transitions`), its subscriptions' new
periods (renewals, trial ends, cancellations at period end, expiry of incomplete ones:
`subscription_cycle`), its invoices' automatic advancement (finalize a draft, charge or
send it, retry a failed charge), the ledger postings of its charges captured
asynchronously (`capture_postings`), payment reminders, its refunds' later failures
(`refund_failures`), the expiry of its uncaptured card authorizations
(`authorization_expiry`), and the settlement of its customers' pending funds as their
`available_on` comes (`ledger.settlement.settle_on_clock`), the expiry of its customers'
draft and open quotes (`billing.quotes.expire_quote`), and the expiry of its customers'
credit grants with something left (`billing.credit_grants.expire_when_due`). A step whose
work leaves the same work due at the same time would repeat forever: the clock stops with
Stripe's `internal_failure` status instead (and its event), and says which work in the log.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any, Final

from kassa.clock import Clock
from kassa.errors import CardDeclined, KassaError
from kassa.ledger.settlement import settle_on_clock
from kassa.services import (
    authorization_expiry,
    capture_postings,
    events,
    refund_failures,
)
from kassa.services.balance_announcements import announce_available
from kassa.services.billing import (
    credit_grants,
    invoice_documents,
    quotes,
    subscription_cycle,
    subscription_documents,
    subscription_schedule_transitions,
)
from kassa.services.billing.invoice_advance import advance_invoice, record_failure
from kassa.services.billing.invoice_reminders import remind
from kassa.services.context import Context, PaymentConfig
from kassa.services.resource import ApiObject
from kassa.store import Store, Transaction
from kassa.store.clock_queries import AdvancingClock, ClockWork
from kassa.store.tables import TEST_CLOCKS

CLOCKS_PER_SCAN_MAX: Final = 20
"""Advancing clocks read per scan; more wait for the next run."""
PIECES_PER_UNIT_MAX: Final = 50
"""Pieces of work done in one unit of work (one commit, the clock locked throughout): a
commit costs more than a piece, and a crash loses at most one unit, done again after."""
STEPS_PER_CLOCK_RUN_MAX: Final = 200
"""Units of work one run does for one clock before turning to the next clock (a clock
advanced years ahead over many invoices finishes over several runs)."""

log = logging.getLogger("kassa.test_clocks")


@dataclass(frozen=True)
class StepDone:
    """What one unit of work did: the pieces of work done, the last of them (None when
    none), whether the clock is through (ready, stopped, or no longer advancing), and how
    many pieces the next unit may do."""

    pieces: int
    last: ClockWork | None
    through: bool
    next_unit_pieces: int = PIECES_PER_UNIT_MAX


async def advance_clocks(store: Store, clock: Clock, payments: PaymentConfig) -> int:
    """Advance every clock with an advance under way (bounded per run); the pieces done."""
    async with store.read() as tx:
        advancing = await tx.advancing_test_clocks(CLOCKS_PER_SCAN_MAX)
    pieces = 0
    for target in advancing:
        pieces += await advance_clock(store, clock, payments, target)
    return pieces


async def advance_clock(
    store: Store, clock: Clock, payments: PaymentConfig, target: AdvancingClock
) -> int:
    """Units of work for one clock until it is through (or STEPS_PER_CLOCK_RUN_MAX units);
    the pieces of work done."""
    previous: ClockWork | None = None
    pieces = 0
    unit_pieces = PIECES_PER_UNIT_MAX
    for _ in range(STEPS_PER_CLOCK_RUN_MAX):
        done = await _step(store, clock, payments, target, previous, unit_pieces)
        pieces += done.pieces
        if done.through:
            break
        previous, unit_pieces = done.last, done.next_unit_pieces
    return pieces


async def _step(
    store: Store,
    clock: Clock,
    payments: PaymentConfig,
    target: AdvancingClock,
    previous: ClockWork | None,
    unit_pieces: int,
) -> StepDone:
    """One unit of work: up to `unit_pieces` pieces, in clock order.

    A piece that fails rolls the unit back whole. The pieces before it are then done again
    first, alone in a unit (at their own times: the clock has not moved), and the failing
    piece comes first in the unit after, where its failure is recorded at its time without
    undoing anything else: what it fails on (a draft an earlier piece made) is there."""

    def context(tx: Transaction, memo: dict[str, Any] | None = None) -> Context:
        # A fresh context per piece: a context remembers the clock's time once read, and
        # each piece moves it.
        return Context(
            account_id=target.account_id,
            tx=tx,
            clock=clock,
            payments=payments,
            memo={} if memo is None else memo,
        )

    at_start = previous
    done = 0
    try:
        async with store.write() as tx:
            if not await tx.claim_test_clock(target.account_id, target.clock_id):
                # Another process is advancing it: its next run looks again.
                return StepDone(0, previous, through=True)
            carried: dict[str, Any] = {}
            for _ in range(unit_pieces):
                ctx = context(tx, carried)
                work = await _piece(ctx, target.clock_id, previous)
                if work is None:
                    return StepDone(done, previous, through=True)
                # The account's webhook endpoints, read once per unit (on PostgreSQL an
                # endpoint added while a unit runs gets the events of the next units).
                carried = events.endpoints_memo(ctx)
                previous = work
                done += 1
            return StepDone(done, previous, through=False)
    except WorkFailed as failed:
        if done > 0:
            return StepDone(0, at_start, through=False, next_unit_pieces=done)
        # The first piece of its unit: rolled back alone, the clock's time too. Record the
        # failure at the work's time in a unit of its own, so the clock moves past it.
        async with store.write() as tx:
            await _record(context(tx), target.clock_id, failed)
        return StepDone(0, failed.work, through=False)


async def _settle(ctx: Context, clock_id: str, work: ClockWork) -> None:
    """One of the clock's pending transactions becomes available. `balance.available` is
    announced once the last of the account's funds due at that moment has settled, as the
    real-time settlement announces it once per batch (`balance.settle_all`): renewals due
    together settle together, and one event each would say the same thing many times. The
    event is the clock's: it happens at the clock's time."""
    settled = await settle_on_clock(ctx.tx, ctx.account_id, clock_id, work.object_id, work.due_at)
    if not settled:
        return
    # Settlement is the last kind of work: funds still due at this moment would be the
    # clock's next piece.
    following = await ctx.tx.next_clock_work(ctx.account_id, clock_id, work.due_at)
    if following is None or following.kind != "funds_settlement":
        await announce_available(await ctx.governed_by({"test_clock": clock_id}))


async def _piece(ctx: Context, clock_id: str, previous: ClockWork | None) -> ClockWork | None:
    """The clock's next piece of work, done; None when the clock is through."""
    test_clock = await _advancing(ctx, clock_id)
    if test_clock is None:
        return None
    target_time = int(test_clock["status_details"]["advancing"]["target_frozen_time"])
    work = await ctx.tx.next_clock_work(ctx.account_id, clock_id, target_time)
    if work is None:
        await _finish(ctx, test_clock, target_time)
        return None
    if work == previous:
        await _fail(ctx, test_clock, work)
        return None
    await _move_to(ctx, test_clock, work.due_at)
    if work.kind == "schedule_transition":
        await _transition(ctx, work)
        return work
    if work.kind == "subscription_renewal":
        await _renew(ctx, work)
        return work
    if work.kind == "funds_settlement":
        await _settle(ctx, clock_id, work)
        return work
    if work.kind == "capture_posting":
        await capture_postings.post_scheduled(ctx, work.object_id)
        return work
    if work.kind == "refund_failure":
        await refund_failures.fail_refund(ctx, work.object_id)
        return work
    if work.kind == "authorization_expiry":
        await authorization_expiry.expire(ctx, work.object_id)
        return work
    if work.kind == "quote_expiry":
        await quotes.expire_quote(ctx, work.object_id)
        return work
    if work.kind == "credit_grant_expiry":
        await credit_grants.expire_when_due(ctx, work.object_id)
        return work
    invoice = await _invoice(ctx, work.object_id)
    if invoice is not None:
        await _do(await ctx.governed_by(invoice), work, invoice)
    return work


async def _renew(ctx: Context, work: ClockWork) -> None:
    subscription = await subscription_documents.find(ctx, work.object_id)
    if subscription is None:
        return
    try:
        await subscription_cycle.renew(await ctx.governed_by(subscription), subscription)
    except KassaError as error:
        raise WorkFailed(work, error) from error


async def _transition(ctx: Context, work: ClockWork) -> None:
    try:
        await subscription_schedule_transitions.transition_schedule(ctx, work.object_id)
    except KassaError as error:
        raise WorkFailed(work, error) from error


async def _advancing(ctx: Context, clock_id: str) -> ApiObject | None:
    """The clock, locked, if an advance of it is under way."""
    found = await ctx.tx.get_object(TEST_CLOCKS, ctx.account_id, clock_id)
    if found is None or found[1] or found[0]["status"] != "advancing":
        return None
    return found[0]


async def _move_to(ctx: Context, test_clock: ApiObject, when: int) -> None:
    """The clock's frozen time, moved forward to `when` (work due earlier than the clock's
    time, as a draft created at the frozen time an hour before, is done at the clock's)."""
    if when > test_clock["frozen_time"]:
        test_clock["frozen_time"] = when
        await ctx.tx.update_object(TEST_CLOCKS, ctx.account_id, test_clock)


async def _invoice(ctx: Context, invoice_id: str) -> ApiObject | None:
    found = await invoice_documents.find_invoice(ctx, invoice_id)
    return None if found is None or found[1] else found[0]


async def _do(ctx: Context, work: ClockWork, invoice: ApiObject) -> None:
    try:
        if work.kind == "invoice_reminder":
            await remind(ctx, invoice)
            return
        # A decline has recorded the failed charge and attempt: they commit.
        with contextlib.suppress(CardDeclined):
            await advance_invoice(ctx, invoice)
    except KassaError as error:
        raise WorkFailed(work, error) from error


class WorkFailed(Exception):
    """Work on a clock's object failed otherwise than by a decline."""

    def __init__(self, work: ClockWork, error: KassaError) -> None:
        super().__init__(error.message)
        self.work = work
        self.error = error


async def _record(ctx: Context, clock_id: str, failed: WorkFailed) -> None:
    """A failed invoice advance is recorded on the invoice as the real-time job records it
    (no further attempt); a failed reminder, renewal or schedule transition stops the clock
    (`internal_failure`)."""
    test_clock = await _advancing(ctx, clock_id)
    if test_clock is None:
        return
    log.info(
        "test clock %s: %s of %s failed: %s",
        clock_id,
        failed.work.kind,
        failed.work.object_id,
        failed.error.message,
    )
    if failed.work.kind in ("invoice_reminder", "subscription_renewal", "schedule_transition"):
        await _fail(ctx, test_clock, failed.work)
        return
    await _move_to(ctx, test_clock, failed.work.due_at)
    invoice = await _invoice(ctx, failed.work.object_id)
    if invoice is not None:
        await record_failure(await ctx.governed_by(invoice), invoice, failed.error)


async def _finish(ctx: Context, test_clock: ApiObject, target_time: int) -> None:
    test_clock["frozen_time"] = target_time
    test_clock["status"] = "ready"
    test_clock["status_details"] = {}
    await ctx.tx.update_object(TEST_CLOCKS, ctx.account_id, test_clock)
    await events.announce(ctx, "test_helpers.test_clock.ready", test_clock)


async def _fail(ctx: Context, test_clock: ApiObject, work: ClockWork) -> None:
    log.error(
        "test clock %s stopped: %s of %s failed or stays due at %d after it ran",
        test_clock["id"],
        work.kind,
        work.object_id,
        work.due_at,
    )
    test_clock["status"] = "internal_failure"
    await ctx.tx.update_object(TEST_CLOCKS, ctx.account_id, test_clock)
    await events.announce(ctx, "test_helpers.test_clock.internal_failure", test_clock)
