"""SQL behind a clean account per test: accounts made in batches, an account's state cleared
(a reset), saved under a name and written back (snapshots). Mixed into `Transaction`.

An account's *state* is its rows in ACCOUNT_TABLES: every API object (events and webhook
endpoints included), the relational rows hanging off them (an endpoint's signing state and
queued faults, webhook deliveries and attempts, email deliveries, attachments and attachment
references), its ledger
transactions and their entries, its dashboard payment counters and its idempotency keys. What
a reset keeps, and why, is KEPT_TABLES.

The ledger is shared: an account's transactions post to `platform:*` and `external:*` ledger
accounts too. Clearing subtracts what the account's entries added to every ledger account they
touch and deletes those left with no entries and a zero balance; a restore adds the saved sums
back. Materialized balances so stay the sum of their entries (`kassa ledger verify`).

List order: restored rows take new seqs in their saved order, so they sort among themselves as
they did. On SQLite, the next rowids. On PostgreSQL, object rows take seqs from tickets the
restore draws (`kassa.store.seq_order`): above every row a reader has seen, and below every row
the account's writers insert later; other seq tables take their identity's next values.

On PostgreSQL a reset, save or restore first takes the account's writer lock exclusively (the
lock writers take shared at their first insert), so no write unit of the account that inserts
is half before and half after it, and a list read meanwhile waits for it
(`Transaction._await_settled`).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import orjson

from kassa.invariants import InvariantViolated, ensure
from kassa.store.payout_queries import backfill_sweeps
from kassa.store.seq_order import ACCOUNT_LOCK_SPACE, DRAW_TICKET, SEQ_SLOTS_PER_TICKET
from kassa.store.statements import FOR_UPDATE, dumps_doc, loads_doc
from kassa.store.tables import ALL_OBJECT_TABLES, INVOICE_ITEMS, ObjectTable

if TYPE_CHECKING:
    from kassa.store.queries import Executor

SNAPSHOT_CHUNK_ROWS = 1_000
"""Rows of one table read per statement and stored per chunk (a chunk also holds the children
of its rows: an email's delivery and attachments, a ledger transaction's entries)."""
SNAPSHOT_PAGES_MAX = 10_000
"""Pages saved per table at most: ten million rows, far beyond a test account."""
SNAPSHOT_CHUNKS_MAX = 1_000_000
"""Chunks one snapshot holds at most (every table's pages and their children)."""
CHUNKS_PER_READ = 16
"""Chunks a restore reads per statement: memory holds at most these."""
CHILDREN_PER_PARENT_MAX = 1_000
"""Child rows one parent row has at most (an email's attachments, a transaction's entries)."""
LEDGER_ACCOUNTS_TOUCHED_MAX = 1_000_000
"""Ledger accounts one account's entries touch at most: its own buckets, the platform's and
one per customer with a credit balance."""
ACCOUNT_LOCK_POLLS_MAX = 500
ACCOUNT_LOCK_POLL_SECONDS = 0.002
"""On PostgreSQL the account's writer lock is asked for without waiting, again after this
pause, at most ACCOUNT_LOCK_POLLS_MAX times (a second): waiting in the lock queue could close
a cycle with a writer that waits for a row another writer holds, a deadlock."""

SeqKind = Literal["ticketed", "serial", "keyed"]
"""How a table orders its rows: `ticketed`, an object table (`seq` from tickets on
PostgreSQL); `serial`, a `seq` from the engine; `keyed`, no seq (saved in key order)."""


@dataclass(frozen=True)
class ChildTable:
    """Rows that belong to a parent row of another table, and go with it."""

    name: str
    columns: tuple[str, ...]
    parent_column: str
    """Holds the parent's `id`."""
    order: str
    bytes_columns: tuple[str, ...] = ()
    """Columns of bytes (`{{BYTES}}`), saved in a snapshot's JSON as base64."""


@dataclass(frozen=True)
class AccountTable:
    name: str
    columns: tuple[str, ...]
    """What a snapshot saves and a restore writes back, in this order; never `seq`."""
    seqs: SeqKind
    key: tuple[str, ...] = ()
    """The saved order of a `keyed` table (after `account_id`: its primary key's order)."""
    children: tuple[ChildTable, ...] = ()


def _columns(names: str) -> tuple[str, ...]:
    return tuple(names.split())


_OBJECT_COLUMNS = ("id", "account_id", "created", "deleted", "doc")
"""An object table's own columns, ahead of its filter columns (which come from `doc`)."""


def _object_table(table: ObjectTable, children: tuple[ChildTable, ...] = ()) -> AccountTable:
    columns = (*_OBJECT_COLUMNS, *table.filter_columns)
    return AccountTable(table.name, columns, "ticketed", children=children)


_OBJECT_CHILDREN: dict[str, tuple[ChildTable, ...]] = {
    "webhook_endpoints": (
        ChildTable(
            "webhook_endpoint_state",
            _columns("endpoint_id account_id secret failing_since_ms disabled"),
            "endpoint_id",
            "endpoint_id",
        ),
        ChildTable(
            "webhook_faults",
            _columns(
                "id account_id endpoint_id type count remaining status_code delay_seconds created"
            ),
            "endpoint_id",
            "seq",
        ),
    ),
    "emails": (
        ChildTable(
            "email_deliveries",
            _columns(
                "email_id account_id status attempts next_attempt_ms claimed_until_ms "
                "created_ms last_error"
            ),
            "email_id",
            "email_id",
        ),
        ChildTable(
            "email_attachments",
            _columns("email_id ordinal filename content_type size_bytes content_base64"),
            "email_id",
            "email_id, ordinal",
        ),
        ChildTable(
            "email_attachment_refs",
            _columns("email_id ordinal filename content_type kind ref_id"),
            "email_id",
            "email_id, ordinal",
        ),
    ),
    "files": (
        ChildTable(
            "file_contents",
            _columns("file_id account_id content_type size_bytes contents"),
            "file_id",
            "file_id",
            bytes_columns=("contents",),
        ),
    ),
}

ACCOUNT_TABLES: tuple[AccountTable, ...] = (
    *(_object_table(t, _OBJECT_CHILDREN.get(t.name, ())) for t in ALL_OBJECT_TABLES),
    AccountTable(
        "webhook_deliveries",
        _columns(
            "id account_id event_id endpoint_id status attempts next_attempt_ms "
            "claimed_until_ms created_ms fault fault_status_code"
        ),
        "serial",
    ),
    AccountTable(
        "webhook_attempts",
        _columns(
            "id account_id delivery_id event_id endpoint_id attempted_ms duration_ms "
            "status_code error response_excerpt injected_fault"
        ),
        "serial",
    ),
    AccountTable(
        "ledger_transactions",
        _columns(
            "id account_id created type visible source currency amount fee net fee_details "
            "available_on status reporting_category description test_clock exchange_rate swept_by"
        ),
        "serial",
        children=(
            ChildTable(
                "ledger_entries",
                _columns("transaction_id ledger_account currency amount"),
                "transaction_id",
                "seq",
            ),
        ),
    ),
    AccountTable(
        "refund_failures",
        _columns("account_id id fails_at test_clock failure_reason"),
        "keyed",
        key=("id",),
    ),
    AccountTable(
        "authorization_expiries",
        _columns("account_id id expires_at test_clock"),
        "keyed",
        key=("id",),
    ),
    AccountTable(
        "capture_postings",
        _columns("account_id id posts_at test_clock amount"),
        "keyed",
        key=("id",),
    ),
    AccountTable(
        "billing_meter_events",
        _columns(
            "account_id identifier event_name customer value occurred_at created canceled "
            "recorded_ms"
        ),
        "keyed",
        key=("identifier",),
    ),
    AccountTable(
        "billing_alert_triggers",
        _columns("account_id alert_id customer value created"),
        "keyed",
        key=("alert_id", "customer"),
    ),
    AccountTable(
        "card_setups",
        _columns("account_id payment_method created"),
        "keyed",
        key=("payment_method",),
    ),
    AccountTable(
        "invoice_prefixes",
        _columns("account_id prefix customer"),
        "keyed",
        key=("prefix",),
    ),
    AccountTable(
        "intent_return_urls",
        _columns("account_id intent_id return_url"),
        "keyed",
        key=("intent_id",),
    ),
    AccountTable(
        "retired_payment_methods",
        _columns("account_id id reason"),
        "keyed",
        key=("id",),
    ),
    AccountTable(
        "imported_objects",
        _columns("account_id kind external_id object_id created"),
        "keyed",
        key=("kind", "external_id"),
    ),
    AccountTable(
        "payment_volume_days",
        _columns("account_id day currency shard succeeded_count succeeded_amount failed_count"),
        "keyed",
        key=("day", "currency", "shard"),
    ),
    AccountTable(
        "idempotency_keys",
        _columns(
            "account_id idempotency_key fingerprint created locked_until_ms request_id "
            "response_status response_body"
        ),
        "keyed",
        key=("idempotency_key",),
    ),
)
"""Every table holding an account's state, parents before the rows that reference them:
restored in this order, cleared in the reverse. Each has `account_id`, and its children hang
off it by id (ledger entries carry no account of their own)."""

LEDGER_SUMS = "ledger_balances"
"""A snapshot's last rows: what the account's entries add to each ledger account they touch
(`ledger_account, owner, bucket, currency, amount`), added back by a restore."""

KEPT_TABLES: dict[str, str] = {
    "accounts": "the account itself: its name and time zone stay",
    "api_keys": "its keys keep working, so a test keeps its client",
    "dashboard_sessions": "an operator signed in to the dashboard stays signed in",
    "request_log": "a record of the requests made (the reset among them), not state; "
    "retention purges it, and entries still in the writer's buffer would land after a reset",
    "account_snapshots": "snapshots outlive a reset and a restore: that is what they are for",
    "account_snapshot_chunks": "the snapshots' rows",
    "reconciliation_runs": "a record of `kassa reconcile` runs against outside files (as the "
    "request log records requests), not state",
    "reconciliation_breaks": "the recorded runs' samples of breaks",
    "ledger_balances": "shared with other accounts (platform, external): adjusted by the "
    "account's entries' sums, and the ledger accounts left empty deleted",
    "instance_secrets": "the installation's, no account's",
    "reminder_scans": "the installation's, no account's (a restore deletes its row)",
    "exchange_rate_versions": "the installation's exchange rates, no account's",
    "exchange_rates": "the installation's exchange rates, no account's",
    "schema_migrations": "the installation's, no account's",
}
"""Every table not in ACCOUNT_TABLES, and why a reset leaves it (tests/test_account_reset.py
checks the two cover the schema)."""

_TABLES_BY_NAME: dict[str, tuple[tuple[str, ...], SeqKind]] = {
    **{t.name: (t.columns, t.seqs) for t in ACCOUNT_TABLES},
    **{c.name: (c.columns, "keyed") for t in ACCOUNT_TABLES for c in t.children},
}
_OBJECT_TABLES_BY_NAME = {t.name: t for t in ALL_OBJECT_TABLES}
_BYTES_COLUMNS = {
    c.name: c.bytes_columns for t in ACCOUNT_TABLES for c in t.children if c.bytes_columns
}
BASE64_KEY = "base64"
"""A chunk's list of the columns it holds as base64 (`ChildTable.bytes_columns`)."""
_LEDGER_SUM_COLUMNS = ("ledger_account", "owner", "bucket", "currency", "amount")
_ADD_TO_BALANCE = (
    "INSERT INTO ledger_balances (ledger_account, owner, bucket, currency, amount) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (ledger_account) "
    "DO UPDATE SET amount = ledger_balances.amount + excluded.amount"
)


def _saved_rows(chunk: Any) -> tuple[tuple[str, ...] | None, list[list[Any]]]:
    """A chunk's column names and rows. Chunks name their columns (`{"columns", "rows"}`)
    so that a snapshot restores by name after a migration changed a table; a chunk saved
    before they did is a bare list of rows, in the column order of its day."""
    if isinstance(chunk, dict):
        return tuple(chunk["columns"]), list(chunk["rows"])
    return None, list(chunk)


def _rows_for_schema(
    table_name: str,
    columns: tuple[str, ...],
    saved: tuple[str, ...] | None,
    rows: list[list[Any]],
) -> tuple[tuple[str, ...], list[list[Any]]]:
    """The columns to insert and each row's values for them, as the schema is now.

    An object table's filter columns are worked out again from each document whenever the
    saved ones differ from today's, as an insert of the object would (migration 0033 added
    `subscriptions.pending_setup_intent`). Another table's rows keep the saved columns the
    schema still has; a column added since takes its default. Chunks that do not name
    their columns are read by position: an object table's with fewer values per row had a
    filter column added since."""
    if saved == columns or (saved is None and all(len(row) == len(columns) for row in rows)):
        return columns, rows
    table = _OBJECT_TABLES_BY_NAME.get(table_name)
    if table is not None:
        at = [(saved or columns).index(name) for name in _OBJECT_COLUMNS]
        return columns, [
            [*(row[i] for i in at), *table.column_values(loads_doc(row[at[-1]]))] for row in rows
        ]
    if saved is None:
        return columns, rows  # not an object table: refused by the caller's row check
    kept = tuple(name for name in columns if name in saved)
    at = [saved.index(name) for name in kept]
    return kept, [[row[i] for i in at] for row in rows]


def _base64_rows(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], encoded: tuple[str, ...]
) -> list[list[Any]]:
    at = {columns.index(name) for name in encoded}
    return [
        [base64.b64encode(v).decode() if i in at else v for i, v in enumerate(row)] for row in rows
    ]


