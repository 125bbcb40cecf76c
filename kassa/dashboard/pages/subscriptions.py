"""Subscriptions: the list (filters by status and customer; by default, as Stripe's, only
those not ended), one subscription with its items, invoices and events, and the cancel
action."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from starlette.responses import Response

from kassa.dashboard.app import PAGE_SIZE, PREFIX, Page, View, missing_message
from kassa.dashboard.views import subscriptions as view_model
from kassa.errors import KassaError, ResourceMissing


async def subscription_list(view: View) -> Response:
    filters = view_model.parse_filters(
        status=view.param("status"),
        customer=view.param("customer"),
        starting_after=view.param("starting_after"),
    )
    async with view.reading() as ctx:
        listing = await view_model.subscription_list(ctx, filters, PAGE_SIZE)
    shown = listing.filters
    next_url = ""
    if listing.next_cursor:
        next_url = _list_url(shown.query(starting_after=listing.next_cursor))
    return view.render(
        "subscriptions.html",
        listing=listing,
        filters=shown,
        statuses=view_model.STATUS_CHOICES,
        next_url=next_url,
        first_url=_list_url(shown.query()) if filters.starting_after else "",
    )


def _list_url(query: dict[str, str]) -> str:
    return f"{PREFIX}/subscriptions" + (f"?{urlencode(query)}" if query else "")


async def subscription(view: View) -> Response:
    async with view.reading() as ctx:
        detail = await view_model.subscription_detail(ctx, view.path_param("id"))
    customer = detail.subscription["customer"]
    return view.render(
        "subscription_detail.html",
        detail=detail,
        customer_subscriptions_url=_list_url({"customer": customer, "status": view_model.ALL}),
    )


def _detail_path(subscription_id: str) -> str:
    return f"/subscriptions/{quote(subscription_id, safe='')}"


async def cancel(view: View) -> Response:
    """Cancel in a write unit, then back to the subscription (Post/Redirect/Get) with what
    happened, or Stripe's words for why it did not."""
    subscription_id = view.path_param("id")
    prorate, invoice_now = view.param("prorate") == "on", view.param("invoice_now") == "on"
    try:
        async with view.writing() as ctx:
            canceled = await view_model.cancel(
                ctx, subscription_id, prorate=prorate, invoice_now=invoice_now
            )
    except ResourceMissing as missing:
        # One that exists but counts as missing (already canceled) keeps its page.
        back = _detail_path(subscription_id) if missing.reason else "/subscriptions"
        return view.redirect(back, error=missing_message(missing))
    except KassaError as error:
        return view.redirect(_detail_path(subscription_id), error=error.message)
    notice = view_model.cancel_notice(canceled, invoiced=invoice_now)
    return view.redirect(_detail_path(subscription_id), notice=notice)


PAGES = (
    Page("/subscriptions", subscription_list),
    Page("/subscriptions/{id}", subscription),
    Page("/subscriptions/{id}/cancel", cancel, methods=("POST",)),
)
