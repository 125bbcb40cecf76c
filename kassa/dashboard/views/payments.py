"""What the dashboard's payments pages show (their actions: `payment_actions`).

Every read is one indexed, bounded query: the list is a page of each kind's rows
(PaymentIntents, and charges made without one) in creation order, merged, a payment's
related objects are looked up by indexed columns with a LIMIT, and the labels a list shows
(card, customer email) come from one lookup by the page's ids.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kassa.ledger.views import balance_transaction_object
from kassa.services import charges, hooks, payment_intents
from kassa.services.context import Context
from kassa.services.listing import could_be_object_id, load_object
from kassa.services.resource import ApiObject
from kassa.store.dashboard_payment_queries import (
    DocPage,
    EntryLine,
    PaymentPosition,
    PaymentWindow,
)
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import (
    CHARGES,
    CUSTOMERS,
    DISPUTES,
    PAYMENT_INTENTS,
    PAYMENT_METHODS,
    REFUNDS,
    ObjectTable,
)

STATUS_LABELS: Mapping[str, str] = {
    "succeeded": "Succeeded",
    "requires_capture": "Uncaptured",
    "requires_payment_method": "Failed/incomplete",
    "requires_confirmation": "Unconfirmed",
    "requires_action": "Requires action",
    "processing": "Processing",
    "canceled": "Canceled",
}
"""The status filter's choices: a PaymentIntent status and what the dashboard calls it."""

CHARGE_AS_PAYMENT_STATUS: Mapping[tuple[str, bool], str] = {
    ("succeeded", True): "succeeded",
    ("succeeded", False): "requires_capture",
    ("failed", False): "requires_payment_method",
}
"""(charge status, captured) -> the PaymentIntent status of the same state, for a charge
made without one (Charges API): the list shows and filters both kinds by one status."""
CHARGE_STATUS_FILTERS: Mapping[str, tuple[str, bool]] = {
    status: charge_state for charge_state, status in CHARGE_AS_PAYMENT_STATUS.items()
}
"""The status filter's choices a charge can be in, as (charge status, captured)."""

CHARGES_SHOWN_MAX = 10
"""Charge attempts shown for one payment (declines before a success, each a charge)."""
REFUNDS_SHOWN_MAX = 50
DISPUTES_SHOWN_MAX = 5
BALANCE_TRANSACTIONS_SHOWN_MAX = 100
LEDGER_LINES_SHOWN_MAX = 400
"""A balance transaction has two to four entries: room for every shown transaction's."""
EVENTS_SHOWN_MAX = 25

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DAY = dt.timedelta(days=1)


# -- the payments list --------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentFilters:
    """The list's filters as given (strings for the form to show again), the bounds parsed
    from them, and a message for each part that was ignored."""

    status: str = ""
    customer: str = ""
    created_from: str = ""
    created_to: str = ""
    starting_after: str = ""
    created_gte: int | None = None
    created_lt: int | None = None
    problems: list[str] = field(default_factory=list)

    def query(self, **changes: str) -> dict[str, str]:
        """The filters as URL query parameters, with `changes` applied; empty ones left out."""
        values = {
            "status": self.status,
            "customer": self.customer,
            "from": self.created_from,
            "to": self.created_to,
            **changes,
        }
        return {name: value for name, value in values.items() if value}


def parse_filters(
    status: str, customer: str, created_from: str, created_to: str, starting_after: str
) -> PaymentFilters:
    """Read the filter form. A malformed part is dropped with a message rather than
    refused, so the page still shows what the rest of the filters select."""
    problems: list[str] = []
    if status and status not in STATUS_LABELS:
        problems.append("Unknown status filter ignored; showing every status.")
        status = ""
    if customer and not could_be_object_id(customer):
        problems.append("That customer id is not valid; showing every customer.")
        customer = ""
    gte = _day_start(created_from, "from", problems)
    to_day = _day_start(created_to, "to", problems)
    lt = None if to_day is None else to_day + int(_DAY.total_seconds())
    if gte is not None and lt is not None and gte >= lt:
        problems.append("The 'from' date is after the 'to' date; dates ignored.")
        gte = lt = None
    return PaymentFilters(
        status=status,
        customer=customer,
        created_from=created_from if gte is not None else "",
        created_to=created_to if lt is not None else "",
        starting_after=starting_after if _could_be_cursor(starting_after) else "",
        created_gte=gte,
        created_lt=lt,
        problems=problems,
    )


