"""A clean account per test (Kassa's extension): accounts made through the API and in batches
by the CLI, an account reset in one call, and snapshots saved and restored.

Through the official SDK against a real `kassa serve` (SQLite and PostgreSQL): nothing of the
old state is visible after a reset or a restore (objects, events, balance), other accounts are
untouched, keys keep working, the ledger verifies, and refusals are Stripe-shaped 4xx errors
naming the parameter. In process, on both engines: every table of an account's state is
cleared, saved and written back row for row, the shared ledger accounts stay the sum of their
entries, and restored rows keep their list order below later inserts. And the schema: every
table is either part of an account's state or kept on purpose.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
import stripe

from kassa.clock import SystemClock
from kassa.ledger.verify import journal_findings
from kassa.services import account_snapshots
from kassa.services.account_snapshots import SaveSnapshot, SnapshotRef
from kassa.services.context import Context
from kassa.store import Store, Transaction, migrate, open_store
from kassa.store.account_queries import ACCOUNT_TABLES, KEPT_TABLES, LEDGER_SUMS
from kassa.store.capture_posting_queries import ScheduledCapturePosting
from kassa.store.import_queries import ImportedObject
from kassa.store.ledger_queries import LedgerEntry, LedgerTransactionRow
from kassa.store.mail_queries import AttachmentRefRow, AttachmentRow
from kassa.store.meter_event_queries import AlertTrigger, MeterEventRow
from kassa.store.queries import ObjectListQuery
from kassa.store.refund_failure_queries import ScheduledRefundFailure
from kassa.store.request_queries import IdempotencyRecord
from kassa.store.tables import (
    ALL_OBJECT_TABLES,
    CUSTOMERS,
    EMAILS,
    EVENTS,
    INVOICE_ITEMS,
    PRODUCTS,
    SUBSCRIPTIONS,
    WEBHOOK_ENDPOINTS,
    ObjectTable,
)
from kassa.store.webhook_queries import WebhookAttempt
from tests import direct_store
from tests.harness import Account, KassaServer, assert_ledger_whole, create_account, run_coroutine

T = TypeVar("T")
ATTEMPTS_WAIT_SECONDS = 15.0
POLL_SECONDS = 0.05
REFUSED_URL = "http://127.0.0.1:9/hook"
"""Nothing listens on the discard port: a delivery fails at once and is retried minutes later,
so none is in flight when a test resets the account."""


# -- through the SDK ---------------------------------------------------------------------------


def helper(client: stripe.StripeClient, method: str, path: str, **params: Any) -> Any:
    """A Kassa test helper the SDK has no method for, through its raw request."""
    response = client.raw_request(method, path, **params)
    return client.deserialize(response, api_mode="V1")


def reset(client: stripe.StripeClient, account_id: str) -> Any:
    return helper(client, "post", f"/v1/test_helpers/accounts/{account_id}/reset")


def snapshots_path(account_id: str) -> str:
    return f"/v1/test_helpers/accounts/{account_id}/snapshots"


def ids(page: Any) -> list[str]:
    return [item.id for item in page.data]


def balance_amounts(client: stripe.StripeClient) -> dict[str, list[tuple[str, int]]]:
    balance = client.v1.balance.retrieve()
    return {
        "available": sorted((f.currency, f.amount) for f in balance.available),
        "pending": sorted((f.currency, f.amount) for f in balance.pending),
    }


def state(client: stripe.StripeClient) -> dict[str, Any]:
    """What an API user sees of an account: every list in order, and its balance."""
    limit: Any = {"limit": 100}
    v1 = client.v1
    customers = v1.customers.list(params=limit)
    return {
        "customers": ids(customers),
        "customer_emails": [c.email for c in customers.data],
        "customer_balances": {
            c.id: ids(v1.customers.balance_transactions.list(c.id, params=limit))
            for c in customers.data
        },
        "products": ids(v1.products.list(params=limit)),
        "prices": ids(v1.prices.list(params=limit)),
        "payment_intents": ids(v1.payment_intents.list(params=limit)),
        "charges": ids(v1.charges.list(params=limit)),
        "refunds": ids(v1.refunds.list(params=limit)),
        "events": ids(v1.events.list(params=limit)),
        "balance_transactions": ids(v1.balance_transactions.list(params=limit)),
        "webhook_endpoints": ids(v1.webhook_endpoints.list(params=limit)),
        "test_clocks": ids(v1.test_helpers.test_clocks.list(params=limit)),
        "balance": balance_amounts(client),
    }


def populate(client: stripe.StripeClient, tag: str) -> None:
    """Objects of most kinds, money moved (a payment, a refund, customer credit), and webhook
    deliveries with their attempts recorded."""
    v1 = client.v1
    endpoint = v1.webhook_endpoints.create(params={"url": REFUSED_URL, "enabled_events": ["*"]})
    customer = v1.customers.create(params={"email": f"{tag}@example.com"})
    v1.customers.balance_transactions.create(
        customer.id, params={"amount": -500, "currency": "usd"}
    )
    product = v1.products.create(params={"name": f"Gold {tag}"})
    v1.prices.create(params={"product": product.id, "unit_amount": 1200, "currency": "usd"})
    intent = v1.payment_intents.create(
        params={
            "amount": 2000,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": "pm_card_visa",
            "confirm": True,
            "allowed_payment_method_types": ["card"],
        }
    )
    v1.refunds.create(params={"payment_intent": intent.id, "amount": 700})
    v1.test_helpers.test_clocks.create(params={"frozen_time": int(time.time())})
    wait_for_attempts(client, endpoint.id)


def wait_for_attempts(client: stripe.StripeClient, endpoint_id: str) -> None:
    """Until each event has had its first delivery attempt (none is left in flight)."""
    events = len(client.v1.events.list(params={"limit": 100}).data)
    deadline = time.monotonic() + ATTEMPTS_WAIT_SECONDS
    path = f"/v1/webhook_endpoints/{endpoint_id}/webhook_attempts"
    while time.monotonic() < deadline:
        if len(helper(client, "get", path, limit=100).data) >= events:
            return
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"the {events} events' deliveries were not attempted in time")


@pytest.fixture
def other(server: KassaServer) -> tuple[Account, stripe.StripeClient]:
    """A second account, with state of its own, that no call on the first may touch."""
    account = create_account(server.database_url)
    client = server.client(account.secret_key)
    populate(client, "other")
    return account, client


EMPTY_LISTS: dict[str, list[str]] = {
    name: []
    for name in (
        "customers",
        "customer_emails",
        "products",
        "prices",
        "payment_intents",
        "charges",
        "refunds",
        "events",
        "balance_transactions",
        "webhook_endpoints",
        "test_clocks",
    )
}


def test_an_account_made_through_the_api_has_working_keys_and_nothing_else(
    server: KassaServer, client: stripe.StripeClient
) -> None:
    made = helper(
        client, "post", "/v1/test_helpers/accounts", name="Per test", timezone="Europe/Berlin"
    )
    assert made.object == "account"
    assert made.id.startswith("acct_")
    assert made.settings.dashboard.timezone == "Europe/Berlin"
    assert made.secret_key.startswith("sk_test_") and made.publishable_key.startswith("pk_test_")
    fresh = server.client(made.secret_key)
    assert {name: value for name, value in state(fresh).items() if name in EMPTY_LISTS} == (
        EMPTY_LISTS
    )
    customer = fresh.v1.customers.create(params={"email": "new@example.com"})
    assert ids(fresh.v1.customers.list()) == [customer.id]
    assert ids(client.v1.customers.list(params={"email": "new@example.com"})) == []


def test_making_an_account_needs_a_secret_key_and_valid_parameters(
    server: KassaServer, account: Account, client: stripe.StripeClient
) -> None:
    publishable = server.client(account.publishable_key)
    with pytest.raises(stripe.StripeError) as refused:
        helper(publishable, "post", "/v1/test_helpers/accounts")
    assert refused.value.http_status == 401
    for params, param in (
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"name": "x" * 101}, "name"),
        ({"colour": "red"}, "colour"),
    ):
        with pytest.raises(stripe.InvalidRequestError) as invalid:
            helper(client, "post", "/v1/test_helpers/accounts", **params)
        assert invalid.value.http_status == 400
        assert invalid.value.param == param


def test_a_reset_leaves_nothing_of_the_account_and_touches_no_other(
    server: KassaServer,
    account: Account,
    client: stripe.StripeClient,
    other: tuple[Account, stripe.StripeClient],
    ledger_verified: None,
) -> None:
    fresh_balance = balance_amounts(client)
    populate(client, "mine")
    before = state(client)
    assert all(before[name] for name in EMPTY_LISTS), "every kind of object was made"
    old_customer = before["customers"][0]
    others_before = state(other[1])

    reset_account = reset(client, account.id)

    assert reset_account.id == account.id and reset_account.object == "account"
    after = state(client)
    assert {name: after[name] for name in EMPTY_LISTS} == EMPTY_LISTS
    assert after["balance"] == fresh_balance
    with pytest.raises(stripe.InvalidRequestError) as gone:
        client.v1.customers.retrieve(old_customer)
    assert gone.value.http_status == 404
    for event_id in before["events"][:3]:
        with pytest.raises(stripe.InvalidRequestError):
            client.v1.events.retrieve(event_id)
    assert state(other[1]) == others_before
    # The same key keeps working, and the account starts afresh.
    customer = client.v1.customers.create(params={"email": "after@example.com"})
    assert ids(client.v1.customers.list()) == [customer.id]
    assert_ledger_whole(server.database_url)


def test_a_snapshot_restores_the_account_as_it_was_saved(
    server: KassaServer,
    account: Account,
    client: stripe.StripeClient,
    other: tuple[Account, stripe.StripeClient],
    ledger_verified: None,
) -> None:
    populate(client, "catalog")
    saved_state = state(client)
    others_before = state(other[1])
    saved = helper(client, "post", snapshots_path(account.id), name="catalog")
    assert (saved.object, saved.name, saved.account) == ("account_snapshot", "catalog", account.id)
    assert saved.rows > 0

    # Everything changes after the snapshot: new objects, money, a deleted product, an edit.
    v1 = client.v1
    v1.customers.update(saved_state["customers"][0], params={"email": "changed@example.com"})
    v1.products.delete(
        v1.products.create(params={"name": "Temporary"}).id,
    )
    added = v1.customers.create(params={"email": "later@example.com"})
    v1.payment_intents.create(
        params={
            "amount": 999,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "allowed_payment_method_types": ["card"],
        }
    )
    assert state(client) != saved_state
    wait_for_attempts(client, saved_state["webhook_endpoints"][0])

    restored = helper(client, "post", f"{snapshots_path(account.id)}/catalog/restore")

    assert (restored.name, restored.rows) == ("catalog", saved.rows)
    assert state(client) == saved_state
    with pytest.raises(stripe.InvalidRequestError):
        v1.customers.retrieve(added.id)
    assert state(other[1]) == others_before
    # Restored rows keep their order, below what is made next; paging walks them once.
    newest = v1.customers.create(params={"email": "next@example.com"})
    assert ids(v1.customers.list()) == [newest.id, *saved_state["customers"]]
    first_page = v1.customers.list(params={"limit": 1})
    rest = v1.customers.list(params={"starting_after": first_page.data[0].id})
    assert ids(first_page) + ids(rest) == [newest.id, *saved_state["customers"]]
    assert_ledger_whole(server.database_url)
    # A reset keeps the snapshot, and restoring it again gives the same state.
    reset(client, account.id)
    helper(client, "post", f"{snapshots_path(account.id)}/catalog/restore")
    assert state(client) == saved_state


def test_snapshots_are_listed_replaced_and_deleted(
    account: Account, client: stripe.StripeClient
) -> None:
    client.v1.customers.create(params={"email": "one@example.com"})
    helper(client, "post", snapshots_path(account.id), name="one")
    client.v1.customers.create(params={"email": "two@example.com"})
    helper(client, "post", snapshots_path(account.id), name="two")
    listed = helper(client, "get", snapshots_path(account.id))
    assert [s.name for s in listed.data] == ["one", "two"]
    one, two = listed.data
    # A customer, its event, and the idempotency key the SDK sent (its drawn invoice prefix
    # is recorded once used); then twice that, and the first snapshot's own key.
    assert (one.rows, two.rows) == (3, 7)
    assert helper(client, "get", f"{snapshots_path(account.id)}/two").rows == two.rows
    # Saving under a name again replaces that snapshot.
    replaced = helper(client, "post", snapshots_path(account.id), name="one")
    assert replaced.rows == two.rows + 1
    deleted = helper(client, "delete", f"{snapshots_path(account.id)}/one")
    assert (deleted.name, deleted.deleted) == ("one", True)
    assert [s.name for s in helper(client, "get", snapshots_path(account.id)).data] == ["two"]


def test_refusals_are_stripe_shaped_and_name_the_parameter(
    server: KassaServer, account: Account, client: stripe.StripeClient
) -> None:
    stranger = create_account(server.database_url)
    base = snapshots_path(account.id)
    refusals: list[tuple[str, str, dict[str, Any], int, str, str | None]] = [
        ("post", "/v1/test_helpers/accounts/acct_unknown/reset", {}, 404, "id", "resource_missing"),
        # Another account's id, with this account's key: missing, as its objects are.
        (
            "post",
            f"/v1/test_helpers/accounts/{stranger.id}/reset",
            {},
            404,
            "id",
            "resource_missing",
        ),
        ("post", snapshots_path(stranger.id), {"name": "x"}, 404, "id", "resource_missing"),
        ("post", f"{base}/nothing/restore", {}, 404, "name", "resource_missing"),
        ("get", f"{base}/nothing", {}, 404, "name", "resource_missing"),
        ("delete", f"{base}/nothing", {}, 404, "name", "resource_missing"),
        ("post", f"{base}/bad.name/restore", {}, 400, "name", None),
        ("post", base, {"name": "has space"}, 400, "name", None),
        ("post", base, {"name": "x" * 65}, 400, "name", None),
        ("post", base, {}, 400, "name", "parameter_missing"),
        ("post", base, {"name": "ok", "extra": "1"}, 400, "extra", "parameter_unknown"),
    ]
    for method, path, params, status, param, code in refusals:
        with pytest.raises(stripe.InvalidRequestError) as refused:
            helper(client, method, path, **params)
        error = refused.value
        assert (error.http_status, error.param, error.code) == (status, param, code), path
    with pytest.raises(stripe.AuthenticationError):
        reset(server.client(account.publishable_key), account.id)
    # Nothing was touched: the stranger's account can still be used as before.
    assert ids(server.client(stranger.secret_key).v1.customers.list()) == []


def test_an_account_keeps_a_bounded_number_of_snapshots(
    account: Account, client: stripe.StripeClient
) -> None:
    for number in range(account_snapshots.SNAPSHOTS_PER_ACCOUNT_MAX):
        helper(client, "post", snapshots_path(account.id), name=f"s{number}")
    with pytest.raises(stripe.InvalidRequestError) as refused:
        helper(client, "post", snapshots_path(account.id), name="one_more")
    assert (refused.value.http_status, refused.value.param) == (400, "name")
    # Replacing one still works.
    helper(client, "post", snapshots_path(account.id), name="s0")


# -- the CLI ----------------------------------------------------------------------------------


def kassa(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kassa", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_cli_makes_accounts_in_batches_and_resets_one(
    server: KassaServer, client: stripe.StripeClient
) -> None:
    made = kassa(
        "accounts", "create", "--count", "1002", "--json", "--database", server.database_url
    )
    assert made.returncode == 0, made.stderr
    lines = [json.loads(line) for line in made.stdout.splitlines()]
    assert len(lines) == 1002 and len({line["id"] for line in lines}) == 1002
    last = server.client(lines[-1]["secret_key"])
    last.v1.customers.create(params={"email": "cli@example.com"})
    assert len(last.v1.customers.list().data) == 1

    cleared = kassa("accounts", "reset", lines[-1]["id"], "--database", server.database_url)
    assert cleared.returncode == 0, cleared.stderr
    assert last.v1.customers.list().data == []
    unknown = kassa("accounts", "reset", "acct_unknown", "--database", server.database_url)
    assert unknown.returncode == 2
    assert "No such account: 'acct_unknown'" in unknown.stderr
    too_many = kassa("accounts", "create", "--count", "0", "--database", server.database_url)
    assert too_many.returncode == 2 and "--count" in too_many.stderr


# -- in process, on both engines -----------------------------------------------------------------

ACCOUNT_A = "acct_A"
ACCOUNT_B = "acct_B"
COMPARED_TABLES = (
    *(t.name for t in ACCOUNT_TABLES),
    *(c.name for t in ACCOUNT_TABLES for c in t.children),
    LEDGER_SUMS,
)
"""Every table a reset or restore changes (ledger balances: the shared ones too)."""

Dump = dict[str, list[tuple[Any, ...]]]


def dump(database_url: str) -> Dump:
    """Every row of COMPARED_TABLES, without `seq` (a restore gives new ones), sorted."""
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
            return {table: _sqlite_rows(db, table) for table in COMPARED_TABLES}

    async def read() -> Dump:
        db = await asyncpg.connect(database_url)
        try:
            found: Dump = {}
            for table in COMPARED_TABLES:
                records = await db.fetch(f"SELECT * FROM {table}")
                found[table] = sorted(
                    (tuple(v for k, v in r.items() if k != "seq") for r in records), key=repr
                )
            return found
        finally:
            await db.close()

    return run_coroutine(read)


def _sqlite_rows(db: sqlite3.Connection, table: str) -> list[tuple[Any, ...]]:
    cursor = db.execute(f"SELECT * FROM {table}")
    names = [column[0] for column in cursor.description]
    return sorted(
        (tuple(v for k, v in zip(names, row, strict=True) if k != "seq") for row in cursor),
        key=repr,
    )


def ids_in_list_order(database_url: str, account_id: str) -> list[str]:
    sql = "SELECT id FROM customers WHERE account_id = {} ORDER BY seq DESC"
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
            return [row[0] for row in db.execute(sql.format("?"), (account_id,))]

    async def read() -> list[str]:
        db = await asyncpg.connect(database_url)
        try:
            return [r[0] for r in await db.fetch(sql.format("$1"), account_id)]
        finally:
            await db.close()

    return run_coroutine(read)


SEEDED_APART = (CUSTOMERS, PRODUCTS, WEBHOOK_ENDPOINTS, EVENTS, EMAILS)
"""Object tables `seed` writes with rows of their own; every other gets one plain object."""


async def seed(tx: Transaction, account_id: str) -> None:
    """A row in every table of an account's state, through the store's own writes."""
    tag = account_id.removeprefix("acct_")
    await tx.insert_account({"id": account_id, "created": 0})
    for number in range(3):
        customer = {"id": f"cus_{tag}{number}", "object": "customer", "created": number}
        await tx.insert_object(CUSTOMERS, account_id, customer | {"email": f"{number}@x.test"})
    # A product id the API user chose: the same in both accounts.
    await tx.insert_object(PRODUCTS, account_id, {"id": "gold", "created": 0, "active": True})
    for table in ALL_OBJECT_TABLES:
        if table not in SEEDED_APART:
            object_id = "shared" if table.ids_per_account else f"{table.name}_{tag}"
            await tx.insert_object(table, account_id, {"id": object_id, "created": 0})
    failure = ScheduledRefundFailure(fails_at=2, failure_reason="expired_or_canceled_card")
    await tx.schedule_refund_failure(account_id, f"refunds_{tag}", failure, None)
    await tx.schedule_authorization_expiry(account_id, f"charges_{tag}", 3, None)
    posting = ScheduledCapturePosting(posts_at=5, amount=100)
    await tx.schedule_capture_posting(account_id, f"charges_{tag}", posting, None)
    await tx.record_card_setup(account_id, f"payment_methods_{tag}", 4)
    usage = MeterEventRow(f"usage_{tag}", "calls", f"cus_{tag}0", 7, 4, 4, canceled=False)
    await tx.insert_meter_event(account_id, usage)
    await tx.insert_alert_trigger(AlertTrigger(account_id, f"alrt_{tag}", f"cus_{tag}0", 7, 4))
    await tx.claim_invoice_prefix(account_id, f"PFX{tag.upper()}", f"cus_{tag}0")
    await tx.retire_payment_method(account_id, f"payment_methods_{tag}", "detached")
    imported = ImportedObject(external_id="crm-1", object_id=f"cus_{tag}0", created=0)
    await tx.record_imported_objects(account_id, "customers", [imported])
    # Bytes that are no text (an uploaded PDF's): a snapshot keeps them as they are.
    await tx.insert_file_contents(account_id, f"files_{tag}", "application/pdf", b"%PDF-\x00\xff")
    endpoint = f"we_{tag}"
    await tx.insert_object(
        WEBHOOK_ENDPOINTS, account_id, {"id": endpoint, "created": 0, "status": "enabled"}
    )
    await tx.insert_webhook_endpoint_state(endpoint, account_id, f"whsec_{tag}")
    await tx.run_script_statement(
        "INSERT INTO webhook_faults (id, account_id, endpoint_id, type, count, remaining, "
        f"created) VALUES ('wf_{tag}', '{account_id}', '{endpoint}', 'duplicate', 2, 2, 0)"
    )
    for number in range(2):
        event = f"evt_{tag}{number}"
        await tx.insert_object(
            EVENTS,
            account_id,
            {"id": event, "created": number, "type": "customer.created", "data": {"object": {}}},
        )
        delivery = f"whd_{tag}{number}"
        await tx.insert_webhook_deliveries([(delivery, account_id, event, endpoint, 0)])
        await tx.record_webhook_attempt(
            WebhookAttempt(
                delivery + "a", account_id, delivery, event, endpoint, 0, 3, 500, None, ""
            )
        )
    await _seed_mail(tx, account_id, tag)
    await _seed_ledger(tx, account_id, tag)
    await tx.count_payment(account_id, 1, "usd", 0, 2000, True)
    await tx.remember_return_url(account_id, f"pi_{tag}", "https://shop.example/back")
    record = IdempotencyRecord("fp", 0, 0, "req_1", 200, b"{}")
    await tx.save_idempotent_response(account_id, "key-1", record, now_ms=0)


async def _seed_mail(tx: Transaction, account_id: str, tag: str) -> None:
    email = f"em_{tag}"
    await tx.insert_object(
        EMAILS, account_id, {"id": email, "created": 0, "to": "x@x.test", "status": "pending"}
    )
    await tx.insert_email_delivery(email, account_id, 0, 0)
    await tx.insert_email_attachments(email, [AttachmentRow(0, "a.pdf", "application/pdf", b"%")])
    refs = [AttachmentRefRow(1, "b.pdf", "application/pdf", "invoice_pdf", "in_1")]
    await tx.insert_email_attachment_refs(email, refs)


async def _seed_ledger(tx: Transaction, account_id: str, tag: str) -> None:
    """A card payment (fee to the shared platform ledger account) and customer credit."""
    payment = LedgerTransactionRow(
        f"txn_{tag}1", account_id, 0, "charge", True, None, "usd", 2000, 88, 1912, [], 0,
        "pending", "charge", None,
    )  # fmt: skip
    await tx.insert_ledger_transaction(
        payment,
        [
            LedgerEntry("external:card_network:usd", "external", "card_network", "usd", -2000),
            LedgerEntry(f"{account_id}:pending:usd", account_id, "pending", "usd", 1912),
            LedgerEntry("platform:fees:usd", "platform", "fees", "usd", 88),
        ],
    )
    credit = LedgerTransactionRow(
        f"txn_{tag}2", account_id, 0, "adjustment", False, None, "usd", 0, 0, 0, [], 0,
        "available", "customer_balance", None,
    )  # fmt: skip
    granted, held = "credit_granted", "customer_balance"
    await tx.insert_ledger_transaction(
        credit,
        [
            LedgerEntry(f"{account_id}:{granted}:usd", account_id, granted, "usd", 500),
            LedgerEntry(f"cus_{tag}0:{held}:usd", account_id, held, "usd", -500),
        ],
    )  # fmt: skip


def with_store(database_url: str, work: Callable[[Store], Awaitable[T]]) -> T:
    """`direct_store.with_store` on a database migrated first (a private one starts empty)."""

    async def migrated(store: Store) -> T:
        await migrate(store, 0)
        return await work(store)

    return direct_store.with_store(database_url, migrated)


async def in_account(store: Store, account_id: str, operation: Callable[[Context], Any]) -> Any:
    async with store.write() as tx:
        return await operation(Context(account_id=account_id, tx=tx, clock=SystemClock()))


async def assert_ledger_verifies(store: Store) -> None:
    """The journal's checks (the seeded objects are bare: the API tests verify them whole)."""
    async with store.scan() as tx:
        assert await journal_findings(tx) == []


