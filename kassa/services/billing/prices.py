"""Prices: create (per unit or tiered, one-time or recurring, for a `product` or a new one
from `product_data`), retrieve, update, list (API version 2026-10-28.endive). Stripe has no
DELETE for prices: they are archived with `active=false`.

Amounts are immutable: update takes only `active`, `metadata`, `nickname`, `lookup_key`
(with `transfer_lookup_key`) and `tax_behavior` (while `unspecified`); an amount parameter
is unknown to it, and the 400 names it and says why (`IMMUTABLE`). A price's parameters and
the checks on its amounts are in `price_fields`, the arithmetic in `pricing`.

`tiers` is one of Stripe's includable fields (returned only with `expand[]=tiers`), and so
is `currency_options`: the stored document keeps `tiers`, and `price_view` takes it out of
every response and event. Invoices and subscriptions read the stored document
(`load_price`) and price a quantity with `pricing_terms` and `pricing.line_amount`.

`lookup_key` is unique per account (a unique index backs the check); `transfer_lookup_key`
moves it from the price holding it, which is announced as that price's `price.updated`.

Listing: Stripe's API reference says the list "returns a list of your active prices" and to
"set active to false" for the inactive ones, so `active` defaults to true here.

Inline prices (`price_data` on invoice items, subscription items, invoice lines and
`add_invoice_items`: `create_price(inline=True)`) price the one item they were made for.
Stripe's list "excludes inline prices", and a product with only inline prices has no
"user-created prices" to keep it from being deleted. They are stored inactive with a
private flag (`PRIVATE`, never shown; the table's `inline` column): left out of the list
and the search, never activated, and otherwise prices like any other (retrieved,
expanded, billed).

A recurring price is also a plan (`plans`: the same row and id), announced as `plan.*`
beside `price.*`; a plan may choose its id (`create_price(price_id=...)`), so ids are unique
per account. A deleted plan's price is missing to retrieve, update and expand
(`load_live_price`) but stays loadable (`load_price`) for the subscriptions billing it.

`currency_options` (one price in several currencies) is refused, on create and update, with
a 400 naming it: no Kassa flow could charge in those currencies yet. Expanded, it shows the
price's own currency.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final

from kassa import money
from kassa.errors import (
    ExclusiveParameters,
    InvalidParameter,
    InvalidRequest,
    MissingParameter,
    ResourceMissing,
)
from kassa.ids import new_id
from kassa.invariants import ensure
from kassa.params import (
    UNSET,
    Boolean,
    Enum,
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
from kassa.services.billing import pricing
from kassa.services.billing.billing_params import refusing_immutable
from kassa.services.billing.price_fields import (
    AMOUNT_PARAMS,
    CURRENCY_OPTIONS,
    INTERVALS,
    PRICE_PARAM_NAMES,
    PRODUCT_DATA,
    RECURRING,
    TAX_BEHAVIOR,
    TIER,
    TRANSFORM_QUANTITY,
    USAGE_TYPES,
    Fields,
    ParamNames,
    PriceAmounts,
    per_unit_fields,
    recurring_fields,
    tier_objects,
    transform_quantity_fields,
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
from kassa.services.search import BOOLEAN, METADATA, STRING, TOKEN, search_operation
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import BILLING_METERS, PRICES, PRIVATE, PRODUCTS, ObjectTable

LOOKUP_KEY_CHARS_MAX: Final = 200
LOOKUP_KEYS_FILTER_MAX: Final = 10
"""Stripe's list takes up to ten `lookup_keys`."""
INCLUDABLE_ONLY: Final = ("tiers",)
"""Stored fields Stripe returns only when expanded."""
NOT_SHOWN: Final = (*INCLUDABLE_ONLY, PRIVATE)
NOT_INLINE: Final = MappingProxyType({"inline": True})
"""`nulls` of every list and search: the `inline` column NULL (prices not made inline)."""
FEW_OBJECTS_MAX: Final = 100
"""The most objects `page_of_few` orders (a list by ids or lookup keys)."""

