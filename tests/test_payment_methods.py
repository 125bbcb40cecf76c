"""PaymentMethods of type `card` through the official SDK against a live server, on SQLite and
PostgreSQL: raw card numbers (validation, brand, fingerprint), test tokens, update, list,
attach and detach."""

from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
import stripe

from tests.harness import Account, KassaServer

THIS_YEAR = datetime.datetime.now(datetime.UTC).year
FUTURE_YEAR = THIS_YEAR + 3
FINGERPRINT = re.compile(r"^[0-9A-Za-z]{16}$")


@dataclass(frozen=True)
class BrandCard:
    number: str
    brand: str
    display_brand: str
    cvc: str
    country: str | None
    """None where Stripe's testing page does not say which country issues the card."""


# Stripe's "cards by brand" table (docs.stripe.com/testing): every one a credit card.
BRAND_CARDS = (
    BrandCard("4242424242424242", "visa", "visa", "123", "US"),
    BrandCard("5555555555554444", "mastercard", "mastercard", "123", "US"),
    BrandCard("2223003122003222", "mastercard", "mastercard", "123", "US"),
    BrandCard("378282246310005", "amex", "american_express", "1234", "US"),
    BrandCard("6011111111111117", "discover", "discover", "123", "US"),
    BrandCard("3056930009020004", "diners", "diners_club", "123", None),
    BrandCard("36227206271667", "diners", "diners_club", "123", None),
    BrandCard("3566002020360505", "jcb", "jcb", "123", None),
    BrandCard("6200000000000005", "unionpay", "union_pay", "123", None),
)

INCORRECT_NUMBERS = {
    "Luhn failure": "4242424242424241",
    "too short for visa": "424242424242",
    "too long for mastercard": "55555555555544440",
    "amex at 16 digits": "3782822463100050",
    "unknown prefix": "9999999999999995",
    "letters": "4242abcd42424242",
    "spaces": "4242 4242 4242 4242",
    "dashes": "4242-4242-4242-4242",
    "empty": "",
}


def card_params(
    number: str, *, exp_month: str = "12", exp_year: str = str(FUTURE_YEAR), cvc: str = "123"
) -> Any:
    """Create parameters as a form would send them (strings, so invalid values fit too)."""
    return {
        "type": "card",
        "card": {"number": number, "exp_month": exp_month, "exp_year": exp_year, "cvc": cvc},
    }


def assert_fields_declared(obj: dict[str, Any]) -> None:
    """Every key Kassa returns is one the stripe package declares for a PaymentMethod."""
    assert set(obj) <= set(stripe.PaymentMethod.__annotations__), set(obj) - set(
        stripe.PaymentMethod.__annotations__
    )
    card = obj["card"]
    assert set(card) <= set(stripe.PaymentMethod.Card.__annotations__)
    assert set(card["checks"]) <= set(stripe.PaymentMethod.Card.Checks.__annotations__)
    assert set(obj["billing_details"]) <= set(stripe.PaymentMethod.BillingDetails.__annotations__)


def card_error(client: stripe.StripeClient, params: Any) -> stripe.CardError:
    with pytest.raises(stripe.CardError) as raised:
        client.v1.payment_methods.create(params=params)
    return raised.value


def test_each_brand_from_its_test_number(client: stripe.StripeClient) -> None:
    fingerprints = set()
    for test_card in BRAND_CARDS:
        pm = client.v1.payment_methods.create(
            params=card_params(test_card.number, exp_month="7", cvc=test_card.cvc)
        )
        assert pm.id.startswith("pm_")
        assert pm.object == "payment_method"
        assert pm.type == "card"
        assert pm.customer is None
        assert pm.livemode is False
        card = pm.card
        assert card is not None
        assert card.brand == test_card.brand, test_card
        assert card.display_brand == test_card.display_brand, test_card
        assert card.last4 == test_card.number[-4:]
        assert (card.exp_month, card.exp_year) == (7, FUTURE_YEAR)
        assert card.funding == "credit"
        if test_card.country is None:
            assert re.fullmatch(r"[A-Z]{2}", card.country or ""), test_card
        else:
            assert card.country == test_card.country
        assert card.checks is not None and card.checks.cvc_check == "pass"
        assert FINGERPRINT.fullmatch(card.fingerprint or ""), card.fingerprint
        fingerprints.add(card.fingerprint)
        assert test_card.number not in json.dumps(pm.to_dict())
        assert_fields_declared(pm.to_dict())
    assert len(fingerprints) == len(BRAND_CARDS), "each number has its own fingerprint"


