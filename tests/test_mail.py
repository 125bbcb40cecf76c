"""Email through the outbox (`kassa.services.mail`) and the mail worker (`kassa.workers.mail`):
a real SMTP server (aiosmtpd, on a loopback port the test holds) receiving what `kassa serve` sends,
attachment included (given as bytes, or as a reference to an invoice whose PDF the worker
renders when it sends); an SMTP server that comes up late (the email is retried and arrives
once); a claim left by a crashed worker; the captured mailbox without SMTP, listed through
`GET /v1/test_helpers/emails`; an attachment whose invoice is gone; the outbox row
committed with the change or not at all; rendering in the customer's locale; and
reminders queued lazily from the last one sent.

Emails are queued in this process through Kassa's own services against the database the
server uses (the invoices that queue them in production arrive with the invoice API).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from io import BytesIO
from pathlib import Path
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo

import pytest
import stripe
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope
from pypdf import PdfReader
from stripe.params import CustomerCreateParams

from kassa.clock import FrozenClock, SystemClock
from kassa.config import Settings, smtp_server
from kassa.services import customers
from kassa.services.billing import invoice_emails
from kassa.services.billing.reminders import DEFAULT_OFFSETS_DAYS, scheduled_reminder
from kassa.services.context import Context
from kassa.services.customers import CreateCustomer
from kassa.services.mail import (
    Attachment,
    AttachmentKind,
    AttachmentRef,
    EmailKind,
    OutgoingEmail,
    queue_email,
)
from kassa.services.mail_rendering import choose_locale, format_money, locale_tag
from kassa.store import Store
from kassa.store.mail_queries import AttachmentRow
from kassa.store.tables import CUSTOMERS, EMAILS
from kassa.workers.mail import MailSettings, MailWorker, next_retry_delay_ms
from tests import loopback
from tests.direct_store import with_store
from tests.harness import Account, KassaServer, create_account
from tests.test_invoices import customer, invoice_of

T = TypeVar("T")

POLLS_MAX = 400
POLL_SECONDS = 0.05
"""Waiting for the worker: at most 20 s, though it takes a fraction of a second."""
PDF_BYTES = b"%PDF-1.4\n% Kassa test attachment\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"
NOW = 1_780_000_000  # 28 May 2026


# -- a real SMTP server --------------------------------------------------------------------------


class Inbox:
    """aiosmtpd's handler: keeps every message it is given; refuses recipients it is told to."""

    def __init__(self, refuse: str = "") -> None:
        self.messages: list[EmailMessage] = []
        self.refuse = refuse

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook names)
        self,
        server: SMTP,
        session: object,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self.refuse and address == self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: object, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or b""
        self.messages.append(BytesParser(policy=policy.default).parsebytes(raw))
        return "250 Message accepted"

    def with_id(self, message_id: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["Message-ID"] == message_id]


class _SharedPortController(Controller):
    """aiosmtpd's server in a thread of its own, listening on the test's `HeldPort` beside
    its holder (SO_REUSEPORT; `_create_server` is the method aiosmtpd leaves to subclasses
    for how to listen)."""

    def _create_server(self) -> Awaitable[asyncio.AbstractServer]:
        return self.loop.create_server(
            self._factory_invoker,
            host=self.hostname,
            port=self.port,
            ssl=self.ssl_context,
            reuse_port=True,
        )


@contextmanager
def smtp_on(port: int, inbox: Inbox) -> Iterator[Inbox]:
    """An SMTP server on `port` (the `smtp_port` the test holds) while the block runs."""
    controller = _SharedPortController(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


def wait_for(check: Callable[[], T | None], what: str) -> T:
    for _ in range(POLLS_MAX):
        found = check()
        if found is not None:
            return found
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"timed out waiting for {what}")


# -- queueing, in process ------------------------------------------------------------------------


