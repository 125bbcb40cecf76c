"""Billing Meters (`/v1/billing/meters`): create, retrieve, update (`display_name` only),
list (by `status`), deactivate, reactivate, and a customer's event summaries
(`GET /v1/billing/meters/{id}/event_summaries`). Object `billing.meter`, id `mtr_...`;
the summaries are `billing.meter_event_summary` objects, worked out by SQL over the
account's meter events (`kassa.store.meter_event_queries`), never stored.

Where each behaviour comes from:
- fields and parameters: the installed SDK (`stripe/billing/_meter.py`,
  `params/billing/_meter_create_params.py`, `_meter_list_event_summaries_params.py`), and
  `../shared/stripe-billing-notes.md` 4.10; maximum lengths (display_name 250, event_name
  and payload keys 100) as Stripe's API reference gives them;
- "You can only use an event name with a single meter" and "After you configure the meter,
  you can't make any changes aside from the display name": Stripe's guide "Configure
  meters" (docs.stripe.com/billing/subscriptions/usage-based/meters/configure), so a second
  meter with an event name the account has used is refused naming `event_name`;
- `start_time`/`end_time` "must be aligned with minute boundaries", and to hour or UTC day
  boundaries with `value_grouping_window` (the SDK's parameter docstrings): refused naming
  the parameter otherwise.
Kassa's own choices (Stripe's docs do not say): a deactivated meter takes no events and no
new price; deactivating an inactive meter (or reactivating an active one) is refused; a
grouped summary list holds the windows that have events, oldest first, and a list without
grouping always one summary (0 when no event counts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, cast

from kassa.errors import InvalidParameter, InvalidRequest
from kassa.ids import new_id
from kassa.params import Enum, Integer, NotSupported, Param, String, Struct
from kassa.services import events
from kassa.services.context import Context
from kassa.services.customer_lookup import load_customer_named
from kassa.services.listing import CURSOR_PARAMS, LIST_LIMIT_DEFAULT, load_live_object
from kassa.services.resource import (
    ApiObject,
    ListPage,
    Operation,
    Resource,
    list_envelope,
    no_params,
    request_parser,
)
from kassa.store.meter_event_queries import FORMULAS, Formula, UsageScope
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import BILLING_METERS

DEFAULT_CUSTOMER_KEY: Final = "stripe_customer_id"
DEFAULT_VALUE_KEY: Final = "value"
PAYLOAD_KEY_CHARS_MAX: Final = 100
EVENT_NAME_CHARS_MAX: Final = 100
DISPLAY_NAME_CHARS_MAX: Final = 250
WINDOW_SECONDS: Final = {"hour": 3600, "day": 86400}
MINUTE_SECONDS: Final = 60
SUMMARY_ID_PREFIX: Final = "mtrusg"
EVENT_TYPES: Final = (
    "billing.meter.created",
    "billing.meter.updated",
    "billing.meter.deactivated",
    "billing.meter.reactivated",
)

CREATE_PARAMS: dict[str, Param] = {
    "customer_mapping": Struct(
        {
            "event_payload_key": String(max_chars=PAYLOAD_KEY_CHARS_MAX),
            "type": Enum(values=("by_id",)),
        },
        required=("event_payload_key", "type"),
    ),
    "default_aggregation": Struct({"formula": Enum(values=FORMULAS)}, required=("formula",)),
    "display_name": String(max_chars=DISPLAY_NAME_CHARS_MAX),
    "event_name": String(max_chars=EVENT_NAME_CHARS_MAX),
    "event_time_window": Enum(values=tuple(WINDOW_SECONDS)),
    "value_settings": Struct(
        {"event_payload_key": String(max_chars=PAYLOAD_KEY_CHARS_MAX)},
        required=("event_payload_key",),
    ),
}
UPDATE_PARAMS: dict[str, Param] = {"display_name": String(max_chars=DISPLAY_NAME_CHARS_MAX)}
LIST_FILTERS: dict[str, Param] = {"status": Enum(values=("active", "inactive"))}
SUMMARY_PARAMS: dict[str, Param] = {
    "customer": String(max_chars=255),
    "start_time": Integer(minimum=0),
    "end_time": Integer(minimum=0),
    "value_grouping_window": Enum(values=tuple(WINDOW_SECONDS)),
    "limit": CURSOR_PARAMS["limit"],
    "starting_after": CURSOR_PARAMS["starting_after"],
    "ending_before": NotSupported(
        reason="Kassa pages event summaries forward only (starting_after)."
    ),
}


@dataclass(frozen=True, kw_only=True)
class CreateMeter:
    display_name: str
    event_name: str
    default_aggregation: dict[str, Any]
    customer_mapping: dict[str, Any] | None = None
    value_settings: dict[str, Any] | None = None
    event_time_window: str | None = None


@dataclass(frozen=True, kw_only=True)
class UpdateMeter:
    meter: str
    display_name: str | None = None


@dataclass(frozen=True, kw_only=True)
class ListSummaries:
    meter: str
    customer: str
    start_time: int
    end_time: int
    value_grouping_window: str | None = None
    limit: int | None = None
    starting_after: str | None = None


async def find_meter(ctx: Context, event_name: str) -> ApiObject | None:
    """The account's meter of `event_name` (one at most), active or not."""
    page = await ctx.tx.list_objects(
        BILLING_METERS, ctx.account_id, ObjectListQuery(limit=1, equals={"event_name": event_name})
    )
    return page.objects[0] if page.objects else None


