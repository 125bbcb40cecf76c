"""Which products a subscription grants its customer entitlements for, followed on every
write of the subscription (`subscription_documents.insert` and `save`, the one place
subscriptions are written: creation, item changes, every status change, a test clock's
advance alike), in the same unit of work.

A subscription grants the products of its items while its status is one of
GRANTING_STATUSES. Stripe's guide (docs.stripe.com/billing/entitlements) provisions and
de-provisions access "according to your customer's subscription status": kept while it is
`trialing`, `active` or `past_due` (its retries still running), removed when it ends
(`canceled`, `incomplete_expired`), stops being paid for (`unpaid`), has never been paid
(`incomplete`), or is `paused`. Stripe's page on pausing
(docs.stripe.com/billing/subscriptions/pause) says a paused subscription stops "both service
and billing", the customer "loses access" for the pause, and
`entitlements.active_entitlement_summary.updated` is sent with the pause to de-provision it;
the pause that follows a trial ending without a payment method is the same status ("behaves
more like a true pause"). A resumed subscription grants again.

Subscriptions written before migration 0068 are given their grants (and the entitlements
those give) by migration 0074, which keeps to GRANTING_STATUSES in SQL; such a document has
no GRANTED_PRODUCTS yet, which its next write sets (replacing its grants changes nothing).

The granted products are kept as a private fact of the subscription's document (compared on
every write: most writes change nothing here and cost nothing), and as one
`entitlement_grants` row per (subscription, product), by which a product's change of
features finds the customers it concerns (`product_features`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from kassa.ids import new_id
from kassa.invariants import ensure
from kassa.services.billing import active_entitlements
from kassa.services.context import Context
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import ENTITLEMENT_GRANTS, PRIVATE

GRANTING_STATUSES: Final = frozenset({"active", "past_due", "trialing"})
"""Kept in step with migration 0074's backfill, which names them in SQL."""
GRANTED_PRODUCTS: Final = "entitled_products"
"""Private key of a subscription: the products it grants now (sorted; absent: none yet)."""
GRANTS_PER_SUBSCRIPTION_MAX: Final = 20
"""One grant per product of the subscription's items, of which Stripe allows 20."""


def granted_products(subscription: Mapping[str, Any]) -> list[str]:
    """The distinct products of the subscription's items, if its status grants them."""
    if subscription["status"] not in GRANTING_STATUSES:
        return []
    items = subscription["items"]["data"]
    return sorted({str(item["price"]["product"]) for item in items})


async def follow_subscription(ctx: Context, subscription: dict[str, Any]) -> None:
    """Before the subscription is written: when the products it grants have changed, note
    them in its document, replace its grants and refresh its customer's entitlements."""
    granted = granted_products(subscription)
    facts: dict[str, Any] = subscription[PRIVATE]
    if facts.get(GRANTED_PRODUCTS, []) == granted:
        return
    facts[GRANTED_PRODUCTS] = granted
    customer_id = str(subscription["customer"])
    await _replace_grants(ctx, str(subscription["id"]), customer_id, granted)
    # Past a customer's bounds, the write of the subscription that took it there is refused
    # (nothing written): its items are what it grants.
    await active_entitlements.refresh_customer(ctx, customer_id, param="items")


async def _replace_grants(
    ctx: Context, subscription_id: str, customer_id: str, granted: list[str]
) -> None:
    query = ObjectListQuery(
        limit=GRANTS_PER_SUBSCRIPTION_MAX, equals={"subscription": subscription_id}
    )
    page = await ctx.tx.list_objects(ENTITLEMENT_GRANTS, ctx.account_id, query)
    ensure(not page.has_more, "a subscription grants at most one product per item")
    held = {str(grant["product"]): grant for grant in page.objects}
    for product_id, grant in held.items():
        if product_id not in granted:
            await ctx.tx.mark_object_deleted(ENTITLEMENT_GRANTS, ctx.account_id, grant["id"])
    for product_id in granted:
        if product_id not in held:
            grant = {
                "id": new_id("entgr"),
                "created": ctx.now(),
                "customer": customer_id,
                "product": product_id,
                "subscription": subscription_id,
            }
            await ctx.tx.insert_object(ENTITLEMENT_GRANTS, ctx.account_id, grant)