def test_same_number_same_fingerprint(client: stripe.StripeClient) -> None:
    first = client.v1.payment_methods.create(params=card_params("4242424242424242"))
    second = client.v1.payment_methods.create(
        params=card_params("4242424242424242", exp_month="3", cvc="999")
    )
    other = client.v1.payment_methods.create(params=card_params("4000056655665556"))
    assert first.id != second.id
    assert first.card is not None and second.card is not None and other.card is not None
    assert first.card.fingerprint == second.card.fingerprint
    assert other.card.fingerprint != first.card.fingerprint
    assert other.card.funding == "debit"
    assert other.card.last4 == "5556"
    # A valid number that is not one of Stripe's test cards is a card all the same.
    plain = client.v1.payment_methods.create(params=card_params("4111111111111111"))
    assert plain.card is not None
    assert (plain.card.brand, plain.card.last4) == ("visa", "1111")
    assert plain.card.fingerprint not in {first.card.fingerprint, other.card.fingerprint}


def test_two_digit_expiry_year(client: stripe.StripeClient) -> None:
    pm = client.v1.payment_methods.create(
        params=card_params("4242424242424242", exp_year=f"{FUTURE_YEAR % 100:02d}")
    )
    assert pm.card is not None and pm.card.exp_year == FUTURE_YEAR


def test_publishable_key_creates_but_does_not_read(server: KassaServer, account: Account) -> None:
    browser = server.client(account.publishable_key)
    pm = browser.v1.payment_methods.create(params=card_params("4242424242424242"))
    assert pm.id.startswith("pm_")
    with pytest.raises(stripe.AuthenticationError) as raised:
        browser.v1.payment_methods.list()
    assert raised.value.http_status == 401
    secret = server.client(account.secret_key)
    assert [p.id for p in secret.v1.payment_methods.list().data] == [pm.id]


def test_cvc_is_optional_and_unchecked_without_one(client: stripe.StripeClient) -> None:
    pm = client.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": "4242424242424242", "exp_month": 1, "exp_year": FUTURE_YEAR},
        }
    )
    assert pm.card is not None and pm.card.checks is not None
    assert pm.card.checks.cvc_check is None
    assert pm.card.exp_month == 1


def test_card_token_and_test_payment_method(client: stripe.StripeClient) -> None:
    from_number = client.v1.payment_methods.create(params=card_params("4242424242424242"))
    from_token = client.v1.payment_methods.create(
        params={"type": "card", "card": {"token": "tok_visa"}}
    )
    assert from_token.id.startswith("pm_")
    assert from_token.card is not None and from_number.card is not None
    assert from_token.card.brand == "visa"
    assert from_token.card.last4 == "4242"
    assert from_token.card.fingerprint == from_number.card.fingerprint
    assert from_token.card.exp_year > THIS_YEAR - 1

    retrieved = client.v1.payment_methods.retrieve("pm_card_visa")
    again = client.v1.payment_methods.retrieve("pm_card_visa")
    assert retrieved.id.startswith("pm_")
    assert retrieved.id != "pm_card_visa"
    assert again.id != retrieved.id, "each use of a test payment method makes a new one"
    assert retrieved.card is not None
    assert retrieved.card.brand == "visa"
    assert retrieved.card.fingerprint == from_number.card.fingerprint
    stored = client.v1.payment_methods.retrieve(retrieved.id)
    assert stored.to_dict() == retrieved.to_dict()

    mastercard = client.v1.payment_methods.retrieve("pm_card_mastercard")
    assert mastercard.card is not None and mastercard.card.brand == "mastercard"

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_methods.create(params={"type": "card", "card": {"token": "tok_nope"}})
    assert raised.value.http_status == 400
    assert raised.value.param == "card[token]"