def _bytes_restored(
    table_name: str, chunk: Any, saved: tuple[str, ...] | None, rows: list[list[Any]]
) -> list[list[Any]]:
    """The table's bytes columns as bytes again: base64 in a chunk that lists them
    (BASE64_KEY); text in one saved before they were bytes (migration 0058 made
    `file_contents.contents` bytes: a report's CSV, kept as its UTF-8)."""
    names = _BYTES_COLUMNS.get(table_name, ())
    if not names:
        return rows
    encoded = set(chunk.get(BASE64_KEY, ())) if isinstance(chunk, dict) else set()
    columns = saved or _TABLES_BY_NAME[table_name][0]
    at = [(columns.index(name), name in encoded) for name in names if name in columns]
    restored = []
    for row in rows:
        values = list(row)
        for index, is_base64 in at:
            text = str(values[index])
            values[index] = base64.b64decode(text) if is_base64 else text.encode()
        restored.append(values)
    return restored


def _period_items_flagged(
    columns: tuple[str, ...], saved: tuple[str, ...] | None, rows: list[list[Any]]
) -> list[list[Any]]:
    """Invoice items saved before migration 0054, their subscription period charges marked
    in their documents as the migration marked the stored ones (`_kassa.period_item`, which
    the `period_item` column is worked out from). Saved with the column (after 0053): the
    rows it marks; saved before it, the rows 0053 marked: those naming their subscription
    item that are not prorations."""
    doc_at = (saved or columns).index("doc")
    marked_at = saved.index("period_item") if saved and "period_item" in saved else None
    flagged = []
    for row in rows:
        if marked_at is not None and not row[marked_at]:
            flagged.append(row)
            continue
        doc = loads_doc(row[doc_at])
        private = doc.get("_kassa") or {}
        if private.get("period_item") or (marked_at is None and not _marked_by_0053(doc)):
            flagged.append(row)
            continue
        doc["_kassa"] = {**private, "period_item": True}
        flagged.append([*row[:doc_at], dumps_doc(doc), *row[doc_at + 1 :]])
    return flagged