CREATE_PARAMS: dict[str, Param] = {
    **AMOUNT_PARAMS,
    "active": Boolean(),
    "billing_scheme": Enum(values=("per_unit", "tiered")),
    "lookup_key": String(max_chars=LOOKUP_KEY_CHARS_MAX),
    "nickname": String(),
    "product": String(max_chars=255),
    "product_data": PRODUCT_DATA,
    "recurring": RECURRING,
    "tiers": ListOf(TIER, max_items=pricing.TIERS_MAX),
    "tiers_mode": Enum(values=("graduated", "volume")),
    "transfer_lookup_key": Boolean(),
    "transform_quantity": TRANSFORM_QUANTITY,
}
UPDATE_PARAMS: dict[str, Param] = {
    "active": Boolean(),
    "currency_options": CURRENCY_OPTIONS,
    "lookup_key": String(max_chars=LOOKUP_KEY_CHARS_MAX, nullable=True),
    "metadata": Metadata(),
    "nickname": String(nullable=True),
    "tax_behavior": TAX_BEHAVIOR,
    "transfer_lookup_key": Boolean(),
}
IMMUTABLE: Final = tuple(
    (name,)
    for name in (
        "billing_scheme",
        "currency",
        "custom_unit_amount",
        "product",
        "product_data",
        "recurring",
        "tiers",
        "tiers_mode",
        "transform_quantity",
        "unit_amount",
        "unit_amount_decimal",
    )
)
"""What a price fixes at creation: its amounts and what they are for."""
LIST_PARAMS: dict[str, Param] = {
    **PAGINATION_PARAMS,
    "active": Boolean(),
    "currency": money.Currency(),
    "lookup_keys": ListOf(String(max_chars=LOOKUP_KEY_CHARS_MAX), max_items=LOOKUP_KEYS_FILTER_MAX),
    "product": String(max_chars=255),
    "recurring": Struct(
        {
            "interval": Enum(values=INTERVALS),
            "meter": String(max_chars=255),
            "usage_type": Enum(values=USAGE_TYPES),
        }
    ),
    "type": Enum(values=("one_time", "recurring")),
}

# --- Requests -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CreatePrice(PriceAmounts):
    active: bool | None = None
    billing_scheme: str | None = None
    lookup_key: str | None = None
    nickname: str | None = None
    product: str | None = None
    product_data: Fields | None = None
    tiers: list[Fields] | None = None
    tiers_mode: str | None = None
    transfer_lookup_key: bool | None = None
    transform_quantity: Fields | None = None


@dataclass(frozen=True, kw_only=True)
class UpdatePrice:
    price: str
    active: bool | None = None
    lookup_key: str | Unset | None = None
    metadata: MetadataUpdate | None = None
    nickname: str | Unset | None = None
    tax_behavior: str | None = None
    transfer_lookup_key: bool | None = None
    currency_options: Any = None
    """Always refused while parsing (see CURRENCY_OPTIONS)."""


@dataclass(frozen=True, kw_only=True)
class ListPrices:
    limit: int | None = None
    starting_after: str | None = None
    ending_before: str | None = None
    created: dict[str, int] | None = None
    active: bool | None = None
    currency: str | None = None
    lookup_keys: list[str] | None = None
    product: str | None = None
    recurring: Fields | None = None
    type: str | None = None


# --- Validation and the price document ----------------------------------------------------


def _refuse_with_tiers(request: CreatePrice, names: ParamNames) -> None:
    """Parameters a tiered price cannot have."""
    for name in ("unit_amount", "unit_amount_decimal", "custom_unit_amount"):
        if getattr(request, name) is not None:
            raise InvalidParameter(
                f"{names.path(name)} cannot be used with billing_scheme=tiered; give the "
                f"amounts in {names.path('tiers')}.",
                param=names.path(name),
            )
    if request.transform_quantity is not None:
        raise InvalidParameter(
            f"{names.path('transform_quantity')} cannot be combined with tiers.",
            param=names.path("transform_quantity"),
        )


