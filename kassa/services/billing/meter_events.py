"""Meter events (`POST /v1/billing/meter_events`) and their adjustments
(`POST /v1/billing/meter_event_adjustments`): a customer's usage, recorded for the account's
meter of the event's name, and an earlier event canceled so it no longer counts. Neither has
an id, a retrieve or a list (the SDK's `MeterEvent` and `MeterEventAdjustment` are
create-only); the events are rows of `billing_meter_events`, which meters aggregate
(`meters.list_event_summaries`, `meter_usage` for invoices).

Where each behaviour comes from:
- `timestamp` "Must be within the past 35 calendar days or up to 5 minutes in the future.
  Defaults to current timestamp" and `identifier` "If not provided, one is generated ...
  Stripe enforces uniqueness within a rolling period of at least 24 hours" (the SDK's
  parameter docstrings). Kassa keeps every identifier for good (at least 24 hours, as
  promised): a second event with one is refused naming `identifier`.
- "You can only cancel events sent to Stripe within the last 24 hours" and "You can also fix
  incorrectly recorded usage data by recording negative quantities. If the overall cycle
  usage is negative, Stripe reports the invoice line item usage quantity as 0" (Stripe's
  guide "Configure meters"): an adjustment of an older event is refused naming
  `cancel[identifier]`; values may be negative (`meter_usage` bills at least 0).
- Stripe validates an event's payload asynchronously (an unknown customer or a bad value
  shows up later in the meter's error reports); Kassa checks it at once and refuses the
  request with a 400 naming the parameter (`event_name`, `payload[<key>]`), and applies an
  adjustment at once (`status: complete`, where Stripe answers `pending` first).
- Values are whole numbers (Kassa bills integer quantities); a decimal value is refused.
- The times: an event is for a customer, so "now" is the customer's, its test clock's
  frozen time when it has one (`ctx.governed_by`); it is also recorded in the
  installation's time (`recorded_ms`), which billing alerts count usage from.
- Each event and adjustment checks the meter's billing alerts on its customer in the same
  unit of work (`alert_triggers.check_alerts`): the usage it changes is known at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from kassa.errors import InvalidParameter, MissingParameter, ResourceMissing
from kassa.ids import new_id
from kassa.params import Enum, Param, String, Struct, Timestamp
from kassa.services.billing.alert_triggers import check_alerts
from kassa.services.billing.meters import find_meter, formula_of
from kassa.services.context import Context
from kassa.services.customer_lookup import load_customer_named
from kassa.services.resource import ApiObject, Operation, Resource, request_parser
from kassa.store.meter_event_queries import MeterEventRow

PAST_SECONDS_MAX: Final = 35 * 86_400
"""An event's timestamp at most 35 days before now."""
FUTURE_SECONDS_MAX: Final = 5 * 60
"""... and at most 5 minutes after."""
CANCELABLE_SECONDS: Final = 24 * 3600
"""An adjustment cancels only an event sent within the last 24 hours."""
PAYLOAD_KEYS_MAX: Final = 50
PAYLOAD_VALUE_CHARS_MAX: Final = 500
IDENTIFIER_CHARS_MAX: Final = 100
VALUE_DIGITS_MAX: Final = 15
"""A value is a whole number of at most 15 digits (it is summed into an int64 column)."""
_WHOLE_NUMBER: Final = re.compile(rf"-?[0-9]{{1,{VALUE_DIGITS_MAX}}}")


@dataclass(frozen=True)
class Payload(Param):
    """A meter event's `payload`: string keys to string values."""

    def parse(self, value: Any, path: str) -> dict[str, str]:
        if not isinstance(value, dict):
            raise InvalidParameter(
                f"Invalid object: {path} must be an object (`{path}[key]=value`)", param=path
            )
        if len(value) > PAYLOAD_KEYS_MAX:
            raise InvalidParameter(f"{path} may have at most {PAYLOAD_KEYS_MAX} keys.", param=path)
        text = String(max_chars=PAYLOAD_VALUE_CHARS_MAX)
        return {str(key): text.parse(item, f"{path}[{key}]") for key, item in value.items()}

    def json_schema(self) -> dict[str, Any]:
        return {"type": "object", "additionalProperties": {"type": "string"}}


CREATE_PARAMS: dict[str, Param] = {
    "event_name": String(max_chars=100),
    "identifier": String(max_chars=IDENTIFIER_CHARS_MAX),
    "payload": Payload(),
    "timestamp": Timestamp(),
}
ADJUSTMENT_PARAMS: dict[str, Param] = {
    "event_name": String(max_chars=100),
    "type": Enum(values=("cancel",)),
    "cancel": Struct({"identifier": String(max_chars=IDENTIFIER_CHARS_MAX)}),
}


@dataclass(frozen=True, kw_only=True)
class CreateMeterEvent:
    event_name: str
    payload: dict[str, str]
    identifier: str | None = None
    timestamp: int | None = None


@dataclass(frozen=True, kw_only=True)
class CreateAdjustment:
    event_name: str
    type: str
    cancel: dict[str, Any] | None = None