def test_every_table_is_reset_saved_and_restored_row_for_row(private_database_url: str) -> None:
    url = private_database_url

    async def seeded(store: Store, account_id: str) -> None:
        async with store.write() as tx:
            await seed(tx, account_id)

    with_store(url, lambda store: seeded(store, ACCOUNT_B))
    only_b = dump(url)
    with_store(url, lambda store: seeded(store, ACCOUNT_A))
    both = dump(url)
    unseeded = [t for t in COMPARED_TABLES if len(both[t]) <= len(only_b[t])]
    assert unseeded == [], "the seed writes a row of A's into every table"
    list_order = ids_in_list_order(url, ACCOUNT_A)

    async def save_change_restore(store: Store) -> None:
        await assert_ledger_verifies(store)
        saved = await in_account(
            store,
            ACCOUNT_A,
            lambda ctx: account_snapshots.save_snapshot(
                ctx, SaveSnapshot(account=ACCOUNT_A, name="seeded")
            ),
        )
        # A's rows, and what its entries add to the five ledger accounts they touch.
        rows_of_a = sum(len(both[t]) - len(only_b[t]) for t in COMPARED_TABLES if t != LEDGER_SUMS)
        assert saved["rows"] == rows_of_a + 5
        async with store.write() as tx:
            await tx.insert_object(CUSTOMERS, ACCOUNT_A, {"id": "cus_later", "created": 9})
            await tx.mark_object_deleted(CUSTOMERS, ACCOUNT_A, "cus_A1")
        await in_account(
            store,
            ACCOUNT_A,
            lambda ctx: account_snapshots.restore_snapshot(
                ctx, SnapshotRef(account=ACCOUNT_A, name="seeded")
            ),
        )
        await assert_ledger_verifies(store)

    with_store(url, save_change_restore)
    assert dump(url) == both
    assert ids_in_list_order(url, ACCOUNT_A) == list_order

    async def insert_then_reset(store: Store) -> None:
        async with store.write() as tx:
            await tx.insert_object(CUSTOMERS, ACCOUNT_A, {"id": "cus_next", "created": 9})
        assert ids_in_list_order(url, ACCOUNT_A) == ["cus_next", *list_order]
        await in_account(
            store, ACCOUNT_A, lambda ctx: account_snapshots.reset_account(ctx, ACCOUNT_A)
        )
        await assert_ledger_verifies(store)

    with_store(url, insert_then_reset)
    assert dump(url) == only_b


