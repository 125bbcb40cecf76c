"""Promotion codes: customer-facing codes for a coupon (API 2026-10-28: the coupon is named by
`promotion{type: "coupon", coupon}`, not expanded by default). Create (a code of the caller's
choice or a generated one), retrieve, update (`active`, `metadata`,
`restrictions[currency_options]`), list. No delete: a code is deactivated.

A code is unique, regardless of case, among the active codes one customer could use (Stripe:
"unique across all active promotion codes for a specific customer"): two codes restricted to
different customers may share a code, and a code for everyone clashes with every active code of
the same code. `active` is the flag the API user sets; whether a code can be redeemed now (its
expiry, its redemptions, its coupon) is decided when it is redeemed (`redemptions.redeem`).

`restrictions.currency_options` is includable, as in Stripe (shown only with
`expand[]=restrictions.currency_options`; an empty map when none was set, as the spec does not
let it be null): the stored document keeps it, `render` leaves it out.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kassa import money
from kassa.errors import InvalidParameter, InvalidRequest, ResourceMissing
from kassa.ids import new_id
from kassa.invariants import ensure
from kassa.params import (
    Boolean,
    Enum,
    Integer,
    Metadata,
    MetadataUpdate,
    Param,
    String,
    Struct,
    Timestamp,
    apply_metadata,
)
from kassa.services import customers, events
from kassa.services.billing import coupons
from kassa.services.billing.billing_params import CurrencyMap, refusing_immutable
from kassa.services.context import Context
from kassa.services.listing import (
    LIST_LIMIT_DEFAULT,
    PAGINATION_PARAMS,
    could_be_object_id,
    list_page_with,
    load_live_object,
)
from kassa.services.resource import (
    ApiObject,
    ListPage,
    Operation,
    Resource,
    list_envelope,
    no_params,
    request_parser,
)
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import PROMOTION_CODES

CODE_CHARS_MAX = 500
"""Stripe's `code` maxLength (POST /v1/promotion_codes)."""
GENERATED_CODE_ATTEMPTS_MAX = 16
"""Generated codes are eight random characters of 36: a clash with an active code is rare,
sixteen in a row would mean a broken random source."""
_CODE = re.compile(r"[A-Za-z0-9-]+")

_MINIMUM_AMOUNT = Integer(minimum=1, maximum=money.MAX_AMOUNT)
_CURRENCY_OPTIONS = CurrencyMap(item=Struct({"minimum_amount": _MINIMUM_AMOUNT}))

CREATE_PARAMS: dict[str, Param] = {
    "active": Boolean(),
    "code": String(
        max_chars=CODE_CHARS_MAX,
        pattern=_CODE,
        pattern_hint="; a code has only letters (a-z, A-Z), digits and dashes",
    ),
    "customer": String(max_chars=255),
    "customer_account": String(max_chars=255),
    "expires_at": Timestamp(minimum=1),
    "max_redemptions": Integer(minimum=1),
    "metadata": Metadata(),
    "promotion": Struct(
        {"type": Enum(values=("coupon",)), "coupon": String(max_chars=255)},
        required=("type", "coupon"),
    ),
    "restrictions": Struct(
        {
            "currency_options": _CURRENCY_OPTIONS,
            "first_time_transaction": Boolean(),
            "minimum_amount": _MINIMUM_AMOUNT,
            "minimum_amount_currency": money.Currency(),
        }
    ),
}
UPDATE_PARAMS: dict[str, Param] = {
    "active": Boolean(),
    "metadata": Metadata(),
    "restrictions": Struct({"currency_options": _CURRENCY_OPTIONS}),
}
IMMUTABLE_PARAMS = (
    ("code",),
    ("customer",),
    ("customer_account",),
    ("expires_at",),
    ("max_redemptions",),
    ("promotion",),
    ("restrictions", "first_time_transaction"),
    ("restrictions", "minimum_amount"),
    ("restrictions", "minimum_amount_currency"),
)
LIST_FILTERS: dict[str, Param] = {
    "active": Boolean(),
    "code": String(max_chars=CODE_CHARS_MAX),
    "coupon": String(max_chars=255),
    "customer": String(max_chars=255),
    "customer_account": String(max_chars=255),
}

