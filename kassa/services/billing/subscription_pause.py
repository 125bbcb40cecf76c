"""Pausing a subscription (`POST /v1/subscriptions/{id}/pause`, API 2026-09-30.endive) and
resuming it (`POST /v1/subscriptions/{id}/resume`), and pausing only its payment collection
(`pause_collection` on update).

A paused subscription (`status=paused`, `status_details.paused` saying `pause_requested`)
makes no invoices and its periods do not advance: no work is due but a scheduled
cancellation (`subscription_documents.next_work_at`), so neither the clock work nor the
renewal job looks at it otherwise. Pausing credits the unused part of the current
period (`bill_for[unused_time_from]`: from now by default, from the period's start, or none)
as pending proration items of the subscription, which its next invoice takes (or, with
`invoicing_behavior=invoice`, an invoice made at once, whose negative total becomes customer
credit). Kassa bills no metered usage, so `bill_for[outstanding_usage_through]` has nothing
to bill.

Resuming (charge_automatically only) either starts a new period now (`billing_cycle_anchor`
`{type: now}`, the default: the anchor moves to now and the whole period is invoiced,
pending items included, or its part up to a `cancel_at` inside it) or continues the period
around now on the old anchor (`unchanged`: the part of it not billed yet, up to a
`cancel_at` inside it, is prorated, each item over its own period,
`proration_behavior` create_prorations (pending, for the next renewal), always_invoice
(invoiced now) or none). With nothing to bill it is `active` at once. A resumption invoice
(`billing_reason=subscription_update`) is finalized in the request, and `payment_behavior`
says when the subscription resumes (Stripe's changelog, docs.stripe.com/changelog/endive/
2026-09-30/pause-subscription: it "controls whether it should resume when payment is
attempted, or only after payment succeeds"; docs.stripe.com/changelog/dahlia/2026-05-27/
pause-subscriptions for each value):

- `resume_on_payment_attempt` (the default): "no payment attempt during the resume
  request". The invoice is left open, not charged and never charged by itself
  (`auto_advance=false`), and the subscription stays `paused` until the first attempt on
  it (`POST /v1/invoices/{id}/pay`, the hosted invoice page, a confirmation of its
  PaymentIntent): paid, it resumes `active` (`resume_on_payment`); declined, it resumes
  all the same, `past_due` ("If collecting payment on the resumed subscription's invoice
  fails (for example with Pay Invoice), the subscription moves to `past_due`, and Stripe
  doesn't retry failed payments": `resume_on_failed_attempt`, the invoice's
  `next_payment_attempt` null).
- `resume_on_payment_success`: "attempts payment during the resume request. The
  subscription stays `paused` until payment succeeds, and Stripe retries failed
  payments": charged at once; paid, `active`; declined, still `paused`, its invoice open
  and retried on the dunning schedule (`invoice_collection.RETRY_AFTER_DAYS`), and the
  retry or `pay` that pays it resumes it (`resume_on_payment`). Once the retries run out
  the invoice stays open and the subscription paused (Stripe documents no final action for
  a paused subscription) until the merchant pays, voids or writes it off.

Either way (the SDK's resume docstring, 16.1.0): "If the invoice is paid or marked
uncollectible, the subscription becomes active. If the invoice is manually voided, the
subscription stays paused. If there is no payment attempt within 23 hours, Stripe voids the
invoice and the subscription stays paused". Resuming again is refused while the invoice is
open.

`pause_collection` leaves the status alone: renewals still make their invoices, kept as
drafts (`keep_as_draft`), or finalized and at once marked uncollectible or voided. At its
`resumes_at` it clears itself, as Stripe's does (`customer.subscription.updated`), and the
renewals after it are collected as usual (`resume_collection_if_due`, the subscription's
work then: `subscription_documents.next_work_at`).

A trial that ends with no payment method, under `trial_settings[end_behavior]
[missing_payment_method]=pause`, pauses the subscription the same way (`pause_at_trial_end`:
`status_details.paused` saying `trial_end_without_payment_method`, nothing credited, no
invoice), until it is resumed (Stripe: docs.stripe.com/billing/subscriptions/trials/
free-trials, "Create free trials without collecting payment method").

A resumption invoice with no payment attempt on it, still unpaid 23 hours after the resume
(`resume_on_payment_attempt` left alone) is voided, the subscription staying paused: that
moment (`RESUMING_EXPIRES_AT`) is work due, and its work then is `expire_resumption`. One
that was attempted (`resume_on_payment_success`) has no such moment: Stripe retries it.

Imports go one way: `subscriptions` and `subscription_cycle` import this module, never the
reverse.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Final

from kassa.errors import CardDeclined, InvalidParameter, InvalidRequest
from kassa.invariants import ensure
from kassa.params import UNSET, Enum, Param, Struct, Timestamp, Unset
from kassa.services.billing import (
    invoice_advance,
    invoice_documents,
    invoice_transitions,
)
from kassa.services.billing.subscription_changes import start_new_period
from kassa.services.billing.subscription_credits import DEBITS
from kassa.services.billing.subscription_discounts import forget_voided_uses
from kassa.services.billing.subscription_documents import (
    DECIDING_STATUS,
    ENDED,
    RESUMING_EXPIRES_AT,
    announce,
    current_period,
    item_period,
    items_of,
    load_subscription,
    private,
    save,
    set_item_period,
    shared_period,
    snapshot,
    view,
)
from kassa.services.billing.subscription_invoices import invoice_period
from kassa.services.billing.subscription_pending import collection_paused
from kassa.services.billing.subscription_periods import (
    Recurrence,
    Span,
    cut_at_cancel,
    cycle_period_containing,
    has_paid_until,
    note_paid_until_cut,
)
from kassa.services.billing.subscription_prorations import billed, make_prorations
from kassa.services.context import Context
from kassa.services.resource import ApiObject, Operation, request_parser

PAUSABLE: Final = ("active", "past_due", "trialing", "unpaid")
"""What may be paused: an `incomplete` subscription has nothing paid to pause, an ended one
nothing left."""
RESUMPTION_REASON: Final = "subscription_update"
"""The `billing_reason` of a resumption invoice: resuming is a change to the subscription
(as `billing_cycle_anchor=now` on update is); Stripe's docs do not name it."""
BILLED_UNTIL: Final = "billed_until"
"""Private fact of a paused subscription: until when its current period stays paid for once
the pause's credit is counted (the period's end when nothing was credited)."""
BILLED_UNTIL_ITEMS: Final = "billed_until_items"
"""Private fact beside `BILLED_UNTIL`: the same for each item, by id (items of mixed
intervals each have their own period); `BILLED_UNTIL` is then the earliest."""
RESUMING_INVOICE: Final = "resuming_invoice"
"""Private fact: the open resumption invoice of a paused subscription whose resume waits for
an attempt on it (`resume_on_payment_attempt`) or its payment (`resume_on_payment_success`)."""
RESUMES_INTO: Final = "resumes_into"
"""Private fact beside `RESUMING_INVOICE`: the anchor, period and trial end the subscription
takes once it resumes."""
RESUMES_ON: Final = "resumes_on"
"""Private fact beside `RESUMING_INVOICE`: the resume's `payment_behavior`, which says what a
failed attempt on that invoice does (a resume stored before it was kept waited for payment)."""
ON_ATTEMPT: Final = "resume_on_payment_attempt"
ON_SUCCESS: Final = "resume_on_payment_success"
RESUMPTION_EXPIRES_SECONDS: Final = 23 * 3_600
"""Stripe voids a resumption invoice with no payment attempt within 23 hours (as it expires
an incomplete subscription's first invoice)."""


