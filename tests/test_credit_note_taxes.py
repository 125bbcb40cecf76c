"""Credit notes on invoice lines that carry taxes and discounts: through the official SDK
against a live server on SQLite and PostgreSQL (the ledger verified after each test), with
amounts worked out by hand; and, in process, a property of the pure arithmetic
(`credit_note_amounts`): notes crediting a taxed, discounted line in random pieces, some
voided, never credit more than the line held and, once they credit all of it, credited
exactly that.

The rule (`rounding.CREDIT_SHARE_ROUNDING`): a note line's share of each discount and tax of
the invoice line is that amount times the share of the line credited so far (after this
note), rounded half up, less what earlier notes took; the note completing the line takes
exactly what is left."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import stripe
from hypothesis import given, settings
from hypothesis import strategies as st

from kassa.services.billing import credit_note_amounts
from kassa.services.billing.credit_note_amounts import Credited, PlannedLine
from kassa.services.billing.credit_note_params import NoteLine
from kassa.services.billing.invoice_amounts import (
    DiscountTerms,
    LineTerms,
    TaxTerms,
    invoice_amounts,
)
from tests.test_credit_note_pdf import _pdf, _squeezed, _text
from tests.test_credit_notes import note
from tests.test_invoices import Client, customer, refused

# --- through the API ------------------------------------------------------------------------


def _tax_rate(client: Client, percentage: int, *, inclusive: bool) -> stripe.TaxRate:
    params: Any = {"display_name": "VAT", "percentage": percentage, "inclusive": inclusive}
    return client.v1.tax_rates.create(params=params)


def _open_invoice(client: Client, *items: dict[str, Any]) -> stripe.Invoice:
    """An open invoice holding one invoice item per `items` entry (its create params)."""
    who = customer(client)
    draft = client.v1.invoices.create(params={"customer": who.id})
    for fields in items:
        params: Any = {"customer": who.id, "currency": "usd", "invoice": draft.id, **fields}
        client.v1.invoice_items.create(params=params)
    return client.v1.invoices.finalize_invoice(draft.id)


def _line(invoice: stripe.Invoice, **credit: Any) -> dict[str, Any]:
    return {"type": "invoice_line_item", "invoice_line_item": invoice.lines.data[0].id, **credit}


def _taxes(obj: Any) -> list[tuple[int, str, int]]:
    return [(t.amount, t.tax_behavior, t.taxable_amount) for t in obj.taxes or ()]


def _totals(made: stripe.CreditNote) -> tuple[int, ...]:
    return (
        made.subtotal,
        made.subtotal_excluding_tax or 0,
        made.discount_amount,
        made.total_excluding_tax or 0,
        made.total,
        made.amount,
    )


def test_an_exclusive_vat_line_credited_one_unit_then_the_rest(
    client: Client, ledger_verified: None
) -> None:
    """3 x 3.35 = 10.05, VAT 19% = 1.9095 -> 1.91: the invoice's total is 11.96. One unit
    of three: 3.35, its tax 1.91 / 3 = 0.6367 -> 0.64 (taxable 3.35), 3.99 in all. The
    other two: what is left, 6.70 and 1.27 of tax, 7.97; 3.99 + 7.97 = 11.96."""
    vat = _tax_rate(client, 19, inclusive=False)
    invoice = _open_invoice(
        client, {"unit_amount_decimal": "335", "quantity": 3, "tax_rates": [vat.id]}
    )
    assert (invoice.total, invoice.total_taxes[0].amount) == (1196, 191)  # type: ignore[index]
    params: Any = {"invoice": invoice.id, "lines": [_line(invoice, quantity=1)]}
    preview = client.v1.credit_notes.preview(params=params)
    first = note(client, invoice, lines=[_line(invoice, quantity=1)])
    assert _totals(first) == (335, 335, 0, 335, 399, 399) == _totals(preview)
    line = first.lines.data[0]
    assert (line.amount, line.quantity, line.unit_amount) == (335, 1, 335)
    assert _taxes(line) == [(64, "exclusive", 335)]
    assert line.taxes[0].tax_rate_details.tax_rate == vat.id  # type: ignore[index, union-attr]
    assert [rate.id for rate in line.tax_rates] == [vat.id]
    assert [(t.amount, t.taxable_amount) for t in first.total_taxes or ()] == [(64, 335)]
    assert (first.pre_payment_amount, first.type) == (399, "pre_payment")
    after = client.v1.invoices.retrieve(invoice.id)
    assert (after.amount_remaining, after.pre_payment_credit_notes_amount) == (797, 399)

    rest = note(client, invoice, lines=[_line(invoice, quantity=2)])
    assert _totals(rest) == (670, 670, 0, 670, 797, 797)
    assert _taxes(rest.lines.data[0]) == [(127, "exclusive", 670)]
    assert first.total + rest.total == invoice.total
    paid = client.v1.invoices.retrieve(invoice.id)
    assert (paid.status, paid.amount_remaining) == ("paid", 0)
    over = refused(lambda: note(client, invoice, lines=[_line(invoice, quantity=1)]))
    assert over.param == "lines[0][quantity]"


def test_an_inclusive_tax_line_credited_by_amount_to_the_customer_s_balance(
    client: Client, ledger_verified: None
) -> None:
    """12.00 including 20% tax holds 2.00 of tax on 10.00. Crediting 5.00 of it: tax
    2.00 x 5/12 = 0.8333 -> 0.83 inside it, on 10.00 x 5/12 = 4.1667 -> 4.17; the note's
    total is 5.00 (the tax is inside), 4.17 without tax. The other 7.00: 1.17 on 5.83."""
    vat = _tax_rate(client, 20, inclusive=True)
    invoice = _open_invoice(client, {"amount": 1200, "tax_rates": [vat.id]})
    invoice = client.v1.invoices.pay(invoice.id)
    assert (invoice.total, invoice.total_excluding_tax) == (1200, 1000)
    made = note(client, invoice, lines=[_line(invoice, amount=500)], credit_amount=500)
    assert _totals(made) == (500, 417, 0, 417, 500, 500)
    assert _taxes(made.lines.data[0]) == [(83, "inclusive", 417)]
    assert (made.post_payment_amount, made.type) == (500, "post_payment")
    assert client.v1.customers.retrieve(str(invoice.customer)).balance == -500
    rest = note(client, invoice, lines=[_line(invoice, amount=700)], out_of_band_amount=700)
    assert _totals(rest) == (700, 583, 0, 583, 700, 700)
    assert _taxes(rest.lines.data[0]) == [(117, "inclusive", 583)]


def test_a_discounted_taxed_line_credited_by_quantity_refunds_the_payment(
    client: Client, ledger_verified: None
) -> None:
    """3 x 10.00 = 30.00, a 10% coupon takes 3.00, VAT 19% on 27.00 is 5.13: 32.13 paid.
    One unit: 10.00, its discount 1.00, its tax 1.71 on 9.00, so 10.71 refunded. The other
    two: 20.00, 2.00, 3.42 on 18.00, 21.42; 10.71 + 21.42 = 32.13."""
    vat = _tax_rate(client, 19, inclusive=False)
    coupon = client.v1.coupons.create(params={"percent_off": 10})
    invoice = _open_invoice(
        client,
        {
            "unit_amount_decimal": "1000",
            "quantity": 3,
            "tax_rates": [vat.id],
            "discounts": [{"coupon": coupon.id}],
        },
    )
    invoice = client.v1.invoices.pay(invoice.id)
    assert (invoice.status, invoice.total) == ("paid", 3213)
    discount = str(invoice.lines.data[0].discount_amounts[0].discount)  # type: ignore[index]
    made = note(client, invoice, lines=[_line(invoice, quantity=1)], refund_amount=1071)
    assert _totals(made) == (1000, 1000, 100, 900, 1071, 1071)
    line = made.lines.data[0]
    assert (line.amount, line.discount_amount) == (1000, 100)
    assert [(d.amount, d.discount) for d in line.discount_amounts] == [(100, discount)]
    assert [(p.amount, p.type, p.discount) for p in line.pretax_credit_amounts] == [
        (100, "discount", discount)
    ]
    assert _taxes(line) == [(171, "exclusive", 900)]
    assert [(d.amount, d.discount) for d in made.discount_amounts] == [(100, discount)]
    assert [(p.amount, p.discount) for p in made.pretax_credit_amounts] == [(100, discount)]
    refund = client.v1.refunds.retrieve(str(made.refunds[0].refund))
    assert (refund.amount, refund.status) == (1071, "succeeded")
    shown = _squeezed(_text(_pdf(made.pdf).content))
    for row in ("Subtotal$10.00", "Discount-$1.00", "Totalexcludingtax$9.00", "$1.71"):
        assert row in shown
    assert "VAT(19%" in shown and "Total$10.71" in shown
    short = refused(
        lambda: note(client, invoice, lines=[_line(invoice, quantity=2)], refund_amount=2000)
    )
    assert short.param == "refund_amount"
    rest = note(client, invoice, lines=[_line(invoice, quantity=2)], refund_amount=2142)
    assert _totals(rest) == (2000, 2000, 200, 1800, 2142, 2142)
    assert _taxes(rest.lines.data[0]) == [(342, "exclusive", 1800)]
    charge = client.v1.charges.retrieve(str(refund.charge))
    assert charge.amount_refunded == 3213 == invoice.total


def test_custom_lines_take_tax_rates_exclusive_and_inclusive(
    client: Client, ledger_verified: None
) -> None:
    """2 x 5.00 at 19% exclusive: 10.00 and 1.90 of tax on top, 11.90. 6.00 at 20%
    inclusive: 1.00 of tax inside, on 5.00. The note: subtotal 16.00, 15.00 without the
    inclusive tax, total 17.90."""
    vat = _tax_rate(client, 19, inclusive=False)
    included = _tax_rate(client, 20, inclusive=True)
    invoice = _open_invoice(client, {"amount": 5000})
    lines: Any = [
        {"type": "custom_line_item", "description": "Refit", "unit_amount": 500, "quantity": 2,
         "tax_rates": [vat.id]},
        {"type": "custom_line_item", "description": "Box", "unit_amount": 600,
         "tax_rates": [included.id]},
    ]  # fmt: skip
    made = note(client, invoice, lines=lines)
    assert _totals(made) == (1600, 1500, 0, 1500, 1790, 1790)
    assert [_taxes(line) for line in made.lines.data] == [
        [(190, "exclusive", 1000)],
        [(100, "inclusive", 500)],
    ]
    assert [[r.id for r in line.tax_rates] for line in made.lines.data] == [
        [vat.id],
        [included.id],
    ]
    after = client.v1.invoices.retrieve(invoice.id)
    assert after.amount_remaining == 5000 - 1790
    archived = _tax_rate(client, 7, inclusive=False)
    client.v1.tax_rates.update(archived.id, params={"active": False})
    refusals = {
        "lines[0][tax_rates]": [{**lines[0], "tax_rates": [archived.id]}],
        "lines[0][tax_amounts]": [
            {**lines[0], "tax_amounts": [{"amount": 1, "tax_rate": vat.id, "taxable_amount": 5}]}
        ],
    }
    for param, sent in refusals.items():
        assert _refused_lines(client, invoice, sent).param == param
    on_invoice_line = [_line(invoice, amount=100, tax_rates=[vat.id])]
    assert refused(lambda: note(client, invoice, lines=on_invoice_line)).param == (
        "lines[0][tax_rates]"
    )


def _refused_lines(
    client: Client, invoice: stripe.Invoice, lines: list[dict[str, Any]]
) -> stripe.InvalidRequestError:
    return refused(lambda: note(client, invoice, lines=lines))


# --- the arithmetic, in process -------------------------------------------------------------

PIECES_MAX = 12
"""The most notes one example credits its line in."""


@st.composite
def _taxed_discounted_line(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, TaxTerms]]:
    """An invoice line as an invoice shows it: a quantity of a unit amount, a percentage
    and an amount off, an exclusive and an inclusive rate (each maybe absent)."""
    quantity = draw(st.integers(1, 40))
    unit = draw(st.integers(1, 250_000))
    discounts = []
    if draw(st.booleans()):
        percent = Decimal(draw(st.integers(1, 10_000))) / 100
        discounts.append(DiscountTerms("di_percent", percent_off=percent))
    if draw(st.booleans()):
        discounts.append(DiscountTerms("di_off", amount_off=draw(st.integers(1, 50_000))))
    rates = []
    if draw(st.booleans()):
        rates.append(TaxTerms("txr_excl", Decimal(draw(st.integers(0, 3000))) / 100, False))
    if draw(st.booleans()):
        rates.append(TaxTerms("txr_incl", Decimal(draw(st.integers(0, 3000))) / 100, True))
    terms = LineTerms(unit * quantity, discounts=tuple(discounts), tax_rates=tuple(rates))
    amounts = invoice_amounts([terms]).lines[0]
    line = {
        "id": "il_1",
        "amount": amounts.amount,
        "quantity": quantity,
        "description": "Widget",
        "pricing": {"unit_amount_decimal": str(unit)},
        "discount_amounts": [
            {"amount": d.amount, "discount": d.discount} for d in amounts.discount_amounts
        ],
        "taxes": [
            {
                "amount": t.amount,
                "tax_behavior": "inclusive" if t.inclusive else "exclusive",
                "tax_rate_details": {"tax_rate": t.tax_rate},
                "taxable_amount": t.taxable_amount,
            }
            for t in amounts.taxes
        ],
    }
    return line, {rate.tax_rate: rate for rate in rates}


def _pieces(data: st.DataObject, whole: int) -> list[int]:
    """`whole` cut at up to `PIECES_MAX - 1` random points (pieces of zero left out)."""
    cuts = sorted(data.draw(st.lists(st.integers(0, whole), max_size=PIECES_MAX - 1)))
    bounds = [0, *cuts, whole]
    return [b - a for a, b in itertools.pairwise(bounds) if b > a]


def _whole_of(line: dict[str, Any]) -> tuple[int, ...]:
    return (
        line["amount"],
        *(d["amount"] for d in line["discount_amounts"]),
        *(t["amount"] for t in line["taxes"]),
        *(t["taxable_amount"] for t in line["taxes"]),
    )


def _parts_of(planned: PlannedLine) -> tuple[int, ...]:
    return (
        planned.amount,
        *(d.amount for d in planned.discount_amounts),
        *(t.amount for t in planned.taxes),
        *(t.taxable_amount for t in planned.taxes),
    )


@settings(max_examples=300, deadline=None)
@given(data=st.data(), by_quantity=st.booleans())
def test_notes_crediting_a_line_in_pieces_end_exactly_at_it(
    data: st.DataObject, by_quantity: bool
) -> None:
    line, rates = data.draw(_taxed_discounted_line())
    whole_line = _whole_of(line)
    pieces = _pieces(data, line["quantity"] if by_quantity else line["amount"])
    voided = data.draw(st.sets(st.integers(0, len(pieces) - 1), max_size=2))
    issued: list[dict[str, Any]] = []
    for index, piece in enumerate([*pieces, *(pieces[i] for i in sorted(voided))]):
        sent = NoteLine(
            type="invoice_line_item",
            invoice_line_item="il_1",
            quantity=piece if by_quantity else None,
            amount=None if by_quantity else piece,
        )
        credited: Credited = credit_note_amounts.credited_by(issued)
        [planned] = credit_note_amounts.planned_lines([sent], [line], credited, rates)
        parts = _parts_of(planned)
        taken = [sum(column) for column in zip(*_issued_parts(issued), strict=False)]
        for at, part in enumerate(parts):
            before = taken[at] if at < len(taken) else 0
            assert 0 <= part <= whole_line[at] - before, "never more than the line held"
        made = {"total": planned.total, "lines": [planned.taken_entry()], "parts": parts}
        # The voided pieces are voided once made, then credited again at the end.
        if index not in voided or index >= len(pieces):
            issued.append(made)
    assert tuple(sum(column) for column in zip(*_issued_parts(issued), strict=True)) == whole_line
    total = invoice_amounts_total(line)
    assert sum(note["total"] for note in issued) == total


def _issued_parts(issued: list[dict[str, Any]]) -> list[tuple[int, ...]]:
    return [note["parts"] for note in issued]


def invoice_amounts_total(line: dict[str, Any]) -> int:
    """The line's part of its invoice's total: amount - discounts + exclusive taxes."""
    discounts = sum(d["amount"] for d in line["discount_amounts"])
    exclusive = sum(t["amount"] for t in line["taxes"] if t["tax_behavior"] == "exclusive")
    return int(line["amount"]) - int(discounts) + int(exclusive)
