"""The parameters of `/v1/billing_portal/configurations` (create, update, list) and
`/v1/billing_portal/sessions` (create): what Kassa's customer portal takes, and every other
parameter Stripe's take declared `NotSupported` with its reason, so that a 400 names it and
nothing is written.

Stripe's reference: docs.stripe.com/api/customer_portal. On create, `features` is required,
and each feature's `enabled` (the SDK's TypedDicts mark them required); on update every
part is optional and changes only what it names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

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
    Unset,
)
from kassa.services.billing.subscriptions import CANCELLATION_FEEDBACK

URL_CHARS_MAX: Final = 5_000
"""Stripe's limit on a URL parameter's length."""
HEADLINE_CHARS_MAX: Final = 60
"""Stripe: the business profile's `headline` is "up to 60 characters"."""
NAME_CHARS_MAX: Final = 256
PRODUCTS_MAX: Final = 10
"""Stripe: `subscription_update[products]` is "the list of up to 10 products"."""
PRICES_PER_PRODUCT_MAX: Final = 20
ALLOWED_CUSTOMER_UPDATES: Final = ("address", "email", "name", "phone", "shipping", "tax_id")
CANCEL_MODES: Final = ("at_period_end", "immediately")
PRORATION_BEHAVIORS: Final = ("always_invoice", "create_prorations", "none")
CANCELLATION_REASONS: Final = CANCELLATION_FEEDBACK
"""The reasons a customer may give: the subscription's `cancellation_details[feedback]`."""
SUBSCRIPTION_UPDATES: Final = ("price", "promotion_code", "quantity")
LOCALES: Final = (
    "auto", "bg", "cs", "da", "de", "el", "en", "en-AU", "en-CA", "en-GB", "en-IE", "en-IN",
    "en-NZ", "en-SG", "es", "es-419", "et", "fi", "fil", "fr", "fr-CA", "hr", "hu", "id", "it",
    "ja", "ko", "lt", "lv", "ms", "mt", "nb", "nl", "pl", "pt", "pt-BR", "ro", "ru", "sk", "sl",
    "sv", "th", "tr", "vi", "zh", "zh-HK", "zh-TW",
)  # fmt: skip
"""Stripe's portal locales (stripe-python 16's `billing_portal.Session.locale`)."""
LIST_ITEMS_MAX: Final = 10
FLOW_TYPES: Final = (
    "customer_update",
    "payment_method_update",
    "subscription_cancel",
    "subscription_pause",
    "subscription_update",
    "subscription_update_confirm",
)
"""`flow_data[type]`'s values in stripe-python 16 (Kassa refuses `customer_update` and
`subscription_pause` with their reasons: `billing_portal_flows`)."""
AFTER_COMPLETION_TYPES: Final = ("hosted_confirmation", "portal_homepage", "redirect")
CUSTOM_MESSAGE_CHARS_MAX: Final = 500
"""Stripe's limit on `after_completion[hosted_confirmation][custom_message]`."""
FLOW_ITEMS_MAX: Final = 1
"""Stripe: a confirmed update names "only up to one" subscription item."""
FLOW_DISCOUNTS_MAX: Final = 1
"""A confirmed update applies one coupon or promotion code (the portal shows one)."""
FLOW_QUANTITY_MAX: Final = 999_999
ID_CHARS_MAX: Final = 5_000

_WEB_URL: Final = re.compile(r"https?://[^\s]+", re.IGNORECASE)
_NO_PAYMENT_METHOD_CONFIGURATIONS = "Kassa has no payment method configurations"
_NO_PAUSE = "Kassa's portal does not pause subscriptions"
_NO_SCHEDULED_UPDATES = "Kassa's portal does not switch plans (updates are not scheduled)"
_NO_FEEDBACK_OPTIONS = "Kassa has no custom cancellation feedback options"
_NO_ACCOUNTS_V2 = "Kassa has no Accounts v2"


def _url(nullable: bool = False) -> String:
    return String(
        max_chars=URL_CHARS_MAX,
        nullable=nullable,
        pattern=_WEB_URL,
        pattern_hint=": must be an absolute http:// or https:// URL",
    )


BUSINESS_PROFILE: Final = Struct(
    {
        "headline": String(max_chars=HEADLINE_CHARS_MAX, nullable=True),
        "privacy_policy_url": _url(nullable=True),
        "terms_of_service_url": _url(nullable=True),
    }
)


