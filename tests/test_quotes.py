"""Quotes end to end through the official SDK against a live `kassa serve` (SQLite and
PostgreSQL, one server per module): create and its refusals (each naming its parameter, with
nothing written), amounts against figures worked out by hand (a percent discount with an
exclusive tax rate; a graduated tiered price), update, finalize and its number, accept into
an invoice (one-time lines) or a subscription (recurring lines, with a trial too), cancel,
the status machine's refusals, expiry as due work (the job's step run in process on a clock
set at `expires_at`), line item lists and their pagination, the PDF, the events and the list
filters."""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import stripe
from pypdf import PdfReader

from kassa.services.billing.quotes import expire_due_quotes
from tests.conftest import module_server
from tests.direct_store import run_job_once
from tests.harness import KassaServer, assert_ledger_whole, create_account
from tests.test_subscriptions import advance

Client = stripe.StripeClient
DAY = 86_400

quotes_server = module_server("quotes", KassaServer)


@pytest.fixture
def server(quotes_server: KassaServer) -> Iterator[KassaServer]:
    yield quotes_server
    assert_ledger_whole(quotes_server.database_url)


@pytest.fixture
def client(server: KassaServer) -> Client:
    return server.client(create_account(server.database_url).secret_key)


def key() -> stripe.RequestOptions:
    return {"idempotency_key": str(uuid.uuid4())}


def _customer(client: Client, **extra: Any) -> str:
    params: Any = {"email": "quotes@example.com", **extra}
    return client.v1.customers.create(params=params, options=key()).id


def _paying_customer(client: Client) -> str:
    return _customer(
        client,
        payment_method="pm_card_visa",
        invoice_settings={"default_payment_method": "pm_card_visa"},
    )


def _price(client: Client, amount: int, *, recurring: bool = False, name: str = "Item") -> str:
    params: Any = {"currency": "usd", "unit_amount": amount, "product_data": {"name": name}}
    if recurring:
        params["recurring"] = {"interval": "month"}
    return client.v1.prices.create(params=params, options=key()).id


def _quote(client: Client, customer: str | None, lines: list[Any], **extra: Any) -> stripe.Quote:
    params: Any = {"line_items": lines, **extra}
    if customer is not None:
        params["customer"] = customer
    return client.v1.quotes.create(params=params, options=key())


def _ten_percent_off_and_ten_percent_tax(
    client: Client, **extra: Any
) -> tuple[stripe.Quote, stripe.Coupon, stripe.TaxRate]:
    """A quote of 2 x 1,000 and 1 x 500, a 10% coupon on the quote, a 10% exclusive tax rate
    as its default."""
    coupon = client.v1.coupons.create(params={"percent_off": 10}, options=key())
    rate = client.v1.tax_rates.create(
        params={"display_name": "VAT", "percentage": 10, "inclusive": False}, options=key()
    )
    quote = _quote(
        client,
        _customer(client),
        [{"price": _price(client, 1_000), "quantity": 2}, {"price": _price(client, 500)}],
        discounts=[{"coupon": coupon.id}],
        default_tax_rates=[rate.id],
        **extra,
    )
    return quote, coupon, rate


def _refused(client: Client, params: Any) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.quotes.create(params=params, options=key())
    return refused.value


def _pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages)


# --- create ---------------------------------------------------------------------------------------


def test_create_a_draft_with_stripes_defaults(client: Client) -> None:
    customer = _customer(client)
    quote = _quote(client, customer, [{"price": _price(client, 1_000), "quantity": 2}])
    assert quote.id.startswith("qt_")
    assert (quote.status, quote.number, quote.customer) == ("draft", None, customer)
    assert quote.expires_at - quote.created == 30 * DAY
    assert (quote.amount_subtotal, quote.amount_total, quote.currency) == (2_000, 2_000, "usd")
    assert quote.collection_method == "charge_automatically"
    assert quote.invoice_settings.days_until_due is None
    assert quote.computed.recurring is None
    assert quote.computed.upfront.amount_total == 2_000
    assert quote.status_transitions.finalized_at is None
    assert "line_items" not in quote
    expanded = client.v1.quotes.retrieve(quote.id, params={"expand": ["line_items"]})
    assert expanded.line_items is not None
    assert [item.quantity for item in expanded.line_items.data] == [2]
    assert expanded.line_items.data[0].amount_total == 2_000


