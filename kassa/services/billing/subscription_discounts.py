"""What a subscription's invoices take off and add: its `discounts` and
`default_tax_rates`, and each item's `discounts` and `tax_rates`, on create and update, and
`DELETE /v1/subscriptions/{id}/discount`. The parameters are declared with the other terms
(`subscription_terms`).

Discounts. Each coupon or promotion code makes a discount (`discounts.apply`) that names the
subscription (and item), redeemed once, when applied; `discounts[][discount]` reuses one.
Every invoice of the subscription carries the subscription's discounts and default tax rates,
and each line its item's. A `once` discount is used up by the first invoice it takes
something off (not a trial's, with nothing to discount; an item's not by an invoice without
a line of that item), whatever that invoice comes to, and a `repeating` one ends
`duration_in_months` after it was applied (the trial counting); either is then removed from
the subscription before its next invoice.

A prorated charge takes its discounts inside its amount (flexible billing mode its
percentages, classic every one: `subscription_credits.debit_base`), its line not
discountable: a `once` discount inside a
charge is used by the invoice that bills the charge, as by one whose lines it takes
something off (Stripe: a `once` coupon applies to one invoice).

Used up, a discount stays so wherever it goes: put back by `discounts[][discount]` (after it
was removed, or from the subscription to an item) it takes nothing more, as a `repeating`
one keeps its end. Only the subscription's own discounts (and an item's own, or the
customer's) can be put back so: they are on the object or one of its ancestors. The
discount itself records the invoice that used it (`discounts.USED_BY`): the subscription
forgets the terms of a discount it no longer holds.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Final

from kassa.errors import ResourceMissing
from kassa.invariants import InvariantViolated, ensure
from kassa.params import UNSET, Unset
from kassa.services.billing import discounts, prices, redemptions
from kassa.services.billing.invoice_amounts import DISCOUNTS_MAX, LINES_MAX
from kassa.services.billing.invoice_item_pricing import from_price, usable_tax_rates
from kassa.services.billing.subscription_documents import (
    HELD,
    ITEMS_MAX,
    announce,
    items_of,
    load_subscription,
    private,
    save,
    snapshot,
)
from kassa.services.billing.subscription_terms import CreateTerms
from kassa.services.context import Context
from kassa.services.resource import ApiObject, Operation, no_params
from kassa.store.tables import COUPONS, DISCOUNTS

DISCOUNT_TERMS: Final = "discount_terms"
"""Private key: discount id -> {"once", "end", "used"}, what decides when it stops applying
(and for a `once` one not yet used, `CHARGES`)."""
_DISCOUNTS_HELD_MAX: Final = DISCOUNTS_MAX * (1 + ITEMS_MAX)
"""The most discounts a subscription holds: its own and each item's."""
CHARGES: Final = "charges"
"""In a `once` discount's terms: the pending prorated charges made net of it
(`note_charge`)."""
REMOVED_CHARGES: Final = "removed_discount_charges"
"""Private key: discount id -> `CHARGES`, for a `once` discount removed from the subscription
while charges made net of it were pending: the invoice that bills one of them still uses it
up (`note_invoiced`), and put back before that, it takes them back into its terms."""


async def apply_create_terms(ctx: Context, subscription: ApiObject, request: CreateTerms) -> None:
    """Default tax rates, each item's tax rates and discounts, and the subscription's
    discounts (made and redeemed now), checked as they are applied."""
    await apply_default_tax_rates(ctx, subscription, request.default_tax_rates)
    items = items_of(subscription)
    ensure(len(items) == len(request.items), "one subscription item per requested item")
    for index, (item, entry) in enumerate(zip(items, request.items, strict=True)):
        await apply_item_terms(ctx, subscription, item, entry, index)
    if isinstance(request.discounts, list):
        subscription["discounts"] = await _made(
            ctx, subscription, request.discounts, param="discounts", item=None
        )


async def apply_item_terms(
    ctx: Context,
    subscription: ApiObject,
    item: ApiObject,
    entry: Mapping[str, Any],
    index: int,
    *,
    previewed: bool = False,
) -> None:
    """`items[index][tax_rates]` and `items[index][discounts]` onto `item` (empty: cleared);
    `previewed`, for an invoice preview: the discounts made for it are not stored."""
    rates = entry.get("tax_rates")
    if isinstance(rates, list):
        item["tax_rates"] = await usable_tax_rates(ctx, rates, param=f"items[{index}][tax_rates]")
    elif rates is UNSET:
        item["tax_rates"] = []
    requested = entry.get("discounts")
    if requested is None:
        return
    kept = _forget_terms(subscription, item["discounts"])
    item["discounts"] = (
        []
        if isinstance(requested, Unset)
        else await _made(
            ctx,
            subscription,
            requested,
            param=f"items[{index}][discounts]",
            item=item,
            kept=kept,
            previewed=previewed,
        )
    )


