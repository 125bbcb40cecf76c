"""The parameters of `/v1/credit_notes` (API 2026-10-28.endive, the `stripe` package's
`CreditNoteCreateParams`, `...PreviewParams`, `...PreviewLinesParams`, `...ModifyParams`,
`...ListParams`, `...ListLinesParams`) and the typed requests they build.

Create, preview and preview lines take the same description of a credit note
(`NOTE_PARAMS`); what Kassa does not do yet is declared `NotSupported`, so a request naming
it is a 400 naming the parameter, never a credit note that silently differs from Stripe's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from kassa import money
from kassa.params import (
    Enum,
    Integer,
    ListOf,
    Metadata,
    MetadataUpdate,
    NotSupported,
    Param,
    String,
    Struct,
    Timestamp,
    Unset,
)
from kassa.services.billing.invoice_amounts import LINES_MAX, TAX_RATES_MAX
from kassa.services.billing.price_fields import DecimalAmount
from kassa.services.listing import CURSOR_PARAMS, PAGINATION_PARAMS

REASONS: Final = ("duplicate", "fraudulent", "order_change", "product_unsatisfactory")
EMAIL_TYPES: Final = ("credit_note", "none")
LINE_TYPES: Final = ("custom_line_item", "invoice_line_item")
MEMO_MAX_CHARS: Final = 5_000
DESCRIPTION_MAX_CHARS: Final = 5_000
QUANTITY_MAX: Final = 1_000_000_000
"""The largest quantity a credit note line takes (an invoice line's is far below it)."""
NO_TAX_AMOUNTS: Final = (
    "tax_amounts name tax rates Stripe creates for automatic tax, which Kassa has not: give "
    "a custom line tax_rates, or credit an invoice line (its taxes are credited with it)."
)

_AMOUNT = Integer(minimum=0, maximum=money.MAX_AMOUNT)

LINE = Struct(
    {
        "amount": _AMOUNT,
        "description": String(max_chars=DESCRIPTION_MAX_CHARS),
        "invoice_line_item": String(max_chars=255),
        "metadata": Metadata(),
        "quantity": Integer(minimum=0, maximum=QUANTITY_MAX),
        "tax_amounts": NotSupported(reason=NO_TAX_AMOUNTS),
        "tax_rates": ListOf(item=String(max_chars=255), max_items=TAX_RATES_MAX, nullable=True),
        "type": Enum(values=LINE_TYPES),
        "unit_amount": _AMOUNT,
        "unit_amount_decimal": DecimalAmount(),
    },
    required=("type",),
)

NOTE_PARAMS: dict[str, Param] = {
    "amount": _AMOUNT,
    "credit_amount": _AMOUNT,
    "effective_at": Timestamp(),
    "email_type": Enum(values=EMAIL_TYPES),
    "invoice": String(max_chars=255),
    "lines": ListOf(item=LINE, max_items=LINES_MAX),
    "memo": String(max_chars=MEMO_MAX_CHARS),
    "metadata": Metadata(),
    "out_of_band_amount": _AMOUNT,
    "reason": Enum(values=REASONS),
    "refund_amount": _AMOUNT,
    "refunds": NotSupported(
        reason="link no existing refund: give refund_amount, and Kassa makes the refund."
    ),
    "shipping_cost": NotSupported(reason="Kassa's invoices have no shipping cost to credit."),
}
PREVIEW_LINES_PARAMS: dict[str, Param] = {**NOTE_PARAMS, **CURSOR_PARAMS}
UPDATE_PARAMS: dict[str, Param] = {
    "memo": String(max_chars=MEMO_MAX_CHARS),
    "metadata": Metadata(),
}
LIST_PARAMS: dict[str, Param] = {
    **PAGINATION_PARAMS,
    "customer": String(max_chars=255),
    "customer_account": NotSupported(
        reason="Kassa's customers are customers, not accounts: filter by customer."
    ),
    "invoice": String(max_chars=255),
}
LINES_PARAMS: dict[str, Param] = dict(CURSOR_PARAMS)


@dataclass(frozen=True, kw_only=True)
class NoteLine:
    """One `lines[i]` as sent (validated against the invoice by `credit_note_amounts`)."""

    type: str
    amount: int | None = None
    description: str | None = None
    invoice_line_item: str | None = None
    metadata: MetadataUpdate | None = None
    quantity: int | None = None
    tax_rates: list[str] | Unset | None = None
    """A custom line's tax rates (Stripe: "Only valid when the type is custom_line_item");
    "" (UNSET) names none."""
    unit_amount: int | None = None
    unit_amount_decimal: Decimal | None = None

    @property
    def rates(self) -> tuple[str, ...]:
        return tuple(self.tax_rates) if isinstance(self.tax_rates, list) else ()


@dataclass(frozen=True, kw_only=True)
class DescribeNote:
    """A credit note as create, preview and preview lines describe it."""

    invoice: str
    amount: int | None = None
    credit_amount: int | None = None
    effective_at: int | None = None
    email_type: str | None = None
    lines: Sequence[Mapping[str, Any]] | None = None
    memo: str | None = None
    metadata: MetadataUpdate | None = None
    out_of_band_amount: int | None = None
    reason: str | None = None
    refund_amount: int | None = None
    # Cursors: preview lines only (create and preview declare none).
    limit: int | None = None
    starting_after: str | None = None
    ending_before: str | None = None

    def parsed_lines(self) -> list[NoteLine]:
        return [NoteLine(**line) for line in self.lines or ()]


@dataclass(frozen=True, kw_only=True)
class UpdateNote:
    credit_note: str
    memo: str | None = None
    metadata: MetadataUpdate | None = None


@dataclass(frozen=True, kw_only=True)
class ListNotes:
    limit: int | None = None
    starting_after: str | None = None
    ending_before: str | None = None
    created: dict[str, int] | None = None
    customer: str | None = None
    invoice: str | None = None


@dataclass(frozen=True, kw_only=True)
class ListNoteLines:
    credit_note: str
    limit: int | None = None
    starting_after: str | None = None
    ending_before: str | None = None
