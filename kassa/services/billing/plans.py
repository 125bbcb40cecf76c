"""Plans (`/v1/plans`): the older face of recurring prices (API version 2026-10-28.endive).

A plan IS a recurring price: one row of the prices table under one id, so `GET
/v1/prices/{plan}` finds a plan and `GET /v1/plans/{price}` finds a recurring price (a
one-time price is no plan: 404). Unlike a price, a plan's id may be chosen by the caller
(`id=gold-monthly`), which is why the prices table is keyed per account (migration 0029).

Create translates the plan's parameters into a price's (`amount` -> `unit_amount`,
`interval` -> `recurring[interval]`, `transform_usage` -> `transform_quantity`, an inline
`product[name]` -> `product_data`) and runs the price's create, so every check is the
price's; a 400 names the plan's parameter. Update takes what Stripe's plan update takes
(`active`, `metadata`, `nickname`, `product`, `trial_period_days`). Delete is Stripe's: the
plan (and so the price) is gone for new subscriptions and to retrieve, while subscriptions
that already bill it keep it; `plan.deleted` and `price.deleted` are announced.

`tiers` is includable, as on prices (`expand[]=tiers`).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from kassa import money
from kassa.errors import ResourceMissing
from kassa.params import (
    UNSET,
    Boolean,
    Enum,
    Integer,
    ListOf,
    Metadata,
    MetadataUpdate,
    Param,
    String,
    Struct,
    Unset,
    apply_metadata,
)
from kassa.services import events
from kassa.services.billing import prices, pricing
from kassa.services.billing.price_fields import (
    AMOUNT_MAX,
    INTERVALS,
    PRODUCT_DATA_FIELDS,
    TIER,
    TRANSFORM_QUANTITY,
    TRIAL_PERIOD_DAYS_MAX,
    USAGE_TYPES,
    DecimalAmount,
    Fields,
    ParamNames,
)
from kassa.services.billing.subscription_documents import plan_of
from kassa.services.context import Context
from kassa.services.listing import (
    LIST_LIMIT_DEFAULT,
    PAGINATION_PARAMS,
    could_be_object_id,
    list_page_with,
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
from kassa.store.tables import PRICES, PRODUCTS

PLAN_ID_CHARS_MAX: Final = 255
INTERVAL_COUNT_PARAM_MAX: Final = 1095
"""The largest count any interval allows (days); the price's check bounds it per interval."""

_PLAN_ID = String(
    max_chars=PLAN_ID_CHARS_MAX,
    pattern=re.compile(r"[A-Za-z0-9_\-.]+"),
    pattern_hint="; ids may hold letters, digits, `_`, `-` and `.`",
)
_INLINE_PRODUCT = Struct(
    {
        name: PRODUCT_DATA_FIELDS[name]
        for name in (
            "active",
            "id",
            "metadata",
            "name",
            "statement_descriptor",
            "tax_code",
            "tax_details",
        )
        if name in PRODUCT_DATA_FIELDS
    }
    | {"unit_label": String(max_chars=12, nullable=True)},
    required=("name",),
)


@dataclass(frozen=True)
class ProductReference(Param):
    """`product`: a product's id, or a hash (`product[name]=...`) creating one."""

    def parse(self, value: Any, path: str) -> str | dict[str, Any]:
        if isinstance(value, dict):
            return _INLINE_PRODUCT.parse(value, path)
        return String(max_chars=255).parse(value, path)

    def json_schema(self) -> dict[str, Any]:
        return {"anyOf": [{"type": "string", "maxLength": 255}, _INLINE_PRODUCT.json_schema()]}