def invoice(customer_id: str, **changes: Any) -> dict[str, Any]:
    """An open `send_invoice` invoice as the invoice API shows one (only the fields the
    emails read)."""
    return {
        "id": "in_" + customer_id[-10:],
        "object": "invoice",
        "account_name": "Kassa Test Shop",
        "amount_due": 123456,
        "amount_paid": 0,
        "amount_remaining": 123456,
        "collection_method": "send_invoice",
        "currency": "eur",
        "customer": customer_id,
        "customer_email": None,
        "customer_name": "Ada Lovelace",
        "due_date": NOW + 30 * 86_400,
        "hosted_invoice_url": "http://127.0.0.1:4242/kassa/invoices/in_test",
        "lines": {"data": [{"description": "Analytical engine", "amount": 123456}]},
        "number": "ADA-0001",
        "status": "open",
        "status_transitions": {"finalized_at": NOW, "paid_at": None},
        "total": 123456,
        **changes,
    }


def in_unit_of_work(
    database_url: str,
    account_id: str,
    work: Callable[[Context], Awaitable[T]],
    clock: FrozenClock | SystemClock | None = None,
) -> T:
    async def run(store: Store) -> T:
        async with store.write() as tx:
            return await work(Context(account_id, tx, clock or SystemClock()))

    return with_store(database_url, run)


def queue_invoice(database_url: str, account_id: str, customer_id: str) -> dict[str, Any]:
    async def work(ctx: Context) -> dict[str, Any]:
        queued = await invoice_emails.queue_invoice_email(ctx, invoice(customer_id), pdf=PDF_BYTES)
        assert queued is not None
        return queued

    return in_unit_of_work(database_url, account_id, work)


def new_customer(server: KassaServer, account: Account, **params: Any) -> str:
    client = server.client(account.secret_key)
    created = client.v1.customers.create(
        params=cast(
            CustomerCreateParams, {"email": "ada@example.com", "name": "Ada Lovelace", **params}
        )
    )
    return created.id


def api_email(server: KassaServer, account: Account, email_id: str) -> dict[str, Any]:
    with server.http(account.secret_key) as http:
        response = http.get(f"/v1/test_helpers/emails/{email_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def wait_for_status(
    server: KassaServer, account: Account, email_id: str, *statuses: str
) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        email = api_email(server, account, email_id)
        return email if email["status"] in statuses else None

    return wait_for(check, f"email {email_id} to be {' or '.join(statuses)}")


def mail_server(database_url: str, tmp_path: Path, smtp_port: int, **env: str) -> KassaServer:
    extra = {"KASSA_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}", **env}
    return KassaServer(database_url, tmp_path / "kassa-serve.log", extra_env=extra)


# -- SMTP, end to end ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivered:
    """An email Kassa sent to the test's SMTP server."""

    message: EmailMessage
    """As the SMTP server received it, exactly once."""
    email: dict[str, Any]
    """As the API shows it once sent."""
    stored: list[AttachmentRow]
    """Its attachments as Kassa keeps them."""


def delivered_through_smtp(
    database_url: str,
    tmp_path: Path,
    smtp_port: int,
    queue: Callable[[KassaServer, Account], tuple[dict[str, Any], T]],
) -> tuple[Delivered, T]:
    """Start Kassa with an SMTP server, make an account ("Kassa Test Shop") and queue one
    email with `queue` (it returns the email as the API shows it, and what else the test
    wants of what it did); wait until the server has received it and Kassa has recorded it
    sent."""
    with smtp_on(smtp_port, Inbox()) as inbox:
        kassa = mail_server(database_url, tmp_path, smtp_port).start()
        try:
            account = create_account(database_url, "Kassa Test Shop")
            queued, done = queue(kassa, account)
            received = wait_for(lambda: inbox.with_id(queued["message_id"]) or None, "the email")
            sent = wait_for_status(kassa, account, queued["id"], "sent")
            stored = with_store(database_url, stored_attachments(queued["id"]))
        finally:
            kassa.stop()
    assert len(received) == 1, "sent exactly once"
    return Delivered(received[0], sent, stored), done


