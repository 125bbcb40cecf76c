"""What the dashboard's mailbox shows: the account's emails (captured when no SMTP server is
configured, or sent), newest first, filtered by recipient, kind, invoice or status; and one
email with its text, attachments and HTML. Reads go through the API's own list and retrieve
operations (`kassa.services.mail`), so the page shows exactly what
`GET /v1/test_helpers/emails` lists."""

from __future__ import annotations

from dataclasses import dataclass

from kassa.errors import ResourceMissing
from kassa.services import mail
from kassa.services.context import Context
from kassa.services.listing import could_be_object_id
from kassa.services.resource import ApiObject

FILTERS = ("to", "kind", "invoice", "status")
"""The list's filters, as the API names them."""
KIND_CHOICES = tuple(kind.value for kind in mail.EmailKind)
STATUS_CHOICES = tuple(status.value for status in mail.EmailStatus)


@dataclass(frozen=True)
class MailboxPage:
    emails: list[ApiObject]
    next_cursor: str | None
    """The id to list older emails after, when there are any."""


async def mailbox_page(
    ctx: Context, filters: dict[str, str], starting_after: str, limit: int
) -> MailboxPage:
    """One page of the account's emails; `filters` holds the non-empty ones of FILTERS.
    A bad filter or cursor raises the API's error (`InvalidRequest`), naming it."""
    form: dict[str, str] = {name: value for name, value in filters.items() if value}
    form["limit"] = str(limit)
    if starting_after:
        form["starting_after"] = starting_after
    listed = await mail.list_emails(ctx, mail.parse_list_emails((), form))
    data: list[ApiObject] = listed["data"]
    cursor = str(data[-1]["id"]) if listed["has_more"] and data else None
    return MailboxPage(data, cursor)


async def email_detail(ctx: Context, email_id: str) -> ApiObject:
    if not could_be_object_id(email_id):
        raise ResourceMissing("email", email_id)
    return await mail.retrieve_email(ctx, email_id)