CREATE_PARAMS: dict[str, Param] = {
    "active": Boolean(),
    "amount": Integer(minimum=0, maximum=AMOUNT_MAX),
    "amount_decimal": DecimalAmount(),
    "billing_scheme": Enum(values=("per_unit", "tiered")),
    "currency": money.Currency(),
    "id": _PLAN_ID,
    "interval": Enum(values=INTERVALS),
    "interval_count": Integer(minimum=1, maximum=INTERVAL_COUNT_PARAM_MAX),
    "metadata": Metadata(),
    "meter": String(max_chars=255),
    "nickname": String(),
    "product": ProductReference(),
    "tiers": ListOf(TIER, max_items=pricing.TIERS_MAX),
    "tiers_mode": Enum(values=("graduated", "volume")),
    "transform_usage": TRANSFORM_QUANTITY,
    "trial_period_days": Integer(minimum=0, maximum=TRIAL_PERIOD_DAYS_MAX),
    "usage_type": Enum(values=USAGE_TYPES),
}
UPDATE_PARAMS: dict[str, Param] = {
    "active": Boolean(),
    "metadata": Metadata(),
    "nickname": String(nullable=True),
    "product": String(max_chars=255),
    "trial_period_days": Integer(minimum=0, maximum=TRIAL_PERIOD_DAYS_MAX),
}
LIST_PARAMS: dict[str, Param] = {
    **PAGINATION_PARAMS,
    "active": Boolean(),
    "product": String(max_chars=255),
}

PLAN_PARAM_NAMES: Final = ParamNames(
    renamed={
        "unit_amount": "amount",
        "unit_amount_decimal": "amount_decimal",
        "transform_quantity": "transform_usage",
        "product_data": "product",
        "recurring": "",  # a plan's `interval` is a price's `recurring[interval]`
    },
    absent=frozenset({"custom_unit_amount"}),
)
"""What a plan calls the price parameters it sends as its own (the rest keep their names)."""


@dataclass(frozen=True, kw_only=True)
class CreatePlan:
    currency: str
    interval: str
    active: bool | None = None
    amount: int | None = None
    amount_decimal: Decimal | None = None
    billing_scheme: str | None = None
    id: str | None = None
    interval_count: int | None = None
    metadata: MetadataUpdate | None = None
    meter: str | None = None
    nickname: str | None = None
    product: str | dict[str, Any] | None = None
    tiers: list[Fields] | None = None
    tiers_mode: str | None = None
    transform_usage: Fields | None = None
    trial_period_days: int | None = None
    usage_type: str | None = None


@dataclass(frozen=True, kw_only=True)
class UpdatePlan:
    plan: str
    active: bool | None = None
    metadata: MetadataUpdate | None = None
    nickname: str | Unset | None = None
    product: str | None = None
    trial_period_days: int | None = None


@dataclass(frozen=True, kw_only=True)
class ListPlans:
    limit: int | None = None
    starting_after: str | None = None
    ending_before: str | None = None
    created: dict[str, int] | None = None
    active: bool | None = None
    product: str | None = None


# --- The plan as a price ------------------------------------------------------------------


def _recurring(request: CreatePlan) -> dict[str, Any]:
    sent = {
        "interval": request.interval,
        "interval_count": request.interval_count,
        "meter": request.meter,
        # Stripe's plans take trial_period_days=0 as "no trial"; a price's recurring, 1 up.
        "trial_period_days": request.trial_period_days or None,
        "usage_type": request.usage_type,
    }
    return {name: value for name, value in sent.items() if value is not None}


def _as_price_request(request: CreatePlan) -> prices.CreatePrice:
    product = request.product
    return prices.CreatePrice(
        currency=request.currency,
        active=request.active,
        billing_scheme=request.billing_scheme,
        metadata=request.metadata,
        nickname=request.nickname,
        product=product if isinstance(product, str) else None,
        product_data=product if isinstance(product, dict) else None,
        recurring=_recurring(request),
        tiers=request.tiers,
        tiers_mode=request.tiers_mode,
        transform_quantity=request.transform_usage,
        unit_amount=request.amount,
        unit_amount_decimal=request.amount_decimal,
    )


def plan_view(price: ApiObject) -> ApiObject:
    return plan_of(price)


async def _load_plan(ctx: Context, plan_id: str) -> ApiObject:
    """The stored price a plan is (locked in a write unit): a live recurring price."""
    try:
        price = await prices.load_live_price(ctx, plan_id, object_name="plan")
    except ResourceMissing:
        raise ResourceMissing("plan", plan_id) from None
    if price["type"] != "recurring":
        raise ResourceMissing("plan", plan_id)
    return price


# --- Operations ---------------------------------------------------------------------------


async def create_plan(ctx: Context, request: CreatePlan) -> ApiObject:
    price = await prices.create_price(
        ctx,
        _as_price_request(request),
        price_id=request.id,
        object_name="plan",
        names=PLAN_PARAM_NAMES,
    )
    return await retrieve_plan(ctx, price["id"])


