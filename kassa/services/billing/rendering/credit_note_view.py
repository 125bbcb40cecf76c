"""A credit note as its customer reads it, formatted for one locale as the invoice it credits
is (`invoice_view`: the same amounts, dates, parties and paper), for the credit note PDF
(`invoice_pdf.render_credit_note_pdf`): a `PaperView`, drawn in the invoice's layout.

It shows the note's number, date (`effective_at`), the invoice it credits, its reason and
memo, its lines, subtotal and total, then how the total was applied: the part that lowered
what the invoice asks (`pre_payment_amount`), refunded (`refunds[].amount_refunded`),
credited to the customer's balance (what `post_payment_amount` leaves after the refunds and
`out_of_band_amount`: the note's `customer_balance_transaction`), and out of band. A void
note says so in its headline's notice and across every page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from kassa.invariants import ensure
from kassa.services.billing.rendering.invoice_text import InvoiceText
from kassa.services.billing.rendering.invoice_view import (
    Formats,
    InvoiceDocument,
    LineView,
    PaperView,
    SummaryRow,
    account_name,
    bill_to_lines,
    formats_for,
    paper_for,
    quantity_text,
    seller_lines,
    tax_groups,
    tax_label,
    unit_price_text,
)

CREDIT_NOTE_LINES_MAX: Final = 2_000
"""Lines one credit note document may show (a note has at most as many as its invoice)."""


@dataclass(frozen=True)
class CreditNoteDocument:
    """Everything a credit note's PDF shows."""

    note: Mapping[str, Any]
    """As the API shows it, but with every line in `lines.data`."""
    invoice: Mapping[str, Any]
    """The invoice it credits, as the API shows it: its number, the customer's details it
    froze at finalization, the account's name and country, its paper size."""
    customer: Mapping[str, Any]
    account: Mapping[str, Any]


def issued_at(note: Mapping[str, Any]) -> int:
    """The note's date: `effective_at` (Stripe: "the date the credit note is effective"),
    else when it was created."""
    effective = note.get("effective_at")
    when: int = effective if isinstance(effective, int) else note["created"]
    return when


def reason_text(reason: object, text: InvoiceText) -> str:
    """The note's `reason` in `text`'s words; empty when it has none."""
    words = {
        "duplicate": text.reason_duplicate,
        "fraudulent": text.reason_fraudulent,
        "order_change": text.reason_order_change,
        "product_unsatisfactory": text.reason_product_unsatisfactory,
    }
    return words.get(str(reason), "") if reason else ""


def _facts(document: CreditNoteDocument, formats: Formats) -> tuple[tuple[str, str], ...]:
    note, text = document.note, formats.text
    facts = [
        (text.credit_note_number, str(note.get("number") or "")),
        (text.invoice_number, str(document.invoice.get("number") or "")),
        (text.date_of_issue, formats.date(issued_at(note))),
        (text.reason, reason_text(note.get("reason"), text)),
    ]
    return tuple((label, value) for label, value in facts if value)


def _unit_price(line: Mapping[str, Any], formats: Formats) -> str:
    """Empty for a line credited by amount (no unit amount, as in Stripe's example)."""
    raw = line.get("unit_amount_decimal")
    return unit_price_text(line.get("unit_amount") if raw is None else raw, formats)


def _line_view(line: Mapping[str, Any], formats: Formats) -> LineView:
    return LineView(
        description=str(line.get("description") or ""),
        period="",
        quantity=quantity_text(line, formats.locale),
        unit_price=_unit_price(line, formats),
        amount=formats.money(line["amount"]),
    )


def applied_amounts(note: Mapping[str, Any]) -> tuple[int, int, int, int]:
    """How the note's total was applied: (pre-payment reduction, refunded, credited to the
    customer's balance, out of band). The balance credit is not a field of Stripe's note: it
    is what the post-payment part leaves after the refunds and the out-of-band amount."""
    refunded = sum(int(entry.get("amount_refunded") or 0) for entry in note.get("refunds") or ())
    out_of_band = int(note.get("out_of_band_amount") or 0)
    credited = int(note["post_payment_amount"]) - refunded - out_of_band
    ensure(credited >= 0, f"credit note {note.get('id')} applies no more than its post-payment")
    return int(note["pre_payment_amount"]), refunded, credited, out_of_band


