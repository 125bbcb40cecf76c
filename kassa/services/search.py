"""Stripe's Search API (`GET /v1/{collection}/search`) for any resource stored as documents:
the query language parsed into a typed query, resolved against the resource's declared
search fields, and run by the store (`kassa.store.search_queries`).

Declaring search: a resource opts in with one line in its `Resource`, naming its table (its
`ObjectTable`), its collection (the URL is `/v1/{collection}/search`; messages name it) and
its search fields: Stripe's query field names, each the dotted path of the field in the
object's JSON (lowercase), with its type, or with `at(path, type)` when the value lies
elsewhere than the name says::

    search=search_operation(
        CUSTOMERS,
        "customers",
        {"created": NUMBER, "email": STRING, "metadata": METADATA, "name": STRING},
    ),

Types, as Stripe's lists of query fields give them (docs.stripe.com/search):

- `STRING`: exact match (`email:"amy@example.com"`) and substring match
  (`name~"amy"`, at least SUBSTRING_CHARS_MIN characters), both case-insensitive.
- `TOKEN`: exact match only (`status:"succeeded"`), case-insensitive.
- `BOOLEAN`: a token whose values are `true` and `false` (`refunded:"true"`).
- `NUMBER`: integers and timestamps: exact match and `>`, `<`, `>=`, `<=`
  (`amount>1000`, `created<=1700000000`).
- `METADATA`: a hash searched by key: `metadata["order"]:"6735"` (or `metadata['order']`).

A field's values must be what its type says: a NUMBER field holds JSON numbers, a BOOLEAN
field JSON booleans (PostgreSQL casts them), each or null. Every field also takes
`field:null` (null or absent) and negation (`-currency:"usd"`, which keeps the objects
without a currency too). Clauses combine with spaces or `AND`, or with `OR`, never both in
one query (Stripe's rule).

Work per request is bounded: a page examines at most SEARCH_ROWS_SCANNED_MAX of the
account's objects, newest first. When that window holds fewer matches than `limit`, the
page returns those with `has_more` and a `next_page` that goes on below the window: a rare,
selective query over a large account may take several pages, some of them short or empty
(the SDKs' auto-pagination stops at an empty page; follow `next_page` while `has_more`).
`expand[]=total_count` counts the matches among the newest SEARCH_ROWS_SCANNED_MAX objects
(Stripe's own count is accurate only up to 10,000).
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from kassa.errors import InvalidParameter, InvalidRequest
from kassa.invariants import ensure
from kassa.params import INT64_MAX, Integer, String, parse_params
from kassa.services.context import Context
from kassa.services.resource import ApiObject, Form, Operation, RouteIds
from kassa.store.search_queries import (
    Comparison,
    FieldCondition,
    ObjectSearch,
    ValueKind,
)
from kassa.store.tables import ObjectTable

SEARCH_LIMIT_DEFAULT = 10
SEARCH_LIMIT_MAX = 100
QUERY_CHARS_MAX = 5_000
"""Stripe's limit on `query`."""
QUERY_CLAUSES_MAX = 10
"""Clauses one query may hold: each is a document lookup per examined object."""
SUBSTRING_CHARS_MIN = 3
"""Stripe's shortest substring for `~`."""
SEARCH_ROWS_SCANNED_MAX = 10_000
"""The most objects one search request examines (a page, or a total count)."""
PAGE_TOKEN_CHARS_MAX = 100

SEARCH_PARAMS = {
    "query": String(max_chars=QUERY_CHARS_MAX),
    "limit": Integer(minimum=1, maximum=SEARCH_LIMIT_MAX),
    "page": String(max_chars=PAGE_TOKEN_CHARS_MAX),
}
QUERY_PARAM = "query"
_SEARCHED = "search.searched"
"""`ctx.memo` key: the search this request ran, for `expand[]=total_count`."""


# -- declarations ---------------------------------------------------------------------------