def test_incorrect_numbers_are_card_errors(client: stripe.StripeClient) -> None:
    for case, number in INCORRECT_NUMBERS.items():
        error = card_error(client, card_params(number))
        assert error.http_status == 402, case
        assert error.code == "incorrect_number", case
        assert error.param == "card[number]", case
        assert error.error is not None and error.error.type == "card_error", case
        if number:
            assert number not in str(error.json_body), case
    assert client.v1.payment_methods.list().data == []


def test_invalid_expiry_and_cvc(client: stripe.StripeClient) -> None:
    cases = [
        (card_params("4242424242424242", exp_month="13"), "invalid_expiry_month", "exp_month"),
        (card_params("4242424242424242", exp_month="0"), "invalid_expiry_month", "exp_month"),
        (card_params("4242424242424242", exp_month="ab"), "invalid_expiry_month", "exp_month"),
        (
            card_params("4242424242424242", exp_year=str(THIS_YEAR - 1)),
            "invalid_expiry_year",
            "exp_year",
        ),
        (card_params("4242424242424242", cvc="12"), "invalid_cvc", "cvc"),
        (card_params("4242424242424242", cvc="12a"), "invalid_cvc", "cvc"),
        (card_params("4242424242424242", cvc="1234"), "invalid_cvc", "cvc"),
        (card_params("378282246310005", cvc="123"), "invalid_cvc", "cvc"),
    ]
    for params, code, field in cases:
        error = card_error(client, params)
        assert error.http_status == 402, params
        assert error.code == code, params
        assert error.param == f"card[{field}]", params
    assert client.v1.payment_methods.list().data == []


def test_missing_parameters_name_the_param(client: stripe.StripeClient) -> None:
    cases: list[tuple[Any, str]] = [
        ({"card": {"number": "4242424242424242", "exp_month": 1, "exp_year": FUTURE_YEAR}}, "type"),
        ({"type": "card", "card": {"exp_month": 1, "exp_year": FUTURE_YEAR}}, "card[number]"),
        (
            {"type": "card", "card": {"number": "4242424242424242", "exp_year": 2030}},
            "card[exp_month]",
        ),
    ]
    for params, param in cases:
        with pytest.raises(stripe.InvalidRequestError) as raised:
            client.v1.payment_methods.create(params=params)
        assert raised.value.http_status == 400, params
        assert raised.value.param == param
        assert param in str(raised.value.user_message)


def test_raw_responses_never_hold_the_number(server: KassaServer, account: Account) -> None:
    number = "5555555555554444"
    with server.http(account.secret_key) as http:
        created = http.post(
            "/v1/payment_methods",
            data={
                "type": "card",
                "card[number]": number,
                "card[exp_month]": "4",
                "card[exp_year]": str(FUTURE_YEAR),
                "card[cvc]": "321",
            },
        )
        assert created.status_code == 200, created.text
        pm_id = created.json()["id"]
        fetched = http.get(f"/v1/payment_methods/{pm_id}")
        listed = http.get("/v1/payment_methods")
        rejected = http.post(
            "/v1/payment_methods",
            data={
                "type": "card",
                "card[number]": "5555555555554445",
                "card[exp_month]": "4",
                "card[exp_year]": str(FUTURE_YEAR),
            },
        )
    assert rejected.status_code == 402
    for response in (created, fetched, listed, rejected):
        assert number not in response.text
        assert "555555555555444" not in response.text
    assert created.json()["card"]["last4"] == "4444"


