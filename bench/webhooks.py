"""Benchmark webhook delivery: one `kassa worker` process, a fast local receiver.

Two measurements (see bench/README.md, "Webhooks"):

- throughput: N events wait in the outbox of a fresh database, one endpoint or several; one
  `python -m kassa worker` starts, and the clock runs from its start until no delivery is left
  pending (every one succeeded and was recorded). Deliveries per second = N / that time.
- fairness: endpoint A has a backlog of 100,000 events and answers after 20 ms, so the backlog
  lasts the whole run; endpoint B gets one event every 100-200 ms. For each of B's events:
  the time from its commit to its arrival at the receiver (p50, p99, max).

Set-up goes through Kassa itself: `kassa accounts create`, then a `kassa serve` without
delivery workers (KASSA_WEBHOOK_WORKERS=0) for the SDK to create a customer and the endpoints;
the events are written in-process by `kassa.services.events.announce` in `Store.write()` units
(bench/webhook_fixture.py), the same writes a request makes. The receiver
(bench/webhook_receiver_fast.py) answers 200 from its own process and checks a sample of the
signatures with `stripe.Webhook.construct_event`. The worker is pinned to the first CPU, the
receiver, this script and the set-up server to the others. All traffic is on 127.0.0.1.

    python bench/webhooks.py                 # fresh SQLite databases, both measurements
    python bench/webhooks.py --quick         # a small smoke run (a few seconds each)
    python bench/webhooks.py --engine postgresql --profile
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bench_cli import (
    DEFAULT_READY_TIMEOUT_S,
    EXIT_BENCH_FAILED,
    EXIT_OK,
    MAX_READY_TIMEOUT_S,
    find_kassa,
    find_py_spy,
    run_main,
)
from bench_harness import (
    DEFAULT_RESULTS_DIR,
    DEFAULT_WORK_DIR,
    PROCESS_STOP_TIMEOUT_S,
    Account,
    BenchError,
    CpuPlan,
    Server,
    create_account,
    display_path,
    free_loopback_port,
    make_run_dir,
    plan_cpus,
    remove_database_files,
    running_server,
    server_log_problems,
    sqlite_url,
    stop_process,
)
from bench_results import (
    publish_results,
    utc_stamp,
)
from webhook_fixture import (
    TimedEvent,
    announce_many,
    announce_timed,
    create_postgres_database,
    drop_postgres_database,
    endpoints_with_pending_deliveries,
    new_postgres_database_name,
    open_bench_store,
    postgres_database_url,
    say,
)
from webhook_processes import (
    CreatedEndpoint,
    EndpointSpec,
    ReceiverHandle,
    WorkerCpu,
    check_events_delivered,
    count_attempts,
    create_endpoints,
    ensure_running,
    process_cpu_seconds,
    running_receiver,
    sample_customer,
    start_worker,
    start_worker_profiler,
    stop_worker_profiler,
    write_receiver_config,
)
from webhook_report import (
    backlogged_summary,
    build_report,
    describe_pinning,
    environment,
    quiet_summary,
    receiver_summary,
    report_text,
    throughput_result,
)

from kassa.services.catalog import EVENT_TYPES
from kassa.services.events import WEBHOOK_ENDPOINTS_PER_ACCOUNT_MAX
from kassa.store import Store

# --- Sizes and bounds ---------------------------------------------------------------------------

DEFAULT_EVENTS = 30_000
QUICK_EVENTS = 2_000
EVENTS_MIN, EVENTS_MAX = 100, 500_000
DEFAULT_ENDPOINT_COUNTS = (1, 16)
DEFAULT_BACKLOG = 100_000
QUICK_BACKLOG = 5_000
BACKLOG_MIN, BACKLOG_MAX = 100, 1_000_000
DEFAULT_FAIRNESS_SECONDS = 60
QUICK_FAIRNESS_SECONDS = 5
FAIRNESS_SECONDS_MIN, FAIRNESS_SECONDS_MAX = 1, 600
DEFAULT_SLOW_DELAY_MS = 20
SLOW_DELAY_MS_MAX = 5_000
# B's events come one at a time, this far apart (uniformly drawn; seeded).
QUIET_GAP_MIN_S, QUIET_GAP_MAX_S = 0.1, 0.2
# A throughput run that has not drained after this long is reported as unfinished.
DEFAULT_MAX_DRAIN_SECONDS = 600
DRAIN_SECONDS_MAX = 3_600
# How often the drain probe asks the store whether anything is left to deliver.
DRAIN_POLL_S = 0.05
PROGRESS_INTERVAL_S = 2.0
# After its last event, B's deliveries may take this long to arrive before they count as lost.
QUIET_ARRIVAL_GRACE_S = 30.0
ARRIVAL_POLL_S = 0.1
# A's backlog must be in delivery (a first arrival) within this long of the worker's start.
FIRST_ARRIVAL_TIMEOUT_S = 60.0
# The worker must print its banner (imports done, store open) within this long.
WORKER_START_TIMEOUT_S = 60.0

# --- Event types -------------------------------------------------------------------------------

# Throughput: endpoint k listens to THROUGHPUT_TYPES[k] only, and events cycle through the
# types of the run's endpoints, so every event has exactly one delivery.
THROUGHPUT_TYPES = tuple(t for t in EVENT_TYPES if t != "webhook_endpoint.disabled")
BACKLOG_TYPE = "customer.created"  # endpoint A
QUIET_TYPE = "customer.updated"  # endpoint B
ENGINES = ("sqlite", "postgresql")
DEFAULT_POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
PHASES = ("throughput", "fairness")


# --- Command line -------------------------------------------------------------------------------


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench/webhooks.py",
        description="Benchmark webhook delivery by one `kassa worker` process: signed deliveries "
        "per second to a fast local receiver, and the latency of a quiet endpoint next to a "
        "backlogged one.",
    )
    parser.add_argument("--quick", action="store_true", help="small smoke run (a few seconds)")
    parser.add_argument(
        "--phases", default=",".join(PHASES), help="which measurements (default %(default)s)"
    )
    parser.add_argument(
        "--events", type=int, help=f"throughput: events (default {DEFAULT_EVENTS:,})"
    )
    parser.add_argument(
        "--endpoints",
        default=",".join(map(str, DEFAULT_ENDPOINT_COUNTS)),
        help="throughput: comma-separated endpoint counts, one run each (default %(default)s)",
    )
    parser.add_argument(
        "--backlog", type=int, help=f"fairness: A's backlog (default {DEFAULT_BACKLOG:,})"
    )
    parser.add_argument(
        "--fairness-seconds",
        type=int,
        help=f"fairness: run length (default {DEFAULT_FAIRNESS_SECONDS})",
    )
    parser.add_argument(
        "--slow-delay-ms",
        type=int,
        default=DEFAULT_SLOW_DELAY_MS,
        help="fairness: how long A's receiver takes to answer (default %(default)s)",
    )
    parser.add_argument(
        "--engine", choices=ENGINES, default="sqlite", help="database (default %(default)s)"
    )
    parser.add_argument(
        "--postgres-admin-url",
        default=os.environ.get("KASSA_TEST_POSTGRES_URL", DEFAULT_POSTGRES_ADMIN_URL),
        help="where fresh databases are created for --engine postgresql (default %(default)s)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="py-spy profile of the worker in throughput runs"
    )
    parser.add_argument(
        "--worker-uvloop",
        action="store_true",
        help="experiment: run the worker on uvloop instead of asyncio's own event loop",
    )
    parser.add_argument(
        "--max-drain-seconds",
        type=int,
        default=DEFAULT_MAX_DRAIN_SECONDS,
        help="give up on a throughput run after this long (default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=4, help="seeds B's event gaps")
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=DEFAULT_WORK_DIR,
        help="databases, logs and profiles (default bench/.data/)",
    )
    parser.add_argument("--output", type=Path, help="results JSON (default bench/results/)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument("--kassa", type=Path, help="kassa executable (default: the venv's)")
    parser.add_argument(
        "--ready-timeout",
        type=float,
        default=DEFAULT_READY_TIMEOUT_S,
        help="seconds to wait for a server to answer (default %(default)s)",
    )
    parser.add_argument("--keep-data", action="store_true", help="keep the run's databases")
    args = parser.parse_args(argv)
    apply_quick_defaults(args)
    validate(parser, args)
    return args


def apply_quick_defaults(args: argparse.Namespace) -> None:
    quick = args.quick
    if args.events is None:
        args.events = QUICK_EVENTS if quick else DEFAULT_EVENTS
    if args.backlog is None:
        args.backlog = QUICK_BACKLOG if quick else DEFAULT_BACKLOG
    if args.fairness_seconds is None:
        args.fairness_seconds = QUICK_FAIRNESS_SECONDS if quick else DEFAULT_FAIRNESS_SECONDS


def validate(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    checks = (
        (EVENTS_MIN <= args.events <= EVENTS_MAX, f"--events in [{EVENTS_MIN}, {EVENTS_MAX}]"),
        (
            BACKLOG_MIN <= args.backlog <= BACKLOG_MAX,
            f"--backlog in [{BACKLOG_MIN}, {BACKLOG_MAX}]",
        ),
        (
            FAIRNESS_SECONDS_MIN <= args.fairness_seconds <= FAIRNESS_SECONDS_MAX,
            f"--fairness-seconds in [{FAIRNESS_SECONDS_MIN}, {FAIRNESS_SECONDS_MAX}]",
        ),
        (
            0 <= args.slow_delay_ms <= SLOW_DELAY_MS_MAX,
            f"--slow-delay-ms in [0, {SLOW_DELAY_MS_MAX}]",
        ),
        (
            1 <= args.max_drain_seconds <= DRAIN_SECONDS_MAX,
            f"--max-drain-seconds in [1, {DRAIN_SECONDS_MAX}]",
        ),
        (
            0 < args.ready_timeout <= MAX_READY_TIMEOUT_S,
            f"--ready-timeout in (0, {MAX_READY_TIMEOUT_S}]",
        ),
    )
    for ok, message in checks:
        if not ok:
            parser.error(message)
    args.phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    if not args.phases or set(args.phases) - set(PHASES):
        parser.error(f"--phases: comma-separated, of {', '.join(PHASES)}")
    try:
        args.endpoints = sorted({int(part) for part in args.endpoints.split(",") if part.strip()})
    except ValueError:
        parser.error("--endpoints: comma-separated numbers")
    if not args.endpoints or not 1 <= min(args.endpoints) <= max(args.endpoints) <= (
        WEBHOOK_ENDPOINTS_PER_ACCOUNT_MAX
    ):
        parser.error(f"--endpoints values in [1, {WEBHOOK_ENDPOINTS_PER_ACCOUNT_MAX}]")


# --- One run's shared state, databases and set-up ---------------------------------------------


@dataclasses.dataclass(frozen=True)
class RunContext:
    args: argparse.Namespace
    kassa: Path
    py_spy: Path | None
    cpus: CpuPlan
    run_dir: Path

    @property
    def setup_cpus(self) -> CpuPlan:
        """The set-up and check servers run beside the receiver, off the worker's CPU."""
        return CpuPlan(server=self.cpus.load, load=self.cpus.load)


