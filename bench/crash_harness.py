"""Crash harness: mixed load on one `kassa serve` while it is killed with SIGKILL at random
moments and restarted, every unanswered request retried with its same idempotency key; then
the proof that nothing was lost or done twice.

Load (LOAD_THREADS clients, each request with its own Idempotency-Key, retried with that key
until it is answered): customers created, PaymentIntents confirmed with a test card, full
refunds of confirmed payments, invoices made, finalized and paid with a saved card; a webhook
endpoint on a local receiver wants every event. Each round sleeps a random 0.2 to 1.0 s,
kills the server and a `kassa worker` beside it (`kill -9`), and starts both again on the
same port and database. Afterwards:

- acknowledged: every request that was answered 200 names an object that exists, as answered
  (a customer, a succeeded PaymentIntent, a succeeded refund);
- executed twice: the account holds exactly one object per acknowledged request (a request
  retried after a crash with its key was replayed, not run again): customers, PaymentIntents,
  charges and refunds are counted;
- delivered: every event of the account reached the receiver at least once (deliveries a
  crash interrupted are retried from the outbox; the receiver verifies each signature);
- `kassa ledger verify` passes.

    python bench/crash_harness.py --rounds 100                # SQLite
    python bench/crash_harness.py --rounds 100 --database postgresql://postgres@127.0.0.1/x

The results (JSON) go to bench/results/crash-<timestamp>.json, or --output; exit 1 when any
check failed. `tests/test_crash_harness.py` runs a short form in CI.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

import stripe
from bench_cli import EXIT_BENCH_FAILED, EXIT_OK, find_kassa, run_main
from bench_harness import (
    DEFAULT_RESULTS_DIR,
    INSTANCE_ID_VARIABLE,
    LOOPBACK_HOST,
    Account,
    BenchError,
    Server,
    choose_database,
    create_account,
    display_path,
    free_loopback_port,
    list_all_objects,
    make_run_dir,
    remove_database_files,
    stop_process,
    verify_ledger,
    wait_until_ready,
)

ROUNDS_DEFAULT: Final = 100
ROUNDS_MAX: Final = 10_000
LOAD_THREADS: Final = 4
KILL_AFTER_SECONDS: Final = (0.2, 1.0)
REQUEST_TIMEOUT_SECONDS: Final = 10.0
RETRY_PAUSE_SECONDS: Final = 0.05
RETRIES_PER_REQUEST_MAX: Final = 2_000
"""A request is retried with its key until answered; this many tries (minutes of outage)
means the server is not coming back."""
READY_TIMEOUT_SECONDS: Final = 60.0
DELIVERY_WAIT_SECONDS: Final = 120.0
"""Deliveries claimed by a killed process come back when their lease ends (the send timeout
plus 20 s)."""
DELIVERY_POLL_SECONDS: Final = 0.5
REFUND_SHARE: Final = 0.2
PAYMENT_SHARE: Final = 0.3
INVOICE_SHARE: Final = 0.2
"""Of the requests: refunds, payments, invoices (the invoice, its item, finalize, pay: each
its own key), the rest customers."""
SERVER_ENV: Final = {
    "KASSA_WEBHOOK_TIMEOUT_SECONDS": "1",
    "KASSA_WEBHOOK_RETRY_SCHEDULE": "1,1,2,2,5,5,10,10",
}
"""Short webhook timeout and retries, so that interrupted deliveries come back in seconds."""


# -- the webhook receiver ------------------------------------------------------------------


class Receiver(ThreadingHTTPServer):
    """Records the id of every delivery whose Stripe signature verifies."""

    def __init__(self) -> None:
        super().__init__((LOOPBACK_HOST, 0), _ReceiverHandler)
        self.secret = ""
        self.lock = threading.Lock()
        self.event_ids: set[str] = set()
        self.rejected = 0
        self.url = f"http://{LOOPBACK_HOST}:{self.server_address[1]}/hooks"


class _ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        payload = self.rfile.read(int(self.headers["Content-Length"]))
        try:
            event = stripe.Webhook.construct_event(
                payload, self.headers["Stripe-Signature"], self.server.secret
            )
        except (ValueError, stripe.SignatureVerificationError):
            with self.server.lock:
                self.server.rejected += 1
            self.send_response(400)
        else:
            with self.server.lock:
                self.server.event_ids.add(event.id)
            self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet


# -- the server under test ------------------------------------------------------------------


class KilledServer:
    """One `kassa serve` on a fixed port and one `kassa worker` beside it (both deliver
    webhooks and run the jobs), killed together and started again."""

    def __init__(self, kassa: Path, url: str, log_path: Path, secret_key: str) -> None:
        self.kassa = kassa
        self.url = url
        self.log_path = log_path
        self.secret_key = secret_key
        self.port = free_loopback_port()
        self.base_url = f"http://{LOOPBACK_HOST}:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # A new id each start: the process killed last must not pass for this one.
        instance_id = uuid.uuid4().hex
        command = [str(self.kassa), "serve", "--host", LOOPBACK_HOST, "--port", str(self.port)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, "--database", self.url],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **SERVER_ENV, INSTANCE_ID_VARIABLE: instance_id},
                start_new_session=True,
            )
        server = Server(self.process, self.base_url, self.log_path)
        wait_until_ready(server, self.secret_key, READY_TIMEOUT_SECONDS, "kassa serve", instance_id)
        with self.log_path.with_name("kassa-worker.log").open("ab") as log:
            self.worker = subprocess.Popen(
                [str(self.kassa), "worker", "--database", self.url],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **SERVER_ENV},
                start_new_session=True,
            )

    def kill(self) -> None:
        for process in (self.process, self.worker):
            if process is not None:
                process.kill()
                process.wait()

    def stop(self) -> None:
        for process in (self.worker, self.process):
            if process is not None:
                stop_process(process, 10)


# -- the load ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Ledger:
    """What the clients were told: one entry per acknowledged request."""

    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    customers: list[str] = dataclasses.field(default_factory=list)
    payments: list[str] = dataclasses.field(default_factory=list)
    refunds: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    invoices: list[str] = dataclasses.field(default_factory=list)
    """Invoices acknowledged paid."""
    invoice_customer: str = ""
    """The customer with a saved card the invoices are for."""
    """(refund, its PaymentIntent)."""
    unrefunded: list[str] = dataclasses.field(default_factory=list)
    sent: int = 0
    unanswered: int = 0
    refused: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class Answer:
    body: Any
    unanswered: int
    """Tries before it that got no answer (the server was down or died mid-request)."""


def post(base_url: str, secret_key: str, path: str, fields: dict[str, str], key: str) -> Answer:
    """POST until answered (a connection refused or reset, or a 503, is tried again with the
    same key); the answer's JSON when 200, else BenchError."""
    request_body = urllib.parse.urlencode(fields).encode()
    unanswered = 0
    for _ in range(RETRIES_PER_REQUEST_MAX):
        request = urllib.request.Request(base_url + path, data=request_body, method="POST")
        request.add_header("Authorization", f"Bearer {secret_key}")
        request.add_header("Idempotency-Key", key)
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:
                return Answer(json.loads(response.read()), unanswered)
        except urllib.error.HTTPError as error:
            if error.code in (409, 503):  # the key's first run in flight; a database gap
                time.sleep(RETRY_PAUSE_SECONDS)
                continue
            raise BenchError(f"POST {path} answered {error.code}: {error.read()[:300]!r}") from None
        except (urllib.error.URLError, http.client.HTTPException, OSError):
            # Refused, reset, or cut off mid-answer: the request may or may not have run.
            unanswered += 1
            time.sleep(RETRY_PAUSE_SECONDS)
    raise BenchError(f"POST {path} with key {key} was never answered")