class FieldType(enum.Enum):
    STRING = "string"
    TOKEN = "token"
    BOOLEAN = "boolean"
    NUMBER = "number"
    METADATA = "metadata"


STRING = FieldType.STRING
TOKEN = FieldType.TOKEN
BOOLEAN = FieldType.BOOLEAN
NUMBER = FieldType.NUMBER
METADATA = FieldType.METADATA


@dataclass(frozen=True)
class FieldAt:
    """A search field kept elsewhere in the object than its name says: Stripe's invoice
    field `subscription` is `parent.subscription_details.subscription` since API 2025-03-31
    (`at("parent.subscription_details.subscription", STRING)`)."""

    path: str
    """The dotted path of the value in the object's JSON (lowercase)."""
    field_type: FieldType


def at(path: str, field_type: FieldType) -> FieldAt:
    return FieldAt(path, field_type)


SearchFields = Mapping[str, FieldType | FieldAt]
"""Field name as queried -> its type (the name is the dotted path into the object), or its
type at another path (`FieldAt`)."""

_FIELD_NAME = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+)*")
_VALUE_KINDS = {
    FieldType.STRING: ValueKind.TEXT,
    FieldType.TOKEN: ValueKind.TEXT,
    FieldType.METADATA: ValueKind.TEXT,
    FieldType.BOOLEAN: ValueKind.BOOLEAN,
    FieldType.NUMBER: ValueKind.NUMBER,
}


# -- the query language ---------------------------------------------------------------------

Operator = Literal[":", "~", ">", "<", ">=", "<="]
Conjunction = Literal["AND", "OR"]
_OPERATORS: tuple[Operator, ...] = (">=", "<=", ":", "~", ">", "<")
"""Longest first: `>=` before `>`."""


@dataclass(frozen=True)
class Value:
    text: str
    quoted: bool
    """False for the bare words the language allows: numbers, `true` and `false`."""


@dataclass(frozen=True)
class Clause:
    field: str
    operator: Operator
    value: Value | None
    """None: `null`."""
    key: str | None = None
    """`metadata["key"]`: the key."""
    negated: bool = False


@dataclass(frozen=True)
class Query:
    clauses: tuple[Clause, ...]
    conjunction: Conjunction


