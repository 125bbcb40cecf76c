"""The emails invoices send, through the outbox into the captured mailbox (no SMTP server:
`GET /v1/test_helpers/emails`; tests/test_mail.py has the real SMTP server): the invoice
email with its PDF when a `send_invoice` invoice is sent (by the API and by auto-advance;
the PDF referenced in the sending transaction and rendered by the mail worker), a receipt
when a payment settles an invoice, the payment-failed email on a decline, and the payment
reminders of the `invoices` job, run in this process on a clock set ahead through the due
date, with their `invoice.will_be_due` and `invoice.overdue` events."""

from __future__ import annotations

import asyncio
import io
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import stripe
from pypdf import PdfReader

from kassa import observers
from kassa.clock import FrozenClock, SystemClock
from kassa.config import Settings
from kassa.services import hooks
from kassa.services.billing import invoice_documents, invoices
from kassa.services.billing.invoice_advance import advance_due_invoices
from kassa.services.billing.invoice_reminders import reschedule_reminders, send_due_reminders
from kassa.services.billing.reminders import scheduled_reminder
from kassa.services.context import Context
from kassa.services.setup import load_payment_config
from kassa.store import Store
from kassa.store.mail_queries import AttachmentRefRow, AttachmentRow
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import EMAILS
from kassa.workers.mail import MailSettings, MailWorker
from tests.direct_store import with_store
from tests.harness import Account, KassaServer, create_account
from tests.test_invoices import HOUR, customer, event_types, invoice_of
from tests.test_subscriptions import JAN_31_2027, advance

Client = stripe.StripeClient
UTC = ZoneInfo("Etc/UTC")
"""The test accounts' time zone (`settings.dashboard.timezone`): reminders go out at 09:00."""
REMINDER_KINDS = ("reminder_before_due", "reminder_on_due", "reminder_after_due")
POLLS_MAX = 400
POLL_SECONDS = 0.05
"""Waiting for the mail worker to capture an email: at most 20 s (it takes well under one)."""


def emails_of(server: KassaServer, account: Account, invoice_id: str) -> list[dict[str, Any]]:
    """The invoice's emails in the captured mailbox, oldest first."""
    with server.http(account.secret_key) as http:
        response = http.get("/v1/test_helpers/emails", params={"invoice": invoice_id})
    assert response.status_code == 200, response.text
    emails: list[dict[str, Any]] = response.json()["data"]
    return list(reversed(emails))


def kinds(server: KassaServer, account: Account, invoice_id: str) -> Counter[str]:
    return Counter(email["kind"] for email in emails_of(server, account, invoice_id))


def attachments(server: KassaServer, email_id: str) -> list[AttachmentRow]:
    async def read(store: Store) -> list[AttachmentRow]:
        async with store.read() as tx:
            return await tx.email_attachments(email_id)

    return with_store(server.database_url, read)


def captured(server: KassaServer, account: Account, email_id: str) -> dict[str, Any]:
    """The email once the server's mail worker has captured it (and made its attachments)."""
    with server.http(account.secret_key) as http:
        for _ in range(POLLS_MAX):
            email: dict[str, Any] = http.get(f"/v1/test_helpers/emails/{email_id}").json()
            if email["status"] != "pending":
                assert email["status"] == "captured", email
                return email
            time.sleep(POLL_SECONDS)
    raise AssertionError(f"email {email_id} was not captured")


def pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)


def run_invoices_job_at(server: KassaServer, now: int, reminder_days: str | None = None) -> int:
    """What the `invoices` job does once, run in this process at `now`: advance, then
    remind; the number of invoices reminded. `reminder_days`: a process started with that
    `KASSA_INVOICE_REMINDER_DAYS`, its startup step run first."""
    hooks.install(observers.OBSERVERS)
    settings = Settings(database_url=server.database_url)
    if reminder_days is not None:
        settings = Settings(database_url=server.database_url, invoice_reminder_days=reminder_days)

    async def run(store: Store) -> int:
        payments = await load_payment_config(store, settings)
        clock = FrozenClock(now)
        if reminder_days is not None:
            await reschedule_reminders(store, clock, payments)
        await advance_due_invoices(store, clock, payments)
        return await send_due_reminders(store, clock, payments)

    return with_store(server.database_url, run)


