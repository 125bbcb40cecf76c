"""When an open invoice's next payment reminder goes out, and which one it is: pure
functions of the due date, the schedule, the account's time zone and "now".

A reminder is due at `REMINDER_HOUR` (09:00) local time, in the account's IANA time zone, on
the due date's local calendar day plus a schedule offset in days (default `-7, 0, 7, 14,
30`: a week before, on the day, then 7, 14 and 30 days late). Local wall times are turned
into instants explicitly:

- A repeated hour (clocks go back): the first occurrence (`fold=0`).
- A gap (clocks go forward over the hour): the first instant after the gap, the moment the
  clocks jump. 09:00 is in no gap in today's zones, but has been (Pacific/Apia skipped all of
  30 December 2011), and a schedule hour other than 09:00 may be.

Nothing is precomputed: `next_reminder` derives the one next reminder from when the last one
was sent (`after`), so a changed schedule applies to the reminders still to come, and one
already sent is never sent again. Missed reminders (the worker was down, or the schedule
gained an earlier offset) collapse into the latest one due: a customer never gets a burst.

How a reminder job uses this (the invoice side wires it, on the invoice's governing clock;
`invoice_emails.queue_due_reminder(ctx, invoice, customer, offsets)` does steps 2 to 4 and
returns what 4 and 5 need):

1. Find open invoices whose next reminder instant has passed: the invoice side keeps that one
   instant in an indexed column (say `next_reminder_at`, set on finalizing with
   `invoice_emails.next_reminder_at(...)`, cleared when paid, voided or marked
   uncollectible), never a list of future reminders. Claim a bounded batch of them.
2. Skip any for which `wants_reminders(invoice)` is false (paid, void, uncollectible, draft,
   charged automatically, or `auto_advance=false`).
3. `next_reminder(due_date=..., offsets=..., zone=..., now=..., after=max(last reminder
   sent, finalized_at))`; if its `send_at <= now`, queue the reminder email.
4. In the same transaction, announce `reminder_event_type(reminder)` (`ReminderCheck.
   event_type`): `invoice.will_be_due` before and on the due date, `invoice.overdue` after
   it, with the invoice as `data.object`.
5. Store `ReminderCheck.next_at` (the next reminder after this one; None: no more) as the
   invoice's next reminder instant.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kassa.invariants import ensure

REMINDER_HOUR = 9
"""Local hour at which reminders go out: the start of a working day."""
DEFAULT_OFFSETS_DAYS = (-7, 0, 7, 14, 30)
OFFSETS_MAX = 20
"""A schedule has at most this many offsets (`KASSA_INVOICE_REMINDER_DAYS` is checked too)."""
GAP_SEARCH_STEPS_MAX = 64
"""Bisection steps to find the instant clocks jump in a gap: a gap spans at most a day
(86,400 s < 2**17), so 17 suffice; 64 bounds the loop whatever the zone data says."""
DEFAULT_ZONE = "Etc/UTC"
"""The zone of an account whose setting is missing or names no zone Python knows."""

UTC = dt.UTC


class ReminderKind(StrEnum):
    """Which template a reminder uses; the value is the email kind."""

    BEFORE_DUE = "reminder_before_due"
    ON_DUE = "reminder_on_due"
    AFTER_DUE = "reminder_after_due"


WILL_BE_DUE_EVENT = "invoice.will_be_due"
OVERDUE_EVENT = "invoice.overdue"


@dataclass(frozen=True)
class Reminder:
    offset_days: int
    """Days after the due date (negative: before it)."""
    send_at: int
    """Unix seconds: 09:00 local on the due date's day plus `offset_days`."""
    local_day: dt.date
    """The local calendar day it belongs to."""

    @property
    def kind(self) -> ReminderKind:
        if self.offset_days < 0:
            return ReminderKind.BEFORE_DUE
        if self.offset_days == 0:
            return ReminderKind.ON_DUE
        return ReminderKind.AFTER_DUE

    def is_due(self, now: int) -> bool:
        return self.send_at <= now


