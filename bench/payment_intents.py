"""Benchmark confirmed PaymentIntent creation against one local `kassa serve`.

Every request is `POST /v1/payment_intents` with amount, currency,
`payment_method=pm_card_visa`, `allowed_payment_method_types[]=card` (cards only: no
return_url to give) and `confirm=true`, each with its own
Idempotency-Key: one request creates an intent, confirms it and charges the
test card, which writes the intent, the charge, the ledger postings, the
idempotency record and the request-log entry. wrk (one thread; connections =
concurrency) drives the server through bench/lua/confirm_payment_intent.lua,
and the script reports requests per second, p50/p99 latency and errors at each
concurrency. Afterwards it checks what was stored: through the API, that every
200 response made one intent that succeeded with one succeeded charge; and with
`kassa ledger verify`, that the ledger balances. See bench/README.md.

The options, the server, wrk, py-spy and the results files are shared with
bench/customers.py through bench_cli.py, bench_harness.py and bench_results.py.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import datetime
import json
import os
import sys
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

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
from ceiling import (
    CEILING_DATABASE_FILE_NAME,
    ceiling_account,
    ceiling_checks,
    ceiling_report,
    running_ceiling,
    versus_rows,
    versus_table,
)

# --- The request -------------------------------------------------------------------

SCENARIO = "confirm"
LUA_SCRIPT = "confirm_payment_intent.lua"
AMOUNT_MINOR = 2000
CURRENCY = "usd"
PAYMENT_METHOD = "pm_card_visa"
REQUEST_DESCRIPTION = (
    f"POST /v1/payment_intents amount={AMOUNT_MINOR}&currency={CURRENCY}"
    f"&payment_method={PAYMENT_METHOD}&allowed_payment_method_types[]=card&confirm=true,"
    " a new Idempotency-Key each"
)
# The only status a confirmed intent on pm_card_visa may answer with.
EXPECTED_STATUS = "200"

# --- Targets (one server process, SQLite, this 2-core machine) ---------------

TARGET_CONCURRENCY = 32
CAPTURE_POSTINGS_MIGRATION = 56
"""The migration that made table `capture_postings` (a `--kassa` of an older commit has none)."""
CAPTURES_COUNTED_MAX = 1_000_000
"""A bound on the captures still to post counted after a run (a run makes far fewer)."""
CAPTURES_COUNTED_UNTIL = 2**62
"""Every posting still to come is counted, whenever due (postponed ones included)."""
TARGET_RPS = 2_500.0
TARGET_P99_MS = 30.0
# Issue 11: against the ceiling (p99 only: its confirm does far less than Kassa's, see
# bench/README.md), and against a baseline results file given with --baseline-json.
CEILING_MAX_P99_RATIO = 3.0
BASELINE_MIN_RPS_RATIO = 2.0

# --- Profiling -----------------------------------------------------------------

# Collapsed stacks: summarised here, and opened as they are by speedscope.app
# or flamegraph.pl.
PROFILE_FORMAT = "raw"


# --- Command line ----------------------------------------------------------------


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench/payment_intents.py",
        description="Benchmark confirmed PaymentIntent creation (pm_card_visa, confirm=true) "
        "on one local kassa server, then check the intents, charges and ledger it made.",
    )
    add_load_arguments(parser)
    add_storage_arguments(parser, "payment_intents")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="record a py-spy profile of the server during the highest-concurrency run "
        "and summarise it (top functions by own and total time)",
    )
    parser.add_argument(
        "--no-ceiling",
        action="store_true",
        help="do not run the ceiling (bench/ceiling_app.py) beside kassa",
    )
    parser.add_argument(
        "--baseline-json",
        type=Path,
        metavar="RESULTS_JSON",
        help=f"an earlier payment_intents results file: check that confirm "
        f"c{TARGET_CONCURRENCY} is at least {BASELINE_MIN_RPS_RATIO:g}x its req/s",
    )
    add_environment_arguments(parser)
    args = parser.parse_args(argv)
    validate_common_arguments(parser, args)
    args.baseline_rps = None
    if args.baseline_json is not None:
        try:
            args.baseline_rps = baseline_rps(args.baseline_json)
        except (OSError, ValueError, KeyError, TypeError) as error:
            parser.error(f"--baseline-json {args.baseline_json}: {error}")
    return args


def baseline_rps(path: Path) -> float:
    """Confirm's req/s at TARGET_CONCURRENCY in an earlier results file (read before the run)."""
    report = json.loads(path.read_text())
    for scenario in report["scenarios"]:
        if scenario["scenario"] == SCENARIO and scenario["concurrency"] == TARGET_CONCURRENCY:
            return float(scenario["rps"])
    raise ValueError(f"no {SCENARIO} result at concurrency {TARGET_CONCURRENCY}")


