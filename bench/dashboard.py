"""Benchmark the dashboard's pages with 1,000,000 payments stored (issue 5: "fast with
1,000,000 payments stored: paginated, indexed queries, no page scans a whole table").

1. Seeds one account with many payments (bench/dashboard_seed.py: one real payment of each
   kind through the API, then clones written through Kassa's store code), or reuses a seed.
2. Starts one `kassa serve` on 127.0.0.1, signs in to /dashboard like a browser (sign-in
   CSRF cookie and form field, then the session cookie) and requests every page a user
   would: lists with each filter, late pages through cursors, detail pages. Requests are
   sequential, in rounds over all pages (so a burst of load elsewhere on the machine hits
   every page a little rather than one page a lot), after unmeasured warm-ups.
3. Renders each page once more in this process with every SQL statement recorded, and asks
   the database for each statement's plan (SQLite: EXPLAIN QUERY PLAN; PostgreSQL: EXPLAIN):
   full scans, whole-index scans and sorts of whole results are flagged.

Pages are discovered from kassa.dashboard.site.PAGES; a page not registered there, or one
that answers 404, is listed as not present. See bench/README.md, section "Dashboard".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import hashlib
import json
import math
import os
import platform
import re
import shutil
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import dashboard_seed
import httpx
from bench_cli import EXIT_BENCH_FAILED, EXIT_OK, find_kassa, run_main
from bench_harness import (
    DATABASE_FILE_NAME,
    DEFAULT_RESULTS_DIR,
    DEFAULT_WORK_DIR,
    LOOPBACK_HOST,
    Account,
    BenchError,
    CpuPlan,
    database_url,
    display_path,
    plan_cpus,
    running_server,
    server_log_problems,
    sqlite_url,
)
from bench_results import git_commit, publish_results, utc_stamp

from kassa.store import redacted_url, sqlite_path_from_url

# --- Measurement -----------------------------------------------------------------------------

SAMPLES_DEFAULT = 30
WARMUPS_DEFAULT = 3
QUICK_PAYMENTS = 20_000
QUICK_SAMPLES = 10
QUICK_WARMUPS = 1
SAMPLES_MAX = 1_000
TARGET_P99_MS = 200.0
"""Issue 5: every page well under this at p99, on SQLite with 1,000,000 payments."""
HTTP_TIMEOUT_S = 60.0
"""Per request: a page that takes longer has failed anyway, and the run must end."""
PAYMENTS_MAX = 10_000_000
DEFAULT_READY_TIMEOUT_S = 120.0
"""Startup runs migrations; on a large database the first open takes a while."""

# --- Query plans -----------------------------------------------------------------------------

SLOWEST_STATEMENTS_SHOWN = 3
PROFILE_RENDERS = 3
SORT_SHOWN_MS = 1.0
"""A sort is listed in the text report only when its statement took this long: sorting a
few bounded rows (one payment's ledger lines) is no concern."""
PLAN_LINES_SHOWN = 12
STATEMENT_SHOWN_MS = 5.0
STATEMENT_TEXT_MAX = 600
SQLITE_SCAN = re.compile(r"^SCAN (?P<table>\w+)(?P<index> USING (?:COVERING )?INDEX \w+)?")
POSTGRES_SCAN = re.compile(r"Seq Scan on (?P<table>\w+)")
TEMP_SORT = re.compile(r"USE TEMP B-TREE FOR (ORDER|GROUP) BY|^\s*->\s*Sort ")
"""Plan lines that can mean reading a whole table: a full scan of a table (not of a
subquery's result), a walk of a whole index (bounded only when the LIMIT is reached early),
or a sort of every matching row."""

ROW_MARKER = re.compile(r'data-testid="row-')
FLASH_ERROR = re.compile(r'class="flash error"[^>]*>([^<]*)<')
NEXT_LINK = re.compile(r'<a href="([^"]+)" rel="next"')
FILTER_FORM = re.compile(r'<form class="filters".*?</form>', re.S)
FIELD_NAME = re.compile(r'<(?:input|select)[^>]*\sname="([^"]+)"')
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
PREFIX = "/dashboard"
SESSION_COOKIE = "kassa_session"
COMMON_EMAIL_PREFIX = "ada."
"""The seed's customers' emails start with one of a few first names: many match."""


# --- The pages -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    route: str
    """The PAGES path it exercises, e.g. `/payments/{id}`."""
    url: str
    """Below /dashboard, with the query string."""
    late_page_of: str | None = None
    """A list whose "Older" link, with its cursor moved deep into history, is this page."""


def scenarios(facts: dict[str, Any], search_field: str) -> list[Scenario]:
    """Every page and filter a user would try, built from ids the seed wrote down."""
    return [
        Scenario("home", "/", "/"),
        *payment_scenarios(facts),
        *customer_scenarios(facts, search_field),
        *operation_scenarios(facts),
        Scenario("ledger", "/ledger", "/ledger"),
    ]


def payment_scenarios(facts: dict[str, Any]) -> list[Scenario]:
    heavy = facts["heavy_customer"]
    history = facts["history"]
    week_from = day(history["start"] + 45 * dashboard_seed.DAY_SECONDS)
    week_to = day(history["start"] + 51 * dashboard_seed.DAY_SECONDS)
    recent_refund = facts.get("payment_recent:refunded_partial", facts["payment:refunded_partial"])
    found = [Scenario("payments", "/payments", "/payments")]
    for status in ("succeeded", "requires_payment_method", "requires_capture", "canceled"):
        found.append(
            Scenario(f"payments ?status={status}", "/payments", q("/payments", status=status))
        )
    found += [
        Scenario("payments ?customer=heavy", "/payments", q("/payments", customer=heavy["id"])),
        Scenario(
            "payments ?customer=heavy&status=canceled",
            "/payments",
            q("/payments", customer=heavy["id"], status="canceled"),
        ),
        # Filters that together match nothing: a walk that never reaches its LIMIT shows
        # how far the chosen index is read.
        Scenario(
            "payments ?customer=heavy&status=processing",
            "/payments",
            q("/payments", customer=heavy["id"], status="processing"),
        ),
        Scenario(
            "payments ?from&to (a week)",
            "/payments",
            q("/payments", **{"from": week_from, "to": week_to}),
        ),
        Scenario(
            "payments ?from&to&status=requires_capture",
            "/payments",
            q("/payments", status="requires_capture", **{"from": week_from, "to": week_to}),
        ),
        Scenario(
            "payments late page (cursor)",
            "/payments",
            q("/payments", starting_after=facts["payment_deep"]),
        ),
        Scenario(
            "payments late page ?status=canceled",
            "/payments",
            q("/payments", status="canceled", starting_after=facts["payment_deep"]),
        ),
        Scenario("payment detail (refunded)", "/payments/{id}", f"/payments/{recent_refund}"),
        Scenario("payment detail (old)", "/payments/{id}", f"/payments/{facts['payment_deep']}"),
    ]
    return found


def customer_scenarios(facts: dict[str, Any], search_field: str) -> list[Scenario]:
    heavy = facts["heavy_customer"]
    return [
        Scenario("customers", "/customers", "/customers"),
        Scenario(
            "customers search by email",
            "/customers",
            q("/customers", **{search_field: heavy["email"].split("@")[0]}),
        ),
        Scenario(
            "customers search, common prefix",
            "/customers",
            q("/customers", **{search_field: COMMON_EMAIL_PREFIX}),
        ),
        Scenario("customers late page", "/customers", "", late_page_of="/customers"),
        Scenario("customer detail (heavy)", "/customers/{id}", f"/customers/{heavy['id']}"),
    ]


def operation_scenarios(facts: dict[str, Any]) -> list[Scenario]:
    log_create = facts["log_create"]
    return [
        Scenario("events", "/events", "/events"),
        Scenario("events ?type=charge.refunded", "/events", q("/events", type="charge.refunded")),
        Scenario(
            "events ?type=payment_intent.created",
            "/events",
            q("/events", type="payment_intent.created"),
        ),
        Scenario("events ?type=charge.*", "/events", q("/events", type="charge.*")),
        Scenario("events late page", "/events", q("/events", starting_after=facts["event_deep"])),
        Scenario("event detail", "/events/{id}", f"/events/{facts['event:charge.refunded']}"),
        Scenario("webhooks", "/webhooks", "/webhooks"),
        Scenario(
            "webhook endpoint detail", "/webhooks/{id}", f"/webhooks/{facts['endpoint_ids'][0]}"
        ),
        Scenario("logs", "/logs", "/logs"),
        Scenario("logs ?status=402", "/logs", q("/logs", status="402")),
        Scenario("logs ?path=<route>", "/logs", q("/logs", path="/v1/payment_intents/{id}")),
        Scenario("logs ?path=<exact path>", "/logs", q("/logs", path=facts["log_exact_path"])),
        # Validation errors of payment creation: the seed has none, so this walks the index
        # the database picks for one filter as far as the other never matches.
        Scenario(
            "logs ?status=400&path=/v1/payment_intents",
            "/logs",
            q("/logs", status="400", path="/v1/payment_intents"),
        ),
        Scenario("logs ?idempotency_key", "/logs", q("/logs", idempotency_key=log_create["key"])),
        Scenario("logs late page", "/logs", "", late_page_of="/logs"),
        Scenario("log detail", "/logs/{id}", f"/logs/{log_create['id']}"),
    ]


def q(page: str, **params: str) -> str:
    return f"{page}?{urlencode(params)}"


def day(unix: int) -> str:
    return datetime.datetime.fromtimestamp(unix, datetime.UTC).strftime("%Y-%m-%d")


def registered_routes(method: str) -> set[str]:
    """Paths below /dashboard that kassa.dashboard.site.PAGES declares for `method`, with
    every path parameter written `{id}` so that they compare with the scenarios' routes."""
    from kassa.dashboard.site import PAGES

    return {re.sub(r"\{[^}]+\}", "{id}", page.path) for page in PAGES if method in page.methods}


# --- Seeding or reusing ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Seed:
    database_url: str
    account: Account
    facts: dict[str, Any]
    state: dict[str, Any]
    reused: bool


def seed_directory(args: argparse.Namespace, plan: dashboard_seed.SeedPlan) -> Path:
    """One directory per (database, seed size): a reused seed is the same one."""
    name = f"dashboard-seed-{plan.payments}"
    if args.database:
        digest = hashlib.sha256(database_url(args.database).encode()).hexdigest()[:10]
        name += f"-{digest}"
    return Path(args.work_dir).resolve() / name


def ensure_seed(args: argparse.Namespace, kassa: Path, plan: dashboard_seed.SeedPlan) -> Seed:
    seed_dir = seed_directory(args, plan)
    state_path = seed_dir / "seed.json"
    if args.reuse and state_path.exists():
        state = json.loads(state_path.read_text())
        if state.get("complete") and state.get("plan") == plan.as_json():
            print(
                f"reusing the seed in {display_path(seed_dir)} ({state['seeded_at']})",
                file=sys.stderr,
            )
            warn_if_stale(state)
            return seed_from_state(state, reused=True)
        print("the stored seed is incomplete or of another size; seeding again", file=sys.stderr)
    if seed_dir.exists():
        shutil.rmtree(seed_dir)
    seed_dir.mkdir(parents=True)
    url = (
        database_url(args.database) if args.database else sqlite_url(seed_dir / DATABASE_FILE_NAME)
    )
    result = dashboard_seed.seed(kassa, url, plan, seed_dir / "templates", args.ready_timeout)
    state = {
        "complete": True,
        "database_url": url,
        "plan": plan.as_json(),
        "account": result.account.as_json(),
        "facts": result.facts,
        "rows": result.rows,
        "seconds": result.seconds,
        "seeded_at": result.seeded_at,
    }
    # Holds the account's secret key: bench/.data/ is git-ignored and local.
    state_path.write_text(json.dumps(state, indent=2) + "\n")
    return seed_from_state(state, reused=False)


def seed_from_state(state: dict[str, Any], *, reused: bool) -> Seed:
    account = Account(id=state["account"]["id"], secret_key=state["account"]["secret_key"])
    return Seed(state["database_url"], account, state["facts"], state, reused)


STALE_SEED_S = 86_400


def warn_if_stale(state: dict[str, Any]) -> None:
    """Payments end when the seed was made; the home chart shows the last 14 days, and the
    retention worker purges events after 30 days, so an old seed measures less."""
    age = time.time() - state["facts"]["history"]["end"]
    if age > STALE_SEED_S:
        print(f"note: this seed is {age / 86_400:.1f} days old", file=sys.stderr)


# --- Signing in and measuring over HTTP ------------------------------------------------------


@contextlib.contextmanager
def signed_in(base_url: str, secret_key: str) -> Iterator[httpx.Client]:
    """A client holding a dashboard session, signed in as a browser does."""
    if urlsplit(base_url).hostname != LOOPBACK_HOST:
        raise BenchError(f"refusing a non-loopback URL: {base_url}")
    with httpx.Client(
        base_url=base_url, timeout=HTTP_TIMEOUT_S, follow_redirects=False, trust_env=False
    ) as client:
        login = client.get(f"{PREFIX}/login")
        token = CSRF_FIELD.search(login.text)
        if login.status_code != 200 or token is None:
            raise BenchError(
                f"GET {PREFIX}/login answered {login.status_code} without a CSRF field"
            )
        answer = client.post(
            f"{PREFIX}/login", data={"csrf_token": token[1], "secret_key": secret_key}
        )
        if answer.status_code != 303 or SESSION_COOKIE not in client.cookies:
            raise BenchError(f"signing in failed: {answer.status_code} {answer.text[:300]}")
        yield client


@dataclasses.dataclass
class PageResult:
    scenario: Scenario
    url: str = ""
    state: str = "measured"
    """measured; not present (no such route); 404; no Older link; or error (not 200)."""
    latencies_ms: list[float] = dataclasses.field(default_factory=list)
    statuses: dict[str, int] = dataclasses.field(default_factory=dict)
    rows_shown: int = 0
    page_bytes: int = 0
    flash_error: str = ""

    def percentile(self, fraction: float) -> float:
        """Nearest-rank percentile (with 30 samples, p99 is the slowest)."""
        if not self.latencies_ms:
            return math.nan
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]

    def as_json(self, target_ms: float) -> dict[str, Any]:
        measured = self.state == "measured"
        return {
            "page": self.scenario.name,
            "route": self.scenario.route,
            "url": self.url or self.scenario.url,
            "state": self.state,
            "samples": len(self.latencies_ms),
            "p50_ms": round(self.percentile(0.5), 2) if measured else None,
            "p90_ms": round(self.percentile(0.9), 2) if measured else None,
            "p99_ms": round(self.percentile(0.99), 2) if measured else None,
            "max_ms": round(max(self.latencies_ms), 2) if measured else None,
            "mean_ms": round(statistics.fmean(self.latencies_ms), 2) if measured else None,
            "over_target": measured and self.percentile(0.99) > target_ms,
            "statuses": self.statuses,
            "rows_shown": self.rows_shown,
            "page_bytes": self.page_bytes,
            "flash_error": self.flash_error,
        }


