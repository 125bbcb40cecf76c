"""What the dashboard's test clocks pages show: the list (newest first), one clock with the
customers on it and its events, and the advance action.

Reads go through the test clock service (the API's own list, and `retrieve_test_clock`), so a
page shows exactly what the API answers; the customers on a clock come from one indexed
lookup by the customers' `test_clock` column and the events from one by the clock's id, each
bounded. Advancing goes through `advance_test_clock`, as `POST .../advance` does: the page
only works out the target time from what was chosen.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field
from typing import Final

from kassa.clock import DAY_SECONDS
from kassa.errors import InvalidParameter, ResourceMissing
from kassa.services import listing, test_clocks
from kassa.services.context import Context
from kassa.services.listing import could_be_object_id
from kassa.services.resource import ApiObject
from kassa.services.test_clocks import FROZEN_TIME_MAX, AdvanceTestClock
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import CUSTOMERS

CUSTOMERS_SHOWN_MAX: Final = 25
"""Customers on a clock shown on its page (newest first)."""
EVENTS_SHOWN_MAX: Final = 25
MONTHS_PER_YEAR: Final = 12
UTC_FORMAT: Final = "%Y-%m-%d %H:%M:%S UTC"
"""As the templates' `when` filter writes a time, so a notice reads like the page."""
DATETIME_LOCAL_FORMAT: Final = "%Y-%m-%dT%H:%M:%S"
"""The value an `<input type="datetime-local" step="1">` holds."""


@dataclass(frozen=True)
class Step:
    """One choice of the "advance by" select: a fixed span of days, or calendar months
    (so "+1 month" from January 31 lands on the last day of February, as people count)."""

    label: str
    days: int = 0
    months: int = 0


ADVANCE_STEPS: Final = {
    "day": Step("+1 day", days=1),
    "week": Step("+1 week", days=7),
    "month": Step("+1 month", months=1),
    "year": Step("+1 year", months=MONTHS_PER_YEAR),
}


# -- the test clocks list -------------------------------------------------------------------


@dataclass(frozen=True)
class ClockList:
    clocks: list[ApiObject]
    next_cursor: str
    """The last row's id when older clocks exist, else ''."""
    problems: list[str] = field(default_factory=list)


async def clock_list(ctx: Context, starting_after: str, limit: int) -> ClockList:
    problems: list[str] = []
    cursor = starting_after if could_be_object_id(starting_after) else ""
    try:
        listed = await _list_clocks(ctx, limit, cursor)
    except ResourceMissing:  # the cursor: a clock since deleted, or not this account's
        problems.append("That page is no longer available; showing the newest test clocks.")
        listed = await _list_clocks(ctx, limit, "")
    data: list[ApiObject] = listed["data"]
    next_cursor = str(data[-1]["id"]) if listed["has_more"] and data else ""
    return ClockList(data, next_cursor, problems)


async def _list_clocks(ctx: Context, limit: int, starting_after: str) -> ApiObject:
    """`GET /v1/test_helpers/test_clocks`, as the API answers it."""
    params = {"limit": limit, **({"starting_after": starting_after} if starting_after else {})}
    return await listing.list_objects(ctx, listing.ListRequest(test_clocks.RESOURCE, params))


def clock_label(clock: ApiObject) -> str:
    return str(clock.get("name") or clock["id"])


# -- one test clock -------------------------------------------------------------------------


@dataclass(frozen=True)
class ClockDetail:
    clock: ApiObject
    target: int | None
    """Where an advance under way is taking the clock, else None."""
    customers: list[ApiObject]
    more_customers: bool
    events: list[ApiObject]
    can_advance: bool
    """Only a ready clock advances (an advancing one first finishes, a failed one never)."""
    to_value: str
    """The "advance to" field's starting value: the clock's time, for the person to move on."""


async def clock_detail(ctx: Context, clock_id: str) -> ClockDetail:
    clock = await live_clock(ctx, clock_id)
    on_clock = await ctx.tx.list_objects(
        CUSTOMERS,
        ctx.account_id,
        ObjectListQuery(limit=CUSTOMERS_SHOWN_MAX, equals={"test_clock": clock["id"]}),
    )
    return ClockDetail(
        clock=clock,
        target=advancing_target(clock),
        customers=on_clock.objects,
        more_customers=on_clock.has_more,
        events=await ctx.tx.events_about(ctx.account_id, [clock["id"]], EVENTS_SHOWN_MAX),
        can_advance=clock["status"] == "ready",
        to_value=datetime_local_value(int(clock["frozen_time"])),
    )


