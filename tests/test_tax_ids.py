"""Customer tax ids through the official SDK against a live server, on SQLite and
PostgreSQL: formats and countries, Stripe's test verification values, events, the customer's
`tax_id_data` and `expand[]=tax_ids`, and the tax ids invoices and their PDF show."""

from __future__ import annotations

import io
from typing import Any, cast

import pytest
import stripe
from pypdf import PdfReader

from tests import loopback
from tests.harness import KassaServer


def _refused(call: Any, *, status: int = 400) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        call()
    assert raised.value.http_status == status, raised.value.user_message
    return raised.value


def _add(client: stripe.StripeClient, customer: str, kind: str, value: str) -> stripe.TaxId:
    return client.v1.customers.tax_ids.create(
        customer, params=cast(Any, {"type": kind, "value": value})
    )


def _event_objects(client: stripe.StripeClient, event_type: str) -> list[dict[str, Any]]:
    events = client.v1.events.list(params={"type": event_type}).data
    return [cast(dict[str, Any], e.data.object) for e in events]


@pytest.mark.parametrize(
    ("kind", "value", "country"),
    [
        ("eu_vat", "DE123456789", "DE"),
        ("eu_vat", "EL123456789", "GR"),
        ("eu_vat", "FRAB123456789", "FR"),
        ("eu_vat", "NL123456789B01", "NL"),
        ("eu_vat", "ATU12345678", "AT"),
        ("eu_vat", "HU12345678", "HU"),
        ("eu_vat", "HU12345678912", "HU"),  # Stripe's example: the group id's 11 digits
        ("gb_vat", "GB123456789", "GB"),
        ("us_ein", "12-3456789", "US"),
        ("ca_bn", "123456789", "CA"),
        ("au_abn", "12 345 678 912", "AU"),
        ("ch_vat", "CHE-123.456.789 MWST", "CH"),
        ("no_vat", "123456789MVA", "NO"),
        ("in_gst", "12ABCDE3456FGZH", "IN"),
        ("br_cnpj", "01.234.456/5432-10", "BR"),
        ("br_cpf", "123.456.789-87", "BR"),
        ("jp_cn", "1234567891234", "JP"),
        ("mx_rfc", "ABC010203AB9", "MX"),
        ("nz_gst", "123456789", "NZ"),
        ("za_vat", "4123456789", "ZA"),
        ("sg_uen", "123456789F", "SG"),
        ("ad_nrt", "A-123456-Z", "AD"),
    ],
)
def test_a_tax_id_of_each_common_type_takes_its_country(
    client: stripe.StripeClient, kind: str, value: str, country: str
) -> None:
    customer = client.v1.customers.create()
    tax_id = _add(client, customer.id, kind, value)
    assert tax_id.id.startswith("txi_") and tax_id.object == "tax_id"
    assert (tax_id.type, tax_id.value, tax_id.country) == (kind, value, country)
    assert tax_id.customer == customer.id
    assert tax_id.owner is not None
    assert (tax_id.owner.type, tax_id.owner.customer) == ("customer", customer.id)
    assert tax_id.livemode is False


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("eu_vat", "DE12345678"),  # a digit short
        ("eu_vat", "HU123456789"),  # Hungary's have 8 digits or 11, never 9
        ("eu_vat", "XX123456789"),  # no such prefix
        ("eu_vat", "GB123456789"),  # the UK's VAT numbers are gb_vat
        ("gb_vat", "GB12345"),
        ("us_ein", "12-34"),
        ("au_abn", "1234"),
        ("br_cpf", "123.456.789"),
        ("in_gst", "12ABCDE3456FG"),
        ("za_vat", "5123456789"),
        ("eu_vat", " "),
    ],
)
def test_a_value_without_its_type_format_is_refused(
    client: stripe.StripeClient, kind: str, value: str
) -> None:
    customer = client.v1.customers.create()
    error = _refused(lambda: _add(client, customer.id, kind, value))
    assert (error.code, error.param) == ("tax_id_invalid", "value")
    assert client.v1.customers.tax_ids.list(customer.id).data == []


