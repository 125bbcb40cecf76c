"""Redeeming a coupon, directly or through a promotion code: the checks Stripe makes when a
discount is applied (to an invoice, a subscription, a customer), and the count of
redemptions, written in the caller's unit of work.

The caller (invoices, subscriptions, checkout) calls `redeem` inside its own write unit, with
a context governed by the object the discount lands on (`await ctx.governed_by(invoice)`):
`ctx.now()` then decides expiry on the customer's test clock. The coupon's row and then the
promotion code's are locked (on PostgreSQL) until the unit commits, so two redemptions racing
for a coupon's last use are serialized and the second is refused. If the caller's unit fails
afterwards, the counts roll back with it. A discount never issued (removed from a draft, or
its draft deleted) gives its redemption back (`give_back`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kassa import money
from kassa.errors import InvalidParameter, InvalidRequest
from kassa.invariants import ensure
from kassa.services.billing import coupons, promotion_codes
from kassa.services.context import Context
from kassa.services.resource import ApiObject


@dataclass(frozen=True, kw_only=True)
class Redemption:
    """One application of a coupon: by its id, or through a promotion code (or both, which
    must then agree)."""

    coupon: str | None = None
    promotion_code: str | None = None
    customer: str | None = None
    """Who redeems it: a code restricted to a customer refuses anyone else."""
    amount: int | None = None
    """What the discount applies to, in `currency` minor units: checked against a code's
    `restrictions[minimum_amount]` (required when the code has one)."""
    currency: str | None = None
    """The currency of the invoice or subscription: an amount-based coupon must have an
    amount in it."""
    first_time_transaction: bool = False
    """The customer has no successful payment or paid invoice yet (the caller knows)."""
    coupon_param: str = "coupon"
    promotion_code_param: str = "promotion_code"
    """Where errors point: `discounts[0][coupon]`, `discounts[0][promotion_code]`."""


@dataclass(frozen=True)
class Redeemed:
    coupon: ApiObject
    """As the API shows it after this redemption (`times_redeemed`, `valid`)."""
    promotion_code: ApiObject | None


async def redeem(ctx: Context, redemption: Redemption, *, purchase: bool = True) -> Redeemed:
    """Check that the coupon (and code) may be redeemed now, as Stripe does, and count the
    redemption on both. Raises Stripe's errors: a missing or deleted coupon or code is
    `resource_missing`; an expired or used-up coupon `coupon_expired`; a code inactive,
    expired, used up, for another customer, for first-time customers only, or below its
    minimum amount, a 400 naming the code's parameter. `purchase=False`: the code's
    restrictions on the purchase (first-time customer, minimum amount) are left to
    `check_purchase`, for a draft invoice whose amount is known when it is finalized."""
    ensure(
        redemption.coupon is not None or redemption.promotion_code is not None,
        "a redemption names a coupon or a promotion code",
    )
    now = ctx.now()
    coupon_id, coupon_param = await _coupon_named(ctx, redemption)
    coupon = await coupons.load_coupon(ctx, coupon_id, param=coupon_param)  # locked first
    _check_coupon(coupon, now, redemption, coupon_param)
    code = None
    if redemption.promotion_code is not None:
        code = await promotion_codes.load_promotion_code(
            ctx, redemption.promotion_code, param=redemption.promotion_code_param
        )
        _check_promotion_code(code, now, redemption, purchase=purchase)
    await coupons.record_redemption(ctx, coupon)
    if code is not None:
        await promotion_codes.record_redemption(ctx, code)
    return Redeemed(coupons.render(coupon, now), code)


async def check_purchase(ctx: Context, redemption: Redemption) -> None:
    """Refuse a code whose restrictions on the purchase (first-time customer, minimum
    amount) the purchase `redemption` describes does not meet: checked when the purchase is
    known (an invoice being finalized, a subscription's first period), the redemption itself
    counted when the discount was applied. Nothing else is checked again (Stripe: deleting a
    coupon "does not affect any customers who have already applied the coupon")."""
    if redemption.promotion_code is None:
        return
    code = await promotion_codes.load_promotion_code(
        ctx, redemption.promotion_code, param=redemption.promotion_code_param, lock=False
    )
    _refuse(redemption, _purchase_refusal(f"Promotion code {code['code']}", code, redemption))


async def count_applied(ctx: Context, redemption: Redemption) -> None:
    """Count the redemption of a discount applied before redemptions were counted when
    applied (a draft stored by an earlier Kassa, finalized now), without checking its
    validity again; only the purchase is (`check_purchase`). The coupon row is locked before
    the code's."""
    ensure(redemption.coupon is not None, "an applied discount names its coupon")
    coupon = await coupons.load_applied_coupon(ctx, str(redemption.coupon))
    await check_purchase(ctx, redemption)
    await coupons.record_redemption(ctx, coupon)
    if redemption.promotion_code is not None:
        code = await promotion_codes.load_promotion_code(ctx, redemption.promotion_code)
        await promotion_codes.record_redemption(ctx, code)


async def give_back(ctx: Context, coupon_id: str, promotion_code_id: str | None) -> None:
    """Undo the count of a discount that was never issued (removed from a draft, or its draft
    or pending item deleted): the coupon, deleted since or not, and the code get the
    redemption back. The coupon row is locked before the code's."""
    coupon = await coupons.load_applied_coupon(ctx, coupon_id)
    await coupons.record_redemption(ctx, coupon, given_back=True)
    if promotion_code_id is not None:
        code = await promotion_codes.load_promotion_code(ctx, promotion_code_id)
        await promotion_codes.record_redemption(ctx, code, given_back=True)


async def _coupon_named(ctx: Context, redemption: Redemption) -> tuple[str, str]:
    """The coupon to redeem and the parameter naming it. A promotion code is read unlocked
    here to learn its coupon (fixed at creation), so the coupon is locked before the code."""
    if redemption.promotion_code is None:
        ensure(redemption.coupon is not None, "a redemption without a code names a coupon")
        return str(redemption.coupon), redemption.coupon_param
    code = await promotion_codes.load_promotion_code(
        ctx, redemption.promotion_code, param=redemption.promotion_code_param, lock=False
    )
    coupon_id = promotion_codes.coupon_of(code)
    if redemption.coupon is not None and redemption.coupon != coupon_id:
        raise InvalidParameter(
            f"Promotion code {code['id']} is for coupon {coupon_id}, not {redemption.coupon}.",
            param=redemption.coupon_param,
        )
    return coupon_id, redemption.promotion_code_param


def _check_coupon(coupon: ApiObject, now: int, redemption: Redemption, param: str) -> None:
    if coupons.is_expired(coupon, now):
        raise InvalidRequest(
            f"Coupon {coupon['id']} expired: it could be redeemed until {coupon['redeem_by']}.",
            param=param,
            code="coupon_expired",
        )
    if coupons.is_used_up(coupon):
        raise InvalidRequest(
            f"Coupon {coupon['id']} has been redeemed the maximum number of times "
            f"({coupon['max_redemptions']}).",
            param=param,
            code="coupon_expired",
        )
    currency = redemption.currency
    amount_based = coupon["amount_off"] is not None
    if currency is not None and amount_based and coupons.amount_off_in(coupon, currency) is None:
        raise InvalidRequest(
            f"Coupon {coupon['id']} takes an amount off in {coupon['currency']} and has no "
            f"amount in {currency}.",
            param=param,
        )


def _check_promotion_code(
    code: ApiObject, now: int, redemption: Redemption, *, purchase: bool
) -> None:
    name = f"Promotion code {code['code']}"
    refusal = _code_refusal(name, code, now, redemption)
    if refusal is None and purchase:
        refusal = _purchase_refusal(name, code, redemption)
    _refuse(redemption, refusal)


def _refuse(redemption: Redemption, refusal: tuple[str, str | None] | None) -> None:
    if refusal is not None:
        message, error_code = refusal
        raise InvalidRequest(message, param=redemption.promotion_code_param, code=error_code)


def _code_refusal(
    name: str, code: ApiObject, now: int, redemption: Redemption
) -> tuple[str, str | None] | None:
    """Why `code` cannot be applied now (message, error code), or None."""
    if not code["active"]:
        return f"{name} is inactive.", None
    if promotion_codes.is_expired(code, now):
        return f"{name} expired at {code['expires_at']}.", "coupon_expired"
    if promotion_codes.is_used_up(code):
        return f"{name} has been redeemed the maximum number of times.", None
    if code["customer"] is not None and code["customer"] != redemption.customer:
        return f"{name} can only be redeemed by customer {code['customer']}.", None
    return None


def _purchase_refusal(
    name: str, code: ApiObject, redemption: Redemption
) -> tuple[str, str | None] | None:
    """Why the purchase `redemption` describes does not meet the code's restrictions."""
    restrictions = code["restrictions"]
    if restrictions["first_time_transaction"] and not redemption.first_time_transaction:
        return f"{name} can only be redeemed by customers without a previous payment.", None
    return _minimum_refusal(name, restrictions, redemption)


def _minimum_refusal(
    name: str, restrictions: dict[str, Any], redemption: Redemption
) -> tuple[str, str | None] | None:
    """A code with a minimum amount refuses smaller amounts, and currencies it names no
    minimum for."""
    options = restrictions.get("currency_options") or {}
    if restrictions["minimum_amount"] is None and not options:
        return None
    ensure(
        redemption.amount is not None and redemption.currency is not None,
        "redeeming a code with a minimum amount gives the amount and its currency",
    )
    amount, currency = int(redemption.amount or 0), str(redemption.currency)
    if currency == restrictions["minimum_amount_currency"]:
        minimum = restrictions["minimum_amount"]
    elif currency in options and options[currency].get("minimum_amount") is not None:
        minimum = options[currency]["minimum_amount"]
    else:
        return f"{name} has no minimum amount in {currency}, so it cannot be redeemed in it.", None
    if amount < minimum:
        shown = money.format_amount(minimum, currency)
        return f"{name} requires a minimum amount of {shown}.", None
    return None
