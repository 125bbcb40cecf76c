"""The test harness itself: a server started where another process already listens."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx

from tests.harness import KassaServer, create_account


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
