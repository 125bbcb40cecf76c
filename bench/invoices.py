"""Benchmark invoices billed with charge_automatically on one local `kassa serve`, beside
confirmed PaymentIntents measured on the same server in the same run.

One invoice is what an integration sends to bill one thing and charge the customer's
saved card: an invoice item (amount and currency, or `pricing[price]` with
`--item price`), the invoice (`collection_method=charge_automatically`,
`auto_advance=false`, `pending_invoice_items_behavior=include`), finalize, pay. Four
requests, one after the other, each with its own Idempotency-Key; every customer was
made before the load with `payment_method=pm_card_visa` as its invoices' default. wrk
drives them through bench/lua/invoice_chain.lua, one wrk thread (and Lua state, and
customer) per connection. Right after, at the same concurrency, the same server answers
bench/payment_intents.py's confirmed PaymentIntents (its own account), and the script
reports invoices per second beside PaymentIntents per second, and the goal of issue 12:
at c32, at least half as many invoices as PaymentIntents.

Afterwards it checks what was stored, through the API (every paid chain's invoice
`paid` for the item's amount, with one line; the intents behind them; nothing else
than the chains cut short when wrk stopped), the PaymentIntents as
bench/payment_intents.py checks them, and runs `kassa ledger verify`. The server's
/metrics, read before and after each measured run, give the server time per route
(which of the four requests cost what); `--profile` adds py-spy. See bench/README.md.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime
import json
import math
import re
import sys
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import payment_intents
from bench_cli import (
    EXIT_BENCH_FAILED,
    EXIT_OK,
    add_environment_arguments,
    add_load_arguments,
    add_storage_arguments,
    find_tools,
    run_main,
    validate_common_arguments,
)
from bench_harness import (
    DEFAULT_RESULTS_DIR,
    WRK_THREADS,
    Account,
    BenchError,
    CpuPlan,
    ProfileRequest,
    RunningProfiler,
    ScenarioResult,
    Server,
    Tools,
    WrkResult,
    choose_database,
    create_account,
    display_path,
    http_get,
    http_post_form,
    list_all_objects,
    make_run_dir,
    plan_cpus,
    remove_database_files,
    run_wrk,
    running_server,
    server_log_problems,
    start_profiler,
    verify_ledger,
    warm_up_then_measure,
)
from bench_results import (
    compare_with,
    environment_report,
    log_and_comparison_text,
    machine_line,
    profile_summary_text,
    publish_results,
    results_table,
    summarise_profile,
    targets_table,
    utc_stamp,
)

# --- The invoice ---------------------------------------------------------------------

SCENARIO: Final = "invoice"
PI_SCENARIO: Final = payment_intents.SCENARIO
LUA_SCRIPT: Final = "invoice_chain.lua"
# The same amount and currency as the PaymentIntents beside them.
AMOUNT_MINOR: Final = payment_intents.AMOUNT_MINOR
CURRENCY: Final = payment_intents.CURRENCY
PAYMENT_METHOD: Final = payment_intents.PAYMENT_METHOD
REQUESTS_PER_INVOICE: Final = 4
ITEM_KINDS: Final = ("amount", "price")
INVOICE_REQUESTS: Final = (
    f"POST /v1/invoiceitems customer=cus_...&amount={AMOUNT_MINOR}&currency={CURRENCY} "
    "(--item price: pricing[price]=price_... of that unit amount)",
    "POST /v1/invoices customer=cus_...&collection_method=charge_automatically"
    "&auto_advance=false&pending_invoice_items_behavior=include",
    "POST /v1/invoices/{id}/finalize",
    "POST /v1/invoices/{id}/pay (the customer's invoice_settings.default_payment_method)",
)
# What the Lua script writes for an invoice creation answered without an in_ id.
NO_INVOICE_ID: Final = "no-invoice-id"
WARMUP_SUFFIX: Final = "-warmup"

# --- Set-up before the load ------------------------------------------------------------

# One customer per connection per wrk run (warm-ups included), so no two chains share a
# customer and no chain of a later run finds an item left pending by an earlier one.
CUSTOMERS_MAX: Final = 4_096
CUSTOMER_PROGRESS_EVERY: Final = 200

# --- Targets (issue 12) ------------------------------------------------------------------

TARGET_CONCURRENCY: Final = 32
MIN_INVOICE_TO_PI_RATIO: Final = 0.5

# --- Profiling ---------------------------------------------------------------------------

PROFILE_FORMAT: Final = "raw"
# Where a profile's busy samples go: each sample counts for the first part (in this
# order) with a frame of that function, defined in that file, on its stack. The four
# steps' service operations first; then what runs outside them. Kept by name, so that a
# rename shows as a zero share rather than an error.
PROFILE_PARTS: Final = (
    ("1. invoice item (create_invoice_item)", "create_invoice_item", "invoice_items.py"),
    ("2. invoice (create_invoice)", "create_invoice", "invoices.py"),
    ("3. finalize (finalize_invoice)", "finalize_invoice", "invoices.py"),
    ("4. pay (pay_invoice)", "pay_invoice", "invoice_collection.py"),
    ("idempotency records (claim, stored response)", "claim_or_replay", "idempotency.py"),
    ("idempotency records (claim, stored response)", "save_response", "idempotency.py"),
    ("group COMMIT", "SqliteStore._commit_batch", "sqlite.py"),
    ("WAL checkpoint (a thread of its own)", "SqliteStore._checkpoint_once", "sqlite.py"),
    ("request log", "RequestLogWriter.", "request_log.py"),
)
PROFILE_REST: Final = "the rest: HTTP, routing, forms, auth, event loop"
_PROCESS_FRAME = re.compile(r'^process \d+:"[^"]*";')

# --- The server's /metrics ---------------------------------------------------------------

_METRIC_LINE = re.compile(
    r"^kassa_http_request_duration_seconds_(?P<kind>count|sum)"
    r'\{method="(?P<method>[^"]*)",route="(?P<route>[^"]*)",status="(?P<status>[^"]*)"\}'
    r" (?P<value>\S+)$"
)
MILLISECONDS_PER_S: Final = 1000.0

RouteKey = tuple[str, str, str]  # method, route, status
MetricsSnapshot = dict[RouteKey, tuple[float, float]]  # count, seconds


# --- Command line ------------------------------------------------------------------------


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench/invoices.py",
        description="Benchmark invoices created, finalized and paid (one line item, "
        "charge_automatically, four requests each) on one local kassa server, beside "
        "confirmed PaymentIntents on the same server in the same run; then check the "
        "invoices, intents and ledger they made.",
    )
    add_load_arguments(parser)
    add_storage_arguments(parser, "invoices")
    parser.add_argument(
        "--item",
        choices=ITEM_KINDS,
        default="amount",
        help="how the invoice item is priced: amount and currency, or pricing[price] "
        "with a price made before the load (default %(default)s)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="record a py-spy profile of the server during the highest-concurrency "
        "invoice run and summarise it, with each request's share",
    )
    add_environment_arguments(parser)
    args = parser.parse_args(argv)
    validate_common_arguments(parser, args)
    args.customers = customers_needed(args.concurrency, args.warmup_seconds)
    if args.customers > CUSTOMERS_MAX:
        parser.error(
            f"these --concurrency levels need {args.customers:,} customers "
            f"(one per connection per run); at most {CUSTOMERS_MAX:,}"
        )
    return args


def customers_needed(levels: Sequence[int], warmup_seconds: int) -> int:
    runs_per_level = 2 if warmup_seconds > 0 else 1
    return sum(levels) * runs_per_level


# --- Where things are --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Workspace:
    run_dir: Path
    database_url: str
    invoice_account: Account
    pi_account: Account
    owned_database: Path | None  # deleted at the end unless --keep-data

    def pi_workspace(self) -> payment_intents.Workspace:
        """The PaymentIntents' own account, as bench/payment_intents.py's checks read it."""
        return payment_intents.Workspace(self.run_dir, self.database_url, self.pi_account, None)


@dataclasses.dataclass
class CustomerPool:
    """Customers made before the load, handed out a run at a time, never twice."""

    ids: list[str]
    taken: int = 0

    def take(self, count: int) -> list[str]:
        if self.taken + count > len(self.ids):
            raise BenchError(f"only {len(self.ids):,} customers were made; a run needs more")
        chosen = self.ids[self.taken : self.taken + count]
        self.taken += count
        return chosen


@dataclasses.dataclass(frozen=True)
class InvoiceLoad:
    """What the invoice chains need: the server, the account, its customers, the price."""

    server: Server
    account: Account
    run_dir: Path
    customers: CustomerPool
    price: str | None

    def answered_file(self, label: str) -> Path:
        """The invoice id of every chain whose pay answered 200, per wrk run."""
        return self.run_dir / f"invoice-answered-{label}.txt"

    def errors_file(self, label: str) -> Path:
        return self.run_dir / f"invoice-errors-{label}.txt"

    def customers_file(self, label: str) -> Path:
        return self.run_dir / f"invoice-customers-{label}.txt"


@dataclasses.dataclass(frozen=True)
class InvoiceRun:
    """One measured invoice run: wrk's figures per request, and the invoices paid."""

    result: ScenarioResult
    invoices_paid: int
    malformed: int

    @property
    def label(self) -> str:
        return f"{self.result.scenario}-c{self.result.concurrency}"

    @property
    def invoices_per_s(self) -> float:
        duration = self.result.wrk.duration_s
        return self.invoices_paid / duration if duration else 0.0

    @property
    def cpu_us_per_invoice(self) -> float:
        return self.result.cpu_us_per_request * REQUESTS_PER_INVOICE


