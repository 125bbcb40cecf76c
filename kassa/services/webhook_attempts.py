"""Delivery attempts, listed per event and per webhook endpoint, and manual resends: Kassa
extensions of Stripe's API (Stripe shows these only in its Dashboard).

    GET  /v1/events/{id}/webhook_attempts
    GET  /v1/webhook_endpoints/{id}/webhook_attempts
    POST /v1/events/{id}/resend   (webhook_endpoint=we_...: one endpoint; default: every
                                   enabled endpoint that wants the event)

An attempt names the fault a test injected into it (`injected_fault`: `duplicate`, `delay`,
`out_of_order`, `status`, `timeout`, or null; see `kassa.services.webhook_faults`).
"""

from __future__ import annotations

from dataclasses import dataclass

from kassa.errors import InvalidRequest, ResourceMissing
from kassa.ids import new_id
from kassa.params import Integer, Param, String
from kassa.services.context import Context
from kassa.services.listing import LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX, load_live_object
from kassa.services.resource import ApiObject, Resource, request_parser
from kassa.store.tables import WEBHOOK_ENDPOINTS
from kassa.store.webhook_queries import WebhookAttempt

LIST_PARAMS: dict[str, Param] = {
    "limit": Integer(minimum=1, maximum=LIST_LIMIT_MAX),
    "starting_after": String(max_chars=255),
}
RESEND_PARAMS: dict[str, Param] = {"webhook_endpoint": String(max_chars=255)}


@dataclass(frozen=True)
class ListAttempts:
    """A page of the attempts to deliver one event, or to one endpoint: newest first."""

    parent: str
    """The event's or the endpoint's id, from the route."""
    limit: int | None = None
    starting_after: str | None = None


parse_list_attempts = request_parser(ListAttempts, LIST_PARAMS, ids=("parent",))


def attempt_object(attempt: WebhookAttempt) -> ApiObject:
    succeeded = attempt.status_code is not None and 200 <= attempt.status_code < 300
    return {
        "id": attempt.id,
        "object": "webhook_attempt",
        "created": attempt.attempted_ms // 1000,
        "attempted_at_ms": attempt.attempted_ms,
        "duration_ms": attempt.duration_ms,
        "error": attempt.error,
        "event": attempt.event_id,
        "injected_fault": attempt.injected_fault,
        "response_excerpt": attempt.response_excerpt,
        "status_code": attempt.status_code,
        "succeeded": succeeded,
        "webhook_endpoint": attempt.endpoint_id,
    }


async def list_attempts(
    ctx: Context, parent: Resource, column: str, request: ListAttempts
) -> ApiObject:
    """The list envelope of `request.parent`'s attempts; `column` names what the parent is
    to the attempts (`event_id` or `endpoint_id`)."""
    parent_id = request.parent
    await load_live_object(ctx, parent, parent_id)
    limit = request.limit if request.limit is not None else LIST_LIMIT_DEFAULT
    before = None
    if request.starting_after is not None:
        before = await ctx.tx.webhook_attempt_seq(ctx.account_id, request.starting_after)
        if before is None:
            raise ResourceMissing("webhook_attempt", request.starting_after, param="starting_after")
    rows = await ctx.tx.list_webhook_attempts(ctx.account_id, column, parent_id, limit + 1, before)
    return {
        "object": "list",
        "data": [attempt_object(attempt) for _, attempt in rows[:limit]],
        "has_more": len(rows) > limit,
        "url": f"{parent.url}/{parent_id}/webhook_attempts",
    }


async def resend_targets(
    ctx: Context, endpoint_id: str | None, endpoints: list[ApiObject]
) -> list[str]:
    """The enabled endpoints to send an event again to: the one named, or else `endpoints`
    (those that want the event)."""
    if endpoint_id is not None:
        found = await ctx.tx.get_object(WEBHOOK_ENDPOINTS, ctx.account_id, endpoint_id)
        if found is None or found[1]:
            raise ResourceMissing("webhook_endpoint", endpoint_id, param="webhook_endpoint")
        targets = [found[0]]
    else:
        targets = endpoints
    enabled = [str(t["id"]) for t in targets if t["status"] == "enabled"]
    if not enabled:
        raise InvalidRequest(
            "No enabled webhook endpoint to resend this event to.", param="webhook_endpoint"
        )
    return enabled


async def resend(
    ctx: Context, event: ApiObject, endpoint_id: str | None, endpoints: list[ApiObject]
) -> ApiObject:
    """Queue the event again, due now, for one endpoint or every endpoint that wants it."""
    targets = await resend_targets(ctx, endpoint_id, endpoints)
    due_ms = int(ctx.clock.now() * 1000)
    await ctx.tx.insert_webhook_deliveries(
        [(new_id("whd"), ctx.account_id, event["id"], target, due_ms) for target in targets]
    )
    return await count_resent(ctx, event, len(targets))


async def count_resent(ctx: Context, event: ApiObject, deliveries: int) -> ApiObject:
    """The event sent again to `deliveries` endpoints has that many more pending webhooks
    (each success counts one down)."""
    pending = await ctx.tx.adjust_pending_webhooks(event["id"], deliveries)
    if pending is not None:
        event["pending_webhooks"] = pending
    return event