def capture_due_emails_at(server: KassaServer, now: int) -> int:
    """What the mail worker does once (no SMTP server: capture), run in this process at
    `now`: an email queued by a job run at `now` is due then, not in real time."""

    async def run(store: Store) -> int:
        settings = MailSettings(None, "billing@kassa.localhost", (60,))
        return await MailWorker(store, FrozenClock(now), settings, asyncio.Event()).run_once()

    return with_store(server.database_url, run)


def queued_with(
    server: KassaServer,
    account: Account,
    invoice_id: str,
    act: Callable[[Context], Awaitable[dict[str, Any]]],
) -> tuple[dict[str, Any], dict[str, Any], list[AttachmentRefRow], list[AttachmentRow]]:
    """`act` run in this process as the API runs it, and the invoice's one email read in the
    same transaction, before it commits: what `act` returned, the email, its attachments
    declared by reference and those already made."""
    hooks.install(observers.OBSERVERS)

    async def act_and_look(store: Store) -> tuple[Any, ...]:
        payments = await load_payment_config(store, Settings(database_url=server.database_url))
        async with store.write() as tx:
            done = await act(Context(account.id, tx, SystemClock(), payments=payments))
            page = await tx.list_objects(
                EMAILS, account.id, ObjectListQuery(limit=10, equals={"invoice": invoice_id})
            )
            [email] = page.objects
            refs = await tx.email_attachment_refs(email["id"])
            made = await tx.email_attachments(email["id"])
        return done, email, refs, made

    done, email, refs, made = with_store(server.database_url, act_and_look)
    return done, email, refs, made


def send_invoice_draft(client: Client, customer_id: str, **params: Any) -> stripe.Invoice:
    return invoice_of(
        client, customer_id, 4200, collection_method="send_invoice", days_until_due=30, **params
    )


# --- the invoice email ------------------------------------------------------------------------


def test_sending_an_invoice_emails_it_with_its_pdf(
    server: KassaServer, account: Account, client: Client
) -> None:
    who = customer(client, payment_method=None)
    sent = client.v1.invoices.send_invoice(send_invoice_draft(client, who.id).id)
    assert sent.number is not None and sent.hosted_invoice_url is not None
    [email] = emails_of(server, account, sent.id)
    assert (email["kind"], email["to"], email["customer"]) == (
        "invoice",
        "billing@example.com",
        who.id,
    )
    assert sent.number in email["subject"]
    assert sent.hosted_invoice_url in email["text"]
    email = captured(server, account, email["id"])
    [attachment] = attachments(server, email["id"])
    assert attachment.filename == f"Invoice-{sent.number}.pdf"
    assert attachment.content_type == "application/pdf"
    assert attachment.content.startswith(b"%PDF-")
    assert sent.number in pdf_text(attachment.content)
    assert email["attachments"] == [
        {
            "content_type": "application/pdf",
            "filename": f"Invoice-{sent.number}.pdf",
            "size": len(attachment.content),
        }
    ]


def test_a_paid_invoice_can_be_sent_without_a_link_to_pay_and_a_void_one_cannot(
    server: KassaServer, account: Account, client: Client
) -> None:
    who = customer(client, payment_method=None)
    invoice = client.v1.invoices.finalize_invoice(send_invoice_draft(client, who.id).id)
    paid = client.v1.invoices.pay(invoice.id, params={"paid_out_of_band": True})
    assert paid.status == "paid"
    sent = client.v1.invoices.send_invoice(paid.id)
    assert sent.status == "paid"
    assert event_types(client, paid.id)[-1] == "invoice.sent"
    [email] = [e for e in emails_of(server, account, paid.id) if e["kind"] == "invoice"]
    assert paid.number in email["subject"]
    assert "View and pay" not in email["text"]
    assert str(paid.hosted_invoice_url) not in email["text"]

    voided = client.v1.invoices.finalize_invoice(send_invoice_draft(client, who.id).id)
    client.v1.invoices.void_invoice(voided.id)
    with pytest.raises(stripe.InvalidRequestError, match="cannot be sent right now"):
        client.v1.invoices.send_invoice(voided.id)


