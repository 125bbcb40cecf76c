"""Entitlement features (`/v1/entitlements/features`, `feat_...`): create, retrieve, update
(`name`, `metadata`, and `active=false`, which archives the feature for good), list (the
active features unless `archived=true`, and by `lookup_key`).

A feature's `lookup_key` is unique among the account's active features (migration 0068's
unique partial index stands behind the check here): an archived feature's key may be taken
again. An archived feature cannot be edited or made active again, nor attached to a product
(`product_features`); where it is attached already it stays, and so do the entitlements it
gives. Stripe announces no event about features (its event type list has none).
Stripe's reference: docs.stripe.com/api/entitlements/feature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from kassa.errors import InvalidParameter
from kassa.ids import new_id
from kassa.params import Boolean, Metadata, MetadataUpdate, String, apply_metadata
from kassa.services.context import Context
from kassa.services.listing import (
    CURSOR_PARAMS,
    ListRequest,
    list_page_with,
    list_query,
    load_live_object,
)
from kassa.services.resource import (
    ApiObject,
    ListPage,
    Operation,
    ParamsParser,
    Resource,
    RouteIds,
    list_envelope,
    no_params,
    request_parser,
)
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import ENTITLEMENT_FEATURES

NAME_CHARS_MAX: Final = 80
"""Stripe: the feature's name "may be up to 80 characters"."""
LOOKUP_KEY_CHARS_MAX: Final = 80
"""Stripe: the lookup key "may be up to 80 characters"."""

CREATE_PARAMS: Final = {
    "name": String(max_chars=NAME_CHARS_MAX),
    "lookup_key": String(max_chars=LOOKUP_KEY_CHARS_MAX),
    "metadata": Metadata(),
}
UPDATE_PARAMS: Final = {
    "name": String(max_chars=NAME_CHARS_MAX),
    "active": Boolean(),
    "metadata": Metadata(),
}
LIST_PARAMS: Final = {
    **CURSOR_PARAMS,
    "archived": Boolean(),
    "lookup_key": String(max_chars=LOOKUP_KEY_CHARS_MAX),
}
"""Stripe's feature list takes the cursors, `archived` and `lookup_key` (no `created`)."""


@dataclass(frozen=True)
class CreateFeature:
    name: str | None = None
    lookup_key: str | None = None
    metadata: MetadataUpdate | None = None


@dataclass(frozen=True)
class UpdateFeature:
    feature: str
    name: str | None = None
    active: bool | None = None
    metadata: MetadataUpdate | None = None


async def create_feature(ctx: Context, request: CreateFeature) -> ApiObject:
    name, lookup_key = _required(request.name, "name"), _required(request.lookup_key, "lookup_key")
    await _check_lookup_key_free(ctx, lookup_key)
    feature = {
        "id": new_id("feat"),
        "object": "entitlements.feature",
        "active": True,
        "livemode": ctx.livemode,
        "lookup_key": lookup_key,
        "metadata": apply_metadata({}, request.metadata or {}),
        "name": name,
        # Not a field Stripe shows: the table's `created` column is read from the document
        # (as a discount's is), and `view` leaves it out.
        "created": ctx.now(),
    }
    await ctx.tx.insert_object(ENTITLEMENT_FEATURES, ctx.account_id, feature)
    return view(feature)


def _required(value: str | None, param: str) -> str:
    """`name` and `lookup_key` are required and cannot be empty (the request parser has
    already refused them missing)."""
    if not value:
        raise InvalidParameter(f"The feature's {param} cannot be empty.", param=param)
    return value


async def _check_lookup_key_free(ctx: Context, lookup_key: str) -> None:
    query = ObjectListQuery(limit=1, equals={"lookup_key": lookup_key, "active": True})
    found = await ctx.tx.list_objects(ENTITLEMENT_FEATURES, ctx.account_id, query)
    if found.objects:
        raise InvalidParameter(
            f"A feature with lookup_key {lookup_key} already exists: {found.objects[0]['id']}.",
            param="lookup_key",
        )


def view(feature: ApiObject) -> ApiObject:
    """The feature as the API shows it: without the `created` Kassa keeps for its table."""
    return {k: v for k, v in feature.items() if k != "created"}


async def load_feature(ctx: Context, feature_id: str, *, param: str = "id") -> ApiObject:
    """The stored feature (with its `created`), ResourceMissing naming `param` if none."""
    return await load_live_object(ctx, RESOURCE, feature_id, param=param)


async def retrieve_feature(ctx: Context, feature_id: str) -> ApiObject:
    return view(await load_feature(ctx, feature_id))


async def update_feature(ctx: Context, request: UpdateFeature) -> ApiObject:
    feature = await load_feature(ctx, request.feature)
    if not feature["active"]:
        _refuse_archived_change(request)
    if request.name is not None:
        feature["name"] = _required(request.name, "name")
    if request.metadata is not None:
        feature["metadata"] = apply_metadata(feature["metadata"], request.metadata)
    if request.active is not None:
        feature["active"] = request.active
    await ctx.tx.update_object(ENTITLEMENT_FEATURES, ctx.account_id, feature)
    return view(feature)


def _refuse_archived_change(request: UpdateFeature) -> None:
    """An archived feature stays as it is (Stripe: `active=false` deactivates it
    permanently); the first parameter that would change it is named."""
    for param in ("active", "name", "metadata"):
        if getattr(request, param) is not None:
            raise InvalidParameter(
                f"The feature {request.feature} is archived: it cannot be changed.", param=param
            )


def _parse_list(_ids: RouteIds, params: dict[str, Any]) -> ListRequest:
    return ListRequest(RESOURCE, params)


async def list_features(ctx: Context, request: ListRequest) -> ApiObject:
    params = request.params
    equals: dict[str, Any] = {"active": not params.get("archived", False)}
    if "lookup_key" in params:
        equals["lookup_key"] = params["lookup_key"]
    page = await list_page_with(ctx, RESOURCE, params, list_query(params, {}, equals=equals))
    return list_envelope(ListPage([view(f) for f in page.data], page.has_more), RESOURCE.url)


async def _fetch_view(ctx: Context, feature_id: str) -> ApiObject | None:
    """The feature for expansion (an active entitlement's `feature`), as the API shows it."""
    found = await ctx.tx.get_object(ENTITLEMENT_FEATURES, ctx.account_id, feature_id, lock=False)
    return None if found is None else view(found[0])


RESOURCE = Resource(
    object_name="entitlements.feature",
    id_prefix="feat",
    collection="entitlements/features",
    table=ENTITLEMENT_FEATURES,
    create=Operation(
        request_parser(CreateFeature, CREATE_PARAMS, required=("name", "lookup_key")),
        create_feature,
        writes=True,
    ),
    retrieve=Operation(no_params, retrieve_feature, writes=False),
    update=Operation(
        request_parser(UpdateFeature, UPDATE_PARAMS, ids=("feature",)),
        update_feature,
        writes=True,
    ),
    lister=Operation(ParamsParser(LIST_PARAMS, _parse_list), list_features, writes=False),
    fetch=_fetch_view,
)
