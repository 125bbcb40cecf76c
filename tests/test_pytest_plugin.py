"""pytest-kassa (`kassa/pytest_plugin.py`), run the way a user's project runs it: pytest's
`pytester` starts a separate pytest on small test files that use (or do not use) the fixtures.

Each run loads the plugin explicitly (`-p no:kassa -p kassa.pytest_plugin`), so the tests mean
the same whether or not this environment's install has registered the entry point; that the
install registers it is a test of its own.
"""

from __future__ import annotations

import importlib.metadata
import itertools
import json
import socket
import tomllib
from pathlib import Path

import pytest

from kassa.pytest_plugin import KassaTestServer
from tests.harness import free_port

pytest_plugins = ["pytester"]

PLUGIN_ARGS = ("-p", "no:kassa", "-p", "kassa.pytest_plugin", "-p", "no:schemathesis")
"""Schemathesis's plugin (this suite's, for `test_openapi.py`) is left out of the runs: it
took 2.5 s of CPU to load in each, and a user's project need not have it."""
PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"

USES_THE_CLIENT = """
import json
from pathlib import Path

seen = []


def test_a_customer(kassa_client, kassa_server):
    customer = kassa_client.v1.customers.create(params={"email": "one@example.com"})
    assert [c.id for c in kassa_client.v1.customers.list().data] == [customer.id]
    seen.append(customer.id)
    Path("server.json").write_text(json.dumps({"url": kassa_server.url}))


def test_another_customer_sees_a_fresh_account(kassa_client):
    customer = kassa_client.v1.customers.create(params={"email": "two@example.com"})
    assert [c.id for c in kassa_client.v1.customers.list().data] == [customer.id]
    seen.append(customer.id)


def test_accounts_differ(kassa_account, kassa_server):
    other = kassa_server.create_account(name="second")
    assert other.id != kassa_account.id
    assert kassa_server.client(other.secret_key).v1.customers.list().data == []
    assert len(set(seen)) == 2
"""

USES_NOTHING = """
def test_plain():
    assert 1 + 1 == 2
"""


def test_each_test_gets_a_fresh_account_and_a_configured_client(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_shop=USES_THE_CLIENT)
    result = pytester.runpytest_subprocess(*PLUGIN_ARGS, "-q")
    result.assert_outcomes(passed=3)
    # The session fixture stopped its server when the session ended.
    url = json.loads((pytester.path / "server.json").read_text())["url"]
    port = int(url.rsplit(":", 1)[1])
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0, "the server still listens"


def test_a_suite_that_uses_no_fixture_starts_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain=USES_NOTHING)
    result = pytester.runpytest_subprocess(*PLUGIN_ARGS, "--setup-show", "-q")
    result.assert_outcomes(passed=1)
    assert "kassa_server" not in result.stdout.str()
    fixtures = pytester.runpytest_subprocess(*PLUGIN_ARGS, "--fixtures", "-q")
    assert "kassa_client" in fixtures.stdout.str()


def test_the_plugin_is_registered_as_pytest_kassa() -> None:
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["entry-points"]["pytest11"]
    assert declared == {"kassa": "kassa.pytest_plugin"}
    installed = {
        point.name: point.value
        for point in importlib.metadata.entry_points(group="pytest11")
        if point.dist is not None and point.dist.name == "kassa"
    }
    assert installed == declared, "reinstall Kassa (pip install -e .) to register the plugin"


def test_the_installed_plugin_loads_by_itself(pytester: pytest.Pytester) -> None:
    """No `-p`: the entry point loads it, as in a user's project (and this suite)."""
    result = pytester.runpytest_subprocess("--fixtures", "-q")
    assert "kassa_client" in result.stdout.str()
    assert "kassa_server" in result.stdout.str()


def test_a_server_on_the_port_taken_meanwhile_is_not_taken_for_the_sessions(
    tmp_path: Path,
) -> None:
    """The race a free port leaves, made certain: the port the start picks is one another
    session's Kassa took after it was found free. That server answers `/healthz` at the URL,
    but not with this start's id; the server started could not bind and exits, and the
    start goes on to another port."""
    other = KassaTestServer(tmp_path / "other-session").start()
    try:
        taken = int(other.url.rsplit(":", 1)[1])
        picks = itertools.chain([taken], iter(free_port, None))  # then ports free when asked
        ours = KassaTestServer(tmp_path / "this-session", free_port=picks.__next__).start()
        try:
            assert ours.url != other.url
            account = ours.create_account(name="mine")  # the root key of our database works
            assert ours.client(account.secret_key).v1.customers.list().data == []
            log = ours.log_path.read_text().lower()
            assert "address already in use" in log, "the first start never met the taken port"
        finally:
            ours.stop()
    finally:
        other.stop()


def test_a_start_that_fails_says_why_and_leaves_no_server(tmp_path: Path) -> None:
    """Every port the start is given is held (listening) by another process: each server
    started exits on it, and the start gives up after START_ATTEMPTS_MAX, saying so."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        held = holder.getsockname()[1]
        server = KassaTestServer(tmp_path, free_port=lambda: held)
        with pytest.raises(RuntimeError, match=f"port {held} was taken by another process"):
            server.start()
        assert not server.running  # every server it started was stopped