@dataclasses.dataclass(frozen=True)
class Prepared:
    url: str
    account: Account
    customer: dict[str, Any]
    endpoints: list[CreatedEndpoint]
    receiver_port: int

    def endpoint(self, path: str) -> CreatedEndpoint:
        return next(e for e in self.endpoints if e.spec.path == path)


@contextlib.contextmanager
def fresh_database(ctx: RunContext, phase: str) -> Iterator[str]:
    """A new, empty database for one measurement; dropped afterwards unless --keep-data."""
    args = ctx.args
    if args.engine == "postgresql":
        name = new_postgres_database_name(phase.replace("-", "_"))
        asyncio.run(create_postgres_database(args.postgres_admin_url, name))
        try:
            yield postgres_database_url(args.postgres_admin_url, name)
        finally:
            if not args.keep_data:
                asyncio.run(drop_postgres_database(args.postgres_admin_url, name))
        return
    path = ctx.run_dir / f"{phase}.db"
    try:
        yield sqlite_url(path)
    finally:
        if not args.keep_data:
            remove_database_files(path)


def prepare(ctx: RunContext, url: str, phase: str, specs: Sequence[EndpointSpec]) -> Prepared:
    """An account, a sample customer and the endpoints, through Kassa's CLI and API."""
    say(f"  {phase}: account, customer and {len(specs)} endpoints through the API")
    account = create_account(ctx.kassa, url)
    port = free_loopback_port()
    with running_server(
        ctx.kassa,
        url,
        ctx.run_dir / f"server-{phase}.log",
        ctx.setup_cpus,
        ctx.args.ready_timeout,
        account.secret_key,
    ) as server:
        customer = sample_customer(server, account)
        endpoints = create_endpoints(server, account, port, specs)
    return Prepared(url, account, customer, endpoints, port)


