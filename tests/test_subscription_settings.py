"""A subscription's settings for its invoices, through the SDK on a real `kassa serve` (SQLite
and PostgreSQL) driven by test clocks: Stripe's subscription integration guide
(`payment_behavior=default_incomplete` with `save_default_payment_method=on_subscription`,
the first invoice paid by confirming its PaymentIntent, the card then the subscription's
default for its renewals), `payment_settings` carried to each invoice, the collection method
changed on update, and the parameters Kassa refuses with a reason, each keeping nothing."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.test_subscriptions import (
    HOUR,
    JAN_31_2027,
    Client,
    advance,
    clock_customer,
    invoices_of,
    monthly_price,
    period_of,
    subscribe,
)

DAY = 86_400
MANDATE = {"amount": 100}


def settings_of(subscription: stripe.Subscription) -> Any:
    assert subscription.payment_settings is not None
    return subscription.payment_settings


def customer_without_card(client: Client) -> stripe.Customer:
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": JAN_31_2027})
    return client.v1.customers.create(params={"test_clock": clock.id, "email": "a@example.com"})


def guide_subscription(client: Client, customer_id: str, price_id: str) -> stripe.Subscription:
    """As Stripe's "Build a subscriptions integration" guide creates it."""
    return client.v1.subscriptions.create(
        params={
            "customer": customer_id,
            "items": [{"price": price_id}],
            "payment_behavior": "default_incomplete",
            "payment_settings": {"save_default_payment_method": "on_subscription"},
            "expand": ["latest_invoice.confirmation_secret"],
        }
    )


def pay_first_invoice(client: Client, subscription: stripe.Subscription) -> stripe.PaymentIntent:
    """What Stripe.js does with the invoice's client secret: confirm it with a card."""
    invoice: Any = subscription.latest_invoice
    intent_id = invoice.confirmation_secret.client_secret.split("_secret_")[0]
    return client.v1.payment_intents.confirm(
        intent_id,
        params={"payment_method": "pm_card_visa", "return_url": "https://example.com/done"},
    )


def test_the_guides_flow_makes_the_paying_card_the_default_for_renewals(
    client: Client, ledger_verified: None
) -> None:
    price = monthly_price(client, amount=1500)
    customer = customer_without_card(client)
    subscription = guide_subscription(client, customer.id, price.id)
    assert subscription.status == "incomplete"
    assert settings_of(subscription).save_default_payment_method == "on_subscription"
    assert subscription.default_payment_method is None
    first: Any = subscription.latest_invoice
    intent_id = first.confirmation_secret.client_secret.split("_secret_")[0]
    assert client.v1.payment_intents.retrieve(intent_id).setup_future_usage == "off_session"

    intent = pay_first_invoice(client, subscription)
    assert intent.status == "succeeded"
    card = str(intent.payment_method)
    # Set up for later payments: attached to the customer, as a default must be.
    assert client.v1.payment_methods.retrieve(card).customer == customer.id
    subscription = client.v1.subscriptions.retrieve(subscription.id)
    assert (subscription.status, subscription.default_payment_method) == ("active", card)
    (updated, *_) = client.v1.events.list(
        params={"type": "customer.subscription.updated", "limit": 1}
    ).data
    assert updated.data.previous_attributes is not None
    assert updated.data.previous_attributes.to_dict() == {
        "default_payment_method": None,
        "status": "incomplete",
    }

    advance(client, str(customer.test_clock), period_of(subscription)[1] + 2 * HOUR)
    first_paid, renewal = invoices_of(client, subscription.id)
    assert (first_paid.status, renewal.status, renewal.amount_paid) == ("paid", "paid", 1500)
    assert renewal.billing_reason == "subscription_cycle"
    payments = client.v1.invoice_payments.list(params={"invoice": renewal.id}).data
    renewal_intent = client.v1.payment_intents.retrieve(str(payments[0].payment.payment_intent))
    assert renewal_intent.payment_method == card


def test_without_saving_the_paying_card_stays_off_the_subscription(client: Client) -> None:
    price = monthly_price(client)
    customer = customer_without_card(client)
    subscription = client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": price.id}],
            "payment_behavior": "default_incomplete",
            "expand": ["latest_invoice.confirmation_secret"],
        }
    )
    assert settings_of(subscription).save_default_payment_method == "off"
    pay_first_invoice(client, subscription)
    subscription = client.v1.subscriptions.retrieve(subscription.id)
    assert (subscription.status, subscription.default_payment_method) == ("active", None)


def test_a_first_invoice_charged_at_creation_saves_its_card_too(client: Client) -> None:
    price = monthly_price(client)
    _, customer = clock_customer(client)
    subscription = subscribe(
        client,
        customer.id,
        price.id,
        payment_settings={"save_default_payment_method": "on_subscription"},
    )
    assert subscription.status == "active"
    assert subscription.default_payment_method is not None
    assert (
        client.v1.payment_methods.retrieve(str(subscription.default_payment_method)).customer
        == customer.id
    )