def timed_get(client: httpx.Client, url: str) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = client.get(PREFIX + url)
    return (time.perf_counter() - started) * 1000.0, response


def resolve_url(
    client: httpx.Client, scenario: Scenario, facts: dict[str, Any], log_rows: int
) -> str:
    """The page's URL; for a late page, page one's "Older" link with its cursor moved deep
    into history: an object id of the same kind from a tenth of the way in, or a seq."""
    if scenario.late_page_of is None:
        return scenario.url
    first = client.get(PREFIX + scenario.late_page_of)
    found = NEXT_LINK.search(first.text)
    if first.status_code != 200 or found is None:
        return ""
    link = found[1].replace("&amp;", "&")
    path, _, query = link.partition("?")
    params = dict(parse_qsl(query))
    deep_ids = {
        "cus": facts["customer_deep"],
        "pi": facts["payment_deep"],
        "evt": facts["event_deep"],
    }
    for name, value in params.items():
        if value.isdigit():
            # The request log's cursor is its seq: step back 90% of the seeded rows.
            params[name] = str(max(1, int(value) - int(0.9 * log_rows)))
        elif value.split("_", 1)[0] in deep_ids:
            params[name] = deep_ids[value.split("_", 1)[0]]
    return path.removeprefix(PREFIX) + "?" + urlencode(params)


