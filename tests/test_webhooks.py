"""Events and webhooks end to end, on SQLite and PostgreSQL: a real `kassa serve` delivers to a
real loopback receiver that verifies every delivery with `stripe.Webhook.construct_event`.

The flows are driven through the official SDK; what a receiver got is compared with what
`GET /v1/events` lists. Retries run on a schedule of seconds (`KASSA_WEBHOOK_RETRY_SCHEDULE`),
so a failing endpoint is retried, and switched off, within a test.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

import httpx
import pytest
import stripe

from kassa import API_VERSION
from kassa.clock import DAY_SECONDS, FrozenClock
from kassa.config import Settings
from kassa.services.catalog import EVENT_TYPES
from kassa.services.events import WEBHOOK_ENDPOINTS_PER_ACCOUNT_MAX
from kassa.services.listing import LIST_LIMIT_MAX
from kassa.workers.retention import EVENT_RETENTION_DAYS
from kassa.workers.webhooks import IDLE_POLL_SECONDS, JITTER_FRACTION
from tests.conftest import module_server
from tests.direct_store import purge
from tests.harness import Account, KassaServer, create_account
from tests.test_async_capture import posted
from tests.webhook_receiver import WebhookReceiver

T = TypeVar("T")

RETRY_SCHEDULE_SECONDS = (1, 1, 1)
RETRY_DELAY_MIN_MS = int(RETRY_SCHEDULE_SECONDS[0] * 1000 * (1 - JITTER_FRACTION))
"""The earliest a retry may follow the attempt before it: the first delay less its jitter."""
WAIT_SECONDS = 20.0
"""Bound on every wait for something that should happen; generous for a loaded CI machine."""
POLL_SECONDS = 0.05
QUIET_SECONDS = 5 * IDLE_POLL_SECONDS
"""How long to watch for a delivery that must not come: several idle sweeps of the worker."""
ALWAYS_FAILING = 1_000
"""Failures to answer on a path meant to stay down: more than any test sends to it."""
FAILING_EVENTS = 4
"""Events whose deliveries fail to the end together, so that failures follow failures."""
SUCCESS_EVERY_SECONDS = 0.5
"""Well inside a retry delay: an endpoint succeeding this often is never down for long."""
RETENTION_DAYS = Settings().request_log_retention_days
"""The request log's retention, which a purge also applies (its default)."""
RETRIES_RIDE_OUT_SECONDS = RETRY_SCHEDULE_SECONDS[0] * (1 + JITTER_FRACTION) + 0.5
"""Longer than a retry's delay: a retry still queued would have been sent by then."""

EVENTS_THE_FLOWS_MUST_ANNOUNCE = frozenset(
    {
        "customer.created",
        "customer.updated",
        "customer.deleted",
        "payment_method.attached",
        "payment_method.updated",
        "payment_method.detached",
        "payment_intent.created",
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.amount_capturable_updated",
        "payment_intent.canceled",
        "payment_intent.requires_action",
        "charge.succeeded",
        "charge.failed",
        "charge.captured",
        "charge.refunded",
        "charge.refund.updated",
        "refund.created",
        "refund.updated",
        "charge.dispute.created",
    }
)


# -- fixtures ---------------------------------------------------------------------------------


webhook_server = module_server(
    "webhooks",
    KassaServer,
    {"KASSA_WEBHOOK_RETRY_SCHEDULE": ",".join(str(s) for s in RETRY_SCHEDULE_SECONDS)},
)


@pytest.fixture
def account(webhook_server: KassaServer) -> Account:
    """Overrides conftest's: a fresh account on this module's server, per test."""
    return create_account(webhook_server.database_url)


@pytest.fixture
def client(webhook_server: KassaServer, account: Account) -> stripe.StripeClient:
    return webhook_server.client(account.secret_key)


@pytest.fixture
def http(webhook_server: KassaServer, account: Account) -> Iterator[httpx.Client]:
    """For Kassa's extensions (attempts, resend), which the SDK does not know."""
    with webhook_server.http(account.secret_key) as plain:
        yield plain


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as started:
        yield started


# -- helpers ----------------------------------------------------------------------------------


def listen(
    client: stripe.StripeClient,
    receiver: WebhookReceiver,
    path: str,
    enabled_events: list[str],
) -> stripe.WebhookEndpoint:
    """A webhook endpoint for one receiver path, whose secret the receiver verifies with."""
    endpoint = client.v1.webhook_endpoints.create(
        # The SDK types `enabled_events` as a list of literal event types; the tests' are strs.
        params={"url": receiver.url(path), "enabled_events": cast(Any, enabled_events)}
    )
    assert endpoint.secret is not None
    receiver.set_secret(path, endpoint.secret)
    return endpoint


def listed_events(client: stripe.StripeClient, **filters: Any) -> list[dict[str, Any]]:
    """The account's events, newest first, as plain dicts (one page: tests make fewer)."""
    params: Any = {"limit": LIST_LIMIT_MAX, **filters}
    page = client.v1.events.list(params=params)
    assert not page.has_more, "a test makes fewer events than one page holds"
    return [event.to_dict() for event in page.data]


def only_event(client: stripe.StripeClient, event_type: str) -> dict[str, Any]:
    found = listed_events(client, type=event_type)
    assert len(found) == 1, f"expected one {event_type}, got {[e['id'] for e in found]}"
    return found[0]


def without_pending_count(event: dict[str, Any]) -> dict[str, Any]:
    """An event as sent and as listed differ only in `pending_webhooks`, which counts down as
    deliveries succeed."""
    return {key: value for key, value in event.items() if key != "pending_webhooks"}


def request_id_of(response: stripe.StripeObject | stripe.StripeError) -> str:
    if isinstance(response, stripe.StripeError):
        request_id = response.request_id
    else:
        assert response.last_response is not None
        request_id = response.last_response.request_id
    assert isinstance(request_id, str)
    return request_id


