"""Which Stripe API versions exist, as far as Kassa can tell: a webhook endpoint may be
pinned to one (`api_version`), and a request may name one (`Stripe-Version`), never a
version Stripe has not released.

A version is a release date, `YYYY-MM-DD`. Since 2024-09-30 it also carries the name of
its major release (`2024-09-30.acacia`): Stripe issues a major release twice a year and a
monthly release in every month, each named after the last major release, so a date names
exactly one release. Kassa knows the releases up to its own `API_VERSION`; a later
version, or a date with another release's name, does not exist for it.
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


def is_known_api_version(version: str) -> bool:
    """Whether `version` is a Stripe API version up to Kassa's own, its name (if any) the
    one of its date's release."""
    date, name = _parts(version)
    newest, _ = _parts(API_VERSION)
    if date is None or newest is None or not OLDEST_VERSION_DATE <= date <= newest:
        return False
    return name == release_name(date)


def release_name(date: datetime.date) -> str | None:
    """The named release a version of this date belongs to; None before the first."""
    month = date.strftime("%Y-%m")
    named = [name for first_month, name in MAJOR_RELEASES if first_month <= month]
    return named[-1] if named else None


def _parts(version: str) -> tuple[datetime.date | None, str | None]:
    found = _VERSION.fullmatch(version)
    if found is None:
        return None, None
    year, month, day, name = found.groups()
    try:
        return datetime.date(int(year), int(month), int(day)), name
    except ValueError:
        return None, None
