"""Subscription items as their own resource (`/v1/subscription_items`): retrieve one, list a
subscription's. They are written with their subscription (`subscription_documents.save`);
adding, repricing and removing items (with prorations) is not here yet."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from kassa.params import Integer, Param, String
from kassa.services.context import Context
from kassa.services.listing import LIST_LIMIT_DEFAULT, list_page_with, load_object
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
from kassa.store.tables import SUBSCRIPTION_ITEMS

LIST_LIMIT_MAX: Final = 100
LIST_PARAMS: dict[str, Param] = {
    "subscription": String(max_chars=255),
    "limit": Integer(minimum=1, maximum=LIST_LIMIT_MAX),
    "starting_after": String(max_chars=255),
    "ending_before": String(max_chars=255),
}


@dataclass(frozen=True, kw_only=True)
class ListSubscriptionItems:
    subscription: str
    limit: int | None = None
    starting_after: str | None = None
    ending_before: str | None = None


async def retrieve_subscription_item(ctx: Context, item_id: str) -> ApiObject:
    item, _ = await load_object(ctx, RESOURCE, item_id)
    return item


async def list_subscription_items(ctx: Context, request: ListSubscriptionItems) -> ApiObject:
    query = ObjectListQuery(
        limit=request.limit or LIST_LIMIT_DEFAULT, equals={"subscription": request.subscription}
    )
    cursors = {"starting_after": request.starting_after, "ending_before": request.ending_before}
    page = await list_page_with(ctx, RESOURCE, cursors, query)
    url = f"/v1/subscription_items?subscription={request.subscription}"
    return list_envelope(ListPage(page.data, page.has_more), url)


RESOURCE = Resource(
    object_name="subscription_item",
    id_prefix="si",
    collection="subscription_items",
    table=SUBSCRIPTION_ITEMS,
    retrieve=Operation(no_params, retrieve_subscription_item, writes=False),
    lister=Operation(
        request_parser(ListSubscriptionItems, LIST_PARAMS, required=("subscription",)),
        list_subscription_items,
        writes=False,
    ),
    expandable={"subscription": "subscription"},
)
