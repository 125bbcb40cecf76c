"""A customer's card sources through the official SDK (and raw HTTP for the older routes)
against a live server, on SQLite and PostgreSQL: saved from tokens or card details, retrieved,
updated, deleted, listed; `default_source` kept as Stripe keeps it, with its events."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pytest
import stripe

from tests.harness import Account, KassaServer

pytestmark = pytest.mark.usefixtures("ledger_verified")


def token(client: stripe.StripeClient, number: str = "4242424242424242") -> str:
    params: Any = {"card": {"number": number, "exp_month": "12", "exp_year": "2034", "cvc": "123"}}
    made = client.v1.tokens.create(params=params, options={"idempotency_key": str(uuid.uuid4())})
    return made.id


def add_card(client: stripe.StripeClient, customer: str, source: str = "tok_visa") -> stripe.Card:
    card = client.v1.customers.payment_sources.create(customer, {"source": source})
    assert isinstance(card, stripe.Card)
    return card


def event_types(client: stripe.StripeClient, object_id: str) -> list[str]:
    listed = client.v1.events.list({"limit": 100})
    return [e.type for e in listed.data if e.data.object.to_dict().get("id") == object_id]


def test_the_first_card_becomes_the_default(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create({"email": "jenny@example.com"})
    assert customer.default_source is None
    tok = token(client)
    first = add_card(client, customer.id, tok)
    assert first.customer == customer.id
    assert first.id == client.v1.tokens.retrieve(tok).card.id  # type: ignore[union-attr]
    second = add_card(client, customer.id)
    assert client.v1.customers.retrieve(customer.id).default_source == first.id
    expanded = client.v1.customers.retrieve(customer.id, {"expand": ["default_source"]})
    assert isinstance(expanded.default_source, stripe.Card)
    assert expanded.default_source.id == first.id
    assert "created" not in expanded.default_source
    listed = client.v1.customers.payment_sources.list(customer.id, {"object": "card"})
    assert [c.id for c in listed.data] == [second.id, first.id]
    with_sources = client.v1.customers.retrieve(customer.id, {"expand": ["sources"]})
    assert with_sources.sources is not None
    assert [c.id for c in with_sources.sources.data] == [second.id, first.id]
    assert "sources" not in client.v1.customers.retrieve(customer.id)
    assert event_types(client, first.id) == ["customer.source.created"]
    assert "customer.updated" in event_types(client, customer.id)


def test_the_expanded_sources_count_past_the_first_page(client: stripe.StripeClient) -> None:
    """Stripe embeds the newest 10 cards, and `total_count` counts them all."""
    customer = client.v1.customers.create()
    cards = [add_card(client, customer.id).id for _ in range(12)]
    expanded = client.v1.customers.retrieve(customer.id, {"expand": ["sources"]})
    sources = expanded.to_dict()["sources"]
    assert [c["id"] for c in sources["data"]] == cards[:1:-1]
    assert (sources["has_more"], sources["total_count"]) == (True, 12)


def test_a_card_from_details_as_older_integrations_send_it(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    params: Any = {
        "source": {
            "object": "card",
            "number": "5555555555554444",
            "exp_month": "4",
            "exp_year": "2042",
            "cvc": "123",
            "name": "John Smith",
            "address_line1": "1 Main St",
        },
        "metadata": {"order": "42"},
    }
    card = client.v1.customers.payment_sources.create(customer.id, params)
    assert isinstance(card, stripe.Card)
    assert (card.brand, card.last4, card.name, card.exp_year) == (
        "MasterCard",
        "4444",
        "John Smith",
        2042,
    )
    assert card.address_line1_check == "pass"
    assert card.metadata is not None and card.metadata.to_dict() == {"order": "42"}
    fetched = client.v1.customers.payment_sources.retrieve(customer.id, card.id)
    assert fetched.id == card.id


def test_update_a_card(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    card = add_card(client, customer.id)
    params: Any = {
        "name": "Jane Doe",
        "address_zip": "94110",
        "exp_month": "3",
        "exp_year": "2040",
        "metadata": {"k": "v"},
    }
    updated = client.v1.customers.payment_sources.update(customer.id, card.id, params)
    assert isinstance(updated, stripe.Card)
    assert (updated.name, updated.address_zip, updated.exp_month, updated.exp_year) == (
        "Jane Doe",
        "94110",
        3,
        2040,
    )
    assert updated.metadata is not None and updated.metadata.to_dict() == {"k": "v"}
    assert event_types(client, card.id) == ["customer.source.updated", "customer.source.created"]
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.payment_sources.update(customer.id, card.id, {"exp_month": "13"})
    assert raised.value.param == "exp_month"


def test_deleting_the_default_makes_the_newest_remaining_card_the_default(
    client: stripe.StripeClient,
) -> None:
    customer = client.v1.customers.create()
    first, second, third = (add_card(client, customer.id) for _ in range(3))
    # Make the middle one the default, then delete it: the newest remaining takes over.
    client.v1.customers.update(customer.id, {"default_source": second.id})
    assert client.v1.customers.retrieve(customer.id).default_source == second.id
    deleted = client.v1.customers.payment_sources.delete(customer.id, second.id)
    assert deleted.to_dict()["deleted"] is True and deleted.id == second.id
    assert client.v1.customers.retrieve(customer.id).default_source == third.id
    client.v1.customers.payment_sources.delete(customer.id, third.id)
    assert client.v1.customers.retrieve(customer.id).default_source == first.id
    client.v1.customers.payment_sources.delete(customer.id, first.id)
    assert client.v1.customers.retrieve(customer.id).default_source is None
    assert client.v1.customers.payment_sources.list(customer.id).data == []
    assert event_types(client, first.id) == ["customer.source.deleted", "customer.source.created"]
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.payment_sources.retrieve(customer.id, first.id)
    assert raised.value.http_status == 404


def test_customer_create_and_update_with_a_source(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create({"source": token(client)})
    first = customer.default_source
    assert isinstance(first, str) and first.startswith("card_")
    # `source` on update saves a new default and deletes the old one, as Stripe does.
    updated = client.v1.customers.update(customer.id, {"source": "tok_mastercard"})
    assert updated.default_source not in (None, first)
    listed = client.v1.customers.payment_sources.list(customer.id)
    assert [c.id for c in listed.data] == [updated.default_source]
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.update(customer.id, {"default_source": first})
    assert raised.value.param == "default_source"
    assert raised.value.http_status == 404


def test_a_card_that_declines_on_attach_is_not_saved(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    with pytest.raises(stripe.CardError) as raised:
        add_card(client, customer.id, "tok_chargeDeclined")
    assert raised.value.http_status == 402
    assert raised.value.code == "card_declined"
    assert client.v1.customers.payment_sources.list(customer.id).data == []
    assert client.v1.customers.retrieve(customer.id).default_source is None
    # This one attaches, and declines only when charged.
    assert add_card(client, customer.id, "tok_chargeCustomerFail").last4 == "0341"


def test_an_expired_card_saved_as_a_source_blames_its_expiry(
    client: stripe.StripeClient,
) -> None:
    """Stripe's recorded decline names the card field it blames (`exp_month` for the expired
    test card) wherever the card comes from, not the request's `source`."""
    customer = client.v1.customers.create()
    with pytest.raises(stripe.CardError) as raised:
        add_card(client, customer.id, "tok_chargeDeclinedExpiredCard")
    assert raised.value.http_status == 402
    assert (raised.value.code, raised.value.param) == ("expired_card", "exp_month")
    assert client.v1.customers.payment_sources.list(customer.id).data == []


