"""One-off charges a subscription's create or update adds (`add_invoice_items`): each a
pending invoice item of the subscription (`parent.subscription_details`, no subscription
item; `invoiceitem.created`), priced as any invoice item from a one-time price (`price`) or
an inline one (`price_data`, stored inactive), times its quantity.

Stripe: "A list of prices and quantities that will generate invoice items appended to the
next invoice for this subscription." They are stored pending before the request makes any
invoice, so the next invoice of the subscription takes them as it takes its prorations
(`subscription_pending`): on create its first invoice (which bills only these during a
trial); on update the invoice the update makes at once, if it makes one (`always_invoice`,
`billing_cycle_anchor=now`, `trial_end=now`), else its next renewal.

Every entry is checked before anything is stored (its price active, one-time and in the
subscription's currency, its tax rates, its period), a refusal naming the entry's parameter
as Stripe does (`add_invoice_items[0][price]`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from kassa.errors import ExclusiveParameters, InvalidParameter, InvalidRequest
from kassa.params import (
    Boolean,
    Enum,
    Integer,
    ListOf,
    Metadata,
    String,
    Struct,
    Timestamp,
    apply_metadata,
)
from kassa.services import events
from kassa.services.billing import discounts, pricing
from kassa.services.billing.invoice_item_params import PRICE_DATA
from kassa.services.billing.invoice_item_pricing import (
    active_price,
    apply_priced,
    blank_item,
    check_item_amount,
    check_period,
    from_price,
    inline_price,
    net_amount,
    price_data_names,
    usable_tax_rates,
    view,
)
from kassa.services.billing.invoice_params import TAX_RATE_IDS
from kassa.services.billing.subscription_documents import (
    customer_of,
    product_name,
    shared_period,
)
from kassa.services.context import Context
from kassa.services.resource import ApiObject
from kassa.store.tables import INVOICE_ITEMS

ADD_INVOICE_ITEMS_MAX: Final = 20
"""Stripe: "You may pass up to 20 items"."""
PERIOD_START_TYPES: Final = ("max_item_period_start", "now", "timestamp")
PERIOD_END_TYPES: Final = ("min_item_period_end", "timestamp")
ADD_INVOICE_ITEMS = ListOf(
    item=Struct(
        {
            "price": String(max_chars=255),
            "price_data": PRICE_DATA,
            "quantity": Integer(minimum=0, maximum=pricing.QUANTITY_MAX),
            "discountable": Boolean(),
            "discounts": discounts.DISCOUNTS_PARAM,
            "metadata": Metadata(),
            "tax_rates": TAX_RATE_IDS,
            "period": Struct(
                {
                    "start": Struct(
                        {"type": Enum(values=PERIOD_START_TYPES), "timestamp": Timestamp()},
                        required=("type",),
                    ),
                    "end": Struct(
                        {"type": Enum(values=PERIOD_END_TYPES), "timestamp": Timestamp()},
                        required=("type",),
                    ),
                },
                required=("start", "end"),
            ),
        }
    ),
    max_items=ADD_INVOICE_ITEMS_MAX,
)
"""`add_invoice_items` on subscription create and update."""


@dataclass(frozen=True)
class _Checked:
    """One entry, checked: its stored price (None for `price_data`, made when stored), its
    quantity, tax rates and period, and where it was sent."""

    entry: Mapping[str, Any]
    path: str
    price: ApiObject | None
    quantity: int
    tax_rates: list[ApiObject]
    period: tuple[int, int]


async def add_invoice_items(
    ctx: Context, subscription: Mapping[str, Any], requested: Sequence[Mapping[str, Any]]
) -> list[ApiObject]:
    """Store `requested` as pending invoice items of `subscription` (its items and currency
    set), all checked before the first is stored, each announced (`invoiceitem.created`);
    the items. An entry's `discounts` may reuse the subscription's own."""
    if not requested:
        return []
    checked = [
        await _check_entry(ctx, subscription, entry, f"add_invoice_items[{index}]")
        for index, entry in enumerate(requested[:ADD_INVOICE_ITEMS_MAX])
    ]
    customer = await customer_of(ctx, subscription)
    made = []
    for one in checked:
        item = await _new_item(ctx, customer, subscription, one)
        await ctx.tx.insert_object(INVOICE_ITEMS, ctx.account_id, item)
        await events.announce(ctx, "invoiceitem.created", view(item))
        made.append(item)
    return made


async def _check_entry(
    ctx: Context, subscription: Mapping[str, Any], entry: Mapping[str, Any], path: str
) -> _Checked:
    price = await _one_time_price(ctx, entry, path, str(subscription["currency"]))
    quantity = int(entry.get("quantity", 1))
    if price is not None:
        sent_quantity = entry.get("quantity") is not None
        check_item_amount(from_price(price, quantity), _amount_param(path, sent_quantity, price))
    rates = entry.get("tax_rates")
    tax_rates = (
        await usable_tax_rates(ctx, rates, param=f"{path}[tax_rates]")
        if isinstance(rates, list)
        else []
    )
    period = _period(ctx, subscription, entry.get("period"), f"{path}[period]")
    return _Checked(entry, path, price, quantity, tax_rates, period)


async def _one_time_price(
    ctx: Context, entry: Mapping[str, Any], path: str, currency: str
) -> ApiObject | None:
    """The entry's stored price, active, one-time and in the subscription's `currency`; None
    for `price_data` (its currency checked here, the price made when the item is)."""
    if entry.get("price") is not None and entry.get("price_data") is not None:
        raise ExclusiveParameters(("price", "price_data"), param=f"{path}[price_data]")
    data = entry.get("price_data")
    if data is not None:
        if data["currency"] != currency:
            raise InvalidParameter(
                f"The currency of {path}[price_data] ({data['currency']}) must be the "
                f"subscription's ({currency}).",
                param=f"{path}[price_data][currency]",
            )
        return None
    if entry.get("price") is None:
        raise InvalidParameter(
            f"Missing required param: {path}[price]. Give price or price_data.",
            param=f"{path}[price]",
            code="parameter_missing",
        )
    param = f"{path}[price]"
    price = await active_price(ctx, str(entry["price"]), param)
    if price["type"] != "one_time":
        # Stripe's wording for a recurring price given here.
        raise InvalidRequest(
            f"The price specified ({price['id']}) is set to `type=recurring` but this field "
            "only accepts prices with `type=one_time`.",
            param=param,
        )
    if price["currency"] != currency:
        raise InvalidParameter(
            f"The price {price['id']} is in {price['currency']}; this subscription bills in "
            f"{currency}: an invoice item added to it must be in the same currency.",
            param=param,
        )
    return price


def _period(
    ctx: Context, subscription: Mapping[str, Any], sent: Mapping[str, Any] | None, path: str
) -> tuple[int, int]:
    """The item's period: as sent, or Stripe's default (from the latest start to the
    earliest end of the subscription's items' current periods, as they are when the items
    are added: before an update's own changes)."""
    latest_start, earliest_end = shared_period(subscription)
    named = {
        "max_item_period_start": latest_start,
        "min_item_period_end": earliest_end,
        "now": ctx.now(),
    }
    start_sent = (sent or {}).get("start") or {"type": "max_item_period_start"}
    end_sent = (sent or {}).get("end") or {"type": "min_item_period_end"}
    checked = check_period(
        {
            "start": _bound(start_sent, named, f"{path}[start]"),
            "end": _bound(end_sent, named, f"{path}[end]"),
        },
        path,
    )
    return checked["start"], checked["end"]


def _bound(sent: Mapping[str, Any], named: Mapping[str, int], path: str) -> int:
    if sent["type"] != "timestamp":
        if sent.get("timestamp") is not None:
            raise InvalidParameter(
                f"{path}[timestamp] is only allowed with {path}[type]=timestamp.",
                param=f"{path}[timestamp]",
            )
        return named[str(sent["type"])]
    if sent.get("timestamp") is None:
        raise InvalidParameter(
            f"Missing required param: {path}[timestamp] (with {path}[type]=timestamp).",
            param=f"{path}[timestamp]",
            code="parameter_missing",
        )
    return int(sent["timestamp"])


def _amount_param(path: str, sent_quantity: bool, price: ApiObject | None) -> str:
    """The parameter an entry's amount is too large by: its quantity if sent, else its price."""
    if sent_quantity:
        return f"{path}[quantity]"
    return f"{path}[price]" if price is not None else f"{path}[price_data]"


async def _new_item(
    ctx: Context, customer: Mapping[str, Any], subscription: Mapping[str, Any], one: _Checked
) -> ApiObject:
    """The invoice item (not stored) one checked entry makes: pending, naming the
    subscription, described by its product as Stripe describes an item priced by one."""
    price = one.price
    if price is None:
        names = price_data_names(f"{one.path}[price_data]")
        price = await inline_price(ctx, one.entry["price_data"], names)
    priced = from_price(price, one.quantity)
    item = blank_item(ctx, customer, priced)
    # A stored price's amount was checked with the entry; an inline one's is checked here.
    sent_quantity = one.entry.get("quantity") is not None
    apply_priced(item, priced, param=_amount_param(one.path, sent_quantity, one.price))
    name = await product_name(ctx, str(price["product"]))
    item["description"] = name if one.quantity == 1 else f"{one.quantity} \u00d7 {name}"
    if one.entry.get("discountable") is not None:
        item["discountable"] = bool(one.entry["discountable"])
    # As `/v1/invoiceitems` has it: the amount after discounts, null while discountable.
    item["net_amount"] = net_amount(item)
    item["metadata"] = apply_metadata({}, one.entry.get("metadata") or {})
    item["period"] = {"start": one.period[0], "end": one.period[1]}
    item["tax_rates"] = one.tax_rates
    item["parent"] = {
        "subscription_details": {"subscription": subscription["id"], "subscription_item": None},
        "type": "subscription_details",
    }
    requested = one.entry.get("discounts")
    if requested:
        lineage = discounts.Lineage.of(
            str(customer["id"]), str(item["id"]), str(subscription["id"])
        )
        item["discounts"] = await discounts.apply(
            ctx,
            requested,
            lineage=lineage,
            currency=str(subscription["currency"]),
            invoice_item=str(item["id"]),
            param=f"{one.path}[discounts]",
        )
    return item