def test_an_unknown_type_and_missing_parameters_are_named(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    assert _refused(lambda: _add(client, customer.id, "xx_vat", "1")).param == "type"
    missing = _refused(
        lambda: client.v1.customers.tax_ids.create(
            customer.id, params=cast(Any, {"type": "eu_vat"})
        )
    )
    assert (missing.code, missing.param) == ("parameter_missing", "value")
    nobody = _refused(lambda: _add(client, "cus_nobody", "eu_vat", "DE123456789"), status=404)
    assert nobody.param == "customer"


def test_retrieve_list_delete_and_events(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    first = _add(client, customer.id, "eu_vat", "DE123456789")
    second = _add(client, customer.id, "us_ein", "12-3456789")
    fetched = client.v1.customers.tax_ids.retrieve(customer.id, first.id)
    assert fetched.to_dict() == first.to_dict()
    listed = client.v1.customers.tax_ids.list(customer.id)
    assert [t.id for t in listed.data] == [second.id, first.id]
    assert listed.url == f"/v1/customers/{customer.id}/tax_ids"
    paged = client.v1.customers.tax_ids.list(customer.id, params={"limit": 1})
    assert [t.id for t in paged.data] == [second.id] and paged.has_more

    other = client.v1.customers.create()
    elsewhere = _refused(
        lambda: client.v1.customers.tax_ids.retrieve(other.id, first.id), status=404
    )
    assert elsewhere.code == "resource_missing"

    deleted = client.v1.customers.tax_ids.delete(customer.id, first.id)
    assert (deleted.id, deleted.deleted) == (first.id, True)
    _refused(lambda: client.v1.customers.tax_ids.retrieve(customer.id, first.id), status=404)
    _refused(lambda: client.v1.customers.tax_ids.delete(customer.id, first.id), status=404)
    assert [t.id for t in client.v1.customers.tax_ids.list(customer.id).data] == [second.id]
    created = _event_objects(client, "customer.tax_id.created")
    assert [t["id"] for t in created] == [second.id, first.id]
    assert [t["id"] for t in _event_objects(client, "customer.tax_id.deleted")] == [first.id]


@pytest.mark.parametrize(
    ("kind", "value", "status"),
    [
        ("eu_vat", "DE000000000", "verified"),
        ("gb_vat", "GB111111111", "unverified"),
        ("au_abn", "12222222222", "pending"),
        ("eu_vat", "DE123456789", "pending"),
        ("us_ein", "00-0000000", "unavailable"),
    ],
)
def test_verification_follows_stripes_test_values(
    client: stripe.StripeClient, kind: str, value: str, status: str
) -> None:
    customer = client.v1.customers.create()
    tax_id = _add(client, customer.id, kind, value)
    assert tax_id.verification is not None and tax_id.verification.status == status
    created = _event_objects(client, "customer.tax_id.created")
    updated = _event_objects(client, "customer.tax_id.updated")
    if status in ("verified", "unverified"):
        assert created[0]["verification"]["status"] == "pending"
        assert [t["verification"]["status"] for t in updated] == [status]
    else:
        assert created[0]["verification"]["status"] == status
        assert updated == []


def test_customer_create_takes_tax_id_data_and_expands_tax_ids(
    client: stripe.StripeClient,
) -> None:
    customer = client.v1.customers.create(
        params={
            "tax_id_data": [
                {"type": "eu_vat", "value": "FR12345678901"},
                {"type": "gb_vat", "value": "GB123456789"},
            ]
        }
    )
    assert "tax_ids" not in customer
    expanded = client.v1.customers.retrieve(
        customer.id, params={"expand": ["tax_ids.data.customer"]}
    )
    tax_ids = expanded["tax_ids"]
    assert [(t.type, t.country) for t in tax_ids.data] == [("gb_vat", "GB"), ("eu_vat", "FR")]
    assert tax_ids.data[0].customer.id == customer.id
    assert tax_ids.url == f"/v1/customers/{customer.id}/tax_ids"

    before = len(client.v1.customers.list(params={"limit": 100}).data)
    bad = _refused(
        lambda: client.v1.customers.create(
            params={
                "email": "bad@example.com",
                "tax_id_data": [
                    {"type": "eu_vat", "value": "FR12345678901"},
                    {"type": "us_ein", "value": "12"},
                ],
            }
        )
    )
    assert (bad.code, bad.param) == ("tax_id_invalid", "tax_id_data[1][value]")
    assert len(client.v1.customers.list(params={"limit": 100}).data) == before


def _pdf_text(url: str) -> str:
    response = loopback.get(url, timeout=30)
    assert response.status_code == 200
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)


@pytest.mark.usefixtures("ledger_verified")
def test_invoices_show_the_customer_tax_ids_frozen_at_finalization(
    server: KassaServer, client: stripe.StripeClient
) -> None:
    customer = client.v1.customers.create(
        params={
            "name": "Acme GmbH",
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
            "tax_id_data": [{"type": "eu_vat", "value": "DE123456789"}],
        }
    )
    client.v1.invoice_items.create(
        params={"customer": customer.id, "amount": 5000, "currency": "eur"}
    )
    draft = client.v1.invoices.create(
        params={
            "customer": customer.id,
            "pending_invoice_items_behavior": "include",
            "currency": "eur",
            "collection_method": "send_invoice",
            "days_until_due": 30,
        }
    )
    assert [(t.type, t.value) for t in draft.customer_tax_ids or []] == [("eu_vat", "DE123456789")]
    added = _add(client, customer.id, "gb_vat", "GB123456789")
    assert draft.amount_due == 5000
    finalized = client.v1.invoices.finalize_invoice(draft.id)
    shown = [(t.type, t.value) for t in finalized.customer_tax_ids or []]
    assert shown == [("eu_vat", "DE123456789"), ("gb_vat", "GB123456789")]

    client.v1.customers.tax_ids.delete(customer.id, added.id)
    paid = client.v1.invoices.pay(draft.id, params={"payment_method": "pm_card_visa"})
    assert paid.status == "paid"
    assert [(t.type, t.value) for t in paid.customer_tax_ids or []] == shown
    text = _pdf_text(cast(str, paid.invoice_pdf))
    assert "EU VAT DE123456789" in text
    assert "GB VAT GB123456789" in text
    page = loopback.get(cast(str, paid.hosted_invoice_url), timeout=30)
    assert page.status_code == 200 and "GB VAT GB123456789" in page.text


def test_the_top_level_api_serves_the_same_objects(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    created = client.v1.tax_ids.create(
        params={
            "type": "eu_vat",
            "value": "DE123456789",
            "owner": {"type": "customer", "customer": customer.id},
        }
    )
    assert created.customer == customer.id
    assert client.v1.customers.tax_ids.retrieve(customer.id, created.id).id == created.id
    assert client.v1.tax_ids.retrieve(created.id).to_dict() == created.to_dict()
    owned = client.v1.tax_ids.list(params={"owner": {"type": "customer", "customer": customer.id}})
    assert [t.id for t in owned.data] == [created.id]
    assert client.v1.tax_ids.list().data == []  # the account's own: Kassa holds none
    own = _refused(lambda: client.v1.tax_ids.create(params={"type": "eu_vat", "value": "DE1"}))
    assert own.param == "owner[type]"
    no_customer = _refused(
        lambda: client.v1.tax_ids.create(
            params={"type": "eu_vat", "value": "DE123456789", "owner": {"type": "customer"}}
        )
    )
    assert (no_customer.code, no_customer.param) == ("parameter_missing", "owner[customer]")
    assert client.v1.tax_ids.delete(created.id).deleted is True
    assert _refused(lambda: client.v1.tax_ids.retrieve(created.id), status=404).param == "id"
    assert client.v1.customers.tax_ids.list(customer.id).data == []