def _typed(*values: str) -> Struct:
    """Endive's polymorphic parameters: an object whose `type` picks the variant."""
    return Struct({"type": Enum(values=values)}, required=("type",))


PAUSE_PARAMS: dict[str, Param] = {
    "type": Enum(values=("subscription",)),
    "invoicing_behavior": Enum(values=("invoice", "pending_invoice_item")),
    "bill_for": Struct(
        {
            "outstanding_usage_through": _typed("none", "now"),
            "unused_time_from": _typed("item_current_period_start", "none", "now"),
        }
    ),
}
RESUME_PARAMS: dict[str, Param] = {
    "billing_cycle_anchor": _typed("now", "unchanged"),
    "payment_behavior": Enum(values=(ON_ATTEMPT, ON_SUCCESS)),
    "proration_behavior": Enum(values=("always_invoice", "create_prorations", "none")),
    "proration_date": Timestamp(),
}
PAUSE_COLLECTION: Final = Struct(
    {
        "behavior": Enum(values=("keep_as_draft", "mark_uncollectible", "void")),
        "resumes_at": Timestamp(),
    },
    required=("behavior",),
    nullable=True,
)
"""The update parameter: `pause_collection[behavior]=...`, or `pause_collection=` to clear."""
PauseCollectionUpdate = dict[str, Any] | Unset
"""What the update's `pause_collection` asks (None: not sent)."""


