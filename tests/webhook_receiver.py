"""A real webhook receiver on loopback, as an application would run one: every delivery is
verified with the official SDK (`stripe.Webhook.construct_event`) against the endpoint's
secret, and what it accepted is recorded for the test to inspect.

One receiver serves many endpoints, one per path (`receiver.url("orders")`). A path can be told
to fail its next deliveries, and the whole receiver can be stopped and started again on the same
port to play a handler that is down. The port is the receiver's from when it is made until
`close()`: before `start()` and while stopped, a delivery is refused (never answered by another
test's server that took the port).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import stripe

from tests.harness import HeldPort

WAIT_POLL_SECONDS = 0.05
SHUTDOWN_POLL_SECONDS = 0.05
"""How often the serving thread checks for `stop()` (the stdlib's 0.5 s default made every
test that stops a receiver half a second slower)."""
DEFAULT_WAIT_SECONDS = 20.0
LISTEN_BACKLOG = 128
"""Connections waiting to be accepted. The standard library's 5 is too few when workers send
dozens at once on a loaded machine: the kernel drops the excess, and a connection that is not
accepted before the send timeout is a failed attempt, retried only after the schedule's
first step (a minute by default), long after a test stopped waiting."""
SUMMARY_DELIVERIES_MAX = 20


@dataclass(frozen=True)
class Delivery:
    path: str
    event_id: str
    type: str
    event: dict[str, Any]
    received_at: float
    headers: dict[str, str] = field(default_factory=dict)
    """The request's headers, names lowercased."""


@dataclass
class _PathState:
    secret: str | None = None
    failures_left: int = 0
    failure_status: int = 500
    failure_location: str | None = None
    """Sent as `Location` with the failures (a redirect, when their status is a 3xx)."""
    failing_types: frozenset[str] = frozenset()
    """Events of these types are always answered 500 (`fail_types`)."""
    attempts: int = 0
    gate: threading.Event | None = None
    """Set by `hold`: deliveries to the path wait for it to open (`release`) before answering."""


@dataclass
class _Shared:
    lock: threading.Lock = field(default_factory=threading.Lock)
    paths: dict[str, _PathState] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)
    """Paths asked for with GET: what a redirected POST turns into (never a delivery)."""

    def path(self, name: str) -> _PathState:
        return self.paths.setdefault(name, _PathState())


class _SharedPortServer(ThreadingHTTPServer):
    """Listens on the receiver's `HeldPort` beside its holder (SO_REUSEPORT)."""

    allow_reuse_port = True
    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG


class WebhookReceiver:
    def __init__(self) -> None:
        self._held_port = HeldPort(shared=True)
        self.port = self._held_port.number
        self._shared = _Shared()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> WebhookReceiver:
        shared = self._shared

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                payload = self.rfile.read(length)
                status, body, location = _handle(
                    shared, self.path.strip("/"), payload, self.headers
                )
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                if location is not None:
                    self.send_header("Location", location)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                with shared.lock:
                    shared.fetched.append(self.path.strip("/"))
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the test reads deliveries, not an access log

        self._server = _SharedPortServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS},
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the listening socket: connections are refused until `start()` again (the
        port stays the receiver's)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def close(self) -> None:
        """Stop, and give the port up."""
        self.stop()
        self._held_port.release()

    def __enter__(self) -> WebhookReceiver:
        try:
            return self.start()
        except BaseException:
            self.close()  # `__exit__` is not called when `__enter__` fails
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- configuration --------------------------------------------------------------------

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def set_secret(self, path: str, secret: str) -> None:
        with self._shared.lock:
            self._shared.path(path).secret = secret

    def fail_next(
        self, path: str, count: int, status: int = 500, location: str | None = None
    ) -> None:
        """Answer the path's next `count` deliveries with `status` (and `location`, which
        makes a 3xx a redirect) instead of taking them."""
        with self._shared.lock:
            state = self._shared.path(path)
            state.failures_left = count
            state.failure_status = status
            state.failure_location = location

    def fail_types(self, path: str, event_types: set[str]) -> None:
        """Answer every delivery of these event types with a 500; others are taken."""
        with self._shared.lock:
            self._shared.path(path).failing_types = frozenset(event_types)

    def hold(self, path: str) -> None:
        """Keep the path's deliveries waiting, unanswered, until `release(path)`."""
        with self._shared.lock:
            self._shared.path(path).gate = threading.Event()

    def release(self, path: str) -> None:
        with self._shared.lock:
            gate = self._shared.path(path).gate
            self._shared.path(path).gate = None
        if gate is not None:
            gate.set()

    # -- observations ---------------------------------------------------------------------

    def deliveries(self, path: str | None = None) -> list[Delivery]:
        with self._shared.lock:
            return [d for d in self._shared.deliveries if path is None or d.path == path]

    def attempts(self, path: str) -> int:
        """Every request the path answered, failed ones included."""
        with self._shared.lock:
            return self._shared.path(path).attempts

    def fetched(self) -> list[str]:
        """The paths asked for with GET (a redirected POST followed as a GET)."""
        with self._shared.lock:
            return list(self._shared.fetched)

    def rejected(self) -> list[str]:
        """Why deliveries failed verification; a test expects this to stay empty."""
        with self._shared.lock:
            return list(self._shared.rejected)

    def event_ids(self, path: str) -> list[str]:
        return [d.event_id for d in self.deliveries(path)]

    def wait_for(
        self,
        condition: Callable[[WebhookReceiver], bool],
        timeout_seconds: float = DEFAULT_WAIT_SECONDS,
        what: str = "deliveries",
    ) -> None:
        deadline = time.monotonic() + timeout_seconds
        while not condition(self):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; {self._summary()}")
            time.sleep(WAIT_POLL_SECONDS)

    def _summary(self) -> str:
        """What arrived, short enough to read in a CI log that keeps only its end."""
        deliveries = self.deliveries()
        per_path = Counter(d.path for d in deliveries)
        first = [(d.path, d.type) for d in deliveries[:SUMMARY_DELIVERIES_MAX]]
        return (
            f"received {len(deliveries)} deliveries ({dict(per_path)}), "
            f"{len(self.rejected())} rejected; the first: {first}"
        )

    def wait_for_event_ids(
        self, path: str, event_ids: set[str], timeout_seconds: float = DEFAULT_WAIT_SECONDS
    ) -> None:
        self.wait_for(
            lambda r: event_ids <= set(r.event_ids(path)),
            timeout_seconds,
            what=f"{len(event_ids)} events at /{path}",
        )


def _handle(
    shared: _Shared, path: str, payload: bytes, headers: Any
) -> tuple[int, bytes, str | None]:
    """The answer's status, body and `Location` header."""
    with shared.lock:
        state = shared.path(path)
        state.attempts += 1
        gate = state.gate
    if gate is not None:
        gate.wait(DEFAULT_WAIT_SECONDS)
    with shared.lock:
        if state.failures_left > 0:
            state.failures_left -= 1
            return state.failure_status, b"failing on purpose", state.failure_location
        if state.failing_types and _event_type(payload) in state.failing_types:
            return 500, b"failing this type on purpose", None
        secret = state.secret
    if secret is None:
        with shared.lock:
            shared.rejected.append(f"/{path}: no secret registered")
        return 400, b"no secret", None
    try:
        event = stripe.Webhook.construct_event(
            payload.decode(), headers.get("Stripe-Signature", ""), secret
        )
    except (ValueError, stripe.SignatureVerificationError) as error:
        with shared.lock:
            shared.rejected.append(f"/{path}: {error}")
        return 400, b"bad signature", None
    received_headers = {name.lower(): value for name, value in headers.items()}
    delivery = Delivery(
        path, event["id"], event["type"], event.to_dict(), time.time(), received_headers
    )
    with shared.lock:
        shared.deliveries.append(delivery)
    return 200, b"ok", None


def _event_type(payload: bytes) -> str | None:
    try:
        event = json.loads(payload)
    except ValueError:
        return None
    return event.get("type") if isinstance(event, dict) else None
