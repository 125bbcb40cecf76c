"""Events: every state change Stripe announces is written as an event in the same
transaction as the change, with one outbox row per matching webhook endpoint. `GET
/v1/events` and `GET /v1/events/{id}` read them back (kept 30 days, as Stripe keeps them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kassa import API_VERSION
from kassa.clock import unix_seconds
from kassa.errors import ExclusiveParameters
from kassa.ids import new_id
from kassa.params import Boolean, ListOf, Param, String
from kassa.services import webhook_attempts, webhook_faults
from kassa.services.context import Context
from kassa.services.listing import (
    LIST_LIMIT_DEFAULT,
    PAGINATION_PARAMS,
    list_page_with,
    load_live_object,
)
from kassa.services.resource import (
    ApiObject,
    ListPage,
    Operation,
    Resource,
    list_envelope,
    no_params,
    request_parser,
)
from kassa.services.wakeups import DELIVERIES_DUE
from kassa.services.webhook_attempts import ListAttempts, parse_list_attempts
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import EVENTS

EVENT_RETENTION_DAYS = 30
WEBHOOK_ENDPOINTS_PER_ACCOUNT_MAX = 16
"""Stripe allows 16 webhook endpoints per account."""
EVENT_TYPES_FILTER_MAX = 20
_ENDPOINTS_MEMO = "webhook_endpoints"
PREVIOUS_HASH_DEPTH_MAX = 8
"""How deep `previous_attributes` looks into hashes that changed; below, a hash is shown
whole (Stripe's objects nest far less)."""

_TYPE = String(max_chars=100)
LIST_FILTERS: dict[str, Param] = {
    "type": _TYPE,
    "types": ListOf(_TYPE, max_items=EVENT_TYPES_FILTER_MAX),
    "delivery_success": Boolean(),
}


@dataclass(frozen=True)
class ListEvents:
    """A page of events, newest first: of one `type` or any of `types` (not both) when
    given; `delivery_success`: only those delivered to every endpoint (true), or only those
    with a delivery still pending or given up (false)."""

    limit: int | None = None
    starting_after: str | None = None
    ending_before: str | None = None
    created: dict[str, int] | None = None
    type: str | None = None
    types: list[str] | None = None
    delivery_success: bool | None = None


@dataclass(frozen=True)
class ResendEvent:
    """Queue `event` again for `webhook_endpoint`, or for every enabled endpoint wanting it."""

    event: str
    webhook_endpoint: str | None = None


def changed_attributes(before: ApiObject, after: ApiObject) -> dict[str, Any]:
    """Stripe's `previous_attributes`: the earlier values of the fields that changed. Inside
    a hash that changed, only its keys that changed, and a key added shown as null (a new
    metadata key: `{"metadata": {"tier": null}}`); a list is shown whole."""
    return {
        key: _previous_value(value, after.get(key), PREVIOUS_HASH_DEPTH_MAX)
        for key, value in before.items()
        if after.get(key) != value
    }


def _previous_value(before: Any, after: Any, depth_left: int) -> Any:
    if not (isinstance(before, dict) and isinstance(after, dict)) or depth_left == 0:
        return before
    changed = {
        key: _previous_value(value, after[key], depth_left - 1)
        for key, value in before.items()
        if key in after and after[key] != value
    }
    removed = {key: value for key, value in before.items() if key not in after}
    added = dict.fromkeys((key for key in after if key not in before), None)
    return {**changed, **removed, **added}


async def _endpoints(ctx: Context) -> list[ApiObject]:
    cached = ctx.memo.get(_ENDPOINTS_MEMO)
    if cached is None:
        cached = await ctx.tx.webhook_endpoint_docs(
            ctx.account_id, WEBHOOK_ENDPOINTS_PER_ACCOUNT_MAX
        )
        ctx.memo[_ENDPOINTS_MEMO] = cached
    return list(cached)


def endpoints_memo(ctx: Context) -> dict[str, Any]:
    """The account's webhook endpoints as `ctx` read them, as a memo to start another context
    of the same unit of work with (a test clock's next piece, which must not inherit the rest
    of the memo); empty when `ctx` has not read them."""
    cached = ctx.memo.get(_ENDPOINTS_MEMO)
    return {} if cached is None else {_ENDPOINTS_MEMO: cached}


def forget_endpoints(ctx: Context) -> None:
    """Endpoints changed in this unit of work: look them up afresh for later events."""
    ctx.memo.pop(_ENDPOINTS_MEMO, None)


def _matches(endpoint: ApiObject, event_type: str) -> bool:
    if endpoint["status"] != "enabled":
        return False
    enabled = endpoint["enabled_events"]
    return "*" in enabled or event_type in enabled


async def announce(
    ctx: Context,
    event_type: str,
    obj: ApiObject,
    *,
    previous: ApiObject | None = None,
) -> str:
    """Write the event for a change to `obj` (as it is now; `previous`: as it was before an
    update), queue it for every enabled endpoint that wants it, and return its id.

    `obj` is not copied: the event is serialized as it is stored, here, so later changes to
    `obj` in the same operation cannot reach it (and nothing keeps the event in memory)."""
    targets = [e for e in await _endpoints(ctx) if _matches(e, event_type)]
    data: dict[str, Any] = {"object": obj}
    if previous is not None:
        data["previous_attributes"] = changed_attributes(previous, obj)
    event_id = new_id("evt")
    event = {
        "id": event_id,
        "object": "event",
        "api_version": API_VERSION,
        "created": ctx.now(),
        "data": data,
        "livemode": ctx.livemode,
        "pending_webhooks": len(targets),
        "request": {"id": ctx.request_id, "idempotency_key": ctx.idempotency_key},
        "type": event_type,
    }
    due_ms = int(ctx.clock.now() * 1000) if targets else 0
    await ctx.tx.insert_event(
        ctx.account_id,
        event,
        [(new_id("whd"), ctx.account_id, event_id, str(e["id"]), due_ms) for e in targets],
        recorded=unix_seconds(ctx.clock),
    )
    if targets:
        ctx.tx.after_commit(DELIVERIES_DUE.notify)
    return event_id


async def retrieve_event(ctx: Context, event_id: str) -> ApiObject:
    return await load_live_object(ctx, RESOURCE, event_id)


async def list_events(ctx: Context, request: ListEvents) -> ApiObject:
    return list_envelope(await events_page(ctx, request), RESOURCE.url)


async def events_page(ctx: Context, request: ListEvents) -> ListPage:
    if request.type is not None and request.types is not None:
        raise ExclusiveParameters(
            ("type", "types"),
            param="types",
            message="You may pass either type or types, but not both.",
        )
    patterns = [request.type] if request.type is not None else request.types or []
    cursors = {"starting_after": request.starting_after, "ending_before": request.ending_before}
    return await list_page_with(
        ctx,
        RESOURCE,
        cursors,
        ObjectListQuery(
            limit=request.limit if request.limit is not None else LIST_LIMIT_DEFAULT,
            created=request.created if request.created is not None else {},
            any_of={"type": patterns} if patterns else {},
            **_delivery_filter(request.delivery_success),
        ),
    )


def _delivery_filter(delivery_success: bool | None) -> dict[str, Any]:
    """`ObjectListQuery` fields for `delivery_success`: `pending_webhooks` counts an event's
    deliveries that have not succeeded (pending, or given up)."""
    if delivery_success is None:
        return {}
    if delivery_success:
        return {"equals": {"pending_webhooks": 0}}
    return {"ranges": {"pending_webhooks": {"gt": 0}}}


async def event_attempts(ctx: Context, request: ListAttempts) -> ApiObject:
    return await webhook_attempts.list_attempts(ctx, RESOURCE, "event_id", request)


async def resend_event(ctx: Context, request: ResendEvent) -> ApiObject:
    event = await load_live_object(ctx, RESOURCE, request.event)
    wanting = [e for e in await _endpoints(ctx) if _matches(e, event["type"])]
    return await webhook_attempts.resend(ctx, event, request.webhook_endpoint, wanting)


async def redeliver_event(ctx: Context, request: webhook_faults.RedeliverEvent) -> ApiObject:
    """`POST /v1/test_helpers/events/{id}/redeliver`: a resend whose attempt may carry a
    fault (Kassa's test helper, see `kassa.services.webhook_faults`)."""
    event = await load_live_object(ctx, RESOURCE, request.event)
    wanting = [e for e in await _endpoints(ctx) if _matches(e, event["type"])]
    return await webhook_faults.redeliver(ctx, event, request, wanting)


RESOURCE = Resource(
    object_name="event",
    id_prefix="evt",
    collection="events",
    table=EVENTS,
    retrieve=Operation(no_params, retrieve_event, writes=False),
    lister=Operation(
        request_parser(ListEvents, {**PAGINATION_PARAMS, **LIST_FILTERS}),
        list_events,
        writes=False,
    ),
    sublists={"webhook_attempts": Operation(parse_list_attempts, event_attempts, writes=False)},
    actions={
        "resend": Operation(
            request_parser(ResendEvent, webhook_attempts.RESEND_PARAMS, ids=("event",)),
            resend_event,
            writes=True,
        )
    },
    test_helpers={
        "redeliver": Operation(webhook_faults.parse_redeliver, redeliver_event, writes=True)
    },
)
