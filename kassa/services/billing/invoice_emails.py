"""The emails an invoice sends its customer, rendered in the customer's locale and queued
in the caller's transaction (see `kassa.services.mail`):

    queue_invoice_email(ctx, invoice, customer, pdf=...)       finalized send_invoice invoice
    queue_receipt_email(ctx, invoice, customer, pdf=...)       paid invoice
    queue_payment_failed_email(ctx, invoice, customer, reason=...)
    queue_due_reminder(ctx, invoice, customer, offsets)        the reminder due now, if any

The first three return the queued `email` object, or None when the customer has no address;
`queue_due_reminder` returns a `ReminderCheck` (the reminder due, its email, the event type
to announce, when the next one is due). `invoice` and `customer` are the API objects as the caller
holds them (`customer` None: it is read). `pdf` is the PDF's bytes, or `pdf_of(invoice)`:
a reference stored with the email, the PDF rendered by the mail worker when it sends the
email, from the invoice as stored then (nothing is rendered in the caller's transaction).
Amounts are formatted from integer minor units in the customer's locale, dates as the
local calendar day in the account's time zone (`settings.dashboard.timezone` of the account
object); who an email is for and how it is queued are `billing_emails`', which a credit
note's email (`credit_note_emails`) shares.

Pass a context governed by the invoice (`await ctx.governed_by(invoice)`): an email's
`created`, and the "now" reminders are due against, are then the invoice's test clock time
when it has one (the email is still sent in real time).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale

from kassa.services.billing import reminders
from kassa.services.billing.billing_emails import (
    DESCRIPTION_CHARS_MAX,
    PDF_CONTENT_TYPE,
    Reader,
    account_time_zone,
    day,
    lines_of,
    listed_lines,
    one_line,
    pdf_filename,
    queue_rendered,
    reader_for,
)
from kassa.services.billing.reminders import Reminder, ReminderKind
from kassa.services.context import Context
from kassa.services.mail import (
    Attachment,
    AttachmentContent,
    AttachmentKind,
    AttachmentRef,
    EmailKind,
    last_email_at,
)
from kassa.services.mail_rendering import format_money
from kassa.services.resource import ApiObject
from kassa.store.tables import PRIVATE

LAST_REMINDER_AT = "last_reminder_at"
"""The private fact of when the invoice's latest reminder was due (`invoice_reminders`)."""
REMINDER_KINDS = (
    EmailKind.REMINDER_BEFORE_DUE,
    EmailKind.REMINDER_ON_DUE,
    EmailKind.REMINDER_AFTER_DUE,
)
_REMINDER_EMAIL_KINDS = {
    ReminderKind.BEFORE_DUE: EmailKind.REMINDER_BEFORE_DUE,
    ReminderKind.ON_DUE: EmailKind.REMINDER_ON_DUE,
    ReminderKind.AFTER_DUE: EmailKind.REMINDER_AFTER_DUE,
}


async def queue_invoice_email(
    ctx: Context,
    invoice: Mapping[str, Any],
    customer: Mapping[str, Any] | None = None,
    *,
    pdf: AttachmentContent | None = None,
) -> ApiObject | None:
    """The invoice itself (on finalizing a `send_invoice` invoice, and on `send`): its
    amount, lines, due date and hosted link, the PDF attached. A paid invoice (sent again)
    has no link to pay it: Stripe's email makes no reference to the payment."""
    extra = {"hosted_url": ""} if invoice.get("status") == "paid" else {}
    return await _queue(ctx, EmailKind.INVOICE, invoice, customer, extra, pdf)


async def queue_receipt_email(
    ctx: Context,
    invoice: Mapping[str, Any],
    customer: Mapping[str, Any] | None = None,
    *,
    pdf: AttachmentContent | None = None,
) -> ApiObject | None:
    """A receipt for a paid invoice."""
    return await _queue(ctx, EmailKind.RECEIPT, invoice, customer, {}, pdf)


async def queue_payment_failed_email(
    ctx: Context,
    invoice: Mapping[str, Any],
    customer: Mapping[str, Any] | None = None,
    *,
    reason: str | None = None,
) -> ApiObject | None:
    """An automatic payment failed; `reason` is the decline's message for people."""
    extra = {"reason": (reason or "")[:DESCRIPTION_CHARS_MAX]}
    return await _queue(ctx, EmailKind.PAYMENT_FAILED, invoice, customer, extra, None)


@dataclass(frozen=True)
class ReminderCheck:
    """What `queue_due_reminder` found and did."""

    reminder: Reminder | None
    """The reminder due now (None: none is)."""
    email: ApiObject | None
    """The reminder email queued; None when none was due, or the customer has no address."""
    next_at: int | None
    """When the next reminder is due (None: the schedule has no more): where the reminder
    job's index should point now."""

    @property
    def event_type(self) -> str | None:
        """`invoice.will_be_due` or `invoice.overdue` when a reminder was due: the caller
        announces it in the same transaction, with the invoice as it is."""
        return None if self.reminder is None else reminders.reminder_event_type(self.reminder)


