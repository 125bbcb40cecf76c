"""Kassa's own rows as a reconciliation's ledger side (`kassa reconcile kassa BANK`): an
account's balance transactions, or its payouts, written a page at a time to a CSV file
that is then reconciled like any other. Also what each matched automatic payout swept.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from kassa.business_days import midnight_utc
from kassa.clock import DAY_SECONDS
from kassa.store import Store
from kassa.store.payout_queries import swept_window
from kassa.store.tables import PAYOUTS

PAGE_ROWS: Final = 1_000
"""Rows read per store page (one short read unit each)."""
PAGES_MAX: Final = 100_000
"""Pages one export reads at most: 100 million rows."""
SWEPT_PAGES_PER_PAYOUT_MAX: Final = 10_000
"""Pages of swept balance transactions listed per payout at most."""
UNPAID_PAYOUT_STATUSES: Final = frozenset({"canceled", "failed"})
"""Payouts that never reach the bank: not expected on a statement."""

BALANCE_TRANSACTION_COLUMNS: Final = ("id", "amount", "currency", "date", "type", "source")
PAYOUT_COLUMNS: Final = ("id", "amount", "currency", "date", "trace_id", "status", "automatic")


@dataclass(frozen=True)
class KassaRange:
    account_id: str
    first_day: datetime.date
    last_day: datetime.date
    """Inclusive, UTC days."""

    @property
    def start(self) -> int:
        return midnight_utc(self.first_day)

    @property
    def end(self) -> int:
        """Exclusive: 00:00 UTC after the last day."""
        return midnight_utc(self.last_day) + DAY_SECONDS


def _day(unix: int) -> str:
    return datetime.datetime.fromtimestamp(unix, tz=datetime.UTC).date().isoformat()


async def export_balance_transactions(store: Store, scope: KassaRange, path: Path) -> int:
    """The account's balance transactions created in the range, to `path`; how many."""
    written, after = 0, 0
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(BALANCE_TRANSACTION_COLUMNS)
        for _ in range(PAGES_MAX):
            async with store.read() as tx:
                page = await tx.balance_transactions_for_reconciliation(
                    scope.account_id, scope.start, scope.end, after, PAGE_ROWS
                )
            writer.writerows(
                (t.id, t.amount, t.currency, _day(t.created), t.type, t.source or "") for t in page
            )
            written += len(page)
            if len(page) < PAGE_ROWS:
                break
            after = page[-1].seq
    return written


def _payout_row(payout: dict[str, Any]) -> tuple[object, ...]:
    trace = (payout.get("trace_id") or {}).get("value") or ""
    return (
        payout["id"],
        payout["amount"],
        payout["currency"],
        _day(int(payout["arrival_date"])),
        trace,
        payout["status"],
        "true" if payout.get("automatic") else "false",
    )


async def export_payouts(store: Store, scope: KassaRange, path: Path) -> int:
    """The account's payouts arriving in the range (not canceled or failed), to `path`."""
    written, after = 0, 0
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(PAYOUT_COLUMNS)
        for _ in range(PAGES_MAX):
            async with store.read() as tx:
                page = await tx.payouts_for_reconciliation(
                    scope.account_id, scope.start, scope.end, after, PAGE_ROWS
                )
            rows = [p for _, p in page if p["status"] not in UNPAID_PAYOUT_STATUSES]
            writer.writerows(_payout_row(p) for p in rows)
            written += len(rows)
            if len(page) < PAGE_ROWS:
                break
            after = page[-1][0]
    return written


async def export_swept(store: Store, account_id: str, payout_ids: Iterable[str], path: Path) -> int:
    """For each payout, the balance transactions it swept (an automatic payout's; a manual
    one sweeps none), oldest first, to `path`."""
    written = 0
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(("payout_id", "balance_transaction", "type", "amount", "net", "currency"))
        for payout_id in payout_ids:
            written += await _write_swept(store, account_id, payout_id, writer)
    return written


async def _write_swept(store: Store, account_id: str, payout_id: str, writer: Any) -> int:
    async with store.read() as tx:
        found = await tx.get_object(PAYOUTS, account_id, payout_id)
    first = None if found is None else swept_window(found[0], PAGE_ROWS)
    if first is None:
        return 0  # a manual payout sweeps nothing
    written, after_seq = 0, 0
    for _ in range(SWEPT_PAGES_PER_PAYOUT_MAX):
        window = dataclasses.replace(first, after_seq=after_seq)
        async with store.read() as tx:
            newest_first, more = await tx.swept_transactions(window)
            rows = newest_first[::-1]
            last = await tx.ledger_transaction_seq(account_id, rows[-1].id) if rows else None
        writer.writerows((payout_id, t.id, t.type, t.amount, t.net, t.currency) for t in rows)
        written += len(rows)
        if not more or last is None:
            break
        after_seq = last
    return written
