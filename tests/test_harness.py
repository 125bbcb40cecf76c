"""The test harness itself: a server started where another process already listens; ports
held by the test (refusing, or a receiver's while it is down) that nobody else can take."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx

from tests.harness import KassaServer, create_account, refusing_port
from tests.webhook_receiver import WebhookReceiver


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
        server = KassaServer(database_url, tmp_path / "kassa-serve.log")
        server.port = taken.getsockname()[1]
        server.url = f"http://127.0.0.1:{server.port}"
        server.start()
        try:
            assert server.port != taken.getsockname()[1]
            account = create_account(database_url)
            answer = httpx.get(f"{server.url}/v1/customers", auth=(account.secret_key, ""))
            assert answer.status_code == 200
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
            answer = httpx.post(receiver.url("nowhere"), content=b"{}")
            assert answer.status_code == 400  # the receiver's own: no secret for the path
            assert receiver.attempts("nowhere") == round_number
            receiver.stop()
    finally:
        receiver.close()
    assert _bindable_by_another_server(receiver.port), "closed, it gives the port up"
