"""Invoices through the official SDK against a live server, on SQLite and PostgreSQL: Stripe's
defaults, lines and amounts (tiers, discounts, taxes, customer credit), the status machine
and its refusals, numbering (concurrent finalizations too), payment (card, decline,
out of band) with the ledger verified, lists, the preview, and automatic advancement run in
process on a clock set ahead (never by waiting an hour)."""

from __future__ import annotations

import concurrent.futures
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
import stripe

from kassa.clock import DAY_SECONDS
from kassa.services.billing.invoice_advance import advance_due_invoices
from tests import loopback
from tests.direct_store import run_job_once
from tests.harness import Account, KassaServer
from tests.test_payment_intents import undeclared_keys

Client = stripe.StripeClient
HOUR = 3_600
CONCURRENT_FINALIZATIONS = 8


def refused(call: Callable[[], object]) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        call()
    return raised.value


def event_types(client: Client, object_id: str) -> list[str]:
    listed = client.v1.events.list(params={"limit": 100})
    found = [e.type for e in listed.data if e.data.object.to_dict().get("id") == object_id]
    return list(reversed(found))


def customer(client: Client, payment_method: str | None = "pm_card_visa") -> stripe.Customer:
    params: Any = {"email": "billing@example.com", "name": "Ada"}
    if payment_method is not None:
        params["payment_method"] = payment_method
        params["invoice_settings"] = {"default_payment_method": payment_method}
    return client.v1.customers.create(params=params)


def item(client: Client, customer_id: str, amount: int, **params: Any) -> stripe.InvoiceItem:
    given: Any = {"customer": customer_id, "amount": amount, "currency": "usd", **params}
    return client.v1.invoice_items.create(params=given)


def invoice_of(client: Client, customer_id: str, *amounts: int, **params: Any) -> stripe.Invoice:
    """A draft holding one item per amount."""
    given: Any = {"customer": customer_id, **params}
    invoice = client.v1.invoices.create(params=given)
    for amount in amounts:
        item(client, customer_id, amount, invoice=invoice.id)
    return client.v1.invoices.retrieve(invoice.id)


def balances(client: Client) -> tuple[int, int]:
    balance = client.v1.balance.retrieve()
    return balance.available[0].amount, balance.pending[0].amount


def dump(obj: stripe.StripeObject) -> dict[str, Any]:
    return obj.to_dict()


# --- creation and defaults ------------------------------------------------------------------


def test_a_new_invoice_is_a_draft_with_stripe_s_defaults(client: Client) -> None:
    who = customer(client)
    pending = item(client, who.id, 500)
    invoice = client.v1.invoices.create(params={"customer": who.id})
    assert invoice.id.startswith("in_")
    assert (invoice.status, invoice.billing_reason, invoice.collection_method) == (
        "draft",
        "manual",
        "charge_automatically",
    )
    assert invoice.auto_advance is False
    assert invoice.automatically_finalizes_at is None
    assert invoice.next_payment_attempt is None
    assert (invoice.number, invoice.hosted_invoice_url, invoice.invoice_pdf) == (None, None, None)
    assert (invoice.due_date, invoice.ending_balance, invoice.effective_at) == (None, None, None)
    assert invoice.period_start == invoice.period_end == invoice.created
    assert (invoice.customer_email, invoice.customer_name) == ("billing@example.com", "Ada")
    assert invoice.lines.data == []  # pending items stay out by default
    assert (invoice.amount_due, invoice.total, invoice.attempt_count) == (0, 0, 0)
    assert "payments" not in dump(invoice)
    assert client.v1.invoice_items.retrieve(pending.id).invoice is None
    assert event_types(client, invoice.id) == ["invoice.created"]


CUSTOMER_DETAILS = (
    "customer_email",
    "customer_name",
    "customer_phone",
    "customer_address",
    "customer_shipping",
    "customer_tax_ids",
)


def customer_details_of(invoice: stripe.Invoice) -> dict[str, Any]:
    shown = dump(invoice)
    return {name: shown[name] for name in CUSTOMER_DETAILS}


def test_a_draft_shows_a_balance_and_details_changed_together_in_one_update(
    client: Client,
) -> None:
    """A customer update changing the balance and the email refreshes each draft once: one
    `invoice.updated` naming both changes in its `previous_attributes`."""
    who = customer(client, payment_method=None)
    draft = invoice_of(client, who.id, 500)
    updates = event_types(client, draft.id).count("invoice.updated")
    client.v1.customers.update(who.id, params={"balance": -200, "email": "new@example.com"})
    listed = client.v1.events.list(params={"type": "invoice.updated", "limit": 100}).data
    about_draft = [e for e in listed if e.data.object.to_dict().get("id") == draft.id]
    assert len(about_draft) == updates + 1
    previous = about_draft[0].data.to_dict()["previous_attributes"]
    assert previous["customer_email"] == "billing@example.com"
    assert (previous["starting_balance"], previous["amount_due"]) == (0, 500)
    shown = client.v1.invoices.retrieve(draft.id)
    assert (shown.customer_email, shown.starting_balance, shown.amount_due) == (
        "new@example.com",
        -200,
        300,
    )


