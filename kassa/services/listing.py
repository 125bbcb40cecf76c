"""Generic retrieval and cursor-paginated lists over declared resources."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from kassa.errors import ResourceMissing
from kassa.invariants import InvariantViolated
from kassa.params import Integer, String, TimestampRange
from kassa.services.context import Context
from kassa.services.resource import (
    ApiObject,
    ListPage,
    Operation,
    ParamsParser,
    Resource,
    RouteIds,
    list_envelope,
)
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import ObjectTable

LIST_LIMIT_DEFAULT = 10
LIST_LIMIT_MAX = 100
OBJECT_ID_CHARS_MAX = 255
INCLUDED_TOTAL_COUNT_MAX: Final = 10_000
"""An embedded list's `total_count` counts at most this many objects (as a search's
`total_count` does, and Stripe's own counts are exact only up to 10,000)."""

CURSOR_PARAMS = {
    "limit": Integer(minimum=1, maximum=LIST_LIMIT_MAX),
    "starting_after": String(max_chars=255),
    "ending_before": String(max_chars=255),
}
"""What every list takes: its page size and cursors."""
PAGINATION_PARAMS = {**CURSOR_PARAMS, "created": TimestampRange()}
"""What most of Stripe's lists take: the cursors and a `created` range."""


Page = ListPage


def could_be_object_id(object_id: str) -> bool:
    """False for strings no stored object can have as its id (a URL path segment may hold
    anything, and PostgreSQL rejects NUL in text): those are simply missing."""
    return len(object_id) <= OBJECT_ID_CHARS_MAX and "\x00" not in object_id


async def load_object(
    ctx: Context, resource: Resource, object_id: str, *, param: str = "id"
) -> tuple[ApiObject, bool]:
    """The stored object and whether it was deleted; ResourceMissing if it never existed."""
    found = (
        await ctx.tx.get_object(_table(resource), ctx.account_id, object_id)
        if could_be_object_id(object_id)
        else None
    )
    if found is None:
        raise ResourceMissing(resource.object_name, object_id, param=param)
    return found


async def load_live_object(
    ctx: Context, resource: Resource, object_id: str, *, param: str = "id"
) -> ApiObject:
    """Like `load_object`, but a deleted object is missing too (it cannot be changed)."""
    obj, deleted = await load_object(ctx, resource, object_id, param=param)
    if deleted:
        raise ResourceMissing(resource.object_name, object_id, param=param)
    return obj


def _table(resource: Resource) -> ObjectTable:
    if resource.table is None:
        raise InvariantViolated(f"{resource.object_name} objects are not stored as documents")
    return resource.table


async def fetch_object(ctx: Context, resource: Resource, object_id: str) -> ApiObject | None:
    """The object by id for expansion: a deleted one as Stripe's deleted stub."""
    if not could_be_object_id(object_id):
        return None
    if resource.fetch is not None:
        return await resource.fetch(ctx, object_id)
    found = await ctx.tx.get_object(_table(resource), ctx.account_id, object_id)
    if found is None:
        return None
    obj, deleted = found
    return {"id": obj["id"], "object": obj["object"], "deleted": True} if deleted else obj


def generic_list(resource: Resource) -> Operation[ListRequest]:
    """`GET /v1/{collection}` for a resource stored as documents, filtered on its declared
    columns."""

    def build(_ids: RouteIds, params: dict[str, Any]) -> ListRequest:
        return ListRequest(resource, params)

    pagination = PAGINATION_PARAMS if resource.list_created else CURSOR_PARAMS
    params = {**pagination, **(resource.list_filters or {})}
    return Operation(ParamsParser(params, build), list_objects, writes=False)


@dataclass(frozen=True)
class ListRequest:
    resource: Resource
    params: Mapping[str, Any]
    """Pagination (`limit`, cursors, `created`) and the resource's filters, parsed."""


async def list_objects(ctx: Context, request: ListRequest) -> ApiObject:
    resource = request.resource
    page = await list_page(ctx, resource, request.params)
    if resource.list_view is not None:
        page = ListPage([resource.list_view(obj) for obj in page.data], page.has_more)
    return list_envelope(page, resource.url)


async def list_page(ctx: Context, resource: Resource, params: Mapping[str, Any]) -> Page:
    return await list_page_with(ctx, resource, params, list_query(params, resource.list_filters))