def _could_be_cursor(text: str) -> bool:
    """At most one id of each kind the list shows, joined by CURSOR_SEPARATOR."""
    ids = text.split(CURSOR_SEPARATOR)
    kinds = [object_id[:3] for object_id in ids]
    return (
        len(ids) <= len(LIST_TABLES)
        and len(set(kinds)) == len(kinds)
        and all(k in LIST_TABLES for k in kinds)
        and all(could_be_object_id(object_id) for object_id in ids)
    )


def _day_start(text: str, name: str, problems: list[str]) -> int | None:
    """Unix seconds of the UTC midnight starting the day `text` (YYYY-MM-DD) names."""
    if not text:
        return None
    day = _date(text)
    if day is None:
        problems.append(f"The '{name}' date must look like 2024-12-31; it was ignored.")
        return None
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())


def _date(text: str) -> dt.date | None:
    if not _DATE.fullmatch(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:  # 2024-02-30 and the like
        return None


@dataclass(frozen=True)
class StatusBadge:
    label: str
    """What the dashboard calls a payment's status (`Succeeded`, `Uncaptured`, `Failed`, ...)."""
    css: str
    """The badge's class suffix (`status-<css>`)."""


@dataclass(frozen=True)
class PaymentRow:
    payment: ApiObject
    """A PaymentIntent, or a charge made without one (the Charges API)."""
    status: StatusBadge
    card: str
    """`visa ••••4242`, or '' when the payment has no card yet."""
    customer_email: str
    money_back: str
    """`Refunded`, `Partially refunded` or `Disputed`: what the latest charge adds to the
    status, or ''."""


@dataclass(frozen=True)
class PaymentList:
    rows: list[PaymentRow]
    next_cursor: str
    """When older rows exist, the last shown row's id of each kind, or this page's cursor's
    for a kind the page did not reach (`_next_cursor`); else ''."""
    filters: PaymentFilters


async def payment_list(ctx: Context, filters: PaymentFilters, limit: int) -> PaymentList:
    """One page of PaymentIntents and of charges made without one (the Charges API), newest
    first. A customer filter must name a customer of this account; the one read that
    checks it also gives the rows its email."""
    if not filters.customer:
        return await _listed(ctx, filters, limit, ())
    found = await ctx.tx.get_object(CUSTOMERS, ctx.account_id, filters.customer)
    if found is None:
        # Not echoed: the id may be another account's, and this page never names those.
        problems = [*filters.problems, "No customer with that id in this account."]
        return PaymentList([], "", dataclasses.replace(filters, customer="", problems=problems))
    return await _listed(ctx, filters, limit, (found[0],))


async def customer_payments(ctx: Context, customer: ApiObject, limit: int) -> PaymentList:
    """The payments list's first page for a customer the caller has read already."""
    return await _listed(ctx, PaymentFilters(customer=customer["id"]), limit, (customer,))


async def _listed(
    ctx: Context, filters: PaymentFilters, limit: int, customers: Sequence[ApiObject]
) -> PaymentList:
    """Each kind's page is one bounded walk of its own index in creation order
    (`_kind_page`); the two are merged. The cursor holds a position in each kind
    (`_positions`), so a page continues each kind exactly after the last row of it shown.
    `customers`: those already read, whose rows need no lookup."""
    problems = list(filters.problems)
    after = await _positions(ctx, filters.starting_after)
    if after is None:
        problems.append("That page is no longer available; showing the newest payments.")
    # From the newest rows when the cursor was refused: its ids are not carried on either.
    continued = filters.starting_after if after is not None else ""
    pages = [
        await _kind_page(ctx, table, filters, (after or {}).get(table.name), limit)
        for table in LIST_TABLES.values()
    ]
    merged = list(heapq.merge(*(page.docs for page in pages), key=_list_order, reverse=True))
    shown_docs = merged[:limit]
    # Each kind gave at most `limit` rows and whether it has more: older rows exist if
    # the kinds hold more than a page between them, or if one has rows it did not give.
    more = len(merged) > limit or any(page.has_more for page in pages)
    rows = await payment_rows(ctx, shown_docs, customers)
    next_cursor = _next_cursor(continued, shown_docs) if more else ""
    return PaymentList(rows, next_cursor, dataclasses.replace(filters, problems=problems))


LIST_TABLES: Mapping[str, ObjectTable] = {
    f"{payment_intents.RESOURCE.id_prefix}_": PAYMENT_INTENTS,
    f"{charges.RESOURCE.id_prefix}_": CHARGES,
}
"""The tables the payments list shows, by the id prefix of their rows, in the order they
rank among payments created in the same second (newest first: intents before charges)."""
TIE_RANK: Mapping[str, int] = {table.name: -rank for rank, table in enumerate(LIST_TABLES.values())}
CURSOR_SEPARATOR = ","
"""Between the cursor's ids: the last shown PaymentIntent's and the last shown charge's."""


def _list_order(doc: ApiObject) -> tuple[int, int]:
    """The merged list's order (newest first): creation time, then the kind's rank. Each
    kind comes in creation order (then seq, which `heapq.merge` keeps within a kind), so
    an object on a test clock, created at the clock's time, sits among the payments of
    that time whatever order they were made in."""
    return int(doc["created"]), TIE_RANK[_table_of(str(doc["id"])).name]


def _table_of(object_id: str) -> ObjectTable:
    """The table of a row the list shows (or a cursor `_could_be_cursor` accepted)."""
    return LIST_TABLES[object_id[:3]]


def _next_cursor(starting_after: str, shown_docs: list[ApiObject]) -> str:
    """The last shown row of each kind, or the page's own cursor's for a kind this page did
    not reach (its rows all follow what was shown)."""
    last = {_table_of(i).name: i for i in starting_after.split(CURSOR_SEPARATOR) if i}
    for doc in shown_docs:
        last[_table_of(str(doc["id"])).name] = str(doc["id"])
    return CURSOR_SEPARATOR.join(last[t.name] for t in LIST_TABLES.values() if t.name in last)


async def _positions(ctx: Context, starting_after: str) -> dict[str, PaymentPosition] | None:
    """Where each kind's page continues (after the cursor's row of that kind), by table
    name; a kind the cursor does not name starts at its newest row. None when a row the
    cursor names is not this account's (deleted by a reset, or another account's)."""
    positions: dict[str, PaymentPosition] = {}
    for object_id in starting_after.split(CURSOR_SEPARATOR) if starting_after else ():
        table = _table_of(object_id)
        position = await ctx.tx.payment_position(table, ctx.account_id, object_id)
        if position is None:
            return None
        positions[table.name] = position
    return positions


async def _kind_page(
    ctx: Context,
    table: ObjectTable,
    filters: PaymentFilters,
    after: PaymentPosition | None,
    limit: int,
) -> DocPage:
    """Up to `limit` of one kind's rows the filters select after `after` (the cursor's row
    of this kind), newest first, and whether it has more: a full merged page could be all
    of one kind."""
    window = _window(table, filters, after, limit)
    if window is None:
        return DocPage([], has_more=False)
    if table is CHARGES:
        return await ctx.tx.standalone_charge_window(ctx.account_id, window)
    return await ctx.tx.payment_intent_window(ctx.account_id, window)


def _window(
    table: ObjectTable, filters: PaymentFilters, after: PaymentPosition | None, limit: int
) -> PaymentWindow | None:
    """One kind's window, or None when it is certainly empty."""
    status, captured = filters.status or None, None
    if table is CHARGES and status is not None:
        if status not in CHARGE_STATUS_FILTERS:
            return None  # a status only a PaymentIntent has
        status, captured = CHARGE_STATUS_FILTERS[status]
    return PaymentWindow(
        limit=limit,
        status=status,
        captured=captured,
        customer=filters.customer or None,
        created_gte=filters.created_gte,
        created_lt=filters.created_lt,
        after=after,
    )


async def payment_rows(
    ctx: Context, payments: list[ApiObject], customers: Sequence[ApiObject]
) -> list[PaymentRow]:
    """Each payment (an intent, or a charge made without one) with its card and customer
    email, from one lookup per kind by id; `customers`: those already read."""
    intents = [p for p in payments if p["object"] == "payment_intent"]
    charge_docs = await ctx.tx.objects_by_ids(
        CHARGES, ctx.account_id, _unique(i["latest_charge"] for i in intents)
    )
    charge_docs.update({p["id"]: p for p in payments if p["object"] == "charge"})
    without_charge = [i for i in intents if i["latest_charge"] not in charge_docs]
    method_docs = await ctx.tx.objects_by_ids(
        PAYMENT_METHODS, ctx.account_id, _unique(i["payment_method"] for i in without_charge)
    )
    customer_docs = {str(c["id"]): c for c in customers}
    customer_docs.update(
        await ctx.tx.objects_by_ids(
            CUSTOMERS,
            ctx.account_id,
            _unique(p["customer"] for p in payments if p["customer"] not in customer_docs),
        )
    )
    rows = []
    for payment in payments:
        is_charge = payment["object"] == "charge"
        charge = payment if is_charge else charge_docs.get(payment["latest_charge"] or "")
        method = None if is_charge else method_docs.get(payment["payment_method"] or "")
        customer = customer_docs.get(payment["customer"] or "") or {}
        rows.append(
            PaymentRow(
                payment=payment,
                status=payment_status(payment),
                card=card_label(charge or method),
                customer_email=customer.get("email") or "",
                money_back=_money_back(charge),
            )
        )
    return rows


def charge_payment_status(charge: ApiObject) -> str:
    """The PaymentIntent status a charge made without one (Charges API) would have: an
    uncaptured charge awaits capture, a failed one a new card."""
    captured = bool(charge["captured"])
    return CHARGE_AS_PAYMENT_STATUS.get((charge["status"], captured), str(charge["status"]))


def payment_status(payment: ApiObject) -> StatusBadge:
    """The status badge of an intent or of a charge made without one. A payment waiting
    for a card after a decline has failed, as has a failed charge (nothing waits for
    another card); an intent that never had a card is merely incomplete."""
    is_charge = payment["object"] == "charge"
    status = charge_payment_status(payment) if is_charge else str(payment["status"])
    if status == "requires_payment_method":
        if is_charge or payment.get("last_payment_error"):
            return StatusBadge("Failed", "requires-payment-method")
        return StatusBadge("Incomplete", "incomplete")
    label = STATUS_LABELS.get(status, status.replace("_", " ").capitalize())
    return StatusBadge(label, status.replace("_", "-"))


def _money_back(charge: ApiObject | None) -> str:
    if not charge:
        return ""
    if charge.get("disputed"):
        return "Disputed"
    if charge.get("refunded"):
        return "Refunded"
    return "Partially refunded" if charge.get("amount_refunded") else ""


def _unique(values: Any) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def card_label(obj: ApiObject | None) -> str:
    """`visa ••••4242` from a charge's payment_method_details or a payment method."""
    if not obj:
        return ""
    card = (obj.get("payment_method_details") or {}).get("card") or obj.get("card") or {}
    if not card.get("last4"):
        return ""
    return f"{card.get('brand') or 'card'} ••••{card['last4']}"


# -- one payment ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MoneyTrail:
    """What followed a payment's charges: its refunds and disputes, the balance
    transactions and ledger entries they all made, and the events about them."""

    refunds: list[ApiObject]
    more_refunds: bool
    disputes: list[ApiObject]
    balance_transactions: list[ApiObject]
    ledger_lines: list[EntryLine]
    events: list[ApiObject]


@dataclass(frozen=True)
class PaymentDetail:
    intent: ApiObject
    status: StatusBadge
    customer: ApiObject | None
    charge: ApiObject | None
    """The latest charge."""
    earlier_charges: list[ApiObject]
    trail: MoneyTrail
    refundable: int
    """Minor units that may still be refunded (0 when nothing is captured)."""
    can_capture: bool
    can_cancel: bool
    invoice_id: str | None = None
    """The invoice this PaymentIntent collects, if one made it: voiding that invoice, not
    Cancel, ends it (as the API refuses to cancel it)."""


@dataclass(frozen=True)
class ChargeDetail:
    """A charge made without a PaymentIntent (the Charges API): its own page."""

    charge: ApiObject
    status: StatusBadge
    customer: ApiObject | None
    trail: MoneyTrail


@dataclass(frozen=True)
class PaymentNamed:
    """What a dashboard payment URL names: a PaymentIntent (itself, or one of its charges),
    or a charge made without one (the Charges API), which has a page of its own."""

    intent_id: str = ""
    standalone_charge: ApiObject | None = None


async def payment_named(ctx: Context, object_id: str) -> PaymentNamed:
    """Raises ResourceMissing for anything this account does not have."""
    if not object_id.startswith("ch_"):
        return PaymentNamed(intent_id=object_id)
    charge, _ = await load_object(ctx, charges.RESOURCE, object_id)
    if charge["payment_intent"]:
        return PaymentNamed(intent_id=str(charge["payment_intent"]))
    return PaymentNamed(standalone_charge=charge)


async def payment_detail(ctx: Context, intent_id: str) -> PaymentDetail:
    intent, _ = await load_object(ctx, payment_intents.RESOURCE, intent_id)
    by_intent = {"payment_intent": intent["id"]}
    charge_page = await ctx.tx.list_objects(
        CHARGES, ctx.account_id, ObjectListQuery(limit=CHARGES_SHOWN_MAX, equals=by_intent)
    )
    charge = next((c for c in charge_page.objects if c["id"] == intent["latest_charge"]), None)
    charge_ids = [c["id"] for c in charge_page.objects]
    trail = await _money_trail(ctx, by_intent, charge_ids, intent["id"])
    invoice_id = await hooks.payment_intent_invoice(ctx, str(intent["id"]))
    return PaymentDetail(
        intent=intent,
        status=payment_status(intent),
        customer=await _customer_of(ctx, intent),
        charge=charge,
        earlier_charges=[c for c in charge_page.objects if c is not charge],
        trail=trail,
        refundable=_refundable(intent, charge, trail.disputes),
        can_capture=intent["status"] == "requires_capture",
        # Cancel as the API's cancel allows it: never an invoice's PaymentIntent.
        can_cancel=intent["status"] in payment_intents.CANCELABLE and invoice_id is None,
        invoice_id=invoice_id,
    )


async def charge_detail(ctx: Context, charge: ApiObject) -> ChargeDetail:
    """A charge made without a PaymentIntent, read as a PaymentIntent's page reads its
    charge: the same refunds, disputes, balance transactions, ledger entries and events."""
    trail = await _money_trail(ctx, {"charge": charge["id"]}, [charge["id"]], charge["id"])
    return ChargeDetail(
        charge=charge,
        status=payment_status(charge),
        customer=await _customer_of(ctx, charge),
        trail=trail,
    )


async def _money_trail(
    ctx: Context, related_to: Mapping[str, str], charge_ids: list[str], payment_id: str
) -> MoneyTrail:
    """The refunds and disputes `related_to` selects (by intent or by charge), the balance
    transactions and ledger entries they and the charges made, and the events about them
    and the payment."""
    refund_page = await ctx.tx.list_objects(
        REFUNDS, ctx.account_id, ObjectListQuery(limit=REFUNDS_SHOWN_MAX, equals=related_to)
    )
    dispute_page = await ctx.tx.list_objects(
        DISPUTES, ctx.account_id, ObjectListQuery(limit=DISPUTES_SHOWN_MAX, equals=related_to)
    )
    related = [*charge_ids, *(o["id"] for o in refund_page.objects + dispute_page.objects)]
    ledger_rows = await ctx.tx.balance_transactions_of_sources(
        ctx.account_id, related, BALANCE_TRANSACTIONS_SHOWN_MAX
    )
    lines = await ctx.tx.ledger_lines([row.id for row in ledger_rows], LEDGER_LINES_SHOWN_MAX)
    events = await ctx.tx.events_about(
        ctx.account_id, _unique([payment_id, *related]), EVENTS_SHOWN_MAX
    )
    return MoneyTrail(
        refunds=refund_page.objects,
        more_refunds=refund_page.has_more,
        disputes=dispute_page.objects,
        balance_transactions=[balance_transaction_object(row) for row in ledger_rows],
        ledger_lines=lines,
        events=events,
    )


async def _customer_of(ctx: Context, payment: ApiObject) -> ApiObject | None:
    if not payment["customer"]:
        return None
    found = await ctx.tx.get_object(CUSTOMERS, ctx.account_id, payment["customer"])
    return None if found is None else found[0]


def _refundable(intent: ApiObject, charge: ApiObject | None, disputes: list[ApiObject]) -> int:
    """What a refund may still return; 0 also after a chargeback, which the refund service
    would refuse (an inquiry alone leaves the charge refundable)."""
    if intent["status"] != "succeeded" or charge is None or not charge["captured"]:
        return 0
    if any(d["charge"] == charge["id"] and not d["is_charge_refundable"] for d in disputes):
        return 0
    return int(charge["amount_captured"]) - int(charge["amount_refunded"])
