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

Each operation takes a typed request, so other services (a subscription renewal confirming
its invoice's intent) call `confirm_payment_intent(ctx, ConfirmPaymentIntent(...))` directly.
"""

from __future__ import annotations

import copy
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from kassa import cards, money
from kassa.errors import CardDeclined, InvalidParameter, InvalidRequest, MissingParameter
from kassa.ids import new_id, random_base62
from kassa.params import (
    Boolean,
    Email,
    Enum,
    Integer,
    ListOf,
    Metadata,
    MetadataUpdate,
    Param,
    String,
    Struct,
    Unset,
    apply_metadata,
)
from kassa.services import (
    charge_processing,
    disputes,
    early_fraud_warnings,
    events,
    hooks,
    payment_methods,
)
from kassa.services.addresses import SHIPPING, ShippingUpdate, shipping_object
from kassa.services.context import Context
from kassa.services.customer_lookup import load_customer_named
from kassa.services.listing import load_live_object
from kassa.services.resource import ApiObject, Operation, Resource, request_parser
from kassa.services.search import METADATA, NUMBER, STRING, TOKEN, search_operation
from kassa.store.tables import PAYMENT_INTENTS

_Value = TypeVar("_Value")

CLIENT_SECRET_RANDOM_CHARS = 25
_UNSAVED = "payment_intents.unsaved"
"""ctx.memo key: ids of intents created in this unit and not yet inserted."""
AUTHENTICATE_PATH = "/kassa/authenticate"
STATEMENT_DESCRIPTOR_CHARS = 22
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
OFF_SESSION_VALUES = ("true", "one_off", "recurring")
"""The `off_session` values that mean nobody is present to answer a 3-D Secure challenge."""
AUTHENTICATION_FAILED_MESSAGE = (
    "The provided PaymentMethod has failed authentication. You can provide "
    "payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent again."
)

_PAYMENT_METHOD_OPTIONS = Struct(
    {
        "card": Struct(
            {
                "capture_method": Enum(values=("manual",), nullable=True),
                "request_three_d_secure": Enum(values=("automatic", "any", "challenge")),
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
    "payment_method_data": Struct(
        {k: v for k, v in payment_methods.CREATE_PARAMS.items() if k not in ("customer",)}
    ),
    "payment_method_options": _PAYMENT_METHOD_OPTIONS,
    "payment_method_types": ListOf(Enum(values=("card",))),
    "receipt_email": Email(nullable=True),
    "return_url": String(max_chars=2048),
    "setup_future_usage": Enum(values=("off_session", "on_session"), nullable=True),
    "shipping": SHIPPING,
    "use_stripe_sdk": Boolean(),
}
_DESCRIPTIVE: dict[str, Param] = {
    "description": String(max_chars=1000, nullable=True),
    "metadata": Metadata(),
    "statement_descriptor": String(max_chars=STATEMENT_DESCRIPTOR_CHARS, nullable=True),
    "statement_descriptor_suffix": String(max_chars=STATEMENT_DESCRIPTOR_CHARS, nullable=True),
    "transfer_group": String(max_chars=5000),
}
CREATE_PARAMS: dict[str, Param] = {
    **_CONFIRM_COMMON,
    **_DESCRIPTIVE,
    "amount": Integer(minimum=0, maximum=money.MAX_AMOUNT * 10),
    "currency": money.Currency(),
    "automatic_payment_methods": Struct(
        {"enabled": Boolean(), "allow_redirects": Enum(values=("always", "never"))}
    ),
    "confirm": Boolean(),
    "confirmation_method": Enum(values=("automatic", "manual")),
    "customer": String(max_chars=255),
}
UPDATE_PARAMS: dict[str, Param] = {
    **{k: v for k, v in _CONFIRM_COMMON.items() if k not in ("return_url", "off_session")},
    **_DESCRIPTIVE,
    "amount": Integer(minimum=0, maximum=money.MAX_AMOUNT * 10),
    "currency": money.Currency(),
    "customer": String(max_chars=255, nullable=True),
}
CONFIRM_PARAMS: dict[str, Param] = {**_CONFIRM_COMMON, "client_secret": String(max_chars=500)}
RETRIEVE_PARAMS: dict[str, Param] = {"client_secret": String(max_chars=500)}
CAPTURE_PARAMS: dict[str, Param] = {
    "amount_to_capture": Integer(minimum=1, maximum=money.MAX_AMOUNT),
    "final_capture": Boolean(),
    "metadata": Metadata(),
    "statement_descriptor": String(max_chars=STATEMENT_DESCRIPTOR_CHARS),
    "statement_descriptor_suffix": String(max_chars=STATEMENT_DESCRIPTOR_CHARS),
}
CANCEL_PARAMS: dict[str, Param] = {"cancellation_reason": Enum(values=CANCELLATION_REASONS)}
AUTHENTICATE_PARAMS: dict[str, Param] = {"outcome": Enum(values=("complete", "fail"))}
LIST_FILTERS: dict[str, Param] = {"customer": String(max_chars=255)}

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
    # Accepted as Stripe accepts them; Kassa captures once, with the intent's descriptors.
    final_capture: bool | None = None
    statement_descriptor: str | None = None
    statement_descriptor_suffix: str | None = None


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
        "client_secret": f"{intent_id}_secret_{random_base62(CLIENT_SECRET_RANDOM_CHARS)}",
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
        intent["customer"] = await _customer_id(ctx, customer)
    await _apply_payment_method(ctx, intent, details)
    _apply_card_options(intent, details.payment_method_options or {})


async def _apply_payment_method(ctx: Context, intent: ApiObject, details: PaymentDetails) -> None:
    if details.payment_method is not None and details.payment_method_data is not None:
        raise InvalidParameter(
            "You cannot specify both payment_method and payment_method_data.",
            param="payment_method_data",
        )
    if details.payment_method is not None:
        intent["payment_method"] = await _payment_method_id(ctx, intent, details.payment_method)
    if details.payment_method_data is not None:
        created = await payment_methods.create_from_params(
            ctx, dict(details.payment_method_data), "payment_method_data"
        )
        intent["payment_method"] = created["id"]


def _apply_card_options(intent: ApiObject, options: PaymentMethodOptions) -> None:
    card_options = options.get("card", {})
    if "request_three_d_secure" in card_options:
        intent["payment_method_options"]["card"]["request_three_d_secure"] = card_options[
            "request_three_d_secure"
        ]
    if card_options.get("capture_method") == "manual":
        intent["capture_method"] = "manual"


async def _customer_id(ctx: Context, value: str | Unset) -> str | None:
    if isinstance(value, Unset):
        return None
    customer = await load_customer_named(ctx, value, param="customer")
    return str(customer["id"])


async def _payment_method_id(ctx: Context, intent: ApiObject, reference: str) -> str:
    payment_method = await payment_methods.resolve(ctx, reference, param="payment_method")
    owner = payment_method["customer"]
    if owner is not None and owner != intent["customer"]:
        raise InvalidRequest(
            f"The provided PaymentMethod {payment_method['id']} is attached to another "
            "customer; give that customer, or a PaymentMethod of this PaymentIntent's.",
            param="payment_method",
        )
    return str(payment_method["id"])


def _check_amount(intent: ApiObject) -> None:
    money.check_charge_amount(intent["amount"], intent["currency"], param="amount")


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
    _check_amount(intent)
    if request.confirmation_method is not None:
        intent["confirmation_method"] = request.confirmation_method
    if request.automatic_payment_methods is not None:
        intent["automatic_payment_methods"] = {
            "allow_redirects": request.automatic_payment_methods.get("allow_redirects", "always"),
            "enabled": request.automatic_payment_methods.get("enabled", False),
        }
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
        # Stored once, by the confirmation's outcome, rather than inserted and then updated.
        ctx.memo.setdefault(_UNSAVED, set()).add(intent["id"])
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


async def _load_governed(ctx: Context, intent_id: str) -> tuple[Context, ApiObject]:
    """The live intent, and the context whose `now()` is the time governing it (its
    customer's test clock, if any): what the operation writes is stamped with that time."""
    intent = await load_live_object(ctx, RESOURCE, intent_id)
    return await ctx.governed_by(intent), intent


async def _load_to_finish(ctx: Context, intent_id: str) -> tuple[Context, ApiObject]:
    """`_load_governed`, for an operation that may end the intent's payment attempt: the
    observers of its end lock what they will write first (`hooks.payment_intent_finishing`)."""
    await hooks.payment_intent_finishing(ctx, intent_id)
    return await _load_governed(ctx, intent_id)


async def retrieve_payment_intent(ctx: Context, request: RetrievePaymentIntent) -> ApiObject:
    intent = await load_live_object(ctx, RESOURCE, request.intent)
    _check_client_secret(ctx, intent, request.client_secret)
    return intent


def _check_client_secret(ctx: Context, intent: ApiObject, given: str | None) -> None:
    """A publishable key reaches an intent only with its client secret (as Stripe.js does)."""
    if given is None and ctx.publishable_key:
        raise MissingParameter("client_secret")
    if given is not None and not hmac.compare_digest(given, intent["client_secret"]):
        raise InvalidRequest(
            "The client_secret provided does not match the client_secret associated with the "
            "PaymentIntent.",
            param="client_secret",
        )


async def update_payment_intent(ctx: Context, request: UpdatePaymentIntent) -> ApiObject:
    ctx, intent = await _load_governed(ctx, request.intent)
    changes_payment_method = (
        request.payment_method is not None or request.payment_method_data is not None
    )
    changes_money = changes_payment_method or any(
        value is not None for value in (request.amount, request.currency, request.customer)
    )
    if intent["status"] not in UPDATABLE and changes_money:
        raise _unexpected_state(intent, "update", UPDATABLE)
    if request.amount is not None:
        intent["amount"] = request.amount
    if request.currency is not None:
        intent["currency"] = request.currency
    _check_amount(intent)
    _describe(intent, request)
    await _apply_payment_details(ctx, intent, request, customer=request.customer)
    if changes_payment_method:
        intent["status"] = (
            "requires_payment_method"
            if intent["payment_method"] is None
            else "requires_confirmation"
        )
        intent["next_action"] = None
    await _save(ctx, intent)
    return intent


async def confirm_payment_intent(ctx: Context, request: ConfirmPaymentIntent) -> ApiObject:
    """Attempt the payment with the intent's payment method (or the one `request` gives):
    it succeeds, is held for capture, asks for 3-D Secure, or is declined (`CardDeclined`,
    raised after the failed charge and the intent's `last_payment_error` are written)."""
    ctx, intent = await _load_to_finish(ctx, request.intent)
    _check_client_secret(ctx, intent, request.client_secret)
    return await _confirm_loaded(ctx, intent, request)


async def _confirm_loaded(
    ctx: Context, intent: ApiObject, request: ConfirmPaymentIntent
) -> ApiObject:
    """The confirmation of an intent already in hand: by `confirm_payment_intent`, or by
    `create_payment_intent` with `confirm` (its intent not yet stored)."""
    if intent["status"] not in CONFIRMABLE:
        raise _unexpected_state(intent, "confirm", CONFIRMABLE)
    await _apply_payment_details(ctx, intent, request)
    if intent["payment_method"] is None:
        raise InvalidRequest(
            "You cannot confirm this PaymentIntent because it's missing a payment method. "
            "Update the PaymentIntent with a payment method and then confirm it again.",
            code="payment_intent_unexpected_state",
        )
    payment_method = await payment_methods.resolve(
        ctx, intent["payment_method"], param="payment_method"
    )
    behavior = payment_methods.behavior_of(ctx, payment_method)
    intent["last_payment_error"] = None
    if behavior.requires_authentication or (
        intent["payment_method_options"]["card"]["request_three_d_secure"] in ("any", "challenge")
    ):
        if request.off_session in OFF_SESSION_VALUES or request.error_on_requires_action:
            return await _decline_authentication_required(ctx, intent, payment_method)
        intent["status"] = "requires_action"
        intent["next_action"] = _next_action(ctx, intent, request.return_url)
        await _save(ctx, intent)
        await events.announce(ctx, "payment_intent.requires_action", intent)
        return intent
    return await _charge(ctx, intent, payment_method, authenticated=False)


def _next_action(ctx: Context, intent: ApiObject, return_url: str | None) -> dict[str, Any]:
    url = (
        f"{ctx.payments.public_url}{AUTHENTICATE_PATH}/{intent['id']}"
        f"?client_secret={intent['client_secret']}"
    )
    if return_url:
        return {
            "type": "redirect_to_url",
            "redirect_to_url": {"return_url": return_url, "url": url},
        }
    return {
        "type": "use_stripe_sdk",
        "use_stripe_sdk": {"type": "three_d_secure_redirect", "stripe_js": url},
    }


async def _charge(
    ctx: Context, intent: ApiObject, payment_method: ApiObject, *, authenticated: bool
) -> ApiObject:
    """Attempt the charge; on success capture it (or hold it for manual capture)."""
    behavior = payment_methods.behavior_of(ctx, payment_method)
    charge = charge_processing.new_charge(
        ctx, intent, payment_method, behavior, authenticated=authenticated
    )
    intent["latest_charge"] = charge["id"]
    intent["next_action"] = None
    if behavior.decline is not None:
        await charge_processing.store_new(ctx, charge)
        await events.announce(ctx, "charge.failed", charge)
        decline = behavior.decline
        error = CardDeclined(decline.message, code=decline.code, decline_code=decline.decline_code)
        return await _fail(ctx, intent, payment_method, error, charge_id=charge["id"])
    if intent["capture_method"] == "manual":
        intent["status"] = "requires_capture"
        intent["amount_capturable"] = intent["amount"]
    else:
        await charge_processing.capture_funds(ctx, charge, intent["amount"], behavior)
        intent["status"] = "succeeded"
        intent["amount_received"] = intent["amount"]
    await charge_processing.store_new(ctx, charge)
    await events.announce(ctx, "charge.succeeded", charge)
    if charge["captured"]:
        await dispute_if_test_card_says(ctx, charge, behavior)
        if behavior.early_fraud_warning:
            await early_fraud_warnings.warn(ctx, charge)
    await _save_payment_method_for_future(ctx, intent, payment_method)
    await _save(ctx, intent)
    if intent["status"] != "succeeded":
        await events.announce(ctx, "payment_intent.amount_capturable_updated", intent)
        return intent
    await events.announce(ctx, "payment_intent.succeeded", intent)
    await hooks.payment_intent_finished(ctx, intent)
    return intent


async def dispute_if_test_card_says(
    ctx: Context, charge: ApiObject, behavior: cards.TestBehavior
) -> None:
    if behavior.dispute_reason is not None:
        before = copy.deepcopy(charge)
        await disputes.open_dispute(
            ctx, charge, behavior.dispute_reason, inquiry=behavior.dispute_is_inquiry
        )
        await charge_processing.store(ctx, charge)
        await events.announce(ctx, "charge.updated", charge, previous=before)


async def _save_payment_method_for_future(
    ctx: Context, intent: ApiObject, payment_method: ApiObject
) -> None:
    """`setup_future_usage` with a customer attaches the card once it is charged."""
    if intent["setup_future_usage"] and intent["customer"] and not payment_method["customer"]:
        await payment_methods.attach(ctx, payment_method, intent["customer"], "customer")


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
    intent["status"] = "requires_payment_method"
    intent["payment_method"] = None
    intent["next_action"] = None
    intent["last_payment_error"] = {
        "advice_code": None,
        "charge": charge_id,
        "code": error.code,
        "decline_code": error.decline_code,
        "doc_url": f"https://stripe.com/docs/error-codes/{error.code}",
        "message": error.message,
        "payment_method": payment_method,
        "type": "card_error",
    }
    await _save(ctx, intent)
    await events.announce(ctx, "payment_intent.payment_failed", intent)
    await hooks.payment_intent_finished(ctx, intent)
    error.details = {
        "charge": charge_id,
        "doc_url": intent["last_payment_error"]["doc_url"],
        "payment_intent": intent,
        "payment_method": payment_method,
    }
    raise error


async def _decline_authentication_required(
    ctx: Context, intent: ApiObject, payment_method: ApiObject
) -> ApiObject:
    """Off-session (or with `error_on_requires_action`), nobody will answer a 3-D Secure
    challenge: Stripe declines at once."""
    charge = charge_processing.new_charge(
        ctx,
        intent,
        payment_method,
        cards.TestBehavior(decline=AUTHENTICATION_REQUIRED),
        authenticated=False,
    )
    intent["latest_charge"] = charge["id"]
    await charge_processing.store_new(ctx, charge)
    await events.announce(ctx, "charge.failed", charge)
    error = CardDeclined(
        AUTHENTICATION_REQUIRED.message,
        code=AUTHENTICATION_REQUIRED.code,
        decline_code=AUTHENTICATION_REQUIRED.decline_code,
    )
    return await _fail(ctx, intent, payment_method, error, charge_id=charge["id"])


AUTHENTICATION_REQUIRED = cards.Decline(
    code="authentication_required",
    decline_code="authentication_required",
    message="Your card was declined. This transaction requires authentication.",
    outcome_type="issuer_declined",
    network_status="declined_by_network",
    reason="authentication_required",
)


async def authenticate(ctx: Context, intent: ApiObject, outcome: str) -> ApiObject:
    """Finish a test card's 3-D Secure challenge: `complete` goes on to charge the card,
    `fail` returns the intent to `requires_payment_method`."""
    if intent["status"] != "requires_action":
        raise _unexpected_state(intent, "authenticate", ("requires_action",))
    payment_method = await payment_methods.resolve(
        ctx, intent["payment_method"], param="payment_method"
    )
    if outcome == "complete":
        try:
            return await _charge(ctx, intent, payment_method, authenticated=True)
        except CardDeclined:
            return intent  # the decline is recorded on the intent; the page shows it
    intent["status"] = "requires_payment_method"
    intent["payment_method"] = None
    intent["next_action"] = None
    intent["last_payment_error"] = {
        "code": "payment_intent_authentication_failure",
        "doc_url": "https://stripe.com/docs/error-codes/payment-intent-authentication-failure",
        "message": AUTHENTICATION_FAILED_MESSAGE,
        "payment_method": payment_method,
        "type": "invalid_request_error",
    }
    await _save(ctx, intent)
    await events.announce(ctx, "payment_intent.payment_failed", intent)
    await hooks.payment_intent_finished(ctx, intent)
    return intent


async def authenticate_with_client_secret(
    ctx: Context, intent_id: str, client_secret: str, outcome: str | None
) -> tuple[ApiObject, str | None]:
    """For the test 3-D Secure page: the intent its client secret opens (authenticated when
    an outcome is given) and the `return_url` to send the browser back to."""
    if outcome is None:
        ctx, intent = await _load_governed(ctx, intent_id)
    else:
        ctx, intent = await _load_to_finish(ctx, intent_id)
    _check_client_secret(ctx, intent, client_secret)
    redirect = (intent["next_action"] or {}).get("redirect_to_url", {}).get("return_url")
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
        raise _unexpected_state(intent, "capture", ("requires_capture",))
    capturable: int = intent["amount_capturable"]
    amount = request.amount_to_capture if request.amount_to_capture is not None else capturable
    if amount > capturable:
        raise InvalidParameter(
            f"The amount to capture ({amount}) must be less than or equal to the amount "
            f"capturable ({capturable}).",
            param="amount_to_capture",
            code="amount_too_large",
        )
    money.check_charge_amount(amount, intent["currency"], param="amount_to_capture")
    charge = await charge_processing.load(ctx, intent["latest_charge"])
    payment_method = await payment_methods.resolve(
        ctx, intent["payment_method"], param="payment_method"
    )
    behavior = payment_methods.behavior_of(ctx, payment_method)
    before = copy.deepcopy(charge)
    await charge_processing.capture_funds(ctx, charge, amount, behavior)
    if request.metadata is not None:
        intent["metadata"] = apply_metadata(intent["metadata"], request.metadata)
    intent["status"] = "succeeded"
    intent["amount_capturable"] = 0
    intent["amount_received"] = amount
    await charge_processing.store(ctx, charge)
    await events.announce(ctx, "charge.captured", charge, previous=before)
    await dispute_if_test_card_says(ctx, charge, behavior)
    await _save(ctx, intent)
    await events.announce(ctx, "payment_intent.succeeded", intent)
    await hooks.payment_intent_finished(ctx, intent)
    return intent


async def cancel_payment_intent(ctx: Context, request: CancelPaymentIntent) -> ApiObject:
    ctx, intent = await _load_governed(ctx, request.intent)
    if intent["status"] not in CANCELABLE:
        raise _unexpected_state(intent, "cancel", CANCELABLE)
    # Canceling an uncaptured intent releases the authorization: no money had moved, so the
    # ledger is untouched, and since API version 2025-03-31 the charge is not marked refunded.
    intent["status"] = "canceled"
    intent["canceled_at"] = ctx.now()
    intent["cancellation_reason"] = request.cancellation_reason
    intent["amount_capturable"] = 0
    intent["next_action"] = None
    await _save(ctx, intent)
    await events.announce(ctx, "payment_intent.canceled", intent)
    return intent


def _unexpected_state(intent: ApiObject, action: str, allowed: tuple[str, ...]) -> InvalidRequest:
    return InvalidRequest(
        f"You cannot {action} this PaymentIntent because it has a status of "
        f"{intent['status']}. Only a PaymentIntent with one of the following statuses may be "
        f"{'canceled' if action == 'cancel' else action + 'd'}: {', '.join(allowed)}.",
        code="payment_intent_unexpected_state",
    )


async def _save(ctx: Context, intent: ApiObject) -> None:
    unsaved: set[str] = ctx.memo.get(_UNSAVED, set())
    if intent["id"] in unsaved:
        unsaved.discard(intent["id"])
        await ctx.tx.insert_object(PAYMENT_INTENTS, ctx.account_id, intent)
    else:
        await ctx.tx.update_object(PAYMENT_INTENTS, ctx.account_id, intent)


RESOURCE = Resource(
    object_name="payment_intent",
    id_prefix="pi",
    collection="payment_intents",
    table=PAYMENT_INTENTS,
    create=Operation(
        request_parser(CreatePaymentIntent, CREATE_PARAMS, required=("amount", "currency")),
        create_payment_intent,
        writes=True,
    ),
    retrieve=Operation(
        request_parser(RetrievePaymentIntent, RETRIEVE_PARAMS, ids=("intent",)),
        retrieve_payment_intent,
        writes=False,
        publishable_key_allowed=True,
    ),
    update=Operation(
        request_parser(UpdatePaymentIntent, UPDATE_PARAMS, ids=("intent",)),
        update_payment_intent,
        writes=True,
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
