"""`invoice.upcoming`: a subscription's next invoice announced before it is made. Stripe's
event: "Occurs X number of days before a subscription is scheduled to create an invoice
that is automatically charged—where X is determined by your subscriptions settings. Note:
The received `Invoice` object will not have an invoice ID." Its subscriptions webhook guide:
"Sent a few days prior to the renewal of the subscription. The number of days is based on
the number set for Upcoming renewal events in the Dashboard. For existing subscriptions,
changing the number of days takes effect on the next billing period."

X is the installation's `KASSA_UPCOMING_RENEWAL_DAYS` (`PaymentConfig.upcoming_renewal_days`,
default 7; `off`: never). Each period notes when its notice is due as it begins
(`subscription_documents.note_upcoming_notice`, so a changed X applies from the next
period), and the subscription's next work (`next_work_at`) includes it: the renewal work
(`subscription_cycle.renew`, on a test clock in clock order with the rest of its work)
sends it once per period. The notice is marked sent in the unit that announces it, so a
unit rolled back sends nothing and one run again sends no second notice.

The event's object is the invoice `POST /v1/invoices/create_preview` with that
subscription shows at that time (`invoice_preview.create_preview`: `billing_reason`
`upcoming`, its lines for the next period, pending items, discounts, credits, the
customer's balance), without its preview id (Stripe's note above), its lines naming no
invoice. It is worked out by the same steps (`subscription_preview.renewal_upcoming`,
`invoice_preview.subscription_preview`) from the subscription the renewal work holds and its
customer read once, and not copied again: the notice costs the renewal work less.

Not sent (the notice is dropped for the period): for a subscription whose renewal
is not charged automatically (`send_invoice`, `unpaid`, collection paused, canceling at or
before the period's end: `upcoming_notice_at`), when nothing is upcoming
(`invoice_upcoming_none`) or the preview is refused (logged), or once the setting is `off`
(a notice noted before is dropped when it comes due)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from kassa.errors import KassaError, NoUpcomingInvoice
from kassa.services import events
from kassa.services.billing import invoice_preview, subscription_preview
from kassa.services.billing.invoice_changes import billed_customer
from kassa.services.billing.subscription_documents import (
    current_period,
    mark_upcoming_notice_sent,
    save_facts,
    upcoming_notice_at,
)
from kassa.services.context import Context
from kassa.services.resource import ApiObject

UPCOMING_EVENT: Final = "invoice.upcoming"

log = logging.getLogger("kassa.subscriptions")


def upcoming_notice_due(subscription: ApiObject, now: int) -> bool:
    """The period's `invoice.upcoming` is due now and not sent, its renewal still to come."""
    at = upcoming_notice_at(subscription)
    return at is not None and at <= now < current_period(subscription)[1]


async def announce_upcoming(ctx: Context, subscription: ApiObject) -> None:
    """`invoice.upcoming` with the subscription's next invoice (when the setting is on and
    one is upcoming), and the period's notice marked sent, in this unit."""
    invoice = None
    if ctx.payments.upcoming_renewal_days is not None:
        invoice = await upcoming_invoice(ctx, subscription)
    mark_upcoming_notice_sent(subscription)
    await save_facts(ctx, subscription)
    if invoice is not None:
        await events.announce(ctx, UPCOMING_EVENT, invoice)


async def upcoming_invoice(ctx: Context, subscription: Mapping[str, Any]) -> ApiObject | None:
    """The subscription's next invoice as `create_preview` with that subscription shows it
    now, as the event carries it; None when nothing is upcoming. `subscription` is the
    renewal work's document, as stored (every change before the notice saved): worked out
    from it and the customer read once (`subscription_preview.renewal_upcoming`,
    `invoice_preview.subscription_preview`), rather than through `create_preview`, which
    would read both again (the customer twice) and copy the invoice it answers."""
    subscription_id = str(subscription["id"])
    try:
        customer = await billed_customer(ctx, str(subscription["customer"]))
        upcoming = await subscription_preview.renewal_upcoming(ctx, subscription, customer)
        preview = await invoice_preview.subscription_preview(ctx, upcoming, customer)
    except NoUpcomingInvoice:
        return None
    except KassaError as error:
        # The notice is advisory: a preview Kassa refuses must not stop the renewal work
        # (a test clock would stop with `internal_failure`); the period goes unannounced.
        log.warning("no invoice.upcoming for %s, its preview failed: %s", subscription_id, error)
        return None
    return _without_preview_id(preview)


def _without_preview_id(preview: ApiObject) -> ApiObject:
    """Stripe: "The received `Invoice` object will not have an invoice ID": the preview's
    `upcoming_in_` id is left out, and its lines name no invoice. `preview` is the caller's
    own (not a copy of anything kept): changed in place."""
    del preview["id"]
    for line in preview["lines"]["data"]:
        line["invoice"] = None
    return preview