@dataclasses.dataclass
class Measurement:
    invoice_runs: list[InvoiceRun]
    pi_results: list[ScenarioResult]
    # Every wrk run, warm-ups included: all of them stored objects.
    invoice_labels: list[tuple[int, str]]  # (concurrency, label)
    pi_runs: list[tuple[int, WrkResult]]
    routes: dict[str, list[dict[str, Any]]]  # measured label -> server time per route
    stored: dict[str, Any]
    pi_stored: dict[str, Any]
    profile_summary: dict[str, Any] | None
    profile_parts: dict[str, Any] | None


# --- Set-up ------------------------------------------------------------------------------


def prepare_workspace(args: argparse.Namespace, tools: Tools, stamp: str) -> Workspace:
    run_dir = make_run_dir(args.work_dir, stamp, prefix="invoices")
    url, owned_database = choose_database(args.database, run_dir)
    # Two new accounts, even in a given database: the checks count each one's objects.
    invoice_account = create_account(tools.kassa, url)
    pi_account = create_account(tools.kassa, url)
    return Workspace(run_dir, url, invoice_account, pi_account, owned_database)


def post_json(server: Server, account: Account, path: str, fields: Mapping[str, str]) -> Any:
    status, body = http_post_form(server.base_url, path, account.secret_key, fields)
    if status != 200:
        raise BenchError(f"set-up POST {path} answered {status}: {body[:400]!r}")
    return json.loads(body)