async def apply_default_tax_rates(
    ctx: Context, subscription: ApiObject, value: list[str] | Unset | None
) -> None:
    """`default_tax_rates`: active tax rates (their objects, as Stripe shows them), or
    cleared when sent empty. Archived rates already on the subscription stay until
    replaced."""
    if isinstance(value, list):
        subscription["default_tax_rates"] = await usable_tax_rates(
            ctx, value, param="default_tax_rates"
        )
    elif value is UNSET:
        subscription["default_tax_rates"] = []


async def apply_discounts(
    ctx: Context, subscription: ApiObject, value: list[dict[str, Any]] | Unset | None
) -> None:
    """`discounts` on update: the subscription's discounts replaced (new coupons and codes
    redeemed, `discount` entries reused), or removed when sent empty. Invoices already
    made keep theirs."""
    if value is None:
        return
    kept = _forget_terms(subscription, subscription["discounts"])
    subscription["discounts"] = (
        []
        if isinstance(value, Unset)
        else await _made(ctx, subscription, value, param="discounts", item=None, kept=kept)
    )


def prune_discounts(subscription: ApiObject, now: int) -> None:
    """Before an invoice: remove the discounts that no longer apply (a `once` one used, a
    `repeating` one past its end)."""
    subscription["discounts"] = applying(subscription, subscription["discounts"], now)
    for item in items_of(subscription):
        item["discounts"] = applying(subscription, item["discounts"], now)
    _keep_terms_of(subscription)


def applying(subscription: Mapping[str, Any], discount_ids: Sequence[str], now: int) -> list[str]:
    """Those of the subscription's (or an item's) `discount_ids` an invoice made at `now`
    would still take: not a `once` one already used, nor a `repeating` one past its end."""
    terms: dict[str, Any] = private(subscription).get(DISCOUNT_TERMS, {})

    def applies(discount_id: str) -> bool:
        found = terms.get(discount_id)
        if found is None:
            return True
        return not found["used"] and (found["end"] is None or now < found["end"])

    return [str(d) for d in discount_ids if applies(str(d))]


def taken_in_period(
    subscription: Mapping[str, Any], discount_ids: Sequence[str], period_start: int
) -> list[str]:
    """Those of the subscription's (or an item's) `discount_ids` its invoices took, or
    would take, in the period from `period_start`: a `once` one used or not, a `repeating`
    one ending after that start. What `applying` drops once used up or ended stays here for
    the rest of the period: a discount used before the period was removed by its invoice
    (`prune_discounts`), so one still held was used in it, or is still to be."""
    terms: dict[str, Any] = private(subscription).get(DISCOUNT_TERMS, {})

    def taken(discount_id: str) -> bool:
        found = terms.get(discount_id)
        return found is None or found["end"] is None or period_start < found["end"]

    return [str(d) for d in discount_ids if taken(str(d))]


def note_charge(
    subscription: Mapping[str, Any], charge: Mapping[str, Any], discount_ids: Sequence[str]
) -> None:
    """A prorated charge (`subscription_prorations`) made net of these discounts
    (`subscription_credits.debit_base`: the discount is inside its amount, the line itself
    not discountable): a `once` one among them not yet used is used by the invoice that
    bills the charge (`note_invoiced`)."""
    terms: dict[str, Any] = private(subscription).get(DISCOUNT_TERMS, {})
    for discount_id in discount_ids:
        found = terms.get(discount_id)
        if found is not None and found["once"] and not found["used"]:
            # Only charges still pending are kept: an invoice billing one uses the discount
            # up, and the list with it. Bounded as the lines of one invoice are.
            charges = [*found.get(CHARGES, []), str(charge["id"])]
            found[CHARGES] = charges[-LINES_MAX:]


