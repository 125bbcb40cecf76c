"""A `cancel_at` after the end of the current period, reached by renewal work run late: the
period that ended before it renews first, billed up to `cancel_at` (the renewal's span cut
there), and only then does the subscription end, at `cancel_at`. Through the SDK on a real
`kassa serve` (SQLite and PostgreSQL), in real time (the `invoices` job run after both the
period's end and `cancel_at`, as a server down for that time would run it) and on a test
clock advanced past both in one jump. The ledger whole after each.

Amounts by hand: 3000 every 30 days, 100 a day; `cancel_at` 10 days after the first
period's end, so the renewal bills 10 of 30 days: 3000 * 10/30 = 1000.

The other work such a late run reaches is stamped with when it was due, not when it ran: a
trial that ended with no payment method canceled or paused at its `trial_end` (before a
later `cancel_at` as without one), an incomplete subscription expired 23 hours after its
creation, and the invoices voided by an expiry (the incomplete subscription's first, a
resumption invoice and a pending update's left unpaid 23 hours) voided then; and a late
renewal takes the discounts in force at its period's start.
"""

from __future__ import annotations

from typing import Any

import stripe

from kassa.clock import DAY_SECONDS
from kassa.services.billing.subscription_pause import RESUMPTION_EXPIRES_SECONDS
from tests.harness import KassaServer
from tests.test_subscription_changes import (
    change,
    declining,
    only_item,
    pending_of,
    requantified,
)
from tests.test_subscription_pause import pause, resume
from tests.test_subscription_pending_updates import PENDING, held_invoice
from tests.test_subscription_scheduled_end import real_time_customer
from tests.test_subscription_terms import price_of
from tests.test_subscriptions import (
    DECLINING_CARD,
    HOUR,
    JAN_31_2027,
    Client,
    advance,
    clock_customer,
    events_of,
    invoices_of,
    period_of,
    run_invoices_job_at,
    service_period,
    subscribe,
)

CUT_DAYS = 10
"""Days from the first period's end to `cancel_at`."""


def ended_at_its_cancel_at(client: Client, subscription_id: str, cancel_at: int) -> None:
    ended = client.v1.subscriptions.retrieve(subscription_id)
    assert (ended.status, ended.ended_at) == ("canceled", cancel_at)
    assert ended.cancellation_details is not None
    assert ended.cancellation_details.reason == "cancellation_requested"
    assert events_of(client, subscription_id)[-1] == "customer.subscription.deleted"


def renewed_up_to_the_end(
    client: Client, subscription_id: str, period_end: int, cancel_at: int
) -> stripe.Invoice:
    """The subscription's second and last invoice: the renewal of the period from the first
    one's end, cut at `cancel_at`."""
    _, renewal = invoices_of(client, subscription_id)
    assert renewal.billing_reason == "subscription_cycle"
    assert service_period(renewal) == (period_end, cancel_at)
    assert client.v1.subscriptions.retrieve(subscription_id).latest_invoice == renewal.id
    return renewal


def canceling_after_its_period(
    client: Client,
) -> tuple[stripe.Customer, stripe.Subscription, tuple[int, int], int]:
    """A real-time subscription at 3000 every 30 days, set to cancel `CUT_DAYS` after its
    first period ends: its customer, itself, that period, and `cancel_at`."""
    price = price_of(client, 3000, "day", 30)
    customer = real_time_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    period = period_of(subscription)
    cancel_at = period[1] + CUT_DAYS * DAY_SECONDS
    change(client, subscription.id, cancel_at=cancel_at)
    return customer, subscription, period, cancel_at


def test_a_job_run_after_the_cancel_at_bills_the_part_period_before_it(
    server: KassaServer, client: Client, ledger_verified: None
) -> None:
    _, subscription, (_, period_end), cancel_at = canceling_after_its_period(client)
    late = cancel_at + DAY_SECONDS
    assert run_invoices_job_at(server, late) >= 1
    renewal = renewed_up_to_the_end(client, subscription.id, period_end, cancel_at)
    # Stamped as any renewal the job makes late: made when it ran, for the period it bills.
    assert renewal.created == late
    (line,) = renewal.lines.data
    assert (line.period.start, line.period.end, line.amount) == (period_end, cancel_at, 1000)
    assert (renewal.status, renewal.amount_paid) == ("paid", 1000)
    run_invoices_job_at(server, late + DAY_SECONDS)
    ended_at_its_cancel_at(client, subscription.id, cancel_at)
    ended = client.v1.subscriptions.retrieve(subscription.id)
    assert period_of(ended) == (period_end, cancel_at)
    assert [i.total for i in invoices_of(client, subscription.id)] == [3000, 1000]


