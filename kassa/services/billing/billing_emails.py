"""What the emails about an invoice share (`invoice_emails`: the invoice, receipts, failed
payments, reminders; `credit_note_emails`: a credit note): who an email is for, how its
values read in their locale, and how it is rendered and queued in the caller's transaction
(`kassa.services.mail`).

    reader = await reader_for(ctx, invoice, customer)     None: the customer has no address
    await queue_rendered(ctx, reader, kind, values, invoice, attachments)

The address is the invoice's `customer_email`, else the customer's `email`; the locale the
first of the customer's `preferred_locales` Babel knows (else English); dates the local
calendar day in the account's time zone (`settings.dashboard.timezone` of the account).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from zoneinfo import ZoneInfo

from babel import Locale

from kassa.services.billing import reminders
from kassa.services.context import Context
from kassa.services.mail import Attachment, EmailKind, OutgoingEmail, is_address, queue_email
from kassa.services.mail_rendering import (
    choose_locale,
    format_day,
    format_money,
    locale_tag,
    render_email,
)
from kassa.services.resource import ApiObject
from kassa.store.tables import CUSTOMERS

LINES_SHOWN_MAX: Final = 20
"""Lines listed in an email; the rest are counted ("and 3 more items")."""
DESCRIPTION_CHARS_MAX: Final = 200
PDF_CONTENT_TYPE: Final = "application/pdf"


@dataclass(frozen=True)
class Reader:
    """Who the email is for, and how to write for them."""

    to: str
    locale: Locale
    zone: ZoneInfo
    customer: Mapping[str, Any]


async def reader_for(
    ctx: Context, invoice: Mapping[str, Any], customer: Mapping[str, Any] | None
) -> Reader | None:
    """The reader of an email about `invoice`; None when there is no address to write to.
    `customer`: as the caller holds it (None: it is read)."""
    if customer is None:
        customer = await _load_customer(ctx, customer_id_of(invoice))
    to = invoice.get("customer_email") or customer.get("email")
    if not is_address(to):
        return None
    return Reader(
        to=str(to),
        locale=choose_locale(customer.get("preferred_locales")),
        zone=await account_time_zone(ctx),
        customer=customer,
    )


async def queue_rendered(
    ctx: Context,
    reader: Reader,
    kind: EmailKind,
    values: Mapping[str, Any],
    invoice: Mapping[str, Any],
    attachments: tuple[Attachment, ...],
) -> ApiObject:
    """Render `kind` with `values` in the reader's locale and queue it, as an email about
    `invoice` (its `invoice` and `customer`)."""
    rendered = render_email(kind.value, {**values, "has_pdf": bool(attachments)}, reader.locale)
    email = OutgoingEmail(
        kind=kind,
        to=reader.to,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        locale=locale_tag(reader.locale),
        customer=customer_id_of(invoice),
        invoice=str(invoice["id"]),
        attachments=attachments,
    )
    return await queue_email(ctx, email)


async def account_time_zone(ctx: Context) -> ZoneInfo:
    account = await ctx.tx.get_account(ctx.account_id)
    return reminders.account_zone(account or {})


def customer_id_of(invoice: Mapping[str, Any]) -> str | None:
    customer = invoice.get("customer")
    if isinstance(customer, Mapping):  # expanded
        customer = customer.get("id")
    return customer if isinstance(customer, str) else None


async def _load_customer(ctx: Context, customer_id: str | None) -> Mapping[str, Any]:
    if customer_id is None:
        return {}
    found = await ctx.tx.get_object(CUSTOMERS, ctx.account_id, customer_id, lock=False)
    return {} if found is None else found[0]


# --- values ---------------------------------------------------------------------------------


def pdf_filename(kind: str, number: object) -> str:
    """`Invoice-ABCD-0001.pdf`, `CreditNote-ABCD-0001-CN-01.pdf`: as the PDF link names it."""
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in str(number))
    return f"{kind}-{safe}.pdf"


def listed_lines(
    lines: Sequence[Mapping[str, Any]], currency: str, locale: Locale
) -> dict[str, Any]:
    """The `lines` and `more_lines` the templates' line list (`_lines.txt`) shows."""
    return {
        "lines": [
            {
                "description": one_line(line.get("description")) or "Item",
                "amount": format_money(int(line.get("amount") or 0), currency, locale),
            }
            for line in lines[:LINES_SHOWN_MAX]
        ],
        "more_lines": max(0, len(lines) - LINES_SHOWN_MAX),
    }


def lines_of(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The lines of an invoice or a credit note (`lines.data`)."""
    lines = document.get("lines")
    data = lines.get("data") if isinstance(lines, Mapping) else None
    if not isinstance(data, list):
        return []
    return [line for line in data if isinstance(line, Mapping)]


def day(instant: object, locale: Locale, zone: ZoneInfo) -> str:
    """The local calendar day of `instant` (Unix seconds) in `locale`; empty when not set."""
    if not isinstance(instant, int):
        return ""
    return format_day(reminders.local_day(instant, zone), locale)


def one_line(text: object) -> str:
    return " ".join(str(text).split())[:DESCRIPTION_CHARS_MAX] if text else ""