@dataclass(frozen=True, kw_only=True)
class PauseSubscription:
    subscription: str
    type: str | None = None
    invoicing_behavior: str | None = None
    bill_for: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class ResumeSubscription:
    subscription: str
    billing_cycle_anchor: dict[str, Any] | None = None
    payment_behavior: str | None = None
    proration_behavior: str | None = None
    proration_date: int | None = None


# -- pause ----------------------------------------------------------------------------------


async def pause_subscription(ctx: Context, request: PauseSubscription) -> ApiObject:
    subscription = await load_subscription(ctx, request.subscription)
    ctx = await ctx.governed_by(subscription)
    _check_pausable(subscription)
    before = snapshot(subscription)
    unused_from = ((request.bill_for or {}).get("unused_time_from") or {}).get("type", "now")
    credits = await _credit_unused_time(ctx, subscription, unused_from)
    if credits and request.invoicing_behavior == "invoice":
        await _invoice_at_once(ctx, subscription)
    await _enter_pause(ctx, subscription, before, "pause_requested")
    return view(subscription)


async def pause_at_trial_end(ctx: Context, subscription: ApiObject, *, at: int) -> None:
    """The trial ended with no payment method and `missing_payment_method=pause`: paused
    in the trial's period, nothing credited (a trial was free) and no invoice made. `at`:
    when the trial ended, its `transitioned_at` however late the work pausing it runs."""
    await _enter_pause(
        ctx, subscription, snapshot(subscription), "trial_end_without_payment_method", at=at
    )


async def _enter_pause(
    ctx: Context, subscription: ApiObject, before: ApiObject, why: str, *, at: int | None = None
) -> None:
    transitioned = ctx.as_of(at)
    subscription["status"] = "paused"
    subscription["status_details"] = {
        "paused": {
            "subscription": {"type": why},
            "transitioned_at": transitioned,
            "type": "subscription",
        }
    }
    await save(ctx, subscription)
    await announce(ctx, "customer.subscription.updated", subscription, before)
    await announce(ctx, "customer.subscription.paused", subscription)


def _check_pausable(subscription: ApiObject) -> None:
    status = subscription["status"]
    if status == "paused":
        raise InvalidRequest(f"The subscription {subscription['id']} is already paused.")
    if status not in PAUSABLE:
        raise InvalidRequest(
            f"A subscription with status `{status}` cannot be paused; only active, past_due, "
            "trialing or unpaid subscriptions can.",
        )
    if subscription["billing_mode"]["type"] != "flexible":
        raise InvalidRequest("Only subscriptions with flexible billing mode can be paused.")
    if subscription["schedule"] is not None:
        raise InvalidRequest("Subscriptions with an attached schedule cannot be paused.")


async def _credit_unused_time(
    ctx: Context, subscription: ApiObject, unused_from: str
) -> list[ApiObject]:
    """Credit every item's unused time in its own period as pending proration items of the
    subscription (a trial's free time has nothing to give back); the items made."""
    now = ctx.now()
    billed_until: dict[str, int] = {}
    made = []
    for item in items_of(subscription):
        start, end = item_period(item)
        paid_from = {"now": now, "item_current_period_start": start, "none": end}[unused_from]
        if paid_from >= end or subscription["status"] == "trialing":
            billed_until[str(item["id"])] = end
            continue
        billed_until[str(item["id"])] = paid_from
        made += await make_prorations(
            ctx, subscription, str(item["id"]), billed(subscription, item), None, paid_from
        )
    private(subscription)[BILLED_UNTIL_ITEMS] = billed_until
    private(subscription)[BILLED_UNTIL] = min(billed_until.values())
    return made


