"""The injected clock: nothing else in Kassa reads the wall clock."""

from __future__ import annotations

import datetime
import time
from typing import Protocol

DAY_SECONDS = 86_400
"""A UTC day. Kassa's days (settlement, charts, retention) ignore leap seconds, as Unix time."""


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch, UTC."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()


class FrozenClock:
    """A clock that only moves when told to; for tests and simulations."""

    def __init__(self, start: float) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds


def unix_seconds(clock: Clock) -> int:
    """Stripe's timestamps are whole unix seconds."""
    return int(clock.now())


def utc_date(clock: Clock) -> datetime.date:
    """Today's date in UTC on `clock`."""
    return datetime.datetime.fromtimestamp(clock.now(), datetime.UTC).date()