def wants_reminders(invoice: Mapping[str, Any]) -> bool:
    """Whether an invoice gets reminders at all: open, sent for the customer to pay
    (`send_invoice`), with a due date, and left to the billing engine (`auto_advance`).
    Paid, void, uncollectible and draft invoices get none, nor do invoices charged
    automatically, nor those with `auto_advance=false` (Stripe's invoice update: "If you
    would like to stop the Stripe Billing engine from automatically finalizing,
    reattempting payments on, sending reminders for, or automatically reconciling
    invoices, pass auto_advance=false")."""
    return (
        invoice.get("status") == "open"
        and invoice.get("collection_method") == "send_invoice"
        and isinstance(invoice.get("due_date"), int)
        and invoice.get("auto_advance") is not False
    )


def watches_due_date(invoice: Mapping[str, Any]) -> bool:
    """Whether the reminder job looks at the invoice as its due date passes (the customer is
    delinquent from then): open, `send_invoice`, with a due date, whether or not it gets
    reminders. `auto_advance=false` stops what the billing engine does to the invoice
    (finalizing, reattempting, reminding, reconciling), not the customer's `delinquent`
    flag, which "passing the `invoice.due_date`" sets."""
    return (
        invoice.get("status") == "open"
        and invoice.get("collection_method") == "send_invoice"
        and isinstance(invoice.get("due_date"), int)
    )


def overdue_at(due_date: int) -> int:
    """The first second an invoice due at `due_date` is past due (Stripe's
    `Customer.delinquent`: "passing the `invoice.due_date` will set this field to true")."""
    return due_date + 1


def due_date_seen(invoice: Mapping[str, Any], stored: object, now: int | None = None) -> bool:
    """Whether a look at the (watched) invoice has seen its due date pass, told by the
    instant `stored` for its next look: a look before then wakes no later than the moment
    it passes (`wake_at`), so an instant after that moment means it was seen, and so does
    none, unless the invoice's time `now` is before that moment: then none is an instant a
    Kassa before 75fc833 did not keep (it watched no due date of an invoice without
    reminders)."""
    if not watches_due_date(invoice):
        return True
    overdue = overdue_at(int(invoice["due_date"]))
    if not isinstance(stored, int):
        return now is None or now >= overdue
    return stored > overdue


def unwatched_due_date(invoice: Mapping[str, Any], stored: object, now: int) -> bool:
    """Whether the invoice's due date, still to come at `now`, is watched by no instant
    (`due_date_seen`: kept so before 75fc833); the reminder job's start mends it."""
    return (
        watches_due_date(invoice)
        and not isinstance(stored, int)
        and now < overdue_at(int(invoice["due_date"]))
    )


def due_date_watch(invoice: Mapping[str, Any], *, overdue_seen: bool) -> int | None:
    """The only instant kept for an invoice that gets no reminders: its due date passing,
    unless seen already; None when not watched."""
    if not watches_due_date(invoice):
        return None
    return wake_at(int(invoice["due_date"]), None, overdue_seen=overdue_seen)


def wake_at(due_date: int, next_reminder_at: int | None, *, overdue_seen: bool) -> int | None:
    """The reminder job's next instant for an invoice: its next reminder, or, until a look
    at it has seen its due date passed (`overdue_seen`), the moment it passes if that comes
    first: the customer is delinquent from then, whatever the schedule (the default sends
    nothing between the due day's 09:00 and a week on). That moment may be past already
    (an invoice finalized after its due date): the job then looks at it at once."""
    if overdue_seen:
        return next_reminder_at
    overdue = overdue_at(due_date)
    return overdue if next_reminder_at is None else min(next_reminder_at, overdue)


def reminder_event_type(reminder: Reminder) -> str:
    """`invoice.will_be_due` for reminders before and on the due date (on the day it is
    due, not yet late), `invoice.overdue` for those after it."""
    return OVERDUE_EVENT if reminder.offset_days > 0 else WILL_BE_DUE_EVENT


