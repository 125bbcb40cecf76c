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
not at all (`none`, which leaves that time paid for). The debit may be the charge of the
same update's item change, not stored yet (`fit_periods_to_end`'s `unsaved`): three seats
charged to the period's end and cut short give back the three seats' time after the cut.
A part before an explicit anchor that `proration_behavior=none` made free credits nothing.
Where the paid time then ends is kept (`subscription_periods.PAID_UNTIL`) only as far as a
credit was made, and what each cut credited (`CUT_CREDITS`) with what the item billed then,
so that a later clear or move charges the time given back as the item is billed now: what
was credited for it (pro rata for part of it), not its price (flexible credits what was
paid, net of discounts, which the price is not), plus what the item bills more than when
cut (a seat, a dearer price added since; less for one taken away), so that nothing changed
nets the credit to the cent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any, Final

from kassa.invariants import ensure
from kassa.services.billing import periods
from kassa.services.billing.subscription_documents import (
    ENDED,
    item_period,
    items_of,
    private,
    set_item_period,
)
from kassa.services.billing.subscription_periods import (
    Cut,
    Restoration,
    cut_short,
    free_before_anchor,
    has_paid_until,
    note_paid_until,
    paid_through,
    restoration,
)
from kassa.services.billing.subscription_prorations import ChargedBack, billed, proration_items
from kassa.services.context import Context
from kassa.services.resource import ApiObject

CUT_CREDITS: Final = "cut_credits"
"""Private key: {item id: {"start", "spans": [[from, to, amount, as_cut], ...]}}: for an
item whose current period (the one from "start") an update's `cancel_at` cut short with a
credit, the time each cut credited, what it credited for it (> 0), and what the item billed
per whole period then (its price times its quantity; absent from spans kept before Kassa
noted it), in time order, from the end of the paid time (`PAID_UNTIL`) on: time given back
is charged back at that, pro rata, adjusted by what the item bills now more or less than
then (`ChargedBack`). An entry for another period than the item's current one is stale."""


@dataclass(frozen=True)
class _Credited:
    """Time an update's cut credited, [span), what it credited for it, and what the item
    billed per whole period when cut (None: not known, kept before Kassa noted it)."""

    span: tuple[int, int]
    amount: int
    as_cut: int | None


