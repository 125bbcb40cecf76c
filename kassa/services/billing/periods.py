"""Subscription billing periods and prorations, as Stripe computes them: pure functions on
unix seconds (UTC) and integer minor units, no I/O, no floats.

Periods. A recurring price bills every `interval_count` `interval`s (day, week, month or
year), counted from the subscription's `billing_cycle_anchor`. Boundary `n` (n >= 0, boundary
0 is the anchor itself) is:

- day, week: `anchor + n * interval_count` fixed spans of 86,400 or 604,800 seconds (Unix
  time has no leap seconds, so a day is always 86,400 seconds);
- month, year: the anchor moved `n * interval_count` calendar months (12 per year) in UTC,
  keeping its time of day; a day of month the target month lacks becomes that month's last
  day. Every boundary is counted from the anchor, never from the previous boundary, so a
  subscription anchored on January 31 renews on February 28 (29 in a leap year), March 31,
  April 30, May 31, ... Source: Stripe, "Billing cycle" (docs.stripe.com/billing/
  subscriptions/billing-cycle): "a subscription anchored on the 31st bills on the last day
  of shorter months". The day kept is the anchor's own, or an intended `day` given with it
  when the anchor itself was clamped: a yearly anchor on February 28 meant for the 30th
  has no earlier boundary on the 30th to count from (every one is in February), yet renews
  on February 29 in leap years.

Every function finds its answer arithmetically, whatever the index: no loop walks the
periods, so an instant a century after the anchor (daily periods on a clock advanced 100
years) is as cheap as the next one.

Prorations. A change at `at` inside the period [start, end) credits the unused part of the
old amount and charges the same part of the new one, to the second: the unused fraction is
`(end - at) / (end - start)`, exact (`fractions.Fraction`), and each of the two amounts is
rounded once to whole minor units (`PRORATION_ROUNDING`, half up).
"""

from __future__ import annotations

import calendar
import datetime as dt
import decimal
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Final

from kassa import money
from kassa.clock import DAY_SECONDS
from kassa.invariants import ensure
from kassa.services.billing.price_fields import (
    INTERVAL_COUNT_MAX,
    INTERVALS,
    TRIAL_PERIOD_DAYS_MAX,
)
from kassa.services.billing.rounding import PRORATION_ROUNDING

WEEK_SECONDS: Final = 7 * DAY_SECONDS
MONTHS_PER_YEAR: Final = 12

FIXED_SPAN_SECONDS: Final = {"day": DAY_SECONDS, "week": WEEK_SECONDS}
"""The intervals that are a fixed number of seconds long; the others follow the calendar."""
CALENDAR_MONTHS: Final = {"month": 1, "year": MONTHS_PER_YEAR}
"""The calendar intervals, in months."""

_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ONE_SECOND: Final = dt.timedelta(seconds=1)


# --- Periods -----------------------------------------------------------------------------


def boundary(
    anchor: int, interval: str, interval_count: int, n: int, *, day: int | None = None
) -> int:
    """The start of the `n`-th period after `anchor` (n = 0 is the anchor itself). `day`:
    the day of month calendar boundaries are on, clamped to each month's length (the
    anchor's own day when None); fixed spans ignore it."""
    _check_recurrence(anchor, interval, interval_count)
    ensure(n >= 0, f"a boundary index is not negative, not {n}")
    if interval in FIXED_SPAN_SECONDS:
        return anchor + n * interval_count * FIXED_SPAN_SECONDS[interval]
    months = n * interval_count * CALENDAR_MONTHS[interval]
    return add_months(anchor, months, day=day)


def add_months(moment: int, months: int, *, day: int | None = None) -> int:
    """`moment` moved `months` calendar months (negative: back), same time of day, on `day`
    of the target month (`moment`'s own day when None) clamped to that month's last day."""
    return to_unix(_add_months_clamped(to_utc(moment), months, day))


