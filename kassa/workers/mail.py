"""The mail worker: claims due emails from the outbox in bounded batches and sends them over
SMTP (`KASSA_SMTP_URL`), or, with no SMTP server configured, delivers them into the captured
mailbox (marks them `captured`, in one transaction per batch).

Attachments declared by reference (an invoice's or a credit note's PDF) are made here, after
the claim and before sending or capturing: what they are made from is read in a read
transaction (the invoice or note as stored now), the rendering runs on threads (at most
`RENDERS_CONCURRENT_MAX` at once) with no transaction open, and the bytes are stored with the
email in the transaction that records its delivery. An email whose attachment cannot be
made is not sent: a failed attempt, retried as a refused one is (never, if what it is made
from is gone). In the captured mailbox, emails without such attachments are captured in the
claiming transaction, as before; the others in a second one, once made.

Sending: a batch is claimed with a lease (long enough for the whole batch to time out, plus
a margin), read, sent over one SMTP connection on a thread (smtplib; each socket operation
bounded by `SMTP_TIMEOUT_SECONDS`), and its outcomes recorded in one transaction. A failed
attempt is retried after the next delay of `KASSA_MAIL_RETRY_SCHEDULE` with jitter; a
permanent refusal (an SMTP 5xx for the message) or a schedule used up marks it `failed`.
A crash between sending and recording leaves the claim to expire, and the email is sent
again: delivery is at least once, exactly once when nothing crashes. Each message carries
a stable `Message-ID`, so a receiver can drop the rare duplicate.
"""

from __future__ import annotations

import asyncio
import logging
import random
import smtplib
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Final

from kassa.clock import Clock
from kassa.config import Settings, SmtpServer, mail_retry_schedule, smtp_server
from kassa.errors import ResourceMissing
from kassa.invariants import ensure
from kassa.services import mail
from kassa.services.billing.rendering.credit_note_document import credit_note_pdf_renderer
from kassa.services.billing.rendering.invoice_document import invoice_pdf_renderer
from kassa.services.context import Context
from kassa.services.mail import AttachmentKind, EmailStatus, StoredEmail
from kassa.services.wakeups import EMAILS_DUE
from kassa.store import Store, Transaction
from kassa.store.mail_queries import AttachmentRefRow, AttachmentRow, ClaimedEmail
from kassa.workers.polling import idle_poll_seconds, until_any

CAPTURE_BATCH_MAX = 100
"""Emails captured per transaction (no network involved: a batch takes milliseconds)."""
SMTP_BATCH_MAX = 8
"""Emails sent per SMTP connection and claim."""
SMTP_TIMEOUT_SECONDS = 10.0
"""Per socket operation (connect, each command); a batch has at most a few per email."""
SMTP_OPERATIONS_PER_EMAIL = 4
"""MAIL, RCPT, DATA and its end: what one email may wait for at most."""
CLAIM_MARGIN_SECONDS = 20
"""Beyond the worst case of a batch (connecting, greeting, every email timing out), so a
live claim is never retaken; a crashed worker's claims come back after that."""
IDLE_POLL_SECONDS = 0.25
RECORD_ATTEMPTS_MAX = 3
JITTER_FRACTION = 0.1
HELO_NAME = "kassa.localhost"
"""What the worker calls itself to the SMTP server: a fixed name, because looking up this
host's (smtplib's default) can block for seconds on a machine without reverse DNS."""
RENDERS_CONCURRENT_MAX = 1
"""Attachments made at once, each on a thread. Rendering a PDF is CPU-bound pure Python
(tens of milliseconds): threads take turns on the GIL, so a second render at once would
not finish sooner and would take more turns from the event loop serving the API in the
same process. A batch's renders take seconds at most, well inside its claim."""

AttachmentMaker = Callable[[Context, str], Awaitable[Callable[[], bytes]]]
"""Given a read-only context and the `ref_id`: reads what the attachment is made from, and
returns the CPU-bound function that makes its bytes (run on a thread, no transaction open)."""
ATTACHMENT_MAKERS: Final[Mapping[AttachmentKind, AttachmentMaker]] = {
    AttachmentKind.INVOICE_PDF: invoice_pdf_renderer,
    AttachmentKind.CREDIT_NOTE_PDF: credit_note_pdf_renderer,
}
ensure(set(ATTACHMENT_MAKERS) == set(AttachmentKind), "every attachment kind has a maker")

log = logging.getLogger("kassa.mail")