def wait_until(
    probe: Callable[[], T | None], what: str, timeout_seconds: float = WAIT_SECONDS
) -> T:
    """Poll until `probe` returns something other than None (Kassa's side of a delivery, such
    as recorded attempts, settles shortly after the receiver answered)."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(POLL_SECONDS)


def attempts_of(http: httpx.Client, path: str, count: int) -> list[dict[str, Any]]:
    """`count` recorded attempts at `/v1/{path}/webhook_attempts`, oldest first."""

    def probe() -> list[dict[str, Any]] | None:
        response = http.get(f"/v1/{path}/webhook_attempts", params={"limit": LIST_LIMIT_MAX})
        assert response.status_code == 200, response.text
        data: list[dict[str, Any]] = response.json()["data"]
        assert len(data) <= count, f"more attempts than expected: {data}"
        return data[::-1] if len(data) == count else None

    return wait_until(probe, f"{count} attempts at {path}")


def event_types_received(receiver: WebhookReceiver, path: str) -> Counter[str]:
    return Counter(delivery.type for delivery in receiver.deliveries(path))


def new_customer(client: stripe.StripeClient, **given: Any) -> stripe.Customer:
    params: Any = given
    return client.v1.customers.create(params=params)


# -- 1. every event the flows announce is delivered, as listed ---------------------------------


class Announcements:
    """What each API request must announce, by its request id."""

    def __init__(self) -> None:
        self.by_request: dict[str | None, frozenset[str]] = {}

    def expect(self, response: stripe.StripeObject | stripe.StripeError, *types: str) -> None:
        self.by_request[request_id_of(response)] = frozenset(types)

    def expect_automatic(self, *types: str) -> None:
        """What Kassa announces of its own accord, in no request (`request.id` null)."""
        self.by_request[None] = frozenset(types)


def drive_customer_flows(client: stripe.StripeClient, announced: Announcements) -> None:
    customer = client.v1.customers.create(params={"email": "flows@example.com"})
    announced.expect(customer, "customer.created")
    announced.expect(
        client.v1.customers.update(customer.id, params={"name": "Flow"}), "customer.updated"
    )
    card = client.v1.payment_methods.create(params={"type": "card", "card": {"token": "tok_visa"}})
    announced.expect(card)  # Stripe announces no creation of a payment method
    attach = client.v1.payment_methods.attach(card.id, params={"customer": customer.id})
    announced.expect(attach, "payment_method.attached")
    update = client.v1.payment_methods.update(card.id, params={"metadata": {"kind": "flow"}})
    announced.expect(update, "payment_method.updated")
    announced.expect(client.v1.payment_methods.detach(card.id), "payment_method.detached")
    announced.expect(client.v1.customers.delete(customer.id), "customer.deleted")


def drive_payment_flows(client: stripe.StripeClient, announced: Announcements) -> str:
    """Success, decline, manual capture, cancel and 3-D Secure; returns the paid intent."""
    paid = client.v1.payment_intents.create(
        params={"amount": 2000, "currency": "usd", "payment_method": "pm_card_visa"}
    )
    announced.expect(paid, "payment_intent.created")
    # Created with Stripe's default automatic payment methods: confirming needs a return_url.
    confirmed = client.v1.payment_intents.confirm(
        paid.id, params={"return_url": "https://shop.example/paid"}
    )
    announced.expect(confirmed, "charge.succeeded", "payment_intent.succeeded")
    # Captured asynchronously (the default): its posting comes a moment later, in no request.
    posted(client, str(confirmed.latest_charge))
    announced.expect_automatic("charge.updated")
    with pytest.raises(stripe.CardError) as declined:
        pay(client, "pm_card_chargeDeclined")
    announced.expect(
        declined.value, "payment_intent.created", "charge.failed", "payment_intent.payment_failed"
    )
    held = pay(client, "pm_card_visa", capture_method="manual")
    announced.expect(
        held,
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.amount_capturable_updated",
    )
    captured = client.v1.payment_intents.capture(held.id)
    announced.expect(captured, "charge.captured", "payment_intent.succeeded")
    unpaid = client.v1.payment_intents.create(params={"amount": 500, "currency": "usd"})
    announced.expect(unpaid, "payment_intent.created")
    announced.expect(client.v1.payment_intents.cancel(unpaid.id), "payment_intent.canceled")
    challenged = pay(client, "pm_card_threeDSecure2Required")
    assert challenged.status == "requires_action"
    announced.expect(challenged, "payment_intent.created", "payment_intent.requires_action")
    return paid.id


def drive_refund_and_dispute_flows(
    client: stripe.StripeClient, announced: Announcements, paid_intent: str
) -> None:
    refund = client.v1.refunds.create(params={"payment_intent": paid_intent, "amount": 300})
    announced.expect(refund, "refund.created", "charge.refunded")
    updated = client.v1.refunds.update(refund.id, params={"metadata": {"why": "test"}})
    announced.expect(updated, "refund.updated", "charge.refund.updated")
    disputed = pay(client, "pm_card_createDispute")
    announced.expect(
        disputed,
        "payment_intent.created",
        "charge.succeeded",
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.updated",  # the charge is now `disputed`
        "payment_intent.succeeded",
    )


def pay(client: stripe.StripeClient, payment_method: str, **extra: Any) -> stripe.PaymentIntent:
    params: Any = {
        "amount": 1500,
        "currency": "usd",
        "payment_method": payment_method,
        # Posted in the request: the events of a payment come from its own request here (the
        # default, asynchronous capture: tests/test_async_capture.py).
        "capture_method": "automatic",
        "confirm": True,
        "allowed_payment_method_types": ["card"],
        **extra,
    }
    return client.v1.payment_intents.create(params=params)


def object_named_by(event_type: str) -> str:
    """The kind of `data.object` an event type carries (`charge.dispute.*`: a dispute)."""
    if event_type.startswith("charge.dispute."):
        return "dispute"
    if event_type.startswith("charge.refund."):
        return "refund"
    return event_type.split(".", maxsplit=1)[0]


def test_every_event_the_flows_announce_is_delivered_once_as_listed(
    client: stripe.StripeClient, receiver: WebhookReceiver
) -> None:
    listen(client, receiver, "all", ["*"])
    announced = Announcements()
    drive_customer_flows(client, announced)
    paid_intent = drive_payment_flows(client, announced)
    drive_refund_and_dispute_flows(client, announced, paid_intent)

    events = listed_events(client)
    receiver.wait_for_event_ids("all", {event["id"] for event in events})
    delivered = {d.event_id: d.event for d in receiver.deliveries("all")}
    counts = Counter(receiver.event_ids("all"))
    assert [i for i, n in counts.items() if n != 1] == [], "each event is delivered once"
    assert set(delivered) == {event["id"] for event in events}
    for event in events:
        assert without_pending_count(delivered[event["id"]]) == without_pending_count(event)
        assert event["data"]["object"]["object"] == object_named_by(event["type"]), event["type"]

    types_by_request: dict[str | None, set[str]] = {}
    for event in events:
        types_by_request.setdefault(event["request"]["id"], set()).add(event["type"])
    for request_id, types in announced.by_request.items():
        assert types_by_request.get(request_id, set()) == types, request_id
    assert set(types_by_request) <= set(announced.by_request), "no event from elsewhere"

    produced = {event["type"] for event in events}
    assert produced <= set(EVENT_TYPES), "Kassa announces only the types it documents"
    assert produced >= EVENTS_THE_FLOWS_MUST_ANNOUNCE
    assert receiver.rejected() == []


def test_a_delivered_event_carries_stripes_envelope(
    client: stripe.StripeClient, receiver: WebhookReceiver
) -> None:
    listen(client, receiver, "customers", ["customer.created", "customer.updated"])
    key = f"webhook-envelope-{uuid.uuid4()}"
    customer = client.v1.customers.create(
        params={"email": "envelope@example.com"}, options={"idempotency_key": key}
    )
    updated = client.v1.customers.update(customer.id, params={"name": "Ada", "metadata": {}})
    created_id = only_event(client, "customer.created")["id"]
    updated_id = only_event(client, "customer.updated")["id"]
    receiver.wait_for_event_ids("customers", {created_id, updated_id})
    sent = {d.event_id: d.event for d in receiver.deliveries("customers")}

    for event in sent.values():
        assert event["object"] == "event"
        assert event["id"].startswith("evt_")
        assert event["livemode"] is False
        assert event["api_version"] == API_VERSION
        assert isinstance(event["created"], int)
        assert event["pending_webhooks"] >= 1, "it was pending for this very endpoint"
    created, changed = sent[created_id], sent[updated_id]
    assert created["request"] == {"id": request_id_of(customer), "idempotency_key": key}
    assert created["data"]["object"]["id"] == customer.id
    assert created["data"]["object"]["name"] is None, "the object as it was then"
    assert "previous_attributes" not in created["data"]
    assert changed["request"]["id"] == request_id_of(updated)
    assert changed["request"]["idempotency_key"] not in (None, key)
    assert changed["data"]["object"]["name"] == "Ada"
    assert changed["data"]["previous_attributes"] == {"name": None}
    assert receiver.rejected() == []


def test_previous_attributes_of_a_hash_name_only_the_keys_that_changed(
    client: stripe.StripeClient,
) -> None:
    customer = client.v1.customers.create(
        params={
            "address": {"city": "Amsterdam", "line1": "Dam 1", "country": "NL"},
            "metadata": {"kept": "1", "dropped": "2"},
            "invoice_settings": {"footer": "Thanks"},
        }
    )
    client.v1.customers.update(
        customer.id,
        params={
            "address": {"city": "Utrecht"},
            "metadata": {"dropped": "", "added": "3"},
            "invoice_settings": {"footer": "Thank you"},
        },
    )
    changed = only_event(client, "customer.updated")
    assert changed["data"]["object"]["id"] == customer.id
    # Stripe's shape: the earlier value of each changed key, null for a key added (a
    # handler tells a new metadata key, or a footer change from a new default card, apart).
    assert changed["data"]["previous_attributes"] == {
        "address": {"city": "Amsterdam"},
        "metadata": {"dropped": "2", "added": None},
        "invoice_settings": {"footer": "Thanks"},
    }


# -- 2. enabled_events -------------------------------------------------------------------------


def test_each_endpoint_gets_only_the_types_it_enabled(
    client: stripe.StripeClient, receiver: WebhookReceiver
) -> None:
    listen(client, receiver, "signups", ["customer.created"])
    listen(client, receiver, "payments", ["payment_intent.succeeded", "charge.succeeded"])
    listen(client, receiver, "everything", ["*"])
    customer = new_customer(client, email="filter@example.com")
    client.v1.customers.update(customer.id, params={"name": "Filtered"})
    pay(client, "pm_card_visa")

    events = listed_events(client)
    ids_of = {
        wanted: {e["id"] for e in events if e["type"] in wanted}
        for wanted in (
            frozenset({"customer.created"}),
            frozenset({"payment_intent.succeeded", "charge.succeeded"}),
        )
    }
    signups, payments = ids_of.values()
    assert len(signups) == 1 and len(payments) == 2
    receiver.wait_for_event_ids("everything", {e["id"] for e in events})
    receiver.wait_for_event_ids("signups", signups)
    receiver.wait_for_event_ids("payments", payments)
    time.sleep(QUIET_SECONDS)  # anything wrongly queued for them would arrive meanwhile

    assert sorted(receiver.event_ids("signups")) == sorted(signups)
    assert sorted(receiver.event_ids("payments")) == sorted(payments)
    assert sorted(receiver.event_ids("everything")) == sorted(e["id"] for e in events)
    assert event_types_received(receiver, "everything")["customer.updated"] == 1
    assert receiver.rejected() == []


# -- 3. retries and the attempt log ------------------------------------------------------------


def test_a_failing_delivery_is_retried_and_every_attempt_recorded(
    client: stripe.StripeClient, http: httpx.Client, receiver: WebhookReceiver
) -> None:
    endpoint = listen(client, receiver, "flaky", ["customer.created"])
    receiver.fail_next("flaky", 2)
    new_customer(client)
    event_id = only_event(client, "customer.created")["id"]
    receiver.wait_for_event_ids("flaky", {event_id})

    attempts = attempts_of(http, f"events/{event_id}", 3)
    assert receiver.attempts("flaky") == 3
    assert [a["status_code"] for a in attempts] == [500, 500, 200]
    assert [a["succeeded"] for a in attempts] == [False, False, True]
    assert [a["response_excerpt"] for a in attempts] == ["failing on purpose"] * 2 + ["ok"]
    for attempt in attempts:
        assert attempt["object"] == "webhook_attempt"
        assert attempt["id"].startswith("wha_")
        assert (attempt["event"], attempt["webhook_endpoint"]) == (event_id, endpoint.id)
        assert attempt["error"] is None, "the endpoint answered every time"
        assert isinstance(attempt["duration_ms"], int) and attempt["duration_ms"] >= 0
        assert attempt["created"] == attempt["attempted_at_ms"] // 1000
    started = [a["attempted_at_ms"] for a in attempts]
    gaps = [later - earlier for earlier, later in itertools.pairwise(started)]
    assert min(gaps) >= RETRY_DELAY_MIN_MS, f"a retry came before its delay: {gaps}"

    by_endpoint = attempts_of(http, f"webhook_endpoints/{endpoint.id}", 3)
    assert [a["id"] for a in by_endpoint] == [a["id"] for a in attempts]
    first_page = http.get(f"/v1/events/{event_id}/webhook_attempts", params={"limit": 2}).json()
    assert first_page["has_more"] is True
    assert first_page["url"] == f"/v1/events/{event_id}/webhook_attempts"
    rest = http.get(
        f"/v1/events/{event_id}/webhook_attempts",
        params={"limit": 2, "starting_after": first_page["data"][-1]["id"]},
    ).json()
    assert rest["has_more"] is False
    newest_first = [a["id"] for a in first_page["data"] + rest["data"]]
    assert newest_first == [a["id"] for a in reversed(attempts)]
    assert receiver.rejected() == []


@pytest.mark.parametrize("status", [302, 307])
def test_a_redirect_is_a_failed_attempt_and_is_not_followed(
    client: stripe.StripeClient, http: httpx.Client, receiver: WebhookReceiver, status: int
) -> None:
    """Stripe: any status outside 2xx, 3xx included, means the event was not received, and
    a redirect is treated as a failure; the POST is not followed to where it points."""
    listen(client, receiver, "elsewhere", ["customer.created"])
    listen(client, receiver, "moved", ["customer.created"])
    receiver.fail_next("moved", 1, status, location=receiver.url("elsewhere"))
    new_customer(client)
    event_id = only_event(client, "customer.created")["id"]
    receiver.wait_for_event_ids("moved", {event_id})  # the retry, answered 200

    moved = [a for a in attempts_of(http, f"events/{event_id}", 3) if a["status_code"] != 200]
    assert [(a["status_code"], a["succeeded"]) for a in moved] == [(status, False)]
    assert receiver.fetched() == []
    assert receiver.event_ids("elsewhere") == [event_id], "only its own delivery"
    assert receiver.rejected() == []


# -- 4. and 5. disabled endpoints --------------------------------------------------------------


def test_a_disabled_endpoint_gets_nothing_until_enabled_again(
    client: stripe.StripeClient, http: httpx.Client, receiver: WebhookReceiver
) -> None:
    on = listen(client, receiver, "on", ["customer.created"])
    off = listen(client, receiver, "off", ["customer.created"])
    disabled = client.v1.webhook_endpoints.update(off.id, params={"disabled": True})
    assert disabled.status == "disabled"
    assert client.v1.webhook_endpoints.retrieve(off.id).status == "disabled"

    new_customer(client, email="while-disabled@example.com")
    missed = only_event(client, "customer.created")
    receiver.wait_for_event_ids("on", {missed["id"]})
    only_on = attempts_of(http, f"events/{missed['id']}", 1)
    assert only_on[0]["webhook_endpoint"] == on.id
    time.sleep(QUIET_SECONDS)
    assert receiver.attempts("off") == 0

    enabled = client.v1.webhook_endpoints.update(off.id, params={"disabled": False})
    assert enabled.status == "enabled"
    customer = new_customer(client, email="enabled-again@example.com")
    latest = next(e for e in listed_events(client) if e["data"]["object"]["id"] == customer.id)
    receiver.wait_for_event_ids("off", {latest["id"]})
    receiver.wait_for_event_ids("on", {latest["id"]})
    assert receiver.event_ids("off") == [latest["id"]], "what it missed is not sent later"
    assert receiver.rejected() == []


def test_a_retry_not_yet_due_when_its_endpoint_is_enabled_again_is_made_at_its_time(
    client: stripe.StripeClient, http: httpx.Client, receiver: WebhookReceiver
) -> None:
    """Stripe: if you disable and then re-enable a webhook endpoint before Stripe can retry,
    you can still expect to see future retry attempts."""
    paused = listen(client, receiver, "paused", ["customer.created"])
    receiver.fail_next("paused", 1)
    new_customer(client)
    event_id = only_event(client, "customer.created")["id"]
    first = attempts_of(http, f"events/{event_id}", 1)[0]
    client.v1.webhook_endpoints.update(paused.id, params={"disabled": True})
    client.v1.webhook_endpoints.update(paused.id, params={"disabled": False})
    enabled_again_ms = time.time() * 1000
    assert enabled_again_ms < first["attempted_at_ms"] + RETRY_DELAY_MIN_MS, (
        "enabled again only after the retry came due: the machine was too slow for this test"
    )

    receiver.wait_for_event_ids("paused", {event_id})
    attempts = attempts_of(http, f"events/{event_id}", 2)
    assert [a["succeeded"] for a in attempts] == [False, True]
    gap_ms = attempts[1]["attempted_at_ms"] - attempts[0]["attempted_at_ms"]
    assert gap_ms >= RETRY_DELAY_MIN_MS, "the retry waited for its time"
    wait_until(
        lambda: only_event(client, "customer.created")["pending_webhooks"] == 0 or None,
        "the event's pending webhooks to count down",
    )
    assert receiver.rejected() == []


def test_a_retry_due_while_its_endpoint_is_disabled_is_given_up(
    webhook_server: KassaServer,
    client: stripe.StripeClient,
    http: httpx.Client,
    receiver: WebhookReceiver,
) -> None:
    """Stripe: if your endpoint has been disabled when Stripe attempts a retry, future
    retries of that event are prevented. Neither the endpoint enabled again afterwards nor
    the one left disabled is sent the event, and the event no longer waits on them: it is
    purged with the others after 30 days."""
    paused = listen(client, receiver, "paused", ["customer.created"])
    left_off = listen(client, receiver, "left-off", ["customer.created"])
    receiver.fail_next("paused", 1)
    receiver.fail_next("left-off", 1)
    new_customer(client)
    event_id = only_event(client, "customer.created")["id"]
    attempts_of(http, f"events/{event_id}", 2)
    for endpoint in (paused, left_off):
        client.v1.webhook_endpoints.update(endpoint.id, params={"disabled": True})
    time.sleep(RETRIES_RIDE_OUT_SECONDS)  # the retries come due while both are disabled

    client.v1.webhook_endpoints.update(paused.id, params={"disabled": False})
    time.sleep(RETRIES_RIDE_OUT_SECONDS)  # a retry still queued would be made by now
    assert receiver.attempts("paused") == 1
    assert receiver.attempts("left-off") == 1
    assert len(attempts_at(http, event_id)) == 2
    undelivered = [e["id"] for e in listed_events(client, delivery_success=False)]
    assert event_id in undelivered, "a delivery given up is not a success"

    after_retention = time.time() + (EVENT_RETENTION_DAYS + 1) * DAY_SECONDS
    purge(webhook_server.database_url, FrozenClock(after_retention), RETENTION_DAYS)
    assert event_id not in [e["id"] for e in listed_events(client)], "no delivery holds it"
    assert receiver.rejected() == []


def test_an_endpoint_failing_for_the_whole_retry_window_is_disabled(
    client: stripe.StripeClient, receiver: WebhookReceiver
) -> None:
    down = listen(client, receiver, "down", ["customer.created"])
    listen(client, receiver, "watcher", ["webhook_endpoint.disabled", "customer.created"])
    receiver.fail_next("down", ALWAYS_FAILING)
    new_customer(client, email="first@example.com")
    receiver.wait_for(lambda r: r.attempts("down") >= 2, what="a first retry at /down")
    # Kassa disables an endpoint once a failure lands a whole retry window (the schedule's
    # sum) after its first failure, or a delivery uses up its retries with no success since
    # its first attempt. A second event keeps failures coming, as steady traffic would.
    new_customer(client, email="second@example.com")

    def endpoint_disabled() -> stripe.WebhookEndpoint | None:
        endpoint = client.v1.webhook_endpoints.retrieve(down.id)
        return endpoint if endpoint.status == "disabled" else None

    wait_until(endpoint_disabled, "the failing endpoint to be disabled")
    notice = only_event(client, "webhook_endpoint.disabled")
    assert notice["data"]["object"]["id"] == down.id
    assert notice["data"]["object"]["status"] == "disabled"
    assert notice["data"]["object"]["url"] == receiver.url("down")
    assert notice["data"]["previous_attributes"] == {"status": "enabled"}
    assert "secret" not in notice["data"]["object"]
    receiver.wait_for_event_ids("watcher", {notice["id"]})

    attempts_when_disabled = receiver.attempts("down")
    third = new_customer(client, email="third@example.com")
    later = next(e for e in listed_events(client) if e["data"]["object"]["id"] == third.id)
    receiver.wait_for_event_ids("watcher", {later["id"]})
    time.sleep(RETRIES_RIDE_OUT_SECONDS)  # queued retries, had they survived, would come now
    assert receiver.attempts("down") == attempts_when_disabled
    assert receiver.rejected() == []


def test_an_endpoint_that_succeeds_within_the_window_stays_enabled(
    client: stripe.StripeClient, http: httpx.Client, receiver: WebhookReceiver
) -> None:
    """Some events' deliveries use up their retries while others keep succeeding: the
    endpoint has not failed for the whole schedule, so it is not disabled (Stripe disables
    an endpoint only after it has failed without a success for the whole retry period)."""
    mixed = listen(client, receiver, "mixed", ["customer.created", "customer.updated"])
    receiver.fail_types("mixed", {"customer.updated"})
    customer = new_customer(client)
    for index in range(FAILING_EVENTS):
        client.v1.customers.update(customer.id, params={"name": f"Failing {index}"})
    failing = [e["id"] for e in listed_events(client, type="customer.updated")]
    attempts_each = len(RETRY_SCHEDULE_SECONDS) + 1
    deadline = time.monotonic() + WAIT_SECONDS
    # A success between every two retries: the endpoint is never down for a whole window.
    while not all(len(attempts_at(http, event_id)) == attempts_each for event_id in failing):
        assert client.v1.webhook_endpoints.retrieve(mixed.id).status == "enabled"
        assert time.monotonic() < deadline, "the failing events did not use up their retries"
        new_customer(client)
        time.sleep(SUCCESS_EVERY_SECONDS)
    assert client.v1.webhook_endpoints.retrieve(mixed.id).status == "enabled"
    assert [e for e in listed_events(client) if e["type"] == "webhook_endpoint.disabled"] == []
    assert receiver.rejected() == []


def attempts_at(http: httpx.Client, event_id: str) -> list[dict[str, Any]]:
    response = http.get(f"/v1/events/{event_id}/webhook_attempts", params={"limit": LIST_LIMIT_MAX})
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


# -- 6. manual resend --------------------------------------------------------------------------


def test_resend_delivers_the_same_event_again_to_the_endpoint_named(
    client: stripe.StripeClient, http: httpx.Client, receiver: WebhookReceiver
) -> None:
    primary = listen(client, receiver, "primary", ["customer.created"])
    listen(client, receiver, "other", ["customer.created"])
    new_customer(client, email="resend@example.com")
    event = only_event(client, "customer.created")
    receiver.wait_for_event_ids("primary", {event["id"]})
    receiver.wait_for_event_ids("other", {event["id"]})

    response = http.post(f"/v1/events/{event['id']}/resend", data={"webhook_endpoint": primary.id})
    assert response.status_code == 200, response.text
    assert response.json()["id"] == event["id"]
    receiver.wait_for(lambda r: len(r.deliveries("primary")) == 2, what="the resent event")
    first, again = receiver.deliveries("primary")
    assert again.event_id == first.event_id == event["id"]
    assert without_pending_count(again.event) == without_pending_count(first.event)
    attempts = attempts_of(http, f"events/{event['id']}", 3)
    assert Counter(a["webhook_endpoint"] for a in attempts)[primary.id] == 2
    time.sleep(QUIET_SECONDS)
    assert receiver.event_ids("other") == [event["id"]], "only the endpoint named gets it"

    missing = http.post(f"/v1/events/{event['id']}/resend", data={"webhook_endpoint": "we_none"})
    assert missing.status_code == 404
    assert missing.json()["error"]["param"] == "webhook_endpoint"
    assert http.post("/v1/events/evt_none/resend").status_code == 404
    assert receiver.rejected() == []


# -- 7. webhook endpoint CRUD and its validation -----------------------------------------------


def test_webhook_endpoint_crud_shows_the_secret_only_on_create(
    client: stripe.StripeClient, receiver: WebhookReceiver
) -> None:
    created = client.v1.webhook_endpoints.create(
        params={
            "url": receiver.url("crud"),
            "enabled_events": ["customer.created", "charge.succeeded"],
            "description": "orders",
            "metadata": {"team": "ops"},
        }
    )
    assert created.id.startswith("we_")
    assert created.secret is not None and created.secret.startswith("whsec_")
    assert (created.object, created.status, created.livemode) == (
        "webhook_endpoint",
        "enabled",
        False,
    )
    assert (created.url, created.description) == (receiver.url("crud"), "orders")
    assert sorted(created.enabled_events) == ["charge.succeeded", "customer.created"]
    shown = created.to_dict()
    del shown["secret"]

    retrieved = client.v1.webhook_endpoints.retrieve(created.id).to_dict()
    assert retrieved == shown
    listed = client.v1.webhook_endpoints.list().data
    assert [e.id for e in listed] == [created.id]
    assert "secret" not in listed[0].to_dict()

    updated = client.v1.webhook_endpoints.update(
        created.id,
        params={
            "description": "refunds",
            "metadata": {"tier": "1", "team": ""},
            "enabled_events": ["refund.created"],
        },
    )
    assert updated.description == "refunds"
    assert updated.metadata.to_dict() == {"tier": "1"}
    assert updated.enabled_events == ["refund.created"]
    assert "secret" not in updated.to_dict()
    assert client.v1.webhook_endpoints.retrieve(created.id).to_dict() == updated.to_dict()

    deleted = client.v1.webhook_endpoints.delete(created.id)
    assert (deleted.id, deleted.deleted) == (created.id, True)
    with pytest.raises(stripe.InvalidRequestError) as gone:
        client.v1.webhook_endpoints.retrieve(created.id)
    assert (gone.value.http_status, gone.value.code) == (404, "resource_missing")
    assert client.v1.webhook_endpoints.list().data == []
    assert receiver.rejected() == []


@pytest.mark.parametrize(
    "url", ["ftp://x", "not a url", "http://user:pass@host/", "http://[zz/x", "http://[::1/x"]
)
def test_a_webhook_endpoint_needs_a_plain_http_url(
    client: stripe.StripeClient, receiver: WebhookReceiver, url: str
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as on_create:
        client.v1.webhook_endpoints.create(params={"url": url, "enabled_events": ["*"]})
    endpoint = listen(client, receiver, "valid", ["*"])
    with pytest.raises(stripe.InvalidRequestError) as on_update:
        client.v1.webhook_endpoints.update(endpoint.id, params={"url": url})
    for raised in (on_create.value, on_update.value):
        assert raised.http_status == 400
        assert raised.error is not None
        assert (raised.error.type, raised.error.param) == ("invalid_request_error", "url")
    assert client.v1.webhook_endpoints.retrieve(endpoint.id).url == receiver.url("valid")
    assert receiver.rejected() == []


@pytest.mark.parametrize(
    "version", ["2099-99-99", "2026-10-28.zzz", "2099-01-01", "2025-01-27.basil", "2024-10-28"]
)
def test_a_webhook_endpoint_takes_only_api_versions_that_exist(
    client: stripe.StripeClient, receiver: WebhookReceiver, version: str
) -> None:
    """Not a date, a release name that is not the one of its date, a version later than
    Kassa's own, a version of the named-release era without its name."""
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.webhook_endpoints.create(
            params={
                "url": receiver.url("versioned"),
                "enabled_events": ["*"],
                "api_version": cast(Any, version),
            }
        )
    assert raised.value.http_status == 400
    assert raised.value.error is not None and raised.value.error.param == "api_version"