def applied_parts(note: Mapping[str, Any], text: InvoiceText) -> list[tuple[str, int]]:
    """How the note's total was applied, each part not zero, labeled in `text`'s words: the
    PDF's summary and the credit note email list the same parts."""
    labels = (
        text.credited_to_invoice,
        text.refunded,
        text.credited_to_balance,
        text.credited_otherwise,
    )
    parts = zip(labels, applied_amounts(note), strict=True)
    return [(label, amount) for label, amount in parts if amount]


def _note_tax_rates(note: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The tax rates the note's lines carry (each line shows its `tax_rates` whole)."""
    return {
        str(rate["id"]): rate for line in note_lines(note) for rate in line.get("tax_rates") or ()
    }


def _summary(document: CreditNoteDocument, formats: Formats) -> tuple[SummaryRow, ...]:
    """Subtotal, the discounts it credits, the taxes (as the invoice's summary names them),
    total, then how the total was applied."""
    note, text = document.note, formats.text
    rows = [SummaryRow(text.subtotal, formats.money(note["subtotal"]))]
    if note.get("discount_amount"):
        rows.append(SummaryRow(text.discount, formats.money(-int(note["discount_amount"]))))
    taxes = tax_groups(note)
    if taxes:
        rates = InvoiceDocument(
            invoice=note,
            customer=document.customer,
            account=document.account,
            tax_rates=_note_tax_rates(note),
        )
        excluding = note.get("total_excluding_tax")
        if excluding is not None:
            rows.append(SummaryRow(text.total_excluding_tax, formats.money(excluding)))
        rows += [
            SummaryRow(tax_label(group, rates, formats), formats.money(group.amount))
            for group in taxes
        ]
    rows.append(SummaryRow(text.total, formats.money(note["total"]), emphasis=True))
    rows += [
        SummaryRow(label, formats.money(amount)) for label, amount in applied_parts(note, text)
    ]
    return tuple(rows)


def _notice(note: Mapping[str, Any], formats: Formats) -> str:
    voided_at = note.get("voided_at")
    if note.get("status") != "void" or not isinstance(voided_at, int):
        return ""
    return formats.text.credit_note_voided_on.format(date=formats.date(voided_at))


def note_lines(note: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    lines = (note.get("lines") or {}).get("data") or ()
    ensure(
        len(lines) <= CREDIT_NOTE_LINES_MAX,
        f"credit note {note.get('id')} has {len(lines)} lines, more than {CREDIT_NOTE_LINES_MAX}",
    )
    return lines


def build_credit_note_view(document: CreditNoteDocument, locale: str) -> PaperView:
    """The credit note, formatted for `locale` (a babel locale name; see `resolve_locale`)."""
    note, invoice = document.note, document.invoice
    formats = formats_for(locale, str(note["currency"]), document.account)
    text = formats.text
    # The parties are the invoice's: the customer's details as it froze them.
    parties = InvoiceDocument(invoice=invoice, customer=document.customer, account=document.account)
    void = note.get("status") == "void"
    return PaperView(
        locale=formats.locale,
        text=text,
        title=text.credit_note,
        number=str(note.get("number") or ""),
        status=str(note.get("status") or ""),
        account_name=account_name(invoice, document.account),
        seller=seller_lines(parties, formats.locale),
        bill_to=bill_to_lines(parties, formats.locale),
        facts=_facts(document, formats),
        headline=text.credited.format(amount=formats.money(note["total"])),
        notice=_notice(note, formats),
        description=str(note.get("memo") or ""),
        custom_fields=(),
        lines=tuple(_line_view(line, formats) for line in note_lines(note)),
        summary=_summary(document, formats),
        footer="",
        paper=paper_for(invoice, document.account),
        issued_at=issued_at(note),
        stamp=text.void_stamp if void else "",
    )
