"""Billing alerts (`/v1/billing/alerts`, `alrt_...`): create, retrieve, list (by `meter` and
`alert_type`), and the status machine `activate`, `deactivate` and `archive`. An alert watches
the usage of one meter, of one customer (a `customer` filter) or of every customer, and
triggers once per customer (`kassa.services.billing.alert_triggers`, run by every meter event
and adjustment).

Where each behaviour comes from:
- fields and parameters: the installed SDK (`stripe/billing/_alert.py`,
  `params/billing/_alert_create_params.py`, `_alert_list_params.py`); `title` "The maximum
  length is 256 characters" and `usage_threshold[gte]` "must be greater than 0" (Stripe's
  API reference and the SDK's parameter docstring); "You can only specify up to one filter at
  this time".
- the statuses: `deactivate` "Deactivates this alert, preventing it from triggering",
  `activate` "Reactivates this alert, allowing it to trigger again", `archive` "Archives this
  alert, removing it from the list view and APIs. This is non-reversible", and the list
  "Lists billing active and inactive alerts" (Stripe's API reference). So: active <->
  inactive, either -> archived, and nothing out of archived; the list never shows an
  archived alert.
- "You can create a maximum of 25 alerts for each combination of a specific meter and
  customer" (Stripe's guide "Set up usage-based alerts"): counted over the alerts not
  archived, the alerts on every customer being one such combination.
Kassa's own choices (Stripe's docs do not say): moving an alert to the status it has already
is refused (as a meter's deactivate is); an archived alert can still be retrieved (by its id,
status `archived`) though no list shows it; an alert may watch a meter that is inactive (no
event comes for it until it is reactivated). Stripe announces no event about an alert's own
changes (its event types have only `billing.alert.triggered`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from kassa.clock import unix_seconds
from kassa.errors import InvalidParameter, InvalidRequest
from kassa.ids import new_id
from kassa.params import Enum, Integer, ListOf, Param, String, Struct
from kassa.services.billing.meters import load_meter
from kassa.services.context import Context
from kassa.services.customer_lookup import load_customer_named
from kassa.services.listing import (
    CURSOR_PARAMS,
    LIST_LIMIT_DEFAULT,
    ListRequest,
    list_page_with,
    load_live_object,
)
from kassa.services.resource import (
    ApiObject,
    ListPage,
    Operation,
    ParamsParser,
    Resource,
    RouteIds,
    list_envelope,
    no_params,
    request_parser,
)
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import BILLING_ALERTS, PRIVATE

TITLE_CHARS_MAX: Final = 256
"""Stripe: the title's "maximum length is 256 characters"."""
FILTERS_MAX: Final = 1
"""Stripe: "You can only specify up to one filter at this time"."""
ALERTS_PER_COMBINATION_MAX: Final = 25
"""Stripe: at most 25 alerts for each combination of a meter and a customer; also what one
meter event reads of the alerts watching its customer, and of those on every customer."""
TRIGGERED: Final = "billing.alert.triggered"
LIVE_STATUSES: Final = ("active", "inactive")
"""The statuses a list shows and the per-combination limit counts: all but `archived`."""

_FILTER: Final = Struct(
    {"type": Enum(values=("customer",)), "customer": String(max_chars=255)},
    required=("type", "customer"),
)
CREATE_PARAMS: Final[dict[str, Param]] = {
    "alert_type": Enum(values=("usage_threshold",)),
    "title": String(max_chars=TITLE_CHARS_MAX),
    "usage_threshold": Struct(
        {
            "filters": ListOf(_FILTER, max_items=FILTERS_MAX),
            "gte": Integer(minimum=1),
            "meter": String(max_chars=255),
            "recurrence": Enum(values=("one_time",)),
        },
        required=("gte", "meter", "recurrence"),
    ),
}
LIST_PARAMS: Final[dict[str, Param]] = {
    **CURSOR_PARAMS,
    "alert_type": Enum(values=("usage_threshold",)),
    "meter": String(max_chars=255),
}
"""Stripe's alert list takes the cursors, `alert_type` and `meter` (no `created`)."""


@dataclass(frozen=True, kw_only=True)
class CreateAlert:
    alert_type: str
    title: str
    usage_threshold: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class AlertAction:
    alert: str


_KASSA_OWN: Final = frozenset({"created", PRIVATE})


def view(alert: ApiObject) -> ApiObject:
    """The alert as the API shows it: without the `created` Kassa keeps for its table, nor
    the time it counts usage from (`counts_from_ms`)."""
    return {key: value for key, value in alert.items() if key not in _KASSA_OWN}


def counts_from_ms(alert: ApiObject) -> int:
    """When the alert was made, in the installation's time (ms): it counts the usage
    reported since (`alert_triggers`)."""
    return int(alert[PRIVATE]["counts_from_ms"])


async def load_alert(ctx: Context, alert_id: str) -> ApiObject:
    """The stored alert, with its `created`; ResourceMissing naming `id` if none."""
    return await load_live_object(ctx, RESOURCE, alert_id)


async def create_alert(ctx: Context, request: CreateAlert) -> ApiObject:
    if not request.title:
        raise InvalidParameter("The alert's title cannot be empty.", param="title")
    if request.usage_threshold is None:
        # Stripe's only alert type needs its configuration.
        raise InvalidParameter(
            "usage_threshold is required when alert_type is usage_threshold.",
            param="usage_threshold",
        )
    threshold = request.usage_threshold
    meter = await load_meter(ctx, str(threshold["meter"]), param="usage_threshold[meter]")
    customer = await _filter_customer(ctx, threshold.get("filters") or [])
    await _check_room(ctx, str(meter["id"]), customer)
    alert: ApiObject = {
        "id": new_id("alrt"),
        "object": "billing.alert",
        "alert_type": request.alert_type,
        "livemode": ctx.livemode,
        "status": "active",
        "title": request.title,
        "usage_threshold": {
            "filters": None if customer is None else [{"customer": customer, "type": "customer"}],
            "gte": threshold["gte"],
            "meter": meter["id"],
            "recurrence": threshold["recurrence"],
        },
        # Not fields Stripe shows (`view` leaves them out): the table's `created` column, and
        # the installation's time (ms) from which the alert counts the usage reported.
        "created": unix_seconds(ctx.clock),
        PRIVATE: {"counts_from_ms": int(ctx.clock.now() * 1000)},
    }
    await ctx.tx.insert_object(BILLING_ALERTS, ctx.account_id, alert)
    return view(alert)