@contextlib.contextmanager
def receiver_for(ctx: RunContext, prepared: Prepared, phase: str) -> Iterator[ReceiverHandle]:
    config = write_receiver_config(ctx.run_dir / f"receiver-{phase}.json", prepared.endpoints)
    log_path = ctx.run_dir / f"receiver-{phase}.log"
    with running_receiver(prepared.receiver_port, config, log_path, ctx.cpus.load) as receiver:
        yield receiver


@contextlib.contextmanager
def check_server(ctx: RunContext, prepared: Prepared, phase: str) -> Iterator[Server]:
    """A `kassa serve` (delivering nothing) to read the results through the API."""
    with running_server(
        ctx.kassa,
        prepared.url,
        ctx.run_dir / f"server-{phase}-check.log",
        ctx.setup_cpus,
        ctx.args.ready_timeout,
        prepared.account.secret_key,
    ) as server:
        yield server


def worker_log(ctx: RunContext, phase: str) -> Path:
    return ctx.run_dir / f"worker-{phase}.log"


def wait_for_worker_start(log_path: Path, worker: subprocess.Popen[bytes]) -> None:
    """Until the worker prints its banner (it has opened the store and starts delivering):
    py-spy can attach only once Python runs, and the CPU time used so far is start-up."""
    deadline = time.monotonic() + WORKER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        ensure_running(worker, "kassa worker", log_path)
        if "delivering webhooks" in log_path.read_text(errors="replace"):
            return
        time.sleep(DRAIN_POLL_S)
    raise BenchError(f"kassa worker did not start within {WORKER_START_TIMEOUT_S}s")


