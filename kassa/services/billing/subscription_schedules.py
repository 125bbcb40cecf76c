"""Subscription schedules (`/v1/subscription_schedules`): the resource (`RESOURCE`) and
create, retrieve, update, list, cancel and release. A schedule either governs an existing
subscription (`from_subscription`: one phase, its current items and period, then `release`)
or starts one for a customer at its `start_date` (`not_started` until then) and moves it
through its phases (`subscription_schedule_phases`: their parameters and checks); what
happens as its time comes is `subscription_schedule_transitions`, its document and due time
`subscription_schedule_documents`.

Statuses as Stripe's reference has them: `not_started`, `active`, `released` (by `POST
.../release`, or at the end with `end_behavior=release`), `completed` (at the end with
`end_behavior=cancel`, its subscription canceled), `canceled` (by `POST .../cancel`, or
its subscription ending otherwise). Only a `not_started` or `active` schedule can be
updated, canceled or released (Stripe's cancel and release docstrings).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Final

from kassa.errors import InvalidParameter, InvalidRequest, MissingParameter, ResourceMissing
from kassa.ids import new_id
from kassa.params import (
    Boolean,
    Enum,
    Metadata,
    MetadataUpdate,
    NotSupported,
    Param,
    String,
    TimestampRange,
    apply_metadata,
)
from kassa.services import payment_methods
from kassa.services.billing import subscription_billing_mode
from kassa.services.billing import subscription_schedule_phases as phases
from kassa.services.billing import subscription_schedule_transitions as transitions
from kassa.services.billing.invoice_changes import billed_customer
from kassa.services.billing.subscription_documents import ENDED, current_period, items_of
from kassa.services.billing.subscription_documents import announce as announce_subscription
from kassa.services.billing.subscription_documents import find as find_subscription
from kassa.services.billing.subscription_documents import save as save_subscription
from kassa.services.billing.subscription_documents import snapshot as subscription_snapshot
from kassa.services.billing.subscription_final import final_items
from kassa.services.billing.subscription_params import BILLING_MODE, PRORATION_BEHAVIORS
from kassa.services.billing.subscription_schedule_documents import (
    ANCHOR_DAY,
    EXPIRING_SENT,
    LIVE,
    PHASE,
    STATUSES,
    anchor_day,
    announce,
    current_phase,
    day_of_month,
    end_as,
    expiring_at,
    insert,
    private,
    save,
    view,
)
from kassa.services.billing.subscriptions import CANCELLATION_REQUESTED, cancel_now
from kassa.services.context import Context
from kassa.services.listing import (
    LIST_LIMIT_DEFAULT,
    PAGINATION_PARAMS,
    list_page_with,
    load_live_object,
    load_object,
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
from kassa.services.stripe_event_types import STRIPE_EVENT_TYPES
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import PRIVATE, SUBSCRIPTION_SCHEDULES

ID_CHARS_MAX: Final = 255
EVENT_PREFIX: Final = "subscription_schedule."
END_BEHAVIORS: Final = ("release", "cancel")
"""Stripe's two documented values; its enum's legacy `none` and `renew` are refused."""
NO_PAUSE_SCHEDULES: Final = "pause schedules are not implemented."
CREATE_PARAMS: dict[str, Param] = {
    "billing_mode": BILLING_MODE,
    "customer": String(max_chars=ID_CHARS_MAX),
    "customer_account": NotSupported(reason="Kassa bills customers, not accounts."),
    "default_settings": phases.DEFAULT_SETTINGS,
    "end_behavior": Enum(values=END_BEHAVIORS),
    "from_subscription": String(max_chars=ID_CHARS_MAX),
    "metadata": Metadata(),
    "pause_schedules": NotSupported(reason=NO_PAUSE_SCHEDULES),
    "phases": phases.CREATE_PHASES,
    "start_date": String(max_chars=phases.MOMENT_CHARS_MAX),
}
UPDATE_PARAMS: dict[str, Param] = {
    "default_settings": phases.DEFAULT_SETTINGS,
    "end_behavior": Enum(values=END_BEHAVIORS),
    "metadata": Metadata(),
    "pause_schedules": NotSupported(reason=NO_PAUSE_SCHEDULES),
    "phases": phases.UPDATE_PHASES,
    "proration_behavior": Enum(values=PRORATION_BEHAVIORS),
}
CANCEL_PARAMS: dict[str, Param] = {"invoice_now": Boolean(), "prorate": Boolean()}
RELEASE_PARAMS: dict[str, Param] = {"preserve_cancel_date": Boolean()}
LIST_PARAMS: dict[str, Param] = {
    **PAGINATION_PARAMS,
    "canceled_at": TimestampRange(),
    "completed_at": TimestampRange(),
    "customer": String(max_chars=ID_CHARS_MAX),
    "customer_account": NotSupported(reason="Kassa bills customers, not accounts."),
    "released_at": TimestampRange(),
    "scheduled": Boolean(),
}
FROM_SUBSCRIPTION_ALONE: Final = (
    "customer",
    "phases",
    "start_date",
    "end_behavior",
    "default_settings",
    "metadata",
    "billing_mode",
)
"""Stripe: "When using this parameter, other parameters (such as phase values) cannot be set"."""


@dataclass(frozen=True, kw_only=True)
class CreateSchedule:
    billing_mode: dict[str, Any] | None = None
    customer: str | None = None
    default_settings: dict[str, Any] | None = None
    end_behavior: str | None = None
    from_subscription: str | None = None
    metadata: MetadataUpdate | None = None
    phases: list[dict[str, Any]] | None = None
    start_date: str | None = None


@dataclass(frozen=True, kw_only=True)
class UpdateSchedule:
    schedule: str
    default_settings: dict[str, Any] | None = None
    end_behavior: str | None = None
    metadata: MetadataUpdate | None = None
    phases: list[dict[str, Any]] | None = None
    proration_behavior: str | None = None


@dataclass(frozen=True, kw_only=True)
class CancelSchedule:
    schedule: str
    invoice_now: bool | None = None
    prorate: bool | None = None


@dataclass(frozen=True, kw_only=True)
class ReleaseSchedule:
    schedule: str
    preserve_cancel_date: bool | None = None


@dataclass(frozen=True, kw_only=True)
class ListSchedules:
    limit: int | None = None
    starting_after: str | None = None
    ending_before: str | None = None
    created: dict[str, int] | None = None
    canceled_at: dict[str, int] | None = None
    completed_at: dict[str, int] | None = None
    customer: str | None = None
    released_at: dict[str, int] | None = None
    scheduled: bool | None = None


# -- create ---------------------------------------------------------------------------------


async def create_schedule(ctx: Context, request: CreateSchedule) -> ApiObject:
    if request.from_subscription is not None:
        return await _from_subscription(ctx, request, request.from_subscription)
    customer = await billed_customer(ctx, request.customer)
    ctx = await ctx.governed_by(customer)
    if request.phases is None:
        raise MissingParameter("phases")
    now = ctx.now()
    start = phases.moment(request.start_date or "now", "start_date", now)
    if start < now:
        raise InvalidParameter(
            f"start_date {start} is in the past: Kassa does not backdate subscriptions "
            "(start `now` or later).",
            param="start_date",
        )
    resolved = await phases.resolve_phases(
        ctx, request.phases, start, anchor_day=day_of_month(start)
    )
    phases.check_trials(resolved, first_starts_subscription=True)
    schedule = _blank(ctx, customer, request)
    private(schedule)[ANCHOR_DAY] = day_of_month(start)
    await _apply_default_settings(ctx, schedule, request.default_settings)
    schedule["phases"] = resolved
    await _check_phase_payment_methods(ctx, schedule)
    await insert(ctx, schedule)
    await announce(ctx, "subscription_schedule.created", schedule)
    if start == now:
        await transitions.start(ctx, schedule)
    return view(schedule)


def _blank(ctx: Context, customer: ApiObject, request: CreateSchedule) -> ApiObject:
    now = ctx.now()
    return {
        "id": new_id("sub_sched"),
        "object": "subscription_schedule",
        "application": None,
        "billing_mode": subscription_billing_mode.chosen(request.billing_mode, now),
        "canceled_at": None,
        "completed_at": None,
        "created": now,
        "current_phase": None,
        "customer": customer["id"],
        "customer_account": None,
        "default_settings": {
            "application_fee_percent": None,
            "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
            "billing_cycle_anchor": "automatic",
            "billing_thresholds": None,
            "collection_method": "charge_automatically",
            "default_payment_method": None,
            "description": None,
            "invoice_settings": {
                "account_tax_ids": None,
                "days_until_due": None,
                "issuer": {"type": "self"},
            },
            "on_behalf_of": None,
            "transfer_data": None,
        },
        "end_behavior": request.end_behavior or "release",
        "livemode": ctx.livemode,
        "metadata": apply_metadata({}, request.metadata or {}),
        "pause_schedules": [],
        "phases": [],
        "released_at": None,
        "released_subscription": None,
        "status": "not_started",
        "subscription": None,
        "test_clock": customer.get("test_clock"),
        PRIVATE: {PHASE: None, EXPIRING_SENT: False},
    }


async def _from_subscription(
    ctx: Context, request: CreateSchedule, subscription_id: str
) -> ApiObject:
    """A schedule over a running subscription: one phase, its items from the current
    period's start to its end, `end_behavior=release` (Stripe: "created using the
    subscription's item(s)"; add phases by updating it)."""
    for name in FROM_SUBSCRIPTION_ALONE:
        if getattr(request, name) is not None:
            raise InvalidParameter(
                f"{name} cannot be set with from_subscription: create the schedule from the "
                "subscription, then update it.",
                param=name,
            )
    subscription = await find_subscription(ctx, subscription_id)
    if subscription is None:
        raise ResourceMissing("subscription", subscription_id, param="from_subscription")
    ctx = await ctx.governed_by(subscription)
    _check_schedulable(subscription)
    customer = await billed_customer(ctx, str(subscription["customer"]))
    schedule = _blank(ctx, customer, request)
    schedule["billing_mode"] = copy.deepcopy(subscription["billing_mode"])
    settings = schedule["default_settings"]
    settings["collection_method"] = subscription["collection_method"]
    settings["default_payment_method"] = subscription["default_payment_method"]
    settings["invoice_settings"]["days_until_due"] = subscription["days_until_due"]
    schedule["phases"] = [_phase_of(subscription)]
    schedule["status"] = "active"
    schedule["subscription"] = subscription["id"]
    private(schedule)[PHASE] = 0
    private(schedule)[ANCHOR_DAY] = day_of_month(int(subscription["billing_cycle_anchor"]))
    await insert(ctx, schedule)
    before = subscription_snapshot(subscription)
    subscription["schedule"] = schedule["id"]
    await save_subscription(ctx, subscription)
    await announce(ctx, "subscription_schedule.created", schedule)
    await announce_subscription(ctx, "customer.subscription.updated", subscription, before)
    await transitions.announce_expiring_if_due(ctx, schedule)
    return view(schedule)