def test_update_billing_details_metadata_and_expiry(client: stripe.StripeClient) -> None:
    pm = client.v1.payment_methods.create(params=card_params("4242424242424242", exp_month="5"))
    assert pm.billing_details.name is None
    updated = client.v1.payment_methods.update(
        pm.id,
        params={
            "billing_details": {
                "name": "Ada Lovelace",
                "email": "ada@example.com",
                "address": {"city": "London", "country": "GB"},
            },
            "metadata": {"order": "42", "tier": "gold"},
            "card": {"exp_month": 11, "exp_year": FUTURE_YEAR + 1},
        },
    )
    assert updated.id == pm.id
    assert updated.billing_details.name == "Ada Lovelace"
    assert updated.billing_details.email == "ada@example.com"
    assert updated.billing_details.address is not None
    assert updated.billing_details.address.city == "London"
    assert updated.billing_details.address.country == "GB"
    assert updated.billing_details.address.line1 is None
    assert updated.metadata is not None
    assert updated.metadata.to_dict() == {"order": "42", "tier": "gold"}
    assert updated.card is not None and pm.card is not None
    assert (updated.card.exp_month, updated.card.exp_year) == (11, FUTURE_YEAR + 1)
    assert updated.card.fingerprint == pm.card.fingerprint
    assert updated.card.last4 == "4242"

    again = client.v1.payment_methods.update(
        pm.id, params={"metadata": {"order": ""}, "billing_details": {"name": ""}}
    )
    assert again.metadata is not None and again.metadata.to_dict() == {"tier": "gold"}
    assert again.billing_details.name is None
    assert again.billing_details.email == "ada@example.com"
    fetched = client.v1.payment_methods.retrieve(pm.id)
    assert fetched.to_dict() == again.to_dict()
    assert_fields_declared(fetched.to_dict())

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_methods.update(pm.id, params={"card": {"exp_month": 13}})
    assert raised.value.http_status == 400
    assert raised.value.param == "card[exp_month]"


