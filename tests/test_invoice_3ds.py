"""An invoice follows its PaymentIntent, whatever path ends the intent's payment attempt,
through the official SDK against a live server on SQLite and PostgreSQL, the ledger verified
after each: 3-D Secure completed or failed through the test helper or the test challenge page
(a plain HTTP POST, as a browser sends it), the integration confirming the invoice's intent
itself, a subscription's renewal whose card asks for 3-D Secure off session (the intent
awaits the customer, the subscription past due until they answer), and a PaymentIntent of no
invoice left alone."""

from __future__ import annotations

import concurrent.futures
from typing import Any

import httpx
import pytest
import stripe

from kassa.clock import DAY_SECONDS
from kassa.services.billing.invoice_collection import RETRY_AFTER_DAYS
from tests import loopback
from tests.harness import Account, KassaServer
from tests.test_invoice_emails import kinds
from tests.test_invoices import customer, event_types, invoice_of
from tests.test_payment_intents import undeclared_keys
from tests.test_subscriptions import HOUR, advance, clock_customer, monthly_price, subscribe, utc

pytestmark = pytest.mark.usefixtures("ledger_verified")

Client = stripe.StripeClient
AMOUNT = 4_200
THREE_D_SECURE = "pm_card_threeDSecure2Required"
RETURN_URL = "https://shop.example/invoice-paid"
CONCURRENT_ROUNDS = 4
"""Invoices each paid and authenticated at the same time in the concurrency test."""
PAID_EVENTS = ["invoice.paid", "invoice.payment_succeeded"]


def open_invoice(client: Client) -> stripe.Invoice:
    """A finalized invoice for AMOUNT, of a customer with no default payment method."""
    who = customer(client, payment_method=None)
    return client.v1.invoices.finalize_invoice(invoice_of(client, who.id, AMOUNT).id)


def invoice_payment(client: Client, invoice_id: str) -> stripe.InvoicePayment:
    (payment,) = client.v1.invoice_payments.list(params={"invoice": invoice_id}).data
    return payment


def intent_of(client: Client, invoice_id: str) -> str:
    intent = invoice_payment(client, invoice_id).payment.payment_intent
    assert isinstance(intent, str)
    return intent


def pay_needing_action(
    client: Client, invoice_id: str, card: str = THREE_D_SECURE
) -> dict[str, Any]:
    """`POST /v1/invoices/{id}/pay` on session with a card that asks for 3-D Secure: Stripe's
    402, naming the intent that waits for the challenge."""
    with pytest.raises(stripe.CardError) as raised:
        client.v1.invoices.pay(invoice_id, params={"payment_method": card, "off_session": False})
    assert raised.value.code == "invoice_payment_intent_requires_action"
    body: Any = raised.value.json_body
    intent: dict[str, Any] = body["error"]["payment_intent"]
    assert intent["status"] == "requires_action"
    return intent


def authenticate(server: KassaServer, account: Account, intent_id: str, outcome: str) -> Any:
    with server.http(account.secret_key) as http:
        response = http.post(
            f"/v1/test_helpers/payment_intents/{intent_id}/authenticate",
            data={"outcome": outcome},
        )
    assert response.status_code == 200, response.text
    return response.json()


def answer_challenge_page(url: str, client_secret: str, outcome: str) -> httpx.Response:
    """The test 3-D Secure page's form, posted as the browser posts it (no API key)."""
    return loopback.post(
        url,
        data={"client_secret": client_secret, "outcome": outcome},
        follow_redirects=False,
        timeout=30,
    )


def assert_paid(client: Client, server: KassaServer, account: Account, invoice_id: str) -> None:
    paid = client.v1.invoices.retrieve(invoice_id)
    assert (paid.status, paid.amount_paid, paid.amount_remaining) == ("paid", AMOUNT, 0)
    assert (paid.attempted, paid.attempt_count, paid.next_payment_attempt) == (True, 1, None)
    assert paid.status_transitions.paid_at is not None
    payment = invoice_payment(client, invoice_id)
    assert (payment.status, payment.amount_paid) == ("paid", AMOUNT)
    assert payment.status_transitions.paid_at is not None
    assert event_types(client, invoice_id)[-2:] == PAID_EVENTS
    assert event_types(client, payment.id) == ["invoice_payment.paid"]
    succeeded = [c for c in client.v1.charges.list().data if c.status == "succeeded"]
    intent_id = intent_of(client, invoice_id)
    assert [(c.amount, c.payment_intent) for c in succeeded] == [(AMOUNT, intent_id)]
    assert kinds(server, account, invoice_id)["receipt"] == 1


