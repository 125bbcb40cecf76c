"""Customers through the official SDK against a live server, on SQLite and PostgreSQL."""

from __future__ import annotations

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
    assert created.metadata.to_dict() == {"plan": "gold"}
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
    assert updated.metadata.to_dict() == {"tier": "1"}
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
