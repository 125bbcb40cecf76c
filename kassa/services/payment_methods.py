"""PaymentMethods of type `card`: create, retrieve, update, list, attach, detach.

Stripe's test payment methods (`pm_card_visa`, ...) and tokens (`tok_visa`, ...) stand for
test cards: each use makes a new PaymentMethod, as Stripe does. A raw `card[number]` is
validated and reduced to brand, last4, expiry, funding, country and a keyed fingerprint;
the number itself goes no further than `kassa.cards`.
"""

from __future__ import annotations

import copy
import datetime
from typing import Any

from kassa import cards
from kassa.errors import CardError, InvalidParameter, InvalidRequest, MissingParameter
from kassa.ids import new_id
from kassa.params import (
    UNSET,
    Email,
    Enum,
    Integer,
    Metadata,
    Param,
    String,
    Struct,
    apply_metadata,
    parse_params,
)
from kassa.services import events
from kassa.services.addresses import ADDRESS, blank_address, merge_address
from kassa.services.context import Context
from kassa.services.customers import RESOURCE as CUSTOMER
from kassa.services.listing import load_live_object, load_object, required_id
from kassa.services.resource import ApiObject, Operation, Resource
from kassa.store.tables import PAYMENT_METHODS

BILLING_DETAILS = Struct(
    {
        "address": ADDRESS,
        "email": Email(nullable=True),
        "name": String(max_chars=5000, nullable=True),
        "phone": String(max_chars=5000, nullable=True),
        "tax_id": String(max_chars=5000, nullable=True),
    }
)
CARD = Struct(
    {
        "number": String(max_chars=40),
        "exp_month": String(max_chars=10),
        "exp_year": String(max_chars=10),
        "cvc": String(max_chars=10),
        "token": String(max_chars=255),
        "networks": Struct({"preferred": String(max_chars=20)}),
    }
)
ALLOW_REDISPLAY = Enum(values=("always", "limited", "unspecified"))
CREATE_PARAMS: dict[str, Param] = {
    "type": Enum(values=("card",)),
    "card": CARD,
    "billing_details": BILLING_DETAILS,
    "metadata": Metadata(),
    "allow_redisplay": ALLOW_REDISPLAY,
    "customer": String(max_chars=255),
    "payment_method": String(max_chars=255),
}
"""Also what `payment_method_data` takes on a PaymentIntent (without customer)."""
UPDATE_PARAMS: dict[str, Param] = {
    "billing_details": BILLING_DETAILS,
    "card": Struct(
        {
            "exp_month": Integer(minimum=1, maximum=12),
            "exp_year": Integer(minimum=1, maximum=9999),
            "networks": Struct({"preferred": String(max_chars=20, nullable=True)}),
        }
    ),
    "metadata": Metadata(),
    "allow_redisplay": ALLOW_REDISPLAY,
}
LIST_FILTERS: dict[str, Param] = {
    "customer": String(max_chars=255),
    "type": Enum(values=("card",)),
}


def _today(ctx: Context) -> datetime.date:
    return datetime.datetime.fromtimestamp(ctx.now(), datetime.UTC).date()


def card_from_params(ctx: Context, card: dict[str, Any], prefix: str) -> cards.Card:
    """The card a `card[...]` hash describes: a test token, or a raw number (validated)."""
    key = ctx.payments.card_fingerprint_key
    if "token" in card:
        found = cards.card_from_test_token(card["token"], today=_today(ctx), fingerprint_key=key)
        if found is None:
            raise InvalidRequest(f"No such token: '{card['token']}'", param=f"{prefix}[token]")
        return found
    for name in ("number", "exp_month", "exp_year"):
        if name not in card:
            raise MissingParameter(f"{prefix}[{name}]")
    return cards.card_from_number(
        card["number"],
        card["exp_month"],
        card["exp_year"],
        card.get("cvc"),
        today=_today(ctx),
        fingerprint_key=key,
        param_prefix=prefix,
    )