def test_attach_detach_and_list_by_customer(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(params={"email": "pm@example.com"})
    other_customer = client.v1.customers.create(params={"email": "other@example.com"})
    mine = [
        client.v1.payment_methods.create(params=card_params("4242424242424242")).id
        for _ in range(3)
    ]
    loose = client.v1.payment_methods.create(params=card_params("5555555555554444")).id
    for pm_id in mine:
        attached = client.v1.payment_methods.attach(pm_id, params={"customer": customer.id})
        assert attached.customer == customer.id
    theirs = client.v1.payment_methods.attach(
        "pm_card_amex", params={"customer": other_customer.id}
    )
    assert theirs.customer == other_customer.id
    assert theirs.id.startswith("pm_") and theirs.id != "pm_card_amex"

    page = client.v1.payment_methods.list(params={"customer": customer.id, "limit": 2})
    assert [pm.id for pm in page.data] == mine[::-1][:2]
    assert page.has_more is True
    rest = client.v1.payment_methods.list(
        params={"customer": customer.id, "limit": 2, "starting_after": page.data[-1].id}
    )
    assert [pm.id for pm in rest.data] == mine[::-1][2:]
    assert rest.has_more is False
    typed = client.v1.payment_methods.list(params={"customer": customer.id, "type": "card"})
    assert [pm.id for pm in typed.data] == mine[::-1]
    every = [pm.id for pm in client.v1.payment_methods.list(params={"limit": 1}).auto_paging_iter()]
    assert sorted(every) == sorted([*mine, loose, theirs.id])

    detached = client.v1.payment_methods.detach(mine[0])
    assert detached.customer is None
    assert client.v1.payment_methods.retrieve(mine[0]).customer is None
    remaining = client.v1.payment_methods.list(params={"customer": customer.id})
    assert [pm.id for pm in remaining.data] == mine[::-1][:2]

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_methods.detach(mine[0])
    assert raised.value.http_status == 400
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_methods.detach(loose)
    assert raised.value.http_status == 400

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_methods.attach(mine[1], params={"customer": other_customer.id})
    assert raised.value.http_status == 400
    assert client.v1.payment_methods.retrieve(mine[1]).customer == customer.id


def test_attach_to_missing_customer_is_404(client: stripe.StripeClient) -> None:
    pm = client.v1.payment_methods.create(params=card_params("4242424242424242"))
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_methods.attach(pm.id, params={"customer": "cus_doesnotexist"})
    assert raised.value.http_status == 404
    assert raised.value.code == "resource_missing"
    assert raised.value.param == "customer"
    assert client.v1.payment_methods.retrieve(pm.id).customer is None

    customer = client.v1.customers.create()
    client.v1.customers.delete(customer.id)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_methods.attach(pm.id, params={"customer": customer.id})
    assert raised.value.param == "customer"

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_methods.attach("pm_doesnotexist", params={"customer": customer.id})
    assert raised.value.http_status == 404


def test_declining_card_cannot_be_attached(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    with pytest.raises(stripe.CardError) as raised:
        client.v1.payment_methods.attach("pm_card_chargeDeclined", params={"customer": customer.id})
    assert raised.value.http_status == 402
    assert raised.value.code == "card_declined"
    assert raised.value.error is not None
    assert raised.value.error.decline_code == "generic_decline"

    declining = client.v1.payment_methods.create(params=card_params("4000000000000002"))
    with pytest.raises(stripe.CardError) as raised:
        client.v1.payment_methods.attach(declining.id, params={"customer": customer.id})
    assert raised.value.code == "card_declined"
    assert client.v1.payment_methods.retrieve(declining.id).customer is None
    assert client.v1.payment_methods.list(params={"customer": customer.id}).data == []

    insufficient = client.v1.payment_methods.create(params=card_params("4000000000009995"))
    with pytest.raises(stripe.CardError) as raised:
        client.v1.payment_methods.attach(insufficient.id, params={"customer": customer.id})
    assert raised.value.error is not None
    assert raised.value.error.decline_code == "insufficient_funds"

    # Attaching succeeds; only charges decline.
    fails_later = client.v1.payment_methods.attach(
        "pm_card_chargeCustomerFail", params={"customer": customer.id}
    )
    assert fails_later.customer == customer.id
    assert fails_later.card is not None and fails_later.card.last4 == "0341"
    listed = client.v1.payment_methods.list(params={"customer": customer.id})
    assert [pm.id for pm in listed.data] == [fails_later.id]


def test_unknown_payment_method_is_404(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_methods.retrieve("pm_doesnotexist")
    assert raised.value.http_status == 404
    assert raised.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_methods.update("pm_doesnotexist", params={"metadata": {"a": "b"}})
    assert raised.value.http_status == 404


def test_expand_customer(client: stripe.StripeClient) -> None:
    """`customer` expands to the customer it names (declared as the customer's id)."""
    customer = client.v1.customers.create(params={"payment_method": "pm_card_visa"})
    owned = client.v1.payment_methods.list(params={"customer": customer.id}).data
    assert len(owned) == 1
    expanded = client.v1.payment_methods.retrieve(owned[0].id, params={"expand": ["customer"]})
    assert isinstance(expanded.customer, stripe.Customer)
    assert expanded.customer.to_dict() == client.v1.customers.retrieve(customer.id).to_dict()
    loose = client.v1.payment_methods.create(params=card_params("4242424242424242"))
    unowned = client.v1.payment_methods.retrieve(loose.id, params={"expand": ["customer"]})
    assert unowned.customer is None


SINGLE_USE_MESSAGE = "It may not be used again."
"""From Stripe's refusal of a PaymentMethod detached, or used with a PaymentIntent, without
a customer: "The provided PaymentMethod was previously used with a PaymentIntent without
Customer attachment, ... or was detached from a Customer. It may not be used again. ...\""""


def assert_single_use_refusal(raised: pytest.ExceptionInfo[stripe.InvalidRequestError]) -> None:
    assert raised.value.http_status == 400
    assert raised.value.error is not None
    assert raised.value.error.type == "invalid_request_error"
    assert SINGLE_USE_MESSAGE in str(raised.value.user_message)


def test_a_detached_payment_method_cannot_be_used_again(client: stripe.StripeClient) -> None:
    """Stripe: "Detachment is permanent and irreversible": no payment, no new attachment."""
    customer = client.v1.customers.create()
    pm = client.v1.payment_methods.create(params=card_params("4242424242424242"))
    client.v1.payment_methods.attach(pm.id, params={"customer": customer.id})
    client.v1.payment_methods.detach(pm.id)

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.setup_intents.create(
            params={
                "payment_method": pm.id,
                "confirm": True,
                "allowed_payment_method_types": ["card"],
            }
        )
    assert_single_use_refusal(raised)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.create(
            params={
                "amount": 1000,
                "currency": "usd",
                "payment_method": pm.id,
                "confirm": True,
                "allowed_payment_method_types": ["card"],
            }
        )
    assert_single_use_refusal(raised)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_methods.attach(pm.id, params={"customer": customer.id})
    assert_single_use_refusal(raised)
    assert client.v1.payment_methods.retrieve(pm.id).customer is None


def test_a_payment_method_paid_with_without_customer_is_used_up(
    client: stripe.StripeClient,
) -> None:
    pm = client.v1.payment_methods.create(params=card_params("4242424242424242"))
    # Naming it on an intent is no use yet: only a confirmation uses it.
    waiting = client.v1.payment_intents.create(
        params={
            "amount": 500,
            "currency": "usd",
            "payment_method": pm.id,
            "allowed_payment_method_types": ["card"],
        }
    )
    paid = client.v1.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "usd",
            "payment_method": pm.id,
            "confirm": True,
            "allowed_payment_method_types": ["card"],
        }
    )
    assert paid.status == "succeeded"

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.create(
            params={
                "amount": 1000,
                "currency": "usd",
                "payment_method": pm.id,
                "confirm": True,
                "allowed_payment_method_types": ["card"],
            }
        )
    assert_single_use_refusal(raised)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.confirm(waiting.id)
    assert_single_use_refusal(raised)
    assert client.v1.payment_intents.retrieve(waiting.id).status == "requires_confirmation"
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.setup_intents.create(
            params={
                "payment_method": pm.id,
                "confirm": True,
                "allowed_payment_method_types": ["card"],
            }
        )
    assert_single_use_refusal(raised)
    customer = client.v1.customers.create()
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_methods.attach(pm.id, params={"customer": customer.id})
    assert_single_use_refusal(raised)

    # A declined attempt uses the card up as well.
    declining = client.v1.payment_methods.create(params=card_params("4000000000000002"))
    intent = client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd", "allowed_payment_method_types": ["card"]}
    )
    with pytest.raises(stripe.CardError):
        client.v1.payment_intents.confirm(intent.id, params={"payment_method": declining.id})
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.confirm(intent.id, params={"payment_method": declining.id})
    assert_single_use_refusal(raised)


