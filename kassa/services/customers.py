"""Customers: create, retrieve, update, delete, list (API version 2026-10-28.endive).

A customer's payment method (`payment_method` on create, a test id such as `pm_card_visa` or
a stored one) is attached to it, and `invoice_settings[default_payment_method]` names one
attached to it."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kassa.errors import InvalidRequest, ResourceMissing
from kassa.ids import new_id
from kassa.params import (
    UNSET,
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
    apply_fields,
    apply_metadata,
)
from kassa.services import (
    customer_invoice_numbering,
    customer_payment_methods,
    customer_sources,
    events,
    hooks,
    payment_methods,
    tax_ids,
)
from kassa.services.addresses import (
    ADDRESS,
    SHIPPING,
    AddressUpdate,
    ShippingUpdate,
    merge_address,
    shipping_object,
)
from kassa.services.billing import customer_balance, subscription_documents
from kassa.services.context import Context
from kassa.services.listing import (
    PAGINATION_PARAMS,
    included_list,
    list_page_with,
    list_query,
    load_live_object,
    load_object,
)
from kassa.services.resource import (
    ApiObject,
    Includer,
    Operation,
    ParamsParser,
    Resource,
    RouteIds,
    list_envelope,
    no_params,
    request_parser,
)
from kassa.services.search import METADATA, NUMBER, STRING, search_operation
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import CUSTOMERS, SUBSCRIPTIONS, TEST_CLOCKS

MAX_PREFERRED_LOCALES = 30
MAX_CUSTOM_FIELDS = 4
SUBSCRIPTIONS_INCLUDED_MAX = 10
"""Subscriptions `expand[]=subscriptions` nests in a customer (Stripe nests the first page)."""

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
    "balance": customer_balance.BALANCE_AMOUNT,
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
    "tax_id_data": ListOf(tax_ids.TAX_ID_DATA, max_items=tax_ids.TAX_IDS_PER_CUSTOMER_MAX),
    "test_clock": String(max_chars=255),
}
UPDATE_PARAMS: dict[str, Param] = {**_COMMON, "default_source": String(max_chars=255)}
LIST_FILTERS: dict[str, Param] = {
    "email": String(max_chars=512),
    "test_clock": String(max_chars=255),
}
LIST_PARAMS: dict[str, Param] = {**PAGINATION_PARAMS, **LIST_FILTERS}

DEFAULT_PAYMENT_METHOD_PARAM = "invoice_settings[default_payment_method]"

InvoiceSettingsUpdate = Mapping[str, Any]
"""Validated `INVOICE_SETTINGS` parameters: `custom_fields`, `footer`, `rendering_options`
and `default_payment_method`, each UNSET to clear it."""
AcceptedStruct = Mapping[str, Any]
"""Validated parameters Kassa accepts as Stripe does but no Kassa flow uses yet
(`cash_balance`, `tax`)."""


@dataclass(frozen=True, kw_only=True)
class CustomerChanges:
    """The parameters create and update share: None when not sent, UNSET when sent empty to
    clear the field."""

    address: AddressUpdate | None = None
    balance: int | None = None
    business_name: str | Unset | None = None
    description: str | Unset | None = None
    email: str | Unset | None = None
    individual_name: str | Unset | None = None
    invoice_prefix: str | None = None
    invoice_settings: InvoiceSettingsUpdate | None = None
    metadata: MetadataUpdate | None = None
    name: str | Unset | None = None
    next_invoice_sequence: int | None = None
    phone: str | Unset | None = None
    preferred_locales: list[str] | Unset | None = None
    shipping: ShippingUpdate | None = None
    tax_exempt: str | Unset | None = None
    source: str | None = None
    """A card token (`tok_...`) to save as the customer's default source."""
    # Accepted as Stripe accepts them; no Kassa flow uses them yet.
    cash_balance: AcceptedStruct | None = None
    tax: AcceptedStruct | None = None
    validate: bool | None = None


@dataclass(frozen=True, kw_only=True)
class CreateCustomer(CustomerChanges):
    payment_method: str | None = None
    """A PaymentMethod to attach: a stored unattached one, or a test id (`pm_card_visa`)
    standing for a new card."""
    test_clock: str | None = None
    """The test clock the customer lives on, for good: it and everything it pays or is
    billed are stamped with the clock's frozen time."""
    tax_id_data: list[Mapping[str, str]] | None = None
    """Tax ids (`type`, `value`) the new customer holds (`tax_ids`)."""


