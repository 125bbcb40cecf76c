"""`kassa reconcile LEDGER BANK`: run a reconciliation, print what it found, optionally
record it. Exit 0 when everything matched, 1 on breaks, 2 when it could not run."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import duckdb

from kassa import business_days, database
from kassa.clock import Clock, SystemClock, unix_seconds
from kassa.config import Settings
from kassa.reconciliation import kassa_source, payouts
from kassa.reconciliation.engine import Reconciliation, connect, reconcile_files
from kassa.reconciliation.inputs import InputError, InputFile, parse_column_mapping
from kassa.reconciliation.kassa_source import KassaRange
from kassa.reconciliation.report import json_report, progress_bar, samples, summary
from kassa.services import reconciliation_runs
from kassa.services.reconciliation_runs import BREAKS_SAMPLED_PER_OUTCOME_MAX, NewRun
from kassa.store import Store

KASSA_LEDGER: Final = "kassa"
"""LEDGER given as this word: the account's own rows, read from the database."""
SWEPT_FILE: Final = "payout_transactions"


@dataclass(frozen=True)
class Plan:
    """What one run compares, decided from the command line before anything is read."""

    ledger: InputFile
    bank: InputFile
    out_dir: Path
    kassa: KassaRange | None
    payouts: bool
    window_days: int
    country: str
    clock: Clock
    """The run's time: the default folder's name and the recorded run's `created`."""


def _day(text: str | None, option: str) -> datetime.date:
    if not text:
        raise InputError(f"with LEDGER kassa, give {option} YYYY-MM-DD")
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{option} takes a date YYYY-MM-DD, not {text!r}") from None


def _kassa_range(args: argparse.Namespace) -> KassaRange | None:
    if args.ledger != KASSA_LEDGER:
        return None
    if not args.account:
        raise InputError("with LEDGER kassa, give --account acct_... (whose books)")
    scope = KassaRange(args.account, _day(args.first_day, "--from"), _day(args.last_day, "--to"))
    if scope.last_day < scope.first_day:
        raise InputError("--to is before --from")
    return scope


def _country(args: argparse.Namespace, settings: Settings) -> str:
    """The country whose bank holidays the payout window skips: one Kassa has a calendar
    for, else the window would silently count holidays as business days."""
    if not args.country:
        return settings.account_country
    country = str(args.country).strip().upper()
    if country not in business_days.holiday_countries():
        raise InputError(
            f"--country {args.country}: no bank holiday calendar for that country. Give a "
            "two-letter ISO 3166 code such as US, GB, DE or JP; all known ones: python -c "
            "'import holidays; print(sorted(holidays.list_supported_countries()))'"
        )
    return country


def plan(args: argparse.Namespace, settings: Settings, clock: Clock) -> Plan:
    if args.record and not args.account:
        raise InputError("--record keeps the run for an account: give --account acct_...")
    if not 0 <= args.window_days <= payouts.WINDOW_BUSINESS_DAYS_MAX:
        raise InputError(f"--window-days is 0 to {payouts.WINDOW_BUSINESS_DAYS_MAX}")
    stamp = datetime.datetime.fromtimestamp(unix_seconds(clock), tz=datetime.UTC)
    out_dir = Path(args.out or f"reconciliation-{stamp:%Y%m%dT%H%M%SZ}")
    scope = _kassa_range(args)
    ledger_path = out_dir / "kassa-ledger.csv" if scope else Path(args.ledger)
    return Plan(
        ledger=InputFile("ledger", ledger_path, parse_column_mapping(args.ledger_columns)),
        bank=InputFile("bank", Path(args.bank), parse_column_mapping(args.bank_columns)),
        out_dir=out_dir,
        kassa=scope,
        payouts=args.payouts,
        window_days=args.window_days,
        country=_country(args, settings),
        clock=clock,
    )


async def _open(settings: Settings, run: Plan) -> Store:
    return await database.open_migrated_store(settings, run.clock)


async def _check_account(settings: Settings, run: Plan, account_id: str) -> None:
    """Before anything is written: the account of --record or LEDGER kassa exists."""
    store = await _open(settings, run)
    try:
        async with store.read() as tx:
            if await tx.get_account(account_id) is None:
                raise InputError(f"there is no account {account_id}")
    finally:
        await store.close()