# -- the schema ---------------------------------------------------------------------------------


def test_every_table_is_part_of_an_account_s_state_or_kept_on_purpose(tmp_path: Path) -> None:
    """A new table (or column) must be added to ACCOUNT_TABLES, so that a reset clears it and
    a snapshot saves it, or to KEPT_TABLES with the reason a reset leaves it."""
    path = tmp_path / "kassa.db"
    with_store(f"sqlite:///{path}", lambda store: asyncio.sleep(0))
    declared = {t.name: t.columns for t in ACCOUNT_TABLES} | {
        c.name: c.columns for t in ACCOUNT_TABLES for c in t.children
    }
    with sqlite3.connect(path) as db:
        tables = {
            row[0]
            for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        }
        columns = {
            table: {row[1] for row in db.execute(f"PRAGMA table_info({table})")} - {"seq"}
            for table in declared
        }
    assert not set(declared) & set(KEPT_TABLES)
    assert tables == set(declared) | set(KEPT_TABLES)
    for table, names in declared.items():
        assert set(names) == columns[table], f"{table}: a snapshot saves every column"
        assert len(names) == len(set(names))


def logged_response_body(database_url: str, account_id: str, request_id: str) -> str | None:
    """The request log's copy of a response, once the log has been flushed (every 0.25 s)."""
    for _ in range(100):
        logged = direct_store.logged_request(database_url, account_id, request_id)
        if logged is not None:
            return logged.response_body
        time.sleep(0.05)
    raise AssertionError(f"request {request_id} never reached the request log")