def test_the_late_renewal_takes_the_prorations_left_pending(
    server: KassaServer, client: Client, ledger_verified: None
) -> None:
    """Upgraded to two as of the first period's start: -3000 and +6000 pending, taken by
    the renewal with its 10 days at two (6000 * 10/30 = 2000): 5000, and no final invoice,
    nothing being left pending for one."""
    customer, subscription, (period_start, period_end), cancel_at = canceling_after_its_period(
        client
    )
    item = only_item(subscription)
    change(
        client,
        subscription.id,
        items=[{"id": item.id, "quantity": 2}],
        proration_date=period_start,
    )
    assert [i.amount for i in pending_of(client, customer.id)] == [-3000, 6000]
    late = cancel_at + DAY_SECONDS
    run_invoices_job_at(server, late)
    run_invoices_job_at(server, late + DAY_SECONDS)
    renewal = renewed_up_to_the_end(client, subscription.id, period_end, cancel_at)
    assert sorted(line.amount for line in renewal.lines.data) == [-3000, 2000, 6000]
    assert (renewal.status, renewal.total, renewal.amount_paid) == ("paid", 5000, 5000)
    ended_at_its_cancel_at(client, subscription.id, cancel_at)
    assert pending_of(client, customer.id) == []


def test_a_test_clock_advanced_past_both_in_one_jump_does_the_same(
    client: Client, ledger_verified: None
) -> None:
    """A test clock steps through each due time: the renewal at the period's end, made
    then, the end at `cancel_at`."""
    price = price_of(client, 3000, "day", 30)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    period_start, period_end = period_of(subscription)
    assert (period_start, period_end) == (JAN_31_2027, JAN_31_2027 + 30 * DAY_SECONDS)
    cancel_at = period_end + CUT_DAYS * DAY_SECONDS
    change(client, subscription.id, cancel_at=cancel_at)
    advance(client, clock_id, cancel_at + 2 * DAY_SECONDS)
    renewal = renewed_up_to_the_end(client, subscription.id, period_end, cancel_at)
    assert renewal.created == period_end
    assert (renewal.status, renewal.total, renewal.amount_paid) == ("paid", 1000, 1000)
    ended_at_its_cancel_at(client, subscription.id, cancel_at)


# -- other work reached late ---------------------------------------------------------------

TRIAL_DAYS = 5


def trial_without_card(client: Client, behavior: str) -> stripe.Subscription:
    """A real-time subscription at 3000 every 30 days on a 5-day trial, its customer with no
    payment method, `missing_payment_method` set to `behavior`."""
    price = price_of(client, 3000, "day", 30)
    customer = client.v1.customers.create(params={})
    end_behavior = {"end_behavior": {"missing_payment_method": behavior}}
    return subscribe(
        client, customer.id, price.id, trial_period_days=TRIAL_DAYS, trial_settings=end_behavior
    )


def test_a_trial_ended_unpaid_before_the_cancel_at_is_canceled_at_its_end(
    server: KassaServer, client: Client, ledger_verified: None
) -> None:
    """`cancel_at` 10 days after the trial's end, the job run a day after it: the trial's
    end came first, and the subscription was canceled then (Stripe cancels it at the trial's
    end), not at `cancel_at` nor when the job ran."""
    subscription = trial_without_card(client, "cancel")
    trial_end = int(subscription.trial_end or 0)
    cancel_at = trial_end + CUT_DAYS * DAY_SECONDS
    change(client, subscription.id, cancel_at=cancel_at)
    run_invoices_job_at(server, cancel_at + DAY_SECONDS)
    ended = client.v1.subscriptions.retrieve(subscription.id)
    assert (ended.status, ended.ended_at) == ("canceled", trial_end)
    assert ended.cancellation_details is not None
    assert ended.cancellation_details.reason == "cancellation_requested"
    assert [i.total for i in invoices_of(client, subscription.id)] == [0]


def trial_ended_late(
    server: KassaServer, client: Client, behavior: str
) -> tuple[stripe.Subscription, int]:
    """`trial_without_card`, the job first run 3 days after its trial's end: the
    subscription then, and that end."""
    subscription = trial_without_card(client, behavior)
    trial_end = int(subscription.trial_end or 0)
    run_invoices_job_at(server, trial_end + 3 * DAY_SECONDS)
    return client.v1.subscriptions.retrieve(subscription.id), trial_end


def test_a_trial_ended_unpaid_reached_late_is_canceled_at_its_end(
    server: KassaServer, client: Client, ledger_verified: None
) -> None:
    ended, trial_end = trial_ended_late(server, client, "cancel")
    assert (ended.status, ended.ended_at, ended.canceled_at) == ("canceled", trial_end, trial_end)


def test_a_trial_ended_unpaid_reached_late_is_paused_from_its_end(
    server: KassaServer, client: Client, ledger_verified: None
) -> None:
    paused, trial_end = trial_ended_late(server, client, "pause")
    assert paused.status == "paused"
    assert paused.status_details is not None and paused.status_details.paused is not None
    assert paused.status_details.paused.transitioned_at == trial_end
    assert [i.total for i in invoices_of(client, paused.id)] == [0]


