"""SQL behind card authorizations held for capture that expire when their capture window
closes: the expiry each such charge has still to come (table `authorization_expiries`), the
job's scan for those due in real time across accounts, taking one (the claim that makes an
expiry happen once; a capture or cancel takes it too), and a deleted test clock's expiries
handed to real time. The scan, postponement, claim and release are `due_order`'s, shared
with `refund_failures`. Mixed into `Transaction`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from kassa.store import due_order
from kassa.store.due_order import REAL_TIME, DueColumn, DueCursor, DueRow

if TYPE_CHECKING:
    from kassa.store.queries import Executor

AUTHORIZATION_EXPIRIES: Final = DueColumn("authorization_expiries", "expires_at", REAL_TIME)
"""The real-time scan: one range of the `authorization_expiries_due` index."""


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
    ) -> list[DueRow]:
        """Up to `limit` expiries (`object_id`: the charge) due at `now` in real time, after
        `cursor`, across accounts."""
        return await due_order.scan_due(self._db, AUTHORIZATION_EXPIRIES, now, cursor, limit)

    async def postpone_authorization_expiry(self, entry: DueRow, until: int) -> bool:
        """Move a real-time expiry still due at `entry.due_at` (not taken since the scan) to
        `until`; whether it moved."""
        return await due_order.postpone_due(self._db, AUTHORIZATION_EXPIRIES, entry, until)

    async def take_authorization_expiry(self, account_id: str, charge_id: str) -> int | None:
        """When the charge's authorization expires, the row removed in this unit of work;
        None if none is left (captured, canceled or expired already)."""
        table = AUTHORIZATION_EXPIRIES.table
        row = await due_order.take_scheduled(self._db, table, account_id, charge_id, "expires_at")
        return None if row is None else int(row[0])

    async def release_clock_authorization_expiries(self, account_id: str, clock_id: str) -> None:
        """A deleted clock's authorizations: they expire in real time from now on."""
        await due_order.release_clock_rows(
            self._db, AUTHORIZATION_EXPIRIES.table, account_id, clock_id
        )
