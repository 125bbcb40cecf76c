"""Email to customers through an outbox: `queue_email(ctx, OutgoingEmail(...))` writes the
rendered email, its attachments and a delivery row in the caller's transaction, so the
email exists exactly when the change that caused it commits. Nothing is sent inside a
request: the mail worker (`kassa.workers.mail`) claims due rows, sends them over SMTP when
`KASSA_SMTP_URL` is set, retrying failures with backoff, and otherwise delivers them into
the captured mailbox (the same rows, status `captured`).

An attachment is its bytes, or a reference to what it is made from (`AttachmentRef`: an
invoice's or a credit note's PDF). A reference is stored with the email and costs the
queueing transaction nothing; the mail worker makes the bytes when it sends or captures the
email, from the object as stored then, off the event loop and outside any write transaction
(a PDF takes tens of milliseconds of CPU, and on SQLite a write transaction holds the only
writer), and stores them with the email. Until then the email's `attachments` give the attachment's
`size` as null.

The API lists an account's emails, captured or sent, as a Kassa extension (Stripe has no
such endpoint; its test mode sends no emails):

    GET /v1/test_helpers/emails        (filters `to`, `invoice`, `customer`, `kind`, `status`)
    GET /v1/test_helpers/emails/{id}

For invoices, `kassa.services.billing.invoice_emails` renders each kind in the customer's
locale and queues it (for credit notes, `credit_note_emails`); this module is the generic
part any email goes through.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from enum import StrEnum
from typing import Any

from kassa.ids import new_id
from kassa.invariants import ensure
from kassa.params import Enum, Param, String, parse_params
from kassa.services import accounts
from kassa.services.context import Context
from kassa.services.listing import (
    LIST_LIMIT_DEFAULT,
    PAGINATION_PARAMS,
    list_page_with,
    load_object,
)
from kassa.services.resource import (
    ApiObject,
    Form,
    Operation,
    Resource,
    RouteIds,
    list_envelope,
    no_params,
)
from kassa.services.wakeups import EMAILS_DUE
from kassa.store import Transaction
from kassa.store.mail_queries import AttachmentRefRow, AttachmentRow
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import EMAILS


class EmailKind(StrEnum):
    INVOICE = "invoice"
    """A finalized `send_invoice` invoice: its hosted link, its PDF attached."""
    RECEIPT = "receipt"
    PAYMENT_FAILED = "payment_failed"
    REMINDER_BEFORE_DUE = "reminder_before_due"
    REMINDER_ON_DUE = "reminder_on_due"
    REMINDER_AFTER_DUE = "reminder_after_due"
    CREDIT_NOTE = "credit_note"
    """A credit note issued on an invoice (`email_type` `credit_note`): its PDF attached."""


class EmailStatus(StrEnum):
    PENDING = "pending"
    """Queued; not yet sent (or failed and waiting for its next attempt)."""
    SENT = "sent"
    """Accepted by the SMTP server."""
    CAPTURED = "captured"
    """No SMTP server is configured: kept in the captured mailbox instead."""
    FAILED = "failed"
    """Refused for good by the SMTP server, or every retry failed."""


class AttachmentKind(StrEnum):
    """What an attachment declared by reference is made from (`AttachmentRef.ref_id` names it)."""

    INVOICE_PDF = "invoice_pdf"
    """The invoice's PDF, as its hosted page's link gives it, in its customer's locale."""
    CREDIT_NOTE_PDF = "credit_note_pdf"
    """The credit note's PDF, as its `pdf` link gives it, in its customer's locale."""


ATTACHMENTS_MAX = 10
ATTACHMENT_BYTES_MAX = 10 * 1024 * 1024
"""Per attachment; SMTP servers commonly refuse messages over 10 to 25 MB."""
ATTACHMENTS_BYTES_MAX = 20 * 1024 * 1024
"""Of the bytes given when queueing (attachments made later are bounded each)."""
FILENAME_CHARS_MAX = 200
REF_ID_CHARS_MAX = 255
BODY_CHARS_MAX = 1_000_000
LAST_ERROR_CHARS_MAX = 500
ADDRESS_CHARS_MAX = 512
_ADDRESS = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+")
_CONTENT_TYPE = re.compile(r"[a-z0-9.+-]+/[a-z0-9.+-]+")
MESSAGE_ID_DOMAIN = "kassa.localhost"