# --- Throughput ---------------------------------------------------------------------------------


def throughput_run(ctx: RunContext, endpoint_count: int) -> dict[str, Any]:
    phase = f"throughput-{endpoint_count}ep"
    specs = [EndpointSpec(f"e{k}", (THROUGHPUT_TYPES[k],)) for k in range(endpoint_count)]
    with fresh_database(ctx, phase) as url:
        prepared = prepare(ctx, url, phase, specs)
        with receiver_for(ctx, prepared, phase) as receiver:
            result = asyncio.run(measure_throughput(ctx, prepared, receiver, phase))
        say(f"  {phase}: checking every event through the API")
        with check_server(ctx, prepared, phase) as server:
            result["api_check"] = check_events_delivered(
                server, prepared.account, set(result.pop("event_ids"))
            )
    log_path = worker_log(ctx, phase)
    result["worker_log"] = {"path": display_path(log_path), **server_log_problems(log_path)}
    return result


async def measure_throughput(
    ctx: RunContext, prepared: Prepared, receiver: ReceiverHandle, phase: str
) -> dict[str, Any]:
    args = ctx.args
    store = await open_bench_store(prepared.url)
    try:
        types = [endpoint.spec.event_types[0] for endpoint in prepared.endpoints]
        say(f"  {phase}: writing {args.events:,} events to the outbox")
        generation_started = time.monotonic()
        event_ids = await announce_many(
            store, prepared.account.id, types, prepared.customer, args.events, phase
        )
        generation_s = time.monotonic() - generation_started
        say(f"  {phase}: starting one kassa worker ({describe_pinning(ctx.cpus)})")
        log_path = worker_log(ctx, phase)
        started = time.time()
        worker = start_worker(
            prepared.url, log_path, ctx.cpus.server, uvloop=ctx.args.worker_uvloop
        )
        profile: tuple[Path | None, float] = (None, 0.0)
        try:
            wait_for_worker_start(log_path, worker)
            cpu = WorkerCpu(started, time.time(), process_cpu_seconds(worker.pid))
            profiler = None
            if ctx.py_spy is not None:
                stem = ctx.run_dir / "profiles" / f"worker-{phase}"
                stem.parent.mkdir(parents=True, exist_ok=True)
                profiler = start_worker_profiler(ctx.py_spy, worker.pid, stem, ctx.cpus.load)
            drained_at = await wait_until_drained(
                store, worker, log_path, receiver, started, len(event_ids), args.max_drain_seconds
            )
            cpu.finished(process_cpu_seconds(worker.pid))
            if profiler is not None:
                profile = stop_worker_profiler(profiler)
        finally:
            stop_process(worker, PROCESS_STOP_TIMEOUT_S)
        stats = receiver.stats()
    finally:
        await store.close()
    return throughput_result(
        len(prepared.endpoints), event_ids, generation_s, cpu, drained_at, stats, profile
    )