def measure_pages(
    client: httpx.Client, pages: list[PageResult], samples: int, warmups: int
) -> None:
    """Warm-ups of every page, then `samples` rounds, each requesting every page once."""
    live = [page for page in pages if page.state == "measured"]
    for page in live:
        # At least one unmeasured request: it tells a missing page (404) from a present one.
        for _ in range(max(warmups, 1)):
            _, response = timed_get(client, page.url)
            if response.status_code == 404:
                page.state = "404"
            elif response.status_code != 200:
                page.state = "error"
            note_response(page, response)
    live = [page for page in live if page.state == "measured"]
    for round_number in range(samples):
        for page in live:
            elapsed_ms, response = timed_get(client, page.url)
            page.latencies_ms.append(elapsed_ms)
            note_response(page, response)
        if (round_number + 1) % 10 == 0:
            print(f"  round {round_number + 1}/{samples}", file=sys.stderr)


def note_response(page: PageResult, response: httpx.Response) -> None:
    key = str(response.status_code)
    page.statuses[key] = page.statuses.get(key, 0) + 1
    page.rows_shown = len(ROW_MARKER.findall(response.text))
    page.page_bytes = len(response.content)
    flash = FLASH_ERROR.search(response.text)
    page.flash_error = flash[1].strip() if flash else ""


