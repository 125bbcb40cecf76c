"""The ledger's SQL: append-only journal, materialized balances, and the recomputations
`kassa ledger verify` runs. Mixed into `Transaction`; no other module writes these tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from kassa.invariants import ensure
from kassa.store.pages import window_conditions
from kassa.store.tables import ObjectTable

if TYPE_CHECKING:
    from kassa.store.queries import Executor

VERIFY_REPORT_ROWS_MAX = 100
"""At most this many problems of each kind are reported: one is enough to fail."""


@dataclass(frozen=True)
class LedgerEntry:
    ledger_account: str
    owner: str
    """Whose books list the ledger account: the Kassa account id for a merchant's and its
    customers' ledger accounts, else `platform`/`external`."""
    bucket: str
    """The ledger account's bucket (`kassa.ledger.accounts.BUCKETS`), stored beside its name so
    that queries filter on it rather than take names apart."""
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
    test_clock: str | None = None
    """The test clock whose time settles it (None: real time). Written, not read back."""
    exchange_rate: str | None = None
    """A conversion's rate, from the presented currency to `currency`, as decimal text
    (None: nothing converted)."""


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


@dataclass(frozen=True)
class UnbalancedTransaction:
    transaction_id: str
    account_id: str | None
    """None when the entries name no transaction that exists."""
    currency: str
    total: int


@dataclass(frozen=True)
class TooFewEntries:
    transaction_id: str
    account_id: str
    entries: int


@dataclass(frozen=True)
class BalanceDrift:
    ledger_account: str
    owner: str | None
    """None when entries name a ledger account that has no materialized balance."""
    materialized: int | None
    recomputed: int | None


@dataclass(frozen=True)
class TransactionTotals:
    """A transaction's net and fee beside what its entries moved."""

    transaction_id: str
    account_id: str
    currency: str
    net: int
    moved_to_balance: int
    fee: int
    moved_to_fees: int


@dataclass(frozen=True)
class BucketStatusDrift:
    ledger_account: str
    owner: str
    currency: str
    balance: int
    nets: int
    """The nets of the owner's balance transactions in the status naming this bucket."""


@dataclass(frozen=True)
class LedgeredObjectsPage:
    """Which objects `ledgered_objects` reads: a page of `table` in `seq` order, with the
    objects of `children` whose `child_column` names each (a charge's refunds)."""

    table: ObjectTable
    after_seq: int
    limit: int
    children: ObjectTable | None = None
    child_column: str | None = None
    capture_postings: bool = False
    """Say which objects (charges) have their capture's posting still to come
    (`LedgeredObject.awaiting_posting`)."""


@dataclass(frozen=True)
class SourceMovement:
    """One ledger transaction whose source is an object, and what it moved in one currency
    through the accounts asked about."""

    transaction_id: str
    visible: bool
    currency: str
    amount: int


@dataclass(frozen=True)
class LedgeredObject:
    seq: int
    id: str
    account_id: str
    doc: dict[str, Any]
    children: list[dict[str, Any]] = field(default_factory=list)
    movements: list[SourceMovement] = field(default_factory=list)
    awaiting_posting: bool = False
    """Whether a charge's capture is still to be posted (`capture_postings`), read in the
    same statement as its document and movements."""


TRANSACTION_COLUMNS = (
    "id, account_id, created, type, visible, source, currency, amount, fee, net, "
    "fee_details, available_on, status, reporting_category, description, exchange_rate"
)
LEDGER_FILTER_COLUMNS = frozenset({"type", "source", "currency"})


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
        exchange_rate=row[15],
    )


