"""The invoice items a change to a subscription item makes for the time left in its period
(`proration=true`): a credit for the unused time of what it billed (`subscription_credits`,
by billing mode) and a charge for the same time of what it bills now, each over the whole
period of the item's interval its current period is part of (`subscription_periods.
whole_period`: the first part up to an explicit anchor is prorated as its first invoice
was), to the second (`periods.proration`), not discountable. `subscription_changes` and
`subscription_pause` make them; they are stored pending (`make_prorations`) or invoiced at
once by their caller.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kassa.invariants import ensure
from kassa.services import events
from kassa.services.billing import periods, subscription_credits, subscription_discounts
from kassa.services.billing.invoice_item_params import Priced
from kassa.services.billing.invoice_item_pricing import apply_priced, blank_item, from_price
from kassa.services.billing.invoice_item_pricing import view as item_view
from kassa.services.billing.price_fields import decimal_text
from kassa.services.billing.pricing import unit_amount_of
from kassa.services.billing.subscription_documents import customer_of, item_period, product_name
from kassa.services.billing.subscription_periods import note_charged, whole_period
from kassa.services.context import Context
from kassa.services.resource import ApiObject
from kassa.store.tables import INVOICE_ITEMS


@dataclass(frozen=True)
class Billed:
    """What one item bills per period: its price and quantity, the period it is in, and the
    whole period of its interval that is part of (`subscription_periods.whole_period`), which
    its price is for."""

    price: Mapping[str, Any]
    quantity: int
    period: tuple[int, int]
    basis: tuple[int, int]
    discounts: tuple[str, ...] = ()
    """The item's own discounts (classic credits net of them: an item the change removes
    is no longer on the subscription to read them from)."""
    tax_rates: tuple[Mapping[str, Any], ...] = ()
    """The item's own tax rates, which its prorations carry as its period lines do (an
    item's `tax_rates` override the subscription's `default_tax_rates`): a credit those
    of the item as it billed, a charge those it has after the change."""

    @property
    def amount(self) -> int:
        return from_price(self.price, self.quantity).amount


@dataclass(frozen=True)
class ChargedBack:
    """The part of a charge for time given back to a period that an update's `cancel_at`
    had credited (`subscription_period_ends`), up to `until`: what was credited for it,
    `amount`, plus the difference between what the item bills now and what it billed when
    cut (`as_cut`: each span's [from, to) and the item's amount per whole period then, its
    price times its quantity) over that span, so that a change since (a seat more, a
    dearer price) is charged for the time given back, and nothing changed nets the credit
    to the cent. The time after `until` was never paid for, and is charged at the price."""

    amount: int
    until: int
    as_cut: tuple[tuple[int, int, int], ...] = ()


def billed(subscription: Mapping[str, Any], item: Mapping[str, Any]) -> Billed:
    """What a subscription item bills per period now."""
    return Billed(
        item["price"],
        int(item["quantity"]),
        item_period(item),
        whole_period(subscription, item),
        tuple(str(d) for d in item.get("discounts") or []),
        tuple(item.get("tax_rates") or []),
    )


async def proration_items(
    ctx: Context,
    subscription: Mapping[str, Any],
    item_id: str,
    old: Billed | None,
    new: Billed | None,
    at: int,
    *,
    adds_debit: bool = False,
    cuts: bool = False,
    charged_back: ChargedBack | None = None,
    unsaved: Sequence[Mapping[str, Any]] = (),
) -> list[ApiObject]:
    """The proration items (unsaved) for one item's change at `at`: a credit for the unused
    time of `old` in its period (`subscription_credits`, one per debit, `unsaved` holding
    the same update's prorations not stored yet), a charge for the remaining time of `new`
    in its own (the same period unless the change moved the item to another interval; none
    for a zero amount), `charged_back` for its credited part; the item's debit noted on the
    document, or with `adds_debit` (no `old`) the charge added to its debits, or with `cuts`
    (no `new`: its period cut short at `at`) its debits kept, credited from `at` on, when
    anything was credited."""
    ensure(old is None or not adds_debit, "a debit added next to others credits none")
    ensure(new is None or not cuts, "a period cut short charges nothing")
    ensure(charged_back is None or adds_debit, "only time given back is charged back")
    made = []
    if old is not None:
        as_billed = subscription_credits.AsBilled(str(old.price["product"]), old.discounts)
        credits = await subscription_credits.credits_for(
            ctx,
            subscription,
            item_id,
            old.amount,
            old.period,
            at,
            basis=old.basis,
            unsaved=unsaved,
            as_billed=as_billed,
        )
        period = (at, old.period[1])
        for credit in credits:
            if credit.amount != 0:
                made.append(
                    await _proration_item(
                        ctx,
                        subscription,
                        item_id,
                        old,
                        credit.amount,
                        period,
                        credit.credited_items,
                        credit.discounts,
                    )
                )
    charged = None
    if new is not None:
        amount, inside = await _charge(ctx, subscription, item_id, new, at, charged_back)
        if amount != 0:
            period = (at, new.period[1])
            charged = await _proration_item(
                ctx, subscription, item_id, new, amount, period, inside=inside
            )
            made.append(charged)
            subscription_discounts.note_charge(subscription, charged, inside)
            note_charged(subscription, item_id)
    if cuts:
        if made:  # nothing credited (no debit to undo): the debits are whole still
            subscription_credits.note_cut(subscription, item_id, at)
    elif not adds_debit:
        subscription_credits.note_proration(
            subscription, item_id, credited=old is not None, charge=charged
        )
    elif charged is not None:
        subscription_credits.note_added_debit(subscription, item_id, charged)
    return made


async def _charge(
    ctx: Context,
    subscription: Mapping[str, Any],
    item_id: str,
    new: Billed,
    at: int,
    charged_back: ChargedBack | None,
) -> tuple[int, list[str]]:
    """The charge for the time of `new` from `at` to its period's end: for the part
    `charged_back` covers, what was credited for it adjusted by what `new` bills more (or
    less) than the item did when cut (`_change_since_cut`); the price's share for the
    rest. With it the discounts inside the charge (`subscription_credits.debit_discounts`),
    those of that share only: the part charged back nets a credit made before them, and
    takes nothing off with them (a `once` one is not used by it)."""
    amount, priced_from = 0, at
    if charged_back is not None:
        change = await _change_since_cut(ctx, subscription, item_id, new, at, charged_back)
        # Fewer seats than were credited may leave less to charge than nothing: the time
        # given back then costs nothing, the credit kept (a charge is never a credit).
        amount, priced_from = max(0, charged_back.amount + change), charged_back.until
    if priced_from >= new.period[1]:
        return amount, []
    base = await subscription_credits.debit_base(ctx, subscription, item_id, new.amount, at)
    share = periods.proration(0, base, *new.period, priced_from, basis=new.basis).charge
    if share <= 0:
        return amount + share, []
    inside = await subscription_credits.debit_discounts(ctx, subscription, item_id, new.amount, at)
    return amount + share, inside


async def _change_since_cut(
    ctx: Context,
    subscription: Mapping[str, Any],
    item_id: str,
    new: Billed,
    at: int,
    charged_back: ChargedBack,
) -> int:
    """What `new` bills for the spans `charged_back` covers less what the item billed for
    them when cut, both as a charge made at `at` would take them (`debit_base`: the same
    discounts for both), each span's share rounded as any proration: 0 to the cent when
    nothing changed, whatever discounts were used up since."""
    now = await subscription_credits.debit_base(ctx, subscription, item_id, new.amount, at)
    change = 0
    for low, high, gross in charged_back.as_cut:
        then = await subscription_credits.debit_base(ctx, subscription, item_id, gross, at)
        share = periods.unused_share(new.basis, low, high)
        change += periods.prorated_amount(now, share) - periods.prorated_amount(then, share)
    return change


async def make_prorations(
    ctx: Context,
    subscription: Mapping[str, Any],
    item_id: str,
    old: Billed | None,
    new: Billed | None,
    at: int,
) -> list[ApiObject]:
    """`proration_items`, stored as pending invoice items (`invoiceitem.created`)."""
    made = await proration_items(ctx, subscription, item_id, old, new, at)
    for item in made:
        await insert_proration(ctx, item)
    return made


async def insert_proration(ctx: Context, item: ApiObject) -> None:
    await ctx.tx.insert_object(INVOICE_ITEMS, ctx.account_id, item)
    await events.announce(ctx, "invoiceitem.created", item_view(item))


async def _proration_item(
    ctx: Context,
    subscription: Mapping[str, Any],
    item_id: str,
    billed: Billed,
    amount: int,
    period: tuple[int, int],
    credited_items: dict[str, Any] | None = None,
    inside: Sequence[str] = (),
) -> ApiObject:
    """A proration item of `amount` for `period`; `credited_items`, the debit a credit
    undoes; `inside`, the discounts its amount is net of."""
    credit = amount < 0
    name = await product_name(ctx, str(billed.price["product"]))
    when = dt.datetime.fromtimestamp(period[0], dt.UTC).strftime("%d %b %Y")
    quantity = max(billed.quantity, 1)
    unit = unit_amount_of(amount, quantity)
    priced = Priced(
        amount,
        str(subscription["currency"]),
        quantity,
        {
            "price_details": {"price": billed.price["id"], "product": billed.price["product"]},
            "type": "price_details",
            "unit_amount_decimal": decimal_text(unit),
        },
    )
    customer = await customer_of(ctx, subscription)
    item = blank_item(ctx, customer, priced)
    apply_priced(item, priced, param=None)  # a part of a period whose amount was checked
    item["description"] = (
        f"{'Unused' if credit else 'Remaining'} time on {billed.quantity} \u00d7 {name} "
        f"after {when}"
    )
    item["discountable"] = False
    item["tax_rates"] = [dict(rate) for rate in billed.tax_rates]
    item["period"] = {"start": period[0], "end": period[1]}
    item["proration"] = True
    item["proration_details"] = {
        "credited_items": credited_items,
        "discount_amounts": _discount_amounts(subscription, inside),
    }
    item["parent"] = {
        "subscription_details": {
            "subscription": subscription["id"],
            "subscription_item": item_id,
        },
        "type": "subscription_details",
    }
    return item


def _discount_amounts(subscription: Mapping[str, Any], inside: Sequence[str]) -> list[Any]:
    """`proration_details.discount_amounts`: "Discount amounts applied when the proration
    was created", filled for flexible billing mode only (the SDK). Kassa's one flexible
    `proration_discounts`, `included`, has the discounts inside the proration's amount: each
    named with an amount of 0 (changelog 2025-09-30.clover, itemize-proration-discount-
    amounts: "the proration discount properties include discount IDs, but discount amounts
    are 0")."""
    if subscription_credits.is_classic(subscription):
        return []
    return [{"amount": 0, "discount": discount} for discount in dict.fromkeys(inside)]
