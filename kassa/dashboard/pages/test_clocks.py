"""Test clocks: the list, one clock with the customers on it and its events, and the advance
action (by a step, or to a time typed in UTC)."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from starlette.responses import Response

from kassa.dashboard.app import PAGE_SIZE, PREFIX, Page, View, missing_message
from kassa.dashboard.views import test_clocks as view_model
from kassa.errors import KassaError, ResourceMissing


async def clock_list(view: View) -> Response:
    starting_after = view.param("starting_after")
    async with view.reading() as ctx:
        listing = await view_model.clock_list(ctx, starting_after, PAGE_SIZE)
    next_url = ""
    if listing.next_cursor:
        next_url = _list_url({"starting_after": listing.next_cursor})
    return view.render(
        "test_clocks.html",
        listing=listing,
        clock_label=view_model.clock_label,
        advancing_target=view_model.advancing_target,
        next_url=next_url,
        first_url=_list_url({}) if starting_after else "",
    )


def _list_url(query: dict[str, str]) -> str:
    return f"{PREFIX}/test_clocks" + (f"?{urlencode(query)}" if query else "")


async def clock(view: View) -> Response:
    async with view.reading() as ctx:
        detail = await view_model.clock_detail(ctx, view.path_param("id"))
    return view.render(
        "test_clock_detail.html",
        detail=detail,
        clock_label=view_model.clock_label,
        customer_label=view_model.customer_label,
        steps=view_model.ADVANCE_STEPS,
    )


def _detail_path(clock_id: str) -> str:
    return f"/test_clocks/{quote(clock_id, safe='')}"


async def advance(view: View) -> Response:
    """Start the advance in a write unit, then back to the clock (Post/Redirect/Get) with
    where it is going, or Stripe's words for why it cannot go there."""
    clock_id = view.path_param("id")
    form = view_model.AdvanceForm(
        by=view.param("by"), to=view.param("to"), shown=view.param("shown")
    )
    try:
        async with view.writing() as ctx:
            advancing = await view_model.advance(ctx, clock_id, form)
    except ResourceMissing as missing:
        return view.redirect("/test_clocks", error=missing_message(missing))
    except KassaError as error:
        return view.redirect(_detail_path(clock_id), error=error.message)
    return view.redirect(_detail_path(clock_id), notice=view_model.advance_notice(advancing))


PAGES = (
    Page("/test_clocks", clock_list),
    Page("/test_clocks/{id}", clock),
    Page("/test_clocks/{id}/advance", advance, methods=("POST",)),
)
