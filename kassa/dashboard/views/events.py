"""What the dashboard's events pages show: the account's events (newest first, by type or
family of types), one event with its webhook attempts, and the resend action carried out
through the same typed operation as the API.

Every read is one indexed, bounded query (a family of types is a fixed handful of them).
"""

from __future__ import annotations

from dataclasses import dataclass

from kassa import money
from kassa.dashboard.views.webhooks import AttemptsPage, account_endpoints, attempts_page
from kassa.errors import InvalidParameter, ResourceMissing
from kassa.services import catalog, events
from kassa.services.context import Context
from kassa.services.events import ListEvents, ResendEvent
from kassa.services.listing import could_be_object_id, load_live_object
from kassa.services.resource import ApiObject
from kassa.store.tables import EVENTS

WILDCARD = ".*"


@dataclass(frozen=True)
class EventsPage:
    events: list[ApiObject]
    next_cursor: str | None
    """The id to list older events after, when there are any."""


def event_type_choices() -> list[str]:
    """Every type Kassa sends, after the wildcard for each family (`charge.*`)."""
    families = {
        event_type.rsplit(".", depth)[0] + WILDCARD
        for event_type in catalog.EVENT_TYPES
        for depth in range(1, event_type.count(".") + 1)
    }
    return sorted(families) + list(catalog.EVENT_TYPES)


def check_event_type_filter(type_filter: str) -> None:
    """A type Kassa sends, or a family of them (`charge.*`): anything else is a typo that
    would only ever list nothing."""
    if type_filter.endswith(WILDCARD):
        prefix = type_filter[:-1]  # `charge.*` -> `charge.`: the dot keeps `charges` out
        known = any(t.startswith(prefix) for t in catalog.EVENT_TYPES)
    else:
        known = type_filter in catalog.EVENT_TYPES
    if not known:
        raise InvalidParameter(
            f"Kassa sends no events of type {type_filter[:100]}: pick a type from the list, "
            "or a family such as charge.*",
            param="type",
        )


async def events_page(
    ctx: Context, type_filter: str, starting_after: str, limit: int
) -> EventsPage:
    if type_filter.endswith(WILDCARD):
        check_event_type_filter(type_filter)
        return await _family_page(ctx, type_filter[:-1], starting_after, limit)
    one_type = None
    if type_filter and type_filter != "*":
        check_event_type_filter(type_filter)
        one_type = type_filter
    page = await events.events_page(
        ctx, ListEvents(limit=limit, starting_after=starting_after or None, type=one_type)
    )
    cursor = str(page.data[-1]["id"]) if page.has_more and page.data else None
    return EventsPage(page.data, cursor)


async def _family_page(ctx: Context, prefix: str, starting_after: str, limit: int) -> EventsPage:
    """Events of every type starting with `prefix` (`charge.`): Kassa sends a known set of
    types, so the family is those types, each read through its own index range."""
    before_seq = None
    if starting_after:
        before_seq = (
            await ctx.tx.object_seq(EVENTS, ctx.account_id, starting_after)
            if could_be_object_id(starting_after)
            else None
        )
        if before_seq is None:
            raise ResourceMissing("event", starting_after, param="starting_after")
    types = [t for t in catalog.EVENT_TYPES if t.startswith(prefix)]
    found = await ctx.tx.list_events_of_types(ctx.account_id, types, before_seq, limit + 1)
    cursor = str(found[limit - 1]["id"]) if len(found) > limit else None
    return EventsPage(found[:limit], cursor)


def event_summary(event: ApiObject) -> str:
    """One line saying what the event is about: `payment_intent pi_1 · $10.00 · succeeded`."""
    obj = event.get("data", {}).get("object", {})
    parts = [f"{obj.get('object', 'object')} {obj.get('id', '')}".strip()]
    amount, currency = obj.get("amount"), obj.get("currency")
    if isinstance(amount, int) and isinstance(currency, str) and currency:
        parts.append(money.format_amount(amount, currency))
    status = obj.get("status")
    if isinstance(status, str):
        parts.append(status.replace("_", " "))
    return " · ".join(parts)


@dataclass(frozen=True)
class EventDetail:
    event: ApiObject
    attempts: AttemptsPage
    endpoints: list[ApiObject]
    """The account's endpoints, to resend the event to."""
    endpoint_urls: dict[str, str]


async def event_detail(ctx: Context, event_id: str, attempts_after: str, limit: int) -> EventDetail:
    event = await load_live_object(ctx, events.RESOURCE, event_id)
    attempts = await attempts_page(ctx, events.event_attempts, event_id, attempts_after, limit)
    endpoints = await account_endpoints(ctx)
    return EventDetail(event, attempts, endpoints, {str(e["id"]): str(e["url"]) for e in endpoints})


async def resend(ctx: Context, event_id: str, endpoint_id: str) -> None:
    """Queue the event again for one endpoint: the API's own action, with its checks (an
    enabled endpoint of this account)."""
    if not could_be_object_id(endpoint_id):
        raise ResourceMissing("webhook_endpoint", endpoint_id, param="webhook_endpoint")
    await events.resend_event(ctx, ResendEvent(event=event_id, webhook_endpoint=endpoint_id))