def _make_out_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(
            f"--out {path}: cannot create the folder ({error.strerror}); give a folder you "
            "can write to"
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise InputError(f"--out {path}: cannot write in the folder; give one you can write to")


async def _export(settings: Settings, run: Plan) -> None:
    """The account's balance transactions or payouts, written as the ledger file."""
    scope = run.kassa
    if scope is None:
        return
    if run.ledger.columns:
        raise InputError("--ledger-columns names a file's columns; LEDGER kassa has its own")
    store = await _open(settings, run)
    try:
        export = (
            kassa_source.export_payouts
            if run.payouts
            else (kassa_source.export_balance_transactions)
        )
        await export(store, scope, run.ledger.path)
    finally:
        await store.close()


async def _swept(settings: Settings, run: Plan, payout_ids: list[str]) -> Path:
    path = run.out_dir / f"{SWEPT_FILE}.csv"
    scope = run.kassa
    store = await _open(settings, run)
    try:
        account = "" if scope is None else scope.account_id
        await kassa_source.export_swept(store, account, payout_ids, path)
    finally:
        await store.close()
    return path


def _compare(con: duckdb.DuckDBPyConnection, run: Plan, work_dir: Path) -> Reconciliation:
    if run.payouts:
        return payouts.match_payouts(
            con, run.ledger, run.bank, run.out_dir, run.window_days, run.country
        )
    return reconcile_files(con, run.ledger, run.bank, run.out_dir, work_dir)


def _kind(run: Plan) -> str:
    if run.payouts:
        return "payouts"
    return "balance_transactions" if run.kassa else "files"


def _parameters(args: argparse.Namespace, run: Plan) -> dict[str, Any]:
    return {
        "ledger_columns": dict(run.ledger.columns),
        "bank_columns": dict(run.bank.columns),
        "from": args.first_day,
        "to": args.last_day,
        "window_days": run.window_days if run.payouts else None,
        "country": run.country if run.payouts else None,
        "out": str(run.out_dir),
    }


async def _record(settings: Settings, args: argparse.Namespace, run: Plan, new: NewRun) -> str:
    store = await _open(settings, run)
    try:
        async with store.write() as tx:
            return await reconciliation_runs.record_run(
                tx, args.account, unix_seconds(run.clock), new
            )
    finally:
        await store.close()


def execute(settings: Settings, args: argparse.Namespace) -> int:
    run = plan(args, settings, SystemClock())
    if not run.bank.path.is_file():  # before the database is read for LEDGER kassa
        raise InputError(f"{run.bank.path}: no such file")
    account_id = run.kassa.account_id if run.kassa else args.account if args.record else None
    if account_id:
        asyncio.run(_check_account(settings, run, account_id))
    _make_out_dir(run.out_dir)
    asyncio.run(_export(settings, run))
    extra: dict[str, Path] = {}
    run_id = ""
    with tempfile.TemporaryDirectory(prefix=".kassa-spill-", dir=run.out_dir) as spill:
        con = connect(Path(spill))
        try:
            with progress_bar(con, sys.stderr if sys.stderr.isatty() else None):
                result = _compare(con, run, Path(spill))
            if run.payouts and run.kassa:
                matched = payouts.matched_payout_ids(con)
                extra[SWEPT_FILE] = asyncio.run(_swept(settings, run, matched))
            sampled = samples(con, result, BREAKS_SAMPLED_PER_OUTCOME_MAX) if args.record else {}
        finally:
            con.close()
    if args.record:
        new = NewRun(
            _kind(run),
            KASSA_LEDGER if run.kassa else str(run.ledger.path),
            str(run.bank.path),
            _parameters(args, run),
            dict(result.counts),
            sampled,
        )
        run_id = asyncio.run(_record(settings, args, run, new))
        if not args.json:
            print(f"recorded as {run_id}")
    if args.json:
        print(json_report(result, extra, run_id if args.record else None))
    else:
        summary(result, run.out_dir, sys.stdout)
    return 0 if result.breaks == 0 else 1


def run_reconcile(settings: Settings, args: argparse.Namespace) -> int:
    """The command; its exit status. Problems with the inputs exit 2 with what to fix."""
    try:
        return execute(settings, args)
    except InputError as error:
        print(f"kassa reconcile: {error}", file=sys.stderr)
        return 2
    except duckdb.Error as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        print(
            f"kassa reconcile: cannot read the input: {first}. Check that the files are "
            "CSV with a header row (or Parquet) and the column names.",
            file=sys.stderr,
        )
        return 2
