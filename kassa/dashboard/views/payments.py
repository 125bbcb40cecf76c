"""What the dashboard's payments pages show, and the actions they offer (refund, capture,
cancel) carried out through the same typed operations as the API.

Every read is one indexed, bounded query: lists are one page of seq-ordered rows, a payment's
related objects are looked up by indexed columns with a LIMIT, and the labels a list shows
(card, customer email) come from one lookup by the page's ids.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kassa import money
from kassa.errors import InvalidParameter, ResourceMissing
from kassa.ledger.views import balance_transaction_object
from kassa.params import Param
from kassa.services import charges, payment_intents, refunds
from kassa.services.context import Context
from kassa.services.listing import could_be_object_id, load_live_object, load_object
from kassa.services.payment_intents import CancelPaymentIntent, CapturePaymentIntent
from kassa.services.refunds import CreateRefund
from kassa.services.resource import ApiObject
from kassa.store.dashboard_payment_queries import EntryLine, PaymentIntentWindow
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import (
    CHARGES,
    CUSTOMERS,
    DISPUTES,
    PAYMENT_INTENTS,
    PAYMENT_METHODS,
    REFUNDS,
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

CHARGES_SHOWN_MAX = 10
"""Charge attempts shown for one payment (declines before a success, each a charge)."""
REFUNDS_SHOWN_MAX = 50
DISPUTES_SHOWN_MAX = 5
BALANCE_TRANSACTIONS_SHOWN_MAX = 100
LEDGER_LINES_SHOWN_MAX = 400
"""A balance transaction has two to four entries: room for every shown transaction's."""
EVENTS_SHOWN_MAX = 25
AMOUNT_DIGITS_MAX = 12
EXAMPLE_AMOUNT = 1234
"""12.34 in a two-decimal currency: the example an amount error shows."""

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MAJOR_AMOUNT = re.compile(rf"\d{{1,{AMOUNT_DIGITS_MAX}}}(\.\d+)?")
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
        starting_after=starting_after if could_be_object_id(starting_after) else "",
        created_gte=gte,
        created_lt=lt,
        problems=problems,
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
class PaymentRow:
    intent: ApiObject
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
    """The last row's id when older rows exist, else ''."""
    filters: PaymentFilters


async def payment_list(ctx: Context, filters: PaymentFilters, limit: int) -> PaymentList:
    problems = list(filters.problems)
    if filters.customer and not await _customer_exists(ctx, filters.customer):
        # Not echoed: the id may be another account's, and this page never names those.
        problems.append("No customer with that id in this account.")
        unknown = dataclasses.replace(filters, customer="", problems=problems)
        return PaymentList([], "", unknown)
    window = await _window(ctx, filters, limit, problems)
    shown = dataclasses.replace(filters, problems=problems)
    if window is None:
        return PaymentList([], "", shown)
    page = await ctx.tx.payment_intent_window(ctx.account_id, window)
    rows = await payment_rows(ctx, page.docs)
    next_cursor = page.docs[-1]["id"] if page.has_more and page.docs else ""
    return PaymentList(rows, next_cursor, shown)


async def _customer_exists(ctx: Context, customer_id: str) -> bool:
    return await ctx.tx.get_object(CUSTOMERS, ctx.account_id, customer_id) is not None


async def _window(
    ctx: Context, filters: PaymentFilters, limit: int, problems: list[str]
) -> PaymentIntentWindow | None:
    """The seq window the filters select, or None when it is certainly empty. Dates become
    seq bounds through the created index, so the walk covers only the chosen days."""
    seq_from = seq_below = None
    if filters.created_gte is not None:
        seq_from = await ctx.tx.first_seq_created_since(
            PAYMENT_INTENTS, ctx.account_id, filters.created_gte
        )
        if seq_from is None:
            return None
    if filters.created_lt is not None:
        seq_below = await ctx.tx.first_seq_created_since(
            PAYMENT_INTENTS, ctx.account_id, filters.created_lt
        )
    if filters.starting_after:
        cursor = await ctx.tx.object_seq(PAYMENT_INTENTS, ctx.account_id, filters.starting_after)
        if cursor is None:
            problems.append("That page is no longer available; showing the newest payments.")
        else:
            seq_below = cursor if seq_below is None else min(seq_below, cursor)
    return PaymentIntentWindow(
        limit=limit,
        status=filters.status or None,
        customer=filters.customer or None,
        created_gte=filters.created_gte,
        created_lt=filters.created_lt,
        seq_below=seq_below,
        seq_from=seq_from,
    )


