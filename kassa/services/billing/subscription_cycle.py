"""What happens to a subscription as time passes, at its `renews_at` (on its governing clock:
a test clock's work in clock order, or the `invoices` job in real time), and as its invoices
are paid or not:

- an `incomplete` subscription whose first invoice is still unpaid 23 hours after creation
  expires: `incomplete_expired` (`canceled_at` and `ended_at` then), its invoice voided (it
  had no retry scheduled: `invoice_collection`);
- at the end of a period with `cancel_at_period_end`, or at its `cancel_at`, it is canceled
  (`customer.subscription.deleted`), the items still pending for it (the prorations of
  changes since its last invoice, items given to it) first collected on a final invoice
  (`end_as_scheduled`); it ended at its `cancel_at` however late this work runs, and a
  period that ended before `cancel_at` is renewed first, up to it, even by work run after
  it (`subscription_terms.cancel_due`): the time before the end is billed;
- otherwise the next period begins (`subscription_renewal.invoice_next_period`, which an
  update's `trial_end=now` runs too): every item's `current_period_*` moves on (a trial's end
  starts the first paid period, at the billing cycle anchor, and the subscription becomes
  `active`), and the period's invoice (`billing_reason=subscription_cycle`) is made as an
  auto-advancing draft, which the invoice work finalizes an hour later and charges. With
  items of mixed intervals only the items whose periods end then move on, and the invoice
  has their lines alone: one invoice when periods align, separate ones when they diverge
  (Stripe's mixed-interval guide); the next renewal is the earliest item period end, so
  `cancel_at_period_end` ends the subscription there (Stripe: it "always resolves to the
  earliest item period end"), canceling every item, and one dunning outcome covers the
  whole subscription whichever items an unpaid invoice billed;
- an invoice of the subscription paid makes an `incomplete` or `past_due` one `active`; a
  failed charge of a renewal makes an `active` one `past_due` (`on_invoice_paid`,
  `on_invoice_payment_failed`, told by the invoice path through `kassa.services.hooks`).
  An invoice of it voided or marked uncollectible by the merchant, a `past_due` or
  `unpaid` one takes its status from its most recent invoice not voided: paid or
  uncollectible (or none), `active`; still open, unchanged (`on_invoice_closed`). Stripe's
  subscriptions overview: for past_due subscriptions, "paying the latest associated invoice
  or marking it uncollectible transitions the subscription to active", and "voided invoices
  don't affect subscription status", which "Stripe determines from the most recent
  non-voided invoice". A paused one's resumption invoice marked uncollectible resumes it
  ("If the invoice is paid or marked uncollectible, the subscription becomes active. If the
  invoice is manually voided, the subscription stays paused": the resume docstring); one
  resumed with `resume_on_payment_attempt` resumes `past_due` on a failed attempt on it
  (`subscription_pause.resume_on_failed_attempt`). An
  `incomplete` one is left as it is: Stripe's docs say nothing of its first invoice voided
  or written off, and it expires 23 hours after creation all the same.

- before a renewal charged automatically, `invoice.upcoming` once per period, the number of
  days `KASSA_UPCOMING_RENEWAL_DAYS` says (`subscription_upcoming`);

- three days before a trial ends, `customer.subscription.trial_will_end` (once); at its end,
  with no payment method to charge (none on the subscription nor on its customer, what
  Stripe checks), `trial_settings[end_behavior][missing_payment_method]` decides: `cancel`
  cancels it (`customer.subscription.deleted`), `pause` pauses it until it is resumed
  (`subscription_pause.pause_at_trial_end`), `create_invoice` (the default) begins the first
  paid period as with one.

- an `unpaid` subscription's renewals are kept as drafts that do not advance by themselves
  (`_keep_as_draft`).

- once a renewal's last retry has failed, the configured final action: canceled (the
  default, `cancellation_details.reason=payment_failed`), `unpaid`, or left `past_due`; the
  invoice left open (default) or marked uncollectible. Canceled so (or at a trial's end
  for want of a payment method), it is canceled at once as a `DELETE` sent nothing
  cancels it (`subscriptions.cancel_now`): its pending prorations are removed.

- a renewal takes the pending items the customer has for it (`subscription_pending`: the
  prorations of changes since the last one, items that name no subscription); a paused
  subscription has no work due but a scheduled cancellation or the expiry of the resumption
  invoice it waits for (`subscription_pause.expire_resumption`), and one whose collection is
  paused has its renewal invoices kept as drafts, made uncollectible or voided
  (`subscription_pause`) until the pause's `resumes_at`, when it clears
  (`subscription_pause.resume_collection_if_due`).

- canceled, its open and draft invoices are no longer collected automatically
  (`subscriptions.end_subscription`).

- a pending update (`subscription_pending_updates`) is applied when the invoice it waits for
  is paid, and discarded, that invoice voided, at its `expires_at` (before any other work
  then due).

Each change announces `customer.subscription.updated` with what it changed.
"""

