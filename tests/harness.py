"""Real parts for tests: a `kassa serve` subprocess, fresh databases, accounts, SDK clients."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
import weakref
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, Self, TypeVar

import httpx
import pytest
import stripe

from kassa.clock import SystemClock
from kassa.ledger.verify import ledger_problems
from kassa.services import accounts
from kassa.store import migrate, open_store
from tests import loopback

T = TypeVar("T")

SERVER_START_TIMEOUT_SECONDS = 30.0
SERVER_STOP_TIMEOUT_SECONDS = 10.0
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
TEST_SERVER_POOL_SIZE = "8"
"""`KASSA_DB_POOL_SIZE` of a test's server unless the test sets its own: the suite runs
several servers at once on one PostgreSQL (its `max_connections` is 100 by default), and a
pool keeps what it grew to for minutes. At the production default of 20, four workers'
shared servers and a test's own two could ask for more than the database allows, and a
request got "too many clients" (a 503) in a concurrency test."""


def postgres_admin_url() -> str:
    return os.environ.get("KASSA_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


IN_CI = os.environ.get("CI", "").lower() == "true"
"""Under CI=true every test must run: a missing service or tool fails its tests."""


def unavailable(what: str, reason: str) -> NoReturn:
    """Skip the test for `reason` (what is missing and how to get it), except under CI=true,
    where the `what` tests must run: then fail it, saying why."""
    if IN_CI:
        pytest.fail(f"CI=true, so the {what} tests must run, but {reason}")
    pytest.skip(reason)


def postgres_unavailable_reason() -> str | None:
    """None if PostgreSQL answers; otherwise why not (used to skip, or to fail under CI)."""
    import asyncpg

    async def probe() -> None:
        connection = await asyncpg.connect(postgres_admin_url(), timeout=3)
        await connection.close()

    try:
        run_coroutine(probe)
    except Exception as error:
        return (
            f"PostgreSQL at {postgres_admin_url()} is not reachable ({error!r}); set "
            f"KASSA_TEST_POSTGRES_URL to a server where the user may create databases"
        )
    return None


def _admin_execute(sql: str) -> None:
    import asyncpg

    async def run() -> None:
        connection = await asyncpg.connect(postgres_admin_url(), timeout=10)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    run_coroutine(run)


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new database for one test run, dropped afterwards."""
    name = f"kassa_test_{uuid.uuid4().hex[:12]}"
    _admin_execute(f'CREATE DATABASE "{name}"')
    base, _, _ = postgres_admin_url().rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    """A loopback port free at the moment of asking, and only then: another process may bind
    it before the caller does. For a `kassa serve` process told its port, whose start notices
    a taken port and moves (`KassaServer`); a server in this process listens on a `HeldPort`,
    and an address meant to refuse connections is a `refusing_port()`."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class HeldPort:
    """A loopback port this process keeps bound, never listening, until `release()`: a
    connection to it is refused, and no other process can bind it meanwhile (unlike a number
    from `free_port`, anyone's until bound).

    With `shared`, the holder sets SO_REUSEPORT, the one way in: a socket that sets it too,
    of the same user, may bind the port beside the holder. That is how this process's own
    test server listens on it (`allow_reuse_port`, `reuse_port=True`), and stops and listens
    again, the port held all along. Nothing else in the suite sets SO_REUSEPORT, and the
    kernel never hands a held port to a bind to port 0."""

    def __init__(self, *, shared: bool = False) -> None:
        self._socket = socket.socket()
        if shared:
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.number: int = self._socket.getsockname()[1]

    def release(self) -> None:
        self._socket.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@contextmanager
def refusing_port() -> Iterator[int]:
    """A loopback port nothing listens on while the block runs: a connection to it is
    refused, and no other process (another test's server) can start listening there."""
    with HeldPort() as held:
        yield held.number


@dataclass
class Account:
    id: str
    secret_key: str
    publishable_key: str


def create_account(database_url: str, name: str | None = None) -> Account:
    """Through Kassa's own services, in this process (the CLI does the same; its own test
    runs the real command)."""

    async def run() -> Account:
        store = await open_store(database_url)
        try:
            await migrate(store, int(time.time()))
            async with store.write() as tx:
                new = await accounts.create_account(tx, SystemClock(), name)
        finally:
            await store.close()
        return Account(new.account["id"], new.secret_key, new.publishable_key)

    return run_coroutine(run)


def run_coroutine(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """`asyncio.run`, also from a test where an event loop already runs on this thread
    (Playwright's sync API keeps one): then on a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


CUSTOMER_INCLUDABLE_FIELDS = frozenset(
    {"cash_balance", "invoice_credit_balance", "sources", "subscriptions", "tax", "tax_ids"}
)
"""Customer fields Stripe returns only when expanded (its "includable" fields)."""


BOUND_MESSAGE = "Uvicorn running on {url}"
"""What `kassa serve` logs (at the default level or below) once its socket is bound."""
BIND_REFUSED_MESSAGE = "address already in use"
"""In the log of a server that could not bind, in any case (uvicorn's single process says
"address already in use", its supervisor of `--workers` "Address already in use")."""


class PortTaken(RuntimeError):
    """The server could not bind its port: something else took it after `free_port`."""


def wait_until_healthy(
    url: str,
    process: subprocess.Popen[Any] | None = None,
    log_path: Path | None = None,
    *,
    log_from: int = 0,
    bound_line: bool = True,
) -> None:
    """Poll `/healthz` until the server answers, it exits, or the start timeout passes.

    With a log, the answer counts only once the server has logged binding `url` (past
    `log_from`, where this start's lines begin): a port another process took between
    `free_port` and the bind would otherwise be answered by that process (another test's
    server), and every request would go to the wrong database."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        log = _log_since(log_path, log_from)
        if process is not None and process.poll() is not None:
            kind = PortTaken if BIND_REFUSED_MESSAGE in log.lower() else RuntimeError
            raise kind(f"kassa serve exited early; see {log_path}:\n{log[-3000:]}")
        if bound_line and log_path is not None and BOUND_MESSAGE.format(url=url) not in log:
            time.sleep(0.05)
            continue
        try:
            if loopback.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"kassa serve did not answer at {url} in time; see {log_path}")


def _log_since(log_path: Path | None, offset: int) -> str:
    if log_path is None or not log_path.exists():
        return ""
    with log_path.open("rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


def log_size(log_path: Path) -> int:
    """Where the next lines of `log_path` will start (0 for a log not written yet)."""
    return log_path.stat().st_size if log_path.exists() else 0


PORT_ATTEMPTS_MAX = 3
"""Free ports a first start tries before giving up (`KassaServer.wait_started`)."""


def listening_socket() -> socket.socket:
    """A loopback socket listening on a port of the kernel's choosing, to hand to a child."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(SERVER_LISTEN_BACKLOG)
    return sock


SERVER_LISTEN_BACKLOG = 512
"""As uvicorn's default: connections made while a restarting server is down wait here."""


class KassaServer:
    """`kassa serve` as a subprocess on a loopback port.

    The plain command (`command` not overridden) serves on a socket this object listens on
    and keeps for its life, handed to each launch (`kassa serve --fd`): a restart serves the
    same port, which nothing else can take while the server is down (a number from
    `free_port` could be taken meanwhile by another test's server or a client connection's
    local port: the restart then failed with `PortTaken`). A subclass running its own
    command is told a free port instead, and moves off a taken one on its first start."""

    def __init__(
        self, database_url: str, log_path: Path, extra_env: dict[str, str] | None = None
    ) -> None:
        self.database_url = database_url
        self.log_path = log_path
        self._listener: socket.socket | None = None
        if type(self).command is KassaServer.command:
            self._listener = listening_socket()
            weakref.finalize(self, self._listener.close)
            self.port: int = self._listener.getsockname()[1]
        else:
            self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_env = extra_env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self._started_before = False
        self._log_from = 0
        """Where the log of the latest launch begins."""

    def start(self) -> Self:
        """Start the server and wait until it answers (`launch`, then `wait_started`)."""
        self.launch()
        self.wait_started()
        return self

    def launch(self) -> Self:
        """Start the process without waiting for it: servers launched one after another, then
        waited for, start at the same time."""
        environment = self.environment()
        self._log_from = log_size(self.log_path)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=() if self._listener is None else (self._listener.fileno(),),
            )
        return self

    def wait_started(self) -> None:
        """Wait until the launched server has bound its port and answers. A first start whose
        port was taken meanwhile moves to another (a restart keeps its port: clients made
        before it hold the address)."""
        for attempt in range(1, PORT_ATTEMPTS_MAX + 1):
            try:
                wait_until_healthy(
                    self.url,
                    self.process,
                    self.log_path,
                    log_from=self._log_from,
                    # Only this server can answer on a socket this object holds.
                    bound_line=self._listener is None,
                )
            except PortTaken:
                self.process = None
                if self._started_before or attempt == PORT_ATTEMPTS_MAX:
                    raise
                self.port = free_port()
                self.url = f"http://127.0.0.1:{self.port}"
                self.launch()
                continue
            self._started_before = True
            return

    def start_on_any_port(self) -> Self:
        """A restart after which the caller makes its clients anew: if the server's port was
        taken while it was down (another test's server took it), it moves to a free one, as a
        first start does."""
        self._started_before = False
        return self.start()

    def command(self) -> list[str]:
        """What runs the server on `self.port` (a subclass may run `KassaApp` its own way,
        logging at the info level: the start waits for uvicorn's line about the bind)."""
        if self._listener is not None:
            return [sys.executable, "-m", "kassa", "serve", "--fd", str(self._listener.fileno())]
        return [sys.executable, "-m", "kassa", "serve", "--port", str(self.port)]

    def environment(self) -> dict[str, str]:
        """The server's environment (a subclass may give it its settings another way)."""
        return {
            **os.environ,
            "KASSA_DATABASE_URL": self.database_url,
            "KASSA_DB_POOL_SIZE": TEST_SERVER_POOL_SIZE,
            **self.extra_env,
        }

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(SERVER_STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def kill(self) -> None:
        """`kill -9`: the crash case."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    @contextmanager
    def paused(self) -> Iterator[None]:
        """The server's process stopped (SIGSTOP) while the block runs, every thread halted
        where it was: what the test reads of the database then stays as it is, and a `kill()`
        in the block lands on exactly that state. Continued afterwards unless killed."""
        process = self.process
        assert process is not None, "the server is not running"
        process.send_signal(signal.SIGSTOP)
        # The signal is asynchronous: wait until the kernel reports every thread stopped.
        _, status = os.waitpid(process.pid, os.WUNTRACED)
        assert os.WIFSTOPPED(status), f"the server ended instead of pausing ({status})"
        try:
            yield
        finally:
            if self.process is process:
                process.send_signal(signal.SIGCONT)

    def client(self, api_key: str) -> stripe.StripeClient:
        # Uploads (`client.v1.files.create`) go to the SDK's "files" address: Kassa's own.
        return stripe.StripeClient(
            api_key, base_addresses={"api": self.url, "files": self.url}, max_network_retries=0
        )

    def http(self, api_key: str | None = None) -> httpx.Client:
        auth = (api_key, "") if api_key else None
        return loopback.Client(base_url=self.url, auth=auth, timeout=30)

    def as_stripe_js(
        self, publishable_key: str, method: str, path: str, params: dict[str, str]
    ) -> httpx.Response:
        """A call as Stripe.js makes it: no Authorization header, the publishable key a
        parameter (in the query string of a GET, in the body of a POST)."""
        sent = {"key": publishable_key, **params}
        with self.http() as http:
            if method == "GET":
                return http.get(path, params=sent)
            return http.request(method, path, data=sent)


LEDGER_VERIFY_TIMEOUT_SECONDS = 120


def ledger_problems_of(database_url: str) -> list[str]:
    """What `kassa ledger verify` would report, checked in this process (one connection)."""

    async def run() -> list[str]:
        store = await open_store(database_url, pool_size=1)
        try:
            async with store.read() as tx:
                return [finding.message for finding in await ledger_problems(tx)]
        finally:
            await store.close()

    return run_coroutine(run)


def assert_ledger_whole(database_url: str) -> None:
    """Every check `kassa ledger verify` makes, run in this process; fails with the findings
    as the command would print them. (The command itself is started by its own tests,
    `test_ledger_verify.py`: a process costs about a second, most of it Python starting up.)"""
    problems = ledger_problems_of(database_url)
    assert not problems, "kassa ledger verify would fail:\n" + "\n".join(problems)


def verify_ledger(database_url: str) -> str:
    """Run the real `kassa ledger verify` against the database; fail with its report."""
    result = subprocess.run(
        [sys.executable, "-m", "kassa", "ledger", "verify", "--database", database_url],
        capture_output=True,
        text=True,
        timeout=LEDGER_VERIFY_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"kassa ledger verify failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout
