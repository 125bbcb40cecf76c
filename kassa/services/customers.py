"""Customers: create, retrieve, update, delete, list (API version 2026-10-28.endive)."""

from __future__ import annotations

import copy
import re
import secrets
from typing import Any

from kassa.errors import ResourceMissing
from kassa.ids import new_id
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
from kassa.services import events
from kassa.services.addresses import ADDRESS, SHIPPING, merge_address, shipping_object
from kassa.services.context import Context
from kassa.services.listing import load_live_object, load_object, required_id
from kassa.services.resource import ApiObject, Includer, Operation, Resource
from kassa.store.tables import CUSTOMERS

INVOICE_PREFIX_CHARS = 8
MAX_PREFERRED_LOCALES = 30
MAX_CUSTOM_FIELDS = 4

INVOICE_SETTINGS = Struct(
    {
        "custom_fields": ListOf(
            Struct(
                {"name": String(max_chars=40), "value": String(max_chars=140)},
                required=("name", "value"),
            ),
            max_items=MAX_CUSTOM_FIELDS,
            nullable=True,
        ),
        "default_payment_method": String(max_chars=255, nullable=True),
        "footer": String(max_chars=5000, nullable=True),
        "rendering_options": Struct(
            {
                "amount_tax_display": Enum(
                    values=("exclude_tax", "include_inclusive_tax"), nullable=True
                ),
                "template": String(max_chars=255),
            },
            nullable=True,
        ),
    }
)

_COMMON: dict[str, Param] = {
    "address": ADDRESS,
    "balance": Integer(minimum=-99_999_999_999, maximum=99_999_999_999),
    "business_name": String(max_chars=150, nullable=True),
    "cash_balance": Struct(
        {
            "settings": Struct(
                {"reconciliation_mode": Enum(values=("automatic", "manual", "merchant_default"))}
            )
        }
    ),
    "description": String(max_chars=5000, nullable=True),
    "email": Email(nullable=True),
    "individual_name": String(max_chars=150, nullable=True),
    "invoice_prefix": String(
        max_chars=12,
        pattern=re.compile(r"[A-Z0-9]{3,12}"),
        pattern_hint="; must be 3-12 uppercase letters or numbers",
    ),
    "invoice_settings": INVOICE_SETTINGS,
    "metadata": Metadata(),
    "name": String(max_chars=256, nullable=True),
    "next_invoice_sequence": Integer(minimum=1, maximum=1_000_000_000),
    "phone": String(max_chars=20, nullable=True),
    "preferred_locales": ListOf(
        String(max_chars=10), max_items=MAX_PREFERRED_LOCALES, nullable=True
    ),
    "shipping": SHIPPING,
    "source": String(max_chars=255),
    "tax": Struct(
        {
            "ip_address": String(max_chars=45, nullable=True),
            "validate_location": Enum(values=("auto", "deferred", "immediately")),
        }
    ),
    "tax_exempt": Enum(values=("exempt", "none", "reverse"), nullable=True),
    "validate": Boolean(),
}
CREATE_PARAMS: dict[str, Param] = {
    **_COMMON,
    "payment_method": String(max_chars=255),
    "test_clock": String(max_chars=255),
}
UPDATE_PARAMS: dict[str, Param] = {**_COMMON, "default_source": String(max_chars=255)}
LIST_FILTERS: dict[str, Param] = {"email": String(max_chars=512)}

# Fields Kassa copies from parameters unchanged (an UNSET clears them to null).
_PLAIN_FIELDS = (
    "balance",
    "business_name",
    "description",
    "email",
    "individual_name",
    "invoice_prefix",
    "name",
    "next_invoice_sequence",
    "phone",
)


def _blank_customer(ctx: Context) -> ApiObject:
    return {
        "id": new_id("cus"),
        "object": "customer",
        "address": None,
        "balance": 0,
        "business_name": None,
        "created": ctx.now(),
        "currency": None,
        "customer_account": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": None,
        "individual_name": None,
        "invoice_prefix": secrets.token_hex(INVOICE_PREFIX_CHARS // 2).upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": ctx.livemode,
        "metadata": {},
        "name": None,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def _apply(customer: ApiObject, params: dict[str, Any]) -> None:
    """Write validated parameters into the customer object."""
    for name in _PLAIN_FIELDS:
        if name in params:
            customer[name] = None if params[name] is UNSET else params[name]
    if "address" in params:
        customer["address"] = merge_address(customer["address"], params["address"])
    if "shipping" in params:
        customer["shipping"] = shipping_object(params["shipping"])
    if "metadata" in params:
        customer["metadata"] = apply_metadata(customer["metadata"], params["metadata"])
    if "preferred_locales" in params:
        locales = params["preferred_locales"]
        customer["preferred_locales"] = [] if locales is UNSET else locales
    if "tax_exempt" in params:
        exempt = params["tax_exempt"]
        customer["tax_exempt"] = "none" if exempt is UNSET else exempt
    if "invoice_settings" in params:
        _apply_invoice_settings(customer["invoice_settings"], params["invoice_settings"])


def _apply_invoice_settings(settings: dict[str, Any], update: dict[str, Any]) -> None:
    for key in ("custom_fields", "footer"):
        if key in update:
            settings[key] = None if update[key] is UNSET else update[key]
    if "default_payment_method" in update:
        if update["default_payment_method"] is not UNSET:
            # No payment method can exist until the payments module lands.
            raise ResourceMissing(
                "PaymentMethod",
                update["default_payment_method"],
                param="invoice_settings[default_payment_method]",
            )
        settings["default_payment_method"] = None
    if "rendering_options" in update:
        options = update["rendering_options"]
        settings["rendering_options"] = (
            None
            if options is UNSET
            else {
                "amount_tax_display": None
                if options.get("amount_tax_display") is UNSET
                else options.get("amount_tax_display"),
                "template": options.get("template"),
            }
        )


def _reject_references(params: dict[str, Any]) -> None:
    """Parameters naming objects Kassa cannot hold yet: they can only be missing."""
    references = {
        "payment_method": "PaymentMethod",
        "source": "source",
        "test_clock": "test_clock",
        "default_source": "source",
    }
    for param, object_name in references.items():
        value = params.get(param)
        if value not in (None, UNSET, ""):
            raise ResourceMissing(object_name, value, param=param)


async def create_customer(ctx: Context, _id: str | None, form: dict[str, Any]) -> ApiObject:
    params = parse_params(CREATE_PARAMS, form)
    _reject_references(params)
    customer = _blank_customer(ctx)
    _apply(customer, params)
    await ctx.tx.insert_object(CUSTOMERS, ctx.account_id, customer)
    await events.announce(ctx, "customer.created", customer)
    return customer


async def retrieve_customer(
    ctx: Context, customer_id: str | None, form: dict[str, Any]
) -> ApiObject:
    parse_params({}, form)
    customer, deleted = await load_object(ctx, RESOURCE, required_id(customer_id))
    return _deleted_stub(customer) if deleted else customer


async def update_customer(ctx: Context, customer_id: str | None, form: dict[str, Any]) -> ApiObject:
    params = parse_params(UPDATE_PARAMS, form)
    customer = await load_live_object(ctx, RESOURCE, required_id(customer_id))
    _reject_references(params)
    before = copy.deepcopy(customer)
    _apply(customer, params)
    await ctx.tx.update_object(CUSTOMERS, ctx.account_id, customer)
    if customer != before:
        await events.announce(ctx, "customer.updated", customer, previous=before)
    return customer


async def delete_customer(ctx: Context, customer_id: str | None, form: dict[str, Any]) -> ApiObject:
    parse_params({}, form)
    customer = await load_live_object(ctx, RESOURCE, required_id(customer_id))
    await ctx.tx.mark_object_deleted(CUSTOMERS, ctx.account_id, customer["id"])
    await events.announce(ctx, "customer.deleted", customer)
    return _deleted_stub(customer)


def _deleted_stub(customer: ApiObject) -> ApiObject:
    return {"id": customer["id"], "object": "customer", "deleted": True}


def _empty_sublist(name: str) -> Includer:
    """A nested list (`sources`, `subscriptions`, ...) whose resources Kassa does not hold yet:
    always empty, in Stripe's list envelope."""

    async def include(ctx: Context, customer: ApiObject) -> Any:
        return {
            "object": "list",
            "data": [],
            "has_more": False,
            "total_count": 0,
            "url": f"/v1/customers/{customer['id']}/{name}",
        }

    return include


def _constant(value: Any) -> Includer:
    """An includable field whose value cannot differ until the resource behind it lands."""

    async def include(ctx: Context, customer: ApiObject) -> Any:
        return copy.deepcopy(value)

    return include


_NO_AUTOMATIC_TAX = {
    "automatic_tax": "unrecognized_location",
    "ip_address": None,
    "location": None,
    "provider": "stripe",
}


RESOURCE = Resource(
    object_name="customer",
    id_prefix="cus",
    collection="customers",
    table=CUSTOMERS,
    create=Operation(create_customer, writes=True),
    retrieve=Operation(retrieve_customer, writes=False),
    update=Operation(update_customer, writes=True),
    delete=Operation(delete_customer, writes=True),
    list_filters=LIST_FILTERS,
    expandable=frozenset(
        {"default_source", "invoice_settings.default_payment_method", "test_clock"}
    ),
    includable={
        "sources": _empty_sublist("sources"),
        "subscriptions": _empty_sublist("subscriptions"),
        "tax_ids": _empty_sublist("tax_ids"),
        "tax": _constant(_NO_AUTOMATIC_TAX),
        "cash_balance": _constant(None),
        # currency -> amount; no invoice credit exists until invoicing lands
        "invoice_credit_balance": _constant({}),
    },
)