def _scheme_fields(request: CreatePrice, names: ParamNames) -> dict[str, Any]:
    """The amount fields of a new price, by billing scheme; `tiers` is stored only."""
    if request.billing_scheme == "tiered":
        _refuse_with_tiers(request, names)
        if request.tiers is None:
            raise MissingParameter(names.path("tiers"))
        if request.tiers_mode is None:
            raise MissingParameter(names.path("tiers_mode"))
        return {
            "billing_scheme": "tiered",
            "custom_unit_amount": None,
            "tiers": tier_objects(request.tiers, names),
            "tiers_mode": request.tiers_mode,
            "transform_quantity": None,
            "unit_amount": None,
            "unit_amount_decimal": None,
        }
    for name in ("tiers", "tiers_mode"):
        if getattr(request, name) is not None:
            raise InvalidParameter(
                f"{names.path(name)} can only be used with billing_scheme=tiered.",
                param=names.path(name),
            )
    return {
        "billing_scheme": "per_unit",
        **per_unit_fields(request, names),
        "tiers": None,
        "tiers_mode": None,
        "transform_quantity": transform_quantity_fields(request.transform_quantity),
    }


def _blank_price(ctx: Context, amounts: PriceAmounts, product_id: str) -> ApiObject:
    return {
        "id": new_id("price"),
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": ctx.now(),
        "currency": amounts.currency,
        "custom_unit_amount": None,
        "livemode": ctx.livemode,
        "lookup_key": None,
        "metadata": {},
        "nickname": None,
        "product": product_id,
        "recurring": None,
        "tax_behavior": amounts.tax_behavior or "unspecified",
        "tiers": None,
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "one_time",
        "unit_amount": None,
        "unit_amount_decimal": None,
    }


def _with_recurring_and_metadata(
    price: ApiObject, amounts: PriceAmounts, names: ParamNames
) -> None:
    price["recurring"] = recurring_fields(amounts.recurring, names)
    price["type"] = "one_time" if price["recurring"] is None else "recurring"
    if amounts.metadata is not None:
        price["metadata"] = apply_metadata({}, amounts.metadata)


def default_price_document(ctx: Context, data: Fields, product_id: str) -> ApiObject:
    """The price a product's `default_price_data` describes, checked (a 400 names the
    `default_price_data[...]` parameter) but not stored: see `store_new_price`."""
    amounts = PriceAmounts(**data)
    names = ParamNames(prefix="default_price_data")
    price = _blank_price(ctx, amounts, product_id)
    _with_recurring_and_metadata(price, amounts, names)
    price.update(per_unit_fields(amounts, names))
    return price


def _price_document(
    ctx: Context, request: CreatePrice, product_id: str, names: ParamNames
) -> ApiObject:
    price = _blank_price(ctx, request, product_id)
    _with_recurring_and_metadata(price, request, names)
    price.update(_scheme_fields(request, names))
    if request.active is not None:
        price["active"] = request.active
    price["nickname"] = request.nickname
    return price


def price_view(price: ApiObject) -> ApiObject:
    """The price as the API shows it: without the fields returned only when expanded, nor
    its private facts."""
    return {key: value for key, value in price.items() if key not in NOT_SHOWN}


def is_inline(price: Mapping[str, Any]) -> bool:
    """Made from `price_data` for one item (see the module's docstring)."""
    return bool(price.get(PRIVATE, {}).get("inline"))


def refuse_activating_inline(price: Mapping[str, Any]) -> None:
    """An inline price prices its own item only: it stays inactive (Stripe's list of
    "your" prices excludes it)."""
    if is_inline(price):
        raise InvalidRequest(
            f"The price ({price['id']}) is an inline price, made with price_data for one "
            "item: inline prices cannot be activated. Create a price to reuse it.",
            param="active",
        )


async def store_new_price(ctx: Context, price: ApiObject) -> None:
    await ctx.tx.insert_object(PRICES, ctx.account_id, price)
    await events.announce(ctx, "price.created", price_view(price))
    if price["type"] == "recurring":
        # A recurring price is also a plan (same id): Stripe announces it under both names.
        await events.announce(ctx, "plan.created", plan_of(price))