@pytest.mark.parametrize("version", [API_VERSION, "2025-03-31.basil", "2024-06-20", "2020-08-27"])
def test_a_webhook_endpoint_takes_a_known_api_version(
    client: stripe.StripeClient, receiver: WebhookReceiver, version: str
) -> None:
    endpoint = client.v1.webhook_endpoints.create(
        params={
            "url": receiver.url("versioned"),
            "enabled_events": ["*"],
            "api_version": cast(Any, version),
        }
    )
    assert endpoint.api_version == version


STRIPE_TYPES_KASSA_NEVER_SENDS = [
    "checkout.session.completed",
    "account.updated",
    "climate.order.created",
    "mandate.updated",
    "issuing_card.created",
    "invoice.upcoming",
]


def test_enabled_events_take_stripe_types_kassa_never_sends(
    client: stripe.StripeClient, receiver: WebhookReceiver
) -> None:
    """Stripe takes any of its event types; an integration enabling ones Kassa does not send
    (yet) still runs against Kassa, and gets the types it enabled that Kassa sends."""
    enabled = [*STRIPE_TYPES_KASSA_NEVER_SENDS, "webhook_endpoint.disabled", "customer.created"]
    endpoint = listen(client, receiver, "wide", enabled)
    assert sorted(endpoint.enabled_events) == sorted(enabled)
    narrowed = ["invoice.upcoming", "customer.created"]
    updated = client.v1.webhook_endpoints.update(
        endpoint.id, params={"enabled_events": cast(Any, narrowed)}
    )
    assert sorted(updated.enabled_events) == sorted(narrowed)
    new_customer(client)
    event_id = only_event(client, "customer.created")["id"]
    receiver.wait_for_event_ids("wide", {event_id})
    assert receiver.rejected() == []


