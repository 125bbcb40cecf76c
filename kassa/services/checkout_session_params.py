"""The parameters of `POST /v1/checkout/sessions` (and its list and update): what Kassa's
hosted Checkout takes, and every other parameter Stripe's create takes declared `NotSupported`
with its reason, so that a 400 names it and nothing is written.

Stripe's reference (docs.stripe.com/api/checkout/sessions/create): `mode` is required;
`line_items` are required in payment and subscription mode (at most 100 in payment mode; 20
recurring in subscription mode) and refused in setup mode; `expires_at` is "anywhere from 30
minutes to 24 hours after Checkout Session creation. By default, this value is 24 hours from
creation"; `customer_creation` "can only be set in payment and setup mode"; `discounts` and
`allow_promotion_codes` cannot both be given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from kassa import money
from kassa.params import (
    Boolean,
    Email,
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
)
from kassa.services.billing.invoice_amounts import TAX_RATES_MAX
from kassa.services.billing.price_fields import RECURRING_INTERVAL
from kassa.services.checkout_shipping import ADDRESS_COLLECTION
from kassa.services.checkout_shipping import OPTIONS as SHIPPING_OPTIONS

MODES: Final = ("payment", "setup", "subscription")
PAYMENT_LINE_ITEMS_MAX: Final = 100
"""Stripe: "For payment mode, there is a maximum of 100 line items"."""
SUBSCRIPTION_LINE_ITEMS_MAX: Final = 20
"""Stripe: "for subscription mode, there is a maximum of 20 line items with recurring Prices"."""
URL_CHARS_MAX: Final = 5_000
"""Stripe's limit on a URL parameter's length."""
CLIENT_REFERENCE_CHARS_MAX: Final = 200
"""Stripe: `client_reference_id` "can be a customer ID, a cart ID, or similar" of up to 200
characters."""
QUANTITY_MAX: Final = 999_999
ADJUSTABLE_MAXIMUM_DEFAULT: Final = 99
"""Stripe: `adjustable_quantity[maximum]` "By default this value is 99"."""
ADJUSTABLE_MINIMUM_DEFAULT: Final = 0
"""Stripe: `adjustable_quantity[minimum]` "By default this value is 0"."""
LOCALES: Final = (
    "auto", "bg", "cs", "da", "de", "el", "en", "en-GB", "es", "es-419", "et", "fi", "fil",
    "fr", "fr-CA", "hi-IN", "hr", "hu", "id", "it", "ja", "ko", "lt", "lv", "ms", "mt", "nb",
    "nl", "pl", "pt", "pt-BR", "ro", "ru", "sk", "sl", "sv", "th", "tr", "vi", "zh", "zh-HK",
    "zh-TW",
)  # fmt: skip
HOSTED_UI_MODES: Final = ("hosted", "hosted_page")
"""The hosted page (`hosted_page`; `hosted` is its older name): the only one Kassa serves."""
UI_MODES: Final = ("elements", "embedded", "embedded_page", "form", "custom", *HOSTED_UI_MODES)

_HOSTED_ONLY = "Kassa serves the hosted Checkout page only, with cards only"
_NOT_COLLECTED = "the hosted page collects an email and a card only"


def _refused(reason: str) -> NotSupported:
    return NotSupported(reason=reason)


PRODUCT_DATA: Final = Struct(
    {
        "name": String(max_chars=250),
        "description": String(max_chars=40_000),
        "metadata": Metadata(),
        "images": _refused("product images are not shown on Kassa's page"),
        "tax_code": _refused("Kassa computes no automatic tax"),
        "tax_details": _refused("Kassa computes no automatic tax"),
        "unit_label": _refused("the page shows no unit labels"),
    },
    required=("name",),
)
PRICE_DATA: Final = Struct(
    {
        "currency": money.Currency(),
        "product": String(max_chars=255),
        "product_data": PRODUCT_DATA,
        "recurring": RECURRING_INTERVAL,
        "unit_amount": Integer(minimum=0, maximum=money.MAX_AMOUNT),
        "tax_behavior": _refused("Kassa computes no automatic tax"),
        "unit_amount_decimal": _refused("give unit_amount in the currency's minor unit"),
    },
    required=("currency", "unit_amount"),
)
LINE_ITEM: Final = Struct(
    {
        "price": String(max_chars=255),
        "price_data": PRICE_DATA,
        "quantity": Integer(minimum=1, maximum=QUANTITY_MAX),
        "metadata": Metadata(),
        "adjustable_quantity": Struct(
            {
                "enabled": Boolean(),
                "minimum": Integer(minimum=0, maximum=QUANTITY_MAX),
                "maximum": Integer(minimum=1, maximum=QUANTITY_MAX),
            },
            required=("enabled",),
        ),
        "tax_rates": ListOf(String(max_chars=255), max_items=TAX_RATES_MAX),
    }
)
SUBSCRIPTION_DATA: Final = Struct(
    {
        "trial_period_days": Integer(minimum=1, maximum=730),
        "trial_end": Timestamp(),
        "metadata": Metadata(),
        "description": String(max_chars=500),
        **{
            name: _refused("create the subscription and change it afterwards")
            for name in (
                "application_fee_percent",
                "billing_cycle_anchor",
                "billing_cycle_anchor_config",
                "billing_mode",
                "default_tax_rates",
                "invoice_settings",
                "on_behalf_of",
                "pending_invoice_item_interval",
                "proration_behavior",
                "transfer_data",
                "trial_settings",
            )
        },
    }
)
PAYMENT_INTENT_DATA: Final = Struct(
    {
        "metadata": Metadata(),
        "description": String(max_chars=1_000),
        "capture_method": Enum(values=("automatic", "automatic_async", "manual")),
        "setup_future_usage": Enum(values=("off_session", "on_session")),
        **{
            name: _refused(
                "Kassa has no Connect or receipts on Checkout, and takes the shipping address "
                "from the page (shipping_address_collection)"
            )
            for name in (
                "application_fee_amount",
                "on_behalf_of",
                "receipt_email",
                "shipping",
                "statement_descriptor",
                "statement_descriptor_suffix",
                "transfer_data",
                "transfer_group",
            )
        },
    }
)
SETUP_INTENT_DATA: Final = Struct(
    {
        "metadata": Metadata(),
        "description": String(max_chars=1_000),
        "on_behalf_of": _refused("Kassa has no Connect"),
    }
)
DISCOUNT: Final = Struct({"coupon": String(max_chars=255), "promotion_code": String(max_chars=255)})

_UNSUPPORTED_CREATE: Final = {
    "adaptive_pricing": "Kassa converts no currencies on Checkout",
    "after_expiration": "expired sessions offer no recovery",
    "allowed_payment_method_types": _HOSTED_ONLY,
    "automatic_tax": "Kassa computes no automatic tax",
    "billing_address_collection": _NOT_COLLECTED,
    "branding_settings": "the page has one look",
    "consent_collection": _NOT_COLLECTED,
    "custom_fields": _NOT_COLLECTED,
    "custom_text": "the page shows no custom text",
    "customer_account": "Kassa has no Accounts v2",
    "customer_update": _NOT_COLLECTED,
    "excluded_payment_method_types": _HOSTED_ONLY,
    "integration_identifier": "not recorded",
    "invoice_creation": "payment mode makes no invoice",
    "managed_payments": "Kassa has no managed payments",
    "name_collection": _NOT_COLLECTED,
    "optional_items": "the page offers no optional items",
    "origin_context": "not recorded",
    "payment_method_collection": "a card is always collected",
    "payment_method_configuration": _HOSTED_ONLY,
    "payment_method_data": "not recorded",
    "payment_method_options": _HOSTED_ONLY,
    "permissions": "sessions are updated through the API only",
    "phone_number_collection": _NOT_COLLECTED,
    "redirect_on_completion": "the hosted page always redirects to success_url",
    "return_url": "the hosted page redirects to success_url (return_url is for embedded modes)",
    "saved_payment_method_options": "the page shows no saved cards",
    "submit_type": "the page's button always says Pay",
    "tax_id_collection": _NOT_COLLECTED,
    "wallet_options": _HOSTED_ONLY,
}

CREATE_PARAMS: dict[str, Param] = {
    "mode": Enum(values=MODES),
    "line_items": ListOf(item=LINE_ITEM, max_items=PAYMENT_LINE_ITEMS_MAX),
    "success_url": String(max_chars=URL_CHARS_MAX),
    "cancel_url": String(max_chars=URL_CHARS_MAX),
    "customer": String(max_chars=255),
    "customer_email": Email(),
    "customer_creation": Enum(values=("always", "if_required")),
    "client_reference_id": String(max_chars=CLIENT_REFERENCE_CHARS_MAX),
    "metadata": Metadata(),
    "payment_method_types": ListOf(item=Enum(values=("card",)), max_items=1),
    "currency": money.Currency(),
    "subscription_data": SUBSCRIPTION_DATA,
    "payment_intent_data": PAYMENT_INTENT_DATA,
    "setup_intent_data": SETUP_INTENT_DATA,
    "discounts": ListOf(item=DISCOUNT, max_items=1),
    "allow_promotion_codes": Boolean(),
    "expires_at": Timestamp(),
    "locale": Enum(values=LOCALES),
    "ui_mode": Enum(values=UI_MODES),
    "shipping_address_collection": ADDRESS_COLLECTION,
    "shipping_options": SHIPPING_OPTIONS,
    **{name: _refused(reason) for name, reason in _UNSUPPORTED_CREATE.items()},
}
UPDATE_PARAMS: dict[str, Param] = {
    "metadata": Metadata(),
    "collected_information": _refused(_NOT_COLLECTED),
    "line_items": _refused("line items are fixed at creation"),
    "payment_intent_data": _refused("payment_intent_data is fixed at creation"),
    "shipping_options": _refused("shipping options are fixed at creation"),
}
LIST_FILTERS: dict[str, Param] = {
    "customer": String(max_chars=255),
    "payment_intent": String(max_chars=255),
    "subscription": String(max_chars=255),
    "status": Enum(values=("complete", "expired", "open")),
    "customer_account": _refused("Kassa has no Accounts v2"),
    "customer_details": _refused("filter on customer instead"),
    "payment_link": String(max_chars=255),
}
CREATED_FILTER: Final = TimestampRange()


@dataclass(frozen=True, kw_only=True)
class CreateCheckoutSession:
    mode: str
    line_items: list[dict[str, Any]] | None = None
    success_url: str | None = None
    cancel_url: str | None = None
    customer: str | None = None
    customer_email: str | None = None
    customer_creation: str | None = None
    client_reference_id: str | None = None
    metadata: MetadataUpdate | None = None
    payment_method_types: list[str] | None = None
    currency: str | None = None
    subscription_data: dict[str, Any] | None = None
    payment_intent_data: dict[str, Any] | None = None
    setup_intent_data: dict[str, Any] | None = None
    discounts: list[dict[str, Any]] | None = None
    allow_promotion_codes: bool | None = None
    expires_at: int | None = None
    locale: str | None = None
    ui_mode: str | None = None
    shipping_address_collection: dict[str, Any] | None = None
    shipping_options: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class UpdateCheckoutSession:
    session: str
    metadata: MetadataUpdate | None = None


@dataclass(frozen=True)
class ParsedLineItem:
    """One line item as sent: a price id, or the `price_data` that makes an inline one."""

    index: int
    price: str | None
    price_data: dict[str, Any] | None
    quantity: int
    metadata: dict[str, str] = field(default_factory=dict)
