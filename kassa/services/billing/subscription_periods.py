"""A subscription's billing cycle and its items' periods: where the cycle is anchored, each
item's first period (prorated up to an anchor, or cut short by a `cancel_at` given on
create: `subscription_terms`), the period after each one, the end a period cut short gets
back once its `cancel_at` is cleared or moved later (`restoration`), and where the
boundaries of an item's interval are counted from. A period that begins or that an item
joins after an update set `cancel_at` ends there too (`cut_at_cancel`, `reset_span`). The
renewal work (`subscription_renewal`,
`subscription_cycle`) asks this module for each next period; changes and pauses for the
period an item joins or continues (`period_for`, `cycle_anchor`).

Billing cycle anchor (Stripe: docs.stripe.com/billing/subscriptions/billing-cycle and the
create parameters of stripe-python 16). `billing_cycle_anchor` is a future unix time;
`billing_cycle_anchor_config` (month and year prices only) the next occurrence, after the
start, of `day_of_month` (clamped to a shorter month's last day) in `month` when given, at
`hour:minute:second` UTC, each defaulting to the start's own. The anchor must fall within
one period of the start (Stripe: "before the next natural subscription billing date") and,
with a trial, not before the trial ends (Stripe's trials guide: a free trial, then a
prorated period, then the fixed cycle; endive's
`subscription_update_trial_after_billing_cycle_anchor` refuses the same on update).

Partial periods. A period shorter than the full one of the cycle it lies in, [S, E), is
billed `full price * (its length) / (E - S)`, rounded once per line (`periods.
prorated_amount`): Stripe prorates "down to the second based on the starting timestamp of
the billing period" (docs.stripe.com/billing/scripts/prorations). Before the anchor that
full period is the one that ends at the anchor: a monthly price from January 15 anchored on
February 1 bills 17/31 of a month. `proration_behavior=none` makes the time before the
anchor free (Stripe: "customers receive the initial period up to the first full invoice
date for free") and a `cancel_at` inside the first period not prorated; `always_invoice`
acts as `create_prorations`, the first invoice being immediate anyway.

Mixed intervals (Stripe: docs.stripe.com/billing/subscriptions/mixed-interval; flexible
billing mode only, the default: a classic subscription refuses items of different intervals,
`subscription_billing_mode`). Items may bill on different intervals;
each has its own period, all counted from the one shared anchor, so a monthly and a yearly
item anchored on the same day renew together every twelfth month. Before an explicit
anchor, each interval counts from a boundary of its own on the anchor's intended day
(`Cycle.for_recurrence`; an interval with none, a yearly item meant for February 31, is
refused). Each item's first period runs from the start to its own first boundary (or, to
an explicit anchor, prorated over its own full period), and a trial covers every item. An
explicit anchor must fall within one period of the shortest interval. The next renewal is
the earliest item period end (`renewing_items`).
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any, Final, Protocol

from kassa.errors import ExclusiveParameters, InvalidParameter
from kassa.invariants import InvariantViolated, ensure
from kassa.services.billing import periods
from kassa.services.billing.subscription_documents import (
    current_period,
    item_period,
    items_of,
    private,
)
from kassa.services.billing.subscription_params import CLASSIC
from kassa.services.resource import ApiObject

PRORATION_DEFAULT: Final = "create_prorations"
CANDIDATE_MONTHS_MAX: Final = 13
"""How many months ahead an anchor's configured day is looked for: a given month comes
round again within twelve months."""
CYCLE_ANCHOR: Final = "cycle_anchor"
"""Private key: {"anchor", "day"}: an anchor set explicitly and its intended day of month,
from which each interval's boundaries are counted (`cycle_anchor`), for that anchor only
(an anchor reset to now counts from itself). Documents of 2026-12-04 hold "counted_from"
instead of "day": the first item's counting point."""
ANCHOR_PRORATION: Final = "anchor_proration"
"""Private key: `proration_behavior` at creation, for the time before the anchor."""
PAID_UNTIL: Final = "paid_until"
"""Private key: {item id: {"start", "until"}}: for an item whose current period (the one
from "start") an update's `cancel_at` cut short, up to when its whole period is paid for
and not credited (`paid_through`): an update that credits the time after the cut leaves
it there, one that does not (`proration_behavior=none`) where it was, and time given back
past it is charged. An entry for another period than the item's current one is stale."""
CHARGED_BEFORE_ANCHOR: Final = "charged_before_anchor"
"""Private key: the ids of the items a prorated change charged inside the free time before
an explicit anchor (`note_charged`): no longer free, whatever classic credits for them.
At most one per item the subscription was created with."""
_CONFIG_FIELDS: Final = ("day_of_month", "hour", "minute", "month", "second")