from __future__ import annotations

import logging
from typing import Final

from kassa.clock import Clock
from kassa.services.billing import (
    discounts,
    invoice_advance,
    invoice_documents,
    invoice_transitions,
    subscription_settings,
    subscription_terms,
)
from kassa.services.billing import subscription_pending_updates as pending_updates
from kassa.services.billing.invoice_collection import RETRY_AFTER_DAYS
from kassa.services.billing.subscription_create import announce_trial_will_end
from kassa.services.billing.subscription_documents import (
    DECIDING_STATUS,
    INCOMPLETE_EXPIRES_SECONDS,
    announce,
    find,
    next_work_at,
    save,
    snapshot,
)
from kassa.services.billing.subscription_final import final_items, invoice_final
from kassa.services.billing.subscription_pause import (
    RESUMPTION_REASON,
    expire_resumption,
    pause_at_trial_end,
    resume_collection_if_due,
    resume_on_failed_attempt,
    resume_on_payment,
)
from kassa.services.billing.subscription_renewal import invoice_next_period
from kassa.services.billing.subscription_trials import has_payment_method, trial_will_end_due
from kassa.services.billing.subscription_upcoming import announce_upcoming, upcoming_notice_due
from kassa.services.billing.subscriptions import cancel_now, end_subscription
from kassa.services.context import Context, PaymentConfig
from kassa.services.due_work import postponed_if_failing, work_through_due
from kassa.services.resource import ApiObject
from kassa.store import Store, Transaction
from kassa.store.clock_queries import DueSubscription
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import INVOICES

TRIAL_END_CANCEL_REASON: Final = "cancellation_requested"
"""`cancellation_details.reason` of a subscription canceled at the end of its trial for want
of a payment method: Stripe's reasons (cancellation_requested, payment_failed,
payment_disputed) name none for it, and the merchant asked for this end when it set
`missing_payment_method=cancel`."""

FINAL_INVOICE_BILLING_REASON: Final = "subscription_cycle"
"""`billing_reason` of the final invoice a scheduled end makes of what the subscription left
pending. Stripe's docs say the prorations are "collected at the end of the period" (cancel
docstring) but not under which reason; it is the invoice made when the period ends, where a
renewal's would be (`subscription_cycle`: "a subscription advanced into a new period"), not
one an update made (`subscription_update`, what `invoice_now` gives its final invoice)."""

log = logging.getLogger("kassa.subscriptions")