def period_index(
    anchor: int, interval: str, interval_count: int, instant: int, *, day: int | None = None
) -> int:
    """Which period after `anchor` contains `instant`: the `n` with
    `boundary(n) <= instant < boundary(n + 1)` (`day` as for `boundary`)."""
    _check_recurrence(anchor, interval, interval_count)
    ensure(instant >= anchor, f"an instant ({instant}) is at or after the anchor ({anchor})")
    if interval in FIXED_SPAN_SECONDS:
        return (instant - anchor) // (interval_count * FIXED_SPAN_SECONDS[interval])
    period_months = interval_count * CALENDAR_MONTHS[interval]
    # Boundary n falls in the calendar month `n * period_months` after the anchor's. Counting
    # whole periods between the two months gives the right n, or one too many when that
    # boundary lands later in the instant's own month (a later day, or hour, than the
    # instant): every earlier boundary lies in an earlier month, every later one in a later
    # month, so one step back is always enough.
    index = _months_between(anchor, instant) // period_months
    if boundary(anchor, interval, interval_count, index, day=day) > instant:
        index -= 1
    ensure(index >= 0, "an instant at or after the anchor lies in period 0 or later")
    return index


def period_containing(
    anchor: int, interval: str, interval_count: int, instant: int, *, day: int | None = None
) -> tuple[int, int]:
    """The period `(start, end)` holding `instant`: `start <= instant < end` (`day` as for
    `boundary`)."""
    index = period_index(anchor, interval, interval_count, instant, day=day)
    start = boundary(anchor, interval, interval_count, index, day=day)
    end = boundary(anchor, interval, interval_count, index + 1, day=day)
    ensure(start <= instant < end, "the period found contains the instant")
    return start, end


def next_period(
    anchor: int, interval: str, interval_count: int, start: int, *, day: int | None = None
) -> tuple[int, int]:
    """The period that follows the one beginning at `start` (a boundary of `anchor`; `day`
    as for `boundary`).

    The anchor is needed, not just `start`: after a clamped boundary (February 28 for an
    anchor on the 31st) the next one returns to the anchor's day (March 31)."""
    index = period_index(anchor, interval, interval_count, start, day=day)
    ensure(
        boundary(anchor, interval, interval_count, index, day=day) == start,
        f"{start} is a period boundary of anchor {anchor}",
    )
    return (
        boundary(anchor, interval, interval_count, index + 1, day=day),
        boundary(anchor, interval, interval_count, index + 2, day=day),
    )


def trial_end_from_days(start: int, days: int) -> int:
    """When a trial of `days` whole days (`trial_period_days`) starting at `start` ends."""
    ensure(
        0 <= days <= TRIAL_PERIOD_DAYS_MAX,
        f"a trial lasts between 0 and {TRIAL_PERIOD_DAYS_MAX} days, not {days}",
    )
    return start + days * DAY_SECONDS


def _check_recurrence(anchor: int, interval: str, interval_count: int) -> None:
    # Stripe's timestamps are after the epoch; the interval and its limits are the ones a
    # price was validated against (`price_fields`), so anything else is a bug upstream.
    ensure(anchor >= 0, f"an anchor is a unix timestamp after the epoch, not {anchor}")
    ensure(interval in INTERVALS, f"an interval is one of {INTERVALS}, not {interval!r}")
    ensure(
        1 <= interval_count <= INTERVAL_COUNT_MAX[interval],
        f"interval_count for {interval} lies between 1 and {INTERVAL_COUNT_MAX[interval]}, "
        f"not {interval_count}",
    )


def _months_between(earlier: int, later: int) -> int:
    """Calendar months from `earlier`'s month to `later`'s, ignoring days (UTC)."""
    first, second = to_utc(earlier), to_utc(later)
    return (second.year - first.year) * MONTHS_PER_YEAR + (second.month - first.month)


def shifted_month(moment: dt.datetime, months: int) -> tuple[int, int]:
    """(year, month) `months` calendar months from `moment`'s (negative: before it)."""
    zero_based = moment.month - 1 + months
    return moment.year + zero_based // MONTHS_PER_YEAR, zero_based % MONTHS_PER_YEAR + 1


def _add_months_clamped(moment: dt.datetime, months: int, day: int | None) -> dt.datetime:
    """`moment` moved `months` calendar months, same time of day, on `day` (its own when
    None) clamped to the target month's last day."""
    year, month = shifted_month(moment, months)
    ensure(
        dt.MINYEAR <= year <= dt.MAXYEAR,
        f"a boundary lies between the years {dt.MINYEAR} and {dt.MAXYEAR}",
    )
    wanted = moment.day if day is None else day
    ensure(1 <= wanted <= 31, f"a day of month lies between 1 and 31, not {wanted}")
    last = calendar.monthrange(year, month)[1]
    return moment.replace(year=year, month=month, day=min(wanted, last))