async def queue_due_reminder(
    ctx: Context,
    invoice: Mapping[str, Any],
    customer: Mapping[str, Any] | None,
    offsets: Sequence[int],
) -> ReminderCheck:
    """Queue the reminder due now for `invoice`, if any: the latest of the schedule's
    reminders since the last one queued (or since finalization) whose 09:00 local time has
    come. Invoices that get no reminders (`reminders.wants_reminders`: paid, void, ...) get
    none and no next time."""
    if not reminders.wants_reminders(invoice):
        return ReminderCheck(None, None, None)
    now = ctx.now()
    zone = await account_time_zone(ctx)
    due_date = int(invoice["due_date"])
    due = reminders.next_reminder(
        due_date=due_date,
        offsets=offsets,
        zone=zone,
        now=now,
        after=await reminders_sent_after(ctx, invoice),
    )
    if due is None or not due.is_due(now):
        return ReminderCheck(None, None, None if due is None else due.send_at)
    following = reminders.next_reminder(
        due_date=due_date, offsets=offsets, zone=zone, now=now, after=max(now, due.send_at)
    )
    next_at = None if following is None else following.send_at
    reader = await reader_for(ctx, invoice, customer)
    if reader is None:
        return ReminderCheck(due, None, next_at)
    kind = _REMINDER_EMAIL_KINDS[due.kind]
    # The days between the due date and today, not the offset: a reminder sent late (missed
    # ones collapse into it) says how late the invoice really is.
    days = abs((reminders.local_day(now, zone) - reminders.local_day(due_date, zone)).days)
    email = await _queue_for(ctx, reader, kind, invoice, {"days": days}, None)
    return ReminderCheck(due, email, next_at)


async def next_reminder_at(
    ctx: Context,
    invoice: Mapping[str, Any],
    offsets: Sequence[int],
    *,
    overdue_seen: bool = False,
) -> int | None:
    """When the reminder job should next look at `invoice` (it may have passed: then now):
    its next reminder, or, unless a look has seen its due date pass (`overdue_seen`), the
    moment it passes if that comes first (`reminders.wake_at`); None when it gets no more.
    For the index the job searches. An invoice that gets no reminders but whose due date is
    watched (`reminders.watches_due_date`: `auto_advance=false`) is looked at once, as its
    due date passes."""
    if not reminders.wants_reminders(invoice):
        return reminders.due_date_watch(invoice, overdue_seen=overdue_seen)
    due_date = int(invoice["due_date"])
    following = reminders.next_reminder(
        due_date=due_date,
        offsets=offsets,
        zone=await account_time_zone(ctx),
        now=ctx.now(),
        after=await reminders_sent_after(ctx, invoice),
    )
    next_at = None if following is None else following.send_at
    return reminders.wake_at(due_date, next_at, overdue_seen=overdue_seen)


async def reminders_sent_after(ctx: Context, invoice: Mapping[str, Any]) -> int | None:
    """The instant reminders must come after: the last one made (its event announced, an
    email queued or not: a customer without an address gets the events all the same), or
    the invoice's finalization when none was (a reminder scheduled before then is not
    sent). Reminders before `last_reminder_at` was kept are known by their emails."""
    last = await last_email_at(ctx, str(invoice["id"]), REMINDER_KINDS)
    transitions = invoice.get("status_transitions") or {}
    finalized = transitions.get("finalized_at")
    made = (invoice.get(PRIVATE) or {}).get(LAST_REMINDER_AT)
    candidates = [t for t in (last, finalized, made) if isinstance(t, int)]
    return max(candidates) if candidates else None


# --- rendering ------------------------------------------------------------------------------


async def _queue(
    ctx: Context,
    kind: EmailKind,
    invoice: Mapping[str, Any],
    customer: Mapping[str, Any] | None,
    extra: Mapping[str, Any],
    pdf: AttachmentContent | None,
) -> ApiObject | None:
    reader = await reader_for(ctx, invoice, customer)
    if reader is None:
        return None
    return await _queue_for(ctx, reader, kind, invoice, extra, pdf)


async def _queue_for(
    ctx: Context,
    reader: Reader,
    kind: EmailKind,
    invoice: Mapping[str, Any],
    extra: Mapping[str, Any],
    pdf: AttachmentContent | None,
) -> ApiObject:
    values = {**invoice_values(invoice, reader.locale, reader.zone), **extra}
    attachments: tuple[Attachment, ...] = ()
    if pdf is not None:
        filename = pdf_filename("Invoice", invoice.get("number") or invoice.get("id"))
        attachments = (Attachment(filename, PDF_CONTENT_TYPE, pdf),)
    return await queue_rendered(ctx, reader, kind, values, invoice, attachments)


def pdf_of(invoice: Mapping[str, Any]) -> AttachmentRef:
    """The invoice's PDF as an attachment declared by reference (see `queue_invoice_email`)."""
    return AttachmentRef(AttachmentKind.INVOICE_PDF, str(invoice["id"]))


def invoice_values(invoice: Mapping[str, Any], locale: Locale, zone: ZoneInfo) -> dict[str, Any]:
    """What the templates show of an invoice, formatted for `locale` and `zone`."""
    currency = str(invoice["currency"])

    def amount(field: str) -> str:
        value = invoice.get(field)
        return format_money(value if isinstance(value, int) else 0, currency, locale)

    transitions = invoice.get("status_transitions") or {}
    return {
        "business": one_line(invoice.get("account_name")) or "Kassa",
        "customer_name": one_line(invoice.get("customer_name")),
        "number": str(invoice.get("number") or invoice["id"]),
        "amount_due": amount("amount_due"),
        "amount_paid": amount("amount_paid"),
        "amount_remaining": amount("amount_remaining"),
        "total": amount("total"),
        "due_date": day(invoice.get("due_date"), locale, zone),
        "paid_date": day(transitions.get("paid_at"), locale, zone),
        "hosted_url": str(invoice.get("hosted_invoice_url") or ""),
        **listed_lines(lines_of(invoice), currency, locale),
        "reason": "",
        "days": 0,
    }