async def renew(ctx: Context, subscription: ApiObject) -> None:
    """The subscription's work due at `ctx.now()` (its governing time), if any."""
    await pending_updates.expire_if_due(ctx, subscription)  # first: due no later than the rest
    due = next_work_at(subscription)
    if due is None or due > ctx.now():
        # Picked, yet nothing is due: the `renews_at` the scheduler went by is not the one
        # the document implies (written before it was derived on every save, or reset by
        # migration 0037 so that such rows are visited once). Saving stores the derived one;
        # without it the row would be picked again at once, and a test clock's advance fail.
        await save(ctx, subscription)
        return
    if subscription["status"] == "incomplete":
        await _expire(ctx, subscription)
        return
    # First, as Stripe clears it at `resumes_at`: whatever is due with it is collected.
    if await resume_collection_if_due(ctx, subscription) and not _work_due(ctx, subscription):
        return
    if subscription_terms.cancel_due(subscription, ctx.now()):
        await end_as_scheduled(ctx, subscription)
        return
    if subscription["status"] == "paused":
        # Paused, the only other work is a waiting resumption invoice's expiry.
        await expire_resumption(ctx, subscription)
        return
    trial_end = subscription["trial_end"]
    if trial_end is not None and ctx.now() < trial_end:
        # Its notices: `trial_will_end`, `invoice.upcoming` (each once), whichever are due.
        if trial_will_end_due(subscription, ctx.now()):
            await announce_trial_will_end(ctx, subscription)
        if upcoming_notice_due(subscription, ctx.now()):
            await announce_upcoming(ctx, subscription)
        return
    if upcoming_notice_due(subscription, ctx.now()):
        await announce_upcoming(ctx, subscription)
        return
    if subscription["cancel_at_period_end"]:
        await end_as_scheduled(ctx, subscription)
        return
    if subscription["status"] == "trialing" and await _trial_ends_unpaid(ctx, subscription):
        return
    await _next_period(ctx, subscription)


def _work_due(ctx: Context, subscription: ApiObject) -> bool:
    due = next_work_at(subscription)
    return due is not None and due <= ctx.now()


async def end_as_scheduled(ctx: Context, subscription: ApiObject) -> None:
    """Its `cancel_at` (or the period end `cancel_at_period_end` named) has come: what it
    left pending is collected on a final invoice, finalized and charged (or sent) at once by
    the path a cancellation's `invoice_now` takes, then it is canceled. Stripe's cancel
    docstring: "If you've set the subscription to cancel at the end of the period, any
    pending prorations will also be left in place and collected at the end of the period."
    Only its own items (`subscription_pending`'s `subscription` scope): the customer's
    others wait for the customer's next invoice; none pending, no invoice.

    Collected before the cancellation stops automatic collection of its invoices, which
    would leave a draft never finalized. One unit with the end: a unit rolled back does
    neither, and once committed the items are on the invoice and the subscription has no
    work due, so a run again makes no second one.

    It ends at its `cancel_at` (which `cancel_at_period_end` sets to the period's end),
    however late this work runs (the real-time job polls, and a server down for a day runs
    it a day late): that is its `ended_at` and the end of its final invoice's period, as
    the preview of that invoice shows it (`subscription_preview`). Under `pause_collection`
    that invoice is treated as any made while collection is paused (`subscription_final`):
    one the pause would void takes nothing, so none is made."""
    cancel_at = subscription["cancel_at"]
    end = ctx.as_of_clamped(cancel_at)
    if await final_items(ctx, subscription):
        await invoice_final(ctx, subscription, FINAL_INVOICE_BILLING_REASON, end=end)
    await end_subscription(ctx, subscription, "cancellation_requested", ended_at=end)


async def _trial_ends_unpaid(ctx: Context, subscription: ApiObject) -> bool:
    """The trial ends now: with no payment method and `missing_payment_method` `cancel` or
    `pause`, it is canceled or paused instead of billed (True); else False, and the first
    paid period begins."""
    behavior = subscription_terms.missing_payment_method_behavior(subscription)
    if behavior == "create_invoice" or await has_payment_method(ctx, subscription):
        return False
    # It ended unpaid at `trial_end`, however late this work runs (the real-time job after
    # a server was down): that is when it was canceled or paused, as a scheduled end keeps
    # its `cancel_at` (`end_as_scheduled`).
    ended = ctx.as_of_clamped(subscription["trial_end"])
    if behavior == "cancel":
        await cancel_now(ctx, subscription, TRIAL_END_CANCEL_REASON, ended_at=ended)
    else:
        await pause_at_trial_end(ctx, subscription, at=ended)
    return True


