"""The ceiling: the least an ASGI server on SQLite must do to answer the benchmark's requests.

bench/customers.py and bench/payment_intents.py run this app beside `kassa serve`, with the
same wrk scripts, CPU pinning and concurrency, and report every Kassa figure as a ratio of
this one's. It is a bare ASGI app (no framework: the ceiling of "the same work", not of one
framework) on uvicorn with the settings `kassa serve` uses (uvloop, httptools, one process,
no access log), on sqlite3 in WAL mode with synchronous=NORMAL, its connections used on the
event loop thread as Kassa's are. It answers the paths, form bodies and Authorization header
that bench/lua/*.lua send:

- `POST /v1/customers`: parse the form, build the customer (Stripe's fields), serialize it
  (orjson, as Kassa does), INSERT one row with a unique id, answer the JSON once committed.
- `GET /v1/customers/{id}`: SELECT one row by its unique id (and account), answer its doc.
- `GET /v1/customers?limit=N`: SELECT N+1 rows by the (account_id, seq) index, newest
  first, answer N of them in Stripe's list envelope.
- `POST /v1/payment_intents` (confirm=true): INSERT the succeeded intent and its charge,
  in one unit, answer the intent once committed.

Writes are acknowledged only after COMMIT, and commits are grouped the way Kassa's SQLite
store groups them (every unit ready in one event-loop iteration shares one COMMIT): a
ceiling that committed once per request would be one that Kassa could beat for a reason
that has nothing to do with the work. What the ceiling leaves out on purpose (idempotency
records, the request log, events, the ledger, API versions, expansion) is Kassa's own
work, which the ratio is there to price. See bench/README.md.

Run by bench/ceiling.py as `python bench/ceiling_app.py --port P --database PATH ...`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import sqlite3
import sys
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# --- Limits ------------------------------------------------------------------------

# The benchmark's bodies are under 200 bytes; anything larger is refused, unread.
MAX_BODY_BYTES = 64 * 1024
# Stripe's page sizes.
LIST_LIMIT_DEFAULT = 10
LIST_LIMIT_MAX = 100
# As Kassa's store: a writer waits this long for SQLite's lock rather than failing.
BUSY_TIMEOUT_MS = 5000
# Random characters in an object id (Kassa's ids have 24 base62 characters).
ID_RANDOM_BYTES = 12
# Rows per INSERT batch when seeding, and a bound on the whole seed.
SEED_BATCH_ROWS = 10_000
MAX_SEED_ROWS = 10_000_000

LOOPBACK_HOST = "127.0.0.1"

SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    created INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS customers_account_seq ON customers (account_id, seq);
CREATE TABLE IF NOT EXISTS payment_intents (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    created INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS charges (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    payment_intent TEXT NOT NULL,
    created INTEGER NOT NULL,
    doc TEXT NOT NULL
);
"""

INSERT_CUSTOMER = "INSERT INTO customers (id, account_id, created, doc) VALUES (?, ?, ?, ?)"
SELECT_CUSTOMER = "SELECT doc FROM customers WHERE id = ? AND account_id = ?"
SELECT_CUSTOMER_PAGE = "SELECT doc FROM customers WHERE account_id = ? ORDER BY seq DESC LIMIT ?"
INSERT_INTENT = "INSERT INTO payment_intents (id, account_id, created, doc) VALUES (?, ?, ?, ?)"
INSERT_CHARGE = (
    "INSERT INTO charges (id, account_id, payment_intent, created, doc) VALUES (?, ?, ?, ?, ?)"
)

CUSTOMER_PATH = re.compile(r"^/v1/customers/(cus_[A-Za-z0-9]+)$")
JSON_HEADERS = [(b"content-type", b"application/json")]


class BadRequest(Exception):
    """A request the ceiling does not answer with 2xx: (status, message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# --- Database --------------------------------------------------------------------------


def connect(path: str) -> sqlite3.Connection:
    """A connection as Kassa's SQLite store opens one: autocommit, WAL, synchronous=NORMAL."""
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    return connection


def create_schema(connection: sqlite3.Connection) -> None:
    connection.executescript(SCHEMA)


class GroupCommit:
    """Every write unit that runs in one event-loop iteration shares one COMMIT.

    The same scheme as Kassa's SQLite store, kept to its core: the first unit of a batch
    opens the transaction and schedules the COMMIT for the next iteration; a unit's
    response waits for the batch's future, so nothing is acknowledged before it commits.
    Units run without awaiting inside, so no lock is needed.
    """

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        self._batch: asyncio.Future[None] | None = None

    def join(self) -> asyncio.Future[None]:
        if self._batch is None:
            self.connection.execute("BEGIN IMMEDIATE")
            loop = asyncio.get_running_loop()
            self._batch = loop.create_future()
            loop.call_soon(self._commit)
        return self._batch

    def _commit(self) -> None:
        batch, self._batch = self._batch, None
        assert batch is not None
        try:
            self.connection.execute("COMMIT")
        except sqlite3.Error as error:
            self.connection.execute("ROLLBACK")
            batch.set_exception(error)
        else:
            batch.set_result(None)


