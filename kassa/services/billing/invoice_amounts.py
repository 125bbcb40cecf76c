"""An invoice's amounts from its lines: pure arithmetic, integer minor units in and out, no
I/O. Every rounding goes through `adjustments` (percentage discounts, spreading, exclusive
and inclusive tax, each with its one named rule) and `pricing` (a line's amount); nothing
here rounds on its own.

The order Stripe applies things in (its `discounts` docstrings: "Line item discounts are
applied before invoice discounts"):

1. Each line's own discounts, in the order given, each on what the previous ones left
   (`amount_off` never takes a line below zero).
2. Each invoice discount, in order, on what the discountable lines it applies to still
   hold: a percentage of their sum, or an amount off it (never more than it), spread over
   those lines in proportion to what each holds (`adjustments.spread`, so the parts sum
   exactly and none exceeds its line).

A discount whose coupon is restricted to products (`applies_to[products]`) applies, in
either step, only to lines whose price's product is one of them; other lines take nothing
from it (and carry no entry for it).
3. Taxes per line, on what the discounts left (the taxable amount). Inclusive rates are
   inside that amount: their combined tax is `inclusive_tax` at the sum of their
   percentages, spread over the rates by percentage. Exclusive rates are added on top of
   the net (the taxable amount without its inclusive tax), each `exclusive_tax` on its own.

A line whose amount is negative (a credit) takes discounts only when it is discountable
(Stripe: `discountable` "Defaults to false for prorations or negative invoice items"; set
true, a credit item takes them). Its share is then negative: a percentage takes the same
share of the credit, an amount off of its own takes nothing from it, and an invoice
discount is taken from the net of the lines it applies to (charges less credits; nothing
when that is not above zero) and spread over them by what each holds, credits included
(`adjustments.spread_signed`). A credit's taxes are those of the same positive amount,
negated, so a credit undoes a charge's tax to the unit.

Totals: `subtotal` = the lines' amounts; `total` = subtotal - discounts + exclusive taxes;
`total_excluding_tax` = subtotal - discounts - inclusive taxes; `subtotal_excluding_tax` =
the lines' amounts with the inclusive tax each would carry undiscounted taken out.
`amount_due` = total adjusted by the customer's balance, never below zero
(`apply_customer_balance`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from kassa.invariants import ensure
from kassa.services.billing import adjustments

LINES_MAX = 250
"""Stripe's limit of invoice items on one invoice: every loop over lines is bounded by it."""
DISCOUNTS_MAX = 20
"""The most discounts an invoice or a line may carry (Stripe's limit on `discounts`)."""
TAX_RATES_MAX = 10
"""Stripe takes at most ten tax rates per line item (and as an invoice's defaults)."""


@dataclass(frozen=True)
class DiscountTerms:
    discount: str
    """The discount's id (`di_...`)."""
    percent_off: Decimal | None = None
    amount_off: int | None = None
    """In the invoice's currency; exactly one of the two is set."""
    products: frozenset[str] | None = None
    """The products its coupon is restricted to (`applies_to[products]`); None: every line."""


@dataclass(frozen=True)
class TaxTerms:
    tax_rate: str
    percentage: Decimal
    inclusive: bool


@dataclass(frozen=True)
class LineTerms:
    amount: int
    """The line's amount before discounts and taxes (negative for a credit)."""
    discountable: bool = True
    discounts: tuple[DiscountTerms, ...] = ()
    product: str | None = None
    """The product of the line's price; None for an amount-only line, which a discount
    restricted to products never reaches."""
    tax_rates: tuple[TaxTerms, ...] = ()


@dataclass(frozen=True)
class DiscountAmount:
    discount: str
    amount: int


@dataclass(frozen=True)
class TaxAmount:
    tax_rate: str
    inclusive: bool
    amount: int
    taxable_amount: int


@dataclass(frozen=True)
class LineAmounts:
    amount: int
    discount_amounts: tuple[DiscountAmount, ...]
    """The line's own discounts, then its shares of the invoice's."""
    taxes: tuple[TaxAmount, ...]

    @property
    def discounted(self) -> int:
        return self.amount - sum(d.amount for d in self.discount_amounts)