@dataclass(frozen=True)
class MailSettings:
    smtp: SmtpServer | None
    """None: no SMTP server; emails are captured."""
    mail_from: str
    retry_schedule: tuple[int, ...]

    @property
    def claim_ms(self) -> int:
        connect = 3 * SMTP_TIMEOUT_SECONDS  # connect, greeting and EHLO, STARTTLS or login
        batch = SMTP_BATCH_MAX * SMTP_OPERATIONS_PER_EMAIL * SMTP_TIMEOUT_SECONDS
        return int((connect + batch + CLAIM_MARGIN_SECONDS) * 1000)


def mail_settings(settings: Settings) -> MailSettings:
    return MailSettings(smtp_server(settings), settings.mail_from, mail_retry_schedule(settings))


@dataclass(frozen=True)
class SendResult:
    error: str | None = None
    permanent: bool = False
    """The server refused this message for good (5xx), or there is nothing to send: no retry."""


DELIVERED = SendResult()
GONE = SendResult("the email is no longer stored", permanent=True)


@dataclass(frozen=True)
class Prepared:
    """A claimed email, read, its attachments made: ready to send, or why it cannot be."""

    claimed: ClaimedEmail
    sender: str
    email: StoredEmail | None
    """None: the email is gone."""
    made: tuple[AttachmentRow, ...] = ()
    """Its attachments declared by reference, made now."""
    failure: SendResult | None = None
    """Why it cannot be sent (gone, or an attachment could not be made); None: it can."""

    def message(self) -> EmailMessage | None:
        """The message to send; None when it cannot be sent."""
        if self.failure is not None or self.email is None:
            return None
        attachments = mail.with_made(self.email.attachments, self.made)
        return mail.mime_message(self.email.doc, attachments, self.sender)


@dataclass(frozen=True)
class _Pending:
    """An attachment to make: its reference, and what makes its bytes."""

    ref: AttachmentRefRow
    make: Callable[[], bytes]


def next_retry_delay_ms(schedule: tuple[int, ...], attempts: int, rng: random.Random) -> int | None:
    """Milliseconds until the retry after `attempts` failed attempts; None: give up."""
    if attempts > len(schedule):
        return None
    base = schedule[attempts - 1] * 1000
    return int(base * (1 + rng.uniform(-JITTER_FRACTION, JITTER_FRACTION)))


