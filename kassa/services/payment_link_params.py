"""The parameters of `/v1/payment_links` (create, update, list): what a link made on Kassa's
hosted Checkout takes, and every other parameter Stripe's reference lists declared
`NotSupported` with its reason, so that a 400 names it and nothing is written.

Stripe's reference (docs.stripe.com/api/payment_links/payment_links/create): `line_items` is
required (up to 20), each with a `price` (or the `price_data` of a new one) and a
`quantity`; `after_completion[type]` is `hosted_confirmation` (with an optional
`custom_message`) or `redirect` (with its `url`);
`restrictions[completed_sessions][limit]` caps the completed sessions; `subscription_data`
needs a recurring price. A few settings Kassa's page cannot honour are taken at the value
that asks for nothing (`phone_number_collection[enabled]=false`, `invoice_creation[enabled]=
false`, `billing_address_collection=auto`, ...): `payment_links._check_honoured` refuses
the others naming them.
"""

from __future__ import annotations

from dataclasses import dataclass
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
)
from kassa.services.checkout_session_params import PRICE_DATA, QUANTITY_MAX, URL_CHARS_MAX
from kassa.services.checkout_shipping import SHIPPING_COUNTRIES, SHIPPING_OPTIONS_MAX

LINE_ITEMS_MAX: Final = 20
"""Stripe: a payment link's `line_items` "Up to 20 line items are supported"."""
CUSTOM_MESSAGE_CHARS_MAX: Final = 1_000
"""Kassa's bound on `after_completion[hosted_confirmation][custom_message]` (a page's
paragraph; Stripe's reference names no length)."""
INACTIVE_MESSAGE_CHARS_MAX: Final = 500
"""Kassa's bound on `inactive_message` (a page's paragraph)."""
COMPLETED_SESSIONS_LIMIT_MAX: Final = 10_000
"""Kassa's bound on `restrictions[completed_sessions][limit]`: far above any sale a test
link makes, and a number the page's count check never overflows."""
SUBMIT_TYPES: Final = ("auto", "book", "donate", "pay", "subscribe")

_NO_CONNECT = "Kassa has no Connect"
_NOT_COLLECTED = "the hosted page collects an email and a card only"


def _refused(reason: str) -> NotSupported:
    return NotSupported(reason=reason)


ADJUSTABLE_QUANTITY: Final = Struct(
    {
        "enabled": Boolean(),
        "minimum": Integer(minimum=0, maximum=QUANTITY_MAX),
        "maximum": Integer(minimum=1, maximum=QUANTITY_MAX),
    },
    required=("enabled",),
)
LINE_ITEM: Final = Struct(
    {
        "price": String(max_chars=255),
        "quantity": Integer(minimum=1, maximum=QUANTITY_MAX),
        "adjustable_quantity": ADJUSTABLE_QUANTITY,
        "price_data": PRICE_DATA,
    },
)
"""One of `price` and `price_data` (Checkout's, and checked as Checkout checks it:
`checkout_sessions.link_line_items`)."""
LINE_ITEM_UPDATE: Final = Struct(
    {
        "id": String(max_chars=255),
        "quantity": Integer(minimum=1, maximum=QUANTITY_MAX),
        "adjustable_quantity": ADJUSTABLE_QUANTITY,
    },
    required=("id",),
)
AFTER_COMPLETION: Final = Struct(
    {
        "type": Enum(values=("hosted_confirmation", "redirect")),
        "hosted_confirmation": Struct(
            {"custom_message": String(max_chars=CUSTOM_MESSAGE_CHARS_MAX)}
        ),
        "redirect": Struct({"url": String(max_chars=URL_CHARS_MAX)}, required=("url",)),
    },
    required=("type",),
)
RESTRICTIONS: Final = Struct(
    {
        "completed_sessions": Struct(
            {"limit": Integer(minimum=1, maximum=COMPLETED_SESSIONS_LIMIT_MAX)},
            required=("limit",),
        )
    },
    required=("completed_sessions",),
    nullable=True,
)
SUBSCRIPTION_DATA: Final = Struct(
    {
        "description": String(max_chars=500),
        "metadata": Metadata(),
        "trial_period_days": Integer(minimum=1, maximum=730),
        "invoice_settings": _refused("create the subscription and change it afterwards"),
        "trial_settings": _refused("create the subscription and change it afterwards"),
    }
)
PAYMENT_INTENT_DATA: Final = Struct(
    {
        "capture_method": Enum(values=("automatic", "automatic_async", "manual")),
        "description": String(max_chars=1_000),
        "metadata": Metadata(),
        "setup_future_usage": Enum(values=("off_session", "on_session")),
        "statement_descriptor": _refused("Kassa's Checkout sets no statement descriptors"),
        "statement_descriptor_suffix": _refused("Kassa's Checkout sets no statement descriptors"),
        "transfer_group": _refused(_NO_CONNECT),
    }
)
SHIPPING_ADDRESS_COLLECTION: Final = Struct(
    {
        "allowed_countries": ListOf(
            item=Enum(values=SHIPPING_COUNTRIES), max_items=len(SHIPPING_COUNTRIES)
        )
    },
    required=("allowed_countries",),
    nullable=True,
)
"""As a Checkout Session's; `""` clears it."""
SHIPPING_OPTIONS: Final = ListOf(
    item=Struct({"shipping_rate": String(max_chars=255)}, required=("shipping_rate",)),
    max_items=SHIPPING_OPTIONS_MAX,
    nullable=True,
)
"""Rates named by id (a link's sessions all offer the same rates); `""` clears them."""
SWITCH: Final = Struct({"enabled": Boolean()}, required=("enabled",))
"""`{enabled}` settings Kassa takes only off (`payment_links._check_honoured`)."""
INVOICE_CREATION: Final = Struct(
    {
        "enabled": Boolean(),
        "invoice_data": _refused("payment mode makes no invoice"),
    },
    required=("enabled",),
)
AUTOMATIC_TAX: Final = Struct(
    {"enabled": Boolean(), "liability": _refused("Kassa computes no automatic tax")},
    required=("enabled",),
)

