"""Discounts (`di_...`): a coupon, directly or through a promotion code, applied to an invoice
or an invoice item (`discounts[][coupon|promotion_code|discount]`). Since API 2025-09-30 a
discount names its coupon in `source{type: "coupon", coupon}`.

A discount is made when it is applied; the coupon (and code) must exist, be usable now, and
an amount-based coupon must have an amount in the invoice's currency. The redemption is
counted then too (`redemptions.redeem`, the coupon's row locked), as Stripe counts
`times_redeemed` ("applied to a customer"): a coupon or code past its `max_redemptions` is
refused to the next draft or item at once. A discount removed from a draft, or whose draft or
pending item is deleted, gives its redemption back (`discard`): Stripe's documentation says
nothing of it, and an invoice never issued used nothing up. When the invoice is finalized
nothing is checked again (a coupon deleted, expired or used up since, or a code deactivated
since, never keeps the draft from finalizing) but a code's restrictions on the purchase
(first-time customer, minimum amount), which the invoice decides (`check_at_finalization`).

`discounts[][discount]` reuses a discount already made (it is not redeemed again): one on the
object `discounts` is set on or on one of its ancestors (Stripe's words; `Lineage`), never
another subscription's, invoice's or item's of the same customer. Discounts are read by id
only: through `expand[]` and the invoice's arithmetic (`discount_terms`), which still works
when the coupon was deleted since.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from kassa.errors import InvalidParameter, InvalidRequest, ResourceMissing
from kassa.ids import new_id
from kassa.invariants import ensure
from kassa.params import ListOf, String, Struct
from kassa.services.billing import coupons, discount_events, promotion_codes, redemptions
from kassa.services.billing.invoice_amounts import DISCOUNTS_MAX, DiscountTerms
from kassa.services.context import Context
from kassa.services.listing import could_be_object_id
from kassa.services.resource import ApiObject, Resource
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import CHARGES, COUPONS, DISCOUNTS, INVOICES, PRIVATE

DISCOUNT = Struct(
    {
        "coupon": String(max_chars=255),
        "discount": String(max_chars=255),
        "promotion_code": String(max_chars=255),
    }
)
DISCOUNTS_PARAM = ListOf(DISCOUNT, max_items=DISCOUNTS_MAX, nullable=True)
"""`discounts`: up to 20 entries; sent empty (`discounts=`) it clears them."""

Requested = Sequence[Mapping[str, Any]]
"""Validated `DISCOUNTS_PARAM` entries."""
USED_BY: Final = "used_by"
"""Private key: the invoice that used up a `once` discount of a subscription. Kept on the
discount, not only with the subscription, so the discount stays used wherever it is put back
(`discounts[][discount]`)."""
MADE_BY_QUOTE: Final = "made_by_quote"
"""Private key: the quote whose `discounts` (or a line's) made the discount. A quote's
discounts are on no object until it is accepted (Stripe's Discount has no `quote` field),
so this is how a draft quote's update finds the ones it replaces (`discard`)."""
COUNTED: Final = "counted"
"""Private key: the redemption was counted when the discount was applied (`apply`). A draft's
discount without it was applied by an earlier Kassa, which counted at finalization."""
_PREVIEWED = "discounts.previewed"
"""ctx.memo key: the discounts a preview made without storing them, by id (`_Previewed`)."""
_PURCHASE_CHECKED = "discounts.purchase_checked"
"""ctx.memo key: the ids of previewed discounts whose purchase was checked already (a
subscription item's, checked as its subscription's before the preview's lines are)."""


@dataclass(frozen=True)
class _Previewed:
    """A discount a preview made, never stored, and its terms (read in place of the
    stored coupon's by `discount_terms`)."""

    discount: ApiObject
    terms: DiscountTerms
    path: str
    """The request's entry that made it (`discounts[0]`, `invoice_items[1][discounts][0]`)."""


_OWNER_FIELDS: Final = (
    "checkout_session",
    "invoice_item",
    "invoice",
    "subscription_item",
    "subscription",
)
"""What a discount may be on, narrowest first: an item's discount names its subscription
too."""


@dataclass(frozen=True)
class Lineage:
    """The object `discounts` is set on and its ancestors: whose discounts a
    `discounts[][discount]` entry may reuse (Stripe: "an existing discount on the object
    (or one of its ancestors)"). The customer is every object's root ancestor."""

    customer: str
    owners: frozenset[str] = frozenset()
    """The ids of the object and of its ancestors other than the customer (subscription,
    subscription item, invoice, invoice item), those it has."""

    @classmethod
    def of(cls, customer: str, *owners: str | None) -> Lineage:
        return cls(customer, frozenset(owner for owner in owners if owner is not None))

    def below(self, *owners: str | None) -> Lineage:
        """The lineage of a child object (`owners`: it, and what else it hangs from)."""
        return Lineage.of(self.customer, *self.owners, *owners)


def parent_subscription(document: Mapping[str, Any]) -> str | None:
    """The subscription an invoice or an invoice item belongs to (`parent`), if any."""
    details = (document.get("parent") or {}).get("subscription_details") or {}
    return None if details.get("subscription") is None else str(details["subscription"])


def owner_of(discount: Mapping[str, Any]) -> str | None:
    """The object the discount is on; None for a customer's own discount."""
    owners = [discount.get(name) for name in _OWNER_FIELDS]
    return next((str(owner) for owner in owners if owner is not None), None)


def _named(entry: Mapping[str, Any], path: str, param: str) -> str:
    named = [key for key in ("coupon", "discount", "promotion_code") if entry.get(key)]
    if len(named) != 1:
        raise InvalidParameter(
            f"Each of {param} takes exactly one of coupon, discount or promotion_code.",
            param=path,
        )
    return named[0]


async def apply(
    ctx: Context,
    requested: Requested,
    *,
    lineage: Lineage,
    currency: str,
    invoice: str | None = None,
    invoice_item: str | None = None,
    quote: str | None = None,
    param: str = "discounts",
) -> list[str]:
    """The ids of the discounts `requested` makes (or reuses, from `lineage`) for an invoice,
    an item or a quote, each checked before it is stored."""
    customer = lineage.customer
    ids: list[str] = []
    for index, entry in enumerate(requested[:DISCOUNTS_MAX]):
        path = f"{param}[{index}]"
        kind = _named(entry, path, param)
        if kind == "discount":
            ids.append(await _reused(ctx, str(entry["discount"]), lineage, f"{path}[discount]"))
            continue
        discount = await _new_discount(ctx, entry, kind, path, customer, currency)
        discount["invoice"], discount["invoice_item"] = invoice, invoice_item
        await _count(ctx, discount, path)
        if quote is not None:
            discount[PRIVATE][MADE_BY_QUOTE] = quote
        await ctx.tx.insert_object(DISCOUNTS, ctx.account_id, discount)
        ids.append(discount["id"])
    _check_distinct(ids, param)
    return ids


async def _count(ctx: Context, discount: ApiObject, path: str) -> None:
    """Count the new discount's redemption, the coupon's limits checked again on its locked
    row (a redemption racing for the last use is refused). The purchase is checked when it is
    known: an invoice's when it is finalized, a subscription's by the subscription."""
    code = discount["promotion_code"]
    await redemptions.redeem(
        ctx,
        redemptions.Redemption(
            coupon=None if code is not None else discount["source"]["coupon"],
            promotion_code=code,
            customer=discount["customer"],
            coupon_param=f"{path}[coupon]",
            promotion_code_param=f"{path}[promotion_code]",
        ),
        purchase=False,
    )
    discount[PRIVATE] = {COUNTED: True}


async def replace(
    ctx: Context,
    current: Sequence[str],
    requested: Requested | None,
    *,
    owner: str,
    lineage: Lineage,
    currency: str,
    invoice: str | None = None,
    invoice_item: str | None = None,
) -> list[str]:
    """The discounts of a draft invoice or an item after `discounts` was sent (None: sent
    empty, which clears them). Those replaced are discarded first, their redemptions given
    back, so the same limited coupon can be put back in the same request; entries reusing
    the owner's own discounts keep them."""
    reused = [str(entry["discount"]) for entry in requested or () if entry.get("discount")]
    await discard(ctx, current, owner=owner, kept=reused)
    if not requested:
        return []
    return await apply(
        ctx,
        requested,
        lineage=lineage,
        currency=currency,
        invoice=invoice,
        invoice_item=invoice_item,
    )


def _check_distinct(ids: Sequence[str], param: str) -> None:
    if len(set(ids)) != len(ids):
        raise InvalidParameter(f"The same discount appears twice in {param}.", param=param)


async def preview(
    ctx: Context, requested: Requested, *, lineage: Lineage, currency: str, param: str = "discounts"
) -> list[str]:
    """Discounts for an invoice preview: checked as `apply` checks them, made but not
    stored; they and their terms are kept in this unit of work (`made_for_preview`,
    `discount_terms`)."""
    customer = lineage.customer
    made: dict[str, _Previewed] = ctx.memo.setdefault(_PREVIEWED, {})
    ids: list[str] = []
    for index, entry in enumerate(requested[:DISCOUNTS_MAX]):
        path = f"{param}[{index}]"
        kind = _named(entry, path, param)
        if kind == "discount":
            ids.append(await _reused(ctx, str(entry["discount"]), lineage, f"{path}[discount]"))
            continue
        discount = await _new_discount(ctx, entry, kind, path, customer, currency)
        coupon = await coupons.load_coupon(ctx, discount["source"]["coupon"])
        terms = _terms(discount["id"], coupon, currency)
        made[discount["id"]] = _Previewed(discount, terms, path)
        ids.append(discount["id"])
    _check_distinct(ids, param)
    return ids


async def check_previewed_purchase(
    ctx: Context, discount_ids: Sequence[str], *, customer: str, amount: int, currency: str
) -> None:
    """Refuse, as the real call would, a code among `discount_ids` that `preview` made in this
    unit of work whose restrictions on the purchase (first-time customer, minimum amount
    against `amount`) are not met: an invoice's when it is finalized
    (`check_at_finalization`), a subscription's when the code is applied. The error names
    the entry that gave the code. Each is checked once (`_PURCHASE_CHECKED`); discounts not
    made here (stored, reused) were checked where they were made."""
    previewed: dict[str, _Previewed] = ctx.memo.get(_PREVIEWED, {})
    checked: set[str] = ctx.memo.setdefault(_PURCHASE_CHECKED, set())
    first_time = None
    for discount_id in discount_ids[:DISCOUNTS_MAX]:
        found = previewed.get(discount_id)
        if found is None or discount_id in checked:
            continue
        checked.add(discount_id)
        code = found.discount["promotion_code"]
        if code is None:
            continue
        if first_time is None:
            first_time = await first_time_customer(ctx, customer)
        redemption = redemptions.Redemption(
            promotion_code=code,
            customer=customer,
            amount=amount,
            currency=currency,
            first_time_transaction=first_time,
            promotion_code_param=f"{found.path}[promotion_code]",
        )
        await redemptions.check_purchase(ctx, redemption)


def made_for_preview(ctx: Context, discount_id: str) -> ApiObject | None:
    """A discount `preview` made in this unit of work (never stored); None for others."""
    found: _Previewed | None = ctx.memo.get(_PREVIEWED, {}).get(discount_id)
    return None if found is None else found.discount


def _terms(discount_id: str, coupon: Mapping[str, Any], currency: str) -> DiscountTerms:
    return DiscountTerms(
        discount=discount_id,
        percent_off=coupons.percent_off(coupon),
        amount_off=coupons.amount_off_in(coupon, currency),
        products=_restricted_to(coupon),
    )


def _restricted_to(coupon: Mapping[str, Any]) -> frozenset[str] | None:
    """The products `applies_to[products]` restricts the coupon to; None when it has none
    (a coupon stored before `applies_to` was kept has no key: it applies to all)."""
    applies_to = coupon.get("applies_to")
    if applies_to is None:
        return None
    return frozenset(str(product) for product in applies_to.get("products", []))


async def _new_discount(
    ctx: Context, entry: Mapping[str, Any], kind: str, path: str, customer: str, currency: str
) -> ApiObject:
    code = None
    if kind == "promotion_code":
        code = await _usable_code(ctx, str(entry["promotion_code"]), customer, path)
        coupon_id, coupon_param = promotion_codes.coupon_of(code), f"{path}[promotion_code]"
    else:
        coupon_id, coupon_param = str(entry["coupon"]), f"{path}[coupon]"
    coupon = await coupons.load_coupon(ctx, coupon_id, param=coupon_param)
    _check_coupon_usable(ctx, coupon, currency, coupon_param)
    start = ctx.now()
    return {
        "id": new_id("di"),
        "object": "discount",
        "checkout_session": None,
        "created": start,
        "customer": customer,
        "customer_account": None,
        "end": _end(coupon, start),
        "invoice": None,
        "invoice_item": None,
        "promotion_code": None if code is None else code["id"],
        "source": {"coupon": coupon["id"], "type": "coupon"},
        "start": start,
        "subscription": None,
        "subscription_item": None,
    }


async def _usable_code(ctx: Context, code_id: str, customer: str, path: str) -> ApiObject:
    param = f"{path}[promotion_code]"
    code = await promotion_codes.load_promotion_code(ctx, code_id, param=param, lock=False)
    now = ctx.now()
    if not code["active"] or promotion_codes.is_expired(code, now):
        raise InvalidRequest(f"Promotion code {code['code']} is inactive or expired.", param=param)
    if promotion_codes.is_used_up(code):
        raise InvalidRequest(
            f"Promotion code {code['code']} has been redeemed the maximum number of times.",
            param=param,
        )
    if code["customer"] is not None and code["customer"] != customer:
        raise InvalidRequest(
            f"Promotion code {code['code']} can only be redeemed by customer {code['customer']}.",
            param=param,
        )
    return code


def _check_coupon_usable(ctx: Context, coupon: ApiObject, currency: str, param: str) -> None:
    if not coupons.is_valid(coupon, ctx.now()):
        raise InvalidRequest(
            f"Coupon {coupon['id']} is no longer valid: it expired or was redeemed the "
            "maximum number of times.",
            param=param,
            code="coupon_expired",
        )
    if coupon["amount_off"] is not None and coupons.amount_off_in(coupon, currency) is None:
        raise InvalidRequest(
            f"Coupon {coupon['id']} takes an amount off in {coupon['currency']} and has no "
            f"amount in {currency}.",
            param=param,
        )


async def _reused(ctx: Context, discount_id: str, lineage: Lineage, param: str) -> str:
    discount = await load_discount(ctx, discount_id, param=param)
    if discount["customer"] != lineage.customer:
        raise ResourceMissing("discount", discount_id, param=param)
    owner = owner_of(discount)
    if owner is not None and owner not in lineage.owners:
        raise InvalidParameter(
            f"The discount {discount_id} is on {owner}: only a discount on the object being "
            "changed or on one of its ancestors (its subscription, invoice or customer) can "
            "be reused.",
            param=param,
        )
    return discount_id


def _end(coupon: Mapping[str, Any], start: int) -> int | None:
    """A repeating coupon's discount ends its `duration_in_months` calendar months after it
    starts (the day clamped to the target month's last day); others never end."""
    if coupon["duration"] != "repeating":
        return None
    moment = dt.datetime.fromtimestamp(start, dt.UTC)
    months = moment.month - 1 + int(coupon["duration_in_months"])
    year, month = moment.year + months // 12, months % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return int(moment.replace(year=year, month=month, day=day).timestamp())


async def load_discount(ctx: Context, discount_id: str, *, param: str = "id") -> ApiObject:
    found = (
        await ctx.tx.get_object(DISCOUNTS, ctx.account_id, discount_id, lock=False)
        if could_be_object_id(discount_id)
        else None
    )
    if found is None or found[1]:
        raise ResourceMissing("discount", discount_id, param=param)
    return view(found[0])


def view(discount: Mapping[str, Any]) -> ApiObject:
    """The discount as the API shows it (`discount_events.view`)."""
    return discount_events.view(discount)


def used_by(discount: Mapping[str, Any]) -> str | None:
    """The invoice that used up a `once` discount of a subscription, if one did
    (`subscription_discounts.note_invoiced`)."""
    found = (discount.get(PRIVATE) or {}).get(USED_BY)
    return None if found is None else str(found)


async def set_used_by(ctx: Context, discount_id: str, invoice_id: str | None) -> None:
    """Record (or with None, forget) the invoice that used the discount up."""
    found = await ctx.tx.get_object(DISCOUNTS, ctx.account_id, discount_id)
    if found is None:
        return
    discount = found[0]
    facts = discount.setdefault(PRIVATE, {})
    if facts.get(USED_BY) == invoice_id:
        return
    facts[USED_BY] = invoice_id
    await ctx.tx.update_object(DISCOUNTS, ctx.account_id, discount)


async def discard(
    ctx: Context, discount_ids: Sequence[str], *, owner: str, kept: Sequence[str] = ()
) -> frozenset[str]:
    """Forget discounts made for `owner` (a draft invoice, an item not yet invoiced or a draft
    quote whose `discounts` were replaced, or which was deleted), giving their redemptions
    back; reused ones stay with whoever made them, and so do those `kept` (its new
    `discounts`, which may reuse its own: the same `di_` id stays). The ids forgotten."""
    forgotten: set[str] = set()
    for discount_id in discount_ids[:DISCOUNTS_MAX]:
        if discount_id in kept:
            continue
        found = await ctx.tx.get_object(DISCOUNTS, ctx.account_id, discount_id, lock=False)
        if found is None or found[1]:
            continue
        discount = found[0]
        made_by_quote = (discount.get(PRIVATE) or {}).get(MADE_BY_QUOTE)
        if owner in (discount["invoice"], discount["invoice_item"], made_by_quote):
            await ctx.tx.mark_object_deleted(DISCOUNTS, ctx.account_id, discount_id)
            forgotten.add(discount_id)
            if (discount.get(PRIVATE) or {}).get(COUNTED):
                coupon, code = discount["source"]["coupon"], discount["promotion_code"]
                await redemptions.give_back(ctx, str(coupon), code)
    return frozenset(forgotten)


async def discount_terms(
    ctx: Context, discount_ids: Sequence[str], currency: str
) -> tuple[DiscountTerms, ...]:
    """What each discount takes off, for the arithmetic (`invoice_amounts`): from its
    coupon, read whether or not it was deleted since (discounts made keep working)."""
    previewed: dict[str, _Previewed] = ctx.memo.get(_PREVIEWED, {})
    terms = []
    for discount_id in discount_ids[:DISCOUNTS_MAX]:
        if discount_id in previewed:
            terms.append(previewed[discount_id].terms)
            continue
        found = await ctx.tx.get_object(DISCOUNTS, ctx.account_id, discount_id, lock=False)
        if found is None:
            continue
        coupon_id = found[0]["source"]["coupon"]
        coupon = await ctx.tx.get_object(COUPONS, ctx.account_id, coupon_id, lock=False)
        if coupon is not None:
            terms.append(_terms(discount_id, coupon[0], currency))
    return tuple(t for t in terms if t.percent_off is not None or t.amount_off is not None)


async def check_at_finalization(
    ctx: Context, invoice: Mapping[str, Any], item_discounts: Sequence[str]
) -> None:
    """What finalizing checks of the discounts made for this invoice or its items (a reused
    one was checked where it was made), in the finalization's unit of work: only a code's
    restrictions on the purchase (first payment, minimum amount), which may refuse it,
    leaving the invoice a draft. Their redemptions were counted when they were applied; one
    an earlier Kassa applied without counting it is counted now (`redemptions.count_applied`)."""
    made = []
    for discount_id in [*invoice["discounts"], *item_discounts][: 2 * DISCOUNTS_MAX]:
        found = await ctx.tx.get_object(DISCOUNTS, ctx.account_id, discount_id, lock=False)
        if found is None or found[1]:
            continue
        discount = found[0]
        if discount["invoice"] == invoice["id"] or discount["invoice_item"] in _item_ids(invoice):
            made.append(discount)
    item_discount_lists = _item_discount_lists(invoice)
    first_time = None
    for discount in made:
        index = _index_where_set(discount, invoice, item_discount_lists)
        if discount["promotion_code"] is not None and first_time is None:
            first_time = await first_time_customer(ctx, str(invoice["customer"]))
        redemption = redemptions.Redemption(
            coupon=discount["source"]["coupon"],
            promotion_code=discount["promotion_code"],
            customer=invoice["customer"],
            amount=_purchase_amount(invoice),
            currency=invoice["currency"],
            first_time_transaction=bool(first_time),
            coupon_param=f"discounts[{index}][coupon]",
            promotion_code_param=f"discounts[{index}][promotion_code]",
        )
        if (discount.get(PRIVATE) or {}).get(COUNTED):
            await redemptions.check_purchase(ctx, redemption)
        else:
            await redemptions.count_applied(ctx, redemption)


def _purchase_amount(invoice: Mapping[str, Any]) -> int:
    """What a promotion code's `minimum_amount` is checked against: the lines' amounts before
    any discount, as a subscription's period is (`subscription_discounts._period_amount`).
    Not `subtotal`, which is net of the lines' own discounts: an item's code would count
    against its own minimum."""
    return sum(int(line["amount"]) for line in invoice["lines"]["data"])


def _item_discount_lists(invoice: Mapping[str, Any]) -> dict[str, list[str]]:
    """Each invoice item's `discounts`, by item id, as its line shows them."""
    found: dict[str, list[str]] = {}
    for line in invoice["lines"]["data"]:
        details = (line["parent"] or {}).get("invoice_item_details")
        if details is not None:
            found[str(details["invoice_item"])] = [str(d) for d in line["discounts"]]
    return found


def _index_where_set(
    discount: Mapping[str, Any], invoice: Mapping[str, Any], items: Mapping[str, list[str]]
) -> int:
    """The discount's position in the `discounts` of the request that set it: the invoice's
    own, or its invoice item's (`POST /v1/invoiceitems`), so a refusal at finalization names
    `discounts[i][...]` as that request sent it. Stripe documents no parameter for a refusal
    of an item's code at finalization; the item's own index is Kassa's choice (a position
    counted across invoice and items names no parameter anyone sent)."""
    item = discount["invoice_item"]
    owner = invoice["discounts"] if item is None else items.get(str(item), [])
    ensure(discount["id"] in owner, "a discount made for the invoice or an item is on it")
    return owner.index(discount["id"])


def _item_ids(invoice: Mapping[str, Any]) -> set[str]:
    lines = invoice["lines"]["data"]
    return {
        line["parent"]["invoice_item_details"]["invoice_item"]
        for line in lines
        if line["parent"] is not None and line["parent"]["invoice_item_details"] is not None
    }


async def first_time_customer(ctx: Context, customer: str) -> bool:
    """No successful charge and no paid invoice yet (a code for first-time customers)."""
    for table, status in ((CHARGES, "succeeded"), (INVOICES, "paid")):
        page = await ctx.tx.list_objects(
            table,
            ctx.account_id,
            ObjectListQuery(limit=1, equals={"customer": customer, "status": status}),
        )
        if page.objects:
            return False
    return True


async def _fetch(ctx: Context, discount_id: str) -> ApiObject | None:
    found = await ctx.tx.get_object(DISCOUNTS, ctx.account_id, discount_id, lock=False)
    return None if found is None else view(found[0])


RESOURCE = Resource(
    object_name="discount",
    id_prefix="di",
    collection="discounts",
    table=DISCOUNTS,
    expandable={
        "customer": "customer",
        "invoice": "invoice",
        "invoice_item": "invoiceitem",
        "promotion_code": "promotion_code",
        "source.coupon": "coupon",
    },
    fetch=_fetch,
    event_types=discount_events.EVENT_TYPES,
)
