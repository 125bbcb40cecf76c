"""Benchmark Kassa's customer endpoints against one local `kassa serve`.

Starts a single server process on a free 127.0.0.1 port, drives it with wrk
(one thread; connections = concurrency) through the Lua scripts in bench/lua/,
and reports requests per second, p50/p99 latency and errors for three
scenarios: create, retrieve and list customers. See bench/README.md.

The options, the server, wrk, py-spy and the results files are shared with
bench/payment_intents.py through bench_cli.py, bench_harness.py and
bench_results.py. Every bound (durations, timeouts, seed
size, chunk sizes) is a named constant there or below, or a checked option,
all traffic goes to 127.0.0.1, and the server is stopped on every way out of
the script.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import math
import os
import random
import shutil
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench_cli import (
    EXIT_OK,
    add_environment_arguments,
    add_load_arguments,
    add_storage_arguments,
    find_tools,
    run_main,
    validate_common_arguments,
)
from bench_harness import (
    DATABASE_FILE_NAME,
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
    log_tail,
    make_run_dir,
    plan_cpus,
    read_error_samples,
    remove_database_files,
    run_wrk,
    running_server,
    server_log_problems,
    sqlite_url,
    start_profiler,
    warm_up_then_measure,
)
from bench_results import (
    compare_with,
    environment_report,
    log_and_comparison_text,
    machine_line,
    publish_results,
    results_table,
    targets_table,
    utc_stamp,
)
from ceiling import (
    CEILING_DATABASE_FILE_NAME,
    ceiling_account,
    ceiling_checks,
    ceiling_report,
    running_ceiling,
    seed_ceiling,
    versus_rows,
    versus_table,
)

# --- Load shape ----------------------------------------------------------------

SCENARIOS = ("create", "retrieve", "list")
LIST_PAGE_LIMIT = 10

# --- Retrieve ids --------------------------------------------------------------

# Ids loaded into wrk for "retrieve"; wrk builds one request per id up front.
RETRIEVE_ID_SAMPLE_MAX = 100_000

# --- Seeding -------------------------------------------------------------------

MAX_SEED_CUSTOMERS = 10_000_000
SEED_CONCURRENCY = 32
# Chunks are sized to take about this long, so progress shows every few seconds.
SEED_CHUNK_TARGET_S = 3.0
SEED_FIRST_CHUNK = 2_000
SEED_CHUNK_MIN = 500
SEED_CHUNK_MAX = 50_000
# A chunk that has not finished by then is abandoned and retried.
SEED_CHUNK_TIME_LIMIT_S = 300
SEED_CHUNK_MAX_ATTEMPTS = 3
# Bound on one seeding session; progress is saved, a later run resumes.
SEED_TIME_LIMIT_S = 4 * 3600.0
SEED_PROGRESS_INTERVAL_S = 3.0
SEED_STATE_FILE_NAME = "seed.json"
SEED_IDS_FILE_NAME = "ids.txt"

# --- Profiling -----------------------------------------------------------------

PROFILED_SCENARIOS = ("create", "retrieve")
PROFILE_FORMAT_CHOICES = ("flamegraph", "speedscope")

# --- Targets (one server process, SQLite, this 2-core machine) ---------------

TARGET_CONCURRENCY = 32
TARGET_CREATE_RPS = 5_000.0
TARGET_RETRIEVE_RPS = 15_000.0
TARGET_P99_MS = 20.0

# --- Targets against the ceiling (issue 11), at TARGET_CONCURRENCY ---------------

CEILING_MIN_RPS_RATIO = {"create": 0.5, "retrieve": 0.5, "list": 0.4}
CEILING_MAX_P99_RATIO = 3.0

# --- Marker shared with bench/lua/seed.lua ---------------------------------------

SEED_CHUNK_DONE_MARKER = "KASSA_SEED_CHUNK_DONE"


@dataclasses.dataclass
class RunContext:
    """What every scenario needs: the tools, the server, where files go.

    One for Kassa and one for the ceiling: `file_prefix` keeps their files apart.
    """

    tools: Tools
    cpus: CpuPlan
    server: Server
    account: Account
    run_dir: Path
    created_ids_file: Path
    extra_ids_file: Path | None
    file_prefix: str = ""
    retrieve_ids_file: Path | None = None


# --- Command line ----------------------------------------------------------------


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench/customers.py",
        description="Benchmark customer create/retrieve/list on one local kassa server.",
    )
    add_load_arguments(parser)
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help="comma-separated subset of %(default)s"
    )
    parser.add_argument(
        "--seed-customers",
        type=int,
        default=0,
        metavar="N",
        help="store N customers first (kept in the work dir and reused)",
    )
    add_storage_arguments(parser, "customers")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="record py-spy profiles of the server during the "
        "highest-concurrency create and retrieve scenarios",
    )
    parser.add_argument("--profile-format", choices=PROFILE_FORMAT_CHOICES, default="flamegraph")
    parser.add_argument(
        "--no-ceiling",
        action="store_true",
        help="do not run the ceiling (bench/ceiling_app.py) beside kassa",
    )
    add_environment_arguments(parser)
    args = parser.parse_args(argv)
    validate_arguments(parser, args)
    return args


def validate_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    validate_common_arguments(parser, args)
    if not 0 <= args.seed_customers <= MAX_SEED_CUSTOMERS:
        parser.error(f"--seed-customers must be in [0, {MAX_SEED_CUSTOMERS}]")
    if args.seed_customers and args.database:
        parser.error("--seed-customers manages its own database; do not combine with --database")
    try:
        args.scenarios = parse_scenarios(args.scenarios)
    except ValueError as error:
        parser.error(str(error))


def parse_scenarios(text: str) -> list[str]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = set(chosen) - set(SCENARIOS)
    if not chosen or unknown:
        raise ValueError(f"--scenarios must be a subset of {','.join(SCENARIOS)}")
    # Always in the canonical order: retrieve uses the ids that create made.
    return [name for name in SCENARIOS if name in chosen]


# --- Scenarios ------------------------------------------------------------------------------


def scenario_script_args(
    ctx: RunContext, scenario: str, nonce: str, errors_file: Path
) -> dict[str, str]:
    common = {"key": ctx.account.secret_key, "errors_file": str(errors_file)}
    if scenario == "create":
        return {**common, "nonce": nonce, "ids_file": str(ctx.created_ids_file)}
    if scenario == "retrieve":
        ids_file = retrieve_ids(ctx)
        # A numeric seed for Lua's math.randomseed, different on every run.
        return {**common, "ids_file": str(ids_file), "seed": str(random.randrange(1 << 30))}
    return {**common, "limit": str(LIST_PAGE_LIMIT)}


def run_scenario(
    ctx: RunContext,
    scenario: str,
    concurrency: int,
    *,
    seconds: int,
    warmup_seconds: int,
    profile: ProfileRequest | None,
) -> ScenarioResult:
    def start_profile(label: str, profile_seconds: int) -> RunningProfiler:
        assert profile is not None
        return start_profiler(ctx.server, ctx.cpus, profile, label, profile_seconds)

    result, _warmup = warm_up_then_measure(
        scenario,
        concurrency,
        seconds=seconds,
        warmup_seconds=warmup_seconds,
        run_once=lambda run_seconds, label: run_scenario_once(
            ctx, scenario, concurrency, run_seconds, label
        ),
        errors_file=lambda label: errors_file_for(ctx, label),
        start_profile=start_profile if profile else None,
        server_pid=ctx.server.process.pid,
    )
    return result


def errors_file_for(ctx: RunContext, label: str) -> Path:
    return ctx.run_dir / f"{ctx.file_prefix}errors-{label}.txt"


def run_scenario_once(
    ctx: RunContext, scenario: str, concurrency: int, seconds: int, label: str
) -> WrkResult:
    errors_file = errors_file_for(ctx, label)
    errors_file.unlink(missing_ok=True)
    # The nonce keeps Idempotency-Keys unique across warm-ups, runs and reruns.
    nonce = f"{label}-{uuid.uuid4().hex[:12]}"
    return run_wrk(
        ctx.tools,
        ctx.cpus,
        ctx.server.base_url,
        f"{scenario}.lua",
        concurrency=concurrency,
        seconds=seconds,
        script_args=scenario_script_args(ctx, scenario, nonce, errors_file),
    )


def retrieve_ids(ctx: RunContext) -> Path:
    """The ids file for "retrieve": a uniform sample of every id recorded."""
    if ctx.retrieve_ids_file is not None:
        return ctx.retrieve_ids_file
    sources = [
        path
        for path in (ctx.created_ids_file, ctx.extra_ids_file)
        if path is not None and path.exists()
    ]
    sample = sample_lines(sources, RETRIEVE_ID_SAMPLE_MAX)
    if not sample:
        # Each run has its own new account, so its only customers are the ones
        # this run created or the seed's.
        raise BenchError("no customer ids to retrieve: include the create scenario or seed")
    path = ctx.run_dir / f"{ctx.file_prefix}retrieve-ids.txt"
    path.write_text("\n".join(sample) + "\n")
    ctx.retrieve_ids_file = path
    print(f"  {ctx.file_prefix}retrieve: {len(sample):,} distinct ids sampled", file=sys.stderr)
    return path


def sample_lines(paths: Sequence[Path], limit: int) -> list[str]:
    """A uniform sample of up to `limit` lines, in one pass over files of any size.

    Repeated lines are dropped from the sample: a retried seed chunk records
    the ids it replays a second time.
    """
    chooser = random.Random()
    reservoir: list[str] = []
    seen = 0
    for path in paths:
        with path.open() as lines:
            for line in lines:
                value = line.strip()
                if not value:
                    continue
                seen += 1
                if len(reservoir) < limit:
                    reservoir.append(value)
                else:
                    slot = chooser.randrange(seen)
                    if slot < limit:
                        reservoir[slot] = value
    return list(dict.fromkeys(reservoir))


# --- Seeding ------------------------------------------------------------------------------


@dataclasses.dataclass
class SeedState:
    """seed.json in a seed directory; saved after every chunk so runs resume."""

    target: int
    seeded: int
    account: Account

    def save(self, path: Path) -> None:
        data = {"target": self.target, "seeded": self.seeded, "account": self.account.as_json()}
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(data, indent=2) + "\n")
        temporary.replace(path)  # atomic: a crash never leaves half a file

    @staticmethod
    def load(path: Path) -> SeedState:
        data = json.loads(path.read_text())
        account = data["account"]
        return SeedState(
            target=int(data["target"]),
            seeded=int(data["seeded"]),
            account=Account(id=str(account["id"]), secret_key=str(account["secret_key"])),
        )


@dataclasses.dataclass
class SeedProgress:
    target: int
    start_count: int
    started_at: float
    last_report_at: float

    def report(self, count: int, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_report_at < SEED_PROGRESS_INTERVAL_S:
            return
        self.last_report_at = now
        elapsed = max(now - self.started_at, 1e-9)
        rate = (count - self.start_count) / elapsed
        remaining = (self.target - count) / rate if rate > 0 else math.inf
        print(
            f"  seed: {count:,}/{self.target:,} ({100 * count / self.target:.1f}%) "
            f"{rate:,.0f}/s, elapsed {format_duration(elapsed)}, "
            f"ETA {format_duration(remaining)}",
            file=sys.stderr,
        )


def format_duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def seed_directory(work_dir: Path, target: int) -> Path:
    return work_dir / f"seed-{target}"


def ensure_seeded(
    tools: Tools, cpus: CpuPlan, work_dir: Path, target: int, ready_timeout: float
) -> tuple[Path, SeedState]:
    """Bring the seed database for `target` up to `target` customers."""
    seed_dir = seed_directory(work_dir, target)
    seed_dir.mkdir(parents=True, exist_ok=True)
    state_path = seed_dir / SEED_STATE_FILE_NAME
    url = sqlite_url(seed_dir / DATABASE_FILE_NAME)
    if state_path.exists():
        state = SeedState.load(state_path)
    else:
        state = SeedState(target=target, seeded=0, account=create_account(tools.kassa, url))
        state.save(state_path)
    if state.seeded >= target:
        print(f"seed: reusing {seed_dir} ({state.seeded:,} customers)", file=sys.stderr)
        return seed_dir, state
    print(
        f"seed: {state.seeded:,} of {target:,} customers stored in {seed_dir}; "
        "creating the rest through the API",
        file=sys.stderr,
    )
    with running_server(
        tools.kassa, url, seed_dir / "server.log", cpus, ready_timeout, state.account.secret_key
    ) as server:
        seed_through_api(tools, cpus, server, state, state_path, seed_dir)
    return seed_dir, state


def seed_through_api(
    tools: Tools, cpus: CpuPlan, server: Server, state: SeedState, state_path: Path, seed_dir: Path
) -> None:
    # last_report_at = -inf: the first chunk reports at once, showing the rate early.
    progress = SeedProgress(
        target=state.target,
        start_count=state.seeded,
        started_at=time.monotonic(),
        last_report_at=-math.inf,
    )
    chunk = SEED_FIRST_CHUNK
    while state.seeded < state.target:
        if time.monotonic() - progress.started_at > SEED_TIME_LIMIT_S:
            raise BenchError(
                f"seeding stopped after {SEED_TIME_LIMIT_S:.0f}s at "
                f"{state.seeded:,}; rerun to resume"
            )
        count = min(chunk, state.target - state.seeded)
        chunk_seconds = seed_chunk(tools, cpus, server, state, seed_dir, count)
        state.seeded += count
        state.save(state_path)
        progress.report(state.seeded, force=state.seeded >= state.target)
        chunk = next_chunk_size(count, chunk_seconds)


def next_chunk_size(count: int, seconds: float) -> int:
    rate = count / max(seconds, 1e-3)
    return max(SEED_CHUNK_MIN, min(SEED_CHUNK_MAX, int(rate * SEED_CHUNK_TARGET_S)))


def seed_chunk(
    tools: Tools, cpus: CpuPlan, server: Server, state: SeedState, seed_dir: Path, count: int
) -> float:
    """Create customers [seeded, seeded + count); returns the seconds it took.

    A failed attempt is simply repeated: the Lua script derives each
    Idempotency-Key from the customer number, so nothing is created twice.
    """
    errors_file = seed_dir / "errors.txt"
    for attempt in range(1, SEED_CHUNK_MAX_ATTEMPTS + 1):
        started = time.monotonic()
        errors_file.unlink(missing_ok=True)
        try:
            result = run_wrk(
                tools,
                cpus,
                server.base_url,
                "seed.lua",
                concurrency=SEED_CONCURRENCY,
                seconds=SEED_CHUNK_TIME_LIMIT_S,
                stop_marker=SEED_CHUNK_DONE_MARKER,
                script_args={
                    "key": state.account.secret_key,
                    "first": str(state.seeded),
                    "count": str(count),
                    "ids_file": str(seed_dir / SEED_IDS_FILE_NAME),
                    "errors_file": str(errors_file),
                },
            )
        except BenchError as error:
            problem = str(error)
        else:
            if result.responses_2xx == count:
                return time.monotonic() - started
            problem = (
                f"{result.responses_2xx:,} of {count:,} created; statuses "
                f"{result.status_counts}; samples {read_error_samples(errors_file)[:2]}"
            )
        print(
            f"  seed chunk at {state.seeded:,} attempt {attempt} failed: {problem}", file=sys.stderr
        )
    raise BenchError(
        f"seeding failed {SEED_CHUNK_MAX_ATTEMPTS} times at customer "
        f"{state.seeded:,}\n{log_tail(server.log_path)}"
    )


def copy_database(seed_dir: Path, run_dir: Path) -> Path:
    """Copy the seed database (and any WAL files) so a run never grows it."""
    for source in sorted(seed_dir.glob(DATABASE_FILE_NAME + "*")):
        shutil.copy2(source, run_dir / source.name)
    return run_dir / DATABASE_FILE_NAME


# --- Results ------------------------------------------------------------------------------


def evaluate_targets(results: Sequence[ScenarioResult]) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []
    minimum_rps = {"create": TARGET_CREATE_RPS, "retrieve": TARGET_RETRIEVE_RPS}
    for result in results:
        if result.concurrency != TARGET_CONCURRENCY:
            continue
        if result.scenario in minimum_rps:
            required = minimum_rps[result.scenario]
            checks.append(
                {
                    "target": f"{result.scenario} c{TARGET_CONCURRENCY} >= {required:,.0f} req/s",
                    "value": round(result.rps, 1),
                    "met": result.rps >= required,
                }
            )
        p99 = result.latency_ms("p99")
        checks.append(
            {
                "target": f"{result.scenario} c{TARGET_CONCURRENCY} p99 < {TARGET_P99_MS:g} ms",
                "value": round(p99, 3),
                "met": p99 < TARGET_P99_MS,
            }
        )
    return checks


# --- Orchestration ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Workspace:
    run_dir: Path
    database_url: str
    account: Account
    seeded_customers: int
    extra_ids_file: Path | None
    owned_database: Path | None  # deleted at the end unless --keep-data


def prepare_workspace(
    args: argparse.Namespace, tools: Tools, cpus: CpuPlan, stamp: str
) -> Workspace:
    work_dir: Path = args.work_dir.resolve()
    run_dir = make_run_dir(work_dir, stamp)
    if args.seed_customers:
        seed_dir, state = ensure_seeded(
            tools, cpus, work_dir, args.seed_customers, args.ready_timeout
        )
        print(f"copying the seeded database to {run_dir}", file=sys.stderr)
        database = copy_database(seed_dir, run_dir)
        return Workspace(
            run_dir,
            sqlite_url(database),
            state.account,
            state.seeded,
            seed_dir / SEED_IDS_FILE_NAME,
            database,
        )
    url, owned_database = choose_database(args.database, run_dir)
    return Workspace(run_dir, url, create_account(tools.kassa, url), 0, None, owned_database)


@dataclasses.dataclass(frozen=True)
class Measurement:
    results: list[ScenarioResult]
    ceiling_results: list[ScenarioResult]  # empty with --no-ceiling
    log_problems: dict[str, int]


def measure(
    args: argparse.Namespace, tools: Tools, cpus: CpuPlan, workspace: Workspace
) -> Measurement:
    """Each scenario at each concurrency on Kassa, then at once on the ceiling.

    Interleaved rather than one server after the other, so that load elsewhere on the
    machine touches both figures of a pair about alike.
    """
    log_path = workspace.run_dir / "server.log"
    profile = (
        ProfileRequest(tools.py_spy, args.profile_format, workspace.run_dir / "profiles")
        if tools.py_spy
        else None
    )
    profiled_concurrency = max(args.concurrency)
    results: list[ScenarioResult] = []
    ceiling_results: list[ScenarioResult] = []
    print(f"starting kassa serve ({cpus.describe()}); log: {log_path}", file=sys.stderr)
    with contextlib.ExitStack() as servers:
        server = servers.enter_context(
            running_server(
                tools.kassa,
                workspace.database_url,
                log_path,
                cpus,
                args.ready_timeout,
                workspace.account.secret_key,
                args.serve_workers,
            )
        )
        ctx = RunContext(
            tools=tools,
            cpus=cpus,
            server=server,
            account=workspace.account,
            run_dir=workspace.run_dir,
            created_ids_file=workspace.run_dir / "created-ids.txt",
            extra_ids_file=workspace.extra_ids_file,
        )
        ceiling = None if args.no_ceiling else start_ceiling(servers, args, tools, cpus, workspace)
        for scenario in args.scenarios:
            for concurrency in args.concurrency:
                wants_profile = (
                    scenario in PROFILED_SCENARIOS and concurrency == profiled_concurrency
                )
                results.append(
                    run_scenario(
                        ctx,
                        scenario,
                        concurrency,
                        seconds=args.seconds,
                        warmup_seconds=args.warmup_seconds,
                        profile=profile if wants_profile else None,
                    )
                )
                if ceiling is not None:
                    ceiling_results.append(
                        run_scenario(
                            ceiling,
                            scenario,
                            concurrency,
                            seconds=args.seconds,
                            warmup_seconds=args.warmup_seconds,
                            profile=None,
                        )
                    )
    return Measurement(results, ceiling_results, server_log_problems(log_path))


def start_ceiling(
    servers: contextlib.ExitStack,
    args: argparse.Namespace,
    tools: Tools,
    cpus: CpuPlan,
    workspace: Workspace,
) -> RunContext:
    """The ceiling app, its table holding as many customers as Kassa's seed, ready to drive."""
    account = ceiling_account()
    seed_ids_file = workspace.run_dir / "ceiling-seed-ids.txt"
    seed_ceiling(workspace.run_dir, account, workspace.seeded_customers, seed_ids_file)
    server = servers.enter_context(
        running_ceiling(workspace.run_dir, cpus, args.ready_timeout, account)
    )
    return RunContext(
        tools=tools,
        cpus=cpus,
        server=server,
        account=account,
        run_dir=workspace.run_dir,
        created_ids_file=workspace.run_dir / "ceiling-created-ids.txt",
        extra_ids_file=seed_ids_file if workspace.seeded_customers else None,
        file_prefix="ceiling-",
    )


