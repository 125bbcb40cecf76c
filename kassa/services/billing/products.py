"""Products: create (with `default_price_data`, which creates the default price with the
product), retrieve, update (`default_price` names one of the product's own active prices),
delete (only a product without prices of its own, as Stripe: inline prices don't count),
list (API version 2026-10-28.endive).

Product ids may be chosen by the API user (`id=gold`): they are unique per account (the
table's key is `(account_id, id)`), and an id once used, even by a deleted product, answers
`resource_already_exists`. A deleted product is missing (404) to every call.
"""

from __future__ import annotations

import copy
import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from kassa.errors import EmptyParameter, InvalidParameter, InvalidRequest
from kassa.ids import new_id
from kassa.params import (
    UNSET,
    Boolean,
    Enum,
    ListOf,
    MetadataUpdate,
    Param,
    String,
    Struct,
    Unset,
    apply_fields,
    apply_metadata,
)
from kassa.services import events
from kassa.services.billing import prices, product_features
from kassa.services.billing.price_fields import DEFAULT_PRICE_DATA, PRODUCT_DATA_FIELDS
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
from kassa.services.search import BOOLEAN, METADATA, STRING, search_operation
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import PRICES, PRODUCTS

IMAGES_MAX: Final = 8
IMAGE_URL_CHARS_MAX: Final = 2048
MARKETING_FEATURES_MAX: Final = 15
MARKETING_FEATURE_NAME_CHARS_MAX: Final = 80
URL_CHARS_MAX: Final = 2048
"""A product's `url` is an indexed list filter: printable ASCII up to this length keeps
every index entry far below PostgreSQL's limit of about 2,700 bytes."""
IDS_FILTER_MAX: Final = 100
DIMENSION_PLACES_MAX: Final = 2
DIMENSION_MAX: Final = 1_000_000
PRODUCT_TYPES = ("good", "service")
NOT_FOR_GOODS = ("statement_descriptor", "unit_label")
"""Stripe: "May only be set if `type=service`"."""

_DIMENSION = re.compile(r"[0-9]{1,10}(\.[0-9]{1,20})?")


@dataclass(frozen=True)
class Dimension(Param):
    """A package dimension: inches or ounces, positive, at most two decimal places. Not
    money, so the API shows it as a JSON number."""

    def parse(self, value: Any, path: str) -> float:
        self.refuse_empty(value, path)
        text = value if isinstance(value, str) else ""
        number = Decimal(text) if _DIMENSION.fullmatch(text) else None
        exponent = None if number is None else number.normalize().as_tuple().exponent
        if number is None or not isinstance(exponent, int) or number <= 0:
            raise InvalidParameter(f"Invalid decimal: {text[:80]}", param=path)
        if -exponent > DIMENSION_PLACES_MAX or number > DIMENSION_MAX:
            raise InvalidParameter(
                f"Invalid {path}: {text[:80]}; at most {DIMENSION_PLACES_MAX} decimal places "
                f"and at most {DIMENSION_MAX}",
                param=path,
            )
        return float(number)


_CHANGE_PARAMS: dict[str, Param] = {
    **{name: p for name, p in PRODUCT_DATA_FIELDS.items() if name != "id"},
    "description": String(nullable=True),
    "images": ListOf(String(max_chars=IMAGE_URL_CHARS_MAX), max_items=IMAGES_MAX, nullable=True),
    "marketing_features": ListOf(
        Struct({"name": String(max_chars=MARKETING_FEATURE_NAME_CHARS_MAX)}, required=("name",)),
        max_items=MARKETING_FEATURES_MAX,
        nullable=True,
    ),
    "package_dimensions": Struct(
        {name: Dimension() for name in ("height", "length", "weight", "width")},
        required=("height", "length", "weight", "width"),
        nullable=True,
    ),
    "shippable": Boolean(),
    "url": String(
        max_chars=URL_CHARS_MAX,
        nullable=True,
        pattern=re.compile(r"[!-~]+"),
        pattern_hint="; a URL of printable ASCII characters (percent-encode the others)",
    ),
}
CREATE_PARAMS: dict[str, Param] = {
    **_CHANGE_PARAMS,
    "default_price_data": DEFAULT_PRICE_DATA,
    "id": PRODUCT_DATA_FIELDS["id"],
    "type": Enum(values=PRODUCT_TYPES),
}
UPDATE_PARAMS: dict[str, Param] = {
    **_CHANGE_PARAMS,
    "default_price": String(max_chars=255, nullable=True),
}
LIST_PARAMS: dict[str, Param] = {
    **PAGINATION_PARAMS,
    "active": Boolean(),
    "ids": ListOf(String(max_chars=255), max_items=IDS_FILTER_MAX),
    "shippable": Boolean(),
    "type": Enum(values=PRODUCT_TYPES),
    "url": String(max_chars=URL_CHARS_MAX),
}

