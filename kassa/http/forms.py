"""Stripe's form encoding: `metadata[k]=v`, `expand[]=x`, `items[0][price]=p`.

Written by hand because no maintained library decodes Stripe's exact bracket dialect with
the limits an internet-facing API needs. `a[]=x` appends to a list; `a[0]=x` is a key like
any other (`{"a": {"0": "x"}}`), because only the parameter schema knows whether a hash of
numbers is a list (`expand[0]`, what the official SDKs send) or a hash (`metadata[0]`, a
valid metadata key): `kassa.params` decides. Every failure is a `KassaError`, never an
exception that could become a 500.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from kassa.errors import InvalidParameter, InvalidRequest
from kassa.params import UploadedFile

MAX_FIELDS = 2_000
"""How many `key=value` pairs one request may carry."""
MAX_DEPTH = 6
"""How many bracket levels a key may have (`a[b][c][d][e][f]`)."""
MAX_KEY_CHARS = 300

_SEGMENT = re.compile(r"\[([^\[\]]*)\]")

FormValue = str | UploadedFile | list["FormValue"] | dict[str, "FormValue"]
"""An `UploadedFile` only in an upload's form (`decode_parts`), never in a urlencoded one."""
Form = dict[str, FormValue]


def decode_form(raw: bytes) -> Form:
    """Decode an `application/x-www-form-urlencoded` body or query string."""
    if not raw:
        return {}
    try:
        text = raw.decode("utf-8")
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except UnicodeDecodeError as exc:
        raise InvalidRequest("Invalid request: the body is not valid UTF-8.") from exc
    except ValueError as exc:
        raise InvalidRequest(
            f"Invalid request: more than {MAX_FIELDS} parameters were sent."
        ) from exc
    tree: dict[str, Any] = {}
    for key, value in pairs:
        if "\x00" in key or "\x00" in value:
            raise InvalidParameter("Strings may not contain NUL characters.", param=key)
        _insert(tree, key, _split_key(key), value)
    return tree


def decode_parts(parts: Iterable[tuple[str, str | UploadedFile]]) -> Form:
    """The form of a multipart/form-data body's parts (`kassa.http.uploads`), named in the
    same bracket dialect as a urlencoded body (`file_link_data[create]`); a file part's
    value is its `UploadedFile`. The caller bounds how many parts there are."""
    tree: dict[str, Any] = {}
    for key, value in parts:
        if "\x00" in key or (isinstance(value, str) and "\x00" in value):
            raise InvalidParameter("Strings may not contain NUL characters.", param=key)
        _insert(tree, key, _split_key(key), value)
    return tree


def _split_key(key: str) -> list[str]:
    if len(key) > MAX_KEY_CHARS:
        raise InvalidParameter(f"Parameter name is too long: {key[:40]}...", param=key[:40])
    head, bracket, rest = key.partition("[")
    if not head:
        raise InvalidParameter(f"Invalid parameter name: {key}", param=key)
    segments = [head]
    if bracket:
        rest = "[" + rest
        matched = _SEGMENT.findall(rest)
        if "".join(f"[{s}]" for s in matched) != rest:
            raise InvalidParameter(f"Invalid parameter name: {key}", param=key)
        segments.extend(matched)
    if len(segments) > MAX_DEPTH:
        raise InvalidParameter(f"Parameter nested too deeply: {key}", param=key)
    return segments


def _insert(tree: dict[str, Any], key: str, segments: list[str], value: str | UploadedFile) -> None:
    node: Any = tree
    for position, segment in enumerate(segments):
        last = position == len(segments) - 1
        if segment == "":
            node = _append_slot(node, key, value if last else {})
            continue
        if not isinstance(node, dict):
            raise InvalidParameter(f"Conflicting values for {key}", param=key)
        if last:
            if isinstance(node.get(segment), (dict, list)):
                raise InvalidParameter(f"Conflicting values for {key}", param=key)
            node[segment] = value
        else:
            wants_list = segments[position + 1] == ""
            child = node.setdefault(segment, [] if wants_list else {})
            if isinstance(child, str):
                if child != "":
                    raise InvalidParameter(f"Conflicting values for {key}", param=key)
                child = node[segment] = [] if wants_list else {}
            if isinstance(child, list) != wants_list:
                raise InvalidParameter(f"Conflicting values for {key}", param=key)
            node = child


def _append_slot(node: Any, key: str, value: Any) -> Any:
    """`a[]=x` appends; the parent was created as a dict, so turn it into a list."""
    if isinstance(node, list):
        node.append(value)
        return value
    raise InvalidParameter(f"Invalid list parameter: {key}", param=key)