def create_customers(server: Server, account: Account, count: int) -> list[str]:
    """Customers whose invoices are paid with pm_card_visa (attached, and their default)."""
    print(f"  creating {count:,} customers with {PAYMENT_METHOD}", file=sys.stderr)
    ids: list[str] = []
    for number in range(count):
        customer = post_json(
            server,
            account,
            "/v1/customers",
            {
                "name": f"Invoice bench {number}",
                "payment_method": PAYMENT_METHOD,
                "invoice_settings[default_payment_method]": PAYMENT_METHOD,
            },
        )
        if customer["invoice_settings"]["default_payment_method"] is None:
            raise BenchError(f"customer {customer['id']} has no default payment method")
        ids.append(str(customer["id"]))
        if (number + 1) % CUSTOMER_PROGRESS_EVERY == 0:
            print(f"    {number + 1:,} of {count:,}", file=sys.stderr)
    return ids


def create_price(server: Server, account: Account) -> str:
    price = post_json(
        server,
        account,
        "/v1/prices",
        {
            "currency": CURRENCY,
            "unit_amount": str(AMOUNT_MINOR),
            "product_data[name]": "Invoice bench item",
        },
    )
    return str(price["id"])


# --- The server's time per route, from /metrics --------------------------------------------


def read_metrics(server: Server) -> MetricsSnapshot | None:
    """Request counts and summed seconds per route and status; None without /metrics."""
    status, body = http_get(server.base_url, "/metrics", None)
    if status != 200:
        return None
    snapshot: dict[RouteKey, list[float]] = collections.defaultdict(lambda: [0.0, 0.0])
    for line in body.decode(errors="replace").splitlines():
        match = _METRIC_LINE.match(line)
        if match is None:
            continue
        key = (match["method"], match["route"], match["status"])
        snapshot[key][0 if match["kind"] == "count" else 1] = float(match["value"])
    return {key: (count, seconds) for key, (count, seconds) in snapshot.items()}


def route_times(
    before: MetricsSnapshot, after: MetricsSnapshot, invoices: int | None
) -> list[dict[str, Any]]:
    """Per route: requests and server seconds between two snapshots, busiest first.

    The server's time runs from the request reaching Kassa's app to its response being
    sent: at high concurrency it includes waiting for the event loop and the group
    commit, so the shares tell which requests cost most, not CPU time.
    """
    rows: list[dict[str, Any]] = []
    for key, (count, seconds) in after.items():
        count_before, seconds_before = before.get(key, (0.0, 0.0))
        requests, spent = count - count_before, seconds - seconds_before
        if requests <= 0:
            continue
        method, route, status = key
        rows.append(
            {
                "method": method,
                "route": route,
                "status": status,
                "requests": int(requests),
                "server_seconds": round(spent, 4),
                "mean_ms": round(spent * MILLISECONDS_PER_S / requests, 3),
                "per_invoice": round(requests / invoices, 3) if invoices else None,
            }
        )
    total = sum(row["server_seconds"] for row in rows)
    for row in rows:
        row["share"] = round(row["server_seconds"] / total, 3) if total else 0.0
    rows.sort(key=lambda row: -float(row["server_seconds"]))
    return rows


# --- Measuring ---------------------------------------------------------------------------


def read_answered(path: Path) -> list[str]:
    """The lines the Lua script wrote for one wrk run (none if it paid no invoice)."""
    if not path.exists():
        return []
    return [line for line in path.read_text().splitlines() if line]


def run_invoices_once(
    tools: Tools, cpus: CpuPlan, load: InvoiceLoad, concurrency: int, seconds: int, label: str
) -> WrkResult:
    for path in (load.errors_file(label), load.answered_file(label)):
        path.unlink(missing_ok=True)
    customers_file = load.customers_file(label)
    customers_file.write_text("\n".join(load.customers.take(concurrency)) + "\n")
    item = {"price": load.price} if load.price else {"amount": str(AMOUNT_MINOR)}
    return run_wrk(
        tools,
        cpus,
        load.server.base_url,
        LUA_SCRIPT,
        concurrency=concurrency,
        seconds=seconds,
        # One Lua state per connection: the chain's state is the connection's.
        threads=concurrency,
        script_args={
            "key": load.account.secret_key,
            # A random prefix keeps Idempotency-Keys unique across runs.
            "nonce": f"{label}-{uuid.uuid4().hex[:12]}",
            "customers_file": str(customers_file),
            "currency": CURRENCY,
            **item,
            "answered_file": str(load.answered_file(label)),
            "errors_file": str(load.errors_file(label)),
        },
    )


