"""The object tables: API objects stored as JSON documents plus the indexed columns that
lists filter on. Declared once here; the SQL in `kassa.store.queries` is built from these,
and the migrations create exactly these columns (a test checks)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ObjectTable:
    name: str
    filter_columns: tuple[str, ...] = ()
    """Top-level object fields copied into indexed columns for equality filters."""


CUSTOMERS = ObjectTable("customers", filter_columns=("email",))

ALL_OBJECT_TABLES = (CUSTOMERS,)
