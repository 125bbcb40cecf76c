"""Every SQL statement Kassa runs, written once for both engines.

Statements use `?` placeholders; the PostgreSQL executor rewrites them to `$n`. The engine
adapters (`sqlite`, `postgres`) only supply an `Executor` and transaction boundaries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from kassa.invariants import ensure
from kassa.store.ledger_queries import LedgerQueries
from kassa.store.tables import ObjectTable

Row = Sequence[Any]

FOR_UPDATE = "/*FOR_UPDATE*/"
"""Ends a SELECT that reads a row to change it: PostgreSQL's executor makes it `FOR UPDATE`,
so a concurrent request changing the same object (two refunds of one charge) waits and then
reads the committed result instead of overwriting it. SQLite's single writer needs nothing."""

IDEMPOTENCY_KEY_RETENTION_SECONDS = 24 * 60 * 60
"""Stripe keeps idempotency keys for 24 hours; after that the same key starts afresh."""


class Executor(Protocol):
    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None: ...
    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...
    async def fetchone(self, sql: str, args: Sequence[Any] = ()) -> Row | None: ...
    async def fetchall(self, sql: str, args: Sequence[Any] = ()) -> list[Row]: ...


@dataclass(frozen=True)
class ObjectListQuery:
    """One page of an object list, newest first. Bounds are `seq` values of cursors."""

    limit: int
    before_seq: int | None = None
    after_seq: int | None = None
    equals: Mapping[str, Any] = field(default_factory=dict)
    created: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ObjectPage:
    objects: list[dict[str, Any]]
    has_more: bool


@dataclass(frozen=True)
class IdempotencyRecord:
    fingerprint: str
    created: int
    locked_until_ms: int
    request_id: str
    response_status: int | None
    response_body: bytes | None


@dataclass(frozen=True)
class RequestLogEntry:
    request_id: str
    account_id: str | None
    created_ms: int
    method: str
    path: str
    route: str
    status: int
    duration_us: int
    idempotency_key: str | None
    source_ip: str | None


_CREATED_OPERATORS = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def _dumps(obj: Mapping[str, Any]) -> str:
    return orjson.dumps(obj).decode()