def _marked_by_0053(item: dict[str, Any]) -> bool:
    details = (item.get("parent") or {}).get("subscription_details") or {}
    return details.get("subscription_item") is not None and not item.get("proration")


@dataclass(frozen=True)
class SnapshotRow:
    account_id: str
    name: str
    created: int
    row_count: int


class AccountQueries:
    _db: Executor
    _forget_rows: Callable[[], None]
    """Transaction's own: drops the rows it knows (these statements change many)."""
    _account_docs: dict[str, Any]
    """Transaction's own: the account documents this unit read (`get_account`)."""

    # -- accounts in batches -------------------------------------------------------------

    async def insert_accounts(self, accounts: Sequence[tuple[str, int, str]]) -> None:
        """(id, created, doc as JSON) rows, in one statement."""
        self._account_docs.clear()
        await self._db.executemany(
            "INSERT INTO accounts (id, created, doc) VALUES (?, ?, ?)", accounts
        )

    async def insert_api_keys(self, keys: Sequence[tuple[str, str, str, int]]) -> None:
        """(key hash, account id, kind, created) rows, in one statement."""
        await self._db.executemany(
            "INSERT INTO api_keys (key_hash, account_id, kind, created) VALUES (?, ?, ?, ?)",
            keys,
        )

    # -- the account's writers ----------------------------------------------------------

    async def lock_account_writers(self, account_id: str) -> bool:
        """Hold the account's writer lock exclusively until this unit ends (PostgreSQL; on
        SQLite the unit is the only writer already). False if its writers kept it past
        ACCOUNT_LOCK_POLLS_MAX tries."""
        if self._db.commit_ordered:
            return True
        for _ in range(ACCOUNT_LOCK_POLLS_MAX):
            row = await self._db.fetchone(
                f"SELECT pg_try_advisory_xact_lock({ACCOUNT_LOCK_SPACE}, hashtext(?))",
                (account_id,),
            )
            ensure(row is not None, "a SELECT without FROM answers one row")
            if row is not None and row[0]:
                return True
            await asyncio.sleep(ACCOUNT_LOCK_POLL_SECONDS)
        return False

    # -- reset ------------------------------------------------------------------------------

    async def clear_account_state(self, account_id: str) -> None:
        """Delete every row of the account's state (ACCOUNT_TABLES), children first, and take
        its entries' sums off the shared ledger accounts they touched."""
        self._forget_rows()
        # A delivery worker records an attempt (a row referring to its delivery) in its own
        # transaction: on PostgreSQL one committed between this unit's deletes of attempts
        # and of deliveries broke the foreign key (a 500). Locked first, the deliveries make
        # such a worker wait, and its attempt then finds its delivery gone and is retried.
        # Counted, not fetched: an account may hold millions of deliveries, and their ids are
        # not needed, only their locks.
        await self._db.fetchone(
            "SELECT count(*) FROM (SELECT 1 FROM webhook_deliveries WHERE account_id = ? "
            f"{FOR_UPDATE}) AS locked",
            (account_id,),
        )
        for table in reversed(ACCOUNT_TABLES):
            if table.name == "ledger_transactions":
                await self._clear_ledger(account_id)
                continue
            for child in table.children:
                await self._db.execute(
                    f"DELETE FROM {child.name} WHERE {child.parent_column} IN "
                    f"(SELECT id FROM {table.name} WHERE account_id = ?)",
                    (account_id,),
                )
            await self._db.execute(f"DELETE FROM {table.name} WHERE account_id = ?", (account_id,))

    async def _clear_ledger(self, account_id: str) -> None:
        sums = await self._ledger_sums(account_id)
        await self._db.execute(
            "DELETE FROM ledger_entries WHERE transaction_id IN "
            "(SELECT id FROM ledger_transactions WHERE account_id = ?)",
            (account_id,),
        )
        await self._db.execute(
            "DELETE FROM ledger_transactions WHERE account_id = ?", (account_id,)
        )
        if not sums:
            return
        await self._db.executemany(
            "UPDATE ledger_balances SET amount = amount - ? WHERE ledger_account = ?",
            [(row[4], row[0]) for row in sums],
        )
        # A ledger account that held only this account's entries is gone with them (verify
        # reports a balance without entries); one whose balance drifted stays, to be reported.
        await self._db.executemany(
            "DELETE FROM ledger_balances WHERE ledger_account = ? AND amount = 0 "
            "AND NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.ledger_account = ?)",
            [(row[0], row[0]) for row in sums],
        )

    async def _ledger_sums(self, account_id: str) -> list[tuple[Any, ...]]:
        """What the account's entries add to each ledger account (LEDGER_SUMS' columns), in
        ledger account order; read through the account's transactions, never the entries of
        a shared ledger account."""
        rows = await self._db.fetchall(
            "SELECT e.ledger_account, b.owner, b.bucket, b.currency, SUM(e.amount) "
            "FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id "
            "JOIN ledger_balances b ON b.ledger_account = e.ledger_account "
            "WHERE t.account_id = ? "
            "GROUP BY e.ledger_account, b.owner, b.bucket, b.currency "
            "ORDER BY e.ledger_account LIMIT ?",
            (account_id, LEDGER_ACCOUNTS_TOUCHED_MAX + 1),
        )
        ensure(
            len(rows) <= LEDGER_ACCOUNTS_TOUCHED_MAX,
            f"an account's entries touch at most {LEDGER_ACCOUNTS_TOUCHED_MAX} ledger accounts",
        )
        return [(row[0], row[1], row[2], row[3], int(row[4])) for row in rows]

    # -- snapshots --------------------------------------------------------------------------

    async def save_account_snapshot(self, account_id: str, name: str, created: int) -> int:
        """Save the account's state under `name`, replacing a snapshot of that name; the rows
        saved."""
        await self.delete_account_snapshot(account_id, name)
        await self._db.execute(
            "INSERT INTO account_snapshots (account_id, name, created, row_count, chunk_count) "
            "VALUES (?, ?, ?, 0, 0)",
            (account_id, name, created),
        )
        chunks = _ChunkWriter(self._db, account_id, name)
        for table in ACCOUNT_TABLES:
            await self._save_table(table, account_id, chunks)
        sums = await self._ledger_sums(account_id)
        for start in range(0, len(sums), SNAPSHOT_CHUNK_ROWS):
            await chunks.write(
                LEDGER_SUMS, _LEDGER_SUM_COLUMNS, sums[start : start + SNAPSHOT_CHUNK_ROWS]
            )
        await self._db.execute(
            "UPDATE account_snapshots SET row_count = ?, chunk_count = ? "
            "WHERE account_id = ? AND name = ?",
            (chunks.rows, chunks.ordinal, account_id, name),
        )
        return chunks.rows

    async def _save_table(self, table: AccountTable, account_id: str, chunks: _ChunkWriter) -> None:
        """The table's rows of the account, a page at a time in saved order, each page with
        its rows' children."""
        after_seq = 0
        for page in range(SNAPSHOT_PAGES_MAX):
            rows = await self._db.fetchall(
                _page_sql(table), (account_id, *_page_bounds(table, page, after_seq))
            )
            if table.seqs != "keyed" and rows:
                after_seq = int(rows[-1][0])
                rows = [row[1:] for row in rows]
            await chunks.write(table.name, table.columns, rows)
            for child in table.children:
                await chunks.write(
                    child.name,
                    child.columns,
                    await self._children(child, rows),
                    child.bytes_columns,
                )
            if len(rows) < SNAPSHOT_CHUNK_ROWS:
                return
        raise InvariantViolated(
            f"an account has at most {SNAPSHOT_PAGES_MAX * SNAPSHOT_CHUNK_ROWS} {table.name}"
        )

    async def _children(self, child: ChildTable, parents: Sequence[Sequence[Any]]) -> list[Any]:
        if not parents:
            return []
        ids = [parent[0] for parent in parents]  # every parent table's first column is `id`
        rows = await self._db.fetchall(
            f"SELECT {', '.join(child.columns)} FROM {child.name} "
            f"WHERE {child.parent_column} IN ({', '.join('?' * len(ids))}) "
            f"ORDER BY {child.order} LIMIT ?",
            (*ids, len(ids) * CHILDREN_PER_PARENT_MAX + 1),
        )
        ensure(
            len(rows) <= len(ids) * CHILDREN_PER_PARENT_MAX,
            f"a row has at most {CHILDREN_PER_PARENT_MAX} {child.name}",
        )
        return rows

    async def restore_account_snapshot(self, account_id: str, name: str) -> int | None:
        """Replace the account's state with the snapshot's; the rows written back, or None
        if the account has no snapshot of that name."""
        header = await self._db.fetchone(
            "SELECT chunk_count, row_count FROM account_snapshots "
            "WHERE account_id = ? AND name = ?",
            (account_id, name),
        )
        if header is None:
            return None
        chunk_count = int(header[0])
        ensure(chunk_count <= SNAPSHOT_CHUNKS_MAX, "a snapshot holds a bounded number of chunks")
        await self.clear_account_state(account_id)
        # The restored invoices may hold next reminders of another schedule than today's:
        # the next start of the invoices job scans them again.
        await self._db.execute("DELETE FROM reminder_scans")
        seqs = _RestoredSeqs(self._db, account_id)
        sweeps_saved = recorded_saved = True
        for start in range(0, chunk_count, CHUNKS_PER_READ):
            chunks = await self._db.fetchall(
                "SELECT table_name, rows_json FROM account_snapshot_chunks "
                "WHERE account_id = ? AND name = ? AND ordinal >= ? AND ordinal < ? "
                "ORDER BY ordinal",
                (account_id, name, start, start + CHUNKS_PER_READ),
            )
            for table_name, rows_json in chunks:
                chunk = orjson.loads(rows_json)
                saved, rows = _saved_rows(chunk)
                rows = _bytes_restored(str(table_name), chunk, saved, rows)
                if table_name == "ledger_transactions" and "swept_by" not in (saved or ()):
                    sweeps_saved = False
                if table_name == "events" and "recorded" not in (saved or ()):
                    recorded_saved = False
                await self._write_back(str(table_name), saved, rows, seqs)
        if not sweeps_saved:
            # Saved before migration 0041 recorded what automatic payouts swept: worked out
            # again as the migration did, or the next payout would take them as its own.
            await backfill_sweeps(self._db, account_id)
        if not recorded_saved:
            # Saved before migration 0046: `recorded` is not in the events' documents, so
            # they came back without it; their `created`, as the migration filled it in,
            # or retention would never find them.
            await self._db.execute(
                "UPDATE events SET recorded = created WHERE recorded IS NULL AND account_id = ?",
                (account_id,),
            )
        return int(header[1])

    async def _write_back(
        self,
        table_name: str,
        saved: tuple[str, ...] | None,
        rows: list[list[Any]],
        seqs: _RestoredSeqs,
    ) -> None:
        if table_name == LEDGER_SUMS:
            await self._db.executemany(_ADD_TO_BALANCE, rows)
            return
        current, kind = _TABLES_BY_NAME[table_name]
        if table_name == INVOICE_ITEMS.name:
            rows = _period_items_flagged(current, saved, rows)
        columns, rows = _rows_for_schema(table_name, current, saved, rows)
        ensure(all(len(row) == len(columns) for row in rows), f"{table_name} rows fit its columns")
        marks = ", ".join("?" * len(columns))
        if kind != "ticketed" or self._db.commit_ordered:
            await self._db.executemany(
                f"INSERT INTO {table_name} ({', '.join(columns)}) VALUES ({marks})", rows
            )
            return
        taken = await seqs.take(table_name, len(rows))
        numbered = [(seq, *row) for seq, row in zip(taken, rows, strict=True)]
        await self._db.executemany(
            f"INSERT INTO {table_name} (seq, {', '.join(columns)}) VALUES (?, {marks})", numbered
        )

    async def account_snapshots(self, account_id: str, limit: int) -> list[SnapshotRow]:
        rows = await self._db.fetchall(
            "SELECT account_id, name, created, row_count FROM account_snapshots "
            "WHERE account_id = ? ORDER BY name LIMIT ?",
            (account_id, limit),
        )
        return [SnapshotRow(row[0], row[1], int(row[2]), int(row[3])) for row in rows]

    async def account_snapshot(self, account_id: str, name: str) -> SnapshotRow | None:
        row = await self._db.fetchone(
            "SELECT account_id, name, created, row_count FROM account_snapshots "
            "WHERE account_id = ? AND name = ?",
            (account_id, name),
        )
        return None if row is None else SnapshotRow(row[0], row[1], int(row[2]), int(row[3]))

    async def count_account_snapshots(self, account_id: str) -> int:
        row = await self._db.fetchone(
            "SELECT count(*) FROM account_snapshots WHERE account_id = ?", (account_id,)
        )
        return 0 if row is None else int(row[0])

    async def delete_account_snapshot(self, account_id: str, name: str) -> bool:
        """Whether there was one."""
        await self._db.execute(
            "DELETE FROM account_snapshot_chunks WHERE account_id = ? AND name = ?",
            (account_id, name),
        )
        deleted = await self._db.fetchall(
            "DELETE FROM account_snapshots WHERE account_id = ? AND name = ? RETURNING 1",
            (account_id, name),
        )
        return bool(deleted)


