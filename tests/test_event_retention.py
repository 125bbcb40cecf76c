"""Events are kept 30 days, as Stripe keeps them; then the retention purge removes them with
their webhook deliveries and attempts, except an event a delivery still waits on."""

from __future__ import annotations

import time

import stripe

from kassa.clock import FrozenClock
from kassa.config import Settings
from kassa.workers.retention import EVENT_RETENTION_DAYS
from tests.direct_store import purge
from tests.harness import Account, KassaServer, refusing_port

DAY_SECONDS = 86_400


def _event_ids(client: stripe.StripeClient) -> set[str]:
    return {event.id for event in client.v1.events.list(params={"limit": 100}).data}


def _purge_at(server: KassaServer, days_from_now: float) -> int:
    clock = FrozenClock(time.time() + days_from_now * DAY_SECONDS)
    return purge(server.database_url, clock, Settings().request_log_retention_days).events


def test_events_are_kept_30_days_then_purged(
    server: KassaServer, account: Account, client: stripe.StripeClient
) -> None:
    customer = client.v1.customers.create(params={"email": "old@example.com"})
    client.v1.customers.update(customer.id, params={"name": "Old"})
    made = _event_ids(client)
    assert len(made) == 2

    _purge_at(server, EVENT_RETENTION_DAYS - 1)
    assert _event_ids(client) == made

    assert _purge_at(server, EVENT_RETENTION_DAYS + 1) >= len(made)
    assert _event_ids(client) == set()
    for event_id in made:
        try:
            client.v1.events.retrieve(event_id)
        except stripe.InvalidRequestError as error:
            assert error.code == "resource_missing"
        else:
            raise AssertionError(f"{event_id} outlived its retention")
    # The objects themselves are not events: they stay.
    assert client.v1.customers.retrieve(customer.id).name == "Old"


def test_an_event_awaiting_delivery_outlives_retention(
    server: KassaServer, account: Account, client: stripe.StripeClient
) -> None:
    # Nothing listens on this port (held for the test, so nothing can start to), and the
    # delivery fails and waits for its next retry, which the default schedule puts minutes away.
    with refusing_port() as port:
        unreachable = f"http://127.0.0.1:{port}/hook"
        endpoint = client.v1.webhook_endpoints.create(
            params={"url": unreachable, "enabled_events": ["customer.created"]}
        )
        client.v1.customers.create(params={"email": "waiting@example.com"})
        awaited = {
            event.id for event in client.v1.events.list(params={"type": "customer.created"}).data
        }
        assert len(awaited) == 1

        _purge_at(server, EVENT_RETENTION_DAYS + 1)
        assert awaited <= _event_ids(client), "an undelivered event was purged"

        client.v1.webhook_endpoints.delete(endpoint.id)  # abandons its pending deliveries
        _purge_at(server, EVENT_RETENTION_DAYS + 1)
        assert not awaited & _event_ids(client)


def test_a_test_clocks_events_are_kept_30_days_from_when_they_happened_not_their_date(
    server: KassaServer, account: Account, client: stripe.StripeClient
) -> None:
    # Events on a clock carry its frozen time as `created`: here 40 days ago. Stripe keeps
    # events 30 days of real time, so these are kept 30 days from now.
    frozen = int(time.time()) - (EVENT_RETENTION_DAYS + 10) * DAY_SECONDS
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": frozen})
    customer = client.v1.customers.create(params={"test_clock": clock.id})
    made = _event_ids(client)
    created = client.v1.events.list(params={"type": "customer.created"}).data
    assert [event.created for event in created] == [frozen]

    _purge_at(server, 0)
    _purge_at(server, EVENT_RETENTION_DAYS - 1)
    assert _event_ids(client) == made

    # The purge also deletes the clock, 30 days old by then, with its customer: the events
    # of that are new.
    _purge_at(server, EVENT_RETENTION_DAYS + 1)
    assert not made & _event_ids(client)
    assert client.v1.customers.retrieve(customer.id).to_dict().get("deleted") is True
