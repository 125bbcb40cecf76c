"""Billing periods and prorations (`kassa.services.billing.periods`): month-end anchors worked
out by hand over leap and common years, prorations worked out by hand for months of 28, 29,
30 and 31 days, refusals, and properties over random anchors, intervals and amounts."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kassa.invariants import InvariantViolated
from kassa.services.billing.periods import (
    boundary,
    next_period,
    period_containing,
    period_index,
    proration,
    trial_end_from_days,
    unused_fraction,
    unused_share,
)
from kassa.services.billing.price_fields import INTERVAL_COUNT_MAX, INTERVALS

DAY = 86_400
HOUR = 3_600


def utc(year: int, month: int, day: int, hour: int = 10, minute: int = 0, second: int = 0) -> int:
    """Unix seconds of a UTC wall-clock time (10:00 unless told), to write dates by hand."""
    moment = dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)
    return calendar.timegm(moment.utctimetuple())


def boundaries(anchor: int, interval: str, interval_count: int, count: int) -> list[int]:
    """Boundaries 1..count (boundary 0 is the anchor)."""
    return [boundary(anchor, interval, interval_count, n) for n in range(1, count + 1)]


# -- month boundaries, by hand -------------------------------------------------------------

# 2027 is a common year (February has 28 days), 2028 a leap year (29 days). Every expected
# date is the anchor's day, or the target month's last day when the month is shorter.
MONTHLY_CASES = [
    # Common year.
    pytest.param(
        utc(2027, 1, 28),
        [utc(2027, 2, 28), utc(2027, 3, 28), utc(2027, 4, 28)],
        id="28th-2027-never-clamped",
    ),
    pytest.param(
        utc(2027, 1, 29),
        [utc(2027, 2, 28), utc(2027, 3, 29), utc(2027, 4, 29)],
        id="29th-2027",
    ),
    pytest.param(
        utc(2027, 1, 30),
        [utc(2027, 2, 28), utc(2027, 3, 30), utc(2027, 4, 30), utc(2027, 5, 30)],
        id="30th-2027",
    ),
    pytest.param(
        utc(2027, 1, 31),
        [
            utc(2027, 2, 28),
            utc(2027, 3, 31),
            utc(2027, 4, 30),
            utc(2027, 5, 31),
            utc(2027, 6, 30),
            utc(2027, 7, 31),
            utc(2027, 8, 31),
            utc(2027, 9, 30),
            utc(2027, 10, 31),
            utc(2027, 11, 30),
            utc(2027, 12, 31),
            utc(2028, 1, 31),
            utc(2028, 2, 29),
        ],
        id="31st-2027-through-leap-february",
    ),
    # Leap year.
    pytest.param(
        utc(2028, 1, 28),
        [utc(2028, 2, 28), utc(2028, 3, 28)],
        id="28th-2028",
    ),
    pytest.param(
        utc(2028, 1, 29),
        [utc(2028, 2, 29), utc(2028, 3, 29)],
        id="29th-2028-not-clamped",
    ),
    pytest.param(
        utc(2028, 1, 30),
        [utc(2028, 2, 29), utc(2028, 3, 30), utc(2028, 4, 30)],
        id="30th-2028",
    ),
    pytest.param(
        utc(2028, 1, 31),
        [utc(2028, 2, 29), utc(2028, 3, 31), utc(2028, 4, 30), utc(2028, 5, 31)],
        id="31st-2028",
    ),
    # Across a year end, from a leap year into a common one.
    pytest.param(
        utc(2028, 11, 30),
        [utc(2028, 12, 30), utc(2029, 1, 30), utc(2029, 2, 28), utc(2029, 3, 30)],
        id="30th-2028-into-2029",
    ),
    pytest.param(
        utc(2028, 12, 29, 23, 59, 59),
        [
            utc(2029, 1, 29, 23, 59, 59),
            utc(2029, 2, 28, 23, 59, 59),
            utc(2029, 3, 29, 23, 59, 59),
        ],
        id="29th-late-evening-keeps-its-time",
    ),
]


@pytest.mark.parametrize(("anchor", "expected"), MONTHLY_CASES)
def test_monthly_boundaries_clamp_to_month_end_but_return_to_the_anchor_day(
    anchor: int, expected: list[int]
) -> None:
    assert boundary(anchor, "month", 1, 0) == anchor
    assert boundaries(anchor, "month", 1, len(expected)) == expected


QUARTERLY_CASES = [
    pytest.param(
        utc(2027, 11, 28),
        [utc(2028, 2, 28), utc(2028, 5, 28), utc(2028, 8, 28), utc(2028, 11, 28)],
        id="28th",
    ),
    pytest.param(
        utc(2027, 11, 29),
        [utc(2028, 2, 29), utc(2028, 5, 29), utc(2028, 8, 29), utc(2028, 11, 29), utc(2029, 2, 28)],
        id="29th",
    ),
    pytest.param(
        utc(2027, 11, 30),
        [utc(2028, 2, 29), utc(2028, 5, 30), utc(2028, 8, 30), utc(2028, 11, 30), utc(2029, 2, 28)],
        id="30th",
    ),
    pytest.param(
        utc(2027, 8, 31),
        [
            utc(2027, 11, 30),
            utc(2028, 2, 29),
            utc(2028, 5, 31),
            utc(2028, 8, 31),
            utc(2028, 11, 30),
            utc(2029, 2, 28),
            utc(2029, 5, 31),
        ],
        id="31st",
    ),
]


@pytest.mark.parametrize(("anchor", "expected"), QUARTERLY_CASES)
def test_quarterly_boundaries_are_counted_from_the_anchor(anchor: int, expected: list[int]) -> None:
    assert boundaries(anchor, "month", 3, len(expected)) == expected


def test_yearly_boundaries_from_a_leap_day() -> None:
    anchor = utc(2028, 2, 29)
    assert boundaries(anchor, "year", 1, 4) == [
        utc(2029, 2, 28),
        utc(2030, 2, 28),
        utc(2031, 2, 28),
        utc(2032, 2, 29),
    ]
    # Every two years: 2030 and 2034 are common years, 2032 and 2036 leap years.
    assert boundaries(anchor, "year", 2, 4) == [
        utc(2030, 2, 28),
        utc(2032, 2, 29),
        utc(2034, 2, 28),
        utc(2036, 2, 29),
    ]


def test_yearly_boundaries_on_an_intended_day_february_lacks() -> None:
    # An anchor clamped to February 28, 2029 for day 30: counted from February 29, 2028
    # (day 30 clamped), each February's last day; its own day (28) would miss 2032's 29th.
    counted = utc(2028, 2, 29)
    assert [boundary(counted, "year", 1, n, day=30) for n in range(1, 5)] == [
        utc(2029, 2, 28),
        utc(2030, 2, 28),
        utc(2031, 2, 28),
        utc(2032, 2, 29),
    ]
    assert period_containing(counted, "month", 12, utc(2032, 3, 1), day=31) == (
        utc(2032, 2, 29),
        utc(2033, 2, 28),
    )


def test_periods_a_century_of_days_on_are_found_arithmetically() -> None:
    anchor = utc(2028, 1, 31)
    day_start = anchor + 36_527 * DAY
    assert period_index(anchor, "day", 1, day_start + 1) == 36_527
    assert period_containing(anchor, "day", 1, day_start + 1) == (day_start, day_start + DAY)


def test_a_year_is_twelve_months() -> None:
    anchor = utc(2027, 1, 31)
    assert boundaries(anchor, "year", 3, 3) == boundaries(anchor, "month", 36, 3)


def test_days_and_weeks_are_fixed_spans_of_seconds() -> None:
    anchor = utc(2028, 2, 28)
    # Daily over the leap day: Feb 29 exists, so it is one of the boundaries.
    assert boundaries(anchor, "day", 1, 3) == [utc(2028, 2, 29), utc(2028, 3, 1), utc(2028, 3, 2)]
    # Every 3 days: 2028-02-28 + 3 = 2028-03-02 (29 days in February), + 3 = 2028-03-05.
    assert boundaries(anchor, "day", 3, 2) == [utc(2028, 3, 2), utc(2028, 3, 5)]
    # Every 2 weeks: +14 days = 2028-03-13, +28 days = 2028-03-27.
    assert boundaries(anchor, "week", 2, 2) == [utc(2028, 3, 13), utc(2028, 3, 27)]
    assert boundary(anchor, "week", 1, 52) == anchor + 52 * 7 * DAY


# -- the period holding an instant ---------------------------------------------------------


def test_period_containing_around_a_clamped_boundary() -> None:
    anchor = utc(2027, 1, 31)
    # The anchor itself opens period 0.
    assert period_containing(anchor, "month", 1, anchor) == (anchor, utc(2027, 2, 28))
    # One second before the February 28 10:00 boundary: still the first period.
    just_before = utc(2027, 2, 28, 9, 59, 59)
    assert period_containing(anchor, "month", 1, just_before) == (anchor, utc(2027, 2, 28))
    # At the boundary: the second period, which ends on the anchor's day again.
    assert period_containing(anchor, "month", 1, utc(2027, 2, 28)) == (
        utc(2027, 2, 28),
        utc(2027, 3, 31),
    )
    # Earlier in a month than the boundary in that month: the period that began last month.
    assert period_containing(anchor, "month", 1, utc(2027, 5, 1)) == (
        utc(2027, 4, 30),
        utc(2027, 5, 31),
    )
    assert period_index(anchor, "month", 1, utc(2027, 5, 1)) == 3


def test_period_containing_on_the_boundary_day_but_earlier_in_the_day() -> None:
    anchor = utc(2027, 3, 15, 18)
    # March 15 2028 at 17:59:59 is before that day's 18:00 boundary.
    assert period_containing(anchor, "year", 1, utc(2028, 3, 15, 17, 59, 59)) == (
        anchor,
        utc(2028, 3, 15, 18),
    )


def test_next_period_returns_to_the_anchor_day_after_a_clamped_one() -> None:
    anchor = utc(2027, 1, 31)
    # From Feb 28 alone one would get Mar 28; from the anchor it is Mar 31.
    assert next_period(anchor, "month", 1, utc(2027, 2, 28)) == (utc(2027, 3, 31), utc(2027, 4, 30))
    assert next_period(anchor, "month", 1, anchor) == (utc(2027, 2, 28), utc(2027, 3, 31))


def test_trial_end_is_whole_days_of_seconds() -> None:
    assert trial_end_from_days(utc(2028, 2, 14), 30) == utc(2028, 3, 15)  # 15 + 29 + 1 days
    assert trial_end_from_days(utc(2027, 2, 14), 30) == utc(2027, 3, 16)  # 14 + 28 + 2 days
    assert trial_end_from_days(1_000, 0) == 1_000


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: boundary(utc(2027, 1, 1), "month", 1, -1), id="negative-index"),
        pytest.param(lambda: boundary(utc(2027, 1, 1), "month", 1, 1, day=32), id="day-32"),
        pytest.param(lambda: boundary(utc(2027, 1, 1), "fortnight", 1, 1), id="unknown"),
        pytest.param(lambda: boundary(utc(2027, 1, 1), "month", 0, 1), id="count-zero"),
        pytest.param(lambda: boundary(utc(2027, 1, 1), "month", 37, 1), id="over-three-years"),
        pytest.param(lambda: boundary(-1, "day", 1, 1), id="before-epoch"),
        pytest.param(lambda: boundary(utc(9998, 1, 1), "year", 3, 1), id="past-year-9999"),
        pytest.param(
            lambda: period_containing(utc(2027, 1, 1), "month", 1, utc(2026, 12, 31)),
            id="instant-before-anchor",
        ),
        pytest.param(
            lambda: next_period(utc(2027, 1, 31), "month", 1, utc(2027, 2, 27)),
            id="start-not-a-boundary",
        ),
        pytest.param(lambda: trial_end_from_days(0, -1), id="negative-trial"),
        pytest.param(lambda: trial_end_from_days(0, 731), id="trial-over-730-days"),
    ],
)
def test_refusals(call: Callable[[], object]) -> None:
    with pytest.raises(InvariantViolated):
        call()


# -- prorations, by hand --------------------------------------------------------------------


def test_upgrade_halfway_through_a_30_day_month() -> None:
    # April 2027 has 30 days; at April 16 00:00, 15 days of 30 remain: exactly a half.
    # Credit -3000/2 = -1500, charge 6000/2 = 3000.
    result = proration(3000, 6000, utc(2027, 4, 1, 0), utc(2027, 5, 1, 0), utc(2027, 4, 16, 0))
    assert (result.credit, result.charge) == (-1500, 3000)
    assert (result.unused_seconds, result.period_seconds) == (15 * DAY, 30 * DAY)
    assert result.unused_fraction == Fraction(1, 2)
    assert result.net == 1500


def test_change_ten_days_into_a_31_day_january() -> None:
    # January 2027 has 31 days; at January 11 00:00, 21 days remain.
    # Credit: 1000 * 21 / 31 = 21000 / 31 = 677 rest 13 (31 * 677 = 20987), 677.42 -> 677.
    # Charge: 2500 * 21 / 31 = 52500 / 31 = 1693 rest 17 (31 * 1693 = 52483), 1693.55 -> 1694.
    result = proration(1000, 2500, utc(2027, 1, 1, 0), utc(2027, 2, 1, 0), utc(2027, 1, 11, 0))
    assert (result.credit, result.charge) == (-677, 1694)
    assert result.unused_fraction == Fraction(21, 31)
    assert result.net == 1017


def test_a_change_in_the_part_before_an_anchor_is_a_share_of_the_whole_month() -> None:
    # A subscription from March 20 anchored on March 31: its first part [Mar 20, Mar 31) is
    # 11 days of the month [Feb 28, Mar 31) it lies in (31 days). A change on March 26
    # leaves 5 days: 5/31 of the whole month, not 5/11 of the part.
    # Credit 3100 * 5 / 31 = 500; charge 6200 * 5 / 31 = 1000.
    part = (utc(2027, 3, 20, 0), utc(2027, 3, 31, 0))
    whole = (utc(2027, 2, 28, 0), utc(2027, 3, 31, 0))
    result = proration(3100, 6200, *part, utc(2027, 3, 26, 0), basis=whole)
    assert (result.credit, result.charge) == (-500, 1000)
    assert result.unused_fraction == Fraction(5, 31)


def test_a_change_in_a_period_cut_short_by_cancel_at_is_a_share_of_the_whole_month() -> None:
    # April [Apr 1, May 1) cut short on April 21 by cancel_at; a change on April 11 leaves
    # 10 days: 10/30 of April. Credit 3000 / 3 = 1000; charge 1500 / 3 = 500.
    whole = (utc(2027, 4, 1, 0), utc(2027, 5, 1, 0))
    result = proration(3000, 1500, whole[0], utc(2027, 4, 21, 0), utc(2027, 4, 11, 0), basis=whole)
    assert (result.credit, result.charge) == (-1000, 500)
    assert result.unused_fraction == Fraction(1, 3)


def test_unused_share_is_the_part_of_a_period_between_two_instants() -> None:
    april = (utc(2027, 4, 1, 0), utc(2027, 5, 1, 0))
    assert unused_share(april, utc(2027, 4, 16, 0), april[1]) == Fraction(1, 2)
    assert unused_share(april, utc(2027, 3, 1, 0), utc(2027, 4, 11, 0)) == Fraction(1, 3)
    assert unused_share(april, utc(2027, 5, 2, 0), utc(2027, 6, 1, 0)) == 0  # misses it


def test_change_a_week_into_a_28_day_february() -> None:
    # February 2027 has 28 days; at February 8 00:00, 21 days remain: 21/28 = 3/4.
    start, end, at = utc(2027, 2, 1, 0), utc(2027, 3, 1, 0), utc(2027, 2, 8, 0)
    # 1000 * 3/4 = 750 and 2000 * 3/4 = 1500, exactly.
    exact = proration(1000, 2000, start, end, at)
    assert (exact.credit, exact.charge) == (-750, 1500)
    # Ties round half up (away from zero for the credit): 30 * 3/4 = 22.5 -> 23 (half even
    # would give 22), 50 * 3/4 = 37.5 -> 38.
    tie = proration(30, 50, start, end, at)
    assert (tie.credit, tie.charge) == (-23, 38)
    # 999 * 3/4 = 749.25 -> 749; 1999 * 3/4 = 1499.25 -> 1499.
    below_half = proration(999, 1999, start, end, at)
    assert (below_half.credit, below_half.charge) == (-749, 1499)


def test_change_in_a_leap_february_counts_29_days() -> None:
    # February 2028 has 29 days; at February 15 00:00, 15 days remain: 15/29.
    # Credit: 1000 * 15 / 29 = 15000 / 29 = 517 rest 7 (29 * 517 = 14993), 517.24 -> 517.
    # Charge: 2500 * 15 / 29 = 37500 / 29 = 1293 rest 3 (29 * 1293 = 37497), 1293.10 -> 1293.
    leap = proration(1000, 2500, utc(2028, 2, 1, 0), utc(2028, 3, 1, 0), utc(2028, 2, 15, 0))
    assert (leap.credit, leap.charge) == (-517, 1293)
    assert leap.period_seconds == 29 * DAY
    # The same change in February 2027 (28 days, 14 remain at February 15): 14/28 = 1/2.
    common = proration(1000, 2500, utc(2027, 2, 1, 0), utc(2027, 3, 1, 0), utc(2027, 2, 15, 0))
    assert (common.credit, common.charge) == (-500, 1250)


def test_prorations_count_seconds() -> None:
    start, end = utc(2027, 1, 1, 0), utc(2027, 2, 1, 0)  # 31 days = 2,678,400 seconds
    # At noon on January 16, 15.5 days of 31 remain: exactly a half.
    assert proration(1000, 3000, start, end, utc(2027, 1, 16, 12)).net == -500 + 1500
    # One second in: 1000 * 2678399 / 2678400 = 999.9996 -> 1000.
    one_in = proration(1000, 1000, start, end, start + 1)
    assert (one_in.credit, one_in.charge, one_in.unused_seconds) == (-1000, 1000, 2_678_399)
    # One second before the end: 1000 / 2678400 -> 0.
    last = proration(1000, 1000, start, end, end - 1)
    assert (last.credit, last.charge, last.unused_seconds) == (0, 0, 1)
    # At the very start nothing is used: the whole amounts.
    assert proration(1000, 2500, start, end, start).net == -1000 + 2500


def test_proration_inside_a_period_found_from_a_month_end_anchor() -> None:
    anchor = utc(2027, 1, 31)
    start, end = period_containing(anchor, "month", 1, utc(2027, 3, 15, 10))
    # The period runs February 28 10:00 to March 31 10:00: 31 days (1 in February, 30 in
    # March). At March 15 10:00, 16 days remain: 3100 * 16 / 31 = 1600.
    assert (start, end) == (utc(2027, 2, 28), utc(2027, 3, 31))
    result = proration(3100, 0, start, end, utc(2027, 3, 15, 10))
    assert (result.credit, result.charge) == (-1600, 0)


@pytest.mark.parametrize(
    ("start", "end", "at"),
    [
        pytest.param(100, 200, 200, id="at-the-end"),
        pytest.param(100, 200, 99, id="before-the-start"),
        pytest.param(100, 100, 100, id="empty-period"),
    ],
)
def test_proration_refuses_a_change_outside_the_period(start: int, end: int, at: int) -> None:
    with pytest.raises(InvariantViolated):
        proration(1000, 2000, start, end, at)
    with pytest.raises(InvariantViolated):
        unused_fraction(start, end, at)


def test_proration_refuses_negative_amounts() -> None:
    with pytest.raises(InvariantViolated):
        proration(-1, 2000, 0, 100, 50)


# -- properties ---------------------------------------------------------------------------

ANCHORS = st.integers(min_value=utc(2000, 1, 1, 0), max_value=utc(2100, 1, 1, 0))
FIFTY_YEARS = 50 * 366 * DAY
"""How far after the anchor the random instants go: far past any subscription."""
AMOUNTS = st.integers(min_value=0, max_value=10**12)


@st.composite
def recurrences(draw: st.DrawFn) -> tuple[str, int]:
    interval = draw(st.sampled_from(INTERVALS))
    count = draw(st.integers(min_value=1, max_value=INTERVAL_COUNT_MAX[interval]))
    return interval, count


@st.composite
def periods(draw: st.DrawFn) -> tuple[int, int, int]:
    """A period [start, end) of 1 second to 3 years and an instant inside it."""
    start = draw(ANCHORS)
    length = draw(st.integers(min_value=1, max_value=3 * 366 * DAY))
    at = draw(st.integers(min_value=start, max_value=start + length - 1))
    return start, start + length, at


def round_half_up(value: Fraction) -> int:
    """An oracle independent of `Decimal`: floor(value + 1/2) for value >= 0."""
    return (2 * value.numerator + value.denominator) // (2 * value.denominator)


@given(ANCHORS, recurrences(), st.integers(min_value=0, max_value=1_000))
def test_boundaries_strictly_increase(anchor: int, recurrence: tuple[str, int], n: int) -> None:
    interval, count = recurrence
    assert boundary(anchor, interval, count, n) < boundary(anchor, interval, count, n + 1)


@given(ANCHORS, st.sampled_from(["month", "year"]), st.integers(1, 36), st.integers(0, 200))
def test_calendar_boundaries_keep_time_of_day_and_clamp_only_to_month_end(
    anchor: int, interval: str, count: int, n: int
) -> None:
    count = min(count, INTERVAL_COUNT_MAX[interval])
    start = dt.datetime.fromtimestamp(anchor, dt.UTC)
    found = dt.datetime.fromtimestamp(boundary(anchor, interval, count, n), dt.UTC)
    months = n * count * (12 if interval == "year" else 1)
    assert (found.year - start.year) * 12 + found.month - start.month == months
    assert found.time() == start.time()
    assert found.day == min(start.day, calendar.monthrange(found.year, found.month)[1])


@given(ANCHORS, recurrences(), st.integers(min_value=0, max_value=FIFTY_YEARS))
def test_period_containing_holds_the_instant_and_agrees_with_boundary(
    anchor: int, recurrence: tuple[str, int], offset: int
) -> None:
    interval, count = recurrence
    instant = anchor + offset
    start, end = period_containing(anchor, interval, count, instant)
    assert start <= instant < end
    n = period_index(anchor, interval, count, instant)
    assert (start, end) == (
        boundary(anchor, interval, count, n),
        boundary(anchor, interval, count, n + 1),
    )
    assert next_period(anchor, interval, count, start) == (
        end,
        boundary(anchor, interval, count, n + 2),
    )


@given(AMOUNTS, periods())
def test_an_unchanged_price_prorates_to_nothing(amount: int, period: tuple[int, int, int]) -> None:
    # Credit and charge round the same magnitude the same way, so they cancel exactly
    # (stronger than "within 1 of 0").
    result = proration(amount, amount, *period)
    assert abs(result.net) <= 1
    assert result.net == 0


@given(AMOUNTS, AMOUNTS, periods())
def test_prorations_stay_within_the_full_amounts_and_round_half_up(
    old: int, new: int, period: tuple[int, int, int]
) -> None:
    start, end, at = period
    result = proration(old, new, start, end, at)
    assert -old <= result.credit <= 0
    assert 0 <= result.charge <= new
    assert result.unused_seconds + (at - start) == result.period_seconds == end - start
    fraction = Fraction(end - at, end - start)
    assert result.credit == -round_half_up(old * fraction)
    assert result.charge == round_half_up(new * fraction)