class OpeningTerms(Protocol):
    """The part of a create request `opening` reads (`subscription_terms.CreateTerms`, and
    so `CreateSubscription`, is one)."""

    @property
    def billing_cycle_anchor(self) -> int | None: ...
    @property
    def billing_cycle_anchor_config(self) -> dict[str, Any] | None: ...
    @property
    def proration_behavior(self) -> str | None: ...
    @property
    def cancel_at(self) -> int | str | None: ...
    @property
    def cancel_at_period_end(self) -> bool | None: ...


@dataclass(frozen=True)
class Recurrence:
    interval: str
    interval_count: int

    @classmethod
    def of(cls, price: Mapping[str, Any]) -> Recurrence:
        recurring = price["recurring"]
        return cls(str(recurring["interval"]), int(recurring["interval_count"]))


@dataclass(frozen=True)
class Cycle:
    anchor: int
    """`billing_cycle_anchor`: where the first full period starts."""
    cycle_anchor: int
    """Where boundaries are counted from: the anchor, or for an anchor set explicitly the
    boundary one period before it (on `day`), so that the full period that ends at the
    anchor is known."""
    config: dict[str, Any] | None
    proration_behavior: str
    recurrence: Recurrence
    day: int | None = None
    """The anchor's intended day of month when it was set explicitly, which calendar
    boundaries are on (clamped to each month's length): an anchor clamped to February 28
    for day 31 renews on March 31, a yearly one on February 29 in leap years. None: the
    anchor is the start, and counts its own boundaries on its own day."""

    def for_recurrence(self, recurrence: Recurrence) -> Cycle:
        """The same cycle for an item of another interval: its boundaries counted from a
        point of its own before the anchor, on the same day (`_cycle_anchor`)."""
        if self.day is None or recurrence == self.recurrence:
            return replace(self, recurrence=recurrence)
        counted = _cycle_anchor(self.anchor, recurrence, self.day)
        return replace(self, recurrence=recurrence, cycle_anchor=counted)


@dataclass(frozen=True)
class Span:
    period: tuple[int, int]
    fraction: Fraction | None
    """The part of the full price billed for `period`: None for a whole period (the price
    as it is), Fraction(0) for a free one."""


@dataclass(frozen=True)
class Opening:
    """How a new subscription starts: its cycle, each item's first period (`spans`, one per
    recurrence asked for, in order), and when it ends."""

    cycle: Cycle
    spans: tuple[Span, ...]
    cancel_at: int | None

    @property
    def span(self) -> Span:
        """The first period that ends first: the subscription's first renewal."""
        return min(self.spans, key=lambda span: span.period[1])


def opening(
    request: OpeningTerms, recurrences: Sequence[Recurrence], now: int, trial_end: int | None
) -> Opening:
    """Check the create request's anchor and cancel_at; each item's first period (one per
    entry of `recurrences`) and the part of its price billed for it."""
    cycle = _billing_cycle(request, recurrences, now, trial_end)
    cycles = [cycle.for_recurrence(recurrence) for recurrence in recurrences]
    if trial_end is None:
        ends = [_span(each, now, None, first=True).period[1] for each in cycles]
    else:
        ends = [trial_end]
    cancel_at = _cancel_at_on_create(request, now, (min(ends), max(ends)))
    if trial_end is None:
        spans = tuple(_span(each, now, cancel_at, first=True) for each in cycles)
        return Opening(cycle, spans, cancel_at)
    end = trial_end if cancel_at is None else min(trial_end, cancel_at)
    # A trial covers every item alike, and its lines are free.
    return Opening(cycle, tuple(Span((now, end), None) for _ in recurrences), cancel_at)


