"""Search over object documents (Stripe's `/v1/{collection}/search`): the conditions a search
query resolves to, and their SQL on both engines.

The services parse Stripe's query language and resolve each clause against the resource's
declared search fields into a `FieldCondition` (a path into the object's JSON document, how
its value compares, the operator and the value); this module turns those into SQL. Values
and metadata keys are always bound parameters; document paths come from the declarations
(checked against `_PATH_SEGMENT`), never from the query.

Engines: statements are written for SQLite (`json_extract(doc, '$.a.b')`, `json_each` for a
metadata key), each document expression behind a marker, and the PostgreSQL executor
rewrites the markers (`postgres_json_expressions`) to `(doc::jsonb #>> '{a,b}')` and
friends, as it rewrites `SKIP_LOCKED` and `FOR_UPDATE` (see `kassa.store.queries`). Text
is compared lowercased by `LOWER` (`kassa.store.statements`), which folds every letter on
both engines as PostgreSQL's lower() does.

Work is bounded: a page examines at most `ObjectSearch.rows_scanned_max` of the account's
objects, newest first from where the previous page ended. When fewer than a page of them
match, the page says where the scan stopped, and the next page goes on from there. Objects
a resource never shows (`ObjectSearch.nulls`) are among those examined: they are tested
with the query, so a run of them cannot make one page read past the bound.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from kassa.invariants import ensure
from kassa.store.pages import check_filter_column, null_conditions
from kassa.store.statements import LIKE_ESCAPE, LOWER, like_escaped
from kassa.store.tables import ObjectTable

if TYPE_CHECKING:
    from kassa.store.queries import Executor

SEARCH_ROWS_SCANNED_CEILING = 100_000
"""No caller may ask one statement to examine more rows than this."""
SEARCH_PAGE_ROWS_CEILING = 1_000
SEARCH_CONDITIONS_CEILING = 100

_PATH_SEGMENT = re.compile(r"[a-z0-9_]+")


class ValueKind(enum.Enum):
    """How a document value compares."""

    TEXT = "text"
    """Strings: exact and substring matches, case-insensitive."""
    NUMBER = "number"
    """Integers (amounts, timestamps): exact match and ranges."""
    BOOLEAN = "boolean"


class Comparison(enum.Enum):
    EQUALS = "="
    CONTAINS = "~"
    GREATER = ">"
    GREATER_OR_EQUAL = ">="
    LESS = "<"
    LESS_OR_EQUAL = "<="
    IS_NULL = "null"
    """Null or absent."""


_RANGES = (
    Comparison.GREATER,
    Comparison.GREATER_OR_EQUAL,
    Comparison.LESS,
    Comparison.LESS_OR_EQUAL,
)


@dataclass(frozen=True)
class FieldCondition:
    path: tuple[str, ...]
    """The field in the document: ("payment_method_details", "card", "last4"); for a
    metadata condition, the hash holding the keys: ("metadata",)."""
    kind: ValueKind
    comparison: Comparison
    value: str | int | bool | None
    """Text for TEXT (the substring itself for CONTAINS), int for NUMBER, bool for BOOLEAN,
    None for IS_NULL."""
    negated: bool = False
    """True: the objects this condition does not match (those where the field is null
    included)."""
    key: str | None = None
    """The metadata key: the condition is on the value `path`'s hash holds under it."""


@dataclass(frozen=True)
class ObjectSearch:
    conditions: tuple[FieldCondition, ...]
    match_all: bool
    """AND (every condition) or OR (any one)."""
    limit: int
    rows_scanned_max: int
    """The most rows this page examines (the work bound)."""
    before_seq: int | None = None
    """Where the previous page stopped: only rows of lower seq."""
    nulls: Mapping[str, bool] = field(default_factory=dict)
    """Filter column -> whether it must be NULL (True) or must not be (False) for a row to
    match: objects the resource never shows (inline prices), whatever the query. They are
    inside the window, so they take their share of `rows_scanned_max` (no index leads with
    such a column)."""


@dataclass(frozen=True)
class SearchPage:
    objects: list[dict[str, Any]]
    next_before_seq: int | None
    """Where the next page starts (below this seq); None: nothing more can match."""