async def load_meter(ctx: Context, meter_id: str, *, param: str = "id") -> ApiObject:
    return await load_live_object(ctx, RESOURCE, meter_id, param=param)


def formula_of(meter: ApiObject) -> Formula:
    return cast(Formula, meter["default_aggregation"]["formula"])


async def create_meter(ctx: Context, request: CreateMeter) -> ApiObject:
    if await find_meter(ctx, request.event_name) is not None:
        raise InvalidParameter(
            f"A meter with event_name '{request.event_name}' already exists; an event name "
            "can be used with a single meter.",
            param="event_name",
        )
    now = ctx.now()
    mapping = request.customer_mapping or {}
    values = request.value_settings or {}
    meter: ApiObject = {
        "id": new_id("mtr"),
        "object": "billing.meter",
        "created": now,
        "customer_mapping": {
            "event_payload_key": mapping.get("event_payload_key", DEFAULT_CUSTOMER_KEY),
            "type": "by_id",
        },
        "default_aggregation": {"formula": request.default_aggregation["formula"]},
        "display_name": request.display_name,
        "event_name": request.event_name,
        "event_time_window": request.event_time_window,
        "livemode": ctx.livemode,
        "status": "active",
        "status_transitions": {"deactivated_at": None},
        "updated": now,
        "value_settings": {"event_payload_key": values.get("event_payload_key", DEFAULT_VALUE_KEY)},
    }
    await ctx.tx.insert_object(BILLING_METERS, ctx.account_id, meter)
    await events.announce(ctx, "billing.meter.created", meter)
    return meter


async def retrieve_meter(ctx: Context, meter_id: str) -> ApiObject:
    return await load_meter(ctx, meter_id)


async def update_meter(ctx: Context, request: UpdateMeter) -> ApiObject:
    meter = await load_meter(ctx, request.meter)
    if request.display_name is None:
        return meter
    previous = {"display_name": meter["display_name"], "updated": meter["updated"]}
    meter["display_name"] = request.display_name
    meter["updated"] = ctx.now()
    await ctx.tx.update_object(BILLING_METERS, ctx.account_id, meter)
    await events.announce(ctx, "billing.meter.updated", meter, previous=previous)
    return meter


async def _set_status(ctx: Context, meter_id: str, *, active: bool) -> ApiObject:
    meter = await load_meter(ctx, meter_id)
    wanted = "active" if active else "inactive"
    if meter["status"] == wanted:
        raise InvalidRequest(f"The meter {meter_id} is already {wanted}.", param="id")
    now = ctx.now()
    meter["status"] = wanted
    meter["status_transitions"] = {"deactivated_at": None if active else now}
    meter["updated"] = now
    await ctx.tx.update_object(BILLING_METERS, ctx.account_id, meter)
    kind = "reactivated" if active else "deactivated"
    await events.announce(ctx, f"billing.meter.{kind}", meter)
    return meter


async def deactivate_meter(ctx: Context, request: UpdateMeter) -> ApiObject:
    """No more events are taken for it (`meter_events`), nor new prices on it (`prices`)."""
    return await _set_status(ctx, request.meter, active=False)


async def reactivate_meter(ctx: Context, request: UpdateMeter) -> ApiObject:
    return await _set_status(ctx, request.meter, active=True)