Restrictions = Mapping[str, Any]
INCLUDABLE_RESTRICTIONS = ("currency_options",)
"""`restrictions` fields shown only when expanded (Stripe's `x-expandableFields`)."""


@dataclass(frozen=True, kw_only=True)
class CreatePromotionCode:
    promotion: Mapping[str, str]
    active: bool | None = None
    code: str | None = None
    customer: str | None = None
    customer_account: str | None = None
    """Refused: Kassa has no accounts representing customers."""
    expires_at: int | None = None
    max_redemptions: int | None = None
    metadata: MetadataUpdate | None = None
    restrictions: Restrictions | None = None


@dataclass(frozen=True, kw_only=True)
class UpdatePromotionCode:
    promotion_code: str
    active: bool | None = None
    metadata: MetadataUpdate | None = None
    restrictions: Restrictions | None = None


@dataclass(frozen=True, kw_only=True)
class ListPromotionCodes:
    limit: int | None = None
    starting_after: str | None = None
    ending_before: str | None = None
    created: Mapping[str, int] | None = None
    active: bool | None = None
    code: str | None = None
    coupon: str | None = None
    customer: str | None = None
    customer_account: str | None = None


# -- redeemability ----------------------------------------------------------------------------


def is_expired(promotion_code: Mapping[str, Any], now: int) -> bool:
    expires_at = promotion_code["expires_at"]
    return expires_at is not None and now >= expires_at


def is_used_up(promotion_code: Mapping[str, Any]) -> bool:
    limit = promotion_code["max_redemptions"]
    return limit is not None and promotion_code["times_redeemed"] >= limit


def coupon_of(promotion_code: Mapping[str, Any]) -> str:
    return str(promotion_code["promotion"]["coupon"])


# -- checks before a code is made -------------------------------------------------------------


def _check_limits(request: CreatePromotionCode, coupon: ApiObject, now: int) -> None:
    """A code cannot outlive its coupon's `redeem_by` nor outnumber its `max_redemptions`."""
    if request.expires_at is not None:
        if request.expires_at <= now:
            raise InvalidParameter(
                f"Invalid expires_at: {request.expires_at} is in the past; it must be in the "
                "future.",
                param="expires_at",
            )
        redeem_by = coupon["redeem_by"]
        if redeem_by is not None and request.expires_at > redeem_by:
            raise InvalidParameter(
                f"The promotion code's expires_at ({request.expires_at}) cannot be after its "
                f"coupon's redeem_by ({redeem_by}).",
                param="expires_at",
            )
    limit = coupon["max_redemptions"]
    wanted = request.max_redemptions
    if wanted is not None and limit is not None and wanted > limit:
        raise InvalidParameter(
            f"The promotion code's max_redemptions ({wanted}) cannot be greater than its "
            f"coupon's max_redemptions ({limit}).",
            param="max_redemptions",
        )


def _check_coupon_redeemable(coupon: ApiObject, now: int, param: str) -> None:
    if not coupons.is_valid(coupon, now):
        raise InvalidRequest(
            f"Coupon {coupon['id']} is no longer valid (expired or redeemed the maximum "
            "number of times), so it cannot take a promotion code.",
            param=param,
            code="coupon_expired",
        )


def _new_restrictions(requested: Restrictions | None) -> dict[str, Any]:
    given = requested or {}
    minimum, currency = given.get("minimum_amount"), given.get("minimum_amount_currency")
    if minimum is not None and currency is None:
        raise InvalidParameter(
            "Missing required param: restrictions[minimum_amount_currency]. It is required "
            "when restrictions[minimum_amount] is set.",
            param="restrictions[minimum_amount_currency]",
            code="parameter_missing",
        )
    if currency is not None and minimum is None:
        raise InvalidParameter(
            "Missing required param: restrictions[minimum_amount]. It is required when "
            "restrictions[minimum_amount_currency] is set.",
            param="restrictions[minimum_amount]",
            code="parameter_missing",
        )
    restrictions: dict[str, Any] = {
        "first_time_transaction": bool(given.get("first_time_transaction", False)),
        "minimum_amount": minimum,
        "minimum_amount_currency": currency,
    }
    if given.get("currency_options"):
        _merge_currency_options(restrictions, given["currency_options"])
    return restrictions


