"""What the app itself costs per request, without a server or sockets: Kassa's ASGI app and
the ceiling's (bench/ceiling_app.py), each called in-process with the requests the customer
scenarios send (bench/lua/create.lua, retrieve.lua, list.lua), 32 at a time on one event
loop, on a fresh SQLite database each.

bench/customers.py measures the whole server (uvicorn, the event loop, the kernel's sockets
and the app); this measures the app alone, so that the two together say where a request's
CPU goes: what Kassa's own code costs, and what the server around it costs. `--statements`
also times each SQL statement Kassa runs (the CPU time of the thread running it), which
prices the store's share of a request.

    python bench/app_cost.py [--requests 6400] [--concurrency 32] [--rounds 3] [--statements]

Results: bench/results/app-cost-<stamp>.json and .txt (commit, machine, figures). The
measured requests follow a warm-up of `WARMUP_REQUESTS` per scenario. Figures are process CPU
time (every thread: the checkpoint thread included) divided by the requests measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from bench_harness import REPO_DIR
from bench_results import cpu_model, git_commit, utc_stamp, write_results
from ceiling_app import Ceiling
from starlette.types import ASGIApp as App
from starlette.types import Message

SCENARIOS: Final = ("create", "retrieve", "list")
WARMUP_REQUESTS: Final = 200
REQUESTS_MAX: Final = 200_000
"""A bound on `--requests`: each created customer's id is kept for the retrieves."""
CONCURRENCY: Final = 32
"""Requests in flight at once, as the wrk scenarios' connections (`--concurrency`)."""
CONCURRENCY_MAX: Final = 256
ROUNDS_MAX: Final = 20
STATEMENTS_SHOWN: Final = 12


@dataclass
class Subject:
    """One app under measurement: its ASGI callable, the key it accepts, and the ids of the
    customers its create scenario made (for its retrieves)."""

    name: str
    app: App
    secret_key: str
    drain: Callable[[], Awaitable[None]] | None = None
    """Writes the app left for later, done before the clock stops (Kassa's request log,
    which the server writes every quarter of a second within a measured run)."""
    created: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Figure:
    subject: str
    scenario: str
    requests: int
    cpu_us: float
    wall_s: float


async def call(app: App, method: str, target: str, body: bytes, headers: list[Any]) -> bytes:
    """One request through the app as uvicorn would present it; the response body."""
    path, _, query = target.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), *headers],
        "client": ("127.0.0.1", 50_000),
        "server": ("127.0.0.1", 4242),
    }
    chunks: list[bytes] = []
    status = 0

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    answer = b"".join(chunks)
    if status != 200:
        raise SystemExit(f"{method} {target} answered {status}: {answer[:300]!r}")
    return answer


def request_maker(subject: Subject, scenario: str) -> Callable[[int], Awaitable[None]]:
    """The scenario's nth request, as the wrk scripts build it."""
    auth = (b"authorization", b"Bearer " + subject.secret_key.encode())
    form = (b"content-type", b"application/x-www-form-urlencoded")
    nonce = os.urandom(4).hex()

    async def create(n: int) -> None:
        serial = f"{nonce}-{n}"
        body = f"email=bench-{serial}%40example.test&name=Bench+Customer+{n}".encode()
        key = (b"idempotency-key", f"bench-{serial}".encode())
        answer = await call(subject.app, "POST", "/v1/customers", body, [auth, form, key])
        subject.created.append(json.loads(answer)["id"])

    async def retrieve(n: int) -> None:
        customer_id = subject.created[n % len(subject.created)]
        await call(subject.app, "GET", f"/v1/customers/{customer_id}", b"", [auth])

    async def list_page(n: int) -> None:
        await call(subject.app, "GET", "/v1/customers?limit=10", b"", [auth])

    return {"create": create, "retrieve": retrieve, "list": list_page}[scenario]