def test_payment_methods_kept_by_a_customer_are_reused(client: stripe.StripeClient) -> None:
    """Attached, a PaymentMethod pays again and again; test ids stand for a new one each use;
    `setup_future_usage` attaches the card it pays with, which stays usable."""
    customer = client.v1.customers.create()
    kept = client.v1.payment_methods.create(params=card_params("4242424242424242"))
    client.v1.payment_methods.attach(kept.id, params={"customer": customer.id})
    saved = client.v1.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": client.v1.payment_methods.create(
                params=card_params("4242424242424242")
            ).id,
            "setup_future_usage": "off_session",
            "confirm": True,
            "allowed_payment_method_types": ["card"],
        }
    )
    assert isinstance(saved.payment_method, str)
    for payment_method in (kept.id, saved.payment_method, kept.id, saved.payment_method):
        paid = client.v1.payment_intents.create(
            params={
                "amount": 1000,
                "currency": "usd",
                "customer": customer.id,
                "payment_method": payment_method,
                "confirm": True,
                "allowed_payment_method_types": ["card"],
            }
        )
        assert paid.status == "succeeded"
    for _ in range(2):
        paid = client.v1.payment_intents.create(
            params={
                "amount": 1000,
                "currency": "usd",
                "payment_method": "pm_card_visa",
                "confirm": True,
                "allowed_payment_method_types": ["card"],
            }
        )
        assert paid.status == "succeeded"
    loose = client.v1.setup_intents.create(
        params={
            "payment_method": client.v1.payment_methods.create(
                params=card_params("4242424242424242")
            ).id,
            "confirm": True,
            "allowed_payment_method_types": ["card"],
        }
    )
    assert loose.status == "succeeded"
    assert isinstance(loose.payment_method, str)
    attached = client.v1.payment_methods.attach(
        loose.payment_method, params={"customer": customer.id}
    )
    assert attached.customer == customer.id


