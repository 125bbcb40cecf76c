"""The `kassa` command, run as a real subprocess: accounts, migrate, serve, settings."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from kassa.config import Settings, base_url
from kassa.store import Store
from tests.conftest import require_postgres
from tests.direct_store import with_store
from tests.harness import (
    KassaServer,
    fresh_postgres_database,
    postgres_admin_url,
    refusing_port,
)

COMMAND_TIMEOUT_SECONDS = 60


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database nothing has touched yet, on each engine."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'kassa.db'}"
        return
    require_postgres()
    with fresh_postgres_database() as url:
        yield url


def _env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASSA_")}
    return {**env, **overrides}


def kassa(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kassa", *args],
        capture_output=True,
        text=True,
        env=_env() if env is None else env,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=False,
    )


def _count_accounts(database_url: str) -> int:
    async def count(store: Store) -> int:
        async with store.read() as tx:
            return await tx.count_accounts()

    return with_store(database_url, count)


def test_accounts_create_json_keys_work(empty_database_url: str, tmp_path: Path) -> None:
    made = kassa("accounts", "create", "--json", "--name", "Shop", "--database", empty_database_url)
    assert made.returncode == 0, made.stderr
    account = json.loads(made.stdout)
    assert set(account) == {"id", "secret_key", "publishable_key"}
    assert account["id"].startswith("acct_")
    assert account["secret_key"].startswith("sk_test_")
    assert account["publishable_key"].startswith("pk_test_")

    server = KassaServer(empty_database_url, tmp_path / "kassa.log").start()
    try:
        assert "secret key:" not in (tmp_path / "kassa.log").read_text(), (
            "a database with an account gets no default account"
        )
        with server.http(account["secret_key"]) as http:
            created = http.post("/v1/customers", data={"name": "via cli keys"})
            assert created.status_code == 200, created.text
            listed = http.get("/v1/customers").json()
            assert [c["id"] for c in listed["data"]] == [created.json()["id"]]
        with server.http(account["publishable_key"]) as http:
            refused = http.get("/v1/customers")
            assert refused.status_code == 401
            assert "publishable" in refused.json()["error"]["message"]
        with server.http("sk_test_" + "x" * 32) as http:
            assert http.get("/v1/customers").status_code == 401
    finally:
        server.stop()

    human = kassa("accounts", "create", "--database", empty_database_url)
    assert human.returncode == 0, human.stderr
    assert "sk_test_" in human.stdout and "pk_test_" in human.stdout
    assert _count_accounts(empty_database_url) == 2


def test_accounts_create_takes_a_time_zone(empty_database_url: str) -> None:
    made = kassa(
        "accounts", "create", "--json", "--timezone", "Europe/Berlin",
        "--database", empty_database_url,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    account_id = json.loads(made.stdout)["id"]

    async def stored_zone(store: Store) -> object:
        async with store.read() as tx:
            account = await tx.get_account(account_id)
        assert account is not None
        return account["settings"]["dashboard"]["timezone"]

    assert with_store(empty_database_url, stored_zone) == "Europe/Berlin"

    refused = kassa(
        "accounts", "create", "--timezone", "Mars/Olympus", "--database", empty_database_url
    )
    assert refused.returncode == 2
    assert "Unknown time zone 'Mars/Olympus'" in refused.stderr
    assert "Europe/Berlin" in refused.stderr, "the message says what to give instead"
    assert _count_accounts(empty_database_url) == 1, "nothing is written for a refused zone"


def test_migrate_applies_then_is_up_to_date(empty_database_url: str) -> None:
    first = kassa("migrate", "--database", empty_database_url)
    assert first.returncode == 0, first.stderr
    assert "0001_core" in first.stdout
    second = kassa("migrate", "--database", empty_database_url)
    assert second.returncode == 0, second.stderr
    assert "up to date" in second.stdout
    assert "0001" not in second.stdout
    assert _count_accounts(empty_database_url) == 0, "migrate creates no account"


def test_serve_prints_default_keys_once(empty_database_url: str, tmp_path: Path) -> None:
    log_path = tmp_path / "kassa.log"
    server = KassaServer(empty_database_url, log_path)
    server.start()
    server.stop()
    first_output = log_path.read_text()
    secret_keys = [w for w in first_output.split() if w.startswith("sk_test_")]
    assert len(secret_keys) == 1, first_output
    assert len([w for w in first_output.split() if w.startswith("pk_test_")]) == 1

    server.start()
    try:
        second_output = log_path.read_text()[len(first_output) :]
        assert "Kassa" in second_output, "the second start did run"
        assert "sk_test_" not in second_output
        assert _count_accounts(empty_database_url) == 1
        with server.http(secret_keys[0]) as http:
            assert http.get("/v1/customers").status_code == 200
    finally:
        server.stop()


@pytest.mark.postgres
def test_simultaneous_first_starts_make_one_default_account(tmp_path: Path) -> None:
    require_postgres()
    with fresh_postgres_database() as url:
        servers = [KassaServer(url, tmp_path / f"kassa-{i}.log") for i in range(3)]
        try:
            for server in servers:
                server.launch()
            for server in servers:
                server.wait_started()
        finally:
            for server in servers:
                server.stop()
        outputs = [server.log_path.read_text() for server in servers]
        printed = sum(output.count("sk_test_") for output in outputs)
        assert printed == 1, outputs
        assert _count_accounts(url) == 1


@pytest.mark.parametrize(
    "url",
    ["mysql://user:hunter2@localhost/kassa", "sqlite:/relative.db", "sqlite://host/kassa.db"],
)
@pytest.mark.parametrize("command", [["migrate"], ["accounts", "create"], ["serve"]])
def test_bad_database_url_says_what_to_use(url: str, command: list[str]) -> None:
    result = kassa(*command, "--database", url)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    assert "sqlite:///" in result.stderr
    if url.startswith("mysql"):
        assert "postgresql://" in result.stderr
    assert "hunter2" not in result.stderr, "passwords never reach messages"
    assert result.stdout == ""


def test_unreachable_databases_fail_cleanly(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with refusing_port() as no_postgres:
        for url in (
            f"postgresql://postgres@127.0.0.1:{no_postgres}/kassa",
            f"sqlite:///{blocker}/kassa.db",
            f"sqlite:///{tmp_path}",
        ):
            result = kassa("migrate", "--database", url)
            assert result.returncode != 0, url
            assert "Traceback" not in result.stderr, result.stderr
            assert "database" in result.stderr.lower(), result.stderr


@pytest.mark.postgres
def test_missing_postgres_database_fails_cleanly() -> None:
    require_postgres()
    base, _, _ = postgres_admin_url().rpartition("/")
    result = kassa("migrate", "--database", f"{base}/kassa_no_such_database_here")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    assert "kassa_no_such_database_here" in result.stderr


class EnvironmentConfiguredServer(KassaServer):
    """`kassa serve` told its database and port only by the environment, nothing else of the
    test's `KASSA_` settings passed on."""

    def command(self) -> list[str]:
        return [sys.executable, "-m", "kassa", "serve"]

    def environment(self) -> dict[str, str]:
        return _env(KASSA_DATABASE_URL=self.database_url, KASSA_PORT=str(self.port))


