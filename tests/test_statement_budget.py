"""The statement budget: how many SQL statements and commits each request type costs on the
request path, written down so that the cost cannot grow unnoticed (issue 11).

The benchmarks in bench/ tell how fast; this test tells how much work, without timing, so it
cannot flake. Each request below goes through the real API app, built by `kassa.runtime` as
`kassa serve` builds it, on a fresh database, while the engines' own tracing (sqlite3's trace
callback, asyncpg's query loggers: the stores' `on_statement`) records every statement the
store's connections run. Each statement is counted as one of:

- reads: SELECT (row locks, and PostgreSQL's advisory locks, included);
- writes: INSERT, UPDATE, DELETE. On SQLite an `executemany` runs, and is counted as, one
  statement per row; on PostgreSQL it is one round trip and counted once;
- commits: COMMIT. On SQLite one group commit per batch of write units (a request measured
  alone is its own batch);
- control: the rest of the transaction machinery, each a step of work and on PostgreSQL a
  round trip: BEGIN, SAVEPOINT, RELEASE, ROLLBACK, and the pool's reset (`RESET ALL` and
  friends) that asyncpg runs each time a connection goes back to the pool.

Measured in the steady state: the API key is already in the authenticator's cache (the first
request with a key reads it once), no background job runs, and the request log's writer is built
but not started, so its flush (off the request path by design: one write per batch of requests,
every 0.25 s) never falls inside a measured request and is not in the budget.

The budget is asserted exactly. A change that adds a statement fails here and must raise the
budget on purpose; one that removes statements fails too, so that the budget is lowered and
stays the truth. The failure prints every request type's expected and found counts, and the
statements each differing request ran.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import NamedTuple

import httpx

from kassa.asgi import AsgiApp
from kassa.clock import Clock, SystemClock
from kassa.config import DB_POOL_SIZE_DEFAULT, Settings
from kassa.http.metrics import RequestMetrics
from kassa.runtime import Server
from kassa.services import accounts
from kassa.store import Store, migrate, sqlite_path_from_url
from kassa.store.postgres import PostgresStore
from kassa.store.sqlite import SqliteStore
from tests import loopback
from tests.harness import run_coroutine


class Counts(NamedTuple):
    reads: int
    writes: int
    commits: int
    control: int

    def __str__(self) -> str:
        return f"{self.reads}r {self.writes}w {self.commits}c {self.control}x"


# The budgets: request type -> Counts(reads, writes, commits, control). Each comment says what
# the statements are. SQLite runs every write unit as a SAVEPOINT inside a group commit
# (BEGIN IMMEDIATE, SAVEPOINT, RELEASE, COMMIT: 3 control + 1 commit); PostgreSQL takes a pooled
# connection per unit (BEGIN and COMMIT for a write unit, and the pool's reset on release).

SQLITE_BUDGET: dict[str, Counts] = {
    # Key lookup; customer, event, stored response; webhook endpoints (for the event). Its
    # drawn invoice prefix is recorded when first used (`customer_invoice_numbering`).
    "customer create (key)": Counts(reads=2, writes=3, commits=1, control=3),
    # Customer, event; webhook endpoints.
    "customer create (no key)": Counts(reads=1, writes=2, commits=1, control=3),
    # The customer by id, on the reader connection: no transaction.
    "customer retrieve": Counts(reads=1, writes=0, commits=0, control=0),
    # One page (limit + 1 rows, for has_more).
    "customer list (limit 10)": Counts(reads=1, writes=0, commits=0, control=0),
    # Key lookup, customer (locked), webhook endpoints, its drafts (the name changed: they
    # show it, `draft_customer_details`; none here); customer, event, stored response.
    "customer update (key)": Counts(reads=4, writes=3, commits=1, control=3),
    # Key lookup, webhook endpoints; payment method, charge, payment intent, an event for each
    # (one statement each), payment volume (dashboard counter), the capture's posting to come
    # (asynchronous capture, Stripe's default: `capture_postings`; the ledger transaction, its
    # entries and balances are written a moment later, "balance retrieve, a capture to
    # post"), the payment method retired (used with no customer: Stripe uses it no more),
    # stored response.
    "payment intent create+confirm (key)": Counts(reads=2, writes=10, commits=1, control=3),
    "payment intent retrieve": Counts(reads=1, writes=0, commits=0, control=0),
    # Key lookup, payment intent and charge (locked), webhook endpoints; ledger transaction,
    # 2 ledger entries, 2 ledger balances, refund, charge, 2 events (one statement each),
    # stored response.
    "refund create (key)": Counts(reads=4, writes=10, commits=1, control=3),
    # A write unit although a GET: the account's captures still to post, then settling due
    # pending funds (none here) read first; then the balances. With one capture to post
    # (the measured payment's): its row taken, the charge, balance settings (the settlement
    # delay), ledger transaction, 3 ledger entries and 3 ledger balances (one statement per
    # row), the charge, webhook endpoints and `charge.updated`: what the `capture_postings`
    # job does per capture.
    "balance retrieve, a capture to post": Counts(reads=6, writes=10, commits=1, control=3),
    "balance retrieve": Counts(reads=3, writes=0, commits=1, control=3),
    "event list (limit 10)": Counts(reads=1, writes=0, commits=0, control=0),
    "customer retrieve, 404": Counts(reads=1, writes=0, commits=0, control=0),
    # With a key, the parameters are parsed after the key lookup (a replay or a key reused
    # with other parameters answers first): then ROLLBACK TO the savepoint (the extra control
    # statement) and an empty group commit.
    "customer create, 400 (key)": Counts(reads=1, writes=0, commits=1, control=4),
    # Without one, the parameters are parsed before any unit of work opens: nothing at all.
    "customer create, 400 (no key)": Counts(reads=0, writes=0, commits=0, control=0),
    # The invoice chain (`bench/invoices.py`): four requests, one after the other.
    # Key lookup, customer, webhook endpoints; item, event, stored response.
    "invoice item create (key)": Counts(reads=3, writes=3, commits=1, control=3),
    # Key lookup, customer, account (the default currency), the customer's pending items,
    # the item (locked), webhook endpoints (the customer's balance: the customer as the unit
    # read it, `Transaction._known_rows`); item, invoice, event, stored response.
    # Invoice create and finalize read the customer's tax ids (`customer_tax_ids`).
    "invoice create (key)": Counts(reads=7, writes=4, commits=1, control=3),
    # Key lookup, invoice (locked), customer (its balance, as the draft's lines are worked out
    # a last time; then locked for the number, its balance applied, the new PaymentIntent's:
    # as the unit knows it), items, the number taken?, webhook endpoints; customer (its
    # invoice sequence), payment intent, invoice payment, 2 events (`invoice.finalized`,
    # `payment_intent.created`), invoice, stored response.
    # The customer's first number: its drawn prefix's owner read, then the prefix claimed.
    # Its first invoice also gives the customer its currency (stored with its invoice
    # sequence, one write for both) and announces `customer.updated`: one event more, once
    # per customer (a customer with a currency, every renewal's, writes no more).
    # The customer's spendable billing credit grants (`credit_application`): one indexed
    # read, finding none here (a customer with grants reads and writes them too).
    "invoice finalize (key)": Counts(reads=9, writes=9, commits=1, control=3),
    # Key lookup, invoice (locked), customer (its default payment method; the receipt's
    # address later, as the unit knows it), payment intent (retrieved; confirmed as the unit
    # knows it), payment method, webhook endpoints, invoice payment; charge, payment volume,
    # the capture's posting to come (posted a moment later, as a PaymentIntent's),
    # payment intent, invoice payment, invoice, 5 events (`charge.succeeded`,
    # `payment_intent.succeeded`, `invoice_payment.paid`, `invoice.paid`,
    # `invoice.payment_succeeded`: written together at the unit's end, `held_inserts`, one
    # statement per row here), stored response.
    "invoice pay (key)": Counts(reads=7, writes=12, commits=1, control=3),
}

POSTGRES_BUDGET: dict[str, Counts] = {
    # A read unit runs its statement alone (no reset query as its connection goes back to
    # the pool: Kassa keeps no session state); a write unit adds BEGIN (1 control) and
    # COMMIT. An idempotent write is one transaction: the key's advisory lock (a SELECT) and
    # lookup, then as on SQLite. A unit's first row for an account draws the seq ticket in
    # its own INSERT (`kassa.store.seq_order`); a list reads the account's settled bound
    # before its page (one SELECT).
    "customer create (key)": Counts(reads=3, writes=3, commits=1, control=1),
    "customer create (no key)": Counts(reads=1, writes=2, commits=1, control=1),
    "customer retrieve": Counts(reads=1, writes=0, commits=0, control=0),
    "customer list (limit 10)": Counts(reads=2, writes=0, commits=0, control=0),
    "customer update (key)": Counts(reads=5, writes=3, commits=1, control=1),
    # As on SQLite; the events after the unit's first row are one `executemany`
    # (`held_inserts`).
    "payment intent create+confirm (key)": Counts(reads=3, writes=8, commits=1, control=1),
    "payment intent retrieve": Counts(reads=1, writes=0, commits=0, control=0),
    # As on SQLite, ledger entries, balances and the 2 events one `executemany` each.
    "refund create (key)": Counts(reads=5, writes=7, commits=1, control=1),
    # As on SQLite; the 3 ledger entries and the 3 balances one `executemany` each.
    "balance retrieve, a capture to post": Counts(reads=6, writes=6, commits=1, control=1),
    "balance retrieve": Counts(reads=3, writes=0, commits=1, control=1),
    "event list (limit 10)": Counts(reads=2, writes=0, commits=0, control=0),
    "customer retrieve, 404": Counts(reads=1, writes=0, commits=0, control=0),
    # BEGIN, advisory lock, key lookup, ROLLBACK.
    "customer create, 400 (key)": Counts(reads=2, writes=0, commits=0, control=2),
    # Parsed before any unit of work opens: nothing at all.
    "customer create, 400 (no key)": Counts(reads=0, writes=0, commits=0, control=0),
    # As on SQLite, plus the key's advisory lock; the ledger entries and balances one
    # `executemany` each.
    "invoice item create (key)": Counts(reads=4, writes=3, commits=1, control=1),
    # A row read without a lock is read again (another writer may change it meanwhile): the
    # customer's balance on invoice create, its default payment method, the receipt's
    # address and whether its `delinquent` flag needs clearing on pay (a cached copy would
    # miss another writer's change: a retry failing meanwhile). The 5 events of a payment
    # are one `executemany`. Invoice create and finalize read the customer's tax ids
    # (`customer_tax_ids`).
    "invoice create (key)": Counts(reads=9, writes=4, commits=1, control=1),
    # Finalize reads the customer's spendable billing credit grants: one indexed read.
    "invoice finalize (key)": Counts(reads=11, writes=8, commits=1, control=1),
    "invoice pay (key)": Counts(reads=10, writes=8, commits=1, control=1),
}

BUDGETS = {"sqlite": SQLITE_BUDGET, "postgresql": POSTGRES_BUDGET}
BUDGET_NAMES = {"sqlite": "SQLITE_BUDGET", "postgresql": "POSTGRES_BUDGET"}

LISTED_CUSTOMERS = 11
"""Customers made before measuring: a list with limit 10 then fills its page and has more."""
PAID_AMOUNT = 2_000
REFUNDED_AMOUNT = 500
SETTLING_YIELDS = 3
"""Event-loop turns after a response before its statements are read: asyncpg tells its
query loggers one loop iteration after each statement."""
SQL_PREVIEW_CHARS = 150
API_BASE_URL = "http://kassa.test"


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    params: dict[str, str] | None = None
    idempotency_key: bool = False
    """Send an `Idempotency-Key`, as the SDKs do on every POST."""
    status: int = 200


@dataclass(frozen=True)
class Made:
    """What the unmeasured setup created for the measured requests to use."""

    customer_id: str
    intent_id: str
    billed_customer_id: str
    """A customer with a default payment method (`invoice_settings`), for the invoice chain."""


def calls_to_measure(made: Made) -> dict[str, Call]:
    customer = f"/v1/customers/{made.customer_id}"
    intent = f"/v1/payment_intents/{made.intent_id}"
    new_customer = {"email": "budget@example.com", "name": "Budget"}
    return {
        "customer create (key)": Call("POST", "/v1/customers", new_customer, True),
        "customer create (no key)": Call("POST", "/v1/customers", new_customer),
        "customer retrieve": Call("GET", customer),
        "customer list (limit 10)": Call("GET", "/v1/customers", {"limit": "10"}),
        "customer update (key)": Call("POST", customer, {"name": "Renamed"}, True),
        "payment intent create+confirm (key)": Call(
            "POST", "/v1/payment_intents", _confirmed_intent_params(), True
        ),
        "payment intent retrieve": Call("GET", intent),
        "refund create (key)": Call(
            "POST",
            "/v1/refunds",
            {"payment_intent": made.intent_id, "amount": str(REFUNDED_AMOUNT)},
            True,
        ),
        # The measured payment's capture is still to be posted: this read posts it first.
        "balance retrieve, a capture to post": Call("GET", "/v1/balance"),
        "balance retrieve": Call("GET", "/v1/balance"),
        "event list (limit 10)": Call("GET", "/v1/events", {"limit": "10"}),
        "customer retrieve, 404": Call("GET", "/v1/customers/cus_missing", status=404),
        "customer create, 400 (key)": Call(
            "POST", "/v1/customers", {"balance": "not-a-number"}, True, status=400
        ),
        "customer create, 400 (no key)": Call(
            "POST", "/v1/customers", {"balance": "not-a-number"}, status=400
        ),
    }


def _confirmed_intent_params() -> dict[str, str]:
    return {
        "amount": str(PAID_AMOUNT),
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "confirm": "true",
        "allowed_payment_method_types[]": "card",
    }


# --- counting -----------------------------------------------------------------------------------

_CONTROL_WORDS = frozenset({"BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK"})
_WRITE_WORDS = frozenset({"INSERT", "UPDATE", "DELETE", "REPLACE"})
_POOL_RESET_MARK = "RESET ALL"
"""In the statement asyncpg runs when a connection goes back to its pool (which begins with a
SELECT, so it must be told apart from the reads)."""


def kind_of(sql: str) -> str:
    """ "read", "write", "commit" or "control"; a statement of another kind fails the test,
    so that a new kind is given a place in the budget rather than counted silently."""
    text = sql.lstrip().upper()
    first_word = text.split(None, 1)[0].rstrip(";") if text else ""
    if _POOL_RESET_MARK in text or first_word in _CONTROL_WORDS:
        return "control"
    if first_word in ("COMMIT", "END"):
        return "commit"
    if first_word in _WRITE_WORDS:
        return "write"
    if first_word in ("SELECT", "WITH"):
        # Our WITH statements only read (a page of rows); one that writes would need a look.
        return "read"
    raise AssertionError(f"a statement of no counted kind ran on the request path: {sql!r}")


def counts_of(statements: list[str]) -> Counts:
    kinds = [kind_of(sql) for sql in statements]
    return Counts(
        kinds.count("read"), kinds.count("write"), kinds.count("commit"), kinds.count("control")
    )


class StatementTrace:
    """Every statement the store's connections run, as the engines' tracing reports them."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def record(self, sql: str) -> None:
        self.statements.append(sql)

    def take(self) -> list[str]:
        taken, self.statements = self.statements, []
        return taken


