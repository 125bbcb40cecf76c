"""Shipping rates (`/v1/shipping_rates`): create, retrieve, update, list (`active`,
`currency`, `created`). Stripe's reference: docs.stripe.com/api/shipping_rates.

A rate is a fixed amount (`type=fixed_amount`, the only type Stripe has) in one currency,
with optional amounts in others (`fixed_amount[currency_options]`). As on Stripe, the amount,
its currency, the name, the delivery estimate and the tax code are fixed at creation; update
takes `active`, `metadata`, `tax_behavior` (from `unspecified` to `inclusive` or `exclusive`
only: once chosen it stays) and the currency options' amounts and tax behaviours. There is
no delete: `active=false` archives a rate, after which no new Checkout Session takes it.
Stripe announces no events about shipping rates, and neither does Kassa.

Checkout Sessions offer rates as `shipping_options` (`checkout_shipping`), naming one by id
or making one from `shipping_rate_data` (`create_inline`).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from kassa import money
from kassa.errors import InactiveObject, InvalidParameter, MissingParameter
from kassa.ids import new_id
from kassa.params import (
    Boolean,
    Enum,
    Integer,
    Metadata,
    MetadataUpdate,
    Param,
    String,
    Struct,
    apply_metadata,
)
from kassa.services.billing.billing_params import CurrencyMap, refusing_immutable
from kassa.services.context import Context
from kassa.services.listing import load_live_object
from kassa.services.resource import ApiObject, Operation, Resource, no_params, request_parser
from kassa.store.tables import SHIPPING_RATES

DISPLAY_NAME_CHARS_MAX: Final = 100
"""Stripe's limit on `display_name` (shown to the customer on the Checkout page)."""
DELIVERY_ESTIMATE_VALUE_MAX: Final = 1_000
"""Kassa's bound on a delivery estimate's `value` (Stripe: "Must be greater than 0"): a
thousand months is far beyond any estimate a shop shows."""
TAX_BEHAVIORS: Final = ("exclusive", "inclusive", "unspecified")
DELIVERY_UNITS: Final = ("business_day", "day", "hour", "month", "week")
TAX_CODE: Final = re.compile(r"txcd_\d{8}")
"""Stripe's tax code ids (`txcd_92010001` is Shipping)."""

_AMOUNT = Integer(minimum=0, maximum=money.MAX_AMOUNT)
_TAX_BEHAVIOR = Enum(values=TAX_BEHAVIORS)
_ESTIMATE_BOUND = Struct(
    {
        "unit": Enum(values=DELIVERY_UNITS),
        "value": Integer(minimum=1, maximum=DELIVERY_ESTIMATE_VALUE_MAX),
    },
    required=("unit", "value"),
)
DELIVERY_ESTIMATE: Final = Struct({"maximum": _ESTIMATE_BOUND, "minimum": _ESTIMATE_BOUND})
FIXED_AMOUNT: Final = Struct(
    {
        "amount": _AMOUNT,
        "currency": money.Currency(),
        "currency_options": CurrencyMap(
            item=Struct({"amount": _AMOUNT, "tax_behavior": _TAX_BEHAVIOR}, required=("amount",))
        ),
    },
    required=("amount", "currency"),
)
CREATE_PARAMS: dict[str, Param] = {
    "display_name": String(max_chars=DISPLAY_NAME_CHARS_MAX),
    "type": Enum(values=("fixed_amount",)),
    "fixed_amount": FIXED_AMOUNT,
    "delivery_estimate": DELIVERY_ESTIMATE,
    "metadata": Metadata(),
    "tax_behavior": _TAX_BEHAVIOR,
    "tax_code": String(
        max_chars=20, pattern=TAX_CODE, pattern_hint="; a tax code looks like txcd_92010001"
    ),
}
UPDATE_PARAMS: dict[str, Param] = {
    "active": Boolean(),
    "metadata": Metadata(),
    "tax_behavior": _TAX_BEHAVIOR,
    "fixed_amount": Struct(
        {
            "currency_options": CurrencyMap(
                item=Struct({"amount": _AMOUNT, "tax_behavior": _TAX_BEHAVIOR})
            )
        }
    ),
}
IMMUTABLE_PARAMS: Final = (
    ("display_name",),
    ("type",),
    ("delivery_estimate",),
    ("tax_code",),
    ("fixed_amount", "amount"),
    ("fixed_amount", "currency"),
)
CHANGEABLE: Final = (
    "active, metadata, tax_behavior and fixed_amount[currency_options] (amounts and tax behaviours)"
)
LIST_FILTERS: dict[str, Param] = {"active": Boolean(), "currency": money.Currency()}


