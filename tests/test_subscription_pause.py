"""Pausing and resuming subscriptions, and pausing only their payment collection, through the
SDK on a real `kassa serve` (SQLite and PostgreSQL), driven by test clocks: the pause's credit
for the unused time, no invoices while paused, a resume that starts a new period now or
continues the old one (its prorations invoiced now, left pending, or none), the two
`payment_behavior`s (resumed by the first attempt on the resumption invoice, or only once it
is paid) and declined resumptions, refusals naming what is wrong with nothing written,
`pause_collection`'s three behaviors and its end; the ledger whole after each.

Amounts are worked by hand: a 20.00 monthly price anchored on January 31, 10:00 UTC, whose
periods end on February 28, March 31, April 30 (clamped as Stripe clamps them)."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from kassa.clock import DAY_SECONDS
from tests.harness import KassaServer
from tests.test_subscription_cancel_credit import manual_invoice_of_1000
from tests.test_subscription_terms import price_of
from tests.test_subscriptions import (
    DECLINING_CARD,
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
    run_invoices_job_at,
    subscribe,
    utc,
)

ON_SUCCESS = {"payment_behavior": "resume_on_payment_success"}
"""The resume that charges in the request (the default waits for an attempt on its invoice)."""
PAUSED_ON = utc(2027, 2, 10)
"""18 of the first period's 28 days are still to come: a pause then credits
2000 * 18/28 = 1285.71, 1286."""


def pause(client: Client, subscription_id: str, **params: Any) -> stripe.Subscription:
    return client.v1.subscriptions.pause(subscription_id, params=params)  # type: ignore[arg-type]


def resume(client: Client, subscription_id: str, **params: Any) -> stripe.Subscription:
    return client.v1.subscriptions.resume(subscription_id, params=params)  # type: ignore[arg-type]


def pending_items(client: Client, customer_id: str) -> list[stripe.InvoiceItem]:
    listed = client.v1.invoice_items.list(params={"customer": customer_id, "pending": True})
    return list(listed.auto_paging_iter())


def paused_subscription(
    client: Client, **pause_params: Any
) -> tuple[str, stripe.Customer, stripe.Subscription]:
    """A 20.00 monthly subscription from January 31, paused on February 10."""
    price = monthly_price(client)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    advance(client, clock_id, PAUSED_ON)
    paused = pause(client, subscription.id, **pause_params)
    return clock_id, customer, paused


# -- pause, then resume with a new period now -------------------------------------------------


def test_a_pause_credits_the_unused_time_and_stops_invoices_until_resumed(
    client: Client, ledger_verified: None
) -> None:
    clock_id, customer, paused = paused_subscription(client)
    assert paused.status == "paused"
    assert paused.status_details is not None
    details = paused.status_details.paused
    assert (details.type, details.subscription.type, details.transitioned_at) == (
        "subscription",
        "pause_requested",
        PAUSED_ON,
    )
    assert events_of(client, paused.id)[-2:] == [
        "customer.subscription.updated",
        "customer.subscription.paused",
    ]
    (credit,) = pending_items(client, customer.id)
    assert (credit.amount, credit.proration) == (-1286, True)
    assert (credit.period.start, credit.period.end) == (PAUSED_ON, utc(2027, 2, 28))
    # Paused past two period ends: no invoice, no new period.
    advance(client, clock_id, utc(2027, 4, 5))
    still = client.v1.subscriptions.retrieve(paused.id)
    assert (still.status, period_of(still)) == ("paused", (JAN_31_2027, utc(2027, 2, 28)))
    assert len(invoices_of(client, paused.id)) == 1

    # resume_on_payment_attempt (the default): no attempt in the request, still paused
    # until the integration pays the invoice.
    waiting = resume(client, paused.id)
    assert (waiting.status, period_of(waiting)) == ("paused", period_of(paused))
    assert events_of(client, paused.id)[-1] == "customer.subscription.updated"
    client.v1.invoices.pay(str(waiting.latest_invoice))
    resumed = client.v1.subscriptions.retrieve(paused.id)
    resumed_at = utc(2027, 4, 5)
    assert (resumed.status, resumed.status_details) == ("active", None)
    assert resumed.latest_invoice == waiting.latest_invoice
    assert resumed.billing_cycle_anchor == resumed_at
    assert period_of(resumed) == (resumed_at, utc(2027, 5, 5))
    invoice = client.v1.invoices.retrieve(str(resumed.latest_invoice))
    assert (invoice.billing_reason, invoice.status) == ("subscription_update", "paid")
    # The new period in full, less the pause's credit: 2000 - 1286.
    assert sorted(line.amount for line in invoice.lines.data) == [-1286, 2000]
    assert invoice.amount_paid == 714
    assert pending_items(client, customer.id) == []
    kinds = events_of(client, paused.id)
    assert kinds[-2:] == ["customer.subscription.updated", "customer.subscription.resumed"]
    # It renews on the new anchor.
    advance(client, clock_id, utc(2027, 5, 5) + 2 * HOUR)
    renewed = client.v1.subscriptions.retrieve(paused.id)
    renewal = client.v1.invoices.retrieve(str(renewed.latest_invoice))
    assert (renewal.billing_reason, renewal.period_end, renewal.amount_paid) == (
        "subscription_cycle",
        utc(2027, 5, 5),
        2000,
    )


def test_a_pause_credits_from_the_period_start_or_not_at_all(
    client: Client, ledger_verified: None
) -> None:
    _, whole, _ = paused_subscription(
        client, bill_for={"unused_time_from": {"type": "item_current_period_start"}}
    )
    assert [i.amount for i in pending_items(client, whole.id)] == [-2000]
    _, nothing, _ = paused_subscription(client, bill_for={"unused_time_from": {"type": "none"}})
    assert pending_items(client, nothing.id) == []


def test_invoicing_behavior_invoice_credits_the_customer_at_once(
    client: Client, ledger_verified: None
) -> None:
    _, customer, paused = paused_subscription(client, invoicing_behavior="invoice")
    invoice = client.v1.invoices.retrieve(str(paused.latest_invoice))
    assert (invoice.status, invoice.total, invoice.amount_due) == ("paid", -1286, 0)
    assert client.v1.customers.retrieve(customer.id).balance == -1286
    assert pending_items(client, customer.id) == []


# -- resume on the old anchor -----------------------------------------------------------------


def test_resuming_unchanged_with_always_invoice_bills_the_rest_of_the_period(
    client: Client, ledger_verified: None
) -> None:
    clock_id, customer, paused = paused_subscription(
        client, bill_for={"unused_time_from": {"type": "none"}}
    )
    advance(client, clock_id, utc(2027, 3, 10))
    resumed = resume(
        client,
        paused.id,
        billing_cycle_anchor={"type": "unchanged"},
        proration_behavior="always_invoice",
        **ON_SUCCESS,
    )
    assert resumed.status == "active"
    assert resumed.billing_cycle_anchor == JAN_31_2027
    assert period_of(resumed) == (utc(2027, 2, 28), utc(2027, 3, 31))
    invoice = client.v1.invoices.retrieve(str(resumed.latest_invoice))
    # 21 of the period's 31 days remain: 2000 * 21/31 = 1354.84, 1355.
    assert (invoice.billing_reason, invoice.status, invoice.amount_paid) == (
        "subscription_update",
        "paid",
        1355,
    )
    (line,) = invoice.lines.data
    assert (line.period.start, line.period.end) == (utc(2027, 3, 10), utc(2027, 3, 31))
    advance(client, clock_id, utc(2027, 3, 31) + 2 * HOUR)
    renewal = client.v1.invoices.retrieve(
        str(client.v1.subscriptions.retrieve(paused.id).latest_invoice)
    )
    assert (renewal.period_end, renewal.amount_paid) == (utc(2027, 3, 31), 2000)
    assert pending_items(client, customer.id) == []


def test_resuming_unchanged_in_a_period_already_paid_bills_nothing(
    client: Client, ledger_verified: None
) -> None:
    clock_id, customer, paused = paused_subscription(
        client, bill_for={"unused_time_from": {"type": "none"}}
    )
    advance(client, clock_id, utc(2027, 2, 20))
    resumed = resume(client, paused.id, billing_cycle_anchor={"type": "unchanged"})
    assert (resumed.status, resumed.latest_invoice) == ("active", paused.latest_invoice)
    assert period_of(resumed) == (JAN_31_2027, utc(2027, 2, 28))
    assert pending_items(client, customer.id) == []
    advance(client, clock_id, utc(2027, 2, 28) + 2 * HOUR)
    assert [i.amount_paid for i in invoices_of(client, paused.id)] == [2000, 2000]


def test_resuming_unchanged_leaves_its_prorations_for_the_next_renewal(
    client: Client, ledger_verified: None
) -> None:
    clock_id, customer, paused = paused_subscription(client)
    advance(client, clock_id, utc(2027, 2, 20))
    resumed = resume(client, paused.id, billing_cycle_anchor={"type": "unchanged"})
    assert resumed.status == "active"
    # The credit from the pause (-1286) and the 8 days of 28 from the resume on:
    # 2000 * 8/28 = 571.43, 571.
    assert sorted(i.amount for i in pending_items(client, customer.id)) == [-1286, 571]
    advance(client, clock_id, utc(2027, 2, 28) + 2 * HOUR)
    renewal = client.v1.invoices.retrieve(
        str(client.v1.subscriptions.retrieve(paused.id).latest_invoice)
    )
    assert (renewal.billing_reason, renewal.amount_paid) == ("subscription_cycle", 1285)
    assert pending_items(client, customer.id) == []


def test_resuming_unchanged_a_century_later_bills_the_rest_of_that_day(
    client: Client, ledger_verified: None
) -> None:
    price = price_of(client, 100, interval="day")
    jan_31_2028 = utc(2028, 1, 31)
    clock_id, customer = clock_customer(client, jan_31_2028)
    subscription = subscribe(client, customer.id, price.id)
    paused = pause(client, subscription.id, bill_for={"unused_time_from": {"type": "none"}})
    # 36,527 days on (more daily periods than a century has), at 22:00: the period on the
    # old anchor holding now is that day's, from 10:00; 12 of its 24 hours remain:
    # 100 * 12/24 = 50.
    day_start = jan_31_2028 + 36_527 * DAY_SECONDS
    advance(client, clock_id, day_start + 12 * HOUR)
    resumed = resume(
        client,
        paused.id,
        billing_cycle_anchor={"type": "unchanged"},
        proration_behavior="always_invoice",
        **ON_SUCCESS,
    )
    assert (resumed.status, resumed.billing_cycle_anchor) == ("active", jan_31_2028)
    assert period_of(resumed) == (day_start, day_start + DAY_SECONDS)
    invoice = client.v1.invoices.retrieve(str(resumed.latest_invoice))
    assert (invoice.status, invoice.amount_paid) == ("paid", 50)


# -- resume_on_payment_attempt (the default) ---------------------------------------------------

RESUMED_ON = utc(2027, 3, 5)
"""The resumes below: a new month from March 5, 2000 less the pause's credit (1286), 714."""