def _checked_path(path: Sequence[str]) -> str:
    ensure(
        bool(path) and all(_PATH_SEGMENT.fullmatch(segment) for segment in path),
        f"a search path is declared as lowercase names: {path!r}",
    )
    return ".".join(path)


def _document_value(condition: FieldCondition) -> tuple[str, list[Any]]:
    """SQL for the value a condition tests, with its arguments (a metadata key)."""
    dotted = _checked_path(condition.path)
    if condition.key is not None:
        return (
            f"/*DOC_KEY*/(SELECT value FROM json_each(doc, '$.{dotted}') WHERE key = ?)",
            [condition.key],
        )
    if dotted == "created":
        return "created", []  # every object table has it as an indexed column
    return f"/*DOC_{condition.kind.name}*/json_extract(doc, '$.{dotted}')", []


def _like_pattern(text: str) -> str:
    return f"%{like_escaped(text)}%"


def _condition_sql(condition: FieldCondition) -> tuple[str, list[Any]]:
    value, args = _document_value(condition)
    comparison = condition.comparison
    if comparison is Comparison.IS_NULL:
        sql = f"{value} IS NULL"
    elif comparison is Comparison.CONTAINS:
        ensure(condition.kind is ValueKind.TEXT, "substring matches are on text")
        sql = f"{LOWER}({value}) LIKE {LOWER}(?) ESCAPE '{LIKE_ESCAPE}'"
        args.append(_like_pattern(str(condition.value)))
    elif comparison in _RANGES:
        ensure(condition.kind is ValueKind.NUMBER, "ranges are on numbers")
        sql = f"{value} {comparison.value} ?"
        args.append(condition.value)
    elif condition.kind is ValueKind.TEXT:
        sql = f"{LOWER}({value}) = {LOWER}(?)"
        args.append(condition.value)
    else:
        sql = f"{value} = ?"
        args.append(condition.value)
    if condition.negated:
        # A comparison with null is unknown: a negated clause keeps the objects without
        # the field, as "does not match" means.
        sql = f"NOT COALESCE({sql}, FALSE)"
    return sql, args


def _matching(search: ObjectSearch) -> tuple[str, list[Any]]:
    ensure(
        0 < len(search.conditions) <= SEARCH_CONDITIONS_CEILING,
        f"a search has 1 to {SEARCH_CONDITIONS_CEILING} conditions",
    )
    parts = [_condition_sql(condition) for condition in search.conditions]
    joiner = " AND " if search.match_all else " OR "
    return "(" + joiner.join(sql for sql, _ in parts) + ")", [a for _, args in parts for a in args]


def _found(table: ObjectTable, search: ObjectSearch) -> tuple[str, list[Any]]:
    """What a row of the window must be to be found: allowed by the search's `nulls` and
    matching its conditions."""
    matching, args = _matching(search)
    return " AND ".join([*null_conditions(table, search.nulls), matching]), args


def _window(
    account_id: str, search: ObjectSearch, settled_below: int | None
) -> tuple[str, list[Any]]:
    """The rows a page may examine, before its bound: the account's live objects below
    `before_seq`; only settled ones when `settled_below` (`kassa.store.seq_order`) is
    given."""
    ensure(
        0 < search.rows_scanned_max <= SEARCH_ROWS_SCANNED_CEILING,
        f"a search examines 1 to {SEARCH_ROWS_SCANNED_CEILING} rows",
    )
    where = ["account_id = ?", "deleted = 0"]
    args: list[Any] = [account_id]
    if search.before_seq is not None:
        where.append("seq < ?")
        args.append(search.before_seq)
    if settled_below is not None:
        where.append("seq < ?")
        args.append(settled_below)
    return " AND ".join(where), args


def _scanned(
    table: ObjectTable, account_id: str, search: ObjectSearch, settled_below: int | None
) -> tuple[str, list[Any]]:
    """The window a page examines: `_window`'s rows, newest first, at most
    `rows_scanned_max` of them, with the columns `_found` tests."""
    for column in search.nulls:
        check_filter_column(table, column)
    selected = ", ".join(["seq", "created", "doc", *search.nulls])
    where, args = _window(account_id, search, settled_below)
    sql = f"SELECT {selected} FROM {table.name} WHERE {where} ORDER BY seq DESC LIMIT ?"
    return sql, [*args, search.rows_scanned_max]