def test_sending_a_draft_its_finalization_pays_still_sends_it(
    server: KassaServer, account: Account, client: Client
) -> None:
    """Stripe finalizes a draft it is asked to send, then sends it, whatever finalizing did:
    a $0 draft, or one the customer's credit covers, is paid at finalization and still
    emailed ("When sending invoices that have already been paid, there will be no reference
    to the payment in the email") with `invoice.sent`."""
    who = customer(client, payment_method=None)
    free = invoice_of(client, who.id, 0, collection_method="send_invoice", days_until_due=30)
    credited = client.v1.customers.create(params={"email": "credit@example.com", "balance": -5000})
    covered = send_invoice_draft(client, credited.id)
    for draft in (free, covered):
        sent = client.v1.invoices.send_invoice(draft.id)
        assert (sent.status, sent.amount_remaining) == ("paid", 0)
        assert event_types(client, draft.id)[-1] == "invoice.sent"
        assert "invoice.paid" in event_types(client, draft.id)
        [email] = [e for e in emails_of(server, account, draft.id) if e["kind"] == "invoice"]
        assert sent.number is not None and sent.number in email["subject"]
        assert "View and pay" not in email["text"]


def test_the_email_names_the_account_as_its_invoice_and_pdf_do(server: KassaServer) -> None:
    shop = create_account(server.database_url, name="Walk Shop")
    client = server.client(shop.secret_key)
    invoice = client.v1.invoices.send_invoice(send_invoice_draft(client, customer(client).id).id)
    # The account's public name, as on the PDF and in the From header, not "Kassa".
    assert invoice.account_name == "Walk Shop"
    [email] = emails_of(server, shop, invoice.id)
    assert f"Walk Shop sent you invoice {invoice.number}" in email["text"]


def test_sending_commits_the_email_with_a_reference_and_the_worker_renders_the_pdf(
    server: KassaServer, account: Account, client: Client
) -> None:
    """The invoice is sent in this process as the API sends it, and the outbox is read in
    the same transaction, before it commits: the email holds a reference to the invoice's
    PDF, and nothing has been rendered. The server's mail worker renders it afterwards, from
    the invoice as stored then."""
    who = customer(client, payment_method=None)
    draft = send_invoice_draft(client, who.id)
    sent, queued, refs, made = queued_with(
        server, account, draft.id, lambda ctx: invoices.send_invoice(ctx, draft.id)
    )
    number = str(sent["number"])
    filename = f"Invoice-{number}.pdf"
    assert refs == [AttachmentRefRow(0, filename, "application/pdf", "invoice_pdf", draft.id)]
    assert made == []
    assert queued["status"] == "pending"
    assert queued["attachments"] == [
        {"content_type": "application/pdf", "filename": filename, "size": None}
    ]
    email = captured(server, account, queued["id"])
    [attachment] = attachments(server, email["id"])
    assert (attachment.ordinal, attachment.filename) == (0, filename)
    assert number in pdf_text(attachment.content)
    assert email["attachments"] == [
        {"content_type": "application/pdf", "filename": filename, "size": len(attachment.content)}
    ]


def test_auto_advance_sends_the_email_after_finalizing(
    server: KassaServer, account: Account, client: Client
) -> None:
    who = customer(client, payment_method=None)
    draft = send_invoice_draft(client, who.id, auto_advance=True)
    assert kinds(server, account, draft.id) == Counter()
    run_invoices_job_at(server, draft.created + HOUR + 1)
    opened = client.v1.invoices.retrieve(draft.id)
    assert opened.status == "open"
    [email] = emails_of(server, account, draft.id)
    assert email["kind"] == "invoice"
    assert attachments(server, email["id"]) == []  # not rendered in the job's transaction
    assert capture_due_emails_at(server, draft.created + HOUR + 1) >= 1
    [attachment] = attachments(server, email["id"])
    assert str(opened.number) in pdf_text(attachment.content)
    [email] = emails_of(server, account, draft.id)
    assert email["status"] == "captured"
    assert email["attachments"][0]["size"] == len(attachment.content)


def test_a_customer_without_an_email_address_gets_no_email(
    server: KassaServer, account: Account, client: Client
) -> None:
    nobody = client.v1.customers.create(params={"name": "No Address"})
    sent = client.v1.invoices.send_invoice(send_invoice_draft(client, nobody.id).id)
    assert sent.status == "open"
    assert emails_of(server, account, sent.id) == []