def test_a_new_account_s_keys_are_shown_once_and_stored_nowhere(
    server: KassaServer, account: Account
) -> None:
    with server.http(account.secret_key) as http:
        made = http.post("/v1/test_helpers/accounts", headers={"Idempotency-Key": "one-account"})
        replayed = http.post(
            "/v1/test_helpers/accounts", headers={"Idempotency-Key": "one-account"}
        )
    secret_key = made.json()["secret_key"]
    assert secret_key.startswith("sk_test_")
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json() == {**made.json(), "secret_key": None, "publishable_key": None}
    logged = json.loads(
        logged_response_body(server.database_url, account.id, made.headers["request-id"]) or ""
    )
    assert (logged["id"], logged["secret_key"], logged["publishable_key"]) == (
        made.json()["id"],
        None,
        None,
    )


# -- snapshots saved before a migration -----------------------------------------------------------


def _drop_saved_column(database_url: str, table: str, index: int) -> None:
    """Rewrite the saved rows of `table` without the value at `index`, as a bare list of rows:
    the snapshot as a Kassa before the migration that added that column saved it (before
    chunks named their columns)."""

    def dropped(chunk: Any) -> Any:
        return [row[:index] + row[index + 1 :] for row in chunk["rows"]]

    _rewrite_chunks(database_url, table, dropped)


