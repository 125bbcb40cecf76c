"""The import pipeline: the file is read as a stream, ROWS_PER_UNIT rows at a time, and each
batch runs in one unit of work through the resource's own parser and create operation (the
API's: same checks, same events, same ledger effects).

All or nothing (the default): a first pass runs every row in units that are rolled back, so
every check the API makes is made, those that read the database included (a price's
product, an invoice item's customer), and every invalid row is reported at once; only if
there is none does a second pass read the file again and commit. Checks between rows of
different batches (two rows claiming one `lookup_key`) can only fail in the second pass:
it then stops at that row, the batches before it stay written, and importing the fixed file
again skips them as existing.

`--skip-invalid`: one pass that commits each batch without its invalid rows. A row failing
in the operation fails its unit: the rows before it run again in a unit of their own and
the rows after it in the next, so each row runs at most twice.

Keys: a batch first looks its rows' keys up (`imported_objects`); a known key is `existing`
and its row is not run again. A new object's key is written in the unit that makes it.
Memory holds one batch of rows and at most ERRORS_KEPT_MAX errors, whatever the file's size.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from kassa.clock import Clock, unix_seconds
from kassa.errors import InvalidRequest, KassaError
from kassa.imports.kinds import KINDS, ImportKind, Reference
from kassa.imports.rows import RowError, RowSource, SourceRow
from kassa.invariants import ensure
from kassa.services import events
from kassa.services.context import Context, PaymentConfig
from kassa.store import Store, Transaction, WriteConflict
from kassa.store.import_queries import IMPORT_KEYS_PER_QUERY_MAX, ImportedObject

ROWS_PER_UNIT = 500
"""Rows one unit of work runs: what memory holds of the file, and how long one unit holds
SQLite's single writer (tens of milliseconds, so a server sharing the database answers
meanwhile)."""
ERRORS_KEPT_MAX = 10_000
"""Errors kept to report; past that they are counted only."""
WRITE_CONFLICT_RETRIES_MAX = 5
"""Runs again of a unit that lost a race to a concurrent writer (PostgreSQL)."""

ensure(ROWS_PER_UNIT <= IMPORT_KEYS_PER_QUERY_MAX, "a batch's keys fit one lookup")


class Mode(enum.Enum):
    VALIDATE = "validate"
    """Run every row, roll every unit back, report every invalid row."""
    WRITE_ALL = "write_all"
    """Commit every batch; stop at the first row that fails."""
    WRITE_VALID = "write_valid"
    """Commit every batch without its invalid rows."""


@dataclass(frozen=True)
class ImportJob:
    store: Store
    kind: ImportKind
    account_id: str
    clock: Clock
    payments: PaymentConfig


@dataclass
class Tally:
    rows: int = 0
    created: int = 0
    existing: int = 0
    invalid: int = 0
    errors: list[RowError] = field(default_factory=list)
    """In line order; at most ERRORS_KEPT_MAX."""
    errors_omitted: int = 0
    stopped_at: RowError | None = None
    """The write pass stopped at this row (all or nothing, a check between batches)."""

    def add_errors(self, found: Iterable[RowError]) -> None:
        for error in sorted(found):
            self.invalid += 1
            if len(self.errors) < ERRORS_KEPT_MAX:
                self.errors.append(error)
            else:
                self.errors_omitted += 1


Progress = Callable[[int, int], None]
"""Told after each batch: rows read so far, bytes read so far."""


@dataclass(frozen=True)
class _UnitOutcome:
    created: int
    existing: int
    failed: tuple[int, RowError] | None
    """The index in the unit's rows of the row that failed, and its error."""


class _RolledBack(Exception):
    def __init__(self, outcome: _UnitOutcome) -> None:
        super().__init__("the unit is rolled back")
        self.outcome = outcome


async def run_pass(job: ImportJob, source: RowSource, mode: Mode, progress: Progress) -> Tally:
    """One pass over the file's rows (its header already found valid)."""
    tally = Tally()
    for batch in _batches(source.rows()):  # bounded: ROWS_PER_FILE_MAX / ROWS_PER_UNIT
        tally.rows += len(batch)
        rows = [row for row in batch if isinstance(row, SourceRow)]
        found = [row for row in batch if isinstance(row, RowError)]
        if found and mode is Mode.WRITE_ALL:
            # The file changed since it was validated: write nothing more of it.
            tally.stopped_at = min(found)
        elif rows:
            await _run_batch(job, rows, mode, tally, found)
        tally.add_errors(found)
        progress(tally.rows, source.position_bytes)
        if tally.stopped_at is not None:
            break
    return tally


def _batches(rows: Iterator[SourceRow | RowError]) -> Iterator[list[SourceRow | RowError]]:
    while batch := list(islice(rows, ROWS_PER_UNIT)):  # bounded: the file's rows
        yield batch