def _billing_details(update: dict[str, Any] | None, current: Any = None) -> dict[str, Any]:
    details = (
        dict(current)
        if current
        else {"address": blank_address()} | dict.fromkeys(("email", "name", "phone", "tax_id"))
    )
    for key, value in (update or {}).items():
        if key == "address":
            # Unlike a customer's, a billing address is never null: clearing blanks it.
            details["address"] = merge_address(details["address"], value) or blank_address()
        else:
            details[key] = None if value is UNSET else value
    return details


def card_payment_method(
    ctx: Context, card: cards.Card, params: dict[str, Any] | None = None
) -> ApiObject:
    params = params or {}
    return {
        "id": new_id("pm"),
        "object": "payment_method",
        "allow_redisplay": params.get("allow_redisplay", "unspecified"),
        "billing_details": _billing_details(params.get("billing_details")),
        "card": {
            "brand": card.brand,
            "checks": {
                "address_line1_check": None,
                "address_postal_code_check": None,
                "cvc_check": card.cvc_check,
            },
            "country": card.country,
            "display_brand": card.display_brand,
            "exp_month": card.exp_month,
            "exp_year": card.exp_year,
            "fingerprint": card.fingerprint,
            "funding": card.funding,
            "generated_from": None,
            "last4": card.last4,
            "networks": {"available": [card.brand], "preferred": None},
            "regulated_status": "unregulated",
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        },
        "created": ctx.now(),
        "customer": None,
        "customer_account": None,
        "livemode": ctx.livemode,
        "metadata": apply_metadata({}, params.get("metadata", {})),
        "type": "card",
    }


async def create_from_params(ctx: Context, params: dict[str, Any], prefix: str) -> ApiObject:
    """A new card PaymentMethod from create parameters (or `payment_method_data`)."""
    if params.get("type") != "card":
        raise MissingParameter(f"{prefix}[type]" if prefix else "type")
    if "card" not in params:
        raise MissingParameter(f"{prefix}[card]" if prefix else "card")
    card = card_from_params(ctx, params["card"], f"{prefix}[card]" if prefix else "card")
    payment_method = card_payment_method(ctx, card, params)
    await ctx.tx.insert_object(PAYMENT_METHODS, ctx.account_id, payment_method)
    return payment_method


async def resolve(ctx: Context, reference: str, *, param: str) -> ApiObject:
    """A stored PaymentMethod, or a new one for a test payment method or token id."""
    known = ctx.memo.get(_memo_key(reference))
    if known is not None:
        return known  # type: ignore[no-any-return]
    card = cards.card_from_test_token(
        reference, today=_today(ctx), fingerprint_key=ctx.payments.card_fingerprint_key
    )
    if card is None:
        payment_method = await load_live_object(ctx, RESOURCE, reference, param=param)
    else:
        payment_method = card_payment_method(ctx, card)
        await ctx.tx.insert_object(PAYMENT_METHODS, ctx.account_id, payment_method)
    # Later steps of the same request (confirming, attaching) use this very object.
    ctx.memo[_memo_key(payment_method["id"])] = payment_method
    return payment_method


def _memo_key(payment_method_id: str) -> str:
    return f"payment_method:{payment_method_id}"


def behavior_of(ctx: Context, payment_method: ApiObject) -> cards.TestBehavior:
    """How Kassa's simulated card network treats this card (known by its fingerprint)."""
    card = payment_method["card"]
    return cards.behavior_for_fingerprint(
        card["fingerprint"],
        ctx.payments.card_fingerprint_key,
        cvc_given=card["checks"]["cvc_check"] is not None,
    )


async def create_payment_method(ctx: Context, _id: str | None, form: dict[str, Any]) -> ApiObject:
    params = parse_params(CREATE_PARAMS, form)
    if "payment_method" in params or "customer" in params:
        # Cloning a customer's PaymentMethod is a Connect feature Kassa does not have.
        name = "payment_method" if "payment_method" in params else "customer"
        raise InvalidParameter(
            "Kassa does not clone PaymentMethods between accounts; create the PaymentMethod "
            "and attach it to the customer instead.",
            param=name,
        )
    if "type" not in params:
        raise MissingParameter("type")
    return await create_from_params(ctx, params, "")


