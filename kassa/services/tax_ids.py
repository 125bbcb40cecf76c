"""Customer tax ids (`/v1/customers/{id}/tax_ids`): create, retrieve, delete, list (API
version 2026-10-28.endive). Object `tax_id`, id `txi_...`; no update.

The value is checked against its type's format and the country derived from both
(`tax_id_formats`); a bad value is a 400 `tax_id_invalid` naming `value`. Verification
follows Stripe's test mode: a tax id of a verified type is created `pending` and, for
Stripe's magic values, settled in the same request and announced as
`customer.tax_id.updated` (Stripe settles them asynchronously, moments later).

A customer holds at most `TAX_IDS_PER_CUSTOMER_MAX` (Stripe's limit). Its tax ids show on
its invoices (`customer_tax_ids`) and on their PDF and hosted page.
Deleting the customer leaves its tax ids stored but unreachable (every path goes through
the live customer).

The newer top-level API (`/v1/tax_ids`, owner-based) serves the same objects
(`OWNED`): `owner[type]=customer` with `owner[customer]`. Kassa holds no tax ids of the
account itself (`owner[type]=self`, Stripe's default): creating one is refused naming
`owner[type]`, and listing them answers an empty list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from kassa.errors import InvalidRequest, MissingParameter, ResourceMissing
from kassa.ids import new_id
from kassa.params import Enum, Param, String, Struct, parse_params
from kassa.services import events, hooks
from kassa.services.context import Context
from kassa.services.listing import (
    CURSOR_PARAMS,
    LIST_LIMIT_DEFAULT,
    could_be_object_id,
    included_list,
    list_page_with,
)
from kassa.services.resource import (
    ApiObject,
    Form,
    ListPage,
    Operation,
    Resource,
    RouteIds,
    list_envelope,
    no_params,
    request_parser,
    route_id,
)
from kassa.services.tax_id_formats import TYPES, check_value, country_of, verification_status
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import CUSTOMERS, TAX_IDS

TAX_IDS_PER_CUSTOMER_MAX: Final = 25
"""Stripe stores at most 25 tax ids per customer."""
TAX_ID_VALUE = String(max_chars=64)

CREATE_PARAMS: dict[str, Param] = {"type": Enum(values=TYPES), "value": TAX_ID_VALUE}
TAX_ID_DATA = Struct(CREATE_PARAMS, required=("type", "value"))
"""One entry of a customer create's `tax_id_data[]`."""
LIST_PARAMS: dict[str, Param] = {**CURSOR_PARAMS}


@dataclass(frozen=True, kw_only=True)
class CreateTaxId:
    customer: str
    type: str
    value: str


@dataclass(frozen=True)
class TaxIdRef:
    customer: str
    tax_id: str


@dataclass(frozen=True)
class ListTaxIds:
    customer: str
    params: dict[str, Any]


def new_tax_id(ctx: Context, customer_id: str, tax_id_type: str, value: str) -> ApiObject:
    """A customer's tax id document, its value checked (400 naming `value`)."""
    check_value(tax_id_type, value)
    settled = verification_status(tax_id_type, value)
    return {
        "id": new_id("txi"),
        "object": "tax_id",
        "country": country_of(tax_id_type, value),
        "created": ctx.now(),
        "customer": customer_id,
        "customer_account": None,
        "livemode": ctx.livemode,
        "owner": {
            "type": "customer",
            "account": None,
            "application": None,
            "customer": customer_id,
            "customer_account": None,
        },
        "type": tax_id_type,
        "value": value,
        "verification": {
            "status": "pending" if settled in ("verified", "unverified") else settled,
            "verified_address": None,
            "verified_name": None,
        },
    }


async def count_of(ctx: Context, customer_id: str) -> int:
    return await ctx.tx.count_objects(
        TAX_IDS,
        ctx.account_id,
        ObjectListQuery(limit=TAX_IDS_PER_CUSTOMER_MAX, equals={"customer": customer_id}),
    )


async def store_tax_id(ctx: Context, tax_id: ApiObject) -> ApiObject:
    """Insert a new tax id (see `new_tax_id`) and announce it; a magic test value's
    verification is settled at once and announced as an update."""
    if await count_of(ctx, tax_id["customer"]) >= TAX_IDS_PER_CUSTOMER_MAX:
        raise InvalidRequest(
            f"A customer can have at most {TAX_IDS_PER_CUSTOMER_MAX} tax ids.", param="value"
        )
    await ctx.tx.insert_object(TAX_IDS, ctx.account_id, tax_id)
    await events.announce(ctx, "customer.tax_id.created", tax_id)
    settled = verification_status(tax_id["type"], tax_id["value"])
    if settled != tax_id["verification"]["status"]:
        before = {**tax_id, "verification": dict(tax_id["verification"])}
        tax_id["verification"]["status"] = settled
        await ctx.tx.update_object(TAX_IDS, ctx.account_id, tax_id)
        await events.announce(ctx, "customer.tax_id.updated", tax_id, previous=before)
    return tax_id