def test_an_invoice_email_with_its_pdf_reaches_the_smtp_server(
    private_database_url: str, tmp_path: Path, smtp_port: int
) -> None:
    def queue(kassa: KassaServer, account: Account) -> tuple[dict[str, Any], None]:
        customer_id = new_customer(kassa, account, preferred_locales=["xx-XX", "de-DE"])
        return queue_invoice(private_database_url, account.id, customer_id), None

    delivered, _ = delivered_through_smtp(private_database_url, tmp_path, smtp_port, queue)
    message, sent = delivered.message, delivered.email
    assert message["To"] == "ada@example.com"
    assert message["From"] == "Kassa Test Shop <billing@kassa.localhost>"
    assert message["Subject"] == (
        "Invoice ADA-0001 from Kassa Test Shop: 1.234,56\xa0€ due 27. Juni 2026"
    )
    assert message["Content-Language"] == "de-DE"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    text_content = cast(EmailMessage, text).get_content()
    assert "Hello Ada Lovelace," in text_content
    assert "Amount due: 1.234,56\xa0€" in text_content
    assert "http://127.0.0.1:4242/kassa/invoices/in_test" in text_content
    assert (
        'href="http://127.0.0.1:4242/kassa/invoices/in_test"'
        in cast(EmailMessage, html).get_content()
    )
    attachments = list(message.iter_attachments())
    assert [a.get_filename() for a in attachments] == ["Invoice-ADA-0001.pdf"]
    assert attachments[0].get_content_type() == "application/pdf"
    assert attachments[0].get_content() == PDF_BYTES
    assert sent["attempts"] == 1 and sent["last_error"] is None
    assert sent["from"] == message["From"] and sent["delivered_at"] is not None
    assert sent["attachments"] == [
        {
            "content_type": "application/pdf",
            "filename": "Invoice-ADA-0001.pdf",
            "size": len(PDF_BYTES),
        }
    ]


def test_a_sent_invoice_reaches_the_smtp_server_with_the_pdf_the_worker_rendered(
    private_database_url: str, tmp_path: Path, smtp_port: int
) -> None:
    """The invoice API queues the email with its PDF by reference; the worker renders it
    when it sends, and keeps the bytes it sent with the email."""

    def queue(kassa: KassaServer, account: Account) -> tuple[dict[str, Any], stripe.Invoice]:
        client = kassa.client(account.secret_key)
        who = customer(client, payment_method=None)
        draft = invoice_of(
            client, who.id, 4200, collection_method="send_invoice", days_until_due=30
        )
        sent = client.v1.invoices.send_invoice(draft.id)
        with kassa.http(account.secret_key) as http:
            listed = http.get("/v1/test_helpers/emails", params={"invoice": sent.id}).json()
        [queued] = listed["data"]
        return queued, sent

    delivered, sent = delivered_through_smtp(private_database_url, tmp_path, smtp_port, queue)
    stored = delivered.stored
    [attachment] = list(delivered.message.iter_attachments())
    assert attachment.get_filename() == f"Invoice-{sent.number}.pdf"
    assert attachment.get_content_type() == "application/pdf"
    pdf = attachment.get_content()
    reader = PdfReader(BytesIO(pdf))
    assert str(sent.number) in "".join(page.extract_text() for page in reader.pages)
    assert [a.content for a in stored] == [pdf], "the bytes sent are kept with the email"
    assert delivered.email["attachments"] == [
        {
            "content_type": "application/pdf",
            "filename": f"Invoice-{sent.number}.pdf",
            "size": len(pdf),
        }
    ]


def stored_attachments(email_id: str) -> Callable[[Store], Awaitable[list[AttachmentRow]]]:
    async def read(store: Store) -> list[AttachmentRow]:
        async with store.read() as tx:
            return await tx.email_attachments(email_id)

    return read


def test_an_email_waits_for_an_smtp_server_that_comes_up_later(
    private_database_url: str, tmp_path: Path, smtp_port: int
) -> None:
    # Nothing listens on smtp_port yet: the first attempt is refused, retried a second later.
    kassa = mail_server(
        private_database_url, tmp_path, smtp_port, KASSA_MAIL_RETRY_SCHEDULE="1,1,1,1,1,1,1,1,1,1"
    ).start()
    try:
        account = create_account(private_database_url)
        customer_id = new_customer(kassa, account)
        queued = queue_invoice(private_database_url, account.id, customer_id)

        def failed_once() -> dict[str, Any] | None:
            email = api_email(kassa, account, queued["id"])
            return email if email["attempts"] >= 1 else None

        failed = wait_for(failed_once, "a failed first attempt")
        assert failed["status"] == "pending"
        assert "Connection refused" in failed["last_error"] or "Errno" in failed["last_error"]
        with smtp_on(smtp_port, Inbox()) as inbox:
            sent = wait_for_status(kassa, account, queued["id"], "sent")
            received = inbox.with_id(queued["message_id"])
    finally:
        kassa.stop()
    assert len(received) == 1, "sent exactly once"
    assert received[0]["To"] == "ada@example.com"
    assert sent["attempts"] >= 2 and sent["last_error"] is None