@dataclass(frozen=True)
class Measured:
    counts: Counts
    statements: list[str]


# --- the app, as `kassa serve` builds it ----------------------------------------------------------


async def open_traced_store(database_url: str, trace: StatementTrace, clock: Clock) -> Store:
    """The store `kassa serve` opens (`kassa.database.open_migrated_store`), with tracing."""
    store: Store
    if database_url.startswith("sqlite:"):
        store = SqliteStore(sqlite_path_from_url(database_url), on_statement=trace.record)
    else:
        store = await PostgresStore.connect(
            database_url, on_statement=trace.record, pool_size=DB_POOL_SIZE_DEFAULT
        )
    await migrate(store, int(clock.now()))
    return store


async def build_api(store: Store, clock: Clock) -> AsgiApp:
    """The API app `kassa serve` runs. `Server._build_apps` builds what `Server.start` builds,
    without starting what must not run here: the background jobs and the request log's
    flushing task."""
    server = Server(Settings(database_url="unused"), clock, RequestMetrics())
    routes, _request_log = await server._build_apps(store)
    return routes.api


async def new_secret_key(store: Store, clock: Clock) -> str:
    async with store.write() as tx:
        new = await accounts.create_account(tx, clock, "Statement budget")
    return new.secret_key


# --- requests ----------------------------------------------------------------------------------