@dataclass(frozen=True, kw_only=True)
class UpdateCustomer(CustomerChanges):
    customer: str
    default_source: str | None = None
    """One of the customer's saved cards (`card_...`) to make its default source."""


# Fields Kassa copies from parameters unchanged (an UNSET clears them to null). `balance` is
# not one: each change is a customer balance transaction (`customer_balance.set_balance`).
_PLAIN_FIELDS = (
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
        "invoice_prefix": None,  # given, or drawn (`_claim_invoice_prefix`)
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


def _apply(customer: ApiObject, changes: CustomerChanges) -> None:
    """Write validated parameters into the customer object (all but the default payment
    method, which names another object: see `_default_payment_method`)."""
    apply_fields(customer, changes, _PLAIN_FIELDS)
    if changes.address is not None:
        customer["address"] = merge_address(customer["address"], changes.address)
    if changes.shipping is not None:
        customer["shipping"] = shipping_object(changes.shipping)
    if changes.metadata is not None:
        customer["metadata"] = apply_metadata(customer["metadata"], changes.metadata)
    if changes.preferred_locales is not None:
        locales = changes.preferred_locales
        customer["preferred_locales"] = [] if isinstance(locales, Unset) else locales
    if changes.tax_exempt is not None:
        exempt = changes.tax_exempt
        customer["tax_exempt"] = "none" if exempt is UNSET else exempt
    if changes.invoice_settings is not None:
        _apply_invoice_settings(customer["invoice_settings"], changes.invoice_settings)


def _apply_invoice_settings(settings: dict[str, Any], update: InvoiceSettingsUpdate) -> None:
    for key in ("custom_fields", "footer"):
        if key in update:
            settings[key] = None if update[key] is UNSET else update[key]
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


def _requested_default(changes: CustomerChanges) -> str | Unset | None:
    """`invoice_settings[default_payment_method]`: None when not sent, UNSET to clear it."""
    if changes.invoice_settings is None:
        return None
    requested: str | Unset | None = changes.invoice_settings.get("default_payment_method")
    return requested


async def _default_payment_method(ctx: Context, customer_id: str, reference: str) -> str:
    """The id to store as the customer's default: the PaymentMethod `reference` names, which
    must be attached to this customer."""
    payment_method = await payment_methods.resolve(
        ctx, reference, param=DEFAULT_PAYMENT_METHOD_PARAM
    )
    if payment_method["customer"] != customer_id:
        # Stripe's answer to a payment method of no customer, or of another one.
        raise InvalidRequest(
            f"The customer does not have a payment method with the ID {reference}. "
            "The payment method must be attached to the customer.",
            param=DEFAULT_PAYMENT_METHOD_PARAM,
            code="resource_missing",
        )
    return str(payment_method["id"])


async def _initial_default(
    ctx: Context, customer_id: str, request: CreateCustomer, attaching: ApiObject | None
) -> str | None:
    """A new customer's default payment method: none it could own yet, except the one
    `payment_method` attaches (named the same way: a test id such as `pm_card_visa` given
    in both parameters stands for that one new card)."""
    reference = _requested_default(request)
    if not isinstance(reference, str):
        return None
    if attaching is not None and reference == request.payment_method:
        return str(attaching["id"])
    return await _default_payment_method(ctx, customer_id, reference)


async def _on_test_clock(ctx: Context, clock_id: str) -> Context:
    """The context of a customer created on `clock_id`: governed by the clock, which must be
    a live clock of this account."""
    found = await ctx.tx.get_object(TEST_CLOCKS, ctx.account_id, clock_id, lock=False)
    if found is None or found[1]:
        raise ResourceMissing("test_clock", clock_id, param="test_clock")
    return await ctx.governed_by({"test_clock": clock_id})


async def _change_sources(ctx: Context, customer: ApiObject, request: UpdateCustomer) -> None:
    """`source` saves a new card as the default and deletes the old default, as Stripe does;
    `default_source` makes one of the customer's saved cards the default."""
    if request.source:
        card = await customer_sources.verified_card(ctx, request.source, param="source")
        if customer["default_source"] is not None:
            old = await customer_sources.card_of(ctx, customer["id"], customer["default_source"])
            await customer_sources.delete_card_of(ctx, customer, old)
        await customer_sources.store_card(ctx, customer, card)
        customer["default_source"] = card["id"]
    if request.default_source:
        chosen = await customer_sources.card_of(
            ctx, customer["id"], request.default_source, param="default_source"
        )
        customer["default_source"] = chosen["id"]


def _new_tax_ids(ctx: Context, customer_id: str, data: list[Mapping[str, str]]) -> list[ApiObject]:
    """`tax_id_data[]`'s tax ids, every value checked before anything is written (a 400
    names `tax_id_data[i][value]`)."""
    found = []
    for index, entry in enumerate(data):
        try:
            found.append(tax_ids.new_tax_id(ctx, customer_id, entry["type"], entry["value"]))
        except InvalidRequest as error:
            error.param = f"tax_id_data[{index}][{error.param}]"
            raise
    return found


async def _claim_invoice_prefix(ctx: Context, customer: ApiObject) -> None:
    """A new customer's `invoice_prefix`: the one given, recorded as its own (refused when
    another customer has or had it), or one drawn (recorded when first used)."""
    if customer["invoice_prefix"] is None:
        customer["invoice_prefix"] = customer_invoice_numbering.draw_prefix()
    else:
        await customer_invoice_numbering.claim_prefix(
            ctx, customer["id"], customer["invoice_prefix"]
        )


async def _check_numbering(
    ctx: Context, customer: ApiObject, before: ApiObject, request: UpdateCustomer
) -> None:
    """An update's `invoice_prefix` (another customer's, now or before, is refused; one the
    customer had is its own again) and `next_invoice_sequence` (greater than every number
    its invoices used with the prefix it now has)."""
    if customer["invoice_prefix"] != before["invoice_prefix"]:
        await customer_invoice_numbering.claim_prefix(
            ctx, customer["id"], customer["invoice_prefix"]
        )
    if request.next_invoice_sequence is not None:
        await customer_invoice_numbering.check_next_sequence(
            ctx, customer, int(customer["next_invoice_sequence"])
        )


async def create_customer(ctx: Context, request: CreateCustomer) -> ApiObject:
    if request.test_clock is not None:
        ctx = await _on_test_clock(ctx, request.test_clock)
    card = (
        await customer_sources.verified_card(ctx, request.source, param="source")
        if request.source
        else None
    )
    customer = _blank_customer(ctx)
    customer["test_clock"] = request.test_clock or None
    _apply(customer, request)
    attaching = (
        await payment_methods.resolve(ctx, request.payment_method, param="payment_method")
        if request.payment_method
        else None
    )
    customer["invoice_settings"]["default_payment_method"] = await _initial_default(
        ctx, customer["id"], request, attaching
    )
    if request.balance is not None:
        await customer_balance.set_balance(ctx, customer, request.balance, creating=True)
    if card is not None:
        customer["default_source"] = card["id"]
    new_tax_ids = _new_tax_ids(ctx, customer["id"], request.tax_id_data or [])
    await _claim_invoice_prefix(ctx, customer)
    await ctx.tx.insert_object(CUSTOMERS, ctx.account_id, customer)
    await events.announce(ctx, "customer.created", customer)
    for tax_id in new_tax_ids:
        await tax_ids.store_tax_id(ctx, tax_id)
    if card is not None:
        await customer_sources.store_card(ctx, customer, card)
    if attaching is not None:
        await payment_methods.attach_to_customer(ctx, attaching, customer["id"])
    return customer


async def retrieve_customer(ctx: Context, customer_id: str) -> ApiObject:
    customer, deleted = await load_object(ctx, RESOURCE, customer_id)
    return _deleted_stub(customer) if deleted else customer


async def update_customer(ctx: Context, request: UpdateCustomer) -> ApiObject:
    drafts = (  # locked before the customer, as every invoice path locks them
        [] if request.balance is None else await customer_balance.lock_drafts(ctx, request.customer)
    )
    customer = await load_live_object(ctx, RESOURCE, request.customer)
    # On a test clock, its event and any balance transaction are stamped at the clock's time.
    ctx = await ctx.governed_by(customer)
    before = copy.deepcopy(customer)
    _apply(customer, request)
    await _check_numbering(ctx, customer, before, request)
    await _change_sources(ctx, customer, request)
    default = _requested_default(request)
    if default is not None:
        customer["invoice_settings"]["default_payment_method"] = (
            None
            if isinstance(default, Unset)
            else await _default_payment_method(ctx, customer["id"], default)
        )
    if request.balance is not None:
        await customer_balance.set_balance(
            ctx, customer, request.balance, creating=False, drafts=drafts
        )
    await ctx.tx.update_object(CUSTOMERS, ctx.account_id, customer)
    if customer != before:
        await events.announce(ctx, "customer.updated", customer, previous=before)
        # Its drafts show the details as they are (Stripe: "Until the invoice is finalized,
        # this field will equal customer.email").
        await hooks.customer_details_changed(ctx, customer, before)
    return customer


async def delete_customer(ctx: Context, customer_id: str) -> ApiObject:
    customer = await load_live_object(ctx, RESOURCE, customer_id)
    ctx = await ctx.governed_by(customer)
    await hooks.customer_deleted(ctx, customer)
    await ctx.tx.mark_object_deleted(CUSTOMERS, ctx.account_id, customer["id"])
    await events.announce(ctx, "customer.deleted", customer)
    return _deleted_stub(customer)


@dataclass(frozen=True)
class ListCustomers:
    params: Mapping[str, Any]
    """Pagination and `LIST_FILTERS`, parsed."""


def _build_list(_ids: RouteIds, params: dict[str, Any]) -> ListCustomers:
    return ListCustomers(params)


async def list_customers(ctx: Context, request: ListCustomers) -> ApiObject:
    """Newest first. Without `test_clock`, customers on test clocks are left out, as
    Stripe's reference says (one index range: customers_account_no_clock)."""
    params = request.params
    unclocked = {} if "test_clock" in params else {"test_clock": True}
    query = list_query(params, LIST_FILTERS, nulls=unclocked)
    page = await list_page_with(ctx, RESOURCE, params, query)
    return list_envelope(page, RESOURCE.url)


def _deleted_stub(customer: ApiObject) -> ApiObject:
    return {"id": customer["id"], "object": "customer", "deleted": True}


async def _subscriptions_of(ctx: Context, customer: ApiObject) -> Any:
    """`expand[]=subscriptions`: the customer's subscriptions that have not ended, newest
    first, as Stripe nests them (at most SUBSCRIPTIONS_INCLUDED_MAX; `total_count` counts
    them all)."""
    return await included_list(
        ctx,
        SUBSCRIPTIONS,
        ObjectListQuery(
            limit=SUBSCRIPTIONS_INCLUDED_MAX,
            equals={"customer": customer["id"]},
            any_of={"status": subscription_documents.LISTED_BY_DEFAULT},
        ),
        url=f"/v1/customers/{customer['id']}/subscriptions",
        view=subscription_documents.view,
    )


async def _tax_ids_of(ctx: Context, customer: ApiObject) -> Any:
    """`expand[]=tax_ids`: the customer's tax ids, newest first (the first page)."""
    return await tax_ids.included_in_customer(ctx, customer["id"])


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


async def _invoice_credit_balance(ctx: Context, customer: ApiObject) -> Any:
    """`expand[]=invoice_credit_balance`: currency -> credit, positive for a credit and
    negative for an amount owed (Stripe's sign, the opposite of `balance`). Kassa holds one
    balance, in the customer's currency (`customer_balance`): its one entry, none while it
    is 0 (Stripe's "balances, if any")."""
    if customer["currency"] is None or customer["balance"] == 0:
        return {}
    return {customer["currency"]: -int(customer["balance"])}


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
    create=Operation(request_parser(CreateCustomer, CREATE_PARAMS), create_customer, writes=True),
    retrieve=Operation(no_params, retrieve_customer, writes=False),
    update=Operation(
        request_parser(UpdateCustomer, UPDATE_PARAMS, ids=("customer",)),
        update_customer,
        writes=True,
    ),
    delete=Operation(no_params, delete_customer, writes=True),
    lister=Operation(ParamsParser(LIST_PARAMS, _build_list), list_customers, writes=False),
    nested=(
        customer_balance.RESOURCE,
        customer_sources.SOURCES,
        customer_sources.CARDS_ALIAS,
        customer_payment_methods.RESOURCE,
        tax_ids.RESOURCE,
    ),
    search=search_operation(
        CUSTOMERS,
        "customers",
        {"created": NUMBER, "email": STRING, "metadata": METADATA, "name": STRING, "phone": STRING},
    ),
    expandable={
        "default_source": ("card", "bank_account", "source"),
        "invoice_settings.default_payment_method": "payment_method",
        "test_clock": "test_helpers.test_clock",
    },
    includable={
        "sources": customer_sources.sources_included,
        "subscriptions": _subscriptions_of,
        "tax_ids": _tax_ids_of,
        "tax": _constant(_NO_AUTOMATIC_TAX),
        "cash_balance": _constant(None),
        "invoice_credit_balance": _invoice_credit_balance,
    },
    event_types=("customer.created", "customer.deleted", "customer.updated"),
)
