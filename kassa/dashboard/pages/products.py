"""Products: the list (filter: active) and one product with its prices."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.responses import Response

from kassa.dashboard.app import PAGE_SIZE, PREFIX, Page, View
from kassa.dashboard.views import products as view_model
from kassa.dashboard.views.prices import ACTIVE_CHOICES, price_summary


async def product_list(view: View) -> Response:
    filters = view_model.parse_filters(
        active=view.param("active"), starting_after=view.param("starting_after")
    )
    async with view.reading() as ctx:
        listing = await view_model.product_list(ctx, filters, PAGE_SIZE)
    shown = listing.filters
    next_url = ""
    if listing.next_cursor:
        next_url = _list_url(shown.query(starting_after=listing.next_cursor))
    return view.render(
        "products.html",
        listing=listing,
        filters=shown,
        active_choices=ACTIVE_CHOICES,
        next_url=next_url,
        first_url=_list_url(shown.query()) if filters.starting_after else "",
    )


def _list_url(query: dict[str, str]) -> str:
    return f"{PREFIX}/products" + (f"?{urlencode(query)}" if query else "")


async def product(view: View) -> Response:
    async with view.reading() as ctx:
        detail = await view_model.product_detail(ctx, view.path_param("id"))
    return view.render(
        "product_detail.html",
        detail=detail,
        price_summary=price_summary,
        prices_url=f"{PREFIX}/prices?{urlencode({'product': detail.product['id']})}",
    )


PAGES = (
    Page("/products", product_list),
    Page("/products/{id}", product),
)