async def wait_until_drained(
    store: Store,
    worker: subprocess.Popen[bytes],
    log_path: Path,
    receiver: ReceiverHandle,
    started: float,
    expected: int,
    max_seconds: int,
) -> float | None:
    """The wall time at which no delivery was left pending; None if not within max_seconds."""
    last_report, last_received = time.monotonic(), 0
    while time.time() < started + max_seconds:
        ensure_running(worker, "kassa worker", log_path)
        if not await endpoints_with_pending_deliveries(store):
            return time.time()
        if time.monotonic() - last_report >= PROGRESS_INTERVAL_S:
            stats = await asyncio.to_thread(receiver.stats)
            received = sum(path["requests"] for path in stats["paths"].values())
            rate = (received - last_received) / (time.monotonic() - last_report)
            say(f"    {received:,}/{expected:,} delivered ({rate:,.0f}/s)")
            last_report, last_received = time.monotonic(), received
        await asyncio.sleep(DRAIN_POLL_S)
    say(f"    not drained after {max_seconds}s; stopping")
    return None


# --- Fairness -----------------------------------------------------------------------------------


def fairness_run(ctx: RunContext) -> dict[str, Any]:
    phase = "fairness"
    specs = [
        EndpointSpec("a", (BACKLOG_TYPE,), delay_ms=ctx.args.slow_delay_ms),
        EndpointSpec("b", (QUIET_TYPE,), record_arrivals=True),
    ]
    with fresh_database(ctx, phase) as url:
        prepared = prepare(ctx, url, phase, specs)
        with receiver_for(ctx, prepared, phase) as receiver:
            result = asyncio.run(measure_fairness(ctx, prepared, receiver))
        say("  fairness: counting the recorded attempts through the API")
        with check_server(ctx, prepared, phase) as server:
            result["attempts_recorded"] = {
                endpoint.spec.path: count_attempts(server, prepared.account, endpoint.id)
                for endpoint in prepared.endpoints
            }
    log_path = worker_log(ctx, phase)
    result["worker_log"] = {"path": display_path(log_path), **server_log_problems(log_path)}
    return result


async def measure_fairness(
    ctx: RunContext, prepared: Prepared, receiver: ReceiverHandle
) -> dict[str, Any]:
    args = ctx.args
    store = await open_bench_store(prepared.url)
    try:
        say(f"  fairness: writing A's backlog of {args.backlog:,} events")
        generation_started = time.monotonic()
        await announce_many(
            store, prepared.account.id, [BACKLOG_TYPE], prepared.customer, args.backlog, "A"
        )
        generation_s = time.monotonic() - generation_started
        log_path = worker_log(ctx, "fairness")
        say(f"  fairness: starting one kassa worker ({describe_pinning(ctx.cpus)})")
        worker = start_worker(
            prepared.url, log_path, ctx.cpus.server, uvloop=ctx.args.worker_uvloop
        )
        try:
            await wait_for_first_arrival(receiver, "a", worker, log_path)
            before = await asyncio.to_thread(receiver.stats)
            say(
                f"  fairness: one event for B every {QUIET_GAP_MIN_S}-{QUIET_GAP_MAX_S}s "
                f"for {args.fairness_seconds}s"
            )
            window_started, cpu_before = time.time(), process_cpu_seconds(worker.pid)
            timed = await send_quiet_events(store, ctx, prepared, receiver, worker, log_path)
            window_s = time.time() - window_started
            worker_cpu_s = process_cpu_seconds(worker.pid) - cpu_before
            after = await asyncio.to_thread(receiver.stats)
            pending = await endpoints_with_pending_deliveries(store)
            arrivals = await wait_for_arrivals(receiver, "b", {t.event_id for t in timed})
        finally:
            stop_process(worker, PROCESS_STOP_TIMEOUT_S)
        final = receiver.stats()
    finally:
        await store.close()
    return {
        "backlog_events": args.backlog,
        "slow_delay_ms": args.slow_delay_ms,
        "seconds": round(window_s, 2),
        "quiet_gap_s": [QUIET_GAP_MIN_S, QUIET_GAP_MAX_S],
        "generation": {
            "seconds": round(generation_s, 2),
            "events_per_s": round(args.backlog / generation_s, 1) if generation_s else None,
        },
        "quiet": quiet_summary(timed, arrivals),
        "worker_busy_fraction": round(worker_cpu_s / window_s, 3) if window_s else None,
        "backlogged": backlogged_summary(
            before, after, window_s, prepared.endpoint("a").id in pending, args.slow_delay_ms
        ),
        "receiver": {
            path: receiver_summary({**final, "paths": {path: stats}})
            for path, stats in final["paths"].items()
        },
    }


