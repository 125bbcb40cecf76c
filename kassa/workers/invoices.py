"""The `invoices` background job: moves subscription schedules on when their time comes
(`kassa.services.billing.subscription_schedule_transitions`), renews the subscriptions whose
period has ended
(`kassa.services.billing.subscription_cycle`), finalizes, charges and sends auto-advancing
invoices when their time comes (`kassa.services.billing.invoice_advance`), queues the
payment reminders due (`kassa.services.billing.invoice_reminders`), then writes the expiry of
the credit grants whose `expires_at` has come (`kassa.services.billing.credit_grants`), on
the clock it is given. Grants on a test clock are their clock's work, as the rest is."""

from __future__ import annotations

import logging

from kassa.services.billing.credit_grants import expire_due_grants
from kassa.services.billing.invoice_advance import advance_due_invoices
from kassa.services.billing.invoice_reminders import reschedule_reminders, send_due_reminders
from kassa.services.billing.subscription_cycle import renew_due_subscriptions
from kassa.services.billing.subscription_schedule_transitions import transition_due_schedules
from kassa.workers.polling import PollingJob, Step

ADVANCE_INTERVAL_SECONDS = 30.0
"""How often the job looks for invoices with work due: Stripe advances invoices "about an
hour" after creation, so half a minute late is within what it promises."""

INVOICES = PollingJob(
    steps=(
        # Before the renewals: a phase ending with a period sets the items its renewal bills.
        Step(transition_due_schedules, "moved %d subscription schedule steps"),
        Step(renew_due_subscriptions, "renewed %d subscriptions"),
        Step(advance_due_invoices, "advanced %d invoices"),
        Step(send_due_reminders, "queued reminders for %d invoices"),
        # Last, as on a test clock: an expired grant counts for nothing whether its debit is
        # written yet or not, so no invoice above waits on it. Grants expire on the invoices'
        # time scale (days), which this job's poll keeps, without a job of their own.
        Step(expire_due_grants, "expired %d credit grants"),
    ),
    startup=Step(reschedule_reminders, "rescheduled the reminders of %d invoices"),
    poll_seconds=ADVANCE_INTERVAL_SECONDS,
    log=logging.getLogger("kassa.invoices"),
    failed="advancing invoices failed; will retry",
)
