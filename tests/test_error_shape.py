"""The wire contract, pinned against a live server on both engines: the error object, statuses
and types, authentication, the headers every response carries, and the list envelope."""

from __future__ import annotations

import base64
import datetime
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx
import pytest
import stripe

from kassa import API_VERSION
from kassa.http.api import MAX_BODY_BYTES
from tests.harness import Account, KassaServer

ERROR_KEYS = {"type", "message", "code", "doc_url", "param"}
FORM = {"content-type": "application/x-www-form-urlencoded"}


def assert_stripe_error(
    response: httpx.Response,
    status: int,
    *,
    error_type: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
) -> dict[str, Any]:
    """`{"error": {"type", "message", ["code", "doc_url"], ["param"]}}` and nothing else."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["request-id"].startswith("req_")
    assert response.headers["stripe-version"] == API_VERSION
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) <= ERROR_KEYS
    assert {"type", "message"} <= set(error)
    assert error["type"] == error_type
    assert isinstance(error["message"], str) and error["message"]
    assert error.get("code") == code
    if code is not None:  # Stripe links every coded error to its page
        assert error["doc_url"] == f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    else:  # and an error without a code to none
        assert "doc_url" not in error
    assert error.get("param") == param
    return error


def raw(params: Mapping[str, Any]) -> Any:
    """Parameters the SDK's TypedDicts cannot express, passed through untyped."""
    return params


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def basic(key: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


# --- authentication -------------------------------------------------------------------------


def test_missing_key_is_401(server: KassaServer) -> None:
    with server.http() as http:
        for response in (http.get("/v1/customers"), http.post("/v1/customers", data={})):
            error = assert_stripe_error(response, 401)
            assert error["message"].startswith("You did not provide an API key.")


def test_secret_key_by_bearer_or_basic_auth(server: KassaServer, account: Account) -> None:
    with server.http() as http:
        for headers in (
            bearer(account.secret_key),
            basic(account.secret_key),
            {"authorization": f"bearer {account.secret_key}"},
        ):
            response = http.get("/v1/customers", headers=headers)
            assert response.status_code == 200, response.text
            assert response.json()["object"] == "list"


def test_invalid_key_is_401_with_the_key_masked(server: KassaServer) -> None:
    key = "sk_test_" + "Z" * 20 + "wxyz"
    with server.http() as http:
        for headers in (bearer(key), basic(key)):
            error = assert_stripe_error(http.get("/v1/customers", headers=headers), 401)
            assert error["message"] == "Invalid API Key provided: sk_test_****wxyz"
            assert key not in error["message"]


def test_invalid_key_through_the_sdk_is_an_authentication_error(server: KassaServer) -> None:
    client = server.client("sk_test_" + "Q" * 24)
    with pytest.raises(stripe.AuthenticationError) as raised:
        client.v1.customers.list()
    error = raised.value
    assert error.http_status == 401
    assert isinstance(error.json_body, dict)
    assert error.json_body["error"]["type"] == "invalid_request_error"
    assert error.json_body["error"]["message"].startswith("Invalid API Key provided: sk_test_")
    assert error.request_id is not None and error.request_id.startswith("req_")


@pytest.mark.parametrize(
    "header",
    ["Token sk_test_x", "Bearer", "Basic !!!notbase64", "Basic " + "Ong=", "sk_test"],
)
def test_malformed_authorization_is_401(server: KassaServer, header: str) -> None:
    with server.http() as http:
        error = assert_stripe_error(
            http.get("/v1/customers", headers={"authorization": header}), 401
        )
    assert "Authorization" in error["message"] or "Basic" in error["message"]


def test_publishable_key_is_refused_for_customers(
    server: KassaServer, account: Account, client: stripe.StripeClient
) -> None:
    customer = client.v1.customers.create()
    with server.http() as http:
        responses = [
            http.get("/v1/customers", headers=bearer(account.publishable_key)),
            http.post("/v1/customers", headers=bearer(account.publishable_key), data={}),
            http.get(f"/v1/customers/{customer.id}", headers=bearer(account.publishable_key)),
            http.delete(f"/v1/customers/{customer.id}", headers=bearer(account.publishable_key)),
        ]
    for response in responses:
        error = assert_stripe_error(response, 401)
        assert "publishable API key" in error["message"]
    with pytest.raises(stripe.AuthenticationError) as raised:
        server.client(account.publishable_key).v1.customers.list()
    assert raised.value.http_status == 401
    assert len(client.v1.customers.list().data) == 1  # the refused create did nothing


# --- routes and ids -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/nope"),
        ("GET", "/v1"),
        ("GET", "/"),
        ("GET", "/v2/customers"),
        ("DELETE", "/v1/customers"),
        ("PUT", "/v1/customers"),
        ("PATCH", "/v1/customers/cus_123"),
        ("PUT", "/v1/customers/cus_123"),
        ("POST", "/v1/customers/cus_123/nope"),
        ("GET", "/v1/customers/cus_123/sources/x/y"),
    ],
)
def test_unknown_route_is_404(
    server: KassaServer, account: Account, method: str, path: str
) -> None:
    with server.http(account.secret_key) as http:
        response = http.request(method, path)
    error = assert_stripe_error(response, 404)
    assert error["message"].startswith(f"Unrecognized request URL ({method}: {path})")