def test_refusals_name_their_parameter_and_write_nothing(client: Client) -> None:
    customer = _customer(client)
    line = [{"price": _price(client, 1_000)}]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"from_quote": {"quote": "qt_x"}}, "from_quote"),
        ({"on_behalf_of": "acct_x"}, "on_behalf_of"),
        ({"application_fee_amount": 100}, "application_fee_amount"),
        ({"transfer_data": {"destination": "acct_x"}}, "transfer_data"),
        ({"automatic_tax": {"enabled": True}}, "automatic_tax[enabled]"),
        ({"subscription_data": {"effective_date": 1}}, "subscription_data[effective_date]"),
        ({"line_items": [{"price": "price_missing"}]}, "line_items[0][price]"),
        ({"line_items": [{"quantity": 1}]}, "line_items[0][price]"),
        ({"expires_at": int(time.time()) - 60}, "expires_at"),
        ({"invoice_settings": {"days_until_due": 5}}, "invoice_settings[days_until_due]"),
        ({"discounts": [{"coupon": "nope"}]}, "discounts[0][coupon]"),
        ({"line_items": [{"price": line[0]["price"], "tax_rates": ["txr_x"]}]},
         "line_items[0][tax_rates][0]"),
    ]  # fmt: skip
    for extra, param in cases:
        params = {"customer": customer, "line_items": line, **extra}
        assert _refused(client, params).param == param, extra
    assert client.v1.quotes.list().data == []


def test_percent_discount_and_exclusive_tax_worked_out_by_hand(client: Client) -> None:
    quote, coupon, rate = _ten_percent_off_and_ten_percent_tax(client)
    # 2,000 + 500 = 2,500; 10% off: 200 + 50 = 250; 10% tax on 1,800 + 450: 180 + 45 = 225.
    assert (quote.amount_subtotal, quote.amount_total) == (2_500, 2_475)
    details = quote.total_details
    assert (details.amount_discount, details.amount_tax, details.amount_shipping) == (250, 225, 0)
    assert quote.default_tax_rates == [rate.id]
    assert len(quote.discounts) == 1
    items = client.v1.quotes.line_items.list(quote.id).data
    assert [
        (i.amount_subtotal, i.amount_discount, i.amount_tax, i.amount_total) for i in items
    ] == [
        (2_000, 200, 180, 1_980),
        (500, 50, 45, 495),
    ]
    taxes, discounts = items[0].taxes or [], items[0].discounts or []
    assert [(tax.rate.id, tax.taxable_amount) for tax in taxes] == [(rate.id, 1_800)]
    assert [entry.discount.source.coupon for entry in discounts] == [coupon.id]


def test_graduated_tiers_price_as_an_invoice_item_would(client: Client) -> None:
    customer = _customer(client)
    price = client.v1.prices.create(
        params={
            "currency": "usd",
            "product_data": {"name": "Seats"},
            "billing_scheme": "tiered",
            "tiers_mode": "graduated",
            "tiers": [{"up_to": 5, "unit_amount": 1_000}, {"up_to": "inf", "unit_amount": 500}],
        },
        options=key(),
    )
    quote = _quote(client, customer, [{"price": price.id, "quantity": 8}])
    assert quote.amount_total == 5 * 1_000 + 3 * 500


def test_update_a_draft_replaces_its_lines(client: Client) -> None:
    quote = _quote(client, None, [{"price": _price(client, 1_000)}])
    assert quote.customer is None
    customer = _customer(client)
    updated = client.v1.quotes.update(
        quote.id,
        params={
            "customer": customer,
            "line_items": [{"price": _price(client, 700), "quantity": 3}],
            "header": "Your offer",
            "description": "Three things",
            "metadata": {"deal": "42"},
        },
    )
    assert (updated.customer, updated.amount_total, updated.header) == (
        customer,
        2_100,
        "Your offer",
    )
    assert updated.metadata["deal"] == "42"
    cleared = client.v1.quotes.update(quote.id, params={"header": ""})
    assert cleared.header is None
    coupon = client.v1.coupons.create(params={"percent_off": 50}, options=key())
    halved = client.v1.quotes.update(quote.id, params={"discounts": [{"coupon": coupon.id}]})
    assert (halved.amount_subtotal, halved.amount_total) == (2_100, 1_050)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.quotes.update(quote.id, params={"customer": _customer(client)})
    assert refused.value.param == "customer"
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.quotes.update(quote.id, params={"line_items": [{"price": "price_missing"}]})
    assert refused.value.param == "line_items[0][price]"
    assert client.v1.quotes.retrieve(quote.id).amount_total == 1_050


