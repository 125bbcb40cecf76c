"""Payment reminders of open `send_invoice` invoices, as the reminder schedule
(`reminders`, the days in `PaymentConfig.reminder_offsets_days`) has them: the step of the
`invoices` background job (`kassa.workers.invoices`) that follows `reminders`' recipe.

Each invoice keeps one instant, `next_reminder_at` (private, an indexed column): set when a
`send_invoice` invoice with a due date is finalized, cleared when it is paid, voided or
marked uncollectible (`invoice_transitions`). `send_due_reminders` finds the invoices whose
instant has come, in bounded batches (`due_invoices`), and for each, in a unit of work of its
own: queues the reminder due (`invoice_emails.queue_due_reminder`; none for a customer
without an address), announces `invoice.will_be_due` or `invoice.overdue` with the invoice,
and stores the instant of the next reminder (none: the schedule has no more). A reminder
that fails is rolled back and tried again an hour later
(`due_work.FAILED_WORK_RETRY_SECONDS`), its instant's column moved on meanwhile.

Each invoice also keeps the schedule its instant was computed with (`REMINDER_SCHEDULE`,
private). A changed schedule applies to the reminders still to come: the job's first step
after startup (`reschedule_reminders`) recomputes the instant of every open invoice whose
schedule differs from the configured one, from the last reminder made; an instant stored
from the old schedule could otherwise come after reminders the new one has due first. A
completed scan is recorded with its schedule, and a start under the same schedule skips it.

Test clocks: as for auto-advance, invoices on a Stripe test clock are left out of the scan;
the clock's own advance (issue 13) calls `remind(ctx, invoice)` governed by the clock.
"""

from __future__ import annotations

import logging

from kassa.clock import Clock
from kassa.services.billing import (
    customer_delinquency,
    invoice_documents,
    invoice_emails,
    reminders,
)
from kassa.services.billing.due_invoices import load_due
from kassa.services.billing.invoice_documents import private
from kassa.services.context import Context, PaymentConfig
from kassa.services.due_work import postponed_if_failing, work_through_due
from kassa.services.resource import ApiObject
from kassa.store import Store, Transaction
from kassa.store.invoice_queries import DueInvoice, InvoiceKey

log = logging.getLogger("kassa.invoices")

REMINDER_SCHEDULE = "reminder_schedule"
"""The private fact of the schedule (offsets in days) `next_reminder_at` was computed with."""
RESCHEDULE_BATCH_MAX = 200
RESCHEDULE_BATCHES_MAX = 100_000
"""Bounds on the startup scan of open invoices (`reschedule_reminders`): 20 million."""
SCAN_MENDS_VERSION = 1
"""What the startup scan mends besides a changed schedule, numbered: 1, the due dates an
earlier Kassa left unwatched (75fc833). A scan recorded under a lower number runs again."""


async def schedule_reminders(
    ctx: Context, invoice: ApiObject, *, overdue_seen: bool = False
) -> None:
    """Store on the invoice when the reminder job should next look at it under the
    configured schedule, and that schedule (not saved: the caller saves the invoice)."""
    offsets = ctx.payments.reminder_offsets_days
    private(invoice)["next_reminder_at"] = await invoice_emails.next_reminder_at(
        ctx, invoice, offsets, overdue_seen=overdue_seen
    )
    private(invoice)[REMINDER_SCHEDULE] = list(offsets)


async def follow_auto_advance(ctx: Context, invoice: ApiObject) -> None:
    """`auto_advance` changed on a finalized invoice: `false` stops its reminders (the only
    instant kept is its due date passing, if still to be seen: the customer's `delinquent`
    flag does not wait on the billing engine), `true` on an open one resumes its schedule
    from now, computed lazily as any next reminder is (`reminders.next_reminder`: one
    missed while stopped collapses into one due today). Not saved: the caller saves the
    invoice."""
    if invoice["status"] != "open":
        private(invoice)["next_reminder_at"] = None
        return
    stored = private(invoice).get("next_reminder_at")
    seen = reminders.due_date_seen(invoice, stored, await ctx.now_for(invoice))
    await schedule_reminders(ctx, invoice, overdue_seen=seen)


async def reschedule_reminders(store: Store, clock: Clock, payments: PaymentConfig) -> int:
    """Recompute the next reminder of every open invoice whose stored instant came from
    another schedule than `payments`' (the setting changed since), and the instant of every
    invoice without reminders whose due date, still to come, no instant watches (stored by a
    Kassa before 75fc833); the number recomputed. Run once when the `invoices` job starts.

    A scan that completes is recorded with its schedule (`scanned_schedule`): a start with
    the same schedule reads no invoice (every invoice stored since has its instant from that
    schedule), so starting a process does not read every open invoice of the installation."""
    scanned = scanned_schedule(payments)
    async with store.read() as tx:
        if await tx.reminder_scan_schedule() == scanned:
            return 0
    rescheduled = 0
    cursor: InvoiceKey | None = None
    for _ in range(RESCHEDULE_BATCHES_MAX):
        async with store.read() as tx:
            page = await tx.open_invoices_after(cursor, RESCHEDULE_BATCH_MAX)
        for key in page:
            rescheduled += await _reschedule_one(store, clock, payments, key)
        if len(page) < RESCHEDULE_BATCH_MAX:
            async with store.write() as tx:
                await tx.record_reminder_scan(scanned)
            break
        cursor = page[-1]
    return rescheduled