def test_unknown_id_is_404_resource_missing(client: stripe.StripeClient) -> None:
    calls: list[Callable[[], object]] = [
        lambda: client.v1.customers.retrieve("cus_missing"),
        lambda: client.v1.customers.update("cus_missing", params={"name": "x"}),
        lambda: client.v1.customers.delete("cus_missing"),
    ]
    for call in calls:
        with pytest.raises(stripe.InvalidRequestError) as raised:
            call()
        error = raised.value
        assert (error.http_status, error.code, error.param) == (404, "resource_missing", "id")
        assert error.json_body == {
            "error": {
                "type": "invalid_request_error",
                "message": "No such customer: 'cus_missing'",
                "code": "resource_missing",
                "doc_url": "https://stripe.com/docs/error-codes/resource-missing",
                "param": "id",
            }
        }


def test_deleted_customer_cannot_be_updated_or_deleted_again(
    client: stripe.StripeClient,
) -> None:
    customer = client.v1.customers.create()
    client.v1.customers.delete(customer.id)
    calls: list[Callable[[], object]] = [
        lambda: client.v1.customers.update(customer.id, params={"name": "x"}),
        lambda: client.v1.customers.delete(customer.id),
    ]
    for call in calls:
        with pytest.raises(stripe.InvalidRequestError) as raised:
            call()
        assert (raised.value.http_status, raised.value.code) == (404, "resource_missing")


def test_unknown_parameter_is_400_naming_it(client: stripe.StripeClient) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"foo": "bar"}, "foo"),
        ({"address": {"foo": "bar"}}, "address[foo]"),
        (
            {"invoice_settings": {"rendering_options": {"x": "1"}}},
            "invoice_settings[rendering_options][x]",
        ),
    ]
    for params, param in cases:
        with pytest.raises(stripe.InvalidRequestError) as raised:
            client.v1.customers.create(params=raw(params))
        error = raised.value
        assert (error.http_status, error.code, error.param) == (400, "parameter_unknown", param)
        assert error.user_message == f"Received unknown parameter: {param}"
    assert client.v1.customers.list().data == []


def test_unknown_query_parameter_on_retrieve_and_list(
    server: KassaServer, account: Account, client: stripe.StripeClient
) -> None:
    customer = client.v1.customers.create()
    with server.http(account.secret_key) as http:
        assert_stripe_error(
            http.get(f"/v1/customers/{customer.id}", params={"foo": "1"}),
            400,
            code="parameter_unknown",
            param="foo",
        )
        assert_stripe_error(
            http.get("/v1/customers", params={"created[after]": "1"}),
            400,
            code="parameter_unknown",
            param="created[after]",
        )


