"""Recorded reconciliation runs (`kassa reconcile --record`): what was compared, the count
of each outcome, and a sample of each outcome's breaks; the dashboard lists them.

A run belongs to an account (the books reconciled are its books) and is read only by it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from kassa.errors import ResourceMissing
from kassa.ids import new_id
from kassa.invariants import ensure
from kassa.services.context import Context
from kassa.store import Transaction
from kassa.store.reconciliation_queries import (
    RECORDED_BREAKS_MAX,
    ReconciliationRunRow,
    RecordedBreak,
)

RUN_ID_PREFIX: Final = "recon"
KINDS: Final = ("files", "balance_transactions", "payouts")
BREAKS_SAMPLED_PER_OUTCOME_MAX: Final = 100
"""Breaks of each outcome a recorded run keeps (the CSV files hold them all)."""
RUNS_PAGE_MAX: Final = 100

ensure(
    BREAKS_SAMPLED_PER_OUTCOME_MAX * 12 <= RECORDED_BREAKS_MAX,
    "a run's samples, a dozen outcomes at most, fit what the store keeps of a run",
)


@dataclass(frozen=True)
class NewRun:
    kind: str
    ledger: str
    """What the ledger side was: a path, or `kassa` (the account's own rows)."""
    bank: str
    parameters: Mapping[str, Any]
    counts: Mapping[str, int]
    samples: Mapping[str, Sequence[Mapping[str, Any]]]
    """Per outcome other than `matched`, its first rows (at most
    BREAKS_SAMPLED_PER_OUTCOME_MAX), as the outcome's file has them."""


async def record_run(tx: Transaction, account_id: str, now: int, run: NewRun) -> str:
    """Store `run` for `account_id`; its id."""
    ensure(run.kind in KINDS, "a run is of a known kind")
    if await tx.get_account(account_id) is None:
        raise ResourceMissing("account", account_id, param="account")
    run_id = new_id(RUN_ID_PREFIX)
    breaks = [
        RecordedBreak(outcome, position, dict(detail))
        for outcome, rows in sorted(run.samples.items())
        for position, detail in enumerate(rows[:BREAKS_SAMPLED_PER_OUTCOME_MAX], start=1)
    ]
    row = ReconciliationRunRow(
        seq=0,
        id=run_id,
        account_id=account_id,
        created=now,
        kind=run.kind,
        ledger=run.ledger,
        bank=run.bank,
        parameters=dict(run.parameters),
        counts=dict(run.counts),
        breaks=sum(n for outcome, n in run.counts.items() if outcome != "matched"),
    )
    await tx.insert_reconciliation_run(row, breaks)
    return run_id


@dataclass(frozen=True)
class RunPage:
    runs: list[ReconciliationRunRow]
    next_before_seq: int | None


async def list_runs(ctx: Context, limit: int, before_seq: int | None = None) -> RunPage:
    """The account's runs, newest first; `next_before_seq` pages on."""
    limit = max(1, min(limit, RUNS_PAGE_MAX))
    runs = await ctx.tx.reconciliation_runs(ctx.account_id, limit + 1, before_seq)
    more = len(runs) > limit
    runs = runs[:limit]
    return RunPage(runs, runs[-1].seq if more and runs else None)


@dataclass(frozen=True)
class RunDetail:
    run: ReconciliationRunRow
    breaks: dict[str, list[RecordedBreak]]
    """The recorded sample, by outcome."""


async def run_detail(ctx: Context, run_id: str) -> RunDetail:
    run = await ctx.tx.reconciliation_run(ctx.account_id, run_id)
    if run is None:
        raise ResourceMissing("reconciliation run", run_id)
    by_outcome: dict[str, list[RecordedBreak]] = {}
    for recorded in await ctx.tx.recorded_breaks(run.id, RECORDED_BREAKS_MAX):
        by_outcome.setdefault(recorded.outcome, []).append(recorded)
    return RunDetail(run, by_outcome)
