"""`kassa serve --workers N`: N API processes on one port over one database (SQLite and
PostgreSQL), every write exact across them (each request answered, an idempotency key run
once whichever process gets it), and a graceful stop on SIGTERM: exit 0, no process left,
the request log flushed; `/healthz` answers 503 while a process drains."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kassa.asgi import Message
from kassa.http.app import INSTANCE_ID_HEADER, EdgeApp, Routes
from kassa.http.metrics import RequestMetrics
from tests import loopback
from tests.conftest import fresh_database
from tests.harness import KassaServer, PortTaken, create_account, wait_until_healthy

WORKERS = 2
THREADS = 8
REQUESTS_PER_THREAD = 25
STOP_TIMEOUT_SECONDS = 20


class Served:
    def __init__(self, process: subprocess.Popen[bytes], url: str, database_url: str) -> None:
        self.process = process
        self.url = url
        self.database_url = database_url

    def children(self) -> list[int]:
        found = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True, check=False
        )
        return [int(pid) for pid in found.stdout.split()]

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(STOP_TIMEOUT_SECONDS)


class WorkersServer(KassaServer):
    """`kassa serve --workers N`, started as every test server is (its start notices a port
    taken before the bind, and moves)."""

    def __init__(self, database_url: str, log_path: Path, workers: int) -> None:
        super().__init__(database_url, log_path, {"KASSA_WEBHOOK_WORKERS": "0"})
        self.workers = workers

    def command(self) -> list[str]:
        return [*super().command(), "--workers", str(self.workers)]


def serve(database_url: str, log_path: Path, workers: int) -> Served:
    server = WorkersServer(database_url, log_path, workers).start()
    assert server.process is not None
    return Served(server.process, server.url, database_url)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def two_processes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    with fresh_database(request.param, tmp_path) as database_url:
        served = serve(database_url, tmp_path / "serve.log", WORKERS)
        try:
            yield served
        finally:
            if served.process.poll() is None:
                served.process.kill()
                served.process.wait()


def test_two_processes_share_the_port_and_the_writes(two_processes: Served) -> None:
    assert len(two_processes.children()) >= WORKERS  # the workers (and uvicorn's helper)
    key = create_account(two_processes.database_url).secret_key

    def create(thread: int) -> list[int]:
        with loopback.Client(base_url=two_processes.url, auth=(key, ""), timeout=30) as http:
            return [
                http.post("/v1/customers", data={"name": f"t{thread}-{n}"}).status_code
                for n in range(REQUESTS_PER_THREAD)
            ]

    def create_once(_: int) -> str:
        # A new connection each time: the kernel spreads them over the processes.
        with loopback.Client(base_url=two_processes.url, auth=(key, ""), timeout=30) as http:
            response = http.post(
                "/v1/customers", data={"name": "once"}, headers={"Idempotency-Key": "same"}
            )
            assert response.status_code in (200, 409), response.text
            return str(response.json().get("id", "in use"))

    with ThreadPoolExecutor(THREADS) as pool:
        statuses = [status for batch in pool.map(create, range(THREADS)) for status in batch]
        answered = set(pool.map(create_once, range(THREADS * 2)))
    assert statuses == [200] * (THREADS * REQUESTS_PER_THREAD)
    customers: list[tuple[str, str]] = []
    with loopback.Client(base_url=two_processes.url, auth=(key, ""), timeout=30) as http:
        after: dict[str, str] = {}
        while True:
            page = http.get("/v1/customers", params={"limit": 100, **after}).json()
            customers += [(customer["name"], customer["id"]) for customer in page["data"]]
            if not page["has_more"]:
                break
            after = {"starting_after": page["data"][-1]["id"]}
    once = [customer_id for name, customer_id in customers if name == "once"]
    assert answered - {"in use"} == set(once) and len(once) == 1
    assert sorted(name for name, _ in customers) == sorted(
        ["once"] + [f"t{t}-{n}" for t in range(THREADS) for n in range(REQUESTS_PER_THREAD)]
    )
    assert two_processes.stop() == 0
    assert two_processes.children() == []


def test_sigterm_stops_gracefully_with_the_request_log_flushed(tmp_path: Path) -> None:
    database = tmp_path / "kassa.db"
    served = serve(f"sqlite:///{database}", tmp_path / "serve.log", 1)
    key = create_account(served.database_url).secret_key
    with loopback.Client(base_url=served.url, auth=(key, ""), timeout=30) as http:
        request_id = http.post("/v1/customers", data={"name": "last"}).headers["request-id"]
    assert served.stop() == 0
    with sqlite3.connect(database) as connection:
        logged = connection.execute(
            "SELECT status FROM request_log WHERE request_id = ?", (request_id,)
        ).fetchall()
    assert logged == [(200,)]


def test_a_port_taken_before_the_bind_is_told_from_the_workers_log(tmp_path: Path) -> None:
    """uvicorn's supervisor of `--workers` logs "Address already in use" (capitalised, unlike
    the single process): the start still tells a taken port, which makes it move to another
    (that move: tests/test_harness.py)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = WorkersServer(f"sqlite:///{tmp_path / 'kassa.db'}", tmp_path / "serve.log", 2)
        server.port = taken.getsockname()[1]
        server.url = f"http://127.0.0.1:{server.port}"
        server.launch()
        try:
            with pytest.raises(PortTaken):
                wait_until_healthy(server.url, server.process, server.log_path)
        finally:
            server.kill()


class _NoLifespan:
    async def start(self) -> Routes:
        raise AssertionError("not started in this test")

    async def stop(self) -> None:
        return None


def test_healthz_answers_503_while_draining_and_echoes_the_instance_id() -> None:
    """Every answer names the process's instance id when it has one (`KASSA_INSTANCE_ID`:
    pytest-kassa tells its own server from another at the same address by it)."""
    app = EdgeApp(RequestMetrics(), _NoLifespan(), instance_id="session-7")

    async def status() -> tuple[int, bytes, bytes | None]:
        sent: list[Message] = []

        async def receive() -> Message:
            return {"type": "http.request"}

        async def send(message: Message) -> None:
            sent.append(message)

        await app({"type": "http", "path": "/healthz", "method": "GET"}, receive, send)
        headers = dict(sent[0]["headers"])
        instance = headers.get(INSTANCE_ID_HEADER.lower().encode())
        return int(sent[0]["status"]), bytes(sent[1]["body"]), instance

    assert asyncio.run(status()) == (503, b"starting\n", b"session-7")
    app.routes = Routes(api=app, authentication_page=app)
    assert asyncio.run(status()) == (200, b"ok\n", b"session-7")
    app.draining = True
    assert asyncio.run(status()) == (503, b"draining\n", b"session-7")
    app.instance_id = ""
    assert asyncio.run(status()) == (503, b"draining\n", None)


def test_a_worker_count_out_of_range_is_named(tmp_path: Path) -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "kassa", "serve", "--workers", "0"],
        env={**os.environ, "KASSA_DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 2
    assert "--workers must be 1 to 64" in finished.stderr