async def announce_updated(ctx: Context, price: ApiObject, before: ApiObject) -> None:
    """`price.updated`, and `plan.updated` for a recurring price (`before`: its view)."""
    await events.announce(ctx, "price.updated", price_view(price), previous=before)
    if price["type"] == "recurring":
        await events.announce(ctx, "plan.updated", plan_of(price), previous=plan_of(before))


# --- Lookup keys --------------------------------------------------------------------------


async def _price_holding(ctx: Context, lookup_key: str) -> ApiObject | None:
    page = await ctx.tx.list_objects(
        PRICES, ctx.account_id, ObjectListQuery(limit=1, equals={"lookup_key": lookup_key})
    )
    return page.objects[0] if page.objects else None


async def _claim_lookup_key(
    ctx: Context, lookup_key: str, transfer: bool, price_id: str | None
) -> None:
    """Make `lookup_key` free for `price_id`: refused when another price holds it, unless
    `transfer_lookup_key=true`, which takes it from that price (announced as its update)."""
    holder = await _price_holding(ctx, lookup_key)
    if holder is None or holder["id"] == price_id:
        return
    if not transfer:
        raise InvalidRequest(
            f"A price (`{holder['id']}`) already uses that lookup key. Pass "
            "transfer_lookup_key=true to move the lookup key to this price.",
            param="lookup_key",
        )
    locked = await load_price(ctx, holder["id"])
    before = price_view(copy.deepcopy(locked))
    locked["lookup_key"] = None
    await ctx.tx.update_object(PRICES, ctx.account_id, locked)
    await announce_updated(ctx, locked, before)


# --- Operations ---------------------------------------------------------------------------


async def load_price(ctx: Context, price_id: str, *, param: str = "id") -> ApiObject:
    """The stored price (with `tiers`, for pricing), locked in a write unit;
    ResourceMissing when this account has none by that id."""
    found = (
        await ctx.tx.get_object(PRICES, ctx.account_id, price_id)
        if could_be_object_id(price_id)
        else None
    )
    if found is None:
        raise ResourceMissing("price", price_id, param=param)
    return found[0]


async def _product_for(ctx: Context, request: CreatePrice, names: ParamNames) -> str:
    """The id of the product the new price belongs to: `product` (which must exist), or
    the one `product_data` creates."""
    if request.product is not None and request.product_data is not None:
        # Not from a plan: its one `product` parameter sends either, never both.
        raise ExclusiveParameters(("product", "product_data"), param="product_data")
    if request.product_data is not None:
        # products imports this module (for default_price_data); importing it here, when a
        # price needs a new product, keeps the modules' load order one-way.
        from kassa.services.billing import products

        product = await products.create_product_from_data(
            ctx, request.product_data, param=names.path("product_data")
        )
        return str(product["id"])
    if request.product is None:
        raise MissingParameter(names.path("product"))
    found = (
        await ctx.tx.get_object(PRODUCTS, ctx.account_id, request.product)
        if could_be_object_id(request.product)
        else None
    )
    if found is None or found[1]:
        raise ResourceMissing("product", request.product, param=names.path("product"))
    return request.product


async def _claim_price_id(ctx: Context, price_id: str, object_name: str) -> None:
    """A caller-chosen id (plans may choose theirs) must be new to this account, deleted
    objects included: ids are never reused."""
    if await ctx.tx.get_object(PRICES, ctx.account_id, price_id, lock=False) is not None:
        raise InvalidRequest(
            f"{object_name.capitalize()} already exists.",
            param="id",
            code="resource_already_exists",
        )


async def create_price(
    ctx: Context,
    request: CreatePrice,
    *,
    price_id: str | None = None,
    object_name: str = "price",
    names: ParamNames = PRICE_PARAM_NAMES,
    inline: bool = False,
) -> ApiObject:
    """A new price; `price_id` when the caller chose the id (a plan's); a 400 names the
    parameter as the caller calls it (`names`: a plan's `amount` for `unit_amount`);
    `inline`: made from an item's `price_data` (inactive, for that item only)."""
    # every amount check, before writes
    price = _price_document(ctx, request, product_id="", names=names)
    await _check_meter(ctx, price, names)
    if inline:
        price["active"] = False
        price[PRIVATE] = {"inline": True}
    if price_id is not None:
        await _claim_price_id(ctx, price_id, object_name)
        price["id"] = price_id
    price["product"] = await _product_for(ctx, request, names)
    if request.lookup_key is not None:
        await _claim_lookup_key(ctx, request.lookup_key, bool(request.transfer_lookup_key), None)
        price["lookup_key"] = request.lookup_key
    await store_new_price(ctx, price)
    return price_view(price)


async def unsaved_price(ctx: Context, request: CreatePrice, *, names: ParamNames) -> ApiObject:
    """The price `request` describes, checked as `create_price` checks it (its `product`
    must exist), and not stored: an invoice preview's inline price (`price_data`), which
    stores nothing."""
    ensure(request.product_data is None, "an unsaved price makes no product")
    price = _price_document(ctx, request, product_id="", names=names)
    await _check_meter(ctx, price, names)
    price["product"] = await _product_for(ctx, request, names)
    return price


async def _check_meter(ctx: Context, price: ApiObject, names: ParamNames) -> None:
    """A metered price bills a meter's usage (`meter_usage`): its `recurring[meter]` must
    be an active meter of the account (Stripe's usage-based guide creates the meter first,
    then the price naming it)."""
    meter_id = (price.get("recurring") or {}).get("meter")
    if meter_id is None:
        return
    param = names.path("recurring", "meter")
    found = (
        await ctx.tx.get_object(BILLING_METERS, ctx.account_id, str(meter_id))
        if could_be_object_id(str(meter_id))
        else None
    )
    if found is None or found[1]:
        raise InvalidParameter(f"No such billing meter: '{meter_id}'", param=param)
    if found[0]["status"] != "active":
        raise InvalidParameter(
            f"The billing meter {meter_id} is inactive; reactivate it to price its usage.",
            param=param,
        )


async def load_live_price(ctx: Context, price_id: str, *, object_name: str = "price") -> ApiObject:
    """`load_price`, but a deleted price (a deleted plan) is missing: it stays readable only
    for the subscriptions that already bill it."""
    found = (
        await ctx.tx.get_object(PRICES, ctx.account_id, price_id)
        if could_be_object_id(price_id)
        else None
    )
    if found is None or found[1]:
        raise ResourceMissing(object_name, price_id, param="id")
    return found[0]


async def retrieve_price(ctx: Context, price_id: str) -> ApiObject:
    return price_view(await load_live_price(ctx, price_id))


async def _refuse_archiving_default(ctx: Context, price_id: str) -> None:
    """Stripe keeps a product's default price active: archive it only after the product
    names another. The product is locked before the price (the order every path takes)."""
    peek = await ctx.tx.get_object(PRICES, ctx.account_id, price_id, lock=False)
    if peek is None or not peek[0]["active"]:
        return
    product = await ctx.tx.get_object(PRODUCTS, ctx.account_id, peek[0]["product"])
    if product is not None and product[0].get("default_price") == price_id:
        raise InvalidRequest(
            "This price cannot be archived because it is the default price of its product. "
            "Set another default_price on the product first.",
            param="active",
        )


def _apply_tax_behavior(price: ApiObject, tax_behavior: str) -> None:
    current = price["tax_behavior"]
    if current not in ("unspecified", tax_behavior):
        raise InvalidParameter(
            f"tax_behavior cannot be changed once it is {current}.", param="tax_behavior"
        )
    price["tax_behavior"] = tax_behavior


async def update_price(ctx: Context, request: UpdatePrice) -> ApiObject:
    if request.active is False:
        await _refuse_archiving_default(ctx, request.price)
    price = await load_live_price(ctx, request.price)
    before = price_view(copy.deepcopy(price))
    if request.active:
        refuse_activating_inline(price)
    if request.active is not None:
        price["active"] = request.active
    if request.metadata is not None:
        price["metadata"] = apply_metadata(price["metadata"], request.metadata)
    if request.nickname is not None:
        price["nickname"] = None if request.nickname is UNSET else request.nickname
    if request.tax_behavior is not None:
        _apply_tax_behavior(price, request.tax_behavior)
    if isinstance(request.lookup_key, str):
        transfer = bool(request.transfer_lookup_key)
        await _claim_lookup_key(ctx, request.lookup_key, transfer, price["id"])
        price["lookup_key"] = request.lookup_key
    elif request.lookup_key is UNSET:
        price["lookup_key"] = None
    view = price_view(price)
    if view != before:
        await ctx.tx.update_object(PRICES, ctx.account_id, price)
        await announce_updated(ctx, price, before)
    return view


# --- Lists --------------------------------------------------------------------------------


async def page_of_few(
    ctx: Context, table: ObjectTable, object_name: str, found: list[ApiObject], cursors: Fields
) -> ListPage:
    """A list page made of a handful of objects found one by one (by id, by lookup key):
    newest first like every list, positioned by `starting_after` / `ending_before`."""
    objects = found[:FEW_OBJECTS_MAX]
    seqs: dict[str, int] = {}
    for obj in objects:
        seqs[obj["id"]] = await ctx.tx.object_seq(table, ctx.account_id, obj["id"]) or 0
    ordered = sorted(objects, key=lambda obj: seqs[obj["id"]], reverse=True)
    limit = cursors.get("limit") or LIST_LIMIT_DEFAULT
    for name in ("starting_after", "ending_before"):
        cursor = cursors.get(name)
        if not cursor:
            continue
        seq = await ctx.tx.object_seq(table, ctx.account_id, cursor)
        if seq is None:
            raise ResourceMissing(object_name, cursor, param=name)
        if name == "starting_after":
            after = [o for o in ordered if seqs[o["id"]] < seq]
            return ListPage(data=after[:limit], has_more=len(after) > limit)
        before = [o for o in ordered if seqs[o["id"]] > seq]
        return ListPage(data=before[-limit:], has_more=len(before) > limit)
    return ListPage(data=ordered[:limit], has_more=len(ordered) > limit)


def _list_equals(request: ListPrices) -> dict[str, Any]:
    recurring = request.recurring or {}
    wanted = {
        "active": True if request.active is None else request.active,
        "currency": request.currency,
        "product": request.product,
        "type": request.type,
        "recurring_interval": recurring.get("interval"),
        "recurring_meter": recurring.get("meter"),
        "recurring_usage_type": recurring.get("usage_type"),
    }
    return {column: value for column, value in wanted.items() if value is not None}


async def _prices_by_lookup_keys(ctx: Context, request: ListPrices) -> ListPage:
    """Each lookup key names at most one price (they are unique), so the page is built
    from one exact lookup per key."""
    found: list[ApiObject] = []
    for key in list(dict.fromkeys(request.lookup_keys or []))[:LOOKUP_KEYS_FILTER_MAX]:
        query = ObjectListQuery(
            limit=1,
            equals={**_list_equals(request), "lookup_key": key},
            created=request.created or {},
            nulls=NOT_INLINE,
        )
        found.extend((await ctx.tx.list_objects(PRICES, ctx.account_id, query)).objects)
    cursors = {
        "limit": request.limit,
        "starting_after": request.starting_after,
        "ending_before": request.ending_before,
    }
    return await page_of_few(ctx, PRICES, "price", found, cursors)


async def list_prices(ctx: Context, request: ListPrices) -> ApiObject:
    if request.lookup_keys:
        page = await _prices_by_lookup_keys(ctx, request)
    else:
        query = ObjectListQuery(
            limit=request.limit or LIST_LIMIT_DEFAULT,
            equals=_list_equals(request),
            created=request.created or {},
            nulls=NOT_INLINE,
        )
        cursors = {"starting_after": request.starting_after, "ending_before": request.ending_before}
        page = await list_page_with(ctx, RESOURCE, cursors, query)
    views = ListPage(data=[price_view(p) for p in page.data], has_more=page.has_more)
    return list_envelope(views, RESOURCE.url)


# --- Pricing and includable fields --------------------------------------------------------


def _decimal_of(obj: Mapping[str, Any], name: str) -> Decimal:
    text = obj.get(f"{name}_decimal")
    return Decimal(text) if isinstance(text, str) else Decimal(0)


