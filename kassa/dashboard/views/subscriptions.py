"""What the dashboard's subscriptions pages show: the list (filtered by status and customer),
one subscription with its items, schedule, invoices, upcoming invoice and events, a customer's
subscriptions for the customer page, and the cancel action (now, optionally crediting the
unused time and invoicing at once).

Reads go through the subscription and invoice services (`list_subscriptions`,
`retrieve_subscription`, `retrieve_schedule` for its `schedule`, `list_invoices` by
subscription, `create_preview` with the subscription for its upcoming invoice), so a page
shows exactly what the API answers, the default list included: like Stripe's, it leaves out
canceled and expired subscriptions unless asked for them. The labels a page adds (customer,
product and, for a schedule's phases, price names) come from one lookup by the page's ids.
Canceling goes through `cancel_subscription`, as `DELETE /v1/subscriptions/{id}` does. Every
read is bounded: one page of subscriptions, and at most a named number of invoices, events
and summarized items.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from kassa.dashboard.views.invoices import unit_amount_text
from kassa.dashboard.views.list_filters import (
    StatusCustomerFilters,
    parse_status_customer_filters,
)
from kassa.errors import KassaError, ResourceMissing
from kassa.services.billing import (
    invoice_preview,
    invoices,
    subscription_documents,
    subscription_schedules,
    subscriptions,
)
from kassa.services.billing.invoice_params import ListInvoices
from kassa.services.billing.invoice_preview import PreviewInvoice
from kassa.services.billing.subscription_documents import ENDED, STATUSES, items_of
from kassa.services.billing.subscription_list import ListSubscriptions
from kassa.services.billing.subscriptions import CancelSubscription
from kassa.services.context import Context
from kassa.services.listing import could_be_object_id
from kassa.services.resource import ApiObject
from kassa.store.tables import CUSTOMERS, PRICES, PRODUCTS

ALL: Final = "all"
"""The API's own `status=all`: every subscription, ended ones included."""
STATUS_CHOICES: Final = (ALL, "ended", *STATUSES)
"""The status filter's choices besides the default (which is the API's: not ended), as the
API names them."""
INVOICES_SHOWN_MAX: Final = 25
EVENTS_SHOWN_MAX: Final = 25
CUSTOMER_SUBSCRIPTIONS_SHOWN_MAX: Final = 10
ITEMS_SUMMARIZED_MAX: Final = 3
"""Items named in a list row's summary; the rest are counted (a subscription has up to 20)."""
TIMES: Final = "\u00d7"
"""The times sign between an item's quantity and its product, as Stripe writes it."""


# -- rows and labels ------------------------------------------------------------------------


@dataclass(frozen=True)
class SubscriptionRow:
    """One subscription as a list shows it, with the labels worked out."""

    subscription: ApiObject
    customer: str
    """The customer's name, else email, else id."""
    items: str
    """What it bills: quantity, times sign, product name, for each item."""
    period_end: int | None


async def subscription_rows(
    ctx: Context, listed: Sequence[ApiObject], customers_read: Sequence[ApiObject] = ()
) -> list[SubscriptionRow]:
    """Rows for `listed`, labelled with one lookup of customers (but those already read)
    and one of products."""
    customers = await customer_labels(ctx, (s["customer"] for s in listed), customers_read)
    products = await product_names(ctx, [item for s in listed for item in items_of(s)])
    return [
        SubscriptionRow(
            subscription=s,
            customer=customers.get(s["customer"]) or str(s["customer"]),
            items=items_summary(s, products),
            period_end=current_period_end(s),
        )
        for s in listed
    ]


async def customer_labels(
    ctx: Context, customer_ids: Iterable[str], customers_read: Sequence[ApiObject] = ()
) -> dict[str, str]:
    """customer id -> name, else email, else id, for those this account has; those in
    `customers_read` (already read by the caller) are not read again."""
    found = {str(c["id"]): c for c in customers_read}
    ids = [i for i in dict.fromkeys(customer_ids) if i not in found]
    found.update(await ctx.tx.objects_by_ids(CUSTOMERS, ctx.account_id, ids))
    return {
        customer_id: str(doc.get("name") or doc.get("email") or customer_id)
        for customer_id, doc in found.items()
    }


