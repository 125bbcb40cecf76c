"""Coupons: create (an id of the caller's choice, or a generated one), retrieve, update
(`name`, `metadata`, `currency_options`; everything else is fixed at creation), delete, list.

`valid` is computed whenever a coupon is shown, on the installation's clock (`ctx.now()`):
false once `redeem_by` has passed or `times_redeemed` has reached `max_redemptions`. A deleted
coupon is gone: retrieving it is 404 and nothing can apply it any more (discounts already
made from it are unaffected). `applies_to` and `currency_options` are includable, as in
Stripe: shown only when expanded.

The bookkeeping of a redemption (validity checks and `times_redeemed`) is in `redemptions`.
"""

from __future__ import annotations

import copy
import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kassa import money
from kassa.clock import DAY_SECONDS
from kassa.errors import ExclusiveParameters, InvalidParameter, InvalidRequest, ResourceMissing
from kassa.invariants import ensure
from kassa.params import (
    UNSET,
    Enum,
    Integer,
    ListOf,
    Metadata,
    MetadataUpdate,
    Param,
    String,
    Struct,
    Timestamp,
    Unset,
    apply_metadata,
)
from kassa.services import events
from kassa.services.billing.billing_params import (
    CurrencyMap,
    Percentage,
    percent_decimal,
    percent_json,
    refusing_immutable,
)
from kassa.services.context import Context
from kassa.services.listing import PAGINATION_PARAMS, could_be_object_id, list_page
from kassa.services.resource import (
    ApiObject,
    ListPage,
    Operation,
    Resource,
    list_envelope,
    no_params,
    request_parser,
)
from kassa.store.tables import COUPONS

COUPON_ID_CHARS_MAX = 200
GENERATED_ID_CHARS = 8
"""Stripe's generated coupon ids and promotion codes: eight upper-case letters and digits
(`Z4OV52SU`, `A1H1Q1MG`)."""
GENERATED_ID_ALPHABET = string.ascii_uppercase + string.digits
GENERATED_ID_ATTEMPTS_MAX = 16
"""36^8 ids: a clash is rare; sixteen in a row would mean a broken random source."""
NAME_CHARS_MAX = 40
"""Stripe's limit on a coupon's name (shown to customers on invoices and receipts)."""
DURATION_IN_MONTHS_MAX = 1_200
REDEEM_BY_HORIZON_SECONDS = 5 * 366 * DAY_SECONDS
"""`redeem_by` may be at most five years ahead (leap days counted generously)."""
APPLIES_TO_PRODUCTS_MAX = 100
DURATIONS = ("forever", "once", "repeating")
INCLUDABLE_FIELDS = ("applies_to", "currency_options")

_COUPON_ID = re.compile(r"[^\s/\\?#\x00-\x1f\x7f]+")
"""Any text a URL path segment carries back unchanged: no whitespace, control characters,
slashes, `?` or `#`."""

_AMOUNT_OFF = Integer(minimum=1, maximum=money.MAX_AMOUNT)
_CURRENCY_OPTIONS = CurrencyMap(item=Struct({"amount_off": _AMOUNT_OFF}, required=("amount_off",)))
_NAME = String(max_chars=NAME_CHARS_MAX, nullable=True)

CREATE_PARAMS: dict[str, Param] = {
    "amount_off": _AMOUNT_OFF,
    "applies_to": Struct(
        {"products": ListOf(String(max_chars=255), max_items=APPLIES_TO_PRODUCTS_MAX)}
    ),
    "currency": money.Currency(),
    "currency_options": _CURRENCY_OPTIONS,
    "duration": Enum(values=DURATIONS),
    "duration_in_months": Integer(minimum=1, maximum=DURATION_IN_MONTHS_MAX),
    "id": String(
        max_chars=COUPON_ID_CHARS_MAX,
        pattern=_COUPON_ID,
        pattern_hint="; a coupon id has no spaces, control characters, slashes, `?` or `#`",
    ),
    "max_redemptions": Integer(minimum=1),
    "metadata": Metadata(),
    "name": _NAME,
    "percent_off": Percentage(positive=True),
    "redeem_by": Timestamp(minimum=1),
}
UPDATE_PARAMS: dict[str, Param] = {
    "currency_options": _CURRENCY_OPTIONS,
    "metadata": Metadata(),
    "name": _NAME,
}
IMMUTABLE_PARAMS = tuple(
    (name,) for name in sorted(CREATE_PARAMS) if name not in UPDATE_PARAMS and name != "id"
)

CurrencyOptions = Mapping[str, Mapping[str, int]]