async def retrieve_payment_method(
    ctx: Context, payment_method_id: str | None, form: dict[str, Any]
) -> ApiObject:
    parse_params({}, form)
    return await resolve(ctx, required_id(payment_method_id), param="id")


async def update_payment_method(
    ctx: Context, payment_method_id: str | None, form: dict[str, Any]
) -> ApiObject:
    params = parse_params(UPDATE_PARAMS, form)
    payment_method = await load_live_object(ctx, RESOURCE, required_id(payment_method_id))
    before = copy.deepcopy(payment_method)
    if "billing_details" in params:
        payment_method["billing_details"] = _billing_details(
            params["billing_details"], payment_method["billing_details"]
        )
    if "metadata" in params:
        payment_method["metadata"] = apply_metadata(payment_method["metadata"], params["metadata"])
    if "allow_redisplay" in params:
        payment_method["allow_redisplay"] = params["allow_redisplay"]
    card = params.get("card", {})
    for name in ("exp_month", "exp_year"):
        if name in card:
            payment_method["card"][name] = card[name]
    await ctx.tx.update_object(PAYMENT_METHODS, ctx.account_id, payment_method)
    if payment_method != before:
        await events.announce(ctx, "payment_method.updated", payment_method, previous=before)
    return payment_method


async def attach(ctx: Context, payment_method: ApiObject, customer_id: str, param: str) -> None:
    """Attach to a customer, as Stripe does: the card is verified first."""
    customer, deleted = await load_object(ctx, CUSTOMER, customer_id, param=param)
    if deleted:
        raise InvalidRequest(f"No such customer: '{customer_id}'", param=param)
    if payment_method["customer"] not in (None, customer["id"]):
        raise InvalidRequest(
            "The payment method you provided has already been attached to a customer.",
            param="payment_method",
            code="payment_method_unexpected_state",
        )
    decline = behavior_of(ctx, payment_method).decline
    if decline is not None and behavior_of(ctx, payment_method).declines_on_attach:
        raise CardError(decline.message, code=decline.code, decline_code=decline.decline_code)
    payment_method["customer"] = customer["id"]
    await ctx.tx.update_object(PAYMENT_METHODS, ctx.account_id, payment_method)
    await events.announce(ctx, "payment_method.attached", payment_method)


async def attach_payment_method(
    ctx: Context, payment_method_id: str | None, form: dict[str, Any]
) -> ApiObject:
    params = parse_params({"customer": String(max_chars=255)}, form, required=("customer",))
    payment_method = await resolve(ctx, required_id(payment_method_id), param="id")
    await attach(ctx, payment_method, params["customer"], "customer")
    return payment_method


async def detach_payment_method(
    ctx: Context, payment_method_id: str | None, form: dict[str, Any]
) -> ApiObject:
    parse_params({}, form)
    payment_method = await load_live_object(ctx, RESOURCE, required_id(payment_method_id))
    if payment_method["customer"] is None:
        raise InvalidRequest(
            "The payment method you provided is not attached to a customer so detachment is "
            "impossible.",
            code="payment_method_unexpected_state",
        )
    before = copy.deepcopy(payment_method)
    payment_method["customer"] = None
    await ctx.tx.update_object(PAYMENT_METHODS, ctx.account_id, payment_method)
    await events.announce(ctx, "payment_method.detached", payment_method, previous=before)
    return payment_method


RESOURCE = Resource(
    object_name="payment_method",
    id_prefix="pm",
    collection="payment_methods",
    table=PAYMENT_METHODS,
    create=Operation(create_payment_method, writes=True, publishable_key_allowed=True),
    retrieve=Operation(retrieve_payment_method, writes=True),
    update=Operation(update_payment_method, writes=True),
    list_filters=LIST_FILTERS,
    actions={
        "attach": Operation(attach_payment_method, writes=True),
        "detach": Operation(detach_payment_method, writes=True),
    },
    expandable=frozenset({"customer"}),
)
