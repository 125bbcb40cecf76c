"""Prices: the list (filters by active and product) and one price with its tiers and
recurring interval."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.responses import Response

from kassa.dashboard.app import PAGE_SIZE, PREFIX, Page, View
from kassa.dashboard.views import prices as view_model


async def price_list(view: View) -> Response:
    filters = view_model.parse_filters(
        active=view.param("active"),
        product=view.param("product"),
        starting_after=view.param("starting_after"),
    )
    async with view.reading() as ctx:
        listing = await view_model.price_list(ctx, filters, PAGE_SIZE)
    shown = listing.filters
    next_url = ""
    if listing.next_cursor:
        next_url = _list_url(shown.query(starting_after=listing.next_cursor))
    return view.render(
        "prices.html",
        listing=listing,
        filters=shown,
        active_choices=view_model.ACTIVE_CHOICES,
        price_summary=view_model.price_summary,
        next_url=next_url,
        first_url=_list_url(shown.query()) if filters.starting_after else "",
    )


def _list_url(query: dict[str, str]) -> str:
    return f"{PREFIX}/prices" + (f"?{urlencode(query)}" if query else "")


async def price(view: View) -> Response:
    async with view.reading() as ctx:
        detail = await view_model.price_detail(ctx, view.path_param("id"))
    return view.render(
        "price_detail.html",
        detail=detail,
        price_summary=view_model.price_summary,
        interval_text=view_model.interval_text,
    )


PAGES = (
    Page("/prices", price_list),
    Page("/prices/{id}", price),
)
