"""Payouts matched to bank statement lines, which usually carry no Stripe id.

A line is matched to a payout by `trace_id` when both carry one (two different trace ids
never match; a trace id on several lines or payouts is ambiguous), else by amount, currency
and a date within `--window-days` business days of the payout's arrival date (holidays of
the account's country skipped). Matching is one to one
and never guesses: a payout with several candidate lines, or a line with several candidate
payouts, is reported as ambiguous with its candidates, and neither entry is used.
Ids that occur twice on one side are duplicates and take no part.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import duckdb

from kassa import business_days
from kassa.reconciliation.engine import OUTCOMES, Reconciliation, write_csv, write_rejected
from kassa.reconciliation.inputs import (
    CURRENCY_TEXT,
    InputError,
    InputFile,
    Source,
    source_for,
)

WINDOW_BUSINESS_DAYS_MAX: Final = 30
ARRIVAL_DAYS_MAX: Final = 100_000
"""Distinct arrival dates whose windows are computed (in Python, with the holiday
calendars); about 270 years of days."""

PAYOUT_OUTCOMES: Final = (*OUTCOMES, "ambiguous_in_ledger", "ambiguous_in_bank")
PAYOUT_COLUMNS: Final = ("id", "amount", "currency", "date", "trace_id")


def _valid_rows(con: duckdb.DuckDBPyConnection, source: Source, table: str) -> None:
    """`table`: the side's valid rows whose id occurs once; `{table}_dups`: the others."""
    if "date" not in source.present:
        raise InputError(
            f"{source.spec.path}: payout matching needs a date column (the payout's arrival "
            f"date, the bank line's booking date); name it with --{source.spec.side}-columns"
        )
    con.execute(f"CREATE TEMP TABLE {table}_all AS {source.rows(record_rejects=True)}")
    con.execute(
        f"CREATE TEMP TABLE {table}_dups AS SELECT id, count(*) AS row_count FROM {table}_all "
        "WHERE valid GROUP BY id HAVING count(*) > 1"
    )
    con.execute(
        f"CREATE TEMP TABLE {table} AS SELECT id, CAST(amount AS BIGINT) AS amount, "
        f"{CURRENCY_TEXT.format(key='currency')} AS currency, date, "
        "nullif(trim(trace_id), '') AS trace_id "
        f"FROM {table}_all WHERE valid AND id NOT IN (SELECT id FROM {table}_dups)"
    )


def _windows(con: duckdb.DuckDBPyConnection, window_business_days: int, country: str) -> None:
    days = [row[0] for row in con.execute("SELECT DISTINCT date FROM p").fetchall()]
    if len(days) > ARRIVAL_DAYS_MAX:
        raise InputError(f"more than {ARRIVAL_DAYS_MAX} distinct payout dates")
    rows = [
        (
            day,
            business_days.subtract_business_days(day, window_business_days, country),
            business_days.add_business_days(day, window_business_days, country),
        )
        for day in days
        if day is not None
    ]
    con.execute("CREATE TEMP TABLE windows (day DATE, first DATE, last DATE)")
    if rows:
        con.executemany("INSERT INTO windows VALUES (?, ?, ?)", rows)


_PAIRING = """
CREATE TEMP TABLE trace_candidates AS
SELECT p.id AS payout_id, b.id AS line_id FROM p JOIN b USING (trace_id);

CREATE TEMP TABLE candidates AS
SELECT payout_id, line_id, 'trace_id' AS matched_by FROM trace_candidates
UNION ALL
SELECT p.id, b.id, 'amount, currency and date'
FROM p JOIN windows w ON w.day = p.date
JOIN b ON b.amount = p.amount AND b.currency = p.currency AND b.date BETWEEN w.first AND w.last
WHERE (b.trace_id IS NULL OR p.trace_id IS NULL)
  AND p.id NOT IN (SELECT payout_id FROM trace_candidates)
  AND b.id NOT IN (SELECT line_id FROM trace_candidates);

CREATE TEMP TABLE pairs AS
SELECT payout_id, line_id, matched_by FROM candidates
WHERE payout_id IN (SELECT payout_id FROM candidates GROUP BY payout_id HAVING count(*) = 1)
  AND line_id IN (SELECT line_id FROM candidates GROUP BY line_id HAVING count(*) = 1);
"""
"""Two trace ids are two transfers: a payout and a line that both carry one pair only by it
(a trace id on several lines or payouts is ambiguous, like equal amounts); the amount,
currency and date pair those where one side has none."""

