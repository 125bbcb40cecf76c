"""The balance (`GET /v1/balance`) and balance transactions (retrieve, list): views of the
ledger. Reading either first settles funds whose `available_on` has come, so what a caller
sees never lags the clock."""

from __future__ import annotations

from typing import Any

from kassa.clock import Clock, unix_seconds
from kassa.errors import MissingParameter, ResourceMissing
from kassa.ledger.settlement import settle_due
from kassa.ledger.views import balance_object, balance_transaction_object
from kassa.money import Currency
from kassa.params import Enum, Param, String, parse_params
from kassa.services import events
from kassa.services.context import Context
from kassa.services.listing import (
    LIST_LIMIT_DEFAULT,
    could_be_object_id,
    parse_list_params,
)
from kassa.services.resource import ApiObject, ListPage, Operation, Resource
from kassa.store import Transaction
from kassa.store.ledger_queries import LedgerListQuery

TRANSACTION_TYPES = (
    "adjustment",
    "charge",
    "payment",
    "payment_failure_refund",
    "payment_refund",
    "payout",
    "refund",
    "stripe_fee",
)
LIST_FILTERS: dict[str, Param] = {
    "currency": Currency(),
    "payout": String(max_chars=255),
    "source": String(max_chars=255),
    "type": Enum(values=TRANSACTION_TYPES),
}


async def settle(ctx: Context) -> int:
    """Settle the account's due funds; announce `balance.available` if any moved."""
    settled = await settle_due(ctx.tx, ctx.now(), account_id=ctx.account_id)
    if settled:
        await announce_available(ctx)
    return sum(settled.values())


async def announce_available(ctx: Context) -> None:
    balance = await balance_object(ctx.tx, ctx.account_id, ctx.livemode)
    await events.announce(ctx, "balance.available", balance)


async def settle_all(tx: Transaction, clock: Clock) -> int:
    """The settlement worker's step: settle every account's due funds (one batch)."""
    settled = await settle_due(tx, unix_seconds(clock))
    for account_id in sorted(settled):
        await announce_available(Context(account_id=account_id, tx=tx, clock=clock))
    return sum(settled.values())


async def retrieve_balance(ctx: Context, _id: str | None, form: dict[str, Any]) -> ApiObject:
    parse_params({}, form)
    await settle(ctx)
    return await balance_object(ctx.tx, ctx.account_id, ctx.livemode)


async def fetch_balance_transaction(ctx: Context, transaction_id: str) -> ApiObject | None:
    row = await ctx.tx.get_ledger_transaction(ctx.account_id, transaction_id)
    return None if row is None else balance_transaction_object(row)


async def retrieve_balance_transaction(
    ctx: Context, transaction_id: str | None, form: dict[str, Any]
) -> ApiObject:
    parse_params({}, form)
    if not transaction_id:
        raise MissingParameter("id")
    await settle(ctx)
    found = (
        await fetch_balance_transaction(ctx, transaction_id)
        if could_be_object_id(transaction_id)
        else None
    )
    if found is None:
        raise ResourceMissing("balance_transaction", transaction_id)
    return found


async def list_balance_transactions(ctx: Context, form: dict[str, Any]) -> ListPage:
    params = parse_list_params(TRANSACTIONS, form)
    if "payout" in params:
        # No payouts exist yet, so no transaction belongs to one.
        return ListPage(data=[], has_more=False)
    before = await _cursor(ctx, params, "starting_after")
    after = None if before is not None else await _cursor(ctx, params, "ending_before")
    page = await ctx.tx.list_ledger_transactions(
        ctx.account_id,
        LedgerListQuery(
            limit=params.get("limit", LIST_LIMIT_DEFAULT),
            before_seq=before,
            after_seq=after,
            equals={k: v for k, v in params.items() if k in ("type", "source", "currency")},
            created=params.get("created", {}),
        ),
    )
    return ListPage(
        data=[balance_transaction_object(row) for row in page.rows], has_more=page.has_more
    )


async def _cursor(ctx: Context, params: dict[str, Any], name: str) -> int | None:
    cursor = params.get(name)
    if not cursor:
        return None
    seq = (
        await ctx.tx.ledger_transaction_seq(ctx.account_id, cursor)
        if could_be_object_id(cursor)
        else None
    )
    if seq is None:
        raise ResourceMissing("balance_transaction", cursor, param=name)
    return seq


BALANCE = Resource(
    object_name="balance",
    id_prefix="balance",
    collection="balance",
    table=None,
    retrieve=Operation(retrieve_balance, writes=True),
    singleton=True,
)
TRANSACTIONS = Resource(
    object_name="balance_transaction",
    id_prefix="txn",
    collection="balance_transactions",
    table=None,
    retrieve=Operation(retrieve_balance_transaction, writes=True),
    list_filters=LIST_FILTERS,
    expandable=frozenset({"source"}),
    fetch=fetch_balance_transaction,
    lister=list_balance_transactions,
)