def test_an_incomplete_subscription_reached_late_expired_23_hours_after_creation(
    server: KassaServer, client: Client, ledger_verified: None
) -> None:
    price = price_of(client, 3000, "day", 30)
    card: Any = {
        "payment_method": DECLINING_CARD,
        "invoice_settings": {"default_payment_method": DECLINING_CARD},
    }
    customer = client.v1.customers.create(params=card)
    subscription = subscribe(client, customer.id, price.id)
    assert subscription.status == "incomplete"
    run_invoices_job_at(server, subscription.created + 3 * DAY_SECONDS)
    expired = client.v1.subscriptions.retrieve(subscription.id)
    assert (expired.status, expired.ended_at) == (
        "incomplete_expired",
        subscription.created + 23 * HOUR,
    )
    voided = client.v1.invoices.retrieve(str(expired.latest_invoice))
    assert (voided.status, voided.status_transitions.voided_at) == ("void", expired.ended_at)


def voided_when_due(client: Client, invoice_id: str, due: int) -> None:
    voided = client.v1.invoices.retrieve(invoice_id)
    assert (voided.status, voided.status_transitions.voided_at) == ("void", due)


def test_a_resumption_invoice_reached_late_is_voided_23_hours_after_the_resume(
    server: KassaServer, client: Client, ledger_verified: None
) -> None:
    """Paused, then resumed at once (`resume_on_payment_attempt`, the default: no attempt in
    the request): its resumption invoice, not attempted, expires 23 hours after the resume;
    the job first run 3 days after the resume voids it as of then, and the subscription
    stays paused."""
    price = price_of(client, 3000, "day", 30)
    customer = real_time_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    # Nothing credited for the time unused, so that resuming at once bills a whole period.
    pause(client, subscription.id, bill_for={"unused_time_from": {"type": "none"}})
    waiting = resume(client, subscription.id)
    invoice = client.v1.invoices.retrieve(str(waiting.latest_invoice))
    assert (waiting.status, invoice.status) == ("paused", "open")
    run_invoices_job_at(server, invoice.created + 3 * DAY_SECONDS)
    voided_when_due(client, invoice.id, invoice.created + RESUMPTION_EXPIRES_SECONDS)
    assert client.v1.subscriptions.retrieve(subscription.id).status == "paused"


def test_a_pending_update_reached_late_expires_23_hours_after_the_update(
    server: KassaServer, client: Client, ledger_verified: None
) -> None:
    """Tripled with `pending_if_incomplete` on a declining card: the update, unpaid, expires
    at its `expires_at` (23 hours on); the job first run 3 days later voids its invoice as
    of then, and the quantity that stood stays."""
    price = price_of(client, 3000, "day", 30)
    customer = real_time_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    declining(client, customer.id, subscription.id)
    held = requantified(client, subscription, 3, payment_behavior=PENDING)
    assert held.pending_update is not None
    expires_at = held.pending_update.expires_at
    run_invoices_job_at(server, expires_at + 3 * DAY_SECONDS)
    voided_when_due(client, held_invoice(client, held).id, expires_at)
    expired = client.v1.subscriptions.retrieve(subscription.id)
    assert (expired.pending_update, only_item(expired).quantity) == (None, 1)


def test_a_late_renewal_takes_the_discounts_in_force_at_its_start(
    server: KassaServer, client: Client, ledger_verified: None
) -> None:
    """2000 every 20 days, half off for a month from creation; `cancel_at` 15 days after the
    first period's end, the job run a day after it. The coupon was in force on day 20, the
    renewal's start (it ends about day 30): the renewal of days 20 to 35 bills 15/20 of
    2000 = 1500, half off: 750 (not 1500, as pruned when the job ran on day 36)."""
    coupon = client.v1.coupons.create(
        params={"percent_off": 50, "duration": "repeating", "duration_in_months": 1}
    )
    price = price_of(client, 2000, "day", 20)
    customer = real_time_customer(client)
    subscription = subscribe(client, customer.id, price.id, discounts=[{"coupon": coupon.id}])
    _, period_end = period_of(subscription)
    cancel_at = period_end + 15 * DAY_SECONDS
    change(client, subscription.id, cancel_at=cancel_at)
    late = cancel_at + DAY_SECONDS
    run_invoices_job_at(server, late)
    renewal = renewed_up_to_the_end(client, subscription.id, period_end, cancel_at)
    (line,) = renewal.lines.data
    assert (line.amount, renewal.subtotal, renewal.total) == (1500, 1500, 750)
    assert (renewal.status, renewal.amount_paid) == ("paid", 750)
    run_invoices_job_at(server, late + DAY_SECONDS)
    ended_at_its_cancel_at(client, subscription.id, cancel_at)
    assert [i.total for i in invoices_of(client, subscription.id)] == [1000, 750]
