"""Seed a database for bench/dashboard.py: one account with many payments, quickly.

Real document shapes first: a scratch `kassa serve` on a throwaway SQLite file takes one
payment of each kind through the official stripe SDK (succeeded, partly and fully refunded,
declined, uncaptured, canceled) plus a few reads, so every document, event and request-log
row is one Kassa itself wrote. Those are then cloned, with new ids, times, amounts, currencies
and customers, and written in large batches through Kassa's own store code into the target
database (a fresh SQLite file, or --database URL): `tx.insert_object` (which fills the indexed
filter columns from the document), the ledger's own `postings.record_charge` and
`record_refund` (so `kassa ledger verify` passes), the dashboard's own `count_new_charge`
(what counts every new charge, so the home chart's counters agree with the charges),
`tx.insert_request_log`, and the webhook outbox's delivery and attempt rows. No SQL is
written here.

Rows go in in creation order, batch after batch, so every table's `seq` grows with `created`,
as it does when a server takes payments one after the other.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import dataclasses
import datetime
import itertools
import random
import re
import string
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import orjson
import stripe
from bench_harness import (
    Account,
    BenchError,
    CpuPlan,
    create_account,
    running_server,
    sqlite_url,
)
from stripe.params import PaymentIntentCreateParams

from kassa import business_days, money
from kassa.clock import FrozenClock
from kassa.dashboard.views.home import count_new_charge
from kassa.ids import OBJECT_ID_RANDOM_CHARS
from kassa.ledger import postings
from kassa.services import webhook_endpoints
from kassa.services.context import Context, PaymentConfig
from kassa.store import Store, Transaction, open_store
from kassa.store.dashboard_queries import RequestLogFilter
from kassa.store.queries import ObjectListQuery
from kassa.store.request_queries import RequestLogEntry
from kassa.store.tables import CHARGES, CUSTOMERS, EVENTS, PAYMENT_INTENTS, PAYMENT_METHODS, REFUNDS
from kassa.store.webhook_queries import WebhookAttempt

# --- What a seed holds (per 1,000,000 payments, scaled with --payments) ---------------------

PAYMENTS_DEFAULT = 1_000_000
PER_MILLION_PAYMENTS = {"customers": 50_000, "events": 100_000, "request_log": 200_000}
CUSTOMERS_MIN = 100
HEAVY_CUSTOMERS = 20
HEAVY_SHARE = 0.30
"""Share of payments made by the few heavy customers (thousands of payments each)."""
HISTORY_DAYS = 90
DAY_SECONDS = 86_400
HISTORY_END_MARGIN_S = 60
KIND_WEIGHTS = (
    ("succeeded", 0.81),
    ("refunded_partial", 0.02),
    ("refunded_full", 0.02),
    ("failed", 0.08),
    ("requires_capture", 0.04),
    ("canceled", 0.03),
)
"""Payment kinds: 85% succeed (a few of them later refunded), 8% are declined (the intent
back at requires_payment_method), 4% wait for capture, 3% are canceled."""
CAPTURED_KINDS = frozenset({"succeeded", "refunded_partial", "refunded_full"})
EUR_SHARE = 0.10
AMOUNT_MEDIAN_MINOR = 4_000
AMOUNT_SIGMA = 1.0
AMOUNT_MIN_MINOR = 100
AMOUNT_MAX_MINOR = 500_000
PARTIAL_REFUND_SHARE_MIN = 0.1
PARTIAL_REFUND_SHARE_MAX = 0.9
GENERIC_LOG_SHARE = 0.3
"""Per payment in the request log's window: chance of one more unrelated request (a list, a
customer created, a 404)."""
WEBHOOK_RETRY_SHARE = 0.03
"""Deliveries whose first attempt got a 500 and whose retry a minute later succeeded."""
WEBHOOK_RETRY_DELAY_MS = 60_000
WEBHOOK_DURATION_MS = (15, 250)
RANDOM_SEED = 5_000_000

# --- The template payments (taken through the API on a scratch server) -----------------------

TEMPLATE_AMOUNT = 98_765
TEMPLATE_REFUND_AMOUNT = 12_345
"""Amounts no other number in a document equals, so they can be found and replaced."""
TEMPLATE_EMAIL = "template.customer@bench.example"
TEMPLATE_NAME = "Template Customer"
DECLINING_CARD = "pm_card_chargeDeclined"
TEMPLATE_MOMENT_WINDOW_S = 600
"""Unix times this close to a template payment's creation are its own (its `created`, a
`canceled_at`); others (a card's expiry, an `available_on`) are kept as they are."""
_UNIX_TIME = re.compile(r"(?<![0-9])\d{10}(?![0-9])")
ENDPOINTS = (
    ("http://127.0.0.1:9/bench/all-events", ("*",)),
    (
        "http://127.0.0.1:9/bench/failures",
        ("charge.failed", "charge.refunded", "payment_intent.payment_failed"),
    ),
)
"""Webhook endpoints of the seeded account (port 9 discards; nothing is ever pending)."""

# --- Batches and progress --------------------------------------------------------------------

PAYMENT_BATCH = 10_000
"""Payments per write unit (one commit): a commit writes every page the batch dirtied, and
the random-position index pages (ids, customers) are dirtied by many payments of a batch."""
CUSTOMER_BATCH = 5_000
PROGRESS_INTERVAL_S = 2.0
SEED_PAGE_CACHE_KIB = 1_048_576
"""SQLite page cache of the seeding connection (1 GiB): a million payments' random-position
index pages (ids, customers, ledger lines by transaction) are several hundred MiB, and a
smaller cache evicts and re-reads them all the time."""
TEMPLATE_READ_LIMIT = 100
REFUND_ENTRIES = 2
"""A refund's ledger transaction: out of the merchant's balance, back to the network."""

_TOKEN = re.compile(
    r"(?<![A-Za-z0-9_.@])(?:"
    r"(?P<id>[a-z]{2,7}_(?=[A-Za-z0-9]*[A-Z0-9])[A-Za-z0-9]{10,})"
    r"|(?P<uuid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    r"|(?P<number>\d{5,10})"
    r"|(?P<word>usd|http://127\.0\.0\.1:\d+|template\.customer@bench\.example|Template Customer)"
    r")(?![A-Za-z0-9])"
)
"""What a clone replaces in a template's JSON: object ids (random base62 with an upper-case
letter or digit, unlike field names), idempotency keys, timestamps and the template amounts,
the currency, the scratch server's URL, the template customer's email and name."""


@dataclasses.dataclass(frozen=True)
class SeedPlan:
    payments: int
    customers: int
    events: int
    request_log: int

    @classmethod
    def scaled(cls, payments: int, **explicit: int | None) -> SeedPlan:
        """Counts proportional to `payments` unless given."""
        counts = {
            name: explicit.get(name) or round(per_million * payments / PAYMENTS_DEFAULT)
            for name, per_million in PER_MILLION_PAYMENTS.items()
        }
        counts["customers"] = max(CUSTOMERS_MIN, counts["customers"])
        return cls(payments=payments, **counts)

    def as_json(self) -> dict[str, int]:
        return dataclasses.asdict(self)


# --- Templates -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LogTemplate:
    entry: RequestLogEntry
    offset_ms: int
    """Its time after the template payment's creation."""


@dataclasses.dataclass(frozen=True)
class PaymentTemplate:
    kind: str
    created: int
    intent: str
    charge: str
    charge_id: str
    payment_method_id: str
    refund: str | None
    refund_id: str | None
    refund_description: str | None
    charge_txn: str | None
    refund_txn: str | None
    events: list[str]
    event_types: list[str]
    log_rows: list[LogTemplate]
    moments: frozenset[int]
    """Every unix time in its documents (all written within seconds of its creation)."""


@dataclasses.dataclass(frozen=True)
class Templates:
    customer: str
    customer_id: str
    payment_method: str
    payment_method_id: str
    declining_payment_method_id: str
    payments: dict[str, PaymentTemplate]
    generic_log: list[LogTemplate]
    scratch_url: str


def dumps(doc: Any) -> str:
    return orjson.dumps(doc).decode()


def make_templates(kassa: Path, scratch_dir: Path, ready_timeout: float) -> Templates:
    """One payment of each kind through the API of a scratch server, read back from its store."""
    scratch_dir.mkdir(parents=True, exist_ok=True)
    url = sqlite_url(scratch_dir / "templates.db")
    account = create_account(kassa, url)
    log_path = scratch_dir / "templates-server.log"
    unpinned = CpuPlan(server=None, load=None)
    with running_server(kassa, url, log_path, unpinned, ready_timeout, account.secret_key) as s:
        made = take_template_payments(s.base_url, account.secret_key)
    return asyncio.run(read_templates(url, account.id, made, s.base_url))


@dataclasses.dataclass(frozen=True)
class TemplateIds:
    customer: str
    card: str
    intents: dict[str, str]


def take_template_payments(base_url: str, secret_key: str) -> TemplateIds:
    client = stripe.StripeClient(
        secret_key, base_addresses={"api": base_url}, max_network_retries=0
    )
    customer = client.v1.customers.create(params={"email": TEMPLATE_EMAIL, "name": TEMPLATE_NAME})
    card = attached_card(client, customer.id, "tok_visa")
    base: PaymentIntentCreateParams = {
        "amount": TEMPLATE_AMOUNT,
        "currency": "usd",
        "customer": customer.id,
        "confirm": True,
        "allowed_payment_method_types": ["card"],
    }
    paid: PaymentIntentCreateParams = {**base, "payment_method": card}
    manual: PaymentIntentCreateParams = {**paid, "capture_method": "manual"}
    intents = client.v1.payment_intents
    made = {
        "succeeded": intents.create(params=paid).id,
        "refunded_partial": intents.create(params=paid).id,
        "refunded_full": intents.create(params=paid).id,
        "requires_capture": intents.create(params=manual).id,
        "canceled": intents.create(params=manual).id,
    }
    client.v1.refunds.create(
        params={"payment_intent": made["refunded_partial"], "amount": TEMPLATE_REFUND_AMOUNT}
    )
    client.v1.refunds.create(params={"payment_intent": made["refunded_full"]})
    intents.cancel(made["canceled"])
    try:
        # Stripe refuses to attach this card, so it is sent as the test id it is.
        intents.create(params={**base, "payment_method": DECLINING_CARD})
        raise BenchError("the declining test card was accepted")
    except stripe.CardError as error:
        # The decline names the intent it left at requires_payment_method.
        body = cast(dict[str, Any], error.json_body or {})
        made["failed"] = str(body["error"]["payment_intent"]["id"])
    take_template_reads(client, made["succeeded"], customer.id)
    return TemplateIds(customer.id, card, made)


def attached_card(client: stripe.StripeClient, customer_id: str, token: str) -> str:
    method = client.v1.payment_methods.create(params={"type": "card", "card": {"token": token}})
    client.v1.payment_methods.attach(method.id, params={"customer": customer_id})
    return str(method.id)


def take_template_reads(client: stripe.StripeClient, intent_id: str, customer_id: str) -> None:
    """Requests a dashboard's user makes besides payments: they fill the request log."""
    client.v1.payment_intents.retrieve(intent_id)
    client.v1.payment_intents.list(params={"limit": 10})
    client.v1.customers.retrieve(customer_id)
    # The 404 is the point: failures belong in the log too.
    with contextlib.suppress(stripe.InvalidRequestError):
        client.v1.payment_intents.retrieve("pi_bench0Missing0")


async def read_templates(url: str, account_id: str, made: TemplateIds, scratch: str) -> Templates:
    store = await open_store(url)
    try:
        async with store.read() as tx:
            customer = await must_get(tx, CUSTOMERS, account_id, made.customer)
            card = await must_get(tx, PAYMENT_METHODS, account_id, made.card)
            events = await tx.list_objects(
                EVENTS, account_id, ObjectListQuery(limit=TEMPLATE_READ_LIMIT)
            )
            logged = await tx.search_request_log(
                account_id, RequestLogFilter(), TEMPLATE_READ_LIMIT
            )
            oldest_first_events = list(reversed(events.objects))
            log = [RequestLogEntry(*row_fields(row)) for row in reversed(logged)]
            payments = {
                kind: await read_payment(tx, account_id, kind, intent_id, oldest_first_events)
                for kind, intent_id in made.intents.items()
            }
    finally:
        await store.close()
    owned, generic = split_log(log, payments, made.intents)
    for kind, rows in owned.items():
        payments[kind] = dataclasses.replace(
            payments[kind], log_rows=[relative(row, payments[kind].created) for row in rows]
        )
    anchor = payments["succeeded"].created
    return Templates(
        customer=dumps(customer),
        customer_id=made.customer,
        payment_method=dumps(card),
        payment_method_id=made.card,
        declining_payment_method_id=payments["failed"].payment_method_id,
        payments=payments,
        generic_log=[relative(row, anchor) for row in generic],
        scratch_url=scratch,
    )


def row_fields(row: Any) -> tuple[Any, ...]:
    """A LoggedRequest's fields in RequestLogEntry's order."""
    return (
        row.request_id,
        None,
        row.created_ms,
        row.method,
        row.path,
        row.route,
        row.status,
        row.duration_us,
        row.idempotency_key,
        row.source_ip,
        row.request_body,
        row.response_body,
    )


def relative(entry: RequestLogEntry, created: int) -> LogTemplate:
    return LogTemplate(entry, entry.created_ms - created * 1000)


async def must_get(tx: Transaction, table: Any, account_id: str, object_id: str) -> dict[str, Any]:
    found = await tx.get_object(table, account_id, object_id)
    if found is None:
        raise BenchError(f"template object {object_id} is missing from the scratch store")
    return found[0]


async def read_payment(
    tx: Transaction, account_id: str, kind: str, intent_id: str, events: list[dict[str, Any]]
) -> PaymentTemplate:
    intent = await must_get(tx, PAYMENT_INTENTS, account_id, intent_id)
    charge = await must_get(tx, CHARGES, account_id, intent["latest_charge"])
    refunds = await tx.list_objects(
        REFUNDS, account_id, ObjectListQuery(limit=1, equals={"payment_intent": intent_id})
    )
    refund = refunds.objects[0] if refunds.objects else None
    refund_txn = refund["balance_transaction"] if refund else None
    refund_row = await tx.get_ledger_transaction(account_id, refund_txn) if refund_txn else None
    own_ids = {intent_id, charge["id"], *([refund["id"]] if refund else [])}
    own_events = [e for e in events if e["data"]["object"]["id"] in own_ids]
    texts = [dumps(doc) for doc in (intent, charge, refund, *own_events) if doc is not None]
    return PaymentTemplate(
        kind=kind,
        created=int(intent["created"]),
        intent=dumps(intent),
        charge=dumps(charge),
        charge_id=charge["id"],
        payment_method_id=charge["payment_method"],
        refund=dumps(refund) if refund else None,
        refund_id=refund["id"] if refund else None,
        refund_description=refund_row.description if refund_row else None,
        charge_txn=charge["balance_transaction"],
        refund_txn=refund_txn,
        events=[dumps(e) for e in own_events],
        event_types=[e["type"] for e in own_events],
        log_rows=[],
        moments=moments_in(texts, int(intent["created"])),
    )


def split_log(
    log: list[RequestLogEntry], payments: dict[str, PaymentTemplate], intents: dict[str, str]
) -> tuple[dict[str, list[RequestLogEntry]], list[RequestLogEntry]]:
    """Each request of one template payment goes with it (named by its path or parameters,
    or, for a create, by its response alone); the rest are generic requests."""
    owned: dict[str, list[RequestLogEntry]] = {kind: [] for kind in payments}
    generic: list[RequestLogEntry] = []
    for entry in log:
        asked = f"{entry.path} {entry.request_body or ''}"
        kinds = [k for k, pi in intents.items() if pi in asked]
        if not kinds:
            kinds = [k for k, pi in intents.items() if pi in (entry.response_body or "")]
        if len(kinds) == 1:
            owned[kinds[0]].append(entry)
        else:
            generic.append(entry)
    return owned, generic


# --- Cloning ---------------------------------------------------------------------------------


class CompiledTemplate:
    """A template split once into literal text and the tokens between, so that a clone is a
    join rather than a regular-expression pass over the whole document."""

    __slots__ = ("literals", "tokens")

    def __init__(self, text: str) -> None:
        self.literals: list[str] = []
        self.tokens: list[tuple[str, str | None]] = []
        last = 0
        for match in _TOKEN.finditer(text):
            self.literals.append(text[last : match.start()])
            self.tokens.append((match.group(0), match.lastgroup))
            last = match.end()
        self.literals.append(text[last:])

    def render(self, mapping: dict[str, str]) -> str:
        for token, kind in self.tokens:
            if token not in mapping:
                mapping[token] = fresh_value(token, kind)
        values = [mapping[token] for token, _ in self.tokens]
        values.append("")
        return "".join(itertools.chain.from_iterable(zip(self.literals, values, strict=True)))


_COMPILED: dict[str, CompiledTemplate] = {}


def clone_text(template: str, mapping: dict[str, str]) -> str:
    """The template with every token replaced as `mapping` says; an id or key not in it gets
    a fresh value (remembered, so all of one payment's documents agree)."""
    compiled = _COMPILED.get(template)
    if compiled is None:
        compiled = _COMPILED[template] = CompiledTemplate(template)
    return compiled.render(mapping)


def fresh_value(token: str, kind: str | None) -> str:
    if kind == "id":
        return fast_id(token.split("_", 1)[0])
    if kind == "uuid":
        return str(uuid.uuid4())
    return token


_ID_RANDOM = random.Random()
_BYTE_TO_BASE62 = bytes((string.digits + string.ascii_letters).encode() * 5)[:256]
"""Maps each random byte to a base62 character (slightly unevenly; ids need no secrecy)."""


def fast_id(prefix: str) -> str:
    """An id shaped like kassa.ids.new_id's, several times cheaper (a million payments need
    millions of ids)."""
    chars = _ID_RANDOM.randbytes(OBJECT_ID_RANDOM_CHARS).translate(_BYTE_TO_BASE62)
    return f"{prefix}_{chars.decode()}"


def clone_doc(template: str, mapping: dict[str, str]) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(clone_text(template, mapping))
    return doc


def clone_log(template: LogTemplate, mapping: dict[str, str], created_ms: int) -> RequestLogEntry:
    entry = template.entry
    return dataclasses.replace(
        entry,
        request_id=clone_text(entry.request_id, mapping),
        created_ms=created_ms,
        path=clone_text(entry.path, mapping),
        idempotency_key=clone_text(entry.idempotency_key, mapping)
        if entry.idempotency_key
        else None,
        request_body=clone_text(entry.request_body, mapping) if entry.request_body else None,
        response_body=clone_text(entry.response_body, mapping) if entry.response_body else None,
    )


# --- What to write ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Customer:
    id: str
    payment_method_id: str
    email: str


@dataclasses.dataclass(frozen=True)
class PaymentSpec:
    index: int
    kind: str
    created: int
    amount: int
    currency: str
    customer: Customer
    with_events: bool
    with_log: bool
    generic_log: LogTemplate | None


class Progress:
    """Rows written and the rate, on stderr every PROGRESS_INTERVAL_S."""

    def __init__(self, label: str, total: int) -> None:
        self.label = label
        self.total = total
        self.started = time.monotonic()
        self.last_print = self.started
        self.rows: Counter[str] = Counter()

    def update(self, done: int, rows: Counter[str], *, final: bool = False) -> None:
        self.rows.update(rows)
        now = time.monotonic()
        if not final and now - self.last_print < PROGRESS_INTERVAL_S:
            return
        self.last_print = now
        elapsed = max(now - self.started, 1e-9)
        rate = done / elapsed
        eta = (self.total - done) / rate if rate else 0.0
        print(
            f"  {self.label}: {done:,}/{self.total:,} ({done / max(self.total, 1):.0%}) "
            f"{rate:,.0f}/s, {sum(self.rows.values()) / elapsed:,.0f} rows/s, "
            f"{'done in ' + format(elapsed, '.1f') + 's' if final else f'ETA {eta:,.0f}s'}",
            file=sys.stderr,
            flush=True,
        )


class Seeder:
    """Clones the templates into `store` for `account_id`, batch after batch."""

    def __init__(self, store: Store, account_id: str, templates: Templates, plan: SeedPlan) -> None:
        self.store = store
        self.account_id = account_id
        self.templates = templates
        self.plan = plan
        self.rng = random.Random(RANDOM_SEED)
        self.payments_config = PaymentConfig()
        self.history_end = int(time.time()) - HISTORY_END_MARGIN_S
        self.history_start = self.history_end - HISTORY_DAYS * DAY_SECONDS
        self.customers: list[Customer] = []
        self.endpoints: list[tuple[str, tuple[str, ...]]] = []
        self.facts: dict[str, Any] = {}
        """Ids and values the benchmark builds its pages from."""
        self.rows: Counter[str] = Counter()
        self.events_written = 0
        self._kinds = [kind for kind, _ in KIND_WEIGHTS]
        self._cumulative = list(itertools.accumulate(w for _, w in KIND_WEIGHTS))
        self._available_on: dict[int, int] = {}

    async def run(self) -> Counter[str]:
        if self.store.engine == "sqlite":
            async with self.store.write() as tx:
                await tx.run_script_statement(f"PRAGMA cache_size = -{SEED_PAGE_CACHE_KIB}")
        await self.create_endpoints()
        await self.write_customers()
        await self.write_payments()
        self.facts["history"] = {"start": self.history_start, "end": self.history_end}
        return self.rows

    async def create_endpoints(self) -> None:
        """Through the service the API uses, created before the oldest payment."""
        clock = FrozenClock(self.history_start - DAY_SECONDS)
        async with self.store.write() as tx:
            ctx = Context(account_id=self.account_id, tx=tx, clock=clock)
            for url, types in ENDPOINTS:
                request = webhook_endpoints.CreateWebhookEndpoint(
                    url=url, enabled_events=list(types), description="bench"
                )
                endpoint = await webhook_endpoints.create_webhook_endpoint(ctx, request)
                self.endpoints.append((str(endpoint["id"]), types))
        self.facts["endpoint_ids"] = [endpoint_id for endpoint_id, _ in self.endpoints]

    # -- customers --------------------------------------------------------------------------

    async def write_customers(self) -> None:
        count = self.plan.customers
        progress = Progress("customers", count)
        first_created = self.history_start - HISTORY_DAYS * DAY_SECONDS
        span = HISTORY_DAYS * DAY_SECONDS
        for start in range(0, count, CUSTOMER_BATCH):
            rows: Counter[str] = Counter()
            async with self.store.write() as tx:
                for index in range(start, min(start + CUSTOMER_BATCH, count)):
                    created = first_created + span * index // count
                    await self.write_customer(tx, index, created)
                    rows.update(("customers", "payment_methods"))
            self.rows.update(rows)
            progress.update(min(start + CUSTOMER_BATCH, count), rows)
        progress.update(count, Counter(), final=True)
        heavy = self.customers[0]
        self.facts["heavy_customer"] = {"id": heavy.id, "email": heavy.email}
        self.facts["customer_deep"] = self.customers[count // 10].id
        self.facts["customer"] = dataclasses.asdict(self.customers[-1])

    async def write_customer(self, tx: Transaction, index: int, created: int) -> None:
        email = customer_email(index)
        templates = self.templates
        mapping = {
            templates.customer_id: fast_id("cus"),
            templates.payment_method_id: fast_id("pm"),
            TEMPLATE_EMAIL: email,
            TEMPLATE_NAME: customer_name(index),
        }
        customer_doc = clone_doc(templates.customer, mapping)
        customer_doc["created"] = created
        method_doc = clone_doc(templates.payment_method, mapping)
        method_doc["created"] = created
        await tx.insert_object(CUSTOMERS, self.account_id, customer_doc)
        await tx.insert_object(PAYMENT_METHODS, self.account_id, method_doc)
        self.customers.append(Customer(customer_doc["id"], method_doc["id"], email))

    # -- payments ---------------------------------------------------------------------------

    async def write_payments(self) -> None:
        count = self.plan.payments
        events_from = count - round(self.plan.events / self.events_per_payment())
        log_from = count - round(self.plan.request_log / self.log_rows_per_payment())
        self.facts["events_window_first_payment"] = max(events_from, 0)
        progress = Progress("payments", count)
        for start in range(0, count, PAYMENT_BATCH):
            specs = [
                self.payment_spec(i, events_from, log_from)
                for i in range(start, min(start + PAYMENT_BATCH, count))
            ]
            rows = await self.write_batch(specs)
            self.rows.update(rows)
            progress.update(start + len(specs), rows)
        progress.update(count, Counter(), final=True)

    def events_per_payment(self) -> float:
        per_kind = {k: len(t.events) for k, t in self.templates.payments.items()}
        return max(sum(w * per_kind[k] for k, w in KIND_WEIGHTS), 1e-9)

    def log_rows_per_payment(self) -> float:
        per_kind = {k: len(t.log_rows) for k, t in self.templates.payments.items()}
        return max(sum(w * per_kind[k] for k, w in KIND_WEIGHTS) + GENERIC_LOG_SHARE, 1e-9)

    def payment_spec(self, index: int, events_from: int, log_from: int) -> PaymentSpec:
        rng = self.rng
        span = self.history_end - self.history_start
        created = self.history_start + int((index + rng.random()) * span / self.plan.payments)
        kind = self._kinds[bisect.bisect(self._cumulative, rng.random() * self._cumulative[-1])]
        amount = round(rng.lognormvariate(0.0, AMOUNT_SIGMA) * AMOUNT_MEDIAN_MINOR)
        heavy = rng.random() < HEAVY_SHARE
        others = len(self.customers) - HEAVY_CUSTOMERS
        customer_index = (
            rng.randrange(HEAVY_CUSTOMERS) if heavy else HEAVY_CUSTOMERS + rng.randrange(others)
        )
        with_log = index >= log_from
        generic = self.templates.generic_log
        return PaymentSpec(
            index=index,
            kind=kind,
            created=created,
            amount=min(max(amount, AMOUNT_MIN_MINOR), AMOUNT_MAX_MINOR),
            currency="eur" if rng.random() < EUR_SHARE else "usd",
            customer=self.customers[customer_index],
            with_events=index >= events_from,
            with_log=with_log,
            generic_log=rng.choice(generic)
            if with_log and generic and rng.random() < GENERIC_LOG_SHARE
            else None,
        )

    async def write_batch(self, specs: Sequence[PaymentSpec]) -> Counter[str]:
        rows: Counter[str] = Counter()
        batch = BatchRows()
        async with self.store.write() as tx:
            for spec in specs:
                await self.write_payment(tx, spec, batch, rows)
            if batch.deliveries:
                await tx.insert_webhook_deliveries(batch.deliveries)
                for delivery_id, attempts, last_ms in batch.finished:
                    await tx.finish_webhook_delivery(delivery_id, "succeeded", attempts, last_ms)
                for attempt in batch.attempts:
                    await tx.record_webhook_attempt(attempt)
            if batch.log:
                batch.log.sort(key=lambda entry: entry.created_ms)
                await tx.insert_request_log(batch.log)
        rows.update(
            {
                "webhook_deliveries": len(batch.deliveries),
                "webhook_attempts": len(batch.attempts),
                "request_log": len(batch.log),
            }
        )
        return rows

    async def write_payment(
        self, tx: Transaction, spec: PaymentSpec, batch: BatchRows, rows: Counter[str]
    ) -> None:
        template = self.templates.payments[spec.kind]
        mapping = self.mapping_for(spec, template)
        charge_id = mapping[template.charge_id] = fast_id("ch")
        refund_amount = self.refund_amount(spec)
        if spec.kind in CAPTURED_KINDS:
            rows["ledger_entries"] += await self.post_charge(tx, spec, charge_id, mapping)
            rows["ledger_transactions"] += 1
        if template.refund is not None and template.refund_id is not None:
            refund_id = mapping[template.refund_id] = fast_id("re")
            mapping[str(TEMPLATE_REFUND_AMOUNT)] = str(refund_amount)
            rows["ledger_entries"] += await self.post_refund(
                tx, spec, refund_id, refund_amount, mapping
            )
            rows["ledger_transactions"] += 1
        intent = clone_doc(template.intent, mapping)
        charge = clone_doc(template.charge, mapping)
        await tx.insert_object(PAYMENT_INTENTS, self.account_id, intent)
        await tx.insert_object(CHARGES, self.account_id, charge)
        await count_new_charge(tx, self.account_id, charge)
        rows.update(("payment_intents", "charges", "payment_volume_counts"))
        if template.refund is not None:
            await tx.insert_object(REFUNDS, self.account_id, clone_doc(template.refund, mapping))
            rows["refunds"] += 1
        if spec.with_events:
            rows["events"] += await self.write_events(tx, spec, template, mapping, batch)
        if spec.with_log:
            self.add_log_rows(spec, template, mapping, batch)
        self.note_facts(spec, intent)

    def mapping_for(self, spec: PaymentSpec, template: PaymentTemplate) -> dict[str, str]:
        """Tokens whose new values are chosen rather than fresh: the customer and card, the
        amount, the currency, the server URL, and every template time shifted to `created`."""
        templates = self.templates
        mapping = {
            templates.customer_id: spec.customer.id,
            templates.payment_method_id: spec.customer.payment_method_id,
            templates.declining_payment_method_id: spec.customer.payment_method_id,
            str(TEMPLATE_AMOUNT): str(spec.amount),
            "usd": spec.currency,
            templates.scratch_url: self.payments_config.public_url,
        }
        for moment in template.moments:
            mapping[str(moment)] = str(spec.created + moment - template.created)
        return mapping

    def refund_amount(self, spec: PaymentSpec) -> int:
        if spec.kind == "refunded_full":
            return spec.amount
        share = self.rng.uniform(PARTIAL_REFUND_SHARE_MIN, PARTIAL_REFUND_SHARE_MAX)
        return max(1, int(spec.amount * share))

    async def post_charge(
        self, tx: Transaction, spec: PaymentSpec, charge_id: str, mapping: dict[str, str]
    ) -> int:
        """The charge's balance transaction, as capture_funds posts it (funds whose day has
        come go straight to the available balance: what settlement would have done). Returns
        the ledger entries written."""
        available_on = self.available_on(spec.created)
        fee = money.card_fee(spec.amount, spec.currency, self.payments_config.pricing)
        row = await postings.record_charge(
            tx,
            postings.Movement(
                account_id=self.account_id,
                created=spec.created,
                type="charge",
                reporting_category="charge",
                source=charge_id,
                currency=spec.currency,
                available_on=available_on,
            ),
            amount=spec.amount,
            fee=fee,
            immediately_available=available_on <= time.time(),
        )
        template_txn = self.templates.payments[spec.kind].charge_txn
        if template_txn:
            mapping[template_txn] = row.id
        # The network's, the fee's and the merchant's entries, less any of zero amount.
        return sum(1 for amount in (spec.amount, fee, spec.amount - fee) if amount)

    def available_on(self, created: int) -> int:
        """business_days.available_on, which depends only on the UTC day: once per day."""
        day = created // DAY_SECONDS
        found = self._available_on.get(day)
        if found is None:
            found = self._available_on[day] = business_days.available_on(
                created, self.payments_config.settlement_delay_days, "US"
            )
        return found

    async def post_refund(
        self,
        tx: Transaction,
        spec: PaymentSpec,
        refund_id: str,
        amount: int,
        mapping: dict[str, str],
    ) -> int:
        """The refund's balance transaction; returns the ledger entries written."""
        template = self.templates.payments[spec.kind]
        row = await postings.record_refund(
            tx,
            postings.Movement(
                account_id=self.account_id,
                created=spec.created,
                type="refund",
                reporting_category="refund",
                source=refund_id,
                currency=spec.currency,
                description=template.refund_description,
            ),
            amount=amount,
        )
        if template.refund_txn:
            mapping[template.refund_txn] = row.id
        return REFUND_ENTRIES

    async def write_events(
        self,
        tx: Transaction,
        spec: PaymentSpec,
        template: PaymentTemplate,
        mapping: dict[str, str],
        batch: BatchRows,
    ) -> int:
        for text, event_type in zip(template.events, template.event_types, strict=True):
            event = clone_doc(text, mapping)
            await tx.insert_object(EVENTS, self.account_id, event)
            self.deliver(event["id"], event_type, int(event["created"]) * 1000, batch)
            self.facts[f"event:{event_type}"] = event["id"]
            self.events_written += 1
            if self.events_written == max(self.plan.events // 10, 1):
                # A cursor a tenth of the way from the oldest event: a late page of the list.
                self.facts["event_deep"] = event["id"]
        return len(template.events)

    def deliver(self, event_id: str, event_type: str, created_ms: int, batch: BatchRows) -> None:
        """A delivery to each endpoint that wants the event, already succeeded."""
        for endpoint_id, types in self.endpoints:
            if "*" not in types and event_type not in types:
                continue
            delivery_id = fast_id("whd")
            batch.deliveries.append(
                (delivery_id, self.account_id, event_id, endpoint_id, created_ms)
            )
            outcomes = [500, 200] if self.rng.random() < WEBHOOK_RETRY_SHARE else [200]
            attempted_ms = created_ms
            for status in outcomes:
                attempted_ms += self.rng.randint(*WEBHOOK_DURATION_MS)
                batch.attempts.append(
                    WebhookAttempt(
                        id=fast_id("wha"),
                        account_id=self.account_id,
                        delivery_id=delivery_id,
                        event_id=event_id,
                        endpoint_id=endpoint_id,
                        attempted_ms=attempted_ms,
                        duration_ms=self.rng.randint(*WEBHOOK_DURATION_MS),
                        status_code=status,
                        error=None,
                        response_excerpt="ok" if status == 200 else "Internal Server Error",
                    )
                )
                attempted_ms += WEBHOOK_RETRY_DELAY_MS
            batch.finished.append((delivery_id, len(outcomes), attempted_ms))

    def add_log_rows(
        self,
        spec: PaymentSpec,
        template: PaymentTemplate,
        mapping: dict[str, str],
        batch: BatchRows,
    ) -> None:
        start_ms = spec.created * 1000
        rows = [(row, start_ms + row.offset_ms) for row in template.log_rows]
        if spec.generic_log is not None:
            rows.append((spec.generic_log, start_ms + max(spec.generic_log.offset_ms, 0)))
        for row, created_ms in rows:
            entry = clone_log(row, mapping, created_ms)
            entry = dataclasses.replace(entry, account_id=self.account_id)
            batch.log.append(entry)
            if entry.route == "/v1/payment_intents" and entry.method == "POST":
                self.facts["log_create"] = {"id": entry.request_id, "key": entry.idempotency_key}
            if "{id}" in entry.route:
                self.facts["log_exact_path"] = entry.path

    def note_facts(self, spec: PaymentSpec, intent: dict[str, Any]) -> None:
        if spec.index == self.plan.payments // 10:
            # A cursor a tenth of the way from the oldest payment: a late page of the list.
            self.facts["payment_deep"] = intent["id"]
        if spec.with_events:
            self.facts[f"payment_recent:{spec.kind}"] = intent["id"]
        self.facts[f"payment:{spec.kind}"] = intent["id"]


@dataclasses.dataclass
class BatchRows:
    """Rows a batch writes after its payments: the webhook outbox and the request log."""

    deliveries: list[tuple[str, str, str, str, int]] = dataclasses.field(default_factory=list)
    finished: list[tuple[str, int, int]] = dataclasses.field(default_factory=list)
    attempts: list[WebhookAttempt] = dataclasses.field(default_factory=list)
    log: list[RequestLogEntry] = dataclasses.field(default_factory=list)


def moments_in(texts: Sequence[str], created: int) -> frozenset[int]:
    """Unix times near `created` found in `texts`: a template payment's own moments."""
    numbers = {int(m) for text in texts for m in _UNIX_TIME.findall(text)}
    return frozenset(n for n in numbers if abs(n - created) <= TEMPLATE_MOMENT_WINDOW_S)


_FIRST_NAMES = ("ada", "alan", "grace", "linus", "margaret", "ken", "barbara", "edsger", "frances")
_LAST_NAMES = ("lovelace", "turing", "hopper", "torvalds", "hamilton", "thompson", "liskov")
_DOMAINS = ("mail.example", "shop.example", "corp.example", "post.example")


def customer_email(index: int) -> str:
    """Heavy customers are easy to tell; the others unique and spread over the alphabet."""
    if index < HEAVY_CUSTOMERS:
        return f"heavy.buyer{index:02d}@bench.example"
    first = _FIRST_NAMES[index % len(_FIRST_NAMES)]
    last = _LAST_NAMES[(index // len(_FIRST_NAMES)) % len(_LAST_NAMES)]
    return f"{first}.{last}.{index}@{_DOMAINS[index % len(_DOMAINS)]}"


def customer_name(index: int) -> str:
    local = customer_email(index).split("@", 1)[0]
    return " ".join(part.capitalize() for part in local.split(".")[:2])


# --- The whole seed --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SeedResult:
    account: Account
    facts: dict[str, Any]
    rows: dict[str, int]
    seconds: dict[str, float]
    seeded_at: str


def seed(
    kassa: Path, url: str, plan: SeedPlan, scratch_dir: Path, ready_timeout: float
) -> SeedResult:
    """Templates through the API, then the clones into `url` for a new account."""
    started = time.monotonic()
    print("seed: template payments through the API of a scratch server", file=sys.stderr)
    templates = make_templates(kassa, scratch_dir, ready_timeout)
    templates_s = time.monotonic() - started
    account = create_account(kassa, url)
    print(f"seed: {plan.payments:,} payments for {account.id} into the store", file=sys.stderr)
    cloning_started = time.monotonic()
    facts, rows = asyncio.run(clone_into(url, account.id, templates, plan))
    cloning_s = time.monotonic() - cloning_started
    total_rows = sum(rows.values())
    print(
        f"seed: {total_rows:,} rows in {cloning_s:.1f}s ({total_rows / cloning_s:,.0f} rows/s)",
        file=sys.stderr,
    )
    return SeedResult(
        account=account,
        facts=facts,
        rows=dict(rows),
        seconds={
            "templates": round(templates_s, 1),
            "cloning": round(cloning_s, 1),
            "total": round(time.monotonic() - started, 1),
        },
        seeded_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    )


async def clone_into(
    url: str, account_id: str, templates: Templates, plan: SeedPlan
) -> tuple[dict[str, Any], Counter[str]]:
    store = await open_store(url)
    try:
        seeder = Seeder(store, account_id, templates, plan)
        rows = await seeder.run()
        if store.engine == "postgresql":
            # Autovacuum analyzes a bulk-loaded table within minutes; doing it now gives the
            # planner the statistics a settled installation has.
            async with store.write() as tx:
                await tx.run_script_statement("ANALYZE")
    finally:
        await store.close()
    return seeder.facts, rows