async def note_invoiced(
    ctx: Context, subscription: ApiObject, invoice: Mapping[str, Any], billed: Collection[str]
) -> None:
    """After an invoice billing the invoice items `billed` (those it took pending): a `once`
    discount is used when it took something off the invoice (in its
    `total_discount_amounts`, summed from its lines' `discount_amounts`) or is inside one of
    those items, a prorated charge made net of it (`note_charge`): the first invoice it
    takes something off, whatever the invoice comes to (an `always_invoice` update whose
    charge and credit net to zero, a reset whose credit outweighs the discounted period).
    An item's discount is not used by an invoice with no line of that item (an
    `always_invoice` update billing another item's prorations, a renewal of items on another
    interval), nor the subscription's by one with nothing discountable on it. The discount
    itself records the invoice (`discounts.USED_BY`), so put back later it stays used."""
    taken = {
        str(entry["discount"])
        for entry in invoice["total_discount_amounts"]
        if int(entry["amount"]) > 0
    }
    terms: dict[str, Any] = private(subscription).get(DISCOUNT_TERMS, {})
    for discount_id in _all_discounts(subscription):
        found = terms.get(discount_id)
        if found is None or not found["once"] or found["used"]:
            continue
        if discount_id in taken or any(c in billed for c in found.get(CHARGES, [])):
            _mark_used(found)
            await discounts.set_used_by(ctx, discount_id, str(invoice["id"]))
    removed: dict[str, Any] = private(subscription).get(REMOVED_CHARGES, {})
    for discount_id, charges in list(removed.items()):
        if any(c in billed for c in charges):  # removed since, it is used all the same
            del removed[discount_id]
            await discounts.set_used_by(ctx, discount_id, str(invoice["id"]))
    if REMOVED_CHARGES in private(subscription) and not removed:
        del private(subscription)[REMOVED_CHARGES]


