"""The parameters of `/v1/quotes` (create, update, list, finalize, line item lists): what
Kassa's quotes take, and every other parameter Stripe's take declared `NotSupported` with its
reason, so that a 400 names it and nothing is written.

Stripe's reference (docs.stripe.com/api/quotes): `expires_at` is "a future timestamp on which
the quote will be canceled if in `open` or `draft` status"; a quote's line items take a
`price` or `price_data` (whose `product` is required), a `quantity`, `discounts` and
`tax_rates`; `subscription_data` shapes the subscription accepting a quote with recurring
lines makes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from kassa import money
from kassa.params import (
    CONNECT_ONLY,
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
from kassa.services.billing.discounts import DISCOUNTS_PARAM
from kassa.services.billing.invoice_params import AUTOMATIC_TAX, TAX_RATE_IDS
from kassa.services.billing.price_fields import RECURRING_INTERVAL
from kassa.services.billing.subscription_params import BILLING_MODE
from kassa.services.billing.subscription_trials import TRIAL_DAYS_MAX

LINE_ITEMS_MAX: Final = 20
"""Stripe: a quote takes "a maximum of 20 line items"."""
QUANTITY_MAX: Final = 999_999_999
TEXT_CHARS_MAX: Final = 500
"""`header` is 50 characters at Stripe; `description` and `footer` 500."""
HEADER_CHARS_MAX: Final = 50
DAYS_UNTIL_DUE_MAX: Final = 730
STATUSES: Final = ("accepted", "canceled", "draft", "open")

_NOT_REVISED = "Kassa does not revise or copy quotes: create a new one"
_ACCEPT_STARTS_NOW = (
    "the subscription a quote makes starts when the quote is accepted (no schedule)"
)


def _refused(reason: str) -> NotSupported:
    return NotSupported(reason=reason)


PRICE_DATA: Final = Struct(
    {
        "currency": money.Currency(),
        "product": String(max_chars=255),
        "recurring": RECURRING_INTERVAL,
        "unit_amount": Integer(minimum=0, maximum=money.MAX_AMOUNT),
        "tax_behavior": Enum(values=("exclusive", "inclusive", "unspecified")),
        "unit_amount_decimal": _refused("give unit_amount in the currency's minor unit"),
    },
    required=("currency", "product", "unit_amount"),
)
LINE_ITEM: Final = Struct(
    {
        "price": String(max_chars=255),
        "price_data": PRICE_DATA,
        "quantity": Integer(minimum=0, maximum=QUANTITY_MAX),
        "discounts": DISCOUNTS_PARAM,
        "tax_rates": TAX_RATE_IDS,
        "id": _refused("line_items replace the quote's lines whole: send every line again"),
    }
)
SUBSCRIPTION_DATA: Final = Struct(
    {
        "description": String(max_chars=TEXT_CHARS_MAX, nullable=True),
        "trial_period_days": Integer(minimum=1, maximum=TRIAL_DAYS_MAX, nullable=True),
        "metadata": Metadata(),
        "effective_date": _refused(_ACCEPT_STARTS_NOW),
        "billing_mode": BILLING_MODE,
    }
)
INVOICE_SETTINGS: Final = Struct(
    {
        "days_until_due": Integer(minimum=0, maximum=DAYS_UNTIL_DUE_MAX),
        "custom_fields": _refused("the invoice's custom fields are set on the invoice"),
        "description": _refused("give the quote's description"),
        "footer": _refused("give the quote's footer"),
        "issuer": _refused(CONNECT_ONLY),
    }
)


_SHARED_PARAMS: dict[str, Param] = {
    "collection_method": Enum(values=("charge_automatically", "send_invoice")),
    "customer": String(max_chars=255),
    "default_tax_rates": TAX_RATE_IDS,
    "description": String(max_chars=TEXT_CHARS_MAX, nullable=True),
    "discounts": DISCOUNTS_PARAM,
    "expires_at": Timestamp(),
    "footer": String(max_chars=TEXT_CHARS_MAX, nullable=True),
    "header": String(max_chars=HEADER_CHARS_MAX, nullable=True),
    "invoice_settings": INVOICE_SETTINGS,
    "line_items": ListOf(item=LINE_ITEM, max_items=LINE_ITEMS_MAX),
    "metadata": Metadata(),
    "subscription_data": SUBSCRIPTION_DATA,
    "automatic_tax": AUTOMATIC_TAX,
    "application_fee_amount": _refused(CONNECT_ONLY),
    "application_fee_percent": _refused(CONNECT_ONLY),
    "customer_account": _refused("Kassa has no Accounts v2"),
    "on_behalf_of": _refused(CONNECT_ONLY),
    "transfer_data": _refused(CONNECT_ONLY),
}
CREATE_PARAMS: dict[str, Param] = {
    **_SHARED_PARAMS,
    "test_clock": String(max_chars=255),
    "from_quote": _refused(_NOT_REVISED),
}
UPDATE_PARAMS: dict[str, Param] = dict(_SHARED_PARAMS)
FINALIZE_PARAMS: dict[str, Param] = {"expires_at": Timestamp()}
LIST_FILTERS: dict[str, Param] = {
    "customer": String(max_chars=255),
    "status": Enum(values=STATUSES),
    "test_clock": String(max_chars=255),
    "customer_account": _refused("Kassa has no Accounts v2"),
}


@dataclass(frozen=True, kw_only=True)
class QuoteChanges:
    """What create and update share; None: not sent, UNSET: sent empty (cleared)."""

    collection_method: str | None = None
    customer: str | None = None
    default_tax_rates: list[str] | Unset | None = None
    description: str | Unset | None = None
    discounts: list[dict[str, Any]] | Unset | None = None
    expires_at: int | None = None
    footer: str | Unset | None = None
    header: str | Unset | None = None
    invoice_settings: dict[str, Any] | None = None
    line_items: list[dict[str, Any]] | None = None
    metadata: MetadataUpdate | None = None
    subscription_data: dict[str, Any] | None = None
    automatic_tax: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class CreateQuote(QuoteChanges):
    test_clock: str | None = None


@dataclass(frozen=True, kw_only=True)
class UpdateQuote(QuoteChanges):
    quote: str


@dataclass(frozen=True)
class FinalizeQuote:
    quote: str
    expires_at: int | None = None