def test_environment_variables_are_honoured(empty_database_url: str, tmp_path: Path) -> None:
    log_path = tmp_path / "kassa.log"
    # Its start waits for the server to log binding its URL: the one with KASSA_PORT.
    server = EnvironmentConfiguredServer(empty_database_url, log_path).start()
    server.stop()
    assert f"127.0.0.1:{server.port}" in log_path.read_text()
    assert _count_accounts(empty_database_url) == 1, "the server used KASSA_DATABASE_URL"

    # The command-line option wins over the environment.
    env = _env(KASSA_DATABASE_URL="mysql://not/used")
    result = kassa("migrate", "--database", empty_database_url, env=env)
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
    # And without the option the environment decides.
    assert kassa("migrate", env=env).returncode != 0

    bad_port = kassa("migrate", env=_env(KASSA_PORT="eighty"))
    assert bad_port.returncode != 0
    assert "KASSA_PORT" in bad_port.stderr
    assert "Traceback" not in bad_port.stderr


@pytest.mark.postgres
def test_database_password_is_never_printed(postgres_url: str, tmp_path: Path) -> None:
    """The test server trusts local connections, so any password connects."""
    scheme, _, rest = postgres_url.partition("://")
    user, _, host_and_db = rest.partition("@")
    with_password = f"{scheme}://{user}:hunter2@{host_and_db}"
    log_path = tmp_path / "kassa.log"
    server = KassaServer(with_password, log_path).start()
    server.stop()
    output = log_path.read_text()
    assert "Kassa" in output
    assert "hunter2" not in output
    assert ":***@" in output

    with refusing_port() as no_postgres:
        unreachable = with_password.replace(
            host_and_db.partition("/")[0], f"127.0.0.1:{no_postgres}"
        )
        result = kassa("migrate", "--database", unreachable)
    assert result.returncode != 0
    assert "hunter2" not in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("KASSA_PORT", "eighty"),
        ("KASSA_PORT", "70000"),
        ("KASSA_REQUEST_LOG_RETENTION_DAYS", "-1"),
        ("KASSA_SQLITE_SYNCHRONOUS", "off"),
        ("KASSA_LOG_LEVEL", "loud"),
        ("KASSA_INSTANCE_ID", "two words"),
    ],
)
def test_bad_settings_are_refused_by_name(variable: str, value: str, tmp_path: Path) -> None:
    env = _env(KASSA_DATABASE_URL=f"sqlite:///{tmp_path / 'kassa.db'}", **{variable: value})
    for command in (["migrate"], ["serve"]):
        result = kassa(*command, env=env)
        assert result.returncode != 0, command
        assert variable in result.stderr, result.stderr
        assert "Traceback" not in result.stderr, result.stderr
    assert not (tmp_path / "kassa.db").exists(), "nothing was done with a bad setting"