# --- Measuring -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Workspace:
    run_dir: Path
    database_url: str
    account: Account
    owned_database: Path | None  # deleted at the end unless --keep-data

    @property
    def answered_file(self) -> Path:
        """`pi_... ch_...` per 200 response, appended by the Lua script."""
        return self.run_dir / "answered-intents.txt"


@dataclasses.dataclass(frozen=True)
class Driven:
    """A server that wrk drives, Kassa or the ceiling: its key, and files of its own."""

    server: Server
    account: Account
    run_dir: Path
    file_prefix: str

    @property
    def answered_file(self) -> Path:
        return self.run_dir / f"{self.file_prefix}answered-intents.txt"

    def errors_file(self, label: str) -> Path:
        return self.run_dir / f"{self.file_prefix}errors-{label}.txt"


@dataclasses.dataclass
class Measurement:
    results: list[ScenarioResult]
    ceiling_results: list[ScenarioResult]  # empty with --no-ceiling
    # Every wrk run, warm-ups included: all of them created intents.
    runs: list[tuple[int, WrkResult]]  # (concurrency, result)
    stored: dict[str, Any]
    profile_summary: dict[str, Any] | None


def prepare_workspace(args: argparse.Namespace, tools: Tools, stamp: str) -> Workspace:
    run_dir = make_run_dir(args.work_dir, stamp, prefix="payment-intents")
    url, owned_database = choose_database(args.database, run_dir)
    # A new account even in a given database: the checks below count its objects only.
    return Workspace(run_dir, url, create_account(tools.kassa, url), owned_database)


def run_confirm_once(
    tools: Tools, cpus: CpuPlan, driven: Driven, concurrency: int, seconds: int, label: str
) -> WrkResult:
    errors_file = driven.errors_file(label)
    errors_file.unlink(missing_ok=True)
    # The nonce (a random prefix) keeps Idempotency-Keys unique across runs.
    nonce = f"{label}-{uuid.uuid4().hex[:12]}"
    return run_wrk(
        tools,
        cpus,
        driven.server.base_url,
        LUA_SCRIPT,
        concurrency=concurrency,
        seconds=seconds,
        script_args={
            "key": driven.account.secret_key,
            "nonce": nonce,
            "amount": str(AMOUNT_MINOR),
            "currency": CURRENCY,
            "answered_file": str(driven.answered_file),
            "errors_file": str(errors_file),
        },
    )


def measure_concurrency(
    args: argparse.Namespace,
    tools: Tools,
    cpus: CpuPlan,
    driven: Driven,
    concurrency: int,
    profile: ProfileRequest | None,
) -> tuple[ScenarioResult, WrkResult | None]:
    """Warm-up and measured run on one server at one concurrency, profiled if asked."""

    def run_once(seconds: int, label: str) -> WrkResult:
        return run_confirm_once(tools, cpus, driven, concurrency, seconds, label)

    def start_profile(label: str, seconds: int) -> RunningProfiler:
        assert profile is not None
        return start_profiler(driven.server, cpus, profile, label, seconds)

    return warm_up_then_measure(
        SCENARIO,
        concurrency,
        seconds=args.seconds,
        warmup_seconds=args.warmup_seconds,
        run_once=run_once,
        errors_file=driven.errors_file,
        start_profile=start_profile if profile is not None else None,
        server_pid=driven.server.process.pid,
    )