def metered(
    server: Server,
    run_once: Callable[[int, str], WrkResult],
    snapshots: dict[str, tuple[MetricsSnapshot, MetricsSnapshot]],
) -> Callable[[int, str], WrkResult]:
    """`run_once`, with the server's /metrics read around each measured (not warm-up) run."""

    def run(seconds: int, label: str) -> WrkResult:
        if label.endswith(WARMUP_SUFFIX):
            return run_once(seconds, label)
        before = read_metrics(server)
        result = run_once(seconds, label)
        after = read_metrics(server)
        if before is not None and after is not None:
            snapshots[label] = (before, after)
        return result

    return run


def measure(
    args: argparse.Namespace, tools: Tools, cpus: CpuPlan, workspace: Workspace
) -> Measurement:
    """At each concurrency: invoices, then at once PaymentIntents, on the same server.

    Interleaved, so that load elsewhere on the machine touches both figures of a pair
    about alike. Then the checks, through a second server.
    """
    log_path = workspace.run_dir / "server.log"
    profile = (
        ProfileRequest(
            tools.py_spy, PROFILE_FORMAT, workspace.run_dir / "profiles", per_function=True
        )
        if tools.py_spy
        else None
    )
    measurement = Measurement([], [], [], [], {}, {}, {}, None, None)
    snapshots: dict[str, tuple[MetricsSnapshot, MetricsSnapshot]] = {}
    print(f"starting kassa serve ({cpus.describe()}); log: {log_path}", file=sys.stderr)
    with running_server(
        tools.kassa,
        workspace.database_url,
        log_path,
        cpus,
        args.ready_timeout,
        workspace.invoice_account.secret_key,
    ) as server:
        pool = CustomerPool(create_customers(server, workspace.invoice_account, args.customers))
        price = create_price(server, workspace.invoice_account) if args.item == "price" else None
        load = InvoiceLoad(server, workspace.invoice_account, workspace.run_dir, pool, price)
        pi = payment_intents.Driven(server, workspace.pi_account, workspace.run_dir, "")
        for concurrency in args.concurrency:
            wants_profile = profile is not None and concurrency == max(args.concurrency)
            invoice_profile = profile if wants_profile else None
            measure_invoices(
                args, tools, cpus, load, concurrency, invoice_profile, measurement, snapshots
            )
            measure_payment_intents(args, tools, cpus, pi, concurrency, measurement, snapshots)
    invoices_paid = {run.label: run.invoices_paid for run in measurement.invoice_runs}
    measurement.routes = {
        label: route_times(before, after, invoices_paid.get(label))
        for label, (before, after) in snapshots.items()
    }
    # Captures the server's job had not posted when it stopped: work no measured rate paid for.
    captures_left = {
        account.id: payment_intents.captures_still_to_post(workspace.database_url, account.id)
        for account in (workspace.invoice_account, workspace.pi_account)
    }
    # The server has stopped, which it does only once the requests still in flight when
    # wrk stopped have finished; the checks read through a second one, with nothing in
    # flight, so the counts are final.
    print("  checking the stored invoices and intents through the API", file=sys.stderr)
    with running_server(
        tools.kassa,
        workspace.database_url,
        workspace.run_dir / "server-check.log",
        cpus,
        args.ready_timeout,
        workspace.invoice_account.secret_key,
    ) as server:
        measurement.stored = check_invoices(
            server, workspace.invoice_account, load, measurement.invoice_labels
        )
        measurement.pi_stored = payment_intents.check_stored(
            server, workspace.pi_workspace(), measurement.pi_runs
        )
    measurement.stored["captures_still_to_post_at_stop"] = captures_left[
        workspace.invoice_account.id
    ]
    measurement.pi_stored["captures_still_to_post_at_stop"] = captures_left[workspace.pi_account.id]
    return measurement


