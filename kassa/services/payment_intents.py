"""PaymentIntents: create, retrieve, update, confirm, capture, cancel, list, and completing
or failing a test card's 3-D Secure authentication. Stripe's status machine:

    requires_payment_method -> requires_confirmation -> (requires_action) ->
    requires_capture (manual capture) -> succeeded, or canceled from any unfinished status.

A declined confirmation records the failed charge, returns the intent to
`requires_payment_method` with `last_payment_error`, and answers 402 `card_error`.
"""

from __future__ import annotations

import copy
import hmac
from typing import Any

from kassa import cards, money
from kassa.errors import CardDeclined, InvalidParameter, InvalidRequest, MissingParameter
from kassa.ids import new_id, random_base62
from kassa.params import (
    UNSET,
    Boolean,
    Email,
    Enum,
    Integer,
    ListOf,
    Metadata,
    Param,
    String,
    Struct,
    apply_metadata,
    parse_params,
)
from kassa.services import charge_processing, disputes, events, payment_methods
from kassa.services.addresses import SHIPPING, shipping_object
from kassa.services.context import Context
from kassa.services.customers import RESOURCE as CUSTOMER
from kassa.services.listing import load_live_object, load_object, required_id
from kassa.services.resource import ApiObject, Operation, Resource
from kassa.store.tables import PAYMENT_INTENTS

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

_PLAIN_FIELDS = (
    "description",
    "receipt_email",
    "statement_descriptor",
    "statement_descriptor_suffix",
    "transfer_group",
    "setup_future_usage",
)


def _blank_intent(ctx: Context, amount: int, currency: str) -> ApiObject:
    intent_id = new_id("pi")
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


async def _apply_common(ctx: Context, intent: ApiObject, params: dict[str, Any]) -> None:
    """Parameters create, update and confirm share; validated before anything is written."""
    for name in _PLAIN_FIELDS:
        if name in params:
            intent[name] = None if params[name] is UNSET else params[name]
    if "metadata" in params:
        intent["metadata"] = apply_metadata(intent["metadata"], params["metadata"])
    if "shipping" in params:
        intent["shipping"] = shipping_object(params["shipping"])
    if "capture_method" in params:
        intent["capture_method"] = params["capture_method"]
    for name in ("allowed_payment_method_types", "excluded_payment_method_types"):
        if name in params:
            # Kassa has only cards: the lists can but name them.
            intent[name] = None if params[name] is UNSET else params[name]
    if "customer" in params:
        intent["customer"] = await _customer_id(ctx, params["customer"])
    if "payment_method" in params and "payment_method_data" in params:
        raise InvalidParameter(
            "You cannot specify both payment_method and payment_method_data.",
            param="payment_method_data",
        )
    if "payment_method" in params:
        intent["payment_method"] = await _payment_method_id(ctx, intent, params["payment_method"])
    if "payment_method_data" in params:
        created = await payment_methods.create_from_params(
            ctx, params["payment_method_data"], "payment_method_data"
        )
        intent["payment_method"] = created["id"]
    card_options = params.get("payment_method_options", {}).get("card", {})
    if "request_three_d_secure" in card_options:
        intent["payment_method_options"]["card"]["request_three_d_secure"] = card_options[
            "request_three_d_secure"
        ]
    if card_options.get("capture_method") == "manual":
        intent["capture_method"] = "manual"


async def _customer_id(ctx: Context, value: Any) -> str | None:
    if value is UNSET or value is None:
        return None
    customer, deleted = await load_object(ctx, CUSTOMER, value, param="customer")
    if deleted:
        raise InvalidRequest(f"No such customer: '{value}'", param="customer")
    return str(customer["id"])


async def _payment_method_id(ctx: Context, intent: ApiObject, reference: Any) -> str | None:
    if reference is UNSET:
        return None
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