@dataclass(frozen=True)
class InvoiceAmounts:
    lines: tuple[LineAmounts, ...]
    subtotal: int
    subtotal_excluding_tax: int
    total_discount_amounts: tuple[DiscountAmount, ...]
    """Per discount, summed over the lines, in the order the discounts first appear."""
    total_taxes: tuple[TaxAmount, ...]
    """Per tax rate, summed over the lines, in the order the rates first appear."""
    total_excluding_tax: int
    total: int

    @property
    def discount_total(self) -> int:
        return sum(d.amount for d in self.total_discount_amounts)

    @property
    def exclusive_tax_total(self) -> int:
        return sum(t.amount for t in self.total_taxes if not t.inclusive)

    @property
    def inclusive_tax_total(self) -> int:
        return sum(t.amount for t in self.total_taxes if t.inclusive)


@dataclass(frozen=True)
class BalanceApplied:
    """An invoice's total settled against its customer's balance (negative: credit the
    customer holds; positive: what the customer owes from before)."""

    starting_balance: int
    ending_balance: int
    amount_due: int


def invoice_amounts(
    lines: Sequence[LineTerms], invoice_discounts: Sequence[DiscountTerms] = ()
) -> InvoiceAmounts:
    ensure(len(lines) <= LINES_MAX, f"an invoice has at most {LINES_MAX} lines")
    ensure(len(invoice_discounts) <= DISCOUNTS_MAX, f"at most {DISCOUNTS_MAX} discounts")
    taken = [list(_line_discounts(line)) for line in lines]
    for terms in invoice_discounts:
        _spread_invoice_discount(lines, taken, terms)
    computed = tuple(
        LineAmounts(
            amount=line.amount,
            discount_amounts=tuple(discounts),
            taxes=_line_taxes(line.amount - _sum(discounts), line.tax_rates),
        )
        for line, discounts in zip(lines, taken, strict=True)
    )
    return _totals(lines, computed)


def apply_customer_balance(total: int, balance: int) -> BalanceApplied:
    """What is due once the customer's balance is applied: a credit (negative balance)
    pays what it can and the rest stays credit; a debit (positive) is added. A negative
    total (a credit invoice) adds to the customer's credit."""
    combined = total + balance
    amount_due = max(combined, 0)
    ending = combined - amount_due
    ensure(amount_due >= 0 and ending <= 0, "nothing negative is due, no debit is left over")
    return BalanceApplied(starting_balance=balance, ending_balance=ending, amount_due=amount_due)


# --- discounts ------------------------------------------------------------------------------


def _discount_on(amount: int, terms: DiscountTerms) -> int:
    """What the discount takes off `amount`; off a credit (negative), a percentage takes
    the same share of it (negative) and an amount off nothing."""
    if amount < 0:
        return -_discount_on(-amount, terms) if terms.percent_off is not None else 0
    if terms.percent_off is not None:
        return adjustments.percent_discount(amount, terms.percent_off)
    ensure(terms.amount_off is not None, "a discount takes a percentage or an amount off")
    return adjustments.amount_off_discount(amount, int(terms.amount_off or 0))


def _takes_discounts(line: LineTerms) -> bool:
    return line.discountable and line.amount != 0


def _applies(line: LineTerms, terms: DiscountTerms) -> bool:
    """The line takes discounts and the discount is not restricted to other products."""
    if not _takes_discounts(line):
        return False
    return terms.products is None or (line.product is not None and line.product in terms.products)


def _line_discounts(line: LineTerms) -> list[DiscountAmount]:
    ensure(len(line.discounts) <= DISCOUNTS_MAX, f"a line has at most {DISCOUNTS_MAX} discounts")
    remaining = line.amount
    found = []
    for terms in line.discounts:
        if not _applies(line, terms):
            continue
        taken = _discount_on(remaining, terms)
        remaining -= taken
        found.append(DiscountAmount(terms.discount, taken))
    return found


def _spread_invoice_discount(
    lines: Sequence[LineTerms], taken: list[list[DiscountAmount]], terms: DiscountTerms
) -> None:
    """One invoice discount, taken from the net of the discountable lines it applies to,
    spread over them by what each still holds (a credit's share is negative)."""
    holding = [
        line.amount - _sum(discounts) if _applies(line, terms) else 0
        for line, discounts in zip(lines, taken, strict=True)
    ]
    net = sum(holding)
    discount = _discount_on(net, terms) if net > 0 else 0
    parts = adjustments.spread_signed(discount, holding) if discount else [0] * len(holding)
    for index, (line, part) in enumerate(zip(lines, parts, strict=True)):
        ensure(
            0 <= part <= holding[index] or holding[index] <= part <= 0,
            "a line's share of a discount is at most what it holds, and of its sign",
        )
        if _applies(line, terms):
            taken[index].append(DiscountAmount(terms.discount, part))


