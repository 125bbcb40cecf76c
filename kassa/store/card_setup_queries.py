"""SQL behind the cards set up for off-session payments (table `card_setups`): recording a
set-up, and asking whether a payment method has one. Mixed into `Transaction`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kassa.store.queries import Executor


class CardSetupQueries:
    _db: Executor

    async def record_card_setup(self, account_id: str, payment_method: str, created: int) -> None:
        """The payment method is set up (again: the first set-up is kept)."""
        await self._db.execute(
            "INSERT INTO card_setups (account_id, payment_method, created) VALUES (?, ?, ?) "
            "ON CONFLICT (account_id, payment_method) DO NOTHING",
            (account_id, payment_method, created),
        )

    async def card_is_set_up(self, account_id: str, payment_method: str) -> bool:
        row = await self._db.fetchone(
            "SELECT 1 FROM card_setups WHERE account_id = ? AND payment_method = ?",
            (account_id, payment_method),
        )
        return row is not None
