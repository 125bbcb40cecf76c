"""Webhook endpoints: create (the `whsec_` signing secret is shown only then), retrieve,
update (including `disabled`), list, delete."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from kassa import API_VERSION
from kassa.api_versions import is_known_api_version
from kassa.clock import Clock, utc_date
from kassa.errors import InvalidParameter, InvalidRequest, MissingParameter
from kassa.ids import new_id, new_secret
from kassa.params import (
    Boolean,
    ListOf,
    Metadata,
    MetadataUpdate,
    Param,
    String,
    Unset,
    apply_metadata,
    parse_params,
)
from kassa.services import events, webhook_attempts
from kassa.services.context import Context
from kassa.services.listing import load_live_object
from kassa.services.resource import (
    ApiObject,
    Form,
    Operation,
    Resource,
    RouteIds,
    no_params,
    request_parser,
)
from kassa.services.stripe_event_types import STRIPE_EVENT_TYPES
from kassa.services.webhook_attempts import ListAttempts, parse_list_attempts
from kassa.store import Transaction
from kassa.store.tables import WEBHOOK_ENDPOINTS
from kassa.store.webhook_queries import WebhookTarget

URL_CHARS_MAX = 2_048
ENABLED_EVENTS_MAX = 250


class _EventType(String):
    def parse(self, value: Any, path: str) -> str:
        # Imported here, not at the top: the catalog imports this module to list its
        # resource, and the types Kassa sends are the union of every resource's
        # declaration, known only once the catalog has them all.
        from kassa.services.catalog import EVENT_TYPES

        text = super().parse(value, path)
        # Any type Stripe takes, as on Stripe, though Kassa sends only some (an integration
        # enabling `checkout.session.completed` still runs); and Kassa's own types.
        if text != "*" and text not in STRIPE_EVENT_TYPES and text not in EVENT_TYPES:
            raise InvalidParameter(
                f"Invalid {path}: {text[:100]} is not a Stripe event type; use `*` for all "
                "events, or the types the API reference lists for enabled_events",
                param=path,
            )
        return text


_COMMON: dict[str, Param] = {
    "description": String(max_chars=5000, nullable=True),
    "enabled_events": ListOf(_EventType(max_chars=100), max_items=ENABLED_EVENTS_MAX),
    "metadata": Metadata(),
    "url": String(max_chars=URL_CHARS_MAX),
}
CREATE_PARAMS: dict[str, Param] = {
    **_COMMON,
    "api_version": String(max_chars=40),
    "connect": Boolean(),
}
UPDATE_PARAMS: dict[str, Param] = {**_COMMON, "disabled": Boolean()}
_CREATE_REQUIRED = ("url", "enabled_events")


@dataclass(frozen=True)
class CreateWebhookEndpoint:
    """An endpoint POSTed every event of `enabled_events` (`*`: all of them)."""

    url: str
    enabled_events: list[str]
    description: str | Unset | None = None
    metadata: MetadataUpdate | None = None
    api_version: str | None = None
    connect: bool | None = None


@dataclass(frozen=True)
class UpdateWebhookEndpoint:
    webhook_endpoint: str
    url: str | None = None
    enabled_events: list[str] | None = None
    description: str | Unset | None = None
    metadata: MetadataUpdate | None = None
    disabled: bool | None = None


def validated_url(url: str, param: str = "url") -> str:
    """An absolute http(s) URL without credentials: where Kassa will POST events."""
    problem = _url_problem(url)
    if problem is not None:
        raise InvalidParameter(
            f"Invalid URL: {url[:200]}: {problem}.", param=param, code="url_invalid"
        )
    return url


def _url_problem(url: str) -> str | None:
    if len(url) > URL_CHARS_MAX:  # the API's parser says so first; other callers get this
        return f"it is longer than {URL_CHARS_MAX} characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        # A bracketed host that is not an IPv6 address, an unclosed `[`, a port that is
        # not a number from 0 to 65535.
        return "its host or port is malformed"
    if parts.scheme not in ("http", "https"):
        return "it must start with http:// or https://"
    if not parts.hostname:
        return "it has no host"
    if parts.username is not None or parts.password is not None:
        return "it must not contain a user name or password"
    if parts.fragment:
        return "it must not have a #fragment"
    if any(c.isspace() for c in url):
        return "it must not contain spaces"
    return None


def _enabled_events(value: list[str]) -> list[str]:
    if not value:
        raise InvalidParameter(
            "enabled_events must name at least one event type or `*`.", param="enabled_events"
        )
    return sorted(set(value))


def parse_create(ids: RouteIds, form: Form) -> CreateWebhookEndpoint:
    params = parse_params(CREATE_PARAMS, form)
    for name in _CREATE_REQUIRED:
        if name not in params:
            raise MissingParameter(name)
    return CreateWebhookEndpoint(**params)


async def create_webhook_endpoint(ctx: Context, request: CreateWebhookEndpoint) -> ApiObject:
    if request.connect:
        raise InvalidParameter("Kassa has no Connect accounts to listen to.", param="connect")
    api_version = request.api_version
    if api_version is not None and not is_known_api_version(api_version, utc_date(ctx.clock)):
        raise InvalidParameter(
            f"Invalid api_version: {api_version[:40]}: not a Stripe API version (Kassa's "
            f"newest is {API_VERSION}).",
            param="api_version",
        )
    existing = await ctx.tx.webhook_endpoint_docs(
        ctx.account_id, events.WEBHOOK_ENDPOINTS_PER_ACCOUNT_MAX
    )
    if len(existing) >= events.WEBHOOK_ENDPOINTS_PER_ACCOUNT_MAX:
        raise InvalidRequest(
            f"You have reached the maximum of {events.WEBHOOK_ENDPOINTS_PER_ACCOUNT_MAX} test "
            "webhook endpoints.",
        )
    secret = new_secret("whsec")
    endpoint_id = new_id("we")
    endpoint: ApiObject = {
        "id": endpoint_id,
        "object": "webhook_endpoint",
        "api_version": api_version,
        "application": None,
        "created": ctx.now(),
        "description": request.description if isinstance(request.description, str) else None,
        "enabled_events": _enabled_events(request.enabled_events),
        "livemode": ctx.livemode,
        "metadata": apply_metadata({}, request.metadata if request.metadata is not None else {}),
        "status": "enabled",
        "url": validated_url(request.url),
    }
    await ctx.tx.insert_object(WEBHOOK_ENDPOINTS, ctx.account_id, endpoint)
    await ctx.tx.insert_webhook_endpoint_state(endpoint_id, ctx.account_id, secret)
    events.forget_endpoints(ctx)
    return {**endpoint, "secret": secret}


async def retrieve_webhook_endpoint(ctx: Context, endpoint_id: str) -> ApiObject:
    return await load_live_object(ctx, RESOURCE, endpoint_id)


async def update_webhook_endpoint(ctx: Context, request: UpdateWebhookEndpoint) -> ApiObject:
    endpoint = await load_live_object(ctx, RESOURCE, request.webhook_endpoint)
    if request.url is not None:
        endpoint["url"] = validated_url(request.url)
    if request.enabled_events is not None:
        endpoint["enabled_events"] = _enabled_events(request.enabled_events)
    if request.description is not None:
        endpoint["description"] = (
            request.description if isinstance(request.description, str) else None
        )
    if request.metadata is not None:
        endpoint["metadata"] = apply_metadata(endpoint["metadata"], request.metadata)
    if request.disabled is not None:
        await _switch(ctx, endpoint, request.disabled)
    await ctx.tx.update_object(WEBHOOK_ENDPOINTS, ctx.account_id, endpoint)
    events.forget_endpoints(ctx)
    return endpoint


async def _switch(ctx: Context, endpoint: ApiObject, disabled: bool) -> None:
    if endpoint["status"] == "disabled" and not disabled:
        # Stripe: "If your endpoint has been disabled or deleted when Stripe attempts a
        # retry, future retries of that event are prevented. However, if you disable and
        # then re-enable a webhook endpoint before Stripe can retry, you can still expect
        # to see future retry attempts." A disabled endpoint is sent nothing (and gets no
        # delivery of an event made meanwhile); enabled again, it gets the retries not yet
        # due, at their time, and none of those whose time came meanwhile (the delivery
        # workers give those up as they come due; this catches any they have not reached).
        # Deliveries before the endpoint's state row: the order the workers lock them in.
        now_ms = int(ctx.clock.now() * 1000)
        await ctx.tx.give_up_due_webhook_deliveries(endpoint["id"], now_ms)
    endpoint["status"] = "disabled" if disabled else "enabled"
    await ctx.tx.set_webhook_endpoint_disabled(endpoint["id"], disabled)
    if not disabled:
        await ctx.tx.reset_webhook_endpoint_failures(endpoint["id"])


async def delete_webhook_endpoint(ctx: Context, endpoint_id: str) -> ApiObject:
    endpoint = await load_live_object(ctx, RESOURCE, endpoint_id)
    await ctx.tx.mark_object_deleted(WEBHOOK_ENDPOINTS, ctx.account_id, endpoint["id"])
    await ctx.tx.abandon_webhook_deliveries(endpoint["id"])
    # Its injected faults go with it (a disabled endpoint keeps them for when it is back).
    await ctx.tx.clear_webhook_faults(endpoint["id"], int(ctx.clock.now() * 1000))
    events.forget_endpoints(ctx)
    return {"id": endpoint["id"], "object": "webhook_endpoint", "deleted": True}


async def disable_failing_endpoint(tx: Transaction, clock: Clock, target: WebhookTarget) -> None:
    """An endpoint that failed for the whole retry window is switched off, and says so."""
    ctx = Context(account_id=target.account_id, tx=tx, clock=clock)
    endpoint = await load_live_object(ctx, RESOURCE, target.endpoint_id)
    if endpoint["status"] == "disabled":
        return
    before = copy.deepcopy(endpoint)
    endpoint["status"] = "disabled"
    await tx.update_object(WEBHOOK_ENDPOINTS, target.account_id, endpoint)
    await tx.set_webhook_endpoint_disabled(target.endpoint_id, True)
    # It failed for a whole retry schedule: what it still had queued is given up.
    await tx.abandon_webhook_deliveries(target.endpoint_id)
    await events.announce(ctx, "webhook_endpoint.disabled", endpoint, previous=before)


async def endpoint_attempts(ctx: Context, request: ListAttempts) -> ApiObject:
    return await webhook_attempts.list_attempts(ctx, RESOURCE, "endpoint_id", request)


RESOURCE = Resource(
    object_name="webhook_endpoint",
    id_prefix="we",
    collection="webhook_endpoints",
    table=WEBHOOK_ENDPOINTS,
    create=Operation(parse_create, create_webhook_endpoint, writes=True),
    retrieve=Operation(no_params, retrieve_webhook_endpoint, writes=False),
    update=Operation(
        request_parser(UpdateWebhookEndpoint, UPDATE_PARAMS, ids=("webhook_endpoint",)),
        update_webhook_endpoint,
        writes=True,
    ),
    delete=Operation(no_params, delete_webhook_endpoint, writes=True),
    list_filters={},
    sublists={"webhook_attempts": Operation(parse_list_attempts, endpoint_attempts, writes=False)},
    event_types=("webhook_endpoint.disabled",),
)
