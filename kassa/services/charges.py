"""Charges: retrieve, update, capture, list. Charges are made by confirming PaymentIntents
(`kassa.services.payment_intents`); capturing one here captures its intent."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kassa.errors import InvalidRequest
from kassa.params import (
    UNSET,
    Email,
    Enum,
    Integer,
    Metadata,
    MetadataUpdate,
    Param,
    String,
    Struct,
    Unset,
    apply_fields,
    apply_metadata,
)
from kassa.services import events, payment_intents
from kassa.services.addresses import SHIPPING, ShippingUpdate, shipping_object
from kassa.services.context import Context
from kassa.services.customer_lookup import load_customer_named
from kassa.services.listing import could_be_object_id, load_live_object, load_object
from kassa.services.resource import ApiObject, Operation, Resource, no_params, request_parser
from kassa.services.search import BOOLEAN, METADATA, NUMBER, STRING, TOKEN, search_operation
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import CHARGES, REFUNDS

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
    "metadata": Metadata(),
}
LIST_FILTERS: dict[str, Param] = {
    "customer": String(max_chars=255),
    "payment_intent": String(max_chars=255),
}
FraudDetails = Mapping[str, Any]
"""Validated `fraud_details`: `{"user_report": "fraudulent" | "safe" | UNSET}`."""
REFUNDS_INCLUDED_MAX = 100
"""`expand[]=refunds` shows this many of a charge's refunds, newest first (Stripe: 10 by
default, with `has_more`)."""


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
    metadata: MetadataUpdate | None = None
    statement_descriptor: str | None = None
    # Accepted as Stripe accepts them; the capture keeps the intent's.
    receipt_email: str | None = None
    statement_descriptor_suffix: str | None = None


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
    intent, _ = await load_object(ctx, payment_intents.RESOURCE, charge["payment_intent"])
    ctx = await ctx.governed_by(intent)
    await payment_intents.capture(
        ctx,
        intent,
        payment_intents.CapturePaymentIntent(
            intent=intent["id"],
            amount_to_capture=request.amount,
            metadata=request.metadata,
            statement_descriptor=request.statement_descriptor,
        ),
    )
    captured, _ = await load_object(ctx, RESOURCE, charge["id"])
    return captured


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
    page = await ctx.tx.list_objects(
        REFUNDS,
        ctx.account_id,
        ObjectListQuery(limit=REFUNDS_INCLUDED_MAX, equals={"charge": charge["id"]}),
    )
    return {
        "object": "list",
        "data": page.objects,
        "has_more": page.has_more,
        "total_count": len(page.objects),
        "url": f"/v1/refunds?charge={charge['id']}",
    }


RESOURCE = Resource(
    object_name="charge",
    id_prefix="ch",
    collection="charges",
    table=CHARGES,
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