_NAME = re.compile(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*")
_BARE = re.compile(r"[^\s]+")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_INTEGER = re.compile(r"-?[0-9]{1,19}")
_BARE_WORDS = ("true", "false")
_QUOTES = "\"'"
_ESCAPE = "\\"


def _query_error(message: str) -> InvalidRequest:
    return InvalidRequest(message, param=QUERY_PARAM)


class _Cursor:
    """A position in the query text; every step consumes at least one character or fails,
    so parsing is bounded by the text's length (at most QUERY_CHARS_MAX)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    @property
    def done(self) -> bool:
        return self.at >= len(self.text)

    def peek(self, chars: int = 1) -> str:
        return self.text[self.at : self.at + chars]

    def skip_spaces(self) -> bool:
        start = self.at
        while not self.done and self.text[self.at].isspace():
            self.at += 1
        return self.at > start

    def take(self, literal: str) -> bool:
        if self.text.startswith(literal, self.at):
            self.at += len(literal)
            return True
        return False

    def match(self, pattern: re.Pattern[str]) -> str | None:
        found = pattern.match(self.text, self.at)
        if found is None:
            return None
        self.at = found.end()
        return found.group()

    def where(self) -> str:
        return f"at position {self.at + 1}" if not self.done else "at the end of the query"


def parse_query(text: str) -> Query:
    """Stripe's search query language: clauses separated by spaces, `AND` or `OR` (either
    case). Raises InvalidRequest (param `query`) saying what is wrong and where."""
    cursor = _Cursor(text)
    cursor.skip_spaces()
    if cursor.done:
        raise _query_error(
            'The search query is empty: give at least one clause, e.g. email:"a@b.co"'
        )
    clauses = [_clause(cursor)]
    conjunctions: set[Conjunction] = set()
    while cursor.skip_spaces() and not cursor.done:
        conjunction = _conjunction(cursor)
        conjunctions.add(conjunction)
        if len(conjunctions) > 1:
            raise _query_error(
                "A search query cannot mix AND and OR (clauses separated by spaces are "
                "joined with AND): use one of them throughout"
            )
        if len(clauses) >= QUERY_CLAUSES_MAX:
            raise _query_error(f"A search query has at most {QUERY_CLAUSES_MAX} clauses")
        clauses.append(_clause(cursor))
    if not cursor.done:
        raise _query_error(
            f"Unexpected {cursor.peek(20)!r} {cursor.where()}: separate clauses with a space, "
            "AND or OR"
        )
    return Query(tuple(clauses), conjunctions.pop() if conjunctions else "AND")


def _conjunction(cursor: _Cursor) -> Conjunction:
    """`AND` or `OR` followed by a space; anything else starts the next clause, joined with
    an implicit AND."""
    for word in ("AND", "OR"):
        following = cursor.text[cursor.at + len(word) : cursor.at + len(word) + 1]
        whole_word = following == "" or following.isspace()
        if cursor.peek(len(word)).upper() != word or not whole_word:
            continue
        cursor.at += len(word)
        cursor.skip_spaces()
        if cursor.done:
            raise _query_error(f"The search query ends with {word}: give a clause after it")
        return "AND" if word == "AND" else "OR"
    return "AND"


def _clause(cursor: _Cursor) -> Clause:
    negated = cursor.take("-")
    if cursor.peek() == "(":
        raise _query_error(f"Parentheses are not supported in search queries ({cursor.where()})")
    field = cursor.match(_NAME)
    if field is None:
        raise _query_error(
            f'Expected a field name {cursor.where()}, as in email:"a@b.co" or '
            'metadata["key"]:"value"'
        )
    key = _key(cursor, field) if cursor.peek() == "[" else None
    operator = next((op for op in _OPERATORS if cursor.take(op)), None)
    if operator is None:
        raise _query_error(
            f"Expected an operator after {field} {cursor.where()}: one of : ~ > < >= <="
        )
    return Clause(field, operator, _value(cursor, field), key, negated)


def _key(cursor: _Cursor, field: str) -> str:
    cursor.take("[")
    if cursor.done or cursor.peek() not in _QUOTES:
        raise _query_error(f'Quote the key of {field}[...] {cursor.where()}, as in {field}["key"]')
    key = _quoted(cursor)
    if not cursor.take("]"):
        raise _query_error(f"Expected ] after the key of {field} {cursor.where()}")
    if not key:
        raise _query_error(f"The key of {field}[...] is empty")
    return key


def _value(cursor: _Cursor, field: str) -> Value | None:
    if cursor.done or cursor.peek().isspace():
        raise _query_error(f"Expected a value for {field} {cursor.where()}")
    if cursor.peek() in _QUOTES:
        return Value(_quoted(cursor), quoted=True)
    bare = cursor.match(_BARE)
    ensure(bare is not None, "a non-space character starts a bare value")
    word = bare or ""
    if word.lower() == "null":
        return None
    if _NUMBER.fullmatch(word) or word.lower() in _BARE_WORDS:
        return Value(word.lower(), quoted=False)
    raise _query_error(
        f'Invalid value {word[:40]!r} for {field}: quote string values, as in {field}:"{word[:40]}"'
    )


def _quoted(cursor: _Cursor) -> str:
    """A string in double or single quotes; a backslash takes the next character as it is
    (`\\"` is a quote inside the string)."""
    quote = cursor.peek()
    start = cursor.where()
    cursor.at += 1
    chars: list[str] = []
    while not cursor.done:
        char = cursor.text[cursor.at]
        cursor.at += 1
        if char == quote:
            return "".join(chars)
        if char == _ESCAPE and not cursor.done:
            char = cursor.text[cursor.at]
            cursor.at += 1
        chars.append(char)
    raise _query_error(f"The string starting {start} has no closing {quote}")


# -- resolving a query against a resource's fields -------------------------------------------


@dataclass(frozen=True)
class ObjectSearchConditions:
    conditions: tuple[FieldCondition, ...]
    match_all: bool


def resolve(query: Query, fields: SearchFields, resource: str) -> ObjectSearchConditions:
    """The store's conditions for `query` on a resource (named by its collection, for
    messages) with search fields `fields`."""
    return ObjectSearchConditions(
        tuple(_condition(clause, fields, resource) for clause in query.clauses),
        match_all=query.conjunction == "AND",
    )


def _condition(clause: Clause, fields: SearchFields, resource: str) -> FieldCondition:
    declared = fields.get(clause.field)
    if declared is None:
        raise _query_error(
            f"Field '{clause.field}' is an unsupported search field for resource {resource}. "
            f"See https://docs.stripe.com/search#query-fields-for-{resource.replace('_', '-')} "
            "for a list of supported fields."
        )
    field_type, dotted = _type_and_path(clause.field, declared)
    _check_key(clause, field_type)
    kind = _VALUE_KINDS[field_type]
    path = tuple(dotted.split("."))
    if clause.value is None:
        if clause.operator != ":":
            raise _query_error(f"null can only be matched exactly: {clause.field}:null")
        return FieldCondition(path, kind, Comparison.IS_NULL, None, clause.negated, clause.key)
    comparison = _comparison(clause, field_type)
    value = _typed_value(clause, clause.value, field_type, comparison)
    return FieldCondition(path, kind, comparison, value, clause.negated, clause.key)


def _type_and_path(name: str, declared: FieldType | FieldAt) -> tuple[FieldType, str]:
    """A declared field's type and the dotted path of its value."""
    if isinstance(declared, FieldAt):
        return declared.field_type, declared.path
    return declared, name


