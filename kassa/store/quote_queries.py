"""SQL behind Quotes beyond the generic object tables: the `quotes` job's scan for draft and
open quotes whose `expires_at` has come (column `expires_due`, across accounts) and its
postponement of one whose cancellation failed, both `due_order`'s. Mixed into
`Transaction`.

The scan reads only the quotes no test clock governs (`REAL_TIME`): a quote on a test clock's
customer lives in that clock's time, which the real-time job does not keep."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from kassa.store.due_order import REAL_TIME, DueColumn, DueCursor, DueRow, postpone_due, scan_due

if TYPE_CHECKING:
    from kassa.store.queries import Executor

QUOTE_EXPIRIES: Final = DueColumn(
    "quotes", "expires_due", " AND expires_due IS NOT NULL AND deleted = 0" + REAL_TIME
)
"""One range of the `quotes_due` index (migration 0065)."""


class QuoteQueries:
    _db: Executor

    async def quotes_due(self, now: int, cursor: DueCursor | None, limit: int) -> list[DueRow]:
        """Up to `limit` draft or open quotes whose expiry has come at `now`, after `cursor`
        in (`expires_due`, id) order, across accounts."""
        return await scan_due(self._db, QUOTE_EXPIRIES, now, cursor, limit)

    async def postpone_quote_expiry(self, entry: DueRow, until: int) -> bool:
        """Move the quote's `expires_due` column, still at `entry.due_at`, to `until`;
        whether it moved (the document keeps its time, which its next save stores again)."""
        return await postpone_due(self._db, QUOTE_EXPIRIES, entry, until)