def waiting_for_an_attempt(client: Client) -> tuple[str, stripe.Subscription, stripe.Invoice]:
    """(clock, the subscription, its resumption invoice) after a default resume on March 5,
    the customer's card declining: still paused, its invoice open and never attempted."""
    clock_id, customer, paused = paused_subscription(client)
    decline_renewals(client, customer.id)
    advance(client, clock_id, RESUMED_ON)
    waiting = resume(client, paused.id)
    assert (waiting.status, waiting.status_details) == ("paused", paused.status_details)
    assert (waiting.billing_cycle_anchor, period_of(waiting)) == (JAN_31_2027, period_of(paused))
    invoice = client.v1.invoices.retrieve(str(waiting.latest_invoice))
    return clock_id, waiting, invoice


def test_a_default_resume_attempts_nothing_and_the_first_payment_resumes_it(
    client: Client, ledger_verified: None
) -> None:
    """Stripe's changelog (dahlia, 2026-05-27): `resume_on_payment_attempt` makes "no payment
    attempt during the resume request"; the invoice finalized, not charged nor charged later
    by itself; paid, the subscription resumes into the period it bills."""
    clock_id, waiting, invoice = waiting_for_an_attempt(client)
    assert (invoice.billing_reason, invoice.status, invoice.amount_due) == (
        "subscription_update",
        "open",
        714,
    )
    assert (invoice.attempted, invoice.attempt_count, invoice.amount_paid) == (False, 0, 0)
    assert (invoice.auto_advance, invoice.next_payment_attempt) == (False, None)
    assert events_of(client, waiting.id)[-1] == "customer.subscription.updated"
    advance(client, clock_id, RESUMED_ON + 20 * HOUR)
    assert client.v1.invoices.retrieve(invoice.id).attempt_count == 0
    assert client.v1.subscriptions.retrieve(waiting.id).status == "paused"

    client.v1.invoices.pay(invoice.id, params={"payment_method": "pm_card_visa"})
    resumed = client.v1.subscriptions.retrieve(waiting.id)
    assert (resumed.status, resumed.status_details) == ("active", None)
    assert (resumed.billing_cycle_anchor, period_of(resumed)) == (
        RESUMED_ON,
        (RESUMED_ON, utc(2027, 4, 5)),
    )
    assert events_of(client, waiting.id)[-2:] == [
        "customer.subscription.updated",
        "customer.subscription.resumed",
    ]
    # Resumed: nothing expires at 23 hours.
    advance(client, clock_id, RESUMED_ON + 2 * DAY_SECONDS)
    assert client.v1.invoices.retrieve(invoice.id).status == "paid"
    assert client.v1.subscriptions.retrieve(waiting.id).status == "active"