async def run_scenario(subject: Subject, scenario: str, requests: int, concurrency: int) -> Figure:
    make = request_maker(subject, scenario)
    for n in range(WARMUP_REQUESTS):
        await make(n)
    per_task = requests // concurrency

    async def task(first: int) -> None:
        for n in range(first, first + per_task):
            await make(n)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(task(WARMUP_REQUESTS + i * per_task) for i in range(concurrency)))
    if subject.drain is not None:
        await subject.drain()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    measured = per_task * concurrency
    return Figure(subject.name, scenario, measured, 1e6 * cpu / measured, wall)


@contextmanager
def statement_timer() -> Iterator[dict[str, list[float]]]:
    """Every statement Kassa's SQLite executor runs, timed by its thread's CPU time, by the
    first words of its text (and COMMITs of a group, by `_commit_batch`)."""
    from store_probe import Method, executor_methods_wrapped

    from kassa.store import sqlite as store_sqlite

    timings: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])

    def timed(_name: str, method: Method) -> Method:
        async def run(self: Any, sql: str, args: Any = ()) -> Any:
            started = time.thread_time()
            try:
                return await method(self, sql, args)
            finally:
                entry = timings[" ".join(sql.split())[:72]]
                entry[0] += 1
                entry[1] += time.thread_time() - started

        return run

    commit = store_sqlite.SqliteStore._commit_batch

    def timed_commit(self: Any) -> None:
        started = time.thread_time()
        try:
            commit(self)
        finally:
            timings["COMMIT (a group)"][0] += 1
            timings["COMMIT (a group)"][1] += time.thread_time() - started

    store_sqlite.SqliteStore._commit_batch = timed_commit  # type: ignore[method-assign]
    try:
        with executor_methods_wrapped(timed):
            yield timings
    finally:
        store_sqlite.SqliteStore._commit_batch = commit  # type: ignore[method-assign]


async def lifespan(app: App) -> Callable[[], Awaitable[None]]:
    """Start the app as uvicorn does; the function that stops it."""
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    started = asyncio.Event()

    async def send(message: Message) -> None:
        if message["type"].startswith("lifespan.startup"):
            started.set()

    lifespan_call: Coroutine[Any, Any, None] = app({"type": "lifespan"}, inbox.get, send)  # type: ignore[assignment]
    running = asyncio.create_task(lifespan_call)
    await inbox.put({"type": "lifespan.startup"})
    await started.wait()

    async def stop() -> None:
        await inbox.put({"type": "lifespan.shutdown"})
        await running

    return stop


async def kassa_subject(work: Path) -> tuple[Subject, Callable[[], Awaitable[None]]]:
    from kassa import runtime
    from kassa.clock import SystemClock
    from kassa.config import Settings

    settings = Settings(database_url=f"sqlite:///{work / 'kassa.db'}", log_level="warning")
    new = await runtime.prepare_for_serving(settings, SystemClock())
    if new is None:
        raise SystemExit(f"{work / 'kassa.db'} already had an account: use a fresh work dir")
    app = runtime.KassaApp(settings)
    stop = await lifespan(app)
    running = app.server.running
    if running is None:
        raise SystemExit("Kassa's app did not start")
    return Subject("kassa", app, new.secret_key, running.request_log.flush), stop


async def ceiling_subject(work: Path) -> tuple[Subject, Callable[[], Awaitable[None]]]:
    key = "sk_test_ceiling"
    app = Ceiling(str(work / "ceiling.db"), "acct_ceiling", key)
    stop = await lifespan(app)
    return Subject("ceiling", app, key), stop


async def measure(args: argparse.Namespace, work: Path) -> tuple[list[Figure], dict[str, Any]]:
    """Both apps started side by side, each scenario run on the ceiling then on Kassa,
    `--rounds` times over: a pair is measured within a second, so the ratio holds when the
    machine's speed drifts between runs (seen here: a retrieve's figure moved by half from
    one run to the next on an idle machine). Kassa's statements are timed in the last round."""
    figures = []
    statements: dict[str, dict[str, list[float]]] = {}
    ceiling, stop_ceiling = await ceiling_subject(work)
    kassa, stop_kassa = await kassa_subject(work)
    try:
        for round_number in range(1, args.rounds + 1):
            for scenario in SCENARIOS:
                print(f"  round {round_number}: {scenario} ...", file=sys.stderr, flush=True)
                figures.append(
                    await run_scenario(ceiling, scenario, args.requests, args.concurrency)
                )
                if args.statements and round_number == args.rounds:
                    with statement_timer() as timings:
                        figures.append(
                            await run_scenario(kassa, scenario, args.requests, args.concurrency)
                        )
                    statements[scenario] = dict(timings)
                else:
                    figures.append(
                        await run_scenario(kassa, scenario, args.requests, args.concurrency)
                    )
    finally:
        await stop_kassa()
        await stop_ceiling()
    return figures, statements


