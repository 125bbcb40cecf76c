"""The `kassa` command: serve, migrate, accounts create and reset."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from kassa import API_VERSION, __version__, database
from kassa.clock import SystemClock, unix_seconds
from kassa.config import InvalidSetting, Settings, base_url
from kassa.errors import KassaError
from kassa.ledger.verify import LedgerReport, verify_ledger
from kassa.reconciliation.arguments import add_reconcile_parser
from kassa.services import accounts
from kassa.services.accounts import NewAccount
from kassa.store import (
    DatabaseUnavailable,
    Store,
    UnsupportedDatabaseUrl,
    migrate,
    redacted_url,
)


def _database_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database",
        metavar="URL",
        help="sqlite:///path.db (the default is ~/.local/share/kassa/kassa.db) or "
        "postgresql://user@host/db; also KASSA_DATABASE_URL",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kassa",
        description=f"A payments platform that speaks the Stripe API (version {API_VERSION}).",
    )
    parser.add_argument("--version", action="version", version=f"kassa {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the API server")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1; KASSA_HOST)")
    serve.add_argument("--port", type=int, help="port to listen on (default 4242; KASSA_PORT)")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="API processes sharing the port (default 1); each also runs the background jobs",
    )
    serve.add_argument(
        "--fd",
        type=int,
        help="serve on a TCP socket already listening, inherited as this file descriptor "
        "(socket activation, or a supervisor that keeps the port across restarts); "
        "--host and --port are then taken from the socket",
    )
    _database_option(serve)

    worker = commands.add_parser(
        "worker",
        help="run the background jobs (webhook delivery, settlement, retention) without "
        "serving the API (run several on PostgreSQL to scale out)",
    )
    _database_option(worker)

    listen_command = commands.add_parser(
        "listen", help="forward an account's events to a local URL, signed (like stripe listen)"
    )
    listen_command.add_argument("--forward-to", required=True, help="URL to POST each event to")
    listen_command.add_argument(
        "--api-key", help="the account's secret key (default: KASSA_API_KEY)"
    )
    listen_command.add_argument(
        "--api-base", help="where Kassa serves the API (default http://127.0.0.1:4242)"
    )

    trigger_command = commands.add_parser(
        "trigger",
        help="make an event happen through the API calls that cause it (like stripe trigger)",
    )
    trigger_command.add_argument("event", nargs="?", help="the event type, e.g. invoice.paid")
    trigger_command.add_argument(
        "--list", action="store_true", help="list the event types kassa can trigger"
    )
    trigger_command.add_argument(
        "--api-key", help="the account's secret key (default: KASSA_API_KEY)"
    )
    trigger_command.add_argument(
        "--api-base", help="where Kassa serves the API (default http://127.0.0.1:4242)"
    )
    for option, example in (
        ("--override", "payment_intent:amount=5000"),
        ("--add", "customer:metadata[plan]=pro"),
    ):
        trigger_command.add_argument(
            option,
            action="append",
            default=[],
            metavar="STEP:PARAM=VALUE",
            help=f"set a parameter of one step, e.g. {example} (repeatable)",
        )
    trigger_command.add_argument(
        "--remove",
        action="append",
        default=[],
        metavar="STEP:PARAM",
        help="leave a parameter out of one step, e.g. payment_intent:description",
    )
    trigger_command.add_argument(
        "--skip", action="append", default=[], metavar="STEP", help="leave out a step"
    )

    migrate_command = commands.add_parser("migrate", help="apply schema migrations")
    _database_option(migrate_command)

    accounts_command = commands.add_parser("accounts", help="manage accounts")
    account_commands = accounts_command.add_subparsers(
        dest="accounts_command", required=True, metavar="ACTION"
    )
    create = account_commands.add_parser("create", help="create an account with test keys")
    create.add_argument("--name", help="the account's display name")
    create.add_argument(
        "--timezone",
        default=accounts.DEFAULT_TIME_ZONE,
        help="the account's IANA time zone, e.g. Europe/Berlin: invoice reminders go out at "
        "09:00 there (default: %(default)s)",
    )
    create.add_argument(
        "--count",
        type=_account_count,
        default=1,
        metavar="N",
        help=f"how many accounts to create (1 to {ACCOUNTS_PER_COMMAND_MAX}), "
        f"{accounts.ACCOUNTS_PER_BATCH_MAX} per transaction",
    )
    create.add_argument(
        "--json",
        action="store_true",
        help="print each account as one JSON object per line (JSON Lines)",
    )
    _database_option(create)
    reset = account_commands.add_parser(
        "reset",
        help="delete every object, event, webhook delivery, ledger transaction and balance of "
        "an account, keeping the account and its keys",
    )
    reset.add_argument("account", metavar="ACCOUNT", help="the account's id, acct_...")
    _database_option(reset)

    ledger_command = commands.add_parser("ledger", help="inspect the ledger")
    ledger_commands = ledger_command.add_subparsers(
        dest="ledger_command", required=True, metavar="ACTION"
    )
    verify = ledger_commands.add_parser(
        "verify",
        help="recompute every balance from the journal; exit 1 on any imbalance or drift",
    )
    _database_option(verify)
    _fx_parser(commands)
    _import_parser(commands)
    add_reconcile_parser(commands, _database_option)
    return parser


def _import_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from kassa.imports import KIND_NAMES

    command = commands.add_parser(
        "import",
        help="create customers, products, prices or invoice items from a CSV file whose "
        "columns are the API's create parameters (see the README's CSV import)",
    )
    command.add_argument("kind", choices=KIND_NAMES, metavar="KIND", help=", ".join(KIND_NAMES))
    command.add_argument("file", metavar="FILE", help="the CSV file")
    command.add_argument("--account", required=True, help="the account's id, acct_...")
    command.add_argument(
        "--skip-invalid",
        action="store_true",
        help="write the valid rows and list the invalid ones (default: nothing is written "
        "when any row is invalid)",
    )
    command.add_argument(
        "--json",
        action="store_true",
        help="print each error and then the summary as JSON objects, one per line",
    )
    _database_option(command)


def _fx_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fx_command = commands.add_parser("fx", help="exchange rates and settlement currencies")
    fx_commands = fx_command.add_subparsers(dest="fx_command", required=True, metavar="ACTION")
    load = fx_commands.add_parser(
        "load",
        help="replace the exchange rate table with a CSV file of base,quote,rate lines "
        "(one base unit buys rate quote units); the change is kept with its time",
    )
    load.add_argument("file", metavar="FILE", help="the CSV file ('-' reads standard input)")
    _database_option(load)
    check = fx_commands.add_parser(
        "check",
        help="report inconsistent cycles and unreachable pairs in the rate table; exit 1 "
        "when there are any",
    )
    _database_option(check)
    settle = fx_commands.add_parser(
        "settle",
        help="make an account settle in its default currency and these (charges in any "
        "other currency are converted)",
    )
    settle.add_argument("account", metavar="ACCOUNT", help="the account's id, acct_...")
    settle.add_argument("currencies", nargs="*", metavar="CURRENCY", help="e.g. eur gbp")
    _database_option(settle)


ACCOUNTS_PER_COMMAND_MAX = 1_000_000
"""Accounts one `kassa accounts create --count` makes at most."""


def _account_count(text: str) -> int:
    count = int(text) if text.isdigit() else 0
    if not 1 <= count <= ACCOUNTS_PER_COMMAND_MAX:
        raise argparse.ArgumentTypeError(
            f"give a whole number from 1 to {ACCOUNTS_PER_COMMAND_MAX}, not {text!r}"
        )
    return count


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings()
    overrides = {
        name: getattr(args, option)
        for name, option in (("database_url", "database"), ("host", "host"), ("port", "port"))
        if getattr(args, option, None) is not None
    }
    return replace(settings, **overrides)


# `kassa.runtime` is imported where a command needs it: it loads the whole server (dashboard,
# workers, uvicorn's helpers), which `kassa --help` and `kassa listen` should not wait for.


async def _open_migrated(settings: Settings) -> Store:
    return await database.open_migrated_store(settings, SystemClock())


async def _create_accounts(
    settings: Settings,
    args: argparse.Namespace,
    emit: Callable[[list[NewAccount]], None],
) -> None:
    """`args.count` accounts, a transaction per batch; each batch is shown once committed."""
    store = await _open_migrated(settings)
    try:
        left = args.count
        while left > 0:  # bounded: ACCOUNTS_PER_COMMAND_MAX / ACCOUNTS_PER_BATCH_MAX batches
            batch = min(left, accounts.ACCOUNTS_PER_BATCH_MAX)
            async with store.write() as tx:
                made = await accounts.create_accounts(
                    tx, SystemClock(), batch, args.name, args.timezone
                )
            emit(made)
            left -= batch
    finally:
        await store.close()


def _account_json(new: NewAccount) -> str:
    return json.dumps(
        {
            "id": new.account["id"],
            "secret_key": new.secret_key,
            "publishable_key": new.publishable_key,
        }
    )


def _create_command(settings: Settings, args: argparse.Namespace) -> None:
    def emit(made: list[NewAccount]) -> None:
        if args.json:
            sys.stdout.write("".join(f"{_account_json(new)}\n" for new in made))
            sys.stdout.flush()
            return
        for new in made:
            _print_keys(new)

    asyncio.run(_create_accounts(settings, args, emit))


def _reset_command(settings: Settings, account_id: str) -> None:
    from kassa.services import account_snapshots

    async def reset() -> None:
        store = await _open_migrated(settings)
        try:
            async with store.write() as tx:
                await account_snapshots.reset_account_state(tx, account_id)
        finally:
            await store.close()

    asyncio.run(reset())
    print(f"Reset account {account_id}: its objects, events and balances are gone; keys kept.")


def _print_keys(new: NewAccount) -> None:
    print(f"Created account {new.account['id']} with test keys (shown only now):")
    print(f"  secret key:      {new.secret_key}")
    print(f"  publishable key: {new.publishable_key}", flush=True)


GRACEFUL_SHUTDOWN_SECONDS = 5
"""How long a stopping process lets requests in flight finish before it closes them."""
SERVE_WORKERS_MAX = 64


def _serve(settings: Settings, workers: int, fd: int | None = None) -> None:
    import uvicorn

    from kassa import runtime
    from kassa.http.protocol import HeadWithBodyProtocol

    inherited = None if fd is None else _inherited_listener(fd)
    if inherited is not None:
        host, port = inherited.getsockname()[:2]
        settings = replace(settings, host=host, port=port)

    asyncio.run(runtime.prepare_for_serving(settings, SystemClock(), announce=_print_keys))
    print(
        f"Kassa {__version__} (Stripe API {API_VERSION}) on "
        f"{base_url(replace(settings, public_url=''))} using {redacted_url(settings.database_url)}",
        flush=True,
    )
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "loop": "uvloop",
        "http": HeadWithBodyProtocol,  # uvicorn's httptools, each head written with its body
        "lifespan": "on",
        "access_log": False,
        "log_level": settings.log_level,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
    }
    if workers == 1:
        server = runtime.GracefulServer(uvicorn.Config(runtime.KassaApp(settings), **options))
        server.run(sockets=None if inherited is None else [inherited])
        return
    # Each worker process builds its app from the environment: hand it what the command
    # line chose. uvicorn's supervisor shares one listening socket among them and, on
    # SIGTERM, stops them all the graceful way.
    os.environ.update(
        KASSA_DATABASE_URL=settings.database_url,
        KASSA_HOST=settings.host,
        KASSA_PORT=str(settings.port),
    )
    uvicorn.run("kassa.runtime:app_from_environment", factory=True, workers=workers, **options)


def _inherited_listener(fd: int) -> socket.socket:
    """The listening TCP socket `--fd` names; exits with a message if it is not one."""
    try:
        sock = socket.socket(fileno=fd)
    except (OSError, ValueError) as error:
        raise SystemExit(f"kassa serve: --fd {fd} is not an open socket ({error})") from None
    if sock.type != socket.SOCK_STREAM or sock.family not in (socket.AF_INET, socket.AF_INET6):
        raise SystemExit(f"kassa serve: --fd {fd} is not a TCP socket")
    if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        raise SystemExit(f"kassa serve: --fd {fd} is not listening; call listen() on it first")
    return sock


def _listen(args: argparse.Namespace) -> int:
    from kassa.listen import ListenError, listen

    api_key = args.api_key or os.environ.get("KASSA_API_KEY")
    if not api_key:
        print("kassa listen: give --api-key sk_test_... (or set KASSA_API_KEY)", file=sys.stderr)
        return 2
    api_base = (args.api_base or "http://127.0.0.1:4242").rstrip("/")

    async def run() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for stop_signal in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(stop_signal, stopping.set)
        await listen(
            api_base,
            api_key,
            args.forward_to,
            say=lambda line: print(line, flush=True),
            stopping=stopping,
            clock=SystemClock(),
            warn=lambda line: print(line, file=sys.stderr, flush=True),
        )

    try:
        asyncio.run(run())
    except (ListenError, OSError) as error:
        print(f"kassa listen: {error}. Is Kassa running at {api_base}?", file=sys.stderr)
        return 1
    return 0


def _trigger(args: argparse.Namespace) -> int:
    from kassa.trigger.cli import run_trigger

    return run_trigger(
        args.event,
        list_only=args.list,
        api_key=args.api_key or os.environ.get("KASSA_API_KEY"),
        api_base=(args.api_base or "http://127.0.0.1:4242").rstrip("/"),
        assignments=[("--override", text) for text in args.override]
        + [("--add", text) for text in args.add],
        removals=args.remove,
        skipped=args.skip,
    )


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


async def _work(settings: Settings) -> None:
    from kassa import runtime

    clock = SystemClock()
    store = await database.open_migrated_store(settings, clock)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(stop_signal, stopping.set)
    jobs = ", ".join(job.name for job in runtime.worker_jobs())
    # Tests and benchmarks wait for "kassa worker: delivering webhooks" before they start.
    print(
        f"kassa worker: delivering webhooks from {redacted_url(settings.database_url)} "
        f"(jobs: {jobs}; Ctrl-C to stop)",
        flush=True,
    )
    try:
        await runtime.run_worker(store, settings, clock, stopping)
    finally:
        await store.close()
    print("kassa worker: stopped", flush=True)


def _run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.command == "serve":
        if not 1 <= args.workers <= SERVE_WORKERS_MAX:
            print(f"kassa serve: --workers must be 1 to {SERVE_WORKERS_MAX}", file=sys.stderr)
            return 2
        if args.fd is not None and args.workers != 1:
            print("kassa serve: --fd serves one process; leave out --workers", file=sys.stderr)
            return 2
        if args.fd is not None and (args.host is not None or args.port is not None):
            print(
                "kassa serve: --fd serves the socket's own address; leave out --host and --port",
                file=sys.stderr,
            )
            return 2
        _serve(settings, args.workers, args.fd)
    elif args.command == "migrate":

        async def run_migrations() -> list[str]:
            store = await database.open_unmigrated_store(settings)
            try:
                return await migrate(store, unix_seconds(SystemClock()))
            finally:
                await store.close()

        applied = asyncio.run(run_migrations())
        print("applied: " + ", ".join(applied) if applied else "the schema is up to date")
    elif args.command == "listen":
        return _listen(args)
    elif args.command == "trigger":
        return _trigger(args)
    elif args.command == "worker":
        # uvloop (installed with uvicorn[standard]) as `kassa serve` uses: a delivery costs
        # about a fifth less CPU on it.
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(_work(settings))
    elif args.command == "ledger":
        return _verify_ledger(settings)
    elif args.command == "fx":
        return _fx(settings, args)
    elif args.command == "reconcile":
        from kassa.reconciliation.command import run_reconcile

        return run_reconcile(settings, args)
    elif args.command == "import":
        from kassa.imports.command import ImportOptions, run_import

        options = ImportOptions(
            args.kind, Path(args.file), args.account, args.skip_invalid, args.json
        )
        return run_import(settings, options)
    elif args.command == "accounts" and args.accounts_command == "reset":
        _reset_command(settings, args.account)
    elif args.command == "accounts":
        _create_command(settings, args)
    return 0


def _fx(settings: Settings, args: argparse.Namespace) -> int:
    from kassa.services import currency_conversion, exchange_rates

    async def run() -> int:
        store = await _open_migrated(settings)
        try:
            if args.fx_command == "load":
                text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
                rates = exchange_rates.parse_rates_csv(text)
                async with store.write() as tx:
                    version = await exchange_rates.load_rates(
                        tx, rates, unix_seconds(SystemClock()), f"kassa fx load {args.file}"
                    )
                print(f"loaded {len(rates)} rates from {args.file} as version {version}")
                return 0
            if args.fx_command == "settle":
                async with store.write() as tx:
                    listed = await currency_conversion.set_settlement_currencies(
                        tx, args.account, args.currencies
                    )
                print(f"{args.account} settles in {', '.join(listed)}")
                return 0
            async with store.read() as tx:
                table, found = await exchange_rates.check_rates(tx)
            for problem in [*found.cycles, *found.unreachable]:
                print(f"PROBLEM {problem}")
            summary = f"version {table.version} ({table.origin}), {len(table.graph.rates)} rates"
            print(f"fx check {'OK' if found.ok else 'FAILED'}: {summary}")
            return 0 if found.ok else 1
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except (ValueError, OSError) as error:
        print(f"kassa fx {args.fx_command}: {error}", file=sys.stderr)
        return 2


def _verify_ledger(settings: Settings) -> int:
    print(
        "kassa: recomputing balances from the ledger journal and checking charges, refunds "
        "and disputes against it ...",
        file=sys.stderr,
        flush=True,
    )

    async def verify() -> LedgerReport:
        store = await _open_migrated(settings)
        try:
            async with store.read() as tx:
                return await verify_ledger(tx)
        finally:
            await store.close()

    report = asyncio.run(verify())
    for finding in report.problems:
        print(f"PROBLEM {finding.message}")
    summary = (
        f"{report.transactions} ledger transactions, {report.entries} entries, "
        f"{report.accounts} ledger accounts"
    )
    if report.problems:
        print(f"ledger verify FAILED: {len(report.problems)} problems in {summary}")
        return 1
    print(
        f"ledger verify OK: {summary}; every transaction balances, no balance drifts, "
        "every object agrees with the journal"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        code = _run(args)
    except (UnsupportedDatabaseUrl, InvalidSetting, KassaError) as error:
        print(f"kassa: {error}", file=sys.stderr)
        code = 2
    except DatabaseUnavailable as error:
        print(f"kassa: {error}. Check --database / KASSA_DATABASE_URL.", file=sys.stderr)
        code = 1
    except OSError as error:
        print(
            f"kassa: cannot reach the database: {error}. Check --database / KASSA_DATABASE_URL.",
            file=sys.stderr,
        )
        code = 1
    sys.exit(code)
