"""An invoice as its customer reads it: every amount, date and label formatted for one locale.

The PDF (`invoice_pdf`) and the hosted page (`invoice_page`) both render this view, so the two
always say the same thing. Its input is the invoice exactly as the API returns it (API version
2026-10-28.endive: `total_taxes`, `total_discount_amounts`, lines with `pricing` and `taxes`),
with its customer and account, and the tax rates and discounts its ids point to, which name
the tax and discount rows.

Amounts are integer minor units; `money_text` is the one place they become text: the exponent
from `kassa.money` (Stripe's, which is not always CLDR's), then babel's pattern for the locale,
never rounding away a minor unit. Dates are the account's calendar days (its dashboard time
zone), as on Stripe's invoices.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal, format_percent

from kassa import money
from kassa.invariants import ensure
from kassa.services import accounts
from kassa.services.billing.rendering.invoice_text import InvoiceText, text_for

DEFAULT_LOCALE: Final = "en"
LOCALE_CHARS_MAX: Final = 35
"""BCP 47 tags Stripe takes in `preferred_locales` are short; longer input is not a locale."""

INVOICE_LINES_MAX: Final = 2_000
"""Lines one invoice document may show: Stripe caps invoice items at 250 per invoice, and a
subscription adds a line per item; far more is a bug upstream, not a bigger PDF."""

PAYABLE_STATUSES: Final = frozenset({"open", "uncollectible"})
"""Stripe still takes payment for an invoice marked uncollectible."""

US_STYLE_ADDRESS_COUNTRIES: Final = frozenset({"US", "CA", "AU"})
"""Countries that write "City, State Postcode" on one line; elsewhere "Postcode City"."""

LETTER_PAPER_COUNTRIES: Final = frozenset({"US", "CA", "MX", "PH", "CL", "CO"})
"""Where `rendering.pdf.page_size = auto` means US Letter rather than A4."""

UTC: Final = ZoneInfo("Etc/UTC")
PERIOD_DASH: Final = "\u2013"


@dataclass(frozen=True)
class InvoiceDocument:
    """Everything an invoice's page and PDF show."""

    invoice: Mapping[str, Any]
    customer: Mapping[str, Any]
    account: Mapping[str, Any]
    lines: Sequence[Mapping[str, Any]] | None = None
    """Every line; None means the invoice's embedded `lines.data` (only its first page when
    `lines.has_more`)."""
    tax_rates: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Tax rate id -> tax rate, for the name and percentage of each tax row."""
    discounts: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Discount id -> discount, with `source.coupon` expanded to the coupon to name it."""


@dataclass(frozen=True)
class LineView:
    description: str
    period: str
    quantity: str
    unit_price: str
    amount: str


@dataclass(frozen=True)
class SummaryRow:
    label: str
    amount: str
    emphasis: bool = False


@dataclass(frozen=True)
class PaperView:
    """What the PDF layout (`invoice_pdf`) draws, for an invoice (`InvoiceView`) or a credit
    note (`credit_note_view`)."""

    locale: str
    text: InvoiceText
    title: str
    """`Invoice`, `Credit note`, in the locale's words."""
    number: str
    status: str
    account_name: str
    seller: tuple[str, ...]
    bill_to: tuple[str, ...]
    facts: tuple[tuple[str, str], ...]
    """(label, value): the number, the dates, what the document refers to."""
    headline: str
    notice: str
    """Why no payment is due (void), or a caveat (uncollectible); empty otherwise."""
    description: str
    custom_fields: tuple[tuple[str, str], ...]
    lines: tuple[LineView, ...]
    summary: tuple[SummaryRow, ...]
    footer: str
    paper: str
    """`A4` or `Letter`."""
    issued_at: int
    """Unix seconds the document was issued: the PDF's creation date, so that the same
    document always renders to the same bytes."""
    stamp: str
    """Drawn large across every page, behind the text (a void credit note's `VOID`); empty
    for none (an invoice's status is its headline)."""


@dataclass(frozen=True)
class InvoiceView(PaperView):
    """The invoice on paper, and what its hosted page adds."""

    language: str
    invoice_id: str
    payable: bool
    pay_label: str


