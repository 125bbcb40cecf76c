"""The balance (`GET /v1/balance`) and balance transactions (retrieve, list): views of the
ledger. Reading either first posts the account's asynchronous captures
(`capture_postings`) and settles funds whose `available_on` has come, so what a caller sees
never lags the clock."""

from __future__ import annotations

from dataclasses import dataclass

from kassa.clock import Clock, unix_seconds
from kassa.errors import ResourceMissing
from kassa.ledger.settlement import settle_due
from kassa.ledger.views import balance_object, balance_transaction_object
from kassa.money import Currency
from kassa.params import Enum, Param, String, parse_params
from kassa.services import capture_postings
from kassa.services.balance_announcements import announce_available
from kassa.services.context import Context
from kassa.services.listing import (
    LIST_LIMIT_DEFAULT,
    PAGINATION_PARAMS,
    could_be_object_id,
)
from kassa.services.resource import (
    ApiObject,
    Form,
    ListPage,
    Operation,
    Resource,
    RouteIds,
    list_envelope,
    no_params,
    request_parser,
)
from kassa.store import Transaction
from kassa.store.ledger_queries import LedgerListQuery
from kassa.store.payout_queries import swept_window
from kassa.store.tables import PAYOUTS

TRANSACTION_TYPES = (
    "adjustment",
    "charge",
    "payment",
    "payment_failure_refund",
    "payment_refund",
    "payout",
    "payout_cancel",
    "payout_failure",
    "refund",
    "refund_failure",
    "stripe_fee",
)
LIST_FILTERS: dict[str, Param] = {
    "currency": Currency(),
    "payout": String(max_chars=255),
    "source": String(max_chars=255),
    "type": Enum(values=TRANSACTION_TYPES),
}


@dataclass(frozen=True)
class ListBalanceTransactions:
    """A page of the ledger's transactions, newest first, optionally filtered."""

    limit: int | None = None
    starting_after: str | None = None
    ending_before: str | None = None
    created: dict[str, int] | None = None
    """`{"eq": t}` or bounds such as `{"gte": t}`."""
    currency: str | None = None
    payout: str | None = None
    source: str | None = None
    type: str | None = None


async def settle(ctx: Context) -> int:
    """Post the account's asynchronous captures still to come (what the balance says never
    lags a payment a caller has seen succeed), then settle its due funds; announce
    `balance.available` if any moved."""
    await capture_postings.post_account_pending(ctx)
    settled = await settle_due(ctx.tx, ctx.now(), account_id=ctx.account_id)
    if settled:
        await announce_available(ctx)
    return sum(settled.values())


async def settle_all(tx: Transaction, clock: Clock) -> int:
    """The settlement worker's step: settle every account's due funds (one batch)."""
    settled = await settle_due(tx, unix_seconds(clock))
    for account_id in sorted(settled):
        await announce_available(Context(account_id=account_id, tx=tx, clock=clock))
    return sum(settled.values())


def parse_balance_retrieve(ids: RouteIds, form: Form) -> None:
    """The balance takes no parameters, and no id: an account has one balance."""
    parse_params({}, form)


async def retrieve_balance(ctx: Context, _request: None = None) -> ApiObject:
    await settle(ctx)
    return await balance_object(ctx.tx, ctx.account_id, ctx.livemode)


async def fetch_balance_transaction(ctx: Context, transaction_id: str) -> ApiObject | None:
    row = await ctx.tx.get_ledger_transaction(ctx.account_id, transaction_id)
    return None if row is None else balance_transaction_object(row)


async def retrieve_balance_transaction(ctx: Context, transaction_id: str) -> ApiObject:
    await settle(ctx)
    found = (
        await fetch_balance_transaction(ctx, transaction_id)
        if could_be_object_id(transaction_id)
        else None
    )
    if found is None:
        raise ResourceMissing("balance_transaction", transaction_id)
    return found


async def list_balance_transactions(ctx: Context, request: ListBalanceTransactions) -> ApiObject:
    await settle(ctx)
    return list_envelope(await balance_transactions_page(ctx, request), TRANSACTIONS.url)


async def balance_transactions_page(ctx: Context, request: ListBalanceTransactions) -> ListPage:
    before = await _cursor(ctx, request.starting_after, "starting_after")
    after = (
        None if before is not None else await _cursor(ctx, request.ending_before, "ending_before")
    )
    if request.payout is not None:
        return await _swept_page(ctx, request, before, after)
    filters = {"type": request.type, "source": request.source, "currency": request.currency}
    page = await ctx.tx.list_ledger_transactions(
        ctx.account_id,
        LedgerListQuery(
            limit=request.limit if request.limit is not None else LIST_LIMIT_DEFAULT,
            before_seq=before,
            after_seq=after,
            equals={name: value for name, value in filters.items() if value is not None},
            created=request.created if request.created is not None else {},
        ),
    )
    return ListPage(
        data=[balance_transaction_object(row) for row in page.rows], has_more=page.has_more
    )


async def _swept_page(
    ctx: Context, request: ListBalanceTransactions, before: int | None, after: int | None
) -> ListPage:
    """The transactions an automatic payout swept (none for a manual one, as on Stripe)."""
    found = (
        await ctx.tx.get_object(PAYOUTS, ctx.account_id, request.payout, lock=False)
        if request.payout and could_be_object_id(request.payout)
        else None
    )
    if found is None:
        raise ResourceMissing("payout", request.payout or "", param="payout")
    limit = request.limit if request.limit is not None else LIST_LIMIT_DEFAULT
    window = swept_window(found[0], limit, before, after)
    if window is None:
        return ListPage(data=[], has_more=False)
    rows, has_more = await ctx.tx.swept_transactions(window)
    return ListPage(data=[balance_transaction_object(row) for row in rows], has_more=has_more)


async def _cursor(ctx: Context, cursor: str | None, name: str) -> int | None:
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
    # Retrieving settles due funds first, so it writes.
    retrieve=Operation(parse_balance_retrieve, retrieve_balance, writes=True),
    singleton=True,
    event_types=("balance.available",),
)
TRANSACTIONS = Resource(
    object_name="balance_transaction",
    id_prefix="txn",
    collection="balance_transactions",
    table=None,
    retrieve=Operation(no_params, retrieve_balance_transaction, writes=True),
    lister=Operation(
        request_parser(ListBalanceTransactions, {**PAGINATION_PARAMS, **LIST_FILTERS}),
        list_balance_transactions,
        writes=True,  # as retrieving: due funds settle first, so every read agrees
    ),
    expandable={"source": ("charge", "refund", "dispute", "payout")},
    fetch=fetch_balance_transaction,
)