def test_replaced_discounts_give_their_redemptions_back(client: Client) -> None:
    """A draft's update that replaces its discounts (its own or a line's) forgets the ones
    it made before: a coupon redeemable once can be sent again, and clearing them frees it."""
    once = client.v1.coupons.create(params={"percent_off": 50, "max_redemptions": 1}, options=key())
    price = _price(client, 1_000)
    quote = _quote(client, _customer(client), [{"price": price}], discounts=[{"coupon": once.id}])
    again = client.v1.quotes.update(quote.id, params={"discounts": [{"coupon": once.id}]})
    assert again.amount_total == 500 and again.discounts != quote.discounts
    assert client.v1.coupons.retrieve(once.id).times_redeemed == 1
    first = again.discounts[0]
    kept = client.v1.quotes.update(
        quote.id,
        params={"discounts": [{"discount": first if isinstance(first, str) else first.id}]},
    )
    assert kept.discounts == again.discounts
    cleared = client.v1.quotes.update(quote.id, params={"discounts": ""})
    assert (cleared.discounts, cleared.amount_total) == ([], 1_000)
    assert client.v1.coupons.retrieve(once.id).times_redeemed == 0
    line: Any = {"price": price, "discounts": [{"coupon": once.id}]}
    on_line = client.v1.quotes.update(quote.id, params={"line_items": [line]})
    assert on_line.amount_total == 500
    on_line_again = client.v1.quotes.update(
        quote.id, params={"line_items": [line, {"price": price}]}
    )
    assert on_line_again.amount_total == 1_500
    assert client.v1.coupons.retrieve(once.id).times_redeemed == 1
    client.v1.quotes.update(quote.id, params={"line_items": [{"price": price}]})
    assert client.v1.coupons.retrieve(once.id).times_redeemed == 0


# --- the status machine ---------------------------------------------------------------------------


def test_finalize_numbers_the_quote(client: Client) -> None:
    customer = _customer(client)
    first = _quote(client, customer, [{"price": _price(client, 1_000)}])
    second = _quote(client, customer, [{"price": _price(client, 1_000)}])
    expires_at = int(time.time()) + 7 * DAY
    one = client.v1.quotes.finalize_quote(first.id, params={"expires_at": expires_at})
    two = client.v1.quotes.finalize_quote(second.id)
    assert (one.status, one.expires_at) == ("open", expires_at)
    assert one.status_transitions.finalized_at is not None
    assert one.number is not None and two.number is not None
    prefix, sequence, revision = one.number.rsplit("-", 2)
    assert prefix.startswith("QT-") and len(prefix) == len("QT-") + 8
    assert (sequence, revision) == ("0001", "1")
    assert two.number == f"{prefix}-0002-1"


def test_the_status_machine_refuses_what_stripe_refuses(client: Client) -> None:
    customer = _paying_customer(client)
    quote = _quote(client, customer, [{"price": _price(client, 1_000)}])
    with pytest.raises(stripe.InvalidRequestError, match="status of `draft`"):
        client.v1.quotes.accept(quote.id)
    client.v1.quotes.finalize_quote(quote.id)
    with pytest.raises(stripe.InvalidRequestError, match="status of `open`"):
        client.v1.quotes.finalize_quote(quote.id)
    with pytest.raises(stripe.InvalidRequestError, match="cannot be updated"):
        client.v1.quotes.update(quote.id, params={"header": "late"})
    client.v1.quotes.accept(quote.id)
    with pytest.raises(stripe.InvalidRequestError, match="status of `accepted`"):
        client.v1.quotes.cancel(quote.id)
    without_customer = _quote(client, None, [{"price": _price(client, 1_000)}])
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.quotes.finalize_quote(without_customer.id)
    assert refused.value.param == "customer"


def test_cancel_a_draft_or_an_open_quote(client: Client) -> None:
    customer = _customer(client)
    draft = _quote(client, customer, [{"price": _price(client, 1_000)}])
    canceled = client.v1.quotes.cancel(draft.id)
    assert (canceled.status, canceled.status_transitions.canceled_at is not None) == (
        "canceled",
        True,
    )
    opened = _quote(client, customer, [{"price": _price(client, 1_000)}])
    client.v1.quotes.finalize_quote(opened.id)
    assert client.v1.quotes.cancel(opened.id).status == "canceled"
    with pytest.raises(stripe.InvalidRequestError, match="status of `canceled`"):
        client.v1.quotes.cancel(opened.id)