def _page_sql(table: AccountTable) -> str:
    columns = ", ".join(table.columns)
    if table.seqs == "keyed":
        return (
            f"SELECT {columns} FROM {table.name} WHERE account_id = ? "
            f"ORDER BY {', '.join(table.key)} LIMIT ? OFFSET ?"
        )
    return (
        f"SELECT seq, {columns} FROM {table.name} WHERE account_id = ? AND seq > ? "
        "ORDER BY seq LIMIT ?"
    )


def _page_bounds(table: AccountTable, page: int, after_seq: int) -> tuple[int, ...]:
    """`_page_sql`'s arguments after the account: keyed tables page by offset (they are
    small: a day's counters, a day's idempotency keys), the others from the last seq read."""
    if table.seqs == "keyed":
        return (SNAPSHOT_CHUNK_ROWS, page * SNAPSHOT_CHUNK_ROWS)
    return (after_seq, SNAPSHOT_CHUNK_ROWS)


class _ChunkWriter:
    """Writes a snapshot's chunks in order, counting them and their rows."""

    def __init__(self, db: Executor, account_id: str, name: str) -> None:
        self._db = db
        self._snapshot = (account_id, name)
        self.ordinal = 0
        self.rows = 0

    async def write(
        self,
        table_name: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        bytes_columns: tuple[str, ...] = (),
    ) -> None:
        listed = list(rows)
        if not listed:
            return
        ensure(self.ordinal < SNAPSHOT_CHUNKS_MAX, "a snapshot holds a bounded number of chunks")
        saved: dict[str, Any] = {"columns": list(columns), "rows": listed}
        if bytes_columns:
            # JSON holds no bytes: these columns go as base64, and the chunk says so.
            saved["rows"] = _base64_rows(columns, listed, bytes_columns)
            saved[BASE64_KEY] = list(bytes_columns)
        chunk = orjson.dumps(saved).decode()
        await self._db.execute(
            "INSERT INTO account_snapshot_chunks "
            "(account_id, name, ordinal, table_name, row_count, rows_json) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (*self._snapshot, self.ordinal, table_name, len(listed), chunk),
        )
        self.ordinal += 1
        self.rows += len(listed)


