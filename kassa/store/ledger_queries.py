"""The ledger's SQL: append-only journal, materialized balances, and the recomputations
`kassa ledger verify` runs. Mixed into `Transaction`; no other module writes these tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from kassa.store.queries import Executor

VERIFY_REPORT_ROWS_MAX = 100
"""At most this many problems of each kind are reported: one is enough to fail."""


@dataclass(frozen=True)
class LedgerEntry:
    ledger_account: str
    owner: str
    """The Kassa account id for a merchant's own ledger accounts, else `platform`/`external`."""
    currency: str
    amount: int
    """Signed: each ledger account's balance is the sum of its entries."""


@dataclass(frozen=True)
class LedgerTransactionRow:
    id: str
    account_id: str
    created: int
    type: str
    visible: bool
    source: str | None
    currency: str
    amount: int
    fee: int
    net: int
    fee_details: list[dict[str, Any]]
    available_on: int
    status: str
    reporting_category: str
    description: str | None


@dataclass(frozen=True)
class LedgerListQuery:
    limit: int
    before_seq: int | None = None
    after_seq: int | None = None
    equals: Mapping[str, Any] = field(default_factory=dict)
    created: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class LedgerPage:
    rows: list[LedgerTransactionRow]
    has_more: bool


@dataclass(frozen=True)
class DueTransaction:
    id: str
    account_id: str
    currency: str
    net: int


TRANSACTION_COLUMNS = (
    "id, account_id, created, type, visible, source, currency, amount, fee, net, "
    "fee_details, available_on, status, reporting_category, description"
)
LEDGER_FILTER_COLUMNS = frozenset({"type", "source", "currency"})
_CREATED_OPERATORS = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def transaction_row(row: Sequence[Any]) -> LedgerTransactionRow:
    return LedgerTransactionRow(
        id=row[0],
        account_id=row[1],
        created=int(row[2]),
        type=row[3],
        visible=bool(row[4]),
        source=row[5],
        currency=row[6],
        amount=int(row[7]),
        fee=int(row[8]),
        net=int(row[9]),
        fee_details=orjson.loads(row[10]),
        available_on=int(row[11]),
        status=row[12],
        reporting_category=row[13],
        description=row[14],
    )


