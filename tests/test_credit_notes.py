"""Credit notes through the official SDK against a live server, on SQLite and PostgreSQL, the
ledger verified after every test that moves money: pre-payment notes on open invoices (what
is due after, then paying the rest; a note taking all of it pays the invoice), post-payment
notes on paid invoices settled by a refund, the customer's balance, out of band or a mix;
line-based (by quantity, by amount, custom lines) and amount-based notes; previews equal to
what create stores; the refusals, each a 400 naming its parameter with nothing stored;
void and what it gives back; lists, lines paging, numbering and events."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import stripe

from tests.harness import Account, KassaServer
from tests.test_invoices import Client, customer, event_types, invoice_of, refused
from tests.test_payment_intents import declared_fields, undeclared_keys


def open_invoice(client: Client, *amounts: int, **params: Any) -> stripe.Invoice:
    who = customer(client)
    draft = invoice_of(client, who.id, *amounts, **params)
    return client.v1.invoices.finalize_invoice(draft.id)


def paid_invoice(client: Client, *amounts: int) -> stripe.Invoice:
    return client.v1.invoices.pay(open_invoice(client, *amounts).id)


def note(client: Client, invoice: stripe.Invoice, **params: Any) -> stripe.CreditNote:
    given: Any = {"invoice": invoice.id, **params}
    return client.v1.credit_notes.create(params=given)


def lines_of(invoice: stripe.Invoice) -> list[str]:
    return [line.id for line in invoice.lines.data]


def notes_of(client: Client, invoice_id: str) -> list[stripe.CreditNote]:
    return client.v1.credit_notes.list(params={"invoice": invoice_id}).data


def previous(client: Client, event_type: str, object_id: str) -> dict[str, Any]:
    listed = client.v1.events.list(params={"type": event_type, "limit": 100}).data
    found = [e for e in listed if e.data.object.to_dict().get("id") == object_id]
    return dict(found[0].data.to_dict().get("previous_attributes") or {})


# --- pre-payment ----------------------------------------------------------------------------


def test_a_pre_payment_note_lowers_what_an_open_invoice_asks_then_the_rest_is_paid(
    client: Client, ledger_verified: None
) -> None:
    invoice = open_invoice(client, 1000, 500)
    made = note(client, invoice, amount=300, reason="order_change", memo="Sorry")
    assert (made.object, made.status, made.type) == ("credit_note", "issued", "pre_payment")
    assert (made.amount, made.total, made.subtotal) == (300, 300, 300)
    assert (made.pre_payment_amount, made.post_payment_amount) == (300, 0)
    assert made.number == f"{invoice.number}-CN-01"
    assert (made.customer, made.invoice, made.memo) == (invoice.customer, invoice.id, "Sorry")
    assert made.refunds == [] and made.customer_balance_transaction is None
    assert made.pdf.startswith("http") and made.id in made.pdf
    after = client.v1.invoices.retrieve(invoice.id)
    assert (after.amount_due, after.amount_remaining) == (1200, 1200)
    assert (after.pre_payment_credit_notes_amount, after.post_payment_credit_notes_amount) == (
        300,
        0,
    )
    assert previous(client, "invoice.updated", invoice.id)["amount_due"] == 1500
    paid = client.v1.invoices.pay(invoice.id)
    assert (paid.status, paid.amount_paid, paid.amount_remaining) == ("paid", 1200, 0)
    intent = client.v1.payment_intents.list(params={"customer": str(invoice.customer)}).data[0]
    assert intent.amount_received == 1200
    assert event_types(client, made.id) == ["credit_note.created"]


def test_a_note_taking_all_that_remains_pays_the_invoice(
    client: Client, ledger_verified: None
) -> None:
    invoice = open_invoice(client, 800)
    made = note(client, invoice, lines=[{"type": "invoice_line_item",
                                         "invoice_line_item": lines_of(invoice)[0],
                                         "quantity": 1}])  # fmt: skip
    assert (made.pre_payment_amount, made.total) == (800, 800)
    after = client.v1.invoices.retrieve(invoice.id)
    assert (after.status, after.amount_due, after.amount_remaining, after.amount_paid) == (
        "paid",
        0,
        0,
        0,
    )
    payment = client.v1.invoice_payments.list(params={"invoice": invoice.id}).data[0]
    assert payment.status == "canceled"
    assert "invoice.paid" in event_types(client, invoice.id)


# --- post-payment ---------------------------------------------------------------------------


def test_a_post_payment_note_refunds_the_payment(client: Client, ledger_verified: None) -> None:
    invoice = paid_invoice(client, 2000)
    made = note(client, invoice, amount=500, refund_amount=500, reason="duplicate")
    assert (made.type, made.pre_payment_amount, made.post_payment_amount) == (
        "post_payment",
        0,
        500,
    )
    assert len(made.refunds) == 1 and made.refunds[0].amount_refunded == 500
    refund = client.v1.refunds.retrieve(str(made.refunds[0].refund))
    assert (refund.amount, refund.reason, refund.status) == (500, "duplicate", "succeeded")
    charge = client.v1.charges.retrieve(str(refund.charge))
    assert charge.amount_refunded == 500
    after = client.v1.invoices.retrieve(invoice.id)
    assert (after.post_payment_credit_notes_amount, after.amount_due, after.status) == (
        500,
        2000,
        "paid",
    )


def test_a_post_payment_note_credits_the_customer_s_balance(
    client: Client, ledger_verified: None
) -> None:
    invoice = paid_invoice(client, 2000)
    made = note(client, invoice, amount=700, credit_amount=700)
    txn_id = str(made.customer_balance_transaction)
    txn = client.v1.customers.balance_transactions.retrieve(str(invoice.customer), txn_id)
    assert (txn.type, txn.amount, txn.credit_note, txn.invoice) == (
        "credit_note",
        -700,
        made.id,
        invoice.id,
    )
    assert client.v1.customers.retrieve(str(invoice.customer)).balance == -700
    assert previous(client, "customer.updated", str(invoice.customer))["balance"] == 0


def test_out_of_band_and_mixed_notes(client: Client, ledger_verified: None) -> None:
    paid = paid_invoice(client, 1000)
    oob = note(client, paid, amount=100, out_of_band_amount=100)
    assert (oob.out_of_band_amount, oob.type) == (100, "post_payment")
    # Mixed: 1000 due with 400 of customer credit applied -> 600 remaining; a 900 note takes
    # the 600 first, the other 300 to the balance.
    who = customer(client)
    client.v1.customers.update(who.id, params={"balance": -400})
    opened = client.v1.invoices.finalize_invoice(invoice_of(client, who.id, 1000).id)
    assert opened.amount_remaining == 600
    mixed = note(client, opened, amount=900, credit_amount=300)
    assert (mixed.type, mixed.pre_payment_amount, mixed.post_payment_amount) == (
        "mixed",
        600,
        300,
    )
    after = client.v1.invoices.retrieve(opened.id)
    assert (after.status, after.pre_payment_credit_notes_amount) == ("paid", 600)
    assert after.post_payment_credit_notes_amount == 300
    assert client.v1.customers.retrieve(who.id).balance == -300


# --- lines ----------------------------------------------------------------------------------


def test_line_notes_by_quantity_amount_and_custom_lines(
    client: Client, ledger_verified: None
) -> None:
    who = customer(client)
    draft = client.v1.invoices.create(params={"customer": who.id})
    shirts = client.v1.invoice_items.create(
        params={
            "customer": who.id,
            "invoice": draft.id,
            "price_data": {"currency": "usd", "product": _product(client), "unit_amount": 250},
            "quantity": 4,
        }
    )
    invoice = client.v1.invoices.finalize_invoice(draft.id)
    shirt_line = next(
        line.id for line in invoice.lines.data if line.to_dict()["quantity"] == shirts.quantity
    )
    made = note(
        client,
        invoice,
        lines=[
            {"type": "invoice_line_item", "invoice_line_item": shirt_line, "quantity": 2},
            {"type": "custom_line_item", "description": "Goodwill", "unit_amount": 75,
             "quantity": 2},
        ],
    )  # fmt: skip
    assert (made.total, made.pre_payment_amount) == (650, 650)
    first, second = made.lines.data
    assert (first.type, first.invoice_line_item, first.quantity, first.amount) == (
        "invoice_line_item",
        shirt_line,
        2,
        500,
    )
    assert (first.unit_amount, first.object) == (250, "credit_note_line_item")
    assert (second.type, second.description, second.amount, second.unit_amount_decimal) == (
        "custom_line_item",
        "Goodwill",
        150,
        Decimal(75),
    )
    assert "invoice_line_item" not in second.to_dict()
    # Two shirts are left to credit, by quantity only.
    too_many = refused(
        lambda: note(client, invoice, lines=[{"type": "invoice_line_item",
                                              "invoice_line_item": shirt_line, "quantity": 3}])
    )  # fmt: skip
    assert too_many.param == "lines[0][quantity]"
    other_way = refused(
        lambda: note(client, invoice, lines=[{"type": "invoice_line_item",
                                              "invoice_line_item": shirt_line, "amount": 10}])
    )  # fmt: skip
    assert other_way.param == "lines[0][amount]"
    assert len(notes_of(client, invoice.id)) == 1
    second_note = note(client, invoice, lines=[{"type": "invoice_line_item",
                                                "invoice_line_item": shirt_line,
                                                "quantity": 1}])  # fmt: skip
    assert second_note.number == f"{invoice.number}-CN-02"


def _product(client: Client) -> str:
    return client.v1.products.create(params={"name": "Shirt"}).id


def test_preview_and_preview_lines_equal_what_create_stores(
    client: Client, ledger_verified: None
) -> None:
    invoice = paid_invoice(client, 1000, 600)
    params: Any = {
        "invoice": invoice.id,
        "lines": [
            {"type": "invoice_line_item", "invoice_line_item": lines_of(invoice)[0],
             "amount": 300},
            {"type": "custom_line_item", "description": "Extra", "unit_amount_decimal": "12.5",
             "quantity": 2},
        ],
        "credit_amount": 325,
    }  # fmt: skip
    preview = client.v1.credit_notes.preview(params=params)
    first_page: Any = {**params, "limit": 1}
    page = client.v1.credit_notes.preview_lines.list(params=first_page)
    assert page.has_more and len(page.data) == 1
    second_page: Any = {**params, "starting_after": page.data[0].id}
    rest = client.v1.credit_notes.preview_lines.list(params=second_page)
    assert not rest.has_more
    assert notes_of(client, invoice.id) == []
    made = note(client, invoice, **{k: v for k, v in params.items() if k != "invoice"})

    def same(obj: stripe.StripeObject) -> dict[str, Any]:
        shown = obj.to_dict()
        for name in ("id", "created", "effective_at", "pdf", "lines", "url"):
            shown.pop(name, None)
        shown.pop("customer_balance_transaction", None)
        return shown

    assert same(preview) == same(made)
    assert [same(line) for line in (*page.data, *rest.data)] == [
        same(line) for line in made.lines.data
    ]
    assert made.total == 325


# --- refusals -------------------------------------------------------------------------------


def test_refusals_name_their_parameter_and_store_nothing(
    client: Client, ledger_verified: None
) -> None:
    who = customer(client)
    draft = invoice_of(client, who.id, 1000)
    assert refused(lambda: note(client, draft, amount=100)).param == "invoice"
    missing = refused(lambda: client.v1.credit_notes.create(params={"invoice": "in_nope"}))
    assert missing.param == "invoice"
    paid = paid_invoice(client, 1000)
    assert refused(lambda: note(client, paid, amount=1001, refund_amount=1001)).param in (
        "amount",
        "refund_amount",
    )
    assert refused(lambda: note(client, paid, amount=500)).param == "refund_amount"
    assert refused(lambda: note(client, paid, amount=500, credit_amount=400)).param == (
        "credit_amount"
    )
    assert refused(lambda: note(client, paid, amount=100, reason="bored")).param == "reason"
    over_line = refused(
        lambda: note(client, paid, lines=[{"type": "invoice_line_item",
                                           "invoice_line_item": lines_of(paid)[0],
                                           "amount": 1001}], out_of_band_amount=1001)
    )  # fmt: skip
    assert over_line.param == "lines[0][amount]"
    assert refused(lambda: note(client, paid, refunds=[{"refund": "re_x"}])).param == "refunds"
    assert notes_of(client, paid.id) == [] and notes_of(client, draft.id) == []
    # Two notes together never pass the invoice's total.
    note(client, paid, amount=600, out_of_band_amount=600)
    assert refused(lambda: note(client, paid, amount=500, out_of_band_amount=500)).param == (
        "amount"
    )
    assert len(notes_of(client, paid.id)) == 1


# --- void, update, lists --------------------------------------------------------------------


def test_void_gives_back_the_reduction_and_the_credit_but_not_a_refund(
    client: Client, ledger_verified: None
) -> None:
    invoice = open_invoice(client, 1000)
    pre = note(client, invoice, amount=400)
    voided = client.v1.credit_notes.void_credit_note(pre.id)
    assert (voided.status, voided.voided_at is not None) == ("void", True)
    after = client.v1.invoices.retrieve(invoice.id)
    assert (after.amount_due, after.pre_payment_credit_notes_amount) == (1000, 0)
    assert previous(client, "invoice.updated", invoice.id)["amount_due"] == 600
    assert "credit_note.voided" in event_types(client, pre.id)
    assert refused(lambda: client.v1.credit_notes.void_credit_note(pre.id)).code is None
    paid = client.v1.invoices.pay(invoice.id)
    assert paid.amount_paid == 1000
    post = note(client, paid, amount=600, refund_amount=200, credit_amount=400)
    client.v1.credit_notes.void_credit_note(post.id)
    assert client.v1.customers.retrieve(str(paid.customer)).balance == 0
    refund = client.v1.refunds.retrieve(str(post.refunds[0].refund))
    assert refund.status == "succeeded"
    # The voided note's 600 may be credited again, less the 200 refunded for good.
    assert refused(lambda: note(client, paid, amount=900, out_of_band_amount=900)).param == (
        "amount"
    )
    note(client, paid, amount=800, out_of_band_amount=800)


def test_update_list_filters_and_line_paging(client: Client) -> None:
    first = paid_invoice(client, 1000)
    second = paid_invoice(client, 1000)
    made = note(client, first, amount=100, out_of_band_amount=100)
    note(client, second, amount=100, out_of_band_amount=100)
    updated = client.v1.credit_notes.update(made.id, params={"memo": "m", "metadata": {"a": "b"}})
    assert (updated.memo, updated.to_dict()["metadata"]) == ("m", {"a": "b"})
    assert previous(client, "credit_note.updated", made.id)["memo"] is None
    assert [n.id for n in notes_of(client, first.id)] == [made.id]
    by_customer = client.v1.credit_notes.list(params={"customer": str(first.customer)}).data
    assert [n.id for n in by_customer] == [made.id]
    assert len(client.v1.credit_notes.list(params={"limit": 10}).data) == 2
    custom: Any = [{"type": "custom_line_item", "unit_amount": 1} for _ in range(12)]
    many = note(client, second, lines=custom, out_of_band_amount=12)
    assert (len(many.lines.data), many.lines.has_more) == (10, True)
    page = client.v1.credit_notes.line_items.list(many.id, params={"limit": 5})
    rest = client.v1.credit_notes.line_items.list(
        many.id, params={"limit": 10, "starting_after": page.data[-1].id}
    )
    assert len(page.data) + len(rest.data) == 12 and not rest.has_more
    assert client.v1.credit_notes.retrieve(made.id).id == made.id


def test_a_test_clock_customer_s_note_is_stamped_at_the_clock(
    client: Client, ledger_verified: None
) -> None:
    frozen = 1_900_000_000
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": frozen})
    who = client.v1.customers.create(
        params={
            "test_clock": clock.id,
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    invoice = client.v1.invoices.finalize_invoice(invoice_of(client, who.id, 1000).id)
    made = note(client, invoice, amount=100)
    assert made.created == frozen and made.effective_at == frozen


def test_the_shape_is_stripe_s(client: Client, server: KassaServer, account: Account) -> None:
    """Every field the SDK declares on `CreditNote` and `CreditNoteLineItem` is there, and
    nothing it does not declare (raw JSON, as the SDK would read it); a custom line has no
    `invoice_line_item` key, as Stripe's example shows."""
    invoice = open_invoice(client, 1000)
    made = note(
        client,
        invoice,
        lines=[
            {"type": "invoice_line_item", "invoice_line_item": lines_of(invoice)[0], "amount": 1},
            {"type": "custom_line_item", "unit_amount": 2},
        ],
    )
    with server.http(account.secret_key) as http:
        raw = http.get(f"/v1/credit_notes/{made.id}").json()
    lines = raw.pop("lines")
    assert set(lines) == {"object", "data", "has_more", "url"}
    assert undeclared_keys(raw, stripe.CreditNote, "credit_note") == []
    assert set(declared_fields(stripe.CreditNote)) - {"lines"} <= set(raw)
    assert undeclared_keys(lines["data"], stripe.CreditNoteLineItem, "lines") == []
    line_fields = set(declared_fields(stripe.CreditNoteLineItem))
    assert line_fields <= set(lines["data"][0])
    assert line_fields - {"invoice_line_item"} <= set(lines["data"][1])
