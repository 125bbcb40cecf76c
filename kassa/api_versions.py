"""Which Stripe API versions exist, as far as Kassa can tell: a webhook endpoint may be
pinned to one (`api_version`), and a request may name one (`Stripe-Version`), never a
version Stripe has not released.

A version is a release date, `YYYY-MM-DD`. Since 2024-09-30 it also carries the name of
its major release (`2024-09-30.acacia`): Stripe issues a major release twice a year and a
monthly release in every month, each named after the last major release, so a date names
exactly one release. Kassa knows the releases up to its own `API_VERSION`. A later version
that Stripe may have released since (dated by today, named as its date's release would be:
Kassa's own name until the next major release is due, then a name Kassa does not know yet)
is taken too, as Stripe takes any released version: an SDK released after this Kassa pins
one (stripe-node 23.2 sends 2026-11-18.endive), and Kassa answers it in its own shape as it
does an older version. A date to come, or a date with another release's name, is refused.
"""

from __future__ import annotations

import datetime
import re

from kassa import API_VERSION

_VERSION = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:\.([a-z]+))?")
MAJOR_RELEASES: tuple[tuple[str, str], ...] = (
    ("2024-09", "acacia"),
    ("2025-03", "basil"),
    ("2025-09", "clover"),
    ("2026-03", "dahlia"),
    ("2026-09", "endive"),
)
"""(first month, name) of each named major release, oldest first; the last is Kassa's."""
OLDEST_VERSION_DATE = datetime.date(2011, 1, 1)
"""Before Stripe's first dated API version: nothing older exists."""


MAJOR_RELEASE_MONTHS = 6
"""Stripe issues a major release twice a year: the next after Kassa's is due this many
months after Kassa's first month."""
_LAST_MAJOR_YEAR, _LAST_MAJOR_MONTH = (int(part) for part in MAJOR_RELEASES[-1][0].split("-"))
_NEXT_MAJOR_MONTHS = _LAST_MAJOR_YEAR * 12 + _LAST_MAJOR_MONTH - 1 + MAJOR_RELEASE_MONTHS
_NEXT_MAJOR_MONTH = f"{_NEXT_MAJOR_MONTHS // 12:04d}-{_NEXT_MAJOR_MONTHS % 12 + 1:02d}"
"""When the major release after Kassa's is due (`YYYY-MM`)."""
RELEASE_DATE_SLACK = datetime.timedelta(days=1)
"""A version dated tomorrow (UTC) may be out already where Stripe dates its releases."""


def is_known_api_version(version: str, today: datetime.date) -> bool:
    """Whether `version` is a Stripe API version released by `today`: up to Kassa's own, its
    name (if any) the one of its date's release; after it, as the module says."""
    date, name = _parts(version)
    newest, _ = _parts(API_VERSION)
    if date is None or newest is None or date < OLDEST_VERSION_DATE:
        return False
    if date <= newest:
        return name == release_name(date)
    if date > today + RELEASE_DATE_SLACK or name is None:
        return False
    if date.strftime("%Y-%m") < _NEXT_MAJOR_MONTH:
        return name == release_name(date)
    return name not in {known for _, known in MAJOR_RELEASES}


def release_name(date: datetime.date) -> str | None:
    """The named release a version of this date belongs to; None before the first."""
    month = date.strftime("%Y-%m")
    named = [name for first_month, name in MAJOR_RELEASES if first_month <= month]
    return named[-1] if named else None


def dated_on_or_after(version: str, since: datetime.date) -> bool:
    """Whether `version` (a known one: `is_known_api_version`) was released on or after
    `since`."""
    date, _ = _parts(version)
    return date is not None and date >= since


def _parts(version: str) -> tuple[datetime.date | None, str | None]:
    found = _VERSION.fullmatch(version)
    if found is None:
        return None, None
    year, month, day, name = found.groups()
    try:
        return datetime.date(int(year), int(month), int(day)), name
    except ValueError:
        return None, None