async def live_clock(ctx: Context, clock_id: str) -> ApiObject:
    """The clock as the API shows it. Missing as a "test clock" (the page's words), not as
    the API's `test_helpers.test_clock`, and a deleted clock is missing too."""
    if not could_be_object_id(clock_id):
        raise ResourceMissing("test_clock", clock_id)
    try:
        return await test_clocks.retrieve_test_clock(ctx, clock_id)
    except ResourceMissing:
        raise ResourceMissing("test_clock", clock_id) from None


def advancing_target(clock: ApiObject) -> int | None:
    advancing = (clock.get("status_details") or {}).get("advancing") or {}
    target = advancing.get("target_frozen_time")
    return int(target) if target is not None else None


def customer_label(customer: ApiObject) -> str:
    return str(customer.get("name") or customer.get("email") or customer["id"])


def utc_text(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime(UTC_FORMAT)


def datetime_local_value(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime(DATETIME_LOCAL_FORMAT)


# -- advancing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdvanceForm:
    """The advance form as posted: a step of ADVANCE_STEPS (`by`) or a UTC time (`to`),
    and the frozen time the page showed (`shown`)."""

    by: str = ""
    to: str = ""
    shown: str = ""


async def advance(ctx: Context, clock_id: str, form: AdvanceForm) -> ApiObject:
    """Start advancing the clock to the time the form names; the clock, now advancing."""
    clock = await live_clock(ctx, clock_id)
    if clock["status"] == "ready" and not form.to:  # else the service says why it cannot
        _refuse_if_moved(clock, form.shown)
    target = target_time(int(clock["frozen_time"]), form)
    request = AdvanceTestClock(test_clock=clock["id"], frozen_time=target)
    return await test_clocks.advance_test_clock(ctx, request)


def _refuse_if_moved(clock: ApiObject, shown: str) -> None:
    """A "+1 day" means a day after the time the page showed. If the clock has moved since
    (another tab, the API, a double submit after the advance finished) that day is not the
    one meant: refuse rather than move the clock further than the person saw. (A typed
    time means itself, whatever the page showed: the service checks it is still ahead.)"""
    shown_time = _shown_time(shown)
    if shown_time is None or shown_time == clock["frozen_time"]:
        return
    raise InvalidParameter(
        f"The clock is now at {utc_text(int(clock['frozen_time']))}, not at the "
        f"{utc_text(shown_time)} this page showed: check its new time, then advance again.",
        param="frozen_time",
    )


def _shown_time(shown: str) -> int | None:
    """The frozen time the page put in its form; None for a form without one (not the
    page's own, so it is taken as the API would take it)."""
    if not (shown.isascii() and shown.isdigit()) or len(shown) > len(str(FROZEN_TIME_MAX)):
        return None
    return int(shown) if int(shown) <= FROZEN_TIME_MAX else None


def target_time(frozen_time: int, form: AdvanceForm) -> int:
    """The time the form asks for: the typed time when there is one, else the chosen step
    from `frozen_time`. Whether it is after the clock's time is the service's to check."""
    if form.to:
        target = _parse_utc(form.to)
    elif form.by in ADVANCE_STEPS:
        target = _later(frozen_time, ADVANCE_STEPS[form.by])
    else:
        raise InvalidParameter("Choose how far to advance the clock.", param="frozen_time")
    if target > FROZEN_TIME_MAX:
        raise InvalidParameter(
            f"A test clock cannot go past {utc_text(FROZEN_TIME_MAX)}.", param="frozen_time"
        )
    return target


def _parse_utc(text: str) -> int:
    """A datetime-local value (`2027-01-02T09:30`, seconds optional), read as UTC."""
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidParameter(
            "Enter the time to advance to as YYYY-MM-DD HH:MM (UTC).", param="frozen_time"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp())


def _later(frozen_time: int, step: Step) -> int:
    if not step.months:
        return frozen_time + step.days * DAY_SECONDS
    moment = dt.datetime.fromtimestamp(frozen_time, dt.UTC)
    months = moment.month - 1 + step.months
    year, month = moment.year + months // MONTHS_PER_YEAR, months % MONTHS_PER_YEAR + 1
    if year > dt.MAXYEAR:
        raise InvalidParameter(
            f"A test clock cannot go past {utc_text(FROZEN_TIME_MAX)}.", param="frozen_time"
        )
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return int(moment.replace(year=year, month=month, day=day).timestamp())


def advance_notice(clock: ApiObject) -> str:
    target = advancing_target(clock)
    to = utc_text(target) if target is not None else "its new time"
    return f"Advancing {clock_label(clock)} to {to}; it is ready once the work due by then is done."