def test_detaching_the_default_clears_it_on_the_customer(client: stripe.StripeClient) -> None:
    """Stripe's `invoice_settings.default_payment_method` is the ID of a payment method
    attached to the customer: detaching that one clears it, announced as customer.updated."""
    customer = client.v1.customers.create()
    pm = client.v1.payment_methods.create(params={"type": "card", "card": {"token": "tok_visa"}})
    client.v1.payment_methods.attach(pm.id, params={"customer": customer.id})
    kept = client.v1.payment_methods.attach("pm_card_mastercard", params={"customer": customer.id})
    client.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": pm.id}}
    )

    client.v1.payment_methods.detach(kept.id)  # not the default: the customer stays as it is
    fetched = client.v1.customers.retrieve(customer.id)
    assert fetched.invoice_settings is not None
    assert fetched.invoice_settings.default_payment_method == pm.id

    client.v1.payment_methods.detach(pm.id)
    fetched = client.v1.customers.retrieve(customer.id)
    assert fetched.invoice_settings is not None
    assert fetched.invoice_settings.default_payment_method is None
    changed = client.v1.events.list(params={"type": "customer.updated", "limit": 1}).data[0]
    assert changed.data.object["id"] == customer.id
    assert changed.data.object["invoice_settings"]["default_payment_method"] is None
    previous = changed.data.to_dict()["previous_attributes"]
    assert previous["invoice_settings"]["default_payment_method"] == pm.id