async def send(api: httpx.AsyncClient, call: Call) -> httpx.Response:
    headers = {"Idempotency-Key": str(uuid.uuid4())} if call.idempotency_key else {}
    if call.method == "GET":
        response = await api.get(call.path, params=call.params, headers=headers)
    else:
        response = await api.request(call.method, call.path, data=call.params, headers=headers)
    assert response.status_code == call.status, f"{call}: {response.text}"
    return response


async def make_setup(api: httpx.AsyncClient) -> Made:
    """Unmeasured: what the measured requests read, refund and page through. Its first request
    also puts the API key in the authenticator's cache."""
    customer_id = ""
    for _ in range(LISTED_CUSTOMERS):
        created = await send(api, Call("POST", "/v1/customers", {"name": "Listed"}, True))
        customer_id = created.json()["id"]
    paid = await send(api, Call("POST", "/v1/payment_intents", _confirmed_intent_params(), True))
    assert paid.json()["status"] == "succeeded", paid.text
    # Its capture is posted a moment later (asynchronous capture): a read of the balance posts
    # it now, so that the measured refund of it refunds a posted charge.
    await send(api, Call("GET", "/v1/balance"))
    billed = await send(
        api,
        Call(
            "POST",
            "/v1/customers",
            {
                "payment_method": "pm_card_visa",
                "invoice_settings[default_payment_method]": "pm_card_visa",
            },
            True,
        ),
    )
    return Made(
        customer_id=customer_id, intent_id=paid.json()["id"], billed_customer_id=billed.json()["id"]
    )


