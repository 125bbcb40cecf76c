"""Business days for settlement: funds from a charge become available a number of business
days after it, skipping weekends and the bank holidays of the account's country.

Stripe's `available_on` is 00:00 UTC of the day the funds become available.

`holidays` is imported on first use, not with this module: importing it costs about 40 ms
and loading one country's calendar about 100 ms more, which `kassa serve` and every CLI
command would otherwise pay at startup whether or not anything settles.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

SATURDAY: Final = 5
"""`date.weekday()` of Saturday; Sunday is 6. Banks in every country Kassa serves close on
both (countries with a Friday-Saturday weekend are not modelled)."""

MAX_NON_BUSINESS_DAYS_IN_A_ROW: Final = 366
"""No calendar has a year without a business day: a longer run means broken holiday data,
and the search stops with ValueError instead of looping."""

MAX_BUSINESS_DAYS: Final = 3_650
"""Bounds `count`: ten years of business days, far past any settlement delay."""

HOLIDAY_CACHE_MAX_ENTRIES: Final = 1_024
"""(country, year) calendars kept in memory; the oldest is dropped past this."""

HOLIDAY_CATEGORIES: Final = frozenset({"public", "bank"})
"""Public holidays, plus the bank holidays `holidays` knows for some countries (Japan's
year-end closing days, for example): settlement stops whenever banks are closed."""

BANKING_SUBDIVISIONS: Final[Mapping[str, str]] = MappingProxyType({"GB": "ENG"})
"""The UK's payment systems (Bacs, Faster Payments, CHAPS) close on England and Wales' bank
holidays, which include Easter Monday; the UK-wide calendar does not."""

FEDERAL_RESERVE_RULE_COUNTRIES: Final = frozenset({"US"})
"""US banks follow the Federal Reserve: a holiday on a Sunday closes them the Monday after,
but one on a Saturday does not close them the Friday before (the federal "observed" Friday
that `holidays` reports is a business day for payments)."""
SUNDAY: Final = 6

_holiday_cache: dict[tuple[str, int], frozenset[datetime.date]] = {}
_holiday_cache_lock = threading.Lock()
"""Guards eviction, which iterates the dict, against workers writing from other threads."""


def _load_holidays(country: str, year: int) -> frozenset[datetime.date]:
    import holidays  # lazy: see the module docstring

    try:
        entity = holidays.country_holidays(country)  # no years: computes nothing yet
    except NotImplementedError:  # a country `holidays` does not know: weekends only
        return frozenset()
    categories = HOLIDAY_CATEGORIES & set(entity.supported_categories)
    federal_reserve = country in FEDERAL_RESERVE_RULE_COUNTRIES
    calendar = holidays.country_holidays(
        country,
        subdiv=BANKING_SUBDIVISIONS.get(country),
        years=year,
        categories=categories,
        observed=not federal_reserve,
    )
    days = set(calendar)
    if federal_reserve:
        days |= {day + datetime.timedelta(days=1) for day in calendar if day.weekday() == SUNDAY}
    return frozenset(day for day in days if day.year == year)


def holiday_countries() -> frozenset[str]:
    """The two-letter codes of the countries whose holidays `holidays` knows (others count
    weekends only)."""
    import holidays  # lazy: see the module docstring

    return frozenset(code for code in holidays.list_supported_countries() if len(code) == 2)


def _holidays_in(country: str, year: int) -> frozenset[datetime.date]:
    key = (country, year)
    cached = _holiday_cache.get(key)
    if cached is None:
        cached = _load_holidays(country, year)  # outside the lock: it may take 100 ms
        with _holiday_cache_lock:
            while len(_holiday_cache) >= HOLIDAY_CACHE_MAX_ENTRIES:
                del _holiday_cache[next(iter(_holiday_cache))]  # oldest first
            _holiday_cache[key] = cached
    return cached


def is_business_day(day: datetime.date, country: str) -> bool:
    """Whether banks in `country` (ISO 3166-1 alpha-2) are open on `day`."""
    if day.weekday() >= SATURDAY:
        return False
    return day not in _holidays_in(country.upper(), day.year)


def _next_business_day(day: datetime.date, country: str, step: int = 1) -> datetime.date:
    """The first business day on or after `day` (with `step` -1: on or before it)."""
    for offset in range(MAX_NON_BUSINESS_DAYS_IN_A_ROW + 1):
        candidate = day + datetime.timedelta(days=offset * step)
        if is_business_day(candidate, country):
            return candidate
    raise ValueError(
        f"no business day in {country!r} within {MAX_NON_BUSINESS_DAYS_IN_A_ROW} days "
        f"of {day.isoformat()}"
    )


def add_business_days(day: datetime.date, count: int, country: str) -> datetime.date:
    """The `count`-th business day after `day` (Friday + 2 is Tuesday). With `count` 0,
    `day` itself if it is a business day, else the next one (Saturday + 0 is Monday)."""
    if not 0 <= count <= MAX_BUSINESS_DAYS:
        raise ValueError(f"count must be between 0 and {MAX_BUSINESS_DAYS}, not {count}")
    if count == 0:
        return _next_business_day(day, country)
    for _ in range(count):
        day = _next_business_day(day + datetime.timedelta(days=1), country)
    return day


def subtract_business_days(day: datetime.date, count: int, country: str) -> datetime.date:
    """The `count`-th business day before `day` (Tuesday - 2 is Friday)."""
    if not 0 <= count <= MAX_BUSINESS_DAYS:
        raise ValueError(f"count must be between 0 and {MAX_BUSINESS_DAYS}, not {count}")
    for _ in range(count):
        day = _next_business_day(day - datetime.timedelta(days=1), country, step=-1)
    return day


def available_on(created: int, delay_business_days: int, country: str) -> int:
    """Unix seconds of 00:00 UTC on the day funds from a charge made at `created` (unix
    seconds) become available: `delay_business_days` business days after its UTC date."""
    charged_on = datetime.datetime.fromtimestamp(created, tz=datetime.UTC).date()
    return midnight_utc(add_business_days(charged_on, delay_business_days, country))


def midnight_utc(day: datetime.date) -> int:
    """Unix seconds of 00:00 UTC on `day`."""
    return int(datetime.datetime.combine(day, datetime.time(), tzinfo=datetime.UTC).timestamp())
