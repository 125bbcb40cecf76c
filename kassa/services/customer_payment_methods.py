"""A customer's PaymentMethods, under the customer: `GET /v1/customers/{id}/payment_methods`
(newest first, filtered by `type` and `allow_redisplay`) and
`GET /v1/customers/{id}/payment_methods/{payment_method}`, which finds only a payment method
attached to that customer (another's, a detached or a loose one is 404, as on Stripe)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kassa.errors import ResourceMissing
from kassa.params import Param
from kassa.services import payment_methods
from kassa.services.context import Context
from kassa.services.customer_lookup import load_customer_named
from kassa.services.listing import (
    PAGINATION_PARAMS,
    list_page_with,
    list_query,
    load_live_object,
)
from kassa.services.resource import (
    ApiObject,
    Operation,
    ParamsParser,
    Resource,
    RouteIds,
    list_envelope,
    request_parser,
    route_id,
)
from kassa.store.tables import PAYMENT_METHODS

LIST_FILTERS: dict[str, Param] = {
    "type": payment_methods.LIST_FILTERS["type"],
    "allow_redisplay": payment_methods.ALLOW_REDISPLAY,
}
LIST_PARAMS: dict[str, Param] = {**PAGINATION_PARAMS, **LIST_FILTERS}


@dataclass(frozen=True)
class ListCustomerPaymentMethods:
    customer: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class CustomerPaymentMethod:
    customer: str
    payment_method: str


def _build_list(ids: RouteIds, params: dict[str, Any]) -> ListCustomerPaymentMethods:
    return ListCustomerPaymentMethods(route_id(ids), params)


async def list_payment_methods(ctx: Context, request: ListCustomerPaymentMethods) -> ApiObject:
    await load_customer_named(ctx, request.customer, param="customer")
    params = request.params
    query = list_query(params, LIST_FILTERS, equals={"customer": request.customer})
    page = await list_page_with(ctx, payment_methods.RESOURCE, params, query)
    return list_envelope(page, f"/v1/customers/{request.customer}/payment_methods")


async def retrieve_payment_method(ctx: Context, request: CustomerPaymentMethod) -> ApiObject:
    await load_customer_named(ctx, request.customer, param="customer")
    found = await load_live_object(
        ctx, payment_methods.RESOURCE, request.payment_method, param="payment_method"
    )
    if found["customer"] != request.customer:
        raise ResourceMissing("payment_method", request.payment_method, param="payment_method")
    return found


RESOURCE = Resource(
    routes_only=True,
    object_name="payment_method",
    id_prefix="pm",
    collection="payment_methods",
    table=PAYMENT_METHODS,
    retrieve=Operation(
        request_parser(CustomerPaymentMethod, {}, ids=("customer", "payment_method")),
        retrieve_payment_method,
        writes=False,
    ),
    lister=Operation(ParamsParser(LIST_PARAMS, _build_list), list_payment_methods, writes=False),
    expandable={"customer": "customer"},
)
"""Nested under the customer (`customers.RESOURCE.nested`): its routes carry both ids."""
