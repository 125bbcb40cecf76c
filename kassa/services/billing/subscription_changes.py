"""Changing what a subscription bills inside its period, and the prorations Stripe makes for
it: items added, repriced, requantified or removed (`items` on `POST /v1/subscriptions/{id}`,
and `/v1/subscription_items`), the billing cycle reset (`billing_cycle_anchor[type]=now`, or
a new billing interval), and the credit a cancellation may give for unused time.

Prorations (`proration_behavior`):
- `create_prorations` (the default): for each item whose price or quantity changed, a credit
  for the unused part of the old amount and a charge for the same part of the new one, to
  the second (`periods.proration`), as pending invoice items (`proration=true`, not
  discountable, their period from the change to the period's end) that the next renewal
  invoice takes; an added item is only charged, a removed one only credited;
- `always_invoice`: the same items, invoiced at once (`billing_reason=subscription_update`)
  and charged (with `payment_behavior=pending_if_incomplete` the change waits for that
  payment: `subscription_pending_updates`);
- `none`: no prorations.
The time of the change is `proration_date` if given (inside the current period: a preview
and the update that follows it can agree on it), else the request's time on the
subscription's clock. A subscription on trial bills nothing for the trial, so changing it
prorates nothing and invoices nothing, even with `always_invoice`: the items it adds take the
trial's period, and the first invoice after the trial bills the items as they are then.

A billing cycle reset starts a new period now: the old items' unused time is credited (when
prorating) and the new period invoiced at once with those credits. Stripe resets the cycle
whenever the billing interval changes; so does Kassa when the subscription's one interval
becomes another. Mixed intervals (flexible billing mode: Stripe's mixed-interval guide and
2025-07-30.basil changelog) change nothing else: an item added with, or repriced to, an
interval the subscription did not have, or next to items of another one, takes the period
of that interval holding the change, counted from the shared anchor (an item of that
interval already there shares its period), and each item is prorated over its own period:
the credit over the period it had, the charge over the one it has (`subscription_periods.
period_for`). A reset (`billing_cycle_anchor=now`) starts every item's period now, each as
long as its interval. `proration_date` must fall within every item's current period.
A period that begins or that an item joins after `cancel_at` was set ends there when it
falls inside (an item added or moved to another interval, a reset's: `subscription_periods.
cut_at_cancel`, `reset_span`), billed for that part only, as a first period on create is.

A rescheduled end (`cancel_at`, `cancel_at_period_end` on update) fits the current periods
to it, cutting them short or giving them back their end, with the prorations that makes
(`subscription_period_ends`).

What a credit gives back depends on the subscription's billing mode (`subscription_credits`):
flexible (the default) credits the unused part of what was debited for the item in this
period, net of its discounts; classic, the unused part of the item's price times its
quantity for the whole period, net of the discounts it holds that apply now or were taken
in this period.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from kassa.errors import (
    CardDeclined,
    CardError,
    ExclusiveParameters,
    InvalidParameter,
    InvalidRequest,
    ResourceMissing,
)
from kassa.params import apply_metadata
from kassa.services.billing import (
    invoice_advance,
    invoice_documents,
    invoice_transitions,
    subscription_credits,
    subscription_discounts,
)
from kassa.services.billing.invoice_item_pricing import (
    active_price,
    check_item_amount,
    from_price,
    inline_price,
    price_data_names,
)
from kassa.services.billing.meter_usage import check_no_quantity, usage_periods
from kassa.services.billing.plan_params import price_param
from kassa.services.billing.subscription_documents import (
    DECIDING_STATUS,
    ENDED,
    ITEMS_MAX,
    current_period,
    item_period,
    items_of,
    new_item,
    plan_of,
    private,
    set_item_period,
    shared_period,
)
from kassa.services.billing.subscription_invoices import invoice_period
from kassa.services.billing.subscription_params import PENDING_IF_INCOMPLETE
from kassa.services.billing.subscription_pending import FINAL
from kassa.services.billing.subscription_period_ends import fit_periods_to_end
from kassa.services.billing.subscription_periods import (
    Recurrence,
    Span,
    free_before_anchor,
    note_paid_until_cut,
    period_for,
    reset_span,
)
from kassa.services.billing.subscription_prorations import (
    Billed,
    billed,
    insert_proration,
    proration_items,
)
from kassa.services.context import Context
from kassa.services.resource import ApiObject
from kassa.store.tables import SUBSCRIPTION_ITEMS

PRORATED_AT: Final = "prorated_at"
"""Private key: {subscription item id: unix time of its latest prorated change}, which a
later change's `proration_date` may not precede (`note_prorated_at`)."""


