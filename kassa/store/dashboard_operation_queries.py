"""SQL behind the dashboard's operations pages (webhooks, request log) that the
API's own queries do not cover. Mixed into `Transaction`.

Each read walks one index and stops at a LIMIT: a bounded window of the newest rows, never a
whole table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from kassa.store.dashboard_queries import (
    LOGGED_COLUMNS,
    LoggedRequest,
    RequestLogFilter,
    logged_request,
    request_log_clauses,
)

if TYPE_CHECKING:
    from kassa.store.queries import Executor

EVENT_TYPES_PER_QUERY_MAX = 64
"""Types one family listing may union (Kassa sends a few dozen in all)."""


@dataclass(frozen=True)
class AttemptOutcomes:
    attempts: int
    """Attempts in the window (at most its size)."""
    succeeded: int
    """Of those, how many got a 2xx answer."""

    @property
    def percent(self) -> int | None:
        """Whole percent, rounded down (so 99.9% never shows as 100%); None without attempts."""
        return None if self.attempts == 0 else self.succeeded * 100 // self.attempts


@dataclass(frozen=True)
class PathSearch:
    rows: list[LoggedRequest]
    """Requests to the exact path, newest first."""
    continue_before_seq: int | None
    """Where the next page starts (older rows may match), or None: nothing older matches."""


class DashboardOperationQueries:
    _db: Executor

    async def list_events_of_types(
        self, account_id: str, types: Sequence[str], before_seq: int | None, limit: int
    ) -> list[dict[str, Any]]:
        """The newest `limit` events of any of `types`, older than `before_seq`.

        One arm per type, each a range of the (account_id, type, seq) index cut at `limit`,
        merged by seq: at most types x limit rows are read however many events are stored.
        (A prefix test on `type` could use no index and would walk all of the account's
        events to fill a page of a rare family.)"""
        if not 0 < len(types) <= EVENT_TYPES_PER_QUERY_MAX:
            raise ValueError(f"list 1 to {EVENT_TYPES_PER_QUERY_MAX} event types, not {len(types)}")
        bound = "" if before_seq is None else " AND seq < ?"
        arms: list[str] = []
        args: list[Any] = []
        for index, event_type in enumerate(types):
            arms.append(
                f"SELECT seq, doc FROM (SELECT seq, doc FROM events WHERE account_id = ? "
                f"AND type = ? AND deleted = 0{bound} ORDER BY seq DESC LIMIT ?) arm{index}"
            )
            args.extend((account_id, event_type))
            if before_seq is not None:
                args.append(before_seq)
            args.append(limit)
        rows = await self._db.fetchall(
            f"{' UNION ALL '.join(arms)} ORDER BY seq DESC LIMIT ?", (*args, limit)
        )
        return [orjson.loads(row[1]) for row in rows]

    async def webhook_attempt_outcomes(
        self, account_id: str, endpoint_id: str, window: int
    ) -> AttemptOutcomes:
        """How many of the endpoint's newest `window` attempts succeeded: the index
        (endpoint_id, seq) yields them newest first, so the cost is the window, not the
        endpoint's history."""
        row = await self._db.fetchone(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN status_code >= 200 AND status_code < 300 "
            "THEN 1 ELSE 0 END), 0) FROM (SELECT status_code FROM webhook_attempts "
            "WHERE endpoint_id = ? AND account_id = ? ORDER BY seq DESC LIMIT ?) recent",
            (endpoint_id, account_id, window),
        )
        if row is None:
            return AttemptOutcomes(0, 0)
        return AttemptOutcomes(int(row[0]), int(row[1]))

    async def search_request_log_path(
        self, account_id: str, wanted: RequestLogFilter, path: str, limit: int, window: int
    ) -> PathSearch:
        """Up to `limit` requests to exactly `path`, looked for among the newest `window`
        requests to its route (`wanted.route`, required, with the other filters).

        The log is indexed by route, not path: a rare path under a busy route would
        otherwise mean reading every request to that route. Reading a bounded window and
        continuing from where it stopped keeps each page's cost fixed.
        """
        if wanted.route is None:
            raise ValueError("a path search needs the path's route")
        where, args = request_log_clauses(account_id, wanted)
        scanned = await self._db.fetchall(
            f"SELECT seq, path FROM request_log WHERE {' AND '.join(where)} "
            "ORDER BY seq DESC LIMIT ?",
            (*args, window),
        )
        matching = [int(row[0]) for row in scanned if row[1] == path][: limit + 1]
        continue_before: int | None = None
        if len(matching) > limit:
            continue_before = matching[limit - 1]
        elif len(scanned) == window:
            continue_before = int(scanned[-1][0])
        page = matching[:limit]
        return PathSearch(await self._logged_by_seq(account_id, page), continue_before)

    async def _logged_by_seq(self, account_id: str, seqs: list[int]) -> list[LoggedRequest]:
        if not seqs:
            return []
        placeholders = ", ".join("?" * len(seqs))
        rows = await self._db.fetchall(
            f"SELECT {LOGGED_COLUMNS} FROM request_log WHERE account_id = ? "
            f"AND seq IN ({placeholders}) ORDER BY seq DESC",
            (account_id, *seqs),
        )
        return [logged_request(row) for row in rows]
