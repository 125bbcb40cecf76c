"""Stripe's bracket form dialect (`kassa.http.forms`) and the parameter schemas that type it
(`kassa.params`): pure functions, no server."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stripe._encode import _api_encode

from kassa.errors import (
    EmptyParameter,
    InvalidParameter,
    InvalidRequest,
    KassaError,
    MissingParameter,
    UnknownParameter,
)
from kassa.http.expand import parse_expand
from kassa.http.forms import MAX_DEPTH, MAX_FIELDS, MAX_KEY_CHARS, decode_form
from kassa.params import (
    MAX_LIST_INDEX,
    METADATA_MAX_KEY_CHARS,
    METADATA_MAX_KEYS,
    METADATA_MAX_VALUE_CHARS,
    UNSET,
    Boolean,
    Email,
    Enum,
    Integer,
    ListOf,
    Metadata,
    Param,
    String,
    Struct,
    Timestamp,
    TimestampRange,
    apply_metadata,
    parse_params,
)
from kassa.services.customers import CREATE_PARAMS, UPDATE_PARAMS


def parse_customer(raw: bytes, schema: dict[str, Param] = CREATE_PARAMS) -> dict[str, Any]:
    """The real path of a request body: decode, then validate against customer create."""
    return parse_params(schema, decode_form(raw))


def rejected(raw: bytes, schema: dict[str, Param] = CREATE_PARAMS) -> InvalidParameter:
    with pytest.raises(InvalidParameter) as raised:
        parse_customer(raw, schema)
    return raised.value


# --- decoding: the bracket dialect ------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        (b"", {}),
        (b"name=Ada", {"name": "Ada"}),
        (b"name=Ada+Lovelace&email=a%40b.co", {"name": "Ada Lovelace", "email": "a@b.co"}),
        (b"metadata[k]=v", {"metadata": {"k": "v"}}),
        (b"metadata%5Bk%5D=v", {"metadata": {"k": "v"}}),
        (b"metadata[a]=1&metadata[b]=2", {"metadata": {"a": "1", "b": "2"}}),
        (b"expand[]=x&expand[]=y", {"expand": ["x", "y"]}),
        (b"expand[0]=x", {"expand": {"0": "x"}}),
        (
            b"items[0][price]=p&items[0][quantity]=2&items[1][price]=q",
            {"items": {"0": {"price": "p", "quantity": "2"}, "1": {"price": "q"}}},
        ),
        (b"items[][price]=p&items[][price]=q", {"items": [{"price": "p"}, {"price": "q"}]}),
        (b"created[gte]=1", {"created": {"gte": "1"}}),
        (b"a[b][c][d][e][f]=deep", {"a": {"b": {"c": {"d": {"e": {"f": "deep"}}}}}}),
        (b"description=", {"description": ""}),
        (b"flag", {"flag": ""}),
        (b"name=a&name=b", {"name": "b"}),
        (b"a[b]=1&a[b]=2", {"a": {"b": "2"}}),
        ("address[city]=Zürich".encode(), {"address": {"city": "Zürich"}}),
        (b"a=%26%3D%5B", {"a": "&=["}),
    ],
)
def test_decode_form(raw: bytes, decoded: dict[str, Any]) -> None:
    assert decode_form(raw) == decoded


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        (b"a=x&a[b]=y", "a[b]"),
        (b"a[b]=y&a=x", "a"),
        (b"a[b]=y&a=", "a"),
        (b"a[]=x&a[0]=y", "a[0]"),
        (b"a[0]=y&a[]=x", "a[]"),
        (b"a[]=x&a=y", "a"),
        (b"a[b]=1&a[b][c]=2", "a[b][c]"),
        (b"a[b][c]=2&a[b]=1", "a[b]"),
        (b"a[][]=1", "a[][]"),
    ],
)
def test_conflicting_keys_are_rejected_naming_the_key(raw: bytes, param: str) -> None:
    with pytest.raises(InvalidParameter) as raised:
        decode_form(raw)
    assert raised.value.param == param
    assert raised.value.code is None  # Stripe has no code for a malformed form


@pytest.mark.parametrize("raw", [b"[a]=1", b"a[=1", b"a[b]c=1", b"=1", b"a[b]]=1", b"a[%5B]=1"])
def test_malformed_names_are_rejected(raw: bytes) -> None:
    with pytest.raises(InvalidParameter, match="Invalid parameter name"):
        decode_form(raw)


def test_depth_limit() -> None:
    deepest = "a" + "[b]" * (MAX_DEPTH - 1)
    assert decode_form(f"{deepest}=1".encode()) != {}
    too_deep = deepest + "[c]"
    with pytest.raises(InvalidParameter, match="nested too deeply") as raised:
        decode_form(f"{too_deep}=1".encode())
    assert raised.value.param == too_deep


def test_field_count_limit() -> None:
    at_limit = "&".join(f"metadata[k{i}]=v" for i in range(MAX_FIELDS)).encode()
    metadata = decode_form(at_limit)["metadata"]
    assert isinstance(metadata, dict) and len(metadata) == MAX_FIELDS
    with pytest.raises(InvalidRequest, match=f"more than {MAX_FIELDS} parameters"):
        decode_form(at_limit + b"&one=more")


def test_key_length_limit() -> None:
    longest = "k" * MAX_KEY_CHARS
    assert decode_form(f"{longest}=1".encode()) == {longest: "1"}
    with pytest.raises(InvalidParameter, match="too long") as raised:
        decode_form(f"{longest}k=1".encode())
    assert raised.value.param == "k" * 40


@pytest.mark.parametrize(
    "raw",
    [b"name=\xff", b"\xfe=1", b"name=%ff", b"%C3=1", b"name=\xc0\xaf", b"name=%ed%a0%80"],
)
def test_bad_utf8_is_an_invalid_request(raw: bytes) -> None:
    with pytest.raises(InvalidRequest, match="not valid UTF-8") as raised:
        decode_form(raw)
    assert raised.value.param is None


@pytest.mark.parametrize(
    ("raw", "param"),
    [(b"name=a%00b", "name"), (b"name=a\x00b", "name"), (b"metadata[k]=%00", "metadata[k]")],
)
def test_nul_characters_are_rejected(raw: bytes, param: str) -> None:
    with pytest.raises(InvalidParameter, match="NUL") as raised:
        decode_form(raw)
    assert raised.value.param == param


def test_nul_in_a_key_is_rejected() -> None:
    with pytest.raises(InvalidParameter, match="NUL"):
        decode_form(b"meta%00data[k]=v")


@pytest.mark.parametrize("raw", ["²=1", "a[²]=1", "٣=1", "expand[٣]=x"])
def test_non_ascii_digits_in_keys_are_plain_keys(raw: str) -> None:
    """Regression: `str.isdigit()` is true for `²`, and `int("²")` raised (a 500)."""
    decoded = decode_form(raw.encode())
    assert isinstance(decoded, dict) and len(decoded) == 1


# --- lists: `a[]`, `a[0]`, and a plain value ---------------------------------------------------

LOCALES = {"preferred_locales": ListOf(String(max_chars=10), max_items=3, nullable=True)}


@pytest.mark.parametrize(
    "raw",
    [
        b"preferred_locales[]=fr&preferred_locales[]=de",
        b"preferred_locales[0]=fr&preferred_locales[1]=de",
        b"preferred_locales[1]=de&preferred_locales[0]=fr",
    ],
)
def test_list_spellings(raw: bytes) -> None:
    assert parse_params(LOCALES, decode_form(raw)) == {"preferred_locales": ["fr", "de"]}


def test_a_single_value_is_a_one_item_list() -> None:
    assert parse_params(LOCALES, decode_form(b"preferred_locales=fr")) == {
        "preferred_locales": ["fr"]
    }


def test_an_empty_list_parameter_is_unset() -> None:
    assert parse_params(LOCALES, decode_form(b"preferred_locales=")) == {"preferred_locales": UNSET}


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        (b"preferred_locales[a]=fr", "preferred_locales"),
        (b"preferred_locales[01]=fr", "preferred_locales"),
        (b"preferred_locales[-1]=fr", "preferred_locales"),
        ("preferred_locales[٣]=fr".encode(), "preferred_locales"),
        (b"preferred_locales[0][x]=fr", "preferred_locales[0]"),
        (f"preferred_locales[{MAX_LIST_INDEX + 1}]=fr".encode(), "preferred_locales[1000]"),
        (
            b"preferred_locales[]=a&preferred_locales[]=b&preferred_locales[]=c&"
            b"preferred_locales[]=d",
            "preferred_locales",
        ),
        (b"preferred_locales[1]=01234567890", "preferred_locales[1]"),
    ],
)
def test_list_errors_name_the_parameter(raw: bytes, param: str) -> None:
    with pytest.raises(InvalidParameter) as raised:
        parse_params(LOCALES, decode_form(raw))
    assert raised.value.param == param


def test_list_index_limit_is_inclusive() -> None:
    raw = f"preferred_locales[{MAX_LIST_INDEX}]=fr".encode()
    assert parse_params(LOCALES, decode_form(raw)) == {"preferred_locales": ["fr"]}


def test_list_of_structs_from_indexed_keys() -> None:
    schema = {
        "items": ListOf(
            Struct({"price": String(), "quantity": Integer(minimum=1)}, required=("price",))
        )
    }
    raw = b"items[0][price]=p&items[0][quantity]=2&items[1][price]=q"
    assert parse_params(schema, decode_form(raw)) == {
        "items": [{"price": "p", "quantity": 2}, {"price": "q"}]
    }
    with pytest.raises(MissingParameter) as missing:
        parse_params(schema, decode_form(b"items[0][price]=p&items[1][quantity]=2"))
    assert missing.value.param == "items[1][price]"
    with pytest.raises(InvalidParameter) as invalid:
        parse_params(schema, decode_form(b"items[0][price]=p&items[0][quantity]=0"))
    assert invalid.value.param == "items[0][quantity]"


@pytest.mark.parametrize(
    ("raw", "paths"),
    [
        (b"expand[]=tax&expand[]=sources", ["tax", "sources"]),
        (b"expand[0]=tax&expand[1]=sources", ["tax", "sources"]),
        (b"expand[1]=sources&expand[0]=tax", ["tax", "sources"]),
        (b"expand=tax", ["tax"]),
        (b"", []),
    ],
)
def test_expand_spellings(raw: bytes, paths: list[str]) -> None:
    assert parse_expand(decode_form(raw).get("expand")) == paths


@pytest.mark.parametrize(
    "raw",
    [
        b"expand[a]=tax",
        b"expand[0][a]=tax",
        b"expand[]=",
        b"expand[]=a.b.c.d.e",
        b"expand=",
        b"&".join(b"expand[]=tax" for _ in range(21)),
    ],
)
def test_bad_expand_names_expand(raw: bytes) -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_expand(decode_form(raw).get("expand"))
    assert raised.value.param == "expand"


# --- empty string = unset -----------------------------------------------------------------------


def test_empty_string_unsets_nullable_fields() -> None:
    parsed = parse_customer(
        b"description=&email=&name=&phone=&address=&shipping=&tax_exempt=&metadata="
    )
    assert parsed == dict.fromkeys(
        ["description", "email", "name", "phone", "address", "shipping", "tax_exempt", "metadata"],
        UNSET,
    )


def test_empty_string_inside_a_hash_unsets_that_field() -> None:
    assert parse_customer(b"address[city]=&address[line1]=1+Main+St") == {
        "address": {"city": UNSET, "line1": "1 Main St"}
    }
    assert parse_customer(b"metadata[k]=") == {"metadata": {"k": UNSET}}


@pytest.mark.parametrize(
    ("raw", "param"),
    [(b"balance=", "balance"), (b"invoice_prefix=", "invoice_prefix"), (b"validate=", "validate")],
)
def test_empty_string_is_invalid_where_stripe_cannot_unset(raw: bytes, param: str) -> None:
    assert rejected(raw).param == param


def test_unset_is_a_singleton_that_prints_as_unset() -> None:
    assert repr(UNSET) == "UNSET"
    assert parse_customer(b"description=")["description"] is UNSET


# --- typed values: errors name the parameter in bracket form -----------------------------------


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        (b"address[city]=" + b"x" * 201, "address[city]"),
        (b"address[city][x]=y", "address[city]"),
        (b"address[foo]=x", "address[foo]"),
        (b"shipping[address][zip]=x&shipping[name]=n", "shipping[address][zip]"),
        (b"shipping[name]=n&shipping[address][city][]=x", "shipping[address][city]"),
        (
            b"invoice_settings[rendering_options][amount_tax_display]=no",
            "invoice_settings[rendering_options][amount_tax_display]",
        ),
        (
            b"invoice_settings[custom_fields][0][name]=" + b"n" * 41 + b"&"
            b"invoice_settings[custom_fields][0][value]=v",
            "invoice_settings[custom_fields][0][name]",
        ),
        (b"tax[validate_location]=sometimes", "tax[validate_location]"),
        (
            b"cash_balance[settings][reconciliation_mode]=x",
            "cash_balance[settings][reconciliation_mode]",
        ),
    ],
)
def test_nested_errors_name_the_bracketed_parameter(raw: bytes, param: str) -> None:
    assert rejected(raw).param == param


def test_unknown_parameters() -> None:
    error = rejected(b"foo=bar")
    assert isinstance(error, UnknownParameter)
    assert (error.param, error.code) == ("foo", "parameter_unknown")
    assert error.message == "Received unknown parameter: foo"
    nested = rejected(b"address[foo]=bar")
    assert isinstance(nested, UnknownParameter)
    assert nested.param == "address[foo]"
    assert rejected(b"default_source=src_1").param == "default_source"  # update only
    assert parse_customer(b"default_source=src_1", UPDATE_PARAMS) == {"default_source": "src_1"}


def test_missing_required_fields() -> None:
    missing = rejected(b"shipping[name]=Ada")
    assert isinstance(missing, MissingParameter)
    assert (missing.param, missing.code) == ("shipping[address]", "parameter_missing")
    assert rejected(b"shipping[address][city]=Paris").param == "shipping[name]"
    assert rejected(b"shipping[name]=&shipping[address][city]=Paris").param == "shipping[name]"


@pytest.mark.parametrize(
    "text", ["abc", "1.5", "1_000", " 7", "7 ", "+7", "٣", "0x10", "1e3", "-", "--1"]
)
def test_integers_accept_only_ascii_decimal(text: str) -> None:
    with pytest.raises(InvalidParameter, match="Invalid integer") as raised:
        Integer().parse(text, "balance")
    assert (raised.value.param, raised.value.code) == ("balance", "parameter_invalid_integer")


def test_integer_values_and_bounds() -> None:
    bounded = Integer(minimum=1, maximum=100)
    assert bounded.parse("1", "limit") == 1
    assert bounded.parse("100", "limit") == 100
    assert Integer().parse("-42", "x") == -42
    assert Integer().parse("007", "x") == 7
    for outside in ("0", "101", "99999999999999999999999999"):
        with pytest.raises(InvalidParameter, match="must be between 1 and 100") as raised:
            bounded.parse(outside, "limit")
        assert raised.value.param == "limit"
    with pytest.raises(InvalidParameter) as listed:
        bounded.parse(["1"], "limit")
    assert listed.value.message == "Invalid integer: a list"
    assert rejected(b"balance=1_000").param == "balance"
    assert parse_customer(b"balance=-1500") == {"balance": -1500}


@pytest.mark.parametrize("text", ["1", "0", "True", "TRUE", "yes", "on"])
def test_booleans_are_true_or_false(text: str) -> None:
    with pytest.raises(InvalidParameter, match="Invalid boolean") as raised:
        Boolean().parse(text, "validate")
    assert (raised.value.param, raised.value.code) == ("validate", None)


@pytest.mark.parametrize(
    "param",
    [Integer(), Boolean(), Timestamp(), Enum(values=("a",)), String(pattern=re.compile("x"))],
)
def test_an_empty_value_that_cannot_be_unset_is_parameter_invalid_empty(param: Param) -> None:
    with pytest.raises(EmptyParameter, match="You passed an empty string for 'x'") as raised:
        param.parse("", "x")
    assert (raised.value.param, raised.value.code) == ("x", "parameter_invalid_empty")


def test_boolean_values() -> None:
    assert parse_customer(b"validate=true") == {"validate": True}
    assert parse_customer(b"validate=false") == {"validate": False}


def test_enums_list_the_allowed_values() -> None:
    error = rejected(b"tax_exempt=maybe")
    assert error.param == "tax_exempt"
    assert error.message == "Invalid tax_exempt: must be one of `exempt`, `none`, `reverse`"
    assert Enum(values=("a", "b")).parse("b", "x") == "b"
    assert parse_customer(b"tax_exempt=reverse") == {"tax_exempt": "reverse"}


@pytest.mark.parametrize(
    "email", ["plain", "a@b", "@b.co", "a@@b.co", "a b@c.co", "a@b.co ", "x" * 510 + "@b.co"]
)
def test_invalid_emails(email: str) -> None:
    error = rejected(urlencode({"email": email}).encode())
    assert (error.param, error.code) == ("email", "email_invalid")


def test_valid_emails() -> None:
    for email in ("a@b.co", "first.last+tag@sub.example.org"):
        assert Email().parse(email, "email") == email


def test_string_length_limits() -> None:
    assert parse_customer(b"phone=" + b"1" * 20) == {"phone": "1" * 20}
    error = rejected(b"phone=" + b"1" * 21)
    assert error.param == "phone"
    assert "at most 20 characters" in error.message
    assert String(max_chars=3).parse("abc", "x") == "abc"


def test_string_pattern() -> None:
    assert parse_customer(b"invoice_prefix=ABC123") == {"invoice_prefix": "ABC123"}
    for bad in (b"ab", b"abc", b"AB", b"AB-CD"):
        error = rejected(b"invoice_prefix=" + bad)
        assert error.param == "invoice_prefix"
        assert "uppercase letters or numbers" in error.message
    assert rejected(b"invoice_prefix=ABCDEFGHIJKLM").param == "invoice_prefix"


def test_struct_rejects_a_plain_value() -> None:
    error = rejected(b"address=x")
    assert error.param == "address"
    assert "must be an object" in error.message
    assert isinstance(Struct({"a": String()}).parse({"a": "1"}, "s"), dict)


def test_timestamp_range() -> None:
    created = TimestampRange()
    assert created.parse("5", "created") == {"eq": 5}
    raw = decode_form(b"created[gte]=1&created[lt]=9")
    assert created.parse(raw["created"], "created") == {"gte": 1, "lt": 9}
    with pytest.raises(UnknownParameter) as unknown:
        created.parse({"after": "1"}, "created")
    assert unknown.value.param == "created[after]"
    with pytest.raises(InvalidParameter) as negative:
        created.parse({"gte": "-1"}, "created")
    assert negative.value.param == "created[gte]"


# --- metadata ------------------------------------------------------------------------------------


def test_metadata_limits_are_inclusive() -> None:
    keys = {f"k{i}": "v" for i in range(METADATA_MAX_KEYS)}
    assert Metadata().parse(keys, "metadata") == keys
    longest_key = "k" * METADATA_MAX_KEY_CHARS
    longest_value = "v" * METADATA_MAX_VALUE_CHARS
    assert Metadata().parse({longest_key: longest_value}, "metadata") == {
        longest_key: longest_value
    }


def test_metadata_key_count_limit() -> None:
    body = "&".join(f"metadata[k{i}]=v" for i in range(METADATA_MAX_KEYS + 1)).encode()
    error = rejected(body)
    assert error.param == "metadata"
    assert f"at most {METADATA_MAX_KEYS} keys" in error.message


def test_metadata_key_length_limit() -> None:
    key = "k" * (METADATA_MAX_KEY_CHARS + 1)
    error = rejected(f"metadata[{key}]=v".encode())
    assert error.param == f"metadata[{key}]"
    assert f"at most {METADATA_MAX_KEY_CHARS} characters" in error.message


def test_metadata_value_length_limit() -> None:
    error = rejected(b"metadata[note]=" + b"v" * (METADATA_MAX_VALUE_CHARS + 1))
    assert error.param == "metadata[note]"
    assert f"at most {METADATA_MAX_VALUE_CHARS} characters" in error.message


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        (b"metadata=x", "metadata"),
        (b"metadata[]=x", "metadata"),
        (b"metadata[a][b]=c", "metadata[a]"),
        (b"metadata[a][]=c", "metadata[a]"),
    ],
)
def test_metadata_must_be_a_hash_of_strings(raw: bytes, param: str) -> None:
    assert rejected(raw).param == param


def test_metadata_keys_may_be_numbers() -> None:
    """Regression: `metadata[0]=x` was decoded as a list and refused, so the SDK could not send
    `metadata={"0": "x"}`."""
    assert parse_customer(b"metadata[0]=a&metadata[1]=b") == {"metadata": {"0": "a", "1": "b"}}
    assert parse_customer(b"metadata[7]=x") == {"metadata": {"7": "x"}}
    assert parse_customer(b"metadata[12345]=x&metadata[007]=y") == {
        "metadata": {"12345": "x", "007": "y"}
    }


def test_metadata_merge() -> None:
    current = {"a": "1", "b": "2"}
    assert apply_metadata(current, {"b": UNSET, "c": "3"}) == {"a": "1", "c": "3"}
    assert apply_metadata(current, {"missing": UNSET}) == current
    assert apply_metadata(current, UNSET) == {}
    assert current == {"a": "1", "b": "2"}  # never mutated
    full = {f"k{i}": "v" for i in range(METADATA_MAX_KEYS)}
    assert apply_metadata(full, {"k0": "changed"})["k0"] == "changed"
    with pytest.raises(InvalidParameter) as raised:
        apply_metadata(full, {"one_more": "v"})
    assert raised.value.param == "metadata"


# --- properties ----------------------------------------------------------------------------------

FORM_PIECES = st.sampled_from(
    [
        "a",
        "b",
        "0",
        "1",
        "01",
        "[",
        "]",
        "[]",
        "[0]",
        "=",
        "&",
        ";",
        "+",
        "%",
        "%5B",
        "%5D",
        "%00",
        "%ff",
        "%C2%B2",
        "²",
        "é",
        " ",
        "\x00",
        "metadata",
        "expand",
        "address",
        "preferred_locales",
        "items",
        "\xff",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_decode_or_raise_a_kassa_error(raw: bytes) -> None:
    try:
        decoded = decode_form(raw)
    except KassaError:
        return
    assert isinstance(decoded, dict)


@settings(max_examples=400, deadline=None)
@given(st.lists(FORM_PIECES, max_size=40))
def test_bracket_soup_decodes_and_validates_or_raises_a_kassa_error(pieces: list[str]) -> None:
    raw = "".join(pieces).encode()
    try:
        form = decode_form(raw)
        parse_expand(form.pop("expand", None))
        parse_params(CREATE_PARAMS, form)
    except KassaError:
        return


METADATA_KEYS = st.text(
    st.characters(exclude_characters="[]\x00", exclude_categories=["Cs"]),
    min_size=1,
    max_size=METADATA_MAX_KEY_CHARS,
)
METADATA_VALUES = st.text(
    st.characters(exclude_characters="\x00", exclude_categories=["Cs"]),
    min_size=1,
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(
    metadata=st.dictionaries(METADATA_KEYS, METADATA_VALUES, max_size=8),
    locales=st.lists(
        st.from_regex(re.compile(r"[a-z]{2}(-[A-Z]{2})?"), fullmatch=True), min_size=1, max_size=5
    ),
    expand=st.lists(st.sampled_from(["tax", "sources", "test_clock"]), min_size=1, max_size=3),
)
def test_what_the_official_sdk_encodes_decodes_back(
    metadata: dict[str, str], locales: list[str], expand: list[str]
) -> None:
    """The stripe SDK's own encoder (indexed lists, bracketed hashes) round-trips."""
    params: dict[str, Any] = {"preferred_locales": locales, "expand": expand}
    if metadata:
        params["metadata"] = metadata
    form = decode_form(urlencode(list(_api_encode(params))).encode())
    assert parse_expand(form.pop("expand")) == expand
    parsed = parse_params(CREATE_PARAMS, form)
    assert parsed["preferred_locales"] == locales
    assert parsed.get("metadata", {}) == metadata