@pytest.mark.parametrize("misspelt", ["customer.creatd", "checkout.session.complete", "customer"])
def test_enabled_events_must_name_stripe_event_types(
    client: stripe.StripeClient, receiver: WebhookReceiver, misspelt: str
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.webhook_endpoints.create(
            params={
                "url": receiver.url("typo"),
                # The misspelt type is the point: the SDK's types do not know it either.
                "enabled_events": cast(Any, ["customer.created", misspelt]),
            }
        )
    assert raised.value.http_status == 400
    assert raised.value.error is not None
    assert raised.value.error.type == "invalid_request_error"
    assert raised.value.error.param == "enabled_events[1]"
    assert client.v1.webhook_endpoints.list().data == []
    assert receiver.rejected() == []


def test_an_account_holds_at_most_sixteen_webhook_endpoints(
    client: stripe.StripeClient, receiver: WebhookReceiver
) -> None:
    assert WEBHOOK_ENDPOINTS_PER_ACCOUNT_MAX == 16, "Stripe's limit"
    endpoints = [
        listen(client, receiver, f"e{n}", ["customer.created"])
        for n in range(WEBHOOK_ENDPOINTS_PER_ACCOUNT_MAX)
    ]
    with pytest.raises(stripe.InvalidRequestError) as raised:
        listen(client, receiver, "one-too-many", ["customer.created"])
    assert raised.value.http_status == 400
    assert raised.value.error is not None
    assert raised.value.error.type == "invalid_request_error"
    assert len(client.v1.webhook_endpoints.list(params={"limit": LIST_LIMIT_MAX}).data) == 16

    client.v1.webhook_endpoints.delete(endpoints[0].id)
    listen(client, receiver, "in-its-place", ["customer.created"])
    assert receiver.rejected() == []


# -- 8. the events API -------------------------------------------------------------------------


def test_events_are_listed_by_type_pattern_types_and_created(
    webhook_server: KassaServer, client: stripe.StripeClient, receiver: WebhookReceiver
) -> None:
    new_customer(client, email="events@example.com")
    paid = pay(client, "pm_card_visa")
    client.v1.refunds.create(params={"payment_intent": paid.id})
    everything = listed_events(client)
    assert len(everything) == 6, [e["type"] for e in everything]

    def ids(events: list[dict[str, Any]]) -> list[str]:
        return [event["id"] for event in events]

    charges = [e for e in everything if e["type"].startswith("charge.")]
    assert {e["type"] for e in charges} == {"charge.succeeded", "charge.refunded"}
    assert ids(listed_events(client, type="charge.*")) == ids(charges)
    chosen = listed_events(client, types=["customer.created", "refund.created"])
    assert sorted(e["type"] for e in chosen) == ["customer.created", "refund.created"]
    exact = listed_events(client, type="payment_intent.succeeded")
    assert [e["data"]["object"]["id"] for e in exact] == [paid.id]

    newest, oldest = everything[0]["created"], everything[-1]["created"]
    since_newest = [e for e in everything if e["created"] >= newest]
    assert ids(listed_events(client, created={"gte": newest})) == ids(since_newest)
    assert listed_events(client, created={"gt": newest}) == []
    assert listed_events(client, created={"lt": oldest}) == []

    for event in everything:
        assert client.v1.events.retrieve(event["id"]).to_dict() == event
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.events.retrieve("evt_doesnotexist")
    assert (unknown.value.http_status, unknown.value.code) == (404, "resource_missing")
    stranger = webhook_server.client(create_account(webhook_server.database_url).secret_key)
    with pytest.raises(stripe.InvalidRequestError) as elsewhere:
        stranger.v1.events.retrieve(everything[0]["id"])
    assert elsewhere.value.http_status == 404
    assert listed_events(stranger) == []
    assert receiver.rejected() == []


def test_a_type_pattern_takes_its_wildcard_anywhere(client: stripe.StripeClient) -> None:
    """Stripe: `type` is "a specific event name, or group of events using * as a wildcard".
    In Kassa each `*` stands for any run of characters, dots included (none too); the rest
    matches as it is, `_` and `%` included, and case counts (on both engines)."""
    customer = new_customer(client)
    pay(client, "pm_card_visa")
    client.v1.customers.delete(customer.id)
    made = sorted(e["type"] for e in listed_events(client))
    assert made == [
        "charge.succeeded",
        "customer.created",
        "customer.deleted",
        "payment_intent.created",
        "payment_intent.succeeded",
    ]

    def types_of(pattern: str) -> list[str]:
        return sorted(e["type"] for e in listed_events(client, type=pattern))

    assert types_of("*") == made
    assert types_of("*.deleted") == ["customer.deleted"]
    assert types_of("*.created") == ["customer.created", "payment_intent.created"]
    assert types_of("*succeeded") == ["charge.succeeded", "payment_intent.succeeded"]
    assert types_of("c*d") == ["charge.succeeded", "customer.created", "customer.deleted"]
    assert types_of("payment_*.*") == ["payment_intent.created", "payment_intent.succeeded"]
    assert types_of("customer.*") == ["customer.created", "customer.deleted"]
    assert types_of("*customer.created*") == ["customer.created"]
    for matches_nothing in ("charge_succeeded*", "customer%*", "Customer.*", "*.Deleted", "x*"):
        assert types_of(matches_nothing) == [], matches_nothing
    either = listed_events(client, types=["*.deleted", "charge.*"])
    assert sorted(e["type"] for e in either) == ["charge.succeeded", "customer.deleted"]


def test_events_take_type_or_types_but_not_both(client: stripe.StripeClient) -> None:
    new_customer(client)
    with pytest.raises(stripe.InvalidRequestError) as both:
        listed_events(client, type="customer.created", types=["customer.updated"])
    assert both.value.http_status == 400
    assert both.value.error is not None and both.value.error.param == "types"


def test_events_are_listed_by_delivery_success(
    client: stripe.StripeClient, receiver: WebhookReceiver
) -> None:
    """Stripe: `delivery_success=false` lists the events still pending or that failed
    delivery to an endpoint; `true`, those delivered to every endpoint."""
    listen(client, receiver, "taken", ["customer.created", "customer.updated"])
    listen(client, receiver, "refusing", ["customer.updated"])
    receiver.fail_next("refusing", ALWAYS_FAILING)
    customer = new_customer(client)
    client.v1.customers.update(customer.id, params={"name": "Undelivered"})
    created = only_event(client, "customer.created")["id"]
    updated = only_event(client, "customer.updated")["id"]
    receiver.wait_for_event_ids("taken", {created, updated})

    def delivered_split() -> tuple[list[str], list[str]] | None:
        delivered = [e["id"] for e in listed_events(client, delivery_success=True)]
        undelivered = [e["id"] for e in listed_events(client, delivery_success=False)]
        return (delivered, undelivered) if delivered == [created] else None

    _, undelivered = wait_until(delivered_split, "customer.created delivered")
    assert undelivered == [updated]
    assert listed_events(client, delivery_success=False, type="customer.created") == []


# -- 9. pending_webhooks -----------------------------------------------------------------------


def test_pending_webhooks_counts_deliveries_not_yet_succeeded(
    client: stripe.StripeClient, receiver: WebhookReceiver
) -> None:
    for path in ("slow-a", "slow-b"):
        listen(client, receiver, path, ["customer.created"])
        # Each first success comes only after two retries, so the count is seen before it.
        receiver.fail_next(path, 2)
    customer = new_customer(client, email="pending@example.com")
    client.v1.customers.update(customer.id, params={"name": "Nobody listens to this"})
    created = only_event(client, "customer.created")
    assert created["pending_webhooks"] == 2
    assert only_event(client, "customer.updated")["pending_webhooks"] == 0

    receiver.wait_for_event_ids("slow-a", {created["id"]})
    receiver.wait_for_event_ids("slow-b", {created["id"]})

    def delivered_everywhere() -> int | None:
        pending = client.v1.events.retrieve(created["id"]).pending_webhooks
        return pending if pending == 0 else None

    assert wait_until(delivered_everywhere, "pending_webhooks to reach 0") == 0
    assert receiver.rejected() == []


def test_a_resent_event_is_pending_again_until_delivered(
    client: stripe.StripeClient, http: httpx.Client, receiver: WebhookReceiver
) -> None:
    endpoint = listen(client, receiver, "resent", ["customer.created"])
    new_customer(client, email="pending-again@example.com")
    event = only_event(client, "customer.created")
    receiver.wait_for_event_ids("resent", {event["id"]})

    def pending_count() -> int | None:
        pending = client.v1.events.retrieve(event["id"]).pending_webhooks
        return pending if pending == 0 else None

    assert wait_until(pending_count, "the first delivery to count down") == 0
    receiver.fail_next("resent", 1)
    resent = http.post(f"/v1/events/{event['id']}/resend", data={"webhook_endpoint": endpoint.id})
    assert resent.status_code == 200, resent.text
    assert resent.json()["pending_webhooks"] == 1
    receiver.wait_for(lambda r: len(r.deliveries("resent")) == 2, what="the resent event")
    assert wait_until(pending_count, "the resent delivery to count down") == 0
    assert receiver.rejected() == []