def test_a_default_resume_whose_first_attempt_fails_is_past_due_and_not_retried(
    client: Client, ledger_verified: None
) -> None:
    """ "If collecting payment on the resumed subscription's invoice fails (for example with
    Pay Invoice), the subscription moves to `past_due`, and Stripe doesn't retry failed
    payments" (the changelog)."""
    clock_id, waiting, invoice = waiting_for_an_attempt(client)
    with pytest.raises(stripe.CardError):
        client.v1.invoices.pay(invoice.id)
    past_due = client.v1.subscriptions.retrieve(waiting.id)
    assert (past_due.status, past_due.status_details) == ("past_due", None)
    assert period_of(past_due) == (RESUMED_ON, utc(2027, 4, 5))
    assert events_of(client, waiting.id)[-2:] == [
        "customer.subscription.updated",
        "customer.subscription.resumed",
    ]
    declined = client.v1.invoices.retrieve(invoice.id)
    assert (declined.status, declined.attempt_count, declined.next_payment_attempt) == (
        "open",
        1,
        None,
    )
    # No retry, and no expiry: open and past_due two weeks on.
    advance(client, clock_id, RESUMED_ON + 14 * DAY_SECONDS)
    assert client.v1.invoices.retrieve(invoice.id).attempt_count == 1
    assert client.v1.subscriptions.retrieve(waiting.id).status == "past_due"
    client.v1.invoices.pay(invoice.id, params={"payment_method": "pm_card_visa"})
    assert client.v1.subscriptions.retrieve(waiting.id).status == "active"