def search_field(client: httpx.Client) -> str:
    """The customers page's search field, as its filter form names it."""
    page = client.get(PREFIX + "/customers")
    form = FILTER_FORM.search(page.text) if page.status_code == 200 else None
    names = FIELD_NAME.findall(form[0]) if form else []
    for preferred in ("email", "q", "search", "query"):
        if preferred in names:
            return preferred
    return names[0] if names else "email"


# --- Statements and their plans --------------------------------------------------------------


@dataclasses.dataclass
class Statement:
    sql: str
    args: tuple[Any, ...]
    ms: float
    plan: list[str] = dataclasses.field(default_factory=list)
    flags: list[str] = dataclasses.field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "sql": self.sql[:STATEMENT_TEXT_MAX],
            "args": [str(a)[:80] for a in self.args],
            "ms": round(self.ms, 3),
            "plan": self.plan,
            "flags": self.flags,
        }


@contextlib.contextmanager
def recorded_statements(into: list[Statement]) -> Iterator[None]:
    """Every statement the store runs in this process, with its time: the adapters'
    executors are wrapped for the duration (in this benchmark process only)."""
    from kassa.store.postgres import PostgresExecutor
    from kassa.store.sqlite import SqliteExecutor

    originals: list[tuple[type, str, Any]] = []
    for cls in (SqliteExecutor, PostgresExecutor):
        for name in ("fetchone", "fetchall", "execute"):
            original = getattr(cls, name)
            originals.append((cls, name, original))
            setattr(cls, name, timing_wrapper(original, into))
    try:
        yield
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


def timing_wrapper(original: Callable[..., Any], into: list[Statement]) -> Callable[..., Any]:
    async def timed(self: Any, sql: str, args: Sequence[Any] = ()) -> Any:
        started = time.perf_counter()
        result = await original(self, sql, args)
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        shown = tuple(args) if isinstance(args, (tuple, list)) else ()
        into.append(Statement(sql, shown, elapsed_ms))
        return result

    return timed


