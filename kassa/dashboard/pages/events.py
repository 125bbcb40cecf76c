"""Events: the list (newest first, by type or family of types), and one event with its JSON,
every webhook attempt to deliver it, and a resend to any endpoint."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from starlette.responses import Response

from kassa.dashboard.app import PAGE_SIZE, PREFIX, Page, View, missing_message
from kassa.dashboard.views import events as view_model
from kassa.errors import InvalidRequest, ResourceMissing
from kassa.services.resource import ApiObject


async def event_list(view: View) -> Response:
    type_filter = view.param("type")
    cursor = view.param("starting_after")
    problem = ""
    page = view_model.EventsPage([], None)
    try:
        async with view.reading() as ctx:
            page = await view_model.events_page(ctx, type_filter, cursor, PAGE_SIZE)
    except ResourceMissing as missing:
        problem = missing_message(missing)
    except InvalidRequest as error:
        # A bad filter or a cursor from elsewhere: say so above an empty list, not a 500.
        problem = error.message
    next_url = None
    if page.next_cursor:
        query = {"type": type_filter, "starting_after": page.next_cursor}
        next_url = f"{PREFIX}/events?" + urlencode({k: v for k, v in query.items() if v})
    return view.render(
        "events.html",
        400 if problem else 200,
        events=page.events,
        summaries={e["id"]: view_model.event_summary(e) for e in page.events},
        type_filter=type_filter,
        type_choices=view_model.event_type_choices(),
        paged=bool(cursor),
        next_url=next_url,
        problem=problem,
    )


async def event_detail(view: View) -> Response:
    event_id = view.path_param("event_id")
    async with view.reading() as ctx:
        detail = await view_model.event_detail(
            ctx, event_id, view.param("attempts_after"), PAGE_SIZE
        )
    next_url = None
    if detail.attempts.next_cursor:
        next_url = f"{PREFIX}/events/{quote(event_id)}?" + urlencode(
            {"attempts_after": detail.attempts.next_cursor}
        )
    return view.render(
        "events_detail.html",
        detail=detail,
        event=detail.event,
        summary=view_model.event_summary(detail.event),
        object_url=object_url(detail.event.get("data", {}).get("object", {})),
        next_url=next_url,
    )


async def resend(view: View) -> Response:
    event_id = view.path_param("event_id")
    endpoint_id = view.param("webhook_endpoint")
    try:
        async with view.writing() as ctx:
            await view_model.resend(ctx, event_id, endpoint_id)
    except ResourceMissing as missing:
        back = "/events" if missing.object_name == "event" else f"/events/{quote(event_id)}"
        return view.redirect(back, error=missing_message(missing))
    return view.redirect(
        f"/events/{quote(event_id)}",
        notice=f"Queued for {endpoint_id}: the attempt shows below once it is sent.",
    )


def object_url(obj: ApiObject) -> str | None:
    """The dashboard page of the object an event is about, where it has one."""
    kind, object_id = obj.get("object"), obj.get("id")
    if not isinstance(object_id, str):
        return None
    pages = {
        "payment_intent": ("payments", object_id),
        "charge": ("payments", obj.get("payment_intent")),
        "refund": ("payments", obj.get("payment_intent")),
        "customer": ("customers", object_id),
        "webhook_endpoint": ("webhooks", object_id),
    }
    area, target = pages.get(str(kind), ("", None))
    if not isinstance(target, str) or not target:
        return None
    return f"{PREFIX}/{area}/{quote(target)}"


PAGES = (
    Page("/events", event_list),
    Page("/events/{event_id}", event_detail),
    Page("/events/{event_id}/resend", resend, ("POST",)),
)
