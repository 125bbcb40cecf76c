"""`GET /v1/subscriptions`: its parameters and the query its filters make. The list leaves
out ended subscriptions unless `status` asks for them (`all`, `ended`, or one status).

Since API 2025-03-31.basil a subscription's current period is its items' (each item has its
own in a mixed-interval subscription); Stripe's list still filters on `current_period_end`
and `current_period_start`, which its reference defines as "the minimum item
current_period_end" and "the maximum item current_period_start": the subscription's next
renewal and the start of its latest period. Kassa filters on the same two (columns the store
derives from the items on every write, `kassa.store.tables.SUBSCRIPTIONS`), rather than on
any one item's period.

Without `test_clock` and without `customer`, subscriptions on test clocks are left out, as
Stripe's reference says (as the customer list leaves out customers on test clocks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from kassa.params import Boolean, Enum, NotSupported, Param, String, Struct, TimestampRange
from kassa.services.billing.subscription_documents import ENDED, LISTED_BY_DEFAULT, STATUSES
from kassa.services.listing import LIST_LIMIT_DEFAULT, PAGINATION_PARAMS
from kassa.store.queries import LinkedRows, ObjectListQuery
from kassa.store.tables import SUBSCRIPTION_ITEMS

OBJECT_ID_CHARS_MAX: Final = 255

LIST_PARAMS: dict[str, Param] = {
    **PAGINATION_PARAMS,
    "automatic_tax": Struct({"enabled": Boolean()}, required=("enabled",)),
    "collection_method": Enum(values=("charge_automatically", "send_invoice")),
    "current_period_end": TimestampRange(),
    "current_period_start": TimestampRange(),
    "customer": String(max_chars=OBJECT_ID_CHARS_MAX),
    "customer_account": NotSupported(reason="Kassa bills customers, not accounts."),
    "plan": String(max_chars=OBJECT_ID_CHARS_MAX),
    "price": String(max_chars=OBJECT_ID_CHARS_MAX),
    "status": Enum(values=(*STATUSES, "all", "ended")),
    "test_clock": String(max_chars=OBJECT_ID_CHARS_MAX),
}


@dataclass(frozen=True, kw_only=True)
class ListSubscriptions:
    limit: int | None = None
    starting_after: str | None = None
    ending_before: str | None = None
    automatic_tax: dict[str, Any] | None = None
    collection_method: str | None = None
    created: dict[str, int] | None = None
    current_period_end: dict[str, int] | None = None
    current_period_start: dict[str, int] | None = None
    customer: str | None = None
    customer_account: Any = None
    plan: str | None = None
    price: str | None = None
    status: str | None = None
    test_clock: str | None = None


def list_query(request: ListSubscriptions) -> ObjectListQuery:
    """The query of one page of the list (the caller positions it at the cursors)."""
    equals = {
        name: getattr(request, name)
        for name in ("collection_method", "customer", "test_clock")
        if getattr(request, name) is not None
    }
    ranges = {
        name: getattr(request, name)
        for name in ("current_period_end", "current_period_start")
        if getattr(request, name)
    }
    return ObjectListQuery(
        limit=request.limit or LIST_LIMIT_DEFAULT,
        equals=equals,
        created=request.created or {},
        any_of={"status": _listed_statuses(request)},
        nulls=_unclocked(request),
        ranges=ranges,
        linked=_items_on(request.price, request.plan),
    )


def _unclocked(request: ListSubscriptions) -> dict[str, bool]:
    # Stripe's reference (`test_clock`): "The response will not include subscriptions with
    # test clocks if this and the customer parameter is not set." (One index range:
    # subscriptions_account_test_clock, its test_clock NULL.)
    if request.test_clock is None and request.customer is None:
        return {"test_clock": True}
    return {}


def _listed_statuses(request: ListSubscriptions) -> tuple[str, ...]:
    # Kassa computes no tax (a subscription cannot enable it), so every subscription has
    # automatic_tax.enabled=false: `automatic_tax[enabled]=true` matches none of them and
    # `false` all of them, whatever else the list asks.
    if request.automatic_tax is not None and request.automatic_tax["enabled"]:
        return ()
    if request.status == "all":
        return STATUSES
    if request.status == "ended":
        return ENDED
    if request.status is not None:
        return (request.status,)
    return LISTED_BY_DEFAULT


def _items_on(*prices: str | None) -> tuple[LinkedRows, ...]:
    """Subscriptions with a live item on each of `prices` given. A Kassa plan is the
    recurring price of the same id, so `plan` and `price` filter alike; a price no item has
    (or none stored) simply matches nothing, as a filter does."""
    return tuple(
        LinkedRows(SUBSCRIPTION_ITEMS, "subscription", {"price": price})
        for price in prices
        if price is not None
    )
