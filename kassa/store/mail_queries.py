"""SQL behind the email outbox: the delivery queue mail workers claim from, attachments,
and the reminder bookkeeping invoices read. Mixed into `Transaction`.

The emails themselves are an object table (`tables.EMAILS`, written with `insert_object`);
this module holds what is relational: one `email_deliveries` row per email (status,
attempts, the next attempt's time, a claim lease) and its `email_attachments`.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kassa.store.queries import Executor

SKIP_LOCKED = "/*SKIP_LOCKED*/"
"""As in `kassa.store.queries`: PostgreSQL claims with `FOR UPDATE SKIP LOCKED`."""

DELIVERY_STATUSES = ("pending", "sent", "captured", "failed")
REMINDER_KINDS_MAX = 8


@dataclass(frozen=True)
class AttachmentRow:
    ordinal: int
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class ClaimedEmail:
    email_id: str
    account_id: str
    attempts: int
    """Attempts made before this claim."""


class MailQueries:
    _db: Executor

    async def insert_email_delivery(
        self, email_id: str, account_id: str, due_ms: int, created_ms: int
    ) -> None:
        await self._db.execute(
            "INSERT INTO email_deliveries (email_id, account_id, status, next_attempt_ms, "
            "created_ms) VALUES (?, ?, 'pending', ?, ?)",
            (email_id, account_id, due_ms, created_ms),
        )

    async def insert_email_attachments(
        self, email_id: str, attachments: Sequence[AttachmentRow]
    ) -> None:
        if not attachments:
            return
        await self._db.executemany(
            "INSERT INTO email_attachments (email_id, ordinal, filename, content_type, "
            "size_bytes, content_base64) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    email_id,
                    a.ordinal,
                    a.filename,
                    a.content_type,
                    len(a.content),
                    base64.b64encode(a.content).decode("ascii"),
                )
                for a in attachments
            ],
        )

    async def email_attachments(self, email_id: str) -> list[AttachmentRow]:
        rows = await self._db.fetchall(
            "SELECT ordinal, filename, content_type, content_base64 FROM email_attachments "
            "WHERE email_id = ? ORDER BY ordinal",
            (email_id,),
        )
        return [
            AttachmentRow(int(row[0]), str(row[1]), str(row[2]), base64.b64decode(row[3]))
            for row in rows
        ]

    async def emails_due(self, now_ms: int) -> bool:
        """Whether any email waits to be sent now: a cheap read before a claiming write."""
        row = await self._db.fetchone(
            "SELECT 1 FROM email_deliveries WHERE status = 'pending' AND next_attempt_ms <= ? "
            "AND claimed_until_ms < ? LIMIT 1",
            (now_ms, now_ms),
        )
        return row is not None

    async def claim_emails(
        self, now_ms: int, claim_until_ms: int, limit: int
    ) -> list[ClaimedEmail]:
        """Claim up to `limit` due emails, oldest due first. A claim never finished (the
        worker died) expires at `claim_until_ms` and is retaken."""
        rows = await self._db.fetchall(
            "UPDATE email_deliveries SET claimed_until_ms = ? WHERE email_id IN ("
            "SELECT email_id FROM email_deliveries WHERE status = 'pending' "
            "AND next_attempt_ms <= ? AND claimed_until_ms < ? "
            f"ORDER BY next_attempt_ms LIMIT ? {SKIP_LOCKED}) "
            "RETURNING email_id, account_id, attempts",
            (claim_until_ms, now_ms, now_ms, limit),
        )
        return [ClaimedEmail(str(row[0]), str(row[1]), int(row[2])) for row in rows]

    async def finish_email_delivery(
        self,
        email_id: str,
        status: str,
        attempts: int,
        next_attempt_ms: int,
        last_error: str | None,
    ) -> None:
        """Record an attempt's outcome and release the claim."""
        if status not in DELIVERY_STATUSES:
            raise ValueError(f"unknown email delivery status {status!r}")
        await self._db.execute(
            "UPDATE email_deliveries SET status = ?, attempts = ?, next_attempt_ms = ?, "
            "claimed_until_ms = 0, last_error = ? WHERE email_id = ?",
            (status, attempts, next_attempt_ms, last_error, email_id),
        )

    async def email_delivery_status(self, email_id: str) -> tuple[str, int] | None:
        """(status, attempts) of an email's delivery; None if there is no such email."""
        row = await self._db.fetchone(
            "SELECT status, attempts FROM email_deliveries WHERE email_id = ?", (email_id,)
        )
        return None if row is None else (str(row[0]), int(row[1]))

    async def last_email_created(
        self, account_id: str, invoice_id: str, kinds: Sequence[str]
    ) -> int | None:
        """When the newest email of one of `kinds` about an invoice was queued (the last
        reminder sent): one walk of the (account_id, invoice, seq) index."""
        if not 0 < len(kinds) <= REMINDER_KINDS_MAX:
            raise ValueError(f"name 1 to {REMINDER_KINDS_MAX} kinds, not {len(kinds)}")
        placeholders = ", ".join("?" * len(kinds))
        row = await self._db.fetchone(
            f"SELECT max(created) FROM emails WHERE account_id = ? AND invoice = ? "
            f"AND kind IN ({placeholders})",
            (account_id, invoice_id, *kinds),
        )
        return None if row is None or row[0] is None else int(row[0])
