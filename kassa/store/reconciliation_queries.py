"""SQL behind `kassa reconcile`: an account's balance transactions and payouts read a page
at a time (a reconciliation of a year of them must not hold them all), and the recorded runs
with a sample of their breaks. Mixed into `Transaction`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from kassa.invariants import ensure
from kassa.store.statements import dumps_doc, loads_doc

if TYPE_CHECKING:
    from kassa.store.queries import Executor

RECONCILIATION_PAGE_MAX: Final = 5_000
"""Rows one page read returns at most."""
RECORDED_BREAKS_MAX: Final = 10_000
"""Break rows one recorded run may store (the run records a sample per outcome)."""


@dataclass(frozen=True)
class ReconciledTransaction:
    seq: int
    id: str
    amount: int
    currency: str
    created: int
    type: str
    source: str | None


@dataclass(frozen=True)
class ReconciliationRunRow:
    seq: int
    id: str
    account_id: str
    created: int
    kind: str
    ledger: str
    bank: str
    parameters: dict[str, Any]
    counts: dict[str, int]
    breaks: int


@dataclass(frozen=True)
class RecordedBreak:
    outcome: str
    position: int
    """Its place in the outcome's file, from 1."""
    detail: dict[str, Any]


_RUN_COLUMNS = "seq, id, account_id, created, kind, ledger, bank, parameters, counts, breaks"


def _run_row(row: Sequence[Any]) -> ReconciliationRunRow:
    return ReconciliationRunRow(
        seq=int(row[0]),
        id=str(row[1]),
        account_id=str(row[2]),
        created=int(row[3]),
        kind=str(row[4]),
        ledger=str(row[5]),
        bank=str(row[6]),
        parameters=loads_doc(row[7]),
        counts={str(k): int(v) for k, v in loads_doc(row[8]).items()},
        breaks=int(row[9]),
    )


class ReconciliationQueries:
    _db: Executor

    async def balance_transactions_for_reconciliation(
        self, account_id: str, created_from: int, created_before: int, after_seq: int, limit: int
    ) -> list[ReconciledTransaction]:
        """The account's visible balance transactions created in [from, before), oldest
        first, after `after_seq` (a page's last seq; 0 for the first page)."""
        ensure(0 < limit <= RECONCILIATION_PAGE_MAX, "a reconciliation page is bounded")
        rows = await self._db.fetchall(
            "SELECT seq, id, amount, currency, created, type, source FROM ledger_transactions "
            "WHERE account_id = ? AND visible = 1 AND seq > ? AND created >= ? AND created < ? "
            "ORDER BY seq LIMIT ?",
            (account_id, after_seq, created_from, created_before, limit),
        )
        return [
            ReconciledTransaction(
                int(r[0]), str(r[1]), int(r[2]), str(r[3]), int(r[4]), str(r[5]), r[6]
            )
            for r in rows
        ]

    async def payouts_for_reconciliation(
        self, account_id: str, arrival_from: int, arrival_before: int, after_seq: int, limit: int
    ) -> list[tuple[int, dict[str, Any]]]:
        """(seq, document) of the account's payouts arriving in [from, before), by seq."""
        ensure(0 < limit <= RECONCILIATION_PAGE_MAX, "a reconciliation page is bounded")
        rows = await self._db.fetchall(
            "SELECT seq, doc FROM payouts WHERE account_id = ? AND deleted = 0 AND seq > ? "
            "AND arrival_date >= ? AND arrival_date < ? ORDER BY seq LIMIT ?",
            (account_id, after_seq, arrival_from, arrival_before, limit),
        )
        return [(int(r[0]), loads_doc(r[1])) for r in rows]

    async def insert_reconciliation_run(
        self, run: ReconciliationRunRow, breaks: Sequence[RecordedBreak]
    ) -> None:
        ensure(len(breaks) <= RECORDED_BREAKS_MAX, "a recorded run keeps a bounded sample")
        await self._db.execute(
            "INSERT INTO reconciliation_runs (id, account_id, created, kind, ledger, bank, "
            "parameters, counts, breaks) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run.id,
                run.account_id,
                run.created,
                run.kind,
                run.ledger,
                run.bank,
                dumps_doc(run.parameters),
                dumps_doc(run.counts),
                run.breaks,
            ),
        )
        await self._db.executemany(
            "INSERT INTO reconciliation_breaks (run_id, outcome, position, detail) "
            "VALUES (?, ?, ?, ?)",
            [(run.id, b.outcome, b.position, dumps_doc(b.detail)) for b in breaks],
        )

    async def reconciliation_runs(
        self, account_id: str, limit: int, before_seq: int | None = None
    ) -> list[ReconciliationRunRow]:
        """The account's runs, newest first, before `before_seq` (a cursor run's seq)."""
        ensure(0 < limit <= RECONCILIATION_PAGE_MAX, "a page of runs is bounded")
        cursor = "" if before_seq is None else " AND seq < ?"
        rows = await self._db.fetchall(
            f"SELECT {_RUN_COLUMNS} FROM reconciliation_runs WHERE account_id = ?{cursor} "
            "ORDER BY seq DESC LIMIT ?",
            (account_id, *(() if before_seq is None else (before_seq,)), limit),
        )
        return [_run_row(row) for row in rows]

    async def reconciliation_run(self, account_id: str, run_id: str) -> ReconciliationRunRow | None:
        row = await self._db.fetchone(
            f"SELECT {_RUN_COLUMNS} FROM reconciliation_runs WHERE account_id = ? AND id = ?",
            (account_id, run_id),
        )
        return None if row is None else _run_row(row)

    async def recorded_breaks(self, run_id: str, limit: int) -> list[RecordedBreak]:
        """A run's recorded breaks by outcome, then place in the outcome's file."""
        ensure(0 < limit <= RECORDED_BREAKS_MAX, "a read of recorded breaks is bounded")
        rows = await self._db.fetchall(
            "SELECT outcome, position, detail FROM reconciliation_breaks WHERE run_id = ? "
            "ORDER BY outcome, position LIMIT ?",
            (run_id, limit),
        )
        return [RecordedBreak(str(r[0]), int(r[1]), loads_doc(r[2])) for r in rows]
