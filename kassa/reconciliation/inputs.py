"""The two inputs of a reconciliation, as DuckDB sees them, and the rows they reject.

A CSV file is read with typed columns and DuckDB's rejects table (`store_rejects`): a value
that does not cast (a currency that is not one of SUPPORTED_CURRENCIES, a date that is not
YYYY-MM-DD, a row with too few or too many columns) leaves the row out and is recorded with
its line, in the same parallel pass that reads the file. The amount is read as text and
checked in SQL to be digits with an optional minus sign (AMOUNT_PATTERN): no cast of
DuckDB's is that strict (an integer cast rounds "12.5" and takes "0x10", "1e3" and "1_000";
a decimal one reads a quoted "1,000" as 1 with ',' as the decimal separator, 1.000 with
'.'). A row without an id, amount or currency, or with another amount, is not `valid`:
the comparison counts those (and rejects their ids), and only then is the file read a
second time, in order (`row_number() OVER ()`, a streaming window), to list them by line.
The ids of the rows the reader left out are read back from its rejects table
(`reader_rejected_ids`).

A Parquet file carries its own types and DuckDB numbers its rows (`file_row_number`), so its
rows are read as text and validated in SQL, and the rejected ones listed in the same way.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import duckdb

from kassa.money import SUPPORTED_CURRENCIES

REQUIRED_COLUMNS: Final = ("id", "amount", "currency")
OPTIONAL_COLUMNS: Final = ("date", "trace_id")
KNOWN_COLUMNS: Final = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

HEADER_BYTES_MAX: Final = 65_536
"""The header row is read by Python to check its columns before DuckDB reads the file; a
first line longer than this is not a header."""

AMOUNT_DIGITS_MAX: Final = 14
"""Digits of an amount in minor units (Stripe's maximum is 8): a BIGINT whose sums cannot
overflow."""
AMOUNT_PATTERN: Final = f"' *-?[0-9]{{1,{AMOUNT_DIGITS_MAX}}} *'"
"""A valid amount's text, as a SQL literal: an integer of minor units and nothing else
(no separator, decimals or exponent); blanks around it are read as a cast reads them.
Matched without trim(), which would double its cost."""

PARQUET_SUFFIXES: Final = (".parquet", ".pq")

CURRENCY_TYPE: Final = "kassa_currency"
"""A DuckDB ENUM of `kassa.money.SUPPORTED_CURRENCIES` written lower case, upper case and
capitalized (`usd`, `USD`, `Usd`), in that order: a currency is checked by the CSV reader's
cast, and compared as its code modulo CURRENCY_COUNT (the same for all three spellings)."""
CURRENCY_CODES: Final = tuple(sorted(SUPPORTED_CURRENCIES))
CURRENCY_COUNT: Final = len(CURRENCY_CODES)
CURRENCY_KEY: Final = f"CAST(enum_code(currency) % {CURRENCY_COUNT} AS SMALLINT)"
"""A currency (of CURRENCY_TYPE) as its spelling-free key."""
CURRENCY_TEXT: Final = f"enum_range(NULL::{CURRENCY_TYPE})[{{key}} + 1]"
"""The lower-case code of a key (format `key`)."""


class InputError(Exception):
    """The run cannot start: a file is missing or unreadable, or lacks a column. The message
    says what to fix; the command exits 2."""


@dataclass(frozen=True)
class InputFile:
    side: str
    """'ledger' or 'bank': names its tables and its outcome files."""
    path: Path
    columns: Mapping[str, str] = field(default_factory=dict)
    """Kassa's column name -> the file's (`--ledger-columns id=txn_id,amount=cents`)."""

    @property
    def is_parquet(self) -> bool:
        return self.path.suffix.lower() in PARQUET_SUFFIXES

    def file_column(self, name: str) -> str:
        return self.columns.get(name, name)


def parse_column_mapping(text: str | None) -> dict[str, str]:
    """`id=transaction,amount=cents` -> {"id": "transaction", "amount": "cents"}."""
    mapping: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, sep, column = part.partition("=")
        name, column = name.strip(), column.strip()
        if not sep or not column or name not in KNOWN_COLUMNS:
            raise InputError(
                f"cannot read the column mapping {part.strip()!r}: write NAME=COLUMN, NAME one "
                f"of {', '.join(KNOWN_COLUMNS)}"
            )
        mapping[name] = column
    return mapping


def sql_text(value: str) -> str:
    """A SQL string literal (paths and names come from the command line)."""
    return "'" + value.replace("'", "''") + "'"


def sql_name(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def currency_enum_sql() -> str:
    spellings = [*CURRENCY_CODES, *map(str.upper, CURRENCY_CODES)]
    spellings += map(str.capitalize, CURRENCY_CODES)
    return f"CREATE TYPE {CURRENCY_TYPE} AS ENUM ({', '.join(map(sql_text, spellings))})"


def csv_header(path: Path) -> list[str]:
    """The file's header row; InputError when the file cannot be read or has none."""
    try:
        with path.open("rb") as raw:
            first = raw.readline(HEADER_BYTES_MAX)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as error:
        raise InputError(f"{path}: cannot read it ({error.strerror})") from None
    text = first.decode("utf-8-sig", errors="replace").strip()
    if not text:
        raise InputError(f"{path}: the file is empty; it needs a header row naming its columns")
    return [name.strip() for name in next(csv.reader(io.StringIO(text)))]


def file_columns(spec: InputFile, header: Sequence[str], wanted: Sequence[str]) -> list[str]:
    """Which of `wanted` the file has (required ones must be there); InputError otherwise."""
    missing = [
        spec.file_column(name)
        for name in REQUIRED_COLUMNS
        if name in wanted and spec.file_column(name) not in header
    ]
    if missing:
        shown = ", ".join(header[:12]) + (", ..." if len(header) > 12 else "")
        raise InputError(
            f"{spec.path}: the header row has no column {', '.join(missing)} (it has: {shown}). "
            f"A CSV file needs a header row; name other columns with --{spec.side}-columns "
            "id=...,amount=...,currency=..."
        )
    return [name for name in wanted if spec.file_column(name) in header]


def parquet_header(con: duckdb.DuckDBPyConnection, spec: InputFile) -> list[str]:
    if not spec.path.is_file():
        raise InputError(f"{spec.path}: no such file")
    try:
        rows = con.execute(
            f"SELECT name FROM parquet_schema({sql_text(str(spec.path))})"
        ).fetchall()
    except duckdb.Error as error:
        raise InputError(f"{spec.path}: cannot read it as Parquet ({error})") from None
    return [str(row[0]) for row in rows]


@dataclass(frozen=True)
class Source:
    """One input, described for SQL."""

    spec: InputFile
    present: tuple[str, ...]
    """Kassa's names of the columns the file has."""
    header: tuple[str, ...]
    """The file's own column names, in order."""

    @property
    def rejects_table(self) -> str:
        return f"{self.spec.side}_rejects"

    def _csv(
        self,
        types: Mapping[str, str],
        options: str,
        extra_columns: int = 0,
        path: Path | None = None,
    ) -> str:
        """The file (or `path`, rows of it without the header) read with `types`."""
        kassa_names = {self.spec.file_column(name): name for name in self.present}
        names = [*self.header, *(f"kassa_extra_{n}" for n in range(extra_columns))]
        columns = ", ".join(
            f"{sql_text(name)}: {sql_text(types.get(kassa_names.get(name, ''), 'VARCHAR'))}"
            for name in names
        )
        return (
            f"read_csv({sql_text(str(path or self.spec.path))}, header = {path is None}, "
            "auto_detect = false, "
            f"columns = {{{columns}}}, delim = ',', quote = '\"', escape = '\"', {options})"
        )

    def _column(self, name: str, text: bool) -> str:
        if name not in self.present:
            return f"NULL::VARCHAR AS {name}"
        column = sql_name(self.spec.file_column(name))
        return f"CAST({column} AS VARCHAR) AS {name}" if text else f"{column} AS {name}"

    def raw_rows(self, numbered: bool = False) -> str:
        """Every column as text (Parquet's, or CSV's for the ordered second read)."""
        columns = ", ".join(self._column(name, text=True) for name in KNOWN_COLUMNS)
        if self.spec.is_parquet:
            extra = ", file_row_number = true" if numbered else ""
            scan = f"read_parquet({sql_text(str(self.spec.path))}{extra})"
            line = "file_row_number + 1"  # Parquet rows count from 1
        else:
            # Nothing skipped or refused, so that rows are numbered as the reader numbers
            # lines: short rows padded, a few surplus fields taken in spare columns. One
            # thread, which padding needs when a quoted field spans lines (the window
            # reads in order anyway).
            scan = self._csv(
                {}, "null_padding = true, parallel = false", SURPLUS_FIELDS_NUMBERED_MAX
            )
            line = "row_number() OVER () + 1"  # the header is line 1
        return f"SELECT {line + ' AS line, ' if numbered else ''}{columns} FROM {scan}"

    def rows(self, record_rejects: bool = False) -> str:
        """id, valid (false for a row without an id, or without a currency, or without an
        amount that is an integer (AMOUNT_PATTERN), or a rejected Parquet row), amount
        (BIGINT), currency (its key: CURRENCY_KEY), date, trace_id. A CSV file's rows that
        do not cast are not there; `record_rejects` records them in the rejects table (see
        `validate`, `reader_rejected_ids`), else they are skipped."""
        if self.spec.is_parquet:
            return self._parquet_rows()
        columns = ", ".join(self._column(name, text=False) for name in KNOWN_COLUMNS)
        return f"""
            SELECT id, id IS NOT NULL AND regexp_full_match(amount, {AMOUNT_PATTERN})
                    AND currency IS NOT NULL AS valid,
                TRY_CAST(amount AS BIGINT) AS amount, {CURRENCY_KEY} AS currency, date,
                trace_id
            FROM (SELECT {columns} FROM {self._typed_scan(record_rejects)})"""

    def reader_rejected_ids(self, con: duckdb.DuckDBPyConnection, work_file: Path) -> str:
        """The ids of the rows the CSV reader rejected (after `validate`), as a query: so
        that an id rejected in one file is not also missing from the other. The rejected
        lines, as the rejects table keeps them, are written to `work_file` and read again
        with every field as text (the work is the rejects', not the file's)."""
        if self.spec.is_parquet or not has_rows(con, self.rejects_table):
            return "SELECT NULL::VARCHAR AS id WHERE false"
        con.execute(
            f"COPY (SELECT any_value(csv_line) FROM {self.rejects_table} GROUP BY line) "
            f"TO {sql_text(str(work_file))} "
            "(FORMAT csv, HEADER false, QUOTE '', ESCAPE '', DELIMITER '\x1f')"
        )
        scan = self._csv(
            {},
            "null_padding = true, parallel = false, ignore_errors = true",
            SURPLUS_FIELDS_NUMBERED_MAX,
            work_file,
        )
        column = sql_name(self.spec.file_column("id"))
        return f"SELECT {column} AS id FROM {scan} WHERE {column} IS NOT NULL"

    def _typed_scan(self, record_rejects: bool) -> str:
        rejects = (
            f"store_rejects = true, rejects_table = {sql_text(self.rejects_table)}, "
            f"rejects_scan = {sql_text(self.spec.side + '_reject_scans')}"
            if record_rejects
            else "ignore_errors = true"
        )
        return self._csv(CSV_TYPES, rejects)

    def validate(self, con: duckdb.DuckDBPyConnection) -> None:
        """Read a CSV file once with the rejects table on, every typed column parsed. On
        its own: in the same pipeline as the comparison's grouping, DuckDB holds memory for
        the rejects that grows with the file (measured: a 3-million-row pair needed more
        than 400 MB, against under 300 MB without), so the comparison reads the file again
        with errors skipped, the rejects being recorded here."""
        if self.spec.is_parquet:
            return
        columns = ", ".join(self._column(name, text=False) for name in KNOWN_COLUMNS)
        # The amount too, though the reader takes any text: with a column left out of the
        # projection, DuckDB 2.0 names the wrong column in the rejects table.
        con.execute(
            "SELECT count(id), min(amount), min(currency), min(date) "
            f"FROM (SELECT {columns} FROM {self._typed_scan(record_rejects=True)})"
        ).fetchall()

    def _parquet_rows(self) -> str:
        problem = " OR ".join(f"({condition})" for _, condition, _ in CHECKS)
        return f"""
            SELECT nullif(id, '') AS id, NOT ({problem}) AS valid,
                TRY_CAST(amount AS BIGINT) AS amount,
                CAST(enum_code(TRY_CAST(lower(trim(currency)) AS {CURRENCY_TYPE}))
                     % {CURRENCY_COUNT} AS SMALLINT) AS currency,
                TRY_CAST(date AS DATE) AS date, trace_id
            FROM ({self.raw_rows()})"""

    def rejected_rows(self, reader_rejects: bool, rows_invalid: bool) -> str:
        """file, line, field, value, message: one row per problem of each rejected row, in
        file order. `reader_rejects`: the CSV reader recorded some; `rows_invalid`: the
        comparison met rows that failed the SQL checks (only then is a CSV file read
        again)."""
        parts = []
        if reader_rejects:
            parts.append(
                f"SELECT line, column_name AS field, {_REJECT_VALUE} AS value, "
                f"{self._reject_message()} AS message FROM {self.rejects_table}"
            )
        if self.spec.is_parquet:
            parts.append(self._problems(CHECKS))
        elif rows_invalid:
            # Rows the reader rejected are listed from its table (whose casts do not read
            # the amount): not again for a padded column they lack.
            known = (
                f" WHERE line NOT IN (SELECT line FROM {self.rejects_table}) "
                f"OR problem.message = {sql_text(_AMOUNT_MESSAGE)}"
            )
            parts.append(self._problems(INCOMPLETE_CHECKS) + (known if reader_rejects else ""))
        if not parts:
            parts.append(
                "SELECT NULL::BIGINT AS line, NULL::VARCHAR AS field, NULL::VARCHAR AS value, "
                "NULL::VARCHAR AS message WHERE false"
            )
        return f"""
            SELECT DISTINCT {sql_text(str(self.spec.path))} AS file, line, field, value, message
            FROM ({" UNION ALL ".join(parts)}) ORDER BY line, field"""

    def _reject_message(self) -> str:
        by_column = " ".join(
            f"WHEN column_name = {sql_text(self.spec.file_column(name))} THEN {sql_text(text)}"
            for name, text in (
                ("currency", _CURRENCY_MESSAGE),
                ("date", _DATE_MESSAGE),
            )
        )
        return f"""CASE
            WHEN error_type = 'MISSING COLUMNS' THEN 'the row has fewer columns than the header'
            WHEN error_type = 'TOO MANY COLUMNS' THEN 'the row has more columns than the header'
            WHEN error_type <> 'CAST' THEN error_message
            {by_column}
            ELSE error_message
        END"""

    def _problems(self, checks: Sequence[tuple[str, str, str]]) -> str:
        listed = ", ".join(
            f"CASE WHEN {condition} THEN {{'field': {sql_text(self.spec.file_column(name))}, "
            f"'value': {name}, 'message': {message}}} END"
            for name, condition, message in checks
        )
        return f"""
            SELECT line, problem.field AS field, problem.value AS value,
                problem.message AS message
            FROM (SELECT line, unnest(list_filter([{listed}], lambda p: p IS NOT NULL))
                      AS problem
                  FROM ({self.raw_rows(numbered=True)}))"""


SURPLUS_FIELDS_NUMBERED_MAX: Final = 16
"""Fields beyond the header's that a row may have and still be numbered by the ordered
read (the typed read has rejected it already); a row with more stops that read."""

CSV_TYPES: Final = {
    "currency": CURRENCY_TYPE,
    "date": "DATE",
}
"""The CSV reader's types for Kassa's columns; any other column, the amount included (see
AMOUNT_PATTERN), is VARCHAR."""

_AMOUNT_MESSAGE: Final = "the amount is not an integer number of minor units"
_CURRENCY_MESSAGE: Final = "not a currency Kassa knows (ISO 4217, e.g. usd)"
_DATE_MESSAGE: Final = "the date is not a date YYYY-MM-DD"

_REJECT_VALUE: Final = (
    "CASE WHEN error_type = 'CAST' "
    "THEN regexp_extract(error_message, 'Could not convert string \"(.*)\" to', 1) "
    "ELSE csv_line END"
)

CHECKS: Final = (
    ("id", "id IS NULL OR trim(id) = ''", "'no id'"),
    ("amount", "amount IS NULL", "'no amount'"),
    (
        "amount",
        f"amount IS NOT NULL AND NOT regexp_full_match(amount, {AMOUNT_PATTERN})",
        sql_text(_AMOUNT_MESSAGE),
    ),
    ("currency", "currency IS NULL", "'no currency'"),
    (
        "currency",
        f"currency IS NOT NULL AND TRY_CAST(lower(trim(currency)) AS {CURRENCY_TYPE}) IS NULL",
        sql_text(_CURRENCY_MESSAGE),
    ),
    (
        "date",
        "date IS NOT NULL AND TRY_CAST(date AS DATE) IS NULL",
        sql_text(_DATE_MESSAGE),
    ),
)
"""(column, when the row fails, the message): what makes a row rejected."""

INCOMPLETE_CHECKS: Final = CHECKS[:4]
"""What a CSV row the reader took can still lack (an id, an amount, a currency) or get
wrong (an amount that is not an integer, which the reader reads as text); the reader
rejected the rest."""


def _one_column_each(spec: InputFile, present: Sequence[str]) -> None:
    """Two of Kassa's names read from one column (`id=amount`) would compare a column with
    itself."""
    named: dict[str, str] = {}
    for name in present:
        column = spec.file_column(name)
        if column in named:
            raise InputError(
                f"--{spec.side}-columns gives the column {column} to both {named[column]} "
                f"and {name}: each of {', '.join(KNOWN_COLUMNS)} needs a column of its own"
            )
        named[column] = name


def csv_column_names(spec: InputFile, header: Sequence[str], used: Sequence[str]) -> list[str]:
    """The names DuckDB reads the file's columns by. A blank one (a trailing comma, as bank
    exports often write) and a repeated one that Kassa does not read are given a name of
    their own and ignored; a column Kassa reads named twice (names compare without case,
    as DuckDB's do) is an InputError, since which one is meant cannot be told."""
    names: list[str] = []
    first_at: dict[str, int] = {}
    read = {name.lower() for name in used}
    for position, name in enumerate(header, start=1):
        folded = name.lower()
        if folded in first_at and folded in read:
            raise InputError(
                f"{spec.path}: the column {name} appears twice in the header (columns "
                f"{first_at[folded]} and {position}): rename or remove one"
            )
        if not name or folded in first_at:
            names.append(f"kassa_ignored_{position}")
            continue
        first_at[folded] = position
        names.append(name)
    return names


def has_rows(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether `table` exists and has rows (a rejects table is made by the first reject)."""
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [table]
    ).fetchone()
    if not found or not found[0]:
        return False
    rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    return bool(rows and rows[0])


def source_for(con: duckdb.DuckDBPyConnection, spec: InputFile, wanted: Sequence[str]) -> Source:
    """`spec` checked (the file is there, its header names the columns) and described."""
    header = parquet_header(con, spec) if spec.is_parquet else csv_header(spec.path)
    present = file_columns(spec, header, wanted)
    _one_column_each(spec, present)
    if not spec.is_parquet:
        header = csv_column_names(spec, header, [spec.file_column(n) for n in present])
    return Source(spec, tuple(present), tuple(header))
