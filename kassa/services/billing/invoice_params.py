"""The parameters of `POST /v1/invoices`, `POST /v1/invoices/{id}`, the list, the lines and
`finalize`, and the typed requests they are parsed into (Stripe's names; None when not
sent, UNSET when sent empty to clear a field). Parameters Stripe takes for what Kassa does
not hold (Connect, shipping rates, tax ids, sources) are refused with a 400 naming them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from kassa import money
from kassa.clock import DAY_SECONDS
from kassa.params import (
    CONNECT_ONLY,
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
    TimestampRange,
    Unset,
)
from kassa.services.billing import (
    discounts,
)
from kassa.services.billing.invoice_amounts import TAX_RATES_MAX
from kassa.services.customers import INVOICE_SETTINGS
from kassa.services.listing import (
    CURSOR_PARAMS,
    PAGINATION_PARAMS,
)

NUMBER_CHARS_MAX: Final = 26
"""Stripe's limit on a custom invoice `number`."""
DAYS_UNTIL_DUE_MAX: Final = 3_650
FINALIZES_AT_HORIZON_SECONDS: Final = 5 * 366 * DAY_SECONDS
"""`automatically_finalizes_at` may be at most five years ahead."""
STATEMENT_DESCRIPTOR_CHARS_MAX: Final = 22
STATUSES: Final = ("draft", "open", "void", "paid", "uncollectible")
"""In the order Stripe's list error names them."""
PREVIEW_ID_PREFIX: Final = "upcoming_in"

_COLLECTION_METHOD = Enum(values=("charge_automatically", "send_invoice"))
_CUSTOM_FIELDS = INVOICE_SETTINGS.fields["custom_fields"]
TAX_RATE_IDS = ListOf(String(max_chars=255), max_items=TAX_RATES_MAX, nullable=True)
AUTOMATIC_TAX = Struct(
    {
        "enabled": Boolean(),
        "liability": Struct({"account": String(max_chars=255), "type": Enum(values=("self",))}),
    },
    required=("enabled",),
)
ISSUER = Struct({"type": Enum(values=("self",))}, required=("type",))
_PAYMENT_SETTINGS = Struct(
    {
        "default_mandate": String(max_chars=255, nullable=True),
        "payment_method_options": Struct(
            {
                "card": Struct(
                    {"request_three_d_secure": Enum(values=("any", "automatic", "challenge"))},
                    nullable=True,
                )
            },
            nullable=True,
        ),
        "payment_method_types": ListOf(Enum(values=("card",)), nullable=True),
    }
)
_RENDERING = Struct(
    {
        "amount_tax_display": Enum(values=("exclude_tax", "include_inclusive_tax"), nullable=True),
        "pdf": Struct({"page_size": Enum(values=("a4", "auto", "letter"))}),
        "template": String(max_chars=255),
        "template_version": Integer(minimum=1, nullable=True),
    }
)
_NOT_SUPPORTED: dict[str, Param] = {
    name: NotSupported(reason=reason)
    for name, reason in (
        ("account_tax_ids", "Kassa holds no tax ids yet."),
        ("application_fee_amount", CONNECT_ONLY),
        ("default_source", "Kassa pays invoices with PaymentMethods, not sources."),
        ("on_behalf_of", CONNECT_ONLY),
        ("shipping_cost", "Kassa has no shipping rates yet."),
        ("shipping_details", "Kassa has no shipping rates yet."),
        ("transfer_data", CONNECT_ONLY),
    )
}
_CHANGES: dict[str, Param] = {
    **_NOT_SUPPORTED,
    "auto_advance": Boolean(),
    "automatic_tax": AUTOMATIC_TAX,
    "automatically_finalizes_at": Timestamp(),
    "collection_method": _COLLECTION_METHOD,
    "custom_fields": _CUSTOM_FIELDS,
    "days_until_due": Integer(minimum=0, maximum=DAYS_UNTIL_DUE_MAX),
    "default_payment_method": String(max_chars=255, nullable=True),
    "default_tax_rates": TAX_RATE_IDS,
    "description": String(max_chars=1_500, nullable=True),
    "discounts": discounts.DISCOUNTS_PARAM,
    "due_date": Timestamp(),
    "effective_at": Timestamp(nullable=True),
    "footer": String(max_chars=5_000, nullable=True),
    "issuer": ISSUER,
    "metadata": Metadata(),
    "number": String(
        max_chars=NUMBER_CHARS_MAX,
        nullable=True,
        pattern=re.compile(r"[^\x00-\x1f\x7f]+"),
        pattern_hint="; an invoice number holds no control characters",
    ),
    "payment_settings": _PAYMENT_SETTINGS,
    "rendering": _RENDERING,
    "statement_descriptor": String(max_chars=STATEMENT_DESCRIPTOR_CHARS_MAX, nullable=True),
}
CREATE_PARAMS: dict[str, Param] = {
    **_CHANGES,
    "currency": money.Currency(),
    "customer": String(max_chars=255),
    "customer_account": NotSupported(reason="Kassa bills customers, not accounts."),
    "from_invoice": NotSupported(reason="Kassa does not revise invoices yet."),
    "pending_invoice_items_behavior": Enum(values=("exclude", "include")),
    "subscription": String(max_chars=255),
}
UPDATE_PARAMS: dict[str, Param] = _CHANGES
LIST_PARAMS: dict[str, Param] = {
    **PAGINATION_PARAMS,
    "collection_method": _COLLECTION_METHOD,
    "customer": String(max_chars=255),
    "customer_account": NotSupported(reason="Kassa bills customers, not accounts."),
    "due_date": TimestampRange(),
    "status": Enum(values=STATUSES),
    "subscription": String(max_chars=255),
}
LINES_PARAMS: dict[str, Param] = {**CURSOR_PARAMS}
FINALIZE_PARAMS: dict[str, Param] = {"auto_advance": Boolean()}