def set_opening(subscription: ApiObject, start: Opening) -> None:
    subscription["billing_cycle_anchor"] = start.cycle.anchor
    subscription["billing_cycle_anchor_config"] = start.cycle.config
    subscription["cancel_at"] = start.cancel_at
    if start.cycle.cycle_anchor != start.cycle.anchor:
        private(subscription)[CYCLE_ANCHOR] = {"anchor": start.cycle.anchor, "day": start.cycle.day}
    if start.cycle.proration_behavior != PRORATION_DEFAULT:
        private(subscription)[ANCHOR_PRORATION] = start.cycle.proration_behavior


def next_item_span(subscription: Mapping[str, Any], item: Mapping[str, Any]) -> Span:
    """The item's period after its current one: from that period's end to the next boundary
    of its interval (prorated when the end is none: after a trial that ended before the
    anchor), or to `cancel_at`."""
    ending = item_period(item)[1]
    cancel_at = subscription["cancel_at"]
    ensure(cancel_at is None or cancel_at > ending, "a subscription renews before it ends")
    cycle = _stored_cycle(subscription, Recurrence.of(item["price"]))
    return _span(cycle, ending, cancel_at, first=False)


@dataclass(frozen=True)
class Restoration:
    """An item period cut short at a `cancel_at` that no longer ends it there (cleared, or
    moved later): the period it gets back and the time that gives back."""

    period: tuple[int, int]
    given_back: tuple[int, int]
    charged_from: int | None
    """Where the part of the time given back that is billed starts (None: none of it is).
    Without an update's cut (`cut_short`), all of it when the cut period was billed for its
    part only (prorated); none on trial, nor for a first period that
    `proration_behavior=none` billed whole, or free before the anchor (`_span`). After an
    update's cut, the part after what is still paid for (`PAID_UNTIL`)."""


def restoration(subscription: Mapping[str, Any], item: Mapping[str, Any]) -> Restoration | None:
    """The item's current period as its cycle ends it with the subscription's `cancel_at` as
    it now stands, when that ends later than the period does (None otherwise: a period is
    cut short by `cut_short`). Its cycle ends it at the trial's end on trial, else at the end
    of the whole period of its interval it is part of (`whole_period`)."""
    start, end = item_period(item)
    trialing = subscription["status"] == "trialing" and subscription["trial_end"] is not None
    regular = int(subscription["trial_end"]) if trialing else whole_period(subscription, item)[1]
    cancel_at = subscription["cancel_at"]
    restored = regular if cancel_at is None else min(regular, int(cancel_at))
    if restored <= end:
        return None
    charged_from = None
    if not trialing:
        paid_until = paid_through(subscription, item)
        charged_from = paid_until if paid_until < restored else None
    return Restoration((start, restored), (end, restored), charged_from)


@dataclass(frozen=True)
class Cut:
    """An item period that ends after the subscription's `cancel_at`, set on update inside
    it: the period it keeps, up to `cancel_at`, and the end of what was paid for in it (its
    end on trial, which is free)."""

    period: tuple[int, int]
    paid_until: int


def cut_short(subscription: Mapping[str, Any], item: Mapping[str, Any]) -> Cut | None:
    """The item's current period cut short at the subscription's `cancel_at` when that falls
    inside it (None otherwise), as the create path and a renewal end a period there."""
    start, end = item_period(item)
    cancel_at = subscription["cancel_at"]
    if cancel_at is None or not start < int(cancel_at) < end:
        return None
    trialing = subscription["status"] == "trialing"
    return Cut((start, int(cancel_at)), end if trialing else paid_through(subscription, item))


