"""SQL behind the email outbox: the delivery queue mail workers claim from, attachments,
and the reminder bookkeeping invoices read. Mixed into `Transaction`.

The emails themselves are an object table (`tables.EMAILS`, written with `insert_object`);
this module holds what is relational: one `email_deliveries` row per email (status,
attempts, the next attempt's time, a claim lease), its `email_attachments` (the bytes) and
its `email_attachment_refs` (attachments declared by reference, made by the mail worker,
whose bytes join `email_attachments` under the same ordinal once made).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kassa.store.statements import SKIP_LOCKED

if TYPE_CHECKING:
    from kassa.store.queries import Executor

DELIVERY_STATUSES = ("pending", "sent", "captured", "failed")
ATTACHMENT_REF_KINDS = ("invoice_pdf", "credit_note_pdf")
"""As the `email_attachment_refs.kind` check constraint has them."""
REMINDER_KINDS_MAX = 8
EMAILS_PER_LOOKUP_MAX = 500
"""Emails one `emails_with_attachment_refs` asks about (a claimed batch is far fewer)."""


@dataclass(frozen=True)
class AttachmentRow:
    ordinal: int
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class AttachmentRefRow:
    ordinal: int
    filename: str
    content_type: str
    kind: str
    """One of ATTACHMENT_REF_KINDS: what makes the bytes (`invoice_pdf`: the invoice's PDF;
    `credit_note_pdf`: the credit note's)."""
    ref_id: str
    """What they are made from (the invoice's or the credit note's id)."""


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

    async def insert_made_attachments(
        self, email_id: str, attachments: Sequence[AttachmentRow]
    ) -> None:
        """The bytes made for an email's attachments declared by reference. Made twice (a
        worker's claim expired while it was sending, and another sent it too), the first
        kept are kept."""
        if not attachments:
            return
        await self._db.executemany(
            "INSERT INTO email_attachments (email_id, ordinal, filename, content_type, "
            "size_bytes, content_base64) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (email_id, ordinal) DO NOTHING",
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

    async def insert_email_attachment_refs(
        self, email_id: str, refs: Sequence[AttachmentRefRow]
    ) -> None:
        if not refs:
            return
        for ref in refs:
            if ref.kind not in ATTACHMENT_REF_KINDS:
                raise ValueError(f"unknown attachment kind {ref.kind!r}")
        await self._db.executemany(
            "INSERT INTO email_attachment_refs (email_id, ordinal, filename, content_type, "
            "kind, ref_id) VALUES (?, ?, ?, ?, ?, ?)",
            [(email_id, r.ordinal, r.filename, r.content_type, r.kind, r.ref_id) for r in refs],
        )

    async def email_attachment_refs(self, email_id: str) -> list[AttachmentRefRow]:
        rows = await self._db.fetchall(
            "SELECT ordinal, filename, content_type, kind, ref_id FROM email_attachment_refs "
            "WHERE email_id = ? ORDER BY ordinal",
            (email_id,),
        )
        return [
            AttachmentRefRow(int(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]))
            for row in rows
        ]

    async def emails_with_attachment_refs(self, email_ids: Sequence[str]) -> set[str]:
        """Which of `email_ids` have attachments declared by reference."""
        if not email_ids:
            return set()
        if len(email_ids) > EMAILS_PER_LOOKUP_MAX:
            raise ValueError(f"ask about at most {EMAILS_PER_LOOKUP_MAX} emails at once")
        placeholders = ", ".join("?" * len(email_ids))
        rows = await self._db.fetchall(
            f"SELECT DISTINCT email_id FROM email_attachment_refs "
            f"WHERE email_id IN ({placeholders})",
            tuple(email_ids),
        )
        return {str(row[0]) for row in rows}

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
