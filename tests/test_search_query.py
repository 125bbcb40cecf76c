"""Stripe's search query language: the parser, the resolution against declared fields, and
page tokens (pure functions; the end-to-end searches are in test_search.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kassa.errors import InvalidParameter, InvalidRequest
from kassa.services.search import (
    BOOLEAN,
    METADATA,
    NUMBER,
    QUERY_CLAUSES_MAX,
    STRING,
    TOKEN,
    Clause,
    Operator,
    Query,
    SearchFields,
    Value,
    decode_page,
    encode_page,
    parse_query,
    resolve,
)
from kassa.store.search_queries import Comparison, FieldCondition, ValueKind

FIELDS: SearchFields = {
    "amount": NUMBER,
    "created": NUMBER,
    "email": STRING,
    "metadata": METADATA,
    "refunded": BOOLEAN,
    "status": TOKEN,
    "payment_method_details.card.last4": STRING,
}


def _error(query: str) -> str:
    with pytest.raises(InvalidRequest) as raised:
        resolve(parse_query(query), FIELDS, "charges")
    assert raised.value.param == "query"
    return raised.value.message


def _only(query: str) -> Clause:
    parsed = parse_query(query)
    assert len(parsed.clauses) == 1
    return parsed.clauses[0]


# -- parsing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "clause"),
    [
        ('email:"a@b.co"', Clause("email", ":", Value("a@b.co", quoted=True))),
        ("email:'a@b.co'", Clause("email", ":", Value("a@b.co", quoted=True))),
        ('name~"amy"', Clause("name", "~", Value("amy", quoted=True))),
        ("amount>1000", Clause("amount", ">", Value("1000", quoted=False))),
        ("amount>=-5", Clause("amount", ">=", Value("-5", quoted=False))),
        ('amount<"10"', Clause("amount", "<", Value("10", quoted=True))),
        ("amount<=2.5", Clause("amount", "<=", Value("2.5", quoted=False))),
        ('-currency:"usd"', Clause("currency", ":", Value("usd", quoted=True), negated=True)),
        ("url:null", Clause("url", ":", None)),
        ("url:NULL", Clause("url", ":", None)),
        ('url:"null"', Clause("url", ":", Value("null", quoted=True))),
        ("refunded:TRUE", Clause("refunded", ":", Value("true", quoted=False))),
        (
            'metadata["order id"]:"6735"',
            Clause("metadata", ":", Value("6735", quoted=True), key="order id"),
        ),
        ("metadata['k']:'v'", Clause("metadata", ":", Value("v", quoted=True), key="k")),
        (
            "-metadata['k']:null",
            Clause("metadata", ":", None, key="k", negated=True),
        ),
        (
            "payment_method_details.card.last4:4242",
            Clause("payment_method_details.card.last4", ":", Value("4242", quoted=False)),
        ),
        (r'd:"say \"hi\" \\ now"', Clause("d", ":", Value('say "hi" \\ now', quoted=True))),
        (r"d:'it\'s'", Clause("d", ":", Value("it's", quoted=True))),
        ('d:"it\'s"', Clause("d", ":", Value("it's", quoted=True))),
        ('d:"a:b AND c OR d"', Clause("d", ":", Value("a:b AND c OR d", quoted=True))),
        ('  d:""  ', Clause("d", ":", Value("", quoted=True))),
    ],
)
def test_one_clause(text: str, clause: Clause) -> None:
    assert _only(text) == clause


def test_conjunctions() -> None:
    a, b, c = 'a:"1"', 'b:"2"', 'c:"3"'
    assert parse_query(f"{a} {b} {c}").conjunction == "AND"
    assert parse_query(f"{a} AND {b} and {c}").conjunction == "AND"
    assert parse_query(f"{a} {b} AND {c}").conjunction == "AND"
    assert parse_query(f"{a} OR {b} or {c}").conjunction == "OR"
    assert parse_query(f"{a}\tOR\n{b}").conjunction == "OR"
    assert len(parse_query(f"{a} OR {b} or {c}").clauses) == 3
    # Fields whose names begin like a keyword are fields.
    both = parse_query('order:"x" android:"y" or_else:"z"')
    assert [c.field for c in both.clauses] == ["order", "android", "or_else"]
    assert both.conjunction == "AND"


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ('a:"1" OR b:"2" AND c:"3"', "cannot mix AND and OR"),
        ('a:"1" OR b:"2" c:"3"', "cannot mix AND and OR"),
        ('a:"1" b:"2" OR c:"3"', "cannot mix AND and OR"),
        ("", "empty"),
        ("   ", "empty"),
        ('a:"1" AND', "ends with AND"),
        ('a:"1" OR   ', "ends with OR"),
        ('AND a:"1"', "operator after AND"),
        (":x", "field name"),
        ('a="1"', "operator after a"),
        ('a:"1"b:"2"', "separate clauses"),
        ("a:", "value for a"),
        ("a: 1", "value for a"),
        ('a:"1', "no closing"),
        ("a:'1", "no closing '"),
        ("a:word", "quote string values"),
        ("a:1x", "quote string values"),
        ('m[k]:"v"', "Quote the key"),
        ('m["k":"v"', "Expected ]"),
        ('m[""]:"v"', "empty"),
        ('(a:"1" OR b:"2")', "Parentheses"),
        ('--a:"1"', "field name"),
    ],
)
def test_malformed_queries(query: str, words: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_query(query)
    assert raised.value.param == "query"
    assert words in raised.value.message


def test_clauses_are_bounded() -> None:
    most = " ".join(f'f{i}:"{i}"' for i in range(QUERY_CLAUSES_MAX))
    assert len(parse_query(most).clauses) == QUERY_CLAUSES_MAX
    with pytest.raises(InvalidRequest, match=f"at most {QUERY_CLAUSES_MAX} clauses"):
        parse_query(most + ' extra:"x"')


# -- round trips and arbitrary input (hypothesis) -------------------------------------------

_names = st.from_regex(r"[a-z_][a-z0-9_]{0,8}(\.[a-z0-9_]{1,8}){0,2}", fullmatch=True).filter(
    lambda name: name.lower() not in ("and", "or")
)
_OPERATORS: list[Operator] = [":", "~", ">", "<", ">=", "<="]
_texts = st.text(st.characters(codec="utf-8"), max_size=20)
_values = st.one_of(
    st.none(),
    st.builds(lambda t: Value(t, quoted=True), _texts),
    st.builds(lambda n: Value(str(n), quoted=False), st.integers(-(10**12), 10**12)),
    st.sampled_from([Value("true", quoted=False), Value("false", quoted=False)]),
)


@st.composite
def _clauses(draw: st.DrawFn) -> Clause:
    field = draw(_names)
    key = draw(st.one_of(st.none(), _texts.filter(bool)))
    value = draw(_values)
    operator: Operator = ":" if value is None else draw(st.sampled_from(_OPERATORS))
    return Clause(field, operator, value, key, draw(st.booleans()))


def _quote(text: str, quote: str) -> str:
    return quote + text.replace("\\", "\\\\").replace(quote, "\\" + quote) + quote


def _render(query: Query, quote: str, joiner: str) -> str:
    def clause(c: Clause) -> str:
        key = "" if c.key is None else f"[{_quote(c.key, quote)}]"
        if c.value is None:
            value = "null"
        elif c.value.quoted:
            value = _quote(c.value.text, quote)
        else:
            value = c.value.text
        return f"{'-' if c.negated else ''}{c.field}{key}{c.operator}{value}"

    return joiner.join(clause(c) for c in query.clauses)


@given(
    st.lists(_clauses(), min_size=1, max_size=QUERY_CLAUSES_MAX),
    st.sampled_from(["AND", "OR"]),
    st.sampled_from(['"', "'"]),
    st.booleans(),
)
def test_rendered_queries_parse_back(
    clauses: list[Clause], conjunction: str, quote: str, implicit: bool
) -> None:
    query = Query(tuple(clauses), "AND" if conjunction == "AND" else "OR")
    spacing = " " if implicit and conjunction == "AND" else f"  {conjunction.lower()} "
    parsed = parse_query(_render(query, quote, spacing))
    assert parsed.clauses == query.clauses
    assert len(clauses) == 1 or parsed.conjunction == query.conjunction


@given(st.text(max_size=200))
def test_any_text_parses_or_is_a_400_naming_query(text: str) -> None:
    try:
        parsed = parse_query(text)
    except InvalidRequest as error:
        assert error.param == "query" and error.message
        return
    assert 1 <= len(parsed.clauses) <= QUERY_CLAUSES_MAX


@given(st.text(alphabet="abemtdx:~<>=-\"'[] 0123456789ANDORnul\\", max_size=60))
def test_query_like_text_resolves_or_is_a_400_naming_query(text: str) -> None:
    try:
        resolve(parse_query(text), FIELDS, "charges")
    except InvalidRequest as error:
        assert error.param == "query" and error.message


# -- resolution against declared fields -----------------------------------------------------


def test_resolved_conditions() -> None:
    resolved = resolve(
        parse_query(
            'email~"amy" -status:"failed" amount>=100 created<5 refunded:"TRUE" '
            "metadata['k']:v1 payment_method_details.card.last4:0042".replace("v1", "'v1'")
        ),
        FIELDS,
        "charges",
    )
    assert resolved.match_all
    assert resolved.conditions == (
        FieldCondition(("email",), ValueKind.TEXT, Comparison.CONTAINS, "amy"),
        FieldCondition(("status",), ValueKind.TEXT, Comparison.EQUALS, "failed", negated=True),
        FieldCondition(("amount",), ValueKind.NUMBER, Comparison.GREATER_OR_EQUAL, 100),
        FieldCondition(("created",), ValueKind.NUMBER, Comparison.LESS, 5),
        FieldCondition(("refunded",), ValueKind.BOOLEAN, Comparison.EQUALS, True),
        FieldCondition(("metadata",), ValueKind.TEXT, Comparison.EQUALS, "v1", key="k"),
        FieldCondition(
            ("payment_method_details", "card", "last4"),
            ValueKind.TEXT,
            Comparison.EQUALS,
            "0042",  # a bare number keeps its digits as written for a string field
        ),
    )
    nulls = resolve(parse_query("email:null OR -amount:null"), FIELDS, "charges")
    assert not nulls.match_all
    assert [(c.comparison, c.negated) for c in nulls.conditions] == [
        (Comparison.IS_NULL, False),
        (Comparison.IS_NULL, True),
    ]


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ('nickname:"x"', "Field 'nickname' is an unsupported search field for resource charges"),
        ('nickname:"x"', "docs.stripe.com/search#query-fields-for-charges"),
        ('status~"fail"', "does not support substring"),
        ('refunded~"tru"', "does not support substring"),
        ('metadata["k"]~"abc"', "does not support substring"),
        ('email~"am"', "at least 3 characters"),
        ('email>"a"', "does not support the '>' operator"),
        ('status<="b"', "does not support the '<=' operator"),
        ("amount:1.5", "not an integer"),
        ('amount>"ten"', "not an integer"),
        ("amount:99999999999999999999", "not an integer"),
        ('refunded:"yes"', "true or false"),
        ("refunded:1", "true or false"),
        ('metadata:"x"', "by key"),
        ('email["k"]:"x"', "no keys"),
        ("amount>null", "null can only be matched exactly"),
        ("email~null", "null can only be matched exactly"),
    ],
)
def test_clauses_a_field_does_not_support(query: str, words: str) -> None:
    assert words in _error(query)


def test_substrings_of_three_characters_are_enough() -> None:
    resolved = resolve(parse_query('email~"abc"'), FIELDS, "charges")
    assert resolved.conditions[0].value == "abc"


# -- page tokens ----------------------------------------------------------------------------


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_page_tokens_round_trip(seq: int) -> None:
    token = encode_page(seq)
    assert token.isascii() and "=" not in token
    assert decode_page(token) == seq


@pytest.mark.parametrize(
    "token",
    ["", "x", "%%%", encode_page(5) + "A", "c2VhcmNoOi0x", "é", encode_page(2**63)],
)
def test_foreign_page_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidParameter) as raised:
        decode_page(token)
    assert raised.value.param == "page"
