"""The current periods of a subscription fitted to an end an update reschedules (`cancel_at`,
`cancel_at_period_end`), and the prorations that makes (`subscription_changes` calls it).

A `cancel_at` cleared or moved later (`cancel_at`, `cancel_at_period_end` on update) gives
each item period it had cut short (on create, or when a period began) its regular end back,
the one the billing cycle anchor implies (the trial's end on trial), or the new `cancel_at`
if that comes first (`subscription_periods.restoration`), so the next renewal is on the
regular cycle again. Stripe: a `cancel_at` "set to a date before the current period ends ...
will cause a proration if prorations have been enabled" (the update parameter's docstring;
its cancel guide: a custom cancellation date generates a credit proration unless
`proration_behavior=none`); removed, the regular period comes back and a new proration
reverses that one. Kassa's proration for the shorter period is the part of the price its
invoice billed for it, so the time given back is charged, over the same whole period
(`proration_behavior`: pending, at once, or not at all); nothing for a trial, or for a
first period billed whole.

A `cancel_at` set on update inside an item's current period (or moved earlier inside it)
cuts that period short there, as one given on create cuts the first (`fit_periods_to_end`;
what Stripe shows for `current_period_end` then is not documented: Kassa shows the cut end,
as on create), and credits the time from `cancel_at` to the end of what was paid for, as
any credit of the billing mode (flexible: the unused part of each debit, which keeps
billing the time before the cut, `subscription_credits.note_cut`): pending, at once, or
not at all (`none`, which leaves that time paid for). Where the paid time then ends is
kept (`subscription_periods.PAID_UNTIL`), so that a later clear or move charges back
exactly the time credited, and none that was not.
"""

from __future__ import annotations

from dataclasses import replace

from kassa.services.billing.subscription_documents import ENDED, items_of, set_item_period
from kassa.services.billing.subscription_periods import (
    Cut,
    Restoration,
    cut_short,
    has_paid_until,
    note_paid_until,
    paid_through,
    restoration,
)
from kassa.services.billing.subscription_prorations import billed, proration_items
from kassa.services.context import Context
from kassa.services.resource import ApiObject


async def fit_periods_to_end(
    ctx: Context, subscription: ApiObject, proration_behavior: str | None
) -> list[ApiObject]:
    """The subscription's end rescheduled by an update: each item's current period fitted
    to it, in place, and the proration items (unsaved) that makes, unless
    `proration_behavior=none`:
    - a period a `cancel_at` cut short and that no longer ends there gets its end back
      (`restoration`), the time given back that is not paid for charged
      (`Restoration.charged_from`);
    - a period that ends after a `cancel_at` set inside it ends there (`cut_short`), as a
      `cancel_at` given on create ends the first, the time from `cancel_at` to the end of
      what was paid for credited (Stripe: a `cancel_at` "set to a date before the current
      period ends ... will cause a proration if prorations have been enabled"), as any
      credit of the item's billing mode (`subscription_credits`). Where the paid time then
      ends is kept (`note_paid_until`), so that giving the time back charges exactly what
      was credited.
    A paused subscription's periods are left as they are: resuming sets them. A trial's are
    fitted for nothing, it being free. An `incomplete` one, whose first invoice is not paid,
    is fitted with no proration, hence no invoice, to hold against a subscription that may
    never start (it expires with that invoice)."""
    if subscription["status"] in ("paused", *ENDED):
        return []
    prorating = (proration_behavior or "create_prorations") != "none"
    prorating = prorating and subscription["status"] != "incomplete"
    made = []
    for item in items_of(subscription):
        found = restoration(subscription, item)
        if found is not None:
            made.extend(await _restore_period(ctx, subscription, item, found, prorating))
            continue
        cut = cut_short(subscription, item)
        if cut is not None:
            made.extend(await _cut_period(ctx, subscription, item, cut, prorating))
    return made


async def _restore_period(
    ctx: Context, subscription: ApiObject, item: ApiObject, found: Restoration, prorating: bool
) -> list[ApiObject]:
    set_item_period(item, found.period)
    if has_paid_until(subscription, item):
        paid = max(paid_through(subscription, item), found.period[1])
        note_paid_until(subscription, item, paid)
    if found.charged_from is None or not prorating:
        return []
    # A charge alone, from the end of what is paid: nothing of the cut period is credited,
    # and the debit that billed it stays, a later change crediting it and this charge.
    item_id, restored = str(item["id"]), billed(subscription, item)
    return await proration_items(
        ctx, subscription, item_id, None, restored, found.charged_from, adds_debit=True
    )


async def _cut_period(
    ctx: Context, subscription: ApiObject, item: ApiObject, found: Cut, prorating: bool
) -> list[ApiObject]:
    if subscription["status"] == "trialing":
        set_item_period(item, found.period)  # free: nothing to credit, nor paid to keep
        return []
    cancel_at = found.period[1]
    credits = prorating and cancel_at < found.paid_until
    # What the item billed, over its period as it was up to the end of what was paid.
    paid = replace(billed(subscription, item), period=(found.period[0], found.paid_until))
    set_item_period(item, found.period)
    note_paid_until(subscription, item, cancel_at if credits else found.paid_until)
    if not credits:
        return []
    item_id = str(item["id"])
    return await proration_items(ctx, subscription, item_id, paid, None, cancel_at, cuts=True)
