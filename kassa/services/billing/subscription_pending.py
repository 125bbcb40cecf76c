"""Pending invoice items as a subscription sees them: the prorations its changes made (items
whose `parent.subscription_details.subscription` names it), and the customer's items that
name no subscription, or one that has ended (the credit a cancellation with `prorate`
made), which Stripe adds to the next invoice the customer gets, a subscription's renewal
included. Items made for another live subscription wait for that one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

from kassa.services.billing import discounts, invoice_items
from kassa.services.context import Context
from kassa.services.resource import ApiObject

Scope = Literal["none", "subscription", "customer"]
"""Which pending items an invoice of a subscription takes: none (the first invoice, unless
its create added some: `add_invoice_items`), the subscription's own (its prorations and the
items an update added, on an update's invoice), or those and the customer's items that name
no subscription or an ended one (a renewal)."""
FINAL: Final[Scope] = "subscription"
"""What the final invoice of a subscription takes, canceled with `invoice_now` or ended as
scheduled, and what its preview shows: its own items, not the customer's others, which wait
for the customer's next invoice."""


def collection_paused(subscription: Mapping[str, Any], at: int) -> Mapping[str, Any] | None:
    """The subscription's `pause_collection` in force at `at`: set, its `resumes_at` not yet
    come (at it the pause clears itself: `subscription_pause.resume_collection_if_due`);
    None otherwise."""
    paused: Mapping[str, Any] | None = subscription["pause_collection"]
    if paused is None or (paused["resumes_at"] is not None and paused["resumes_at"] <= at):
        return None
    return paused


def voided_by_pause(subscription: Mapping[str, Any], at: int) -> bool:
    """Whether `pause_collection` voids an invoice of the subscription made at `at` (a
    renewal's or a final one: `subscription_pause.collect_per_pause`): `void`, its
    `resumes_at` not yet come. Such an invoice takes no pending items: they stay pending
    for the next invoice that is collected (an ended subscription's are the customer's,
    for the customer's next invoice). Stripe's pause-payment guide has `void` "offer
    services for free" for the paused periods; it says nothing of pending items, and an
    item swept onto a voided invoice is neither billed nor pending any more: a one-off
    charge given away, or a credit owed to the customer (a trial's, a downgrade's, a
    cancellation's) lost, without a word."""
    paused = collection_paused(subscription, at)
    return paused is not None and paused["behavior"] == "void"


async def pending_for(
    ctx: Context,
    subscription: Mapping[str, Any],
    scope: Scope,
    *,
    voidable_at: int | None = None,
) -> list[ApiObject]:
    """The pending items (newest first) an invoice of `subscription` takes under `scope`.
    `voidable_at`, for an invoice the pause of collection governs (a renewal's, a final
    one): when it is made; none then if the pause voids it (`voided_by_pause`)."""
    if scope == "none":
        return []
    if voidable_at is not None and voided_by_pause(subscription, voidable_at):
        return []
    pending = await invoice_items.pending_items(
        ctx, str(subscription["customer"]), str(subscription["currency"]), of_subscriptions=True
    )
    mine = subscription["id"]
    if scope != "customer":
        return [item for item in pending if discounts.parent_subscription(item) == mine]
    return await invoice_items.not_waiting(ctx, pending, for_subscription=str(mine))


async def take(ctx: Context, items: list[ApiObject], invoice_id: str) -> list[ApiObject]:
    """Put the items on the draft `invoice_id` (each re-read under its lock: another invoice
    may have taken it first); the caller works the draft's lines out again."""
    return await invoice_items.take_items(ctx, items, invoice_id)


async def discard_prorations(ctx: Context, subscription: Mapping[str, Any]) -> int:
    """Delete the subscription's pending proration items (a cancellation that neither
    prorates nor invoices now drops them, as Stripe does); the number deleted."""
    dropped = 0
    for item in await pending_for(ctx, subscription, "subscription"):
        if item.get("proration"):
            await invoice_items.delete_invoice_item(ctx, str(item["id"]))
            dropped += 1
    return dropped
