"""Settlement business days (`kassa.business_days`)."""

from __future__ import annotations

import datetime
import subprocess
import sys

import pytest

from kassa import business_days
from kassa.business_days import (
    MAX_BUSINESS_DAYS,
    add_business_days,
    available_on,
    is_business_day,
)

date = datetime.date


def test_friday_plus_two_is_tuesday() -> None:
    assert add_business_days(date(2026, 11, 20), 2, "US") == date(2026, 11, 24)


def test_thanksgiving_is_skipped_in_the_us() -> None:
    thanksgiving = date(2026, 11, 26)
    assert not is_business_day(thanksgiving, "US")
    assert add_business_days(date(2026, 11, 25), 1, "US") == date(2026, 11, 27)
    assert add_business_days(date(2026, 11, 24), 2, "US") == date(2026, 11, 27)


def test_christmas_and_the_weekend_are_skipped() -> None:
    # Christmas 2026 is a Friday: Thursday + 1 business day is the Monday after.
    assert add_business_days(date(2026, 12, 24), 1, "US") == date(2026, 12, 28)


def test_uk_bank_holidays_with_country_gb() -> None:
    # Easter 2026: Good Friday 3 April and Easter Monday 6 April (England and Wales).
    assert add_business_days(date(2026, 4, 2), 1, "GB") == date(2026, 4, 7)
    # Spring bank holiday, Monday 25 May 2026.
    assert add_business_days(date(2026, 5, 22), 1, "GB") == date(2026, 5, 26)
    assert not is_business_day(date(2026, 12, 28), "GB")  # Boxing Day, observed


def test_an_unknown_country_skips_only_weekends() -> None:
    assert add_business_days(date(2026, 12, 24), 1, "XX") == date(2026, 12, 25)
    assert add_business_days(date(2026, 12, 25), 1, "XX") == date(2026, 12, 28)
    assert add_business_days(date(2026, 4, 2), 1, "XX") == date(2026, 4, 3)
    assert is_business_day(date(2026, 11, 26), "XX")


def test_count_zero_on_a_saturday_is_monday() -> None:
    assert add_business_days(date(2026, 11, 21), 0, "US") == date(2026, 11, 23)
    assert add_business_days(date(2026, 11, 20), 0, "US") == date(2026, 11, 20)


def test_a_weekend_day_plus_one_is_the_first_business_day_after_it() -> None:
    assert add_business_days(date(2026, 11, 21), 1, "US") == date(2026, 11, 23)


def test_country_codes_in_any_case() -> None:
    assert not is_business_day(date(2026, 11, 26), "us")


def test_japanese_bank_holidays_count() -> None:
    # Japanese banks close on 2 and 3 January, which are not public holidays.
    assert add_business_days(date(2026, 12, 30), 1, "JP") == date(2027, 1, 4)


def test_count_is_bounded() -> None:
    with pytest.raises(ValueError, match="count must be between"):
        add_business_days(date(2026, 1, 1), -1, "US")
    with pytest.raises(ValueError, match="count must be between"):
        add_business_days(date(2026, 1, 1), MAX_BUSINESS_DAYS + 1, "US")


def test_the_search_for_a_business_day_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(business_days, "is_business_day", lambda day, country: False)
    with pytest.raises(ValueError, match="no business day"):
        add_business_days(date(2026, 1, 1), 1, "US")


def test_the_holiday_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(business_days, "HOLIDAY_CACHE_MAX_ENTRIES", 3)
    monkeypatch.setattr(business_days, "_holiday_cache", {})
    for year in range(2020, 2030):
        is_business_day(date(year, 3, 2), "XX")
    assert len(business_days._holiday_cache) <= 3
    assert ("XX", 2029) in business_days._holiday_cache


def test_available_on_is_midnight_utc() -> None:
    friday_afternoon = int(datetime.datetime(2026, 11, 20, 15, 30, tzinfo=datetime.UTC).timestamp())
    expected = int(datetime.datetime(2026, 11, 24, tzinfo=datetime.UTC).timestamp())
    assert available_on(friday_afternoon, 2, "US") == expected
    assert expected % 86_400 == 0


def test_available_on_uses_the_utc_date_of_the_charge() -> None:
    # 23:59 UTC on Wednesday is still Wednesday, whatever the account's local time.
    late = int(datetime.datetime(2026, 11, 25, 23, 59, tzinfo=datetime.UTC).timestamp())
    expected = int(datetime.datetime(2026, 11, 27, tzinfo=datetime.UTC).timestamp())
    assert available_on(late, 1, "US") == expected


def test_importing_the_module_does_not_import_holidays() -> None:
    probe = "import sys, kassa.business_days; print('holidays' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("day", "count", "expected"),
    [
        (datetime.date(2026, 12, 1), 2, datetime.date(2026, 11, 27)),  # Tue - 2: Fri
        (datetime.date(2026, 11, 27), 1, datetime.date(2026, 11, 25)),  # over Thanksgiving
        (datetime.date(2026, 12, 5), 0, datetime.date(2026, 12, 5)),  # 0 leaves the day
    ],
)
def test_subtracting_business_days_skips_weekends_and_holidays(
    day: datetime.date, count: int, expected: datetime.date
) -> None:
    assert business_days.subtract_business_days(day, count, "US") == expected
    if count:
        assert business_days.add_business_days(expected, count, "US") == day
