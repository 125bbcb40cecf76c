"""Webhook delivery across crashes and processes, with real processes only: `kassa serve`
killed with SIGKILL and started again on the same database, two `kassa worker` processes
sharing one PostgreSQL database, and `kassa listen` forwarding to a local receiver.

Every delivery lands in `tests.webhook_receiver.WebhookReceiver`, which verifies it with the
official SDK; the expected events are what `GET /v1/events` lists.

A claim is a lease (the send timeout plus a margin): a delivery the killed process had in
flight is retaken only when the lease has passed. The crash tests do not sleep through it:
one kills the server while no claim is live (the receiver is down and every failed attempt
has released its claim), the other restarts Kassa with its clock past the lease.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import stripe
from stripe.params import PaymentIntentCreateParams

from kassa.workers.webhooks import PER_ENDPOINT_CONCURRENCY, DeliverySettings
from tests.conftest import require_postgres
from tests.harness import (
    Account,
    KassaServer,
    create_account,
    fresh_postgres_database,
    refusing_port,
)
from tests.webhook_receiver import LISTEN_BACKLOG, WebhookReceiver

ENDPOINT_PATH = "orders"
RETRY_SECONDS = 1
RETRIES = 20
"""With 1 s between retries, 20 keep a failing endpoint enabled for the whole test."""
FIRST_RETRY_SECONDS = 5
"""The quiet gap after a failed first attempt in which the crash test kills the server: it
should outlast the burst and the check that every first attempt was recorded."""
CRASH_PAYMENTS = 30
"""Each confirmed payment announces three events: about 90 deliveries in flight or pending."""
WORKER_PAYMENTS = 70
WORKER_TIMEOUT_SECONDS = 60
WORKER_LOG_TAIL_LINES = 20
LISTEN_PAGE_EVENTS = 100
"""How many events `kassa listen` asks for at a time (`EVENTS_PAGE` in kassa/listen.py)."""
LISTEN_PAYMENTS = 40
"""More events than `kassa listen` reads in one page, so a poll must page."""
DELIVERY_TIMEOUT_SECONDS = 60
"""Long enough that a held delivery in the crash test is still in flight at the kill."""


def lease_seconds(timeout_seconds: int) -> int:
    """How long Kassa's claim on a delivery lasts, given the send timeout."""
    settings = DeliverySettings(retry_schedule=(RETRY_SECONDS,), timeout_seconds=timeout_seconds)
    return settings.claim_ms // 1000


LEASE_PASSED_SECONDS = lease_seconds(DELIVERY_TIMEOUT_SECONDS) + 10
REFUSED_TIMEOUT_SECONDS = 1
"""Refused connections fail at once; the shortest timeout keeps the lease short too."""
REFUSED_LEASE_SECONDS = lease_seconds(REFUSED_TIMEOUT_SECONDS)
"""Had a claim been live at the kill after all, its delivery comes back this much later."""
DELIVERED_WAIT_SECONDS = 45.0
RECORDED_WAIT_SECONDS = 10.0
"""How long the two-worker run waits for every attempt to be recorded before it stops the
workers anyway (a batch whose recording failed would only come back after the lease)."""
PROCESS_START_SECONDS = 30.0
PROCESS_STOP_SECONDS = 15.0
POLL_SECONDS = 0.05
HOLD_SECONDS_MAX = 30.0
"""A held response is released by the test; this only bounds a test that failed first."""
LIST_PAGES_MAX = 50
PASS_ON_TIMEOUT_SECONDS = 10.0
WORKER_READY_LINE = "kassa worker: delivering webhooks"
WORKER_STOPPED_LINE = "kassa worker: stopped"
LISTEN_RESYNC_SECONDS = 1.0
"""Time for `listen` to take the newest event as its cursor after saying it will (its next
poll follows at once): a customer made before that would not be forwarded."""
LISTEN_SECRET_LINE = re.compile(r"Ready! Your webhook signing secret is (whsec_\S+)")


# --- producing and reading events through the API -----------------------------------------


def retry_schedule(first_retry_seconds: int = RETRY_SECONDS) -> str:
    return ",".join([str(first_retry_seconds)] + [str(RETRY_SECONDS)] * (RETRIES - 1))


