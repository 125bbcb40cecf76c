"""pytest-kassa: a Kassa server for the test session and a fresh account per test.

Shipped in the `kassa` package and registered as a pytest plugin (entry point `pytest11`,
name `kassa`), so a project with Kassa installed has these fixtures without configuration:

- `kassa_server` (session): `kassa serve` on a free loopback port with a temporary SQLite
  database, stopped when the session ends. It has `url`, `database_url`, `create_account()`
  and `client(secret_key)`.
- `kassa_account` (function): a fresh account of that server (`id`, `secret_key`,
  `publishable_key`), made through `POST /v1/test_helpers/accounts`.
- `kassa_client` (function): a `stripe.StripeClient` for a fresh account, its API base
  pointed at the server.

The plugin loads in every pytest run of such a project, its own suite included, so it starts
nothing unless a test asks for one of these fixtures by name: no autouse fixture, no hook,
and it imports neither Kassa's server nor `stripe` until then. `-p no:kassa` turns it off.

The server runs as `python -m kassa` (the interpreter running pytest): a subprocess, so the
server's event loop and background jobs never share the test's process. The port it is
told is free when asked, and anyone's until the server binds it: another process (another
session's Kassa) may take it first. So each start gives the server an id of its own
(`KASSA_INSTANCE_ID`), which `/healthz` echoes, and counts the server started only once
`/healthz` answers with that id; a server that could not bind its port starts again on
another.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import stripe

SERVER_START_TIMEOUT_SECONDS = 30.0
SERVER_STOP_TIMEOUT_SECONDS = 10.0
START_ATTEMPTS_MAX = 3
"""Starts tried: the free port found may be taken by another process before the server binds it."""
INSTANCE_ID_VARIABLE = "KASSA_INSTANCE_ID"
INSTANCE_ID_HEADER = "Kassa-Instance-Id"
"""Where `/healthz` echoes the server's `KASSA_INSTANCE_ID` (`kassa.http.app`, not imported
here: it loads most of the server)."""
BIND_REFUSED_MESSAGE = "address already in use"
"""In the log of a server whose port was taken, in any case (uvicorn writes it lowercase)."""
HEALTH_POLL_SECONDS = 0.05
REQUEST_TIMEOUT_SECONDS = 30.0
ROOT_ACCOUNT_NAME = "pytest-kassa"
"""The account made before the server starts, whose key makes each test's account."""


_LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""No proxies: an `http_proxy` in the environment must not carry loopback calls elsewhere."""


@dataclass(frozen=True)
class KassaAccount:
    id: str
    secret_key: str
    publishable_key: str


class KassaTestServer:
    """`kassa serve` as a subprocess on a free loopback port, over one SQLite database."""

    def __init__(self, folder: Path, free_port: Callable[[], int] | None = None) -> None:
        """`free_port` picks each start's port (by default a port the kernel says is free)."""
        self.database_url = f"sqlite:///{folder / 'kassa.db'}"
        self.log_path = folder / "kassa-serve.log"
        self.url = ""
        self._free_port = free_port or _free_port
        self._process: subprocess.Popen[bytes] | None = None
        self._root: KassaAccount | None = None

    def start(self) -> KassaTestServer:
        self._root = _account_from_json(
            _run_kassa("accounts", "create", "--json", "--name", ROOT_ACCOUNT_NAME, *self._db())
        )
        why = ""
        for _ in range(START_ATTEMPTS_MAX):
            port = self._free_port()
            self.url = f"http://127.0.0.1:{port}"
            instance_id = secrets.token_hex(16)
            log_from = self.log_path.stat().st_size if self.log_path.exists() else 0
            with self.log_path.open("ab") as log:
                self._process = _spawn_serve(port, self._db(), instance_id, log)
            try:
                why = self._why_not_answering(instance_id)
            except BaseException:
                self.stop()  # interrupted while waiting (Ctrl-C): no server is left running
                raise
            if not why:
                return self
            self.stop()
            if BIND_REFUSED_MESSAGE not in _log_since(self.log_path, log_from).lower():
                break  # not the port: another start would fail the same way
            why = f"port {port} was taken by another process, {START_ATTEMPTS_MAX} times"
        tail = self.log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"kassa serve did not start: {why}; its log ({self.log_path}):\n{tail}")

    @property
    def running(self) -> bool:
        """Whether a server this object started is still running."""
        return self._process is not None and self._process.poll() is None

    def _db(self) -> tuple[str, str]:
        return ("--database", self.database_url)

    def _why_not_answering(self, instance_id: str) -> str:
        """'' once `/healthz` answers 200 with this start's id; else why it did not: the
        server exited, or the start timeout passed. Another server answering at the URL (it
        took the port first: ours will exit) is not ours."""
        deadline = time.monotonic() + SERVER_START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            code = None if self._process is None else self._process.poll()
            if code is not None:
                return f"it exited with code {code}"
            if _answers_as(self.url, instance_id):
                return ""
            time.sleep(HEALTH_POLL_SECONDS)
        return f"it did not answer /healthz within {SERVER_START_TIMEOUT_SECONDS:.0f} s"

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(SERVER_STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def create_account(self, name: str | None = None) -> KassaAccount:
        """A new account on this server (its keys are shown only now)."""
        if self._root is None:
            raise RuntimeError("the Kassa server has not been started")
        body = urllib.parse.urlencode({"name": name} if name else {}).encode()
        request = urllib.request.Request(
            f"{self.url}/v1/test_helpers/accounts",
            data=body,
            headers={
                "Authorization": f"Bearer {self._root.secret_key}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
            method="POST",
        )
        try:
            with _LOOPBACK.open(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:
                return _account_from(json.loads(response.read()))
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            raise RuntimeError(f"Kassa refused to create an account: {detail}") from error

    def client(self, secret_key: str, **options: Any) -> stripe.StripeClient:
        """A `stripe.StripeClient` for `secret_key` talking to this server. Network retries
        are off unless `options` say otherwise: a failure shows at once."""
        import stripe

        options.setdefault("max_network_retries", 0)
        return stripe.StripeClient(secret_key, base_addresses={"api": self.url}, **options)


def _free_port() -> int:
    """Free now, and only now: see the module's doc for how a start copes."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers_as(url: str, instance_id: str) -> bool:
    try:
        with _LOOPBACK.open(f"{url}/healthz", timeout=1) as response:
            status: int = response.status
            echoed: str | None = response.headers.get(INSTANCE_ID_HEADER)
            return status == 200 and echoed == instance_id
    except OSError:  # refused, or an HTTP error status (a server starting or draining)
        return False


def _log_since(log_path: Path, offset: int) -> str:
    with log_path.open("rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


def _kassa_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "kassa", *args]


def _run_kassa(*args: str) -> str:
    result = subprocess.run(
        _kassa_command(*args),
        capture_output=True,
        text=True,
        timeout=SERVER_START_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"`kassa {' '.join(args)}` failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def _spawn_serve(
    port: int, database: tuple[str, str], instance_id: str, log: IO[bytes]
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        _kassa_command("serve", "--host", "127.0.0.1", "--port", str(port), *database),
        env={**os.environ, INSTANCE_ID_VARIABLE: instance_id},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _account_from_json(text: str) -> KassaAccount:
    """The account `kassa accounts create --json` printed: its last line (one JSON object)."""
    return _account_from(json.loads(text.strip().splitlines()[-1]))


def _account_from(found: dict[str, Any]) -> KassaAccount:
    return KassaAccount(found["id"], found["secret_key"], found["publishable_key"])


@pytest.fixture(scope="session")
def kassa_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KassaTestServer]:
    """A Kassa server for the whole session, on a temporary SQLite database."""
    server = KassaTestServer(tmp_path_factory.mktemp("kassa")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def kassa_account(kassa_server: KassaTestServer) -> KassaAccount:
    """A fresh account: no other test sees its objects, events or balance."""
    return kassa_server.create_account()


@pytest.fixture
def kassa_client(kassa_server: KassaTestServer, kassa_account: KassaAccount) -> stripe.StripeClient:
    """A `stripe.StripeClient` for a fresh account of the session's Kassa server."""
    return kassa_server.client(kassa_account.secret_key)