Fields = Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class ProductChanges:
    """What create and update share: None when not sent, UNSET when sent empty."""

    active: bool | None = None
    description: str | Unset | None = None
    images: list[str] | Unset | None = None
    marketing_features: list[Fields] | Unset | None = None
    metadata: MetadataUpdate | None = None
    name: str | Unset | None = None
    package_dimensions: Fields | Unset | None = None
    shippable: bool | None = None
    statement_descriptor: str | Unset | None = None
    tax_code: str | Unset | None = None
    tax_details: Fields | Unset | None = None
    unit_label: str | Unset | None = None
    url: str | Unset | None = None


@dataclass(frozen=True, kw_only=True)
class CreateProduct(ProductChanges):
    id: str | None = None
    type: str | None = None
    default_price_data: Fields | None = None


@dataclass(frozen=True, kw_only=True)
class UpdateProduct(ProductChanges):
    product: str
    default_price: str | Unset | None = None


@dataclass(frozen=True, kw_only=True)
class ListProducts:
    limit: int | None = None
    starting_after: str | None = None
    ending_before: str | None = None
    created: dict[str, int] | None = None
    active: bool | None = None
    ids: list[str] | None = None
    shippable: bool | None = None
    type: str | None = None
    url: str | None = None


# Fields copied from parameters unchanged (an UNSET clears them to null).
_PLAIN_FIELDS = (
    "active",
    "description",
    "shippable",
    "statement_descriptor",
    "tax_code",
    "unit_label",
    "url",
)


def _path(prefix: str, name: str) -> str:
    return f"{prefix}[{name}]" if prefix else name


def _blank_product(ctx: Context, product_type: str) -> ApiObject:
    now = ctx.now()
    return {
        "id": "",
        "object": "product",
        "active": True,
        "created": now,
        "default_price": None,
        "description": None,
        "images": [],
        "livemode": ctx.livemode,
        "marketing_features": [],
        "metadata": {},
        "name": "",
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "tax_details": None,
        "type": product_type,
        "unit_label": None,
        "updated": now,
        "url": None,
    }


def _check_changes(product: ApiObject, changes: ProductChanges, prefix: str) -> None:
    if changes.name is UNSET:
        raise EmptyParameter(_path(prefix, "name"))
    for name in NOT_FOR_GOODS:
        if product["type"] == "good" and isinstance(getattr(changes, name), str):
            raise InvalidParameter(
                f"{name} may only be set on products of type=service.",
                param=_path(prefix, name),
            )


def _apply(product: ApiObject, changes: ProductChanges, prefix: str) -> None:
    """Write validated parameters into the product (all but `default_price`)."""
    _check_changes(product, changes, prefix)
    apply_fields(product, changes, _PLAIN_FIELDS)
    if isinstance(changes.name, str):
        product["name"] = changes.name
    if changes.images is not None:
        images = changes.images
        product["images"] = [] if isinstance(images, Unset) else list(images)
    if isinstance(changes.marketing_features, list):
        product["marketing_features"] = [{"name": f["name"]} for f in changes.marketing_features]
    elif changes.marketing_features is UNSET:
        product["marketing_features"] = []
    if changes.metadata is not None:
        product["metadata"] = apply_metadata(product["metadata"], changes.metadata)
    if changes.package_dimensions is not None:
        dimensions = changes.package_dimensions
        product["package_dimensions"] = None if isinstance(dimensions, Unset) else dict(dimensions)
    if changes.tax_details is not None:
        product["tax_details"] = _tax_details(changes.tax_details)


def _tax_details(details: Fields | Unset) -> dict[str, Any] | None:
    if isinstance(details, Unset):
        return None
    tax_code = details.get("tax_code")
    return {
        "performance_location": details.get("performance_location"),
        "tax_code": None if tax_code is UNSET else tax_code,
    }


async def _new_product_id(ctx: Context, chosen: str | None, prefix: str) -> str:
    """A generated id, or the one the API user chose, which no product of this account may
    have (had)."""
    if chosen is None:
        return new_id("prod")
    if await ctx.tx.get_object(PRODUCTS, ctx.account_id, chosen, lock=False) is not None:
        raise InvalidRequest(
            "Product already exists.", param=_path(prefix, "id"), code="resource_already_exists"
        )
    return chosen


async def _insert_product(ctx: Context, request: CreateProduct, prefix: str) -> ApiObject:
    product = _blank_product(ctx, request.type or "service")
    _apply(product, request, prefix)
    product["id"] = await _new_product_id(ctx, request.id, prefix)
    price = (
        prices.default_price_document(ctx, request.default_price_data, product["id"])
        if request.default_price_data is not None
        else None
    )
    if price is not None:
        product["default_price"] = price["id"]
    await ctx.tx.insert_object(PRODUCTS, ctx.account_id, product)
    await events.announce(ctx, "product.created", product)
    if price is not None:
        await prices.store_new_price(ctx, price)
    return product


async def create_product(ctx: Context, request: CreateProduct) -> ApiObject:
    return await _insert_product(ctx, request, "")


async def create_product_from_data(
    ctx: Context, data: Fields, *, param: str = "product_data"
) -> ApiObject:
    """The product a price's `product_data` describes (a 400 names `product_data[...]`, or
    `param[...]` where the caller calls it otherwise: a plan's `product`)."""
    return await _insert_product(ctx, CreateProduct(**data), param)


