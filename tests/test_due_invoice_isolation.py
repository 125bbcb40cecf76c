"""The real-time `invoices` job against invoices whose advance cannot be done at all (a stored
document naming a customer the account no longer has: `InvariantViolated`; one missing a
field: `KeyError`): the invoices due after them must still be finalized and charged, and the
broken ones tried again an hour later rather than at every poll. Before, the error ended the
job's round at the first of them in the due order, at every run, so no invoice due after it
ever advanced. On a `kassa serve` of its own."""

from __future__ import annotations

import time
from typing import Any

import stripe

from kassa.services.due_work import FAILED_WORK_RETRY_SECONDS
from kassa.store import Store
from kassa.store.tables import INVOICES
from tests.conftest import module_server
from tests.direct_store import raw_row, with_store
from tests.harness import KassaServer, create_account

ADVANCED_WAIT_SECONDS = 20.0
"""How long the job at the server's start may take to reach the healthy invoice."""
ADVANCED_POLL_SECONDS = 0.1

isolation_server = module_server("due-invoice-isolation", KassaServer)


def draft(client: stripe.StripeClient, customer: str) -> str:
    """An auto-advancing draft of one 10.00 line, charged automatically."""
    client.v1.invoice_items.create(params={"customer": customer, "amount": 1000, "currency": "usd"})
    return client.v1.invoices.create(
        params={
            "customer": customer,
            "auto_advance": True,
            "collection_method": "charge_automatically",
            "pending_invoice_items_behavior": "include",
        }
    ).id


def make_due(
    server: KassaServer,
    account_id: str,
    invoice_id: str,
    due_at: int,
    changes: dict[str, Any],
    dropped: tuple[str, ...] = (),
) -> None:
    """The stored draft due to finalize at `due_at`, with `changes` to its document and the
    `dropped` fields removed from it."""

    async def change(store: Store) -> None:
        async with store.write() as tx:
            found = await tx.get_object(INVOICES, account_id, invoice_id)
            assert found is not None
            document: dict[str, Any] = found[0]
            document["automatically_finalizes_at"] = due_at
            document.update(changes)
            for field in dropped:
                del document[field]
            await tx.update_object(INVOICES, account_id, document)

    with_store(server.database_url, change)


def test_invoices_that_cannot_advance_do_not_stop_the_ones_due_after_them(
    isolation_server: KassaServer,
) -> None:
    server = isolation_server
    account = create_account(server.database_url)
    client = server.client(account.secret_key)
    customer = client.v1.customers.create(
        params={
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    gone, unreadable, healthy = (draft(client, customer.id) for _ in range(3))
    server.stop()
    make_due(server, account.id, gone, 1, {"customer": "cus_gone"})
    make_due(server, account.id, unreadable, 2, {}, dropped=("auto_advance",))
    make_due(server, account.id, healthy, 3, {})
    started_at = int(time.time())
    # The `invoices` job runs its first round at once. The port may have been taken while
    # the server was down: the client is made anew after the start.
    server.start_on_any_port()
    client = server.client(account.secret_key)

    deadline = time.monotonic() + ADVANCED_WAIT_SECONDS
    while client.v1.invoices.retrieve(healthy).status != "paid":
        assert time.monotonic() < deadline, "the invoice due after the broken one never advanced"
        time.sleep(ADVANCED_POLL_SECONDS)
    retry_at = started_at + FAILED_WORK_RETRY_SECONDS
    for broken in (gone, unreadable):
        row = raw_row(
            server.database_url,
            "SELECT automatically_finalizes_at FROM invoices WHERE id = ?",
            broken,
        )
        assert row is not None
        assert retry_at <= row[0] <= retry_at + 60, (broken, row)