def assert_failed_attempt(client: Client, invoice_id: str) -> stripe.Invoice:
    still_open = client.v1.invoices.retrieve(invoice_id)
    assert (still_open.status, still_open.amount_paid, still_open.amount_remaining) == (
        "open",
        0,
        AMOUNT,
    )
    assert (still_open.attempted, still_open.attempt_count) == (True, 1)
    assert event_types(client, invoice_id)[-1] == "invoice.payment_failed"
    assert invoice_payment(client, invoice_id).status == "open"
    return still_open


# --- the test helper ------------------------------------------------------------------------


def test_completing_3d_secure_through_the_test_helper_pays_the_invoice(
    client: Client, server: KassaServer, account: Account
) -> None:
    invoice = open_invoice(client)
    intent = pay_needing_action(client, invoice.id)
    assert intent["id"] == intent_of(client, invoice.id)
    waiting = client.v1.invoices.retrieve(invoice.id)
    assert (waiting.status, waiting.attempt_count) == ("open", 1)
    assert event_types(client, invoice.id)[-1] == "invoice.payment_action_required"

    done = authenticate(server, account, intent["id"], "complete")
    assert done["status"] == "succeeded"
    assert undeclared_keys(done, stripe.PaymentIntent, "payment_intent") == []
    assert_paid(client, server, account, invoice.id)


def test_failing_3d_secure_through_the_test_helper_is_a_failed_attempt(
    client: Client, server: KassaServer, account: Account
) -> None:
    invoice = open_invoice(client)
    intent = pay_needing_action(client, invoice.id)
    failed = authenticate(server, account, intent["id"], "fail")
    assert failed["status"] == "requires_payment_method"
    assert failed["last_payment_error"]["code"] == "payment_intent_authentication_failure"
    assert_failed_attempt(client, invoice.id)
    assert kinds(server, account, invoice.id)["payment_failed"] == 1

    # Paid afterwards with another card, through the same intent.
    paid = client.v1.invoices.pay(invoice.id, params={"payment_method": "pm_card_visa"})
    assert paid.status == "paid"
    assert_paid(client, server, account, invoice.id)


def test_a_card_declined_after_3d_secure_is_a_failed_attempt(
    client: Client, server: KassaServer, account: Account
) -> None:
    invoice = open_invoice(client)
    card = "pm_card_threeDSecureRequiredChargeDeclined"
    with pytest.raises(stripe.CardError) as off_session:
        client.v1.invoices.pay(invoice.id, params={"payment_method": card})
    # Off session by default: declined as needing authentication, with no challenge.
    assert off_session.value.code == "authentication_required"
    assert_failed_attempt(client, invoice.id)
    intent = pay_needing_action(client, invoice.id, card)  # on session: the challenge
    declined = authenticate(server, account, intent["id"], "complete")
    assert declined["status"] == "requires_payment_method"
    assert declined["last_payment_error"]["type"] == "card_error"
    assert_failed_attempt(client, invoice.id)
    assert event_types(client, invoice.id).count("invoice.payment_failed") == 2
    assert kinds(server, account, invoice.id)["payment_failed"] == 2
    assert [c.status for c in client.v1.charges.list().data] == ["failed", "failed"]


# --- the challenge page -----------------------------------------------------------------------


def test_completing_3d_secure_on_the_challenge_page_pays_the_invoice(
    client: Client, server: KassaServer, account: Account
) -> None:
    invoice = open_invoice(client)
    intent = pay_needing_action(client, invoice.id)
    # Without a return_url the intent's next action names the page for Stripe.js.
    url = intent["next_action"]["use_stripe_sdk"]["stripe_js"]
    answer = answer_challenge_page(url, intent["client_secret"], "complete")
    assert answer.status_code == 200, answer.text
    assert "succeeded" in answer.text
    assert_paid(client, server, account, invoice.id)
    # Answered again: refused, and nothing more is paid.
    again = answer_challenge_page(url, intent["client_secret"], "complete")
    assert again.status_code == 400
    assert_paid(client, server, account, invoice.id)


