"""The dashboard's email page for an email whose PDF is declared by reference and not made
yet (or never: its invoice is gone): the page says so instead of failing."""

from __future__ import annotations

from typing import Any

import stripe

from kassa.clock import SystemClock
from kassa.services.billing import invoice_emails
from kassa.services.context import Context
from kassa.services.mail import AttachmentKind, AttachmentRef
from kassa.store import Store
from tests.dashboard_session import signed_in_client
from tests.direct_store import with_store
from tests.harness import Account, KassaServer


def test_an_attachment_not_made_yet_shows_as_such(
    server: KassaServer, account: Account, client: stripe.StripeClient
) -> None:
    customer = client.v1.customers.create(params={"email": "ref@example.com", "name": "Ref"})
    invoice: dict[str, Any] = {
        "id": "in_gone",
        "amount_due": 100,
        "amount_remaining": 100,
        "currency": "usd",
        "customer": customer.id,
        "due_date": None,
        "hosted_invoice_url": None,
        "lines": {"data": []},
        "number": "REF-0001",
        "total": 100,
    }
    pdf = AttachmentRef(AttachmentKind.INVOICE_PDF, "in_gone")

    async def queue(store: Store) -> dict[str, Any]:
        async with store.write() as tx:
            email = await invoice_emails.queue_invoice_email(
                Context(account.id, tx, SystemClock()), invoice, pdf=pdf
            )
        assert email is not None
        return email

    email = with_store(server.database_url, queue)
    assert [a["size"] for a in email["attachments"]] == [None]
    with signed_in_client(server, account.secret_key) as dashboard:
        page = dashboard.get(f"/dashboard/mailbox/{email['id']}")
    assert page.status_code == 200, page.text
    assert "Invoice-REF-0001.pdf" in page.text
    assert "made when the email is sent" in page.text