async def _expire(ctx: Context, subscription: ApiObject) -> None:
    before = snapshot(subscription)
    subscription["status"] = "incomplete_expired"
    # It expired when due, 23 hours after creation, however late this work runs.
    due = int(subscription["created"]) + INCOMPLETE_EXPIRES_SECONDS
    subscription["ended_at"] = ctx.as_of_clamped(due)
    # Expiring cancels it: Stripe's `incomplete_expired` subscriptions carry `canceled_at`
    # with `ended_at` (a real event's payload, quoted in pay-rails/pay issue 91).
    subscription["canceled_at"] = subscription["ended_at"]
    latest = subscription["latest_invoice"]
    if latest is not None:
        invoice = await invoice_documents.load_invoice(ctx, str(latest))
        if invoice["status"] == "open":
            await invoice_transitions.void(ctx, invoice, at=subscription["ended_at"])
            await invoice_documents.save(ctx, invoice)
    await save(ctx, subscription)
    await announce(ctx, "customer.subscription.updated", subscription, before)


async def _next_period(ctx: Context, subscription: ApiObject) -> None:
    """The items whose periods end now begin their next (all of them unless their intervals
    differ), on one invoice with their lines only; the next renewal is then the earliest
    end among all items' (`subscription_documents.next_work_at`). Idempotent as the rest of
    the work: run again, `renews_at` has moved past now."""
    before = snapshot(subscription)
    # The steps its preview shows too: `subscription_renewal`.
    # The discounts in force at the new period's start (its default), where a renewal on
    # time runs: one run late (the real-time job after a server was down) takes the same.
    invoice = await invoice_next_period(ctx, subscription, billing_reason="subscription_cycle")
    if subscription["status"] == "unpaid":
        await _keep_as_draft(ctx, invoice)
    await save(ctx, subscription)
    await announce(ctx, "customer.subscription.updated", subscription, before)


async def _keep_as_draft(ctx: Context, invoice: ApiObject) -> None:
    """An `unpaid` subscription's renewal is made but never finalized nor charged by itself
    (`auto_advance=false`): Stripe's subscriptions overview, "For unpaid subscriptions, the
    latest invoice remains open but payments aren't attempted. Invoices continue to be
    generated each billing cycle and remain in draft state" (reactivated by setting
    `auto_advance` back to true on them, or finalizing and paying them)."""
    if invoice["status"] != "draft" or not invoice["auto_advance"]:
        return  # held already (`pause_collection`), or settled at once
    invoice_advance.stop_advancing(invoice)
    await invoice_documents.save(ctx, invoice)


# -- told by the invoice path ------------------------------------------------------------------


def _billed_subscription(invoice: ApiObject) -> str | None:
    """The subscription whose status the invoice's outcome moves: its parent's, unless the
    invoice was created through the API (`POST /v1/invoices subscription=`, billing reason
    `manual`): that one bills the subscription's pending items only, and the subscription's
    status follows the invoices it makes itself."""
    if invoice.get("billing_reason") == invoice_documents.MANUAL_BILLING_REASON:
        return None
    return discounts.parent_subscription(invoice)


async def on_invoice_paid(ctx: Context, invoice: ApiObject) -> None:
    subscription_id = _billed_subscription(invoice)
    if subscription_id is None or ctx.memo.get(DECIDING_STATUS) == subscription_id:
        return
    subscription = await find(ctx, subscription_id)
    if subscription is None:
        return
    applied = await pending_updates.apply_if_paid(ctx, subscription, invoice) or (
        subscription["status"] == "paused" and await resume_on_payment(ctx, subscription, invoice)
    )
    # After those paths' own update (each saved and announced its change): the payment
    # method saved is a change of its own, with its own previous_attributes.
    before = snapshot(subscription)
    method_saved = await subscription_settings.save_paying_method(ctx, subscription, invoice)
    activated = not applied and await _activated_by(ctx, subscription, invoice)
    if activated or method_saved:
        await save(ctx, subscription)
        await announce(ctx, "customer.subscription.updated", subscription, before)


