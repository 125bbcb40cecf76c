"""Id-by-id comparison of a ledger and a bank file, in DuckDB.

One pass groups both files' rows by id (`UNION ALL` then `GROUP BY id`): per id, how many
rows each side has and the first side's amount, currency and date. Duplicates, missing
rows and discrepancies are all read off that one table, so no join and no second pass
over the inputs for duplicates (a join on id is cheaper alone, about half the grouping's
time measured, but would then need a grouping anyway to find the duplicates). Rows the
CSV reader rejects are listed from its rejects table, and their ids read back from it;
rows that fail the SQL checks (no id, amount or currency, an amount that is not an
integer) are counted by the grouping, and only a side that has some is read again, in
order, to list them by line (`kassa.reconciliation.inputs`). An id with a rejected row in
either file is rejected, and nothing else: every id ends in one outcome.

Memory is bounded by DuckDB's `memory_limit` (MEMORY_LIMIT) and by the input grouped in
one piece (INPUT_BYTES_PER_PARTITION), not by the inputs: larger inputs are split by a hash
of the id and grouped a part at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import duckdb

from kassa.reconciliation.inputs import (
    CURRENCY_TEXT,
    InputFile,
    Source,
    currency_enum_sql,
    has_rows,
    source_for,
    sql_text,
)

MEMORY_LIMIT_MB: Final = 1_000
MEMORY_LIMIT: Final = f"{MEMORY_LIMIT_MB}MB"
"""DuckDB's `memory_limit`: what its buffers (the grouping's hash tables, the compared
table) may hold before they spill to the temp directory. The process's peak also holds
Python and DuckDB's own code, about 150 MB more."""

INPUT_BYTES_PER_PARTITION: Final = MEMORY_LIMIT_MB * 10**6 // 5
"""Input (both files' bytes together) grouped in one piece. DuckDB's grouping by id holds
memory that grows with the ids it groups, spilling or not (measured: a 3-million-id pair,
240 MB of CSV, needs 400 to 500 MB; a plain `GROUP BY id` of it more than 300 MB). Larger
inputs are first split by a hash of the id into Parquet files in the work directory (one
streaming pass), and each part grouped on its own: memory then follows this constant and
MEMORY_LIMIT, not the input."""
PARTITIONS_MAX: Final = 4_096

OUTCOMES: Final = (
    "matched",
    "missing_in_bank",
    "missing_in_ledger",
    "discrepant",
    "duplicate_ids_in_ledger",
    "duplicate_ids_in_bank",
    "rejected_ledger",
    "rejected_bank",
)
"""The outcomes counted (the `--json` keys) and written, one CSV file each."""

FILE_COLUMNS: Final = ("id", "amount", "currency", "date")


@dataclass(frozen=True)
class Reconciliation:
    counts: Mapping[str, int]
    """An entry per outcome (OUTCOMES, plus the ambiguous ones of a payout matching)."""
    files: Mapping[str, Path]
    """The CSV file written for each outcome."""

    @property
    def breaks(self) -> int:
        return sum(n for outcome, n in self.counts.items() if outcome != "matched")


OUTCOME_TYPE: Final = "kassa_outcome"
ID_OUTCOMES: Final = (
    "rejected",
    "duplicate",
    "missing_in_bank",
    "missing_in_ledger",
    "matched",
    "discrepant",
)
"""What the comparison decides for each id (the NULL id gathers rows without one)."""


