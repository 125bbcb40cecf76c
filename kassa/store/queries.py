"""Every SQL statement Kassa runs, written once for both engines.

Statements use `?` placeholders; the PostgreSQL executor rewrites them to `$n`. The engine
adapters (`sqlite`, `postgres`) only supply an `Executor` and transaction boundaries.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from kassa.invariants import ensure
from kassa.store.account_queries import AccountQueries
from kassa.store.authorization_expiry_queries import AuthorizationExpiryQueries
from kassa.store.capture_posting_queries import CapturePostingQueries
from kassa.store.card_setup_queries import CardSetupQueries
from kassa.store.checkout_queries import CheckoutSessionQueries
from kassa.store.clock_queries import ClockQueries
from kassa.store.dashboard_operation_queries import DashboardOperationQueries
from kassa.store.dashboard_payment_queries import DashboardPaymentQueries
from kassa.store.dashboard_queries import DashboardQueries
from kassa.store.fx_queries import FxQueries
from kassa.store.held_inserts import HeldInserts
from kassa.store.import_queries import ImportQueries
from kassa.store.invoice_queries import InvoiceQueries
from kassa.store.ledger_queries import LedgerQueries
from kassa.store.mail_queries import MailQueries
from kassa.store.meter_event_queries import MeterEventQueries
from kassa.store.pages import (
    CREATED_OPERATORS,
    check_filter_column,
    null_conditions,
    window_conditions,
)
from kassa.store.payment_method_queries import PaymentMethodQueries
from kassa.store.payout_queries import PayoutQueries
from kassa.store.quote_queries import QuoteQueries
from kassa.store.reconciliation_queries import ReconciliationQueries
from kassa.store.refund_failure_queries import RefundFailureQueries
from kassa.store.reporting_queries import ReportingQueries
from kassa.store.request_queries import RequestQueries
from kassa.store.return_url_queries import ReturnUrlQueries
from kassa.store.search_queries import ObjectSearch, SearchPage, count_matches, search_rows
from kassa.store.seq_order import (
    DRAW_TICKET,
    READ_SETTLED,
    SEQ_SLOTS_PER_TICKET,
    SettledTickets,
    settled_tickets,
)
from kassa.store.statements import (
    FOR_UPDATE,
    LIKE,
    WILDCARD,
    dumps_doc,
    loads_doc,
    wildcard_like_pattern,
)
from kassa.store.tables import EVENT_RECORDED, EVENTS, ObjectTable
from kassa.store.webhook_queries import INSERT_DELIVERY, WebhookQueries

Row = Sequence[Any]

SETTLE_POLLS_MAX = 250
SETTLE_POLL_SECONDS = 0.002
"""A list read on PostgreSQL first waits for the account's writers that hold tickets older
than its start (`kassa.store.seq_order`; Kassa's writers take milliseconds), asking again
after this pause, at most SETTLE_POLLS_MAX times (half a second): a client sees its own new
object. After that it lists the settled rows only: still exact, the newer rows come with a
later read."""

OBJECT_TABLES_CACHED_MAX = 64
"""Object tables whose INSERT and UPDATE statements are kept once written (there are about
twenty)."""

KNOWN_ROWS_MAX = 4_096
"""Object rows one unit of work keeps as it knows them stored (a test clock's unit of 50
pieces of work, renewals and charges, writes or reads about 600, a few KB each); past that
it forgets them all."""
AFTER_COMMIT_MAX = 8
"""Distinct callbacks one unit asks to be called after its commit (one per kind of
background work it can wake: today one)."""


class Executor(Protocol):
    commit_ordered: bool
    """Rows take seqs in the order they commit (SQLite's single writer): every committed row
    is settled and no tickets are drawn (`kassa.store.seq_order`)."""

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None: ...
    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...
    async def fetchone(self, sql: str, args: Sequence[Any] = ()) -> Row | None: ...
    async def fetchall(self, sql: str, args: Sequence[Any] = ()) -> list[Row]: ...


@dataclass(frozen=True)
class LinkedRows:
    """Live rows of another object table that a listed object must have at least one of: a
    subscription with an item on a price has a `subscription_items` row whose
    `subscription` is its id and whose `price` is that price."""

    table: ObjectTable
    link_column: str
    """The column of `table` that holds the listed object's id."""
    equals: Mapping[str, Any]


@dataclass(frozen=True)
class ObjectListQuery:
    """One page of an object list, newest first. Bounds are `seq` values of cursors."""

    limit: int
    before_seq: int | None = None
    after_seq: int | None = None
    equals: Mapping[str, Any] = field(default_factory=dict)
    created: Mapping[str, int] = field(default_factory=dict)
    any_of: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """column -> values it may equal; in a value, each `*` stands for any run of characters
    (`*.deleted`, `charge.*`), case counting on both engines."""
    nulls: Mapping[str, bool] = field(default_factory=dict)
    """column -> whether it must be NULL (True) or must not be (False): an invoice item is
    pending while its `invoice` is NULL."""
    ranges: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    """column -> bounds as `created` takes them (`{"gte": 1, "lt": 9}`): an invoice's
    `due_date` range."""
    linked: tuple[LinkedRows, ...] = ()
    """Rows each listed object must have in other tables (`LinkedRows`), all of them."""


@dataclass(frozen=True, slots=True)
class _KnownRow:
    """An object row as a unit of work knows it is stored (`Transaction._known_rows`)."""

    doc: str
    deleted: bool
    columns: tuple[Any, ...]
    """The filter columns, in the table's order."""


@dataclass(frozen=True)
class ObjectPage:
    objects: list[dict[str, Any]]
    has_more: bool


class Transaction(
    LedgerQueries,
    DashboardQueries,
    DashboardPaymentQueries,
    DashboardOperationQueries,
    MailQueries,
    InvoiceQueries,
    ClockQueries,
    WebhookQueries,
    RequestQueries,
    AccountQueries,
    PayoutQueries,
    FxQueries,
    RefundFailureQueries,
    AuthorizationExpiryQueries,
    CapturePostingQueries,
    CardSetupQueries,
    ReturnUrlQueries,
    PaymentMethodQueries,
    ReconciliationQueries,
    ImportQueries,
    ReportingQueries,
    CheckoutSessionQueries,
    MeterEventQueries,
    QuoteQueries,
):
    """The store's whole interface: one instance per unit of work (a read or a write)."""

    def __init__(
        self, executor: Executor, *, writes: bool = False, single_writer: bool = False
    ) -> None:
        self._held = HeldInserts(executor) if writes else None
        """A write unit's events and outbox rows, written in batches (`held_inserts`)."""
        self._db: Executor = executor if self._held is None else self._held
        self._writes = writes
        self._single_writer = single_writer
        """No other write unit can run meanwhile, in any process (SQLite's writer)."""
        self._lock_reads = FOR_UPDATE if writes else ""
        """In a write unit every object read may be changed: lock it (see FOR_UPDATE)."""
        self._inserted_rows: dict[tuple[str, str], int] = {}
        """Rows inserted per (account, object table) in this unit, bounded by
        SEQ_SLOTS_PER_TICKET."""
        self._tickets: dict[str, int] = {}
        """account -> the seq ticket this unit drew for its rows (PostgreSQL)."""
        self._settled_below: dict[str, int | None] = {}
        """account -> the seq below which its rows are settled, as this read unit found it
        once (a page and its count agree)."""
        self._account_docs: dict[str, Any] = {}
        """account -> its stored document as this unit read it: read once per unit (an
        invoice's create reads it for the default currency and for `account_name`), and
        forgotten when the unit writes the account."""
        self._known_rows: dict[tuple[str, str, str], _KnownRow] = {}
        """(table, account, id) -> the object row as stored, known from this unit's own
        write or from a read of a row no other writer can change before the unit ends
        (`_row_stays_put`): a later read of it is answered from here, and an UPDATE of it
        sets only the filter columns that change (SQLite rewrites every index whose column
        an UPDATE assigns, changed or not). At most KNOWN_ROWS_MAX rows."""
        self._after_commit: list[Callable[[], None]] = []
        """Called once the unit has committed (`after_commit`), each once; at most
        AFTER_COMMIT_MAX."""

    async def finish(self) -> None:
        """Write what the unit holds back (`held_inserts`): a write unit's store calls it as
        the unit's block ends, before its commit."""
        if self._held is not None:
            await self._held.flush()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` once this write unit has committed, not if it rolls back: how a
        unit that gives work to a background job of this process wakes it, so that the job
        finds the unit's rows (`kassa.services.wakeups`). A callback asked for twice is
        called once; it must not raise."""
        ensure(self._writes, "only a write unit commits")
        if callback in self._after_commit:
            return
        ensure(len(self._after_commit) < AFTER_COMMIT_MAX, "a unit keeps few commit callbacks")
        self._after_commit.append(callback)

    def committed(self) -> None:
        """The store tells the unit its commit is done (SQLite: the group commit it joined)."""
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()

    # -- accounts and keys ------------------------------------------------------------

    async def insert_account(self, account: Mapping[str, Any]) -> None:
        self._account_docs.clear()
        await self._db.execute(
            "INSERT INTO accounts (id, created, doc) VALUES (?, ?, ?)",
            (account["id"], account["created"], dumps_doc(account)),
        )

    async def insert_api_key(self, key_hash: str, account_id: str, kind: str, created: int) -> None:
        await self._db.execute(
            "INSERT INTO api_keys (key_hash, account_id, kind, created) VALUES (?, ?, ?, ?)",
            (key_hash, account_id, kind, created),
        )

    async def find_api_key(self, key_hash: str) -> tuple[str, str] | None:
        """(account id, key kind) for a key hash, if the key exists."""
        row = await self._db.fetchone(
            "SELECT account_id, kind FROM api_keys WHERE key_hash = ?", (key_hash,)
        )
        return None if row is None else (row[0], row[1])

    async def get_account(self, account_id: str) -> dict[str, Any] | None:
        """The account's document (a copy of its own to change), or None."""
        if account_id not in self._account_docs:
            if len(self._account_docs) >= KNOWN_ROWS_MAX:
                self._account_docs.clear()  # bounded: forgetting only costs reads
            row = await self._db.fetchone("SELECT doc FROM accounts WHERE id = ?", (account_id,))
            self._account_docs[account_id] = None if row is None else row[0]
        stored = self._account_docs[account_id]
        return None if stored is None else loads_doc(stored)

    async def count_accounts(self) -> int:
        row = await self._db.fetchone("SELECT count(*) FROM accounts")
        return int(row[0]) if row else 0

    # -- API objects --------------------------------------------------------------------

    async def insert_object(
        self, table: ObjectTable, account_id: str, obj: Mapping[str, Any]
    ) -> None:
        row = _KnownRow(dumps_doc(obj), False, _column_values(table, obj))
        await self._insert_row(table, account_id, obj, row)
        self._know((table.name, account_id, obj["id"]), row)

    async def _insert_row(
        self, table: ObjectTable, account_id: str, obj: Mapping[str, Any], row: _KnownRow
    ) -> None:
        values = (obj["id"], account_id, obj["created"], row.doc, *row.columns)
        row_number = self._count_row(table, account_id)
        if self._db.commit_ordered:
            await self._db.execute(_insert_sql(table), (None, *values))  # the next rowid
            return
        ticket = self._tickets.get(account_id)
        if ticket is not None:
            seq = ticket * SEQ_SLOTS_PER_TICKET + row_number
            await self._db.execute(_insert_sql(table), (seq, *values))
            return
        # The unit's first row for the account draws its seq ticket in the same statement
        # (`kassa.store.seq_order`), so a write costs no extra round trip.
        drawn = await self._db.fetchone(_insert_drawing_ticket_sql(table), (*values, account_id))
        ensure(drawn is not None, "an INSERT ... RETURNING answers one row")
        self._tickets[account_id] = int(drawn[0]) // SEQ_SLOTS_PER_TICKET if drawn else 0

    def _count_row(self, table: ObjectTable, account_id: str) -> int:
        """The number of the unit's next row for the account in `table` (from 0), bounded
        by the seqs one ticket has."""
        counted = (account_id, table.name)
        row_number = self._inserted_rows.get(counted, 0)
        ensure(
            row_number < SEQ_SLOTS_PER_TICKET,
            f"a unit of work inserts at most {SEQ_SLOTS_PER_TICKET} rows into {table.name}",
        )
        self._inserted_rows[counted] = row_number + 1
        return row_number

    async def update_object(
        self, table: ObjectTable, account_id: str, obj: Mapping[str, Any]
    ) -> None:
        key = (table.name, account_id, obj["id"])
        doc = dumps_doc(obj)
        columns = _column_values(table, obj)
        known = self._known_rows.get(key)
        if known is None:
            await self._db.execute(_update_sql(table), (doc, *columns, obj["id"], account_id))
            return
        changed = tuple(
            i for i, value in enumerate(columns) if not _same_column_value(known.columns[i], value)
        )
        await self._db.execute(
            _update_columns_sql(table, changed),
            (doc, *(columns[i] for i in changed), obj["id"], account_id),
        )
        self._know(key, _KnownRow(doc, known.deleted, columns))

    async def mark_object_deleted(
        self, table: ObjectTable, account_id: str, object_id: str
    ) -> None:
        await self._db.execute(
            f"UPDATE {table.name} SET deleted = 1 WHERE id = ? AND account_id = ?",
            (object_id, account_id),
        )
        key = (table.name, account_id, object_id)
        known = self._known_rows.get(key)
        if known is not None:
            self._know(key, _KnownRow(known.doc, True, known.columns))

    async def get_object(
        self, table: ObjectTable, account_id: str, object_id: str, *, lock: bool = True
    ) -> tuple[dict[str, Any], bool] | None:
        """The object's document and whether it is deleted; None if it never existed here.
        In a write unit the row is locked (see FOR_UPDATE), unless `lock` is False: for a
        read of something the unit will not change (a customer's test clock), which must
        not take a lock out of the order every path takes them in."""
        key = (table.name, account_id, object_id)
        known = self._known_rows.get(key)
        if known is not None:
            return loads_doc(known.doc), known.deleted
        if not self._row_stays_put(lock=lock):
            row = await self._db.fetchone(
                f"SELECT doc, deleted FROM {table.name} WHERE id = ? AND account_id = ?"
                f"{self._lock_reads if lock else ''}",
                (object_id, account_id),
            )
            return None if row is None else (loads_doc(row[0]), bool(row[1]))
        row = await self._db.fetchone(
            _select_with_columns_sql(table, self._lock_reads if lock else ""),
            (object_id, account_id),
        )
        if row is None:
            return None
        self._know(key, _KnownRow(row[0], bool(row[1]), tuple(row[2:])))
        return loads_doc(row[0]), bool(row[1])

    def _row_stays_put(self, *, lock: bool) -> bool:
        """Whether a row this unit reads stays as read until the unit ends, unless the unit
        changes it itself: in a write unit, when it is the only writer (SQLite) or the read
        locks the row (PostgreSQL's FOR UPDATE; a row the unit wrote is locked too)."""
        return self._writes and (self._single_writer or lock)

    def _know(self, key: tuple[str, str, str], row: _KnownRow) -> None:
        if len(self._known_rows) >= KNOWN_ROWS_MAX and key not in self._known_rows:
            self._known_rows.clear()  # bounded: forgetting only costs reads
        self._known_rows[key] = row

    def _forget_rows(self) -> None:
        """A statement changed object rows otherwise than `update_object`: read them again."""
        self._known_rows.clear()

    async def find_object_owner(self, table: ObjectTable, object_id: str) -> str | None:
        """The account an object belongs to, for pages reached by a capability (a client
        secret) rather than an API key."""
        row = await self._db.fetchone(
            f"SELECT account_id FROM {table.name} WHERE id = ?", (object_id,)
        )
        return None if row is None else str(row[0])

    async def unlocked_column(
        self, table: ObjectTable, account_id: str, object_id: str, column: str
    ) -> Any:
        """One filter column of an object, read without locking its row (None if there is no
        such object). Only for a value that never changes, such as the PaymentIntent a charge
        belongs to: it lets a write lock rows in the order every path takes them."""
        check_filter_column(table, column)
        row = await self._db.fetchone(
            f"SELECT {column} FROM {table.name} WHERE id = ? AND account_id = ?",
            (object_id, account_id),
        )
        return None if row is None else row[0]

    async def search_objects(
        self, table: ObjectTable, account_id: str, search: ObjectSearch
    ) -> SearchPage:
        """One page of a search (`kassa.store.search_queries`), newest first, among the
        settled rows (`kassa.store.seq_order`), so pages stay exact while writers commit."""
        settled = await self._settled_seq(account_id)
        return await search_rows(self._db, table, account_id, search, settled_below=settled)

    async def count_search_matches(
        self, table: ObjectTable, account_id: str, search: ObjectSearch
    ) -> int:
        settled = await self._settled_seq(account_id)
        return await count_matches(self._db, table, account_id, search, settled_below=settled)

    async def _settled_seq(self, account_id: str) -> int | None:
        """The seq below which the account's rows are settled; None when every committed row
        is (SQLite, and a write unit, which acts on what it reads and must see its own rows,
        never settled before it commits)."""
        if self._writes or self._db.commit_ordered:
            return None
        if account_id not in self._settled_below:
            self._settled_below[account_id] = await self._await_settled(account_id)
        return self._settled_below[account_id]

    async def _await_settled(self, account_id: str) -> int:
        """Wait until the account's writers holding tickets drawn before this read have
        finished, at most SETTLE_POLLS_MAX times SETTLE_POLL_SECONDS; the settled seq then
        (or, past the wait, the last one known)."""
        started_at: int | None = None
        known = 0
        for _ in range(SETTLE_POLLS_MAX):
            row = await self._db.fetchone(READ_SETTLED, (account_id,))
            ensure(row is not None, "the settled read answers one row")
            found = settled_tickets(row) if row is not None else SettledTickets(0, 0)
            started_at = found.newest_issued if started_at is None else started_at
            if found.below is not None:
                known = found.below
                if found.below > started_at:
                    break
            await asyncio.sleep(SETTLE_POLL_SECONDS)
        return known * SEQ_SLOTS_PER_TICKET

    async def object_seq(self, table: ObjectTable, account_id: str, object_id: str) -> int | None:
        row = await self._db.fetchone(
            f"SELECT seq FROM {table.name} WHERE id = ? AND account_id = ?",
            (object_id, account_id),
        )
        return None if row is None else int(row[0])

    async def list_objects(
        self, table: ObjectTable, account_id: str, query: ObjectListQuery
    ) -> ObjectPage:
        """One page, newest first, among the settled rows (`kassa.store.seq_order`), so
        paging and following stay exact while writers commit out of seq order."""
        where, args = await self._settled_list_conditions(table, account_id, query)
        order = "ASC" if query.after_seq is not None else "DESC"
        rows = await self._db.fetchall(
            f"SELECT doc FROM {table.name} WHERE {' AND '.join(where)} "
            f"ORDER BY seq {order} LIMIT ?",
            (*args, query.limit + 1),
        )
        ensure(len(rows) <= query.limit + 1, "a page query fetches at most limit + 1 rows")
        return _page(rows, query)

    async def count_objects(
        self, table: ObjectTable, account_id: str, query: ObjectListQuery
    ) -> int:
        """How many settled rows the query's filters match, counting at most `query.limit`
        (a list's `total_count`; cursors narrow the count as they narrow a page)."""
        where, args = await self._settled_list_conditions(table, account_id, query)
        row = await self._db.fetchone(
            f"SELECT count(*) FROM (SELECT 1 FROM {table.name} "
            f"WHERE {' AND '.join(where)} LIMIT ?) AS matched",
            (*args, query.limit),
        )
        ensure(row is not None, "an aggregate answers one row")
        return int(row[0]) if row is not None else 0

    async def _settled_list_conditions(
        self, table: ObjectTable, account_id: str, query: ObjectListQuery
    ) -> tuple[list[str], list[Any]]:
        """The WHERE conditions a list page and its count share: the query's filters and
        cursors, kept to the settled rows (`kassa.store.seq_order`) so that a count agrees
        with the pages it counts."""
        where, args = _list_conditions(table, account_id, query)
        settled = await self._settled_seq(account_id)
        if settled is not None:
            where.append("seq < ?")
            args.append(settled)
        return where, args

    # -- schema -------------------------------------------------------------------------------

    async def applied_migrations(self) -> set[int]:
        rows = await self._db.fetchall("SELECT version FROM schema_migrations")
        return {int(row[0]) for row in rows}

    async def record_migration(self, version: int, name: str, applied: int) -> None:
        await self._db.execute(
            "INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)",
            (version, name, applied),
        )

    async def run_script_statement(self, statement: str) -> None:
        self._forget_rows()  # a script may change any row
        await self._db.execute(statement)

    # -- events ---------------------------------------------------------------------------------

    async def insert_event(
        self,
        account_id: str,
        event: Mapping[str, Any],
        deliveries: Sequence[tuple[str, str, str, str, int]],
        recorded: int,
    ) -> None:
        """A new event, written at `recorded` (seconds, the server's clock: its `created` may
        be a test clock's), and its pending deliveries (rows as `insert_webhook_deliveries`
        takes them), held back to be written with the unit's other events (`held_inserts`):
        as `insert_object` and `insert_webhook_deliveries` would write them."""
        columns = _column_values(EVENTS, {**event, EVENT_RECORDED: recorded})
        row = _KnownRow(dumps_doc(event), False, columns)
        if self._held is None or not (self._db.commit_ordered or account_id in self._tickets):
            # The unit's first row for the account draws its seq ticket: at once.
            await self._insert_row(EVENTS, account_id, event, row)
            self._know((EVENTS.name, account_id, str(event["id"])), row)
            if deliveries:
                await self.insert_webhook_deliveries(deliveries)
            return
        row_number = self._count_row(EVENTS, account_id)
        seq = (
            None
            if self._db.commit_ordered
            else self._tickets[account_id] * SEQ_SLOTS_PER_TICKET + row_number
        )
        await self._held.hold(
            _insert_sql(EVENTS),
            (seq, event["id"], account_id, event["created"], row.doc, *row.columns),
        )
        for delivery in deliveries:
            await self._held.hold(INSERT_DELIVERY, (*delivery, delivery[4]))
        self._know((EVENTS.name, account_id, str(event["id"])), row)

    # -- instance secrets ----------------------------------------------------------------------

    async def instance_secret(self, name: str, candidate: str) -> str:
        """The secret stored under `name`; `candidate` becomes it if none is stored yet."""
        await self._db.execute(
            "INSERT INTO instance_secrets (name, secret) VALUES (?, ?) "
            "ON CONFLICT (name) DO NOTHING",
            (name, candidate),
        )
        row = await self._db.fetchone("SELECT secret FROM instance_secrets WHERE name = ?", (name,))
        ensure(row is not None, "an instance secret exists once inserted")
        return str(row[0]) if row else candidate


@functools.lru_cache(maxsize=OBJECT_TABLES_CACHED_MAX)
def _insert_sql(table: ObjectTable) -> str:
    """An object row's INSERT, written once per table (every request inserts several)."""
    columns = "".join(f", {c}" for c in table.filter_columns)
    placeholders = ", ?" * len(table.filter_columns)
    return (
        f"INSERT INTO {table.name} (seq, id, account_id, created, doc{columns}) "
        f"VALUES (?, ?, ?, ?, ?{placeholders})"
    )


@functools.lru_cache(maxsize=OBJECT_TABLES_CACHED_MAX)
def _insert_drawing_ticket_sql(table: ObjectTable) -> str:
    """An object row's INSERT that also draws the unit's seq ticket for the account
    (PostgreSQL; the row is the ticket's first): the same values, then the account again."""
    columns = "".join(f", {c}" for c in table.filter_columns)
    placeholders = ", ?" * len(table.filter_columns)
    return (
        f"INSERT INTO {table.name} (seq, id, account_id, created, doc{columns}) "
        f"SELECT drawn.ticket * {SEQ_SLOTS_PER_TICKET}, ?, ?, ?, ?{placeholders} "
        f"FROM ({DRAW_TICKET}) AS drawn RETURNING seq"
    )


@functools.lru_cache(maxsize=OBJECT_TABLES_CACHED_MAX)
def _update_sql(table: ObjectTable) -> str:
    assignments = "".join(f", {c} = ?" for c in table.filter_columns)
    return f"UPDATE {table.name} SET doc = ?{assignments} WHERE id = ? AND account_id = ?"


@functools.lru_cache(maxsize=OBJECT_TABLES_CACHED_MAX * 8)
def _update_columns_sql(table: ObjectTable, changed: tuple[int, ...]) -> str:
    """An object row's UPDATE setting its document and only the filter columns at the
    positions `changed` (the others are known to hold their values already)."""
    assignments = "".join(f", {table.filter_columns[i]} = ?" for i in changed)
    return f"UPDATE {table.name} SET doc = ?{assignments} WHERE id = ? AND account_id = ?"


@functools.lru_cache(maxsize=OBJECT_TABLES_CACHED_MAX * 2)
def _select_with_columns_sql(table: ObjectTable, lock: str) -> str:
    """An object's document, deleted flag, and then its filter columns as stored."""
    columns = "".join(f", {c}" for c in table.filter_columns)
    return f"SELECT doc, deleted{columns} FROM {table.name} WHERE id = ? AND account_id = ?{lock}"


def _same_column_value(stored: Any, value: Any) -> bool:
    """Whether writing `value` would leave a column holding `stored` as it is: equal, and
    both NULL or neither (types the engines store alike: 1 and True, 2 and 2.0)."""
    return stored == value and (stored is None) == (value is None)


def _column_values(table: ObjectTable, obj: Mapping[str, Any]) -> tuple[Any, ...]:
    return table.column_values(obj)


def _list_conditions(
    table: ObjectTable, account_id: str, query: ObjectListQuery
) -> tuple[list[str], list[Any]]:
    """The WHERE conditions of a list page and their arguments, cursors included."""
    where = ["account_id = ?", "deleted = 0"]
    args: list[Any] = [account_id]
    for column, value in query.equals.items():
        check_filter_column(table, column)
        where.append(f"{column} = ?")
        args.append(value)
    for column, values in query.any_of.items():
        check_filter_column(table, column)
        alternatives = []
        for value in values:
            if WILDCARD in value:
                alternatives.append(f"{LIKE}({column}, ?)")
                args.append(wildcard_like_pattern(value))
            else:
                alternatives.append(f"{column} = ?")
                args.append(value)
        where.append(f"({' OR '.join(alternatives) or 'FALSE'})")
    where.extend(null_conditions(table, query.nulls))
    for column, bounds in query.ranges.items():
        check_filter_column(table, column)
        for operator, bound in bounds.items():
            where.append(f"{column} {CREATED_OPERATORS[operator]} ?")
            args.append(bound)
    for linked in query.linked:
        condition, linked_args = _linked_condition(account_id, linked)
        where.append(condition)
        args.extend(linked_args)
    window, window_args = window_conditions(query.created, query.before_seq, query.after_seq)
    return where + window, args + window_args


def _linked_condition(account_id: str, linked: LinkedRows) -> tuple[str, list[Any]]:
    """The listed object's id among the link column's values of the matching live rows
    (read through the linked table's index on its filter column and the account)."""
    check_filter_column(linked.table, linked.link_column)
    terms = ["account_id = ?", "deleted = 0"]
    args: list[Any] = [account_id]
    for column, value in linked.equals.items():
        check_filter_column(linked.table, column)
        terms.append(f"{column} = ?")
        args.append(value)
    rows = f"SELECT {linked.link_column} FROM {linked.table.name} WHERE {' AND '.join(terms)}"
    return f"id IN ({rows})", args


def _page(rows: list[Row], query: ObjectListQuery) -> ObjectPage:
    objects = [loads_doc(row[0]) for row in rows[: query.limit]]
    if query.after_seq is not None:
        objects.reverse()  # read oldest first from the cursor; pages are newest first
    return ObjectPage(objects=objects, has_more=len(rows) > query.limit)
