"""What the dashboard's customer page (`kassa.dashboard.views.customers`) and its
subscriptions list filtered by a customer read, run in this process against the database the
test server writes, with every statement traced."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import stripe

from kassa.clock import SystemClock
from kassa.dashboard.views.customers import customer_detail
from kassa.dashboard.views.subscriptions import parse_filters, subscription_list
from kassa.services.context import Context
from kassa.store import Store
from tests.harness import Account, KassaServer, run_coroutine
from tests.test_statement_budget import StatementTrace, open_traced_store
from tests.test_subscription_terms import price_of

READS_OF_CUSTOMERS = re.compile(r"\bFROM customers\b", re.IGNORECASE)


def test_the_customer_page_reads_its_customer_once(
    server: KassaServer, account: Account, client: stripe.StripeClient
) -> None:
    """Its payments (an intent and a Charges API charge) and its subscription are labelled
    with the customer the page has read, not by reading it again."""
    customer = client.v1.customers.create(
        params={"email": "once@example.com", "source": "tok_visa"}
    )
    intent = client.v1.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": "pm_card_visa",
            "confirm": True,
            "allowed_payment_method_types": ["card"],
        }
    )
    charge = client.v1.charges.create(
        params={"amount": 700, "currency": "usd", "customer": customer.id}
    )
    price = price_of(client, 500)
    client.v1.subscriptions.create(params={"customer": customer.id, "items": [{"price": price.id}]})

    async def read_page(ctx: Context) -> None:
        detail = await customer_detail(ctx, customer.id)
        # The subscription's first invoice made a payment of its own.
        assert {intent.id, charge.id} < {row.payment["id"] for row in detail.payments}
        assert all(row.customer_email == "once@example.com" for row in detail.payments)
        assert [row.customer for row in detail.subscriptions.rows] == ["once@example.com"]

    customer_reads = reads_of_customers(server, account, read_page)
    assert len(customer_reads) == 1, customer_reads


def test_the_subscriptions_list_filtered_by_a_customer_reads_it_once(
    server: KassaServer, account: Account, client: stripe.StripeClient
) -> None:
    """The filter's customer is checked and then labels the rows: one read, not two."""
    customer = client.v1.customers.create(
        params={
            "name": "Filtered Once",
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    price = price_of(client, 500)
    client.v1.subscriptions.create(params={"customer": customer.id, "items": [{"price": price.id}]})

    async def read_list(ctx: Context) -> None:
        listed = await subscription_list(ctx, parse_filters("", customer.id, ""), 10)
        assert [row.customer for row in listed.rows] == ["Filtered Once"]

    customer_reads = reads_of_customers(server, account, read_list)
    assert len(customer_reads) == 1, customer_reads


def reads_of_customers(
    server: KassaServer, account: Account, read: Callable[[Context], Awaitable[None]]
) -> list[str]:
    """The statements reading the customers table that `read` ran, in a read unit of a
    traced store on the server's database."""
    trace = StatementTrace()

    async def traced() -> None:
        clock = SystemClock()
        store: Store = await open_traced_store(server.database_url, trace, clock)
        try:
            trace.take()  # the migration check's statements
            async with store.read() as tx:
                await read(Context(account.id, tx, clock))
        finally:
            await store.close()

    run_coroutine(traced)
    return [s for s in trace.take() if READS_OF_CUSTOMERS.search(s)]