def _check_schedulable(subscription: ApiObject) -> None:
    if subscription["schedule"] is not None:
        raise InvalidParameter(
            f"Subscription {subscription['id']} is already managed by the subscription "
            f"schedule {subscription['schedule']}.",
            param="from_subscription",
        )
    if subscription["status"] in (*ENDED, "incomplete", "paused"):
        raise InvalidParameter(
            f"Subscription {subscription['id']} is {subscription['status']}: only a running "
            "subscription can be managed by a schedule.",
            param="from_subscription",
        )


def _phase_of(subscription: ApiObject) -> ApiObject:
    start, end = current_period(subscription)
    items = [
        phases.phase_item(str(item["price"]["id"]), int(item["quantity"]), item["metadata"])
        for item in items_of(subscription)
    ]
    # The subscription's discounts stay as they are: the phase names none, and a later
    # phase changes them only if it names some.
    phase = phases.stored_phase({}, items, subscription["currency"], (start, end))
    if subscription["status"] == "trialing":
        phase["trial_end"] = subscription["trial_end"]
    return phase


async def _apply_default_settings(
    ctx: Context, schedule: ApiObject, sent: dict[str, Any] | None
) -> None:
    if sent is None:
        return
    settings = schedule["default_settings"]
    for name in ("collection_method", "default_payment_method"):
        if name in sent:
            settings[name] = sent[name]
    if "days_until_due" in (sent.get("invoice_settings") or {}):
        settings["invoice_settings"]["days_until_due"] = sent["invoice_settings"]["days_until_due"]
    method = settings["default_payment_method"]
    if "default_payment_method" in sent and method is not None:
        param = "default_settings[default_payment_method]"
        settings["default_payment_method"] = await _customers_method(ctx, schedule, method, param)


