"""What the dashboard's invoices pages show, and the actions they offer (finalize, send, void,
mark uncollectible, and void one of its credit notes) carried out through the same operations
as the API.

Reads go through the invoice services (`list_invoices`, `retrieve_invoice`, `list_lines`,
`list_invoice_payments`, `list_credit_notes` by invoice, the mailbox's `list_emails`), so a
page shows exactly what the API answers; the labels a page adds (product names, customer
emails) come from one lookup by the page's ids. Every read is bounded: one page of invoices or
lines, and at most a named number of payments, credit notes, events and emails.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from kassa import money
from kassa.dashboard.views.list_filters import (
    StatusCustomerFilters,
    parse_status_customer_filters,
)
from kassa.errors import ResourceMissing
from kassa.services import mail
from kassa.services.billing import credit_notes, invoice_payments, invoice_transitions, invoices
from kassa.services.billing.credit_note_params import ListNotes
from kassa.services.billing.invoice_params import STATUSES, FinalizeInvoice, ListInvoices
from kassa.services.context import Context
from kassa.services.listing import could_be_object_id
from kassa.services.resource import ApiObject
from kassa.store.tables import CUSTOMERS, PRODUCTS

STATUS_CHOICES: Final = STATUSES
"""The status filter's choices, as the API names them."""
LINES_PAGE_SIZE: Final = 25
"""Lines shown at once on an invoice's page; more are paged with `lines_after`."""
PAYMENTS_SHOWN_MAX: Final = 10
EVENTS_SHOWN_MAX: Final = 25
EMAILS_SHOWN_MAX: Final = 25
CREDIT_NOTES_SHOWN_MAX: Final = 25
"""Credit notes shown on an invoice's page, newest first (an invoice takes up to 100)."""


# -- the invoices list ----------------------------------------------------------------------


InvoiceFilters = StatusCustomerFilters


def parse_filters(status: str, customer: str, starting_after: str) -> InvoiceFilters:
    return parse_status_customer_filters(
        status,
        customer,
        starting_after,
        statuses=STATUS_CHOICES,
        unknown_status="Unknown status filter ignored; showing every status.",
    )


@dataclass(frozen=True)
class InvoiceList:
    invoices: list[ApiObject]
    next_cursor: str
    """The last row's id when older invoices exist, else ''."""
    filters: InvoiceFilters


async def invoice_list(ctx: Context, filters: InvoiceFilters, limit: int) -> InvoiceList:
    problems = list(filters.problems)
    if filters.customer and not await _customer_exists(ctx, filters.customer):
        # Not echoed: the id may be another account's, and this page never names those.
        problems.append("No customer with that id in this account.")
        unknown = dataclasses.replace(filters, customer="", problems=problems)
        return InvoiceList([], "", unknown)
    request = ListInvoices(
        limit=limit,
        status=filters.status or None,
        customer=filters.customer or None,
        starting_after=filters.starting_after or None,
    )
    try:
        listed = await invoices.list_invoices(ctx, request)
    except ResourceMissing:  # the cursor: an invoice since deleted, or not this account's
        problems.append("That page is no longer available; showing the newest invoices.")
        listed = await invoices.list_invoices(
            ctx, dataclasses.replace(request, starting_after=None)
        )
    shown = dataclasses.replace(filters, problems=problems)
    data: list[ApiObject] = listed["data"]
    next_cursor = str(data[-1]["id"]) if listed["has_more"] and data else ""
    return InvoiceList(data, next_cursor, shown)


async def _customer_exists(ctx: Context, customer_id: str) -> bool:
    return await ctx.tx.get_object(CUSTOMERS, ctx.account_id, customer_id, lock=False) is not None


def customer_label(invoice: Mapping[str, Any]) -> str:
    """Who an invoice bills, as the invoice copied it: name, else email, else the id."""
    return str(invoice.get("customer_name") or invoice.get("customer_email") or invoice["customer"])


# -- one invoice ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Amounts:
    """The invoice's totals as the page lists them (minor units)."""

    subtotal: int
    discounts: int
    exclusive_tax: int
    inclusive_tax: int
    total: int
    credit_notes_before_payment: int
    """What credit notes took off what is due (their `pre_payment_amount`, void ones not)."""
    credit_notes_after_payment: int
    """What credit notes gave back of what was paid (refunded, credited or out of band)."""
    balance_applied: int
    """What the customer's balance took off (positive) or added to (negative) the total."""
    amount_due: int
    amount_paid: int
    amount_remaining: int