async def create_payment_intent(ctx: Context, _id: str | None, form: dict[str, Any]) -> ApiObject:
    params = parse_params(CREATE_PARAMS, form)
    for name in ("amount", "currency"):
        if name not in params:
            raise MissingParameter(name)
    intent = _blank_intent(ctx, params["amount"], params["currency"])
    _check_amount(intent)
    if "confirmation_method" in params:
        intent["confirmation_method"] = params["confirmation_method"]
    if "automatic_payment_methods" in params:
        intent["automatic_payment_methods"] = {
            "allow_redirects": params["automatic_payment_methods"].get("allow_redirects", "always"),
            "enabled": params["automatic_payment_methods"].get("enabled", False),
        }
    await _apply_common(ctx, intent, params)
    if intent["payment_method"] is not None:
        intent["status"] = "requires_confirmation"
    await events.announce(ctx, "payment_intent.created", intent)
    if params.get("confirm"):
        # Stored once, by the confirmation's outcome, rather than inserted and then updated.
        ctx.memo.setdefault(_UNSAVED, set()).add(intent["id"])
        return await _confirm(ctx, intent, params)
    await ctx.tx.insert_object(PAYMENT_INTENTS, ctx.account_id, intent)
    return intent


async def retrieve_payment_intent(
    ctx: Context, intent_id: str | None, form: dict[str, Any]
) -> ApiObject:
    params = parse_params({"client_secret": String(max_chars=500)}, form)
    intent = await load_live_object(ctx, RESOURCE, required_id(intent_id))
    _check_client_secret(ctx, intent, params)
    return intent


def _check_client_secret(ctx: Context, intent: ApiObject, params: dict[str, Any]) -> None:
    """A publishable key reaches an intent only with its client secret (as Stripe.js does)."""
    given = params.get("client_secret")
    if given is None and ctx.publishable_key:
        raise MissingParameter("client_secret")
    if given is not None and not hmac.compare_digest(str(given), intent["client_secret"]):
        raise InvalidRequest(
            "The client_secret provided does not match the client_secret associated with the "
            "PaymentIntent.",
            param="client_secret",
        )


async def update_payment_intent(
    ctx: Context, intent_id: str | None, form: dict[str, Any]
) -> ApiObject:
    params = parse_params(UPDATE_PARAMS, form)
    intent = await load_live_object(ctx, RESOURCE, required_id(intent_id))
    money_fields = {"amount", "currency", "payment_method", "payment_method_data", "customer"}
    if intent["status"] not in UPDATABLE and money_fields & params.keys():
        raise _unexpected_state(intent, "update", UPDATABLE)
    for name in ("amount", "currency"):
        if name in params:
            intent[name] = params[name]
    _check_amount(intent)
    await _apply_common(ctx, intent, params)
    if {"payment_method", "payment_method_data"} & params.keys():
        intent["status"] = (
            "requires_payment_method"
            if intent["payment_method"] is None
            else "requires_confirmation"
        )
        intent["next_action"] = None
    await _save(ctx, intent)
    return intent


async def confirm_payment_intent(
    ctx: Context, intent_id: str | None, form: dict[str, Any]
) -> ApiObject:
    params = parse_params(CONFIRM_PARAMS, form)
    intent = await load_live_object(ctx, RESOURCE, required_id(intent_id))
    _check_client_secret(ctx, intent, params)
    if intent["status"] not in CONFIRMABLE:
        raise _unexpected_state(intent, "confirm", CONFIRMABLE)
    await _apply_common(ctx, intent, params)
    return await _confirm(ctx, intent, params)


async def _confirm(ctx: Context, intent: ApiObject, params: dict[str, Any]) -> ApiObject:
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
    off_session = params.get("off_session") in ("true", "one_off", "recurring")
    if behavior.requires_authentication or (
        intent["payment_method_options"]["card"]["request_three_d_secure"] in ("any", "challenge")
    ):
        if off_session:
            return await _decline_authentication_required(ctx, intent, payment_method)
        if params.get("error_on_requires_action"):
            return await _decline_authentication_required(ctx, intent, payment_method)
        intent["status"] = "requires_action"
        intent["next_action"] = _next_action(ctx, intent, params.get("return_url"))
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
        await _dispute_if_test_card_says(ctx, charge, behavior)
    await _save_payment_method_for_future(ctx, intent, payment_method)
    await _save(ctx, intent)
    await events.announce(
        ctx,
        "payment_intent.succeeded"
        if intent["status"] == "succeeded"
        else "payment_intent.amount_capturable_updated",
        intent,
    )
    return intent


