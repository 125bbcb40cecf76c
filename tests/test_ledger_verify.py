"""`kassa ledger verify` on a fresh database (SQLite and PostgreSQL) written through Kassa's own
store and postings: a consistent ledger (with a charge converted from EUR and a customer's
credit balance) verifies clean and shows the same balance as before the bucket registry; then
each corruption is reported as its own kind of finding, naming its subject and the account
whose books hold it.

Corruptions are written through the store's unchecked insert (what a bug in a posting would
do) and, for a drifted balance, one raw UPDATE: the states verify exists to catch.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

from kassa.clock import FrozenClock
from kassa.ids import new_id
from kassa.ledger import accounts, postings
from kassa.ledger.verify import (
    Finding,
    FindingKind,
    journal_findings,
    ledger_problems,
    object_findings,
)
from kassa.ledger.views import balance_object
from kassa.services.accounts import create_account
from kassa.store import Store, Transaction, migrate
from kassa.store.ledger_queries import LedgerEntry, LedgerTransactionRow
from kassa.store.tables import (
    CHARGES,
    CUSTOMER_BALANCE_TRANSACTIONS,
    CUSTOMERS,
    DISPUTES,
    PAYOUTS,
    REFUNDS,
)
from tests.direct_store import apply_migrations_before, with_store

NOW = 1_767_225_600
VERIFY_TIMEOUT_SECONDS = 120
SMALL_PAGE_ROWS = 2
"""Object pages this small make a handful of objects span several pages."""


@dataclass
class Books:
    account_id: str
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)


def _movement(account_id: str, type_: str, source: str | None, currency: str = "usd") -> Any:
    return postings.Movement(
        account_id=account_id,
        created=NOW,
        type=type_,
        reporting_category=type_,
        source=source,
        currency=currency,
    )


def _charge(charge_id: str, currency: str, captured: int, txn: str | None) -> dict[str, Any]:
    return {
        "id": charge_id,
        "object": "charge",
        "amount": captured,
        "amount_captured": captured,
        "amount_refunded": 0,
        "balance_transaction": txn,
        "created": NOW,
        "currency": currency,
        "customer": None,
        "payment_intent": None,
        "status": "succeeded",
    }


async def _captured(
    tx: Transaction, books: Books, amount: int, presented: postings.Presentment | None = None
) -> dict[str, Any]:
    charge_id = new_id("ch")
    row = await postings.record_charge(
        tx,
        _movement(books.account_id, "charge", charge_id),
        amount=amount,
        fee=amount // 10,
        immediately_available=False,
        presented=presented,
    )
    currency, captured = (
        ("usd", amount) if presented is None else (presented.currency, presented.amount)
    )
    charge = _charge(charge_id, currency, captured, row.id)
    await tx.insert_object(CHARGES, books.account_id, charge)
    return charge


async def _refunded(tx: Transaction, books: Books, charge: dict[str, Any], amount: int) -> None:
    refund_id = new_id("re")
    row = await postings.record_refund(
        tx, _movement(books.account_id, "refund", refund_id), amount=amount
    )
    refund = {
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "balance_transaction": row.id,
        "charge": charge["id"],
        "created": NOW,
        "currency": "usd",
        "payment_intent": None,
        "status": "succeeded",
    }
    await tx.insert_object(REFUNDS, books.account_id, refund)
    charge["amount_refunded"] += amount
    await tx.update_object(CHARGES, books.account_id, charge)


async def _disputed(tx: Transaction, books: Books, charge: dict[str, Any]) -> None:
    dispute_id = new_id("dp")
    row = await postings.record_dispute_withdrawal(
        tx,
        _movement(books.account_id, "adjustment", dispute_id),
        amount=charge["amount_captured"],
        fee=1500,
    )
    dispute = {
        "id": dispute_id,
        "object": "dispute",
        "amount": charge["amount_captured"],
        "balance_transactions": [{"id": row.id, "amount": row.amount}],
        "charge": charge["id"],
        "created": NOW,
        "currency": "usd",
        "payment_intent": None,
    }
    await tx.insert_object(DISPUTES, books.account_id, dispute)


async def _unchecked(
    tx: Transaction,
    account_id: str,
    legs: list[tuple[accounts.LedgerAccount, int]],
    *,
    net: int,
    fee: int = 0,
    status: str = "available",
) -> str:
    """A ledger transaction stored as given: no posting's checks stand in the way."""
    txn_id = new_id("txn")
    row = LedgerTransactionRow(
        id=txn_id,
        account_id=account_id,
        created=NOW,
        type="adjustment",
        visible=True,
        source=None,
        currency="usd",
        amount=net + fee,
        fee=fee,
        net=net,
        fee_details=[],
        available_on=NOW,
        status=status,
        reporting_category="adjustment",
        description=None,
    )
    entries = [
        LedgerEntry(a.name, a.books(account_id), a.bucket.name, a.currency, amount)
        for a, amount in legs
    ]
    await tx.insert_ledger_transaction(row, entries)
    return txn_id