def _rewrite_chunks(database_url: str, table: str, change: Callable[[Any], Any]) -> None:
    """Replace each saved chunk of `table` by `change(chunk)` (the chunk as JSON)."""

    def rewritten(rows_json: str) -> str:
        return json.dumps(change(json.loads(rows_json)))

    if database_url.startswith("sqlite"):
        db = sqlite3.connect(database_url.removeprefix("sqlite:///"))
        with db:
            for ordinal, rows_json in db.execute(
                "SELECT ordinal, rows_json FROM account_snapshot_chunks WHERE table_name = ?",
                (table,),
            ).fetchall():
                db.execute(
                    "UPDATE account_snapshot_chunks SET rows_json = ? WHERE ordinal = ? "
                    "AND table_name = ?",
                    (rewritten(rows_json), ordinal, table),
                )
        db.close()
        return

    async def rewrite() -> None:
        connection = await asyncpg.connect(database_url)
        try:
            for ordinal, rows_json in await connection.fetch(
                "SELECT ordinal, rows_json FROM account_snapshot_chunks WHERE table_name = $1",
                table,
            ):
                await connection.execute(
                    "UPDATE account_snapshot_chunks SET rows_json = $1 WHERE ordinal = $2 "
                    "AND table_name = $3",
                    rewritten(rows_json),
                    ordinal,
                    table,
                )
        finally:
            await connection.close()

    run_coroutine(rewrite)


