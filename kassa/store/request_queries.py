"""SQL behind the request path's own records: idempotency keys, the request log, and the
retention purges of keys, log entries and old events. Mixed into `Transaction`."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kassa.invariants import ensure
from kassa.store import log_bodies
from kassa.store.statements import storable

if TYPE_CHECKING:
    from kassa.store.queries import Executor


def idempotency_lock_id(account_id: str, key: str) -> int:
    """The advisory lock naming one account's key: a stable signed 64-bit hash (every
    process must derive the same number; Python's own `hash` is salted per process)."""
    digest = hashlib.blake2b(f"{account_id}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


IDEMPOTENCY_KEY_RETENTION_SECONDS = 24 * 60 * 60
"""Stripe keeps idempotency keys for 24 hours; after that the same key starts afresh."""


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
    request_body: str | None = None
    """The request's parameters as JSON, card numbers and CVCs redacted, cut to a bound."""
    response_body: str | None = None
    """The response as sent, cut to a bound."""


class RequestQueries:
    _db: Executor
    _single_writer: bool

    _forget_rows: Callable[[], None]
    """Transaction's own: drops the rows it knows (a purge deletes some)."""

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

    async def try_lock_idempotency_key(self, account_id: str, key: str) -> bool:
        """Hold the key until this unit commits or rolls back; False if another unit holds it.

        PostgreSQL: a transaction-scoped advisory lock on a 64-bit hash of the account and
        key, taken without waiting and released by the commit or rollback (a crash included),
        so it holds across processes and never outlives its request. Two keys whose hashes
        collide share a lock: one of them may get a spurious 409 while the other runs (about
        one pair in 2**64). SQLite: every write unit is the only writer (across processes
        too), so no other unit can hold the key and nothing needs to be taken.
        """
        if self._single_writer:
            return True
        row = await self._db.fetchone(
            "SELECT pg_try_advisory_xact_lock(?)", (idempotency_lock_id(account_id, key),)
        )
        ensure(row is not None, "a SELECT without FROM answers one row")
        return bool(row and row[0])

    async def save_idempotent_response(
        self, account_id: str, key: str, record: IdempotencyRecord, *, now_ms: int
    ) -> bool:
        """Store a finished request's response under its key, in the request's own unit.

        A row already there is replaced only if it has expired or is a claim left behind by a
        crashed request of the same fingerprint (rechecked here, so that a row another writer
        added meanwhile is never overwritten). False if the row was kept: roll back.
        """
        ensure(
            record.response_status is not None and record.response_body is not None,
            "a saved idempotency record holds its response",
        )
        expired_before = record.created - IDEMPOTENCY_KEY_RETENTION_SECONDS
        row = await self._db.fetchone(
            "INSERT INTO idempotency_keys (account_id, idempotency_key, fingerprint, created, "
            "locked_until_ms, request_id, response_status, response_body) "
            "VALUES (?, ?, ?, ?, 0, ?, ?, ?) "
            "ON CONFLICT (account_id, idempotency_key) DO UPDATE SET "
            "fingerprint = excluded.fingerprint, created = excluded.created, "
            "locked_until_ms = 0, request_id = excluded.request_id, "
            "response_status = excluded.response_status, "
            "response_body = excluded.response_body "
            "WHERE idempotency_keys.created < ? OR (idempotency_keys.response_status IS NULL "
            "AND idempotency_keys.locked_until_ms < ? "
            "AND idempotency_keys.fingerprint = excluded.fingerprint) RETURNING 1",
            (
                account_id,
                key,
                record.fingerprint,
                record.created,
                record.request_id,
                record.response_status,
                record.response_body.decode() if record.response_body is not None else None,
                expired_before,
                now_ms,
            ),
        )
        return row is not None

    async def insert_idempotency_claim(
        self,
        account_id: str,
        key: str,
        fingerprint: str,
        created: int,
        locked_until_ms: int,
        request_id: str,
    ) -> None:
        """A claim with no response, as Kassa before one-transaction idempotency committed
        ahead of each request and left behind when the request crashed. Kassa no longer
        writes claims; tests make one to check how a leftover is treated."""
        await self._db.execute(
            "INSERT INTO idempotency_keys (account_id, idempotency_key, fingerprint, created, "
            "locked_until_ms, request_id) VALUES (?, ?, ?, ?, ?, ?)",
            (account_id, key, fingerprint, created, locked_until_ms, request_id),
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
            "status, duration_us, idempotency_key, source_ip, request_body, response_body, "
            "response_zstd) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    storable(e.request_id),
                    storable(e.account_id),
                    e.created_ms,
                    storable(e.method),
                    storable(e.path),
                    storable(e.route),
                    e.status,
                    e.duration_us,
                    storable(e.idempotency_key),
                    storable(e.source_ip),
                    storable(e.request_body),
                    *log_bodies.pack(storable(e.response_body)),
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

    async def purge_events(self, recorded_before: int, batch: int) -> int:
        """Delete up to `batch` events written before `recorded_before` (seconds, the
        server's clock: not `created`, a test clock's time for its objects), with their
        deliveries and attempts. An event still awaiting a delivery is kept until that
        delivery finishes: retention never cancels a webhook."""
        rows = await self._db.fetchall(
            "SELECT e.id FROM events e WHERE e.recorded < ? AND NOT EXISTS ("
            "SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.status = 'pending'"
            ") LIMIT ?",
            (recorded_before, batch),
        )
        event_ids = [str(row[0]) for row in rows]
        if not event_ids:
            return 0
        self._forget_rows()
        placeholders = ", ".join("?" * len(event_ids))
        for table in ("webhook_attempts", "webhook_deliveries", "events"):
            column = "id" if table == "events" else "event_id"
            await self._db.execute(
                f"DELETE FROM {table} WHERE {column} IN ({placeholders})", event_ids
            )
        return len(event_ids)

    async def _delete_batch(
        self,
        table: str,
        condition: str,
        args: tuple[int, ...],
        batch: int,
        key_columns: tuple[str, ...],
    ) -> int:
        """Delete at most `batch` rows so that a purge never holds the writer for long."""
        self._forget_rows()
        keys = ", ".join(key_columns)
        rows = await self._db.fetchall(
            f"DELETE FROM {table} WHERE ({keys}) IN "
            f"(SELECT {keys} FROM {table} WHERE {condition} LIMIT ?) RETURNING 1",
            (*args, batch),
        )
        return len(rows)