class MailWorker:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        settings: MailSettings,
        stopping: asyncio.Event,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings
        self.stopping = stopping
        self.rng = rng or random.Random()
        self.renders = asyncio.Semaphore(RENDERS_CONCURRENT_MAX)

    def _now_ms(self) -> int:
        return int(self.clock.now() * 1000)

    async def run(self) -> None:
        with EMAILS_DUE.listening() as due:
            idle_rounds = 0
            while not self.stopping.is_set():
                due.clear()  # before the batch: an email queued during it is kept
                try:
                    handled = await self.run_once()
                except Exception:
                    log.exception("the mail worker's batch failed; will retry")
                    handled = 0
                if handled:
                    idle_rounds = 0
                    continue
                idle_rounds += 1
                # The poll interval, the stop signal or this process's next email queued.
                poll_seconds = idle_poll_seconds(IDLE_POLL_SECONDS, idle_rounds)
                await until_any((self.stopping, due), poll_seconds)

    async def run_once(self) -> int:
        """One batch: how many emails it claimed (0: none was due)."""
        now_ms = self._now_ms()
        async with self.store.read() as tx:
            if not await tx.emails_due(now_ms):
                return 0  # an idle poll costs a read, never a write transaction
        if self.settings.smtp is None:
            return await self._capture(now_ms)
        return await self._send(self.settings.smtp, now_ms)

    async def _capture(self, now_ms: int) -> int:
        accounts: dict[str, str] = {}
        async with self.store.write() as tx:
            claimed = await tx.claim_emails(
                now_ms, now_ms + self.settings.claim_ms, CAPTURE_BATCH_MAX
            )
            with_refs = await tx.emails_with_attachment_refs([c.email_id for c in claimed])
            for email in claimed:
                if email.email_id in with_refs:
                    continue  # captured below, once its attachments are made
                await mail.record_delivered(
                    tx,
                    email.account_id,
                    email.email_id,
                    status=EmailStatus.CAPTURED,
                    attempts=email.attempts + 1,
                    at_ms=now_ms,
                    sender=await self._sender(tx, email.account_id, accounts),
                )
        to_make = [email for email in claimed if email.email_id in with_refs]
        if to_make:
            prepared = await self._prepare(to_make)
            outcomes = [(item, item.failure or DELIVERED) for item in prepared]
            await self._record_with_retries(outcomes, self._now_ms(), EmailStatus.CAPTURED)
        return len(claimed)

    async def _send(self, server: SmtpServer, now_ms: int) -> int:
        async with self.store.write() as tx:
            claimed = await tx.claim_emails(now_ms, now_ms + self.settings.claim_ms, SMTP_BATCH_MAX)
        if not claimed:
            return 0
        prepared = await self._prepare(claimed)
        messages = [(item, item.message()) for item in prepared]
        attempted_ms = self._now_ms()
        results = iter(
            await asyncio.to_thread(
                send_batch, server, [message for _, message in messages if message is not None]
            )
        )
        outcomes = [
            (item, next(results) if message is not None else item.failure or GONE)
            for item, message in messages
        ]
        await self._record_with_retries(outcomes, attempted_ms, EmailStatus.SENT)
        return len(claimed)

    async def _prepare(self, claimed: list[ClaimedEmail]) -> list[Prepared]:
        """The claimed emails read, and their attachments declared by reference made: what
        they are made from is read in one read transaction, then made on threads."""
        accounts: dict[str, str] = {}
        read: list[tuple[Prepared, list[_Pending]]] = []
        async with self.store.read() as tx:
            for email in claimed:
                sender = await self._sender(tx, email.account_id, accounts)
                stored = await mail.load_claimed(tx, email.account_id, email.email_id)
                if stored is None:
                    read.append((Prepared(email, sender, None, failure=GONE), []))
                    continue
                ctx = Context(email.account_id, tx, self.clock)
                pending, failure = await _pending_attachments(ctx, stored)
                read.append((Prepared(email, sender, stored, failure=failure), pending))
        return list(await asyncio.gather(*(self._made(item, pending) for item, pending in read)))

    async def _made(self, item: Prepared, pending: list[_Pending]) -> Prepared:
        """`item` with its pending attachments made, or the reason one could not be."""
        if item.failure is not None or not pending:
            return item
        made: list[AttachmentRow] = []
        for attachment in pending:
            try:
                async with self.renders:
                    content = await asyncio.to_thread(attachment.make)
            except Exception as failure:
                log.exception("email %s: making %s failed", item.claimed.email_id, attachment.ref)
                return _cannot_send(item, f"making {attachment.ref.filename} failed: {failure}")
            if len(content) > mail.ATTACHMENT_BYTES_MAX:
                too_large = f"{attachment.ref.filename} is over {mail.ATTACHMENT_BYTES_MAX} bytes"
                return _cannot_send(item, too_large, permanent=True)
            ref = attachment.ref
            made.append(AttachmentRow(ref.ordinal, ref.filename, ref.content_type, content))
        return Prepared(item.claimed, item.sender, item.email, tuple(made))

    async def _sender(self, tx: Transaction, account_id: str, known: dict[str, str]) -> str:
        if account_id not in known:
            account = await tx.get_account(account_id)
            known[account_id] = mail.sender_address(account, self.settings.mail_from)
        return known[account_id]

    async def _record_with_retries(
        self,
        outcomes: list[tuple[Prepared, SendResult]],
        attempted_ms: int,
        delivered_as: EmailStatus,
    ) -> None:
        """One transaction for the batch; a failed one (a deadlock PostgreSQL broke) left
        nothing behind and runs again. If all fail, the claims expire and the emails are
        sent again (at least once)."""
        for attempt in range(1, RECORD_ATTEMPTS_MAX + 1):
            try:
                await self._record(outcomes, attempted_ms, delivered_as)
                return
            except Exception:
                if attempt == RECORD_ATTEMPTS_MAX:
                    log.exception("recording %d email outcomes failed", len(outcomes))
                    return
                log.warning("recording email outcomes failed; retrying", exc_info=True)

    async def _record(
        self,
        outcomes: list[tuple[Prepared, SendResult]],
        attempted_ms: int,
        delivered_as: EmailStatus,
    ) -> None:
        async with self.store.write() as tx:
            for item, result in outcomes:
                await self._record_one(tx, item, result, attempted_ms, delivered_as)

    async def _record_one(
        self,
        tx: Transaction,
        item: Prepared,
        result: SendResult,
        attempted_ms: int,
        delivered_as: EmailStatus,
    ) -> None:
        email = item.claimed
        attempts = email.attempts + 1
        if result.error is None:
            await mail.record_delivered(
                tx,
                email.account_id,
                email.email_id,
                status=delivered_as,
                attempts=attempts,
                at_ms=attempted_ms,
                sender=item.sender,
                made=item.made,
            )
            return
        delay = None
        if not result.permanent:
            delay = next_retry_delay_ms(self.settings.retry_schedule, attempts, self.rng)
        log.warning(
            "email %s: attempt %d failed (%s)%s",
            email.email_id,
            attempts,
            result.error,
            "" if delay is None else f"; retrying in {delay / 1000:.0f} s",
        )
        await mail.record_failed_attempt(
            tx,
            email.account_id,
            email.email_id,
            attempts=attempts,
            error=result.error,
            retry_at_ms=None if delay is None else attempted_ms + delay,
        )