def list_query(
    params: Mapping[str, Any],
    filters: Mapping[str, Any] | None,
    *,
    equals: Mapping[str, Any] | None = None,
    nulls: Mapping[str, bool] | None = None,
) -> ObjectListQuery:
    """A list request's query: its limit, its `created` bounds, the parsed parameters that
    are `filters` as equality filters, plus what the caller adds (`equals`: a parent's id;
    `nulls`: a column that must be null or not)."""
    return ObjectListQuery(
        limit=params.get("limit", LIST_LIMIT_DEFAULT),
        equals={
            **{name: value for name, value in params.items() if name in (filters or {})},
            **(equals or {}),
        },
        created=params.get("created", {}),
        nulls=nulls or {},
    )


async def list_page_with(
    ctx: Context, resource: Resource, params: Mapping[str, Any], query: ObjectListQuery
) -> Page:
    """One page of `query`, positioned by the `starting_after`/`ending_before` cursors."""
    before_seq = await _cursor_seq(ctx, resource, params, "starting_after")
    after_seq = (
        None
        if before_seq is not None
        else await _cursor_seq(ctx, resource, params, "ending_before")
    )
    positioned = (
        query
        if (query.before_seq, query.after_seq) == (before_seq, after_seq)
        # `replace` reads the dataclass's fields anew each call: most pages have no cursor.
        else dataclasses.replace(query, before_seq=before_seq, after_seq=after_seq)
    )
    page = await ctx.tx.list_objects(_table(resource), ctx.account_id, positioned)
    return Page(data=page.objects, has_more=page.has_more)


async def included_list(
    ctx: Context,
    table: ObjectTable,
    query: ObjectListQuery,
    *,
    url: str,
    view: Callable[[ApiObject], ApiObject],
) -> ApiObject:
    """A list embedded in an object (a customer's `sources` or `subscriptions`): the first
    page of `query` in Stripe's list envelope, its objects as `view` shows them, and
    `total_count`, counted in the store when the page does not hold them all."""
    page = await ctx.tx.list_objects(table, ctx.account_id, query)
    counted = dataclasses.replace(query, limit=INCLUDED_TOTAL_COUNT_MAX)
    total = (
        await ctx.tx.count_objects(table, ctx.account_id, counted)
        if page.has_more
        else len(page.objects)
    )
    return {
        "object": "list",
        "data": [view(obj) for obj in page.objects],
        "has_more": page.has_more,
        "total_count": total,
        "url": url,
    }


async def _cursor_seq(
    ctx: Context, resource: Resource, params: Mapping[str, Any], name: str
) -> int | None:
    cursor = params.get(name)
    if not cursor:
        return None
    seq = (
        await ctx.tx.object_seq(_table(resource), ctx.account_id, cursor)
        if could_be_object_id(cursor)
        else None
    )
    if seq is None:
        raise ResourceMissing(resource.object_name, cursor, param=name)
    return seq


class Cursors(Protocol):
    """A list request's page: how many, after or before which item."""

    @property
    def limit(self) -> int | None: ...
    @property
    def starting_after(self) -> str | None: ...
    @property
    def ending_before(self) -> str | None: ...


def items_page(
    items: Sequence[ApiObject], request: Cursors, *, object_name: str, url: str
) -> ApiObject:
    """A page of a list held inside one object (an invoice's or a credit note's lines), in
    the object's order, in Stripe's list envelope: `starting_after` and `ending_before` name
    an item of it (else a 404 naming the cursor, for `object_name`)."""
    size = request.limit or LIST_LIMIT_DEFAULT
    ids = [item["id"] for item in items]
    for name in ("starting_after", "ending_before"):
        cursor = getattr(request, name)
        if cursor is not None and cursor not in ids:
            raise ResourceMissing(object_name, cursor, param=name)
    if request.starting_after is not None:
        rest = list(items[ids.index(request.starting_after) + 1 :])
        page = ListPage(rest[:size], len(rest) > size)
    elif request.ending_before is not None:
        before = list(items[: ids.index(request.ending_before)])
        page = ListPage(before[-size:], len(before) > size)
    else:
        page = ListPage(list(items[:size]), len(items) > size)
    return list_envelope(page, url)