def test_failing_3d_secure_on_the_challenge_page_returns_to_the_integration(
    client: Client, server: KassaServer, account: Account
) -> None:
    """The integration confirms the invoice's intent itself (as Stripe.js does with the
    invoice's `confirmation_secret`), with a return_url; the customer fails the challenge:
    the first attempt, counted then."""
    invoice = open_invoice(client)
    intent_id = intent_of(client, invoice.id)
    assert client.v1.invoices.retrieve(invoice.id).attempt_count == 0
    intent = client.v1.payment_intents.confirm(
        intent_id, params={"payment_method": THREE_D_SECURE, "return_url": RETURN_URL}
    )
    assert intent.status == "requires_action"
    assert intent.next_action is not None and intent.next_action.redirect_to_url is not None
    url = intent.next_action.redirect_to_url.url
    assert url is not None and intent.client_secret is not None

    answer = answer_challenge_page(url, intent.client_secret, "fail")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith(RETURN_URL + "?")
    assert "redirect_status=failed" in answer.headers["location"]
    assert_failed_attempt(client, invoice.id)
    assert kinds(server, account, invoice.id)["payment_failed"] == 1


# --- the integration confirms the invoice's intent ---------------------------------------------


def test_the_integration_confirming_the_invoice_intent_pays_the_invoice(
    client: Client, server: KassaServer, account: Account
) -> None:
    invoice = open_invoice(client)
    intent_id = intent_of(client, invoice.id)
    declined = client.v1.payment_intents.retrieve(intent_id)
    with pytest.raises(stripe.CardError):
        client.v1.payment_intents.confirm(
            declined.id, params={"payment_method": "pm_card_chargeDeclined"}
        )
    assert_failed_attempt(client, invoice.id)

    confirmed = client.v1.payment_intents.confirm(
        intent_id, params={"payment_method": "pm_card_visa"}
    )
    assert confirmed.status == "succeeded"
    assert_paid(client, server, account, invoice.id)
    # The intent is shaped as Stripe shapes it: it names no invoice.
    assert undeclared_keys(confirmed.to_dict(), stripe.PaymentIntent, "payment_intent") == []


def test_a_later_confirmation_after_an_unanswered_challenge_pays_the_invoice(
    client: Client, server: KassaServer, account: Account
) -> None:
    invoice = open_invoice(client)
    intent = pay_needing_action(client, invoice.id)
    # The customer gives another card rather than answer the challenge.
    client.v1.payment_intents.update(intent["id"], params={"payment_method": "pm_card_visa"})
    confirmed = client.v1.payment_intents.confirm(intent["id"])
    assert confirmed.status == "succeeded"
    assert_paid(client, server, account, invoice.id)


# --- a renewal off session -------------------------------------------------------------------

RENEWAL_ATTEMPT = utc(2027, 2, 28) + HOUR
"""The February 28 renewal of a subscription started January 31, 2027, finalized and first
attempted an hour after it is made."""
ACTION_EVENTS = ["invoice.payment_failed", "invoice.payment_action_required"]


def renewal_needing_action(
    client: Client, card: str = THREE_D_SECURE
) -> tuple[str, stripe.Subscription, stripe.Invoice]:
    """A subscription paid with a Visa, whose customer's default card is then `card` (by
    default one that always asks for 3-D Secure), advanced past its February 28 renewal's
    first attempt: the clock, the subscription and its renewal."""
    clock_id, who = clock_customer(client)
    subscription = subscribe(client, who.id, monthly_price(client, AMOUNT).id)
    attached = client.v1.payment_methods.attach(card, params={"customer": who.id})
    client.v1.customers.update(
        who.id, params={"invoice_settings": {"default_payment_method": attached.id}}
    )
    advance(client, clock_id, RENEWAL_ATTEMPT + HOUR)
    past_due = client.v1.subscriptions.retrieve(subscription.id)
    renewal = client.v1.invoices.retrieve(str(past_due.latest_invoice))
    assert renewal.billing_reason == "subscription_cycle"
    return clock_id, past_due, renewal