async def _consistent_books(store: Store) -> Books:
    await migrate(store, NOW)
    async with store.write() as tx:
        books = Books((await create_account(tx, FrozenClock(NOW))).account["id"])
        for amount in (1000, 2000, 3000):
            books.objects[f"charge_{amount}"] = await _captured(tx, books, amount)
        await _refunded(tx, books, books.objects["charge_1000"], 300)
        await _refunded(tx, books, books.objects["charge_1000"], 200)
        await _disputed(tx, books, books.objects["charge_3000"])
        # Charged in euros, paid out in dollars: one transaction balanced in each currency.
        books.objects["converted"] = await _captured(
            tx, books, 1100, postings.Presentment(1000, "eur")
        )
        # A customer's credit balance, in the merchant's books but not in its balance.
        customer = accounts.customer_balance(new_id("cus"), "usd")
        available = accounts.merchant(books.account_id, accounts.AVAILABLE, "usd")
        await _unchecked(tx, books.account_id, [(available, -50), (customer, 50)], net=-50)
    return books


async def _corrupt(store: Store, books: Books) -> dict[FindingKind, str]:
    """One corruption of each kind; what each finding's subject must be."""
    account_id = books.account_id
    available = accounts.merchant(account_id, accounts.AVAILABLE, "usd")
    pending = accounts.merchant(account_id, accounts.PENDING, "usd")
    network = accounts.card_network("usd")
    fees = accounts.platform_fees("usd")
    async with store.write() as tx:
        unbalanced = await _unchecked(
            tx, account_id, [(pending, 5), (network, -4)], net=5, status="pending"
        )
        empty = await _unchecked(tx, account_id, [], net=0)
        # Net 9 where the entries moved 10: the available balance then disagrees with the
        # nets of the available balance transactions too.
        wrong_net = await _unchecked(tx, account_id, [(available, 10), (network, -10)], net=9)
        wrong_fee = await _unchecked(
            tx,
            account_id,
            [(pending, 90), (fees, 10), (network, -100)],
            net=90,
            fee=11,
            status="pending",
        )
        await tx.run_script_statement(
            f"UPDATE ledger_balances SET amount = amount + 1 WHERE ledger_account = '{fees.name}'"
        )
        over_refunded = books.objects["charge_2000"] | {"amount_refunded": 2500}
        await tx.update_object(CHARGES, account_id, over_refunded)
        converted = books.objects["converted"] | {"amount_captured": 999}
        await tx.update_object(CHARGES, account_id, converted)
        renamed = books.objects["charge_1000"] | {"balance_transaction": "txn_elsewhere"}
        await tx.update_object(CHARGES, account_id, renamed)
        # A customer balance no transaction explains, and a transaction the ledger never saw.
        unexplained = {"id": new_id("cus"), "created": NOW, "balance": -70, "currency": "usd"}
        await tx.insert_object(CUSTOMERS, account_id, unexplained)
        credited = {"id": new_id("cus"), "created": NOW, "balance": -30, "currency": "usd"}
        await tx.insert_object(CUSTOMERS, account_id, credited)
        unposted = {"id": new_id("cbtxn"), "created": NOW, "amount": -30, "currency": "usd"}
        await tx.insert_object(
            CUSTOMER_BALANCE_TRANSACTIONS, account_id, unposted | {"customer": credited["id"]}
        )
        # An automatic payout of 1 cent that swept nothing.
        short_payout = {
            "id": new_id("po"),
            "created": NOW,
            "object": "payout",
            "amount": 1,
            "currency": "usd",
            "automatic": True,
            "status": "pending",
            "balance_transaction": None,
            "_kassa": {"due_at": None, "swept": {"account_id": account_id}},
        }
        await tx.insert_object(PAYOUTS, account_id, short_payout)
    return {
        FindingKind.UNBALANCED_TRANSACTION: unbalanced,
        FindingKind.TOO_FEW_ENTRIES: empty,
        FindingKind.NET_DISAGREES_WITH_ENTRIES: wrong_net,
        FindingKind.BUCKET_DISAGREES_WITH_STATUSES: available.name,
        FindingKind.FEE_DISAGREES_WITH_ENTRIES: wrong_fee,
        FindingKind.BALANCE_DRIFT: fees.name,
        FindingKind.REFUNDED_MORE_THAN_CAPTURED: over_refunded["id"],
        FindingKind.REFUNDS_DISAGREE_WITH_CHARGE: over_refunded["id"],
        FindingKind.OBJECT_DISAGREES_WITH_LEDGER: converted["id"],
        FindingKind.BALANCE_TRANSACTIONS_DISAGREE: renamed["id"],
        FindingKind.CUSTOMER_BALANCE_DISAGREES_WITH_TRANSACTIONS: unexplained["id"],
        FindingKind.CREDIT_DISAGREES_WITH_LEDGER: unposted["id"],
        FindingKind.PAYOUT_DISAGREES_WITH_SWEPT: short_payout["id"],
    }


async def _findings(store: Store, page_rows: int | None = None) -> list[Finding]:
    async with store.scan() as tx:
        if page_rows is not None:
            return await object_findings(tx, page_rows)
        return await ledger_problems(tx)