# --- locale, amounts, dates ------------------------------------------------------------


def parse_locale(tag: object) -> Locale | None:
    if not isinstance(tag, str) or not 0 < len(tag) <= LOCALE_CHARS_MAX:
        return None
    try:
        return Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return None


def resolve_locale(requested: str | None, customer: Mapping[str, Any]) -> str:
    """The locale to render in: `requested` when babel knows it, else the customer's first
    known `preferred_locales` entry, else English."""
    candidates = [requested, *(customer.get("preferred_locales") or ())]
    for tag in candidates:
        parsed = parse_locale(tag)
        if parsed is not None:
            return str(parsed)
    return DEFAULT_LOCALE


def money_text(amount: int, currency: str, locale: str) -> str:
    """Integer minor units as the locale writes the amount: 123456 eur is `1.234,56 €` in de."""
    return decimal_money_text(Decimal(amount), currency, locale)


def decimal_money_text(minor_units: Decimal, currency: str, locale: str) -> str:
    """Minor units that may have a fraction (`unit_amount_decimal`), shown in full."""
    value = minor_units.scaleb(-money.exponent(currency))
    # No quantization: a fraction of a minor unit (or a minor unit babel's CLDR digits
    # would drop, as for ISK) is shown, never rounded away.
    return format_currency(value, currency.upper(), locale=locale, decimal_quantization=False)


def account_zone(account: Mapping[str, Any]) -> ZoneInfo:
    name = ((account.get("settings") or {}).get("dashboard") or {}).get("timezone")
    if not isinstance(name, str) or not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def date_text(unix_seconds: int, zone: ZoneInfo, locale: str, style: str = "long") -> str:
    day = datetime.datetime.fromtimestamp(unix_seconds, zone).date()
    return format_date(day, format=style, locale=locale)


def _percent_text(percentage: object, locale: str) -> str:
    try:
        fraction = Decimal(str(percentage)).normalize() / 100
    except (InvalidOperation, ValueError):
        return ""
    return format_percent(fraction, locale=locale, decimal_quantization=False)


def quantity_text(line: Mapping[str, Any], locale: str) -> str:
    raw = line.get("quantity_decimal") or line.get("quantity")
    if raw is None:
        return ""
    try:
        return format_decimal(Decimal(str(raw)).normalize(), locale=locale)
    except InvalidOperation:
        return ""


# --- the parts of the view ---------------------------------------------------------------


@dataclass(frozen=True)
class Formats:
    """What every part needs to format: the locale, its words, the currency and zone."""

    locale: str
    language: str
    text: InvoiceText
    currency: str
    zone: ZoneInfo

    def money(self, amount: int) -> str:
        return money_text(amount, self.currency, self.locale)

    def date(self, unix_seconds: int, style: str = "long") -> str:
        return date_text(unix_seconds, self.zone, self.locale, style)


def account_name(invoice: Mapping[str, Any], account: Mapping[str, Any]) -> str:
    stored = invoice.get("account_name")
    if isinstance(stored, str) and stored:
        return stored
    return accounts.public_name(account) or str(account.get("id", ""))


def _country_name(code: object, locale: str) -> str:
    if not isinstance(code, str) or not code:
        return ""
    parsed = parse_locale(locale)
    names = parsed.territories if parsed is not None else {}
    return str(names.get(code.upper(), code.upper()))


def address_lines(address: Mapping[str, Any] | None, locale: str) -> tuple[str, ...]:
    if not address:
        return ()
    country = str(address.get("country") or "").upper()
    city, state, postcode = (address.get(key) or "" for key in ("city", "state", "postal_code"))
    if country in US_STYLE_ADDRESS_COUNTRIES:
        locality = ", ".join(part for part in (city, f"{state} {postcode}".strip()) if part)
        places = [locality]
    else:
        places = [f"{postcode} {city}".strip(), state]
    lines = [address.get("line1") or "", address.get("line2") or "", *places]
    lines.append(_country_name(country, locale))
    return tuple(line for line in lines if line)


