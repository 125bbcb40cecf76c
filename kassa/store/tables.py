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
PAYMENT_METHODS = ObjectTable("payment_methods", filter_columns=("customer", "type"))
PAYMENT_INTENTS = ObjectTable("payment_intents", filter_columns=("customer",))
CHARGES = ObjectTable("charges", filter_columns=("customer", "payment_intent"))
REFUNDS = ObjectTable("refunds", filter_columns=("charge", "payment_intent"))
DISPUTES = ObjectTable("disputes", filter_columns=("charge", "payment_intent"))
EVENTS = ObjectTable("events", filter_columns=("type",))
WEBHOOK_ENDPOINTS = ObjectTable("webhook_endpoints")

ALL_OBJECT_TABLES = (
    CUSTOMERS,
    PAYMENT_METHODS,
    PAYMENT_INTENTS,
    CHARGES,
    REFUNDS,
    DISPUTES,
    EVENTS,
    WEBHOOK_ENDPOINTS,
)