# --- receipts and failed payments -------------------------------------------------------------


def test_paying_an_invoice_queues_a_receipt(
    server: KassaServer, account: Account, client: Client, ledger_verified: None
) -> None:
    who = customer(client)
    invoice = client.v1.invoices.finalize_invoice(invoice_of(client, who.id, 2000).id)
    assert kinds(server, account, invoice.id) == Counter()
    paid = client.v1.invoices.pay(invoice.id)
    assert paid.status == "paid"
    [receipt] = emails_of(server, account, invoice.id)
    assert (receipt["kind"], receipt["to"]) == ("receipt", "billing@example.com")
    out_of_band = client.v1.invoices.finalize_invoice(invoice_of(client, who.id, 700).id)
    client.v1.invoices.pay(out_of_band.id, params={"paid_out_of_band": True})
    assert emails_of(server, account, out_of_band.id) == []  # no money moved, no receipt


def test_a_declined_payment_queues_the_payment_failed_email(
    server: KassaServer, account: Account, client: Client, ledger_verified: None
) -> None:
    who = customer(client, payment_method="pm_card_chargeCustomerFail")
    invoice = client.v1.invoices.finalize_invoice(invoice_of(client, who.id, 1500).id)
    with pytest.raises(stripe.CardError):
        client.v1.invoices.pay(invoice.id)
    [failed] = emails_of(server, account, invoice.id)
    assert failed["kind"] == "payment_failed"
    paid = client.v1.invoices.pay(invoice.id, params={"payment_method": "pm_card_visa"})
    assert paid.status == "paid"
    assert kinds(server, account, invoice.id) == Counter({"payment_failed": 1, "receipt": 1})


# --- reminders --------------------------------------------------------------------------------


def reminder_at(invoice: stripe.Invoice, offset_days: int) -> int:
    assert invoice.due_date is not None
    return scheduled_reminder(invoice.due_date, offset_days, UTC).send_at


def reminder_events(client: Client, invoice_id: str) -> Counter[str]:
    found = event_types(client, invoice_id)
    return Counter(t for t in found if t in ("invoice.will_be_due", "invoice.overdue"))


def finalize_reminded(client: Client, customer_id: str) -> stripe.Invoice:
    """A `send_invoice` invoice finalized into the billing engine's hands (`auto_advance`):
    sent at once, then reminded; with `auto_advance=false` it would get no reminders."""
    draft = send_invoice_draft(client, customer_id)
    return client.v1.invoices.finalize_invoice(draft.id, params={"auto_advance": True})


def reminded(server: KassaServer, account: Account, invoice_id: str) -> Counter[str]:
    """The invoice's emails by kind, but the invoice email its finalization sent."""
    found = kinds(server, account, invoice_id)
    assert found.pop("invoice", 0) == 1
    return found


def test_reminders_go_out_once_each_until_the_invoice_is_paid(
    server: KassaServer, account: Account, client: Client
) -> None:
    who = customer(client)
    invoice = finalize_reminded(client, who.id)
    voided = finalize_reminded(client, who.id)
    client.v1.invoices.void_invoice(voided.id)
    week_before = reminder_at(invoice, -7)
    run_invoices_job_at(server, week_before - 1)
    assert reminded(server, account, invoice.id) == Counter()
    assert reminder_events(client, invoice.id) == Counter()

    for now in (week_before, week_before + 1, week_before + HOUR):
        run_invoices_job_at(server, now)
    assert reminded(server, account, invoice.id) == Counter({"reminder_before_due": 1})
    assert reminder_events(client, invoice.id) == Counter({"invoice.will_be_due": 1})

    for now in (reminder_at(invoice, 0), reminder_at(invoice, 0) + HOUR):
        run_invoices_job_at(server, now)
    assert reminded(server, account, invoice.id) == Counter(
        {"reminder_before_due": 1, "reminder_on_due": 1}
    )
    assert reminder_events(client, invoice.id) == Counter({"invoice.will_be_due": 2})

    for now in (reminder_at(invoice, 7), reminder_at(invoice, 7) + HOUR):
        run_invoices_job_at(server, now)
    assert reminded(server, account, invoice.id) == Counter(dict.fromkeys(REMINDER_KINDS, 1))
    assert reminder_events(client, invoice.id) == Counter(
        {"invoice.will_be_due": 2, "invoice.overdue": 1}
    )
    overdue = emails_of(server, account, invoice.id)[-1]
    assert (overdue["kind"], overdue["to"]) == ("reminder_after_due", "billing@example.com")

    paid = client.v1.invoices.pay(invoice.id)
    assert paid.status == "paid"
    for offset in (14, 30):
        run_invoices_job_at(server, reminder_at(invoice, offset) + 1)
    assert reminded(server, account, invoice.id) == Counter(
        {**dict.fromkeys(REMINDER_KINDS, 1), "receipt": 1}
    )
    assert reminder_events(client, invoice.id) == Counter(
        {"invoice.will_be_due": 2, "invoice.overdue": 1}
    )
    # A voided invoice is reminded of nothing, whenever the job runs.
    assert reminded(server, account, voided.id) == Counter()
    assert reminder_events(client, voided.id) == Counter()