async def _activated_by(ctx: Context, subscription: ApiObject, paid: ApiObject) -> bool:
    """The paid invoice makes an `incomplete`, `past_due` or `unpaid` subscription `active`
    (an incomplete one's work begins: its renewal, no expiry), unless a newer invoice of a
    past-due or unpaid one is still open."""
    if subscription["status"] not in ("incomplete", "past_due", "unpaid"):
        return False
    if subscription["status"] != "incomplete" and await _newer_unpaid(ctx, subscription, paid):
        return False
    subscription["status"] = "active"
    return True


def _retried_all(invoice: ApiObject) -> bool:
    """Dunning ran out on the invoice: still advancing by itself, every retry made."""
    return bool(invoice["auto_advance"]) and invoice["attempt_count"] > len(RETRY_AFTER_DAYS)


async def _newer_unpaid(ctx: Context, subscription: ApiObject, paid: ApiObject) -> bool:
    """A `past_due` or `unpaid` subscription's invoice was paid, yet a more recent invoice of
    it (not voided) is still open: its status stands, as `on_invoice_closed` has it. Stripe's
    `past_due`: "Payment on the latest invoice either failed or wasn't attempted"."""
    deciding = await _most_recent_not_voided(ctx, str(subscription["id"]))
    return deciding is not None and deciding["id"] != paid["id"] and deciding["status"] == "open"


async def on_invoice_payment_failed(ctx: Context, invoice: ApiObject) -> None:
    """A renewal's charge failed: `past_due`; once the last retry of any of its invoices
    (an update's too; not its first invoice, which expires instead: `_expire`) has failed
    (no next attempt), the configured final action (`PaymentConfig.subscription_final_*`),
    and the invoice no longer advances by itself (`auto_advance=false`: Stripe stops
    trying). Stripe's subscriptions overview: "Once Stripe has exhausted all payment retry
    attempts, the subscription will become canceled or unpaid"."""
    subscription_id = _billed_subscription(invoice)
    reason = invoice.get("billing_reason")
    if subscription_id is None or reason == "subscription_create":
        return
    retries_exhausted = invoice["status"] == "open" and invoice["next_payment_attempt"] is None
    if reason != "subscription_cycle" and not (retries_exhausted and _retried_all(invoice)):
        # An update's invoice declined: what the update's `payment_behavior` says; a paused
        # subscription's resumption invoice: what the resume's says.
        await _resumption_failed(ctx, subscription_id, invoice)
        return
    subscription = await find(ctx, subscription_id)
    if subscription is None or subscription["status"] not in ("active", "past_due"):
        return
    before = snapshot(subscription)
    if retries_exhausted:
        if ctx.payments.subscription_final_invoice == "uncollectible":
            await invoice_transitions.mark_uncollectible(
                ctx, invoice, reason="max_payment_attempts"
            )
            await invoice_documents.save(ctx, invoice)
        else:
            # Left open, it is no longer retried; this unit holds it, so it stops here (and
            # before a cancellation stops the rest).
            await invoice_advance.stop_invoice(ctx, invoice)
    action = ctx.payments.subscription_final_action if retries_exhausted else "past_due"
    if action == "cancel":
        await cancel_now(ctx, subscription, "payment_failed")
        return
    subscription["status"] = action
    if subscription != before:
        await save(ctx, subscription)
        await announce(ctx, "customer.subscription.updated", subscription, before)


