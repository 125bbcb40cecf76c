"""Subscription schedules as stored and shown, when their next work is due, and what a
subscription's end does to the schedule attached to it.

Kassa's own facts about a schedule live under `_kassa` and never reach a client:
`transitions_at`, when it next has work due (its start, the end of its current phase, the
`subscription_schedule.expiring` notice), which the clock work and the `invoices` job scan
(an indexed column), derived from the rest of the document on every write (`next_work_at`)
and never set by hand; `phase`, the index in `phases` of the phase the subscription is in
(None before the start); `expiring_sent`.

Its own module, apart from the resource (`subscription_schedules`), because a
subscription's end reaches it (`subscription_ended`, called by `subscriptions`, which the
resource builds on).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from kassa.services import events
from kassa.services.billing import periods
from kassa.services.context import Context
from kassa.services.resource import ApiObject
from kassa.store.tables import PRIVATE, SUBSCRIPTION_SCHEDULES

TRANSITIONS_AT: Final = "transitions_at"
PHASE: Final = "phase"
EXPIRING_SENT: Final = "expiring_sent"
ANCHOR_DAY: Final = "anchor_day"
"""The day of month the schedule's calendar phases end on (its subscription's billing cycle
anchor's, or its start's), so that a phase of whole months ends where a period does even
after a month too short for that day (`subscription_schedule_phases.resolve_phases`)."""
EXPIRING_NOTICE_SECONDS: Final = 7 * 86_400
"""Stripe's `subscription_schedule.expiring`: "Occurs 7 days before a subscription schedule
will expire"."""
STATUSES: Final = ("active", "canceled", "completed", "not_started", "released")
LIVE: Final = ("not_started", "active")
"""The statuses in which a schedule still governs (or will govern) a subscription: the only
ones Stripe lets cancel, release or update it."""


def private(schedule: Mapping[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = schedule[PRIVATE]
    return found


def anchor_day(schedule: Mapping[str, Any]) -> int:
    """`ANCHOR_DAY`, or, for a schedule stored before it was kept, its first phase's start's."""
    day = private(schedule).get(ANCHOR_DAY)
    return int(day) if day is not None else day_of_month(int(schedule["phases"][0]["start_date"]))


def day_of_month(moment: int) -> int:
    return periods.to_utc(moment).day


def view(schedule: Mapping[str, Any]) -> ApiObject:
    return {key: value for key, value in schedule.items() if key != PRIVATE}


def current_phase(schedule: Mapping[str, Any]) -> ApiObject | None:
    """The phase the subscription is in; None before the start or after the end."""
    index = private(schedule).get(PHASE)
    if schedule["status"] != "active" or index is None:
        return None
    phase: ApiObject = schedule["phases"][index]
    return phase


def schedule_end(schedule: Mapping[str, Any]) -> int:
    """When the last phase ends: the schedule's `end_behavior` then."""
    return int(schedule["phases"][-1]["end_date"])


def expiring_at(schedule: Mapping[str, Any]) -> int:
    return schedule_end(schedule) - EXPIRING_NOTICE_SECONDS


def next_work_at(schedule: Mapping[str, Any]) -> int | None:
    """When the schedule next has work due: a schedule not started yet, its start; an
    active one, the end of its current phase, or the `expiring` notice before the last
    phase's end if not sent yet and earlier; none once it has ended."""
    status = schedule["status"]
    if status == "not_started":
        return int(schedule["phases"][0]["start_date"])
    phase = current_phase(schedule)
    if phase is None:
        return None
    due = int(phase["end_date"])
    if not private(schedule).get(EXPIRING_SENT):
        due = min(due, expiring_at(schedule))
    return due


def _derive_facts(schedule: ApiObject) -> None:
    """The derived facts, set as the document is about to be written: every path that
    changes what work is due writes through here, so none can leave it stale."""
    private(schedule)[TRANSITIONS_AT] = next_work_at(schedule)
    phase = current_phase(schedule)
    schedule["current_phase"] = (
        None
        if phase is None
        else {"start_date": phase["start_date"], "end_date": phase["end_date"]}
    )


async def insert(ctx: Context, schedule: ApiObject) -> None:
    _derive_facts(schedule)
    await ctx.tx.insert_object(SUBSCRIPTION_SCHEDULES, ctx.account_id, schedule)


async def save(ctx: Context, schedule: ApiObject) -> None:
    _derive_facts(schedule)
    await ctx.tx.update_object(SUBSCRIPTION_SCHEDULES, ctx.account_id, schedule)


async def find(ctx: Context, schedule_id: str) -> ApiObject | None:
    """The schedule, locked in a write unit; None when this account has none."""
    found = await ctx.tx.get_object(SUBSCRIPTION_SCHEDULES, ctx.account_id, schedule_id)
    return None if found is None or found[1] else found[0]


async def announce(
    ctx: Context, event_type: str, schedule: ApiObject, previous: ApiObject | None = None
) -> None:
    await events.announce(
        ctx, event_type, view(schedule), previous=None if previous is None else view(previous)
    )


def end_as(schedule: ApiObject, status: str, at: int) -> None:
    """The schedule ended now (`canceled`, `completed` or `released`), its time recorded in
    the field Stripe gives that status."""
    schedule["status"] = status
    schedule[f"{status}_at"] = at


async def subscription_ended(ctx: Context, subscription: Mapping[str, Any]) -> None:
    """A subscription that ends (canceled by `DELETE`, dunning, its customer's deletion)
    ends the schedule still governing it: `canceled`, with `subscription_schedule.aborted`
    when the subscription ended for failed payments (Stripe: "canceled due to the
    underlying subscription being canceled because of delinquency") and
    `subscription_schedule.canceled` otherwise. A schedule ending the subscription itself
    (`end_behavior=cancel`, or its own cancel) has ended already and is left as it is."""
    schedule_id = subscription.get("schedule")
    schedule = None if schedule_id is None else await find(ctx, str(schedule_id))
    if schedule is None or schedule["status"] not in LIVE:
        return
    end_as(schedule, "canceled", ctx.now())
    await save(ctx, schedule)
    reason = (subscription.get("cancellation_details") or {}).get("reason")
    delinquent = reason == "payment_failed"
    kind = "subscription_schedule.aborted" if delinquent else "subscription_schedule.canceled"
    await announce(ctx, kind, schedule)
