"""What the dashboard's payouts pages show: the list (filter: status) and one payout with
the balance transactions it moved (its own, the one that gave it back if it was canceled or
failed, and, for an automatic payout, those it swept).

Both read through the payouts service, in a write unit: reading a payout brings it up to date
with the clock first, as the API does.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Final

from kassa.errors import ResourceMissing
from kassa.services import balance, payouts
from kassa.services.context import Context
from kassa.services.listing import could_be_object_id
from kassa.services.resource import ApiObject

SWEPT_SHOWN_MAX: Final = 100
"""Swept balance transactions shown on a payout's page (the API lists them all)."""
STATUS_CHOICES: Final = payouts.STATUSES


@dataclass(frozen=True)
class PayoutFilters:
    status: str = ""
    starting_after: str = ""
    problems: list[str] = field(default_factory=list)

    def query(self, **changes: str) -> dict[str, str]:
        values = {"status": self.status, **changes}
        return {name: value for name, value in values.items() if value}


def parse_filters(status: str, starting_after: str) -> PayoutFilters:
    problems = []
    if status and status not in STATUS_CHOICES:
        problems.append(f"There is no payout status {status!r}; showing every status.")
        status = ""
    return PayoutFilters(
        status=status,
        starting_after=starting_after if could_be_object_id(starting_after) else "",
        problems=problems,
    )


@dataclass(frozen=True)
class PayoutList:
    payouts: list[ApiObject]
    next_cursor: str
    filters: PayoutFilters


async def payout_list(ctx: Context, filters: PayoutFilters, limit: int) -> PayoutList:
    params: dict[str, object] = {"limit": limit}
    if filters.status:
        params["status"] = filters.status
    problems = list(filters.problems)
    try:
        listed = await payouts.list_payouts(
            ctx, payouts.ListPayouts({**params, "starting_after": filters.starting_after})
        )
    except ResourceMissing:  # the cursor is gone: start again from the newest
        problems.append("That page is no longer available; showing the newest payouts.")
        listed = await payouts.list_payouts(ctx, payouts.ListPayouts(params))
    data: list[ApiObject] = listed["data"]
    return PayoutList(
        payouts=data,
        next_cursor=str(data[-1]["id"]) if listed["has_more"] and data else "",
        filters=dataclasses.replace(filters, problems=problems),
    )


@dataclass(frozen=True)
class PayoutDetail:
    payout: ApiObject
    moved: list[ApiObject]
    """Its own balance transactions: the payout, then a cancellation or failure."""
    swept: list[ApiObject]
    more_swept: bool


async def payout_detail(ctx: Context, payout_id: str) -> PayoutDetail:
    payout = await payouts.retrieve_payout(ctx, payout_id)
    moved = []
    for field_name in ("balance_transaction", "failure_balance_transaction"):
        transaction_id = payout[field_name]
        if isinstance(transaction_id, str):
            found = await balance.fetch_balance_transaction(ctx, transaction_id)
            if found is not None:
                moved.append(found)
    swept = await balance.balance_transactions_page(
        ctx, balance.ListBalanceTransactions(limit=SWEPT_SHOWN_MAX, payout=payout["id"])
    )
    return PayoutDetail(payout=payout, moved=moved, swept=swept.data, more_swept=swept.has_more)