async def search_rows(
    db: Executor,
    table: ObjectTable,
    account_id: str,
    search: ObjectSearch,
    *,
    settled_below: int | None,
) -> SearchPage:
    """One page: up to `limit` matching objects, newest first, among at most
    `rows_scanned_max` rows below `before_seq`."""
    ensure(0 < search.limit <= SEARCH_PAGE_ROWS_CEILING, "a search page has a bounded limit")
    window, window_args = _scanned(table, account_id, search, settled_below)
    matching, matching_args = _found(table, search)
    rows = await db.fetchall(
        f"SELECT doc, seq FROM ({window}) AS scanned WHERE {matching} ORDER BY seq DESC LIMIT ?",
        (*window_args, *matching_args, search.limit + 1),
    )
    ensure(len(rows) <= search.limit + 1, "a search page fetches at most limit + 1 rows")
    objects = [_loads(row[0]) for row in rows[: search.limit]]
    if len(rows) > search.limit:
        return SearchPage(objects, next_before_seq=int(rows[search.limit - 1][1]))
    return SearchPage(objects, await _scan_stop(db, table, account_id, search, settled_below))


async def _scan_stop(
    db: Executor,
    table: ObjectTable,
    account_id: str,
    search: ObjectSearch,
    settled_below: int | None,
) -> int | None:
    """Where the next page starts when this one found fewer matches than its limit: below
    the oldest row examined, if the window was full and rows remain below it; else
    nowhere. (One index probe: the last row of the window and the one after it.)"""
    where, args = _window(account_id, search, settled_below)
    rows = await db.fetchall(
        f"SELECT seq FROM {table.name} WHERE {where} ORDER BY seq DESC LIMIT 2 OFFSET ?",
        (*args, search.rows_scanned_max - 1),
    )
    return int(rows[0][0]) if len(rows) == 2 else None


async def count_matches(
    db: Executor,
    table: ObjectTable,
    account_id: str,
    search: ObjectSearch,
    *,
    settled_below: int | None,
) -> int:
    """How many of the account's newest `rows_scanned_max` objects match (Stripe's
    `total_count`, which it counts accurately only up to 10,000 too)."""
    from_newest = dataclasses.replace(search, before_seq=None)
    window, window_args = _scanned(table, account_id, from_newest, settled_below)
    matching, matching_args = _found(table, search)
    row = await db.fetchone(
        f"SELECT count(*) FROM ({window}) AS scanned WHERE {matching}",
        (*window_args, *matching_args),
    )
    ensure(row is not None, "an aggregate answers one row")
    return int(row[0]) if row is not None else 0


_POSTGRES_DOC_VALUE = re.compile(
    r"/\*DOC_(TEXT|NUMBER|BOOLEAN)\*/json_extract\(doc, '\$\.([a-z0-9_.]+)'\)"
)
_POSTGRES_DOC_KEY = re.compile(
    r"/\*DOC_KEY\*/\(SELECT value FROM json_each\(doc, '\$\.([a-z0-9_.]+)'\) WHERE key = \?\)"
)
_POSTGRES_CASTS = {"TEXT": "", "NUMBER": "::numeric", "BOOLEAN": "::boolean"}


def _postgres_path(dotted: str) -> str:
    return "'{" + dotted.replace(".", ",") + "}'"


def _postgres_doc_value(match: re.Match[str]) -> str:
    return f"((doc::jsonb #>> {_postgres_path(match[2])}){_POSTGRES_CASTS[match[1]]})"


def _postgres_doc_key(match: re.Match[str]) -> str:
    return f"((doc::jsonb #> {_postgres_path(match[1])}) ->> ?::text)"


def postgres_json_expressions(sql: str) -> str:
    """The document expressions of a search statement in PostgreSQL's terms: the same
    values (text; numbers as numeric, booleans as boolean; NULL when absent or null), the
    same `?` in the same places."""
    if "/*DOC_" not in sql:
        return sql
    return _POSTGRES_DOC_KEY.sub(
        _postgres_doc_key, _POSTGRES_DOC_VALUE.sub(_postgres_doc_value, sql)
    )


def _loads(doc: str | bytes) -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads(doc)
    return loaded
