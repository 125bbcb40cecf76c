"""Active entitlements (`/v1/entitlements/active_entitlements`, `ent_...`): list (a
`customer`'s, required) and retrieve, and the one place that sets them.

A customer's active entitlements are the features of the products its subscriptions grant
(`entitlement_grants`: the products of each subscription in a status that grants them),
one per feature however many products or subscriptions give it. `refresh_customer` works
the set out again and, when it differs from the stored one, writes the difference in the
caller's unit of work (an entitlement kept keeps its id; one that ends is marked deleted and
is missing from then on; one that comes back is a new object) and announces
`entitlements.active_entitlement_summary.updated` with the customer's summary and, as
`previous_attributes`, its earlier `entitlements`. Stripe's reference:
docs.stripe.com/api/entitlements/active-entitlement.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from kassa.errors import InvalidParameter, InvalidRequest, ResourceMissing
from kassa.ids import new_id
from kassa.invariants import ensure
from kassa.params import String
from kassa.services import events
from kassa.services.context import Context
from kassa.services.customer_lookup import load_customer_named
from kassa.services.listing import (
    CURSOR_PARAMS,
    LIST_LIMIT_MAX,
    could_be_object_id,
    list_page_with,
    list_query,
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
from kassa.store.tables import (
    ACTIVE_ENTITLEMENTS,
    ENTITLEMENT_GRANTS,
    PRIVATE,
    PRODUCT_FEATURES,
)

SUMMARY_UPDATED: Final = "entitlements.active_entitlement_summary.updated"
GRANTS_PER_CUSTOMER_MAX: Final = 10_000
"""The (subscription, product) grants one customer may have, read whole on every change:
Stripe's 500 subscriptions a customer may have, each with up to 20 items. Kassa counts no
subscriptions per customer, so this is checked where grants are written: the write of a
subscription that would take its customer past it is refused (`refresh_customer`)."""
FEATURES_PER_PRODUCT_MAX: Final = 100
"""The features one product may have (Kassa's limit: `product_features` refuses more)."""
ENTITLEMENTS_PER_CUSTOMER_MAX: Final = GRANTS_PER_CUSTOMER_MAX
"""The active entitlements one customer may hold, read back whole to compare: refused, as
the grants are, at the write (of a subscription, or a product's new feature) past it."""
SUMMARY_ENTITLEMENTS_MAX: Final = LIST_LIMIT_MAX
"""The entitlements a summary embeds (newest first; `has_more` says when there are more)."""
GRANTS_PER_PRODUCT_CHANGE_MAX: Final = 10_000
"""The grants of one product a change of its features updates in one request: past it the
change is refused, nothing written (the customers' entitlements stay whole)."""


@dataclass(frozen=True)
class ListActiveEntitlements:
    customer: str
    limit: int | None = None
    starting_after: str | None = None
    ending_before: str | None = None


LIST_PARAMS: Final = {**CURSOR_PARAMS, "customer": String(max_chars=255)}


def view(entitlement: Mapping[str, Any]) -> ApiObject:
    """As the API shows it: without Kassa's own facts and the `created` its table keeps."""
    return {k: v for k, v in entitlement.items() if k not in ("created", PRIVATE)}


async def retrieve_active_entitlement(ctx: Context, entitlement_id: str) -> ApiObject:
    found = (
        await ctx.tx.get_object(ACTIVE_ENTITLEMENTS, ctx.account_id, entitlement_id)
        if could_be_object_id(entitlement_id)
        else None
    )
    if found is None or found[1]:
        raise ResourceMissing(RESOURCE.object_name, entitlement_id)
    return view(found[0])


async def list_active_entitlements(ctx: Context, request: ListActiveEntitlements) -> ApiObject:
    await load_customer_named(ctx, request.customer, param="customer")
    params = {
        name: value
        for name, value in vars(request).items()
        if name != "customer" and value is not None
    }
    query = list_query(params, {}, equals={"customer": request.customer})
    page = await list_page_with(ctx, RESOURCE, params, query)
    return list_envelope(ListPage([view(e) for e in page.data], page.has_more), RESOURCE.url)


# -- the one place entitlements change ------------------------------------------------------


async def _granted_products(ctx: Context, customer_id: str, param: str) -> list[str]:
    """The products the customer's grants give; past GRANTS_PER_CUSTOMER_MAX the write that
    added the grants (this unit's) is refused, naming `param`."""
    query = ObjectListQuery(limit=GRANTS_PER_CUSTOMER_MAX, equals={"customer": customer_id})
    page = await ctx.tx.list_objects(ENTITLEMENT_GRANTS, ctx.account_id, query)
    if page.has_more:
        raise InvalidParameter(
            f"The customer {customer_id} would have more than {GRANTS_PER_CUSTOMER_MAX} "
            "products granted by its subscriptions (500 subscriptions of 20 items).",
            param=param,
        )
    return sorted({str(grant["product"]) for grant in page.objects})


async def features_of_product(ctx: Context, product_id: str) -> list[ApiObject]:
    """The product's attached features (its `product_feature` objects), newest first."""
    query = ObjectListQuery(limit=FEATURES_PER_PRODUCT_MAX, equals={"product": product_id})
    page = await ctx.tx.list_objects(PRODUCT_FEATURES, ctx.account_id, query)
    ensure(not page.has_more, f"a product has at most {FEATURES_PER_PRODUCT_MAX} features")
    return page.objects


async def _entitled_features(ctx: Context, customer_id: str, param: str) -> dict[str, str]:
    """feature id -> its lookup key, for every feature the customer's grants give (a lookup
    key never changes, so the copy a product feature holds is the feature's); past
    ENTITLEMENTS_PER_CUSTOMER_MAX the write that widened them is refused, naming `param`."""
    entitled: dict[str, str] = {}
    for product_id in await _granted_products(ctx, customer_id, param):
        for attached in await features_of_product(ctx, product_id):
            feature = attached["entitlement_feature"]
            entitled[str(feature["id"])] = str(feature["lookup_key"])
    if len(entitled) > ENTITLEMENTS_PER_CUSTOMER_MAX:
        raise InvalidParameter(
            f"The customer {customer_id} would have more than {ENTITLEMENTS_PER_CUSTOMER_MAX} "
            "active entitlements.",
            param=param,
        )
    return entitled


async def _held(ctx: Context, customer_id: str, limit: int) -> ListPage:
    query = ObjectListQuery(limit=limit, equals={"customer": customer_id})
    page = await ctx.tx.list_objects(ACTIVE_ENTITLEMENTS, ctx.account_id, query)
    return ListPage(page.objects, page.has_more)


def summary(ctx: Context, customer_id: str, held: ListPage) -> ApiObject:
    """The customer's `entitlements.active_entitlement_summary`: its first entitlements."""
    return {
        "object": "entitlements.active_entitlement_summary",
        "customer": customer_id,
        "entitlements": {
            "object": "list",
            "data": [view(e) for e in held.data[:SUMMARY_ENTITLEMENTS_MAX]],
            "has_more": held.has_more or len(held.data) > SUMMARY_ENTITLEMENTS_MAX,
            "url": f"{RESOURCE.url}?customer={customer_id}",
        },
        "livemode": ctx.livemode,
    }


async def refresh_customer(ctx: Context, customer_id: str, *, param: str) -> None:
    """Bring the customer's active entitlements in line with its grants, and announce the
    change of its set, if any. Past the customer's bounds, InvalidParameter naming `param`
    (the caller's parameter that widened its grants or features): nothing is written."""
    entitled = await _entitled_features(ctx, customer_id, param)
    before = await _held(ctx, customer_id, ENTITLEMENTS_PER_CUSTOMER_MAX)
    # Every write of them was held to the bound (`_entitled_features`).
    ensure(not before.has_more, "a customer's entitlements are read whole")
    held = {str(e["feature"]): e for e in before.data}
    if held.keys() == entitled.keys():
        return
    for feature_id, entitlement in held.items():
        if feature_id not in entitled:
            await ctx.tx.mark_object_deleted(ACTIVE_ENTITLEMENTS, ctx.account_id, entitlement["id"])
    for feature_id, lookup_key in entitled.items():
        if feature_id not in held:
            await ctx.tx.insert_object(
                ACTIVE_ENTITLEMENTS,
                ctx.account_id,
                _new_entitlement(ctx, customer_id, feature_id, lookup_key),
            )
    after = await _held(ctx, customer_id, SUMMARY_ENTITLEMENTS_MAX)
    await events.announce(
        ctx,
        SUMMARY_UPDATED,
        summary(ctx, customer_id, after),
        previous=summary(ctx, customer_id, before),
    )


def _new_entitlement(ctx: Context, customer_id: str, feature_id: str, lookup_key: str) -> ApiObject:
    return {
        "id": new_id("ent"),
        "object": "entitlements.active_entitlement",
        "feature": feature_id,
        "livemode": ctx.livemode,
        "lookup_key": lookup_key,
        "created": ctx.now(),
        PRIVATE: {"customer": customer_id},
    }


async def customers_granted(ctx: Context, product_id: str) -> list[str]:
    """The customers some subscription grants `product_id` to, whose entitlements a change
    of its features changes; refused (InvalidRequest) past GRANTS_PER_PRODUCT_CHANGE_MAX, so
    that the caller writes nothing."""
    query = ObjectListQuery(limit=GRANTS_PER_PRODUCT_CHANGE_MAX, equals={"product": product_id})
    page = await ctx.tx.list_objects(ENTITLEMENT_GRANTS, ctx.account_id, query)
    if page.has_more:
        raise InvalidRequest(
            f"The product {product_id} is on more than {GRANTS_PER_PRODUCT_CHANGE_MAX} "
            "subscriptions: Kassa cannot change its features' entitlements in one request."
        )
    return sorted({str(grant["customer"]) for grant in page.objects})


RESOURCE = Resource(
    object_name="entitlements.active_entitlement",
    id_prefix="ent",
    collection="entitlements/active_entitlements",
    table=ACTIVE_ENTITLEMENTS,
    retrieve=Operation(no_params, retrieve_active_entitlement, writes=False),
    lister=Operation(
        request_parser(ListActiveEntitlements, LIST_PARAMS, required=("customer",)),
        list_active_entitlements,
        writes=False,
    ),
    expandable={"feature": "entitlements.feature"},
    event_types=(SUMMARY_UPDATED,),
)