NEW_DAYS = "-7,1,3"


def test_a_changed_schedule_applies_to_the_reminders_still_to_come(
    server: KassaServer, account: Account, client: Client
) -> None:
    invoice = finalize_reminded(client, customer(client).id)
    for offset in (-7, 0):
        run_invoices_job_at(server, reminder_at(invoice, offset))
    assert reminded(server, account, invoice.id) == Counter(
        {"reminder_before_due": 1, "reminder_on_due": 1}
    )
    # Restarted with another schedule (each run below a process started so): its +1
    # comes before the old schedule's +7, the instant stored.
    run_invoices_job_at(server, reminder_at(invoice, 0) + HOUR, reminder_days=NEW_DAYS)
    run_invoices_job_at(server, reminder_at(invoice, 1), reminder_days=NEW_DAYS)
    overdue = [e for e in emails_of(server, account, invoice.id) if e["kind"] == REMINDER_KINDS[2]]
    assert len(overdue) == 1
    assert "now 1 day overdue" in overdue[0]["text"]
    # The +3 reminder, missed until day 5, says how late the invoice really is.
    run_invoices_job_at(server, reminder_at(invoice, 5), reminder_days=NEW_DAYS)
    overdue = [e for e in emails_of(server, account, invoice.id) if e["kind"] == REMINDER_KINDS[2]]
    assert len(overdue) == 2
    assert "now 5 days overdue" in overdue[1]["text"]
    for offset in (7, 14, 30):
        run_invoices_job_at(server, reminder_at(invoice, offset) + 1, reminder_days=NEW_DAYS)
    assert reminded(server, account, invoice.id)["reminder_after_due"] == 2


def test_auto_advance_false_stops_reminders_and_true_resumes_them(
    server: KassaServer, account: Account, client: Client
) -> None:
    """Stripe's invoice update: pass `auto_advance=false` to stop the billing engine
    "sending reminders for" an invoice. Finalized so, or set so once sent, it gets no
    reminder email and no `invoice.will_be_due` / `invoice.overdue`; set back to true on an
    open invoice, its schedule resumes from then: the reminder missed meanwhile (the latest)
    goes out once, then the rest as scheduled."""
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": JAN_31_2027})
    who = client.v1.customers.create(
        params={"email": "billing@example.com", "test_clock": clock.id}
    )
    finalized_only = client.v1.invoices.finalize_invoice(
        send_invoice_draft(client, who.id, auto_advance=False).id
    )
    assert (finalized_only.status, finalized_only.auto_advance) == ("open", False)
    sent = client.v1.invoices.send_invoice(send_invoice_draft(client, who.id).id)
    stopped = client.v1.invoices.update(sent.id, params={"auto_advance": False})
    assert (stopped.status, stopped.auto_advance) == ("open", False)
    advance(client, clock.id, reminder_at(sent, 7) + HOUR)
    for invoice in (finalized_only, sent):
        assert REMINDER_KINDS[0] not in kinds(server, account, invoice.id)
        assert REMINDER_KINDS[2] not in kinds(server, account, invoice.id)
        assert reminder_events(client, invoice.id) == Counter()

    resumed = client.v1.invoices.update(sent.id, params={"auto_advance": True})
    assert resumed.auto_advance is True
    advance(client, clock.id, reminder_at(sent, 7) + 2 * HOUR)
    assert kinds(server, account, sent.id) == Counter({"invoice": 1, "reminder_after_due": 1})
    assert reminder_events(client, sent.id) == Counter({"invoice.overdue": 1})
    advance(client, clock.id, reminder_at(sent, 14) + HOUR)
    assert kinds(server, account, sent.id) == Counter({"invoice": 1, "reminder_after_due": 2})
    assert reminder_events(client, sent.id) == Counter({"invoice.overdue": 2})
    assert kinds(server, account, finalized_only.id) == Counter()
    assert reminder_events(client, finalized_only.id) == Counter()