def _saved_with(
    url: str, account_id: str, table: ObjectTable, objects: list[dict[str, Any]]
) -> None:
    """`objects` stored in `table`, then the account saved as the snapshot "before"."""

    async def save(store: Store) -> None:
        async with store.write() as tx:
            for obj in objects:
                await tx.insert_object(table, account_id, obj)
        await _save_snapshot(store, account_id, "before")

    with_store(url, save)


async def _restore_snapshot(store: Store, account_id: str, name: str) -> None:
    await in_account(
        store,
        account_id,
        lambda ctx: account_snapshots.restore_snapshot(
            ctx, SnapshotRef(account=account_id, name=name)
        ),
    )


async def _save_snapshot(store: Store, account_id: str, name: str) -> None:
    await in_account(
        store,
        account_id,
        lambda ctx: account_snapshots.save_snapshot(
            ctx, SaveSnapshot(account=account_id, name=name)
        ),
    )


def test_a_restore_has_the_next_start_scan_the_reminders_again(private_database_url: str) -> None:
    """The invoices job's startup scan is skipped under the schedule it last completed with
    (`reminder_scans`); a restored account's invoices may hold another schedule's instants,
    so a restore deletes that record and the next start scans again."""
    url = private_database_url

    async def scanned_then_restored(store: Store) -> tuple[str | None, str | None]:
        async with store.write() as tx:
            await seed(tx, ACCOUNT_A)
            await tx.record_reminder_scan("1:-7,0,7")
        await _save_snapshot(store, ACCOUNT_A, "saved")
        async with store.read() as tx:
            before = await tx.reminder_scan_schedule()
        await in_account(
            store,
            ACCOUNT_A,
            lambda ctx: account_snapshots.restore_snapshot(
                ctx, SnapshotRef(account=ACCOUNT_A, name="saved")
            ),
        )
        async with store.read() as tx:
            return before, await tx.reminder_scan_schedule()

    assert with_store(url, scanned_then_restored) == ("1:-7,0,7", None)