_OUTCOME_QUERIES: Final = {
    "matched": """SELECT pairs.payout_id, pairs.line_id AS bank_line_id, p.amount, p.currency,
        p.date AS arrival_date, b.date AS bank_date, pairs.matched_by
        FROM pairs JOIN p ON p.id = pairs.payout_id JOIN b ON b.id = pairs.line_id
        WHERE p.amount = b.amount AND p.currency = b.currency ORDER BY pairs.payout_id""",
    "discrepant": """SELECT pairs.payout_id, pairs.line_id AS bank_line_id,
        CASE WHEN p.amount <> b.amount AND p.currency <> b.currency
            THEN 'amount and currency differ'
            WHEN p.amount <> b.amount THEN 'amount differs' ELSE 'currency differs' END
            AS reason, p.amount AS ledger_amount, b.amount AS bank_amount,
        p.currency AS ledger_currency, b.currency AS bank_currency, p.trace_id
        FROM pairs JOIN p ON p.id = pairs.payout_id JOIN b ON b.id = pairs.line_id
        WHERE p.amount <> b.amount OR p.currency <> b.currency ORDER BY pairs.payout_id""",
    "ambiguous_in_ledger": """SELECT p.id AS payout_id, p.amount, p.currency,
        p.date AS arrival_date, string_agg(c.line_id, ' ' ORDER BY c.line_id) AS candidates
        FROM p JOIN candidates c ON c.payout_id = p.id
        WHERE p.id NOT IN (SELECT payout_id FROM pairs)
        GROUP BY ALL ORDER BY p.id""",
    "ambiguous_in_bank": """SELECT b.id AS bank_line_id, b.amount, b.currency, b.date,
        string_agg(c.payout_id, ' ' ORDER BY c.payout_id) AS candidates
        FROM b JOIN candidates c ON c.line_id = b.id
        WHERE b.id NOT IN (SELECT line_id FROM pairs)
        GROUP BY ALL ORDER BY b.id""",
    "missing_in_bank": """SELECT id AS payout_id, amount, currency, date AS arrival_date,
        trace_id FROM p WHERE id NOT IN (SELECT payout_id FROM pairs)
        AND id NOT IN (SELECT payout_id FROM candidates) ORDER BY id""",
    "missing_in_ledger": """SELECT id AS bank_line_id, amount, currency, date, trace_id FROM b
        WHERE id NOT IN (SELECT line_id FROM pairs)
        AND id NOT IN (SELECT line_id FROM candidates) ORDER BY id""",
    "duplicate_ids_in_ledger": "SELECT id, row_count FROM p_dups ORDER BY id",
    "duplicate_ids_in_bank": "SELECT id, row_count FROM b_dups ORDER BY id",
}


def _count(con: duckdb.DuckDBPyConnection, query: str) -> int:
    row = con.execute(f"SELECT count(*) FROM ({query})").fetchone()
    return int(row[0]) if row else 0


def match_payouts(
    con: duckdb.DuckDBPyConnection,
    ledger: InputFile,
    bank: InputFile,
    out_dir: Path,
    window_business_days: int,
    country: str,
) -> Reconciliation:
    """Match the payouts in `ledger` to the lines of `bank`; one CSV file per outcome."""
    sources = [source_for(con, spec, PAYOUT_COLUMNS) for spec in (ledger, bank)]
    _valid_rows(con, sources[0], "p")
    _valid_rows(con, sources[1], "b")
    _windows(con, window_business_days, country)
    con.execute(_PAIRING)
    files = {outcome: out_dir / f"{outcome}.csv" for outcome in PAYOUT_OUTCOMES}
    counts: dict[str, int] = {}
    for outcome, query in _OUTCOME_QUERIES.items():
        counts[outcome] = _count(con, query)
        write_csv(con, query, files[outcome])
    for source, table in zip(sources, ("p", "b"), strict=True):
        outcome = f"rejected_{source.spec.side}"
        invalid = _count(con, f"SELECT 1 FROM {table}_all WHERE NOT valid")
        counts[outcome] = write_rejected(con, source, invalid, files[outcome])
    return Reconciliation({name: counts[name] for name in PAYOUT_OUTCOMES}, files)


SWEPT_LISTED_PAYOUTS_MAX: Final = 100_000
"""Matched payouts whose swept balance transactions are listed (about 270 years of daily
payouts in one currency)."""


def matched_payout_ids(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The matched payouts (the first SWEPT_LISTED_PAYOUTS_MAX), for listing what each
    swept."""
    query = _OUTCOME_QUERIES["matched"]
    rows = con.execute(f"SELECT payout_id FROM ({query}) LIMIT {SWEPT_LISTED_PAYOUTS_MAX}")
    return [str(row[0]) for row in rows.fetchall()]
