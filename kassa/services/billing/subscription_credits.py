"""Credit prorations: what a change to a subscription item gives back for the unused time of
what it billed, by the subscription's billing mode (`billing_mode.type`), and the record of
the debits flexible mode credits from.

Classic (Stripe, docs.stripe.com/billing/subscriptions/billing-mode/compare: "the credit
proration amounts are calculated based on the value of the subscription item's current price,
tax, quantity, and the last discounts used"): the item's price times its quantity for the
whole current period, less the discounts it holds that its invoices took in this period or
still take (the subscription's current "discounting state", docs.stripe.com/billing/
subscriptions/prorations, "Discount changes and prorations": one removed is gone; but a
`once` one used by the period's invoice, or a `repeating` one ended since, was among the
last discounts used, and stays in the credit: `subscription_discounts.taken_in_period`; an
amount off whole, as that page's classic example `-0.5 x (10 USD price - 5 USD coupon)`,
not the share its line got), times the part of the period still to come
(`periods.proration`). A subscription mixing intervals loses a `once` discount at the next
invoice of any item (`prune_discounts`): an item of the longer interval is credited
without it after that. Taxes stay out of it (the invoice taxes the proration's line). What
was paid plays no part: time never paid for (a price raised without prorations) is credited
at the price all the same, as Stripe's classic example of that shows.

Flexible (the default since 2025-09-30.clover; the same page: flexible "calculates credit
prorations based on the original amount previously debited to a customer", "regardless of
subsequent changes made to the subscription"): the credit undoes the debit that billed the
item for this period, the one its `proration_details.credited_items` names (the SDK: "an
invoice item if the debit was pending when the credit was created, and ... invoice line
items if the debit was already invoiced"):
- the debit is the item's line on the period's invoice (the first, a renewal, a reset's),
  or the proration charge of the item's last prorated change (pending, or the line it
  became), whichever came last;
- what it debited is its amount less the discounts it took (its `discount_amounts`: its
  own and its share of the invoice's). With `proration_discounts=included` the discount is
  inside the credit's amount, in proportion (docs.stripe.com/billing/subscriptions/
  prorations, "Prorations and discounts": "Any adjustments from discounts are reflected in
  the proration invoice item's amount");
- the credit is that net amount times the part of the debit's own service period
  (`period`) unused at the change, (min(debit end, period end) - max(change, debit start))
  / (debit end - debit start) (`periods.unused_share`), rounded once as any proration line
  (`rounding.PRORATION_ROUNDING`). It is therefore never more than was debited, and
  nothing when nothing was (an item added with `proration_behavior=none`, a debit
  discounted to zero or deleted while pending);
- a credit consumes its debit: a later change credits the charge made with it, not the
  period's line again;
- an item may have several debits this period: a period a `cancel_at` cut short and that
  got its end back (`subscription_period_ends.fit_periods_to_end`) keeps the debit that billed
  its part, and the charge for the time given back is a second one, for the time after it.
  A change then credits each (one credit proration per debit, each naming its own) and
  consumes them all. A change without prorations leaves the debit as it was, so a later
  credit gives back what was paid, not the price the customer was never charged (the
  "debit prorations are disabled" case of Stripe's changelog 2025-04-30.preview,
  subscriptions-billing-mode).

A period cut short by an update's `cancel_at` (`subscription_period_ends.fit_periods_to_end`)
credits each debit's unused time after `cancel_at` and keeps it as the debit of the time
before, credited from `cancel_at` on (`CREDITED_FROM`): a later change credits only that
time, however far a later move of `cancel_at` gives the period back (that time has a charge
of its own, another debit).

The record: `_kassa.debits` maps each item to the invoice item of the debit a credit would
undo, or to the list of them when it has several (absent: nothing to credit). A new period's
invoice sets it for every item; a prorated change replaces the item's entry; the charge for
time given back is added to it (`note_added_debit`). A subscription stored without it (made
before Kassa kept it) is credited as classic until its next period's invoice starts one.

Charges (`debit_base`): with `proration_discounts=included` a prorated charge is the same
part of what a period invoice would bill the item net of its percentage discounts (the
item's own, then the subscription's, as `invoice_amounts` takes them off), so a charge and a
later credit of it are both net amounts. An amount off is spread over an invoice's lines and
has no share of its own outside one: it leaves a charge gross. Classic charges net of every
discount that applies, as it credits ("Any discounts previously applied to the subscription
and affecting the amount of the proration are reflected in the proration invoice item's
amount": Stripe's prorations guide), so a change nets what the customer pays under them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from kassa.invariants import ensure
from kassa.services.billing import discounts, invoice_documents, periods
from kassa.services.billing.invoice_amounts import (
    DiscountTerms,
    LineAmounts,
    LineTerms,
    invoice_amounts,
)
from kassa.services.billing.invoice_lines import line_id
from kassa.services.billing.subscription_discounts import applying, taken_in_period
from kassa.services.billing.subscription_documents import items_of, private, subscription_item_of
from kassa.services.billing.subscription_params import CLASSIC
from kassa.services.context import Context
from kassa.services.resource import ApiObject
from kassa.store.tables import INVOICE_ITEMS

DEBITS: Final = "debits"
"""Private key: each item's debit a credit would undo (the invoice item's id), or its
debits (a list of ids, in the order made)."""
CREDITED_FROM: Final = "credited_from"
"""Private key: {debit's invoice item id: unix time}: a debit whose time from then on was
credited already, its period cut short there by an update's `cancel_at` (`note_cut`); a
later credit gives back only its unused time before it."""


@dataclass(frozen=True)
class Credit:
    """A credit proration worked out: its amount (<= 0) and the debit it undoes."""

    amount: int
    credited_items: dict[str, Any] | None
    discounts: tuple[str, ...] = ()
    """The discounts inside the debit it undoes (flexible; none in classic, whose credit
    `proration_details.discount_amounts` leaves empty, as Stripe fills it for flexible
    only)."""


@dataclass(frozen=True)
class AsBilled:
    """What decides a credited item's discounts besides its amount: the product of the price
    it billed (a coupon restricted to other products takes nothing off) and its own
    discounts before the change (read when the change removed the item)."""

    product: str
    discounts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Debit:
    """What a debit billed the item: its invoice item, the invoice it is on (None while
    pending), what it took net of discounts, and the service period it billed."""

    invoice_item: str
    invoice: str | None
    net_amount: int
    period: tuple[int, int]
    discounts: tuple[str, ...] = ()
    """The discounts that took something off it: its line's, and those inside it when it
    is a prorated charge (its `proration_details.discount_amounts`)."""

    def unused_part(self, at: int, period_end: int) -> int:
        """The net amount for the part of its period still unused at `at` (whole units)."""
        debited = max(self.net_amount, 0)
        part = periods.prorated_amount(debited, periods.unused_share(self.period, at, period_end))
        ensure(0 <= part <= debited, "a credit never gives back more than was debited")
        return part

    def credited_items(self) -> dict[str, Any]:
        if self.invoice is None:
            return {
                "invoice_item": self.invoice_item,
                "invoice_line_item_details": None,
                "type": "invoice_item",
            }
        return {
            "invoice_item": None,
            "invoice_line_item_details": {
                "invoice": self.invoice,
                "invoice_line_items": [line_id(self.invoice_item)],
            },
            "type": "invoice_line_items",
        }


def is_classic(subscription: Mapping[str, Any]) -> bool:
    return bool(subscription["billing_mode"]["type"] == CLASSIC)


async def credits_for(
    ctx: Context,
    subscription: Mapping[str, Any],
    item_id: str,
    old_amount: int,
    period: tuple[int, int],
    at: int,
    *,
    basis: tuple[int, int] | None = None,
    unsaved: Sequence[Mapping[str, Any]] = (),
    as_billed: AsBilled | None = None,
) -> list[Credit]:
    """The credits for the unused time at `at` of what the item billed in its `period`
    (`old_amount` for the whole period, its price times its quantity), as the
    subscription's billing mode computes it: one in classic, net of the discounts held that
    apply now or were taken in `period` (`_discounted_line`, the item `as_billed`), one
    per debit in flexible (none when nothing was debited). `unsaved`: proration items the
    same update made and has not stored yet, whose charge may be the item's debit now
    (`note_proration` names it before it is stored)."""
    start, end = period
    record = private(subscription).get(DEBITS)
    if is_classic(subscription) or record is None:
        base = old_amount
        if is_classic(subscription):
            line = await _discounted_line(
                ctx, subscription, item_id, old_amount, at, as_billed, credit_from=start
            )
            base = old_amount if line is None else line.discounted
        amount = periods.proration(base, 0, start, end, at, basis=basis).credit
        return [Credit(amount, await _latest_invoice_lines(ctx, subscription, item_id))]
    credited_from = private(subscription).get(CREDITED_FROM) or {}
    made = []
    for debit_item in debits_of(record, item_id):
        debit = await _debit(ctx, debit_item, start, unsaved)
        if debit is not None:
            until = min(end, int(credited_from.get(debit_item, end)))
            credit = -debit.unused_part(at, until)
            made.append(Credit(credit, debit.credited_items(), debit.discounts))
    return made


def debits_of(record: Mapping[str, Any], item_id: str) -> list[str]:
    """The item's debits in the record, in the order made."""
    kept = record.get(item_id)
    if kept is None:
        return []
    return [str(one) for one in kept] if isinstance(kept, list) else [str(kept)]


async def debit_base(
    ctx: Context,
    subscription: Mapping[str, Any],
    item_id: str,
    gross: int,
    at: int,
) -> int:
    """The whole-period amount a prorated charge of the item at `at` is a part of: `gross`
    (its price times its quantity) less the discounts that still apply at `at` (not a `once`
    one already used), as its line on an invoice made then would take them: in flexible the
    item's and the subscription's percentages, in classic every one of them
    (`_discounted_line`)."""
    line = await _discounted_line(ctx, subscription, item_id, gross, at)
    return gross if line is None else line.discounted


async def debit_discounts(
    ctx: Context, subscription: Mapping[str, Any], item_id: str, gross: int, at: int
) -> list[str]:
    """The discounts that take something off `debit_base`'s amount: those inside a prorated
    charge made from it (`subscription_discounts.note_charge`)."""
    line = await _discounted_line(ctx, subscription, item_id, gross, at)
    taken = [] if line is None else line.discount_amounts
    return [d.discount for d in taken if d.amount > 0]


async def _discounted_line(
    ctx: Context,
    subscription: Mapping[str, Any],
    item_id: str,
    gross: int,
    at: int,
    as_billed: AsBilled | None = None,
    *,
    credit_from: int | None = None,
) -> LineAmounts | None:
    """`gross` as the item's line, alone on an invoice made at `at`, would take its
    discounts off (None: nothing to discount); those that still apply at `at`, or with
    `credit_from` (a classic credit of the period from then) those its invoices took in that
    period (`taken_in_period`: a `once` one used, a `repeating` one ended since, are among
    its "last discounts used"). The item's own discounts are its current
    ones (an update that changes them prorates with the new: Stripe's prorations guide,
    "Discount changes and prorations"), or `as_billed`'s once it is removed; the product is
    that of the price `as_billed` (credited), else the item's.

    Flexible (`proration_discounts=included`) takes the percentages only: an amount off is
    spread over an invoice's lines and has no share of its own outside one, so it leaves a
    charge gross (the credit is of what was debited). Classic takes every discount that
    applies now, an amount off whole off the one item: Stripe's classic credit "based on
    the value of the subscription item's current price, tax, quantity, and the last
    discounts used" (its billing mode comparison), `-0.5 x (10 USD price - 5 USD coupon)`
    for an item under a 5 off coupon (its prorations guide), and a charge the same way, so
    a change nets what the customer pays under its discounts."""
    if gross <= 0:
        return None
    item = next((i for i in items_of(subscription) if str(i["id"]) == item_id), None)
    own_ids: Sequence[str] = []
    if item is not None:
        own_ids = item["discounts"]
    elif as_billed is not None:
        own_ids = as_billed.discounts
    product = None
    if as_billed is not None:
        product = as_billed.product
    elif item is not None:
        product = str(item["price"]["product"])
    currency = str(subscription["currency"])

    def held(discount_ids: Sequence[str]) -> list[str]:
        if credit_from is None:
            return applying(subscription, discount_ids, at)
        return taken_in_period(subscription, discount_ids, credit_from)

    own = await discounts.discount_terms(ctx, held(own_ids), currency)
    shared = await discounts.discount_terms(ctx, held(subscription["discounts"]), currency)
    if not is_classic(subscription):
        own, shared = _percentages(own), _percentages(shared)
    line = LineTerms(gross, discounts=tuple(own), product=product)
    return invoice_amounts([line], shared).lines[0]


def _percentages(terms: Sequence[DiscountTerms]) -> tuple[DiscountTerms, ...]:
    return tuple(t for t in terms if t.percent_off is not None)


async def _debit(
    ctx: Context, invoice_item_id: str, period_start: int, unsaved: Sequence[Mapping[str, Any]]
) -> Debit | None:
    """The debit made by the invoice item, as it stands now (a draft's discounts may have
    changed since); None if it is gone, or billed an earlier period. An item in `unsaved`
    (made by the same update, pending) is read from there: the store has it only once the
    update inserts it."""
    made = next((one for one in unsaved if str(one["id"]) == invoice_item_id), None)
    found: tuple[Mapping[str, Any], bool] | None = (made, False) if made is not None else None
    if found is None:
        found = await ctx.tx.get_object(INVOICE_ITEMS, ctx.account_id, invoice_item_id, lock=False)
    if found is None or found[1]:
        return None
    item = found[0]
    period = (int(item["period"]["start"]), int(item["period"]["end"]))
    if period[1] <= period_start or period[1] <= period[0]:
        return None
    inside = [str(d["discount"]) for d in _proration_discounts(item)]
    invoice_id = item.get("invoice")
    if invoice_id is None:
        return Debit(invoice_item_id, None, int(item["amount"]), period, tuple(inside))
    net, taken = await _net_on_invoice(ctx, str(invoice_id), invoice_item_id)
    return Debit(
        invoice_item_id,
        str(invoice_id),
        int(item["amount"]) if net is None else net,
        period,
        tuple(dict.fromkeys([*inside, *taken])),
    )


def _proration_discounts(item: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list((item.get("proration_details") or {}).get("discount_amounts") or [])


async def _net_on_invoice(
    ctx: Context, invoice_id: str, invoice_item_id: str
) -> tuple[int | None, list[str]]:
    """The item's line amount less its discounts on the invoice (None if not found there),
    and the discounts that took something off it."""
    found = await invoice_documents.find_invoice(ctx, invoice_id, lock=False)
    if found is None:
        return None, []
    wanted = line_id(invoice_item_id)
    for line in found[0]["lines"]["data"]:
        if line["id"] == wanted:
            taken = [d for d in line.get("discount_amounts") or [] if int(d["amount"]) > 0]
            discounted = sum(int(d["amount"]) for d in taken)
            return int(line["amount"]) - discounted, [str(d["discount"]) for d in taken]
    return None, []


async def _latest_invoice_lines(
    ctx: Context, subscription: Mapping[str, Any], item_id: str
) -> dict[str, Any] | None:
    """Classic's `credited_items`: the item's debit lines on the subscription's latest
    invoice, when that invoice has any."""
    latest = subscription.get("latest_invoice")
    if latest is None:
        return None
    found = await invoice_documents.find_invoice(ctx, str(latest), lock=False)
    if found is None:
        return None
    lines = [
        line["id"]
        for line in found[0]["lines"]["data"]
        if _item_of_line(line) == item_id and line["amount"] > 0
    ]
    if not lines:
        return None
    return {
        "invoice_item": None,
        "invoice_line_item_details": {"invoice": latest, "invoice_line_items": lines},
        "type": "invoice_line_items",
    }


def _item_of_line(line: Mapping[str, Any]) -> str | None:
    details = (line.get("parent") or {}).get("subscription_item_details") or {}
    found = details.get("subscription_item")
    return None if found is None else str(found)


# --- the record ----------------------------------------------------------------------------


def note_period(
    subscription: Mapping[str, Any],
    lines: Sequence[Mapping[str, Any]],
    billed: Sequence[Mapping[str, Any]],
) -> None:
    """A new period's invoice bills the `billed` items (every item, or with mixed intervals
    those whose period ended): each one's debit is now its line (none for a line of
    nothing: a trial's, a free price's); the other items keep theirs."""
    renewed = {str(item["id"]) for item in billed}
    if DEBITS not in private(subscription) and renewed != {
        str(item["id"]) for item in items_of(subscription)
    }:
        return  # kept by none yet: only a period billing every item starts the record
    kept = private(subscription).get(DEBITS) or {}
    record = {item_id: debit for item_id, debit in kept.items() if item_id not in renewed}
    for line in lines:
        item_id = subscription_item_of(line)
        if item_id is not None and int(line["amount"]) > 0:
            record[item_id] = str(line["id"])
    private(subscription)[DEBITS] = record
    _drop_stale_credited_from(subscription)


def note_proration(
    subscription: Mapping[str, Any],
    item_id: str,
    *,
    credited: bool,
    charge: ApiObject | None,
) -> None:
    """A prorated change to the item: its debit, if `credited`, is used up; the `charge`
    made, if any, is the debit the next credit undoes."""
    record = private(subscription).get(DEBITS)
    if record is None:
        return  # not kept for this period: classic credits until the next one
    if credited:
        record.pop(item_id, None)
    if charge is not None:
        record[item_id] = str(charge["id"])


def note_added_debit(subscription: Mapping[str, Any], item_id: str, charge: ApiObject) -> None:
    """A charge for time given back to the item's period (`fit_periods_to_end`): a debit
    next to the ones it has, which bill time before it; a later credit undoes each."""
    record = private(subscription).get(DEBITS)
    if record is None:
        return  # not kept for this period: classic credits until the next one
    record[item_id] = [*debits_of(record, item_id), str(charge["id"])]


def note_cut(subscription: Mapping[str, Any], item_id: str, at: int) -> None:
    """The item's period cut short at `at`, its debits credited from there
    (`subscription_period_ends.fit_periods_to_end`): each stays its debit for the time before
    `at`, which a later change credits, and only that (`CREDITED_FROM`)."""
    record = private(subscription).get(DEBITS)
    if record is None:
        return  # not kept for this period: classic credits until the next one
    credited_from = private(subscription).setdefault(CREDITED_FROM, {})
    for debit in debits_of(record, item_id):
        credited_from[debit] = min(at, int(credited_from.get(debit, at)))
    _drop_stale_credited_from(subscription)


def _drop_stale_credited_from(subscription: Mapping[str, Any]) -> None:
    """Forget debits no item has any more (a new period's, a credit's that used them up)."""
    facts = private(subscription)
    if CREDITED_FROM not in facts:
        return
    record = facts.get(DEBITS) or {}
    live = {debit for item_id in record for debit in debits_of(record, item_id)}
    facts[CREDITED_FROM] = {k: v for k, v in facts[CREDITED_FROM].items() if k in live}
