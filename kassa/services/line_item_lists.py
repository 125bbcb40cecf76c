"""The line items an object keeps in its own document (a quote's, a Checkout Session's, a
Payment Link's), listed as Stripe lists them: `GET /v1/{collection}/{id}/line_items` pages
them with the cursors (`listing.items_page`), and `expand[]=line_items` embeds the first page
(Stripe's includable lists).

A resource says once where its items are (`HeldItems`: the resource, and which items of
its object) and takes from that both its sublist operation and its includer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from kassa.params import Param
from kassa.services.context import Context
from kassa.services.listing import CURSOR_PARAMS, items_page, load_live_object
from kassa.services.resource import ApiObject, Operation, Resource, request_parser

INCLUDED_LINE_ITEMS_MAX: Final = 10
"""`expand[]=line_items` embeds the first page, as Stripe's includable lists do."""
LINE_ITEMS_PARAMS: Final[dict[str, Param]] = dict(CURSOR_PARAMS)
"""A list of an object's items takes its page size and cursors only (no `created`)."""


@dataclass(frozen=True)
class ListHeldItems:
    """A page of the items of the object `holder` (its id, from the route)."""

    holder: str
    limit: int | None = None
    starting_after: str | None = None
    ending_before: str | None = None


@dataclass(frozen=True)
class HeldItems:
    """Where a resource's objects keep a list of items."""

    resource: Callable[[], Resource]
    """The resource holding them (a function: its module declares the resource after the
    operations it names, these among them)."""
    items: Callable[[ApiObject], Sequence[ApiObject]]
    """The stored object's items, in their order, as the API shows them."""
    name: str = "line_items"
    """The list's segment under the object: `/v1/{collection}/{id}/{name}`."""

    async def page(self, ctx: Context, request: ListHeldItems) -> ApiObject:
        """One page of the object's items (a 404 naming the object when it is missing or
        deleted, or naming a cursor that is not one of its items)."""
        resource = self.resource()
        holder = await load_live_object(ctx, resource, request.holder)
        url = f"{resource.url}/{holder['id']}/{self.name}"
        return items_page(self.items(holder), request, object_name="item", url=url)

    async def include(self, ctx: Context, shown: ApiObject) -> ApiObject:
        """The first page, for `expand[]=line_items` on `shown` (the resource's includer)."""
        request = ListHeldItems(str(shown["id"]), limit=INCLUDED_LINE_ITEMS_MAX)
        return await self.page(ctx, request)

    def sublist(self) -> Operation[ListHeldItems]:
        """`GET /v1/{collection}/{id}/{name}` (the resource's sublist)."""
        parser = request_parser(ListHeldItems, LINE_ITEMS_PARAMS, ids=("holder",))
        return Operation(parser, self.page, writes=False)