async def retrieve_plan(ctx: Context, plan_id: str) -> ApiObject:
    return plan_view(await _load_plan(ctx, plan_id))


async def _move_to_product(ctx: Context, price: ApiObject, product_id: str) -> None:
    found = (
        await ctx.tx.get_object(PRODUCTS, ctx.account_id, product_id, lock=False)
        if could_be_object_id(product_id)
        else None
    )
    if found is None or found[1]:
        raise ResourceMissing("product", product_id, param="product")
    price["product"] = product_id


async def update_plan(ctx: Context, request: UpdatePlan) -> ApiObject:
    price = await _load_plan(ctx, request.plan)
    before = prices.price_view(copy.deepcopy(price))
    if request.active:
        prices.refuse_activating_inline(price)
    if request.active is not None:
        price["active"] = request.active
    if request.metadata is not None:
        price["metadata"] = apply_metadata(price["metadata"], request.metadata)
    if request.nickname is not None:
        price["nickname"] = None if request.nickname is UNSET else request.nickname
    if request.trial_period_days is not None:
        price["recurring"]["trial_period_days"] = request.trial_period_days or None
    if request.product is not None and request.product != price["product"]:
        await _move_to_product(ctx, price, request.product)
    if prices.price_view(price) != before:
        await ctx.tx.update_object(PRICES, ctx.account_id, price)
        await prices.announce_updated(ctx, price, before)
    return plan_view(price)


async def delete_plan(ctx: Context, plan_id: str) -> ApiObject:
    """Stripe: deleting a plan stops new subscriptions to it; existing ones are unaffected
    (they keep the stored price, now inactive and missing to retrieve and list)."""
    price = await _load_plan(ctx, plan_id)
    price["active"] = False
    await ctx.tx.update_object(PRICES, ctx.account_id, price)
    await ctx.tx.mark_object_deleted(PRICES, ctx.account_id, price["id"])
    await events.announce(ctx, "plan.deleted", plan_of(price))
    await events.announce(ctx, "price.deleted", prices.price_view(price))
    return {"id": price["id"], "object": "plan", "deleted": True}


async def list_plans(ctx: Context, request: ListPlans) -> ApiObject:
    equals: dict[str, Any] = {"type": "recurring"}
    if request.active is not None:
        equals["active"] = request.active
    if request.product is not None:
        equals["product"] = request.product
    query = ObjectListQuery(
        limit=request.limit or LIST_LIMIT_DEFAULT,
        equals=equals,
        created=request.created or {},
        nulls=prices.NOT_INLINE,
    )
    cursors = {"starting_after": request.starting_after, "ending_before": request.ending_before}
    page = await list_page_with(ctx, RESOURCE, cursors, query)
    views = ListPage(data=[plan_view(p) for p in page.data], has_more=page.has_more)
    return list_envelope(views, RESOURCE.url)


async def _include_tiers(ctx: Context, plan: ApiObject) -> Any:
    found = await ctx.tx.get_object(PRICES, ctx.account_id, str(plan["id"]), lock=False)
    return None if found is None else found[0].get("tiers")


async def _fetch_plan(ctx: Context, plan_id: str) -> ApiObject | None:
    found = await ctx.tx.get_object(PRICES, ctx.account_id, plan_id, lock=False)
    if found is None or found[1] or found[0]["type"] != "recurring":
        return None
    return plan_view(found[0])


RESOURCE = Resource(
    object_name="plan",
    id_prefix="price",
    collection="plans",
    table=PRICES,
    create=Operation(
        request_parser(CreatePlan, CREATE_PARAMS, required=("currency", "interval")),
        create_plan,
        writes=True,
    ),
    retrieve=Operation(no_params, retrieve_plan, writes=False),
    update=Operation(
        request_parser(UpdatePlan, UPDATE_PARAMS, ids=("plan",)), update_plan, writes=True
    ),
    delete=Operation(no_params, delete_plan, writes=True),
    lister=Operation(request_parser(ListPlans, LIST_PARAMS), list_plans, writes=False),
    expandable={"product": "product"},
    includable={"tiers": _include_tiers},
    fetch=_fetch_plan,
)