def _check_key(clause: Clause, field_type: FieldType) -> None:
    if field_type is FieldType.METADATA and clause.key is None:
        raise _query_error(f'Search {clause.field} by key: {clause.field}["key"]:"value"')
    if field_type is not FieldType.METADATA and clause.key is not None:
        raise _query_error(f"Field '{clause.field}' has no keys to search by")


def _comparison(clause: Clause, field_type: FieldType) -> Comparison:
    comparison = Comparison(clause.operator.replace(":", "="))
    if comparison is Comparison.CONTAINS and field_type is not FieldType.STRING:
        raise _query_error(
            f"Field '{clause.field}' ({field_type.value}) does not support substring "
            "matching (~): match it exactly with ':'"
        )
    ranged = comparison not in (Comparison.EQUALS, Comparison.CONTAINS)
    if ranged and field_type is not FieldType.NUMBER:
        raise _query_error(
            f"Field '{clause.field}' ({field_type.value}) does not support the "
            f"'{clause.operator}' operator: only numeric fields compare with > < >= <="
        )
    return comparison


def _typed_value(
    clause: Clause, value: Value, field_type: FieldType, comparison: Comparison
) -> str | int | bool:
    if field_type is FieldType.NUMBER:
        if not _INTEGER.fullmatch(value.text) or abs(int(value.text)) > INT64_MAX:
            raise _query_error(
                f"Field '{clause.field}' is numeric: {value.text[:40]!r} is not an integer"
            )
        return int(value.text)
    if field_type is FieldType.BOOLEAN:
        if value.text.lower() not in _BARE_WORDS:
            raise _query_error(f"Field '{clause.field}' is true or false, not {value.text[:40]!r}")
        return value.text.lower() == "true"
    if comparison is Comparison.CONTAINS and len(value.text) < SUBSTRING_CHARS_MIN:
        raise _query_error(
            f"Substring search (~) on '{clause.field}' needs at least "
            f"{SUBSTRING_CHARS_MIN} characters, not {value.text!r}"
        )
    return value.text