def newly_used(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """The `once` discounts used up between two states of the subscription (by the invoice
    of a change made in between)."""
    was: dict[str, Any] = private(before).get(DISCOUNT_TERMS, {})
    now: dict[str, Any] = private(after).get(DISCOUNT_TERMS, {})
    return [
        discount_id
        for discount_id, found in now.items()
        if found["once"] and found["used"] and not was.get(discount_id, {}).get("used")
    ]


def note_used(subscription: Mapping[str, Any], discount_ids: Collection[str]) -> None:
    """These `once` discounts were used up (by a held change's invoice, paid): so they are
    in the subscription's terms as they now stand, those it still holds."""
    terms: dict[str, Any] = private(subscription).get(DISCOUNT_TERMS, {})
    for discount_id in list(discount_ids)[:_DISCOUNTS_HELD_MAX]:
        found = terms.get(discount_id)
        if found is not None and found["once"]:
            _mark_used(found)


def _mark_used(found: dict[str, Any]) -> None:
    """A `once` discount's terms, used up: the charges it was inside no longer matter."""
    found["used"] = True
    found.pop(CHARGES, None)


async def forget_uses_by(ctx: Context, invoice_id: str, discount_ids: Collection[str]) -> list[str]:
    """The invoice voided with what it billed undone (a held update's, discarded:
    `subscription_pending_updates`; one `pause_collection` voids: `forget_voided_uses`):
    those of these discounts it used are unused again on their own record; returned."""
    forgotten = []
    for discount_id in list(discount_ids)[:_DISCOUNTS_HELD_MAX]:
        found = await ctx.tx.get_object(DISCOUNTS, ctx.account_id, discount_id, lock=False)
        if found is not None and discounts.used_by(found[0]) == invoice_id:
            await discounts.set_used_by(ctx, discount_id, None)
            forgotten.append(discount_id)
    return forgotten


async def forget_voided_uses(ctx: Context, subscription: ApiObject, invoice_id: str) -> None:
    """The subscription's invoice `invoice_id`, just made, voided by `pause_collection`
    (`void`: `subscription_pause.collect_per_pause`): a `once` discount it used is unused
    again, in the subscription's terms and on its own record (`forget_uses_by`), for the
    next invoice that is collected to use. Kassa's choice: Stripe's docs say nothing of a
    `once` coupon on an invoice a pause voids; its pause-payment guide has `void` "offer
    services for free", and a discount taken off an invoice nobody pays benefits nobody.
    (An invoice marked uncollectible, or kept a draft, still uses it: it stands as billed.)
    The subscription is changed, its caller saves it."""
    terms: dict[str, Any] = private(subscription).get(DISCOUNT_TERMS, {})
    for discount_id in await forget_uses_by(ctx, invoice_id, _all_discounts(subscription)):
        found = terms.get(discount_id)
        if found is not None and found["once"]:
            found["used"] = False


async def _made(
    ctx: Context,
    subscription: ApiObject,
    requested: Sequence[Mapping[str, Any]],
    *,
    param: str,
    item: ApiObject | None,
    kept: Mapping[str, Any] | None = None,
    previewed: bool = False,
) -> list[str]:
    """The discounts `requested` makes for the subscription (or its `item`): new ones name
    it and are redeemed now; `discount` entries reuse one on it, its item or its customer
    (`kept` holds the terms of those it had). `previewed`: new ones are made as for an
    invoice preview (`discounts.preview`), neither stored nor redeemed, their terms the
    same."""
    lineage = discounts.Lineage.of(
        str(subscription["customer"]),
        str(subscription["id"]),
        None if item is None else str(item["id"]),
    )
    make = discounts.preview if previewed else discounts.apply
    ids = await make(
        ctx, requested, lineage=lineage, currency=str(subscription["currency"]), param=param
    )
    terms = private(subscription).setdefault(DISCOUNT_TERMS, {})
    for index, (entry, discount_id) in enumerate(zip(requested, ids, strict=True)):
        if kept is not None and discount_id in kept:  # reused: it goes on as it was
            terms[discount_id] = kept[discount_id]
            _take_back_charges(subscription, discount_id)
            continue
        unstored = discounts.made_for_preview(ctx, discount_id) if previewed else None
        if unstored is not None:
            # Refused as the update would (`_check_purchase` below), before the preview's
            # lines would check it as an invoice's.
            await check_previewed_purchase(ctx, subscription, [discount_id])
            terms[discount_id] = await _duration_terms(ctx, subscription, unstored)
            _take_back_charges(subscription, discount_id)
            continue
        discount = await _discount_document(ctx, discount_id)
        if not entry.get("discount"):
            discount["subscription"] = subscription["id"]
            discount["subscription_item"] = None if item is None else item["id"]
            await ctx.tx.update_object(DISCOUNTS, ctx.account_id, discount)
            await _check_purchase(ctx, subscription, discount, f"{param}[{index}]")
        terms[discount_id] = await _duration_terms(ctx, subscription, discount)
        _take_back_charges(subscription, discount_id)
    return ids


async def _discount_document(ctx: Context, discount_id: str) -> ApiObject:
    found = await ctx.tx.get_object(DISCOUNTS, ctx.account_id, discount_id)
    if found is None:
        raise InvariantViolated(f"the discount {discount_id} just applied is stored")
    return found[0]


async def _duration_terms(
    ctx: Context, subscription: Mapping[str, Any], discount: Mapping[str, Any]
) -> dict[str, Any]:
    """What decides when the discount stops applying. A discount reused from elsewhere (put
    back after it was removed, moved from an item) is the same discount: a `once` one an
    invoice used up stays used, as a `repeating` one keeps its end. Not by the invoice of a
    change held for its payment (`subscription_pending_updates`): the subscription goes on
    as if that change had not been made until it is paid (which uses the discount up then),
    and it is not if the change is discarded."""
    coupon = await ctx.tx.get_object(
        COUPONS, ctx.account_id, discount["source"]["coupon"], lock=False
    )
    once = coupon is not None and coupon[0]["duration"] == "once"
    user = discounts.used_by(discount)
    held_for = (private(subscription).get(HELD) or {}).get("invoice")
    used = once and user is not None and user != held_for
    return {"once": once, "end": discount["end"], "used": used}


async def _check_purchase(
    ctx: Context,
    subscription: Mapping[str, Any],
    discount: Mapping[str, Any],
    path: str,
) -> None:
    """A code's restrictions on the purchase (first-time customer, minimum amount: one
    period of the subscription). The redemption was counted once, when `discounts.apply`
    made the discount for the subscription (its invoices carry it but, not owning it, never
    count it again)."""
    code = discount["promotion_code"]
    if code is None:
        return
    customer = str(subscription["customer"])
    await redemptions.check_purchase(
        ctx,
        redemptions.Redemption(
            promotion_code=code,
            customer=customer,
            amount=await _period_amount(ctx, subscription),
            currency=str(subscription["currency"]),
            first_time_transaction=await discounts.first_time_customer(ctx, customer),
            promotion_code_param=f"{path}[promotion_code]",
        ),
    )


async def check_previewed_purchase(
    ctx: Context, subscription: Mapping[str, Any], discount_ids: Sequence[str]
) -> None:
    """The codes a preview made for the subscription (`discounts.preview`), refused as
    applying them to it would be (`_check_purchase`): against one period of its items. With
    none of `discount_ids` made by the preview (a preview of the subscription as it is, the
    `invoice.upcoming` notice's) there is nothing to check, and its items' prices are not
    read for the amount."""
    if all(discounts.made_for_preview(ctx, str(d)) is None for d in discount_ids):
        return
    customer = str(subscription["customer"])
    await discounts.check_previewed_purchase(
        ctx,
        discount_ids,
        customer=customer,
        amount=await _period_amount(ctx, subscription),
        currency=str(subscription["currency"]),
    )


async def _period_amount(ctx: Context, subscription: Mapping[str, Any]) -> int:
    """What one full period of the subscription's items comes to before discounts (what a
    promotion code's minimum amount is checked against)."""
    total = 0
    for item in items_of(subscription):
        price = await prices.load_price(ctx, str(item["price"]["id"]), param="items")
        total += from_price(price, int(item["quantity"])).amount
    return total


def _all_discounts(subscription: Mapping[str, Any]) -> list[str]:
    found = list(subscription["discounts"])
    for item in items_of(subscription):
        found.extend(item["discounts"])
    return found


def _forget_terms(subscription: ApiObject, discount_ids: Sequence[str]) -> dict[str, Any]:
    """Drop the terms of discounts being replaced; returned, for those reused. The pending
    charges a `once` one not yet used is inside are kept apart (`REMOVED_CHARGES`)."""
    terms: dict[str, Any] = private(subscription).get(DISCOUNT_TERMS, {})
    dropped = {d: terms.pop(d) for d in discount_ids if d in terms}
    for discount_id, found in dropped.items():
        if found["once"] and not found["used"] and found.get(CHARGES):
            removed = private(subscription).setdefault(REMOVED_CHARGES, {})
            removed.pop(discount_id, None)
            removed[discount_id] = list(found[CHARGES])
            # Bounded as the discounts a subscription holds: the oldest forgotten first.
            for oldest in list(removed)[: max(0, len(removed) - _DISCOUNTS_HELD_MAX)]:
                del removed[oldest]
    return dropped


def _take_back_charges(subscription: ApiObject, discount_id: str) -> None:
    """A discount put back: the pending charges it was inside when removed are in its
    terms again (`_forget_terms`)."""
    facts = private(subscription)
    removed: dict[str, Any] = facts.get(REMOVED_CHARGES, {})
    charges = removed.pop(discount_id, None)
    if REMOVED_CHARGES in facts and not removed:
        del facts[REMOVED_CHARGES]
    found = facts.get(DISCOUNT_TERMS, {}).get(discount_id)
    if charges and found is not None and found["once"] and not found["used"]:
        held = list(found.get(CHARGES, []))
        found[CHARGES] = [*held, *(c for c in charges if c not in held)][-LINES_MAX:]


def _keep_terms_of(subscription: ApiObject) -> None:
    terms: dict[str, Any] = private(subscription).get(DISCOUNT_TERMS, {})
    current = set(_all_discounts(subscription))
    for discount_id in [d for d in terms if d not in current]:
        del terms[discount_id]


# -- DELETE /v1/subscriptions/{id}/discount ----------------------------------------------------


class NoDiscount(ResourceMissing):
    def __init__(self, subscription_id: str) -> None:
        super().__init__("discount", subscription_id)
        self.message = f"No active discount for subscription: '{subscription_id}'"
        self.args = (self.message,)


async def delete_discount(ctx: Context, subscription_id: str) -> ApiObject:
    """Remove the subscription's discount (Stripe's singular one: every discount of the
    subscription itself; its items keep theirs) and answer with it, deleted."""
    subscription = await load_subscription(ctx, subscription_id)
    ctx = await ctx.governed_by(subscription)
    if not subscription["discounts"]:
        raise NoDiscount(subscription_id)
    before = snapshot(subscription)
    removed = await discounts.load_discount(ctx, str(subscription["discounts"][0]))
    _forget_terms(subscription, subscription["discounts"])
    subscription["discounts"] = []
    await save(ctx, subscription)
    await announce(ctx, "customer.subscription.updated", subscription, before)
    shown = {key: value for key, value in removed.items() if key != "end"}
    return {**shown, "deleted": True}


DELETE_DISCOUNT = Operation(no_params, delete_discount, writes=True)
"""`DELETE /v1/subscriptions/{id}/discount` (to be routed)."""
