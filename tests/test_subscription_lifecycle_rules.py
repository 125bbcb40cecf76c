"""Rules of a subscription's and a test clock's life that Stripe has (issue 13), through the SDK
on a real `kassa serve` (SQLite and PostgreSQL), driven by test clocks:

- `trial_settings[end_behavior][missing_payment_method]`: a trial that ends with no payment
  method (none on the subscription nor on its customer) cancels (`cancel`), pauses until
  resumed (`pause`), or is billed as usual (`create_invoice`, the default);
- canceling a subscription stops the automatic collection of its draft invoices and of all
  its customer's open ones (`auto_advance=false`): a declined renewal is retried no more, a
  one-off invoice finalized is not charged;
- a resumption invoice waiting for an attempt (`resume_on_payment_attempt`, the default) is
  voided when still not attempted 23 hours on, the subscription staying paused;
- a test clock is deleted 30 days after its creation (`deletes_after`, real time) by the
  `retention` job, its customers with it.

Amounts: a 20.00 monthly price; clocks start on January 31, 2027, 10:00 UTC."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import stripe

from kassa.clock import DAY_SECONDS, FrozenClock
from kassa.config import Settings
from kassa.services.billing.invoice_collection import RETRY_AFTER_DAYS
from kassa.services.billing.subscription_pause import RESUMPTION_EXPIRES_SECONDS
from kassa.services.test_clocks import DELETES_AFTER_SECONDS
from tests.direct_store import purge
from tests.harness import KassaServer, create_account
from tests.test_subscription_pause import ON_SUCCESS, PAUSED_ON, paused_subscription, resume
from tests.test_subscriptions import (
    HOUR,
    JAN_31_2027,
    Client,
    advance,
    clock_customer,
    decline_renewals,
    events_of,
    invoices_of,
    monthly_price,
    period_of,
    subscribe,
    utc,
)

TRIAL_DAYS = 7
TRIAL_END = JAN_31_2027 + TRIAL_DAYS * DAY_SECONDS
"""February 7, 2027, 10:00 UTC."""
PARAM = "trial_settings[end_behavior][missing_payment_method]"


def cardless_customer(client: Client) -> tuple[str, stripe.Customer]:
    """A customer on a new clock (at January 31) with no payment method at all."""
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": JAN_31_2027})
    customer = client.v1.customers.create(params={"test_clock": clock.id})
    return clock.id, customer


def on_trial_end(behavior: str) -> dict[str, Any]:
    return {"end_behavior": {"missing_payment_method": behavior}}


def behavior_of(subscription: stripe.Subscription) -> str:
    assert subscription.trial_settings is not None
    return str(subscription.trial_settings.end_behavior.missing_payment_method)


def update(client: Client, subscription_id: str, **params: Any) -> stripe.Subscription:
    sent: Any = params
    return client.v1.subscriptions.update(subscription_id, params=sent)


def refused_400(call: Any, *args: Any, **kwargs: Any) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        call(*args, **kwargs)
    error = raised.value
    assert error.http_status == 400, error
    assert error.error is not None
    assert error.error.type == "invalid_request_error"
    return error


# -- trial_settings, taken and kept ---------------------------------------------------------


def test_trial_settings_are_kept_on_create_and_update_and_a_bad_value_is_refused(
    client: Client,
) -> None:
    price = monthly_price(client)
    _, customer = cardless_customer(client)
    plain = subscribe(client, customer.id, price.id, trial_period_days=TRIAL_DAYS)
    assert behavior_of(plain) == "create_invoice"
    canceling = subscribe(
        client,
        customer.id,
        price.id,
        trial_period_days=TRIAL_DAYS,
        trial_settings=on_trial_end("cancel"),
    )
    assert behavior_of(canceling) == "cancel"
    assert behavior_of(client.v1.subscriptions.retrieve(canceling.id)) == "cancel"

    updated = update(client, plain.id, trial_settings=on_trial_end("pause"))
    assert behavior_of(updated) == "pause"
    (event,) = client.v1.events.list(
        params={"type": "customer.subscription.updated", "limit": 1}
    ).data
    assert event.data.object.to_dict()["id"] == plain.id
    assert event.data.to_dict()["previous_attributes"] == {
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}}
    }

    error = refused_400(
        subscribe,
        client,
        customer.id,
        price.id,
        trial_period_days=TRIAL_DAYS,
        trial_settings=on_trial_end("delete"),
    )
    assert error.param == PARAM
    error = refused_400(update, client, plain.id, trial_settings=on_trial_end("sometimes"))
    assert error.param == PARAM
    # Nothing written by either refusal.
    listed = client.v1.subscriptions.list(params={"customer": customer.id, "status": "all"})
    assert sorted(s.id for s in listed.data) == sorted([plain.id, canceling.id])
    assert behavior_of(client.v1.subscriptions.retrieve(plain.id)) == "pause"

    client.v1.subscriptions.cancel(canceling.id)
    refused_400(update, client, canceling.id, trial_settings=on_trial_end("pause"))


# -- the end of a trial without a payment method -----------------------------------------


def test_a_trial_ending_without_a_payment_method_cancels_the_subscription(
    client: Client, ledger_verified: None
) -> None:
    price = monthly_price(client)
    clock_id, customer = cardless_customer(client)
    subscription = subscribe(client, customer.id, price.id, trial_period_days=TRIAL_DAYS)
    # Set on update, during the trial.
    update(client, subscription.id, trial_settings=on_trial_end("cancel"))
    advance(client, clock_id, TRIAL_END + 2 * HOUR)
    ended = client.v1.subscriptions.retrieve(subscription.id)
    assert (ended.status, ended.canceled_at, ended.ended_at) == ("canceled", TRIAL_END, TRIAL_END)
    assert ended.cancellation_details is not None
    assert ended.cancellation_details.reason == "cancellation_requested"
    # No invoice but the trial's own (zero, paid at creation).
    (trial_invoice,) = invoices_of(client, subscription.id)
    assert (trial_invoice.id, trial_invoice.amount_due) == (subscription.latest_invoice, 0)
    assert events_of(client, subscription.id)[-2:] == [
        "customer.subscription.trial_will_end",
        "customer.subscription.deleted",
    ]


def test_a_trial_ending_without_a_payment_method_pauses_until_resumed(
    client: Client, ledger_verified: None
) -> None:
    price = monthly_price(client)
    clock_id, customer = cardless_customer(client)
    subscription = subscribe(
        client,
        customer.id,
        price.id,
        trial_period_days=TRIAL_DAYS,
        trial_settings=on_trial_end("pause"),
    )
    advance(client, clock_id, TRIAL_END + 2 * DAY_SECONDS)
    paused = client.v1.subscriptions.retrieve(subscription.id)
    assert paused.status == "paused"
    assert paused.status_details is not None
    details = paused.status_details.paused
    assert (details.type, details.subscription.type, details.transitioned_at) == (
        "subscription",
        "trial_end_without_payment_method",
        TRIAL_END,
    )
    assert events_of(client, subscription.id)[-2:] == [
        "customer.subscription.updated",
        "customer.subscription.paused",
    ]
    # Paused: no invoice, no new period, however long.
    advance(client, clock_id, utc(2027, 3, 20))
    still = client.v1.subscriptions.retrieve(subscription.id)
    assert (still.status, period_of(still)) == ("paused", (JAN_31_2027, TRIAL_END))
    assert [i.id for i in invoices_of(client, subscription.id)] == [subscription.latest_invoice]

    card = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    client.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": card.id}}
    )
    resumed = resume(client, subscription.id, **ON_SUCCESS)
    assert (resumed.status, resumed.status_details) == ("active", None)
    assert period_of(resumed) == (utc(2027, 3, 20), utc(2027, 4, 20))
    invoice = client.v1.invoices.retrieve(str(resumed.latest_invoice))
    assert (invoice.billing_reason, invoice.status, invoice.amount_paid) == (
        "subscription_update",
        "paid",
        2000,
    )
    assert events_of(client, subscription.id)[-1] == "customer.subscription.resumed"


def test_a_trial_ending_with_a_payment_method_is_billed_whatever_the_setting(
    client: Client, ledger_verified: None
) -> None:
    price = monthly_price(client)
    # The customer's default payment method counts ...
    clock_id, customer = clock_customer(client)
    on_customer = subscribe(
        client,
        customer.id,
        price.id,
        trial_period_days=TRIAL_DAYS,
        trial_settings=on_trial_end("cancel"),
    )
    # ... and so does the subscription's own, its customer having none.
    other_clock, cardless = cardless_customer(client)
    card = client.v1.payment_methods.attach("pm_card_visa", params={"customer": cardless.id})
    on_subscription = subscribe(
        client,
        cardless.id,
        price.id,
        trial_period_days=TRIAL_DAYS,
        trial_settings=on_trial_end("pause"),
        default_payment_method=card.id,
    )
    for clock, subscription in ((clock_id, on_customer), (other_clock, on_subscription)):
        advance(client, clock, TRIAL_END + 2 * HOUR)
        billed = client.v1.subscriptions.retrieve(subscription.id)
        assert (billed.status, period_of(billed)) == ("active", (TRIAL_END, utc(2027, 3, 7)))
        first_period = client.v1.invoices.retrieve(str(billed.latest_invoice))
        assert (first_period.billing_reason, first_period.status, first_period.amount_paid) == (
            "subscription_cycle",
            "paid",
            2000,
        )


def test_create_invoice_bills_the_first_period_even_without_a_payment_method(
    client: Client, ledger_verified: None
) -> None:
    price = monthly_price(client)
    clock_id, customer = cardless_customer(client)
    subscription = subscribe(
        client,
        customer.id,
        price.id,
        trial_period_days=TRIAL_DAYS,
        trial_settings=on_trial_end("create_invoice"),
    )
    advance(client, clock_id, TRIAL_END + 2 * HOUR)
    past_due = client.v1.subscriptions.retrieve(subscription.id)
    assert past_due.status == "past_due"
    invoice = client.v1.invoices.retrieve(str(past_due.latest_invoice))
    assert (invoice.billing_reason, invoice.status, invoice.attempt_count) == (
        "subscription_cycle",
        "open",
        1,
    )


# -- canceling stops automatic collection ------------------------------------------------------


def test_canceling_stops_the_retries_of_its_declined_renewal(
    client: Client, ledger_verified: None
) -> None:
    price = monthly_price(client)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    decline_renewals(client, customer.id)
    renewed_at = utc(2027, 2, 28)
    advance(client, clock_id, renewed_at + 2 * HOUR)
    renewal = client.v1.invoices.retrieve(
        str(client.v1.subscriptions.retrieve(subscription.id).latest_invoice)
    )
    first_retry = renewed_at + HOUR + RETRY_AFTER_DAYS[0] * DAY_SECONDS
    assert (renewal.status, renewal.attempt_count, renewal.auto_advance) == ("open", 1, True)
    assert renewal.next_payment_attempt == first_retry

    canceled = client.v1.subscriptions.cancel(subscription.id)
    assert canceled.status == "canceled"
    stopped = client.v1.invoices.retrieve(renewal.id)
    assert (stopped.status, stopped.auto_advance, stopped.next_payment_attempt) == (
        "open",
        False,
        None,
    )
    assert events_of(client, renewal.id)[-1] == "invoice.updated"

    # Past every retry date: none was made.
    advance(client, clock_id, renewed_at + 20 * DAY_SECONDS)
    after = client.v1.invoices.retrieve(renewal.id)
    assert (after.status, after.attempt_count, after.auto_advance) == ("open", 1, False)
    assert after.next_payment_attempt is None
    assert events_of(client, renewal.id).count("invoice.payment_failed") == 1
    # Collecting it by hand still works.
    paid = client.v1.invoices.pay(renewal.id, params={"payment_method": "pm_card_visa"})
    assert (paid.status, paid.amount_paid) == ("paid", 2000)
    assert client.v1.subscriptions.retrieve(subscription.id).status == "canceled"


def one_off_invoice(client: Client, customer_id: str, *, finalize: bool = True) -> stripe.Invoice:
    """A 7.00 invoice of the customer's own, auto-advancing, finalized unless told not to
    (then a draft finalized an hour after its creation)."""
    client.v1.invoice_items.create(
        params={"customer": customer_id, "amount": 700, "currency": "usd"}
    )
    invoice = client.v1.invoices.create(
        params={
            "customer": customer_id,
            "pending_invoice_items_behavior": "include",
            "auto_advance": True,
        }
    )
    return client.v1.invoices.finalize_invoice(invoice.id) if finalize else invoice


def stopped_by_cancel(client: Client, invoice_id: str) -> None:
    """Open, collected automatically no more, announced with the change it had."""
    stopped = client.v1.invoices.retrieve(invoice_id)
    assert (stopped.status, stopped.auto_advance, stopped.next_payment_attempt) == (
        "open",
        False,
        None,
    )
    update = client.v1.events.list(params={"type": "invoice.updated", "limit": 100}).data
    previous = next(
        e.data.to_dict()["previous_attributes"]
        for e in update
        if e.data.object.to_dict()["id"] == invoice_id
    )
    assert previous["auto_advance"] is True and previous["next_payment_attempt"] is not None


def test_canceling_stops_the_automatic_collection_of_all_the_customers_open_invoices(
    client: Client, ledger_verified: None
) -> None:
    """Stripe's cancel docstring: "By default, upon subscription cancellation, Stripe stops
    automatic collection of all finalized invoices for the customer." A one-off invoice
    finalized (to be charged an hour later) and another subscription's declined renewal
    stop; the customer's draft, not finalized, still advances; another customer's open
    invoice is left alone."""
    price = monthly_price(client)
    clock_id, customer = clock_customer(client)
    canceled = subscribe(client, customer.id, price.id)
    other = subscribe(client, customer.id, price.id, billing_cycle_anchor=utc(2027, 2, 10))
    settings = client.v1.customers.retrieve(customer.id).invoice_settings
    visa = settings.default_payment_method if settings else None
    decline_renewals(client, customer.id)
    advance(client, clock_id, utc(2027, 2, 10) + 2 * HOUR)
    renewal = client.v1.invoices.retrieve(
        str(client.v1.subscriptions.retrieve(other.id).latest_invoice)
    )
    assert (renewal.status, renewal.attempt_count, renewal.auto_advance) == ("open", 1, True)
    client.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": str(visa)}}
    )
    one_off = one_off_invoice(client, customer.id)
    assert (one_off.status, one_off.auto_advance) == ("open", True)
    assert one_off.next_payment_attempt is not None
    draft = one_off_invoice(client, customer.id, finalize=False)
    _, someone_else = clock_customer(client, frozen_time=utc(2027, 2, 10) + 2 * HOUR)
    theirs = one_off_invoice(client, someone_else.id)

    client.v1.subscriptions.cancel(canceled.id)
    for invoice_id in (one_off.id, renewal.id):
        stopped_by_cancel(client, invoice_id)
    kept = client.v1.invoices.retrieve(draft.id)
    assert (kept.status, kept.auto_advance) == ("draft", True)
    assert kept.automatically_finalizes_at == draft.automatically_finalizes_at
    assert client.v1.invoices.retrieve(theirs.id).next_payment_attempt is not None

    # Past the one-off's attempt and the renewal's retries: neither was charged.
    advance(client, clock_id, utc(2027, 3, 2))
    for invoice_id, attempts in ((one_off.id, 0), (renewal.id, 1)):
        after = client.v1.invoices.retrieve(invoice_id)
        assert (after.status, after.attempt_count, after.amount_paid) == ("open", attempts, 0)
    assert client.v1.invoices.retrieve(draft.id).status == "paid"
    assert client.v1.subscriptions.retrieve(other.id).status == "past_due"


def test_a_scheduled_end_stops_the_automatic_collection_of_the_customers_open_invoices(
    client: Client, ledger_verified: None
) -> None:
    """The end `cancel_at_period_end` scheduled is a cancellation too: on February 28 the
    customer's one-off invoice, declined on February 26 and due a retry on March 1, stops."""
    price = monthly_price(client)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id, cancel_at_period_end=True)
    decline_renewals(client, customer.id)
    advance(client, clock_id, utc(2027, 2, 26))
    one_off = one_off_invoice(client, customer.id)
    advance(client, clock_id, utc(2027, 2, 26) + 2 * HOUR)
    declined = client.v1.invoices.retrieve(one_off.id)
    assert (declined.status, declined.attempt_count) == ("open", 1)
    assert declined.next_payment_attempt is not None
    assert declined.next_payment_attempt > utc(2027, 2, 28)

    advance(client, clock_id, utc(2027, 2, 28) + HOUR)
    assert client.v1.subscriptions.retrieve(subscription.id).status == "canceled"
    stopped_by_cancel(client, one_off.id)
    advance(client, clock_id, utc(2027, 3, 20))
    assert client.v1.invoices.retrieve(one_off.id).attempt_count == 1


