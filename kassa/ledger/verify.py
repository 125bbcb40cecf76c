"""Recompute the ledger from its journal, check the API objects against it, and report every
disagreement as a structured `Finding` (behind `kassa ledger verify` and the dashboard's
verify button; the tests run the same check after each scenario).

The journal checks are aggregate queries. The object checks read charges, refunds and
disputes a page at a time, each page in one statement with its ledger movements, so memory
stays bounded on a database of millions of payments.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kassa.ledger import accounts
from kassa.store import Transaction
from kassa.store.ledger_queries import (
    VERIFY_REPORT_ROWS_MAX,
    LedgeredObject,
    LedgeredObjectsPage,
)
from kassa.store.tables import CHARGES, DISPUTES, REFUNDS, ObjectTable

OBJECT_PAGE_ROWS = 1_000
"""Objects read per statement: a page of documents and their ledger movements in memory."""
OBJECT_PAGES_MAX = 10_000_000
"""Pages read per object table at most: ten billion objects, far beyond any installation."""
REFUND_STATUSES_NOT_MOVING_MONEY = frozenset({"failed", "canceled"})
"""A refund in these statuses returned nothing to the card (or gave it back)."""


class FindingKind(StrEnum):
    UNBALANCED_TRANSACTION = "unbalanced_transaction"
    TOO_FEW_ENTRIES = "too_few_entries"
    BALANCE_DRIFT = "balance_drift"
    NET_DISAGREES_WITH_ENTRIES = "net_disagrees_with_entries"
    FEE_DISAGREES_WITH_ENTRIES = "fee_disagrees_with_entries"
    BUCKET_DISAGREES_WITH_STATUSES = "bucket_disagrees_with_statuses"
    REFUNDED_MORE_THAN_CAPTURED = "refunded_more_than_captured"
    REFUNDS_DISAGREE_WITH_CHARGE = "refunds_disagree_with_charge"
    OBJECT_DISAGREES_WITH_LEDGER = "object_disagrees_with_ledger"
    BALANCE_TRANSACTIONS_DISAGREE = "balance_transactions_disagree"


_MESSAGES = {
    FindingKind.UNBALANCED_TRANSACTION: "{subject}: {currency} entries sum to {found}, not 0",
    FindingKind.TOO_FEW_ENTRIES: "{subject}: has {found} entries; a transaction needs at least 2",
    FindingKind.BALANCE_DRIFT: (
        "{subject}: materialized balance {expected} but its entries sum to {found}"
    ),
    FindingKind.NET_DISAGREES_WITH_ENTRIES: (
        "{subject}: net {expected} {currency}, but its entries move {found} to the "
        "merchant's balance"
    ),
    FindingKind.FEE_DISAGREES_WITH_ENTRIES: (
        "{subject}: fee {expected} {currency}, but its entries move {found} to fees"
    ),
    FindingKind.BUCKET_DISAGREES_WITH_STATUSES: (
        "{subject}: balance {found} but its balance transactions' nets sum to {expected}"
    ),
    FindingKind.REFUNDED_MORE_THAN_CAPTURED: (
        "{subject}: {found} {currency} refunded, more than the {expected} captured"
    ),
    FindingKind.REFUNDS_DISAGREE_WITH_CHARGE: (
        "{subject}: amount_refunded {expected} {currency}, but its refunds sum to {found}"
    ),
    FindingKind.OBJECT_DISAGREES_WITH_LEDGER: (
        "{subject}: should move {expected} {currency} through the card network, but its "
        "ledger transactions move {found}"
    ),
    FindingKind.BALANCE_TRANSACTIONS_DISAGREE: (
        "{subject}: balance transactions {related} are either named by the object or have it "
        "as their source, not both"
    ),
}


@dataclass(frozen=True)
class Finding:
    """One disagreement. `subject` is what it is about: a ledger transaction (`txn_...`),
    a ledger account (`acct_X:pending:usd`) or an API object (`ch_...`)."""

    kind: FindingKind
    subject: str
    account_id: str | None
    """The merchant whose books hold the subject; None for the platform's and external
    ledger accounts, and for entries naming nothing that exists."""
    expected: int | None
    found: int | None
    currency: str | None = None
    related: tuple[str, ...] = ()
    """Other ids the finding names (the balance transactions in dispute)."""

    @property
    def message(self) -> str:
        return _MESSAGES[self.kind].format(
            subject=self.subject,
            expected=_figure(self.expected),
            found=_figure(self.found),
            currency=self.currency or "",
            related=", ".join(self.related),
        )

    def __str__(self) -> str:
        return self.message


def _figure(amount: int | None) -> str:
    return "none" if amount is None else str(amount)


def _merchant(owner: str | None) -> str | None:
    return None if owner in (None, accounts.PLATFORM, accounts.EXTERNAL) else owner


# -- the journal ----------------------------------------------------------------------------


async def journal_findings(tx: Transaction) -> list[Finding]:
    """Every transaction balances per currency, balances are their entries' sums, and each
    balance transaction's net, fee and status agree with its entries."""
    found = [
        Finding(
            FindingKind.UNBALANCED_TRANSACTION,
            u.transaction_id,
            u.account_id,
            0,
            u.total,
            u.currency,
        )
        for u in await tx.unbalanced_ledger_transactions()
    ]
    found += [
        Finding(FindingKind.TOO_FEW_ENTRIES, t.transaction_id, t.account_id, 2, t.entries)
        for t in await tx.ledger_transactions_with_too_few_entries()
    ]
    found += [
        Finding(
            FindingKind.BALANCE_DRIFT,
            d.ledger_account,
            _merchant(d.owner),
            d.materialized,
            d.recomputed,
        )
        for d in await tx.ledger_balance_drift()
    ]
    found += await _transaction_totals_findings(tx)
    balance_buckets = [bucket.name for bucket in accounts.BALANCE_BUCKETS]
    found += [
        Finding(
            FindingKind.BUCKET_DISAGREES_WITH_STATUSES,
            b.ledger_account,
            b.owner,
            b.nets,
            b.balance,
            b.currency,
        )
        for b in await tx.buckets_disagreeing_with_statuses(balance_buckets)
    ]
    return found