_UNSUPPORTED: Final = {
    "application_fee_amount": _NO_CONNECT,
    "application_fee_percent": _NO_CONNECT,
    "consent_collection": _NOT_COLLECTED,
    "custom_fields": _NOT_COLLECTED,
    "custom_text": "the page shows no custom text",
    "managed_payments": "Kassa has no managed payments",
    "name_collection": _NOT_COLLECTED,
    "on_behalf_of": _NO_CONNECT,
    "optional_items": "the page offers no optional items",
    "payment_method_options": "Kassa's Checkout takes cards only",
    "tax_id_collection": _NOT_COLLECTED,
    "transfer_data": _NO_CONNECT,
}

_SETTINGS: Final[dict[str, Param]] = {
    "after_completion": AFTER_COMPLETION,
    "allow_promotion_codes": Boolean(),
    "automatic_tax": AUTOMATIC_TAX,
    "billing_address_collection": Enum(values=("auto", "required")),
    "customer_creation": Enum(values=("always", "if_required")),
    "inactive_message": String(max_chars=INACTIVE_MESSAGE_CHARS_MAX, nullable=True),
    "invoice_creation": INVOICE_CREATION,
    "metadata": Metadata(),
    "payment_intent_data": PAYMENT_INTENT_DATA,
    "payment_method_collection": Enum(values=("always", "if_required")),
    "payment_method_types": ListOf(item=Enum(values=("card",)), max_items=1, nullable=True),
    "phone_number_collection": SWITCH,
    "restrictions": RESTRICTIONS,
    "shipping_address_collection": SHIPPING_ADDRESS_COLLECTION,
    "shipping_options": SHIPPING_OPTIONS,
    "submit_type": Enum(values=SUBMIT_TYPES),
    "subscription_data": SUBSCRIPTION_DATA,
    **{name: _refused(reason) for name, reason in _UNSUPPORTED.items()},
}
CREATE_PARAMS: dict[str, Param] = {
    **_SETTINGS,
    "line_items": ListOf(item=LINE_ITEM, max_items=LINE_ITEMS_MAX),
    "currency": money.Currency(),
}
UPDATE_PARAMS: dict[str, Param] = {
    **_SETTINGS,
    "active": Boolean(),
    "line_items": ListOf(item=LINE_ITEM_UPDATE, max_items=LINE_ITEMS_MAX),
}
LIST_FILTERS: dict[str, Param] = {"active": Boolean()}


@dataclass(frozen=True, kw_only=True)
class LinkSettings:
    """What create and update share: each None when not sent (`UNSET` when sent empty)."""

    after_completion: dict[str, Any] | None = None
    allow_promotion_codes: bool | None = None
    automatic_tax: dict[str, Any] | None = None
    billing_address_collection: str | None = None
    customer_creation: str | None = None
    inactive_message: Any = None
    invoice_creation: dict[str, Any] | None = None
    metadata: MetadataUpdate | None = None
    payment_intent_data: dict[str, Any] | None = None
    payment_method_collection: str | None = None
    payment_method_types: Any = None
    phone_number_collection: dict[str, Any] | None = None
    restrictions: Any = None
    shipping_address_collection: Any = None
    shipping_options: Any = None
    submit_type: str | None = None
    subscription_data: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class CreatePaymentLink(LinkSettings):
    line_items: list[dict[str, Any]] | None = None
    currency: str | None = None


@dataclass(frozen=True, kw_only=True)
class UpdatePaymentLink(LinkSettings):
    payment_link: str
    active: bool | None = None
    line_items: list[dict[str, Any]] | None = None