@dataclass(frozen=True, kw_only=True)
class CreateShippingRate:
    display_name: str
    type: str | None = None
    fixed_amount: dict[str, Any] | None = None
    delivery_estimate: dict[str, Any] | None = None
    metadata: MetadataUpdate | None = None
    tax_behavior: str | None = None
    tax_code: str | None = None


@dataclass(frozen=True, kw_only=True)
class UpdateShippingRate:
    shipping_rate: str
    active: bool | None = None
    metadata: MetadataUpdate | None = None
    tax_behavior: str | None = None
    fixed_amount: dict[str, Any] | None = None


# --- create -----------------------------------------------------------------------------------


async def create_shipping_rate(ctx: Context, request: CreateShippingRate) -> ApiObject:
    return await _create(ctx, request, "")


async def create_inline(ctx: Context, data: Mapping[str, Any], param: str) -> ApiObject:
    """A rate made from a Checkout Session's `shipping_rate_data` (parsed by `CREATE_PARAMS`),
    as create makes one: a real rate, listed as any other; refusals name `param[...]`."""
    if data.get("display_name") is None:
        raise MissingParameter(f"{param}[display_name]")
    request = CreateShippingRate(
        display_name=str(data["display_name"]),
        type=data.get("type"),
        fixed_amount=data.get("fixed_amount"),
        delivery_estimate=data.get("delivery_estimate"),
        metadata=data.get("metadata"),
        tax_behavior=data.get("tax_behavior"),
        tax_code=data.get("tax_code"),
    )
    return await _create(ctx, request, param)


async def _create(ctx: Context, request: CreateShippingRate, prefix: str) -> ApiObject:
    if request.display_name == "":
        raise InvalidParameter(
            "A shipping rate's display_name cannot be empty.", param=_named(prefix, "display_name")
        )
    if request.fixed_amount is None:
        raise MissingParameter(_named(prefix, "fixed_amount"))
    fixed = request.fixed_amount
    options = dict(fixed.get("currency_options") or {})
    _check_options(fixed["currency"], options, _named(prefix, "fixed_amount[currency_options]"))
    _check_estimate(request.delivery_estimate or {}, _named(prefix, "delivery_estimate"))
    rate: ApiObject = {
        "id": new_id("shr"),
        "object": "shipping_rate",
        "active": True,
        "created": ctx.now(),
        "delivery_estimate": _estimate(request.delivery_estimate),
        "display_name": request.display_name,
        "fixed_amount": {"amount": int(fixed["amount"]), "currency": fixed["currency"]},
        "livemode": ctx.livemode,
        "metadata": apply_metadata({}, request.metadata or {}),
        "tax_behavior": request.tax_behavior or "unspecified",
        "tax_code": request.tax_code,
        "type": "fixed_amount",
    }
    if options:
        rate["fixed_amount"]["currency_options"] = {
            currency: _option(option) for currency, option in sorted(options.items())
        }
    await ctx.tx.insert_object(SHIPPING_RATES, ctx.account_id, rate)
    return rate


def _named(prefix: str, name: str) -> str:
    return f"{prefix}[{name}]" if prefix else name


def _check_options(currency: str, options: Mapping[str, Any], param: str) -> None:
    if currency in options:
        raise InvalidParameter(
            f"fixed_amount[currency_options] cannot repeat the rate's own currency ({currency}).",
            param=f"{param}[{currency}]",
        )


def _check_estimate(estimate: Mapping[str, Any], param: str) -> None:
    """Both bounds in one unit are ordered (Stripe refuses a minimum above the maximum)."""
    low, high = estimate.get("minimum"), estimate.get("maximum")
    if low is None or high is None or low["unit"] != high["unit"]:
        return
    if int(low["value"]) > int(high["value"]):
        raise InvalidParameter(
            "delivery_estimate[minimum] must not be greater than delivery_estimate[maximum].",
            param=f"{param}[minimum][value]",
        )


def _estimate(sent: Mapping[str, Any] | None) -> ApiObject | None:
    if sent is None:
        return None
    return {
        bound: None
        if sent.get(bound) is None
        else {"unit": sent[bound]["unit"], "value": int(sent[bound]["value"])}
        for bound in ("maximum", "minimum")
    }


