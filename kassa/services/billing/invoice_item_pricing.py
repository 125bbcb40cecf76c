"""What an invoice item comes to, priced one of four ways: `amount` (+`currency`; negative for
a credit), a stored price (`pricing[price]`, +`quantity`), a new one (`price_data`, stored as
an inactive price, as Stripe's inline prices are), or `unit_amount_decimal` (+`quantity`).
Every amount goes through `pricing.line_amount`, the one rounding rule for a line; and the
item's other fields that need checking (tax rates, period) and its shape when new."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from kassa.errors import AmountTooLarge, ExclusiveParameters, InvalidParameter, InvalidRequest
from kassa.ids import new_id
from kassa.params import (
    UNSET,
    Unset,
    apply_metadata,
)
from kassa.services.billing import (
    discounts,
    invoice_lines,
    prices,
    pricing,
    tax_rates,
)
from kassa.services.billing.invoice_amounts import TAX_RATES_MAX, combined_percentage
from kassa.services.billing.invoice_item_params import (
    ITEM_AMOUNT_MAX,
    CreateInvoiceItem,
    Fields,
    ItemChanges,
    Priced,
)
from kassa.services.billing.price_fields import (
    ParamNames,
    decimal_text,
)
from kassa.services.context import Context
from kassa.services.resource import (
    ApiObject,
)
from kassa.store.tables import PRIVATE

# --- shapes -----------------------------------------------------------------------------------


def view(item: Mapping[str, Any]) -> ApiObject:
    """The item as the API shows it (the stored document keeps `created`, its `date`, for
    the object table's ordering and `created` filter). Not a copy: it shares its values with
    `item`, and every caller serializes it (an answer, an event) before the item changes
    again, if it ever does."""
    shown = dict(item)
    shown.pop("created", None)
    shown.pop(PRIVATE, None)
    details = shown.get("proration_details")
    if details is not None and "discount_amounts" not in details:
        # Stored before Kassa filled it: a list for the SDK (never null), empty.
        shown["proration_details"] = {**details, "discount_amounts": []}
    return shown


def deleted_stub(item_id: str) -> ApiObject:
    return {"id": item_id, "object": "invoiceitem", "deleted": True}


def net_amount(item: Mapping[str, Any]) -> int | None:
    """Stripe's docstring: the amount after discounts, null for discountable items."""
    return None if item["discountable"] else int(item["amount"])


# --- pricing ----------------------------------------------------------------------------------


def _quantity(changes: ItemChanges, current: int | None) -> int:
    if changes.quantity is not None and changes.quantity_decimal is not None:
        raise ExclusiveParameters(("quantity", "quantity_decimal"), param="quantity_decimal")
    if changes.quantity_decimal is not None:
        whole = changes.quantity_decimal.to_integral_value()
        if changes.quantity_decimal != whole:
            raise InvalidParameter(
                f"Invalid quantity_decimal: {changes.quantity_decimal}; Kassa bills whole "
                "quantities only.",
                param="quantity_decimal",
            )
        return int(whole)
    if changes.quantity is not None:
        return changes.quantity
    return 1 if current is None else current


def _source_of_amount(changes: ItemChanges) -> str | None:
    given = [
        name
        for name in ("amount", "pricing", "price_data", "unit_amount_decimal")
        if getattr(changes, name) is not None
    ]
    if len(given) > 1:
        raise ExclusiveParameters(given, param=given[1])
    return given[0] if given else None


def per_unit(unit: Decimal, quantity: int, currency: str) -> Priced:
    """`quantity` units at `unit` (negative for a credit: priced as the same positive
    amount, negated, so the rounding is symmetric)."""
    sign = -1 if unit < 0 else 1
    amount = sign * pricing.line_amount(pricing.PerUnit(unit_amount=abs(unit)), quantity)
    terms = {
        "price_details": None,
        "type": "price_details",
        "unit_amount_decimal": decimal_text(unit),
    }
    return Priced(amount, currency, quantity, terms)


def from_amount(amount: int, quantity_sent: int | None, currency: str) -> Priced:
    if quantity_sent not in (None, 1):
        raise ExclusiveParameters(
            ("amount", "quantity"),
            param="quantity",
            note=" Give the per-unit amount as unit_amount_decimal to bill a quantity.",
        )
    terms = {"price_details": None, "type": "price_details", "unit_amount_decimal": str(amount)}
    return Priced(amount, currency, 1, terms)


def from_price(price: Mapping[str, Any], quantity: int) -> Priced:
    amount = pricing.line_amount(prices.pricing_terms(dict(price)), quantity)
    terms = {
        "price_details": {"price": price["id"], "product": price["product"]},
        "type": "price_details",
        "unit_amount_decimal": price["unit_amount_decimal"],
    }
    return Priced(amount, str(price["currency"]), quantity, terms)


async def active_price(ctx: Context, price_id: str, param: str) -> ApiObject:
    price = await prices.load_price(ctx, price_id, param=param)
    if not price["active"]:
        raise InvalidRequest(
            f"The price specified ({price_id}) is inactive. This field only accepts active prices.",
            param=param,
        )
    if prices.has_custom_unit_amount(price):
        raise InvalidRequest(prices.custom_unit_amount_refusal(price), param=param)
    return price


def price_data_names(prefix: str = "price_data") -> ParamNames:
    """What a 400 calls an inline price's parameters under `prefix`."""
    return ParamNames(prefix=prefix, absent=frozenset({"custom_unit_amount"}))


_PRICE_DATA_NAMES: Final = price_data_names()
"""An item's `price_data` takes a per-unit price's amounts, under its own name."""


def _inline_price_request(data: Fields) -> prices.CreatePrice:
    return prices.CreatePrice(
        currency=data["currency"],
        product=data["product"],
        recurring=data.get("recurring"),
        unit_amount=data.get("unit_amount"),
        unit_amount_decimal=data.get("unit_amount_decimal"),
        tax_behavior=data.get("tax_behavior"),
        active=False,
    )


async def inline_price(
    ctx: Context, data: Fields, names: ParamNames = _PRICE_DATA_NAMES
) -> ApiObject:
    """The price `price_data` describes, stored as Stripe's inline prices are (inactive,
    unlisted: it prices this item only): one-time for an invoice item, recurring (its
    `recurring`) for a subscription item; a 400 names its parameters as `names` says."""
    created = await prices.create_price(ctx, _inline_price_request(data), names=names, inline=True)
    return await prices.load_price(ctx, created["id"], param=names.prefix)


async def preview_inline_price(ctx: Context, data: Fields, path: str) -> ApiObject:
    """A preview item's `price_data` (at `path`): the price an invoice item's would be,
    checked the same way, not stored (a preview stores nothing)."""
    return await prices.unsaved_price(
        ctx, _inline_price_request(data), names=price_data_names(f"{path}[price_data]")
    )


def _currency_for(changes: CreateInvoiceItem, customer: Mapping[str, Any]) -> str:
    currency = changes.currency or customer.get("currency")
    if currency is None:
        raise InvalidParameter(
            "Missing required param: currency. Give the currency of the amount.",
            param="currency",
            code="parameter_missing",
        )
    return str(currency)


async def price_new_item(
    ctx: Context, request: CreateInvoiceItem, customer: Mapping[str, Any]
) -> Priced:
    source = _source_of_amount(request)
    quantity = _quantity(request, None)
    if source is None:
        raise InvalidParameter(
            "Missing required param: amount. Give amount (with currency), pricing[price], "
            "price_data or unit_amount_decimal.",
            param="amount",
            code="parameter_missing",
        )
    if source == "amount":
        return from_amount(
            int(request.amount or 0), request.quantity, _currency_for(request, customer)
        )
    if source == "unit_amount_decimal":
        unit = request.unit_amount_decimal or Decimal(0)
        return per_unit(unit, quantity, _currency_for(request, customer))
    if source == "pricing":
        price = await active_price(ctx, str((request.pricing or {})["price"]), "pricing[price]")
    else:
        price = await inline_price(ctx, request.price_data or {})
    priced = from_price(price, quantity)
    if request.currency is not None and request.currency != priced.currency:
        raise InvalidParameter(
            f"The currency ({request.currency}) must be the price's ({priced.currency}).",
            param="currency",
        )
    return priced


async def price_changed_item(
    ctx: Context, item: Mapping[str, Any], changes: ItemChanges
) -> Priced | None:
    """The item's new amount when a change calls for one (a new amount or price, or a new
    quantity of the same price); None when its amount stays."""
    source = _source_of_amount(changes)
    if source is None and changes.quantity is None and changes.quantity_decimal is None:
        return None
    quantity = _quantity(changes, int(item["quantity"]))
    currency = str(item["currency"])
    if source == "amount":
        return from_amount(int(changes.amount or 0), changes.quantity, currency)
    if source == "unit_amount_decimal":
        return per_unit(changes.unit_amount_decimal or Decimal(0), quantity, currency)
    if source in ("pricing", "price_data"):
        price = (
            await active_price(ctx, str((changes.pricing or {})["price"]), "pricing[price]")
            if source == "pricing"
            else await inline_price(ctx, changes.price_data or {})
        )
    else:
        details = item["pricing"]["price_details"]
        if details is None:
            unit = Decimal(str(item["pricing"]["unit_amount_decimal"]))
            return per_unit(unit, quantity, currency)
        price = await prices.load_price(ctx, str(details["price"]), param=amount_param(changes))
    priced = from_price(price, quantity)
    if priced.currency != currency:
        raise InvalidParameter(
            f"The price's currency ({priced.currency}) must be the item's ({currency}).",
            param="pricing[price]" if source == "pricing" else "price_data[currency]",
        )
    return priced


_SOURCE_PARAMS: Final = {
    "amount": "amount",
    "pricing": "pricing[price]",
    "price_data": "price_data",
    "unit_amount_decimal": "unit_amount_decimal",
}


def amount_param(changes: ItemChanges) -> str:
    """The parameter an item's amount is too large by: the quantity the request sent, else
    what it priced the item with."""
    if changes.quantity is not None:
        return "quantity"
    if changes.quantity_decimal is not None:
        return "quantity_decimal"
    return _SOURCE_PARAMS.get(_source_of_amount(changes) or "", "quantity")


def check_item_amount(priced: Priced, param: str | None) -> None:
    """At most `ITEM_AMOUNT_MAX` on one item, however it is priced. `param`: the request's
    parameter that made it so; None where no request's parameter did (a renewal's line:
    its quantity and price were checked when they were set)."""
    if abs(priced.amount) > ITEM_AMOUNT_MAX:
        raise AmountTooLarge(
            f"The invoice item's amount ({priced.amount}) would exceed {ITEM_AMOUNT_MAX}; "
            "bill less per item.",
            param=param,
        )


def apply_priced(item: ApiObject, priced: Priced, *, param: str | None) -> None:
    check_item_amount(priced, param)
    item["amount"] = priced.amount
    item["currency"] = priced.currency
    item["quantity"] = priced.quantity
    item["quantity_decimal"] = str(priced.quantity)
    item["pricing"] = priced.pricing


# --- the other fields -------------------------------------------------------------------------


async def usable_tax_rates(ctx: Context, ids: list[str], *, param: str) -> list[ApiObject]:
    """The tax rates `ids` name, each active; the inclusive ones may not add up to more
    than 100% (their tax is taken out of the amount)."""
    rates = [
        await tax_rates.load_usable_tax_rate(ctx, rate_id, param=f"{param}[{index}]")
        for index, rate_id in enumerate(ids[:TAX_RATES_MAX])
    ]
    if len({rate["id"] for rate in rates}) != len(rates):
        raise InvalidParameter(f"The same tax rate appears twice in {param}.", param=param)
    if combined_percentage(invoice_lines.tax_terms(rates)) > 100:
        raise InvalidParameter(
            f"The inclusive tax rates in {param} add up to more than 100%.", param=param
        )
    return rates


def check_period(period: Fields, param: str = "period") -> dict[str, int]:
    """`period` as sent under `param` (`invoice_items[0][period]` in a preview)."""
    if period["end"] < period["start"]:
        raise InvalidParameter(
            f"Invalid period: {param}[end] must be at or after {param}[start].",
            param=f"{param}[end]",
        )
    return {"end": int(period["end"]), "start": int(period["start"])}


async def apply_changes(ctx: Context, item: ApiObject, changes: ItemChanges) -> None:
    """Everything but the amount (see the pricing functions) and discounts."""
    if changes.description is not None:
        item["description"] = None if changes.description is UNSET else changes.description
    if changes.discountable is not None:
        item["discountable"] = changes.discountable
    if changes.metadata is not None:
        item["metadata"] = apply_metadata(item["metadata"], changes.metadata)
    if changes.period is not None:
        item["period"] = check_period(changes.period)
    if isinstance(changes.tax_rates, list):
        item["tax_rates"] = await usable_tax_rates(ctx, changes.tax_rates, param="tax_rates")
    elif changes.tax_rates is UNSET:
        item["tax_rates"] = []
    item["net_amount"] = net_amount(item)


async def apply_discounts(
    ctx: Context,
    item: ApiObject,
    requested: list[Fields] | Unset,
    invoice: Mapping[str, Any] | None,
) -> None:
    """`discounts` onto the item (empty: cleared). An entry reusing a discount takes one on
    the item, on its `invoice` (or that invoice's subscription), on the subscription the item
    waits for, or on the customer."""
    lineage = discounts.Lineage.of(
        str(item["customer"]), str(item["id"]), discounts.parent_subscription(item)
    )
    if invoice is not None:
        lineage = lineage.below(str(invoice["id"]), discounts.parent_subscription(invoice))
    item["discounts"] = await discounts.replace(
        ctx,
        list(item["discounts"]),
        None if isinstance(requested, Unset) else requested,
        owner=item["id"],
        lineage=lineage,
        currency=str(item["currency"]),
        invoice_item=item["id"],
    )


def blank_item(ctx: Context, customer: Mapping[str, Any], priced: Priced) -> ApiObject:
    now = ctx.now()
    return {
        "id": new_id("ii"),
        "object": "invoiceitem",
        "amount": priced.amount,
        "created": now,
        "currency": priced.currency,
        "customer": customer["id"],
        "customer_account": None,
        "date": now,
        "description": None,
        "discountable": priced.amount >= 0,
        "discounts": [],
        "invoice": None,
        "livemode": ctx.livemode,
        "metadata": {},
        "net_amount": None,
        "parent": None,
        "period": {"end": now, "start": now},
        "pricing": priced.pricing,
        "proration": False,
        "proration_details": {"credited_items": None, "discount_amounts": []},
        "quantity": priced.quantity,
        "quantity_decimal": str(priced.quantity),
        "tax_rates": [],
        "test_clock": customer.get("test_clock"),
    }
