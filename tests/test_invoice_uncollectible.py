"""Uncollectible invoices and delinquent customers, through the SDK on a real `kassa serve`
(SQLite and PostgreSQL), the ledger verified after each:

- An uncollectible invoice can be voided (Stripe's invoicing workflow: uncollectible, then
  "void or pay the invoice"), which gives back the credit balance it took, as voiding an
  open one does.
- `status_details.uncollectible.reason` says who marked it (the SDK's
  `Invoice.StatusDetails.Uncollectible.reason`): `user_forgiven` (the API call),
  `subscription_paused` (`pause_collection[behavior]=mark_uncollectible`),
  `max_payment_attempts` (dunning's last retry, `KASSA_SUBSCRIPTION_FINAL_INVOICE`: in
  tests/test_subscriptions.py, which has the server that setting needs);
  `status_details` holds the current status's details only (Stripe's changelog, endive
  2026-09-30), so paying or voiding it clears them.
- `Customer.delinquent` (the SDK's docstring): an automatic payment failure or a
  `send_invoice` invoice passing its due date sets it (a failed `pay` or hosted-page
  payment is no automatic one, whatever the collection method); paying an invoice or marking one
  uncollectible through the API clears it; dunning marking one uncollectible does not.
  Each change is a `customer.updated` with `previous_attributes`, stamped at the customer's
  test clock time; no change announces nothing."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest
import stripe

from kassa.clock import DAY_SECONDS
from kassa.services.billing.reminders import scheduled_reminder
from tests import loopback
from tests.harness import KassaServer
from tests.test_invoices import customer, invoice_of, refused
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
    subscribe,
    utc,
)

UTC = ZoneInfo("Etc/UTC")
"""The test accounts' time zone: reminders go out at 09:00 UTC."""
AUTO_ADVANCING: Any = {"auto_advance": True}
"""Finalize a `send_invoice` invoice into the billing engine's hands: it is sent, and gets
reminders and the look as its due date passes (none with `auto_advance=false`)."""


def delinquency_events(client: Client, customer_id: str) -> list[tuple[int, Any]]:
    """The customer's `customer.updated` events that changed `delinquent`, oldest first:
    (created, the previous value)."""
    found = []
    for event in client.v1.events.list(
        params={"type": "customer.updated", "limit": 100}
    ).auto_paging_iter():
        previous = (event.data.to_dict().get("previous_attributes")) or {}
        if event.data.object.to_dict().get("id") == customer_id and "delinquent" in previous:
            found.append((int(event.created), previous["delinquent"]))
    return found[::-1]


def delinquent(client: Client, customer_id: str) -> bool | None:
    return client.v1.customers.retrieve(customer_id).delinquent


def reason_of(invoice: stripe.Invoice) -> str | None:
    details = invoice.status_details
    if details is None or details.uncollectible is None:
        return None
    return details.uncollectible.reason


# --- voiding an uncollectible invoice -----------------------------------------------------------


def test_an_uncollectible_invoice_can_be_voided_and_gives_its_credit_back(
    client: Client, ledger_verified: None
) -> None:
    who = client.v1.customers.create(params={"email": "credit@example.com", "balance": -300})
    # 10.00 less the customer's 3.00 credit: 7.00 due, the balance spent (0).
    opened = client.v1.invoices.finalize_invoice(invoice_of(client, who.id, 1000).id)
    assert (opened.starting_balance, opened.amount_due, opened.ending_balance) == (-300, 700, 0)
    assert client.v1.customers.retrieve(who.id).balance == 0
    marked = client.v1.invoices.mark_uncollectible(opened.id)
    assert (marked.status, reason_of(marked)) == ("uncollectible", "user_forgiven")

    voided = client.v1.invoices.void_invoice(opened.id)
    assert (voided.status, voided.status_details, voided.auto_advance) == ("void", None, False)
    assert voided.status_transitions.voided_at is not None
    assert voided.status_transitions.marked_uncollectible_at is not None
    # The 3.00 the invoice took is the customer's credit again: -300 + 300 - 300 = -300.
    assert client.v1.customers.retrieve(who.id).balance == -300
    moves = client.v1.customers.balance_transactions.list(who.id, params={"limit": 10}).data
    assert [(t.type, t.amount, t.ending_balance) for t in reversed(moves)] == [
        ("initial", -300, -300),
        ("applied_to_invoice", 300, 0),
        ("unapplied_from_invoice", -300, -300),
    ]
    # Nothing more is collected: the default payment and its intent are canceled.
    payment = client.v1.invoice_payments.list(params={"invoice": opened.id}).data[0]
    assert payment.status == "canceled"
    intent = client.v1.payment_intents.retrieve(str(payment.payment.payment_intent))
    assert intent.status == "canceled"
    assert events_of(client, opened.id)[-2:] == ["invoice.marked_uncollectible", "invoice.voided"]
    again = refused(lambda: client.v1.invoices.void_invoice(opened.id))
    assert again.user_message == "You can only pass in open invoices. This invoice isn't open."
    pay_void = refused(lambda: client.v1.invoices.pay(opened.id))
    assert "void" in str(pay_void.user_message)
    assert client.v1.customers.retrieve(who.id).balance == -300


