"""Customers through the official SDK against a live server, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import stripe

from tests.harness import Account, KassaServer


def test_create_retrieve_update_delete(client: stripe.StripeClient) -> None:
    created = client.v1.customers.create(
        params={
            "email": "ada@example.com",
            "name": "Ada",
            "metadata": {"plan": "gold"},
            "address": {"city": "London", "country": "GB"},
        }
    )
    assert created.id.startswith("cus_")
    assert created.object == "customer"
    assert created.email == "ada@example.com"
    assert created.metadata is not None and created.metadata.to_dict() == {"plan": "gold"}
    assert created.address is not None and created.address.city == "London"
    assert created.address.line1 is None
    assert created.livemode is False

    fetched = client.v1.customers.retrieve(created.id)
    assert fetched.to_dict() == created.to_dict()

    updated = client.v1.customers.update(
        created.id,
        params={
            "name": "Ada Lovelace",
            "metadata": {"plan": "", "tier": "1"},
            "email": "",
        },
    )
    assert updated.name == "Ada Lovelace"
    assert updated.metadata is not None and updated.metadata.to_dict() == {"tier": "1"}
    assert updated.email is None

    deleted = client.v1.customers.delete(created.id)
    assert deleted.to_dict() == {"id": created.id, "object": "customer", "deleted": True}
    again = client.v1.customers.retrieve(created.id)
    assert again.to_dict() == {"id": created.id, "object": "customer", "deleted": True}
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.update(created.id, params={"name": "x"})
    assert raised.value.http_status == 404


def test_unknown_customer_is_404_naming_id(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.retrieve("cus_doesnotexist")
    error = raised.value
    assert error.http_status == 404
    assert error.code == "resource_missing"
    assert error.param == "id"


def test_other_accounts_customer_is_404(server: KassaServer, client: stripe.StripeClient) -> None:
    from tests.harness import create_account

    mine = client.v1.customers.create(params={"email": "mine@example.com"})
    other = server.client(create_account(server.database_url).secret_key)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        other.v1.customers.retrieve(mine.id)
    assert raised.value.http_status == 404
    assert other.v1.customers.list().data == []


def test_list_newest_first_with_cursors_and_filters(client: stripe.StripeClient) -> None:
    ids = [client.v1.customers.create(params={"email": f"c{i}@example.com"}).id for i in range(5)]
    page = client.v1.customers.list(params={"limit": 2})
    assert [c.id for c in page.data] == ids[::-1][:2]
    assert page.has_more is True
    assert page.url == "/v1/customers"
    second = client.v1.customers.list(params={"limit": 2, "starting_after": page.data[-1].id})
    assert [c.id for c in second.data] == ids[::-1][2:4]
    back = client.v1.customers.list(params={"limit": 2, "ending_before": second.data[0].id})
    assert [c.id for c in back.data] == ids[::-1][:2]
    walked = [c.id for c in client.v1.customers.list(params={"limit": 2}).auto_paging_iter()]
    assert walked == ids[::-1]
    by_email = client.v1.customers.list(params={"email": "c3@example.com"})
    assert [c.id for c in by_email.data] == [ids[3]]
    created = client.v1.customers.retrieve(ids[0]).created
    assert len(client.v1.customers.list(params={"created": {"gte": created}}).data) == 5
    assert client.v1.customers.list(params={"created": {"lt": created}}).data == []


def test_idempotent_replay(account: Account, server: KassaServer) -> None:
    with server.http(account.secret_key) as http:
        first = http.post(
            "/v1/customers", data={"email": "i@example.com"}, headers={"Idempotency-Key": "key-1"}
        )
        second = http.post(
            "/v1/customers", data={"email": "i@example.com"}, headers={"Idempotency-Key": "key-1"}
        )
        other = http.post(
            "/v1/customers", data={"email": "j@example.com"}, headers={"Idempotency-Key": "key-1"}
        )
        listed = http.get("/v1/customers").json()
    assert first.status_code == 200
    assert second.status_code == 200
    assert second.content == first.content
    assert second.headers["idempotent-replayed"] == "true"
    assert second.headers["request-id"] != first.headers["request-id"]
    assert second.headers["original-request"] == first.headers["request-id"]
    assert other.status_code == 400
    assert other.json()["error"]["type"] == "idempotency_error"
    assert len(listed["data"]) == 1


# A customer's payment methods (issue 10: the billing flow as a new user tries it).

DEFAULT_PAYMENT_METHOD = "invoice_settings[default_payment_method]"


def default_payment_method_of(customer: stripe.Customer) -> str | None:
    settings = customer.invoice_settings
    assert settings is not None
    default = settings.default_payment_method
    assert default is None or isinstance(default, str)
    return default


def invalid_request(call: Callable[[], object]) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        call()
    return raised.value


def assert_not_attached_error(error: stripe.InvalidRequestError, reference: str) -> None:
    """Stripe's answer to a default payment method the customer does not own."""
    assert (error.http_status, error.code, error.param) == (
        400,
        "resource_missing",
        DEFAULT_PAYMENT_METHOD,
    ), error.json_body
    assert f"does not have a payment method with the ID {reference}" in str(error.user_message)


