"""Webhook endpoints: create (the `whsec_` signing secret is shown only then), retrieve,
update (including `disabled`), list, delete."""

from __future__ import annotations

import copy
import re
from typing import Any
from urllib.parse import urlsplit

from kassa.clock import Clock
from kassa.errors import InvalidParameter, InvalidRequest, MissingParameter
from kassa.ids import new_id, new_secret
from kassa.params import (
    UNSET,
    Boolean,
    ListOf,
    Metadata,
    Param,
    String,
    apply_metadata,
    parse_params,
)
from kassa.services import events, webhook_attempts
from kassa.services.context import Context
from kassa.services.listing import load_live_object, required_id
from kassa.services.resource import ApiObject, Operation, Resource
from kassa.store import Transaction
from kassa.store.queries import WebhookTarget
from kassa.store.tables import WEBHOOK_ENDPOINTS

URL_CHARS_MAX = 2_048
ENABLED_EVENTS_MAX = 250
_API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(\.[a-z]+)?")


class _EventType(String):
    def parse(self, value: Any, path: str) -> str:
        text = super().parse(value, path)
        if text != "*" and text not in events.EVENT_TYPES:
            raise InvalidParameter(
                f"Invalid {path}: {text[:100]} is not an event type Kassa sends; use `*` or "
                f"one of: {', '.join(events.EVENT_TYPES)}",
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


def validated_url(url: str, param: str = "url") -> str:
    """An absolute http(s) URL without credentials: where Kassa will POST events."""
    parts = urlsplit(url)
    problem = None
    if parts.scheme not in ("http", "https"):
        problem = "it must start with http:// or https://"
    elif not parts.hostname:
        problem = "it has no host"
    elif parts.username is not None or parts.password is not None:
        problem = "it must not contain a user name or password"
    elif parts.fragment:
        problem = "it must not have a #fragment"
    elif any(c.isspace() for c in url):
        problem = "it must not contain spaces"
    else:
        try:
            parts.port  # noqa: B018 - raises ValueError for a malformed port
        except ValueError:
            problem = "its port is not a number from 0 to 65535"
    if problem is not None:
        raise InvalidParameter(
            f"Invalid URL: {url[:200]}: {problem}.", param=param, code="url_invalid"
        )
    return url


def _enabled_events(value: list[str]) -> list[str]:
    if not value:
        raise InvalidParameter(
            "enabled_events must name at least one event type or `*`.", param="enabled_events"
        )
    return sorted(set(value))


async def create_webhook_endpoint(ctx: Context, _id: str | None, form: dict[str, Any]) -> ApiObject:
    params = parse_params(CREATE_PARAMS, form)
    for name in ("url", "enabled_events"):
        if name not in params or params[name] is UNSET:
            raise MissingParameter(name)
    if params.get("connect"):
        raise InvalidParameter("Kassa has no Connect accounts to listen to.", param="connect")
    api_version = params.get("api_version")
    if api_version is not None and not _API_VERSION.fullmatch(api_version):
        raise InvalidParameter(f"Invalid api_version: {api_version}", param="api_version")
    existing = await ctx.tx.webhook_endpoint_docs(
        ctx.account_id, events.WEBHOOK_ENDPOINTS_PER_ACCOUNT_MAX
    )
    if len(existing) >= events.WEBHOOK_ENDPOINTS_PER_ACCOUNT_MAX:
        raise InvalidRequest(
            f"You have reached the maximum of {events.WEBHOOK_ENDPOINTS_PER_ACCOUNT_MAX} test "
            "webhook endpoints.",
        )
    secret = new_secret("whsec")
    description = params.get("description")
    endpoint_id = new_id("we")
    endpoint: ApiObject = {
        "id": endpoint_id,
        "object": "webhook_endpoint",
        "api_version": api_version,
        "application": None,
        "created": ctx.now(),
        "description": None if description is UNSET else description,
        "enabled_events": _enabled_events(params["enabled_events"]),
        "livemode": ctx.livemode,
        "metadata": apply_metadata({}, params.get("metadata", {})),
        "status": "enabled",
        "url": validated_url(params["url"]),
    }
    await ctx.tx.insert_object(WEBHOOK_ENDPOINTS, ctx.account_id, endpoint)
    await ctx.tx.insert_webhook_endpoint_state(endpoint_id, ctx.account_id, secret)
    events.forget_endpoints(ctx)
    return {**endpoint, "secret": secret}


async def retrieve_webhook_endpoint(
    ctx: Context, endpoint_id: str | None, form: dict[str, Any]
) -> ApiObject:
    parse_params({}, form)
    return await load_live_object(ctx, RESOURCE, required_id(endpoint_id))


async def update_webhook_endpoint(
    ctx: Context, endpoint_id: str | None, form: dict[str, Any]
) -> ApiObject:
    params = parse_params(UPDATE_PARAMS, form)
    endpoint = await load_live_object(ctx, RESOURCE, required_id(endpoint_id))
    if "url" in params:
        endpoint["url"] = validated_url("" if params["url"] is UNSET else params["url"])
    if "enabled_events" in params:
        endpoint["enabled_events"] = _enabled_events(
            [] if params["enabled_events"] is UNSET else params["enabled_events"]
        )
    if "description" in params:
        endpoint["description"] = None if params["description"] is UNSET else params["description"]
    if "metadata" in params:
        endpoint["metadata"] = apply_metadata(endpoint["metadata"], params["metadata"])
    if "disabled" in params:
        endpoint["status"] = "disabled" if params["disabled"] else "enabled"
        if params["disabled"]:
            # Queued retries are dropped, as on delete: a disabled endpoint is sent nothing,
            # and on re-enabling it receives new events only.
            await ctx.tx.abandon_webhook_deliveries(endpoint["id"])
        else:
            await ctx.tx.reset_webhook_endpoint_failures(endpoint["id"])
    await ctx.tx.update_object(WEBHOOK_ENDPOINTS, ctx.account_id, endpoint)
    events.forget_endpoints(ctx)
    return endpoint


async def delete_webhook_endpoint(
    ctx: Context, endpoint_id: str | None, form: dict[str, Any]
) -> ApiObject:
    parse_params({}, form)
    endpoint = await load_live_object(ctx, RESOURCE, required_id(endpoint_id))
    await ctx.tx.mark_object_deleted(WEBHOOK_ENDPOINTS, ctx.account_id, endpoint["id"])
    await ctx.tx.abandon_webhook_deliveries(endpoint["id"])
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
    await tx.abandon_webhook_deliveries(target.endpoint_id)
    await events.announce(ctx, "webhook_endpoint.disabled", endpoint, previous=before)


async def endpoint_attempts(
    ctx: Context, endpoint_id: str | None, form: dict[str, Any]
) -> ApiObject:
    return await webhook_attempts.list_attempts(
        ctx, RESOURCE, required_id(endpoint_id), "endpoint_id", form
    )


RESOURCE = Resource(
    object_name="webhook_endpoint",
    id_prefix="we",
    collection="webhook_endpoints",
    table=WEBHOOK_ENDPOINTS,
    create=Operation(create_webhook_endpoint, writes=True),
    retrieve=Operation(retrieve_webhook_endpoint, writes=False),
    update=Operation(update_webhook_endpoint, writes=True),
    delete=Operation(delete_webhook_endpoint, writes=True),
    list_filters={},
    sublists={"webhook_attempts": Operation(endpoint_attempts, writes=False)},
)