def test_a_default_resumption_invoice_written_off_resumes_and_voided_stays_paused(
    client: Client, ledger_verified: None
) -> None:
    """The resume docstring: "If the invoice is paid or marked uncollectible, the
    subscription becomes active. If the invoice is manually voided, the subscription stays
    paused"."""
    _, waiting, invoice = waiting_for_an_attempt(client)
    client.v1.invoices.mark_uncollectible(invoice.id)
    resumed = client.v1.subscriptions.retrieve(waiting.id)
    assert (resumed.status, period_of(resumed)) == ("active", (RESUMED_ON, utc(2027, 4, 5)))
    assert events_of(client, waiting.id)[-1] == "customer.subscription.resumed"

    _, other, other_invoice = waiting_for_an_attempt(client)
    client.v1.invoices.void_invoice(other_invoice.id)
    still = client.v1.subscriptions.retrieve(other.id)
    assert (still.status, period_of(still)) == ("paused", period_of(other))
    assert "customer.subscription.resumed" not in events_of(client, other.id)
    # Nothing waits any more: it may be resumed again.
    assert resume(client, other.id).status == "paused"


# -- resume_on_payment_success ----------------------------------------------------------------


def test_resume_on_payment_success_stays_paused_when_the_charge_fails(
    client: Client, ledger_verified: None
) -> None:
    clock_id, customer, paused = paused_subscription(client)
    decline_renewals(client, customer.id)
    advance(client, clock_id, RESUMED_ON)
    still = resume(client, paused.id, **ON_SUCCESS)
    assert (still.status, period_of(still)) == ("paused", period_of(paused))
    assert still.billing_cycle_anchor == JAN_31_2027
    invoice = client.v1.invoices.retrieve(str(still.latest_invoice))
    assert (invoice.status, invoice.attempt_count, invoice.amount_remaining) == ("open", 1, 714)
    # "Stripe retries failed payments" (the changelog): the dunning schedule's first retry.
    assert invoice.next_payment_attempt == RESUMED_ON + 3 * DAY_SECONDS
    assert events_of(client, paused.id)[-1] == "customer.subscription.updated"
    # Resuming again waits for that invoice.
    with pytest.raises(stripe.InvalidRequestError):
        resume(client, paused.id)
    client.v1.invoices.void_invoice(invoice.id)
    assert resume(client, paused.id, **ON_SUCCESS).status == "paused"


def test_a_declined_resume_on_payment_success_is_retried_not_voided_and_resumes_when_paid(
    client: Client, ledger_verified: None
) -> None:
    """Attempted in the request, the invoice does not expire at 23 hours (that is for one
    with no attempt): it is retried, and the retry that pays it resumes the subscription.
    Kassa voided it at 23 hours and advertised a retry that never came."""
    clock_id, customer, paused = paused_subscription(client)
    decline_renewals(client, customer.id)
    advance(client, clock_id, RESUMED_ON)
    invoice_id = str(resume(client, paused.id, **ON_SUCCESS).latest_invoice)
    advance(client, clock_id, RESUMED_ON + DAY_SECONDS)
    kept = client.v1.invoices.retrieve(invoice_id)
    assert (kept.status, kept.next_payment_attempt) == ("open", RESUMED_ON + 3 * DAY_SECONDS)
    assert client.v1.subscriptions.retrieve(paused.id).status == "paused"
    # The first retry declines too (still paused); then a good card pays the second.
    advance(client, clock_id, RESUMED_ON + 4 * DAY_SECONDS)
    retried = client.v1.invoices.retrieve(invoice_id)
    assert (retried.status, retried.attempt_count) == ("open", 2)
    assert retried.next_payment_attempt == RESUMED_ON + 8 * DAY_SECONDS
    assert client.v1.subscriptions.retrieve(paused.id).status == "paused"
    card = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    client.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": card.id}}
    )
    advance(client, clock_id, RESUMED_ON + 9 * DAY_SECONDS)
    paid = client.v1.invoices.retrieve(invoice_id)
    assert (paid.status, paid.attempt_count, paid.amount_paid) == ("paid", 3, 714)
    resumed = client.v1.subscriptions.retrieve(paused.id)
    assert (resumed.status, period_of(resumed)) == ("active", (RESUMED_ON, utc(2027, 4, 5)))
    assert events_of(client, paused.id)[-1] == "customer.subscription.resumed"