async def _invoice_at_once(ctx: Context, subscription: ApiObject) -> None:
    """`invoicing_behavior=invoice`: the pause's credit on an invoice of its own, finalized
    now; its negative total is the customer's credit."""
    invoice = await invoice_period(
        ctx,
        subscription,
        billing_reason=RESUMPTION_REASON,
        trial=False,
        pending="subscription",
        with_items=False,
    )
    invoice["automatically_finalizes_at"] = ctx.now()
    await invoice_advance.advance_invoice(ctx, invoice)
    subscription["latest_invoice"] = invoice["id"]


# -- resume ---------------------------------------------------------------------------------


async def resume_subscription(ctx: Context, request: ResumeSubscription) -> ApiObject:
    subscription = await load_subscription(ctx, request.subscription)
    ctx = await ctx.governed_by(subscription)
    await check_resumable(ctx, subscription)
    before = snapshot(subscription)
    anchor = (request.billing_cycle_anchor or {}).get("type", "now")
    invoice = (
        await _restart_now(ctx, subscription)
        if anchor == "now"
        else await _continue_period(ctx, subscription, request)
    )
    # This unit decides the status from the invoice's fate, not the invoice hooks.
    ctx.memo[DECIDING_STATUS] = subscription["id"]
    behavior = request.payment_behavior or ON_ATTEMPT
    if invoice is not None and not await _settled(ctx, invoice, behavior):
        await _stay_paused(ctx, subscription, before, invoice, behavior)
        return view(subscription)
    if invoice is not None:
        subscription["latest_invoice"] = invoice["id"]
    subscription["status"] = "active"
    subscription["status_details"] = None
    _forget_waiting(subscription)
    await save(ctx, subscription)
    await announce(ctx, "customer.subscription.updated", subscription, before)
    await announce(ctx, "customer.subscription.resumed", subscription)
    return view(subscription)


async def _stay_paused(
    ctx: Context, subscription: ApiObject, before: ApiObject, invoice: ApiObject, behavior: str
) -> None:
    """The resumption invoice is open (not attempted yet, or declined under
    `resume_on_payment_success` and retried): nothing of the resume applies but its
    invoice until an attempt on it or its payment; resuming again waits until it is
    settled."""
    resumed_into = {
        "anchor": subscription["billing_cycle_anchor"],
        "period": list(current_period(subscription)),
        "periods": {str(i["id"]): list(item_period(i)) for i in items_of(subscription)},
        "trial_end": subscription["trial_end"],
        # What the resumption invoice debits: the credits of the period it resumes into.
        "debits": private(subscription).get(DEBITS),
    }
    subscription.clear()
    subscription.update(snapshot(before))
    subscription["latest_invoice"] = invoice["id"]
    facts = private(subscription)
    facts[RESUMING_INVOICE] = invoice["id"]
    facts[RESUMES_INTO] = resumed_into
    facts[RESUMES_ON] = behavior
    if not invoice["attempted"]:
        # Not attempted by then, it is voided (`expire_resumption`), unless a cancellation
        # comes first: 23 hours after the resume, its invoice's time (not a later reading of
        # the clock, a second on when the request crossed one). An attempted one is retried.
        facts[RESUMING_EXPIRES_AT] = int(invoice["created"]) + RESUMPTION_EXPIRES_SECONDS
    await save(ctx, subscription)
    await announce(ctx, "customer.subscription.updated", subscription, before)


async def resume_on_payment(ctx: Context, subscription: ApiObject, invoice: ApiObject) -> bool:
    """A paused subscription's resumption invoice paid (or written off) after the resume
    request: the resume it waited for applies now, `active`, into the period that invoice
    bills. False when the invoice is not the one it waits for."""
    if private(subscription).get(RESUMING_INVOICE) != invoice["id"]:
        return False
    await _resume_into(ctx, subscription, "active")
    return True