async def fit_periods_to_end(
    ctx: Context,
    subscription: ApiObject,
    proration_behavior: str | None,
    unsaved: Sequence[ApiObject] = (),
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
      credit of the item's billing mode (`subscription_credits`; `unsaved`: the same
      update's prorations, whose charge may be the debit to credit). Where the paid time
      then ends, and what was credited, are kept as far as a credit was made
      (`note_paid_until`, `CUT_CREDITS`), so that giving the time back charges what was
      credited for it, adjusted by any change to the item since (`ChargedBack`).
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
            made.extend(await _cut_period(ctx, subscription, item, cut, prorating, unsaved))
    return made


async def _restore_period(
    ctx: Context, subscription: ApiObject, item: ApiObject, found: Restoration, prorating: bool
) -> list[ApiObject]:
    credited = _credited_spans(subscription, item)
    set_item_period(item, found.period)
    if has_paid_until(subscription, item):
        paid = max(paid_through(subscription, item), found.period[1])
        note_paid_until(subscription, item, paid)
    charged_back = None
    if found.charged_from is not None:
        # Given back, the credited time is owed again, charged or not (`none`).
        charged_back, credited = _given_back(credited, found.charged_from, found.period[1])
    _keep_credited_spans(subscription, item, credited)
    if found.charged_from is None or not prorating:
        return []
    # A charge alone, from the end of what is paid: nothing of the cut period is credited,
    # and the debit that billed it stays, a later change crediting it and this charge.
    item_id, restored = str(item["id"]), billed(subscription, item)
    return await proration_items(
        ctx,
        subscription,
        item_id,
        None,
        restored,
        found.charged_from,
        adds_debit=True,
        charged_back=charged_back,
    )


async def _cut_period(
    ctx: Context,
    subscription: ApiObject,
    item: ApiObject,
    found: Cut,
    prorating: bool,
    unsaved: Sequence[ApiObject],
) -> list[ApiObject]:
    if subscription["status"] == "trialing":
        set_item_period(item, found.period)  # free: nothing to credit, nor paid to keep
        return []
    cancel_at = found.period[1]
    credits = prorating and cancel_at < found.paid_until
    credits = credits and not free_before_anchor(subscription, item)
    # What the item billed, over its period as it was up to the end of what was paid.
    paid = replace(billed(subscription, item), period=(found.period[0], found.paid_until))
    credited = _credited_spans(subscription, item)
    set_item_period(item, found.period)
    made = []
    if credits:
        item_id = str(item["id"])
        made = await proration_items(
            ctx, subscription, item_id, paid, None, cancel_at, cuts=True, unsaved=unsaved
        )
    amount = -sum(int(proration["amount"]) for proration in made)
    ensure(amount >= 0, "a cut only credits")
    if amount == 0:
        # Nothing credited (no debit to undo, a free part, `none`): that time stays paid
        # for, and giving it back charges nothing.
        note_paid_until(subscription, item, found.paid_until)
        return made
    note_paid_until(subscription, item, cancel_at)
    cut = _Credited((cancel_at, found.paid_until), amount, paid.amount)
    _keep_credited_spans(subscription, item, [cut, *credited])
    return made


def _given_back(
    credited: Sequence[_Credited], start: int, end: int
) -> tuple[ChargedBack, list[_Credited]]:
    """The credited time from `start` (the end of the paid time, where it begins) to `end`
    given back: what was credited for it, pro rata for a span given back in part (the rest
    of its amount kept for its rest, so that each span is charged back exactly in all), up
    to where it ends, with what the item billed when each was cut; and the spans left after
    `end`."""
    amount, until, left, as_cut = 0, start, [], []
    for one in credited:
        low, high = one.span
        if end <= low:
            left.append(one)
            continue
        ensure(until == low, "credited time follows the paid time without a gap")
        part = one.amount
        if end < high:
            part = periods.prorated_amount(one.amount, Fraction(end - low, high - low))
            left.append(_Credited((end, high), one.amount - part, one.as_cut))
        amount, until = amount + part, min(high, end)
        if one.as_cut is not None:
            as_cut.append((low, until, one.as_cut))
    return ChargedBack(amount, until, tuple(as_cut)), left


def _credited_spans(subscription: Mapping[str, Any], item: Mapping[str, Any]) -> list[_Credited]:
    kept = (private(subscription).get(CUT_CREDITS) or {}).get(str(item["id"]))
    if kept is None or int(kept["start"]) != item_period(item)[0]:
        return []
    return [_credited(span) for span in kept["spans"]]


def _credited(span: Sequence[Any]) -> _Credited:
    low, high, amount, *rest = span
    as_cut = int(rest[0]) if rest and rest[0] is not None else None
    return _Credited((int(low), int(high)), int(amount), as_cut)


def _keep_credited_spans(
    subscription: Mapping[str, Any], item: Mapping[str, Any], credited: Sequence[_Credited]
) -> None:
    """Keep the item's credited spans (`CUT_CREDITS`); entries of periods no item has any
    more, or of none, are dropped."""
    starts = {str(i["id"]): item_period(i)[0] for i in items_of(subscription)}
    kept = private(subscription).get(CUT_CREDITS) or {}
    record = {k: v for k, v in kept.items() if starts.get(k) == int(v["start"])}
    record.pop(str(item["id"]), None)
    if credited:
        spans = [[*one.span, one.amount, one.as_cut] for one in credited]
        record[str(item["id"])] = {"start": item_period(item)[0], "spans": spans}
    if record or CUT_CREDITS in private(subscription):
        private(subscription)[CUT_CREDITS] = record