def waiting_resumption(client: Client) -> tuple[str, stripe.Subscription, stripe.Subscription]:
    """(clock, the paused subscription, the same after a `resume_on_payment_success` whose
    charge was declined on March 5: still paused, waiting for its resumption invoice)."""
    clock_id, customer, paused = paused_subscription(client)
    decline_renewals(client, customer.id)
    advance(client, clock_id, RESUMED_ON)
    still = resume(client, paused.id, **ON_SUCCESS)
    assert still.status == "paused"
    return clock_id, paused, still


def test_paying_a_waiting_resumption_invoice_resumes_the_subscription(
    client: Client, ledger_verified: None
) -> None:
    clock_id, paused, still = waiting_resumption(client)
    client.v1.invoices.pay(str(still.latest_invoice), params={"payment_method": "pm_card_visa"})
    resumed = client.v1.subscriptions.retrieve(paused.id)
    # Into the period the paid invoice billed: from the resume (March 5) a month on.
    assert (resumed.status, resumed.billing_cycle_anchor) == ("active", utc(2027, 3, 5))
    assert period_of(resumed) == (utc(2027, 3, 5), utc(2027, 4, 5))
    assert resumed.status_details is None
    assert events_of(client, paused.id)[-1] == "customer.subscription.resumed"
    advance(client, clock_id, utc(2027, 4, 5) + 2 * HOUR)
    assert period_of(client.v1.subscriptions.retrieve(paused.id))[0] == utc(2027, 4, 5)


def test_a_waiting_resumption_invoice_marked_uncollectible_resumes_the_subscription(
    client: Client, ledger_verified: None
) -> None:
    # The resume docstring: "If the invoice is paid or marked uncollectible, the
    # subscription becomes active. If the invoice is manually voided, the subscription
    # stays paused" (voided: the test above).
    _, paused, still = waiting_resumption(client)
    client.v1.invoices.mark_uncollectible(str(still.latest_invoice))
    resumed = client.v1.subscriptions.retrieve(paused.id)
    assert (resumed.status, period_of(resumed)) == ("active", (utc(2027, 3, 5), utc(2027, 4, 5)))
    assert events_of(client, paused.id)[-1] == "customer.subscription.resumed"


# -- refusals -----------------------------------------------------------------------------------


def refused(call: Any, *args: Any, **kwargs: Any) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        call(*args, **kwargs)
    assert raised.value.http_status in (400, 404), raised.value
    return raised.value


def test_what_cannot_be_paused_or_resumed_is_refused_with_nothing_written(
    client: Client,
) -> None:
    price = monthly_price(client)
    _, customer = clock_customer(client)
    active = subscribe(client, customer.id, price.id)
    refused(resume, client, active.id)
    paused = pause(client, active.id)
    error = refused(pause, client, active.id)
    assert "already paused" in str(error.user_message)
    canceled = subscribe(client, customer.id, price.id)
    client.v1.subscriptions.cancel(canceled.id)
    refused(pause, client, canceled.id)
    _, declining = clock_customer(client, card=DECLINING_CARD)
    incomplete = subscribe(client, declining.id, price.id)
    assert incomplete.status == "incomplete"
    refused(pause, client, incomplete.id)
    invoiced = subscribe(
        client, customer.id, price.id, collection_method="send_invoice", days_until_due=30
    )
    pause(client, invoiced.id)
    error = refused(resume, client, invoiced.id)
    assert "charge_automatically" in str(error.user_message)
    assert refused(pause, client, "sub_nope").http_status == 404
    assert client.v1.subscriptions.retrieve(active.id).to_dict() == paused.to_dict()


