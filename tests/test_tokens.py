"""Card tokens through the official SDK and raw HTTP against a live server, on SQLite and
PostgreSQL: made with a secret key or, as Stripe.js makes them, with the publishable key in
a `key` parameter; used once; never holding the number."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import stripe

from tests.harness import Account, KassaServer

pytestmark = pytest.mark.usefixtures("ledger_verified")

CARD = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2034", "cvc": "123"}


def make_token(client: stripe.StripeClient, **card: Any) -> stripe.Token:
    params: Any = {"card": {**CARD, **card}}
    return client.v1.tokens.create(params=params, options={"idempotency_key": str(uuid.uuid4())})


def test_a_token_carries_the_card_without_its_number(client: stripe.StripeClient) -> None:
    token = make_token(client, name="Jenny Rosen", address_zip="94110")
    assert token.id.startswith("tok_")
    assert token.object == "token"
    assert token.type == "card"
    assert token.used is False
    card = token.card
    assert card is not None
    assert card.id.startswith("card_")
    assert (card.object, card.brand, card.last4, card.funding) == ("card", "Visa", "4242", "credit")
    assert (card.exp_month, card.exp_year, card.cvc_check) == (12, 2034, "pass")
    assert card.name == "Jenny Rosen"
    assert card.address_zip == "94110"
    assert card.address_zip_check == "pass"
    assert card.address_line1_check is None
    assert card.customer is None
    assert card.fingerprint
    assert "4242424242424242" not in str(token)
    again = client.v1.tokens.retrieve(token.id)
    assert again.card is not None and again.card.id == card.id


def test_a_token_records_the_ip_address_of_the_client_that_made_it(
    client: stripe.StripeClient,
) -> None:
    token = make_token(client)
    assert token.client_ip == "127.0.0.1"
    assert client.v1.tokens.retrieve(token.id).client_ip == "127.0.0.1"


def test_the_same_number_has_the_same_fingerprint(client: stripe.StripeClient) -> None:
    first, second = make_token(client), make_token(client, exp_year="2035")
    other = make_token(client, number="5555555555554444")
    assert first.card is not None and second.card is not None and other.card is not None
    assert first.card.fingerprint == second.card.fingerprint
    assert other.card.fingerprint != first.card.fingerprint
    assert other.card.brand == "MasterCard"


def test_stripe_js_sends_the_publishable_key_as_a_parameter(
    server: KassaServer, account: Account
) -> None:
    with server.http() as http:
        made = http.post(
            "/v1/tokens",
            data={"key": account.publishable_key, **{f"card[{k}]": v for k, v in CARD.items()}},
        )
        assert made.status_code == 200, made.text
        assert made.json()["id"].startswith("tok_")
        assert made.json()["client_ip"] == "127.0.0.1"
        # The publishable key makes tokens and nothing secret.
        listed = http.get("/v1/customers", params={"key": account.publishable_key})
        assert listed.status_code == 401, listed.text
        assert "publishable API key" in listed.json()["error"]["message"]


def test_a_token_is_used_once(client: stripe.StripeClient) -> None:
    token = make_token(client)
    customer = client.v1.customers.create()
    client.v1.customers.payment_sources.create(customer.id, {"source": token.id})
    assert client.v1.tokens.retrieve(token.id).used is True
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.charges.create({"amount": 1000, "currency": "usd", "source": token.id})
    assert raised.value.code == "token_already_used"
    assert raised.value.http_status == 400
    assert raised.value.param == "source"


@pytest.mark.parametrize(
    ("card", "param", "code"),
    [
        ({"number": "4242424242424241"}, "card[number]", "incorrect_number"),
        ({"exp_month": "13"}, "card[exp_month]", "invalid_expiry_month"),
        ({"exp_year": "2018"}, "card[exp_year]", "invalid_expiry_year"),
        ({"cvc": "12"}, "card[cvc]", "invalid_cvc"),
    ],
)
def test_bad_card_details_are_card_errors_naming_the_parameter(
    client: stripe.StripeClient, card: dict[str, str], param: str, code: str
) -> None:
    with pytest.raises(stripe.CardError) as raised:
        make_token(client, **card)
    assert raised.value.http_status == 402
    assert raised.value.param == param
    assert raised.value.code == code


def test_missing_card_and_unknown_token(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.tokens.create(params={})
    assert raised.value.param == "card"
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.tokens.retrieve("tok_doesnotexist")
    assert missing.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError) as number_missing:
        partial: Any = {"card": {"exp_month": "12", "exp_year": "2034"}}
        client.v1.tokens.create(params=partial)
    assert number_missing.value.param == "card[number]"


def test_stripe_test_tokens_are_never_used_up(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    first = client.v1.customers.payment_sources.create(customer.id, {"source": "tok_visa"})
    second = client.v1.customers.payment_sources.create(customer.id, {"source": "tok_visa"})
    assert first.id != second.id
    assert isinstance(first, stripe.Card) and isinstance(second, stripe.Card)
    assert first.fingerprint == second.fingerprint
    assert first.brand == "Visa"
    amex = client.v1.customers.payment_sources.create(customer.id, {"source": "tok_amex"})
    assert isinstance(amex, stripe.Card) and amex.brand == "American Express"


def test_a_token_makes_a_payment_method_once(client: stripe.StripeClient) -> None:
    """Stripe's `card[token]` on `POST /v1/payment_methods` (and in an intent's
    `payment_method_data`) takes any card token, used up as a charge's `source` is."""
    token = make_token(client, name="Jenny Rosen", address_zip="94110")
    assert token.card is not None
    pm = client.v1.payment_methods.create(params={"type": "card", "card": {"token": token.id}})
    assert pm.id.startswith("pm_")
    assert pm.customer is None
    assert pm.card is not None and pm.card.checks is not None
    assert (pm.card.brand, pm.card.last4, pm.card.exp_month, pm.card.exp_year) == (
        "visa",
        "4242",
        12,
        2034,
    )
    assert pm.card.fingerprint == token.card.fingerprint
    assert pm.card.checks.cvc_check == "pass"
    assert pm.billing_details.name == "Jenny Rosen"
    assert pm.billing_details.address is not None
    assert pm.billing_details.address.postal_code == "94110"
    assert client.v1.tokens.retrieve(token.id).used is True
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_methods.create(params={"type": "card", "card": {"token": token.id}})
    assert raised.value.code == "token_already_used"
    assert raised.value.param == "card[token]"

    customer = client.v1.customers.create()
    paid = client.v1.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": pm.id,
            "allowed_payment_method_types": ["card"],
        }
    )
    assert client.v1.payment_intents.confirm(paid.id).status == "succeeded"

    other = make_token(client, number="5555555555554444")
    # The SDK's types leave `card` out of `payment_method_data`; Stripe's API takes it.
    data: Any = {"type": "card", "card": {"token": other.id}}
    setup = client.v1.setup_intents.create(
        params={
            "customer": customer.id,
            "payment_method_data": data,
            "confirm": True,
            "allowed_payment_method_types": ["card"],
        }
    )
    assert setup.status == "succeeded"
    assert isinstance(setup.payment_method, str)
    saved = client.v1.payment_methods.retrieve(setup.payment_method)
    assert saved.customer == customer.id
    assert saved.card is not None and saved.card.brand == "mastercard"
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.setup_intents.create(
            params={
                "payment_method_data": data,
                "confirm": True,
                "allowed_payment_method_types": ["card"],
            }
        )
    assert raised.value.code == "token_already_used"
    assert raised.value.param == "payment_method_data[card][token]"