async def _pending_attachments(
    ctx: Context, email: StoredEmail
) -> tuple[list[_Pending], SendResult | None]:
    """What makes each of the email's attachments still to make, read with `ctx`; or why
    the email cannot be sent (what one is made from is gone: for good; reading it failed:
    this time)."""
    pending = []
    for ref in email.to_make:
        maker = ATTACHMENT_MAKERS[AttachmentKind(ref.kind)]
        try:
            pending.append(_Pending(ref, await maker(ctx, ref.ref_id)))
        except ResourceMissing:
            gone = f"{ref.filename}: {ref.kind} {ref.ref_id} is no longer stored"
            return [], SendResult(gone, permanent=True)
        except Exception as failure:
            log.exception("reading what %s is made from failed", ref)
            return [], SendResult(f"reading what {ref.filename} is made from failed: {failure}")
    return pending, None


def _cannot_send(item: Prepared, error: str, *, permanent: bool = False) -> Prepared:
    return Prepared(
        item.claimed, item.sender, item.email, failure=SendResult(error, permanent=permanent)
    )


# --- SMTP (runs on a worker thread) -----------------------------------------------------------


def send_batch(server: SmtpServer, messages: list[EmailMessage]) -> list[SendResult]:
    """Send `messages` over one connection; one result per message, in order. A failed
    connection fails every message not yet sent (they are retried)."""
    if not messages:
        return []
    results: list[SendResult] = []
    try:
        with _connect(server) as smtp:
            for message in messages:
                result = _send_one(smtp, message)
                results.append(result)
                if result.error is not None and not result.permanent:
                    break  # the server is in trouble: the rest wait for their retry
    except (smtplib.SMTPException, OSError) as failure:
        # Raised while connecting, sending (the message whose result is missing) or
        # saying goodbye (then every message has its result already).
        return results + [SendResult(_describe(failure))] * (len(messages) - len(results))
    skipped = SendResult("not attempted: an earlier message failed on this connection")
    return results + [skipped] * (len(messages) - len(results))


def _connect(server: SmtpServer) -> smtplib.SMTP:
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if server.implicit_tls:
        smtp = smtplib.SMTP_SSL(
            server.host,
            server.port,
            local_hostname=HELO_NAME,
            timeout=SMTP_TIMEOUT_SECONDS,
            context=context,
        )
    else:
        smtp = smtplib.SMTP(
            server.host, server.port, local_hostname=HELO_NAME, timeout=SMTP_TIMEOUT_SECONDS
        )
    try:
        smtp.ehlo()
        if not server.implicit_tls and smtp.has_extn("starttls"):
            smtp.starttls(context=context)
            smtp.ehlo()
        if server.username is not None:
            smtp.login(server.username, server.password or "")
    except BaseException:
        smtp.close()
        raise
    return smtp


def _send_one(smtp: smtplib.SMTP, message: EmailMessage) -> SendResult:
    try:
        smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as refused:
        codes = [code for code, _ in refused.recipients.values()]
        return SendResult(_describe(refused), permanent=all(code >= 500 for code in codes))
    except smtplib.SMTPResponseException as response:
        return SendResult(_describe(response), permanent=response.smtp_code >= 500)
    return SendResult()


def _describe(failure: Any) -> str:
    return f"{type(failure).__name__}: {failure}"[: mail.LAST_ERROR_CHARS_MAX]


async def run_mail(
    store: Store, clock: Clock, settings: MailSettings, stopping: asyncio.Event
) -> None:
    await MailWorker(store, clock, settings, stopping).run()