def paid_through(subscription: Mapping[str, Any], item: Mapping[str, Any]) -> int:
    """Up to when the item's current whole period is paid for (or free by its terms), so
    that a period given time back up to there owes nothing more for it: what an update's cut
    kept (`PAID_UNTIL`), else the period's end if it was billed for its part only, else the
    whole period's end (billed whole, or free before the anchor: nothing owed either way)."""
    start, end = item_period(item)
    kept = (private(subscription).get(PAID_UNTIL) or {}).get(str(item["id"]))
    if kept is not None and int(kept["start"]) == start:
        return int(kept["until"])
    cycle = _stored_cycle(subscription, Recurrence.of(item["price"]))
    billed = _span(cycle, start, end, first=start == int(subscription["start_date"]))
    if billed.fraction is not None and billed.fraction > 0:
        return end
    return whole_period(subscription, item)[1]


def note_paid_until(subscription: Mapping[str, Any], item: Mapping[str, Any], until: int) -> None:
    """Keep up to when the item's current period is paid for (`PAID_UNTIL`), after an update
    cut it short or gave it time back; entries for periods no item has any more are dropped."""
    starts = {str(i["id"]): item_period(i)[0] for i in items_of(subscription)}
    kept = private(subscription).get(PAID_UNTIL) or {}
    record = {k: v for k, v in kept.items() if starts.get(k) == int(v["start"])}
    record[str(item["id"])] = {"start": item_period(item)[0], "until": until}
    private(subscription)[PAID_UNTIL] = record


def has_paid_until(subscription: Mapping[str, Any], item: Mapping[str, Any]) -> bool:
    kept = (private(subscription).get(PAID_UNTIL) or {}).get(str(item["id"]))
    return kept is not None and int(kept["start"]) == item_period(item)[0]


def renewing_items(subscription: Mapping[str, Any]) -> list[ApiObject]:
    """The items whose periods end first, together (all of them when they share one): the
    ones the next renewal bills."""
    ending = current_period(subscription)[1]
    return [item for item in items_of(subscription) if item_period(item)[1] == ending]


def period_for(
    subscription: Mapping[str, Any], recurrence: Recurrence, at: int, before: tuple[int, int]
) -> tuple[int, int]:
    """The current period, at `at`, of an item of `recurrence` joining the subscription (an
    item added, or repriced to another interval): an item of that interval already there
    shares its period; before the anchor (on a trial, or the first part of a period up to an
    explicit anchor) it shares the time up to it with every item, `before` (the current
    period as the change found it: the items it removed, the only one perhaps, shared it);
    else the period of its interval that holds `at`, counted from the shared anchor."""
    for item in items_of(subscription):
        if Recurrence.of(item["price"]) == recurrence:
            return item_period(item)
    anchor = int(subscription["billing_cycle_anchor"])
    if at < anchor or subscription["status"] == "trialing":
        return before
    return cut_at_cancel(subscription, cycle_period_containing(subscription, recurrence, at))


def cut_at_cancel(subscription: Mapping[str, Any], period: tuple[int, int]) -> tuple[int, int]:
    """`period` ended at the subscription's `cancel_at` when that falls inside it: a period
    an item joins, or one that begins, after `cancel_at` was set ends there, as a first
    period on create and a renewed one do (`_span`), so that nothing is billed for time
    after the subscription has ended. The periods of items already there were fitted to it
    when it was set (`subscription_period_ends.fit_periods_to_end`)."""
    cancel_at = subscription["cancel_at"]
    if cancel_at is None or not period[0] < int(cancel_at) < period[1]:
        return period
    return period[0], int(cancel_at)


def note_paid_until_cut(subscription: Mapping[str, Any], item: Mapping[str, Any]) -> None:
    """An item period `cut_at_cancel` ended at `cancel_at` (an item joining, a resumed
    period) is billed up to there at most: kept as paid until there (`PAID_UNTIL`), so that
    clearing `cancel_at` later charges the time it gives back, as after an update's cut,
    rather than what `paid_through` reads from how a period's invoice billed it."""
    end, cancel_at = item_period(item)[1], subscription["cancel_at"]
    if cancel_at is not None and end == int(cancel_at) < whole_period(subscription, item)[1]:
        note_paid_until(subscription, item, end)