def bill_to_lines(document: InvoiceDocument, locale: str) -> tuple[str, ...]:
    """The invoice's own copy of the customer's details (Stripe fixes them at finalization),
    falling back to the customer's current ones for a draft."""
    invoice, customer = document.invoice, document.customer
    name = invoice.get("customer_name") or customer.get("name") or ""
    email = invoice.get("customer_email") or customer.get("email") or ""
    address = invoice.get("customer_address") or customer.get("address")
    if not any((address or {}).values()):
        address = customer.get("address")
    parts = (name, email, *address_lines(address, locale), *_tax_id_lines(invoice))
    return tuple(part for part in parts if part)


def _tax_id_lines(invoice: Mapping[str, Any]) -> tuple[str, ...]:
    """The customer's tax ids as Stripe's invoice prints them under the address: the type
    as a label (`eu_vat` -> `EU VAT`), then the value."""
    entries = invoice.get("customer_tax_ids") or ()
    return tuple(
        f"{str(entry['type']).replace('_', ' ').upper()} {entry['value']}" for entry in entries
    )


def seller_lines(document: InvoiceDocument, locale: str) -> tuple[str, ...]:
    profile = document.account.get("business_profile") or {}
    country = document.invoice.get("account_country") or document.account.get("country")
    parts = (
        account_name(document.invoice, document.account),
        profile.get("support_email") or "",
        profile.get("support_phone") or "",
        _country_name(country, locale),
    )
    return tuple(part for part in parts if part)


def issued_at(invoice: Mapping[str, Any]) -> int:
    transitions = invoice.get("status_transitions") or {}
    for when in (transitions.get("finalized_at"), invoice.get("effective_at")):
        if isinstance(when, int):
            return when
    created: int = invoice["created"]
    return created


def _facts(invoice: Mapping[str, Any], formats: Formats) -> tuple[tuple[str, str], ...]:
    text = formats.text
    facts = [
        (text.invoice_number, invoice.get("number") or ""),
        (text.date_of_issue, formats.date(issued_at(invoice))),
    ]
    if isinstance(invoice.get("due_date"), int):
        facts.append((text.date_due, formats.date(invoice["due_date"])))
    paid_at = (invoice.get("status_transitions") or {}).get("paid_at")
    if invoice.get("status") == "paid" and isinstance(paid_at, int):
        facts.append((text.date_paid, formats.date(paid_at)))
    return tuple((label, value) for label, value in facts if value)


def _headline(invoice: Mapping[str, Any], formats: Formats) -> str:
    text, status = formats.text, invoice.get("status")
    transitions = invoice.get("status_transitions") or {}
    if status == "paid":
        paid_at = transitions.get("paid_at")
        return text.paid_on.format(date=formats.date(paid_at)) if paid_at else text.paid
    if status == "void":
        return text.void
    owed = formats.money(invoice["amount_remaining"])
    if isinstance(invoice.get("due_date"), int):
        return text.due_on.format(amount=owed, date=formats.date(invoice["due_date"]))
    return text.due_now.format(amount=owed)


def _notice(invoice: Mapping[str, Any], formats: Formats) -> str:
    transitions = invoice.get("status_transitions") or {}
    status = invoice.get("status")
    if status == "void" and transitions.get("voided_at"):
        return formats.text.voided_on.format(date=formats.date(transitions["voided_at"]))
    if status == "uncollectible" and transitions.get("marked_uncollectible_at"):
        when = formats.date(transitions["marked_uncollectible_at"])
        return formats.text.uncollectible_on.format(date=when)
    return ""


def _period(line: Mapping[str, Any], formats: Formats) -> str:
    period = line.get("period") or {}
    start, end = period.get("start"), period.get("end")
    if not isinstance(start, int) or not isinstance(end, int):
        return ""
    first, last = formats.date(start, "medium"), formats.date(end, "medium")
    return "" if first == last else f"{first} {PERIOD_DASH} {last}"


def _unit_price(line: Mapping[str, Any], formats: Formats) -> str:
    return unit_price_text((line.get("pricing") or {}).get("unit_amount_decimal"), formats)


