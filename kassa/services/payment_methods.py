"""PaymentMethods of type `card`: create, retrieve, update, list, attach, detach.

Stripe's test payment methods (`pm_card_visa`, ...) and tokens (`tok_visa`, ...) stand for
test cards: each use makes a new PaymentMethod, as Stripe does. A token made with
`POST /v1/tokens` gives its card once (`card[token]`). A raw `card[number]` is validated and
reduced to brand, last4, expiry, funding, country and a keyed fingerprint; the number itself
goes no further than `kassa.cards`. A PaymentMethod detached, or used with a PaymentIntent
while no customer keeps it, is retired: Stripe uses it no more.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from kassa import cards
from kassa.errors import (
    CardError,
    InvalidParameter,
    InvalidRequest,
    MissingParameter,
    ResourceMissing,
)
from kassa.ids import new_id
from kassa.params import (
    UNSET,
    Email,
    Enum,
    Integer,
    Metadata,
    MetadataUpdate,
    NotSupported,
    Param,
    String,
    Struct,
    apply_metadata,
)
from kassa.services import card_objects, customer_sources, events, tokens
from kassa.services.addresses import ADDRESS, blank_address, merge_address
from kassa.services.context import Context
from kassa.services.customer_lookup import load_customer_named
from kassa.services.listing import load_live_object
from kassa.services.resource import ApiObject, Operation, Resource, no_params, request_parser
from kassa.store.tables import CUSTOMERS, PAYMENT_METHODS

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
OTHER_TYPES: Final = (
    "acss_debit",
    "affirm",
    "afterpay_clearpay",
    "alipay",
    "alma",
    "amazon_pay",
    "au_becs_debit",
    "bacs_debit",
    "bancontact",
    "billie",
    "bizum",
    "blik",
    "boleto",
    "cashapp",
    "crypto",
    "custom",
    "customer_balance",
    "eps",
    "fpx",
    "giropay",
    "grabpay",
    "ideal",
    "interac_present",
    "kakao_pay",
    "klarna",
    "konbini",
    "kr_card",
    "link",
    "mb_way",
    "mobilepay",
    "multibanco",
    "naver_pay",
    "nz_bank_account",
    "oxxo",
    "p24",
    "pay_by_bank",
    "payco",
    "paynow",
    "paypal",
    "paypay",
    "payto",
    "pix",
    "promptpay",
    "revolut_pay",
    "samsung_pay",
    "satispay",
    "scalapay",
    "sepa_debit",
    "sequra",
    "sofort",
    "sunbit",
    "swish",
    "twint",
    "upi",
    "us_bank_account",
    "wechat_pay",
    "zip",
)
"""The payment method types Stripe's `POST /v1/payment_methods` takes details of (stripe
16.1.0) besides `card`: each is a parameter of its own, refused (Kassa's are cards)."""
CARDS_ONLY: Final = "Kassa's payment methods are cards."
CUSTOMER_ACCOUNT: Final = NotSupported(
    reason="Kassa's payment methods and payments belong to customers, not accounts."
)
RADAR_OPTIONS: Final = NotSupported(reason="Kassa has no Radar sessions.")
CREATE_PARAMS: dict[str, Param] = {
    "type": Enum(values=("card",)),
    "card": CARD,
    "billing_details": BILLING_DETAILS,
    "metadata": Metadata(),
    "allow_redisplay": ALLOW_REDISPLAY,
    "customer": String(max_chars=255),
    "payment_method": String(max_chars=255),
    "radar_options": RADAR_OPTIONS,
    **{name: NotSupported(reason=CARDS_ONLY) for name in OTHER_TYPES},
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
    "us_bank_account": NotSupported(reason=CARDS_ONLY),
}
ATTACH_PARAMS: dict[str, Param] = {
    "customer": String(max_chars=255),
    "customer_account": CUSTOMER_ACCOUNT,
}
LIST_FILTERS: dict[str, Param] = {
    "customer": String(max_chars=255),
    "type": Enum(values=("card",)),
    "customer_account": CUSTOMER_ACCOUNT,
    "allow_redisplay": NotSupported(
        reason="Kassa filters by it a customer's payment methods only: use "
        "GET /v1/customers/{customer}/payment_methods."
    ),
}

SAVED_CARD_PREFIX = "card_"
"""Ids of cards saved on customers as sources (`kassa.services.customer_sources`)."""
RETIRED_MESSAGE = (
    "The provided PaymentMethod was previously used with a PaymentIntent without Customer "
    "attachment, shared with a connected account without Customer attachment, or was detached "
    "from a Customer. It may not be used again. To use a PaymentMethod multiple times, you "
    "must attach it to a Customer first."
)
"""Stripe's refusal of a PaymentMethod retired (`retire_unless_kept`, detach)."""

CardDetails = Mapping[str, Any]
"""Validated `CARD` parameters: a test `token`, or `number`, `exp_month`, `exp_year`, `cvc`."""
CardUpdate = Mapping[str, Any]
"""Validated `UPDATE_PARAMS["card"]`: a new `exp_month` and `exp_year` (`networks` is accepted,
not used)."""
BillingDetailsUpdate = Mapping[str, Any]
"""Validated `BILLING_DETAILS` parameters, each UNSET to clear it."""
PaymentMethodData = Mapping[str, Any]
"""Validated `CREATE_PARAMS` without `customer`: a PaymentIntent's `payment_method_data`."""


@dataclass(frozen=True)
class CreatePaymentMethod:
    """A new card PaymentMethod, from a test token or a raw card number."""

    type: str | None = None
    card: CardDetails | None = None
    billing_details: BillingDetailsUpdate | None = None
    metadata: MetadataUpdate | None = None
    allow_redisplay: str | None = None
    # Refused: cloning a customer's PaymentMethod is a Connect feature Kassa does not have.
    customer: str | None = None
    payment_method: str | None = None


@dataclass(frozen=True)
class UpdatePaymentMethod:
    payment_method: str
    billing_details: BillingDetailsUpdate | None = None
    card: CardUpdate | None = None
    metadata: MetadataUpdate | None = None
    allow_redisplay: str | None = None


@dataclass(frozen=True)
class AttachPaymentMethod:
    """`payment_method` (stored, or a test payment method id) attached to `customer`."""

    payment_method: str
    customer: str


async def _card_from_params(
    ctx: Context, card: CardDetails, prefix: str, address: Mapping[str, Any] | None
) -> tuple[dict[str, Any], Mapping[str, Any] | None]:
    """The `card` hash of the PaymentMethod a `card[...]` hash describes (the billing
    `address` given with it checked), and the billing details a token's card brings (None
    without them): from a token, or a raw number (validated)."""
    if "token" in card:
        return await _token_card(ctx, card["token"], f"{prefix}[token]", address)
    validated = card_objects.validated_card(ctx, card, prefix)
    return card_objects.payment_method_card(validated, address), None


async def _token_card(
    ctx: Context, token_id: str, param: str, address: Mapping[str, Any] | None
) -> tuple[dict[str, Any], Mapping[str, Any] | None]:
    """A Stripe test token's card (a new one each time), or the card of a token made with
    `POST /v1/tokens`, which is used up (Stripe's `token_already_used` after)."""
    key = ctx.payments.card_fingerprint_key
    test_card = cards.card_from_test_token(token_id, today=ctx.today(), fingerprint_key=key)
    if test_card is not None:
        return card_objects.payment_method_card(test_card, address), None
    try:
        card_object = await tokens.use_token(ctx, token_id, param=param)
    except ResourceMissing:
        raise InvalidRequest(f"No such token: '{token_id}'", param=param) from None
    view = card_objects.as_payment_method(card_object)
    return view["card"], view["billing_details"]


def _billing_details(
    update: BillingDetailsUpdate | None, current: Mapping[str, Any] | None = None
) -> dict[str, Any]:
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


def _given_address(billing_details: BillingDetailsUpdate | None) -> Mapping[str, Any] | None:
    """The billing address a create names, for its checks (fields sent empty are UNSET)."""
    address = (billing_details or {}).get("address")
    return address if isinstance(address, Mapping) else None


def card_payment_method(ctx: Context, card: cards.Card) -> ApiObject:
    """A new PaymentMethod object for `card` with the defaults a test payment method id
    (`pm_card_visa`) or test token stands for: no billing details, so no address checked."""
    return _new_payment_method(ctx, card_objects.payment_method_card(card), None)


def _new_payment_method(
    ctx: Context,
    card: dict[str, Any],
    request: CreatePaymentMethod | None,
    billing_details: Mapping[str, Any] | None = None,
) -> ApiObject:
    """A new PaymentMethod with the `card` hash given; `request`'s billing details go over
    those a token's card brought."""
    request = request or CreatePaymentMethod()
    return {
        "id": new_id("pm"),
        "object": "payment_method",
        "allow_redisplay": request.allow_redisplay
        if request.allow_redisplay is not None
        else "unspecified",
        "billing_details": _billing_details(request.billing_details, billing_details),
        "card": card,
        "created": ctx.now(),
        "customer": None,
        "customer_account": None,
        "livemode": ctx.livemode,
        "metadata": apply_metadata({}, request.metadata if request.metadata is not None else {}),
        "type": "card",
    }


@dataclass(frozen=True, repr=False)
class TypedCard:
    """A card as a customer typed it on one of Kassa's pages (the hosted invoice page,
    Checkout). The number and CVC go to `create_typed_card` and nowhere else: never logged,
    shown again, or part of this object's repr."""

    number: str
    exp_month: str
    exp_year: str
    cvc: str
    name: str

    def __repr__(self) -> str:
        return f"TypedCard(last4={self.number[-4:]!r})"


async def create_typed_card(ctx: Context, card: TypedCard) -> ApiObject:
    """A card PaymentMethod from a page's form, validated as `POST /v1/payment_methods` does
    (a bad number or expiry is a `CardError` the page shows). Not attached to anyone."""
    request = CreatePaymentMethod(
        type="card",
        card={
            "number": card.number,
            "exp_month": card.exp_month,
            "exp_year": card.exp_year,
            "cvc": card.cvc,
        },
        billing_details={"name": card.name} if card.name else None,
    )
    return await create_card(ctx, request, "")


async def create_card(ctx: Context, request: CreatePaymentMethod, prefix: str) -> ApiObject:
    """A new card PaymentMethod; `prefix` names the parameter holding the request
    (`payment_method_data`), empty for `POST /v1/payment_methods`."""
    if request.type != "card":
        raise MissingParameter(f"{prefix}[type]" if prefix else "type")
    if request.card is None:
        raise MissingParameter(f"{prefix}[card]" if prefix else "card")
    card_param = f"{prefix}[card]" if prefix else "card"
    address = _given_address(request.billing_details)
    card, billing_details = await _card_from_params(ctx, request.card, card_param, address)
    payment_method = _new_payment_method(ctx, card, request, billing_details)
    await _insert_new(ctx, payment_method)
    return payment_method


async def create_from_params(ctx: Context, data: PaymentMethodData, prefix: str) -> ApiObject:
    """A new card PaymentMethod from a PaymentIntent's `payment_method_data`."""
    return await create_card(ctx, CreatePaymentMethod(**data), prefix)


async def resolve(ctx: Context, reference: str, *, param: str) -> ApiObject:
    """A stored PaymentMethod, or a new one for a test payment method or token id."""
    known = ctx.memo.get(_memo_key(reference))
    if known is not None:
        return known  # type: ignore[no-any-return]
    card = cards.card_from_test_token(
        reference, today=ctx.today(), fingerprint_key=ctx.payments.card_fingerprint_key
    )
    if card is None and reference.startswith(SAVED_CARD_PREFIX):
        # A customer's saved card (a source) serves as a card PaymentMethod, as on Stripe.
        payment_method = await customer_sources.as_payment_method(ctx, reference, param=param)
    elif card is None:
        payment_method = await load_live_object(ctx, RESOURCE, reference, param=param)
    else:
        payment_method = card_payment_method(ctx, card)
        await _insert_new(ctx, payment_method)
    # Later steps of the same request (confirming, attaching) use this very object.
    ctx.memo[_memo_key(payment_method["id"])] = payment_method
    return payment_method


async def _insert_new(ctx: Context, payment_method: ApiObject) -> None:
    await ctx.tx.insert_object(PAYMENT_METHODS, ctx.account_id, payment_method)
    _known_reusable(ctx).add(payment_method["id"])


def _memo_key(payment_method_id: str) -> str:
    return f"payment_method:{payment_method_id}"


async def check_reusable(ctx: Context, payment_method: ApiObject, *, param: str) -> None:
    """Refuse a PaymentMethod Stripe would not use again: detached from a customer, or used
    with a PaymentIntent while attached to none. One attached to a customer is neither (a
    retired one cannot be attached), nor is one made in this unit of work (a test id such as
    `pm_card_visa` makes a new one each time): those cost no read."""
    if payment_method["customer"] is not None:
        return
    reusable = _known_reusable(ctx)
    if payment_method["id"] in reusable:
        return
    reason = await ctx.tx.payment_method_retirement(ctx.account_id, payment_method["id"])
    if reason is not None:
        raise InvalidRequest(RETIRED_MESSAGE, param=param)
    reusable.add(payment_method["id"])


async def retire_unless_kept(ctx: Context, payment_method: ApiObject) -> None:
    """After a PaymentIntent's attempt to charge it (paid or declined): a card no customer
    keeps was good for that one payment, as on Stripe."""
    if payment_method["customer"] is None:
        await _retire(ctx, payment_method, "used_without_customer")


async def _retire(ctx: Context, payment_method: ApiObject, reason: str) -> None:
    _known_reusable(ctx).discard(payment_method["id"])
    await ctx.tx.retire_payment_method(ctx.account_id, payment_method["id"], reason)


def _known_reusable(ctx: Context) -> set[str]:
    """Ids of the PaymentMethods this unit of work made or found not retired."""
    known: set[str] = ctx.memo.setdefault("payment_methods.reusable", set())
    return known


def behavior_of(ctx: Context, payment_method: ApiObject) -> cards.TestBehavior:
    """How Kassa's simulated card network treats this card (known by its fingerprint)."""
    return card_objects.behavior_of_payment_method_card(ctx, payment_method["card"])


async def create_payment_method(ctx: Context, request: CreatePaymentMethod) -> ApiObject:
    if request.payment_method is not None or request.customer is not None:
        name = "payment_method" if request.payment_method is not None else "customer"
        raise InvalidParameter(
            "Kassa does not clone PaymentMethods between accounts; create the PaymentMethod "
            "and attach it to the customer instead.",
            param=name,
        )
    if request.type is None:
        raise MissingParameter("type")
    return await create_card(ctx, request, "")


async def retrieve_payment_method(ctx: Context, payment_method_id: str) -> ApiObject:
    return await resolve(ctx, payment_method_id, param="id")


async def update_payment_method(ctx: Context, request: UpdatePaymentMethod) -> ApiObject:
    payment_method = await load_live_object(ctx, RESOURCE, request.payment_method)
    before = copy.deepcopy(payment_method)
    if request.billing_details is not None:
        payment_method["billing_details"] = _billing_details(
            request.billing_details, payment_method["billing_details"]
        )
    if request.metadata is not None:
        payment_method["metadata"] = apply_metadata(payment_method["metadata"], request.metadata)
    if request.allow_redisplay is not None:
        payment_method["allow_redisplay"] = request.allow_redisplay
    card = request.card if request.card is not None else {}
    for name in ("exp_month", "exp_year"):
        if name in card:
            payment_method["card"][name] = card[name]
    await ctx.tx.update_object(PAYMENT_METHODS, ctx.account_id, payment_method)
    if payment_method != before:
        ctx = await ctx.governed_by(payment_method)  # its customer's test clock, if any
        await events.announce(ctx, "payment_method.updated", payment_method, previous=before)
    return payment_method


async def attach(ctx: Context, payment_method: ApiObject, customer_id: str, param: str) -> None:
    """Attach to the customer `customer_id` names (in the parameter `param`)."""
    customer = await load_customer_named(ctx, customer_id, param=param)
    await attach_to_customer(ctx, payment_method, customer["id"])


async def attach_to_customer(ctx: Context, payment_method: ApiObject, customer_id: str) -> None:
    """Attach to a customer known to exist, as Stripe does: the card is verified first."""
    await check_reusable(ctx, payment_method, param="payment_method")
    if payment_method["customer"] not in (None, customer_id):
        raise InvalidRequest(
            "The payment method you provided has already been attached to a customer.",
            param="payment_method",
            code="payment_method_unexpected_state",
        )
    behavior = behavior_of(ctx, payment_method)
    if behavior.decline is not None and behavior.declines_on_attach:
        raise cards.decline_error(behavior.decline, CardError)
    ctx = await ctx.governed_by({"customer": customer_id})
    payment_method["customer"] = customer_id
    await ctx.tx.update_object(PAYMENT_METHODS, ctx.account_id, payment_method)
    await events.announce(ctx, "payment_method.attached", payment_method)


async def attach_payment_method(ctx: Context, request: AttachPaymentMethod) -> ApiObject:
    payment_method = await resolve(ctx, request.payment_method, param="id")
    await attach(ctx, payment_method, request.customer, "customer")
    return payment_method


async def detach_payment_method(ctx: Context, payment_method_id: str) -> ApiObject:
    payment_method = await load_live_object(ctx, RESOURCE, payment_method_id)
    if payment_method["customer"] is None:
        raise InvalidRequest(
            "The payment method you provided is not attached to a customer so detachment is "
            "impossible.",
            code="payment_method_unexpected_state",
        )
    before = copy.deepcopy(payment_method)
    ctx = await ctx.governed_by(before)  # the customer it leaves: its test clock, if any
    payment_method["customer"] = None
    await ctx.tx.update_object(PAYMENT_METHODS, ctx.account_id, payment_method)
    # Detachment is permanent: no payment, no attachment again (Stripe's API reference).
    await _retire(ctx, payment_method, "detached")
    await events.announce(ctx, "payment_method.detached", payment_method, previous=before)
    await _no_longer_default(ctx, before["customer"], payment_method["id"])
    return payment_method


async def _no_longer_default(ctx: Context, customer_id: str, payment_method_id: str) -> None:
    """The customer's `invoice_settings.default_payment_method` names a payment method
    attached to it (Stripe's reference): the one detached is cleared from it, announced as
    `customer.updated`. Locked after the payment method, as attaching locks them."""
    found = await ctx.tx.get_object(CUSTOMERS, ctx.account_id, customer_id)
    if found is None or found[1]:
        return
    customer = found[0]
    if customer["invoice_settings"]["default_payment_method"] != payment_method_id:
        return
    before = copy.deepcopy(customer)
    customer["invoice_settings"]["default_payment_method"] = None
    await ctx.tx.update_object(CUSTOMERS, ctx.account_id, customer)
    await events.announce(ctx, "customer.updated", customer, previous=before)


RESOURCE = Resource(
    object_name="payment_method",
    id_prefix="pm",
    collection="payment_methods",
    table=PAYMENT_METHODS,
    create=Operation(
        request_parser(CreatePaymentMethod, CREATE_PARAMS),
        create_payment_method,
        writes=True,
        publishable_key_allowed=True,
    ),
    # Writes: retrieving a test payment method id (`pm_card_visa`) stores a new card.
    retrieve=Operation(no_params, retrieve_payment_method, writes=True),
    update=Operation(
        request_parser(UpdatePaymentMethod, UPDATE_PARAMS, ids=("payment_method",)),
        update_payment_method,
        writes=True,
    ),
    list_filters=LIST_FILTERS,
    actions={
        "attach": Operation(
            request_parser(
                AttachPaymentMethod, ATTACH_PARAMS, ids=("payment_method",), required=("customer",)
            ),
            attach_payment_method,
            writes=True,
        ),
        "detach": Operation(no_params, detach_payment_method, writes=True),
    },
    expandable={"customer": "customer"},
    event_types=(
        "payment_method.attached",
        # Stripe's, when a card network updates a saved card: Kassa never sends it, but
        # endpoints may subscribe to it, as they can on Stripe.
        "payment_method.automatically_updated",
        "payment_method.detached",
        "payment_method.updated",
    ),
)