async def profile_pages(url: str, secret_key: str, pages: list[PageResult]) -> dict[str, Any]:
    """Each measured page rendered once more in this process, its statements recorded."""
    import kassa.dashboard.site
    from kassa.clock import SystemClock
    from kassa.config import Settings
    from kassa.services.setup import load_payment_config
    from kassa.store import open_store

    store = await open_store(url)
    profiles: dict[str, Any] = {}
    try:
        payments = await load_payment_config(store, Settings(database_url=url))
        app = kassa.dashboard.site.dashboard(store, SystemClock(), payments)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url=f"http://{LOOPBACK_HOST}"
        ) as client:
            await sign_in_async(client, secret_key)
            for page in pages:
                if page.state == "measured":
                    profiles[page.scenario.name] = await profile_page(client, page.url)
        await explain_all(url, profiles)
    finally:
        await store.close()
    return profiles


async def sign_in_async(client: httpx.AsyncClient, secret_key: str) -> None:
    login = await client.get(f"{PREFIX}/login")
    token = CSRF_FIELD.search(login.text)
    if token is None:
        raise BenchError("the in-process sign-in page has no CSRF field")
    await client.post(f"{PREFIX}/login", data={"csrf_token": token[1], "secret_key": secret_key})


async def profile_page(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    """The fastest of a few renders (the first warms caches), and the statements of the
    last one."""
    statements: list[Statement] = []
    times_ms = []
    status = 0
    for _ in range(PROFILE_RENDERS):
        statements = []
        started = time.perf_counter()
        with recorded_statements(statements):
            response = await client.get(PREFIX + url)
        times_ms.append((time.perf_counter() - started) * 1000.0)
        status = response.status_code
    return {
        "status": status,
        "page_ms": round(min(times_ms), 2),
        "statements": statements,
        "db_ms": round(sum(s.ms for s in statements), 2),
    }


async def explain_all(url: str, profiles: dict[str, Any]) -> None:
    """The plan of every recorded statement, and what in it may read a whole table."""
    if not url.startswith("sqlite:"):
        await explain_postgres(url, profiles)
        return
    path = sqlite_path_from_url(url)
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        for profile in profiles.values():
            for statement in profile["statements"]:
                statement.plan = sqlite_plan(connection, statement)
                statement.flags = plan_flags(statement.plan, tables)
    finally:
        connection.close()


def sqlite_plan(connection: sqlite3.Connection, statement: Statement) -> list[str]:
    """EXPLAIN QUERY PLAN as an indented tree."""
    try:
        rows = connection.execute("EXPLAIN QUERY PLAN " + statement.sql, statement.args).fetchall()
    except sqlite3.Error as error:
        return [f"(no plan: {error})"]
    depth: dict[int, int] = {0: -1}
    lines = []
    for node, parent, _, detail in rows:
        depth[node] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node] + str(detail))
    return lines


async def explain_postgres(url: str, profiles: dict[str, Any]) -> None:
    import asyncpg

    from kassa.store.postgres import to_numbered_placeholders

    connection = await asyncpg.connect(url)
    try:
        found = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        )
        tables = {str(row[0]) for row in found}
        for profile in profiles.values():
            for statement in profile["statements"]:
                sql = to_numbered_placeholders(statement.sql)
                try:
                    rows = await connection.fetch("EXPLAIN " + sql, *statement.args)
                    statement.plan = [str(row[0]) for row in rows]
                except asyncpg.PostgresError as error:
                    statement.plan = [f"(no plan: {error})"]
                statement.flags = plan_flags(statement.plan, tables)
    finally:
        await connection.close()


def plan_flags(plan: list[str], tables: set[str]) -> list[str]:
    flags = []
    for line in (text.strip() for text in plan):
        scan = SQLITE_SCAN.search(line) or POSTGRES_SCAN.search(line)
        if scan and scan["table"] in tables:
            whole = "whole-index scan" if scan.groupdict().get("index") else "full table scan"
            flags.append(f"{whole}: {line}")
        elif TEMP_SORT.search(line):
            flags.append(f"sorts every matching row: {line}")
    return flags


# --- Report ----------------------------------------------------------------------------------