async def _check_phase_payment_methods(ctx: Context, schedule: ApiObject) -> None:
    for index, phase in enumerate(schedule["phases"]):
        method = phase["default_payment_method"]
        if method is not None:
            param = f"phases[{index}][default_payment_method]"
            phase["default_payment_method"] = await _customers_method(ctx, schedule, method, param)


async def _customers_method(ctx: Context, schedule: ApiObject, reference: str, param: str) -> str:
    """A payment method of the schedule's customer (Stripe: "It must belong to the customer
    associated with the subscription schedule")."""
    payment_method = await payment_methods.resolve(ctx, reference, param=param)
    if payment_method["customer"] != schedule["customer"]:
        raise InvalidRequest(
            f"The customer does not have a payment method with the ID {reference}. The "
            "payment method must be attached to the customer.",
            param=param,
            code="resource_missing",
        )
    return str(payment_method["id"])


# -- retrieve, update -----------------------------------------------------------------------


async def retrieve_schedule(ctx: Context, schedule_id: str) -> ApiObject:
    schedule, _ = await load_object(ctx, RESOURCE, schedule_id)
    return view(schedule)


async def _live_schedule(ctx: Context, schedule_id: str, doing: str) -> tuple[Context, ApiObject]:
    schedule = await load_live_object(ctx, RESOURCE, schedule_id)
    if schedule["status"] not in LIVE:
        raise InvalidRequest(
            f"You cannot {doing} the subscription schedule {schedule['id']}: it is "
            f"{schedule['status']} (only a not_started or active schedule can be)."
        )
    return await ctx.governed_by(schedule), schedule