# --- Objects -----------------------------------------------------------------------------


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(ID_RANDOM_BYTES)}"


def new_customer(email: str | None, name: str | None, created: int) -> dict[str, Any]:
    """Stripe's customer fields, as Kassa answers them, so the JSON is the same size."""
    return {
        "id": new_id("cus"),
        "object": "customer",
        "address": None,
        "balance": 0,
        "business_name": None,
        "created": created,
        "currency": None,
        "customer_account": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": email,
        "individual_name": None,
        "invoice_prefix": secrets.token_hex(4).upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {},
        "name": name,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def new_charge(
    charge_id: str, intent_id: str, amount: int, currency: str, created: int
) -> dict[str, Any]:
    return {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": 0,
        "balance_transaction": new_id("txn"),
        "captured": True,
        "created": created,
        "currency": currency,
        "customer": None,
        "description": None,
        "failure_code": None,
        "failure_message": None,
        "livemode": False,
        "metadata": {},
        "outcome": {"network_status": "approved_by_network", "type": "authorized"},
        "paid": True,
        "payment_intent": intent_id,
        "payment_method": "pm_card_visa",
        "refunded": False,
        "status": "succeeded",
    }


def new_succeeded_intent(
    amount: int, currency: str, payment_method: str, charge_id: str, created: int
) -> dict[str, Any]:
    intent_id = new_id("pi")
    return {
        "id": intent_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_received": amount,
        "capture_method": "automatic",
        "client_secret": f"{intent_id}_secret_{secrets.token_hex(ID_RANDOM_BYTES)}",
        "confirmation_method": "automatic",
        "created": created,
        "currency": currency,
        "customer": None,
        "description": None,
        "last_payment_error": None,
        "latest_charge": charge_id,
        "livemode": False,
        "metadata": {},
        "next_action": None,
        "payment_method": payment_method,
        "allowed_payment_method_types": ["card"],
        "status": "succeeded",
    }


# --- Handlers ------------------------------------------------------------------------------


class Ceiling:
    """The app's state: the account it serves, its key, a writer and a reader connection.

    Two connections, as in Kassa's store: reads must not see a batch before it commits.
    """

    def __init__(self, database: str, account_id: str, secret_key: str) -> None:
        self.account_id = account_id
        self.authorization = f"Bearer {secret_key}".encode()
        writer = connect(database)
        create_schema(writer)
        self.writes = GroupCommit(writer)
        self.reader = connect(database)

    async def create_customer(self, form: dict[str, str]) -> bytes:
        customer = new_customer(form.get("email"), form.get("name"), int(time.time()))
        doc = orjson.dumps(customer)
        done = self.writes.join()
        self.writes.connection.execute(
            INSERT_CUSTOMER, (customer["id"], self.account_id, customer["created"], doc.decode())
        )
        await asyncio.shield(done)
        return doc

    def retrieve_customer(self, customer_id: str) -> bytes:
        row = self.reader.execute(SELECT_CUSTOMER, (customer_id, self.account_id)).fetchone()
        if row is None:
            raise BadRequest(404, f"No such customer: '{customer_id}'")
        return str(row[0]).encode()

    def list_customers(self, query: dict[str, str]) -> bytes:
        limit = parse_limit(query.get("limit"))
        rows = self.reader.execute(SELECT_CUSTOMER_PAGE, (self.account_id, limit + 1)).fetchall()
        docs = [str(row[0]) for row in rows[:limit]]
        has_more = "true" if len(rows) > limit else "false"
        # The stored docs are JSON already: the envelope is joined around them, not re-encoded.
        return (
            f'{{"object":"list","data":[{",".join(docs)}],"has_more":{has_more},'
            f'"url":"/v1/customers"}}'
        ).encode()

    async def confirm_payment_intent(self, form: dict[str, str]) -> bytes:
        amount, currency = parse_amount(form), form.get("currency", "")
        if form.get("confirm") != "true" or not currency:
            raise BadRequest(400, "the ceiling answers confirm=true with a currency only")
        created = int(time.time())
        charge_id = new_id("ch")
        intent = new_succeeded_intent(
            amount, currency, form.get("payment_method", ""), charge_id, created
        )
        charge = new_charge(charge_id, intent["id"], amount, currency, created)
        intent_doc, charge_doc = orjson.dumps(intent), orjson.dumps(charge)
        done = self.writes.join()
        # Two statements: a savepoint keeps a failed second one from leaving the first.
        connection = self.writes.connection
        connection.execute("SAVEPOINT unit")
        try:
            connection.execute(
                INSERT_INTENT, (intent["id"], self.account_id, created, intent_doc.decode())
            )
            connection.execute(
                INSERT_CHARGE,
                (charge["id"], self.account_id, intent["id"], created, charge_doc.decode()),
            )
        except sqlite3.Error:
            connection.execute("ROLLBACK TO unit")
            connection.execute("RELEASE unit")
            raise
        connection.execute("RELEASE unit")
        await asyncio.shield(done)
        return intent_doc

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await answer_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["path"] == "/healthz":
            await self.answer_health(send)
            return
        try:
            status, body = 200, await self.route(scope, receive)
        except BadRequest as error:
            status, body = error.status, error_body(str(error))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*JSON_HEADERS, (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def answer_health(self, send: Send) -> None:
        """As Kassa's /healthz: the instance id it was started with echoed, so that the bench
        knows it is this process that answers on the port (bench_harness.wait_until_ready)."""
        body = b'{"status":"ok"}'
        instance = os.environ.get("KASSA_INSTANCE_ID", "").encode()
        headers = [*JSON_HEADERS, (b"content-length", str(len(body)).encode())]
        if instance:
            headers.append((b"kassa-instance-id", instance))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def route(self, scope: Scope, receive: Receive) -> bytes:
        method, path = scope["method"], scope["path"]
        if header(scope, b"authorization") != self.authorization:
            raise BadRequest(401, "Invalid API Key provided")
        if method == "POST" and path == "/v1/customers":
            return await self.create_customer(await read_form(receive))
        if method == "POST" and path == "/v1/payment_intents":
            return await self.confirm_payment_intent(await read_form(receive))
        if method == "GET" and path == "/v1/customers":
            return self.list_customers(parse_form(scope["query_string"]))
        match = CUSTOMER_PATH.match(path) if method == "GET" else None
        if match is not None:
            return self.retrieve_customer(match.group(1))
        raise BadRequest(404, f"Unrecognized request URL ({method}: {path})")


# --- HTTP helpers ----------------------------------------------------------------------------


def header(scope: Scope, name: bytes) -> bytes | None:
    headers: Iterable[tuple[bytes, bytes]] = scope["headers"]
    for key, value in headers:
        if key == name:
            return value
    return None


async def read_form(receive: Receive) -> dict[str, str]:
    chunks: list[bytes] = []
    size = 0
    # Bounded by MAX_BODY_BYTES: each message adds to `size` or ends the body.
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequest(400, "client disconnected")
        chunk = bytes(message.get("body", b""))
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BadRequest(413, "request body too large")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return parse_form(b"".join(chunks))


def parse_form(raw: bytes) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(raw.decode("latin-1")))


def parse_limit(text: str | None) -> int:
    if text is None:
        return LIST_LIMIT_DEFAULT
    if not text.isdigit() or not 1 <= int(text) <= LIST_LIMIT_MAX:
        raise BadRequest(400, f"limit must be an integer in [1, {LIST_LIMIT_MAX}]")
    return int(text)


def parse_amount(form: dict[str, str]) -> int:
    text = form.get("amount", "")
    if not text.isdigit() or int(text) < 1:
        raise BadRequest(400, "amount must be a positive integer")
    return int(text)


def error_body(message: str) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": "invalid_request_error"}})


async def answer_lifespan(receive: Receive, send: Send) -> None:
    # Two messages at most: startup, then shutdown.
    for _ in range(2):
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


# --- Seeding ----------------------------------------------------------------------------------


def seed_customers(database: str, account_id: str, count: int, ids_file: Path) -> None:
    """Store `count` customers straight into the ceiling's table (no HTTP), ids to ids_file.

    The ceiling's counterpart of `--seed-customers`: the same number of rows, so both
    servers read from tables of the same size.
    """
    if not 0 <= count <= MAX_SEED_ROWS:
        raise ValueError(f"seed count must be in [0, {MAX_SEED_ROWS}]")
    connection = connect(database)
    try:
        create_schema(connection)
        created = int(time.time())
        with ids_file.open("a") as ids:
            for first in range(0, count, SEED_BATCH_ROWS):
                rows = [
                    seed_row(number, account_id, created)
                    for number in range(first, min(first + SEED_BATCH_ROWS, count))
                ]
                connection.execute("BEGIN")
                connection.executemany(INSERT_CUSTOMER, rows)
                connection.execute("COMMIT")
                ids.writelines(row[0] + "\n" for row in rows)
    finally:
        connection.close()


def seed_row(number: int, account_id: str, created: int) -> tuple[str, str, int, str]:
    customer = new_customer(f"seed-{number}@example.test", f"Seed Customer {number}", created)
    return customer["id"], account_id, created, orjson.dumps(customer).decode()


# --- Command line --------------------------------------------------------------------------------


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench/ceiling_app.py",
        description="The benchmark's ceiling: a bare ASGI app on uvicorn and SQLite.",
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database", required=True, help="SQLite file (created if missing)")
    parser.add_argument("--account", required=True, help="the account id its rows belong to")
    parser.add_argument("--secret-key", required=True, help="the one key it accepts")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    import uvicorn

    from kassa.http.protocol import HeadWithBodyProtocol

    args = parse_arguments(sys.argv[1:] if argv is None else argv)
    app = Ceiling(args.database, args.account, args.secret_key)
    print(f"ceiling on http://{LOOPBACK_HOST}:{args.port} using {args.database}", flush=True)
    # The settings of `kassa serve` (kassa/cli.py), so the server is not what differs.
    uvicorn.run(
        app,
        host=LOOPBACK_HOST,
        port=args.port,
        loop="uvloop",
        http=HeadWithBodyProtocol,  # uvicorn's httptools, each head written with its body
        lifespan="on",
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=5,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
