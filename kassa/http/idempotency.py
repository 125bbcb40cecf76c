"""Stripe's idempotency keys (DESIGN.md section 5).

On PostgreSQL, a POST with `Idempotency-Key` first claims the key in its own committed
transaction, so a concurrent duplicate in any process sees the claim and gets 409. The
request then runs in one transaction that also stores its response under the claim; a crash
before that commit leaves only the claim, which expires and is retaken by a retry.

On SQLite every write transaction is serialized (one writer, across processes too), so the
claim, the work and the stored response commit together in one transaction: a duplicate
waits its turn and replays, and a crash leaves nothing behind. One commit instead of two is
also what makes idempotent writes fast there.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from kassa.errors import IdempotencyKeyInUse, IdempotencyKeyReused, InvalidRequest
from kassa.invariants import ensure
from kassa.store import Store, Transaction
from kassa.store.queries import IDEMPOTENCY_KEY_RETENTION_SECONDS as KEY_RETENTION_SECONDS

MAX_KEY_CHARS = 255
CLAIM_ATTEMPTS_MAX = 3
"""A claim can lose a race only to a request that then finishes or expires; a few rereads
always settle it."""


@dataclass(frozen=True)
class Claimed:
    """This request holds the key and must run."""


@dataclass(frozen=True)
class Replay:
    status: int
    body: bytes
    original_request_id: str


def validate_key(key: str) -> str:
    if len(key) > MAX_KEY_CHARS:
        raise InvalidRequest(
            f"Idempotency-Key must be at most {MAX_KEY_CHARS} characters long; "
            f"this one has {len(key)}.",
            param="Idempotency-Key",
        )
    if not key.strip():
        raise InvalidRequest("Idempotency-Key may not be blank.", param="Idempotency-Key")
    return key


def fingerprint(method: str, path: str, form: dict[str, Any]) -> str:
    canonical = orjson.dumps([method, path, form], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


@dataclass(frozen=True)
class KeyClaim:
    """Who wants which key, for which request, at what time."""

    account_id: str
    key: str
    fingerprint: str
    request_id: str
    now_ms: int
    lock_ms: int

    @property
    def now(self) -> int:
        return self.now_ms // 1000

    @property
    def locked_until_ms(self) -> int:
        return self.now_ms + self.lock_ms


async def claim_or_replay(store: Store, claim: KeyClaim) -> Claimed | Replay:
    """Claim the key in a transaction of its own, committed before the request runs, so
    that concurrent duplicates (in any process) see it and get 409."""
    for _ in range(CLAIM_ATTEMPTS_MAX):
        async with store.write() as tx:
            outcome = await claim_in(tx, claim)
        if outcome is not None:
            return outcome
    raise IdempotencyKeyInUse()


async def claim_in(tx: Transaction, claim: KeyClaim) -> Claimed | Replay | None:
    """One attempt inside `tx`; None when another request won a race for the row."""
    record = await tx.get_idempotency_record(claim.account_id, claim.key)
    if record is None:
        inserted = await tx.insert_idempotency_claim(
            claim.account_id,
            claim.key,
            claim.fingerprint,
            claim.now,
            claim.locked_until_ms,
            claim.request_id,
        )
        return Claimed() if inserted else None
    expired_before = claim.now - KEY_RETENTION_SECONDS
    expired = record.created < expired_before
    abandoned = record.response_status is None and record.locked_until_ms < claim.now_ms
    # A claim abandoned by a crashed request is retaken only by the same request.
    if expired or (abandoned and record.fingerprint == claim.fingerprint):
        retaken = await tx.retake_idempotency_claim(
            claim.account_id,
            claim.key,
            claim.fingerprint,
            claim.now,
            claim.locked_until_ms,
            claim.request_id,
            claim.now_ms,
            expired_before,
        )
        return Claimed() if retaken else None
    if record.fingerprint != claim.fingerprint:
        raise IdempotencyKeyReused()
    ensure(
        record.response_status is None or record.response_body is not None,
        "a completed idempotency record always stores its response body",
    )
    if record.response_status is None or record.response_body is None:
        raise IdempotencyKeyInUse()
    return Replay(record.response_status, record.response_body, record.request_id)