@dataclass(frozen=True, kw_only=True)
class CreateCoupon:
    id: str | None = None
    percent_off: Decimal | None = None
    amount_off: int | None = None
    currency: str | None = None
    currency_options: CurrencyOptions | None = None
    duration: str | None = None
    duration_in_months: int | None = None
    max_redemptions: int | None = None
    redeem_by: int | None = None
    applies_to: Mapping[str, Any] | None = None
    name: str | Unset | None = None
    metadata: MetadataUpdate | None = None


@dataclass(frozen=True, kw_only=True)
class UpdateCoupon:
    coupon: str
    name: str | Unset | None = None
    metadata: MetadataUpdate | None = None
    currency_options: CurrencyOptions | None = None


# -- validity ---------------------------------------------------------------------------------


def is_expired(coupon: Mapping[str, Any], now: int) -> bool:
    """`redeem_by` is the last moment the coupon can be redeemed."""
    redeem_by = coupon["redeem_by"]
    return redeem_by is not None and now > redeem_by


def is_used_up(coupon: Mapping[str, Any]) -> bool:
    limit = coupon["max_redemptions"]
    return limit is not None and coupon["times_redeemed"] >= limit


def is_valid(coupon: Mapping[str, Any], now: int) -> bool:
    return not is_expired(coupon, now) and not is_used_up(coupon)


def percent_off(coupon: Mapping[str, Any]) -> Decimal | None:
    """The coupon's percentage as the `Decimal` it was created with; None if amount-based."""
    value = coupon["percent_off"]
    return None if value is None else percent_decimal(value)


def amount_off_in(coupon: Mapping[str, Any], currency: str) -> int | None:
    """What an amount-based coupon takes off in `currency` (its own, or one of its
    `currency_options`); None when it has no amount in that currency or is percentage-based.
    `coupon` is the stored coupon (`load_coupon`): the shown one leaves the options out."""
    if coupon["amount_off"] is None:
        return None
    if currency == coupon["currency"]:
        return int(coupon["amount_off"])
    option = (coupon.get("currency_options") or {}).get(currency)
    return None if option is None else int(option["amount_off"])


# -- shapes -----------------------------------------------------------------------------------


def render(coupon: Mapping[str, Any], now: int) -> ApiObject:
    """The coupon as the API shows it at `now`: `valid` as of now, includable fields left
    out (the stored document keeps them)."""
    shown = {key: copy.deepcopy(value) for key, value in coupon.items()}
    for key in INCLUDABLE_FIELDS:
        shown.pop(key, None)
    shown["valid"] = is_valid(coupon, now)
    return shown


def _deleted_stub(coupon_id: str) -> ApiObject:
    return {"id": coupon_id, "object": "coupon", "deleted": True}


def _new_coupon(ctx: Context, coupon_id: str, request: CreateCoupon) -> ApiObject:
    coupon: ApiObject = {
        "id": coupon_id,
        "object": "coupon",
        "amount_off": request.amount_off,
        "applies_to": _applies_to(request.applies_to),
        "created": ctx.now(),
        "currency": request.currency,
        "currency_options": dict(request.currency_options or {}),
        "duration": request.duration or "once",
        "duration_in_months": request.duration_in_months,
        "livemode": ctx.livemode,
        "max_redemptions": request.max_redemptions,
        "metadata": apply_metadata({}, request.metadata or {}),
        "name": request.name if isinstance(request.name, str) else None,
        "percent_off": None if request.percent_off is None else percent_json(request.percent_off),
        "redeem_by": request.redeem_by,
        "times_redeemed": 0,
    }
    coupon["valid"] = is_valid(coupon, ctx.now())
    return coupon


def generated_code() -> str:
    """A code as Stripe generates them for coupon ids and promotion codes: eight random
    upper-case letters and digits."""
    return "".join(secrets.choice(GENERATED_ID_ALPHABET) for _ in range(GENERATED_ID_CHARS))