def build_report(
    args: argparse.Namespace,
    seed: Seed,
    pages: list[PageResult],
    verify: dict[str, Any],
    profiles: dict[str, Any],
    environment: dict[str, Any],
    log_problems: dict[str, Any],
) -> dict[str, Any]:
    measured = [page for page in pages if page.state == "measured"]
    return {
        "benchmark": "dashboard",
        "started_at": environment.pop("started_at"),
        "environment": environment,
        "database": {
            "engine": "sqlite" if seed.database_url.startswith("sqlite:") else "postgresql",
            "url": shown_url(seed.database_url),
            "seed": {key: seed.state[key] for key in ("plan", "rows", "seconds", "seeded_at")},
            "reused": seed.reused,
        },
        "settings": {
            "samples": args.samples,
            "warmups": args.warmups,
            "target_p99_ms": args.target_p99_ms,
            "percentiles": "nearest rank",
        },
        "pages": [page.as_json(args.target_p99_ms) for page in pages],
        "targets": [
            {
                "target": f"{page.scenario.name} p99 < {args.target_p99_ms:g} ms",
                "value": round(page.percentile(0.99), 2),
                "met": page.percentile(0.99) <= args.target_p99_ms,
            }
            for page in measured
        ],
        "ledger_verify": verify,
        "query_profile": {
            name: {**profile, "statements": [s.as_json() for s in profile["statements"]]}
            for name, profile in profiles.items()
        },
        "server_log": log_problems,
    }


def shown_url(url: str) -> str:
    """A SQLite file relative to the repository (results are committed); any password out."""
    if url.startswith("sqlite:"):
        return "sqlite:///" + display_path(Path(sqlite_path_from_url(url)))
    return redacted_url(url)


def report_text(report: dict[str, Any]) -> str:
    env = report["environment"]
    seed = report["database"]["seed"]
    plan = seed["plan"]
    settings = report["settings"]
    lines = [
        f"Kassa dashboard benchmark {report['started_at']} (commit {env['git_commit']}, "
        f"{report['database']['engine']}, {env['pinning']})",
        f"{plan['payments']:,} payments, {plan['customers']:,} customers, {plan['events']:,} "
        f"events, {plan['request_log']:,} request-log rows; seeded {seed['seeded_at']} in "
        f"{seed['seconds']['total']:.0f}s{' (reused)' if report['database']['reused'] else ''}",
        f"{settings['samples']} sequential requests per page after {settings['warmups']} "
        f"warm-ups; load average {env['load_average_before']} before, "
        f"{env['load_average_after']} after",
        "",
        page_table(report["pages"], report["query_profile"], settings["target_p99_ms"]),
        "",
        f"Target: p99 under {settings['target_p99_ms']:g} ms on every page",
    ]
    slow = [p for p in report["pages"] if p["over_target"]]
    lines += [f"  [SLOW] {p['page']}: p99 {p['p99_ms']:.1f} ms" for p in slow]
    lines += ["  [met] every measured page"] if not slow else []
    lines += verify_text(report.get("ledger_verify", {}))
    lines += plans_text(report)
    log = report["server_log"]
    if log.get("tracebacks") or log.get("lines_with_500"):
        lines += ["", f"Server log: {log['tracebacks']} tracebacks, {log['lines_with_500']} 500s"]
    return "\n".join(lines)


def verify_text(verify: dict[str, Any]) -> list[str]:
    if verify.get("state") != "measured":
        return ["", f"Ledger verify button: {verify.get('state', 'not run')}"]
    return [
        "",
        f"Ledger verify button (POST {PREFIX}{VERIFY_ROUTE}, reads the whole journal): "
        f"{verify['ms'] / 1000:.1f} s, status {verify['status']}; /healthz meanwhile: "
        f"max {verify['healthz_max_ms'] or 0:.0f} ms over {verify['healthz_probes']} probes",
        f"  the page says: {verify['says']}" if verify["says"] else "",
    ]


def page_table(pages: list[dict[str, Any]], profiles: dict[str, Any], target_ms: float) -> str:
    """One line per page: HTTP latency; and from the in-process renders, the fastest render,
    the statements of one and the time spent in them."""
    header = (
        f"{'page':<42} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'render':>7} {'db ms':>6} "
        f"{'stmts':>5} {'rows':>4} {'KiB':>5}  note"
    )
    lines = [header, "-" * len(header)]
    for page in pages:
        if page["state"] != "measured":
            lines.append(f"{page['page']:<42} {page['state']:>58}")
            continue
        profile = profiles.get(page["page"])
        inside = (
            f"{profile['page_ms']:>7.1f} {profile['db_ms']:>6.1f} {len(profile['statements']):>5}"
            if profile
            else " " * 20
        )
        note = "SLOW" if page["over_target"] else ""
        typical = (
            page["p50_ms"] < target_ms / 2 and (profile or {}).get("page_ms", 0) < target_ms / 4
        )
        if page["over_target"] and typical:
            # Its median and its own render are fast: the slow samples waited for a CPU.
            note += " (outliers only: machine load?)"
        others = {status: n for status, n in page["statuses"].items() if status != "200"}
        if others:
            note += f" answers {others}"
        if page["flash_error"]:
            note += f" shows: {page['flash_error'][:60]}"
        lines.append(
            f"{page['page']:<42} {page['p50_ms']:>7.1f} {page['p99_ms']:>7.1f} "
            f"{page['max_ms']:>7.1f} {inside} {page['rows_shown']:>4} "
            f"{page['page_bytes'] / 1024:>5.1f}  {note}"
        )
    return "\n".join(lines)