async def product_names(ctx: Context, items: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """product id -> name for the products the items' prices belong to, in one lookup."""
    return await _names_of_products(ctx, [item["price"] for item in items])


async def _names_of_products(ctx: Context, prices: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    ids = list(dict.fromkeys(str(price["product"]) for price in prices))
    found = await ctx.tx.objects_by_ids(PRODUCTS, ctx.account_id, ids)
    return {product_id: str(doc.get("name") or product_id) for product_id, doc in found.items()}


def item_label(item: Mapping[str, Any], products: Mapping[str, str]) -> str:
    """The product's name (the price's nickname after it, when it has one), else the price id:
    a product deleted since has no name to show."""
    price = item["price"]
    name = products.get(str(price["product"]), "")
    nickname = price.get("nickname") or ""
    if name and nickname:
        return f"{name} ({nickname})"
    return str(name or nickname or price["id"])


def items_summary(subscription: Mapping[str, Any], products: Mapping[str, str]) -> str:
    """What the subscription bills, "quantity TIMES product" for the first few items and
    the rest counted."""
    items = items_of(subscription)
    named = [
        f"{item['quantity']} {TIMES} {item_label(item, products)}"
        for item in items[:ITEMS_SUMMARIZED_MAX]
    ]
    rest = len(items) - len(named)
    return ", ".join(named) + (f" and {rest} more" if rest > 0 else "")


def current_period(subscription: Mapping[str, Any]) -> tuple[int, int] | None:
    """The period that ends first among the items' (the one the next renewal ends; items of
    mixed intervals each show their own in the items table), None without items."""
    if not items_of(subscription):
        return None
    return subscription_documents.current_period(subscription)


def current_period_end(subscription: Mapping[str, Any]) -> int | None:
    period = current_period(subscription)
    return period[1] if period else None


def price_text(price: Mapping[str, Any]) -> str:
    """A recurring price as a person reads it: "$20.00 / month", "$50.00 / 3 months"."""
    amount = unit_amount_text(price.get("unit_amount_decimal"), str(price["currency"]))
    recurring = price.get("recurring") or {}
    interval, count = recurring.get("interval"), int(recurring.get("interval_count") or 1)
    if not interval:
        return amount
    return f"{amount} / {interval}" if count == 1 else f"{amount} / {count} {interval}s"


# -- the subscriptions list -----------------------------------------------------------------


SubscriptionFilters = StatusCustomerFilters


def parse_filters(status: str, customer: str, starting_after: str) -> SubscriptionFilters:
    return parse_status_customer_filters(
        status,
        customer,
        starting_after,
        statuses=STATUS_CHOICES,
        unknown_status="Unknown status filter ignored; showing the current subscriptions.",
    )


@dataclass(frozen=True)
class SubscriptionList:
    rows: list[SubscriptionRow]
    next_cursor: str
    """The last row's id when older subscriptions exist, else ''."""
    filters: SubscriptionFilters


async def subscription_list(
    ctx: Context, filters: SubscriptionFilters, limit: int
) -> SubscriptionList:
    problems = list(filters.problems)
    customer = await _filtered_customer(ctx, filters.customer) if filters.customer else None
    if filters.customer and customer is None:
        # Not echoed: the id may be another account's, and this page never names those.
        problems.append("No customer with that id in this account.")
        unknown = dataclasses.replace(filters, customer="", problems=problems)
        return SubscriptionList([], "", unknown)
    request = ListSubscriptions(
        limit=limit,
        status=filters.status or None,
        customer=filters.customer or None,
        starting_after=filters.starting_after or None,
    )
    try:
        listed = await subscriptions.list_subscriptions(ctx, request)
    except ResourceMissing:  # the cursor: not this account's subscription
        problems.append("That page is no longer available; showing the newest subscriptions.")
        listed = await subscriptions.list_subscriptions(
            ctx, dataclasses.replace(request, starting_after=None)
        )
    shown = dataclasses.replace(filters, problems=problems)
    data: list[ApiObject] = listed["data"]
    next_cursor = str(data[-1]["id"]) if listed["has_more"] and data else ""
    read = () if customer is None else (customer,)
    return SubscriptionList(await subscription_rows(ctx, data, read), next_cursor, shown)


async def _filtered_customer(ctx: Context, customer_id: str) -> ApiObject | None:
    """The customer the list is filtered by, read once: it is checked here and labels the
    rows (`subscription_rows`), which would otherwise read it again."""
    found = await ctx.tx.get_object(CUSTOMERS, ctx.account_id, customer_id, lock=False)
    return None if found is None else found[0]


# -- a customer's subscriptions (the customer page) -----------------------------------------


@dataclass(frozen=True)
class CustomerSubscriptions:
    rows: list[SubscriptionRow]
    more: bool
    """Whether the customer has more than the rows shown (the list page has them all)."""


async def customer_subscriptions(ctx: Context, customer: ApiObject) -> CustomerSubscriptions:
    """The newest subscriptions of a customer the caller has read, ended ones too
    (`status=all`): the customer page tells their whole story, unlike the list, which by
    default shows what still bills."""
    request = ListSubscriptions(
        limit=CUSTOMER_SUBSCRIPTIONS_SHOWN_MAX, status=ALL, customer=customer["id"]
    )
    listed = await subscriptions.list_subscriptions(ctx, request)
    rows = await subscription_rows(ctx, listed["data"], (customer,))
    return CustomerSubscriptions(rows, listed["has_more"])


# -- one subscription -----------------------------------------------------------------------


@dataclass(frozen=True)
class ItemRow:
    item: ApiObject
    label: str
    """The product's name (and the price's nickname), else the price id."""
    price: str
    """The unit price and its interval, as "$20.00 / month"."""


@dataclass(frozen=True)
class PhaseRow:
    phase: ApiObject
    items: list[ItemRow]
    """The phase's items, each with its price read (`item.price` the price, not its id)."""
    current: bool
    """Whether the subscription is in this phase now (the schedule's `current_phase`)."""


@dataclass(frozen=True)
class ScheduleDetail:
    schedule: ApiObject
    phases: list[PhaseRow]


@dataclass(frozen=True)
class SubscriptionDetail:
    subscription: ApiObject
    customer: str
    """The customer's name, else email, else id."""
    period: tuple[int, int] | None
    items: list[ItemRow]
    invoices: list[ApiObject]
    more_invoices: bool
    events: list[ApiObject]
    can_cancel: bool
    """Only a subscription not yet ended cancels (the service refuses the rest)."""
    upcoming: ApiObject | None
    """The invoice the subscription makes next, as `create_preview` shows it; None when it
    makes none (ended, paused, canceling at its period's end)."""
    upcoming_note: str
    """Why there is no upcoming invoice, in the API's words."""
    upcoming_period: tuple[int, int] | None
    """The service time the upcoming invoice's lines bill (`service_span`)."""
    schedule: ScheduleDetail | None
    """The schedule governing the subscription (its `schedule`), None without one."""


async def subscription_detail(ctx: Context, subscription_id: str) -> SubscriptionDetail:
    subscription = await live_subscription(ctx, subscription_id)
    items = items_of(subscription)
    products = await product_names(ctx, items)
    customers = await customer_labels(ctx, [subscription["customer"]])
    billed = await _invoices(ctx, subscription["id"])
    upcoming, upcoming_note = await _upcoming(ctx, subscription)
    return SubscriptionDetail(
        subscription=subscription,
        customer=customers.get(subscription["customer"]) or str(subscription["customer"]),
        period=current_period(subscription),
        items=[
            ItemRow(item, item_label(item, products), price_text(item["price"])) for item in items
        ],
        invoices=billed["data"],
        more_invoices=bool(billed["has_more"]),
        events=await ctx.tx.events_about(ctx.account_id, [subscription["id"]], EVENTS_SHOWN_MAX),
        can_cancel=subscription["status"] not in ENDED,
        upcoming=upcoming,
        upcoming_note=upcoming_note,
        upcoming_period=None if upcoming is None else service_span(upcoming),
        schedule=await _schedule(ctx, subscription),
    )


async def _schedule(ctx: Context, subscription: Mapping[str, Any]) -> ScheduleDetail | None:
    """The subscription's schedule as `GET /v1/subscription_schedules/{id}` shows it, its
    phases' prices and their products read in one lookup each."""
    if not subscription.get("schedule"):
        return None
    schedule = await subscription_schedules.retrieve_schedule(ctx, str(subscription["schedule"]))
    price_ids = [str(item["price"]) for phase in schedule["phases"] for item in phase["items"]]
    prices = await ctx.tx.objects_by_ids(PRICES, ctx.account_id, list(dict.fromkeys(price_ids)))
    products = await _names_of_products(ctx, prices.values())
    now = schedule.get("current_phase") or {}
    return ScheduleDetail(
        schedule=schedule,
        phases=[
            PhaseRow(
                phase=phase,
                items=[_phase_item(item, prices, products) for item in phase["items"]],
                current=(phase["start_date"], phase["end_date"])
                == (now.get("start_date"), now.get("end_date")),
            )
            for phase in schedule["phases"]
        ],
    )


def _phase_item(
    item: Mapping[str, Any], prices: Mapping[str, ApiObject], products: Mapping[str, str]
) -> ItemRow:
    """A phase's item as the items table shows one; a price this account no longer has (never,
    as prices are archived rather than deleted) is shown by its id alone."""
    price = prices.get(str(item["price"]))
    if price is None:
        missing = {**item, "price": {"id": item["price"], "product": ""}}
        return ItemRow(missing, str(item["price"]), "")
    read = {**item, "price": price}
    return ItemRow(read, item_label(read, products), price_text(price))


def service_span(invoice: Mapping[str, Any]) -> tuple[int, int] | None:
    """From the earliest start to the latest end of the periods of the invoice's lines that
    bill the subscription's items (not a proration, nor a pending one-off item, dated when
    made): the service it bills; None when no line does. Not the invoice's own
    `period_start`/`period_end`, which look back on the usage period before it (Stripe: "Use
    the line item period to get the service period for each price")."""
    periods = [line["period"] for line in invoice["lines"]["data"] if _bills_item_period(line)]
    if not periods:
        return None
    return min(p["start"] for p in periods), max(p["end"] for p in periods)


def _bills_item_period(line: Mapping[str, Any]) -> bool:
    details = (line.get("parent") or {}).get("subscription_item_details")
    return details is not None and not details["proration"]


async def _upcoming(ctx: Context, subscription: Mapping[str, Any]) -> tuple[ApiObject | None, str]:
    if subscription["status"] in ENDED:
        return None, "An ended subscription makes no more invoices."
    try:
        preview = PreviewInvoice(subscription=str(subscription["id"]))
        return await invoice_preview.create_preview(ctx, preview), ""
    except KassaError as nothing:
        return None, nothing.message


async def live_subscription(ctx: Context, subscription_id: str) -> ApiObject:
    """The subscription as the API shows it; an id no stored object can have is missing."""
    if not could_be_object_id(subscription_id):
        raise ResourceMissing("subscription", subscription_id)
    return await subscriptions.retrieve_subscription(ctx, subscription_id)


async def _invoices(ctx: Context, subscription_id: str) -> ApiObject:
    """The subscription's newest invoices, as `GET /v1/invoices?subscription=` lists them."""
    request = ListInvoices(limit=INVOICES_SHOWN_MAX, subscription=subscription_id)
    return await invoices.list_invoices(ctx, request)


# -- canceling ------------------------------------------------------------------------------


async def cancel(
    ctx: Context, subscription_id: str, *, prorate: bool = False, invoice_now: bool = False
) -> ApiObject:
    """Cancel now, as `DELETE /v1/subscriptions/{id}` does with the same `prorate` (credit
    the unused time) and `invoice_now` (invoice what is pending at once)."""
    if not could_be_object_id(subscription_id):
        raise ResourceMissing("subscription", subscription_id)
    request = CancelSubscription(
        subscription=subscription_id, prorate=prorate, invoice_now=invoice_now
    )
    return await subscriptions.cancel_subscription(ctx, request)


def cancel_notice(subscription: Mapping[str, Any], *, invoiced: bool) -> str:
    notice = f"Subscription {subscription['id']} canceled: it makes no further invoices."
    if invoiced and subscription.get("latest_invoice"):
        notice += f" Final invoice: {subscription['latest_invoice']}."
    return notice