def scanned_schedule(payments: PaymentConfig) -> str:
    """How a completed startup scan is recorded: what it mended and the schedule it applied
    (`1:-7,0,7,14,30`)."""
    return f"{SCAN_MENDS_VERSION}:" + ",".join(str(d) for d in payments.reminder_offsets_days)


async def _reschedule_one(
    store: Store, clock: Clock, payments: PaymentConfig, key: InvoiceKey
) -> int:
    async with store.read() as tx:
        ctx = Context(account_id=key.account_id, tx=tx, clock=clock, payments=payments)
        if await _to_reschedule(ctx, key.invoice_id, lock=False) is None:
            return 0  # the common case: read, never written
    async with store.write() as tx:
        ctx = Context(account_id=key.account_id, tx=tx, clock=clock, payments=payments)
        invoice = await _to_reschedule(ctx, key.invoice_id, lock=True)
        if invoice is None:
            return 0
        governed = await ctx.governed_by(invoice)
        stored = private(invoice).get("next_reminder_at")
        seen = reminders.due_date_seen(invoice, stored, governed.now())
        await schedule_reminders(governed, invoice, overdue_seen=seen)
        await invoice_documents.save(ctx, invoice)
        return 1


async def send_due_reminders(store: Store, clock: Clock, payments: PaymentConfig) -> int:
    """Queue every reminder due now (bounded per run); the number of invoices reminded."""

    async def handle(entry: DueInvoice) -> int:
        return await _remind_one(store, clock, payments, entry)

    return await work_through_due(store, clock, Transaction.invoices_due_for_reminder, handle)


async def _remind_one(
    store: Store, clock: Clock, payments: PaymentConfig, entry: DueInvoice
) -> int:
    async def work(tx: Transaction) -> int:
        ctx = Context(account_id=entry.account_id, tx=tx, clock=clock, payments=payments)
        loaded = await load_due(ctx, entry)
        return 0 if loaded is None else int(await remind(*loaded))

    # A failed reminder is rolled back whole, and still due: tried again in an hour.
    failed = (log, "reminder for invoice %s failed: %s")
    return await postponed_if_failing(
        store, clock, entry, work, Transaction.postpone_reminder, failed
    )


async def remind(ctx: Context, invoice: ApiObject) -> bool:
    """The reminder due on the (locked) invoice at `ctx.now()`, if any, its event, and the
    instant of the next one stored; whether a reminder was due."""
    check = await invoice_emails.queue_due_reminder(
        ctx, invoice, None, ctx.payments.reminder_offsets_days
    )
    if check.reminder is not None:
        # Made, email or not: the next look starts after it (`reminders_sent_after`).
        private(invoice)[invoice_emails.LAST_REMINDER_AT] = check.reminder.send_at
    if check.event_type is not None:
        await invoice_documents.announce(ctx, check.event_type, invoice)
    if _passes_due_date(ctx, invoice):
        # Still open as its due date passes: the customer is delinquent (Stripe's
        # `Customer.delinquent`), once: a later reminder is no new state change, and an
        # invoice paid meanwhile may have cleared the flag.
        await customer_delinquency.set_delinquent(ctx, str(invoice["customer"]), True)
    if reminders.watches_due_date(invoice):
        due_date = int(invoice["due_date"])
        seen = ctx.now() >= reminders.overdue_at(due_date)  # by this look, if not before
        wake = reminders.wake_at(due_date, check.next_at, overdue_seen=seen)
    else:
        wake = check.next_at
    private(invoice)["next_reminder_at"] = wake
    private(invoice)[REMINDER_SCHEDULE] = list(ctx.payments.reminder_offsets_days)
    await invoice_documents.save(ctx, invoice)
    return check.reminder is not None


async def _to_reschedule(ctx: Context, invoice_id: str, *, lock: bool) -> ApiObject | None:
    """The invoice if it gets reminders and its next one was computed with another schedule
    than the configured one, or if it gets none and no instant watches its due date still to
    come (`reminders.unwatched_due_date`); else None."""
    found = await invoice_documents.find_invoice(ctx, invoice_id, lock=lock)
    if found is None or found[1]:
        return None
    invoice = found[0]
    if not reminders.wants_reminders(invoice):
        stored = private(invoice).get("next_reminder_at")
        unwatched = reminders.unwatched_due_date(invoice, stored, await ctx.now_for(invoice))
        return invoice if unwatched else None
    kept = private(invoice).get(REMINDER_SCHEDULE)
    return None if kept == list(ctx.payments.reminder_offsets_days) else invoice


def _passes_due_date(ctx: Context, invoice: ApiObject) -> bool:
    """Whether this look at the (open, watched) invoice is the first after its due date:
    the job's instant it woke at was no later than the moment the due date passed
    (`reminders.wake_at` puts one there), and that moment has come."""
    if not reminders.watches_due_date(invoice):
        return False
    overdue = reminders.overdue_at(int(invoice["due_date"]))
    woke_at = private(invoice).get("next_reminder_at")
    return ctx.now() >= overdue and isinstance(woke_at, int) and woke_at <= overdue
