"""Customer create/update parameters through the official SDK, on both engines: every field
Kassa supports, unsetting with "", metadata semantics and limits, validation errors naming
the parameter, and the object's shape against the installed `stripe` package."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, get_origin

import pytest
import stripe

from kassa.params import METADATA_MAX_KEY_CHARS, METADATA_MAX_KEYS, METADATA_MAX_VALUE_CHARS
from tests.harness import CUSTOMER_INCLUDABLE_FIELDS

INCLUDABLE = CUSTOMER_INCLUDABLE_FIELDS


def declared_fields(cls: type) -> set[str]:
    """The attributes a `stripe` resource class declares (its own annotations, not ClassVars)."""
    fields = set()
    for name, hint in cls.__annotations__.items():
        origin: object = get_origin(hint)
        if origin is not ClassVar:
            fields.add(name)
    return fields


def raw(params: Mapping[str, Any]) -> Any:
    """Parameters the SDK's TypedDicts cannot express (computed keys, invalid values on
    purpose), passed through untyped."""
    return params


def invalid(call: Callable[[], Any]) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        call()
    return raised.value


def assert_invalid_param(
    call: Callable[[], Any], param: str, code: str | None = None, status: int = 400
) -> stripe.InvalidRequestError:
    error = invalid(call)
    assert (error.http_status, error.code, error.param) == (status, code, param), error.json_body
    assert isinstance(error.json_body, dict)
    assert error.json_body["error"]["type"] == "invalid_request_error"
    return error


FULL: dict[str, Any] = {
    "address": {
        "line1": "1 Main St",
        "line2": "Apt 2",
        "city": "Springfield",
        "state": "IL",
        "postal_code": "62701",
        "country": "US",
    },
    "balance": -500,
    "business_name": "Analytical Engines Ltd",
    "description": "First programmer",
    "email": "ada@example.com",
    "individual_name": "Augusta Ada King",
    "invoice_prefix": "ADA001",
    "invoice_settings": {
        "custom_fields": [{"name": "PO", "value": "1843"}, {"name": "VAT", "value": "GB1"}],
        "footer": "Thank you",
        "rendering_options": {
            "amount_tax_display": "include_inclusive_tax",
            "template": "inrtem_123",
        },
    },
    "metadata": {"plan": "gold", "seats": "3"},
    "name": "Ada Lovelace",
    "next_invoice_sequence": 42,
    "phone": "+44 20 7946 0000",
    "preferred_locales": ["en-GB", "fr"],
    "shipping": {
        "name": "Ada",
        "phone": "+44 1",
        "address": {"line1": "12 St James's Sq", "city": "London", "country": "GB"},
    },
    "tax_exempt": "reverse",
}


# --- shape ----------------------------------------------------------------------------------


def test_created_customer_has_exactly_the_sdk_fields(client: stripe.StripeClient) -> None:
    expected = declared_fields(stripe.Customer) - INCLUDABLE - {"deleted"}
    assert {"id", "object", "invoice_settings", "test_clock"} <= expected  # derivation sanity
    for params in ({}, FULL):
        created = client.v1.customers.create(params=raw(params)).to_dict()
        assert set(created) == expected
        fetched = client.v1.customers.retrieve(str(created["id"])).to_dict()
        assert fetched == created


def test_nested_hashes_have_exactly_the_sdk_fields(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(params=raw(FULL)).to_dict()
    assert set(customer["address"]) == declared_fields(stripe.Customer.Address)
    shipping = customer["shipping"]
    assert set(shipping) == declared_fields(stripe.Customer.Shipping)
    assert set(shipping["address"]) == declared_fields(stripe.Customer.Shipping.Address)
    settings = customer["invoice_settings"]
    assert set(settings) == declared_fields(stripe.Customer.InvoiceSettings)
    assert set(settings["rendering_options"]) == declared_fields(
        stripe.Customer.InvoiceSettings.RenderingOptions
    )
    for field in settings["custom_fields"]:
        assert set(field) == declared_fields(stripe.Customer.InvoiceSettings.CustomField)
    expanded = client.v1.customers.retrieve(customer["id"], params={"expand": ["tax"]})
    assert set(expanded.to_dict()["tax"]) == declared_fields(stripe.Customer.Tax)


def test_defaults(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create().to_dict()
    assert re.fullmatch(r"cus_\w+", customer["id"])
    assert re.fullmatch(r"[0-9A-F]{8}", customer["invoice_prefix"])
    assert {k: v for k, v in customer.items() if k not in ("id", "created", "invoice_prefix")} == {
        "object": "customer",
        "address": None,
        "balance": 0,
        "business_name": None,
        "currency": None,
        "customer_account": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": None,
        "individual_name": None,
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {},
        "name": None,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


# --- every supported field ------------------------------------------------------------------


def test_create_with_every_supported_field(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(
        params=raw(
            {
                **FULL,
                "tax": {"ip_address": "192.0.2.1", "validate_location": "deferred"},
                "validate": True,
                "cash_balance": {"settings": {"reconciliation_mode": "manual"}},
            }
        )
    ).to_dict()
    for name in (
        "address",
        "balance",
        "business_name",
        "description",
        "email",
        "individual_name",
        "invoice_prefix",
        "metadata",
        "name",
        "next_invoice_sequence",
        "phone",
        "preferred_locales",
        "tax_exempt",
    ):
        assert customer[name] == FULL[name], name
    assert customer["invoice_settings"] == {
        **FULL["invoice_settings"],
        "default_payment_method": None,
    }
    assert customer["shipping"] == {
        "name": "Ada",
        "phone": "+44 1",
        "carrier": None,
        "tracking_number": None,
        "address": {
            "line1": "12 St James's Sq",
            "line2": None,
            "city": "London",
            "state": None,
            "postal_code": None,
            "country": "GB",
        },
    }


def test_partial_address_fills_the_rest_with_null(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(params={"address": {"country": "DE"}})
    assert customer.to_dict()["address"] == {
        "city": None,
        "country": "DE",
        "line1": None,
        "line2": None,
        "postal_code": None,
        "state": None,
    }


def test_update_every_supported_field(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    updated = client.v1.customers.update(customer.id, params=raw(FULL)).to_dict()
    for name in ("balance", "description", "email", "name", "phone", "preferred_locales"):
        assert updated[name] == FULL[name], name
    assert updated["invoice_settings"]["custom_fields"] == FULL["invoice_settings"]["custom_fields"]
    assert updated["shipping"]["address"]["city"] == "London"
    assert client.v1.customers.retrieve(customer.id).to_dict() == updated


# --- unsetting with "" ----------------------------------------------------------------------


def test_empty_string_unsets(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(params=raw(FULL))
    cleared = client.v1.customers.update(
        customer.id,
        params=raw(
            {
                "address": "",
                "business_name": "",
                "description": "",
                "email": "",
                "individual_name": "",
                "metadata": "",
                "name": "",
                "phone": "",
                "preferred_locales": "",
                "shipping": "",
                "tax_exempt": "",
                "invoice_settings": {"custom_fields": "", "footer": "", "rendering_options": ""},
            }
        ),
    ).to_dict()
    assert cleared["address"] is None
    assert cleared["business_name"] is None
    assert cleared["description"] is None
    assert cleared["email"] is None
    assert cleared["individual_name"] is None
    assert cleared["metadata"] == {}
    assert cleared["name"] is None
    assert cleared["phone"] is None
    assert cleared["preferred_locales"] == []
    assert cleared["shipping"] is None
    assert cleared["tax_exempt"] == "none"
    assert cleared["invoice_settings"] == {
        "custom_fields": None,
        "default_payment_method": None,
        "footer": None,
        "rendering_options": None,
    }
    # What was not named is untouched.
    assert cleared["balance"] == FULL["balance"]
    assert cleared["invoice_prefix"] == FULL["invoice_prefix"]
    assert cleared["next_invoice_sequence"] == FULL["next_invoice_sequence"]


def test_empty_string_unsets_one_address_field(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(params={"address": FULL["address"]})
    updated = client.v1.customers.update(customer.id, params={"address": {"line2": ""}})
    assert updated.address is not None
    assert updated.address.line2 is None
    assert updated.address.line1 == "1 Main St"


@pytest.mark.parametrize("param", ["balance", "invoice_prefix", "next_invoice_sequence"])
def test_fields_stripe_cannot_unset(client: stripe.StripeClient, param: str) -> None:
    customer = client.v1.customers.create()
    error = assert_invalid_param(
        lambda: client.v1.customers.update(customer.id, params=raw({param: ""})),
        param,
        code="parameter_invalid_empty",
    )
    assert f"empty string for '{param}'" in error.user_message


# --- metadata -------------------------------------------------------------------------------


def test_metadata_merges_on_update(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(params={"metadata": {"a": "1", "b": "2"}})
    merged = client.v1.customers.update(
        customer.id, params={"metadata": {"b": "", "c": "3", "a": "one"}}
    )
    assert merged.metadata is not None
    assert merged.metadata.to_dict() == {"a": "one", "c": "3"}
    untouched = client.v1.customers.update(customer.id, params={"name": "x"})
    assert untouched.metadata is not None
    assert untouched.metadata.to_dict() == {"a": "one", "c": "3"}
    removing_missing = client.v1.customers.update(customer.id, params={"metadata": {"zzz": ""}})
    assert removing_missing.metadata is not None
    assert removing_missing.metadata.to_dict() == {"a": "one", "c": "3"}
    cleared = client.v1.customers.update(customer.id, params={"metadata": ""})
    assert cleared.metadata is not None
    assert cleared.metadata.to_dict() == {}


def test_metadata_keys_may_be_numbers(client: stripe.StripeClient) -> None:
    """Regression: the SDK sends `metadata[0]=a`, which was decoded as a list and refused."""
    customer = client.v1.customers.create(params={"metadata": {"0": "a", "1": "b"}})
    assert customer.metadata is not None
    assert customer.metadata.to_dict() == {"0": "a", "1": "b"}
    updated = client.v1.customers.update(customer.id, params={"metadata": {"0": "", "42": "c"}})
    assert updated.metadata is not None
    assert updated.metadata.to_dict() == {"1": "b", "42": "c"}


def test_metadata_limits_are_inclusive(client: stripe.StripeClient) -> None:
    metadata = {f"k{i:02d}": "v" for i in range(METADATA_MAX_KEYS - 1)}
    metadata["k" * METADATA_MAX_KEY_CHARS] = "v" * METADATA_MAX_VALUE_CHARS
    customer = client.v1.customers.create(params={"metadata": metadata})
    assert customer.metadata is not None
    assert customer.metadata.to_dict() == metadata


def test_metadata_limits_are_enforced(client: stripe.StripeClient) -> None:
    too_many = {f"k{i}": "v" for i in range(METADATA_MAX_KEYS + 1)}
    assert_invalid_param(
        lambda: client.v1.customers.create(params={"metadata": too_many}), "metadata"
    )
    long_key = "k" * (METADATA_MAX_KEY_CHARS + 1)
    assert_invalid_param(
        lambda: client.v1.customers.create(params={"metadata": {long_key: "v"}}),
        f"metadata[{long_key}]",
    )
    long_value = "v" * (METADATA_MAX_VALUE_CHARS + 1)
    assert_invalid_param(
        lambda: client.v1.customers.create(params={"metadata": {"note": long_value}}),
        "metadata[note]",
    )
    assert client.v1.customers.list().data == []


def test_metadata_key_limit_applies_after_the_merge(client: stripe.StripeClient) -> None:
    full = {f"k{i}": "v" for i in range(METADATA_MAX_KEYS)}
    customer = client.v1.customers.create(params={"metadata": full})
    error = assert_invalid_param(
        lambda: client.v1.customers.update(customer.id, params={"metadata": {"extra": "v"}}),
        "metadata",
    )
    assert str(METADATA_MAX_KEYS) in (error.user_message or "")
    stored = client.v1.customers.retrieve(customer.id).metadata
    assert stored is not None and stored.to_dict() == full
    swapped = client.v1.customers.update(
        customer.id, params={"metadata": {"k0": "", "extra": "v"}}
    ).metadata
    assert swapped is not None
    assert len(swapped.to_dict()) == METADATA_MAX_KEYS and "extra" in swapped.to_dict()


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize("email", ["plain", "a@b", "two@@example.com", "sp ace@example.com"])
def test_invalid_email(client: stripe.StripeClient, email: str) -> None:
    assert_invalid_param(
        lambda: client.v1.customers.create(params={"email": email}), "email", code="email_invalid"
    )


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"invoice_prefix": "ab1"}, "invoice_prefix"),
        ({"invoice_prefix": "AB"}, "invoice_prefix"),
        ({"invoice_prefix": "ABCDEFGHIJKLM"}, "invoice_prefix"),
        ({"invoice_prefix": "AB-12"}, "invoice_prefix"),
        ({"next_invoice_sequence": 0}, "next_invoice_sequence"),
        ({"balance": 100_000_000_000}, "balance"),
        ({"tax_exempt": "sometimes"}, "tax_exempt"),
        ({"phone": "1" * 21}, "phone"),
        ({"name": "n" * 257}, "name"),
        ({"description": "d" * 5001}, "description"),
        ({"address": {"city": "c" * 201}}, "address[city]"),
        ({"preferred_locales": ["en"] * 31}, "preferred_locales"),
        ({"preferred_locales": ["x" * 11]}, "preferred_locales[0]"),
        (
            {"invoice_settings": {"custom_fields": [{"name": "n", "value": "v"}] * 5}},
            "invoice_settings[custom_fields]",
        ),
        (
            {"invoice_settings": {"custom_fields": [{"name": "n" * 41, "value": "v"}]}},
            "invoice_settings[custom_fields][0][name]",
        ),
        (
            {"invoice_settings": {"rendering_options": {"amount_tax_display": "always"}}},
            "invoice_settings[rendering_options][amount_tax_display]",
        ),
        ({"tax": {"validate_location": "later"}}, "tax[validate_location]"),
        ({"validate": "yes"}, "validate"),
        ({"metadata": "not-a-hash"}, "metadata"),
        ({"address": "not-a-hash"}, "address"),
    ],
)
def test_invalid_values_name_the_parameter(
    client: stripe.StripeClient, params: dict[str, Any], param: str
) -> None:
    assert_invalid_param(lambda: client.v1.customers.create(params=raw(params)), param)


def test_invoice_prefix_accepts_3_to_12_uppercase_letters_or_digits(
    client: stripe.StripeClient,
) -> None:
    for prefix in ("ABC", "A1B2C3D4E5F6"):
        assert (
            client.v1.customers.create(params={"invoice_prefix": prefix}).invoice_prefix == prefix
        )


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"shipping": {"name": "Ada"}}, "shipping[address]"),
        ({"shipping": {"address": {"city": "Paris"}}}, "shipping[name]"),
        ({"shipping": {"name": "", "address": {"city": "Paris"}}}, "shipping[name]"),
        (
            {"invoice_settings": {"custom_fields": [{"name": "PO"}]}},
            "invoice_settings[custom_fields][0][value]",
        ),
    ],
)
def test_missing_required_fields(
    client: stripe.StripeClient, params: dict[str, Any], param: str
) -> None:
    assert_invalid_param(
        lambda: client.v1.customers.create(params=raw(params)),
        param,
        code="parameter_missing",
    )


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"payment_method": "pm_missing"}, "payment_method"),
        ({"source": "tok_missing"}, "source"),
        ({"test_clock": "clock_missing"}, "test_clock"),
        (
            {"invoice_settings": {"default_payment_method": "pm_missing"}},
            "invoice_settings[default_payment_method]",
        ),
    ],
)
def test_references_to_missing_objects_are_404(
    client: stripe.StripeClient, params: dict[str, Any], param: str
) -> None:
    assert_invalid_param(
        lambda: client.v1.customers.create(params=raw(params)),
        param,
        code="resource_missing",
        status=404,
    )
    assert client.v1.customers.list().data == []


def test_default_source_on_update_must_exist(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    assert_invalid_param(
        lambda: client.v1.customers.update(customer.id, params={"default_source": "src_missing"}),
        "default_source",
        code="resource_missing",
        status=404,
    )
    assert_invalid_param(
        lambda: client.v1.customers.create(params=raw({"default_source": "src_x"})),
        "default_source",
        code="parameter_unknown",
    )


def test_a_rejected_update_changes_nothing(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(params={"name": "Ada", "metadata": {"a": "1"}})
    before = client.v1.customers.retrieve(customer.id).to_dict()
    assert_invalid_param(
        lambda: client.v1.customers.update(
            customer.id, params={"name": "Bob", "metadata": {"b": "2"}, "email": "bad"}
        ),
        "email",
        code="email_invalid",
    )
    assert client.v1.customers.retrieve(customer.id).to_dict() == before
