"""SQL behind webhook delivery: endpoints' delivery state, claiming due deliveries (one
endpoint at a time, `FOR UPDATE SKIP LOCKED` on PostgreSQL), recording attempts and their
outcomes, and the queues of injected faults (`kassa.services.webhook_faults`). Mixed into
`Transaction`; events themselves are written by `Transaction.insert_event`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kassa.store.statements import FOR_UPDATE, SKIP_LOCKED, dumps_doc, loads_doc, storable

if TYPE_CHECKING:
    from kassa.store.queries import Executor

INSERT_DELIVERY = (
    "INSERT INTO webhook_deliveries (id, account_id, event_id, endpoint_id, status, "
    "next_attempt_ms, created_ms) VALUES (?, ?, ?, ?, 'pending', ?, ?)"
)
"""A pending delivery row: (id, account, event, endpoint, next attempt ms, created ms)."""


@dataclass(frozen=True)
class ClaimedDelivery:
    id: str
    account_id: str
    event_id: str
    endpoint_id: str
    attempts: int
    created_ms: int
    payload: bytes
    """The event's JSON exactly as stored: what is signed and sent."""
    seq: int = 0
    """The delivery row's order of creation (an `out_of_order` fault holds a delivery until a
    later one has been attempted)."""
    fault: str | None = None
    """The injected fault this attempt carries (`kassa.services.webhook_faults`), if any."""
    fault_status_code: int | None = None
    """For a `status` fault: the status the attempt fails with."""


@dataclass(frozen=True)
class EndpointWithWork:
    """An endpoint with a delivery due: sent if enabled, given up if disabled."""

    endpoint_id: str
    disabled: bool


@dataclass(frozen=True)
class WebhookTarget:
    endpoint_id: str
    account_id: str
    url: str
    secret: str
    enabled: bool
    failing_since_ms: int | None
    deleted: bool = False
    """Deleted, not just disabled: its deliveries are given up (a disabled one's wait, and
    are given up if their time comes before it is enabled again)."""


@dataclass(frozen=True)
class WebhookAttempt:
    id: str
    account_id: str
    delivery_id: str
    event_id: str
    endpoint_id: str
    attempted_ms: int
    duration_ms: int
    status_code: int | None
    error: str | None
    response_excerpt: str | None
    injected_fault: str | None = None


@dataclass(frozen=True)
class WebhookFault:
    """One entry of an endpoint's fault queue: `remaining` of its `count` attempts to go."""

    id: str
    account_id: str
    endpoint_id: str
    type: str
    count: int
    remaining: int
    status_code: int | None
    delay_seconds: int | None
    created: int


@dataclass(frozen=True)
class HeldDelivery:
    id: str
    endpoint_id: str
    seq: int


_FAULT_COLUMNS = (
    "id, account_id, endpoint_id, type, count, remaining, status_code, delay_seconds, created"
)


def _fault(row: Sequence[Any]) -> WebhookFault:
    return WebhookFault(
        id=str(row[0]),
        account_id=str(row[1]),
        endpoint_id=str(row[2]),
        type=str(row[3]),
        count=int(row[4]),
        remaining=int(row[5]),
        status_code=None if row[6] is None else int(row[6]),
        delay_seconds=None if row[7] is None else int(row[7]),
        created=int(row[8]),
    )


