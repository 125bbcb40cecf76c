"""The object tables: API objects stored as JSON documents plus the indexed columns that
lists filter on. Declared once here; the SQL in `kassa.store.queries` is built from these,
and the migrations create exactly these columns (a test checks)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ObjectTable:
    name: str
    filter_columns: tuple[str, ...] = ()
    """Object fields copied into indexed columns for equality filters: top-level fields of
    the same name, or the path `sources` gives."""
    sources: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False, compare=False)

    def column_value(self, obj: Mapping[str, Any], column: str) -> Any:
        value: Any = obj
        for key in self.sources.get(column, (column,)):
            value = value.get(key) if isinstance(value, Mapping) else None
        return value


CUSTOMERS = ObjectTable("customers", filter_columns=("email",))
PAYMENT_METHODS = ObjectTable("payment_methods", filter_columns=("customer", "type"))
PAYMENT_INTENTS = ObjectTable("payment_intents", filter_columns=("customer", "status"))
CHARGES = ObjectTable("charges", filter_columns=("customer", "payment_intent", "status"))
REFUNDS = ObjectTable("refunds", filter_columns=("charge", "payment_intent"))
DISPUTES = ObjectTable("disputes", filter_columns=("charge", "payment_intent"))
EVENTS = ObjectTable(
    "events", filter_columns=("type", "object_id"), sources={"object_id": ("data", "object", "id")}
)
WEBHOOK_ENDPOINTS = ObjectTable("webhook_endpoints")
TEST_CLOCKS = ObjectTable("test_clocks", filter_columns=("status",))

ALL_OBJECT_TABLES = (
    CUSTOMERS,
    PAYMENT_METHODS,
    PAYMENT_INTENTS,
    CHARGES,
    REFUNDS,
    DISPUTES,
    EVENTS,
    WEBHOOK_ENDPOINTS,
    TEST_CLOCKS,
)