def test_deleting_a_customer_cancels_its_subscriptions_at_once(
    client: Client, ledger_verified: None
) -> None:
    price = monthly_price(client)
    clock_id, customer = clock_customer(client)
    first = subscribe(client, customer.id, price.id)
    second = subscribe(client, customer.id, price.id)
    advance(client, clock_id, utc(2027, 2, 10))
    _, other_customer = clock_customer(client)
    kept = subscribe(client, other_customer.id, price.id)

    client.v1.customers.delete(customer.id)
    for subscription_id in (first.id, second.id):
        ended = client.v1.subscriptions.retrieve(subscription_id)
        assert (ended.status, ended.canceled_at, ended.ended_at) == (
            "canceled",
            utc(2027, 2, 10),
            utc(2027, 2, 10),
        )
        assert ended.cancellation_details is not None
        assert ended.cancellation_details.reason == "cancellation_requested"
        assert events_of(client, subscription_id)[-1] == "customer.subscription.deleted"
    assert client.v1.subscriptions.retrieve(kept.id).status == "active"
    # No renewal comes for the canceled ones.
    advance(client, clock_id, utc(2027, 3, 5))
    assert [i.billing_reason for i in invoices_of(client, first.id)] == ["subscription_create"]


def test_canceling_before_a_renewal_draft_is_finalized_keeps_it_a_draft(client: Client) -> None:
    price = monthly_price(client)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    advance(client, clock_id, utc(2027, 2, 28) + 60)
    draft_id = str(client.v1.subscriptions.retrieve(subscription.id).latest_invoice)
    draft = client.v1.invoices.retrieve(draft_id)
    assert (draft.status, draft.automatically_finalizes_at) == ("draft", utc(2027, 2, 28) + HOUR)
    client.v1.subscriptions.cancel(subscription.id)
    advance(client, clock_id, utc(2027, 3, 2))
    kept = client.v1.invoices.retrieve(draft_id)
    assert (kept.status, kept.auto_advance, kept.automatically_finalizes_at) == (
        "draft",
        False,
        None,
    )
    assert kept.amount_paid == 0