def test_a_customers_payment_methods(client: stripe.StripeClient) -> None:
    """`GET /v1/customers/{id}/payment_methods[/{pm}]`: the customer's own, newest first,
    filtered by `type` and `allow_redisplay`; another's or a loose one is 404."""
    customer = client.v1.customers.create()
    other = client.v1.customers.create()
    mine = [
        client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id}).id
        for _ in range(3)
    ]
    client.v1.payment_methods.update(mine[1], params={"allow_redisplay": "always"})
    theirs = client.v1.payment_methods.attach("pm_card_amex", params={"customer": other.id})
    loose = client.v1.payment_methods.create(params=card_params("4242424242424242"))

    listed = client.v1.customers.payment_methods.list(customer.id)
    assert [pm.id for pm in listed.data] == mine[::-1]
    assert listed.url == f"/v1/customers/{customer.id}/payment_methods"
    page = client.v1.customers.payment_methods.list(customer.id, params={"limit": 2})
    assert ([pm.id for pm in page.data], page.has_more) == (mine[::-1][:2], True)
    rest = client.v1.customers.payment_methods.list(
        customer.id, params={"limit": 2, "starting_after": page.data[-1].id}
    )
    assert ([pm.id for pm in rest.data], rest.has_more) == ([mine[0]], False)
    typed = client.v1.customers.payment_methods.list(customer.id, params={"type": "card"})
    assert [pm.id for pm in typed.data] == mine[::-1]
    always = client.v1.customers.payment_methods.list(
        customer.id, params={"allow_redisplay": "always"}
    )
    assert [pm.id for pm in always.data] == [mine[1]]
    unspecified = client.v1.customers.payment_methods.list(
        customer.id, params={"allow_redisplay": "unspecified"}
    )
    assert [pm.id for pm in unspecified.data] == [mine[2], mine[0]]
    expanded = client.v1.customers.payment_methods.list(
        customer.id, params={"expand": ["data.customer"]}
    )
    assert isinstance(expanded.data[0].customer, stripe.Customer)

    one = client.v1.customers.payment_methods.retrieve(customer.id, mine[0])
    assert (one.id, one.customer) == (mine[0], customer.id)
    for missing in (theirs.id, loose.id, "pm_missing"):
        with pytest.raises(stripe.InvalidRequestError) as raised:
            client.v1.customers.payment_methods.retrieve(customer.id, missing)
        assert (raised.value.http_status, raised.value.code) == (404, "resource_missing")
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.payment_methods.list("cus_missing")
    assert raised.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.payment_methods.list(customer.id, params={"allow_redisplay": "x"})
    assert raised.value.param == "allow_redisplay"

    client.v1.payment_methods.detach(mine[0])
    after = client.v1.customers.payment_methods.list(customer.id)
    assert [pm.id for pm in after.data] == [mine[2], mine[1]]
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.payment_methods.retrieve(customer.id, mine[0])
    assert raised.value.http_status == 404


ADDRESS_CHECK_CARDS = (
    ("4000000000000010", "pm_card_avsFail", "fail", "fail"),
    ("4000000000000028", "pm_card_avsLine1Fail", "fail", "pass"),
    ("4000000000000036", "pm_card_avsZipFail", "pass", "fail"),
    ("4000000000000044", "pm_card_avsUnchecked", "unavailable", "unavailable"),
    ("4242424242424242", "pm_card_visa", "pass", "pass"),
)


@pytest.mark.parametrize(("number", "test_id", "line1", "postal_code"), ADDRESS_CHECK_CARDS)
def test_address_check_cards_check_the_billing_address(
    client: stripe.StripeClient, number: str, test_id: str, line1: str, postal_code: str
) -> None:
    """Stripe's "CVC and address check failures" cards: a billing address given is checked
    with the card's result (null without one), and payments still succeed."""
    address = {"line1": "1 Main St", "postal_code": "94107"}
    card: Any = {"number": number, "exp_month": 12, "exp_year": FUTURE_YEAR, "cvc": "123"}
    params: Any = {"type": "card", "card": card, "billing_details": {"address": address}}
    made = client.v1.payment_methods.create(params)
    assert made.card is not None and made.card.checks is not None
    checks = made.card.checks
    assert (checks.address_line1_check, checks.address_postal_code_check) == (line1, postal_code)
    assert checks.cvc_check == "pass"
    from_id: Any = {"type": "card", "card": {"token": test_id.replace("pm_card_", "tok_")}}
    bare = client.v1.payment_methods.create(from_id)
    assert bare.card is not None and bare.card.checks is not None
    assert bare.card.checks.address_line1_check is None
    assert bare.card.checks.address_postal_code_check is None
    intent = client.v1.payment_intents.create(
        {
            "amount": 1000,
            "currency": "usd",
            "payment_method": made.id,
            "confirm": True,
            "allowed_payment_method_types": ["card"],
        }
    )
    assert intent.status == "succeeded"
    charge = client.v1.charges.retrieve(str(intent.latest_charge))
    details = charge.payment_method_details
    assert details is not None and details.card is not None and details.card.checks is not None
    charged = details.card.checks
    assert (charged.address_line1_check, charged.address_postal_code_check) == (line1, postal_code)