def test_another_customers_card_and_missing_objects_are_404(client: stripe.StripeClient) -> None:
    owner = client.v1.customers.create()
    other = client.v1.customers.create()
    card = add_card(client, owner.id)
    for customer, card_id in ((other.id, card.id), ("cus_missing", card.id), (owner.id, "card_x")):
        with pytest.raises(stripe.InvalidRequestError) as raised:
            client.v1.customers.payment_sources.retrieve(customer, card_id)
        assert raised.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.payment_sources.create(owner.id, {"source": "src_missing"})
    assert raised.value.param == "source"
    with pytest.raises(stripe.InvalidRequestError) as missing:
        nothing: Any = {}
        client.v1.customers.payment_sources.create(owner.id, params=nothing)
    assert missing.value.param == "source"


def test_the_older_cards_routes(server: KassaServer, account: Account) -> None:
    with server.http(account.secret_key) as http:
        customer = http.post("/v1/customers").json()["id"]
        made = http.post(
            f"/v1/customers/{customer}/cards",
            data={
                "source[object]": "card",
                "source[number]": "4242424242424242",
                "source[exp_month]": "12",
                "source[exp_year]": "2034",
                "source[cvc]": "123",
            },
        )
        assert made.status_code == 200, made.text
        card = made.json()["id"]
        got = http.get(f"/v1/customers/{customer}/cards/{card}")
        assert got.json()["object"] == "card"
        listed = http.get(f"/v1/customers/{customer}/sources", params={"object": "card"})
        assert [c["id"] for c in listed.json()["data"]] == [card]
        banks = http.get(f"/v1/customers/{customer}/sources", params={"object": "bank_account"})
        assert banks.json()["data"] == []
        assert http.delete(f"/v1/customers/{customer}/cards/{card}").json()["deleted"] is True


