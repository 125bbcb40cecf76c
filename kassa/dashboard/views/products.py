"""What the dashboard's products pages show: the list (filter: active) with each product's
default price, and one product with its prices.

Reads go through the product and price services (`list_products`, `retrieve_product`,
`list_prices`); the default prices a list shows come from one lookup by the page's ids.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Final

from kassa.dashboard.views.prices import active_flag, parse_active, price_summary
from kassa.errors import ResourceMissing
from kassa.services.billing import prices, products
from kassa.services.context import Context
from kassa.services.listing import could_be_object_id
from kassa.services.resource import ApiObject
from kassa.store.tables import PRICES

PRODUCT_PRICES_SHOWN_MAX: Final = 25
"""A product's prices shown on its page; the prices list, filtered by it, shows the rest."""


@dataclass(frozen=True)
class ProductFilters:
    active: str = ""
    starting_after: str = ""
    problems: list[str] = field(default_factory=list)

    def query(self, **changes: str) -> dict[str, str]:
        """The filters as URL query parameters, with `changes` applied; empty ones left out."""
        values = {"active": self.active, **changes}
        return {name: value for name, value in values.items() if value}


def parse_filters(active: str, starting_after: str) -> ProductFilters:
    problems: list[str] = []
    return ProductFilters(
        active=parse_active(active, problems),
        starting_after=starting_after if could_be_object_id(starting_after) else "",
        problems=problems,
    )


@dataclass(frozen=True)
class ProductRow:
    product: ApiObject
    default_price: str
    """What the default price charges (`$15.00 per month`), or ''."""


@dataclass(frozen=True)
class ProductList:
    rows: list[ProductRow]
    next_cursor: str
    filters: ProductFilters


async def product_list(ctx: Context, filters: ProductFilters, limit: int) -> ProductList:
    problems = list(filters.problems)
    request = products.ListProducts(
        limit=limit,
        active=active_flag(filters.active),
        starting_after=filters.starting_after or None,
    )
    try:
        listed = await products.list_products(ctx, request)
    except ResourceMissing:  # the cursor: a product since deleted, or not this account's
        problems.append("That page is no longer available; showing the newest products.")
        listed = await products.list_products(
            ctx, dataclasses.replace(request, starting_after=None)
        )
    data: list[ApiObject] = listed["data"]
    return ProductList(
        rows=await _rows(ctx, data),
        next_cursor=str(data[-1]["id"]) if listed["has_more"] and data else "",
        filters=dataclasses.replace(filters, problems=problems),
    )


async def _rows(ctx: Context, listed: list[ApiObject]) -> list[ProductRow]:
    price_ids = list(dict.fromkeys(str(p["default_price"]) for p in listed if p["default_price"]))
    found = await ctx.tx.objects_by_ids(PRICES, ctx.account_id, price_ids)
    rows = []
    for product in listed:
        price = found.get(str(product["default_price"] or ""))
        rows.append(ProductRow(product, price_summary(price) if price else ""))
    return rows


@dataclass(frozen=True)
class ProductDetail:
    product: ApiObject
    prices: list[ApiObject]
    more_prices: bool


async def product_detail(ctx: Context, product_id: str) -> ProductDetail:
    product = await products.retrieve_product(ctx, product_id)
    listed = await prices.list_prices(
        ctx, prices.ListPrices(product=product["id"], limit=PRODUCT_PRICES_SHOWN_MAX)
    )
    return ProductDetail(product=product, prices=listed["data"], more_prices=listed["has_more"])
