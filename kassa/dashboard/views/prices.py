"""What the dashboard's prices pages show: the list (filters by active and product) and one
price with its tiers, recurring interval and quantity transform.

Reads go through the price services (`list_prices`, `load_price` for the tiers the API shows
only when expanded); product names come from one lookup by the page's product ids.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from kassa.dashboard.views.invoices import unit_amount_text
from kassa.errors import ResourceMissing
from kassa.services.billing import prices
from kassa.services.context import Context
from kassa.services.listing import could_be_object_id
from kassa.services.resource import ApiObject
from kassa.store.tables import PRODUCTS

ACTIVE_CHOICES: Final = {"true": "Active", "false": "Archived"}
"""The active filter's choices: the API's value and what the page calls it."""


def parse_active(text: str, problems: list[str]) -> str:
    """The active filter as given ('true', 'false' or '' for either)."""
    if text and text not in ACTIVE_CHOICES:
        problems.append("Unknown active filter ignored; showing active and archived.")
        return ""
    return text


def active_flag(text: str) -> bool | None:
    return None if not text else text == "true"


# -- the prices list ------------------------------------------------------------------------


@dataclass(frozen=True)
class PriceFilters:
    active: str = ""
    product: str = ""
    starting_after: str = ""
    problems: list[str] = field(default_factory=list)

    def query(self, **changes: str) -> dict[str, str]:
        """The filters as URL query parameters, with `changes` applied; empty ones left out."""
        values = {"active": self.active, "product": self.product, **changes}
        return {name: value for name, value in values.items() if value}


def parse_filters(active: str, product: str, starting_after: str) -> PriceFilters:
    problems: list[str] = []
    active = parse_active(active, problems)
    if product and not could_be_object_id(product):
        problems.append("That product id is not valid; showing every product's prices.")
        product = ""
    return PriceFilters(
        active=active,
        product=product,
        starting_after=starting_after if could_be_object_id(starting_after) else "",
        problems=problems,
    )


@dataclass(frozen=True)
class PriceList:
    prices: list[ApiObject]
    product_names: dict[str, str]
    next_cursor: str
    filters: PriceFilters


async def price_list(ctx: Context, filters: PriceFilters, limit: int) -> PriceList:
    problems = list(filters.problems)
    if filters.product and not await product_exists(ctx, filters.product):
        # Not echoed: the id may be another account's, and this page never names those.
        problems.append("No product with that id in this account.")
        return PriceList([], {}, "", dataclasses.replace(filters, product="", problems=problems))
    request = prices.ListPrices(
        limit=limit,
        active=active_flag(filters.active),
        product=filters.product or None,
        starting_after=filters.starting_after or None,
    )
    try:
        listed = await prices.list_prices(ctx, request)
    except ResourceMissing:  # the cursor, not this account's
        problems.append("That page is no longer available; showing the newest prices.")
        listed = await prices.list_prices(ctx, dataclasses.replace(request, starting_after=None))
    data: list[ApiObject] = listed["data"]
    return PriceList(
        prices=data,
        product_names=await product_names(ctx, [str(p["product"]) for p in data]),
        next_cursor=str(data[-1]["id"]) if listed["has_more"] and data else "",
        filters=dataclasses.replace(filters, problems=problems),
    )


async def product_exists(ctx: Context, product_id: str) -> bool:
    found = await ctx.tx.get_object(PRODUCTS, ctx.account_id, product_id, lock=False)
    return found is not None and not found[1]


async def product_names(ctx: Context, product_ids: Sequence[str]) -> dict[str, str]:
    """product id -> name, for the ids this account has, in one lookup."""
    found = await ctx.tx.objects_by_ids(PRODUCTS, ctx.account_id, list(dict.fromkeys(product_ids)))
    return {product_id: str(doc.get("name") or product_id) for product_id, doc in found.items()}


# -- one price ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TierRow:
    """One tier as a person reads it: units `first` to `last` (None: and up)."""

    first: int
    last: int | None
    unit_amount: str
    flat_amount: str


@dataclass(frozen=True)
class PriceDetail:
    price: ApiObject
    product_name: str
    tiers: list[TierRow]


async def price_detail(ctx: Context, price_id: str) -> PriceDetail:
    stored = await prices.load_price(ctx, price_id)  # with its tiers, which the API hides
    names = await product_names(ctx, [str(stored["product"])])
    return PriceDetail(
        price=prices.price_view(stored),
        product_name=names.get(str(stored["product"]), ""),
        tiers=tier_rows(stored.get("tiers") or [], str(stored["currency"])),
    )


def tier_rows(tiers: Sequence[Mapping[str, Any]], currency: str) -> list[TierRow]:
    rows = []
    first = 1
    for tier in tiers:
        last = tier["up_to"]
        rows.append(
            TierRow(
                first=first,
                last=last,
                unit_amount=unit_amount_text(tier.get("unit_amount_decimal"), currency),
                flat_amount=unit_amount_text(tier.get("flat_amount_decimal"), currency),
            )
        )
        first = int(last) + 1 if last is not None else first
    return rows


def interval_text(recurring: Mapping[str, Any] | None) -> str:
    """`month`, `3 months`: how often a recurring price bills; '' for a one-time price."""
    if not recurring:
        return ""
    count = int(recurring.get("interval_count") or 1)
    interval = str(recurring["interval"])
    return interval if count == 1 else f"{count} {interval}s"


def price_summary(price: Mapping[str, Any]) -> str:
    """What a price charges, in a few words: `$15.00 per month`, `Tiered (graduated) per
    month`, `$1.00 per 10 units`, `Customer chooses`."""
    currency = str(price["currency"])
    if price["billing_scheme"] == "tiered":
        amount = f"Tiered ({price.get('tiers_mode') or 'graduated'})"
    elif price.get("custom_unit_amount"):
        amount = "Customer chooses"
    else:
        amount = unit_amount_text(price.get("unit_amount_decimal"), currency)
        transform = price.get("transform_quantity")
        if transform and int(transform["divide_by"]) > 1:
            amount += f" per {transform['divide_by']} units"
    every = interval_text(price.get("recurring"))
    return f"{amount} per {every}" if every else amount