def plans_text(report: dict[str, Any]) -> list[str]:
    """For each slow page, its slowest statements; for every page, each statement that took
    long or whose plan may read a whole table: with their plans."""
    slow = {p["page"] for p in report["pages"] if p["over_target"]}
    lines: list[str] = []
    for name, profile in report["query_profile"].items():
        statements = profile["statements"]
        shown = [s for s in statements if worth_showing(s)]
        if name in slow:
            slowest = sorted(statements, key=lambda s: -s["ms"])[:SLOWEST_STATEMENTS_SHOWN]
            shown = [s for s in slowest if s not in shown] + shown
        if not shown:
            continue
        lines += [
            "",
            f"{name}: {len(statements)} statements, {profile['db_ms']:.1f} ms in the database "
            f"of {profile['page_ms']:.1f} ms (in-process render)",
        ]
        for statement in shown:
            lines.append(f"  {statement['ms']:.2f} ms  {statement['sql']}")
            lines.append(f"    args {statement['args']}")
            plan = statement["plan"]
            lines += [f"    | {line}" for line in plan[:PLAN_LINES_SHOWN]]
            if len(plan) > PLAN_LINES_SHOWN:
                lines.append(f"    | ... {len(plan) - PLAN_LINES_SHOWN} more lines")
            lines += [f"    ! {flag}" for flag in dict.fromkeys(statement["flags"])]
    return lines


def worth_showing(statement: dict[str, Any]) -> bool:
    """A scan; a sort that took a while; or any statement that took long: an index walk
    that reads far more rows than it returns looks harmless in a plan."""
    scans = [f for f in statement["flags"] if not f.startswith("sorts")]
    slow = statement["ms"] >= STATEMENT_SHOWN_MS
    return bool(scans) or slow or (bool(statement["flags"]) and statement["ms"] >= SORT_SHOWN_MS)


def environment(cpus: CpuPlan) -> dict[str, Any]:
    return {
        "started_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "cpus": os.cpu_count(),
        "pinning": cpus.describe(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_before": load_average(),
    }


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


# --- Command line and orchestration ----------------------------------------------------------


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payments", type=int, help="payments to seed (default 1,000,000)")
    parser.add_argument("--customers", type=int, help="default: 50,000 per million payments")
    parser.add_argument("--events", type=int, help="default: 100,000 per million payments")
    parser.add_argument("--request-log", type=int, help="default: 200,000 per million payments")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_PAYMENTS:,} payments (unless --payments), {QUICK_SAMPLES} samples, "
        f"{QUICK_WARMUPS} warm-up",
    )
    parser.add_argument("--reuse", action="store_true", help="reuse a complete seed of this size")
    parser.add_argument("--samples", type=int, help=f"per page (default {SAMPLES_DEFAULT})")
    parser.add_argument("--warmups", type=int, help=f"per page (default {WARMUPS_DEFAULT})")
    parser.add_argument("--target-p99-ms", type=float, default=TARGET_P99_MS)
    parser.add_argument("--no-explain", action="store_true", help="skip statements and plans")
    parser.add_argument(
        "--no-verify", action="store_true", help="skip timing the ledger page's verify button"
    )
    parser.add_argument(
        "--database", metavar="URL_OR_PATH", help="seed this database (e.g. postgresql://...)"
    )
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR)
    parser.add_argument("--output", type=Path, help="results JSON (default bench/results/)")
    parser.add_argument("--kassa", type=Path, help="kassa executable (default: the venv's)")
    parser.add_argument("--ready-timeout", type=float, default=DEFAULT_READY_TIMEOUT_S)
    parser.add_argument(
        "--no-pin", action="store_true", help="do not pin the server and this script to CPUs"
    )
    args = parser.parse_args(argv)
    args.payments = args.payments or (
        QUICK_PAYMENTS if args.quick else dashboard_seed.PAYMENTS_DEFAULT
    )
    args.samples = args.samples or (QUICK_SAMPLES if args.quick else SAMPLES_DEFAULT)
    args.warmups = (
        args.warmups
        if args.warmups is not None
        else (QUICK_WARMUPS if args.quick else WARMUPS_DEFAULT)
    )
    if not 1 <= args.payments <= PAYMENTS_MAX:
        parser.error(f"--payments must be in [1, {PAYMENTS_MAX:,}]")
    if not 1 <= args.samples <= SAMPLES_MAX or args.warmups < 0:
        parser.error(f"--samples must be in [1, {SAMPLES_MAX}] and --warmups at least 0")
    return args