class LedgerQueries:
    _db: Executor

    async def insert_ledger_transaction(
        self, txn: LedgerTransactionRow, entries: Sequence[LedgerEntry]
    ) -> None:
        await self._db.execute(
            f"INSERT INTO ledger_transactions ({TRANSACTION_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                txn.id,
                txn.account_id,
                txn.created,
                txn.type,
                int(txn.visible),
                txn.source,
                txn.currency,
                txn.amount,
                txn.fee,
                txn.net,
                orjson.dumps(txn.fee_details).decode(),
                txn.available_on,
                txn.status,
                txn.reporting_category,
                txn.description,
            ),
        )
        await self._db.executemany(
            "INSERT INTO ledger_entries (transaction_id, ledger_account, currency, amount) "
            "VALUES (?, ?, ?, ?)",
            [(txn.id, e.ledger_account, e.currency, e.amount) for e in entries],
        )
        await self._db.executemany(
            "INSERT INTO ledger_balances (ledger_account, owner, currency, amount) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (ledger_account) "
            "DO UPDATE SET amount = ledger_balances.amount + excluded.amount",
            [(e.ledger_account, e.owner, e.currency, e.amount) for e in entries],
        )

    async def get_ledger_transaction(
        self, account_id: str, transaction_id: str
    ) -> LedgerTransactionRow | None:
        row = await self._db.fetchone(
            f"SELECT {TRANSACTION_COLUMNS} FROM ledger_transactions "
            "WHERE id = ? AND account_id = ? AND visible = 1",
            (transaction_id, account_id),
        )
        return None if row is None else transaction_row(row)

    async def ledger_transaction_seq(self, account_id: str, transaction_id: str) -> int | None:
        row = await self._db.fetchone(
            "SELECT seq FROM ledger_transactions WHERE id = ? AND account_id = ? AND visible = 1",
            (transaction_id, account_id),
        )
        return None if row is None else int(row[0])

    async def list_ledger_transactions(self, account_id: str, query: LedgerListQuery) -> LedgerPage:
        where = ["account_id = ?", "visible = 1"]
        args: list[Any] = [account_id]
        for column, value in query.equals.items():
            if column not in LEDGER_FILTER_COLUMNS:
                raise ValueError(f"balance transactions have no filter column {column}")
            where.append(f"{column} = ?")
            args.append(value)
        for operator, bound in query.created.items():
            where.append(f"created {_CREATED_OPERATORS[operator]} ?")
            args.append(bound)
        if query.before_seq is not None:
            where.append("seq < ?")
            args.append(query.before_seq)
        if query.after_seq is not None:
            where.append("seq > ?")
            args.append(query.after_seq)
        ascending = query.after_seq is not None
        rows = await self._db.fetchall(
            f"SELECT {TRANSACTION_COLUMNS} FROM ledger_transactions "
            f"WHERE {' AND '.join(where)} ORDER BY seq {'ASC' if ascending else 'DESC'} LIMIT ?",
            (*args, query.limit + 1),
        )
        page = [transaction_row(row) for row in rows[: query.limit]]
        if ascending:
            page.reverse()
        return LedgerPage(rows=page, has_more=len(rows) > query.limit)

    async def owner_balances(self, owner: str) -> list[tuple[str, str, int]]:
        """(ledger account, currency, balance) for every ledger account `owner` has."""
        rows = await self._db.fetchall(
            "SELECT ledger_account, currency, amount FROM ledger_balances WHERE owner = ? "
            "ORDER BY ledger_account",
            (owner,),
        )
        return [(row[0], row[1], int(row[2])) for row in rows]

    async def all_balances(self, limit: int) -> list[tuple[str, str, str, int]]:
        """(ledger account, owner, currency, balance), for the ledger report."""
        rows = await self._db.fetchall(
            "SELECT ledger_account, owner, currency, amount FROM ledger_balances "
            "ORDER BY ledger_account LIMIT ?",
            (limit,),
        )
        return [(row[0], row[1], row[2], int(row[3])) for row in rows]

    async def due_pending_transactions(
        self, now: int, limit: int, account_id: str | None = None
    ) -> list[DueTransaction]:
        """Visible transactions still pending whose `available_on` has come."""
        scope = "" if account_id is None else " AND account_id = ?"
        rows = await self._db.fetchall(
            "SELECT id, account_id, currency, net FROM ledger_transactions "
            f"WHERE status = 'pending' AND available_on <= ?{scope} ORDER BY seq LIMIT ?",
            (now, *(() if account_id is None else (account_id,)), limit),
        )
        return [DueTransaction(row[0], row[1], row[2], int(row[3])) for row in rows]

    async def mark_transaction_available(self, transaction_id: str) -> bool:
        """Pending -> available; False if it was not pending (a racing settler took it)."""
        row = await self._db.fetchone(
            "UPDATE ledger_transactions SET status = 'available' "
            "WHERE id = ? AND status = 'pending' RETURNING 1",
            (transaction_id,),
        )
        return row is not None

    async def ledger_counts(self) -> tuple[int, int, int]:
        """(transactions, entries, ledger accounts)."""
        row = await self._db.fetchone(
            "SELECT (SELECT COUNT(*) FROM ledger_transactions), "
            "(SELECT COUNT(*) FROM ledger_entries), (SELECT COUNT(*) FROM ledger_balances)"
        )
        return (0, 0, 0) if row is None else (int(row[0]), int(row[1]), int(row[2]))

    # -- verification: each query returns what is wrong, at most VERIFY_REPORT_ROWS_MAX rows --

    async def unbalanced_ledger_transactions(self) -> list[tuple[str, str, int]]:
        """(transaction, currency, sum of entries) where the entries do not sum to zero."""
        rows = await self._db.fetchall(
            "SELECT transaction_id, currency, SUM(amount) FROM ledger_entries "
            "GROUP BY transaction_id, currency HAVING SUM(amount) <> 0 LIMIT ?",
            (VERIFY_REPORT_ROWS_MAX,),
        )
        return [(row[0], row[1], int(row[2])) for row in rows]

    async def ledger_transactions_with_too_few_entries(self) -> list[tuple[str, int]]:
        rows = await self._db.fetchall(
            "SELECT t.id, COUNT(e.seq) FROM ledger_transactions t "
            "LEFT JOIN ledger_entries e ON e.transaction_id = t.id "
            "GROUP BY t.id HAVING COUNT(e.seq) < 2 LIMIT ?",
            (VERIFY_REPORT_ROWS_MAX,),
        )
        return [(row[0], int(row[1])) for row in rows]

    async def ledger_balance_drift(self) -> list[tuple[str, int | None, int | None]]:
        """(ledger account, materialized, recomputed) wherever the two differ."""
        recomputed = (
            "SELECT ledger_account, SUM(amount) AS total FROM ledger_entries "
            "GROUP BY ledger_account"
        )
        rows = await self._db.fetchall(
            f"SELECT b.ledger_account, b.amount, r.total FROM ledger_balances b "
            f"LEFT JOIN ({recomputed}) r ON r.ledger_account = b.ledger_account "
            "WHERE r.total IS NULL OR r.total <> b.amount "
            f"UNION ALL SELECT r.ledger_account, NULL, r.total FROM ({recomputed}) r "
            "WHERE NOT EXISTS (SELECT 1 FROM ledger_balances b "
            "WHERE b.ledger_account = r.ledger_account) LIMIT ?",
            (VERIFY_REPORT_ROWS_MAX,),
        )
        return [
            (
                row[0],
                None if row[1] is None else int(row[1]),
                None if row[2] is None else int(row[2]),
            )
            for row in rows
        ]

    async def ledger_transactions_disagreeing_with_entries(
        self,
    ) -> list[tuple[str, int, int, int, int]]:
        """(transaction, net, merchant entries, fee, fee entries) where a transaction's net
        is not what its entries moved into the merchant's balances, or its fee not what they
        moved into the platform's fee account."""
        rows = await self._db.fetchall(
            "SELECT t.id, t.net, "
            "COALESCE(SUM(CASE WHEN e.ledger_account IN "
            "(t.account_id || ':pending:' || t.currency, "
            "t.account_id || ':available:' || t.currency) THEN e.amount END), 0) AS moved, "
            "t.fee, COALESCE(SUM(CASE WHEN e.ledger_account = 'platform:fees:' || t.currency "
            "THEN e.amount END), 0) AS fees "
            "FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id "
            "GROUP BY t.id, t.net, t.fee, t.account_id, t.currency "
            "HAVING t.net <> COALESCE(SUM(CASE WHEN e.ledger_account IN "
            "(t.account_id || ':pending:' || t.currency, "
            "t.account_id || ':available:' || t.currency) THEN e.amount END), 0) "
            "OR t.fee <> COALESCE(SUM(CASE WHEN e.ledger_account = "
            "'platform:fees:' || t.currency THEN e.amount END), 0) LIMIT ?",
            (VERIFY_REPORT_ROWS_MAX,),
        )
        return [(row[0], int(row[1]), int(row[2]), int(row[3]), int(row[4])) for row in rows]

    async def merchant_buckets_disagreeing_with_statuses(
        self,
    ) -> list[tuple[str, int, int]]:
        """(ledger account, balance, sum of net of transactions in that status) for each
        merchant pending/available account whose balance is not the sum of its balance
        transactions' nets in the matching status."""
        by_status = (
            "SELECT account_id || ':' || status || ':' || currency AS ledger_account, "
            "SUM(net) AS total FROM ledger_transactions GROUP BY account_id, status, currency"
        )
        rows = await self._db.fetchall(
            f"SELECT b.ledger_account, b.amount, COALESCE(s.total, 0) FROM ledger_balances b "
            f"LEFT JOIN ({by_status}) s ON s.ledger_account = b.ledger_account "
            "WHERE b.owner NOT IN ('platform', 'external') "
            "AND b.amount <> COALESCE(s.total, 0) LIMIT ?",
            (VERIFY_REPORT_ROWS_MAX,),
        )
        return [(row[0], int(row[1]), int(row[2])) for row in rows]