def test_a_draft_follows_its_customer_s_details_until_finalized(client: Client) -> None:
    """Stripe's invoice object: "Until the invoice is finalized, this field will equal
    customer.email. Once the invoice is finalized, this field will no longer be updated"
    (and so `customer_name`, `customer_phone`, `customer_address`, `customer_shipping`,
    `customer_tax_ids`). A customer update or a tax id added or deleted refreshes its
    drafts at once, each announced with `invoice.updated` as an invoice update refreshing
    them is; a finalized invoice keeps what it had."""
    who = customer(client, payment_method=None)
    draft = invoice_of(client, who.id, 500)
    frozen = client.v1.invoices.finalize_invoice(invoice_of(client, who.id, 700).id)
    updates = event_types(client, draft.id).count("invoice.updated")
    client.v1.customers.update(
        who.id,
        params={
            "email": "new@example.com",
            "name": "Ada Lovelace",
            "phone": "+15550002",
            "address": {"line1": "2 New St", "country": "US"},
            "shipping": {"name": "Ada", "address": {"line1": "9 Dock Rd", "country": "US"}},
        },
    )
    vat = client.v1.customers.tax_ids.create(
        who.id, params={"type": "eu_vat", "value": "DE123456789"}
    )
    refreshed = client.v1.invoices.retrieve(draft.id)
    assert customer_details_of(refreshed) == {
        "customer_email": "new@example.com",
        "customer_name": "Ada Lovelace",
        "customer_phone": "+15550002",
        "customer_address": {
            "city": None,
            "country": "US",
            "line1": "2 New St",
            "line2": None,
            "postal_code": None,
            "state": None,
        },
        "customer_shipping": {
            "address": {
                "city": None,
                "country": "US",
                "line1": "9 Dock Rd",
                "line2": None,
                "postal_code": None,
                "state": None,
            },
            "carrier": None,
            "name": "Ada",
            "phone": None,
            "tracking_number": None,
        },
        "customer_tax_ids": [{"type": "eu_vat", "value": "DE123456789"}],
    }
    listed = client.v1.invoices.list(params={"customer": who.id}).data
    assert [customer_details_of(i) for i in listed if i.id == draft.id] == [
        customer_details_of(refreshed)
    ]
    assert event_types(client, draft.id).count("invoice.updated") == updates + 2
    updated = client.v1.events.list(params={"type": "invoice.updated", "limit": 1}).data[0]
    assert updated.data.object.to_dict()["id"] == draft.id
    assert updated.data.to_dict()["previous_attributes"] == {"customer_tax_ids": []}
    client.v1.customers.tax_ids.delete(who.id, vat.id)
    assert client.v1.invoices.retrieve(draft.id).customer_tax_ids == []
    # A change that leaves the details as they are announces nothing for the draft.
    client.v1.customers.update(who.id, params={"metadata": {"plan": "gold"}})
    assert event_types(client, draft.id).count("invoice.updated") == updates + 3
    # Finalized: frozen as it was.
    assert customer_details_of(client.v1.invoices.retrieve(frozen.id)) == customer_details_of(
        frozen
    )
    assert frozen.customer_email == "billing@example.com"


def test_include_takes_the_pending_items_newest_first(client: Client) -> None:
    who = customer(client)
    older, newer = item(client, who.id, 100), item(client, who.id, 200)
    invoice = client.v1.invoices.create(
        params={"customer": who.id, "pending_invoice_items_behavior": "include"}
    )
    later = item(client, who.id, 300, invoice=invoice.id)
    lines = client.v1.invoices.retrieve(invoice.id).lines.data
    order = [line.parent.invoice_item_details.invoice_item for line in lines]  # type: ignore[union-attr]
    assert order == [newer.id, older.id, later.id]
    assert client.v1.invoice_items.retrieve(older.id).invoice == invoice.id
    assert [line.id[3:] for line in lines] == [i.id[3:] for i in (newer, older, later)]


FUTURE_ONLY = "Invalid timestamp: must be an integer Unix timestamp in the future."
NEXT_YEAR = int(time.time()) + 365 * DAY_SECONDS


def test_send_invoice_needs_a_due_date_and_only_it_takes_one(client: Client) -> None:
    who = customer(client)
    no_due = refused(
        lambda: client.v1.invoices.create(
            params={"customer": who.id, "collection_method": "send_invoice"}
        )
    )
    assert "'due_date' or 'days_until_due'" in no_due.user_message
    assert no_due.param == "days_until_due"
    charged = refused(
        lambda: client.v1.invoices.create(params={"customer": who.id, "days_until_due": 30})
    )
    assert "if invoice collection method is 'send_invoice'" in str(charged.user_message)
    assert charged.param == "days_until_due"
    charged_on = refused(
        lambda: client.v1.invoices.create(params={"customer": who.id, "due_date": NEXT_YEAR})
    )
    assert charged_on.param == "due_date"

    def sending(due_date: int) -> stripe.Invoice:
        return client.v1.invoices.create(
            params={"customer": who.id, "collection_method": "send_invoice", "due_date": due_date}
        )

    yesterday = int(time.time()) - DAY_SECONDS
    past = refused(lambda: sending(yesterday))
    assert (past.param, past.user_message) == ("due_date", FUTURE_ONLY)
    dated = sending(NEXT_YEAR)
    assert dated.due_date == NEXT_YEAR
    moved = refused(lambda: client.v1.invoices.update(dated.id, params={"due_date": yesterday}))
    assert (moved.param, moved.user_message) == ("due_date", FUTURE_ONLY)
    sent = client.v1.invoices.create(
        params={"customer": who.id, "collection_method": "send_invoice", "days_until_due": 30}
    )
    assert sent.due_date == sent.created + 30 * DAY_SECONDS
    assert sent.next_payment_attempt is None


# --- amounts ----------------------------------------------------------------------------------


def test_tiered_price_discounts_and_taxes_add_up_on_an_invoice(client: Client) -> None:
    who = customer(client)
    product = client.v1.products.create(params={"name": "Seats"})
    graduated = client.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "billing_scheme": "tiered",
            "tiers_mode": "graduated",
            "tiers": [
                {"up_to": 2, "unit_amount": 1000},
                {"up_to": "inf", "unit_amount": 800, "flat_amount": 250},
            ],
        }
    )
    vat = client.v1.tax_rates.create(
        params={"display_name": "VAT", "percentage": 19, "inclusive": False}
    )
    quarter = client.v1.coupons.create(params={"percent_off": 25})
    five_off = client.v1.coupons.create(params={"amount_off": 500, "currency": "usd"})
    invoice = client.v1.invoices.create(
        params={
            "customer": who.id,
            "default_tax_rates": [vat.id],
            "discounts": [{"coupon": five_off.id}],
        }
    )
    # 2 * 10.00 + 1 * 8.00 + 2.50 flat = 30.50; a line 25% off (7.625 -> 7.63).
    client.v1.invoice_items.create(
        params={
            "customer": who.id,
            "invoice": invoice.id,
            "pricing": {"price": graduated.id},
            "quantity": 3,
            "discounts": [{"coupon": quarter.id}],
        }
    )
    item(client, who.id, 999, invoice=invoice.id)
    draft = client.v1.invoices.retrieve(invoice.id)
    seats, extra = draft.lines.data
    assert (seats.amount, seats.subtotal, extra.amount) == (3050, 3050, 999)
    seat_discounts = [d.amount for d in seats.discount_amounts or []]
    # The line's own 763 first; then 500 off the 2287 + 999 left, by share: 348 and 152.
    assert seat_discounts == [763, 348]
    assert [d.amount for d in extra.discount_amounts or []] == [152]
    assert [t.amount for t in seats.taxes or []] == [round((3050 - 763 - 348) * 0.19)]
    # Stripe's subtotal: "before any invoice level discount or exclusive tax is applied.
    # Item discounts are already incorporated".
    assert draft.subtotal == draft.subtotal_excluding_tax == 3050 - 763 + 999
    discount_total = sum(d.amount for d in draft.total_discount_amounts or [])
    assert discount_total == 763 + 500
    invoice_discount_total = 500
    tax_total = sum(t.amount for t in draft.total_taxes or [])
    assert draft.total == draft.subtotal - invoice_discount_total + tax_total
    assert draft.total_excluding_tax == draft.subtotal - invoice_discount_total
    assert draft.amount_due == draft.total
    # Counted when applied (Stripe's `times_redeemed`: applied to a customer), not again.
    assert client.v1.coupons.retrieve(quarter.id).times_redeemed == 1
    client.v1.invoices.finalize_invoice(invoice.id)
    assert client.v1.coupons.retrieve(quarter.id).times_redeemed == 1
    assert client.v1.coupons.retrieve(five_off.id).times_redeemed == 1


