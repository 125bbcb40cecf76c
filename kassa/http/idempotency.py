"""Stripe's idempotency keys (DESIGN.md section 5).

A POST with `Idempotency-Key` is one write transaction, on both engines:

1. take the key's lock (`Transaction.try_lock_idempotency_key`). On PostgreSQL a duplicate in
   flight in any process holds it: the request answers 409 at once and runs nothing. On SQLite
   the single writer is the lock: a duplicate waits its turn and then replays.
2. read the key's row: a stored response is replayed, or 400 if the parameters differ.
3. otherwise run the request and store its response in the same transaction, so the work
   and the response commit together with one commit, or not at all: a crash rolls both back,
   the lock goes with the transaction, and a retry runs afresh.

Kassa once committed a claim row before running the request; one left behind by a crash
(a row with no response) is retaken by the same request once its `locked_until_ms` passed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from kassa.errors import IdempotencyKeyInUse, IdempotencyKeyReused, InvalidRequest
from kassa.invariants import ensure
from kassa.params import UploadedFile
from kassa.store import Transaction
from kassa.store.request_queries import IDEMPOTENCY_KEY_RETENTION_SECONDS as KEY_RETENTION_SECONDS
from kassa.store.request_queries import IdempotencyRecord

MAX_KEY_CHARS = 255


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
    canonical = orjson.dumps(
        [method, path, form], option=orjson.OPT_SORT_KEYS, default=_fingerprinted_file
    )
    return hashlib.sha256(canonical).hexdigest()


def _fingerprinted_file(value: object) -> object:
    """An upload's file as its request's fingerprint covers it: by a digest of its bytes,
    so the same key with another file is refused (orjson calls this only for what it cannot
    write itself: the urlencoded forms of every other request never reach it)."""
    if isinstance(value, UploadedFile):
        return {**value.summary(), "sha256": value.digest()}
    raise TypeError(f"{type(value).__name__} is not a form value")


@dataclass(frozen=True)
class KeyClaim:
    """Who wants which key, for which request, at what time."""

    account_id: str
    key: str
    fingerprint: str
    request_id: str
    now_ms: int

    @property
    def now(self) -> int:
        return self.now_ms // 1000


async def claim_or_replay(tx: Transaction, claim: KeyClaim) -> Claimed | Replay:
    """Steps 1 and 2, first in the request's write transaction. Raises IdempotencyKeyInUse
    (409) or IdempotencyKeyReused (400), and the transaction then rolls back."""
    locked = await tx.try_lock_idempotency_key(claim.account_id, claim.key)
    # Read after the lock: in PostgreSQL's READ COMMITTED each statement sees every commit
    # made before it began, and a holder's commit is visible before its lock is released.
    record = await tx.get_idempotency_record(claim.account_id, claim.key)
    return decide(record, claim, locked=locked)


def decide(record: IdempotencyRecord | None, claim: KeyClaim, *, locked: bool) -> Claimed | Replay:
    """What the request does given the key's row and whether it holds the key's lock.

    A stored response is replayed even without the lock (two replays may race for it);
    anything else needs the lock, since its holder may be about to store a response."""
    live = record is not None and record.created >= claim.now - KEY_RETENTION_SECONDS
    if record is None or not live:
        if not locked:
            raise IdempotencyKeyInUse()
        return Claimed()
    if record.fingerprint != claim.fingerprint:
        raise IdempotencyKeyReused()
    if record.response_status is not None:
        ensure(
            record.response_body is not None,
            "a completed idempotency record always stores its response body",
        )
        return Replay(record.response_status, record.response_body or b"", record.request_id)
    # A claim an older Kassa committed: retaken once its request is surely dead.
    if not locked or record.locked_until_ms >= claim.now_ms:
        raise IdempotencyKeyInUse()
    return Claimed()


async def save_response(tx: Transaction, claim: KeyClaim, status: int, body: bytes) -> None:
    """Step 3's end: the response, in the transaction that did the work."""
    record = IdempotencyRecord(
        fingerprint=claim.fingerprint,
        created=claim.now,
        locked_until_ms=0,
        request_id=claim.request_id,
        response_status=status,
        response_body=body,
    )
    saved = await tx.save_idempotent_response(
        claim.account_id, claim.key, record, now_ms=claim.now_ms
    )
    if not saved:
        # A writer without the lock (an older Kassa in a rolling upgrade) stored the key
        # meanwhile: roll back rather than overwrite its response.
        raise IdempotencyKeyInUse()
