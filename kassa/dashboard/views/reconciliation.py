"""What the dashboard's reconciliation pages show: the account's recorded runs (`kassa
reconcile --record`), newest first, and one run with its counts and sampled breaks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from kassa.services import reconciliation_runs
from kassa.services.context import Context
from kassa.services.reconciliation_runs import RunDetail
from kassa.store.reconciliation_queries import ReconciliationRunRow

OUTCOME_LABELS: Final = {
    "matched": "Matched",
    "missing_in_bank": "Missing in the bank file",
    "missing_in_ledger": "Missing in the ledger",
    "discrepant": "Discrepant",
    "duplicate_ids_in_ledger": "Duplicate ids in the ledger",
    "duplicate_ids_in_bank": "Duplicate ids in the bank file",
    "rejected_ledger": "Rejected ledger rows",
    "rejected_bank": "Rejected bank rows",
    "ambiguous_in_ledger": "Payouts with several candidate lines",
    "ambiguous_in_bank": "Bank lines with several candidate payouts",
}
KIND_LABELS: Final = {
    "files": "files, id by id",
    "balance_transactions": "balance transactions",
    "payouts": "payouts to bank lines",
}


@dataclass(frozen=True)
class RunList:
    runs: list[ReconciliationRunRow]
    next_cursor: str
    """The seq to page on from ('' on the last page)."""


def parse_cursor(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) <= 18 else None


async def run_list(ctx: Context, before: str, limit: int) -> RunList:
    page = await reconciliation_runs.list_runs(ctx, limit, parse_cursor(before))
    cursor = "" if page.next_before_seq is None else str(page.next_before_seq)
    return RunList(page.runs, cursor)


async def run_detail(ctx: Context, run_id: str) -> RunDetail:
    return await reconciliation_runs.run_detail(ctx, run_id)