def test_a_renewal_needing_3d_secure_awaits_the_customer_and_their_answer_pays_it(
    client: Client, server: KassaServer, account: Account
) -> None:
    """Stripe's subscription webhooks guide: a renewal whose payment needs authentication
    leaves its PaymentIntent `requires_action` (no decline, no charge), sends
    `invoice.payment_failed` and `invoice.payment_action_required`, and the subscription is
    `past_due` ("awaiting additional user actions") while dunning's schedule stands. The
    customer answering the challenge (the intent's `next_action`, as Stripe.js or the hosted
    invoice page opens it) pays the invoice, and the subscription is active again."""
    _, past_due, renewal = renewal_needing_action(client)
    assert past_due.status == "past_due"
    assert (renewal.status, renewal.attempted, renewal.attempt_count) == ("open", True, 1)
    assert renewal.next_payment_attempt == RENEWAL_ATTEMPT + RETRY_AFTER_DAYS[0] * DAY_SECONDS
    assert event_types(client, renewal.id)[-2:] == ACTION_EVENTS
    intent = client.v1.payment_intents.retrieve(intent_of(client, renewal.id))
    assert (intent.status, intent.last_payment_error, intent.latest_charge) == (
        "requires_action",
        None,
        None,
    )
    assert intent.next_action is not None and intent.next_action.type == "use_stripe_sdk"
    assert event_types(client, intent.id)[-1] == "payment_intent.requires_action"

    url = intent.next_action.to_dict()["use_stripe_sdk"]["stripe_js"]
    assert intent.client_secret is not None
    answer = answer_challenge_page(url, intent.client_secret, "complete")
    assert answer.status_code == 200, answer.text
    paid = client.v1.invoices.retrieve(renewal.id)
    assert (paid.status, paid.amount_paid, paid.next_payment_attempt) == ("paid", AMOUNT, None)
    assert event_types(client, renewal.id)[-2:] == PAID_EVENTS
    assert client.v1.subscriptions.retrieve(past_due.id).status == "active"


def test_a_renewal_needing_3d_secure_is_paid_through_the_test_helper(
    client: Client, server: KassaServer, account: Account
) -> None:
    _, past_due, renewal = renewal_needing_action(client)
    done = authenticate(server, account, intent_of(client, renewal.id), "complete")
    assert done["status"] == "succeeded"
    assert client.v1.invoices.retrieve(renewal.id).status == "paid"
    assert client.v1.subscriptions.retrieve(past_due.id).status == "active"


def test_an_unanswered_renewal_challenge_is_retried_on_schedule_then_dunning_ends_it(
    client: Client,
) -> None:
    """Nobody answers: each retry of the schedule asks again (the intent `requires_action`,
    both events again); once the last has, dunning's final action (`cancel`) runs as after
    declines."""
    clock_id, past_due, renewal = renewal_needing_action(client)
    last_retry = RENEWAL_ATTEMPT + sum(RETRY_AFTER_DAYS) * DAY_SECONDS
    advance(client, clock_id, last_retry - HOUR)
    retried = client.v1.invoices.retrieve(renewal.id)
    assert (retried.status, retried.attempt_count) == ("open", len(RETRY_AFTER_DAYS))
    assert event_types(client, renewal.id).count("invoice.payment_action_required") == len(
        RETRY_AFTER_DAYS
    )
    assert client.v1.subscriptions.retrieve(past_due.id).status == "past_due"
    advance(client, clock_id, last_retry + HOUR)
    ended = client.v1.subscriptions.retrieve(past_due.id)
    assert ended.status == "canceled"
    assert ended.cancellation_details is not None
    assert ended.cancellation_details.reason == "payment_failed"
    stopped = client.v1.invoices.retrieve(renewal.id)
    assert (stopped.status, stopped.attempt_count) == ("open", 1 + len(RETRY_AFTER_DAYS))
    intent = client.v1.payment_intents.retrieve(intent_of(client, renewal.id))
    assert intent.status == "requires_action"
    # One charge, the first invoice's: no renewal attempt was declined.
    charges = client.v1.charges.list(params={"customer": str(ended.customer)}).data
    assert [c.status for c in charges] == ["succeeded"]