def test_bad_parameters_name_the_parameter_with_nothing_written(client: Client) -> None:
    price = monthly_price(client)
    _, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    before = client.v1.subscriptions.retrieve(subscription.id).to_dict()
    pause_cases: list[tuple[dict[str, Any], str]] = [
        ({"type": "forever"}, "type"),
        ({"invoicing_behavior": "later"}, "invoicing_behavior"),
        ({"bill_for": {"unused_time_from": {"type": "soon"}}}, "bill_for[unused_time_from][type]"),
        (
            {"bill_for": {"outstanding_usage_through": {"type": "later"}}},
            "bill_for[outstanding_usage_through][type]",
        ),
    ]
    for params, param in pause_cases:
        assert refused(pause, client, subscription.id, **params).param == param, params
    update_cases: list[tuple[dict[str, Any], str]] = [
        ({"pause_collection": {"behavior": "hold"}}, "pause_collection[behavior]"),
        ({"pause_collection": {"resumes_at": JAN_31_2027 + DAY_SECONDS}}, "pause_collection"),
        (
            {"pause_collection": {"behavior": "void", "resumes_at": JAN_31_2027}},
            "pause_collection[resumes_at]",
        ),
        ({"pause_collection": "void"}, "pause_collection"),
    ]
    for params, param in update_cases:
        error = refused(client.v1.subscriptions.update, subscription.id, params=params)
        assert (error.param or "").startswith(param), (params, error.param)
    assert client.v1.subscriptions.retrieve(subscription.id).to_dict() == before
    pause(client, subscription.id)
    paused = client.v1.subscriptions.retrieve(subscription.id).to_dict()
    resume_cases: list[tuple[dict[str, Any], str]] = [
        ({"billing_cycle_anchor": "now"}, "billing_cycle_anchor"),
        ({"billing_cycle_anchor": {"type": "later"}}, "billing_cycle_anchor[type]"),
        ({"payment_behavior": "hope"}, "payment_behavior"),
        ({"proration_behavior": "sometimes"}, "proration_behavior"),
        (
            {"billing_cycle_anchor": {"type": "unchanged"}, "proration_date": 1},
            "proration_date",
        ),
    ]
    for params, param in resume_cases:
        assert refused(resume, client, subscription.id, **params).param == param, params
    assert client.v1.subscriptions.retrieve(subscription.id).to_dict() == paused
    assert pending_items(client, customer.id) != []  # the pause's credit, and nothing else
    assert len(pending_items(client, customer.id)) == 1


# -- pause_collection ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("behavior", "invoice_status"),
    [("keep_as_draft", "draft"), ("mark_uncollectible", "uncollectible"), ("void", "void")],
)
def test_pause_collection_keeps_renewal_invoices_from_being_collected(
    client: Client, ledger_verified: None, behavior: str, invoice_status: str
) -> None:
    price = monthly_price(client)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    updated = client.v1.subscriptions.update(
        subscription.id, params={"pause_collection": {"behavior": behavior}}
    )
    assert updated.status == "active"
    assert updated.pause_collection is not None
    assert (updated.pause_collection.behavior, updated.pause_collection.resumes_at) == (
        behavior,
        None,
    )
    advance(client, clock_id, utc(2027, 3, 31) + 3 * HOUR)
    renewed = client.v1.subscriptions.retrieve(subscription.id)
    assert renewed.status == "active"
    renewals = invoices_of(client, subscription.id)[1:]
    assert [(i.status, i.amount_paid) for i in renewals] == [(invoice_status, 0)] * 2
    assert [i.period_end for i in renewals] == [utc(2027, 2, 28), utc(2027, 3, 31)]
    assert all(i.total == 2000 for i in renewals)
    if behavior == "keep_as_draft":
        assert not any(i.auto_advance for i in renewals)
    # Stripe sends paused/resumed only for status changes, not for collection pauses.
    assert "customer.subscription.paused" not in events_of(client, subscription.id)


def test_pause_collection_ends_at_resumes_at_and_can_be_cleared(
    client: Client, ledger_verified: None
) -> None:
    price = monthly_price(client)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    resumes_at = utc(2027, 3, 15)
    client.v1.subscriptions.update(
        subscription.id,
        params={"pause_collection": {"behavior": "void", "resumes_at": resumes_at}},
    )
    advance(client, clock_id, utc(2027, 3, 31) + 2 * HOUR)
    renewed = client.v1.subscriptions.retrieve(subscription.id)
    assert renewed.pause_collection is None
    statuses = [(i.status, i.amount_paid) for i in invoices_of(client, subscription.id)]
    assert statuses == [("paid", 2000), ("void", 0), ("paid", 2000)]
    client.v1.subscriptions.update(
        subscription.id, params={"pause_collection": {"behavior": "keep_as_draft"}}
    )
    cleared = client.v1.subscriptions.update(subscription.id, params={"pause_collection": ""})
    assert cleared.pause_collection is None
    advance(client, clock_id, utc(2027, 4, 30) + 2 * HOUR)
    assert invoices_of(client, subscription.id)[-1].status == "paid"


