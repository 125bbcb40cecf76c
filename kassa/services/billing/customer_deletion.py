"""What deleting a customer does to its subscriptions: Stripe cancels them at once.

Customers (the core) must not import billing's subscriptions, which build on customers: the
deletion reaches here through `hooks.customer_deleted`, installed by `kassa.runtime`.
"""

from __future__ import annotations

from typing import Final

from kassa.errors import InvalidRequest
from kassa.services.billing.subscription_documents import LISTED_BY_DEFAULT
from kassa.services.billing.subscriptions import RESOURCE, cancel_now
from kassa.services.context import Context
from kassa.services.listing import load_live_object
from kassa.services.resource import ApiObject
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import SUBSCRIPTIONS

SUBSCRIPTIONS_ENDED_WITH_CUSTOMER_MAX: Final = 10_000
"""A deleted customer's subscriptions canceled in its deletion's unit of work, at most."""
_ENDING_PAGE: Final = 100


async def customer_deleted(ctx: Context, customer: ApiObject) -> None:
    """Deleting a customer cancels its subscriptions at once, as Stripe does ("Also
    immediately cancels any active subscriptions on the customer"): each as a `DELETE` sent
    nothing cancels it (`subscriptions.cancel_now`): no proration, its pending prorations
    dropped, an end it had scheduled no longer pending and `canceled_at` now,
    `customer.subscription.deleted` for each."""
    for _ in range(SUBSCRIPTIONS_ENDED_WITH_CUSTOMER_MAX // _ENDING_PAGE):
        page = await ctx.tx.list_objects(
            SUBSCRIPTIONS,
            ctx.account_id,
            ObjectListQuery(
                limit=_ENDING_PAGE,
                equals={"customer": customer["id"]},
                any_of={"status": LISTED_BY_DEFAULT},
            ),
        )
        for listed in page.objects:
            subscription = await load_live_object(ctx, RESOURCE, listed["id"])
            governed = await ctx.governed_by(subscription)
            await cancel_now(governed, subscription, "cancellation_requested")
        if not page.has_more:
            return
    raise InvalidRequest(
        f"Customer {customer['id']} has more than {SUBSCRIPTIONS_ENDED_WITH_CUSTOMER_MAX} "
        "subscriptions; cancel some before deleting it."
    )
