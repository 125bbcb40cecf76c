"""The observers of domain writes, installed on import.

They are told of domain writes inside the writing transaction: the dashboard's home chart
counters; billing, which pays an invoice when its PaymentIntent succeeds on any path (the
3-D Secure test helper or page, a confirmation by the integration) and records a failed
attempt when it fails; and Checkout, which completes a payment-mode session when its
PaymentIntent succeeds off the page.

Every process that stores charges or confirms intents imports this module: `kassa serve` and
`kassa worker` through the composition root (`kassa.runtime`), `kassa import` directly. A
process that does not fails on its first charge or confirmation (`hooks.installed`) instead
of leaving the counters short or an invoice open after its payment succeeded. It is apart
from the composition root so that a command writing through the services alone loads none
of the server (the apps, the dashboard's pages, the PDF renderer): about half a second of
each `kassa import`.
"""

from __future__ import annotations

from kassa.dashboard.views.home import CHARGE_OBSERVERS
from kassa.services import checkout_completion, hooks
from kassa.services.billing import (
    customer_deletion,
    draft_customer_details,
    invoice_collection,
    subscription_cycle,
    subscription_preview,
    subscription_setup,
)

OBSERVERS = hooks.Observers(
    charge_created=CHARGE_OBSERVERS,
    payment_intent_finishing=(
        invoice_collection.lock_invoice_of_intent,
        checkout_completion.lock_session_of_intent,
    ),
    payment_intent_finished=(
        invoice_collection.intent_finished,
        checkout_completion.intent_finished,
    ),
    invoice_paid=(subscription_cycle.on_invoice_paid,),
    invoice_payment_failed=(subscription_cycle.on_invoice_payment_failed,),
    invoice_closed=(subscription_cycle.on_invoice_closed,),
    subscription_upcoming=subscription_preview.upcoming,
    payment_intent_invoice=invoice_collection.invoice_of_intent,
    setup_intent_succeeded=(subscription_setup.setup_intent_succeeded,),
    customer_deleted=(customer_deletion.customer_deleted,),
    customer_details_changed=(draft_customer_details.refresh_drafts,),
)

hooks.install(OBSERVERS)
