"""`kassa reconcile`'s command line (kept apart from command.py so that `kassa --help`
does not import DuckDB)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

WINDOW_BUSINESS_DAYS_DEFAULT = 2
"""Business days either side of a payout's arrival date that its bank line may fall on."""


def add_reconcile_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    database_option: Callable[[argparse.ArgumentParser], None],
) -> None:
    reconcile = commands.add_parser(
        "reconcile",
        help="compare a ledger with a bank statement id by id (or payouts with bank lines); "
        "exit 0 when everything matched, 1 on breaks, 2 when it could not run",
    )
    reconcile.add_argument(
        "ledger",
        metavar="LEDGER",
        help="a CSV (with a header row) or Parquet file with id, amount (integer minor "
        "units), currency and optional date (YYYY-MM-DD) columns; or the word kassa: the "
        "account's balance transactions (with --payouts, its payouts)",
    )
    reconcile.add_argument("bank", metavar="BANK", help="the bank's CSV or Parquet file")
    reconcile.add_argument(
        "--out",
        metavar="DIR",
        help="where to write one CSV file per outcome (default: reconciliation-<time>)",
    )
    reconcile.add_argument(
        "--json", action="store_true", help="print one JSON object of counts and files"
    )
    reconcile.add_argument(
        "--record",
        action="store_true",
        help="store the run (parameters, counts, a sample of each break) for the dashboard; "
        "needs --account",
    )
    for side in ("ledger", "bank"):
        reconcile.add_argument(
            f"--{side}-columns",
            metavar="NAME=COLUMN,...",
            help=f"the {side} file's names for id, amount, currency, date, trace_id",
        )
    reconcile.add_argument("--account", metavar="ACCOUNT", help="the account, acct_...")
    reconcile.add_argument(
        "--from", dest="first_day", metavar="DATE", help="with kassa: the first day, UTC"
    )
    reconcile.add_argument(
        "--to", dest="last_day", metavar="DATE", help="with kassa: the last day, UTC"
    )
    reconcile.add_argument(
        "--payouts",
        action="store_true",
        help="match payouts to bank lines: by trace_id, else amount, currency and date",
    )
    reconcile.add_argument(
        "--window-days",
        type=int,
        default=WINDOW_BUSINESS_DAYS_DEFAULT,
        metavar="N",
        help="with --payouts: business days either side of the arrival date (default %(default)s)",
    )
    reconcile.add_argument(
        "--country",
        help="with --payouts: whose bank holidays the window skips (default KASSA_ACCOUNT_"
        "COUNTRY, US)",
    )
    database_option(reconcile)