async def resume_on_failed_attempt(
    ctx: Context, subscription: ApiObject, invoice: ApiObject
) -> bool:
    """A failed attempt on a paused subscription's resumption invoice: under
    `resume_on_payment_attempt` the resume applies all the same, `past_due`, and the
    invoice is not retried (Stripe's changelog: "the subscription moves to `past_due`, and
    Stripe doesn't retry failed payments"; it was finalized not to advance, and stopping it
    again undoes an `auto_advance` the merchant turned back on). False, nothing done, when
    the invoice is not the one it waits for or the resume waits for its payment."""
    facts = private(subscription)
    if facts.get(RESUMING_INVOICE) != invoice["id"] or facts.get(RESUMES_ON) != ON_ATTEMPT:
        return False
    await invoice_advance.stop_invoice(ctx, invoice)
    await _resume_into(ctx, subscription, "past_due")
    return True


async def _resume_into(ctx: Context, subscription: ApiObject, status: str) -> None:
    """The resume a paused subscription waited for applies: the anchor, periods and trial
    end it was to take (`RESUMES_INTO`), and `status`; announced as the request would."""
    before = snapshot(subscription)
    into = private(subscription).pop(RESUMES_INTO)
    subscription["billing_cycle_anchor"] = into["anchor"]
    subscription["trial_end"] = into["trial_end"]
    if into.get("debits") is not None:
        private(subscription)[DEBITS] = into["debits"]
    by_item = into.get("periods") or {}
    for item in items_of(subscription):
        resumed = by_item.get(str(item["id"]), into["period"])
        set_item_period(item, (int(resumed[0]), int(resumed[1])))
    subscription["status"] = status
    subscription["status_details"] = None
    _forget_waiting(subscription)
    await save(ctx, subscription)
    await announce(ctx, "customer.subscription.updated", subscription, before)
    await announce(ctx, "customer.subscription.resumed", subscription)


def _forget_waiting(subscription: ApiObject) -> None:
    """Resumed: nothing of the pause or of a resumption that waited is kept."""
    facts = private(subscription)
    waiting = (RESUMING_INVOICE, RESUMES_INTO, RESUMES_ON, RESUMING_EXPIRES_AT)
    for key in (BILLED_UNTIL, BILLED_UNTIL_ITEMS, *waiting):
        facts.pop(key, None)


async def expire_resumption(ctx: Context, subscription: ApiObject) -> None:
    """A paused subscription's work at its `renews_at`: the resumption invoice it waits for,
    not attempted within 23 hours of the resume, is voided, and it stays paused with nothing
    else due but a scheduled cancellation (saving moves `renews_at` there)."""
    facts = private(subscription)
    expires_at = facts.get(RESUMING_EXPIRES_AT)
    if expires_at is not None and expires_at <= ctx.now():
        waiting = facts.pop(RESUMING_INVOICE, None)
        for key in (RESUMES_INTO, RESUMES_ON, RESUMING_EXPIRES_AT):
            facts.pop(key, None)
        if waiting is not None:
            # Voided when it expired, however late this work runs.
            await _void_if_open(ctx, str(waiting), at=int(expires_at))
    await save(ctx, subscription)


async def _void_if_open(ctx: Context, invoice_id: str, *, at: int) -> None:
    invoice = await invoice_documents.load_invoice(ctx, invoice_id)
    if invoice["status"] == "open":
        await invoice_transitions.void(ctx, invoice, at=at)
        await invoice_documents.save(ctx, invoice)


async def check_resumable(ctx: Context, subscription: ApiObject) -> None:
    """What `resume` and its preview (`subscription_preview`, `resume_at=now`) refuse."""
    if subscription["status"] != "paused":
        raise InvalidRequest(
            f"The subscription {subscription['id']} is not paused (its status is "
            f"`{subscription['status']}`); only a paused subscription can be resumed.",
        )
    if subscription["collection_method"] != "charge_automatically":
        raise InvalidRequest(
            "Only subscriptions with collection_method=charge_automatically can be resumed.",
        )
    waiting = private(subscription).get(RESUMING_INVOICE)
    if waiting is not None:
        invoice = await invoice_documents.load_invoice(ctx, str(waiting))
        if invoice["status"] == "open":
            raise InvalidRequest(
                f"The subscription's resumption invoice {waiting} is still open: pay it or "
                "void it before resuming again.",
            )


