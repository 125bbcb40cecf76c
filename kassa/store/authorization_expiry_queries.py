"""SQL behind card authorizations held for capture that expire when their capture window
closes: the expiry each such charge has still to come (table `authorization_expiries`), the
job's scan for those due in real time across accounts, taking one (the claim that makes an
expiry happen once; a capture or cancel takes it too), and a deleted test clock's expiries
handed to real time. Mixed into `Transaction`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kassa.invariants import ensure
from kassa.store.due_order import DueCursor, after, postpone_sql

if TYPE_CHECKING:
    from kassa.store.queries import Executor


@dataclass(frozen=True)
class DueAuthorizationExpiry:
    account_id: str
    charge_id: str
    expires_at: int

    @property
    def object_id(self) -> str:
        return self.charge_id

    @property
    def due_at(self) -> int:
        return self.expires_at


class AuthorizationExpiryQueries:
    _db: Executor

    async def schedule_authorization_expiry(
        self, account_id: str, charge_id: str, expires_at: int, test_clock: str | None
    ) -> None:
        await self._db.execute(
            "INSERT INTO authorization_expiries (account_id, id, expires_at, test_clock) "
            "VALUES (?, ?, ?, ?)",
            (account_id, charge_id, expires_at, test_clock),
        )

    async def authorization_expiries_due(
        self, now: int, cursor: DueCursor | None, limit: int
    ) -> list[DueAuthorizationExpiry]:
        """Up to `limit` expiries due at `now` in real time, after `cursor` in (`expires_at`,
        id) order (the longest due first), across accounts (not those a test clock governs:
        its advance does them); one range of the `authorization_expiries_due` index."""
        resume, resume_args = after("expires_at", cursor)
        rows = await self._db.fetchall(
            "SELECT account_id, id, expires_at FROM authorization_expiries "
            f"WHERE expires_at <= ?{resume} AND test_clock IS NULL "
            "ORDER BY expires_at, id LIMIT ?",
            (now, *resume_args, limit),
        )
        ensure(len(rows) <= limit, "a scan for due expiries returns at most its limit")
        return [DueAuthorizationExpiry(str(r[0]), str(r[1]), int(r[2])) for r in rows]

    async def postpone_authorization_expiry(
        self, entry: DueAuthorizationExpiry, until: int
    ) -> bool:
        """Move a real-time expiry still due at `entry.expires_at` (not taken since the
        scan) to `until`; whether it moved."""
        ensure(until > entry.expires_at, "an authorization's expiry is postponed to a later time")
        row = await self._db.fetchone(
            postpone_sql("authorization_expiries", "expires_at", " AND test_clock IS NULL"),
            (until, entry.account_id, entry.charge_id, entry.expires_at),
        )
        return row is not None

    async def take_authorization_expiry(self, account_id: str, charge_id: str) -> int | None:
        """When the charge's authorization expires, the row removed in this unit of work;
        None if none is left (captured, canceled or expired already: on PostgreSQL the
        delete waits for a unit that took it first, then finds nothing)."""
        row = await self._db.fetchone(
            "DELETE FROM authorization_expiries WHERE account_id = ? AND id = ? "
            "RETURNING expires_at",
            (account_id, charge_id),
        )
        return None if row is None else int(row[0])

    async def release_clock_authorization_expiries(self, account_id: str, clock_id: str) -> None:
        """A deleted clock's authorizations: they expire in real time from now on."""
        await self._db.execute(
            "UPDATE authorization_expiries SET test_clock = NULL "
            "WHERE test_clock = ? AND account_id = ?",
            (clock_id, account_id),
        )