def test_a_claim_left_by_a_crashed_worker_expires_and_the_email_is_sent(
    private_database_url: str, tmp_path: Path, smtp_port: int
) -> None:
    """The email is queued and claimed while no server runs (as a worker that died mid-send
    would leave it); a server started afterwards sends it once the lease has passed."""
    account = create_account(private_database_url)

    async def queue_and_claim(ctx: Context) -> dict[str, Any]:
        email = await queue_email(
            ctx,
            OutgoingEmail(
                kind=EmailKind.RECEIPT,
                to="grace@example.com",
                subject="Your receipt",
                text="Thank you.",
                html="<p>Thank you.</p>",
                attachments=(Attachment("receipt.txt", "text/plain", b"paid"),),
            ),
        )
        now_ms = int(time.time() * 1000)
        claimed = await ctx.tx.claim_emails(now_ms, now_ms + 1_500, 10)
        assert [c.email_id for c in claimed] == [email["id"]]
        return email

    queued = in_unit_of_work(private_database_url, account.id, queue_and_claim)
    with smtp_on(smtp_port, Inbox()) as inbox:
        kassa = mail_server(private_database_url, tmp_path, smtp_port).start()
        try:
            sent = wait_for_status(kassa, account, queued["id"], "sent")
        finally:
            kassa.stop()
    received = inbox.with_id(queued["message_id"])
    assert len(received) == 1
    assert sent["attempts"] == 1
    attachment = next(received[0].iter_attachments())
    assert attachment.get_content().strip() == "paid"


# -- the worker in process, on a frozen clock ---------------------------------------------------


class InProcess:
    """A store, a frozen clock and a mail worker in this process: one event loop for all."""

    def __init__(self, store: Store, account_id: str, settings: MailSettings) -> None:
        self.store = store
        self.account_id = account_id
        self.clock = FrozenClock(time.time())
        self.worker = MailWorker(store, self.clock, settings, asyncio.Event(), random.Random(7))

    async def queue(self, to: str) -> str:
        async with self.store.write() as tx:
            email = await queue_email(
                Context(self.account_id, tx, self.clock),
                OutgoingEmail(EmailKind.RECEIPT, to, "Receipt", "Thanks.", "<p>Thanks.</p>"),
            )
        return str(email["id"])

    async def state(self, email_id: str) -> tuple[str, int] | None:
        async with self.store.read() as tx:
            return await tx.email_delivery_status(email_id)


def in_process(
    database_url: str,
    smtp_port: int,
    schedule: tuple[int, ...],
    scenario: Callable[[InProcess], Awaitable[None]],
) -> None:
    account = create_account(database_url)
    settings = MailSettings(
        smtp_server(Settings(smtp_url=f"smtp://127.0.0.1:{smtp_port}")),
        "billing@kassa.localhost",
        schedule,
    )

    async def run(store: Store) -> None:
        await scenario(InProcess(store, account.id, settings))

    with_store(database_url, run)


def test_failed_attempts_back_off_then_deliver_or_give_up(
    private_database_url: str, smtp_port: int
) -> None:
    inbox = Inbox()

    async def scenario(kassa: InProcess) -> None:
        first, second = await kassa.queue("a@example.com"), await kassa.queue("b@example.com")
        assert await kassa.worker.run_once() == 2  # refused: nothing listens on the port
        assert await kassa.state(first) == ("pending", 1)
        assert await kassa.worker.run_once() == 0, "not due before its backoff"
        kassa.clock.advance(60 * 1.1 + 1)
        with smtp_on(smtp_port, inbox):
            assert await kassa.worker.run_once() == 2
        assert await kassa.state(first) == ("sent", 2)
        assert await kassa.state(second) == ("sent", 2)
        # A third email never gets through: after the schedule's two retries it has failed.
        third = await kassa.queue("c@example.com")
        for attempts, wait in ((1, 0.0), (2, 60 * 1.1 + 1), (3, 300 * 1.1 + 1)):
            kassa.clock.advance(wait)
            assert await kassa.worker.run_once() == 1
            assert await kassa.state(third) == ("failed" if attempts == 3 else "pending", attempts)
        kassa.clock.advance(86_400)
        assert await kassa.worker.run_once() == 0

    in_process(private_database_url, smtp_port, (60, 300), scenario)
    assert sorted(m["To"] for m in inbox.messages) == ["a@example.com", "b@example.com"]


