"""Customers: the list (newest first, or searched by email) and one customer with its
payment methods and latest payments."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.responses import Response

from kassa.dashboard.app import PAGE_SIZE, PREFIX, Page, View
from kassa.dashboard.views import customers as view_model
from kassa.dashboard.views.payments import card_label
from kassa.dashboard.views.subscriptions import ALL


async def customer_list(view: View) -> Response:
    async with view.reading() as ctx:
        listing = await view_model.customer_list(
            ctx, view.param("email"), view.param("starting_after"), PAGE_SIZE
        )
    search = {"email": listing.search} if listing.search else {}
    next_url = ""
    if listing.next_cursor:
        next_url = _list_url({**search, "starting_after": listing.next_cursor})
    return view.render(
        "customers.html",
        listing=listing,
        next_url=next_url,
        first_url=_list_url(search) if view.param("starting_after") else "",
    )


def _list_url(query: dict[str, str]) -> str:
    return f"{PREFIX}/customers" + (f"?{urlencode(query)}" if query else "")


async def customer(view: View) -> Response:
    async with view.reading() as ctx:
        detail = await view_model.customer_detail(ctx, view.path_param("id"))
    every_subscription = {"customer": detail.customer["id"], "status": ALL}
    return view.render(
        "customer_detail.html",
        detail=detail,
        subscriptions=detail.subscriptions,
        card_label=card_label,
        payments_url=f"{PREFIX}/payments?{urlencode({'customer': detail.customer['id']})}",
        subscriptions_url=f"{PREFIX}/subscriptions?{urlencode(every_subscription)}",
    )


PAGES = (
    Page("/customers", customer_list),
    Page("/customers/{id}", customer),
)