# -- event summaries ------------------------------------------------------------------------


def _check_aligned(value: int, seconds: int, param: str, what: str) -> None:
    if value % seconds:
        raise InvalidParameter(f"{param} must be aligned with {what} boundaries.", param=param)


def _summary(meter: ApiObject, start: int, end: int, value: int | None) -> ApiObject:
    return {
        "id": f"{SUMMARY_ID_PREFIX}_{str(meter['id']).partition('_')[2]}_{start}_{end}",
        "object": "billing.meter_event_summary",
        "aggregated_value": float(value or 0),
        "end_time": end,
        "livemode": meter["livemode"],
        "meter": meter["id"],
        "start_time": start,
    }


def _resume_at(request: ListSummaries, width: int) -> int:
    """Where a page after `starting_after` (a summary of this list) begins: its end."""
    cursor = request.starting_after
    if cursor is None:
        return request.start_time
    *_, end = cursor.rpartition("_")
    if not cursor.startswith(f"{SUMMARY_ID_PREFIX}_") or not end.isdigit():
        raise InvalidParameter(f"No such summary: '{cursor}'", param="starting_after")
    resumed = int(end)
    if not request.start_time <= resumed <= request.end_time or resumed % width:
        raise InvalidParameter(f"No such summary: '{cursor}'", param="starting_after")
    return resumed


async def list_event_summaries(ctx: Context, request: ListSummaries) -> ApiObject:
    meter = await load_meter(ctx, request.meter)
    customer = await load_customer_named(ctx, request.customer, param="customer")
    _check_aligned(request.start_time, MINUTE_SECONDS, "start_time", "minute")
    _check_aligned(request.end_time, MINUTE_SECONDS, "end_time", "minute")
    if request.end_time <= request.start_time:
        raise InvalidParameter("end_time must be after start_time.", param="end_time")
    url = f"{RESOURCE.url}/{meter['id']}/event_summaries"
    event_name, formula = str(meter["event_name"]), formula_of(meter)
    if request.value_grouping_window is None:
        scope = UsageScope(
            ctx.account_id, event_name, customer["id"], request.start_time, request.end_time
        )
        value = await ctx.tx.meter_usage(scope, formula)
        summary = _summary(meter, request.start_time, request.end_time, value)
        return list_envelope(ListPage([summary], has_more=False), url)
    width = WINDOW_SECONDS[request.value_grouping_window]
    what = "UTC day" if request.value_grouping_window == "day" else "hour"
    _check_aligned(request.start_time, width, "start_time", what)
    _check_aligned(request.end_time, width, "end_time", what)
    start = _resume_at(request, width)
    limit = request.limit or LIST_LIMIT_DEFAULT
    scope = UsageScope(ctx.account_id, event_name, customer["id"], start, request.end_time)
    windows = await ctx.tx.meter_usage_windows(scope, formula, width, limit + 1)
    data = [
        _summary(meter, start + number * width, start + (number + 1) * width, value)
        for number, value in windows[:limit]
    ]
    return list_envelope(ListPage(data, has_more=len(windows) > limit), url)


RESOURCE = Resource(
    object_name="billing.meter",
    id_prefix="mtr",
    collection="billing/meters",
    table=BILLING_METERS,
    create=Operation(
        request_parser(
            CreateMeter,
            CREATE_PARAMS,
            required=("default_aggregation", "display_name", "event_name"),
        ),
        create_meter,
        writes=True,
    ),
    retrieve=Operation(no_params, retrieve_meter, writes=False),
    update=Operation(
        request_parser(UpdateMeter, UPDATE_PARAMS, ids=("meter",)), update_meter, writes=True
    ),
    actions={
        "deactivate": Operation(
            request_parser(UpdateMeter, {}, ids=("meter",)), deactivate_meter, writes=True
        ),
        "reactivate": Operation(
            request_parser(UpdateMeter, {}, ids=("meter",)), reactivate_meter, writes=True
        ),
    },
    sublists={
        "event_summaries": Operation(
            request_parser(
                ListSummaries,
                SUMMARY_PARAMS,
                ids=("meter",),
                required=("customer", "start_time", "end_time"),
            ),
            list_event_summaries,
            writes=False,
        )
    },
    list_filters=LIST_FILTERS,
    # Stripe's list takes only the cursors and `status`.
    list_created=False,
    event_types=EVENT_TYPES,
)