def test_payment_settings_go_on_every_invoice_it_makes(client: Client) -> None:
    price = monthly_price(client)
    clock_id, customer = clock_customer(client)
    settings = {
        "payment_method_types": ["card"],
        "payment_method_options": {"card": {"request_three_d_secure": "any"}},
    }
    subscription = subscribe(client, customer.id, price.id, payment_settings=settings)
    shown = settings_of(subscription)
    assert shown.payment_method_types == ["card"]
    assert shown.payment_method_options is not None
    options = shown.payment_method_options.to_dict()
    assert options["card"] == {
        "mandate_options": None,
        "network": None,
        "request_three_d_secure": "any",
    }
    assert options["sepa_debit"] is None
    advance(client, clock_id, period_of(subscription)[1] + 2 * HOUR)
    first, renewal = invoices_of(client, subscription.id)
    for invoice in (first, renewal):
        assert invoice.payment_settings.payment_method_types == ["card"]
        invoice_options = invoice.payment_settings.payment_method_options
        assert invoice_options is not None
        assert invoice_options.to_dict() == {"card": {"request_three_d_secure": "any"}}


def test_an_update_switches_collection_to_invoices_sent_and_back(client: Client) -> None:
    price = monthly_price(client)
    clock_id, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    updated = client.v1.subscriptions.update(
        subscription.id, params={"collection_method": "send_invoice", "days_until_due": 14}
    )
    assert (updated.collection_method, updated.days_until_due) == ("send_invoice", 14)
    renews_at = period_of(subscription)[1]
    advance(client, clock_id, renews_at + 2 * HOUR)
    renewal = invoices_of(client, subscription.id)[-1]
    assert (renewal.collection_method, renewal.status) == ("send_invoice", "open")
    assert renewal.due_date == renewal.created + 14 * DAY  # Stripe: days from its creation

    back = client.v1.subscriptions.update(
        subscription.id, params={"collection_method": "charge_automatically"}
    )
    assert (back.collection_method, back.days_until_due) == ("charge_automatically", None)


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"collection_method": "send_invoice"}, "days_until_due"),
        ({"days_until_due": 3}, "days_until_due"),
        ({"automatic_tax": {"enabled": True}}, "automatic_tax[enabled]"),
        ({"application_fee_percent": 5}, "application_fee_percent"),
        ({"transfer_data": {"destination": "acct_x"}}, "transfer_data"),
        ({"pending_invoice_item_interval": {"interval": "month"}}, "pending_invoice_item_interval"),
        ({"billing_thresholds": {"amount_gte": 1000}}, "billing_thresholds"),
        ({"default_source": "card_x"}, "default_source"),
        ({"invoice_settings": {"account_tax_ids": ["txi_x"]}}, "invoice_settings[account_tax_ids]"),
    ],
)
def test_an_update_refuses_what_kassa_does_not_do_and_changes_nothing(
    client: Client, params: dict[str, Any], param: str
) -> None:
    price = monthly_price(client)
    _, customer = clock_customer(client)
    subscription = subscribe(client, customer.id, price.id)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        sent: Any = {**params, "description": "x"}
        client.v1.subscriptions.update(subscription.id, params=sent)
    assert refused.value.param == param
    assert client.v1.subscriptions.retrieve(subscription.id) == subscription


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"currency": "eur"}, "currency"),
        ({"automatic_tax": {"enabled": True}}, "automatic_tax[enabled]"),
        ({"on_behalf_of": "acct_x"}, "on_behalf_of"),
        ({"backdate_start_date": JAN_31_2027 - DAY}, "backdate_start_date"),
        ({"customer_account": "acct_x"}, "customer_account"),
        (
            {
                "payment_settings": {
                    "payment_method_options": {"card": {"mandate_options": MANDATE}}
                }
            },
            "payment_settings[payment_method_options][card][mandate_options]",
        ),
    ],
)
def test_a_create_refuses_what_kassa_does_not_do_and_keeps_nothing(
    client: Client, params: dict[str, Any], param: str
) -> None:
    price = monthly_price(client)
    _, customer = clock_customer(client)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        subscribe(client, customer.id, price.id, **params)
    assert refused.value.param == param
    listed = client.v1.subscriptions.list(params={"customer": customer.id, "status": "all"})
    assert listed.data == []
    assert client.v1.invoices.list(params={"customer": customer.id}).data == []


def test_settings_kassa_takes_as_stripe_shows_them(client: Client) -> None:
    price = monthly_price(client)
    _, customer = clock_customer(client)
    subscription = subscribe(
        client,
        customer.id,
        price.id,
        currency="USD",
        automatic_tax={"enabled": False},
        invoice_settings={"issuer": {"type": "self"}},
        off_session=True,
    )
    assert subscription.currency == "usd"
    assert subscription.automatic_tax.to_dict() == {
        "disabled_reason": None,
        "enabled": False,
        "liability": None,
    }
    assert subscription.invoice_settings.issuer.type == "self"
    unset: Any = {
        "off_session": True,
        "payment_settings": {"payment_method_types": "", "payment_method_options": ""},
    }
    updated = client.v1.subscriptions.update(subscription.id, params=unset)
    assert settings_of(updated).payment_method_types is None
    assert settings_of(updated).payment_method_options is None
