"""Recompute the ledger from its journal, check the API objects against it, and report every
disagreement as a structured `Finding` (behind `kassa ledger verify` and the dashboard's
verify button; the tests run the same check after each scenario).

The journal checks are aggregate queries. The object checks read charges, refunds and
disputes a page at a time, each page in one statement with its ledger movements, so memory
stays bounded on a database of millions of payments.

Customer balances are checked the same way, in two passes: each customer balance transaction
against the ledger (its posting moved minus its `amount` into a customer's credit balance),
then each customer against its transactions (its `balance` is the sum of their amounts in
its currency, and nothing is left in another). Together: a customer's `balance` is minus its
`customer_balance` ledger balance.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable
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
from kassa.store.payout_queries import swept_window
from kassa.store.tables import (
    CHARGES,
    CUSTOMER_BALANCE_TRANSACTIONS,
    CUSTOMERS,
    DISPUTES,
    PAYOUTS,
    REFUNDS,
    ObjectTable,
)

OBJECT_PAGE_ROWS = 1_000
"""Objects read per statement: a page of documents and their ledger movements in memory."""
OBJECT_PAGES_MAX = 10_000_000
"""Pages read per object table at most: ten billion objects, far beyond any installation."""
CUSTOMER_PAGE_ROWS = 100
"""Customers read per statement, each with all its balance transactions' documents (fewer
than other objects: a customer may have hundreds)."""
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
    CREDIT_DISAGREES_WITH_LEDGER = "credit_disagrees_with_ledger"
    CUSTOMER_BALANCE_DISAGREES_WITH_TRANSACTIONS = "customer_balance_disagrees_with_transactions"
    PAYOUT_DISAGREES_WITH_SWEPT = "payout_disagrees_with_swept"


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
        "{subject}: should move {expected} {currency} through the card network (a payout: to "
        "the bank), but its ledger transactions move {found}"
    ),
    FindingKind.BALANCE_TRANSACTIONS_DISAGREE: (
        "{subject}: balance transactions {related} are either named by the object or have it "
        "as their source, not both"
    ),
    FindingKind.CREDIT_DISAGREES_WITH_LEDGER: (
        "{subject}: should move {expected} {currency} into the customer's credit balance on "
        "the ledger (minus its amount), but its ledger transactions move {found}"
    ),
    FindingKind.PAYOUT_DISAGREES_WITH_SWEPT: (
        "{subject}: paid out {expected} {currency}, but the balance transactions it swept "
        "sum to {found}"
    ),
    FindingKind.CUSTOMER_BALANCE_DISAGREES_WITH_TRANSACTIONS: (
        "{subject}: balance {expected} {currency}, but its customer balance transactions in "
        "{currency} sum to {found}"
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
    through: str = accounts.CARD_NETWORK
    """The external bucket `network_movement` counts: the card network, or the bank that
    payouts go to."""


def _charge_transactions(charge: dict[str, Any]) -> set[str]:
    return {t for t in (charge.get("balance_transaction"),) if isinstance(t, str)}


def _refund_transactions(refund: dict[str, Any]) -> set[str]:
    named = (refund.get("balance_transaction"), refund.get("failure_balance_transaction"))
    return {t for t in named if isinstance(t, str)}


def _refund_amount(refund: dict[str, Any]) -> int:
    """What the refund takes off its charge's `amount_refunded`."""
    return 0 if refund.get("status") in REFUND_STATUSES_NOT_MOVING_MONEY else int(refund["amount"])


def _refund_movement(refund: dict[str, Any]) -> int:
    # A refund with no balance transaction released an uncaptured charge's authorization:
    # no money had moved, so none moves back.
    return 0 if refund.get("balance_transaction") is None else _refund_amount(refund)


def _dispute_transactions(dispute: dict[str, Any]) -> set[str]:
    return {str(t["id"]) for t in dispute.get("balance_transactions", [])}


def _dispute_movement(dispute: dict[str, Any]) -> int:
    # A withdrawal's balance transaction has amount -disputed (its fee goes to the
    # platform, not the network), a reinstatement +disputed. A converted charge's dispute
    # moves its own amount through the network in its own currency while its balance
    # transactions count the merchant's: each of those stands for the disputed amount.
    moved = 0
    for t in dispute.get("balance_transactions", []):
        amount = int(t["amount"])
        if t.get("currency", dispute["currency"]) == dispute["currency"]:
            moved -= amount
        else:
            moved += int(dispute["amount"]) if amount < 0 else -int(dispute["amount"])
    return moved


def _payout_transactions(payout: dict[str, Any]) -> set[str]:
    named = (payout.get("balance_transaction"), payout.get("failure_balance_transaction"))
    return {t for t in named if isinstance(t, str)}


def _payout_movement(payout: dict[str, Any]) -> int:
    # Only a paid payout's money reached the bank; a canceled or failed one came back, and
    # one pending or in transit is still in the merchant's `in_transit` bucket.
    return int(payout["amount"]) if payout.get("status") == "paid" else 0


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
    LedgeredKind(PAYOUTS, _payout_transactions, _payout_movement, through=accounts.BANK),
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
                kind.table,
                after_seq,
                page_rows,
                kind.children,
                kind.child_column,
                capture_postings=kind.table is CHARGES,
            )
            objects = await tx.ledgered_objects(page, kind.through)
            for obj in objects:
                collected.add(_object_checks(kind, obj))
                if kind.table is PAYOUTS:
                    collected.add(await _sweep_checks(tx, obj))
            if len(objects) < page_rows:
                break
            after_seq = objects[-1].seq
    return collected.findings


