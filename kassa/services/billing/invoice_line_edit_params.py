"""The parameters of a draft invoice's line edits: `POST /v1/invoices/{id}/add_lines`,
`/update_lines`, `/remove_lines` and `POST /v1/invoices/{id}/lines/{line_item_id}`, and the
typed requests they are parsed into (None when not sent, UNSET when sent empty).

A line's fields are an invoice item's (`invoice_item_params.CHANGE_PARAMS`), those Stripe's
reference lists for lines: no `currency` (a line takes its invoice's), no
`unit_amount_decimal`, `tax_behavior` nor `tax_code`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Final

from kassa.params import (
    Enum,
    ListOf,
    Metadata,
    MetadataUpdate,
    NotSupported,
    Param,
    String,
    Struct,
)
from kassa.services.billing.invoice_amounts import LINES_MAX
from kassa.services.billing.invoice_item_params import CHANGE_PARAMS, ItemChanges

ID_CHARS_MAX: Final = 5_000
"""Stripe's limit on a line's `id` (and an `invoice_item`'s)."""
LINES_PER_REQUEST_MAX: Final = LINES_MAX
"""At most as many lines in one request as an invoice holds: more could never all fit (an
add) or all be found (an update or removal)."""
REMOVE_BEHAVIORS: Final = ("delete", "unassign")
"""`delete`: the line's invoice item is deleted; `unassign`: it is pending again, for the
customer's next invoice."""

_LINE_FIELDS: Final = (
    "amount",
    "description",
    "discountable",
    "discounts",
    "metadata",
    "period",
    "price_data",
    "pricing",
    "quantity",
    "quantity_decimal",
    "tax_rates",
)
LINE_CHANGE_PARAMS: Final[dict[str, Param]] = {
    **{name: CHANGE_PARAMS[name] for name in _LINE_FIELDS},
    "tax_amounts": NotSupported(
        reason="Kassa taxes a line by its tax rates (tax_rates, or the invoice's "
        "default_tax_rates); give those instead."
    ),
}
"""What a line's update (and an added line) may set."""

_ADDED_LINE = Struct({**LINE_CHANGE_PARAMS, "invoice_item": String(max_chars=ID_CHARS_MAX)})
_UPDATED_LINE = Struct(
    {**LINE_CHANGE_PARAMS, "id": String(max_chars=ID_CHARS_MAX)}, required=("id",)
)
_REMOVED_LINE = Struct(
    {"behavior": Enum(values=REMOVE_BEHAVIORS), "id": String(max_chars=ID_CHARS_MAX)},
    required=("behavior", "id"),
)


def _edit_params(line: Struct) -> dict[str, Param]:
    return {
        "invoice_metadata": Metadata(),
        "lines": ListOf(line, max_items=LINES_PER_REQUEST_MAX),
    }


ADD_LINES_PARAMS: Final = _edit_params(_ADDED_LINE)
UPDATE_LINES_PARAMS: Final = _edit_params(_UPDATED_LINE)
REMOVE_LINES_PARAMS: Final = _edit_params(_REMOVED_LINE)
UPDATE_LINE_PARAMS: Final = LINE_CHANGE_PARAMS

Fields = Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class EditLines:
    """`add_lines`, `update_lines` or `remove_lines`: each entry of `lines` as parsed."""

    invoice: str
    lines: list[Fields]
    invoice_metadata: MetadataUpdate | None = None


@dataclass(frozen=True, kw_only=True)
class UpdateLine(ItemChanges):
    """`POST /v1/invoices/{invoice}/lines/{line_item_id}`."""

    invoice: str
    line_item_id: str


_CHANGE_NAMES: Final = frozenset(f.name for f in fields(ItemChanges))


def item_changes(line: Fields) -> dict[str, Any]:
    """The entry's fields an invoice item takes (`ItemChanges`'s), by name: what is left out
    (`id`, `invoice_item`) says which line or item they go to."""
    return {name: value for name, value in line.items() if name in _CHANGE_NAMES}


def sent_changes(changes: ItemChanges) -> list[str]:
    """The names of the fields `changes` carries (sent, empty ones included)."""
    return sorted(name for name in _CHANGE_NAMES if getattr(changes, name) is not None)
