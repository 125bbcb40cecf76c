"""Charges: create, retrieve, update, capture, list.

Most charges are made by confirming PaymentIntents (`kassa.services.payment_intents`);
capturing one of those here captures its intent. The Charges API as Stripe still serves it
makes a charge directly from a `source` (a token, a saved card, or the customer's default
source), with `payment_intent: null`, through the same money path (`charge_processing`): the
same outcome, ledger postings, fees, disputes, early fraud warnings and refunds. A decline
answers 402 `card_error` naming the failed charge, which is kept."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from kassa import money
from kassa.cards import TestBehavior
from kassa.errors import (
    AmountTooLarge,
    InvalidParameter,
    InvalidRequest,
    MissingParameter,
    ResourceMissing,
)
from kassa.params import (
    CONNECT_ONLY,
    UNSET,
    Boolean,
    Email,
    Enum,
    Integer,
    Metadata,
    MetadataUpdate,
    NotSupported,
    Param,
    String,
    Struct,
    Unset,
    apply_fields,
    apply_metadata,
)
from kassa.services import (
    card_objects,
    charge_processing,
    currency_conversion,
    customer_sources,
    events,
    payment_intents,
)
from kassa.services.addresses import SHIPPING, ShippingUpdate, shipping_object
from kassa.services.context import Context
from kassa.services.customer_lookup import load_customer_named
from kassa.services.listing import (
    could_be_object_id,
    included_list,
    load_live_object,
    load_object,
)
from kassa.services.resource import ApiObject, Operation, Resource, no_params, request_parser
from kassa.services.search import BOOLEAN, METADATA, NUMBER, STRING, TOKEN, search_operation
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import CHARGES, REFUNDS

CONNECT_CHARGE_PARAMS: Final[dict[str, Param]] = {
    name: NotSupported(reason=CONNECT_ONLY)
    for name in ("application_fee", "application_fee_amount", "transfer_data")
}
"""Connect's parameters on creating and capturing a charge."""
CREATE_PARAMS: dict[str, Param] = {
    "amount": Integer(minimum=0, maximum=money.MAX_AMOUNT * 10),
    "currency": money.Currency(),
    "source": String(max_chars=255),
    "customer": String(max_chars=255),
    "capture": Boolean(),
    "description": String(max_chars=40_000),
    "metadata": Metadata(),
    "receipt_email": Email(),
    "shipping": SHIPPING,
    "statement_descriptor": String(max_chars=charge_processing.STATEMENT_DESCRIPTOR_CHARS),
    "statement_descriptor_suffix": String(max_chars=charge_processing.STATEMENT_DESCRIPTOR_CHARS),
    "transfer_group": String(max_chars=5000),
    "radar_options": Struct({"session": String(max_chars=5000)}),
    **CONNECT_CHARGE_PARAMS,
    "destination": NotSupported(reason=CONNECT_ONLY),
    "on_behalf_of": NotSupported(reason=CONNECT_ONLY),
}
UPDATE_PARAMS: dict[str, Param] = {
    "customer": String(max_chars=255),
    "description": String(max_chars=40_000, nullable=True),
    "fraud_details": Struct({"user_report": Enum(values=("fraudulent", "safe"), nullable=True)}),
    "metadata": Metadata(),
    "receipt_email": Email(nullable=True),
    "shipping": SHIPPING,
    "transfer_group": String(max_chars=5000),
}
CAPTURE_PARAMS: dict[str, Param] = {
    "amount": Integer(minimum=1, maximum=99_999_999),
    "receipt_email": Email(),
    "statement_descriptor": String(max_chars=22),
    "statement_descriptor_suffix": String(max_chars=22),
    "transfer_group": String(max_chars=5000),
    **CONNECT_CHARGE_PARAMS,
}
LIST_FILTERS: dict[str, Param] = {
    "customer": String(max_chars=255),
    "payment_intent": String(max_chars=255),
    "transfer_group": NotSupported(reason=CONNECT_ONLY),
}
FraudDetails = Mapping[str, Any]
"""Validated `fraud_details`: `{"user_report": "fraudulent" | "safe" | UNSET}`."""
REFUNDS_INCLUDED_MAX = 100
"""`expand[]=refunds` shows this many of a charge's refunds, newest first (Stripe: 10 by
default, with `has_more`)."""


