"""Benchmark a test clock's advance: one clock, one customer with a saved card, N
auto-advancing invoices made at the clock's frozen time; one `advance` two hours ahead, and the
time until the clock is `ready` again, every invoice finalized and charged by the `test_clocks`
job of one local `kassa serve`.

Reports pieces of clock work per second (one piece: finalize a draft and charge it), then
checks through the API that every invoice is paid, that there is one charge per invoice, and
runs `kassa ledger verify`. The figure bounds issue 13's renewal goal from above: a renewal
will be this work plus the subscription's own.

    python bench/test_clocks.py [--invoices 1000] [--database URL] [--workers N]

`--workers N` starts N `kassa worker` processes beside `kassa serve` (whose own `test_clocks`
job advances clocks too): on PostgreSQL, the rate with more than one process doing the
clock's work. The results say how many processes ran the job (`clock_job_processes`).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

from bench_cli import EXIT_BENCH_FAILED, EXIT_OK, add_storage_arguments, find_kassa, run_main
from bench_harness import (
    DEFAULT_RESULTS_DIR,
    BenchError,
    choose_database,
    create_account,
    display_path,
    http_get,
    http_post_form,
    list_all_objects,
    make_run_dir,
    plan_cpus,
    remove_database_files,
    running_server,
    stop_process,
    verify_ledger,
)

FROZEN: Final = 1_798_761_600
"""2027-01-01 00:00 UTC."""
ADVANCE_SECONDS: Final = 2 * 3_600
INVOICES_DEFAULT: Final = 1_000
INVOICES_MAX: Final = 100_000
MONTHS_MAX: Final = 120
SECONDS_PER_MONTH_MAX: Final = 31 * 86_400
PROGRESS_EVERY: Final = 200
READY_TIMEOUT_S: Final = 30.0
ADVANCE_TIMEOUT_S: Final = 1_800.0
POLL_S: Final = 0.05
WORKERS_MAX: Final = 8
WORKER_STOP_TIMEOUT_S: Final = 10.0


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, default=INVOICES_DEFAULT)
    parser.add_argument(
        "--subscriptions",
        type=int,
        default=0,
        help="instead of invoices: this many monthly subscriptions (one customer each), "
        "advanced --months months",
    )
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="`kassa worker` processes to run beside `kassa serve` (default 0)",
    )
    parser.add_argument("--kassa", type=Path, help="the kassa executable (default: on PATH)")
    add_storage_arguments(parser, "test-clocks")
    args = parser.parse_args(argv)
    if not 1 <= args.invoices <= INVOICES_MAX:
        parser.error(f"--invoices must be 1..{INVOICES_MAX}")
    if not 0 <= args.subscriptions <= INVOICES_MAX or not 1 <= args.months <= MONTHS_MAX:
        parser.error(f"--subscriptions must be 0..{INVOICES_MAX}, --months 1..{MONTHS_MAX}")
    if not 0 <= args.workers <= WORKERS_MAX:
        parser.error(f"--workers must be 0..{WORKERS_MAX}")
    return args


@contextlib.contextmanager
def running_workers(kassa: Path, url: str, count: int, run_dir: Path) -> Iterator[None]:
    """`count` `kassa worker` processes on the database, stopped when left (each by its own
    process id)."""
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for n in range(count):
            with (run_dir / f"kassa-worker-{n + 1}.log").open("ab") as log:
                processes.append(
                    subprocess.Popen(
                        [str(kassa), "worker", "--database", url],
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        yield
    finally:
        for process in processes:
            stop_process(process, WORKER_STOP_TIMEOUT_S)


def post(base_url: str, key: str, path: str, fields: dict[str, str]) -> dict[str, Any]:
    status, body = http_post_form(base_url, path, key, fields)
    if status != 200:
        raise BenchError(f"POST {path} answered {status}: {body[:300]!r}")
    answer: dict[str, Any] = json.loads(body)
    return answer


def get(base_url: str, key: str, path: str) -> dict[str, Any]:
    status, body = http_get(base_url, path, key)
    if status != 200:
        raise BenchError(f"GET {path} answered {status}: {body[:300]!r}")
    answer: dict[str, Any] = json.loads(body)
    return answer


def make_invoices(base_url: str, key: str, customer_id: str, count: int) -> list[str]:
    ids = []
    for n in range(count):
        item = {"customer": customer_id, "amount": str(100 + n), "currency": "usd"}
        post(base_url, key, "/v1/invoiceitems", item)
        invoice = post(
            base_url,
            key,
            "/v1/invoices",
            {
                "customer": customer_id,
                "auto_advance": "true",
                "pending_invoice_items_behavior": "include",
            },
        )
        ids.append(str(invoice["id"]))
        if (n + 1) % PROGRESS_EVERY == 0:
            print(f"  {n + 1}/{count} invoices made", flush=True)
    return ids


def make_subscriptions(base_url: str, key: str, clock_id: str, count: int) -> list[str]:
    price = post(
        base_url,
        key,
        "/v1/prices",
        {
            "currency": "usd",
            "unit_amount": "1900",
            "recurring[interval]": "month",
            "product_data[name]": "Bench plan",
        },
    )
    ids = []
    for n in range(count):
        customer = post(
            base_url,
            key,
            "/v1/customers",
            {
                "test_clock": clock_id,
                "payment_method": "pm_card_visa",
                "invoice_settings[default_payment_method]": "pm_card_visa",
            },
        )
        fields = {"customer": customer["id"], "items[0][price]": price["id"]}
        ids.append(str(post(base_url, key, "/v1/subscriptions", fields)["id"]))
        if (n + 1) % PROGRESS_EVERY == 0:
            print(f"  {n + 1}/{count} subscriptions made", flush=True)
    return ids


def run_subscriptions(args: argparse.Namespace, base: str, key: str) -> dict[str, Any]:
    """One clock, N subscriptions, advanced `--months` months: renewals per second."""
    clock = post(base, key, "/v1/test_helpers/test_clocks", {"frozen_time": str(FROZEN)})
    print(f"making {args.subscriptions} subscriptions on {clock['id']}", flush=True)
    make_subscriptions(base, key, clock["id"], args.subscriptions)
    # Months from January 1 are at most 31 days: land just inside the last renewal's hour.
    target = FROZEN + args.months * SECONDS_PER_MONTH_MAX - 2 * 86_400
    print(f"advancing {args.months} months", flush=True)
    post(
        base,
        key,
        f"/v1/test_helpers/test_clocks/{clock['id']}/advance",
        {"frozen_time": str(target)},
    )
    seconds = wait_until_ready(base, key, clock["id"])
    invoices = list(list_all_objects(base, key, "/v1/invoices"))
    renewals = sum(1 for i in invoices if i["billing_reason"] == "subscription_cycle")
    unpaid = sum(1 for i in invoices if i["status"] != "paid")
    problems = [f"{unpaid} invoices not paid"] if unpaid else []
    return {
        "subscriptions": args.subscriptions,
        "months": args.months,
        "renewal_invoices": renewals,
        "advance_seconds": round(seconds, 3),
        "renewals_per_second": round(renewals / seconds, 1),
        "problems": problems,
    }


def wait_until_ready(base_url: str, key: str, clock_id: str) -> float:
    """Seconds from now until the clock is ready."""
    started = time.monotonic()
    last_note = started
    while time.monotonic() - started < ADVANCE_TIMEOUT_S:
        clock = get(base_url, key, f"/v1/test_helpers/test_clocks/{clock_id}")
        if clock["status"] == "ready":
            return time.monotonic() - started
        if clock["status"] != "advancing":
            raise BenchError(f"the clock ended {clock['status']}")
        if time.monotonic() - last_note > 5:
            print(f"  still advancing after {time.monotonic() - started:.0f} s", flush=True)
            last_note = time.monotonic()
        time.sleep(POLL_S)
    raise BenchError(f"the clock was still advancing after {ADVANCE_TIMEOUT_S} s")


def check(base_url: str, key: str, invoice_ids: list[str]) -> list[str]:
    problems = []
    unpaid = [i for i in invoice_ids if get(base_url, key, f"/v1/invoices/{i}")["status"] != "paid"]
    if unpaid:
        problems.append(f"{len(unpaid)} invoices not paid, e.g. {unpaid[0]}")
    # The account's only customer: every charge is one of its invoices'.
    charges = list(list_all_objects(base_url, key, "/v1/charges"))
    if len(charges) != len(invoice_ids):
        problems.append(f"{len(charges)} charges for {len(invoice_ids)} invoices")
    return problems


def run(args: argparse.Namespace) -> int:
    kassa = find_kassa(args.kassa)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = make_run_dir(args.work_dir, stamp, "test-clocks")
    url, database = choose_database(args.database, run_dir)
    account = create_account(kassa, url)
    key = account.secret_key
    log = run_dir / "kassa-serve.log"
    with (
        running_server(kassa, url, log, plan_cpus(pin=False), READY_TIMEOUT_S, key) as server,
        running_workers(kassa, url, args.workers, run_dir),
    ):
        if args.subscriptions:
            return report(
                args, stamp, url, database, kassa, run_subscriptions(args, server.base_url, key)
            )
        base = server.base_url
        clock = post(base, key, "/v1/test_helpers/test_clocks", {"frozen_time": str(FROZEN)})
        customer = post(
            base,
            key,
            "/v1/customers",
            {
                "test_clock": clock["id"],
                "payment_method": "pm_card_visa",
                "invoice_settings[default_payment_method]": "pm_card_visa",
            },
        )
        print(f"making {args.invoices} invoices on {clock['id']}", flush=True)
        invoice_ids = make_invoices(base, key, customer["id"], args.invoices)
        print(f"advancing {ADVANCE_SECONDS} s: every invoice finalizes and is charged", flush=True)
        post(
            base,
            key,
            f"/v1/test_helpers/test_clocks/{clock['id']}/advance",
            {"frozen_time": str(FROZEN + ADVANCE_SECONDS)},
        )
        seconds = wait_until_ready(base, key, clock["id"])
        problems = check(base, key, invoice_ids)
    ledger = verify_ledger(kassa, url)
    if not ledger.get("ok"):
        problems.append(f"kassa ledger verify: {ledger}")
    result = {
        "stamp": stamp,
        "database": url.split("://")[0],
        "clock_job_processes": 1 + args.workers,
        "invoices": args.invoices,
        "advance_seconds": round(seconds, 3),
        "pieces_per_second": round(args.invoices / seconds, 1),
        "problems": problems,
        "ledger": ledger,
    }
    output = args.output or DEFAULT_RESULTS_DIR / f"test-clocks-{stamp}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{args.invoices} invoices advanced in {seconds:.2f} s: "
        f"{result['pieces_per_second']} per second ({result['database']}); "
        f"results in {display_path(output)}"
    )
    if database is not None:
        remove_database_files(database)
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return EXIT_BENCH_FAILED if problems else EXIT_OK


def report(
    args: argparse.Namespace,
    stamp: str,
    url: str,
    database: Path | None,
    kassa: Path,
    result: dict[str, Any],
) -> int:
    ledger = verify_ledger(kassa, url)
    if not ledger.get("ok"):
        result["problems"].append(f"kassa ledger verify: {ledger}")
    result = {
        "stamp": stamp,
        "database": url.split("://", maxsplit=1)[0],
        "clock_job_processes": 1 + args.workers,
        **result,
        "ledger": ledger,
    }
    output = args.output or DEFAULT_RESULTS_DIR / f"test-clocks-subscriptions-{stamp}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{result['renewal_invoices']} renewals in {result['advance_seconds']} s: "
        f"{result['renewals_per_second']} per second ({result['database']}, "
        f"{result['clock_job_processes']} clock job processes); "
        f"results in {display_path(output)}"
    )
    if database is not None:
        remove_database_files(database)
    for problem in result["problems"]:
        print(f"problem: {problem}", file=sys.stderr)
    return EXIT_BENCH_FAILED if result["problems"] else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(parse_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