def unit_price_text(raw: object, formats: Formats) -> str:
    """A unit amount in minor units, which may have a fraction, shown in full; empty for
    none."""
    if raw is None:
        return ""
    try:
        minor_units = Decimal(str(raw))
    except InvalidOperation:
        return ""
    return decimal_money_text(minor_units, formats.currency, formats.locale)


def _line_view(line: Mapping[str, Any], formats: Formats) -> LineView:
    return LineView(
        description=str(line.get("description") or ""),
        period=_period(line, formats),
        quantity=quantity_text(line, formats.locale),
        unit_price=_unit_price(line, formats),
        amount=formats.money(line["amount"]),
    )


def _discount_label(discount: object, document: InvoiceDocument, formats: Formats) -> str:
    found = discount if isinstance(discount, Mapping) else document.discounts.get(str(discount))
    coupon = ((found or {}).get("source") or {}).get("coupon")
    if not isinstance(coupon, Mapping):
        return formats.text.discount
    name = coupon.get("name") or formats.text.discount
    if coupon.get("percent_off") is not None:
        return f"{name} ({_percent_text(coupon['percent_off'], formats.locale)})"
    if coupon.get("amount_off") is not None and coupon.get("currency"):
        off = money_text(coupon["amount_off"], coupon["currency"], formats.locale)
        return f"{name} ({off})"
    return str(name)


def _id_of(discount: object) -> str:
    return str(discount.get("id") if isinstance(discount, Mapping) else discount)


def _line_own_discounts(document: InvoiceDocument) -> dict[str, int]:
    """Per discount, what lines took of it as their own (a line's `discount_amounts` entry
    for a discount its `discounts` names): Stripe's `subtotal` is already net of these."""
    own: dict[str, int] = {}
    for line in document_lines(document):
        named = {_id_of(discount) for discount in line.get("discounts") or ()}
        for entry in line.get("discount_amounts") or ():
            discount = _id_of(entry.get("discount"))
            if discount in named:
                own[discount] = own.get(discount, 0) + int(entry["amount"])
    return own


def _discount_rows(
    document: InvoiceDocument, formats: Formats
) -> tuple[list[SummaryRow], list[SummaryRow]]:
    """The lines' own discounts (above the subtotal, which they are already out of) and the
    invoice-level ones (below it), so each column of the summary adds up; a discount a line
    named and the invoice spread over the other lines shows in both."""
    own = _line_own_discounts(document)
    above, below = [], []
    for entry in document.invoice.get("total_discount_amounts") or ():
        discount = entry.get("discount")
        label = _discount_label(discount, document, formats)
        taken_by_lines = own.get(_id_of(discount), 0)
        if taken_by_lines:
            above.append(SummaryRow(label, formats.money(-taken_by_lines)))
        if entry["amount"] - taken_by_lines:
            below.append(SummaryRow(label, formats.money(taken_by_lines - entry["amount"])))
    return above, below


@dataclass
class TaxGroup:
    rate_id: str
    behavior: str
    amount: int = 0
    taxable: int = 0


def tax_groups(invoice: Mapping[str, Any]) -> list[TaxGroup]:
    """`total_taxes` summed per tax rate and behaviour, in order of first appearance."""
    groups: dict[tuple[str, str], TaxGroup] = {}
    for tax in invoice.get("total_taxes") or ():
        rate_id = str((tax.get("tax_rate_details") or {}).get("tax_rate") or "")
        behavior = str(tax.get("tax_behavior") or "exclusive")
        group = groups.setdefault((rate_id, behavior), TaxGroup(rate_id, behavior))
        group.amount += tax["amount"]
        group.taxable += tax.get("taxable_amount") or 0
    return list(groups.values())


def tax_label(group: TaxGroup, document: InvoiceDocument, formats: Formats) -> str:
    rate = document.tax_rates.get(group.rate_id)
    if rate is None:
        return formats.text.tax
    name = rate.get("display_name") or formats.text.tax
    percent = _percent_text(rate.get("percentage"), formats.locale)
    if group.behavior == "inclusive":
        return formats.text.tax_included.format(name=name, percent=percent)
    taxable = formats.money(group.taxable)
    return formats.text.tax_on.format(name=name, percent=percent, amount=taxable)