async def _transaction_totals_findings(tx: Transaction) -> list[Finding]:
    found = []
    rows = await tx.ledger_transactions_disagreeing_with_entries(
        [bucket.name for bucket in accounts.BALANCE_BUCKETS], accounts.PLATFORM, accounts.FEES
    )
    for t in rows:
        if t.net != t.moved_to_balance:
            found.append(
                Finding(
                    FindingKind.NET_DISAGREES_WITH_ENTRIES,
                    t.transaction_id,
                    t.account_id,
                    t.net,
                    t.moved_to_balance,
                    t.currency,
                )
            )
        if t.fee != t.moved_to_fees:
            found.append(
                Finding(
                    FindingKind.FEE_DISAGREES_WITH_ENTRIES,
                    t.transaction_id,
                    t.account_id,
                    t.fee,
                    t.moved_to_fees,
                    t.currency,
                )
            )
    return found


# -- objects against the journal ----------------------------------------------------------


@dataclass(frozen=True)
class LedgeredKind:
    """A kind of API object that moves money, and what it says it moved: the balance
    transactions it names and the amount (signed as the card network's ledger account
    sees it: funds in are negative) it moved through the card network in its currency."""

    table: ObjectTable
    named_transactions: Callable[[dict[str, Any]], set[str]]
    network_movement: Callable[[dict[str, Any]], int]
    children: ObjectTable | None = None
    child_column: str | None = None


def _charge_transactions(charge: dict[str, Any]) -> set[str]:
    return {t for t in (charge.get("balance_transaction"),) if isinstance(t, str)}


def _refund_transactions(refund: dict[str, Any]) -> set[str]:
    named = (refund.get("balance_transaction"), refund.get("failure_balance_transaction"))
    return {t for t in named if isinstance(t, str)}


def _refund_movement(refund: dict[str, Any]) -> int:
    return 0 if refund.get("status") in REFUND_STATUSES_NOT_MOVING_MONEY else int(refund["amount"])


def _dispute_transactions(dispute: dict[str, Any]) -> set[str]:
    return {str(t["id"]) for t in dispute.get("balance_transactions", [])}


def _dispute_movement(dispute: dict[str, Any]) -> int:
    # A withdrawal's balance transaction has amount -disputed (its fee goes to the
    # platform, not the network), a reinstatement +disputed.
    return -sum(int(t["amount"]) for t in dispute.get("balance_transactions", []))