# --- accept ---------------------------------------------------------------------------------------


def test_accept_one_time_lines_makes_a_draft_invoice_of_the_quote(client: Client) -> None:
    quote, _coupon, _rate = _ten_percent_off_and_ten_percent_tax(
        client,
        collection_method="send_invoice",
        invoice_settings={"days_until_due": 14},
        description="Two things",
    )
    client.v1.quotes.finalize_quote(quote.id)
    accepted = client.v1.quotes.accept(quote.id)
    assert accepted.status == "accepted" and accepted.subscription is None
    assert accepted.status_transitions.accepted_at is not None
    invoice = client.v1.invoices.retrieve(str(accepted.invoice))
    assert invoice.status == "draft" and invoice.billing_reason == "quote_accept"
    assert invoice.parent is not None and invoice.parent.type == "quote_details"
    assert invoice.parent.quote_details is not None
    assert invoice.parent.quote_details.quote == quote.id
    assert (invoice.collection_method, invoice.description) == ("send_invoice", "Two things")
    assert invoice.total == quote.amount_total == 2_475
    assert invoice.subtotal == 2_500
    assert [line.amount for line in invoice.lines.data] == [2_000, 500]
    assert invoice.discounts == quote.discounts
    assert invoice.due_date == invoice.created + 14 * DAY


def test_accept_recurring_lines_starts_a_subscription(client: Client) -> None:
    customer = _paying_customer(client)
    monthly, setup = _price(client, 2_000, recurring=True), _price(client, 500)
    quote = _quote(client, customer, [{"price": monthly}, {"price": setup}])
    assert quote.computed.recurring is not None
    recurring = quote.computed.recurring
    assert (recurring.amount_total, recurring.interval, recurring.interval_count) == (
        2_000,
        "month",
        1,
    )
    assert quote.computed.upfront.amount_total == 2_500
    client.v1.quotes.finalize_quote(quote.id)
    accepted = client.v1.quotes.accept(quote.id)
    subscription = client.v1.subscriptions.retrieve(str(accepted.subscription))
    assert subscription.status == "active"
    assert subscription.billing_mode.type == quote.subscription_data.billing_mode.type
    assert quote.subscription_data.billing_mode.type == "flexible"
    assert [item.price.id for item in subscription["items"].data] == [monthly]
    assert accepted.invoice == subscription.latest_invoice
    invoice = client.v1.invoices.retrieve(str(accepted.invoice))
    assert (invoice.status, invoice.total) == ("paid", quote.computed.upfront.amount_total)


def test_accept_with_a_trial_bills_only_the_one_time_lines(client: Client) -> None:
    customer = _paying_customer(client)
    quote = _quote(
        client,
        customer,
        [{"price": _price(client, 2_000, recurring=True)}, {"price": _price(client, 500)}],
        subscription_data={
            "trial_period_days": 14,
            "description": "Trial plan",
            "billing_mode": {"type": "classic"},
        },
    )
    assert quote.computed.upfront.amount_total == 500
    upfront = client.v1.quotes.computed_upfront_line_items.list(quote.id).data
    assert [item.amount_total for item in upfront] == [500]
    client.v1.quotes.finalize_quote(quote.id)
    accepted = client.v1.quotes.accept(quote.id)
    subscription = client.v1.subscriptions.retrieve(str(accepted.subscription))
    assert (subscription.status, subscription.description) == ("trialing", "Trial plan")
    assert subscription.billing_mode.type == "classic"
    invoice = client.v1.invoices.retrieve(str(accepted.invoice))
    assert invoice.total == 500


# --- expiry, PDF, events, lists -------------------------------------------------------------------


def test_expiry_through_the_job(client: Client, server: KassaServer) -> None:
    customer = _customer(client)
    quote = _quote(
        client,
        customer,
        [{"price": _price(client, 1_000)}],
        expires_at=int(time.time()) + 3_600,
    )
    client.v1.quotes.finalize_quote(quote.id)
    assert run_job_once(server.database_url, expire_due_quotes, quote.expires_at - 1) == 0
    assert client.v1.quotes.retrieve(quote.id).status == "open"
    assert run_job_once(server.database_url, expire_due_quotes, quote.expires_at) >= 1
    expired = client.v1.quotes.retrieve(quote.id)
    assert expired.status == "canceled"
    assert expired.status_transitions.canceled_at == quote.expires_at
    events = client.v1.events.list(params={"type": "quote.canceled"}).data
    assert [event.data.object["id"] for event in events] == [quote.id]


