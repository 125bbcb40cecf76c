"""Credit balance transactions (`/v1/billing/credit_balance_transactions`, `cbtxn_...`):
retrieve, and list by `customer` (required, as Stripe's list needs a customer) and
`credit_grant`. Each records one movement of a credit grant's balance and is never changed:

- credits: `credits_granted` (the grant's amount, when it is created) and
  `credits_application_invoice_voided` (what a voided invoice had taken, given back);
- debits: `credits_applied` (to one line of an invoice at its finalization), `credits_expired`
  (what was left when the grant expired) and `credits_voided` (what was left when it was
  voided).

Each is announced as `billing.credit_balance_transaction.created` (Stripe's event list).
Stripe's object does not show its customer; Kassa keeps it among its own facts to list by.
Stripe's reference: docs.stripe.com/api/billing/credit-balance-transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from kassa.ids import new_id
from kassa.params import String
from kassa.services import events
from kassa.services.context import Context
from kassa.services.listing import CURSOR_PARAMS, list_page_with, list_query, load_live_object
from kassa.services.resource import (
    ApiObject,
    ListPage,
    Operation,
    ParamsParser,
    Resource,
    RouteIds,
    list_envelope,
    no_params,
)
from kassa.store.tables import BILLING_CREDIT_BALANCE_TRANSACTIONS, PRIVATE

OBJECT_NAME: Final = "billing.credit_balance_transaction"
CREATED_EVENT: Final = "billing.credit_balance_transaction.created"
CREDIT_TYPES: Final = ("credits_granted", "credits_application_invoice_voided")
DEBIT_TYPES: Final = ("credits_applied", "credits_expired", "credits_voided")
ID_CHARS_MAX: Final = 255
"""Ids Kassa takes as filters: longer ones name nothing."""

LIST_PARAMS: Final = {
    **CURSOR_PARAMS,
    "customer": String(max_chars=ID_CHARS_MAX),
    "credit_grant": String(max_chars=ID_CHARS_MAX),
}
"""Stripe's list takes the cursors, `customer` (required) and `credit_grant`."""


@dataclass(frozen=True)
class Movement:
    """One movement of a grant's balance: `kind` one of `CREDIT_TYPES` or `DEBIT_TYPES`,
    `amount` above zero; `invoice` and `line` for the kinds about an invoice's line."""

    kind: str
    amount: int
    effective_at: int
    invoice: str | None = None
    line: str | None = None


def monetary(currency: str, value: int) -> dict[str, Any]:
    """Stripe's billing credit amount (`type=monetary`, the only kind it has)."""
    return {"monetary": {"currency": currency, "value": value}, "type": "monetary"}


def _side(grant: Mapping[str, Any], movement: Movement) -> dict[str, Any]:
    currency = str(grant["amount"]["monetary"]["currency"])
    about_line = (
        None
        if movement.invoice is None
        else {"invoice": movement.invoice, "invoice_line_item": movement.line}
    )
    if movement.kind in CREDIT_TYPES:
        return {
            "amount": monetary(currency, movement.amount),
            "credits_application_invoice_voided": about_line,
            "type": movement.kind,
        }
    return {
        "amount": monetary(currency, movement.amount),
        "credits_applied": about_line,
        "type": movement.kind,
    }


async def record(ctx: Context, grant: Mapping[str, Any], movement: Movement) -> ApiObject:
    """Write and announce the transaction of `movement` on `grant` (whose balance the caller
    moves and stores)."""
    credit = movement.kind in CREDIT_TYPES
    transaction: ApiObject = {
        "id": new_id("cbtxn"),
        "object": OBJECT_NAME,
        "created": ctx.now(),
        "credit": _side(grant, movement) if credit else None,
        "credit_grant": grant["id"],
        "debit": None if credit else _side(grant, movement),
        "effective_at": movement.effective_at,
        "livemode": ctx.livemode,
        "test_clock": grant.get("test_clock"),
        "type": "credit" if credit else "debit",
        PRIVATE: {"customer": grant["customer"]},
    }
    await ctx.tx.insert_object(BILLING_CREDIT_BALANCE_TRANSACTIONS, ctx.account_id, transaction)
    shown = view(transaction)
    await events.announce(ctx, CREATED_EVENT, shown)
    return shown


def view(transaction: Mapping[str, Any]) -> ApiObject:
    return {k: v for k, v in transaction.items() if k != PRIVATE}


async def retrieve_transaction(ctx: Context, transaction_id: str) -> ApiObject:
    return view(await load_live_object(ctx, RESOURCE, transaction_id))


@dataclass(frozen=True)
class ListTransactions:
    params: Mapping[str, Any]


def _parse_list(_ids: RouteIds, params: dict[str, Any]) -> ListTransactions:
    return ListTransactions(params)


async def list_transactions(ctx: Context, request: ListTransactions) -> ApiObject:
    params = request.params
    equals = {name: params[name] for name in ("customer", "credit_grant") if name in params}
    page = await list_page_with(ctx, RESOURCE, params, list_query(params, {}, equals=equals))
    return list_envelope(ListPage([view(t) for t in page.data], page.has_more), RESOURCE.url)


async def _fetch_view(ctx: Context, transaction_id: str) -> ApiObject | None:
    """The transaction for expansion (a pretax credit's `credit_balance_transaction`)."""
    found = await ctx.tx.get_object(
        BILLING_CREDIT_BALANCE_TRANSACTIONS, ctx.account_id, transaction_id, lock=False
    )
    return None if found is None else view(found[0])


RESOURCE = Resource(
    object_name=OBJECT_NAME,
    id_prefix="cbtxn",
    collection="billing/credit_balance_transactions",
    table=BILLING_CREDIT_BALANCE_TRANSACTIONS,
    retrieve=Operation(no_params, retrieve_transaction, writes=False),
    lister=Operation(
        ParamsParser(LIST_PARAMS, _parse_list, ("customer",)), list_transactions, writes=False
    ),
    expandable={"credit_grant": "billing.credit_grant"},
    event_types=(CREATED_EVENT,),
    fetch=_fetch_view,
)