def seeded_and_saved(url: str, account_id: str, name: str) -> None:
    """The account seeded (`seed`), then saved as the snapshot `name`."""

    async def seed_and_save(store: Store) -> None:
        async with store.write() as tx:
            await seed(tx, account_id)
        await _save_snapshot(store, account_id, name)

    with_store(url, seed_and_save)


def test_a_snapshot_restores_a_table_by_column_name(private_database_url: str) -> None:
    """A chunk names its columns, so a table whose columns were reordered, dropped or added
    since the snapshot was saved restores by name: a column the schema no longer has is
    left out, and one the snapshot lacks takes its default (here `test_clock`, NULL)."""
    url = private_database_url

    seeded_and_saved(url, ACCOUNT_A, "saved")
    before = dump(url)["refund_failures"]

    def as_an_older_schema(chunk: Any) -> Any:
        columns = list(chunk["columns"])
        order = list(reversed([name for name in columns if name != "test_clock"]))
        rows = [[row[columns.index(name)] for name in order] + ["gone"] for row in chunk["rows"]]
        return {"columns": [*order, "a_column_since_dropped"], "rows": rows}

    _rewrite_chunks(url, "refund_failures", as_an_older_schema)

    async def restore(store: Store) -> None:
        await in_account(
            store,
            ACCOUNT_A,
            lambda ctx: account_snapshots.restore_snapshot(
                ctx, SnapshotRef(account=ACCOUNT_A, name="saved")
            ),
        )

    with_store(url, restore)
    assert before and dump(url)["refund_failures"] == before


