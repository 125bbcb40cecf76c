"""Automatic payment methods, on by default since Stripe's API version 2023-08-16, through the
official SDK against a live server on SQLite and PostgreSQL.

An intent created with neither the types it allows nor `automatic_payment_methods` accepts
the account's payment methods, some of which may redirect the customer: confirming it then
needs a `return_url` (a PaymentIntent's off-session confirmation excepted), and a
PaymentIntent's confirmation refuses `error_on_requires_action`. Created with
`automatic_payment_methods[allow_redirects]=never` or with `allowed_payment_method_types`
(exclusive with automatic payment methods: Stripe's changelog 2026-07-29.dahlia), it needs
none. Kassa's cards never redirect, but an integration that forgot `return_url` must fail
here as it fails on Stripe.

`payment_method_types` is read-only since API version 2026-09-30.endive (Stripe's
changelog): sent with this version it is refused with
`payment_method_types_no_longer_supported`; a request pinning an earlier version (the SDK's
`stripe_version` option) still has it taken."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import stripe

from tests import loopback
from tests.harness import Account, KassaServer

pytestmark = pytest.mark.usefixtures("ledger_verified")

Client = stripe.StripeClient
RETURN_URL = "https://shop.example/paid"
AUTOMATIC = {"allow_redirects": "always", "enabled": True}


def intent_params(**extra: Any) -> Any:
    return {"amount": 2500, "currency": "usd", "payment_method": "pm_card_visa", **extra}


def refused(call: Any) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        call()
    assert raised.value.http_status == 400
    return raised.value


def assert_return_url_refusal(error: stripe.InvalidRequestError) -> None:
    assert error.param == "return_url"
    assert error.code is None
    assert "return_url" in str(error.user_message)
    assert "allow_redirects" in str(error.user_message)


def payment_intent_ids(client: Client) -> list[str]:
    return [intent.id for intent in client.v1.payment_intents.list(params={"limit": 100}).data]


# --- Shape ----------------------------------------------------------------------------------


def test_a_payment_intent_accepts_automatic_payment_methods_by_default(client: Client) -> None:
    intent = client.v1.payment_intents.create(params={"amount": 2500, "currency": "usd"})
    assert intent.to_dict()["automatic_payment_methods"] == AUTOMATIC
    assert intent.payment_method_types == ["card"]
    assert client.v1.payment_intents.retrieve(intent.id).to_dict()["automatic_payment_methods"] == (
        AUTOMATIC
    )


def test_a_setup_intent_accepts_automatic_payment_methods_by_default(client: Client) -> None:
    intent = client.v1.setup_intents.create(params={})
    assert intent.to_dict()["automatic_payment_methods"] == AUTOMATIC
    assert intent.payment_method_types == ["card"]


def test_allowed_types_leave_automatic_payment_methods_off(client: Client) -> None:
    payment = client.v1.payment_intents.create(
        params={"amount": 2500, "currency": "usd", "allowed_payment_method_types": ["card"]}
    )
    setup = client.v1.setup_intents.create(params={"allowed_payment_method_types": ["card"]})
    assert payment.automatic_payment_methods is None
    assert setup.automatic_payment_methods is None
    assert (payment.allowed_payment_method_types, setup.allowed_payment_method_types) == (
        ["card"],
        ["card"],
    )


OLDER_VERSION: Any = {"stripe_version": "2024-06-20"}


def test_payment_method_types_are_refused_on_this_version_and_taken_on_an_older_one(
    client: Client,
) -> None:
    types: Any = {"payment_method_types": ["card"]}
    new_intent: Any = {"amount": 2500, "currency": "usd", **types}
    calls = [
        lambda: client.v1.payment_intents.create(params=new_intent),
        lambda: client.v1.setup_intents.create(params=types),
    ]
    for call in calls:
        error = refused(call)
        assert (error.param, error.code) == (
            "payment_method_types",
            "payment_method_types_no_longer_supported",
        )
    assert client.v1.payment_intents.list().data == []
    assert client.v1.setup_intents.list().data == []
    intent = client.v1.payment_intents.create(params=new_intent, options=OLDER_VERSION)
    assert intent.automatic_payment_methods is None
    for call in (
        lambda: client.v1.payment_intents.update(intent.id, params=types),
        lambda: client.v1.payment_intents.confirm(intent.id, params=types),
    ):
        assert refused(call).code == "payment_method_types_no_longer_supported"
    setup = client.v1.setup_intents.create(params=types, options=OLDER_VERSION)
    assert refused(lambda: client.v1.setup_intents.update(setup.id, params=types)).param == (
        "payment_method_types"
    )


def test_a_request_naming_no_version_still_has_payment_method_types_taken(
    server: KassaServer, account: Account
) -> None:
    """Stripe answers it in the account's pinned version; Kassa keeps none per account, and
    an integration that sends no version is an older one."""
    created = loopback.post(
        f"{server.url}/v1/payment_intents",
        auth=(account.secret_key, ""),
        data={"amount": "2500", "currency": "usd", "payment_method_types[]": "card"},
    )
    assert created.status_code == 200, created.text
    assert created.json()["automatic_payment_methods"] is None


# --- PaymentIntents -------------------------------------------------------------------------


def test_confirming_without_return_url_is_refused(client: Client) -> None:
    intent = client.v1.payment_intents.create(params=intent_params())
    error = refused(lambda: client.v1.payment_intents.confirm(intent.id))
    assert_return_url_refusal(error)
    assert client.v1.payment_intents.retrieve(intent.id).status == "requires_confirmation"


def test_creating_and_confirming_without_return_url_writes_nothing(
    server: KassaServer, account: Account, client: Client
) -> None:
    key = f"apm-{uuid.uuid4()}"
    error = refused(
        lambda: client.v1.payment_intents.create(
            params=intent_params(confirm=True), options={"idempotency_key": key}
        )
    )
    assert_return_url_refusal(error)
    assert payment_intent_ids(client) == []
    assert list(client.v1.events.list().data) == []
    assert list(client.v1.charges.list().data) == []
    # As for any 400, the same key with the same parameters answers the same refusal, and a
    # corrected request needs a new key.
    again = refused(
        lambda: client.v1.payment_intents.create(
            params=intent_params(confirm=True), options={"idempotency_key": key}
        )
    )
    assert again.param == "return_url"
    paid = client.v1.payment_intents.create(
        params=intent_params(confirm=True, return_url=RETURN_URL)
    )
    assert paid.status == "succeeded"


def test_confirming_with_return_url_succeeds(client: Client) -> None:
    intent = client.v1.payment_intents.create(params=intent_params())
    confirmed = client.v1.payment_intents.confirm(intent.id, params={"return_url": RETURN_URL})
    assert confirmed.status == "succeeded"
    created = client.v1.payment_intents.create(
        params=intent_params(confirm=True, return_url=RETURN_URL)
    )
    assert created.status == "succeeded"
    assert created.to_dict()["automatic_payment_methods"] == AUTOMATIC


def test_an_off_session_confirmation_needs_no_return_url(client: Client) -> None:
    customer = client.v1.customers.create(params={"email": "away@example.com"})
    card = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    for off_session in (True, "one_off", "recurring"):
        paid = client.v1.payment_intents.create(
            params={
                "amount": 2500,
                "currency": "usd",
                "customer": customer.id,
                "payment_method": card.id,
                "confirm": True,
                "off_session": off_session,
            }
        )
        assert paid.status == "succeeded"
    intent = client.v1.payment_intents.create(params=intent_params())
    refused_on_session = refused(
        lambda: client.v1.payment_intents.confirm(intent.id, params={"off_session": False})
    )
    assert refused_on_session.param == "return_url"


def test_allow_redirects_never_needs_no_return_url(client: Client) -> None:
    never = {"enabled": True, "allow_redirects": "never"}
    paid = client.v1.payment_intents.create(
        params=intent_params(confirm=True, automatic_payment_methods=never)
    )
    assert paid.status == "succeeded"
    assert paid.to_dict()["automatic_payment_methods"] == {
        "allow_redirects": "never",
        "enabled": True,
    }


def test_allowed_types_need_no_return_url(client: Client) -> None:
    paid = client.v1.payment_intents.create(
        params=intent_params(confirm=True, allowed_payment_method_types=["card"])
    )
    assert paid.status == "succeeded"
    assert paid.automatic_payment_methods is None


def test_error_on_requires_action_is_refused_with_automatic_payment_methods(
    client: Client,
) -> None:
    intent = client.v1.payment_intents.create(params=intent_params())
    error = refused(
        lambda: client.v1.payment_intents.confirm(
            intent.id, params={"return_url": RETURN_URL, "error_on_requires_action": True}
        )
    )
    assert error.param == "error_on_requires_action"
    assert "payment_method_types" in str(error.user_message)
    on_create = refused(
        lambda: client.v1.payment_intents.create(
            params=intent_params(
                confirm=True,
                return_url=RETURN_URL,
                error_on_requires_action=True,
                automatic_payment_methods={"enabled": True, "allow_redirects": "never"},
            )
        )
    )
    assert on_create.param == "error_on_requires_action"
    with_types = client.v1.payment_intents.create(
        params=intent_params(
            confirm=True, error_on_requires_action=True, allowed_payment_method_types=["card"]
        )
    )
    assert with_types.status == "succeeded"


def test_a_return_url_given_earlier_counts_on_a_later_confirmation(client: Client) -> None:
    intent = client.v1.payment_intents.create(
        params={"amount": 2500, "currency": "usd", "payment_method": "pm_card_chargeDeclined"}
    )
    declined = refused_card(
        lambda: client.v1.payment_intents.confirm(intent.id, params={"return_url": RETURN_URL})
    )
    assert declined.code == "card_declined"
    again = client.v1.payment_intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})
    assert again.status == "succeeded"


def test_a_stored_return_url_is_the_intents_own(client: Client) -> None:
    first = client.v1.payment_intents.create(
        params={"amount": 2500, "currency": "usd", "payment_method": "pm_card_chargeDeclined"}
    )
    refused_card(
        lambda: client.v1.payment_intents.confirm(first.id, params={"return_url": RETURN_URL})
    )
    other = client.v1.payment_intents.create(params=intent_params())
    assert refused(lambda: client.v1.payment_intents.confirm(other.id)).param == "return_url"


def refused_card(call: Any) -> stripe.CardError:
    with pytest.raises(stripe.CardError) as raised:
        call()
    return raised.value


# --- SetupIntents ---------------------------------------------------------------------------


def test_confirming_a_setup_intent_without_return_url_is_refused(client: Client) -> None:
    intent = client.v1.setup_intents.create(params={"payment_method": "pm_card_visa"})
    assert_return_url_refusal(refused(lambda: client.v1.setup_intents.confirm(intent.id)))
    on_create = refused(
        lambda: client.v1.setup_intents.create(
            params={"payment_method": "pm_card_visa", "confirm": True}
        )
    )
    assert_return_url_refusal(on_create)
    assert [i.id for i in client.v1.setup_intents.list().data] == [intent.id]


def test_a_setup_intent_confirms_with_return_url_or_without_redirects(client: Client) -> None:
    intent = client.v1.setup_intents.create(params={"payment_method": "pm_card_visa"})
    confirmed = client.v1.setup_intents.confirm(intent.id, params={"return_url": RETURN_URL})
    assert confirmed.status == "succeeded"
    never = client.v1.setup_intents.create(
        params={
            "payment_method": "pm_card_visa",
            "confirm": True,
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
        }
    )
    assert never.status == "succeeded"
    typed = client.v1.setup_intents.create(
        params={
            "payment_method": "pm_card_visa",
            "confirm": True,
            "allowed_payment_method_types": ["card"],
        }
    )
    assert typed.status == "succeeded"
    assert typed.automatic_payment_methods is None