async def _dispute_if_test_card_says(
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
    return intent


async def authenticate_with_client_secret(
    ctx: Context, intent_id: str, client_secret: str, outcome: str | None
) -> tuple[ApiObject, str | None]:
    """For the test 3-D Secure page: the intent its client secret opens (authenticated when
    an outcome is given) and the `return_url` to send the browser back to."""
    intent = await load_live_object(ctx, RESOURCE, intent_id)
    _check_client_secret(ctx, intent, {"client_secret": client_secret})
    redirect = (intent["next_action"] or {}).get("redirect_to_url", {}).get("return_url")
    if outcome is None:
        return intent, redirect
    return await authenticate(ctx, intent, outcome), redirect


async def authenticate_payment_intent(
    ctx: Context, intent_id: str | None, form: dict[str, Any]
) -> ApiObject:
    params = parse_params(AUTHENTICATE_PARAMS, form, required=("outcome",))
    intent = await load_live_object(ctx, RESOURCE, required_id(intent_id))
    return await authenticate(ctx, intent, params["outcome"])


async def capture_payment_intent(
    ctx: Context, intent_id: str | None, form: dict[str, Any]
) -> ApiObject:
    params = parse_params(CAPTURE_PARAMS, form)
    intent = await load_live_object(ctx, RESOURCE, required_id(intent_id))
    return await capture(ctx, intent, params)


async def capture(ctx: Context, intent: ApiObject, params: dict[str, Any]) -> ApiObject:
    if intent["status"] != "requires_capture":
        raise _unexpected_state(intent, "capture", ("requires_capture",))
    capturable: int = intent["amount_capturable"]
    amount: int = params.get("amount_to_capture", capturable)
    if amount > intent["amount_capturable"]:
        raise InvalidParameter(
            f"The amount to capture ({amount}) must be less than or equal to the amount "
            f"capturable ({intent['amount_capturable']}).",
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
    if "metadata" in params:
        intent["metadata"] = apply_metadata(intent["metadata"], params["metadata"])
    intent["status"] = "succeeded"
    intent["amount_capturable"] = 0
    intent["amount_received"] = amount
    await charge_processing.store(ctx, charge)
    await events.announce(ctx, "charge.captured", charge, previous=before)
    await _dispute_if_test_card_says(ctx, charge, behavior)
    await _save(ctx, intent)
    await events.announce(ctx, "payment_intent.succeeded", intent)
    return intent


async def cancel_payment_intent(
    ctx: Context, intent_id: str | None, form: dict[str, Any]
) -> ApiObject:
    params = parse_params(CANCEL_PARAMS, form)
    intent = await load_live_object(ctx, RESOURCE, required_id(intent_id))
    if intent["status"] not in CANCELABLE:
        raise _unexpected_state(intent, "cancel", CANCELABLE)
    # Canceling an uncaptured intent releases the authorization: no money had moved, so the
    # ledger is untouched, and since API version 2025-03-31 the charge is not marked refunded.
    intent["status"] = "canceled"
    intent["canceled_at"] = ctx.now()
    intent["cancellation_reason"] = params.get("cancellation_reason")
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
    create=Operation(create_payment_intent, writes=True),
    retrieve=Operation(retrieve_payment_intent, writes=False, publishable_key_allowed=True),
    update=Operation(update_payment_intent, writes=True),
    list_filters=LIST_FILTERS,
    actions={
        "confirm": Operation(confirm_payment_intent, writes=True, publishable_key_allowed=True),
        "capture": Operation(capture_payment_intent, writes=True),
        "cancel": Operation(cancel_payment_intent, writes=True),
    },
    test_helpers={"authenticate": Operation(authenticate_payment_intent, writes=True)},
    expandable=frozenset({"customer", "payment_method", "latest_charge"}),
)
