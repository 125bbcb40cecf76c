"""Fixtures: every API test runs once on SQLite and once on PostgreSQL, against a real
`kassa serve` process, through the official `stripe` SDK or plain HTTP."""

from __future__ import annotations

import compileall
import os
import resource
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
import stripe

from tests.harness import (
    Account,
    HeldPort,
    KassaServer,
    assert_ledger_whole,
    create_account,
    fresh_postgres_database,
    postgres_unavailable_reason,
    unavailable,
)

ENGINES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
"""Every API test runs on both engines (PostgreSQL's marked, to select or skip)."""

ServerT = TypeVar("ServerT", bound=KassaServer)
KASSA_PACKAGE = Path(__file__).resolve().parent.parent / "kassa"


def pytest_configure(config: pytest.Config) -> None:
    """Compile Kassa's modules to bytecode once, before any worker starts a server.

    Python normally caches compiled modules in `__pycache__` the first time it imports them,
    but not under `PYTHONDONTWRITEBYTECODE=1`, which some machines set (this project's CI
    machine does): then every `kassa serve` and `kassa` command the suite starts (hundreds)
    compiled all of Kassa's sources again, about 0.6 s of CPU each (bench/startup.py: a
    start took 2.62 s without the bytecode, 2.05 s with). Python still reads bytecode it
    finds under that setting, and `compileall` writes it regardless."""
    if hasattr(config, "workerinput"):
        return  # an xdist worker: the controller compiled them before starting it
    compileall.compile_dir(KASSA_PACKAGE, quiet=1)