def measure(
    args: argparse.Namespace, tools: Tools, cpus: CpuPlan, workspace: Workspace
) -> Measurement:
    """Each concurrency on Kassa, then at once on the ceiling; then check what Kassa stored.

    Interleaved rather than one server after the other, so that load elsewhere on the
    machine touches both figures of a pair about alike.
    """
    log_path = workspace.run_dir / "server.log"
    profile = (
        ProfileRequest(
            tools.py_spy, PROFILE_FORMAT, workspace.run_dir / "profiles", per_function=True
        )
        if tools.py_spy
        else None
    )
    profiled_concurrency = max(args.concurrency)
    measurement = Measurement(
        results=[], ceiling_results=[], runs=[], stored={}, profile_summary=None
    )
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
        kassa = Driven(server, workspace.account, workspace.run_dir, "")
        ceiling = None if args.no_ceiling else start_ceiling(servers, args, cpus, workspace)
        for concurrency in args.concurrency:
            wants_profile = concurrency == profiled_concurrency
            result, warmup = measure_concurrency(
                args, tools, cpus, kassa, concurrency, profile if wants_profile else None
            )
            measurement.results.append(result)
            if warmup is not None:
                measurement.runs.append((concurrency, warmup))
            measurement.runs.append((concurrency, result.wrk))
            if result.profiled and result.profile_path:
                measurement.profile_summary = summarise_profile(result.profile_path, args.seconds)
            if ceiling is not None:
                ceiling_result, _ = measure_concurrency(
                    args, tools, cpus, ceiling, concurrency, None
                )
                measurement.ceiling_results.append(ceiling_result)
    # Postings of asynchronous captures the server's job had not reached when it stopped:
    # work the measured rate did not pay for (read before the check server posts them).
    captures_left = captures_still_to_post(workspace.database_url, workspace.account.id)
    # The server has stopped, which it does only once the requests still in flight
    # when wrk stopped have finished. The checks read through a second server, with
    # nothing in flight, so the counts are final (lists are exact under concurrent
    # writers, but a page read while requests still commit is not the final count).
    print("  checking the stored intents and charges through the API", file=sys.stderr)
    with running_server(
        tools.kassa,
        workspace.database_url,
        workspace.run_dir / "server-check.log",
        cpus,
        args.ready_timeout,
        workspace.account.secret_key,
    ) as server:
        measurement.stored = check_stored(server, workspace, measurement.runs)
    measurement.stored["captures_still_to_post_at_stop"] = captures_left
    return measurement


def captures_still_to_post(database_url: str, account_id: str) -> int | None:
    """The account's asynchronous captures (Stripe's default `automatic_async`) whose ledger
    posting the `capture_postings` job had not done yet; None for a database from before
    they were (migration 0056: a `--kassa` of an older commit)."""
    from kassa.store import open_store

    async def count() -> int | None:
        store = await open_store(database_url)
        try:
            async with store.read() as tx:
                if CAPTURE_POSTINGS_MIGRATION not in await tx.applied_migrations():
                    return None
                pending = await tx.account_capture_postings(
                    account_id, CAPTURES_COUNTED_UNTIL, CAPTURES_COUNTED_MAX
                )
        finally:
            await store.close()
        return len(pending)

    return asyncio.run(count())


def start_ceiling(
    servers: contextlib.ExitStack, args: argparse.Namespace, cpus: CpuPlan, workspace: Workspace
) -> Driven:
    account = ceiling_account()
    server = servers.enter_context(
        running_ceiling(workspace.run_dir, cpus, args.ready_timeout, account)
    )
    return Driven(server, account, workspace.run_dir, "ceiling-")


# --- Checking what was stored ------------------------------------------------------


def read_answered(path: Path) -> dict[str, str]:
    """Intent id -> charge id, from every 200 response wrk read."""
    answered: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            intent, _, charge = line.partition(" ")
            if intent:
                answered[intent] = charge
    return answered


def check_stored(
    server: Server, workspace: Workspace, runs: Sequence[tuple[int, WrkResult]]
) -> dict[str, Any]:
    """Every 200 made one succeeded intent with one succeeded, paid, captured charge.

    wrk stops with up to `concurrency` requests in flight, which the server
    still completes: so besides the answered intents there may be up to that
    many per run whose response nobody read; they must have succeeded too.
    """
    key = workspace.account.secret_key
    intents = {
        item["id"]: item for item in list_all_objects(server.base_url, key, "/v1/payment_intents")
    }
    charges = list(list_all_objects(server.base_url, key, "/v1/charges"))
    answered = read_answered(workspace.answered_file)
    responses_200 = sum(result.status_counts.get(EXPECTED_STATUS, 0) for _, result in runs)
    unanswered_max = sum(concurrency for concurrency, _ in runs)
    good_charges = succeeded_charges(charges)
    problems = answer_problems(answered, responses_200, intents, good_charges)
    problems += stored_problems(intents, charges, good_charges)
    unanswered = len(set(intents) - set(answered))
    if unanswered > unanswered_max:
        problems.append(
            f"{unanswered:,} intents without a 200 response (at most {unanswered_max:,} in flight)"
        )
    return {
        "responses_200": responses_200,
        "answered_intents": len(answered),
        "intents_stored": len(intents),
        "intents_by_status": status_counts(intents.values()),
        "charges_stored": len(charges),
        "charges_by_status": status_counts(charges),
        "charges_succeeded_paid_captured": len(good_charges),
        "intents_unanswered": unanswered,
        "intents_unanswered_max": unanswered_max,
        "problems": problems,
        "ok": not problems,
    }


