"""A product's features (`/v1/products/{product}/features`, `prodft_...`): attach an active
feature (`entitlement_feature`), list, retrieve, detach (delete). The object embeds the
feature as it is now (`entitlement_feature`), as Stripe shows it.

A product gaining or losing a feature changes the active entitlements of every customer a
subscription grants the product to (`entitlement_grants`), in the same unit of work
(`active_entitlements.refresh_customer`). Stripe announces no event about product features.
Stripe's reference: docs.stripe.com/api/product-feature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from kassa.errors import InvalidParameter, ResourceMissing
from kassa.ids import new_id
from kassa.params import String, parse_params
from kassa.services.billing import active_entitlements, entitlement_features
from kassa.services.context import Context
from kassa.services.listing import CURSOR_PARAMS, could_be_object_id, list_page_with, list_query
from kassa.services.resource import (
    ApiObject,
    Form,
    ListPage,
    Operation,
    Resource,
    RouteIds,
    list_envelope,
    request_parser,
    route_id,
)
from kassa.store.tables import ENTITLEMENT_FEATURES, PRIVATE, PRODUCT_FEATURES, PRODUCTS

FEATURES_PER_PRODUCT_MAX: Final = active_entitlements.FEATURES_PER_PRODUCT_MAX
CREATE_PARAMS: Final = {"entitlement_feature": String(max_chars=255)}


@dataclass(frozen=True)
class AttachFeature:
    product: str
    entitlement_feature: str | None = None


@dataclass(frozen=True)
class ProductFeatureRef:
    product: str
    product_feature: str


@dataclass(frozen=True)
class ListProductFeatures:
    product: str
    params: dict[str, Any]


def _url(product_id: str) -> str:
    return f"/v1/products/{product_id}/features"


async def _check_product(ctx: Context, product_id: str) -> None:
    """The product exists and is not deleted (read without a lock: nothing of it changes)."""
    found = (
        await ctx.tx.get_object(PRODUCTS, ctx.account_id, product_id, lock=False)
        if could_be_object_id(product_id)
        else None
    )
    if found is None or found[1]:
        raise ResourceMissing("product", product_id, param="product")


async def _view(ctx: Context, product_feature: ApiObject) -> ApiObject:
    """As the API shows it: the feature embedded as it is now, without Kassa's own facts."""
    feature_id = str(product_feature["entitlement_feature"]["id"])
    found = await ctx.tx.get_object(ENTITLEMENT_FEATURES, ctx.account_id, feature_id, lock=False)
    shown = {k: v for k, v in product_feature.items() if k not in ("created", PRIVATE)}
    if found is not None:
        shown["entitlement_feature"] = entitlement_features.view(found[0])
    return shown


async def attach_feature(ctx: Context, request: AttachFeature) -> ApiObject:
    await _check_product(ctx, request.product)
    feature_id = request.entitlement_feature or ""
    feature = await entitlement_features.load_feature(ctx, feature_id, param="entitlement_feature")
    if not feature["active"]:
        raise InvalidParameter(
            f"The feature {feature_id} is archived: it cannot be attached to a product.",
            param="entitlement_feature",
        )
    attached = await active_entitlements.features_of_product(ctx, request.product)
    if any(a["entitlement_feature"]["id"] == feature_id for a in attached):
        raise InvalidParameter(
            f"The feature {feature_id} is already attached to the product {request.product}.",
            param="entitlement_feature",
        )
    if len(attached) >= FEATURES_PER_PRODUCT_MAX:
        raise InvalidParameter(
            f"A product can have at most {FEATURES_PER_PRODUCT_MAX} features.",
            param="entitlement_feature",
        )
    customers = await active_entitlements.customers_granted(ctx, request.product)
    product_feature = {
        "id": new_id("prodft"),
        "object": "product_feature",
        "entitlement_feature": entitlement_features.view(feature),
        "livemode": ctx.livemode,
        "created": ctx.now(),
        PRIVATE: {"product": request.product},
    }
    await ctx.tx.insert_object(PRODUCT_FEATURES, ctx.account_id, product_feature)
    for customer_id in customers:
        await active_entitlements.refresh_customer(ctx, customer_id, param="entitlement_feature")
    return await _view(ctx, product_feature)


async def _load(ctx: Context, ref: ProductFeatureRef) -> ApiObject:
    """The product's live product feature by id; missing when it is another product's."""
    await _check_product(ctx, ref.product)
    found = (
        await ctx.tx.get_object(PRODUCT_FEATURES, ctx.account_id, ref.product_feature)
        if could_be_object_id(ref.product_feature)
        else None
    )
    if found is None or found[1] or found[0][PRIVATE]["product"] != ref.product:
        raise ResourceMissing("product_feature", ref.product_feature)
    return found[0]


async def retrieve_product_feature(ctx: Context, ref: ProductFeatureRef) -> ApiObject:
    return await _view(ctx, await _load(ctx, ref))


async def detach_feature(ctx: Context, ref: ProductFeatureRef) -> ApiObject:
    product_feature = await _load(ctx, ref)
    customers = await active_entitlements.customers_granted(ctx, ref.product)
    await ctx.tx.mark_object_deleted(PRODUCT_FEATURES, ctx.account_id, ref.product_feature)
    for customer_id in customers:
        await active_entitlements.refresh_customer(ctx, customer_id, param="id")
    return {"id": product_feature["id"], "object": "product_feature", "deleted": True}


async def list_product_features(ctx: Context, request: ListProductFeatures) -> ApiObject:
    await _check_product(ctx, request.product)
    params = request.params
    query = list_query(params, {}, equals={"product": request.product})
    page = await list_page_with(ctx, RESOURCE, params, query)
    shown = [await _view(ctx, product_feature) for product_feature in page.data]
    return list_envelope(ListPage(shown, page.has_more), _url(request.product))


def _parse_reference(ids: RouteIds, form: Form) -> ProductFeatureRef:
    parse_params({}, form)
    return ProductFeatureRef(route_id(ids, 0), route_id(ids, 1))


def _parse_list(ids: RouteIds, form: Form) -> ListProductFeatures:
    return ListProductFeatures(route_id(ids), parse_params(CURSOR_PARAMS, form))


RESOURCE = Resource(
    object_name="product_feature",
    id_prefix="prodft",
    collection="features",
    table=PRODUCT_FEATURES,
    create=Operation(
        request_parser(
            AttachFeature, CREATE_PARAMS, ids=("product",), required=("entitlement_feature",)
        ),
        attach_feature,
        writes=True,
    ),
    retrieve=Operation(_parse_reference, retrieve_product_feature, writes=False),
    delete=Operation(_parse_reference, detach_feature, writes=True),
    lister=Operation(_parse_list, list_product_features, writes=False),
)
"""Nested under the product (`products.RESOURCE.nested`): its routes carry both ids."""