def confirm_payments(client: stripe.StripeClient, count: int) -> None:
    """A burst of successful card payments, three events each."""
    for index in range(count):
        client.v1.payment_intents.create(
            params=cast(
                PaymentIntentCreateParams,
                {
                    "amount": 1_000 + index,
                    "currency": "usd",
                    "payment_method": "pm_card_visa",
                    "allowed_payment_method_types": ["card"],
                    # Posted in the request: three events, all from it (the default,
                    # asynchronous capture adds `charge.updated` later: test_async_capture).
                    "capture_method": "automatic",
                    "confirm": True,
                },
            )
        )


def all_events(client: stripe.StripeClient) -> list[dict[str, Any]]:
    """Every event of the account, newest first, as `GET /v1/events` pages them."""
    listed = client.v1.events.list(params={"limit": 100}).auto_paging_iter()
    return [event.to_dict() for event in listed]


def event_ids(events: list[dict[str, Any]]) -> set[str]:
    return {event["id"] for event in events}


def create_endpoint(client: stripe.StripeClient, url: str) -> stripe.WebhookEndpoint:
    return client.v1.webhook_endpoints.create(params={"url": url, "enabled_events": ["*"]})


def endpoint_attempts(http: httpx.Client, endpoint_id: str) -> list[dict[str, Any]]:
    """Every recorded attempt to one endpoint (Kassa's extension endpoint), newest first."""
    attempts: list[dict[str, Any]] = []
    params: dict[str, str | int] = {"limit": 100}
    for _ in range(LIST_PAGES_MAX):
        response = http.get(f"/v1/webhook_endpoints/{endpoint_id}/webhook_attempts", params=params)
        response.raise_for_status()
        page = response.json()
        attempts += page["data"]
        if not page["has_more"]:
            return attempts
        params["starting_after"] = page["data"][-1]["id"]
    raise AssertionError(f"more than {LIST_PAGES_MAX} pages of attempts to {endpoint_id}")


def settle(condition: Callable[[], bool], timeout_seconds: float) -> bool:
    """Wait for `condition`, but only so long; whether it came true. For states a later
    assertion checks, where a timeout must not hide what else the test would show."""
    deadline = time.monotonic() + timeout_seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_SECONDS)
    return True


def wait_until(
    condition: Callable[[], bool], timeout_seconds: float, what: str | Callable[[], str]
) -> None:
    """`what` names the awaited state; a function is called on timeout, to say what is."""
    deadline = time.monotonic() + timeout_seconds
    while not condition():
        if time.monotonic() > deadline:
            said = what if isinstance(what, str) else what()
            raise AssertionError(f"timed out after {timeout_seconds:g} s waiting for {said}")
        time.sleep(POLL_SECONDS)


def without_pending_webhooks(event: dict[str, Any]) -> dict[str, Any]:
    """An event as delivered differs from the listed one only in the count of deliveries
    still pending, which falls as they succeed."""
    return {name: value for name, value in event.items() if name != "pending_webhooks"}


def assert_each_delivered(
    receiver: WebhookReceiver,
    path: str,
    events: list[dict[str, Any]],
    *,
    identical_copies: bool = True,
) -> dict[str, int]:
    """Every event arrived, verified, and matches the event as listed; copies of one event
    are identical (but for `pending_webhooks` unless `identical_copies`: with several
    endpoints, a later copy counts what the others have received since). Returns how many
    times each event arrived."""
    assert receiver.rejected() == []
    delivered: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for delivery in receiver.deliveries(path):
        delivered[delivery.event_id].append(delivery.event)
    expected = {event["id"]: event for event in events}
    assert sorted(set(expected) - set(delivered)) == [], "events never delivered"
    assert sorted(set(delivered) - set(expected)) == [], "deliveries of events not listed"
    for event_id, copies in delivered.items():
        compared = copies if identical_copies else [without_pending_webhooks(c) for c in copies]
        assert all(copy == compared[0] for copy in compared), f"copies of {event_id} differ"
        assert without_pending_webhooks(copies[0]) == without_pending_webhooks(expected[event_id])
    return {event_id: len(copies) for event_id, copies in delivered.items()}


# --- a receiver that holds its answers ------------------------------------------------------


