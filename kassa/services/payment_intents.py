"""PaymentIntents: create, retrieve, update, confirm, capture, cancel, list, and completing
or failing a test card's 3-D Secure authentication. Stripe's status machine:

    requires_payment_method -> requires_confirmation -> (requires_action) ->
    requires_capture (manual capture) -> succeeded, or canceled from any unfinished status.

A declined confirmation records the failed charge, returns the intent to
`requires_payment_method` with `last_payment_error`, and answers 402 `card_error`.

Whatever path ends a payment attempt (confirm, capture, the 3-D Secure test helper or page),
it tells `hooks.payment_intent_finished` in its unit of work, having told
`hooks.payment_intent_finishing` before it locked the intent: billing pays the invoice an
intent collects, or records the failed attempt, without this module knowing invoices.
Likewise it asks `hooks.payment_intent_invoice` whether an invoice made the intent before
an update or confirmation changes what the invoice fixes (amount, currency, customer,
capture) and before a cancel, and refuses them as Stripe does.

Each operation takes a typed request, so other services (a subscription renewal confirming
its invoice's intent) call `confirm_payment_intent(ctx, ConfirmPaymentIntent(...))` directly.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from kassa import cards, money
from kassa.errors import AmountTooLarge, CardDeclined, InvalidParameter, InvalidRequest
from kassa.ids import new_id
from kassa.invariants import ensure
from kassa.params import (
    CONNECT_ONLY,
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
    Unset,
    apply_metadata,
)
from kassa.services import (
    authorization_expiry,
    capture_postings,
    card_setups,
    charge_processing,
    currency_conversion,
    events,
    hooks,
    intent_helpers,
    payment_methods,
)
from kassa.services.addresses import SHIPPING, ShippingUpdate, shipping_object
from kassa.services.context import Context
from kassa.services.listing import load_live_object
from kassa.services.resource import ApiObject, Operation, Resource, request_parser
from kassa.services.search import METADATA, NUMBER, STRING, TOKEN, search_operation
from kassa.store.tables import CUSTOMERS, PAYMENT_INTENTS

_Value = TypeVar("_Value")

CANCELLATION_REASONS = ("duplicate", "fraudulent", "requested_by_customer", "abandoned")
CONFIRMABLE = ("requires_payment_method", "requires_confirmation")
CANCELABLE = (
    "requires_payment_method",
    "requires_confirmation",
    "requires_action",
    "requires_capture",
    "processing",
)
UPDATABLE = ("requires_payment_method", "requires_confirmation", "requires_action")
CAPTURE_METHOD_UPDATABLE = CONFIRMABLE
CARD_CAPTURE_METHOD_PARAM: Final = "payment_method_options[card][capture_method]"
"""The card option that sets how the card payment is captured, over the intent's own
`capture_method`: locked and fixed by an invoice as that one is (`_card_capture_method_given`)."""
LOCKED_FIELDS: Final = (
    ("amount", UPDATABLE),
    ("currency", UPDATABLE),
    ("capture_method", CAPTURE_METHOD_UPDATABLE),
    ("setup_future_usage", UPDATABLE),
    ("payment_method_options", UPDATABLE),
)
"""The fields an update may change only in some statuses, checked in this order, each
refused naming itself (`_check_fields_unlocked`). Stripe's API reference gives the rule for
`capture_method` (requires_payment_method or requires_confirmation) and, by its error
message, for `amount` and `currency`: "This PaymentIntent's amount could not be updated
because it has a status of succeeded. You may only update the amount of a PaymentIntent
with one of the following statuses: requires_payment_method, requires_confirmation,
requires_action." For `setup_future_usage` and `payment_method_options` no docs page says
so; the same rule and wording are those integrations match on. Every other field an update
takes (metadata, description, receipt_email, shipping, statement descriptors,
transfer_group, the payment method types) changes in any status; the payment method and
the customer are refused once the intent is past `UPDATABLE`, as a whole."""
INVOICE_TERMS = ("amount", "currency", "customer", "capture_method")
"""What an invoice fixes of the PaymentIntent it makes (with
`CARD_CAPTURE_METHOD_PARAM`): `_check_invoice_terms_kept`."""
INVOICE_TERMS_FIXED = (
    "You cannot set `{param}` on this PaymentIntent because it was created by an "
    "invoice. Update the invoice instead: its PaymentIntent collects what the invoice asks."
)
INVOICE_INTENT_NOT_CANCELABLE = (
    "You cannot cancel this PaymentIntent because it was created by an invoice. Void the "
    "invoice ({invoice}) instead: that cancels its PaymentIntent."
)
PUBLISHABLE_FIELDS = frozenset(
    {
        "id",
        "object",
        "amount",
        "automatic_payment_methods",
        "canceled_at",
        "cancellation_reason",
        "capture_method",
        "client_secret",
        "confirmation_method",
        "created",
        "currency",
        "description",
        "last_payment_error",
        "livemode",
        "next_action",
        "payment_method",
        "payment_method_types",
        "receipt_email",
        "setup_future_usage",
        "shipping",
        "status",
    }
)
"""What a publishable key (Stripe.js, with the client secret) sees of an intent: the fields
Stripe's object reference marks "retrievable with publishable key" (the PaymentIntent of
stripe-js's types); never the customer, metadata or amounts received."""
OFF_SESSION_VALUES = ("true", "one_off", "recurring")
"""The `off_session` values that mean nobody is present to answer a 3-D Secure challenge."""
NO_MULTICAPTURE_MESSAGE = (
    "You can only set final_capture to false when multicapture is available for this "
    "PaymentIntent, and it is not: its charge's multicapture status is unavailable."
)
"""Stripe: final_capture=false "You can only use this setting when multicapture is
available"; Kassa's charges show `multicapture.status` unavailable."""
CARD_STATEMENT_DESCRIPTOR_MESSAGE = (
    "The statement_descriptor parameter is not supported for card charges. Use "
    "statement_descriptor_suffix instead."
)
"""Stripe's capture `statement_descriptor`: "Setting this value for a card charge returns an
error. For card charges, set the statement_descriptor_suffix instead." """
AUTHENTICATION_FAILED_MESSAGE = (
    "The provided PaymentMethod has failed authentication. You can provide "
    "payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent again."
)