async def measure(api: httpx.AsyncClient, trace: StatementTrace, call: Call) -> Measured:
    measured, _response = await measure_answered(api, trace, call)
    return measured


async def measure_answered(
    api: httpx.AsyncClient, trace: StatementTrace, call: Call
) -> tuple[Measured, httpx.Response]:
    trace.take()
    response = await send(api, call)
    for _ in range(SETTLING_YIELDS):
        await asyncio.sleep(0)
    statements = without_settle_polls(trace.take())
    return Measured(counts_of(statements), statements), response


async def measure_invoice_chain(
    api: httpx.AsyncClient, trace: StatementTrace, made: Made
) -> dict[str, Measured]:
    """The four requests `bench/invoices.py` sends for one invoice (one line item,
    `charge_automatically`), in its order: each acts on what the one before made."""
    customer = made.billed_customer_id
    item, _ = await measure_answered(
        api,
        trace,
        Call(
            "POST",
            "/v1/invoiceitems",
            {"customer": customer, "amount": str(PAID_AMOUNT), "currency": "usd"},
            True,
        ),
    )
    invoice_params = {
        "customer": customer,
        "collection_method": "charge_automatically",
        "auto_advance": "false",
        "pending_invoice_items_behavior": "include",
    }
    create, created = await measure_answered(
        api, trace, Call("POST", "/v1/invoices", invoice_params, True)
    )
    invoice = f"/v1/invoices/{created.json()['id']}"
    finalize = await measure(api, trace, Call("POST", f"{invoice}/finalize", {}, True))
    pay, paid = await measure_answered(api, trace, Call("POST", f"{invoice}/pay", {}, True))
    assert paid.json()["status"] == "paid", paid.text
    return {
        "invoice item create (key)": item,
        "invoice create (key)": create,
        "invoice finalize (key)": finalize,
        "invoice pay (key)": pay,
    }


