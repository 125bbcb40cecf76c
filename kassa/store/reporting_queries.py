"""SQL behind Stripe's Reporting API: the `reporting` job's scan for pending report runs,
the ledger reads a report is computed from (per-currency totals in one statement; the
itemized rows a page at a time, keyset-paged on (`created`, `seq`)), and the bytes of the
files that hold the results. Mixed into `Transaction`.

Every read of a run is bounded by `upto_seq`, the account's newest balance transaction
when the run started: the pages of one report show one state of the append-only journal
even while payments go on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kassa.invariants import ensure
from kassa.store.ledger_queries import TRANSACTION_COLUMNS, LedgerTransactionRow, transaction_row
from kassa.store.payout_queries import SweptWindow
from kassa.store.statements import loads_doc

if TYPE_CHECKING:
    from kassa.store.queries import Executor

CURRENCIES_PER_ACCOUNT_MAX = 200
"""Currencies one account's balance transactions use at most (Stripe settles in fewer)."""


@dataclass(frozen=True)
class PendingReportRun:
    account_id: str
    run_id: str


@dataclass(frozen=True)
class ReportWindow:
    """Which of an account's balance transactions a report reads: created in
    [`start`, `end`), up to `upto_seq`, optionally of one currency, and of the reporting
    categories `categories` names (all when empty) except those in `excluded`."""

    account_id: str
    start: int
    end: int
    upto_seq: int
    currency: str | None = None
    categories: tuple[str, ...] = ()
    excluded: tuple[str, ...] = field(default_factory=tuple)

    def conditions(self) -> tuple[list[str], list[Any]]:
        where = ["account_id = ?", "visible = 1", "created >= ?", "created < ?", "seq <= ?"]
        args: list[Any] = [self.account_id, self.start, self.end, self.upto_seq]
        if self.currency is not None:
            where.append("currency = ?")
            args.append(self.currency)
        if self.categories:
            where.append(f"reporting_category IN ({_marks(self.categories)})")
            args.extend(self.categories)
        if self.excluded:
            where.append(f"reporting_category NOT IN ({_marks(self.excluded)})")
            args.extend(self.excluded)
        return where, args


@dataclass(frozen=True)
class CurrencyTotals:
    """One currency's figures for a balance summary, in minor units."""

    currency: str
    starting: int
    """The nets of every transaction created before the interval."""
    activity_gross: int
    activity_fee: int
    activity_net: int
    payouts: int
    """The nets of the payout categories' transactions in the interval (negative)."""


@dataclass(frozen=True)
class ReportCursor:
    """Where a page of itemized rows resumes: after this (`created`, `seq`)."""

    created: int
    seq: int


@dataclass(frozen=True)
class PaidInvoice:
    """The invoice a PaymentIntent paid, as report rows name it."""

    id: str
    number: str | None
    subscription: str | None


@dataclass(frozen=True)
class ArrivalCursor:
    """Where a page of payouts by arrival resumes: after this (`arrival_date`, `created`,
    `seq`), the newer first among payouts of the same arrival and creation."""

    arrival_date: int
    created: int
    seq: int


def _marks(values: tuple[str, ...]) -> str:
    ensure(bool(values), "an IN list names at least one value")
    return ", ".join("?" * len(values))