class LedgerQueries:
    _db: Executor

    async def insert_ledger_transaction(
        self, txn: LedgerTransactionRow, entries: Sequence[LedgerEntry]
    ) -> None:
        await self._db.execute(
            f"INSERT INTO ledger_transactions ({TRANSACTION_COLUMNS}, test_clock) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                txn.exchange_rate,
                txn.test_clock,
            ),
        )
        await self._db.executemany(
            "INSERT INTO ledger_entries (transaction_id, ledger_account, currency, amount) "
            "VALUES (?, ?, ?, ?)",
            [(txn.id, e.ledger_account, e.currency, e.amount) for e in entries],
        )
        await self._db.executemany(
            "INSERT INTO ledger_balances (ledger_account, owner, bucket, currency, amount) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (ledger_account) "
            "DO UPDATE SET amount = ledger_balances.amount + excluded.amount",
            [(e.ledger_account, e.owner, e.bucket, e.currency, e.amount) for e in entries],
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
        window, window_args = window_conditions(query.created, query.before_seq, query.after_seq)
        where += window
        args += window_args
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
        """Visible transactions still pending whose `available_on` has come, in real time:
        not those a test clock settles (`pending_on_clock`)."""
        scope = "" if account_id is None else " AND account_id = ?"
        rows = await self._db.fetchall(
            "SELECT id, account_id, currency, net FROM ledger_transactions "
            f"WHERE status = 'pending' AND available_on <= ?{scope} AND test_clock IS NULL "
            "ORDER BY seq LIMIT ?",
            (now, *(() if account_id is None else (account_id,)), limit),
        )
        return [DueTransaction(row[0], row[1], row[2], int(row[3])) for row in rows]

    async def pending_on_clock(
        self, account_id: str, clock_id: str, transaction_id: str
    ) -> DueTransaction | None:
        """The clock's transaction, if it is still pending."""
        row = await self._db.fetchone(
            "SELECT id, account_id, currency, net FROM ledger_transactions "
            "WHERE id = ? AND account_id = ? AND test_clock = ? AND status = 'pending'",
            (transaction_id, account_id, clock_id),
        )
        return None if row is None else DueTransaction(row[0], row[1], row[2], int(row[3]))

    async def release_clock_funds(self, account_id: str, clock_id: str) -> None:
        """A deleted clock's pending funds: from now on they settle in real time."""
        await self._db.execute(
            "UPDATE ledger_transactions SET test_clock = NULL "
            "WHERE test_clock = ? AND account_id = ? AND status = 'pending'",
            (clock_id, account_id),
        )

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

    # -- verification: each query returns what is wrong, at most VERIFY_REPORT_ROWS_MAX rows.
    # Bucket names come from the caller (`kassa.ledger.accounts` owns them); each check is
    # one statement, so it reads one consistent state even while payments go on.

    async def unbalanced_ledger_transactions(self) -> list[UnbalancedTransaction]:
        """Transactions whose entries in some currency do not sum to zero."""
        rows = await self._db.fetchall(
            "SELECT u.transaction_id, t.account_id, u.currency, u.total FROM ("
            "SELECT transaction_id, currency, SUM(amount) AS total FROM ledger_entries "
            "GROUP BY transaction_id, currency HAVING SUM(amount) <> 0 LIMIT ?) u "
            "LEFT JOIN ledger_transactions t ON t.id = u.transaction_id",
            (VERIFY_REPORT_ROWS_MAX,),
        )
        return [UnbalancedTransaction(row[0], row[1], row[2], int(row[3])) for row in rows]

    async def ledger_transactions_with_too_few_entries(self) -> list[TooFewEntries]:
        rows = await self._db.fetchall(
            "SELECT t.id, t.account_id, COUNT(e.seq) FROM ledger_transactions t "
            "LEFT JOIN ledger_entries e ON e.transaction_id = t.id "
            "GROUP BY t.id, t.account_id HAVING COUNT(e.seq) < 2 LIMIT ?",
            (VERIFY_REPORT_ROWS_MAX,),
        )
        return [TooFewEntries(row[0], row[1], int(row[2])) for row in rows]

    async def ledger_balance_drift(self) -> list[BalanceDrift]:
        """Ledger accounts whose materialized balance is not the sum of their entries (or
        that have only one of the two)."""
        recomputed = (
            "SELECT ledger_account, SUM(amount) AS total FROM ledger_entries "
            "GROUP BY ledger_account"
        )
        rows = await self._db.fetchall(
            f"SELECT b.ledger_account, b.owner, b.amount, r.total FROM ledger_balances b "
            f"LEFT JOIN ({recomputed}) r ON r.ledger_account = b.ledger_account "
            "WHERE r.total IS NULL OR r.total <> b.amount "
            f"UNION ALL SELECT r.ledger_account, NULL, NULL, r.total FROM ({recomputed}) r "
            "WHERE NOT EXISTS (SELECT 1 FROM ledger_balances b "
            "WHERE b.ledger_account = r.ledger_account) LIMIT ?",
            (VERIFY_REPORT_ROWS_MAX,),
        )
        return [
            BalanceDrift(row[0], row[1], _int_or_none(row[2]), _int_or_none(row[3])) for row in rows
        ]

    async def ledger_transactions_disagreeing_with_entries(
        self, balance_buckets: Sequence[str], fee_owner: str, fee_bucket: str
    ) -> list[TransactionTotals]:
        """Transactions whose net is not what their entries moved, in the transaction's
        currency, into the merchant's `balance_buckets`, or whose fee is not what they moved
        into the fee account (`fee_owner`'s `fee_bucket`) in that currency."""
        marks = _placeholders(balance_buckets)
        moved = (
            "COALESCE(SUM(CASE WHEN b.owner = t.account_id AND b.currency = t.currency "
            f"AND b.bucket IN ({marks}) THEN e.amount END), 0)"
        )
        fees = (
            "COALESCE(SUM(CASE WHEN b.owner = ? AND b.bucket = ? AND b.currency = t.currency "
            "THEN e.amount END), 0)"
        )
        figures = (*balance_buckets, fee_owner, fee_bucket)
        rows = await self._db.fetchall(
            f"SELECT t.id, t.account_id, t.currency, t.net, {moved}, t.fee, {fees} "
            "FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id "
            "LEFT JOIN ledger_balances b ON b.ledger_account = e.ledger_account "
            "GROUP BY t.id, t.account_id, t.currency, t.net, t.fee "
            f"HAVING t.net <> {moved} OR t.fee <> {fees} LIMIT ?",
            (*figures, *figures, VERIFY_REPORT_ROWS_MAX),
        )
        return [
            TransactionTotals(row[0], row[1], row[2], *(int(value) for value in row[3:7]))
            for row in rows
        ]

    async def buckets_disagreeing_with_statuses(
        self, balance_buckets: Sequence[str]
    ) -> list[BucketStatusDrift]:
        """Merchant ledger accounts in `balance_buckets` whose balance is not the sum of the
        nets of the owner's balance transactions whose status names that bucket."""
        by_status = (
            "SELECT account_id, status, currency, SUM(net) AS total FROM ledger_transactions "
            "GROUP BY account_id, status, currency"
        )
        rows = await self._db.fetchall(
            "SELECT b.ledger_account, b.owner, b.currency, b.amount, COALESCE(s.total, 0) "
            f"FROM ledger_balances b LEFT JOIN ({by_status}) s ON s.account_id = b.owner "
            "AND s.status = b.bucket AND s.currency = b.currency "
            f"WHERE b.bucket IN ({_placeholders(balance_buckets)}) "
            "AND b.amount <> COALESCE(s.total, 0) LIMIT ?",
            (*balance_buckets, VERIFY_REPORT_ROWS_MAX),
        )
        return [BucketStatusDrift(row[0], row[1], row[2], int(row[3]), int(row[4])) for row in rows]

    async def ledgered_objects(
        self, page: LedgeredObjectsPage, network_bucket: str
    ) -> list[LedgeredObject]:
        """Up to `page.limit` objects of `page.table` after `page.after_seq`, each with the
        objects naming it in `page.children` and what the ledger transactions whose source
        it is moved, per currency, through accounts in `network_bucket`. One statement, so
        objects and journal are read in one state even while payments go on."""
        with_children = ""
        if page.children is not None:
            ensure(
                page.child_column in page.children.filter_columns,
                "children are found through an indexed column",
            )
            with_children = (
                "UNION ALL SELECT p.seq, 'child', c.id, c.doc, NULL, "
                f"{_NO_NUMBER}, NULL, {_NO_NUMBER} FROM page p "
                f"JOIN {page.children.name} c ON c.account_id = p.account_id "
                f"AND c.{page.child_column} = p.id "
            )
        awaiting = ""
        if page.capture_postings:
            awaiting = (
                "UNION ALL SELECT p.seq, 'awaiting', p.id, NULL, NULL, "
                f"{_NO_NUMBER}, NULL, {_NO_NUMBER} FROM page p "
                "JOIN capture_postings cp ON cp.account_id = p.account_id AND cp.id = p.id "
            )
        rows = await self._db.fetchall(
            f"WITH page AS (SELECT seq, id, account_id, doc FROM {page.table.name} "
            "WHERE seq > ? ORDER BY seq LIMIT ?) "
            "SELECT p.seq, 'object', p.id, p.doc, p.account_id, "
            f"{_NO_NUMBER}, NULL, {_NO_NUMBER} FROM page p "
            f"{with_children}{awaiting}"
            "UNION ALL SELECT p.seq, 'ledger', t.id, NULL, NULL, t.visible, e.currency, "
            "SUM(CASE WHEN b.bucket = ? THEN e.amount ELSE 0 END) FROM page p "
            "JOIN ledger_transactions t ON t.account_id = p.account_id AND t.source = p.id "
            "JOIN ledger_entries e ON e.transaction_id = t.id "
            "LEFT JOIN ledger_balances b ON b.ledger_account = e.ledger_account "
            "GROUP BY p.seq, t.id, t.visible, e.currency",
            (page.after_seq, page.limit, network_bucket),
        )
        return _ledgered_objects(rows)


_NO_NUMBER = "CAST(NULL AS BIGINT)"
"""A number column's NULL in one branch of a UNION: PostgreSQL resolves the branches' types
pairwise, and two bare NULLs would make the column text."""


def _placeholders(values: Sequence[Any]) -> str:
    ensure(bool(values), "an IN list names at least one value")
    return ", ".join("?" * len(values))


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _ledgered_objects(rows: Sequence[Sequence[Any]]) -> list[LedgeredObject]:
    """Rows of `ledgered_objects` (object, child and ledger rows per seq) as objects, in
    `seq` order."""
    awaiting = {int(row[0]) for row in rows if row[1] == "awaiting"}
    objects = {
        int(row[0]): LedgeredObject(
            int(row[0]),
            row[2],
            str(row[4]),
            orjson.loads(row[3]),
            awaiting_posting=int(row[0]) in awaiting,
        )
        for row in rows
        if row[1] == "object"
    }
    for row in rows:
        if row[1] == "child":
            objects[int(row[0])].children.append(orjson.loads(row[3]))
        elif row[1] == "ledger":
            objects[int(row[0])].movements.append(
                SourceMovement(row[2], bool(int(row[5])), row[6], int(row[7]))
            )
    return [objects[seq] for seq in sorted(objects)]
