"""SetupIntents: saving a card for later payments without charging it. Create, retrieve,
update, confirm, cancel, list, and completing or failing a test card's 3-D Secure
authentication. Stripe's status machine:

    requires_payment_method -> requires_confirmation -> (requires_action) -> succeeded,
    or canceled from any unfinished status.

Confirming verifies the card with its issuer, as attaching it does: a card the issuer
declines (Stripe's declined-payment test cards) answers 402 `card_error`, with
`last_setup_error` set and the intent back at `requires_payment_method`. A card that asks for
3-D Secure goes to `requires_action`, whose `next_action` opens the same test page (and the
same kind of test helper) as a PaymentIntent's. On success the card is attached to the
intent's customer, and `hooks.setup_intent_succeeded` tells billing (a subscription's
`pending_setup_intent`). No money moves: nothing here touches the ledger.

Each confirmation that reaches the card is recorded as a SetupAttempt (`setup_attempts`),
named by `latest_attempt`. Kassa has cards only, which never pass through `processing`;
`mandate` and `single_use_mandate` are null as they are for cards.
"""

from __future__ import annotations

from typing import Final

from kassa.errors import CardDeclined, InvalidParameter
from kassa.ids import new_id
from kassa.params import Unset, apply_metadata
from kassa.services import (
    card_setups,
    charge_processing,
    events,
    hooks,
    intent_helpers,
    payment_methods,
    setup_attempts,
)
from kassa.services.context import Context
from kassa.services.customer_lookup import load_customer_named
from kassa.services.listing import load_live_object
from kassa.services.resource import ApiObject, Operation, Resource, request_parser
from kassa.services.setup_intent_params import (
    AUTHENTICATE_PARAMS,
    CANCEL_PARAMS,
    CANCELABLE,
    CONFIRM_PARAMS,
    CONFIRMABLE,
    CREATE_PARAMS,
    LIST_FILTERS,
    RETRIEVE_PARAMS,
    UPDATABLE,
    UPDATE_PARAMS,
    AuthenticateSetupIntent,
    CancelSetupIntent,
    ConfirmSetupIntent,
    CreateSetupIntent,
    Descriptions,
    RetrieveSetupIntent,
    SetupDetails,
    UpdateSetupIntent,
)
from kassa.store.tables import SETUP_INTENTS

AUTHENTICATION_FAILED_MESSAGE = (
    "The latest attempt to set up the payment method has failed because authentication "
    "failed. Provide a new payment method to attempt to set it up again."
)

PUBLISHABLE_FIELDS = frozenset(
    {
        "id",
        "object",
        "cancellation_reason",
        "client_secret",
        "created",
        "description",
        "last_setup_error",
        "livemode",
        "next_action",
        "payment_method",
        "payment_method_types",
        "status",
        "usage",
    }
)
"""What a publishable key (Stripe.js, with the client secret) sees of an intent: the fields
Stripe's object reference marks "retrievable with publishable key" (the SetupIntent of
stripe-js's types); never the customer or metadata."""


def _blank_intent(ctx: Context, intent_id: str) -> ApiObject:
    return {
        "id": intent_id,
        "object": "setup_intent",
        "application": None,
        "allowed_payment_method_types": None,
        "attach_to_self": False,
        "automatic_payment_methods": None,
        "cancellation_reason": None,
        "client_secret": intent_helpers.new_client_secret(intent_id),
        "created": ctx.now(),
        "customer": None,
        "customer_account": None,
        "description": None,
        "excluded_payment_method_types": None,
        "flow_directions": None,
        "last_setup_error": None,
        "latest_attempt": None,
        "livemode": ctx.livemode,
        "mandate": None,
        "metadata": {},
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": ["card"],
        "single_use_mandate": None,
        "status": "requires_payment_method",
        "usage": "off_session",
    }


def _describe(intent: ApiObject, request: Descriptions) -> None:
    if request.description is not None:
        intent["description"] = (
            None if isinstance(request.description, Unset) else request.description
        )
    if request.flow_directions is not None:
        intent["flow_directions"] = request.flow_directions or None
    if request.payment_method_types is not None:
        # Kassa has only cards: the list can but name them, and an empty one means the default.
        intent["payment_method_types"] = request.payment_method_types or ["card"]
    for name, value in (
        ("allowed_payment_method_types", request.allowed_payment_method_types),
        ("excluded_payment_method_types", request.excluded_payment_method_types),
    ):
        if value is not None:
            intent[name] = None if isinstance(value, Unset) else value
    if request.attach_to_self is not None:
        intent["attach_to_self"] = request.attach_to_self
    if request.metadata is not None:
        intent["metadata"] = apply_metadata(intent["metadata"], request.metadata)