async def _resumption_failed(ctx: Context, subscription_id: str, invoice: ApiObject) -> None:
    """A declined attempt on the invoice of a subscription's change: one waiting for it to
    resume (`resume_on_payment_attempt`) resumes `past_due`; no other is moved here (an
    update's or resume's own request decides its status)."""
    if invoice.get("billing_reason") != RESUMPTION_REASON:
        return
    if ctx.memo.get(DECIDING_STATUS) == subscription_id:
        return
    subscription = await find(ctx, subscription_id)
    if subscription is not None and subscription["status"] == "paused":
        await resume_on_failed_attempt(ctx, subscription, invoice)


CLOSED_RECONSIDERED: Final = ("past_due", "unpaid")
"""The statuses an invoice voided or marked uncollectible by the merchant may end: those
its latest invoice going unpaid gave."""
DECIDING_STATUSES: Final = ("open", "paid", "uncollectible")
"""The invoices a subscription's status follows: finalized and not voided."""


async def on_invoice_closed(ctx: Context, invoice: ApiObject) -> None:
    """The merchant voided one of the subscription's invoices or marked it uncollectible:
    its status follows its most recent invoice not voided (Stripe's subscriptions
    overview), which is then paid or uncollectible (or there is none): `active`; still
    open (an older one, or a newer one than this): the status it gave stands. Only that
    one decides: an older invoice closed while a newer one is unpaid changes nothing."""
    subscription_id = _billed_subscription(invoice)
    subscription = None if subscription_id is None else await find(ctx, subscription_id)
    if subscription is None:
        return
    if subscription["status"] == "paused" and invoice["status"] == "uncollectible":
        await resume_on_payment(ctx, subscription, invoice)  # its resumption invoice only
        return
    if subscription["status"] not in CLOSED_RECONSIDERED:
        return
    deciding = await _most_recent_not_voided(ctx, str(subscription["id"]))
    if deciding is not None and deciding["status"] == "open":
        return
    before = snapshot(subscription)
    subscription["status"] = "active"
    await save(ctx, subscription)
    await announce(ctx, "customer.subscription.updated", subscription, before)


async def _most_recent_not_voided(ctx: Context, subscription_id: str) -> ApiObject | None:
    """The subscription's newest finalized invoice that is not void (drafts decide
    nothing: Stripe's `past_due` is about "the latest finalized invoice")."""
    page = await ctx.tx.list_objects(
        INVOICES,
        ctx.account_id,
        ObjectListQuery(
            limit=1,
            equals={"subscription": subscription_id},
            any_of={"status": DECIDING_STATUSES},
        ),
    )
    return page.objects[0] if page.objects else None


# -- in real time ------------------------------------------------------------------------------


async def renew_due_subscriptions(store: Store, clock: Clock, payments: PaymentConfig) -> int:
    """Every subscription (not on a test clock) with work due now, each in a unit of its
    own, bounded per run (`due_work.work_through_due`); the number renewed. A renewal
    that fails is rolled back and its `renews_at` column moved an hour on
    (`due_work.FAILED_WORK_RETRY_SECONDS`): tried again then, or at once once a save of
    the subscription stores its derived value again."""

    async def handle(entry: DueSubscription) -> int:
        return await _renew_one(store, clock, payments, entry)

    return await work_through_due(store, clock, Transaction.subscriptions_due, handle)


async def _renew_one(
    store: Store, clock: Clock, payments: PaymentConfig, entry: DueSubscription
) -> int:
    async def work(tx: Transaction) -> int:
        ctx = Context(account_id=entry.account_id, tx=tx, clock=clock, payments=payments)
        subscription = await find(ctx, entry.subscription_id)
        if subscription is None:
            return 0
        await renew(await ctx.governed_by(subscription), subscription)
        return 1

    # A failed renewal is rolled back whole, and still due: tried again in an hour.
    failed = (log, "subscription %s could not renew: %s")
    return await postponed_if_failing(
        store, clock, entry, work, Transaction.postpone_subscription_work, failed
    )
