"""What every query module shares: the lock markers the PostgreSQL executor rewrites (SQLite's
single writer needs neither), the lowercasing function both engines fold case with, the LIKE
function both engines match patterns with alike, and how docs and client text become column
values."""

from __future__ import annotations

import functools
import re
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


LIKE = "kassa_like"
"""The SQL function `kassa_like(text, pattern)`: whether `text` matches the LIKE `pattern`
(`%` any run of characters, `_` any one, a backslash taking the next as it is), case counting
on both engines: SQLite's LIKE folds ASCII case, PostgreSQL's does not. The SQLite adapter
registers `like_text` under this name; PostgreSQL's executor makes it textlike(), the
function behind its LIKE operator (whose escape is the backslash too)."""
LIKE_ESCAPE = "\\"
"""Escapes `%`, `_` and itself in a LIKE pattern (`LIKE ... ESCAPE '\\'` on both engines, and
`kassa_like`; PostgreSQL's standard_conforming_strings keeps the literal a single backslash)."""
WILDCARD = "*"
"""Stands for any run of characters in a filter value (an event `type` such as `*.deleted`)."""
LIKE_PATTERNS_CACHED = 256


def wildcard_like_pattern(value: str) -> str:
    """The LIKE pattern of a filter value whose every `*` is any run of characters (none
    included): LIKE's own `%`, `_` and escape are taken as they are."""
    return like_escaped(value).replace(WILDCARD, "%")


def like_escaped(text: str) -> str:
    """`text` as a LIKE pattern matching only itself."""
    return "".join(LIKE_ESCAPE + c if c in "%_" + LIKE_ESCAPE else c for c in text)


def like_text(value: object, pattern: object) -> int | None:
    """`kassa_like` for SQLite: 1 if `value` matches the LIKE `pattern`, case counting."""
    if value is None or pattern is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return 1 if _like_regex(str(pattern)).fullmatch(text) else 0


@functools.lru_cache(maxsize=LIKE_PATTERNS_CACHED)
def _like_regex(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    escaped = False
    for char in pattern:
        if escaped:
            parts.append(re.escape(char))
            escaped = False
        elif char == LIKE_ESCAPE:
            escaped = True
        else:
            parts.append({"%": ".*", "_": "."}.get(char) or re.escape(char))
    return re.compile("".join(parts), re.DOTALL)


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
