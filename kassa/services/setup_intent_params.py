"""The parameters of the SetupIntent operations and the typed requests they build
(`kassa.services.setup_intents` runs them). Parameters only: no reads, no writes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kassa.params import (
    CONNECT_ONLY,
    Boolean,
    Enum,
    ListOf,
    Metadata,
    MetadataUpdate,
    NotSupported,
    Param,
    String,
    Struct,
    Unset,
)
from kassa.services import intent_helpers

USAGES = ("off_session", "on_session")
CANCELLATION_REASONS = ("abandoned", "duplicate", "requested_by_customer")
CONFIRMABLE = ("requires_payment_method", "requires_confirmation")
CANCELABLE = ("requires_payment_method", "requires_confirmation", "requires_action")
UPDATABLE = ("requires_payment_method", "requires_confirmation", "requires_action")

_PAYMENT_METHOD_OPTIONS = Struct(
    {
        "card": Struct(
            {
                "request_three_d_secure": intent_helpers.REQUEST_THREE_D_SECURE,
                "network": String(max_chars=30),
            }
        )
    }
)
_PAYMENT_METHOD_TYPES = ListOf(Enum(values=("card",)))
_SHARED: dict[str, Param] = {
    "payment_method": String(max_chars=255),
    "payment_method_data": intent_helpers.PAYMENT_METHOD_DATA,
    "payment_method_options": _PAYMENT_METHOD_OPTIONS,
}
_DESCRIPTIVE: dict[str, Param] = {
    **_SHARED,
    "attach_to_self": Boolean(),
    "description": String(max_chars=1000, nullable=True),
    "flow_directions": ListOf(Enum(values=("inbound", "outbound")), max_items=2),
    "metadata": Metadata(),
    "payment_method_types": _PAYMENT_METHOD_TYPES,
    # Kassa has only cards: the lists can but name them.
    "allowed_payment_method_types": ListOf(Enum(values=("card",)), nullable=True),
    "excluded_payment_method_types": ListOf(Enum(values=("card",)), nullable=True),
}
CREATE_PARAMS: dict[str, Param] = {
    **_DESCRIPTIVE,
    "automatic_payment_methods": intent_helpers.AUTOMATIC_PAYMENT_METHODS,
    "confirm": Boolean(),
    "customer": String(max_chars=255),
    "mandate_data": Struct({}),
    "return_url": String(max_chars=2048),
    "usage": Enum(values=USAGES),
    "use_stripe_sdk": Boolean(),
    **intent_helpers.REFUSED_ON_SETTING,
    "confirmation_token": intent_helpers.CONFIRMATION_TOKEN,
    "on_behalf_of": NotSupported(reason=CONNECT_ONLY),
    "single_use": NotSupported(reason="Kassa sets cards up for reuse only (usage)."),
}
UPDATE_PARAMS: dict[str, Param] = {
    **_DESCRIPTIVE,
    **intent_helpers.REFUSED_ON_SETTING,
    "customer": String(max_chars=255),
}
CONFIRM_PARAMS: dict[str, Param] = {
    **_SHARED,
    "client_secret": String(max_chars=500),
    "mandate_data": Struct({}),
    "return_url": String(max_chars=2048),
    "use_stripe_sdk": Boolean(),
    "confirmation_token": intent_helpers.CONFIRMATION_TOKEN,
    "allowed_payment_method_types": NotSupported(
        reason="name the types on creating or updating the SetupIntent."
    ),
}
RETRIEVE_PARAMS: dict[str, Param] = {"client_secret": String(max_chars=500)}
CANCEL_PARAMS: dict[str, Param] = {"cancellation_reason": Enum(values=CANCELLATION_REASONS)}
AUTHENTICATE_PARAMS: dict[str, Param] = {"outcome": Enum(values=("complete", "fail"))}
LIST_FILTERS: dict[str, Param] = {
    "customer": String(max_chars=255),
    "payment_method": String(max_chars=255),
    "customer_account": intent_helpers.REFUSED_ON_SETTING["customer_account"],
    "attach_to_self": NotSupported(
        reason="Kassa lists SetupIntents by customer or payment method only."
    ),
}


@dataclass(frozen=True, kw_only=True)
class SetupDetails:
    """The card to set up: the parameters create, update and confirm share."""

    payment_method: str | None = None
    payment_method_data: Mapping[str, Any] | None = None
    """Validated `payment_methods.CREATE_PARAMS` (without `customer`): a card to create."""
    payment_method_options: Mapping[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class Descriptions(SetupDetails):
    """What create and update may say about the intent."""

    attach_to_self: bool | None = None
    description: str | Unset | None = None
    flow_directions: list[str] | None = None
    metadata: MetadataUpdate | None = None
    payment_method_types: list[str] | None = None
    allowed_payment_method_types: list[str] | Unset | None = None
    excluded_payment_method_types: list[str] | Unset | None = None


@dataclass(frozen=True, kw_only=True)
class CreateSetupIntent(Descriptions):
    customer: str | None = None
    usage: str | None = None
    """`off_session` (Stripe's default) or `on_session`."""
    automatic_payment_methods: Mapping[str, Any] | None = None
    confirm: bool | None = None
    """Confirm at once, as `confirm_setup_intent` would with `return_url`."""
    return_url: str | None = None
    # Accepted as Stripe accepts them; with cards only, Kassa needs neither.
    mandate_data: Mapping[str, Any] | None = None
    use_stripe_sdk: bool | None = None


@dataclass(frozen=True, kw_only=True)
class UpdateSetupIntent(Descriptions):
    intent: str
    customer: str | None = None


@dataclass(frozen=True, kw_only=True)
class ConfirmSetupIntent(SetupDetails):
    intent: str
    client_secret: str | None = None
    """Required with a publishable key (Stripe.js); checked when given."""
    return_url: str | None = None
    mandate_data: Mapping[str, Any] | None = None
    use_stripe_sdk: bool | None = None


@dataclass(frozen=True)
class RetrieveSetupIntent:
    intent: str
    client_secret: str | None = None


@dataclass(frozen=True)
class CancelSetupIntent:
    intent: str
    cancellation_reason: str | None = None


@dataclass(frozen=True)
class AuthenticateSetupIntent:
    intent: str
    outcome: str
    """`complete` or `fail`."""
