"""SQL behind PaymentMethods that may not be used again (table `retired_payment_methods`):
retiring one, and asking whether one is. Mixed into `Transaction`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kassa.store.queries import Executor


class PaymentMethodQueries:
    _db: Executor

    async def retire_payment_method(
        self, account_id: str, payment_method_id: str, reason: str
    ) -> None:
        """Retired for good: a PaymentMethod retired already keeps its first reason."""
        await self._db.execute(
            "INSERT INTO retired_payment_methods (account_id, id, reason) VALUES (?, ?, ?) "
            "ON CONFLICT (account_id, id) DO NOTHING",
            (account_id, payment_method_id, reason),
        )

    async def payment_method_retirement(
        self, account_id: str, payment_method_id: str
    ) -> str | None:
        """Why the PaymentMethod may not be used again; None while it may."""
        row = await self._db.fetchone(
            "SELECT reason FROM retired_payment_methods WHERE account_id = ? AND id = ?",
            (account_id, payment_method_id),
        )
        return None if row is None else str(row[0])
