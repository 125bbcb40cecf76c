"""`expand[]` on customers, against a live server on both engines: includable fields, expandable
ids, `data.` inside lists, what may not be expanded, and the depth limit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import httpx
import pytest
import stripe

from kassa.http.expand import MAX_EXPAND_DEPTH, MAX_EXPAND_PATHS
from tests.harness import CUSTOMER_INCLUDABLE_FIELDS, Account, KassaServer

INCLUDABLE = CUSTOMER_INCLUDABLE_FIELDS
TAX = {
    "automatic_tax": "unrecognized_location",
    "ip_address": None,
    "location": None,
    "provider": "stripe",
}


@pytest.fixture
def http(server: KassaServer, account: Account) -> Iterator[httpx.Client]:
    with server.http(account.secret_key) as client:
        yield client


def empty_list(url: str) -> dict[str, Any]:
    return {"object": "list", "data": [], "has_more": False, "total_count": 0, "url": url}


def assert_expand_error(response: httpx.Response, path: str) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "expand"
    assert path in error["message"]


def test_includable_fields_appear_only_when_expanded(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    plain = client.v1.customers.retrieve(customer.id).to_dict()
    assert not set(INCLUDABLE) & set(plain)
    expanded = client.v1.customers.retrieve(
        customer.id, params={"expand": list(INCLUDABLE)}
    ).to_dict()
    assert set(expanded) == set(plain) | set(INCLUDABLE)
    assert {k: v for k, v in expanded.items() if k not in INCLUDABLE} == plain
    assert expanded["tax"] == TAX
    assert expanded["cash_balance"] is None
    assert expanded["invoice_credit_balance"] == {}
    for name in ("sources", "subscriptions", "tax_ids"):
        assert expanded[name] == empty_list(f"/v1/customers/{customer.id}/{name}")


def test_expand_on_create_and_update(client: stripe.StripeClient) -> None:
    created = client.v1.customers.create(params={"name": "Ada", "expand": ["tax"]})
    assert created.to_dict()["tax"] == TAX
    updated = client.v1.customers.update(
        created.id, params={"name": "Ada L", "expand": ["sources"]}
    ).to_dict()
    assert updated["name"] == "Ada L"
    assert updated["sources"] == empty_list(f"/v1/customers/{created.id}/sources")
    assert "tax" not in updated
    # Expansion is a view: nothing of it is stored.
    assert "tax" not in client.v1.customers.retrieve(created.id).to_dict()


def test_expand_inside_a_list(client: stripe.StripeClient) -> None:
    ids = {client.v1.customers.create().id for _ in range(2)}
    page = client.v1.customers.list(params={"expand": ["data.tax", "data.sources"]})
    assert {c.id for c in page.data} == ids
    for customer in page.data:
        as_dict = customer.to_dict()
        assert as_dict["tax"] == TAX
        assert as_dict["sources"]["url"] == f"/v1/customers/{customer.id}/sources"
    plain = client.v1.customers.list()
    assert all("tax" not in c.to_dict() for c in plain.data)


def test_null_expandable_fields_stay_null(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    expanded = client.v1.customers.retrieve(
        customer.id,
        params={
            "expand": ["test_clock", "default_source", "invoice_settings.default_payment_method"]
        },
    )
    assert expanded.test_clock is None
    assert expanded.default_source is None
    assert expanded.invoice_settings is not None
    assert expanded.invoice_settings.default_payment_method is None
    assert expanded.to_dict() == client.v1.customers.retrieve(customer.id).to_dict()


def test_expand_spellings_over_raw_http(http: httpx.Client, client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    url = f"/v1/customers/{customer.id}"
    for query in (
        "expand[]=tax&expand[]=sources",
        "expand[0]=tax&expand[1]=sources",
        "expand[1]=sources&expand[0]=tax",
    ):
        body = http.get(f"{url}?{query}").json()
        assert body["tax"] == TAX and body["sources"]["object"] == "list", query
    single = http.get(f"{url}?expand=tax").json()
    assert single["tax"] == TAX and "sources" not in single


@pytest.mark.parametrize(
    "path",
    [
        "email",
        "nonsense",
        "invoice_settings",
        "invoice_settings.footer",
        "metadata.key",
        "tax.location",
        "data.tax",
        "address.city",
        "",
    ],
)
def test_unexpandable_paths_are_400_naming_expand(client: stripe.StripeClient, path: str) -> None:
    customer = client.v1.customers.create()
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.retrieve(customer.id, params={"expand": [path]})
    error = raised.value
    assert (error.http_status, error.param) == (400, "expand")
    assert error.code is None


@pytest.mark.parametrize("path", ["url", "has_more", "data.email", "tax", "data.nonsense"])
def test_unexpandable_list_paths(http: httpx.Client, path: str) -> None:
    assert_expand_error(http.get("/v1/customers", params={"expand[]": path}), path)


def test_failed_expand_on_create_writes_nothing(
    http: httpx.Client, client: stripe.StripeClient
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.create(params={"name": "Ada", "expand": ["email"]})
    assert raised.value.param == "expand"
    assert client.v1.customers.list().data == []


def test_failed_expand_on_update_writes_nothing(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(params={"name": "Ada"})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.update(customer.id, params={"name": "Bob", "expand": ["nonsense"]})
    assert client.v1.customers.retrieve(customer.id).name == "Ada"


def test_depth_limit(http: httpx.Client, client: stripe.StripeClient) -> None:
    """Four levels at most (Stripe's rule); a null field lets deep paths through validation,
    so the only thing that can refuse them is the depth check."""
    customer = client.v1.customers.create()
    four = "test_clock." + ".".join(["a"] * (MAX_EXPAND_DEPTH - 1))
    assert four.count(".") == MAX_EXPAND_DEPTH - 1
    ok = http.get(f"/v1/customers/{customer.id}", params={"expand[]": four})
    assert ok.status_code == 200, ok.text
    assert ok.json()["test_clock"] is None
    five = four + ".a"
    assert_expand_error(http.get(f"/v1/customers/{customer.id}", params={"expand[]": five}), five)
    in_list_ok = http.get("/v1/customers", params={"expand[]": "data.test_clock.a.b"})
    assert in_list_ok.status_code == 200, in_list_ok.text
    in_list_five = "data.test_clock.a.b.c"
    assert_expand_error(http.get("/v1/customers", params={"expand[]": in_list_five}), in_list_five)


def test_path_count_limit(http: httpx.Client, client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    url = f"/v1/customers/{customer.id}"
    allowed = "&".join(["expand[]=tax"] * MAX_EXPAND_PATHS)
    assert http.get(f"{url}?{allowed}").status_code == 200
    response = http.get(f"{url}?{allowed}&expand[]=tax")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "expand"


@pytest.mark.parametrize("query", ["expand[a]=tax", "expand[0][a]=tax", "expand[][]=tax"])
def test_malformed_expand_is_400(http: httpx.Client, query: str) -> None:
    response = http.get(f"/v1/customers?{query}")
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"].startswith("expand")


def test_deleted_customer_stub_is_not_expanded(client: stripe.StripeClient) -> None:
    """Regression: `expand[]=tax` added a tax hash to `{"id", "object", "deleted"}`."""
    customer = client.v1.customers.create()
    stub = {"id": customer.id, "object": "customer", "deleted": True}
    deleted = client.v1.customers.delete(customer.id, params=cast(Any, {"expand": ["tax"]}))
    assert deleted.to_dict() == stub
    again = client.v1.customers.retrieve(customer.id, params={"expand": ["tax", "sources"]})
    assert again.to_dict() == stub
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.retrieve(customer.id, params={"expand": ["nonsense"]})
    assert (raised.value.http_status, raised.value.param) == (400, "expand")