def test_inclusive_tax_stays_inside_the_amount(client: Client) -> None:
    who = customer(client)
    included = client.v1.tax_rates.create(
        params={"display_name": "MwSt", "percentage": 20, "inclusive": True}
    )
    invoice = invoice_of(client, who.id, 1200, default_tax_rates=[included.id])
    assert (invoice.total, invoice.subtotal) == (1200, 1200)
    assert (invoice.total_excluding_tax, invoice.subtotal_excluding_tax) == (1000, 1000)
    tax = (invoice.total_taxes or [])[0]
    assert (tax.amount, tax.tax_behavior, tax.taxable_amount) == (200, "inclusive", 1000)


def test_a_line_s_own_discount_is_inside_the_subtotal(client: Client) -> None:
    """Stripe's `subtotal` and `subtotal_excluding_tax` come "before any invoice level
    discount", with "Item discounts ... already incorporated": 9.99 half off (4.99 left) and
    10.00, each with 20% tax inside (0.83 and 1.67 before the invoice's 10%, 0.75 and 1.50
    after it). The hosted page's summary adds up: the line's discount above the subtotal,
    the invoice's below it."""
    who = customer(client)
    included = client.v1.tax_rates.create(
        params={"display_name": "MwSt", "percentage": 20, "inclusive": True}
    )
    half = client.v1.coupons.create(params={"percent_off": 50, "name": "Half"})
    loyalty = client.v1.coupons.create(params={"percent_off": 10, "name": "Loyalty"})
    invoice = client.v1.invoices.create(
        params={
            "customer": who.id,
            "default_tax_rates": [included.id],
            "discounts": [{"coupon": loyalty.id}],
        }
    )
    item(client, who.id, 999, invoice=invoice.id, discounts=[{"coupon": half.id}])
    item(client, who.id, 1000, invoice=invoice.id)
    draft = client.v1.invoices.retrieve(invoice.id)
    assert [line.subtotal for line in draft.lines.data] == [999, 1000]
    assert (draft.subtotal, draft.subtotal_excluding_tax) == (1499, 1499 - 83 - 167)
    assert (draft.total, draft.total_excluding_tax) == (1349, 1349 - 75 - 150)
    finalized = client.v1.invoices.finalize_invoice(invoice.id)
    assert finalized.hosted_invoice_url is not None
    page = loopback.get(finalized.hosted_invoice_url, timeout=30).text
    summary = page[page.index('data-testid="summary"') :]
    rows = re.findall(r"<td>([^<]*)</td><td class=\"num\">([^<]*)</td>", summary)
    assert rows[:4] == [
        ("Half (50%)", "-$5.00"),
        ("Subtotal", "$14.99"),
        ("Loyalty (10%)", "-$1.50"),
        ("Total excluding tax", "$11.24"),
    ]


def test_customer_credit_is_applied_when_finalized(client: Client, ledger_verified: None) -> None:
    who = customer(client)
    client.v1.customers.balance_transactions.create(
        who.id, params={"amount": -500, "currency": "usd"}
    )
    covered = invoice_of(client, who.id, 300)
    assert (covered.starting_balance, covered.ending_balance) == (-500, None)
    final = client.v1.invoices.finalize_invoice(covered.id)
    assert (final.starting_balance, final.ending_balance) == (-500, -200)
    assert (final.amount_due, final.status) == (0, "paid")
    assert client.v1.customers.retrieve(who.id).balance == -200
    partly = client.v1.invoices.finalize_invoice(invoice_of(client, who.id, 1000).id)
    assert (partly.starting_balance, partly.ending_balance, partly.amount_due) == (-200, 0, 800)
    paid = client.v1.invoices.pay(partly.id)
    assert (paid.status, paid.amount_paid, paid.total) == ("paid", 800, 1000)
    voided = client.v1.invoices.finalize_invoice(invoice_of(client, who.id, 100).id)
    assert voided.amount_due == 100


# --- finalization ---------------------------------------------------------------------------