Fields = Mapping[str, Any]


# --- requests -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class InvoiceChanges:
    """What create and update share: None when not sent, UNSET when sent empty."""

    auto_advance: bool | None = None
    automatic_tax: Fields | None = None
    automatically_finalizes_at: int | None = None
    collection_method: str | None = None
    custom_fields: list[Fields] | Unset | None = None
    days_until_due: int | None = None
    default_payment_method: str | Unset | None = None
    default_tax_rates: list[str] | Unset | None = None
    description: str | Unset | None = None
    discounts: list[Fields] | Unset | None = None
    due_date: int | None = None
    effective_at: int | Unset | None = None
    footer: str | Unset | None = None
    issuer: Fields | None = None
    metadata: MetadataUpdate | None = None
    number: str | Unset | None = None
    payment_settings: Fields | None = None
    rendering: Fields | None = None
    statement_descriptor: str | Unset | None = None
    # Refused while parsing.
    account_tax_ids: Any = None
    application_fee_amount: Any = None
    default_source: Any = None
    on_behalf_of: Any = None
    shipping_cost: Any = None
    shipping_details: Any = None
    transfer_data: Any = None


@dataclass(frozen=True, kw_only=True)
class CreateInvoice(InvoiceChanges):
    customer: str | None = None
    currency: str | None = None
    pending_invoice_items_behavior: str | None = None
    customer_account: Any = None
    from_invoice: Any = None
    subscription: str | None = None
    """The customer's subscription to invoice: the invoice is that subscription's (`parent`)
    and takes only its pending items."""


@dataclass(frozen=True, kw_only=True)
class UpdateInvoice(InvoiceChanges):
    invoice: str


@dataclass(frozen=True, kw_only=True)
class ListInvoices:
    limit: int | None = None
    starting_after: str | None = None
    ending_before: str | None = None
    created: dict[str, int] | None = None
    collection_method: str | None = None
    customer: str | None = None
    due_date: dict[str, int] | None = None
    status: str | None = None
    subscription: str | None = None
    customer_account: Any = None


@dataclass(frozen=True, kw_only=True)
class FinalizeInvoice:
    invoice: str
    auto_advance: bool | None = None


@dataclass(frozen=True, kw_only=True)
class ListLines:
    invoice: str
    limit: int | None = None
    starting_after: str | None = None
    ending_before: str | None = None
