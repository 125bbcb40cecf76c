"""The address and shipping shapes that customers, payment methods, payment intents and
charges share: their parameters, and how an update merges into what is stored."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kassa.params import UNSET, String, Struct, Unset

ADDRESS_FIELDS = ("city", "country", "line1", "line2", "postal_code", "state")
ADDRESS = Struct(
    {name: String(max_chars=200, nullable=True) for name in ADDRESS_FIELDS}, nullable=True
)
SHIPPING = Struct(
    {"address": ADDRESS, "name": String(max_chars=5000), "phone": String(max_chars=20)},
    required=("address", "name"),
    nullable=True,
)

AddressUpdate = Mapping[str, str | Unset] | Unset
"""Validated `ADDRESS` parameters (each field UNSET to clear it), or UNSET to clear the whole
address."""
ShippingUpdate = Mapping[str, Any] | Unset
"""Validated `SHIPPING` parameters (`address`, `name`, `phone`), or UNSET to clear them."""


def blank_address() -> dict[str, Any]:
    return dict.fromkeys(ADDRESS_FIELDS)


def merge_address(current: Any, update: AddressUpdate) -> dict[str, Any] | None:
    """`update` (validated `ADDRESS` parameters) over `current`; `UNSET` clears it."""
    if isinstance(update, Unset):
        return None
    merged = dict(current or blank_address())
    for key, value in update.items():
        merged[key] = None if value is UNSET else value
    return merged


def shipping_object(update: ShippingUpdate) -> dict[str, Any] | None:
    """Stripe's shipping hash from validated `SHIPPING` parameters; `UNSET` clears it."""
    if isinstance(update, Unset):
        return None
    return {
        "address": merge_address(None, update["address"]),
        "carrier": update.get("carrier"),
        "name": update["name"],
        "phone": update.get("phone"),
        "tracking_number": update.get("tracking_number"),
    }
