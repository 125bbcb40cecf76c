"""The steps a renewal takes on a subscription's document, in one place for the renewal
itself (`subscription_cycle`) and for its preview (`subscription_preview`, on a copy), so
the preview cannot show another renewal than the one that happens: the items whose periods
end first (all of them unless their intervals differ) each move to their next span (to the
next boundary of their interval, prorated after a trial that ended before the anchor, or
cut short by `cancel_at`: `subscription_periods.next_item_span`), and the discounts that no
longer apply are removed (`subscription_discounts.prune_discounts`). The renewal's invoice
then bills those items for their spans (`subscription_terms.bill_part`; the preview's lines,
`subscription_terms.prorate_line`).

Starting the next period with its invoice (`invoice_next_period`) is one function for the
renewal work at a period's end, a trial's natural end included (`subscription_cycle`), and
for a trial ended now by an update (`trial_end=now`, `subscriptions`).
"""

from __future__ import annotations

from dataclasses import dataclass

from kassa.services.billing.meter_usage import usage_periods
from kassa.services.billing.subscription_discounts import prune_discounts
from kassa.services.billing.subscription_documents import set_item_period
from kassa.services.billing.subscription_invoices import invoice_period
from kassa.services.billing.subscription_pause import collect_per_pause
from kassa.services.billing.subscription_periods import Span, next_item_span, renewing_items
from kassa.services.context import Context
from kassa.services.resource import ApiObject


@dataclass(frozen=True)
class Renewal:
    items: list[ApiObject]
    """The items whose periods end first: the ones the renewal bills."""
    spans: dict[str, Span]
    """Each one's next span, by subscription item id."""
    period: tuple[int, int]
    """The span that ends first: the period of the renewal's invoice."""


def begin_next_period(subscription: ApiObject) -> Renewal:
    """Move the renewing items into their next spans and prune the discounts that no longer
    apply at the new period's start: where a renewal on time runs and a preview expects it,
    and what one made late (the real-time job after a server was down) takes too."""
    renewing = renewing_items(subscription)
    spans = {str(item["id"]): next_item_span(subscription, item) for item in renewing}
    for item in renewing:
        set_item_period(item, spans[str(item["id"])].period)
    period = min((span.period for span in spans.values()), key=lambda p: p[1])
    prune_discounts(subscription, period[0])
    return Renewal(renewing, spans, period)


async def invoice_next_period(
    ctx: Context, subscription: ApiObject, *, billing_reason: str
) -> ApiObject:
    """The renewing items begin their next period (`begin_next_period`; after a trial, the
    first paid one, and the subscription becomes `active`), invoiced on a draft with the
    customer's pending items, the discounts in force at the period's start, and its lines
    only; under `pause_collection` that draft is held as a renewal's is
    (`subscription_pause.collect_per_pause`), and one to be voided takes no pending items
    (`subscription_pending.voided_by_pause`). The draft, which the caller collects (the
    invoice work an hour on, or an update at once); the caller saves the subscription and
    announces the change."""
    # Metered items bill the usage of the period that ends (a trial's none), in arrears.
    trialing = subscription["status"] == "trialing"
    usage = None if trialing else usage_periods(renewing_items(subscription))
    renewal = begin_next_period(subscription)
    if trialing:
        subscription["status"] = "active"
    invoice = await invoice_period(
        ctx,
        subscription,
        billing_reason=billing_reason,
        trial=False,
        pending="customer",
        voidable_at=ctx.now(),
        items=renewal.items,
        spans=renewal.spans,
        discounts_at=renewal.period[0],
        until=renewal.period[0],  # the usage period that just ended, however late made
        usage=usage,
    )
    await collect_per_pause(ctx, subscription, invoice)
    subscription["latest_invoice"] = invoice["id"]
    return invoice