async def update_schedule(ctx: Context, request: UpdateSchedule) -> ApiObject:
    ctx, schedule = await _live_schedule(ctx, request.schedule, "update")
    before = copy.deepcopy(schedule)
    if request.end_behavior is not None:
        schedule["end_behavior"] = request.end_behavior
    if request.metadata is not None:
        schedule["metadata"] = apply_metadata(schedule["metadata"], request.metadata)
    await _apply_default_settings(ctx, schedule, request.default_settings)
    starts_now = False
    if request.phases is not None:
        starts_now = await _replace_phases(ctx, schedule, request.phases)
        await _check_phase_payment_methods(ctx, schedule)
    if schedule["status"] == "active" and (request.phases or request.default_settings):
        # The current phase as it now reads, applied to the subscription at once with the
        # request's `proration_behavior` (Stripe's default `create_prorations`).
        behavior = request.proration_behavior or "create_prorations"
        await transitions.apply_phase(ctx, schedule, current_phase(before), behavior)
    if schedule != before:
        await save(ctx, schedule)
        await announce(ctx, "subscription_schedule.updated", schedule, before)
    if starts_now:
        await transitions.start(ctx, schedule)
    await transitions.announce_expiring_if_due(ctx, schedule)
    return view(schedule)


async def _replace_phases(ctx: Context, schedule: ApiObject, sent: list[dict[str, Any]]) -> bool:
    """The schedule's phases replaced as Stripe replaces them: the first sent starts at the
    start of the current phase (or of a past one, past phases sent unchanged; "past phases
    can be omitted"), or for a schedule not started yet, when it is to start (`now`, or a
    later time); each later one where the one before ends. Whether the schedule starts now."""
    now = ctx.now()
    if not sent:
        raise MissingParameter("phases")
    if "start_date" not in sent[0]:
        raise MissingParameter("phases[0][start_date]")
    start = phases.moment(sent[0]["start_date"], "phases[0][start_date]", now)
    past = _past_phases(schedule, start, now)
    currency = None if schedule["status"] == "not_started" else schedule["phases"][0]["currency"]
    if schedule["status"] == "not_started":
        # Its subscription is yet to be made, anchored where the phases now start.
        private(schedule)[ANCHOR_DAY] = day_of_month(start)
    resolved = await phases.resolve_phases(
        ctx, _timed(sent, now), start, anchor_day=anchor_day(schedule), currency=currency
    )
    _check_starts(sent, resolved, now)
    phases.check_trials(resolved, first_starts_subscription=schedule["status"] == "not_started")
    if schedule["status"] == "active":
        _check_past_unchanged(schedule, resolved, past, now)
        private(schedule)[PHASE] = past
    schedule["phases"] = resolved
    if expiring_at(schedule) > now:
        private(schedule)[EXPIRING_SENT] = False
    return schedule["status"] == "not_started" and start == now