def _option(sent: Mapping[str, Any]) -> ApiObject:
    return {
        "amount": int(sent["amount"]),
        "tax_behavior": sent.get("tax_behavior") or "unspecified",
    }


# --- read, update -------------------------------------------------------------------------------


async def retrieve_shipping_rate(ctx: Context, rate_id: str) -> ApiObject:
    return await load_live_object(ctx, RESOURCE, rate_id)


async def update_shipping_rate(ctx: Context, request: UpdateShippingRate) -> ApiObject:
    rate = await load_live_object(ctx, RESOURCE, request.shipping_rate)
    before = copy.deepcopy(rate)
    if request.tax_behavior is not None:
        rate["tax_behavior"] = _changed_behavior(
            rate["tax_behavior"], request.tax_behavior, "tax_behavior"
        )
    sent_options = (request.fixed_amount or {}).get("currency_options")
    if sent_options is not None:
        _update_options(rate, sent_options)
    if request.active is not None:
        rate["active"] = request.active
    if request.metadata is not None:
        rate["metadata"] = apply_metadata(rate["metadata"], request.metadata)
    if rate != before:
        await ctx.tx.update_object(SHIPPING_RATES, ctx.account_id, rate)
    return rate


def _changed_behavior(current: str, wanted: str, param: str) -> str:
    """Stripe: once `inclusive` or `exclusive`, a tax behaviour cannot change."""
    if current not in ("unspecified", wanted):
        raise InvalidParameter(
            f"The tax behavior is already {current} and cannot be changed to {wanted}.",
            param=param,
        )
    return wanted


def _update_options(rate: ApiObject, sent: Mapping[str, Mapping[str, Any]]) -> None:
    """Each currency option sent: an existing one's amount and tax behaviour changed, a new
    one added (it needs an `amount`)."""
    fixed = rate["fixed_amount"]
    param = "fixed_amount[currency_options]"
    _check_options(str(fixed["currency"]), sent, param)
    options = dict(fixed.get("currency_options") or {})
    for currency, option in sorted(sent.items()):
        current = options.get(currency)
        if current is None:
            if option.get("amount") is None:
                raise MissingParameter(f"{param}[{currency}][amount]")
            options[currency] = _option(option)
            continue
        changed = dict(current)
        if option.get("amount") is not None:
            changed["amount"] = int(option["amount"])
        if option.get("tax_behavior") is not None:
            changed["tax_behavior"] = _changed_behavior(
                str(current["tax_behavior"]),
                str(option["tax_behavior"]),
                f"{param}[{currency}][tax_behavior]",
            )
        options[currency] = changed
    fixed["currency_options"] = dict(sorted(options.items()))


# --- what Checkout uses -------------------------------------------------------------------------


async def load_usable_shipping_rate(ctx: Context, rate_id: str, *, param: str) -> ApiObject:
    """A rate a new Checkout Session may offer: it exists and is active."""
    rate = await load_live_object(ctx, RESOURCE, rate_id, param=param)
    if not rate["active"]:
        raise InactiveObject(
            f"The shipping rate {rate_id} is not active and cannot be used.", param=param
        )
    return rate


def amount_in(rate: Mapping[str, Any], currency: str) -> int | None:
    """What the rate charges in `currency`: its own amount, or its currency option's; None
    when it has no amount in that currency."""
    fixed = rate["fixed_amount"]
    if fixed["currency"] == currency:
        return int(fixed["amount"])
    option = (fixed.get("currency_options") or {}).get(currency)
    return None if option is None else int(option["amount"])


RESOURCE = Resource(
    object_name="shipping_rate",
    id_prefix="shr",
    collection="shipping_rates",
    table=SHIPPING_RATES,
    create=Operation(
        request_parser(CreateShippingRate, CREATE_PARAMS, required=("display_name",)),
        create_shipping_rate,
        writes=True,
    ),
    retrieve=Operation(no_params, retrieve_shipping_rate, writes=False),
    update=Operation(
        refusing_immutable(
            request_parser(UpdateShippingRate, UPDATE_PARAMS, ids=("shipping_rate",)),
            "shipping rate",
            IMMUTABLE_PARAMS,
            CHANGEABLE,
        ),
        update_shipping_rate,
        writes=True,
    ),
    list_filters=LIST_FILTERS,
)
