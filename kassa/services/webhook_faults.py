"""Webhook fault injection, a Kassa test helper (Stripe has nothing like it): make an
endpoint's next deliveries misbehave on purpose, so a test can show its handler copes.

    POST   /v1/test_helpers/webhook_endpoints/{id}/faults   faults[0][type]=duplicate&
                                                            faults[0][count]=3 (appends)
    GET    /v1/test_helpers/webhook_endpoints/{id}/faults   the queue, next fault first
    DELETE /v1/test_helpers/webhook_endpoints/{id}/faults   empties it
    POST   /v1/test_helpers/events/{id}/redeliver           webhook_endpoint=we_..., and
                                                            fault[type]=... for this one

Each endpoint has a queue of faults. Every delivery attempt the worker claims for the endpoint
(a first attempt or a retry) that carries no fault yet takes one attempt of the queue's head
fault, in the transaction that claims it; a fault's `count` is how many attempts it applies
to. The fault stays on the delivery row until its attempt is recorded, so a crash in between
neither loses nor repeats it. What each type does to the attempt:

- `duplicate`: the event is POSTed twice, one copy after the other, the same event id; both
  are logged, and the delivery succeeds only if both copies got a 2xx (otherwise the normal
  retry schedule applies, as to a failed delivery);
- `delay` (`delay_seconds`): the attempt is put off by that many seconds of the clock that
  schedules deliveries and their retries;
- `out_of_order`: the attempt is held back until an attempt of a later delivery to the same
  endpoint has been made (at most `OUT_OF_ORDER_HOLD_SECONDS`), then sent;
- `status` (`status`, 300 to 599): the attempt fails with that status without calling the
  endpoint, and the normal retry schedule applies;
- `timeout`: the endpoint is called, but the attempt is recorded as timed out whatever it
  answers; Kassa waits for the answer at most `TIMEOUT_FAULT_WAIT_SECONDS` rather than the
  configured timeout, so the handler has (most likely) done its work when the retry comes.

Injected failures are failures: they count towards disabling an endpoint, as real ones do.
Every attempt records the fault it carried (`injected_fault` in the attempt log).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from kassa.errors import InvalidParameter, InvalidRequest, MissingParameter, ResourceMissing
from kassa.ids import new_id
from kassa.invariants import ensure
from kassa.params import Enum, Integer, ListOf, Param, String, Struct, parse_params
from kassa.services.context import Context
from kassa.services.resource import (
    ApiObject,
    Form,
    Operation,
    Resource,
    RouteIds,
    no_params,
    route_id,
)
from kassa.services.webhook_attempts import count_resent, resend_targets
from kassa.store import Transaction
from kassa.store.tables import WEBHOOK_ENDPOINTS
from kassa.store.webhook_queries import ClaimedDelivery, WebhookFault

DUPLICATE = "duplicate"
DELAY = "delay"
OUT_OF_ORDER = "out_of_order"
STATUS = "status"
TIMEOUT = "timeout"
FAULT_TYPES = (DUPLICATE, DELAY, OUT_OF_ORDER, STATUS, TIMEOUT)
HOLDING_TYPES = (DELAY, OUT_OF_ORDER)
"""Faults that put an attempt off: applied when it is claimed, they release the claim."""

FAULTS_PER_REQUEST_MAX = 20
FAULTS_QUEUED_PER_ENDPOINT_MAX = 100
FAULT_COUNT_MAX = 100
"""Attempts one fault applies to at most."""
DELAY_SECONDS_MAX = 86_400
STATUS_MIN = 300
"""Stripe counts any answer but a 2xx (redirects included) as a failure."""
STATUS_MAX = 599
OUT_OF_ORDER_HOLD_SECONDS = 300
"""A delivery held back for a later one is sent anyway after this long: the later event may
never come."""
TIMEOUT_FAULT_WAIT_SECONDS = 1.0
"""How long an attempt with an injected `timeout` waits for the endpoint's answer (which it
then ignores): long enough for a test's handler to answer, far shorter than the timeout."""

_FAULT_FIELDS: dict[str, Param] = {
    "type": Enum(values=FAULT_TYPES),
    "status": Integer(minimum=STATUS_MIN, maximum=STATUS_MAX),
    "delay_seconds": Integer(minimum=1, maximum=DELAY_SECONDS_MAX),
}
_QUEUED_FAULT = Struct(
    fields={**_FAULT_FIELDS, "count": Integer(minimum=1, maximum=FAULT_COUNT_MAX)},
    required=("type",),
)
ADD_PARAMS: dict[str, Param] = {
    "faults": ListOf(_QUEUED_FAULT, max_items=FAULTS_PER_REQUEST_MAX),
}
REDELIVER_PARAMS: dict[str, Param] = {
    "webhook_endpoint": String(max_chars=255),
    "fault": Struct(fields=_FAULT_FIELDS, required=("type",)),
}
_PARAM_OF_TYPE = {STATUS: "status", DELAY: "delay_seconds"}
"""The parameter a fault type needs, and no other type takes."""