def _kassa_ledger_verify(database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kassa", "ledger", "verify", "--database", database_url],
        capture_output=True,
        text=True,
        timeout=VERIFY_TIMEOUT_SECONDS,
        check=False,
    )


def test_consistent_books_verify_clean_and_show_the_same_balance(
    private_database_url: str,
) -> None:
    async def run(store: Store) -> tuple[list[Finding], list[Finding], dict[str, Any], str]:
        books = await _consistent_books(store)
        async with store.read() as tx:
            balance = await balance_object(tx, books.account_id, livemode=False)
        return (
            await _findings(store),
            await _findings(store, SMALL_PAGE_ROWS),
            balance,
            books.account_id,
        )

    findings, paged, balance, account_id = with_store(private_database_url, run)
    assert findings == []
    assert paged == []
    pending = 900 + 1800 + 2700 + 990  # each capture less its 10% fee, the converted one too
    refunds_and_dispute = 300 + 200 + 3000 + 1500
    assert balance == {
        "object": "balance",
        "available": [
            {
                "amount": -refunds_and_dispute - 50,
                "currency": "usd",
                "source_types": {"card": -refunds_and_dispute - 50},
            }
        ],
        "livemode": False,
        "pending": [{"amount": pending, "currency": "usd", "source_types": {"card": pending}}],
    }
    assert account_id.startswith("acct_")
    result = _kassa_ledger_verify(private_database_url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ledger verify OK")


def test_each_corruption_is_reported_with_its_subject(private_database_url: str) -> None:
    async def run(store: Store) -> tuple[Books, dict[FindingKind, str], list[Finding]]:
        books = await _consistent_books(store)
        expected = await _corrupt(store, books)
        return books, expected, await _findings(store)

    books, expected, findings = with_store(private_database_url, run)
    reported = {(f.kind, f.subject) for f in findings}
    for kind, subject in expected.items():
        assert (kind, subject) in reported, (kind, subject, findings)
    assert {f.kind for f in findings} == set(FindingKind)
    by_kind = {f.kind: f for f in findings}
    drift = by_kind[FindingKind.BALANCE_DRIFT]
    fees_posted = 100 + 200 + 300 + 110 + 1500 + 10  # captures, the dispute, the bad fee
    assert (drift.account_id, drift.expected, drift.found) == (None, fees_posted + 1, fees_posted)
    over = by_kind[FindingKind.REFUNDED_MORE_THAN_CAPTURED]
    assert (over.account_id, over.expected, over.found, over.currency) == (
        books.account_id,
        2000,
        2500,
        "usd",
    )
    moved = by_kind[FindingKind.OBJECT_DISAGREES_WITH_LEDGER]
    assert (moved.expected, moved.found, moved.currency) == (-999, -1000, "eur")
    renamed = by_kind[FindingKind.BALANCE_TRANSACTIONS_DISAGREE]
    assert "txn_elsewhere" in renamed.related
    assert all(
        f.account_id == books.account_id for f in findings if f.kind != FindingKind.BALANCE_DRIFT
    )
    for finding in findings:
        assert finding.subject in finding.message

    result = _kassa_ledger_verify(private_database_url)
    assert result.returncode == 1
    problems = [line for line in result.stdout.splitlines() if line.startswith("PROBLEM ")]
    assert problems == [f"PROBLEM {f.message}" for f in findings]
    assert f"ledger verify FAILED: {len(findings)} problems" in result.stdout


BUCKETS_MIGRATION = 7
"""`0007_ledger_buckets`: stores each ledger account's bucket beside its name."""


def test_existing_balances_gain_their_bucket(private_database_url: str) -> None:
    """A database written before the bucket column: the migration reads each bucket from
    the names as they were stored, and the ledger then verifies clean."""
    engine = "sqlite" if private_database_url.startswith("sqlite") else "postgresql"
    names = {
        "acct_1Old:available:usd": ("acct_1Old", "usd", -70),
        "acct_1Old:pending:jpy": ("acct_1Old", "jpy", 500),
        "platform:fees:usd": ("platform", "usd", 30),
        "external:card_network:usd": ("external", "usd", 40),
    }

    async def run(store: Store) -> list[Finding]:
        async with store.write() as tx:
            await apply_migrations_before(tx, engine, BUCKETS_MIGRATION, NOW)
            for name, (owner, currency, amount) in names.items():
                await tx.run_script_statement(
                    "INSERT INTO ledger_balances (ledger_account, owner, currency, amount) "
                    f"VALUES ('{name}', '{owner}', '{currency}', {amount})"
                )
        await migrate(store, NOW)
        async with store.read() as tx:
            return await journal_findings(tx)

    findings = with_store(private_database_url, run)
    # No journal stands behind these balances: each drifts, and the merchant's two (found
    # through the stored bucket, so only if the backfill read it right) disagree with
    # their balance transactions' statuses.
    assert {f.subject for f in findings if f.kind == FindingKind.BALANCE_DRIFT} == set(names)
    assert {
        (f.subject, f.found)
        for f in findings
        if f.kind == FindingKind.BUCKET_DISAGREES_WITH_STATUSES
    } == {("acct_1Old:available:usd", -70), ("acct_1Old:pending:jpy", 500)}
