"""Tax rates: create, retrieve, update (everything but `percentage` and `inclusive`, which are
fixed at creation), list. No delete: a rate is archived with `active=false`, after which new
invoices, items and subscriptions cannot take it while those that have it keep it.

Kassa's tax rates are the manually defined kind: `rate_type` is "percentage",
`effective_percentage` is the percentage itself, `flat_amount` and `jurisdiction_level` are
null. The arithmetic of applying one is in `adjustments` (`exclusive_tax`, `inclusive_tax`).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kassa.errors import InvalidParameter, InvalidRequest
from kassa.ids import new_id
from kassa.params import (
    UNSET,
    Boolean,
    Enum,
    Metadata,
    MetadataUpdate,
    Param,
    String,
    Unset,
    apply_metadata,
)
from kassa.services import events
from kassa.services.billing.billing_params import (
    Percentage,
    percent_decimal,
    percent_json,
    refusing_immutable,
)
from kassa.services.context import Context
from kassa.services.listing import load_live_object
from kassa.services.resource import ApiObject, Operation, Resource, no_params, request_parser
from kassa.store.tables import TAX_RATES

DISPLAY_NAME_CHARS_MAX = 50
JURISDICTION_CHARS_MAX = 50
STATE_CHARS_MAX = 10
"""ISO 3166-2 subdivision codes without the country prefix are at most three characters;
the bound leaves room without taking essays."""

TAX_TYPES = (
    "admissions_tax",
    "amusement_tax",
    "attendance_tax",
    "communications_tax",
    "digital_excise_tax",
    "entertainment_tax",
    "get_fund",
    "gross_receipts_tax",
    "gst",
    "hospitality_tax",
    "hst",
    "igst",
    "jct",
    "lease_tax",
    "luxury_tax",
    "mass_transit_parking_tax",
    "nhil",
    "parking_tax",
    "pst",
    "qst",
    "resort_tax",
    "retail_delivery_fee",
    "rst",
    "sales_tax",
    "service_tax",
    "tourism_tax",
    "utility_users_tax",
    "vat",
)
"""The tax types of stripe-python 16 (`TaxRate.tax_type`)."""

_COUNTRY = String(
    max_chars=2,
    nullable=True,
    pattern=re.compile(r"[A-Za-z]{2}"),
    pattern_hint="; must be a two-letter country code (ISO 3166-1 alpha-2)",
)
_COMMON: dict[str, Param] = {
    "active": Boolean(),
    "country": _COUNTRY,
    "description": String(nullable=True),
    "display_name": String(max_chars=DISPLAY_NAME_CHARS_MAX),
    "jurisdiction": String(max_chars=JURISDICTION_CHARS_MAX, nullable=True),
    "metadata": Metadata(),
    "state": String(max_chars=STATE_CHARS_MAX, nullable=True),
    "tax_type": Enum(values=TAX_TYPES, nullable=True),
}
CREATE_PARAMS: dict[str, Param] = {
    **_COMMON,
    "inclusive": Boolean(),
    "percentage": Percentage(),
}
UPDATE_PARAMS: dict[str, Param] = _COMMON
IMMUTABLE_PARAMS = (("inclusive",), ("percentage",))
LIST_FILTERS: dict[str, Param] = {"active": Boolean(), "inclusive": Boolean()}

# Fields copied from the parameters as sent (UNSET clears them to null).
_PLAIN_FIELDS = ("description", "display_name", "jurisdiction", "state", "tax_type")


@dataclass(frozen=True, kw_only=True)
class TaxRateChanges:
    """What create and update share: None when not sent, UNSET when sent empty."""

    active: bool | None = None
    country: str | Unset | None = None
    description: str | Unset | None = None
    display_name: str | None = None
    jurisdiction: str | Unset | None = None
    metadata: MetadataUpdate | None = None
    state: str | Unset | None = None
    tax_type: str | Unset | None = None


@dataclass(frozen=True, kw_only=True)
class CreateTaxRate(TaxRateChanges):
    display_name: str
    inclusive: bool
    percentage: Decimal


@dataclass(frozen=True, kw_only=True)
class UpdateTaxRate(TaxRateChanges):
    tax_rate: str


def percentage_of(tax_rate: Mapping[str, Any]) -> Decimal:
    """The rate as the `Decimal` it was created with (8.875 for 8.875%)."""
    return percent_decimal(tax_rate["percentage"])


def _apply(tax_rate: ApiObject, changes: TaxRateChanges) -> None:
    if changes.display_name == "":
        raise InvalidParameter(
            "Invalid display_name: a tax rate's display name cannot be empty.",
            param="display_name",
        )
    for name in _PLAIN_FIELDS:
        value = getattr(changes, name)
        if value is not None:
            tax_rate[name] = None if value is UNSET else value
    country = changes.country
    if country is not None:
        tax_rate["country"] = None if isinstance(country, Unset) else country.upper()
    if changes.active is not None:
        tax_rate["active"] = changes.active
    if changes.metadata is not None:
        tax_rate["metadata"] = apply_metadata(tax_rate["metadata"], changes.metadata)


async def create_tax_rate(ctx: Context, request: CreateTaxRate) -> ApiObject:
    percentage = percent_json(request.percentage)
    tax_rate: ApiObject = {
        "id": new_id("txr"),
        "object": "tax_rate",
        "active": True,
        "country": None,
        "created": ctx.now(),
        "description": None,
        "display_name": request.display_name,
        "effective_percentage": percentage,
        "flat_amount": None,
        "inclusive": request.inclusive,
        "jurisdiction": None,
        "jurisdiction_level": None,
        "livemode": ctx.livemode,
        "metadata": {},
        "percentage": percentage,
        "rate_type": "percentage",
        "state": None,
        "tax_type": None,
    }
    _apply(tax_rate, request)
    await ctx.tx.insert_object(TAX_RATES, ctx.account_id, tax_rate)
    await events.announce(ctx, "tax_rate.created", tax_rate)
    return tax_rate


async def retrieve_tax_rate(ctx: Context, tax_rate_id: str) -> ApiObject:
    return await load_live_object(ctx, RESOURCE, tax_rate_id)


async def update_tax_rate(ctx: Context, request: UpdateTaxRate) -> ApiObject:
    tax_rate = await load_live_object(ctx, RESOURCE, request.tax_rate)
    before = copy.deepcopy(tax_rate)
    _apply(tax_rate, request)
    if tax_rate != before:
        await ctx.tx.update_object(TAX_RATES, ctx.account_id, tax_rate)
        await events.announce(ctx, "tax_rate.updated", tax_rate, previous=before)
    return tax_rate


async def load_usable_tax_rate(ctx: Context, tax_rate_id: str, *, param: str) -> ApiObject:
    """A tax rate a new invoice, item or subscription may take: it must exist and be active
    (an archived rate stays only where it already was)."""
    tax_rate = await load_live_object(ctx, RESOURCE, tax_rate_id, param=param)
    if not tax_rate["active"]:
        raise InvalidRequest(
            f"Tax rate {tax_rate_id} is archived (active=false) and cannot be applied to new "
            "objects.",
            param=param,
        )
    return tax_rate


RESOURCE = Resource(
    object_name="tax_rate",
    id_prefix="txr",
    collection="tax_rates",
    table=TAX_RATES,
    create=Operation(
        request_parser(
            CreateTaxRate,
            CREATE_PARAMS,
            required=("display_name", "inclusive", "percentage"),
        ),
        create_tax_rate,
        writes=True,
    ),
    retrieve=Operation(no_params, retrieve_tax_rate, writes=False),
    update=Operation(
        refusing_immutable(
            request_parser(UpdateTaxRate, UPDATE_PARAMS, ids=("tax_rate",)),
            "tax rate",
            IMMUTABLE_PARAMS,
            "active, country, description, display_name, jurisdiction, metadata, state and "
            "tax_type",
        ),
        update_tax_rate,
        writes=True,
    ),
    list_filters=LIST_FILTERS,
    event_types=("tax_rate.created", "tax_rate.updated"),
)