class HoldingProxy:
    """Passes each delivery on to a `WebhookReceiver` (which verifies and records it), then
    holds the answer until `release()`: an application that did the work but is slow to
    say so, which keeps the delivery in flight for as long as the test wants.

    With `sender_pids`, it also notes which of those processes sent deliveries, until each
    has (Linux: the connection's socket is looked up in /proc while the request is open).

    It listens from when it is made, on a port the kernel picked then (no other process can
    have taken it in between); `start()` begins answering."""

    def __init__(self, receiver: WebhookReceiver, sender_pids: tuple[int, ...] = ()) -> None:
        self.receiver = receiver
        self.sender_pids = sender_pids
        self.released = threading.Event()
        self.lock = threading.Lock()
        self.passed_on = 0
        self.senders: Counter[int | None] = Counter()
        self._server: ThreadingHTTPServer | None = _QuietServer(
            ("127.0.0.1", 0), _holding_handler(self)
        )
        self.port: int = self._server.server_address[1]
        self._serving = False

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def start(self) -> HoldingProxy:
        assert self._server is not None, "a stopped proxy does not start again"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self._serving = True
        return self

    def pass_on(self, path: str, payload: bytes, headers: Any) -> int:
        # The standard library's client: cheap to make per request, unlike an SDK's.
        connection = HTTPConnection(
            "127.0.0.1", self.receiver.port, timeout=PASS_ON_TIMEOUT_SECONDS
        )
        try:
            connection.request(
                "POST",
                f"/{path}",
                body=payload,
                headers={
                    "Content-Type": headers.get("Content-Type", ""),
                    "Stripe-Signature": headers.get("Stripe-Signature", ""),
                },
            )
            return connection.getresponse().status
        finally:
            connection.close()

    def note_sender(self, client_port: int) -> None:
        sender = socket_owner(client_port, self.port, self.sender_pids)
        with self.lock:
            self.senders[sender] += 1

    def every_sender_seen(self) -> bool:
        """Looking a sender up is costly (it reads /proc); once each has been seen, stop."""
        with self.lock:
            return set(self.sender_pids) <= set(self.senders)

    def passed_on_count(self) -> int:
        """Deliveries passed on to the receiver (each held until `release()`)."""
        with self.lock:
            return self.passed_on

    def release(self) -> None:
        self.released.set()

    def stop(self) -> None:
        self.release()
        if self._server is not None:
            if self._serving:  # `shutdown` waits for a `serve_forever` that never ran
                self._server.shutdown()
            self._server.server_close()
            self._server = None


