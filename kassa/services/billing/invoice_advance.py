"""Automatic advancement (`auto_advance=true`), as Stripe's "automatic collection": a draft is
finalized when its `automatically_finalizes_at` comes (an hour after creation unless set
otherwise), then a `charge_automatically` invoice is charged at once and a `send_invoice`
one is sent; an open auto-advancing invoice whose `next_payment_attempt` comes (a retry
after a decline, or an hour after a manual finalization) is charged again.

`advance_due_invoices` does this for every invoice with work due at "now" on the clock it is
given, in bounded batches (`due_invoices`), each invoice in a unit of work of its own (a
decline commits its failed charge and the invoice's failed attempt; any other failure rolls
the invoice's unit back and is recorded on it in a new one). The `invoices` background job
(`kassa.workers.invoices`, registered in `kassa.runtime.JOBS`) calls it every
`kassa.workers.invoices.ADVANCE_INTERVAL_SECONDS`.

Canceling a subscription turns automatic advancement off for its draft invoices and for
every open invoice of its customer, the subscription's or not (`stop_automatic_collection`):
Stripe's cancel guide (docs.stripe.com/billing/subscriptions/cancel) sets their
`auto_advance` to false, which stops finalization, retries and reminders, and its cancel
docstring: "By default, upon subscription cancellation, Stripe stops automatic collection of
all finalized invoices for the customer. This is intended to prevent unexpected payment
attempts after the customer has canceled a subscription." Collecting them by hand, or
turning `auto_advance` back on, still works. (Of the finalized statuses only `open` ever
advances: paid and void are closed, and marking one uncollectible already stops it.) The
customer's other drafts are not finalized, and keep advancing.

Test clocks: invoices of customers on a Stripe test clock are not advanced here (the scan
leaves out invoices with a `test_clock`): they live at their clock's frozen time and advance
when their clock does (`kassa.services.clock_advance`, which calls `advance_invoice` and
`record_failure` with a context governed by the clock).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from kassa.clock import Clock
from kassa.errors import CardDeclined, KassaError
from kassa.services.billing import (
    invoice_collection,
    invoice_documents,
    invoice_transitions,
    reminders,
)
from kassa.services.billing.due_invoices import load_due
from kassa.services.context import Context, PaymentConfig
from kassa.services.due_work import (
    STORE_FAILURES,
    DueScan,
    Postpone,
    postponed_if_failing,
    work_through_due,
)
from kassa.services.resource import ApiObject
from kassa.store import Store, Transaction
from kassa.store.invoice_queries import DueInvoice
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import INVOICES

STOPPED_PER_CANCEL_MAX: Final = 1_000
"""Draft invoices of one subscription, and open invoices of its customer, whose collection
its cancellation stops, each set (one per period left unpaid: a subscription left
`past_due` for years has dozens; a customer's one-off invoices left open, some more)."""

log = logging.getLogger("kassa.invoices")


@dataclass(frozen=True)
class _DueScan:
    """One of the job's two scans: what it reads, the invoice field it goes by, and how it
    postpones an invoice whose advance failed."""

    find: DueScan[DueInvoice]
    field: str
    postpone: Postpone[DueInvoice]


_FINALIZATIONS: Final = _DueScan(
    Transaction.invoices_due_to_finalize,
    "automatically_finalizes_at",
    Transaction.postpone_finalization,
)
_PAYMENT_ATTEMPTS: Final = _DueScan(
    Transaction.invoices_due_a_payment_attempt,
    "next_payment_attempt",
    Transaction.postpone_payment_attempt,
)


async def advance_due_invoices(store: Store, clock: Clock, payments: PaymentConfig) -> int:
    """Advance every invoice with work due now (bounded per run); the number advanced."""

    def handler(scan: _DueScan) -> Callable[[DueInvoice], Awaitable[int]]:
        async def handle(entry: DueInvoice) -> int:
            return await _advance_one(store, clock, payments, entry, scan)

        return handle

    # Drafts first: one finalized to be charged is charged at once, not by the second scan.
    advanced = 0
    for scan in (_FINALIZATIONS, _PAYMENT_ATTEMPTS):
        advanced += await work_through_due(store, clock, scan.find, handler(scan))
    return advanced


async def _advance_one(
    store: Store, clock: Clock, payments: PaymentConfig, entry: DueInvoice, scan: _DueScan
) -> int:
    """One invoice's advance in a unit of its own (`due_work.postponed_if_failing`). A
    `KassaError` (rolled back whole) is recorded on the invoice so the job does not try it
    again; any other error of the invoice's (a stored invoice the code cannot advance: it
    names a customer that is gone, a field is missing), or one recording the failure, is
    logged and the invoice tried again an hour later (`due_work.FAILED_WORK_RETRY_SECONDS`):
    ending the job's round there would stop every invoice due after it until a person
    repaired it."""

    async def advance(tx: Transaction) -> int:
        ctx = Context(account_id=entry.account_id, tx=tx, clock=clock, payments=payments)
        loaded = await load_due(ctx, entry)
        if loaded is None:
            return 0
        # A decline has recorded the failed charge and attempt: they commit.
        with contextlib.suppress(CardDeclined):
            await advance_invoice(*loaded)
        return 1

    async def record(error: KassaError) -> bool:
        return await _recorded(store, clock, payments, entry, scan, error)

    failed = (log, "invoice %s could not advance: %s")
    return await postponed_if_failing(store, clock, entry, advance, scan.postpone, failed, record)


async def _recorded(
    store: Store,
    clock: Clock,
    payments: PaymentConfig,
    entry: DueInvoice,
    scan: _DueScan,
    error: KassaError,
) -> bool:
    """The failure recorded on the invoice (or nothing to record: it has moved on since the
    scan); False when recording it failed too."""
    try:
        async with store.write() as tx:
            ctx = Context(account_id=entry.account_id, tx=tx, clock=clock, payments=payments)
            found = await invoice_documents.find_invoice(ctx, entry.invoice_id)
            # Advanced, rescheduled or gone since the scan (another worker's unit): the
            # failure is not its state any more, and recording it would undo that unit's.
            if found is None or found[1] or found[0].get(scan.field) != entry.due_at:
                return True
            invoice = found[0]
            await record_failure(await ctx.governed_by(invoice), invoice, error)
            return True
    except STORE_FAILURES:
        raise
    except Exception:
        log.exception("invoice %s: its failure could not be recorded", entry.invoice_id)
        return False


async def advance_invoice(ctx: Context, invoice: ApiObject) -> None:
    """Do the work due on one invoice at `ctx.now()` (nothing when none is due)."""
    now = ctx.now()
    if invoice["status"] == "draft":
        finalizes_at = invoice["automatically_finalizes_at"]
        if not invoice["auto_advance"] or finalizes_at is None or finalizes_at > now:
            return
        await invoice_transitions.finalize_draft(
            ctx, invoice, auto_advance=None, charged_at_once=True
        )
        if invoice["status"] == "open" and invoice["collection_method"] == "send_invoice":
            await invoice_transitions.send(ctx, invoice)
        if invoice["status"] == "open" and invoice["collection_method"] == "charge_automatically":
            await _attempt_payment(ctx, invoice)
        await invoice_documents.save(ctx, invoice)
        return
    attempt_at = invoice["next_payment_attempt"]
    if invoice["status"] == "open" and attempt_at is not None and attempt_at <= now:
        await _attempt_payment(ctx, invoice)
        await invoice_documents.save(ctx, invoice)


async def _attempt_payment(ctx: Context, invoice: ApiObject) -> None:
    """An automatic attempt (it counts in `attempt_count`); with no payment method to
    charge it fails as a decline would, without a charge."""
    try:
        await invoice_collection.collect(
            ctx, invoice, payment_method=None, off_session=True, automatic=True
        )
    except invoice_collection.NoPaymentMethod:
        await invoice_collection.record_no_payment_method(ctx, invoice)


def _finalization_error(error: KassaError) -> dict[str, Any]:
    return {
        "advice_code": None,
        "charge": None,
        "code": error.code,
        "decline_code": error.decline_code,
        "doc_url": None,
        "message": error.message,
        "network_advice_code": None,
        "network_decline_code": None,
        "param": error.param,
        "payment_intent": None,
        "payment_method": None,
        "payment_method_type": None,
        "request_log_url": None,
        "setup_intent": None,
        "source": None,
        "type": "invalid_request_error",
    }


async def record_failure(ctx: Context, invoice: ApiObject, error: KassaError) -> None:
    """After advancing the (locked) invoice failed otherwise than by a decline and rolled
    back: a draft that could not be finalized keeps Stripe's `last_finalization_error` and
    is not scheduled again (`invoice.finalization_failed`); an open invoice whose attempt
    failed is not retried."""
    invoice["next_payment_attempt"] = None
    if invoice["status"] == "draft":
        invoice["automatically_finalizes_at"] = None
        invoice["last_finalization_error"] = _finalization_error(error)
        await invoice_documents.save(ctx, invoice)
        await invoice_documents.announce(ctx, "invoice.finalization_failed", invoice)
    else:
        await invoice_documents.save(ctx, invoice)


async def stop_automatic_collection(ctx: Context, subscription: ApiObject) -> int:
    """The subscription is canceled: its drafts and its customer's open invoices stop
    advancing by themselves (no finalization, payment retry or reminder is due on them any
    more), each announced with `invoice.updated`; how many were stopped."""
    drafts = {"subscription": subscription["id"]}, "draft"
    finalized = {"customer": subscription["customer"]}, "open"
    stopped = 0
    for equals, status in (drafts, finalized):
        stopped += await _stop_listed(ctx, subscription["id"], equals, status)
    return stopped


async def _stop_listed(
    ctx: Context, subscription_id: str, equals: dict[str, Any], status: str
) -> int:
    """Stop the invoices in `status` that match `equals` (up to `STOPPED_PER_CANCEL_MAX`)."""
    page = await ctx.tx.list_objects(
        INVOICES,
        ctx.account_id,
        ObjectListQuery(limit=STOPPED_PER_CANCEL_MAX, equals=equals, any_of={"status": (status,)}),
    )
    if page.has_more:
        log.warning(
            "subscription %s canceled: only %d %s invoices stopped",
            subscription_id,
            len(page.objects),
            status,
        )
    stopped = 0
    for listed in page.objects:
        # Read as listed first: most of a customer's open invoices may have nothing due.
        if _advancing(listed):
            stopped += await stop_invoice(
                ctx, await invoice_documents.load_invoice(ctx, listed["id"])
            )
    return stopped


async def stop_invoice(ctx: Context, invoice: ApiObject) -> int:
    """Stop one (locked) invoice's automatic advancement, stored and announced; 1 when
    anything was still due on it, else 0 and nothing written."""
    if invoice["status"] not in ("draft", "open") or not _advancing(invoice):
        return 0
    before = invoice_documents.view(invoice)
    stop_advancing(invoice)
    await invoice_documents.save(ctx, invoice)
    if invoice_documents.view(invoice) != before:
        await invoice_documents.announce(ctx, "invoice.updated", invoice, before=before)
    return 1


def _advancing(invoice: Mapping[str, Any]) -> bool:
    """Whether anything would advance the invoice by itself."""
    reminded = reminders.wants_reminders(invoice)  # else its instant only watches the due date
    due_at = (
        invoice["automatically_finalizes_at"],
        invoice["next_payment_attempt"],
        invoice_documents.private(invoice).get("next_reminder_at") if reminded else None,
    )
    return bool(invoice["auto_advance"]) or any(at is not None for at in due_at)


def stop_advancing(invoice: ApiObject) -> None:
    """`auto_advance=false` on a draft or open invoice: nothing the billing engine does is
    due on it any more; its due date passing is still watched (`reminders.due_date_watch`:
    the customer's `delinquent` flag)."""
    invoice["auto_advance"] = False
    invoice["automatically_finalizes_at"] = None
    invoice["next_payment_attempt"] = None
    kept = invoice_documents.private(invoice)
    seen = reminders.due_date_seen(invoice, kept.get("next_reminder_at"))
    kept["next_reminder_at"] = reminders.due_date_watch(invoice, overdue_seen=seen)
