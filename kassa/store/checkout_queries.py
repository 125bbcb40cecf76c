"""SQL behind Checkout Sessions beyond the generic object tables: the `checkout_sessions`
job's scan for open sessions whose `expires_at` has come (column `expires_due`, across
accounts) and its postponement of one whose expiry failed. The scan and postponement are
`due_order`'s. Mixed into `Transaction`.

A session belongs to no test clock (Stripe expires it at its `expires_at` in real time), so
the scan is on the installation's clock."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from kassa.store.due_order import DueColumn, DueCursor, DueRow, postpone_due, scan_due

if TYPE_CHECKING:
    from kassa.store.queries import Executor

CHECKOUT_EXPIRIES: Final = DueColumn(
    "checkout_sessions", "expires_due", " AND expires_due IS NOT NULL AND deleted = 0"
)
"""One range of the `checkout_sessions_due` index (migration 0064)."""


class CheckoutSessionQueries:
    _db: Executor

    async def checkout_sessions_due(
        self, now: int, cursor: DueCursor | None, limit: int
    ) -> list[DueRow]:
        """Up to `limit` open sessions whose expiry has come at `now`, after `cursor` in
        (`expires_due`, id) order, across accounts."""
        return await scan_due(self._db, CHECKOUT_EXPIRIES, now, cursor, limit)

    async def postpone_checkout_expiry(self, entry: DueRow, until: int) -> bool:
        """Move the session's `expires_due` column, still at `entry.due_at`, to `until`;
        whether it moved. The column alone: the document keeps its time, which its next save
        stores again."""
        return await postpone_due(self._db, CHECKOUT_EXPIRIES, entry, until)
