"""How the real-time jobs work through objects with something due (the `invoices` job's
renewals, auto-advance, reminders and credit grants' expiry; the `payouts` job's automatic
payouts and payout moves; the `refund_failures` job's failures): scan a bounded batch of due
objects, handle each in a unit of work of its own, scan on from the last object read while
batches come back full, and stop after a bounded number of scans (a larger backlog waits
for the next run).

Each scan starts after the last object the one before read, in (due time, id) order
(`kassa.store.due_order`): an object whose work failed stays due where it was, ahead of the
rest, and a run walks past it instead of reading it again (a scan restarted from the front
once read the same full batch of failed objects at every run and stopped, and nothing due
after them was ever done). A failure the handler cannot record on the object itself it
postpones by `FAILED_WORK_RETRY_SECONDS` (`postponed_if_failing`), so that objects failing
at every try neither end a run, nor fill each run's budget, nor log at every poll."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Final, Protocol, TypeVar

from kassa.clock import Clock, unix_seconds
from kassa.errors import KassaError
from kassa.invariants import ensure
from kassa.services.context import Context, PaymentConfig
from kassa.store import Store, Transaction
from kassa.store.conflicts import DatabaseUnavailable, WriteConflict
from kassa.store.due_order import DueCursor

DUE_BATCH_MAX: Final = 50
"""Objects read per scan for work due."""
DUE_BATCHES_PER_RUN_MAX: Final = 20
"""Scans per run: a backlog beyond 1,000 objects waits for the next run."""
STORE_FAILURES: Final = (DatabaseUnavailable, WriteConflict)
"""Failures of the store, not of one object's work: they end a job's round (every object
would meet them), to be tried again at the next poll."""
FAILED_WORK_RETRY_SECONDS: Final = 3_600
"""How long after a failed try an object's work is tried again. Such a failure (an invoice,
customer or charge gone, a document no release can read) waits for a person's fix, which
saving the object picks up at once where its due time is derived from its document (a save
stores it anew); meanwhile it is tried, and logs a warning, once an hour rather than at
every poll, and stays out of the way of every object due after it in the runs between."""


class DueWork(Protocol):
    """An object with work due (an invoice, a subscription, a payout, an account's automatic
    payout, a refund's failure), as a scan read it."""

    @property
    def object_id(self) -> str: ...

    @property
    def due_at(self) -> int: ...


Due = TypeVar("Due", bound=DueWork)

DueScan = Callable[[Transaction, int, DueCursor | None, int], Awaitable[list[Due]]]
"""A scan for work due: (read unit, now, after this object, limit) -> the next due objects,
in (due time, id) order."""

Postpone = Callable[[Transaction, Due, int], Awaitable[bool]]
"""Move a due object's due column, if still where the scan read it, to a later time
(write unit, the object as scanned, until); whether it moved."""

RecordFailure = Callable[[KassaError], Awaitable[bool]]
"""Record a failure of an object's work on the object itself, in a unit of its own (an
invoice's failed advance becomes its state); False when that failed too."""


async def work_through_due(
    store: Store, clock: Clock, find: DueScan[Due], handle: Callable[[Due], Awaitable[int]]
) -> int:
    """Every object `find` says is due now, each handled by `handle` in a unit of its own
    once per run; the sum of what `handle` counted (0 or 1 each, or an object's count of
    things made). An object still due after its handling (it failed, and stays due) is not
    read again in this run: the next scan starts after the last object read. One whose due
    time moved on but is still due (many periods behind) is met again further on, and left
    for the next run."""
    counted = 0
    tried: set[str] = set()
    cursor: DueCursor | None = None
    for _ in range(DUE_BATCHES_PER_RUN_MAX):
        async with store.read() as tx:
            due = await find(tx, unix_seconds(clock), cursor, DUE_BATCH_MAX)
        ensure(
            cursor is None or all(entry.due_at >= cursor.due_at for entry in due),
            "a scan for due work resumes after the last object read",
        )
        for entry in due:
            if entry.object_id not in tried:
                tried.add(entry.object_id)
                counted += await handle(entry)
        if len(due) < DUE_BATCH_MAX:
            break
        cursor = DueCursor(due[-1].due_at, due[-1].object_id)
    return counted


def retry_at(clock: Clock) -> int:
    """When an object whose work failed now is tried again."""
    return unix_seconds(clock) + FAILED_WORK_RETRY_SECONDS


async def postponed_if_failing(
    store: Store,
    clock: Clock,
    entry: Due,
    work: Callable[[Transaction], Awaitable[int]],
    postpone: Postpone[Due],
    failed: tuple[logging.Logger, str],
    record: RecordFailure | None = None,
) -> int:
    """`work` on `entry` in a write unit of its own; what it counted. If it fails (rolled
    back whole, so still due), the failure is logged as `failed` says (a logger, and a
    message taking the object's id and the error) and `postpone` moves the entry's due
    column `FAILED_WORK_RETRY_SECONDS` on: it neither ends the job's round (the objects
    after it are still done) nor comes back at every poll.

    A failure is a `KassaError` (something the object names is gone), logged as a warning,
    or any other error of the work (an `InvariantViolated` for a stored object the code
    cannot handle, such as a refund whose charge is missing; a `KeyError` or a decoding
    error for a document no release can read), logged as an error with its traceback:
    either is about this one object, and ending the round for it would stop every other
    object's work until a person repaired it. A failure of the store itself
    (`STORE_FAILURES`: the database down, a write conflict) is not about the object, and
    ends the round to be retried at the next poll.

    With `record`, a `KassaError` is first recorded on the object (logged at info: it is
    the object's state now, such as an invoice's failed payment attempt) and postponed only
    if recording it failed too."""
    log, message = failed
    try:
        async with store.write() as tx:
            return await work(tx)
    except KassaError as error:
        if record is None:
            log.warning(message, entry.object_id, error.message)
        else:
            log.info(message, entry.object_id, error.message)
            if await record(error):
                return 0
    except STORE_FAILURES:
        raise
    except Exception as error:
        log.exception(message, entry.object_id, error)
    async with store.write() as tx:
        await postpone(tx, entry, retry_at(clock))
    return 0


class AccountDueWork(DueWork, Protocol):
    """Due work that one account's operation does on one object (a refund's failure, an
    authorization's expiry, a payout's move, an account's automatic payout)."""

    @property
    def account_id(self) -> str: ...


AccountDue = TypeVar("AccountDue", bound=AccountDueWork)


async def do_due_operations(
    store: Store,
    clock: Clock,
    payments: PaymentConfig,
    jobs: tuple[DueScan[AccountDue], Postpone[AccountDue]],
    operation: Callable[[Context, str], Awaitable[int]],
    failed: tuple[logging.Logger, str],
) -> int:
    """`operation` (in the object's account, on its id; whether it did something, or how
    many things it made) on every object the scan of `jobs` finds due now, each in a unit
    of work of its own, bounded per run (`work_through_due`); the sum of what it counted.
    One that fails is rolled back, logged as `failed` says, and its due time moved on by
    the postponement of `jobs` (`postponed_if_failing`)."""
    find, postpone = jobs

    async def handle(entry: AccountDue) -> int:
        async def work(tx: Transaction) -> int:
            ctx = Context(account_id=entry.account_id, tx=tx, clock=clock, payments=payments)
            return int(await operation(ctx, entry.object_id))

        return await postponed_if_failing(store, clock, entry, work, postpone, failed)

    return await work_through_due(store, clock, find, handle)