def _summary(document: InvoiceDocument, formats: Formats) -> tuple[SummaryRow, ...]:
    invoice, text = document.invoice, formats.text
    taxes = tax_groups(invoice)
    line_discounts, invoice_discounts = _discount_rows(document, formats)
    rows = [*line_discounts, SummaryRow(text.subtotal, formats.money(invoice["subtotal"]))]
    rows += invoice_discounts
    if taxes:
        excluding = invoice.get("total_excluding_tax")
        if excluding is not None:
            rows.append(SummaryRow(text.total_excluding_tax, formats.money(excluding)))
        rows += [
            SummaryRow(tax_label(group, document, formats), formats.money(group.amount))
            for group in taxes
        ]
    rows.append(SummaryRow(text.total, formats.money(invoice["total"]), emphasis=True))
    if invoice.get("starting_balance"):
        rows.append(SummaryRow(text.applied_balance, formats.money(invoice["starting_balance"])))
    rows += [
        SummaryRow(text.amount_due, formats.money(invoice["amount_due"]), emphasis=True),
        SummaryRow(text.amount_paid, formats.money(invoice["amount_paid"])),
        SummaryRow(text.amount_remaining, formats.money(invoice["amount_remaining"])),
    ]
    return tuple(rows)


def _custom_fields(invoice: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(
        (str(entry.get("name") or ""), str(entry.get("value") or ""))
        for entry in invoice.get("custom_fields") or ()
    )


def paper_for(invoice: Mapping[str, Any], account: Mapping[str, Any]) -> str:
    size = ((invoice.get("rendering") or {}).get("pdf") or {}).get("page_size")
    if size == "letter":
        return "Letter"
    if size == "a4":
        return "A4"
    country = str(invoice.get("account_country") or account.get("country") or "").upper()
    return "Letter" if country in LETTER_PAPER_COUNTRIES else "A4"


def document_lines(document: InvoiceDocument) -> Sequence[Mapping[str, Any]]:
    lines = document.lines
    if lines is None:
        lines = (document.invoice.get("lines") or {}).get("data") or ()
    ensure(
        len(lines) <= INVOICE_LINES_MAX,
        f"invoice {document.invoice.get('id')} has {len(lines)} lines, more than "
        f"{INVOICE_LINES_MAX}",
    )
    return lines


def formats_for(locale: str, currency: str, account: Mapping[str, Any]) -> Formats:
    """How to write `currency` amounts and the account's dates for `locale` (a babel locale
    name; see `resolve_locale`; an unknown one is English)."""
    parsed = parse_locale(locale) or Locale.parse(DEFAULT_LOCALE)
    return Formats(
        str(parsed), parsed.language, text_for(parsed.language), currency, account_zone(account)
    )


def build_view(document: InvoiceDocument, locale: str) -> InvoiceView:
    """The invoice, formatted for `locale` (a babel locale name; see `resolve_locale`)."""
    invoice = document.invoice
    formats = formats_for(locale, str(invoice["currency"]), document.account)
    locale, text = formats.locale, formats.text
    status = str(invoice.get("status") or "draft")
    payable = status in PAYABLE_STATUSES and invoice["amount_remaining"] > 0
    return InvoiceView(
        locale=locale,
        language=formats.language,
        text=text,
        title=text.invoice,
        invoice_id=str(invoice["id"]),
        number=str(invoice.get("number") or ""),
        status=status,
        account_name=account_name(invoice, document.account),
        seller=seller_lines(document, locale),
        bill_to=bill_to_lines(document, locale),
        facts=_facts(invoice, formats),
        headline=_headline(invoice, formats),
        notice=_notice(invoice, formats),
        description=str(invoice.get("description") or ""),
        custom_fields=_custom_fields(invoice),
        lines=tuple(_line_view(line, formats) for line in document_lines(document)),
        summary=_summary(document, formats),
        footer=str(invoice.get("footer") or ""),
        payable=payable,
        pay_label=text.pay.format(amount=formats.money(invoice["amount_remaining"])),
        paper=paper_for(invoice, document.account),
        issued_at=issued_at(invoice),
        stamp="",
    )