async def _restart_now(ctx: Context, subscription: ApiObject) -> ApiObject:
    """`billing_cycle_anchor=now`: a new period from now (`restart_period`), invoiced in
    full with the pending items (the pause's credit among them), or for its part when a
    `cancel_at` cuts it short."""
    spans = restart_period(ctx, subscription)
    invoice = await invoice_period(
        ctx,
        subscription,
        billing_reason=RESUMPTION_REASON,
        trial=False,
        pending="customer",
        spans=spans,
    )
    return invoice


def restart_period(ctx: Context, subscription: ApiObject) -> dict[str, Span]:
    """A resume's `billing_cycle_anchor=now` on the document: a new period from now, the
    anchor with it (`start_new_period`: each item's span, by id); a trial not over yet ends.
    What the resume does and its preview (`subscription_preview`, `resume_at=now`) shows."""
    now = ctx.now()
    if subscription["trial_end"] is not None and subscription["trial_end"] > now:
        subscription["trial_end"] = now
    return start_new_period(ctx, subscription)


async def _continue_period(
    ctx: Context, subscription: ApiObject, request: ResumeSubscription
) -> ApiObject | None:
    """`billing_cycle_anchor=unchanged`: the period around now on the old anchor, the part
    of it not billed yet prorated as `proration_behavior` says; the invoice, if one is made."""
    now = ctx.now()
    anchor = int(subscription["billing_cycle_anchor"])
    if anchor > now:
        raise InvalidParameter(
            "The subscription's billing cycle anchor (the end of its trial) is still to come: "
            "resume it with billing_cycle_anchor[type]=now.",
            param="billing_cycle_anchor[type]",
        )
    # Read before the periods move: an old pause's paid time defaults to the old period's end.
    paid_until = {
        str(item["id"]): _billed_until(subscription, item) for item in items_of(subscription)
    }
    for item in items_of(subscription):
        # A cancel_at set before the pause ends the period it falls in, as on renewal; what
        # an update's cut of this same period kept as paid stays.
        # The item's period around now on the old anchor, counted from its interval's
        # boundaries (an anchor clamped to a short month's end renews on its intended day),
        # by arithmetic however long the pause was.
        around = cycle_period_containing(subscription, Recurrence.of(item["price"]), now)
        set_item_period(item, cut_at_cancel(subscription, around))
        if not has_paid_until(subscription, item):
            note_paid_until_cut(subscription, item)
    at = _proration_time(request, shared_period(subscription), now)
    behavior = request.proration_behavior or "create_prorations"
    prorated = False
    for item in items_of(subscription):
        unbilled_from = max(at, paid_until[str(item["id"])])
        if behavior == "none" or unbilled_from >= item_period(item)[1]:
            continue
        await make_prorations(
            ctx, subscription, str(item["id"]), None, billed(subscription, item), unbilled_from
        )
        prorated = True
    if not prorated or behavior == "create_prorations":
        return None  # nothing to bill, or pending: the next renewal bills them
    return await invoice_period(
        ctx,
        subscription,
        billing_reason=RESUMPTION_REASON,
        trial=False,
        pending="subscription",
        with_items=False,
    )


def _billed_until(subscription: ApiObject, item: ApiObject) -> int:
    """Until when the item's paused period stays paid for (`BILLED_UNTIL_ITEMS`; a pause
    stored before it knew items by id has the one `BILLED_UNTIL`)."""
    facts = private(subscription)
    by_item = facts.get(BILLED_UNTIL_ITEMS) or {}
    found = by_item.get(str(item["id"]), facts.get(BILLED_UNTIL, item_period(item)[1]))
    return int(found)


def _proration_time(request: ResumeSubscription, period: tuple[int, int], now: int) -> int:
    if request.proration_date is None:
        return now
    if not period[0] <= request.proration_date < period[1]:
        raise InvalidParameter(
            f"proration_date must lie within the period the subscription resumes into "
            f"({period[0]} to {period[1]}).",
            param="proration_date",
        )
    return request.proration_date