def run(args: argparse.Namespace) -> int:
    stamp = utc_stamp()
    kassa = find_kassa(args.kassa)
    plan = dashboard_seed.SeedPlan.scaled(
        args.payments, customers=args.customers, events=args.events, request_log=args.request_log
    )
    seed = ensure_seed(args, kassa, plan)
    cpus = plan_cpus(pin=not args.no_pin)
    env = environment(cpus)
    log_path = seed_directory(args, plan) / f"server-{stamp}.log"
    pages, verify, log_problems = measure(args, kassa, cpus, seed, log_path)
    env["load_average_after"] = load_average()
    profiles: dict[str, Any] = {}
    if not args.no_explain:
        print("rendering each page once more with its statements recorded", file=sys.stderr)
        profiles = asyncio.run(profile_pages(seed.database_url, seed.account.secret_key, pages))
    log_info = {"path": display_path(log_path), **log_problems}
    report = build_report(args, seed, pages, verify, profiles, env, log_info)
    text = report_text(report)
    # A --quick run is for development: its results stay beside its seed, out of git.
    results_dir = seed_directory(args, plan) if args.quick else DEFAULT_RESULTS_DIR
    output = args.output or results_dir / f"dashboard-{stamp}.json"
    publish_results(output, report, text)
    failed = [p for p in pages if p.state == "error" or set(p.statuses) - {"200"}]
    return EXIT_BENCH_FAILED if failed else EXIT_OK


def measure(
    args: argparse.Namespace, kassa: Path, cpus: CpuPlan, seed: Seed, log_path: Path
) -> tuple[list[PageResult], dict[str, Any], dict[str, int]]:
    print(
        f"starting kassa serve ({cpus.describe()}); log: {display_path(log_path)}", file=sys.stderr
    )
    with (
        running_server(
            kassa, seed.database_url, log_path, cpus, args.ready_timeout, seed.account.secret_key
        ) as server,
        pinned_to(cpus.load),
        signed_in(server.base_url, seed.account.secret_key) as client,
    ):
        routes = registered_routes("GET")
        log_rows = int(seed.state["plan"]["request_log"])
        pages = []
        for scenario in scenarios(seed.facts, search_field(client)):
            page = PageResult(scenario)
            if scenario.route not in routes:
                page.state = "not present"
            else:
                page.url = resolve_url(client, scenario, seed.facts, log_rows)
                page.state = "measured" if page.url else "no Older link"
            pages.append(page)
        print(f"measuring {sum(p.state == 'measured' for p in pages)} pages", file=sys.stderr)
        measure_pages(client, pages, args.samples, args.warmups)
        verify: dict[str, Any] = {"state": "skipped (--no-verify)"}
        if not args.no_verify:
            verify = time_ledger_verify(client, server.base_url)
    return pages, verify, server_log_problems(log_path)


VERIFY_ROUTE = "/ledger/verify"
VERIFY_TIMEOUT_S = 1_800.0
"""It reads the whole ledger journal; with a million payments on a busy machine, minutes."""
PROBE_INTERVAL_S = 0.1
VERIFY_RESULT = re.compile(r'data-testid="verify-result"[^>]*>(.*?)</section>', re.S)
TAG = re.compile(r"<[^>]+>")
VERIFY_SAYS_CHARS = 300


def time_ledger_verify(client: httpx.Client, base_url: str) -> dict[str, Any]:
    """The ledger page's verify button once (it reads every ledger row, so it is measured as
    an action, not a page), with /healthz polled meanwhile: how long the server answers
    nothing else while it runs."""
    if VERIFY_ROUTE not in registered_routes("POST"):
        return {"state": "not present"}
    page = client.get(PREFIX + "/ledger")
    token = CSRF_FIELD.search(page.text)
    if token is None:
        return {"state": "no CSRF field on the ledger page"}
    print("timing the ledger page's verify button once", file=sys.stderr)
    probes: list[float] = []
    with probing(base_url, probes):
        started = time.perf_counter()
        response = client.post(
            PREFIX + VERIFY_ROUTE, data={"csrf_token": token[1]}, timeout=VERIFY_TIMEOUT_S
        )
        elapsed_ms = (time.perf_counter() - started) * 1000.0
    summary = VERIFY_RESULT.search(response.text)
    return {
        "state": "measured",
        "status": response.status_code,
        "ms": round(elapsed_ms, 1),
        "healthz_probes": len(probes),
        "healthz_max_ms": round(max(probes), 1) if probes else None,
        "says": " ".join(TAG.sub(" ", summary[1]).split())[:VERIFY_SAYS_CHARS] if summary else "",
    }


@contextlib.contextmanager
def probing(base_url: str, latencies_ms: list[float]) -> Iterator[None]:
    """GET /healthz every PROBE_INTERVAL_S on its own connection until the block ends."""
    import threading

    done = threading.Event()

    def probe() -> None:
        with httpx.Client(base_url=base_url, timeout=VERIFY_TIMEOUT_S, trust_env=False) as c:
            while not done.is_set():
                started = time.perf_counter()
                c.get("/healthz")
                latencies_ms.append((time.perf_counter() - started) * 1000.0)
                done.wait(PROBE_INTERVAL_S)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(VERIFY_TIMEOUT_S)


@contextlib.contextmanager
def pinned_to(cpus: frozenset[int] | None) -> Iterator[None]:
    """This script on the load CPUs while it measures, off the server's."""
    if cpus is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(parse_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