def measure_invoices(
    args: argparse.Namespace,
    tools: Tools,
    cpus: CpuPlan,
    load: InvoiceLoad,
    concurrency: int,
    profile: ProfileRequest | None,
    measurement: Measurement,
    snapshots: dict[str, tuple[MetricsSnapshot, MetricsSnapshot]],
) -> None:
    def run_once(seconds: int, label: str) -> WrkResult:
        return run_invoices_once(tools, cpus, load, concurrency, seconds, label)

    def start_profile(label: str, seconds: int) -> RunningProfiler:
        assert profile is not None
        return start_profiler(load.server, cpus, profile, label, seconds)

    result, warmup = warm_up_then_measure(
        SCENARIO,
        concurrency,
        seconds=args.seconds,
        warmup_seconds=args.warmup_seconds,
        run_once=metered(load.server, run_once, snapshots),
        errors_file=load.errors_file,
        start_profile=start_profile if profile is not None else None,
        server_pid=load.server.process.pid,
    )
    label = f"{SCENARIO}-c{concurrency}"
    if warmup is not None:
        measurement.invoice_labels.append((concurrency, label + WARMUP_SUFFIX))
    measurement.invoice_labels.append((concurrency, label))
    answered = read_answered(load.answered_file(label))
    run = InvoiceRun(
        result,
        invoices_paid=sum(1 for line in answered if line != NO_INVOICE_ID),
        malformed=answered.count(NO_INVOICE_ID),
    )
    measurement.invoice_runs.append(run)
    print(
        f"  {label}: {run.invoices_per_s:,.1f} invoices/s ({result.rps:,.0f} req/s)",
        file=sys.stderr,
    )
    if result.profiled and result.profile_path:
        measurement.profile_summary = summarise_profile(result.profile_path, args.seconds)
        measurement.profile_parts = profile_parts(result.profile_path)


def measure_payment_intents(
    args: argparse.Namespace,
    tools: Tools,
    cpus: CpuPlan,
    pi: payment_intents.Driven,
    concurrency: int,
    measurement: Measurement,
    snapshots: dict[str, tuple[MetricsSnapshot, MetricsSnapshot]],
) -> None:
    """bench/payment_intents.py's scenario, its own wrk script and account, unchanged."""

    def run_once(seconds: int, label: str) -> WrkResult:
        return payment_intents.run_confirm_once(tools, cpus, pi, concurrency, seconds, label)

    result, warmup = warm_up_then_measure(
        PI_SCENARIO,
        concurrency,
        seconds=args.seconds,
        warmup_seconds=args.warmup_seconds,
        run_once=metered(pi.server, run_once, snapshots),
        errors_file=pi.errors_file,
        start_profile=None,
        server_pid=pi.server.process.pid,
    )
    measurement.pi_results.append(result)
    if warmup is not None:
        measurement.pi_runs.append((concurrency, warmup))
    measurement.pi_runs.append((concurrency, result.wrk))
    print(f"  {PI_SCENARIO}-c{concurrency}: {result.rps:,.1f} PaymentIntents/s", file=sys.stderr)


# --- The profile, per request of the chain --------------------------------------------------


def profile_parts(path: Path) -> dict[str, Any]:
    """The busy samples of a py-spy "raw" profile by PROFILE_PARTS: each step's service
    operation, the work around them (idempotency, COMMIT, checkpoints, request log), and
    the rest. Time a step spends awaiting its COMMIT is not in the step's share."""
    counts: collections.Counter[str] = collections.Counter()
    samples = 0
    markers = [(part, f"{function}", file_name) for part, function, file_name in PROFILE_PARTS]
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        samples += count
        frames = _PROCESS_FRAME.sub("", stack).split(";")
        part = next(
            (
                part
                for part, function, file_name in markers
                if any(is_frame_of(frame, function, file_name) for frame in frames)
            ),
            PROFILE_REST,
        )
        counts[part] += count
    order = [*dict.fromkeys(part for part, _, _ in PROFILE_PARTS), PROFILE_REST]
    return {
        "samples": samples,
        "parts": [
            {
                "part": part,
                "samples": counts[part],
                "percent": round(100 * counts[part] / samples, 1) if samples else 0.0,
            }
            for part in order
        ],
    }


def is_frame_of(frame: str, function: str, file_name: str) -> bool:
    """`frame` is py-spy's `name (path:line)`: is it `function` (a whole name, or a class
    prefix ending in a dot) defined in a file called `file_name`?"""
    name, _, where = frame.partition(" (")
    matches = name.startswith(function) if function.endswith(".") else name == function
    return matches and where.rsplit(":", 1)[0].endswith("/" + file_name)


# --- Checking what was stored ----------------------------------------------------------------


def check_invoices(
    server: Server, account: Account, load: InvoiceLoad, labels: Sequence[tuple[int, str]]
) -> dict[str, Any]:
    """Every paid chain's invoice is paid for the item's amount; nothing else is stored
    but the chains cut short when a wrk run stopped (at most one per connection)."""
    key = account.secret_key
    invoices = {item["id"]: item for item in list_all_objects(server.base_url, key, "/v1/invoices")}
    items = list(list_all_objects(server.base_url, key, "/v1/invoiceitems"))
    intents = list(list_all_objects(server.base_url, key, "/v1/payment_intents"))
    lines = [line for _, label in labels for line in read_answered(load.answered_file(label))]
    answered = [line for line in lines if line != NO_INVOICE_ID]
    cut_short_max = sum(concurrency for concurrency, _ in labels)
    problems = answered_problems(answered, lines, invoices)
    problems += stored_invoice_problems(invoices, items, intents)
    unanswered = len(set(invoices) - set(answered))
    pending = sum(1 for item in items if item.get("invoice") is None)
    if unanswered + pending > cut_short_max:
        problems.append(
            f"{unanswered:,} invoices without a paid answer and {pending:,} pending items: "
            f"more than the {cut_short_max:,} chains that can be cut short"
        )
    return {
        "invoices_paid_answered": len(answered),
        "invoices_stored": len(invoices),
        "invoices_by_status": status_counts(invoices.values()),
        "invoice_items_stored": len(items),
        "invoice_items_pending": pending,
        "payment_intents_stored": len(intents),
        "payment_intents_by_status": status_counts(intents),
        "invoices_unanswered": unanswered,
        "chains_cut_short_max": cut_short_max,
        "problems": problems,
        "ok": not problems,
    }


