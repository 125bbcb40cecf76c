"""Ephemeral keys through the official SDK against a live server, on SQLite and PostgreSQL:
created for a customer with the mobile SDK's API version, deleted once, refused without a
`Stripe-Version` header or for a customer the account does not have, replayed by an
idempotency key without the secret, and made at the customer's test clock's time."""

from __future__ import annotations

import uuid
from typing import Any, cast

import httpx
import pytest
import stripe

from kassa.services.ephemeral_keys import LIFETIME_SECONDS
from tests import loopback
from tests.harness import Account, KassaServer

MOBILE_VERSION = "2020-08-27"
"""The version Stripe's mobile SDKs long pinned: older than the server's own."""
SDK_FIELDS = frozenset(
    name
    for cls in stripe.EphemeralKey.__mro__
    for name in getattr(cls, "__annotations__", {})
    if not name.startswith("_") and name != "OBJECT_NAME"
)
"""What stripe-python declares of the object."""


def _refused(call: Any, *, status: int = 400) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        call()
    assert raised.value.http_status == status, raised.value.user_message
    return raised.value


def _create(client: stripe.StripeClient, params: dict[str, Any], **options: Any) -> Any:
    return client.v1.ephemeral_keys.create(
        params=cast(Any, params), options=cast(Any, {"stripe_version": MOBILE_VERSION, **options})
    )


def test_a_key_is_made_for_a_customer_and_deleted_once(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    key = _create(client, {"customer": customer.id})
    answer = key.to_dict()
    assert set(answer) == SDK_FIELDS
    assert key.id.startswith("ephkey_") and key.object == "ephemeral_key"
    assert key.expires == key.created + LIFETIME_SECONDS
    assert key.livemode is False
    assert cast(str, key.secret).startswith("ek_test_")

    deleted = client.v1.ephemeral_keys.delete(key.id)
    assert deleted.id == key.id and deleted.object == "ephemeral_key"
    assert "secret" not in deleted.to_dict()
    assert deleted.created == key.created and deleted.expires == key.expires
    again = _refused(lambda: client.v1.ephemeral_keys.delete(key.id), status=404)
    assert again.code == "resource_missing" and key.id in str(again.user_message)


def _post(server: KassaServer, key: str, data: dict[str, str], **headers: str) -> httpx.Response:
    return loopback.post(
        f"{server.url}/v1/ephemeral_keys",
        data=data,
        headers={"Authorization": f"Bearer {key}", **headers},
        timeout=30,
    )


def test_a_create_without_a_version_is_refused_naming_the_header(
    server: KassaServer, account: Account, client: stripe.StripeClient
) -> None:
    # The SDKs send their own version on every request: only a bare HTTP client can omit it.
    customer = client.v1.customers.create()
    response = _post(server, account.secret_key, {"customer": customer.id})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "Stripe-Version" and "Stripe-Version" in error["message"]
    made = _post(
        server, account.secret_key, {"customer": customer.id}, **{"Stripe-Version": MOBILE_VERSION}
    )
    assert made.status_code == 200, made.text


def test_a_customer_the_account_does_not_have_is_refused(client: stripe.StripeClient) -> None:
    missing = _refused(lambda: _create(client, {"customer": "cus_nobody"}), status=404)
    assert missing.param == "customer" and "cus_nobody" in str(missing.user_message)
    gone = client.v1.customers.create()
    client.v1.customers.delete(gone.id)
    deleted = _refused(lambda: _create(client, {"customer": gone.id}))
    assert deleted.param == "customer"
    assert _refused(lambda: _create(client, {})).param == "customer"


@pytest.mark.parametrize("param", ["issuing_card", "nonce", "verification_session"])
def test_objects_kassa_does_not_model_are_refused_naming_them(
    client: stripe.StripeClient, param: str
) -> None:
    refused = _refused(lambda: _create(client, {param: "ic_x"}))
    assert refused.param == param


def test_a_replay_answers_the_same_key_without_its_secret(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    idempotency_key = str(uuid.uuid4())
    first = _create(client, {"customer": customer.id}, idempotency_key=idempotency_key)
    replayed = _create(client, {"customer": customer.id}, idempotency_key=idempotency_key)
    assert replayed.id == first.id and replayed.created == first.created
    assert first.secret and replayed.secret is None  # the secret is sent once, kept nowhere


def test_a_key_is_made_at_the_customer_s_test_clock_time(client: stripe.StripeClient) -> None:
    frozen = 1_900_000_000
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": frozen})
    customer = client.v1.customers.create(params={"test_clock": clock.id})
    key = _create(client, {"customer": customer.id})
    assert (key.created, key.expires) == (frozen, frozen + LIFETIME_SECONDS)


def test_its_secret_authenticates_nothing(server: KassaServer, client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    secret = cast(str, _create(client, {"customer": customer.id}).secret)
    response = loopback.get(
        f"{server.url}/v1/customers/{customer.id}",
        headers={"Authorization": f"Bearer {secret}"},
        timeout=30,
    )
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_request_error"