def test_pdf_of_a_finalized_quote(client: Client) -> None:
    customer = _customer(client, name="Ada Lovelace")
    quote = _quote(client, customer, [{"price": _price(client, 1_000, name="Consulting")}])
    with pytest.raises(stripe.InvalidRequestError, match="draft"):
        client.v1.quotes.pdf(quote.id)
    finalized = client.v1.quotes.finalize_quote(quote.id)
    pdf = client.v1.quotes.pdf(quote.id).io.read()
    assert pdf.startswith(b"%PDF")
    text = _pdf_text(pdf)
    assert finalized.number is not None and finalized.number in text
    assert "Consulting" in text and "Ada Lovelace" in text


def test_events_carry_the_quote(client: Client) -> None:
    customer = _paying_customer(client)
    quote = _quote(client, customer, [{"price": _price(client, 1_000)}])
    client.v1.quotes.finalize_quote(quote.id)
    client.v1.quotes.accept(quote.id)
    for event_type in ("quote.created", "quote.finalized", "quote.accepted"):
        events = client.v1.events.list(params={"type": event_type}).data
        assert [event.data.object["id"] for event in events] == [quote.id], event_type
    accepted = client.v1.events.list(params={"type": "quote.accepted"}).data[0]
    assert accepted.data.object["status"] == "accepted"
    endpoint = client.v1.webhook_endpoints.create(
        params={"url": "https://example.com/hook", "enabled_events": ["quote.finalized"]},
        options=key(),
    )
    assert endpoint.enabled_events == ["quote.finalized"]


def test_list_filters_and_pagination(client: Client) -> None:
    one, two = _customer(client), _customer(client)
    price = _price(client, 1_000)
    first = _quote(client, one, [{"price": price}])
    second = _quote(client, one, [{"price": price}])
    third = _quote(client, two, [{"price": price}])
    client.v1.quotes.finalize_quote(third.id)
    assert [q.id for q in client.v1.quotes.list(params={"customer": one}).data] == [
        second.id,
        first.id,
    ]
    assert [q.id for q in client.v1.quotes.list(params={"status": "open"}).data] == [third.id]
    page = client.v1.quotes.list(params={"limit": 2})
    assert page.has_more and [q.id for q in page.data] == [third.id, second.id]
    rest = client.v1.quotes.list(params={"limit": 2, "starting_after": second.id})
    assert [q.id for q in rest.data] == [first.id] and not rest.has_more
    many = _quote(client, one, [{"price": _price(client, 100 * n)} for n in range(1, 5)])
    items = client.v1.quotes.line_items.list(many.id, params={"limit": 3})
    assert items.has_more and len(items.data) == 3
    after = client.v1.quotes.line_items.list(
        many.id, params={"limit": 3, "starting_after": items.data[-1].id}
    )
    assert [i.amount_total for i in after.data] == [400] and not after.has_more


def test_a_test_clocks_customer_puts_the_quote_on_its_clock(client: Client) -> None:
    frozen = int(time.time()) - 10 * DAY
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": frozen}, options=key())
    customer = _customer(client, test_clock=clock.id)
    quote = _quote(client, customer, [{"price": _price(client, 1_000)}])
    assert (quote.test_clock, quote.created) == (clock.id, frozen)
    assert quote.expires_at == frozen + 30 * DAY
    listed = client.v1.quotes.list(params={"test_clock": clock.id}).data
    assert [q.id for q in listed] == [quote.id]
    other = client.v1.test_helpers.test_clocks.create(params={"frozen_time": frozen}, options=key())
    refused = _refused(
        client,
        {
            "customer": customer,
            "test_clock": other.id,
            "line_items": [{"price": _price(client, 1)}],
        },
    )
    assert refused.param == "test_clock"
    client.v1.quotes.finalize_quote(quote.id)
    advance(client, clock.id, quote.expires_at - 1)
    assert client.v1.quotes.retrieve(quote.id).status == "open"
    advance(client, clock.id, quote.expires_at)
    expired = client.v1.quotes.retrieve(quote.id)
    assert (expired.status, expired.status_transitions.canceled_at) == (
        "canceled",
        quote.expires_at,
    )
    canceled = client.v1.events.list(params={"type": "quote.canceled"}).data
    assert [(e.data.object.id, e.created) for e in canceled] == [(quote.id, quote.expires_at)]
    with pytest.raises(stripe.InvalidRequestError, match="canceled"):
        client.v1.quotes.accept(quote.id)