def attached_event_ids(client: stripe.StripeClient) -> list[str]:
    """The payment methods `payment_method.attached` events carry, newest first."""
    events = client.v1.events.list(params={"type": "payment_method.attached"}).data
    return [event.data.object["id"] for event in events]


def test_default_payment_method_set_after_attach(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(params={"email": "billing@example.com"})
    attached = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})

    updated = client.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": attached.id}}
    )
    assert default_payment_method_of(updated) == attached.id
    fetched = client.v1.customers.retrieve(
        customer.id, params={"expand": ["invoice_settings.default_payment_method"]}
    )
    assert fetched.invoice_settings is not None
    expanded = fetched.invoice_settings.default_payment_method
    assert isinstance(expanded, stripe.PaymentMethod)
    assert (expanded.id, expanded.customer) == (attached.id, customer.id)
    changed = client.v1.events.list(params={"type": "customer.updated", "limit": 1}).data[0]
    assert changed.data.object["invoice_settings"]["default_payment_method"] == attached.id

    cleared = client.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": ""}}
    )
    assert default_payment_method_of(cleared) is None


def test_default_payment_method_must_be_attached_to_the_customer(
    client: stripe.StripeClient,
) -> None:
    customer = client.v1.customers.create()
    other = client.v1.customers.create()
    loose = client.v1.payment_methods.create(params={"type": "card", "card": {"token": "tok_visa"}})
    theirs = client.v1.payment_methods.attach("pm_card_amex", params={"customer": other.id})
    detached = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    client.v1.payment_methods.detach(detached.id)
    before = client.v1.customers.retrieve(customer.id).to_dict()

    def set_default(payment_method: str) -> stripe.InvalidRequestError:
        return invalid_request(
            lambda: client.v1.customers.update(
                customer.id, params={"invoice_settings": {"default_payment_method": payment_method}}
            )
        )

    for payment_method in (loose.id, theirs.id, detached.id, "pm_card_visa"):
        assert_not_attached_error(set_default(payment_method), payment_method)
    missing = set_default("pm_missing")
    assert (missing.http_status, missing.code, missing.param) == (
        404,
        "resource_missing",
        DEFAULT_PAYMENT_METHOD,
    )
    assert client.v1.customers.retrieve(customer.id).to_dict() == before
    # The rejected `pm_card_visa` left no card behind.
    assert len(client.v1.payment_methods.list().data) == 3