async def _active_meter(ctx: Context, event_name: str) -> ApiObject:
    meter = await find_meter(ctx, event_name)
    if meter is None or meter["status"] != "active":
        raise InvalidParameter(
            f"No active meter was found for event_name '{event_name}'.", param="event_name"
        )
    return meter


async def _customer_of(ctx: Context, meter: ApiObject, payload: dict[str, str]) -> ApiObject:
    key = str(meter["customer_mapping"]["event_payload_key"])
    param = f"payload[{key}]"
    customer_id = payload.get(key)
    if customer_id is None:
        raise MissingParameter(param)
    try:
        return await load_customer_named(ctx, customer_id, param=param)
    except ResourceMissing:
        # Stripe's customer lookup would be a 404; an event naming a customer the account
        # does not have is a bad payload, refused as one.
        raise InvalidParameter(f"No such customer: '{customer_id}'", param=param) from None


def _value_of(meter: ApiObject, payload: dict[str, str]) -> int:
    key = str(meter["value_settings"]["event_payload_key"])
    raw = payload.get(key)
    if raw is None:
        if formula_of(meter) == "count":
            return 1  # a count meter counts events: their values are not read
        raise MissingParameter(f"payload[{key}]")
    if not _WHOLE_NUMBER.fullmatch(raw):
        raise InvalidParameter(
            f"Invalid value: {raw[:40]}; payload[{key}] must be a whole number.",
            param=f"payload[{key}]",
        )
    return int(raw)


def _check_timestamp(timestamp: int, now: int) -> None:
    if timestamp < now - PAST_SECONDS_MAX:
        raise InvalidParameter(
            f"The timestamp {timestamp} is more than 35 days in the past.", param="timestamp"
        )
    if timestamp > now + FUTURE_SECONDS_MAX:
        raise InvalidParameter(
            f"The timestamp {timestamp} is more than 5 minutes in the future.",
            param="timestamp",
        )


async def create_meter_event(ctx: Context, request: CreateMeterEvent) -> ApiObject:
    meter = await _active_meter(ctx, request.event_name)
    customer = await _customer_of(ctx, meter, request.payload)
    value = _value_of(meter, request.payload)
    ctx = await ctx.governed_by(customer)
    now = ctx.now()
    timestamp = now if request.timestamp is None else request.timestamp
    _check_timestamp(timestamp, now)
    identifier = request.identifier or new_id("mev")
    row = MeterEventRow(
        identifier,
        request.event_name,
        customer["id"],
        value,
        timestamp,
        now,
        canceled=False,
        recorded_ms=int(ctx.clock.now() * 1000),
    )
    if not await ctx.tx.insert_meter_event(ctx.account_id, row):
        raise InvalidParameter(
            f"A meter event with identifier '{identifier}' already exists.", param="identifier"
        )
    await check_alerts(ctx, meter, str(customer["id"]))
    return {
        "object": "billing.meter_event",
        "created": now,
        "event_name": request.event_name,
        "identifier": identifier,
        "livemode": ctx.livemode,
        "payload": dict(request.payload),
        "timestamp": timestamp,
    }


async def create_adjustment(ctx: Context, request: CreateAdjustment) -> ApiObject:
    meter = await _active_meter(ctx, request.event_name)
    identifier = (request.cancel or {}).get("identifier")
    if identifier is None:
        raise MissingParameter("cancel[identifier]")
    event = await ctx.tx.get_meter_event(ctx.account_id, identifier)
    if event is None or event.event_name != request.event_name:
        raise InvalidParameter(
            f"No meter event with identifier '{identifier}' was found for event_name "
            f"'{request.event_name}'.",
            param="cancel[identifier]",
        )
    now = await ctx.now_for_customer(event.customer)
    if event.created < now - CANCELABLE_SECONDS:
        raise InvalidParameter(
            f"The meter event '{identifier}' was sent more than 24 hours ago and can no "
            "longer be canceled.",
            param="cancel[identifier]",
        )
    await ctx.tx.cancel_meter_event(ctx.account_id, identifier)
    # A canceled event can raise the usage too: a negative value, or a `last` meter's.
    await check_alerts(ctx, meter, event.customer)
    return {
        "object": "billing.meter_event_adjustment",
        "cancel": {"identifier": identifier},
        "event_name": request.event_name,
        "livemode": ctx.livemode,
        "status": "complete",
        "type": request.type,
    }


EVENTS = Resource(
    object_name="billing.meter_event",
    id_prefix="mev",
    collection="billing/meter_events",
    table=None,
    create=Operation(
        request_parser(CreateMeterEvent, CREATE_PARAMS, required=("event_name", "payload")),
        create_meter_event,
        writes=True,
    ),
)
ADJUSTMENTS = Resource(
    object_name="billing.meter_event_adjustment",
    id_prefix="mevadj",
    collection="billing/meter_event_adjustments",
    table=None,
    create=Operation(
        request_parser(CreateAdjustment, ADJUSTMENT_PARAMS, required=("event_name", "type")),
        create_adjustment,
        writes=True,
    ),
)
