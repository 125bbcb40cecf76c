"""The storage floor of a test clock's renewals: what SQLite alone spends on the statements
Kassa runs to renew subscriptions, without Kassa's Python around them.

Issue 13 asks for 10,000 monthly subscriptions advanced a year (120,000 renewals) in 60 s
on SQLite. Profiles of that run are flat (bench/README.md, "Test clocks"): no function
stands out, and py-spy put SQLite's statements at about a third of the server's samples.
This script bounds what trimming Python could ever reach, by measuring the part that
would stay:

1. Set-up, through a real `kassa serve`: one test clock, N monthly subscriptions on it
   (`bench/test_clocks.py`'s), on a fresh SQLite database; the server is stopped, and each
   step below starts from a copy of its database.
2. Kassa's advance, in this process: the clock advanced `--months` months by the
   `test_clocks` job's own function (`clock_advance.advance_clocks`) on a `SqliteStore`,
   timed.
3. The same advance again, every statement recorded as it runs (its text, its parameters,
   how its rows were read; the transaction control the store runs on the connection
   itself).
4. The replay: the recorded statements in the same order on one sqlite3 connection made
   as the store makes its own (`kassa.store.sqlite.connect`: WAL, `synchronous=NORMAL`,
   foreign keys), with the store's background checkpoint on a thread, and nothing else:
   the floor. Then the replay of its writes alone (SELECTs left out): what storing the
   rows costs. Each replay must leave as many renewal invoices as Kassa did.

All are timed in CPU (this process, all threads) and in wall time, per renewal, and
scaled to issue 13's 120,000 renewals (a lower bound: the tables grow with the run, and a
larger run's statements cost more, never less).

    python bench/renewal_floor.py [--subscriptions 500] [--months 12]

Results: bench/results/renewal-floor-<stamp>.json and .txt. Loopback only; bounded by
SUBSCRIPTIONS_MAX and MONTHS_MAX; the recording is held in memory (about 3 KB a statement,
50 statements a renewal).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import re
import shutil
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from bench_cli import EXIT_BENCH_FAILED, EXIT_OK, add_report_arguments, find_kassa, run_main
from bench_harness import (
    DEFAULT_RESULTS_DIR,
    REPO_DIR,
    create_account,
    make_run_dir,
    plan_cpus,
    running_server,
)
from bench_results import git_commit, machine_environment, publish_results, utc_stamp
from store_probe import Method, executor_methods_wrapped
from test_clocks import FROZEN, READY_TIMEOUT_S, SECONDS_PER_MONTH_MAX, make_subscriptions, post

from kassa import observers  # noqa: F401  (installs the observers of domain writes, as kassa serve does)
from kassa.clock import SystemClock
from kassa.config import Settings
from kassa.services import clock_advance, test_clocks
from kassa.services.context import Context
from kassa.services.setup import load_payment_config
from kassa.store import sqlite as sqlite_store
from kassa.store.sqlite import SqliteStore

SUBSCRIPTIONS_DEFAULT: Final = 500
SUBSCRIPTIONS_MAX: Final = 5_000
"""The recording is held in memory: 5,000 x 12 is about 3 million statements."""
MONTHS_MAX: Final = 24
ISSUE_13_RENEWALS: Final = 120_000
ISSUE_13_GOAL_SECONDS: Final = 60.0
KINDS_SHOWN: Final = 25
ADVANCE_RUNS_MAX: Final = 100_000
"""Runs of the clock job's function until the clock is ready (each does up to
clock_advance.STEPS_PER_CLOCK_RUN_MAX units)."""
CONTROL_PREFIXES: Final = ("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT")
"""Statements the store runs on its connection itself, not through its executor: recorded
from the connection's trace callback (which sees every statement; the others are recorded
with their parameters by the executor)."""


@dataclass(frozen=True)
class Statement:
    how: str
    """`execute`, `executemany`, `fetchone`, `fetchall` (the executor's) or `control`."""
    sql: str
    args: Any


@dataclass
class Recording:
    statements: list[Statement] = field(default_factory=list)

    def control(self, sql: str) -> None:
        if sql.lstrip().upper().startswith(CONTROL_PREFIXES):
            self.statements.append(Statement("control", sql, ()))


@dataclass(frozen=True)
class Timing:
    wall_s: float
    cpu_s: float


def _recorded(recording: Recording) -> Callable[[str, Method], Method]:
    """A wrap for `executor_methods_wrapped`: each statement recorded, then run."""

    def wrap(how: str, original: Method) -> Method:
        async def run(self: Any, sql: str, args: Any = ()) -> Any:
            rows = list(args) if how == "executemany" else args
            recording.statements.append(Statement(how, sql, rows))
            return await original(self, sql, rows)

        return run

    return wrap


@dataclass(frozen=True)
class SetUp:
    database: Path
    account_id: str
    clock_id: str
    target: int
    """The frozen time to advance to."""


async def advance_in_process(
    database: Path, setup: SetUp, recording: Recording | None = None
) -> Timing:
    """The clock advanced to its target by the clock job's own function, timed; with a
    `recording`, every statement recorded too (which costs time of its own: the figure of
    Kassa's advance comes from a run without one)."""
    recorded = (
        contextlib.nullcontext()
        if recording is None
        else executor_methods_wrapped(_recorded(recording))
    )
    control = None if recording is None else recording.control
    with recorded:
        store = SqliteStore(str(database), on_statement=control)
        try:
            return await _advance(store, setup, recording)
        finally:
            await store.close()


async def _advance(store: SqliteStore, setup: SetUp, recording: Recording | None) -> Timing:
    clock = SystemClock()
    payments = await load_payment_config(store, Settings(database_url="unused"))
    async with store.write() as tx:
        ctx = Context(account_id=setup.account_id, tx=tx, clock=clock, payments=payments)
        advance = test_clocks.AdvanceTestClock(test_clock=setup.clock_id, frozen_time=setup.target)
        await test_clocks.advance_test_clock(ctx, advance)
    if recording is not None:
        recording.statements.clear()  # the advance's own request is not the renewals'
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(ADVANCE_RUNS_MAX):
        if await clock_advance.advance_clocks(store, clock, payments) == 0:
            break
    return Timing(time.perf_counter() - wall, time.process_time() - cpu)


def replay(
    database: Path, statements: Sequence[Statement], *, writes_only: bool
) -> tuple[Timing, dict[str, float]]:
    """`statements` run in order on one connection, with the store's background checkpoint;
    and the time each kind of statement took (`kind_of`), in seconds."""
    connection = sqlite_store.connect(str(database), "NORMAL")
    checkpointer = sqlite_store.connect(str(database), "NORMAL")
    stop = threading.Event()

    def checkpoint_regularly() -> None:
        while not stop.wait(sqlite_store.CHECKPOINT_INTERVAL_SECONDS):
            checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")

    thread = threading.Thread(target=checkpoint_regularly, name="replay-checkpoint")
    # Which statements run, and their kinds, worked out before the clock starts.
    chosen = [s for s in statements if not (writes_only and _reads_only(s))]
    kinds = [kind_of(statement) for statement in chosen]
    took = [0.0] * len(chosen)
    wall, cpu = time.perf_counter(), time.process_time()
    thread.start()
    try:
        for index, statement in enumerate(chosen):
            started = time.perf_counter()
            _run(connection, statement)
            took[index] = time.perf_counter() - started
    finally:
        stop.set()
        thread.join()
    timing = Timing(time.perf_counter() - wall, time.process_time() - cpu)
    connection.close()
    checkpointer.close()
    by_kind: dict[str, float] = collections.defaultdict(float)
    for kind, seconds in zip(kinds, took, strict=True):
        by_kind[kind] += seconds
    return timing, dict(by_kind)


_TABLE = re.compile(r"\b(?:INTO|UPDATE|FROM|JOIN)\s+([a-z_]+)", re.IGNORECASE)


def verb_of(statement: Statement) -> str:
    return statement.sql.lstrip().split(None, 1)[0].upper()


def kind_of(statement: Statement) -> str:
    """`VERB table` (`VERB a+b` for a statement naming several, such as the clock's next-work
    probe), or the control statement's verb."""
    verb = verb_of(statement)
    if statement.how == "control":
        return verb
    tables = dict.fromkeys(_TABLE.findall(statement.sql))
    return f"{verb} {'+'.join(tables) or '?'}"


def _reads_only(statement: Statement) -> bool:
    return statement.how in ("fetchone", "fetchall") and verb_of(statement) in ("SELECT", "WITH")


def _run(connection: sqlite3.Connection, statement: Statement) -> None:
    if statement.how == "executemany":
        connection.executemany(statement.sql, statement.args)
    elif statement.how == "fetchone":
        connection.execute(statement.sql, statement.args).fetchone()
    elif statement.how == "fetchall":
        connection.execute(statement.sql, statement.args).fetchall()
    else:
        connection.execute(statement.sql, statement.args)


def set_up(args: argparse.Namespace, run_dir: Path) -> SetUp:
    """The clock and its subscriptions, made through a real server, stopped after."""
    kassa = find_kassa(args.kassa)
    database = run_dir / "setup.db"
    url = f"sqlite:///{database}"
    account = create_account(kassa, url)
    log = run_dir / "kassa-serve.log"
    cpus = plan_cpus(pin=False)
    with running_server(kassa, url, log, cpus, READY_TIMEOUT_S, account.secret_key) as server:
        made = {"frozen_time": str(FROZEN)}
        clock = post(server.base_url, account.secret_key, "/v1/test_helpers/test_clocks", made)
        print(f"making {args.subscriptions} subscriptions on {clock['id']}", flush=True)
        make_subscriptions(server.base_url, account.secret_key, clock["id"], args.subscriptions)
    # As bench/test_clocks.py: just inside the last renewal's hour.
    target = FROZEN + args.months * SECONDS_PER_MONTH_MAX - 2 * 86_400
    return SetUp(database, account.id, str(clock["id"]), target)


def copy_database(source: Path, target: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")
    return target


def renewals_in(database: Path) -> int:
    """Renewal invoices in the database, paid or not (checked by `check_paid`)."""
    with contextlib.closing(sqlite3.connect(str(database))) as connection:
        row = connection.execute(
            "SELECT count(*) FROM invoices "
            "WHERE json_extract(doc, '$.billing_reason') = 'subscription_cycle'"
        ).fetchone()
    return int(row[0])


def unpaid_in(database: Path) -> int:
    with contextlib.closing(sqlite3.connect(str(database))) as connection:
        row = connection.execute(
            "SELECT count(*) FROM invoices WHERE json_extract(doc, '$.status') != 'paid'"
        ).fetchone()
    return int(row[0])


def statement_counts(statements: Sequence[Statement]) -> dict[str, int]:
    counts: collections.Counter[str] = collections.Counter()
    for statement in statements:
        verb = verb_of(statement)
        rows = len(statement.args) if statement.how == "executemany" else 1
        counts[f"{verb} ({statement.how})" if statement.how != "control" else verb] += rows
    return dict(counts.most_common())


def report_text(report: dict[str, Any]) -> str:
    per = report["per_renewal_us"]
    scaled = report["scaled_to_issue_13_s"]
    machine = report["machine"]
    per_renewal = report["statements"] / report["renewals"]
    lines = [
        f"Renewal floor {report['stamp']} (commit {report['commit']}), {machine['cpu_model']}, "
        f"{machine['cpus']} CPUs, Python {machine['python']}",
        f"{report['subscriptions']} monthly subscriptions on one test clock, advanced "
        f"{report['months']} months: {report['renewals']:,} renewal invoices; "
        f"{report['statements']:,} statements recorded ({per_renewal:.1f} a renewal)",
        "",
        "what ran                          wall s    CPU s   CPU us/renewal"
        "   120,000 renewals (CPU)",
    ]
    for name, label in (
        ("kassa", "Kassa's advance (in process)"),
        ("replay", "its statements replayed"),
        ("writes", "its writes replayed (no SELECT)"),
    ):
        timing = report["timings"][name]
        lines.append(
            f"{label:<32} {timing['wall_s']:>7.2f} {timing['cpu_s']:>8.2f} {per[name]:>16,.0f} "
            f"{scaled[name]:>17,.0f} s"
        )
    lines += [
        "",
        f"SQLite's share of Kassa's CPU: {report['sqlite_share']:.0%}. Issue 13's goal: "
        f"{ISSUE_13_RENEWALS:,} renewals in {ISSUE_13_GOAL_SECONDS:.0f} s "
        f"({1e6 * ISSUE_13_GOAL_SECONDS / ISSUE_13_RENEWALS:,.0f} us a renewal).",
        "",
        "Statements (rows, for executemany) by verb and how they ran:",
    ]
    lines += [f"  {count:>9,}  {name}" for name, count in report["statement_counts"].items()]
    lines += [
        "",
        "The replay's time by statement (us a renewal, on its thread; checkpoints apart):",
    ]
    by_kind = report["replay_us_per_renewal_by_kind"]
    lines += [f"  {us:>9,.1f}  {kind}" for kind, us in list(by_kind.items())[:KINDS_SHOWN]]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    stamp = utc_stamp()
    run_dir = make_run_dir(args.work_dir, stamp, "renewal-floor")
    setup = set_up(args, run_dir)
    kassa_db = copy_database(setup.database, run_dir / "kassa.db")
    replay_db = copy_database(setup.database, run_dir / "replay.db")
    writes_db = copy_database(setup.database, run_dir / "writes.db")
    recorded_db = copy_database(setup.database, run_dir / "recorded.db")
    print(f"advancing {args.months} months in process", flush=True)
    kassa = asyncio.run(advance_in_process(kassa_db, setup))
    print("advancing again, every statement recorded", flush=True)
    recording = Recording()
    asyncio.run(advance_in_process(recorded_db, setup, recording))
    # The recording's objects stay to the end: out of the collector's sight, they cost the
    # replay nothing (each full collection would walk them all).
    gc.collect()
    gc.freeze()
    renewals = renewals_in(kassa_db)
    problems = [f"{unpaid} invoices not paid"] if (unpaid := unpaid_in(kassa_db)) else []
    if renewals == 0:
        raise SystemExit("the advance made no renewal invoice: nothing to measure")
    print(f"replaying {len(recording.statements):,} statements", flush=True)
    replayed, by_kind = replay(replay_db, recording.statements, writes_only=False)
    print("replaying the writes alone", flush=True)
    writes, _ = replay(writes_db, recording.statements, writes_only=True)
    for name, replayed_db in (
        ("recorded", recorded_db),
        ("replay", replay_db),
        ("writes", writes_db),
    ):
        if (found := renewals_in(replayed_db)) != renewals:
            problems.append(f"the {name} made {found} renewal invoices, Kassa {renewals}")
    timings = {"kassa": kassa, "replay": replayed, "writes": writes}
    report: dict[str, Any] = {
        "stamp": stamp,
        "commit": git_commit(REPO_DIR),
        "machine": machine_environment(),
        "subscriptions": args.subscriptions,
        "months": args.months,
        "renewals": renewals,
        "statements": len(recording.statements),
        "timings": {name: vars(timing) for name, timing in timings.items()},
        "per_renewal_us": {name: 1e6 * t.cpu_s / renewals for name, t in timings.items()},
        "scaled_to_issue_13_s": {
            name: t.cpu_s * ISSUE_13_RENEWALS / renewals for name, t in timings.items()
        },
        "sqlite_share": replayed.cpu_s / kassa.cpu_s,
        "statement_counts": statement_counts(recording.statements),
        "replay_us_per_renewal_by_kind": {
            kind: 1e6 * seconds / renewals
            for kind, seconds in sorted(by_kind.items(), key=lambda item: -item[1])
        },
        "problems": problems,
        "note": args.note,
    }
    output = args.output or DEFAULT_RESULTS_DIR / f"renewal-floor-{stamp}.json"
    publish_results(output, report, report_text(report))
    if not args.keep_data:
        shutil.rmtree(run_dir)
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return EXIT_BENCH_FAILED if problems else EXIT_OK


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench/renewal_floor.py", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--subscriptions", type=int, default=SUBSCRIPTIONS_DEFAULT)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument(
        "--kassa",
        type=Path,
        help="the kassa executable of the set-up server (the advance runs this checkout's code)",
    )
    parser.add_argument("--work-dir", type=Path, default=REPO_DIR / "bench" / ".data")
    parser.add_argument("--keep-data", action="store_true", help="keep the databases")
    add_report_arguments(parser)
    args = parser.parse_args(argv)
    if not 1 <= args.subscriptions <= SUBSCRIPTIONS_MAX:
        parser.error(f"--subscriptions must be 1..{SUBSCRIPTIONS_MAX}")
    if not 1 <= args.months <= MONTHS_MAX:
        parser.error(f"--months must be 1..{MONTHS_MAX}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(parse_arguments, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