_PAYMENT_METHOD_OPTIONS = Struct(
    {
        "card": Struct(
            {
                "capture_method": Enum(values=("manual",), nullable=True),
                "request_three_d_secure": intent_helpers.REQUEST_THREE_D_SECURE,
                "setup_future_usage": Enum(values=("none", "off_session", "on_session")),
            }
        )
    }
)
_PAYMENT_METHOD_TYPES = ListOf(Enum(values=("card",)), nullable=True)
_CONFIRM_COMMON: dict[str, Param] = {
    "allowed_payment_method_types": _PAYMENT_METHOD_TYPES,
    "excluded_payment_method_types": _PAYMENT_METHOD_TYPES,
    "capture_method": Enum(values=("automatic", "automatic_async", "manual")),
    "error_on_requires_action": Boolean(),
    "mandate_data": Struct({}),
    "off_session": Enum(values=("true", "false", "one_off", "recurring")),
    "payment_method": String(max_chars=255),
    "payment_method_data": intent_helpers.PAYMENT_METHOD_DATA,
    "payment_method_options": _PAYMENT_METHOD_OPTIONS,
    "payment_method_types": ListOf(Enum(values=("card",))),
    "receipt_email": Email(nullable=True),
    "return_url": String(max_chars=2048),
    "setup_future_usage": Enum(values=("off_session", "on_session"), nullable=True),
    "shipping": SHIPPING,
    "use_stripe_sdk": Boolean(),
}
_REFUSED: dict[str, Param] = {
    name: NotSupported(reason=reason)
    for name, reason in (
        ("amount_details", "Kassa records no line items or surcharges on a payment."),
        ("payment_details", "Kassa records no industry payment details."),
        ("hooks", "Kassa runs no payment hooks."),
    )
}
"""Refused on create, update, confirm and capture alike."""
_CONNECT: dict[str, Param] = {
    name: NotSupported(reason=CONNECT_ONLY) for name in ("application_fee_amount", "transfer_data")
}
"""Connect's, refused on create, update and capture."""
_REFUSED_ON_CONFIRMING: dict[str, Param] = {
    "confirmation_token": intent_helpers.CONFIRMATION_TOKEN,
    "mandate": NotSupported(reason="Kassa has no mandates: its payment methods are cards."),
    "radar_options": payment_methods.RADAR_OPTIONS,
}
"""Refused on create and confirm."""
_DESCRIPTIVE: dict[str, Param] = {
    "description": String(max_chars=1000, nullable=True),
    "metadata": Metadata(),
    "statement_descriptor": String(
        max_chars=charge_processing.STATEMENT_DESCRIPTOR_CHARS, nullable=True
    ),
    "statement_descriptor_suffix": String(
        max_chars=charge_processing.STATEMENT_DESCRIPTOR_CHARS, nullable=True
    ),
    "transfer_group": String(max_chars=5000),
}
CREATE_PARAMS: dict[str, Param] = {
    **_CONFIRM_COMMON,
    **_DESCRIPTIVE,
    "amount": Integer(minimum=0, maximum=money.MAX_AMOUNT * 10),
    "currency": money.Currency(),
    "automatic_payment_methods": intent_helpers.AUTOMATIC_PAYMENT_METHODS,
    "confirm": Boolean(),
    "confirmation_method": Enum(values=("automatic", "manual")),
    "customer": String(max_chars=255),
    "on_behalf_of": NotSupported(reason=CONNECT_ONLY),
    **_REFUSED,
    **_CONNECT,
    **intent_helpers.REFUSED_ON_SETTING,
    **_REFUSED_ON_CONFIRMING,
}
UPDATE_PARAMS: dict[str, Param] = {
    **{k: v for k, v in _CONFIRM_COMMON.items() if k not in ("return_url", "off_session")},
    **_DESCRIPTIVE,
    "amount": Integer(minimum=0, maximum=money.MAX_AMOUNT * 10),
    "currency": money.Currency(),
    "customer": String(max_chars=255, nullable=True),
    **_REFUSED,
    **_CONNECT,
    **intent_helpers.REFUSED_ON_SETTING,
}
CONFIRM_PARAMS: dict[str, Param] = {
    **_CONFIRM_COMMON,
    "client_secret": String(max_chars=500),
    "amount_to_confirm": NotSupported(reason="Kassa confirms the intent's whole amount."),
    **_REFUSED,
    **_REFUSED_ON_CONFIRMING,
}
RETRIEVE_PARAMS: dict[str, Param] = {"client_secret": String(max_chars=500)}
CAPTURE_PARAMS: dict[str, Param] = {
    "amount_to_capture": Integer(minimum=1, maximum=money.MAX_AMOUNT),
    "final_capture": Boolean(),
    "metadata": Metadata(),
    "statement_descriptor": String(max_chars=charge_processing.STATEMENT_DESCRIPTOR_CHARS),
    "statement_descriptor_suffix": String(max_chars=charge_processing.STATEMENT_DESCRIPTOR_CHARS),
    **_REFUSED,
    **_CONNECT,
}
CANCEL_PARAMS: dict[str, Param] = {"cancellation_reason": Enum(values=CANCELLATION_REASONS)}
AUTHENTICATE_PARAMS: dict[str, Param] = {"outcome": Enum(values=("complete", "fail"))}
LIST_FILTERS: dict[str, Param] = {
    "customer": String(max_chars=255),
    "customer_account": intent_helpers.REFUSED_ON_SETTING["customer_account"],
}