@dataclass(frozen=True)
class LinePage:
    lines: list[ApiObject]
    next_cursor: str
    """The last line's id when more lines follow, else ''."""
    paged: bool
    """Whether this is a later page (a link back to the first is shown)."""
    problem: str = ""


@dataclass(frozen=True)
class InvoiceDetail:
    invoice: ApiObject
    amounts: Amounts
    lines: LinePage
    product_names: dict[str, str]
    payments: list[ApiObject]
    credit_notes: list[ApiObject]
    more_credit_notes: bool
    """Whether the invoice has more credit notes than those shown."""
    events: list[ApiObject]
    emails: list[ApiObject]
    can_finalize: bool
    can_send: bool
    can_void: bool
    can_mark_uncollectible: bool


async def invoice_detail(ctx: Context, invoice_id: str, lines_after: str) -> InvoiceDetail:
    invoice = await _live_invoice(ctx, invoice_id)
    lines = await _line_page(ctx, invoice["id"], lines_after)
    payments = await _payments(ctx, invoice["id"])
    notes = await _credit_notes(ctx, invoice["id"])
    about = [invoice["id"], *(p["id"] for p in payments), *(n["id"] for n in notes["data"])]
    status, collection = invoice["status"], invoice["collection_method"]
    return InvoiceDetail(
        invoice=invoice,
        amounts=amounts_of(invoice),
        lines=lines,
        product_names=await _product_names(ctx, lines.lines),
        payments=payments,
        credit_notes=notes["data"],
        more_credit_notes=bool(notes["has_more"]),
        events=await ctx.tx.events_about(ctx.account_id, about, EVENTS_SHOWN_MAX),
        emails=await _emails(ctx, invoice["id"]),
        can_finalize=status == "draft",
        can_send=status == "open" and collection == "send_invoice",
        can_void=status in invoice_transitions.VOIDABLE_STATUSES,
        can_mark_uncollectible=status == "open",
    )


async def _live_invoice(ctx: Context, invoice_id: str) -> ApiObject:
    """The invoice as the API shows it; a deleted draft is missing (it has nothing to show)."""
    if not could_be_object_id(invoice_id):
        raise ResourceMissing("invoice", invoice_id)
    invoice = await invoices.retrieve_invoice(ctx, invoice_id)
    if invoice.get("deleted"):
        raise ResourceMissing("invoice", invoice_id)
    return invoice


def amounts_of(invoice: Mapping[str, Any]) -> Amounts:
    taxes: Sequence[Mapping[str, Any]] = invoice["total_taxes"] or []
    pre_payment = int(invoice.get("pre_payment_credit_notes_amount") or 0)
    return Amounts(
        subtotal=int(invoice["subtotal"]),
        discounts=sum(int(d["amount"]) for d in invoice["total_discount_amounts"] or []),
        exclusive_tax=sum(int(t["amount"]) for t in taxes if t["tax_behavior"] == "exclusive"),
        inclusive_tax=sum(int(t["amount"]) for t in taxes if t["tax_behavior"] == "inclusive"),
        total=int(invoice["total"]),
        credit_notes_before_payment=pre_payment,
        credit_notes_after_payment=int(invoice.get("post_payment_credit_notes_amount") or 0),
        balance_applied=int(invoice["total"]) - pre_payment - int(invoice["amount_due"]),
        amount_due=int(invoice["amount_due"]),
        amount_paid=int(invoice["amount_paid"]),
        amount_remaining=int(invoice["amount_remaining"]),
    )


async def _line_page(ctx: Context, invoice_id: str, lines_after: str) -> LinePage:
    """One page of the invoice's lines, in its order, after the line `lines_after` names
    (the first page when it names none, with a message when it names one not there)."""
    request = invoices.ListLines(invoice=invoice_id, limit=LINES_PAGE_SIZE)
    listed = None
    if lines_after and could_be_object_id(lines_after):
        try:
            listed = await invoices.list_lines(
                ctx, dataclasses.replace(request, starting_after=lines_after)
            )
        except ResourceMissing:
            listed = None
    problem = ""
    if listed is None:
        if lines_after:
            problem = "Those lines are not on this invoice; showing the first lines."
        listed = await invoices.list_lines(ctx, request)
    data: list[ApiObject] = listed["data"]
    next_cursor = str(data[-1]["id"]) if listed["has_more"] and data else ""
    return LinePage(data, next_cursor, paged=bool(lines_after) and not problem, problem=problem)