def test_a_permanent_refusal_is_not_retried(private_database_url: str, smtp_port: int) -> None:
    inbox = Inbox(refuse="nobody@example.com")

    async def scenario(kassa: InProcess) -> None:
        refused = await kassa.queue("nobody@example.com")
        accepted = await kassa.queue("somebody@example.com")
        with smtp_on(smtp_port, inbox):
            assert await kassa.worker.run_once() == 2
            assert await kassa.state(refused) == ("failed", 1)
            assert await kassa.state(accepted) == ("sent", 1)
            kassa.clock.advance(3_600)
            assert await kassa.worker.run_once() == 0

    in_process(private_database_url, smtp_port, (1,), scenario)
    assert [m["To"] for m in inbox.messages] == ["somebody@example.com"]


def test_retry_delays_follow_the_schedule_with_bounded_jitter() -> None:
    rng = random.Random(1)
    schedule = (60, 300)
    for attempts, base in ((1, 60_000), (2, 300_000)):
        for _ in range(50):
            delay = next_retry_delay_ms(schedule, attempts, rng)
            assert delay is not None and 0.9 * base <= delay <= 1.1 * base
    assert next_retry_delay_ms(schedule, 3, rng) is None


def test_an_email_whose_attachment_cannot_be_made_fails_and_others_are_captured(
    private_database_url: str,
) -> None:
    """No SMTP server: an email without attachments to make is captured in the claiming
    transaction; one whose PDF is of an invoice that is not stored fails for good, and its
    bytes attachment is kept as it was."""
    account = create_account(private_database_url)
    settings = MailSettings(None, "billing@kassa.localhost", (60,))

    async def scenario(store: Store) -> None:
        worker = MailWorker(store, FrozenClock(time.time()), settings, asyncio.Event())
        async with store.write() as tx:
            ctx = Context(account.id, tx, worker.clock)
            plain = await queue_email(
                ctx, OutgoingEmail(EmailKind.RECEIPT, "a@example.com", "Paid", "Thanks.", "<p/>")
            )
            missing_pdf = AttachmentRef(AttachmentKind.INVOICE_PDF, "in_NotStored0001")
            broken = await queue_email(
                ctx,
                OutgoingEmail(
                    EmailKind.INVOICE,
                    "b@example.com",
                    "Invoice",
                    "Attached.",
                    "<p/>",
                    attachments=(
                        Attachment("notes.txt", "text/plain", b"hello"),
                        Attachment("Invoice-X.pdf", "application/pdf", missing_pdf),
                    ),
                ),
            )
        assert [a["size"] for a in broken["attachments"]] == [5, None]
        assert await worker.run_once() == 2
        async with store.read() as tx:
            assert await tx.email_delivery_status(plain["id"]) == ("captured", 1)
            assert await tx.email_delivery_status(broken["id"]) == ("failed", 1)
            found = await tx.get_object(EMAILS, account.id, broken["id"])
            made = await tx.email_attachments(broken["id"])
        assert found is not None
        assert "in_NotStored0001 is no longer stored" in found[0]["last_error"]
        assert [a["size"] for a in found[0]["attachments"]] == [5, None]
        assert [(a.filename, a.content) for a in made] == [("notes.txt", b"hello")]
        assert await worker.run_once() == 0, "failed for good: not retried"

    with_store(private_database_url, scenario)


# -- the captured mailbox ------------------------------------------------------------------------