LEDGERED_KINDS = (
    LedgeredKind(
        CHARGES,
        _charge_transactions,
        lambda charge: -int(charge["amount_captured"]),
        children=REFUNDS,
        child_column="charge",
    ),
    LedgeredKind(REFUNDS, _refund_transactions, _refund_movement),
    LedgeredKind(DISPUTES, _dispute_transactions, _dispute_movement),
)
"""Every object table whose objects the ledger records."""


class _Collected:
    """Findings, at most VERIFY_REPORT_ROWS_MAX of each kind (one is enough to fail)."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self._counts: dict[FindingKind, int] = defaultdict(int)

    def add(self, found: Iterable[Finding]) -> None:
        for finding in found:
            if self._counts[finding.kind] < VERIFY_REPORT_ROWS_MAX:
                self._counts[finding.kind] += 1
                self.findings.append(finding)


async def object_findings(tx: Transaction, page_rows: int = OBJECT_PAGE_ROWS) -> list[Finding]:
    collected = _Collected()
    for kind in LEDGERED_KINDS:
        after_seq = 0
        for _ in range(OBJECT_PAGES_MAX):
            page = LedgeredObjectsPage(
                kind.table, after_seq, page_rows, kind.children, kind.child_column
            )
            objects = await tx.ledgered_objects(page, accounts.CARD_NETWORK)
            for obj in objects:
                collected.add(_object_checks(kind, obj))
            if len(objects) < page_rows:
                break
            after_seq = objects[-1].seq
    return collected.findings


def _object_checks(kind: LedgeredKind, obj: LedgeredObject) -> list[Finding]:
    found = _ledger_checks(kind, obj)
    if kind.table is CHARGES:
        found += _refund_checks(obj)
    return found


def _ledger_checks(kind: LedgeredKind, obj: LedgeredObject) -> list[Finding]:
    currency = str(obj.doc["currency"])
    found = []
    expected = kind.network_movement(obj.doc)
    moved = sum(m.amount for m in obj.movements if m.currency == currency)
    if moved != expected:
        found.append(
            Finding(
                FindingKind.OBJECT_DISAGREES_WITH_LEDGER,
                obj.id,
                obj.account_id,
                expected,
                moved,
                currency,
            )
        )
    named = kind.named_transactions(obj.doc)
    sourced = {m.transaction_id for m in obj.movements if m.visible}
    if named != sourced:
        found.append(
            Finding(
                FindingKind.BALANCE_TRANSACTIONS_DISAGREE,
                obj.id,
                obj.account_id,
                len(named),
                len(sourced),
                related=tuple(sorted(named ^ sourced)),
            )
        )
    return found


def _refund_checks(charge: LedgeredObject) -> list[Finding]:
    """A charge refunds at most what it captured, and its refunds add up to what it says
    it refunded."""
    doc = charge.doc
    currency = str(doc["currency"])
    captured, refunded = int(doc["amount_captured"]), int(doc["amount_refunded"])
    found = []
    if refunded > captured:
        found.append(
            Finding(
                FindingKind.REFUNDED_MORE_THAN_CAPTURED,
                charge.id,
                charge.account_id,
                captured,
                refunded,
                currency,
            )
        )
    refunds_total = sum(_refund_movement(refund) for refund in charge.children)
    if refunds_total != refunded:
        found.append(
            Finding(
                FindingKind.REFUNDS_DISAGREE_WITH_CHARGE,
                charge.id,
                charge.account_id,
                refunded,
                refunds_total,
                currency,
            )
        )
    return found


# -- the report ------------------------------------------------------------------------------


async def ledger_problems(tx: Transaction) -> list[Finding]:
    """Every finding; empty when the ledger and the objects on it are consistent."""
    return await journal_findings(tx) + await object_findings(tx)


@dataclass(frozen=True)
class LedgerReport:
    transactions: int
    entries: int
    accounts: int
    problems: list[Finding]


async def verify_ledger(tx: Transaction) -> LedgerReport:
    transactions, entries, ledger_accounts = await tx.ledger_counts()
    return LedgerReport(transactions, entries, ledger_accounts, await ledger_problems(tx))