def client_loop(
    base_url: str, secret_key: str, ledger: Ledger, stopping: threading.Event, seed: int
) -> None:
    rng = random.Random(seed)
    number = 0
    while not stopping.is_set():
        number += 1
        key = f"crash-{seed}-{number}"
        choice = rng.random()
        try:
            unanswered = _one_request(base_url, secret_key, ledger, key, choice)
        except BenchError as error:
            with ledger.lock:
                ledger.refused.append(str(error))
            continue
        with ledger.lock:
            ledger.sent += 1
            ledger.unanswered += unanswered


def _one_request(base_url: str, secret_key: str, ledger: Ledger, key: str, choice: float) -> int:
    """One request of the mix, answered; the tries that went unanswered."""
    if choice < REFUND_SHARE:
        refunded = _refund(base_url, secret_key, ledger, key)
        if refunded is not None:
            return refunded
    if choice < REFUND_SHARE + PAYMENT_SHARE:
        return _pay(base_url, secret_key, ledger, key)
    if choice < REFUND_SHARE + PAYMENT_SHARE + INVOICE_SHARE:
        return _invoice(base_url, secret_key, ledger, key)
    return _customer(base_url, secret_key, ledger, key)


def _customer(base_url: str, secret_key: str, ledger: Ledger, key: str) -> int:
    answer = post(base_url, secret_key, "/v1/customers", {"name": key}, key)
    with ledger.lock:
        ledger.customers.append(answer.body["id"])
    return answer.unanswered


def _pay(base_url: str, secret_key: str, ledger: Ledger, key: str) -> int:
    fields = {
        "amount": "2000",
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "allowed_payment_method_types[0]": "card",
        "confirm": "true",
        "metadata[key]": key,
    }
    intent = post(base_url, secret_key, "/v1/payment_intents", fields, key)
    if intent.body["status"] != "succeeded":
        raise BenchError(f"PaymentIntent {intent.body['id']} is {intent.body['status']}")
    with ledger.lock:
        ledger.payments.append(intent.body["id"])
        ledger.unrefunded.append(intent.body["id"])
    return intent.unanswered


def _invoice(base_url: str, secret_key: str, ledger: Ledger, key: str) -> int:
    """An invoice for one item, finalized and paid with the customer's card; every step its
    own key, so a step cut off by a kill is replayed, not run again."""
    customer = ledger.invoice_customer
    steps: list[Answer] = []

    def step(path: str, fields: dict[str, str], suffix: str) -> Any:
        steps.append(post(base_url, secret_key, path, fields, f"{key}-{suffix}"))
        return steps[-1].body

    invoice = step(
        "/v1/invoices",
        {"customer": customer, "pending_invoice_items_behavior": "exclude"},
        "invoice",
    )
    step(
        "/v1/invoiceitems",
        {"invoice": invoice["id"], "customer": customer, "amount": "1500", "currency": "usd"},
        "item",
    )
    step(f"/v1/invoices/{invoice['id']}/finalize", {}, "finalize")
    paid = step(f"/v1/invoices/{invoice['id']}/pay", {}, "pay")
    if (paid["status"], paid["amount_paid"]) != ("paid", 1500):
        raise BenchError(f"invoice {invoice['id']} is {paid['status']}, {paid['amount_paid']} paid")
    with ledger.lock:
        ledger.invoices.append(invoice["id"])
    return sum(answer.unanswered for answer in steps)


def _refund(base_url: str, secret_key: str, ledger: Ledger, key: str) -> int | None:
    """A full refund of a payment not refunded yet; None when there is none."""
    with ledger.lock:
        if not ledger.unrefunded:
            return None
        intent = ledger.unrefunded.pop(0)
    refund = post(base_url, secret_key, "/v1/refunds", {"payment_intent": intent}, key)
    with ledger.lock:
        ledger.refunds.append((refund.body["id"], intent))
    return refund.unanswered


# -- the checks -------------------------------------------------------------------------------


def check(server: KilledServer, ledger: Ledger, receiver: Receiver) -> dict[str, Any]:
    base, key = server.base_url, server.secret_key
    found = {
        path: {obj["id"]: obj for obj in list_all_objects(base, key, f"/v1/{path}")}
        for path in ("customers", "payment_intents", "charges", "refunds", "invoices")
    }
    lost = [i for i in ledger.customers if i not in found["customers"]]
    lost += [
        i
        for i in ledger.payments
        if found["payment_intents"].get(i, {}).get("status") != "succeeded"
    ]
    lost += [
        r for r, _ in ledger.refunds if found["refunds"].get(r, {}).get("status") != "succeeded"
    ]
    lost += [i for i in ledger.invoices if found["invoices"].get(i, {}).get("status") != "paid"]
    invoices = set(ledger.invoices)
    twice = {
        # The invoices' customer is one more customer; each paid invoice one more intent
        # and charge.
        "customers": len(found["customers"]) - len(set(ledger.customers)) - 1,
        "payment_intents": len(found["payment_intents"])
        - len(set(ledger.payments))
        - len(invoices),
        "charges": len(found["charges"]) - len(set(ledger.payments)) - len(invoices),
        "refunds": len(found["refunds"]) - len({r for r, _ in ledger.refunds}),
        "invoices": len(found["invoices"]) - len(invoices),
    }
    return {"lost": lost, "executed_twice": twice, "undelivered": _undelivered(server, receiver)}


def _undelivered(server: KilledServer, receiver: Receiver) -> list[str]:
    """Events of the account the receiver has not had, once DELIVERY_WAIT_SECONDS passed."""
    event_ids = {
        e["id"] for e in list_all_objects(server.base_url, server.secret_key, "/v1/events")
    }
    deadline = time.monotonic() + DELIVERY_WAIT_SECONDS
    while True:
        with receiver.lock:
            missing = sorted(event_ids - receiver.event_ids)
        if not missing or time.monotonic() > deadline:
            return missing
        time.sleep(DELIVERY_POLL_SECONDS)