def _check_attach_to_self(intent: ApiObject) -> None:
    """Stripe: a payment method set up for the account itself cannot be a customer's."""
    if intent["attach_to_self"] and intent["customer"] is not None:
        raise InvalidParameter(
            "attach_to_self cannot be true when setting up a payment method for a customer.",
            param="attach_to_self",
        )


async def _apply_setup_details(
    ctx: Context, intent: ApiObject, details: SetupDetails, *, customer_changed: bool = False
) -> None:
    """The card and its options; the customer (create and update) comes first, as the
    payment method must be the customer's or nobody's."""
    await intent_helpers.apply_payment_method(
        ctx,
        _KIND,
        intent,
        details.payment_method,
        details.payment_method_data,
        customer_changed=customer_changed,
    )
    card_options = (details.payment_method_options or {}).get("card", {})
    for name in ("request_three_d_secure", "network"):
        if name in card_options:
            intent["payment_method_options"]["card"][name] = card_options[name]


async def create_setup_intent(ctx: Context, request: CreateSetupIntent) -> ApiObject:
    intent = _blank_intent(ctx, new_id("seti"))
    if request.usage is not None:
        intent["usage"] = request.usage
    intent["automatic_payment_methods"] = intent_helpers.automatic_payment_methods(
        request.automatic_payment_methods,
        request.payment_method_types,
        request.allowed_payment_method_types,
    )
    if request.confirm:
        # Refused before anything is written (a payment method from payment_method_data).
        intent_helpers.check_return_url_given(_KIND, intent, request.return_url)
    _describe(intent, request)
    if request.customer is not None:
        intent["customer"] = await intent_helpers.customer_id(ctx, request.customer)
    _check_attach_to_self(intent)
    await _apply_setup_details(ctx, intent, request)
    # Only now is the customer known: the intent lives at the time governing it.
    ctx = await ctx.governed_by(intent)
    intent["created"] = ctx.now()
    if intent["payment_method"] is not None:
        intent["status"] = "requires_confirmation"
    await events.announce(ctx, "setup_intent.created", intent)
    if request.confirm:
        intent_helpers.insert_when_saved(ctx, _KIND, intent)
        confirmation = ConfirmSetupIntent(intent=intent["id"], return_url=request.return_url)
        return await _confirm_loaded(ctx, intent, confirmation)
    await ctx.tx.insert_object(SETUP_INTENTS, ctx.account_id, intent)
    return intent


async def retrieve_setup_intent(ctx: Context, request: RetrieveSetupIntent) -> ApiObject:
    intent = await load_live_object(ctx, RESOURCE, request.intent)
    intent_helpers.check_client_secret(ctx, _KIND, intent, request.client_secret)
    return intent


async def update_setup_intent(ctx: Context, request: UpdateSetupIntent) -> ApiObject:
    ctx, intent = await intent_helpers.load_governed(ctx, _KIND, request.intent)
    changes_payment_method = (
        request.payment_method is not None or request.payment_method_data is not None
    )
    if intent["status"] not in UPDATABLE and (
        changes_payment_method or request.customer is not None
    ):
        raise intent_helpers.unexpected_state(_KIND, intent, "update", UPDATABLE)
    _describe(intent, request)
    if request.customer is not None:
        intent["customer"] = await intent_helpers.customer_id(ctx, request.customer)
    _check_attach_to_self(intent)
    await _apply_setup_details(ctx, intent, request, customer_changed=request.customer is not None)
    if changes_payment_method:
        intent["status"] = "requires_confirmation"
        intent["next_action"] = None
    await intent_helpers.save(ctx, _KIND, intent)
    return intent


async def confirm_setup_intent(ctx: Context, request: ConfirmSetupIntent) -> ApiObject:
    """Set up the intent's card (or the one `request` gives): it succeeds, asks for 3-D
    Secure, or is declined (`CardDeclined`, raised after `last_setup_error` is written)."""
    ctx, intent = await intent_helpers.load_governed(ctx, _KIND, request.intent)
    intent_helpers.check_client_secret(ctx, _KIND, intent, request.client_secret)
    return await _confirm_loaded(ctx, intent, request)


