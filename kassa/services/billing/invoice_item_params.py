"""The parameters of `POST /v1/invoiceitems`, `POST /v1/invoiceitems/{id}` and the list,
and the typed requests they are parsed into (None when not sent, UNSET when sent empty)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from kassa import money
from kassa.params import (
    Boolean,
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
from kassa.services.billing import (
    discounts,
    pricing,
)
from kassa.services.billing.invoice_amounts import TAX_RATES_MAX
from kassa.services.billing.price_fields import (
    TAX_BEHAVIOR,
    DecimalAmount,
)
from kassa.services.listing import (
    PAGINATION_PARAMS,
)

DESCRIPTION_CHARS_MAX = 5_000
ITEM_AMOUNT_MAX = money.MAX_AMOUNT
"""The largest amount one item may come to, however it is priced (Stripe's eight digits)."""

_PERIOD = Struct({"end": Timestamp(), "start": Timestamp()}, required=("end", "start"))
PRICE_DATA: Final = Struct(
    {
        "currency": money.Currency(),
        "product": String(max_chars=255),
        "tax_behavior": TAX_BEHAVIOR,
        "unit_amount": Integer(minimum=0, maximum=money.MAX_AMOUNT),
        "unit_amount_decimal": DecimalAmount(),
    },
    required=("currency", "product"),
)
"""An item's inline one-time price (`price_data`), on `/v1/invoiceitems`, a preview's items
and a subscription's `add_invoice_items`."""
_TAX_RATES = ListOf(String(max_chars=255), max_items=TAX_RATES_MAX, nullable=True)
CHANGE_PARAMS: dict[str, Param] = {
    "amount": Integer(minimum=-money.MAX_AMOUNT, maximum=money.MAX_AMOUNT),
    "description": String(max_chars=DESCRIPTION_CHARS_MAX, nullable=True),
    "discountable": Boolean(),
    "discounts": discounts.DISCOUNTS_PARAM,
    "metadata": Metadata(),
    "period": _PERIOD,
    "price_data": PRICE_DATA,
    "pricing": Struct({"price": String(max_chars=255)}, required=("price",)),
    "quantity": Integer(minimum=0, maximum=pricing.QUANTITY_MAX),
    "quantity_decimal": DecimalAmount(maximum=pricing.QUANTITY_MAX),
    "tax_behavior": TAX_BEHAVIOR,
    "tax_code": String(max_chars=255, nullable=True),
    "tax_rates": _TAX_RATES,
    "unit_amount_decimal": DecimalAmount(),
}
"""What an item's create and update share (and, by the same names, an invoice's line edits:
`invoice_line_edit_params`)."""
CREATE_PARAMS: dict[str, Param] = {
    **CHANGE_PARAMS,
    "currency": money.Currency(),
    "customer": String(max_chars=255),
    "customer_account": NotSupported(reason="Kassa bills customers, not accounts."),
    "invoice": String(max_chars=255),
    "subscription": String(max_chars=255),
}
UPDATE_PARAMS: dict[str, Param] = {
    **CHANGE_PARAMS,
    "invoicing_rules": Enum(values=(), nullable=True),
}
LIST_PARAMS: dict[str, Param] = {
    **PAGINATION_PARAMS,
    "customer": String(max_chars=255),
    "customer_account": NotSupported(reason="Kassa bills customers, not accounts."),
    "invoice": String(max_chars=255),
    "pending": Boolean(),
}

Fields = Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class ItemChanges:
    """What create and update share: None when not sent, UNSET when sent empty."""

    amount: int | None = None
    description: str | Unset | None = None
    discountable: bool | None = None
    discounts: list[Fields] | Unset | None = None
    metadata: MetadataUpdate | None = None
    period: Fields | None = None
    price_data: Fields | None = None
    pricing: Fields | None = None
    quantity: int | None = None
    quantity_decimal: Decimal | None = None
    tax_rates: list[str] | Unset | None = None
    unit_amount_decimal: Decimal | None = None
    # Accepted as Stripe accepts them: they matter to Stripe Tax, which Kassa does not run.
    tax_behavior: str | None = None
    tax_code: str | Unset | None = None


@dataclass(frozen=True, kw_only=True)
class CreateInvoiceItem(ItemChanges):
    customer: str | None = None
    currency: str | None = None
    invoice: str | None = None
    customer_account: Any = None
    subscription: str | None = None
    """Both refused while parsing."""


@dataclass(frozen=True, kw_only=True)
class UpdateInvoiceItem(ItemChanges):
    invoiceitem: str
    invoicing_rules: Unset | None = None


@dataclass(frozen=True, kw_only=True)
class ListInvoiceItems:
    limit: int | None = None
    starting_after: str | None = None
    ending_before: str | None = None
    created: dict[str, int] | None = None
    customer: str | None = None
    invoice: str | None = None
    pending: bool | None = None
    customer_account: Any = None


@dataclass(frozen=True)
class Priced:
    """An item's amount and how it was arrived at."""

    amount: int
    currency: str
    quantity: int
    pricing: dict[str, Any]
