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
    """The balance transactions an automatic payout swept: those it named when it was made
    (`PayoutQueries.sweep_into_payout`), visible, less its own transaction. Recorded once,
    so what a payout lists never changes afterwards."""

    account_id: str
    payout_id: str
    payout_transaction: str
    """The payout's own balance transaction (swept with it, so no later payout takes it)."""
    limit: int
    before_seq: int | None = None
    after_seq: int | None = None
    """Page cursors (`seq` of the cursor transactions), as other lists take them."""

    def conditions(self) -> tuple[list[str], list[Any]]:
        where = ["swept_by = ?", "account_id = ?", "visible = 1", "id <> ?"]
        return where, [self.payout_id, self.account_id, self.payout_transaction]


SWEPT_KEY: Final = ("_kassa", "swept")
"""Where an automatic payout notes that it swept (`kassa.services.payouts.pay_out_on_schedule`)."""


def swept_window(
    payout: dict[str, Any], limit: int, before_seq: int | None = None, after_seq: int | None = None
) -> SweptWindow | None:
    """What an automatic payout swept (None for a manual payout: it sweeps nothing)."""
    swept = payout.get(SWEPT_KEY[0], {}).get(SWEPT_KEY[1])
    if not payout.get("automatic") or not swept:
        return None
    return SweptWindow(
        account_id=str(swept["account_id"]),
        payout_id=str(payout["id"]),
        payout_transaction=str(payout["balance_transaction"]),
        limit=limit,
        before_seq=before_seq,
        after_seq=after_seq,
    )


_SWEEPS_BACKFILL: Final = """
UPDATE ledger_transactions SET swept_by = (
    SELECT p.id FROM payouts p
    JOIN ledger_transactions own
        ON own.id = /*DOC_TEXT*/json_extract(doc, '$.balance_transaction')
        AND own.account_id = p.account_id
    WHERE p.account_id = ledger_transactions.account_id
        AND /*DOC_TEXT*/json_extract(doc, '$._kassa.swept.account_id') IS NOT NULL
        AND /*DOC_TEXT*/json_extract(doc, '$.currency') = ledger_transactions.currency
        AND own.seq >= ledger_transactions.seq
        AND (own.seq = ledger_transactions.seq
            OR (ledger_transactions.test_clock IS NULL
                AND ledger_transactions.available_on <= own.created)
            OR (ledger_transactions.test_clock IS NOT NULL AND EXISTS (
                SELECT 1 FROM ledger_transactions settled
                JOIN ledger_entries moved ON moved.transaction_id = settled.id
                WHERE settled.account_id = ledger_transactions.account_id
                    AND settled.type = 'settlement' AND settled.visible = 0
                    AND settled.currency = ledger_transactions.currency
                    AND settled.created = ledger_transactions.available_on
                    AND settled.seq > ledger_transactions.seq AND settled.seq < own.seq
                    AND moved.amount = ledger_transactions.net)))
    ORDER BY own.seq LIMIT 1)
WHERE visible = 1 AND status = 'available' AND swept_by IS NULL"""


def sweeps_backfill_sql(scope: str = "") -> str:
    """What each automatic payout made before sweeps were recorded (migration 0041, or an
    account snapshot saved before it) swept, worked out from the ledger: each available
    transaction not yet named goes to the first automatic payout of its account and
    currency at which it was available, as the payout, which paid out the whole available
    balance, took it. That is its own, or one made before it (by `seq`, which survives a
    restore where a payout's stored facts would not) whose funds were available by then:
    by its `available_on` for one settled in the installation's time (each payout settled
    what was due first), and, for one a test clock settled, whose `available_on` is in the
    clock's time, by the settlement the clock's advance posted for it (created at that
    `available_on`, for its net) before the payout. `scope` narrows the rows (with its
    leading AND)."""
    return _SWEEPS_BACKFILL + scope


async def backfill_sweeps(db: Executor, account_id: str) -> None:
    """`sweeps_backfill_sql` for one account's transactions."""
    await db.execute(sweeps_backfill_sql(" AND account_id = ?"), (account_id,))


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

    async def sweep_into_payout(self, account_id: str, currency: str, payout_id: str) -> None:
        """Name `payout_id` as the payout of every available transaction of the account in
        `currency` that no automatic payout has swept yet (the payout's own among them).
        Under the available balance's row lock (`locked_balance`), so a settlement or a
        posting into that balance commits either before (and is swept) or after (and is
        left for the next payout)."""
        await self._db.execute(
            "UPDATE ledger_transactions SET swept_by = ? WHERE account_id = ? AND currency = ? "
            "AND swept_by IS NULL AND status = 'available' AND visible = 1",
            (payout_id, account_id, currency),
        )

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
