"""The dashboard's SQL: sign-in sessions, the per-day payment counters behind the home chart,
and request-log searches. Mixed into `Transaction`.

Every read here is bounded by an index and a LIMIT: the dashboard must stay fast with a
million payments stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kassa.store import log_bodies

if TYPE_CHECKING:
    from kassa.store.queries import Executor

VOLUME_SHARDS = 8
"""Counter rows per (account, day, currency); see migration 0004."""


@dataclass(frozen=True)
class DashboardSession:
    account_id: str
    csrf_token: str
    expires_ms: int


@dataclass(frozen=True)
class VolumeDay:
    day: int
    """Unix seconds of the day's UTC midnight."""
    currency: str
    succeeded_count: int
    succeeded_amount: int
    failed_count: int


@dataclass(frozen=True)
class RequestLogFilter:
    status: int | None = None
    route: str | None = None
    """A route template such as `/v1/customers/{id}` (indexed, unlike a path prefix)."""
    idempotency_key: str | None = None
    before_seq: int | None = None


@dataclass(frozen=True)
class LoggedRequest:
    seq: int
    request_id: str
    created_ms: int
    method: str
    path: str
    route: str
    status: int
    duration_us: int
    idempotency_key: str | None
    source_ip: str | None
    request_body: str | None
    response_body: str | None


LOGGED_COLUMNS = (
    "seq, request_id, created_ms, method, path, route, status, duration_us, "
    "idempotency_key, source_ip, request_body, response_body, response_zstd"
)
"""What `logged_request` reads: a `LoggedRequest`'s fields in order, its response body in
the two columns `log_bodies.pack` writes."""


def logged_request(row: Sequence[Any]) -> LoggedRequest:
    return LoggedRequest(
        seq=row[0],
        request_id=row[1],
        created_ms=row[2],
        method=row[3],
        path=row[4],
        route=row[5],
        status=row[6],
        duration_us=row[7],
        idempotency_key=row[8],
        source_ip=row[9],
        request_body=row[10],
        response_body=log_bodies.unpack(row[11], row[12]),
    )


SUCCESS_STATUS = 200
"""Most of the request log: its status indexes hold the rows of every other status
(migration 0055), and a filter on this one reads the log in order instead."""


def request_log_clauses(account_id: str, wanted: RequestLogFilter) -> tuple[list[str], list[Any]]:
    """WHERE conditions and arguments for one account's request log under `wanted`."""
    where = ["account_id = ?"]
    args: list[Any] = [account_id]
    for column, value in (
        ("status", wanted.status),
        ("route", wanted.route),
        ("idempotency_key", wanted.idempotency_key),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    if wanted.status is not None and wanted.status != SUCCESS_STATUS:
        # The status indexes' condition, written out: a planner uses a partial index only
        # where the query states its condition (from a bound `status = ?` it cannot know).
        where.append(f"status <> {SUCCESS_STATUS}")
    if wanted.before_seq is not None:
        where.append("seq < ?")
        args.append(wanted.before_seq)
    return where, args


class DashboardQueries:
    _db: Executor

    # -- sessions -----------------------------------------------------------------------

    async def insert_dashboard_session(
        self, token_hash: str, session: DashboardSession, created_ms: int
    ) -> None:
        await self._db.execute(
            "INSERT INTO dashboard_sessions (token_hash, account_id, csrf_token, created_ms, "
            "expires_ms) VALUES (?, ?, ?, ?, ?)",
            (token_hash, session.account_id, session.csrf_token, created_ms, session.expires_ms),
        )

    async def get_dashboard_session(self, token_hash: str, now_ms: int) -> DashboardSession | None:
        row = await self._db.fetchone(
            "SELECT account_id, csrf_token, expires_ms FROM dashboard_sessions "
            "WHERE token_hash = ? AND expires_ms > ?",
            (token_hash, now_ms),
        )
        return None if row is None else DashboardSession(str(row[0]), str(row[1]), int(row[2]))

    async def delete_dashboard_session(self, token_hash: str) -> None:
        await self._db.execute("DELETE FROM dashboard_sessions WHERE token_hash = ?", (token_hash,))

    async def purge_dashboard_sessions(self, now_ms: int, batch: int) -> int:
        rows = await self._db.fetchall(
            "DELETE FROM dashboard_sessions WHERE token_hash IN (SELECT token_hash FROM "
            "dashboard_sessions WHERE expires_ms <= ? LIMIT ?) RETURNING 1",
            (now_ms, batch),
        )
        return len(rows)

    # -- payment volume -----------------------------------------------------------------

    async def count_payment(
        self, account_id: str, day: int, currency: str, shard: int, amount: int, succeeded: bool
    ) -> None:
        succeeded_count, succeeded_amount, failed_count = (1, amount, 0) if succeeded else (0, 0, 1)
        await self._db.execute(
            "INSERT INTO payment_volume_days (account_id, day, currency, shard, succeeded_count, "
            "succeeded_amount, failed_count) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (account_id, day, currency, shard) DO UPDATE SET "
            "succeeded_count = payment_volume_days.succeeded_count + excluded.succeeded_count, "
            "succeeded_amount = payment_volume_days.succeeded_amount + excluded.succeeded_amount, "
            "failed_count = payment_volume_days.failed_count + excluded.failed_count",
            (account_id, day, currency, shard, succeeded_count, succeeded_amount, failed_count),
        )

    async def payment_volume(self, account_id: str, since_day: int) -> list[VolumeDay]:
        rows = await self._db.fetchall(
            "SELECT day, currency, sum(succeeded_count), sum(succeeded_amount), "
            "sum(failed_count) FROM payment_volume_days WHERE account_id = ? AND day >= ? "
            "GROUP BY day, currency ORDER BY day, currency",
            (account_id, since_day),
        )
        return [VolumeDay(int(r[0]), str(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows]

    # -- request log --------------------------------------------------------------------

    async def search_request_log(
        self, account_id: str, wanted: RequestLogFilter, limit: int
    ) -> list[LoggedRequest]:
        where, args = request_log_clauses(account_id, wanted)
        rows = await self._db.fetchall(
            f"SELECT {LOGGED_COLUMNS} FROM request_log WHERE {' AND '.join(where)} "
            "ORDER BY seq DESC LIMIT ?",
            (*args, limit),
        )
        return [logged_request(row) for row in rows]

    async def get_logged_request(self, account_id: str, request_id: str) -> LoggedRequest | None:
        row = await self._db.fetchone(
            f"SELECT {LOGGED_COLUMNS} FROM request_log WHERE account_id = ? AND request_id = ?",
            (account_id, request_id),
        )
        return None if row is None else logged_request(row)