SETTLE_POLL_MARK = "pg_locks"
"""In the text of PostgreSQL's settled-bound read, which a list repeats while an older writer
of the account is still open."""


def without_settle_polls(statements: list[str]) -> list[str]:
    """The statements with repeats of one settle poll counted once. On PostgreSQL a list reads
    the account's settled bound again while a writer holding an older ticket is still open:
    how often depends on timing (the webhook worker writes for the same account), not on the
    code measured."""
    kept: list[str] = []
    for sql in statements:
        if kept and sql == kept[-1] and SETTLE_POLL_MARK in sql:
            continue
        kept.append(sql)
    return kept


async def measure_every_call(database_url: str) -> tuple[str, dict[str, Measured]]:
    clock = SystemClock()
    trace = StatementTrace()
    store = await open_traced_store(database_url, trace, clock)
    try:
        app = await build_api(store, clock)
        secret_key = await new_secret_key(store, clock)
        transport = httpx.ASGITransport(app=app)
        async with loopback.AsyncClient(
            transport=transport, base_url=API_BASE_URL, auth=(secret_key, "")
        ) as api:
            made = await make_setup(api)
            measured = {
                name: await measure(api, trace, call)
                for name, call in calls_to_measure(made).items()
            }
            measured.update(await measure_invoice_chain(api, trace, made))
    finally:
        await store.close()
    return store.engine, measured