def _applies_to(requested: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if requested is None:
        return None
    return {"products": list(dict.fromkeys(requested.get("products", [])))}


# -- checks before a coupon is made -----------------------------------------------------------


def _check_discount(request: CreateCoupon) -> None:
    """Exactly one of `percent_off` and `amount_off`; an amount needs its currency, and only
    an amount has amounts in other currencies."""
    if request.percent_off is not None and request.amount_off is not None:
        raise ExclusiveParameters(("amount_off", "percent_off"), param="amount_off")
    if request.percent_off is None and request.amount_off is None:
        raise InvalidParameter(
            "Missing required param: percent_off or amount_off. A coupon takes either a "
            "percentage (percent_off) or an amount (amount_off and currency) off.",
            param="percent_off",
            code="parameter_missing",
        )
    if request.amount_off is not None and request.currency is None:
        raise InvalidParameter(
            "Missing required param: currency. You must pass currency when passing amount_off.",
            param="currency",
            code="parameter_missing",
        )
    if request.currency_options and request.amount_off is None:
        raise InvalidParameter(
            "currency_options is only supported for coupons with amount_off.",
            param="currency_options",
        )
    _check_currency_options(request.currency_options or {}, request.currency)


def _check_currency_options(options: CurrencyOptions, currency: str | None) -> None:
    if currency is not None and currency in options:
        raise InvalidParameter(
            f"currency_options[{currency}] repeats the coupon's own currency; its amount is "
            "amount_off.",
            param=f"currency_options[{currency}]",
        )


def _check_duration(request: CreateCoupon) -> None:
    repeating = request.duration == "repeating"
    if repeating and request.duration_in_months is None:
        raise InvalidParameter(
            "Missing required param: duration_in_months. A coupon with duration `repeating` "
            "needs the number of months it applies for.",
            param="duration_in_months",
            code="parameter_missing",
        )
    if not repeating and request.duration_in_months is not None:
        raise InvalidParameter(
            "duration_in_months can only be set when duration is `repeating`.",
            param="duration_in_months",
        )


def _check_redeem_by(redeem_by: int | None, now: int) -> None:
    if redeem_by is None:
        return
    if redeem_by <= now:
        raise InvalidParameter(
            f"Invalid redeem_by: {redeem_by} is in the past; it must be in the future.",
            param="redeem_by",
        )
    if redeem_by > now + REDEEM_BY_HORIZON_SECONDS:
        raise InvalidParameter(
            f"Invalid redeem_by: {redeem_by}; it can be at most 5 years in the future.",
            param="redeem_by",
        )


async def _check_products(ctx: Context, applies_to: Mapping[str, Any] | None) -> None:
    """Each product `applies_to[products]` names must exist, once Kassa holds products: the
    catalog is asked at call time, so the check starts with the products resource."""
    from kassa.services import catalog  # the catalog imports this module

    products = catalog.resource_for_object("product")
    if applies_to is None or products is None or products.table is None:
        return
    for index, product_id in enumerate(applies_to.get("products", [])):
        found = (
            await ctx.tx.get_object(products.table, ctx.account_id, product_id, lock=False)
            if could_be_object_id(product_id)
            else None
        )
        if found is None or found[1]:
            raise ResourceMissing("product", product_id, param=f"applies_to[products][{index}]")


async def _coupon_id(ctx: Context, requested: str | None) -> str:
    """The caller's id, unless this account already has a coupon of that id (a deleted one
    too: its id stays taken), or a generated one."""
    if requested is not None:
        if await ctx.tx.get_object(COUPONS, ctx.account_id, requested) is not None:
            raise InvalidRequest(
                "Coupon already exists.", param="id", code="resource_already_exists"
            )
        return requested
    for _ in range(GENERATED_ID_ATTEMPTS_MAX):
        candidate = generated_code()
        if await ctx.tx.get_object(COUPONS, ctx.account_id, candidate) is None:
            return candidate
    raise RuntimeError("no free coupon id after repeated draws: the random source is broken")


# -- operations -------------------------------------------------------------------------------


async def create_coupon(ctx: Context, request: CreateCoupon) -> ApiObject:
    _check_discount(request)
    _check_duration(request)
    _check_redeem_by(request.redeem_by, ctx.now())
    await _check_products(ctx, request.applies_to)
    coupon = _new_coupon(ctx, await _coupon_id(ctx, request.id), request)
    await ctx.tx.insert_object(COUPONS, ctx.account_id, coupon)
    shown = render(coupon, ctx.now())
    await events.announce(ctx, "coupon.created", shown)
    return shown


async def load_coupon(ctx: Context, coupon_id: str, *, param: str = "id") -> ApiObject:
    """The stored coupon (every field, includable ones too); a deleted one is missing. In a
    write unit the row is locked."""
    found = (
        await ctx.tx.get_object(COUPONS, ctx.account_id, coupon_id)
        if could_be_object_id(coupon_id)
        else None
    )
    if found is None or found[1]:
        raise ResourceMissing("coupon", coupon_id, param=param)
    return found[0]


async def load_applied_coupon(ctx: Context, coupon_id: str) -> ApiObject:
    """The stored coupon of a discount already made, deleted since or not (deleting a coupon
    does not affect those who applied it); in a write unit the row is locked."""
    found = await ctx.tx.get_object(COUPONS, ctx.account_id, coupon_id)
    ensure(found is not None, "a discount's coupon is stored (deleting one only marks it)")
    return found[0] if found is not None else {}


async def retrieve_coupon(ctx: Context, coupon_id: str) -> ApiObject:
    return render(await load_coupon(ctx, coupon_id), ctx.now())


async def update_coupon(ctx: Context, request: UpdateCoupon) -> ApiObject:
    coupon = await load_coupon(ctx, request.coupon)
    before = copy.deepcopy(coupon)
    if request.name is not None:
        coupon["name"] = None if request.name is UNSET else request.name
    if request.metadata is not None:
        coupon["metadata"] = apply_metadata(coupon["metadata"], request.metadata)
    if request.currency_options is not None:
        _update_currency_options(coupon, request.currency_options)
    now = ctx.now()
    shown = render(coupon, now)
    if coupon != before:
        coupon["valid"] = shown["valid"]
        await ctx.tx.update_object(COUPONS, ctx.account_id, coupon)
        await events.announce(ctx, "coupon.updated", shown, previous=render(before, now))
    return shown


def _update_currency_options(coupon: ApiObject, options: CurrencyOptions) -> None:
    if coupon["amount_off"] is None:
        raise InvalidParameter(
            "currency_options is only supported for coupons with amount_off.",
            param="currency_options",
        )
    _check_currency_options(options, coupon["currency"])
    coupon["currency_options"] = {**coupon["currency_options"], **options}


async def delete_coupon(ctx: Context, coupon_id: str) -> ApiObject:
    coupon = await load_coupon(ctx, coupon_id)
    await ctx.tx.mark_object_deleted(COUPONS, ctx.account_id, coupon["id"])
    await events.announce(ctx, "coupon.deleted", render(coupon, ctx.now()))
    return _deleted_stub(coupon["id"])


async def record_redemption(ctx: Context, coupon: ApiObject, *, given_back: bool = False) -> None:
    """One more redemption of `coupon` (loaded and locked by `load_coupon` in this unit), or
    with `given_back` one fewer (a discount never issued: `redemptions.give_back`)."""
    coupon["times_redeemed"] += -1 if given_back else 1
    ensure(coupon["times_redeemed"] >= 0, "a coupon gives back only redemptions it counted")
    coupon["valid"] = is_valid(coupon, ctx.now())
    await ctx.tx.update_object(COUPONS, ctx.account_id, coupon)


@dataclass(frozen=True)
class ListCoupons:
    limit: int | None = None
    starting_after: str | None = None
    ending_before: str | None = None
    created: Mapping[str, int] | None = None


async def list_coupons(ctx: Context, request: ListCoupons) -> ApiObject:
    params = {name: value for name, value in vars(request).items() if value is not None}
    page = await list_page(ctx, RESOURCE, params)
    now = ctx.now()
    shown = ListPage([render(coupon, now) for coupon in page.data], page.has_more)
    return list_envelope(shown, RESOURCE.url)


async def fetch_coupon(ctx: Context, coupon_id: str) -> ApiObject | None:
    """A coupon for expansion (`promotion.coupon`): as shown now, or the deleted stub."""
    if not could_be_object_id(coupon_id):
        return None
    found = await ctx.tx.get_object(COUPONS, ctx.account_id, coupon_id, lock=False)
    if found is None:
        return None
    coupon, deleted = found
    return _deleted_stub(coupon_id) if deleted else render(coupon, ctx.now())


async def _include_applies_to(ctx: Context, coupon: ApiObject) -> Any:
    stored = await ctx.tx.get_object(COUPONS, ctx.account_id, coupon["id"], lock=False)
    return None if stored is None else copy.deepcopy(stored[0]["applies_to"])


async def _include_currency_options(ctx: Context, coupon: ApiObject) -> Any:
    """Every currency an amount-based coupon has an amount in, its own included; null for a
    percentage-based one."""
    stored = await ctx.tx.get_object(COUPONS, ctx.account_id, coupon["id"], lock=False)
    if stored is None or stored[0]["amount_off"] is None:
        return None
    doc = stored[0]
    return {doc["currency"]: {"amount_off": doc["amount_off"]}, **doc["currency_options"]}


RESOURCE = Resource(
    object_name="coupon",
    id_prefix="",  # coupon ids are the caller's, or eight random characters: no prefix
    collection="coupons",
    table=COUPONS,
    create=Operation(request_parser(CreateCoupon, CREATE_PARAMS), create_coupon, writes=True),
    retrieve=Operation(no_params, retrieve_coupon, writes=False),
    update=Operation(
        refusing_immutable(
            request_parser(UpdateCoupon, UPDATE_PARAMS, ids=("coupon",)),
            "coupon",
            IMMUTABLE_PARAMS,
            "name, metadata and currency_options",
        ),
        update_coupon,
        writes=True,
    ),
    delete=Operation(no_params, delete_coupon, writes=True),
    lister=Operation(request_parser(ListCoupons, PAGINATION_PARAMS), list_coupons, writes=False),
    includable={
        "applies_to": _include_applies_to,
        "currency_options": _include_currency_options,
    },
    event_types=("coupon.created", "coupon.deleted", "coupon.updated"),
    fetch=fetch_coupon,
)