def test_pause_collection_clears_itself_at_resumes_at(
    client: Client, ledger_verified: None
) -> None:
    """Stripe clears `pause_collection` at its `resumes_at`, announcing
    `customer.subscription.updated`, not at the next renewal."""
    price = monthly_price(client)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    resumes_at = utc(2027, 2, 10)
    client.v1.subscriptions.update(
        subscription.id,
        params={"pause_collection": {"behavior": "void", "resumes_at": resumes_at}},
    )
    advance(client, clock_id, utc(2027, 2, 11))
    resumed = client.v1.subscriptions.retrieve(subscription.id)
    assert (resumed.pause_collection, resumed.status) == (None, "active")
    updates = client.v1.events.list(params={"type": "customer.subscription.updated"}).data
    cleared = [
        e
        for e in updates
        if e.data.object["id"] == subscription.id
        and "pause_collection" in (e.data.previous_attributes or {})
        and e.data.object["pause_collection"] is None
    ]
    assert len(cleared) == 1 and cleared[0].created == resumes_at
    # Nothing invoiced for it: the February 28 renewal is collected as usual, 2000 paid.
    assert len(invoices_of(client, subscription.id)) == 1
    advance(client, clock_id, utc(2027, 2, 28) + 2 * HOUR)
    statuses = [(i.status, i.amount_paid) for i in invoices_of(client, subscription.id)]
    assert statuses == [("paid", 2000), ("paid", 2000)]


def test_a_trial_ended_now_under_a_void_pause_leaves_the_pending_items_pending(
    client: Client, ledger_verified: None
) -> None:
    """31.00 a month from January 31. On February 14 a trial to March 10 credits the 14
    unused days of the 28-day period (14/28 x 3100 = -1550, pending), and a 2.50 item is
    given to the customer; collection is then paused with `void`. On February 20 the trial
    ends now: its invoice bills the month to March 20 (3100) and is voided, as its preview
    said, without the two pending items (on it they were neither billed nor pending any
    more: the customer's credit lost with the voided 2.50). Collection resumed, the renewal
    of March 20 bills them: 3100 - 1550 + 250 = 1800, paid."""
    price = monthly_price(client, 3100)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    advance(client, clock_id, utc(2027, 2, 14))
    change: Any = {"trial_end": utc(2027, 3, 10)}
    client.v1.subscriptions.update(subscription.id, params=change)
    client.v1.invoice_items.create(
        params={"customer": customer.id, "amount": 250, "currency": "usd"}
    )
    void: Any = {"pause_collection": {"behavior": "void"}}
    client.v1.subscriptions.update(subscription.id, params=void)
    advance(client, clock_id, utc(2027, 2, 20))
    previewed = client.v1.invoices.create_preview(
        params={"subscription": subscription.id, "subscription_details": {"trial_end": "now"}}
    )
    assert [line.amount for line in previewed.lines.data] == [3100]
    client.v1.subscriptions.update(subscription.id, params={"trial_end": "now"})
    ended = invoices_of(client, subscription.id)[-1]
    assert (ended.billing_reason, ended.status, ended.total) == (
        "subscription_update",
        "void",
        3100,
    )
    assert [line.amount for line in ended.lines.data] == [3100]
    assert sorted(item.amount for item in pending_items(client, customer.id)) == [-1550, 250]
    client.v1.subscriptions.update(subscription.id, params={"pause_collection": ""})
    advance(client, clock_id, utc(2027, 3, 20) + 2 * HOUR)
    renewal = invoices_of(client, subscription.id)[-1]
    assert (renewal.billing_reason, renewal.status, renewal.amount_paid) == (
        "subscription_cycle",
        "paid",
        1800,
    )
    assert sorted(line.amount for line in renewal.lines.data) == [-1550, 250, 3100]
    assert pending_items(client, customer.id) == []


def test_a_cancellation_now_under_a_void_pause_leaves_its_credit_to_the_customer(
    client: Client, ledger_verified: None
) -> None:
    """31.00 a month from January 31, collection paused with `void`. On February 14 it is
    canceled with `invoice_now` and `prorate`: the credit for the 14 unused days of the
    28-day period (14/28 x 3100 = -1550) is not put on the final invoice the pause would
    void (where it was neither credited nor pending any more), nor is it in the preview of
    that invoice, which comes to nothing. It stays pending, the customer's now that the
    subscription has ended: a manual invoice of a 10.00 item then takes it,
    1000 - 1550 = -550."""
    price = monthly_price(client, 3100)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    void: Any = {"pause_collection": {"behavior": "void"}}
    client.v1.subscriptions.update(subscription.id, params=void)
    advance(client, clock_id, utc(2027, 2, 14))
    previewed = client.v1.invoices.create_preview(
        params={"subscription": subscription.id, "subscription_details": {"cancel_now": True}}
    )
    assert ([line.amount for line in previewed.lines.data], previewed.total) == ([], 0)
    canceled = client.v1.subscriptions.cancel(
        subscription.id, params={"invoice_now": True, "prorate": True}
    )
    assert canceled.status == "canceled"
    final = invoices_of(client, subscription.id)[-1]
    assert (final.billing_reason, final.total, final.lines.data) == (
        "subscription_update",
        0,
        [],
    )
    (credit,) = pending_items(client, customer.id)
    assert (credit.amount, credit.proration) == (-1550, True)
    invoice = manual_invoice_of_1000(client, customer.id)
    assert sorted(line.amount for line in invoice.lines.data) == [-1550, 1000]
    assert invoice.total == -550
    assert pending_items(client, customer.id) == []


