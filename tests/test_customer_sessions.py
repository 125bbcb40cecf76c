"""Customer Sessions through the official SDK against a live server, on SQLite and PostgreSQL:
made for a customer with the components a backend enables (the rest shown disabled, an enabled
component's features filled with Stripe's defaults), refused naming the parameter when no
component is enabled or a component or feature is malformed, replayed by an idempotency key
without the secret, expanded, and made at the customer's test clock's time."""

from __future__ import annotations

import uuid
from typing import Any, cast

import pytest
import stripe

from kassa.services.customer_sessions import COMPONENTS, LIFETIME_SECONDS

SDK_FIELDS = frozenset(
    name
    for cls in stripe.CustomerSession.__mro__
    for name in getattr(cls, "__annotations__", {})
    if not name.startswith("_") and name != "OBJECT_NAME"
)
"""What stripe-python declares of the object."""
PAYMENT_ELEMENT_DEFAULTS = {
    "payment_method_allow_redisplay_filters": ["always"],
    "payment_method_redisplay": "disabled",
    "payment_method_redisplay_limit": 3,
    "payment_method_remove": "disabled",
    "payment_method_save": "disabled",
    "payment_method_save_usage": None,
}
"""Stripe's reference: each Payment Element feature's default."""


def _create(client: stripe.StripeClient, params: dict[str, Any], **options: Any) -> Any:
    return client.v1.customer_sessions.create(params=cast(Any, params), options=cast(Any, options))


def _refused(call: Any, *, status: int = 400) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        call()
    assert raised.value.http_status == status, raised.value.user_message
    return raised.value


def _payment_element(**features: Any) -> dict[str, Any]:
    component: dict[str, Any] = {"enabled": True}
    if features:
        component["features"] = features
    return {"payment_element": component}


def test_a_session_shows_every_component_and_the_enabled_one_s_defaults(
    client: stripe.StripeClient,
) -> None:
    customer = client.v1.customers.create()
    made = _create(client, {"customer": customer.id, "components": _payment_element()})
    answer = made.to_dict()
    assert set(answer) == SDK_FIELDS
    assert made.object == "customer_session" and made.customer == customer.id
    assert made.livemode is False and made.customer_account is None
    assert made.client_secret.startswith("cuss_secret_")
    assert made.expires_at == made.created + LIFETIME_SECONDS
    components = answer["components"]
    assert set(components) == set(COMPONENTS)
    assert components["payment_element"] == {"enabled": True, "features": PAYMENT_ELEMENT_DEFAULTS}
    assert components["pricing_table"] == {"enabled": False}
    assert components["customer_sheet"] == {"enabled": False, "features": None}


def test_features_sent_replace_the_defaults(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    features = {
        "payment_method_allow_redisplay_filters": ["always", "limited", "unspecified"],
        "payment_method_redisplay": "enabled",
        "payment_method_redisplay_limit": 10,
        "payment_method_save": "enabled",
        "payment_method_save_usage": "off_session",
    }
    made = _create(client, {"customer": customer.id, "components": _payment_element(**features)})
    shown = made.to_dict()["components"]["payment_element"]["features"]
    assert shown == {**PAYMENT_ELEMENT_DEFAULTS, **features}
    two = _create(
        client,
        {
            "customer": customer.id,
            "components": {"pricing_table": {"enabled": True}, "buy_button": {"enabled": False}},
        },
    )
    assert two.components.pricing_table.enabled is True
    assert two.components.buy_button.enabled is False
    assert two.components.payment_element.features is None


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({}, "components"),
        ({"components": {"buy_button": {"enabled": False}}}, "components"),
        ({"components": {"buy_button": {"enabled": ""}}}, "components[buy_button][enabled]"),
        ({"components": {"buy_button": {"enabled": "yes"}}}, "components[buy_button][enabled]"),
        ({"components": {"checkout": {"enabled": True}}}, "components[checkout]"),
        (
            {"components": _payment_element(payment_method_redisplay="sometimes")},
            "components[payment_element][features][payment_method_redisplay]",
        ),
        (
            {"components": _payment_element(payment_method_redisplay_limit=11)},
            "components[payment_element][features][payment_method_redisplay_limit]",
        ),
        (
            {"components": {"pricing_table": {"enabled": True, "features": {"x": "y"}}}},
            "components[pricing_table][features]",
        ),
        ({"components": _payment_element(), "customer_account": "acct_x"}, "customer_account"),
    ],
)
def test_malformed_requests_are_refused_naming_the_parameter(
    client: stripe.StripeClient, params: dict[str, Any], param: str
) -> None:
    customer = client.v1.customers.create()
    refused = _refused(lambda: _create(client, {"customer": customer.id, **params}))
    assert refused.param == param, refused.user_message


def test_a_customer_is_required_and_must_be_the_account_s(client: stripe.StripeClient) -> None:
    components = _payment_element()
    assert _refused(lambda: _create(client, {"components": components})).param == "customer"
    missing = _refused(
        lambda: _create(client, {"customer": "cus_nobody", "components": components}), status=404
    )
    assert missing.param == "customer" and "cus_nobody" in str(missing.user_message)
    gone = client.v1.customers.create()
    client.v1.customers.delete(gone.id)
    deleted = _refused(lambda: _create(client, {"customer": gone.id, "components": components}))
    assert deleted.param == "customer"


def test_a_replay_answers_the_same_session_without_its_secret(
    client: stripe.StripeClient,
) -> None:
    customer = client.v1.customers.create()
    params = {"customer": customer.id, "components": _payment_element()}
    idempotency_key = str(uuid.uuid4())
    first = _create(client, params, idempotency_key=idempotency_key)
    replayed = _create(client, params, idempotency_key=idempotency_key)
    assert replayed.created == first.created and replayed.expires_at == first.expires_at
    assert first.client_secret and replayed.client_secret is None  # sent once, kept nowhere


def test_the_customer_expands(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(params={"email": "ada@example.com"})
    made = _create(
        client,
        {"customer": customer.id, "components": _payment_element(), "expand": ["customer"]},
    )
    assert made.customer.id == customer.id and made.customer.email == "ada@example.com"


def test_a_session_is_made_at_the_customer_s_test_clock_time(
    client: stripe.StripeClient,
) -> None:
    frozen = 1_900_000_000
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": frozen})
    customer = client.v1.customers.create(params={"test_clock": clock.id})
    made = _create(client, {"customer": customer.id, "components": _payment_element()})
    assert (made.created, made.expires_at) == (frozen, frozen + LIFETIME_SECONDS)
