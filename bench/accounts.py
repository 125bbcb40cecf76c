"""Benchmark a clean account per test: accounts made per second (the CLI's batch mode, in
process, and `POST /v1/test_helpers/accounts`), and the reset, snapshot save and snapshot
restore of an account with --objects customers, through one local `kassa serve`.

    python bench/accounts.py [--objects 10000] [--rounds 5] [--database URL]

1. `kassa accounts create --count N --json` for N = 1 and --batch-accounts: wall time of the
   whole command (interpreter start, imports and migration check included), so the
   accounts per second are what a test suite calling it gets.
2. The same batches in this process (`accounts.create_accounts`, a transaction per 1,000):
   the rate without the command's start.
3. One account seeded in this process through the service layer (`create_customer`, a unit of
   work per SEED_UNIT_CUSTOMERS, each customer with its `customer.created` event), plus
   --payments confirmed PaymentIntents through the API, so the ledger has rows to clear.
4. With the server running: --api-accounts sequential `POST /v1/test_helpers/accounts` on one
   keep-alive connection; then --rounds times: save a snapshot, reset, restore (each timed
   from the client: one HTTP request). After the last restore the customers are listed
   through the API (all back, in order) and `kassa ledger verify` runs.

Results go to bench/results/accounts-<stamp>.json. Bounded: every count is checked against a
named maximum, every wait has a timeout, the server is stopped by its own process id.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import http.client
import json
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

from bench_cli import EXIT_BENCH_FAILED, EXIT_OK, add_storage_arguments, find_kassa, run_main
from bench_harness import (
    DEFAULT_RESULTS_DIR,
    LOOPBACK_HOST,
    BenchError,
    choose_database,
    display_path,
    list_all_objects,
    make_run_dir,
    parse_account,
    plan_cpus,
    remove_database_files,
    running_server,
    verify_ledger,
)

from kassa.clock import SystemClock
from kassa.services import accounts, customers
from kassa.services.context import Context
from kassa.store import Store, migrate, open_store

OBJECTS_DEFAULT: Final = 10_000
OBJECTS_MAX: Final = 1_000_000
ROUNDS_DEFAULT: Final = 5
ROUNDS_MAX: Final = 100
BATCH_ACCOUNTS_DEFAULT: Final = 1_000
BATCH_ACCOUNTS_MAX: Final = 100_000
IN_PROCESS_BATCHES: Final = 10
API_ACCOUNTS_DEFAULT: Final = 500
API_ACCOUNTS_MAX: Final = 10_000
PAYMENTS_DEFAULT: Final = 100
PAYMENTS_MAX: Final = 10_000
SMALL_OBJECTS: Final = 100
"""Customers of the small account whose save, reset and restore are timed too."""
SEED_UNIT_CUSTOMERS: Final = 1_000
"""Customers one unit of work makes while seeding (with as many events)."""
CLI_TIMEOUT_S: Final = 600.0
READY_TIMEOUT_S: Final = 60.0
REQUEST_TIMEOUT_S: Final = 600.0
"""One reset or restore of a large account may take a while; a bound all the same."""
SNAPSHOT_NAME: Final = "seeded"


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=OBJECTS_DEFAULT)
    parser.add_argument("--rounds", type=int, default=ROUNDS_DEFAULT)
    parser.add_argument("--batch-accounts", type=int, default=BATCH_ACCOUNTS_DEFAULT)
    parser.add_argument("--api-accounts", type=int, default=API_ACCOUNTS_DEFAULT)
    parser.add_argument("--payments", type=int, default=PAYMENTS_DEFAULT)
    parser.add_argument("--kassa", type=Path, help="the kassa executable (default: on PATH)")
    add_storage_arguments(parser, "accounts")
    args = parser.parse_args(argv)
    for name, low, high in (
        ("objects", 1, OBJECTS_MAX),
        ("rounds", 1, ROUNDS_MAX),
        ("batch_accounts", 1, BATCH_ACCOUNTS_MAX),
        ("api_accounts", 1, API_ACCOUNTS_MAX),
        ("payments", 0, PAYMENTS_MAX),
    ):
        if not low <= getattr(args, name) <= high:
            parser.error(f"--{name.replace('_', '-')} must be {low}..{high}")
    return args


# -- accounts per second ---------------------------------------------------------------------


def cli_batch(kassa: Path, url: str, count: int) -> tuple[float, list[str]]:
    """Seconds for one `kassa accounts create --count`, and its output lines."""
    started = time.perf_counter()
    completed = subprocess.run(
        [str(kassa), "accounts", "create", "--count", str(count), "--json", "--database", url],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        raise BenchError(f"`kassa accounts create` failed:\n{completed.stderr.strip()}")
    lines = completed.stdout.splitlines()
    if len(lines) != count:
        raise BenchError(f"asked for {count} accounts, got {len(lines)} lines")
    return seconds, lines


def in_process_batches(url: str, batch: int) -> float:
    """Seconds for IN_PROCESS_BATCHES batches of `batch` accounts in this process."""

    async def run() -> float:
        store = await open_store(url)
        try:
            started = time.perf_counter()
            for _ in range(IN_PROCESS_BATCHES):
                left = batch
                while left > 0:  # bounded by batch / ACCOUNTS_PER_BATCH_MAX
                    size = min(left, accounts.ACCOUNTS_PER_BATCH_MAX)
                    async with store.write() as tx:
                        await accounts.create_accounts(tx, SystemClock(), size)
                    left -= size
            return time.perf_counter() - started
        finally:
            await store.close()

    return asyncio.run(run())


@contextlib.contextmanager
def connection(base_url: str) -> Iterator[http.client.HTTPConnection]:
    parts = urllib.parse.urlsplit(base_url)
    if parts.hostname != LOOPBACK_HOST or parts.port is None:
        raise BenchError(f"refusing a non-loopback URL: {base_url}")
    opened = http.client.HTTPConnection(LOOPBACK_HOST, parts.port, timeout=REQUEST_TIMEOUT_S)
    try:
        yield opened
    finally:
        opened.close()


def request(
    opened: http.client.HTTPConnection,
    key: str,
    method: str,
    path: str,
    fields: dict[str, str] | None = None,
) -> tuple[float, dict[str, Any]]:
    """(seconds, answer) of one request on a keep-alive connection; any non-200 fails."""
    body = urllib.parse.urlencode(fields or {})
    headers = {"Authorization": f"Bearer {key}"}
    if method == "POST":
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    started = time.perf_counter()
    opened.request(method, path, body=body if method == "POST" else None, headers=headers)
    response = opened.getresponse()
    raw = response.read()
    seconds = time.perf_counter() - started
    if response.status != 200:
        raise BenchError(f"{method} {path} answered {response.status}: {raw[:300]!r}")
    answer: dict[str, Any] = json.loads(raw)
    return seconds, answer


# -- the seeded account ----------------------------------------------------------------------


def seed_customers(url: str, account_id: str, count: int) -> float:
    """Seconds to make `count` customers in `account_id` through the service layer."""

    async def run() -> float:
        store = await open_store(url)
        try:
            started = time.perf_counter()
            for first in range(0, count, SEED_UNIT_CUSTOMERS):
                await _seed_unit(store, account_id, first, min(count, first + SEED_UNIT_CUSTOMERS))
            return time.perf_counter() - started
        finally:
            await store.close()

    return asyncio.run(run())


async def _seed_unit(store: Store, account_id: str, first: int, end: int) -> None:
    async with store.write() as tx:
        ctx = Context(account_id=account_id, tx=tx, clock=SystemClock())
        for number in range(first, end):
            request = customers.CreateCustomer(email=f"customer{number}@example.com")
            await customers.create_customer(ctx, request)


def pay(opened: http.client.HTTPConnection, key: str, count: int) -> None:
    fields = {
        "amount": "2000",
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "confirm": "true",
        "allowed_payment_method_types[]": "card",
    }
    for _ in range(count):
        request(opened, key, "POST", "/v1/payment_intents", fields)


def timed_rounds(
    opened: http.client.HTTPConnection, key: str, account_id: str, rounds: int
) -> dict[str, Any]:
    """Per round: save, reset, restore; milliseconds of each, and the rows saved."""
    base = f"/v1/test_helpers/accounts/{account_id}"
    found: dict[str, list[float]] = {"save_ms": [], "reset_ms": [], "restore_ms": []}
    rows = 0
    for _ in range(rounds):
        seconds, saved = request(opened, key, "POST", f"{base}/snapshots", {"name": SNAPSHOT_NAME})
        found["save_ms"].append(round(seconds * 1000, 1))
        rows = int(saved["rows"])
        seconds, _ = request(opened, key, "POST", f"{base}/reset")
        found["reset_ms"].append(round(seconds * 1000, 1))
        seconds, _ = request(opened, key, "POST", f"{base}/snapshots/{SNAPSHOT_NAME}/restore")
        found["restore_ms"].append(round(seconds * 1000, 1))
    medians = {
        f"{name}_median": round(statistics.median(times), 1) for name, times in found.items()
    }
    return {"snapshot_rows": rows, **found, **medians}


# -- the run ----------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    kassa = find_kassa(args.kassa)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = make_run_dir(args.work_dir, stamp, "accounts")
    url, database = choose_database(args.database, run_dir)
    asyncio.run(_migrate(url))
    one_seconds, lines = cli_batch(kassa, url, 1)
    batch_seconds, batch_lines = cli_batch(kassa, url, args.batch_accounts)
    in_process_seconds = in_process_batches(url, args.batch_accounts)
    account = parse_account(lines[0])
    print(f"seeding {args.objects} customers in {account.id}", flush=True)
    seed_seconds = seed_customers(url, account.id, args.objects)
    key = account.secret_key
    log = run_dir / "kassa-serve.log"
    with (
        running_server(kassa, url, log, plan_cpus(pin=False), READY_TIMEOUT_S, key) as server,
        connection(server.base_url) as opened,
    ):
        pay(opened, key, args.payments)
        started = time.perf_counter()
        for _ in range(args.api_accounts):
            request(opened, key, "POST", "/v1/test_helpers/accounts")
        api_seconds = time.perf_counter() - started
        print(f"timing {args.rounds} rounds of save, reset, restore", flush=True)
        rounds = timed_rounds(opened, key, account.id, args.rounds)
        small = parse_account(batch_lines[0])
        seed_customers(url, small.id, SMALL_OBJECTS)
        small_rounds = timed_rounds(opened, small.secret_key, small.id, args.rounds)
        listed = [c["id"] for c in list_all_objects(server.base_url, key, "/v1/customers")]
    problems = [] if len(listed) == args.objects else [f"{len(listed)} customers after restore"]
    ledger = verify_ledger(kassa, url)
    if not ledger.get("ok"):
        problems.append(f"kassa ledger verify: {ledger}")
    result = {
        "stamp": stamp,
        "database": url.split("://", maxsplit=1)[0],
        "cli_one_account_seconds": round(one_seconds, 3),
        "cli_batch_accounts": args.batch_accounts,
        "cli_batch_seconds": round(batch_seconds, 3),
        "cli_accounts_per_second": round(args.batch_accounts / batch_seconds),
        "in_process_accounts_per_second": round(
            IN_PROCESS_BATCHES * args.batch_accounts / in_process_seconds
        ),
        "api_accounts": args.api_accounts,
        "api_accounts_per_second": round(args.api_accounts / api_seconds),
        "objects": args.objects,
        "payments": args.payments,
        "seed_seconds": round(seed_seconds, 2),
        **rounds,
        "small_account": {"objects": SMALL_OBJECTS, **small_rounds},
        "problems": problems,
        "ledger": ledger,
    }
    output = args.output or DEFAULT_RESULTS_DIR / f"accounts-{stamp}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(summary(result) + f"; results in {display_path(output)}")
    if database is not None:
        remove_database_files(database)
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return EXIT_BENCH_FAILED if problems else EXIT_OK


async def _migrate(url: str) -> None:
    store = await open_store(url)
    try:
        await migrate(store, int(time.time()))
    finally:
        await store.close()


def summary(result: dict[str, Any]) -> str:
    return (
        f"{result['database']}: accounts/s CLI {result['cli_accounts_per_second']:,} "
        f"(batch of {result['cli_batch_accounts']:,}), in process "
        f"{result['in_process_accounts_per_second']:,}, API {result['api_accounts_per_second']:,}; "
        f"{result['objects']:,} customers ({result['snapshot_rows']:,} rows): save "
        f"{result['save_ms_median']} ms, reset {result['reset_ms_median']} ms, restore "
        f"{result['restore_ms_median']} ms (medians of {len(result['save_ms'])}); "
        f"{SMALL_OBJECTS} customers: save {result['small_account']['save_ms_median']} ms, "
        f"reset {result['small_account']['reset_ms_median']} ms, restore "
        f"{result['small_account']['restore_ms_median']} ms"
    )


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(parse_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