def zone_named(name: object) -> ZoneInfo:
    """The IANA zone `name`, or UTC when it is not a zone Python knows."""
    if isinstance(name, str) and name and len(name) <= 64:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo(DEFAULT_ZONE)


def account_zone(account: Mapping[str, Any]) -> ZoneInfo:
    """An account's time zone: Stripe's `settings.dashboard.timezone` of the account object."""
    settings = account.get("settings")
    dashboard = settings.get("dashboard") if isinstance(settings, Mapping) else None
    return zone_named(dashboard.get("timezone") if isinstance(dashboard, Mapping) else None)


def local_day(instant: int, zone: ZoneInfo) -> dt.date:
    """The calendar day `instant` falls on in `zone`."""
    return dt.datetime.fromtimestamp(instant, zone).date()


def local_instant(day: dt.date, zone: ZoneInfo, hour: int = REMINDER_HOUR) -> int:
    """Unix seconds of `hour`:00 wall time on `day` in `zone`: the first occurrence when
    the hour repeats, the first instant after the gap when it does not exist."""
    wall = dt.datetime.combine(day, dt.time(hour), tzinfo=zone)  # fold=0: first occurrence
    first_reading = int(wall.timestamp())
    if _wall_time(first_reading, zone) == wall.replace(tzinfo=None):
        return first_reading
    # In a gap: fold=0 read the wall time with the offset before the jump (an instant
    # after it), fold=1 with the offset after (an instant before it). The jump lies between.
    return _jump_between(int(wall.replace(fold=1).timestamp()), first_reading, zone)


def _wall_time(instant: int, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.fromtimestamp(instant, zone).replace(tzinfo=None)


def _offset(instant: int, zone: ZoneInfo) -> dt.timedelta | None:
    return dt.datetime.fromtimestamp(instant, zone).utcoffset()


def _jump_between(before: int, after: int, zone: ZoneInfo) -> int:
    """The first instant in (before, after] whose UTC offset differs from `before`'s:
    where the clocks jumped."""
    ensure(before < after, "a gap's instants are ordered")
    start_offset = _offset(before, zone)
    ensure(_offset(after, zone) != start_offset, "the offset changes across a gap")
    low, high = before, after  # offset(low) == start_offset != offset(high)
    for _ in range(GAP_SEARCH_STEPS_MAX):
        if high - low <= 1:
            return high
        middle = (low + high) // 2
        if _offset(middle, zone) == start_offset:
            low = middle
        else:
            high = middle
    return high


def scheduled_reminder(
    due_date: int, offset_days: int, zone: ZoneInfo, hour: int = REMINDER_HOUR
) -> Reminder:
    """The reminder `offset_days` from the due date (an instant; its local day counts)."""
    day = local_day(due_date, zone) + dt.timedelta(days=offset_days)
    return Reminder(offset_days, local_instant(day, zone, hour), day)


def next_reminder(
    *,
    due_date: int,
    offsets: Sequence[int],
    zone: ZoneInfo,
    now: int,
    after: int | None,
    hour: int = REMINDER_HOUR,
) -> Reminder | None:
    """The one reminder to send next, or None when the schedule has no more.

    `after`: only reminders scheduled strictly after this instant count; pass the later of
    when the last reminder was sent and when the invoice was finalized (a reminder scheduled
    before the invoice existed is not sent). If several are due (`send_at <= now`), the
    latest of them is returned and the older ones are skipped; otherwise the earliest
    still to come.
    """
    ensure(len(offsets) <= OFFSETS_MAX, f"a reminder schedule has at most {OFFSETS_MAX} offsets")
    pending = sorted(
        (scheduled_reminder(due_date, offset, zone, hour) for offset in set(offsets)),
        key=lambda reminder: (reminder.send_at, reminder.offset_days),
    )
    if after is not None:
        pending = [reminder for reminder in pending if reminder.send_at > after]
    due = [reminder for reminder in pending if reminder.is_due(now)]
    if due:
        return due[-1]
    return pending[0] if pending else None