# -- a resumption invoice left waiting --------------------------------------------------------


def test_an_unpaid_resumption_invoice_is_voided_after_23_hours(
    client: Client, ledger_verified: None
) -> None:
    clock_id, _, paused = paused_subscription(client)
    assert paused.status == "paused"
    resumed_at = utc(2027, 3, 5)
    advance(client, clock_id, resumed_at)
    # resume_on_payment_attempt (the default): no attempt in the request, nor after it.
    waiting = resume(client, paused.id)
    assert waiting.status == "paused"
    invoice_id = str(waiting.latest_invoice)
    expires_at = resumed_at + RESUMPTION_EXPIRES_SECONDS
    assert expires_at == resumed_at + 23 * HOUR

    advance(client, clock_id, expires_at - 60)
    assert client.v1.invoices.retrieve(invoice_id).status == "open"
    advance(client, clock_id, expires_at + 60)
    voided = client.v1.invoices.retrieve(invoice_id)
    assert (voided.status, voided.status_transitions.voided_at) == ("void", expires_at)
    assert voided.attempt_count == 0
    still = client.v1.subscriptions.retrieve(paused.id)
    assert (still.status, still.latest_invoice) == ("paused", invoice_id)
    assert period_of(still) == period_of(paused)
    assert still.status_details is not None
    assert still.status_details.paused.transitioned_at == PAUSED_ON

    # Nothing waits any more: it can be resumed again, and charged in the request it is.
    resumed = resume(client, paused.id, **ON_SUCCESS)
    assert resumed.status == "active"
    assert resumed.latest_invoice != invoice_id
    assert client.v1.invoices.retrieve(str(resumed.latest_invoice)).status == "paid"


