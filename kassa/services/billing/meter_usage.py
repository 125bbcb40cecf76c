"""What a subscription item on a metered price bills: its meter's aggregate (`sum`, `count`
or `last`, the meter's `default_aggregation`) of the customer's events that count (not
canceled) with `timestamp` in the usage period, worked out by one SQL statement
(`kassa.store.meter_event_queries`), never less than 0.

Usage is billed in arrears (Stripe: a metered price is "invoiced in arrears at period end
from aggregated usage", ../shared/stripe-billing-notes.md 4.10): a renewal's line for a
metered item covers the period that just ended, the first invoice bills nothing for it
(quantity 0 over the first period), a final invoice (`invoice_now`, whose docstring in the
SDK says it "invoices for any un-invoiced metered usage") the usage from the period's start
to the end, and the invoice preview the usage so far of the period that will be billed.
"If the overall cycle usage is negative, Stripe reports the invoice line item usage quantity
as 0" (Stripe's guide "Configure meters")."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from kassa.errors import InvalidParameter
from kassa.services.context import Context
from kassa.store.meter_event_queries import Formula, UsageScope
from kassa.store.tables import BILLING_METERS


def is_metered(price: Mapping[str, Any]) -> bool:
    recurring = price.get("recurring") or {}
    return bool(recurring.get("usage_type") == "metered" and recurring.get("meter"))


def check_no_quantity(price: Mapping[str, Any], entry: Mapping[str, Any], path: str) -> None:
    """A metered price's quantity is its meter's usage, billed in arrears: a `quantity` sent
    with one (a subscription item's, a Checkout line's) is refused. Stripe's own message for
    both (quoted for Checkout's `line_items[0]` in stripe-firebase-extensions issue #134)."""
    if entry.get("quantity") is None:
        return
    if (price.get("recurring") or {}).get("usage_type") == "metered":
        raise InvalidParameter(
            "Quantity should not be specified where usage_type is `metered`. Remove quantity "
            f"from `{path}`.",
            param=f"{path}[quantity]",
        )


async def usage_quantity(
    ctx: Context, customer_id: str, price: Mapping[str, Any], period: tuple[int, int]
) -> int:
    """The usage `price`'s meter counts for the customer over [start, end)."""
    meter_id = str(price["recurring"]["meter"])
    found = await ctx.tx.get_object(BILLING_METERS, ctx.account_id, meter_id)
    if found is None:
        return 0  # prices name only meters that exist (`prices`); none is ever deleted
    meter = found[0]
    formula = cast(Formula, meter["default_aggregation"]["formula"])
    scope = UsageScope(ctx.account_id, str(meter["event_name"]), customer_id, *period)
    value = await ctx.tx.meter_usage(scope, formula)
    return max(0, value or 0)


def usage_periods(
    items: Iterable[Mapping[str, Any]], *, end: int | None = None
) -> dict[str, tuple[int, int]]:
    """Each metered item's usage period to bill: its current period (before a renewal
    moves it on), or up to `end` (a final invoice's)."""
    return {
        str(item["id"]): (
            int(item["current_period_start"]),
            int(item["current_period_end"]) if end is None else end,
        )
        for item in items
        if is_metered(item["price"])
    }