def test_bad_port_option_is_refused(tmp_path: Path) -> None:
    result = kassa("serve", "--port", "0", "--database", f"sqlite:///{tmp_path / 'kassa.db'}")
    assert result.returncode != 0
    assert "port" in result.stderr
    assert "Traceback" not in result.stderr


def test_in_memory_sqlite_is_refused_with_advice() -> None:
    for url in ("sqlite:///:memory:", "sqlite:///"):
        result = kassa("migrate", "--database", url)
        assert result.returncode != 0, url
        assert "sqlite:///kassa.db" in result.stderr
        assert "Traceback" not in result.stderr


def test_invalid_account_name_is_a_message(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kassa.db'}"
    result = kassa("accounts", "create", "--name", "x" * 101, "--database", url)
    assert result.returncode != 0
    assert "100" in result.stderr
    assert "Traceback" not in result.stderr
    assert _count_accounts(url) == 0


def test_default_database_lives_under_xdg_data_home(tmp_path: Path) -> None:
    result = kassa("migrate", env=_env(XDG_DATA_HOME=str(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert "0001_core" in result.stdout
    assert (tmp_path / "kassa" / "kassa.db").is_file()


def test_serve_refuses_an_fd_that_is_not_a_listening_socket(tmp_path: Path) -> None:
    database = f"--database=sqlite:///{tmp_path / 'kassa.db'}"
    with socket.socket() as unlistened:
        unlistened.bind(("127.0.0.1", 0))
        result = subprocess.run(
            [sys.executable, "-m", "kassa", "serve", database, "--fd", str(unlistened.fileno())],
            capture_output=True,
            text=True,
            env=_env(),
            timeout=COMMAND_TIMEOUT_SECONDS,
            check=False,
            pass_fds=(unlistened.fileno(),),
        )
    assert result.returncode != 0
    assert "is not listening; call listen() on it first" in result.stderr
    with_workers = kassa("serve", database, "--fd", "3", "--workers", "2")
    assert with_workers.returncode == 2
    assert "--fd serves one process" in with_workers.stderr
    with_address = kassa("serve", database, "--fd", "3", "--port", "4343")
    assert with_address.returncode == 2
    assert "leave out --host and --port" in with_address.stderr
    negative = kassa("serve", database, "--fd", "-1")
    assert negative.returncode != 0
    assert "--fd -1 is not an open socket" in negative.stderr
    assert "Traceback" not in negative.stderr


def test_an_ipv6_address_is_bracketed_in_the_urls_kassa_makes() -> None:
    assert base_url(replace(Settings(), host="::", port=4242, public_url="")) == (
        "http://[::]:4242"
    )
    assert base_url(replace(Settings(), host="127.0.0.1", port=4242, public_url="")) == (
        "http://127.0.0.1:4242"
    )