def _past_phases(schedule: ApiObject, start: int, now: int) -> int:
    """How many phases before the current one the sent phases begin with."""
    if schedule["status"] == "not_started":
        if start < now:
            raise InvalidParameter(
                f"phases[0][start_date] {start} is in the past: Kassa does not backdate "
                "subscriptions.",
                param="phases[0][start_date]",
            )
        return 0
    index = int(private(schedule)[PHASE])
    stored = schedule["phases"]
    for first in range(index + 1):
        if int(stored[first]["start_date"]) == start:
            return index - first
    raise InvalidParameter(
        f"phases[0][start_date] must be the start of the current phase "
        f"({stored[index]['start_date']}), or of a phase before it: a phase that has begun "
        "cannot move.",
        param="phases[0][start_date]",
    )


def _timed(sent: list[dict[str, Any]], now: int) -> list[dict[str, Any]]:
    """The update's phases with their times as unix times (`now` taken only where a
    schedule starts: a phase's end or trial's end at `now` is refused)."""
    timed = []
    for index, sent_phase in enumerate(sent):
        phase = {k: v for k, v in sent_phase.items() if k != "start_date"}
        for name in ("end_date", "trial_end"):
            if name in phase:
                path = f"phases[{index}][{name}]"
                if phase[name] == "now":
                    raise InvalidParameter(
                        f"Kassa takes {path} as a unix time, not `now`.", param=path
                    )
                phase[name] = phases.moment(phase[name], path, now)
        timed.append(phase)
    return timed


def _check_starts(sent: list[dict[str, Any]], resolved: list[ApiObject], now: int) -> None:
    for index in range(1, len(sent)):
        if "start_date" not in sent[index]:
            continue
        path = f"phases[{index}][start_date]"
        if phases.moment(sent[index]["start_date"], path, now) != resolved[index]["start_date"]:
            raise InvalidParameter(
                f"{path} must equal the end of the phase before it "
                f"({resolved[index]['start_date']}): phases are contiguous.",
                param=path,
            )


def _check_past_unchanged(
    schedule: ApiObject, resolved: list[ApiObject], past: int, now: int
) -> None:
    if len(resolved) <= past:
        raise InvalidParameter(
            "phases must include the current phase and any after it.", param="phases"
        )
    first = int(private(schedule)[PHASE]) - past
    for index in range(past):
        if resolved[index]["end_date"] != schedule["phases"][first + index]["end_date"]:
            raise InvalidParameter(
                f"phases[{index}] has ended: its end_date cannot change.",
                param=f"phases[{index}][end_date]",
            )
    if resolved[past]["end_date"] <= now:
        raise InvalidParameter(
            "The current phase must end after now.", param=f"phases[{past}][end_date]"
        )