def build_report(
    args: argparse.Namespace,
    tools: Tools,
    cpus: CpuPlan,
    workspace: Workspace,
    measurement: Measurement,
    started_at: str,
) -> dict[str, Any]:
    results = measurement.results
    versus = versus_rows(results, measurement.ceiling_results)
    targets = evaluate_targets(results) + ceiling_checks(
        versus,
        concurrency=TARGET_CONCURRENCY,
        min_rps_ratio=CEILING_MIN_RPS_RATIO,
        max_p99_ratio=CEILING_MAX_P99_RATIO,
    )
    report: dict[str, Any] = {
        "benchmark": "customers",
        "started_at": started_at,
        "environment": environment_report(tools, cpus),
        "settings": {
            "seconds": args.seconds,
            "warmup_seconds": args.warmup_seconds,
            "concurrency": args.concurrency,
            "scenarios": args.scenarios,
            "wrk_threads": WRK_THREADS,
            "list_limit": LIST_PAGE_LIMIT,
            "database": workspace.database_url.split(":", 1)[0],
            "serve_workers": args.serve_workers,
            "rate_limit": os.environ.get("KASSA_RATE_LIMIT", "0"),
            "rate_limit_store": "redis" if os.environ.get("KASSA_REDIS_URL") else "memory",
            "seeded_customers": workspace.seeded_customers,
        },
        "scenarios": [result.as_json() for result in results],
        "ceiling": ceiling_report(measurement.ceiling_results, versus)
        if measurement.ceiling_results
        else None,
        "targets": targets,
        "server_log": {
            "path": display_path(workspace.run_dir / "server.log"),
            **measurement.log_problems,
        },
    }
    if args.compare:
        report["comparison"] = {
            "baseline": str(args.compare),
            "rows": compare_with(args.compare, results),
        }
    return report


