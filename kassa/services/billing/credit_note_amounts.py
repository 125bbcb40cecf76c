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

- Discounts and taxes. A note line crediting an invoice line takes its share of each of the
  line's `discount_amounts` and `taxes` (amount and taxable amount), in proportion to the
  share of the line credited (`adjustments.credited_share`, rule `CREDIT_SHARE_ROUNDING`):
  the share where the line's credits stand after this note, less what issued notes took,
  and exactly what is left by the note that completes the line. A line credited by
  quantity in full is credited its whole amount, likewise. A custom line is taxed at its
  `tax_rates` as an invoice line is (`invoice_amounts`: exclusive on top, inclusive
  inside).
- Billing credits. A note line crediting an invoice line takes its share of each billing
  credit the line took (its `credit_balance_transaction` entries of `pretax_credit_amounts`)
  in the same way, and shows it among its own `pretax_credit_amounts` naming the same credit
  balance transaction (Stripe's credit note line: "The pretax credit amounts (ex: discount,
  credit grants, etc) for this line item"). Nothing goes back to the grant: Stripe's billing
  credits guide (docs.stripe.com/billing/subscriptions/usage-based/billing-credits, "Void
  invoices and issue credit notes"): "Issuing a Credit Note doesn't refund credit grants
  applied to an invoice. To restore those billing credits, you must create a new credit
  grant." So what a note credits of a line is what the customer was charged for it: the
  notes crediting every line in full credit the invoice's `total`, not more.
- The note's amounts (`NoteAmounts`): `subtotal` is its lines' amounts (Stripe: a line's
  `amount` is "excluding (exclusive) tax and discounts"), `total` = subtotal - discounts -
  billing credits + exclusive taxes (inclusive taxes are inside the amounts),
  `total_excluding_tax` = total - every tax, `subtotal_excluding_tax` = subtotal less the
  inclusive tax the lines' amounts hold before their discounts and credits. `amount` is the
  total.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from kassa import money
from kassa.errors import InvalidParameter, MissingParameter
from kassa.invariants import ensure
from kassa.services.billing import adjustments, invoice_amounts
from kassa.services.billing.credit_note_params import NoteLine
from kassa.services.billing.invoice_amounts import (
    CREDITS_MAX,
    DISCOUNTS_MAX,
    LINES_MAX,
    TAX_RATES_MAX,
    DiscountAmount,
    LineTerms,
    TaxAmount,
    TaxTerms,
)
from kassa.services.billing.rounding import LINE_AMOUNT_ROUNDING

BY_QUANTITY: Final = "quantity"
BY_AMOUNT: Final = "amount"
ENTRIES_MAX: Final = max(DISCOUNTS_MAX, TAX_RATES_MAX, CREDITS_MAX)
"""The most per-entry amounts (discounts, taxes, billing credits) one line's shares list."""


@dataclass(frozen=True)
class CreditShare:
    """What a note line credits of one billing credit its invoice line took."""

    credit_balance_transaction: str
    amount: int


@dataclass(frozen=True)
class LineTaken:
    """What issued credit notes took of one invoice line."""

    amount: int = 0
    quantity: int = 0
    ways: frozenset[str] = frozenset()
    """How it was credited: `BY_QUANTITY`, `BY_AMOUNT` (one of them, once taken)."""
    discounts: tuple[int, ...] = ()
    """Of each of the line's `discount_amounts`, in their order."""
    taxes: tuple[tuple[int, int], ...] = ()
    """Of each of the line's `taxes`, in their order: (amount, taxable amount)."""
    credits: tuple[int, ...] = ()
    """Of each of the line's billing credits, in their order."""

    def plus(
        self,
        amount: int,
        quantity: int,
        way: str,
        discounts: Sequence[int] = (),
        taxes: Sequence[Sequence[int]] = (),
        credits: Sequence[int] = (),
    ) -> LineTaken:
        """What the line gave once one more note line (`way`) took these of it."""
        return LineTaken(
            self.amount + amount,
            self.quantity + (quantity if way == BY_QUANTITY else 0),
            self.ways | {way},
            _added(self.discounts, [int(d) for d in discounts]),
            tuple(
                zip(
                    _added([t[0] for t in self.taxes], [int(t[0]) for t in taxes]),
                    _added([t[1] for t in self.taxes], [int(t[1]) for t in taxes]),
                    strict=True,
                )
            ),
            _added(self.credits, [int(c) for c in credits]),
        )


def _added(was: Sequence[int], more: Sequence[int]) -> tuple[int, ...]:
    """Two lists of per-entry amounts summed entry by entry (the shorter counting zeros)."""
    ensure(max(len(was), len(more)) <= ENTRIES_MAX, "a line has a bounded list of entries")
    size = max(len(was), len(more))
    return tuple(
        (was[i] if i < len(was) else 0) + (more[i] if i < len(more) else 0) for i in range(size)
    )


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
    discount_amounts: tuple[DiscountAmount, ...] = ()
    taxes: tuple[TaxAmount, ...] = ()
    """In the order of the invoice line's (or the custom line's `tax_rates`)."""
    inclusive_percentage: Decimal = Decimal(0)
    """The inclusive rates' combined percentage: the tax `amount` holds before discounts."""
    credit_amounts: tuple[CreditShare, ...] = ()
    """Its share of each billing credit of the invoice line, in their order."""

    @property
    def discount_amount(self) -> int:
        return sum(d.amount for d in self.discount_amounts)

    @property
    def credit_amount(self) -> int:
        return sum(c.amount for c in self.credit_amounts)

    @property
    def exclusive_tax(self) -> int:
        return sum(t.amount for t in self.taxes if not t.inclusive)

    @property
    def inclusive_tax(self) -> int:
        return sum(t.amount for t in self.taxes if t.inclusive)

    @property
    def total(self) -> int:
        """What the line credits: its amount less its discounts and billing credits, its
        exclusive taxes on top."""
        return self.amount - self.discount_amount - self.credit_amount + self.exclusive_tax

    def taken_entry(self) -> list[Any]:
        """What it takes of its invoice line, as `credited_by` reads it back."""
        return [
            self.invoice_line_item,
            self.amount,
            self.quantity,
            self.way,
            [d.amount for d in self.discount_amounts],
            [[t.amount, t.taxable_amount] for t in self.taxes],
            [c.amount for c in self.credit_amounts],
        ]


@dataclass(frozen=True)
class NoteAmounts:
    subtotal: int
    subtotal_excluding_tax: int
    discount_amounts: tuple[DiscountAmount, ...]
    """Per discount, summed over the lines, in the order they first appear."""
    total_taxes: tuple[TaxAmount, ...]
    """Per tax rate and behaviour, summed over the lines, in the order they first appear."""
    total_excluding_tax: int
    total: int
    credit_amounts: tuple[CreditShare, ...] = ()
    """Per billing credit (credit balance transaction), summed over the lines."""

    @property
    def discount_amount(self) -> int:
        return sum(d.amount for d in self.discount_amounts)


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
    `PlannedLine.taken_entry` wrote them; notes made before discounts and taxes were
    credited have only the first four, before billing credits were the first six) took."""
    taken: dict[str, LineTaken] = {}
    total = 0
    for note in notes:
        total += int(note["total"])
        for entry in note["lines"]:
            line_id, amount, quantity, way = entry[:4]
            shares = [*entry[4:], *[[]] * (7 - len(entry))][:3]
            was = taken.get(line_id, LineTaken())
            taken[line_id] = was.plus(int(amount), int(quantity or 0), way, *shares)
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
    line: NoteLine,
    path: str,
    invoice_lines: Mapping[str, Mapping[str, Any]],
    taken: LineTaken,
    tax_rates: Mapping[str, TaxTerms],
) -> PlannedLine:
    _refuse_given(
        line, path, ("description", "unit_amount", "unit_amount_decimal", "tax_rates"), line.type
    )
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
    if line.quantity is not None:
        return _by_quantity(line, path, invoice_line, taken, tax_rates)
    return _by_amount(line, path, invoice_line, taken, tax_rates)


def _by_quantity(
    line: NoteLine,
    path: str,
    invoice_line: Mapping[str, Any],
    taken: LineTaken,
    tax_rates: Mapping[str, TaxTerms],
) -> PlannedLine:
    quantity = int(line.quantity or 0)
    line_id = str(invoice_line["id"])
    _check_way(taken, BY_QUANTITY, path, line_id)
    whole = int(invoice_line["quantity"] or 0)
    left = whole - taken.quantity
    if quantity > left:
        raise InvalidParameter(
            f"{path}[quantity] ({quantity}) is more than invoice line {line_id} has left to "
            f"credit ({left}).",
            param=f"{path}[quantity]",
        )
    unit = _unit_amount(invoice_line)
    left_amount = int(invoice_line["amount"]) - taken.amount
    completes = quantity == left
    # The note completing the line takes what is left of its amount, to the unit.
    amount = (
        left_amount
        if completes
        else min(money.to_minor_units(unit * quantity, LINE_AMOUNT_ROUNDING), left_amount)
    )
    discounts, taxes, credits = _shares(
        invoice_line, taken, taken.quantity + quantity, max(whole, 1), nothing=quantity == 0
    )
    whole_unit = unit == unit.to_integral_value()
    return PlannedLine(
        "invoice_line_item",
        amount,
        quantity,
        invoice_line["description"],
        line_id,
        int(unit) if whole_unit else None,
        Decimal(int(unit)) if whole_unit else unit.normalize(),
        BY_QUANTITY,
        discounts,
        taxes,
        _inclusive_percentage(taxes, tax_rates),
        credits,
    )


def _by_amount(
    line: NoteLine,
    path: str,
    invoice_line: Mapping[str, Any],
    taken: LineTaken,
    tax_rates: Mapping[str, TaxTerms],
) -> PlannedLine:
    ensure(line.amount is not None, "an amount when no quantity")
    amount = int(line.amount or 0)
    line_id = str(invoice_line["id"])
    _check_way(taken, BY_AMOUNT, path, line_id)
    whole = int(invoice_line["amount"])
    left_amount = whole - taken.amount
    if amount > left_amount:
        raise InvalidParameter(
            f"{path}[amount] ({amount}) is more than invoice line {line_id} has left to "
            f"credit ({left_amount}).",
            param=f"{path}[amount]",
        )
    discounts, taxes, credits = _shares(
        invoice_line, taken, taken.amount + amount, whole, nothing=amount == 0
    )
    return PlannedLine(
        "invoice_line_item",
        amount,
        1,
        invoice_line["description"],
        line_id,
        way=BY_AMOUNT,
        discount_amounts=discounts,
        taxes=taxes,
        inclusive_percentage=_inclusive_percentage(taxes, tax_rates),
        credit_amounts=credits,
    )


def _shares(
    invoice_line: Mapping[str, Any], taken: LineTaken, credited: int, of: int, *, nothing: bool
) -> tuple[tuple[DiscountAmount, ...], tuple[TaxAmount, ...], tuple[CreditShare, ...]]:
    """The note line's share of each discount, tax and billing credit of `invoice_line`
    once its credits reach `credited` of its `of` (`adjustments.credited_share`); none when
    it credits `nothing` (no units, no amount), whatever rounding earlier notes left."""
    if nothing:
        credited, of = 0, 1
        taken = LineTaken()
    entries = list(invoice_line["discount_amounts"])
    ensure(len(entries) <= DISCOUNTS_MAX, f"a line has at most {DISCOUNTS_MAX} discounts")
    discounts = tuple(
        DiscountAmount(
            _id_of(entry["discount"]),
            adjustments.credited_share(
                int(entry["amount"]), _at(taken.discounts, index), credited, of
            ),
        )
        for index, entry in enumerate(entries)
    )
    taxes = list(invoice_line["taxes"])
    ensure(len(taxes) <= TAX_RATES_MAX, f"a line has at most {TAX_RATES_MAX} taxes")
    shared = tuple(
        TaxAmount(
            str(tax["tax_rate_details"]["tax_rate"]),
            tax["tax_behavior"] == "inclusive",
            adjustments.credited_share(
                int(tax["amount"]), _at_pair(taken.taxes, index, 0), credited, of
            ),
            adjustments.credited_share(
                int(tax["taxable_amount"] or 0), _at_pair(taken.taxes, index, 1), credited, of
            ),
        )
        for index, tax in enumerate(taxes)
    )
    billing_credits = [
        entry
        for entry in invoice_line.get("pretax_credit_amounts") or []
        if entry["type"] == "credit_balance_transaction"
    ]
    ensure(len(billing_credits) <= CREDITS_MAX, f"a line takes at most {CREDITS_MAX} credits")
    credits = tuple(
        CreditShare(
            _id_of(entry["credit_balance_transaction"]),
            adjustments.credited_share(
                int(entry["amount"]), _at(taken.credits, index), credited, of
            ),
        )
        for index, entry in enumerate(billing_credits)
    )
    return discounts, shared, credits


def _id_of(discount: Any) -> str:
    return str(discount.get("id") if isinstance(discount, Mapping) else discount)


def _at(values: Sequence[int], index: int) -> int:
    return values[index] if index < len(values) else 0


def _at_pair(values: Sequence[tuple[int, int]], index: int, part: int) -> int:
    return values[index][part] if index < len(values) else 0


def _inclusive_percentage(taxes: Sequence[TaxAmount], tax_rates: Mapping[str, TaxTerms]) -> Decimal:
    """The combined percentage of the inclusive rates among `taxes` (their terms in
    `tax_rates`, which names every rate the invoice's lines carry)."""
    rates = [
        tax_rates[tax.tax_rate] for tax in taxes if tax.inclusive and tax.tax_rate in tax_rates
    ]
    ensure(len(rates) == sum(1 for tax in taxes if tax.inclusive), "every inclusive rate is known")
    return invoice_amounts.combined_percentage(rates)


def _custom_line(line: NoteLine, path: str, tax_rates: Mapping[str, TaxTerms]) -> PlannedLine:
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
    terms = tuple(tax_rates[rate] for rate in line.rates)
    # Taxed as an invoice line with these rates is: exclusive on top, inclusive inside.
    taxes = invoice_amounts.invoice_amounts([LineTerms(amount, tax_rates=terms)]).lines[0].taxes
    return PlannedLine(
        "custom_line_item",
        amount,
        quantity,
        line.description,
        unit_amount=line.unit_amount if line.unit_amount is not None else None,
        unit_amount_decimal=unit,
        taxes=taxes,
        inclusive_percentage=invoice_amounts.combined_percentage(terms),
    )


def planned_lines(
    lines: Sequence[NoteLine],
    invoice_lines: Sequence[Mapping[str, Any]],
    credited: Credited,
    tax_rates: Mapping[str, TaxTerms],
) -> list[PlannedLine]:
    """The note's lines, each checked against the invoice line it credits and what earlier
    notes and the lines before it in this note took of that line. `tax_rates`: the terms of
    every rate the invoice's lines carry and the custom lines name."""
    ensure(len(lines) <= LINES_MAX, f"a credit note has at most {LINES_MAX} lines")
    by_id = {str(line["id"]): line for line in invoice_lines[:LINES_MAX]}
    taken = dict(credited.lines)
    planned: list[PlannedLine] = []
    for index, line in enumerate(lines):
        path = f"lines[{index}]"
        if line.type == "custom_line_item":
            planned.append(_custom_line(line, path, tax_rates))
            continue
        line_id = line.invoice_line_item or ""
        was = taken.get(line_id, LineTaken())
        made = _invoice_line(line, path, by_id, was, tax_rates)
        planned.append(made)
        entry = made.taken_entry()
        taken[line_id] = was.plus(
            made.amount, made.quantity or 0, made.way or BY_AMOUNT, *entry[4:]
        )
    return planned


# --- the note's total, the invoice's limit, the split ---------------------------------------


def note_amounts(
    amount: int | None, lines: Sequence[PlannedLine], *, has_lines: bool
) -> NoteAmounts:
    """The note's amounts: its lines' (`NoteAmounts`), or `amount` without lines (no taxes,
    no discounts); with both, `amount` must be the lines' total."""
    if not has_lines:
        if amount is None:
            raise InvalidParameter(
                "One of amount or lines must be provided (Kassa's invoices have no shipping cost).",
                param="amount",
            )
        made = NoteAmounts(amount, amount, (), (), amount, amount)
    else:
        made = _lines_amounts(lines)
        if amount is not None and amount != made.total:
            raise InvalidParameter(
                f"amount ({amount}) must equal the sum of the lines ({made.total}).",
                param="amount",
            )
    if made.total <= 0:
        raise InvalidParameter(
            "A credit note credits a positive amount.", param="lines" if has_lines else "amount"
        )
    return made


def _lines_amounts(lines: Sequence[PlannedLine]) -> NoteAmounts:
    ensure(len(lines) <= LINES_MAX, f"a credit note has at most {LINES_MAX} lines")
    discounts: dict[str, int] = {}
    credits: dict[str, int] = {}
    taxes: dict[tuple[str, bool], tuple[int, int]] = {}
    for line in lines:
        for discount in line.discount_amounts:
            discounts[discount.discount] = discounts.get(discount.discount, 0) + discount.amount
        for credit in line.credit_amounts:
            spent = credit.credit_balance_transaction
            credits[spent] = credits.get(spent, 0) + credit.amount
        for tax in line.taxes:
            amount, taxable = taxes.get((tax.tax_rate, tax.inclusive), (0, 0))
            taxes[(tax.tax_rate, tax.inclusive)] = (
                amount + tax.amount,
                taxable + tax.taxable_amount,
            )
    subtotal = sum(line.amount for line in lines)
    discounted = sum(discounts.values()) + sum(credits.values())
    exclusive = sum(line.exclusive_tax for line in lines)
    inclusive = sum(line.inclusive_tax for line in lines)
    made = NoteAmounts(
        subtotal=subtotal,
        subtotal_excluding_tax=subtotal - sum(_inclusive_before_discounts(line) for line in lines),
        discount_amounts=tuple(DiscountAmount(d, a) for d, a in discounts.items()),
        total_taxes=tuple(TaxAmount(r, i, a, t) for (r, i), (a, t) in taxes.items()),
        total_excluding_tax=subtotal - discounted - inclusive,
        total=subtotal - discounted + exclusive,
        credit_amounts=tuple(CreditShare(c, a) for c, a in credits.items()),
    )
    ensure(made.total == sum(line.total for line in lines), "the total is its lines' totals")
    return made


def _inclusive_before_discounts(line: PlannedLine) -> int:
    """The inclusive tax `line.amount` holds before its discounts and billing credits: its
    inclusive taxes when it has none, else the tax inside its amount at the rates' combined
    percentage (as an invoice's `subtotal_excluding_tax` counts it)."""
    if (line.discount_amount == 0 and line.credit_amount == 0) or line.inclusive_tax == 0:
        return line.inclusive_tax
    return adjustments.inclusive_tax(line.amount, line.inclusive_percentage)


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