async def retrieve_product(ctx: Context, product_id: str) -> ApiObject:
    return await load_live_object(ctx, RESOURCE, product_id)


async def _default_price(ctx: Context, product: ApiObject, reference: str | Unset) -> str | None:
    """The id to store as `default_price`: one of this product's own active prices."""
    if isinstance(reference, Unset):
        return None
    price = await prices.load_price(ctx, reference, param="default_price")
    if price["product"] != product["id"]:
        raise InvalidRequest(
            f"The price `{reference}` belongs to another product: a product's default price "
            "must be one of its own prices.",
            param="default_price",
        )
    if not price["active"]:
        raise InvalidRequest(
            f"The price `{reference}` is archived (active=false): a default price must be active.",
            param="default_price",
        )
    return reference


async def update_product(ctx: Context, request: UpdateProduct) -> ApiObject:
    product = await load_live_object(ctx, RESOURCE, request.product)
    before = copy.deepcopy(product)
    _apply(product, request, "")
    if request.default_price is not None:
        product["default_price"] = await _default_price(ctx, product, request.default_price)
    if product != before:
        product["updated"] = ctx.now()
        await ctx.tx.update_object(PRODUCTS, ctx.account_id, product)
        await events.announce(ctx, "product.updated", product, previous=before)
    return product


async def _has_prices(ctx: Context, product_id: str) -> bool:
    page = await ctx.tx.list_objects(
        PRICES,
        ctx.account_id,
        # Stripe's refusal is for "user-created prices": not the inline ones (price_data).
        ObjectListQuery(limit=1, equals={"product": product_id}, nulls=prices.NOT_INLINE),
    )
    return bool(page.objects)


async def delete_product(ctx: Context, product_id: str) -> ApiObject:
    product = await load_live_object(ctx, RESOURCE, product_id)
    if await _has_prices(ctx, product_id):
        raise InvalidRequest(
            "This product cannot be deleted because it has one or more user-created prices."
        )
    await ctx.tx.mark_object_deleted(PRODUCTS, ctx.account_id, product_id)
    await events.announce(ctx, "product.deleted", product)
    return {"id": product_id, "object": "product", "deleted": True}


def _list_equals(request: ListProducts) -> dict[str, Any]:
    wanted = {
        "active": request.active,
        "shippable": request.shippable,
        "type": request.type,
        "url": request.url,
    }
    return {column: value for column, value in wanted.items() if value is not None}


_CREATED_TESTS: Final = {
    "eq": operator.eq,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def _created_within(created: int, bounds: Mapping[str, int]) -> bool:
    """The `created` filter, for products looked up by id rather than listed in SQL."""
    return all(_CREATED_TESTS[name](created, bound) for name, bound in bounds.items())


async def _products_by_ids(ctx: Context, request: ListProducts) -> ListPage:
    if request.starting_after or request.ending_before:
        raise InvalidRequest(
            "ids cannot be used with starting_after or ending_before.", param="ids"
        )
    equals = _list_equals(request)
    found: list[ApiObject] = []
    for product_id in list(dict.fromkeys(request.ids or []))[:IDS_FILTER_MAX]:
        row = (
            await ctx.tx.get_object(PRODUCTS, ctx.account_id, product_id, lock=False)
            if could_be_object_id(product_id)
            else None
        )
        if row is None or row[1]:
            continue
        product = row[0]
        if all(product.get(k) == v for k, v in equals.items()) and _created_within(
            product["created"], request.created or {}
        ):
            found.append(product)
    return await prices.page_of_few(ctx, PRODUCTS, "product", found, {"limit": request.limit})


async def list_products(ctx: Context, request: ListProducts) -> ApiObject:
    if request.ids is not None:
        page = await _products_by_ids(ctx, request)
    else:
        query = ObjectListQuery(
            limit=request.limit or LIST_LIMIT_DEFAULT,
            equals=_list_equals(request),
            created=request.created or {},
        )
        cursors = {"starting_after": request.starting_after, "ending_before": request.ending_before}
        page = await list_page_with(ctx, RESOURCE, cursors, query)
    return list_envelope(page, RESOURCE.url)


RESOURCE = Resource(
    object_name="product",
    id_prefix="prod",
    collection="products",
    table=PRODUCTS,
    create=Operation(
        request_parser(CreateProduct, CREATE_PARAMS, required=("name",)),
        create_product,
        writes=True,
    ),
    retrieve=Operation(no_params, retrieve_product, writes=False),
    search=search_operation(
        PRODUCTS,
        "products",
        {
            "active": BOOLEAN,
            "description": STRING,
            "metadata": METADATA,
            "name": STRING,
            "shippable": BOOLEAN,
            "url": STRING,
        },
    ),
    update=Operation(
        request_parser(UpdateProduct, UPDATE_PARAMS, ids=("product",)),
        update_product,
        writes=True,
    ),
    delete=Operation(no_params, delete_product, writes=True),
    lister=Operation(request_parser(ListProducts, LIST_PARAMS), list_products, writes=False),
    expandable={"default_price": "price", "tax_code": "tax_code"},
    event_types=("product.created", "product.deleted", "product.updated"),
    nested=(product_features.RESOURCE,),
)