def reset_span(recurrence: Recurrence, start: int, cancel_at: int | None) -> Span:
    """An item's period when a billing cycle reset anchors the cycle at `start` (an update's
    `billing_cycle_anchor=now` or new interval, a resume's): to the next boundary of its
    interval, or to `cancel_at` inside it, and the part of the price that is. Stripe's
    `cancel_at` docstring: "If set during a future period, this will always cause a
    proration for that period", so the part is billed whatever the update's
    `proration_behavior` (which is about the old period's credit)."""
    cycle = Cycle(start, start, None, PRORATION_DEFAULT, recurrence)
    return _span(cycle, start, cancel_at, first=False)


def whole_period(subscription: Mapping[str, Any], item: Mapping[str, Any]) -> tuple[int, int]:
    """The whole period of the item's interval its current period is part of, counted from
    the cycle anchor: the period itself unless it is the first part up to an explicit
    anchor or was cut short by `cancel_at` (what the first invoice prorated over)."""
    period = item_period(item)
    recurrence = Recurrence.of(item["price"])
    whole = cycle_period_containing(subscription, recurrence, period[0])
    if whole[0] <= period[0] and period[1] <= whole[1]:
        return whole
    return period  # not on the anchor's boundaries (a document from before they were kept)


def cycle_period_containing(
    subscription: Mapping[str, Any], recurrence: Recurrence, instant: int
) -> tuple[int, int]:
    """The period of `recurrence`'s interval on the subscription's cycle that holds
    `instant` (at or after the boundary one period before the anchor)."""
    return periods.period_containing(
        cycle_anchor(subscription, recurrence),
        recurrence.interval,
        recurrence.interval_count,
        instant,
        day=anchor_day(subscription),
    )


def cycle_anchor(subscription: Mapping[str, Any], recurrence: Recurrence) -> int:
    """Where the period boundaries of an item of `recurrence` are counted from
    (`Cycle.cycle_anchor`), on `anchor_day`. Worked out from the anchor and its intended day
    for each interval, never kept: the items (and so the first one) change, the anchor's day
    does not."""
    anchor = int(subscription["billing_cycle_anchor"])
    kept = private(subscription).get(CYCLE_ANCHOR) or {}
    if kept.get("anchor") != anchor:
        return anchor
    if kept.get("day") is None:
        return int(kept["counted_from"])  # kept before the day was: the first item's only
    return _cycle_anchor(anchor, recurrence, int(kept["day"]))


def anchor_day(subscription: Mapping[str, Any]) -> int | None:
    """The intended day of month of an anchor set explicitly (`Cycle.day`), None for an
    anchor that counts from its own day."""
    kept = private(subscription).get(CYCLE_ANCHOR) or {}
    if kept.get("anchor") != int(subscription["billing_cycle_anchor"]):
        return None
    day = kept.get("day")
    return None if day is None else int(day)


def _stored_cycle(subscription: Mapping[str, Any], recurrence: Recurrence) -> Cycle:
    facts = private(subscription)
    return Cycle(
        anchor=int(subscription["billing_cycle_anchor"]),
        cycle_anchor=cycle_anchor(subscription, recurrence),
        config=subscription["billing_cycle_anchor_config"],
        proration_behavior=str(facts.get(ANCHOR_PRORATION, PRORATION_DEFAULT)),
        recurrence=recurrence,
        day=anchor_day(subscription),
    )


def _span(cycle: Cycle, start: int, cancel_at: int | None, *, first: bool) -> Span:
    """From `start` to the end of the full period holding it, or to `cancel_at`, and the
    part of the full price that is."""
    recurrence = cycle.recurrence
    full_start, full_end = periods.period_containing(
        cycle.cycle_anchor, recurrence.interval, recurrence.interval_count, start, day=cycle.day
    )
    end = full_end if cancel_at is None else min(full_end, cancel_at)
    ensure(start < end, f"a period [{start}, {end}) is not empty")
    if (start, end) == (full_start, full_end):
        return Span((start, end), None)
    not_prorated = cycle.proration_behavior == "none"
    if not_prorated and start < cycle.anchor:
        return Span((start, end), Fraction(0))  # free until the anchor
    if not_prorated and first:
        return Span((start, end), None)  # a cancel_at in the first period, billed whole
    return Span((start, end), Fraction(end - start, full_end - full_start))