def test_paying_an_uncollectible_invoice_clears_its_status_details(
    client: Client, ledger_verified: None
) -> None:
    who = client.v1.customers.create(
        params={
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    opened = client.v1.invoices.finalize_invoice(invoice_of(client, who.id, 800).id)
    client.v1.invoices.mark_uncollectible(opened.id)
    paid = client.v1.invoices.pay(opened.id)
    assert (paid.status, paid.amount_paid, paid.status_details) == ("paid", 800, None)
    assert client.v1.invoices.retrieve(opened.id).status_details is None


# --- who marked it: status_details.uncollectible.reason ---------------------------------------


def test_pause_collection_marks_renewals_uncollectible_as_subscription_paused(
    client: Client, ledger_verified: None
) -> None:
    price = monthly_price(client)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    client.v1.subscriptions.update(
        subscription.id, params={"pause_collection": {"behavior": "mark_uncollectible"}}
    )
    advance(client, clock_id, utc(2027, 2, 28) + 3 * HOUR)
    renewal = invoices_of(client, subscription.id)[-1]
    assert (renewal.status, reason_of(renewal)) == ("uncollectible", "subscription_paused")
    # Not marked through the API, and nothing failed: the flag stays as it was.
    assert delinquent(client, customer.id) is False
    assert delinquency_events(client, customer.id) == []


# --- the customer's delinquent flag -------------------------------------------------------------


def test_an_automatic_payment_failure_makes_the_customer_delinquent_until_an_invoice_is_paid(
    client: Client, ledger_verified: None
) -> None:
    price = monthly_price(client)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)  # paid: stays not delinquent
    assert delinquent(client, customer.id) is False
    decline_renewals(client, customer.id)
    advance(client, clock_id, utc(2027, 2, 28) + 2 * HOUR)
    renewal = invoices_of(client, subscription.id)[-1]
    assert (renewal.status, renewal.attempt_count) == ("open", 1)
    assert delinquent(client, customer.id) is True
    # Stamped at the clock's time of the first automatic attempt: an hour into the period.
    assert delinquency_events(client, customer.id) == [(utc(2027, 2, 28) + HOUR, False)]
    # Marking it uncollectible through the API clears it.
    client.v1.invoices.mark_uncollectible(renewal.id)
    assert delinquent(client, customer.id) is False
    assert delinquency_events(client, customer.id)[-1] == (utc(2027, 2, 28) + 2 * HOUR, True)
    # Paying leaves a flag already clear alone: no further event.
    client.v1.invoices.pay(renewal.id, params={"payment_method": "pm_card_visa"})
    assert delinquent(client, customer.id) is False
    assert len(delinquency_events(client, customer.id)) == 2


def test_a_send_invoice_invoice_past_its_due_date_makes_the_customer_delinquent(
    client: Client, ledger_verified: None
) -> None:
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": JAN_31_2027})
    who = client.v1.customers.create(params={"email": "late@example.com", "test_clock": clock.id})
    draft = invoice_of(client, who.id, 4200, collection_method="send_invoice", days_until_due=30)
    # Left to the billing engine (`auto_advance`): finalized, sent and reminded by it.
    sent = client.v1.invoices.finalize_invoice(draft.id, params=AUTO_ADVANCING)
    assert sent.auto_advance is True and "invoice.sent" in events_of(client, sent.id)
    # Due 30 days after finalization: March 2, 10:00 UTC.
    assert sent.due_date == JAN_31_2027 + 30 * DAY_SECONDS
    # The reminder on the due day goes out at 09:00, before the due instant: not late yet.
    advance(client, clock.id, utc(2027, 3, 2, 9) + 30 * 60)
    assert "invoice.will_be_due" in events_of(client, sent.id)
    assert delinquent(client, who.id) is False
    # Late from the second after the due instant, though no reminder is sent until a week on.
    advance(client, clock.id, sent.due_date + HOUR)
    assert delinquent(client, who.id) is True
    assert delinquency_events(client, who.id) == [(sent.due_date + 1, False)]
    # The first reminder after it (7 days on, 09:00: `invoice.overdue`) changes nothing more.
    overdue_at = scheduled_reminder(sent.due_date, 7, UTC).send_at
    assert overdue_at == utc(2027, 3, 9, 9)
    advance(client, clock.id, overdue_at + HOUR)
    assert "invoice.overdue" in events_of(client, sent.id)
    assert delinquency_events(client, who.id) == [(sent.due_date + 1, False)]
    # Paying an invoice clears it, at the clock's time.
    paid = client.v1.invoices.pay(sent.id, params={"paid_out_of_band": True})
    assert paid.status == "paid"
    assert delinquent(client, who.id) is False
    assert delinquency_events(client, who.id)[-1] == (overdue_at + HOUR, True)


def test_an_invoice_left_out_of_the_billing_engine_still_makes_its_customer_delinquent(
    client: Client, ledger_verified: None
) -> None:
    """`auto_advance=false` stops what the billing engine does to an invoice (finalizing,
    reattempting, reminding), not the customer's `delinquent` flag, which passing the due
    date sets: finalized with `auto_advance=false`, or stopped before its due date."""
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": JAN_31_2027})
    who = client.v1.customers.create(params={"email": "manual@example.com", "test_clock": clock.id})
    manual = invoice_of(client, who.id, 1500, collection_method="send_invoice", days_until_due=10)
    kept = client.v1.invoices.finalize_invoice(manual.id, params={"auto_advance": False})
    assert (kept.status, kept.auto_advance) == ("open", False)
    stopped = invoice_of(client, who.id, 2500, collection_method="send_invoice", days_until_due=20)
    reminded = client.v1.invoices.finalize_invoice(stopped.id, params=AUTO_ADVANCING)
    client.v1.invoices.update(reminded.id, params={"auto_advance": False})
    assert kept.due_date is not None and reminded.due_date is not None

    advance(client, clock.id, kept.due_date + HOUR)
    assert delinquent(client, who.id) is True
    assert delinquency_events(client, who.id) == [(kept.due_date + 1, False)]
    paid = client.v1.invoices.pay(kept.id, params={"paid_out_of_band": True})
    assert paid.status == "paid" and delinquent(client, who.id) is False

    advance(client, clock.id, reminded.due_date + HOUR)
    assert delinquent(client, who.id) is True
    assert delinquency_events(client, who.id)[-1] == (reminded.due_date + 1, False)
    # Neither got a reminder: those are the billing engine's.
    for invoice_id in (kept.id, reminded.id):
        reminder_types = {"invoice.will_be_due", "invoice.overdue"}
        assert reminder_types.isdisjoint(events_of(client, invoice_id))


def test_an_invoice_finalized_after_its_due_date_makes_the_customer_delinquent_at_once(
    client: Client, ledger_verified: None
) -> None:
    """Due a day after its creation but finalized three days on: it is past due from its
    first look, though its first reminder (`invoice.overdue` 7 days after the due date, at
    09:00) is days away; and once seen late, it is not made late again."""
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": JAN_31_2027})
    who = client.v1.customers.create(params={"email": "later@example.com", "test_clock": clock.id})
    draft = invoice_of(
        client, who.id, 1000, collection_method="send_invoice", due_date=JAN_31_2027 + DAY_SECONDS
    )
    finalized_at = JAN_31_2027 + 3 * DAY_SECONDS
    advance(client, clock.id, finalized_at)
    sent = client.v1.invoices.finalize_invoice(draft.id, params=AUTO_ADVANCING)
    assert sent.status == "open"
    assert sent.due_date == JAN_31_2027 + DAY_SECONDS
    assert delinquent(client, who.id) is False
    advance(client, clock.id, finalized_at + HOUR)
    assert delinquent(client, who.id) is True
    assert delinquency_events(client, who.id) == [(finalized_at, False)]
    overdue_at = scheduled_reminder(JAN_31_2027 + DAY_SECONDS, 7, UTC).send_at
    advance(client, clock.id, overdue_at + HOUR)
    assert "invoice.overdue" in events_of(client, sent.id)
    assert delinquency_events(client, who.id) == [(finalized_at, False)]


def reminder_events(client: Client, invoice_id: str) -> list[tuple[str, int]]:
    """The invoice's reminder events, oldest first: (type, created)."""
    found = [
        (str(event.type), int(event.created))
        for event in client.v1.events.list(params={"limit": 100}).auto_paging_iter()
        if event.type in ("invoice.will_be_due", "invoice.overdue")
        and event.data.object.to_dict().get("id") == invoice_id
    ]
    return found[::-1]


def test_a_customer_without_an_address_gets_each_reminder_event_once(
    client: Client, ledger_verified: None
) -> None:
    """No email is queued for a customer without an address, but the reminder is made all
    the same (its event): the look as the due date passes must not make the week-before
    reminder again. Due 10 days after January 31, 10:00 (February 10, 10:00): reminders at
    09:00 UTC on February 3 (-7), February 10 (0) and February 17 (+7)."""
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": JAN_31_2027})
    who = client.v1.customers.create(params={"test_clock": clock.id})
    draft = invoice_of(client, who.id, 900, collection_method="send_invoice", days_until_due=10)
    sent = client.v1.invoices.finalize_invoice(draft.id, params=AUTO_ADVANCING)
    assert sent.due_date == JAN_31_2027 + 10 * DAY_SECONDS
    advance(client, clock.id, JAN_31_2027 + 20 * DAY_SECONDS)
    assert reminder_events(client, sent.id) == [
        ("invoice.will_be_due", utc(2027, 2, 3, 9)),
        ("invoice.will_be_due", utc(2027, 2, 10, 9)),
        ("invoice.overdue", utc(2027, 2, 17, 9)),
    ]
    assert delinquency_events(client, who.id) == [(sent.due_date + 1, False)]


def test_a_payment_the_customer_or_integration_makes_failing_is_no_delinquency(
    client: Client, server: KassaServer, ledger_verified: None
) -> None:
    """Only automatic attempts (the invoice job's, dunning's retries) make a customer
    delinquent: a `charge_automatically` invoice paid through `pay`, or on its hosted page,
    with a declining card is not an "automatic payment failure" (`Customer.delinquent`)."""
    who = customer(client)
    declining = client.v1.payment_methods.attach(DECLINING_CARD, params={"customer": who.id})
    draft = invoice_of(client, who.id, 1000)
    opened = client.v1.invoices.finalize_invoice(draft.id, params={"auto_advance": False})
    assert opened.collection_method == "charge_automatically"
    with pytest.raises(stripe.CardError):
        client.v1.invoices.pay(opened.id, params={"payment_method": declining.id})
    after_pay = client.v1.invoices.retrieve(opened.id)
    assert (after_pay.status, after_pay.attempt_count) == ("open", 1)
    assert delinquent(client, who.id) is False
    # On the hosted page, with a card that declines (4000 0000 0000 0002).
    assert opened.hosted_invoice_url is not None
    pay_url = opened.hosted_invoice_url.replace(f"/{opened.id}?", f"/{opened.id}/pay?")
    form = {
        "number": "4000000000000002",
        "exp_month": "12",
        "exp_year": "34",
        "cvc": "123",
        "attempt": "view-1",
    }
    with loopback.Client(timeout=30, headers={"origin": server.url}) as http:
        assert http.post(pay_url, data=form).status_code == 402
    assert client.v1.invoices.retrieve(opened.id).attempted is True
    assert delinquent(client, who.id) is False
    assert delinquency_events(client, who.id) == []
