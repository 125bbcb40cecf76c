"""The bench harness's server start (bench/bench_harness.py): a port the kernel called free
but another process took before the server bound it is never measured as the server's own.
Driven with a real `kassa serve` and real listeners holding the ports it is first given."""

from __future__ import annotations

import http.server
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import bench_harness  # noqa: E402
from bench_harness import BenchError, PortTaken  # noqa: E402

KASSA = Path(sys.executable).parent / "kassa"
READY_TIMEOUT_SECONDS = 60.0


class _Impostor(http.server.BaseHTTPRequestHandler):
    """Another Kassa-like server: answers /healthz 200 with an instance id of its own."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header(bench_harness.INSTANCE_ID_HEADER, "another-instance")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def impostor() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer((bench_harness.LOOPBACK_HOST, 0), _Impostor)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def bound_port() -> Iterator[int]:
    """A port listened on by a socket that answers nothing (the server cannot bind it)."""
    with socket.socket() as held:
        held.bind((bench_harness.LOOPBACK_HOST, 0))
        held.listen()
        yield int(held.getsockname()[1])


def hand_out(monkeypatch: pytest.MonkeyPatch, *taken: int) -> None:
    """`free_loopback_port` gives the `taken` ports first, then really free ones."""
    queue = list(taken)
    free = bench_harness.free_loopback_port
    monkeypatch.setattr(
        bench_harness, "free_loopback_port", lambda: queue.pop(0) if queue else free()
    )


def start(tmp_path: Path) -> tuple[str, str]:
    """Start a server through the harness; its base URL and what its customers list says."""
    url = bench_harness.sqlite_url(tmp_path / "kassa.db")
    account = bench_harness.create_account(KASSA, url)
    cpus = bench_harness.plan_cpus(pin=False)
    with bench_harness.running_server(
        KASSA, url, tmp_path / "server.log", cpus, READY_TIMEOUT_SECONDS, account.secret_key
    ) as server:
        status, body = bench_harness.http_get(server.base_url, "/v1/customers", account.secret_key)
        assert status == 200, body
        return server.base_url, body.decode()


def test_ports_another_process_holds_are_passed_over(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with impostor() as answering, bound_port() as silent:
        hand_out(monkeypatch, answering, silent)
        base_url, listed = start(tmp_path)
    assert base_url.rsplit(":", 1)[1] not in (str(answering), str(silent))
    assert '"object": "list"' in listed or '"object":"list"' in listed


def test_a_server_that_never_gets_a_port_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with impostor() as answering:
        hand_out(monkeypatch, *[answering] * bench_harness.SERVER_START_ATTEMPTS_MAX)
        with pytest.raises(PortTaken, match=f"port {answering}"):
            start(tmp_path)


def test_a_server_that_fails_otherwise_is_not_retried(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[int] = []
    free = bench_harness.free_loopback_port

    def counted() -> int:
        calls.append(1)
        return free()

    monkeypatch.setattr(bench_harness, "free_loopback_port", counted)
    failing = bench_harness.running_http_server(
        "a failing server",
        lambda port: [sys.executable, "-c", "raise SystemExit(3)"],
        tmp_path / "failing.log",
        bench_harness.plan_cpus(pin=False),
        READY_TIMEOUT_SECONDS,
        "",
    )
    with pytest.raises(BenchError, match="exited with code") as raised, failing:
        pass
    assert not isinstance(raised.value, PortTaken)
    assert len(calls) == 1