def test_a_scheduled_end_under_a_void_pause_leaves_what_is_pending_to_the_customer(
    client: Client, ledger_verified: None
) -> None:
    """31.00 a month from January 31. On February 14 its quantity goes to 2, prorated and
    left pending: -1550 for the 14 unused days at quantity 1, +3100 for them at quantity 2
    (14/28 x 6200); it is set to cancel at the period's end and collection is paused with
    `void`. The final invoice its end would make of them would be voided: neither billed
    nor pending any more. None is made, nor previewed (nothing upcoming), and the two stay
    pending, the customer's once it has ended on February 28: a manual invoice takes
    them, 3100 - 1550 = 1550."""
    price = monthly_price(client, 3100)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    advance(client, clock_id, utc(2027, 2, 14))
    item = subscription["items"].data[0]
    change: Any = {
        "items": [{"id": item.id, "quantity": 2}],
        "cancel_at_period_end": True,
        "pause_collection": {"behavior": "void"},
    }
    client.v1.subscriptions.update(subscription.id, params=change)
    assert sorted(i.amount for i in pending_items(client, customer.id)) == [-1550, 3100]
    with pytest.raises(stripe.InvalidRequestError) as nothing:
        client.v1.invoices.create_preview(params={"subscription": subscription.id})
    assert nothing.value.code == "invoice_upcoming_none"
    advance(client, clock_id, utc(2027, 3, 1))
    ended = client.v1.subscriptions.retrieve(subscription.id)
    assert (ended.status, ended.ended_at) == ("canceled", utc(2027, 2, 28))
    assert len(invoices_of(client, subscription.id)) == 1
    invoice = client.v1.invoices.create(
        params={"customer": customer.id, "pending_invoice_items_behavior": "include"}
    )
    assert sorted(line.amount for line in invoice.lines.data) == [-1550, 3100]
    assert invoice.total == 1550
    assert pending_items(client, customer.id) == []


# -- in real time -------------------------------------------------------------------------------


def test_the_invoices_job_leaves_a_paused_subscription_alone(
    server: KassaServer, client: Client
) -> None:
    price = monthly_price(client)
    customer = client.v1.customers.create(
        params={
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    subscription = subscribe(client, customer.id, price.id)
    pause(client, subscription.id)
    _, period_end = period_of(subscription)
    # The job runs for the whole database, which other tests' subscriptions share: what it
    # did to this one is what counts.
    run_invoices_job_at(server, period_end + 1)
    assert len(invoices_of(client, subscription.id)) == 1
    assert client.v1.subscriptions.retrieve(subscription.id).status == "paused"


def test_a_scheduled_cancellation_still_ends_a_paused_subscription(client: Client) -> None:
    price = monthly_price(client)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    client.v1.subscriptions.update(subscription.id, params={"cancel_at_period_end": True})
    advance(client, clock_id, PAUSED_ON)
    pause(client, subscription.id)
    advance(client, clock_id, utc(2027, 3, 5))
    ended = client.v1.subscriptions.retrieve(subscription.id)
    assert (ended.status, ended.ended_at) == ("canceled", utc(2027, 2, 28))
    # One scheduled while paused, then cleared: it stays paused, nothing due, the clock fine.
    other = subscribe(client, customer.id, price.id)
    pause(client, other.id)
    client.v1.subscriptions.update(other.id, params={"cancel_at": utc(2027, 3, 20)})
    client.v1.subscriptions.update(other.id, params={"cancel_at": ""})
    advance(client, clock_id, utc(2027, 4, 30))
    kept = client.v1.subscriptions.retrieve(other.id)
    assert (kept.status, kept.cancel_at) == ("paused", None)
    third = subscribe(client, customer.id, price.id)
    pause(client, third.id)
    client.v1.subscriptions.update(third.id, params={"cancel_at": utc(2027, 5, 10)})
    advance(client, clock_id, utc(2027, 5, 20))
    assert client.v1.subscriptions.retrieve(third.id).ended_at == utc(2027, 5, 10)
