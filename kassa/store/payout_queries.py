"""SQL behind payouts beyond the generic object tables: the payouts job's scans for payouts
whose next status change has come and for accounts whose automatic payout is due (across
accounts, or one account's when a read brings it up to date), and the balance transactions
an automatic payout swept. Mixed into `Transaction`.

Payouts belong to the account, not to a customer, so no test clock governs them: every scan
is on the installation's clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from kassa.store.due_order import DueColumn, DueCursor, DueRow, postpone_due, scan_due
from kassa.store.ledger_queries import TRANSACTION_COLUMNS, LedgerTransactionRow, transaction_row

if TYPE_CHECKING:
    from kassa.store.queries import Executor


PAYOUT_MOVES: Final = DueColumn("payouts", "due_at", " AND due_at IS NOT NULL AND deleted = 0")
AUTOMATIC_PAYOUTS: Final = DueColumn(
    "balance_settings", "next_payout_at", " AND next_payout_at IS NOT NULL AND deleted = 0"
)


@dataclass(frozen=True)
class SweptWindow:
    """The balance transactions an automatic payout swept: the account's visible ones in its
    currency that became available after the previous automatic payout in it and before this
    one, ordered by (`available_on`, `seq`): a transaction made in the same second as a
    payout falls before or after it by its `seq`, so each falls in exactly one window."""

    account_id: str
    currency: str
    after: int
    after_txn_seq: int
    """The previous automatic payout's transaction (`available_on`, `seq`); (0, 0) if none."""
    upto: int
    upto_txn_seq: int
    """This payout's own transaction (`available_on`, `seq`), itself left out."""
    limit: int
    before_seq: int | None = None
    after_seq: int | None = None
    """Page cursors (`seq` of the cursor transactions), as other lists take them."""

    def conditions(self) -> tuple[list[str], list[Any]]:
        where = [
            "account_id = ?",
            "visible = 1",
            "currency = ?",
            "(available_on > ? OR (available_on = ? AND seq > ?))",
            "(available_on < ? OR (available_on = ? AND seq < ?))",
        ]
        args: list[Any] = [
            self.account_id,
            self.currency,
            self.after,
            self.after,
            self.after_txn_seq,
            self.upto,
            self.upto,
            self.upto_txn_seq,
        ]
        return where, args


SWEPT_KEY: Final = ("_kassa", "swept")
"""Where an automatic payout keeps its window (`kassa.services.payouts.pay_out_on_schedule`)."""


def swept_window(
    payout: dict[str, Any], limit: int, before_seq: int | None = None, after_seq: int | None = None
) -> SweptWindow | None:
    """What an automatic payout swept (None for a manual payout: it sweeps nothing)."""
    swept = payout.get(SWEPT_KEY[0], {}).get(SWEPT_KEY[1])
    if not payout.get("automatic") or not swept:
        return None
    return SweptWindow(
        account_id=str(swept["account_id"]),
        currency=str(payout["currency"]),
        after=int(swept["after"]),
        after_txn_seq=int(swept["after_seq"]),
        upto=int(swept["upto"]),
        upto_txn_seq=int(swept["upto_seq"]),
        limit=limit,
        before_seq=before_seq,
        after_seq=after_seq,
    )


class PayoutQueries:
    _db: Executor
    _lock_reads: str

    async def locked_balance(self, ledger_account: str) -> int:
        """A ledger account's balance, its row locked for the rest of a write unit (on
        PostgreSQL: two payouts at once cannot both take the same available funds)."""
        row = await self._db.fetchone(
            f"SELECT amount FROM ledger_balances WHERE ledger_account = ?{self._lock_reads}",
            (ledger_account,),
        )
        return 0 if row is None else int(row[0])

    async def payouts_due(
        self, now: int, cursor: DueCursor | None, limit: int, account_id: str | None = None
    ) -> list[DueRow]:
        """Up to `limit` payouts whose `due_at` has come at `now` (of one account, or all),
        after `cursor` in (`due_at`, id) order (the longest due first; across accounts one
        range of the `payouts_due` index)."""
        return await scan_due(self._db, PAYOUT_MOVES, now, cursor, limit, account_id)

    async def automatic_payouts_due(
        self, now: int, cursor: DueCursor | None, limit: int, account_id: str | None = None
    ) -> list[DueRow]:
        """Up to `limit` accounts whose next automatic payout has come at `now`, after
        `cursor` in (`next_payout_at`, id) order (the longest due first; across accounts one
        range of the `balance_settings_payout_due` index)."""
        return await scan_due(self._db, AUTOMATIC_PAYOUTS, now, cursor, limit, account_id)

    async def postpone_payout_move(self, entry: DueRow, until: int) -> bool:
        """Move the payout's `due_at` column, still at `entry.due_at` (no unit has moved the
        payout since the scan), to `until`; whether it moved. The column alone: the
        document keeps its time, which the next save of the payout stores again."""
        return await postpone_due(self._db, PAYOUT_MOVES, entry, until)

    async def postpone_automatic_payout(self, entry: DueRow, until: int) -> bool:
        """Move the account's `next_payout_at` column, still at `entry.due_at` (no unit has
        paid out or changed the schedule since the scan), to `until`; whether it moved. The
        column alone: the settings keep their time, which their next save stores again."""
        return await postpone_due(self._db, AUTOMATIC_PAYOUTS, entry, until)

    async def swept_transactions(
        self, window: SweptWindow
    ) -> tuple[list[LedgerTransactionRow], bool]:
        """One page (newest first, or oldest first after `after_seq`) of the transactions
        `window` names, and whether there are more."""
        where, args = window.conditions()
        if window.before_seq is not None:
            where.append("seq < ?")
            args.append(window.before_seq)
        if window.after_seq is not None:
            where.append("seq > ?")
            args.append(window.after_seq)
        ascending = window.after_seq is not None
        rows = await self._db.fetchall(
            f"SELECT {TRANSACTION_COLUMNS} FROM ledger_transactions WHERE {' AND '.join(where)} "
            f"ORDER BY seq {'ASC' if ascending else 'DESC'} LIMIT ?",
            (*args, window.limit + 1),
        )
        page = [transaction_row(row) for row in rows[: window.limit]]
        if ascending:
            page.reverse()
        return page, len(rows) > window.limit

    async def swept_total(self, window: SweptWindow) -> int:
        """The nets of every transaction `window` names (what the payout should equal)."""
        where, args = window.conditions()
        row = await self._db.fetchone(
            f"SELECT COALESCE(SUM(net), 0) FROM ledger_transactions WHERE {' AND '.join(where)}",
            args,
        )
        return 0 if row is None else int(row[0])