async def payment_rows(ctx: Context, intents: list[ApiObject]) -> list[PaymentRow]:
    """Each intent with its card and customer email, from one lookup per kind by id."""
    charge_docs = await ctx.tx.objects_by_ids(
        CHARGES, ctx.account_id, _unique(i["latest_charge"] for i in intents)
    )
    without_charge = [i for i in intents if i["latest_charge"] not in charge_docs]
    method_docs = await ctx.tx.objects_by_ids(
        PAYMENT_METHODS, ctx.account_id, _unique(i["payment_method"] for i in without_charge)
    )
    customer_docs = await ctx.tx.objects_by_ids(
        CUSTOMERS, ctx.account_id, _unique(i["customer"] for i in intents)
    )
    rows = []
    for intent in intents:
        charge = charge_docs.get(intent["latest_charge"] or "")
        method = method_docs.get(intent["payment_method"] or "")
        customer = customer_docs.get(intent["customer"] or "") or {}
        rows.append(
            PaymentRow(
                intent=intent,
                card=card_label(charge or method),
                customer_email=customer.get("email") or "",
                money_back=_money_back(charge),
            )
        )
    return rows


def status_label(intent: ApiObject) -> str:
    """What the dashboard calls the intent's status: a payment waiting for a card after a
    decline has failed; one that never had a card is merely incomplete."""
    if intent["status"] == "requires_payment_method":
        return "Failed" if intent.get("last_payment_error") else "Incomplete"
    return STATUS_LABELS.get(intent["status"], intent["status"])


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
class PaymentDetail:
    intent: ApiObject
    customer: ApiObject | None
    charge: ApiObject | None
    """The latest charge."""
    earlier_charges: list[ApiObject]
    refunds: list[ApiObject]
    more_refunds: bool
    disputes: list[ApiObject]
    balance_transactions: list[ApiObject]
    ledger_lines: list[EntryLine]
    events: list[ApiObject]
    refundable: int
    """Minor units that may still be refunded (0 when nothing is captured)."""
    can_capture: bool
    can_cancel: bool


async def payment_intent_id_for(ctx: Context, object_id: str) -> str:
    """The intent a dashboard payment URL names: itself, or a charge's intent. Raises
    ResourceMissing for anything this account does not have."""
    if object_id.startswith("ch_"):
        charge, _ = await load_object(ctx, charges.RESOURCE, object_id)
        if not charge["payment_intent"]:
            raise ResourceMissing("payment_intent", object_id)
        return str(charge["payment_intent"])
    return object_id


async def payment_detail(ctx: Context, intent_id: str) -> PaymentDetail:
    intent, _ = await load_object(ctx, payment_intents.RESOURCE, intent_id)
    by_intent = {"payment_intent": intent["id"]}
    charge_page = await ctx.tx.list_objects(
        CHARGES, ctx.account_id, ObjectListQuery(limit=CHARGES_SHOWN_MAX, equals=by_intent)
    )
    charge = next((c for c in charge_page.objects if c["id"] == intent["latest_charge"]), None)
    refund_page = await ctx.tx.list_objects(
        REFUNDS, ctx.account_id, ObjectListQuery(limit=REFUNDS_SHOWN_MAX, equals=by_intent)
    )
    dispute_page = await ctx.tx.list_objects(
        DISPUTES, ctx.account_id, ObjectListQuery(limit=DISPUTES_SHOWN_MAX, equals=by_intent)
    )
    related = [c["id"] for c in charge_page.objects]
    related += [o["id"] for o in refund_page.objects + dispute_page.objects]
    ledger_rows = await ctx.tx.balance_transactions_of_sources(
        ctx.account_id, related, BALANCE_TRANSACTIONS_SHOWN_MAX
    )
    lines = await ctx.tx.ledger_lines([row.id for row in ledger_rows], LEDGER_LINES_SHOWN_MAX)
    events = await ctx.tx.events_about(ctx.account_id, [intent["id"], *related], EVENTS_SHOWN_MAX)
    customer = None
    if intent["customer"]:
        found = await ctx.tx.get_object(CUSTOMERS, ctx.account_id, intent["customer"])
        customer = None if found is None else found[0]
    return PaymentDetail(
        intent=intent,
        customer=customer,
        charge=charge,
        earlier_charges=[c for c in charge_page.objects if c is not charge],
        refunds=refund_page.objects,
        more_refunds=refund_page.has_more,
        disputes=dispute_page.objects,
        balance_transactions=[balance_transaction_object(row) for row in ledger_rows],
        ledger_lines=lines,
        events=events,
        refundable=_refundable(intent, charge, dispute_page.objects),
        can_capture=intent["status"] == "requires_capture",
        can_cancel=intent["status"] in payment_intents.CANCELABLE,
    )