def status_counts(objects: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    return dict(collections.Counter(str(item.get("status")) for item in objects))


def paid_in_full(invoice: Mapping[str, Any]) -> bool:
    """Paid by charge for the one item's amount, nothing left, one line of that amount."""
    lines = invoice.get("lines") or {}
    line_amounts = [line.get("amount") for line in lines.get("data", [])]
    return (
        invoice.get("status") == "paid"
        and invoice.get("collection_method") == "charge_automatically"
        and invoice.get("currency") == CURRENCY
        and invoice.get("total") == AMOUNT_MINOR
        and invoice.get("amount_paid") == AMOUNT_MINOR
        and invoice.get("amount_remaining") == 0
        and line_amounts == [AMOUNT_MINOR]
        and lines.get("has_more") is False
    )


def answered_problems(
    answered: Sequence[str], lines: Sequence[str], invoices: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    problems: list[str] = []
    if len(lines) != len(answered):
        problems.append(
            f"{len(lines) - len(answered):,} invoice creations answered 200 without an in_ id"
        )
    if len(set(answered)) != len(answered):
        problems.append(f"{len(answered) - len(set(answered)):,} paid invoices answered twice")
    bad = [invoice for invoice in answered if not paid_in_full(invoices.get(invoice, {}))]
    if bad:
        problems.append(
            f"{len(bad):,} answered invoices are not stored paid for {AMOUNT_MINOR} "
            f"{CURRENCY} with one line, e.g. {bad[:3]}"
        )
    return problems


def stored_invoice_problems(
    invoices: Mapping[str, Mapping[str, Any]],
    items: Sequence[Mapping[str, Any]],
    intents: Sequence[Mapping[str, Any]],
) -> list[str]:
    """Every stored object is a step of some chain, and each chain's are consistent."""
    problems: list[str] = []
    statuses = status_counts(invoices.values())
    unexpected = set(statuses) - {"draft", "open", "paid"}
    if unexpected:
        problems.append(f"invoices in unexpected statuses: {statuses}")
    paid = [invoice for invoice, item in invoices.items() if item.get("status") == "paid"]
    not_in_full = [invoice for invoice in paid if not paid_in_full(invoices[invoice])]
    if not_in_full:
        problems.append(
            f"{len(not_in_full):,} paid invoices not paid in full, e.g. {not_in_full[:3]}"
        )
    wrong_items = [item["id"] for item in items if item.get("amount") != AMOUNT_MINOR]
    if wrong_items:
        problems.append(f"{len(wrong_items):,} items not of {AMOUNT_MINOR}, e.g. {wrong_items[:3]}")
    invoiced = collections.Counter(item.get("invoice") for item in items if item.get("invoice"))
    if set(invoiced) != set(invoices) or set(invoiced.values()) - {1}:
        problems.append(
            f"{len(invoiced):,} invoices hold items, {len(invoices):,} are stored; "
            f"items per invoice {dict(collections.Counter(invoiced.values()))}"
        )
    # Finalizing makes the invoice's PaymentIntent; paying confirms it.
    succeeded = [intent for intent in intents if intent.get("status") == "succeeded"]
    finalized = len(paid) + statuses.get("open", 0)
    if len(succeeded) != len(paid) or len(intents) != finalized:
        problems.append(
            f"{len(intents):,} PaymentIntents ({len(succeeded):,} succeeded) for "
            f"{finalized:,} finalized invoices ({len(paid):,} paid)"
        )
    short = [intent["id"] for intent in succeeded if intent.get("amount_received") != AMOUNT_MINOR]
    if short:
        problems.append(
            f"{len(short):,} succeeded intents not for {AMOUNT_MINOR}, e.g. {short[:3]}"
        )
    return problems


# --- Results -------------------------------------------------------------------------------


def side_by_side(
    runs: Sequence[InvoiceRun], pi_results: Sequence[ScenarioResult]
) -> list[dict[str, Any]]:
    """Per concurrency: invoices/s beside PaymentIntents/s, and server CPU per each."""
    pis = {result.concurrency: result for result in pi_results}
    rows: list[dict[str, Any]] = []
    for run in runs:
        pi = pis.get(run.result.concurrency)
        if pi is None:
            continue
        per_invoice, per_pi = run.cpu_us_per_invoice, pi.cpu_us_per_request
        cpu_ratio = per_pi / per_invoice if per_invoice > 0 else math.nan
        rows.append(
            {
                "concurrency": run.result.concurrency,
                "invoices_per_s": round(run.invoices_per_s, 1),
                "payment_intents_per_s": round(pi.rps, 1),
                "ratio": round(run.invoices_per_s / pi.rps, 3) if pi.rps else None,
                "cpu_us_per_invoice": round(run.cpu_us_per_invoice, 1),
                "cpu_us_per_payment_intent": round(pi.cpu_us_per_request, 1),
                # What the ratio would be if the server's CPU were all that limited both.
                "cpu_ratio": None if math.isnan(cpu_ratio) else round(cpu_ratio, 3),
            }
        )
    return rows


def evaluate_targets(
    runs: Sequence[InvoiceRun],
    pi_results: Sequence[ScenarioResult],
    rows: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = [
        {
            "target": f"{result.scenario} c{result.concurrency} errors (non-200 or socket) == 0",
            "value": payment_intents.error_count(result),
            "met": payment_intents.error_count(result) == 0,
        }
        for result in [run.result for run in runs] + list(pi_results)
    ]
    for row in rows:
        if row["concurrency"] == TARGET_CONCURRENCY:
            ratio = row["ratio"] or 0.0
            checks.append(
                {
                    "target": f"invoices/s >= {MIN_INVOICE_TO_PI_RATIO:g} x confirmed "
                    f"PaymentIntents/s at c{TARGET_CONCURRENCY} "
                    f"({row['invoices_per_s']:,} vs {row['payment_intents_per_s']:,})",
                    "value": ratio,
                    "met": ratio >= MIN_INVOICE_TO_PI_RATIO,
                }
            )
    return checks


def invoice_run_json(run: InvoiceRun) -> dict[str, Any]:
    return {
        **run.result.as_json(),
        "invoices_paid": run.invoices_paid,
        "invoices_per_s": round(run.invoices_per_s, 1),
        "invoice_creations_without_id": run.malformed,
        "cpu_us_per_invoice": round(run.cpu_us_per_invoice, 1),
    }


def build_report(
    args: argparse.Namespace,
    tools: Tools,
    cpus: CpuPlan,
    workspace: Workspace,
    measurement: Measurement,
    ledger: Mapping[str, Any],
    started_at: str,
) -> dict[str, Any]:
    log_path = workspace.run_dir / "server.log"
    rows = side_by_side(measurement.invoice_runs, measurement.pi_results)
    report: dict[str, Any] = {
        "benchmark": "invoices",
        "started_at": started_at,
        "environment": environment_report(tools, cpus),
        "settings": {
            "seconds": args.seconds,
            "warmup_seconds": args.warmup_seconds,
            "concurrency": args.concurrency,
            "wrk_threads": {SCENARIO: "one per connection", PI_SCENARIO: WRK_THREADS},
            "database": workspace.database_url.split(":", 1)[0],
            "item": args.item,
            "customers": args.customers,
            "invoice_requests": list(INVOICE_REQUESTS),
            "payment_intent_request": payment_intents.REQUEST_DESCRIPTION,
        },
        "scenarios": [invoice_run_json(run) for run in measurement.invoice_runs]
        + [result.as_json() for result in measurement.pi_results],
        "side_by_side": rows,
        "routes": measurement.routes,
        "targets": evaluate_targets(measurement.invoice_runs, measurement.pi_results, rows),
        "stored": measurement.stored,
        "payment_intents_stored": measurement.pi_stored,
        "ledger_verify": dict(ledger),
        "profile_summary": measurement.profile_summary,
        "profile_parts": measurement.profile_parts,
        "server_log": {"path": display_path(log_path), **server_log_problems(log_path)},
    }
    if args.compare:
        results = [run.result for run in measurement.invoice_runs] + measurement.pi_results
        report["comparison"] = {
            "baseline": str(args.compare),
            "rows": compare_with(args.compare, results),
        }
    return report


def invoice_table(runs: Sequence[InvoiceRun]) -> str:
    header = (
        f"{'conc':>4} {'invoices':>9} {'inv/s':>8} {'requests':>9} {'req/s':>8} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'non-2xx':>8} {'sock err':>8} "
        f"{'cpu us/inv':>10}"
    )
    lines = [header, "-" * len(header)]
    for run in runs:
        result = run.result
        marker = " (profiled)" if result.profiled else ""
        lines.append(
            f"{result.concurrency:>4} {run.invoices_paid:>9,} {run.invoices_per_s:>8,.1f} "
            f"{result.wrk.requests:>9,} {result.rps:>8,.0f} {result.latency_ms('p50'):>8.2f} "
            f"{result.latency_ms('p99'):>8.2f} {result.latency_ms('max'):>8.2f} "
            f"{result.wrk.responses_other:>8,} {result.wrk.socket_error_count:>8,} "
            f"{run.cpu_us_per_invoice:>10.0f}{marker}"
        )
    return "\n".join(lines)


def side_by_side_table(rows: Sequence[Mapping[str, Any]]) -> str:
    header = (
        f"{'conc':>4} {'invoices/s':>10} {'PIs/s':>8} {'ratio':>6} "
        f"{'cpu us/inv':>10} {'cpu us/PI':>9} {'cpu ratio':>9}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row['concurrency']:>4} {row['invoices_per_s']:>10,.1f} "
            f"{row['payment_intents_per_s']:>8,.1f} {row['ratio'] or 0:>6.3f} "
            f"{row['cpu_us_per_invoice']:>10,.0f} {row['cpu_us_per_payment_intent']:>9,.0f} "
            f"{row['cpu_ratio'] or 0:>9.3f}"
        )
    return "\n".join(lines)


def routes_text(routes: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[str]:
    lines: list[str] = []
    for label, rows in routes.items():
        lines += ["", f"  {label}:"]
        lines += [
            f"  {row['method']:<5} {row['route']:<32} {row['status']:>4} {row['requests']:>8,} "
            f"req  mean {row['mean_ms']:>7.2f} ms  {100 * row['share']:>5.1f}% of server time"
            for row in rows
        ]
    return lines


def stored_text(report: Mapping[str, Any]) -> list[str]:
    stored = report["stored"]
    verdict = "ok" if stored["ok"] else "FAILED"
    lines = [
        f"Invoices stored [{verdict}]: {stored['invoices_paid_answered']:,} paid and answered "
        f"(warm-ups included); {stored['invoices_stored']:,} invoices "
        f"{stored['invoices_by_status']}; {stored['invoice_items_stored']:,} items "
        f"({stored['invoice_items_pending']:,} pending); {stored['payment_intents_stored']:,} "
        f"PaymentIntents {stored['payment_intents_by_status']}; "
        f"{stored['invoices_unanswered']:,} invoices and pending items of chains cut short "
        f"(at most {stored['chains_cut_short_max']:,}); "
        f"{stored['captures_still_to_post_at_stop']} captures still to post when the "
        "measured server stopped",
    ]
    lines += [f"  problem: {problem}" for problem in stored["problems"]]
    pi_lines = payment_intents.stored_text(
        report["payment_intents_stored"], report["ledger_verify"]
    )
    return [*lines, "PaymentIntents account: " + pi_lines[0], *pi_lines[1:]]


def report_text(report: Mapping[str, Any], measurement: Measurement) -> str:
    settings = report["settings"]
    env = report["environment"]
    parts = [
        f"Kassa invoices benchmark {report['started_at']} (commit {env['git_commit']}, "
        f"{env['wrk']}, {env['pinning']})",
        machine_line(env),
        "One invoice, four requests on one connection, each with its own Idempotency-Key:",
        *(f"  {number}. {text}" for number, text in enumerate(INVOICE_REQUESTS, start=1)),
        f"Beside it: {settings['payment_intent_request']}",
        f"{settings['seconds']:g}s per scenario and concurrency after "
        f"{settings['warmup_seconds']:g}s warm-up; {settings['database']}; "
        f"item by {settings['item']}; "
        f"{settings['customers']:,} customers made before the load",
        "",
        "Invoices (req/s, latency and errors are per request; cpu = server CPU per invoice):",
        invoice_table(measurement.invoice_runs),
        "",
        "Confirmed PaymentIntents (the same server, right after each invoice run):",
        results_table(measurement.pi_results),
        "",
        "Invoices beside PaymentIntents (ratio = invoices/s / PIs/s; cpu ratio = "
        "cpu us per PI / cpu us per invoice):",
        side_by_side_table(report["side_by_side"]),
    ]
    if report["routes"]:
        parts += [
            "",
            "Server time per route (/metrics, measured runs):",
            *routes_text(report["routes"]),
        ]
    parts += [
        "",
        "Targets:",
        targets_table(report["targets"]),
        "",
        *stored_text(report),
    ]
    parts += log_and_comparison_text(report)
    if report["profile_summary"]:
        parts += [
            "",
            "Profile of the server (py-spy), busy samples by part (the first that is on the "
            "stack, in this order):",
            *(
                f"  {row['percent']:>6.1f}%  {row['samples']:>7,}  {row['part']}"
                for row in report["profile_parts"]["parts"]
            ),
            "",
            profile_summary_text(report["profile_summary"]),
        ]
    return "\n".join(parts)


# --- Orchestration ---------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    started_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    stamp = utc_stamp()
    tools = find_tools(args)
    cpus = plan_cpus(pin=not args.no_pin)
    workspace = prepare_workspace(args, tools, stamp)
    try:
        measurement = measure(args, tools, cpus, workspace)
        print("  running kassa ledger verify", file=sys.stderr)
        ledger = verify_ledger(tools.kassa, workspace.database_url)
    finally:
        if not args.keep_data and workspace.owned_database is not None:
            remove_database_files(workspace.owned_database)
    report = build_report(args, tools, cpus, workspace, measurement, ledger, started_at)
    text = report_text(report, measurement)
    output = args.output or DEFAULT_RESULTS_DIR / f"invoices-{stamp}.json"
    publish_results(output, report, text)
    correct = (
        measurement.stored["ok"]
        and measurement.pi_stored["ok"]
        and ledger["ok"]
        and all(payment_intents.error_count(run.result) == 0 for run in measurement.invoice_runs)
        and all(payment_intents.error_count(result) == 0 for result in measurement.pi_results)
    )
    return EXIT_OK if correct else EXIT_BENCH_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(parse_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