class _RestoredSeqs:
    """Seqs for restored object rows on PostgreSQL: from tickets drawn now, counting per table
    (`seq_order`: a ticket has SEQ_SLOTS_PER_TICKET seqs for each table); a table past them
    draws another, later ticket, so its rows still sort in their saved order."""

    def __init__(self, db: Executor, account_id: str) -> None:
        self._db = db
        self._account_id = account_id
        self._drawn: int | None = None
        self._by_table: dict[str, tuple[int, int]] = {}
        """table -> (its ticket, the seqs of it already used)."""

    async def take(self, table_name: str, count: int) -> list[int]:
        ensure(count <= SEQ_SLOTS_PER_TICKET, "a chunk fits in one ticket's seqs")
        ticket, used = self._by_table.get(table_name) or (await self._first_ticket(), 0)
        if used + count > SEQ_SLOTS_PER_TICKET:
            ticket, used = await self._draw(), 0
        self._by_table[table_name] = (ticket, used + count)
        base = ticket * SEQ_SLOTS_PER_TICKET + used
        return list(range(base, base + count))

    async def _first_ticket(self) -> int:
        if self._drawn is None:
            self._drawn = await self._draw()
        return self._drawn

    async def _draw(self) -> int:
        row = await self._db.fetchone(DRAW_TICKET, (self._account_id,))
        ensure(row is not None, "drawing a ticket answers one row")
        return int(row[0]) if row is not None else 0