async def _run_batch(
    job: ImportJob, rows: list[SourceRow], mode: Mode, tally: Tally, found: list[RowError]
) -> None:
    """Run a batch's rows in units of work as `mode` says; errors go to `found`."""
    segments = deque([rows])
    for _ in range(2 * len(rows) + 1):  # bounded: a failure takes a row out, a prefix reruns
        if not segments:
            return
        segment = segments.popleft()
        outcome = await _run_unit(job, segment, commit=mode is not Mode.VALIDATE)
        if outcome.failed is None or mode is Mode.VALIDATE:
            tally.created += outcome.created
            tally.existing += outcome.existing
        if outcome.failed is None:
            continue
        index, error = outcome.failed
        found.append(error)
        if mode is Mode.WRITE_ALL:
            tally.stopped_at = error
            return
        if index + 1 < len(segment):
            segments.appendleft(segment[index + 1 :])
        if mode is Mode.WRITE_VALID and index > 0:
            segments.appendleft(segment[:index])
    ensure(not segments, "a batch's rows all ran")


async def _run_unit(job: ImportJob, rows: Sequence[SourceRow], *, commit: bool) -> _UnitOutcome:
    """The rows in one unit of work, committed if `commit` and every row succeeded."""
    for attempt in range(WRITE_CONFLICT_RETRIES_MAX + 1):
        try:
            async with job.store.write() as tx:
                outcome = await _write_rows(job, tx, rows)
                if outcome.failed is not None or not commit:
                    raise _RolledBack(outcome)
            return outcome
        except _RolledBack as rolled_back:
            return rolled_back.outcome
        except WriteConflict:
            if attempt == WRITE_CONFLICT_RETRIES_MAX:
                raise
    raise WriteConflict("unreachable: the last attempt raises")


async def _write_rows(job: ImportJob, tx: Transaction, rows: Sequence[SourceRow]) -> _UnitOutcome:
    """Run each row whose key is new until one fails; record the new objects' keys."""
    known = await tx.imported_object_ids(job.account_id, job.kind.name, [r.key for r in rows])
    referenced = await _referenced_ids(job, tx, rows)
    made: list[ImportedObject] = []
    existing = 0
    memo: dict[str, Any] = {}
    now = unix_seconds(job.clock)
    for index, row in enumerate(rows):
        if row.key in known:  # imported before, or earlier in this unit
            existing += 1
            continue
        ctx = Context(job.account_id, tx, job.clock, payments=job.payments, memo=memo)
        try:
            request = job.kind.create.parse((), _resolved_form(row, referenced))
            created = await job.kind.create.run(ctx, request)
        except KassaError as error:
            failed = RowError(row.line, error.param or "", error.message)
            return _UnitOutcome(len(made), existing, (index, failed))
        object_id = str(created["id"])
        known[row.key] = object_id
        made.append(ImportedObject(row.key, object_id, now))
        # The next row starts afresh but for the webhook endpoints (read once per unit).
        memo = events.endpoints_memo(ctx)
    await tx.record_imported_objects(job.account_id, job.kind.name, made)
    return _UnitOutcome(len(made), existing, None)


async def _referenced_ids(
    job: ImportJob, tx: Transaction, rows: Sequence[SourceRow]
) -> dict[tuple[str, str], str]:
    """(kind, key) -> object id, for the keys the rows' reference columns give."""
    wanted: dict[str, set[str]] = {}
    for row in rows:
        for ref, key in row.references:
            wanted.setdefault(ref.kind, set()).add(key)
    found: dict[tuple[str, str], str] = {}
    for kind, keys in wanted.items():
        ids = await tx.imported_object_ids(job.account_id, kind, sorted(keys))
        found.update(((kind, key), object_id) for key, object_id in ids.items())
    return found


def _resolved_form(row: SourceRow, referenced: dict[tuple[str, str], str]) -> dict[str, Any]:
    """The row's form with each reference replaced by the id of the object it names."""
    form = dict(row.form)
    for ref, key in row.references:
        object_id = referenced.get((ref.kind, key))
        if object_id is None:
            raise _unknown_reference(ref, key)
        *parents, last = ref.param
        node = form
        for name in parents:  # bounded: a parameter's depth
            node = node.setdefault(name, {})
        node[last] = object_id
    return form


def _unknown_reference(ref: Reference, key: str) -> InvalidRequest:
    object_name = KINDS[ref.kind].object_name
    return InvalidRequest(
        f"No {object_name} was imported with external_id {key[:80]!r}: import the "
        f"{ref.kind} first, or give the {object_name}'s id in {ref.param_name}.",
        param=ref.column,
    )