async def _live_customer(ctx: Context, customer_id: str) -> ApiObject:
    found = (
        await ctx.tx.get_object(CUSTOMERS, ctx.account_id, customer_id)
        if could_be_object_id(customer_id)
        else None
    )
    if found is None or found[1]:
        raise ResourceMissing("customer", customer_id, param="customer")
    ctx.remember_customer(found[0])  # asking for the customer's time reads nothing more
    return found[0]


async def create_tax_id(ctx: Context, request: CreateTaxId) -> ApiObject:
    customer = await _live_customer(ctx, request.customer)
    ctx = await ctx.governed_by(customer)
    tax_id = new_tax_id(ctx, customer["id"], request.type, request.value)
    stored = await store_tax_id(ctx, tax_id)
    # The customer's drafts show its tax ids as they are (`customer_tax_ids`).
    await hooks.customer_details_changed(ctx, customer, None)
    return stored


async def _owner_and_tax_id(
    ctx: Context, customer_id: str, tax_id_id: str
) -> tuple[ApiObject, ApiObject]:
    """The live customer and its tax id (both locked in a write unit); another customer's
    tax id is missing."""
    customer = await _live_customer(ctx, customer_id)
    found = (
        await ctx.tx.get_object(TAX_IDS, ctx.account_id, tax_id_id)
        if could_be_object_id(tax_id_id)
        else None
    )
    if found is None or found[1] or found[0]["customer"] != customer["id"]:
        raise ResourceMissing("tax_id", tax_id_id)
    return customer, found[0]


async def retrieve_tax_id(ctx: Context, request: TaxIdRef) -> ApiObject:
    _, tax_id = await _owner_and_tax_id(ctx, request.customer, request.tax_id)
    return tax_id


async def delete_tax_id(ctx: Context, request: TaxIdRef) -> ApiObject:
    customer, tax_id = await _owner_and_tax_id(ctx, request.customer, request.tax_id)
    ctx = await ctx.governed_by(tax_id)
    await ctx.tx.mark_object_deleted(TAX_IDS, ctx.account_id, tax_id["id"])
    await events.announce(ctx, "customer.tax_id.deleted", tax_id)
    await hooks.customer_details_changed(ctx, customer, None)
    return {"id": tax_id["id"], "object": "tax_id", "deleted": True}


async def tax_ids_page(
    ctx: Context, customer_id: str, params: dict[str, Any]
) -> tuple[list[ApiObject], bool]:
    query = ObjectListQuery(
        limit=params.get("limit") or LIST_LIMIT_DEFAULT, equals={"customer": customer_id}
    )
    page = await list_page_with(ctx, RESOURCE, params, query)
    return page.data, page.has_more


async def list_tax_ids(ctx: Context, request: ListTaxIds) -> ApiObject:
    customer = await _live_customer(ctx, request.customer)
    data, has_more = await tax_ids_page(ctx, customer["id"], request.params)
    return list_envelope_of(customer["id"], data, has_more)


def list_envelope_of(customer_id: str, data: list[ApiObject], has_more: bool) -> ApiObject:
    return list_envelope(ListPage(data=data, has_more=has_more), _list_url(customer_id))


async def included_in_customer(ctx: Context, customer_id: str) -> ApiObject:
    """`expand[]=tax_ids` on a customer: the first page of its tax ids, newest first, with
    `total_count` (`listing.included_list`)."""
    query = ObjectListQuery(limit=LIST_LIMIT_DEFAULT, equals={"customer": customer_id})
    return await included_list(ctx, TAX_IDS, query, url=_list_url(customer_id), view=dict)


def _list_url(customer_id: str) -> str:
    return f"/v1/customers/{customer_id}/tax_ids"


async def invoice_entries(ctx: Context, customer_id: str) -> list[ApiObject]:
    """The customer's tax ids as an invoice shows them (`customer_tax_ids`): type and
    value, oldest first, as they were added."""
    data, _ = await tax_ids_page(ctx, customer_id, {"limit": TAX_IDS_PER_CUSTOMER_MAX})
    return [{"type": t["type"], "value": t["value"]} for t in reversed(data)]


# --- The top-level API: /v1/tax_ids -------------------------------------------------------

OWNER = Struct(
    {
        "type": Enum(values=("account", "application", "customer", "self")),
        "account": String(max_chars=255),
        "customer": String(max_chars=255),
        "customer_account": String(max_chars=255),
    },
    required=("type",),
)
OWNED_CREATE_PARAMS: dict[str, Param] = {**CREATE_PARAMS, "owner": OWNER}
OWNED_LIST_PARAMS: dict[str, Param] = {**LIST_PARAMS, "owner": OWNER}


