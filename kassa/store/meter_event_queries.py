"""SQL behind Billing Meters' events (table `billing_meter_events`): an event recorded once
per identifier, canceled by an adjustment, and its meter's aggregate (sum, count or last)
of one customer's events over a span of time, whole or in windows, or over the events
reported since a billing alert was made; and which customers each alert has triggered for
(`billing_alert_triggers`). Every aggregate is one statement over the index on (account,
event name, customer, occurred_at): no event row is read into Python. Mixed into
`Transaction`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from kassa.invariants import ensure

if TYPE_CHECKING:
    from kassa.store.queries import Executor

Formula = Literal["sum", "count", "last"]
FORMULAS: Final[tuple[Formula, ...]] = ("sum", "count", "last")

_SCOPE: Final = (
    "FROM billing_meter_events WHERE account_id = ? AND event_name = ? AND customer = ? "
    "AND canceled = 0 AND occurred_at >= ? AND occurred_at < ?"
)
_WHOLE: Final[dict[str, str]] = {
    "sum": f"SELECT COALESCE(SUM(value), 0) {_SCOPE}",
    "count": f"SELECT COUNT(*) {_SCOPE}",
    # The last event by its timestamp; events of one second by the order they came in.
    "last": f"SELECT value {_SCOPE} ORDER BY occurred_at DESC, created DESC, identifier DESC "
    "LIMIT 1",
}
_REPORTED_SINCE: Final = (
    "FROM billing_meter_events WHERE account_id = ? AND event_name = ? AND customer = ? "
    "AND canceled = 0 AND recorded_ms >= ?"
)
_SINCE: Final[dict[str, str]] = {
    "sum": f"SELECT COALESCE(SUM(value), 0) {_REPORTED_SINCE}",
    "count": f"SELECT COUNT(*) {_REPORTED_SINCE}",
    "last": f"SELECT value {_REPORTED_SINCE} ORDER BY occurred_at DESC, created DESC, "
    "identifier DESC LIMIT 1",
}
_WINDOW: Final = "(occurred_at - ?) / ?"
_WINDOWS: Final[dict[str, str]] = {
    "sum": f"SELECT {_WINDOW} AS w, SUM(value) {_SCOPE} GROUP BY w ORDER BY w LIMIT ?",
    "count": f"SELECT {_WINDOW} AS w, COUNT(*) {_SCOPE} GROUP BY w ORDER BY w LIMIT ?",
    "last": (
        f"SELECT w, value FROM (SELECT {_WINDOW} AS w, value, ROW_NUMBER() OVER "
        f"(PARTITION BY {_WINDOW} ORDER BY occurred_at DESC, created DESC, identifier DESC) "
        f"AS nth {_SCOPE}) AS ranked WHERE nth = 1 ORDER BY w LIMIT ?"
    ),
}


@dataclass(frozen=True)
class MeterEventRow:
    identifier: str
    event_name: str
    customer: str
    value: int
    occurred_at: int
    created: int
    canceled: bool
    recorded_ms: int = 0
    """When it was reported, in the installation's time in milliseconds (`created` is the
    customer's, a test clock's frozen time): a billing alert counts the events reported
    since it was made."""


@dataclass(frozen=True)
class ReportedUsage:
    """One customer's events of one event name reported at or after `since_ms` (the
    installation's time, in milliseconds), whatever their timestamps."""

    account_id: str
    event_name: str
    customer: str
    since_ms: int

    def args(self) -> tuple[str, str, str, int]:
        return (self.account_id, self.event_name, self.customer, self.since_ms)


@dataclass(frozen=True)
class AlertTrigger:
    """An alert triggered for a customer by the usage `value`, at `created` (its time)."""

    account_id: str
    alert_id: str
    customer: str
    value: int
    created: int


@dataclass(frozen=True)
class UsageScope:
    """One customer's events of one event name with `occurred_at` in [start, end)."""

    account_id: str
    event_name: str
    customer: str
    start: int
    end: int

    def args(self) -> tuple[str, str, str, int, int]:
        return (self.account_id, self.event_name, self.customer, self.start, self.end)


class MeterEventQueries:
    _db: Executor

    async def insert_meter_event(self, account_id: str, event: MeterEventRow) -> bool:
        """Record the event; False (nothing written) when the account has one with its
        identifier already."""
        row = await self._db.fetchone(
            "INSERT INTO billing_meter_events (account_id, identifier, event_name, customer, "
            "value, occurred_at, created, canceled, recorded_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?) "
            "ON CONFLICT (account_id, identifier) DO NOTHING RETURNING 1",
            (
                account_id,
                event.identifier,
                event.event_name,
                event.customer,
                event.value,
                event.occurred_at,
                event.created,
                event.recorded_ms,
            ),
        )
        return row is not None

    async def get_meter_event(self, account_id: str, identifier: str) -> MeterEventRow | None:
        row = await self._db.fetchone(
            "SELECT identifier, event_name, customer, value, occurred_at, created, canceled "
            "FROM billing_meter_events WHERE account_id = ? AND identifier = ?",
            (account_id, identifier),
        )
        if row is None:
            return None
        return MeterEventRow(
            str(row[0]),
            str(row[1]),
            str(row[2]),
            int(row[3]),
            int(row[4]),
            int(row[5]),
            bool(row[6]),
        )

    async def cancel_meter_event(self, account_id: str, identifier: str) -> None:
        await self._db.execute(
            "UPDATE billing_meter_events SET canceled = 1 WHERE account_id = ? AND identifier = ?",
            (account_id, identifier),
        )

    async def meter_usage(self, scope: UsageScope, formula: Formula) -> int | None:
        """The aggregate of the scope's events (None: `last` of no event)."""
        row = await self._db.fetchone(_WHOLE[formula], scope.args())
        return None if row is None or row[0] is None else int(row[0])

    async def reported_usage(self, scope: ReportedUsage, formula: Formula) -> int | None:
        """The aggregate of the events reported since `scope.since_ms` (None: `last` of none)."""
        row = await self._db.fetchone(_SINCE[formula], scope.args())
        return None if row is None or row[0] is None else int(row[0])

    async def insert_alert_trigger(self, trigger: AlertTrigger) -> bool:
        """Record that the alert triggered for the customer; False (nothing written) when it
        had already."""
        row = await self._db.fetchone(
            "INSERT INTO billing_alert_triggers (account_id, alert_id, customer, value, created) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (account_id, alert_id, customer) DO NOTHING "
            "RETURNING 1",
            (
                trigger.account_id,
                trigger.alert_id,
                trigger.customer,
                trigger.value,
                trigger.created,
            ),
        )
        return row is not None

    async def meter_usage_windows(
        self, scope: UsageScope, formula: Formula, width: int, limit: int
    ) -> list[tuple[int, int]]:
        """(window number, aggregate) of the first `limit` windows of `width` seconds from
        the scope's start that hold events, in order."""
        ensure(width > 0 and limit > 0, "windows have a width, and a page a size")
        window_args: tuple[int, ...] = (scope.start, width)
        if formula == "last":  # the window's expression is in the partition too
            window_args = (*window_args, *window_args)
        args = (*window_args, *scope.args(), limit)
        rows = await self._db.fetchall(_WINDOWS[formula], args)
        return [(int(row[0]), int(row[1])) for row in rows]
