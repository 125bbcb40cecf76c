"""Subscriptions whose stored `renews_at` is not the one their document implies, as rows an
older Kassa wrote are left by migration 0037 (the column reset to 0, so that each is visited
once): the renewal work goes by the derived value, does only what is due, and stores the
derived value, through a test clock's advance."""

from __future__ import annotations

import json
from typing import Any

import stripe

from kassa.services.billing.subscription_documents import RETIRED_PRIVATE_KEYS
from kassa.store import Store
from kassa.store.tables import SUBSCRIPTIONS
from tests.direct_store import raw_row, with_store
from tests.harness import Account, KassaServer
from tests.test_subscription_changes import at
from tests.test_subscriptions import Client, advance, clock_customer, invoices_of, monthly_price


def leave_stale(server: KassaServer, account: Account, subscription_id: str) -> None:
    """The row as migration 0037 leaves an older one: `renews_at` 0, in the column the clock
    scans and in the document (the renewal work must not read either)."""

    async def reset(store: Store) -> None:
        async with store.write() as tx:
            found = await tx.get_object(SUBSCRIPTIONS, account.id, subscription_id)
            assert found is not None
            document: dict[str, Any] = found[0]
            document["_kassa"]["renews_at"] = 0
            document["_kassa"].update(dict.fromkeys(RETIRED_PRIVATE_KEYS, at(2027, 3, 1)))
            await tx.update_object(SUBSCRIPTIONS, account.id, document)

    with_store(server.database_url, reset)
    assert stored_renews_at(server, subscription_id) == 0


def stored_renews_at(server: KassaServer, subscription_id: str) -> int | None:
    row = raw_row(
        server.database_url, "SELECT renews_at FROM subscriptions WHERE id = ?", subscription_id
    )
    assert row is not None
    return None if row[0] is None else int(row[0])


def test_a_stale_trial_is_stored_anew_and_ends_on_time(
    client: Client, server: KassaServer, account: Account, ledger_verified: None
) -> None:
    """Its notice already sent, nothing is due until the trial ends: the advance completes
    (before, the work returned without saving, the clock picked the same row again and
    failed), the trial's end is stored, and the trial ends into its first paid period."""
    clock_id, customer = clock_customer(client, at(2027, 1, 1))
    price = monthly_price(client, 1500)
    subscription = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}], "trial_period_days": 30}
    )
    advance(client, clock_id, at(2027, 1, 29))  # past the trial_will_end notice
    leave_stale(server, account, subscription.id)

    advance(client, clock_id, at(2027, 1, 30))
    assert client.v1.test_helpers.test_clocks.retrieve(clock_id).status == "ready"
    assert stored_renews_at(server, subscription.id) == at(2027, 1, 31)
    doc = raw_row(
        server.database_url, "SELECT doc FROM subscriptions WHERE id = ?", subscription.id
    )
    assert doc is not None and not set(RETIRED_PRIVATE_KEYS) & set(json.loads(doc[0])["_kassa"])
    assert [i.amount_due for i in invoices_of(client, subscription.id)] == [0]

    advance(client, clock_id, at(2027, 2, 1))
    renewed = client.v1.subscriptions.retrieve(subscription.id)
    assert renewed.status == "active"
    assert [i.amount_paid for i in invoices_of(client, subscription.id)] == [0, 1500]


def test_a_stale_row_is_canceled_at_its_cancel_at_not_later(
    client: Client, server: KassaServer, account: Account, ledger_verified: None
) -> None:
    """Whatever an older Kassa stored, the `cancel_at` the document holds is when it ends,
    and nothing is billed in between."""
    clock_id, customer = clock_customer(client, at(2027, 1, 1))
    price = monthly_price(client, 1500)
    subscription = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}]}
    )
    client.v1.subscriptions.update(
        subscription.id, params={"cancel_at": at(2027, 1, 15), "proration_behavior": "none"}
    )
    leave_stale(server, account, subscription.id)

    advance(client, clock_id, at(2027, 1, 10))
    assert stored_renews_at(server, subscription.id) == at(2027, 1, 15)
    advance(client, clock_id, at(2027, 1, 20))
    ended: stripe.Subscription = client.v1.subscriptions.retrieve(subscription.id)
    assert ended.status == "canceled"
    assert ended.ended_at == at(2027, 1, 15)
    assert len(invoices_of(client, subscription.id)) == 1
    assert stored_renews_at(server, subscription.id) is None