def report_text(report: Mapping[str, Any], measurement: Measurement) -> str:
    settings = report["settings"]
    env = report["environment"]
    parts = [
        f"Kassa customers benchmark {report['started_at']} (commit {env['git_commit']}, "
        f"{env['wrk']}, {env['pinning']})",
        machine_line(env),
        f"{settings['seconds']:g}s per scenario after {settings['warmup_seconds']:g}s warm-up; "
        f"{settings['seeded_customers']:,} customers seeded; req/s counts 2xx responses",
        "",
        "Kassa:",
        results_table(measurement.results),
    ]
    if report["ceiling"]:
        parts += [
            "",
            "Ceiling (bench/ceiling_app.py, the same work on a bare ASGI app):",
            results_table(measurement.ceiling_results),
            "",
            "Kassa beside the ceiling (ratio = kassa / ceiling; cpu = server CPU us per request, "
            "its ratio = ceiling / kassa):",
            versus_table(report["ceiling"]["versus"]),
        ]
    parts += [
        "",
        "Targets:",
        targets_table(report["targets"]) or "  (no scenario at the target concurrency)",
    ]
    parts += log_and_comparison_text(report)
    return "\n".join(parts)


def run(args: argparse.Namespace) -> int:
    started_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    stamp = utc_stamp()
    tools = find_tools(args)
    cpus = plan_cpus(pin=not args.no_pin)
    workspace = prepare_workspace(args, tools, cpus, stamp)
    try:
        measurement = measure(args, tools, cpus, workspace)
    finally:
        if not args.keep_data:
            if workspace.owned_database is not None:
                remove_database_files(workspace.owned_database)
            remove_database_files(workspace.run_dir / CEILING_DATABASE_FILE_NAME)
    report = build_report(args, tools, cpus, workspace, measurement, started_at)
    text = report_text(report, measurement)
    output = args.output or DEFAULT_RESULTS_DIR / f"customers-{stamp}.json"
    publish_results(output, report, text)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(parse_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