# --- the report --------------------------------------------------------------------------------


def budget_table(budget: dict[str, Counts], found: dict[str, Measured]) -> str:
    names = list(dict.fromkeys([*found, *budget]))
    width = max(len(name) for name in names)
    lines = [
        f"{'request type':<{width}}  {'expected':<16}  found   (r/w/c/x: reads, "
        "writes, commits, control)"
    ]
    for name in names:
        expected = budget.get(name)
        measured = found.get(name)
        mark = "" if expected is not None and measured and expected == measured.counts else "  <--"
        lines.append(
            f"{name:<{width}}  {expected or 'none'!s:<16}  "
            f"{measured.counts if measured else 'not measured'!s}{mark}"
        )
    return "\n".join(lines)


def statement_listing(name: str, measured: Measured) -> str:
    lines = [f"{name}: {measured.counts}"]
    for number, sql in enumerate(measured.statements, start=1):
        flat = " ".join(sql.split())
        lines.append(f"  {number:>2}. {kind_of(sql):<7} {_truncated(flat)}")
    return "\n".join(lines)


def _truncated(text: str) -> str:
    if len(text) <= SQL_PREVIEW_CHARS:
        return text
    return text[: SQL_PREVIEW_CHARS - 3] + "..."


def differing(budget: dict[str, Counts], found: dict[str, Measured]) -> list[str]:
    return [
        name
        for name in dict.fromkeys([*found, *budget])
        if name not in found or budget.get(name) != found[name].counts
    ]


def failure_report(engine: str, budget: dict[str, Counts], found: dict[str, Measured]) -> str:
    names = differing(budget, found)
    listings = [statement_listing(name, found[name]) for name in names if name in found]
    return "\n\n".join(
        [
            f"The {engine} statement budget no longer matches what the requests run. If the "
            f"change is meant (a statement added on purpose, or one removed), update "
            f"{BUDGET_NAMES[engine]} in tests/test_statement_budget.py, comments included.",
            budget_table(budget, found),
            "Statements run by the differing requests:",
            *listings,
        ]
    )


def _run(database_url: str) -> tuple[str, dict[str, Measured]]:
    started = time.monotonic()
    engine, found = run_coroutine(lambda: measure_every_call(database_url))
    print(f"{engine}: measured in {time.monotonic() - started:.1f} s")
    return engine, found


def test_each_request_type_runs_the_statements_its_budget_says(
    private_database_url: str,
) -> None:
    engine, found = _run(private_database_url)
    budget = BUDGETS[engine]
    print(budget_table(budget, found))
    assert not differing(budget, found), failure_report(engine, budget, found)


def test_counting_tells_reads_writes_commits_and_control_apart() -> None:
    statements = [
        "BEGIN IMMEDIATE",
        "SAVEPOINT unit",
        "SELECT id FROM customers WHERE id = 'cus_1'",
        "INSERT INTO customers (id) VALUES ('cus_2')",
        "UPDATE customers SET doc = '{}' WHERE id = 'cus_2'",
        "DELETE FROM idempotency_keys WHERE key = 'k'",
        "RELEASE unit",
        "COMMIT",
        "SELECT pg_advisory_unlock_all();\nCLOSE ALL;\nUNLISTEN *;\nRESET ALL;",
        "BEGIN;",
        "COMMIT;",
    ]
    assert counts_of(statements) == Counts(reads=1, writes=3, commits=2, control=5)
