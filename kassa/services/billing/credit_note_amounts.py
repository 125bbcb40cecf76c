"""A credit note's arithmetic, as Stripe's create docstring (stripe 16.1.0,
`CreditNoteService.create`) and its credit notes guide
(docs.stripe.com/invoicing/integration/programmatic-credit-notes) have it: pure, integer
minor units in and out, no I/O. Every refusal names the parameter that caused it.

- Lines. `invoice_line_item` credits a line of the invoice by `quantity` (that many of its
  units: its unit amount times the quantity, rounded once, half up, as a line's amount is) or
  by `amount`, never both; a line credited one way is credited that way by later notes too
  (the guide: "You can't combine discount types on an invoice line item"). A line never
  gives more than it holds: its quantity less the quantities earlier notes took, its amount
  less the amounts they took (voided notes give theirs back). `custom_line_item` credits
  `unit_amount` (or `unit_amount_decimal`) times `quantity` (1 by default). With no lines,
  `amount` is the whole note.
- The invoice's limit: the notes of an invoice together never exceed its `total` (the
  guide: "The sum of all credit notes cannot exceed the invoice's total amount"), less what
  was refunded of its payment outside credit notes (the create docstring: "the credit note
  API subtracts those refund amounts from the maximum creditable amount").
- The split: the note first reduces the invoice's `amount_remaining`, not below zero
  (`pre_payment_amount`); what exceeds it (`post_payment_amount`) must be exactly
  `refund_amount + credit_amount + out_of_band_amount`.

Kassa does not yet credit a line that carries discounts or taxes (the note would have to
credit their shares too): such a line is refused, naming it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from kassa import money
from kassa.errors import InvalidParameter, MissingParameter
from kassa.invariants import ensure
from kassa.services.billing.credit_note_params import NoteLine
from kassa.services.billing.invoice_amounts import LINES_MAX
from kassa.services.billing.rounding import LINE_AMOUNT_ROUNDING

BY_QUANTITY: Final = "quantity"
BY_AMOUNT: Final = "amount"


@dataclass(frozen=True)
class LineTaken:
    """What issued credit notes took of one invoice line."""

    amount: int = 0
    quantity: int = 0
    ways: frozenset[str] = frozenset()
    """How it was credited: `BY_QUANTITY`, `BY_AMOUNT` (one of them, once taken)."""


@dataclass(frozen=True)
class Credited:
    """What the invoice's issued credit notes took: in all, and per invoice line."""

    total: int = 0
    lines: Mapping[str, LineTaken] = field(default_factory=dict)


@dataclass(frozen=True)
class PlannedLine:
    type: str
    amount: int
    quantity: int | None
    description: str | None
    invoice_line_item: str | None = None
    unit_amount: int | None = None
    unit_amount_decimal: Decimal | None = None
    way: str | None = None
    """How an invoice line is credited (`BY_QUANTITY`, `BY_AMOUNT`); None for a custom one."""


@dataclass(frozen=True)
class Split:
    total: int
    pre_payment: int
    post_payment: int

    @property
    def type(self) -> str:
        if self.post_payment == 0:
            return "pre_payment"
        return "post_payment" if self.pre_payment == 0 else "mixed"


def credited_by(notes: Sequence[Mapping[str, Any]]) -> Credited:
    """What `notes` (the invoice's issued notes, each with its planned lines as
    `(invoice_line_item, amount, quantity, way)`) took."""
    taken: dict[str, LineTaken] = {}
    total = 0
    for note in notes:
        total += int(note["total"])
        for line_id, amount, quantity, way in note["lines"]:
            was = taken.get(line_id, LineTaken())
            taken[line_id] = LineTaken(
                was.amount + amount,
                was.quantity + (int(quantity or 0) if way == BY_QUANTITY else 0),
                was.ways | {way},
            )
    return Credited(total, taken)


# --- lines ----------------------------------------------------------------------------------


def _refuse_given(line: NoteLine, path: str, names: Sequence[str], line_type: str) -> None:
    for name in names:
        if getattr(line, name) is not None:
            raise InvalidParameter(
                f"{path}[{name}] is not valid for a line of type {line_type}.",
                param=f"{path}[{name}]",
            )