class ReportingQueries:
    _db: Executor

    async def pending_report_runs(self, limit: int) -> list[PendingReportRun]:
        """Up to `limit` runs still pending, across accounts, the oldest first (one range
        of the `report_runs_pending` index)."""
        rows = await self._db.fetchall(
            "SELECT account_id, id FROM report_runs WHERE status = 'pending' AND deleted = 0 "
            "ORDER BY seq LIMIT ?",
            (limit,),
        )
        ensure(len(rows) <= limit, "a scan for pending report runs returns at most its limit")
        return [PendingReportRun(str(row[0]), str(row[1])) for row in rows]

    async def first_balance_transaction_at(self, account_id: str) -> int | None:
        """When the account's first balance transaction was created (None: it has none)."""
        row = await self._db.fetchone(
            "SELECT MIN(created) FROM ledger_transactions WHERE account_id = ? AND visible = 1",
            (account_id,),
        )
        return None if row is None or row[0] is None else int(row[0])

    async def newest_balance_transaction_seq(self, account_id: str) -> int:
        """The `seq` of the account's newest balance transaction (0: none yet)."""
        row = await self._db.fetchone(
            "SELECT MAX(seq) FROM ledger_transactions WHERE account_id = ? AND visible = 1",
            (account_id,),
        )
        return 0 if row is None or row[0] is None else int(row[0])

    async def balance_summary_totals(
        self, window: ReportWindow, payout_categories: tuple[str, ...]
    ) -> list[CurrencyTotals]:
        """Per currency, in one statement: the balance before `window.start` and the
        interval's activity (gross, fee, net) and payouts. Every transaction created before
        `window.end` counts once, so starting + activity + payouts is the balance at the
        end."""
        marks = _marks(payout_categories)
        in_window = "created >= ?"
        activity = f"{in_window} AND reporting_category NOT IN ({marks})"
        paid_out = f"{in_window} AND reporting_category IN ({marks})"
        where = ["account_id = ?", "visible = 1", "created < ?", "seq <= ?"]
        args: list[Any] = [window.account_id, window.end, window.upto_seq]
        if window.currency is not None:
            where.append("currency = ?")
            args.append(window.currency)
        start, cats = window.start, payout_categories
        rows = await self._db.fetchall(
            "SELECT currency, "
            "COALESCE(SUM(CASE WHEN created < ? THEN net ELSE 0 END), 0), "
            f"COALESCE(SUM(CASE WHEN {activity} THEN amount ELSE 0 END), 0), "
            f"COALESCE(SUM(CASE WHEN {activity} THEN fee ELSE 0 END), 0), "
            f"COALESCE(SUM(CASE WHEN {activity} THEN net ELSE 0 END), 0), "
            f"COALESCE(SUM(CASE WHEN {paid_out} THEN net ELSE 0 END), 0) "
            f"FROM ledger_transactions WHERE {' AND '.join(where)} "
            "GROUP BY currency ORDER BY currency LIMIT ?",
            (
                start,
                *(start, *cats),
                *(start, *cats),
                *(start, *cats),
                *(start, *cats),
                *args,
                CURRENCIES_PER_ACCOUNT_MAX + 1,
            ),
        )
        ensure(
            len(rows) <= CURRENCIES_PER_ACCOUNT_MAX,
            f"an account uses at most {CURRENCIES_PER_ACCOUNT_MAX} currencies",
        )
        return [CurrencyTotals(str(row[0]), *(int(value) for value in row[1:6])) for row in rows]

    async def report_transactions(
        self, window: ReportWindow, after: ReportCursor | None, limit: int
    ) -> list[tuple[int, LedgerTransactionRow]]:
        """Up to `limit` of the window's transactions after `after`, oldest first, each
        with its `seq` (the next page's cursor)."""
        where, args = window.conditions()
        if after is not None:
            where.append("(created > ? OR (created = ? AND seq > ?))")
            args.extend((after.created, after.created, after.seq))
        rows = await self._db.fetchall(
            f"SELECT seq, {TRANSACTION_COLUMNS} FROM ledger_transactions "
            f"WHERE {' AND '.join(where)} ORDER BY created, seq LIMIT ?",
            (*args, limit),
        )
        return [(int(row[0]), transaction_row(row[1:])) for row in rows]

    async def swept_transactions_after(
        self, window: SweptWindow, after_seq: int, limit: int, currency_scope: ReportWindow
    ) -> list[tuple[int, LedgerTransactionRow]]:
        """Up to `limit` of what an automatic payout swept, after `after_seq`, oldest first,
        narrowed by the report's reporting categories (`currency_scope`'s)."""
        where, args = window.conditions()
        where.append("seq > ?")
        args.append(after_seq)
        if currency_scope.categories:
            where.append(f"reporting_category IN ({_marks(currency_scope.categories)})")
            args.extend(currency_scope.categories)
        rows = await self._db.fetchall(
            f"SELECT seq, {TRANSACTION_COLUMNS} FROM ledger_transactions "
            f"WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?",
            (*args, limit),
        )
        return [(int(row[0]), transaction_row(row[1:])) for row in rows]

    async def invoices_paid_by(
        self, account_id: str, payment_intents: tuple[str, ...]
    ) -> dict[str, PaidInvoice]:
        """payment intent id -> the invoice it is an invoice payment of, for those of
        `payment_intents` that are (one statement for a page of report rows, through the
        `invoice_payments_account_payment_intent` index; an intent pays one invoice)."""
        if not payment_intents:
            return {}
        rows = await self._db.fetchall(
            "SELECT p.payment_intent, i.id, i.number, i.subscription FROM invoice_payments p "
            "JOIN invoices i ON i.id = p.invoice AND i.account_id = p.account_id "
            "WHERE p.account_id = ? AND p.deleted = 0 "
            f"AND p.payment_intent IN ({_marks(payment_intents)}) ORDER BY p.seq",
            (account_id, *payment_intents),
        )
        return {
            str(row[0]): PaidInvoice(
                str(row[1]),
                None if row[2] is None else str(row[2]),
                None if row[3] is None else str(row[3]),
            )
            for row in rows
        }

    async def payouts_by_arrival(
        self, account_id: str, start: int, end: int, after: ArrivalCursor | None, limit: int
    ) -> list[tuple[ArrivalCursor, dict[str, Any]]]:
        """Up to `limit` of the account's payouts arriving in [`start`, `end`), after
        `after`, by arrival date, then creation, then the newer first; each with its cursor
        (one range of the `payouts_account_arrival_date` index)."""
        where = ["account_id = ?", "deleted = 0", "arrival_date >= ?", "arrival_date < ?"]
        args: list[Any] = [account_id, start, end]
        if after is not None:
            where.append(
                "(arrival_date > ? OR (arrival_date = ? AND "
                "(created > ? OR (created = ? AND seq < ?))))"
            )
            args.extend(
                (after.arrival_date, after.arrival_date, after.created, after.created, after.seq)
            )
        rows = await self._db.fetchall(
            f"SELECT arrival_date, created, seq, doc FROM payouts WHERE {' AND '.join(where)} "
            "ORDER BY arrival_date, created, seq DESC LIMIT ?",
            (*args, limit),
        )
        ensure(len(rows) <= limit, "a page of payouts holds at most its limit")
        return [
            (ArrivalCursor(int(row[0]), int(row[1]), int(row[2])), loads_doc(row[3]))
            for row in rows
        ]

    async def insert_file_contents(
        self, account_id: str, file_id: str, content_type: str, contents: bytes
    ) -> None:
        await self._db.execute(
            "INSERT INTO file_contents (file_id, account_id, content_type, size_bytes, contents) "
            "VALUES (?, ?, ?, ?, ?)",
            (file_id, account_id, content_type, len(contents), contents),
        )

    async def file_contents(self, account_id: str, file_id: str) -> tuple[str, bytes] | None:
        """(content type, contents) of the account's file, or None."""
        row = await self._db.fetchone(
            "SELECT content_type, contents FROM file_contents WHERE file_id = ? AND account_id = ?",
            (file_id, account_id),
        )
        return None if row is None else (str(row[0]), bytes(row[1]))