@dataclass(frozen=True)
class AttachmentRef:
    """An attachment declared by reference: made by the mail worker when it sends (or
    captures) the email, from the object `ref_id` names as it is stored then."""

    kind: AttachmentKind
    ref_id: str
    """The invoice's id, for `invoice_pdf`; the credit note's, for `credit_note_pdf`."""


AttachmentContent = bytes | AttachmentRef
"""The bytes, or what the mail worker makes them from."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    """`application/pdf`."""
    content: AttachmentContent


@dataclass(frozen=True)
class StoredEmail:
    """A claimed email as the mail worker reads it."""

    doc: ApiObject
    attachments: list[AttachmentRow]
    """The attachments whose bytes are stored, by ordinal."""
    to_make: list[AttachmentRefRow]
    """Attachments declared by reference whose bytes are not stored yet."""


@dataclass(frozen=True)
class OutgoingEmail:
    """An email rendered and ready to queue (see `mail_rendering.render_email`)."""

    kind: EmailKind
    to: str
    subject: str
    text: str
    html: str
    locale: str = "en"
    customer: str | None = None
    invoice: str | None = None
    attachments: tuple[Attachment, ...] = ()


def is_address(text: object) -> bool:
    return (
        isinstance(text, str) and len(text) <= ADDRESS_CHARS_MAX and bool(_ADDRESS.fullmatch(text))
    )


async def queue_email(ctx: Context, email: OutgoingEmail) -> ApiObject:
    """Write `email` to the outbox in `ctx`'s transaction: it is sent (or captured) once
    that transaction commits, and never if it rolls back. Returns the `email` object."""
    _check(email)
    email_id = new_id("email")
    doc = _email_object(ctx, email_id, email)
    now_ms = int(ctx.clock.now() * 1000)
    # Due in real time (as webhooks are), whatever test clock governs the invoice.
    await ctx.tx.insert_object(EMAILS, ctx.account_id, doc)
    await ctx.tx.insert_email_delivery(email_id, ctx.account_id, now_ms, now_ms)
    stored: list[AttachmentRow] = []
    refs: list[AttachmentRefRow] = []
    for ordinal, a in enumerate(email.attachments):
        if isinstance(a.content, AttachmentRef):
            ref = a.content
            refs.append(
                AttachmentRefRow(ordinal, a.filename, a.content_type, ref.kind.value, ref.ref_id)
            )
        else:
            stored.append(AttachmentRow(ordinal, a.filename, a.content_type, a.content))
    await ctx.tx.insert_email_attachments(email_id, stored)
    await ctx.tx.insert_email_attachment_refs(email_id, refs)
    ctx.tx.after_commit(EMAILS_DUE.notify)
    return doc


def _check(email: OutgoingEmail) -> None:
    ensure(isinstance(email.kind, EmailKind), f"unknown email kind {email.kind!r}")
    ensure(is_address(email.to), "an email goes to one plain address")
    ensure("\n" not in email.subject and "\r" not in email.subject, "a subject is one line")
    ensure(
        len(email.text) <= BODY_CHARS_MAX and len(email.html) <= BODY_CHARS_MAX,
        f"bodies are at most {BODY_CHARS_MAX} characters",
    )
    ensure(len(email.attachments) <= ATTACHMENTS_MAX, f"at most {ATTACHMENTS_MAX} attachments")
    sizes = [len(a.content) for a in email.attachments if isinstance(a.content, bytes)]
    ensure(
        all(size <= ATTACHMENT_BYTES_MAX for size in sizes) and sum(sizes) <= ATTACHMENTS_BYTES_MAX,
        f"attachments are at most {ATTACHMENT_BYTES_MAX} bytes each, "
        f"{ATTACHMENTS_BYTES_MAX} in all",
    )
    for attachment in email.attachments:
        _check_content(attachment.content)
        ensure(
            0 < len(attachment.filename) <= FILENAME_CHARS_MAX
            and not any(c in attachment.filename for c in "/\\\r\n"),
            f"attachment filename {attachment.filename[:40]!r}",
        )
        ensure(
            bool(_CONTENT_TYPE.fullmatch(attachment.content_type)),
            f"attachment content type {attachment.content_type[:40]!r}",
        )


def _check_content(content: object) -> None:
    if isinstance(content, bytes):
        return
    ensure(isinstance(content, AttachmentRef), "an attachment is bytes or an AttachmentRef")
    if isinstance(content, AttachmentRef):
        ensure(isinstance(content.kind, AttachmentKind), f"attachment kind {content.kind!r}")
        ensure(
            isinstance(content.ref_id, str) and 0 < len(content.ref_id) <= REF_ID_CHARS_MAX,
            f"an attachment's ref_id is 1 to {REF_ID_CHARS_MAX} characters",
        )


def _email_object(ctx: Context, email_id: str, email: OutgoingEmail) -> ApiObject:
    return {
        "id": email_id,
        "object": "email",
        "attachments": [
            {
                "content_type": a.content_type,
                "filename": a.filename,
                # Not known until the mail worker makes the attachment.
                "size": len(a.content) if isinstance(a.content, bytes) else None,
            }
            for a in email.attachments
        ],
        "attempts": 0,
        "created": ctx.now(),
        "customer": email.customer,
        "delivered_at": None,
        "from": None,
        "html": email.html,
        "invoice": email.invoice,
        "kind": str(email.kind),
        "last_error": None,
        "livemode": ctx.livemode,
        "locale": email.locale,
        "message_id": f"<{email_id}@{MESSAGE_ID_DOMAIN}>",
        "status": EmailStatus.PENDING.value,
        "subject": email.subject,
        "text": email.text,
        "to": email.to,
    }


async def last_email_at(ctx: Context, invoice_id: str, kinds: tuple[EmailKind, ...]) -> int | None:
    """When the newest email of `kinds` about the invoice was queued (its `created`)."""
    return await ctx.tx.last_email_created(ctx.account_id, invoice_id, [str(k) for k in kinds])


# --- what the mail worker needs ------------------------------------------------------------


def sender_address(account: Mapping[str, Any] | None, mail_from: str) -> str:
    """`"Shop name" <billing@...>`: the account's display name on Kassa's sending address."""
    name = None if account is None else accounts.public_name(account)
    display = " ".join(str(name).split()) if name else "Kassa"
    return formataddr((display, mail_from))


def mime_message(
    email: Mapping[str, Any], attachments: list[AttachmentRow], sender: str
) -> EmailMessage:
    """The message as sent: plain text with an HTML alternative, then the attachments."""
    message = EmailMessage()
    message["Subject"] = str(email["subject"])
    message["From"] = sender
    message["To"] = str(email["to"])
    message["Date"] = formatdate(int(email["created"]), usegmt=True)
    message["Message-ID"] = str(email["message_id"])
    message.set_content(str(email["text"]))
    message.add_alternative(str(email["html"]), subtype="html")
    for attachment in attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(
            attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    # Last: setting and adding content clears the message's Content-* headers.
    message["Content-Language"] = str(email["locale"])
    return message


async def load_claimed(tx: Transaction, account_id: str, email_id: str) -> StoredEmail | None:
    """A claimed email's document, stored attachments and the attachments still to make
    (None if the email is gone)."""
    found = await tx.get_object(EMAILS, account_id, email_id, lock=False)
    if found is None:
        return None
    stored = await tx.email_attachments(email_id)
    made = {attachment.ordinal for attachment in stored}
    refs = await tx.email_attachment_refs(email_id)
    return StoredEmail(found[0], stored, [ref for ref in refs if ref.ordinal not in made])


def with_made(
    stored: Sequence[AttachmentRow], made: Sequence[AttachmentRow]
) -> list[AttachmentRow]:
    """Every attachment of an email, in order, once the ones to make are made."""
    return sorted([*stored, *made], key=lambda attachment: attachment.ordinal)


async def record_delivered(
    tx: Transaction,
    account_id: str,
    email_id: str,
    *,
    status: EmailStatus,
    attempts: int,
    at_ms: int,
    sender: str,
    made: Sequence[AttachmentRow] = (),
) -> None:
    """The email was sent (or captured): final. `made`: the attachments the worker made
    for it (declared by reference), stored with it now, their sizes in its document."""
    ensure(status in (EmailStatus.SENT, EmailStatus.CAPTURED), f"delivered as {status}")
    ensure(
        all(len(a.content) <= ATTACHMENT_BYTES_MAX for a in made),
        f"a made attachment is at most {ATTACHMENT_BYTES_MAX} bytes",
    )
    await tx.finish_email_delivery(email_id, status.value, attempts, at_ms, None)
    if made:
        await tx.insert_made_attachments(email_id, made)
    changes: dict[str, Any] = {
        "status": status.value,
        "attempts": attempts,
        "delivered_at": at_ms // 1000,
        "from": sender,
        "last_error": None,
    }
    await _update_doc(tx, account_id, email_id, changes, made)


async def record_failed_attempt(
    tx: Transaction,
    account_id: str,
    email_id: str,
    *,
    attempts: int,
    error: str,
    retry_at_ms: int | None,
) -> None:
    """An attempt failed: retried at `retry_at_ms`, or never again (None)."""
    status = EmailStatus.PENDING if retry_at_ms is not None else EmailStatus.FAILED
    message = error[:LAST_ERROR_CHARS_MAX]
    await tx.finish_email_delivery(email_id, status.value, attempts, retry_at_ms or 0, message)
    await _update_doc(
        tx,
        account_id,
        email_id,
        {"status": status.value, "attempts": attempts, "last_error": message},
    )


async def _update_doc(
    tx: Transaction,
    account_id: str,
    email_id: str,
    changes: Mapping[str, Any],
    made: Sequence[AttachmentRow] = (),
) -> None:
    found = await tx.get_object(EMAILS, account_id, email_id)
    if found is None:
        return
    doc = {**found[0], **changes}
    if made:
        doc["attachments"] = _with_sizes(doc["attachments"], made)
    await tx.update_object(EMAILS, account_id, doc)


def _with_sizes(
    listed: Sequence[Mapping[str, Any]], made: Sequence[AttachmentRow]
) -> list[dict[str, Any]]:
    """The document's attachments (one per ordinal, in order) with the made ones' sizes."""
    sizes = {attachment.ordinal: len(attachment.content) for attachment in made}
    return [
        {**entry, "size": sizes.get(ordinal, entry["size"])} for ordinal, entry in enumerate(listed)
    ]


# --- the API: the account's emails ------------------------------------------------------------

_KINDS = tuple(kind.value for kind in EmailKind)
_STATUSES = tuple(status.value for status in EmailStatus)
LIST_FILTERS: dict[str, Param] = {
    "to": String(max_chars=ADDRESS_CHARS_MAX),
    "invoice": String(max_chars=255),
    "customer": String(max_chars=255),
    "kind": Enum(values=_KINDS),
    "status": Enum(values=_STATUSES),
}
_FILTER_COLUMNS = {"to": "recipient"}
"""List parameters whose column is named otherwise (`to` is reserved in SQL)."""


@dataclass(frozen=True)
class ListEmails:
    params: Mapping[str, Any]


def parse_list_emails(ids: RouteIds, form: Form) -> ListEmails:
    return ListEmails(parse_params({**PAGINATION_PARAMS, **LIST_FILTERS}, form))


async def list_emails(ctx: Context, request: ListEmails) -> ApiObject:
    """The account's emails, newest first, filtered by recipient, invoice, kind, status."""
    params = request.params
    query = ObjectListQuery(
        limit=params.get("limit", LIST_LIMIT_DEFAULT),
        equals={
            _FILTER_COLUMNS.get(name, name): value
            for name, value in params.items()
            if name in LIST_FILTERS
        },
        created=params.get("created", {}),
    )
    page = await list_page_with(ctx, RESOURCE, params, query)
    return list_envelope(page, RESOURCE.url)


async def retrieve_email(ctx: Context, email_id: str) -> ApiObject:
    email, _ = await load_object(ctx, RESOURCE, email_id)  # emails are never deleted
    return email


RESOURCE = Resource(
    object_name="email",
    id_prefix="email",
    collection="test_helpers/emails",
    table=EMAILS,
    retrieve=Operation(no_params, retrieve_email, writes=False),
    lister=Operation(parse_list_emails, list_emails, writes=False),
    expandable={"customer": "customer"},
)
