"""The invoice reminder schedule (`kassa.services.billing.reminders`): 09:00 local time in
the account's zone on the due date's day plus each offset, across DST changes, gaps and
repeated hours; the next reminder derived lazily from the last one sent; which template and
event each gets; which invoices get none. Pure functions, fixed instants."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kassa.config import InvalidSetting, Settings, invoice_reminder_days
from kassa.services.billing.reminders import (
    DEFAULT_OFFSETS_DAYS,
    OVERDUE_EVENT,
    WILL_BE_DUE_EVENT,
    Reminder,
    ReminderKind,
    account_zone,
    local_instant,
    next_reminder,
    reminder_event_type,
    scheduled_reminder,
    wants_reminders,
    zone_named,
)

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
APIA = ZoneInfo("Pacific/Apia")
UTC = dt.UTC
DAY = 86_400


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(dt.datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp())


def local(instant: int, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.fromtimestamp(instant, zone)


def schedule(due_date: int, zone: ZoneInfo) -> dict[int, int]:
    return {o: scheduled_reminder(due_date, o, zone).send_at for o in DEFAULT_OFFSETS_DAYS}


# -- 09:00 local, on both sides of a DST change ------------------------------------------------


def test_new_york_in_march_nine_local_before_and_after_clocks_go_forward() -> None:
    # Due Tuesday 10 March 2026 (noon local); DST starts Sunday 8 March at 02:00.
    due = utc(2026, 3, 10, 16, 0)
    at = schedule(due, NEW_YORK)
    assert at[-7] == utc(2026, 3, 3, 14, 0)  # 09:00 EST (UTC-5)
    assert at[0] == utc(2026, 3, 10, 13, 0)  # 09:00 EDT (UTC-4)
    assert at[7] == utc(2026, 3, 17, 13, 0)
    assert at[30] == utc(2026, 4, 9, 13, 0)
    for instant in at.values():
        assert local(instant, NEW_YORK).time() == dt.time(9, 0)


def test_new_york_in_november_nine_local_before_and_after_clocks_go_back() -> None:
    # Due Tuesday 3 November 2026; DST ends Sunday 1 November at 02:00.
    due = utc(2026, 11, 3, 20, 0)
    at = schedule(due, NEW_YORK)
    assert at[-7] == utc(2026, 10, 27, 13, 0)  # 09:00 EDT
    assert at[0] == utc(2026, 11, 3, 14, 0)  # 09:00 EST
    assert at[14] == utc(2026, 11, 17, 14, 0)


def test_berlin_in_spring_and_autumn() -> None:
    # DST starts 29 March 2026 and ends 25 October 2026 in the EU.
    spring = schedule(utc(2026, 4, 1, 10, 0), BERLIN)
    assert spring[-7] == utc(2026, 3, 25, 8, 0)  # 09:00 CET (UTC+1)
    assert spring[0] == utc(2026, 4, 1, 7, 0)  # 09:00 CEST (UTC+2)
    autumn = schedule(utc(2026, 10, 28, 10, 0), BERLIN)
    assert autumn[-7] == utc(2026, 10, 21, 7, 0)  # CEST
    assert autumn[0] == utc(2026, 10, 28, 8, 0)  # CET


def test_the_due_day_is_the_local_calendar_day_of_the_due_instant() -> None:
    # 03:00 UTC on 10 March is still 9 March in New York: the reminders follow the 9th.
    due = utc(2026, 3, 10, 3, 0)
    assert local(scheduled_reminder(due, 0, NEW_YORK).send_at, NEW_YORK).date() == dt.date(
        2026, 3, 9
    )
    assert local(scheduled_reminder(due, 0, BERLIN).send_at, BERLIN).date() == dt.date(2026, 3, 10)


# -- gaps and repeated hours -------------------------------------------------------------------


def test_a_nine_oclock_that_never_happened_moves_to_the_end_of_the_gap() -> None:
    # Samoa skipped Friday 30 December 2011 entirely (UTC-10 to UTC+14 at midnight).
    instant = local_instant(dt.date(2011, 12, 30), APIA)
    assert instant == utc(2011, 12, 30, 10, 0)  # midnight starting 31 December, local
    assert local(instant, APIA) == dt.datetime(2011, 12, 31, 0, 0, tzinfo=APIA)
    # fold=0 alone would have said 19:00 UTC: the same instant as 31 December's 09:00.
    assert instant < local_instant(dt.date(2011, 12, 31), APIA) == utc(2011, 12, 30, 19, 0)


def test_an_hour_in_a_dst_gap_moves_to_the_moment_clocks_jump() -> None:
    # 02:30 on 8 March 2026 does not exist in New York: clocks jump from 02:00 to 03:00 EDT.
    assert local_instant(dt.date(2026, 3, 8), NEW_YORK, hour=2) == utc(2026, 3, 8, 7, 0)
    assert local_instant(dt.date(2026, 3, 29), BERLIN, hour=2) == utc(2026, 3, 29, 1, 0)


def test_a_repeated_hour_takes_its_first_occurrence() -> None:
    # 01:00-02:00 happens twice on 1 November 2026 in New York; the first is EDT.
    assert local_instant(dt.date(2026, 11, 1), NEW_YORK, hour=1) == utc(2026, 11, 1, 5, 0)
    assert local_instant(dt.date(2026, 10, 25), BERLIN, hour=2) == utc(2026, 10, 25, 0, 0)


# -- the next reminder, lazily ----------------------------------------------------------------

DUE = utc(2026, 3, 10, 16, 0)
AT = schedule(DUE, NEW_YORK)
FINALIZED = AT[-7] - 10 * DAY


def test_before_the_first_reminder_the_next_is_the_first() -> None:
    found = next_reminder(
        due_date=DUE, offsets=DEFAULT_OFFSETS_DAYS, zone=NEW_YORK, now=FINALIZED, after=FINALIZED
    )
    assert found == Reminder(-7, AT[-7], dt.date(2026, 3, 3))
    assert not found.is_due(FINALIZED)
    assert found.is_due(AT[-7])


def test_reminders_sent_as_they_fall_due() -> None:
    sent = []
    after = FINALIZED
    for offset in DEFAULT_OFFSETS_DAYS:
        now = AT[offset] + 60  # the job runs a minute after each reminder's time
        found = next_reminder(
            due_date=DUE, offsets=DEFAULT_OFFSETS_DAYS, zone=NEW_YORK, now=now, after=after
        )
        assert found is not None and found.is_due(now)
        sent.append((found.offset_days, found.kind))
        after = now
    assert sent == [
        (-7, ReminderKind.BEFORE_DUE),
        (0, ReminderKind.ON_DUE),
        (7, ReminderKind.AFTER_DUE),
        (14, ReminderKind.AFTER_DUE),
        (30, ReminderKind.AFTER_DUE),
    ]
    assert (
        next_reminder(
            due_date=DUE, offsets=DEFAULT_OFFSETS_DAYS, zone=NEW_YORK, now=after + DAY, after=after
        )
        is None
    )


def test_missed_reminders_collapse_into_the_latest_due() -> None:
    # The worker was down from before the due date until 20 days after it.
    now = AT[14] + 6 * DAY
    found = next_reminder(
        due_date=DUE, offsets=DEFAULT_OFFSETS_DAYS, zone=NEW_YORK, now=now, after=AT[-7]
    )
    assert found is not None and found.offset_days == 14 and found.is_due(now)
    following = next_reminder(
        due_date=DUE, offsets=DEFAULT_OFFSETS_DAYS, zone=NEW_YORK, now=now, after=now
    )
    assert following is not None and following.offset_days == 30


def test_reminders_scheduled_before_finalization_are_not_sent() -> None:
    finalized = AT[-7] + DAY  # finalized six days before it is due
    found = next_reminder(
        due_date=DUE, offsets=DEFAULT_OFFSETS_DAYS, zone=NEW_YORK, now=finalized, after=finalized
    )
    assert found is not None and found.offset_days == 0 and not found.is_due(finalized)


def test_a_changed_schedule_applies_to_future_reminders_only() -> None:
    sent_at = AT[-7] + 60
    now = sent_at + 2 * DAY  # five days before the due date
    # New schedule with an earlier offset (already past) and one still to come.
    changed = (-10, -7, -3, 0)
    found = next_reminder(due_date=DUE, offsets=changed, zone=NEW_YORK, now=now, after=sent_at)
    assert found is not None
    assert (found.offset_days, found.is_due(now)) == (-3, False)
    # A schedule that drops everything after the last reminder sent sends nothing more.
    assert (
        next_reminder(due_date=DUE, offsets=(-10, -7), zone=NEW_YORK, now=now, after=sent_at)
        is None
    )
    # A later schedule's first offset is the next one, at its own 09:00.
    later = next_reminder(due_date=DUE, offsets=(3, 60), zone=NEW_YORK, now=now, after=sent_at)
    assert later is not None and later.send_at == utc(2026, 3, 13, 13, 0)


def test_an_empty_schedule_has_no_reminders() -> None:
    assert next_reminder(due_date=DUE, offsets=(), zone=NEW_YORK, now=DUE, after=None) is None


# -- templates, events, and who gets reminders ---------------------------------------------------


def test_each_side_of_the_due_date_has_its_template_and_event() -> None:
    before, on, after = (scheduled_reminder(DUE, o, NEW_YORK) for o in (-1, 0, 1))
    assert (before.kind, on.kind, after.kind) == (
        ReminderKind.BEFORE_DUE,
        ReminderKind.ON_DUE,
        ReminderKind.AFTER_DUE,
    )
    assert [reminder_event_type(r) for r in (before, on, after)] == [
        WILL_BE_DUE_EVENT,
        WILL_BE_DUE_EVENT,
        OVERDUE_EVENT,
    ]


OPEN_INVOICE = {"status": "open", "collection_method": "send_invoice", "due_date": DUE}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, True),
        ({"status": "paid"}, False),
        ({"status": "void"}, False),
        ({"status": "uncollectible"}, False),
        ({"status": "draft"}, False),
        ({"collection_method": "charge_automatically"}, False),
        ({"due_date": None}, False),
    ],
)
def test_only_open_invoices_sent_to_pay_get_reminders(
    changes: dict[str, object], expected: bool
) -> None:
    assert wants_reminders({**OPEN_INVOICE, **changes}) is expected


def test_account_zone_reads_stripes_dashboard_timezone_and_falls_back_to_utc() -> None:
    assert account_zone({"settings": {"dashboard": {"timezone": "Europe/Berlin"}}}) == BERLIN
    assert account_zone({"settings": {"dashboard": {"timezone": "Mars/Olympus"}}}) == ZoneInfo(
        "Etc/UTC"
    )
    assert account_zone({}) == ZoneInfo("Etc/UTC")
    assert zone_named("../../etc/passwd") == ZoneInfo("Etc/UTC")


def test_the_schedule_setting() -> None:
    assert invoice_reminder_days(Settings()) == (-7, 0, 7, 14, 30)
    assert invoice_reminder_days(Settings(invoice_reminder_days="14, -3,+1")) == (-3, 1, 14)
    assert invoice_reminder_days(Settings(invoice_reminder_days="")) == ()
    for bad in ("1,1", "400", "a", ",".join(str(n) for n in range(21))):
        with pytest.raises(InvalidSetting, match="KASSA_INVOICE_REMINDER_DAYS"):
            Settings(invoice_reminder_days=bad)


# -- properties -------------------------------------------------------------------------------

ZONES = [
    "America/New_York",
    "Europe/Berlin",
    "Australia/Sydney",
    "Pacific/Apia",
    "Asia/Kolkata",
    "America/Sao_Paulo",
    "Etc/UTC",
]


@settings(max_examples=200, deadline=None)
@given(
    zone_name=st.sampled_from(ZONES),
    due=st.integers(min_value=utc(2005, 1, 1), max_value=utc(2035, 1, 1)),
    offsets=st.sets(st.integers(min_value=-60, max_value=60), max_size=8),
)
def test_reminders_fall_at_nine_on_their_day_and_each_is_sent_once(
    zone_name: str, due: int, offsets: set[int]
) -> None:
    zone = ZoneInfo(zone_name)
    due_day = local(due, zone).date()
    for offset in offsets:
        reminder = scheduled_reminder(due, offset, zone)
        at = local(reminder.send_at, zone)
        if at.time() != dt.time(9, 0):  # only inside a gap: then just after it
            assert reminder.send_at < int(
                dt.datetime.combine(reminder.local_day, dt.time(9), tzinfo=zone).timestamp()
            )
        assert reminder.local_day == due_day + dt.timedelta(days=offset)
    # Sending each reminder as it falls due walks the schedule once, in order.
    sent: list[int] = []
    after = None
    for _ in range(len(offsets) + 1):
        found = next_reminder(due_date=due, offsets=sorted(offsets), zone=zone, now=0, after=after)
        if found is None:
            break
        found = next_reminder(
            due_date=due, offsets=sorted(offsets), zone=zone, now=found.send_at, after=after
        )
        assert found is not None
        sent.append(found.offset_days)
        after = found.send_at
    assert sent == sorted(offsets)