@dataclass(frozen=True)
class FaultSpec:
    type: str
    count: int = 1
    status_code: int | None = None
    delay_seconds: int | None = None


@dataclass(frozen=True)
class AddFaults:
    webhook_endpoint: str
    faults: list[FaultSpec]


@dataclass(frozen=True)
class RedeliverEvent:
    """Queue `event` again, due now, for `webhook_endpoint` (or every enabled endpoint that
    wants it), its attempt carrying `fault` when given (instead of the endpoint's queue)."""

    event: str
    webhook_endpoint: str | None = None
    fault: FaultSpec | None = None


def _fault_spec(fields: dict[str, Any], path: str) -> FaultSpec:
    """A parsed fault hash, checked for the parameters its type needs and takes."""
    fault_type = fields["type"]
    for other_type, name in _PARAM_OF_TYPE.items():
        if fault_type == other_type and name not in fields:
            raise MissingParameter(f"{path}[{name}]")
        if fault_type != other_type and name in fields:
            raise InvalidParameter(
                f"Invalid {path}[{name}]: only a fault of type `{other_type}` takes `{name}`.",
                param=f"{path}[{name}]",
            )
    return FaultSpec(
        type=fault_type,
        count=fields.get("count", 1),
        status_code=fields.get("status"),
        delay_seconds=fields.get("delay_seconds"),
    )


def parse_add_faults(ids: RouteIds, form: Form) -> AddFaults:
    params = parse_params(ADD_PARAMS, form, required=("faults",))
    faults = [_fault_spec(fields, f"faults[{i}]") for i, fields in enumerate(params["faults"])]
    if not faults:
        raise MissingParameter("faults")
    return AddFaults(webhook_endpoint=route_id(ids), faults=faults)


def parse_redeliver(ids: RouteIds, form: Form) -> RedeliverEvent:
    params = parse_params(REDELIVER_PARAMS, form)
    fault = params.get("fault")
    return RedeliverEvent(
        event=route_id(ids),
        webhook_endpoint=params.get("webhook_endpoint"),
        fault=None if fault is None else _fault_spec(fault, "fault"),
    )


def fault_object(fault: WebhookFault) -> ApiObject:
    return {
        "id": fault.id,
        "object": "webhook_endpoint_fault",
        "count": fault.count,
        "created": fault.created,
        "delay_seconds": fault.delay_seconds,
        "livemode": False,
        "remaining": fault.remaining,
        "status": fault.status_code,
        "type": fault.type,
        "webhook_endpoint": fault.endpoint_id,
    }


async def _live_endpoint_id(ctx: Context, endpoint_id: str) -> str:
    found = await ctx.tx.get_object(WEBHOOK_ENDPOINTS, ctx.account_id, endpoint_id)
    if found is None or found[1]:
        raise ResourceMissing("webhook_endpoint", endpoint_id)
    return endpoint_id


async def _queue(ctx: Context, endpoint_id: str) -> ApiObject:
    faults = await ctx.tx.queued_webhook_faults(endpoint_id, FAULTS_QUEUED_PER_ENDPOINT_MAX)
    return {
        "object": "list",
        "data": [fault_object(fault) for fault in faults],
        "has_more": False,
        "url": f"{RESOURCE.url}/{endpoint_id}/faults",
    }


async def add_faults(ctx: Context, request: AddFaults) -> ApiObject:
    """Append to the endpoint's queue; the whole queue, next fault first."""
    endpoint_id = await _live_endpoint_id(ctx, request.webhook_endpoint)
    queued = await ctx.tx.queued_webhook_faults(endpoint_id, FAULTS_QUEUED_PER_ENDPOINT_MAX)
    if len(queued) + len(request.faults) > FAULTS_QUEUED_PER_ENDPOINT_MAX:
        raise InvalidRequest(
            f"An endpoint holds at most {FAULTS_QUEUED_PER_ENDPOINT_MAX} queued faults; it "
            f"has {len(queued)}. Clear them with DELETE on this URL.",
            param="faults",
        )
    created = ctx.now()
    await ctx.tx.insert_webhook_faults(
        [
            WebhookFault(
                id=new_id("whf"),
                account_id=ctx.account_id,
                endpoint_id=endpoint_id,
                type=spec.type,
                count=spec.count,
                remaining=spec.count,
                status_code=spec.status_code,
                delay_seconds=spec.delay_seconds,
                created=created,
            )
            for spec in request.faults
        ]
    )
    return await _queue(ctx, endpoint_id)