def connect(temp_dir: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB bounded by MEMORY_LIMIT, spilling to `temp_dir`."""
    con = duckdb.connect(":memory:")
    con.execute(f"SET memory_limit = {sql_text(MEMORY_LIMIT)}")
    con.execute(f"SET temp_directory = {sql_text(str(temp_dir))}")
    # Output order is set where it matters (ORDER BY); not keeping the input's order lets
    # the grouping and the writes run in parallel with less buffering.
    con.execute("SET preserve_insertion_order = false")
    # Progress is tracked for `report.progress_bar`, which draws it on stderr; DuckDB's own
    # bar would print on stdout, where `--json` writes.
    con.execute("SET enable_progress_bar = true")
    con.execute("SET enable_progress_bar_print = false")
    con.execute(currency_enum_sql())
    # One byte per id in the compared table rather than a string that may not inline.
    con.execute(f"CREATE TYPE {OUTCOME_TYPE} AS ENUM ({', '.join(map(sql_text, ID_OUTCOMES))})")
    return con


_COMPARED = """
SELECT *,
    CASE
        WHEN id IS NULL OR ledger_rejected + bank_rejected > 0 THEN 'rejected'
        WHEN ledger_rows > 1 OR bank_rows > 1 THEN 'duplicate'
        WHEN bank_rows = 0 THEN 'missing_in_bank'
        WHEN ledger_rows = 0 THEN 'missing_in_ledger'
        WHEN ledger_amount = bank_amount AND ledger_currency = bank_currency THEN 'matched'
        ELSE 'discrepant'
    END::{outcome_type} AS outcome
FROM (
    SELECT id,
        count(*) FILTER (WHERE side = 0) AS ledger_rows,
        count(*) FILTER (WHERE side = 1) AS bank_rows,
        count(*) FILTER (WHERE side = 0 AND valid IS NOT TRUE) AS ledger_rejected,
        count(*) FILTER (WHERE side = 1 AND valid IS NOT TRUE) AS bank_rejected,
        any_value(amount) FILTER (WHERE side = 0) AS ledger_amount,
        any_value(amount) FILTER (WHERE side = 1) AS bank_amount,
        any_value(currency) FILTER (WHERE side = 0) AS ledger_currency,
        any_value(currency) FILTER (WHERE side = 1) AS bank_currency,
        any_value(date) FILTER (WHERE side = 0) AS ledger_date,
        any_value(date) FILTER (WHERE side = 1) AS bank_date
    FROM (
        SELECT 0 AS side, id, valid, amount, currency, date FROM ({ledger})
        UNION ALL
        SELECT 1 AS side, id, valid, amount, currency, date FROM ({bank})
    )
    GROUP BY id
)
"""
"""One row per id (the NULL id gathers rows without one). Invalid rows (`valid` false:
checked in SQL) and rows the CSV reader rejected (`valid` NULL: their ids, read back from
the rejects) make their id 'rejected' on both sides: every id ends in one outcome, and a
row rejected in one file does not leave its twin in the other file missing."""

_REASON = """CASE
    WHEN ledger_amount <> bank_amount AND ledger_currency <> bank_currency
        THEN 'amount and currency differ'
    WHEN ledger_amount <> bank_amount THEN 'amount differs'
    ELSE 'currency differs'
END"""


def _currency(key: str) -> str:
    return CURRENCY_TEXT.format(key=key)


_L_CURRENCY = _currency("ledger_currency")
_B_CURRENCY = _currency("bank_currency")
_L_AMOUNT = "ledger_amount"
_B_AMOUNT = "bank_amount"

OUTCOME_QUERIES: Final = {
    "matched": f"SELECT id, {_L_AMOUNT} AS amount, {_L_CURRENCY} AS currency, ledger_date, "
    "bank_date FROM compared WHERE outcome = 'matched'",
    "missing_in_bank": f"SELECT id, {_L_AMOUNT} AS amount, {_L_CURRENCY} AS currency, "
    "ledger_date AS date FROM compared WHERE outcome = 'missing_in_bank' ORDER BY id",
    "missing_in_ledger": f"SELECT id, {_B_AMOUNT} AS amount, {_B_CURRENCY} AS currency, "
    "bank_date AS date FROM compared WHERE outcome = 'missing_in_ledger' ORDER BY id",
    "discrepant": f"SELECT id, {_REASON} AS reason, {_L_AMOUNT} AS ledger_amount, "
    f"{_B_AMOUNT} AS bank_amount, "
    f"{_L_CURRENCY} AS ledger_currency, {_B_CURRENCY} AS bank_currency, ledger_date, "
    "bank_date FROM compared WHERE outcome = 'discrepant' ORDER BY id",
    "duplicate_ids_in_ledger": "SELECT id, ledger_rows, bank_rows FROM compared "
    "WHERE outcome = 'duplicate' AND ledger_rows > 1 ORDER BY id",
    "duplicate_ids_in_bank": "SELECT id, bank_rows, ledger_rows FROM compared "
    "WHERE outcome = 'duplicate' AND bank_rows > 1 ORDER BY id",
}
"""What each outcome's file holds (the matched file in no order: it is most of the rows)."""

_COUNTS = """
SELECT
    count(*) FILTER (WHERE outcome = 'matched'),
    count(*) FILTER (WHERE outcome = 'missing_in_bank'),
    count(*) FILTER (WHERE outcome = 'missing_in_ledger'),
    count(*) FILTER (WHERE outcome = 'discrepant'),
    count(*) FILTER (WHERE outcome = 'duplicate' AND ledger_rows > 1),
    count(*) FILTER (WHERE outcome = 'duplicate' AND bank_rows > 1),
    coalesce(sum(ledger_rejected), 0),
    coalesce(sum(bank_rejected), 0)
FROM compared
"""
"""The last two: each side's rejected rows, those the CSV reader rejected included (see
`_side_rows`)."""


def write_csv(con: duckdb.DuckDBPyConnection, query: str, path: Path) -> None:
    con.execute(f"COPY ({query}) TO {sql_text(str(path))} (FORMAT csv, HEADER true)")


def _reader_rejects(con: duckdb.DuckDBPyConnection, source: Source) -> bool:
    """Whether the CSV reader recorded rows it could not read."""
    return not source.spec.is_parquet and has_rows(con, source.rejects_table)


def write_rejected(
    con: duckdb.DuckDBPyConnection, source: Source, rows_invalid: int, path: Path
) -> int:
    """The side's rejected rows by line, to `path` (header only when there are none); how
    many rows were rejected. A CSV file is read again only for rows that failed the SQL
    checks (`rows_invalid`)."""
    reader_rejects = _reader_rejects(con, source)
    listing = source.rejected_rows(reader_rejects, rows_invalid > 0)
    table = f"{source.spec.side}_rejected"
    # The ordered read numbers rows in file order only while insertion order is kept.
    con.execute("SET preserve_insertion_order = true")
    try:
        con.execute(f"CREATE TEMP TABLE {table} AS {listing}")
    finally:
        con.execute("SET preserve_insertion_order = false")
    write_csv(con, f"SELECT * FROM {table} ORDER BY line, field", path)
    found = con.execute(f"SELECT count(DISTINCT line) FROM {table}").fetchone()
    con.execute(f"DROP TABLE {table}")
    return int(found[0]) if found else 0


def _partitions(sources: list[Source], partition_bytes: int) -> int:
    size = sum(source.spec.path.stat().st_size for source in sources)
    return int(min(PARTITIONS_MAX, max(1, -(-size // partition_bytes))))


_SIDE_COLUMNS: Final = "id, valid, amount, currency, date"


def _part_rows(source: Source, work_dir: Path, part: int) -> str:
    folder = work_dir / source.spec.side / f"part={part}"
    if not any(folder.glob("*.parquet")):  # no id hashed into this part
        return f"SELECT {_SIDE_COLUMNS} FROM ({source.rows()}) WHERE false"
    files = sql_text(str(folder / "*.parquet"))
    return f"SELECT {_SIDE_COLUMNS} FROM read_parquet({files})"


def _reader_rejected_table(source: Source) -> str:
    return f"{source.spec.side}_reader_rejected"


def _reader_rejected_count(con: duckdb.DuckDBPyConnection, source: Source) -> int:
    found = con.execute(f"SELECT count(*) FROM {_reader_rejected_table(source)}").fetchone()
    return int(found[0]) if found else 0


def _side_rows(con: duckdb.DuckDBPyConnection, source: Source, work_dir: Path) -> str:
    """The side's rows for the comparison, with the ids of the rows the reader rejected
    (`valid` NULL)."""
    rejected = _reader_rejected_table(source)
    ids = source.reader_rejected_ids(con, work_dir / f"{rejected}.csv")
    con.execute(f"CREATE TEMP TABLE {rejected} AS {ids}")
    return f"""SELECT {_SIDE_COLUMNS} FROM ({source.rows()})
        UNION ALL
        SELECT id, NULL::BOOLEAN, NULL::BIGINT, NULL::SMALLINT, NULL::DATE FROM {rejected}"""


def _compare(
    con: duckdb.DuckDBPyConnection, sources: list[Source], work_dir: Path, partition_bytes: int
) -> None:
    """Fill table `compared`: one row per id (and the NULL id), with its outcome."""
    parts = _partitions(sources, partition_bytes)
    side_rows = [_side_rows(con, source, work_dir) for source in sources]
    if parts == 1:
        query = _COMPARED.format(ledger=side_rows[0], bank=side_rows[1], outcome_type=OUTCOME_TYPE)
        con.execute(f"CREATE TEMP TABLE compared AS {query}")
        return
    for source, whole in zip(sources, side_rows, strict=True):
        # split by the id's hash: each id's rows land in one part
        con.execute(
            f"COPY (SELECT {_SIDE_COLUMNS}, coalesce(hash(id) % {parts}, 0) AS part "
            f"FROM ({whole})) TO {sql_text(str(work_dir / source.spec.side))} "
            "(FORMAT parquet, PARTITION_BY (part), OVERWRITE)"
        )
    for part in range(parts):
        rows = [_part_rows(source, work_dir, part) for source in sources]
        query = _COMPARED.format(ledger=rows[0], bank=rows[1], outcome_type=OUTCOME_TYPE)
        start = "CREATE TEMP TABLE compared AS" if part == 0 else "INSERT INTO compared"
        con.execute(f"{start} {query}")


def reconcile_files(
    con: duckdb.DuckDBPyConnection,
    ledger: InputFile,
    bank: InputFile,
    out_dir: Path,
    work_dir: Path,
    partition_bytes: int = INPUT_BYTES_PER_PARTITION,
) -> Reconciliation:
    """Compare `ledger` and `bank` id by id; write one CSV file per outcome to `out_dir`.
    `work_dir` holds the parts of inputs larger than `partition_bytes`."""
    sources = [source_for(con, spec, FILE_COLUMNS) for spec in (ledger, bank)]
    for source in sources:
        source.validate(con)
    _compare(con, sources, work_dir, partition_bytes)
    row = con.execute(_COUNTS).fetchone()
    counts = dict(zip(OUTCOMES, (int(n) for n in row or ()), strict=True))
    for source in sources:  # the rows that failed the SQL checks
        counts[f"rejected_{source.spec.side}"] -= _reader_rejected_count(con, source)
    files = {outcome: out_dir / f"{outcome}.csv" for outcome in OUTCOMES}
    for outcome, query in OUTCOME_QUERIES.items():
        write_csv(con, query, files[outcome])
    for source in sources:
        outcome = f"rejected_{source.spec.side}"
        counts[outcome] = write_rejected(con, source, counts[outcome], files[outcome])
    con.execute("DROP TABLE compared")
    return Reconciliation(counts, files)
