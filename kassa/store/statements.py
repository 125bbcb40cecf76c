"""What every query module shares: the lock markers the PostgreSQL executor rewrites (SQLite's
single writer needs neither), and how docs and client text become column values."""

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