async def list_faults(ctx: Context, endpoint_id: str) -> ApiObject:
    return await _queue(ctx, await _live_endpoint_id(ctx, endpoint_id))


async def clear_faults(ctx: Context, endpoint_id: str) -> ApiObject:
    """Empty the queue; deliveries a fault holds back (delay, out of order) are sent now."""
    await _live_endpoint_id(ctx, endpoint_id)
    await ctx.tx.clear_webhook_faults(endpoint_id, int(ctx.clock.now() * 1000))
    return await _queue(ctx, endpoint_id)


def held_until_ms(fault_type: str, delay_seconds: int | None, now_ms: int) -> int:
    """When an attempt carrying `fault_type` may go: now, or later for the holding types."""
    if fault_type == DELAY:
        ensure(delay_seconds is not None, "a delay fault carries its delay_seconds")
        return now_ms + (delay_seconds or 0) * 1000
    if fault_type == OUT_OF_ORDER:
        return now_ms + OUT_OF_ORDER_HOLD_SECONDS * 1000
    return now_ms


async def apply_queued_faults(
    tx: Transaction, claimed: list[ClaimedDelivery], now_ms: int
) -> list[ClaimedDelivery]:
    """Give each claimed delivery that carries no fault the next one of its endpoint's queue
    (the caller holds the queue: `Transaction.lock_webhook_fault_queue`); the deliveries to
    send now, each with the fault it carries. Those a holding fault puts off are released."""
    sending: list[ClaimedDelivery] = []
    queue_empty = False
    for delivery in claimed:
        fault = None
        if delivery.fault is None and not queue_empty:
            fault = await tx.take_webhook_fault(delivery.endpoint_id)
            queue_empty = fault is None
        if fault is None:
            sending.append(delivery)
        elif fault.type in HOLDING_TYPES:
            until_ms = held_until_ms(fault.type, fault.delay_seconds, now_ms)
            await tx.hold_webhook_delivery(delivery.id, fault.type, until_ms)
        else:
            await tx.bind_webhook_fault(delivery.id, fault.type, fault.status_code)
            sending.append(
                dataclasses.replace(delivery, fault=fault.type, fault_status_code=fault.status_code)
            )
    return sending


async def release_held_deliveries(
    tx: Transaction, attempted: list[ClaimedDelivery], now_ms: int
) -> None:
    """Deliveries held out of order go once an attempt of a later delivery to their endpoint
    has been made (`attempted`: the deliveries just recorded)."""
    newest: dict[str, int] = {}
    for delivery in attempted:
        newest[delivery.endpoint_id] = max(delivery.seq, newest.get(delivery.endpoint_id, 0))
    for held in await tx.held_webhook_deliveries(sorted(newest), now_ms):
        if held.seq < newest[held.endpoint_id]:
            await tx.release_webhook_delivery(held.id, now_ms)


async def redeliver(
    ctx: Context, event: ApiObject, request: RedeliverEvent, wanting: list[ApiObject]
) -> ApiObject:
    """Queue the event again, due now, for one endpoint or every endpoint that wants it
    (`wanting`); with a fault, its attempt carries it instead of the endpoints' queues."""
    targets = await resend_targets(ctx, request.webhook_endpoint, wanting)
    now_ms = int(ctx.clock.now() * 1000)
    fault = request.fault
    if fault is None:
        await ctx.tx.insert_webhook_deliveries(
            [(new_id("whd"), ctx.account_id, event["id"], t, now_ms) for t in targets]
        )
        return await count_resent(ctx, event, len(targets))
    due_ms = held_until_ms(fault.type, fault.delay_seconds, now_ms)
    await ctx.tx.insert_faulted_webhook_deliveries(
        [
            (new_id("whd"), ctx.account_id, event["id"], t, due_ms, fault.type, fault.status_code)
            for t in targets
        ],
        now_ms,
    )
    return await count_resent(ctx, event, len(targets))


RESOURCE = Resource(
    object_name="webhook_endpoint_fault",
    id_prefix="whf",
    collection="test_helpers/webhook_endpoints",
    table=None,
    actions={"faults": Operation(parse_add_faults, add_faults, writes=True)},
    sublists={"faults": Operation(no_params, list_faults, writes=False)},
    delete_actions={"faults": Operation(no_params, clear_faults, writes=True)},
)
"""The queues live under the endpoints' test-helper path; the objects listed are faults."""
