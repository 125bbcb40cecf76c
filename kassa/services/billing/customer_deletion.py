"""What deleting a customer does to its subscriptions (and subscription schedules): Stripe
cancels them at once.

Customers (the core) must not import billing's subscriptions, which build on customers: the
deletion reaches here through `hooks.customer_deleted`, installed by `kassa.runtime`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from kassa.errors import InvalidRequest
from kassa.services.billing.subscription_documents import LISTED_BY_DEFAULT
from kassa.services.billing.subscription_schedule_documents import announce, end_as, find, save
from kassa.services.billing.subscriptions import RESOURCE, cancel_now
from kassa.services.context import Context
from kassa.services.listing import load_live_object
from kassa.services.resource import ApiObject
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import SUBSCRIPTION_SCHEDULES, SUBSCRIPTIONS, ObjectTable

SUBSCRIPTIONS_ENDED_WITH_CUSTOMER_MAX: Final = 10_000
"""A deleted customer's subscriptions canceled in its deletion's unit of work, at most."""
_ENDING_PAGE: Final = 100


async def customer_deleted(ctx: Context, customer: ApiObject) -> None:
    """Deleting a customer cancels its subscriptions at once, as Stripe does ("Also
    immediately cancels any active subscriptions on the customer"): each as a `DELETE` sent
    nothing cancels it (`subscriptions.cancel_now`): no proration, its pending prorations
    dropped, an end it had scheduled no longer pending and `canceled_at` now,
    `customer.subscription.deleted` for each (and the schedule governing it canceled with
    it, `subscriptions.end_subscription`). Its subscription schedules not started yet are
    canceled too (`subscription_schedule.canceled`): they would start a subscription for a
    customer that is gone."""
    await _end_each(ctx, SUBSCRIPTION_SCHEDULES, customer, ("not_started",), _cancel_schedule)
    await _end_each(ctx, SUBSCRIPTIONS, customer, LISTED_BY_DEFAULT, _cancel_subscription)


async def _cancel_schedule(ctx: Context, schedule_id: str) -> None:
    schedule = await find(ctx, schedule_id)
    if schedule is not None and schedule["status"] == "not_started":
        end_as(schedule, "canceled", ctx.now())
        await save(ctx, schedule)
        await announce(ctx, "subscription_schedule.canceled", schedule)


async def _cancel_subscription(ctx: Context, subscription_id: str) -> None:
    subscription = await load_live_object(ctx, RESOURCE, subscription_id)
    governed = await ctx.governed_by(subscription)
    await cancel_now(governed, subscription, "cancellation_requested")


async def _end_each(
    ctx: Context,
    table: ObjectTable,
    customer: ApiObject,
    statuses: tuple[str, ...],
    end: Callable[[Context, str], Awaitable[None]],
) -> None:
    """`end` each of the customer's objects of `table` in `statuses`, a page at a time
    (each ended leaves `statuses`, so every page is read from the first), at most
    SUBSCRIPTIONS_ENDED_WITH_CUSTOMER_MAX (more: the deletion is refused)."""
    for _ in range(SUBSCRIPTIONS_ENDED_WITH_CUSTOMER_MAX // _ENDING_PAGE):
        page = await ctx.tx.list_objects(
            table,
            ctx.account_id,
            ObjectListQuery(
                limit=_ENDING_PAGE,
                equals={"customer": customer["id"]},
                any_of={"status": statuses},
            ),
        )
        for listed in page.objects:
            await end(ctx, str(listed["id"]))
        if not page.has_more:
            return
    raise InvalidRequest(
        f"Customer {customer['id']} has more than {SUBSCRIPTIONS_ENDED_WITH_CUSTOMER_MAX} "
        f"{table.name.replace('_', ' ')}; cancel some before deleting it."
    )
