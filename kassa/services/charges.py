"""Charges: retrieve, update, capture, list. Charges are made by confirming PaymentIntents
(`kassa.services.payment_intents`); capturing one here captures its intent."""

from __future__ import annotations

import copy
from typing import Any

from kassa.errors import InvalidRequest
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
from kassa.services import events, payment_intents
from kassa.services.addresses import SHIPPING, shipping_object
from kassa.services.context import Context
from kassa.services.customers import RESOURCE as CUSTOMER
from kassa.services.listing import load_live_object, load_object, required_id
from kassa.services.resource import ApiObject, Operation, Resource
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
REFUNDS_INCLUDED_MAX = 100
"""`expand[]=refunds` shows this many of a charge's refunds, newest first (Stripe: 10 by
default, with `has_more`)."""


async def retrieve_charge(ctx: Context, charge_id: str | None, form: dict[str, Any]) -> ApiObject:
    parse_params({}, form)
    return await load_live_object(ctx, RESOURCE, required_id(charge_id))


async def update_charge(ctx: Context, charge_id: str | None, form: dict[str, Any]) -> ApiObject:
    params = parse_params(UPDATE_PARAMS, form)
    charge = await load_live_object(ctx, RESOURCE, required_id(charge_id))
    before = copy.deepcopy(charge)
    if "customer" in params:
        if charge["customer"] is not None:
            raise InvalidRequest(
                "This charge already has a customer; it cannot be changed.", param="customer"
            )
        customer, deleted = await load_object(ctx, CUSTOMER, params["customer"], param="customer")
        if deleted:
            raise InvalidRequest(f"No such customer: '{params['customer']}'", param="customer")
        charge["customer"] = customer["id"]
    for name in ("description", "receipt_email", "transfer_group"):
        if name in params:
            charge[name] = None if params[name] is UNSET else params[name]
    if "metadata" in params:
        charge["metadata"] = apply_metadata(charge["metadata"], params["metadata"])
    if "shipping" in params:
        charge["shipping"] = shipping_object(params["shipping"])
    if "fraud_details" in params:
        report = params["fraud_details"].get("user_report")
        charge["fraud_details"] = {} if report in (None, UNSET) else {"user_report": report}
    await ctx.tx.update_object(CHARGES, ctx.account_id, charge)
    if charge != before:
        await events.announce(ctx, "charge.updated", charge, previous=before)
    return charge


async def capture_charge(ctx: Context, charge_id: str | None, form: dict[str, Any]) -> ApiObject:
    params = parse_params(CAPTURE_PARAMS, form)
    charge = await load_live_object(ctx, RESOURCE, required_id(charge_id))
    if charge["captured"] or not charge["paid"] or charge["refunded"]:
        raise InvalidRequest(
            f"Charge {charge['id']} has already been captured."
            if charge["captured"]
            else f"Charge {charge['id']} cannot be captured (status {charge['status']}).",
            code="charge_already_captured" if charge["captured"] else None,
        )
    intent, _ = await load_object(ctx, payment_intents.RESOURCE, charge["payment_intent"])
    capture_params: dict[str, Any] = {
        k: v for k, v in params.items() if k in ("metadata", "statement_descriptor")
    }
    if "amount" in params:
        capture_params["amount_to_capture"] = params["amount"]
    await payment_intents.capture(ctx, intent, capture_params)
    captured, _ = await load_object(ctx, RESOURCE, charge["id"])
    return captured


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
    retrieve=Operation(retrieve_charge, writes=False),
    update=Operation(update_charge, writes=True),
    list_filters=LIST_FILTERS,
    actions={"capture": Operation(capture_charge, writes=True)},
    expandable=frozenset(
        {"balance_transaction", "customer", "payment_intent", "failure_balance_transaction"}
    ),
    includable={"refunds": _refunds_of},
)