def test_create_with_test_payment_method_attaches_a_new_card(
    client: stripe.StripeClient,
) -> None:
    customer = client.v1.customers.create(
        params={
            "email": "new@example.com",
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    default = default_payment_method_of(customer)
    assert default is not None and default.startswith("pm_") and default != "pm_card_visa"
    card = client.v1.payment_methods.retrieve(default)
    assert card.customer == customer.id
    assert card.card is not None and card.card.last4 == "4242"
    owned = client.v1.payment_methods.list(params={"customer": customer.id}).data
    assert [pm.id for pm in owned] == [default]
    assert attached_event_ids(client) == [default]
    created = client.v1.events.list(params={"type": "customer.created"}).data
    assert [event.data.object["id"] for event in created] == [customer.id]
    assert created[0].data.object["invoice_settings"]["default_payment_method"] == default

    # Without the default, the card is attached and the default stays empty.
    plain = client.v1.customers.create(params={"payment_method": "pm_card_mastercard"})
    assert default_payment_method_of(plain) is None
    owned = client.v1.payment_methods.list(params={"customer": plain.id}).data
    assert [pm.card.brand for pm in owned if pm.card is not None] == ["mastercard"]


def test_create_with_stored_payment_method_attaches_it(client: stripe.StripeClient) -> None:
    stored = client.v1.payment_methods.create(
        params={"type": "card", "card": {"token": "tok_visa"}}
    )
    customer = client.v1.customers.create(
        params={
            "payment_method": stored.id,
            "invoice_settings": {"default_payment_method": stored.id},
        }
    )
    assert default_payment_method_of(customer) == stored.id
    assert client.v1.payment_methods.retrieve(stored.id).customer == customer.id
    assert attached_event_ids(client) == [stored.id]

    # Already another customer's: refused, and no customer is created.
    taken = invalid_request(
        lambda: client.v1.customers.create(params={"payment_method": stored.id})
    )
    assert (taken.http_status, taken.code) == (400, "payment_method_unexpected_state")
    assert [c.id for c in client.v1.customers.list().data] == [customer.id]


def test_create_with_payment_method_fails_whole(client: stripe.StripeClient) -> None:
    """A card that cannot be attached, or a default the new customer cannot own, creates
    nothing: no customer, no card, no event."""
    with pytest.raises(stripe.CardError) as declined:
        client.v1.customers.create(params={"payment_method": "pm_card_chargeDeclined"})
    assert (declined.value.http_status, declined.value.code) == (402, "card_declined")

    error = invalid_request(
        lambda: client.v1.customers.create(
            params={"invoice_settings": {"default_payment_method": "pm_card_visa"}}
        )
    )
    assert_not_attached_error(error, "pm_card_visa")
    error = invalid_request(
        lambda: client.v1.customers.create(
            params={
                "payment_method": "pm_card_visa",
                "invoice_settings": {"default_payment_method": "pm_card_mastercard"},
            }
        )
    )
    assert_not_attached_error(error, "pm_card_mastercard")

    assert client.v1.customers.list().data == []
    assert client.v1.payment_methods.list().data == []
    assert client.v1.events.list().data == []


def test_payment_method_is_a_create_parameter_only(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    error = invalid_request(
        lambda: client.v1.customers.update(
            customer.id, params=untyped({"payment_method": "pm_card_visa"})
        )
    )
    assert (error.http_status, error.code, error.param) == (
        400,
        "parameter_unknown",
        "payment_method",
    )


def untyped(params: dict[str, Any]) -> Any:
    """Parameters the SDK's TypedDicts refuse (on purpose), passed through."""
    return params


def test_list_leaves_out_customers_on_test_clocks_unless_asked(
    client: stripe.StripeClient,
) -> None:
    """Stripe: "The response will not include customers with test clocks if this parameter
    [test_clock] is not set."""
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": 1_700_000_000})
    plain = client.v1.customers.create(params={"email": "plain@example.com"})
    on_clock = client.v1.customers.create(
        params={"email": "clocked@example.com", "test_clock": clock.id}
    )
    later = client.v1.customers.create(params={"email": "later@example.com"})

    listed = client.v1.customers.list()
    assert [c.id for c in listed.data] == [later.id, plain.id]
    page = client.v1.customers.list(params={"limit": 1})
    assert ([c.id for c in page.data], page.has_more) == ([later.id], True)
    rest = client.v1.customers.list(params={"limit": 1, "starting_after": later.id})
    assert ([c.id for c in rest.data], rest.has_more) == ([plain.id], False)
    assert client.v1.customers.list(params={"email": "clocked@example.com"}).data == []
    by_clock = client.v1.customers.list(params={"test_clock": clock.id})
    assert [c.id for c in by_clock.data] == [on_clock.id]