def _merge_currency_options(restrictions: dict[str, Any], options: Mapping[str, Any]) -> None:
    """Add per-currency minimums: each a currency other than `minimum_amount_currency`."""
    own = restrictions["minimum_amount_currency"]
    if own is not None and own in options:
        raise InvalidParameter(
            f"restrictions[currency_options][{own}] repeats minimum_amount_currency; each "
            "currency option must be another currency.",
            param=f"restrictions[currency_options][{own}]",
        )
    merged = {**restrictions.get("currency_options", {}), **options}
    restrictions["currency_options"] = {
        currency: {"minimum_amount": option.get("minimum_amount")}
        for currency, option in merged.items()
    }


async def _active_code_holder(
    ctx: Context, code: str, customer: str | None, *, any_customer: bool = False
) -> ApiObject | None:
    """An active promotion code whose code is `code`, regardless of case, that a customer
    could use beside one restricted to `customer` (None: a code for everyone): one for
    `customer` itself or one for everyone. With `any_customer`, one for any customer too
    (a code for everyone clashes with all of them)."""
    equals: dict[str, Any] = {"code": code.upper(), "active": True}
    if any_customer:
        return await _first_code(ctx, ObjectListQuery(limit=1, equals=equals))
    if customer is not None:
        own = ObjectListQuery(limit=1, equals={**equals, "customer": customer})
        holder = await _first_code(ctx, own)
        if holder is not None:
            return holder
    return await _first_code(ctx, ObjectListQuery(limit=1, equals=equals, nulls={"customer": True}))


async def find_active_code(ctx: Context, code: str, customer: str | None) -> ApiObject | None:
    """The active promotion code a customer typing `code` (any case) means: one restricted to
    `customer`, else one for everyone; None when there is neither."""
    return await _active_code_holder(ctx, code, customer)


async def _first_code(ctx: Context, query: ObjectListQuery) -> ApiObject | None:
    page = await ctx.tx.list_objects(PROMOTION_CODES, ctx.account_id, query)
    return page.objects[0] if page.objects else None


async def _check_code_free(ctx: Context, code: str, customer: str | None, *, param: str) -> None:
    holder = await _active_code_holder(ctx, code, customer, any_customer=customer is None)
    if holder is not None:
        raise InvalidRequest(
            f"An active promotion code with `code: {holder['code']}` already exists "
            f"({holder['id']}). Codes are unique among the active promotion codes a customer "
            "could use, regardless of case.",
            param=param,
            code="resource_already_exists",
        )


async def _new_code(ctx: Context, requested: str | None, active: bool, customer: str | None) -> str:
    if requested is not None:
        if active:
            await _check_code_free(ctx, requested, customer, param="code")
        return requested
    for _ in range(GENERATED_CODE_ATTEMPTS_MAX):
        candidate = coupons.generated_code()
        if await _active_code_holder(ctx, candidate, None, any_customer=True) is None:
            return candidate
    raise RuntimeError("no free promotion code after repeated draws: the random source is broken")


async def _customer_id(ctx: Context, request: CreatePromotionCode) -> str | None:
    if request.customer_account:
        raise ResourceMissing("account", request.customer_account, param="customer_account")
    if request.customer is None:
        return None
    customer = await load_live_object(ctx, customers.RESOURCE, request.customer, param="customer")
    ctx.remember_customer(customer)
    return str(customer["id"])


# -- operations -------------------------------------------------------------------------------


def render(promotion_code: Mapping[str, Any]) -> ApiObject:
    """The promotion code as the API shows it: `restrictions.currency_options` left out (it
    is includable; the stored document keeps it)."""
    shown = copy.deepcopy(dict(promotion_code))
    shown["restrictions"] = {
        key: value
        for key, value in shown["restrictions"].items()
        if key not in INCLUDABLE_RESTRICTIONS
    }
    return shown