SLOW_FILES_FIRST = (
    "test_webhook_durability.py",
    "test_cli.py",
    "test_dashboard_browser.py",
    "test_ledger_properties.py",
    "test_import.py",
    "test_account_reset.py",
    "test_reconcile.py",
    "test_test_clocks.py",
    "test_mail.py",
    "test_pytest_plugin.py",
    "test_webhook_faults.py",
    "test_dashboard_billing_browser.py",
    "test_subscription_crashes.py",
    "test_subscription_discount_uses.py",
    "test_webhooks.py",
    "test_coupons_tax_rates.py",
    "test_subscription_cancel_at.py",
    "test_no_server_errors.py",
    "test_crash_harness.py",
    "test_subscription_scheduled_end.py",
    "test_subscriptions.py",
    "test_dashboard_subscriptions_browser.py",
    "test_dashboard_security.py",
    "test_money_properties.py",
    "test_hosted_invoice.py",
    "test_invoice_pdf.py",
    "test_refund_failures.py",
    "test_trigger.py",
    "test_checkout_sessions.py",
    "test_subscription_pause.py",
)
"""The files that take longest in all (their tests' times summed, from a CI run's JUnit
report on the 2-core AMD EPYC, session 29), longest first, so the workers finish together.
Test files go to pytest-xdist's workers whole (`--dist loadfile`), in the order they are
collected when `scripts/test` passes `--no-loadscope-reorder` (xdist otherwise hands out the
files with the most tests first, and the few-test files of a minute or more came last and
left one worker running them while the others idled). Order within a file is kept."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: place for place, name in enumerate(SLOW_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest as found


TIMELINE_ENV = "KASSA_TEST_TIMELINE"
"""Set to a file path, each test's end is appended to it as `worker seconds own-CPU
children-CPU nodeid`: where each worker spent the run, to find the files that leave one
worker running alone at the end (`SLOW_FILES_FIRST`), and whose CPU it was. Own CPU is the
test process's (user+system, seconds so far); children's is that of the processes it
started and has reaped (servers and commands, counted when they exit: a module's server
at the module's end, the session's servers at the last test's)."""


def note_on_timeline(what: str) -> None:
    path = os.environ.get(TIMELINE_ENV)
    if path:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        own = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        own_cpu = own.ru_utime + own.ru_stime
        children_cpu = children.ru_utime + children.ru_stime
        with open(path, "a", encoding="utf-8") as timeline:
            timeline.write(f"{worker} {time.time():.3f} {own_cpu:.2f} {children_cpu:.2f} {what}\n")


def pytest_runtest_teardown(item: pytest.Item) -> None:
    """Where the test ran (a worker, or the one process), not where its report arrives."""
    note_on_timeline(item.nodeid)


def pytest_unconfigure(config: pytest.Config) -> None:
    """The session's servers have stopped by now: their CPU is among the children's."""
    note_on_timeline("(end)")


def require_postgres() -> None:
    reason = postgres_unavailable_reason()
    if reason is not None:
        unavailable("PostgreSQL", reason)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    require_postgres()
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(scope="session", params=ENGINES)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The session's database for the engine: one per worker and engine for the whole run.

    pytest tears a parametrized session fixture down whenever the next test takes the other
    parameter, which the suite's order (by file, each file's SQLite tests then its
    PostgreSQL ones) does at nearly every file: the SQLite file is therefore named by the
    session, not made anew, so that the database and its server (`server`) live on."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.getbasetemp() / 'session-sqlite.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@contextmanager
def fresh_database(engine: str, folder: Path) -> Iterator[str]:
    """A fresh database no other server uses, for servers whose background workers must be
    the only ones at work (the session server's delivery worker would deliver from a shared
    database too)."""
    if engine == "sqlite":
        yield f"sqlite:///{folder / 'private.db'}"
        return
    require_postgres()
    with fresh_postgres_database() as url:
        yield url


def module_server(
    folder: str,
    server_class: Callable[[str, Path, dict[str, str]], ServerT],
    env: Mapping[str, str] | None = None,
) -> Any:
    """A module-scoped fixture, for a module to bind to its fixture's name: a server of the
    module's own (`server_class`, with `env` added to its environment) on a fresh database
    (`fresh_database`), once per engine, its files in a `folder-<engine>` folder."""

    @pytest.fixture(scope="module", params=ENGINES)
    def own_server(
        request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[ServerT]:
        directory = tmp_path_factory.mktemp(f"{folder}-{request.param}")
        with fresh_database(request.param, directory) as url:
            kassa = server_class(url, directory / "kassa.log", dict(env or {}))
            kassa.start()
            try:
                yield kassa
            finally:
                kassa.stop()

    return own_server


@pytest.fixture(params=ENGINES)
def private_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture(scope="session")
def session_servers() -> Iterator[dict[str, KassaServer]]:
    """The session's servers by database URL, started on first use and stopped at the end.

        Not parametrized, so that pytest keeps it while `database_url` switches engine: starting
        a server again at each switch (about two per test file, each a process's start-up and,
        on SQLite, every migration on a new file): 97 such starts a third of the way through a CI
    run, on four workers, where eight now serve the whole run."""
    servers: dict[str, KassaServer] = {}
    yield servers
    for kassa in servers.values():
        kassa.stop()


@pytest.fixture(scope="session")
def server(
    database_url: str,
    session_servers: dict[str, KassaServer],
    tmp_path_factory: pytest.TempPathFactory,
) -> KassaServer:
    kassa = session_servers.get(database_url)
    if kassa is None:
        log_path = tmp_path_factory.mktemp("logs") / "kassa-serve.log"
        kassa = session_servers[database_url] = KassaServer(database_url, log_path).start()
    return kassa


@pytest.fixture
def account(server: KassaServer) -> Account:
    """A fresh account per test: tests never see each other's objects."""
    return create_account(server.database_url)


@pytest.fixture
def client(server: KassaServer, account: Account) -> stripe.StripeClient:
    return server.client(account.secret_key)


@pytest.fixture
def smtp_port() -> Iterator[int]:
    """A port held for the test, for an SMTP server (`tests.test_mail.smtp_on`): connections
    are refused until one listens on it (some tests start Kassa first), and no other process
    can take it meanwhile."""
    with HeldPort(shared=True) as held:
        yield held.number


@pytest.fixture
def test_output_dir() -> Path:
    path = Path(os.environ.get("KASSA_TEST_OUTPUT", "test-output"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def ledger_verified(server: KassaServer) -> Iterator[None]:
    """After the test, every check `kassa ledger verify` makes (`kassa.ledger.verify`), run
    in this process against the server's database: every scenario must leave the ledger
    whole. The command itself is started by its own tests (`test_ledger_verify.py`); a
    process per test cost about a second of CPU each, most of it Python starting up."""
    yield
    assert_ledger_whole(server.database_url)