def _billing_cycle(
    request: OpeningTerms, recurrences: Sequence[Recurrence], now: int, trial_end: int | None
) -> Cycle:
    """The cycle every item shares, for the first item's interval (`Cycle.for_recurrence`
    gives the others'): an explicit anchor falls within one period of the shortest."""
    behavior = request.proration_behavior or PRORATION_DEFAULT
    start = now if trial_end is None else trial_end
    recurrence = recurrences[0]
    shortest = min(recurrences, key=lambda r: _first_boundary(start, r))
    config = request.billing_cycle_anchor_config
    if request.billing_cycle_anchor is not None and config is not None:
        raise ExclusiveParameters(
            ("billing_cycle_anchor", "billing_cycle_anchor_config"),
            param="billing_cycle_anchor_config",
        )
    if config is not None:
        anchor = _anchor_from_config(config, start, recurrences)
        _check_within_one_period(anchor, start, shortest, "billing_cycle_anchor_config")
        day = int(config["day_of_month"])
        shown: dict[str, Any] | None = {name: config.get(name) for name in _CONFIG_FIELDS}
    elif request.billing_cycle_anchor is not None:
        anchor, shown = request.billing_cycle_anchor, None
        _check_anchor(anchor, now, trial_end)
        _check_within_one_period(anchor, start, shortest, "billing_cycle_anchor")
        day = periods.to_utc(anchor).day  # checked first: a date this side of the year 9999
    else:
        return Cycle(start, start, None, behavior, recurrence)
    latest = max(_cycle_anchor(anchor, each, day) for each in recurrences)
    if latest > start:
        # Counted on the intended day, an item's period ending at the anchor begins after
        # the start (a 3-month price anchored on February's last day for the 31st, started
        # on November 29: that period begins November 30): the anchor is more than one
        # period away, which the start's own day (`_check_within_one_period`) did not show.
        param = "billing_cycle_anchor_config" if config is not None else "billing_cycle_anchor"
        raise InvalidParameter(
            f"Invalid {param}: the billing cycle anchor ({anchor}) must fall within one "
            f"billing period of the subscription's start; counted on day {day} of the month, "
            f"the period ending at it begins at {latest}, after the start ({start}).",
            param=param,
        )
    return Cycle(anchor, _cycle_anchor(anchor, recurrence, day), shown, behavior, recurrence, day)


def _first_boundary(start: int, recurrence: Recurrence) -> int:
    return periods.boundary(start, recurrence.interval, recurrence.interval_count, 1)


def _check_anchor(anchor: int, now: int, trial_end: int | None) -> None:
    if anchor <= now:
        raise InvalidParameter(
            "Invalid billing_cycle_anchor: must be an integer Unix timestamp in the future.",
            param="billing_cycle_anchor",
        )
    if trial_end is not None and anchor < trial_end:
        raise InvalidParameter(
            f"Invalid billing_cycle_anchor: it cannot be before the trial ends ({trial_end}); "
            "the trial comes first, then the time up to the anchor.",
            param="billing_cycle_anchor",
            code="subscription_update_trial_after_billing_cycle_anchor",
        )


def _check_within_one_period(anchor: int, start: int, recurrence: Recurrence, param: str) -> None:
    latest = _first_boundary(start, recurrence)
    if anchor > latest:
        raise InvalidParameter(
            f"Invalid {param}: the billing cycle anchor ({anchor}) must fall within one "
            f"billing period of the subscription's start, at {latest} at the latest.",
            param=param,
        )