def status_counts(objects: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    return dict(collections.Counter(str(item.get("status")) for item in objects))


def succeeded_charges(charges: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Charge id -> intent id, for the charges that took the full amount."""
    return {
        charge["id"]: str(charge.get("payment_intent"))
        for charge in charges
        if charge.get("status") == "succeeded"
        and charge.get("paid") is True
        and charge.get("captured") is True
        and charge.get("amount") == AMOUNT_MINOR
        and charge.get("currency") == CURRENCY
    }


def answer_problems(
    answered: Mapping[str, str],
    responses_200: int,
    intents: Mapping[str, Mapping[str, Any]],
    good_charges: Mapping[str, str],
) -> list[str]:
    """What the 200 responses said, against what is stored."""
    problems: list[str] = []
    if len(answered) != responses_200:
        problems.append(
            f"{responses_200:,} responses were 200 but {len(answered):,} distinct intents "
            "were named in them"
        )
    bad = [
        intent
        for intent, charge in answered.items()
        if intent not in intents
        or intents[intent].get("status") != "succeeded"
        or intents[intent].get("latest_charge") != charge
        or good_charges.get(charge) != intent
    ]
    if bad:
        problems.append(
            f"{len(bad):,} answered intents lack a stored succeeded intent with that "
            f"succeeded charge, e.g. {bad[:3]}"
        )
    return problems


def stored_problems(
    intents: Mapping[str, Mapping[str, Any]],
    charges: Sequence[Mapping[str, Any]],
    good_charges: Mapping[str, str],
) -> list[str]:
    """Every stored intent succeeded for the full amount, with exactly one good charge."""
    problems: list[str] = []
    not_succeeded = [
        intent
        for intent, item in intents.items()
        if item.get("status") != "succeeded" or item.get("amount_received") != AMOUNT_MINOR
    ]
    if not_succeeded:
        problems.append(
            f"{len(not_succeeded):,} stored intents did not succeed for {AMOUNT_MINOR}, "
            f"e.g. {not_succeeded[:3]}"
        )
    charges_by_intent = collections.Counter(charge.get("payment_intent") for charge in charges)
    charges_per_intent = collections.Counter(charges_by_intent[intent] for intent in intents)
    if set(charges_per_intent) - {1} or len(charges) != len(intents):
        problems.append(
            f"charges per intent {dict(charges_per_intent)}; {len(charges):,} charges for "
            f"{len(intents):,} intents"
        )
    if len(good_charges) != len(charges):
        problems.append(f"{len(charges) - len(good_charges):,} charges not succeeded/paid/captured")
    return problems


# --- Results ------------------------------------------------------------------------------


def error_count(result: ScenarioResult) -> int:
    """Responses other than 200, and socket errors (connect, read, write, timeout)."""
    other = sum(
        count for status, count in result.wrk.status_counts.items() if status != EXPECTED_STATUS
    )
    return other + result.wrk.socket_error_count


def evaluate_targets(
    results: Sequence[ScenarioResult], baseline: float | None
) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = [
        {
            "target": f"{SCENARIO} c{result.concurrency} errors (non-200 or socket) == 0",
            "value": error_count(result),
            "met": error_count(result) == 0,
        }
        for result in results
    ]
    for result in results:
        if result.concurrency != TARGET_CONCURRENCY:
            continue
        p99 = result.latency_ms("p99")
        checks += [
            {
                "target": f"{SCENARIO} c{TARGET_CONCURRENCY} >= {TARGET_RPS:,.0f} req/s",
                "value": round(result.rps, 1),
                "met": result.rps >= TARGET_RPS,
            },
            {
                "target": f"{SCENARIO} c{TARGET_CONCURRENCY} p99 < {TARGET_P99_MS:g} ms",
                "value": round(p99, 3),
                "met": p99 < TARGET_P99_MS,
            },
        ]
        if baseline is not None:
            checks.append(baseline_check(result, baseline))
    return checks


def baseline_check(result: ScenarioResult, baseline: float) -> dict[str, Any]:
    ratio = result.rps / baseline if baseline else 0.0
    return {
        "target": f"{SCENARIO} c{TARGET_CONCURRENCY} req/s >= {BASELINE_MIN_RPS_RATIO:g}x "
        f"the baseline's {baseline:,.1f}",
        "value": round(ratio, 3),
        "met": ratio >= BASELINE_MIN_RPS_RATIO,
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
    versus = versus_rows(measurement.results, measurement.ceiling_results)
    targets = evaluate_targets(measurement.results, args.baseline_rps)
    targets += ceiling_checks(
        versus,
        concurrency=TARGET_CONCURRENCY,
        min_rps_ratio={},
        max_p99_ratio=CEILING_MAX_P99_RATIO,
    )
    report: dict[str, Any] = {
        "benchmark": "payment_intents",
        "started_at": started_at,
        "environment": environment_report(tools, cpus),
        "settings": {
            "seconds": args.seconds,
            "warmup_seconds": args.warmup_seconds,
            "concurrency": args.concurrency,
            "wrk_threads": WRK_THREADS,
            "database": workspace.database_url.split(":", 1)[0],
            "serve_workers": args.serve_workers,
            "rate_limit": os.environ.get("KASSA_RATE_LIMIT", "0"),
            "rate_limit_store": "redis" if os.environ.get("KASSA_REDIS_URL") else "memory",
            "request": REQUEST_DESCRIPTION,
        },
        "scenarios": [result.as_json() for result in measurement.results],
        "ceiling": ceiling_report(measurement.ceiling_results, versus)
        if measurement.ceiling_results
        else None,
        "baseline": {"path": str(args.baseline_json), "confirm_c32_rps": args.baseline_rps}
        if args.baseline_json
        else None,
        "targets": targets,
        "stored": measurement.stored,
        "ledger_verify": dict(ledger),
        "profile_summary": measurement.profile_summary,
        "server_log": {"path": display_path(log_path), **server_log_problems(log_path)},
    }
    if args.compare:
        report["comparison"] = {
            "baseline": str(args.compare),
            "rows": compare_with(args.compare, measurement.results),
        }
    return report


def stored_text(stored: Mapping[str, Any], ledger: Mapping[str, Any]) -> list[str]:
    verdict = "ok" if stored["ok"] else "FAILED"
    lines = [
        f"Stored [{verdict}]: {stored['responses_200']:,} responses 200 (warm-ups included); "
        f"{stored['intents_stored']:,} intents {stored['intents_by_status']}; "
        f"{stored['charges_stored']:,} charges {stored['charges_by_status']}; "
        f"{stored['intents_unanswered']:,} intents completed after wrk stopped reading "
        f"(at most {stored['intents_unanswered_max']:,})",
        f"Captures still to post when the measured server stopped (its `capture_postings` job "
        f"behind the load): {stored['captures_still_to_post_at_stop']}",
    ]
    lines += [f"  problem: {problem}" for problem in stored["problems"]]
    verdict = "ok" if ledger["ok"] else "FAILED"
    lines.append(
        f"kassa ledger verify [{verdict}] (exit {ledger['exit_code']}, {ledger['seconds']}s): "
        f"{ledger['summary']}"
    )
    lines += [f"  {problem}" for problem in ledger["problem_samples"]]
    return lines


def report_text(report: Mapping[str, Any], measurement: Measurement) -> str:
    settings = report["settings"]
    env = report["environment"]
    parts = [
        f"Kassa payment intents benchmark {report['started_at']} (commit {env['git_commit']}, "
        f"{env['wrk']}, {env['pinning']})",
        machine_line(env),
        f"{settings['request']}",
        f"{settings['seconds']:g}s per concurrency after {settings['warmup_seconds']:g}s "
        f"warm-up; {settings['database']}; req/s counts 2xx responses",
        "",
        "Kassa:",
        results_table(measurement.results),
    ]
    if report["ceiling"]:
        parts += [
            "",
            "Ceiling (bench/ceiling_app.py: the intent and its charge, two rows, one unit):",
            results_table(measurement.ceiling_results),
            "",
            "Kassa beside the ceiling (ratio = kassa / ceiling; cpu = server CPU us per request, "
            "its ratio = ceiling / kassa):",
            versus_table(report["ceiling"]["versus"]),
        ]
    parts += [
        "",
        "Targets:",
        targets_table(report["targets"]),
        "",
        *stored_text(report["stored"], report["ledger_verify"]),
    ]
    parts += log_and_comparison_text(report)
    if report["profile_summary"]:
        parts += [
            "",
            "Profile of the server (py-spy):",
            profile_summary_text(report["profile_summary"]),
        ]
    return "\n".join(parts)


# --- Orchestration ------------------------------------------------------------------------


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
        if not args.keep_data:
            if workspace.owned_database is not None:
                remove_database_files(workspace.owned_database)
            remove_database_files(workspace.run_dir / CEILING_DATABASE_FILE_NAME)
    report = build_report(args, tools, cpus, workspace, measurement, ledger, started_at)
    text = report_text(report, measurement)
    output = args.output or DEFAULT_RESULTS_DIR / f"payment_intents-{stamp}.json"
    publish_results(output, report, text)
    correct = (
        measurement.stored["ok"]
        and ledger["ok"]
        and all(error_count(result) == 0 for result in measurement.results)
    )
    return EXIT_OK if correct else EXIT_BENCH_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(parse_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
