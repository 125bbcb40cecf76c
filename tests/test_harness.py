"""The test harness itself: a server started where another process already listens; ports
held by the test (refusing, or a receiver's while it is down) that nobody else can take; the
tests' HTTP clients all sharing one TLS context."""

from __future__ import annotations

import re
import socket
import sys
from pathlib import Path

from tests import loopback
from tests.harness import KassaServer, create_account, refusing_port
from tests.webhook_receiver import WebhookReceiver


class PortToldServer(KassaServer):
    """`kassa serve --port N` run as a subclass's own command: told a number, not handed a
    socket."""

    def command(self) -> list[str]:
        return [sys.executable, "-m", "kassa", "serve", "--port", str(self.port)]


def test_a_server_whose_port_was_taken_starts_on_another_and_answers_itself(
    tmp_path: Path,
) -> None:
    """Between `free_port` and the bind another process may take the port, as another
    test's server once did in CI (every request of a module then reached the wrong
    database). The start must notice, move to another port, and wait for its own server."""
    database_url = f"sqlite:///{tmp_path / 'kassa.db'}"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = PortToldServer(database_url, tmp_path / "kassa-serve.log")
        server.port = taken.getsockname()[1]
        server.url = f"http://127.0.0.1:{server.port}"
        server.start()
        try:
            assert server.port != taken.getsockname()[1]
            account = create_account(database_url)
            answer = loopback.get(f"{server.url}/v1/customers", auth=(account.secret_key, ""))
            assert answer.status_code == 200
        finally:
            server.stop()


def test_a_restarted_server_keeps_its_port_which_nobody_takes_while_it_is_down(
    tmp_path: Path,
) -> None:
    """The plain server serves a socket the harness holds (`kassa serve --fd`): stopped, or
    killed, its port cannot be bound by another server, and a client made before the restart
    reaches the restarted server at the same address."""
    database_url = f"sqlite:///{tmp_path / 'kassa.db'}"
    server = KassaServer(database_url, tmp_path / "kassa-serve.log").start()
    account = create_account(database_url)
    try:
        with loopback.Client(base_url=server.url, auth=(account.secret_key, "")) as client:
            made = client.post("/v1/customers", data={"email": "kept@example.com"}).json()
            for stop in (server.stop, server.kill):
                stop()
                assert not _bindable_by_another_server(server.port)
                server.start()
                assert client.get(f"/v1/customers/{made['id']}").json()["id"] == made["id"]
    finally:
        server.stop()


CONNECT_TIMEOUT_SECONDS = 5
RECEIVER_ROUNDS = 2
"""Down before its first start, and again after a stop."""


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=CONNECT_TIMEOUT_SECONDS).close()
    except ConnectionRefusedError:
        return True
    return False


def _bindable_by_another_server(port: int) -> bool:
    """Whether a server that picked this number could listen on it (uvicorn and the standard
    library's servers set SO_REUSEADDR)."""
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            other.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_a_refusing_port_refuses_and_nobody_else_can_listen_there() -> None:
    with refusing_port() as port:
        assert _refused(port)
        assert not _bindable_by_another_server(port)


def test_a_webhook_receiver_owns_its_port_while_it_is_down() -> None:
    """Made, started, stopped and started again, the receiver's port answers only the
    receiver: while it is down a delivery is refused and no other server can take it."""
    receiver = WebhookReceiver()
    try:
        for round_number in range(1, RECEIVER_ROUNDS + 1):
            assert _refused(receiver.port), f"round {round_number}"
            assert not _bindable_by_another_server(receiver.port)
            receiver.start()
            answer = loopback.post(receiver.url("nowhere"), content=b"{}")
            assert answer.status_code == 400  # the receiver's own: no secret for the path
            assert receiver.attempts("nowhere") == round_number
            receiver.stop()
    finally:
        receiver.close()
    assert _bindable_by_another_server(receiver.port), "closed, it gives the port up"


def test_no_test_builds_an_http_client_of_its_own() -> None:
    """Each client httpx builds loads the CA bundle (about 30 ms of CPU): the tests go
    through `tests.loopback`, which shares one TLS context."""
    made_here = re.compile(r"\bhttpx\.(Client|AsyncClient|get|post|put|delete|request|stream)\(")
    folder = Path(__file__).parent
    offenders = [
        f"{path.name}:{number}"
        for path in sorted(folder.glob("*.py"))
        if path.name != "loopback.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if made_here.search(line)
    ]
    assert offenders == []