# -- the run ----------------------------------------------------------------------------------


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS_DEFAULT)
    parser.add_argument("--seed", type=int, default=1, help="for the kill times and the load")
    parser.add_argument("--database", help="a PostgreSQL URL (default: a fresh SQLite file)")
    parser.add_argument("--kassa", type=Path, help="the kassa executable (default: on PATH)")
    parser.add_argument("--work-dir", type=Path, default=Path("bench/.data"))
    parser.add_argument("--output", type=Path, help="results JSON")
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= ROUNDS_MAX:
        parser.error(f"--rounds must be 1 to {ROUNDS_MAX}")
    return args


def run(args: argparse.Namespace) -> int:
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = make_run_dir(args.work_dir, stamp, "crash")
    url, sqlite_file = choose_database(args.database, run_dir)
    kassa = find_kassa(args.kassa)
    try:
        results = crash_run(kassa, url, run_dir, args.rounds, args.seed)
    finally:
        if sqlite_file is not None:
            remove_database_files(sqlite_file)
    results["database"] = "sqlite" if sqlite_file is not None else "postgresql"
    output = args.output or DEFAULT_RESULTS_DIR / f"crash-{stamp}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "lost"}, indent=2))
    print(f"results in {display_path(output)}")
    return EXIT_OK if results["ok"] else EXIT_BENCH_FAILED


def crash_run(kassa: Path, url: str, run_dir: Path, rounds: int, seed: int) -> dict[str, Any]:
    account: Account = create_account(kassa, url)
    server = KilledServer(kassa, url, run_dir / "kassa-serve.log", account.secret_key)
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    server.start()
    try:
        endpoint = post(
            server.base_url,
            account.secret_key,
            "/v1/webhook_endpoints",
            {"url": receiver.url, "enabled_events[0]": "*"},
            "crash-endpoint",
        )
        receiver.secret = endpoint.body["secret"]
        ledger = Ledger(invoice_customer=_invoice_customer(server))
        started = time.monotonic()
        _load_while_killing(server, ledger, rounds, seed)
        load_seconds = time.monotonic() - started
        found = check(server, ledger, receiver)
    finally:
        server.stop()
        receiver.shutdown()
    ledger_result = verify_ledger(kassa, url)
    ok = (
        not found["lost"]
        and not any(found["executed_twice"].values())
        and not found["undelivered"]
        and not ledger.refused
        and receiver.rejected == 0
        and ledger_result["ok"]
    )
    return {
        "ok": ok,
        "rounds": rounds,
        "seconds": round(load_seconds, 1),
        "requests_acknowledged": len(ledger.customers)
        + len(ledger.payments)
        + len(ledger.refunds)
        + 4 * len(ledger.invoices),
        "invoices_paid": len(ledger.invoices),
        "attempts_unanswered": ledger.unanswered,
        "lost": found["lost"],
        "lost_count": len(found["lost"]),
        "executed_twice": found["executed_twice"],
        "events_undelivered": len(found["undelivered"]),
        "refused": ledger.refused[:10],
        "signatures_rejected": receiver.rejected,
        "ledger": ledger_result,
    }


def _invoice_customer(server: KilledServer) -> str:
    """A customer whose default payment method is a Visa test card."""
    base, key = server.base_url, server.secret_key
    customer = post(base, key, "/v1/customers", {"name": "invoices"}, "crash-invoice-customer")
    customer_id = customer.body["id"]
    card = post(
        base,
        key,
        "/v1/payment_methods/pm_card_visa/attach",
        {"customer": customer_id},
        "crash-invoice-card",
    )
    post(
        base,
        key,
        f"/v1/customers/{customer_id}",
        {"invoice_settings[default_payment_method]": card.body["id"]},
        "crash-invoice-default",
    )
    return str(customer_id)


def _load_while_killing(server: KilledServer, ledger: Ledger, rounds: int, seed: int) -> None:
    rng = random.Random(seed)
    stopping = threading.Event()
    clients = [
        threading.Thread(
            target=client_loop,
            args=(server.base_url, server.secret_key, ledger, stopping, seed * 100 + n),
            daemon=True,
        )
        for n in range(LOAD_THREADS)
    ]
    for client in clients:
        client.start()
    try:
        for round_number in range(1, rounds + 1):
            time.sleep(rng.uniform(*KILL_AFTER_SECONDS))
            server.kill()
            server.start()
            if round_number % 10 == 0 or round_number == rounds:
                print(f"  {round_number}/{rounds} kills", flush=True)
    finally:
        stopping.set()
        for client in clients:
            client.join(REQUEST_TIMEOUT_SECONDS * 2)


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(parse_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