def to_utc(unix: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(seconds=unix)


def to_unix(moment: dt.datetime) -> int:
    # Exact integer arithmetic on the timedelta, rather than the float `timestamp()`.
    return (moment - _EPOCH) // _ONE_SECOND


# --- Prorations --------------------------------------------------------------------------


@dataclass(frozen=True)
class Proration:
    """What a price change inside a period costs: `credit` (<= 0) gives back the unused
    part of the old amount, `charge` (>= 0) bills the same part of the new amount."""

    credit: int
    charge: int
    unused_seconds: int
    period_seconds: int

    @property
    def unused_fraction(self) -> Fraction:
        return Fraction(self.unused_seconds, self.period_seconds)

    @property
    def net(self) -> int:
        """What the change adds to the next invoice (negative for a downgrade)."""
        return self.credit + self.charge


def unused_fraction(start: int, end: int, at: int) -> Fraction:
    """The part of the period [start, end) still to come at `at`, exactly."""
    ensure(start < end, f"a period [{start}, {end}) is not empty")
    ensure(start <= at < end, f"a change at {at} lies inside the period [{start}, {end})")
    return Fraction(end - at, end - start)


def proration(
    old_amount_per_period: int,
    new_amount_per_period: int,
    start: int,
    end: int,
    at: int,
    *,
    basis: tuple[int, int] | None = None,
) -> Proration:
    """Stripe's proration of a change at `at` from an amount of `old_amount_per_period` to
    one of `new_amount_per_period` (each for a whole period, quantity included) inside the
    period [start, end). `basis` is the whole period the amounts are for, when [start, end)
    is only part of one (the first part up to an explicit billing cycle anchor, a period cut
    short by `cancel_at`): the unused time is then a part of it, as the first invoice
    prorated that part."""
    ensure(old_amount_per_period >= 0, "the old amount per period is not negative")
    ensure(new_amount_per_period >= 0, "the new amount per period is not negative")
    ensure(start <= at < end, f"a change at {at} lies inside the period [{start}, {end})")
    whole = (start, end) if basis is None else basis
    ensure(
        whole[0] <= start and end <= whole[1],
        f"a period [{start}, {end}) is part of its whole period {whole}",
    )
    unused = unused_share(whole, at, end)
    credit = -prorated_amount(old_amount_per_period, unused)
    charge = prorated_amount(new_amount_per_period, unused)
    ensure(-old_amount_per_period <= credit <= 0, "a credit is at most the old full amount")
    ensure(0 <= charge <= new_amount_per_period, "a charge is at most the new full amount")
    return Proration(
        credit=credit, charge=charge, unused_seconds=end - at, period_seconds=whole[1] - whole[0]
    )


def prorated_amount(amount: int, fraction: Fraction) -> int:
    """`amount * fraction` in whole minor units (`PRORATION_ROUNDING`)."""
    ensure(amount >= 0, f"a prorated amount is not negative, not {amount}")
    ensure(0 <= fraction <= 1, f"a proration covers part of a period, not {fraction}")
    return money.to_minor_units(_deciding_quotient(amount * fraction), PRORATION_ROUNDING)


def unused_share(period: tuple[int, int], at: int, until: int) -> Fraction:
    """The part of `period` that lies between `at` and `until` (nothing when they miss it):
    what of a debit for `period` is still unused at a change at `at`, up to `until`."""
    start, end = period
    ensure(start < end, f"a period [{start}, {end}) is not empty")
    return Fraction(max(0, min(end, until) - max(at, start)), end - start)


def _deciding_quotient(value: Fraction) -> Decimal:
    """`value` (not negative) as a `Decimal` close enough that rounding it to a whole number
    decides exactly as rounding the exact fraction would.

    With N = numerator and D = denominator: a quotient that is not exactly a half-unit lies
    at least 1/(2D) from one, and the division below errs by less than N * 10**(1 - prec),
    which is below 1/(2D) because 2ND < 10**(prec - 1) at this precision. A quotient that
    is exactly a half-unit has one decimal place and fewer digits than the precision, so it
    is computed exactly."""
    numerator, denominator = value.numerator, value.denominator
    precision = len(str(numerator)) + len(str(denominator)) + 2
    context = decimal.Context(prec=precision, rounding=decimal.ROUND_HALF_EVEN)
    return context.divide(Decimal(numerator), Decimal(denominator))
