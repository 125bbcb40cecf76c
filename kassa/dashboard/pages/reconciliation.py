"""Reconciliation: the recorded runs of `kassa reconcile --record`, and one run's counts and
sampled breaks."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.responses import Response

from kassa.dashboard.app import PAGE_SIZE, PREFIX, Page, View
from kassa.dashboard.views import reconciliation as view_model


async def run_list(view: View) -> Response:
    before = view.param("before")
    async with view.reading() as ctx:
        listing = await view_model.run_list(ctx, before, PAGE_SIZE)
    next_url = ""
    if listing.next_cursor:
        next_url = f"{PREFIX}/reconciliation?{urlencode({'before': listing.next_cursor})}"
    return view.render(
        "reconciliation.html",
        listing=listing,
        next_url=next_url,
        first_url=f"{PREFIX}/reconciliation" if before else "",
        kinds=view_model.KIND_LABELS,
    )


async def run(view: View) -> Response:
    async with view.reading() as ctx:
        detail = await view_model.run_detail(ctx, view.path_param("id"))
    return view.render(
        "reconciliation_detail.html",
        detail=detail,
        labels=view_model.OUTCOME_LABELS,
        kinds=view_model.KIND_LABELS,
    )


PAGES = (
    Page("/reconciliation", run_list),
    Page("/reconciliation/{id}", run),
)