def test_finalizing_numbers_the_invoice_and_links_its_pages(client: Client) -> None:
    who = customer(client)
    prefix = who.invoice_prefix
    first = client.v1.invoices.finalize_invoice(invoice_of(client, who.id, 1000).id)
    assert first.number == f"{prefix}-0001"
    assert first.status == "open"
    finalized_at = first.status_transitions.finalized_at
    assert finalized_at is not None and first.effective_at == finalized_at
    assert first.hosted_invoice_url is not None and first.invoice_pdf is not None
    assert first.hosted_invoice_url.split("?")[0].endswith(f"/kassa/invoices/{first.id}")
    assert first.invoice_pdf.split("?")[0].endswith(f"/kassa/invoices/{first.id}/pdf")
    assert "secret=" in first.hosted_invoice_url
    assert (first.amount_due, first.amount_remaining, first.attempted) == (1000, 1000, False)
    custom = invoice_of(client, who.id, 100, number="CUSTOM-7")
    assert client.v1.invoices.finalize_invoice(custom.id).number == "CUSTOM-7"
    second = client.v1.invoices.finalize_invoice(invoice_of(client, who.id, 200).id)
    assert second.number == f"{prefix}-0002"
    assert client.v1.customers.retrieve(who.id).next_invoice_sequence == 3
    taken = refused(lambda: invoice_of(client, who.id, 100, number="CUSTOM-7"))
    assert taken.param == "number"
    again = refused(lambda: client.v1.invoices.finalize_invoice(first.id))
    assert again.user_message == (
        "This invoice is already finalized, you can't re-finalize a non-draft invoice."
    )
    payments = client.v1.invoice_payments.list(params={"invoice": first.id}).data
    assert [(p.status, p.is_default, p.amount_requested) for p in payments] == [
        ("open", True, 1000)
    ]
    secret = client.v1.invoices.retrieve(first.id, params={"expand": ["confirmation_secret"]})
    assert secret.confirmation_secret is not None
    assert secret.confirmation_secret.client_secret.startswith("pi_")
    assert event_types(client, first.id)[-1] == "invoice.finalized"


def test_concurrent_finalizations_take_unique_gapless_numbers(
    server: KassaServer, account: Account, client: Client
) -> None:
    who = customer(client)
    drafts = [invoice_of(client, who.id, 100 + n).id for n in range(CONCURRENT_FINALIZATIONS)]

    def finalize(invoice_id: str) -> str:
        own = server.client(account.secret_key)
        return str(own.v1.invoices.finalize_invoice(invoice_id).number)

    with concurrent.futures.ThreadPoolExecutor(CONCURRENT_FINALIZATIONS) as pool:
        numbers = list(pool.map(finalize, drafts))
    expected = {f"{who.invoice_prefix}-{n:04d}" for n in range(1, CONCURRENT_FINALIZATIONS + 1)}
    assert sorted(numbers) == sorted(expected)
    next_sequence = client.v1.customers.retrieve(who.id).next_invoice_sequence
    assert next_sequence == CONCURRENT_FINALIZATIONS + 1


def test_an_invoice_prefix_is_one_customers_for_good(client: Client) -> None:
    """Stripe: a customer prefix "can't match any other customer prefix, including prefixes
    that are no longer in use"; so two customers' numbers never interleave."""
    first = client.v1.customers.create(params={"invoice_prefix": "SAMEPFX"})
    second = client.v1.customers.create(params={"email": "second@example.com"})

    def taken(call: Callable[[], object]) -> None:
        error = refused(call)
        assert (error.http_status, error.param) == (400, "invoice_prefix")

    taken(lambda: client.v1.customers.create(params={"invoice_prefix": "SAMEPFX"}))
    taken(lambda: client.v1.customers.update(second.id, params={"invoice_prefix": "SAMEPFX"}))
    assert client.v1.customers.retrieve(second.id).invoice_prefix == second.invoice_prefix
    client.v1.customers.update(first.id, params={"invoice_prefix": "NEWPFX"})
    taken(lambda: client.v1.customers.create(params={"invoice_prefix": "SAMEPFX"}))
    back = client.v1.customers.update(first.id, params={"invoice_prefix": "SAMEPFX"})
    assert back.invoice_prefix == "SAMEPFX"
    client.v1.customers.delete(first.id)
    taken(lambda: client.v1.customers.update(second.id, params={"invoice_prefix": "NEWPFX"}))
    assert [c.id for c in client.v1.customers.list().data] == [second.id]
    mine = client.v1.customers.update(second.id, params={"invoice_prefix": "OWNPFX"})
    numbered = client.v1.invoices.finalize_invoice(invoice_of(client, second.id, 100).id)
    assert (mine.invoice_prefix, numbered.number) == ("OWNPFX", "OWNPFX-0001")


def test_a_drawn_prefix_is_the_customers_once_used_and_drawn_again_if_taken_before(
    client: Client,
) -> None:
    """A drawn prefix is recorded when it first numbers an invoice: another customer may set
    it before that (it is no one's yet), and the first customer's is then drawn again, never
    having numbered anything; once used, it is its own."""
    drawn = customer(client)
    prefix = str(drawn.invoice_prefix)
    other = customer(client)
    client.v1.customers.update(other.id, params={"invoice_prefix": prefix})
    numbered = client.v1.invoices.finalize_invoice(invoice_of(client, drawn.id, 100).id)
    redrawn = str(client.v1.customers.retrieve(drawn.id).invoice_prefix)
    assert redrawn != prefix
    assert numbered.number == f"{redrawn}-0001"
    theirs = client.v1.invoices.finalize_invoice(invoice_of(client, other.id, 100).id)
    assert theirs.number == f"{prefix}-0001"
    error = refused(
        lambda: client.v1.customers.update(other.id, params={"invoice_prefix": redrawn})
    )
    assert error.param == "invoice_prefix"


def test_customers_created_at_once_with_one_prefix_get_it_once(
    server: KassaServer, account: Account
) -> None:
    def create(_: int) -> str:
        own = server.client(account.secret_key)
        try:
            own.v1.customers.create(params={"invoice_prefix": "RACEPFX"})
        except stripe.InvalidRequestError as error:
            return str(error.param)
        return "created"

    with concurrent.futures.ThreadPoolExecutor(CONCURRENT_FINALIZATIONS) as pool:
        outcomes = list(pool.map(create, range(CONCURRENT_FINALIZATIONS)))
    assert sorted(outcomes) == ["created"] + ["invoice_prefix"] * (CONCURRENT_FINALIZATIONS - 1)


