"""Webhook endpoints: the list with each endpoint's recent success rate, creating one (its
signing secret is shown once, on the page that answers the create), and one endpoint with
its recent attempts, enable/disable and delete."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from starlette.responses import Response

from kassa.dashboard.app import PAGE_SIZE, PREFIX, Page, View, missing_message
from kassa.dashboard.views import webhooks as view_model
from kassa.errors import InvalidRequest, ResourceMissing
from kassa.services import catalog, events
from kassa.services.resource import ApiObject

DEFAULT_ENABLED_EVENTS = "*"


async def endpoint_list(view: View) -> Response:
    return await _list_page(view, {}, "")


async def _list_page(
    view: View, entered: dict[str, str], problem: str, status: int = 200
) -> Response:
    async with view.reading() as ctx:
        rows = await view_model.endpoints_overview(ctx)
    return view.render(
        "webhooks.html",
        status,
        rows=rows,
        entered={"url": "", "description": "", "enabled_events": DEFAULT_ENABLED_EVENTS, **entered},
        problem=problem,
        endpoints_max=events.WEBHOOK_ENDPOINTS_PER_ACCOUNT_MAX,
        window=view_model.SUCCESS_RATE_WINDOW,
        type_choices=catalog.EVENT_TYPES,
    )


async def create(view: View) -> Response:
    entered = {name: view.param(name) for name in ("url", "description", "enabled_events")}
    try:
        async with view.writing() as ctx:
            created = await view_model.create_endpoint(
                ctx, entered["url"], entered["description"], entered["enabled_events"]
            )
    except InvalidRequest as error:
        # Show the form again with what was typed, rather than a redirect that loses it.
        return await _list_page(view, entered, error.message, 400)
    # The secret exists in this response only: rendered here, never put in a URL or stored
    # anywhere the dashboard could show it again.
    return await _detail_page(view, str(created["id"]), "", secret=str(created["secret"]))


async def endpoint_detail(view: View) -> Response:
    return await _detail_page(view, view.path_param("endpoint_id"), view.param("attempts_after"))


async def _detail_page(
    view: View, endpoint_id: str, attempts_after: str, secret: str = ""
) -> Response:
    async with view.reading() as ctx:
        detail = await view_model.endpoint_detail(ctx, endpoint_id, attempts_after, PAGE_SIZE)
    next_url = None
    if detail.attempts.next_cursor:
        next_url = f"{PREFIX}/webhooks/{quote(endpoint_id)}?" + urlencode(
            {"attempts_after": detail.attempts.next_cursor}
        )
    return view.render(
        "webhooks_detail.html",
        detail=detail,
        endpoint=detail.endpoint,
        secret=secret,
        next_url=next_url,
        window=view_model.SUCCESS_RATE_WINDOW,
        created_notice="Endpoint created." if secret else "",
    )


async def disable(view: View) -> Response:
    return await _set_disabled(view, True)


async def enable(view: View) -> Response:
    return await _set_disabled(view, False)


async def _set_disabled(view: View, disabled: bool) -> Response:
    endpoint_id = view.path_param("endpoint_id")
    try:
        async with view.writing() as ctx:
            endpoint = await view_model.set_disabled(ctx, endpoint_id, disabled)
    except ResourceMissing as missing:
        return view.redirect("/webhooks", error=missing_message(missing))
    return view.redirect(f"/webhooks/{quote(endpoint_id)}", notice=_switched(endpoint, disabled))


def _switched(endpoint: ApiObject, disabled: bool) -> str:
    if disabled:
        return f"Disabled {endpoint['url']}: no events are sent to it until it is enabled."
    return f"Enabled {endpoint['url']}: new events are sent to it again."


async def delete(view: View) -> Response:
    endpoint_id = view.path_param("endpoint_id")
    try:
        async with view.writing() as ctx:
            await view_model.delete_endpoint(ctx, endpoint_id)
    except ResourceMissing as missing:
        return view.redirect("/webhooks", error=missing_message(missing))
    return view.redirect("/webhooks", notice=f"Deleted endpoint {endpoint_id}.")


PAGES = (
    Page("/webhooks", endpoint_list),
    Page("/webhooks", create, ("POST",)),
    Page("/webhooks/{endpoint_id}", endpoint_detail),
    Page("/webhooks/{endpoint_id}/disable", disable, ("POST",)),
    Page("/webhooks/{endpoint_id}/enable", enable, ("POST",)),
    Page("/webhooks/{endpoint_id}/delete", delete, ("POST",)),
)