# -- cancel, release, list ------------------------------------------------------------------


async def cancel_schedule(ctx: Context, request: CancelSchedule) -> ApiObject:
    """Canceled now, and its subscription with it (Stripe's cancel docstring), settling it
    as `DELETE /v1/subscriptions/{id}` would with `invoice_now` and `prorate` (both true
    unless sent false, as Stripe's defaults are); with nothing to invoice, no invoice."""
    ctx, schedule = await _live_schedule(ctx, request.schedule, "cancel")
    subscription = await transitions.live_subscription(ctx, schedule)
    end_as(schedule, "canceled", ctx.now())
    await save(ctx, schedule)
    if subscription is not None:
        prorate = request.prorate is not False
        invoice_now = request.invoice_now is not False and (
            prorate or bool(await final_items(ctx, subscription))
        )
        await cancel_now(
            ctx, subscription, CANCELLATION_REQUESTED, invoice_now=invoice_now, prorate=prorate
        )
    await announce(ctx, "subscription_schedule.canceled", schedule)
    return view(schedule)


async def release_schedule(ctx: Context, request: ReleaseSchedule) -> ApiObject:
    """Released now: its subscription goes on without it. `preserve_cancel_date` ("keep any
    cancellation on the subscription that the schedule has set") changes nothing in Kassa,
    whose schedules set none (`end_behavior=cancel` cancels at the end itself)."""
    ctx, schedule = await _live_schedule(ctx, request.schedule, "release")
    subscription = await transitions.live_subscription(ctx, schedule)
    await transitions.release(ctx, schedule, subscription)
    return view(schedule)


async def list_schedules(ctx: Context, request: ListSchedules) -> ApiObject:
    if request.scheduled is None:
        statuses: tuple[str, ...] = STATUSES
    elif request.scheduled:
        statuses = ("not_started",)
    else:
        statuses = tuple(s for s in STATUSES if s != "not_started")
    ranges = {
        name: getattr(request, name)
        for name in ("canceled_at", "completed_at", "released_at")
        if getattr(request, name)
    }
    query = ObjectListQuery(
        limit=request.limit or LIST_LIMIT_DEFAULT,
        equals={} if request.customer is None else {"customer": request.customer},
        created=request.created or {},
        any_of={"status": statuses},
        ranges=ranges,
    )
    cursors = {"starting_after": request.starting_after, "ending_before": request.ending_before}
    page = await list_page_with(ctx, RESOURCE, cursors, query)
    return list_envelope(ListPage([view(s) for s in page.data], page.has_more), RESOURCE.url)


RESOURCE = Resource(
    object_name="subscription_schedule",
    id_prefix="sub_sched",
    collection="subscription_schedules",
    table=SUBSCRIPTION_SCHEDULES,
    create=Operation(request_parser(CreateSchedule, CREATE_PARAMS), create_schedule, writes=True),
    retrieve=Operation(no_params, retrieve_schedule, writes=False),
    update=Operation(
        request_parser(UpdateSchedule, UPDATE_PARAMS, ids=("schedule",)),
        update_schedule,
        writes=True,
    ),
    lister=Operation(request_parser(ListSchedules, LIST_PARAMS), list_schedules, writes=False),
    actions={
        "cancel": Operation(
            request_parser(CancelSchedule, CANCEL_PARAMS, ids=("schedule",)),
            cancel_schedule,
            writes=True,
        ),
        "release": Operation(
            request_parser(ReleaseSchedule, RELEASE_PARAMS, ids=("schedule",)),
            release_schedule,
            writes=True,
        ),
    },
    # Every one Stripe announces about schedules (`.aborted` when its subscription ends for
    # failed payments, `.expiring` seven days before its end).
    event_types=tuple(sorted(t for t in STRIPE_EVENT_TYPES if t.startswith(EVENT_PREFIX))),
    expandable={
        "customer": "customer",
        "subscription": "subscription",
        "test_clock": "test_helpers.test_clock",
        "phases.default_payment_method": "payment_method",
        "default_settings.default_payment_method": "payment_method",
    },
)