PaymentMethodData = Mapping[str, Any]
"""Validated `payment_methods.CREATE_PARAMS` (without `customer`): a card to create."""
PaymentMethodOptions = Mapping[str, Any]
"""Validated `_PAYMENT_METHOD_OPTIONS`: `{"card": {"request_three_d_secure": ...}}`."""
PaymentMethodTypes = list[str] | Unset
"""Payment method types (Kassa has only `card`), or UNSET to clear the list."""


@dataclass(frozen=True, kw_only=True)
class PaymentDetails:
    """How the intent is to be paid: the parameters create, update and confirm share."""

    payment_method: str | None = None
    payment_method_data: PaymentMethodData | None = None
    payment_method_options: PaymentMethodOptions | None = None
    capture_method: str | None = None
    receipt_email: str | Unset | None = None
    setup_future_usage: str | Unset | None = None
    shipping: ShippingUpdate | None = None
    allowed_payment_method_types: PaymentMethodTypes | None = None
    excluded_payment_method_types: PaymentMethodTypes | None = None
    error_on_requires_action: bool | None = None
    """At confirmation: decline rather than ask for 3-D Secure."""
    # Accepted as Stripe accepts them; with cards only, Kassa needs none of them.
    payment_method_types: list[str] | None = None
    mandate_data: Mapping[str, Any] | None = None
    use_stripe_sdk: bool | None = None


@dataclass(frozen=True, kw_only=True)
class Descriptions:
    """What create and update may say about the payment (copied onto its charge)."""

    description: str | Unset | None = None
    metadata: MetadataUpdate | None = None
    statement_descriptor: str | Unset | None = None
    statement_descriptor_suffix: str | Unset | None = None
    transfer_group: str | None = None


@dataclass(frozen=True, kw_only=True)
class CreatePaymentIntent(PaymentDetails, Descriptions):
    amount: int
    currency: str
    customer: str | None = None
    confirm: bool | None = None
    """Confirm at once, as `confirm_payment_intent` would with `return_url` and `off_session`."""
    confirmation_method: str | None = None
    automatic_payment_methods: Mapping[str, Any] | None = None
    return_url: str | None = None
    off_session: str | None = None


@dataclass(frozen=True, kw_only=True)
class UpdatePaymentIntent(PaymentDetails, Descriptions):
    intent: str
    amount: int | None = None
    currency: str | None = None
    customer: str | Unset | None = None


@dataclass(frozen=True, kw_only=True)
class ConfirmPaymentIntent(PaymentDetails):
    """Attempt the payment: with `off_session` ("true", "one_off", "recurring") nobody is
    there to authenticate, so a card that asks for 3-D Secure is declined at once."""

    intent: str
    client_secret: str | None = None
    """Required with a publishable key (Stripe.js); checked when given."""
    return_url: str | None = None
    off_session: str | None = None
    awaits_action_off_session: bool = False
    """Not a parameter (billing's own): off session, a card that asks for 3-D Secure leaves
    the intent `requires_action` for the customer to answer later (Stripe.js with its client
    secret, or the hosted invoice page), as Stripe leaves a renewal invoice's intent,
    instead of declining `authentication_required`."""


@dataclass(frozen=True)
class RetrievePaymentIntent:
    intent: str
    client_secret: str | None = None


@dataclass(frozen=True, kw_only=True)
class CapturePaymentIntent:
    intent: str
    amount_to_capture: int | None = None
    """Less than the authorized amount releases the rest; None captures all of it."""
    metadata: MetadataUpdate | None = None
    final_capture: bool | None = None
    """Only true (or absent): false needs multicapture, which Kassa's charges have not."""
    statement_descriptor: str | None = None
    """Refused: Kassa's intents pay by card, and a card charge takes the suffix instead."""
    statement_descriptor_suffix: str | None = None
    """Put on the charge captured (and its `calculated_statement_descriptor`)."""


@dataclass(frozen=True)
class CancelPaymentIntent:
    intent: str
    cancellation_reason: str | None = None


@dataclass(frozen=True)
class AuthenticatePaymentIntent:
    intent: str
    outcome: str
    """`complete` or `fail`."""