@dataclass(frozen=True, kw_only=True)
class CreateOwnedTaxId:
    type: str
    value: str
    owner: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class ListOwnedTaxIds:
    limit: int | None = None
    starting_after: str | None = None
    ending_before: str | None = None
    owner: dict[str, Any] | None = None


def _owning_customer(owner: dict[str, Any] | None) -> str | None:
    """The customer `owner` names; None for the account's own tax ids (`self`, the
    default), which Kassa does not hold. Other owners are refused."""
    kind = "self" if owner is None else owner["type"]
    if kind == "self":
        return None
    if kind != "customer":
        raise InvalidRequest(
            f"Kassa holds tax ids of customers only; owner[type]={kind} is not supported.",
            param="owner[type]",
        )
    customer = (owner or {}).get("customer")
    if not customer:
        raise MissingParameter("owner[customer]")
    return str(customer)


async def create_owned_tax_id(ctx: Context, request: CreateOwnedTaxId) -> ApiObject:
    customer = _owning_customer(request.owner)
    if customer is None:
        raise InvalidRequest(
            "Kassa holds tax ids of customers only: pass owner[type]=customer and owner[customer].",
            param="owner[type]",
        )
    return await create_tax_id(
        ctx, CreateTaxId(customer=customer, type=request.type, value=request.value)
    )


async def _owned(ctx: Context, tax_id_id: str) -> ApiObject:
    found = (
        await ctx.tx.get_object(TAX_IDS, ctx.account_id, tax_id_id)
        if could_be_object_id(tax_id_id)
        else None
    )
    if found is None or found[1]:
        raise ResourceMissing("tax_id", tax_id_id)
    _, tax_id = await _owner_and_tax_id(ctx, str(found[0]["customer"]), tax_id_id)
    return tax_id


async def retrieve_owned_tax_id(ctx: Context, tax_id_id: str) -> ApiObject:
    return await _owned(ctx, tax_id_id)


async def delete_owned_tax_id(ctx: Context, tax_id_id: str) -> ApiObject:
    tax_id = await _owned(ctx, tax_id_id)
    return await delete_tax_id(ctx, TaxIdRef(str(tax_id["customer"]), tax_id_id))


async def list_owned_tax_ids(ctx: Context, request: ListOwnedTaxIds) -> ApiObject:
    customer = _owning_customer(request.owner)
    if customer is None:
        return list_envelope(ListPage(data=[], has_more=False), "/v1/tax_ids")
    await _live_customer(ctx, customer)
    params = {
        "limit": request.limit,
        "starting_after": request.starting_after,
        "ending_before": request.ending_before,
    }
    data, has_more = await tax_ids_page(ctx, customer, params)
    return list_envelope(ListPage(data=data, has_more=has_more), "/v1/tax_ids")


def _parse_reference(ids: RouteIds, form: Form) -> TaxIdRef:
    parse_params({}, form)
    return TaxIdRef(route_id(ids, 0), route_id(ids, 1))


def _parse_list(ids: RouteIds, form: Form) -> ListTaxIds:
    return ListTaxIds(route_id(ids), parse_params(LIST_PARAMS, form))


RESOURCE = Resource(
    routes_only=True,
    object_name="tax_id",
    id_prefix="txi",
    collection="tax_ids",
    table=TAX_IDS,
    create=Operation(
        request_parser(CreateTaxId, CREATE_PARAMS, ids=("customer",), required=("type", "value")),
        create_tax_id,
        writes=True,
    ),
    retrieve=Operation(_parse_reference, retrieve_tax_id, writes=False),
    delete=Operation(_parse_reference, delete_tax_id, writes=True),
    lister=Operation(_parse_list, list_tax_ids, writes=False),
    expandable={"customer": "customer", "owner.customer": "customer"},
    event_types=(
        "customer.tax_id.created",
        "customer.tax_id.deleted",
        "customer.tax_id.updated",
    ),
)
"""Nested under the customer (`customers.RESOURCE.nested`): its routes carry both ids."""

OWNED = Resource(
    object_name="tax_id",
    id_prefix="txi",
    collection="tax_ids",
    table=TAX_IDS,
    create=Operation(
        request_parser(CreateOwnedTaxId, OWNED_CREATE_PARAMS, required=("type", "value")),
        create_owned_tax_id,
        writes=True,
    ),
    retrieve=Operation(no_params, retrieve_owned_tax_id, writes=False),
    delete=Operation(no_params, delete_owned_tax_id, writes=True),
    lister=Operation(
        request_parser(ListOwnedTaxIds, OWNED_LIST_PARAMS), list_owned_tax_ids, writes=False
    ),
    expandable=RESOURCE.expandable,
    event_types=RESOURCE.event_types,
)
"""`/v1/tax_ids`: the same objects, reached by id or by owner."""