@dataclass(frozen=True, kw_only=True)
class CreateCharge:
    """A charge of `source` (a token or a saved card), or of `customer`'s default source."""

    amount: int
    currency: str
    source: str | None = None
    customer: str | None = None
    capture: bool | None = None
    """False holds the charge for capture (`POST /v1/charges/{id}/capture`)."""
    description: str | None = None
    metadata: MetadataUpdate | None = None
    receipt_email: str | None = None
    shipping: ShippingUpdate | None = None
    statement_descriptor: str | None = None
    statement_descriptor_suffix: str | None = None
    transfer_group: str | None = None
    # Accepted as Stripe accepts it; Kassa's radar needs no session.
    radar_options: Mapping[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class UpdateCharge:
    charge: str
    customer: str | None = None
    """Only for a charge without one: a charge's customer is never changed."""
    description: str | Unset | None = None
    fraud_details: FraudDetails | None = None
    metadata: MetadataUpdate | None = None
    receipt_email: str | Unset | None = None
    shipping: ShippingUpdate | None = None
    transfer_group: str | None = None


@dataclass(frozen=True, kw_only=True)
class CaptureCharge:
    charge: str
    amount: int | None = None
    """Less than the authorized amount releases the rest; None captures all of it."""
    statement_descriptor: str | None = None
    """A card charge's suffix unless `statement_descriptor_suffix` is given
    (`charge_processing.card_suffix`)."""
    statement_descriptor_suffix: str | None = None
    transfer_group: str | None = None
    """Only for a charge without one (Stripe: "may only be provided if it has not been
    set")."""
    receipt_email: str | None = None


async def create_charge(ctx: Context, request: CreateCharge) -> ApiObject:
    """Charge the card: captured at once unless `capture=false`; a decline stores the failed
    charge and raises `CardDeclined` carrying it (its writes commit)."""
    money.check_charge_amount(request.amount, request.currency)
    await currency_conversion.check_settled_minimum(ctx, request.amount, request.currency)
    customer = (
        await load_customer_named(ctx, request.customer, param="customer")
        if request.customer
        else None
    )
    card = await _card_to_charge(ctx, request.source, customer)
    customer_id = customer["id"] if customer is not None else card["customer"]
    ctx = await ctx.governed_by({"customer": customer_id})
    behavior = _attempted(card_objects.behavior_of_card_object(ctx, card))
    charge = charge_processing.new_charge(
        ctx,
        _payment_terms(request, customer_id),
        card_objects.as_payment_method(card),
        behavior,
        authenticated=False,
    )
    # A card charge's own fields keep what was given; its statement keeps the account's
    # descriptor as the prefix, with `statement_descriptor` only as the suffix (`card_suffix`).
    charge["statement_descriptor"] = request.statement_descriptor
    charge["statement_descriptor_suffix"] = request.statement_descriptor_suffix
    charge["calculated_statement_descriptor"] = charge_processing.calculated_statement_descriptor(
        None,
        charge_processing.card_suffix(
            request.statement_descriptor, request.statement_descriptor_suffix
        ),
    )
    charge["source"] = customer_sources.public(card)
    await charge_processing.attempt(ctx, charge, behavior, capture=request.capture is not False)
    if behavior.decline is not None:
        # The failed charge is kept; the 402 `card_error` names it.
        raise charge_processing.declined(behavior.decline).carrying(charge=charge["id"])
    return charge


async def _card_to_charge(
    ctx: Context, source: str | None, customer: ApiObject | None
) -> ApiObject:
    """The card a charge is made on: a token's (used up), a saved card of `customer`, or
    `customer`'s default source."""
    if source is None:
        if customer is None:
            raise MissingParameter("source")
        if customer["default_source"] is None:
            raise InvalidRequest(
                "Cannot charge a customer that has no active card", param="card", code="missing"
            )
        return await customer_sources.card_of(ctx, customer["id"], customer["default_source"])
    if source.startswith("tok_"):
        if customer is not None:
            raise InvalidRequest(
                f"Customer {customer['id']} does not have a linked source with ID {source}.",
                param="source",
                code="missing",
            )
        return await customer_sources.new_card(ctx, source, param="source")
    if customer is None:
        # A saved card is charged with its customer (Stripe: "you must also pass the ID of
        # the associated customer"); alone, its id is taken for a token, and none is one.
        raise ResourceMissing("token", source, param="source")
    return await customer_sources.card_of(ctx, customer["id"], source, param="source")


def _payment_terms(request: CreateCharge, customer_id: str | None) -> ApiObject:
    """What `charge_processing.new_charge` reads of a PaymentIntent, for a charge made
    without one (`id` None: the charge's `payment_intent` is null). Its statement
    descriptors are not among them: a card charge reads them its own way
    (`create_charge`)."""
    return {
        "id": None,
        "amount": request.amount,
        "currency": request.currency,
        "customer": customer_id,
        "description": request.description,
        "metadata": apply_metadata({}, request.metadata or {}),
        "receipt_email": request.receipt_email,
        "shipping": shipping_object(request.shipping) if request.shipping is not None else None,
        "transfer_group": request.transfer_group,
    }


def _attempted(behavior: TestBehavior) -> TestBehavior:
    """The Charges API has no 3-D Secure step: a card that demands authentication declines
    with `authentication_required`, as on Stripe."""
    if behavior.requires_authentication and behavior.decline is None:
        return dataclasses.replace(behavior, decline=charge_processing.AUTHENTICATION_REQUIRED)
    return behavior


async def retrieve_charge(ctx: Context, charge_id: str) -> ApiObject:
    return await load_live_object(ctx, RESOURCE, charge_id)


async def update_charge(ctx: Context, request: UpdateCharge) -> ApiObject:
    charge = await load_live_object(ctx, RESOURCE, request.charge)
    before = copy.deepcopy(charge)
    if request.customer is not None:
        charge["customer"] = await _new_customer(ctx, charge, request.customer)
    apply_fields(charge, request, ("description", "receipt_email", "transfer_group"))
    if request.metadata is not None:
        charge["metadata"] = apply_metadata(charge["metadata"], request.metadata)
    if request.shipping is not None:
        charge["shipping"] = shipping_object(request.shipping)
    if request.fraud_details is not None:
        report = request.fraud_details.get("user_report")
        charge["fraud_details"] = {} if report in (None, UNSET) else {"user_report": report}
    await ctx.tx.update_object(CHARGES, ctx.account_id, charge)
    if charge != before:
        ctx = await ctx.governed_by(charge)  # its customer's test clock, if any
        await events.announce(ctx, "charge.updated", charge, previous=before)
    return charge


async def _new_customer(ctx: Context, charge: ApiObject, customer_id: str) -> str:
    if charge["customer"] is not None:
        raise InvalidRequest(
            "This charge already has a customer; it cannot be changed.", param="customer"
        )
    customer = await load_customer_named(ctx, customer_id, param="customer")
    return str(customer["id"])


async def capture_charge(ctx: Context, request: CaptureCharge) -> ApiObject:
    """Capture the charge's PaymentIntent (a charge is held for capture only through one)."""
    await _lock_intent_first(ctx, request.charge)
    charge = await load_live_object(ctx, RESOURCE, request.charge)
    if charge["captured"] or not charge["paid"] or charge["refunded"]:
        raise InvalidRequest(
            f"Charge {charge['id']} has already been captured."
            if charge["captured"]
            else f"Charge {charge['id']} cannot be captured (status {charge['status']}).",
            code="charge_already_captured" if charge["captured"] else None,
        )
    _check_transfer_group(charge, request.transfer_group)
    if charge["payment_intent"] is None:
        return await _capture_directly(ctx, charge, request)
    intent, _ = await load_object(ctx, payment_intents.RESOURCE, charge["payment_intent"])
    ctx = await ctx.governed_by(intent)
    if request.transfer_group is not None:
        # Stored first: the intent's capture loads the charge it captures and announces it.
        charge["transfer_group"] = request.transfer_group
        await ctx.tx.update_object(CHARGES, ctx.account_id, charge)
    await payment_intents.capture(
        ctx,
        intent,
        payment_intents.CapturePaymentIntent(
            intent=intent["id"],
            amount_to_capture=request.amount,
            statement_descriptor_suffix=charge_processing.card_suffix(
                request.statement_descriptor, request.statement_descriptor_suffix
            ),
        ),
    )
    captured, _ = await load_object(ctx, RESOURCE, charge["id"])
    return captured


async def _capture_directly(ctx: Context, charge: ApiObject, request: CaptureCharge) -> ApiObject:
    """Capture a charge made without a PaymentIntent. Less than the authorized amount
    releases the rest: since API version 2025-03-31 no refund is made for it, and
    `amount_refunded` stays as it was."""
    ctx = await ctx.governed_by(charge)
    amount = request.amount if request.amount is not None else int(charge["amount"])
    if amount > charge["amount"]:
        raise AmountTooLarge(
            f"The amount to capture ({amount}) must be less than or equal to the original "
            f"amount ({charge['amount']}).",
            param="amount",
        )
    money.check_charge_amount(amount, charge["currency"])
    behavior = card_objects.behavior_of_card_object(ctx, charge["source"])
    before = copy.deepcopy(charge)
    if request.receipt_email is not None:
        charge["receipt_email"] = request.receipt_email
    if request.transfer_group is not None:
        charge["transfer_group"] = request.transfer_group
    suffix = charge_processing.card_suffix(
        request.statement_descriptor, request.statement_descriptor_suffix
    )
    if suffix is not None:
        charge["statement_descriptor_suffix"] = suffix
        charge["calculated_statement_descriptor"] = (
            charge_processing.calculated_statement_descriptor(None, suffix)
        )
    await charge_processing.capture_held(ctx, charge, amount, behavior, previous=before)
    return charge


def _check_transfer_group(charge: ApiObject, transfer_group: str | None) -> None:
    """A capture sets a charge's transfer group only where it has none yet."""
    if transfer_group is not None and charge["transfer_group"] not in (None, transfer_group):
        raise InvalidParameter(
            "transfer_group may only be provided if it has not been set.",
            param="transfer_group",
        )


async def _lock_intent_first(ctx: Context, charge_id: str) -> None:
    """Lock the charge's PaymentIntent before the charge: every path takes an intent before
    its charge (a PaymentIntent capture does), and the other order deadlocks with it on
    PostgreSQL. Which intent a charge belongs to never changes, so it is read unlocked."""
    if not could_be_object_id(charge_id):
        return  # loading the charge answers that it is missing
    intent_id = await ctx.tx.unlocked_column(CHARGES, ctx.account_id, charge_id, "payment_intent")
    if intent_id is not None:
        await load_object(ctx, payment_intents.RESOURCE, intent_id)


async def _refunds_of(ctx: Context, charge: ApiObject) -> Any:
    return await included_list(
        ctx,
        REFUNDS,
        ObjectListQuery(limit=REFUNDS_INCLUDED_MAX, equals={"charge": charge["id"]}),
        url=f"/v1/charges/{charge['id']}/refunds",
        view=dict,
    )


RESOURCE = Resource(
    object_name="charge",
    id_prefix="ch",
    collection="charges",
    table=CHARGES,
    create=Operation(
        request_parser(CreateCharge, CREATE_PARAMS, required=("amount", "currency")),
        create_charge,
        writes=True,
    ),
    retrieve=Operation(no_params, retrieve_charge, writes=False),
    update=Operation(
        request_parser(UpdateCharge, UPDATE_PARAMS, ids=("charge",)), update_charge, writes=True
    ),
    list_filters=LIST_FILTERS,
    search=search_operation(
        CHARGES,
        "charges",
        {
            "amount": NUMBER,
            "billing_details.address.postal_code": STRING,
            "created": NUMBER,
            "currency": STRING,
            "customer": STRING,
            "disputed": BOOLEAN,
            "metadata": METADATA,
            "payment_method_details.card.brand": STRING,
            "payment_method_details.card.exp_month": NUMBER,
            "payment_method_details.card.exp_year": NUMBER,
            "payment_method_details.card.fingerprint": STRING,
            "payment_method_details.card.last4": STRING,
            "refunded": BOOLEAN,
            "status": TOKEN,
        },
    ),
    actions={
        "capture": Operation(
            request_parser(CaptureCharge, CAPTURE_PARAMS, ids=("charge",)),
            capture_charge,
            writes=True,
        )
    },
    expandable={
        "balance_transaction": "balance_transaction",
        "customer": "customer",
        "payment_intent": "payment_intent",
        "failure_balance_transaction": "balance_transaction",
    },
    includable={"refunds": _refunds_of},
    event_types=(
        "charge.captured",
        "charge.expired",
        "charge.failed",
        "charge.pending",
        "charge.refunded",
        "charge.succeeded",
        "charge.updated",
    ),
)