def test_the_next_invoice_sequence_must_pass_the_numbers_used(client: Client) -> None:
    """Stripe: "You can only set the next invoice number to numbers greater than any
    numbers used on an invoice" (with the customer's prefix)."""
    who = client.v1.customers.create(params={"invoice_prefix": "SEQPFX"})
    for amount in (100, 200):
        client.v1.invoices.finalize_invoice(invoice_of(client, who.id, amount).id)

    def set_sequence(sequence: int) -> stripe.Customer:
        return client.v1.customers.update(who.id, params={"next_invoice_sequence": sequence})

    for used in (1, 2):
        error = refused(lambda: set_sequence(used))  # noqa: B023 (called at once)
        assert (error.http_status, error.param) == (400, "next_invoice_sequence")
    assert client.v1.customers.retrieve(who.id).next_invoice_sequence == 3
    set_sequence(9)
    lowered = set_sequence(5)
    assert lowered.next_invoice_sequence == 5
    fifth = client.v1.invoices.finalize_invoice(invoice_of(client, who.id, 300).id)
    assert fifth.number == "SEQPFX-0005"
    renamed = client.v1.customers.update(
        who.id, params={"invoice_prefix": "FRESHPFX", "next_invoice_sequence": 1}
    )
    assert (renamed.invoice_prefix, renamed.next_invoice_sequence) == ("FRESHPFX", 1)
    behind = refused(
        lambda: client.v1.customers.update(
            who.id, params={"invoice_prefix": "SEQPFX", "next_invoice_sequence": 5}
        )
    )
    assert behind.param == "next_invoice_sequence"
    assert client.v1.customers.retrieve(who.id).invoice_prefix == "FRESHPFX"


# --- payment --------------------------------------------------------------------------------