def median_cpu(figures: Sequence[Figure], subject: str, scenario: str) -> float:
    return statistics.median(
        f.cpu_us for f in figures if (f.subject, f.scenario) == (subject, scenario)
    )


def report_text(figures: Sequence[Figure], statements: dict[str, Any], env: dict[str, Any]) -> str:
    lines = [
        f"Kassa app cost {env['stamp']} (commit {env['commit']}); {env['cpu']}, "
        f"Python {env['python']}",
        f"In-process, no server: {env['requests']:,} requests per scenario, "
        f"{env['concurrency']} at a time, after {WARMUP_REQUESTS} warm-up requests",
        "",
        f"Median of {env['rounds']} rounds, each scenario on the ceiling then on Kassa "
        "(every round's figures in the JSON):",
        "",
        "scenario   kassa cpu us/req  ceiling cpu us/req  ratio (ceiling / kassa)",
    ]
    for scenario in SCENARIOS:
        kassa = median_cpu(figures, "kassa", scenario)
        ceiling = median_cpu(figures, "ceiling", scenario)
        lines.append(f"{scenario:<10} {kassa:>16.1f}  {ceiling:>18.1f}  {ceiling / kassa:>23.2f}")
    by = {(f.subject, f.scenario): f for f in figures}
    for scenario, timings in statements.items():
        measured = by[("kassa", scenario)].requests
        total = sum(t for _, t in timings.values())
        lines += ["", f"Kassa's SQL per {scenario} (thread CPU): {1e6 * total / measured:.1f} us"]
        ranked = sorted(timings.items(), key=lambda kv: -kv[1][1])[:STATEMENTS_SHOWN]
        for text, (count, spent) in ranked:
            lines.append(f"  {1e6 * spent / measured:7.1f} us/req  {int(count):>7,}x  {text}")
    return "\n".join(lines) + "\n"


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench/app_cost.py",
        description="CPU per request of Kassa's app and the ceiling's, in-process.",
    )
    parser.add_argument("--requests", type=int, default=6_400, help="per scenario")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--rounds", type=int, default=3, help="pairs per scenario (median)")
    parser.add_argument("--statements", action="store_true", help="time Kassa's SQL too")
    parser.add_argument("--output", type=Path, help="results JSON (default bench/results/)")
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= ROUNDS_MAX:
        parser.error(f"--rounds must be between 1 and {ROUNDS_MAX}")
    if not 1 <= args.concurrency <= CONCURRENCY_MAX:
        parser.error(f"--concurrency must be between 1 and {CONCURRENCY_MAX}")
    if not args.concurrency <= args.requests <= REQUESTS_MAX:
        parser.error(f"--requests must be between --concurrency and {REQUESTS_MAX:,}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(sys.argv[1:] if argv is None else argv)
    stamp = utc_stamp()
    env = {
        "stamp": stamp,
        "commit": git_commit(),
        "cpu": f"{cpu_model()}, {os.cpu_count()} CPUs",
        "python": platform.python_version(),
        "requests": args.requests,
        "concurrency": args.concurrency,
        "rounds": args.rounds,
    }
    with tempfile.TemporaryDirectory(prefix="kassa-app-cost-") as work:
        figures, statements = asyncio.run(measure(args, Path(work)))
    text = report_text(figures, statements, env)
    report = {
        "environment": env,
        "figures": [vars(f) for f in figures],
        "statements": statements,
    }
    output = args.output or REPO_DIR / "bench" / "results" / f"app-cost-{stamp}.json"
    written = write_results(output, report, text)
    print(text, end="")
    print(f"results: {output} and {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