def test_the_jobs_start_watches_a_due_date_an_earlier_kassa_left_unwatched(
    server: KassaServer, account: Account, client: Client
) -> None:
    """An invoice with `auto_advance=false` stored by a Kassa before 75fc833 kept no instant,
    so its due date passing made its customer delinquent nowhere: the invoices job's start
    (`reschedule_reminders`) gives it one while its due date is still to come."""
    who = customer(client)
    kept = client.v1.invoices.finalize_invoice(
        send_invoice_draft(client, who.id).id, params={"auto_advance": False}
    )
    assert kept.due_date is not None
    _forget_the_due_date_watch(server, account, kept.id)

    run_invoices_job_at(server, kept.due_date - HOUR, reminder_days=NEW_DAYS)
    run_invoices_job_at(server, kept.due_date + HOUR)
    assert client.v1.customers.retrieve(who.id).delinquent is True


def test_a_start_under_the_schedule_of_the_last_completed_scan_reads_no_invoice(
    server: KassaServer, account: Account, client: Client
) -> None:
    """The startup scan reads every open invoice; once it has completed under a schedule, a
    process started with that schedule skips it (an invoice changed behind Kassa's back is
    then left as it is, which shows the skip), and one started with another runs it."""
    kept = client.v1.invoices.finalize_invoice(
        send_invoice_draft(client, customer(client).id).id, params={"auto_advance": False}
    )
    assert kept.due_date is not None
    _forget_the_due_date_watch(server, account, kept.id)
    run_invoices_job_at(server, kept.due_date - 2 * HOUR, reminder_days=OTHER_DAYS)
    assert _due_date_watched(server, account, kept.id)

    _forget_the_due_date_watch(server, account, kept.id, as_before_scans=False)
    run_invoices_job_at(server, kept.due_date - HOUR, reminder_days=OTHER_DAYS)
    assert not _due_date_watched(server, account, kept.id)
    run_invoices_job_at(server, kept.due_date - HOUR, reminder_days=NEW_DAYS)
    assert _due_date_watched(server, account, kept.id)


OTHER_DAYS = "-3,2"


def _due_date_watched(server: KassaServer, account: Account, invoice_id: str) -> bool:
    async def watched(store: Store) -> bool:
        async with store.read() as tx:
            ctx = Context(account_id=account.id, tx=tx, clock=SystemClock())
            found = await invoice_documents.find_invoice(ctx, invoice_id)
            assert found is not None
            return invoice_documents.private(found[0])["next_reminder_at"] is not None

    return with_store(server.database_url, watched)


def _forget_the_due_date_watch(
    server: KassaServer, account: Account, invoice_id: str, *, as_before_scans: bool = True
) -> None:
    """The invoice as a Kassa before 75fc833 stored it: no instant for the reminder job.
    `as_before_scans`: and no record of a completed startup scan, as such a Kassa left none."""

    async def forget(store: Store) -> None:
        async with store.write() as tx:
            ctx = Context(account_id=account.id, tx=tx, clock=SystemClock())
            found = await invoice_documents.find_invoice(ctx, invoice_id, lock=True)
            assert found is not None and found[1] is False
            assert invoice_documents.private(found[0])["next_reminder_at"] is not None
            invoice_documents.private(found[0])["next_reminder_at"] = None
            await invoice_documents.save(ctx, found[0])
            if as_before_scans:
                await tx.run_script_statement("DELETE FROM reminder_scans")

    with_store(server.database_url, forget)