def test_without_smtp_emails_land_in_the_captured_mailbox(
    server: KassaServer, account: Account
) -> None:
    customer_id = new_customer(server, account, email="lin@example.com")
    queued = queue_invoice(server.database_url, account.id, customer_id)
    captured = wait_for_status(server, account, queued["id"], "captured")
    assert captured["to"] == "lin@example.com"
    assert captured["kind"] == "invoice" and captured["invoice"] == queued["invoice"]
    assert captured["customer"] == customer_id
    assert captured["subject"].startswith("Invoice ADA-0001 from Kassa Test Shop: €1,234.56")
    assert captured["locale"] == "en"
    assert captured["attachments"][0]["filename"] == "Invoice-ADA-0001.pdf"
    assert set(captured) == {
        "id", "object", "attachments", "attempts", "created", "customer", "delivered_at",
        "from", "html", "invoice", "kind", "last_error", "livemode", "locale", "message_id",
        "status", "subject", "text", "to",
    }  # fmt: skip
    with server.http(account.secret_key) as http:

        def listed(**params: str) -> list[str]:
            response = http.get("/v1/test_helpers/emails", params=params)
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["object"] == "list" and body["url"] == "/v1/test_helpers/emails"
            return [email["id"] for email in body["data"]]

        assert listed() == [queued["id"]]
        assert listed(to="lin@example.com") == [queued["id"]]
        assert listed(invoice=queued["invoice"], kind="invoice", status="captured") == [
            queued["id"]
        ]
        assert listed(to="someone@example.com") == []
        assert listed(kind="receipt") == []
        bad = http.get("/v1/test_helpers/emails", params={"kind": "spam"})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "kind"
        unknown = http.get("/v1/test_helpers/emails", params={"subject": "x"})
        assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "subject"
        expanded = http.get(
            f"/v1/test_helpers/emails/{queued['id']}", params={"expand[]": "customer"}
        )
        assert expanded.json()["customer"]["id"] == customer_id
    # Another account sees none of it.
    other = create_account(server.database_url)
    with server.http(other.secret_key) as http:
        assert http.get(f"/v1/test_helpers/emails/{queued['id']}").status_code == 404
        assert http.get("/v1/test_helpers/emails").json()["data"] == []
    with loopback.Client(base_url=server.url) as anonymous:
        assert anonymous.get("/v1/test_helpers/emails").status_code == 401


def test_a_customer_without_an_address_gets_no_email(server: KassaServer, account: Account) -> None:
    client = server.client(account.secret_key)
    customer_id = client.v1.customers.create(params={"name": "No Mail"}).id

    async def work(ctx: Context) -> object:
        return await invoice_emails.queue_invoice_email(ctx, invoice(customer_id))

    assert in_unit_of_work(server.database_url, account.id, work) is None


# -- one transaction ---------------------------------------------------------------------------


class Rollback(Exception):
    pass


def test_the_outbox_row_commits_with_the_change_or_not_at_all(
    server: KassaServer, account: Account
) -> None:
    async def change_and_email(ctx: Context, fail: bool) -> tuple[str, str]:
        customer = await customers.create_customer(ctx, CreateCustomer(email="tx@example.com"))
        email = await invoice_emails.queue_receipt_email(ctx, invoice(customer["id"]), customer)
        assert email is not None
        if fail:
            raise Rollback(customer["id"], email["id"])
        return customer["id"], email["id"]

    async def attempt(store: Store, fail: bool) -> tuple[str, str]:
        try:
            async with store.write() as tx:
                return await change_and_email(Context(account.id, tx, SystemClock()), fail)
        except Rollback as rolled_back:
            return cast(tuple[str, str], rolled_back.args)

    async def exists(store: Store, ids: tuple[str, str]) -> tuple[bool, bool, bool]:
        async with store.read() as tx:
            customer = await tx.get_object(CUSTOMERS, account.id, ids[0])
            email = await tx.get_object(EMAILS, account.id, ids[1])
            delivery = await tx.email_delivery_status(ids[1])
        return customer is not None, email is not None, delivery is not None

    async def scenario(store: Store) -> list[tuple[bool, bool, bool]]:
        rolled_back = await attempt(store, fail=True)
        committed = await attempt(store, fail=False)
        return [await exists(store, rolled_back), await exists(store, committed)]

    assert with_store(server.database_url, scenario) == [(False, False, False), (True, True, True)]