async def _filter_customer(ctx: Context, filters: list[dict[str, Any]]) -> str | None:
    """The customer the (at most one) filter names, which must exist."""
    if not filters:
        return None
    param = "usage_threshold[filters][0][customer]"
    customer = await load_customer_named(ctx, str(filters[0]["customer"]), param=param)
    return str(customer["id"])


async def watching(
    ctx: Context, meter_id: str, customer: str | None, statuses: tuple[str, ...]
) -> list[ApiObject]:
    """The alerts on the meter with one of `statuses` whose filter names `customer` (None:
    the alerts with no filter, on every customer), at most `ALERTS_PER_COMBINATION_MAX`."""
    query = ObjectListQuery(
        limit=ALERTS_PER_COMBINATION_MAX,
        equals={"meter": meter_id}
        if customer is None
        else {"meter": meter_id, "customer": customer},
        any_of={"status": statuses},
        nulls={"customer": True} if customer is None else {},
    )
    page = await ctx.tx.list_objects(BILLING_ALERTS, ctx.account_id, query)
    return page.objects


async def _check_room(ctx: Context, meter_id: str, customer: str | None) -> None:
    if len(await watching(ctx, meter_id, customer, LIVE_STATUSES)) >= ALERTS_PER_COMBINATION_MAX:
        whom = "every customer" if customer is None else f"customer {customer}"
        raise InvalidParameter(
            f"The meter {meter_id} has {ALERTS_PER_COMBINATION_MAX} alerts on {whom} already, "
            "the most it may have.",
            param="usage_threshold[meter]",
        )


async def retrieve_alert(ctx: Context, alert_id: str) -> ApiObject:
    return view(await load_alert(ctx, alert_id))


_ALLOWED_FROM: Final[dict[str, tuple[str, ...]]] = {
    "active": ("inactive",),
    "inactive": ("active",),
    "archived": LIVE_STATUSES,
}
"""Each status -> the statuses an alert may be moved to it from."""


async def _move(ctx: Context, alert_id: str, wanted: str) -> ApiObject:
    alert = await load_alert(ctx, alert_id)
    status = str(alert["status"])
    if status not in _ALLOWED_FROM[wanted]:
        reason = "it is archived, for good" if status == "archived" else f"it is already {wanted}"
        raise InvalidRequest(f"The alert {alert_id} cannot be made {wanted}: {reason}.", param="id")
    alert["status"] = wanted
    await ctx.tx.update_object(BILLING_ALERTS, ctx.account_id, alert)
    return view(alert)


async def activate_alert(ctx: Context, request: AlertAction) -> ApiObject:
    """It triggers again, for the customers it has not triggered for yet (`one_time`)."""
    return await _move(ctx, request.alert, "active")


async def deactivate_alert(ctx: Context, request: AlertAction) -> ApiObject:
    return await _move(ctx, request.alert, "inactive")


async def archive_alert(ctx: Context, request: AlertAction) -> ApiObject:
    return await _move(ctx, request.alert, "archived")


def _parse_list(_ids: RouteIds, params: dict[str, Any]) -> ListRequest:
    return ListRequest(RESOURCE, params)


async def list_alerts(ctx: Context, request: ListRequest) -> ApiObject:
    params = request.params
    # Every alert is a `usage_threshold` one: the `alert_type` filter keeps them all.
    query = ObjectListQuery(
        limit=params.get("limit", LIST_LIMIT_DEFAULT),
        equals={"meter": params["meter"]} if "meter" in params else {},
        any_of={"status": LIVE_STATUSES},
    )
    page = await list_page_with(ctx, RESOURCE, params, query)
    return list_envelope(ListPage([view(a) for a in page.data], page.has_more), RESOURCE.url)


async def _fetch_view(ctx: Context, alert_id: str) -> ApiObject | None:
    """The alert for expansion, as the API shows it."""
    found = await ctx.tx.get_object(BILLING_ALERTS, ctx.account_id, alert_id, lock=False)
    return None if found is None else view(found[0])


def _action(
    handler: Callable[[Context, AlertAction], Awaitable[ApiObject]],
) -> Operation[AlertAction]:
    return Operation(request_parser(AlertAction, {}, ids=("alert",)), handler, writes=True)


RESOURCE = Resource(
    object_name="billing.alert",
    id_prefix="alrt",
    collection="billing/alerts",
    table=BILLING_ALERTS,
    create=Operation(
        request_parser(CreateAlert, CREATE_PARAMS, required=("alert_type", "title")),
        create_alert,
        writes=True,
    ),
    retrieve=Operation(no_params, retrieve_alert, writes=False),
    lister=Operation(ParamsParser(LIST_PARAMS, _parse_list), list_alerts, writes=False),
    actions={
        "activate": _action(activate_alert),
        "deactivate": _action(deactivate_alert),
        "archive": _action(archive_alert),
    },
    expandable={
        "usage_threshold.meter": "billing.meter",
        "usage_threshold.filters.customer": "customer",
    },
    fetch=_fetch_view,
    event_types=(TRIGGERED,),
)