def _anchor_from_config(
    config: Mapping[str, Any], after: int, recurrences: Sequence[Recurrence]
) -> int:
    """The next occurrence after `after` of the configured day (and month) at the
    configured time, each part not given taken from `after`."""
    if any(r.interval not in periods.CALENDAR_MONTHS for r in recurrences):
        raise InvalidParameter(
            "billing_cycle_anchor_config is only valid with monthly and yearly prices.",
            param="billing_cycle_anchor_config",
        )
    moment = periods.to_utc(after)
    hour, minute, second = (
        config.get(name, getattr(moment, name)) for name in ("hour", "minute", "second")
    )
    for months_ahead in range(CANDIDATE_MONTHS_MAX):
        year, month = periods.shifted_month(moment, months_ahead)
        if config.get("month", month) != month:
            continue
        day = min(int(config["day_of_month"]), calendar.monthrange(year, month)[1])
        found = dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)
        if periods.to_unix(found) > after:
            return periods.to_unix(found)
    raise InvariantViolated("a configured day and month come round within a year")


def _cycle_anchor(anchor: int, recurrence: Recurrence, day: int) -> int:
    """The boundary one period before `anchor` on `day` of its month (clamped to the
    month's length), from which `anchor` is a boundary too (see `Cycle.cycle_anchor`). Not
    a boundary whole periods back on `day` itself: a yearly anchor on February 28 meant
    for the 30th has none, every one of its boundaries being in February."""
    interval, count = recurrence.interval, recurrence.interval_count
    if interval in periods.FIXED_SPAN_SECONDS:
        return anchor - count * periods.FIXED_SPAN_SECONDS[interval]
    months = count * periods.CALENDAR_MONTHS[interval]
    counted = periods.add_months(anchor, -months, day=day)
    ensure(
        periods.boundary(counted, interval, count, 1, day=day) == anchor,
        f"an anchor ({anchor}) is on day {day} of its month, clamped to its length",
    )
    return counted


def _cancel_at_on_create(
    request: OpeningTerms, now: int, natural_ends: tuple[int, int]
) -> int | None:
    """`natural_ends`: the earliest and the latest end of the items' first periods."""
    if request.cancel_at is None:
        return natural_ends[0] if request.cancel_at_period_end else None
    if request.cancel_at_period_end:
        raise ExclusiveParameters(("cancel_at", "cancel_at_period_end"), param="cancel_at")
    if isinstance(request.cancel_at, str):
        return natural_ends[0] if request.cancel_at == "min_period_end" else natural_ends[1]
    if request.cancel_at <= now:
        raise InvalidParameter(
            "Invalid cancel_at: must be an integer Unix timestamp in the future.",
            param="cancel_at",
        )
    return request.cancel_at


def free_before_anchor(subscription: Mapping[str, Any], item: Mapping[str, Any]) -> bool:
    """Whether classic mode must credit nothing for the item's current period, being the
    part before an explicit anchor that `proration_behavior=none` on create made free
    (`_span`): nothing was billed for it. Flexible mode needs no such rule: it credits what
    was debited (`subscription_credits`), nothing for that time, and exactly what a later
    change charged in it. Classic credits the price, so the rule is kept to the items the
    subscription was created with and no prorated change has charged since: one added
    since was charged for its part of that time, and so was one whose quantity or price a
    change prorated (`note_charged`), the rest of the time at what it bills now, as Stripe's
    classic credits it."""
    if subscription["billing_mode"]["type"] != CLASSIC:
        return False
    if int(item["created"]) > int(subscription["created"]):
        return False
    if str(item["id"]) in private(subscription).get(CHARGED_BEFORE_ANCHOR, []):
        return False
    cycle = _stored_cycle(subscription, Recurrence.of(item["price"]))
    return cycle.proration_behavior == "none" and item_period(item)[0] < cycle.anchor


def note_charged(subscription: Mapping[str, Any], item_id: str) -> None:
    """A prorated change charged the item for the rest of its period. Inside the free time
    before the anchor (`free_before_anchor`), classic credited its old price and quantity as
    if paid (Stripe: a classic credit comes from the current values "even though the
    customer never paid") and charged the new ones for the rest of that time: that time is
    paid for from now on, and a cancellation or cut credits its unused part, not nothing."""
    item = next((i for i in items_of(subscription) if str(i["id"]) == item_id), None)
    if item is None or not free_before_anchor(subscription, item):
        return
    facts = private(subscription)
    facts[CHARGED_BEFORE_ANCHOR] = [*facts.get(CHARGED_BEFORE_ANCHOR, []), item_id]
