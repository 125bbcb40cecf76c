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

One discount is one application of its coupon, wherever it is named. A line may name a
discount of the invoice (`discounts[][discount]` reusing an ancestor's, as Stripe allows): the
line then takes it as its own in step 1, and step 2 spreads that discount only over the
lines that did not take it, so no line takes one discount twice. An amount off is counted
once over the whole invoice: what lines took of it in step 1 (in line order) comes off what
step 2 may still spread, so a discount never takes more than its `amount_off` in total
(Stripe's `total_discount_amounts` are "the aggregate amounts calculated per discount").
3. Billing credits (Stripe's credit grants, applied at finalization only: `credit_grants`),
   after every discount and before taxes (Stripe's "pretax" credits): each grant, in the
   order given (Stripe's: priority, then expiry, ...), over the lines in its scope in line
   order, takes from each what is left of it (never below zero, never a credit line), up to
   what is left of the grant.
4. Taxes per line, on what the discounts and credits left (the taxable amount). Inclusive rates are
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

Totals, as Stripe defines them: `subtotal` is "before any invoice level discount or
exclusive tax is applied. Item discounts are already incorporated": the lines' amounts less
their own discounts (step 1). `total` = subtotal - invoice-level discounts (step 2) +
exclusive taxes - billing credits (= the lines' amounts - every discount - every credit +
exclusive taxes); `total_excluding_tax` = subtotal - invoice-level discounts - billing credits
- inclusive taxes; `subtotal` leaves billing credits out, as it does invoice-level discounts;
`subtotal_excluding_tax` = the lines' amounts less their own discounts, with the inclusive tax
each would carry on that (before invoice-level discounts) taken out. `total_discount_amounts`
sums every discount, the lines' own and the invoice's.
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
CREDITS_MAX = 100
"""The most credit grants one invoice draws on (`credit_grants.SPENDABLE_GRANTS_MAX` reads
no more): the loop over them is bounded by it."""


@dataclass(frozen=True)
class CreditTerms:
    """A billing credit grant as the arithmetic sees it: what is left of it to apply."""

    credit_grant: str
    available: int
    prices: frozenset[str] | None = None
    """The prices it applies to (`applicability_config[scope][prices]`); None: every line
    of a metered price (`scope[price_type]=metered`)."""


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
    price: str | None = None
    """The line's price; None for an amount-only line, which no billing credit reaches."""
    metered: bool = False
    """Whether that price is metered (has a Billing Meter): what `price_type=metered` reaches."""


@dataclass(frozen=True)
class DiscountAmount:
    discount: str
    amount: int


@dataclass(frozen=True)
class CreditAmount:
    credit_grant: str
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
    own_discount_count: int = 0
    """How many of `discount_amounts`, from the first, are the line's own (step 1)."""
    credit_amounts: tuple[CreditAmount, ...] = ()
    """The billing credits the line took (step 3), in the grants' order."""

    @property
    def discounted(self) -> int:
        return self.amount - _sum(self.discount_amounts)

    @property
    def credit_total(self) -> int:
        return sum(c.amount for c in self.credit_amounts)

    @property
    def taxable(self) -> int:
        """What the discounts and billing credits left: what the line's taxes are on."""
        return self.discounted - self.credit_total

    @property
    def item_discounted(self) -> int:
        """The amount less the line's own discounts: what the invoice's `subtotal` counts."""
        return self.amount - _sum(self.discount_amounts[: self.own_discount_count])


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
        """Every discount: the lines' own and the invoice's."""
        return sum(d.amount for d in self.total_discount_amounts)

    @property
    def invoice_discount_total(self) -> int:
        """The invoice-level discounts only (step 2): what `subtotal` still includes."""
        return invoice_level_discounts(self.lines)

    @property
    def credit_total(self) -> int:
        """Every billing credit the lines took (step 3)."""
        return sum(line.credit_total for line in self.lines)

    @property
    def exclusive_tax_total(self) -> int:
        return sum(t.amount for t in self.total_taxes if not t.inclusive)

    @property
    def inclusive_tax_total(self) -> int:
        return sum(t.amount for t in self.total_taxes if t.inclusive)


def invoice_level_discounts(lines: Sequence[LineAmounts]) -> int:
    """Of the lines' discounts, the invoice-level ones (step 2), which each line's own
    (`item_discounted`) leave out."""
    return sum(line.item_discounted - line.discounted for line in lines)


@dataclass(frozen=True)
class BalanceApplied:
    """An invoice's total settled against its customer's balance (negative: credit the
    customer holds; positive: what the customer owes from before)."""

    starting_balance: int
    ending_balance: int
    amount_due: int


def invoice_amounts(
    lines: Sequence[LineTerms],
    invoice_discounts: Sequence[DiscountTerms] = (),
    credits: Sequence[CreditTerms] = (),
) -> InvoiceAmounts:
    """`credits`: the billing credit grants to apply, in the order they apply (only a
    finalization passes any)."""
    ensure(len(lines) <= LINES_MAX, f"an invoice has at most {LINES_MAX} lines")
    ensure(len(invoice_discounts) <= DISCOUNTS_MAX, f"at most {DISCOUNTS_MAX} discounts")
    spent: dict[str, int] = {}
    taken = [_line_discounts(line, spent) for line in lines]
    own_counts = [len(discounts) for discounts in taken]
    for terms in invoice_discounts:
        _spread_invoice_discount(lines, taken, terms, spent)
    holding = [line.amount - _sum(d) for line, d in zip(lines, taken, strict=True)]
    credited = _apply_credits(lines, holding, credits)
    computed = tuple(
        LineAmounts(
            amount=line.amount,
            discount_amounts=tuple(discounts),
            taxes=_line_taxes(line.amount - _sum(discounts) - _credit_sum(took), line.tax_rates),
            own_discount_count=own,
            credit_amounts=tuple(took),
        )
        for line, discounts, own, took in zip(lines, taken, own_counts, credited, strict=True)
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


def _discount_on(amount: int, terms: DiscountTerms, spent: dict[str, int]) -> int:
    """What the discount takes off `amount`; off a credit (negative), a percentage takes
    the same share of it (negative) and an amount off nothing. An amount off takes at most
    what `spent` says is left of it on this invoice, and records what it takes."""
    if amount < 0:
        return -_discount_on(-amount, terms, spent) if terms.percent_off is not None else 0
    if terms.percent_off is not None:
        return adjustments.percent_discount(amount, terms.percent_off)
    ensure(terms.amount_off is not None, "a discount takes a percentage or an amount off")
    left = int(terms.amount_off or 0) - spent.get(terms.discount, 0)
    ensure(left >= 0, "an amount off is never taken beyond its amount")
    taken = adjustments.amount_off_discount(amount, left)
    spent[terms.discount] = spent.get(terms.discount, 0) + taken
    return taken


def _takes_discounts(line: LineTerms) -> bool:
    return line.discountable and line.amount != 0


def _applies(line: LineTerms, terms: DiscountTerms) -> bool:
    """The line takes discounts and the discount is not restricted to other products."""
    if not _takes_discounts(line):
        return False
    return terms.products is None or (line.product is not None and line.product in terms.products)


def _line_discounts(line: LineTerms, spent: dict[str, int]) -> list[DiscountAmount]:
    ensure(len(line.discounts) <= DISCOUNTS_MAX, f"a line has at most {DISCOUNTS_MAX} discounts")
    remaining = line.amount
    found: list[DiscountAmount] = []
    for terms in line.discounts:
        if not _applies(line, terms) or _took(found, terms):
            continue
        taken = _discount_on(remaining, terms, spent)
        remaining -= taken
        found.append(DiscountAmount(terms.discount, taken))
    return found


def _took(discounts: Sequence[DiscountAmount], terms: DiscountTerms) -> bool:
    return any(d.discount == terms.discount for d in discounts)


def _spread_invoice_discount(
    lines: Sequence[LineTerms],
    taken: list[list[DiscountAmount]],
    terms: DiscountTerms,
    spent: dict[str, int],
) -> None:
    """One invoice discount, taken from the net of the discountable lines it applies to,
    spread over them by what each still holds (a credit's share is negative). A line that
    already took this discount as its own is not among them: one discount, once a line."""
    reaches = [
        _applies(line, terms) and not _took(discounts, terms)
        for line, discounts in zip(lines, taken, strict=True)
    ]
    holding = [
        line.amount - _sum(discounts) if reached else 0
        for line, discounts, reached in zip(lines, taken, reaches, strict=True)
    ]
    net = sum(holding)
    discount = _discount_on(net, terms, spent) if net > 0 else 0
    parts = adjustments.spread_signed(discount, holding) if discount else [0] * len(holding)
    for index, (reached, part) in enumerate(zip(reaches, parts, strict=True)):
        ensure(
            0 <= part <= holding[index] or holding[index] <= part <= 0,
            "a line's share of a discount is at most what it holds, and of its sign",
        )
        if reached:
            taken[index].append(DiscountAmount(terms.discount, part))


def _sum(discounts: Sequence[DiscountAmount]) -> int:
    return sum(d.amount for d in discounts)


# --- billing credits ------------------------------------------------------------------------


def _credit_reaches(line: LineTerms, terms: CreditTerms) -> bool:
    """A grant scoped to prices reaches the lines of those prices; one scoped to
    `price_type=metered`, the lines of any metered price."""
    if line.price is None:
        return False
    return line.metered if terms.prices is None else line.price in terms.prices


def _apply_credits(
    lines: Sequence[LineTerms], holding: Sequence[int], credits: Sequence[CreditTerms]
) -> list[list[CreditAmount]]:
    """Each grant in turn over the lines it reaches, in line order: a line gives up what it
    still holds after discounts and the grants before (nothing when that is not above zero),
    up to what is left of the grant."""
    ensure(len(credits) <= CREDITS_MAX, f"an invoice draws on at most {CREDITS_MAX} grants")
    left_on_line = list(holding)
    took: list[list[CreditAmount]] = [[] for _ in lines]
    for terms in credits:
        ensure(terms.available >= 0, "a grant never has less than nothing left")
        left = terms.available
        for index, line in enumerate(lines):
            if left == 0:
                break
            if not _credit_reaches(line, terms) or left_on_line[index] <= 0:
                continue
            amount = min(left, left_on_line[index])
            left -= amount
            left_on_line[index] -= amount
            took[index].append(CreditAmount(terms.credit_grant, amount))
    return took


def _credit_sum(credits: Sequence[CreditAmount]) -> int:
    return sum(c.amount for c in credits)


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
    # Stripe's subtotal counts each line less its own discounts ("Item discounts are
    # already incorporated"); only the invoice-level ones come off it on the way to total.
    subtotal = sum(line.item_discounted for line in computed)
    inclusive = sum(amount for (_, incl), (amount, _) in taxes.items() if incl)
    exclusive = sum(amount for (_, incl), (amount, _) in taxes.items() if not incl)
    subtotal_inclusive = sum(
        _inclusive_tax_of(amounts.item_discounted, line.tax_rates)
        for line, amounts in zip(lines, computed, strict=True)
    )
    # Stripe's totals from its subtotal: the invoice-level discounts and billing credits
    # off, exclusive taxes on.
    credits = sum(line.credit_total for line in computed)
    invoice_discounted = subtotal - invoice_level_discounts(computed) - credits
    amounts = InvoiceAmounts(
        lines=computed,
        subtotal=subtotal,
        subtotal_excluding_tax=subtotal - subtotal_inclusive,
        total_discount_amounts=tuple(DiscountAmount(d, a) for d, a in discounts.items()),
        total_taxes=tuple(
            TaxAmount(rate, incl, amount, taxable)
            for (rate, incl), (amount, taxable) in taxes.items()
        ),
        total_excluding_tax=invoice_discounted - inclusive,
        total=invoice_discounted + exclusive,
    )
    ensure(
        amounts.total
        == sum(line.amount for line in lines)
        - amounts.discount_total
        - amounts.credit_total
        + amounts.exclusive_tax_total,
        "total = the lines' amounts - every discount - every credit + exclusive taxes",
    )
    return amounts
