"""Events: every state change Stripe announces is written as an event in the same
transaction as the change, with one outbox row per matching webhook endpoint. `GET
/v1/events` and `GET /v1/events/{id}` read them back (kept 30 days, as Stripe keeps them).
"""

from __future__ import annotations

import copy
from typing import Any

from kassa import API_VERSION
from kassa.errors import MissingParameter
from kassa.ids import new_id
from kassa.params import ListOf, Param, String, parse_params
from kassa.services import webhook_attempts
from kassa.services.context import Context
from kassa.services.listing import (
    LIST_LIMIT_DEFAULT,
    list_page_with,
    load_live_object,
    parse_list_params,
    required_id,
)
from kassa.services.resource import ApiObject, ListPage, Operation, Resource
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import EVENTS

EVENT_RETENTION_DAYS = 30
WEBHOOK_ENDPOINTS_PER_ACCOUNT_MAX = 16
"""Stripe allows 16 webhook endpoints per account."""
EVENT_TYPES_FILTER_MAX = 20
_ENDPOINTS_MEMO = "webhook_endpoints"

EVENT_TYPES = (
    "balance.available",
    "charge.captured",
    "charge.dispute.closed",
    "charge.dispute.created",
    "charge.dispute.funds_reinstated",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.updated",
    "charge.expired",
    "charge.failed",
    "charge.pending",
    "charge.refund.updated",
    "charge.refunded",
    "charge.succeeded",
    "charge.updated",
    "customer.created",
    "customer.deleted",
    "customer.updated",
    "payment_intent.amount_capturable_updated",
    "payment_intent.canceled",
    "payment_intent.created",
    "payment_intent.partially_funded",
    "payment_intent.payment_failed",
    "payment_intent.processing",
    "payment_intent.requires_action",
    "payment_intent.succeeded",
    "payment_method.attached",
    "payment_method.automatically_updated",
    "payment_method.detached",
    "payment_method.updated",
    "refund.created",
    "refund.failed",
    "refund.updated",
    "webhook_endpoint.disabled",
)
"""What Kassa announces (`webhook_endpoint.disabled` is Kassa's own: an endpoint failing
for the whole retry window was switched off)."""

_TYPE = String(max_chars=100)
LIST_FILTERS: dict[str, Param] = {
    "type": _TYPE,
    "types": ListOf(_TYPE, max_items=EVENT_TYPES_FILTER_MAX),
}


def changed_attributes(before: ApiObject, after: ApiObject) -> dict[str, Any]:
    """Stripe's `previous_attributes`: the earlier values of the top-level fields that
    changed (a sub-hash is shown whole)."""
    return {key: value for key, value in before.items() if after.get(key) != value}


async def _endpoints(ctx: Context) -> list[ApiObject]:
    cached = ctx.memo.get(_ENDPOINTS_MEMO)
    if cached is None:
        cached = await ctx.tx.webhook_endpoint_docs(
            ctx.account_id, WEBHOOK_ENDPOINTS_PER_ACCOUNT_MAX
        )
        ctx.memo[_ENDPOINTS_MEMO] = cached
    return list(cached)


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
) -> ApiObject:
    """Write the event for a change to `obj` (as it is now; `previous`: as it was before an
    update), and queue it for every enabled endpoint that wants it."""
    targets = [e for e in await _endpoints(ctx) if _matches(e, event_type)]
    data: dict[str, Any] = {"object": copy.deepcopy(obj)}
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
    await ctx.tx.insert_object(EVENTS, ctx.account_id, event)
    if targets:
        due_ms = int(ctx.clock.now() * 1000)
        await ctx.tx.insert_webhook_deliveries(
            [(new_id("whd"), ctx.account_id, event_id, str(e["id"]), due_ms) for e in targets]
        )
    return event


async def retrieve_event(ctx: Context, event_id: str | None, form: dict[str, Any]) -> ApiObject:
    parse_params({}, form)
    if not event_id:
        raise MissingParameter("id")
    return await load_live_object(ctx, RESOURCE, event_id)


async def list_events(ctx: Context, form: dict[str, Any]) -> ListPage:
    params = parse_list_params(RESOURCE, form)
    patterns = [params["type"]] if "type" in params else []
    patterns += params.get("types", [])
    return await list_page_with(
        ctx,
        RESOURCE,
        params,
        ObjectListQuery(
            limit=params.get("limit", LIST_LIMIT_DEFAULT),
            created=params.get("created", {}),
            any_of={"type": patterns} if patterns else {},
        ),
    )


async def event_attempts(ctx: Context, event_id: str | None, form: dict[str, Any]) -> ApiObject:
    return await webhook_attempts.list_attempts(
        ctx, RESOURCE, required_id(event_id), "event_id", form
    )


async def resend_event(ctx: Context, event_id: str | None, form: dict[str, Any]) -> ApiObject:
    params = parse_params(webhook_attempts.RESEND_PARAMS, form)
    event = await load_live_object(ctx, RESOURCE, required_id(event_id))
    wanting = [e for e in await _endpoints(ctx) if _matches(e, event["type"])]
    return await webhook_attempts.resend(ctx, event, params.get("webhook_endpoint"), wanting)


RESOURCE = Resource(
    object_name="event",
    id_prefix="evt",
    collection="events",
    table=EVENTS,
    retrieve=Operation(retrieve_event, writes=False),
    list_filters=LIST_FILTERS,
    lister=list_events,
    sublists={"webhook_attempts": Operation(event_attempts, writes=False)},
    actions={"resend": Operation(resend_event, writes=True)},
)