def test_a_snapshot_saved_before_file_contents_were_bytes_restores_them_as_utf8(
    private_database_url: str,
) -> None:
    """Migration 0058 made `file_contents.contents` bytes (uploads), saved in a chunk as
    base64 that the chunk lists; a snapshot saved before holds a report's CSV as text, with
    no such list: restored as its UTF-8 bytes."""
    url = private_database_url

    seeded_and_saved(url, ACCOUNT_A, "saved")

    def as_text(chunk: Any) -> Any:
        assert chunk.pop("base64") == ["contents"]
        at = chunk["columns"].index("contents")
        chunk["rows"] = [[*row[:at], "a,é\n", *row[at + 1 :]] for row in chunk["rows"]]
        return chunk

    _rewrite_chunks(url, "file_contents", as_text)
    with_store(url, lambda store: _restore_snapshot(store, ACCOUNT_A, "saved"))
    restored = [row for row in dump(url)["file_contents"] if row[1] == ACCOUNT_A]
    assert [bytes(row[4]) for row in restored] == ["a,é\n".encode()]


def test_a_snapshot_saved_before_a_column_was_added_restores_with_it(
    private_database_url: str,
) -> None:
    """Migration 0033 added `subscriptions.pending_setup_intent`; a snapshot saved before it
    has one value fewer per subscription. Restore works the column out from the document."""
    url = private_database_url
    account = create_account(url)
    subscription = {"id": "sub_old", "created": 1, "customer": "cus_1", "status": "incomplete"}
    subscription["pending_setup_intent"] = "seti_1"

    _saved_with(url, account.id, SUBSCRIPTIONS, [subscription])
    column = 5 + SUBSCRIPTIONS.filter_columns.index("pending_setup_intent")
    _drop_saved_column(url, "subscriptions", column)

    async def restore_and_find() -> list[str]:
        store = await open_store(url)
        try:
            return await _restore_and_find(store)
        finally:
            await store.close()

    async def _restore_and_find(store: Store) -> list[str]:
        await _restore_snapshot(store, account.id, "before")
        async with store.read() as tx:
            query = ObjectListQuery(limit=2, equals={"pending_setup_intent": "seti_1"})
            page = await tx.list_objects(SUBSCRIPTIONS, account.id, query)
        return [str(found["id"]) for found in page.objects]

    assert run_coroutine(restore_and_find) == ["sub_old"]


@pytest.mark.parametrize("saved_with_column", [True, False], ids=["after_0053", "before_0053"])
def test_a_snapshot_saved_before_period_items_were_flagged_restores_them_flagged(
    private_database_url: str, saved_with_column: bool
) -> None:
    """Migration 0054 marked a subscription's period charges in their documents
    (`_kassa.period_item`), where the `period_item` column now comes from. A snapshot saved
    before has documents without the mark: restore marks those the saved column marks, or,
    saved before 0053 added the column, those 0053 marked (naming their subscription item,
    not prorations)."""
    url = private_database_url
    account = create_account(url)
    parent = {"subscription_details": {"subscription": "sub_1", "subscription_item": "si_1"}}
    period = {"id": "ii_period", "created": 1, "customer": "cus_1", "parent": parent}
    proration = {**period, "id": "ii_proration", "proration": True}

    _saved_with(url, account.id, INVOICE_ITEMS, [period, proration])

    def as_saved_then(chunk: Any) -> Any:
        columns = list(chunk["columns"])
        marked, doc = columns.index("period_item"), columns.index("doc")
        rows = [list(row) for row in chunk["rows"]]
        for row in rows:
            row[marked] = True if json.loads(row[doc])["id"] == "ii_period" else None
        if saved_with_column:
            return {"columns": columns, "rows": rows}
        kept = [i for i, name in enumerate(columns) if name != "period_item"]
        return {"columns": [columns[i] for i in kept], "rows": [[r[i] for i in kept] for r in rows]}

    _rewrite_chunks(url, "invoiceitems", as_saved_then)

    async def restore_and_read(store: Store) -> tuple[list[str], Any]:
        await _restore_snapshot(store, account.id, "before")
        async with store.read() as tx:
            query = ObjectListQuery(limit=3, nulls={"period_item": True})
            page = await tx.list_objects(INVOICE_ITEMS, account.id, query)
            found = await tx.get_object(INVOICE_ITEMS, account.id, "ii_period", lock=False)
        return [str(o["id"]) for o in page.objects], found

    shown, found = direct_store.with_store(url, restore_and_read)
    assert shown == ["ii_proration"]
    assert found is not None and found[0]["_kassa"] == {"period_item": True}
