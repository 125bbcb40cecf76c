"""A subscription's invoice voided or marked uncollectible by the merchant, through the SDK
on a real `kassa serve` (SQLite and PostgreSQL), the ledger verified after each.

Stripe's subscriptions overview: for `past_due` subscriptions, "paying the latest associated
invoice or marking it uncollectible transitions the subscription to active", and "voided
invoices don't affect subscription status. Stripe determines the status from the most recent
non-voided invoice". So the most recent invoice not voided decides: paid or uncollectible,
`active`; still open, the status stays. Each change is a `customer.subscription.updated`
with `previous_attributes.status`. `unpaid` follows the same rule (inferred: Stripe documents
paying the latest invoice of an unpaid one, not writing it off).

Every scenario: a $10.00 monthly price, a one-day trial from Jan 31, 2027 10:00 UTC (its $0
first invoice paid), a customer whose card declines. The trial ends Feb 1 10:00; the
renewal ($10.00) is finalized and charged an hour later, declined: `past_due`, the next
retry three days on (Feb 4 11:00)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import stripe

from kassa.clock import DAY_SECONDS
from tests.harness import KassaServer, assert_ledger_whole, create_account
from tests.test_subscriptions import (
    DECLINING_CARD,
    HOUR,
    JAN_31_2027,
    Client,
    advance,
    clock_customer,
    invoices_of,
    monthly_price,
    subscribe,
    utc,
)

PRICE = 1_000


def past_due(client: Client) -> tuple[str, stripe.Subscription, stripe.Invoice]:
    """(clock, subscription, its declined renewal) two days in, as the module says."""
    price = monthly_price(client, amount=PRICE)
    clock_id, customer = clock_customer(client, card=DECLINING_CARD)
    subscription = subscribe(client, customer.id, price.id, trial_period_days=1)
    advance(client, clock_id, JAN_31_2027 + 2 * DAY_SECONDS)
    subscription = client.v1.subscriptions.retrieve(subscription.id)
    assert subscription.status == "past_due"
    trial, renewal = invoices_of(client, subscription.id)
    assert (trial.status, trial.amount_due) == ("paid", 0)
    assert (renewal.status, renewal.amount_due, renewal.attempt_count) == ("open", PRICE, 1)
    assert renewal.id == subscription.latest_invoice
    return clock_id, subscription, renewal


def change_invoiced_unpaid(client: Client, subscription: stripe.Subscription) -> stripe.Invoice:
    """A second unpaid invoice: a quantity change invoiced at once (Feb 2 10:00, 27 of the
    period's 28 days left: about 2 x 1000 x 27/28 - 1000 x 27/28, some $9.64 due), charged
    to the declining card: open, and the subscription's latest invoice; still past_due."""
    (item,) = subscription["items"].data
    updated = client.v1.subscriptions.update(
        subscription.id,
        params={
            "items": [{"id": item.id, "quantity": 2}],
            "proration_behavior": "always_invoice",
        },
    )
    assert updated.status == "past_due"
    change = client.v1.invoices.retrieve(str(updated.latest_invoice))
    assert change.id != subscription.latest_invoice
    assert (change.status, change.amount_due > 0) == ("open", True)
    return change


def status_changes(client: Client, subscription_id: str) -> list[tuple[Any, str]]:
    """The subscription's `customer.subscription.updated` events that changed its status,
    oldest first: (the status before, the status after)."""
    found = []
    for event in client.v1.events.list(
        params={"type": "customer.subscription.updated", "limit": 100}
    ).auto_paging_iter():
        previous = event.data.to_dict().get("previous_attributes") or {}
        shown = event.data.object.to_dict()
        if shown.get("id") == subscription_id and "status" in previous:
            found.append((previous["status"], shown["status"]))
    return found[::-1]


@pytest.mark.parametrize(
    ("close", "closed_status"), [("mark_uncollectible", "uncollectible"), ("void_invoice", "void")]
)
def test_closing_the_latest_invoice_makes_a_past_due_one_active(
    client: Client, ledger_verified: None, close: str, closed_status: str
) -> None:
    # Marked uncollectible, the renewal decides itself; voided, the one before it does: the
    # trial's, paid ($0). Either way: active.
    clock_id, subscription, renewal = past_due(client)
    getattr(client.v1.invoices, close)(renewal.id)
    assert client.v1.subscriptions.retrieve(subscription.id).status == "active"
    assert status_changes(client, subscription.id)[-1] == ("past_due", "active")
    # No retry follows (Feb 4 11:00 passes): the renewal stays closed after one attempt.
    advance(client, clock_id, utc(2027, 2, 6))
    closed = client.v1.invoices.retrieve(renewal.id)
    assert (closed.status, closed.attempt_count) == (closed_status, 1)
    assert closed.next_payment_attempt is None
    assert client.v1.subscriptions.retrieve(subscription.id).status == "active"


def test_an_older_invoice_still_open_keeps_it_past_due_until_it_is_written_off(
    client: Client, ledger_verified: None
) -> None:
    _, subscription, renewal = past_due(client)
    change = change_invoiced_unpaid(client, subscription)
    changes_before = status_changes(client, subscription.id)
    # Voided, the change's invoice decides nothing: the renewal, still open, keeps it past_due.
    client.v1.invoices.void_invoice(change.id)
    assert client.v1.subscriptions.retrieve(subscription.id).status == "past_due"
    assert status_changes(client, subscription.id) == changes_before
    # The renewal written off, the most recent invoice not voided is uncollectible: active.
    client.v1.invoices.mark_uncollectible(renewal.id)
    assert client.v1.subscriptions.retrieve(subscription.id).status == "active"
    assert status_changes(client, subscription.id)[-1] == ("past_due", "active")


def test_an_older_invoice_closed_while_the_latest_is_unpaid_changes_nothing(
    client: Client, ledger_verified: None
) -> None:
    _, subscription, renewal = past_due(client)
    change = change_invoiced_unpaid(client, subscription)
    # The renewal is not the latest: the change's invoice, open, still decides.
    client.v1.invoices.mark_uncollectible(renewal.id)
    assert client.v1.subscriptions.retrieve(subscription.id).status == "past_due"
    client.v1.invoices.void_invoice(change.id)
    # Now the renewal, uncollectible, is the most recent invoice not voided.
    assert client.v1.subscriptions.retrieve(subscription.id).status == "active"


def test_an_unpaid_one_becomes_active_when_its_latest_invoice_is_closed(
    private_database_url: str, tmp_path: Path
) -> None:
    settings = {"KASSA_SUBSCRIPTION_FINAL_ACTION": "unpaid"}
    server = KassaServer(private_database_url, tmp_path / "kassa.log", settings).start()
    try:
        client = server.client(create_account(private_database_url).secret_key)
        for close in ("mark_uncollectible", "void_invoice"):
            clock_id, subscription, renewal = past_due(client)
            # Retries Feb 4, 9 and 16 (11:00) all declined: unpaid, the renewal left open.
            advance(client, clock_id, utc(2027, 2, 20))
            assert client.v1.subscriptions.retrieve(subscription.id).status == "unpaid"
            assert client.v1.invoices.retrieve(renewal.id).status == "open"
            getattr(client.v1.invoices, close)(renewal.id)
            assert client.v1.subscriptions.retrieve(subscription.id).status == "active", close
            assert status_changes(client, subscription.id)[-1] == ("unpaid", "active")
        assert_ledger_whole(private_database_url)
    finally:
        server.stop()


def test_an_incomplete_ones_first_invoice_voided_leaves_it_incomplete(
    client: Client, ledger_verified: None
) -> None:
    # Stripe documents nothing for it: it stays incomplete, and expires 23 hours on.
    price = monthly_price(client, amount=PRICE)
    clock_id, customer = clock_customer(client, card=DECLINING_CARD)
    subscription = subscribe(client, customer.id, price.id)
    assert subscription.status == "incomplete"
    client.v1.invoices.void_invoice(str(subscription.latest_invoice))
    assert client.v1.subscriptions.retrieve(subscription.id).status == "incomplete"
    advance(client, clock_id, JAN_31_2027 + 24 * HOUR)
    assert client.v1.subscriptions.retrieve(subscription.id).status == "incomplete_expired"
