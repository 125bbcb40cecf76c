"""What the dashboard's webhook pages show: the account's endpoints with how well each
answers, one endpoint with its recent attempts, and the actions they offer (create,
enable/disable, delete) carried out through the same typed operations as the API.

Every read is bounded: an account has at most `WEBHOOK_ENDPOINTS_PER_ACCOUNT_MAX`
endpoints, a success rate reads the newest `SUCCESS_RATE_WINDOW` attempts of one endpoint
through its (endpoint_id, seq) index, and attempts are listed a page at a time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from kassa.errors import InvalidParameter, ResourceMissing
from kassa.services import catalog, events, webhook_endpoints
from kassa.services.context import Context
from kassa.services.listing import could_be_object_id, load_live_object
from kassa.services.resource import ApiObject
from kassa.services.webhook_attempts import ListAttempts
from kassa.services.webhook_endpoints import CreateWebhookEndpoint, UpdateWebhookEndpoint
from kassa.store.dashboard_operation_queries import AttemptOutcomes

SUCCESS_RATE_WINDOW = 100
"""A success rate covers an endpoint's newest this-many attempts: a bounded read of the
(endpoint_id, seq) index, and recent enough to say how the endpoint answers now."""

ListAttemptsOperation = Callable[[Context, ListAttempts], Awaitable[ApiObject]]
"""An event's or an endpoint's `webhook_attempts` list, as the API serves it."""


@dataclass(frozen=True)
class AttemptsPage:
    attempts: list[ApiObject]
    """Stripe-style `webhook_attempt` objects, newest first."""
    next_cursor: str | None


@dataclass(frozen=True)
class EndpointRow:
    endpoint: ApiObject
    rate: AttemptOutcomes


@dataclass(frozen=True)
class EndpointDetail:
    endpoint: ApiObject
    rate: AttemptOutcomes
    attempts: AttemptsPage


async def endpoints_overview(ctx: Context) -> list[EndpointRow]:
    """Every endpoint (an account has at most 16) with its recent success rate."""
    return [
        EndpointRow(e, await _success_rate(ctx, str(e["id"]))) for e in await account_endpoints(ctx)
    ]


async def endpoint_detail(
    ctx: Context, endpoint_id: str, attempts_after: str, limit: int
) -> EndpointDetail:
    endpoint = await load_live_object(ctx, webhook_endpoints.RESOURCE, endpoint_id)
    attempts = await attempts_page(
        ctx, webhook_endpoints.endpoint_attempts, endpoint_id, attempts_after, limit
    )
    return EndpointDetail(endpoint, await _success_rate(ctx, endpoint_id), attempts)


async def account_endpoints(ctx: Context) -> list[ApiObject]:
    return await ctx.tx.webhook_endpoint_docs(
        ctx.account_id, events.WEBHOOK_ENDPOINTS_PER_ACCOUNT_MAX
    )


async def attempts_page(
    ctx: Context, operation: ListAttemptsOperation, parent_id: str, after: str, limit: int
) -> AttemptsPage:
    """One page of the attempts of an event or endpoint, after the attempt `after` (the
    page link's cursor; '' for the newest)."""
    if after and not could_be_object_id(after):
        raise ResourceMissing("webhook_attempt", after, param="starting_after")
    request = ListAttempts(parent=parent_id, limit=limit, starting_after=after or None)
    listed = await operation(ctx, request)
    data: list[ApiObject] = listed["data"]
    cursor = str(data[-1]["id"]) if listed["has_more"] and data else None
    return AttemptsPage(data, cursor)


async def _success_rate(ctx: Context, endpoint_id: str) -> AttemptOutcomes:
    return await ctx.tx.webhook_attempt_outcomes(ctx.account_id, endpoint_id, SUCCESS_RATE_WINDOW)


# -- actions --------------------------------------------------------------------------------


async def create_endpoint(
    ctx: Context, url: str, description: str, enabled_events: str
) -> ApiObject:
    """A new endpoint from the page's form; the answer carries its signing secret."""
    request = CreateWebhookEndpoint(
        url=_checked("url", url),
        enabled_events=enabled_events_list(enabled_events),
        description=_checked("description", description) if description else None,
    )
    return await webhook_endpoints.create_webhook_endpoint(ctx, request)


def _checked(name: str, text: str) -> Any:
    """A typed field checked by the API's own schema for it (its limits and messages)."""
    return webhook_endpoints.CREATE_PARAMS[name].parse(text, name)


def enabled_events_list(text: str) -> list[str]:
    """`charge.succeeded, refund.created` (commas or spaces) as the API's list. An unknown
    name is refused here with a short message (the API's lists every type Kassa sends)."""
    names = [name for name in text.replace(",", " ").split() if name]
    if len(names) > webhook_endpoints.ENABLED_EVENTS_MAX:
        raise InvalidParameter(
            f"An endpoint takes at most {webhook_endpoints.ENABLED_EVENTS_MAX} event types.",
            param="enabled_events",
        )
    for name in names:
        if name != "*" and name not in catalog.EVENT_TYPES:
            raise InvalidParameter(
                f"Kassa sends no events of type {name[:100]}: use * for all, or types from "
                "the suggestions such as charge.succeeded.",
                param="enabled_events",
            )
    return names


async def set_disabled(ctx: Context, endpoint_id: str, disabled: bool) -> ApiObject:
    return await webhook_endpoints.update_webhook_endpoint(
        ctx, UpdateWebhookEndpoint(webhook_endpoint=endpoint_id, disabled=disabled)
    )


async def delete_endpoint(ctx: Context, endpoint_id: str) -> None:
    await webhook_endpoints.delete_webhook_endpoint(ctx, endpoint_id)