def _refundable(intent: ApiObject, charge: ApiObject | None, disputes: list[ApiObject]) -> int:
    """What a refund may still return; 0 also after a chargeback, which the refund service
    would refuse (an inquiry alone leaves the charge refundable)."""
    if intent["status"] != "succeeded" or charge is None or not charge["captured"]:
        return 0
    if any(d["charge"] == charge["id"] and not d["is_charge_refundable"] for d in disputes):
        return 0
    return int(charge["amount_captured"]) - int(charge["amount_refunded"])


# -- actions --------------------------------------------------------------------------------


async def refund_payment(ctx: Context, intent_id: str, amount: str, reason: str) -> ApiObject:
    """Refund `amount` (major units, e.g. "12.34"; empty: all that remains) of a payment."""
    intent = await load_live_object(ctx, payment_intents.RESOURCE, intent_id)
    return await refunds.create_refund(
        ctx,
        CreateRefund(
            payment_intent=intent["id"],
            amount=to_minor(amount, intent["currency"], "amount") if amount else None,
            reason=_optional(refunds.CREATE_PARAMS["reason"], reason, "reason"),
        ),
    )


async def capture_payment(ctx: Context, intent_id: str, amount: str) -> ApiObject:
    """Capture an authorization: all of it, or `amount` (major units) and release the rest."""
    intent = await load_live_object(ctx, payment_intents.RESOURCE, intent_id)
    minor = None
    if amount:
        minor = to_minor(amount, intent["currency"], "amount_to_capture")
        capturable = int(intent["amount_capturable"])
        if intent["status"] == "requires_capture" and minor > capturable:
            raise InvalidParameter(
                f"The amount to capture ({money.format_amount(minor, intent['currency'])}) is "
                f"more than the authorized {money.format_amount(capturable, intent['currency'])}.",
                param="amount_to_capture",
            )
    return await payment_intents.capture_payment_intent(
        ctx, CapturePaymentIntent(intent=intent["id"], amount_to_capture=minor)
    )


async def cancel_payment(ctx: Context, intent_id: str, reason: str) -> ApiObject:
    cancellation_reason = _optional(
        payment_intents.CANCEL_PARAMS["cancellation_reason"], reason, "cancellation_reason"
    )
    return await payment_intents.cancel_payment_intent(
        ctx, CancelPaymentIntent(intent=intent_id, cancellation_reason=cancellation_reason)
    )


def _optional(spec: Param, text: str, name: str) -> Any:
    """A choice from the page's form, checked by the API's own schema (a forged form may
    send anything); None when left empty."""
    return spec.parse(text, name) if text else None


def to_minor(text: str, currency: str, param: str) -> int:
    """`"12.34"` in usd is 1234, `"500"` in jpy is 500: an amount typed in the currency's
    major unit, refused if it has more decimals than the currency does."""
    digits = money.exponent(currency)
    if not _MAJOR_AMOUNT.fullmatch(text):
        example = money.major_units(EXAMPLE_AMOUNT * 10**digits // 100, currency)
        raise InvalidParameter(f"Enter the amount as a number like {example}.", param=param)
    fraction = text.partition(".")[2]
    if len(fraction) > digits:
        places = f"at most {digits} decimal places" if digits else "no decimal places"
        raise InvalidParameter(f"{currency.upper()} amounts have {places}.", param=param)
    # Exact: the amount has no more decimals than the currency, so nothing is rounded.
    minor = money.to_minor_units(Decimal(text).scaleb(digits), decimal.ROUND_HALF_UP)
    if minor <= 0:
        raise InvalidParameter("Enter an amount above zero.", param=param)
    return minor
