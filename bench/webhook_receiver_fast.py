"""A fast webhook receiver on 127.0.0.1 for bench/webhooks.py, run as a process of its own.

It answers every webhook POST with 200 as cheaply as it can (asyncio with uvloop, httptools
to parse HTTP/1.1, keep-alive), so that the delivery worker, not the receiver, is what the
benchmark measures. Per path (one path per webhook endpoint) it counts requests and distinct
event ids, and it checks the signature of the first delivery and of every VERIFY_EVERY-th
after it with the official SDK (`stripe.Webhook.construct_event`), so the figures are for
deliveries a real application would accept. A path may answer after a delay (a slow
endpoint) and may record the wall-clock arrival time of every event (for latency).

    python bench/webhook_receiver_fast.py --port 8123 --config receiver.json

The config is JSON: {"paths": {"a": {"secret": "whsec_...", "delay_ms": 20,
"record_arrivals": false}, ...}}. The bench reads the counts from `GET /stats` and the
arrival times from `GET /arrivals/<path>`. SIGTERM or SIGINT stops the receiver.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any, cast

import httptools
import orjson
import stripe

LOOPBACK_HOST = "127.0.0.1"
# The first delivery of a path and every VERIFY_EVERY-th after it are checked with the SDK:
# checking all of them would make the receiver, not the worker, the bottleneck.
VERIFY_EVERY = 100
# Kept per path: the first few reasons a delivery failed verification.
REJECTION_SAMPLES_MAX = 5
# A request body larger than this is answered 413 and the connection closed.
BODY_BYTES_MAX = 1 << 20
# Stripe's SDK rejects signatures older than this (its default tolerance).
SIGNATURE_TOLERANCE_S = 300

OK_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
    b"Connection: keep-alive\r\n\r\nok"
)


@dataclasses.dataclass
class PathStats:
    """What one path (one webhook endpoint) received."""

    secret: str
    delay_s: float
    record_arrivals: bool
    requests: int = 0
    body_bytes: int = 0
    event_ids: set[str] = dataclasses.field(default_factory=set)
    duplicates: int = 0
    verified: int = 0
    rejected: int = 0
    rejection_samples: list[str] = dataclasses.field(default_factory=list)
    first_arrival: float | None = None
    last_arrival: float | None = None
    arrivals: dict[str, float] = dataclasses.field(default_factory=dict)
    per_second: collections.Counter[int] = dataclasses.field(default_factory=collections.Counter)

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "distinct_events": len(self.event_ids),
            "body_bytes": self.body_bytes,
            "duplicates": self.duplicates,
            "verified": self.verified,
            "rejected": self.rejected,
            "rejection_samples": self.rejection_samples,
            "first_arrival": self.first_arrival,
            "last_arrival": self.last_arrival,
            "per_second": {str(second): count for second, count in sorted(self.per_second.items())},
        }


@dataclasses.dataclass
class Receiver:
    paths: dict[str, PathStats]
    unknown_requests: int = 0
    bad_requests: int = 0

    def webhook(self, path: str, headers: dict[bytes, bytes], body: bytes) -> tuple[int, float]:
        """Count one delivery; the status to answer and the delay before answering."""
        stats = self.paths.get(path)
        if stats is None:
            self.unknown_requests += 1
            return 404, 0.0
        arrival = time.time()
        stats.requests += 1
        stats.body_bytes += len(body)
        stats.per_second[int(arrival)] += 1
        stats.first_arrival = stats.first_arrival or arrival
        stats.last_arrival = arrival
        try:
            event_id = str(orjson.loads(body)["id"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self._reject(stats, f"body is not an event: {body[:80]!r}")
            return 400, 0.0
        if event_id in stats.event_ids:
            stats.duplicates += 1
        else:
            stats.event_ids.add(event_id)
            if stats.record_arrivals:
                stats.arrivals[event_id] = arrival
        if (stats.requests - 1) % VERIFY_EVERY == 0:
            self._verify(stats, event_id, headers, body)
        return 200, stats.delay_s

    def _verify(
        self, stats: PathStats, event_id: str, headers: dict[bytes, bytes], body: bytes
    ) -> None:
        signature = headers.get(b"stripe-signature", b"").decode("latin-1")
        try:
            event = stripe.Webhook.construct_event(
                body.decode("utf-8"), signature, stats.secret, tolerance=SIGNATURE_TOLERANCE_S
            )
        except (stripe.SignatureVerificationError, ValueError) as error:
            self._reject(stats, f"{type(error).__name__}: {error}")
            return
        if event.id != event_id:
            self._reject(stats, f"verified event {event.id} differs from the body's {event_id}")
            return
        stats.verified += 1

    @staticmethod
    def _reject(stats: PathStats, reason: str) -> None:
        stats.rejected += 1
        if len(stats.rejection_samples) < REJECTION_SAMPLES_MAX:
            stats.rejection_samples.append(reason[:300])

    def stats_json(self) -> bytes:
        return orjson.dumps(
            {
                "paths": {name: stats.as_json() for name, stats in self.paths.items()},
                "unknown_requests": self.unknown_requests,
                "bad_requests": self.bad_requests,
            }
        )

    def arrivals_json(self, path: str) -> bytes | None:
        stats = self.paths.get(path)
        return None if stats is None else orjson.dumps(stats.arrivals)


def plain_response(status: int, body: bytes, content_type: bytes = b"application/json") -> bytes:
    reason = {200: b"OK", 400: b"Bad Request", 404: b"Not Found", 413: b"Too Large"}.get(
        status, b"Error"
    )
    return (
        b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
        % (status, reason, content_type, len(body))
    ) + body


class Connection(asyncio.Protocol):
    """One keep-alive connection. Responses go out in request order even when a delayed
    path's answer is ready after a later request's (HTTP/1.1 pipelining)."""

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        # Each slot holds the response once it may be sent; sent from the front in order.
        self.pending: collections.deque[list[bytes | None]] = collections.deque()
        self.url = b""
        self.headers: dict[bytes, bytes] = {}
        self.body: list[bytes] = []
        self.body_bytes = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport has asyncio.Transport's methods without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.pending.clear()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.receiver.bad_requests += 1
            if self.transport is not None:
                self.transport.close()

    # -- httptools callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = {}
        self.body = []
        self.body_bytes = 0

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_body(self, body: bytes) -> None:
        self.body_bytes += len(body)
        if self.body_bytes <= BODY_BYTES_MAX:
            self.body.append(body)

    def on_message_complete(self) -> None:
        response, delay_s = self.route(self.parser.get_method(), self.url.decode("latin-1"))
        slot: list[bytes | None] = [None]
        self.pending.append(slot)
        if delay_s > 0:
            asyncio.get_running_loop().call_later(delay_s, self.ready, slot, response)
        else:
            self.ready(slot, response)

    # -- answering -------------------------------------------------------------------------

    def route(self, method: bytes, url: str) -> tuple[bytes, float]:
        path = url.split("?", 1)[0].strip("/")
        if self.body_bytes > BODY_BYTES_MAX:
            return plain_response(413, b"{}"), 0.0
        if method == b"POST":
            status, delay_s = self.receiver.webhook(path, self.headers, b"".join(self.body))
            return (OK_RESPONSE if status == 200 else plain_response(status, b"{}")), delay_s
        if method == b"GET" and path == "stats":
            return plain_response(200, self.receiver.stats_json()), 0.0
        if method == b"GET" and path.startswith("arrivals/"):
            arrivals = self.receiver.arrivals_json(path.removeprefix("arrivals/"))
            if arrivals is not None:
                return plain_response(200, arrivals), 0.0
        return plain_response(404, b"{}"), 0.0

    def ready(self, slot: list[bytes | None], response: bytes) -> None:
        slot[0] = response
        while self.pending and self.pending[0][0] is not None and self.transport is not None:
            ready = self.pending.popleft()[0]
            assert ready is not None
            self.transport.write(ready)


def load_config(path: Path) -> Receiver:
    config = json.loads(path.read_text())
    paths = {
        str(name): PathStats(
            secret=str(spec["secret"]),
            delay_s=float(spec.get("delay_ms", 0)) / 1000.0,
            record_arrivals=bool(spec.get("record_arrivals", False)),
        )
        for name, spec in dict(config["paths"]).items()
    }
    return Receiver(paths=paths)


async def serve(port: int, receiver: Receiver) -> None:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(stop_signal, stopping.set)
    server = await loop.create_server(
        lambda: Connection(receiver), LOOPBACK_HOST, port, reuse_address=True, backlog=1024
    )
    print(f"receiver listening on http://{LOOPBACK_HOST}:{port}", flush=True)
    async with server:
        await stopping.wait()
    print(f"receiver stopped: {receiver.stats_json()[:2000].decode()}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fast loopback webhook receiver for benches.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args(argv)
    receiver = load_config(args.config)
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args.port, receiver))
    else:
        uvloop.run(serve(args.port, receiver))
    return 0


if __name__ == "__main__":
    sys.exit(main())
