"""The final invoice of a subscription: what it left pending (its prorations, items given to
it), invoiced when it ends, by a cancellation's `invoice_now` (at once) or by a scheduled end
(`cancel_at`, `cancel_at_period_end`: `subscription_cycle.end_as_scheduled`, at its
`cancel_at`, however late the work that ends it runs).

It is an invoice made while its subscription's collection may be paused: under
`pause_collection` it is treated as a renewal's would be (`subscription_pause.
collect_per_pause`: kept a draft, marked uncollectible or voided; Stripe's pause-payment
guide: while collection is paused "invoices continue to generate, but Stripe doesn't collect
payment"), else finalized and charged (or sent) at once. One the pause voids takes no pending
items, as a renewal's (`subscription_pending.voided_by_pause`): they stay pending, the
customer's once the subscription has ended (`subscription_pending`), for the customer's next
invoice; a scheduled end with nothing else to invoice then makes none (`final_items`).

Its own module because it joins the change path (`subscription_changes`, which makes and
collects it) and the pause (`subscription_pause`, which imports the change path)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kassa.services.billing.subscription_changes import collect_final, draft_final
from kassa.services.billing.subscription_pause import collect_per_pause
from kassa.services.billing.subscription_pending import FINAL, pending_for
from kassa.services.context import Context
from kassa.services.resource import ApiObject


async def final_items(ctx: Context, subscription: Mapping[str, Any]) -> list[ApiObject]:
    """What a final invoice made now would take (none pending: a scheduled end makes no
    invoice, `subscription_cycle.end_as_scheduled`)."""
    return await pending_for(ctx, subscription, FINAL, voidable_at=ctx.now())


async def invoice_final(
    ctx: Context,
    subscription: ApiObject,
    billing_reason: str = "subscription_update",
    *,
    end: int | None = None,
) -> ApiObject:
    """The subscription's final invoice, over its current period up to `end` (when it ends;
    now unless given), collected now unless its collection is paused."""
    at = ctx.as_of(end)
    # Whether the pause voids it is decided now (`collect_per_pause`), whatever its end.
    invoice = await draft_final(ctx, subscription, billing_reason, at, voidable_at=ctx.now())
    await collect_per_pause(ctx, subscription, invoice)
    # `collect_per_pause` leaves `pause_collection` set only when the pause decided the
    # invoice's fate (past its `resumes_at`, it clears it and leaves the invoice to us).
    if subscription["pause_collection"] is None:
        await collect_final(ctx, subscription, invoice)
    subscription["latest_invoice"] = invoice["id"]
    return invoice
