"""What the hosted pages' pay forms (the invoice page, Checkout) share: a form sent twice is
answered once.

Each page view puts a random `attempt` token in its form. The backend keys an idempotency
record with it (Stripe's table, under a key prefix of the page's own, hashed with what is
paid so the key is bounded whatever the token), written in the payment's unit of work under
the paid object's row lock: the second of two identical forms reads the first's answer (the
same redirect, the same decline) instead of paying again. A decline is stored as what the
page shows of it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

import orjson

from kassa.clock import Clock, unix_seconds
from kassa.errors import CardDeclined
from kassa.ids import new_id
from kassa.invariants import ensure
from kassa.store import Transaction
from kassa.store.request_queries import IDEMPOTENCY_KEY_RETENTION_SECONDS, IdempotencyRecord

ATTEMPT_TOKEN_BYTES: Final = 16
"""Random bytes of a page view's `attempt` token (URL-safe base64 in the form)."""
DONE_STATUS: Final = 200
DECLINED_STATUS: Final = 402
StepT = TypeVar("StepT")


@dataclass(frozen=True)
class Outcome(Generic[StepT]):
    """What a pay form's attempt came to: the page's next step, or the decline to show."""

    step: StepT
    declined: CardDeclined | None = None

    def result(self) -> StepT:
        """The step; the decline raised instead, by the caller once the unit that recorded
        it (the failed charge) has committed."""
        if self.declined is not None:
            raise self.declined
        return self.step


@dataclass(frozen=True)
class StepCodec(Generic[StepT]):
    """How a page keeps its step in the attempt's record, and reads it back."""

    shown: Callable[[StepT], dict[str, Any]]
    read: Callable[[Mapping[str, Any]], StepT]
    declined_step: StepT
    """The step that goes with a decline (the page shows the decline)."""


async def attempt_once(
    tx: Transaction,
    clock: Clock,
    account_id: str,
    key_prefix: str,
    paid_id: str,
    attempt: str,
    codec: StepCodec[StepT],
    run: Callable[[], Awaitable[StepT]],
) -> Outcome[StepT]:
    """`run()` (one attempt at paying `paid_id`, whose row the caller has locked), unless the
    page view's form (`attempt`, its token) was answered already: then that answer. A
    decline is caught, so that its writes commit with the unit, and kept as the answer."""
    key = attempt_key(key_prefix, paid_id, attempt) if attempt else None
    answer = None if key is None else await replayed(tx, clock, account_id, key)
    if answer is not None:
        return _outcome_read(answer, codec)
    try:
        outcome: Outcome[StepT] = Outcome(await run())
    except CardDeclined as decline:
        outcome = Outcome(codec.declined_step, decline)
    if key is not None:
        body = _outcome_shown(outcome, codec)
        was_declined = outcome.declined is not None
        await remember(tx, clock, account_id, key, paid_id, declined=was_declined, answer=body)
    return outcome


def _outcome_shown(outcome: Outcome[StepT], codec: StepCodec[StepT]) -> bytes:
    if outcome.declined is None:
        return orjson.dumps(codec.shown(outcome.step))
    return orjson.dumps({"error": decline_shown(outcome.declined)})


def _outcome_read(body: bytes, codec: StepCodec[StepT]) -> Outcome[StepT]:
    stored = orjson.loads(body)
    error = stored.get("error")
    if error is None:
        return Outcome(codec.read(stored))
    return Outcome(codec.declined_step, decline_from(error))


def attempt_key(prefix: str, paid_id: str, attempt: str) -> str:
    """The idempotency key of one page view's pay form for `paid_id`."""
    digest = hashlib.sha256(f"{paid_id}\0{attempt}".encode()).hexdigest()
    return prefix + digest


async def replayed(tx: Transaction, clock: Clock, account_id: str, key: str) -> bytes | None:
    """The answer an earlier form with this key was given, if it is still kept."""
    record = await tx.get_idempotency_record(account_id, key)
    if record is None or record.response_body is None:
        return None
    if record.created < unix_seconds(clock) - IDEMPOTENCY_KEY_RETENTION_SECONDS:
        return None
    return record.response_body


async def remember(
    tx: Transaction,
    clock: Clock,
    account_id: str,
    key: str,
    paid_id: str,
    *,
    declined: bool,
    answer: bytes,
) -> None:
    """Keep the form's answer under its key. The caller holds `paid_id`'s row lock since
    before it read the key: nobody else can have written it."""
    now_ms = int(clock.now() * 1000)
    record = IdempotencyRecord(
        fingerprint=hashlib.sha256(paid_id.encode()).hexdigest(),
        created=now_ms // 1000,
        locked_until_ms=0,
        request_id=new_id("req"),
        response_status=DECLINED_STATUS if declined else DONE_STATUS,
        response_body=answer,
    )
    saved = await tx.save_idempotent_response(account_id, key, record, now_ms=now_ms)
    ensure(saved, f"the pay form's attempt key of {paid_id} was free")


def decline_shown(error: CardDeclined) -> dict[str, Any]:
    """What is kept of a decline: what the page shows of it."""
    return {"message": error.message, "code": error.code, "decline_code": error.decline_code}


def decline_from(shown: Mapping[str, Any]) -> CardDeclined:
    return CardDeclined(
        str(shown["message"]),
        code=str(shown["code"] or "card_declined"),
        decline_code=shown.get("decline_code"),
    )