async def create_promotion_code(ctx: Context, request: CreatePromotionCode) -> ApiObject:
    now = ctx.now()
    # The coupon first: every path that locks a coupon and its codes locks the coupon first.
    coupon = await coupons.load_coupon(ctx, request.promotion["coupon"], param="promotion[coupon]")
    _check_coupon_redeemable(coupon, now, "promotion[coupon]")
    _check_limits(request, coupon, now)
    restrictions = _new_restrictions(request.restrictions)
    customer = await _customer_id(ctx, request)
    active = True if request.active is None else request.active
    promotion_code = {
        "id": new_id("promo"),
        "object": "promotion_code",
        "active": active,
        "code": await _new_code(ctx, request.code, active, customer),
        "created": now,
        "customer": customer,
        "customer_account": None,
        "expires_at": request.expires_at,
        "livemode": ctx.livemode,
        "max_redemptions": request.max_redemptions,
        "metadata": apply_metadata({}, request.metadata or {}),
        "promotion": {"coupon": coupon["id"], "type": "coupon"},
        "restrictions": restrictions,
        "times_redeemed": 0,
    }
    await ctx.tx.insert_object(PROMOTION_CODES, ctx.account_id, promotion_code)
    shown = render(promotion_code)
    await events.announce(ctx, "promotion_code.created", shown)
    return shown


async def load_promotion_code(
    ctx: Context, promotion_code_id: str, *, param: str = "id", lock: bool = True
) -> ApiObject:
    """The stored promotion code; in a write unit its row is locked unless `lock` is False
    (to learn its coupon before locking that first)."""
    found = (
        await ctx.tx.get_object(PROMOTION_CODES, ctx.account_id, promotion_code_id, lock=lock)
        if could_be_object_id(promotion_code_id)
        else None
    )
    if found is None or found[1]:
        raise ResourceMissing("promotion_code", promotion_code_id, param=param)
    return found[0]


async def retrieve_promotion_code(ctx: Context, promotion_code_id: str) -> ApiObject:
    return render(await load_live_object(ctx, RESOURCE, promotion_code_id))


async def update_promotion_code(ctx: Context, request: UpdatePromotionCode) -> ApiObject:
    coupon: ApiObject | None = None
    if request.active is True:
        # Reactivating reads the coupon: lock it before the code, as every path does.
        peeked = await load_promotion_code(ctx, request.promotion_code, lock=False)
        coupon = await _reactivation_coupon(ctx, coupon_of(peeked))
    promotion_code = await load_promotion_code(ctx, request.promotion_code)
    before = copy.deepcopy(promotion_code)
    if request.active is True and not promotion_code["active"]:
        await _check_reactivation(ctx, promotion_code, coupon)
    if request.active is not None:
        promotion_code["active"] = request.active
    if request.metadata is not None:
        promotion_code["metadata"] = apply_metadata(promotion_code["metadata"], request.metadata)
    options = (request.restrictions or {}).get("currency_options")
    if options is not None:
        _merge_currency_options(promotion_code["restrictions"], options)
    shown = render(promotion_code)
    if promotion_code != before:
        await ctx.tx.update_object(PROMOTION_CODES, ctx.account_id, promotion_code)
        await events.announce(ctx, "promotion_code.updated", shown, previous=render(before))
    return shown


async def _reactivation_coupon(ctx: Context, coupon_id: str) -> ApiObject | None:
    try:
        return await coupons.load_coupon(ctx, coupon_id)
    except ResourceMissing:
        return None  # deleted: refused below if the code is really being reactivated