class WebhookQueries:
    _db: Executor

    _forget_rows: Callable[[], None]
    """Transaction's own: drops the rows it knows (an event's doc is rewritten here)."""

    async def webhook_endpoint_docs(self, account_id: str, limit: int) -> list[dict[str, Any]]:
        rows = await self._db.fetchall(
            "SELECT doc FROM webhook_endpoints WHERE account_id = ? AND deleted = 0 "
            "ORDER BY seq LIMIT ?",
            (account_id, limit),
        )
        return [loads_doc(row[0]) for row in rows]

    async def insert_webhook_endpoint_state(
        self, endpoint_id: str, account_id: str, secret: str
    ) -> None:
        await self._db.execute(
            "INSERT INTO webhook_endpoint_state (endpoint_id, account_id, secret) VALUES (?, ?, ?)",
            (endpoint_id, account_id, secret),
        )

    async def reset_webhook_endpoint_failures(self, endpoint_id: str) -> None:
        await self._db.execute(
            "UPDATE webhook_endpoint_state SET failing_since_ms = NULL WHERE endpoint_id = ?",
            (endpoint_id,),
        )

    async def set_webhook_endpoint_disabled(self, endpoint_id: str, disabled: bool) -> None:
        """Hold the endpoint's deliveries (none is claimed while it is disabled: one that
        comes due is given up), or let them go again."""
        await self._db.execute(
            "UPDATE webhook_endpoint_state SET disabled = ? WHERE endpoint_id = ?",
            (1 if disabled else 0, endpoint_id),
        )

    async def abandon_webhook_deliveries(self, endpoint_id: str) -> None:
        """A deleted endpoint, or one disabled for failing, gets nothing more: its pending
        deliveries are marked failed."""
        await self._db.execute(
            "UPDATE webhook_deliveries SET status = 'failed' "
            "WHERE endpoint_id = ? AND status = 'pending'",
            (endpoint_id,),
        )

    async def give_up_due_webhook_deliveries(self, endpoint_id: str, now_ms: int) -> None:
        """An endpoint enabled again: its deliveries whose time came while it was disabled
        are marked failed (Stripe prevents further retries of an event whose retry found
        the endpoint disabled); those not yet due stay pending. A delivery in flight (its
        claim live) is left to its attempt, which reschedules or finishes it."""
        await self._db.execute(
            "UPDATE webhook_deliveries SET status = 'failed' WHERE endpoint_id = ? "
            "AND status = 'pending' AND next_attempt_ms <= ? AND claimed_until_ms < ?",
            (endpoint_id, now_ms, now_ms),
        )

    async def give_up_deliveries_due_while_disabled(
        self, endpoint_id: str, now_ms: int, limit: int
    ) -> int:
        """Mark failed up to `limit` of the endpoint's deliveries due by `now_ms`, if the
        endpoint is still disabled (it may have been enabled since the worker looked: then
        they are sent instead); how many. Locked rows are skipped on PostgreSQL (another
        worker is giving them up, or an enabling request is)."""
        rows = await self._db.fetchall(
            "UPDATE webhook_deliveries SET status = 'failed' WHERE status = 'pending' "
            "AND id IN (SELECT d.id FROM webhook_deliveries d WHERE d.endpoint_id = ? "
            "AND d.status = 'pending' AND d.next_attempt_ms <= ? AND d.claimed_until_ms < ? "
            "AND EXISTS (SELECT 1 FROM webhook_endpoint_state s "
            "WHERE s.endpoint_id = d.endpoint_id AND s.disabled = 1) "
            f"LIMIT ? {SKIP_LOCKED}) RETURNING id",
            (endpoint_id, now_ms, now_ms, limit),
        )
        return len(rows)

    async def webhook_endpoints_with_work(
        self, after: str, now_ms: int, limit: int
    ) -> list[EndpointWithWork]:
        """Endpoints (ids after `after`, in id order, for round-robin) that have a delivery
        due, each saying whether it is disabled (its due deliveries are then given up, not
        sent); a deleted endpoint has none (they are abandoned)."""
        rows = await self._db.fetchall(
            "SELECT s.endpoint_id, s.disabled FROM webhook_endpoint_state s "
            "WHERE s.endpoint_id > ? "
            "AND EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.endpoint_id = s.endpoint_id "
            "AND d.status = 'pending' AND d.next_attempt_ms <= ? AND d.claimed_until_ms < ?) "
            "ORDER BY s.endpoint_id LIMIT ?",
            (after, now_ms, now_ms, limit),
        )
        return [EndpointWithWork(str(row[0]), bool(row[1])) for row in rows]

    async def claim_webhook_deliveries(
        self, endpoint_id: str, now_ms: int, claim_until_ms: int, limit: int
    ) -> list[ClaimedDelivery]:
        """Claim up to `limit` due deliveries of one endpoint, oldest due first, with what
        sending them needs. A claim that is never finished expires and is retaken."""
        rows = await self._db.fetchall(
            "UPDATE webhook_deliveries SET claimed_until_ms = ? WHERE id IN ("
            "SELECT id FROM webhook_deliveries WHERE endpoint_id = ? AND status = 'pending' "
            "AND next_attempt_ms <= ? AND claimed_until_ms < ? "
            f"ORDER BY next_attempt_ms LIMIT ? {SKIP_LOCKED}) "
            "RETURNING id, account_id, event_id, attempts, created_ms, seq, fault, "
            "fault_status_code, next_attempt_ms",
            (claim_until_ms, endpoint_id, now_ms, now_ms, limit),
        )
        if not rows:
            return []
        # RETURNING keeps no order on PostgreSQL: oldest due first, as claimed (an
        # endpoint's queued faults go to its deliveries in this order).
        rows.sort(key=lambda row: (int(row[8]), int(row[5])))
        placeholders = ", ".join("?" * len(rows))
        found = await self._db.fetchall(
            f"SELECT id, doc FROM events WHERE id IN ({placeholders})", [row[2] for row in rows]
        )
        docs: dict[str, Any] = {str(row[0]): row[1] for row in found}
        return [
            ClaimedDelivery(
                id=row[0],
                account_id=row[1],
                event_id=row[2],
                endpoint_id=endpoint_id,
                attempts=int(row[3]),
                created_ms=int(row[4]),
                payload=str(docs[row[2]]).encode(),
                seq=int(row[5]),
                fault=None if row[6] is None else str(row[6]),
                fault_status_code=None if row[7] is None else int(row[7]),
            )
            for row in rows
            if row[2] in docs
        ]

    async def webhook_target(self, endpoint_id: str) -> WebhookTarget | None:
        row = await self._db.fetchone(
            "SELECT w.doc, s.secret, s.failing_since_ms, s.account_id, w.deleted "
            "FROM webhook_endpoints w "
            "JOIN webhook_endpoint_state s ON s.endpoint_id = w.id WHERE w.id = ?",
            (endpoint_id,),
        )
        if row is None:
            return None
        doc = loads_doc(row[0])
        return WebhookTarget(
            endpoint_id=endpoint_id,
            account_id=str(row[3]),
            url=doc["url"],
            secret=str(row[1]),
            enabled=doc["status"] == "enabled" and not row[4],
            failing_since_ms=None if row[2] is None else int(row[2]),
            deleted=bool(row[4]),
        )

    async def record_webhook_attempt(self, attempt: WebhookAttempt) -> None:
        await self._db.execute(
            "INSERT INTO webhook_attempts (id, account_id, delivery_id, event_id, endpoint_id, "
            "attempted_ms, duration_ms, status_code, error, response_excerpt, injected_fault) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                attempt.id,
                attempt.account_id,
                attempt.delivery_id,
                attempt.event_id,
                attempt.endpoint_id,
                attempt.attempted_ms,
                attempt.duration_ms,
                attempt.status_code,
                storable(attempt.error),
                storable(attempt.response_excerpt),
                attempt.injected_fault,
            ),
        )

    async def first_webhook_attempt_ms(self, event_id: str, delivery_id: str) -> int | None:
        """When the delivery was first attempted (None: never)."""
        row = await self._db.fetchone(
            "SELECT MIN(attempted_ms) FROM webhook_attempts WHERE event_id = ? AND delivery_id = ?",
            (event_id, delivery_id),
        )
        return None if row is None or row[0] is None else int(row[0])

    async def lock_webhook_deliveries(self, delivery_ids: Sequence[str]) -> set[str]:
        """Which of `delivery_ids` still exist, their rows locked in id order. An account
        reset deletes its deliveries, and may do so while one is in flight."""
        if not delivery_ids:
            return set()
        placeholders = ", ".join("?" * len(delivery_ids))
        rows = await self._db.fetchall(
            f"SELECT id FROM webhook_deliveries WHERE id IN ({placeholders}) "
            f"ORDER BY id{FOR_UPDATE}",
            tuple(delivery_ids),
        )
        return {str(row[0]) for row in rows}

    async def finish_webhook_delivery(
        self, delivery_id: str, status: str, attempts: int, next_attempt_ms: int
    ) -> None:
        """Record an attempt's outcome: `succeeded`, `failed` (given up), or `pending` again
        at `next_attempt_ms`; the claim is released, and the fault the attempt carried is
        spent (a retry takes the endpoint's next one, if any)."""
        await self._db.execute(
            "UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_ms = ?, "
            "claimed_until_ms = 0, fault = NULL, fault_status_code = NULL WHERE id = ?",
            (status, attempts, next_attempt_ms, delivery_id),
        )

    async def adjust_pending_webhooks(self, event_id: str, change: int) -> int | None:
        """Add `change` to the event's `pending_webhooks` (deliveries not yet succeeded:
        one fewer when a delivery succeeds, more when the event is sent again); the new
        count, or None if the event is gone. The row is locked first: two workers finishing
        deliveries of one event must not both write back the same count."""
        row = await self._db.fetchone(
            f"SELECT doc FROM events WHERE id = ?{FOR_UPDATE}", (event_id,)
        )
        if row is None:
            return None
        doc = loads_doc(row[0])
        doc["pending_webhooks"] = max(0, int(doc.get("pending_webhooks", 0)) + change)
        self._forget_rows()
        await self._db.execute(
            "UPDATE events SET doc = ?, pending_webhooks = ? WHERE id = ?",
            (dumps_doc(doc), doc["pending_webhooks"], event_id),
        )
        return int(doc["pending_webhooks"])

    async def set_webhook_endpoint_failing_since(
        self, endpoint_id: str, failing_since_ms: int | None
    ) -> None:
        await self._db.execute(
            "UPDATE webhook_endpoint_state SET failing_since_ms = ? WHERE endpoint_id = ?",
            (failing_since_ms, endpoint_id),
        )

    async def list_webhook_attempts(
        self, account_id: str, column: str, value: str, limit: int, before_seq: int | None
    ) -> list[tuple[int, WebhookAttempt]]:
        """Attempts for one event or one endpoint (`column`), newest first."""
        if column not in ("event_id", "endpoint_id"):
            raise ValueError(f"attempts are not listed by {column}")
        bound = "" if before_seq is None else " AND seq < ?"
        rows = await self._db.fetchall(
            "SELECT seq, id, account_id, delivery_id, event_id, endpoint_id, attempted_ms, "
            "duration_ms, status_code, error, response_excerpt, injected_fault "
            "FROM webhook_attempts "
            f"WHERE account_id = ? AND {column} = ?{bound} ORDER BY seq DESC LIMIT ?",
            (account_id, value, *(() if before_seq is None else (before_seq,)), limit),
        )
        return [(int(row[0]), WebhookAttempt(*row[1:])) for row in rows]

    async def webhook_attempt_seq(self, account_id: str, attempt_id: str) -> int | None:
        row = await self._db.fetchone(
            "SELECT seq FROM webhook_attempts WHERE account_id = ? AND id = ?",
            (account_id, attempt_id),
        )
        return None if row is None else int(row[0])

    async def insert_webhook_deliveries(
        self, rows: Sequence[tuple[str, str, str, str, int]]
    ) -> None:
        """(delivery id, account, event, endpoint, due at ms) rows, all pending."""
        await self._db.executemany(INSERT_DELIVERY, [(*row, row[4]) for row in rows])

    # -- injected faults (kassa/services/webhook_faults.py) --------------------------------------

    async def insert_webhook_faults(self, faults: Sequence[WebhookFault]) -> None:
        """Append to the endpoints' queues, in order."""
        await self._db.executemany(
            f"INSERT INTO webhook_faults ({_FAULT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    f.id,
                    f.account_id,
                    f.endpoint_id,
                    f.type,
                    f.count,
                    f.remaining,
                    f.status_code,
                    f.delay_seconds,
                    f.created,
                )
                for f in faults
            ],
        )

    async def queued_webhook_faults(self, endpoint_id: str, limit: int) -> list[WebhookFault]:
        """The endpoint's queue, next fault first."""
        rows = await self._db.fetchall(
            f"SELECT {_FAULT_COLUMNS} FROM webhook_faults WHERE endpoint_id = ? "
            "ORDER BY seq LIMIT ?",
            (endpoint_id, limit),
        )
        return [_fault(row) for row in rows]

    async def endpoints_with_queued_faults(self, endpoint_ids: Sequence[str]) -> set[str]:
        if not endpoint_ids:
            return set()
        placeholders = ", ".join("?" * len(endpoint_ids))
        rows = await self._db.fetchall(
            "SELECT DISTINCT endpoint_id FROM webhook_faults "
            f"WHERE endpoint_id IN ({placeholders})",
            list(endpoint_ids),
        )
        return {str(row[0]) for row in rows}

    async def lock_webhook_fault_queue(self, endpoint_id: str) -> bool:
        """Whether this unit now holds the endpoint's fault queue. On PostgreSQL a worker
        takes faults only while it holds the endpoint's state row, so two workers take one
        queue's faults one after the other, in order; one that finds the row taken does not
        wait (it tries again on its next sweep), so claims never wait on a lock."""
        row = await self._db.fetchone(
            f"SELECT endpoint_id FROM webhook_endpoint_state WHERE endpoint_id = ? {SKIP_LOCKED}",
            (endpoint_id,),
        )
        return row is not None

    async def take_webhook_fault(self, endpoint_id: str) -> WebhookFault | None:
        """Spend one attempt of the endpoint's next fault (the caller holds the queue, see
        `lock_webhook_fault_queue`): the fault as it was, or None when the queue is empty.
        A fault being cleared at the same moment is skipped, as if already gone."""
        row = await self._db.fetchone(
            f"SELECT {_FAULT_COLUMNS} FROM webhook_faults WHERE endpoint_id = ? "
            f"ORDER BY seq LIMIT 1 {SKIP_LOCKED}",
            (endpoint_id,),
        )
        if row is None:
            return None
        fault = _fault(row)
        if fault.remaining <= 1:
            await self._db.execute("DELETE FROM webhook_faults WHERE id = ?", (fault.id,))
        else:
            await self._db.execute(
                "UPDATE webhook_faults SET remaining = remaining - 1 WHERE id = ?", (fault.id,)
            )
        return fault

    async def clear_webhook_faults(self, endpoint_id: str, now_ms: int) -> None:
        """Empty the endpoint's queue, and send now what its faults still hold back (deliveries
        delayed or held out of order keep their fault, for the attempt log). A claim skips
        rows locked here instead of waiting for them; held rows are locked in id order, as
        the recorder releases them, so a clear and a recorder cannot deadlock either."""
        await self._db.execute(
            "UPDATE webhook_deliveries SET next_attempt_ms = ? WHERE id IN ("
            "SELECT id FROM webhook_deliveries WHERE endpoint_id = ? AND status = 'pending' "
            "AND fault IN ('delay', 'out_of_order') AND next_attempt_ms > ? "
            f"ORDER BY id{FOR_UPDATE})",
            (now_ms, endpoint_id, now_ms),
        )
        await self._db.execute("DELETE FROM webhook_faults WHERE endpoint_id = ?", (endpoint_id,))

    async def bind_webhook_fault(
        self, delivery_id: str, fault: str, status_code: int | None
    ) -> None:
        """The claimed delivery's next attempt carries `fault` (until recorded)."""
        await self._db.execute(
            "UPDATE webhook_deliveries SET fault = ?, fault_status_code = ? WHERE id = ?",
            (fault, status_code, delivery_id),
        )

    async def hold_webhook_delivery(self, delivery_id: str, fault: str, until_ms: int) -> None:
        """Release the claim on a delivery and make it due at `until_ms`, carrying `fault`."""
        await self._db.execute(
            "UPDATE webhook_deliveries SET fault = ?, fault_status_code = NULL, "
            "next_attempt_ms = ?, claimed_until_ms = 0 WHERE id = ?",
            (fault, until_ms, delivery_id),
        )

    async def held_webhook_deliveries(
        self, endpoint_ids: Sequence[str], now_ms: int
    ) -> list[HeldDelivery]:
        """Deliveries to these endpoints an `out_of_order` fault still holds back, in id
        order: the order they are released (and on PostgreSQL locked) in."""
        if not endpoint_ids:
            return []
        placeholders = ", ".join("?" * len(endpoint_ids))
        rows = await self._db.fetchall(
            "SELECT id, endpoint_id, seq FROM webhook_deliveries "
            f"WHERE endpoint_id IN ({placeholders}) AND fault = 'out_of_order' "
            "AND status = 'pending' AND next_attempt_ms > ? ORDER BY id",
            (*endpoint_ids, now_ms),
        )
        return [HeldDelivery(str(row[0]), str(row[1]), int(row[2])) for row in rows]

    async def release_webhook_delivery(self, delivery_id: str, due_ms: int) -> None:
        await self._db.execute(
            "UPDATE webhook_deliveries SET next_attempt_ms = ? WHERE id = ?",
            (due_ms, delivery_id),
        )

    async def insert_faulted_webhook_deliveries(
        self, rows: Sequence[tuple[str, str, str, str, int, str, int | None]], created_ms: int
    ) -> None:
        """(delivery id, account, event, endpoint, due at ms, fault, its status code) rows,
        pending, whose first attempt carries the fault given."""
        await self._db.executemany(
            "INSERT INTO webhook_deliveries (id, account_id, event_id, endpoint_id, status, "
            "next_attempt_ms, created_ms, fault, fault_status_code) "
            "VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?)",
            [(*row[:5], created_ms, *row[5:]) for row in rows],
        )