def _features(*, creating: bool) -> Struct:
    """`features`: on create each feature's `enabled` is required, on update none is."""
    enabled: tuple[str, ...] = ("enabled",) if creating else ()
    always: tuple[str, ...] = ("enabled",)  # the SDK requires these on update too
    reason = Struct(
        {
            "enabled": Boolean(),
            "options": ListOf(item=Enum(values=CANCELLATION_REASONS), nullable=True),
            "feedback_options": NotSupported(reason=_NO_FEEDBACK_OPTIONS),
        },
        required=("enabled", "options") if creating else ("enabled",),
    )
    product = Struct(
        {
            "product": String(max_chars=255),
            "prices": ListOf(item=String(max_chars=255), max_items=PRICES_PER_PRODUCT_MAX),
            "adjustable_quantity": NotSupported(reason=_NO_SCHEDULED_UPDATES),
        },
        required=("prices", "product"),
    )
    return Struct(
        {
            "customer_update": Struct(
                {
                    "enabled": Boolean(),
                    "allowed_updates": ListOf(
                        item=Enum(values=ALLOWED_CUSTOMER_UPDATES),
                        max_items=LIST_ITEMS_MAX,
                        nullable=True,
                    ),
                },
                required=enabled,
            ),
            "invoice_history": Struct({"enabled": Boolean()}, required=always),
            "payment_method_update": Struct(
                {
                    "enabled": Boolean(),
                    "payment_method_configuration": NotSupported(
                        reason=_NO_PAYMENT_METHOD_CONFIGURATIONS
                    ),
                },
                required=always,
            ),
            "subscription_cancel": Struct(
                {
                    "enabled": Boolean(),
                    "mode": Enum(values=CANCEL_MODES),
                    "proration_behavior": Enum(values=PRORATION_BEHAVIORS),
                    "cancellation_reason": reason,
                },
                required=enabled,
            ),
            "subscription_pause": Struct(
                {"enabled": Boolean(), "duration": NotSupported(reason=_NO_PAUSE)}
            ),
            "subscription_update": Struct(
                {
                    "enabled": Boolean(),
                    "default_allowed_updates": ListOf(
                        item=Enum(values=SUBSCRIPTION_UPDATES),
                        max_items=LIST_ITEMS_MAX,
                        nullable=True,
                    ),
                    "products": ListOf(item=product, max_items=PRODUCTS_MAX, nullable=True),
                    "proration_behavior": Enum(values=PRORATION_BEHAVIORS),
                    "billing_cycle_anchor": NotSupported(reason=_NO_SCHEDULED_UPDATES),
                    "schedule_at_period_end": NotSupported(reason=_NO_SCHEDULED_UPDATES),
                    "trial_update_behavior": NotSupported(reason=_NO_SCHEDULED_UPDATES),
                },
                required=enabled,
            ),
        }
    )


def _subscription_named() -> Struct:
    return Struct({"subscription": String(max_chars=ID_CHARS_MAX)}, required=("subscription",))


FLOW_DATA: Final = Struct(
    {
        "type": Enum(values=FLOW_TYPES),
        "after_completion": Struct(
            {
                "type": Enum(values=AFTER_COMPLETION_TYPES),
                "hosted_confirmation": Struct(
                    {"custom_message": String(max_chars=CUSTOM_MESSAGE_CHARS_MAX)}
                ),
                "redirect": Struct({"return_url": _url()}, required=("return_url",)),
            },
            required=("type",),
        ),
        "subscription_cancel": Struct(
            {
                "subscription": String(max_chars=ID_CHARS_MAX),
                "retention": Struct(
                    {
                        "type": Enum(values=("coupon_offer",)),
                        "coupon_offer": Struct(
                            {"coupon": String(max_chars=ID_CHARS_MAX)}, required=("coupon",)
                        ),
                    },
                    required=("coupon_offer", "type"),
                ),
            },
            required=("subscription",),
        ),
        "subscription_pause": _subscription_named(),
        "subscription_update": _subscription_named(),
        "subscription_update_confirm": Struct(
            {
                "subscription": String(max_chars=ID_CHARS_MAX),
                "items": ListOf(
                    item=Struct(
                        {
                            "id": String(max_chars=ID_CHARS_MAX),
                            "price": String(max_chars=ID_CHARS_MAX),
                            "quantity": Integer(minimum=1, maximum=FLOW_QUANTITY_MAX),
                        },
                        required=("id",),
                    ),
                    max_items=FLOW_ITEMS_MAX,
                ),
                "discounts": ListOf(
                    item=Struct(
                        {
                            "coupon": String(max_chars=ID_CHARS_MAX),
                            "promotion_code": String(max_chars=ID_CHARS_MAX),
                        }
                    ),
                    max_items=FLOW_DISCOUNTS_MAX,
                ),
            },
            required=("items", "subscription"),
        ),
    },
    required=("type",),
)
"""`flow_data` on session create; what the schema cannot say is checked in
`billing_portal_flows`."""


_SHARED_PARAMS: dict[str, Param] = {
    "business_profile": BUSINESS_PROFILE,
    "default_return_url": _url(nullable=True),
    "login_page": Struct({"enabled": Boolean()}, required=("enabled",)),
    "metadata": Metadata(),
    "name": String(max_chars=NAME_CHARS_MAX, nullable=True),
}
CREATE_CONFIGURATION_PARAMS: dict[str, Param] = {
    **_SHARED_PARAMS,
    "features": _features(creating=True),
}
UPDATE_CONFIGURATION_PARAMS: dict[str, Param] = {
    **_SHARED_PARAMS,
    "features": _features(creating=False),
    "active": Boolean(),
}
LIST_FILTERS: dict[str, Param] = {"active": Boolean(), "is_default": Boolean()}
CREATE_SESSION_PARAMS: dict[str, Param] = {
    "customer": String(max_chars=255),
    "configuration": String(max_chars=255),
    "return_url": _url(),
    "locale": Enum(values=LOCALES),
    "flow_data": FLOW_DATA,
    "after_expiration": NotSupported(reason="a portal link simply stops working when it expires"),
    "on_behalf_of": NotSupported(reason=CONNECT_ONLY),
    "customer_account": NotSupported(reason=_NO_ACCOUNTS_V2),
}


@dataclass(frozen=True, kw_only=True)
class ConfigurationChanges:
    """What create and update share; None: not sent, UNSET: sent empty (cleared)."""

    business_profile: dict[str, Any] | None = None
    default_return_url: str | Unset | None = None
    features: dict[str, Any] | None = None
    login_page: dict[str, Any] | None = None
    metadata: MetadataUpdate | None = None
    name: str | Unset | None = None


@dataclass(frozen=True, kw_only=True)
class CreateConfiguration(ConfigurationChanges):
    pass


@dataclass(frozen=True, kw_only=True)
class UpdateConfiguration(ConfigurationChanges):
    configuration: str
    active: bool | None = None


@dataclass(frozen=True, kw_only=True)
class CreateSession:
    customer: str | None = None
    configuration: str | None = None
    return_url: str | None = None
    locale: str | None = None
    flow_data: dict[str, Any] | None = None