def test_paying_charges_the_default_payment_method(client: Client, ledger_verified: None) -> None:
    who = customer(client)
    invoice = client.v1.invoices.finalize_invoice(invoice_of(client, who.id, 2000).id)
    paid = client.v1.invoices.pay(invoice.id)
    assert (paid.status, paid.amount_paid, paid.amount_remaining) == ("paid", 2000, 0)
    assert paid.status_transitions.paid_at is not None
    assert (paid.attempted, paid.attempt_count, paid.auto_advance) == (True, 1, False)
    payment = client.v1.invoice_payments.list(params={"invoice": invoice.id}).data[0]
    assert (payment.status, payment.amount_paid) == ("paid", 2000)
    assert client.v1.invoice_payments.retrieve(payment.id).id == payment.id
    intent = client.v1.payment_intents.retrieve(str(payment.payment.payment_intent))
    assert (intent.status, intent.amount_received, intent.customer) == ("succeeded", 2000, who.id)
    assert balances(client) == (0, 2000 - (2000 * 29 // 1000 + 30))
    assert event_types(client, invoice.id)[-2:] == ["invoice.paid", "invoice.payment_succeeded"]
    assert event_types(client, payment.id) == ["invoice_payment.paid"]
    expanded = client.v1.invoices.retrieve(invoice.id, params={"expand": ["payments"]})
    assert [p.id for p in expanded.payments.data] == [payment.id]  # type: ignore[union-attr]
    again = refused(lambda: client.v1.invoices.pay(invoice.id))
    assert again.user_message == "Invoice is already paid"


def test_a_decline_leaves_the_invoice_open_and_a_new_card_pays_it(
    client: Client, ledger_verified: None
) -> None:
    who = customer(client, payment_method="pm_card_chargeCustomerFail")
    draft = invoice_of(client, who.id, 1500)
    with pytest.raises(stripe.CardError) as declined:
        client.v1.invoices.pay(draft.id)  # paying a draft finalizes it first
    assert declined.value.code == "card_declined"
    failed = client.v1.invoices.retrieve(draft.id)
    assert (failed.status, failed.attempted, failed.attempt_count) == ("open", True, 1)
    assert failed.next_payment_attempt is None  # not auto-advancing: no retry scheduled
    assert failed.number is not None
    assert "invoice.payment_failed" in event_types(client, draft.id)
    paid = client.v1.invoices.pay(draft.id, params={"payment_method": "pm_card_visa"})
    assert (paid.status, paid.amount_paid, paid.attempt_count) == ("paid", 1500, 1)


def test_paid_out_of_band_moves_no_money(client: Client, ledger_verified: None) -> None:
    who = customer(client)
    invoice = client.v1.invoices.finalize_invoice(invoice_of(client, who.id, 1200).id)
    paid = client.v1.invoices.pay(invoice.id, params={"paid_out_of_band": True})
    assert (paid.status, paid.amount_paid, paid.attempted) == ("paid", 1200, False)
    shown = client.v1.invoices.retrieve(invoice.id, params={"expand": ["amount_paid_off_stripe"]})
    assert shown.amount_paid_off_stripe == 1200
    assert balances(client) == (0, 0)
    payment = client.v1.invoice_payments.list(params={"invoice": invoice.id}).data[0]
    assert payment.status == "canceled"
    intent = client.v1.payment_intents.retrieve(str(payment.payment.payment_intent))
    assert intent.status == "canceled"
    assert event_types(client, invoice.id)[-1] == "invoice.paid"


def test_a_zero_invoice_is_paid_when_finalized(client: Client) -> None:
    who = customer(client, payment_method=None)
    empty = client.v1.invoices.finalize_invoice(invoice_of(client, who.id).id)
    assert (empty.status, empty.amount_due, empty.attempted) == ("paid", 0, True)
    assert client.v1.invoice_payments.list(params={"invoice": empty.id}).data == []


def test_an_amount_below_the_minimum_charge_is_carried_to_the_customer_s_balance(
    client: Client, ledger_verified: None
) -> None:
    """Stripe: "If the amount due for the invoice is less than Stripe's minimum allowed
    charge per currency, the invoice is automatically marked paid, and we add the amount due
    to the customer's credit balance"; `amount_due` "may be 0" then."""
    who = customer(client)
    small = client.v1.invoices.finalize_invoice(invoice_of(client, who.id, 30).id)
    assert (small.status, small.total, small.ending_balance) == ("paid", 30, 30)
    assert (small.amount_due, small.amount_paid, small.amount_remaining) == (0, 0, 0)
    assert client.v1.customers.retrieve(who.id).balance == 30
    following = client.v1.invoices.finalize_invoice(invoice_of(client, who.id, 1000).id)
    assert (following.starting_balance, following.amount_due) == (30, 1030)


def test_paying_without_any_payment_method_is_refused(client: Client) -> None:
    who = customer(client, payment_method=None)
    invoice = client.v1.invoices.finalize_invoice(invoice_of(client, who.id, 900).id)
    nothing = refused(lambda: client.v1.invoices.pay(invoice.id))
    assert "no attached payment source or default payment method" in str(nothing.user_message)
    assert client.v1.invoices.retrieve(invoice.id).status == "open"


# --- the rest of the status machine ---------------------------------------------------------


def test_the_status_machine_refuses_as_stripe_does(client: Client) -> None:
    who = customer(client)
    draft = invoice_of(client, who.id, 500)
    void_draft = refused(lambda: client.v1.invoices.void_invoice(draft.id))
    assert void_draft.user_message == "You can only pass in open invoices. This invoice isn't open."
    uncollectible_draft = refused(lambda: client.v1.invoices.mark_uncollectible(draft.id))
    assert uncollectible_draft.user_message == void_draft.user_message
    opened = client.v1.invoices.finalize_invoice(draft.id)
    delete_open = refused(lambda: client.v1.invoices.delete(opened.id))
    assert delete_open.user_message == "You can only delete draft invoices."
    description = refused(
        lambda: client.v1.invoices.update(opened.id, params={"description": "late"})
    )
    assert (description.user_message, description.param) == (
        "Finalized invoices can't be updated in this way",
        "description",
    )
    send_charged = refused(lambda: client.v1.invoices.send_invoice(opened.id))
    assert "send_invoice" in str(send_charged.user_message)
    voided = client.v1.invoices.void_invoice(opened.id)
    assert (voided.status, voided.auto_advance) == ("void", False)
    assert voided.status_transitions.voided_at is not None
    pay_void = refused(lambda: client.v1.invoices.pay(opened.id))
    assert "void" in str(pay_void.user_message)
    void_twice = refused(lambda: client.v1.invoices.void_invoice(opened.id))
    assert void_twice.user_message == void_draft.user_message
    paid = client.v1.invoices.pay(invoice_of(client, who.id, 700).id)
    void_paid = refused(lambda: client.v1.invoices.void_invoice(paid.id))
    assert void_paid.user_message == "Invoices with `paid` payments cannot be voided."
    metadata = client.v1.invoices.update(paid.id, params={"metadata": {"note": "ok"}})
    assert metadata.to_dict()["metadata"] == {"note": "ok"}
    auto = refused(lambda: client.v1.invoices.update(paid.id, params={"auto_advance": True}))
    assert auto.param == "auto_advance"
    for invoice_id in (draft.id, paid.id):
        assert client.v1.invoices.retrieve(invoice_id).status in ("void", "paid")


def test_an_uncollectible_invoice_can_still_be_paid(client: Client, ledger_verified: None) -> None:
    who = customer(client)
    opened = client.v1.invoices.finalize_invoice(invoice_of(client, who.id, 800).id)
    marked = client.v1.invoices.mark_uncollectible(opened.id)
    assert marked.status == "uncollectible"
    assert marked.status_transitions.marked_uncollectible_at is not None
    twice = refused(lambda: client.v1.invoices.mark_uncollectible(opened.id))
    assert twice.user_message == "This invoice has already been marked uncollectible."
    paid = client.v1.invoices.pay(opened.id)
    assert (paid.status, paid.amount_paid) == ("paid", 800)
    assert "invoice.marked_uncollectible" in event_types(client, opened.id)


def test_deleting_a_draft(client: Client) -> None:
    who = customer(client)
    draft = invoice_of(client, who.id, 500)
    deleted = client.v1.invoices.delete(draft.id)
    assert deleted.to_dict() == {"id": draft.id, "object": "invoice", "deleted": True}
    assert client.v1.invoices.retrieve(draft.id).to_dict() == deleted.to_dict()
    assert event_types(client, draft.id)[-1] == "invoice.deleted"


def test_updates_announce_what_changed(client: Client) -> None:
    who = customer(client)
    draft = invoice_of(client, who.id, 500)
    changed = client.v1.invoices.update(
        draft.id, params={"description": "Consulting", "footer": "Thanks", "auto_advance": True}
    )
    assert (changed.description, changed.footer, changed.auto_advance) == (
        "Consulting",
        "Thanks",
        True,
    )
    assert changed.automatically_finalizes_at == changed.created + HOUR
    assert changed.next_payment_attempt == changed.created + HOUR
    updated = [
        e
        for e in client.v1.events.list(params={"type": "invoice.updated"}).data
        if e.data.object.to_dict()["id"] == draft.id
    ]
    previous = updated[0].data.to_dict()["previous_attributes"]
    assert previous["description"] is None and previous["auto_advance"] is False
    off = client.v1.invoices.update(draft.id, params={"auto_advance": False})
    assert (off.automatically_finalizes_at, off.next_payment_attempt) == (None, None)


def test_send_announces_the_invoice_and_finalizes_a_draft(client: Client) -> None:
    who = customer(client, payment_method=None)
    draft = invoice_of(client, who.id, 500, collection_method="send_invoice", days_until_due=14)
    sent = client.v1.invoices.send_invoice(draft.id)
    assert (sent.status, sent.number is not None) == ("open", True)
    assert event_types(client, draft.id)[-2:] == ["invoice.finalized", "invoice.sent"]
    assert client.v1.invoices.send_invoice(draft.id).status == "open"


# --- lines, lists, preview ------------------------------------------------------------------


def test_the_first_ten_lines_are_embedded_and_all_are_paged(client: Client) -> None:
    who = customer(client)
    invoice = invoice_of(client, who.id, *range(100, 1300, 100))
    assert len(invoice.lines.data) == 10 and invoice.lines.has_more is True
    assert invoice.total == sum(range(100, 1300, 100))
    lines = client.v1.invoices.line_items.list(invoice.id, params={"limit": 5})
    assert [line.amount for line in lines.data] == [100, 200, 300, 400, 500]
    assert lines.has_more is True
    rest = client.v1.invoices.line_items.list(
        invoice.id, params={"limit": 10, "starting_after": lines.data[-1].id}
    )
    assert [line.amount for line in rest.data] == list(range(600, 1300, 100))
    assert rest.has_more is False
    every = [line.id for line in client.v1.invoices.line_items.list(invoice.id).auto_paging_iter()]
    assert len(every) == 12


def test_lists_filter_invoices(client: Client) -> None:
    first, second = customer(client), customer(client, payment_method=None)
    charged = invoice_of(client, first.id, 100)
    sent = client.v1.invoices.create(
        params={
            "customer": second.id,
            "collection_method": "send_invoice",
            "due_date": 2_000_000_000,
        }
    )
    opened = client.v1.invoices.finalize_invoice(invoice_of(client, first.id, 200).id)

    def ids(**params: Any) -> list[str]:
        given: Any = params
        return [i.id for i in client.v1.invoices.list(params=given).data]

    assert ids() == [opened.id, sent.id, charged.id]
    assert ids(customer=first.id) == [opened.id, charged.id]
    assert ids(status="draft") == [sent.id, charged.id]
    assert ids(status="open") == [opened.id]
    assert ids(collection_method="send_invoice") == [sent.id]
    assert ids(due_date={"gte": 1_999_999_999}) == [sent.id]
    assert ids(due_date={"lt": 1_999_999_999}) == []
    assert ids(created={"gte": charged.created}) == [opened.id, sent.id, charged.id]
    bad = refused(lambda: client.v1.invoices.list(params={"status": "late"}))
    assert bad.param == "status"


def test_the_preview_shows_what_the_next_invoice_would_be(client: Client) -> None:
    who = customer(client)
    pending = item(client, who.id, 1000)
    coupon = client.v1.coupons.create(params={"percent_off": 10})
    preview = client.v1.invoices.create_preview(
        params={
            "customer": who.id,
            "discounts": [{"coupon": coupon.id}],
            "invoice_items": [
                {"amount": 500, "currency": "usd", "description": "Extra"},
                {"invoiceitem": pending.id, "amount": 2000},
            ],
        }
    )
    assert preview.id.startswith("upcoming_in")
    assert (preview.billing_reason, preview.status) == ("upcoming", "draft")
    assert [line.amount for line in preview.lines.data] == [2000, 500]
    assert all(line.id.startswith("il_tmp_") for line in preview.lines.data)
    assert (preview.subtotal, preview.total) == (2500, 2250)
    assert client.v1.invoice_items.retrieve(pending.id).amount == 1000
    assert client.v1.invoices.list(params={"customer": who.id}).data == []
    assert client.v1.coupons.retrieve(coupon.id).times_redeemed == 0


def test_a_preview_item_s_backwards_period_names_its_path(client: Client) -> None:
    who = customer(client)
    spec: Any = {"amount": 5, "currency": "usd", "period": {"start": 5, "end": 1}}
    backwards = refused(
        lambda: client.v1.invoices.create_preview(
            params={"customer": who.id, "invoice_items": [spec]}
        )
    )
    assert backwards.param == "invoice_items[0][period][end]"


# --- automatic advancement, in process on a clock set ahead ---------------------------------


def advance_at(server: KassaServer, now: float) -> int:
    """What the `invoices` job does, run once in this process at `now`."""
    return run_job_once(server.database_url, advance_due_invoices, now)


def test_auto_advance_finalizes_an_hour_on_then_charges_or_sends(
    server: KassaServer, client: Client, ledger_verified: None
) -> None:
    who = customer(client)
    charged = invoice_of(client, who.id, 1000, auto_advance=True)
    sent = invoice_of(
        client, who.id, 400, auto_advance=True, collection_method="send_invoice", days_until_due=7
    )
    assert charged.automatically_finalizes_at == charged.created + HOUR
    assert charged.next_payment_attempt == charged.created + HOUR
    assert sent.next_payment_attempt is None
    advance_at(server, charged.created + HOUR - 5)
    assert client.v1.invoices.retrieve(charged.id).status == "draft"
    advance_at(server, max(charged.created, sent.created) + HOUR + 1)
    paid = client.v1.invoices.retrieve(charged.id)
    assert (paid.status, paid.amount_paid, paid.attempt_count) == ("paid", 1000, 1)
    assert paid.automatically_finalizes_at is None
    opened = client.v1.invoices.retrieve(sent.id)
    assert opened.status == "open"
    assert event_types(client, sent.id)[-2:] == ["invoice.finalized", "invoice.sent"]


def test_auto_advance_retries_a_declined_invoice_on_schedule(
    server: KassaServer, client: Client, ledger_verified: None
) -> None:
    who = customer(client, payment_method="pm_card_chargeCustomerFail")
    invoice = invoice_of(client, who.id, 1000, auto_advance=True)
    first_attempt = invoice.created + HOUR + 1
    advance_at(server, first_attempt)
    failed = client.v1.invoices.retrieve(invoice.id)
    assert (failed.status, failed.attempt_count) == ("open", 1)
    assert failed.next_payment_attempt == first_attempt + 3 * DAY_SECONDS
    advance_at(server, first_attempt + DAY_SECONDS)
    assert client.v1.invoices.retrieve(invoice.id).attempt_count == 1
    advance_at(server, first_attempt + 3 * DAY_SECONDS)
    retried = client.v1.invoices.retrieve(invoice.id)
    assert retried.attempt_count == 2
    assert retried.next_payment_attempt == first_attempt + 8 * DAY_SECONDS
    assert event_types(client, invoice.id).count("invoice.payment_failed") == 2


def test_auto_advance_does_not_retry_without_a_payment_method(
    server: KassaServer, client: Client
) -> None:
    """Stripe's smart retries page: "Stripe doesn't retry payments if: No payment methods
    are available" (one-off invoices; a subscription's keep their dunning)."""
    who = customer(client, payment_method=None)
    invoice = invoice_of(client, who.id, 1000, auto_advance=True)
    first_attempt = invoice.created + HOUR + 1
    advance_at(server, first_attempt)
    failed = client.v1.invoices.retrieve(invoice.id)
    assert (failed.status, failed.attempt_count, failed.attempted) == ("open", 1, True)
    assert failed.next_payment_attempt is None
    advance_at(server, first_attempt + 30 * DAY_SECONDS)
    assert client.v1.invoices.retrieve(invoice.id).attempt_count == 1
    assert event_types(client, invoice.id).count("invoice.payment_failed") == 1


def test_a_retry_that_finds_no_payment_method_is_the_last(
    server: KassaServer, client: Client
) -> None:
    who = customer(client, payment_method="pm_card_chargeCustomerFail")
    invoice = invoice_of(client, who.id, 1000, auto_advance=True)
    first_attempt = invoice.created + HOUR + 1
    advance_at(server, first_attempt)
    assert client.v1.invoices.retrieve(invoice.id).next_payment_attempt is not None
    client.v1.customers.update(who.id, params={"invoice_settings": {"default_payment_method": ""}})
    advance_at(server, first_attempt + 3 * DAY_SECONDS)
    stopped = client.v1.invoices.retrieve(invoice.id)
    assert (stopped.attempt_count, stopped.next_payment_attempt) == (2, None)
    advance_at(server, first_attempt + 30 * DAY_SECONDS)
    assert client.v1.invoices.retrieve(invoice.id).attempt_count == 2


def test_a_draft_that_cannot_be_finalized_keeps_the_error(
    server: KassaServer, client: Client
) -> None:
    who = customer(client)
    automatic = invoice_of(client, who.id, 1000, auto_advance=True)
    # The customer's debit balance, taken at finalization, makes more than one payment holds.
    client.v1.customers.update(who.id, params={"balance": 99_999_999})
    advance_at(server, automatic.created + HOUR + 1)
    failed = client.v1.invoices.retrieve(automatic.id)
    assert (failed.status, failed.automatically_finalizes_at) == ("draft", None)
    assert failed.last_finalization_error is not None
    assert failed.last_finalization_error.code == "amount_too_large"
    assert event_types(client, automatic.id)[-1] == "invoice.finalization_failed"
    for query in (
        'last_finalization_error_code:"amount_too_large"',
        'last_finalization_error_type:"invalid_request_error"',
    ):
        found = client.v1.invoices.search(params={"query": query})
        assert [i.id for i in found.data] == [automatic.id], query
    refusal = refused(lambda: client.v1.invoices.finalize_invoice(automatic.id))
    assert refusal.code == "amount_too_large"
    assert client.v1.invoices.retrieve(automatic.id).status == "draft"


def test_an_on_session_payment_that_needs_3d_secure_asks_for_action(client: Client) -> None:
    who = customer(client)
    invoice = client.v1.invoices.finalize_invoice(invoice_of(client, who.id, 1000).id)
    with pytest.raises(stripe.CardError) as action:
        client.v1.invoices.pay(
            invoice.id,
            params={"payment_method": "pm_card_threeDSecure2Required", "off_session": False},
        )
    assert action.value.code == "invoice_payment_intent_requires_action"
    waiting = client.v1.invoices.retrieve(invoice.id)
    assert (waiting.status, waiting.attempted) == ("open", True)
    assert event_types(client, invoice.id)[-1] == "invoice.payment_action_required"
    paid = client.v1.invoices.pay(invoice.id, params={"payment_method": "pm_card_visa"})
    assert paid.status == "paid"


def test_invoices_are_searchable(client: Client) -> None:
    who = customer(client)
    opened = client.v1.invoices.finalize_invoice(invoice_of(client, who.id, 4321).id)
    invoice_of(client, customer(client).id, 100)
    found = client.v1.invoices.search(params={"query": f'customer:"{who.id}" AND total>4000'})
    assert [i.id for i in found.data] == [opened.id]
    by_number = client.v1.invoices.search(params={"query": f'number:"{opened.number}"'})
    assert [i.number for i in by_number.data] == [opened.number]


LIST_KEYS = {"object", "data", "has_more", "url"}
EMBEDDED_LISTS = {"lines": stripe.InvoiceLineItem, "payments": stripe.InvoicePayment}


def shape_problems(body: dict[str, Any], cls: type, path: str) -> list[str]:
    """`undeclared_keys`, with an invoice's embedded lists checked item by item (the
    checker reads a `ListObject[...]` annotation as its item class)."""
    problems = []
    rest = dict(body)
    for name, item_class in EMBEDDED_LISTS.items():
        embedded = rest.pop(name, None)
        if isinstance(embedded, dict):
            problems += [f"{path}.{name}.{k}" for k in set(embedded) - LIST_KEYS]
            problems += undeclared_keys(embedded["data"], item_class, f"{path}.{name}.data")
    return problems + undeclared_keys(rest, cls, path)


def test_every_returned_key_is_a_field_stripe_declares(
    server: KassaServer, account: Account, client: Client
) -> None:
    who = customer(client)
    coupon = client.v1.coupons.create(params={"percent_off": 10})
    rate = client.v1.tax_rates.create(
        params={"display_name": "VAT", "percentage": 19, "inclusive": False}
    )
    invoice = invoice_of(
        client, who.id, 1000, discounts=[{"coupon": coupon.id}], default_tax_rates=[rate.id]
    )
    client.v1.invoices.pay(invoice.id)
    items = client.v1.invoice_items.list(params={"invoice": invoice.id}).data
    payment = client.v1.invoice_payments.list(params={"invoice": invoice.id}).data[0]
    objects: list[tuple[type, str]] = [
        (stripe.Invoice, f"/v1/invoices/{invoice.id}"),
        (
            stripe.Invoice,
            f"/v1/invoices/{invoice.id}?expand[]=payments&expand[]=confirmation_secret"
            "&expand[]=amount_paid_off_stripe",
        ),
        (stripe.InvoiceItem, f"/v1/invoiceitems/{items[0].id}"),
        (stripe.InvoicePayment, f"/v1/invoice_payments/{payment.id}"),
    ]
    problems: list[str] = []
    with server.http(account.secret_key) as http:
        for cls, path in objects:
            response = http.get(path)
            assert response.status_code == 200, response.text
            problems += shape_problems(response.json(), cls, path)
        lines = http.get(f"/v1/invoices/{invoice.id}/lines").json()["data"]
        problems += undeclared_keys(lines, stripe.InvoiceLineItem, "lines")
        discount_id = http.get(f"/v1/invoices/{invoice.id}").json()["discounts"][0]
        expanded = http.get(f"/v1/invoice_payments/{payment.id}?expand[]=invoice").json()
        problems += shape_problems(expanded["invoice"], stripe.Invoice, "expanded invoice")
        # Something pending to preview: with nothing, Stripe answers 404.
        item(client, who.id, 300)
        preview = http.post("/v1/invoices/create_preview", data={"customer": who.id}).json()
        problems += shape_problems(preview, stripe.Invoice, "preview")
    assert discount_id.startswith("di_")
    assert problems == []