def _sum(discounts: Sequence[DiscountAmount]) -> int:
    return sum(d.amount for d in discounts)


# --- taxes ----------------------------------------------------------------------------------


def _line_taxes(taxable: int, rates: Sequence[TaxTerms]) -> tuple[TaxAmount, ...]:
    """The taxes of a line whose discounts left `taxable` (negative: a credit's taxes,
    mirrored from the same positive amount)."""
    ensure(len(rates) <= TAX_RATES_MAX, f"a line has at most {TAX_RATES_MAX} tax rates")
    sign = -1 if taxable < 0 else 1
    magnitude = abs(taxable)
    inclusive = [rate for rate in rates if rate.inclusive]
    inclusive_parts = _inclusive_parts(magnitude, inclusive)
    net = magnitude - sum(inclusive_parts)
    taxes: list[TaxAmount] = []
    inclusive_index = 0
    for rate in rates:
        if rate.inclusive:
            amount = inclusive_parts[inclusive_index]
            inclusive_index += 1
        else:
            amount = adjustments.exclusive_tax(net, rate.percentage)
        taxes.append(TaxAmount(rate.tax_rate, rate.inclusive, sign * amount, sign * net))
    return tuple(taxes)


def combined_percentage(rates: Sequence[TaxTerms]) -> Decimal:
    """The sum of the inclusive rates' percentages: what a gross amount's tax is taken at."""
    return sum((rate.percentage for rate in rates if rate.inclusive), Decimal(0))


def _inclusive_parts(gross: int, inclusive: Sequence[TaxTerms]) -> list[int]:
    """The tax inside `gross` for each inclusive rate: taken once at their combined
    percentage (the net is what is left after all of them), then spread by percentage."""
    if not inclusive:
        return []
    combined = combined_percentage(inclusive)
    tax = adjustments.inclusive_tax(gross, combined)
    if tax == 0:
        return [0] * len(inclusive)
    return adjustments.spread(tax, [rate.percentage for rate in inclusive])


def _inclusive_tax_of(amount: int, rates: Sequence[TaxTerms]) -> int:
    inclusive = [rate for rate in rates if rate.inclusive]
    sign = -1 if amount < 0 else 1
    return sign * sum(_inclusive_parts(abs(amount), inclusive))


# --- totals ---------------------------------------------------------------------------------


def _totals(lines: Sequence[LineTerms], computed: tuple[LineAmounts, ...]) -> InvoiceAmounts:
    discounts: dict[str, int] = {}
    taxes: dict[tuple[str, bool], tuple[int, int]] = {}
    for line in computed:
        for discount in line.discount_amounts:
            discounts[discount.discount] = discounts.get(discount.discount, 0) + discount.amount
        for tax in line.taxes:
            amount, taxable = taxes.get((tax.tax_rate, tax.inclusive), (0, 0))
            taxes[(tax.tax_rate, tax.inclusive)] = (
                amount + tax.amount,
                taxable + tax.taxable_amount,
            )
    subtotal = sum(line.amount for line in lines)
    discount_total = sum(discounts.values())
    inclusive = sum(amount for (_, incl), (amount, _) in taxes.items() if incl)
    exclusive = sum(amount for (_, incl), (amount, _) in taxes.items() if not incl)
    undiscounted_inclusive = sum(_inclusive_tax_of(line.amount, line.tax_rates) for line in lines)
    amounts = InvoiceAmounts(
        lines=computed,
        subtotal=subtotal,
        subtotal_excluding_tax=subtotal - undiscounted_inclusive,
        total_discount_amounts=tuple(DiscountAmount(d, a) for d, a in discounts.items()),
        total_taxes=tuple(
            TaxAmount(rate, incl, amount, taxable)
            for (rate, incl), (amount, taxable) in taxes.items()
        ),
        total_excluding_tax=subtotal - discount_total - inclusive,
        total=subtotal - discount_total + exclusive,
    )
    ensure(
        amounts.total == amounts.subtotal - amounts.discount_total + amounts.exclusive_tax_total,
        "total = subtotal - discounts + exclusive taxes",
    )
    return amounts
