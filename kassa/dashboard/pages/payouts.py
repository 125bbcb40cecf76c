"""Payouts: the list (filter: status) and one payout with the balance transactions it moved
and swept."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.responses import Response

from kassa.dashboard.app import PAGE_SIZE, PREFIX, Page, View
from kassa.dashboard.views import payouts as view_model


async def payout_list(view: View) -> Response:
    filters = view_model.parse_filters(
        status=view.param("status"), starting_after=view.param("starting_after")
    )
    async with view.writing() as ctx:  # reading brings payouts up to date with the clock
        listing = await view_model.payout_list(ctx, filters, PAGE_SIZE)
    shown = listing.filters
    next_url = ""
    if listing.next_cursor:
        next_url = _list_url(shown.query(starting_after=listing.next_cursor))
    return view.render(
        "payouts.html",
        listing=listing,
        filters=shown,
        status_choices=view_model.STATUS_CHOICES,
        next_url=next_url,
        first_url=_list_url(shown.query()) if filters.starting_after else "",
    )


def _list_url(query: dict[str, str]) -> str:
    return f"{PREFIX}/payouts" + (f"?{urlencode(query)}" if query else "")


async def payout(view: View) -> Response:
    async with view.writing() as ctx:
        detail = await view_model.payout_detail(ctx, view.path_param("id"))
    return view.render("payout_detail.html", detail=detail)


PAGES = (
    Page("/payouts", payout_list),
    Page("/payouts/{id}", payout),
)
