"""An import file read as a stream of rows, each decoded into the form the API would receive.

Normalizing: the file is UTF-8 (a byte order mark, as spreadsheets write one, is skipped);
cells and column names are stripped of surrounding blanks; an empty cell is a parameter not
sent; blank lines are skipped. A column name is a parameter in Stripe's bracket form,
decoded by the API's own form decoder (`kassa.http.forms`), so `metadata[0]` stays a key
and `preferred_locales[0]` an item, as the parameter schema says.

Errors name the line a row starts on (the header is line 1) and the parameter or column.
A file that cannot be read on (a quote never closed or followed by text, a line that is not
UTF-8) ends with the error of the line where that happens: nothing after it is guessed at.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlencode

from kassa.errors import InvalidParameter, KassaError, MissingParameter, UnknownParameter
from kassa.http.forms import MAX_FIELDS, decode_form
from kassa.imports.kinds import EXTERNAL_ID, EXTERNAL_ID_CHARS_MAX, ImportKind, Reference
from kassa.params import String

ROWS_PER_FILE_MAX = 10_000_000
"""Rows one file may hold: ten times the million-customer benchmark."""
COLUMNS_MAX = MAX_FIELDS
"""Columns a header may name: the parameters one API request may carry."""
READ_BUFFER_BYTES = 1 << 20

_KEY = String(max_chars=EXTERNAL_ID_CHARS_MAX)


@dataclass(frozen=True, order=True)
class RowError:
    line: int
    field: str
    """The parameter in bracket form (as the API's error names it), or the column."""
    message: str


@dataclass(frozen=True)
class SourceRow:
    line: int
    key: str
    form: dict[str, Any]
    """The parameters sent, decoded (before references are resolved)."""
    references: tuple[tuple[Reference, str], ...]
    """References given in this row, each with the key of the object it names."""


@dataclass(frozen=True)
class Header:
    key_column: str
    key_index: int
    params: tuple[tuple[int, str, tuple[str, ...]], ...]
    """(cell index, parameter name, its path in the form) of the columns sent to the
    parser: `address[city]` is `("address", "city")`."""
    references: tuple[tuple[int, Reference], ...]
    width: int


def read_header(kind: ImportKind, names: Sequence[str]) -> Header | list[RowError]:
    """The header line's columns, or every error found in it (all on line 1)."""
    columns = [name.strip() for name in names]
    if not any(columns):
        return [RowError(1, "", "The file has no header line naming its columns.")]
    if len(columns) > COLUMNS_MAX:
        return [RowError(1, "", f"A header names at most {COLUMNS_MAX} columns.")]
    errors = [
        RowError(1, name, f"The column {name!r} appears more than once.")
        for index, name in enumerate(columns)
        if name in columns[:index]
    ]
    references = {ref.column: ref for ref in kind.references}
    params = [
        (index, name)
        for index, name in enumerate(columns)
        if name != EXTERNAL_ID and name not in references
    ]
    paths = _parameter_paths(kind, [name for _, name in params])
    if isinstance(paths, list):
        errors += paths
    key_column = _key_column(kind, columns)
    if key_column is None:
        errors.append(RowError(1, EXTERNAL_ID, _missing_key_message(kind)))
    if errors or key_column is None or isinstance(paths, list):
        return sorted(errors)
    return Header(
        key_column=key_column,
        key_index=columns.index(key_column),
        params=tuple((index, name, paths[name]) for index, name in params),
        references=tuple((i, references[n]) for i, n in enumerate(columns) if n in references),
        width=len(columns),
    )


def _key_column(kind: ImportKind, columns: Sequence[str]) -> str | None:
    if EXTERNAL_ID in columns:
        return EXTERNAL_ID
    return "id" if kind.id_is_key and "id" in columns else None


def _missing_key_message(kind: ImportKind) -> str:
    choices = "an external_id column" + (" (or an id column)" if kind.id_is_key else "")
    return (
        f"The file needs {choices}: each row's key, so that importing the file again "
        "creates nothing twice."
    )


def _parameter_paths(
    kind: ImportKind, names: Sequence[str]
) -> dict[str, tuple[str, ...]] | list[RowError]:
    """Each column's path in the form, as the API's form decoder reads its name; or the
    columns that are no create parameter, malformed or clashing (`address` beside
    `address[city]`), found once rather than on every row."""
    known = kind.params
    errors = [
        RowError(1, name, UnknownParameter(name).message)
        for name in names
        if name.partition("[")[0] not in known
    ]
    if errors:
        return errors
    try:
        decode_form(urlencode([(name, "x") for name in names]).encode())
        paths = {name: _path_of(name) for name in names}
    except KassaError as error:
        return [RowError(1, error.param or "", error.message)]
    return paths


def _path_of(column: str) -> tuple[str, ...]:
    """The keys the form decoder nests a value of `column` under. A list appended to
    (`preferred_locales[]`) would take one item per column name, and a name appears once:
    list items are named by index instead (`preferred_locales[0]`), as the SDKs send them."""
    node: Any = decode_form(urlencode([(column, "x")]).encode())
    path: list[str] = []
    while isinstance(node, dict):  # bounded: the decoder's MAX_DEPTH
        ((key, node),) = node.items()
        path.append(key)
    if not isinstance(node, str):
        raise InvalidParameter(
            f"Name list items by index in a column: {column.replace('[]', '[0]', 1)}",
            param=column,
        )
    return tuple(path)


def decode_row(header: Header, line: int, cells: Sequence[str]) -> SourceRow | RowError:
    """One row's key, parameters and references; or its first error."""
    if len(cells) > header.width:
        return RowError(
            line, "", f"The row has {len(cells)} cells; the header names {header.width} columns."
        )
    padded = [cell.strip() for cell in cells] + [""] * (header.width - len(cells))
    try:
        key = padded[header.key_index]
        if not key:
            raise MissingParameter(header.key_column)
        _refuse_nul(_KEY.parse(key, header.key_column), header.key_column)
        form = _form(header, padded)
        references = tuple((ref, padded[i]) for i, ref in header.references if padded[i])
        for ref, referenced in references:
            _refuse_nul(referenced, ref.column)
            if ref.param[0] in form:
                raise InvalidParameter(
                    f"Give {ref.param_name} or {ref.column}, not both.", param=ref.column
                )
    except KassaError as error:
        return RowError(line, error.param or "", error.message)
    return SourceRow(line, key, form, references)


def _refuse_nul(value: str, name: str) -> None:
    """The form decoder's rule: no NUL in strings (PostgreSQL's text cannot hold one)."""
    if "\x00" in value:
        raise InvalidParameter("Strings may not contain NUL characters.", param=name)


def _form(header: Header, cells: Sequence[str]) -> dict[str, Any]:
    """The row's non-empty cells nested by their columns' paths: what the form decoder makes
    of them (the header was decoded whole, so no subset of its columns clashes)."""
    form: dict[str, Any] = {}
    for index, name, path in header.params:
        value = cells[index]
        if not value:
            continue
        _refuse_nul(value, name)
        node = form
        for key in path[:-1]:  # bounded: the decoder's MAX_DEPTH
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return form


class NotUtf8(Exception):
    """A line of the file is not UTF-8."""

    def __init__(self, line: int, error: UnicodeDecodeError) -> None:
        super().__init__(
            f"Line {line} is not UTF-8 (byte {error.object[error.start]:#04x} at position "
            f"{error.start + 1}); save the file as UTF-8 (in a spreadsheet: CSV UTF-8)."
        )
        self.line = line


def decoded_lines(binary: BinaryIO) -> Iterator[str]:
    """The file's lines as text, decoded one at a time so that a byte that is not UTF-8 is
    reported on its own line (a text wrapper decodes a block ahead of the reading)."""
    encoding = "utf-8-sig"  # a spreadsheet's byte order mark, on the first line only
    for number, raw in enumerate(binary, start=1):  # bounded: the file's lines
        try:
            yield raw.decode(encoding)
        except UnicodeDecodeError as error:
            raise NotUtf8(number, error) from None
        encoding = "utf-8"


_CSV_MESSAGES = {
    "unexpected end of data": "A quote opened in this row is never closed, so every line "
    "after it would be its text: close the quote (a quote inside a cell is written twice: "
    '"").',
    "',' expected after '\"'": "A quoted cell goes on after its closing quote: quote the "
    'whole cell and write a quote inside it twice ("").',
}
"""What Python's csv module says of a broken quote (strict), said so the fix is plain."""


def _unreadable(line: int, error: csv.Error | NotUtf8) -> RowError:
    if isinstance(error, NotUtf8):
        return RowError(error.line, "", str(error))
    text = str(error)
    message = _CSV_MESSAGES.get(text, f"The file cannot be read from here on: {text}")
    return RowError(line, "", message)


class RowSource:
    """A file's rows in order, with how far into the file the reading is."""

    def __init__(self, kind: ImportKind, binary: BinaryIO, size_bytes: int) -> None:
        self._binary = binary
        self.size_bytes = size_bytes
        self._reader = csv.reader(decoded_lines(binary), strict=True)
        self.header: Header | list[RowError]
        self.has_header_line = True
        """False for an empty file, or one whose first line is blank: nothing to import
        (the command cannot run), rather than a row with errors."""
        try:
            names = next(self._reader, [])
            self.has_header_line = bool(names)
            self.header = read_header(kind, names)
        except (csv.Error, NotUtf8) as error:
            self.header = [_unreadable(1, error)]

    @property
    def position_bytes(self) -> int:
        return self._binary.tell()

    def rows(self) -> Iterator[SourceRow | RowError]:
        """Each row, decoded; a file that cannot be read on (bad UTF-8, a broken quote, a
        cell past csv's size limit) ends with that line's error."""
        header = self.header
        if not isinstance(header, Header):
            return
        line = self._reader.line_num + 1
        count = 0
        try:
            for cells in self._reader:  # bounded: ROWS_PER_FILE_MAX
                if cells:
                    count += 1
                    if count > ROWS_PER_FILE_MAX:
                        yield RowError(line, "", f"A file holds at most {ROWS_PER_FILE_MAX} rows.")
                        return
                    yield decode_row(header, line, cells)
                line = self._reader.line_num + 1
        except (csv.Error, NotUtf8) as error:
            yield _unreadable(line, error)


@contextmanager
def open_rows(kind: ImportKind, path: Path) -> Iterator[RowSource]:
    """The file's rows (OSError when it cannot be opened)."""
    with path.open("rb", buffering=READ_BUFFER_BYTES) as binary:
        yield RowSource(kind, binary, path.stat().st_size)