async def wait_for_first_arrival(
    receiver: ReceiverHandle, path: str, worker: subprocess.Popen[bytes], log_path: Path
) -> None:
    """Until the backlog is being delivered: the quiet events must meet a busy worker."""
    deadline = time.monotonic() + FIRST_ARRIVAL_TIMEOUT_S
    while time.monotonic() < deadline:
        ensure_running(worker, "kassa worker", log_path)
        stats = await asyncio.to_thread(receiver.stats)
        if stats["paths"][path]["requests"] > 0:
            return
        await asyncio.sleep(ARRIVAL_POLL_S)
    raise BenchError(f"nothing reached endpoint {path} within {FIRST_ARRIVAL_TIMEOUT_S}s")


async def send_quiet_events(
    store: Store,
    ctx: RunContext,
    prepared: Prepared,
    receiver: ReceiverHandle,
    worker: subprocess.Popen[bytes],
    log_path: Path,
) -> list[TimedEvent]:
    """One event for B every QUIET_GAP_MIN_S-QUIET_GAP_MAX_S (seeded) for the window."""
    rng = random.Random(ctx.args.seed)
    timed: list[TimedEvent] = []
    window_end = time.monotonic() + ctx.args.fairness_seconds
    last_report = time.monotonic()
    # Bounded: every turn sleeps at least QUIET_GAP_MIN_S inside a window of fixed length.
    while time.monotonic() < window_end:
        await asyncio.sleep(rng.uniform(QUIET_GAP_MIN_S, QUIET_GAP_MAX_S))
        ensure_running(worker, "kassa worker", log_path)
        timed.append(
            await announce_timed(store, prepared.account.id, QUIET_TYPE, prepared.customer)
        )
        if time.monotonic() - last_report >= PROGRESS_INTERVAL_S:
            last_report = time.monotonic()
            stats = await asyncio.to_thread(receiver.stats)
            say(
                f"    A: {stats['paths']['a']['requests']:,} delivered; B: {len(timed)} sent, "
                f"{stats['paths']['b']['distinct_events']} received"
            )
    return timed


async def wait_for_arrivals(
    receiver: ReceiverHandle, path: str, event_ids: set[str]
) -> dict[str, float]:
    """Arrival times of `event_ids` at `path`, waiting up to QUIET_ARRIVAL_GRACE_S for all."""
    deadline = time.monotonic() + QUIET_ARRIVAL_GRACE_S
    arrivals = await asyncio.to_thread(receiver.arrivals, path)
    while not event_ids <= arrivals.keys() and time.monotonic() < deadline:
        await asyncio.sleep(ARRIVAL_POLL_S)
        arrivals = await asyncio.to_thread(receiver.arrivals, path)
    return arrivals


# --- Orchestration ------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    started_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    stamp = utc_stamp()
    cpus = plan_cpus(pin=not args.no_pin)
    ctx = RunContext(
        args=args,
        kassa=find_kassa(args.kassa),
        py_spy=find_py_spy() if args.profile else None,
        cpus=cpus,
        run_dir=make_run_dir(args.work_dir, stamp, prefix="webhooks"),
    )
    # The set-up servers must deliver nothing: the one worker measured is the only sender.
    # Children inherit this; start_worker leaves it out of the worker's environment.
    os.environ["KASSA_WEBHOOK_WORKERS"] = "0"
    if cpus.load is not None:
        # This script writes events and polls while the worker runs: keep it off its CPU.
        os.sched_setaffinity(0, cpus.load)
    env = environment(args, cpus)
    say(f"webhook bench: {ctx.run_dir}; {describe_pinning(cpus)}")
    throughput = []
    if "throughput" in args.phases:
        throughput = [throughput_run(ctx, count) for count in args.endpoints]
    fairness = fairness_run(ctx) if "fairness" in args.phases else None
    report = build_report(args, started_at, throughput, fairness, env)
    text = report_text(report)
    # Smoke runs stay in the work directory; bench/results/ holds runs worth keeping.
    default_dir = ctx.run_dir if args.quick else DEFAULT_RESULTS_DIR
    output = args.output or default_dir / f"webhooks-{stamp}.json"
    publish_results(output, report, text)
    return EXIT_OK if report["ok"] else EXIT_BENCH_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(parse_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