def test_a_resumption_invoice_paid_in_time_is_not_voided(
    client: Client, ledger_verified: None
) -> None:
    clock_id, customer, paused = paused_subscription(client)
    decline_renewals(client, customer.id)
    resumed_at = utc(2027, 3, 5)
    advance(client, clock_id, resumed_at)
    waiting = resume(client, paused.id)
    invoice_id = str(waiting.latest_invoice)
    advance(client, clock_id, resumed_at + 2 * HOUR)
    client.v1.invoices.pay(invoice_id, params={"payment_method": "pm_card_visa"})
    advance(client, clock_id, resumed_at + 2 * DAY_SECONDS)
    assert client.v1.invoices.retrieve(invoice_id).status == "paid"
    active = client.v1.subscriptions.retrieve(paused.id)
    assert (active.status, period_of(active)) == ("active", (resumed_at, utc(2027, 4, 5)))


# -- test clocks deleted after 30 days --------------------------------------------------------


def test_a_test_clock_is_deleted_30_days_after_its_creation_by_the_retention_job(
    private_database_url: str, tmp_path: Path
) -> None:
    """On a server of its own, so that the job's counts are this test's clocks alone."""
    server = KassaServer(private_database_url, tmp_path / "kassa.log").start()
    try:
        client = server.client(create_account(private_database_url).secret_key)
        # Its own time is years away from real time: real time is what counts.
        clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": JAN_31_2027})
        assert clock.deletes_after == clock.created + DELETES_AFTER_SECONDS
        customer = client.v1.customers.create(params={"test_clock": clock.id})
        kept = client.v1.customers.create(params={"email": "no-clock@example.com"})
        retention_days = Settings().request_log_retention_days

        def purge_at(now: int) -> int:
            return purge(server.database_url, FrozenClock(now), retention_days).test_clocks

        assert purge_at(clock.deletes_after - 1) == 0
        assert client.v1.test_helpers.test_clocks.retrieve(clock.id).id == clock.id
        assert client.v1.customers.retrieve(customer.id).to_dict().get("deleted") is None

        assert purge_at(clock.deletes_after) == 1
        with pytest.raises(stripe.InvalidRequestError) as raised:
            client.v1.test_helpers.test_clocks.retrieve(clock.id)
        assert (raised.value.http_status, raised.value.code) == (404, "resource_missing")
        assert client.v1.test_helpers.test_clocks.list().data == []
        assert client.v1.customers.retrieve(customer.id).to_dict().get("deleted") is True
        assert client.v1.customers.retrieve(kept.id).to_dict().get("deleted") is None
        (event,) = client.v1.events.list(params={"type": "test_helpers.test_clock.deleted"}).data
        assert event.data.object.to_dict()["id"] == clock.id
        assert event.created == clock.deletes_after
        # Done once.
        assert purge_at(clock.deletes_after + DAY_SECONDS) == 0
        # A newer clock is not due yet.
        newer = client.v1.test_helpers.test_clocks.create(params={"frozen_time": JAN_31_2027})
        assert purge_at(int(time.time()) + DAY_SECONDS) == 0
        assert client.v1.test_helpers.test_clocks.retrieve(newer.id).status == "ready"
    finally:
        server.stop()