def test_a_renewal_with_a_card_set_up_for_off_session_is_paid_without_a_challenge(
    client: Client,
) -> None:
    """A card whose authentication spares off-session payments (Stripe's "already set up"
    test card) pays its renewal at once, as a set-up card does on Stripe."""
    _, renewed, renewal = renewal_needing_action(
        client, card="pm_card_authenticationRequiredSetupForOffSession"
    )
    assert (renewed.status, renewal.status) == ("active", "paid")
    assert "invoice.payment_action_required" not in event_types(client, renewal.id)


def test_a_declined_renewal_still_fails_as_a_decline(client: Client) -> None:
    _, past_due, renewal = renewal_needing_action(client, card="pm_card_chargeCustomerFail")
    assert (past_due.status, renewal.status, renewal.attempt_count) == ("past_due", "open", 1)
    assert renewal.next_payment_attempt == RENEWAL_ATTEMPT + RETRY_AFTER_DAYS[0] * DAY_SECONDS
    assert "invoice.payment_action_required" not in event_types(client, renewal.id)
    assert event_types(client, renewal.id)[-1] == "invoice.payment_failed"
    intent = client.v1.payment_intents.retrieve(intent_of(client, renewal.id))
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error is not None
    assert intent.last_payment_error.code == "card_declined"


# --- what is not an invoice's ----------------------------------------------------------------


def test_a_payment_intent_of_no_invoice_leaves_invoices_alone(
    client: Client, server: KassaServer, account: Account
) -> None:
    invoice = open_invoice(client)
    before = event_types(client, invoice.id)
    who = invoice.customer
    assert isinstance(who, str)
    params: Any = {
        "amount": AMOUNT,
        "currency": "usd",
        "customer": who,
        "payment_method": THREE_D_SECURE,
        "confirm": True,
        "allowed_payment_method_types": ["card"],
    }
    completed = client.v1.payment_intents.create(params=params)
    assert completed.status == "requires_action"
    assert authenticate(server, account, completed.id, "complete")["status"] == "succeeded"
    failed = client.v1.payment_intents.create(params=params)
    assert authenticate(server, account, failed.id, "fail")["status"] == "requires_payment_method"

    untouched = client.v1.invoices.retrieve(invoice.id)
    assert (untouched.status, untouched.attempted, untouched.attempt_count) == ("open", False, 0)
    assert event_types(client, invoice.id) == before
    assert invoice_payment(client, invoice.id).status == "open"
    assert kinds(server, account, invoice.id) == {}


# --- concurrency ------------------------------------------------------------------------------


def test_paying_and_authenticating_at_once_pays_once(
    client: Client, server: KassaServer, account: Account
) -> None:
    """The invoice's pay and its intent's 3-D Secure outcome, sent together: whichever runs
    first pays, the other is refused, and neither waits on the other's locks forever (every
    path locks the invoice before its intent)."""
    invoices = [open_invoice(client) for _ in range(CONCURRENT_ROUNDS)]
    intents = [pay_needing_action(client, invoice.id)["id"] for invoice in invoices]

    def pay(invoice_id: str) -> int:
        with server.http(account.secret_key) as http:
            url = f"/v1/invoices/{invoice_id}/pay"
            return http.post(url, data={"payment_method": "pm_card_visa"}).status_code

    def complete(intent_id: str) -> int:
        with server.http(account.secret_key) as http:
            url = f"/v1/test_helpers/payment_intents/{intent_id}/authenticate"
            return http.post(url, data={"outcome": "complete"}).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=2 * CONCURRENT_ROUNDS) as pool:
        paid = [pool.submit(pay, invoice.id) for invoice in invoices]
        completed = [pool.submit(complete, intent_id) for intent_id in intents]
        answers = [(p.result(), c.result()) for p, c in zip(paid, completed, strict=True)]

    for (pay_status, complete_status), invoice in zip(answers, invoices, strict=True):
        assert sorted((pay_status, complete_status)) == [200, 400], answers
        after = client.v1.invoices.retrieve(invoice.id)
        assert (after.status, after.amount_paid) == ("paid", AMOUNT)
        assert event_types(client, invoice.id)[-2:] == PAID_EVENTS
        charges = client.v1.charges.list(params={"payment_intent": intent_of(client, invoice.id)})
        assert [c.status for c in charges.data if c.status == "succeeded"] == ["succeeded"]
