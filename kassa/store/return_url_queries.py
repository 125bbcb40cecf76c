"""SQL behind the return_url an intent was last confirmed with (table `intent_return_urls`):
remembering it, and reading it back for a confirmation that leaves it out. Mixed into
`Transaction`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kassa.store.queries import Executor


class ReturnUrlQueries:
    _db: Executor

    async def remember_return_url(self, account_id: str, intent_id: str, return_url: str) -> None:
        """The intent's return_url is now `return_url` (the latest confirmation's wins)."""
        await self._db.execute(
            "INSERT INTO intent_return_urls (account_id, intent_id, return_url) "
            "VALUES (?, ?, ?) ON CONFLICT (account_id, intent_id) "
            "DO UPDATE SET return_url = excluded.return_url",
            (account_id, intent_id, return_url),
        )

    async def remembered_return_url(self, account_id: str, intent_id: str) -> str | None:
        row = await self._db.fetchone(
            "SELECT return_url FROM intent_return_urls WHERE account_id = ? AND intent_id = ?",
            (account_id, intent_id),
        )
        return None if row is None else str(row[0])