# --- parameters in the query string and the body ---------------------------------------------
# Stripe takes parameters from the query string of any request and from its body: one bucket.


def test_a_post_takes_parameters_from_its_query_string_too(
    server: KassaServer, account: Account
) -> None:
    with server.http(account.secret_key) as http:
        made = http.post("/v1/customers?email=q@example.com", data={"name": "Ada"})
        bogus = http.post("/v1/customers?bogus=1", data={"name": "Ada"})
        listed = http.get("/v1/customers").json()
    assert made.status_code == 200, made.text
    assert (made.json()["email"], made.json()["name"]) == ("q@example.com", "Ada")
    assert_stripe_error(bogus, 400, code="parameter_unknown", param="bogus")
    assert [c["id"] for c in listed["data"]] == [made.json()["id"]]


def test_a_parameter_in_both_the_query_string_and_the_body_is_400(
    server: KassaServer, account: Account
) -> None:
    with server.http(account.secret_key) as http:
        response = http.post("/v1/customers?email=a@example.com", data={"email": "b@example.com"})
        listed = http.get("/v1/customers").json()
    error = assert_stripe_error(response, 400, param="email")
    assert "query string" in error["message"] and "body" in error["message"]
    assert listed["data"] == []


def test_delete_and_get_take_parameters_from_their_body_too(
    server: KassaServer, account: Account, client: stripe.StripeClient
) -> None:
    first, second = client.v1.customers.create(), client.v1.customers.create()
    with server.http(account.secret_key) as http:
        bogus = http.request(
            "DELETE", f"/v1/customers/{first.id}", content=b"bogus=x", headers=FORM
        )
        page = http.request("GET", "/v1/customers", content=b"limit=1", headers=FORM)
    assert_stripe_error(bogus, 400, code="parameter_unknown", param="bogus")
    assert client.v1.customers.retrieve(first.id).id == first.id
    assert page.status_code == 200, page.text
    assert [c["id"] for c in page.json()["data"]] == [second.id]


def test_an_idempotency_key_covers_the_query_string_of_a_post(
    server: KassaServer, account: Account
) -> None:
    key = {"idempotency-key": "query-string-covered"}
    with server.http(account.secret_key) as http:
        first = http.post("/v1/customers?email=a@example.com", data={"name": "Ada"}, headers=key)
        other = http.post("/v1/customers?email=b@example.com", data={"name": "Ada"}, headers=key)
    assert first.status_code == 200, first.text
    assert_stripe_error(other, 400, error_type="idempotency_error")