async def _settled(ctx: Context, invoice: ApiObject, behavior: str) -> bool:
    """Finalize the resumption invoice, and charge it now under `resume_on_payment_success`;
    whether it is settled (paid, or nothing was due) and the subscription resumes now."""
    if behavior == ON_ATTEMPT:
        # No attempt in the request, and none by itself later: the integration pays it.
        await invoice_transitions.finalize_draft(ctx, invoice, auto_advance=False)
        await invoice_documents.save(ctx, invoice)
    else:
        invoice["automatically_finalizes_at"] = ctx.now()
        # A decline has recorded the failed attempt and its retry (it commits).
        with contextlib.suppress(CardDeclined):
            await invoice_advance.advance_invoice(ctx, invoice)
    return invoice["status"] in ("paid", "uncollectible")


# -- pause_collection -------------------------------------------------------------------------


def apply_pause_collection(
    subscription: ApiObject, value: PauseCollectionUpdate | None, *, now: int
) -> None:
    """The update's `pause_collection`: set (its `resumes_at` in the future), or cleared
    when sent empty; left alone when not sent."""
    if value is None:
        return
    if subscription["status"] in ENDED:
        raise InvalidRequest(
            f"A canceled subscription can only update its metadata; {subscription['id']} is "
            f"{subscription['status']}.",
            param="pause_collection",
        )
    if value is UNSET or isinstance(value, Unset):
        subscription["pause_collection"] = None
        return
    resumes_at = value.get("resumes_at")
    if resumes_at is not None and resumes_at <= now:
        raise InvalidParameter(
            "Invalid timestamp: pause_collection[resumes_at] must be in the future.",
            param="pause_collection[resumes_at]",
        )
    subscription["pause_collection"] = {"behavior": value["behavior"], "resumes_at": resumes_at}


async def resume_collection_if_due(ctx: Context, subscription: ApiObject) -> bool:
    """Clear a `pause_collection` whose `resumes_at` has come (saved, and announced as
    `customer.subscription.updated`); whether it did."""
    paused = collection_paused(subscription, ctx.now())
    if subscription["pause_collection"] is None or paused is not None:
        return False
    before = snapshot(subscription)
    subscription["pause_collection"] = None
    await save(ctx, subscription)
    await announce(ctx, "customer.subscription.updated", subscription, before)
    return True


async def collect_per_pause(ctx: Context, subscription: ApiObject, invoice: ApiObject) -> None:
    """A renewal's (or final) new draft under `pause_collection`: kept a draft that never
    advances, or finalized and marked uncollectible, or voided, and then a `once` discount
    it used is unused again (`subscription_discounts.forget_voided_uses`). Past its
    `resumes_at`, the pause clears itself and the invoice is collected as usual."""
    if subscription["pause_collection"] is None:
        return
    paused = collection_paused(subscription, ctx.now())
    if paused is None:
        subscription["pause_collection"] = None
        return
    ensure(invoice["status"] == "draft", "a renewal's invoice is a draft when it is made")
    behavior = paused["behavior"]
    if behavior == "keep_as_draft":
        invoice["auto_advance"] = False
        invoice["automatically_finalizes_at"] = None
    else:
        await invoice_transitions.finalize_draft(ctx, invoice, auto_advance=False)
        if invoice["status"] == "open" and behavior == "mark_uncollectible":
            await invoice_transitions.mark_uncollectible(ctx, invoice, reason="subscription_paused")
        elif invoice["status"] == "open":
            await invoice_transitions.void(ctx, invoice)
            await forget_voided_uses(ctx, subscription, str(invoice["id"]))
    await invoice_documents.save(ctx, invoice)


PAUSE_ACTIONS: Final[dict[str, Operation[Any]]] = {
    "pause": Operation(
        request_parser(PauseSubscription, PAUSE_PARAMS, ids=("subscription",)),
        pause_subscription,
        writes=True,
    ),
    "resume": Operation(
        request_parser(ResumeSubscription, RESUME_PARAMS, ids=("subscription",)),
        resume_subscription,
        writes=True,
    ),
}
PAUSE_EVENT_TYPES: Final = ("customer.subscription.paused", "customer.subscription.resumed")