def _unit_amount(invoice_line: Mapping[str, Any]) -> Decimal:
    """An invoice line's unit amount: its price's decimal unit amount, else its amount over
    its quantity."""
    decimal = (invoice_line.get("pricing") or {}).get("unit_amount_decimal")
    if decimal is not None:
        return Decimal(str(decimal))
    return Decimal(int(invoice_line["amount"])) / Decimal(int(invoice_line["quantity"]))


def _check_creditable(invoice_line: Mapping[str, Any], path: str) -> None:
    if invoice_line["discount_amounts"] or invoice_line["taxes"]:
        raise InvalidParameter(
            f"Kassa does not yet credit an invoice line that carries discounts or taxes "
            f"({invoice_line['id']}): credit it with a custom_line_item, or with amount.",
            param=f"{path}[invoice_line_item]",
        )
    if int(invoice_line["amount"]) <= 0:
        raise InvalidParameter(
            f"Invoice line {invoice_line['id']} is a credit of its own: there is nothing on "
            "it to credit.",
            param=f"{path}[invoice_line_item]",
        )


def _check_way(taken: LineTaken, way: str, path: str, line_id: str) -> None:
    other = BY_AMOUNT if way == BY_QUANTITY else BY_QUANTITY
    if other in taken.ways:
        raise InvalidParameter(
            f"Invoice line {line_id} was credited by {other} before: a later credit note "
            f"credits it by {other} too, not by {way}.",
            param=f"{path}[{way}]",
        )


def _invoice_line(
    line: NoteLine, path: str, invoice_lines: Mapping[str, Mapping[str, Any]], taken: LineTaken
) -> PlannedLine:
    _refuse_given(line, path, ("description", "unit_amount", "unit_amount_decimal"), line.type)
    if line.invoice_line_item is None:
        raise MissingParameter(f"{path}[invoice_line_item]")
    invoice_line = invoice_lines.get(line.invoice_line_item)
    if invoice_line is None:
        raise InvalidParameter(
            f"The invoice has no line {line.invoice_line_item}.",
            param=f"{path}[invoice_line_item]",
        )
    _check_creditable(invoice_line, path)
    if line.quantity is not None and line.amount is not None:
        raise InvalidParameter(
            f"Give {path}[quantity] or {path}[amount], not both.", param=f"{path}[amount]"
        )
    if line.quantity is None and line.amount is None:
        raise MissingParameter(f"{path}[quantity]")
    left_amount = int(invoice_line["amount"]) - taken.amount
    if line.quantity is not None:
        _check_way(taken, BY_QUANTITY, path, line.invoice_line_item)
        left = int(invoice_line["quantity"] or 0) - taken.quantity
        if line.quantity > left:
            raise InvalidParameter(
                f"{path}[quantity] ({line.quantity}) is more than invoice line "
                f"{line.invoice_line_item} has left to credit ({left}).",
                param=f"{path}[quantity]",
            )
        unit = _unit_amount(invoice_line)
        amount = min(money.to_minor_units(unit * line.quantity, LINE_AMOUNT_ROUNDING), left_amount)
        whole = unit == unit.to_integral_value()
        return PlannedLine(
            "invoice_line_item",
            amount,
            line.quantity,
            invoice_line["description"],
            line.invoice_line_item,
            int(unit) if whole else None,
            Decimal(int(unit)) if whole else unit.normalize(),
            BY_QUANTITY,
        )
    ensure(line.amount is not None, "an amount when no quantity")
    amount = int(line.amount or 0)
    _check_way(taken, BY_AMOUNT, path, line.invoice_line_item)
    if amount > left_amount:
        raise InvalidParameter(
            f"{path}[amount] ({amount}) is more than invoice line {line.invoice_line_item} "
            f"has left to credit ({left_amount}).",
            param=f"{path}[amount]",
        )
    return PlannedLine(
        "invoice_line_item",
        amount,
        1,
        invoice_line["description"],
        line.invoice_line_item,
        way=BY_AMOUNT,
    )