def has_custom_unit_amount(price: Mapping[str, Any]) -> bool:
    """The customer chooses the amount (`custom_unit_amount`): the price has none of its own,
    so only what takes the amount from the customer can use it, never an invoice item or a
    subscription."""
    return price["billing_scheme"] != "tiered" and price["unit_amount_decimal"] is None


def custom_unit_amount_refusal(price: Mapping[str, Any]) -> str:
    return f"The price {price['id']} has a custom unit amount: give the amount explicitly."


def pricing_terms(price: ApiObject) -> pricing.PriceTerms:
    """How a stored price (`load_price`, with its tiers) charges a quantity. A price with
    `custom_unit_amount` has no amount of its own: the caller must supply one."""
    if price["billing_scheme"] == "tiered":
        tiers = tuple(
            pricing.Tier(
                up_to=tier["up_to"],
                unit_amount=_decimal_of(tier, "unit_amount"),
                flat_amount=_decimal_of(tier, "flat_amount"),
            )
            for tier in price["tiers"][: pricing.TIERS_MAX]
        )
        return pricing.Tiered(mode=price["tiers_mode"], tiers=tiers)
    if has_custom_unit_amount(price):
        raise InvalidRequest(custom_unit_amount_refusal(price))
    transform = price["transform_quantity"] or {"divide_by": 1, "round": "down"}
    return pricing.PerUnit(
        unit_amount=_decimal_of(price, "unit_amount"),
        divide_by=transform["divide_by"],
        round=transform["round"],
    )


async def _stored(ctx: Context, price: ApiObject) -> ApiObject | None:
    found = await ctx.tx.get_object(PRICES, ctx.account_id, str(price["id"]), lock=False)
    return None if found is None else found[0]


async def _include_tiers(ctx: Context, price: ApiObject) -> Any:
    stored = await _stored(ctx, price)
    return None if stored is None else stored.get("tiers")


async def _include_currency_options(ctx: Context, price: ApiObject) -> Any:
    """Kassa prices have one currency: the options hold that one."""
    option: dict[str, Any] = {
        key: price.get(key)
        for key in ("custom_unit_amount", "tax_behavior", "unit_amount", "unit_amount_decimal")
    }
    if price.get("billing_scheme") == "tiered":
        option["tiers"] = await _include_tiers(ctx, price)
    return {price["currency"]: option}


async def _fetch_price(ctx: Context, price_id: str) -> ApiObject | None:
    """A price for `expand[]` (a product's `default_price`): as the API shows it."""
    found = await ctx.tx.get_object(PRICES, ctx.account_id, price_id, lock=False)
    return None if found is None or found[1] else price_view(found[0])


RESOURCE = Resource(
    object_name="price",
    id_prefix="price",
    collection="prices",
    table=PRICES,
    create=Operation(
        request_parser(CreatePrice, CREATE_PARAMS, required=("currency",)),
        create_price,
        writes=True,
    ),
    retrieve=Operation(no_params, retrieve_price, writes=False),
    search=search_operation(
        PRICES,
        "prices",
        {
            "active": BOOLEAN,
            "currency": STRING,
            "lookup_key": STRING,
            "metadata": METADATA,
            "product": STRING,
            "type": TOKEN,
        },
        view=price_view,
        nulls=NOT_INLINE,
    ),
    update=Operation(
        refusing_immutable(
            request_parser(UpdatePrice, UPDATE_PARAMS, ids=("price",)),
            "price",
            IMMUTABLE,
            "active, metadata, nickname, lookup_key and tax_behavior",
        ),
        update_price,
        writes=True,
    ),
    lister=Operation(request_parser(ListPrices, LIST_PARAMS), list_prices, writes=False),
    expandable={"product": "product"},
    includable={"tiers": _include_tiers, "currency_options": _include_currency_options},
    event_types=(
        "plan.created",
        "plan.deleted",
        "plan.updated",
        "price.created",
        "price.deleted",
        "price.updated",
    ),
    fetch=_fetch_price,
)