class Transaction(LedgerQueries):
    """The store's whole interface: one instance per unit of work (a read or a write)."""

    def __init__(self, executor: Executor, *, writes: bool = False) -> None:
        self._db = executor
        self._lock_reads = FOR_UPDATE if writes else ""
        """In a write unit every object read may be changed: lock it (see FOR_UPDATE)."""

    # -- accounts and keys ------------------------------------------------------------

    async def insert_account(self, account: Mapping[str, Any]) -> None:
        await self._db.execute(
            "INSERT INTO accounts (id, created, doc) VALUES (?, ?, ?)",
            (account["id"], account["created"], _dumps(account)),
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
        row = await self._db.fetchone("SELECT doc FROM accounts WHERE id = ?", (account_id,))
        return None if row is None else _loads(row[0])

    async def count_accounts(self) -> int:
        row = await self._db.fetchone("SELECT count(*) FROM accounts")
        return int(row[0]) if row else 0

    # -- API objects --------------------------------------------------------------------

    async def insert_object(
        self, table: ObjectTable, account_id: str, obj: Mapping[str, Any]
    ) -> None:
        columns = ", ".join(table.filter_columns)
        placeholders = ", ?" * len(table.filter_columns)
        extra = f", {columns}" if columns else ""
        await self._db.execute(
            f"INSERT INTO {table.name} (id, account_id, created, doc{extra}) "
            f"VALUES (?, ?, ?, ?{placeholders})",
            (
                obj["id"],
                account_id,
                obj["created"],
                _dumps(obj),
                *(obj.get(c) for c in table.filter_columns),
            ),
        )

    async def update_object(
        self, table: ObjectTable, account_id: str, obj: Mapping[str, Any]
    ) -> None:
        assignments = "".join(f", {c} = ?" for c in table.filter_columns)
        await self._db.execute(
            f"UPDATE {table.name} SET doc = ?{assignments} WHERE id = ? AND account_id = ?",
            (_dumps(obj), *(obj.get(c) for c in table.filter_columns), obj["id"], account_id),
        )

    async def mark_object_deleted(
        self, table: ObjectTable, account_id: str, object_id: str
    ) -> None:
        await self._db.execute(
            f"UPDATE {table.name} SET deleted = 1 WHERE id = ? AND account_id = ?",
            (object_id, account_id),
        )

    async def get_object(
        self, table: ObjectTable, account_id: str, object_id: str
    ) -> tuple[dict[str, Any], bool] | None:
        """The object's document and whether it is deleted; None if it never existed here."""
        row = await self._db.fetchone(
            f"SELECT doc, deleted FROM {table.name} WHERE id = ? AND account_id = ?"
            f"{self._lock_reads}",
            (object_id, account_id),
        )
        return None if row is None else (_loads(row[0]), bool(row[1]))

    async def find_object_owner(self, table: ObjectTable, object_id: str) -> str | None:
        """The account an object belongs to, for pages reached by a capability (a client
        secret) rather than an API key."""
        row = await self._db.fetchone(
            f"SELECT account_id FROM {table.name} WHERE id = ?", (object_id,)
        )
        return None if row is None else str(row[0])

    async def object_seq(self, table: ObjectTable, account_id: str, object_id: str) -> int | None:
        row = await self._db.fetchone(
            f"SELECT seq FROM {table.name} WHERE id = ? AND account_id = ?",
            (object_id, account_id),
        )
        return None if row is None else int(row[0])

    async def list_objects(
        self, table: ObjectTable, account_id: str, query: ObjectListQuery
    ) -> ObjectPage:
        where = ["account_id = ?", "deleted = 0"]
        args: list[Any] = [account_id]
        for column, value in query.equals.items():
            if column not in table.filter_columns:
                raise ValueError(f"{table.name} has no filter column {column}")
            where.append(f"{column} = ?")
            args.append(value)
        for operator, bound in query.created.items():
            where.append(f"created {_CREATED_OPERATORS[operator]} ?")
            args.append(bound)
        ascending = query.after_seq is not None
        if query.before_seq is not None:
            where.append("seq < ?")
            args.append(query.before_seq)
        if query.after_seq is not None:
            where.append("seq > ?")
            args.append(query.after_seq)
        order = "ASC" if ascending else "DESC"
        rows = await self._db.fetchall(
            f"SELECT doc FROM {table.name} WHERE {' AND '.join(where)} "
            f"ORDER BY seq {order} LIMIT ?",
            (*args, query.limit + 1),
        )
        ensure(len(rows) <= query.limit + 1, "a page query fetches at most limit + 1 rows")
        objects = [_loads(row[0]) for row in rows[: query.limit]]
        if ascending:
            objects.reverse()
        return ObjectPage(objects=objects, has_more=len(rows) > query.limit)

    # -- idempotency ----------------------------------------------------------------------

    async def get_idempotency_record(self, account_id: str, key: str) -> IdempotencyRecord | None:
        row = await self._db.fetchone(
            "SELECT fingerprint, created, locked_until_ms, request_id, response_status, "
            "response_body FROM idempotency_keys WHERE account_id = ? AND idempotency_key = ?",
            (account_id, key),
        )
        if row is None:
            return None
        body = row[5]
        return IdempotencyRecord(
            fingerprint=row[0],
            created=int(row[1]),
            locked_until_ms=int(row[2]),
            request_id=row[3],
            response_status=row[4],
            response_body=None if body is None else body.encode(),
        )

    async def insert_idempotency_claim(
        self,
        account_id: str,
        key: str,
        fingerprint: str,
        created: int,
        locked_until_ms: int,
        request_id: str,
    ) -> bool:
        """Claim a key nobody holds. False if another request inserted it first."""
        row = await self._db.fetchone(
            "INSERT INTO idempotency_keys (account_id, idempotency_key, fingerprint, created, "
            "locked_until_ms, request_id) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (account_id, idempotency_key) DO NOTHING RETURNING 1",
            (account_id, key, fingerprint, created, locked_until_ms, request_id),
        )
        return row is not None

    async def retake_idempotency_claim(
        self,
        account_id: str,
        key: str,
        fingerprint: str,
        created: int,
        locked_until_ms: int,
        request_id: str,
        now_ms: int,
        expired_before: int,
    ) -> bool:
        """Take over a key whose row has expired, or whose claim a dead request left behind.

        The condition is re-checked in the UPDATE so that of two racing requests one wins.
        """
        row = await self._db.fetchone(
            "UPDATE idempotency_keys SET fingerprint = ?, created = ?, locked_until_ms = ?, "
            "request_id = ?, response_status = NULL, response_body = NULL "
            "WHERE account_id = ? AND idempotency_key = ? AND (created < ? OR "
            "(response_status IS NULL AND locked_until_ms < ?)) RETURNING 1",
            (
                fingerprint,
                created,
                locked_until_ms,
                request_id,
                account_id,
                key,
                expired_before,
                now_ms,
            ),
        )
        return row is not None

    async def complete_idempotency_key(
        self, account_id: str, key: str, request_id: str, status: int, body: bytes
    ) -> bool:
        """Store the response under our own claim. False if the claim was lost meanwhile."""
        row = await self._db.fetchone(
            "UPDATE idempotency_keys SET response_status = ?, response_body = ?, "
            "locked_until_ms = 0 WHERE account_id = ? AND idempotency_key = ? "
            "AND request_id = ? AND response_status IS NULL RETURNING 1",
            (status, body.decode(), account_id, key, request_id),
        )
        return row is not None

    async def release_idempotency_key(self, account_id: str, key: str, request_id: str) -> None:
        """Drop our claim: the request executed nothing, so a retry may run it afresh."""
        await self._db.execute(
            "DELETE FROM idempotency_keys WHERE account_id = ? AND idempotency_key = ? "
            "AND request_id = ? AND response_status IS NULL",
            (account_id, key, request_id),
        )

    async def purge_idempotency_keys(self, created_before: int, now_ms: int, batch: int) -> int:
        """Delete expired keys: finished ones, and claims whose request died (lock passed).

        A claim whose lock still holds is kept even if old: its request may yet complete.
        """
        return await self._delete_batch(
            "idempotency_keys",
            "created < ? AND (response_status IS NOT NULL OR locked_until_ms < ?)",
            (created_before, now_ms),
            batch,
            key_columns=("account_id", "idempotency_key"),
        )

    # -- request log ------------------------------------------------------------------------

    async def insert_request_log(self, entries: Sequence[RequestLogEntry]) -> None:
        """Entries record what clients sent (a path may hold `%00`), so text is made storable
        first: one entry PostgreSQL refused would fail its whole batch at every retry."""
        await self._db.executemany(
            "INSERT INTO request_log (request_id, account_id, created_ms, method, path, route, "
            "status, duration_us, idempotency_key, source_ip) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    _storable(e.request_id),
                    _storable(e.account_id),
                    e.created_ms,
                    _storable(e.method),
                    _storable(e.path),
                    _storable(e.route),
                    e.status,
                    e.duration_us,
                    _storable(e.idempotency_key),
                    _storable(e.source_ip),
                )
                for e in entries
            ],
        )

    async def list_request_log(self, account_id: str, limit: int) -> list[RequestLogEntry]:
        rows = await self._db.fetchall(
            "SELECT request_id, account_id, created_ms, method, path, route, status, "
            "duration_us, idempotency_key, source_ip FROM request_log "
            "WHERE account_id = ? ORDER BY seq DESC LIMIT ?",
            (account_id, limit),
        )
        return [RequestLogEntry(*row) for row in rows]

    async def purge_request_log(self, created_before_ms: int, batch: int) -> int:
        return await self._delete_batch(
            "request_log", "created_ms < ?", (created_before_ms,), batch, key_columns=("seq",)
        )

    async def _delete_batch(
        self,
        table: str,
        condition: str,
        args: tuple[int, ...],
        batch: int,
        key_columns: tuple[str, ...],
    ) -> int:
        """Delete at most `batch` rows so that a purge never holds the writer for long."""
        keys = ", ".join(key_columns)
        rows = await self._db.fetchall(
            f"DELETE FROM {table} WHERE ({keys}) IN "
            f"(SELECT {keys} FROM {table} WHERE {condition} LIMIT ?) RETURNING 1",
            (*args, batch),
        )
        return len(rows)

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
        await self._db.execute(statement)

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


def _storable(text: str | None) -> str | None:
    """`text` as both engines store it: PostgreSQL's text holds neither NUL nor a lone
    surrogate, so NUL becomes U+FFFD and a lone surrogate `?`."""
    if text is None or (text.isascii() and "\x00" not in text):
        return text
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def _loads(doc: str | bytes) -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads(doc)
    return loaded
