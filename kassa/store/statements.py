"""What every query module shares: the lock markers the PostgreSQL executor rewrites (SQLite's
single writer needs neither), the lowercasing function both engines fold case with, and how
docs and client text become column values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

SKIP_LOCKED = "/*SKIP_LOCKED*/"
"""Marks a claiming SELECT: PostgreSQL's executor makes it `FOR UPDATE SKIP LOCKED` so that
concurrent workers take different rows; SQLite's single writer needs nothing."""

FOR_UPDATE = "/*FOR_UPDATE*/"
"""Ends a SELECT that reads a row to change it: PostgreSQL's executor makes it `FOR UPDATE`,
so a concurrent request changing the same object (two refunds of one charge) waits and then
reads the committed result instead of overwriting it. SQLite's single writer needs nothing."""


LOWER = "kassa_lower"
"""The SQL function statements lowercase text with, so that both engines fold case alike:
SQLite's own lower() folds only A-Z, PostgreSQL's every letter. The SQLite adapter registers
`lower_text` under this name on each connection; PostgreSQL's executor makes it lower()."""


def lower_text(value: object) -> str | None:
    """`value` lowercased as PostgreSQL's lower() does on a UTF-8 database: letter by letter
    (Unicode's simple mapping), so `ß` stays `ß` (where str.casefold makes it `ss`), a
    capital sigma is always the small one (never the final form) and `İ` is `i`. NULL stays
    NULL; a number is lowercased as its text, as SQLite's lower() takes it."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    if text.isascii():
        return text.lower()
    # str.lower departs from the letter-by-letter mapping for two letters only: it makes a
    # word's last capital sigma the final form, and İ an i with a combining dot above.
    return text.replace(_CAPITAL_SIGMA, _SMALL_SIGMA).replace(_CAPITAL_DOTTED_I, "i").lower()


_CAPITAL_SIGMA = "\u03a3"
_SMALL_SIGMA = "\u03c3"
_CAPITAL_DOTTED_I = "\u0130"


def dumps_doc(obj: Mapping[str, Any]) -> str:
    return orjson.dumps(obj).decode()


def loads_doc(doc: str | bytes) -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads(doc)
    return loaded


def storable(text: str | None) -> str | None:
    """`text` as both engines store it: PostgreSQL's text holds neither NUL nor a lone
    surrogate, so NUL becomes U+FFFD and a lone surrogate `?`."""
    if text is None or (text.isascii() and "\x00" not in text):
        return text
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
