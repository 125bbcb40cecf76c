"""Which Stripe-Version values Kassa takes (kassa.api_versions): the released ones, also those
released after this Kassa, never one to come or one named for another release."""

from __future__ import annotations

import datetime

import pytest

from kassa.api_versions import is_known_api_version

TODAY = datetime.date(2026, 12, 6)
AFTER_THE_NEXT_MAJOR = datetime.date(2027, 4, 1)


@pytest.mark.parametrize(
    ("version", "today", "known"),
    [
        ("2026-10-28.endive", TODAY, True),  # Kassa's own
        ("2026-11-18.endive", TODAY, True),  # a monthly release since
        ("2026-12-07.endive", TODAY, True),  # tomorrow in UTC may be today where Stripe is
        ("2026-12-09.endive", TODAY, False),  # not released yet
        ("2026-11-18.dahlia", TODAY, False),  # an older release's name
        ("2026-11-18", TODAY, False),  # unnamed in the named era
        ("2027-02-25.endive", AFTER_THE_NEXT_MAJOR, True),
        ("2027-03-25.fennel", AFTER_THE_NEXT_MAJOR, True),  # a major release Kassa does not know
        ("2027-03-25.endive", AFTER_THE_NEXT_MAJOR, False),  # the old name after the next major
        ("2027-03-25.acacia", AFTER_THE_NEXT_MAJOR, False),
    ],
)
def test_versions_released_after_kassa_are_known_by_their_date_and_name(
    version: str, today: datetime.date, known: bool
) -> None:
    assert is_known_api_version(version, today) is known