async def _check_reactivation(
    ctx: Context, promotion_code: ApiObject, coupon: ApiObject | None
) -> None:
    """A code is reactivated only while its coupon is valid and the code itself could still
    be redeemed, and only if no other active code has its code."""
    now = ctx.now()
    if coupon is None or not coupons.is_valid(coupon, now):
        raise InvalidRequest(
            "This promotion code cannot be reactivated: its coupon was deleted or is no "
            "longer valid.",
            param="active",
        )
    if is_expired(promotion_code, now) or is_used_up(promotion_code):
        raise InvalidRequest(
            "This promotion code cannot be reactivated: it has expired or has been redeemed "
            "the maximum number of times.",
            param="active",
        )
    await _check_code_free(ctx, promotion_code["code"], promotion_code["customer"], param="active")


async def record_redemption(
    ctx: Context, promotion_code: ApiObject, *, given_back: bool = False
) -> None:
    """One more redemption of `promotion_code` (loaded and locked in this unit), or with
    `given_back` one fewer (a discount never issued: `redemptions.give_back`)."""
    promotion_code["times_redeemed"] += -1 if given_back else 1
    ensure(promotion_code["times_redeemed"] >= 0, "a code gives back only what it counted")
    await ctx.tx.update_object(PROMOTION_CODES, ctx.account_id, promotion_code)


async def list_promotion_codes(ctx: Context, request: ListPromotionCodes) -> ApiObject:
    if request.customer_account is not None:
        # No Kassa promotion code is restricted to a customer account.
        return list_envelope(ListPage([], has_more=False), RESOURCE.url)
    equals: dict[str, Any] = {
        "active": request.active,
        "code": None if request.code is None else request.code.upper(),
        "coupon": request.coupon,
        "customer": request.customer,
    }
    query = ObjectListQuery(
        limit=request.limit if request.limit is not None else LIST_LIMIT_DEFAULT,
        equals={column: value for column, value in equals.items() if value is not None},
        created=request.created or {},
    )
    cursors = {"starting_after": request.starting_after, "ending_before": request.ending_before}
    page = await list_page_with(ctx, RESOURCE, cursors, query)
    shown = ListPage([render(promotion_code) for promotion_code in page.data], page.has_more)
    return list_envelope(shown, RESOURCE.url)


async def fetch_promotion_code(ctx: Context, promotion_code_id: str) -> ApiObject | None:
    """A promotion code for expansion (a discount's `promotion_code`), as shown."""
    found = await _stored_code(ctx, promotion_code_id)
    return None if found is None else render(found)


async def _stored_code(ctx: Context, promotion_code_id: str) -> ApiObject | None:
    if not could_be_object_id(promotion_code_id):
        return None
    found = await ctx.tx.get_object(PROMOTION_CODES, ctx.account_id, promotion_code_id, lock=False)
    return None if found is None else found[0]


async def _include_currency_options(ctx: Context, promotion_code: ApiObject) -> Any:
    """The per-currency minimums as stored; an empty map when none was set."""
    stored = await _stored_code(ctx, str(promotion_code["id"]))
    options = {} if stored is None else stored["restrictions"].get("currency_options")
    return copy.deepcopy(options or {})


RESOURCE = Resource(
    object_name="promotion_code",
    id_prefix="promo",
    collection="promotion_codes",
    table=PROMOTION_CODES,
    create=Operation(
        request_parser(CreatePromotionCode, CREATE_PARAMS, required=("promotion",)),
        create_promotion_code,
        writes=True,
    ),
    retrieve=Operation(no_params, retrieve_promotion_code, writes=False),
    update=Operation(
        refusing_immutable(
            request_parser(UpdatePromotionCode, UPDATE_PARAMS, ids=("promotion_code",)),
            "promotion code",
            IMMUTABLE_PARAMS,
            "active, metadata and restrictions[currency_options]",
        ),
        update_promotion_code,
        writes=True,
    ),
    lister=Operation(
        request_parser(ListPromotionCodes, {**PAGINATION_PARAMS, **LIST_FILTERS}),
        list_promotion_codes,
        writes=False,
    ),
    expandable={"customer": "customer", "promotion.coupon": "coupon"},
    includable={"restrictions.currency_options": _include_currency_options},
    event_types=("promotion_code.created", "promotion_code.updated"),
    fetch=fetch_promotion_code,
)