# -- locale ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("preferred", "amount", "currency", "tag", "shown"),
    [
        (["de-DE"], 123456, "eur", "de-DE", "1.234,56\xa0€"),
        (["fr-FR", "en"], 123456, "eur", "fr-FR", "1\u202f234,56\xa0€"),
        (["ja"], 5000, "jpy", "ja", "￥5,000"),
        (["en-US"], 5124, "kwd", "en-US", "KWD5.124"),
        (["xx-Nowhere", "@@"], 999, "usd", "en", "$9.99"),
        ([], 50, "usd", "en", "$0.50"),
    ],
)
def test_amounts_are_formatted_in_the_first_locale_babel_knows(
    preferred: list[str], amount: int, currency: str, tag: str, shown: str
) -> None:
    locale = choose_locale(preferred)
    assert locale_tag(locale) == tag
    assert format_money(amount, currency, locale) == shown


def test_dates_are_the_local_day_in_the_accounts_zone() -> None:
    due = int(dt.datetime(2026, 3, 10, 3, 0, tzinfo=dt.UTC).timestamp())
    values = invoice_emails.invoice_values(
        invoice("cus_x", due_date=due), choose_locale(["de-DE"]), ZoneInfo("America/New_York")
    )
    assert values["due_date"] == "9. März 2026"
    assert values["amount_due"] == "1.234,56\xa0€"


def test_html_escapes_what_the_customer_and_merchant_wrote() -> None:
    from kassa.services.mail_rendering import render_email

    evil = invoice("cus_x", customer_name="<script>x</script>", account_name="A & B\nBcc: x@y")
    values = invoice_emails.invoice_values(evil, choose_locale(["en"]), ZoneInfo("Etc/UTC"))
    rendered = render_email("invoice", {**values, "has_pdf": False}, choose_locale(["en"]))
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html
    assert "\n" not in rendered.subject and "A & B Bcc: x@y" in rendered.subject


# -- reminders, queued lazily ----------------------------------------------------------------------


def test_reminders_are_queued_once_each_as_they_fall_due(
    server: KassaServer, account: Account
) -> None:
    customer_id = new_customer(server, account, email="due@example.com")
    open_invoice = invoice(customer_id, due_date=NOW + 10 * 86_400)
    zone = ZoneInfo("Etc/UTC")  # a new account's `settings.dashboard.timezone`
    at = {
        offset: scheduled_reminder(open_invoice["due_date"], offset, zone).send_at
        for offset in DEFAULT_OFFSETS_DAYS
    }

    def check(now: int, current: Mapping[str, Any] = open_invoice) -> invoice_emails.ReminderCheck:
        async def work(ctx: Context) -> invoice_emails.ReminderCheck:
            return await invoice_emails.queue_due_reminder(ctx, current, None, DEFAULT_OFFSETS_DAYS)

        return in_unit_of_work(server.database_url, account.id, work, FrozenClock(now))

    early = check(NOW + 86_400)
    assert (early.reminder, early.email, early.next_at) == (None, None, at[-7])
    before = check(at[-7] + 60)
    assert before.reminder is not None and before.reminder.offset_days == -7
    assert before.email is not None and before.email["kind"] == "reminder_before_due"
    assert before.event_type == "invoice.will_be_due" and before.next_at == at[0]
    assert "due in 7 days" in before.email["text"]
    again = check(at[-7] + 120)
    assert again.email is None and again.next_at == at[0], "a reminder is sent once"
    on = check(at[0] + 60)
    assert on.email is not None and on.email["kind"] == "reminder_on_due"
    assert on.event_type == "invoice.will_be_due"
    late = check(at[14] + 60)  # the 7-day reminder was missed: only the 14-day one goes
    assert late.email is not None and late.email["kind"] == "reminder_after_due"
    assert late.reminder is not None and late.reminder.offset_days == 14
    assert late.event_type == "invoice.overdue" and late.next_at == at[30]
    assert "now 14 days overdue" in late.email["text"]
    paid = check(at[30] + 60, {**open_invoice, "status": "paid"})
    assert (paid.reminder, paid.email, paid.next_at) == (None, None, None)
    with server.http(account.secret_key) as http:
        kinds = [
            e["kind"]
            for e in http.get(
                "/v1/test_helpers/emails", params={"invoice": open_invoice["id"]}
            ).json()["data"]
        ]
    assert kinds == ["reminder_after_due", "reminder_on_due", "reminder_before_due"]