def _holding_handler(proxy: HoldingProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            payload = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if not proxy.every_sender_seen():
                proxy.note_sender(self.client_address[1])
            status = proxy.pass_on(self.path.strip("/"), payload, self.headers)
            with proxy.lock:
                proxy.passed_on += 1
            proxy.released.wait(HOLD_SECONDS_MAX)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A held answer to a killed Kassa finds the connection gone; that is the point."""


def socket_owner(local_port: int, remote_port: int, pids: tuple[int, ...]) -> int | None:
    """Which of `pids` holds the loopback TCP connection local_port -> remote_port."""
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if (int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16)) == (
                local_port,
                remote_port,
            ):
                inode = fields[9]
    if inode is None:
        return None
    for pid in pids:
        if f"socket:[{inode}]" in open_files(pid):
            return pid
    return None


def open_files(pid: int) -> set[str]:
    """What the process's descriptors point at; one closed while being read is skipped."""
    links = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            links.add(os.readlink(fd))
    return links


# --- processes ------------------------------------------------------------------------------

AHEAD_CLOCK_LAUNCHER = """
import sys
import time

import uvicorn

from kassa.config import Settings
from kassa.runtime import KassaApp


class AheadClock:
    def __init__(self, seconds):
        self.seconds = seconds

    def now(self):
        return time.time() + self.seconds


settings = Settings(port=int(sys.argv[1]))
uvicorn.run(
    KassaApp(settings, clock=AheadClock(float(sys.argv[2]))),
    host=settings.host,
    port=settings.port,
    lifespan="on",
    access_log=False,
    log_level="info",  # its bind line: the harness waits for it
)
"""


class AheadClockServer(KassaServer):
    """The real `KassaApp` (what `kassa serve` runs) in its own process, with a clock
    `ahead_seconds` past the wall clock: a restart that happens that much later."""

    def __init__(
        self, database_url: str, log_path: Path, extra_env: dict[str, str], ahead_seconds: int
    ) -> None:
        super().__init__(database_url, log_path, extra_env)
        self.ahead_seconds = ahead_seconds

    def command(self) -> list[str]:
        return [sys.executable, "-c", AHEAD_CLOCK_LAUNCHER, str(self.port), str(self.ahead_seconds)]


class CommandProcess:
    """A `kassa` subcommand as a subprocess, its output copied to a log file line by line
    so the test can wait for a line and read it after a failure."""

    def __init__(
        self, arguments: list[str], log_path: Path, env: dict[str, str] | None = None
    ) -> None:
        self.arguments = arguments
        self.log_path = log_path
        self.env = env
        self.lines: list[str] = []
        self.lock = threading.Lock()
        self.process: subprocess.Popen[str] | None = None
        self.reader = threading.Thread(target=self._copy_output, daemon=True)

    def start(self) -> CommandProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kassa", *self.arguments],
            env=None if self.env is None else {**os.environ, **self.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.reader.start()
        return self

    def _copy_output(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        with self.process.stdout as output, self.log_path.open("a") as log:
            for line in output:
                log.write(line)
                log.flush()
                with self.lock:
                    self.lines.append(line.rstrip("\n"))

    def output(self) -> list[str]:
        with self.lock:
            return list(self.lines)

    def wait_for_line(self, pattern: re.Pattern[str]) -> re.Match[str]:
        deadline = time.monotonic() + PROCESS_START_SECONDS
        while time.monotonic() < deadline:
            for line in self.output():
                if found := pattern.search(line):
                    return found
            if self.process is not None and self.process.poll() is not None:
                break
            time.sleep(POLL_SECONDS)
        raise AssertionError(f"no line matching {pattern.pattern!r}; output: {self.output()}")

    def terminate(self) -> int:
        """SIGTERM, as a service manager stops it; the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(PROCESS_STOP_SECONDS)
        finally:
            self.kill()

    def kill(self) -> None:
        """Cleanup after a failed test: never leave a process behind."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.reader.is_alive():
            self.reader.join(PROCESS_STOP_SECONDS)  # closes the pipe at its end


# --- crash and restart ----------------------------------------------------------------------


def first_attempts(
    http: httpx.Client, endpoint_id: str, expected: set[str]
) -> list[dict[str, Any]]:
    """Wait until every expected event has had its first (failed) attempt recorded."""
    found: list[dict[str, Any]] = []

    def every_event_tried() -> bool:
        nonlocal found
        found = endpoint_attempts(http, endpoint_id)
        return {attempt["event"] for attempt in found} >= expected

    wait_until(every_event_tried, DELIVERED_WAIT_SECONDS, "a first attempt at every event")
    return found


def test_sigkill_while_the_receiver_is_down_loses_no_event(
    private_database_url: str, tmp_path: Path
) -> None:
    receiver = WebhookReceiver()  # not started yet: every delivery is refused
    env = {
        "KASSA_WEBHOOK_RETRY_SCHEDULE": retry_schedule(FIRST_RETRY_SECONDS),
        "KASSA_WEBHOOK_TIMEOUT_SECONDS": str(REFUSED_TIMEOUT_SECONDS),
    }
    first = KassaServer(private_database_url, tmp_path / "first.log", env).start()
    second: KassaServer | None = None
    try:
        account = create_account(private_database_url)
        client = first.client(account.secret_key)
        endpoint = create_endpoint(client, receiver.url(ENDPOINT_PATH))
        assert endpoint.secret is not None
        receiver.set_secret(ENDPOINT_PATH, endpoint.secret)
        confirm_payments(client, CRASH_PAYMENTS)
        events = all_events(client)
        assert len(events) == 3 * CRASH_PAYMENTS
        with first.http(account.secret_key) as http:
            attempts = first_attempts(http, endpoint.id, event_ids(events))
        first.kill()
        # Each failed attempt was recorded, which released its claim; the first retry is
        # not due yet, so (unless this machine was very slow) no claim was live at the kill.
        assert {a["event"] for a in attempts} == event_ids(events)
        assert not any(attempt["succeeded"] for attempt in attempts)

        second = KassaServer(private_database_url, tmp_path / "second.log", env).start()
        receiver.start()
        client = second.client(account.secret_key)
        assert event_ids(all_events(client)) == event_ids(events), "the crash lost events"
        receiver.wait_for_event_ids(
            ENDPOINT_PATH, event_ids(events), REFUSED_LEASE_SECONDS + DELIVERED_WAIT_SECONDS
        )
        assert_each_delivered(receiver, ENDPOINT_PATH, all_events(client))
    finally:
        first.kill()
        if second is not None:
            second.stop()
        receiver.close()


def test_sigkill_mid_delivery_redelivers_once_the_lease_passes(
    private_database_url: str, tmp_path: Path
) -> None:
    receiver = WebhookReceiver().start()
    proxy = HoldingProxy(receiver).start()
    env = {
        "KASSA_WEBHOOK_RETRY_SCHEDULE": retry_schedule(),
        "KASSA_WEBHOOK_TIMEOUT_SECONDS": str(DELIVERY_TIMEOUT_SECONDS),
    }
    first = KassaServer(private_database_url, tmp_path / "first.log", env).start()
    second: KassaServer | None = None
    try:
        account = create_account(private_database_url)
        client = first.client(account.secret_key)
        endpoint = create_endpoint(client, proxy.url(ENDPOINT_PATH))
        assert endpoint.secret is not None
        receiver.set_secret(ENDPOINT_PATH, endpoint.secret)
        confirm_payments(client, CRASH_PAYMENTS)
        events = all_events(client)
        wait_until(
            lambda: proxy.passed_on_count() >= PER_ENDPOINT_CONCURRENCY,
            DELIVERED_WAIT_SECONDS,
            "a full endpoint's worth of deliveries in flight",
        )
        first.kill()
        in_flight = set(receiver.event_ids(ENDPOINT_PATH))
        assert len(in_flight) == PER_ENDPOINT_CONCURRENCY, "more in flight than the cap"
        proxy.release()

        second = AheadClockServer(
            private_database_url, tmp_path / "second.log", env, LEASE_PASSED_SECONDS
        ).start()
        receiver.wait_for(
            lambda r: (
                event_ids(events) <= set(r.event_ids(ENDPOINT_PATH))
                and all(r.event_ids(ENDPOINT_PATH).count(i) >= 2 for i in in_flight)
            ),
            DELIVERED_WAIT_SECONDS,
            "every event, and the ones in flight at the kill a second time",
        )
        copies = assert_each_delivered(
            receiver, ENDPOINT_PATH, all_events(second.client(account.secret_key))
        )
        assert {event_id for event_id, count in copies.items() if count > 1} == in_flight
    finally:
        first.kill()
        if second is not None:
            second.stop()
        proxy.stop()
        receiver.close()


# --- two workers on one PostgreSQL database -------------------------------------------------

WORKER_ENDPOINT_PATHS = ("ledger", "email")


@dataclass
class TwoWorkerRun:
    """What one run of two `kassa worker` processes delivering one burst left behind."""

    events: list[dict[str, Any]]
    receiver: WebhookReceiver
    attempts_by_endpoint: dict[str, list[dict[str, Any]]]
    worker_pids: tuple[int, ...]
    senders: Counter[int | None]
    exit_codes: list[int]
    outputs: list[list[str]]
    pending_webhooks: Counter[int]


def start_worker(database_url: str, log_path: Path) -> CommandProcess:
    # The longest send timeout: on a loaded machine the receiver may be slow to answer, and
    # a timed-out attempt would wait for the schedule's first retry (a minute).
    env = {"KASSA_WEBHOOK_TIMEOUT_SECONDS": str(WORKER_TIMEOUT_SECONDS)}
    worker = CommandProcess(["worker", "--database", database_url], log_path, env).start()
    worker.wait_for_line(re.compile(re.escape(WORKER_READY_LINE)))
    return worker


def pending_webhooks(client: stripe.StripeClient) -> Counter[int]:
    """How many events have how many deliveries not yet succeeded."""
    return Counter(event["pending_webhooks"] for event in all_events(client))


def every_attempt_recorded(http: httpx.Client, expected: int) -> bool:
    endpoints = http.get("/v1/webhook_endpoints").json()["data"]
    return all(len(endpoint_attempts(http, e["id"])) >= expected for e in endpoints)


def run_two_workers(database_url: str, directory: Path) -> TwoWorkerRun:
    """`kassa serve` without a delivery worker of its own, two `kassa worker` processes,
    two endpoints and a burst of events; the workers stopped with SIGTERM at the end."""
    receiver = WebhookReceiver().start()
    api = KassaServer(database_url, directory / "serve.log", {"KASSA_WEBHOOK_WORKERS": "0"})
    api.start()
    workers: list[CommandProcess] = []
    proxy: HoldingProxy | None = None
    try:
        workers = [start_worker(database_url, directory / f"worker-{n}.log") for n in (1, 2)]
        pids = tuple(w.process.pid for w in workers if w.process is not None)
        proxy = HoldingProxy(receiver, sender_pids=pids).start()
        proxy.release()  # answer at once: here the proxy only tells the senders apart
        account = create_account(database_url)
        client = api.client(account.secret_key)
        for path in WORKER_ENDPOINT_PATHS:
            endpoint = create_endpoint(client, proxy.url(path))
            assert endpoint.secret is not None
            receiver.set_secret(path, endpoint.secret)
        confirm_payments(client, WORKER_PAYMENTS)
        events = all_events(client)
        try:
            for path in WORKER_ENDPOINT_PATHS:
                receiver.wait_for_event_ids(path, event_ids(events), DELIVERED_WAIT_SECONDS)
        except AssertionError as missing:
            tails = [worker.output()[-WORKER_LOG_TAIL_LINES:] for worker in workers]
            raise AssertionError(f"{missing}; the workers' last lines: {tails}") from None
        with api.http(account.secret_key) as http:
            settle(lambda: every_attempt_recorded(http, len(events)), RECORDED_WAIT_SECONDS)
            # Stopped before anything is counted: a doubly claimed delivery still in
            # flight arrives, and is recorded, before a worker exits.
            exit_codes = [worker.terminate() for worker in workers]
            endpoints = http.get("/v1/webhook_endpoints").json()["data"]
            attempts = {e["id"]: endpoint_attempts(http, e["id"]) for e in endpoints}
        return TwoWorkerRun(
            events=events,
            receiver=receiver,
            attempts_by_endpoint=attempts,
            worker_pids=pids,
            senders=proxy.senders,
            exit_codes=exit_codes,
            outputs=[worker.output() for worker in workers],
            pending_webhooks=pending_webhooks(client),
        )
    finally:
        for worker in workers:
            worker.kill()
        if proxy is not None:
            proxy.stop()
        api.stop()
        receiver.close()


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> TwoWorkerRun:
    require_postgres()
    # A database of its own: no other test's deliveries reach these workers.
    with fresh_postgres_database() as database_url:
        return run_two_workers(database_url, tmp_path_factory.mktemp("two-workers"))


@pytest.mark.postgres
def test_two_workers_deliver_every_event(two_workers: TwoWorkerRun) -> None:
    for path in WORKER_ENDPOINT_PATHS:
        assert_each_delivered(
            two_workers.receiver, path, two_workers.events, identical_copies=False
        )


@pytest.mark.postgres
def test_two_workers_deliver_each_event_once_and_record_it(two_workers: TwoWorkerRun) -> None:
    for path in WORKER_ENDPOINT_PATHS:
        copies = assert_each_delivered(two_workers.receiver, path, two_workers.events)
        assert set(copies.values()) == {1}, "a clean run delivers each event once"
    assert len(two_workers.attempts_by_endpoint) == len(WORKER_ENDPOINT_PATHS)
    for attempts in two_workers.attempts_by_endpoint.values():
        assert sorted(a["event"] for a in attempts) == sorted(event_ids(two_workers.events))
        assert all(attempt["succeeded"] for attempt in attempts)


@pytest.mark.postgres
@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="senders are found in /proc")
def test_both_workers_take_part(two_workers: TwoWorkerRun) -> None:
    senders = set(two_workers.senders)
    assert set(two_workers.worker_pids) <= senders, f"senders: {two_workers.senders}"


@pytest.mark.postgres
def test_workers_stop_cleanly_on_sigterm(two_workers: TwoWorkerRun) -> None:
    assert two_workers.exit_codes == [0, 0]
    for output in two_workers.outputs:
        assert output[-1] == WORKER_STOPPED_LINE, output


@pytest.mark.postgres
def test_pending_webhooks_counts_down_to_zero(two_workers: TwoWorkerRun) -> None:
    assert dict(two_workers.pending_webhooks) == {0: len(two_workers.events)}


# --- kassa listen ---------------------------------------------------------------------------


def start_listen(server: KassaServer, account: Account, url: str, log_path: Path) -> CommandProcess:
    arguments = ["listen", "--forward-to", url, "--api-key", account.secret_key]
    return CommandProcess([*arguments, "--api-base", server.url], log_path).start()


def test_listen_forwards_new_events_signed_in_order(
    server: KassaServer, account: Account, tmp_path: Path
) -> None:
    receiver = WebhookReceiver().start()
    proxy = HoldingProxy(receiver).start()
    client = server.client(account.secret_key)
    confirm_payments(client, 1)  # events from before `listen` started are not forwarded
    earlier = event_ids(all_events(client))
    listen = start_listen(server, account, proxy.url(ENDPOINT_PATH), tmp_path / "listen.log")
    try:
        secret = listen.wait_for_line(LISTEN_SECRET_LINE).group(1)
        receiver.set_secret(ENDPOINT_PATH, secret)
        # `listen` forwards one event at a time: while the first is held, the burst piles
        # up, and the poll after it must page through more events than a page holds. (It
        # gives up on a forward after 10 s; the burst takes far less.)
        client.v1.customers.create()
        wait_until(lambda: proxy.passed_on_count() == 1, DELIVERED_WAIT_SECONDS, "a forward")
        confirm_payments(client, LISTEN_PAYMENTS)
        proxy.release()
        new_events = [e for e in all_events(client) if e["id"] not in earlier]
        assert len(new_events) > LISTEN_PAGE_EVENTS + 1
        receiver.wait_for_event_ids(ENDPOINT_PATH, event_ids(new_events), DELIVERED_WAIT_SECONDS)
        assert_each_delivered(receiver, ENDPOINT_PATH, new_events)
        oldest_first = [event["id"] for event in reversed(new_events)]
        assert receiver.event_ids(ENDPOINT_PATH) == oldest_first
        assert listen.terminate() == 0
    finally:
        listen.kill()
        proxy.stop()
        receiver.close()


def test_listen_forwards_without_the_api_key(
    server: KassaServer, account: Account, tmp_path: Path
) -> None:
    """The forward carries the signed event only, as `stripe listen`'s does: the secret key
    `listen` reads events with must never reach the local URL."""
    with WebhookReceiver() as receiver:
        listen = start_listen(server, account, receiver.url(ENDPOINT_PATH), tmp_path / "l.log")
        try:
            receiver.set_secret(ENDPOINT_PATH, listen.wait_for_line(LISTEN_SECRET_LINE).group(1))
            customer = server.client(account.secret_key).v1.customers.create()
            receiver.wait_for(lambda r: bool(r.deliveries(ENDPOINT_PATH)), DELIVERED_WAIT_SECONDS)
            [delivery] = receiver.deliveries(ENDPOINT_PATH)
            assert delivery.event["data"]["object"]["id"] == customer.id
            assert "authorization" not in delivery.headers
            assert account.secret_key not in repr(delivery.headers)
            assert listen.terminate() == 0
        finally:
            listen.kill()


LISTEN_RESYNC_LINE = re.compile(r"is gone .*resuming from the newest event")
LISTEN_RETRYING_LINE = re.compile(r"kassa listen: .*; retrying in \S+ s \(1 of \d+\)")
LISTEN_BACK_LINE = re.compile(r"kassa listen: reached Kassa at \S+ again")


def _forwarded_customer(
    server: KassaServer, account: Account, receiver: WebhookReceiver
) -> stripe.Customer:
    """A new customer, once `listen` has forwarded its creation to the receiver."""
    customer = server.client(account.secret_key).v1.customers.create()

    def forwarded(r: WebhookReceiver) -> bool:
        objects = [d.event["data"]["object"]["id"] for d in r.deliveries(ENDPOINT_PATH)]
        return customer.id in objects

    receiver.wait_for(forwarded, DELIVERED_WAIT_SECONDS, f"{customer.id} forwarded")
    return customer


def test_listen_rides_out_an_account_reset_and_a_server_restart(
    private_database_url: str, tmp_path: Path
) -> None:
    """A reset takes the event `listen` pages from (`ending_before` answers 404): it says so
    and follows from the newest event. A restart leaves it unable to connect for a while: it
    retries with backoff, saying so, and forwards again once Kassa is back."""
    server = KassaServer(private_database_url, tmp_path / "kassa.log").start()
    account = create_account(private_database_url)
    listen = None
    try:
        with WebhookReceiver() as receiver:
            listen = start_listen(server, account, receiver.url(ENDPOINT_PATH), tmp_path / "l.log")
            receiver.set_secret(ENDPOINT_PATH, listen.wait_for_line(LISTEN_SECRET_LINE).group(1))
            _forwarded_customer(server, account, receiver)

            reset = f"/v1/test_helpers/accounts/{account.id}/reset"
            server.client(account.secret_key).raw_request("post", reset)
            listen.wait_for_line(LISTEN_RESYNC_LINE)
            time.sleep(LISTEN_RESYNC_SECONDS)
            _forwarded_customer(server, account, receiver)

            server.stop()
            listen.wait_for_line(LISTEN_RETRYING_LINE)
            server.start()
            listen.wait_for_line(LISTEN_BACK_LINE)
            _forwarded_customer(server, account, receiver)
            assert receiver.rejected() == []
            assert listen.terminate() == 0
    finally:
        if listen is not None:
            listen.kill()
        server.stop()


def run_listen(api_key: str, api_base: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "kassa", "listen", "--api-key", api_key]
    return subprocess.run(
        [*command, "--api-base", api_base, "--forward-to", "http://127.0.0.1:9/hook"],
        capture_output=True,
        text=True,
        timeout=PROCESS_START_SECONDS,
        check=False,
    )


def test_listen_with_a_bad_api_key_says_so(server: KassaServer) -> None:
    result = run_listen("sk_test_not_a_key_of_this_kassa", server.url)
    assert result.returncode == 1
    assert "Ready!" not in result.stdout
    assert "Invalid API Key" in result.stderr
    assert "Traceback" not in result.stderr


def test_listen_without_kassa_says_where_it_looked() -> None:
    with refusing_port() as port:
        nowhere = f"http://127.0.0.1:{port}"
        result = run_listen("sk_test_anything", nowhere)
    assert result.returncode == 1
    assert f"Is Kassa running at {nowhere}?" in result.stderr
    assert "Traceback" not in result.stderr


def test_listen_pointed_at_something_else_says_so() -> None:
    not_kassa = WebhookReceiver().start()  # answers GET with the stdlib's HTML 501 page
    try:
        result = run_listen("sk_test_anything", f"http://127.0.0.1:{not_kassa.port}")
    finally:
        not_kassa.close()
    assert result.returncode == 1
    assert "Traceback" not in result.stderr


RESET_LOG_LINE = "its account was reset"
FAILED_RECORDING_LOG_LINE = "webhook attempts failed"


def _listen_for_customers(
    server: KassaServer, account: Account, receiver: WebhookReceiver, path: str
) -> None:
    endpoint = server.client(account.secret_key).v1.webhook_endpoints.create(
        params={"url": receiver.url(path), "enabled_events": ["customer.created"]}
    )
    assert endpoint.secret is not None
    receiver.set_secret(path, endpoint.secret)


def test_a_reset_while_a_delivery_is_in_flight_drops_only_that_attempt(
    private_database_url: str, tmp_path: Path
) -> None:
    """Account A is reset while its webhook is in flight, beside account B's: A's attempt is
    not recorded (its delivery is gone) and B's is, once, in the same worker's batch."""
    log_path = tmp_path / "kassa.log"
    server = KassaServer(private_database_url, log_path).start()
    try:
        with WebhookReceiver() as receiver:
            reset, kept = create_account(private_database_url), create_account(private_database_url)
            _listen_for_customers(server, reset, receiver, "reset")
            _listen_for_customers(server, kept, receiver, "kept")
            receiver.hold("reset")
            receiver.hold("kept")
            server.client(reset.secret_key).v1.customers.create()
            kept_client = server.client(kept.secret_key)
            kept_client.v1.customers.create()
            receiver.wait_for(
                lambda r: r.attempts("reset") >= 1 and r.attempts("kept") >= 1,
                what="both deliveries in flight",
            )
            with server.http(reset.secret_key) as http:
                done = http.post(f"/v1/test_helpers/accounts/{reset.id}/reset")
            assert done.status_code == 200, done.text
            receiver.release("reset")
            receiver.release("kept")
            (event,) = kept_client.v1.events.list(params={"type": "customer.created"}).data
            deadline = time.monotonic() + RECORDED_WAIT_SECONDS
            while kept_client.v1.events.retrieve(event.id).pending_webhooks != 0:
                assert time.monotonic() < deadline, "the kept account's attempt was not recorded"
                time.sleep(0.05)
            with server.http(kept.secret_key) as http:
                attempts = http.get(f"/v1/events/{event.id}/webhook_attempts").json()["data"]
            assert [a["status_code"] for a in attempts] == [200]
            assert [d.path for d in receiver.deliveries()] == ["reset", "kept"] or [
                d.path for d in receiver.deliveries()
            ] == ["kept", "reset"]
    finally:
        server.stop()
    log = log_path.read_text()
    assert RESET_LOG_LINE in log
    assert FAILED_RECORDING_LOG_LINE not in log