async def _confirm_loaded(
    ctx: Context, intent: ApiObject, request: ConfirmSetupIntent
) -> ApiObject:
    if intent["status"] not in CONFIRMABLE:
        raise intent_helpers.unexpected_state(_KIND, intent, "confirm", CONFIRMABLE)
    return_url = await intent_helpers.confirmation_return_url(
        ctx, _KIND, intent, request.return_url
    )
    await _apply_setup_details(ctx, intent, request)
    if intent["customer"] is not None:
        # Deleted since the intent named it: Stripe's "No such customer".
        await load_customer_named(ctx, intent["customer"], param="customer")
    payment_method = await intent_helpers.payment_method_of(ctx, _KIND, intent)
    await intent_helpers.remember_return_url(ctx, intent, request.return_url)
    behavior = payment_methods.behavior_of(ctx, payment_method)
    intent["last_setup_error"] = None
    # The issuer verifies the card as it does on attach: the cards it declines there fail.
    if behavior.decline is not None and behavior.declines_on_attach:
        error = charge_processing.declined(behavior.decline)
        return await _fail(ctx, intent, payment_method, error)
    if intent_helpers.needs_three_d_secure(intent, behavior):
        intent["status"] = "requires_action"
        intent["next_action"] = intent_helpers.next_action(ctx, intent, return_url)
        await setup_attempts.record(ctx, intent, payment_method, "requires_action")
        await intent_helpers.save(ctx, _KIND, intent)
        await events.announce(ctx, "setup_intent.requires_action", intent)
        return intent
    await setup_attempts.record(ctx, intent, payment_method, "succeeded")
    return await _succeed(ctx, intent, payment_method)


async def _succeed(ctx: Context, intent: ApiObject, payment_method: ApiObject) -> ApiObject:
    """The card is set up: attached to the intent's customer (unless it already is), and
    for off-session payments if that is the intent's usage."""
    if intent["customer"] is not None and payment_method["customer"] is None:
        # `attach` loads the customer: one deleted during a 3-D Secure challenge is refused.
        await payment_methods.attach(ctx, payment_method, intent["customer"], "customer")
    if intent["usage"] == "off_session":
        await card_setups.record(ctx, payment_method)
    intent["status"] = "succeeded"
    intent["next_action"] = None
    await intent_helpers.save(ctx, _KIND, intent)
    await events.announce(ctx, "setup_intent.succeeded", intent)
    await hooks.setup_intent_succeeded(ctx, intent)
    return intent


async def _fail(
    ctx: Context, intent: ApiObject, payment_method: ApiObject, error: CardDeclined
) -> ApiObject:
    """Record the failure on the intent, then raise it: the writes commit and the error
    carries the intent, as Stripe's does."""
    intent_helpers.back_to_requires_payment_method(intent)
    intent["last_setup_error"] = error.recorded(
        payment_method=payment_method, payment_method_type="card"
    )
    await setup_attempts.record(ctx, intent, payment_method, "failed", intent["last_setup_error"])
    await intent_helpers.save(ctx, _KIND, intent)
    await events.announce(ctx, "setup_intent.setup_failed", intent)
    raise error.carrying(
        payment_method=payment_method, payment_method_type="card", setup_intent=intent
    )


async def authenticate(ctx: Context, intent: ApiObject, outcome: str) -> ApiObject:
    """Finish a test card's 3-D Secure challenge: `complete` sets the card up, `fail`
    returns the intent to `requires_payment_method`."""
    if intent["status"] != "requires_action":
        raise intent_helpers.unexpected_state(_KIND, intent, "authenticate", ("requires_action",))
    payment_method = await intent_helpers.payment_method_of(ctx, _KIND, intent)
    if outcome == "complete":
        await setup_attempts.finish(ctx, intent, "succeeded", three_d_secure="authenticated")
        return await _succeed(ctx, intent, payment_method)
    intent_helpers.back_to_requires_payment_method(intent)
    intent["last_setup_error"] = intent_helpers.authentication_failure(
        _KIND,
        AUTHENTICATION_FAILED_MESSAGE,
        payment_method=payment_method,
        payment_method_type="card",
    )
    await setup_attempts.finish(
        ctx, intent, "failed", three_d_secure="failed", setup_error=intent["last_setup_error"]
    )
    await intent_helpers.save(ctx, _KIND, intent)
    await events.announce(ctx, "setup_intent.setup_failed", intent)
    return intent