def test_a_saved_card_serves_as_a_payment_method(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    card = add_card(client, customer.id)
    as_method = client.v1.payment_methods.retrieve(card.id)
    assert (as_method.object, as_method.type, as_method.customer) == (
        "payment_method",
        "card",
        customer.id,
    )
    intent = client.v1.payment_intents.create(
        {
            "amount": 1500,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": card.id,
            "confirm": True,
            "allowed_payment_method_types": ["card"],
        }
    )
    assert intent.status == "succeeded"
    assert isinstance(intent.latest_charge, str)
    assert client.v1.charges.retrieve(intent.latest_charge).payment_method == card.id


def test_an_invoice_is_paid_with_the_default_source(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create({"source": "tok_visa"})
    client.v1.invoice_items.create({"customer": customer.id, "amount": 2000, "currency": "usd"})
    invoice = client.v1.invoices.create(
        {"customer": customer.id, "pending_invoice_items_behavior": "include"}
    )
    assert invoice.id is not None
    paid = client.v1.invoices.pay(invoice.id)
    assert (paid.status, paid.amount_paid) == ("paid", 2000)


def test_deleting_the_default_payment_method_card_clears_it(client: stripe.StripeClient) -> None:
    """A saved card named as `invoice_settings[default_payment_method]` and then deleted is
    no longer the customer's: the default is cleared with `default_source`."""
    customer = client.v1.customers.create()
    card = add_card(client, customer.id)
    client.v1.customers.update(
        customer.id, {"invoice_settings": {"default_payment_method": card.id}}
    )
    client.v1.customers.payment_sources.delete(customer.id, card.id)
    fetched = client.v1.customers.retrieve(customer.id)
    assert fetched.default_source is None
    assert fetched.invoice_settings is not None
    assert fetched.invoice_settings.default_payment_method is None
    changed = client.v1.events.list({"type": "customer.updated", "limit": 1}).data[0]
    previous = changed.data.to_dict()["previous_attributes"]
    assert previous["invoice_settings"]["default_payment_method"] == card.id

    # Replaced by `source` on update: the old default card is deleted, and with it the default.
    replaced = add_card(client, customer.id)
    client.v1.customers.update(
        customer.id, {"invoice_settings": {"default_payment_method": replaced.id}}
    )
    updated = client.v1.customers.update(customer.id, {"source": "tok_mastercard"})
    assert updated.invoice_settings is not None
    assert updated.invoice_settings.default_payment_method is None


def test_an_intent_confirmed_without_a_payment_method_takes_the_default_source(
    client: stripe.StripeClient,
) -> None:
    """Stripe: with `confirm=true` and neither `payment_method` nor `source`, `source` is
    populated from the customer's `default_source` (to ease migration from the Charges API),
    on create and on a later confirm alike."""
    customer = client.v1.customers.create({"source": "tok_visa"})
    card = customer.default_source
    assert isinstance(card, str)
    terms: Any = {"amount": 1000, "currency": "usd", "customer": customer.id}
    at_once: Any = {
        **terms,
        "confirm": True,
        "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
    }
    confirmed = client.v1.payment_intents.create(at_once)
    assert (confirmed.status, confirmed.payment_method, confirmed.source) == (
        "succeeded",
        card,
        card,
    )
    assert isinstance(confirmed.latest_charge, str)
    assert client.v1.charges.retrieve(confirmed.latest_charge).payment_method == card

    unconfirmed: Any = {**terms, "allowed_payment_method_types": ["card"]}
    later = client.v1.payment_intents.create(unconfirmed)
    assert (later.status, later.source) == ("requires_payment_method", None)
    paid = client.v1.payment_intents.confirm(later.id)
    assert (paid.status, paid.payment_method, paid.source) == ("succeeded", card, card)


def test_without_a_default_source_the_intent_still_lacks_a_payment_method(
    client: stripe.StripeClient,
) -> None:
    """Only a default card source fills in: a default PaymentMethod in `invoice_settings`
    does not (Stripe does not use it here)."""
    customer = client.v1.customers.create()
    method = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    client.v1.customers.update(
        customer.id, {"invoice_settings": {"default_payment_method": method.id}}
    )
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.create(
            {
                "amount": 1000,
                "currency": "usd",
                "customer": customer.id,
                "confirm": True,
                "allowed_payment_method_types": ["card"],
            }
        )
    assert raised.value.http_status == 400
    assert "missing a payment method" in str(raised.value.user_message)


def test_an_update_to_an_expiry_in_the_past_is_refused(client: stripe.StripeClient) -> None:
    """As token creation refuses the same date: 402 `invalid_expiry_year` (or
    `invalid_expiry_month`), naming the update's parameter; the card is unchanged. "Past" is
    by the customer's test clock (frozen in June 2030, so both dates are still ahead by the
    wall clock and only the clock makes them past)."""
    frozen = datetime.datetime(2030, 6, 15, tzinfo=datetime.UTC)
    clock = client.v1.test_helpers.test_clocks.create({"frozen_time": int(frozen.timestamp())})
    customer = client.v1.customers.create({"test_clock": clock.id})
    card = add_card(client, customer.id)
    with pytest.raises(stripe.CardError) as past_year:
        client.v1.customers.payment_sources.update(
            customer.id, card.id, {"exp_year": str(frozen.year - 1)}
        )
    assert past_year.value.http_status == 402
    assert (past_year.value.code, past_year.value.param) == ("invalid_expiry_year", "exp_year")
    with pytest.raises(stripe.CardError) as past_month:
        client.v1.customers.payment_sources.update(
            customer.id, card.id, {"exp_year": str(frozen.year), "exp_month": "5"}
        )
    assert past_month.value.http_status == 402
    assert (past_month.value.code, past_month.value.param) == (
        "invalid_expiry_month",
        "exp_month",
    )
    kept = client.v1.customers.payment_sources.retrieve(customer.id, card.id)
    assert isinstance(kept, stripe.Card)
    assert (kept.exp_month, kept.exp_year) == (card.exp_month, card.exp_year)
    moved = client.v1.customers.payment_sources.update(
        customer.id, card.id, {"exp_month": "6", "exp_year": str(frozen.year)}
    )
    assert isinstance(moved, stripe.Card)
    assert (moved.exp_month, moved.exp_year) == (6, frozen.year)