# -- the operation --------------------------------------------------------------------------


ObjectView = Callable[[ApiObject], ApiObject]
"""The object as the API shows it, from its stored document (a price without its includable
`tiers`)."""


@dataclass(frozen=True)
class SearchRequest:
    table: ObjectTable
    url: str
    search: ObjectSearch
    view: ObjectView | None = None


def search_operation(
    table: ObjectTable,
    collection: str,
    fields: SearchFields,
    *,
    view: ObjectView | None = None,
    nulls: Mapping[str, bool] | None = None,
) -> Operation[SearchRequest]:
    """`GET /v1/{collection}/search` over `table`'s objects, queried on `fields`; `view` turns
    a stored document into what the API shows, for resources that store more; `nulls`
    (filter column -> must be NULL, or must not be) leaves out the objects the resource never
    shows, whatever the query (inline prices)."""
    for name, declared in fields.items():
        field_type, path = _type_and_path(name, declared)
        ensure(_FIELD_NAME.fullmatch(name) is not None, f"search field {name!r}: a dotted name")
        ensure(_FIELD_NAME.fullmatch(path) is not None, f"search field {name!r}: a dotted path")
        ensure(isinstance(field_type, FieldType), f"search field {name!r}: a FieldType")
    url = f"/v1/{collection}/search"

    def parse(ids: RouteIds, form: Form) -> SearchRequest:
        params = parse_params(SEARCH_PARAMS, form, required=("query",))
        resolved = resolve(parse_query(params["query"]), fields, collection)
        search = ObjectSearch(
            conditions=resolved.conditions,
            match_all=resolved.match_all,
            limit=params.get("limit", SEARCH_LIMIT_DEFAULT),
            rows_scanned_max=SEARCH_ROWS_SCANNED_MAX,
            before_seq=decode_page(params["page"]) if params.get("page") else None,
            nulls=nulls or {},
        )
        return SearchRequest(table, url, search, view)

    return Operation(parse, search_objects, writes=False)


async def search_objects(ctx: Context, request: SearchRequest) -> ApiObject:
    """One page of Stripe's `search_result`, newest first."""
    page = await ctx.tx.search_objects(request.table, ctx.account_id, request.search)
    ctx.memo[_SEARCHED] = request
    next_page = None if page.next_before_seq is None else encode_page(page.next_before_seq)
    view = request.view
    return {
        "object": "search_result",
        "data": page.objects if view is None else [view(obj) for obj in page.objects],
        "has_more": next_page is not None,
        "next_page": next_page,
        "url": request.url,
    }


async def total_count(ctx: Context) -> int:
    """`expand[]=total_count` of the search this request ran: the matches among the newest
    SEARCH_ROWS_SCANNED_MAX objects."""
    request: Any = ctx.memo.get(_SEARCHED)
    if not isinstance(request, SearchRequest):
        raise InvalidParameter("total_count can be expanded on search results only", param="expand")
    return await ctx.tx.count_search_matches(request.table, ctx.account_id, request.search)


# -- page tokens ----------------------------------------------------------------------------

_PAGE_TOKEN = re.compile(r"search:([0-9]{1,19})")


def encode_page(before_seq: int) -> str:
    """`next_page`: opaque to clients; it names where the next page starts."""
    return base64.urlsafe_b64encode(f"search:{before_seq}".encode()).decode().rstrip("=")


def decode_page(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        text = ""
    found = _PAGE_TOKEN.fullmatch(text)
    if found is None or int(found[1]) > INT64_MAX:
        raise InvalidParameter(
            f"Invalid page: {token[:40]!r}; pass the next_page of a previous search result",
            param="page",
        )
    return int(found[1])