def _custom_line(line: NoteLine, path: str) -> PlannedLine:
    _refuse_given(line, path, ("amount", "invoice_line_item"), line.type)
    if line.unit_amount is not None and line.unit_amount_decimal is not None:
        raise InvalidParameter(
            f"Give {path}[unit_amount] or {path}[unit_amount_decimal], not both.",
            param=f"{path}[unit_amount_decimal]",
        )
    if line.unit_amount is None and line.unit_amount_decimal is None:
        raise MissingParameter(f"{path}[unit_amount]")
    quantity = 1 if line.quantity is None else line.quantity
    unit = (
        Decimal(line.unit_amount) if line.unit_amount is not None else line.unit_amount_decimal
    ) or Decimal(0)
    amount = money.to_minor_units(unit * quantity, LINE_AMOUNT_ROUNDING)
    if amount > money.MAX_AMOUNT:
        raise InvalidParameter(
            f"{path} credits {amount}, more than the largest amount ({money.MAX_AMOUNT}).",
            param=f"{path}[quantity]",
        )
    return PlannedLine(
        "custom_line_item",
        amount,
        quantity,
        line.description,
        unit_amount=line.unit_amount if line.unit_amount is not None else None,
        unit_amount_decimal=unit,
    )


def planned_lines(
    lines: Sequence[NoteLine], invoice_lines: Sequence[Mapping[str, Any]], credited: Credited
) -> list[PlannedLine]:
    """The note's lines, each checked against the invoice line it credits and what earlier
    notes and the lines before it in this note took of that line."""
    ensure(len(lines) <= LINES_MAX, f"a credit note has at most {LINES_MAX} lines")
    by_id = {str(line["id"]): line for line in invoice_lines[:LINES_MAX]}
    taken = dict(credited.lines)
    planned: list[PlannedLine] = []
    for index, line in enumerate(lines):
        path = f"lines[{index}]"
        if line.type == "custom_line_item":
            planned.append(_custom_line(line, path))
            continue
        line_id = line.invoice_line_item or ""
        made = _invoice_line(line, path, by_id, taken.get(line_id, LineTaken()))
        planned.append(made)
        was = taken.get(line_id, LineTaken())
        taken[line_id] = LineTaken(
            was.amount + made.amount,
            was.quantity + ((made.quantity or 0) if made.way == BY_QUANTITY else 0),
            was.ways | {made.way or BY_AMOUNT},
        )
    return planned


# --- the note's total, the invoice's limit, the split ---------------------------------------


def note_total(amount: int | None, lines: Sequence[PlannedLine], *, has_lines: bool) -> int:
    """The note's total: its lines' sum, or `amount` without lines; with both, they must
    agree."""
    if not has_lines:
        if amount is None:
            raise InvalidParameter(
                "One of amount or lines must be provided (Kassa's invoices have no shipping cost).",
                param="amount",
            )
        total = amount
    else:
        total = sum(line.amount for line in lines)
        if amount is not None and amount != total:
            raise InvalidParameter(
                f"amount ({amount}) must equal the sum of the lines ({total}).", param="amount"
            )
    if total <= 0:
        raise InvalidParameter(
            "A credit note credits a positive amount.", param="lines" if has_lines else "amount"
        )
    return total


def check_invoice_limit(
    invoice: Mapping[str, Any],
    total: int,
    credited: Credited,
    refunded_outside: int,
    *,
    has_lines: bool,
) -> None:
    creditable = int(invoice["total"]) - credited.total - refunded_outside
    if total > creditable:
        raise InvalidParameter(
            f"The credit note's total ({total}) is more than invoice {invoice['id']} has left "
            f"to credit ({max(creditable, 0)}: its total {invoice['total']}, less "
            f"{credited.total} credited by earlier credit notes and {refunded_outside} "
            "refunded outside credit notes).",
            param="lines" if has_lines else "amount",
        )


def split(total: int, amount_remaining: int) -> Split:
    pre = min(total, max(amount_remaining, 0))
    return Split(total, pre, total - pre)


POST_PAYMENT_PARTS: Final = ("refund_amount", "credit_amount", "out_of_band_amount")


def check_post_payment(parts: Mapping[str, int | None], note: Split) -> None:
    """What exceeds the invoice's amount remaining is exactly refunded, credited and settled
    outside Stripe (the create docstring: "The sum of refunds, customer balance credits, and
    outside of Stripe credits must equal the post_payment_amount")."""
    given = sum(int(parts.get(name) or 0) for name in POST_PAYMENT_PARTS)
    if given == note.post_payment:
        return
    named = next((name for name in POST_PAYMENT_PARTS if parts.get(name) is not None), None)
    raise InvalidParameter(
        f"The sum of refund_amount, credit_amount and out_of_band_amount ({given}) must equal "
        f"the credit note's post_payment_amount ({note.post_payment}): of its total "
        f"{note.total}, {note.pre_payment} reduces what the invoice has remaining to pay.",
        param=named or "refund_amount",
    )