@dataclass(frozen=True, kw_only=True)
class ChangeTerms:
    """How to make an item change: its proration, the time it counts from, and what to do
    when the invoice it makes at once is not paid."""

    items: list[dict[str, Any]] = field(default_factory=list)
    proration_behavior: str | None = None
    proration_date: int | None = None
    payment_behavior: str | None = None
    billing_cycle_anchor: dict[str, Any] | None = None
    end_rescheduled: bool = False
    """The update sets or clears when the subscription ends (`cancel_at`,
    `cancel_at_period_end`): a period an earlier `cancel_at` cut short may get its end back
    (`fit_periods_to_end`)."""
    adds_invoice_items: bool = False
    """The update adds one-off items (`add_invoice_items`, stored pending): `always_invoice`
    invoices them at once, with no item change too."""
    previewed: bool = False
    """Worked out for an invoice preview: the discounts `items[][discounts]` makes are
    made as the update would make them, but neither stored nor redeemed."""

    @property
    def resets_anchor(self) -> bool:
        return (self.billing_cycle_anchor or {}).get("type") == "now"

    @property
    def changes_anything(self) -> bool:
        return bool(self.items) or self.resets_anchor


# --- changing the items --------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """A change worked out on a subscription's document, nothing stored yet: its time, the
    items it removes, the proration items it makes (new, unsaved), and whether it starts a
    new billing period now (then each item's new span, by id: `start_new_period`)."""

    at: int
    removed: list[ApiObject]
    prorations: list[ApiObject]
    resets: bool
    spans: dict[str, Span] = field(default_factory=dict)


async def change_subscription(
    ctx: Context, subscription: ApiObject, terms: ChangeTerms
) -> ApiObject | None:
    """Apply `terms` to the subscription (its document, in place; new item rows inserted,
    removed ones deleted), make its prorations and, when due now, its invoice; that invoice,
    if one was made. The caller saves the subscription and announces the update. A change
    that awaits its payment (`awaits_payment`) leaves the item rows as they were: the caller
    holds it as a pending update (`subscription_pending_updates`). Periods are fitted to a
    rescheduled end (`fit_periods_to_end`) after the items change, so each proration of the
    change is over the period the item had, and the time given back is charged, or the time
    cut off credited, at its new price."""
    plan = await plan_change(ctx, subscription, terms) if terms.changes_anything else None
    planned = plan.prorations if plan is not None else []
    fitted = []
    if terms.end_rescheduled:
        # The change's charges, stored below, may be the debits a cut credits.
        behavior = terms.proration_behavior
        fitted = await fit_periods_to_end(ctx, subscription, behavior, unsaved=planned)
    prorations = [*planned, *fitted]
    if plan is None and not prorations and not _invoices_added_items(subscription, terms):
        return None
    for proration in prorations:
        await insert_proration(ctx, proration)
    invoice, only = None, None
    if terms.payment_behavior == PENDING_IF_INCOMPLETE:
        # An invoice a held change may wait for takes its own prorations only: voided when
        # the change is discarded, it would take with it what earlier updates left pending
        # (a cut's credit, say), which the customer is owed whatever becomes of this one.
        only = frozenset(str(proration["id"]) for proration in prorations)
    if plan is not None and plan.resets:
        invoice = await _invoice_new_period(ctx, subscription, terms, plan.spans, only)
    elif invoices_at_once(subscription, terms):
        invoice = await invoice_prorations(ctx, subscription, terms, only)
    if plan is not None and not awaits_payment(terms, invoice):
        await store_item_rows(ctx, subscription, plan.removed)
    return invoice


def _invoices_added_items(subscription: Mapping[str, Any], terms: ChangeTerms) -> bool:
    """Items the update added are billed now when its changes would be (`always_invoice`,
    not on a trial): what a Stripe user asking for an invoice now expects, even when
    nothing else changes (Stripe's docs say only that they go on the next invoice)."""
    return terms.adds_invoice_items and invoices_at_once(subscription, terms)


def awaits_payment(terms: ChangeTerms, invoice: Mapping[str, Any] | None) -> bool:
    """`pending_if_incomplete` and the change's invoice not paid: the change waits for it."""
    unpaid = invoice is not None and invoice["status"] != "paid"
    return terms.payment_behavior == PENDING_IF_INCOMPLETE and unpaid


async def plan_change(ctx: Context, subscription: ApiObject, terms: ChangeTerms) -> Plan:
    """Work the change out on the subscription's document (in place), storing nothing: what
    an update does, and what a preview of it shows."""
    check_items_changeable(subscription)
    at = change_time(ctx, subscription, terms.proration_date)
    prorating = _prorates(subscription, terms)
    before = _billing(subscription) if prorating else {}
    old_intervals = _intervals(items_of(subscription))
    was_free = not _bills_anything(subscription)
    removed = await _apply_item_changes(ctx, subscription, terms, at)
    new_intervals = _intervals(items_of(subscription))
    # The one interval replaced by another resets the cycle, as a move from free to paid
    # does (Stripe's update reference: "we apply a credit for the unused time on the
    # previous price, immediately charge the customer using the new price, and reset the
    # billing date"); mixed intervals do not. On a trial nothing is reset: the cycle is
    # anchored at the trial's end, where the first paid period starts in the new interval,
    # as an item of another interval added on a trial starts there (its period until then
    # is the trial's, `period_for`).
    trialing = subscription["status"] == "trialing"
    switched = len(old_intervals) == len(new_intervals) == 1 and old_intervals != new_intervals
    becomes_paid = was_free and _bills_anything(subscription)
    resets = terms.resets_anchor or ((switched or becomes_paid) and not trialing)
    if terms.resets_anchor and trialing:
        raise InvalidRequest(
            "Kassa does not reset the billing cycle of a subscription on trial "
            "(billing_cycle_anchor=now): end the trial (trial_end=now) or change it after.",
            param="billing_cycle_anchor",
        )
    prorations = []
    if prorating:
        # A reset's new period is billed in full by its invoice.
        after = {} if resets else _billing(subscription)
        changed = _changed(before, after)
        note_prorated_at(subscription, [item_id for item_id, _, _ in changed], at)
        for item_id, old, new in changed:
            prorations.extend(await proration_items(ctx, subscription, item_id, old, new, at))
    spans = start_new_period(ctx, subscription) if resets else {}
    return Plan(at=at, removed=removed, prorations=prorations, resets=resets, spans=spans)


def _prorates(subscription: Mapping[str, Any], terms: ChangeTerms) -> bool:
    """Whether the change makes prorations: not with `none`, nor on a trial, which is free
    (nothing billed to credit, nothing to charge for the time left). What a trial's items
    bill is never asked: a trial lies before the cycle's anchor, in no whole period of it
    (`subscription_periods.whole_period`), and the first invoice after it bills the items
    as they are then."""
    behavior = terms.proration_behavior or "create_prorations"
    return behavior != "none" and subscription["status"] != "trialing"


def _billing(subscription: Mapping[str, Any]) -> dict[str, Billed]:
    """What each item bills per period now, by item id."""
    return {str(item["id"]): billed(subscription, item) for item in items_of(subscription)}


def invoices_at_once(subscription: Mapping[str, Any], terms: ChangeTerms) -> bool:
    """`always_invoice`: the change's prorations are invoiced now (a trial has none)."""
    return terms.proration_behavior == "always_invoice" and subscription["status"] != "trialing"


def check_items_changeable(subscription: Mapping[str, Any], param: str | None = "items") -> None:
    """Refuse a change of items the subscription's status rules out, naming `param` (what
    the caller sent that asks for it: `items` on update; `/v1/subscription_items` names the
    subscription on create and nothing on update or delete, whose item is the path's)."""
    status = subscription["status"]
    if status in ENDED or status in ("incomplete", "paused"):
        raise InvalidRequest(
            f"The items of a subscription that is {status} cannot change"
            + (" (resume it first)." if status == "paused" else "."),
            param=param,
        )


def change_time(ctx: Context, subscription: Mapping[str, Any], proration_date: int | None) -> int:
    """When the change counts from: `proration_date`, inside the current period and not
    after the `cancel_at` the subscription ends at (the update's own, its periods not yet
    cut there: a change dated after the end would charge time the cut then credits, and
    leave the old items' time from the end to the change neither used nor credited; Stripe
    documents no such change, so it is refused), or now."""
    if proration_date is None:
        return ctx.now()
    start, end = shared_period(subscription)
    if not start <= proration_date < end:
        raise InvalidParameter(
            f"proration_date ({proration_date}) must fall within the subscription's current "
            f"period [{start}, {end}).",
            param="proration_date",
        )
    cancel_at = subscription["cancel_at"]
    if cancel_at is not None and proration_date > int(cancel_at):
        raise InvalidParameter(
            f"proration_date ({proration_date}) must not be after the subscription's "
            f"cancel_at ({cancel_at}): it ends then.",
            param="proration_date",
        )
    return proration_date


def note_prorated_at(subscription: Mapping[str, Any], item_ids: Sequence[str], at: int) -> None:
    """Record `at` as the time of the items' latest prorated change (`PRORATED_AT`), first
    refusing it when it is earlier than one of theirs: a change dated before the item's
    last prorated one would credit time the last change's charge never billed (a credit
    covers the debit's own period only: `periods.unused_share`) and charge that time again
    at the new price. Stripe documents no order for `proration_date`; refusing is what
    keeps each second billed once. Items gone from the subscription are forgotten."""
    record = private(subscription).get(PRORATED_AT) or {}
    for item_id in item_ids:
        last = record.get(item_id)
        if last is not None and at < int(last):
            raise InvalidParameter(
                f"proration_date ({at}) is before the latest prorated change of the "
                f"subscription item {item_id} ({last}): a change cannot be dated before it.",
                param="proration_date",
            )
    live = {str(item["id"]) for item in items_of(subscription)}
    kept = {item_id: when for item_id, when in record.items() if item_id in live}
    kept.update((item_id, at) for item_id in item_ids if item_id in live)
    private(subscription)[PRORATED_AT] = kept


def _bills_anything(subscription: Mapping[str, Any]) -> bool:
    """Whether any item bills something per period, before discounts: not for a free
    subscription (free prices, or no seats), whose move to paid resets the cycle. Stripe
    does not define "free"; a Stripe user would take it as nothing billed."""
    return any(from_price(i["price"], int(i["quantity"])).amount for i in items_of(subscription))


def _intervals(items: Sequence[Mapping[str, Any]]) -> set[Recurrence]:
    return {Recurrence.of(item["price"]) for item in items}


def _changed(
    before: Mapping[str, Billed], after: Mapping[str, Billed]
) -> list[tuple[str, Billed | None, Billed | None]]:
    """Each item whose billing changed: (id, before or None if added, after or None if
    removed), in a stable order (removed and changed items first, as they stood)."""
    changed: list[tuple[str, Billed | None, Billed | None]] = []
    for item_id, old in before.items():
        new = after.get(item_id)
        if new is None or new.price["id"] != old.price["id"] or new.quantity != old.quantity:
            changed.append((item_id, old, new))
    changed.extend((item_id, None, new) for item_id, new in after.items() if item_id not in before)
    return changed


async def _apply_item_changes(
    ctx: Context, subscription: ApiObject, terms: ChangeTerms, at: int
) -> list[ApiObject]:
    """Change the document's items as `items[]` says; the removed items. The current period
    is read before any change: an item that joins before the anchor shares it, and the
    items that had it may be removed first (the only item replaced on a trial)."""
    requested, previewed = terms.items, terms.previewed
    items = items_of(subscription)
    before = current_period(subscription)
    by_id = {str(i["id"]): i for i in items}
    removed: list[ApiObject] = []
    seen: set[str] = set()
    for index, entry in enumerate(requested):
        path = f"items[{index}]"
        item_id = entry.get("id")
        if item_id is None:
            added = await _new_item(ctx, subscription, entry, path, at, before)
            await subscription_discounts.apply_item_terms(
                ctx, subscription, added, entry, index, previewed=previewed
            )
            items.append(added)
            continue
        item = by_id.get(str(item_id))
        if item is None:
            raise ResourceMissing("subscription item", str(item_id), param=f"{path}[id]")
        if item_id in seen:
            raise InvalidParameter(
                f"The subscription item {item_id} is named twice in items.", param=f"{path}[id]"
            )
        seen.add(str(item_id))
        if entry.get("deleted"):
            items.remove(item)
            removed.append(item)
            continue
        await _change_item(ctx, subscription, item, entry, path, at, before)
        await subscription_discounts.apply_item_terms(
            ctx, subscription, item, entry, index, previewed=previewed
        )
    _check_items(subscription)
    return removed


async def _new_item(
    ctx: Context,
    subscription: Mapping[str, Any],
    entry: Mapping[str, Any],
    path: str,
    at: int,
    before: tuple[int, int],
) -> ApiObject:
    if entry.get("deleted"):
        raise InvalidParameter(
            "Missing required param: id (an item to delete is named by its id).",
            param=f"{path}[id]",
        )
    price = await entry_price(ctx, entry, path)
    if price is None:
        raise InvalidParameter(
            "Missing required param: price (a new item needs one).",
            param=f"{path}[price]",
            code="parameter_missing",
        )
    check_item_bills(price, int(entry.get("quantity", 1)), entry, path)
    metadata = apply_metadata({}, entry.get("metadata") or {})
    added = new_item(
        ctx,
        str(subscription["id"]),
        price,
        int(entry.get("quantity", 1)),
        metadata,
        period_for(subscription, Recurrence.of(price), at, before),
    )
    note_paid_until_cut(subscription, added)
    return added


async def _change_item(
    ctx: Context,
    subscription: Mapping[str, Any],
    item: ApiObject,
    entry: Mapping[str, Any],
    path: str,
    at: int,
    before: tuple[int, int],
) -> None:
    price = await entry_price(ctx, entry, path)
    if price is not None and price["id"] != item["price"]["id"]:
        recurrence = Recurrence.of(price)
        moves = recurrence != Recurrence.of(item["price"])
        if moves:
            # Found before the price changes, so the item does not find its own period.
            set_item_period(item, period_for(subscription, recurrence, at, before))
        item["price"] = {k: v for k, v in price.items() if not k.startswith("_")}
        item["plan"] = plan_of(price)
        if moves:
            note_paid_until_cut(subscription, item)
    if entry.get("quantity") is not None:
        item["quantity"] = int(entry["quantity"])
    if price is not None or entry.get("quantity") is not None:
        check_item_bills(item["price"], int(item["quantity"]), entry, path)
    if entry.get("metadata") is not None:
        item["metadata"] = apply_metadata(item["metadata"], entry["metadata"])


def check_item_bills(
    price: Mapping[str, Any], quantity: int, entry: Mapping[str, Any], path: str
) -> None:
    """A period of the item at `price` and `quantity` fits on one invoice line: refused
    where the request set them (`items[i][quantity]` if sent, else `items[i][price]` or
    `items[i][plan]`), not at the renewal or proration that would bill it."""
    check_no_quantity(price, entry, path)
    param = f"{path}[quantity]" if entry.get("quantity") is not None else price_param(entry, path)
    check_item_amount(from_price(price, quantity), param)


async def entry_price(ctx: Context, entry: Mapping[str, Any], path: str) -> ApiObject | None:
    """The price an item change sets, if it sets one: an active recurring price by id
    (`price`, or `plan`), or a new one made inline (`price_data`: recurring by its
    parameters, stored inactive as Stripe's inline prices, and a new one each time)."""
    data = entry.get("price_data")
    if data is None:
        price_id = entry.get("price")
        if price_id is None:
            return None
        return await recurring_price(ctx, str(price_id), price_param(entry, path))
    if entry.get("price") is not None:
        sent = "plan" if entry.get("plan") is not None else "price"
        raise ExclusiveParameters((sent, "price_data"), param=f"{path}[price_data]")
    return await inline_price(ctx, data, price_data_names(f"{path}[price_data]"))


async def recurring_price(ctx: Context, price_id: str, param: str) -> ApiObject:
    price = await active_price(ctx, price_id, param)
    if price.get("type") != "recurring" or not price.get("recurring"):
        raise InvalidParameter(
            f"The price specified ({price['id']}) is not recurring; a subscription needs "
            "recurring prices.",
            param=param,
        )
    return price


def _check_items(subscription: Mapping[str, Any]) -> None:
    """What a subscription's items must be after a change: at least one, at most
    `ITEMS_MAX`, each price once, all in its currency and one billing interval."""
    items = items_of(subscription)
    if not items:
        raise InvalidRequest(
            "A subscription must have at least one item; to end it, cancel the subscription.",
            param="items",
        )
    if len(items) > ITEMS_MAX:
        raise InvalidParameter(f"A subscription has at most {ITEMS_MAX} items.", param="items")
    check_prices_distinct([item["price"] for item in items])
    check_prices_alike(
        [item["price"] for item in items],
        subscription["currency"],
        ["items"] * len(items),
        classic=subscription_credits.is_classic(subscription),
    )


def check_prices_distinct(prices: Sequence[Mapping[str, Any]]) -> None:
    """Each price on one item only, as Stripe has it on create, update, `POST
    /v1/subscription_items` and previews alike."""
    ids = [str(price["id"]) for price in prices]
    if len(set(ids)) != len(ids):
        raise InvalidParameter(
            "Cannot add multiple subscription items with the same price.", param="items"
        )


def check_prices_alike(
    prices: Sequence[Mapping[str, Any]],
    currency: str,
    params: Sequence[str],
    *,
    classic: bool,
) -> None:
    """Every price in `currency`, and in classic billing mode on one interval (Stripe bills
    mixed intervals in flexible mode only: its changelog 2025-07-30.basil); a price that is
    not names its item's parameter (`params`, one per price)."""
    first = Recurrence.of(prices[0])
    for price, param in zip(prices, params, strict=True):
        if price["currency"] != currency:
            raise InvalidParameter(
                f"The price {price['id']} is in {price['currency']}; this subscription bills "
                f"in {currency}: all prices on a subscription must have the same currency.",
                param=param,
            )
        if classic and Recurrence.of(price) != first:
            raise InvalidParameter(
                "Items with different billing intervals need billing_mode[type]=flexible: a "
                "subscription in classic billing mode bills all its items on one interval.",
                param=param,
            )


async def store_item_rows(
    ctx: Context, subscription: Mapping[str, Any], removed: Sequence[Mapping[str, Any]]
) -> None:
    """Insert the rows of items new to the subscription and delete the removed ones'; the
    others are written with the subscription (`subscription_documents.save`)."""
    for item in items_of(subscription):
        found = await ctx.tx.get_object(
            SUBSCRIPTION_ITEMS, ctx.account_id, str(item["id"]), lock=False
        )
        if found is None:
            await ctx.tx.insert_object(SUBSCRIPTION_ITEMS, ctx.account_id, item)
    for gone in removed:
        await ctx.tx.mark_object_deleted(SUBSCRIPTION_ITEMS, ctx.account_id, str(gone["id"]))


# --- invoicing at once ---------------------------------------------------------------------


def start_new_period(ctx: Context, subscription: ApiObject) -> dict[str, Span]:
    """A billing cycle reset (an update's `billing_cycle_anchor=now`, a resume's): the
    anchor now, and each item's new period from now, as long as its interval or cut short
    at a `cancel_at` inside it (`subscription_periods.reset_span`); each item's span, by id,
    whose part of the price the new period's invoice bills (`subscription_terms.bill_part`,
    as the create path bills a first period `cancel_at` cuts). `cancel_at_period_end` ends
    the subscription at the new period's end instead."""
    now = ctx.now()
    at_period_end = bool(subscription["cancel_at_period_end"])
    cancel_at = None if at_period_end else subscription["cancel_at"]
    spans = {}
    for item in items_of(subscription):
        span = reset_span(Recurrence.of(item["price"]), now, cancel_at)
        set_item_period(item, span.period)
        spans[str(item["id"])] = span
    subscription["billing_cycle_anchor"] = now
    subscription["billing_cycle_anchor_config"] = None
    if at_period_end:
        subscription["cancel_at"] = current_period(subscription)[1]
    return spans


async def _invoice_new_period(
    ctx: Context,
    subscription: ApiObject,
    terms: ChangeTerms,
    spans: dict[str, Span],
    only: Collection[str] | None,
) -> ApiObject:
    """The new period of a reset invoiced at once (each item for its span's part of the
    price), with the credits for the old one (of the pending items, those `only` names when
    given)."""
    invoice = await invoice_period(
        ctx,
        subscription,
        billing_reason="subscription_update",
        trial=False,
        pending="subscription",
        only=only,
        spans=spans,
    )
    await collect_now(ctx, subscription, invoice, terms)
    return invoice


async def invoice_prorations(
    ctx: Context,
    subscription: ApiObject,
    terms: ChangeTerms,
    only: Collection[str] | None = None,
) -> ApiObject:
    """`always_invoice`: the subscription's pending prorations (those `only` names when
    given) on an invoice of their own, finalized and collected now; it looks back to the
    subscription's last invoice (`subscription_invoices.usage_period`)."""
    invoice = await invoice_period(
        ctx,
        subscription,
        billing_reason="subscription_update",
        trial=False,
        pending="subscription",
        with_items=False,
        only=only,
    )
    await collect_now(ctx, subscription, invoice, terms)
    return invoice


async def draft_final(
    ctx: Context, subscription: ApiObject, billing_reason: str, end: int, voidable_at: int
) -> ApiObject:
    """The subscription's pending items (its prorations: `subscription_pending.FINAL`; none
    when the pause of collection voids the invoice made at `voidable_at`) on its final
    invoice, a draft, over its current period up to `end`, when it ends
    (`subscription_final` collects it)."""
    return await invoice_period(
        ctx,
        subscription,
        billing_reason=billing_reason,
        trial=False,
        pending=FINAL,
        voidable_at=voidable_at,
        with_items=False,
        until=end,
        # The metered items' usage not yet invoiced: their period's up to its end.
        usage=usage_periods(items_of(subscription), end=end),
    )


async def collect_final(ctx: Context, subscription: ApiObject, invoice: ApiObject) -> None:
    """The final invoice finalized and collected now, as an update's (`allow_incomplete`)."""
    await collect_now(ctx, subscription, invoice, ChangeTerms())


async def collect_now(
    ctx: Context, subscription: ApiObject, invoice: ApiObject, terms: ChangeTerms
) -> None:
    """Finalize the invoice and charge it (charge_automatically). Not paid: the
    subscription is `past_due` (`allow_incomplete`, the default), or the request fails
    with nothing changed (`error_if_incomplete`); `default_incomplete` leaves the payment
    to the client; `pending_if_incomplete` charges as `allow_incomplete` does, and the
    caller then puts the subscription back as it was (`subscription_pending_updates`)."""
    behavior = terms.payment_behavior or "allow_incomplete"
    invoice["automatically_finalizes_at"] = ctx.now()
    if behavior == "default_incomplete":
        invoice["auto_advance"] = False
        await invoice_transitions.finalize_draft(ctx, invoice, auto_advance=False)
        await invoice_documents.save(ctx, invoice)
    else:
        # The invoice hooks leave this subscription's status to the code below.
        ctx.memo[DECIDING_STATUS] = subscription["id"]
        try:
            await invoice_advance.advance_invoice(ctx, invoice)
        except CardDeclined:
            if behavior == "error_if_incomplete":
                raise _UpdatePaymentFailed() from None
        finally:
            ctx.memo.pop(DECIDING_STATUS, None)
    subscription["latest_invoice"] = invoice["id"]
    unpaid = invoice["status"] == "open" and invoice["amount_remaining"] > 0
    automatic = subscription["collection_method"] == "charge_automatically"
    # An incomplete subscription stays so: it has not started, and expires unpaid.
    if unpaid and automatic and subscription["status"] != "incomplete":
        subscription["status"] = "past_due"


class _UpdatePaymentFailed(CardError):
    """`error_if_incomplete`: a 402 card error, and the request's writes roll back."""

    def __init__(self) -> None:
        super().__init__(
            "The payment for the subscription's change failed, and payment_behavior is "
            "error_if_incomplete: nothing was changed.",
            code="card_declined",
        )


# --- cancellation --------------------------------------------------------------------------


async def credit_unused_time(ctx: Context, subscription: ApiObject) -> None:
    """A cancellation's `prorate`: credit each item's unused time from now to the end of
    its period (nothing on trial, which was not billed)."""
    for credit in await unused_time_credits(ctx, subscription):
        await insert_proration(ctx, credit)


async def unused_time_credits(
    ctx: Context, subscription: ApiObject, at: int | None = None
) -> list[ApiObject]:
    """The credits (unsaved) for each item's unused time from `at` (default now) to the
    end of its period: what a cancellation's `prorate` makes (`DELETE` stores them, a
    preview of it, `subscription_details[cancel_now]`, shows them), and what a trial added
    to an active subscription gives back (`subscription_trials`). The part of a period
    before an explicit anchor that `proration_behavior=none` on create left free was never
    billed, and credits nothing, as a cut of it does (`free_before_anchor`)."""
    if subscription["status"] == "trialing":
        return []
    at = ctx.now() if at is None else at
    credits = []
    for item in items_of(subscription):
        if at < item_period(item)[1] and not free_before_anchor(subscription, item):
            credits.extend(
                await proration_items(
                    ctx, subscription, str(item["id"]), billed(subscription, item), None, at
                )
            )
    return credits