async def _payments(ctx: Context, invoice_id: str) -> list[ApiObject]:
    listed = await invoice_payments.list_invoice_payments(
        ctx, invoice_payments.ListInvoicePayments(invoice=invoice_id, limit=PAYMENTS_SHOWN_MAX)
    )
    data: list[ApiObject] = listed["data"]
    return data


async def _credit_notes(ctx: Context, invoice_id: str) -> ApiObject:
    """The invoice's newest credit notes, void ones too, as `GET /v1/credit_notes?invoice=`
    lists them."""
    request = ListNotes(invoice=invoice_id, limit=CREDIT_NOTES_SHOWN_MAX)
    return await credit_notes.list_credit_notes(ctx, request)


async def _emails(ctx: Context, invoice_id: str) -> list[ApiObject]:
    """The emails queued for the invoice (sent, captured or still waiting), newest first."""
    form = {"invoice": invoice_id, "limit": str(EMAILS_SHOWN_MAX)}
    listed = await mail.list_emails(ctx, mail.parse_list_emails((), form))
    data: list[ApiObject] = listed["data"]
    return data


async def _product_names(ctx: Context, lines: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """product id -> name for the products the lines are priced by, in one lookup."""
    ids = list(dict.fromkeys(p for p in (line_product(line) for line in lines) if p))
    found = await ctx.tx.objects_by_ids(PRODUCTS, ctx.account_id, ids)
    return {product_id: str(doc.get("name") or product_id) for product_id, doc in found.items()}


def line_product(line: Mapping[str, Any]) -> str:
    """The product a line is priced by, or '' for a line with an amount of its own."""
    details = (line.get("pricing") or {}).get("price_details") or {}
    return str(details.get("product") or "")


def line_price(line: Mapping[str, Any]) -> str:
    details = (line.get("pricing") or {}).get("price_details") or {}
    return str(details.get("price") or "")


def line_taxes(line: Mapping[str, Any]) -> int:
    return sum(int(t["amount"]) for t in line.get("taxes") or [])


def line_discounts(line: Mapping[str, Any]) -> int:
    return sum(int(d["amount"]) for d in line.get("discount_amounts") or [])


def unit_amount_text(decimal_text: str | None, currency: str) -> str:
    """A `*_decimal` amount of minor units as a person reads it: `$15.00`, or, with a
    fraction of a minor unit (which `format_amount` cannot show), `0.125 USD`."""
    if decimal_text is None:
        return ""
    value = Decimal(decimal_text)
    if value == value.to_integral_value():
        return money.format_amount(int(value), currency)
    major = value.scaleb(-money.exponent(currency)).normalize()
    return f"{major:f} {currency.upper()}"


# -- actions --------------------------------------------------------------------------------


async def finalize(ctx: Context, invoice_id: str) -> ApiObject:
    return await invoices.finalize_invoice(ctx, FinalizeInvoice(invoice=invoice_id))


async def send(ctx: Context, invoice_id: str) -> ApiObject:
    return await invoices.send_invoice(ctx, invoice_id)


async def void(ctx: Context, invoice_id: str) -> ApiObject:
    return await invoices.void_invoice(ctx, invoice_id)


async def mark_uncollectible(ctx: Context, invoice_id: str) -> ApiObject:
    return await invoices.mark_uncollectible(ctx, invoice_id)


async def void_credit_note(ctx: Context, invoice_id: str, note_id: str) -> ApiObject:
    """Void the credit note, as `POST /v1/credit_notes/{id}/void` does; one not on this
    invoice (the page's form names both) is missing."""
    note = await credit_notes.retrieve_credit_note(ctx, note_id)
    if note["invoice"] != invoice_id:
        raise ResourceMissing("credit_note", note_id)
    return await credit_notes.void_credit_note(ctx, note_id)