def _blank_intent(ctx: Context, amount: int, currency: str, intent_id: str) -> ApiObject:
    return {
        "id": intent_id,
        "object": "payment_intent",
        "amount": amount,
        "allowed_payment_method_types": None,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic_async",
        "client_secret": intent_helpers.new_client_secret(intent_id),
        "confirmation_method": "automatic",
        "created": ctx.now(),
        "currency": currency,
        "customer": None,
        "customer_account": None,
        "description": None,
        "excluded_payment_method_types": None,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": ctx.livemode,
        "managed_payments": None,  # Stripe's merchant-of-record option; never enabled here
        "metadata": {},
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {
                "installments": None,
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": None,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    }


def _cleared(value: _Value | Unset) -> _Value | None:
    """A nullable parameter's value to store: None where it was sent empty (UNSET)."""
    return None if isinstance(value, Unset) else value


def _check_fields_unlocked(intent: ApiObject, request: UpdatePaymentIntent) -> None:
    """Refuse the first `LOCKED_FIELDS` field `request` gives that the intent's status locks;
    `CARD_CAPTURE_METHOD_PARAM` changes the capture method too."""
    for param, allowed in LOCKED_FIELDS:
        if getattr(request, param) is not None and intent["status"] not in allowed:
            raise intent_helpers.field_locked(_KIND, intent, param, allowed)
    if _card_capture_method_given(request) and intent["status"] not in CAPTURE_METHOD_UPDATABLE:
        raise intent_helpers.field_locked(
            _KIND, intent, CARD_CAPTURE_METHOD_PARAM, CAPTURE_METHOD_UPDATABLE
        )


def _card_capture_method_given(request: PaymentDetails) -> bool:
    """Whether `request` sets `CARD_CAPTURE_METHOD_PARAM`."""
    return "capture_method" in (request.payment_method_options or {}).get("card", {})


def _describe(intent: ApiObject, request: Descriptions) -> None:
    for name, value in (
        ("description", request.description),
        ("statement_descriptor", request.statement_descriptor),
        ("statement_descriptor_suffix", request.statement_descriptor_suffix),
        ("transfer_group", request.transfer_group),
    ):
        if value is not None:
            intent[name] = _cleared(value)
    if request.metadata is not None:
        intent["metadata"] = apply_metadata(intent["metadata"], request.metadata)


async def _apply_payment_details(
    ctx: Context,
    intent: ApiObject,
    details: PaymentDetails,
    *,
    customer: str | Unset | None = None,
) -> None:
    """Parameters create, update and confirm share; validated before anything is written.
    The customer (create and update) comes before the payment method, which must be its."""
    for name, value in (
        ("receipt_email", details.receipt_email),
        ("setup_future_usage", details.setup_future_usage),
        # Kassa has only cards: the lists can but name them.
        ("allowed_payment_method_types", details.allowed_payment_method_types),
        ("excluded_payment_method_types", details.excluded_payment_method_types),
    ):
        if value is not None:
            intent[name] = _cleared(value)
    if details.shipping is not None:
        intent["shipping"] = shipping_object(details.shipping)
    if details.capture_method is not None:
        intent["capture_method"] = details.capture_method
    if customer is not None:
        intent["customer"] = await intent_helpers.customer_id(ctx, customer)
    await intent_helpers.apply_payment_method(
        ctx,
        _KIND,
        intent,
        details.payment_method,
        details.payment_method_data,
        customer_changed=customer is not None,
    )
    if details.payment_method is not None or details.payment_method_data is not None:
        intent["source"] = None  # the default source it was paying with is replaced
    _apply_card_options(intent, details.payment_method_options or {})


def _apply_card_options(intent: ApiObject, options: PaymentMethodOptions) -> None:
    card_options = options.get("card", {})
    if "request_three_d_secure" in card_options:
        intent["payment_method_options"]["card"]["request_three_d_secure"] = card_options[
            "request_three_d_secure"
        ]
    if card_options.get("capture_method") == "manual":
        intent["capture_method"] = "manual"


async def _check_amount(ctx: Context, intent: ApiObject, *, amount_is_new: bool) -> None:
    """The intent's amount within Stripe's limits for its currency and, when `amount_is_new`
    (a create, or an update changing the amount or currency), enough once converted to the
    settlement currency. Both errors name `amount`."""
    money.check_charge_amount(intent["amount"], intent["currency"], param="amount")
    # The conversion is checked at today's rates: an update leaving the amount as it was
    # must not fail because the rates (or the account's settlement currencies) moved since.
    if amount_is_new:
        await currency_conversion.check_settled_minimum(ctx, intent["amount"], intent["currency"])


def _check_confirm_only_choices(request: CreatePaymentIntent) -> None:
    """`off_session` and `return_url` describe a confirmation: Stripe refuses them on a
    create that does not confirm."""
    if request.confirm:
        return
    for name, value in (("off_session", request.off_session), ("return_url", request.return_url)):
        if value is not None:
            raise InvalidParameter(
                f"You can only pass `{name}` when `confirm` is true.", param=name
            )


async def create_payment_intent(
    ctx: Context, request: CreatePaymentIntent, *, intent_id: str | None = None
) -> ApiObject:
    """`intent_id`: the id a service that owns the intent chose (billing marks its invoices'
    intents so: see `hooks.payment_intent_finishing`); a new id otherwise."""
    _check_confirm_only_choices(request)
    intent = _blank_intent(ctx, request.amount, request.currency, intent_id or new_id("pi"))
    await _check_amount(ctx, intent, amount_is_new=True)
    if request.confirmation_method is not None:
        intent["confirmation_method"] = request.confirmation_method
    intent["automatic_payment_methods"] = intent_helpers.automatic_payment_methods(
        request.automatic_payment_methods,
        request.payment_method_types,
        request.allowed_payment_method_types,
    )
    if request.confirm:
        # Refused before anything is written (a payment method from payment_method_data).
        _check_confirmation_choices(intent, request)
    _describe(intent, request)
    await _apply_payment_details(ctx, intent, request, customer=request.customer)
    # Only now is the customer known (loaded and remembered by the context): the intent and
    # all that follows live at the time governing it.
    ctx = await ctx.governed_by(intent)
    intent["created"] = ctx.now()
    if intent["payment_method"] is not None:
        intent["status"] = "requires_confirmation"
    await events.announce(ctx, "payment_intent.created", intent)
    if request.confirm:
        intent_helpers.insert_when_saved(ctx, _KIND, intent)
        # The payment details are applied above; the confirmation adds only its own choices.
        confirmation = ConfirmPaymentIntent(
            intent=intent["id"],
            return_url=request.return_url,
            off_session=request.off_session,
            error_on_requires_action=request.error_on_requires_action,
        )
        return await _confirm_loaded(ctx, intent, confirmation)
    await ctx.tx.insert_object(PAYMENT_INTENTS, ctx.account_id, intent)
    return intent


async def _load_to_finish(ctx: Context, intent_id: str) -> tuple[Context, ApiObject]:
    """`intent_helpers.load_governed`, for an operation that may end the intent's payment
    attempt: the observers of its end lock what they will write first
    (`hooks.payment_intent_finishing`)."""
    await hooks.payment_intent_finishing(ctx, intent_id)
    return await intent_helpers.load_governed(ctx, _KIND, intent_id)


async def retrieve_payment_intent(ctx: Context, request: RetrievePaymentIntent) -> ApiObject:
    intent = await load_live_object(ctx, RESOURCE, request.intent)
    intent_helpers.check_client_secret(ctx, _KIND, intent, request.client_secret)
    return intent


async def update_payment_intent(ctx: Context, request: UpdatePaymentIntent) -> ApiObject:
    ctx, intent = await intent_helpers.load_governed(ctx, _KIND, request.intent)
    await _check_invoice_terms_kept(ctx, intent, request)
    _check_fields_unlocked(intent, request)
    changes_payment_method = (
        request.payment_method is not None or request.payment_method_data is not None
    )
    changes_payer = changes_payment_method or request.customer is not None
    if intent["status"] not in UPDATABLE and changes_payer:
        raise intent_helpers.unexpected_state(_KIND, intent, "update", UPDATABLE)
    if request.amount is not None:
        intent["amount"] = request.amount
    if request.currency is not None:
        intent["currency"] = request.currency
    await _check_amount(
        ctx, intent, amount_is_new=request.amount is not None or request.currency is not None
    )
    _describe(intent, request)
    await _apply_payment_details(ctx, intent, request, customer=request.customer)
    # Stripe: the last error "will be cleared if the PaymentIntent is later updated for any
    # reason" (a metadata change included).
    intent["last_payment_error"] = None
    if changes_payment_method:
        intent["status"] = (
            "requires_payment_method"
            if intent["payment_method"] is None
            else "requires_confirmation"
        )
        intent["next_action"] = None
    await intent_helpers.save(ctx, _KIND, intent)
    return intent


async def confirm_payment_intent(ctx: Context, request: ConfirmPaymentIntent) -> ApiObject:
    """Attempt the payment with the intent's payment method (or the one `request` gives):
    it succeeds, is held for capture, asks for 3-D Secure, or is declined (`CardDeclined`,
    raised after the failed charge and the intent's `last_payment_error` are written)."""
    ctx, intent = await _load_to_finish(ctx, request.intent)
    intent_helpers.check_client_secret(ctx, _KIND, intent, request.client_secret)
    await _check_invoice_terms_kept(ctx, intent, request)
    return await _confirm_loaded(ctx, intent, request)


def _invoice_terms_given(request: PaymentDetails) -> list[str]:
    """The parameters of an update or confirmation that would change what an invoice fixes
    of its PaymentIntent: how much, in what, from whom, and that it is captured at once."""
    given = [
        name
        for name in INVOICE_TERMS
        if getattr(request, name, None) is not None  # confirm has no amount, currency, ...
    ]
    if _card_capture_method_given(request):
        given.append(CARD_CAPTURE_METHOD_PARAM)
    return given


async def _check_invoice_terms_kept(
    ctx: Context, intent: ApiObject, request: PaymentDetails
) -> None:
    """Stripe refuses to change an invoice's PaymentIntent's amount, currency, customer or
    capture: the invoice collects exactly what it asks, once (its description, metadata,
    payment method and the like stay the integration's). Asks billing only when such a
    parameter is given."""
    given = _invoice_terms_given(request)
    if not given:
        return
    invoice_id = await hooks.payment_intent_invoice(ctx, str(intent["id"]))
    if invoice_id is not None:
        raise InvalidParameter(INVOICE_TERMS_FIXED.format(param=given[0]), param=given[0])


def _check_confirmation_choices(intent: ApiObject, request: CreatePaymentIntent) -> None:
    """A create that confirms an intent accepting automatic payment methods says where to
    send the customer back (unless off session), and does not ask to decline rather than
    act: `_confirm_loaded` checks the same, but after the create has applied its details."""
    intent_helpers.check_error_on_requires_action(intent, request.error_on_requires_action)
    intent_helpers.check_return_url_given(
        _KIND, intent, request.return_url, off_session=request.off_session in OFF_SESSION_VALUES
    )


async def _confirm_loaded(
    ctx: Context, intent: ApiObject, request: ConfirmPaymentIntent
) -> ApiObject:
    """The confirmation of an intent already in hand: by `confirm_payment_intent`, or by
    `create_payment_intent` with `confirm` (its intent not yet stored)."""
    if intent["status"] not in CONFIRMABLE:
        raise intent_helpers.unexpected_state(_KIND, intent, "confirm", CONFIRMABLE)
    off_session = request.off_session in OFF_SESSION_VALUES
    intent_helpers.check_error_on_requires_action(intent, request.error_on_requires_action)
    return_url = await intent_helpers.confirmation_return_url(
        ctx, _KIND, intent, request.return_url, off_session=off_session
    )
    await _apply_payment_details(ctx, intent, request)
    await _pay_with_default_source(ctx, intent)
    payment_method = await intent_helpers.payment_method_of(ctx, _KIND, intent)
    await intent_helpers.remember_return_url(ctx, intent, request.return_url)
    behavior = payment_methods.behavior_of(ctx, payment_method)
    intent["last_payment_error"] = None
    if await _needs_three_d_secure(ctx, intent, payment_method, behavior, off_session=off_session):
        declines_off_session = off_session and not request.awaits_action_off_session
        if declines_off_session or request.error_on_requires_action:
            # Nobody will answer a 3-D Secure challenge: Stripe declines at once.
            behavior = cards.TestBehavior(decline=charge_processing.AUTHENTICATION_REQUIRED)
            return await _charge(ctx, intent, payment_method, behavior, authenticated=False)
        intent["status"] = "requires_action"
        intent["next_action"] = intent_helpers.next_action(ctx, intent, return_url)
        await intent_helpers.save(ctx, _KIND, intent)
        await events.announce(ctx, "payment_intent.requires_action", intent)
        return intent
    return await _charge(ctx, intent, payment_method, behavior, authenticated=False)


async def _pay_with_default_source(ctx: Context, intent: ApiObject) -> None:
    """Stripe confirms an intent given neither `payment_method` nor `source` with its
    customer's `default_source` ("to improve migration for users of the Charges API"): a
    saved card, which then shows as both. A default PaymentMethod
    (`invoice_settings.default_payment_method`) is not used here, nor another kind of source."""
    if intent["payment_method"] is not None or intent["customer"] is None:
        return
    found = await ctx.tx.get_object(CUSTOMERS, ctx.account_id, intent["customer"], lock=False)
    if found is None or found[1]:
        return  # a customer deleted since has no default source to give
    default_source = found[0]["default_source"]
    if isinstance(default_source, str) and default_source.startswith(
        payment_methods.SAVED_CARD_PREFIX
    ):
        intent["payment_method"] = default_source
        intent["source"] = default_source


async def _needs_three_d_secure(
    ctx: Context,
    intent: ApiObject,
    payment_method: ApiObject,
    behavior: cards.TestBehavior,
    *,
    off_session: bool,
) -> bool:
    """Whether the payment goes through 3-D Secure: off-session, a card set up for such
    payments goes without (unless the intent itself asks for a challenge)."""
    if not intent_helpers.needs_three_d_secure(intent, behavior):
        return False
    if not off_session or intent_helpers.challenge_requested(intent):
        return True
    return not await card_setups.spares_off_session(ctx, payment_method, behavior)


async def _charge(
    ctx: Context,
    intent: ApiObject,
    payment_method: ApiObject,
    behavior: cards.TestBehavior,
    *,
    authenticated: bool,
) -> ApiObject:
    """Attempt the charge; on success capture it (or hold it for manual capture)."""
    charge = charge_processing.new_charge(
        ctx, intent, payment_method, behavior, authenticated=authenticated
    )
    intent["latest_charge"] = charge["id"]
    intent["next_action"] = None
    manual = intent["capture_method"] == "manual"
    await charge_processing.attempt(
        ctx,
        charge,
        behavior,
        capture=not manual,
        capture_async=intent["capture_method"] == capture_postings.ASYNC_CAPTURE_METHOD,
    )
    if behavior.decline is not None:
        await payment_methods.retire_unless_kept(ctx, payment_method)
        error = charge_processing.declined(behavior.decline)
        return await _fail(ctx, intent, payment_method, error, charge_id=charge["id"])
    if manual:
        intent["status"] = "requires_capture"
        intent["amount_capturable"] = intent["amount"]
    else:
        intent["status"] = "succeeded"
        intent["amount_received"] = intent["amount"]
    await _save_payment_method_for_future(ctx, intent, payment_method)
    await payment_methods.retire_unless_kept(ctx, payment_method)
    await intent_helpers.save(ctx, _KIND, intent)
    if intent["status"] != "succeeded":
        await events.announce(ctx, "payment_intent.amount_capturable_updated", intent)
        return intent
    await events.announce(ctx, "payment_intent.succeeded", intent)
    await hooks.payment_intent_finished(ctx, intent)
    return intent


async def _save_payment_method_for_future(
    ctx: Context, intent: ApiObject, payment_method: ApiObject
) -> None:
    """`setup_future_usage` with a customer attaches the card once it is charged, and
    `off_session` sets it up for off-session payments."""
    if not (intent["setup_future_usage"] and intent["customer"]):
        return
    if not payment_method["customer"]:
        await payment_methods.attach(ctx, payment_method, intent["customer"], "customer")
    if intent["setup_future_usage"] == "off_session":
        await card_setups.record(ctx, payment_method)


async def _fail(
    ctx: Context,
    intent: ApiObject,
    payment_method: ApiObject,
    error: CardDeclined,
    *,
    charge_id: str | None,
) -> ApiObject:
    """Record the failure on the intent, then raise it: the writes commit (the failed charge
    is kept, as Stripe keeps it) and the error carries the intent."""
    _back_to_requires_payment_method(intent)
    intent["last_payment_error"] = error.recorded(
        advice_code=None, charge=charge_id, payment_method=payment_method
    )
    await intent_helpers.save(ctx, _KIND, intent)
    await events.announce(ctx, "payment_intent.payment_failed", intent)
    await hooks.payment_intent_finished(ctx, intent)
    raise error.carrying(charge=charge_id, payment_intent=intent, payment_method=payment_method)


def _back_to_requires_payment_method(intent: ApiObject) -> None:
    """After a failed attempt: the card is dropped, a default source taken for it too."""
    intent_helpers.back_to_requires_payment_method(intent)
    intent["source"] = None


async def authenticate(ctx: Context, intent: ApiObject, outcome: str) -> ApiObject:
    """Finish a test card's 3-D Secure challenge: `complete` goes on to charge the card,
    `fail` returns the intent to `requires_payment_method`."""
    if intent["status"] != "requires_action":
        raise intent_helpers.unexpected_state(_KIND, intent, "authenticate", ("requires_action",))
    payment_method = await intent_helpers.payment_method_of(ctx, _KIND, intent)
    if outcome == "complete":
        behavior = payment_methods.behavior_of(ctx, payment_method)
        try:
            return await _charge(ctx, intent, payment_method, behavior, authenticated=True)
        except CardDeclined:
            return intent  # the decline is recorded on the intent; the page shows it
    _back_to_requires_payment_method(intent)
    intent["last_payment_error"] = intent_helpers.authentication_failure(
        _KIND, AUTHENTICATION_FAILED_MESSAGE, payment_method=payment_method
    )
    await intent_helpers.save(ctx, _KIND, intent)
    await events.announce(ctx, "payment_intent.payment_failed", intent)
    await hooks.payment_intent_finished(ctx, intent)
    return intent


async def authenticate_with_client_secret(
    ctx: Context, intent_id: str, client_secret: str, outcome: str | None
) -> tuple[ApiObject, str | None]:
    """For the test 3-D Secure page: the intent its client secret opens (authenticated when
    an outcome is given) and the `return_url` to send the browser back to."""
    if outcome is None:
        ctx, intent = await intent_helpers.load_governed(ctx, _KIND, intent_id)
    else:
        ctx, intent = await _load_to_finish(ctx, intent_id)
    intent_helpers.check_client_secret(ctx, _KIND, intent, client_secret)
    redirect = intent_helpers.return_url_of(intent)
    if outcome is None:
        return intent, redirect
    return await authenticate(ctx, intent, outcome), redirect


async def authenticate_payment_intent(
    ctx: Context, request: AuthenticatePaymentIntent
) -> ApiObject:
    ctx, intent = await _load_to_finish(ctx, request.intent)
    return await authenticate(ctx, intent, request.outcome)


async def capture_payment_intent(ctx: Context, request: CapturePaymentIntent) -> ApiObject:
    ctx, intent = await _load_to_finish(ctx, request.intent)
    return await capture(ctx, intent, request)


async def capture(ctx: Context, intent: ApiObject, request: CapturePaymentIntent) -> ApiObject:
    """Capture `intent` (already loaded: capturing its charge locks the charge first)."""
    if intent["status"] != "requires_capture":
        raise intent_helpers.unexpected_state(_KIND, intent, "capture", ("requires_capture",))
    capturable: int = intent["amount_capturable"]
    amount = request.amount_to_capture if request.amount_to_capture is not None else capturable
    if amount > capturable:
        raise AmountTooLarge(
            f"The amount to capture ({amount}) must be less than or equal to the amount "
            f"capturable ({capturable}).",
            param="amount_to_capture",
        )
    money.check_charge_amount(amount, intent["currency"], param="amount_to_capture")
    _check_capture_choices(request)
    charge = await charge_processing.load(ctx, intent["latest_charge"])
    payment_method = await payment_methods.resolve(
        ctx, intent["payment_method"], param="payment_method"
    )
    behavior = payment_methods.behavior_of(ctx, payment_method)
    previous = copy.deepcopy(charge)
    if request.statement_descriptor_suffix is not None:
        charge["statement_descriptor_suffix"] = request.statement_descriptor_suffix
        charge["calculated_statement_descriptor"] = (
            charge_processing.calculated_statement_descriptor(
                charge["statement_descriptor"], request.statement_descriptor_suffix
            )
        )
    await charge_processing.capture_held(ctx, charge, amount, behavior, previous=previous)
    if request.metadata is not None:
        intent["metadata"] = apply_metadata(intent["metadata"], request.metadata)
    intent["status"] = "succeeded"
    intent["amount_capturable"] = 0
    intent["amount_received"] = amount
    await intent_helpers.save(ctx, _KIND, intent)
    await events.announce(ctx, "payment_intent.succeeded", intent)
    await hooks.payment_intent_finished(ctx, intent)
    return intent


def _check_capture_choices(request: CapturePaymentIntent) -> None:
    """What a capture may ask of Kassa's charges, all by card and captured once."""
    if request.final_capture is False:
        raise InvalidParameter(NO_MULTICAPTURE_MESSAGE, param="final_capture")
    if request.statement_descriptor is not None:
        raise InvalidParameter(CARD_STATEMENT_DESCRIPTOR_MESSAGE, param="statement_descriptor")


async def cancel_payment_intent(ctx: Context, request: CancelPaymentIntent) -> ApiObject:
    """The API's and the dashboard's cancel. An invoice's PaymentIntent is refused: canceled
    alone it would leave the invoice open with nothing to collect it; voiding the invoice
    cancels it (`cancel_invoice_payment_intent`)."""
    ctx, intent = await intent_helpers.load_governed(ctx, _KIND, request.intent)
    # Its state first: an intent already canceled (its invoice voided) says so, as any does.
    if intent["status"] not in CANCELABLE:
        raise intent_helpers.unexpected_state(_KIND, intent, "cancel", CANCELABLE)
    invoice_id = await hooks.payment_intent_invoice(ctx, request.intent)
    if invoice_id is not None:
        raise InvalidRequest(INVOICE_INTENT_NOT_CANCELABLE.format(invoice=invoice_id))
    return await _cancel_loaded(ctx, intent, request)


async def resize_invoice_payment_intent(ctx: Context, intent_id: str, amount: int) -> None:
    """Billing's own change of what its invoice's PaymentIntent collects: a credit note
    lowered what the invoice has remaining to pay, or voiding one raised it again (the one
    change of what the invoice fixes that the invoice itself makes). Only while no attempt is
    under way (`CONFIRMABLE`): an intent awaiting 3-D Secure is refused, naming `invoice`."""
    ctx, intent = await intent_helpers.load_governed(ctx, _KIND, intent_id)
    if intent["status"] not in CONFIRMABLE:
        raise InvalidParameter(
            f"The invoice's payment ({intent_id}) is {intent['status']}: wait until its "
            "attempt ends before changing what the invoice asks.",
            param="invoice",
        )
    ensure(0 < amount <= money.MAX_AMOUNT, "an invoice's PaymentIntent asks a positive amount")
    intent["amount"] = amount
    await intent_helpers.save(ctx, _KIND, intent)


async def cancel_invoice_payment_intent(ctx: Context, request: CancelPaymentIntent) -> ApiObject:
    """Cancel with no question of who made the intent: for billing, canceling its own
    invoice's intent (the invoice voided, or paid outside Stripe)."""
    ctx, intent = await intent_helpers.load_governed(ctx, _KIND, request.intent)
    if intent["status"] not in CANCELABLE:
        raise intent_helpers.unexpected_state(_KIND, intent, "cancel", CANCELABLE)
    return await _cancel_loaded(ctx, intent, request)


async def _cancel_loaded(
    ctx: Context, intent: ApiObject, request: CancelPaymentIntent
) -> ApiObject:
    # Canceling an uncaptured intent releases the authorization: no money had moved, so the
    # ledger is untouched, and since API version 2025-03-31 the charge is not marked refunded.
    if intent["status"] == "requires_capture":
        await authorization_expiry.end_hold_for_cancel(ctx, str(intent["latest_charge"]))
    await intent_helpers.mark_payment_intent_canceled(ctx, intent, request.cancellation_reason)
    return intent


_TYPES_REMOVED: Final = {"payment_method_types": intent_helpers.PAYMENT_METHOD_TYPES_REMOVED}
"""Taken from requests pinning an API version before 2026-09-30.endive only; Kassa's own
services still name the types they create an intent with (an invoice's)."""

RESOURCE = Resource(
    object_name="payment_intent",
    id_prefix="pi",
    collection="payment_intents",
    table=PAYMENT_INTENTS,
    create=Operation(
        request_parser(CreatePaymentIntent, CREATE_PARAMS, required=("amount", "currency")),
        create_payment_intent,
        writes=True,
        removed_params=_TYPES_REMOVED,
    ),
    retrieve=Operation(
        request_parser(RetrievePaymentIntent, RETRIEVE_PARAMS, ids=("intent",)),
        retrieve_payment_intent,
        writes=False,
        publishable_key_allowed=True,
        publishable_fields=PUBLISHABLE_FIELDS,
    ),
    update=Operation(
        request_parser(UpdatePaymentIntent, UPDATE_PARAMS, ids=("intent",)),
        update_payment_intent,
        writes=True,
        removed_params=_TYPES_REMOVED,
    ),
    list_filters=LIST_FILTERS,
    search=search_operation(
        PAYMENT_INTENTS,
        "payment_intents",
        {
            "amount": NUMBER,
            "created": NUMBER,
            "currency": STRING,
            "customer": STRING,
            "metadata": METADATA,
            "status": TOKEN,
        },
    ),
    actions={
        "confirm": Operation(
            request_parser(ConfirmPaymentIntent, CONFIRM_PARAMS, ids=("intent",)),
            confirm_payment_intent,
            writes=True,
            publishable_key_allowed=True,
            publishable_fields=PUBLISHABLE_FIELDS,
            removed_params=_TYPES_REMOVED,
        ),
        "capture": Operation(
            request_parser(CapturePaymentIntent, CAPTURE_PARAMS, ids=("intent",)),
            capture_payment_intent,
            writes=True,
        ),
        "cancel": Operation(
            request_parser(CancelPaymentIntent, CANCEL_PARAMS, ids=("intent",)),
            cancel_payment_intent,
            writes=True,
        ),
    },
    test_helpers={
        "authenticate": Operation(
            request_parser(
                AuthenticatePaymentIntent,
                AUTHENTICATE_PARAMS,
                ids=("intent",),
                required=("outcome",),
            ),
            authenticate_payment_intent,
            writes=True,
        )
    },
    expandable={
        "customer": "customer",
        "payment_method": "payment_method",
        "latest_charge": "charge",
    },
    event_types=(
        "payment_intent.amount_capturable_updated",
        "payment_intent.canceled",
        "payment_intent.created",
        "payment_intent.partially_funded",
        "payment_intent.payment_failed",
        "payment_intent.processing",
        "payment_intent.requires_action",
        "payment_intent.succeeded",
    ),
)
_KIND = intent_helpers.IntentKind("PaymentIntent", RESOURCE)