def test_an_empty_currency_is_said_to_be_empty(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.create(params=raw({"amount": 1000, "currency": ""}))
    assert (raised.value.http_status, raised.value.param) == (400, "currency")
    assert raised.value.user_message is not None
    assert raised.value.user_message.startswith("Invalid currency: the value is empty")


# --- error codes: Stripe's own, or none -----------------------------------------------------


@pytest.mark.parametrize("amount", ["1.5", "abc", "1e3"])
def test_a_malformed_integer_is_parameter_invalid_integer(
    server: KassaServer, account: Account, amount: str
) -> None:
    with server.http(account.secret_key) as http:
        response = http.post("/v1/prices", data={"currency": "usd", "unit_amount": amount})
    error = assert_stripe_error(
        response, 400, code="parameter_invalid_integer", param="unit_amount"
    )
    assert error["message"] == f"Invalid integer: {amount}"


@pytest.mark.parametrize(
    ("path", "form", "param"),
    [
        ("/v1/prices", {"currency": "usd", "unit_amount": ""}, "unit_amount"),
        ("/v1/customers", {"balance": ""}, "balance"),
        ("/v1/products", {"name": "Box", "active": ""}, "active"),
        ("/v1/payment_intents", {"amount": "100", "currency": ""}, "currency"),
    ],
)
def test_an_empty_value_that_cannot_be_unset_is_parameter_invalid_empty(
    server: KassaServer, account: Account, path: str, form: dict[str, str], param: str
) -> None:
    with server.http(account.secret_key) as http:
        response = http.post(path, data=form)
    assert_stripe_error(response, 400, code="parameter_invalid_empty", param=param)


def test_mutually_exclusive_parameters_are_parameters_exclusive(
    server: KassaServer, account: Account
) -> None:
    with server.http(account.secret_key) as http:
        coupon = http.post("/v1/coupons", data={"amount_off": "100", "percent_off": "10"})
        cursors = http.get("/v1/customers", params={"starting_after": "a", "ending_before": "b"})
    error = assert_stripe_error(coupon, 400, code="parameters_exclusive", param="amount_off")
    assert error["message"] == (
        "You may only specify one of these parameters: amount_off, percent_off."
    )
    assert_stripe_error(cursors, 400, code="parameters_exclusive", param="ending_before")


@pytest.mark.parametrize(
    ("path", "form", "param"),
    [
        ("/v1/products", {"name": "Box", "active": "yes"}, "active"),
        ("/v1/prices", {"currency": "usd", "unit_amount_decimal": "1.x"}, "unit_amount_decimal"),
        ("/v1/coupons", {"percent_off": "10", "redeem_by": "-5"}, "redeem_by"),
        ("/v1/customers", {"tax_exempt": "sometimes"}, "tax_exempt"),
    ],
)
def test_a_malformed_value_stripe_has_no_code_for_has_no_code(
    server: KassaServer, account: Account, path: str, form: dict[str, str], param: str
) -> None:
    """An invalid boolean, decimal, timestamp or enum value: Stripe's error names the
    parameter and has neither `code` nor `doc_url` (there is no `parameter_invalid`)."""
    with server.http(account.secret_key) as http:
        response = http.post(path, data=form)
    assert_stripe_error(response, 400, code=None, param=param)


def test_a_draft_only_change_to_a_finalized_invoice_is_invoice_not_editable(
    server: KassaServer, account: Account
) -> None:
    with server.http(account.secret_key) as http:
        customer = http.post("/v1/customers", data={}).json()["id"]
        invoice = http.post("/v1/invoices", data={"customer": customer}).json()["id"]
        finalized = http.post(f"/v1/invoices/{invoice}/finalize", data={})
        assert finalized.status_code == 200, finalized.text
        response = http.post(f"/v1/invoices/{invoice}", data={"description": "later"})
    error = assert_stripe_error(response, 400, code="invoice_not_editable", param="description")
    assert error["message"] == "Finalized invoices can't be updated in this way"


# --- headers --------------------------------------------------------------------------------


def test_every_response_has_a_request_id_and_the_api_version(
    server: KassaServer, account: Account
) -> None:
    with server.http(account.secret_key) as http:
        responses = [
            http.post("/v1/customers", data={"name": "Ada"}),
            http.get("/v1/customers"),
            http.post("/v1/customers", data={"foo": "bar"}),
            http.get("/v1/customers/cus_missing"),
            http.get("/v1/nope"),
            http.delete("/v1/customers"),
        ]
    with server.http() as anonymous:
        responses.append(anonymous.get("/v1/customers"))
    assert [r.status_code for r in responses] == [200, 200, 400, 404, 404, 404, 401]
    request_ids = [r.headers["request-id"] for r in responses]
    assert all(rid.startswith("req_") and len(rid) > len("req_") for rid in request_ids)
    assert len(set(request_ids)) == len(responses)
    assert {r.headers["stripe-version"] for r in responses} == {API_VERSION}
    assert {r.headers["content-type"] for r in responses} == {"application/json"}


def test_sdk_sees_the_request_id(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    response = customer.last_response
    assert response is not None
    assert response.request_id is not None and response.request_id.startswith("req_")
    assert response.headers["stripe-version"] == API_VERSION


@pytest.mark.parametrize(
    "version",
    [
        "2024-04-10",
        API_VERSION,
        "2020-08-27",
        "2011-01-01",
        "2024-09-30.acacia",
        "2025-03-31.basil",
        "2025-09-30.clover",
        # Released after this Kassa, before today: what a newer SDK pins (stripe-node 23.2).
        "2026-11-18.endive",
    ],
)
def test_well_formed_stripe_version_is_accepted(
    server: KassaServer, account: Account, version: str
) -> None:
    with server.http(account.secret_key) as http:
        response = http.get("/v1/customers", headers={"stripe-version": version})
    assert response.status_code == 200, response.text
    assert response.headers["stripe-version"] == API_VERSION


@pytest.mark.parametrize(
    "version",
    [
        *("bogus", "2024-4-10", "2024-04-10.", "2024-04-10.Clover", "2024-04-10; x=y", "latest"),
        "2099-99-99",  # no such date
        "2025-02-30",
        "2099-01-01",  # later than the version Kassa speaks
        "2026-11-18.dahlia",  # after Kassa's, with an older release's name
        f"{datetime.date.today() + datetime.timedelta(days=3)}.endive",  # not released yet
        "2025-05-28.zinnia",  # no such release
        "2023-08-16.acacia",  # before releases had names
        "2025-05-28",  # unnamed once releases had names
        "2025-05-28.acacia",  # a release's name after its time
        "1999-01-01",  # before Stripe's first version
    ],
)
def test_a_stripe_version_stripe_never_released_is_400(
    server: KassaServer, account: Account, version: str
) -> None:
    with server.http(account.secret_key) as http:
        response = http.get("/v1/customers", headers={"stripe-version": version})
    error = assert_stripe_error(response, 400, param="Stripe-Version")
    assert error["message"] == f"Invalid Stripe API version: {version}"


@pytest.mark.parametrize("header", ["Stripe-Account", "Stripe-Context"])
def test_acting_for_another_account_is_refused_and_writes_nothing(
    server: KassaServer, account: Account, header: str
) -> None:
    with server.http(account.secret_key) as http:
        response = http.post(
            "/v1/customers",
            data={"email": "connected@example.com"},
            headers={header: "acct_1ConnectedXYZ"},
        )
        assert_stripe_error(response, 400, param=header)
        own = http.get("/v1/customers", headers={header: account.id})
        assert own.status_code == 200, own.text
        assert own.json()["data"] == [], "nothing was written for the other account"


def test_sdk_can_pin_a_stripe_version(server: KassaServer, account: Account) -> None:
    client = stripe.StripeClient(
        account.secret_key,
        base_addresses={"api": server.url},
        max_network_retries=0,
        stripe_version="2024-04-10",
    )
    assert client.v1.customers.list().data == []


# --- bodies ---------------------------------------------------------------------------------


def test_json_body_is_refused(server: KassaServer, account: Account) -> None:
    with server.http(account.secret_key) as http:
        response = http.post("/v1/customers", json={"name": "Ada"})
        listed = http.get("/v1/customers").json()
    error = assert_stripe_error(response, 400)
    assert "form-encoded" in error["message"]
    assert listed["data"] == []


def test_form_content_type_with_charset_is_accepted(server: KassaServer, account: Account) -> None:
    with server.http(account.secret_key) as http:
        response = http.post(
            "/v1/customers",
            content=b"name=Ada",
            headers={"content-type": "application/x-www-form-urlencoded; charset=utf-8"},
        )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Ada"


def test_body_over_one_mebibyte_is_413(server: KassaServer, account: Account) -> None:
    body = b"description=" + b"a" * MAX_BODY_BYTES
    with server.http(account.secret_key) as http:
        response = http.post("/v1/customers", content=body, headers=FORM)
        listed = http.get("/v1/customers").json()
    error = assert_stripe_error(response, 413)
    assert str(MAX_BODY_BYTES) in error["message"]
    assert listed["data"] == []


def test_body_over_the_limit_without_content_length_is_413(
    server: KassaServer, account: Account
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"description="
        for _ in range(MAX_BODY_BYTES // 65536 + 1):
            yield b"a" * 65536

    with server.http(account.secret_key) as http:
        response = http.post("/v1/customers", content=chunks(), headers=FORM)
    assert "content-length" not in response.request.headers
    assert_stripe_error(response, 413)


def test_body_at_the_limit_is_read(server: KassaServer, account: Account) -> None:
    """Exactly 1 MiB is not too large: the answer is about the parameter, not the size."""
    body = b"description=" + b"a" * (MAX_BODY_BYTES - len(b"description="))
    assert len(body) == MAX_BODY_BYTES
    with server.http(account.secret_key) as http:
        response = http.post("/v1/customers", content=body, headers=FORM)
    assert_stripe_error(response, 400, code=None, param="description")


# --- lists ----------------------------------------------------------------------------------


def test_list_envelope(server: KassaServer, account: Account, client: stripe.StripeClient) -> None:
    ids = [client.v1.customers.create().id for _ in range(3)]
    with server.http(account.secret_key) as http:
        page = http.get("/v1/customers", params={"limit": 2}).json()
        rest = http.get("/v1/customers", params={"starting_after": page["data"][-1]["id"]}).json()
    assert set(page) == {"object", "data", "has_more", "url"}
    assert (page["object"], page["has_more"], page["url"]) == ("list", True, "/v1/customers")
    assert [c["id"] for c in page["data"]] == ids[::-1][:2]
    assert ([c["id"] for c in rest["data"]], rest["has_more"]) == ([ids[0]], False)


@pytest.mark.parametrize(
    ("limit", "code"),
    [
        ("0", None),
        ("101", None),
        ("-1", None),
        ("abc", "parameter_invalid_integer"),
        ("1.5", "parameter_invalid_integer"),
        ("1e2", "parameter_invalid_integer"),
        ("", "parameter_invalid_empty"),
    ],
)
def test_limit_outside_1_to_100_is_400(
    server: KassaServer, account: Account, limit: str, code: str | None
) -> None:
    with server.http(account.secret_key) as http:
        response = http.get("/v1/customers", params={"limit": limit})
    assert_stripe_error(response, 400, code=code, param="limit")


def test_limit_bounds_are_inclusive(client: stripe.StripeClient) -> None:
    client.v1.customers.create()
    client.v1.customers.create()
    assert len(client.v1.customers.list(params={"limit": 1}).data) == 1
    assert len(client.v1.customers.list(params={"limit": 100}).data) == 2
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.list(params={"limit": 101})
    assert (raised.value.http_status, raised.value.param) == (400, "limit")


@pytest.mark.parametrize("cursor", ["starting_after", "ending_before"])
def test_unknown_cursor_is_404_naming_it(client: stripe.StripeClient, cursor: str) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.list(params=raw({cursor: "cus_missing"}))
    error = raised.value
    assert (error.http_status, error.code, error.param) == (404, "resource_missing", cursor)
    assert error.user_message == "No such customer: 'cus_missing'"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/customers",  # the generic list
        "/v1/subscriptions",  # a resource's own lister
        "/v1/balance_transactions",  # a list from the ledger
        "/v1/customers/{id}/balance_transactions",  # a nested list
    ],
)
def test_both_cursors_at_once_are_400(
    server: KassaServer, account: Account, client: stripe.StripeClient, path: str
) -> None:
    customer = client.v1.customers.create()
    cursors = {"starting_after": customer.id, "ending_before": customer.id}
    with server.http(account.secret_key) as http:
        response = http.get(path.format(id=customer.id), params=cursors)
    error = assert_stripe_error(response, 400, code="parameters_exclusive", param="ending_before")
    assert error["message"] == (
        "Received both starting_after and ending_before parameters. Please pass in only one."
    )


def test_another_accounts_id_is_not_a_cursor(
    server: KassaServer, client: stripe.StripeClient
) -> None:
    from tests.harness import create_account

    theirs = server.client(create_account(server.database_url).secret_key)
    their_customer = theirs.v1.customers.create()
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.list(params={"starting_after": their_customer.id})
    assert (raised.value.http_status, raised.value.param) == (404, "starting_after")