async def authenticate_with_client_secret(
    ctx: Context, intent_id: str, client_secret: str, outcome: str | None
) -> tuple[ApiObject, str | None]:
    """For the test 3-D Secure page: the intent its client secret opens (authenticated when
    an outcome is given) and the `return_url` to send the browser back to."""
    ctx, intent = await intent_helpers.load_governed(ctx, _KIND, intent_id)
    intent_helpers.check_client_secret(ctx, _KIND, intent, client_secret)
    redirect = intent_helpers.return_url_of(intent)
    if outcome is None:
        return intent, redirect
    return await authenticate(ctx, intent, outcome), redirect


async def authenticate_setup_intent(ctx: Context, request: AuthenticateSetupIntent) -> ApiObject:
    ctx, intent = await intent_helpers.load_governed(ctx, _KIND, request.intent)
    return await authenticate(ctx, intent, request.outcome)


async def cancel_setup_intent(ctx: Context, request: CancelSetupIntent) -> ApiObject:
    ctx, intent = await intent_helpers.load_governed(ctx, _KIND, request.intent)
    if intent["status"] not in CANCELABLE:
        raise intent_helpers.unexpected_state(_KIND, intent, "cancel", CANCELABLE)
    if intent["status"] == "requires_action":
        await setup_attempts.finish(ctx, intent, "abandoned")
    intent["status"] = "canceled"
    intent["cancellation_reason"] = request.cancellation_reason
    intent["next_action"] = None
    await intent_helpers.save(ctx, _KIND, intent)
    await events.announce(ctx, "setup_intent.canceled", intent)
    return intent


async def open_for_customer(ctx: Context, customer_id: str) -> ApiObject:
    """A new SetupIntent to save a card of this (existing) customer for off-session
    payments: a trialing subscription's `pending_setup_intent`."""
    intent = _blank_intent(ctx, new_id("seti"))
    intent["customer"] = customer_id
    await ctx.tx.insert_object(SETUP_INTENTS, ctx.account_id, intent)
    await events.announce(ctx, "setup_intent.created", intent)
    return intent


_TYPES_REMOVED: Final = {"payment_method_types": intent_helpers.PAYMENT_METHOD_TYPES_REMOVED}
"""Taken from requests pinning an API version before 2026-09-30.endive only."""

RESOURCE = Resource(
    object_name="setup_intent",
    id_prefix="seti",
    collection="setup_intents",
    table=SETUP_INTENTS,
    create=Operation(
        request_parser(CreateSetupIntent, CREATE_PARAMS),
        create_setup_intent,
        writes=True,
        removed_params=_TYPES_REMOVED,
    ),
    retrieve=Operation(
        request_parser(RetrieveSetupIntent, RETRIEVE_PARAMS, ids=("intent",)),
        retrieve_setup_intent,
        writes=False,
        publishable_key_allowed=True,
        publishable_fields=PUBLISHABLE_FIELDS,
    ),
    update=Operation(
        request_parser(UpdateSetupIntent, UPDATE_PARAMS, ids=("intent",)),
        update_setup_intent,
        writes=True,
        removed_params=_TYPES_REMOVED,
    ),
    list_filters=LIST_FILTERS,
    actions={
        "confirm": Operation(
            request_parser(ConfirmSetupIntent, CONFIRM_PARAMS, ids=("intent",)),
            confirm_setup_intent,
            writes=True,
            publishable_key_allowed=True,
            publishable_fields=PUBLISHABLE_FIELDS,
        ),
        "cancel": Operation(
            request_parser(CancelSetupIntent, CANCEL_PARAMS, ids=("intent",)),
            cancel_setup_intent,
            writes=True,
        ),
    },
    test_helpers={
        "authenticate": Operation(
            request_parser(
                AuthenticateSetupIntent,
                AUTHENTICATE_PARAMS,
                ids=("intent",),
                required=("outcome",),
            ),
            authenticate_setup_intent,
            writes=True,
        )
    },
    expandable={
        "customer": "customer",
        "latest_attempt": "setup_attempt",
        "payment_method": "payment_method",
    },
    event_types=(
        "setup_intent.canceled",
        "setup_intent.created",
        "setup_intent.requires_action",
        "setup_intent.setup_failed",
        "setup_intent.succeeded",
    ),
)
_KIND = intent_helpers.IntentKind("SetupIntent", RESOURCE)
