"""When automatic payouts happen, and what each swept: pure functions shared by the balance
settings (`/v1/balance_settings`, where the schedule is set), the payouts that follow it, and
the balance transactions list (`payout=po_...`).

A schedule is Stripe's `payments.payouts.schedule`: `manual` (Kassa's default: nothing is
paid out unless asked), `daily` (every business day), `weekly` (on the `weekly_payout_days`)
or `monthly` (on the `monthly_payout_days`; the 29th to 31st fall on the last day of a shorter
month). A payout day that is not a business day of the account's country moves to the next
one, as Stripe's do. Automatic payouts go out at 00:00 UTC of their day.

An automatic payout sweeps the available balance of each currency: the balance transactions
in that currency that are available when it is made and that no earlier automatic payout
swept, recorded then (`Transaction.sweep_into_payout`), so what a payout lists never changes
afterwards; one still pending goes with the first payout after it settles. Their nets add
up to the payout's amount.
"""

from __future__ import annotations

import calendar
import datetime
from typing import Any, Final

from kassa import business_days

INTERVALS: Final = ("daily", "manual", "monthly", "weekly")
WEEKDAYS: Final = ("monday", "tuesday", "wednesday", "thursday", "friday")
"""Stripe pays out on weekdays only (`date.weekday()` order)."""
SCHEDULE_SEARCH_DAYS_MAX: Final = 400
"""Days looked ahead for the next payout day: every schedule has one within a year and a
month (a monthly schedule on the 31st meets a 31-day month within two)."""
AUTOMATIC_PAYOUT_DESCRIPTION: Final = "STRIPE PAYOUT"


def _scheduled(day: datetime.date, schedule: dict[str, Any]) -> bool:
    interval = schedule.get("interval")
    if interval == "daily":
        return True
    if interval == "weekly":
        return day.weekday() < len(WEEKDAYS) and WEEKDAYS[day.weekday()] in (
            schedule.get("weekly_payout_days") or ()
        )
    if interval == "monthly":
        days = schedule.get("monthly_payout_days") or ()
        last = calendar.monthrange(day.year, day.month)[1]
        return day.day in days or (day.day == last and any(d > last for d in days))
    return False


def deferred_to_a_business_day(now: int, country: str) -> int | None:
    """None if `now` falls on a business day of `country` (UTC), else 00:00 UTC of the next
    one: a payout due but not made on its day (nothing ran, or the clock jumped) goes out
    then, for Stripe pays out on business days only."""
    today = datetime.datetime.fromtimestamp(now, tz=datetime.UTC).date()
    if business_days.is_business_day(today, country):
        return None
    return business_days.midnight_utc(business_days.add_business_days(today, 0, country))


def next_payout_time(after: int, schedule: dict[str, Any], country: str) -> int | None:
    """00:00 UTC of the first payout day of `schedule` later than `after` (unix seconds);
    None for a manual schedule."""
    if schedule.get("interval") not in ("daily", "weekly", "monthly"):
        return None
    start = datetime.datetime.fromtimestamp(after, tz=datetime.UTC).date()
    for offset in range(SCHEDULE_SEARCH_DAYS_MAX):
        day = start + datetime.timedelta(days=offset)
        if not _scheduled(day, schedule):
            continue
        payout_day = business_days.add_business_days(day, 0, country)
        at = business_days.midnight_utc(payout_day)
        if at > after:
            return at
    raise ValueError(f"no payout day within {SCHEDULE_SEARCH_DAYS_MAX} days: {schedule}")
