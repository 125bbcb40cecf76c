"""The mail worker: claims due emails from the outbox in bounded batches and sends them over
SMTP (`KASSA_SMTP_URL`), or, with no SMTP server configured, delivers them into the captured
mailbox (marks them `captured`, in one transaction per batch).

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
import contextlib
import logging
import random
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from kassa.clock import Clock
from kassa.config import Settings, SmtpServer, mail_retry_schedule, smtp_server
from kassa.services import mail
from kassa.services.mail import EmailStatus
from kassa.store import Store, Transaction
from kassa.store.mail_queries import ClaimedEmail

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
class Outgoing:
    claimed: ClaimedEmail
    message: EmailMessage | None
    """None: the email is gone (nothing to send; its delivery is marked failed)."""
    sender: str


@dataclass(frozen=True)
class SendResult:
    error: str | None = None
    permanent: bool = False
    """The server refused this message for good (5xx): no retry."""


GONE = SendResult("the email is no longer stored", permanent=True)


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

    def _now_ms(self) -> int:
        return int(self.clock.now() * 1000)

    async def run(self) -> None:
        while not self.stopping.is_set():
            try:
                handled = await self.run_once()
            except Exception:
                log.exception("the mail worker's batch failed; will retry")
                handled = 0
            if handled == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), IDLE_POLL_SECONDS)

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
            for email in claimed:
                await mail.record_delivered(
                    tx,
                    email.account_id,
                    email.email_id,
                    status=EmailStatus.CAPTURED,
                    attempts=email.attempts + 1,
                    at_ms=now_ms,
                    sender=await self._sender(tx, email.account_id, accounts),
                )
        return len(claimed)

    async def _send(self, server: SmtpServer, now_ms: int) -> int:
        async with self.store.write() as tx:
            claimed = await tx.claim_emails(now_ms, now_ms + self.settings.claim_ms, SMTP_BATCH_MAX)
        if not claimed:
            return 0
        outgoing = await self._load(claimed)
        messages = [item.message for item in outgoing if item.message is not None]
        attempted_ms = self._now_ms()
        results = iter(await asyncio.to_thread(send_batch, server, messages))
        outcomes = [
            (item, next(results) if item.message is not None else GONE) for item in outgoing
        ]
        await self._record_with_retries(outcomes, attempted_ms)
        return len(claimed)

    async def _load(self, claimed: list[ClaimedEmail]) -> list[Outgoing]:
        accounts: dict[str, str] = {}
        outgoing = []
        async with self.store.read() as tx:
            for email in claimed:
                sender = await self._sender(tx, email.account_id, accounts)
                loaded = await mail.load_claimed(tx, email.account_id, email.email_id)
                message = None
                if loaded is not None:
                    message = mail.mime_message(loaded[0], loaded[1], sender)
                outgoing.append(Outgoing(email, message, sender))
        return outgoing

    async def _sender(self, tx: Transaction, account_id: str, known: dict[str, str]) -> str:
        if account_id not in known:
            account = await tx.get_account(account_id)
            known[account_id] = mail.sender_address(account, self.settings.mail_from)
        return known[account_id]

    async def _record_with_retries(
        self, outcomes: list[tuple[Outgoing, SendResult]], attempted_ms: int
    ) -> None:
        """One transaction for the batch; a failed one (a deadlock PostgreSQL broke) left
        nothing behind and runs again. If all fail, the claims expire and the emails are
        sent again (at least once)."""
        for attempt in range(1, RECORD_ATTEMPTS_MAX + 1):
            try:
                await self._record(outcomes, attempted_ms)
                return
            except Exception:
                if attempt == RECORD_ATTEMPTS_MAX:
                    log.exception("recording %d email outcomes failed", len(outcomes))
                    return
                log.warning("recording email outcomes failed; retrying", exc_info=True)

    async def _record(self, outcomes: list[tuple[Outgoing, SendResult]], attempted_ms: int) -> None:
        async with self.store.write() as tx:
            for item, result in outcomes:
                await self._record_one(tx, item, result, attempted_ms)

    async def _record_one(
        self, tx: Transaction, item: Outgoing, result: SendResult, attempted_ms: int
    ) -> None:
        email = item.claimed
        attempts = email.attempts + 1
        if result.error is None:
            await mail.record_delivered(
                tx,
                email.account_id,
                email.email_id,
                status=EmailStatus.SENT,
                attempts=attempts,
                at_ms=attempted_ms,
                sender=item.sender,
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