def _object_checks(kind: LedgeredKind, obj: LedgeredObject) -> list[Finding]:
    found = _ledger_checks(kind, obj, 0 if _awaiting_posting(obj) else None)
    if kind.table is CHARGES:
        found += _refund_checks(obj)
    return found


def _awaiting_posting(obj: LedgeredObject) -> bool:
    """A charge captured asynchronously whose posting is still to come
    (`kassa.services.capture_postings`): captured, no balance transaction yet, its posting
    scheduled. No money has moved for it; one with no posting scheduled is a finding."""
    return obj.awaiting_posting and obj.doc.get("balance_transaction") is None


def _ledger_checks(
    kind: LedgeredKind, obj: LedgeredObject, expected_movement: int | None = None
) -> list[Finding]:
    currency = str(obj.doc["currency"])
    found = []
    expected = kind.network_movement(obj.doc) if expected_movement is None else expected_movement
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


async def _sweep_checks(tx: Transaction, payout: LedgeredObject) -> list[Finding]:
    """An automatic payout paid out exactly what it swept (one statement per automatic
    payout: there is about one a day per currency)."""
    window = swept_window(payout.doc, limit=0)
    if window is None:
        return []
    swept = await tx.swept_total(window)
    amount = int(payout.doc["amount"])
    if swept == amount:
        return []
    kind = FindingKind.PAYOUT_DISAGREES_WITH_SWEPT
    currency = str(payout.doc["currency"])
    return [Finding(kind, payout.id, payout.account_id, amount, swept, currency)]


def _refund_checks(charge: LedgeredObject) -> list[Finding]:
    """A charge refunds at most what it captured (an uncaptured one: what it authorized,
    released by a refund), and its refunds add up to what it says it refunded."""
    doc = charge.doc
    currency = str(doc["currency"])
    held = doc.get("captured") is False
    captured = int(doc["amount"] if held else doc["amount_captured"])
    refunded = int(doc["amount_refunded"])
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
    refunds_total = sum(_refund_amount(refund) for refund in charge.children)
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


# -- customer balances --------------------------------------------------------------------


async def customer_balance_findings(
    tx: Transaction, page_rows: int = CUSTOMER_PAGE_ROWS
) -> list[Finding]:
    collected = _Collected()
    async for transaction in _pages(
        tx, LedgeredObjectsPage(CUSTOMER_BALANCE_TRANSACTIONS, 0, 0), page_rows
    ):
        collected.add(_credit_posting_checks(transaction))
    customers = LedgeredObjectsPage(CUSTOMERS, 0, 0, CUSTOMER_BALANCE_TRANSACTIONS, "customer")
    async for customer in _pages(tx, customers, page_rows):
        collected.add(_customer_balance_checks(customer))
    return collected.findings


async def _pages(
    tx: Transaction, shape: LedgeredObjectsPage, page_rows: int
) -> AsyncIterator[LedgeredObject]:
    """Every object of `shape.table` (with its children), with what its ledger transactions
    moved through customers' credit balances, read `page_rows` at a time."""
    after_seq = 0
    for _ in range(OBJECT_PAGES_MAX):
        page = dataclasses.replace(shape, after_seq=after_seq, limit=page_rows)
        objects = await tx.ledgered_objects(page, accounts.CUSTOMER_BALANCE)
        for obj in objects:
            yield obj
        if len(objects) < page_rows:
            return
        after_seq = objects[-1].seq


def _credit_posting_checks(transaction: LedgeredObject) -> list[Finding]:
    """A customer balance transaction's posting moved minus its amount into the customer's
    credit balance, in its currency (and nothing in another)."""
    doc = transaction.doc
    currency = str(doc["currency"])
    moved: dict[str, int] = defaultdict(int)
    for movement in transaction.movements:
        moved[movement.currency] += movement.amount
    expected = {currency: -int(doc["amount"])}
    return [
        Finding(
            FindingKind.CREDIT_DISAGREES_WITH_LEDGER,
            transaction.id,
            transaction.account_id,
            expected.get(code, 0),
            moved.get(code, 0),
            code,
        )
        for code in sorted(set(moved) | set(expected))
        if moved.get(code, 0) != expected.get(code, 0)
    ]


def _customer_balance_checks(customer: LedgeredObject) -> list[Finding]:
    """A customer's balance is the sum of its balance transactions in its currency, and its
    transactions in any other currency sum to nothing."""
    doc = customer.doc
    sums: dict[str | None, int] = defaultdict(int)
    for transaction in customer.children:
        sums[str(transaction["currency"])] += int(transaction["amount"])
    currency = doc.get("currency")
    expected: dict[str | None, int] = {currency: int(doc.get("balance") or 0)}
    return [
        Finding(
            FindingKind.CUSTOMER_BALANCE_DISAGREES_WITH_TRANSACTIONS,
            customer.id,
            customer.account_id,
            expected.get(code, 0),
            sums.get(code, 0),
            code,
        )
        for code in sorted(set(sums) | set(expected), key=str)
        if sums.get(code, 0) != expected.get(code, 0)
    ]


# -- the report ------------------------------------------------------------------------------


async def ledger_problems(tx: Transaction) -> list[Finding]:
    """Every finding; empty when the ledger and the objects on it are consistent."""
    return (
        await journal_findings(tx) + await object_findings(tx) + await customer_balance_findings(tx)
    )


@dataclass(frozen=True)
class LedgerReport:
    transactions: int
    entries: int
    accounts: int
    problems: list[Finding]


async def verify_ledger(tx: Transaction) -> LedgerReport:
    transactions, entries, ledger_accounts = await tx.ledger_counts()
    return LedgerReport(transactions, entries, ledger_accounts, await ledger_problems(tx))
